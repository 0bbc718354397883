#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "bundle.h"
#include "bundle_write.h"
#include "fileutil.h"
#include "fixture.h"

#define MiB (1024 * 1024)

/* Deterministic pseudo-random bytes, so that compression has real work. */
static void
fill_bytes(unsigned char *p, size_t n, unsigned seed)
{
	uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(i % 7 == 0 ? 'a' : x);
	}
}

/*
 * The sample bundle: barge.json, an empty entry, a 3 MiB blob streamed from a
 * file, and a small blob.
 */
static const char meta_json[] = "{\"schemaVersion\":1}";
static const char *big_name =
        "blobs/sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void
build_sample(const char *dir, const char *out, int threads, unsigned char *big, size_t bigsz)
{
	struct bundle_writer_opts o = { .level = 3, .threads = threads, .mtime = 1700000000 };
	struct bundle_writer *w = NULL;
	struct barge_err e;
	char *src = fx_path(dir, "big.src");
	int fd;

	fx_write(src, big, bigsz);
	assert_int_equal(bundle_writer_open(out, &o, &w, &e), BARGE_OK);
	assert_int_equal(bundle_writer_add_buf(w, "barge.json", meta_json, strlen(meta_json), &e),
	                 BARGE_OK);
	assert_int_equal(bundle_writer_add_buf(w, "oci-layout", "", 0, &e), BARGE_OK);
	assert_true((fd = open(src, O_RDONLY)) >= 0);
	assert_int_equal(bundle_writer_add_fd(w, big_name, fd, (int64_t)bigsz, &e), BARGE_OK);
	close(fd);
	assert_int_equal(bundle_writer_add_buf(w, "blobs/sha256/small", "hello", 5, &e), BARGE_OK);
	assert_int_equal(bundle_writer_close(w, &e), BARGE_OK);
	bundle_writer_free(w);
	unlink(src);
	free(src);
}

static void
test_roundtrip(void **state)
{
	struct bundle_reader *r = NULL;
	struct barge_err e;
	unsigned char *big, *back;
	size_t bigsz = 3 * MiB + 123, have, got, len;
	const char *name;
	int64_t size;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "demo-1.0.tar.zst"), *buf = NULL;

	assert_non_null(big = malloc(bigsz));
	assert_non_null(back = malloc(bigsz));
	fill_bytes(big, bigsz, 1);
	build_sample(dir, out, 2, big, bigsz);
	/* Only the bundle is left: the temp sibling was renamed into place. */
	assert_int_equal(fx_count_entries(dir), 1);

	assert_int_equal(bundle_reader_open(out, &r, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, "barge.json");
	assert_int_equal(size, strlen(meta_json));
	assert_int_equal(bundle_reader_slurp(r, BUNDLE_META_MAX, &buf, &len, &e), BARGE_OK);
	assert_int_equal(len, strlen(meta_json));
	assert_string_equal(buf, meta_json);
	free(buf);

	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, "oci-layout");
	assert_int_equal(size, 0);
	assert_int_equal(bundle_reader_read(r, back, 10, &got, &e), BARGE_OK);
	assert_int_equal(got, 0);

	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, big_name);
	assert_int_equal(size, bigsz);
	/* Odd-sized reads, to cross libarchive's and our block boundaries. */
	for (have = 0;; have += got) {
		assert_int_equal(bundle_reader_read(r, back + have,
		                                    bigsz - have < 77777 ? bigsz - have + 1 : 77777,
		                                    &got, &e),
		                 BARGE_OK);
		if (got == 0)
			break;
	}
	assert_int_equal(have, bigsz);
	assert_memory_equal(back, big, bigsz);

	/* The small entry is skipped unread; the reader still ends cleanly. */
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, "blobs/sha256/small");
	assert_int_equal(size, 5);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BUNDLE_EOF);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BUNDLE_EOF);
	bundle_reader_free(r);

	free(big);
	free(back);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

/* A source handing out a file in small odd pieces, counting its closes. */
struct trickle {
	int fd;
	int closes;
	int fail_at; /* fail the read after this many bytes; -1 never */
	size_t sent;
};

static int
trickle_read(void *arg, void *buf, size_t cap, size_t *got, struct barge_err *err)
{
	struct trickle *t = arg;
	ssize_t n;

	if (t->fail_at >= 0 && t->sent >= (size_t)t->fail_at)
		return err_set(err, BARGE_EIO, "read part 2: medium error");
	n = read(t->fd, buf, cap < 4093 ? cap : 4093);
	assert_true(n >= 0);
	t->sent += (size_t)n;
	*got = (size_t)n;
	return BARGE_OK;
}

static void
trickle_close(void *arg)
{
	struct trickle *t = arg;

	close(t->fd);
	t->closes++;
}

