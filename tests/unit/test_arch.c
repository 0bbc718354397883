/*
 * Tests for load_archive and its format readers (arch_*.c): archives
 * written here with libarchive (members in any order, links, duplicates,
 * oversize metadata) loaded into a real store (store_fixture.h), checking
 * what a user sees: the error naming the member or field, the image served
 * under its name, the manifest digest, and no blob left behind by a
 * refusal or unnamed by a manifest.
 */
#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load_archive.h"
#include "store_fixture.h"

#define MT_OCI_M "application/vnd.oci.image.manifest.v1+json"
#define CFG_TEXT "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"
/* The largest metadata member an archive may have (docs/loading.md). */
#define META_MEMBER_MAX (16 * 1024 * 1024)

/* An archive being written: a tar (plain or zstd) in the fixture's directory. */
struct tw {
	struct archive *a;
	char path[FX_DIR_MAX + 32];
};

static void
tw_open(struct tw *w, const struct fixture *f, int zstd)
{
	snprintf(w->path, sizeof(w->path), "%s/in.tar", f->dir);
	w->a = archive_write_new();
	assert_non_null(w->a);
	assert_int_equal(archive_write_set_format_pax_restricted(w->a), ARCHIVE_OK);
	if (zstd)
		assert_int_equal(archive_write_add_filter_zstd(w->a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(w->a, w->path), ARCHIVE_OK);
}

/* Adds a member: a regular file (link NULL), or a link (symbolic unless hard). */
static void
tw_add(struct tw *w, const char *name, const void *buf, size_t len, const char *link, int hard)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_perm(e, 0644);
	if (link != NULL && hard) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, link);
		archive_entry_set_size(e, 0);
	} else if (link != NULL) {
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, link);
	} else {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)len);
	}
	assert_int_equal(archive_write_header(w->a, e), ARCHIVE_OK);
	if (link == NULL && len > 0)
		assert_int_equal(archive_write_data(w->a, buf, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void
tw_text(struct tw *w, const char *name, const char *text)
{
	tw_add(w, name, text, strlen(text), NULL, 0);
}

/* Adds text as blobs/sha256/<hex> (or "<hex><suffix>" when suffix is given); digest in out. */
static void
tw_blob(struct tw *w, const char *text, const char *suffix, char *out)
{
	char name[DIGEST_STR_MAX + 32];
	struct barge_err err;

	assert_int_equal(digest_buf(DIGEST_SHA256, text, strlen(text), out, &err), BARGE_OK);
	if (suffix != NULL)
		snprintf(name, sizeof(name), "%s%s", out + 7, suffix);
	else
		snprintf(name, sizeof(name), "blobs/sha256/%s", out + 7);
	tw_text(w, name, text);
}

static void
tw_close(struct tw *w)
{
	assert_int_equal(archive_write_close(w->a), ARCHIVE_OK);
	archive_write_free(w->a);
}

/* Loads the archive written; the error in err. */
static int
load(struct fixture *f, struct tw *w, const struct loader_opts *o, struct loader_result *res,
     struct barge_err *err)
{
	int fd = open(w->path, O_RDONLY);

	assert_true(fd >= 0);
	return archload_load_fd(f->s, fd, "in.tar", o, res, err);
}

/* Blobs left in the store's blob tree. */
static int
nblobs(const struct fixture *f)
{
	char path[FX_DIR_MAX + 16];

	snprintf(path, sizeof(path), "%s/blobs", f->dir);
	return fx_count_files(path);
}

/* An OCI image's config, layer and manifest; the manifest's digest and size in md/msize. */
static void
oci_image(struct tw *w, const char *layer_text, char *md, char *mjson, size_t cap)
{
	char cd[DIGEST_STR_MAX], ld[DIGEST_STR_MAX];
	const char *cfg = CFG_TEXT;

	tw_blob(w, cfg, NULL, cd);
	tw_blob(w, layer_text, NULL, ld);
	snprintf(mjson, cap,
	         "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_M "\",\"config\":{\"mediaType\":"
	         "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
	         "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
	         "\"digest\":\"%s\",\"size\":%zu}]}",
	         cd, strlen(cfg), ld, strlen(layer_text));
	tw_blob(w, mjson, NULL, md);
}

/* index.json with one entry for manifest md (mjson), annotations ann (JSON object text). */
static void
oci_index(struct tw *w, const char *name, const char *md, const char *mjson, const char *ann)
{
	char idx[1024];

	snprintf(idx, sizeof(idx),
	         "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI_M "\","
	         "\"digest\":\"%s\",\"size\":%zu,\"annotations\":%s}]}",
	         md, strlen(mjson), ann);
	tw_text(w, name, idx);
}

static void
test_oci_archive_any_order(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX], mj[1024];
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	/* Metadata before and after the blobs, "./" in front as tar writes it. */
	tw_open(&w, f, 0);
	tw_text(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	oci_image(&w, "layer one", md, mj, sizeof(mj));
	oci_index(&w, "./index.json", md, mj,
	          "{\"org.opencontainers.image.ref.name\":\"example.com/team/app:1.0\"}");
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_OK);
	assert_string_equal(res.name, "oci-archive");
	assert_int_equal(res.images, 1);
	assert_int_equal(res.blobs_new, 3);
	assert_true(fx_serves(f->s, "edge/example.com/team/app", "1.0"));
	assert_true(fx_serves(f->s, "edge/example.com/team/app", md));
}

static void
test_zstd_hauler(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX], mj[1024];
	struct loader_opts o = { .project = "site" };
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 1);
	oci_image(&w, "hauled", md, mj, sizeof(mj));
	oci_index(&w, "index.json", md, mj,
	          "{\"kind\":\"dev.cosignproject.cosign/"
	          "image\",\"org.opencontainers.image.ref.name\":"
	          "\"index.docker.io/library/busybox:stable\"}");
	tw_text(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	tw_close(&w);
	assert_int_equal(load(f, &w, &o, &res, &err), BARGE_OK);
	assert_string_equal(res.name, "hauler");
	assert_true(fx_serves(f->s, "site/docker.io/library/busybox", "stable"));
}

