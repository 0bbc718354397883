#include "test_main.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fileutil.h"
#include "store.h"

/*
 * tests/data/loader/hello-1.0.0.tar.zst: one image (a manifest, its config
 * and one layer) tagged edge/docker.io/library/hello:1.0, made with GNU tar
 * --format=pax and zstd --check, so the loader is also checked against a
 * bundle that bundle_writer did not write.
 */
#define HELLO_BUNDLE   BARGE_TEST_DATA "/loader/hello-1.0.0.tar.zst"
#define HELLO_MANIFEST "sha256:1290dc3c1571f766e5b3d22bb06778c4b49a36606e7157c39f95759b0eb4c3f5"

struct fixture {
	char dir[64];
	char *out;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_cmd_load.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->out = fu_printf("%s/stdout", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->out);
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

static void
test_load_prints_summary(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "load", "--data-dir", f->dir, HELLO_BUNDLE, NULL };
	struct store_manifest m;
	struct barge_err err;
	struct store *s = NULL;
	char *out = NULL;

	assert_int_equal(run(f, &out, 4, argv), 0);
	assert_string_equal(
	        out, "loaded hello 1.0.0: 1 image, 3 blobs (3 new, 0 already present), 2.0 KiB\n");
	free(out);
	assert_int_equal(run(f, &out, 4, argv), 0);
	assert_non_null(strstr(out, "(0 new, 3 already present)"));
	free(out);

	assert_int_equal(store_open(f->dir, &s, &err), BARGE_OK);
	assert_int_equal(store_get_manifest(s, "edge/docker.io/library/hello", "1.0", &m, &err),
	                 BARGE_OK);
	assert_string_equal(m.digest, HELLO_MANIFEST);
	store_close(s);
}

static void
test_usage_and_failures(void **state)
{
	struct fixture *f = *state;
	char *help[] = { "load", "--help", NULL };
	char *none[] = { "load", "--data-dir", f->dir, NULL };
	char *two[] = { "load", "--data-dir", f->dir, HELLO_BUNDLE, HELLO_BUNDLE, NULL };
	char *bad_opt[] = { "load", "--frobnicate", HELLO_BUNDLE, NULL };
	char *missing[] = { "load", "--data-dir", f->dir, "/nonexistent/x.tar.zst", NULL };
	char *not_bundle[] = { "load", "--data-dir", f->dir, BARGE_TEST_DATA "/loader", NULL };
	char *out = NULL;

	assert_int_equal(run(f, &out, 2, help), 0);
	assert_non_null(strstr(out, "usage: barged load"));
	free(out);
	assert_int_equal(run(f, &out, 3, none), 2);
	free(out);
	assert_int_equal(run(f, &out, 5, two), 2);
	free(out);
	assert_int_equal(run(f, &out, 3, bad_opt), 2);
	free(out);
	assert_int_equal(run(f, &out, 4, missing), 1);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(run(f, &out, 4, not_bundle), 1);
	free(out);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_load_prints_summary, setup, teardown),
	cmocka_unit_test_setup_teardown(test_usage_and_failures, setup, teardown),
};

BARGE_TEST_MAIN(tests)
