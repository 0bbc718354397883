#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "isoread.h"
#include "isowrite.h"

#define HELLO BARGE_TEST_DATA "/loader/hello-1.0.0.tar.zst"
#define DELTA BARGE_TEST_DATA "/loader/hello-1.0.1-delta.tar.zst"

struct fixture {
	char dir[FX_DIR_MAX];
	char *a, *b; /* two bundles in dir */
};

static void
copy(const char *from, const char *to)
{
	size_t len;
	char *buf = fx_read(from, &len);

	fx_write(to, buf, len);
	free(buf);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_tmpdir(f->dir, "isowrite");
	f->a = fu_printf("%s/hello-1.0.0.tar.zst", f->dir);
	f->b = fu_printf("%s/hello-1.0.1-delta.tar.zst", f->dir);
	copy(HELLO, f->a);
	copy(DELTA, f->b);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f->a);
	free(f->b);
	free(f);
	return 0;
}

/* The whole file name of the image, read back with the loader's reader. */
static char *
read_from_iso(const char *iso, const char *name, size_t *len)
{
	struct isoread_file *f = NULL;
	struct barge_err err;
	char *buf = NULL;
	size_t cap = 0, got;

	*len = 0;
	assert_int_equal(isoread_open(iso, name, &f, &err), BARGE_OK);
	for (;;) {
		if (cap - *len < 65536)
			assert_non_null(buf = realloc(buf, cap += 65536));
		assert_int_equal(isoread_read(f, buf + *len, cap - *len - 1, &got, &err), BARGE_OK);
		if (got == 0)
			break;
		*len += got;
	}
	buf[*len] = '\0';
	isoread_close(f);
	return buf;
}

static void
write_iso(struct fixture *f, const char *iso, const char *base, int64_t mtime)
{
	const char *paths[] = { f->a, f->b };
	struct isowrite_opts o = { .base = base, .mtime = mtime };
	struct isowrite_stats st;
	struct barge_err err;

	err_clear(&err);
	if (isowrite_write(iso, paths, 2, &o, &st, &err) != BARGE_OK)
		fail_msg("isowrite_write: %s", err.msg);
	assert_int_equal(st.nbundles, 2);
}

static void
test_bundles_read_back_with_catalog(void **state)
{
	struct fixture *f = *state;
	char *iso = fu_printf("%s/media.iso", f->dir), *src, *img, *cat, *readme;
	const char *files[] = { f->a, f->b };
	char sha[DIGEST_STR_MAX];
	struct isoread_entry *e = NULL;
	struct barge_err err;
	json_t *root, *arr, *it;
	size_t n, i, slen, ilen, clen, rlen;

	write_iso(f, iso, NULL, 0);
	assert_int_equal(isoread_list(iso, &e, &n, &err), BARGE_OK);
	assert_int_equal(n, 4);
	isoread_list_free(e, n);

	cat = read_from_iso(iso, ISOWRITE_CATALOG, &clen);
	assert_non_null(root = json_loads(cat, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(root, "volume")), "BARGE");
	assert_non_null(arr = json_object_get(root, "bundles"));
	assert_int_equal(json_array_size(arr), 2);
	for (i = 0; i < 2; i++) {
		src = fx_read(files[i], &slen);
		it = json_array_get(arr, i);
		img = read_from_iso(iso, json_string_value(json_object_get(it, "file")), &ilen);
		/* The bundle in the image is the file, byte for byte, as BARGE.JSON says. */
		assert_int_equal(ilen, slen);
		assert_memory_equal(img, src, slen);
		assert_int_equal(digest_buf(DIGEST_SHA256, src, slen, sha, &err), BARGE_OK);
		assert_string_equal(json_string_value(json_object_get(it, "sha256")), sha);
		assert_int_equal(json_integer_value(json_object_get(it, "size")), (json_int_t)slen);
		assert_string_equal(json_string_value(json_object_get(it, "name")), "hello");
		free(img);
		free(src);
	}
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "file")),
	                    "hello-1.0.0.tar.zst");
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "version")),
	                    "1.0.1");
	readme = read_from_iso(iso, ISOWRITE_README, &rlen);
	assert_non_null(strstr(readme, "barged load /dev/sr0"));
	assert_non_null(strstr(readme, "hello-1.0.1-delta.tar.zst"));
	/* The two bundles, the image, and no temporary file left beside it. */
	assert_int_equal(fx_count_entries(f->dir), 3);
	json_decref(root);
	free(readme);
	free(cat);
	free(iso);
}

