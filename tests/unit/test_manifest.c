#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"

#define CONFIG_DIGEST "sha256:b79606fb3afea5bd1609ed40b622142f1c98125abcfe89a76a661b0e8e343910"
#define L2_DIGEST     "sha256:8a1cee436cbac1489a1883c9d886fcfc46f302c55ed4106ae31729e4f4eb9041"

/* The bytes of a fixture under tests/data/manifests; caller frees. */
static char *
fixture(const char *name, size_t *len)
{
	char path[512], *buf = NULL;
	struct barge_err e;

	snprintf(path, sizeof(path), "%s/manifests/%s", BARGE_TEST_DATA, name);
	if (fu_read_file(path, MANIFEST_MAX, &buf, len, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	return buf;
}

/* Parses a fixture that must be valid. */
static struct manifest *
parse_ok(const char *name, const char *hint)
{
	struct manifest *m = NULL;
	struct barge_err e;
	size_t len;
	char *buf;

	buf = fixture(name, &len);
	err_clear(&e);
	if (manifest_parse(buf, len, hint, &m, &e) != BARGE_OK)
		fail_msg("%s: %s", name, e.msg);
	free(buf);
	return m;
}

static struct platform
plat(const char *s)
{
	struct platform p;
	struct barge_err e;

	assert_int_equal(platform_parse(s, &p, &e), BARGE_OK);
	return p;
}

static void
test_oci_index(void **state)
{
	struct manifest *m = parse_ok("oci-index.json", NULL);

	assert_int_equal(m->kind, MANIFEST_INDEX);
	assert_string_equal(m->media_type, MT_OCI_INDEX);
	assert_int_equal(m->ndescs, 3);
	assert_string_equal(m->descs[0].media_type, MT_OCI_MANIFEST);
	assert_int_equal(m->descs[0].size, 1613);
	assert_true(m->descs[0].has_platform);
	assert_string_equal(m->descs[0].platform.os, "linux");
	assert_string_equal(m->descs[0].platform.arch, "amd64");
	assert_string_equal(m->descs[0].platform.variant, "");
	assert_string_equal(m->descs[1].platform.arch, "arm64");
	assert_string_equal(m->descs[1].platform.variant, "v8");
	assert_string_equal(m->descs[2].platform.os, "unknown");
	assert_string_equal(m->descs[2].platform.arch, "unknown");
	assert_int_equal(m->descs[2].size, 839);
	manifest_free(m);
}

static void
test_oci_image(void **state)
{
	struct manifest *m = parse_ok("oci-image.json", MT_OCI_MANIFEST);

	assert_int_equal(m->kind, MANIFEST_IMAGE);
	assert_string_equal(m->media_type, MT_OCI_MANIFEST);
	assert_string_equal(m->config.media_type, MT_OCI_CONFIG);
	assert_string_equal(m->config.digest, CONFIG_DIGEST);
	assert_int_equal(m->config.size, 1472);
	assert_int_equal(m->ndescs, 3);
	assert_string_equal(m->descs[0].media_type, MT_OCI_LAYER_GZ);
	assert_int_equal(m->descs[0].size, 3623807);
	assert_string_equal(m->descs[2].digest, L2_DIGEST);
	assert_int_equal(m->descs[2].size, 0);
	assert_false(m->descs[0].has_platform);
	manifest_free(m);
}

static void
test_docker_manifest(void **state)
{
	struct manifest *m = parse_ok("docker-manifest.json", MT_DOCKER_MANIFEST "; charset=utf-8");

	assert_int_equal(m->kind, MANIFEST_IMAGE);
	assert_string_equal(m->media_type, MT_DOCKER_MANIFEST);
	assert_string_equal(m->config.media_type, MT_DOCKER_CONFIG);
	assert_int_equal(m->config.size, 7023);
	assert_int_equal(m->ndescs, 2);
	assert_string_equal(m->descs[1].media_type, MT_DOCKER_LAYER);
	assert_int_equal(m->descs[1].size, 16724);
	manifest_free(m);
}

static void
test_docker_list(void **state)
{
	struct manifest *m = parse_ok("docker-list.json", MT_DOCKER_LIST);

	assert_int_equal(m->kind, MANIFEST_INDEX);
	assert_string_equal(m->media_type, MT_DOCKER_LIST);
	assert_int_equal(m->ndescs, 4);
	assert_string_equal(m->descs[1].platform.arch, "arm");
	assert_string_equal(m->descs[1].platform.variant, "v7");
	assert_string_equal(m->descs[3].platform.os, "windows");
	manifest_free(m);
}

static void
test_image_without_layers(void **state)
{
	struct manifest *m = parse_ok("oci-image-no-layers.json", NULL);

	assert_int_equal(m->kind, MANIFEST_IMAGE);
	assert_int_equal(m->ndescs, 0);
	assert_null(m->descs);
	assert_string_equal(m->config.media_type, "application/vnd.oci.empty.v1+json");
	assert_int_equal(m->config.size, 2);
	manifest_free(m);
}

static void
test_kind_from_hint_or_shape(void **state)
{
	struct manifest *m;

	/* No mediaType in the document and no hint: the shape decides, OCI assumed. */
	m = parse_ok("oci-index-no-mediatype.json", NULL);
	assert_int_equal(m->kind, MANIFEST_INDEX);
	assert_string_equal(m->media_type, MT_OCI_INDEX);
	assert_string_equal(m->descs[0].platform.arch, "amd64");
	manifest_free(m);

	m = parse_ok("oci-image-no-mediatype.json", NULL);
	assert_int_equal(m->kind, MANIFEST_IMAGE);
	assert_string_equal(m->media_type, MT_OCI_MANIFEST);
	manifest_free(m);

	/* The served type fills in when the document has none; parameters are dropped. */
	m = parse_ok("oci-image-no-mediatype.json", " " MT_DOCKER_MANIFEST " ; q=1");
	assert_string_equal(m->media_type, MT_DOCKER_MANIFEST);
	manifest_free(m);

	/* A served type that is not a manifest type says nothing. */
	m = parse_ok("oci-index.json", "application/json");
	assert_int_equal(m->kind, MANIFEST_INDEX);
	assert_string_equal(m->media_type, MT_OCI_INDEX);
	manifest_free(m);
}

static void
check_invalid(const char *file, const char *hint, const char *want, int line)
{
	struct manifest *m = NULL;
	struct barge_err e;
	size_t len;
	char *buf;
	int rc;

	buf = fixture(file, &len);
	err_clear(&e);
	rc = manifest_parse(buf, len, strcmp(hint, "-") == 0 ? NULL : hint, &m, &e);
	free(buf);
	if (rc == BARGE_OK)
		fail_msg("invalid.tsv:%d: %s accepted", line, file);
	assert_null(m);
	if (rc != BARGE_EFORMAT || e.code != BARGE_EFORMAT)
		fail_msg("invalid.tsv:%d: %s: code %d, want BARGE_EFORMAT", line, file, rc);
	if (strstr(e.msg, want) == NULL)
		fail_msg("invalid.tsv:%d: %s: message \"%s\" lacks \"%s\"", line, file, e.msg,
		         want);
}

static void
test_malformed(void **state)
{
	char path[512], *buf = NULL, *line, *next, *hint, *want;
	struct barge_err e;
	int lineno = 0, n = 0;
	size_t len;

	snprintf(path, sizeof(path), "%s/manifests/invalid.tsv", BARGE_TEST_DATA);
	assert_int_equal(fu_read_file(path, 1 << 20, &buf, &len, &e), BARGE_OK);
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (line[0] == '#')
			continue;
		hint = strchr(line, '\t');
		assert_non_null(hint);
		*hint++ = '\0';
		want = strchr(hint, '\t');
		assert_non_null(want);
		*want++ = '\0';
		check_invalid(line, hint, want, lineno);
		n++;
	}
	assert_true(n >= 20);
	free(buf);
}

static void
test_size_limits(void **state)
{
	struct manifest *m = NULL;
	struct barge_err e;
	char *big;

	/* The length is checked before a byte is looked at. */
	big = calloc(1, (size_t)MANIFEST_MAX + 1);
	assert_non_null(big);
	assert_int_equal(manifest_parse(big, (size_t)MANIFEST_MAX + 1, NULL, &m, &e), BARGE_ELIMIT);
	assert_non_null(strstr(e.msg, "4194305 bytes"));
	assert_null(m);
	free(big);
}

/* An image manifest with n layers, as a new string. */
static char *
many_layers(size_t n)
{
	static const char head[] = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_OCI_CONFIG
	                           "\",\"digest\":\"" CONFIG_DIGEST "\",\"size\":2},\"layers\":[";
	static const char layer[] =
	        "{\"mediaType\":\"" MT_OCI_LAYER_GZ "\",\"digest\":\"" L2_DIGEST "\",\"size\":1}";
	size_t cap = sizeof(head) + n * sizeof(layer) + 4, off, i;
	char *s = malloc(cap);

	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "%s", head);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "%s%s", i ? "," : "", layer);
	snprintf(s + off, cap - off, "]}");
	return s;
}

