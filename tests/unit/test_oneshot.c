#include "test_main.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "fixture.h"
#include "oneshot.h"

/* Set in the child only: the parent must still see 0. */
static int touched;

static int
answer_pid(void *arg, void **out, size_t *len, struct barge_err *err)
{
	char *s;

	touched = 1;
	if ((s = fu_printf("%s %ld", (const char *)arg, (long)getpid())) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*out = s;
	*len = strlen(s);
	return BARGE_OK;
}

static void
test_returns_the_childs_result(void **state)
{
	struct barge_err err = { 0 };
	void *out = NULL;
	size_t len = 0;
	char want[64];
	long pid;

	(void)state;
	assert_int_equal(oneshot_run(answer_pid, "pid", 64, &out, &len, &err), BARGE_OK);
	assert_int_equal(len, strlen(out));
	assert_int_equal(sscanf(out, "pid %ld", &pid), 1);
	/* Another process did the work, and changed nothing here. */
	assert_true(pid != (long)getpid());
	snprintf(want, sizeof(want), "pid %ld", pid);
	assert_string_equal(out, want);
	assert_int_equal(touched, 0);
	free(out);
}

static int
answer_empty(void *arg, void **out, size_t *len, struct barge_err *err)
{
	(void)arg;
	(void)err;
	*out = NULL;
	*len = 0;
	return BARGE_OK;
}

static void
test_returns_an_empty_result(void **state)
{
	struct barge_err err = { 0 };
	void *out = NULL;
	size_t len = 1;

	(void)state;
	assert_int_equal(oneshot_run(answer_empty, NULL, 0, &out, &len, &err), BARGE_OK);
	assert_int_equal(len, 0);
	assert_non_null(out);
	assert_string_equal(out, "");
	free(out);
}

static int
fail_with(void *arg, void **out, size_t *len, struct barge_err *err)
{
	(void)out;
	(void)len;
	return err_set(err, BARGE_ENOTFOUND, "%s: no such thing", (const char *)arg);
}

static void
test_returns_the_childs_error(void **state)
{
	struct barge_err err = { 0 };
	void *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(oneshot_run(fail_with, "/x/y", 64, &out, &len, &err), BARGE_ENOTFOUND);
	assert_string_equal(err.msg, "/x/y: no such thing");
	assert_null(out);
}

static void
test_refuses_a_result_over_max(void **state)
{
	struct barge_err err = { 0 };
	void *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(oneshot_run(answer_pid, "pid", 4, &out, &len, &err), BARGE_EINTERNAL);
	assert_non_null(strstr(err.msg, "too long"));
	assert_null(out);
}

static int
die(void *arg, void **out, size_t *len, struct barge_err *err)
{
	(void)out;
	(void)len;
	(void)err;
	if (arg != NULL)
		raise(SIGKILL);
	_exit(3);
}

static void
test_reports_a_child_that_dies(void **state)
{
	struct barge_err err = { 0 };
	void *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(oneshot_run(die, NULL, 64, &out, &len, &err), BARGE_EINTERNAL);
	assert_string_equal(err.msg, "helper process gave no answer");
	assert_int_equal(oneshot_run(die, "kill", 64, &out, &len, &err), BARGE_EINTERNAL);
	assert_string_equal(err.msg, "helper process gave no answer");
	assert_null(out);
}

/* Files the child writes are there for the parent (certificates are made this way). */
static int
write_file(void *arg, void **out, size_t *len, struct barge_err *err)
{
	*out = NULL;
	*len = 0;
	return fu_write_atomic(arg, "made\n", 5, 0600, err);
}

static void
test_child_writes_files_for_parent(void **state)
{
	char dir[FX_DIR_MAX], *path, *got = NULL;
	struct barge_err err = { 0 };
	void *out = NULL;
	size_t len = 0;

	(void)state;
	fx_tmpdir(dir, "oneshot");
	path = fu_printf("%s/f", dir);
	assert_non_null(path);
	assert_int_equal(oneshot_run(write_file, path, 0, &out, &len, &err), BARGE_OK);
	free(out);
	assert_int_equal(fu_read_file(path, 100, &got, &len, &err), BARGE_OK);
	assert_string_equal(got, "made\n");
	free(got);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(path);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_returns_the_childs_result),
	cmocka_unit_test(test_returns_an_empty_result),
	cmocka_unit_test(test_returns_the_childs_error),
	cmocka_unit_test(test_refuses_a_result_over_max),
	cmocka_unit_test(test_reports_a_child_that_dies),
	cmocka_unit_test(test_child_writes_files_for_parent),
};

BARGE_TEST_MAIN(tests)
