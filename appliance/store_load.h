/*
 * store_load: the store queries only the loader needs, kept beside store.c
 * (which H4b's lifecycle work owns) on the internal header store_int.h.
 */
#ifndef BARGE_STORE_LOAD_H
#define BARGE_STORE_LOAD_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/*
 * Finds the bundle recorded with digest (of its barge.json), so that
 * reloading a bundle reuses its record instead of adding another.  Sets
 * *id; BARGE_ENOTFOUND when there is none.
 */
int store_load_find_bundle(struct store *s, const char *digest, int64_t *id,
                           struct barge_err *err) BARGE_MUST_CHECK;

#endif