static void
test_descriptor_limit(void **state)
{
	struct manifest *m = NULL;
	struct barge_err e;
	char *s;

	s = many_layers(MANIFEST_DESC_MAX);
	assert_int_equal(manifest_parse(s, strlen(s), NULL, &m, &e), BARGE_OK);
	assert_int_equal(m->ndescs, MANIFEST_DESC_MAX);
	manifest_free(m);
	m = NULL;
	free(s);

	s = many_layers(MANIFEST_DESC_MAX + 1);
	assert_int_equal(manifest_parse(s, strlen(s), NULL, &m, &e), BARGE_ELIMIT);
	assert_non_null(strstr(e.msg, "manifest: layers: 4097 entries"));
	assert_null(m);
	free(s);
}

static void
test_nul_bytes(void **state)
{
	static const char doc[] = "{\"schemaVersion\":2,\"layers\":[],\"config\":{\"mediaType\":"
	                          "\"a\\u0000b\",\"digest\":\"" CONFIG_DIGEST "\",\"size\":2}}";
	struct manifest *m = NULL;
	struct barge_err e;

	/* JSON escapes cannot smuggle a NUL into a string Barge keeps. */
	assert_int_equal(manifest_parse(doc, strlen(doc), NULL, &m, &e), BARGE_EFORMAT);
	assert_null(m);
	/* Nor can a raw NUL in the bytes. */
	assert_int_equal(manifest_parse("{\"a\":1}\0", 8, NULL, &m, &e), BARGE_EFORMAT);
	assert_null(m);
}