static void
test_zarf_lists_missing_image(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX], mj[1024];
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 1);
	tw_text(&w, "zarf.yaml",
	        "kind: ZarfPackageConfig\nmetadata:\n  name: d\ncomponents:\n  - name: a\n"
	        "    images:\n      - example.com/a:1\n      - example.com/b:2\n");
	tw_text(&w, "images/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	oci_image(&w, "zarf layer", md, mj, sizeof(mj));
	oci_index(&w, "images/index.json", md, mj,
	          "{\"org.opencontainers.image.base.name\":\"example.com/a:1\"}");
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "components[0].images[1] \"example.com/b:2\" is not in "
	                                "images/index.json"));
	assert_int_equal(nblobs(f), 0);
	assert_false(fx_serves(f->s, "edge/example.com/a", "1"));
}

/* A docker-archive as skopeo writes it, manifest.json last; md gets the manifest barged builds. */
static void
docker_archive(struct tw *w, const char *repotags, int wrong_diffid, char *md)
{
	char cd[DIGEST_STR_MAX], ld[DIGEST_STR_MAX], cfg[512], m[1024], man[1024], lname[160];
	struct barge_err err;
	const char *layer = "an uncompressed layer tar";

	assert_int_equal(digest_buf(DIGEST_SHA256, layer, strlen(layer), ld, &err), BARGE_OK);
	tw_blob(w, layer, ".tar", ld);
	snprintf(cfg, sizeof(cfg), "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
	         wrong_diffid
	                 ? "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	                 : ld);
	tw_blob(w, cfg, ".json", cd);
	snprintf(lname, sizeof(lname), "../%s.tar", ld + 7);
	tw_add(w, "0123abcd/layer.tar", NULL, 0, lname, 0);
	snprintf(man, sizeof(man),
	         "[{\"Config\":\"%s.json\",\"RepoTags\":%s,\"Layers\":[\"0123abcd/layer.tar\"]}]",
	         cd + 7, repotags);
	tw_text(w, "manifest.json", man);
	snprintf(m, sizeof(m),
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution."
	         "manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container."
	         "image.v1+json\",\"size\":%zu,\"digest\":\"%s\"},\"layers\":[{\"mediaType\":"
	         "\"application/"
	         "vnd.docker.image.rootfs.diff.tar\",\"size\":%zu,\"digest\":\"%s\"}]}",
	         strlen(cfg), cd, strlen(layer), ld);
	assert_int_equal(digest_buf(DIGEST_SHA256, m, strlen(m), md, &err), BARGE_OK);
}

static void
test_docker_archive_manifest(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX];
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 0);
	docker_archive(&w, "[\"reg.local:5000/x/y:1\",\"reg.local:5000/x/y:latest\"]", 0, md);
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_OK);
	assert_string_equal(res.name, "docker-archive");
	assert_int_equal(res.tags, 2);
	assert_true(fx_serves(f->s, "edge/reg.local_5000/x/y", "1"));
	assert_true(fx_serves(f->s, "edge/reg.local_5000/x/y", md));
}

