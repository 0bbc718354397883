/*
 * registry_push.c: the push side of the registry: upload sessions (start,
 * status, chunked PATCH, finishing PUT, cancel), monolithic POST and
 * cross-repository mounts of blobs, manifest PUT, and the deletes of
 * manifests, tags and blobs.  Request bodies are streamed: chunks go
 * straight to the session's file and are hashed on the way, a monolithic
 * blob goes through a store blob writer, a manifest is read whole up to
 * MANIFEST_MAX.  It owns each request's struct registry_body (and the
 * descriptor, writer or buffer in it) until the body's done callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "manifest.h"
#include "ref.h"
#include "registry_int.h"
#include "registry_range.h"

/* Per-request state of a request whose body the registry takes. */
struct registry_body {
	struct registry *r;
	struct store *s;
	struct registry_route rt;
	enum { BODY_CHUNK, BODY_MONOLITHIC, BODY_MANIFEST } kind;
	/* BODY_CHUNK */
	struct registry_session *sess;
	int fd;
	int64_t start;               /* the session's committed length before this chunk */
	int64_t expect;              /* bytes the Content-Range announced, or -1 */
	int finish;                  /* a PUT: finish the session after the chunk */
	uint64_t written;            /* body bytes taken */
	struct barge_err failed;     /* why the body callback stopped taking bytes, or "" */
	char digest[DIGEST_STR_MAX]; /* PUT ?digest=, monolithic POST ?digest= */
	/* BODY_MONOLITHIC */
	struct store_blob_writer *w;
	/* BODY_MANIFEST */
	char *buf;
	size_t len, cap;
	char content_type[256];
};

static void
registry_body_free(struct registry_body *b)
{
	if (b->fd >= 0)
		close(b->fd);
	store_blob_abort(b->w);
	free(b->buf);
	free(b);
}

static void
registry_upload_headers(struct http_req *req, const struct registry_route *rt, const char *id,
                        int64_t offset)
{
	/* id may be a route's reference (REGISTRY_REF_MAX), which the caller checked as an id. */
	char loc[REGISTRY_NAME_MAX + REGISTRY_REF_MAX + 32], range[64];

	snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/%s", rt->name, id);
	/* "0-0" for an empty session, as the reference implementation says it. */
	snprintf(range, sizeof(range), "0-%lld", (long long)(offset > 0 ? offset - 1 : 0));
	registry_common_headers(req);
	(void)http_resp_header(req, "Location", loc);
	(void)http_resp_header(req, "Range", range);
	(void)http_resp_header(req, "Docker-Upload-UUID", id);
}

static void
registry_blob_created(struct http_req *req, const struct registry_route *rt, const char *digest)
{
	char loc[REGISTRY_NAME_MAX + DIGEST_STR_MAX + 16];

	snprintf(loc, sizeof(loc), "/v2/%s/blobs/%s", rt->name, digest);
	registry_common_headers(req);
	(void)http_resp_header(req, "Location", loc);
	(void)http_resp_header(req, "Docker-Content-Digest", digest);
	(void)http_respond_buf(req, 201, NULL, "", 0);
}

static int
registry_body_cb(struct http_req *req, const void *buf, size_t len, void *arg)
{
	struct registry_body *b = arg;
	struct barge_err err = { 0 };
	void *p;

	(void)req;
	switch (b->kind) {
	case BODY_CHUNK:
		if (b->expect >= 0 && b->written + len > (uint64_t)b->expect)
			return BARGE_ELIMIT;
		if (fu_write_all(b->fd, buf, len, &err) != BARGE_OK) {
			err_set(&b->failed, BARGE_EIO, "upload %s: writing the chunk: %s",
			        b->rt.reference, err.msg);
			return BARGE_EIO;
		}
		/* Hash on the way while the session's hash is exactly at this point. */
		if (b->sess->ctx != NULL) {
			if (b->sess->hashed != b->start + (int64_t)b->written ||
			    digest_update(b->sess->ctx, buf, len, &err) != BARGE_OK) {
				digest_free(b->sess->ctx);
				b->sess->ctx = NULL;
			} else {
				b->sess->hashed += (int64_t)len;
			}
		}
		break;
	case BODY_MONOLITHIC:
		if (store_blob_write(b->w, buf, len, &b->failed) != BARGE_OK)
			return b->failed.code == BARGE_EDIGEST ? BARGE_EDIGEST : BARGE_EIO;
		break;
	case BODY_MANIFEST:
		if (b->len + len > MANIFEST_MAX)
			return BARGE_ELIMIT;
		if (b->len + len > b->cap) {
			size_t cap = b->cap ? b->cap : 64 * 1024;

			while (cap < b->len + len)
				cap *= 2;
			if (cap > MANIFEST_MAX)
				cap = MANIFEST_MAX;
			if ((p = realloc(b->buf, cap)) == NULL)
				return BARGE_ENOMEM;
			b->buf = p;
			b->cap = cap;
		}
		memcpy(b->buf + b->len, buf, len);
		b->len += len;
		break;
	}
	b->written += len;
	return BARGE_OK;
}

