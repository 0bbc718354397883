/*
 * router.c: the top-level handler of barged serve (router.h): it labels
 * and times each request, decides who may do what under /v2 (parsing the
 * route once, and handing the parsed route to the registry), hands /token
 * to token.c and the pages (/ and /ui/) to ui_assets.c, and answers the
 * health checks, /metrics, the webhook and bundle uploads.  It owns the in-flight request table and
 * its own store.
 */
#include "router.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accesslog.h"
#include "api.h"
#include "api_events.h"
#include "api_sync.h"
#include "auth.h"
#include "metrics.h"
#include "registry.h"
#include "store.h"
#include "token.h"
#include "ui_assets.h"
#include "upload.h"
#include "webhook.h"

#define ROUTER_BUCKETS 256 /* of the in-flight request table */

/* What the router remembers of a request between its head and its completion. */
struct rctx {
	struct http_req *req;
	struct timespec wall; /* arrival, for the log line */
	struct timespec mono; /* arrival, for the duration */
	const char *route;
	char user[AUTH_SUBJECT_MAX];
	struct rctx *next;
};

struct router {
	char *data_dir;
	char *project;
	char *version;
	int tls;
	struct auth *auth;
	struct registry *registry;
	struct metrics *metrics;
	struct accesslog *accesslog;
	struct upload *upload;
	struct api *api;
	struct webhook_opts wh;
	int webhook_on;
	void (*log_error)(const char *msg);
	void (*log_info)(const char *msg);
	void (*log_debug)(const char *msg);
	struct http_server *srv; /* atomic */
	time_t started;

	pthread_mutex_t ctx_mtx;
	struct rctx *ctx[ROUTER_BUCKETS];

	pthread_mutex_t st_mtx; /* guards the store and the snapshot time */
	struct store *st;
	time_t scanned; /* 0: never */
};

struct webhook_body {
	struct router *r;
	char *buf;
	size_t len;
};

/* The admin API (api.h), its events fed by the webhook and by uploads. */
static int
router_api_new(struct router *r, const struct router_opts *o, struct barge_err *err)
{
	struct api_opts ao = { 0 };
	int rc;

	ao.data_dir = r->data_dir;
	ao.project = r->project;
	ao.version = r->version;
	ao.tls = o->tls;
	ao.auth = o->auth;
	ao.advertise = o->webhook_advertise;
	ao.started = r->started;
	ao.proxy = o->proxy;
	ao.log_error = o->log_error;
	if ((rc = api_new(&ao, &r->api, err)) != BARGE_OK)
		return rc;
	if (r->upload != NULL)
		upload_on_result(r->upload, api_events_add, api_events_of(r->api));
	return BARGE_OK;
}

