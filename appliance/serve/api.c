/*
 * api.c: the admin JSON API's handle and dispatch (api.h): who the caller
 * is (the session cookie, Basic or Bearer), the CSRF check, what needs
 * admin, login, logout and the session, and the helpers the other api*.c
 * files share (api_int.h).  It owns struct api, its sessions, its event
 * ring and its store, and each request body while it arrives.
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "store_push.h"

#define API_PREFIX "/api/v1/"

/* A request body on its way to fn. */
struct api_body {
	struct api *a;
	struct api_caller c;
	api_body_fn fn;
	size_t len;
	char buf[API_BODY_MAX];
};

int
api_new(const struct api_opts *o, struct api **out, struct barge_err *err)
{
	struct api *a;
	int rc;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pthread_mutex_init(&a->st_mtx, NULL);
	a->data_dir = strdup(o->data_dir);
	a->project = strdup(o->project != NULL ? o->project : "edge");
	a->version = strdup(o->version);
	a->advertise = o->advertise != NULL ? strdup(o->advertise) : NULL;
	if (a->data_dir == NULL || a->project == NULL || a->version == NULL ||
	    (o->advertise != NULL && a->advertise == NULL)) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	a->tls = o->tls;
	a->auth = o->auth;
	a->started = o->started;
	a->proxy = o->proxy;
	a->log_error = o->log_error;
	if ((rc = api_sessions_new(a->auth, &a->sessions, err)) != BARGE_OK ||
	    (rc = api_events_new(&a->events, err)) != BARGE_OK)
		goto fail;
	*out = a;
	return BARGE_OK;
fail:
	api_free(a);
	return rc;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	store_close(a->st);
	api_sessions_free(a->sessions);
	api_events_free(a->events);
	pthread_mutex_destroy(&a->st_mtx);
	free(a->data_dir);
	free(a->project);
	free(a->version);
	free(a->advertise);
	free(a);
}

struct api_events *
api_events_of(struct api *a)
{
	return a->events;
}

/* --- helpers (api_int.h) ------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at p (left bytes remain), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t left)
{
	size_t n, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not characters. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
api_text_copy(char *dst, size_t size, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t left = strlen(src), o = 0, n;

	if (size == 0)
		return;
	while (left > 0) {
		n = utf8_seq(p, left);
		if (o + (n == 0 ? 1 : n) >= size)
			break;
		if (n == 0) {
			dst[o++] = '?';
			n = 1;
		} else {
			memcpy(dst + o, p, n);
			o += n;
		}
		p += n;
		left -= n;
	}
	dst[o] = '\0';
}

json_t *
api_str(const char *s)
{
	json_t *j;
	char *copy;
	size_t len;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	/* Not valid UTF-8: the same text with '?' for each bad byte. */
	len = strlen(s) + 1;
	if ((copy = malloc(len)) == NULL)
		return NULL;
	api_text_copy(copy, len, s);
	j = json_string(copy);
	free(copy);
	return j;
}

void
api_send(struct http_req *req, int status, json_t *body)
{
	static const char oom[] =
	        "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}}\n";
	char *text = NULL;

	(void)http_resp_header(req, "Cache-Control", "no-store");
	(void)http_resp_header(req, "X-Content-Type-Options", "nosniff");
	if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		(void)http_respond_buf(req, 500, "application/json", oom, sizeof(oom) - 1);
	} else {
		(void)http_respond_buf(req, status, "application/json", text, strlen(text));
	}
	free(text);
	json_decref(body);
}

void
api_no_content(struct http_req *req)
{
	(void)http_resp_header(req, "Cache-Control", "no-store");
	(void)http_respond_buf(req, 204, NULL, "", 0);
}

void
api_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_send(req, status,
	         json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", api_str(msg)));
}

void
api_fail(struct api *a, struct http_req *req, int rc, const struct barge_err *err)
{
	char msg[BARGE_ERR_MSG_MAX + 16];

	switch (rc) {
	case BARGE_ENOTFOUND:
		api_error(req, 404, "NOT_FOUND", "%s", err->msg);
		return;
	case BARGE_EEXIST:
		api_error(req, 409, "CONFLICT", "%s", err->msg);
		return;
	case BARGE_EINVAL:
	case BARGE_EFORMAT:
		api_error(req, 400, "INVALID", "%s", err->msg);
		return;
	case BARGE_ELIMIT:
		api_error(req, 413, "TOO_LARGE", "%s", err->msg);
		return;
	default:
		break;
	}
	if (a->log_error != NULL) {
		snprintf(msg, sizeof(msg), "api: %s", err->msg);
		a->log_error(msg);
	}
	api_error(req, 500, "INTERNAL", "%s", err->msg);
}

