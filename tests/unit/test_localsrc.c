#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fetch.h"
#include "fixture.h"
#include "localsrc.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define NAMED_INDEX                                                                      \
	"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_MANIFEST              \
	"\",\"digest\":\"%s\","                                                          \
	"\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"0.1.0\"," \
	"\"io.containerd.image.name\":\"localhost/barged:0.1.0\"}}]}"
#define UNNAMED_INDEX                                                       \
	"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_MANIFEST \
	"\",\"digest\":\"%s\","                                             \
	"\"size\":%zu}]}"

/* A layout of one image (config, one layer, manifest), as a directory and as an archive. */
struct layout {
	char dir[FX_DIR_MAX];
	char *oci;     /* "oci:<dir>/layout" */
	char *archive; /* "oci-archive:<dir>/image.tar" */
	char layer[DIGEST_STR_MAX], config[DIGEST_STR_MAX], manifest[DIGEST_STR_MAX];
	char *manifest_json;
	char layer_bytes[3000];
};

static void
sha(const void *buf, size_t len, char *out)
{
	struct barge_err err;

	assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, out, &err), BARGE_OK);
}

static void
tar_add(struct archive *a, const char *name, const void *buf, size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, buf, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* Both forms of a layout; its index.json names the image 0.1.0 when named. */
static void
layout_make(struct layout *l, int named)
{
	static const char config[] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
	char index[1024], name[256], *path, *p;
	struct archive *a;
	size_t i;

	memset(l, 0, sizeof(*l));
	fx_tmpdir(l->dir, "localsrc");
	for (i = 0; i < sizeof(l->layer_bytes); i++)
		l->layer_bytes[i] = (char)(i * 7);
	sha(l->layer_bytes, sizeof(l->layer_bytes), l->layer);
	sha(config, strlen(config), l->config);
	assert_true(asprintf(&l->manifest_json,
	                     "{\"schemaVersion\":2,\"mediaType\":\"" MT_MANIFEST "\","
	                     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+"
	                     "json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	                     "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
	                     "\"size\":%zu}]}",
	                     l->config, strlen(config), l->layer, sizeof(l->layer_bytes)) > 0);
	sha(l->manifest_json, strlen(l->manifest_json), l->manifest);
	if (named)
		snprintf(index, sizeof(index), NAMED_INDEX, l->manifest, strlen(l->manifest_json));
	else
		snprintf(index, sizeof(index), UNNAMED_INDEX, l->manifest,
		         strlen(l->manifest_json));

	path = fx_path(l->dir, "layout");
	assert_true(asprintf(&l->oci, "oci:%s", path) > 0);
	p = fx_path(l->dir, "image.tar");
	assert_true(asprintf(&l->archive, "oci-archive:%s", p) > 0);
	a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
	free(p);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(name, sizeof(name), "%s/blobs", path);
	assert_int_equal(mkdir(name, 0755), 0);
	snprintf(name, sizeof(name), "%s/blobs/sha256", path);
	assert_int_equal(mkdir(name, 0755), 0);
	{
		const struct {
			const char *name;
			const char *buf;
			size_t len;
		} files[] = {
			{ "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30 },
			{ "index.json", index, strlen(index) },
			{ l->manifest, l->manifest_json, strlen(l->manifest_json) },
			{ l->config, config, strlen(config) },
			{ l->layer, l->layer_bytes, sizeof(l->layer_bytes) },
		};
		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			if (strncmp(files[i].name, "sha256:", 7) == 0)
				snprintf(name, sizeof(name), "blobs/sha256/%s", files[i].name + 7);
			else
				snprintf(name, sizeof(name), "%s", files[i].name);
			p = fx_path(path, name);
			fx_write(p, files[i].buf, files[i].len);
			free(p);
			tar_add(a, name, files[i].buf, files[i].len);
		}
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(path);
}

static void
layout_free(struct layout *l)
{
	fx_rmtree(l->dir);
	free(l->oci);
	free(l->archive);
	free(l->manifest_json);
}

static struct ref *
ref(const char *s)
{
	struct barge_err err;
	struct ref *r = NULL;

	assert_int_equal(ref_parse(s, &r, &err), BARGE_OK);
	return r;
}

/* The manifest named by its tag comes out of both forms with its bytes, digest and type. */
static void
test_manifest_both_forms(void **state)
{
	const char *forms[2];
	struct client_manifest cm;
	struct barge_err err;
	struct layout l;
	struct ref *r = ref("localhost/barged:0.1.0");
	size_t i;

	(void)state;
	layout_make(&l, 1);
	forms[0] = l.oci;
	forms[1] = l.archive;
	for (i = 0; i < 2; i++) {
		if (localsrc_manifest(forms[i], r, &cm, &err) != BARGE_OK)
			fail_msg("%s: %s", forms[i], err.msg);
		assert_string_equal(cm.digest, l.manifest);
		assert_string_equal(cm.media_type, MT_MANIFEST);
		assert_int_equal(cm.len, strlen(l.manifest_json));
		assert_memory_equal(cm.buf, l.manifest_json, cm.len);
		client_manifest_clear(&cm);
	}
	ref_free(r);
	layout_free(&l);
}

/* A layer streams out of both forms, byte for byte, and into the blob cache. */
static void
test_copy_and_cache(void **state)
{
	const char *forms[2];
	char *out, *cache, *cached, *got;
	struct barge_err err;
	struct layout l;
	size_t i, len;
	int fd;

	(void)state;
	layout_make(&l, 1);
	forms[0] = l.oci;
	forms[1] = l.archive;
	out = fx_path(l.dir, "out");
	cache = fx_path(l.dir, "cache");
	for (i = 0; i < 2; i++) {
		fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		if (localsrc_copy(forms[i], l.layer, sizeof(l.layer_bytes), fd, &err) != BARGE_OK)
			fail_msg("%s: %s", forms[i], err.msg);
		close(fd);
		got = fx_read(out, &len);
		assert_int_equal(len, sizeof(l.layer_bytes));
		assert_memory_equal(got, l.layer_bytes, len);
		free(got);
	}
	assert_int_equal(fetch_cache_init(cache, &err), BARGE_OK);
	cached = fetch_cache_path(cache, l.layer);
	/* A damaged copy in the cache is replaced by the good one. */
	fx_write(cached, "garbage", 7);
	if (localsrc_cache(l.archive, l.layer, sizeof(l.layer_bytes), cache, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	got = fx_read(cached, &len);
	assert_int_equal(len, sizeof(l.layer_bytes));
	assert_memory_equal(got, l.layer_bytes, len);
	free(got);
	assert_int_equal(fetch_cache_open(cache, l.layer, sizeof(l.layer_bytes), &fd, &err),
	                 BARGE_OK);
	close(fd);
	free(cached);
	free(out);
	free(cache);
	layout_free(&l);
}

/* Which entry a reference picks: its tag, the full name, its digest, or the only unnamed one. */
static void
test_picking(void **state)
{
	struct client_manifest cm;
	struct barge_err err;
	struct layout l;
	struct ref *r;
	char *s;

	(void)state;
	layout_make(&l, 1);
	r = ref("localhost/barged:0.2.0");
	assert_int_equal(localsrc_manifest(l.archive, r, &cm, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "image.tar: index.json names no image "
	                                "localhost/barged:0.2.0 (it names: 0.1.0)"));
	ref_free(r);
	assert_true(asprintf(&s, "localhost/barged@%s", l.manifest) > 0);
	r = ref(s);
	free(s);
	assert_int_equal(localsrc_manifest(l.oci, r, &cm, &err), BARGE_OK);
	assert_string_equal(cm.digest, l.manifest);
	client_manifest_clear(&cm);
	ref_free(r);
	layout_free(&l);

	/* skopeo's oci-archive:FILE without a name: one entry, named nothing. */
	layout_make(&l, 0);
	r = ref("localhost/anything:7");
	assert_int_equal(localsrc_manifest(l.archive, r, &cm, &err), BARGE_OK);
	assert_string_equal(cm.digest, l.manifest);
	client_manifest_clear(&cm);
	ref_free(r);
	layout_free(&l);
}

/* Refusals name the file and what is wrong with it. */
static void
test_refusals(void **state)
{
	struct client_manifest cm;
	struct barge_err err;
	struct layout l;
	struct ref *r = ref("localhost/barged:0.1.0");
	char *p, *s, *blob;
	int fd;

	(void)state;
	layout_make(&l, 1);
	assert_int_equal(localsrc_manifest("oci-archive:/nonexistent/x.tar", r, &cm, &err),
	                 BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/x.tar"));

	/* A directory named as an archive, and the other way round. */
	assert_true(asprintf(&s, "oci-archive:%s", l.oci + 4) > 0);
	assert_int_equal(localsrc_manifest(s, r, &cm, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "is a directory: name it oci:DIRECTORY"));
	free(s);
	assert_true(asprintf(&s, "oci:%s", l.archive + 12) > 0);
	assert_int_equal(localsrc_manifest(s, r, &cm, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "is not a directory"));
	free(s);

	/* Not a tar file at all. */
	p = fx_path(l.dir, "junk.tar");
	fx_write(p, "this is not a tar file, not even close to one", 45);
	assert_true(asprintf(&s, "oci-archive:%s", p) > 0);
	assert_int_equal(localsrc_manifest(s, r, &cm, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "junk.tar: not an OCI archive"));
	free(s);
	free(p);

	/* A layout without oci-layout. */
	p = fx_path(l.oci + 4, "oci-layout");
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(localsrc_manifest(l.oci, r, &cm, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "layout: not an OCI image layout (no oci-layout)"));

	/* A blob whose bytes are not its digest's, found on the way out. */
	assert_true(asprintf(&s, "blobs/sha256/%s", l.layer + 7) > 0);
	blob = fx_path(l.oci + 4, s);
	free(s);
	l.layer_bytes[100] ^= 1;
	fx_write(blob, l.layer_bytes, sizeof(l.layer_bytes));
	free(blob);
	p = fx_path(l.dir, "out");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(localsrc_copy(l.oci, l.layer, sizeof(l.layer_bytes), fd, &err),
	                 BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, l.layer + 7));
	/* A size other than the one asked for. */
	assert_int_equal(localsrc_copy(l.archive, l.layer, 10, fd, &err), BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, "image.tar: blobs/sha256/"));
	assert_non_null(strstr(err.msg, "is 3000 bytes, expected 10"));
	close(fd);
	free(p);
	ref_free(r);
	layout_free(&l);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_manifest_both_forms),
	cmocka_unit_test(test_copy_and_cache),
	cmocka_unit_test(test_picking),
	cmocka_unit_test(test_refusals),
};

BARGE_TEST_MAIN(tests)