int
router_new(const struct router_opts *o, struct router **out, struct barge_err *err)
{
	struct router *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pthread_mutex_init(&r->ctx_mtx, NULL);
	pthread_mutex_init(&r->st_mtx, NULL);
	r->data_dir = strdup(o->data_dir);
	r->project = strdup(o->project != NULL ? o->project : "edge");
	r->version = strdup(o->version);
	if (o->webhook_advertise != NULL) {
		r->webhook_on = 1;
		r->wh.advertise = strdup(o->webhook_advertise);
	}
	if (r->data_dir == NULL || r->project == NULL || r->version == NULL ||
	    (r->webhook_on && r->wh.advertise == NULL)) {
		router_free(r);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	r->wh.project = r->project;
	r->wh.policy = o->webhook_always ? WEBHOOK_ALWAYS : WEBHOOK_PRESENT;
	r->wh.rules = o->webhook_rules;
	r->wh.skip_pull_secrets = o->webhook_skip_pull_secrets;
	r->tls = o->tls;
	r->auth = o->auth;
	r->registry = o->registry;
	r->metrics = o->metrics;
	r->accesslog = o->accesslog;
	r->upload = o->upload;
	r->log_error = o->log_error;
	r->log_info = o->log_info;
	r->log_debug = o->log_debug;
	r->started = time(NULL);
	if (router_api_new(r, o, err) != BARGE_OK) {
		router_free(r);
		return err->code;
	}
	*out = r;
	return BARGE_OK;
}

void
router_set_server(struct router *r, struct http_server *s)
{
	__atomic_store_n(&r->srv, s, __ATOMIC_SEQ_CST);
}

struct api_events *
router_events(struct router *r)
{
	return api_events_of(r->api);
}

void
router_free(struct router *r)
{
	struct rctx *c, *next;
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < ROUTER_BUCKETS; i++)
		for (c = r->ctx[i]; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
	store_close(r->st);
	api_free(r->api);
	pthread_mutex_destroy(&r->ctx_mtx);
	pthread_mutex_destroy(&r->st_mtx);
	free((char *)r->wh.advertise);
	free(r->data_dir);
	free(r->project);
	free(r->version);
	free(r);
}

static void
router_fail(struct router *r, const char *what, const struct barge_err *err)
{
	char msg[BARGE_ERR_MSG_MAX + 64];

	if (r->log_error == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s: %s", what, err->msg);
	r->log_error(msg);
}

/* --- labels -------------------------------------------------------------- */

const char *
router_method_label(const char *method)
{
	static const char *const known[] = { "GET",   "HEAD",   "POST",    "PUT",
		                             "PATCH", "DELETE", "OPTIONS", NULL };
	size_t i;

	for (i = 0; known[i] != NULL; i++)
		if (strcmp(method, known[i]) == 0)
			return known[i];
	return "other";
}

static const char *
registry_label(enum registry_route_kind k)
{
	switch (k) {
	case REGISTRY_ROUTE_BASE:
		return "base";
	case REGISTRY_ROUTE_MANIFEST:
		return "manifest";
	case REGISTRY_ROUTE_BLOB:
		return "blob";
	case REGISTRY_ROUTE_TAGS:
		return "tags";
	case REGISTRY_ROUTE_UPLOAD:
		return "upload";
	case REGISTRY_ROUTE_REFERRERS:
		return "referrers";
	case REGISTRY_ROUTE_CATALOG:
		return "catalog";
	}
	return "other";
}

const char *
router_route_label(const char *path, const char *project)
{
	struct registry_route *rt;
	struct barge_err err = { 0 };
	const char *label = "other";

	if (strcmp(path, "/v2") == 0 || strncmp(path, "/v2/", 4) == 0) {
		if ((rt = malloc(sizeof(*rt))) == NULL)
			return label;
		if (registry_route_parse(path, NULL, project, rt, &err) == BARGE_OK)
			label = registry_label(rt->kind);
		free(rt);
		return label;
	}
	if (strcmp(path, "/token") == 0)
		return "token";
	if (strcmp(path, "/healthz") == 0)
		return "healthz";
	if (strcmp(path, "/readyz") == 0)
		return "readyz";
	if (strcmp(path, "/metrics") == 0)
		return "metrics";
	if (strcmp(path, "/") == 0 || strncmp(path, "/ui/", 4) == 0)
		return "ui";
	if (strcmp(path, "/webhook/mutate") == 0)
		return "webhook";
	if (strcmp(path, "/api/v1/bundles") == 0)
		return "bundles";
	if (strncmp(path, "/api/v1/", 8) == 0)
		return "api";
	return label;
}

void
router_realm(const char *host, int tls, char *buf, size_t len)
{
	size_t n;

	if (host == NULL || (n = strlen(host)) == 0 || n > ROUTER_HOST_MAX ||
	    strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:[]") !=
	            n)
		host = "localhost";
	snprintf(buf, len, "%s://%s/token", tls ? "https" : "http", host);
}

/* --- the in-flight table ------------------------------------------------- */

static size_t
ctx_bucket(const struct http_req *req)
{
	uintptr_t p = (uintptr_t)req;

	return (size_t)((p >> 4) ^ (p >> 12)) % ROUTER_BUCKETS;
}

/*
 * A new record for req; NULL on out-of-memory (the request is then served,
 * unlogged).  The handler fills it in, then ctx_publish hands it over to
 * router_complete: the lock orders the two, whichever thread completes.
 */
static struct rctx *
ctx_new(struct http_req *req, const char *route)
{
	struct rctx *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->req = req;
	c->route = route;
	clock_gettime(CLOCK_REALTIME, &c->wall);
	clock_gettime(CLOCK_MONOTONIC, &c->mono);
	snprintf(c->user, sizeof(c->user), "-");
	return c;
}

static void
ctx_publish(struct router *r, struct rctx *c)
{
	size_t b;

	if (c == NULL)
		return;
	b = ctx_bucket(c->req);
	pthread_mutex_lock(&r->ctx_mtx);
	c->next = r->ctx[b];
	r->ctx[b] = c;
	pthread_mutex_unlock(&r->ctx_mtx);
}

static struct rctx *
ctx_take(struct router *r, struct http_req *req)
{
	struct rctx **pp, *c = NULL;

	pthread_mutex_lock(&r->ctx_mtx);
	for (pp = &r->ctx[ctx_bucket(req)]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->req == req) {
			c = *pp;
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&r->ctx_mtx);
	return c;
}

void
router_complete(struct http_req *req, int status, uint64_t bytes, void *arg)
{
	struct router *r = arg;
	struct accesslog_entry e = { 0 };
	struct timespec now;
	struct rctx *c;
	double seconds = 0;

	c = ctx_take(r, req);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (c != NULL)
		seconds = (double)(now.tv_sec - c->mono.tv_sec) +
		          (double)(now.tv_nsec - c->mono.tv_nsec) / 1e9;
	metrics_count(r->metrics, c != NULL ? c->route : "other",
	              router_method_label(http_req_method(req)), status, bytes, seconds);
	if (r->accesslog == NULL) {
		free(c);
		return;
	}
	if (c != NULL) {
		e.ts = c->wall;
		e.duration_ms = seconds * 1e3;
		e.user = c->user;
	} else {
		clock_gettime(CLOCK_REALTIME, &e.ts);
	}
	e.remote = http_req_remote_addr(req);
	e.method = http_req_method(req);
	e.path = http_req_path(req);
	e.status = status;
	e.bytes = bytes;
	accesslog_write(r->accesslog, &e);
	free(c);
}

/* --- answers ------------------------------------------------------------- */

static void
respond_text(struct http_req *req, int status, const char *ctype, const char *text)
{
	(void)http_respond_buf(req, status, ctype, text, strlen(text));
}

/* An OCI error body (the registry's format) with the API version header. */
static void
respond_oci_error(struct http_req *req, int status, const char *code, const char *msg)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}\n", code,
	         msg);
	(void)http_resp_header(req, "Docker-Distribution-API-Version", "registry/2.0");
	respond_text(req, status, "application/json", body);
}

