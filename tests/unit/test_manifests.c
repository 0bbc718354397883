#include "test_main.h"

#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "fileutil.h"
#include "fixture.h"
#include "yjson.h"

/*
 * `barged manifests` and `barged mirror-config`, run as the program runs
 * them, their output read back as a user's tools would: YAML parsed, base64
 * decoded, certificates checked with OpenSSL, TOML files compared.
 */

struct fixture {
	char dir[FX_DIR_MAX];
	char *out, *data, *cfg;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct barge_err err;
	static const char cfg[] = "webhook:\n"
	                          "  exclude_namespaces: [kube-system]\n"
	                          "  label_keys: [example.com/imageswap]\n";

	assert_non_null(f);
	fx_tmpdir(f->dir, "manifests");
	f->out = fu_printf("%s/stdout", f->dir);
	f->data = fu_printf("%s/data", f->dir);
	f->cfg = fu_printf("%s/barged.yaml", f->dir);
	assert_int_equal(fu_write_atomic(f->cfg, cfg, sizeof(cfg) - 1, 0644, &err), BARGE_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f->out);
	free(f->data);
	free(f->cfg);
	free(f);
	return 0;
}

/* Runs verb fn with stdout captured into *text; returns the exit status. */
static int
run(struct fixture *f, int (*fn)(int, char **), char **text, int argc, char **argv)
{
	int saved, fd, status;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(f->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	status = fn(argc, argv);
	fflush(stdout);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_int_equal(fu_read_file(f->out, 1 << 20, text, NULL, NULL), BARGE_OK);
	return status;
}

/* The decoded bytes of base64 text b (NUL-terminated). */
static char *
unb64(const char *b)
{
	size_t n = strlen(b);
	unsigned char *out = malloc(n / 4 * 3 + 1);
	int m;

	assert_non_null(out);
	m = EVP_DecodeBlock(out, (const unsigned char *)b, (int)n);
	assert_true(m >= 0);
	while (m > 0 && out[m - 1] == '\0')
		m--;
	out[m] = '\0';
	return (char *)out;
}

/* The document of kind k (and name, if given). */
static json_t *
doc(const struct yjson *y, const char *k, const char *name)
{
	size_t i;

	for (i = 0; i < yjson_ndocs(y); i++) {
		json_t *d = yjson_doc(y, i);
		const char *dk = json_string_value(json_object_get(d, "kind"));
		const char *dn =
		        json_string_value(json_object_get(json_object_get(d, "metadata"), "name"));

		if (dk != NULL && strcmp(dk, k) == 0 &&
		    (name == NULL || (dn != NULL && strcmp(dn, name) == 0)))
			return d;
	}
	fail_msg("no %s %s in the output", k, name != NULL ? name : "");
	return NULL;
}

/* Follows a path of object keys and array indexes ("spec.ports.0.nodePort"). */
static json_t *
at(json_t *j, const char *path)
{
	char buf[256], *tok, *save = NULL;

	assert_true(strlen(path) < sizeof(buf));
	strcpy(buf, path);
	for (tok = strtok_r(buf, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save)) {
		if (json_is_array(j))
			j = json_array_get(j, strtoul(tok, NULL, 10));
		else
			j = json_object_get(j, tok);
		if (j == NULL)
			fail_msg("no %s (at %s)", path, tok);
	}
	return j;
}

static const char *
str(json_t *j, const char *path)
{
	const char *s = json_string_value(at(j, path));

	if (s == NULL)
		fail_msg("%s is not a string", path);
	return s;
}

/* Checks one matchExpressions entry: key NotIn values (a JSON array text). */
static void
expr(json_t *exprs, size_t i, const char *key, const char *values)
{
	json_t *e = json_array_get(exprs, i), *want = json_loads(values, 0, NULL);

	assert_non_null(e);
	assert_string_equal(str(e, "key"), key);
	assert_string_equal(str(e, "operator"), "NotIn");
	assert_true(json_equal(at(e, "values"), want));
	json_decref(want);
}

static struct yjson *
manifests(struct fixture *f, int extra_argc, char **extra)
{
	char *argv[16] = { "manifests", "--config", f->cfg, "--data-dir", f->data };
	char *text = NULL;
	struct yjson *y = NULL;
	struct barge_err err;
	int argc = 5, i;

	for (i = 0; i < extra_argc; i++)
		argv[argc++] = extra[i];
	assert_int_equal(run(f, cmd_manifests, &text, argc, argv), 0);
	if (yjson_load_buf("manifests", text, strlen(text), &y, &err) != BARGE_OK)
		fail_msg("output is not YAML: %s", err.msg);
	free(text);
	return y;
}

static void
test_manifests_objects(void **state)
{
	struct fixture *f = *state;
	struct yjson *y = manifests(f, 0, NULL);
	static const char *const kinds[] = {
		"Namespace", "ServiceAccount", "ConfigMap",
		"Secret",    "DaemonSet",      "Service",
		"Service",   "Service",        "MutatingWebhookConfiguration"
	};
	json_t *ns, *ds, *c, *np, *svc;
	size_t i;

	assert_int_equal(yjson_ndocs(y), 9);
	for (i = 0; i < 9; i++)
		assert_string_equal(str(yjson_doc(y, i), "kind"), kinds[i]);

	ns = doc(y, "Namespace", "barge-system");
	assert_string_equal(json_string_value(json_object_get(at(ns, "metadata.labels"),
	                                                      "barge.dev/imageswap")),
	                    "disable");

	ds = doc(y, "DaemonSet", "barged");
	assert_string_equal(str(ds, "metadata.namespace"), "barge-system");
	c = at(ds, "spec.template.spec.containers.0");
	assert_string_equal(str(c, "image"), "localhost/barged:" BARGE_VERSION);
	assert_int_equal(json_integer_value(at(c, "ports.0.containerPort")), 30003);
	/* Runs on every node, before anything else is evicted, within bounds. */
	assert_string_equal(str(ds, "spec.template.spec.priorityClassName"),
	                    "system-node-critical");
	assert_int_equal(json_array_size(at(ds, "spec.template.spec.tolerations")), 1);
	assert_string_equal(str(ds, "spec.template.spec.tolerations.0.operator"), "Exists");
	assert_int_equal(json_object_size(at(ds, "spec.template.spec.tolerations.0")), 1);
	assert_string_equal(str(c, "resources.requests.cpu"), "50m");
	assert_string_equal(str(c, "resources.requests.memory"), "32Mi");
	assert_string_equal(str(c, "resources.limits.memory"), "128Mi");
	assert_null(json_object_get(at(c, "resources.limits"), "cpu"));
	assert_string_equal(str(c, "livenessProbe.httpGet.path"), "/healthz");
	assert_string_equal(str(c, "livenessProbe.httpGet.scheme"), "HTTPS");
	assert_string_equal(str(c, "readinessProbe.httpGet.path"), "/readyz");
	assert_string_equal(str(c, "readinessProbe.httpGet.scheme"), "HTTPS");
	assert_true(json_is_true(at(c, "securityContext.readOnlyRootFilesystem")));
	assert_true(json_is_false(at(c, "securityContext.allowPrivilegeEscalation")));
	assert_string_equal(str(c, "securityContext.capabilities.drop.0"), "ALL");
	assert_string_equal(str(ds, "spec.template.spec.volumes.0.hostPath.path"),
	                    "/var/lib/barge");
	assert_string_equal(str(c, "volumeMounts.0.mountPath"), "/var/lib/barge");
	assert_string_equal(str(ds, "spec.template.spec.volumes.2.secret.secretName"),
	                    "barged-tls");
	assert_int_equal(
	        json_integer_value(at(ds, "spec.template.spec.volumes.2.secret.defaultMode")),
	        0400);
	/* barged's own pods are opted out as well as their namespace. */
	assert_string_equal(
	        json_string_value(json_object_get(at(ds, "spec.template.metadata.labels"),
	                                          "barge.dev/imageswap")),
	        "disable");

	np = doc(y, "Service", "barged");
	assert_string_equal(str(np, "spec.type"), "NodePort");
	assert_string_equal(str(np, "spec.externalTrafficPolicy"), "Local");
	assert_int_equal(json_integer_value(at(np, "spec.ports.0.nodePort")), 30003);
	assert_int_equal(json_integer_value(at(np, "spec.ports.0.targetPort")), 30003);
	svc = doc(y, "Service", "barged-webhook");
	assert_string_equal(str(svc, "spec.type"), "ClusterIP");
	assert_int_equal(json_integer_value(at(svc, "spec.ports.0.port")), 443);
	assert_int_equal(json_integer_value(at(svc, "spec.ports.0.targetPort")), 30003);
	/* Headless: every barged pod's address, for proxy.peer_dns. */
	svc = doc(y, "Service", "barged-peers");
	assert_string_equal(str(svc, "spec.clusterIP"), "None");
	assert_int_equal(json_integer_value(at(svc, "spec.ports.0.port")), 30003);
	yjson_free(y);
}

static void
test_manifests_webhook(void **state)
{
	struct fixture *f = *state;
	struct yjson *y = manifests(f, 0, NULL);
	json_t *mw = doc(y, "MutatingWebhookConfiguration", NULL), *w, *rule, *want;
	char *ca, *cafile = fu_printf("%s/ca.crt", f->data), *decoded;

	w = at(mw, "webhooks.0");
	assert_int_equal(json_array_size(at(mw, "webhooks")), 1);
	want = json_loads("[\"v1\"]", 0, NULL);
	assert_true(json_equal(at(w, "admissionReviewVersions"), want));
	json_decref(want);
	assert_string_equal(str(w, "clientConfig.service.name"), "barged-webhook");
	assert_string_equal(str(w, "clientConfig.service.namespace"), "barge-system");
	assert_string_equal(str(w, "clientConfig.service.path"), "/webhook/mutate");
	assert_int_equal(json_integer_value(at(w, "clientConfig.service.port")), 443);
	ca = fx_read(cafile, NULL);
	decoded = unb64(str(w, "clientConfig.caBundle"));
	assert_string_equal(decoded, ca);
	free(decoded);
	free(ca);
	free(cafile);

	rule = at(w, "rules.0");
	want = json_loads("[\"CREATE\",\"UPDATE\"]", 0, NULL);
	assert_true(json_equal(at(rule, "operations"), want));
	json_decref(want);
	want = json_loads("[\"pods\",\"pods/ephemeralcontainers\"]", 0, NULL);
	assert_true(json_equal(at(rule, "resources"), want));
	json_decref(want);
	assert_string_equal(str(rule, "apiGroups.0"), "");

	/* The opt-outs: both namespace labels, the configured key, barged's own namespace. */
	assert_int_equal(json_array_size(at(w, "namespaceSelector.matchExpressions")), 4);
	expr(at(w, "namespaceSelector.matchExpressions"), 0, "barge.dev/imageswap",
	     "[\"disable\"]");
	expr(at(w, "namespaceSelector.matchExpressions"), 1, "stylus.io/imageswap",
	     "[\"disable\"]");
	expr(at(w, "namespaceSelector.matchExpressions"), 2, "example.com/imageswap",
	     "[\"disable\"]");
	expr(at(w, "namespaceSelector.matchExpressions"), 3, "kubernetes.io/metadata.name",
	     "[\"barge-system\",\"kube-system\"]");
	assert_int_equal(json_array_size(at(w, "objectSelector.matchExpressions")), 2);
	expr(at(w, "objectSelector.matchExpressions"), 0, "barge.dev/imageswap", "[\"disable\"]");
	expr(at(w, "objectSelector.matchExpressions"), 1, "example.com/imageswap", "[\"disable\"]");

	assert_string_equal(str(w, "failurePolicy"), "Ignore");
	assert_int_equal(json_integer_value(at(w, "timeoutSeconds")), 5);
	assert_string_equal(str(w, "sideEffects"), "None");
	assert_string_equal(str(w, "reinvocationPolicy"), "IfNeeded");
	yjson_free(y);
}

/* The Secret's certificate is the one on disk, valid for the webhook Service's name. */
static void
test_manifests_tls(void **state)
{
	struct fixture *f = *state;
	char *args[] = { "--namespace", "edge-ops", "--advertise", "registry.edge.lan:30003" };
	struct yjson *y = manifests(f, 4, args);
	json_t *sec = doc(y, "Secret", "barged-tls");
	char *crt = unb64(json_string_value(json_object_get(at(sec, "data"), "tls.crt")));
	char *path = fu_printf("%s/tls/server.crt", f->data), *disk = fx_read(path, NULL);
	BIO *bio;
	X509 *x;

	assert_string_equal(str(sec, "type"), "kubernetes.io/tls");
	assert_string_equal(crt, disk);
	bio = BIO_new_mem_buf(crt, -1);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(x);
	assert_int_equal(X509_check_host(x, "barged-webhook.edge-ops.svc", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "registry.edge.lan", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "barged-webhook.other.svc", 0, 0, NULL), 0);
	X509_free(x);
	BIO_free(bio);
	assert_string_equal(str(doc(y, "DaemonSet", NULL), "metadata.namespace"), "edge-ops");
	assert_string_equal(str(doc(y, "MutatingWebhookConfiguration", NULL),
	                        "webhooks.0.clientConfig.service.namespace"),
	                    "edge-ops");
	free(crt);
	free(disk);
	free(path);
	yjson_free(y);
}

/* The ConfigMap's barged.yaml is a configuration barged accepts, with the flags in it. */
static void
test_manifests_configmap(void **state)
{
	struct fixture *f = *state;
	char *args[] = {
		"--advertise", "10.0.0.5:30003", "--policy", "always", "--project", "site"
	};
	struct yjson *y = manifests(f, 6, args);
	const char *text = json_string_value(
	        json_object_get(at(doc(y, "ConfigMap", "barged"), "data"), "barged.yaml"));
	struct config c;
	struct barge_err err;

	assert_non_null(text);
	assert_int_equal(config_init(&c, &err), BARGE_OK);
	if (config_load_buf(&c, "barged.yaml", text, strlen(text), &err) != BARGE_OK)
		fail_msg("ConfigMap barged.yaml: %s", err.msg);
	assert_int_equal(config_check(&c, &err), BARGE_OK);
	assert_string_equal(c.webhook.advertise, "10.0.0.5:30003");
	assert_int_equal(c.webhook.policy, CONFIG_POLICY_ALWAYS);
	assert_string_equal(c.project, "site");
	assert_string_equal(c.listen, ":30003");
	assert_int_equal(c.webhook.exclude_namespaces.n, 1);
	assert_string_equal(c.webhook.exclude_namespaces.v[0], "kube-system");
	config_free(&c);
	yjson_free(y);
}

/* kube-system is never swapped, even when the configuration does not name it. */
static void
test_manifests_kube_system(void **state)
{
	struct fixture *f = *state;
	char *empty = fu_printf("%s/empty.yaml", f->dir);
	char *argv[] = { "manifests", "--config",    empty,     "--data-dir",
		         f->data,     "--namespace", "edge-ops" };
	char *text = NULL;
	struct yjson *y = NULL;
	struct barge_err err;
	json_t *w;

	assert_int_equal(fu_write_atomic(empty, "{}\n", 3, 0644, &err), BARGE_OK);
	assert_int_equal(run(f, cmd_manifests, &text, 7, argv), 0);
	assert_int_equal(yjson_load_buf("manifests", text, strlen(text), &y, &err), BARGE_OK);
	w = at(doc(y, "MutatingWebhookConfiguration", NULL), "webhooks.0");
	assert_int_equal(json_array_size(at(w, "namespaceSelector.matchExpressions")), 3);
	expr(at(w, "namespaceSelector.matchExpressions"), 2, "kubernetes.io/metadata.name",
	     "[\"edge-ops\",\"kube-system\"]");
	yjson_free(y);
	free(text);
	free(empty);
}

/* Host mode: the webhook configuration alone, calling a URL the nodes' certificate answers to. */
static void
test_manifests_host(void **state)
{
	struct fixture *f = *state;
	char *args[] = { "--mode", "host", "--advertise", "10.0.0.5:30003" };
	char *url_args[] = { "--mode", "host", "--webhook-url",
		             "https://cp.edge.lan:30003/webhook/mutate" };
	char *cafile = fu_printf("%s/ca.crt", f->data), *ca, *decoded;
	char *crtfile = fu_printf("%s/tls/server.crt", f->data), *crt;
	struct yjson *y = manifests(f, 4, args);
	json_t *mw, *w;
	BIO *bio;
	X509 *x;

	assert_int_equal(yjson_ndocs(y), 1);
	mw = doc(y, "MutatingWebhookConfiguration", "barged-imageswap");
	w = at(mw, "webhooks.0");
	assert_string_equal(str(w, "clientConfig.url"), "https://10.0.0.5:30003/webhook/mutate");
	assert_null(json_object_get(at(w, "clientConfig"), "service"));
	ca = fx_read(cafile, NULL);
	decoded = unb64(str(w, "clientConfig.caBundle"));
	assert_string_equal(decoded, ca);
	expr(at(w, "namespaceSelector.matchExpressions"), 3, "kubernetes.io/metadata.name",
	     "[\"barge-system\",\"kube-system\"]");
	assert_string_equal(str(w, "failurePolicy"), "Ignore");
	yjson_free(y);
	free(decoded);

	y = manifests(f, 4, url_args);
	assert_int_equal(yjson_ndocs(y), 1);
	assert_string_equal(
	        str(doc(y, "MutatingWebhookConfiguration", NULL), "webhooks.0.clientConfig.url"),
	        "https://cp.edge.lan:30003/webhook/mutate");
	/* The certificate the nodes get a copy of names the URL's host. */
	crt = fx_read(crtfile, NULL);
	bio = BIO_new_mem_buf(crt, -1);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(x);
	assert_int_equal(X509_check_host(x, "cp.edge.lan", 0, 0, NULL), 1);
	X509_free(x);
	BIO_free(bio);
	yjson_free(y);
	free(crt);
	free(crtfile);
	free(ca);
	free(cafile);
}

static void
test_manifests_usage(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	char *bad_ns[] = { "manifests", "--config",    f->cfg,  "--data-dir",
		           f->data,     "--namespace", "Bad_NS" };
	char *bad_key[] = { "manifests", "--config",    f->cfg, "--data-dir",
		            f->data,     "--label-key", "a b" };
	char *bad_policy[] = { "manifests", "--config", f->cfg,     "--data-dir",
		               f->data,     "--policy", "sometimes" };
	char *stray[] = { "manifests", "extra" };
	char *bad_mode[] = {
		"manifests", "--config", f->cfg, "--data-dir", f->data, "--mode", "pod"
	};
	char *url_ds[] = { "manifests",
		           "--config",
		           f->cfg,
		           "--data-dir",
		           f->data,
		           "--webhook-url",
		           "https://10.0.0.5:30003/webhook/mutate" };
	char *bad_url[] = { "manifests",  "--config",      f->cfg,
		            "--data-dir", f->data,         "--mode",
		            "host",       "--webhook-url", "http://10.0.0.5:30003/webhook/mutate" };
	char *host_image[] = { "manifests", "--config", f->cfg,    "--data-dir",        f->data,
		               "--mode",    "host",     "--image", "localhost/barged:1" };

	assert_int_equal(run(f, cmd_manifests, &text, 7, bad_ns), 2);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(run(f, cmd_manifests, &text, 7, bad_key), 2);
	free(text);
	assert_int_equal(run(f, cmd_manifests, &text, 7, bad_policy), 2);
	free(text);
	assert_int_equal(run(f, cmd_manifests, &text, 2, stray), 2);
	free(text);
	assert_int_equal(run(f, cmd_manifests, &text, 7, bad_mode), 2);
	free(text);
	assert_int_equal(run(f, cmd_manifests, &text, 7, url_ds), 2);
	free(text);
	assert_int_equal(run(f, cmd_manifests, &text, 9, bad_url), 2);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(run(f, cmd_manifests, &text, 9, host_image), 2);
	free(text);
}

/* --- mirror-config -------------------------------------------------------- */

static void
test_mirror_containerd(void **state)
{
	struct fixture *f = *state;
	char *out = fu_printf("%s/etc-containerd", f->dir), *text = NULL, *got, *path;
	char *argv[] = { "mirror-config",
		         "--runtime",
		         "containerd",
		         "--output-dir",
		         out,
		         "--config",
		         f->cfg,
		         "--data-dir",
		         f->data,
		         "--registry",
		         "docker.io",
		         "--registry",
		         "Registry.Local:5000=https://10.1.1.1:5000",
		         "--endpoint",
		         "10.0.0.5:30003" };
	char *want;

	assert_int_equal(run(f, cmd_mirror_config, &text, 15, argv), 0);
	want = fu_printf("docker.io -> 10.0.0.5:30003/edge/docker.io\n"
	                 "registry.local:5000 -> 10.0.0.5:30003/edge/registry.local_5000\n");
	assert_string_equal(text, want);
	free(want);

	path = fu_printf("%s/certs.d/docker.io/hosts.toml", out);
	got = fx_read(path, NULL);
	want = fu_printf(
	        "# Generated by barged mirror-config: pulls of docker.io try barged first.\n"
	        "# barged reads the upstream registry from the ns= parameter containerd\n"
	        "# adds to mirror requests, and serves it from edge/docker.io.\n"
	        "server = \"https://registry-1.docker.io\"\n\n"
	        "[host.\"https://10.0.0.5:30003\"]\n"
	        "  capabilities = [\"pull\", \"resolve\"]\n"
	        "  ca = \"%s/ca.crt\"\n",
	        f->data);
	assert_string_equal(got, want);
	free(got);
	free(want);
	free(path);
	path = fu_printf("%s/certs.d/registry.local:5000/hosts.toml", out);
	got = fx_read(path, NULL);
	assert_non_null(strstr(got, "server = \"https://10.1.1.1:5000\"\n"));
	free(got);
	free(path);
	/* Swapped references name barged itself, which containerd must then trust. */
	path = fu_printf("%s/certs.d/10.0.0.5:30003/hosts.toml", out);
	got = fx_read(path, NULL);
	want = fu_printf("server = \"https://10.0.0.5:30003\"\n\n"
	                 "[host.\"https://10.0.0.5:30003\"]\n"
	                 "  capabilities = [\"pull\", \"resolve\"]\n"
	                 "  ca = \"%s/ca.crt\"\n",
	                 f->data);
	assert_non_null(strstr(got, want));
	free(want);
	free(got);
	free(path);
	free(text);
	free(out);
}

static void
test_mirror_crio(void **state)
{
	struct fixture *f = *state;
	char *out = fu_printf("%s/etc-containers", f->dir), *text = NULL, *got, *path, *ca;
	char *mk[] = { "manifests", "--config", f->cfg, "--data-dir", f->data };
	char *argv[] = { "mirror-config",  "--runtime", "crio",       "--output-dir", out,
		         "--config",       f->cfg,      "--data-dir", f->data,        "--registry",
		         "index.docker.io" };

	/* Creates the CA. */
	assert_int_equal(run(f, cmd_manifests, &text, 5, mk), 0);
	free(text);
	assert_int_equal(run(f, cmd_mirror_config, &text, 11, argv), 0);
	assert_string_equal(text, "docker.io -> 127.0.0.1:30003/edge/docker.io\n");
	free(text);
	path = fu_printf("%s/registries.conf.d/50-barge.conf", out);
	got = fx_read(path, NULL);
	assert_non_null(strstr(got, "\n[[registry]]\nprefix = \"docker.io\"\n"
	                            "location = \"docker.io\"\n\n[[registry.mirror]]\n"
	                            "location = \"127.0.0.1:30003/edge/docker.io\"\n"));
	free(got);
	free(path);
	path = fu_printf("%s/certs.d/127.0.0.1:30003/ca.crt", out);
	got = fx_read(path, NULL);
	free(path);
	path = fu_printf("%s/ca.crt", f->data);
	ca = fx_read(path, NULL);
	assert_string_equal(got, ca);
	free(got);
	free(ca);
	free(path);
	free(out);
}

static void
test_mirror_usage(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	char *no_out[] = { "mirror-config", "--runtime", "containerd" };
	char *bad_rt[] = { "mirror-config", "--runtime", "docker", "--output-dir", f->dir };
	char *bad_reg[] = { "mirror-config", "--runtime", "containerd", "--output-dir", f->dir,
		            "--config",      f->cfg,      "--registry", "library/nginx" };
	char *twice[] = { "mirror-config", "--runtime",  "containerd",     "--output-dir",
		          f->dir,          "--config",   f->cfg,           "--registry",
		          "docker.io",     "--registry", "index.docker.io" };
	char *crio_no_ca[] = { "mirror-config", "--runtime",  "crio",
		               "--output-dir",  f->dir,       "--config",
		               f->cfg,          "--data-dir", "/nonexistent/barge" };

	assert_int_equal(run(f, cmd_mirror_config, &text, 3, no_out), 2);
	free(text);
	assert_int_equal(run(f, cmd_mirror_config, &text, 5, bad_rt), 2);
	free(text);
	assert_int_equal(run(f, cmd_mirror_config, &text, 9, bad_reg), 2);
	free(text);
	assert_int_equal(run(f, cmd_mirror_config, &text, 11, twice), 2);
	free(text);
	assert_int_equal(run(f, cmd_mirror_config, &text, 9, crio_no_ca), 1);
	assert_string_equal(text, "");
	free(text);
}

/* -o is a format in every verb: the directory given to it, as before, is refused and untouched. */
static void
test_mirror_output_is_a_format(void **state)
{
	struct fixture *f = *state;
	char *dir = fu_printf("%s/etc-old", f->dir), *text = NULL;
	char *old[] = { "mirror-config", "--runtime", "containerd", "-o", dir, "--config", f->cfg };
	char *json[] = { "mirror-config", "--runtime", "containerd", "--output-dir", dir,
		         "--config",      f->cfg,      "-o",         "json" };
	struct stat st;

	assert_int_equal(run(f, cmd_mirror_config, &text, 7, old), 2);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(stat(dir, &st), -1);
	/* mirror-config prints text only; json is refused before anything is written. */
	assert_int_equal(run(f, cmd_mirror_config, &text, 9, json), 2);
	free(text);
	assert_int_equal(stat(dir, &st), -1);
	free(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_manifests_objects, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifests_webhook, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifests_tls, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifests_configmap, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifests_kube_system, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifests_host, setup, teardown),
	cmocka_unit_test_setup_teardown(test_manifests_usage, setup, teardown),
	cmocka_unit_test_setup_teardown(test_mirror_containerd, setup, teardown),
	cmocka_unit_test_setup_teardown(test_mirror_crio, setup, teardown),
	cmocka_unit_test_setup_teardown(test_mirror_usage, setup, teardown),
	cmocka_unit_test_setup_teardown(test_mirror_output_is_a_format, setup, teardown),
};

BARGE_TEST_MAIN(tests)
