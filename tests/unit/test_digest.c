#include "test_main.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fileutil.h"
#include "fixture.h"

#define SHA256_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_HEX      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_ABC   "sha256:" ABC_HEX
#define SHA512_ABC                                                                                \
	"sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8" \
	"36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

/* Per-test scratch: a directory and one file in it, removed afterwards. */
struct scratch {
	char dir[FX_DIR_MAX];
	char file[96];
	int fd;
};

static int
setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	fx_tmpdir(s->dir, "digest");
	snprintf(s->file, sizeof(s->file), "%s/blob", s->dir);
	s->fd = open(s->file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(s->fd >= 0);
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct scratch *s = *state;

	close(s->fd);
	fx_rmtree(s->dir);
	free(s);
	return 0;
}

/* The whole content of the scratch file. */
static char *
slurp(struct scratch *s, size_t *len)
{
	struct barge_err e;
	char *buf = NULL;

	assert_int_equal(fu_read_file(s->file, 1 << 20, &buf, len, &e), BARGE_OK);
	return buf;
}

static void
test_known_vectors(void **state)
{
	char out[DIGEST_STR_MAX];
	struct barge_err e;

	assert_int_equal(digest_buf(DIGEST_SHA256, "", 0, out, &e), BARGE_OK);
	assert_string_equal(out, SHA256_EMPTY);
	assert_int_equal(digest_buf(DIGEST_SHA256, "abc", 3, out, &e), BARGE_OK);
	assert_string_equal(out, SHA256_ABC);
	assert_int_equal(digest_buf(DIGEST_SHA512, "abc", 3, out, &e), BARGE_OK);
	assert_string_equal(out, SHA512_ABC);
	assert_int_equal(strlen(out), DIGEST_STR_MAX - 1);
}

static void
test_streaming_equals_one_shot(void **state)
{
	static const size_t chunks[] = { 1, 3, 7, 64, 127, 1000, 4093 };
	enum digest_alg algs[] = { DIGEST_SHA256, DIGEST_SHA512 };
	char whole[DIGEST_STR_MAX], streamed[DIGEST_STR_MAX];
	size_t len = 100003, i, a, off, n;
	struct digest_ctx *c;
	struct barge_err e;
	unsigned char *buf;

	buf = malloc(len);
	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 7));
	for (a = 0; a < 2; a++) {
		assert_int_equal(digest_buf(algs[a], buf, len, whole, &e), BARGE_OK);
		for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
			c = NULL;
			assert_int_equal(digest_new(algs[a], &c, &e), BARGE_OK);
			for (off = 0; off < len; off += n) {
				n = len - off < chunks[i] ? len - off : chunks[i];
				assert_int_equal(digest_update(c, buf + off, n, &e), BARGE_OK);
			}
			assert_int_equal(digest_final(c, streamed, &e), BARGE_OK);
			assert_string_equal(streamed, whole);
			/* The context is spent: updating it now is a bug the caller hears about. */
			assert_int_not_equal(digest_update(c, "x", 1, &e), BARGE_OK);
			digest_free(c);
		}
	}
	free(buf);
}

static void
test_parse(void **state)
{
	enum digest_alg alg;
	const char *hex = NULL;
	struct barge_err e;

	assert_int_equal(digest_parse(SHA256_ABC, &alg, &hex, &e), BARGE_OK);
	assert_int_equal(alg, DIGEST_SHA256);
	assert_string_equal(hex, ABC_HEX);
	assert_int_equal(digest_parse(SHA512_ABC, &alg, &hex, &e), BARGE_OK);
	assert_int_equal(alg, DIGEST_SHA512);
	assert_true(digest_valid(SHA256_EMPTY));

	/* Uppercase hex. */
	assert_int_equal(digest_parse("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410"
	                              "FF61F20015AD",
	                              NULL, NULL, &e),
	                 BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "lowercase hex"));
	/* Too short, and a sha256-length hex under sha512. */
	assert_int_equal(digest_parse("sha256:ba7816bf", NULL, NULL, &e), BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "needs 64 hex digits, got 8"));
	assert_int_equal(digest_parse("sha512:" ABC_HEX, NULL, NULL, &e), BARGE_EINVAL);
	assert_int_equal(digest_parse(SHA256_ABC "0", NULL, NULL, &e), BARGE_EINVAL);
	/* Unknown or missing algorithm. */
	assert_int_equal(digest_parse("md5:900150983cd24fb0d6963f7d28e17f72", NULL, NULL, &e),
	                 BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "unsupported algorithm"));
	assert_non_null(strstr(e.msg, "\"md5:900150983cd24fb0d6963f7d28e17f72\""));
	assert_int_equal(digest_parse("SHA256:" ABC_HEX, NULL, NULL, &e), BARGE_EINVAL);
	assert_int_equal(digest_parse(ABC_HEX, NULL, NULL, &e), BARGE_EINVAL);
	assert_int_equal(digest_parse("", NULL, NULL, &e), BARGE_EINVAL);
	assert_int_equal(digest_parse("sha256:", NULL, NULL, &e), BARGE_EINVAL);
	assert_false(digest_valid(NULL));
	assert_false(digest_valid("sha256:xyz"));
}

