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
#include "manifest.h"
#include "mediatype.h"
#include "store.h"
#include "store_push.h"

#define REPO  "edge/test/app"
#define OTHER "edge/test/other"

struct fx {
	char *dir;
	struct store *s;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct barge_err err = { 0 };

	assert_non_null(f);
	f->dir = fx_tmpdir_new("push");
	assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
	assert_int_equal(store_push_init(f->s, &err), BARGE_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	fx_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Appends buf to session id at offset, as a PATCH does. */
static void
append(struct fx *f, const char *id, int64_t offset, const void *buf, size_t len)
{
	struct barge_err err = { 0 };
	int fd = -1;

	assert_int_equal(store_upload_open(f->s, id, offset, &fd, &err), BARGE_OK);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	assert_int_equal(store_upload_set_offset(f->s, id, offset + (int64_t)len, &err), BARGE_OK);
}

/* A blob pushed to repo through a session; its digest in dg. */
static void
push_blob(struct fx *f, const char *repo, const void *buf, size_t len, char *dg)
{
	char id[STORE_UPLOAD_ID_LEN + 1];
	struct barge_err err = { 0 };
	int64_t size = -1;

	assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, dg, &err), BARGE_OK);
	assert_int_equal(store_upload_new(f->s, repo, id, &err), BARGE_OK);
	append(f, id, 0, buf, len);
	if (store_upload_finish(f->s, repo, id, dg, NULL, &size, &err) != BARGE_OK)
		fail_msg("finish: %s", err.msg);
	assert_int_equal(size, (int64_t)len);
}

static void
test_session_lifecycle(void **state)
{
	struct fx *f = *state;
	char id[STORE_UPLOAD_ID_LEN + 1], dg[DIGEST_STR_MAX], wrong[DIGEST_STR_MAX];
	struct barge_err err = { 0 };
	int64_t off = -1, n = -1, size = -1;
	char *path;
	int fd;

	assert_int_equal(store_upload_new(f->s, REPO, id, &err), BARGE_OK);
	assert_true(store_upload_id_valid(id));
	assert_true(store_upload_exists(f->s, id));
	assert_int_equal(store_upload_count(f->s, &n, &err), BARGE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_upload_get(f->s, REPO, id, &off, &err), BARGE_OK);
	assert_int_equal(off, 0);
	/* A session belongs to its repository. */
	assert_int_equal(store_upload_get(f->s, OTHER, id, &off, &err), BARGE_ENOTFOUND);

	append(f, id, 0, "hello ", 6);
	/* A broken chunk wrote bytes past the committed length: they do not count. */
	assert_int_equal(store_upload_open(f->s, id, 6, &fd, &err), BARGE_OK);
	assert_int_equal(write(fd, "garbage", 7), 7);
	close(fd);
	append(f, id, 6, "world", 5);
	assert_int_equal(store_upload_get(f->s, REPO, id, &off, &err), BARGE_OK);
	assert_int_equal(off, 11);

	assert_int_equal(digest_buf(DIGEST_SHA256, "hello world", 11, dg, &err), BARGE_OK);
	assert_int_equal(digest_buf(DIGEST_SHA256, "hello", 5, wrong, &err), BARGE_OK);
	/* A wrong digest leaves the session open and nothing in the store. */
	assert_int_equal(store_upload_finish(f->s, REPO, id, wrong, NULL, &size, &err),
	                 BARGE_EDIGEST);
	assert_true(store_upload_exists(f->s, id));
	assert_false(store_blob_exists(f->s, wrong));
	/* A caller's running hash is believed; a lying one would fail above. */
	assert_int_equal(store_upload_finish(f->s, REPO, id, dg, dg, &size, &err), BARGE_OK);
	assert_int_equal(size, 11);
	assert_true(store_blob_exists(f->s, dg));
	assert_false(store_upload_exists(f->s, id));
	/* The bytes moved: no file stays behind. */
	path = fu_printf("%s/uploads/%s", f->dir, id);
	assert_int_not_equal(access(path, F_OK), 0);
	free(path);
	assert_int_equal(store_push_has_blob(f->s, REPO, dg, &err), BARGE_OK);
	assert_int_equal(store_push_has_blob(f->s, OTHER, dg, &err), BARGE_ENOTFOUND);
}

