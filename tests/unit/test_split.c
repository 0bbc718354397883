#include "test_main.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "split.h"

#define MIB (1024 * 1024)

struct fixture {
	char dir[FX_DIR_MAX];
	char *bundle;
	unsigned char *data;
	size_t len;
};

static void
make_bundle(struct fixture *f, size_t len)
{
	struct barge_err err;
	uint32_t x = 11;
	size_t i;

	free(f->data);
	f->len = len;
	assert_non_null(f->data = malloc(len));
	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		f->data[i] = (unsigned char)(x >> 16);
	}
	assert_int_equal(fu_write_atomic(f->bundle, f->data, len, 0644, &err), BARGE_OK);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_tmpdir(f->dir, "split");
	f->bundle = fu_printf("%s/b-1.0.tar.zst", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f->bundle);
	free(f->data);
	free(f);
	return 0;
}

static void
expect_size(const char *s, int64_t want)
{
	struct barge_err err;
	int64_t v = -1;

	err_clear(&err);
	if (split_parse_size(s, &v, &err) != BARGE_OK)
		fail_msg("\"%s\": %s", s, err.msg);
	assert_int_equal(v, want);
}

static void
expect_bad_size(const char *s, const char *msg)
{
	struct barge_err err;
	int64_t v = -1;

	assert_int_equal(split_parse_size(s, &v, &err), BARGE_EINVAL);
	assert_int_equal(v, -1);
	if (strstr(err.msg, msg) == NULL)
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", s, err.msg, msg);
}

static void
test_parse_size(void **state)
{
	(void)state;
	expect_size("3900M", (int64_t)3900 * MIB);
	expect_size("1M", MIB);
	expect_size("1024k", MIB);
	expect_size("4G", (int64_t)4 * 1024 * MIB);
	expect_size("2T", (int64_t)2 * 1024 * 1024 * MIB);
	expect_size("1048576", MIB);
	expect_bad_size("1", "at least 1M");
	expect_bad_size("1023K", "at least 1M");
	expect_bad_size("", "want a number");
	expect_bad_size("M", "want a number");
	expect_bad_size("-1M", "want a number");
	expect_bad_size("5X", "want a number");
	expect_bad_size("1MB", "want a number");
	expect_bad_size("1 M", "want a number");
	expect_bad_size("99999999999999999999", "want a number");
	expect_bad_size("9223372036854775807K", "want a number");
}

/* Splits and checks: parts concatenate to the bundle; the list says so with right digests. */
static void
split_and_check(struct fixture *f, int64_t part_size, size_t want_parts)
{
	struct split_result *r = NULL;
	struct barge_err err;
	char sha[DIGEST_STR_MAX], *buf, *list;
	json_t *root, *parts, *p;
	size_t i, len, off = 0;

	err_clear(&err);
	if (split_bundle(f->bundle, part_size, &r, &err) != BARGE_OK)
		fail_msg("split: %s", err.msg);
	assert_int_equal(r->nparts, want_parts);
	assert_int_equal(digest_buf(DIGEST_SHA256, f->data, f->len, sha, &err), BARGE_OK);
	assert_string_equal(r->sha256, sha);
	list = fu_printf("%s.split.json", f->bundle);
	assert_string_equal(r->list, list);
	assert_int_equal(fu_read_file(list, MIB, &buf, &len, &err), BARGE_OK);
	assert_non_null(root = json_loads(buf, 0, NULL));
	free(buf);
	assert_string_equal(json_string_value(json_object_get(root, "bundle")), "b-1.0.tar.zst");
	assert_string_equal(json_string_value(json_object_get(root, "sha256")), sha);
	assert_int_equal(json_integer_value(json_object_get(root, "size")), (json_int_t)f->len);
	parts = json_object_get(root, "parts");
	assert_int_equal(json_array_size(parts), want_parts);
	for (i = 0; i < want_parts; i++) {
		assert_int_equal(fu_read_file(r->parts[i].path, 64 * MIB, &buf, &len, &err),
		                 BARGE_OK);
		assert_true(len <= (size_t)part_size && len > 0);
		assert_true(off + len <= f->len);
		assert_memory_equal(buf, f->data + off, len);
		off += len;
		assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, sha, &err), BARGE_OK);
		p = json_array_get(parts, i);
		assert_string_equal(json_string_value(json_object_get(p, "sha256")), sha);
		assert_int_equal(json_integer_value(json_object_get(p, "size")), (json_int_t)len);
		assert_string_equal(json_string_value(json_object_get(p, "file")),
		                    strrchr(r->parts[i].path, '/') + 1);
		free(buf);
	}
	assert_int_equal(off, f->len);
	/* The bundle, its parts, the list: no temporary file left. */
	assert_int_equal(fx_count_entries(f->dir), 2 + (int)want_parts);
	json_decref(root);
	free(list);
	split_result_free(r);
}

static void
test_split_concatenates_to_the_bundle(void **state)
{
	struct fixture *f = *state;

	make_bundle(f, 3 * MIB + 12345);
	split_and_check(f, MIB, 4);
}

static void
test_split_exact_multiple(void **state)
{
	struct fixture *f = *state;

	/* No empty last part. */
	make_bundle(f, 2 * MIB);
	split_and_check(f, MIB, 2);
	make_bundle(f, 1000);
	split_and_check(f, MIB, 1);
}

static void
test_split_removes_stale_parts(void **state)
{
	struct fixture *f = *state;
	struct barge_err err;
	char *p3 = fu_printf("%s.part003", f->bundle), *p4 = fu_printf("%s.part004", f->bundle);

	/* An earlier split into more parts: the loader would read 003 and 004 after the new set. */
	assert_int_equal(fu_write_atomic(p3, "old", 3, 0644, &err), BARGE_OK);
	assert_int_equal(fu_write_atomic(p4, "old", 3, 0644, &err), BARGE_OK);
	make_bundle(f, 2 * MIB + 1);
	split_and_check(f, MIB, 3);
	assert_int_equal(access(p3, F_OK), -1);
	assert_int_equal(access(p4, F_OK), -1);
	free(p3);
	free(p4);
}

static void
test_split_refuses(void **state)
{
	struct fixture *f = *state;
	struct split_result *r = NULL;
	struct barge_err err;

	assert_int_equal(split_bundle(f->bundle, MIB, &r, &err), BARGE_EIO);
	assert_non_null(strstr(err.msg, "b-1.0.tar.zst"));
	make_bundle(f, 10);
	assert_int_equal(split_bundle(f->bundle, MIB - 1, &r, &err), BARGE_EINVAL);
	assert_int_equal(split_bundle(f->dir, MIB, &r, &err), BARGE_EINVAL);
	assert_null(r);
	assert_int_equal(fx_count_entries(f->dir), 1);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_parse_size),
	cmocka_unit_test_setup_teardown(test_split_concatenates_to_the_bundle, setup, teardown),
	cmocka_unit_test_setup_teardown(test_split_exact_multiple, setup, teardown),
	cmocka_unit_test_setup_teardown(test_split_removes_stale_parts, setup, teardown),
	cmocka_unit_test_setup_teardown(test_split_refuses, setup, teardown),
};

BARGE_TEST_MAIN(tests)