/* 401 with the challenge that sends the client to /token for scope (NULL: none). */
static void
respond_challenge(struct router *r, struct http_req *req, const char *scope, const char *error)
{
	char realm[ROUTER_HOST_MAX + 32], hdr[ROUTER_HOST_MAX + REGISTRY_NAME_MAX + 128];
	int n;

	router_realm(http_req_header(req, "Host"), r->tls, realm, sizeof(realm));
	n = snprintf(hdr, sizeof(hdr), "Bearer realm=\"%s\",service=\"barged\"", realm);
	if (scope != NULL)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, ",scope=\"%s\"", scope);
	if (error != NULL)
		snprintf(hdr + n, sizeof(hdr) - (size_t)n, ",error=\"%s\"", error);
	(void)http_resp_header(req, "WWW-Authenticate", hdr);
	respond_oci_error(req, 401, "UNAUTHORIZED", "authentication required");
}

/* --- /v2/: who is asking, and may they --------------------------------- */

enum verdict { ALLOW, CHALLENGE, CHALLENGE_SCOPE, DENY };

/*
 * Decides a registry request: needed are the actions on type:name (type
 * NULL: /v2/ itself, where any valid credential will do).  who is set to
 * the subject for the log.
 */
static enum verdict
decide(struct router *r, struct http_req *req, const char *type, const char *name, unsigned needed,
       char *who, size_t wholen)
{
	const char *hdr = http_req_header(req, "Authorization");
	struct auth_identity id;
	struct auth_grant *g;
	enum verdict v;
	int rc;

	if (hdr == NULL) {
		auth_anonymous(r->auth, &id);
		snprintf(who, wholen, "%s", id.subject);
		/*
		 * /v2/ always asks for credentials, as other registries do:
		 * `docker login` relies on it to check a password, and pulling
		 * clients fetch an anonymous token from /token when allowed.
		 */
		if (type == NULL)
			return CHALLENGE;
		return (id.actions & needed) == needed ? ALLOW : CHALLENGE;
	}
	if (strncasecmp(hdr, "Bearer ", 7) == 0 && strchr(hdr + 7, '.') != NULL) {
		if ((g = malloc(sizeof(*g))) == NULL)
			return CHALLENGE;
		if (auth_token_verify(r->auth, hdr + 7, time(NULL), g) != BARGE_OK) {
			free(g);
			return CHALLENGE;
		}
		snprintf(who, wholen, "%s", g->subject);
		if (type == NULL || auth_grant_allows(g, type, name, needed))
			v = ALLOW;
		else if ((needed & (AUTH_PUSH | AUTH_DELETE)) != 0 &&
		         strcmp(g->subject, "admin") != 0)
			/* Only admin ever gets push or delete: a new token would not help. */
			v = DENY;
		else
			v = CHALLENGE_SCOPE;
		free(g);
		return v;
	}
	rc = auth_check_header(r->auth, hdr, &id);
	if (rc != BARGE_OK)
		return CHALLENGE;
	snprintf(who, wholen, "%s", id.subject);
	if (type == NULL)
		return ALLOW;
	/* A scoped token outside its globs: no other token of its would help. */
	return (id.actions & needed) == needed && auth_identity_allows(&id, type, name) ? ALLOW
	                                                                                : DENY;
}

