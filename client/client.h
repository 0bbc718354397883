/*
 * client: a registry client (OCI Distribution, pull side) over libcurl.
 *
 * Where each registry is reached (client_mirror.c): a mirror when one is
 * configured for the reference's host (--registry-mirror
 * docker.io=http://127.0.0.1:5000), https://registry-1.docker.io for
 * docker.io, https://<host> otherwise.  Plain http is allowed only for
 * loopback hosts (localhost, 127.0.0.0/8, [::1]) and hosts given with
 * --insecure-registry; everything else is https with certificate
 * verification.
 *
 * Manifests come back as the exact bytes served, bounded by MANIFEST_MAX and
 * checked against the digest asked for (or the Docker-Content-Digest the
 * registry announced).  Blobs are fetched by fetch.h, which drives the same
 * client.  One curl handle per endpoint is kept, so connections are reused
 * (client_http.c).  A client is not thread-safe.
 *
 * Authentication (client_auth.c, client_auth.h): on a 401 the
 * WWW-Authenticate challenge is answered.  Bearer: a token is fetched from
 * the realm for the repository's scope, anonymously or, when the registry
 * has credentials (creds.h), with Basic credentials (or, for an identity
 * token, an OAuth2 refresh_token POST); tokens are kept per repository.
 * Basic: the credentials are sent to that endpoint from then on.
 * Credentials are looked up once per endpoint, by its authority
 * ("127.0.0.1:5000"; "docker.io" for Docker Hub), so a mirror never receives
 * the credentials of the registry it mirrors.  Secrets are never put in
 * messages.
 *
 * Retries (client_retry.c, client_retry.h): connection errors, timeouts,
 * HTTP 429 and 5xx are retried up to max_attempts with exponential backoff
 * and jitter, or after the server's Retry-After (seconds or an HTTP date, at
 * most CLIENT_RETRY_AFTER_MAX_S).
 *
 * Ownership: the caller owns a struct client_config and clears it; a client
 * keeps its own copy, its connections, tokens and credentials, all released
 * by client_free.  A struct client_manifest is the caller's.
 */
#ifndef BARGE_CLIENT_H
#define BARGE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "ref.h"

#define CLIENT_URL_MAX 2048

#define CLIENT_ATTEMPTS_DEFAULT       5
#define CLIENT_BACKOFF_MS_DEFAULT     500
#define CLIENT_BACKOFF_MAX_MS_DEFAULT 30000
#define CLIENT_TIMEOUT_S_DEFAULT      60
#define CLIENT_RETRY_AFTER_MAX_S      60 /* a longer Retry-After is cut to this */

struct client_mirror {
	char *host; /* a reference host: "docker.io", "localhost:5000" */
	char *url;  /* "scheme://authority", no path */
};

/* What the flags configure.  Zero-initialise; free with client_config_clear. */
struct client_config {
	struct client_mirror *mirrors;
	size_t nmirrors;
	char **insecure; /* "host" or "host:port" */
	size_t ninsecure;
	/* Retries and timeouts; 0 means the default. */
	int max_attempts;   /* tries per request, the first included */
	int backoff_ms;     /* the delay before the first retry, doubled for each next one */
	int backoff_max_ms; /* the longest backoff delay */
	int timeout_s;      /* for connecting, and the longest a transfer may make no progress */
};

/* Parses "HOST=URL" (URL http(s)://authority[/]) and adds it; a later one for HOST wins. */
int client_config_add_mirror(struct client_config *cfg, const char *spec,
                             struct barge_err *err) BARGE_MUST_CHECK;
/* Allows plain http to host ("host" or "host:port"). */
int client_config_add_insecure(struct client_config *cfg, const char *host,
                               struct barge_err *err) BARGE_MUST_CHECK;
void client_config_clear(struct client_config *cfg);

/* Whether authority ("host", "host:port", "[v6]:port") is a loopback host. */
int client_is_loopback(const char *authority);

/*
 * The "scheme://authority" that references to host are fetched from, by the
 * rules above; caller frees *url.  Fails for a plain-http mirror of a host
 * neither loopback nor insecure.
 */
int client_endpoint(const struct client_config *cfg, const char *host, char **url,
                    struct barge_err *err) BARGE_MUST_CHECK;

struct client;

/* Copies cfg.  Caller frees *out with client_free. */
int client_new(const struct client_config *cfg, struct client **out,
               struct barge_err *err) BARGE_MUST_CHECK;
void client_free(struct client *c);

/* A fetched manifest or index; free with client_manifest_clear. */
struct client_manifest {
	char *buf; /* the exact bytes served */
	size_t len;
	char *media_type; /* the Content-Type served, or NULL when none */
	char digest[DIGEST_STR_MAX];
};

/*
 * Fetches the manifest of r's repository named by reference (a tag or a
 * digest).  By digest, the content must hash to it; by tag, it must match
 * the Docker-Content-Digest header when the registry sends one.
 */
int client_get_manifest(struct client *c, const struct ref *r, const char *reference,
                        struct client_manifest *out, struct barge_err *err) BARGE_MUST_CHECK;
void client_manifest_clear(struct client_manifest *m);

/*
 * Whether r's repository has a manifest under tag, asked with HEAD (which
 * Docker Hub does not count against its pull limits, as it does a GET):
 * BARGE_OK with its Docker-Content-Digest in digest ("" when the registry
 * sends none), BARGE_ENOTFOUND when there is none.
 */
int client_head_manifest(struct client *c, const struct ref *r, const char *tag,
                         char digest[DIGEST_STR_MAX], struct barge_err *err) BARGE_MUST_CHECK;

/*
 * The OCI 1.1 referrers list of digest in r's repository
 * (GET /v2/<name>/referrers/<digest>): an image index, at most MANIFEST_MAX
 * bytes, *buf the caller's.  BARGE_ENOTFOUND when the registry has no
 * referrers API (it answers 404, 400 or 405), so the caller falls back to
 * the "sha256-<hex>" tag.
 */
int client_get_referrers(struct client *c, const struct ref *r, const char *digest, char **buf,
                         size_t *len, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * A small blob (a signature payload) of r's repository read into memory: at
 * most max bytes, checked against digest.  *buf is the caller's.
 */
int client_get_small_blob(struct client *c, const struct ref *r, const char *digest, size_t max,
                          char **buf, size_t *len, struct barge_err *err) BARGE_MUST_CHECK;

#endif
