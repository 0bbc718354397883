/*
 * http_resp: the response of one request of the HTTP server
 * (http_server.h, http_server_int.h): its headers, queued at once or held
 * until the request's body is read, with a body copied from a buffer or
 * streamed from a file or a reader.  It owns the headers collected and, until it is
 * queued, the response; a file body's descriptor once given.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_server_int.h"

/*
 * Over TLS libmicrohttpd would otherwise read files in small blocks; 64 KiB
 * keeps blob GETs as fast as 1 MiB did (bench/serve.sh) while 200 concurrent
 * TLS pulls hold 13 MiB of buffers instead of 200 MiB.
 */
#define HTTP_FD_BLOCK (64 * 1024)

struct http_fd_body {
	int fd;
	uint64_t offset;
	uint64_t len;
};

void
http_req_reset_headers(struct http_req *r)
{
	size_t i;

	for (i = 0; i < r->nhdr; i++) {
		free(r->hdr[i].name);
		free(r->hdr[i].value);
	}
	r->nhdr = 0;
}

/* --- response -------------------------------------------------------------- */

int
http_resp_header(struct http_req *r, const char *name, const char *value)
{
	char *n = NULL, *v = NULL;

	if (r->nhdr == HTTP_RESP_HEADERS_MAX)
		return BARGE_ELIMIT;
	if ((n = strdup(name)) == NULL || (v = strdup(value)) == NULL) {
		free(n);
		return BARGE_ENOMEM;
	}
	r->hdr[r->nhdr].name = n;
	r->hdr[r->nhdr].value = v;
	r->nhdr++;
	return BARGE_OK;
}

/*
 * Adds the collected headers and queues resp, or holds it while the body
 * is still to be read (see the header); resp is released either way.
 */
static int
http_queue(struct http_req *r, int status, const char *content_type, struct MHD_Response *resp,
           uint64_t len)
{
	enum MHD_Result ok = MHD_YES;
	int hold;
	size_t i;

	if (r->queued || r->pending != NULL || r->closed) {
		http_req_reset_headers(r);
		MHD_destroy_response(resp);
		return BARGE_EINTERNAL;
	}
	if (content_type != NULL)
		ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (i = 0; i < r->nhdr && ok == MHD_YES; i++)
		ok = MHD_add_response_header(resp, r->hdr[i].name, r->hdr[i].value);
	http_req_reset_headers(r);
	if (ok != MHD_YES) {
		MHD_destroy_response(resp);
		return BARGE_EINTERNAL;
	}
	r->status = status;
	r->resp_len = len;
	/*
	 * Queued before the body was read, libmicrohttpd sends the answer and
	 * closes the connection; worth it only to spare reading a large body.
	 */
	hold = r->phase == HTTP_PHASE_BODY ||
	       (r->phase == HTTP_PHASE_HEAD && r->has_body &&
	        (r->content_length < 0 || r->content_length <= HTTP_BODY_DISCARD_MAX));
	if (hold) {
		r->pending = resp;
		r->pending_status = status;
		return BARGE_OK;
	}
	ok = MHD_queue_response(r->conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		return BARGE_EINTERNAL;
	r->queued = 1;
	return BARGE_OK;
}

int
http_respond_buf(struct http_req *r, int status, const char *content_type, const void *buf,
                 size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL) {
		http_req_reset_headers(r);
		return BARGE_ENOMEM;
	}
	return http_queue(r, status, content_type, resp, len);
}

static ssize_t
http_fd_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_fd_body *b = cls;
	uint64_t want;
	ssize_t n;

	if (pos >= b->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	want = b->len - pos;
	if (want > max)
		want = max;
	if (b->offset + pos > (uint64_t)INT64_MAX)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	do
		n = pread(b->fd, buf, (size_t)want, (off_t)(b->offset + pos));
	while (n < 0 && errno == EINTR);
	/* A file that shrank under us cannot honour the Content-Length sent. */
	if (n <= 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n;
}

static void
http_fd_free(void *cls)
{
	struct http_fd_body *b = cls;

	close(b->fd);
	free(b);
}

int
http_respond_fd(struct http_req *r, int status, const char *content_type, int fd, uint64_t offset,
                uint64_t len)
{
	struct MHD_Response *resp;
	struct http_fd_body *b;

	if (len == 0) {
		close(fd);
		return http_respond_buf(r, status, content_type, "", 0);
	}
	if (len > (uint64_t)INT64_MAX || offset > (uint64_t)INT64_MAX - len) {
		close(fd);
		http_req_reset_headers(r);
		return BARGE_EINVAL;
	}
	if (!r->s->tls) {
		/* Plain HTTP: libmicrohttpd sends it with sendfile(2) and closes fd. */
		resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
		if (resp == NULL) {
			close(fd);
			http_req_reset_headers(r);
			return BARGE_ENOMEM;
		}
		return http_queue(r, status, content_type, resp, len);
	}
	if ((b = malloc(sizeof(*b))) == NULL) {
		close(fd);
		http_req_reset_headers(r);
		return BARGE_ENOMEM;
	}
	b->fd = fd;
	b->offset = offset;
	b->len = len;
	resp = MHD_create_response_from_callback(len, HTTP_FD_BLOCK, http_fd_read, b, http_fd_free);
	if (resp == NULL) {
		http_fd_free(b);
		http_req_reset_headers(r);
		return BARGE_ENOMEM;
	}
	return http_queue(r, status, content_type, resp, len);
}

struct http_stream {
	http_reader read;
	void (*done)(void *arg);
	void *arg;
};

static ssize_t
http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *st = cls;
	long n = st->read(st->arg, pos, buf, max);

	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)n;
}

static void
http_stream_free(void *cls)
{
	struct http_stream *st = cls;

	st->done(st->arg);
	free(st);
}

int
http_respond_reader(struct http_req *r, int status, const char *content_type, int64_t len,
                    http_reader read, void (*done)(void *arg), void *arg)
{
	struct MHD_Response *resp;
	struct http_stream *st;

	if ((st = malloc(sizeof(*st))) == NULL) {
		done(arg);
		http_req_reset_headers(r);
		return BARGE_ENOMEM;
	}
	st->read = read;
	st->done = done;
	st->arg = arg;
	resp = MHD_create_response_from_callback(len < 0 ? MHD_SIZE_UNKNOWN : (uint64_t)len,
	                                         HTTP_FD_BLOCK, http_stream_read, st,
	                                         http_stream_free);
	if (resp == NULL) {
		http_stream_free(st);
		http_req_reset_headers(r);
		return BARGE_ENOMEM;
	}
	return http_queue(r, status, content_type, resp, len < 0 ? 0 : (uint64_t)len);
}
