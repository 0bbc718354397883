/*
 * test_store_proxy: the store's side of the pull-through cache
 * (store_proxy.h): schema 3 and its upgrade from a store barged made
 * before it, tag origins, last-pulled times, and eviction by size.
 */
#include "test_main.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_fixture.h"
#include "store_load.h"
#include "store_proxy.h"
#include "store_push.h"

#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"

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
	assert_int_equal(fx_db_int(dir, "PRAGMA user_version"), 2);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		before[i] = fx_db_int(dir, sql);
		assert_true(before[i] > 0);
	}

	assert_int_equal(store_open(dir, &s, &err), BARGE_OK);
	assert_int_equal(fx_db_int(dir, "PRAGMA user_version"), 3);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		assert_int_equal(fx_db_int(dir, sql), before[i]);
	}
	assert_int_equal(fx_db_int(dir, "SELECT count(*) FROM proxy_manifests"), 0);
	assert_int_equal(origin(s, "edge/a", "1.0", NULL), STORE_ORIGIN_BUNDLE);
	assert_int_equal(origin(s, "edge/b", "latest", NULL), STORE_ORIGIN_PUSH);
	assert_int_equal(origin(s, "edge/c", "multi", NULL), STORE_ORIGIN_PUSH);
	assert_int_equal(origin(s, "edge/c", "nope", NULL), STORE_ORIGIN_NONE);
	assert_int_equal(store_get_manifest(s, "edge/b", "latest", &m, &err), BARGE_OK);
	assert_int_equal(fsck_problems(s), 0);
	store_close(s);

	/* Opened again, it stays as it is. */
	assert_int_equal(store_open(dir, &s, &err), BARGE_OK);
	assert_int_equal(fx_db_int(dir, "PRAGMA user_version"), 3);
	assert_int_equal(fx_db_int(dir, "SELECT count(*) FROM tags"), before[2]);
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
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM proxy_manifests"), 1);
}

/* --- eviction ------------------------------------------------------------------ */

static int64_t
store_bytes(struct store *s)
{
	struct store_stats st;
	struct barge_err err;

	assert_int_equal(store_stats(s, &st, &err), BARGE_OK);
	return st.bytes;
}

static int
has_blob(const struct fixture *f, const char *digest)
{
	char *path = fx_blob_path(f, digest);
	FILE *fp = fopen(path, "r");

	free(path);
	if (fp != NULL)
		fclose(fp);
	return fp != NULL;
}

static int
holds(struct store *s, const char *repo, const char *digest)
{
	struct store_manifest m;
	struct barge_err err;
	int rc = store_get_manifest(s, repo, digest, &m, &err);

	assert_true(rc == BARGE_OK || rc == BARGE_ENOTFOUND);
	return rc == BARGE_OK;
}

/* Whether every blob of im is (or none is) in the store. */
static void
assert_image_files(const struct fixture *f, const struct fx_image *im, int present)
{
	size_t i;

	assert_int_equal(has_blob(f, im->manifest), present);
	assert_int_equal(has_blob(f, im->config), present);
	for (i = 0; i < im->nlayers; i++)
		assert_int_equal(has_blob(f, im->layers[i]), present);
}

/*
 * Pinned, pushed, pushed-over-proxy and proxied images, some sharing a
 * layer with a pinned one.  Pulls reorder the proxied ones; eviction takes
 * the least recently pulled until the bytes fit, and only proxied content
 * nobody claimed.
 */
