/*
 * token.c: the /token endpoint (token.h): the GET request with its scope
 * parameters, the OAuth2 form POSTed in its place, and the answer with a
 * session token from auth.  It owns a POST's body while it arrives and the
 * decoded form, both wiped when done: they hold a password.
 */
#include "token.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "http_server.h"

/* A POST /token body, collected up to TOKEN_FORM_MAX bytes. */
struct token_body {
	struct auth *a;
	char *user;
	size_t len;
	char buf[TOKEN_FORM_MAX];
};

/* The values of every scope parameter of a GET /token, joined by spaces. */
struct scope_join {
	char *buf;
	size_t len;
};

/* --- the form ------------------------------------------------------------ */

/*
 * Decodes application/x-www-form-urlencoded text in place ('+' is a space,
 * %HH a byte).  Returns the decoded length, which a %00 makes longer than
 * the string, or -1 for a malformed escape.
 */
static ssize_t
form_decode(char *s)
{
	char *w = s, *start = s, hex[3] = { 0 };

	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*w++ = *s == '+' ? ' ' : *s;
			continue;
		}
		/* s[1] == '\0' fails the first test: s[2] is never read past the end. */
		if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
			return -1;
		memcpy(hex, s + 1, 2);
		*w++ = (char)strtol(hex, NULL, 16);
		s += 2;
	}
	*w = '\0';
	return w - start;
}

/* Decodes the value v of the field name into its slot; the error names the field. */
static int
form_field(const char *name, char *v, const char **slot, struct barge_err *err)
{
	ssize_t n, i;

	if (*slot != NULL)
		return err_set(err, BARGE_EINVAL, "%s: given more than once", name);
	if ((n = form_decode(v)) < 0)
		return err_set(err, BARGE_EINVAL, "%s: malformed percent-encoding", name);
	/*
	 * A NUL would cut the value short.  Other control characters are
	 * refused too, but in a password, which is only ever compared.
	 */
	for (i = 0; i < n; i++)
		if (v[i] == '\0' ||
		    (strcmp(name, "password") != 0 && ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)))
			return err_set(err, BARGE_EINVAL, "%s: contains a control character", name);
	*slot = v;
	return BARGE_OK;
}

/* The grant is one barged knows, and its own fields are there. */
static int
form_check(const struct token_form *f, struct barge_err *err)
{
	if (f->grant_type == NULL)
		return err_set(err, BARGE_EINVAL, "grant_type: missing");
	if (strcmp(f->grant_type, "password") == 0) {
		if (f->username == NULL)
			return err_set(err, BARGE_EINVAL,
			               "username: missing (grant_type password)");
		if (f->password == NULL)
			return err_set(err, BARGE_EINVAL,
			               "password: missing (grant_type password)");
		return BARGE_OK;
	}
	if (strcmp(f->grant_type, "refresh_token") == 0) {
		if (f->refresh_token == NULL)
			return err_set(err, BARGE_EINVAL,
			               "refresh_token: missing (grant_type refresh_token)");
		return BARGE_OK;
	}
	return err_set(err, BARGE_EINVAL,
	               "grant_type: only password and refresh_token are accepted");
}

/* The slot of a parameter of the form, or NULL for one barged does not read. */
static const char **
form_slot(struct token_form *f, const char *name)
{
	if (strcmp(name, "grant_type") == 0)
		return &f->grant_type;
	if (strcmp(name, "username") == 0)
		return &f->username;
	if (strcmp(name, "password") == 0)
		return &f->password;
	if (strcmp(name, "refresh_token") == 0)
		return &f->refresh_token;
	if (strcmp(name, "scope") == 0)
		return &f->scope;
	return NULL;
}

