#include "test_main.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "store_fixture.h"
#include "store_load.h"
#include "store_push.h"

#define REPO_A "edge/docker.io/library/a"
#define REPO_B "edge/docker.io/library/b"
#define OLD    3600

static const char *const layers_a[] = { "shared layer", "layer only a" };
static const char *const layers_b[] = { "shared layer", "layer only b" };

static int
gc_run(struct store *s, int dry, int64_t grace, struct store_gc_stats *st)
{
	struct store_gc_opts o = { 0 };
	struct barge_err err;

	o.dry_run = dry;
	o.grace_s = grace;
	o.lock_wait_ms = 0;
	return store_gc(s, &o, st, &err);
}

static int
count_blob_files(const struct fixture *f)
{
	char *p = fx_path(f->dir, "blobs");
	int n = fx_count_files(p);

	free(p);
	return n;
}

/* Two images sharing a layer: a tagged in REPO_A, b tagged in REPO_B. */
static void
two_images(struct fixture *f, struct fx_image *a, struct fx_image *b, int64_t bundle_a,
           int64_t bundle_b, int tag)
{
	fx_image_blobs(f->s, "config a", layers_a, 2, a);
	fx_image_blobs(f->s, "config b", layers_b, 2, b);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, a, tag ? "1.0" : NULL, bundle_a);
	fx_record(f->s, REPO_B, b, tag ? "1.0" : NULL, bundle_b);
	fx_commit(f->s);
}

static void
test_gc_clean_store_removes_nothing(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	struct store_gc_stats st;

	two_images(f, &a, &b, 0, 0, 1);
	assert_int_equal(gc_run(f->s, 0, 0, &st), BARGE_OK);
	assert_int_equal(st.manifests, 0);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(count_blob_files(f), 7);
	assert_true(fx_serves(f->s, REPO_A, "1.0"));
	assert_true(fx_serves(f->s, REPO_B, "1.0"));
}

/* A tag is a root: an untagged, unpinned image goes, the shared layer stays. */
static void
test_gc_tag_is_root(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	struct store_gc_stats st;

	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	fx_image_blobs(f->s, "config b", layers_b, 2, &b);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, "1.0", 0);
	fx_record(f->s, REPO_B, &b, NULL, 0);
	fx_commit(f->s);
	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.manifests, 1);
	/* b's manifest, config and own layer; not the shared layer. */
	assert_int_equal(st.blobs, 3);
	assert_int_equal(st.orphans, 0);
	assert_int_equal(st.bytes, b.bytes - (int64_t)strlen("shared layer"));
	assert_int_equal(st.repos, 1);
	assert_false(store_blob_exists(f->s, b.manifest));
	assert_false(store_blob_exists(f->s, b.config));
	assert_false(store_blob_exists(f->s, b.layers[1]));
	assert_true(store_blob_exists(f->s, b.layers[0]));
	assert_false(store_repo_exists(f->s, REPO_B));
	assert_true(fx_serves(f->s, REPO_A, "1.0"));
	assert_int_equal(count_blob_files(f), 4);
}

/* A bundle pin is a root until the bundle is removed; tags stay with rm. */
static void
test_gc_bundle_pin_is_root(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	struct store_gc_stats st;
	struct barge_err err;
	int64_t ba, bb;

	fx_begin(f->s);
	ba = fx_bundle(f->s, "one", "1");
	bb = fx_bundle(f->s, "two", "1");
	fx_commit(f->s);
	two_images(f, &a, &b, ba, bb, 0);
	assert_int_equal(gc_run(f->s, 0, 0, &st), BARGE_OK);
	assert_int_equal(st.blobs, 0);
	assert_true(fx_serves(f->s, REPO_A, a.manifest));

	assert_int_equal(store_rm_bundle(f->s, ba, 0, NULL, &err), BARGE_OK);
	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.manifests, 1);
	assert_int_equal(st.blobs, 3);
	assert_false(fx_serves(f->s, REPO_A, a.manifest));
	assert_false(store_blob_exists(f->s, a.layers[1]));
	/* The shared layer lives while b, its other holder, does. */
	assert_true(store_blob_exists(f->s, a.layers[0]));
	assert_true(fx_serves(f->s, REPO_B, b.manifest));

	assert_int_equal(store_rm_bundle(f->s, bb, 0, NULL, &err), BARGE_OK);
	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.blobs, 4);
	assert_int_equal(count_blob_files(f), 0);
}