int
api_store(struct api *a, struct store **out, struct barge_err *err)
{
	int rc;

	if (a->st == NULL) {
		if ((rc = store_open(a->data_dir, &a->st, err)) != BARGE_OK)
			return rc;
		/* Deletes go through the push side, whose tables this makes sure of. */
		if ((rc = store_push_init(a->st, err)) != BARGE_OK) {
			api_store_drop(a);
			return rc;
		}
	}
	*out = a->st;
	return BARGE_OK;
}

void
api_store_drop(struct api *a)
{
	store_close(a->st);
	a->st = NULL;
}

void
api_registry_host(struct api *a, struct http_req *req, char *buf, size_t len)
{
	const char *host = a->advertise != NULL ? a->advertise : http_req_header(req, "Host");
	size_t n;

	/* A Host that is no host name is not echoed into pull references. */
	if (host == NULL || (n = strlen(host)) == 0 || n > 255 ||
	    strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:[]") !=
	            n)
		host = "localhost";
	snprintf(buf, len, "%s", host);
}

/* --- bodies ----------------------------------------------------------------- */

static int
body_piece(struct http_req *req, const void *buf, size_t len, void *arg)
{
	struct api_body *b = arg;

	(void)req;
	if (len > sizeof(b->buf) - 1 - b->len)
		return BARGE_ELIMIT;
	memcpy(b->buf + b->len, buf, len);
	b->len += len;
	return BARGE_OK;
}