static void
test_writer_accepts_right_content(void **state)
{
	struct scratch *s = *state;
	struct digest_writer *w = NULL;
	struct barge_err e;
	size_t len;
	char *got;

	assert_int_equal(digest_writer_new(s->fd, SHA256_ABC, 3, &w, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "a", 1, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "", 0, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "bc", 2, &e), BARGE_OK);
	assert_int_equal(digest_writer_count(w), 3);
	assert_int_equal(digest_writer_finish(w, &e), BARGE_OK);
	digest_writer_free(w);
	got = slurp(s, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(got, "abc", 3);
	free(got);
}

static void
test_writer_unknown_size(void **state)
{
	struct scratch *s = *state;
	struct digest_writer *w = NULL;
	struct barge_err e;

	assert_int_equal(digest_writer_new(s->fd, SHA512_ABC, -1, &w, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "ab", 2, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "c", 1, &e), BARGE_OK);
	assert_int_equal(digest_writer_finish(w, &e), BARGE_OK);
	digest_writer_free(w);
}

static void
test_writer_rejects_wrong_digest(void **state)
{
	struct scratch *s = *state;
	struct digest_writer *w = NULL;
	struct barge_err e;
	size_t len;
	char *got;

	assert_int_equal(digest_writer_new(s->fd, SHA256_EMPTY, 3, &w, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "abc", 3, &e), BARGE_OK);
	assert_int_equal(digest_writer_finish(w, &e), BARGE_EDIGEST);
	assert_non_null(strstr(e.msg, "expected " SHA256_EMPTY));
	assert_non_null(strstr(e.msg, "got " SHA256_ABC));
	digest_writer_free(w);
	/* The writer does not own the file: the content is there for the caller to remove. */
	got = slurp(s, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(got, "abc", 3);
	free(got);
}

static void
test_writer_rejects_oversize_at_once(void **state)
{
	struct scratch *s = *state;
	struct digest_writer *w = NULL;
	struct barge_err e;
	struct stat st;

	assert_int_equal(digest_writer_new(s->fd, SHA256_ABC, 3, &w, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "ab", 2, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "cd", 2, &e), BARGE_EDIGEST);
	assert_non_null(strstr(e.msg, "longer than the expected 3 bytes"));
	/* Nothing past the expected size reached the file. */
	assert_int_equal(fstat(s->fd, &st), 0);
	assert_int_equal(st.st_size, 2);
	assert_int_equal(digest_writer_count(w), 2);
	/* A failed writer stays failed. */
	assert_int_not_equal(digest_writer_write(w, "c", 1, &e), BARGE_OK);
	assert_int_not_equal(digest_writer_finish(w, &e), BARGE_OK);
	digest_writer_free(w);
}

static void
test_writer_rejects_short_content(void **state)
{
	struct scratch *s = *state;
	struct digest_writer *w = NULL;
	struct barge_err e;

	assert_int_equal(digest_writer_new(s->fd, SHA256_ABC, 3, &w, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "ab", 2, &e), BARGE_OK);
	assert_int_equal(digest_writer_finish(w, &e), BARGE_EDIGEST);
	assert_non_null(strstr(e.msg, "expected 3 bytes, got 2"));
	assert_non_null(strstr(e.msg, SHA256_ABC));
	digest_writer_free(w);
}

static void
test_writer_rejects_bad_expectation(void **state)
{
	struct scratch *s = *state;
	struct digest_writer *w = NULL;
	struct barge_err e;

	assert_int_equal(digest_writer_new(s->fd, "sha256:abc", 3, &w, &e), BARGE_EINVAL);
	assert_null(w);
	assert_non_null(strstr(e.msg, "\"sha256:abc\""));
}

static void
test_writer_write_error(void **state)
{
	struct digest_writer *w = NULL;
	struct barge_err e;
	int fd;

	/* A read-only descriptor makes write(2) fail: the error is EIO, not a digest one. */
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(digest_writer_new(fd, SHA256_ABC, 3, &w, &e), BARGE_OK);
	assert_int_equal(digest_writer_write(w, "abc", 3, &e), BARGE_EIO);
	digest_writer_free(w);
	close(fd);
}

/* A whole file, in either algorithm, named by the digest it should have; fd's offset stays. */
static void
test_fd_whole(void **state)
{
	struct scratch *s = *state;
	char out[DIGEST_STR_MAX];
	struct barge_err e;

	assert_int_equal(digest_fd(s->fd, SHA256_ABC, s->file, out, &e), BARGE_OK);
	assert_string_equal(out, SHA256_EMPTY);
	assert_int_equal(write(s->fd, "abc", 3), 3);
	assert_int_equal(digest_fd(s->fd, SHA256_EMPTY, s->file, out, &e), BARGE_OK);
	assert_string_equal(out, SHA256_ABC);
	assert_int_equal(digest_fd(s->fd, SHA512_ABC, s->file, out, &e), BARGE_OK);
	assert_string_equal(out, SHA512_ABC);
	assert_int_equal(lseek(s->fd, 0, SEEK_CUR), 3);
}

/* Larger than one read: the same digest as the buffer's, whole and as a prefix. */
static void
test_fd_large_and_prefix(void **state)
{
	struct scratch *s = *state;
	char want[DIGEST_STR_MAX], got[DIGEST_STR_MAX];
	size_t len = 1000003, i;
	struct digest_ctx *c = NULL;
	struct barge_err e;
	unsigned char *buf;

	assert_non_null(buf = malloc(len));
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 9));
	assert_int_equal(write(s->fd, buf, len), (ssize_t)len);
	assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, want, &e), BARGE_OK);
	assert_int_equal(digest_fd(s->fd, SHA256_EMPTY, s->file, got, &e), BARGE_OK);
	assert_string_equal(got, want);
	/* A prefix, then more bytes fed by hand: how a resumed download goes on. */
	assert_int_equal(digest_buf(DIGEST_SHA512, buf, 300001, want, &e), BARGE_OK);
	assert_int_equal(digest_new(DIGEST_SHA512, &c, &e), BARGE_OK);
	assert_int_equal(digest_update_fd(c, s->fd, 300000, s->file, &e), BARGE_OK);
	assert_int_equal(digest_update(c, buf + 300000, 1, &e), BARGE_OK);
	assert_int_equal(digest_final(c, got, &e), BARGE_OK);
	assert_string_equal(got, want);
	digest_free(c);
	free(buf);
}