static void
test_reader_from_source(void **state)
{
	struct bundle_reader *r = NULL;
	struct trickle t = { .fail_at = -1 };
	struct bundle_source src = { trickle_read, trickle_close, &t };
	struct barge_err e;
	unsigned char *big, *back;
	size_t bigsz = 2 * MiB + 5, have, got;
	const char *name;
	int64_t size;
	struct stat st;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "s.tar.zst");
	int rc;

	assert_non_null(big = malloc(bigsz));
	assert_non_null(back = malloc(bigsz + 1));
	fill_bytes(big, bigsz, 3);
	build_sample(dir, out, 1, big, bigsz);
	assert_int_equal(stat(out, &st), 0);

	assert_true((t.fd = open(out, O_RDONLY)) >= 0);
	assert_int_equal(bundle_reader_open_source(&src, "trickle", &r, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, big_name);
	for (have = 0;; have += got) {
		assert_int_equal(bundle_reader_read(r, back + have, bigsz + 1 - have, &got, &e),
		                 BARGE_OK);
		if (got == 0)
			break;
	}
	assert_int_equal(have, bigsz);
	assert_memory_equal(back, big, bigsz);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BUNDLE_EOF);
	/* Every compressed byte was consumed, and counted. */
	assert_int_equal(bundle_reader_bytes_in(r), (int64_t)st.st_size);
	assert_int_equal(t.closes, 0);
	bundle_reader_free(r);
	assert_int_equal(t.closes, 1);

	/* The source's error reaches the caller, named. */
	memset(&t, 0, sizeof(t));
	t.fail_at = 1024 * 1024;
	assert_true((t.fd = open(out, O_RDONLY)) >= 0);
	assert_int_equal(bundle_reader_open_source(&src, "trickle", &r, &e), BARGE_OK);
	err_clear(&e);
	for (rc = BARGE_OK; rc == BARGE_OK;) {
		if ((rc = bundle_reader_next(r, &name, &size, &e)) != BARGE_OK)
			break;
		do
			rc = bundle_reader_read(r, back, bigsz, &got, &e);
		while (rc == BARGE_OK && got > 0);
	}
	assert_int_equal(e.code, BARGE_EIO);
	assert_non_null(strstr(e.msg, "trickle"));
	assert_non_null(strstr(e.msg, "medium error"));
	bundle_reader_free(r);
	assert_int_equal(t.closes, 1);

	/* A source failing at once: the open fails and still closes the source. */
	memset(&t, 0, sizeof(t));
	t.fail_at = 0;
	assert_true((t.fd = open(out, O_RDONLY)) >= 0);
	assert_int_equal(bundle_reader_open_source(&src, "trickle", &r, &e), BARGE_EIO);
	assert_int_equal(t.closes, 1);

	free(big);
	free(back);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

/* read_block hands out an entry's bytes in place, in order. */
static void
test_read_block(void **state)
{
	struct bundle_reader *r = NULL;
	struct barge_err e;
	unsigned char *big, *back;
	size_t bigsz = 3 * MiB + 77, have = 0, got;
	const void *block;
	const char *name;
	int64_t size;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "b.tar.zst");

	assert_non_null(big = malloc(bigsz));
	assert_non_null(back = malloc(bigsz));
	fill_bytes(big, bigsz, 5);
	build_sample(dir, out, 1, big, bigsz);
	assert_int_equal(bundle_reader_open(out, &r, &e), BARGE_OK);
	do
		assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	while (strcmp(name, big_name) != 0);
	for (;;) {
		assert_int_equal(bundle_reader_read_block(r, &block, &got, &e), BARGE_OK);
		if (got == 0)
			break;
		assert_true(have + got <= bigsz);
		memcpy(back + have, block, got);
		have += got;
	}
	assert_int_equal(have, bigsz);
	assert_memory_equal(back, big, bigsz);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, "blobs/sha256/small");
	assert_int_equal(bundle_reader_read_block(r, &block, &got, &e), BARGE_OK);
	assert_int_equal(got, 5);
	assert_memory_equal(block, "hello", 5);
	assert_int_equal(bundle_reader_read_block(r, &block, &got, &e), BARGE_OK);
	assert_int_equal(got, 0);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BUNDLE_EOF);
	bundle_reader_free(r);
	free(big);
	free(back);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

