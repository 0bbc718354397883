#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "ref.h"

#define SHA256_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/*
 * Calls fn on every row of a TSV under tests/data/refs, skipping '#'
 * comments, with the fields split at tabs.  Returns the number of rows.
 */
static int
each_row(const char *file, int nfields, void (*fn)(char **f, int line))
{
	char path[512], *buf = NULL, *line, *next, *f[4];
	struct barge_err e;
	size_t len;
	int n = 0, lineno = 0, i;

	snprintf(path, sizeof(path), "%s/refs/%s", BARGE_TEST_DATA, file);
	if (fu_read_file(path, 1 << 20, &buf, &len, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (line[0] == '#')
			continue;
		for (i = 0; i < nfields; i++) {
			f[i] = line;
			line = strchr(line, '\t');
			if (line == NULL && i + 1 < nfields)
				fail_msg("%s:%d: want %d tab-separated fields", file, lineno,
				         nfields);
			if (line != NULL)
				*line++ = '\0';
		}
		fn(f, lineno);
		n++;
	}
	free(buf);
	return n;
}

static void
check_valid(char **f, int line)
{
	struct ref *r = NULL;
	struct barge_err e;
	char *s, *local, *name;

	err_clear(&e);
	if (ref_parse(f[0], &r, &e) != BARGE_OK)
		fail_msg("valid.tsv:%d: \"%s\" rejected: %s", line, f[0], e.msg);
	s = ref_string(r);
	local = ref_local_repo(r, "edge");
	name = ref_name(r);
	assert_non_null(s);
	assert_non_null(local);
	assert_non_null(name);
	if (strcmp(s, f[1]) != 0)
		fail_msg("valid.tsv:%d: \"%s\" gave \"%s\", want \"%s\"", line, f[0], s, f[1]);
	if (strcmp(local, f[2]) != 0)
		fail_msg("valid.tsv:%d: \"%s\" local repo \"%s\", want \"%s\"", line, f[0], local,
		         f[2]);
	/* The name is the string up to the tag or digest. */
	assert_int_equal(strncmp(s, name, strlen(name)), 0);
	assert_true(s[strlen(name)] == ':' || s[strlen(name)] == '@');
	/* Every local repository the device registry would get is a valid one. */
	if (strlen(local) <= 255 && !ref_valid_repo(local))
		fail_msg("valid.tsv:%d: local repo \"%s\" is not a valid repository", line, local);
	/* Normalising twice changes nothing. */
	ref_free(r);
	r = NULL;
	if (ref_parse(s, &r, &e) != BARGE_OK)
		fail_msg("valid.tsv:%d: normalised \"%s\" rejected: %s", line, s, e.msg);
	free(s);
	s = ref_string(r);
	assert_string_equal(s, f[1]);
	free(s);
	free(local);
	free(name);
	ref_free(r);
}

static void
check_invalid(char **f, int line)
{
	struct ref *r = NULL;
	struct barge_err e;
	int rc;

	err_clear(&e);
	rc = ref_parse(f[0], &r, &e);
	if (rc == BARGE_OK)
		fail_msg("invalid.tsv:%d: \"%s\" accepted", line, f[0]);
	assert_null(r);
	assert_int_equal(rc, BARGE_EINVAL);
	assert_int_equal(e.code, BARGE_EINVAL);
	if (strstr(e.msg, f[1]) == NULL)
		fail_msg("invalid.tsv:%d: \"%s\": message \"%s\" lacks \"%s\"", line, f[0], e.msg,
		         f[1]);
	/* Every message says which reference it is about. */
	if (strncmp(e.msg, "invalid reference \"", 19) != 0)
		fail_msg("invalid.tsv:%d: message \"%s\" does not quote the reference", line,
		         e.msg);
}

static void
test_valid_refs(void **state)
{
	assert_true(each_row("valid.tsv", 3, check_valid) >= 30);
}

static void
test_invalid_refs(void **state)
{
	assert_true(each_row("invalid.tsv", 2, check_invalid) >= 40);
}

static void
test_fields(void **state)
{
	struct ref *r = NULL;
	struct barge_err e;

	assert_int_equal(ref_parse("localhost:5000/a/b:1.0@" SHA256_ABC, &r, &e), BARGE_OK);
	assert_string_equal(r->host, "localhost:5000");
	assert_string_equal(r->path, "a/b");
	assert_string_equal(r->tag, "1.0");
	assert_string_equal(r->digest, SHA256_ABC);
	ref_free(r);
	r = NULL;

	/* A digest alone: no "latest" is made up. */
	assert_int_equal(ref_parse("nginx@" SHA256_ABC, &r, &e), BARGE_OK);
	assert_null(r->tag);
	assert_string_equal(r->digest, SHA256_ABC);
	ref_free(r);
	r = NULL;

	assert_int_equal(ref_parse("nginx", &r, &e), BARGE_OK);
	assert_string_equal(r->host, "docker.io");
	assert_string_equal(r->path, "library/nginx");
	assert_string_equal(r->tag, "latest");
	assert_null(r->digest);
	ref_free(r);
}

static void
test_empty_and_control(void **state)
{
	struct ref *r = NULL;
	struct barge_err e;

	assert_int_equal(ref_parse("", &r, &e), BARGE_EINVAL);
	assert_string_equal(e.msg, "invalid reference \"\": empty reference");
	assert_int_equal(ref_parse(NULL, &r, &e), BARGE_EINVAL);
	assert_int_equal(ref_parse("nginx\t", &r, &e), BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "whitespace"));
	assert_int_equal(ref_parse("nginx\n:1", &r, &e), BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "whitespace"));
	assert_int_equal(ref_parse("ngi\x01nx", &r, &e), BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "control"));
	assert_null(r);
}

