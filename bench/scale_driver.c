/*
 * bench/scale_driver.c: builds a large store through the store API, the
 * way a load records images, for bench/scale.sh (which also pushes through
 * the registry API; this is the fast way to reach 100,000 tags).
 *
 *   scale_driver fill DATA_DIR REPOS TAGS_PER_REPO
 *
 * Each image is an OCI manifest with its own config and a layer shared by
 * its repository, tagged once ("t<N>").  Rows go in one transaction per
 * repository.  Prints "images N  per_s R".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
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

int
main(int argc, char **argv)
{
	struct barge_err err = { 0 };
	struct store *s = NULL;
	struct timespec t0, t1;
	long repos, tags;
	double secs;

	if (argc != 5 || strcmp(argv[1], "fill") != 0 || (repos = strtol(argv[3], NULL, 10)) <= 0 ||
	    (tags = strtol(argv[4], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: scale_driver fill DATA_DIR REPOS TAGS_PER_REPO\n");
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