/* Other tools read the bundle: zstd frames with checksums, a pax/ustar tar inside. */
static void
test_interop_with_zstd_and_tar(void **state)
{
	unsigned char *big;
	size_t bigsz = 100000, len;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "b.tar.zst"), *cmd, *listing;

	assert_non_null(big = malloc(bigsz));
	fill_bytes(big, bigsz, 2);
	build_sample(dir, out, 1, big, bigsz);
	cmd = fu_printf(
	        "cd %s && export TZ=UTC && zstd -lv b.tar.zst 2>&1 | grep -q 'Check: XXH64' && "
	        "zstd -dc b.tar.zst | tar -tvf - > list.txt",
	        dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	cmd = fx_path(dir, "list.txt");
	listing = fx_read(cmd, &len);
	assert_non_null(strstr(listing, "-rw-r--r-- 0/0          100000 2023-11-14 22:13 "
	                                "blobs/sha256/0123456789abcdef"));
	assert_non_null(strstr(listing, "barge.json\n"));
	free(listing);
	free(cmd);
	free(big);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static void
test_reproducible_bytes(void **state)
{
	unsigned char *big;
	size_t bigsz = 2 * MiB + 5, l1, l2;
	char *dir = fx_tmpdir_new("bundle"), *a = fx_path(dir, "a.tar.zst"),
	     *b = fx_path(dir, "b.tar.zst");
	char *ba, *bb;

	assert_non_null(big = malloc(bigsz));
	fill_bytes(big, bigsz, 3);
	/* Different worker counts must not change a byte. */
	build_sample(dir, a, 1, big, bigsz);
	sleep(1);
	build_sample(dir, b, 2, big, bigsz);
	ba = fx_read(a, &l1);
	bb = fx_read(b, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(ba, bb, l1);
	free(ba);
	free(bb);
	free(big);
	free(a);
	free(b);
	fx_rmtree(dir);
	free(dir);
}

static void
test_free_without_close_removes_temp(void **state)
{
	struct bundle_writer_opts o = { 0 };
	struct bundle_writer *w = NULL;
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "x.tar.zst");

	assert_int_equal(bundle_writer_open(out, &o, &w, &e), BARGE_OK);
	/* /tmp has unnamed files: a bundle being written has no name at all. */
	assert_int_equal(fx_count_entries(dir), 0);
	assert_int_equal(bundle_writer_add_buf(w, "barge.json", "{}", 2, &e), BARGE_OK);
	bundle_writer_free(w);
	assert_int_equal(fx_count_entries(dir), 0);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static void
test_add_fd_short_input_fails(void **state)
{
	struct bundle_writer_opts o = { 0 };
	struct bundle_writer *w = NULL;
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "x.tar.zst"),
	     *src = fx_path(dir, "src");
	int fd;

	fx_write(src, "0123456789", 10);
	assert_int_equal(bundle_writer_open(out, &o, &w, &e), BARGE_OK);
	assert_true((fd = open(src, O_RDONLY)) >= 0);
	assert_int_equal(bundle_writer_add_fd(w, "blobs/sha256/a", fd, 11, &e), BARGE_EIO);
	assert_string_equal(e.msg, "entry \"blobs/sha256/a\": input ended after 10 of 11 bytes");
	close(fd);
	/* The archive is unusable now: close refuses, free removes the temp file. */
	assert_int_not_equal(bundle_writer_close(w, &e), BARGE_OK);
	bundle_writer_free(w);
	unlink(src);
	assert_int_equal(fx_count_entries(dir), 0);
	free(src);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static void
test_writer_rejects_bad_names(void **state)
{
	static const char *bad[] = {
		"../x", "/etc/x", "a/../../b", "a//b", "./a", "a/", "", "a\\b"
	};
	struct bundle_writer_opts o = { 0 };
	struct bundle_writer *w = NULL;
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "x.tar.zst");
	size_t i;

	assert_int_equal(bundle_writer_open(out, &o, &w, &e), BARGE_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bundle_writer_add_buf(w, bad[i], "x", 1, &e), BARGE_EINVAL);
	bundle_writer_free(w);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static void
test_writer_replaces_output_on_close(void **state)
{
	struct bundle_writer_opts o = { 0 };
	struct bundle_writer *w = NULL;
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "x.tar.zst");
	struct stat st;

	fx_write(out, "old", 3);
	assert_int_equal(bundle_writer_open(out, &o, &w, &e), BARGE_OK);
	assert_int_equal(bundle_writer_add_buf(w, "barge.json", "{}", 2, &e), BARGE_OK);
	/* Until the close, the old file is there, whole, and nothing else. */
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(fx_count_entries(dir), 1);
	assert_int_equal(bundle_writer_close(w, &e), BARGE_OK);
	bundle_writer_free(w);
	assert_int_equal(stat(out, &st), 0);
	assert_true(st.st_size > 3);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(fx_count_entries(dir), 1);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

/* Hand-made archives, written with libarchive directly. */
struct evil {
	const char *name;
	unsigned type; /* AE_IF* */
	const char *link;
	int hard;
};

/* A growing byte buffer, for hand-made tars and zstd streams. */
struct bytes {
	unsigned char *p;
	size_t len;
};

static void
bytes_add(struct bytes *b, const void *p, size_t n)
{
	assert_non_null(b->p = realloc(b->p, b->len + n + 1));
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

/*
 * Appends one zstd frame holding p[0..n), with or without its content
 * checksum (libarchive's zstd filter cannot write one, hence libzstd).
 */
static void
zstd_frame(struct bytes *out, const void *p, size_t n, int checksum)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n), z;
	unsigned char *buf = malloc(cap);

	assert_non_null(c);
	assert_non_null(buf);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum)));
	z = ZSTD_compress2(c, buf, cap, p, n);
	assert_false(ZSTD_isError(z));
	bytes_add(out, buf, z);
	free(buf);
	ZSTD_freeCCtx(c);
}