static void
test_fd_refuses(void **state)
{
	struct scratch *s = *state;
	char out[DIGEST_STR_MAX];
	struct digest_ctx *c = NULL;
	struct barge_err e;
	int dfd;

	assert_int_equal(write(s->fd, "abc", 3), 3);
	/* Fewer bytes than asked for: the file is named with what was wanted. */
	assert_int_equal(digest_new(DIGEST_SHA256, &c, &e), BARGE_OK);
	assert_int_equal(digest_update_fd(c, s->fd, 10, s->file, &e), BARGE_EIO);
	assert_non_null(strstr(e.msg, s->file));
	assert_non_null(strstr(e.msg, "shorter than 10 bytes"));
	digest_free(c);
	/* Not a digest to take the algorithm from. */
	assert_int_equal(digest_fd(s->fd, "md5:abc", s->file, out, &e), BARGE_EINVAL);
	assert_int_equal(digest_fd(s->fd, "abc", s->file, out, &e), BARGE_EINVAL);
	/* A read that fails (a directory) is an I/O error naming the file. */
	dfd = open(s->dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(digest_fd(dfd, SHA256_EMPTY, "the dir", out, &e), BARGE_EIO);
	assert_non_null(strstr(e.msg, "read the dir"));
	close(dfd);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_known_vectors),
	cmocka_unit_test(test_streaming_equals_one_shot),
	cmocka_unit_test(test_parse),
	cmocka_unit_test_setup_teardown(test_writer_accepts_right_content, setup, teardown),
	cmocka_unit_test_setup_teardown(test_writer_unknown_size, setup, teardown),
	cmocka_unit_test_setup_teardown(test_writer_rejects_wrong_digest, setup, teardown),
	cmocka_unit_test_setup_teardown(test_writer_rejects_oversize_at_once, setup, teardown),
	cmocka_unit_test_setup_teardown(test_writer_rejects_short_content, setup, teardown),
	cmocka_unit_test_setup_teardown(test_writer_rejects_bad_expectation, setup, teardown),
	cmocka_unit_test(test_writer_write_error),
	cmocka_unit_test_setup_teardown(test_fd_whole, setup, teardown),
	cmocka_unit_test_setup_teardown(test_fd_large_and_prefix, setup, teardown),
	cmocka_unit_test_setup_teardown(test_fd_refuses, setup, teardown),
};

BARGE_TEST_MAIN(tests)
