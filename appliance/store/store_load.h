/*
 * store_load: the store queries only the loader needs, in their own file
 * on the internal header store_int.h so that store.h stays the API every
 * other module uses.
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

/*
 * Removes the blob files a failed load wrote, each unless a manifest or a
 * reference names it, and their shard directories if that empties them, so
 * that a refused bundle leaves the store as it was.  The caller holds the
 * GC lock exclusively: no other writer is then between its first blob and
 * its commit, so nothing is about to reference them.  *dropped counts the
 * files removed.
 */
int store_load_drop_blobs(struct store *s, const char *const *digests, size_t n, size_t *dropped,
                          struct barge_err *err) BARGE_MUST_CHECK;

#endif