static void
test_session_sha512_and_cancel(void **state)
{
	struct fx *f = *state;
	char id[STORE_UPLOAD_ID_LEN + 1], dg[DIGEST_STR_MAX], d256[DIGEST_STR_MAX];
	struct barge_err err = { 0 };
	int64_t size = -1;
	char *path;

	assert_int_equal(store_upload_new(f->s, REPO, id, &err), BARGE_OK);
	append(f, id, 0, "sha512 content", 14);
	assert_int_equal(digest_buf(DIGEST_SHA512, "sha512 content", 14, dg, &err), BARGE_OK);
	assert_int_equal(digest_buf(DIGEST_SHA256, "sha512 content", 14, d256, &err), BARGE_OK);
	/* A sha256 running hash does not answer for a sha512 digest: the file is hashed. */
	assert_int_equal(store_upload_finish(f->s, REPO, id, dg, d256, &size, &err), BARGE_OK);
	assert_true(store_blob_exists(f->s, dg));

	assert_int_equal(store_upload_new(f->s, REPO, id, &err), BARGE_OK);
	append(f, id, 0, "abc", 3);
	path = fu_printf("%s/uploads/%s", f->dir, id);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(store_upload_delete(f->s, id, &err), BARGE_OK);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(store_upload_delete(f->s, id, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_upload_delete(f->s, "../../etc/passwd", &err), BARGE_ENOTFOUND);
	free(path);
}

static void
test_expire(void **state)
{
	struct fx *f = *state;
	char id[STORE_UPLOAD_ID_LEN + 1];
	struct barge_err err = { 0 };
	char *stray, *path;
	int gone = -1;

	assert_int_equal(store_upload_new(f->s, REPO, id, &err), BARGE_OK);
	stray = fu_printf("%s/uploads/01234567-89ab-4cde-8f01-23456789abcd", f->dir);
	assert_int_equal(fu_write_atomic(stray, "x", 1, 0644, &err), BARGE_OK);
	/* Young sessions stay; a file no session owns goes. */
	assert_int_equal(store_upload_expire(f->s, 3600, &gone, &err), BARGE_OK);
	assert_int_equal(gone, 0);
	assert_true(store_upload_exists(f->s, id));
	assert_int_not_equal(access(stray, F_OK), 0);
	/* Age -1 s: every session is older than that. */
	assert_int_equal(store_upload_expire(f->s, -1, &gone, &err), BARGE_OK);
	assert_int_equal(gone, 1);
	assert_false(store_upload_exists(f->s, id));
	path = fu_printf("%s/uploads/%s", f->dir, id);
	assert_int_not_equal(access(path, F_OK), 0);
	free(path);
	free(stray);
}

/* An image manifest over config and layer digests. */
static char *
image(const char *cd, size_t csize, const char *ld, size_t lsize, const char *extra)
{
	return fu_printf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
	                 "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	                 "\"%s\",\"digest\":\"%s\",\"size\":%zu}]%s}",
	                 MT_OCI_MANIFEST, MT_OCI_CONFIG, cd, csize, MT_OCI_LAYER, ld, lsize, extra);
}

