/*
 * http_server_int: the insides of the HTTP server (http_server.h), shared
 * by its files and by nothing else (scripts/check-layers refuses any other
 * includer, and any other file of barged that includes microhttpd.h).
 *
 *   http_server.c  the daemons: start, stop, the listening socket, the
 *                  certificate reload, libmicrohttpd's log and connection
 *                  notices
 *   http_req.c     one request: libmicrohttpd's access handler, the
 *                  body's delivery to the handler, the completion, and
 *                  the calls that read the request
 *   http_resp.c    one response: headers, queueing or holding it, and
 *                  bodies from a buffer or a file
 *
 * struct http_server owns the daemons, the listening socket and the TLS
 * credentials; a struct http_req, made at a request's head and freed at its
 * completion (http_completed), owns the response headers and a held response.
 */
#ifndef BARGE_HTTP_SERVER_INT_H
#define BARGE_HTTP_SERVER_INT_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "http_guard.h"
#include "http_server.h"

/* Enough for the registry's handful of headers; a bound all the same. */
#define HTTP_RESP_HEADERS_MAX 32
#define HTTP_OLD_DAEMONS_MAX  8 /* listeners draining after certificate reloads */

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

/* --- http_req.c: libmicrohttpd's callbacks for a request ------------------- */

/* MHD_OPTION_URI_LOG_CALLBACK: refuses a path holding a control character. */
void *http_uri_check(void *cls, const char *uri, struct MHD_Connection *conn);
/* The access handler: every call for a request, from its head to its end. */
enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **req_cls);
/* MHD_OPTION_NOTIFY_COMPLETED: the request is over; frees it. */
void http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                    enum MHD_RequestTerminationCode toe);

/* --- http_resp.c ------------------------------------------------------------- */

/* Frees the response headers collected so far. */
void http_req_reset_headers(struct http_req *r);

#endif
