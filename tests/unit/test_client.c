#include "test_main.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "client_auth.h"
#include "client_retry.h"

static void
config_with(struct client_config *cfg, const char *const *mirrors, const char *const *insecure)
{
	struct barge_err err;

	memset(cfg, 0, sizeof(*cfg));
	for (; mirrors != NULL && *mirrors != NULL; mirrors++)
		if (client_config_add_mirror(cfg, *mirrors, &err) != BARGE_OK)
			fail_msg("%s: %s", *mirrors, err.msg);
	for (; insecure != NULL && *insecure != NULL; insecure++)
		if (client_config_add_insecure(cfg, *insecure, &err) != BARGE_OK)
			fail_msg("%s: %s", *insecure, err.msg);
}

static void
test_endpoint_table(void **state)
{
	static const char *const mirrors[] = {
		"docker.io=http://127.0.0.1:5000",
		"quay.io=https://quay-mirror.example.com/",
		"ghcr.io=http://[::1]:5001",
		"gcr.io=http://10.1.2.3:5000",
		NULL,
	};
	static const char *const insecure[] = { "10.1.2.3:5000", "registry.lab", NULL };
	static const struct {
		const char *host, *want;
	} cases[] = {
		{ "docker.io", "http://127.0.0.1:5000" },
		{ "index.docker.io", "http://127.0.0.1:5000" },
		{ "quay.io", "https://quay-mirror.example.com" },
		{ "ghcr.io", "http://[::1]:5001" },
		{ "gcr.io", "http://10.1.2.3:5000" },
		{ "localhost:5000", "http://localhost:5000" },
		{ "localhost", "http://localhost" },
		{ "127.0.0.1:5000", "http://127.0.0.1:5000" },
		{ "127.200.0.9:80", "http://127.200.0.9:80" },
		{ "[::1]:5000", "http://[::1]:5000" },
		{ "registry.example.com", "https://registry.example.com" },
		{ "registry.example.com:5000", "https://registry.example.com:5000" },
		{ "128.0.0.1:5000", "https://128.0.0.1:5000" },
		{ "localhost.example.com", "https://localhost.example.com" },
		{ "registry.lab", "http://registry.lab" },
		{ "registry.lab:8443", "http://registry.lab:8443" },
	};
	struct client_config cfg;
	struct barge_err err;
	char *url;
	size_t i;

	config_with(&cfg, mirrors, insecure);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		url = NULL;
		if (client_endpoint(&cfg, cases[i].host, &url, &err) != BARGE_OK)
			fail_msg("%s: %s", cases[i].host, err.msg);
		if (strcmp(url, cases[i].want) != 0)
			fail_msg("%s: got %s, want %s", cases[i].host, url, cases[i].want);
		free(url);
	}
	client_config_clear(&cfg);
}

static void
test_docker_hub_default(void **state)
{
	struct client_config cfg;
	struct barge_err err;
	char *url = NULL;

	config_with(&cfg, NULL, NULL);
	assert_int_equal(client_endpoint(&cfg, "docker.io", &url, &err), BARGE_OK);
	assert_string_equal(url, "https://registry-1.docker.io");
	free(url);
	client_config_clear(&cfg);
}

static void
test_later_mirror_wins(void **state)
{
	static const char *const mirrors[] = { "docker.io=http://127.0.0.1:5000",
		                               "docker.io=http://127.0.0.1:6000", NULL };
	struct client_config cfg;
	struct barge_err err;
	char *url = NULL;

	config_with(&cfg, mirrors, NULL);
	assert_int_equal(cfg.nmirrors, 1);
	assert_int_equal(client_endpoint(&cfg, "docker.io", &url, &err), BARGE_OK);
	assert_string_equal(url, "http://127.0.0.1:6000");
	free(url);
	client_config_clear(&cfg);
}

static void
test_plain_http_mirror_refused(void **state)
{
	static const char *const mirrors[] = { "docker.io=http://mirror.example.com:5000", NULL };
	struct client_config cfg;
	struct barge_err err;
	char *url = NULL;

	config_with(&cfg, mirrors, NULL);
	assert_int_equal(client_endpoint(&cfg, "docker.io", &url, &err), BARGE_EINVAL);
	assert_null(url);
	assert_non_null(strstr(err.msg, "mirror for docker.io: plain http to "
	                                "mirror.example.com:5000 is allowed only for loopback"));
	client_config_clear(&cfg);
}

static void
test_bad_mirror_specs(void **state)
{
	static const char *const bad[] = {
		"docker.io",
		"=http://127.0.0.1:5000",
		"docker.io=ftp://127.0.0.1",
		"docker.io=127.0.0.1:5000",
		"docker.io=http://127.0.0.1:5000/v2/prefix",
		"docker.io=http://user@127.0.0.1:5000",
		"docker.io=http://",
		"docker io=http://127.0.0.1:5000",
		NULL,
	};
	struct client_config cfg = { 0 };
	struct barge_err err;
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		if (client_config_add_mirror(&cfg, bad[i], &err) != BARGE_EINVAL)
			fail_msg("%s accepted", bad[i]);
		assert_non_null(strstr(err.msg, "--registry-mirror"));
	}
	assert_int_equal(cfg.nmirrors, 0);
	client_config_clear(&cfg);
}