static void
test_manifest_validation(void **state)
{
	struct fx *f = *state;
	char cd[DIGEST_STR_MAX], ld[DIGEST_STR_MAX], want[DIGEST_STR_MAX];
	struct store_push_result res;
	struct store_manifest m;
	struct barge_err err = { 0 };
	char *man, *idx, *big;
	int rc;

	push_blob(f, REPO, "{}", 2, cd);
	push_blob(f, REPO, "layer bytes", 11, ld);
	man = image(cd, 2, ld, 11, "");

	/* Not in OTHER: every referenced blob must be in the target repository. */
	rc = store_push_manifest(f->s, OTHER, "v1", man, strlen(man), MT_OCI_MANIFEST, &res, &err);
	assert_int_equal(rc, BARGE_EINVAL);
	assert_int_equal(res.refusal, STORE_PUSH_MANIFEST_BLOB_UNKNOWN);
	assert_non_null(strstr(err.msg, ld) != NULL ? err.msg : strstr(err.msg, cd));
	assert_false(store_repo_exists(f->s, OTHER));

	/* The Content-Type and the document disagree. */
	rc = store_push_manifest(f->s, REPO, "v1", man, strlen(man), MT_OCI_INDEX, &res, &err);
	assert_int_equal(rc, BARGE_EINVAL);
	assert_int_equal(res.refusal, STORE_PUSH_MANIFEST_INVALID);

	rc = store_push_manifest(f->s, REPO, "v1", "{\"schemaVersion\":2}", 19, MT_OCI_MANIFEST,
	                         &res, &err);
	assert_int_equal(res.refusal, STORE_PUSH_MANIFEST_INVALID);

	/* By digest: the bytes must have it. */
	rc = store_push_manifest(f->s, REPO, ld, man, strlen(man), MT_OCI_MANIFEST, &res, &err);
	assert_int_equal(rc, BARGE_EINVAL);
	assert_int_equal(res.refusal, STORE_PUSH_DIGEST_INVALID);

	big = calloc(1, MANIFEST_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', MANIFEST_MAX + 1);
	rc = store_push_manifest(f->s, REPO, "v1", big, MANIFEST_MAX + 1, MT_OCI_MANIFEST, &res,
	                         &err);
	assert_int_equal(res.refusal, STORE_PUSH_TOO_BIG);
	free(big);

	if (store_push_manifest(f->s, REPO, "v1", man, strlen(man), MT_OCI_MANIFEST, &res, &err) !=
	    BARGE_OK)
		fail_msg("put: %s", err.msg);
	assert_int_equal(digest_buf(DIGEST_SHA256, man, strlen(man), want, &err), BARGE_OK);
	assert_string_equal(res.digest, want);
	assert_string_equal(res.subject, "");
	assert_int_equal(store_get_manifest(f->s, REPO, "v1", &m, &err), BARGE_OK);
	assert_string_equal(m.digest, want);
	assert_string_equal(m.media_type, MT_OCI_MANIFEST);
	assert_int_equal(m.size, (int64_t)strlen(man));
	/* The blobs are now the repository's through the manifest too. */
	assert_int_equal(store_repo_has_blob(f->s, REPO, ld, &err), BARGE_OK);

	/* An index needs its children in the repository. */
	idx = fu_printf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{\"mediaType\":"
	                "\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
	                MT_OCI_INDEX, MT_OCI_MANIFEST, want, strlen(man));
	rc = store_push_manifest(f->s, OTHER, "multi", idx, strlen(idx), MT_OCI_INDEX, &res, &err);
	assert_int_equal(res.refusal, STORE_PUSH_MANIFEST_BLOB_UNKNOWN);
	assert_int_equal(store_push_manifest(f->s, REPO, "multi", idx, strlen(idx), MT_OCI_INDEX,
	                                     &res, &err),
	                 BARGE_OK);
	free(idx);
	free(man);
}

static int
count_cb(const struct store_manifest *m, void *arg)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

static int
repo_cb(const char *repo, void *arg)
{
	char *buf = arg;

	strcat(buf, repo);
	strcat(buf, ",");
	return 0;
}

static void
test_subject_delete_and_lists(void **state)
{
	struct fx *f = *state;
	char cd[DIGEST_STR_MAX], ld[DIGEST_STR_MAX], md[DIGEST_STR_MAX], names[256] = "";
	struct store_push_result res;
	struct store_manifest m;
	struct barge_err err = { 0 };
	char *man, *ref, *extra;
	int n = 0;

	push_blob(f, REPO, "{}", 2, cd);
	push_blob(f, REPO, "layer bytes", 11, ld);
	man = image(cd, 2, ld, 11, "");
	assert_int_equal(store_push_manifest(f->s, REPO, "v1", man, strlen(man), MT_OCI_MANIFEST,
	                                     &res, &err),
	                 BARGE_OK);
	snprintf(md, sizeof(md), "%s", res.digest);
	extra = fu_printf(",\"artifactType\":\"application/x-sbom\",\"subject\":{\"mediaType\":"
	                  "\"%s\",\"digest\":\"%s\",\"size\":%zu}",
	                  MT_OCI_MANIFEST, md, strlen(man));
	ref = image(cd, 2, ld, 11, extra);
	assert_int_equal(store_push_manifest(f->s, REPO, "sbom", ref, strlen(ref), MT_OCI_MANIFEST,
	                                     &res, &err),
	                 BARGE_OK);
	assert_string_equal(res.subject, md);
	assert_int_equal(store_list_referrers(f->s, REPO, md, 100, count_cb, &n, &err), BARGE_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(store_list_referrers(f->s, OTHER, md, 100, count_cb, &n, &err), BARGE_OK);
	assert_int_equal(n, 0);

	/* A mounted blob alone does not make OTHER a repository; a manifest does. */
	assert_int_equal(store_link_blob(f->s, OTHER, ld, &err), BARGE_OK);
	assert_int_equal(store_list_repos(f->s, NULL, 0, repo_cb, names, &err), BARGE_OK);
	assert_string_equal(names, REPO ",");
	assert_true(store_repo_listed(f->s, REPO));
	assert_false(store_repo_listed(f->s, OTHER));
	assert_int_equal(store_link_blob(f->s, OTHER, cd, &err), BARGE_OK);
	assert_int_equal(store_push_manifest(f->s, OTHER, "v1", man, strlen(man), MT_OCI_MANIFEST,
	                                     &res, &err),
	                 BARGE_OK);
	assert_true(store_repo_listed(f->s, OTHER));
	names[0] = '\0';
	assert_int_equal(store_list_repos(f->s, NULL, 0, repo_cb, names, &err), BARGE_OK);
	assert_string_equal(names, REPO "," OTHER ",");
	names[0] = '\0';
	assert_int_equal(store_list_repos(f->s, REPO, 1, repo_cb, names, &err), BARGE_OK);
	assert_string_equal(names, OTHER ",");
	/* A blob a manifest names is not unlinked from under it: refused, naming the manifest. */
	assert_int_equal(store_push_delete_blob(f->s, OTHER, ld, &err), BARGE_EEXIST);
	assert_non_null(strstr(err.msg, md));
	assert_int_equal(store_push_delete_blob(f->s, OTHER, ld, &err), BARGE_EEXIST);
	assert_int_equal(store_push_has_blob(f->s, OTHER, ld, &err), BARGE_OK);
	assert_int_equal(store_push_delete_manifest(f->s, OTHER, md, &err), BARGE_OK);
	assert_false(store_repo_listed(f->s, OTHER));
	names[0] = '\0';
	assert_int_equal(store_list_repos(f->s, NULL, 0, repo_cb, names, &err), BARGE_OK);
	assert_string_equal(names, REPO ",");

	/* Deletes: a tag, then a manifest with its remaining tags, then a blob link. */
	assert_int_equal(store_push_delete_tag(f->s, REPO, "sbom", &err), BARGE_OK);
	assert_int_equal(store_push_delete_tag(f->s, REPO, "sbom", &err), BARGE_ENOTFOUND);
	assert_int_equal(store_push_delete_manifest(f->s, REPO, md, &err), BARGE_OK);
	assert_int_equal(store_get_manifest(f->s, REPO, "v1", &m, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_push_delete_manifest(f->s, REPO, md, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_push_delete_blob(f->s, OTHER, ld, &err), BARGE_OK);
	assert_int_equal(store_push_has_blob(f->s, OTHER, ld, &err), BARGE_ENOTFOUND);
	assert_int_equal(store_push_delete_blob(f->s, OTHER, ld, &err), BARGE_ENOTFOUND);
	free(extra);
	free(ref);
	free(man);
}

static void
test_bundle_manifest_not_deleted(void **state)
{
	struct fx *f = *state;
	char cd[DIGEST_STR_MAX], ld[DIGEST_STR_MAX];
	struct store_push_result res;
	struct barge_err err = { 0 };
	int64_t id;
	char *man;

	push_blob(f, REPO, "{}", 2, cd);
	push_blob(f, REPO, "layer bytes", 11, ld);
	man = image(cd, 2, ld, 11, "");
	assert_int_equal(store_push_manifest(f->s, REPO, "v1", man, strlen(man), MT_OCI_MANIFEST,
	                                     &res, &err),
	                 BARGE_OK);
	assert_int_equal(store_begin(f->s, &err), BARGE_OK);
	assert_int_equal(store_put_bundle(f->s, "b", "1.0", ld, &id, &err), BARGE_OK);
	assert_int_equal(store_put_bundle_image(f->s, id, REPO, res.digest, &err), BARGE_OK);
	assert_int_equal(store_commit(f->s, &err), BARGE_OK);
	assert_int_equal(store_push_delete_manifest(f->s, REPO, res.digest, &err), BARGE_EEXIST);
	assert_non_null(strstr(err.msg, "bundle b"));
	free(man);
}

/* A monolithic push: the blob is committed and linked, or neither; the lock is released. */
static void
test_blob_publish(void **state)
{
	struct fx *f = *state;
	struct store_blob_writer *w = NULL;
	struct barge_err err = { 0 };
	char d[DIGEST_STR_MAX], other[DIGEST_STR_MAX];

	assert_int_equal(digest_buf(DIGEST_SHA256, "monolithic", 10, d, &err), BARGE_OK);
	assert_int_equal(store_blob_begin(f->s, d, 10, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "monolithic", 10, &err), BARGE_OK);
	assert_int_equal(store_blob_publish(w, REPO, &err), BARGE_OK);
	assert_true(store_blob_exists(f->s, d));
	assert_int_equal(store_push_has_blob(f->s, REPO, d, &err), BARGE_OK);
	assert_int_equal(store_push_has_blob(f->s, OTHER, d, &err), BARGE_ENOTFOUND);

	/* Other bytes than the digest names: nothing stored, nothing linked. */
	assert_int_equal(digest_buf(DIGEST_SHA256, "expected", 8, other, &err), BARGE_OK);
	assert_int_equal(store_blob_begin(f->s, other, 8, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "not that", 8, &err), BARGE_OK);
	assert_int_equal(store_blob_publish(w, REPO, &err), BARGE_EDIGEST);
	assert_false(store_blob_exists(f->s, other));
	assert_int_equal(store_push_has_blob(f->s, REPO, other, &err), BARGE_ENOTFOUND);

	/* Both released the GC lock: GC takes it at once. */
	assert_int_equal(store_lock_exclusive(f->s, 0, &err), BARGE_OK);
	store_unlock(f->s);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_session_lifecycle, setup, teardown),
	cmocka_unit_test_setup_teardown(test_session_sha512_and_cancel, setup, teardown),
	cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifest_validation, setup, teardown),
	cmocka_unit_test_setup_teardown(test_subject_delete_and_lists, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bundle_manifest_not_deleted, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_publish, setup, teardown),
};

BARGE_TEST_MAIN(tests)
