#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "store.h"

/*
 * tests/data/loader/hello-1.0.0.tar.zst: one image (a manifest, its config
 * and one layer) tagged edge/docker.io/library/hello:1.0, made with GNU tar
 * --format=pax and zstd --check, so the loader is also checked against a
 * bundle that bundle_writer did not write.  hello-1.0.1-delta.tar.zst, made
 * the same way, tags the same manifest 1.1 and brings only the manifest: it
 * requires the config and the layer from the first.
 */
#define HELLO_BUNDLE   BARGE_TEST_DATA "/loader/hello-1.0.0.tar.zst"
#define HELLO_DELTA    BARGE_TEST_DATA "/loader/hello-1.0.1-delta.tar.zst"
#define HELLO_REPO     "edge/docker.io/library/hello"
#define HELLO_MANIFEST "sha256:1290dc3c1571f766e5b3d22bb06778c4b49a36606e7157c39f95759b0eb4c3f5"

struct fixture {
	char dir[FX_DIR_MAX];
	char *out;
	char *store;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_tmpdir(f->dir, "cmd_load");
	f->out = fu_printf("%s/stdout", f->dir);
	f->store = fu_printf("%s/store", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f->out);
	free(f->store);
	free(f);
	return 0;
}

/* Runs `barged load ARGS...` with stdout captured; returns the exit status. */
static int
run(struct fixture *f, char **stdout_text, int argc, char **argv)
{
	int saved, fd, status;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(f->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	status = cmd_load(argc, argv);
	fflush(stdout);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_int_equal(fu_read_file(f->out, 1 << 20, stdout_text, NULL, NULL), BARGE_OK);
	return status;
}

/* Runs and checks the exit status, discarding the output. */
static void
run_expect(struct fixture *f, int want, int argc, char **argv)
{
	char *out = NULL;

	assert_int_equal(run(f, &out, argc, argv), want);
	free(out);
}

/* Whether the store at f->store has repo:tag pointing at the hello manifest. */
static int
has_tag(struct fixture *f, const char *tag)
{
	struct store_manifest m;
	struct barge_err err;
	struct store *s = NULL;
	int rc;

	assert_int_equal(store_open(f->store, &s, &err), BARGE_OK);
	rc = store_get_manifest(s, HELLO_REPO, tag, &m, &err);
	store_close(s);
	if (rc == BARGE_OK)
		assert_string_equal(m.digest, HELLO_MANIFEST);
	return rc == BARGE_OK;
}

static char *
path_in(struct fixture *f, const char *name)
{
	return fx_path(f->dir, name);
}

static void
copy_file(const char *from, const char *to)
{
	struct barge_err err;
	char *buf = NULL;
	size_t len;

	assert_int_equal(fu_read_file(from, 1 << 20, &buf, &len, &err), BARGE_OK);
	assert_int_equal(fu_write_atomic(to, buf, len, 0644, &err), BARGE_OK);
	free(buf);
}

/* Splits from into n parts named to.part000, to.part001, ... */
static void
split_file(const char *from, const char *to, int n)
{
	struct barge_err err;
	char *buf = NULL, *part;
	size_t len, off, each;
	int i;

	assert_int_equal(fu_read_file(from, 1 << 20, &buf, &len, &err), BARGE_OK);
	each = len / (size_t)n + 1;
	for (i = 0, off = 0; i < n; i++, off += each) {
		part = fu_printf("%s.part%03d", to, i);
		assert_int_equal(fu_write_atomic(part, buf + off,
		                                 off + each <= len ? each : len - off, 0644, &err),
		                 BARGE_OK);
		free(part);
	}
	free(buf);
}

static void
test_load_prints_summary(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "load", "--data-dir", f->store, HELLO_BUNDLE, NULL };
	char *out = NULL;

	assert_int_equal(run(f, &out, 4, argv), 0);
	assert_non_null(strstr(out, "loaded hello 1.0.0: 1 image, 1 tag, 3 blobs (3 new, 0 already "
	                            "present), 2.0 KiB in "));
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
	free(out);
	assert_int_equal(run(f, &out, 4, argv), 0);
	assert_non_null(strstr(out, "loaded hello 1.0.0 (again): "));
	assert_non_null(strstr(out, "(0 new, 3 already present)"));
	free(out);
	assert_true(has_tag(f, "1.0"));
}

