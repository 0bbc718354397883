/*
 * registry_pull.c: the pull side of the registry: GET and HEAD of
 * manifests (the stored bytes, byte-for-byte) and of blobs (with single
 * byte ranges, 206 and 416), both answering 304 to an If-None-Match naming
 * their digest.  It owns the file descriptors it opens until it hands them
 * to the server.
 */
#include <stdio.h>
#include <unistd.h>

#include "registry_int.h"
#include "registry_range.h"

void
registry_manifest_get(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt)
{
	struct store_manifest m;
	struct barge_err err = { 0 };
	int64_t size;
	int fd = -1, rc;

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
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
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
