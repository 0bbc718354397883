/*
 * registry: the OCI Distribution API v1.1 over the store (DESIGN §9),
 * answering the /v2 requests whose route the router has parsed and
 * authorised.
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
 * Routes are parsed by registry_route.h; <name> is the repository in the
 * store, or the upstream path of a containerd mirror request (?ns=HOST).
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
#include "registry_route.h"

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
	struct proxy
	        *proxy; /* the pull-through cache (borrowed; outlives the registry); NULL: none */
};

struct registry;
struct proxy;

int registry_new(const struct registry_opts *o, struct registry **out,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* Closes every store the handler opened.  Accepts NULL. */
void registry_free(struct registry *r);

/*
 * Parses the route of req (its path and ?ns= argument) with
 * registry_route_parse under this registry's project; same results.
 */
int registry_route_request(const struct registry *r, struct http_req *req,
                           struct registry_route *out, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Answers req, a request under /v2, given what registry_route_request
 * returned for it (parsed) and filled in (rt, and err when it failed):
 * a path that is no route gets 404 NAME_UNKNOWN, a malformed one 400 with
 * rt->error (NAME_INVALID when none), anything else what its route and
 * method ask.  rt and err are borrowed for the call.  Authorisation is the
 * caller's, decided before.
 */
void registry_serve(struct registry *r, struct http_req *req, int parsed,
                    const struct registry_route *rt, const struct barge_err *err);

#endif
