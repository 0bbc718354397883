/*
 * http_server: the HTTP(S) server barged speaks through.  It is the only
 * module that includes microhttpd.h: its files, appliance/serve/http_*.c
 * and their private http_server_int.h, may, and no other file may
 * (scripts/check-layers); everything else sees requests and responses
 * through the calls below.
 *
 * The handler runs on a server thread, once per request, as soon as the
 * request head has arrived.  Before it returns it must either queue exactly
 * one response (http_respond_*), or take the body with
 * http_req_accept_body and queue the response from that call's done
 * callback.  A response queued at head time on a request that carries a
 * body is held until the body has been read and dropped (at most
 * HTTP_BODY_DISCARD_MAX bytes); a larger announced body is not read: the
 * answer goes out at once and the connection is closed after it, which is
 * what a client waiting on "Expect: 100-continue" wants.
 *
 * Bounds: request heads are limited by the server (HTTP_HEAD_MAX), URLs by
 * HTTP_URL_MAX, bodies by what the handler passes to http_req_accept_body.
 * Connections are capped (max_conns, and per_ip_conns from one client
 * address) and closed after conn_timeout seconds without traffic, so a
 * slow client holds one connection and no thread.  A connection waiting
 * for a request head (a new one, or a kept-alive one between requests) is
 * closed head_timeout seconds after it began to wait, however steadily the
 * bytes trickle in; and once 7/8 of max_conns are open, each new
 * connection closes the one that has waited longest for its head, so that
 * clients which never finish a head cannot keep new clients out.
 *
 * Requests the server refuses by itself, before the handler sees them,
 * get 400 with an OCI error body and the connection closed: a path that
 * decodes to a control character (a %00 would otherwise cut it short), or
 * both Content-Length and Transfer-Encoding (RFC 9112 section 6.3: where
 * the body ends is in doubt, so the connection ends with the answer).
 *
 * TLS speaks 1.2 and 1.3 only, with AEAD ciphers and ECDHE key exchange
 * only.  Blob bodies go out with sendfile(2) over plain HTTP and in 64 KiB
 * blocks over TLS.
 */
#ifndef BARGE_HTTP_SERVER_H
#define BARGE_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define HTTP_HEAD_MAX (64 * 1024)
#define HTTP_URL_MAX  8192
/* Body read and dropped when a handler answers without taking the body. */
#define HTTP_BODY_DISCARD_MAX (1024 * 1024)

struct http_server;
struct http_req;

typedef void (*http_handler)(struct http_req *req, void *arg);

struct http_server_opts {
	const char *listen;   /* "ADDR:PORT", "[ADDR]:PORT" or ":PORT" (all addresses) */
	const char *cert_pem; /* server certificate chain, PEM text; NULL for plain HTTP */
	const char *key_pem;  /* its private key, PEM text */
	unsigned threads;     /* worker threads; 0 means a default (16) */
	http_handler handler;
	void *arg;
	/*
	 * Called once per request after its response is sent or abandoned,
	 * with the status queued (0 if none) and the body bytes sent: for
	 * metrics and the access log.  May be NULL.
	 */
	void (*on_complete)(struct http_req *req, int status, uint64_t bytes, void *arg);
	unsigned max_conns;    /* open connections at most; 0 means a default (1024) */
	unsigned per_ip_conns; /* open connections from one client address; 0: 128 */
	unsigned conn_timeout; /* seconds a connection may stay silent; 0: 120 */
	unsigned head_timeout; /* seconds a request head may take to arrive; 0: 30 */
	unsigned stop_wait_ms; /* how long http_server_stop waits for requests; 0: 10000 */
};

/* Binds and starts serving on background threads. */
int http_server_start(const struct http_server_opts *o, struct http_server **out,
                      struct barge_err *err) BARGE_MUST_CHECK;
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);
/*
 * Stops accepting connections, waits (up to stop_wait_ms) for requests in
 * flight to finish, then closes every connection and frees s.  Requests
 * still running then see their body's done callback with BARGE_EIO.
 * Accepts NULL.
 */