static void
test_usage_and_failures(void **state)
{
	struct fixture *f = *state;
	char *empty = path_in(f, "empty");
	char *help[] = { "load", "--help", NULL };
	char *none[] = { "load", "--data-dir", f->store, NULL };
	char *bad_opt[] = { "load", "--frobnicate", HELLO_BUNDLE, NULL };
	char *bad_output[] = { "load", "--output", "xml", HELLO_BUNDLE, NULL };
	char *path_output[] = { "load", "-o", "load.json", HELLO_BUNDLE, NULL };
	char *stdin_twice[] = { "load", "--data-dir", f->store, HELLO_BUNDLE, "-", NULL };
	char *missing[] = { "load", "--data-dir", f->store, "/nonexistent/x.tar.zst", NULL };
	char *no_bundles[] = { "load", "--data-dir", f->store, empty, NULL };
	char *out = NULL;

	assert_int_equal(mkdir(empty, 0755), 0);
	assert_int_equal(run(f, &out, 2, help), 0);
	assert_non_null(strstr(out, "usage: barged load"));
	free(out);
	run_expect(f, 2, 3, none);
	run_expect(f, 2, 3, bad_opt);
	run_expect(f, 2, 4, bad_output);
	run_expect(f, 2, 4, path_output);
	run_expect(f, 2, 5, stdin_twice);
	assert_int_equal(run(f, &out, 4, missing), 1);
	assert_string_equal(out, "");
	free(out);
	run_expect(f, 1, 4, no_bundles);
	free(empty);
}

static void
test_several_sources(void **state)
{
	struct fixture *f = *state;
	char *two[] = { "load", "--data-dir", f->store, HELLO_BUNDLE, HELLO_DELTA, NULL };
	char *out = NULL;

	assert_int_equal(run(f, &out, 5, two), 0);
	assert_non_null(strstr(out, "loaded hello 1.0.0: "));
	assert_non_null(
	        strstr(out, "loaded hello 1.0.1: 1 image, 1 tag, 1 blob (0 new, 1 already"));
	assert_non_null(strstr(out, "2 of 2 bundles loaded: 2 images, 2 tags"));
	free(out);
	assert_true(has_tag(f, "1.0"));
	assert_true(has_tag(f, "1.1"));
}

static void
test_delta_without_base_refused(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "load", "--data-dir", f->store, HELLO_DELTA, NULL };
	char *wrong_order[] = { "load", "--data-dir", f->store, HELLO_DELTA, HELLO_BUNDLE, NULL };
	char *out = NULL;

	assert_int_equal(run(f, &out, 4, argv), 1);
	assert_string_equal(out, "");
	free(out);
	assert_false(has_tag(f, "1.1"));
	/* Sources given one by one load in the order given: the delta fails, the base loads. */
	assert_int_equal(run(f, &out, 5, wrong_order), 1);
	assert_non_null(strstr(out, "1 of 2 bundles loaded (see the errors above)"));
	free(out);
	assert_true(has_tag(f, "1.0"));
	assert_false(has_tag(f, "1.1"));
}

static void
test_directory_full_before_delta(void **state)
{
	struct fixture *f = *state;
	char *dir = path_in(f, "stick");
	char *argv[] = { "load", "--data-dir", f->store, dir, NULL };
	char *p, *out = NULL;

	assert_int_equal(mkdir(dir, 0755), 0);
	/* By name the delta would come first. */
	copy_file(HELLO_DELTA, p = fu_printf("%s/a-delta.tar.zst", dir));
	free(p);
	copy_file(HELLO_BUNDLE, p = fu_printf("%s/b-full.tar.zst", dir));
	free(p);
	/* Neither bundles nor parts: ignored. */
	copy_file(HELLO_BUNDLE, p = fu_printf("%s/README.txt", dir));
	free(p);
	copy_file(HELLO_BUNDLE, p = fu_printf("%s/._b-full.tar.zst", dir));
	free(p);
	assert_int_equal(run(f, &out, 4, argv), 0);
	assert_non_null(p = strstr(out, "loaded hello 1.0.0: "));
	assert_non_null(strstr(p, "loaded hello 1.0.1: "));
	assert_non_null(strstr(out, "2 of 2 bundles loaded"));
	free(out);
	assert_true(has_tag(f, "1.0"));
	assert_true(has_tag(f, "1.1"));
	free(dir);
}