static void
test_too_long_input(void **state)
{
	struct ref *r = NULL;
	struct barge_err e;
	char *s;

	s = malloc(REF_MAX + 2);
	assert_non_null(s);
	memset(s, 'a', REF_MAX + 1);
	s[REF_MAX + 1] = '\0';
	assert_int_equal(ref_parse(s, &r, &e), BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "longer than 4096 bytes"));
	/* The message quotes the start of the input, not all of it. */
	assert_true(strlen(e.msg) < 400);
	assert_null(r);
	free(s);
}

static void
test_null_err(void **state)
{
	struct ref *r = NULL;

	assert_int_equal(ref_parse("Foo", &r, NULL), BARGE_EINVAL);
	assert_int_equal(ref_parse("nginx@sha256:1", &r, NULL), BARGE_EINVAL);
	assert_null(r);
	ref_free(NULL);
}

static void
test_valid_repo(void **state)
{
	char long_repo[300];

	assert_true(ref_valid_repo("edge/docker.io/library/nginx"));
	assert_true(ref_valid_repo("edge/localhost_5000/a"));
	assert_true(ref_valid_repo("edge/ip6__0-0-0-0-0-0-0-1_5000/a"));
	assert_true(ref_valid_repo("a"));
	assert_true(ref_valid_repo("a__b/c---d/e.f"));
	assert_false(ref_valid_repo(""));
	assert_false(ref_valid_repo(NULL));
	assert_false(ref_valid_repo("Edge/a"));
	assert_false(ref_valid_repo("edge/localhost:5000/a"));
	assert_false(ref_valid_repo("a/"));
	assert_false(ref_valid_repo("/a"));
	assert_false(ref_valid_repo("a//b"));
	assert_false(ref_valid_repo("a___b"));
	assert_false(ref_valid_repo("a_-b"));
	assert_false(ref_valid_repo("a.."));
	assert_false(ref_valid_repo("../a"));
	assert_false(ref_valid_repo("a b"));

	memset(long_repo, 'a', 255);
	long_repo[255] = '\0';
	assert_true(ref_valid_repo(long_repo));
	long_repo[255] = 'a';
	long_repo[256] = '\0';
	assert_false(ref_valid_repo(long_repo));
}

static void
test_valid_tag(void **state)
{
	char tag[200];

	assert_true(ref_valid_tag("latest"));
	assert_true(ref_valid_tag("1.25"));
	assert_true(ref_valid_tag("_x"));
	assert_true(ref_valid_tag("V1.2-rc.1_b"));
	assert_false(ref_valid_tag(""));
	assert_false(ref_valid_tag(NULL));
	assert_false(ref_valid_tag(".x"));
	assert_false(ref_valid_tag("-x"));
	assert_false(ref_valid_tag("a:b"));
	assert_false(ref_valid_tag("a/b"));
	assert_false(ref_valid_tag("a@b"));
	assert_false(ref_valid_tag("a b"));

	memset(tag, 'a', 128);
	tag[128] = '\0';
	assert_true(ref_valid_tag(tag));
	tag[128] = 'a';
	tag[129] = '\0';
	assert_false(ref_valid_tag(tag));
}

static void
test_local_repo_project(void **state)
{
	struct ref *r = NULL;
	struct barge_err e;
	char *s;

	assert_int_equal(ref_parse("registry.local:5000/a/b:1", &r, &e), BARGE_OK);
	s = ref_local_repo(r, "retail");
	assert_string_equal(s, "retail/registry.local_5000/a/b");
	free(s);
	ref_free(r);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_valid_refs),
	cmocka_unit_test(test_invalid_refs),
	cmocka_unit_test(test_fields),
	cmocka_unit_test(test_empty_and_control),
	cmocka_unit_test(test_too_long_input),
	cmocka_unit_test(test_null_err),
	cmocka_unit_test(test_valid_repo),
	cmocka_unit_test(test_valid_tag),
	cmocka_unit_test(test_local_repo_project),
};

BARGE_TEST_MAIN(tests)