static void
body_done(struct http_req *req, int rc, void *arg)
{
	struct api_body *b = arg;
	json_error_t jerr;
	json_t *doc = NULL;

	if (rc == BARGE_EIO)
		goto out;
	if (rc == BARGE_ELIMIT) {
		api_error(req, 413, "TOO_LARGE", "body: larger than %d bytes", API_BODY_MAX);
		goto out;
	}
	if (rc != BARGE_OK) {
		api_error(req, 500, "INTERNAL", "reading the body failed");
		goto out;
	}
	if (b->len == 0)
		doc = json_object();
	else if ((doc = json_loadb(b->buf, b->len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		api_error(req, 400, "INVALID", "body: line %d column %d: %s", jerr.line,
		          jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(doc)) {
		api_error(req, 400, "INVALID", "body: expected a JSON object");
		goto out;
	}
	b->fn(b->a, req, &b->c, doc);
out:
	json_decref(doc);
	/* It may hold a password. */
	explicit_bzero(b->buf, b->len);
	free(b);
}

/* Takes the body (at most API_BODY_MAX bytes) and hands it to fn once whole. */
static void
take_body(struct api *a, struct http_req *req, const struct api_caller *c, api_body_fn fn)
{
	struct api_body *b;
	int rc;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		api_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	b->a = a;
	b->fn = fn;
	if (c != NULL)
		b->c = *c;
	if (!http_req_has_body(req)) {
		body_done(req, BARGE_OK, b);
		return;
	}
	if ((rc = http_req_accept_body(req, API_BODY_MAX, body_piece, body_done, b)) == BARGE_OK)
		return;
	free(b);
	if (rc == BARGE_ELIMIT)
		api_error(req, 413, "TOO_LARGE", "body: larger than %d bytes", API_BODY_MAX);
	else
		api_error(req, 500, "INTERNAL", "reading the body failed");
}

/* --- who is asking ---------------------------------------------------------- */

/*
 * Fills c from the session cookie, else from the Authorization header.
 * BARGE_EAUTH when neither names a valid identity; BARGE_ELIMIT when Basic
 * credentials come from an address the login rate limit refuses for
 * *retry_after seconds more.
 */
static int
identify(struct api *a, struct http_req *req, struct api_caller *c, int *retry_after)
{
	const char *cookie = http_req_header(req, "Cookie");
	const char *hdr = http_req_header(req, "Authorization");
	struct api_session s;
	struct auth_grant *g;
	int rc;

	memset(c, 0, sizeof(*c));
	if (cookie != NULL && api_cookie_sid(cookie, c->sid) &&
	    api_session_get(a->sessions, c->sid, time(NULL), &s) == BARGE_OK) {
		c->id = s.id;
		c->by_cookie = 1;
		memcpy(c->csrf, s.csrf, sizeof(c->csrf));
	} else if (hdr != NULL && strncasecmp(hdr, "Bearer ", 7) == 0 &&
	           strchr(hdr + 7, '.') != NULL) {
		/* A session token from /token stands for its subject. */
		if ((g = malloc(sizeof(*g))) == NULL)
			return BARGE_ENOMEM;
		rc = auth_token_verify(a->auth, hdr + 7, time(NULL), g);
		if (rc == BARGE_OK)
			rc = auth_subject_identity(a->auth, g->subject, &c->id);
		free(g);
		if (rc != BARGE_OK)
			return BARGE_EAUTH;
	} else if (hdr != NULL && strncasecmp(hdr, "Basic ", 6) == 0) {
		/* A user and password: a login, counted and limited as POST /api/v1/login. */
		const char *addr = http_req_remote_addr(req);

		if ((*retry_after = api_login_wait(a->sessions, addr, time(NULL))) > 0)
			return BARGE_ELIMIT;
		if (auth_check_header(a->auth, hdr, &c->id) != BARGE_OK) {
			api_login_failed(a->sessions, addr, time(NULL));
			return BARGE_EAUTH;
		}
	} else if (hdr == NULL || auth_check_header(a->auth, hdr, &c->id) != BARGE_OK) {
		return BARGE_EAUTH;
	}
	c->admin = strcmp(c->id.subject, "admin") == 0 && (c->id.actions & AUTH_DELETE) != 0;
	return BARGE_OK;
}

/* --- login, logout, session ------------------------------------------------- */

static json_t *
session_json(const struct auth_identity *id, int admin, const char *csrf)
{
	const char *user = strncmp(id->subject, "token:", 6) == 0 ? id->subject + 6 : id->subject;

	return json_pack("{s:o,s:s,s:s?}", "user", api_str(user), "role",
	                 admin ? "admin" : "read-only", "csrf", csrf);
}

/* 429 for an address the login rate limit refuses for wait seconds more. */
static void
too_many(struct http_req *req, int wait)
{
	char after[16];

	snprintf(after, sizeof(after), "%d", wait);
	(void)http_resp_header(req, "Retry-After", after);
	api_error(req, 429, "TOO_MANY",
	          "too many failed logins from this address: try again in %d seconds", wait);
}

static void
login_body(struct api *a, struct http_req *req, const struct api_caller *unused, json_t *body)
{
	const char *user = json_string_value(json_object_get(body, "username"));
	json_t *pw = json_object_get(body, "password");
	char sid[API_SID_LEN + 1], cookie[API_SID_LEN + 128];
	struct api_session s;
	int rc, wait = 0;

	(void)unused;
	if (user == NULL || !json_is_string(pw)) {
		api_error(req, 400, "INVALID",
		          "body: expected {\"username\": ..., \"password\": ...}");
		return;
	}
	rc = api_session_login(a->sessions, http_req_remote_addr(req), user, json_string_value(pw),
	                       json_string_length(pw), time(NULL), sid, &s, &wait);
	if (rc == BARGE_ELIMIT) {
		too_many(req, wait);
		return;
	}
	if (rc == BARGE_EAUTH) {
		api_error(req, 401, "UNAUTHORIZED", "wrong user name or password");
		return;
	}
	if (rc != BARGE_OK) {
		api_error(req, 500, "INTERNAL", "no session could be made");
		return;
	}
	snprintf(cookie, sizeof(cookie),
	         "barge_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", sid,
	         (long long)(s.expires - time(NULL)), a->tls ? "; Secure" : "");
	(void)http_resp_header(req, "Set-Cookie", cookie);
	api_send(req, 200, session_json(&s.id, strcmp(s.id.subject, "admin") == 0, s.csrf));
	explicit_bzero(sid, sizeof(sid));
	explicit_bzero(cookie, sizeof(cookie));
}

static void
logout(struct api *a, struct http_req *req, const struct api_caller *c)
{
	if (c->by_cookie)
		api_session_end(a->sessions, c->sid);
	(void)http_resp_header(req, "Set-Cookie",
	                       a->tls ? "barge_session=; Path=/; HttpOnly; SameSite=Strict; "
	                                "Max-Age=0; Secure"
	                              : "barge_session=; Path=/; HttpOnly; SameSite=Strict; "
	                                "Max-Age=0");
	api_no_content(req);
}

static void
events(struct api *a, struct http_req *req)
{
	const char *kind = http_req_query(req, "kind"), *n = http_req_query(req, "n");
	long v = n != NULL ? strtol(n, NULL, 10) : 0;

	if (kind != NULL && strcmp(kind, "webhook") != 0 && strcmp(kind, "load") != 0) {
		api_error(req, 400, "INVALID", "kind: webhook or load");
		return;
	}
	api_send(req, 200,
	         json_pack("{s:o*}", "events",
	                   api_events_json(a->events, kind, v > 0 ? (size_t)v : 0)));
}

/* --- dispatch --------------------------------------------------------------- */

/* The rest of the path after prefix ("" for prefix itself), or NULL. */
static const char *
under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return "";
	return path[n] == '/' && path[n + 1] != '\0' && strchr(path + n + 1, '/') == NULL
	               ? path + n + 1
	               : NULL;
}

/* Answers the GET endpoints; 0 when path is none of them. */
static int
dispatch_get(struct api *a, struct http_req *req, const struct api_caller *c, const char *path)
{
	if (strcmp(path, "session") == 0)
		api_send(req, 200, session_json(&c->id, c->admin, c->by_cookie ? c->csrf : NULL));
	else if (strcmp(path, "overview") == 0)
		api_overview(a, req);
	else if (strcmp(path, "repositories") == 0)
		api_repositories(a, req, c);
	else if (strcmp(path, "tags") == 0)
		api_tags(a, req, c);
	else if (strcmp(path, "image") == 0)
		api_image(a, req, c);
	else if (strcmp(path, "bundles") == 0)
		api_bundles(a, req);
	else if (strcmp(path, "events") == 0)
		events(a, req);
	else if (strcmp(path, "tokens") == 0 && !c->admin)
		api_error(req, 403, "FORBIDDEN", "only admin may list tokens");
	else if (strcmp(path, "tokens") == 0)
		api_tokens_list(a, req);
	else
		return 0;
	return 1;
}

/* Answers the POST and DELETE endpoints (admin only, checked before); 0 when none. */
static int
dispatch_write(struct api *a, struct http_req *req, const struct api_caller *c, const char *method,
               const char *path)
{
	const char *id;

	if (strcmp(method, "POST") == 0) {
		if (strcmp(path, "gc") == 0)
			take_body(a, req, c, api_gc);
		else if (strcmp(path, "tokens") == 0)
			take_body(a, req, c, api_tokens_create);
		else
			return 0;
		return 1;
	}
	if (strcmp(method, "DELETE") != 0)
		return 0;
	if (strcmp(path, "tags") == 0)
		api_delete_tag(a, req);
	else if (strcmp(path, "image") == 0)
		api_delete_image(a, req);
	else if ((id = under(path, "bundles")) != NULL && *id != '\0')
		api_delete_bundle(a, req, id);
	else if ((id = under(path, "tokens")) != NULL && *id != '\0')
		api_tokens_revoke(a, req, id);
	else
		return 0;
	return 1;
}

void
api_handle(struct api *a, struct http_req *req, char *user)
{
	const char *path = http_req_path(req), *method = http_req_method(req);
	int read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	struct api_caller c;
	int rc, wait = 0;

	path += strncmp(path, API_PREFIX, sizeof(API_PREFIX) - 1) == 0 ? sizeof(API_PREFIX) - 1
	                                                               : strlen(path);
	if (strcmp(path, "login") == 0) {
		if (strcmp(method, "POST") == 0)
			take_body(a, req, NULL, login_body);
		else
			api_error(req, 405, "METHOD", "POST a login here");
		return;
	}
	if ((rc = identify(a, req, &c, &wait)) != BARGE_OK) {
		if (rc == BARGE_ENOMEM)
			api_error(req, 500, "INTERNAL", "out of memory");
		else if (rc == BARGE_ELIMIT)
			too_many(req, wait);
		else
			api_error(req, 401, "UNAUTHORIZED", "log in, or send credentials");
		return;
	}
	if (user != NULL)
		snprintf(user, AUTH_SUBJECT_MAX, "%s", c.id.subject);
	/* The cookie comes with any request the browser makes: writes must prove their origin. */
	if (!read && c.by_cookie && !api_csrf_ok(c.csrf, http_req_header(req, "X-CSRF-Token"))) {
		api_error(req, 403, "CSRF", "X-CSRF-Token missing or wrong");
		return;
	}
	if (strcmp(path, "logout") == 0 && strcmp(method, "POST") == 0) {
		logout(a, req, &c);
		return;
	}
	if (read) {
		if (!dispatch_get(a, req, &c, path))
			api_error(req, 404, "NOT_FOUND", "no such endpoint");
		return;
	}
	if (!c.admin) {
		api_error(req, 403, "FORBIDDEN", "read-only: only admin may change anything");
		return;
	}
	if (!dispatch_write(a, req, &c, method, path))
		api_error(req, 404, "NOT_FOUND", "no such endpoint");
}

int
api_upload_check(struct api *a, struct http_req *req, char *user)
{
	const char *cookie = http_req_header(req, "Cookie");
	struct api_caller c;
	char sid[API_SID_LEN + 1];
	int wait = 0;

	if (cookie == NULL || !api_cookie_sid(cookie, sid))
		return 0;
	if (identify(a, req, &c, &wait) != BARGE_OK || !c.by_cookie) {
		api_error(req, 401, "UNAUTHORIZED", "the session has ended: log in again");
		return -1;
	}
	if (user != NULL)
		snprintf(user, AUTH_SUBJECT_MAX, "%s", c.id.subject);
	if (!api_csrf_ok(c.csrf, http_req_header(req, "X-CSRF-Token"))) {
		api_error(req, 403, "CSRF", "X-CSRF-Token missing or wrong");
		return -1;
	}
	if (!c.admin) {
		api_error(req, 403, "FORBIDDEN", "only admin may load bundles");
		return -1;
	}
	return 1;
}
