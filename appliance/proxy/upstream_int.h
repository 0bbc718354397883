/*
 * upstream_int: what the two files of the upstream module share
 * (upstream_curl.c, the transfers; upstream_cred.c, credentials and bearer
 * tokens).  Nothing outside the module includes it.
 *
 * struct upstream owns copies of its options, the curl share handle, the
 * credentials it has read and the bearer tokens it has been given, all
 * wiped and released by upstream_close.
 */
#ifndef BARGE_UPSTREAM_INT_H
#define BARGE_UPSTREAM_INT_H

#include <pthread.h>
#include <stdint.h>

#include <curl/curl.h>

#include "upstream.h"

#define UPSTREAM_TOKENS_MAX    64          /* bearer tokens kept, one per repository */
#define UPSTREAM_TOKEN_MAX     (16 * 1024) /* longest token accepted */
#define UPSTREAM_HELPER_OUTMAX (64 * 1024) /* an exec helper's output */
#define UPSTREAM_HELPER_TIME_S 30

struct upstream_token {
	char *repo;
	char *token;
	int64_t expires; /* monotonic ms */
};

struct upstream {
	char *url; /* without a trailing slash */
	char *host;
	char *ca_file;
	int insecure, peer, body_idle_ms;
	char *docker_config, *registry, *username, *password_file, *exec;
	CURLSH *share;
	pthread_mutex_t share_mtx[CURL_LOCK_DATA_LAST];
	pthread_mutex_t mtx; /* what follows */
	int basic;           /* the upstream asked for Basic authentication */
	char *realm, *service;
	char *user, *secret;  /* the credentials in use; user NULL: anonymous */
	int64_t creds_expire; /* monotonic ms; 0: never; -1: not read yet */
	struct upstream_token tokens[UPSTREAM_TOKENS_MAX];
};

/* Milliseconds of the monotonic clock. */
int64_t upstream_now_ms(void);
/*
 * Answers a 401 whose WWW-Authenticate was challenge for repo, within
 * deadline (monotonic ms): remembers Basic, or fetches a bearer token.
 * BARGE_EAUTH when the credentials are refused or cannot be had.
 */
int upstream_auth_answer(struct upstream *u, const char *repo, const char *challenge,
                         int64_t deadline, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Sets h's credentials for a request of repo: a bearer token header
 * appended to *hdrs, or Basic user and password.  Under no lock of the
 * caller's.
 */
int upstream_auth_apply(struct upstream *u, const char *repo, CURL *h, struct curl_slist **hdrs,
                        struct barge_err *err) BARGE_MUST_CHECK;
/* The options every transfer of u shares (TLS, share, protocols). */
void upstream_curl_common(struct upstream *u, CURL *h);
void upstream_auth_free(struct upstream *u);

#endif
