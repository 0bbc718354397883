/*
 * registry_resp.c: how the registry answers: OCI error bodies, JSON
 * bodies, file bodies with their digest and ETag, 304 and 405, all with
 * the Docker-Distribution-API-Version header.  It owns nothing beyond a
 * call; the log callback it reports 500s to is the registry's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

void
registry_common_headers(struct http_req *req)
{
	(void)http_resp_header(req, "Docker-Distribution-API-Version", "registry/2.0");
}

void
registry_send_json(struct http_req *req, int status, json_t *body)
{
	static const char fallback[] = "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"out of "
	                               "memory\",\"detail\":{}}]}";
	char *s = NULL;

	if (body != NULL)
		s = json_dumps(body, JSON_COMPACT);
	registry_common_headers(req);
	if (s == NULL)
		(void)http_respond_buf(req, 500, "application/json", fallback,
		                       sizeof(fallback) - 1);
	else
		(void)http_respond_buf(req, status, "application/json", s, strlen(s));
	free(s);
	json_decref(body);
}

void
registry_send_error(struct http_req *req, int status, const char *code, const char *msg)
{
	json_t *body;

	body = json_pack("{s:[{s:s,s:s,s:{}}]}", "errors", "code", code, "message", msg, "detail");
	/* A message quoting the request may not be UTF-8; the code alone still tells. */
	if (body == NULL)
		body = json_pack("{s:[{s:s,s:s,s:{}}]}", "errors", "code", code, "message",
		                 "invalid request", "detail");
	registry_send_json(req, status, body);
}

/*
 * The reason, as strerror says it, when err is the store's filesystem (or
 * SQLite on it) having no room for what it had to write; else NULL.
 */
static const char *
registry_no_room(const struct barge_err *err)
{
	static const int full[] = { ENOSPC, EDQUOT, EFBIG };
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(full) / sizeof(full[0]); i++)
		if (strstr(err->msg, (why = strerror(full[i]))) != NULL)
			return why;
	if (strstr(err->msg, "database or disk is full") != NULL)
		return strerror(ENOSPC);
	return NULL;
}

void
registry_send_internal(struct registry *r, struct http_req *req, const struct barge_err *err)
{
	char line[BARGE_ERR_MSG_MAX + 256], msg[256];
	const char *full = registry_no_room(err);

	if (r->log_error != NULL) {
		snprintf(line, sizeof(line), "%s %.200s: %s", http_req_method(req),
		         http_req_path(req), err->msg);
		r->log_error(line);
	}
	if (full == NULL) {
		registry_send_error(req, 500, "UNKNOWN", "internal error");
		return;
	}
	/* The client can do something about this one: say so, without the server's paths. */
	snprintf(msg, sizeof(msg),
	         "%s: the registry's store has no room for this push; free space on the "
	         "appliance (barged gc) and push again",
	         full);
	registry_send_error(req, 507, "DENIED", msg);
}

void
registry_send_fd(struct http_req *req, int status, const char *content_type, const char *digest,
                 int fd, uint64_t offset, uint64_t len)
{
	char etag[DIGEST_STR_MAX + 2];

	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	registry_common_headers(req);
	(void)http_resp_header(req, "Docker-Content-Digest", digest);
	(void)http_resp_header(req, "ETag", etag);
	(void)http_respond_fd(req, status, content_type, fd, offset, len);
}

int
registry_not_modified(struct http_req *req, const char *digest)
{
	const char *inm = http_req_header(req, "If-None-Match");
	char etag[DIGEST_STR_MAX + 2];
	const char *p;
	size_t n = strlen(digest);

	if (inm == NULL)
		return 0;
	if (strcmp(inm, "*") != 0) {
		for (p = strstr(inm, digest); p != NULL; p = strstr(p + 1, digest))
			if ((p == inm || p[-1] == '"' || p[-1] == ' ' || p[-1] == ',') &&
			    (p[n] == '\0' || p[n] == '"' || p[n] == ',' || p[n] == ' '))
				break;
		if (p == NULL)
			return 0;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	registry_common_headers(req);
	(void)http_resp_header(req, "Docker-Content-Digest", digest);
	(void)http_resp_header(req, "ETag", etag);
	(void)http_respond_buf(req, 304, NULL, "", 0);
	return 1;
}

void
registry_unsupported(struct http_req *req, const char *allow)
{
	(void)http_resp_header(req, "Allow", allow);
	registry_send_error(req, 405, "UNSUPPORTED", "method not allowed here");
}
