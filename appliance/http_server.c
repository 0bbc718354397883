#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

/* Enough for the registry's handful of headers; a bound all the same. */
#define HTTP_RESP_HEADERS_MAX 32
/*
 * Over TLS libmicrohttpd would otherwise read files in small blocks; a large
 * block keeps blob GETs fast.
 */
#define HTTP_FD_BLOCK (1024 * 1024)
/*
 * Nothing served yet accepts a request body (pushes come later), so bodies
 * are read and dropped, up to this much; beyond it the connection is closed.
 */
#define HTTP_BODY_DISCARD_MAX (1024 * 1024)
#define HTTP_DEFAULT_THREADS  4
#define HTTP_CONN_TIMEOUT     120 /* seconds a connection may stay idle */

struct http_server {
	struct MHD_Daemon *d;
	http_handler handler;
	void *arg;
	/* Kept for the daemon's lifetime, since MHD keeps the pointers. */
	char *cert;
	char *key;
	pthread_mutex_t log_mtx;
	char last_error[256];
};

struct http_hdr {
	char *name;
	char *value;
};

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	uint64_t body_len;
	int started;
	int queued;
	size_t nhdr;
	struct http_hdr hdr[HTTP_RESP_HEADERS_MAX];
};

struct http_fd_body {
	int fd;
	uint64_t offset;
	uint64_t len;
};

/* libmicrohttpd's diagnostics: kept (the last one) for start-up errors, never printed. */
static void
http_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	size_t n;

	pthread_mutex_lock(&s->log_mtx);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	n = strlen(s->last_error);
	while (n > 0 && (s->last_error[n - 1] == '\n' || s->last_error[n - 1] == '\r'))
		s->last_error[--n] = '\0';
	pthread_mutex_unlock(&s->log_mtx);
}

static void
http_req_reset_headers(struct http_req *r)
{
	size_t i;

	for (i = 0; i < r->nhdr; i++) {
		free(r->hdr[i].name);
		free(r->hdr[i].value);
	}
	r->nhdr = 0;
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
               enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *req_cls;

	if (r == NULL)
		return;
	http_req_reset_headers(r);
	free(r);
	*req_cls = NULL;
}

static int
http_body_too_large(struct MHD_Connection *conn)
{
	const char *cl =
	        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;
	char *end;

	if (cl == NULL)
		return 0;
	errno = 0;
	n = strtoull(cl, &end, 10);
	return errno != 0 || *end != '\0' || n > HTTP_BODY_DISCARD_MAX;
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct http_server *s = cls;
	struct http_req *r = *req_cls;
	static const char too_long[] = "URL too long\n";
	static const char failed[] = "internal error\n";

	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->conn = conn;
		r->method = method;
		r->path = url;
		*req_cls = r;
		/*
		 * Queueing a response on the first call of a request that
		 * has a body makes libmicrohttpd close the connection, so
		 * requests are answered on a later call, once their body (if
		 * any) has been read.  A body announced as too large is
		 * answered at once instead: a client waiting on "Expect:
		 * 100-continue" then gets the answer without sending it.
		 */
		if (!http_body_too_large(conn))
			return MHD_YES;
	}
	if (*upload_data_size != 0) {
		r->body_len += *upload_data_size;
		*upload_data_size = 0;
		if (r->started || r->body_len <= HTTP_BODY_DISCARD_MAX)
			return MHD_YES;
	} else if (r->started) {
		return MHD_YES;
	}
	r->started = 1;
	if (strlen(url) > HTTP_URL_MAX) {
		if (http_respond_buf(r, MHD_HTTP_URI_TOO_LONG, "text/plain", too_long,
		                     sizeof(too_long) - 1) != BARGE_OK)
			return MHD_NO;
		return MHD_YES;
	}
	s->handler(r, s->arg);
	if (!r->queued && http_respond_buf(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", failed,
	                                   sizeof(failed) - 1) != BARGE_OK)
		return MHD_NO;
	return MHD_YES;
}

/*
 * Fills sa from "ADDR:PORT" or "[ADDR]:PORT" (numeric addresses only: a
 * listen address never waits on DNS), or sets *any for ":PORT".
 */