static void
test_evict_lru_keeps_pinned_and_pushed(void **state)
{
	static const char *const shared[] = { "layer shared with the bundle", "own layer of b" };
	static const char *const pinned_layers[] = { "layer shared with the bundle" };
	struct fixture *f = *state;
	struct fx_image pin, pushed, claimed, a, b, c, d;
	struct store_evict_stats st;
	struct barge_err err;
	int64_t total, max;

	/* A proxied image a bundle then brought: pinned. */
	fx_image_blobs(f->s, "config pinned", pinned_layers, 1, &pin);
	fx_begin(f->s);
	fx_record(f->s, "edge/p", &pin, NULL, 0);
	assert_int_equal(store_proxy_mark(f->s, "edge/p", pin.manifest, "docker.io", &err),
	                 BARGE_OK);
	fx_commit(f->s);
	load(f->s, "edge/p", "2", &pin);
	/* Pushed: a proxied manifest row pushed again by tag. */
	proxied(f->s, "edge/u", "claimed", "1", &claimed);
	push(f, "edge/u", "1", &claimed);
	proxied(f->s, "edge/u", "pushed", NULL, &pushed);
	push(f, "edge/u", "2", &pushed);

	proxied(f->s, "edge/x", "a", "a", &a);
	fx_image_blobs(f->s, "config b", shared, 2, &b);
	fx_begin(f->s);
	fx_record(f->s, "edge/x", &b, NULL, 0);
	assert_int_equal(store_proxy_mark(f->s, "edge/x", b.manifest, "quay.io", &err), BARGE_OK);
	assert_int_equal(store_proxy_tag(f->s, "edge/x", "b", b.manifest, &err), BARGE_OK);
	fx_commit(f->s);
	proxied(f->s, "edge/x", "c", "c", &c);
	proxied(f->s, "edge/x", "d", NULL, &d);
	/* Pulled since: a, then c.  Least recently pulled now: b, d, a, c. */
	store_proxy_touch(f->s, "edge/x", a.manifest);
	store_proxy_touch(f->s, "edge/x", c.manifest);

	/* One byte short of what evicting b frees: d must go too, and nothing more. */
	total = store_bytes(f->s);
	max = total - (b.bytes - (int64_t)strlen(shared[0])) - 1;
	assert_int_equal(store_proxy_evict(f->s, max, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 2);
	assert_int_equal(st.blobs, 3 + 4);
	assert_int_equal(st.bytes, b.bytes - (int64_t)strlen(shared[0]) + d.bytes);
	assert_int_equal(st.store_bytes, total - st.bytes);
	assert_true(st.store_bytes <= max);
	assert_int_equal(store_bytes(f->s), st.store_bytes);
	assert_false(holds(f->s, "edge/x", b.manifest));
	assert_false(holds(f->s, "edge/x", d.manifest));
	assert_int_equal(origin(f->s, "edge/x", "b", NULL), STORE_ORIGIN_NONE);
	assert_true(has_blob(f, b.layers[0]));
	assert_false(has_blob(f, b.layers[1]));
	assert_false(has_blob(f, b.manifest));
	assert_image_files(f, &d, 0);
	assert_image_files(f, &a, 1);
	assert_image_files(f, &c, 1);
	assert_true(holds(f->s, "edge/x", a.manifest));
	assert_int_equal(fsck_problems(f->s), 0);

	/* Everything evictable: a and c go; pinned and pushed stay, whatever the limit. */
	assert_int_equal(store_proxy_evict(f->s, 0, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 2);
	assert_false(holds(f->s, "edge/x", a.manifest));
	assert_false(holds(f->s, "edge/x", c.manifest));
	assert_image_files(f, &a, 0);
	assert_image_files(f, &c, 0);
	assert_true(holds(f->s, "edge/p", pin.manifest));
	assert_true(holds(f->s, "edge/u", claimed.manifest));
	assert_true(holds(f->s, "edge/u", pushed.manifest));
	assert_image_files(f, &pin, 1);
	assert_image_files(f, &claimed, 1);
	assert_image_files(f, &pushed, 1);
	assert_true(fx_serves(f->s, "edge/p", "2"));
	assert_true(fx_serves(f->s, "edge/u", "1"));
	assert_int_equal(st.store_bytes, store_bytes(f->s));
	assert_int_equal(st.store_bytes, pin.bytes + claimed.bytes + pushed.bytes);
	assert_int_equal(fsck_problems(f->s), 0);
	/* Nothing evictable left: a second run changes nothing. */
	assert_int_equal(store_proxy_evict(f->s, 0, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 0);
	assert_int_equal(st.blobs, 0);
}

/*
 * A proxied index goes with its platform manifests (fsck would report an
 * index child missing otherwise), but a platform a bundle pins stays.
 */
static void
test_evict_index_with_platforms(void **state)
{
	struct fixture *f = *state;
	struct fx_image amd, arm;
	struct store_evict_stats st;
	struct barge_err err;
	char json[1024], idx[DIGEST_STR_MAX];
	int64_t total;

	proxied(f->s, "edge/m", "amd64", NULL, &amd);
	proxied(f->s, "edge/m", "arm64", NULL, &arm);
	snprintf(json, sizeof(json),
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	         "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld},"
	         "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}]}",
	         OCI_MANIFEST, amd.manifest, (long long)amd.manifest_size, OCI_MANIFEST,
	         arm.manifest, (long long)arm.manifest_size);
	fx_blob(f->s, json, idx);
	fx_begin(f->s);
	assert_int_equal(store_put_manifest(f->s, "edge/m", idx,
	                                    "application/vnd.oci.image.index.v1+json",
	                                    (int64_t)strlen(json), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(f->s, idx, amd.manifest, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, idx, arm.manifest, &err), BARGE_OK);
	assert_int_equal(store_proxy_mark(f->s, "edge/m", idx, "docker.io", &err), BARGE_OK);
	assert_int_equal(store_proxy_tag(f->s, "edge/m", "multi", idx, &err), BARGE_OK);
	fx_commit(f->s);
	/* The platforms were marked before the index: the oldest, yet they go with it. */
	load(f->s, "edge/m", "arm", &arm);
	total = store_bytes(f->s);

	assert_int_equal(store_proxy_evict(f->s, total - 1, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 2);
	assert_int_equal(st.bytes, (int64_t)strlen(json) + amd.bytes);
	assert_false(holds(f->s, "edge/m", idx));
	assert_false(holds(f->s, "edge/m", amd.manifest));
	assert_true(holds(f->s, "edge/m", arm.manifest));
	assert_image_files(f, &amd, 0);
	assert_image_files(f, &arm, 1);
	assert_false(has_blob(f, idx));
	assert_int_equal(fsck_problems(f->s), 0);
}

/*
 * 20,000 proxied manifest rows: 20 images in each of 1,000 repositories,
 * marked image by image, so an image's bytes come free only with its last
 * row.  Ten rows of image 0 were pulled since, and image 19 is pinned in
 * one repository.  Freeing the bytes of images 1..10 takes every row of
 * image 0 but the ten pulled ones, and every row of images 1..10.
 */
#define MANY_REPOS  1000
#define MANY_IMAGES 20

static void
many_rows(struct store *s, struct fx_image *im)
{
	struct barge_err err;
	char repo[64], cfg[32];
	const char *layers[1];
	int64_t bundle;
	int i, r;

	for (i = 0; i < MANY_IMAGES; i++) {
		snprintf(cfg, sizeof(cfg), "config %d", i);
		layers[0] = cfg + strlen("config ");
		fx_image_blobs(s, cfg, layers, 1, &im[i]);
	}
	for (i = 0; i < MANY_IMAGES; i++) {
		fx_begin(s);
		for (r = 0; r < MANY_REPOS; r++) {
			snprintf(repo, sizeof(repo), "edge/many/r%04d", r);
			fx_record(s, repo, &im[i], NULL, 0);
			assert_int_equal(
			        store_proxy_mark(s, repo, im[i].manifest, "docker.io", &err),
			        BARGE_OK);
		}
		fx_commit(s);
	}
	fx_begin(s);
	bundle = fx_bundle(s, "many", "1");
	assert_int_equal(store_put_bundle_image(s, bundle, "edge/many/r0000",
	                                        im[MANY_IMAGES - 1].manifest, &err),
	                 BARGE_OK);
	fx_commit(s);
	for (r = 0; r < 10; r++) {
		snprintf(repo, sizeof(repo), "edge/many/r%04d", r * 100);
		store_proxy_touch(s, repo, im[0].manifest);
	}
}

static int64_t
rows_of(const struct fixture *f, const char *digest)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM manifests WHERE digest = '%s'", digest);
	return fx_db_int(f->dir, sql);
}

static void
test_evict_20000_manifests(void **state)
{
	static struct fx_image im[MANY_IMAGES];
	struct fixture *f = *state;
	struct store_evict_stats st;
	struct barge_err err;
	int64_t total, freed = 0;
	int i;

	many_rows(f->s, im);
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM proxy_manifests"),
	                 MANY_REPOS * MANY_IMAGES);
	total = store_bytes(f->s);
	for (i = 1; i <= 10; i++)
		freed += im[i].bytes;

	assert_int_equal(store_proxy_evict(f->s, total - freed, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, MANY_REPOS - 10 + 10 * MANY_REPOS);
	assert_int_equal(st.blobs, 10 * 3);
	assert_int_equal(st.bytes, freed);
	assert_int_equal(st.store_bytes, total - freed);
	assert_int_equal(store_bytes(f->s), total - freed);
	assert_int_equal(rows_of(f, im[0].manifest), 10);
	for (i = 1; i <= 10; i++) {
		assert_int_equal(rows_of(f, im[i].manifest), 0);
		assert_image_files(f, &im[i], 0);
	}
	for (i = 11; i < MANY_IMAGES; i++)
		assert_int_equal(rows_of(f, im[i].manifest), MANY_REPOS);
	assert_true(holds(f->s, "edge/many/r0500", im[0].manifest));
	assert_false(holds(f->s, "edge/many/r0501", im[0].manifest));

	/* Down to nothing: only the pinned row, and its files, stay. */
	assert_int_equal(store_proxy_evict(f->s, 0, &st, &err), BARGE_OK);
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM manifests"), 1);
	assert_true(holds(f->s, "edge/many/r0000", im[MANY_IMAGES - 1].manifest));
	assert_int_equal(st.store_bytes, im[MANY_IMAGES - 1].bytes);
	assert_int_equal(store_bytes(f->s), im[MANY_IMAGES - 1].bytes);
	assert_int_equal(fsck_problems(f->s), 0);
}

/* n proxied images in edge/c, one layer each, and a pinned one in edge/p tagged "1". */
static void
crowd(struct store *s, int n, struct fx_image *pin)
{
	static const char *const layers[] = { "pinned layer" };
	struct fx_image im;
	const char *one[1];
	char name[32], layer[48], cfg[48];
	struct barge_err err;
	int i;

	fx_image_blobs(s, "pinned config", layers, 1, pin);
	load(s, "edge/p", "1", pin);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "i%03d", i);
		snprintf(cfg, sizeof(cfg), "config %s", name);
		snprintf(layer, sizeof(layer), "layer %s", name);
		one[0] = layer;
		fx_image_blobs(s, cfg, one, 1, &im);
		fx_begin(s);
		fx_record(s, "edge/c", &im, NULL, 0);
		assert_int_equal(store_proxy_mark(s, "edge/c", im.manifest, "docker.io", &err),
		                 BARGE_OK);
		assert_int_equal(store_proxy_tag(s, "edge/c", name, im.manifest, &err), BARGE_OK);
		fx_commit(s);
	}
}

struct reader {
	const char *dir;
	const struct fx_image *im;
	volatile int stop;
	int64_t reads, failures;
};

/* Pulls the pinned image (manifest and every blob) on its own handle until told to stop. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct store_manifest m;
	struct barge_err err;
	struct store *s = NULL;
	int64_t size;
	int fd;

	if (store_open(r->dir, &s, &err) != BARGE_OK) {
		r->failures++;
		return NULL;
	}
	while (!r->stop) {
		if (store_open_manifest(s, "edge/p", "1", &m, &fd, &size, &err) != BARGE_OK ||
		    size != r->im->manifest_size)
			r->failures++;
		else
			close(fd);
		if (store_open_repo_blob(s, "edge/p", r->im->layers[0], &fd, &size, &err) !=
		    BARGE_OK)
			r->failures++;
		else
			close(fd);
		r->reads++;
	}
	store_close(s);
	return NULL;
}

/* Pulls go on, unharmed, while eviction empties the cache around them. */
static void
test_evict_beside_readers(void **state)
{
	struct fixture *f = *state;
	struct store_evict_stats st;
	struct reader r[2];
	struct fx_image pin;
	struct barge_err err;
	pthread_t t[2];
	int i;

	crowd(f->s, 64, &pin);
	for (i = 0; i < 2; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].dir = f->dir;
		r[i].im = &pin;
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	}
	/* Eviction starts once both pull, or a loaded machine could let it end before they begin.
	 */
	for (i = 0; i < 2; i++)
		while (__atomic_load_n(&r[i].reads, __ATOMIC_RELAXED) == 0 &&
		       __atomic_load_n(&r[i].failures, __ATOMIC_RELAXED) == 0)
			usleep(1000);
	assert_int_equal(store_proxy_evict(f->s, 0, &st, &err), BARGE_OK);
	for (i = 0; i < 2; i++) {
		r[i].stop = 1;
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].failures, 0);
		assert_true(r[i].reads > 0);
	}
	assert_int_equal(st.manifests, 64);
	assert_int_equal(st.blobs, 64 * 3);
	assert_int_equal(st.store_bytes, pin.bytes);
	assert_int_equal(fsck_problems(f->s), 0);
}

