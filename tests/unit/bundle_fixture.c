/*
 * bundle_fixture: test bundles written with the real bundle writer
 * (bundle_fixture.h), and the broken ones it refuses to write, made with
 * libarchive and zstd directly.  Owns nothing between calls: a struct tb
 * and a struct images belong to the test that made them.
 */
#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "bundle_fixture.h"
#include "bundle_write.h"
#include "fileutil.h"
#include "mediatype.h"

void
blob_set(struct blob *b, const void *data, size_t len)
{
	struct barge_err err;

	b->data = malloc(len > 0 ? len : 1);
	assert_non_null(b->data);
	memcpy(b->data, data, len);
	b->len = len;
	assert_int_equal(digest_buf(DIGEST_SHA256, data, len, b->digest, &err), BARGE_OK);
}

void
layer_make(struct blob *b, uint32_t seed, size_t len)
{
	unsigned char *p = malloc(len);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	blob_set(b, p, len);
	free(p);
}

void
json_blob(struct blob *b, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	blob_set(b, s, strlen(s));
	free(s);
	json_decref(j);
}

json_t *
desc(const char *mt, const struct blob *b)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", b->digest, "size",
	                 (json_int_t)b->len);
}

void
config_make(struct blob *b, const char *arch, const struct blob *layer)
{
	json_blob(b, json_pack("{s:s, s:s, s:{s:s, s:[s]}}", "architecture", arch, "os", "linux",
	                       "rootfs", "type", "layers", "diff_ids", layer->digest));
}

void
manifest_make(struct blob *b, const struct blob *cfg, const struct blob *l1, const struct blob *l2)
{
	json_t *layers = json_array();

	json_array_append_new(layers, desc(MT_OCI_LAYER_GZ, l1));
	if (l2 != NULL)
		json_array_append_new(layers, desc(MT_OCI_LAYER_GZ, l2));
	json_blob(b,
	          json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
	                    MT_OCI_MANIFEST, "config", desc(MT_OCI_CONFIG, cfg), "layers", layers));
}

void
index_make(struct blob *b, const struct blob *m1, const struct blob *m2)
{
	json_t *d1 = desc(MT_OCI_MANIFEST, m1), *d2 = desc(MT_OCI_MANIFEST, m2);

	json_object_set_new(d1, "platform",
	                    json_pack("{s:s, s:s}", "os", "linux", "architecture", "amd64"));
	json_object_set_new(d2, "platform",
	                    json_pack("{s:s, s:s}", "os", "linux", "architecture", "arm64"));
	json_blob(b, json_pack("{s:i, s:s, s:[o, o]}", "schemaVersion", 2, "mediaType",
	                       MT_OCI_INDEX, "manifests", d1, d2));
}

void
images_make(struct images *im, uint32_t seed)
{
	layer_make(&im->layer_amd64, seed + 1, 200000);
	layer_make(&im->layer_arm64, seed + 2, 150000);
	layer_make(&im->layer_shared, seed + 3, 70000);
	config_make(&im->cfg_amd64, "amd64", &im->layer_amd64);
	config_make(&im->cfg_arm64, "arm64", &im->layer_arm64);
	manifest_make(&im->man_amd64, &im->cfg_amd64, &im->layer_shared, &im->layer_amd64);
	manifest_make(&im->man_arm64, &im->cfg_arm64, &im->layer_shared, &im->layer_arm64);
	index_make(&im->index, &im->man_amd64, &im->man_arm64);
	layer_make(&im->tool_layer, seed + 4, 3000);
	config_make(&im->tool_cfg, "amd64", &im->tool_layer);
	manifest_make(&im->tool_man, &im->tool_cfg, &im->tool_layer, NULL);
}

void
images_free(struct images *im)
{
	struct blob *all[] = { &im->layer_amd64, &im->layer_arm64, &im->layer_shared,
		               &im->cfg_amd64,   &im->cfg_arm64,   &im->man_amd64,
		               &im->man_arm64,   &im->index,       &im->tool_layer,
		               &im->tool_cfg,    &im->tool_man };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]->data);
}

void
tb_init(struct tb *t)
{
	memset(t, 0, sizeof(*t));
	t->images = json_array();
	t->blobs = json_array();
	t->requires = json_array();
	t->schema = 1;
}

