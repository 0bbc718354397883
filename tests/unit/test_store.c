#include "test_main.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fileutil.h"
#include "mediatype.h"
#include "store.h"

struct fixture {
	char dir[64];
	struct store *s;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int nfiles;

static int
count_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F)
		nfiles++;
	return 0;
}

/* Regular files under dir/sub. */
static int
count_files(const char *dir, const char *sub)
{
	char *p = fu_printf("%s/%s", dir, sub);

	assert_non_null(p);
	nfiles = 0;
	assert_int_equal(nftw(p, count_entry, 16, FTW_PHYS), 0);
	free(p);
	return nfiles;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct barge_err err;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
sha256(const void *buf, size_t len, char *out)
{
	struct barge_err err;

	assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, out, &err), BARGE_OK);
}

/* Stores buf as a blob in two writes and returns its digest in out. */
static void
put_blob(struct store *s, const char *buf, char *out)
{
	struct store_blob_writer *w = NULL;
	struct barge_err err;
	size_t len = strlen(buf);

	sha256(buf, len, out);
	assert_int_equal(store_blob_begin(s, out, (int64_t)len, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, buf, len / 2, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, buf + len / 2, len - len / 2, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
}

static void
assert_blob_bytes(struct store *s, const char *digest, const char *want)
{
	struct barge_err err;
	char buf[4096];
	int64_t size;
	ssize_t n;
	int fd;

	assert_int_equal(store_blob_open(s, digest, &fd, &size, &err), BARGE_OK);
	assert_int_equal(size, (int64_t)strlen(want));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
}

static void
test_open_creates_layout(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *p;

	p = fu_printf("%s/blobs/sha256", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(p);
	p = fu_printf("%s/tmp", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(p);
	p = fu_printf("%s/barge.db", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	free(p);
	/* WAL mode leaves its -wal file beside the database while open. */
	p = fu_printf("%s/barge.db-wal", f->dir);
	assert_int_equal(stat(p, &st), 0);
	free(p);
	assert_string_equal(store_dir(f->s), f->dir);
}

static void
test_blob_roundtrip(void **state)
{
	struct fixture *f = *state;
	const char *data = "hello, content-addressed world\n";
	char d[DIGEST_STR_MAX];
	struct stat st;
	char *p;

	put_blob(f->s, data, d);
	assert_true(store_blob_exists(f->s, d));
	assert_blob_bytes(f->s, d, data);
	p = fu_printf("%s/blobs/sha256/%.2s/%s", f->dir, d + 7, d + 7);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	free(p);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void
test_blob_wrong_digest(void **state)
{
	struct fixture *f = *state;
	struct store_blob_writer *w = NULL;
	char d[DIGEST_STR_MAX];
	struct barge_err err;

	sha256("expected", 8, d);
	assert_int_equal(store_blob_begin(f->s, d, 8, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "tampered", 8, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, d));
	assert_false(store_blob_exists(f->s, d));
	assert_int_equal(count_files(f->dir, "blobs"), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void
test_blob_wrong_size(void **state)
{
	struct fixture *f = *state;
	struct store_blob_writer *w = NULL;
	char d[DIGEST_STR_MAX];
	struct barge_err err;

	sha256("abc", 3, d);
	assert_int_equal(store_blob_begin(f->s, d, 4, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "abc", 3, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_EDIGEST);
	assert_false(store_blob_exists(f->s, d));
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void
test_blob_abort(void **state)
{
	struct fixture *f = *state;
	struct store_blob_writer *w = NULL;
	char d[DIGEST_STR_MAX];
	struct barge_err err;

	sha256("partial", 7, d);
	assert_int_equal(store_blob_begin(f->s, d, 7, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "part", 4, &err), BARGE_OK);
	assert_int_equal(count_files(f->dir, "tmp"), 1);
	store_blob_abort(w);
	store_blob_abort(NULL);
	assert_false(store_blob_exists(f->s, d));
	assert_int_equal(count_files(f->dir, "blobs"), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void
test_blob_commit_twice(void **state)
{
	struct fixture *f = *state;
	char d1[DIGEST_STR_MAX], d2[DIGEST_STR_MAX];

	put_blob(f->s, "same bytes", d1);
	put_blob(f->s, "same bytes", d2);
	assert_string_equal(d1, d2);
	assert_blob_bytes(f->s, d1, "same bytes");
	assert_int_equal(count_files(f->dir, "blobs"), 1);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void
test_blob_open_missing(void **state)
{
	struct fixture *f = *state;
	char d[DIGEST_STR_MAX];
	struct barge_err err;
	int64_t size;
	int fd;

	sha256("never stored", 12, d);
	assert_int_equal(store_blob_open(f->s, d, &fd, &size, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, d));
}

static void
test_manifest_tag_ref(void **state)
{
	struct fixture *f = *state;
	char m1[DIGEST_STR_MAX], m2[DIGEST_STR_MAX], layer[DIGEST_STR_MAX];
	struct store_manifest got;
	struct barge_err err;
	const char *repo = "edge/docker.io/library/nginx";

	put_blob(f->s, "{\"manifest\":1}", m1);
	put_blob(f->s, "{\"manifest\":2}", m2);
	put_blob(f->s, "layer bytes", layer);
	assert_false(store_repo_exists(f->s, repo));
	assert_int_equal(store_begin(f->s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, repo, m1, "application/x-one", 14, &err),
	                 BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, repo, m2, "application/x-two", 14, &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(f->s, m1, layer, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, m1, layer, &err), BARGE_OK);
	assert_int_equal(store_put_tag(f->s, repo, "1.25", m1, &err), BARGE_OK);
	assert_int_equal(store_commit(f->s, &err), BARGE_OK);
	assert_true(store_repo_exists(f->s, repo));

	assert_int_equal(store_get_manifest(f->s, repo, "1.25", &got, &err), BARGE_OK);
	assert_string_equal(got.digest, m1);
	assert_string_equal(got.media_type, "application/x-one");
	assert_int_equal(got.size, 14);
	assert_int_equal(store_get_manifest(f->s, repo, m2, &got, &err), BARGE_OK);
	assert_string_equal(got.media_type, "application/x-two");
	assert_int_equal(store_get_manifest(f->s, repo, "latest", &got, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_get_manifest(f->s, "edge/other", m1, &got, &err), BARGE_ENOTFOUND);

	/* Retagging moves the tag. */
	assert_int_equal(store_put_tag(f->s, repo, "1.25", m2, &err), BARGE_OK);
	assert_int_equal(store_get_manifest(f->s, repo, "1.25", &got, &err), BARGE_OK);
	assert_string_equal(got.digest, m2);
	assert_int_equal(store_repo_has_blob(f->s, repo, layer, &err), BARGE_OK);
	assert_int_equal(store_repo_has_blob(f->s, repo, m2, &err), BARGE_OK);
}

static void
test_put_rejects_dangling(void **state)
{
	struct fixture *f = *state;
	char m[DIGEST_STR_MAX], absent[DIGEST_STR_MAX];
	struct barge_err err;

	put_blob(f->s, "{}", m);
	sha256("absent", 6, absent);
	assert_int_equal(store_put_manifest(f->s, "edge/a", absent, "x", 6, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, absent));
	assert_int_equal(store_put_manifest(f->s, "edge/a", m, "x", 2, &err), BARGE_OK);
	/* A tag can only name a manifest its own repository holds. */
	assert_int_equal(store_put_tag(f->s, "edge/b", "v1", m, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_put_tag(f->s, "edge/a", "bad tag", m, &err), BARGE_EINVAL);
	assert_int_equal(store_put_manifest(f->s, "Edge/UPPER", m, "x", 2, &err), BARGE_EINVAL);
}

static void
test_repo_has_blob_through_index(void **state)
{
	struct fixture *f = *state;
	char idx[DIGEST_STR_MAX], man[DIGEST_STR_MAX], cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX],
	        other[DIGEST_STR_MAX];
	struct barge_err err;

	put_blob(f->s, "{\"index\":true}", idx);
	put_blob(f->s, "{\"manifest\":true}", man);
	put_blob(f->s, "{\"config\":true}", cfg);
	put_blob(f->s, "layer", layer);
	put_blob(f->s, "unrelated", other);
	assert_int_equal(store_begin(f->s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, "edge/app", idx, "i", 14, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, "edge/else", other, "m", 9, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, idx, man, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, man, cfg, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, man, layer, &err), BARGE_OK);
	assert_int_equal(store_commit(f->s, &err), BARGE_OK);

	assert_int_equal(store_repo_has_blob(f->s, "edge/app", idx, &err), BARGE_OK);
	assert_int_equal(store_repo_has_blob(f->s, "edge/app", man, &err), BARGE_OK);
	assert_int_equal(store_repo_has_blob(f->s, "edge/app", cfg, &err), BARGE_OK);
	assert_int_equal(store_repo_has_blob(f->s, "edge/app", layer, &err), BARGE_OK);
	assert_int_equal(store_repo_has_blob(f->s, "edge/app", other, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_repo_has_blob(f->s, "edge/else", layer, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_repo_has_blob(f->s, "edge/none", layer, &err), BARGE_ENOTFOUND);
}

struct tag_list {
	char got[8][32];
	int n;
	int stop_after;
};

static int
collect_tag(const char *tag, void *arg)
{
	struct tag_list *l = arg;

	assert_true(l->n < 8);
	snprintf(l->got[l->n++], sizeof(l->got[0]), "%s", tag);
	return l->stop_after > 0 && l->n >= l->stop_after;
}

static void
test_list_tags(void **state)
{
	struct fixture *f = *state;
	static const char *const tags[] = { "b", "a", "c", "10", "2", "B" };
	char m[DIGEST_STR_MAX];
	struct tag_list l;
	struct barge_err err;
	size_t i;

	put_blob(f->s, "{\"tagged\":1}", m);
	assert_int_equal(store_put_manifest(f->s, "edge/t", m, "x", 12, &err), BARGE_OK);
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		assert_int_equal(store_put_tag(f->s, "edge/t", tags[i], m, &err), BARGE_OK);

	memset(&l, 0, sizeof(l));
	assert_int_equal(store_list_tags(f->s, "edge/t", NULL, 0, collect_tag, &l, &err), BARGE_OK);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.got[0], "10");
	assert_string_equal(l.got[1], "2");
	assert_string_equal(l.got[2], "B");
	assert_string_equal(l.got[3], "a");
	assert_string_equal(l.got[4], "b");
	assert_string_equal(l.got[5], "c");

	memset(&l, 0, sizeof(l));
	assert_int_equal(store_list_tags(f->s, "edge/t", "B", 2, collect_tag, &l, &err), BARGE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.got[0], "a");
	assert_string_equal(l.got[1], "b");

	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	assert_int_equal(store_list_tags(f->s, "edge/t", NULL, 0, collect_tag, &l, &err), BARGE_OK);
	assert_int_equal(l.n, 1);

	memset(&l, 0, sizeof(l));
	assert_int_equal(store_list_tags(f->s, "edge/none", NULL, 0, collect_tag, &l, &err),
	                 BARGE_OK);
	assert_int_equal(l.n, 0);
}

static void
test_rollback_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char m[DIGEST_STR_MAX], layer[DIGEST_STR_MAX];
	struct store_manifest got;
	struct barge_err err;
	int64_t id;

	put_blob(f->s, "{\"rolled\":1}", m);
	put_blob(f->s, "rolled layer", layer);
	assert_int_equal(store_begin(f->s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, "edge/r", m, "x", 12, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, m, layer, &err), BARGE_OK);
	assert_int_equal(store_put_tag(f->s, "edge/r", "v1", m, &err), BARGE_OK);
	assert_int_equal(store_put_bundle(f->s, "demo", "1.0.0", m, &id, &err), BARGE_OK);
	assert_int_equal(store_put_bundle_image(f->s, id, "edge/r", m, &err), BARGE_OK);
	store_rollback(f->s);
	store_rollback(f->s);

	assert_false(store_repo_exists(f->s, "edge/r"));
	assert_int_equal(store_get_manifest(f->s, "edge/r", "v1", &got, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_get_manifest(f->s, "edge/r", m, &got, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_repo_has_blob(f->s, "edge/r", layer, &err), BARGE_ENOTFOUND);
	/* The blobs stay: orphans are for GC, never a reason to fail. */
	assert_true(store_blob_exists(f->s, m));
}

static void
test_bad_digest_rejected(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"sha256:../../x",
		"sha256:../../../etc/passwd",
		"sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"",
	};
	struct store_blob_writer *w = NULL;
	struct store_manifest got;
	struct barge_err err;
	int64_t size;
	size_t i;
	int fd = -1;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(store_blob_begin(f->s, bad[i], 1, &w, &err), BARGE_OK);
		assert_null(w);
		assert_false(store_blob_exists(f->s, bad[i]));
		assert_int_not_equal(store_blob_open(f->s, bad[i], &fd, &size, &err), BARGE_OK);
		assert_int_equal(fd, -1);
		assert_int_not_equal(store_put_ref(f->s, bad[i], bad[i], &err), BARGE_OK);
		assert_int_not_equal(store_repo_has_blob(f->s, "edge/a", bad[i], &err), BARGE_OK);
	}
	assert_int_equal(store_get_manifest(f->s, "edge/a", "sha256:../../x", &got, &err),
	                 BARGE_EINVAL);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void
test_stale_tmp_cleaned(void **state)
{
	struct fixture *f = *state;
	struct store_blob_writer *w = NULL;
	struct store *other = NULL;
	char d[DIGEST_STR_MAX];
	struct barge_err err;
	char *stale;
	int fd;

	/* What a crashed writer leaves: a temp file nobody holds. */
	stale = fu_printf("%s/tmp/blob-crashed", f->dir);
	fd = open(stale, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);

	/* A live writer of this handle must survive another handle's open. */
	sha256("live", 4, d);
	assert_int_equal(store_blob_begin(f->s, d, 4, &w, &err), BARGE_OK);
	assert_int_equal(count_files(f->dir, "tmp"), 2);
	assert_int_equal(store_open(f->dir, &other, &err), BARGE_OK);
	assert_int_not_equal(access(stale, F_OK), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 1);
	assert_int_equal(store_blob_write(w, "live", 4, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
	assert_true(store_blob_exists(other, d));
	store_close(other);
	free(stale);
}

static void
test_reopen_persists(void **state)
{
	struct fixture *f = *state;
	char m[DIGEST_STR_MAX], layer[DIGEST_STR_MAX];
	struct store_manifest got;
	struct barge_err err;
	int64_t id = 0;

	put_blob(f->s, "{\"persist\":1}", m);
	put_blob(f->s, "persisted layer", layer);
	assert_int_equal(store_begin(f->s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, "edge/p", m, MT_OCI_MANIFEST, 13, &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(f->s, m, layer, &err), BARGE_OK);
	assert_int_equal(store_put_tag(f->s, "edge/p", "stable", m, &err), BARGE_OK);
	assert_int_equal(store_put_bundle(f->s, "demo", "1.0.0", m, &id, &err), BARGE_OK);
	assert_true(id > 0);
	assert_int_equal(store_put_bundle_image(f->s, id, "edge/p", m, &err), BARGE_OK);
	assert_int_equal(store_commit(f->s, &err), BARGE_OK);
	store_close(f->s);
	f->s = NULL;

	assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
	assert_int_equal(store_get_manifest(f->s, "edge/p", "stable", &got, &err), BARGE_OK);
	assert_string_equal(got.digest, m);
	assert_string_equal(got.media_type, MT_OCI_MANIFEST);
	assert_int_equal(store_repo_has_blob(f->s, "edge/p", layer, &err), BARGE_OK);
	assert_blob_bytes(f->s, layer, "persisted layer");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_open_creates_layout, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_roundtrip, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_wrong_digest, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_wrong_size, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_abort, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_commit_twice, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_open_missing, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifest_tag_ref, setup, teardown),
	cmocka_unit_test_setup_teardown(test_put_rejects_dangling, setup, teardown),
	cmocka_unit_test_setup_teardown(test_repo_has_blob_through_index, setup, teardown),
	cmocka_unit_test_setup_teardown(test_list_tags, setup, teardown),
	cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_digest_rejected, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stale_tmp_cleaned, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reopen_persists, setup, teardown),
};

BARGE_TEST_MAIN(tests)
