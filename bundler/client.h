/*
 * client: a registry client (OCI Distribution, pull side) over libcurl.
 *
 * Where each registry is reached: a mirror when one is configured for the
 * reference's host (--registry-mirror docker.io=http://127.0.0.1:5000),
 * https://registry-1.docker.io for docker.io, https://<host> otherwise.
 * Plain http is allowed only for loopback hosts (localhost, 127.0.0.0/8,
 * [::1]) and hosts given with --insecure-registry; everything else is https
 * with certificate verification.  Anonymous bearer tokens are fetched when a
 * registry asks for them (401 with WWW-Authenticate: Bearer).
 *
 * Manifests come back as the exact bytes served, bounded by MANIFEST_MAX and
 * checked against the digest asked for (or the Docker-Content-Digest the
 * registry announced).  Blobs are streamed into a caller-owned fd and checked
 * against their digest and size.  One curl handle per endpoint is kept, so
 * connections are reused.  A client is not thread-safe.
 */
#ifndef BARGE_CLIENT_H
#define BARGE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "ref.h"

#define CLIENT_URL_MAX 2048

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

/* A parsed WWW-Authenticate challenge; absent parameters are NULL. */
struct client_challenge {
	char *scheme; /* "Bearer", "Basic", ... */
	char *realm;
	char *service;
	char *scope;
};

/*
 * Parses one WWW-Authenticate value: a scheme, then comma-separated
 * key=value or key="quoted, with \" escapes" parameters.  A Bearer challenge
 * must have a realm.  Caller frees with client_challenge_clear.
 */
int client_parse_challenge(const char *value, struct client_challenge *out,
                           struct barge_err *err) BARGE_MUST_CHECK;
void client_challenge_clear(struct client_challenge *ch);

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
 * Streams blob digest (of size bytes) of r's repository into fd, verifying
 * digest and size.  On failure fd holds partial content: the caller discards it.
 */
int client_get_blob(struct client *c, const struct ref *r, const char *digest, int64_t size, int fd,
                    struct barge_err *err) BARGE_MUST_CHECK;

#endif
