/*
 * token: the /token endpoint of the token dance (the distribution spec's
 * "token" and "oauth" documents).
 *
 *   GET /token?service=S&scope=..&scope=..
 *            Basic credentials (or none, for anonymous pulls); any number of
 *            scope parameters, each holding one or more scopes separated by
 *            spaces.
 *   POST /token
 *            the OAuth2 form (application/x-www-form-urlencoded, at most
 *            TOKEN_FORM_MAX bytes), which containerd tries first when it has
 *            credentials: grant_type password with username and password, or
 *            refresh_token with refresh_token (barged issues no refresh
 *            tokens: a read-only token stands for one); scope as in GET.
 *            service, client_id, access_type and parameters not known here
 *            are ignored, as OAuth2 asks (RFC 6749 section 3.2).
 *
 * Both answer 200 {"token", "access_token", "expires_in", "issued_at"} (the
 * same token twice: Docker's name and OAuth2's), granting every scope asked
 * for, each narrowed to what the credentials allow (auth_token_issue).
 * Wrong credentials, and none where anonymous pulls are off, get 401; a
 * malformed request 400, and a POST body past the bound 413, with an OCI
 * error body whose message starts with the field at fault ("scope: ...",
 * "password: ...", "Content-Type: ...").  Other methods get 404.
 */
#ifndef BARGE_TOKEN_H
#define BARGE_TOKEN_H

#include <stddef.h>

#include "err.h"

struct auth;
struct http_req;

#define TOKEN_FORM_MAX 8192 /* bytes of a POST /token body */

/* A POST /token body, decoded: the strings point into buf. */
struct token_form {
	char *buf;
	size_t len;
	const char *grant_type;    /* "password" or "refresh_token" */
	const char *username;      /* set for grant_type password */
	const char *password;      /* set for grant_type password */
	const char *refresh_token; /* set for grant_type refresh_token */
	const char *scope;         /* space-separated scopes; NULL: none */
};

/*
 * Parses a form body of len bytes ('+' and %HH decoded).  On failure
 * (BARGE_ELIMIT above TOKEN_FORM_MAX; BARGE_EINVAL for a bad escape, a
 * control character, a parameter given twice or the grant's own missing)
 * err's message starts with the field's name.  On success the caller
 * frees *out with token_form_free.
 */
int token_form_parse(const char *body, size_t len, struct token_form *out,
                     struct barge_err *err) BARGE_MUST_CHECK;
/* Wipes and frees what token_form_parse allocated.  Accepts NULL. */
void token_form_free(struct token_form *f);

/*
 * Answers a request for /token, or takes its body and answers once the
 * body has arrived (http_server.h).  user, when not NULL, receives the
 * subject for the access log (AUTH_SUBJECT_MAX bytes) and must stay valid
 * until the request completes.  a is borrowed.
 */
void token_handle(struct auth *a, struct http_req *req, char *user);

#endif