static void
test_docker_diff_id_mismatch(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX];
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 0);
	docker_archive(&w, "[\"x/y:1\"]", 1, md);
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, "manifest.json: [0].Layers[0] is sha256:"));
	assert_non_null(strstr(err.msg, "rootfs.diff_ids[0]"));
	assert_int_equal(nblobs(f), 0);
	assert_false(fx_serves(f->s, "edge/docker.io/x/y", "1"));
}

/*
 * A docker save before Docker 25: layers as regular files "<id>/layer.tar"
 * named by no digest, "<id>/json" and "<id>/VERSION" beside them,
 * "repositories", and a third layer equal to the first written as Docker
 * does, a link "../<id>/layer.tar".  order gives the config's diff_ids as
 * indexes into the two layers; md gets the manifest barged builds.
 */
static void
docker_legacy(struct tw *w, const int order[3], char *md)
{
	static const char *const layer[2] = { "first legacy layer", "second legacy layer" };
	char cd[DIGEST_STR_MAX], ld[2][DIGEST_STR_MAX], cfg[512], m[2048];
	struct barge_err err;
	size_t i;

	for (i = 0; i < 2; i++)
		assert_int_equal(digest_buf(DIGEST_SHA256, layer[i], strlen(layer[i]), ld[i], &err),
		                 BARGE_OK);
	tw_text(w, "aaa/VERSION", "1.0");
	tw_text(w, "aaa/json", "{\"id\":\"aaa\"}");
	tw_text(w, "aaa/layer.tar", layer[0]);
	tw_text(w, "bbb/layer.tar", layer[1]);
	tw_add(w, "ccc/layer.tar", NULL, 0, "../aaa/layer.tar", 0);
	snprintf(cfg, sizeof(cfg),
	         "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\",\"%s\"]}}",
	         ld[order[0]], ld[order[1]], ld[order[2]]);
	tw_blob(w, cfg, ".json", cd);
	snprintf(m, sizeof(m),
	         "[{\"Config\":\"%s.json\",\"RepoTags\":[\"x/legacy:1\"],\"Layers\":["
	         "\"aaa/layer.tar\",\"bbb/layer.tar\",\"ccc/layer.tar\"]}]",
	         cd + 7);
	tw_text(w, "manifest.json", m);
	tw_text(w, "repositories", "{\"x/legacy\":{\"1\":\"ccc\"}}");
	snprintf(m, sizeof(m),
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution."
	         "manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container."
	         "image.v1+json\",\"size\":%zu,\"digest\":\"%s\"},\"layers\":["
	         "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\",\"size\":%zu,"
	         "\"digest\":\"%s\"},"
	         "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\",\"size\":%zu,"
	         "\"digest\":\"%s\"},"
	         "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\",\"size\":%zu,"
	         "\"digest\":\"%s\"}]}",
	         strlen(cfg), cd, strlen(layer[0]), ld[0], strlen(layer[1]), ld[1],
	         strlen(layer[0]), ld[0]);
	assert_int_equal(digest_buf(DIGEST_SHA256, m, strlen(m), md, &err), BARGE_OK);
}