static void
test_split_parts(void **state)
{
	struct fixture *f = *state;
	char *stem = path_in(f, "hello.tar.zst");
	char *p0 = fu_printf("%s.part000", stem), *p1 = fu_printf("%s.part001", stem);
	char *argv[] = { "load", "--data-dir", f->store, p0, NULL };
	char *second[] = { "load", "--data-dir", f->store, p1, NULL };
	char *dir[] = { "load", "--data-dir", f->store, f->dir, NULL };
	char *out = NULL;

	split_file(HELLO_BUNDLE, stem, 3);
	assert_int_equal(run(f, &out, 4, argv), 0);
	assert_non_null(strstr(out, "loaded hello 1.0.0: "));
	free(out);
	assert_true(has_tag(f, "1.0"));
	run_expect(f, 1, 4, second);
	/* From the directory: the set is one bundle. */
	assert_int_equal(run(f, &out, 4, dir), 0);
	assert_non_null(strstr(out, "loaded hello 1.0.0 (again): "));
	assert_null(strstr(out, "bundles loaded"));
	free(out);
	/* A gap: part001 missing while part002 exists. */
	assert_int_equal(unlink(p1), 0);
	run_expect(f, 1, 4, argv);
	run_expect(f, 1, 4, dir);
	/* Parts without part000. */
	assert_int_equal(rename(p0, p1), 0);
	run_expect(f, 1, 4, dir);
	free(p0);
	free(p1);
	free(stem);
}

static void
test_stdin(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "load", "--data-dir", f->store, "-", NULL };
	char *out = NULL;
	int saved, fd = -1;

	saved = dup(STDIN_FILENO);
	assert_true(saved >= 0 && (fd = open(HELLO_BUNDLE, O_RDONLY)) >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	assert_int_equal(run(f, &out, 4, argv), 0);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	assert_non_null(strstr(out, "loaded hello 1.0.0: "));
	free(out);
	assert_true(has_tag(f, "1.0"));
}

static void
test_json_output(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "load", "--data-dir", f->store,    "--output",
		         "json", HELLO_BUNDLE, HELLO_DELTA, "/nonexistent.tar.zst",
		         NULL };
	char *ok[] = { "load", "--data-dir", f->store, "--output", "json", HELLO_BUNDLE, NULL };
	json_t *j, *b;
	char *out = NULL;

	/* A SOURCE that can not be read stops before anything loads. */
	assert_int_equal(run(f, &out, 8, argv), 1);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(run(f, &out, 6, ok), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(j, "loaded")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "failed")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "blobsNew")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "blobsPresent")), 0);
	assert_non_null(b = json_array_get(json_object_get(j, "bundles"), 0));
	assert_string_equal(json_string_value(json_object_get(b, "status")), "loaded");
	assert_string_equal(json_string_value(json_object_get(b, "name")), "hello");
	assert_string_equal(json_string_value(json_object_get(b, "source")), HELLO_BUNDLE);
	assert_int_equal(json_integer_value(json_object_get(b, "images")), 1);
	assert_int_equal(json_integer_value(json_object_get(b, "tags")), 1);
	assert_int_equal(json_integer_value(json_object_get(b, "bytes")), 414 + 159 + 1526);
	/* camelCase, as every JSON output of both programs. */
	assert_true(json_integer_value(json_object_get(b, "bundleId")) > 0);
	assert_int_equal(json_integer_value(json_object_get(b, "bytesNew")), 414 + 159 + 1526);
	assert_null(json_object_get(b, "blobs_new"));
	assert_true(json_is_null(json_object_get(b, "signer")) ||
	            json_object_get(b, "signer") == NULL);
	json_decref(j);
	free(out);
}

