/*
 * config_int: what the files of barge-config share (config.c: the keys,
 * the file, the flags; config_proxy.c: the proxy section).  Nothing outside
 * appliance/config includes it.
 */
#ifndef BARGE_CONFIG_INT_H
#define BARGE_CONFIG_INT_H

#include <jansson.h>

#include "config.h"
#include "err.h"
#include "yjson.h"

/* The configuration being read from one file. */
struct cctx {
	struct config *c;
	const struct yjson *y;
	struct barge_err *err;
};

/* An error at node (or, for the jansson singletons, at key in parent), as file:line:col. */
int config_cerr(const struct cctx *x, const json_t *parent, const char *key, const json_t *node,
                int code, const char *fmt, ...) BARGE_PRINTF(6, 7);
/* The index of v in words (NULL-terminated), or -1. */
int config_word_index(const char *const *words, const char *v);
/* What is wrong with the string value v of key (NULL when fine). */
const char *config_str_problem(const char *key, const char *v);

/* --- config_proxy.c ------------------------------------------------------- */

/* proxy.upstreams from the file: v, the value of key in obj. */
int config_upstreams_apply(const struct cctx *x, const json_t *obj, const char *key,
                           const json_t *v) BARGE_MUST_CHECK;
void config_upstreams_clear(struct config *c);
/* Each upstream names a registry once, a URL, and at most one kind of credentials. */
int config_upstreams_check(const struct config *c, struct barge_err *err) BARGE_MUST_CHECK;

#endif
