#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "fileutil.h"

#define DATA BARGE_TEST_DATA "/bundle_meta/"

/*
 * Not inlined: gcc 12 at -O3 (Release) then takes the returned buffer for
 * load's own local and warns of a dangling pointer where there is none.
 */
static char *__attribute__((noinline)) load(const char *file, size_t *len)
{
	struct barge_err e;
	char *path = fu_printf("%s%s", DATA, file), *buf = NULL;

	if (fu_read_file(path, BUNDLE_META_MAX, &buf, len, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	free(path);
	return buf;
}

static void
test_valid(void **state)
{
	struct bundle_meta *m = NULL;
	struct barge_err e;
	size_t len;
	char *buf = load("valid.json", &len);

	if (bundle_meta_parse("barge.json", buf, len, &m, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	assert_string_equal(m->name, "demo");
	assert_string_equal(m->version, "1.0.0");
	assert_string_equal(m->created, "1970-01-01T00:00:00Z");
	assert_string_equal(m->builder, "barge 0.1.0");
	assert_string_equal(m->project, "edge");
	assert_int_equal(m->nplatforms, 2);
	assert_string_equal(m->platforms[0], "linux/amd64");
	assert_string_equal(m->platforms[1], "linux/arm64/v8");

	assert_int_equal(m->nimages, 2);
	assert_string_equal(m->images[0].repository, "edge/docker.io/library/nginx");
	assert_string_equal(m->images[0].source, "docker.io/library/nginx:1.25");
	assert_int_equal(m->images[0].ntags, 2);
	assert_string_equal(m->images[0].tags[0], "1.25");
	assert_string_equal(m->images[0].tags[1], "latest");
	assert_string_equal(m->images[0].digest,
	                    "sha256:"
	                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                    "aaaaaaaa");
	assert_string_equal(m->images[0].media_type, "application/vnd.oci.image.index.v1+json");
	assert_string_equal(m->images[1].repository, "edge/registry.local_5000/team/app");
	assert_int_equal(m->images[1].ntags, 0);
	assert_string_equal(m->images[1].media_type,
	                    "application/vnd.docker.distribution.manifest.v2+json");

	/* Blobs stay in entry order, as listed. */
	assert_int_equal(m->nblobs, 3);
	assert_string_equal(m->blobs[0].digest, m->images[0].digest);
	assert_int_equal(m->blobs[0].size, 1234);
	assert_int_equal(m->blobs[1].size, 567);
	assert_int_equal(m->blobs[1].digest[7], 'b');
	assert_int_equal(m->blobs[2].size, 0);
	assert_int_equal(m->nrequires, 1);
	assert_string_equal(m->requires[0].digest, m->images[1].digest);
	assert_int_equal(m->requires[0].size, 1);
	bundle_meta_free(m);
	free(buf);
}

static int
code_of(const char *s)
{
	if (strcmp(s, "EFORMAT") == 0)
		return BARGE_EFORMAT;
	if (strcmp(s, "ELIMIT") == 0)
		return BARGE_ELIMIT;
	fail_msg("unknown code %s in cases.txt", s);
	return 0;
}

/* Every invalid fixture fails with its code and a message naming the field. */
static void
test_invalid_fixtures(void **state)
{
	struct bundle_meta *m = NULL;
	struct barge_err e;
	char line[1024], *file, *code, *want, *buf;
	size_t len, n = 0;
	FILE *f;
	int rc;

	assert_non_null(f = fopen(DATA "cases.txt", "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = '\0';
		file = strtok(line, "\t");
		code = strtok(NULL, "\t");
		want = strtok(NULL, "\t");
		assert_non_null(want);
		buf = load(file, &len);
		err_clear(&e);
		rc = bundle_meta_parse("barge.json", buf, len, &m, &e);
		if (rc != code_of(code) || strstr(e.msg, want) == NULL)
			fail_msg("%s: got %d \"%s\", want %s \"%s\"", file, rc, e.msg, code, want);
		assert_null(m);
		free(buf);
		n++;
	}
	fclose(f);
	assert_true(n >= 30);
}

/* valid.json with extra text spliced in before its final "}". */
static char *
valid_plus(const char *extra, size_t *len)
{
	char *buf = load("valid.json", len), *end, *out;

	end = strrchr(buf, '}');
	*end = '\0';
	out = fu_printf("%s%s}", buf, extra);
	free(buf);
	*len = strlen(out);
	return out;
}

static void
test_unknown_fields_ignored(void **state)
{
	struct bundle_meta *m = NULL;
	struct barge_err e;
	size_t len;
	char *buf = valid_plus(", \"comment\": {\"x\": [1]}", &len);

	if (bundle_meta_parse("barge.json", buf, len, &m, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(m->nimages, 2);
	bundle_meta_free(m);
	free(buf);
}

/* Two images naming the same tag for the same digest agree: that is not an error. */
static void
test_same_tag_same_digest(void **state)
{
	struct bundle_meta *m = NULL;
	struct barge_err e;
	json_error_t je;
	json_t *root, *images;
	size_t len;
	char *buf = load("valid.json", &len), *doc;

	assert_non_null(root = json_loadb(buf, len, 0, &je));
	images = json_object_get(root, "images");
	assert_int_equal(json_array_append_new(images, json_deep_copy(json_array_get(images, 0))),
	                 0);
	assert_non_null(doc = json_dumps(root, 0));
	if (bundle_meta_parse("barge.json", doc, strlen(doc), &m, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(m->nimages, 3);
	bundle_meta_free(m);
	free(doc);
	json_decref(root);
	free(buf);
}

static void
test_large_sizes(void **state)
{
	struct bundle_meta *m = NULL;
	struct barge_err e;
	size_t len;
	char *buf = load("valid.json", &len), *p, *big;

	/* Blobs of tens of GB are normal: sizes are 64-bit. */
	assert_non_null(p = strstr(buf, "\"size\": 1234"));
	big = fu_printf("%.*s\"size\": 53687091200%s", (int)(p - buf), buf,
	                p + strlen("\"size\": 1234"));
	if (bundle_meta_parse("barge.json", big, strlen(big), &m, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(m->blobs[0].size, 53687091200LL);
	bundle_meta_free(m);
	free(big);
	free(buf);
}

static void
test_too_many_tags(void **state)
{
	struct bundle_meta *m = NULL;
	struct barge_err e;
	size_t len, i, cap = 20 * (BUNDLE_META_TAGS_MAX + 1) + 4096, at;
	char *buf = load("valid.json", &len), *p, *doc;

	/* Replace images[0]'s tags with BUNDLE_META_TAGS_MAX + 1 of them. */
	assert_non_null(doc = malloc(cap));
	assert_non_null(p = strstr(buf, "\"1.25\","));
	at = (size_t)(p - buf);
	memcpy(doc, buf, at);
	for (i = 0; i <= BUNDLE_META_TAGS_MAX; i++)
		at += (size_t)sprintf(doc + at, "\"t%zu\",", i);
	strcpy(doc + at, p + strlen("\"1.25\","));
	assert_int_equal(bundle_meta_parse("barge.json", doc, strlen(doc), &m, &e), BARGE_ELIMIT);
	assert_string_equal(e.msg, "barge.json: images[0].tags: more than 1000 entries");
	assert_null(m);
	free(doc);
	free(buf);
}

static void
test_too_large(void **state)
{
	struct bundle_meta *m = NULL;
	struct barge_err e;
	char *buf;

	assert_non_null(buf = malloc((size_t)BUNDLE_META_MAX + 1));
	memset(buf, ' ', (size_t)BUNDLE_META_MAX + 1);
	assert_int_equal(
	        bundle_meta_parse("x/barge.json", buf, (size_t)BUNDLE_META_MAX + 1, &m, &e),
	        BARGE_ELIMIT);
	assert_string_equal(e.msg, "x/barge.json: 67108865 bytes, more than the limit of 67108864");
	assert_null(m);
	free(buf);
}

static void
test_free_null(void **state)
{
	bundle_meta_free(NULL);
}

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define E64 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

/* valid.json with one referrers entry; the parse's code and, on failure, its message. */
static int
parse_referrer(const char *entry, struct bundle_meta **m, struct barge_err *e)
{
	char *extra = fu_printf(",\"referrers\":[%s]", entry), *buf;
	size_t len;
	int rc;

	buf = valid_plus(extra, &len);
	*m = NULL;
	err_clear(e);
	rc = bundle_meta_parse("barge.json", buf, len, m, e);
	free(buf);
	free(extra);
	return rc;
}

/*
 * A referrer entry names its repository, subject, digest, media type,
 * artifact type and tags; a bad one is refused naming the field.
 */
static void
test_referrers(void **state)
{
	struct bundle_meta *m;
	struct barge_err e;

	assert_int_equal(parse_referrer("{\"repository\":\"edge/docker.io/library/nginx\","
	                                "\"subject\":\"sha256:" A64 "\",\"digest\":\"sha256:" B64
	                                "\",\"mediaType\":\"application/vnd.oci.image.manifest."
	                                "v1+json\",\"artifactType\":\"application/spdx+json\","
	                                "\"tags\":[\"sha256-" A64 ".sig\"]}",
	                                &m, &e),
	                 BARGE_OK);
	assert_int_equal(m->nreferrers, 1);
	assert_string_equal(m->referrers[0].subject, "sha256:" A64);
	assert_string_equal(m->referrers[0].digest, "sha256:" B64);
	assert_string_equal(m->referrers[0].artifact_type, "application/spdx+json");
	assert_int_equal(m->referrers[0].ntags, 1);
	assert_string_equal(m->referrers[0].tags[0], "sha256-" A64 ".sig");
	bundle_meta_free(m);

	assert_int_equal(parse_referrer("{\"repository\":\"edge/x\",\"subject\":\"sha256:" A64
	                                "\",\"digest\":\"sha256:" E64
	                                "\",\"mediaType\":\"application/vnd.oci.image.manifest."
	                                "v1+json\",\"tags\":[]}",
	                                &m, &e),
	                 BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, "referrers[0].digest: sha256:" E64 " is in neither blobs"));
	assert_int_equal(parse_referrer("{\"repository\":\"other/x\",\"subject\":\"sha256:" A64
	                                "\",\"digest\":\"sha256:" B64
	                                "\",\"mediaType\":\"application/vnd.oci.image.manifest."
	                                "v1+json\",\"tags\":[]}",
	                                &m, &e),
	                 BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, "referrers[0].repository"));
	/* An index: upstream's fallback index, or a multi-platform attestation. */
	assert_int_equal(parse_referrer("{\"repository\":\"edge/x\",\"subject\":\"sha256:" A64
	                                "\",\"digest\":\"sha256:" B64
	                                "\",\"mediaType\":\"application/vnd.oci.image.index."
	                                "v1+json\",\"tags\":[\"sha256-" A64 "\"]}",
	                                &m, &e),
	                 BARGE_OK);
	bundle_meta_free(m);
	assert_int_equal(parse_referrer("{\"repository\":\"edge/x\",\"subject\":\"sha256:" A64
	                                "\",\"digest\":\"sha256:" B64
	                                "\",\"mediaType\":\"application/json\",\"tags\":[]}",
	                                &m, &e),
	                 BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, "referrers[0].mediaType"));
	assert_int_equal(parse_referrer("{\"repository\":\"edge/x\",\"subject\":\"nope\","
	                                "\"digest\":\"sha256:" B64
	                                "\",\"mediaType\":\"application/vnd.oci.image.manifest."
	                                "v1+json\",\"tags\":[]}",
	                                &m, &e),
	                 BARGE_EFORMAT);
	assert_non_null(strstr(e.msg, "referrers[0].subject"));
}

/* The OCI 1.1 fallback tag spells sha256 digests only, and never truncated. */
static void
test_fallback_tag(void **state)
{
	char tag[DIGEST_STR_MAX + 8], small[16];

	(void)state;
	assert_int_equal(bundle_fallback_tag("sha256:" A64, tag, sizeof(tag)), 1);
	assert_string_equal(tag, "sha256-" A64);
	assert_int_equal(bundle_fallback_tag("sha512:abcd", tag, sizeof(tag)), 0);
	assert_int_equal(bundle_fallback_tag("sha256:" A64, small, sizeof(small)), 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_valid),
	cmocka_unit_test(test_invalid_fixtures),
	cmocka_unit_test(test_unknown_fields_ignored),
	cmocka_unit_test(test_same_tag_same_digest),
	cmocka_unit_test(test_large_sizes),
	cmocka_unit_test(test_too_many_tags),
	cmocka_unit_test(test_too_large),
	cmocka_unit_test(test_free_null),
	cmocka_unit_test(test_referrers),
	cmocka_unit_test(test_fallback_tag),
};

BARGE_TEST_MAIN(tests)
