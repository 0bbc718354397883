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

/* Case i, the profile yaml as t.yaml, must fail with a message containing want. */
static void
buf_fails(size_t i, const char *yaml, const char *want)
{
	struct barge_err err;
	struct profile *p = NULL;

	err_clear(&err);
	if (profile_load_buf("t.yaml", yaml, strlen(yaml), &p, &err) == BARGE_OK)
		fail_msg("case %zu loaded", i);
	assert_null(p);
	if (strstr(err.msg, want) == NULL)
		fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, want);
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

/* spec.referrers and spec.referrer_types: on and unfiltered unless a profile says otherwise. */
static void
test_referrer_keys(void **state)
{
	static const char on[] = "apiVersion: barge.dev/v1\n"
	                         "kind: ClusterProfile\n"
	                         "metadata: {name: a, version: b}\n"
	                         "spec: {packs: [{name: p, images: [busybox:1]}]}\n";
	static const char off[] = "apiVersion: barge.dev/v1\n"
	                          "kind: ClusterProfile\n"
	                          "metadata: {name: a, version: b}\n"
	                          "spec:\n"
	                          "  referrers: false\n"
	                          "  referrer_types: [application/spdx+json, text/spdx]\n"
	                          "  packs: [{name: p, images: [busybox:1]}]\n";
	struct barge_err err;
	struct profile *p = NULL;

	assert_int_equal(profile_load_buf("on.yaml", on, sizeof(on) - 1, &p, &err), BARGE_OK);
	assert_int_equal(p->no_referrers, 0);
	assert_int_equal(p->nreferrer_types, 0);
	profile_free(p);
	if (profile_load_buf("off.yaml", off, sizeof(off) - 1, &p, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(p->no_referrers, 1);
	assert_int_equal(p->nreferrer_types, 2);
	assert_string_equal(p->referrer_types[1], "text/spdx");
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
test_include_missing(void **state)
{
	load_fails(PROFILES "include.yaml", BARGE_ENOTFOUND,
	           "include.yaml:5:13: include \"" PROFILES "base-k3s.yaml\": No such file");
}

/*
 * p's images must be exactly those of the expected file, in order: one per
 * line, "source" or "source<TAB>pack<TAB>file:line:col" with file relative
 * to BARGE_TEST_DATA.  '#' starts a comment line.
 */
static void
images_are(const struct profile *p, const char *expected)
{
	char line[1024], want[1200], got[1200], *tab;
	FILE *f = fopen(expected, "r");
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (n >= p->nimages)
			fail_msg("%s: missing image %s", expected, line);
		if ((tab = strchr(line, '\t')) == NULL) {
			snprintf(want, sizeof(want), "%s", line);
			snprintf(got, sizeof(got), "%s", p->images[n].source);
		} else {
			snprintf(want, sizeof(want), "%s", line);
			snprintf(got, sizeof(got), "%s\t%s\t%s:%d:%d", p->images[n].source,
			         p->images[n].origin.pack,
			         p->images[n].origin.file + strlen(BARGE_TEST_DATA "/profiles/"),
			         p->images[n].origin.line, p->images[n].origin.col);
		}
		if (strcmp(want, got) != 0)
			fail_msg("%s: image %zu: want \"%s\", got \"%s\"", expected, n, want, got);
		n++;
	}
	fclose(f);
	if (n != p->nimages)
		fail_msg("%s: %zu extra images, first %s", expected, p->nimages - n,
		         p->images[n].source);
}

static void
test_manifests_every_kind(void **state)
{
	struct profile *p = load_ok(PROFILES "manifests.yaml");

	images_are(p, BARGE_TEST_DATA "/manifests-k8s/expected-workloads.txt");
	/* busybox:1.36 is named by the Deployment and by the PodTemplate. */
	assert_int_equal(p->images[2].norigins, 2);
	assert_int_equal(p->images[2].origins[1].line, 147);
	assert_string_equal(p->images[2].origins[1].pack, "apps");
	/* The profile and both manifest files, each with its sha256. */
	assert_int_equal(p->nfiles, 3);
	assert_string_equal(p->files[0].path, PROFILES "manifests.yaml");
	assert_string_equal(p->files[2].path, PROFILES "../manifests-k8s/list.yaml");
	assert_int_equal(strncmp(p->files[2].sha256, "sha256:", 7), 0);
	profile_free(p);
}

static void
test_manifests_errors(void **state)
{
	load_fails(PROFILES "manifests-bad-kind.yaml", BARGE_EINVAL,
	           "bad-kind.yaml:5:13: Deployment: template: expected a mapping, got a string");
	load_fails(PROFILES "manifests-bad-image.yaml", BARGE_EINVAL,
	           "bad-image.yaml:7:14: pack \"broken\": ");
	load_fails(PROFILES "manifests-missing.yaml", BARGE_ENOTFOUND,
	           "manifests-missing.yaml:7:19: pack \"gone\": " PROFILES
	           "no-such-file.yaml: No such file");
}

static void
test_values_cilium(void **state)
{
	struct profile *p = load_ok(PROFILES "values-cilium.yaml");

	images_are(p, PROFILES "values/expected-cilium.txt");
	/* preflight names the same image as the agent: merged, both places kept. */
	assert_int_equal(p->images[0].norigins, 2);
	assert_int_equal(p->images[0].origin.line, 7);
	assert_int_equal(p->images[0].origins[1].line, 60);
	profile_free(p);
}

static void
test_values_bitnami(void **state)
{
	struct profile *p = load_ok(PROFILES "values-bitnami.yaml");

	images_are(p, PROFILES "values/expected-bitnami.txt");
	profile_free(p);
}

static void
test_values_errors(void **state)
{
	load_fails(PROFILES "values-no-tag.yaml", BARGE_EINVAL,
	           "no-tag.yaml:2:15: pack \"app\": image \"example/app\" has no tag or digest");
	load_fails(PROFILES "values-float-tag.yaml", BARGE_EINVAL,
	           "float-tag.yaml:3:8: image tag is a floating-point number");
	load_fails(PROFILES "values-name-not-repository.yaml", BARGE_EINVAL,
	           "name-not-repository.yaml:3:5: pack \"app\": image has a tag or digest but no "
	           "repository string");
	load_fails(PROFILES "values-split-tag.yaml", BARGE_EINVAL,
	           "split-tag.yaml:2:10: pack \"app\": image \"bitnami/redis\" has no tag, but a "
	           "tag is set beside it");
}

static void
test_include_layers(void **state)
{
	struct profile *p = load_ok(PROFILES "layered/edge.yaml");
	size_t i;

	assert_string_equal(p->name, "edge-retail");
	assert_string_equal(p->version, "1.4.0");
	/* Set by the k3s layer; edge.yaml does not override it. */
	assert_string_equal(p->project, "retail");
	/* edge.yaml's own platforms replace the k3s layer's. */
	assert_int_equal(p->nplatforms, 2);
	platform_is(&p->platforms[0], "linux/amd64");
	platform_is(&p->platforms[1], "linux/arm64/v8");
	/* Depth-first: common (through k3s), k3s, apps, then edge's own packs. */
	assert_string_equal(p->images[0].source, "docker.io/rancher/mirrored-pause:3.6");
	assert_string_equal(p->images[0].origin.pack, "common");
	assert_string_equal(p->images[0].origin.file, PROFILES "layered/base/../common.yaml");
	assert_int_equal(p->images[0].norigins, 1);
	assert_string_equal(p->images[1].source, "docker.io/rancher/klipper-helm:v0.8.2");
	assert_string_equal(p->images[3].source, "docker.io/library/nginx:1.25");
	assert_string_equal(p->images[3].origin.pack, "apps");
	/* nginx:1.25 is in the apps pack and in the podinfo manifests. */
	assert_int_equal(p->images[3].norigins, 2);
	assert_string_equal(p->images[3].origins[1].pack, "podinfo");
	assert_string_equal(p->images[4].source, "ghcr.io/stefanprodan/podinfo:6.5.4");
	assert_string_equal(p->images[4].origin.pack, "podinfo");
	/* Excluded: httpd (apps and manifests) and the cilium operator. */
	assert_int_equal(p->nexcluded, 2);
	for (i = 0; i < p->nimages; i++) {
		assert_null(strstr(p->images[i].source, "httpd"));
		assert_null(strstr(p->images[i].source, "operator"));
	}
	assert_string_equal(
	        p->images[p->nimages - 1].source,
	        "quay.io/cilium/startup-script:62093c5c233ea914bfa26a10ba41f8780d9b737f");
	/* edge, k3s, common (once), apps, workloads, list, cilium values. */
	assert_int_equal(p->nfiles, 7);
	assert_int_equal(p->npacks, 5);
	profile_free(p);
}

static void
test_include_cycle(void **state)
{
	load_fails(PROFILES "cycle/a.yaml", BARGE_EINVAL,
	           "cycle/b.yaml:5:7: include cycle: " PROFILES "cycle/a.yaml -> " PROFILES
	           "cycle/b.yaml -> " PROFILES "cycle/../cycle/a.yaml");
}

static void
test_pack_key_suggested(void **state)
{
	load_fails(PROFILES "pack-typo.yaml", BARGE_EINVAL,
	           "pack-typo.yaml:7:7: unknown key \"manifest\"; did you mean \"manifests\"?");
}

static void
test_exclude_all(void **state)
{
	load_fails(PROFILES "exclude-all.yaml", BARGE_EINVAL, "spec.exclude drops every image");
}

static void
test_load_many(void **state)
{
	const char *paths[] = { PROFILES "multi-pack.yaml", PROFILES "minimal.yaml" };
	struct barge_err err;
	struct profile *p = NULL;

	/* multi-pack says project "retail", minimal the default "edge". */
	assert_int_equal(profile_load_many(paths, 2, &p, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "project \"edge\" differs"));
	paths[0] = PROFILES "duplicates.yaml";
	assert_int_equal(profile_load_many(paths, 2, &p, &err), BARGE_OK);
	assert_string_equal(p->version, "2");
	assert_int_equal(p->nimages, 4);
	assert_string_equal(p->images[3].source, "docker.io/library/nginx:latest");
	assert_string_equal(p->images[3].origin.file, PROFILES "minimal.yaml");
	assert_int_equal(p->nfiles, 2);
	profile_free(p);
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
		  "t.yaml:4:38: pack \"p\": a.yaml: No such file" },
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
		  "t.yaml:4:35: pack \"p\": images[0]: expected a reference or a mapping, got a "
		  "number" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {packs: [{name: p}, {name: p}]}\n",
		  "pack \"p\" is defined twice" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {colour: blue}\n",
		  "t.yaml:4:8: unknown key \"colour\"; valid keys in spec: platforms, project, "
		  "include, packs, exclude, referrers, referrer_types" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {referrers: no-thanks}\n",
		  "t.yaml:4:19: spec.referrers: expected true or false" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\nspec: {referrer_types: [sbom]}\n",
		  "t.yaml:4:25: spec.referrer_types[0]: expected an artifact media type" },
		{ "apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, "
		  "version: 1.0.0}\n",
		  "t.yaml:1:1: missing spec" },
		{ "apiVersion: barge.dev/v1\n---\napiVersion: barge.dev/v1\n",
		  "a profile is one YAML document; found 2" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		buf_fails(i, cases[i].yaml, cases[i].want);
}

/*
 * profiles/example.yaml, the profile the README points a new user to, loads
 * as it is and shows every kind of source: an include, images, a rendered
 * manifest, Helm values and an exclude pattern.
 */
static void
test_example_profile(void **state)
{
	static const char *const want[][2] = {
		{ "docker.io/rancher/mirrored-pause:3.6", "k3s" },
		{ "docker.io/rancher/mirrored-coredns-coredns:1.10.1", "k3s" },
		{ "docker.io/library/nginx:1.25", "app" },
		{ "quay.io/prometheus/node-exporter:v1.7.0", "app" },
		{ "ghcr.io/stefanprodan/podinfo:6.5.4", "podinfo" },
		{ "quay.io/prometheus/prometheus:v2.49.1", "prometheus" },
		{ "quay.io/prometheus-operator/prometheus-config-reloader:v0.71.2", "prometheus" },
	};
	struct profile *p = load_ok(BARGE_TEST_DATA "/../../profiles/example.yaml");
	size_t i;

	assert_string_equal(p->name, "edge-retail");
	assert_string_equal(p->version, "1.4.0");
	assert_string_equal(p->project, "edge");
	assert_int_equal(p->nplatforms, 2);
	platform_is(&p->platforms[1], "linux/arm64/v8");
	assert_int_equal(p->nimages, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < p->nimages; i++) {
		assert_string_equal(p->images[i].source, want[i][0]);
		assert_string_equal(p->images[i].origin.pack, want[i][1]);
	}
	/* The busybox init container of the podinfo manifest. */
	assert_int_equal(p->nexcluded, 1);
	/* The profile, its include, the manifest and the values file. */
	assert_int_equal(p->nfiles, 4);
	profile_free(p);
}

/*
 * An images entry may be a mapping naming a local OCI archive or layout;
 * its path is taken relative to the profile, and plain strings still work.
 */
static void
test_local_image(void **state)
{
	struct profile *p;

	(void)state;
	p = load_ok(PROFILES "local-image.yaml");
	assert_int_equal(p->nimages, 4);
	assert_string_equal(p->images[0].source, "localhost/barged:0.1.0");
	assert_string_equal(p->images[0].from, "oci-archive:" PROFILES "../build/barged-image.tar");
	assert_string_equal(p->images[1].from, "oci:/srv/layouts/tool");
	assert_string_equal(p->images[2].source, "docker.io/library/nginx:latest");
	assert_null(p->images[2].from);
	assert_string_equal(p->images[3].source, "localhost/plain:2");
	assert_null(p->images[3].from);
	assert_int_equal(p->images[0].origin.line, 12);
	profile_free(p);
}

/* A bad local image entry is refused at its position, saying what is wrong. */
static void
test_local_image_errors(void **state)
{
#define HEAD                                                                   \
	"apiVersion: barge.dev/v1\nkind: ClusterProfile\nmetadata: {name: d, " \
	"version: 1.0.0}\nspec:\n  packs:\n  - name: p\n    images:\n"
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ HEAD "    - {ref: x:1, from: docker://x}\n",
		  "t.yaml:8:24: pack \"p\": images[0].from: \"docker://x\" is not "
		  "oci-archive:FILE or oci:DIRECTORY" },
		{ HEAD "    - {ref: x:1, from: \"oci:\"}\n", "is not oci-archive:FILE" },
		{ HEAD "    - {from: oci:d}\n", "t.yaml:8:7: missing pack \"p\": images[0].ref" },
		{ HEAD "    - {ref: x:1, form: oci:d}\n",
		  "unknown key \"form\"; did you mean \"from\"" },
		{ HEAD "    - {ref: x:1, from: [oci:d]}\n", "images[0].from: expected a string" },
		{ HEAD "    - {ref: \"x:\", from: oci:d}\n",
		  "t.yaml:8:13: pack \"p\": invalid reference \"x:\"" },
		{ HEAD "    - {ref: x:1, from: oci:a}\n    - {ref: x:1, from: oci:b}\n",
		  "t.yaml:9:13: pack \"p\": docker.io/library/x:1 comes from oci:b here but "
		  "from oci:a at t.yaml:8" },
		{ HEAD "    - {ref: x:1, from: oci:a}\n    - x:1\n",
		  "docker.io/library/x:1 comes from its registry here but from oci:a" },
	};
