#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "fileutil.h"
#include "fixture.h"

/* A scratch dir with DOCKER_CONFIG pointing at it and a bin/ for helpers in front of PATH. */
struct fx {
	char dir[FX_DIR_MAX];
	char *old_path;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct barge_err err;
	char *bin, *path;

	assert_non_null(f);
	fx_tmpdir(f->dir, "creds");
	bin = fu_printf("%s/bin", f->dir);
	assert_int_equal(fu_mkdirs(bin, 0755, &err), BARGE_OK);
	f->old_path = strdup(getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
	path = fu_printf("%s:%s", bin, f->old_path);
	setenv("PATH", path, 1);
	setenv("DOCKER_CONFIG", f->dir, 1);
	free(bin);
	free(path);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	setenv("PATH", f->old_path, 1);
	unsetenv("DOCKER_CONFIG");
	fx_rmtree(f->dir);
	free(f->old_path);
	free(f);
	return 0;
}

/* Looks registry up in the config text; returns the code, fills c and helper. */
static int
lookup(const char *json, const char *registry, struct creds *c, char **helper,
       struct barge_err *err)
{
	return creds_from_config(json, strlen(json), registry, c, helper, err);
}

static void
test_auths_variants(void **state)
{
	static const struct {
		const char *json, *registry, *user, *secret;
		int identity;
	} cases[] = {
		/* "auth": base64 of alice:s3cret:with:colons */
		{ "{\"auths\":{\"reg.example:5000\":{\"auth\":\"YWxpY2U6czNjcmV0OndpdGg6Y29sb25z\"}"
		  "}}",
		  "reg.example:5000", "alice", "s3cret:with:colons", 0 },
		{ "{\"auths\":{\"https://reg.example:5000/v1/\":{\"username\":\"bob\","
		  "\"password\":\"pw\"}}}",
		  "reg.example:5000", "bob", "pw", 0 },
		{ "{\"auths\":{\"http://"
		  "127.0.0.1:5000\":{\"username\":\"bob\",\"password\":\"\"}}}",
		  "127.0.0.1:5000", "bob", "", 0 },
		/* Docker Hub under any of its names. */
		{ "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnB3\"}}}",
		  "docker.io", "hub", "hubpw", 0 },
		{ "{\"auths\":{\"registry-1.docker.io\":{\"auth\":\"aHViOmh1YnB3\"}}}", "docker.io",
		  "hub", "hubpw", 0 },
		{ "{\"auths\":{\"reg.example\":{\"auth\":\"eDp5\",\"identitytoken\":\"idtok\"}}}",
		  "reg.example", "<token>", "idtok", 1 },
		/* An exact key wins over one that only matches once normalised. */
		{ "{\"auths\":{\"https://reg.example/v1/\":{\"auth\":\"YTpi\"},"
		  "\"reg.example\":{\"auth\":\"Yzpk\"}}}",
		  "reg.example", "c", "d", 0 },
		/* Case-insensitive host names. */
		{ "{\"auths\":{\"REG.example\":{\"auth\":\"YTpi\"}}}", "reg.example", "a", "b", 0 },
	};
	struct barge_err err;
	struct creds c;
	char *helper;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (lookup(cases[i].json, cases[i].registry, &c, &helper, &err) != BARGE_OK)
			fail_msg("case %zu: %s", i, err.msg);
		assert_null(helper);
		if (c.username == NULL)
			fail_msg("case %zu: no credentials found", i);
		assert_string_equal(c.username, cases[i].user);
		assert_string_equal(c.secret, cases[i].secret);
		assert_int_equal(c.identity_token, cases[i].identity);
		assert_non_null(c.source);
		creds_clear(&c);
		assert_null(c.username);
	}
}

static void
test_no_match(void **state)
{
	static const char *const cases[] = {
		"{}",
		"{\"auths\":{}}",
		"{\"auths\":{\"other.example\":{\"auth\":\"YTpi\"}}}",
		/* A port is part of the registry's name. */
		"{\"auths\":{\"reg.example:5001\":{\"auth\":\"YTpi\"}}}",
		"{\"auths\":{\"reg.example.evil\":{\"auth\":\"YTpi\"}}}",
		/* An entry a credsStore left behind: nothing in it. */
		"{\"auths\":{\"reg.example:5000\":{}}}",
		"{\"credHelpers\":{\"other.example\":\"x\"}}",
	};
	struct barge_err err;
	struct creds c;
	char *helper;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (lookup(cases[i], "reg.example:5000", &c, &helper, &err) != BARGE_OK)
			fail_msg("case %zu: %s", i, err.msg);
		assert_null(c.username);
		assert_null(helper);
	}
}