static void
handle_v2(struct router *r, struct http_req *req, struct rctx *c)
{
	const char *method = http_req_method(req), *type = NULL, *name = NULL;
	struct registry_route *rt = NULL;
	struct barge_err err = { 0 };
	char scope[REGISTRY_NAME_MAX + 64], who[AUTH_SUBJECT_MAX] = "-";
	unsigned needed;
	enum verdict v;
	int rc;

	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		needed = AUTH_PULL;
	else if (strcmp(method, "DELETE") == 0)
		needed = AUTH_DELETE;
	else
		needed = AUTH_PUSH;
	if ((rt = malloc(sizeof(*rt))) == NULL) {
		respond_text(req, 500, "text/plain", "internal error\n");
		return;
	}
	/* Parsed once, here: the registry answers from this route (a malformed one too). */
	rc = registry_route_request(r->registry, req, rt, &err);
	if (rc == BARGE_OK && c != NULL)
		c->route = registry_label(rt->kind);
	if (rc == BARGE_OK && rt->kind == REGISTRY_ROUTE_CATALOG) {
		type = "registry";
		name = "catalog";
	} else if (rc == BARGE_OK && rt->kind != REGISTRY_ROUTE_BASE) {
		type = "repository";
		name = rt->name;
	} else if (rc != BARGE_OK && needed != AUTH_PULL) {
		/*
		 * Paths that are no route, or a malformed one, are the
		 * registry's to answer; a write to one still needs someone
		 * who may write, under a name no repository has.
		 */
		type = "repository";
		name = "-";
	}
	v = decide(r, req, type, name, needed, who, sizeof(who));
	if (c != NULL)
		snprintf(c->user, sizeof(c->user), "%s", who);
	if (type == NULL)
		scope[0] = '\0';
	else if (strcmp(type, "registry") == 0)
		snprintf(scope, sizeof(scope), "registry:catalog:*");
	else
		snprintf(scope, sizeof(scope), "repository:%s:%s", name,
		         needed == AUTH_PULL   ? "pull"
		         : needed == AUTH_PUSH ? "pull,push"
		                               : "delete");
	switch (v) {
	case ALLOW:
		registry_serve(r->registry, req, rc, rt, &err);
		break;
	case CHALLENGE:
		respond_challenge(r, req, scope[0] ? scope : NULL, NULL);
		break;
	case CHALLENGE_SCOPE:
		respond_challenge(r, req, scope[0] ? scope : NULL, "insufficient_scope");
		break;
	case DENY:
		respond_oci_error(req, 403, "DENIED", "requested access to the resource is denied");
		break;
	}
	free(rt);
}