static void
write_frames(const char *path, const struct bytes *z)
{
	fx_write(path, z->p, z->len);
}

static void
write_evil(const char *path, const struct evil *ents, size_t n, int gnu)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	struct bytes tar = { NULL, 0 }, z = { NULL, 0 };
	size_t i, cap = 1 << 20;

	assert_non_null(a);
	assert_non_null(tar.p = malloc(cap));
	assert_int_equal(gnu ? archive_write_set_format_gnutar(a)
	                     : archive_write_set_format_pax_restricted(a),
	                 ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, tar.p, cap, &tar.len), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i].name);
		archive_entry_set_filetype(e, ents[i].type);
		archive_entry_set_perm(e, 0644);
		if (ents[i].link != NULL && ents[i].hard)
			archive_entry_set_hardlink(e, ents[i].link);
		else if (ents[i].link != NULL)
			archive_entry_set_symlink(e, ents[i].link);
		archive_entry_set_size(e, ents[i].type == AE_IFREG && ents[i].link == NULL ? 3 : 0);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (ents[i].type == AE_IFREG && ents[i].link == NULL)
			assert_int_equal(archive_write_data(a, "abc", 3), 3);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	zstd_frame(&z, tar.p, tar.len, 1);
	write_frames(path, &z);
	free(z.p);
	free(tar.p);
}

/* Reads entries until the first error; returns it with its message in e. */
static int
read_all(const char *path, struct barge_err *e)
{
	struct bundle_reader *r = NULL;
	const char *name;
	int64_t size;
	char *buf;
	int rc;

	if ((rc = bundle_reader_open(path, &r, e)) != BARGE_OK)
		return rc;
	while ((rc = bundle_reader_next(r, &name, &size, e)) == BARGE_OK) {
		if ((rc = bundle_reader_slurp(r, 64 * MiB, &buf, NULL, e)) != BARGE_OK)
			break;
		free(buf);
	}
	bundle_reader_free(r);
	return rc == BUNDLE_EOF ? BARGE_OK : rc;
}

static void
expect_evil(const struct evil *ents, size_t n, int gnu, const char *msg)
{
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "evil.tar.zst"), *want;

	write_evil(out, ents, n, gnu);
	assert_int_equal(read_all(out, &e), BARGE_EFORMAT);
	want = fu_printf("%s: %s", out, msg);
	assert_string_equal(e.msg, want);
	free(want);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static void
test_reader_rejects_traversal(void **state)
{
	struct evil ok = { "barge.json", AE_IFREG, NULL, 0 };
	struct evil ents[2];

	ents[0] = ok;
	ents[1] = (struct evil){ "../x", AE_IFREG, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"../x\": \"..\" path component");
	ents[1] = (struct evil){ "/etc/x", AE_IFREG, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"/etc/x\": absolute path");
	ents[1] = (struct evil){ "a/../../b", AE_IFREG, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"a/../../b\": \"..\" path component");
	ents[1] = (struct evil){ "a/./b", AE_IFREG, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"a/./b\": \".\" path component");
	ents[1] = (struct evil){ "a\\b", AE_IFREG, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"a\\b\": backslash in name");
	ents[1] = (struct evil){ "a\nb", AE_IFREG, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"a?b\": control character in name");
}

static void
test_reader_rejects_long_name(void **state)
{
	char name[BUNDLE_NAME_MAX + 2];
	struct evil ent = { name, AE_IFREG, NULL, 0 };
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "evil.tar.zst");

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	name[100] = '/';

	write_evil(out, &ent, 1, 0);
	assert_int_equal(read_all(out, &e), BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, "name too long"));
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static void
test_reader_rejects_links_and_dirs(void **state)
{
	struct evil ents[2] = { { "barge.json", AE_IFREG, NULL, 0 } };

	ents[1] = (struct evil){ "blobs/x", AE_IFLNK, "/etc/passwd", 0 };
	expect_evil(ents, 2, 0,
	            "entry \"blobs/x\": symbolic link not allowed (only regular files)");
	ents[1] = (struct evil){ "blobs/y", AE_IFREG, "barge.json", 1 };
	expect_evil(ents, 2, 0, "entry \"blobs/y\": hard link not allowed (only regular files)");
	ents[1] = (struct evil){ "blobs", AE_IFDIR, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"blobs/\": directory not allowed (only regular files)");
	ents[1] = (struct evil){ "dev", AE_IFCHR, NULL, 0 };
	expect_evil(ents, 2, 0, "entry \"dev\": device not allowed (only regular files)");
}

