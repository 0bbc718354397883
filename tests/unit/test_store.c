#include "test_main.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"
#include "store.h"
#include "store_fixture.h"

/* Regular files under dir/sub. */
static int
count_files(const char *dir, const char *sub)
{
	char *p = fx_path(dir, sub);
	int n = fx_count_files(p);

	free(p);
	return n;
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

/* A blob whose digest the writer learns at the end: placed once, then known as held. */
static void
test_blob_commit_as(void **state)
{
	struct fixture *f = *state;
	struct store_blob_writer *w = NULL;
	char want[DIGEST_STR_MAX], got[DIGEST_STR_MAX];
	struct barge_err err;
	int created = -1, round;

	sha256("a layer named by an id", 22, want);
	for (round = 0; round < 2; round++) {
		assert_int_equal(store_blob_begin_unknown(f->s, DIGEST_SHA256, &w, &err), BARGE_OK);
		assert_int_equal(store_blob_write(w, "a layer ", 8, &err), BARGE_OK);
		assert_int_equal(store_blob_write(w, "named by an id", 14, &err), BARGE_OK);
		assert_int_equal(store_blob_commit_as(w, got, &created, &err), BARGE_OK);
		assert_string_equal(got, want);
		assert_int_equal(created, round == 0);
	}
	assert_blob_bytes(f->s, want, "a layer named by an id");
	assert_int_equal(count_files(f->dir, "blobs"), 1);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

/* verify checks without placing: a wrong blob is refused and left to abort; a right one commits. */
static void
test_blob_verify_then_commit(void **state)
{
	struct fixture *f = *state;
	struct store_blob_writer *w = NULL;
	char d[DIGEST_STR_MAX];
	struct barge_err err;

	sha256("verified", 8, d);
	assert_int_equal(store_blob_begin(f->s, d, 8, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "verifieD", 8, &err), BARGE_OK);
	assert_int_equal(store_blob_verify(w, &err), BARGE_EDIGEST);
	assert_false(store_blob_exists(f->s, d));
	store_blob_abort(w);
	assert_int_equal(store_blob_begin(f->s, d, 8, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "verified", 8, &err), BARGE_OK);
	assert_int_equal(store_blob_verify(w, &err), BARGE_OK);
	/* Checked, not yet placed: only the commit makes it a blob of the store. */
	assert_false(store_blob_exists(f->s, d));
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
	assert_blob_bytes(f->s, d, "verified");
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

/* --- lifecycle: ls, find, rm ---------------------------------------------- */

#define REPO_A "edge/docker.io/library/a"
#define REPO_B "edge/docker.io/library/b"

static const char *const layers_a[] = { "shared layer", "layer only a" };
static const char *const layers_b[] = { "shared layer", "layer only b" };

struct seen_image {
	char repo[128];
	char digest[DIGEST_STR_MAX];
	char tags[128];
	char bundles[128];
	int64_t size, manifest_size;
};

struct seen {
	struct seen_image im[8];
	struct store_bundle b[8];
	int64_t ids[8];
	size_t n;
};

static int
seen_image(const struct store_image *im, void *arg)
{
	struct seen *sn = arg;
	struct seen_image *x = &sn->im[sn->n++];
	size_t i, used = 0;

	assert_true(sn->n <= 8);
	snprintf(x->repo, sizeof(x->repo), "%s", im->repo);
	snprintf(x->digest, sizeof(x->digest), "%s", im->digest);
	for (i = 0; i < im->ntags; i++)
		used += (size_t)snprintf(x->tags + used, sizeof(x->tags) - used, "%s%s",
		                         i ? "," : "", im->tags[i]);
	used = 0;
	for (i = 0; i < im->nbundles; i++)
		used += (size_t)snprintf(x->bundles + used, sizeof(x->bundles) - used, "%s%s:%s",
		                         i ? "," : "", im->bundles[i].name, im->bundles[i].version);
	x->size = im->size;
	x->manifest_size = im->manifest_size;
	return 0;
}

static int
seen_bundle(const struct store_bundle *b, void *arg)
{
	struct seen *sn = arg;

	assert_true(sn->n < 8);
	sn->ids[sn->n] = b->id;
	sn->b[sn->n] = *b;
	/* Strings live only during the call. */
	sn->b[sn->n].name = sn->b[sn->n].version = sn->b[sn->n].digest = NULL;
	sn->n++;
	return 0;
}

/* a in two bundles and tagged 1.0 and latest; b in bundle one only, untagged. */
static void
lifecycle_store(struct fixture *f, struct fx_image *a, struct fx_image *b, int64_t *one,
                int64_t *two)
{
	fx_image_blobs(f->s, "config a", layers_a, 2, a);
	fx_image_blobs(f->s, "config b", layers_b, 2, b);
	fx_begin(f->s);
	*one = fx_bundle(f->s, "demo", "1.0");
	*two = fx_bundle(f->s, "demo", "1.1");
	fx_record(f->s, REPO_A, a, "latest", *one);
	fx_record(f->s, REPO_A, a, "1.0", *two);
	fx_record(f->s, REPO_B, b, NULL, *one);
	fx_commit(f->s);
}

static void
test_ls_images_and_bundles(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	struct barge_err err;
	struct seen sn;
	int64_t one, two;

	lifecycle_store(f, &a, &b, &one, &two);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_list_images(f->s, seen_image, &sn, &err), BARGE_OK);
	assert_int_equal(sn.n, 2);
	assert_string_equal(sn.im[0].repo, REPO_A);
	assert_string_equal(sn.im[0].digest, a.manifest);
	assert_string_equal(sn.im[0].tags, "1.0,latest");
	assert_string_equal(sn.im[0].bundles, "demo:1.0,demo:1.1");
	assert_int_equal(sn.im[0].size, a.bytes);
	assert_int_equal(sn.im[0].manifest_size, a.manifest_size);
	assert_string_equal(sn.im[1].repo, REPO_B);
	assert_string_equal(sn.im[1].tags, "");
	assert_string_equal(sn.im[1].bundles, "demo:1.0");

	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_list_bundles(f->s, seen_bundle, &sn, &err), BARGE_OK);
	assert_int_equal(sn.n, 2);
	assert_int_equal(sn.ids[0], one);
	assert_int_equal(sn.b[0].images, 2);
	/* Distinct bytes: the shared layer counts once. */
	assert_int_equal(sn.b[0].bytes, a.bytes + b.bytes - (int64_t)strlen("shared layer"));
	assert_int_equal(sn.b[1].images, 1);
	assert_int_equal(sn.b[1].bytes, a.bytes);
	assert_true(sn.b[0].loaded_at > 0);
}

/*
 * An index lists as one image whose bytes are its own, its manifests' and
 * their blobs', the layer they share counted once; a plain manifest sharing
 * that layer still counts it.
 */
static void
test_ls_index_bytes(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b, c;
	struct barge_err err;
	struct seen sn;
	char index[DIGEST_STR_MAX], text[512];

	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	fx_image_blobs(f->s, "config b", layers_b, 2, &b);
	fx_image_blobs(f->s, "config c", layers_b, 2, &c);
	snprintf(text, sizeof(text),
	         "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\"},{\"digest\":\"%s\"}]}",
	         a.manifest, b.manifest);
	fx_blob(f->s, text, index);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, NULL, 0);
	fx_record(f->s, REPO_A, &b, NULL, 0);
	assert_int_equal(
	        store_put_manifest(f->s, REPO_A, index, MT_OCI_INDEX, (int64_t)strlen(text), &err),
	        BARGE_OK);
	assert_int_equal(store_put_ref(f->s, index, a.manifest, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, index, b.manifest, &err), BARGE_OK);
	assert_int_equal(store_put_tag(f->s, REPO_A, "multi", index, &err), BARGE_OK);
	fx_record(f->s, REPO_B, &c, "1.0", 0);
	fx_commit(f->s);

	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_list_images(f->s, seen_image, &sn, &err), BARGE_OK);
	assert_int_equal(sn.n, 2);
	assert_string_equal(sn.im[0].digest, index);
	assert_string_equal(sn.im[0].tags, "multi");
	assert_int_equal(sn.im[0].manifest_size, (int64_t)strlen(text));
	assert_int_equal(sn.im[0].size, (int64_t)strlen(text) + a.bytes + b.bytes -
	                                        (int64_t)strlen("shared layer"));
	assert_string_equal(sn.im[1].digest, c.manifest);
	assert_int_equal(sn.im[1].size, c.bytes);
}

