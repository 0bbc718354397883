/*
 * registry: the OCI Distribution API v1.1 over the store (DESIGN §9), as an
 * http_server handler.
 *
 *   GET      /v2/                                200 {}
 *   GET|HEAD /v2/<name>/manifests/<ref>          the stored bytes, media type, digest, ETag
 *   GET|HEAD /v2/<name>/blobs/<digest>           with single byte ranges (206, 416)
 *   GET      /v2/<name>/tags/list?n=&last=       paginated, with a Link header
 *   GET      /v2/_catalog?n=&last=               paginated, with a Link header
 *   GET      /v2/<name>/referrers/<digest>       an OCI index; ?artifactType= filters
 *   POST     /v2/<name>/blobs/uploads/           a session (202); ?digest= with a body:
 *                                                monolithic (201); ?mount=&from=: 201
 *   GET|PATCH|PUT|DELETE /v2/<name>/blobs/uploads/<id>   status, chunk, finish, cancel
 *   PUT      /v2/<name>/manifests/<ref>          validated, stored byte-for-byte (201)
 *   DELETE   /v2/<name>/manifests/<ref>, /blobs/<digest>  only with allow_delete
 *
 * Request bodies are streamed: upload chunks go straight to the session's
 * file and are hashed on the way, so memory stays flat whatever the blob
 * size; manifests are read whole up to MANIFEST_MAX (4 MiB, else 413).
 * Authentication is the caller's: route pushes here only once the request
 * is known to carry credentials allowed to push.
 *
 * <name> is the repository in the store ("edge/docker.io/library/nginx").
 * A containerd mirror request carries the upstream host as ?ns=HOST; then
 * <name> is the upstream path and the repository is <project>/<HOST>/<name>,
 * with ":port" written "_port", exactly as the loader names repositories.
 * Every response carries Docker-Distribution-API-Version: registry/2.0;
 * errors are OCI error bodies.
 *
 * The handler opens one store per server thread, lazily, since a store
 * handle is single-threaded; registry_free closes them all, so it must run
 * after the server has stopped.
 */
#ifndef BARGE_REGISTRY_H
#define BARGE_REGISTRY_H

#include <stdint.h>

#include "err.h"
#include "http_server.h"

#define REGISTRY_NAME_MAX 512  /* longest repository name, project and host included */
#define REGISTRY_REF_MAX  160  /* room for a tag (128) or a digest (DIGEST_STR_MAX) */
#define REGISTRY_TAGS_MAX 1000 /* most tags in one tags/list page */

struct registry_opts {
	const char *data_dir; /* the store */
	const char *project;  /* first path segment of mirror repositories; NULL: "edge" */
	/*
	 * Called (from server threads, possibly at once) with the cause of a
	 * 500 answer, which clients only see as "internal error".  May be NULL.
	 */
	void (*log_error)(const char *msg);
	int allow_delete;       /* DELETE of manifests, tags and blobs; else 405 UNSUPPORTED */
	unsigned max_uploads;   /* open upload sessions at most (429 beyond); 0: 64 */
	int64_t upload_max_age; /* seconds an untouched session lives; 0: 24 hours */
	uint64_t blob_max;      /* largest blob accepted; 0: no bound */
};

struct registry;

int registry_new(const struct registry_opts *o, struct registry **out,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* Closes every store the handler opened.  Accepts NULL. */
void registry_free(struct registry *r);
/* The http_handler; arg is the struct registry. */
void registry_handle(struct http_req *req, void *arg);

/* --- parsing, exposed for the unit tests -------------------------------- */

enum registry_route_kind {
	REGISTRY_ROUTE_BASE,      /* /v2/ */
	REGISTRY_ROUTE_MANIFEST,  /* /v2/<name>/manifests/<reference> */
	REGISTRY_ROUTE_BLOB,      /* /v2/<name>/blobs/<digest> */
	REGISTRY_ROUTE_TAGS,      /* /v2/<name>/tags/list */
	REGISTRY_ROUTE_UPLOAD,    /* /v2/<name>/blobs/uploads/<id> (id "" to start one) */
	REGISTRY_ROUTE_REFERRERS, /* /v2/<name>/referrers/<digest> */
	REGISTRY_ROUTE_CATALOG    /* /v2/_catalog */
};

struct registry_route {
	enum registry_route_kind kind;
	char name[REGISTRY_NAME_MAX];     /* <name> as the client wrote it */
	char repo[REGISTRY_NAME_MAX];     /* the repository in the store */
	char reference[REGISTRY_REF_MAX]; /* tag or digest (manifests), digest (blobs,
	                                     referrers), session id (uploads) */
	int is_digest;                    /* reference is a digest */
	const char *error;                /* on BARGE_EINVAL: the OCI error code to answer */
};

/*
 * Parses a request path (percent-decoded, no query) and the value of its
 * "ns" query argument (NULL when absent) into out.  BARGE_ENOTFOUND when
 * the path is no API route; BARGE_EINVAL with out->error set to
 * "NAME_INVALID", "TAG_INVALID" or "DIGEST_INVALID" when it is one with a
 * bad name, namespace or reference.  project NULL means "edge".
 */
int registry_parse_route(const char *path, const char *ns, const char *project,
                         struct registry_route *out, struct barge_err *err) BARGE_MUST_CHECK;

enum registry_range {
	REGISTRY_RANGE_FULL,         /* no usable Range: send everything, 200 */
	REGISTRY_RANGE_PARTIAL,      /* send *len bytes from *start, 206 */
	REGISTRY_RANGE_UNSATISFIABLE /* 416 with Content-Range: bytes * / size */
};

/*
 * Interprets a Range header value (NULL when absent) against a body of
 * size bytes, following RFC 9110 §14: "bytes=a-b", "bytes=a-" and
 * "bytes=-n".  Headers that are malformed, use another unit, or ask for
 * several ranges are ignored (FULL): serving the whole body is always
 * allowed, and multipart bodies buy nothing for blob pulls.  Numbers too
 * large for 64 bits count as "beyond any end".
 */
enum registry_range registry_parse_range(const char *hdr, uint64_t size, uint64_t *start,
                                         uint64_t *len);

#endif