static void
test_loopback(void **state)
{
	assert_true(client_is_loopback("localhost"));
	assert_true(client_is_loopback("LOCALHOST:80"));
	assert_true(client_is_loopback("127.0.0.1"));
	assert_true(client_is_loopback("127.255.255.254:5000"));
	assert_true(client_is_loopback("[::1]:5000"));
	assert_true(client_is_loopback("[::1]"));
	assert_false(client_is_loopback("[::2]:5000"));
	assert_false(client_is_loopback("10.0.0.1:5000"));
	assert_false(client_is_loopback("127.0.0.1.nip.io"));
	assert_false(client_is_loopback("localhost.evil.com"));
	assert_false(client_is_loopback(""));
}

static void
test_challenge_table(void **state)
{
	static const struct {
		const char *in;
		const char *scheme, *realm, *service, *scope;
	} cases[] = {
		{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		  "scope=\"repository:library/nginx:pull\"",
		  "Bearer", "https://auth.docker.io/token", "registry.docker.io",
		  "repository:library/nginx:pull" },
		/* Commas inside quotes, a scope listing two actions. */
		{ "Bearer realm=\"http://127.0.0.1:5001/token\", "
		  "scope=\"repository:a/b:pull,push\"",
		  "Bearer", "http://127.0.0.1:5001/token", NULL, "repository:a/b:pull,push" },
		/* Unquoted values, mixed case names, spaces after commas. */
		{ "bearer Realm=https://r.example/t,  Service=reg", "bearer", "https://r.example/t",
		  "reg", NULL },
		/* Escapes inside quotes; unknown parameters ignored. */
		{ "Bearer realm=\"https://r/\\\"q\\\"\",error=\"insufficient_scope\"", "Bearer",
		  "https://r/\"q\"", NULL, NULL },
		{ "Basic realm=\"Registry Realm\"", "Basic", "Registry Realm", NULL, NULL },
	};
	struct client_challenge ch;
	struct barge_err err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ch, 0, sizeof(ch));
		if (client_parse_challenge(cases[i].in, &ch, &err) != BARGE_OK)
			fail_msg("case %zu: %s", i, err.msg);
		assert_string_equal(ch.scheme, cases[i].scheme);
		assert_string_equal(ch.realm, cases[i].realm);
		if (cases[i].service == NULL)
			assert_null(ch.service);
		else
			assert_string_equal(ch.service, cases[i].service);
		if (cases[i].scope == NULL)
			assert_null(ch.scope);
		else
			assert_string_equal(ch.scope, cases[i].scope);
		client_challenge_clear(&ch);
	}
}

static void
test_challenge_errors(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "Bearer service=\"registry.docker.io\"", "Bearer challenge without realm" },
		{ "Bearer realm=\"\"", "Bearer challenge without realm" },
		{ "Bearer realm=\"https://x", "unterminated quoted value" },
		{ "", "missing scheme" },
		{ "Bearer =x", "bad parameter" },
		{ "Bearer realm", "bad parameter" },
	};
	struct client_challenge ch;
	struct barge_err err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ch, 0, sizeof(ch));
		err_clear(&err);
		if (client_parse_challenge(cases[i].in, &ch, &err) != BARGE_EFORMAT)
			fail_msg("case %zu accepted", i);
		if (strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want);
		assert_null(ch.scheme);
	}
}

/* Port 1 on loopback is never a registry: the refusal must name the image and the endpoint. */
static void
test_unreachable_names_endpoint(void **state)
{
	static const char *const mirrors[] = { "docker.io=http://127.0.0.1:1", NULL };
	struct client_manifest m = { 0 };
	struct client_config cfg;
	struct client *c = NULL;
	struct barge_err err;
	struct ref *r = NULL;

	config_with(&cfg, mirrors, NULL);
	/* A refused connection is retried: quickly here. */
	cfg.max_attempts = 2;
	cfg.backoff_ms = 10;
	assert_int_equal(client_new(&cfg, &c, &err), BARGE_OK);
	assert_int_equal(ref_parse("x:1", &r, &err), BARGE_OK);
	assert_int_equal(client_get_manifest(c, r, "1", &m, &err), BARGE_ENET);
	assert_string_equal(err.msg, "docker.io/library/x:1: cannot reach http://127.0.0.1:1: "
	                             "Couldn't connect to server");
	assert_null(m.buf);
	ref_free(r);
	client_free(c);
	client_config_clear(&cfg);
}