/*
 * kill -9 at growing moments of an eviction: after each, the store opens,
 * fsck finds it clean and the pinned image serves; the next run goes on
 * from where the last one stopped.
 */
static void
test_evict_killed_leaves_clean_store(void **state)
{
	struct fixture *f = *state;
	struct store_evict_stats st;
	struct fx_image pin;
	struct barge_err err;
	struct timespec ts;
	int status = 0, round, killed = 0, partial = 0, blobs;
	char *blobs_dir = fx_path(f->dir, "blobs");
	int64_t left;
	pid_t pid;

	crowd(f->s, 64, &pin);
	store_close(f->s);
	f->s = NULL;
	for (round = 0; round < 200; round++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct store *s = NULL;

			if (store_open(f->dir, &s, &err) != BARGE_OK ||
			    store_proxy_evict(s, 0, &st, &err) != BARGE_OK)
				_exit(1);
			store_close(s);
			_exit(0);
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)round * 500000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
		assert_int_equal(fsck_problems(f->s), 0);
		assert_true(fx_serves(f->s, "edge/p", "1"));
		store_close(f->s);
		f->s = NULL;
		/* Mid-way: some rows gone, or every row gone and files not yet (3 per image). */
		left = fx_db_int(f->dir, "SELECT count(*) FROM proxy_manifests");
		blobs = fx_count_files(blobs_dir);
		partial += (left > 0 && left < 64) || (left == 0 && blobs > 3);
		if (WIFEXITED(status)) {
			assert_int_equal(WEXITSTATUS(status), 0);
			break;
		}
		killed++;
	}
	/* Some kill landed in the middle of the eviction, not only before or after it. */
	assert_true(killed > 0 && partial > 0);
	free(blobs_dir);
	assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
	assert_int_equal(store_proxy_evict(f->s, 0, &st, &err), BARGE_OK);
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM proxy_manifests"), 0);
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM manifests"), 1);
	assert_int_equal(fsck_problems(f->s), 0);
}

