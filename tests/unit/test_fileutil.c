#include "test_main.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "fixture.h"

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

static void
test_out_publish(void **state)
{
	struct barge_err err = { 0 };
	char dir[FX_DIR_MAX], *path, *tmp = NULL, *buf = NULL;
	size_t len;
	struct stat st;
	int fd = -1, round;

	(void)state;
	fx_tmpdir(dir, "fileutil");
	path = fu_printf("%s/out", dir);
	/* The first round creates out, the second replaces it. */
	for (round = 0; round < 2; round++) {
		assert_int_equal(fu_out_create(path, 0640, &fd, &tmp, &err), BARGE_OK);
		assert_null(tmp);
		assert_int_equal(fu_write_all(fd, round ? "second" : "first", round ? 6 : 5, &err),
		                 BARGE_OK);
		/* Nothing new has a name before it is published. */
		assert_int_equal(fx_count_entries(dir), round);
		assert_int_equal(fsync(fd), 0);
		assert_int_equal(fu_out_publish(fd, &tmp, path, &err), BARGE_OK);
		assert_null(tmp);
		close(fd);
		assert_int_equal(fx_count_entries(dir), 1);
	}
	assert_int_equal(fu_read_file(path, 64, &buf, &len, &err), BARGE_OK);
	assert_string_equal(buf, "second");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	free(buf);
	/* A file created and never published leaves nothing. */
	assert_int_equal(fu_out_create(path, 0644, &fd, &tmp, &err), BARGE_OK);
	close(fd);
	assert_int_equal(fx_count_entries(dir), 1);
	assert_int_equal(fu_out_create("/nonexistent-dir/x", 0644, &fd, &tmp, &err), BARGE_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x.tmp-"));
	fx_rmtree(dir);
	free(path);
}

/* A secret is freed whole (ASan would see a bad free), and NULL is nothing to free. */
static void
test_free_secret(void **state)
{
	char *s = strdup("hunter2");

	assert_non_null(s);
	fu_free_secret(s);
	fu_free_secret(NULL);
}

/* A scratch file reads back what was written and leaves no name in its directory. */
static void
test_scratch(void **state)
{
	char dir[FX_DIR_MAX], buf[16] = { 0 };
	FILE *f = NULL;

	(void)state;
	fx_tmpdir(dir, "scratch");
	assert_int_equal(fu_scratch(dir, &f, NULL), BARGE_OK);
	assert_int_equal(fputs("spooled", f) >= 0, 1);
	rewind(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_string_equal(buf, "spooled");
	assert_int_equal(fx_count_entries(dir), 0);
	fclose(f);
	assert_int_not_equal(fu_scratch("/nonexistent-barge-dir", &f, NULL), BARGE_OK);
	fx_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_read_exact),  cmocka_unit_test(test_write_all),
	cmocka_unit_test(test_out_publish), cmocka_unit_test(test_free_secret),
	cmocka_unit_test(test_scratch),
};

BARGE_TEST_MAIN(tests)