static void
test_pick_oci_index(void **state)
{
	struct manifest *m = parse_ok("oci-index.json", NULL);
	struct platform p;

	p = plat("linux/arm64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[1]);
	p = plat("linux/aarch64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[1]);
	p = plat("linux/amd64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[0]);
	p = plat("linux/x86_64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[0]);
	p = plat("linux/arm/v7");
	assert_null(manifest_pick(m, &p));
	p = plat("linux/s390x");
	assert_null(manifest_pick(m, &p));
	manifest_free(m);
}

static void
test_pick_docker_list(void **state)
{
	struct manifest *m = parse_ok("docker-list.json", NULL);
	struct platform p;

	p = plat("linux/arm/v7");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[1]);
	p = plat("linux/arm");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[1]);
	/* A v7 image does not run on a v6 CPU. */
	p = plat("linux/arm/v6");
	assert_null(manifest_pick(m, &p));
	p = plat("linux/arm64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[2]);
	p = plat("linux/amd64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[0]);
	p = plat("windows/amd64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[3]);
	manifest_free(m);
}

static void
test_pick_prefers_exact_variant(void **state)
{
	static const char doc[] =
	        "{\"schemaVersion\":2,\"manifests\":["
	        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" L2_DIGEST "\",\"size\":1,"
	        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" L2_DIGEST "\",\"size\":2,"
	        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"v3\"}},"
	        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" L2_DIGEST "\",\"size\":3,"
	        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
	        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" L2_DIGEST "\",\"size\":4,"
	        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
	        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" L2_DIGEST "\",\"size\":5}"
	        "]}";
	struct manifest *m = NULL;
	struct barge_err e;
	struct platform p;

	assert_int_equal(manifest_parse(doc, strlen(doc), NULL, &m, &e), BARGE_OK);
	assert_false(m->descs[4].has_platform);
	p = plat("linux/amd64/v3");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[1]);
	p = plat("linux/amd64/v2");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[0]);
	p = plat("linux/amd64");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[0]);
	p = plat("linux/arm/v7");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[3]);
	p = plat("linux/arm/v6");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[2]);
	p = plat("linux/arm/v8");
	assert_ptr_equal(manifest_pick(m, &p), &m->descs[3]);
	manifest_free(m);
}

static void
test_pick_on_image_is_null(void **state)
{
	struct manifest *m = parse_ok("oci-image.json", NULL);
	struct platform p = plat("linux/amd64");

	assert_null(manifest_pick(m, &p));
	manifest_free(m);
	manifest_free(NULL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_oci_index),
	cmocka_unit_test(test_oci_image),
	cmocka_unit_test(test_docker_manifest),
	cmocka_unit_test(test_docker_list),
	cmocka_unit_test(test_image_without_layers),
	cmocka_unit_test(test_kind_from_hint_or_shape),
	cmocka_unit_test(test_malformed),
	cmocka_unit_test(test_size_limits),
	cmocka_unit_test(test_descriptor_limit),
	cmocka_unit_test(test_nul_bytes),
	cmocka_unit_test(test_pick_oci_index),
	cmocka_unit_test(test_pick_docker_list),
	cmocka_unit_test(test_pick_prefers_exact_variant),
	cmocka_unit_test(test_pick_on_image_is_null),
};

BARGE_TEST_MAIN(tests)