/* Ends a session as blob b->digest and answers 201, or why not. */
static void
registry_finish(struct registry *r, struct http_req *req, struct store *s,
                const struct registry_route *rt, struct registry_session *sess, const char *digest)
{
	char computed[DIGEST_STR_MAX], *have = NULL;
	struct barge_err err = { 0 };
	int64_t offset = 0, size = 0;
	int rc;

	/* The running hash counts only if it covers every committed byte. */
	if (sess->ctx != NULL && strncmp(digest, "sha256:", 7) == 0 &&
	    store_upload_get(s, rt->repo, rt->reference, &offset, &err) == BARGE_OK &&
	    offset == sess->hashed && digest_final(sess->ctx, computed, &err) == BARGE_OK)
		have = computed;
	if (have != NULL || (sess->ctx != NULL && offset == sess->hashed)) {
		/* digest_final used the context up either way. */
		digest_free(sess->ctx);
		sess->ctx = NULL;
	}
	rc = store_upload_finish(s, rt->repo, rt->reference, digest, have, &size, &err);
	if (rc == BARGE_OK) {
		registry_session_release(r, sess);
		registry_session_drop(r, rt->reference);
		registry_blob_created(req, rt, digest);
		return;
	}
	registry_session_release(r, sess);
	if (rc == BARGE_EDIGEST || rc == BARGE_EINVAL)
		registry_send_error(req, 400, "DIGEST_INVALID", err.msg);
	else if (rc == BARGE_ENOTFOUND)
		registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
	else
		registry_send_internal(r, req, &err);
}

static void
registry_done_chunk(struct http_req *req, int rc, struct registry_body *b)
{
	struct registry *r = b->r;
	struct barge_err err = { 0 };

	if (rc != BARGE_OK || (b->expect >= 0 && b->written != (uint64_t)b->expect)) {
		/*
		 * Nothing of a broken chunk counts: the session keeps its
		 * committed length and the running hash, which saw the
		 * bytes, is dropped.  The bytes are cut off now, so that a
		 * disk that filled up gets its room back at once (should
		 * that fail, the next write cuts them off).
		 */
		(void)ftruncate(b->fd, (off_t)b->start);
		digest_free(b->sess->ctx);
		b->sess->ctx = NULL;
		registry_session_release(r, b->sess);
		if ((rc == BARGE_ELIMIT && b->expect >= 0) || rc == BARGE_OK) {
			registry_upload_headers(req, &b->rt, b->rt.reference, b->start);
			registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
			                    "chunk length differs from its Content-Range");
		} else if (rc == BARGE_ELIMIT) {
			registry_send_error(req, 413, "SIZE_INVALID", "blob too large");
		} else if (b->failed.msg[0] != '\0') {
			registry_send_internal(r, req, &b->failed);
		}
		/* Otherwise the client went away: nobody to answer. */
		return;
	}
	close(b->fd);
	b->fd = -1;
	if (store_upload_set_offset(b->s, b->rt.reference, b->start + (int64_t)b->written, &err) !=
	    BARGE_OK) {
		registry_session_release(r, b->sess);
		registry_send_internal(r, req, &err);
		return;
	}
	if (b->finish) {
		registry_finish(r, req, b->s, &b->rt, b->sess, b->digest);
		return;
	}
	registry_session_release(r, b->sess);
	registry_upload_headers(req, &b->rt, b->rt.reference, b->start + (int64_t)b->written);
	(void)http_respond_buf(req, 202, NULL, "", 0);
}

static void
registry_done_monolithic(struct http_req *req, int rc, struct registry_body *b)
{
	struct registry *r = b->r;
	struct barge_err err = b->failed;

	if (rc == BARGE_OK) {
		/* The store commits and links it under its GC lock; w is consumed. */
		rc = store_blob_publish(b->w, b->rt.repo, &err);
		b->w = NULL;
		if (rc == BARGE_OK) {
			registry_blob_created(req, &b->rt, b->digest);
			return;
		}
	}
	if (rc == BARGE_EDIGEST)
		registry_send_error(req, 400, "DIGEST_INVALID",
		                    err.msg[0] ? err.msg : "content does not match the digest");
	else if (rc == BARGE_ELIMIT)
		registry_send_error(req, 413, "SIZE_INVALID", "blob too large");
	else if (rc != BARGE_EIO || err.msg[0])
		registry_send_internal(r, req, &err);
}

