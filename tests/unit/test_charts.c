#include "test_main.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "charts.h"
#include "digest.h"
#include "fixture.h"
#include "manifest.h"
#include "mediatype.h"
#include "profile.h"

#define CHART_YAML                                                                  \
	"apiVersion: v2\nname: demo\ndescription: a test\nversion: 0.1.0+build.1\n" \
	"appVersion: \"1.0\"\nunknownKey: dropped\nkeywords: [a, b]\n"
#define VALUES_YAML "image:\n  repository: library/app-b\n  tag: \"1.0\"\n"

/* One file of an archive: its name in the archive and its bytes. */
struct file {
	const char *name;
	const char *text;
};

static void
sha(const void *buf, size_t len, char *out)
{
	struct barge_err err;

	assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, out, &err), BARGE_OK);
}

/* Writes files as a tar, gzip-compressed unless plain, to dir/name; caller frees the path. */
static char *
archive_make(const char *dir, const char *name, const struct file *files, size_t n, int plain)
{
	char *path = fx_path(dir, name);
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	size_t i;

	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (!plain)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, files[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(files[i].text));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, files[i].text, strlen(files[i].text)),
		                 (la_ssize_t)strlen(files[i].text));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

static const struct file demo[] = {
	{ "demo/Chart.yaml", CHART_YAML },
	{ "demo/templates/cm.yaml", "kind: ConfigMap\n" },
	{ "demo/charts/sub/values.yaml", "image: {repository: x/sub, tag: \"1\"}\n" },
	{ "demo/values.yaml", VALUES_YAML },
};

/* charts_open of files, which must fail with code and a message holding want. */
static void
open_fails(const struct file *files, size_t n, int plain, int code, const char *want)
{
	char dir[FX_DIR_MAX], *path;
	struct barge_err err = { 0 };
	struct chart *ch = NULL;

	fx_tmpdir(dir, "charts");
	path = archive_make(dir, "c.tgz", files, n, plain);
	assert_int_equal(charts_open(path, &ch, &err), code);
	assert_null(ch);
	if (strstr(err.msg, want) == NULL)
		fail_msg("\"%s\" not in \"%s\"", want, err.msg);
	free(path);
	fx_rmtree(dir);
}

static void
test_open_makes_helm_artifact(void **state)
{
	char dir[FX_DIR_MAX], *path, *bytes, want[DIGEST_STR_MAX];
	struct barge_err err = { 0 };
	struct manifest *m = NULL;
	struct chart *ch = NULL;
	size_t len;

	(void)state;
	fx_tmpdir(dir, "charts");
	path = archive_make(dir, "demo.tgz", demo, 4, 0);
	assert_int_equal(charts_open(path, &ch, &err), BARGE_OK);
	assert_string_equal(ch->name, "demo");
	assert_string_equal(ch->version, "0.1.0+build.1");
	assert_string_equal(ch->tag, "0.1.0_build.1");
	/* The layer is the archive, unchanged. */
	bytes = fx_read(path, &len);
	sha(bytes, len, want);
	assert_string_equal(ch->tgz_digest, want);
	assert_int_equal(ch->tgz_size, (int64_t)len);
	free(bytes);
	/* Chart.yaml's known fields, in Helm's order; unknown ones left out. */
	assert_string_equal(ch->config, "{\"name\":\"demo\",\"version\":\"0.1.0+build.1\","
	                                "\"description\":\"a test\",\"keywords\":[\"a\",\"b\"],"
	                                "\"apiVersion\":\"v2\",\"appVersion\":\"1.0\"}");
	sha(ch->config, ch->config_len, want);
	assert_string_equal(ch->config_digest, want);
	sha(ch->manifest, ch->manifest_len, want);
	assert_string_equal(ch->manifest_digest, want);
	assert_int_equal(manifest_parse(ch->manifest, ch->manifest_len, NULL, &m, &err), BARGE_OK);
	assert_string_equal(m->media_type, MT_OCI_MANIFEST);
	assert_string_equal(m->config.media_type, MT_HELM_CONFIG);
	assert_string_equal(m->config.digest, ch->config_digest);
	assert_int_equal(m->ndescs, 1);
	assert_string_equal(m->descs[0].media_type, MT_HELM_CHART);
	assert_string_equal(m->descs[0].digest, ch->tgz_digest);
	assert_true(charts_is_manifest(ch->manifest, ch->manifest_len));
	/* Its own values, not a subchart's. */
	assert_non_null(ch->values);
	assert_string_equal(ch->values, VALUES_YAML);
	assert_non_null(strstr(ch->values_name, "demo.tgz:demo/values.yaml"));
	manifest_free(m);
	charts_free(ch);
	free(path);
	fx_rmtree(dir);
}

