#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "bundle.h"
#include "bundle_fixture.h"
#include "bundle_write.h"
#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "loader.h"
#include "mediatype.h"
#include "sign.h"
#include "store.h"

struct fixture {
	char dir[FX_DIR_MAX];
	char *store_dir;
	struct store *s;
	struct images im;
};

static char *
path_in(struct fixture *f, const char *name)
{
	return fx_path(f->dir, name);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct barge_err err;

	assert_non_null(f);
	fx_tmpdir(f->dir, "loader");
	f->store_dir = path_in(f, "store");
	assert_int_equal(store_open(f->store_dir, &f->s, &err), BARGE_OK);
	images_make(&f->im, 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	images_free(&f->im);
	fx_rmtree(f->dir);
	free(f->store_dir);
	free(f);
	return 0;
}

static void
assert_blob_bytes(struct store *s, const struct blob *b)
{
	unsigned char *buf = malloc(b->len + 1);
	struct barge_err err;
	size_t have = 0;
	int64_t size;
	ssize_t n;
	int fd;

	assert_non_null(buf);
	assert_int_equal(store_blob_open(s, b->digest, &fd, &size, &err), BARGE_OK);
	assert_int_equal(size, (int64_t)b->len);
	while ((n = read(fd, buf + have, b->len + 1 - have)) > 0)
		have += (size_t)n;
	close(fd);
	assert_int_equal(have, b->len);
	assert_memory_equal(buf, b->data, b->len);
	free(buf);
}

static void
assert_tag(struct store *s, const char *repo, const char *tag, const struct blob *want,
           const char *mt)
{
	struct store_manifest m;
	struct barge_err err;

	assert_int_equal(store_get_manifest(s, repo, tag, &m, &err), BARGE_OK);
	assert_string_equal(m.digest, want->digest);
	assert_string_equal(m.media_type, mt);
	assert_int_equal(m.size, (int64_t)want->len);
}

static void
load_ok(struct fixture *f, const char *path, struct loader_result *res)
{
	struct barge_err err;
	int rc;

	rc = loader_load(f->s, path, res, &err);
	if (rc != BARGE_OK)
		fail_msg("load %s: %s", path, err.msg);
}

/* Every row of the metadata, in a fixed order: what a failed load must not change. */
static char *
snapshot(struct fixture *f)
{
	static const char *const q[] = {
		"SELECT name FROM repositories ORDER BY name",
		"SELECT r.name, m.digest, m.media_type, m.size FROM manifests m JOIN repositories "
		"r "
		"ON r.id = m.repo_id ORDER BY 1, 2",
		"SELECT r.name, t.name, t.digest FROM tags t JOIN repositories r ON r.id = "
		"t.repo_id "
		"ORDER BY 1, 2",
		"SELECT parent, child FROM refs ORDER BY 1, 2",
		"SELECT id, name, version, digest FROM bundles ORDER BY id",
		"SELECT bundle_id, repo_id, digest FROM bundle_images ORDER BY 1, 2, 3",
	};
	sqlite3_stmt *st;
	sqlite3 *db;
	char *db_path, *out = NULL, *next;
	size_t i;
	int c;

	db_path = fu_printf("%s/barge.db", f->store_dir);
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	out = strdup("");
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		assert_int_equal(sqlite3_prepare_v2(db, q[i], -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (c = 0; c < sqlite3_column_count(st); c++) {
				next = fu_printf("%s%s|", out, sqlite3_column_text(st, c));
				free(out);
				out = next;
			}
			next = fu_printf("%s\n", out);
			free(out);
			out = next;
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	free(db_path);
	return out;
}

struct bundle_origin {
	char *signer, *source;
	int n;
};

static int
origin_cb(const struct store_bundle *b, void *arg)
{
	struct bundle_origin *o = arg;

	o->n++;
	o->signer = b->signer != NULL ? strdup(b->signer) : NULL;
	o->source = b->source != NULL ? strdup(b->source) : NULL;
	return 0;
}

/* The store's one bundle was signed by signer (NULL: unsigned) and read from source. */
static void
assert_bundle_origin(struct fixture *f, const char *signer, const char *source)
{
	struct bundle_origin o = { 0 };
	struct barge_err err;

	assert_int_equal(store_list_bundles(f->s, origin_cb, &o, &err), BARGE_OK);
	assert_int_equal(o.n, 1);
	if (signer == NULL)
		assert_null(o.signer);
	else
		assert_string_equal(o.signer, signer);
	assert_string_equal(o.source, source);
	free(o.signer);
	free(o.source);
}

static void
test_load_good_bundle(void **state)
{
	struct fixture *f = *state;
	struct images *im = &f->im;
	struct loader_result res;
	struct barge_err err;
	struct tb t;
	char *path = path_in(f, "demo-1.0.0.tar.zst");
	int64_t total;

	tb_good(&t, im);
	tb_write(&t, path, "1.0.0");
	load_ok(f, path, &res);
	assert_bundle_origin(f, NULL, path);

	assert_string_equal(res.name, "demo");
	assert_string_equal(res.version, "1.0.0");
	assert_true(res.bundle_id > 0);
	assert_int_equal(res.images, 2);
	assert_int_equal(res.blobs_new, 11);
	assert_int_equal(res.blobs_present, 0);
	total = (int64_t)(im->index.len + im->man_amd64.len + im->man_arm64.len + im->tool_man.len +
	                  im->cfg_amd64.len + im->cfg_arm64.len + im->tool_cfg.len +
	                  im->layer_shared.len + im->layer_amd64.len + im->layer_arm64.len +
	                  im->tool_layer.len);
	assert_int_equal(res.bytes, total);

	assert_tag(f->s, REPO_APP, "1.0", &im->index, MT_OCI_INDEX);
	assert_tag(f->s, REPO_TOOL, "2.0", &im->tool_man, MT_OCI_MANIFEST);
	assert_tag(f->s, REPO_APP, im->man_arm64.digest, &im->man_arm64, MT_OCI_MANIFEST);
	assert_blob_bytes(f->s, &im->layer_amd64);
	assert_blob_bytes(f->s, &im->index);
	assert_blob_bytes(f->s, &im->tool_layer);
	assert_int_equal(store_repo_has_blob(f->s, REPO_APP, im->layer_arm64.digest, &err),
	                 BARGE_OK);
	assert_int_equal(store_repo_has_blob(f->s, REPO_APP, im->cfg_amd64.digest, &err), BARGE_OK);
	assert_int_equal(store_repo_has_blob(f->s, REPO_TOOL, im->tool_cfg.digest, &err), BARGE_OK);
	/* Repositories only serve their own images' blobs. */
	assert_int_equal(store_repo_has_blob(f->s, REPO_TOOL, im->layer_amd64.digest, &err),
	                 BARGE_ENOTFOUND);
	tb_free(&t);
	free(path);
}

static void
test_load_twice_dedups(void **state)
{
	struct fixture *f = *state;
	struct loader_result res;
	struct tb t;
	char *path = path_in(f, "demo-1.0.0.tar.zst");

	tb_good(&t, &f->im);
	tb_write(&t, path, "1.0.0");
	load_ok(f, path, &res);
	load_ok(f, path, &res);
	assert_int_equal(res.blobs_new, 0);
	assert_int_equal(res.blobs_present, 11);
	assert_tag(f->s, REPO_APP, "1.0", &f->im.index, MT_OCI_INDEX);
	tb_free(&t);
	free(path);
}

static void tb_write_platforms(struct tb *t, const char *path, const char *version, const char *p1,
                               const char *p2);

static void
test_load_sparse_index(void **state)
{
	struct fixture *f = *state;
	struct images *im = &f->im;
	struct loader_result res;
	struct store_manifest m;
	struct barge_err err;
	struct tb t;
	char *path = path_in(f, "sparse.tar.zst");

	/* Only amd64 chosen: the index bytes stay whole, arm64 is left out. */
	tb_init(&t);
	tb_image(&t, REPO_APP, "1.0", &im->index, MT_OCI_INDEX);
	tb_blob(&t, &im->index);
	tb_blob(&t, &im->man_amd64);
	tb_blob(&t, &im->cfg_amd64);
	tb_blob(&t, &im->layer_shared);
	tb_blob(&t, &im->layer_amd64);
	tb_write_platforms(&t, path, "1.0.0", "linux/amd64", NULL);
	load_ok(f, path, &res);
	assert_int_equal(res.blobs_new, 5);
	assert_tag(f->s, REPO_APP, "1.0", &im->index, MT_OCI_INDEX);
	assert_int_equal(store_repo_has_blob(f->s, REPO_APP, im->layer_amd64.digest, &err),
	                 BARGE_OK);
	assert_int_equal(store_get_manifest(f->s, REPO_APP, im->man_arm64.digest, &m, &err),
	                 BARGE_ENOTFOUND);
	assert_false(store_blob_exists(f->s, im->layer_arm64.digest));
	tb_free(&t);
	free(path);
}

static void
test_load_delta_requires_base(void **state)
{
	struct fixture *f = *state;
	struct images *im = &f->im;
	struct loader_result res;
	struct barge_err err;
	struct tb base, delta;
	char *base_path = path_in(f, "base.tar.zst"), *delta_path = path_in(f, "delta.tar.zst");
	char *before, *after;

	/* The base brings tool; the delta re-tags it as 2.1 with only its manifest. */
	tb_init(&base);
	tb_image(&base, REPO_TOOL, "2.0", &im->tool_man, MT_OCI_MANIFEST);
	tb_blob(&base, &im->tool_man);
	tb_blob(&base, &im->tool_cfg);
	tb_blob(&base, &im->tool_layer);
	tb_write(&base, base_path, "1.0.0");
	tb_init(&delta);
	tb_image(&delta, REPO_TOOL, "2.1", &im->tool_man, MT_OCI_MANIFEST);
	tb_blob(&delta, &im->tool_man);
	tb_require(&delta, &im->tool_cfg);
	tb_require(&delta, &im->tool_layer);
	tb_write(&delta, delta_path, "1.0.1");

	before = snapshot(f);
	assert_int_equal(loader_load(f->s, delta_path, &res, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "load the base bundle first"));
	assert_non_null(strstr(err.msg, "needs 2 blobs"));
	assert_non_null(strstr(err.msg, im->tool_cfg.digest));
	assert_non_null(strstr(err.msg, im->tool_layer.digest));
	after = snapshot(f);
	assert_string_equal(after, before);
	free(before);
	free(after);

	load_ok(f, base_path, &res);
	load_ok(f, delta_path, &res);
	assert_int_equal(res.blobs_present, 1);
	assert_tag(f->s, REPO_TOOL, "2.1", &im->tool_man, MT_OCI_MANIFEST);
	assert_tag(f->s, REPO_TOOL, "2.0", &im->tool_man, MT_OCI_MANIFEST);
	tb_free(&base);
	tb_free(&delta);
	free(base_path);
	free(delta_path);
}

/* Every file under the store but the database, with its size: what a failed load must not change.
 */
static char *files_list;

static int
list_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char *next;

	if (strstr(path, "/barge.db") != NULL)
		return 0;
	next = fu_printf("%s%s %lld\n", files_list, path,
	                 flag == FTW_F ? (long long)st->st_size : -1LL);
	free(files_list);
	files_list = next;
	return 0;
}

static char *
files_snapshot(struct fixture *f)
{
	char *out;

	files_list = strdup("");
	assert_int_equal(nftw(f->store_dir, list_file, 16, FTW_PHYS), 0);
	out = files_list;
	files_list = NULL;
	return out;
}

/*
 * Loads the good bundle, then path (with opts) must fail with code and msg,
 * changing nothing: neither the metadata nor the files.
 */
static void
assert_load_fails_opts(struct fixture *f, const char *path, const struct loader_opts *opts,
                       int code, const char *msg)
{
	struct bundle_reader *r = NULL;
	struct loader_result res;
	struct barge_err err;
	char *before, *after, *good = path_in(f, "good.tar.zst");
	char *files_before, *files_after;
	struct tb t;
	int rc;

	if (access(good, F_OK) != 0) {
		tb_good(&t, &f->im);
		tb_write(&t, good, "1.0.0");
		tb_free(&t);
		load_ok(f, good, &res);
	}
	before = snapshot(f);
	files_before = files_snapshot(f);
	err_clear(&err);
	rc = bundle_reader_open(path, &r, &err);
	if (rc == BARGE_OK)
		rc = loader_load_reader(f->s, r, path, opts, &res, &err);
	bundle_reader_free(r);
	assert_int_equal(rc, code);
	if (strstr(err.msg, msg) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, msg);
	after = snapshot(f);
	assert_string_equal(after, before);
	files_after = files_snapshot(f);
	assert_string_equal(files_after, files_before);
	assert_tag(f->s, REPO_APP, "1.0", &f->im.index, MT_OCI_INDEX);
	assert_false(store_repo_exists(f->s, REPO_NEW));
	free(files_before);
	free(files_after);
	free(before);
	free(after);
	free(good);
}

static void
assert_load_fails(struct fixture *f, const char *path, int code, const char *msg)
{
	assert_load_fails_opts(f, path, NULL, code, msg);
}

static void
test_bad_not_a_bundle(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "random.tar.zst");
	struct blob junk;

	layer_make(&junk, 99, 5000);
	assert_int_equal(fu_write_atomic(path, junk.data, junk.len, 0644, NULL), BARGE_OK);
	assert_load_fails(f, path, BARGE_EFORMAT, "not a barge bundle");
	free(junk.data);
	free(path);
}

static void
test_bad_first_entry(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "first.tar.zst");
	struct images im2;
	struct tb t;

	images_make(&im2, 50);
	tb_next(&t, &im2);
	tb_write_as(&t, path, "2.0.0", "manifest.json", NULL);
	assert_load_fails(f, path, BARGE_EFORMAT,
	                  "not a barge bundle: first entry is \"manifest.json\"");
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_digest_mismatch(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "altered.tar.zst");
	struct images im2;
	struct blob altered;
	char name[160];
	struct tb t;

	images_make(&im2, 60);
	tb_next(&t, &im2);
	/* Same size and listed digest, one byte changed. */
	altered = im2.tool_layer;
	altered.data = malloc(altered.len);
	memcpy(altered.data, im2.tool_layer.data, altered.len);
	altered.data[altered.len / 2] ^= 0x01;
	t.ent[2] = &altered;
	tb_write(&t, path, "2.0.0");
	entry_name(&im2.tool_layer, name, sizeof(name));
	assert_load_fails(f, path, BARGE_EDIGEST, name);
	assert_load_fails(f, path, BARGE_EDIGEST, im2.tool_layer.digest);
	assert_false(store_blob_exists(f->s, im2.tool_layer.digest));
	tb_free(&t);
	free(altered.data);
	images_free(&im2);
	free(path);
}

