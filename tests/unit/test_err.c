#include "test_main.h"

#include <errno.h>
#include <string.h>

#include "err.h"

static void
test_set_and_prefix(void **state)
{
	struct barge_err e;

	err_clear(&e);
	assert_int_equal(err_set(&e, BARGE_EDIGEST, "blob %s", "sha256:ab"), BARGE_EDIGEST);
	assert_int_equal(err_prefix(&e, "loading %s", "x.tar.zst"), BARGE_EDIGEST);
	assert_string_equal(e.msg, "loading x.tar.zst: blob sha256:ab");
	assert_int_equal(e.code, BARGE_EDIGEST);
}

static void
test_sys_appends_strerror(void **state)
{
	struct barge_err e;

	assert_int_equal(err_sys(&e, BARGE_EIO, ENOENT, "open %s", "f"), BARGE_EIO);
	assert_string_equal(e.msg, "open f: No such file or directory");
}

static void
test_null_err_is_allowed(void **state)
{
	assert_int_equal(err_set(NULL, BARGE_EINVAL, "x"), BARGE_EINVAL);
	err_clear(NULL);
}

static void
test_long_message_is_truncated(void **state)
{
	struct barge_err e;
	char big[4000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(&e, BARGE_EINVAL, "%s", big);
	assert_int_equal(strlen(e.msg), BARGE_ERR_MSG_MAX - 1);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_set_and_prefix),
	cmocka_unit_test(test_sys_appends_strerror),
	cmocka_unit_test(test_null_err_is_allowed),
	cmocka_unit_test(test_long_message_is_truncated),
};

BARGE_TEST_MAIN(tests)