static void
registry_done_manifest(struct http_req *req, int rc, struct registry_body *b)
{
	struct registry *r = b->r;
	struct barge_err err = { 0 };
	struct store_push_result res;

	if (rc == BARGE_ELIMIT) {
		registry_send_error(req, 413, "MANIFEST_INVALID", "manifest larger than 4 MiB");
		return;
	}
	if (rc != BARGE_OK) {
		if (rc != BARGE_EIO) {
			err_set(&err, rc, "reading the manifest failed");
			registry_send_internal(r, req, &err);
		}
		return;
	}
	rc = store_push_manifest(b->s, b->rt.repo, b->rt.reference, b->buf ? b->buf : "", b->len,
	                         b->content_type[0] ? b->content_type : NULL, &res, &err);
	if (rc == BARGE_OK) {
		char loc[REGISTRY_NAME_MAX + DIGEST_STR_MAX + 16];

		snprintf(loc, sizeof(loc), "/v2/%s/manifests/%s", b->rt.name, res.digest);
		registry_common_headers(req);
		(void)http_resp_header(req, "Location", loc);
		(void)http_resp_header(req, "Docker-Content-Digest", res.digest);
		if (res.subject[0] != '\0')
			(void)http_resp_header(req, "OCI-Subject", res.subject);
		(void)http_respond_buf(req, 201, NULL, "", 0);
		return;
	}
	switch (res.refusal) {
	case STORE_PUSH_MANIFEST_INVALID:
		registry_send_error(req, 400, "MANIFEST_INVALID", err.msg);
		break;
	case STORE_PUSH_DIGEST_INVALID:
		registry_send_error(req, 400, "DIGEST_INVALID", err.msg);
		break;
	case STORE_PUSH_MANIFEST_BLOB_UNKNOWN:
		registry_send_error(req, 400, "MANIFEST_BLOB_UNKNOWN", err.msg);
		break;
	case STORE_PUSH_TOO_BIG:
		registry_send_error(req, 413, "MANIFEST_INVALID", err.msg);
		break;
	case STORE_PUSH_OK:
		registry_send_internal(r, req, &err);
		break;
	}
}

/* The end of a body registry_take_body handed to b: answers, then frees b. */
static void
registry_done_cb(struct http_req *req, int rc, void *arg)
{
	struct registry_body *b = arg;

	switch (b->kind) {
	case BODY_CHUNK:
		registry_done_chunk(req, rc, b);
		break;
	case BODY_MONOLITHIC:
		registry_done_monolithic(req, rc, b);
		break;
	case BODY_MANIFEST:
		registry_done_manifest(req, rc, b);
		break;
	}
	registry_body_free(b);
}

static struct registry_body *
registry_body_new(struct registry *r, struct store *s, const struct registry_route *rt, int kind)
{
	struct registry_body *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->r = r;
	b->s = s;
	b->rt = *rt;
	b->kind = kind;
	b->fd = -1;
	b->expect = -1;
	return b;
}

/*
 * The committed length of the session rt names; answers 404
 * BLOB_UPLOAD_UNKNOWN (or 500) and returns 0 when there is none.
 */
static int
registry_upload_offset(struct registry *r, struct http_req *req, struct store *s,
                       const struct registry_route *rt, int64_t *offset)
{
	struct barge_err err = { 0 };
	int rc;

	rc = store_upload_get(s, rt->repo, rt->reference, offset, &err);
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
		return 0;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return 0;
	}
	return 1;
}

/* Hands the body to b; answers (and frees b) when that cannot be. */
static void
registry_take_body(struct http_req *req, struct registry_body *b, uint64_t max)
{
	int rc = http_req_accept_body(req, max, registry_body_cb, registry_done_cb, b);

	if (rc == BARGE_OK)
		return;
	if (b->kind == BODY_CHUNK)
		registry_session_release(b->r, b->sess);
	if (rc == BARGE_ELIMIT)
		registry_send_error(req, 413,
		                    b->kind == BODY_MANIFEST ? "MANIFEST_INVALID" : "SIZE_INVALID",
		                    b->kind == BODY_MANIFEST ? "manifest larger than 4 MiB"
		                                             : "body larger than allowed");
	else
		registry_send_error(req, 500, "UNKNOWN", "internal error");
	registry_body_free(b);
}

