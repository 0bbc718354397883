/*
 * Tests for sync (appliance/load/sync.c) against the listing api_sync
 * writes: a peer store A (the fixture's) is copied into a second store B
 * through a transport that answers from A's files, as a peer's /v2/ API
 * and /api/v1/sync would, or wrongly on purpose.
 */
#include "test_main.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_sync.h"
#include "store_fixture.h"
#include "sync.h"

#define PEER   "https://peer.test"
#define REPO_A "edge/docker.io/library/a"
#define REPO_B "edge/docker.io/library/b"

static const char *const layers_a[] = { "layer a1", "layer shared" };
static const char *const layers_b[] = { "layer b1", "layer shared" };

/* The fake peer: store A, and what to get wrong. */
struct peer {
	struct store *a;
	int corrupt_blobs; /* flip a byte of every layer served */
	int cut_listing;   /* drop the listing's end line */
	int gets;          /* requests made */
};

struct body {
	int fd;
	int corrupt;
	int64_t left; /* -1: to the end of fd */
};

static int
peer_get(void *arg, const char *path, const char *repo, const char *accept, void **out,
         struct barge_err *err)
{
	struct peer *p = arg;
	struct body *b = calloc(1, sizeof(*b));
	const char *digest = strrchr(path, '/') + 1;
	int64_t size;
	FILE *tmp;
	off_t len;

	(void)repo;
	(void)accept;
	assert_non_null(b);
	p->gets++;
	b->left = -1;
	if (strcmp(path, SYNC_PATH) == 0) {
		assert_non_null(tmp = tmpfile());
		assert_int_equal(api_sync_write(p->a, "edge", fileno(tmp), err), BARGE_OK);
		b->fd = dup(fileno(tmp));
		fclose(tmp);
		len = lseek(b->fd, 0, SEEK_END);
		lseek(b->fd, 0, SEEK_SET);
		/* The end line is the last one: `{"end":N}\n`, 10 bytes for N < 10. */
		if (p->cut_listing)
			b->left = len - 10;
	} else if (store_blob_open(p->a, digest, &b->fd, &size, err) != BARGE_OK) {
		free(b);
		return err_set(err, BARGE_ENOTFOUND, "GET %s: 404", path);
	}
	b->corrupt = p->corrupt_blobs && strstr(path, "/blobs/") != NULL;
	*out = b;
	return BARGE_OK;
}

static int
peer_read(void *body, void *buf, size_t len, size_t *got, struct barge_err *err)
{
	struct body *b = body;
	ssize_t n;

	(void)err;
	if (b->left >= 0 && (int64_t)len > b->left)
		len = (size_t)b->left;
	n = read(b->fd, buf, len);
	assert_true(n >= 0);
	if (n > 0 && b->corrupt) {
		((char *)buf)[0] ^= 1;
		b->corrupt = 0;
	}
	if (b->left >= 0)
		b->left -= n;
	*got = (size_t)n;
	return BARGE_OK;
}

static void
peer_close(void *body)
{
	struct body *b = body;

	if (b == NULL)
		return;
	close(b->fd);
	free(b);
}

/* A: image a tagged 1.0 and pinned by bundle "base", image b tagged 1.0 and latest. */
static void
fill_peer(struct fixture *f, struct fx_image *a, struct fx_image *b)
{
	int64_t id;

	fx_image_blobs(f->s, "config a", layers_a, 2, a);
	fx_image_blobs(f->s, "config b", layers_b, 2, b);
	fx_begin(f->s);
	id = fx_bundle(f->s, "base", "1");
	fx_record(f->s, REPO_A, a, "1.0", id);
	fx_record(f->s, REPO_B, b, "1.0", 0);
	assert_int_equal(store_put_tag(f->s, REPO_B, "latest", b->manifest, NULL), BARGE_OK);
	fx_commit(f->s);
}

static int
run(struct peer *p, struct store *dst, struct sync_stats *st, struct barge_err *err)
{
	struct sync_transport t = {
		.arg = p, .get = peer_get, .read = peer_read, .close = peer_close
	};

	return sync_run(dst, &t, PEER, st, err);
}

static int
count_bundle(const struct store_bundle *b, void *arg)
{
	assert_string_equal(b->name, "base");
	assert_int_equal(b->images, 1);
	(*(int *)arg)++;
	return 0;
}

static void
assert_same_digest(struct store *s, const char *repo, const char *tag, const char *digest)
{
	struct store_manifest m;

	assert_int_equal(store_get_manifest(s, repo, tag, &m, NULL), BARGE_OK);
	assert_string_equal(m.digest, digest);
}