static void
test_bad_blob_missing(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "missing.tar.zst");
	struct images im2;
	struct tb t;

	images_make(&im2, 70);
	tb_next(&t, &im2);
	t.nent--; /* listed in barge.json, never written */
	tb_write(&t, path, "2.0.0");
	assert_load_fails(f, path, BARGE_EFORMAT, im2.tool_layer.digest);
	assert_load_fails(f, path, BARGE_EFORMAT, "missing from the bundle");
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_unlisted_entry(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "unlisted.tar.zst");
	struct images im2;
	char name[160];
	struct tb t;

	images_make(&im2, 80);
	tb_next(&t, &im2);
	t.ent[t.nent++] = &im2.layer_arm64; /* an entry barge.json does not list */
	tb_write(&t, path, "2.0.0");
	entry_name(&im2.layer_arm64, name, sizeof(name));
	assert_load_fails(f, path, BARGE_EFORMAT, "not listed in barge.json");
	assert_load_fails(f, path, BARGE_EFORMAT, name);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_size_mismatch(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "size.tar.zst");
	struct images im2;
	char name[160];
	struct tb t;

	images_make(&im2, 90);
	tb_next(&t, &im2);
	json_object_set_new(json_array_get(t.blobs, 1), "size",
	                    json_integer((json_int_t)im2.tool_cfg.len + 1));
	tb_write(&t, path, "2.0.0");
	entry_name(&im2.tool_cfg, name, sizeof(name));
	assert_load_fails(f, path, BARGE_EDIGEST, name);
	assert_load_fails(f, path, BARGE_EDIGEST, "but barge.json lists");
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_layer_absent(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "nolayer.tar.zst");
	struct images im2;
	struct tb t;

	/* barge.json is consistent with the entries, but the image is incomplete. */
	images_make(&im2, 100);
	tb_init(&t);
	tb_image(&t, REPO_APP, "1.0", &im2.tool_man, MT_OCI_MANIFEST);
	tb_image(&t, REPO_NEW, "1.0", &im2.tool_man, MT_OCI_MANIFEST);
	tb_blob(&t, &im2.tool_man);
	tb_blob(&t, &im2.tool_cfg);
	tb_write(&t, path, "2.0.0");
	assert_load_fails(f, path, BARGE_ENOTFOUND, im2.tool_layer.digest);
	assert_load_fails(f, path, BARGE_ENOTFOUND, "image " REPO_APP);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_path_traversal(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "evil.tar.zst");
	char *meta, *escaped;
	struct images im2;
	struct tb t;

	images_make(&im2, 110);
	tb_next(&t, &im2);
	meta = tb_meta(&t, "2.0.0");
	write_raw_bundle(path, meta, "blobs/../../../evil");
	assert_load_fails(f, path, BARGE_EFORMAT, "\"..\"");
	/* Nothing was written outside the store, nor anywhere above it. */
	escaped = path_in(f, "evil");
	assert_int_not_equal(access(escaped, F_OK), 0);
	assert_int_not_equal(access("/tmp/evil", F_OK), 0);
	write_raw_bundle(path, meta, "/abs/evil");
	assert_load_fails(f, path, BARGE_EFORMAT, "absolute path");
	free(escaped);
	free(meta);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_truncated(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "truncated.tar.zst");
	struct images im2;
	struct stat st;
	struct tb t;

	images_make(&im2, 120);
	tb_next(&t, &im2);
	t.ent[t.nent++] = &im2.layer_amd64;
	json_array_append_new(t.blobs, json_pack("{s:s, s:I}", "digest", im2.layer_amd64.digest,
	                                         "size", (json_int_t)im2.layer_amd64.len));
	tb_write(&t, path, "2.0.0");
	assert_int_equal(stat(path, &st), 0);
	/* Cut inside the last layer: every earlier entry is whole. */
	assert_int_equal(truncate(path, st.st_size - 5000), 0);
	assert_load_fails(f, path, BARGE_EFORMAT, "truncated");
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_schema_version(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "schema2.tar.zst");
	struct images im2;
	struct tb t;

	images_make(&im2, 130);
	tb_next(&t, &im2);
	t.schema = 2;
	tb_write(&t, path, "2.0.0");
	assert_load_fails(f, path, BARGE_EFORMAT, "schemaVersion");
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_entry_out_of_order(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "order.tar.zst");
	struct images im2;
	struct tb t;

	images_make(&im2, 140);
	tb_next(&t, &im2);
	tb_write_as(&t, path, "2.0.0", "barge.json", "oci-layout");
	assert_load_fails(f, path, BARGE_EFORMAT, "entry \"oci-layout\" out of place");
	tb_write_as(&t, path, "2.0.0", "barge.json", "README.md");
	assert_load_fails(f, path, BARGE_EFORMAT, "unexpected entry \"README.md\"");
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_links_and_devices(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "links.tar.zst");
	struct images im2;
	char name[160];
	char *meta;
	struct tb t;

	images_make(&im2, 150);
	tb_next(&t, &im2);
	meta = tb_meta(&t, "2.0.0");
	entry_name(&im2.tool_layer, name, sizeof(name));
	write_raw_typed(path, meta, name, AE_IFLNK, NULL);
	assert_load_fails(f, path, BARGE_EFORMAT, "symbolic link not allowed");
	write_raw_typed(path, meta, name, AE_IFREG, "barge.json");
	assert_load_fails(f, path, BARGE_EFORMAT, "hard link not allowed");
	write_raw_typed(path, meta, name, AE_IFCHR, NULL);
	assert_load_fails(f, path, BARGE_EFORMAT, "device not allowed");
	write_raw_typed(path, meta, "blobs/sha256", AE_IFDIR, NULL);
	assert_load_fails(f, path, BARGE_EFORMAT, "directory not allowed");
	write_raw_typed(path, meta, name, AE_IFIFO, NULL);
	assert_load_fails(f, path, BARGE_EFORMAT, "fifo not allowed");
	free(meta);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_duplicate_entry(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "dup.tar.zst");
	struct wopts o = { .dup_last = 1 };
	struct images im2;
	char name[160];
	struct tb t;

	images_make(&im2, 160);
	tb_next(&t, &im2);
	tb_write_opts(&t, path, "2.0.0", &o);
	entry_name(&im2.tool_layer, name, sizeof(name));
	assert_load_fails(f, path, BARGE_EFORMAT, "appears twice");
	assert_load_fails(f, path, BARGE_EFORMAT, name);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_bad_meta_huge_or_malformed(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "meta.tar.zst");
	int fd;

	/* One byte over the bound: refused from its header, before it is read. */
	assert_true((fd = open("/dev/zero", O_RDONLY)) >= 0);
	write_meta_only(path, fd, (int64_t)BUNDLE_META_MAX + 1, NULL);
	close(fd);
	assert_load_fails(f, path, BARGE_ELIMIT, "more than the limit");
	write_meta_only(path, -1, 0, "{\"schemaVersion\": 1, \"name\": ");
	assert_load_fails(f, path, BARGE_EFORMAT, "barge.json");
	write_meta_only(path, -1, 0, "[1, 2, 3]");
	assert_load_fails(f, path, BARGE_EFORMAT, "barge.json");
	write_meta_only(path, -1, 0, "{\"schemaVersion\": 1}");
	assert_load_fails(f, path, BARGE_EFORMAT, "barge.json");
	free(path);
}