/* Writes docker_legacy's archive with diff_ids in order and loads it. */
static int
legacy_load(struct fixture *f, const int order[3], char *md, struct loader_result *res,
            struct barge_err *err)
{
	struct tw w;

	tw_open(&w, f, 0);
	docker_legacy(&w, order, md);
	tw_close(&w);
	return load(f, &w, NULL, res, err);
}

static void
test_docker_legacy_layers(void **state)
{
	static const int order[3] = { 0, 1, 0 };
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX];
	struct loader_result res;
	struct barge_err err;

	if (legacy_load(f, order, md, &res, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_true(fx_serves(f->s, "edge/docker.io/x/legacy", "1"));
	assert_true(fx_serves(f->s, "edge/docker.io/x/legacy", md));
	/* The config, the two distinct layers and the manifest; "aaa/json" and the rest go. */
	assert_int_equal(res.blobs_new, 4);
	assert_int_equal(nblobs(f), 4);
}

static void
test_docker_legacy_diff_id_mismatch(void **state)
{
	static const int order[3] = { 1, 0, 1 };
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX];
	struct loader_result res;
	struct barge_err err;

	assert_int_equal(legacy_load(f, order, md, &res, &err), BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, "manifest.json: [0].Layers[0] is sha256:"));
	assert_non_null(strstr(err.msg, "rootfs.diff_ids[0]"));
	assert_non_null(strstr(err.msg, "member \"aaa/layer.tar\""));
	assert_int_equal(nblobs(f), 0);
	assert_false(fx_serves(f->s, "edge/docker.io/x/legacy", "1"));
}

static void
test_unnamed_needs_repo(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX];
	struct loader_opts o = { .repo = "example.com/named:v2" };
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 0);
	docker_archive(&w, "null", 0, md);
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "manifest.json: [0] names no repository"));
	assert_non_null(strstr(err.msg, "--repo NAME"));
	assert_int_equal(load(f, &w, &o, &res, &err), BARGE_OK);
	assert_true(fx_serves(f->s, "edge/example.com/named", "v2"));
}

static void
test_unnamed_blob_dropped(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX], mj[1024], junk[DIGEST_STR_MAX];
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 0);
	tw_text(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	tw_blob(&w, "no manifest names this", NULL, junk);
	oci_image(&w, "kept", md, mj, sizeof(mj));
	oci_index(&w, "index.json", md, mj,
	          "{\"io.containerd.image.name\":\"example.com/kept:1\"}");
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_OK);
	assert_int_equal(res.blobs_new, 3);
	assert_int_equal(nblobs(f), 3);
	assert_false(store_blob_exists(f->s, junk));
}

static void
test_missing_layer_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char md[DIGEST_STR_MAX], mj[1024], ld[DIGEST_STR_MAX], *p;
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 0);
	tw_text(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	/* The manifest names a layer the archive does not hold. */
	oci_image(&w, "present", md, mj, sizeof(mj));
	tw_close(&w);
	assert_int_equal(digest_buf(DIGEST_SHA256, "present", 7, ld, &err), BARGE_OK);
	p = strstr(mj, ld);
	assert_non_null(p);
	memcpy(p + 7, "ffff", 4);
	tw_open(&w, f, 0);
	tw_text(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	tw_blob(&w, CFG_TEXT, NULL, ld);
	tw_blob(&w, mj, NULL, md);
	oci_index(&w, "index.json", md, mj, "{\"io.containerd.image.name\":\"example.com/m:1\"}");
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "image edge/example.com/m: layer sha256:ffff"));
	assert_non_null(strstr(err.msg, "neither in the bundle nor in the store"));
	assert_int_equal(nblobs(f), 0);
}