/*
 * A store of schema 1 (references without sizes) opens as schema 3, lists
 * its images with their sizes (from the files), and a reference recorded
 * again gets its size.
 */
static void
test_schema1_store_opens(void **state)
{
	struct fixture *f = *state;
	char path[FX_DIR_MAX + 16];
	struct fx_image a;
	struct barge_err err;
	struct seen sn;
	sqlite3 *db = NULL;

	assert_int_equal(fx_db_int(f->dir, "PRAGMA user_version"), 3);
	fx_image_blobs(f->s, "config a", layers_a, 2, &a);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, "1.0", 0);
	fx_commit(f->s);
	assert_int_equal(fx_db_int(f->dir, "SELECT sum(size) FROM refs"),
	                 a.bytes - a.manifest_size);
	store_close(f->s);
	f->s = NULL;
	snprintf(path, sizeof(path), "%s/barge.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "ALTER TABLE refs DROP COLUMN size;"
	                              " ALTER TABLE tags DROP COLUMN origin;"
	                              " ALTER TABLE tags DROP COLUMN fetched_at;"
	                              " ALTER TABLE bundles DROP COLUMN signer;"
	                              " ALTER TABLE bundles DROP COLUMN source;"
	                              " DROP TABLE proxy_manifests; PRAGMA user_version = 1",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
	assert_int_equal(fx_db_int(f->dir, "PRAGMA user_version"), 3);
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM refs WHERE size IS NULL"), 3);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_list_images(f->s, seen_image, &sn, &err), BARGE_OK);
	assert_int_equal(sn.n, 1);
	assert_int_equal(sn.im[0].size, a.bytes);

	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, "1.0", 0);
	fx_commit(f->s);
	assert_int_equal(fx_db_int(f->dir, "SELECT count(*) FROM refs WHERE size IS NULL"), 0);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_list_images(f->s, seen_image, &sn, &err), BARGE_OK);
	assert_int_equal(sn.im[0].size, a.bytes);
}