static void
test_helpers_chosen(void **state)
{
	struct barge_err err;
	struct creds c;
	char *helper;

	/* credHelpers for the registry beats credsStore and auths. */
	assert_int_equal(
	        lookup("{\"credsStore\":\"store\",\"credHelpers\":{\"reg.example\":\"one\"},"
	               "\"auths\":{\"reg.example\":{\"auth\":\"YTpi\"}}}",
	               "reg.example", &c, &helper, &err),
	        BARGE_OK);
	assert_string_equal(helper, "one");
	assert_null(c.username);
	free(helper);
	/* credsStore beats auths. */
	assert_int_equal(lookup("{\"credsStore\":\"store\",\"credHelpers\":{\"x.example\":\"one\"},"
	                        "\"auths\":{\"reg.example\":{\"auth\":\"YTpi\"}}}",
	                        "reg.example", &c, &helper, &err),
	                 BARGE_OK);
	assert_string_equal(helper, "store");
	free(helper);
	/* An empty credsStore is none. */
	assert_int_equal(
	        lookup("{\"credsStore\":\"\",\"auths\":{\"reg.example\":{\"auth\":\"YTpi\"}}}",
	               "reg.example", &c, &helper, &err),
	        BARGE_OK);
	assert_null(helper);
	assert_string_equal(c.username, "a");
	creds_clear(&c);
}

static void
test_malformed_config(void **state)
{
	static const char *const cases[] = {
		"{",
		"[]",
		"{\"auths\":[]}",
		"{\"auths\":{\"reg.example\":\"x\"}}",
		/* Not base64, no colon, a control character, padding in the middle. */
		"{\"auths\":{\"reg.example\":{\"auth\":\"!!!!\"}}}",
		"{\"auths\":{\"reg.example\":{\"auth\":\"c2VjcmV0cGFzcw==\"}}}",
		"{\"auths\":{\"reg.example\":{\"auth\":\"YTpiCg==\"}}}",
		"{\"auths\":{\"reg.example\":{\"auth\":\"YT==pi\"}}}",
		"{\"credsStore\":7}",
		"{\"credsStore\":\"../../bin/sh\"}",
		"{\"credHelpers\":{\"reg.example\":\"a b\"}}",
		"{\"credHelpers\":{\"reg.example\":1}}",
		"{\"credHelpers\":[]}",
	};
	struct barge_err err;
	struct creds c;
	char *helper;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (lookup(cases[i], "reg.example", &c, &helper, &err) != BARGE_EFORMAT)
			fail_msg("case %zu accepted: %s", i, cases[i]);
		assert_non_null(strstr(err.msg, "config.json"));
		assert_null(c.username);
		assert_null(helper);
		/* The undecodable secret is not repeated in the message. */
		assert_null(strstr(err.msg, "c2VjcmV0"));
		assert_null(strstr(err.msg, "secretpass"));
	}
}

static void
write_file(const char *path, const char *text, int mode)
{
	struct barge_err err;

	assert_int_equal(fu_write_atomic(path, text, strlen(text), mode, &err), BARGE_OK);
}

/* Installs bin/docker-credential-test running script (a POSIX sh body). */
static void
helper_script(struct fx *f, const char *script)
{
	char *path = fu_printf("%s/bin/docker-credential-test", f->dir);
	char *text = fu_printf("#!/bin/sh\n%s\n", script);

	write_file(path, text, 0755);
	free(path);
	free(text);
}

