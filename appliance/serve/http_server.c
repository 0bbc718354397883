/*
 * http_server: libmicrohttpd behind barged's own request and response
 * calls (http_server.h).  Owns the daemon, its TLS credentials and, per
 * request, the parsed head, the body callbacks and the queued response.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <ctype.h>
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
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http_guard.h"

/* Enough for the registry's handful of headers; a bound all the same. */
#define HTTP_RESP_HEADERS_MAX 32
/*
 * Over TLS libmicrohttpd would otherwise read files in small blocks; 64 KiB
 * keeps blob GETs as fast as 1 MiB did (bench/serve.sh) while 200 concurrent
 * TLS pulls hold 13 MiB of buffers instead of 200 MiB.
 */
#define HTTP_FD_BLOCK (64 * 1024)
/*
 * More threads than cores, on purpose.  libmicrohttpd sends one TLS record
 * (16 KiB) per connection per turn of a thread's event loop, so a thread
 * that serves many busy connections trickles data to each and its clients
 * wake per record; and the scheduler shares the cores per thread, so
 * clients on the same host (bench/serve.sh: 32 curl processes) outnumber
 * 4 server threads.  On 2 cores, 32
 * concurrent TLS blob GETs ran at 0.6-0.7x nginx with 4 threads and
 * 0.9-1.0x with 16; a thread costs about 14 KiB of RSS.
 */
#define HTTP_DEFAULT_THREADS 16
#define HTTP_DEFAULT_CONNS   1024
/*
 * Enough for a node pulling many layers of many images at once (containerd
 * opens a few connections per image), or a handful of nodes behind one NAT
 * address; one address can then hold at most an eighth of the connections.
 */
#define HTTP_DEFAULT_PER_IP  128
#define HTTP_DEFAULT_TIMEOUT 120 /* seconds a connection may stay silent */
/*
 * Seconds for a request head to arrive, counted from the connection's
 * accept or from the end of its previous request.  A client on any working
 * network sends a head in well under a second; 30 s also keeps idle
 * kept-alive connections for as long as most servers do.
 */
#define HTTP_DEFAULT_HEAD_TIMEOUT 30
#define HTTP_DEFAULT_STOP_MS      10000
#define HTTP_OLD_DAEMONS_MAX      8 /* listeners draining after certificate reloads */
/*
 * TLS 1.2 and 1.3 only, AEAD ciphers only (no CBC, no SHA-1 MAC) and ECDHE
 * key exchange only (forward secrecy; no static RSA, no finite-field DHE).
 * The client's order decides among them, as with nginx's default.
 */
#define HTTP_TLS_PRIORITIES                                                                 \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

struct http_server {
	struct MHD_Daemon *d;
	/* Daemons replaced by a certificate reload, finishing their connections. */
	struct MHD_Daemon *old[HTTP_OLD_DAEMONS_MAX];
	size_t nold;
	MHD_socket listen_fd; /* shared by every daemon; closed by us at the end */
	int port;
	int tls;
	http_handler handler;
	void *arg;
	void (*on_complete)(struct http_req *req, int status, uint64_t bytes, void *arg);
	unsigned threads, max_conns, per_ip, timeout, head_timeout, stop_wait_ms;
	/* Kept for the daemon's lifetime, since MHD keeps the pointers. */
	char *cert;
	char *key;
	char *old_cert[HTTP_OLD_DAEMONS_MAX];
	char *old_key[HTTP_OLD_DAEMONS_MAX];
	pthread_mutex_t mtx; /* d, old, cert, key */
	pthread_mutex_t log_mtx;
	char last_error[256];
	unsigned in_flight;       /* requests between their head and their completion; atomic */
	struct http_guard *guard; /* the connections of every daemon */
};

struct http_hdr {
	char *name;
	char *value;
};

enum http_phase {
	HTTP_PHASE_HEAD, /* the first call: the head is here, the body (if any) is not */
	HTTP_PHASE_BODY, /* the body is arriving */
	HTTP_PHASE_END   /* the body (if any) is complete */
};

struct http_req {
	struct http_server *s;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	enum http_phase phase;
	int has_body;
	int64_t content_length;
	uint64_t body_len; /* body bytes received */
	/* A taken body (http_req_accept_body). */
	http_body_cb body_cb;
	http_done_cb done_cb;
	void *body_arg;
	uint64_t body_max;
	int done_called;
	/* A response waiting for the body to be read and dropped. */
	struct MHD_Response *pending;
	int pending_status;
	int status;        /* queued (or held), for on_complete */
	uint64_t resp_len; /* its body length */
	int queued;
	int deferred; /* no body: the handler runs on the last call (keep-alive) */
	int closed;   /* the connection ended: nothing can be queued */
	char remote[INET6_ADDRSTRLEN];
	size_t nhdr;
	struct http_hdr hdr[HTTP_RESP_HEADERS_MAX];
};

struct http_fd_body {
	int fd;
	uint64_t offset;
	uint64_t len;
};

/*
 * libmicrohttpd's diagnostics: kept (the last one) for start-up errors, never
 * printed.  Its formats are libmicrohttpd's own literals.
 */