static int
http_parse_listen(const char *listen, struct sockaddr_storage *sa, int *any, uint16_t *port,
                  struct barge_err *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *p;
	unsigned long v;
	char *end;
	size_t hlen;

	memset(sa, 0, sizeof(*sa));
	*any = 0;
	if (listen == NULL || *listen == '\0')
		return err_set(err, BARGE_EINVAL, "empty listen address");
	if (listen[0] == '[') {
		if ((p = strchr(listen, ']')) == NULL || p[1] != ':')
			return err_set(err, BARGE_EINVAL, "%s: expected [ADDR]:PORT", listen);
		hlen = (size_t)(p - listen - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return err_set(err, BARGE_EINVAL, "%s: bad IPv6 address", listen);
		memcpy(host, listen + 1, hlen);
		colon = p + 1;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			return err_set(err, BARGE_EINVAL, "%s: expected ADDR:PORT or :PORT",
			               listen);
		hlen = (size_t)(colon - listen);
		if (hlen >= sizeof(host))
			return err_set(err, BARGE_EINVAL, "%s: bad address", listen);
		memcpy(host, listen, hlen);
	}
	host[hlen] = '\0';
	p = colon + 1;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (*p < '0' || *p > '9' || *end != '\0' || errno != 0 || v > 65535)
		return err_set(err, BARGE_EINVAL, "%s: bad port", listen);
	*port = (uint16_t)v;
	if (hlen == 0) {
		*any = 1;
		return BARGE_OK;
	}
	if (listen[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return err_set(err, BARGE_EINVAL,
			               "%s: not a numeric IPv4 address (IPv6: [ADDR]:PORT)",
			               listen);
		in->sin_family = AF_INET;
		in->sin_port = htons(*port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return err_set(err, BARGE_EINVAL, "%s: not a numeric IPv6 address", listen);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(*port);
	}
	return BARGE_OK;
}

int
http_server_start(const struct http_server_opts *o, struct http_server **out, struct barge_err *err)
{
	struct http_server *s = NULL;
	struct sockaddr_storage sa;
	struct MHD_OptionItem opts[12]; /* at most 10 are filled in below */
	unsigned int flags;
	size_t n = 0;
	uint16_t port = 0;
	int any, rc;

	if (o->handler == NULL)
		return err_set(err, BARGE_EINVAL, "http server: no handler");
	if ((o->cert_pem == NULL) != (o->key_pem == NULL))
		return err_set(err, BARGE_EINVAL, "http server: certificate and key go together");
	if ((rc = http_parse_listen(o->listen, &sa, &any, &port, err)) != BARGE_OK)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(err, BARGE_ENOMEM, "http server: out of memory");
	pthread_mutex_init(&s->log_mtx, NULL);
	s->handler = o->handler;
	s->arg = o->arg;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_log, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
		                             o->threads ? o->threads : HTTP_DEFAULT_THREADS, NULL };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_HEAD_MAX, NULL };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed,
		                             NULL };
	if (o->cert_pem != NULL) {
		if ((s->cert = strdup(o->cert_pem)) == NULL ||
		    (s->key = strdup(o->key_pem)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "http server: out of memory");
			goto fail;
		}
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->key };
	}
	if (any) {
		flags |= MHD_USE_DUAL_STACK;
	} else {
		if (sa.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &sa };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	s->d = MHD_start_daemon(flags, port, NULL, NULL, http_access, s, MHD_OPTION_ARRAY, opts,
	                        MHD_OPTION_END);
	if (s->d == NULL && any) {
		/* A host without IPv6 still serves IPv4 on ":PORT". */
		flags &= ~(unsigned int)MHD_USE_DUAL_STACK;
		s->d = MHD_start_daemon(flags, port, NULL, NULL, http_access, s, MHD_OPTION_ARRAY,
		                        opts, MHD_OPTION_END);
	}
	if (s->d == NULL) {
		rc = err_set(err, BARGE_EIO, "cannot serve on %s: %s", o->listen,
		             s->last_error[0] ? s->last_error : "libmicrohttpd refused to start");
		goto fail;
	}
	*out = s;
	return BARGE_OK;
fail:
	http_server_stop(s);
	return rc;
}

int
http_server_port(const struct http_server *s)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	return info != NULL ? (int)info->port : -1;
}

void
http_server_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->log_mtx);
	free(s->cert);
	if (s->key != NULL) {
		explicit_bzero(s->key, strlen(s->key));
		free(s->key);
	}
	free(s);
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

const char *
http_req_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
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

/* Adds the collected headers and queues resp; resp is released either way. */
static int
http_queue(struct http_req *r, int status, const char *content_type, struct MHD_Response *resp)
{
	enum MHD_Result ok = MHD_YES;
	size_t i;

	if (r->queued) {
		MHD_destroy_response(resp);
		return BARGE_EINTERNAL;
	}
	if (content_type != NULL)
		ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (i = 0; i < r->nhdr && ok == MHD_YES; i++)
		ok = MHD_add_response_header(resp, r->hdr[i].name, r->hdr[i].value);
	http_req_reset_headers(r);
	if (ok == MHD_YES)
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
	return http_queue(r, status, content_type, resp);
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
	return http_queue(r, status, content_type, resp);
}
