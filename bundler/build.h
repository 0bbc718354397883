/*
 * build: a lock's images pulled and packed into a bundle (DESIGN §7, bundle
 * format v1, docs/bundle-format.md).
 *
 * Every image's manifest is fetched by the digest the lock pins, so a tag
 * that moved upstream changes nothing; a pinned manifest that can no longer
 * be fetched fails the build naming the image.  For an index the original
 * bytes are kept and only the manifests the lock keeps are pulled ("sparse
 * index").  Config and layer blobs go through the blob cache (fetch.h) and
 * are pulled once however many images share them, in a thread of their own,
 * requested in the bundle's order; an image read from a local OCI layout
 * (localsrc.h) has its blobs copied into that cache, verified, first.  Meanwhile the calling thread
 * writes the bundle in its fixed order with a fixed mtime, taking each blob as soon as it and every
 * blob before it are in the cache, verified: the same lock and options give the same bytes however
 * the downloads interleave.  The bundle is written to a temporary sibling and renamed into place
 * only once every blob is in, so a failed build leaves no output file.
 *
 * A delta build (opts->base) leaves out every blob its base (a lock or a
 * bundle) already has and lists them in barge.json's "requires".  With a
 * signing key, barge.json.sig (sign.h) is the bundle's second entry.
 *
 * build_run owns the whole pipeline: profiles -> lock -> resolve -> build
 * (or a lock file, checked against the profiles when both are given).  It
 * makes and frees its own clients; the caller owns everything it passes in
 * and the struct build_result it gets back.
 */
#ifndef BARGE_BUILD_H
#define BARGE_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "cosign.h"
#include "err.h"
#include "lock.h"
#include "platform.h"
#include "profile.h"
#include "sign.h"

/* Where the bundle's writing is: it runs alongside the downloads and ends after them. */
enum build_write {
	BUILD_WRITE_NONE,        /* not started */
	BUILD_WRITE_COMPRESSING, /* compressing entries as their blobs arrive, then syncing */
	BUILD_WRITE_DONE,        /* the bundle is complete at its path */
};

/* Byte progress, as blobs arrive and as the bundle is written. */
struct build_progress {
	size_t image;   /* the image the blob is counted for (its first user) */
	size_t nimages; /* images in the lock */
	const char *source;
	int64_t image_done, image_total; /* that image's blobs not shared with an earlier image */
	int64_t done, total;             /* every blob to have in the cache */
	int image_finished;
	enum build_write write;
	int64_t written, write_total; /* bytes of the bundle's entries compressed, of all of them */
};

struct build_opts {
	const char *output;    /* the bundle's path; NULL: NAME-VERSION.tar.zst of the lock */
	const char *cache_dir; /* NULL: $XDG_CACHE_HOME/barge or $HOME/.cache/barge */
	int level;             /* zstd level; 0 means the default */
	int jobs;              /* parallel downloads; 0 means the default */
	int64_t mtime;         /* every entry's mtime, and barge.json's "created" */
	const char *base;      /* delta against this lock or bundle; NULL for a full bundle */
	const struct sign_key *sign_key; /* sign barge.json with it; NULL for none */
	/* Refuse an image without a cosign signature it verifies (cosign.h); NULL: no check. */
	const struct cosign_key *verify_key;
	/*
	 * Called with one line of progress ("resolving docker.io/library/x:1 (1/3)",
	 * "pulling docker.io/library/x:1"); may be NULL.  Both callbacks may be called from the
	 * download thread, never concurrently with each other.
	 */
	void (*progress)(void *arg, const char *msg);
	/*
	 * Called with each image that could not be resolved (its pack, file:line,
	 * reference and the registry's answer) while the others are still tried;
	 * may be NULL, and the error then lists them.
	 */
	void (*failed)(void *arg, const char *msg);
	/* Called as bytes arrive and as the bundle is written; may be NULL. */
	void (*bytes)(void *arg, const struct build_progress *bp);
	void *progress_arg;
};

struct build_stats {
	size_t nimages;
	size_t nblobs;  /* every blobs/ entry: manifests, indexes, configs, layers */
	size_t nshared; /* blobs used by more than one image */
	/*
	 * Where every blob of the bundle came from: ndownloaded + ncached = nblobs.
	 * Manifests and indexes are fetched by digest on every build; configs and
	 * layers are downloaded when the cache lacks them (or has them damaged).
	 */
	size_t ndownloaded;
	size_t ncached;
	size_t nrequired;     /* delta: blobs left to the base, not in nblobs */
	int64_t blob_bytes;   /* the sum of every blob entry's size */
	int64_t shared_bytes; /* bytes a bundle without sharing would have carried twice or more */
	int64_t required_bytes;           /* delta: the sum of the required blobs' sizes */
	int64_t downloaded_bytes;         /* bytes received over the network for those blobs */
	int64_t file_bytes;               /* the size of the bundle written */
	char meta_digest[DIGEST_STR_MAX]; /* sha256 of barge.json: the bundle's identity */
	char keyid[DIGEST_STR_MAX];       /* the signing key's id, "" when unsigned */
};

/* What build_run builds: the profiles' images resolved now, or what a lock file pins. */
struct build_source {
	const char *const *profiles; /* profile files, merged; may be none with locked */
	size_t nprofiles;
	const char *locked; /* a lock file, or NULL to resolve the profiles */
	/* Overrides the profiles' platforms when nplatforms > 0; a lock's cannot change. */
	const struct platform *platforms;
	size_t nplatforms;
	const struct client_config *client; /* how registries are reached */
};

/* What build_run made; zero-initialise, release with build_result_clear. */
struct build_result {
	char *output;      /* the bundle written: opts->output or NAME-VERSION.tar.zst */
	struct lock *lock; /* the pinned images it holds */
	struct build_stats stats;
};

/*
 * Resolves src (resolve.h) or loads its lock, then pulls the pinned images
 * and writes the bundle.  On failure nothing is left at the output and *res
 * holds nothing to use, but is still to be cleared.
 */
int build_run(const struct build_source *src, const struct build_opts *opts,
              struct build_result *res, struct barge_err *err) BARGE_MUST_CHECK;
void build_result_clear(struct build_result *res);

/*
 * The build time: SOURCE_DATE_EPOCH when set (a non-negative integer of
 * seconds, up to the year 9999), else 0, so that builds are reproducible.
 */
int build_mtime_from_env(int64_t *out, struct barge_err *err) BARGE_MUST_CHECK;

#endif