#undef HEAD
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		buf_fails(i, cases[i].yaml, cases[i].want);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_minimal_defaults),
	cmocka_unit_test(test_multi_pack),
	cmocka_unit_test(test_duplicates_merged),
	cmocka_unit_test(test_load_buf),
	cmocka_unit_test(test_referrer_keys),
	cmocka_unit_test(test_not_yaml),
	cmocka_unit_test(test_missing_file),
	cmocka_unit_test(test_missing_name),
	cmocka_unit_test(test_wrong_api_version),
	cmocka_unit_test(test_unknown_key_suggests),
	cmocka_unit_test(test_images_not_a_list),
	cmocka_unit_test(test_bad_reference),
	cmocka_unit_test(test_include_missing),
	cmocka_unit_test(test_manifests_every_kind),
	cmocka_unit_test(test_manifests_errors),
	cmocka_unit_test(test_values_cilium),
	cmocka_unit_test(test_values_bitnami),
	cmocka_unit_test(test_values_errors),
	cmocka_unit_test(test_include_layers),
	cmocka_unit_test(test_include_cycle),
	cmocka_unit_test(test_pack_key_suggested),
	cmocka_unit_test(test_exclude_all),
	cmocka_unit_test(test_load_many),
	cmocka_unit_test(test_version_number_needs_quotes),
	cmocka_unit_test(test_inline_errors),
	cmocka_unit_test(test_example_profile),
	cmocka_unit_test(test_local_image),
	cmocka_unit_test(test_local_image_errors),
};

BARGE_TEST_MAIN(tests)