static void
test_bad_corrupt_zstd(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "corrupt.tar.zst");
	struct images im2;
	struct stat st;
	unsigned char c;
	struct tb t;
	int fd;

	images_make(&im2, 170);
	tb_next(&t, &im2);
	t.ent[t.nent++] = &im2.layer_amd64;
	json_array_append_new(t.blobs, json_pack("{s:s, s:I}", "digest", im2.layer_amd64.digest,
	                                         "size", (json_int_t)im2.layer_amd64.len));
	tb_write(&t, path, "2.0.0");
	assert_int_equal(stat(path, &st), 0);
	/* One byte flipped in the middle of the last layer's compressed bytes. */
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pread(fd, &c, 1, st.st_size - 50000), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, st.st_size - 50000), 1);
	close(fd);
	assert_load_fails(f, path, BARGE_EFORMAT, "zstd");
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_reload_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct loader_result res1, res2;
	char *before, *after;
	struct tb t;
	char *path = path_in(f, "demo-1.0.0.tar.zst");

	tb_good(&t, &f->im);
	tb_write(&t, path, "1.0.0");
	load_ok(f, path, &res1);
	assert_false(res1.reloaded);
	assert_int_equal(res1.tags, 2);
	before = snapshot(f);
	load_ok(f, path, &res2);
	after = snapshot(f);
	assert_string_equal(after, before);
	assert_true(res2.reloaded);
	assert_int_equal(res2.bundle_id, res1.bundle_id);
	assert_int_equal(res2.blobs_new, 0);
	assert_int_equal(res2.bytes_new, 0);
	assert_int_equal(res2.blobs_present, 11);
	free(before);
	free(after);
	tb_free(&t);
	free(path);
}

