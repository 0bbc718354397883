#include "test_main.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "store_fixture.h"
#include "store_proxy.h"
#include "store_push.h"

#define REPO_A "edge/docker.io/library/a"
#define REPO_B "edge/docker.io/library/b"

static const char *const layers_a[] = { "shared layer", "layer only a" };
static const char *const layers_b[] = { "shared layer", "layer only b" };

/* The problems one fsck run reported, "subject: problem" per line. */
struct report {
	char text[8192];
	size_t used;
	int n;
};

static void
on_problem(const char *subject, const char *problem, void *arg)
{
	struct report *r = arg;
	int n;

	r->n++;
	n = snprintf(r->text + r->used, sizeof(r->text) - r->used, "%s: %s\n", subject, problem);
	if (n > 0 && r->used + (size_t)n < sizeof(r->text))
		r->used += (size_t)n;
}

static void
fsck_run(struct store *s, int repair, struct store_fsck_stats *st, struct report *r)
{
	struct store_fsck_opts o = { 0 };
	struct barge_err err;

	memset(r, 0, sizeof(*r));
	o.repair = repair;
	o.on_problem = on_problem;
	o.arg = r;
	assert_int_equal(store_fsck(s, &o, st, &err), BARGE_OK);
	assert_int_equal(st->problems, r->n);
}

static void
two_images(struct fixture *f, struct fx_image *a, struct fx_image *b, int64_t *bundle)
{
	fx_image_blobs(f->s, "config a", layers_a, 2, a);
	fx_image_blobs(f->s, "config b", layers_b, 2, b);
	fx_begin(f->s);
	*bundle = fx_bundle(f->s, "demo", "1.0");
	fx_record(f->s, REPO_A, a, "1.0", *bundle);
	fx_record(f->s, REPO_B, b, "1.0", *bundle);
	fx_commit(f->s);
}

/* Flips one byte in the middle of a blob file, as a failing disk would. */
static void
corrupt(const struct fixture *f, const char *digest)
{
	char *p = fx_blob_path(f, digest), c;
	int fd;

	assert_true((fd = open(p, O_RDWR)) >= 0);
	assert_int_equal(pread(fd, &c, 1, 3), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, 3), 1);
	close(fd);
	free(p);
}

static void
test_fsck_clean(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct fx_image a, b;
	struct report r;
	int64_t id;

	two_images(f, &a, &b, &id);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.blobs, 7);
	assert_int_equal(st.manifests, 2);
	assert_int_equal(st.bytes, a.bytes + b.bytes - (int64_t)strlen("shared layer"));
	assert_string_equal(r.text, "");
}

/* A flipped byte is found and named; --repair removes exactly what needs it. */
static void
test_fsck_corrupt_blob_repair(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct fx_image a, b;
	struct report r;
	char want[256];
	int64_t id;

	two_images(f, &a, &b, &id);
	corrupt(f, a.layers[1]);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 1);
	snprintf(want, sizeof(want), "%s: corrupt: ", a.layers[1]);
	assert_memory_equal(r.text, want, strlen(want));
	/* Without --repair nothing changes. */
	assert_true(fx_serves(f->s, REPO_A, "1.0"));
	assert_true(store_blob_exists(f->s, a.layers[1]));

	fsck_run(f->s, 1, &st, &r);
	assert_int_equal(st.problems, 1);
	assert_int_equal(st.unrepaired, 0);
	assert_int_equal(st.removed_files, 1);
	assert_int_equal(st.removed_manifests, 1);
	assert_int_equal(st.removed_tags, 1);
	assert_int_equal(st.removed_pins, 1);
	assert_false(store_blob_exists(f->s, a.layers[1]));
	assert_false(fx_serves(f->s, REPO_A, "1.0"));
	assert_false(fx_serves(f->s, REPO_A, a.manifest));
	/* b shares a's other layer and is whole: it stays, pinned and tagged. */
	assert_true(fx_serves(f->s, REPO_B, "1.0"));
	assert_true(store_blob_exists(f->s, a.layers[0]));

	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
	assert_string_equal(r.text, "");
}

/* A missing layer is reported through the manifest referencing it. */
static void
test_fsck_missing_blob(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct fx_image a, b;
	struct report r;
	char want[512], *p;
	int64_t id;

	two_images(f, &a, &b, &id);
	p = fx_blob_path(f, b.layers[1]);
	assert_int_equal(unlink(p), 0);
	free(p);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 1);
	snprintf(want, sizeof(want), "%s: references %s, which is missing\n", b.manifest,
	         b.layers[1]);
	assert_string_equal(r.text, want);

	fsck_run(f->s, 1, &st, &r);
	assert_int_equal(st.removed_manifests, 1);
	assert_int_equal(st.removed_tags, 1);
	assert_false(fx_serves(f->s, REPO_B, "1.0"));
	assert_true(fx_serves(f->s, REPO_A, "1.0"));
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
}