static void BARGE_PRINTF(2, 0) http_log(void *cls, const char *fmt, va_list ap)
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

/* Whether conn now waits for a request head (after a request) or not (its head is here). */
static void
http_conn_wait(struct http_server *s, struct MHD_Connection *conn, int waiting)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info != NULL)
		http_guard_wait(s->guard, info->socket_context, waiting);
}

/*
 * A connection opens or closes: the guard learns of it.  libmicrohttpd
 * tells of a close before it closes the socket, as the guard needs.
 */
static void
http_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *info;
	struct http_server *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		http_guard_close(s->guard, *socket_context);
		*socket_context = NULL;
		return;
	}
	/* Unguarded (out of memory), a connection still has conn_timeout and max_conns. */
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info != NULL)
		*socket_context = http_guard_open(s->guard, info->connect_fd);
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
static void *
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

static enum MHD_Result
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

/*
 * Starts a daemon with cert/key (NULL for plain HTTP) on the bound socket
 * fd, or binds sa / port itself when fd is MHD_INVALID_SOCKET.
 */
static struct MHD_Daemon *
http_daemon(struct http_server *s, MHD_socket fd, const struct sockaddr_storage *sa, int any,
            uint16_t port, const char *cert, const char *key)
{
	struct MHD_OptionItem opts[16]; /* at most 14 are filled in below */
	struct MHD_Daemon *d;
	unsigned int flags;
	size_t n = 0;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_log, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, s->threads, NULL };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_HEAD_MAX, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, s->timeout, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, s->max_conns, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_ip, NULL };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
		                             (intptr_t)http_notify_conn, s };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)http_uri_check, s };
	if (cert != NULL) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
			                             (void *)HTTP_TLS_PRIORITIES };
	}
	if (fd != MHD_INVALID_SOCKET) {
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	} else if (any) {
		flags |= MHD_USE_DUAL_STACK;
	} else {
		if (sa->ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)sa };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	d = MHD_start_daemon(flags, port, NULL, NULL, http_access, s, MHD_OPTION_ARRAY, opts,
	                     MHD_OPTION_END);
	if (d == NULL && any && fd == MHD_INVALID_SOCKET) {
		/* A host without IPv6 still serves IPv4 on ":PORT". */
		flags &= ~(unsigned int)MHD_USE_DUAL_STACK;
		d = MHD_start_daemon(flags, port, NULL, NULL, http_access, s, MHD_OPTION_ARRAY,
		                     opts, MHD_OPTION_END);
	}
	return d;
}

static char *
http_strdup_secret(const char *pem)
{
	return pem != NULL ? strdup(pem) : NULL;
}

