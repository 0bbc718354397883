/*
 * bundle_fixture: bundles for the tests that load, inspect or serve them.
 * A struct images is a set of real images made from a seed (app, a
 * two-platform index, and tool, a plain manifest); a struct tb lists
 * images, blobs and required blobs and writes them as a bundle with the
 * real bundle writer: barge.json (optionally signed, or signed over other
 * bytes), oci-layout, index.json, then the blobs in the order given.  The
 * write_raw_* and write_meta_only functions make what the writer refuses to.
 * Include after test_main.h.  Every function asserts rather than returns an
 * error; the caller owns what it passed in, and frees a struct tb with
 * tb_free and a struct images with images_free.
 */
#ifndef BARGE_BUNDLE_FIXTURE_H
#define BARGE_BUNDLE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "digest.h"
#include "sign.h"

/* The repositories of tb_good's and tb_next's images. */
#define REPO_APP  "edge/docker.io/library/app"
#define REPO_TOOL "edge/docker.io/library/tool"
#define REPO_NEW  "edge/docker.io/library/other"

/* A blob's bytes (owned) and their digest. */
struct blob {
	char digest[DIGEST_STR_MAX];
	unsigned char *data;
	size_t len;
};

/* A bundle under construction: barge.json's lists and the blob entries. */
#define TB_MAX 32
struct tb {
	json_t *images;
	json_t *blobs;
	json_t *requires;
	const struct blob *ent[TB_MAX]; /* borrowed: they must outlive the writes */
	size_t nent;
	int schema;
};

/* The images of the fixture: app is a two-platform index, tool a plain manifest. */
struct images {
	struct blob layer_amd64, layer_arm64, layer_shared, cfg_amd64, cfg_arm64, man_amd64,
	        man_arm64, index;
	struct blob tool_layer, tool_cfg, tool_man;
};

/* How a test bundle departs from the format. */
struct wopts {
	const char *first_entry;    /* instead of "barge.json" */
	const char *extra;          /* an entry added after the blobs */
	const struct sign_key *key; /* signs barge.json into barge.json.sig */
	int tamper;                 /* ... but over other bytes */
	int dup_last;               /* the last blob twice */
};

/* b holds a copy of the len bytes of data, and their sha256. */
void blob_set(struct blob *b, const void *data, size_t len);
/* len deterministic bytes from seed that do not compress away. */
void layer_make(struct blob *b, uint32_t seed, size_t len);
/* b holds j's compact, key-sorted text; takes j's reference. */
void json_blob(struct blob *b, json_t *j);
/* The descriptor {mediaType, digest, size} of b; a new reference. */
json_t *desc(const char *mt, const struct blob *b);
/* An image config of arch whose one diff_id is layer's digest. */
void config_make(struct blob *b, const char *arch, const struct blob *layer);
/* An OCI manifest of cfg and the layers l1 and l2 (NULL: only l1). */
void manifest_make(struct blob *b, const struct blob *cfg, const struct blob *l1,
                   const struct blob *l2);
/* An OCI index of m1 (linux/amd64) and m2 (linux/arm64). */
void index_make(struct blob *b, const struct blob *m1, const struct blob *m2);
/* All the images of im, their bytes made from seed: other seeds, other digests. */
void images_make(struct images *im, uint32_t seed);
void images_free(struct images *im);

/* An empty bundle of schemaVersion 1. */
void tb_init(struct tb *t);
void tb_free(struct tb *t);
/* Lists b in barge.json and adds it as an entry. */
void tb_blob(struct tb *t, const struct blob *b);
/* Lists b among the blobs the bundle requires but does not carry (a delta). */
void tb_require(struct tb *t, const struct blob *b);
/* Lists an image: repo:tag is top, of media type mt. */
void tb_image(struct tb *t, const char *repo, const char *tag, const struct blob *top,
              const char *mt);
/* barge.json's text for the bundle "demo" at version; caller frees. */
char *tb_meta(struct tb *t, const char *version);
/* The entry name of b: blobs/sha256/<hex>. */
void entry_name(const struct blob *b, char *out, size_t cap);
/* Writes the bundle to path, departing from the format as o says. */
void tb_write_opts(struct tb *t, const char *path, const char *version, const struct wopts *o);
/*
 * Writes the bundle; first_entry replaces "barge.json" as the first entry's
 * name, and extra (if not NULL) names an entry added after the blobs.
 */
void tb_write_as(struct tb *t, const char *path, const char *version, const char *first_entry,
                 const char *extra);
void tb_write(struct tb *t, const char *path, const char *version);
/* The good bundle: app (index, both platforms) and tool, in the format's order. */
void tb_good(struct tb *t, const struct images *im);
/*
 * A bundle that moves app:1.0 to im2's tool image and adds the repository
 * REPO_NEW, so that a load that let anything through would show.
 */
void tb_next(struct tb *t, const struct images *im2);

/*
 * A tar.zst made without bundle_writer, which refuses unsafe names and
 * anything but regular files: barge.json, then bad_name of type (AE_IFREG,
 * AE_IFLNK, AE_IFCHR, ...); link, if not NULL, makes it a hard link to that
 * name.
 */
void write_raw_typed(const char *path, const char *meta, const char *bad_name, unsigned type,
                     const char *link);
/* write_raw_typed with a regular file. */
void write_raw_bundle(const char *path, const char *meta, const char *bad_name);
/* A bundle whose barge.json is meta, or else the size bytes read from fd. */
void write_meta_only(const char *path, int fd, int64_t size, const char *meta);

#endif