static size_t
find(struct store *s, const char *sel, int64_t *id)
{
	struct barge_err err;
	struct seen sn;

	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_find_bundles(s, sel, seen_bundle, &sn, &err), BARGE_OK);
	if (sn.n == 1)
		*id = sn.ids[0];
	return sn.n;
}

static void
test_find_bundles(void **state)
{
	struct fixture *f = *state;
	struct fx_image a, b;
	int64_t one, two, id = 0;
	char sel[32];

	lifecycle_store(f, &a, &b, &one, &two);
	assert_int_equal(find(f->s, "demo", &id), 2);
	assert_int_equal(find(f->s, "demo:1.1", &id), 1);
	assert_int_equal(id, two);
	snprintf(sel, sizeof(sel), "%lld", (long long)one);
	assert_int_equal(find(f->s, sel, &id), 1);
	assert_int_equal(id, one);
	assert_int_equal(find(f->s, "demo:2.0", &id), 0);
	assert_int_equal(find(f->s, "", &id), 0);
}

static void
test_rm_bundle(void **state)
{
	struct fixture *f = *state;
	struct store_rm_stats st;
	struct fx_image a, b;
	struct barge_err err;
	struct seen sn;
	int64_t one, two;

	lifecycle_store(f, &a, &b, &one, &two);
	assert_int_equal(store_rm_bundle(f->s, one, 0, &st, &err), BARGE_OK);
	assert_int_equal(st.pins, 2);
	assert_int_equal(st.tags, 0);
	/* Tags stay, and so does every image. */
	assert_true(fx_serves(f->s, REPO_A, "latest"));
	assert_true(fx_serves(f->s, REPO_B, b.manifest));
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_list_images(f->s, seen_image, &sn, &err), BARGE_OK);
	assert_string_equal(sn.im[0].bundles, "demo:1.1");
	assert_string_equal(sn.im[1].bundles, "");
	assert_int_equal(store_rm_bundle(f->s, one, 0, &st, &err), BARGE_ENOTFOUND);
	assert_int_equal(find(f->s, "demo", &one), 1);
}

/* --untag drops the tags of images only this bundle pinned. */
static void
test_rm_bundle_untag(void **state)
{
	struct fixture *f = *state;
	struct store_rm_stats st;
	struct fx_image a, b, c;
	struct barge_err err;
	int64_t one, two;
	static const char *const layers_c[] = { "layer only c" };

	lifecycle_store(f, &a, &b, &one, &two);
	fx_image_blobs(f->s, "config c", layers_c, 1, &c);
	fx_begin(f->s);
	fx_record(f->s, REPO_B, &c, "2.0", one);
	fx_commit(f->s);
	assert_int_equal(store_rm_bundle(f->s, one, 1, &st, &err), BARGE_OK);
	assert_int_equal(st.pins, 3);
	/* c's tag goes; a's tags stay because bundle two pins a too. */
	assert_int_equal(st.tags, 1);
	assert_false(fx_serves(f->s, REPO_B, "2.0"));
	assert_true(fx_serves(f->s, REPO_B, c.manifest));
	assert_true(fx_serves(f->s, REPO_A, "latest"));
	assert_true(fx_serves(f->s, REPO_A, "1.0"));
}