int
token_form_parse(const char *body, size_t len, struct token_form *out, struct barge_err *err)
{
	const char **slot;
	char *p, *e, *v;
	int rc = BARGE_OK;

	memset(out, 0, sizeof(*out));
	if (len > TOKEN_FORM_MAX)
		return err_set(err, BARGE_ELIMIT, "body: larger than %d bytes", TOKEN_FORM_MAX);
	if (memchr(body, '\0', len) != NULL)
		return err_set(err, BARGE_EINVAL, "body: contains a NUL byte");
	if ((out->buf = malloc(len + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	memcpy(out->buf, body, len);
	out->buf[len] = '\0';
	out->len = len;
	for (p = out->buf; p < out->buf + len; p = e + 1) {
		e = p + strcspn(p, "&");
		*e = '\0';
		if ((v = strchr(p, '=')) != NULL)
			*v++ = '\0';
		else
			v = e;
		/* Parameters not known here are ignored, however they are written. */
		if (form_decode(p) < 0 || (slot = form_slot(out, p)) == NULL)
			continue;
		if ((rc = form_field(p, v, slot, err)) != BARGE_OK)
			break;
	}
	if (rc == BARGE_OK)
		rc = form_check(out, err);
	if (rc != BARGE_OK)
		token_form_free(out);
	return rc;
}

void
token_form_free(struct token_form *f)
{
	if (f == NULL)
		return;
	if (f->buf != NULL)
		explicit_bzero(f->buf, f->len);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* --- answers ------------------------------------------------------------- */

static void
respond_text(struct http_req *req, int status, const char *ctype, const char *text)
{
	(void)http_respond_buf(req, status, ctype, text, strlen(text));
}

/*
 * A failure as an OCI error body.  The message may quote the request:
 * bytes outside printable ASCII become '?', and jansson escapes the rest.
 */
static void
token_error(struct http_req *req, int status, const char *code, const char *msg)
{
	char clean[BARGE_ERR_MSG_MAX], *text = NULL, *line;
	json_t *body;
	size_t i;

	for (i = 0; msg[i] != '\0' && i < sizeof(clean) - 1; i++)
		clean[i] = msg[i] >= 0x20 && msg[i] < 0x7f ? msg[i] : '?';
	clean[i] = '\0';
	body = json_pack("{s:[{s:s,s:s}]}", "errors", "code", code, "message", clean);
	/* One line, as the router's other error bodies. */
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) != NULL &&
	    (line = realloc(text, strlen(text) + 2)) != NULL) {
		text = line;
		strcat(text, "\n");
		(void)http_resp_header(req, "Docker-Distribution-API-Version", "registry/2.0");
		respond_text(req, status, "application/json", text);
	} else {
		respond_text(req, 500, "text/plain", "internal error\n");
	}
	free(text);
	json_decref(body);
}

static void
token_refuse(struct http_req *req, const char *msg)
{
	(void)http_resp_header(req, "WWW-Authenticate", "Basic realm=\"barged\"");
	token_error(req, 401, "UNAUTHORIZED", msg);
}

static void
token_too_large(struct http_req *req)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "body: larger than %d bytes", TOKEN_FORM_MAX);
	token_error(req, 413, "SIZE_INVALID", msg);
}

/* Answers a token request of id for the space-separated scopes (NULL: none). */
static void
token_answer(struct auth *a, struct http_req *req, char *user, const struct auth_identity *id,
             const char *scopes)
{
	struct barge_err err = { 0 };
	json_t *body = NULL;
	char *tok = NULL, *text = NULL, issued[32];
	struct tm tm;
	time_t now;
	int rc;

	if (user != NULL)
		snprintf(user, AUTH_SUBJECT_MAX, "%s", id->subject);
	now = time(NULL);
	if ((rc = auth_token_issue(a, id, scopes, now, &tok, &err)) != BARGE_OK) {
		if (rc == BARGE_EINVAL || rc == BARGE_ELIMIT) {
			(void)err_prefix(&err, "scope");
			token_error(req, 400, "UNSUPPORTED", err.msg);
		} else {
			respond_text(req, 500, "text/plain", "internal error\n");
		}
		return;
	}
	gmtime_r(&now, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	body = json_pack("{s:s,s:s,s:i,s:s}", "token", tok, "access_token", tok, "expires_in",
	                 AUTH_TOKEN_TTL, "issued_at", issued);
	if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		respond_text(req, 500, "text/plain", "internal error\n");
	} else {
		(void)http_resp_header(req, "Cache-Control", "no-store");
		respond_text(req, 200, "application/json", text);
	}
	free(text);
	json_decref(body);
	free(tok);
}

/* --- GET ----------------------------------------------------------------- */

static int
scope_join_one(const char *v, void *arg)
{
	struct scope_join *j = arg;
	size_t n = strlen(v);
	char *nb;

	/* The values come from the request head, which is never larger. */
	if (n >= HTTP_HEAD_MAX - j->len)
		return BARGE_ELIMIT;
	if ((nb = realloc(j->buf, j->len + n + 2)) == NULL)
		return BARGE_ENOMEM;
	j->buf = nb;
	if (j->len > 0)
		j->buf[j->len++] = ' ';
	memcpy(j->buf + j->len, v, n + 1);
	j->len += n;
	return BARGE_OK;
}

