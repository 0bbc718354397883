/*
 * build: a profile's images resolved, pulled and packed into a bundle
 * (DESIGN §7, bundle format v1).
 *
 * Every image's manifest is fetched (by digest when the reference has one);
 * for an index, the original bytes are kept and only the requested
 * platforms' manifests and blobs are pulled ("sparse index").  Config and
 * layer blobs go through a cache directory (blobs/<alg>/<hex>, downloaded to
 * tmp/ and renamed once verified; a cached blob is re-verified before use)
 * and are pulled once however many images share them.  Nothing is written to
 * the output until every blob is at hand; the bundle is then written in a
 * fixed order with a fixed mtime, so the same inputs give the same bytes, and
 * a failed build leaves no output file.
 */
#ifndef BARGE_BUILD_H
#define BARGE_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "err.h"
#include "platform.h"
#include "profile.h"

struct build_opts {
	const char *output;               /* the bundle's path */
	const struct platform *platforms; /* overrides the profile's when nplatforms > 0 */
	size_t nplatforms;
	const char *cache_dir; /* NULL: $XDG_CACHE_HOME/barge or $HOME/.cache/barge */
	int level;             /* zstd level; 0 means the default */
	int64_t mtime;         /* every entry's mtime, and barge.json's "created" */
	/* Called with one line of progress ("pulling docker.io/library/x:1"); may be NULL. */
	void (*progress)(void *arg, const char *msg);
	void *progress_arg;
};

struct build_stats {
	size_t nimages;
	size_t nblobs;      /* every blobs/ entry: manifests, indexes, configs, layers */
	size_t nshared;     /* blobs used by more than one image */
	size_t ndownloaded; /* blobs that were not in the cache (or were bad there) */
	int64_t blob_bytes; /* the sum of every blob's size */
	int64_t file_bytes; /* the size of the bundle written */
};

/* Builds the bundle opts->output from p, pulling through c. */
int build_run(const struct profile *p, struct client *c, const struct build_opts *opts,
              struct build_stats *stats, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * The build time: SOURCE_DATE_EPOCH when set (a non-negative integer of
 * seconds, up to the year 9999), else 0, so that builds are reproducible.
 */
int build_mtime_from_env(int64_t *out, struct barge_err *err) BARGE_MUST_CHECK;

#endif
