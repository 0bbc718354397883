#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

#define PROFILES BARGE_TEST_DATA "/profiles/"

static struct profile *
load_ok(const char *file)
{
	struct barge_err err;
	struct profile *p = NULL;
	int rc;

	err_clear(&err);
	rc = profile_load(file, &p, &err);
	if (rc != BARGE_OK)
		fail_msg("%s: %s", file, err.msg);
	assert_non_null(p);
	return p;
}

/* Loading must fail with code, and the message must contain want. */
static void
load_fails(const char *file, int code, const char *want)
{
	struct barge_err err;
	struct profile *p = NULL;
	int rc;

	err_clear(&err);
	rc = profile_load(file, &p, &err);
	assert_null(p);
	if (strstr(err.msg, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	assert_int_equal(rc, code);
	assert_int_equal(err.code, code);
}

static void
platform_is(const struct platform *p, const char *want)
{
	char buf[128];

	platform_format(p, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
test_minimal_defaults(void **state)
{
	struct profile *p = load_ok(PROFILES "minimal.yaml");

	assert_string_equal(p->name, "demo");
	assert_string_equal(p->version, "1.0.0");
	assert_string_equal(p->project, "edge");
	assert_int_equal(p->nplatforms, 1);
	platform_is(&p->platforms[0], "linux/amd64");
	assert_int_equal(p->npacks, 1);
	assert_int_equal(p->nimages, 1);
	assert_string_equal(p->images[0].source, "docker.io/library/nginx:latest");
	assert_string_equal(p->images[0].ref->host, "docker.io");
	assert_string_equal(p->images[0].ref->path, "library/nginx");
	assert_string_equal(p->images[0].origin.pack, "base");
	assert_int_equal(p->images[0].origin.line, 11);
	assert_int_equal(p->images[0].origin.col, 11);
	profile_free(p);
}

static void
test_multi_pack(void **state)
{
	struct profile *p = load_ok(PROFILES "multi-pack.yaml");

	assert_string_equal(p->name, "edge-retail");
	assert_string_equal(p->version, "1.4.0");
	assert_string_equal(p->project, "retail");
	assert_int_equal(p->nplatforms, 3);
	platform_is(&p->platforms[0], "linux/amd64");
	platform_is(&p->platforms[1], "linux/arm64/v8");
	platform_is(&p->platforms[2], "linux/arm/v7");
	assert_int_equal(p->npacks, 2);
	assert_int_equal(p->nimages, 4);
	assert_string_equal(p->images[0].source, "docker.io/rancher/mirrored-pause:3.6");
	assert_string_equal(p->images[0].origin.pack, "k3s");
	assert_string_equal(p->images[1].source, "registry.example.com:5000/tools/busybox:1.36");
	assert_string_equal(p->images[2].source, "docker.io/library/nginx:1.25");
	assert_string_equal(p->images[2].origin.pack, "web");
	assert_int_equal(p->images[2].origin.line, 14);
	assert_string_equal(p->images[3].source,
	                    "localhost:5000/app@sha256:"
	                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_null(p->images[3].ref->tag);
	profile_free(p);
}

static void
test_duplicates_merged(void **state)
{
	struct profile *p = load_ok(PROFILES "duplicates.yaml");

	assert_string_equal(p->version, "2");
	assert_int_equal(p->nimages, 3);
	assert_string_equal(p->images[0].source, "docker.io/library/nginx:1.25");
	assert_string_equal(p->images[0].origin.pack, "first");
	assert_int_equal(p->images[0].origin.line, 10);
	assert_string_equal(p->images[1].source, "docker.io/library/busybox:latest");
	assert_string_equal(p->images[1].origin.pack, "first");
	assert_int_equal(p->images[1].origin.line, 11);
	assert_string_equal(p->images[2].source, "docker.io/library/redis:7");
	assert_string_equal(p->images[2].origin.pack, "second");
	profile_free(p);
}

static void
test_load_buf(void **state)
{
	static const char y[] = "apiVersion: barge.dev/v1\n"
	                        "kind: ClusterProfile\n"
	                        "metadata: {name: a, version: b}\n"
	                        "spec: {packs: [{name: p, images: [busybox:1]}]}\n";
	struct barge_err err;
	struct profile *p = NULL;

	assert_int_equal(profile_load_buf("inline.yaml", y, sizeof(y) - 1, &p, &err), BARGE_OK);
	assert_string_equal(p->images[0].source, "docker.io/library/busybox:1");
	assert_string_equal(p->file, "inline.yaml");
	profile_free(p);
}

static void
test_not_yaml(void **state)
{
	load_fails(PROFILES "not-yaml.yaml", BARGE_EFORMAT, "not-yaml.yaml:");
}

static void
test_missing_file(void **state)
{
	load_fails(PROFILES "no-such.yaml", BARGE_ENOTFOUND, "no-such.yaml");
}

static void
test_missing_name(void **state)
{
	load_fails(PROFILES "missing-name.yaml", BARGE_EINVAL,
	           "missing-name.yaml:4:3: missing metadata.name");
}

static void
test_wrong_api_version(void **state)
{
	load_fails(PROFILES "wrong-api.yaml", BARGE_EINVAL,
	           "wrong-api.yaml:1:13: apiVersion \"barge.dev/v2\" is not supported "
	           "(want \"barge.dev/v1\")");
}

static void
test_unknown_key_suggests(void **state)
{
	load_fails(PROFILES "unknown-key.yaml", BARGE_EINVAL,
	           "unknown-key.yaml:5:3: unknown key \"platfroms\"; did you mean \"platforms\"?");
}

static void
test_images_not_a_list(void **state)
{
	load_fails(
	        PROFILES "images-not-list.yaml", BARGE_EINVAL,
	        "images-not-list.yaml:7:15: pack \"base\": images: expected a list, got a string");
}

static void
test_bad_reference(void **state)
{
	load_fails(PROFILES "bad-ref.yaml", BARGE_EINVAL, "bad-ref.yaml:9:11: pack \"base\": ");
	load_fails(PROFILES "bad-ref.yaml", BARGE_EINVAL, "\"Docker.io/UPPER/case:1\"");
}

static void
test_include_not_supported(void **state)
{
	load_fails(PROFILES "include.yaml", BARGE_EINVAL,
	           "include.yaml:5:3: spec: \"include\" is not supported yet");
}

static void
test_version_number_needs_quotes(void **state)
{
	load_fails(PROFILES "version-number.yaml", BARGE_EINVAL,
	           "version-number.yaml:3:33: metadata.version: expected a string, got a number");
}

static void
test_inline_errors(void **state)
{
	static const struct {
		const char *yaml;
		const char *want;
	} cases[] = {
		{ "- a\n", "t.yaml:1:1: expected a mapping at the top level, got a list" },
		{ "apiVersion: barge.dev/v1\nkind: Profile\n", "t.yaml:2:7: kind \"Profile\"" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: Demo, "
		  "version: 1.0.0}\n",
		  "t.yaml:3:18: metadata.name \"Demo\" is not valid" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {packs: [{name: p, manifests: [a.yaml]}]}\n",
		  "t.yaml:4:26: spec.packs[0]: \"manifests\" is not supported yet" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {platforms: [linux/amd64, linux/amd64], packs: []}\n",
		  "t.yaml:4:33: spec.platforms: \"linux/amd64\" is listed twice" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {packs: []}\n",
		  "t.yaml:4:15: spec.packs lists no images" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {project: A/b, packs: []}\n",
		  "t.yaml:4:17: spec.project \"A/b\" is not a valid repository component" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {packs: [{name: p, images: [7]}]}\n",
		  "t.yaml:4:35: pack \"p\": images[0]: expected a string, got a number" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {packs: [{name: p}, {name: p}]}\n",
		  "pack \"p\" is defined twice" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {colour: blue}\n",
		  "t.yaml:4:8: unknown key \"colour\"; valid keys in spec: platforms, project, "
		  "packs" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\n",
		  "t.yaml:1:1: missing spec" },
		{ "apiVersion: barge.dev/v1\n---\napiVersion: barge.dev/v1\n",
		  "a profile is one YAML document; found 2" },
	};
	struct barge_err err;
	struct profile *p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = NULL;
		err_clear(&err);
		if (profile_load_buf("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &p, &err) ==
		    BARGE_OK)
			fail_msg("case %zu loaded", i);
		assert_null(p);
		if (strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want);
	}
}

static void
test_suggest(void **state)
{
	static const char *const keys[] = { "apiVersion", "kind", "metadata", "spec", NULL };

	assert_string_equal(profile_suggest("apiversion", keys), "apiVersion");
	assert_string_equal(profile_suggest("metdata", keys), "metadata");
	assert_string_equal(profile_suggest("kindd", keys), "kind");
	assert_null(profile_suggest("colour", keys));
	assert_null(profile_suggest("a-very-long-key-that-matches-nothing-at-all-here", keys));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_minimal_defaults),
	cmocka_unit_test(test_multi_pack),
	cmocka_unit_test(test_duplicates_merged),
	cmocka_unit_test(test_load_buf),
	cmocka_unit_test(test_not_yaml),
	cmocka_unit_test(test_missing_file),
	cmocka_unit_test(test_missing_name),
	cmocka_unit_test(test_wrong_api_version),
	cmocka_unit_test(test_unknown_key_suggests),
	cmocka_unit_test(test_images_not_a_list),
	cmocka_unit_test(test_bad_reference),
	cmocka_unit_test(test_include_not_supported),
	cmocka_unit_test(test_version_number_needs_quotes),
	cmocka_unit_test(test_inline_errors),
	cmocka_unit_test(test_suggest),
};

BARGE_TEST_MAIN(tests)