/* A corrupt manifest blob breaks its image and the index above it. */
static void
test_fsck_corrupt_manifest_breaks_index(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct fx_image a;
	struct report r;
	char index[DIGEST_STR_MAX], json[1024];

	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	snprintf(json, sizeof(json),
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	         "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	         "\"digest\":\"%s\",\"size\":%lld}]}",
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
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);

	corrupt(f, a.manifest);
	fsck_run(f->s, 0, &st, &r);
	assert_true(st.problems >= 1);
	assert_non_null(strstr(r.text, a.manifest));
	fsck_run(f->s, 1, &st, &r);
	assert_int_equal(st.removed_manifests, 2);
	assert_int_equal(st.removed_tags, 1);
	assert_false(fx_serves(f->s, REPO_A, "multi"));
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
}

/* A row naming a blob that does not parse as a manifest. */
static void
test_fsck_manifest_not_parsing(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct report r;
	char d[DIGEST_STR_MAX];

	fx_blob(f->s, "not json at all", d);
	fx_begin(f->s);
	assert_int_equal(store_put_manifest(f->s, REPO_A, d,
	                                    "application/vnd.oci.image.manifest.v1+json",
	                                    (int64_t)strlen("not json at all"), NULL),
	                 BARGE_OK);
	assert_int_equal(store_put_tag(f->s, REPO_A, "bad", d, NULL), BARGE_OK);
	fx_commit(f->s);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 1);
	assert_non_null(strstr(r.text, "does not parse as a manifest"));
	fsck_run(f->s, 1, &st, &r);
	assert_int_equal(st.removed_manifests, 1);
	assert_int_equal(st.removed_tags, 1);
	/* The blob's bytes match its name: it is an orphan for GC, not broken. */
	assert_int_equal(st.removed_files, 0);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
}

/* Files in blobs/ that are no blob of the store are reported and repaired. */
static void
test_fsck_stray_file(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct report r;
	char *shard, *stray;
	FILE *fp;

	assert_non_null(shard = fu_printf("%s/blobs/sha256/ab", f->dir));
	assert_non_null(stray = fu_printf("%s/not-a-digest", shard));
	assert_true(mkdir(shard, 0755) == 0 || errno == EEXIST);
	assert_non_null(fp = fopen(stray, "w"));
	fclose(fp);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 1);
	assert_non_null(strstr(r.text, "not a blob of the store"));
	assert_non_null(strstr(r.text, stray));
	fsck_run(f->s, 1, &st, &r);
	assert_int_equal(st.removed_files, 1);
	assert_int_not_equal(access(stray, F_OK), 0);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
	free(stray);
	free(shard);
}

/* A pushed blob whose file went missing: reported, and --repair unlinks it. */
static void
test_fsck_pushed_blob_missing(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct barge_err err;
	struct report r;
	char d[DIGEST_STR_MAX], want[512], *p;

	assert_int_equal(store_push_init(f->s, &err), BARGE_OK);
	fx_blob(f->s, "pushed", d);
	assert_int_equal(store_link_blob(f->s, REPO_A, d, &err), BARGE_OK);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
	p = fx_blob_path(f, d);
	assert_int_equal(unlink(p), 0);
	free(p);
	fsck_run(f->s, 0, &st, &r);
	snprintf(want, sizeof(want), "%s@%s: pushed blob is missing\n", REPO_A, d);
	assert_string_equal(r.text, want);
	fsck_run(f->s, 1, &st, &r);
	assert_int_equal(st.unrepaired, 0);
	assert_int_equal(store_push_has_blob(f->s, REPO_A, d, &err), BARGE_ENOTFOUND);
	fsck_run(f->s, 0, &st, &r);
	assert_int_equal(st.problems, 0);
}

/*
 * What a push may leave absent on purpose: a non-distributable layer, and
 * the subject of a referrer pushed before it.  Neither is a problem.
 */
