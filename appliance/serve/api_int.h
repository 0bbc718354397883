/*
 * api_int: the insides of struct api (api.h), shared by appliance/serve/
 * api*.c and by nothing else.
 *
 *   api.c         the handle, dispatch, who the caller is (session cookie,
 *                 Basic, Bearer), CSRF, login and logout, and the helpers
 *                 below (answers, errors, bodies, the store)
 *   api_store.c   overview, repositories, tags, image, bundles, deletes, GC
 *   api_tokens.c  read-only tokens: list, create, revoke
 */
#ifndef BARGE_API_INT_H
#define BARGE_API_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "api_events.h"
#include "api_session.h"
#include "auth.h"
#include "err.h"
#include "http_server.h"
#include "store.h"

struct api {
	char *data_dir;
	char *project;
	char *version;
	char *advertise; /* NULL: the request's Host */
	int tls;
	struct auth *auth;
	time_t started;
	struct proxy *proxy; /* borrowed; NULL: no pull-through cache */
	void (*log_error)(const char *msg);
	struct api_sessions *sessions;
	struct api_events *events;

	pthread_mutex_t st_mtx; /* guards the store and the overview's figures */
	struct store *st;       /* NULL until first needed, or after a failure */
	time_t counted;         /* when the figures below were taken; 0: never */
	struct store_stats stats;
	int64_t images;
	int64_t bundles;
};

/* Who is asking, once api.c has checked it. */
struct api_caller {
	struct auth_identity id;
	int admin;
	int by_cookie; /* then sid and csrf are the session's */
	char sid[API_SID_LEN + 1];
	char csrf[API_SID_LEN + 1];
};

/* --- api.c ------------------------------------------------------------------ */

/* Queues body (consumed; NULL: out of memory, 500) as JSON with status. */
void api_send(struct http_req *req, int status, json_t *body);
/* Queues 204 No Content. */
void api_no_content(struct http_req *req);
/* Queues {"error": {"code", "message"}} with status. */
void api_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Answers a failed store or auth call: the status and code its BARGE_* code means. */
void api_fail(struct api *a, struct http_req *req, int rc, const struct barge_err *err);
/*
 * A JSON string of s, any byte that is not valid UTF-8 replaced by '?'
 * (jansson refuses such strings); JSON null for NULL.  NULL when out of
 * memory.
 */
json_t *api_str(const char *s);
/* Copies src into dst (size bytes) cut on a character boundary, invalid UTF-8 replaced by '?'. */
void api_text_copy(char *dst, size_t size, const char *src);
/* The store, opened when needed: call with st_mtx held.  Drop it with api_store_drop after a
 * failure. */
int api_store(struct api *a, struct store **out, struct barge_err *err) BARGE_MUST_CHECK;
void api_store_drop(struct api *a);
/* The host:port pull references name. */
void api_registry_host(struct api *a, struct http_req *req, char *buf, size_t len);

/* A handler that gets the request's JSON body (an object; {} when none was sent). */
typedef void (*api_body_fn)(struct api *a, struct http_req *req, const struct api_caller *c,
                            json_t *body);

/* --- api_store.c ------------------------------------------------------------ */

void api_overview(struct api *a, struct http_req *req);
void api_repositories(struct api *a, struct http_req *req, const struct api_caller *c);
void api_tags(struct api *a, struct http_req *req, const struct api_caller *c);
void api_image(struct api *a, struct http_req *req, const struct api_caller *c);
void api_bundles(struct api *a, struct http_req *req);
void api_delete_tag(struct api *a, struct http_req *req);
void api_delete_image(struct api *a, struct http_req *req);
void api_delete_bundle(struct api *a, struct http_req *req, const char *id);
void api_gc(struct api *a, struct http_req *req, const struct api_caller *c, json_t *body);

/* --- api_tokens.c ----------------------------------------------------------- */

void api_tokens_list(struct api *a, struct http_req *req);
void api_tokens_create(struct api *a, struct http_req *req, const struct api_caller *c,
                       json_t *body);
void api_tokens_revoke(struct api *a, struct http_req *req, const char *id);

#endif