static void
test_same_archive_same_digests(void **state)
{
	char dir[FX_DIR_MAX], *path;
	struct barge_err err = { 0 };
	struct chart *a = NULL, *b = NULL;

	(void)state;
	fx_tmpdir(dir, "charts");
	path = archive_make(dir, "demo.tgz", demo, 4, 0);
	assert_int_equal(charts_open(path, &a, &err), BARGE_OK);
	assert_int_equal(charts_open(path, &b, &err), BARGE_OK);
	assert_string_equal(a->manifest_digest, b->manifest_digest);
	assert_string_equal(a->manifest, b->manifest);
	charts_free(a);
	charts_free(b);
	free(path);
	fx_rmtree(dir);
}

static void
test_missing_chart_yaml(void **state)
{
	static const struct file f[] = { { "demo/values.yaml", VALUES_YAML } };

	(void)state;
	open_fails(f, 1, 0, BARGE_EFORMAT, "no <chart>/Chart.yaml in the archive");
}

static void
test_missing_version_named(void **state)
{
	static const struct file f[] = { { "demo/Chart.yaml", "apiVersion: v2\nname: demo\n" } };

	(void)state;
	open_fails(f, 1, 0, BARGE_EFORMAT, "c.tgz:demo/Chart.yaml:1:1: version: missing");
}

static void
test_number_version_named(void **state)
{
	static const struct file f[] = { { "demo/Chart.yaml",
		                           "apiVersion: v2\nname: demo\nversion: 1.0\n" } };

	(void)state;
	open_fails(f, 1, 0, BARGE_EFORMAT,
	           "demo/Chart.yaml:3:10: version: expected a string (quote it)");
}

static void
test_bad_name_named(void **state)
{
	static const struct file f[] = { { "demo/Chart.yaml",
		                           "apiVersion: v2\nname: Demo\nversion: 1.0.0\n" } };

	(void)state;
	open_fails(f, 1, 0, BARGE_EFORMAT, "demo/Chart.yaml:2:7: name: \"Demo\" cannot be");
}

static void
test_plain_tar_refused(void **state)
{
	(void)state;
	open_fails(demo, 4, 1, BARGE_EFORMAT, "not gzip-compressed");
}

static void
test_two_charts_refused(void **state)
{
	static const struct file f[] = {
		{ "a/Chart.yaml", "apiVersion: v2\nname: a\nversion: 1.0.0\n" },
		{ "b/Chart.yaml", "apiVersion: v2\nname: b\nversion: 1.0.0\n" },
	};

	(void)state;
	open_fails(f, 2, 0, BARGE_EFORMAT, "holds more than one chart");
}

static void
test_huge_chart_yaml_refused(void **state)
{
	struct file f[1] = { { "demo/Chart.yaml", NULL } };
	char *big = malloc(CHARTS_YAML_MAX + 2);

	(void)state;
	assert_non_null(big);
	memset(big, '#', CHARTS_YAML_MAX + 1);
	big[CHARTS_YAML_MAX + 1] = '\0';
	f[0].text = big;
	open_fails(f, 1, 0, BARGE_ELIMIT, "demo/Chart.yaml is larger than");
	free(big);
}

