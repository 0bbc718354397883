/*
 * http_server: the HTTP(S) server barged speaks through.  It is the only
 * module that includes microhttpd.h; everything else sees requests and
 * responses through the calls below.
 *
 * The handler runs on a server thread, once per request, after the request
 * head has arrived, and must queue exactly one response (http_respond_*)
 * before it returns.  Bounds: request heads are limited by the server
 * (HTTP_HEAD_MAX), URLs by HTTP_URL_MAX.
 */
#ifndef BARGE_HTTP_SERVER_H
#define BARGE_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define HTTP_HEAD_MAX (64 * 1024)
#define HTTP_URL_MAX  8192

struct http_server;
struct http_req;

typedef void (*http_handler)(struct http_req *req, void *arg);

struct http_server_opts {
	const char *listen;   /* "ADDR:PORT", "[ADDR]:PORT" or ":PORT" (all addresses) */
	const char *cert_pem; /* server certificate chain, PEM text; NULL for plain HTTP */
	const char *key_pem;  /* its private key, PEM text */
	unsigned threads;     /* worker threads; 0 means a default */
	http_handler handler;
	void *arg;
	/*
	 * Called once per request after its response is sent or abandoned,
	 * with the status queued (0 if none) and the body bytes sent: for
	 * metrics and the access log.  May be NULL.
	 */
	void (*on_complete)(struct http_req *req, int status, uint64_t bytes, void *arg);
};

/* Binds and starts serving on background threads. */
int http_server_start(const struct http_server_opts *o, struct http_server **out,
                      struct barge_err *err) BARGE_MUST_CHECK;
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);
/* Stops serving, waits for in-flight requests, frees s.  Accepts NULL. */
void http_server_stop(struct http_server *s);

/* --- request --------------------------------------------------------------- */

const char *http_req_method(const struct http_req *r);
/* The path, percent-decoded, without the query string. */
const char *http_req_path(const struct http_req *r);
/* A query argument, or NULL. */
const char *http_req_query(const struct http_req *r, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);

/* --- response -------------------------------------------------------------- */

/* Adds a header to the response about to be queued.  Copies both strings. */
int http_resp_header(struct http_req *r, const char *name, const char *value);

/* Queues status with a body copied from buf (HEAD requests send only the headers). */
int http_respond_buf(struct http_req *r, int status, const char *content_type, const void *buf,
                     size_t len);
/*
 * Queues status with len bytes of fd from offset as the body, streamed in
 * large blocks.  Takes ownership of fd (closed when done or on failure).
 */
int http_respond_fd(struct http_req *r, int status, const char *content_type, int fd,
                    uint64_t offset, uint64_t len);

#endif