void
registry_upload_write(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt, int finish)
{
	struct registry_session *sess = NULL;
	struct registry_body *b = NULL;
	struct barge_err err = { 0 };
	const char *cr, *dg = NULL;
	uint64_t a, z;
	int64_t offset;
	int rc;

	if (!registry_upload_offset(r, req, s, rt, &offset))
		return;
	if (finish) {
		dg = http_req_query(req, "digest");
		if (dg == NULL || !digest_valid(dg)) {
			registry_send_error(req, 400, "DIGEST_INVALID",
			                    "PUT needs ?digest= with a valid digest");
			return;
		}
	}
	if ((rc = registry_session_take(r, rt->reference, &sess)) != BARGE_OK) {
		registry_upload_headers(req, rt, rt->reference, offset);
		if (rc == BARGE_EEXIST)
			registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
			                    "another request is writing to this upload");
		else
			registry_send_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	if (!http_req_has_body(req)) {
		if (finish) {
			registry_finish(r, req, s, rt, sess, dg);
			return;
		}
		registry_session_release(r, sess);
		registry_upload_headers(req, rt, rt->reference, offset);
		(void)http_respond_buf(req, 202, NULL, "", 0);
		return;
	}
	if ((b = registry_body_new(r, s, rt, BODY_CHUNK)) == NULL) {
		registry_session_release(r, sess);
		registry_send_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	b->sess = sess;
	b->start = offset;
	b->finish = finish;
	if (dg != NULL)
		snprintf(b->digest, sizeof(b->digest), "%s", dg);
	if ((cr = http_req_header(req, "Content-Range")) != NULL) {
		if (!registry_range_content(cr, &a, &z) || a != (uint64_t)offset ||
		    z - a + 1 > (uint64_t)INT64_MAX ||
		    (http_req_content_length(req) >= 0 &&
		     (uint64_t)http_req_content_length(req) != z - a + 1)) {
			/* Out of order, repeated, or not this body's length. */
			registry_session_release(r, sess);
			registry_body_free(b);
			registry_upload_headers(req, rt, rt->reference, offset);
			registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
			                    "Content-Range does not continue the upload");
			return;
		}
		b->expect = (int64_t)(z - a + 1);
	}
	if (store_upload_open(s, rt->reference, offset, &b->fd, &err) != BARGE_OK) {
		registry_session_release(r, sess);
		registry_body_free(b);
		registry_send_internal(r, req, &err);
		return;
	}
	registry_take_body(req, b, r->blob_max - (uint64_t)offset);
}

