/*
 * bench/scale_driver.c: builds a large store through the store API, the
 * way a load records images, for bench/scale.sh (which also pushes through
 * the registry API; this is the fast way to reach 100,000 tags).
 *
 *   scale_driver fill DATA_DIR REPOS TAGS_PER_REPO
 *   scale_driver bundle OUT.tar.zst IMAGES
 *
 * fill: each image is an OCI manifest with its own config and a layer
 * shared by its repository, tagged once ("t<N>").  Rows go in one
 * transaction per repository.  Prints "images N  per_s R".
 *
 * bundle: a bundle (docs/bundle-format.md, written by the real bundle
 * writer, unsigned) of IMAGES such images, 1,000 per repository
 * (edge/docker.io/scale/b<NNNN>, tags t<N>), all over one layer, so that
 * a load's cost per image shows rather than its bytes.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bundle_write.h"
#include "digest.h"
#include "mediatype.h"
#include "store.h"

static int
put_blob(struct store *s, const char *text, char *digest, struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	size_t len = strlen(text);
	int rc;

	if ((rc = digest_buf(DIGEST_SHA256, text, len, digest, err)) != BARGE_OK)
		return rc;
	if (store_blob_exists(s, digest))
		return BARGE_OK;
	if ((rc = store_blob_begin(s, digest, (int64_t)len, &w, err)) != BARGE_OK)
		return rc;
	if ((rc = store_blob_write(w, text, len, err)) != BARGE_OK) {
		store_blob_abort(w);
		return rc;
	}
	return store_blob_commit(w, err);
}

static int
put_image(struct store *s, const char *repo, long r, long i, const char *layer,
          struct barge_err *err)
{
	char cfg_text[128], json[1024], cfg[DIGEST_STR_MAX], man[DIGEST_STR_MAX], tag[32];
	int rc;

	snprintf(cfg_text, sizeof(cfg_text), "{\"config\":{},\"repo\":%ld,\"image\":%ld}", r, i);
	if ((rc = put_blob(s, cfg_text, cfg, err)) != BARGE_OK)
		return rc;
	snprintf(
	        json, sizeof(json),
	        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	        "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	        "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%d}]}",
	        cfg, strlen(cfg_text), layer, 4096);
	if ((rc = put_blob(s, json, man, err)) != BARGE_OK)
		return rc;
	snprintf(tag, sizeof(tag), "t%ld", i);
	if ((rc = store_put_manifest(s, repo, man, "application/vnd.oci.image.manifest.v1+json",
	                             (int64_t)strlen(json), err)) != BARGE_OK ||
	    (rc = store_put_ref(s, man, cfg, err)) != BARGE_OK ||
	    (rc = store_put_ref(s, man, layer, err)) != BARGE_OK)
		return rc;
	return store_put_tag(s, repo, tag, man, err);
}

static int
fill(struct store *s, long repos, long tags, struct barge_err *err)
{
	char repo[64], layer_text[4097], layer[DIGEST_STR_MAX];
	long r, i;
	int rc;

	for (r = 0; r < repos; r++) {
		snprintf(repo, sizeof(repo), "scale/r%04ld", r);
		memset(layer_text, 'a' + (int)(r % 26), 4096);
		snprintf(layer_text, 48, "layer of repository %ld ", r);
		layer_text[strlen(layer_text)] = ' ';
		layer_text[4096] = '\0';
		if ((rc = put_blob(s, layer_text, layer, err)) != BARGE_OK ||
		    (rc = store_begin(s, err)) != BARGE_OK)
			return rc;
		for (i = 0; i < tags; i++)
			if ((rc = put_image(s, repo, r, i, layer, err)) != BARGE_OK) {
				store_rollback(s);
				return rc;
			}
		if ((rc = store_commit(s, err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/* One image of the bundle: its config's and manifest's text. */
struct bimage {
	char *cfg, *man;
	char cfg_d[DIGEST_STR_MAX], man_d[DIGEST_STR_MAX];
};

static int
bundle_images(struct bimage *im, long n, const char *layer, json_t *images, struct barge_err *err)
{
	char repo[64], tag[32], src[96], *p;
	long i;
	int rc;

	for (i = 0; i < n; i++) {
		if (asprintf(&im[i].cfg,
		             "{\"architecture\":\"amd64\",\"image\":%ld,\"os\":\"linux\","
		             "\"rootfs\":{\"diff_ids\":[\"%s\"],\"type\":\"layers\"}}",
		             i, layer) < 0)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if ((rc = digest_buf(DIGEST_SHA256, im[i].cfg, strlen(im[i].cfg), im[i].cfg_d,
		                     err)) != BARGE_OK)
			return rc;
		if (asprintf(&im[i].man,
		             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
		             "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"%s\","
		             "\"size\":%zu},\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER "\","
		             "\"digest\":\"%s\",\"size\":4096}]}",
		             im[i].cfg_d, strlen(im[i].cfg), layer) < 0)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if ((rc = digest_buf(DIGEST_SHA256, im[i].man, strlen(im[i].man), im[i].man_d,
		                     err)) != BARGE_OK)
			return rc;
		snprintf(repo, sizeof(repo), "edge/docker.io/scale/b%04ld", i / 1000);
		snprintf(tag, sizeof(tag), "t%ld", i % 1000);
		p = strstr(repo, "docker.io/");
		snprintf(src, sizeof(src), "%s:%s", p, tag);
		if (json_array_append_new(images, json_pack("{s:s, s:s, s:[s], s:s, s:s}",
		                                            "repository", repo, "source", src,
		                                            "tags", tag, "digest", im[i].man_d,
		                                            "mediaType", MT_OCI_MANIFEST)) != 0)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	return BARGE_OK;
}

static int
add_blob(struct bundle_writer *w, json_t *blobs, const char *digest, const char *text, size_t len,
         struct barge_err *err)
{
	char name[128];

	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + strlen("sha256:"));
	if (json_array_append_new(
	            blobs, json_pack("{s:s, s:I}", "digest", digest, "size", (json_int_t)len)) != 0)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	return w == NULL ? BARGE_OK : bundle_writer_add_buf(w, name, text, len, err);
}