/* --- the router's store: readiness, metrics, webhook -------------------- */

/* Opens the store if needed; called with st_mtx held. */
static int
store_get(struct router *r, struct barge_err *err)
{
	if (r->st != NULL)
		return BARGE_OK;
	return store_open(r->data_dir, &r->st, err);
}

/* Takes a new snapshot for the metrics when the last one is old (force: always). */
static int
refresh(struct router *r, int force, struct barge_err *err)
{
	struct metrics_store ms;
	time_t now = time(NULL);
	int rc = BARGE_OK;

	pthread_mutex_lock(&r->st_mtx);
	if (force || r->scanned == 0 || now - r->scanned >= ROUTER_SCAN_EVERY) {
		if ((rc = store_get(r, err)) == BARGE_OK &&
		    (rc = metrics_store_scan(r->st, &ms, err)) == BARGE_OK) {
			metrics_set_store(r->metrics, &ms);
			r->scanned = now;
		}
		/* A store that failed is opened afresh next time. */
		if (rc != BARGE_OK) {
			store_close(r->st);
			r->st = NULL;
		}
	}
	pthread_mutex_unlock(&r->st_mtx);
	return rc;
}

static int
no_tag(const char *tag, void *arg)
{
	(void)tag;
	(void)arg;
	return 1;
}

static void
handle_readyz(struct router *r, struct http_req *req)
{
	struct barge_err err = { 0 };
	int rc;

	pthread_mutex_lock(&r->st_mtx);
	/* One query that reaches SQLite: the database answers, or it does not. */
	if ((rc = store_get(r, &err)) == BARGE_OK &&
	    (rc = store_list_tags(r->st, "-", NULL, 1, no_tag, NULL, &err)) != BARGE_OK) {
		store_close(r->st);
		r->st = NULL;
	}
	pthread_mutex_unlock(&r->st_mtx);
	if (rc != BARGE_OK) {
		router_fail(r, "readyz", &err);
		respond_text(req, 503, "text/plain", "store not ready\n");
		return;
	}
	respond_text(req, 200, "text/plain", "ready\n");
}

