#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileutil.h"
#include "fixture.h"
#include "isoread.h"

/* ASan's shadow memory needs far more address space than the limit below. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

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

/* A small image (64 KB, unpadded): one file, and Joliet beside the primary volume. */
static char *
small_iso(struct fixture *f, const char *name)
{
	char *path = fu_printf("%s/%s", f->dir, name);
	struct archive *a;

	assert_non_null(a = archive_write_new());
	assert_int_equal(archive_write_set_format_iso9660(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_options(a, "iso9660:!pad"), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	add_entry(a, "b-1.0.tar.zst", AE_IFREG, "hello\n", 6);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

/*
 * Writes a field of the descriptor at sector: little-endian, then (unless
 * le_only) big-endian, as ECMA-119 7.2.3 and 7.3.3 store both.
 */
static void
patch_field(const char *path, int sector, int offset, uint32_t v, int width, int le_only)
{
	unsigned char b[8];
	int fd, i, len = le_only ? width : 2 * width;

	assert_true(width > 0 && width <= 4 && len <= (int)sizeof(b));
	for (i = 0; i < width; i++) {
		b[i] = (unsigned char)(v >> (8 * i));
		if (!le_only)
			b[2 * width - 1 - i] = (unsigned char)(v >> (8 * i));
	}
	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, b, (size_t)len, (off_t)sector * 2048 + offset), len);
	close(fd);
}

static void
patch_both(const char *path, int sector, int offset, uint32_t v, int width)
{
	patch_field(path, sector, offset, v, width, 0);
}

static unsigned char
sector_type(const char *path, int sector)
{
	unsigned char t = 0;
	int fd;

	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(pread(fd, &t, 1, (off_t)sector * 2048), 1);
	close(fd);
	return t;
}

/*
 * Lists the image in a child whose address space is limited to 256 MiB, so
 * that an allocation driven by the image fails there instead of succeeding
 * by overcommit; returns the listing's code and message.  (Under ASan,
 * without the limit.)
 */
static int
list_bounded(const char *path, char *msg, size_t cap)
{
	struct isoread_entry *e = NULL;
	struct barge_err err;
	struct rlimit rl = { 256u << 20, 256u << 20 };
	int p[2], status, rc;
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(p[0]);
#ifndef UNDER_ASAN
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(3);
#else
		(void)rl;
#endif
		err_clear(&err);
		rc = isoread_list(path, &e, &n, &err);
		if (rc == BARGE_OK)
			isoread_list_free(e, n);
		if (write(p[1], &rc, sizeof(rc)) != (ssize_t)sizeof(rc) ||
		    write(p[1], err.msg, strlen(err.msg) + 1) < 0)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &rc, sizeof(rc)), (ssize_t)sizeof(rc));
	got = read(p[0], msg, cap - 1);
	msg[got > 0 ? got : 0] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return rc;
}

/*
 * A root directory record whose data length is 0xfffffffa made libarchive
 * allocate 4 GiB for a 64 KB image.  The volume descriptors are checked
 * against the image first: the load fails cleanly, naming the field, in
 * bounded memory.
 */
static void
test_refuses_oversized_root_directory(void **state)
{
	struct fixture *f = *state;
	char msg[BARGE_ERR_MSG_MAX], *want;
	const char *kind[2] = { "primary", "supplementary" };
	struct stat st;
	int sector;

	for (sector = 16; sector <= 17; sector++) {
		char *iso = small_iso(f, "crafted.iso");

		assert_int_equal(stat(iso, &st), 0);
		assert_true(st.st_size <= 64 * 1024);
		assert_int_equal(sector_type(iso, sector), sector - 15);
		/* The root directory record is at 156 in the descriptor; its data length at 10. */
		patch_both(iso, sector, 156 + 10, 0xfffffffau, 4);
		assert_int_equal(list_bounded(iso, msg, sizeof(msg)), BARGE_EFORMAT);
		want = fu_printf("%s: %s volume descriptor: root directory (block ", iso,
		                 kind[sector - 16]);
		assert_non_null(strstr(msg, want));
		assert_non_null(strstr(msg, ", 4294967290 bytes) lies outside the volume ("));
		free(want);
		free(iso);
	}
}

/* The other sizes of the descriptors, each against the image. */
static void
test_refuses_bad_volume_descriptors(void **state)
{
	static const struct {
		int sector, offset, width, le_only;
		uint32_t value;
		const char *msg;
	} cases[] = {
		{ 16, 128, 2, 0, 4096,
		  "primary volume descriptor: logical block size 4096, 2048 expected" },
		{ 17, 128, 2, 0, 512,
		  "supplementary volume descriptor: logical block size 512, 2048 expected" },
		{ 16, 80, 4, 0, 0x7fffffffu,
		  "primary volume descriptor: volume space size of 2147483647 blocks "
		  "(4398046509056 bytes) is larger than the image (" },
		{ 16, 80, 4, 1, 30,
		  "primary volume descriptor: volume space size: its little- and big-endian "
		  "values differ" },
		{ 16, 156 + 2, 4, 0, 0x00fffff0u,
		  "primary volume descriptor: root directory (block 16777200, 2048 bytes) lies "
		  "outside the volume (" },
		{ 16, 132, 4, 0, 0x40000000u,
		  "primary volume descriptor: path table size 1073741824 bytes, more than " },
		{ 17, 140, 4, 1, 0x3000,
		  "supplementary volume descriptor: type L path table (block 12288, " },
	};
	struct fixture *f = *state;
	struct isoread_entry *e = NULL;
	struct isoread_file *fh = NULL;
	struct barge_err err;
	char *iso, *want;
	size_t i, n = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		iso = small_iso(f, "crafted.iso");
		patch_field(iso, cases[i].sector, cases[i].offset, cases[i].value, cases[i].width,
		            cases[i].le_only);
		want = fu_printf("%s: %s", iso, cases[i].msg);
		assert_int_equal(isoread_list(iso, &e, &n, &err), BARGE_EFORMAT);
		if (strncmp(err.msg, want, strlen(want)) != 0)
			fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, err.msg, want);
		assert_int_equal(isoread_open(iso, "b-1.0.tar.zst", &fh, &err), BARGE_EFORMAT);
		assert_null(fh);
		free(want);
		free(iso);
	}
	/* Cut short: the volume is larger than what is left of the image. */
	iso = small_iso(f, "cut.iso");
	assert_int_equal(truncate(iso, 31 * 2048), 0);
	assert_int_equal(isoread_list(iso, &e, &n, &err), BARGE_EFORMAT);
	want = fu_printf("%s: primary volume descriptor: volume space size of ", iso);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, "is larger than the image (63488 bytes)"));
	free(want);
	free(iso);
	/* The untouched small image lists. */
	iso = small_iso(f, "good.iso");
	assert_int_equal(isoread_list(iso, &e, &n, &err), BARGE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].name, "b-1.0.tar.zst");
	isoread_list_free(e, n);
	free(iso);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
	cmocka_unit_test_setup_teardown(test_list_regular_files_only, setup, teardown),
	cmocka_unit_test_setup_teardown(test_read_bytes_equal, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_missing_and_not_iso, setup, teardown),
	cmocka_unit_test_setup_teardown(test_refuses_oversized_root_directory, setup, teardown),
	cmocka_unit_test_setup_teardown(test_refuses_bad_volume_descriptors, setup, teardown),
};

BARGE_TEST_MAIN(tests)
