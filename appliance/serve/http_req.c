/*
 * http_req: one request of the HTTP server (http_server.h,
 * http_server_int.h): libmicrohttpd's access handler and completion, the
 * requests the server refuses by itself, the body handed to the handler or
 * read and dropped, and the calls that read a request.  It owns each
 * struct http_req from its head to its completion.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "http_guard.h"
#include "http_server_int.h"

/* Whether conn now waits for a request head (after a request) or not (its head is here). */
static void
http_conn_wait(struct http_server *s, struct MHD_Connection *conn, int waiting)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info != NULL)
		http_guard_wait(s->guard, info->socket_context, waiting);
}

/* Marks a request whose path must be refused (see http_uri_check). */
static char http_bad_path;

/*
 * Sees the request target before libmicrohttpd decodes it, which would
 * cut the path at a %00 with nothing to tell: a path holding a control
 * character, raw or percent-encoded, gets &http_bad_path as the request's
 * first *req_cls.  Nothing is allocated here: libmicrohttpd reports no
 * completion for a request it refuses before the access handler.
 */
void *
http_uri_check(void *cls, const char *uri, struct MHD_Connection *conn)
{
	char hex[3] = { 0 };
	const char *p;
	int c;

	(void)cls;
	(void)conn;
	for (p = uri; *p != '\0' && *p != '?'; p++) {
		c = (unsigned char)*p;
		/* Decoded as libmicrohttpd does: a '%' without two hex digits stays. */
		if (c == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			memcpy(hex, p + 1, 2);
			c = (int)strtol(hex, NULL, 16);
			p += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return &http_bad_path;
	}
	return NULL;
}

/*
 * Answers 400 with an OCI error body at once, without reading the body,
 * and closes the connection after it: what follows the head of such a
 * request cannot be trusted to be the start of the next one.
 */
static int
http_refuse(struct http_req *r, const char *msg)
{
	char body[256];
	int n, rc;

	n = snprintf(body, sizeof(body),
	             "{\"errors\":[{\"code\":\"UNSUPPORTED\",\"message\":\"%s\"}]}\n", msg);
	/* Its body is not read: the answer goes out now (see http_queue). */
	r->has_body = 0;
	if ((rc = http_resp_header(r, MHD_HTTP_HEADER_CONNECTION, "close")) != BARGE_OK)
		return rc;
	return http_respond_buf(r, MHD_HTTP_BAD_REQUEST, "application/json", body, (size_t)n);
}

void
http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
               enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_req *r = *req_cls;
	uint64_t bytes;

	/* A kept-alive connection now waits for its next head. */
	http_conn_wait(s, conn, 1);
	if (r == NULL)
		return;
	r->closed = 1;
	if (r->done_cb != NULL && !r->done_called) {
		r->done_called = 1;
		r->done_cb(r, BARGE_EIO, r->body_arg);
	}
	if (s->on_complete != NULL) {
		/* MHD tells no byte count for aborted responses: only whole ones count. */
		bytes = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && strcmp(r->method, "HEAD") != 0
		                ? r->resp_len
		                : 0;
		s->on_complete(r, r->status, bytes, s->arg);
	}
	if (r->pending != NULL)
		MHD_destroy_response(r->pending);
	http_req_reset_headers(r);
	free(r);
	*req_cls = NULL;
	__atomic_sub_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
}

int64_t
http_parse_length(const char *cl)
{
	unsigned long long n;
	char *end;

	if (cl == NULL || *cl < '0' || *cl > '9')
		return -1;
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (errno != 0 || *end != '\0' || n > (unsigned long long)INT64_MAX)
		return -1;
	return (int64_t)n;
}

/* Sends a held response now. */
static enum MHD_Result
http_flush_pending(struct http_req *r)
{
	struct MHD_Response *resp = r->pending;
	enum MHD_Result ok;

	r->pending = NULL;
	ok = MHD_queue_response(r->conn, (unsigned int)r->pending_status, resp);
	MHD_destroy_response(resp);
	if (ok == MHD_YES)
		r->queued = 1;
	return ok;
}

static void
http_call_done(struct http_req *r, int rc)
{
	static const char failed[] = "internal error\n";

	r->done_called = 1;
	r->done_cb(r, rc, r->body_arg);
	if (!r->queued && r->pending == NULL)
		(void)http_respond_buf(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", failed,
		                       sizeof(failed) - 1);
}

/* One piece of a body. */
static enum MHD_Result
http_body(struct http_req *r, const char *data, size_t n)
{
	int rc;

	r->body_len += n;
	if (r->body_cb != NULL && !r->done_called) {
		if (r->body_len > r->body_max)
			rc = BARGE_ELIMIT;
		else
			rc = r->body_cb(r, data, n, r->body_arg);
		if (rc != BARGE_OK)
			http_call_done(r, rc);
		return MHD_YES;
	}
	/*
	 * Dropped.  After a taken body stopped short of its bound (a full
	 * disk, a bad chunk), the rest is read up to that bound, so that the
	 * answer reaches the client: libmicrohttpd sends nothing queued while
	 * a body is still arriving, and closes the connection instead.
	 */
	if (r->body_cb != NULL && r->body_len <= r->body_max)
		return MHD_YES;
	/*
	 * Otherwise a held answer goes out once a bounded amount was read;
	 * if MHD will not send it before the body ends, the connection is
	 * closed instead of reading on for ever.
	 */
	if (r->pending != NULL && r->body_len > HTTP_BODY_DISCARD_MAX)
		return http_flush_pending(r);
	if (r->queued && r->body_len > HTTP_BODY_DISCARD_MAX)
		return MHD_NO;
	return MHD_YES;
}

enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	static const char too_long[] = "URL too long\n";
	static const char failed[] = "internal error\n";
	struct http_server *s = cls;
	struct http_req *r = *req_cls;
	const char *te, *cl;
	int bad_path;
	size_t n;

	(void)version;
	if (r == NULL || *req_cls == &http_bad_path) {
		bad_path = r != NULL;
		/* Never left in *req_cls for http_completed to take for a request. */
		*req_cls = NULL;
		http_conn_wait(s, conn, 0);
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		__atomic_add_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
		r->s = s;
		r->conn = conn;
		r->method = method;
		r->path = url;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		r->content_length = http_parse_length(cl);
		te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
		r->has_body = r->content_length > 0 || (te != NULL && r->content_length < 0);
		r->phase = HTTP_PHASE_HEAD;
		*req_cls = r;
		if (bad_path || (cl != NULL && te != NULL)) {
			if (http_refuse(r, bad_path ? "control character in the path"
			                            : "Content-Length with Transfer-Encoding") !=
			    BARGE_OK)
				return MHD_NO;
		} else if (strlen(url) > HTTP_URL_MAX) {
			if (http_respond_buf(r, MHD_HTTP_URI_TOO_LONG, "text/plain", too_long,
			                     sizeof(too_long) - 1) != BARGE_OK)
				return MHD_NO;
		} else if (!r->has_body) {
			/*
			 * A response queued on the first call makes libmicrohttpd
			 * close the connection after it; without a body there is
			 * nothing to spare reading, so answer on the last call and
			 * keep the connection (25x the manifest GETs per second).
			 */
			r->deferred = 1;
			r->phase = HTTP_PHASE_BODY;
			return MHD_YES;
		} else {
			s->handler(r, s->arg);
		}
		if (!r->queued && r->pending == NULL && r->body_cb == NULL &&
		    http_respond_buf(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", failed,
		                     sizeof(failed) - 1) != BARGE_OK)
			return MHD_NO;
		r->phase = HTTP_PHASE_BODY;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		return http_body(r, upload_data, n);
	}
	if (r->deferred) {
		/* The handler sees the head as always; an accepted body is empty. */
		r->deferred = 0;
		r->phase = HTTP_PHASE_HEAD;
		s->handler(r, s->arg);
		r->phase = HTTP_PHASE_END;
		if (r->body_cb != NULL && !r->done_called)
			http_call_done(r, BARGE_OK);
		if (r->pending != NULL)
			return http_flush_pending(r);
		if (!r->queued && http_respond_buf(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
		                                   failed, sizeof(failed) - 1) != BARGE_OK)
			return MHD_NO;
		return MHD_YES;
	}
	r->phase = HTTP_PHASE_END;
	if (r->body_cb != NULL && !r->done_called)
		http_call_done(r, BARGE_OK);
	if (r->pending != NULL)
		return http_flush_pending(r);
	return MHD_YES;
}

/* --- request --------------------------------------------------------------- */

const char *
http_req_method(const struct http_req *r)
{
	return r->method;
}

const char *
http_req_path(const struct http_req *r)
{
	return r->path;
}

const char *
http_req_query(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_each {
	const char *name;
	int (*fn)(const char *value, void *arg);
	void *arg;
	int rc;
};

static enum MHD_Result
query_each_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_each *q = cls;

	(void)kind;
	if (strcmp(key, q->name) != 0)
		return MHD_YES;
	q->rc = q->fn(value != NULL ? value : "", q->arg);
	return q->rc == 0 ? MHD_YES : MHD_NO;
}

int
http_req_query_each(const struct http_req *r, const char *name,
                    int (*fn)(const char *value, void *arg), void *arg)
{
	struct query_each q = { name, fn, arg, 0 };

	(void)MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_each_one, &q);
	return q.rc;
}

const char *
http_req_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
http_req_remote_addr(struct http_req *r)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	if (r->remote[0] != '\0')
		return r->remote;
	info = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || (sa = info->client_addr) == NULL)
		return "";
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		          r->remote, sizeof(r->remote));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          r->remote, sizeof(r->remote));
	return r->remote;
}

int
http_req_has_body(const struct http_req *r)
{
	return r->has_body;
}

int64_t
http_req_content_length(const struct http_req *r)
{
	return r->content_length;
}

int
http_req_accept_body(struct http_req *r, uint64_t max, http_body_cb body, http_done_cb done,
                     void *arg)
{
	if (r->phase != HTTP_PHASE_HEAD || r->queued || r->pending != NULL || r->body_cb != NULL)
		return BARGE_EINTERNAL;
	if (r->content_length > 0 && (uint64_t)r->content_length > max)
		return BARGE_ELIMIT;
	r->body_cb = body;
	r->done_cb = done;
	r->body_arg = arg;
	r->body_max = max;
	return BARGE_OK;
}
