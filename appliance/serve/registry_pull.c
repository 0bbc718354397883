/*
 * registry_pull.c: the pull side of the registry: GET and HEAD of
 * manifests (the stored bytes, byte-for-byte) and of blobs (with single
 * byte ranges, 206 and 416), both answering 304 to an If-None-Match naming
 * their digest.  With a pull-through cache (proxy.h), a manifest request
 * lets the proxy fill the store first, and a blob the store lacks is
 * streamed from the proxy's flight while it is fetched; a request from a
 * peer (UPSTREAM_PEER_HEADER) is answered from the store only.  It owns
 * the file descriptors it opens until it hands them to the server, and
 * the proxy readers until the server is done with them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"
#include "registry_int.h"
#include "registry_range.h"

/* Whether req may go to the pull-through cache: one is configured and no peer asks. */
static int
registry_proxied(const struct registry *r, struct http_req *req)
{
	return r->proxy != NULL && http_req_header(req, UPSTREAM_PEER_HEADER) == NULL;
}

void
registry_manifest_get(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt)
{
	struct store_manifest m;
	struct barge_err err = { 0 };
	int64_t size;
	int fd = -1, rc;

	if (!rt->tag_invalid && registry_proxied(r, req)) {
		rc = proxy_manifest(r->proxy, s, rt->repo, rt->reference, &err);
		if (rc == BARGE_ENET) {
			registry_send_error(req, 502, "UNKNOWN", err.msg);
			return;
		}
		if (rc != BARGE_OK) {
			registry_send_internal(r, req, &err);
			return;
		}
	}
	/* Row and file in one snapshot: GC can not take the file in between. */
	if (rt->tag_invalid)
		rc = BARGE_ENOTFOUND; /* nothing is stored under a reference that is no tag */
	else
		rc = store_open_manifest(s, rt->repo, rt->reference, &m, &fd, &size, &err);
	if (rc == BARGE_ENOTFOUND) {
		if (store_repo_exists(s, rt->repo))
			registry_send_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown");
		else
			registry_send_error(req, 404, "NAME_UNKNOWN",
			                    "repository name not known to registry");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	if (registry_not_modified(req, m.digest)) {
		close(fd);
		return;
	}
	if (size != m.size) {
		close(fd);
		err_set(&err, BARGE_EDIGEST, "manifest %s: %lld bytes stored, %lld recorded",
		        m.digest, (long long)size, (long long)m.size);
		registry_send_internal(r, req, &err);
		return;
	}
	registry_send_fd(req, 200,
	                 m.media_type[0] != '\0' ? m.media_type : "application/octet-stream",
	                 m.digest, fd, 0, (uint64_t)size);
}

struct registry_stream {
	struct registry *r;
	struct proxy_blob *b;
	uint64_t offset;
};

static long
registry_stream_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct registry_stream *st = arg;
	struct barge_err err = { 0 };
	char line[BARGE_ERR_MSG_MAX + 64];
	size_t got = 0;

	if (st->b == NULL) /* a HEAD: no body */
		return 0;
	if (proxy_blob_read(st->b, st->offset + pos, buf, max, &got, &err) != BARGE_OK) {
		if (st->r->log_error != NULL) {
			snprintf(line, sizeof(line), "proxied blob cut short: %s", err.msg);
			st->r->log_error(line);
		}
		return -1;
	}
	return (long)got;
}

static void
registry_stream_done(void *arg)
{
	struct registry_stream *st = arg;

	proxy_blob_close(st->b);
	free(st);
}