/* A key pair made in the fixture's directory; *pub receives the public half. */
static struct sign_key *
key_make(struct fixture *f, const char *name, struct sign_key **pub)
{
	struct sign_key *k = NULL;
	struct barge_err err;
	char keyid[DIGEST_STR_MAX];
	char *prefix = path_in(f, name), *p;

	if (sign_keygen(prefix, keyid, &err) != BARGE_OK)
		fail_msg("keygen: %s", err.msg);
	p = fu_printf("%s.key", prefix);
	assert_int_equal(sign_key_load_private(p, &k, &err), BARGE_OK);
	free(p);
	p = fu_printf("%s.pub", prefix);
	assert_int_equal(sign_key_load_public(p, pub, &err), BARGE_OK);
	free(p);
	assert_string_equal(sign_key_id(k), keyid);
	free(prefix);
	return k;
}

static void
load_opts_ok(struct fixture *f, const char *path, const struct loader_opts *o,
             struct loader_result *res)
{
	struct bundle_reader *r = NULL;
	struct barge_err err;
	int rc;

	rc = bundle_reader_open(path, &r, &err);
	if (rc == BARGE_OK)
		rc = loader_load_reader(f->s, r, path, o, res, &err);
	bundle_reader_free(r);
	if (rc != BARGE_OK)
		fail_msg("load %s: %s", path, err.msg);
}