/* An ISO 9660 image (libarchive's writer) holding each file at its name. */
static void
make_iso(const char *iso, const char *const *names, const char *const *files, int n)
{
	struct archive_entry *e;
	struct archive *a;
	struct barge_err err;
	char *buf;
	size_t len;
	int i;

	assert_non_null(a = archive_write_new());
	assert_int_equal(archive_write_set_format_iso9660(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, iso), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(fu_read_file(files[i], 1 << 20, &buf, &len, &err), BARGE_OK);
		e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)len);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, buf, len), (la_ssize_t)len);
		archive_entry_free(e);
		free(buf);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void
test_iso_image(void **state)
{
	struct fixture *f = *state;
	char *iso = path_in(f, "media.iso");
	char *stem = path_in(f, "x.tar.zst");
	char *p0 = fu_printf("%s.part000", stem), *p1 = fu_printf("%s.part001", stem);
	const char *names[] = { "bundles/a-delta.tar.zst", "bundles/b-full.tar.zst",
		                "split/hello.tar.zst.part001", "split/hello.tar.zst.part000",
		                "README" };
	const char *files[] = { HELLO_DELTA, HELLO_BUNDLE, p1, p0, HELLO_BUNDLE };
	char *argv[] = { "load", "--data-dir", f->store, iso, NULL };
	char *out = NULL, *p;

	split_file(HELLO_BUNDLE, stem, 2);
	make_iso(iso, names, files, 5);
	assert_int_equal(run(f, &out, 4, argv), 0);
	/* The full bundle first (by name: bundles/ before split/), then the parts, then the delta.
	 */
	assert_non_null(p = strstr(out, "loaded hello 1.0.0: "));
	assert_non_null(p = strstr(p, "loaded hello 1.0.0 (again): "));
	assert_non_null(strstr(p, "loaded hello 1.0.1: "));
	assert_non_null(strstr(out, "3 of 3 bundles loaded"));
	free(out);
	assert_true(has_tag(f, "1.0"));
	assert_true(has_tag(f, "1.1"));
	free(iso);
	free(stem);
	free(p0);
	free(p1);
}

static void
test_signature_flags(void **state)
{
	struct fixture *f = *state;
	char *keys = path_in(f, "keys");
	char *argv[] = { "load", "--data-dir",          f->store,     "--keys-dir",
		         keys,   "--require-signature", HELLO_BUNDLE, NULL };
	char *missing_dir[] = { "load",         "--data-dir", f->store, "--keys-dir",
		                "/nonexistent", HELLO_BUNDLE, NULL };
	char *no_keys[] = {
		"load", "--data-dir", f->store, "--keys-dir", keys, HELLO_BUNDLE, NULL
	};

	assert_int_equal(mkdir(keys, 0755), 0);
	/* --require-signature with no trusted key at all: nothing can load. */
	run_expect(f, 1, 7, argv);
	/* An explicit keys directory must exist. */
	run_expect(f, 1, 6, missing_dir);
	assert_false(has_tag(f, "1.0"));
	/* No key and no requirement: an unsigned bundle loads. */
	run_expect(f, 0, 6, no_keys);
	assert_true(has_tag(f, "1.0"));
	free(keys);
}

