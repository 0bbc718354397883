/*
 * test_store_proxy: the store's side of the pull-through cache
 * (store_proxy.h): schema 3 and its upgrade from a store barged made
 * before it, tag origins, last-pulled times, and eviction by size.
 */
#include "test_main.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_fixture.h"
#include "store_load.h"
#include "store_proxy.h"
#include "store_push.h"

#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"

static int64_t
db_int(const char *dir, const char *sql)
{
	char path[FX_DIR_MAX + 16];
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int64_t v;

	snprintf(path, sizeof(path), "%s/barge.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static enum store_origin
origin(struct store *s, const char *repo, const char *tag, int64_t *fetched)
{
	enum store_origin o;
	struct barge_err err;
	int64_t at = 0;

	assert_int_equal(store_tag_origin(s, repo, tag, &o, &at, &err), BARGE_OK);
	if (fetched != NULL)
		*fetched = at;
	return o;
}

static void
count_problem(const char *subject, const char *problem, void *arg)
{
	(void)subject;
	(void)problem;
	++*(int *)arg;
}

/* Problems fsck finds. */
static int
fsck_problems(struct store *s)
{
	struct store_fsck_opts o = { .lock_wait_ms = 5000, .on_problem = count_problem };
	struct store_fsck_stats st;
	struct barge_err err;
	int n = 0;

	o.arg = &n;
	assert_int_equal(store_fsck(s, &o, &st, &err), BARGE_OK);
	assert_int_equal(st.problems, n);
	return n;
}

/* An image fetched by the proxy: blobs, rows, mark and (unless NULL) a proxied tag. */
static void
proxied(struct store *s, const char *repo, const char *name, const char *tag, struct fx_image *im)
{
	const char *layers[2];
	char cfg[64], l1[64], l2[64];
	struct barge_err err;

	snprintf(cfg, sizeof(cfg), "config %s", name);
	snprintf(l1, sizeof(l1), "layer one of %s", name);
	snprintf(l2, sizeof(l2), "layer two of %s", name);
	layers[0] = l1;
	layers[1] = l2;
	fx_image_blobs(s, cfg, layers, 2, im);
	fx_begin(s);
	fx_record(s, repo, im, NULL, 0);
	assert_int_equal(store_proxy_mark(s, repo, im->manifest, "docker.io", &err), BARGE_OK);
	if (tag != NULL)
		assert_int_equal(store_proxy_tag(s, repo, tag, im->manifest, &err), BARGE_OK);
	fx_commit(s);
}

/* --- schema 3 ---------------------------------------------------------------- */

static const char *const tables[] = { "repositories", "manifests",     "tags",    "refs",
	                              "bundles",      "bundle_images", "uploads", "repo_blobs" };

/*
 * tests/data/store-v2/store was made by barged before schema 3 (its
 * make-store-v2.c says how).  Opened now, it is schema 3 with every row it
 * had, its tags say who set them by the old rule, and fsck finds it clean.
 */
static void
test_schema2_store_upgrades(void **state)
{
	char dir[FX_DIR_MAX], cmd[2 * FX_DIR_MAX + 64], sql[128];
	int64_t before[sizeof(tables) / sizeof(tables[0])];
	struct store_manifest m;
	struct barge_err err;
	struct store *s = NULL;
	size_t i;

	(void)state;
	fx_tmpdir(dir, "store-v2");
	snprintf(cmd, sizeof(cmd), "cp -R %s/store-v2/store/. %s/", BARGE_TEST_DATA, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(db_int(dir, "PRAGMA user_version"), 2);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		before[i] = db_int(dir, sql);
		assert_true(before[i] > 0);
	}

	assert_int_equal(store_open(dir, &s, &err), BARGE_OK);
	assert_int_equal(db_int(dir, "PRAGMA user_version"), 3);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		assert_int_equal(db_int(dir, sql), before[i]);
	}
	assert_int_equal(db_int(dir, "SELECT count(*) FROM proxy_manifests"), 0);
	assert_int_equal(origin(s, "edge/a", "1.0", NULL), STORE_ORIGIN_BUNDLE);
	assert_int_equal(origin(s, "edge/b", "latest", NULL), STORE_ORIGIN_PUSH);
	assert_int_equal(origin(s, "edge/c", "multi", NULL), STORE_ORIGIN_PUSH);
	assert_int_equal(origin(s, "edge/c", "nope", NULL), STORE_ORIGIN_NONE);
	assert_int_equal(store_get_manifest(s, "edge/b", "latest", &m, &err), BARGE_OK);
	assert_int_equal(fsck_problems(s), 0);
	store_close(s);

	/* Opened again, it stays as it is. */
	assert_int_equal(store_open(dir, &s, &err), BARGE_OK);
	assert_int_equal(db_int(dir, "PRAGMA user_version"), 3);
	assert_int_equal(db_int(dir, "SELECT count(*) FROM tags"), before[2]);
	store_close(s);
	fx_rmtree(dir);
}

/* --- origins ------------------------------------------------------------------ */

struct loadarg {
	const struct fx_image *im;
	const char *repo, *tag;
	int64_t bundle;
};

static int
load_rows(struct store *s, void *arg, struct barge_err *err)
{
	struct loadarg *a = arg;

	(void)err;
	a->bundle = fx_bundle(s, "demo", "1.0");
	fx_record(s, a->repo, a->im, a->tag, a->bundle);
	return BARGE_OK;
}

/* Loads im tagged repo:tag through the load protocol, as a bundle would. */
static void
load(struct store *s, const char *repo, const char *tag, const struct fx_image *im)
{
	struct loadarg a = { im, repo, tag, 0 };
	struct barge_err err;

	assert_int_equal(store_load_begin(s, &err), BARGE_OK);
	assert_int_equal(store_load_record(s, load_rows, &a, &err), BARGE_OK);
	store_load_end(s);
}

/* Pushes the manifest of im as repo:tag through the push protocol. */
static void
push(struct fixture *f, const char *repo, const char *tag, const struct fx_image *im)
{
	struct store_push_result pr;
	struct barge_err err;
	char *path = fx_blob_path(f, im->manifest), *buf;
	size_t len;

	buf = fx_read(path, &len);
	assert_int_equal(store_push_init(f->s, &err), BARGE_OK);
	assert_int_equal(store_push_manifest(f->s, repo, tag, buf, len, OCI_MANIFEST, &pr, &err),
	                 BARGE_OK);
	assert_string_equal(pr.digest, im->manifest);
	free(buf);
	free(path);
}

/* A proxied tag says so and when; a bundle load of it makes it the bundle's. */
static void
test_load_after_proxy_is_bundle(void **state)
{
	struct fixture *f = *state;
	struct fx_image a;
	struct barge_err err;
	int64_t at = 0;

	proxied(f->s, "edge/docker.io/library/app", "a", "1.0", &a);
	assert_int_equal(origin(f->s, "edge/docker.io/library/app", "1.0", &at),
	                 STORE_ORIGIN_PROXY);
	assert_true(at > 0);
	assert_int_equal(store_proxy_revalidated(f->s, "edge/docker.io/library/app", "1.0", &err),
	                 BARGE_OK);

	load(f->s, "edge/docker.io/library/app", "1.0", &a);
	assert_int_equal(origin(f->s, "edge/docker.io/library/app", "1.0", &at),
	                 STORE_ORIGIN_BUNDLE);
	assert_int_equal(at, 0);
	/* No longer a proxied tag: nothing to revalidate. */
	assert_int_equal(store_proxy_revalidated(f->s, "edge/docker.io/library/app", "1.0", &err),
	                 BARGE_ENOTFOUND);
}

/* A push of a proxied tag makes it the pusher's. */
static void
test_push_after_proxy_is_push(void **state)
{
	struct fixture *f = *state;
	struct fx_image a;
	int64_t at = 0;

	proxied(f->s, "edge/docker.io/library/app", "a", "1.0", &a);
	push(f, "edge/docker.io/library/app", "1.0", &a);
	assert_int_equal(origin(f->s, "edge/docker.io/library/app", "1.0", &at), STORE_ORIGIN_PUSH);
	assert_int_equal(at, 0);
	/* And a proxied tag set again on top of the push is the proxy's. */
	fx_begin(f->s);
	assert_int_equal(
	        store_proxy_tag(f->s, "edge/docker.io/library/app", "1.0", a.manifest, NULL),
	        BARGE_OK);
	fx_commit(f->s);
	assert_int_equal(origin(f->s, "edge/docker.io/library/app", "1.0", NULL),
	                 STORE_ORIGIN_PROXY);
}

/* Marking needs the manifest row and a registry name. */
static void
test_mark_checks(void **state)
{
	struct fixture *f = *state;
	struct fx_image a;
	struct barge_err err;

	proxied(f->s, "edge/x", "a", NULL, &a);
	fx_begin(f->s);
	assert_int_equal(store_proxy_mark(f->s, "edge/y", a.manifest, "docker.io", &err),
	                 BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "edge/y@"));
	assert_int_equal(store_proxy_mark(f->s, "edge/x", a.manifest, "", &err), BARGE_EINVAL);
	assert_int_equal(store_proxy_mark(f->s, "edge/x", a.manifest, "a b", &err), BARGE_EINVAL);
	assert_int_equal(store_proxy_mark(f->s, "edge/x", "sha256:nope", "docker.io", &err),
	                 BARGE_EINVAL);
	fx_commit(f->s);
	assert_int_equal(db_int(f->dir, "SELECT count(*) FROM proxy_manifests"), 1);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_schema2_store_upgrades),
	cmocka_unit_test_setup_teardown(test_load_after_proxy_is_bundle, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_push_after_proxy_is_push, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_mark_checks, fx_setup, fx_teardown),
};

BARGE_TEST_MAIN(tests)
