/*
 * store_load: the store's side of loading a bundle (appliance/load/loader.c),
 * the protocol that makes a load whole or nothing:
 *
 *   store_load_begin     takes DIR/gc.lock shared on s, before the first blob
 *   store_blob_*         the bundle's blobs (store.h), any thread
 *   store_load_record    all the rows, in one transaction
 *   store_load_end       success: releases the lock
 *   store_load_undo      failure: releases it, then removes the blobs written
 *
 * While the lock is held, GC and fsck --repair leave every blob alone, so
 * nothing the load wrote or relies on goes before the transaction that
 * references it.  The lock belongs to s (one per handle, store.h), so s runs
 * one load at a time and nothing else that takes the lock meanwhile.
 */
#ifndef BARGE_STORE_LOAD_H
#define BARGE_STORE_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Starts a load on s: takes the GC lock shared, waiting for a running GC. */
int store_load_begin(struct store *s, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Runs fn, which writes the load's rows with store_put_* on s, inside one
 * transaction: committed when fn returns BARGE_OK, rolled back when it
 * fails or the commit does (the error is fn's or the commit's).
 */
int store_load_record(struct store *s, int (*fn)(struct store *s, void *arg, struct barge_err *err),
                      void *arg, struct barge_err *err) BARGE_MUST_CHECK;

/* Ends a load that succeeded (or wrote nothing): releases the GC lock. */
void store_load_end(struct store *s);

/*
 * Ends a load that failed after store_load_begin: releases the GC lock, then removes the n blob
 * files it wrote (written: their digests, the caller's) unless a manifest
 * or a reference names them, with their shard directories if that empties
 * them, so that a refused bundle leaves the store as it was.  That takes
 * the lock exclusively; when others hold it for more than two seconds, the
 * files stay as orphans for GC to collect.
 */
void store_load_undo(struct store *s, const char *const *written, size_t n);

/*
 * Finds the bundle recorded with digest (of its barge.json), so that
 * reloading a bundle reuses its record instead of adding another.  Sets
 * *id; BARGE_ENOTFOUND when there is none.
 */
int store_load_find_bundle(struct store *s, const char *digest, int64_t *id,
                           struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Where tag of repo points now, for a load to tell whether it moves the
 * tag: digest (DIGEST_STR_MAX bytes), and the name and version of the
 * latest bundle that brought that digest into repo ("" when none did: it
 * was pushed), cut to fit their buffers.  BARGE_ENOTFOUND when repo has no
 * such tag.
 */
int store_load_tag(struct store *s, const char *repo, const char *tag, char *digest, char *name,
                   size_t namelen, char *version, size_t versionlen,
                   struct barge_err *err) BARGE_MUST_CHECK;

#endif