static void
test_retry_after(void **state)
{
	static const struct {
		const char *value;
		int64_t ms; /* -1: EFORMAT */
	} cases[] = {
		{ "0", 0 },
		{ "1", 1000 },
		{ "59", 59000 },
		{ "120", CLIENT_RETRY_AFTER_MAX_S * 1000 },
		{ "99999999999999999999999", CLIENT_RETRY_AFTER_MAX_S * 1000 },
		{ "Wed, 21 Oct 2015 07:28:30 GMT", 30000 },
		{ "Wed, 21 Oct 2015 07:28:00 GMT", 0 },
		{ "Tue, 20 Oct 2015 07:28:00 GMT", 0 },
		{ "Thu, 22 Oct 2015 07:28:00 GMT", CLIENT_RETRY_AFTER_MAX_S * 1000 },
		{ "", -1 },
		{ "1.5", -1 },
		{ "-1", -1 },
		{ "1 ", -1 },
		{ "soon", -1 },
		{ "Wed, 21 Oct 2015 07:28:30 UTC", -1 },
		{ "Wed, 21 Foo 2015 07:28:30 GMT", -1 },
		{ "Wed, 21 Oct 2015 25:28:30 GMT", -1 },
		{ "Wed, 21 Oct 2015 07:28:30 GMT extra", -1 },
		{ "Wednesday, 21-Oct-15 07:28:30 GMT", -1 },
	};
	/* 2015-10-21 07:28:00 UTC */
	const time_t now = 1445412480;
	int64_t ms;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = -7;
		rc = client_parse_retry_after(cases[i].value, now, &ms);
		if (cases[i].ms < 0) {
			if (rc != BARGE_EFORMAT)
				fail_msg("\"%s\" accepted as %lld ms", cases[i].value,
				         (long long)ms);
			continue;
		}
		if (rc != BARGE_OK || ms != cases[i].ms)
			fail_msg("\"%s\": rc %d, %lld ms, want %lld", cases[i].value, rc,
			         (long long)ms, (long long)cases[i].ms);
	}
}

static void
test_backoff_bounds(void **state)
{
	struct client_config cfg = { .backoff_ms = 100, .backoff_max_ms = 1000 };
	struct client_config dflt = { 0 };
	static const uint32_t rnds[] = { 0, 1, 49, 50, 51, 12345, 0x7fffffff, 0xffffffff };
	int64_t want, d;
	size_t k;
	int a;

	for (a = 1; a <= 40; a++) {
		want = a >= 5 ? 1000 : 100LL << (a - 1);
		for (k = 0; k < sizeof(rnds) / sizeof(rnds[0]); k++) {
			d = client_backoff_ms(&cfg, a, rnds[k]);
			if (d < want / 2 || d > want)
				fail_msg("attempt %d rnd %u: %lld ms, want %lld..%lld", a, rnds[k],
				         (long long)d, (long long)want / 2, (long long)want);
		}
	}
	/* The jitter spreads: not every draw gives the same delay. */
	assert_true(client_backoff_ms(&cfg, 3, 0) != client_backoff_ms(&cfg, 3, 150));
	/* Defaults: 500 ms doubling up to 30 s, whatever the attempt number. */
	d = client_backoff_ms(&dflt, 1, 0xffffffff);
	assert_true(d >= CLIENT_BACKOFF_MS_DEFAULT / 2 && d <= CLIENT_BACKOFF_MS_DEFAULT);
	d = client_backoff_ms(&dflt, 1000000, 0xffffffff);
	assert_true(d >= CLIENT_BACKOFF_MAX_MS_DEFAULT / 2 && d <= CLIENT_BACKOFF_MAX_MS_DEFAULT);
}

static void
test_retryable(void **state)
{
	static const long yes[] = { 429, 500, 502, 503, 504, 599 };
	static const long no[] = { 200, 206, 301, 400, 401, 403, 404, 416, 501, 505 };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(client_retryable_status(yes[i]));
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(client_retryable_status(no[i]));
	assert_true(client_retryable_curl(CURLE_COULDNT_CONNECT));
	assert_true(client_retryable_curl(CURLE_OPERATION_TIMEDOUT));
	assert_true(client_retryable_curl(CURLE_PARTIAL_FILE));
	assert_false(client_retryable_curl(CURLE_PEER_FAILED_VERIFICATION));
	assert_false(client_retryable_curl(CURLE_WRITE_ERROR));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_endpoint_table),
	cmocka_unit_test(test_docker_hub_default),
	cmocka_unit_test(test_later_mirror_wins),
	cmocka_unit_test(test_plain_http_mirror_refused),
	cmocka_unit_test(test_bad_mirror_specs),
	cmocka_unit_test(test_loopback),
	cmocka_unit_test(test_challenge_table),
	cmocka_unit_test(test_challenge_errors),
	cmocka_unit_test(test_unreachable_names_endpoint),
	cmocka_unit_test(test_retry_after),
	cmocka_unit_test(test_backoff_bounds),
	cmocka_unit_test(test_retryable),
};

BARGE_TEST_MAIN(tests)
