/*
 * barged serve: the device registry (OCI Distribution API) over HTTPS, with
 * a generated CA unless told to use given certificate files or to speak
 * plain HTTP; configured by /etc/barge/barged.yaml and flags, which win.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "api_events.h"
#include "auth.h"
#include "cmd.h"
#include "config.h"
#include "fileutil.h"
#include "http_server.h"
#include "import.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "oneshot.h"
#include "proxy.h"
#include "registry.h"
#include "router.h"
#include "sign.h"
#include "swaprule.h"
#include "tls.h"
#include "upload.h"

/*
 * The flags that set configuration keys: --NAME VALUE sets KEY.  Boolean
 * keys take an optional value (--plain-http, --anonymous-pull=false).
 */
static const struct serve_flag {
	const char *name;
	const char *key;
	int is_bool;
	const char *arg;
	const char *help;
} serve_flags[] = {
	{ "data-dir", "data_dir", 0, " DIR",
	  "the store, TLS files and secrets (" CONFIG_DEFAULT_DATA_DIR ")" },
	{ "listen", "listen", 0, " ADDR:PORT",
	  "':PORT', 'A.B.C.D:PORT' or '[IPv6]:PORT' (:30003)" },
	{ "project", "project", 0, " NAME", "first path segment of mirror repositories (edge)" },
	{ "threads", "threads", 0, " N", "server threads (16)" },
	{ "plain-http", "plain_http", 1, "[=BOOL]", "serve HTTP instead of HTTPS (false)" },
	{ "tls-cert", "tls.cert", 0, " FILE",
	  "certificate chain (PEM) instead of a generated one" },
	{ "tls-key", "tls.key", 0, " FILE", "its private key (PEM)" },
	{ "tls-name", "tls.names", 0, " NAME",
	  "a DNS name or address for a generated certificate (repeatable)" },
	{ "anonymous-pull", "auth.anonymous_pull", 1, "[=BOOL]",
	  "pull without credentials (true)" },
	{ "admin-password-file", "auth.admin_password_file", 0, " FILE",
	  "admin's password (default: generated into DIR/admin.password)" },
	{ "allow-delete", "registry.allow_delete", 1, "[=BOOL]",
	  "DELETE of manifests, tags and blobs (false)" },
	{ "max-uploads", "registry.max_uploads", 0, " N", "concurrent upload sessions (64)" },
	{ "webhook-advertise", "webhook.advertise", 0, " HOST:PORT",
	  "registry address swapped into pod images (127.0.0.1:30003)" },
	{ "webhook-policy", "webhook.policy", 0, " POLICY", "present or always (present)" },
	{ "webhook-exclude-namespace", "webhook.exclude_namespaces", 0, " NS",
	  "a namespace the webhook leaves alone (repeatable)" },
	{ "webhook-label-key", "webhook.label_keys", 0, " KEY", "(repeatable)" },
	{ "import-watch", "import.watch", 0, " DIR",
	  "a directory watched for bundles (repeatable; none: /media, /run/media, /mnt)" },
	{ "import", "import.enabled", 1, "[=BOOL]",
	  "import bundles from watched directories (true)" },
	{ "import-settle-ms", "import.settle_ms", 0, " MS",
	  "a file unchanged this long is imported (2000)" },
	{ "require-signature", "load.require_signature", 1, "[=BOOL]",
	  "imports and uploads must be signed by a trusted key (false)" },
	{ "import-require-signature", "import.require_signature", 0, " auto|true|false",
	  "imports must be signed (auto: when trusted keys are configured)" },
	{ "load-tags", "load.tags", 0, " move|keep|refuse",
	  "a bundle's tag the store has on another digest (move)" },
	{ "keys-dir", "load.keys_dir", 0, " DIR",
	  "trusted public keys, every *.pub (" CONFIG_DEFAULT_KEYS_DIR ")" },
	{ "trusted-key", "load.trusted_keys", 0, " PUB",
	  "also trust this public key (repeatable)" },
	{ "upload-max-size", "upload.max_size", 0, " SIZE",
	  "largest bundle PUT to /api/v1/bundles (1T)" },
	{ "proxy", "proxy.upstreams", 0, " REGISTRY=URL",
	  "pull-through cache: misses under REGISTRY go to URL (repeatable)" },
	{ "peer", "proxy.peers", 0, " URL", "another barged asked before upstreams (repeatable)" },
	{ "log-format", "log.format", 0, " FORMAT", "text or json (text)" },
	{ "log-level", "log.level", 0, " LEVEL", "debug, info, warn or error (info)" },
	{ "access-log", "log.access", 0, " WHERE",
	  "stdout, off or a file: one JSON line per request (stdout)" },
};
#define NFLAGS   (sizeof(serve_flags) / sizeof(serve_flags[0]))
#define OPT_BASE 256

