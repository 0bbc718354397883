/*
 * arch_int.h: private to appliance/load/, shared by load_archive.c (the
 * stream, the staging of blobs into the store and the commit), arch_image.c
 * (the images and their names) and the format readers arch_docker.c,
 * arch_oci.c, arch_zarf.c and arch_hauler.c, which turn the metadata
 * members an archive kept into images.
 *
 * A struct arch owns, for one archive: the blobs staged so far (digest,
 * size, whether this load wrote them), the metadata members kept in memory
 * (bounded: ARCH_MEMBER_MAX each, ARCH_META_TOTAL together), the symbolic
 * links a docker-archive may hold (names only, never followed), the
 * digests of its layers named by no digest, and the images the format
 * reader found.
 */
#ifndef BARGE_ARCH_INT_H
#define BARGE_ARCH_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle_meta.h"
#include "digest.h"
#include "err.h"
#include "loader.h"
#include "store.h"

/* One metadata member (manifest.json, index.json, zarf.yaml) kept in memory at most. */
#define ARCH_MEMBER_MAX (16 * 1024 * 1024)
/* All metadata members together. */
#define ARCH_META_TOTAL (64 * 1024 * 1024)
/* Members of any kind an archive may have, and images it may name. */
#define ARCH_BLOBS_MAX  1000000
#define ARCH_LINKS_MAX  100000
#define ARCH_IMAGES_MAX 100000
#define ARCH_TAGS_MAX   1000

struct arch_blob {
	char digest[DIGEST_STR_MAX];
	int64_t size;
	int written; /* this load put it in the store */
};

struct arch_member {
	char *name;
	char *data; /* NUL-terminated */
	size_t len;
};

struct arch_link {
	char *name, *target; /* target resolved inside the archive */
};

/* A member named by no digest (docker save's "<id>/layer.tar" before Docker 25). */
struct arch_named {
	char *name;
	char digest[DIGEST_STR_MAX]; /* of its content, learnt as it was stored */
};

struct arch {
	struct store *s;
	const char *path; /* for messages */
	const struct loader_opts *opts;
	const char *project;
	struct arch_blob *blobs; /* sorted by digest */
	size_t nblobs, capblobs;
	struct arch_member *members;
	size_t nmembers;
	size_t metabytes;
	struct arch_link *links;
	size_t nlinks;
	struct arch_named *named;
	size_t nnamed;
	struct bundle_image *images; /* barge.json's form, handed to loader_record */
	size_t nimages;
	char format[32];                  /* "docker-archive", "oci-archive", "zarf", "hauler" */
	char meta_digest[DIGEST_STR_MAX]; /* of the metadata member the images came from */
	struct loader_result *res;
};

/* The kept member called name, or NULL. */
const struct arch_member *arch_member(const struct arch *a, const char *name);
/* The staged blob with digest, or NULL. */
struct arch_blob *arch_blob(struct arch *a, const char *digest);
/*
 * The digest a member's name gives its content ("blobs/<alg>/<hex>", with
 * an optional "images/" in front, or docker-archive's "<hex>.tar" and
 * "<hex>.json", or a layer named by no digest whose content was stored),
 * following a docker-archive link once.  0 when none.
 */
int arch_name_digest(const struct arch *a, const char *name, char digest[DIGEST_STR_MAX]);
/* Reads a staged blob of at most max bytes into a new NUL-terminated buffer. */
int arch_read_blob(struct arch *a, const char *digest, size_t max, char **buf, size_t *len,
                   struct barge_err *err) BARGE_MUST_CHECK;
/* Stores buf (a manifest barged built) as a blob and stages it; *digest gets its digest. */
int arch_put_blob(struct arch *a, const char *buf, size_t len, char digest[DIGEST_STR_MAX],
                  struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Adds the image digest (media_type) named ref ("host/path:tag", mapped
 * under the project as bundles are).  ref NULL: the archive names none, and
 * --repo (loader_opts.repo) names it, tag (may be NULL) or the one in
 * --repo or "latest" its tag; without --repo the load is refused naming
 * what (the entry).  The same repository and tag twice is refused.
 */
int arch_add_image(struct arch *a, const char *ref, const char *tag, const char *digest,
                   const char *media_type, const char *what,
                   struct barge_err *err) BARGE_MUST_CHECK;

/* A JSON document from member name, parsed (NULL when absent). */
int arch_member_json(const struct arch *a, const char *name, json_t **out,
                     struct barge_err *err) BARGE_MUST_CHECK;

/* The formats: each reads its members and adds its images. */
int arch_docker_images(struct arch *a, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * An OCI layout under prefix ("" or "images/").  name picks the reference
 * of index.json's entry (its annotations), NULL when it has none; *tag
 * may get a bare tag.
 */
int arch_oci_images(struct arch *a, const char *prefix,
                    const char *(*name)(json_t *annotations, const char **tag),
                    struct barge_err *err) BARGE_MUST_CHECK;
const char *arch_oci_name(json_t *annotations, const char **tag);
int arch_zarf_images(struct arch *a, struct barge_err *err) BARGE_MUST_CHECK;
/* Whether index.json is a Hauler haul's (its entries carry Hauler's "kind"). */
int arch_hauler_is(json_t *index);
const char *arch_hauler_name(json_t *annotations, const char **tag);

#endif