static void
test_load_signed_bundle(void **state)
{
	struct fixture *f = *state;
	struct sign_key *pub = NULL, *key = key_make(f, "ci", &pub);
	struct loader_opts o = { .keys = &pub, .nkeys = 1, .require_signature = 1 };
	struct loader_opts none = { 0 };
	struct wopts w = { .key = key };
	struct loader_result res;
	struct tb t;
	char *path = path_in(f, "signed.tar.zst"), *want;

	tb_good(&t, &f->im);
	tb_write_opts(&t, path, "1.0.0", &w);
	load_opts_ok(f, path, &o, &res);
	assert_true(res.verified);
	assert_string_equal(res.signer, sign_key_id(key));
	assert_int_equal(res.blobs_new, 11);
	assert_tag(f->s, REPO_APP, "1.0", &f->im.index, MT_OCI_INDEX);
	/* The store keeps who signed it and where it was read, for the operator's pages. */
	want = fu_printf("%s", sign_key_id(key));
	assert_bundle_origin(f, want, path);
	free(want);
	/* Without keys the signature can not be checked, only named; a reload says so. */
	none.source = "upload (PUT /api/v1/bundles)";
	load_opts_ok(f, path, &none, &res);
	assert_false(res.verified);
	assert_string_equal(res.signer, sign_key_id(key));
	want = fu_printf("%s (not verified)", sign_key_id(key));
	assert_bundle_origin(f, want, "upload (PUT /api/v1/bundles)");
	free(want);
	tb_free(&t);
	free(path);
	sign_key_free(key);
	sign_key_free(pub);
}

/* Whether the store's tmp/ is empty and none of im2's blobs is stored. */
static void
assert_nothing_written(struct fixture *f, const struct images *im2)
{
	char *tmp = fu_printf("%s/tmp", f->store_dir);
	struct dirent *de;
	DIR *d;

	assert_false(store_blob_exists(f->s, im2->tool_man.digest));
	assert_false(store_blob_exists(f->s, im2->tool_cfg.digest));
	assert_false(store_blob_exists(f->s, im2->tool_layer.digest));
	assert_non_null(d = opendir(tmp));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			fail_msg("%s left in tmp/", de->d_name);
	closedir(d);
	free(tmp);
}