void
registry_upload_start(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt)
{
	const char *mount = http_req_query(req, "mount"), *from = http_req_query(req, "from");
	const char *dg = http_req_query(req, "digest");
	char id[STORE_UPLOAD_ID_LEN + 1];
	struct barge_err err = { 0 };
	struct registry_body *b;
	int64_t open_now = 0;
	int rc;

	if (mount != NULL && digest_valid(mount)) {
		/* From a named repository we can read, or (no from) any blob the store holds. */
		if (from != NULL ? ref_valid_repo(from) &&
		                           store_push_has_blob(s, from, mount, &err) == BARGE_OK
		                 : store_blob_exists(s, mount)) {
			if (store_link_blob(s, rt->repo, mount, &err) != BARGE_OK) {
				registry_send_internal(r, req, &err);
				return;
			}
			registry_blob_created(req, rt, mount);
			return;
		}
	}
	if (dg != NULL) {
		/* Monolithic: the whole blob in this request's body. */
		if (!digest_valid(dg)) {
			registry_send_error(req, 400, "DIGEST_INVALID", "invalid digest");
			return;
		}
		if ((b = registry_body_new(r, s, rt, BODY_MONOLITHIC)) == NULL) {
			registry_send_error(req, 500, "UNKNOWN", "out of memory");
			return;
		}
		snprintf(b->digest, sizeof(b->digest), "%s", dg);
		if (store_blob_begin(s, dg, http_req_content_length(req), &b->w, &err) !=
		    BARGE_OK) {
			registry_body_free(b);
			registry_send_internal(r, req, &err);
			return;
		}
		if (!http_req_has_body(req)) {
			registry_done_cb(req, BARGE_OK, b); /* an empty blob */
			return;
		}
		registry_take_body(req, b, r->blob_max);
		return;
	}
	registry_session_expire(r, s);
	if ((rc = store_upload_count(s, &open_now, &err)) != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	if (open_now >= (int64_t)r->max_uploads) {
		(void)http_resp_header(req, "Retry-After", "10");
		registry_send_error(req, 429, "TOOMANYREQUESTS", "too many uploads in progress");
		return;
	}
	if ((rc = store_upload_new(s, rt->repo, id, &err)) != BARGE_OK) {
		if (rc == BARGE_EINVAL)
			registry_send_error(req, 400, "NAME_INVALID", err.msg);
		else
			registry_send_internal(r, req, &err);
		return;
	}
	/* A running hash from the first byte. */
	registry_session_add(r, id);
	registry_upload_headers(req, rt, id, 0);
	(void)http_respond_buf(req, 202, NULL, "", 0);
}

void
registry_upload_status(struct registry *r, struct http_req *req, struct store *s,
                       const struct registry_route *rt)
{
	int64_t offset;

	if (!registry_upload_offset(r, req, s, rt, &offset))
		return;
	registry_upload_headers(req, rt, rt->reference, offset);
	(void)http_respond_buf(req, 204, NULL, "", 0);
}

void
registry_upload_cancel(struct registry *r, struct http_req *req, struct store *s,
                       const struct registry_route *rt)
{
	struct registry_session *sess = NULL;
	struct barge_err err = { 0 };
	int64_t offset;
	int rc;

	if (!registry_upload_offset(r, req, s, rt, &offset))
		return;
	if (registry_session_take(r, rt->reference, &sess) != BARGE_OK) {
		registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
		                    "another request is writing to this upload");
		return;
	}
	rc = store_upload_delete(s, rt->reference, &err);
	registry_session_release(r, sess);
	registry_session_drop(r, rt->reference);
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	registry_common_headers(req);
	(void)http_respond_buf(req, 204, NULL, "", 0);
}

/* --- manifest PUT and deletes ------------------------------------------- */

void
registry_manifest_put(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt)
{
	const char *ct = http_req_header(req, "Content-Type");
	struct registry_body *b;
	int64_t cl = http_req_content_length(req);

	if (rt->tag_invalid) {
		char msg[REGISTRY_REF_MAX + 32];

		snprintf(msg, sizeof(msg), "invalid tag: %s",
		         rt->reference[0] != '\0' ? rt->reference : "empty or too long");
		registry_send_error(req, 400, "TAG_INVALID", msg);
		return;
	}
	if ((b = registry_body_new(r, s, rt, BODY_MANIFEST)) == NULL) {
		registry_send_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	if (ct != NULL)
		snprintf(b->content_type, sizeof(b->content_type), "%s", ct);
	if (!http_req_has_body(req)) {
		registry_done_cb(req, BARGE_OK, b);
		return;
	}
	/* A known length is allocated once; a chunked body grows up to the bound. */
	if (cl > 0 && cl <= MANIFEST_MAX) {
		if ((b->buf = malloc((size_t)cl)) == NULL) {
			registry_body_free(b);
			registry_send_error(req, 500, "UNKNOWN", "out of memory");
			return;
		}
		b->cap = (size_t)cl;
	}
	registry_take_body(req, b, MANIFEST_MAX);
}

void
registry_delete(struct registry *r, struct http_req *req, struct store *s,
                const struct registry_route *rt)
{
	struct barge_err err = { 0 };
	int rc;

	if (!r->allow_delete) {
		(void)http_resp_header(req, "Allow", "GET, HEAD, POST, PATCH, PUT");
		registry_send_error(req, 405, "UNSUPPORTED", "deletes are switched off");
		return;
	}
	if (rt->kind == REGISTRY_ROUTE_BLOB)
		rc = store_push_delete_blob(s, rt->repo, rt->reference, &err);
	else if (rt->tag_invalid)
		rc = BARGE_ENOTFOUND;
	else if (rt->is_digest)
		rc = store_push_delete_manifest(s, rt->repo, rt->reference, &err);
	else
		rc = store_push_delete_tag(s, rt->repo, rt->reference, &err);
	if (rc == BARGE_ENOTFOUND) {
		if (rt->kind == REGISTRY_ROUTE_BLOB)
			registry_send_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry");
		else
			registry_send_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown");
		return;
	}
	if (rc == BARGE_EEXIST) {
		registry_send_error(req, 409, "DENIED", err.msg);
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	registry_common_headers(req);
	(void)http_respond_buf(req, 202, NULL, "", 0);
}
