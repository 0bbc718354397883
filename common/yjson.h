/*
 * yjson: YAML documents loaded with libyaml into jansson values.
 *
 * Scalars follow the YAML 1.2 core schema: plain null/~/empty are null,
 * true/false (and True/TRUE...) booleans, decimal, 0o and 0x integers and
 * floats numbers; quoted and block scalars are always strings.  jansson has
 * no infinite or NaN reals, so .inf, .nan and floats beyond double's range
 * stay strings; integers beyond 64 bits are errors.  Explicit tags !!str,
 * !!int, !!float, !!bool, !!null, !!seq, !!map and "!" are honoured, others
 * are errors.  Mapping keys must be scalars (their text is the key) and
 * unique.  Merge keys ("<<: *base") are supported as the Go YAML libraries
 * of Kubernetes and Helm do: keys a mapping sets itself win.  Aliases are
 * expanded under a node budget for the whole stream (YJSON_NODE_MAX) so that
 * an alias bomb fails instead of eating memory; expanded mappings and
 * sequences are shared, not copied, so they report their anchor's position.
 * Every node and every mapping key keeps the line:column (1-based) it came
 * from, so that errors can name them.
 */
#ifndef BARGE_YJSON_H
#define BARGE_YJSON_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

#define YJSON_FILE_MAX  (16 * 1024 * 1024) /* largest YAML file accepted */
#define YJSON_NODE_MAX  1000000            /* nodes after alias expansion */
#define YJSON_DEPTH_MAX 256                /* nesting depth */

struct yjson;

/*
 * Loads every document of a YAML stream.  name is used in messages
 * ("profile.yaml:3:7: ...").  Caller frees *out with yjson_free.
 */
int yjson_load_file(const char *path, struct yjson **out, struct barge_err *err) BARGE_MUST_CHECK;
int yjson_load_buf(const char *name, const char *buf, size_t len, struct yjson **out,
                   struct barge_err *err) BARGE_MUST_CHECK;
void yjson_free(struct yjson *y);

/* The file name given at load time. */
const char *yjson_name(const struct yjson *y);
size_t yjson_ndocs(const struct yjson *y);
/* Document i; borrowed, valid until yjson_free. */
json_t *yjson_doc(const struct yjson *y, size_t i);

/*
 * Where a node came from.  Returns 0 and sets line and col for any node that
 * belongs to y except the jansson singletons (true, false, null), -1 otherwise:
 * for those, ask for their key with yjson_key_pos.
 */
int yjson_pos(const struct yjson *y, const json_t *node, int *line, int *col);
/* Where key appeared in mapping obj.  Returns 0, or -1 if unknown. */
int yjson_key_pos(const struct yjson *y, const json_t *obj, const char *key, int *line, int *col);

/*
 * Of the NULL-terminated candidates, the one closest to word by edit
 * distance, or NULL when none is close enough to be a plausible typo: the
 * hint that profiles and barged.yaml give for a misspelt key.
 */
const char *yjson_suggest(const char *word, const char *const *candidates);

/*
 * What v is, in the words of a YAML user's error message: "a mapping", "a
 * list", "a string", "a number", "a boolean" or "null".  A static string.
 */
const char *yjson_type_name(const json_t *v);

#endif