static void
test_helper_run(void **state)
{
	struct fx *f = *state;
	struct barge_err err;
	struct creds c;
	char *seen = fu_printf("%s/seen", f->dir), *buf = NULL, *script;
	size_t len;

	/* The helper gets "get" as its argument and the server on stdin. */
	script =
	        fu_printf("[ \"$1\" = get ] || exit 3\ncat > '%s'\n"
	                  "printf '{\"ServerURL\":\"x\",\"Username\":\"carol\",\"Secret\":\"pw\"}'",
	                  seen);
	helper_script(f, script);
	free(script);
	if (creds_from_helper("test", "reg.example:5000", &c, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_string_equal(c.username, "carol");
	assert_string_equal(c.secret, "pw");
	assert_int_equal(c.identity_token, 0);
	assert_string_equal(c.source, "docker-credential-test");
	creds_clear(&c);
	assert_int_equal(fu_read_file(seen, 100, &buf, &len, &err), BARGE_OK);
	assert_string_equal(buf, "reg.example:5000");
	free(buf);
	free(seen);
}

static void
test_helper_identity_token(void **state)
{
	struct fx *f = *state;
	struct barge_err err;
	struct creds c;

	helper_script(f,
	              "cat >/dev/null; echo '{\"Username\":\"<token>\",\"Secret\":\"refresh\"}'");
	assert_int_equal(creds_from_helper("test", "reg.example", &c, &err), BARGE_OK);
	assert_int_equal(c.identity_token, 1);
	assert_string_equal(c.secret, "refresh");
	creds_clear(&c);
}

static void
test_helper_not_found_is_none(void **state)
{
	struct fx *f = *state;
	struct barge_err err;
	struct creds c;

	helper_script(f, "echo 'credentials not found in native keychain'; exit 1");
	assert_int_equal(creds_from_helper("test", "reg.example", &c, &err), BARGE_OK);
	assert_null(c.username);
}

static void
test_helper_failures(void **state)
{
	struct fx *f = *state;
	struct barge_err err;
	struct creds c;

	helper_script(f, "echo 'keychain locked'; exit 1");
	assert_int_equal(creds_from_helper("test", "reg.example", &c, &err), BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "docker-credential-test"));
	assert_non_null(strstr(err.msg, "keychain locked"));
	helper_script(f, "echo 'not json'");
	assert_int_equal(creds_from_helper("test", "reg.example", &c, &err), BARGE_EAUTH);
	/* Endless output is cut off, not read forever. */
	helper_script(f, "cat >/dev/null; yes '{\"Username\":\"a\"}'");
	assert_int_equal(creds_from_helper("test", "reg.example", &c, &err), BARGE_ELIMIT);
	/* Exits without reading its input: no SIGPIPE kills us. */
	helper_script(f, "echo '{\"Username\":\"u\",\"Secret\":\"s\"}'; exec 0<&-");
	assert_int_equal(creds_from_helper("test", "reg.example", &c, &err), BARGE_OK);
	creds_clear(&c);
	assert_int_equal(creds_from_helper("missing", "reg.example", &c, &err), BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "docker-credential-missing"));
	assert_int_equal(creds_from_helper("../x", "reg.example", &c, &err), BARGE_EINVAL);
}

static void
test_lookup_from_docker_config(void **state)
{
	struct fx *f = *state;
	struct barge_err err;
	struct creds c;
	char *cfg = fu_printf("%s/config.json", f->dir);

	/* No file: no credentials, no error. */
	assert_int_equal(creds_lookup("reg.example", &c, &err), BARGE_OK);
	assert_null(c.username);
	write_file(cfg,
	           "{\"auths\":{\"reg.example\":{\"auth\":\"YTpi\"}},"
	           "\"credHelpers\":{\"helped.example\":\"test\"}}",
	           0600);
	assert_int_equal(creds_lookup("reg.example", &c, &err), BARGE_OK);
	assert_string_equal(c.username, "a");
	creds_clear(&c);
	helper_script(f, "read s; printf '{\"Username\":\"%s\",\"Secret\":\"x\"}' \"$s\"");
	assert_int_equal(creds_lookup("helped.example", &c, &err), BARGE_OK);
	assert_string_equal(c.username, "helped.example");
	creds_clear(&c);
	/* Docker Hub's helper key is its v1 URL, as docker passes it. */
	write_file(cfg, "{\"credsStore\":\"test\"}", 0600);
	assert_int_equal(creds_lookup("docker.io", &c, &err), BARGE_OK);
	assert_string_equal(c.username, "https://index.docker.io/v1/");
	creds_clear(&c);
	write_file(cfg, "{\"auths\":", 0600);
	assert_int_equal(creds_lookup("reg.example", &c, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, cfg));
	free(cfg);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_auths_variants, setup, teardown),
	cmocka_unit_test_setup_teardown(test_no_match, setup, teardown),
	cmocka_unit_test_setup_teardown(test_helpers_chosen, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_config, setup, teardown),
	cmocka_unit_test_setup_teardown(test_helper_run, setup, teardown),
	cmocka_unit_test_setup_teardown(test_helper_identity_token, setup, teardown),
	cmocka_unit_test_setup_teardown(test_helper_not_found_is_none, setup, teardown),
	cmocka_unit_test_setup_teardown(test_helper_failures, setup, teardown),
	cmocka_unit_test_setup_teardown(test_lookup_from_docker_config, setup, teardown),
};

BARGE_TEST_MAIN(tests)