static void
test_signature_policy(void **state)
{
	struct fixture *f = *state;
	struct sign_key *pub = NULL, *key = key_make(f, "ci", &pub);
	struct sign_key *other_pub = NULL, *other = key_make(f, "other", &other_pub);
	struct loader_opts req = { .keys = &pub, .nkeys = 1, .require_signature = 1 };
	struct loader_opts keys_only = { .keys = &pub, .nkeys = 1 };
	struct loader_opts req_nokeys = { .require_signature = 1 };
	struct wopts unsigned_w = { 0 }, other_w = { .key = other },
	             tampered_w = { .key = key, .tamper = 1 };
	struct images im2;
	struct tb t;
	char *path = path_in(f, "next.tar.zst");

	images_make(&im2, 180);
	tb_next(&t, &im2);
	tb_write_opts(&t, path, "2.0.0", &unsigned_w);
	assert_load_fails_opts(f, path, &req, BARGE_EAUTH, "not signed");
	assert_nothing_written(f, &im2);
	assert_load_fails_opts(f, path, &req_nokeys, BARGE_EAUTH, "not signed");
	tb_write_opts(&t, path, "2.0.0", &other_w);
	assert_load_fails_opts(f, path, &req, BARGE_EAUTH, "not trusted");
	/* Trusted keys configured: a signature is checked even when not required. */
	assert_load_fails_opts(f, path, &keys_only, BARGE_EAUTH, sign_key_id(other));
	assert_load_fails_opts(f, path, &req_nokeys, BARGE_EAUTH, "no trusted key");
	tb_write_opts(&t, path, "2.0.0", &tampered_w);
	assert_load_fails_opts(f, path, &req, BARGE_EAUTH, "does not match");
	assert_load_fails_opts(f, path, &keys_only, BARGE_EAUTH, "does not match");
	assert_nothing_written(f, &im2);
	tb_free(&t);
	images_free(&im2);
	free(path);
	sign_key_free(key);
	sign_key_free(pub);
	sign_key_free(other);
	sign_key_free(other_pub);
}

/*
 * Writes t as tb_write does, with barge.json's platforms p1 and p2 (NULL:
 * only p1) instead of the builder's linux/amd64 and linux/arm64.
 */
static void
tb_write_platforms(struct tb *t, const char *path, const char *version, const char *p1,
                   const char *p2)
{
	struct bundle_writer_opts opts = { .level = 1, .threads = 1, .mtime = 0 };
	struct bundle_writer *w = NULL;
	struct barge_err err;
	char *meta = tb_meta(t, version), *out, name[160];
	json_t *j = json_loads(meta, 0, NULL);
	size_t i;

	assert_non_null(j);
	json_object_set_new(j, "platforms",
	                    p2 != NULL ? json_pack("[s, s]", p1, p2) : json_pack("[s]", p1));
	assert_non_null(out = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS));
	assert_int_equal(bundle_writer_open(path, &opts, &w, &err), BARGE_OK);
	assert_int_equal(bundle_writer_add_buf(w, "barge.json", out, strlen(out), &err), BARGE_OK);
	for (i = 0; i < t->nent; i++) {
		entry_name(t->ent[i], name, sizeof(name));
		assert_int_equal(
		        bundle_writer_add_buf(w, name, t->ent[i]->data, t->ent[i]->len, &err),
		        BARGE_OK);
	}
	assert_int_equal(bundle_writer_close(w, &err), BARGE_OK);
	bundle_writer_free(w);
	json_decref(j);
	free(out);
	free(meta);
}

/* An index must be whole for every platform of barge.json, not only for one. */
static void
test_index_needs_every_platform(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "partial.tar.zst");
	struct loader_result res;
	struct images im2;
	struct tb t;

	/* Chosen: amd64 and arm64 (the builder's); the bundle brings amd64 only. */
	images_make(&im2, 200);
	tb_init(&t);
	tb_image(&t, REPO_APP, "1.0", &im2.index, MT_OCI_INDEX);
	tb_image(&t, REPO_NEW, "1.0", &im2.index, MT_OCI_INDEX);
	tb_blob(&t, &im2.index);
	tb_blob(&t, &im2.man_amd64);
	tb_blob(&t, &im2.cfg_amd64);
	tb_blob(&t, &im2.layer_shared);
	tb_blob(&t, &im2.layer_amd64);
	tb_write(&t, path, "2.0.0");
	assert_load_fails(f, path, BARGE_ENOTFOUND, "for platform linux/arm64 is neither");
	assert_load_fails(f, path, BARGE_ENOTFOUND, "image " REPO_APP ": index");
	assert_load_fails(f, path, BARGE_ENOTFOUND, im2.index.digest);
	assert_load_fails(f, path, BARGE_ENOTFOUND, im2.man_arm64.digest);
	/* A platform the index does not offer at all. */
	tb_write_platforms(&t, path, "2.0.0", "linux/amd64", "linux/s390x");
	assert_load_fails(f, path, BARGE_ENOTFOUND, "has no manifest for platform linux/s390x");
	/* amd64 alone chosen: the same bundle loads, arm64 left out of the sparse index. */
	tb_write_platforms(&t, path, "2.0.0", "linux/amd64", NULL);
	load_ok(f, path, &res);
	assert_tag(f->s, REPO_APP, "1.0", &im2.index, MT_OCI_INDEX);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

/* Compresses into a file as it goes, with frame checksums as bundles have. */
struct zw {
	ZSTD_CCtx *cc;
	FILE *f;
};

static void
zw_put(struct zw *z, const void *p, size_t n, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { p, n, 0 };
	unsigned char out[65536];
	ZSTD_outBuffer o;
	size_t left;

	do {
		o = (ZSTD_outBuffer){ out, sizeof(out), 0 };
		left = ZSTD_compressStream2(z->cc, &o, &in, end);
		assert_false(ZSTD_isError(left));
		assert_int_equal(fwrite(out, 1, o.pos, z->f), o.pos);
	} while (in.pos < in.size || (end == ZSTD_e_end && left != 0));
}