static void
test_same_inputs_same_bytes(void **state)
{
	struct fixture *f = *state;
	char *x = fu_printf("%s/x.iso", f->dir), *y = fu_printf("%s/y.iso", f->dir);
	char *z = fu_printf("%s/z.iso", f->dir), *bx, *by, *bz;
	size_t lx, ly, lz;

	write_iso(f, x, NULL, 1700000000);
	/* Another inode and mtime for the same content must not matter. */
	unlink(f->a);
	copy(HELLO, f->a);
	write_iso(f, y, NULL, 1700000000);
	write_iso(f, z, NULL, 1700000001);
	bx = fx_read(x, &lx);
	by = fx_read(y, &ly);
	bz = fx_read(z, &lz);
	assert_int_equal(lx, ly);
	assert_memory_equal(bx, by, lx);
	assert_int_equal(lx, lz);
	assert_true(memcmp(bx, bz, lx) != 0);
	free(bx);
	free(by);
	free(bz);
	free(x);
	free(y);
	free(z);
}

static void
test_label_check(void **state)
{
	struct barge_err err;

	(void)state;
	assert_int_equal(isowrite_label_check("BARGE_2026-11.a", &err), BARGE_OK);
	assert_int_equal(isowrite_label_check("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", &err), BARGE_OK);
	assert_int_equal(isowrite_label_check("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", &err),
	                 BARGE_EINVAL);
	assert_int_equal(isowrite_label_check("", &err), BARGE_EINVAL);
	assert_int_equal(isowrite_label_check("two words", &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "only A-Z a-z 0-9"));
	assert_int_equal(isowrite_label_check("a/b", &err), BARGE_EINVAL);
}

static void
expect_refused(struct fixture *f, const char *const *paths, size_t n, int code, const char *msg)
{
	char *iso = fu_printf("%s/refused.iso", f->dir);
	struct isowrite_opts o = { 0 };
	struct isowrite_stats st;
	struct barge_err err;
	int before = fx_count_entries(f->dir);

	err_clear(&err);
	assert_int_equal(isowrite_write(iso, paths, n, &o, &st, &err), code);
	if (strstr(err.msg, msg) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err.msg, msg);
	/* No image and no temporary file. */
	assert_int_equal(fx_count_entries(f->dir), before);
	free(iso);
}

static void
test_refuses_what_is_not_a_bundle(void **state)
{
	struct fixture *f = *state;
	char *junk = fu_printf("%s/junk.tar.zst", f->dir), *tgz = fu_printf("%s/x.tgz", f->dir);
	char *sub = fu_printf("%s/sub", f->dir),
	     *dup = fu_printf("%s/sub/hello-1.0.0.tar.zst", f->dir);
	const char *p1[] = { junk }, *p2[] = { tgz }, *p3[] = { f->a, dup };
	const char *p4[] = { "/nonexistent/a.tar.zst" };
	struct barge_err err;

	assert_int_equal(fu_write_atomic(junk, "not zstd at all", 15, 0644, &err), BARGE_OK);
	copy(HELLO, tgz);
	assert_int_equal(mkdir(sub, 0755), 0);
	copy(HELLO, dup);
	expect_refused(f, p1, 1, BARGE_EFORMAT, "junk.tar.zst");
	expect_refused(f, p2, 1, BARGE_EINVAL, "ends in .tar.zst");
	expect_refused(f, p3, 2, BARGE_EINVAL, "two bundles named hello-1.0.0.tar.zst");
	expect_refused(f, p4, 1, BARGE_EIO, "/nonexistent/a.tar.zst");
	expect_refused(f, p1, 0, BARGE_EINVAL, "want 1 to");
	free(junk);
	free(tgz);
	free(sub);
	free(dup);
}

/*
 * A bundle of size bytes: a real bundle with zeros after it, which barge iso
 * takes as it is (it reads barge.json only).
 */
static void
grow(const char *path, off_t size)
{
	assert_int_equal(truncate(path, size), 0);
}

static void
test_catalog_is_the_files_digest(void **state)
{
	struct fixture *f = *state;
	char *iso = fu_printf("%s/odd.iso", f->dir), *cat, *img, *src, want[DIGEST_STR_MAX];
	struct barge_err err;
	struct stat st;
	json_t *root;
	size_t clen, ilen, slen;

	/*
	 * Over 3 MiB: more than one read of the file, and an image of an
	 * odd number of 2 KiB blocks (O_DIRECT on a disk of 4 KiB sectors
	 * refuses the last one: it goes through the page cache).
	 */
	grow(f->a, 3 * 1024 * 1024 + 100);
	write_iso(f, iso, NULL, 0);
	assert_int_equal(stat(iso, &st), 0);
	assert_int_equal(st.st_size % 4096, 2048);
	src = fx_read(f->a, &slen);
	assert_int_equal(digest_buf(DIGEST_SHA256, src, slen, want, &err), BARGE_OK);
	cat = read_from_iso(iso, ISOWRITE_CATALOG, &clen);
	assert_non_null(root = json_loads(cat, 0, NULL));
	/* Hashed while libisofs read it: the same digest as hashing the file. */
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(json_object_get(root, "bundles"), 0), "sha256")),
	                    want);
	img = read_from_iso(iso, "hello-1.0.0.tar.zst", &ilen);
	assert_int_equal(ilen, slen);
	assert_memory_equal(img, src, slen);
	json_decref(root);
	free(src);
	free(img);
	free(cat);
	free(iso);
}