static void
http_free_secret(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

int
http_server_start(const struct http_server_opts *o, struct http_server **out, struct barge_err *err)
{
	const union MHD_DaemonInfo *info;
	struct http_server *s = NULL;
	struct sockaddr_storage sa;
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
	pthread_mutex_init(&s->mtx, NULL);
	s->listen_fd = MHD_INVALID_SOCKET;
	s->handler = o->handler;
	s->arg = o->arg;
	s->on_complete = o->on_complete;
	s->threads = o->threads ? o->threads : HTTP_DEFAULT_THREADS;
	s->max_conns = o->max_conns ? o->max_conns : HTTP_DEFAULT_CONNS;
	s->per_ip = o->per_ip_conns ? o->per_ip_conns : HTTP_DEFAULT_PER_IP;
	s->timeout = o->conn_timeout ? o->conn_timeout : HTTP_DEFAULT_TIMEOUT;
	s->head_timeout = o->head_timeout ? o->head_timeout : HTTP_DEFAULT_HEAD_TIMEOUT;
	s->stop_wait_ms = o->stop_wait_ms ? o->stop_wait_ms : HTTP_DEFAULT_STOP_MS;
	s->tls = o->cert_pem != NULL;
	if (s->tls && ((s->cert = http_strdup_secret(o->cert_pem)) == NULL ||
	               (s->key = http_strdup_secret(o->key_pem)) == NULL)) {
		rc = err_set(err, BARGE_ENOMEM, "http server: out of memory");
		goto fail;
	}
	/*
	 * libmicrohttpd stops accepting at max_conns, and clients that never
	 * finish a head would then keep every new client in the kernel's
	 * backlog: past 7/8 of it, new connections push out waiting ones.
	 */
	if ((rc = http_guard_new(s->head_timeout, s->max_conns - s->max_conns / 8, &s->guard,
	                         err)) != BARGE_OK)
		goto fail;
	s->d = http_daemon(s, MHD_INVALID_SOCKET, &sa, any, port, s->cert, s->key);
	if (s->d == NULL) {
		rc = err_set(err, BARGE_EIO, "cannot serve on %s: %s", o->listen,
		             s->last_error[0] ? s->last_error : "libmicrohttpd refused to start");
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_LISTEN_FD);
	s->listen_fd = info != NULL ? info->listen_fd : MHD_INVALID_SOCKET;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? (int)info->port : -1;
	*out = s;
	return BARGE_OK;
fail:
	http_server_stop(s);
	return rc;
}

int
http_server_port(const struct http_server *s)
{
	return s->port;
}

unsigned
http_server_in_flight(struct http_server *s)
{
	return __atomic_load_n(&s->in_flight, __ATOMIC_SEQ_CST);
}

/* Whether d still has connections open. */
static int
http_daemon_busy(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info == NULL || info->num_connections > 0;
}

/* Stops the replaced daemons that have no connection left (all of them if force). */
static void
http_reap_old(struct http_server *s, int force)
{
	size_t i = 0;

	while (i < s->nold) {
		if (!force && http_daemon_busy(s->old[i])) {
			i++;
			continue;
		}
		MHD_stop_daemon(s->old[i]);
		free(s->old_cert[i]);
		http_free_secret(s->old_key[i]);
		s->nold--;
		s->old[i] = s->old[s->nold];
		s->old_cert[i] = s->old_cert[s->nold];
		s->old_key[i] = s->old_key[s->nold];
	}
}

void
http_server_stop(struct http_server *s)
{
	unsigned waited = 0;
	size_t i;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	if (s->d != NULL) {
		/*
		 * No new connections; requests in flight (an upload chunk, a
		 * blob) get a bounded time to finish before connections close.
		 */
		(void)MHD_quiesce_daemon(s->d);
		for (i = 0; i < s->nold; i++)
			(void)MHD_quiesce_daemon(s->old[i]);
		while (http_server_in_flight(s) > 0 && waited < s->stop_wait_ms) {
			usleep(10 * 1000);
			waited += 10;
		}
		http_reap_old(s, 1);
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
	if (s->listen_fd != MHD_INVALID_SOCKET)
		close(s->listen_fd);
	pthread_mutex_unlock(&s->mtx);
	/* Every connection is closed by now. */
	http_guard_free(s->guard);
	pthread_mutex_destroy(&s->mtx);
	pthread_mutex_destroy(&s->log_mtx);
	free(s->cert);
	http_free_secret(s->key);
	free(s);
}

/* Whether cert_pem's first certificate and key_pem's key parse and belong together. */
static int
http_check_pair(const char *cert_pem, const char *key_pem, struct barge_err *err)
{
	BIO *cb = NULL, *kb = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	int rc = BARGE_OK;

	cb = BIO_new_mem_buf(cert_pem, -1);
	kb = BIO_new_mem_buf(key_pem, -1);
	if (cb == NULL || kb == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "certificate: no PEM certificate");
		goto out;
	}
	if ((pkey = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "certificate: no PEM private key");
		goto out;
	}
	if (X509_check_private_key(x, pkey) != 1)
		rc = err_set(err, BARGE_EINVAL, "certificate: the key does not match it");
out:
	X509_free(x);
	EVP_PKEY_free(pkey);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

/*
 * libmicrohttpd cannot swap a certificate in a running daemon without
 * calling into GnuTLS, which barged does not link; instead a new daemon
 * takes over the listening socket (MHD_quiesce_daemon keeps it open) and
 * the old one finishes its connections before it is stopped.
 */
int
http_server_set_cert(struct http_server *s, const char *cert_pem, const char *key_pem,
                     struct barge_err *err)
{
	struct MHD_Daemon *d = NULL;
	char *cert = NULL, *key = NULL;
	int rc;

	if (!s->tls)
		return err_set(err, BARGE_EINVAL, "http server: plain HTTP has no certificate");
	if ((rc = http_check_pair(cert_pem, key_pem, err)) != BARGE_OK)
		return rc;
	if ((cert = strdup(cert_pem)) == NULL || (key = strdup(key_pem)) == NULL) {
		free(cert);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&s->mtx);
	http_reap_old(s, 0);
	if (s->nold == HTTP_OLD_DAEMONS_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "http server: too many reloads still draining");
		goto fail;
	}
	if (MHD_quiesce_daemon(s->d) == MHD_INVALID_SOCKET) {
		rc = err_set(err, BARGE_EINTERNAL, "http server: cannot hand over the listener");
		goto fail;
	}
	d = http_daemon(s, s->listen_fd, NULL, 0, 0, cert, key);
	if (d == NULL) {
		/* Keep serving with what worked: a listener with the old pair. */
		rc = err_set(err, BARGE_EIO, "http server: new certificate refused: %s",
		             s->last_error);
		d = http_daemon(s, s->listen_fd, NULL, 0, 0, s->cert, s->key);
		if (d == NULL) {
			err_prefix(err, "and the old one can not serve again either");
			goto fail;
		}
		s->old[s->nold] = s->d;
		s->old_cert[s->nold] = NULL;
		s->old_key[s->nold] = NULL;
		s->nold++;
		s->d = d;
		goto fail;
	}
	s->old[s->nold] = s->d;
	s->old_cert[s->nold] = s->cert;
	s->old_key[s->nold] = s->key;
	s->nold++;
	s->d = d;
	s->cert = cert;
	s->key = key;
	pthread_mutex_unlock(&s->mtx);
	return BARGE_OK;
fail:
	pthread_mutex_unlock(&s->mtx);
	free(cert);
	http_free_secret(key);
	return rc;
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