/* A ustar header block: a regular file ('0') or a pax extended header ('x'). */
static void
tar_header(unsigned char *h, const char *name, int64_t size, char type)
{
	char num[32];
	unsigned sum = 0;
	size_t i;

	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	snprintf(num, sizeof(num), "%011llo", (unsigned long long)size & 077777777777ULL);
	memcpy(h + 124, num, 12);
	memcpy(h + 136, "00000000000", 12);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

/* Appends "LEN key=value\n", LEN counting itself, to a pax header body. */
static void
pax_record(char *buf, size_t cap, const char *key, const char *value)
{
	size_t body = strlen(key) + strlen(value) + 3, n = body + 1;

	while (snprintf(NULL, 0, "%zu", n) + body != n)
		n++;
	snprintf(buf + strlen(buf), cap - strlen(buf), "%zu %s=%s\n", n, key, value);
}

/*
 * A bundle by hand: barge.json (meta), then the entry of blob b, whose pax
 * header declares b->len bytes (GNU.sparse.realsize, with an empty sparse
 * map) while it carries `carried` bytes of zeros.  libarchive reports the
 * declared size and delivers every byte carried.
 */
static void
write_oversized(const char *path, const char *meta, const struct blob *b, int64_t carried)
{
	static const unsigned char zeros[65536];
	unsigned char h[512];
	char pax[1024] = "", size[32], name[160];
	struct zw z;
	int64_t left;

	entry_name(b, name, sizeof(name));
	assert_non_null(z.f = fopen(path, "wb"));
	assert_non_null(z.cc = ZSTD_createCCtx());
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(z.cc, ZSTD_c_checksumFlag, 1)));
	tar_header(h, "barge.json", (int64_t)strlen(meta), '0');
	zw_put(&z, h, 512, ZSTD_e_continue);
	zw_put(&z, meta, strlen(meta), ZSTD_e_continue);
	zw_put(&z, zeros, (512 - strlen(meta) % 512) % 512, ZSTD_e_continue);
	snprintf(size, sizeof(size), "%zu", b->len);
	pax_record(pax, sizeof(pax), "GNU.sparse.major", "1");
	pax_record(pax, sizeof(pax), "GNU.sparse.minor", "0");
	pax_record(pax, sizeof(pax), "GNU.sparse.name", name);
	pax_record(pax, sizeof(pax), "GNU.sparse.realsize", size);
	tar_header(h, "PaxHeaders/blob", (int64_t)strlen(pax), 'x');
	zw_put(&z, h, 512, ZSTD_e_continue);
	zw_put(&z, pax, strlen(pax), ZSTD_e_continue);
	zw_put(&z, zeros, (512 - strlen(pax) % 512) % 512, ZSTD_e_continue);
	tar_header(h, name, carried, '0');
	zw_put(&z, h, 512, ZSTD_e_continue);
	/* The sparse map: no entries. */
	zw_put(&z, "0\n", 2, ZSTD_e_continue);
	for (left = carried - 2; left > 0; left -= (int64_t)sizeof(zeros))
		zw_put(&z, zeros, left < (int64_t)sizeof(zeros) ? (size_t)left : sizeof(zeros),
		       ZSTD_e_continue);
	zw_put(&z, zeros, 1024 + (512 - (size_t)(carried % 512)) % 512, ZSTD_e_end);
	ZSTD_freeCCtx(z.cc);
	assert_int_equal(fclose(z.f), 0);
}

/*
 * No entry is read past the size barge.json declares: not into tmp/ for a
 * new blob, not through the hash for one the store holds.  The only way a
 * tar entry carries more than its header says is a GNU sparse pax header,
 * which the bundle reader now refuses before the loader sees a byte (the
 * loader's own bound stays, in depth); the guarantees checked are the same:
 * the entry named, nothing written past the bound, tmp/ left empty.
 */
static void
test_entry_longer_than_declared(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "oversized.tar.zst"), *meta, *tmp;
	struct rlimit saved, small;
	struct images im2;
	struct blob kib;
	char name[160];
	struct tb t;
	struct stat st;

	/* A new 1 KiB blob, carried as 64 MiB of zeros (a bundle of about 3 KB). */
	images_make(&im2, 210);
	layer_make(&kib, 211, 1024);
	tb_next(&t, &im2);
	tb_blob(&t, &kib);
	meta = tb_meta(&t, "2.0.0");
	write_oversized(path, meta, &kib, 64 << 20);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size < 100000);
	entry_name(&kib, name, sizeof(name));
	assert_load_fails(f, path, BARGE_EFORMAT, name);
	assert_load_fails(f, path, BARGE_EFORMAT, "sparse file (pax keyword");
	/* Under a 1 MiB file size limit: a write past the bound would fail otherwise. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = 1 << 20;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_load_fails(f, path, BARGE_EFORMAT, "sparse file (pax keyword");
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, SIG_DFL);
	tmp = fu_printf("%s/tmp", f->store_dir);
	assert_int_equal(rmdir(tmp), 0); /* empty */
	assert_int_equal(mkdir(tmp, 0755), 0);
	free(meta);
	tb_free(&t);

	/* A blob the store holds (the good bundle's), carried past its size. */
	tb_next(&t, &im2);
	tb_blob(&t, &f->im.tool_cfg);
	meta = tb_meta(&t, "2.0.0");
	write_oversized(path, meta, &f->im.tool_cfg, 64 << 20);
	assert_load_fails(f, path, BARGE_EFORMAT, "sparse file (pax keyword");
	free(meta);
	free(tmp);
	free(kib.data);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

/* The tag moves a load reported, copied out of the callback. */
struct moves {
	size_t n;
	struct {
		char repo[256], tag[128], new_digest[DIGEST_STR_MAX];
		struct loader_tag_move m;
	} v[4];
};