void
tb_free(struct tb *t)
{
	json_decref(t->images);
	json_decref(t->blobs);
	json_decref(t->requires);
}

void
tb_blob(struct tb *t, const struct blob *b)
{
	assert_true(t->nent < TB_MAX);
	t->ent[t->nent++] = b;
	json_array_append_new(
	        t->blobs, json_pack("{s:s, s:I}", "digest", b->digest, "size", (json_int_t)b->len));
}

void
tb_require(struct tb *t, const struct blob *b)
{
	json_array_append_new(t->requires, json_pack("{s:s, s:I}", "digest", b->digest, "size",
	                                             (json_int_t)b->len));
}

void
tb_image(struct tb *t, const char *repo, const char *tag, const struct blob *top, const char *mt)
{
	json_array_append_new(t->images,
	                      json_pack("{s:s, s:s, s:[s], s:s, s:s}", "repository", repo, "source",
	                                "docker.io/library/x:1.0", "tags", tag, "digest",
	                                top->digest, "mediaType", mt));
}

char *
tb_meta(struct tb *t, const char *version)
{
	json_t *j;
	char *s;

	j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:[s, s], s:O, s:O}", "schemaVersion",
	              t->schema, "name", "demo", "version", version, "created",
	              "2024-01-01T00:00:00Z", "builder", "barge-test", "project", "edge",
	              "platforms", "linux/amd64", "linux/arm64", "images", t->images, "blobs",
	              t->blobs);
	assert_non_null(j);
	if (json_array_size(t->requires) > 0)
		json_object_set(j, "requires", t->requires);
	s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	assert_non_null(s);
	return s;
}

void
entry_name(const struct blob *b, char *out, size_t cap)
{
	snprintf(out, cap, "blobs/sha256/%s", b->digest + strlen("sha256:"));
}

void
tb_write_opts(struct tb *t, const char *path, const char *version, const struct wopts *o)
{
	struct bundle_writer_opts opts = { .level = 1, .threads = 1, .mtime = 0 };
	struct bundle_writer *w = NULL;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct barge_err err;
	char name[160];
	char *meta, *sig = NULL;
	size_t i, siglen;

	meta = tb_meta(t, version);
	assert_int_equal(bundle_writer_open(path, &opts, &w, &err), BARGE_OK);
	assert_int_equal(
	        bundle_writer_add_buf(w, o->first_entry != NULL ? o->first_entry : "barge.json",
	                              meta, strlen(meta), &err),
	        BARGE_OK);
	if (o->key != NULL) {
		if (o->tamper)
			meta[strlen(meta) - 2] ^= 0x20;
		assert_int_equal(sign_make(o->key, meta, strlen(meta), &sig, &siglen, &err),
		                 BARGE_OK);
		assert_int_equal(bundle_writer_add_buf(w, "barge.json.sig", sig, siglen, &err),
		                 BARGE_OK);
		free(sig);
	}
	assert_int_equal(bundle_writer_add_buf(w, "oci-layout", layout, strlen(layout), &err),
	                 BARGE_OK);
	assert_int_equal(bundle_writer_add_buf(w, "index.json", "{}", 2, &err), BARGE_OK);
	for (i = 0; i < t->nent; i++) {
		entry_name(t->ent[i], name, sizeof(name));
		assert_int_equal(
		        bundle_writer_add_buf(w, name, t->ent[i]->data, t->ent[i]->len, &err),
		        BARGE_OK);
	}
	if (o->dup_last) {
		entry_name(t->ent[t->nent - 1], name, sizeof(name));
		assert_int_equal(bundle_writer_add_buf(w, name, t->ent[t->nent - 1]->data,
		                                       t->ent[t->nent - 1]->len, &err),
		                 BARGE_OK);
	}
	if (o->extra != NULL)
		assert_int_equal(bundle_writer_add_buf(w, o->extra, "{}", 2, &err), BARGE_OK);
	assert_int_equal(bundle_writer_close(w, &err), BARGE_OK);
	bundle_writer_free(w);
	free(meta);
}

void
tb_write_as(struct tb *t, const char *path, const char *version, const char *first_entry,
            const char *extra)
{
	struct wopts o = { .first_entry = first_entry, .extra = extra };

	tb_write_opts(t, path, version, &o);
}