/* --- pulls, GC and fsck ----------------------------------------------------------- */

/*
 * A touch while another handle holds the write lock returns at once (the
 * alarm stops a touch that waits), keeps its pull in memory, and that pull
 * still orders the next eviction.
 */
static void
test_touch_never_waits_for_the_lock(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	struct store_evict_stats st;
	struct barge_err err;
	struct store *other = NULL;
	int64_t pulled;
	char sql[256];

	proxied(f->s, "edge/x", "a", "a", &a);
	proxied(f->s, "edge/x", "b", "b", &b);
	snprintf(sql, sizeof(sql), "SELECT pulled_at FROM proxy_manifests WHERE digest = '%s'",
	         a.manifest);
	pulled = fx_db_int(f->dir, sql);
	assert_int_equal(store_open(f->dir, &other, &err), BARGE_OK);
	assert_int_equal(store_begin(other, &err), BARGE_OK);
	alarm(3);
	store_proxy_touch(f->s, "edge/x", a.manifest);
	alarm(0);
	store_rollback(other);
	/* Not written yet: the lock was taken. */
	assert_int_equal(fx_db_int(f->dir, sql), pulled);
	store_close(other);

	/* a was pulled last: b, marked after a, is now the least recently pulled. */
	assert_int_equal(store_proxy_evict(f->s, store_bytes(f->s) - 1, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 1);
	assert_false(holds(f->s, "edge/x", b.manifest));
	assert_true(holds(f->s, "edge/x", a.manifest));
	assert_true(fx_db_int(f->dir, sql) > pulled);
}

/* GC keeps a proxied manifest, tagged or not, until eviction drops it. */
static void
test_gc_keeps_proxied(void **state)
{
	struct store_gc_opts o = { .lock_wait_ms = 1000 };
	struct fixture *f = *state;
	struct store_evict_stats ev;
	struct store_gc_stats st;
	struct fx_image a, b;
	struct barge_err err;

	proxied(f->s, "edge/x", "a", NULL, &a);
	proxied(f->s, "edge/x", "b", "b", &b);
	assert_int_equal(store_gc(f->s, &o, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 0);
	assert_int_equal(st.blobs, 0);
	assert_true(holds(f->s, "edge/x", a.manifest));
	assert_image_files(f, &a, 1);
	assert_int_equal(store_proxy_evict(f->s, 0, &ev, &err), BARGE_OK);
	assert_int_equal(ev.manifests, 2);
	assert_int_equal(store_gc(f->s, &o, &st, &err), BARGE_OK);
	assert_int_equal(st.manifests, 0);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(fsck_problems(f->s), 0);
}

struct problems {
	char text[512];
	int n;
};

static void
note_problem(const char *subject, const char *problem, void *arg)
{
	struct problems *p = arg;

	snprintf(p->text, sizeof(p->text), "%s: %s", subject, problem);
	p->n++;
}

/* A proxy mark naming no manifest (written with foreign keys off) is reported and repaired. */
static void
test_fsck_reports_dangling_proxy_row(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_opts o = { .lock_wait_ms = 1000, .on_problem = note_problem };
	struct store_fsck_stats st;
	struct problems p = { { 0 }, 0 };
	struct fx_image a;
	struct barge_err err;
	char path[FX_DIR_MAX + 16];
	sqlite3 *db = NULL;

	proxied(f->s, "edge/x", "a", "a", &a);
	snprintf(path, sizeof(path), "%s/barge.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "PRAGMA foreign_keys = OFF;"
	                              " INSERT INTO proxy_manifests SELECT repo_id, 'sha256:"
	                              "0000000000000000000000000000000000000000000000000000000000"
	                              "000000', 'quay.io', 1, 1 FROM proxy_manifests",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	o.arg = &p;
	assert_int_equal(store_fsck(f->s, &o, &st, &err), BARGE_OK);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.text, "edge/x@sha256:"
	                            "0000000000000000000000000000000000000000000000000000000000"
	                            "000000: is marked proxied from quay.io, but its repository "
	                            "does not hold it");
	o.repair = 1;
	assert_int_equal(store_fsck(f->s, &o, &st, &err), BARGE_OK);
	assert_int_equal(st.unrepaired, 0);
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM proxy_manifests"), 1);
	assert_int_equal(fsck_problems(f->s), 0);
	assert_true(holds(f->s, "edge/x", a.manifest));
}

/* --- barged ls --------------------------------------------------------------------- */

struct listed {
	char line[8][512];
	int n;
};

/* One line per image: "repo origin/detail tag=origin/detail/fetched? ...". */
static int
list_origins(const struct store_image *im, void *arg)
{
	struct listed *l = arg;
	size_t i, used;
	char *line;

	assert_true(l->n < 8);
	line = l->line[l->n++];
	used = (size_t)snprintf(line, 512, "%s %s/%s", im->repo, store_origin_name(im->origin),
	                        im->origin_detail);
	for (i = 0; i < im->ntags; i++)
		used += (size_t)snprintf(line + used, 512 - used, " %s=%s/%s%s", im->tags[i],
		                         store_origin_name(im->tag_origin[i]),
		                         im->tag_origin_detail[i],
		                         im->tag_fetched_at[i] > 0 ? "/fetched" : "");
	return 0;
}

/* Every image and tag says where it came from: bundle NAME VERSION, push, or proxy REGISTRY. */
static void
test_ls_shows_origins(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b, c, d;
	struct listed l = { .n = 0 };
	struct barge_err err;

	proxied(f->s, "edge/a", "a", "1", &a);
	proxied(f->s, "edge/b", "b", "1", &b);
	load(f->s, "edge/b", "1", &b);
	proxied(f->s, "edge/c", "c", "1", &c);
	push(f, "edge/c", "2", &c);
	proxied(f->s, "edge/d", "d", NULL, &d);
	assert_int_equal(store_list_images(f->s, list_origins, &l, &err), BARGE_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.line[0], "edge/a proxy/docker.io 1=proxy/docker.io/fetched");
	assert_string_equal(l.line[1], "edge/b bundle/demo 1.0 1=bundle/demo 1.0");
	assert_string_equal(l.line[2], "edge/c push/ 1=proxy/docker.io/fetched 2=push/");
	assert_string_equal(l.line[3], "edge/d proxy/docker.io");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_schema2_store_upgrades),
	cmocka_unit_test_setup_teardown(test_load_after_proxy_is_bundle, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_push_after_proxy_is_push, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_mark_checks, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_evict_lru_keeps_pinned_and_pushed, fx_setup,
	                                fx_teardown),
	cmocka_unit_test_setup_teardown(test_evict_index_with_platforms, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_evict_20000_manifests, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_evict_beside_readers, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_evict_killed_leaves_clean_store, fx_setup,
	                                fx_teardown),
	cmocka_unit_test_setup_teardown(test_touch_never_waits_for_the_lock, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gc_keeps_proxied, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_reports_dangling_proxy_row, fx_setup,
	                                fx_teardown),
	cmocka_unit_test_setup_teardown(test_ls_shows_origins, fx_setup, fx_teardown),
};

BARGE_TEST_MAIN(tests)
