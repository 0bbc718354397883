/*
 * loadcommit: the loader's committer thread.  store_blob_commit (verify,
 * fsync, rename, fsync the directory) of one blob runs while the next one
 * streams in: a blob's fsync mostly waits for the disk, and alone the
 * loader spent about half its time there.  Only blob files are touched
 * beside the loader's thread, never the database.
 *
 * A struct loadcommit owns its thread and the writers handed to it.
 */
#ifndef BARGE_LOADCOMMIT_H
#define BARGE_LOADCOMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Written blobs waiting for the committer thread's fsync and rename. */
#define LOADCOMMIT_QUEUE 4

struct loadcommit;

/* Starts the thread; path (borrowed) prefixes its errors. */
int loadcommit_start(const char *path, struct loadcommit **out,
                     struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Hands w (the blob of entry name, size bytes) over, waiting while the
 * queue is full.  Takes w, even on failure.  *written becomes 1 once the
 * blob is in place; read it after loadcommit_finish.  Fails with the first
 * commit failure so far.
 */
int loadcommit_put(struct loadcommit *c, struct store_blob_writer *w, int *written, int64_t size,
                   const char *name, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Waits until every queued blob is committed, stops the thread, adds the
 * blobs and bytes placed to *blobs and *bytes, and frees c.  Returns the
 * first commit failure, if any.  Accepts NULL.
 */
int loadcommit_finish(struct loadcommit *c, size_t *blobs, int64_t *bytes,
                      struct barge_err *err) BARGE_MUST_CHECK;

#endif