void http_server_stop(struct http_server *s);
/*
 * Replaces the TLS certificate and key (PEM text) of a TLS server, for a
 * SIGHUP reload: the pair is checked first, then a new listener on the same
 * socket takes new connections with it while connections already open
 * finish on the old one.  Any thread may call it; calls are serialised.
 * On failure the old certificate stays in use.
 */
int http_server_set_cert(struct http_server *s, const char *cert_pem, const char *key_pem,
                         struct barge_err *err) BARGE_MUST_CHECK;
/* Requests being handled right now (for metrics). */
unsigned http_server_in_flight(struct http_server *s);

/* --- request --------------------------------------------------------------- */

const char *http_req_method(const struct http_req *r);
/* The path, percent-decoded, without the query string. */
const char *http_req_path(const struct http_req *r);
/* A query argument, or NULL.  Of a repeated argument, the first. */
const char *http_req_query(const struct http_req *r, const char *name);
/*
 * Calls fn with each value of the query argument name, in the order sent
 * ("?name" without "=" gives ""), until fn returns non-zero, whose value
 * is then returned; 0 when fn saw every value.
 */
int http_req_query_each(const struct http_req *r, const char *name,
                        int (*fn)(const char *value, void *arg), void *arg);
/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
/* The client's address, numeric ("192.0.2.1", "2001:db8::1"); "" if unknown. */
const char *http_req_remote_addr(struct http_req *r);
/* Whether the request carries a body (a Content-Length above 0, or chunked). */
int http_req_has_body(const struct http_req *r);
/* The announced Content-Length, or -1 when there is none or it is not a number. */
int64_t http_req_content_length(const struct http_req *r);
/*
 * The value of a Content-Length header (NULL when absent) as the server
 * reads it: a plain decimal number, leading zeros allowed, of at most
 * INT64_MAX; anything else (a sign, spaces, a second number, overflow) is
 * -1, "not a number".  Pure: exposed for the fuzzing harness.
 */
int64_t http_parse_length(const char *cl);

/*
 * Called with each piece of the body as it arrives; non-zero (a BARGE_E*
 * code) stops the body: the rest is dropped and done runs with that code.
 */
typedef int (*http_body_cb)(struct http_req *req, const void *buf, size_t len, void *arg);
/*
 * Called exactly once after a successful http_req_accept_body: with
 * BARGE_OK when the whole body has arrived, the body callback's code when
 * it stopped, BARGE_ELIMIT when the body exceeded max, or BARGE_EIO when
 * the connection ended first (then no response can be sent; free state
 * only).  Must queue the response unless rc is BARGE_EIO.  After the body
 * callback stopped, the rest of the body (up to max) is read and dropped
 * and the response goes out at its end.
 */
typedef void (*http_done_cb)(struct http_req *req, int rc, void *arg);

/*
 * Only from the handler, in place of a response: streams the body to body
 * and calls done at its end.  BARGE_ELIMIT (nothing taken; answer 413) when
 * the announced length exceeds max.
 */
int http_req_accept_body(struct http_req *r, uint64_t max, http_body_cb body, http_done_cb done,
                         void *arg) BARGE_MUST_CHECK;

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

/*
 * Reads up to max bytes of a streamed body at offset pos (from 0, in order)
 * into buf: returns how many (> 0), 0 at the end, or -1 when the body
 * failed: the connection is then closed, cutting the response short.  It
 * may block until bytes arrive.
 */
typedef long (*http_reader)(void *arg, uint64_t pos, char *buf, size_t max);
/*
 * Queues status with a body produced by read (len bytes; len < 0: unknown,
 * sent chunked), in blocks of up to 64 KiB.  done(arg) runs once the
 * response is over (or could not be queued).  Takes ownership of arg.
 */
int http_respond_reader(struct http_req *r, int status, const char *content_type, int64_t len,
                        http_reader read, void (*done)(void *arg), void *arg);

#endif