/* A tagged image outlives the bundle that brought it: rm keeps tags. */
static void
test_gc_rm_keeps_tagged(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	struct store_gc_stats st;
	struct barge_err err;
	int64_t ba;

	fx_begin(f->s);
	ba = fx_bundle(f->s, "one", "1");
	fx_commit(f->s);
	two_images(f, &a, &b, ba, ba, 1);
	assert_int_equal(store_rm_bundle(f->s, ba, 0, NULL, &err), BARGE_OK);
	assert_int_equal(gc_run(f->s, 0, 0, &st), BARGE_OK);
	assert_int_equal(st.blobs, 0);
	assert_true(fx_serves(f->s, REPO_A, "1.0"));
	assert_true(fx_serves(f->s, REPO_B, "1.0"));
}

/* An index keeps its children; untagged, all of it goes. */
static void
test_gc_index_children(void **state)
{
	struct fixture *f = *state;
	struct fx_image a;
	struct store_gc_stats st;
	char index[DIGEST_STR_MAX], json[1024];

	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	snprintf(json, sizeof(json),
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	         "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	         "\"digest\":\"%s\",\"size\":%lld,"
	         "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
	         a.manifest, (long long)a.manifest_size);
	fx_blob(f->s, json, index);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, NULL, 0);
	assert_int_equal(store_put_manifest(f->s, REPO_A, index,
	                                    "application/vnd.oci.image.index.v1+json",
	                                    (int64_t)strlen(json), NULL),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(f->s, index, a.manifest, NULL), BARGE_OK);
	assert_int_equal(store_put_tag(f->s, REPO_A, "multi", index, NULL), BARGE_OK);
	fx_commit(f->s);
	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.blobs, 0);
	assert_true(fx_serves(f->s, REPO_A, a.manifest));

	/* Retagging the tag away from the index makes all five blobs garbage. */
	fx_begin(f->s);
	assert_int_equal(store_put_tag(f->s, REPO_A, "multi", a.manifest, NULL), BARGE_OK);
	fx_commit(f->s);
	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.manifests, 1);
	assert_int_equal(st.blobs, 1);
	assert_false(store_blob_exists(f->s, index));
	assert_true(fx_serves(f->s, REPO_A, "multi"));
}

/* Files no row names: old ones go, young ones stay, strays are left alone. */
static void
test_gc_orphan_files(void **state)
{
	struct fixture *f = *state;
	struct fx_image a;
	struct store_gc_stats st;
	char old[DIGEST_STR_MAX], young[DIGEST_STR_MAX], *stray, *shard;
	FILE *fp;

	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, "1.0", 0);
	fx_commit(f->s);
	/* What an interrupted load leaves: blobs written, no transaction. */
	fx_blob(f->s, "left by a load that died", old);
	fx_blob(f->s, "pushed, manifest to come", young);
	fx_age(f, old, 2 * OLD);
	assert_non_null(shard = fu_printf("%s/blobs/sha256/ab", f->dir));
	assert_non_null(stray = fu_printf("%s/not-a-digest", shard));
	assert_true(mkdir(shard, 0755) == 0 || errno == EEXIST);
	assert_non_null(fp = fopen(stray, "w"));
	fclose(fp);

	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.blobs, 1);
	assert_int_equal(st.orphans, 1);
	assert_int_equal(st.kept_orphans, 1);
	assert_int_equal(st.bytes, (int64_t)strlen("left by a load that died"));
	assert_false(store_blob_exists(f->s, old));
	assert_true(store_blob_exists(f->s, young));
	assert_int_equal(access(stray, F_OK), 0);
	assert_true(fx_serves(f->s, REPO_A, "1.0"));
	free(stray);
	free(shard);
}

