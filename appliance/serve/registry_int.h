/*
 * registry_int: what the files of the registry share, private to them
 * (registry*.c in appliance/serve; nothing else includes this header).
 *
 *   registry.c          the handle, the stores of the server threads, and
 *                       the dispatch of a parsed route to the handlers below
 *   registry_resp.c     OCI error bodies, the common headers, file bodies
 *   registry_pull.c     manifest and blob GET/HEAD, with Range and ETags
 *   registry_list.c     tags/list and _catalog (one paginator), referrers
 *   registry_session.c  the in-memory side of upload sessions
 *   registry_push.c     uploads, monolithic and mounted blobs, manifest
 *                       PUT, deletes
 *
 * Every handler answers the request itself, including every failure; the
 * route it gets is borrowed for the call (a handler that takes a body keeps
 * a copy).  The store is the calling thread's, from registry.c.
 */
#ifndef BARGE_REGISTRY_INT_H
#define BARGE_REGISTRY_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "digest.h"
#include "err.h"
#include "http_server.h"
#include "registry.h"
#include "registry_route.h"
#include "store.h"
#include "store_push.h"

#define REGISTRY_TAGS_MAX      1000 /* most tags in one tags/list page */
#define REGISTRY_REPOS_MAX     1000 /* most repositories in one _catalog page */
#define REGISTRY_REFERRERS_MAX 1000

/*
 * An upload session's in-memory side: the running sha256 of its bytes, so
 * that finishing needs no second read of a large blob.  Lost on restart (or
 * after a broken chunk): then finishing hashes the file.
 */
struct registry_session {
	char id[STORE_UPLOAD_ID_LEN + 1];
	struct digest_ctx *ctx; /* NULL: hash the file when finishing */
	int64_t hashed;         /* bytes fed to ctx */
	int busy;               /* a request is writing to it */
	struct registry_session *next;
};

struct registry_store {
	struct store *s;
	struct registry_store *next;
};

struct registry {
	char *data_dir;
	char *project;
	void (*log_error)(const char *msg);
	pthread_key_t key;
	pthread_mutex_t mtx;
	struct registry_store *stores; /* every store opened, to close in registry_free */
	int allow_delete;
	unsigned max_uploads;
	int64_t upload_max_age;
	uint64_t blob_max;
	struct registry_session *sessions; /* under mtx */
	time_t last_expire;                /* under mtx */
	struct proxy *proxy;               /* borrowed; NULL: no pull-through cache */
};

/* --- registry_resp.c ----------------------------------------------------- */

/* Docker-Distribution-API-Version, which every answer carries. */
void registry_common_headers(struct http_req *req);
/* Answers body (taken; NULL or unserialisable: a 500 error body). */
void registry_send_json(struct http_req *req, int status, json_t *body);
/* An OCI error body. */
void registry_send_error(struct http_req *req, int status, const char *code, const char *msg);
/*
 * A failure of ours: the cause goes to the log, the client learns nothing
 * about the device (500 UNKNOWN), except that it is full (no space, quota,
 * file size limit, SQLite's "disk is full"): then 507 DENIED, saying so.
 */
void registry_send_internal(struct registry *r, struct http_req *req, const struct barge_err *err);
/* len bytes of fd from offset (fd taken), as the content named digest. */
void registry_send_fd(struct http_req *req, int status, const char *content_type,
                      const char *digest, int fd, uint64_t offset, uint64_t len);
/*
 * Answers 304 and returns 1 when the client's If-None-Match names digest
 * (content addressed: the ETag of a digest never changes); else 0.
 */
int registry_not_modified(struct http_req *req, const char *digest);
/* 405 UNSUPPORTED with the methods the route takes. */
void registry_unsupported(struct http_req *req, const char *allow);

/* --- registry_pull.c ----------------------------------------------------- */

void registry_manifest_get(struct registry *r, struct http_req *req, struct store *s,
                           const struct registry_route *rt);
void registry_blob_get(struct registry *r, struct http_req *req, struct store *s,
                       const struct registry_route *rt);

/* --- registry_list.c ----------------------------------------------------- */

void registry_tags_list(struct registry *r, struct http_req *req, struct store *s,
                        const struct registry_route *rt);
void registry_catalog(struct registry *r, struct http_req *req, struct store *s);
void registry_referrers(struct registry *r, struct http_req *req, struct store *s,
                        const struct registry_route *rt);

/* --- registry_session.c -------------------------------------------------- */

void registry_session_free(struct registry_session *n);
/* Records a new session id with a running hash from its first byte (none if out of memory). */
void registry_session_add(struct registry *r, const char *id);
/*
 * Finds (or, for a session the store knows, makes) id's entry and marks it
 * busy: BARGE_EEXIST when another request holds it, BARGE_ENOMEM.
 */
int registry_session_take(struct registry *r, const char *id,
                          struct registry_session **out) BARGE_MUST_CHECK;
void registry_session_release(struct registry *r, struct registry_session *n);
/* Forgets id's entry (finished or cancelled). */
void registry_session_drop(struct registry *r, const char *id);
/* Sweeps stale sessions now and then; their entries go with them. */
void registry_session_expire(struct registry *r, struct store *s);

/* --- registry_push.c ----------------------------------------------------- */

/* POST .../blobs/uploads/: a mount, a monolithic blob, or a new session. */
void registry_upload_start(struct registry *r, struct http_req *req, struct store *s,
                           const struct registry_route *rt);
/* GET .../blobs/uploads/<id> */
void registry_upload_status(struct registry *r, struct http_req *req, struct store *s,
                            const struct registry_route *rt);
/* PATCH (finish 0) or PUT (finish 1, with or without a last chunk). */
void registry_upload_write(struct registry *r, struct http_req *req, struct store *s,
                           const struct registry_route *rt, int finish);
/* DELETE .../blobs/uploads/<id> */
void registry_upload_cancel(struct registry *r, struct http_req *req, struct store *s,
                            const struct registry_route *rt);
void registry_manifest_put(struct registry *r, struct http_req *req, struct store *s,
                           const struct registry_route *rt);
/* DELETE of a manifest, a tag or a blob. */
void registry_delete(struct registry *r, struct http_req *req, struct store *s,
                     const struct registry_route *rt);

#endif