static void
test_reader_rejects_gnu_tar(void **state)
{
	struct evil ent = { "barge.json", AE_IFREG, NULL, 0 };

	expect_evil(&ent, 1, 1, "GNU tar format archive, pax or ustar tar expected");
}

static void
test_reader_rejects_non_bundles(void **state)
{
	struct barge_err e;
	unsigned char junk[4096];
	char *dir = fx_tmpdir_new("bundle"), *f = fx_path(dir, "x.bin"), *want, *cmd;

	want = fu_printf("%s: not a barge bundle (zstd-compressed tar expected)", f);
	fill_bytes(junk, sizeof(junk), 4);
	fx_write(f, junk, sizeof(junk));
	assert_int_equal(read_all(f, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, want);

	fx_write(f, "", 0);
	assert_int_equal(read_all(f, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, want);

	fx_write(f, "\x28\xb5", 2);
	assert_int_equal(read_all(f, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, want);

	/* A gzip'd tar and a plain tar are not bundles either. */
	cmd = fu_printf("cd %s && echo hi > a && tar -cf plain.tar a && gzip -c plain.tar > x.bin",
	                dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(read_all(f, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, want);
	free(f);
	free(want);
	f = fx_path(dir, "plain.tar");
	want = fu_printf("%s: not a barge bundle (zstd-compressed tar expected)", f);
	assert_int_equal(read_all(f, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, want);
	free(want);
	free(f);

	/* zstd, but not a tar inside. */
	cmd = fu_printf("cd %s && head -c 5000 /dev/zero | tr '\\0' 'x' | zstd -q -c > notar.zst",
	                dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	f = fx_path(dir, "notar.zst");
	want = fu_printf("%s: not a barge bundle (zstd-compressed tar expected)", f);
	assert_int_equal(read_all(f, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, want);
	free(want);
	free(f);
	fx_rmtree(dir);
	free(dir);
}

static void
test_reader_missing_file(void **state)
{
	struct bundle_reader *r = NULL;
	struct barge_err e;

	assert_int_equal(bundle_reader_open("/nonexistent/b.tar.zst", &r, &e), BARGE_ENOTFOUND);
	assert_string_equal(e.msg, "open /nonexistent/b.tar.zst: No such file or directory");
	assert_null(r);
}

/* Writes the first n bytes of a sample bundle (or all of it, one byte changed). */
static char *
damaged_sample(const char *dir, long cut, long flip_from_end)
{
	unsigned char *big;
	size_t bigsz = 3 * MiB, len;
	char *good = fx_path(dir, "good.tar.zst"), *bad = fx_path(dir, "bad.tar.zst"), *b;

	assert_non_null(big = malloc(bigsz));
	fill_bytes(big, bigsz, 5);
	build_sample(dir, good, 1, big, bigsz);
	b = fx_read(good, &len);
	if (cut >= 0)
		len = (size_t)cut;
	if (flip_from_end > 0)
		b[len - (size_t)flip_from_end] ^= 0x01;
	fx_write(bad, b, len);
	free(b);
	free(big);
	free(good);
	return bad;
}

static void
test_reader_truncated_mid_entry(void **state)
{
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *bad = damaged_sample(dir, 1500000, 0), *want;

	assert_int_equal(read_all(bad, &e), BARGE_EFORMAT);
	want = fu_printf("%s: entry \"%s\": truncated (zstd stream ends early)", bad, big_name);
	assert_string_equal(e.msg, want);
	free(want);
	free(bad);
	fx_rmtree(dir);
	free(dir);
}

static void
test_reader_truncated_at_end(void **state)
{
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *bad, *want;
	size_t len;
	char *good;

	/* Cutting only the last bytes (the frame checksum) must still fail. */
	bad = damaged_sample(dir, -1, 0);
	good = fx_read(bad, &len);
	free(good);
	free(bad);
	bad = damaged_sample(dir, (long)len - 2, 0);
	assert_int_equal(read_all(bad, &e), BARGE_EFORMAT);
	want = fu_printf(
	        "%s: after entry \"blobs/sha256/small\": truncated (zstd stream ends early)", bad);
	assert_string_equal(e.msg, want);
	free(want);
	free(bad);
	fx_rmtree(dir);
	free(dir);
}

static void
test_reader_checks_frame_checksum(void **state)
{
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *bad = damaged_sample(dir, -1, 1);

	assert_int_equal(read_all(bad, &e), BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, "corrupt zstd stream: Restored data doesn't match checksum"));
	free(bad);
	fx_rmtree(dir);
	free(dir);
}

static void
test_slurp_max_enforced(void **state)
{
	struct bundle_writer_opts o = { 0 };
	struct bundle_writer *w = NULL;
	struct bundle_reader *r = NULL;
	struct barge_err e;
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "x.tar.zst"), *buf = NULL, *want;
	const char *name;
	int64_t size;
	size_t len;

	assert_int_equal(bundle_writer_open(out, &o, &w, &e), BARGE_OK);
	assert_int_equal(bundle_writer_add_buf(w, "barge.json", "0123456789", 10, &e), BARGE_OK);
	assert_int_equal(bundle_writer_close(w, &e), BARGE_OK);
	bundle_writer_free(w);

	assert_int_equal(bundle_reader_open(out, &r, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_int_equal(bundle_reader_slurp(r, 9, &buf, &len, &e), BARGE_ELIMIT);
	assert_null(buf);
	want = fu_printf("%s: entry \"barge.json\": 10 bytes, more than the limit of 9", out);
	assert_string_equal(e.msg, want);
	free(want);
	assert_int_equal(bundle_reader_slurp(r, 10, &buf, &len, &e), BARGE_OK);
	assert_int_equal(len, 10);
	assert_string_equal(buf, "0123456789");
	free(buf);
	bundle_reader_free(r);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static void
test_writer_rejects_bad_opts(void **state)
{
	struct bundle_writer_opts o = { .level = 20 };
	struct bundle_writer *w = NULL;
	struct barge_err e;

	assert_int_equal(bundle_writer_open("/tmp/never.tar.zst", &o, &w, &e), BARGE_EINVAL);
	o.level = 3;
	o.threads = -1;
	assert_int_equal(bundle_writer_open("/tmp/never.tar.zst", &o, &w, &e), BARGE_EINVAL);
	assert_null(w);
	assert_int_equal(access("/tmp/never.tar.zst", F_OK), -1);
}

/*
 * Hand-made tar headers, block by block, for what libarchive's writers never
 * write: any typeflag, base-256 sizes, pax records of our choosing.
 */
static void
tar_header(struct bytes *t, const char *name, char typeflag, size_t size,
           const unsigned char *size256)
{
	unsigned char h[512] = { 0 };
	unsigned sum = 0;
	size_t i;

	assert_true(strlen(name) <= 100);
	memcpy(h, name, strlen(name));
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	if (size256 != NULL)
		memcpy(h + 124, size256, 12);
	else
		for (i = 0; i < 11; i++)
			h[124 + i] = (unsigned char)('0' + ((size >> (3 * (10 - i))) & 7));
	memcpy(h + 136, "15000000000", 12);
	h[156] = (unsigned char)typeflag;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < sizeof(h); i++)
		sum += h[i];
	for (i = 0; i < 6; i++)
		h[148 + i] = (unsigned char)('0' + ((sum >> (3 * (5 - i))) & 7));
	h[154] = '\0';
	bytes_add(t, h, sizeof(h));
}

/* Appends data and the padding to the next 512-byte block. */
static void
tar_data(struct bytes *t, const void *data, size_t n)
{
	static const unsigned char zero[512];

	bytes_add(t, data, n);
	bytes_add(t, zero, (512 - n % 512) % 512);
}

static void
tar_entry(struct bytes *t, const char *name, char typeflag, const char *data)
{
	tar_header(t, name, typeflag, strlen(data), NULL);
	tar_data(t, data, strlen(data));
}

static void
tar_end(struct bytes *t)
{
	static const unsigned char zero[1024];

	bytes_add(t, zero, sizeof(zero));
}

/* Writes t as one zstd frame with its checksum; returns the path, caller frees. */
static char *
write_tar(const char *dir, const struct bytes *t)
{
	struct bytes z = { NULL, 0 };
	char *out = fx_path(dir, "raw.tar.zst");

	zstd_frame(&z, t->p, t->len, 1);
	write_frames(out, &z);
	free(z.p);
	return out;
}

/* Reads the first entry (barge.json, "{}"), then expects the next to fail with msg. */
static void
expect_second_refused(const char *path, const char *msg)
{
	struct bundle_reader *r = NULL;
	struct barge_err e;
	const char *name;
	int64_t size;
	char *buf = NULL, *want;

	assert_int_equal(bundle_reader_open(path, &r, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, "barge.json");
	assert_int_equal(bundle_reader_slurp(r, 64, &buf, NULL, &e), BARGE_OK);
	assert_string_equal(buf, "{}");
	free(buf);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_EFORMAT);
	want = fu_printf("%s: %s", path, msg);
	assert_string_equal(e.msg, want);
	free(want);
	bundle_reader_free(r);
}

/*
 * libarchive reads every typeflag it does not know, and some it does
 * (contiguous, GNU sparse), as a regular file, and takes GNU long names and
 * links and pax global headers as parts of the next entry: each is refused,
 * named with its typeflag, after the entries before it were read.
 */
static void
test_reader_refuses_special_typeflags(void **state)
{
	static const struct {
		char type;
		const char *what;
	} cases[] = {
		{ '7', "contiguous file (typeflag '7')" },
		{ 'S', "GNU sparse file (typeflag 'S')" },
		{ 'K', "GNU long link name (typeflag 'K')" },
		{ 'L', "GNU long name (typeflag 'L')" },
		{ 'g', "pax global header (typeflag 'g')" },
		{ 'V', "GNU volume header (typeflag 'V')" },
		{ 'X', "Solaris extended header (typeflag 'X')" },
		{ 'Q', "unknown entry type (typeflag 'Q')" },
		{ '\x7f', "unknown entry type (typeflag '\\x7f')" },
	};
	char *dir = fx_tmpdir_new("bundle"), *out, *msg;
	struct bytes t;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&t, 0, sizeof(t));
		tar_entry(&t, "barge.json", '0', "{}");
		tar_entry(&t, "blobs/sha256/aaa", cases[i].type, "abc");
		tar_entry(&t, "blobs/sha256/bbb", '0', "def");
		tar_end(&t);
		out = write_tar(dir, &t);
		msg = fu_printf("entry \"blobs/sha256/aaa\": %s not allowed (only regular files)",
		                cases[i].what);
		expect_second_refused(out, msg);
		free(msg);
		free(out);
		free(t.p);
	}
	fx_rmtree(dir);
	free(dir);
}

/*
 * The headers are followed through pax sizes and base-256 sizes: a
 * contiguous file after such entries is still seen, and named by its pax path.
 */
static void
test_reader_follows_pax_and_base256_sizes(void **state)
{
	static const unsigned char size256[12] = { 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x01 };
	static const char pax_size[] = "13 size=5000\n";
	static const char pax_path[] = "45 path=blobs/sha256/named-by-its-pax-header\n";
	unsigned char *big = malloc(5000), small[513];
	struct bundle_reader *r = NULL;
	struct barge_err e;
	const char *name;
	int64_t size;
	char *dir = fx_tmpdir_new("bundle"), *out, *buf = NULL, *want;
	struct bytes t = { NULL, 0 };

	assert_non_null(big);
	fill_bytes(big, 5000, 9);
	fill_bytes(small, sizeof(small), 10);
	tar_entry(&t, "barge.json", '0', "{}");
	/* The ustar size field says 0; the pax record says 5000, and wins. */
	tar_entry(&t, "PaxHeader/big", 'x', pax_size);
	tar_header(&t, "blobs/sha256/big", '0', 0, NULL);
	tar_data(&t, big, 5000);
	tar_header(&t, "blobs/sha256/small", '\0', 0, size256);
	tar_data(&t, small, sizeof(small));
	tar_entry(&t, "PaxHeader/c", 'x', pax_path);
	tar_entry(&t, "blobs/sha256/c", '7', "abc");
	tar_end(&t);
	out = write_tar(dir, &t);

	assert_int_equal(bundle_reader_open(out, &r, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, "blobs/sha256/big");
	assert_int_equal(bundle_reader_slurp(r, 5000, &buf, NULL, &e), BARGE_OK);
	assert_memory_equal(buf, big, 5000);
	free(buf);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_OK);
	assert_string_equal(name, "blobs/sha256/small");
	assert_int_equal(size, sizeof(small));
	assert_int_equal(bundle_reader_slurp(r, sizeof(small), &buf, NULL, &e), BARGE_OK);
	assert_memory_equal(buf, small, sizeof(small));
	free(buf);
	assert_int_equal(bundle_reader_next(r, &name, &size, &e), BARGE_EFORMAT);
	want = fu_printf("%s: entry \"blobs/sha256/named-by-its-pax-header\": contiguous file "
	                 "(typeflag '7') not allowed (only regular files)",
	                 out);
	assert_string_equal(e.msg, want);
	free(want);
	bundle_reader_free(r);
	free(out);
	free(t.p);
	free(big);
	fx_rmtree(dir);
	free(dir);
}

/* pax headers that describe a sparse file, or no regular file at all. */
static void
test_reader_refuses_odd_pax_headers(void **state)
{
	static const struct {
		const char *records;
		char next; /* the typeflag after the pax header; 'E' for the end of the archive */
		const char *msg;
	} cases[] = {
		{ "22 GNU.sparse.major=1\n22 GNU.sparse.minor=0\n", '0',
		  "entry \"blobs/sha256/aaa\": sparse file (pax keyword \"GNU.sparse.major\") not "
		  "allowed (only regular files)" },
		{ "22 SCHILY.realsize=99\n", '0',
		  "entry \"blobs/sha256/aaa\": sparse file (pax keyword \"SCHILY.realsize\") not "
		  "allowed (only regular files)" },
		{ "13 size=12ab\n", '0', "entry \"PaxHeader/a\": malformed pax extended header" },
		{ "12 size=3\n", '0', "entry \"PaxHeader/a\": malformed pax extended header" },
		{ "10 size=3\n", 'x',
		  "entry \"blobs/sha256/aaa\": a pax extended header follows another" },
		{ "10 size=3\n", 'E', "a pax extended header at the end of the archive" },
	};
	char *dir = fx_tmpdir_new("bundle"), *out;
	struct bytes t;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&t, 0, sizeof(t));
		tar_entry(&t, "barge.json", '0', "{}");
		tar_entry(&t, "PaxHeader/a", 'x', cases[i].records);
		if (cases[i].next != 'E')
			tar_entry(&t, "blobs/sha256/aaa", cases[i].next,
			          cases[i].next == 'x' ? "10 size=3\n" : "abc");
		tar_end(&t);
		out = write_tar(dir, &t);
		expect_second_refused(out, cases[i].msg);
		free(out);
		free(t.p);
	}
	fx_rmtree(dir);
	free(dir);
}

/*
 * Every zstd frame carries its content checksum: a frame without one, the
 * first or a later one, or a skippable frame (which has none), is refused.
 */
static void
test_reader_refuses_frames_without_checksum(void **state)
{
	static const unsigned char skippable[12] = {
		0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4
	};
	struct barge_err e;
	struct bytes t = { NULL, 0 }, z = { NULL, 0 };
	char *dir = fx_tmpdir_new("bundle"), *out = fx_path(dir, "f.tar.zst"), *want;

	tar_entry(&t, "barge.json", '0', "{}");
	tar_entry(&t, "blobs/sha256/aaa", '0', "abc");
	tar_end(&t);

	zstd_frame(&z, t.p, t.len, 0);
	write_frames(out, &z);
	assert_int_equal(read_all(out, &e), BARGE_EFORMAT);
	want = fu_printf("%s: zstd frame 1 (at byte 0) has no content checksum, which every "
	                 "frame of a bundle carries",
	                 out);
	assert_string_equal(e.msg, want);
	free(want);

	/* Two frames with their checksums are fine; a second one without is not. */
	z.len = 0;
	zstd_frame(&z, t.p, 1024, 1);
	zstd_frame(&z, t.p + 1024, t.len - 1024, 1);
	write_frames(out, &z);
	assert_int_equal(read_all(out, &e), BARGE_OK);
	z.len = 0;
	zstd_frame(&z, t.p, 1024, 1);
	want = fu_printf("zstd frame 2 (at byte %zu) has no content checksum", z.len);
	zstd_frame(&z, t.p + 1024, t.len - 1024, 0);
	write_frames(out, &z);
	assert_int_equal(read_all(out, &e), BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, want));
	free(want);
	z.len = 0;
	zstd_frame(&z, t.p, 1024, 1);
	want = fu_printf("zstd frame 2 (at byte %zu) has no content checksum", z.len);
	bytes_add(&z, skippable, sizeof(skippable));
	zstd_frame(&z, t.p + 1024, t.len - 1024, 1);
	write_frames(out, &z);
	assert_int_equal(read_all(out, &e), BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, want));
	free(want);

	free(z.p);
	free(t.p);
	free(out);
	fx_rmtree(dir);
	free(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_roundtrip),
	cmocka_unit_test(test_reader_from_source),
	cmocka_unit_test(test_read_block),
	cmocka_unit_test(test_interop_with_zstd_and_tar),
	cmocka_unit_test(test_reproducible_bytes),
	cmocka_unit_test(test_free_without_close_removes_temp),
	cmocka_unit_test(test_add_fd_short_input_fails),
	cmocka_unit_test(test_writer_rejects_bad_names),
	cmocka_unit_test(test_writer_replaces_output_on_close),
	cmocka_unit_test(test_reader_rejects_traversal),
	cmocka_unit_test(test_reader_rejects_long_name),
	cmocka_unit_test(test_reader_rejects_links_and_dirs),
	cmocka_unit_test(test_reader_rejects_gnu_tar),
	cmocka_unit_test(test_reader_rejects_non_bundles),
	cmocka_unit_test(test_reader_missing_file),
	cmocka_unit_test(test_reader_truncated_mid_entry),
	cmocka_unit_test(test_reader_truncated_at_end),
	cmocka_unit_test(test_reader_checks_frame_checksum),
	cmocka_unit_test(test_reader_refuses_special_typeflags),
	cmocka_unit_test(test_reader_follows_pax_and_base256_sizes),
	cmocka_unit_test(test_reader_refuses_odd_pax_headers),
	cmocka_unit_test(test_reader_refuses_frames_without_checksum),
	cmocka_unit_test(test_slurp_max_enforced),
	cmocka_unit_test(test_writer_rejects_bad_opts),
};

BARGE_TEST_MAIN(tests)