/* What the bytes callback does to the bundles when the image is first drained. */
struct change {
	const char *path;
	off_t size;  /* truncate to, when >= 0 */
	int touched; /* after the first call */
};

static void
change_on_first_bytes(void *arg, int64_t done, int64_t total)
{
	struct change *c = arg;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 12345, 0 } };

	(void)done;
	(void)total;
	if (c->touched++)
		return;
	if (c->size >= 0)
		assert_int_equal(truncate(c->path, c->size), 0);
	else
		assert_int_equal(utimensat(AT_FDCWD, c->path, ts, 0), 0);
}

static void
expect_changed(struct fixture *f, const char *change_path, off_t size, const char *msg)
{
	char *iso = fu_printf("%s/changed.iso", f->dir);
	const char *paths[] = { f->a, f->b };
	struct change c = { .path = change_path, .size = size };
	struct isowrite_opts o = { .bytes = change_on_first_bytes, .progress_arg = &c };
	struct isowrite_stats st;
	struct barge_err err;
	int before = fx_count_entries(f->dir);

	err_clear(&err);
	assert_int_equal(isowrite_write(iso, paths, 2, &o, &st, &err), BARGE_EIO);
	if (strstr(err.msg, msg) == NULL || strstr(err.msg, change_path) == NULL)
		fail_msg("\"%s\" does not say \"%s\" about %s", err.msg, msg, change_path);
	assert_int_equal(c.touched > 0, 1);
	/* No image and no temporary file. */
	assert_int_equal(fx_count_entries(f->dir), before);
	free(iso);
}

/*
 * A bundle that changes while the image is written fails it.  The first
 * bundle is 64 MiB: libisofs' 16 MiB ring buffer holds the writer thread
 * back, so when the first megabyte has been drained, most of the first
 * bundle and all of the second are still to be read.
 */
static void
test_bundle_changed_while_written(void **state)
{
	struct fixture *f = *state;

	grow(f->a, 64 * 1024 * 1024);
	expect_changed(f, f->a, 40 * 1024 * 1024, "it ends after");
	grow(f->a, 64 * 1024 * 1024);
	/* Not yet opened: another mtime is another file. */
	expect_changed(f, f->b, -1, "changed while the image was written");
}

/* A base image made with libarchive's ISO writer holding the named files. */
static void
make_base(const char *path, const char *const *names, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	size_t i;

	assert_non_null(a);
	assert_int_equal(archive_write_set_format_iso9660(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		assert_non_null(e = archive_entry_new());
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 6);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, "hello\n", 6), 6);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void
test_base_keeps_its_files(void **state)
{
	struct fixture *f = *state;
	char *base = fu_printf("%s/base.iso", f->dir), *out = fu_printf("%s/out.iso", f->dir);
	char *clash = fu_printf("%s/clash.iso", f->dir), *text;
	const char *names[] = { "INSTALL.TXT", "isolinux/vmlinuz" }, *clashing[] = { "README.TXT" };
	const char *paths[] = { f->a };
	struct isowrite_opts o = { .base = clash };
	struct isowrite_stats st;
	struct barge_err err;
	size_t len;

	make_base(base, names, 2);
	write_iso(f, out, base, 0);
	text = read_from_iso(out, "isolinux/vmlinuz", &len);
	assert_string_equal(text, "hello\n");
	free(text);
	text = read_from_iso(out, "INSTALL.TXT", &len);
	assert_string_equal(text, "hello\n");
	free(text);
	text = read_from_iso(out, "hello-1.0.1-delta.tar.zst", &len);
	free(text);
	text = read_from_iso(out, ISOWRITE_CATALOG, &len);
	assert_non_null(strstr(text, "hello-1.0.0.tar.zst"));
	free(text);
	/* A base that has a file of the same name: refused, naming it. */
	make_base(clash, clashing, 1);
	free(out);
	out = fu_printf("%s/out2.iso", f->dir);
	assert_int_equal(isowrite_write(out, paths, 1, &o, &st, &err), BARGE_EEXIST);
	assert_non_null(strstr(err.msg, "already has README.TXT"));
	assert_int_equal(access(out, F_OK), -1);
	free(base);
	free(out);
	free(clash);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_bundles_read_back_with_catalog, setup, teardown),
	cmocka_unit_test_setup_teardown(test_same_inputs_same_bytes, setup, teardown),
	cmocka_unit_test(test_label_check),
	cmocka_unit_test_setup_teardown(test_refuses_what_is_not_a_bundle, setup, teardown),
	cmocka_unit_test_setup_teardown(test_base_keeps_its_files, setup, teardown),
	cmocka_unit_test_setup_teardown(test_catalog_is_the_files_digest, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bundle_changed_while_written, setup, teardown),
};

BARGE_TEST_MAIN(tests)