static void
serve_usage(FILE *f)
{
	size_t i;

	fprintf(f,
	        "usage: barged serve [--config FILE] [options]\n"
	        "\n"
	        "Serves the store over the OCI Distribution API.\n"
	        "\n"
	        "  --config FILE                      configuration (default %s;\n"
	        "                                     absent: the defaults)\n"
	        "  --set KEY=VALUE                    any configuration key by its dotted name\n"
	        "  --no-import                        watch no directory for bundles\n",
	        CONFIG_DEFAULT_PATH);
	for (i = 0; i < NFLAGS; i++)
		fprintf(f, "  --%s%-*s %s\n", serve_flags[i].name,
		        (int)(32 - strlen(serve_flags[i].name)), serve_flags[i].arg,
		        serve_flags[i].help);
	fprintf(f, "\n"
	           "Flags win over the file; docs/configuration.md lists every key.  Without a\n"
	           "certificate, a CA and a server certificate are created in DIR; clients trust\n"
	           "DIR/ca.crt.  SIGHUP reloads the admin password and the certificate and\n"
	           "reopens the access log; SIGINT and SIGTERM stop after the requests in\n"
	           "flight.\n");
}

static void
serve_log_error(const char *msg)
{
	log_error("%s", msg);
}

static void
serve_log_warn(const char *msg)
{
	log_warn("%s", msg);
}

static void
serve_log_info(const char *msg)
{
	log_info("%s", msg);
}

static void
serve_log_debug(const char *msg)
{
	log_debug("%s", msg);
}

/*
 * The data directory, made if absent, must be writable before anything is
 * written there: otherwise the first writer (the certificate, the admin
 * password or the store) fails naming a file of its own, and the operator
 * looks for the problem in the wrong place.  access(2) sees a read-only
 * mount even for root, whom permissions do not stop.
 */
static int
serve_data_dir(const char *dir, struct barge_err *err)
{
	if (fu_mkdirs(dir, 0755, err) != BARGE_OK)
		return err_prefix(err, "data directory %s cannot be created", dir);
	if (access(dir, W_OK) != 0)
		return err_sys(err, BARGE_EIO, errno, "data directory %s is not writable", dir);
	return BARGE_OK;
}

/* The certificate and key to serve: configured files, or ours from data_dir. */
static int
serve_cert(const struct config *c, char **cert, char **key, struct barge_err *err)
{
	if (c->tls.cert != NULL)
		return tls_load_files(c->tls.cert, c->tls.key, cert, key, err);
	return tls_ensure(c->data_dir, (const char *const *)c->tls.names.v, c->tls.names.n, cert,
	                  key, err);
}