/* A blob the store lacks, streamed from the pull-through cache as it arrives. */
static void
registry_blob_proxy(struct registry *r, struct http_req *req, const struct registry_route *rt)
{
	struct registry_stream *st;
	struct barge_err err = { 0 };
	struct proxy_blob *b = NULL;
	uint64_t start = 0, len = 0;
	char crange[96], etag[REGISTRY_REF_MAX + 2];
	int64_t size = -1;
	int rc, status = 200;

	/* A HEAD says whether and how large, without fetching the blob. */
	if (strcmp(http_req_method(req), "HEAD") == 0)
		rc = proxy_blob_head(r->proxy, rt->repo, rt->reference, &size, &err);
	else
		rc = proxy_blob_open(r->proxy, rt->repo, rt->reference, &b, &size, &err);
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_error(req, 502, "UNKNOWN", err.msg);
		return;
	}
	if (size >= 0) {
		(void)http_resp_header(req, "Accept-Ranges", "bytes");
		switch (registry_range_parse(http_req_header(req, "Range"), (uint64_t)size, &start,
		                             &len)) {
		case REGISTRY_RANGE_FULL:
			break;
		case REGISTRY_RANGE_PARTIAL:
			snprintf(crange, sizeof(crange), "bytes %llu-%llu/%lld",
			         (unsigned long long)start, (unsigned long long)(start + len - 1),
			         (long long)size);
			(void)http_resp_header(req, "Content-Range", crange);
			size = (int64_t)len;
			status = 206;
			break;
		case REGISTRY_RANGE_UNSATISFIABLE:
			proxy_blob_close(b);
			snprintf(crange, sizeof(crange), "bytes */%lld", (long long)size);
			(void)http_resp_header(req, "Content-Range", crange);
			registry_common_headers(req);
			(void)http_respond_buf(req, 416, NULL, "", 0);
			return;
		}
	}
	if ((st = malloc(sizeof(*st))) == NULL) {
		proxy_blob_close(b);
		err_set(&err, BARGE_ENOMEM, "out of memory");
		registry_send_internal(r, req, &err);
		return;
	}
	st->r = r;
	st->b = b;
	st->offset = start;
	snprintf(etag, sizeof(etag), "\"%s\"", rt->reference);
	registry_common_headers(req);
	(void)http_resp_header(req, "Docker-Content-Digest", rt->reference);
	(void)http_resp_header(req, "ETag", etag);
	(void)http_respond_reader(req, status, "application/octet-stream", size,
	                          registry_stream_read, registry_stream_done, st);
}

void
registry_blob_get(struct registry *r, struct http_req *req, struct store *s,
                  const struct registry_route *rt)
{
	struct barge_err err = { 0 };
	uint64_t start = 0, len = 0;
	char crange[96];
	int64_t size;
	int fd = -1, rc;

	/* The link and the file in one snapshot, as store_open_repo_blob does. */
	if ((rc = store_read_begin(s, &err)) == BARGE_OK) {
		rc = store_push_has_blob(s, rt->repo, rt->reference, &err);
		if (rc == BARGE_OK)
			rc = store_blob_open(s, rt->reference, &fd, &size, &err);
		store_read_end(s);
	}
	if (rc == BARGE_OK && registry_not_modified(req, rt->reference)) {
		close(fd);
		return;
	}
	if (rc == BARGE_ENOTFOUND && registry_proxied(r, req)) {
		registry_blob_proxy(r, req, rt);
		return;
	}
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	if (r->proxy != NULL)
		proxy_count_hit(r->proxy, rt->repo);
	(void)http_resp_header(req, "Accept-Ranges", "bytes");
	switch (registry_range_parse(http_req_header(req, "Range"), (uint64_t)size, &start, &len)) {
	case REGISTRY_RANGE_FULL:
		registry_send_fd(req, 200, "application/octet-stream", rt->reference, fd, 0,
		                 (uint64_t)size);
		break;
	case REGISTRY_RANGE_PARTIAL:
		snprintf(crange, sizeof(crange), "bytes %llu-%llu/%lld", (unsigned long long)start,
		         (unsigned long long)(start + len - 1), (long long)size);
		(void)http_resp_header(req, "Content-Range", crange);
		registry_send_fd(req, 206, "application/octet-stream", rt->reference, fd, start,
		                 len);
		break;
	case REGISTRY_RANGE_UNSATISFIABLE:
		close(fd);
		snprintf(crange, sizeof(crange), "bytes */%lld", (long long)size);
		(void)http_resp_header(req, "Content-Range", crange);
		registry_common_headers(req);
		(void)http_respond_buf(req, 416, NULL, "", 0);
		break;
	}
}