static void
test_too_many_files_refused(void **state)
{
	size_t i, n = CHARTS_ENTRIES_MAX + 1;
	struct file *f = calloc(n, sizeof(*f));
	char *names = malloc(n * 32);

	(void)state;
	assert_non_null(f);
	assert_non_null(names);
	f[0].name = "demo/Chart.yaml";
	f[0].text = "apiVersion: v2\nname: demo\nversion: 1.0.0\n";
	for (i = 1; i < n; i++) {
		snprintf(names + i * 32, 32, "demo/templates/%zu.yaml", i);
		f[i].name = names + i * 32;
		f[i].text = "";
	}
	open_fails(f, n, 0, BARGE_ELIMIT, "more than 10000 files");
	free(names);
	free(f);
}

static void
test_junk_refused(void **state)
{
	char dir[FX_DIR_MAX], *path;
	struct barge_err err = { 0 };
	struct chart *ch = NULL;

	(void)state;
	fx_tmpdir(dir, "charts");
	path = fx_path(dir, "junk.tgz");
	fx_write(path, "not a chart\n", 12);
	assert_int_equal(charts_open(path, &ch, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "junk.tgz: not a Helm chart archive"));
	free(path);
	fx_rmtree(dir);
}

/* charts_copy of blob digest into a file; its bytes, or NULL when it fails with code. */
static char *
copy_blob(const char *from, const char *digest, int64_t size, int code, const char *dir,
          size_t *len)
{
	struct barge_err err = { 0 };
	char *path = fx_path(dir, "out"), *bytes = NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(charts_copy(from, digest, size, fd, &err), code);
	close(fd);
	if (code == BARGE_OK)
		bytes = fx_read(path, len);
	free(path);
	return bytes;
}

static void
test_source_calls(void **state)
{
	char dir[FX_DIR_MAX], *path, *from, *bytes, *buf = NULL, *want;
	struct client_manifest cm = { 0 };
	struct barge_err err = { 0 };
	struct chart *ch = NULL;
	struct ref *r = NULL;
	size_t len, blen;

	(void)state;
	fx_tmpdir(dir, "charts");
	path = archive_make(dir, "demo.tgz", demo, 4, 0);
	assert_true(asprintf(&from, "chart:%s", path) > 0);
	assert_true(charts_is_source(from));
	assert_int_equal(charts_open(path, &ch, &err), BARGE_OK);
	want = charts_ref(ch);
	assert_string_equal(want, "charts.local/demo:0.1.0_build.1");
	assert_int_equal(ref_parse(want, &r, &err), BARGE_OK);
	assert_int_equal(charts_manifest(from, r, &cm, &err), BARGE_OK);
	assert_string_equal(cm.digest, ch->manifest_digest);
	assert_int_equal(cm.len, ch->manifest_len);
	client_manifest_clear(&cm);
	ref_free(r);
	/* Another version is not this archive. */
	assert_int_equal(ref_parse("charts.local/demo:0.2.0", &r, &err), BARGE_OK);
	assert_int_equal(charts_manifest(from, r, &cm, &err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "the chart is charts.local/demo:0.1.0_build.1@"));
	ref_free(r);
	assert_int_equal(charts_read(from, ch->config_digest, (int64_t)ch->config_len, 4096, &buf,
	                             &blen, &err),
	                 BARGE_OK);
	assert_string_equal(buf, ch->config);
	free(buf);
	/* The layer streams out as the archive's bytes; a digest it lacks is named. */
	bytes = copy_blob(from, ch->tgz_digest, ch->tgz_size, BARGE_OK, dir, &len);
	buf = fx_read(path, &blen);
	assert_int_equal(len, blen);
	assert_memory_equal(bytes, buf, len);
	free(bytes);
	free(buf);
	assert_null(copy_blob(from,
	                      "sha256:"
	                      "0000000000000000000000000000000000000000000000000000000000000000",
	                      10, BARGE_ENOTFOUND, dir, &len));
	free(want);
	charts_free(ch);
	free(from);
	free(path);
	fx_rmtree(dir);
}