/* An open upload is a root: its file and every orphan a push may link stay. */
static void
test_gc_upload_is_root(void **state)
{
	struct fixture *f = *state;
	struct store_gc_stats st;
	char orphan[DIGEST_STR_MAX], *dir, *up, *sql;
	sqlite3 *db;
	FILE *fp;

	fx_blob(f->s, "a finished upload, manifest to come", orphan);
	fx_age(f, orphan, 2 * OLD);
	assert_non_null(dir = fu_printf("%s/uploads", f->dir));
	assert_non_null(up = fu_printf("%s/uploads/u1", f->dir));
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_non_null(fp = fopen(up, "w"));
	fputs("half a blob", fp);
	fclose(fp);
	assert_non_null(sql = fu_printf("%s/barge.db", f->dir));
	assert_int_equal(sqlite3_open(sql, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "INSERT INTO uploads(id, repo, offset, started_at, "
	                              "updated_at) VALUES('u1', 'edge/x', 11, 0, 0)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);

	assert_int_equal(gc_run(f->s, 0, 0, &st), BARGE_OK);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(st.kept_orphans, 1);
	assert_true(store_blob_exists(f->s, orphan));
	assert_int_equal(access(up, F_OK), 0);

	/* The upload is over: now the orphan goes, and DIR/uploads is still not GC's. */
	assert_int_equal(sqlite3_exec(db, "DELETE FROM uploads", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(gc_run(f->s, 0, 0, &st), BARGE_OK);
	assert_int_equal(st.blobs, 1);
	assert_false(store_blob_exists(f->s, orphan));
	assert_int_equal(access(up, F_OK), 0);
	sqlite3_close(db);
	free(sql);
	free(up);
	free(dir);
}

/* A dry run reports exactly what the real run then removes, and removes nothing. */
static void
test_gc_dry_run_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	struct store_gc_stats dry, real;
	struct barge_err err;
	char orphan[DIGEST_STR_MAX];
	int64_t ba;

	fx_begin(f->s);
	ba = fx_bundle(f->s, "one", "1");
	fx_commit(f->s);
	two_images(f, &a, &b, ba, 0, 0);
	fx_blob(f->s, "orphan", orphan);
	fx_age(f, orphan, 2 * OLD);
	assert_int_equal(store_rm_bundle(f->s, ba, 0, NULL, &err), BARGE_OK);

	assert_int_equal(gc_run(f->s, 1, OLD, &dry), BARGE_OK);
	assert_int_equal(dry.manifests, 2);
	assert_int_equal(dry.blobs, 8);
	assert_int_equal(dry.orphans, 1);
	assert_int_equal(count_blob_files(f), 8);
	assert_true(fx_serves(f->s, REPO_A, a.manifest));
	assert_true(fx_serves(f->s, REPO_B, b.manifest));
	assert_true(store_repo_exists(f->s, REPO_A));

	assert_int_equal(gc_run(f->s, 0, OLD, &real), BARGE_OK);
	assert_int_equal(real.manifests, dry.manifests);
	assert_int_equal(real.blobs, dry.blobs);
	assert_int_equal(real.bytes, dry.bytes);
	assert_int_equal(count_blob_files(f), 0);
	assert_false(store_repo_exists(f->s, REPO_A));
}

/* GC waits for a load's shared lock, and gives up with nothing removed. */
static void
test_gc_respects_load_lock(void **state)
{
	struct fixture *f = *state;
	struct store_gc_opts o = { 0 };
	struct store_gc_stats st;
	struct barge_err err;
	struct store *loader = NULL;
	char orphan[DIGEST_STR_MAX];

	assert_int_equal(store_open(f->dir, &loader, &err), BARGE_OK);
	assert_int_equal(store_load_begin(loader, &err), BARGE_OK);
	/* The loader wrote a blob; its transaction is still to come. */
	fx_blob(loader, "written by a running load", orphan);
	fx_age(f, orphan, 2 * OLD);
	o.lock_wait_ms = 200;
	assert_int_equal(store_gc(f->s, &o, &st, &err), BARGE_EEXIST);
	assert_non_null(strstr(err.msg, "gc.lock"));
	assert_true(store_blob_exists(f->s, orphan));
	store_load_end(loader);
	assert_int_equal(store_gc(f->s, &o, &st, &err), BARGE_OK);
	assert_int_equal(st.orphans, 1);
	store_close(loader);
}

/* A pushed blob no manifest names yet is kept through the grace period. */
static void
test_gc_pushed_blob_grace(void **state)
{
	struct fixture *f = *state;
	struct store_gc_stats st;
	struct barge_err err;
	char d[DIGEST_STR_MAX], *path;
	sqlite3 *db;

	assert_int_equal(store_push_init(f->s, &err), BARGE_OK);
	fx_blob(f->s, "pushed layer, manifest to come", d);
	fx_age(f, d, 2 * OLD);
	assert_int_equal(store_link_blob(f->s, REPO_A, d, &err), BARGE_OK);
	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(store_push_has_blob(f->s, REPO_A, d, &err), BARGE_OK);

	/* The push never came back: its link and blob go once the grace is over. */
	assert_non_null(path = fu_printf("%s/barge.db", f->dir));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE repo_blobs SET linked_at = linked_at - 7200",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	free(path);
	assert_int_equal(gc_run(f->s, 0, OLD, &st), BARGE_OK);
	assert_int_equal(st.blobs, 1);
	assert_int_equal(st.orphans, 0);
	assert_false(store_blob_exists(f->s, d));
	assert_int_equal(store_push_has_blob(f->s, REPO_A, d, &err), BARGE_ENOTFOUND);
}

/* A referrer (a signature pushed by digest, untagged) lives as long as its subject. */
static void
test_gc_referrer_follows_subject(void **state)
{
	struct fixture *f = *state;
	struct store_push_result res;
	struct store_gc_stats st;
	struct barge_err err;
	struct fx_image a;
	char sig[DIGEST_STR_MAX], cfg[DIGEST_STR_MAX], ref[DIGEST_STR_MAX], json[2048];
	int64_t bundle;

	assert_int_equal(store_push_init(f->s, &err), BARGE_OK);
	fx_begin(f->s);
	bundle = fx_bundle(f->s, "one", "1");
	fx_commit(f->s);
	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, NULL, bundle);
	fx_commit(f->s);
	fx_blob(f->s, "{}", cfg);
	fx_blob(f->s, "signature bytes", sig);
	assert_int_equal(store_link_blob(f->s, REPO_A, cfg, &err), BARGE_OK);
	assert_int_equal(store_link_blob(f->s, REPO_A, sig, &err), BARGE_OK);
	snprintf(
	        json, sizeof(json),
	        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"artifactType\":\"application/vnd.example.sig\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
	        "\"digest\":\"%s\",\"size\":2},"
	        "\"layers\":[{\"mediaType\":\"application/octet-stream\",\"digest\":\"%s\","
	        "\"size\":15}],"
	        "\"subject\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"digest\":\"%s\",\"size\":%lld}}",
	        cfg, sig, a.manifest, (long long)a.manifest_size);
	assert_int_equal(digest_buf(DIGEST_SHA256, json, strlen(json), ref, &err), BARGE_OK);
	assert_int_equal(store_push_manifest(f->s, REPO_A, ref, json, strlen(json),
	                                     "application/vnd.oci.image.manifest.v1+json", &res,
	                                     &err),
	                 BARGE_OK);
	/* Age the links so only the subject's life keeps the signature. */
	fx_age(f, cfg, 2 * OLD);
	fx_age(f, sig, 2 * OLD);
	assert_int_equal(gc_run(f->s, 0, 0, &st), BARGE_OK);
	assert_int_equal(st.manifests, 0);
	assert_int_equal(st.blobs, 0);
	assert_true(fx_serves(f->s, REPO_A, res.digest));

	assert_int_equal(store_rm_bundle(f->s, bundle, 0, NULL, &err), BARGE_OK);
	assert_int_equal(gc_run(f->s, 0, 0, &st), BARGE_OK);
	assert_int_equal(st.manifests, 2);
	assert_false(fx_serves(f->s, REPO_A, res.digest));
	assert_false(store_blob_exists(f->s, sig));
	assert_int_equal(count_blob_files(f), 0);
}

/* GC with nothing to remove takes no GC lock: a running load does not stop it (issue #18). */
static void
test_gc_runs_beside_load(void **state)
{
	struct fixture *f = *state;
	struct store_gc_opts o = { 0 };
	struct store_gc_stats st;
	struct barge_err err;
	struct store *loader = NULL;
	struct fx_image a, b;

	two_images(f, &a, &b, 0, 0, 1);
	assert_int_equal(store_open(f->dir, &loader, &err), BARGE_OK);
	assert_int_equal(store_load_begin(loader, &err), BARGE_OK);
	o.lock_wait_ms = 0;
	assert_int_equal(store_gc(f->s, &o, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 0);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(count_blob_files(f), 7);
	store_load_end(loader);
	store_close(loader);
}

/*
 * A store of 20,000 tags (100 repositories of 18 images with 11 tags each
 * and an index with 2 tags over two untagged platform images; a referrer of
 * images 0 and 1), built through the store API in one transaction per
 * repository.  The odd images are also pinned by a bundle; removing it
 * with --untag drops their 9,900 tags.  GC must then remove exactly the odd
 * images, the referrers of image 1 and the layers only odd images used,
 * and keep everything else serving.
 */
#define BIG_REPOS  100
#define BIG_IMAGES 20 /* per repository: 0..17 tagged, 18 and 19 under the index */
#define BIG_TAGS   11

static void
big_manifest(struct store *s, const char *repo, const char *config, size_t cfg_len,
             const char *layer, size_t layer_len, const char *subject, char *out)
{
	struct barge_err err;
	char json[1024];
	int n;

	n = snprintf(json, sizeof(json),
	             "{\"schemaVersion\":2,"
	             "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	             "\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
	             config, cfg_len);
	if (layer != NULL)
		n += snprintf(json + n, sizeof(json) - (size_t)n,
		              "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
		              "\"digest\":\"%s\",\"size\":%zu}",
		              layer, layer_len);
	n += snprintf(json + n, sizeof(json) - (size_t)n, "]");
	if (subject != NULL)
		n += snprintf(json + n, sizeof(json) - (size_t)n,
		              ",\"subject\":{\"mediaType\":"
		              "\"application/vnd.oci.image.manifest.v1+json\","
		              "\"digest\":\"%s\",\"size\":1}",
		              subject);
	snprintf(json + n, sizeof(json) - (size_t)n, "}");
	fx_blob(s, json, out);
	assert_int_equal(store_put_manifest(s, repo, out,
	                                    "application/vnd.oci.image.manifest.v1+json",
	                                    (int64_t)strlen(json), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(s, out, config, &err), BARGE_OK);
	if (layer != NULL)
		assert_int_equal(store_put_ref(s, out, layer, &err), BARGE_OK);
	if (subject != NULL)
		assert_int_equal(store_put_ref(s, out, subject, &err), BARGE_OK);
}

static void
big_repo(struct store *s, int r, char layers[BIG_IMAGES][DIGEST_STR_MAX], int64_t bundle,
         char odd[BIG_IMAGES / 2][DIGEST_STR_MAX], char *odd_referrer)
{
	char repo[64], cfg_text[64], cfg[DIGEST_STR_MAX], img[BIG_IMAGES][DIGEST_STR_MAX];
	char ref0[DIGEST_STR_MAX], idx[DIGEST_STR_MAX], json[1024], tag[32];
	struct barge_err err;
	int i, t;

	snprintf(repo, sizeof(repo), "edge/big/r%03d", r);
	snprintf(cfg_text, sizeof(cfg_text), "config of repository %d", r);
	fx_blob(s, cfg_text, cfg);
	fx_begin(s);
	for (i = 0; i < BIG_IMAGES; i++) {
		big_manifest(s, repo, cfg, strlen(cfg_text), layers[i], 8, NULL, img[i]);
		for (t = 0; i < 18 && t < BIG_TAGS; t++) {
			snprintf(tag, sizeof(tag), "v%d.%d", i, t);
			assert_int_equal(store_put_tag(s, repo, tag, img[i], &err), BARGE_OK);
		}
		if (i % 2 == 1 && i < 18) {
			assert_int_equal(store_put_bundle_image(s, bundle, repo, img[i], &err),
			                 BARGE_OK);
			memcpy(odd[i / 2], img[i], DIGEST_STR_MAX);
		}
	}
	big_manifest(s, repo, cfg, strlen(cfg_text), NULL, 0, img[0], ref0);
	big_manifest(s, repo, cfg, strlen(cfg_text), NULL, 0, img[1], odd_referrer);
	snprintf(json, sizeof(json),
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	         "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	         "\"digest\":\"%s\",\"size\":1},{\"mediaType\":"
	         "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":1}]}",
	         img[18], img[19]);
	fx_blob(s, json, idx);
	assert_int_equal(store_put_manifest(s, repo, idx, "application/vnd.oci.image.index.v1+json",
	                                    (int64_t)strlen(json), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(s, idx, img[18], &err), BARGE_OK);
	assert_int_equal(store_put_ref(s, idx, img[19], &err), BARGE_OK);
	assert_int_equal(store_put_tag(s, repo, "multi", idx, &err), BARGE_OK);
	assert_int_equal(store_put_tag(s, repo, "multi-latest", idx, &err), BARGE_OK);
	fx_commit(s);
}

static int
count_tag(const char *tag, void *arg)
{
	(void)tag;
	(*(int64_t *)arg)++;
	return 0;
}

static int64_t
big_tags(struct store *s)
{
	struct barge_err err;
	char repo[64];
	int64_t n = 0;
	int r;

	for (r = 0; r < BIG_REPOS; r++) {
		snprintf(repo, sizeof(repo), "edge/big/r%03d", r);
		assert_int_equal(store_list_tags(s, repo, NULL, 0, count_tag, &n, &err), BARGE_OK);
	}
	return n;
}

static void
test_gc_20000_tags(void **state)
{
	struct fixture *f = *state;
	static char odd[BIG_REPOS][BIG_IMAGES / 2][DIGEST_STR_MAX];
	static char odd_ref[BIG_REPOS][DIGEST_STR_MAX];
	char layers[BIG_IMAGES][DIGEST_STR_MAX], text[16], repo[64], tag[32];
	struct store_gc_stats dry, real;
	struct store_rm_stats rm;
	struct barge_err err;
	int64_t bundle;
	int i, r;

	for (i = 0; i < BIG_IMAGES; i++) {
		snprintf(text, sizeof(text), "layer %02d", i);
		fx_blob(f->s, text, layers[i]);
	}
	fx_begin(f->s);
	bundle = fx_bundle(f->s, "odd", "1");
	fx_commit(f->s);
	for (r = 0; r < BIG_REPOS; r++)
		big_repo(f->s, r, layers, bundle, odd[r], odd_ref[r]);
	assert_int_equal(big_tags(f->s), 20000);

	/* Nothing to remove yet: the bundle pins what its tags hold anyway. */
	assert_int_equal(gc_run(f->s, 0, 0, &real), BARGE_OK);
	assert_int_equal(real.manifests, 0);
	assert_int_equal(real.blobs, 0);

	assert_int_equal(store_rm_bundle(f->s, bundle, 1, &rm, &err), BARGE_OK);
	assert_int_equal(rm.tags, BIG_REPOS * 9 * BIG_TAGS);
	assert_int_equal(big_tags(f->s), 20000 - BIG_REPOS * 9 * BIG_TAGS);

	/* Per repository: 9 odd images and the referrer of image 1; 9 layers in all. */
	assert_int_equal(gc_run(f->s, 1, 0, &dry), BARGE_OK);
	assert_int_equal(gc_run(f->s, 0, 0, &real), BARGE_OK);
	assert_int_equal(real.manifests, BIG_REPOS * 10);
	assert_int_equal(real.blobs, BIG_REPOS * 10 + 9);
	assert_int_equal(real.orphans, 0);
	assert_int_equal(real.repos, 0);
	assert_int_equal(dry.manifests, real.manifests);
	assert_int_equal(dry.blobs, real.blobs);
	assert_int_equal(dry.bytes, real.bytes);
	for (i = 0; i < BIG_IMAGES; i++)
		assert_int_equal(store_blob_exists(f->s, layers[i]), i % 2 == 0 || i >= 18);
	for (r = 0; r < BIG_REPOS; r++) {
		snprintf(repo, sizeof(repo), "edge/big/r%03d", r);
		for (i = 0; i < BIG_IMAGES / 2 - 1; i++)
			assert_false(store_blob_exists(f->s, odd[r][i]));
		assert_false(store_blob_exists(f->s, odd_ref[r]));
		for (i = 0; i < 18; i += 2) {
			snprintf(tag, sizeof(tag), "v%d.%d", i, BIG_TAGS - 1);
			assert_true(fx_serves(f->s, repo, tag));
		}
		assert_true(fx_serves(f->s, repo, "multi"));
	}

	/* And then there is nothing left to remove. */
	assert_int_equal(gc_run(f->s, 0, 0, &real), BARGE_OK);
	assert_int_equal(real.manifests, 0);
	assert_int_equal(real.blobs, 0);
	/* Per repository 11 images, a referrer, the index and the config; 11 layers. */
	assert_int_equal(count_blob_files(f), BIG_REPOS * 14 + BIG_IMAGES - 9);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_gc_clean_store_removes_nothing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_tag_is_root, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_bundle_pin_is_root, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_rm_keeps_tagged, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_index_children, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_orphan_files, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_upload_is_root, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_dry_run_changes_nothing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_respects_load_lock, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_pushed_blob_grace, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_referrer_follows_subject, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_runs_beside_load, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_20000_tags, fx_setup, fx_teardown),
};

BARGE_TEST_MAIN(tests)