static void
test_fsck_pushed_absent_on_purpose(void **state)
{
	struct fixture *f = *state;
	struct store_push_result res;
	struct store_fsck_stats st;
	struct barge_err err;
	struct report r;
	char cfg[DIGEST_STR_MAX], foreign[DIGEST_STR_MAX], subject[DIGEST_STR_MAX];
	char ref[DIGEST_STR_MAX], json[2048];

	assert_int_equal(store_push_init(f->s, &err), BARGE_OK);
	fx_blob(f->s, "{}", cfg);
	assert_int_equal(store_link_blob(f->s, REPO_A, cfg, &err), BARGE_OK);
	assert_int_equal(digest_buf(DIGEST_SHA256, "windows base", 12, foreign, &err), BARGE_OK);
	assert_int_equal(digest_buf(DIGEST_SHA256, "not pushed yet", 14, subject, &err), BARGE_OK);
	snprintf(
	        json, sizeof(json),
	        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	        "\"digest\":\"%s\",\"size\":2},"
	        "\"layers\":[{\"mediaType\":"
	        "\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\","
	        "\"digest\":\"%s\",\"size\":12}],"
	        "\"subject\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"digest\":\"%s\",\"size\":14}}",
	        cfg, foreign, subject);
	assert_int_equal(digest_buf(DIGEST_SHA256, json, strlen(json), ref, &err), BARGE_OK);
	assert_int_equal(store_push_manifest(f->s, REPO_A, ref, json, strlen(json),
	                                     "application/vnd.oci.image.manifest.v1+json", &res,
	                                     &err),
	                 BARGE_OK);
	fsck_run(f->s, 0, &st, &r);
	assert_string_equal(r.text, "");
	assert_int_equal(st.manifests, 1);
}

/*
 * The checks fsck makes of a manifest blob the hashing pass parsed and of
 * one it reads again after (another row of it records another media type
 * and size), reported in row order: a layer refs does not record, a size
 * the row does not have.
 */
static void
test_fsck_manifest_rows_in_order(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct fx_image a;
	struct report r;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], m[DIGEST_STR_MAX], json[1024];
	char want[2048];
	struct barge_err err;
	int64_t id;

	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	fx_blob(f->s, "config c", cfg);
	fx_blob(f->s, "layer c", layer);
	snprintf(
	        json, sizeof(json),
	        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	        "\"digest\":\"%s\",\"size\":8},"
	        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
	        "\"digest\":\"%s\",\"size\":7}]}",
	        cfg, layer);
	fx_blob(f->s, json, m);
	fx_begin(f->s);
	id = fx_bundle(f->s, "demo", "1.0");
	fx_record(f->s, REPO_A, &a, "1.0", id);
	assert_int_equal(store_put_manifest(f->s, REPO_A, m,
	                                    "application/vnd.oci.image.manifest.v1+json",
	                                    (int64_t)strlen(json), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(f->s, m, cfg, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, REPO_B, a.manifest,
	                                    "application/vnd.docker.distribution.manifest.v2+json",
	                                    a.manifest_size + 1, &err),
	                 BARGE_OK);
	fx_commit(f->s);
	fsck_run(f->s, 0, &st, &r);
	snprintf(want, sizeof(want),
	         "%s@%s: layer %s is not recorded as its reference\n"
	         "%s@%s: manifest blob is %lld bytes, recorded as %lld\n",
	         REPO_A, m, layer, REPO_B, a.manifest, (long long)a.manifest_size,
	         (long long)a.manifest_size + 1);
	assert_string_equal(r.text, want);
	assert_int_equal(st.manifests, 3);
	assert_int_equal(st.blobs, 7);
}

/*
 * A missing child is a problem of a manifest digest only while a row of it
 * is not proxied (a proxy fetches children when first pulled), and a
 * reference whose parent no row holds is left to GC, whatever its child.
 */
static void
test_fsck_missing_child_proxied_rows(void **state)
{
	struct fixture *f = *state;
	struct store_fsck_stats st;
	struct barge_err err;
	struct fx_image a;
	struct report r;
	char want[512], gone[DIGEST_STR_MAX], *p;

	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	assert_int_equal(digest_buf(DIGEST_SHA256, "never stored", 12, gone, &err), BARGE_OK);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, NULL, 0);
	fx_record(f->s, REPO_B, &a, NULL, 0);
	assert_int_equal(store_proxy_mark(f->s, REPO_A, a.manifest, "docker.io", &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, gone, a.config, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, gone, gone, &err), BARGE_OK);
	fx_commit(f->s);
	p = fx_blob_path(f, a.layers[1]);
	assert_int_equal(unlink(p), 0);
	free(p);
	/* REPO_B's row is not proxied. */
	fsck_run(f->s, 0, &st, &r);
	snprintf(want, sizeof(want), "%s: references %s, which is missing\n", a.manifest,
	         a.layers[1]);
	assert_string_equal(r.text, want);

	fx_begin(f->s);
	assert_int_equal(store_proxy_mark(f->s, REPO_B, a.manifest, "docker.io", &err), BARGE_OK);
	fx_commit(f->s);
	fsck_run(f->s, 0, &st, &r);
	assert_string_equal(r.text, "");
	assert_int_equal(st.manifests, 2);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_fsck_clean, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_corrupt_blob_repair, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_missing_blob, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_corrupt_manifest_breaks_index, fx_setup,
	                                fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_manifest_not_parsing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_stray_file, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_pushed_blob_missing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_pushed_absent_on_purpose, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_manifest_rows_in_order, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_fsck_missing_child_proxied_rows, fx_setup,
	                                fx_teardown),
};

BARGE_TEST_MAIN(tests)