static void
test_sync_copies_bundles_images_and_tags(void **state)
{
	struct fixture *f = *state;
	struct peer p = { .a = f->s };
	struct fx_image a, b;
	struct sync_stats st;
	struct barge_err err = { 0 };
	struct store *dst = NULL;
	char *dir = fx_tmpdir_new("sync");
	int bundles = 0;

	fill_peer(f, &a, &b);
	assert_int_equal(store_open(dir, &dst, &err), BARGE_OK);
	assert_int_equal(run(&p, dst, &st, &err), BARGE_OK);
	assert_int_equal(st.images, 2);
	assert_int_equal(st.manifests, 2);
	assert_int_equal(st.blobs, 5); /* two configs, three distinct layers */
	assert_int_equal(st.tags, 3);
	assert_int_equal(st.bundles, 1);
	assert_int_equal(st.pins, 1);
	assert_same_digest(dst, REPO_A, "1.0", a.manifest);
	assert_same_digest(dst, REPO_B, "1.0", b.manifest);
	assert_same_digest(dst, REPO_B, "latest", b.manifest);
	assert_int_equal(store_repo_has_blob(dst, REPO_B, b.layers[1], NULL), BARGE_OK);
	assert_int_equal(store_list_bundles(dst, count_bundle, &bundles, &err), BARGE_OK);
	assert_int_equal(bundles, 1);
	store_close(dst);
	fx_rmtree(dir);
	free(dir);
}

static void
test_sync_second_run_copies_nothing(void **state)
{
	struct fixture *f = *state;
	struct peer p = { .a = f->s };
	struct fx_image a, b;
	struct sync_stats st;
	struct barge_err err = { 0 };
	struct store *dst = NULL;
	char *dir = fx_tmpdir_new("sync");

	fill_peer(f, &a, &b);
	assert_int_equal(store_open(dir, &dst, &err), BARGE_OK);
	assert_int_equal(run(&p, dst, &st, &err), BARGE_OK);
	p.gets = 0;
	assert_int_equal(run(&p, dst, &st, &err), BARGE_OK);
	assert_int_equal(p.gets, 1); /* the listing only */
	assert_int_equal(st.images, 2);
	assert_int_equal(st.manifests + st.blobs + st.bytes, 0);
	assert_int_equal(st.rows + st.tags + st.bundles + st.pins, 0);
	store_close(dst);
	fx_rmtree(dir);
	free(dir);
}

static void
test_sync_wrong_blob_refused_and_nothing_kept(void **state)
{
	struct fixture *f = *state;
	struct peer p = { .a = f->s, .corrupt_blobs = 1 };
	struct fx_image a, b;
	struct sync_stats st;
	struct barge_err err = { 0 };
	struct store *dst = NULL;
	char *dir = fx_tmpdir_new("sync"), *blobs;

	fill_peer(f, &a, &b);
	assert_int_equal(store_open(dir, &dst, &err), BARGE_OK);
	assert_int_equal(run(&p, dst, &st, &err), BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, PEER ": " REPO_A "@"));
	assert_non_null(strstr(err.msg, a.config));
	assert_int_equal(store_get_manifest(dst, REPO_A, "1.0", NULL, NULL), BARGE_ENOTFOUND);
	/* The manifest fetched before the bad blob went too. */
	blobs = fx_path(dir, "blobs");
	assert_int_equal(fx_count_files(blobs), 0);
	free(blobs);
	store_close(dst);
	fx_rmtree(dir);
	free(dir);
}

static void
test_sync_cut_listing_refused(void **state)
{
	struct fixture *f = *state;
	struct peer p = { .a = f->s, .cut_listing = 1 };
	struct fx_image a, b;
	struct sync_stats st;
	struct barge_err err = { 0 };
	struct store *dst = NULL;
	char *dir = fx_tmpdir_new("sync");

	fill_peer(f, &a, &b);
	assert_int_equal(store_open(dir, &dst, &err), BARGE_OK);
	assert_int_equal(run(&p, dst, &st, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "cut short"));
	assert_int_equal(p.gets, 1); /* refused before any fetch */
	store_close(dst);
	fx_rmtree(dir);
	free(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_sync_copies_bundles_images_and_tags, fx_setup,
	                                fx_teardown),
	cmocka_unit_test_setup_teardown(test_sync_second_run_copies_nothing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_sync_wrong_blob_refused_and_nothing_kept, fx_setup,
	                                fx_teardown),
	cmocka_unit_test_setup_teardown(test_sync_cut_listing_refused, fx_setup, fx_teardown),
};

BARGE_TEST_MAIN(tests)