static void
handle_metrics(struct router *r, struct http_req *req)
{
	struct barge_err err = { 0 };
	struct http_server *srv = __atomic_load_n(&r->srv, __ATOMIC_SEQ_CST);
	struct metrics_process proc;
	char *text = NULL;
	size_t len = 0;
	int have_proc;

	if (refresh(r, 0, &err) != BARGE_OK)
		router_fail(r, "metrics: store snapshot", &err);
	if (!(have_proc = metrics_process_read(&proc, &err) == BARGE_OK))
		router_fail(r, "metrics: process figures", &err);
	if (metrics_render(r->metrics, srv != NULL ? (long)http_server_in_flight(srv) : -1,
	                   have_proc ? &proc : NULL, &text, &len, &err) != BARGE_OK) {
		respond_text(req, 500, "text/plain", "internal error\n");
		return;
	}
	(void)http_respond_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* --- /webhook/mutate ----------------------------------------------------- */

/*
 * Counts a review's decision and logs it: a patch at info, a review left
 * unpatched at debug (note says why or what; NULL: nothing to add).
 */
static void
webhook_decided(struct router *r, enum webhook_reason reason, const char *note)
{
	void (*log)(const char *) = r->log_debug;
	char msg[1024];
	int swapped = webhook_reason_swapped(reason);

	metrics_webhook(r->metrics, swapped ? "swapped" : "left", webhook_reason_name(reason));
	snprintf(msg, sizeof(msg), "%s: %s", swapped ? "swapped" : "left",
	         webhook_reason_name(reason));
	api_events_add(api_events_of(r->api), "webhook", msg, note);
	if (swapped)
		log = r->log_info;
	if (log == NULL)
		return;
	snprintf(msg, sizeof(msg), "webhook: %s: %s", swapped ? "patched" : "not patched",
	         note != NULL ? note : webhook_reason_name(reason));
	log(msg);
}

static int
webhook_piece(struct http_req *req, const void *buf, size_t len, void *arg)
{
	struct webhook_body *b = arg;
	char *nb;

	(void)req;
	/* http_server stops at the bound passed to it; this is a second fence. */
	if (len > WEBHOOK_BODY_MAX - b->len)
		return BARGE_ELIMIT;
	if ((nb = realloc(b->buf, b->len + len + 1)) == NULL)
		return BARGE_ENOMEM;
	b->buf = nb;
	memcpy(b->buf + b->len, buf, len);
	b->len += len;
	return BARGE_OK;
}

static void
webhook_done(struct http_req *req, int rc, void *arg)
{
	struct webhook_body *b = arg;
	struct router *r = b->r;
	struct barge_err err = { 0 };
	struct webhook_result res = { 0 };
	char *resp = NULL;
	size_t resplen = 0;
	int nostore;

	if (rc == BARGE_EIO)
		goto out;
	if (rc == BARGE_ELIMIT) {
		/*
		 * The API server sends at most 3 MiB; a larger body is no review
		 * it sent.  Without its uid no valid answer exists, and with
		 * failurePolicy Ignore the pod is admitted unpatched all the same.
		 */
		webhook_decided(r, WEBHOOK_TOO_LARGE, "AdmissionReview larger than the limit");
		respond_text(req, 413, "text/plain", "AdmissionReview too large\n");
		goto out;
	}
	if (rc != BARGE_OK) {
		metrics_webhook(r->metrics, "error", "internal");
		respond_text(req, 500, "text/plain", "internal error\n");
		goto out;
	}
	pthread_mutex_lock(&r->st_mtx);
	/* Rules may ask for the store whatever webhook.policy says. */
	nostore = r->wh.policy == WEBHOOK_ALWAYS && r->wh.rules == NULL;
	if (nostore || (rc = store_get(r, &err)) == BARGE_OK)
		rc = webhook_review(&r->wh, nostore ? NULL : r->st, b->buf != NULL ? b->buf : "",
		                    b->len, &resp, &resplen, &res, &err);
	pthread_mutex_unlock(&r->st_mtx);
	if (rc != BARGE_OK) {
		/* failurePolicy Ignore admits the pod; the mirror configs still apply. */
		metrics_webhook(r->metrics, "error", "internal");
		router_fail(r, "webhook", &err);
		respond_text(req, 500, "text/plain", "internal error\n");
		goto out;
	}
	webhook_decided(r, res.reason, res.note);
	(void)http_respond_buf(req, 200, "application/json", resp, resplen);
out:
	free(resp);
	free(res.note);
	free(b->buf);
	free(b);
}

static void
handle_webhook(struct router *r, struct http_req *req)
{
	struct webhook_body *b;
	int rc;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		respond_text(req, 500, "text/plain", "internal error\n");
		return;
	}
	b->r = r;
	rc = http_req_accept_body(req, WEBHOOK_BODY_MAX, webhook_piece, webhook_done, b);
	if (rc == BARGE_OK)
		return;
	free(b);
	if (rc == BARGE_ELIMIT) {
		webhook_decided(r, WEBHOOK_TOO_LARGE, "AdmissionReview larger than the limit");
		respond_text(req, 413, "text/plain", "AdmissionReview too large\n");
	} else {
		metrics_webhook(r->metrics, "error", "internal");
		respond_text(req, 500, "text/plain", "internal error\n");
	}
}

/* --- /api/v1/bundles ---------------------------------------------------- */