/* Lists the blobs into blobs, and writes them too when w is not NULL. */
static int
bundle_blobs(struct bundle_writer *w, json_t *blobs, const struct bimage *im, long n,
             const char *layer_text, const char *layer, struct barge_err *err)
{
	long i;
	int rc;

	for (i = 0; i < n; i++)
		if ((rc = add_blob(w, blobs, im[i].man_d, im[i].man, strlen(im[i].man), err)) !=
		    BARGE_OK)
			return rc;
	for (i = 0; i < n; i++)
		if ((rc = add_blob(w, blobs, im[i].cfg_d, im[i].cfg, strlen(im[i].cfg), err)) !=
		    BARGE_OK)
			return rc;
	return add_blob(w, blobs, layer, layer_text, 4096, err);
}

static int
bundle(const char *path, long n, struct barge_err *err)
{
	struct bundle_writer_opts opts = { .level = 1, .threads = 1, .mtime = 0 };
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct bundle_writer *w = NULL;
	struct bimage *im = NULL;
	json_t *meta = NULL, *images = json_array(), *blobs = json_array();
	char layer_text[4097], layer[DIGEST_STR_MAX], *text = NULL;
	long i;
	int rc;

	memset(layer_text, 'b', 4096);
	layer_text[4096] = '\0';
	if (images == NULL || blobs == NULL || (im = calloc((size_t)n, sizeof(*im))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = digest_buf(DIGEST_SHA256, layer_text, 4096, layer, err)) != BARGE_OK ||
	    (rc = bundle_images(im, n, layer, images, err)) != BARGE_OK ||
	    (rc = bundle_blobs(NULL, blobs, im, n, layer_text, layer, err)) != BARGE_OK)
		goto out;
	meta = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:[s], s:O, s:O}", "schemaVersion", 1,
	                 "name", "scale", "version", "1", "created", "1970-01-01T00:00:00Z",
	                 "builder", "bench/scale_driver", "project", "edge", "platforms",
	                 "linux/amd64", "images", images, "blobs", blobs);
	if (meta == NULL || (text = json_dumps(meta, JSON_COMPACT)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	json_array_clear(blobs);
	if ((rc = bundle_writer_open(path, &opts, &w, err)) != BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "barge.json", text, strlen(text), err)) != BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "oci-layout", layout, strlen(layout), err)) !=
	            BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "index.json", "{}", 2, err)) != BARGE_OK ||
	    (rc = bundle_blobs(w, blobs, im, n, layer_text, layer, err)) != BARGE_OK)
		goto out;
	rc = bundle_writer_close(w, err);
out:
	bundle_writer_free(w);
	for (i = 0; im != NULL && i < n; i++) {
		free(im[i].cfg);
		free(im[i].man);
	}
	free(im);
	free(text);
	json_decref(meta);
	json_decref(images);
	json_decref(blobs);
	return rc;
}

int
main(int argc, char **argv)
{
	struct barge_err err = { 0 };
	struct store *s = NULL;
	struct timespec t0, t1;
	long repos, tags;
	double secs;

	if (argc == 4 && strcmp(argv[1], "bundle") == 0 &&
	    (repos = strtol(argv[3], NULL, 10)) > 0) {
		if (bundle(argv[2], repos, &err) != BARGE_OK) {
			fprintf(stderr, "scale_driver: %s\n", err.msg);
			return 1;
		}
		return 0;
	}
	if (argc != 5 || strcmp(argv[1], "fill") != 0 || (repos = strtol(argv[3], NULL, 10)) <= 0 ||
	    (tags = strtol(argv[4], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: scale_driver fill DATA_DIR REPOS TAGS_PER_REPO\n"
		                "       scale_driver bundle OUT.tar.zst IMAGES\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (store_open(argv[2], &s, &err) != BARGE_OK || fill(s, repos, tags, &err) != BARGE_OK) {
		fprintf(stderr, "scale_driver: %s\n", err.msg);
		store_close(s);
		return 1;
	}
	store_close(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("images %ld  per_s %.0f\n", repos * tags, (double)(repos * tags) / secs);
	return 0;
}
