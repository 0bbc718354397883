/*
 * lock: the lock file (DESIGN §6), what `barge resolve` writes and `barge
 * build --locked` rebuilds exactly.
 *
 * JSON, written with a fixed key order and no timestamps, so that
 * resolving the same profiles against the same upstreams gives the same
 * bytes (a lock diff in review shows what moved):
 *
 *   {"lockVersion": 1, "name": ..., "version": ..., "project": ...,
 *    "platforms": ["linux/amd64", ...],
 *    "referrers": false,                          only when the profile said so
 *    "referrerTypes": ["application/spdx+json"],  only when it filtered
 *    "files": [{"path": ..., "sha256": "sha256:..."}],        every file read
 *    "images": [{"source": <normalised reference>,
 *                "from": "oci-archive:PATH" | "oci:DIR",   only for a local image
 *                "digest": <pinned top-level manifest or index>,
 *                "mediaType": ..., "size": <its bytes>,
 *                "manifests": [{"platform", "digest", "size"}],  kept from an index
 *                "origins": [{"pack", "file", "line", "column"}],
 *                "referrers": [{"subject", "digest", "mediaType",
 *                               "artifactType", "size", "tag"}]}]}
 *
 * An origin's "column" (1-based, like "line") came in later within
 * lockVersion 1: a lock without it still parses, its column 0 meaning
 * unknown, and dumps without it, byte for byte as it was.  So did an
 * image's "from" (an image read from a local OCI layout, localsrc.h): an
 * image without it comes from its registry, as in every older lock.  So
 * did "referrers" (referrers.h): the signatures, SBOMs and other artifacts
 * found for the image and its kept manifests, each pinned by digest; an
 * image without any has no "referrers" key, so older locks keep their
 * bytes.  "artifactType" and "tag" (the cosign tag a referrer was found
 * under, "sha256-<hex>.sig") are left out when there is none.  An index
 * without a subject under the tag "sha256-<hex>" of its subject is
 * upstream's OCI 1.1 fallback index, kept so that its tag keeps its digest.
 *
 * Parsing checks everything a build relies on and names the JSON path of a
 * bad field ("lock.json: images[2].digest: ...").  "referrers" and
 * "referrerTypes" (the profile's referrer settings the lock was resolved
 * with) came in later too: left out for the defaults (on, every type), as
 * in every older lock, which reads as resolved with them.  The lock owns everything
 * it points to.
 */
#ifndef BARGE_LOCK_H
#define BARGE_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "platform.h"
#include "profile.h"
#include "ref.h"

#define LOCK_VERSION   1
#define LOCK_FILE_MAX  (64 * 1024 * 1024)
#define LOCK_TEXT_MAX  4096 /* longest string field */
#define LOCK_INDEX_MAX 4096 /* manifests kept per image */
#define LOCK_REFS_MAX  1024 /* referrers kept per image */

struct lock_manifest {
	struct platform platform;
	char digest[DIGEST_STR_MAX];
	int64_t size;
};

struct lock_origin {
	char *pack;
	char *file;
	int line;
	int col; /* 0: unknown (a lock written before columns were recorded) */
};

/* An artifact whose subject is the image or one of its kept manifests. */
struct lock_referrer {
	char subject[DIGEST_STR_MAX];
	char digest[DIGEST_STR_MAX];
	char *media_type;    /* an image manifest's, or an index's */
	char *artifact_type; /* NULL when none */
	int64_t size;
	char *tag; /* the tag it was found under ("sha256-<hex>.sig"), or NULL */
};

struct lock_image {
	struct ref *ref;
	char *source; /* ref_string(ref) */
	char *from;   /* NULL, or the local OCI layout it is read from (profile.h) */
	char digest[DIGEST_STR_MAX];
	char *media_type;
	int64_t size;
	struct lock_manifest *manifests; /* for an index: the platforms' entries kept */
	size_t nmanifests;
	struct lock_origin *origins;
	size_t norigins;
	struct lock_referrer *referrers;
	size_t nreferrers;
};

struct lock_file {
	char *path;
	char sha256[DIGEST_STR_MAX];
};

struct lock {
	char *name;
	char *version;
	char *project;
	struct platform *platforms;
	size_t nplatforms;
	struct lock_file *files;
	size_t nfiles;
	struct lock_image *images;
	size_t nimages;
	/* The profile's referrer settings: whether and which referrers were found. */
	int no_referrers;
	char **referrer_types; /* artifact types kept; none: every type */
	size_t nreferrer_types;
};

/*
 * A lock for p with every image's pin empty (digest "", no media type): the
 * resolver fills them in.  platforms override p's when n > 0.
 */
int lock_from_profile(const struct profile *p, const struct platform *platforms, size_t n,
                      struct lock **out, struct barge_err *err) BARGE_MUST_CHECK;

/* Parses and validates a lock; name is used in messages.  Caller frees *out. */
int lock_parse(const char *name, const char *buf, size_t len, struct lock **out,
               struct barge_err *err) BARGE_MUST_CHECK;
int lock_load(const char *path, struct lock **out, struct barge_err *err) BARGE_MUST_CHECK;

/* The lock as JSON text ending in a newline; caller frees *out. */
int lock_dump(const struct lock *l, char **out, size_t *len,
              struct barge_err *err) BARGE_MUST_CHECK;
/* Writes the lock to path atomically (temp file, fsync, rename). */
int lock_write(const struct lock *l, const char *path, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Whether the lock pins exactly p's images, each from the same place, and
 * was resolved with p's referrer settings.  BARGE_EINVAL naming the images
 * in one and not the other, or the settings of both, otherwise.
 */
int lock_matches_profile(const struct lock *l, const struct profile *p,
                         struct barge_err *err) BARGE_MUST_CHECK;

void lock_free(struct lock *l);
/* Frees im's referrers and leaves it with none. */
void lock_referrers_clear(struct lock_image *im);

#endif
