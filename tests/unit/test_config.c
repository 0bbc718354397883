#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static int
load(struct config *c, const char *yaml, struct barge_err *err)
{
	assert_int_equal(config_init(c, err), BARGE_OK);
	return config_load_buf(c, "barged.yaml", yaml, strlen(yaml), err);
}

static void
test_defaults(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(load(&c, "# nothing set\n", &err), BARGE_OK);
	assert_string_equal(c.data_dir, "/var/lib/barge");
	assert_string_equal(c.listen, ":30003");
	assert_string_equal(c.project, "edge");
	assert_int_equal(c.threads, 16);
	assert_int_equal(c.plain_http, 0);
	assert_int_equal(c.auth.anonymous_pull, 1);
	assert_null(c.auth.admin_password_file);
	assert_null(c.tls.cert);
	assert_int_equal(c.registry.allow_delete, 0);
	assert_int_equal(c.registry.max_uploads, 64);
	assert_string_equal(c.webhook.advertise, "127.0.0.1:30003");
	assert_int_equal(c.webhook.policy, CONFIG_POLICY_PRESENT);
	assert_int_equal(c.log.format, CONFIG_LOG_TEXT);
	assert_int_equal(c.log.level, CONFIG_LOG_INFO);
	assert_string_equal(c.log.access, "stdout");
	assert_int_equal(config_check(&c, &err), BARGE_OK);
	config_free(&c);
}

static void
test_full_file(void **state)
{
	struct barge_err err = { 0 };
	struct config c;
	char path[512];

	(void)state;
	assert_int_equal(config_init(&c, &err), BARGE_OK);
	snprintf(path, sizeof(path), "%s/config/full.yaml", BARGE_TEST_DATA);
	assert_int_equal(config_load_file(&c, path, &err), BARGE_OK);
	assert_string_equal(c.data_dir, "/srv/barge");
	assert_string_equal(c.listen, "127.0.0.1:5000");
	assert_string_equal(c.project, "retail");
	assert_int_equal(c.threads, 8);
	assert_int_equal(c.plain_http, 0);
	assert_string_equal(c.tls.cert, "/etc/barge/tls.crt");
	assert_string_equal(c.tls.key, "/etc/barge/tls.key");
	assert_int_equal(c.tls.names.n, 2);
	assert_string_equal(c.tls.names.v[0], "registry.local");
	assert_string_equal(c.tls.names.v[1], "10.0.0.5");
	assert_int_equal(c.auth.anonymous_pull, 0);
	assert_string_equal(c.auth.admin_password_file, "/etc/barge/admin.password");
	assert_int_equal(c.registry.allow_delete, 1);
	assert_int_equal(c.registry.max_uploads, 16);
	assert_string_equal(c.webhook.advertise, "10.0.0.5:30003");
	assert_int_equal(c.webhook.policy, CONFIG_POLICY_ALWAYS);
	assert_int_equal(c.webhook.exclude_namespaces.n, 2);
	assert_string_equal(c.webhook.exclude_namespaces.v[1], "barge-system");
	assert_int_equal(c.webhook.label_keys.n, 1);
	assert_int_equal(c.import.watch.n, 1);
	assert_string_equal(c.import.watch.v[0], "/media/usb");
	assert_int_equal(c.import.require_signature, CONFIG_TRUE);
	assert_int_equal(c.load.tags, CONFIG_TAGS_REFUSE);
	assert_int_equal(c.log.format, CONFIG_LOG_JSON);
	assert_int_equal(c.log.level, CONFIG_LOG_DEBUG);
	assert_string_equal(c.log.access, "/var/log/barged-access.log");
	assert_int_equal(config_check(&c, &err), BARGE_OK);

	/* Flags win over the file; list flags append. */
	assert_int_equal(config_set(&c, "listen", ":6000", &err), BARGE_OK);
	assert_int_equal(config_set(&c, "auth.anonymous_pull", "true", &err), BARGE_OK);
	assert_int_equal(config_set(&c, "tls.names", "edge-1", &err), BARGE_OK);
	assert_int_equal(config_set(&c, "log.level", "warn", &err), BARGE_OK);
	assert_int_equal(config_set(&c, "threads", "2", &err), BARGE_OK);
	assert_string_equal(c.listen, ":6000");
	assert_int_equal(c.auth.anonymous_pull, 1);
	assert_int_equal(c.tls.names.n, 3);
	assert_string_equal(c.tls.names.v[2], "edge-1");
	assert_int_equal(c.log.level, CONFIG_LOG_WARN);
	assert_int_equal(c.threads, 2);
	config_free(&c);
}