void
tb_write(struct tb *t, const char *path, const char *version)
{
	tb_write_as(t, path, version, "barge.json", NULL);
}

void
tb_good(struct tb *t, const struct images *im)
{
	tb_init(t);
	tb_image(t, REPO_APP, "1.0", &im->index, MT_OCI_INDEX);
	tb_image(t, REPO_TOOL, "2.0", &im->tool_man, MT_OCI_MANIFEST);
	tb_blob(t, &im->index);
	tb_blob(t, &im->man_amd64);
	tb_blob(t, &im->man_arm64);
	tb_blob(t, &im->tool_man);
	tb_blob(t, &im->cfg_amd64);
	tb_blob(t, &im->cfg_arm64);
	tb_blob(t, &im->tool_cfg);
	tb_blob(t, &im->layer_shared);
	tb_blob(t, &im->layer_amd64);
	tb_blob(t, &im->layer_arm64);
	tb_blob(t, &im->tool_layer);
}

void
tb_next(struct tb *t, const struct images *im2)
{
	tb_init(t);
	tb_image(t, REPO_APP, "1.0", &im2->tool_man, MT_OCI_MANIFEST);
	tb_image(t, REPO_NEW, "1.0", &im2->tool_man, MT_OCI_MANIFEST);
	tb_blob(t, &im2->tool_man);
	tb_blob(t, &im2->tool_cfg);
	tb_blob(t, &im2->tool_layer);
}

void
write_raw_typed(const char *path, const char *meta, const char *bad_name, unsigned type,
                const char *link)
{
	struct archive_entry *e;
	struct archive *a;
	size_t used = 0, cap = 1 << 20, zlen;
	char *tar = malloc(cap), *z;
	struct barge_err err;
	const char *names[2] = { "barge.json", bad_name };
	const char *bodies[2] = { meta, "evil" };
	int i;
	ZSTD_CCtx *cctx;

	assert_non_null(tar);
	a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, tar, cap, &used), ARCHIVE_OK);
	for (i = 0; i < 2; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, i == 0 ? AE_IFREG : type);
		archive_entry_set_perm(e, 0644);
		if (i == 1 && type == AE_IFLNK)
			archive_entry_set_symlink(e, "/etc/passwd");
		if (i == 1 && type == AE_IFCHR)
			archive_entry_set_rdev(e, 0x0103);
		if (i == 1 && link != NULL)
			archive_entry_set_hardlink(e, link);
		if (i == 0 || (type == AE_IFREG && link == NULL))
			archive_entry_set_size(e, (la_int64_t)strlen(bodies[i]));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (i == 0 || (type == AE_IFREG && link == NULL))
			assert_int_equal(archive_write_data(a, bodies[i], strlen(bodies[i])),
			                 (la_ssize_t)strlen(bodies[i]));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	z = malloc(ZSTD_compressBound(used));
	assert_non_null(z);
	/* With the content checksum every frame of a bundle must carry. */
	assert_non_null(cctx = ZSTD_createCCtx());
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
	zlen = ZSTD_compress2(cctx, z, ZSTD_compressBound(used), tar, used);
	ZSTD_freeCCtx(cctx);
	assert_false(ZSTD_isError(zlen));
	assert_int_equal(fu_write_atomic(path, z, zlen, 0644, &err), BARGE_OK);
	free(z);
	free(tar);
}

void
write_raw_bundle(const char *path, const char *meta, const char *bad_name)
{
	write_raw_typed(path, meta, bad_name, AE_IFREG, NULL);
}

void
write_meta_only(const char *path, int fd, int64_t size, const char *meta)
{
	struct bundle_writer_opts opts = { .level = 1, .threads = 1, .mtime = 0 };
	struct bundle_writer *w = NULL;
	struct barge_err err;

	assert_int_equal(bundle_writer_open(path, &opts, &w, &err), BARGE_OK);
	if (meta != NULL)
		assert_int_equal(bundle_writer_add_buf(w, "barge.json", meta, strlen(meta), &err),
		                 BARGE_OK);
	else
		assert_int_equal(bundle_writer_add_fd(w, "barge.json", fd, size, &err), BARGE_OK);
	assert_int_equal(bundle_writer_close(w, &err), BARGE_OK);
	bundle_writer_free(w);
}
