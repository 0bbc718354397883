#include "test_main.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "fileutil.h"
#include "fixture.h"

static void
test_format_exact(void **state)
{
	struct accesslog_entry e = { { 1795421294, 123456789 },
		                     "127.0.0.1",
		                     "GET",
		                     "/v2/edge/a/manifests/v1",
		                     200,
		                     1234,
		                     1.25,
		                     "admin" };
	char buf[512];
	size_t n;

	(void)state;
	n = accesslog_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "{\"ts\":\"2026-11-23T08:08:14.123Z\",\"remote\":\"127.0.0.1\","
	                         "\"method\":\"GET\",\"path\":\"/v2/edge/a/manifests/v1\","
	                         "\"status\":200,\"bytes\":1234,\"duration_ms\":1.250,"
	                         "\"user\":\"admin\"}\n");
	assert_int_equal(n, strlen(buf));
	/* Too small a buffer gives nothing rather than a cut line. */
	assert_int_equal(accesslog_format(&e, buf, 40), 0);
}

static void
test_hostile_path_stays_one_json_line(void **state)
{
	struct accesslog_entry e = { { 0, 0 }, "", "GET", NULL, 404, 0, 0, NULL };
	char path[ACCESSLOG_PATH_MAX + 100], *buf;
	json_error_t jerr;
	json_t *j;
	size_t n;

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	memcpy(path, "/\"\n\\\x01\xff", 6);
	e.path = path;
	buf = malloc(ACCESSLOG_LINE_MAX);
	assert_non_null(buf);
	n = accesslog_format(&e, buf, ACCESSLOG_LINE_MAX);
	assert_true(n > 0);
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
	j = json_loads(buf, 0, &jerr);
	assert_non_null(j);
	/* Cut at the bound; the byte 0xff came back as U+00FF, two bytes of UTF-8. */
	assert_int_equal(strlen(json_string_value(json_object_get(j, "path"))),
	                 ACCESSLOG_PATH_MAX + 1);
	assert_int_equal(memcmp(json_string_value(json_object_get(j, "path")), "/\"\n\\\x01", 5),
	                 0);
	assert_string_equal(json_string_value(json_object_get(j, "user")), "-");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
	json_decref(j);
	free(buf);
}

static void
test_file_and_reopen(void **state)
{
	struct accesslog_entry e = { { 0, 0 }, "::1", "HEAD", "/v2/", 200, 0, 0.5, "anonymous" };
	char dir[FX_DIR_MAX], path[96], moved[96], *text = NULL;
	struct barge_err err = { 0 };
	struct accesslog *l = NULL;
	size_t len;

	(void)state;
	fx_tmpdir(dir, "alog");
	snprintf(path, sizeof(path), "%s/access.log", dir);
	snprintf(moved, sizeof(moved), "%s/access.log.1", dir);
	assert_int_equal(accesslog_open("off", &l, &err), BARGE_OK);
	assert_null(l);
	accesslog_write(l, &e);
	assert_int_equal(accesslog_open(path, &l, &err), BARGE_OK);
	accesslog_write(l, &e);
	accesslog_write(l, &e);
	/* Rotation: the old file is moved away, a reopen starts a new one. */
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(accesslog_reopen(l, &err), BARGE_OK);
	accesslog_write(l, &e);
	accesslog_close(l);
	assert_int_equal(fu_read_file(moved, 4096, &text, &len, &err), BARGE_OK);
	assert_int_equal(len, 2 * strlen(strchr(text + 1, '{')));
	free(text);
	assert_int_equal(fu_read_file(path, 4096, &text, &len, &err), BARGE_OK);
	assert_non_null(strstr(text, "\"user\":\"anonymous\"}\n"));
	assert_int_equal(strchr(text, '\n'), text + len - 1);
	free(text);
	assert_int_equal(accesslog_open("/nonexistent/dir/log", &l, &err), BARGE_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/log"));
	fx_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_format_exact),
	cmocka_unit_test(test_hostile_path_stays_one_json_line),
	cmocka_unit_test(test_file_and_reopen),
};

BARGE_TEST_MAIN(tests)