static void
test_hostile_members(void **state)
{
	static const struct {
		const char *name, *link;
		int hard;
		const char *want;
	} cases[] = {
		{ "../up", NULL, 0, "member \"../up\": \"..\" path component" },
		{ "/abs", NULL, 0, "member \"/abs\": absolute path" },
		{ "blobs/sha256/x", "/etc/passwd", 0,
		  "member \"blobs/sha256/x\": symbolic link to \"/etc/passwd\" not allowed" },
		{ "a/layer.tar", "../../etc/passwd", 0, "symbolic link to \"../../etc/passwd\"" },
		{ "hard", "index.json", 1, "member \"hard\": hard link not allowed" },
	};
	struct fixture *f = *state;
	struct loader_result res;
	struct barge_err err;
	struct tw w;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tw_open(&w, f, 0);
		tw_text(&w, "index.json", "{\"manifests\":[]}");
		tw_add(&w, cases[i].name, "x", 1, cases[i].link, cases[i].hard);
		tw_close(&w);
		assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_EFORMAT);
		if (strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: %s", i, err.msg);
	}
}

static void
test_metadata_bounds(void **state)
{
	struct fixture *f = *state;
	struct loader_result res;
	struct barge_err err;
	struct tw w;
	char *big;

	tw_open(&w, f, 0);
	tw_text(&w, "index.json", "{}");
	tw_text(&w, "index.json", "{}");
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "member \"index.json\" appears twice"));

	big = calloc(1, META_MEMBER_MAX + 1);
	assert_non_null(big);
	tw_open(&w, f, 1);
	tw_add(&w, "manifest.json", big, META_MEMBER_MAX + 1, NULL, 0);
	tw_close(&w);
	free(big);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_ELIMIT);
	assert_non_null(strstr(err.msg, "member \"manifest.json\": 16777217 bytes, more than"));
}

static void
test_unknown_and_signature(void **state)
{
	struct fixture *f = *state;
	struct loader_opts o = { .require_signature = 1 };
	struct loader_result res;
	struct barge_err err;
	struct tw w;

	tw_open(&w, f, 0);
	tw_text(&w, "hello.txt", "just a tar");
	tw_close(&w);
	assert_int_equal(load(f, &w, NULL, &res, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "unknown format"));
	assert_int_equal(load(f, &w, &o, &res, &err), BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "a signature is required"));
}

/* Loads tests/data/archives/NAME into f's store. */
static int
load_data(struct fixture *f, const char *name, struct loader_result *res, struct barge_err *err)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/archives/%s", BARGE_TEST_DATA, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	return archload_load_fd(f->s, fd, name, NULL, res, err);
}

/*
 * fuzz_archive's finding (tests/data/archives/crash-undo-overflow.tar): into
 * a store holding docker-legacy.tar's layers, two layers named by no
 * digest, one new and one held, then refused as an unknown format.  The
 * undo of the blobs it wrote wrote past the end of its list when the held
 * one came last (ASan: heap-buffer-overflow in loader_undo).  Refused, the
 * new layer removed, the held one kept.
 */
static void
test_regress_undo_overflow(void **state)
{
	struct fixture *f = *state;
	struct loader_result res;
	struct barge_err err;

	assert_int_equal(load_data(f, "docker-legacy.tar", &res, &err), BARGE_OK);
	assert_int_equal(nblobs(f), 4);
	assert_int_equal(load_data(f, "crash-undo-overflow.tar", &res, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "crash-undo-overflow.tar: unknown format"));
	assert_int_equal(nblobs(f), 4);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_oci_archive_any_order, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_zstd_hauler, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_zarf_lists_missing_image, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_docker_archive_manifest, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_docker_diff_id_mismatch, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_docker_legacy_layers, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_docker_legacy_diff_id_mismatch, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_unnamed_needs_repo, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_unnamed_blob_dropped, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_missing_layer_leaves_nothing, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_hostile_members, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_metadata_bounds, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_unknown_and_signature, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_regress_undo_overflow, fx_setup, fx_teardown),
};

BARGE_TEST_MAIN(tests)