static void
record_move(void *arg, const struct loader_tag_move *m)
{
	struct moves *mv = arg;

	assert_true(mv->n < 4);
	snprintf(mv->v[mv->n].repo, sizeof(mv->v[mv->n].repo), "%s", m->repository);
	snprintf(mv->v[mv->n].tag, sizeof(mv->v[mv->n].tag), "%s", m->tag);
	snprintf(mv->v[mv->n].new_digest, sizeof(mv->v[mv->n].new_digest), "%s", m->new_digest);
	mv->v[mv->n].m = *m;
	mv->n++;
}

/* Loads the good bundle (demo 1.0.0: app:1.0 is its index) and writes tb_next's. */
static void
tags_setup(struct fixture *f, struct images *im2, struct tb *t, const char *path)
{
	struct loader_result res;
	char *good = path_in(f, "good.tar.zst");
	struct tb g;

	tb_good(&g, &f->im);
	tb_write(&g, good, "1.0.0");
	tb_free(&g);
	load_ok(f, good, &res);
	free(good);
	images_make(im2, 230);
	tb_next(t, im2);
	tb_write(t, path, "2.0.0");
}

/* A later bundle moving app:1.0 says so: old and new digest, and who set it. */
static void
test_tag_move_reported(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "next.tar.zst");
	struct moves got = { 0 };
	struct loader_opts o = { .tag_moved = record_move, .tag_moved_arg = &got };
	struct loader_result res;
	struct images im2;
	struct tb t;

	tags_setup(f, &im2, &t, path);
	load_opts_ok(f, path, &o, &res);
	assert_int_equal(res.tags, 2);
	assert_int_equal(res.tags_moved, 1);
	assert_int_equal(res.tags_kept, 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.v[0].repo, REPO_APP);
	assert_string_equal(got.v[0].tag, "1.0");
	assert_string_equal(got.v[0].m.old_digest, f->im.index.digest);
	assert_string_equal(got.v[0].new_digest, im2.tool_man.digest);
	assert_string_equal(got.v[0].m.old_name, "demo");
	assert_string_equal(got.v[0].m.old_version, "1.0.0");
	assert_false(got.v[0].m.kept);
	assert_tag(f->s, REPO_APP, "1.0", &im2.tool_man, MT_OCI_MANIFEST);
	/* Loaded again, it moves nothing. */
	got.n = 0;
	load_opts_ok(f, path, &o, &res);
	assert_int_equal(got.n, 0);
	assert_int_equal(res.tags_moved, 0);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_tag_policy_keep(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "next.tar.zst");
	struct moves got = { 0 };
	struct loader_opts o = { .tags = LOADER_TAGS_KEEP,
		                 .tag_moved = record_move,
		                 .tag_moved_arg = &got };
	struct loader_result res;
	struct store_manifest m;
	struct barge_err err;
	struct images im2;
	struct tb t;

	tags_setup(f, &im2, &t, path);
	load_opts_ok(f, path, &o, &res);
	assert_int_equal(res.tags, 1);
	assert_int_equal(res.tags_kept, 1);
	assert_int_equal(got.n, 1);
	assert_true(got.v[0].m.kept);
	assert_string_equal(got.v[0].m.old_digest, f->im.index.digest);
	/* app:1.0 stays; the new image is in app by digest; the new tag is set. */
	assert_tag(f->s, REPO_APP, "1.0", &f->im.index, MT_OCI_INDEX);
	assert_int_equal(store_get_manifest(f->s, REPO_APP, im2.tool_man.digest, &m, &err),
	                 BARGE_OK);
	assert_tag(f->s, REPO_NEW, "1.0", &im2.tool_man, MT_OCI_MANIFEST);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static void
test_tag_policy_refuse(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "next.tar.zst");
	struct loader_opts o = { .tags = LOADER_TAGS_REFUSE };
	struct images im2;
	struct tb t;

	tags_setup(f, &im2, &t, path);
	assert_load_fails_opts(f, path, &o, BARGE_EEXIST, "would move tag " REPO_APP ":1.0");
	assert_load_fails_opts(f, path, &o, BARGE_EEXIST, "(set by bundle demo 1.0.0)");
	assert_load_fails_opts(f, path, &o, BARGE_EEXIST, f->im.index.digest);
	assert_load_fails_opts(f, path, &o, BARGE_EEXIST, im2.tool_man.digest);
	/* Refused before any blob was written. */
	assert_nothing_written(f, &im2);
	tb_free(&t);
	images_free(&im2);
	free(path);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_load_good_bundle, setup, teardown),
	cmocka_unit_test_setup_teardown(test_load_twice_dedups, setup, teardown),
	cmocka_unit_test_setup_teardown(test_load_sparse_index, setup, teardown),
	cmocka_unit_test_setup_teardown(test_load_delta_requires_base, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_not_a_bundle, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_first_entry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_digest_mismatch, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_blob_missing, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_unlisted_entry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_size_mismatch, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_layer_absent, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_path_traversal, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_truncated, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_schema_version, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_entry_out_of_order, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_links_and_devices, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_duplicate_entry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_meta_huge_or_malformed, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_corrupt_zstd, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reload_changes_nothing, setup, teardown),
	cmocka_unit_test_setup_teardown(test_load_signed_bundle, setup, teardown),
	cmocka_unit_test_setup_teardown(test_signature_policy, setup, teardown),
	cmocka_unit_test_setup_teardown(test_index_needs_every_platform, setup, teardown),
	cmocka_unit_test_setup_teardown(test_entry_longer_than_declared, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tag_move_reported, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tag_policy_keep, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tag_policy_refuse, setup, teardown),
};

BARGE_TEST_MAIN(tests)
