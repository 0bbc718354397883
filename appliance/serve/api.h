/*
 * api: the admin JSON API under /api/v1/ (docs/api.md), which the web UI
 * and scripts use: login sessions, the store's repositories, tags, images
 * and bundles, deletes and GC, read-only tokens, and recent events.
 * PUT|POST /api/v1/bundles (a bundle upload) stays upload.h's: the router
 * sends it there.
 *
 * Callers are known by the session cookie barge_session (api_session.h),
 * or by the credentials /v2/ takes (Basic, Bearer with a read-only token or
 * a session token from /token).  Reads need any identity, writes admin;
 * a POST, PUT or DELETE authenticated by the cookie must carry the
 * session's CSRF token in X-CSRF-Token.  Answers are JSON built with
 * jansson (every value from the store a JSON string, never markup); errors
 * are {"error": {"code", "message"}}.  Request bodies are bounded
 * (API_BODY_MAX).
 *
 * The API borrows auth; it opens a store of its own, on first need, used
 * by one request at a time.  It owns the sessions and the event ring.
 */
#ifndef BARGE_API_H
#define BARGE_API_H

#include <time.h>

#include "err.h"
#include "http_server.h"

struct auth;
struct api;
struct proxy;

#define API_BODY_MAX (16 * 1024) /* bytes of a request body (login, tokens, gc) */

struct api_opts {
	const char *data_dir;
	const char *project;
	const char *version;
	int tls;           /* cookies get Secure */
	struct auth *auth; /* borrowed; outlives the API */
	/* host:port clients pull from, for pull references; NULL: the request's Host. */
	const char *advertise;
	time_t started;      /* when the server started, for the overview */
	struct proxy *proxy; /* the pull-through cache (borrowed; outlives the API); NULL: none */
	void (*log_error)(const char *msg); /* causes of 500 answers; may be NULL */
};

int api_new(const struct api_opts *o, struct api **out, struct barge_err *err) BARGE_MUST_CHECK;
/* After the server stopped.  Accepts NULL. */
void api_free(struct api *a);

/*
 * Answers a request under /api/v1/.  user, when not NULL, receives the
 * caller's subject for the access log (AUTH_SUBJECT_MAX bytes) and must
 * stay valid until the request completes.
 */
void api_handle(struct api *a, struct http_req *req, char *user);

/*
 * For PUT|POST /api/v1/bundles, which upload.h answers: 0 when req carries
 * no session cookie (the caller checks its Authorization itself); 1 when
 * an admin session with the right X-CSRF-Token sends it; -1 when the
 * cookie's session is invalid, read-only or lacks the CSRF token: then
 * the error is answered.  user as for api_handle.
 */
int api_upload_check(struct api *a, struct http_req *req, char *user);

/* The event ring, for producers' callbacks (api_events_add takes it as arg). */
struct api_events *api_events_of(struct api *a);

#endif
