/*
 * profile_int: the profile loader's insides, shared by the files of
 * bundler/profile*.c and by nothing else (scripts/check-layers refuses any
 * other includer).
 *
 *   profile.c        the handle, the files a profile is made of, the
 *                    top-level document (metadata, platforms, project,
 *                    include, exclude) and the union of several profiles
 *   profile_check.c  the checks of one YAML node, whose errors name its
 *                    file:line:col
 *   profile_pack.c   spec.packs: the images a pack lists, finds in
 *                    Kubernetes manifests and finds in Helm values
 *   profile_chart.c  a pack's charts: OCI references and chart archives
 *
 * One load (struct pload) owns the profile it builds until it returns it; a
 * struct pctx borrows the file being read and its YAML.
 */
#ifndef BARGE_PROFILE_INT_H
#define BARGE_PROFILE_INT_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "platform.h"
#include "profile.h"
#include "yjson.h"

/* What one load shares across every file it reads. */
struct pload {
	struct profile *p;
	json_t *seen;  /* normalised reference -> index in p->images */
	json_t *packs; /* pack name -> "file:line" where it was defined */
	json_t *files; /* real path -> index in p->files */
	json_t *done;  /* real paths of the profiles read completely */
	json_t *excludes;
	/* The include chain being read, for cycle messages. */
	char *stack[PROFILE_INCLUDE_DEPTH + 1];
	char *stack_disp[PROFILE_INCLUDE_DEPTH + 1];
	size_t depth;
	/* What the current top-level profile's tree says, the includer overriding. */
	struct platform plats[PROFILE_PLATFORM_MAX];
	size_t nplats;
	char *project;
	struct barge_err *err;
};

/* What every check needs to name a position in a file. */
struct pctx {
	const struct yjson *y;
	const char *file;
	struct pload *ld;
	struct barge_err *err;
};

/* --- files (profile.c) --------------------------------------------------- */

/* path relative to the directory of base, unless it is absolute; caller frees. */
char *join_rel(const char *base, const char *path);
/*
 * Reads disp (named so in messages) as YAML, recording it among the
 * profile's files.  *real (caller frees) is its canonical path.
 */
int read_yaml(struct pload *ld, const char *disp, struct yjson **y, char **real) BARGE_MUST_CHECK;
/* Records a file not read as YAML (a chart archive) by its sha256, once per real path. */
int record_digest(struct pload *ld, const char *disp, const char *real,
                  const char *sha256) BARGE_MUST_CHECK;

/* --- checks that name a position (profile_check.c) ----------------------- */

/* BARGE_ENOMEM, naming c's file. */
int nomem(const struct pctx *c);
/*
 * The position of node, which is parent[key] (key NULL for list items);
 * 0:0 when nothing around it has one.
 */
void node_pos(const struct pctx *c, const json_t *parent, const char *key, const json_t *node,
              int *line, int *col);
/* err_set with code and "file:line:col: " before the message; returns code. */
int perr(const struct pctx *c, int code, int line, int col, const char *fmt, ...)
        BARGE_PRINTF(5, 6);
/* BARGE_EINVAL at node's position (as node_pos finds it). */
int perr_at(const struct pctx *c, const json_t *parent, const char *key, const json_t *node,
            const char *fmt, ...) BARGE_PRINTF(5, 6);
/* Checks that obj (named where) has only keys from allowed, a NULL-ended list. */
int check_keys(const struct pctx *c, const json_t *obj, const char *where,
               const char *const *allowed) BARGE_MUST_CHECK;
/*
 * Fetches obj[key] of the given JSON type (object, array or string).  A
 * missing key is an error when required, else *out is NULL.
 */
int get_typed(const struct pctx *c, const json_t *obj, const char *where, const char *key,
              json_type type, int required, json_t **out) BARGE_MUST_CHECK;
/* *dst becomes a copy of s (caller frees). */
int strdup_into(const struct pctx *c, char **dst, const char *s) BARGE_MUST_CHECK;

/* --- referrers (profile_refs.c) ------------------------------------------- */

/* spec.referrers and spec.referrer_types of one file, into c->ld->p. */
int load_referrers(struct pctx *c, const json_t *spec) BARGE_MUST_CHECK;
/* Frees p's referrer types. */
void profile_refs_free(struct profile *p);

/* --- packs (profile_pack.c) ---------------------------------------------- */

/*
 * Reads spec.packs[idx] (pack, an item of packs): its name, unique across
 * the load, then the images it lists and those its manifests and values
 * files name, into c->ld->p.
 */
int load_pack(struct pctx *c, const json_t *packs, size_t idx, const json_t *pack) BARGE_MUST_CHECK;
/*
 * Adds image reference s, found at line:col of c's file in pack, read from
 * from (profile.h; NULL for its registry).
 */
int add_ref(const struct pctx *c, const char *pack, const char *s, const char *from, int line,
            int col) BARGE_MUST_CHECK;
/* Adds the images Helm values node (under key, NULL at the top) names. */
int values_walk(const struct pctx *c, const char *pack, const json_t *node, const char *key,
                int depth) BARGE_MUST_CHECK;
/* Whether reference s names its own tag or digest ("nginx:1.25", "a@sha256:.."). */
int has_tag_or_digest(const char *s);

/* --- charts (profile_chart.c) -------------------------------------------- */

/*
 * Reads charts[i] of pack (v, an item of list): an OCI reference
 * oci://HOST/PATH:VERSION, added as an image, or a chart archive relative
 * to c's file, added as an image read from it (charts.h) with the images
 * its values.yaml names.
 */
int load_chart(const struct pctx *c, const char *pack, const json_t *list, size_t i,
               const json_t *v) BARGE_MUST_CHECK;

#endif