/* Only admin loads bundles: with Basic credentials, or a session token of admin's. */
static void
handle_bundles(struct router *r, struct http_req *req, struct rctx *c)
{
	const char *hdr = http_req_header(req, "Authorization");
	struct auth_identity id;
	struct auth_grant *g;
	int admin = 0, known = 0, by_cookie;

	/* The web UI's uploads come with its session cookie (and CSRF token). */
	by_cookie = api_upload_check(r->api, req, c != NULL ? c->user : NULL);
	if (by_cookie > 0)
		upload_handle(r->upload, req);
	if (by_cookie != 0)
		return;
	if (hdr != NULL && strncasecmp(hdr, "Bearer ", 7) == 0 && strchr(hdr + 7, '.') != NULL) {
		if ((g = malloc(sizeof(*g))) == NULL) {
			respond_text(req, 500, "text/plain", "internal error\n");
			return;
		}
		if (auth_token_verify(r->auth, hdr + 7, time(NULL), g) == BARGE_OK) {
			known = 1;
			admin = strcmp(g->subject, "admin") == 0;
			if (c != NULL)
				snprintf(c->user, sizeof(c->user), "%s", g->subject);
		}
		free(g);
	} else if (hdr != NULL && auth_check_header(r->auth, hdr, &id) == BARGE_OK) {
		known = 1;
		admin = strcmp(id.subject, "admin") == 0 && (id.actions & AUTH_PUSH) != 0;
		if (c != NULL)
			snprintf(c->user, sizeof(c->user), "%s", id.subject);
	}
	if (!known) {
		(void)http_resp_header(req, "WWW-Authenticate", "Basic realm=\"barged\"");
		respond_text(req, 401, "application/json",
		             "{\"status\":\"failed\",\"error\":\"authentication required: "
		             "admin credentials\"}\n");
		return;
	}
	if (!admin) {
		respond_text(req, 403, "application/json",
		             "{\"status\":\"failed\",\"error\":\"only admin may load bundles\"}\n");
		return;
	}
	upload_handle(r->upload, req);
}

/* --- /api/v1/sync ------------------------------------------------------ */

/*
 * What the store holds (api_sync.h), to whoever may pull the catalog:
 * anonymous clients when anonymous pull is on, read-only tokens, admin.
 */
static void
handle_sync(struct router *r, struct http_req *req, struct rctx *c)
{
	char who[AUTH_SUBJECT_MAX] = "-";
	struct barge_err err = { 0 };
	enum verdict v = decide(r, req, "registry", "catalog", AUTH_PULL, who, sizeof(who));

	if (c != NULL)
		snprintf(c->user, sizeof(c->user), "%s", who);
	if (v == DENY)
		respond_oci_error(req, 403, "DENIED", "requested access to the resource is denied");
	else if (v != ALLOW) {
		/* Basic, as /api/v1/bundles: a token scope names no listing of everything. */
		(void)http_resp_header(req, "WWW-Authenticate", "Basic realm=\"barged\"");
		respond_oci_error(req, 401, "UNAUTHORIZED", "authentication required");
	} else if (api_sync_handle(r->data_dir, r->project, req, &err) != BARGE_OK)
		router_fail(r, "/api/v1/sync", &err);
}

/* --- dispatch ------------------------------------------------------------ */

void
router_handle(struct http_req *req, void *arg)
{
	struct router *r = arg;
	const char *path = http_req_path(req), *method = http_req_method(req), *route;
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	struct rctx *c;

	/* /v2/ paths are parsed once, by handle_v2, which sets the label. */
	if (strcmp(path, "/v2") == 0 || strncmp(path, "/v2/", 4) == 0) {
		c = ctx_new(req, "other");
		handle_v2(r, req, c);
		ctx_publish(r, c);
		return;
	}
	route = router_route_label(path, r->project);
	c = ctx_new(req, route);
	if (strcmp(route, "token") == 0)
		token_handle(r->auth, req, c != NULL ? c->user : NULL);
	else if (strcmp(route, "healthz") == 0 && get)
		respond_text(req, 200, "text/plain", "ok\n");
	else if (strcmp(route, "readyz") == 0 && get)
		handle_readyz(r, req);
	else if (strcmp(route, "metrics") == 0 && get)
		handle_metrics(r, req);
	else if (strcmp(route, "ui") == 0)
		ui_assets_handle(req);
	else if (strcmp(route, "webhook") == 0 && strcmp(method, "POST") == 0 && r->webhook_on)
		handle_webhook(r, req);
	else if (strcmp(path, "/api/v1/sync") == 0 && get)
		handle_sync(r, req, c);
	else if (strcmp(route, "bundles") == 0 && r->upload != NULL &&
	         (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0))
		handle_bundles(r, req, c);
	else if (strcmp(route, "bundles") == 0 || strcmp(route, "api") == 0)
		api_handle(r->api, req, c != NULL ? c->user : NULL);
	else
		respond_text(req, 404, "text/plain", "not found\n");
	ctx_publish(r, c);
}