static void
test_profile_charts(void **state)
{
	static const char y[] = "apiVersion: barge.dev/v1\nkind: ClusterProfile\n"
	                        "metadata: {name: t, version: 0.1.0}\nspec:\n  packs:\n"
	                        "    - name: apps\n      charts:\n        - demo.tgz\n"
	                        "        - oci://registry.example.com/charts/x:1.0.0\n";
	char dir[FX_DIR_MAX], *path, *prof, *bytes, want[DIGEST_STR_MAX];
	struct barge_err err = { 0 };
	struct profile *p = NULL;
	size_t i, len;
	int seen = 0;

	(void)state;
	fx_tmpdir(dir, "charts");
	path = archive_make(dir, "demo.tgz", demo, 4, 0);
	prof = fx_path(dir, "p.yaml");
	assert_int_equal(profile_load_buf(prof, y, sizeof(y) - 1, &p, &err), BARGE_OK);
	assert_int_equal(p->nimages, 3);
	for (i = 0; i < p->nimages; i++) {
		if (strcmp(p->images[i].source, "charts.local/demo:0.1.0_build.1") == 0) {
			assert_non_null(p->images[i].from);
			assert_int_equal(strncmp(p->images[i].from, "chart:", 6), 0);
			seen |= 1;
		} else if (strcmp(p->images[i].source, "docker.io/library/app-b:1.0") == 0) {
			assert_non_null(
			        strstr(p->images[i].origin.file, "demo.tgz:demo/values.yaml"));
			seen |= 2;
		} else if (strcmp(p->images[i].source, "registry.example.com/charts/x:1.0.0") ==
		           0) {
			assert_null(p->images[i].from);
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	/* The archive is among the files the lock records, with its sha256. */
	bytes = fx_read(path, &len);
	sha(bytes, len, want);
	free(bytes);
	for (i = 0; i < p->nfiles; i++)
		if (strstr(p->files[i].path, "demo.tgz") != NULL)
			assert_string_equal(p->files[i].sha256, want);
	assert_int_equal(p->nfiles, 2);
	profile_free(p);
	free(prof);
	free(path);
	fx_rmtree(dir);
}

static void
test_profile_chart_errors_named(void **state)
{
	static const char y[] = "apiVersion: barge.dev/v1\nkind: ClusterProfile\n"
	                        "metadata: {name: t, version: 0.1.0}\nspec:\n  packs:\n"
	                        "    - name: apps\n      charts:\n        - 7\n";
	static const char y2[] = "apiVersion: barge.dev/v1\nkind: ClusterProfile\n"
	                         "metadata: {name: t, version: 0.1.0}\nspec:\n  packs:\n"
	                         "    - name: apps\n      charts: [oci://r.example.com/c]\n";
	struct barge_err err = { 0 };
	struct profile *p = NULL;

	(void)state;
	assert_int_equal(profile_load_buf("t.yaml", y, sizeof(y) - 1, &p, &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "t.yaml:8:11: pack \"apps\": charts[0]: expected "
	                             "oci://HOST/PATH:VERSION or a chart archive (.tgz), got a "
	                             "number");
	assert_int_equal(profile_load_buf("t.yaml", y2, sizeof(y2) - 1, &p, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "t.yaml:7:16: pack \"apps\": charts[0]: "
	                                "\"oci://r.example.com/c\" names no version"));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_open_makes_helm_artifact),
	cmocka_unit_test(test_same_archive_same_digests),
	cmocka_unit_test(test_missing_chart_yaml),
	cmocka_unit_test(test_missing_version_named),
	cmocka_unit_test(test_number_version_named),
	cmocka_unit_test(test_bad_name_named),
	cmocka_unit_test(test_plain_tar_refused),
	cmocka_unit_test(test_two_charts_refused),
	cmocka_unit_test(test_huge_chart_yaml_refused),
	cmocka_unit_test(test_too_many_files_refused),
	cmocka_unit_test(test_junk_refused),
	cmocka_unit_test(test_source_calls),
	cmocka_unit_test(test_profile_charts),
	cmocka_unit_test(test_profile_chart_errors_named),
};

BARGE_TEST_MAIN(tests)