static void
test_unknown_key_suggests(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(load(&c, "listen: ':1'\nauth:\n  anonymous_pul: false\n", &err),
	                 BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:3:3: unknown key \"anonymous_pul\" in auth; did "
	                             "you mean \"anonymous_pull\"?");
	config_free(&c);

	assert_int_equal(load(&c, "plian_http: true\n", &err), BARGE_EINVAL);
	assert_string_equal(
	        err.msg,
	        "barged.yaml:1:1: unknown key \"plian_http\"; did you mean \"plain_http\"?");
	config_free(&c);

	/* Nothing close: the valid keys are listed. */
	assert_int_equal(load(&c, "log:\n  colour: red\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:2:3: unknown key \"colour\" in log; valid keys: "
	                             "format, level, access");
	config_free(&c);
}

static void
test_wrong_types(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(load(&c, "threads: many\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg,
	                    "barged.yaml:1:10: threads: expected an integer, got a string");
	config_free(&c);

	assert_int_equal(load(&c, "threads: 0\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:1:10: threads: must be 1 to 256");
	config_free(&c);

	/* A quoted "false" is a string, not a boolean. */
	assert_int_equal(load(&c, "auth: {anonymous_pull: 'false'}\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:1:24: auth.anonymous_pull: expected true or "
	                             "false, got a string");
	config_free(&c);

	assert_int_equal(load(&c, "tls:\n  names: [a, 7]\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg,
	                    "barged.yaml:2:14: tls.names[1]: expected a string, got a number");
	config_free(&c);

	assert_int_equal(load(&c, "webhook:\n  policy: sometimes\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:2:11: webhook.policy: \"sometimes\" is not one "
	                             "of present, always");
	config_free(&c);

	assert_int_equal(load(&c, "tls: yes please\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:1:6: tls: expected a mapping, got a string");
	config_free(&c);

	assert_int_equal(load(&c, "- listen\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:1:1: expected a mapping of keys, got a list");
	config_free(&c);

	assert_int_equal(load(&c, "project: Edge\n", &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "barged.yaml:1:10: project: must be lowercase"));
	config_free(&c);

	assert_int_equal(load(&c, "data_dir: ''\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml:1:11: data_dir: must not be empty");
	config_free(&c);
}

static void
test_set_errors(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(config_init(&c, &err), BARGE_OK);
	assert_int_equal(config_set(&c, "auth.anonymous_pull", "maybe", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "auth.anonymous_pull: expected true or false, got \"maybe\"");
	assert_int_equal(config_set(&c, "registry.max_uploads", "-1", &err), BARGE_EINVAL);
	assert_int_equal(config_set(&c, "threads", "12x", &err), BARGE_EINVAL);
	assert_int_equal(config_set(&c, "auth.anonymous-pull", "true", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "unknown key \"auth.anonymous-pull\"; did you mean "
	                             "\"auth.anonymous_pull\"?");
	assert_int_equal(config_set(&c, "auth", "x", &err), BARGE_EINVAL);
	assert_int_equal(config_set(&c, "tls.cert", "/c.pem", &err), BARGE_OK);
	assert_int_equal(config_check(&c, &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "tls.cert and tls.key must be set together");
	assert_int_equal(config_set(&c, "tls.key", "/k.pem", &err), BARGE_OK);
	assert_int_equal(config_check(&c, &err), BARGE_OK);
	config_free(&c);
}

static void
test_missing_file(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(config_init(&c, &err), BARGE_OK);
	assert_int_equal(config_load_file(&c, "/nonexistent/barged.yaml", &err), BARGE_ENOTFOUND);
	assert_string_equal(c.listen, ":30003");
	config_free(&c);

	/* Two documents are refused rather than silently merged. */
	assert_int_equal(load(&c, "listen: ':1'\n---\nlisten: ':2'\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "barged.yaml: expected one YAML document, found 2");
	config_free(&c);
}

/* load.tags and import.require_signature: their defaults, words, YAML booleans and errors. */
static void
test_tags_and_import_signature(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(load(&c, "# nothing set\n", &err), BARGE_OK);
	assert_int_equal(c.load.tags, CONFIG_TAGS_MOVE);
	assert_int_equal(c.import.require_signature, CONFIG_AUTO);
	config_free(&c);
	assert_int_equal(
	        load(&c, "load:\n  tags: keep\nimport:\n  require_signature: false\n", &err),
	        BARGE_OK);
	assert_int_equal(c.load.tags, CONFIG_TAGS_KEEP);
	assert_int_equal(c.import.require_signature, CONFIG_FALSE);
	assert_int_equal(config_set(&c, "import.require_signature", "auto", &err), BARGE_OK);
	assert_int_equal(c.import.require_signature, CONFIG_AUTO);
	assert_int_equal(config_set(&c, "load.tags", "refuse", &err), BARGE_OK);
	assert_int_equal(c.load.tags, CONFIG_TAGS_REFUSE);
	assert_int_equal(config_set(&c, "import.require_signature", "maybe", &err), BARGE_EINVAL);
	assert_string_equal(err.msg,
	                    "import.require_signature: \"maybe\" is not one of auto, true, false");
	config_free(&c);
	assert_int_equal(load(&c, "import:\n  require_signature: \"true\"\n", &err), BARGE_OK);
	assert_int_equal(c.import.require_signature, CONFIG_TRUE);
	config_free(&c);
	assert_int_equal(load(&c, "load:\n  tags: sometimes\n", &err), BARGE_EINVAL);
	assert_string_equal(err.msg,
	                    "barged.yaml:2:9: load.tags: \"sometimes\" is not one of move, "
	                    "keep, refuse");
	config_free(&c);
	/* Booleans only where true and false are words of the key. */
	assert_int_equal(load(&c, "load:\n  tags: true\n", &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "load.tags: expected one of move, keep, refuse"));
	config_free(&c);
}

/* webhook.rules as the docs write them: every field read, in order. */
static void
test_webhook_rules(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(load(&c,
	                      "webhook:\n"
	                      "  skip_pods_with_pull_secrets: true\n"
	                      "  rules:\n"
	                      "    - name: docker.io rewrite\n"
	                      "      match: ['^docker\\.io/']\n"
	                      "      exclude: ['^docker\\.io/(library/)?ubuntu:.*$']\n"
	                      "      replace: harbor.example.net/dockerhub/\n"
	                      "      policy: always\n"
	                      "    - match: ['.']\n",
	                      &err),
	                 BARGE_OK);
	assert_int_equal(c.webhook.skip_pods_with_pull_secrets, 1);
	assert_int_equal(c.webhook.nrules, 2);
	assert_string_equal(c.webhook.rules[0].name, "docker.io rewrite");
	assert_int_equal(c.webhook.rules[0].nmatch, 1);
	assert_string_equal(c.webhook.rules[0].match[0].re, "^docker\\.io/");
	assert_int_equal(c.webhook.rules[0].match[0].line, 5);
	assert_string_equal(c.webhook.rules[0].exclude[0].re, "^docker\\.io/(library/)?ubuntu:.*$");
	assert_string_equal(c.webhook.rules[0].replace, "harbor.example.net/dockerhub/");
	assert_int_equal(c.webhook.rules[0].policy, CONFIG_RULE_ALWAYS);
	assert_null(c.webhook.rules[1].replace);
	assert_int_equal(c.webhook.rules[1].policy, CONFIG_RULE_INHERIT);
	assert_int_equal(config_check(&c, &err), BARGE_OK);
	config_free(&c);

	/* No key: no rules, the webhook's default rule applies. */
	assert_int_equal(load(&c, "webhook: {policy: always}\n", &err), BARGE_OK);
	assert_null(c.webhook.rules);
	assert_int_equal(c.webhook.skip_pods_with_pull_secrets, 0);
	config_free(&c);
}

/* A bad rule is refused at start-up, naming the key and where it is. */
static void
test_webhook_rules_refused(void **state)
{
	struct barge_err err = { 0 };
	struct config c;
	char big[CONFIG_RULE_EXPR_MAX + 64];

	(void)state;
	assert_int_equal(load(&c,
	                      "webhook:\n  rules:\n    - match: [a]\n    - match: [b]\n"
	                      "    - match: ['^x', 'ok(']\n",
	                      &err),
	                 BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "barged.yaml:5:21: webhook.rules[2].match[1]: \"ok(\": "));
	config_free(&c);

	assert_int_equal(
	        load(&c, "webhook:\n  rules:\n    - match: [a]\n      exclude: ['[z-a]']\n", &err),
	        BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "barged.yaml:4:17: webhook.rules[0].exclude[0]: "));
	config_free(&c);

	assert_int_equal(load(&c, "webhook:\n  rules:\n    - match: '^docker'\n", &err),
	                 BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "webhook.rules[0].match: expected a list of expressions"));
	config_free(&c);

	assert_int_equal(load(&c, "webhook:\n  rules:\n    - exclude: [a]\n", &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "webhook.rules[0]: needs match"));
	config_free(&c);

	assert_int_equal(load(&c, "webhook:\n  rules:\n    - match: [a]\n      replce: x\n", &err),
	                 BARGE_EINVAL);
	assert_string_equal(err.msg,
	                    "barged.yaml:4:7: webhook.rules[0]: unknown key \"replce\" (did "
	                    "you mean \"replace\"?); valid keys: name, match, exclude, "
	                    "replace, policy");
	config_free(&c);

	assert_int_equal(
	        load(&c, "webhook:\n  rules:\n    - {match: [a], policy: sometimes}\n", &err),
	        BARGE_EINVAL);
	assert_non_null(
	        strstr(err.msg, "webhook.rules[0].policy: expected one of present, always, never"));
	config_free(&c);

	memset(big, 'a', sizeof(big));
	memcpy(big, "webhook: {rules: [{match: [", 27);
	memcpy(big + sizeof(big) - 6, "]}]}\n", 6);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(load(&c, big, &err), BARGE_ELIMIT);
	assert_non_null(strstr(err.msg, "webhook.rules[0].match[0]: longer than 1024 bytes"));
	config_free(&c);

	/* policy present cannot be checked on another registry. */
	assert_int_equal(
	        load(&c, "webhook:\n  rules:\n    - {match: [a], replace: harbor.example.net/x}\n",
	             &err),
	        BARGE_OK);
	assert_int_equal(config_check(&c, &err), BARGE_EINVAL);
	assert_non_null(strstr(
	        err.msg, "webhook.rules[0]: policy present can check only a replace on barged"));
	config_free(&c);

	assert_int_equal(config_init(&c, &err), BARGE_OK);
	assert_int_equal(config_set(&c, "webhook.rules", "x", &err), BARGE_EINVAL);
	config_free(&c);
}

static void
test_proxy_section(void **state)
{
	struct barge_err err = { 0 };
	struct config c;

	(void)state;
	assert_int_equal(load(&c,
	                      "proxy:\n  upstreams:\n    - registry: docker.io\n"
	                      "      url: https://registry-1.docker.io\n"
	                      "      username: robot\n      password_file: /etc/pw\n"
	                      "  revalidate_timeout_ms: 1500\n  backoff_s: 10\n"
	                      "  peers: [http://10.0.0.2:30003]\n  max_size: 10G\n",
	                      &err),
	                 BARGE_OK);
	assert_int_equal(c.proxy.nupstreams, 1);
	assert_string_equal(c.proxy.upstreams[0].registry, "docker.io");
	assert_string_equal(c.proxy.upstreams[0].password_file, "/etc/pw");
	assert_int_equal(c.proxy.revalidate_timeout_ms, 1500);
	assert_int_equal(c.proxy.backoff_s, 10);
	assert_int_equal(c.proxy.peer_timeout_ms, 500);
	assert_true(config_proxy_enabled(&c));
	/* --proxy adds one, and replaces the one for the same registry. */
	assert_int_equal(config_set(&c, "proxy.upstreams", "quay.io=https://quay.io", &err),
	                 BARGE_OK);
	assert_int_equal(config_set(&c, "proxy.upstreams", "docker.io=http://127.0.0.1:5000", &err),
	                 BARGE_OK);
	assert_int_equal(c.proxy.nupstreams, 2);
	assert_string_equal(c.proxy.upstreams[0].url, "http://127.0.0.1:5000");
	assert_null(c.proxy.upstreams[0].username);
	assert_int_equal(config_check(&c, &err), BARGE_OK);
	assert_int_equal(config_set(&c, "proxy.upstreams", "quay.io", &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "expected REGISTRY=URL"));
	config_free(&c);

	assert_int_equal(config_init(&c, &err), BARGE_OK);
	assert_false(config_proxy_enabled(&c));
	config_free(&c);

	assert_int_equal(
	        load(&c, "proxy:\n  upstreams:\n    - registry: a.io\n      urll: x\n", &err),
	        BARGE_EINVAL);
	assert_non_null(strstr(err.msg,
	                       "barged.yaml:4:7: proxy.upstreams[0]: unknown key \"urll\"; "
	                       "did you mean \"url\"?"));
	config_free(&c);

	assert_int_equal(
	        load(&c, "proxy:\n  upstreams:\n    - registry: a.io\n      url: ftp://x\n", &err),
	        BARGE_OK);
	assert_int_equal(config_check(&c, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "line 3:7: proxy.upstreams[0].url \"ftp://x\""));
	config_free(&c);

	assert_int_equal(load(&c,
	                      "proxy:\n  upstreams:\n    - registry: a.io\n      url: http://x\n"
	                      "      username: u\n      password_file: p\n      exec: /bin/e\n",
	                      &err),
	                 BARGE_OK);
	assert_int_equal(config_check(&c, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "one kind of credentials"));
	config_free(&c);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_defaults),
	cmocka_unit_test(test_full_file),
	cmocka_unit_test(test_unknown_key_suggests),
	cmocka_unit_test(test_wrong_types),
	cmocka_unit_test(test_set_errors),
	cmocka_unit_test(test_missing_file),
	cmocka_unit_test(test_tags_and_import_signature),
	cmocka_unit_test(test_webhook_rules),
	cmocka_unit_test(test_webhook_rules_refused),
	cmocka_unit_test(test_proxy_section),
};

BARGE_TEST_MAIN(tests)
