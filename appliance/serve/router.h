/*
 * router: the top-level handler of barged serve.
 *
 *   /v2/...            authentication and authorization, then the registry
 *   GET|POST /token    session tokens for the clients' token dance (token.h)
 *   GET /healthz       200 while the process serves
 *   GET /readyz        200 when the store opens and its database answers, else 503
 *   GET /metrics       Prometheus text (metrics.h)
 *   GET / and /ui/...  the operator's pages (ui_assets.h)
 *   POST /webhook/mutate  the image-swap webhook (webhook.h)
 *   PUT|POST /api/v1/bundles  a bundle to load (upload.h), admin only:
 *                      no credentials or wrong ones 401 (Basic challenge),
 *                      anyone else 403; other methods 405
 *
 * Authorization: GET and HEAD need pull, DELETE needs delete, every other
 * method push, on the repository named in the path (the name as the client
 * wrote it, which is also what its token scope names).  Pull is allowed to
 * anonymous clients when anonymous pull is on, to read-only tokens and to
 * admin; push and delete only to admin.  Credentials come as Basic (admin
 * or NAME:TOKEN), Bearer with a session token from /token, or Bearer with a
 * read-only token.  Missing or wrong credentials, and session tokens
 * lacking the scope, get 401 UNAUTHORIZED with a Bearer challenge naming
 * /token on the Host the client used; an identity that can never do what
 * it asks (a read-only token pushing) gets 403 DENIED.
 *
 * router_complete is the http_server on_complete hook: it counts the
 * request and its duration in the metrics and writes its access-log line.
 * Every webhook review is counted by its decision (metrics.h) and logged:
 * patches at info, reviews left unpatched at debug.
 *
 * The router borrows everything in its options; they must outlive it.
 * It opens one store of its own (behind a lock) for /readyz, the metrics
 * snapshot and the webhook.
 */
#ifndef BARGE_ROUTER_H
#define BARGE_ROUTER_H

#include <stddef.h>

#include "err.h"
#include "http_server.h"

struct accesslog;
struct api_events;
struct auth;
struct metrics;
struct proxy;
struct registry;
struct swaprule_set;
struct upload;

#define ROUTER_SCAN_EVERY 10 /* seconds between store snapshots for /metrics and / */
#define ROUTER_HOST_MAX   255

struct router_opts {
	const char *data_dir;
	const char *project;
	const char *version;
	int tls; /* the server speaks HTTPS: the token realm is https:// */
	struct auth *auth;
	struct registry *registry;
	struct metrics *metrics;
	struct accesslog *accesslog; /* NULL: no access log */
	/* The webhook; advertise NULL leaves POST /webhook/mutate answering 404. */
	const char *webhook_advertise;
	int webhook_always; /* policy always, else present */
	/* webhook.rules (swaprule.h; caller owns, outlives the router); NULL: the default. */
	const struct swaprule_set *webhook_rules;
	int webhook_skip_pull_secrets; /* webhook.skip_pods_with_pull_secrets */
	struct upload *upload;         /* NULL: /api/v1/bundles answers 404 */
	struct proxy *proxy;           /* the pull-through cache, for the API; NULL: none */
	/* Called with the cause of a 500 answer.  May be NULL. */
	void (*log_error)(const char *msg);
	/* Called with each pod the webhook patched and what it swapped.  May be NULL. */
	void (*log_info)(const char *msg);
	/* Called with why the webhook left a review unpatched.  May be NULL. */
	void (*log_debug)(const char *msg);
};

struct router;

int router_new(const struct router_opts *o, struct router **out,
               struct barge_err *err) BARGE_MUST_CHECK;
/* After http_server_start: where the in-flight gauge comes from.  Accepts NULL. */
void router_set_server(struct router *r, struct http_server *s);
/* The admin API's event ring (api_events.h), for producers outside serve: imports. */
struct api_events *router_events(struct router *r);
/* Closes the router's store.  Run after the server has stopped.  Accepts NULL. */
void router_free(struct router *r);

/* The http_handler and on_complete hook; arg is the struct router. */
void router_handle(struct http_req *req, void *arg);
void router_complete(struct http_req *req, int status, uint64_t bytes, void *arg);

/* --- exposed for the unit tests ------------------------------------------ */

/* The metrics label of a request: "manifest", "blob", "token", "other"... */
const char *router_route_label(const char *path, const char *project);
/* The method as a metrics label: the HTTP methods barged knows, else "other". */
const char *router_method_label(const char *method);
/*
 * The token realm for a Host header: "https://HOST/token" (http:// when
 * tls is 0).  A missing or malformed Host (anything but letters, digits,
 * ".-:[]", or longer than ROUTER_HOST_MAX) becomes "localhost".
 */
void router_realm(const char *host, int tls, char *buf, size_t len);

#endif
