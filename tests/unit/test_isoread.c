#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "fixture.h"
#include "isoread.h"

struct fixture {
	char dir[FX_DIR_MAX];
	char *iso;
	unsigned char *big; /* a file larger than the reader's blocks */
	size_t big_len;
};

#define BIG_LEN (3 * 1024 * 1024 + 12345)

static void
add_entry(struct archive *a, const char *name, unsigned type, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, "big.bin");
	archive_entry_set_size(e, (la_int64_t)(type == AE_IFREG ? len : 0));
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (type == AE_IFREG && len > 0)
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* media.iso: big.bin, dir/small.txt, an empty file, a directory and a symlink. */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct archive *a;
	uint32_t x = 7;
	size_t i;

	assert_non_null(f);
	fx_tmpdir(f->dir, "isoread");
	f->iso = fu_printf("%s/media.iso", f->dir);
	f->big_len = BIG_LEN;
	assert_non_null(f->big = malloc(f->big_len));
	for (i = 0; i < f->big_len; i++) {
		x = x * 1103515245u + 12345u;
		f->big[i] = (unsigned char)(x >> 16);
	}
	assert_non_null(a = archive_write_new());
	assert_int_equal(archive_write_set_format_iso9660(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, f->iso), ARCHIVE_OK);
	add_entry(a, "big.bin", AE_IFREG, f->big, f->big_len);
	add_entry(a, "dir", AE_IFDIR, NULL, 0);
	add_entry(a, "dir/small.txt", AE_IFREG, "hello\n", 6);
	add_entry(a, "empty", AE_IFREG, NULL, 0);
	add_entry(a, "link", AE_IFLNK, NULL, 0);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f->iso);
	free(f->big);
	free(f);
	return 0;
}

static void
test_probe(void **state)
{
	struct fixture *f = *state;
	struct barge_err err;
	char *other = fu_printf("%s/not.iso", f->dir);
	int is_iso = -1;

	assert_int_equal(isoread_probe(f->iso, &is_iso, &err), BARGE_OK);
	assert_int_equal(is_iso, 1);
	assert_int_equal(fu_write_atomic(other, "CD001", 5, 0644, &err), BARGE_OK);
	assert_int_equal(isoread_probe(other, &is_iso, &err), BARGE_OK);
	assert_int_equal(is_iso, 0);
	assert_int_equal(isoread_probe("/nonexistent.iso", &is_iso, &err), BARGE_ENOTFOUND);
	free(other);
}

static void
test_list_regular_files_only(void **state)
{
	struct fixture *f = *state;
	struct isoread_entry *e = NULL;
	struct barge_err err;
	size_t n = 0, i;
	int seen = 0;

	assert_int_equal(isoread_list(f->iso, &e, &n, &err), BARGE_OK);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		if (strcmp(e[i].name, "big.bin") == 0) {
			assert_int_equal(e[i].size, (int64_t)f->big_len);
			seen |= 1;
		} else if (strcmp(e[i].name, "dir/small.txt") == 0) {
			assert_int_equal(e[i].size, 6);
			seen |= 2;
		} else if (strcmp(e[i].name, "empty") == 0) {
			assert_int_equal(e[i].size, 0);
			seen |= 4;
		} else {
			fail_msg("unexpected file %s", e[i].name);
		}
	}
	assert_int_equal(seen, 7);
	isoread_list_free(e, n);
}

/* Reads a whole file of the image in blocks of block bytes. */
static unsigned char *
read_all(struct fixture *f, const char *name, size_t block, size_t *len)
{
	struct isoread_file *fh = NULL;
	struct barge_err err;
	unsigned char *buf = malloc(f->big_len + block);
	size_t have = 0, got;

	assert_non_null(buf);
	if (isoread_open(f->iso, name, &fh, &err) != BARGE_OK)
		fail_msg("open %s: %s", name, err.msg);
	do {
		assert_true(have + block <= f->big_len + block);
		assert_int_equal(isoread_read(fh, buf + have, block, &got, &err), BARGE_OK);
		have += got;
	} while (got > 0);
	isoread_close(fh);
	*len = have;
	return buf;
}

static void
test_read_bytes_equal(void **state)
{
	struct fixture *f = *state;
	unsigned char *buf;
	size_t len;

	buf = read_all(f, "big.bin", 65536, &len);
	assert_int_equal(len, f->big_len);
	assert_memory_equal(buf, f->big, f->big_len);
	free(buf);
	buf = read_all(f, "dir/small.txt", 4, &len);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "hello\n", 6);
	free(buf);
	buf = read_all(f, "empty", 4096, &len);
	assert_int_equal(len, 0);
	free(buf);
}

static void
test_open_missing_and_not_iso(void **state)
{
	struct fixture *f = *state;
	struct isoread_file *fh = NULL;
	struct isoread_entry *e = NULL;
	struct barge_err err;
	char *junk = fu_printf("%s/junk.iso", f->dir);
	size_t n = 0;

	assert_int_equal(isoread_open(f->iso, "nope.tar.zst", &fh, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nope.tar.zst"));
	assert_null(fh);
	/* A directory or a link is not a file to read. */
	assert_int_equal(isoread_open(f->iso, "dir", &fh, &err), BARGE_ENOTFOUND);
	assert_int_equal(isoread_open(f->iso, "link", &fh, &err), BARGE_ENOTFOUND);
	assert_int_equal(fu_write_atomic(junk, "not an image at all", 19, 0644, &err), BARGE_OK);
	assert_int_equal(isoread_list(junk, &e, &n, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "not a readable ISO 9660 image"));
	assert_int_equal(isoread_open(junk, "big.bin", &fh, &err), BARGE_EFORMAT);
	free(junk);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
	cmocka_unit_test_setup_teardown(test_list_regular_files_only, setup, teardown),
	cmocka_unit_test_setup_teardown(test_read_bytes_equal, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_missing_and_not_iso, setup, teardown),
};

BARGE_TEST_MAIN(tests)