/* --- concurrent readers ----------------------------------------------------- */

#define SWAP_ROUNDS 12
#define READERS     2

struct reader {
	pthread_t t;
	const char *dir;
	volatile int *stop;
	int reads;
	int failures;
	char why[BARGE_ERR_MSG_MAX + 256];
};

/* Hashes what fd holds and compares it with digest. */
static int
fd_matches(int fd, const char *digest)
{
	struct barge_err err;
	char got[DIGEST_STR_MAX];

	return digest_fd(fd, digest, "blob", got, &err) == BARGE_OK && strcmp(got, digest) == 0;
}

/*
 * What a pull does: resolve the tag, open the manifest and every blob it
 * names in one snapshot, then read them all.  Every one must be there and
 * hold its bytes, whatever loads and GCs run meanwhile.
 */
static void
reader_pull(struct store *s, struct reader *r)
{
	struct store_manifest m;
	struct manifest *mf = NULL;
	struct barge_err err;
	char buf[4096];
	int fds[FX_LAYERS_MAX + 2], nfd = 0, i, rc;
	int64_t size;
	ssize_t n;

	for (i = 0; i < FX_LAYERS_MAX + 2; i++)
		fds[i] = -1;
	/* On a reader thread, where cmocka's asserts must not be used: failures are counted. */
	if (store_read_begin(s, &err) != BARGE_OK) {
		snprintf(r->why, sizeof(r->why), "begin: %s", err.msg);
		r->failures++;
		return;
	}
	rc = store_open_manifest(s, REPO_A, "latest", &m, &fds[0], &size, &err);
	if (rc != BARGE_OK) {
		store_read_end(s);
		snprintf(r->why, sizeof(r->why), "manifest: %s", err.msg);
		r->failures++;
		return;
	}
	nfd = 1;
	n = pread(fds[0], buf, sizeof(buf), 0);
	if (n != size || manifest_parse(buf, (size_t)n, NULL, &mf, &err) != BARGE_OK) {
		store_read_end(s);
		snprintf(r->why, sizeof(r->why), "manifest %s unreadable", m.digest);
		r->failures++;
		goto out;
	}
	rc = store_open_repo_blob(s, REPO_A, mf->config.digest, &fds[nfd++], &size, &err);
	for (i = 0; rc == BARGE_OK && (size_t)i < mf->ndescs && nfd < FX_LAYERS_MAX + 2; i++)
		rc = store_open_repo_blob(s, REPO_A, mf->descs[i].digest, &fds[nfd++], &size, &err);
	store_read_end(s);
	if (rc != BARGE_OK) {
		snprintf(r->why, sizeof(r->why), "blob of %s: %s", m.digest, err.msg);
		r->failures++;
		goto out;
	}
	/* The snapshot is over; GC may unlink now, and the fds still read. */
	if (!fd_matches(fds[0], m.digest) || !fd_matches(fds[1], mf->config.digest)) {
		snprintf(r->why, sizeof(r->why), "bytes of %s differ", m.digest);
		r->failures++;
	}
	for (i = 0; (size_t)i < mf->ndescs && i + 2 < nfd; i++)
		if (!fd_matches(fds[i + 2], mf->descs[i].digest)) {
			snprintf(r->why, sizeof(r->why), "layer bytes differ");
			r->failures++;
		}
	__atomic_add_fetch(&r->reads, 1, __ATOMIC_RELAXED);
out:
	manifest_free(mf);
	for (i = 0; i < nfd; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct barge_err err;
	struct store *s = NULL;

	if (store_open(r->dir, &s, &err) != BARGE_OK) {
		snprintf(r->why, sizeof(r->why), "open: %s", err.msg);
		r->failures++;
		return NULL;
	}
	while (!*r->stop)
		reader_pull(s, r);
	store_close(s);
	return NULL;
}

/*
 * Loads keep retagging "latest" to a new image and GC removes the old one
 * right away, while readers pull "latest": no reader ever finds a tag
 * whose manifest or blobs are gone, or bytes that are not their digest's.
 */
static void
test_readers_see_whole_images(void **state)
{
	struct fixture *f = *state;
	struct reader r[READERS];
	struct store_gc_opts o = { 0 };
	struct store_gc_stats st;
	struct barge_err err;
	struct fx_image im;
	volatile int stop = 0;
	int64_t removed = 0;
	char cfg[64], layer[64];
	const char *layers[1] = { layer };
	int i, n;

	fx_image_blobs(f->s, "config 0", (const char *const[]){ "layer 0" }, 1, &im);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &im, "latest", 0);
	fx_commit(f->s);
	memset(r, 0, sizeof(r));
	for (i = 0; i < READERS; i++) {
		r[i].dir = f->dir;
		r[i].stop = &stop;
		assert_int_equal(pthread_create(&r[i].t, NULL, reader_main, &r[i]), 0);
	}
	/*
	 * The swaps must overlap the pulls: on a loaded machine the readers may
	 * take a while to start, so wait (up to 10 s) until each has pulled once.
	 */
	for (i = 0, n = 0; i < 1000 && n < READERS; i++) {
		for (n = 0; n < READERS && __atomic_load_n(&r[n].reads, __ATOMIC_RELAXED) > 0; n++)
			;
		if (n < READERS)
			usleep(10 * 1000);
	}
	o.lock_wait_ms = -1;
	for (i = 1; i <= SWAP_ROUNDS; i++) {
		snprintf(cfg, sizeof(cfg), "config %d", i);
		snprintf(layer, sizeof(layer), "layer %d", i);
		fx_image_blobs(f->s, cfg, layers, 1, &im);
		fx_begin(f->s);
		fx_record(f->s, REPO_A, &im, "latest", 0);
		fx_commit(f->s);
		assert_int_equal(store_gc(f->s, &o, &st, &err), BARGE_OK);
		removed += st.blobs;
		/* Let the readers pull this image for a moment. */
		usleep(2000);
	}
	stop = 1;
	for (i = 0; i < READERS; i++) {
		pthread_join(r[i].t, NULL);
		if (r[i].failures > 0)
			fail_msg("reader %d: %d failures, last: %s", i, r[i].failures, r[i].why);
		assert_true(r[i].reads > 0);
	}
	/* Every old image went: manifest, config and layer. */
	assert_int_equal(removed, 3 * SWAP_ROUNDS);
}

