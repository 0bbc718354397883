/*
 * bundle_meta: barge.json, the first entry of every bundle (docs/bundle-format.md).
 *
 * Parsing validates everything a loader relies on: schemaVersion 1, every
 * digest well-formed, sizes non-negative, repositories and tags valid, no
 * blob listed twice, and counts within the bounds below.
 */
#ifndef BARGE_BUNDLE_META_H
#define BARGE_BUNDLE_META_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define BUNDLE_META_IMAGES_MAX    100000
#define BUNDLE_META_BLOBS_MAX     1000000
#define BUNDLE_META_TAGS_MAX      1000
#define BUNDLE_META_PLATFORMS_MAX 64
#define BUNDLE_META_REFERRERS_MAX 100000

struct bundle_image {
	char *repository; /* on the device: "edge/docker.io/library/nginx" */
	char *source;     /* normalised source reference */
	char **tags;
	size_t ntags;
	char *digest; /* top-level manifest or index */
	char *media_type;
};

/*
 * A signature, SBOM or other artifact carried for an image: a manifest of
 * repository whose subject is an image's digest or one of its manifests'.
 * tags are where it was found (cosign's "sha256-<hex>.sig"), maybe none.
 * An index without a subject tagged with bundle_fallback_tag(subject) is
 * upstream's OCI 1.1 fallback index of the subject's referrers.
 */
struct bundle_referrer {
	char *repository;
	char subject[DIGEST_STR_MAX];
	char digest[DIGEST_STR_MAX];
	char *media_type;    /* an image manifest's or an index's */
	char *artifact_type; /* NULL when none */
	char **tags;
	size_t ntags;
};

struct bundle_blob {
	char digest[DIGEST_STR_MAX];
	int64_t size;
};

struct bundle_meta {
	char *name;
	char *version;
	char *created;
	char *builder;
	char *project;
	char **platforms;
	size_t nplatforms;
	struct bundle_image *images;
	size_t nimages;
	struct bundle_blob *blobs; /* every blob in the bundle, in entry order */
	size_t nblobs;
	struct bundle_blob *requires; /* delta bundles: blobs the base must hold */
	size_t nrequires;
	struct bundle_referrer *referrers; /* "referrers", absent in older bundles */
	size_t nreferrers;
};

/* Parses and validates barge.json.  name is used in messages.  Caller frees *out. */
int bundle_meta_parse(const char *name, const char *buf, size_t len, struct bundle_meta **out,
                      struct barge_err *err) BARGE_MUST_CHECK;
void bundle_meta_free(struct bundle_meta *m);

/*
 * Writes subject's OCI 1.1 fallback tag, "sha256-<hex>", into buf (size
 * bytes).  Returns 0 when subject is not a sha256 digest or buf is too
 * small: the scheme spells sha256 digests only.
 */
int bundle_fallback_tag(const char *subject, char *buf, size_t size);

#endif
