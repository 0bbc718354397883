/*
 * registry_route: what a /v2/ request path names, as the OCI Distribution
 * API lays it out.
 *
 *   /v2/, /v2                            REGISTRY_ROUTE_BASE
 *   /v2/_catalog                         REGISTRY_ROUTE_CATALOG
 *   /v2/<name>/manifests/<reference>     REGISTRY_ROUTE_MANIFEST (tag or digest)
 *   /v2/<name>/blobs/<digest>            REGISTRY_ROUTE_BLOB
 *   /v2/<name>/tags/list                 REGISTRY_ROUTE_TAGS
 *   /v2/<name>/blobs/uploads[/<id>]      REGISTRY_ROUTE_UPLOAD (id "" to start one)
 *   /v2/<name>/referrers/<digest>        REGISTRY_ROUTE_REFERRERS
 *
 * <name> may hold slashes and even segments named like the API's: the
 * route is read from the end of the path.  <name> is the repository in the
 * store, unless the request carries the upstream host as ?ns=HOST (a
 * containerd mirror request): then the repository is <project>/<HOST>/<name>,
 * with ":port" written "_port", exactly as the loader names repositories.
 *
 * The parser is a pure function of its arguments: no server, store or
 * global state, no output but *out and *err, safe from any thread, and
 * bounded in time and memory by the length of its input.  The route's
 * method does not enter it: which methods a route takes is the registry's
 * to answer.
 */
#ifndef BARGE_REGISTRY_ROUTE_H
#define BARGE_REGISTRY_ROUTE_H

#include "err.h"

#define REGISTRY_NAME_MAX 512 /* longest repository name, project and host included */
#define REGISTRY_REF_MAX  160 /* room for a tag (128) or a digest (DIGEST_STR_MAX) */

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
	int tag_invalid;                  /* MANIFEST: reference is neither a digest nor a valid
	                                     tag (then "" when too long): it names no manifest */
	const char *error;                /* on BARGE_EINVAL: the OCI error code to answer */
};

/*
 * Parses a request path (percent-decoded, without its query) and the value
 * of its "ns" query argument (NULL when absent) into out, which it clears
 * first.  project names the first segment of mirror repositories (NULL
 * means "edge").  Returns:
 *   BARGE_OK        out describes the route; name and repo are set for
 *                   every kind but BASE and CATALOG, reference for
 *                   MANIFEST, BLOB, REFERRERS and UPLOAD.  An upload
 *                   session id is not checked here (an unknown one is a
 *                   404 of the registry), and one too long is left "".
 *                   Nor is a manifest reference that is no valid tag:
 *                   out->tag_invalid says so, for the registry to answer
 *                   404 MANIFEST_UNKNOWN to a lookup or a delete (nothing
 *                   can be stored under it) and 400 TAG_INVALID to a PUT.
 *   BARGE_ENOTFOUND the path is no API route.
 *   BARGE_EINVAL    it is one with a bad name, namespace or digest;
 *                   out->error is the OCI code to answer ("NAME_INVALID"
 *                   or "DIGEST_INVALID"), err says why.
 *   BARGE_ENOMEM    out of memory (out->error NULL).
 * On failure the other fields of out are unspecified.  path and ns may be
 * any NUL-terminated strings.
 */
int registry_route_parse(const char *path, const char *ns, const char *project,
                         struct registry_route *out, struct barge_err *err) BARGE_MUST_CHECK;

#endif
