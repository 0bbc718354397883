/*
 * resolve: pins a lock's images to what their upstreams serve now.
 *
 * Each image's reference (by its digest when it has one, else its tag) is
 * fetched once; the lock records the top-level digest, media type and size
 * and, for an index, the entries chosen for the lock's platforms (the
 * "sparse index" a build keeps).  An image that cannot be resolved fails
 * with its reference, its pack and file:line.
 */
#ifndef BARGE_RESOLVE_H
#define BARGE_RESOLVE_H

#include "client.h"
#include "err.h"
#include "lock.h"

/* Called once per image before it is fetched; may be NULL. */
typedef void (*resolve_progress_fn)(void *arg, size_t index, size_t n, const char *source);

/* Fills in every image of l (from lock_from_profile) through c. */
int resolve_lock(struct lock *l, struct client *c, resolve_progress_fn progress, void *arg,
                 struct barge_err *err) BARGE_MUST_CHECK;

/*
 * The entries of index m kept for platforms: one per platform, the same
 * entry once even if several platforms pick it.  BARGE_ENOTFOUND naming
 * source, the platform and what the index offers when one has no match.
 * Caller frees *out.
 */
struct manifest;
int resolve_pick(const char *source, const struct manifest *m, const struct platform *platforms,
                 size_t nplatforms, struct lock_manifest **out, size_t *n,
                 struct barge_err *err) BARGE_MUST_CHECK;

#endif
