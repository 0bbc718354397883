/*
 * http_guard: the connections of the HTTP server seen as sockets, and
 * which of them wait for a request head (a new connection, or a kept-alive
 * one between requests).  It gives that wait a deadline, however steadily
 * the bytes trickle in, and lets new connections push out the oldest
 * waiting one when the server fills up, so clients that never finish a
 * head cannot keep new clients out.  It knows no HTTP library: the server
 * tells it when connections open, close and finish their heads.
 *
 * A connection is ended by shutting its socket down, which its server
 * thread reads as the client's close; the socket must therefore stay open
 * until http_guard_close returns.  Every call is thread-safe.
 */
#ifndef BARGE_HTTP_GUARD_H
#define BARGE_HTTP_GUARD_H

#include "err.h"

struct http_guard;
struct http_guard_conn;

/*
 * Starts the thread that ends connections waiting longer than head_timeout
 * seconds.  Once more than evict_at connections are open, each new one
 * ends the connection that has waited longest.
 */
int http_guard_new(unsigned head_timeout, unsigned evict_at, struct http_guard **out,
                   struct barge_err *err) BARGE_MUST_CHECK;
/* Stops the thread; every connection must be closed by then.  Accepts NULL. */
void http_guard_free(struct http_guard *g);

/* A connection on socket fd opens, waiting for its head.  NULL when out of memory. */
struct http_guard_conn *http_guard_open(struct http_guard *g, int fd);
/* Its head has arrived (waiting 0), or it waits for the next one (1).  Accepts NULL c. */
void http_guard_wait(struct http_guard *g, struct http_guard_conn *c, int waiting);
/* Before its socket is closed; frees c.  Accepts NULL c. */
void http_guard_close(struct http_guard *g, struct http_guard_conn *c);

#endif
