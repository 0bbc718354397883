#include "test_main.h"

#include <string.h>
#include <unistd.h>

#include "fileutil.h"

/* A pipe holding the bytes of s, its write end closed: reads end after them. */
static int
pipe_with(const char *s)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], s, strlen(s)), (ssize_t)strlen(s));
	close(p[1]);
	return p[0];
}

static void
test_read_exact(void **state)
{
	struct barge_err err = { 0 };
	char buf[8] = { 0 };
	int fd;

	(void)state;
	fd = pipe_with("abcdef");
	assert_int_equal(fu_read_exact(fd, buf, 4, &err), BARGE_OK);
	assert_memory_equal(buf, "abcd", 4);
	/* Two bytes left: asking for five fails and says how many were missing. */
	assert_int_equal(fu_read_exact(fd, buf, 5, &err), BARGE_EIO);
	assert_string_equal(err.msg, "read: 3 bytes short of the end");
	close(fd);
	assert_int_equal(fu_read_exact(-1, buf, 1, &err), BARGE_EIO);
	assert_string_equal(err.msg, "read: Bad file descriptor");
}

static void
test_write_all(void **state)
{
	struct barge_err err = { 0 };
	char buf[16] = { 0 };
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fu_write_all(p[1], "hello", 5, &err), BARGE_OK);
	close(p[1]);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	close(p[0]);
	assert_int_equal(fu_write_all(-1, "x", 1, &err), BARGE_EIO);
	assert_string_equal(err.msg, "write: Bad file descriptor");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_read_exact),
	cmocka_unit_test(test_write_all),
};

BARGE_TEST_MAIN(tests)
