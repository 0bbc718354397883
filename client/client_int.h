/*
 * client_int: what the files of the client library share and nothing outside
 * client/ may include.
 *
 * A struct client owns its configuration (a copy) and one struct conn per
 * endpoint it has talked to; a conn owns its curl handle, its bearer tokens,
 * its credentials and its Basic header, all wiped and released by
 * client_conn_free.  A struct xfer belongs to the one request it describes.
 *
 * Who does what: client_mirror.c decides where a host is reached and whether
 * plain http is allowed; client_http.c keeps the connections and performs
 * requests; client_auth.c answers 401 challenges; client_retry.c decides how
 * long to wait; client.c drives them for manifests and fetch.c for blobs.
 */
#ifndef BARGE_CLIENT_INT_H
#define BARGE_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "client.h"
#include "creds.h"
#include "digest.h"
#include "err.h"
#include "ref.h"

#define DOCKER_HUB_ENDPOINT "https://registry-1.docker.io"
#define CHALLENGE_MAX       4096 /* longest WWW-Authenticate value kept */
#define TOKEN_MAX           (16 * 1024)
#define AUTHZ_MAX           (TOKEN_MAX + 16) /* "Bearer <token>" */

/* One endpoint ("scheme://authority") with its own handle, so connections stay alive. */
struct conn {
	char *base;
	const char *authority; /* points into base */
	CURL *curl;
	json_t *tokens; /* repository -> bearer token */
	int creds_loaded;
	struct creds creds; /* for this endpoint; username NULL when none */
	char *basic;        /* "Basic ..." once the endpoint asked for Basic auth */
};

struct client {
	struct client_config cfg;
	struct conn **conns; /* pointers, so a conn stays put while others are added */
	size_t nconns;
};

/* One transfer: where the body goes and what the headers said. */
struct xfer {
	long status;
	char content_type[256];
	char dcd[DIGEST_STR_MAX]; /* Docker-Content-Digest */
	int dcd_bad;              /* the header was there but not a digest */
	char challenge[CHALLENGE_MAX];
	char retry_after[64];
	/* The sink of a 2xx body: a bounded buffer. */
	char *buf;
	size_t len, cap, max;
	size_t dropped;
	/* Set by a callback that aborted the transfer. */
	int cb_rc;
	struct barge_err cb_err;
	const char *what; /* names the transfer in messages */
	int head;         /* a HEAD request: headers only */
};

/* client_mirror.c */

/* Whether s (n bytes) is a plausible authority: host characters only, 1 to 255 of them. */
int client_authority_ok(const char *s, size_t n);
/* Plain http only where nothing on the way can tamper: loopback, or what the user vouched for. */
int client_http_allowed(const struct client_config *cfg, const char *authority);
/* Copies src into dst (zeroed first); on failure dst is left cleared. */
int client_config_copy(struct client_config *dst, const struct client_config *src,
                       struct barge_err *err) BARGE_MUST_CHECK;

/* client_http.c */

/* The connection for base ("scheme://authority"), created on first use; c owns it. */
int client_conn_get(struct client *c, const char *base, struct conn **out,
                    struct barge_err *err) BARGE_MUST_CHECK;
/* The connection for r's registry. */
int client_conn_for(struct client *c, const struct ref *r, struct conn **out,
                    struct barge_err *err) BARGE_MUST_CHECK;
void client_conn_free(struct conn *k);

/*
 * Performs a GET (or, with post, a form POST) of url on conn k, with authz
 * ("Bearer ..." or "Basic ...") when not NULL.  Transport failures are
 * BARGE_ENET naming the endpoint, *ccp says which; the HTTP status is left
 * in x->status for the caller.
 */
int client_perform(struct client *c, struct conn *k, const char *url, const char *accept,
                   const char *authz, const char *post, struct xfer *x, CURLcode *ccp,
                   struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Prepares h, which the caller owns, for GET <endpoint>/v2/<r's path>/<path>
 * (fetch.c's parallel downloads): the URL, the options every request shares
 * (protocols, TLS verification, redirects, timeouts, user agent) and the
 * current Authorization for r's repository, appended to *headers (which may
 * hold the caller's own) and set as CURLOPT_HTTPHEADER.  The caller frees
 * *headers after the transfer.  *gen identifies the authentication state
 * used, for client_authenticate.
 */
int client_prepare(struct client *c, const struct ref *r, const char *path, CURL *h,
                   struct curl_slist **headers, unsigned *gen,
                   struct barge_err *err) BARGE_MUST_CHECK;

/* The BARGE_ENET for a failed transfer of what from r's registry. */
int client_transport_error(const struct client *c, const struct ref *r, CURLcode cc,
                           const char *errbuf, const char *what, struct barge_err *err);

/* The error for an unsuccessful HTTP status; unknown says what a 404 means ("blob unknown"). */
int client_status_error(long status, const char *what, const char *unknown, struct barge_err *err);

/* client_auth.c */

/* Answers a 401 challenge of conn k for repository repo. */
int client_auth_answer(struct client *c, struct conn *k, const char *repo, const char *challenge,
                       const char *what, struct barge_err *err) BARGE_MUST_CHECK;
/* The Authorization value for repo on k (written into buf for a token), or NULL. */
const char *client_authz(const struct conn *k, const char *repo, char *buf, size_t len);
/* Names an Authorization value without keeping it (FNV-1a); 0 for none. */
unsigned client_authz_gen(const char *a);

/*
 * Answers a 401 for r's repository whose WWW-Authenticate was challenge, so
 * the next client_prepare carries a token or credentials.  gen is what
 * client_prepare gave for the refused request: when other transfers have
 * authenticated since, nothing is done and the caller simply tries again.
 * BARGE_EAUTH when the credentials are refused or missing.  what names the
 * request.
 */
int client_authenticate(struct client *c, const struct ref *r, const char *challenge, unsigned gen,
                        const char *what, struct barge_err *err) BARGE_MUST_CHECK;

/* The BARGE_EAUTH for a 401 that persists after client_authenticate. */
int client_auth_error(struct client *c, const struct ref *r, const char *what,
                      struct barge_err *err);

/* client_retry.c */

int client_max_attempts(const struct client *c);
/* The delay before retry attempt: Retry-After when retry_after (may be NULL) parses, else backoff.
 */
int64_t client_retry_delay_ms(const struct client *c, int attempt, const char *retry_after);
/* Sleeps ms milliseconds, through signals. */
void client_sleep_ms(int64_t ms);

#endif