/* store_stats counts blob files and their bytes, tags, repositories and uploads. */
static void
test_stats(void **state)
{
	struct fixture *f = *state;
	static const char *const layers[] = { "one layer", "another layer" };
	struct store_stats st;
	struct fx_image a;
	struct barge_err err;
	char *stray;
	FILE *fp;

	assert_int_equal(store_stats(f->s, &st, &err), BARGE_OK);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.tags, 0);
	assert_int_equal(st.repos, 0);
	assert_int_equal(st.uploads, 0);
	fx_image_blobs(f->s, "config", layers, 2, &a);
	fx_begin(f->s);
	fx_record(f->s, REPO_A, &a, "1.0", 0);
	assert_int_equal(store_put_tag(f->s, REPO_A, "latest", a.manifest, &err), BARGE_OK);
	fx_record(f->s, REPO_B, &a, NULL, 0);
	fx_commit(f->s);
	/* A file that is not a blob's name is not a blob. */
	assert_non_null(stray = fu_printf("%s/blobs/sha256/stray", f->dir));
	assert_non_null(fp = fopen(stray, "w"));
	fputs("not a blob", fp);
	fclose(fp);
	assert_int_equal(store_stats(f->s, &st, &err), BARGE_OK);
	assert_int_equal(st.blobs, 4);
	assert_int_equal(st.bytes, a.bytes);
	assert_int_equal(st.tags, 2);
	assert_int_equal(st.repos, 2);
	assert_int_equal(st.uploads, 0);
	free(stray);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_open_creates_layout, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_roundtrip, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_wrong_digest, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_wrong_size, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_abort, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_commit_twice, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_commit_as, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_verify_then_commit, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_blob_open_missing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_manifest_tag_ref, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_put_rejects_dangling, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_repo_has_blob_through_index, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_list_tags, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_bad_digest_rejected, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_stale_tmp_cleaned, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_reopen_persists, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_ls_images_and_bundles, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_ls_index_bytes, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_schema1_store_opens, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_find_bundles, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_rm_bundle, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_rm_bundle_untag, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_readers_see_whole_images, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_stats, fx_setup, fx_teardown),
};

BARGE_TEST_MAIN(tests)