/* oneshot_fn: serve_cert in the child, answering "CERT\0KEY\0". */
static int
serve_cert_child(void *arg, void **out, size_t *len, struct barge_err *err)
{
	char *cert = NULL, *key = NULL, *both;
	size_t nc, nk;
	int rc;

	if ((rc = serve_cert(arg, &cert, &key, err)) != BARGE_OK)
		return rc;
	nc = strlen(cert) + 1;
	nk = strlen(key) + 1;
	if ((both = malloc(nc + nk)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
	} else {
		memcpy(both, cert, nc);
		memcpy(both + nc, key, nk);
		*out = both;
		*len = nc + nk;
	}
	free(cert);
	fu_free_secret(key);
	return rc;
}

/*
 * serve_cert at start-up, in a child process (oneshot.h): reading,
 * checking or issuing the certificate is barged's only use of OpenSSL
 * until a request needs it (GnuTLS, in libmicrohttpd, parses the PEM
 * again), and OpenSSL's first use costs megabytes that would stay
 * resident for the daemon's whole life.
 */
static int
serve_cert_isolated(const struct config *c, char **cert, char **key, struct barge_err *err)
{
	char *buf = NULL, *cp = NULL, *kp = NULL;
	size_t len = 0, nc;
	void *out = NULL;
	int rc;

	if ((rc = oneshot_run(serve_cert_child, (void *)c, 2 * (TLS_PEM_MAX + 1), &out, &len,
	                      err)) != BARGE_OK)
		return rc;
	buf = out;
	/* Two NUL-terminated strings; oneshot_run adds one more NUL after them. */
	nc = strnlen(buf, len);
	if (nc + 1 >= len || buf[len - 1] != '\0') {
		rc = err_set(err, BARGE_EINTERNAL, "certificate helper: malformed answer");
	} else if ((cp = strdup(buf)) == NULL || (kp = strdup(buf + nc + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		free(cp);
	} else {
		*cert = cp;
		*key = kp;
	}
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

/* What a running barged holds; serve_stop frees it, the server first. */
struct served {
	struct auth *auth;
	struct metrics *metrics;
	struct accesslog *alog;
	struct registry *reg;
	struct upload *upload;
	struct router *router;
	struct swaprule_set *rules; /* webhook.rules, borrowed by the router */
	struct http_server *srv;
	struct import *import;
	struct loader_opts lopts; /* borrowed by upload and import */
	struct sign_key **keys;
	size_t nkeys;
	char *cert, *key;
	struct proxy *proxy; /* the pull-through cache; NULL without a proxy section */
};

/*
 * SIGHUP: a new admin password (barged passwd), a new certificate (files
 * replaced by an operator or cert-manager) and log file.
 */
static void
serve_reload(const struct config *c, struct served *sv)
{
	struct http_server *srv = sv->srv;
	struct barge_err err = { 0 };
	char *cert = NULL, *key = NULL;

	if (accesslog_reopen(sv->alog, &err) != BARGE_OK)
		log_error("reopening the access log: %s", err.msg);
	/* The path only: the password itself is never logged. */
	if (auth_reload(sv->auth, &err) != BARGE_OK)
		log_error("admin password reload failed, the old one stays in use: %s", err.msg);
	else
		log_info("admin password reloaded from %s", auth_password_path(sv->auth));
	if (c->plain_http)
		return;
	if (serve_cert(c, &cert, &key, &err) != BARGE_OK ||
	    http_server_set_cert(srv, cert, key, &err) != BARGE_OK)
		log_error("certificate reload failed, the old one stays in use: %s", err.msg);
	else
		log_info("certificate reloaded");
	free(cert);
	fu_free_secret(key);
}

/*
 * The trusted keys for imports and uploads: every *.pub of load.keys_dir
 * (which may be absent when it is the default), then load.trusted_keys.
 */
static int
serve_keys(const struct config *c, struct sign_key ***keys, size_t *nkeys, struct barge_err *err)
{
	int rc;

	rc = sign_load_trusted(c->load.keys_dir,
	                       strcmp(c->load.keys_dir, CONFIG_DEFAULT_KEYS_DIR) == 0,
	                       c->load.trusted_keys.v, c->load.trusted_keys.n, keys, nkeys, err);
	if (rc == BARGE_OK && c->load.require_signature && *nkeys == 0)
		rc = err_set(err, BARGE_EINVAL,
		             "load.require_signature: no trusted key (none in %s, no "
		             "load.trusted_keys)",
		             c->load.keys_dir);
	if (rc == BARGE_OK && c->import.enabled && c->import.require_signature == CONFIG_TRUE &&
	    *nkeys == 0)
		rc = err_set(err, BARGE_EINVAL,
		             "import.require_signature: no trusted key (none in %s, no "
		             "load.trusted_keys)",
		             c->load.keys_dir);
	return rc;
}

/* The import watcher's outcomes, counted in barged_imports_total and barged_bundle_loads_total. */
static void
count_import(void *metrics, const char *result)
{
	metrics_import(metrics, result);
}

/*
 * Reads the command line into c: the file first, then the flags in order.
 * Returns -1 to go on serving, else the exit status (help, usage error).
 */
static int
serve_configure(int argc, char **argv, struct config *c)
{
	struct option longopts[NFLAGS + 5];
	struct barge_err err = { 0 };
	const char *config_path = NULL, **vals = NULL, *eq;
	char key[64];
	int *which = NULL, n = 0, i, o, rc = EXIT_USAGE;

	for (i = 0; i < (int)NFLAGS; i++)
		longopts[i] = (struct option){ serve_flags[i].name,
			                       serve_flags[i].is_bool ? optional_argument
			                                              : required_argument,
			                       NULL, OPT_BASE + i };
	longopts[i++] = (struct option){ "config", required_argument, NULL, 'c' };
	longopts[i++] = (struct option){ "set", required_argument, NULL, 's' };
	longopts[i++] = (struct option){ "no-import", no_argument, NULL, 'n' };
	longopts[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[i] = (struct option){ NULL, 0, NULL, 0 };
	if ((which = calloc((size_t)argc, sizeof(*which))) == NULL ||
	    (vals = calloc((size_t)argc, sizeof(*vals))) == NULL) {
		log_error("barged serve: out of memory");
		rc = EXIT_FAILURE;
		goto out;
	}

	/* Flags are kept and applied after the file, whatever their order. */
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (o == 'h') {
			serve_usage(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		} else if (o == 'c') {
			config_path = optarg;
		} else if (o == 's' || o >= OPT_BASE) {
			which[n] = o == 's' ? -1 : o - OPT_BASE;
			vals[n++] = optarg;
		} else if (o == 'n') {
			which[n] = -1;
			vals[n++] = "import.enabled=false";
		} else {
			log_error("barged serve: bad option '%s'", argv[optind - 1]);
			serve_usage(stderr);
			goto out;
		}
	}
	if (optind != argc) {
		log_error("barged serve: unexpected argument '%s'", argv[optind]);
		serve_usage(stderr);
		goto out;
	}

	if (config_init(c, &err) != BARGE_OK) {
		log_error("barged serve: %s", err.msg);
		rc = EXIT_FAILURE;
		goto out;
	}
	/* The default file may be absent; one named on the command line must exist. */
	if ((o = config_load_file(c, config_path != NULL ? config_path : CONFIG_DEFAULT_PATH,
	                          &err)) != BARGE_OK &&
	    !(o == BARGE_ENOTFOUND && config_path == NULL)) {
		log_error("barged serve: %s", err.msg);
		rc = o == BARGE_EINVAL ? EXIT_USAGE : EXIT_FAILURE;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (which[i] >= 0) {
			o = config_set(c, serve_flags[which[i]].key,
			               vals[i] != NULL ? vals[i] : "true", &err);
		} else if ((eq = strchr(vals[i], '=')) == NULL ||
		           (size_t)(eq - vals[i]) >= sizeof(key)) {
			o = err_set(&err, BARGE_EINVAL, "--set %s: expected KEY=VALUE", vals[i]);
		} else {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - vals[i]), vals[i]);
			o = config_set(c, key, eq + 1, &err);
		}
		if (o != BARGE_OK) {
			log_error("barged serve: %s%s: %s", which[i] >= 0 ? "--" : "",
			          which[i] >= 0 ? serve_flags[which[i]].name : "--set", err.msg);
			goto out;
		}
	}
	if (config_check(c, &err) != BARGE_OK) {
		log_error("barged serve: %s", err.msg);
		goto out;
	}
	rc = -1;
out:
	free(which);
	free(vals);
	return rc;
}

/*
 * The pull-through cache, when the proxy section (or --proxy, --peer) asks
 * for one: only then is the upstream module, and libcurl with it, loaded.
 */
static int
serve_proxy(const struct config *c, struct served *sv, struct barge_err *err)
{
	struct proxy_upstream *ups = NULL;
	struct proxy_opts po = { 0 };
	uint64_t max = 0;
	size_t i;
	int rc;

	if (!config_proxy_enabled(c))
		return EXIT_SUCCESS;
	if (c->proxy.max_size != NULL &&
	    upload_parse_size(c->proxy.max_size, &max, err) != BARGE_OK) {
		err_prefix(err, "proxy.max_size");
		return EXIT_USAGE;
	}
	if (c->proxy.nupstreams > 0 && (ups = calloc(c->proxy.nupstreams, sizeof(*ups))) == NULL) {
		err_set(err, BARGE_ENOMEM, "out of memory");
		return EXIT_FAILURE;
	}
	for (i = 0; i < c->proxy.nupstreams; i++) {
		const struct config_upstream *u = &c->proxy.upstreams[i];

		ups[i].registry = u->registry;
		ups[i].opts = (struct upstream_opts){ .url = u->url,
			                              .ca_file = u->ca_file,
			                              .insecure = u->insecure,
			                              .docker_config = u->docker_config,
			                              .registry = u->registry,
			                              .username = u->username,
			                              .password_file = u->password_file,
			                              .exec = u->exec };
	}
	po.data_dir = c->data_dir;
	po.project = c->project;
	po.upstreams = ups;
	po.nupstreams = c->proxy.nupstreams;
	po.peers = (const char *const *)c->proxy.peers.v;
	po.npeers = c->proxy.peers.n;
	po.peer_dns = c->proxy.peer_dns;
	po.peer_scheme_https = !c->plain_http;
	po.revalidate_ms = (int)c->proxy.revalidate_timeout_ms;
	po.backoff_s = (int)c->proxy.backoff_s;
	po.peer_timeout_ms = (int)c->proxy.peer_timeout_ms;
	po.max_size = max > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)max;
	po.log_info = serve_log_info;
	po.log_warn = serve_log_warn;
	rc = proxy_new(&po, &sv->proxy, err);
	free(ups);
	if (rc != BARGE_OK)
		return EXIT_FAILURE;
	for (i = 0; i < c->proxy.nupstreams; i++)
		log_info("proxy: %s/%s/... pulls through from %s", c->project,
		         c->proxy.upstreams[i].registry, c->proxy.upstreams[i].url);
	for (i = 0; i < c->proxy.peers.n; i++)
		log_info("proxy: peer %s", c->proxy.peers.v[i]);
	return EXIT_SUCCESS;
}

/* Auth, metrics, access log, registry and upload: what the router dispatches to. */
static int
serve_handlers(const struct config *c, struct served *sv, struct barge_err *err)
{
	struct registry_opts ropts = { 0 };
	struct upload_opts uopts = { 0 };
	struct auth_opts aopts = { 0 };
	int generated, rc;

	aopts.data_dir = c->data_dir;
	aopts.admin_password_file = c->auth.admin_password_file;
	aopts.anonymous_pull = c->auth.anonymous_pull;
	aopts.isolate = 1;
	if (auth_new(&aopts, &sv->auth, &generated, err) != BARGE_OK)
		return EXIT_FAILURE;
	/* The path only: the password itself is never logged. */
	if (generated)
		log_info("generated the admin password into %s (readable by its owner only)",
		         auth_password_path(sv->auth));
	else
		log_info("admin password from %s", auth_password_path(sv->auth));
	if (metrics_new(BARGE_VERSION, &sv->metrics, err) != BARGE_OK ||
	    accesslog_open(c->log.access, &sv->alog, err) != BARGE_OK)
		return EXIT_FAILURE;
	ropts.data_dir = c->data_dir;
	ropts.project = c->project;
	ropts.log_error = serve_log_error;
	ropts.allow_delete = c->registry.allow_delete;
	ropts.max_uploads = c->registry.max_uploads;
	if ((rc = serve_proxy(c, sv, err)) != EXIT_SUCCESS)
		return rc;
	ropts.proxy = sv->proxy;
	metrics_set_proxy(sv->metrics, sv->proxy);
	if (registry_new(&ropts, &sv->reg, err) != BARGE_OK)
		return EXIT_FAILURE;
	if (serve_keys(c, &sv->keys, &sv->nkeys, err) != BARGE_OK) {
		err_prefix(err, "trusted keys");
		return EXIT_FAILURE;
	}
	sv->lopts.keys = sv->keys;
	sv->lopts.nkeys = sv->nkeys;
	sv->lopts.require_signature = c->load.require_signature;
	sv->lopts.tags = c->load.tags == CONFIG_TAGS_KEEP     ? LOADER_TAGS_KEEP
	                 : c->load.tags == CONFIG_TAGS_REFUSE ? LOADER_TAGS_REFUSE
	                                                      : LOADER_TAGS_MOVE;
	uopts.data_dir = c->data_dir;
	uopts.load = &sv->lopts;
	uopts.metrics = sv->metrics;
	uopts.log_error = serve_log_error;
	uopts.log_warn = serve_log_warn;
	uopts.log_info = serve_log_info;
	if (c->upload.max_size != NULL &&
	    upload_parse_size(c->upload.max_size, &uopts.max_size, err) != BARGE_OK) {
		err_prefix(err, "upload.max_size");
		return EXIT_USAGE;
	}
	if (upload_new(&uopts, &sv->upload, err) != BARGE_OK)
		return EXIT_FAILURE;
	return EXIT_SUCCESS;
}

/* The router and the HTTP server in front of it, listening. */
static int
serve_listen(const struct config *c, struct served *sv, struct barge_err *err)
{
	struct router_opts topts = { 0 };
	struct http_server_opts hopts = { 0 };
	const char *colon;

	topts.data_dir = c->data_dir;
	topts.project = c->project;
	topts.version = BARGE_VERSION;
	topts.tls = !c->plain_http;
	topts.auth = sv->auth;
	topts.registry = sv->reg;
	topts.metrics = sv->metrics;
	topts.accesslog = sv->alog;
	topts.webhook_advertise = c->webhook.advertise;
	topts.webhook_always = c->webhook.policy == CONFIG_POLICY_ALWAYS;
	if (swaprule_from_config(c, &sv->rules, err) != BARGE_OK)
		return EXIT_FAILURE;
	topts.webhook_rules = sv->rules;
	topts.webhook_skip_pull_secrets = c->webhook.skip_pods_with_pull_secrets;
	topts.upload = sv->upload;
	topts.proxy = sv->proxy;
	topts.log_error = serve_log_error;
	topts.log_info = serve_log_info;
	topts.log_debug = serve_log_debug;
	if (router_new(&topts, &sv->router, err) != BARGE_OK)
		return EXIT_FAILURE;
	hopts.listen = c->listen;
	hopts.cert_pem = sv->cert;
	hopts.key_pem = sv->key;
	hopts.threads = c->threads;
	hopts.handler = router_handle;
	hopts.on_complete = router_complete;
	hopts.arg = sv->router;
	if (http_server_start(&hopts, &sv->srv, err) != BARGE_OK)
		return EXIT_FAILURE;
	router_set_server(sv->router, sv->srv);
	/* With port 0 the kernel picked one: say which. */
	colon = strrchr(c->listen, ':');
	if (c->plain_http)
		log_info("serving http on %.*s:%d", (int)(colon - c->listen), c->listen,
		         http_server_port(sv->srv));
	else
		log_info("serving https on %.*s:%d (CA: %s/ca.crt)", (int)(colon - c->listen),
		         c->listen, http_server_port(sv->srv), c->data_dir);
	return EXIT_SUCCESS;
}

/* The import watcher, when enabled; serving what the store holds matters more than it. */
static void
serve_import(const struct config *c, struct served *sv)
{
	static char *const default_watch[] = { "/media", "/run/media", "/mnt" };
	struct import_opts iopts = { 0 };
	struct barge_err err = { 0 };
	size_t i;

	if (!c->import.enabled)
		return;
	iopts.data_dir = c->data_dir;
	iopts.watch = c->import.watch.n > 0 ? c->import.watch.v : default_watch;
	iopts.nwatch = c->import.watch.n > 0 ? c->import.watch.n : 3;
	iopts.load = &sv->lopts;
	iopts.signature = c->import.require_signature == CONFIG_TRUE    ? IMPORT_SIGNATURE_REQUIRED
	                  : c->import.require_signature == CONFIG_FALSE ? IMPORT_SIGNATURE_LOADER
	                                                                : IMPORT_SIGNATURE_AUTO;
	iopts.on_result = count_import;
	iopts.on_result_arg = sv->metrics;
	iopts.on_event = api_events_add;
	iopts.on_event_arg = router_events(sv->router);
	iopts.settle_ms = c->import.settle_ms;
	iopts.log_error = serve_log_error;
	iopts.log_warn = serve_log_warn;
	iopts.log_info = serve_log_info;
	if (import_start(&iopts, &sv->import, &err) != BARGE_OK)
		log_error("import: %s; bundles are not imported automatically", err.msg);
	for (i = 0; sv->import != NULL && i < iopts.nwatch; i++)
		log_info("import: watching %s for bundles", iopts.watch[i]);
}

static void
serve_stop(struct served *sv)
{
	import_stop(sv->import);
	/* The server first: its threads use everything below. */
	http_server_stop(sv->srv);
	upload_free(sv->upload);
	router_free(sv->router);
	swaprule_free(sv->rules);
	registry_free(sv->reg);
	proxy_free(sv->proxy); /* after the registry and the server: both use it */
	accesslog_close(sv->alog);
	metrics_free(sv->metrics);
	auth_free(sv->auth);
	sign_keys_free(sv->keys, sv->nkeys);
	free(sv->cert);
	fu_free_secret(sv->key);
}

int
cmd_serve(int argc, char **argv)
{
	static const enum log_level levels[] = { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN,
		                                 LOG_LVL_ERROR };
	struct config c = { 0 };
	struct served sv = { 0 };
	struct barge_err err = { 0 };
	int sig, status;
	sigset_t set;

	if ((status = serve_configure(argc, argv, &c)) >= 0) {
		config_free(&c);
		return status;
	}
	log_init("barged", c.log.format == CONFIG_LOG_JSON);
	log_set_level(levels[c.log.level]);

	/*
	 * Blocked before any thread starts, so every server thread inherits
	 * the mask and the signals wait for sigwait below.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Still one thread: oneshot_run may fork. */
	status = EXIT_FAILURE;
	if (serve_data_dir(c.data_dir, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (!c.plain_http && serve_cert_isolated(&c, &sv.cert, &sv.key, &err) != BARGE_OK) {
		log_error("TLS certificate: %s", err.msg);
		goto out;
	}
	if ((status = serve_handlers(&c, &sv, &err)) != EXIT_SUCCESS ||
	    (status = serve_listen(&c, &sv, &err)) != EXIT_SUCCESS) {
		log_error("%s", err.msg);
		goto out;
	}
	serve_import(&c, &sv);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			sig = 0;
		if (sig != SIGHUP)
			break;
		serve_reload(&c, &sv);
	}
	log_info("stopping (%s)", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "error");
	status = EXIT_SUCCESS;
out:
	serve_stop(&sv);
	config_free(&c);
	return status;
}