static void
token_get(struct auth *a, struct http_req *req, char *user)
{
	const char *hdr = http_req_header(req, "Authorization");
	struct scope_join j = { NULL, 0 };
	struct auth_identity id;

	if (hdr != NULL) {
		if (auth_check_header(a, hdr, &id) != BARGE_OK) {
			token_refuse(req, "wrong credentials");
			return;
		}
	} else {
		auth_anonymous(a, &id);
		if (id.actions == 0) {
			token_refuse(req, "authentication required");
			return;
		}
	}
	if (http_req_query_each(req, "scope", scope_join_one, &j) != BARGE_OK)
		respond_text(req, 500, "text/plain", "internal error\n");
	else
		token_answer(a, req, user, &id, j.buf);
	free(j.buf);
}

/* --- POST ---------------------------------------------------------------- */

static int
token_piece(struct http_req *req, const void *buf, size_t len, void *arg)
{
	struct token_body *b = arg;

	(void)req;
	/* http_server stops at the bound passed to it; this is a second fence. */
	if (len > sizeof(b->buf) - b->len)
		return BARGE_ELIMIT;
	memcpy(b->buf + b->len, buf, len);
	b->len += len;
	return BARGE_OK;
}

/* The credentials of a parsed form: a password, or a read-only token as the refresh token. */
static int
form_identity(struct auth *a, const struct token_form *f, struct auth_identity *id)
{
	if (strcmp(f->grant_type, "password") == 0)
		return auth_check_password(a, f->username, f->password, strlen(f->password), id);
	return auth_check_ro_token(a, f->refresh_token, id);
}

static void
token_done(struct http_req *req, int rc, void *arg)
{
	struct token_body *b = arg;
	struct barge_err err = { 0 };
	struct auth_identity id;
	struct token_form form;

	/* BARGE_EIO: the client is gone and no answer can go out. */
	if (rc == BARGE_OK)
		rc = token_form_parse(b->buf, b->len, &form, &err);
	if (rc == BARGE_ELIMIT) {
		token_too_large(req);
	} else if (rc == BARGE_EINVAL) {
		token_error(req, 400, "UNSUPPORTED", err.msg);
	} else if (rc == BARGE_OK) {
		if (form_identity(b->a, &form, &id) != BARGE_OK)
			token_refuse(req, "wrong credentials");
		else
			token_answer(b->a, req, b->user, &id, form.scope);
		token_form_free(&form);
	} else if (rc != BARGE_EIO) {
		respond_text(req, 500, "text/plain", "internal error\n");
	}
	explicit_bzero(b->buf, b->len);
	free(b);
}

/* The credentials are in the body: a POST without them is malformed, never anonymous. */
static void
token_post(struct auth *a, struct http_req *req, char *user)
{
	static const char form[] = "application/x-www-form-urlencoded";
	const char *ct = http_req_header(req, "Content-Type");
	struct token_body *b;
	int rc;

	/* The media type alone, or followed by parameters (charset). */
	if (ct == NULL || strncasecmp(ct, form, sizeof(form) - 1) != 0 ||
	    strchr("; \t", ct[sizeof(form) - 1]) == NULL) {
		token_error(req, 400, "UNSUPPORTED",
		            "Content-Type: must be application/x-www-form-urlencoded");
		return;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		respond_text(req, 500, "text/plain", "internal error\n");
		return;
	}
	b->a = a;
	b->user = user;
	if ((rc = http_req_accept_body(req, TOKEN_FORM_MAX, token_piece, token_done, b)) ==
	    BARGE_OK)
		return;
	free(b);
	if (rc == BARGE_ELIMIT)
		token_too_large(req);
	else
		respond_text(req, 500, "text/plain", "internal error\n");
}

void
token_handle(struct auth *a, struct http_req *req, char *user)
{
	const char *method = http_req_method(req);

	if (strcmp(method, "GET") == 0)
		token_get(a, req, user);
	else if (strcmp(method, "POST") == 0)
		token_post(a, req, user);
	else
		respond_text(req, 404, "text/plain", "not found\n");
}