/* Points hello:1.0 at another manifest, as a push would have; its digest into other. */
static void
retag_elsewhere(struct fixture *f, char *other)
{
	static const char body[] = "{\"schemaVersion\":2,\"pushed\":true}";
	struct store_blob_writer *w = NULL;
	struct barge_err err;
	struct store *s = NULL;

	assert_int_equal(digest_buf(DIGEST_SHA256, body, strlen(body), other, &err), BARGE_OK);
	assert_int_equal(store_open(f->store, &s, &err), BARGE_OK);
	assert_int_equal(store_blob_begin(s, other, (int64_t)strlen(body), &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, body, strlen(body), &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
	assert_int_equal(store_begin(s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(s, HELLO_REPO, other,
	                                    "application/vnd.oci.image.manifest.v1+json",
	                                    (int64_t)strlen(body), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_tag(s, HELLO_REPO, "1.0", other, &err), BARGE_OK);
	assert_int_equal(store_commit(s, &err), BARGE_OK);
	store_close(s);
}

/* Whether hello's tag points at digest. */
static int
tag_is(struct fixture *f, const char *tag, const char *digest)
{
	struct store_manifest m;
	struct barge_err err;
	struct store *s = NULL;
	int rc;

	assert_int_equal(store_open(f->store, &s, &err), BARGE_OK);
	rc = store_get_manifest(s, HELLO_REPO, tag, &m, &err);
	store_close(s);
	return rc == BARGE_OK && strcmp(m.digest, digest) == 0;
}

/* A tag the bundle moves is reported; --tags keep leaves it, --tags refuse fails. */
static void
test_tags_policy(void **state)
{
	struct fixture *f = *state;
	char *move[] = { "load", "--data-dir", f->store, HELLO_BUNDLE, NULL };
	char *keep[] = { "load",     "--data-dir", f->store,     "--tags", "keep",
		         "--output", "json",       HELLO_BUNDLE, NULL };
	char *refuse[] = { "load",     "--data-dir", f->store,     "--tags", "refuse",
		           "--output", "json",       HELLO_BUNDLE, NULL };
	char *bad[] = { "load", "--data-dir", f->store, "--tags", "sometimes", HELLO_BUNDLE, NULL };
	char other[DIGEST_STR_MAX], *out = NULL, *want;
	json_t *j, *b, *m;

	run_expect(f, 0, 4, move);
	retag_elsewhere(f, other);
	assert_int_equal(run(f, &out, 4, move), 0);
	want = fu_printf("  tag %s:1.0 moved from %s (set by no bundle: pushed) to %s\n",
	                 HELLO_REPO, other, HELLO_MANIFEST);
	assert_non_null(strstr(out, want));
	free(want);
	free(out);
	assert_true(has_tag(f, "1.0"));

	retag_elsewhere(f, other);
	assert_int_equal(run(f, &out, 8, keep), 0);
	assert_non_null(j = json_loads(out, 0, NULL));
	b = json_array_get(json_object_get(j, "bundles"), 0);
	assert_int_equal(json_integer_value(json_object_get(b, "tagsKept")), 1);
	assert_int_equal(json_integer_value(json_object_get(b, "tags")), 0);
	assert_non_null(m = json_array_get(json_object_get(b, "tagMoves"), 0));
	assert_string_equal(json_string_value(json_object_get(m, "repository")), HELLO_REPO);
	assert_string_equal(json_string_value(json_object_get(m, "tag")), "1.0");
	assert_string_equal(json_string_value(json_object_get(m, "oldDigest")), other);
	assert_string_equal(json_string_value(json_object_get(m, "newDigest")), HELLO_MANIFEST);
	assert_true(json_is_null(json_object_get(m, "oldBundle")));
	assert_string_equal(json_string_value(json_object_get(m, "action")), "kept");
	json_decref(j);
	free(out);
	assert_true(tag_is(f, "1.0", other));

	assert_int_equal(run(f, &out, 8, refuse), 1);
	assert_non_null(j = json_loads(out, 0, NULL));
	b = json_array_get(json_object_get(j, "bundles"), 0);
	assert_string_equal(json_string_value(json_object_get(b, "status")), "failed");
	want = fu_printf("would move tag %s:1.0 from %s", HELLO_REPO, other);
	assert_non_null(strstr(json_string_value(json_object_get(b, "error")), want));
	free(want);
	json_decref(j);
	free(out);
	assert_true(tag_is(f, "1.0", other));
	run_expect(f, 2, 6, bad);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_load_prints_summary, setup, teardown),
	cmocka_unit_test_setup_teardown(test_usage_and_failures, setup, teardown),
	cmocka_unit_test_setup_teardown(test_several_sources, setup, teardown),
	cmocka_unit_test_setup_teardown(test_delta_without_base_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_directory_full_before_delta, setup, teardown),
	cmocka_unit_test_setup_teardown(test_split_parts, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stdin, setup, teardown),
	cmocka_unit_test_setup_teardown(test_json_output, setup, teardown),
	cmocka_unit_test_setup_teardown(test_iso_image, setup, teardown),
	cmocka_unit_test_setup_teardown(test_signature_flags, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tags_policy, setup, teardown),
};

BARGE_TEST_MAIN(tests)
