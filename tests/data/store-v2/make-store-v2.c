/*
 * make-store-v2: writes tests/data/store-v2/store, a store of schema 2 made
 * by barged at b2945f4 (before the pull-through cache), through the store's
 * own load and push protocols, for test_store_proxy's upgrade test.  Kept
 * for the record; it is not built.  Built against b2945f4's libraries:
 *   cc -Iappliance/store -Icommon make-store-v2.c build/appliance/store/libbarge-store.a \
 *      build/common/libbarge-common.a ... -lsqlite3 -lcrypto
 * Holds: bundle demo 1.0 pinning edge/a:1.0; edge/b:latest pushed; an
 * untagged manifest pushed by digest to edge/a; an index edge/c:multi with
 * one platform pushed; a blob pushed to edge/b no manifest names; an open
 * upload in edge/b.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "store.h"
#include "store_load.h"
#include "store_push.h"

#define CHECK(x)                                                                     \
	do {                                                                         \
		if ((x) != BARGE_OK) {                                               \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, err.msg); \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

static struct barge_err err;

static void
blob(struct store *s, const char *repo, const char *text, char *out)
{
	struct store_blob_writer *w = NULL;

	CHECK(digest_buf(DIGEST_SHA256, text, strlen(text), out, &err));
	CHECK(store_blob_begin(s, out, (int64_t)strlen(text), &w, &err));
	CHECK(store_blob_write(w, text, strlen(text), &err));
	if (repo != NULL)
		CHECK(store_blob_publish(w, repo, &err));
	else
		CHECK(store_blob_commit(w, &err));
}

static void
image(struct store *s, const char *repo, const char *name, char *json, size_t cap, char *cfg,
      char *l1, char *l2)
{
	char text[64];

	snprintf(text, sizeof(text), "config %s", name);
	blob(s, repo, text, cfg);
	snprintf(text, sizeof(text), "layer one %s", name);
	blob(s, repo, text, l1);
	snprintf(text, sizeof(text), "layer two %s", name);
	blob(s, repo, text, l2);
	snprintf(
	        json, cap,
	        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	        "\"digest\":\"%s\",\"size\":%zu},\"layers\":["
	        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
	        "\"size\":%zu},"
	        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
	        "\"size\":%zu}]}",
	        cfg, strlen("config ") + strlen(name), l1, strlen("layer one ") + strlen(name), l2,
	        strlen("layer two ") + strlen(name));
}

struct loadarg {
	char json[2048], m[DIGEST_STR_MAX], cfg[DIGEST_STR_MAX], l1[DIGEST_STR_MAX],
	        l2[DIGEST_STR_MAX];
};

static int
record(struct store *s, void *arg, struct barge_err *e)
{
	struct loadarg *a = arg;
	int64_t id;
	int rc;

	if ((rc = store_put_manifest(s, "edge/a", a->m,
	                             "application/vnd.oci.image.manifest.v1+json",
	                             (int64_t)strlen(a->json), e)) != BARGE_OK ||
	    (rc = store_put_ref(s, a->m, a->cfg, e)) != BARGE_OK ||
	    (rc = store_put_ref(s, a->m, a->l1, e)) != BARGE_OK ||
	    (rc = store_put_ref(s, a->m, a->l2, e)) != BARGE_OK ||
	    (rc = store_put_tag(s, "edge/a", "1.0", a->m, e)) != BARGE_OK ||
	    (rc = store_put_bundle(
	             s, "demo", "1.0",
	             "sha256:1111111111111111111111111111111111111111111111111111111111111111", &id,
	             e)) != BARGE_OK)
		return rc;
	return store_put_bundle_image(s, id, "edge/a", a->m, e);
}

int
main(int argc, char **argv)
{
	struct store_push_result pr;
	struct loadarg a;
	struct store *s = NULL;
	char json[2048], idx[1024], c[DIGEST_STR_MAX], l1[DIGEST_STR_MAX], l2[DIGEST_STR_MAX],
	        m[DIGEST_STR_MAX], id[STORE_UPLOAD_ID_LEN + 1];

	if (argc != 2)
		return 2;
	CHECK(store_open(argv[1], &s, &err));
	CHECK(store_push_init(s, &err));
	/* A load. */
	CHECK(store_load_begin(s, &err));
	image(s, NULL, "a", a.json, sizeof(a.json), a.cfg, a.l1, a.l2);
	blob(s, NULL, a.json, a.m);
	CHECK(store_load_record(s, record, &a, &err));
	store_load_end(s);
	/* Pushes. */
	image(s, "edge/b", "b", json, sizeof(json), c, l1, l2);
	CHECK(store_push_manifest(s, "edge/b", "latest", json, strlen(json),
	                          "application/vnd.oci.image.manifest.v1+json", &pr, &err));
	image(s, "edge/a", "untagged", json, sizeof(json), c, l1, l2);
	CHECK(digest_buf(DIGEST_SHA256, json, strlen(json), m, &err));
	CHECK(store_push_manifest(s, "edge/a", m, json, strlen(json),
	                          "application/vnd.oci.image.manifest.v1+json", &pr, &err));
	image(s, "edge/c", "platform", json, sizeof(json), c, l1, l2);
	CHECK(digest_buf(DIGEST_SHA256, json, strlen(json), m, &err));
	CHECK(store_push_manifest(s, "edge/c", m, json, strlen(json),
	                          "application/vnd.oci.image.manifest.v1+json", &pr, &err));
	snprintf(idx, sizeof(idx),
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	         "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	         "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":\"amd64\","
	         "\"os\":\"linux\"}}]}",
	         m, strlen(json));
	CHECK(store_push_manifest(s, "edge/c", "multi", idx, strlen(idx),
	                          "application/vnd.oci.image.index.v1+json", &pr, &err));
	blob(s, "edge/b", "a blob no manifest names", c);
	CHECK(store_upload_new(s, "edge/b", id, &err));
	store_close(s);
	return 0;
}
