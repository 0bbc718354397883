/*
 * resolve: pins a lock's images to what their upstreams serve now.
 *
 * Each image's reference (by its digest when it has one, else its tag) is
 * fetched once; the lock records the top-level digest, media type and size
 * and, for an index, the entries chosen for the lock's platforms (the
 * "sparse index" a build keeps).  An image with a local source (lock.h's
 * from) is read from its file (localsrc.h), never from a registry.  An image that cannot be
 * resolved is reported with its pack, file:line, reference and the registry's answer, and the
 * others are still tried, so that one run names every image to fix; only a failure that would
 * repeat for every image (the network, the local system) stops at once.  It owns the client it
 * makes for resolve_profiles; the lock it fills in is the caller's.
 */
#ifndef BARGE_RESOLVE_H
#define BARGE_RESOLVE_H

#include "client.h"
#include "err.h"
#include "lock.h"

/* One line for a log ("resolving docker.io/library/x:1 (1/3)"). */
typedef void (*resolve_note_fn)(void *arg, const char *msg);

/*
 * Fills in every image of l (from lock_from_profile) through c.  note, when
 * not NULL, is told each image before it is fetched.  failed, when not NULL,
 * is told each image that could not be resolved, and the error then only
 * counts them ("2 of 5 images could not be resolved"); without it the error
 * also lists them, as many as it holds.
 */
int resolve_lock(struct lock *l, struct client *c, resolve_note_fn note, resolve_note_fn failed,
                 void *arg, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Loads the profiles at paths (merged as profile_load_many does), makes
 * their lock for platforms (the profiles' own when nplatforms is 0) and,
 * when cfg is not NULL, pins every image through a client made from cfg and
 * freed before returning; with cfg NULL the lock is left unpinned (a listing
 * without network).  note is told how many images spec.exclude dropped and
 * each image as it is resolved; note and failed are as for resolve_lock.
 * Caller frees *out with lock_free.
 */
int resolve_profiles(const char *const *paths, size_t n, const struct platform *platforms,
                     size_t nplatforms, const struct client_config *cfg, resolve_note_fn note,
                     resolve_note_fn failed, void *arg, struct lock **out,
                     struct barge_err *err) BARGE_MUST_CHECK;

#endif
