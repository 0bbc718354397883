/*
 * upload: PUT (or POST) /api/v1/bundles, a bundle in the request body
 * loaded straight into the store, without a copy on disk.
 *
 * The body's pieces go into a pipe as they arrive; a loader thread reads
 * the other end as one stream, as `barged load -` reads standard input.
 * When the pipe is full the body callback blocks in its server thread
 * until the loader has taken more, so memory stays bounded whatever the
 * bundle's size.  The loader's own guarantees hold (loader.h): nothing of
 * a bundle that fails is visible, and it takes the GC lock itself.
 *
 * One upload at a time: a second one while the first runs is answered
 * 409 at once.  Answers are JSON:
 *   200 {"status":"loaded", name, version, digest, images, tags,
 *        blobs_new, blobs_present, bytes, bytes_new, reloaded, seconds}
 *   400 the bundle was refused: {"status":"failed","error":MSG,"kind":...}
 *   413 the body is larger than the configured maximum
 *   507 the store's disk has no room for the bundle
 *   409 another upload is running; 500 anything else
 * A client that goes away mid-body leaves the store as it was.
 *
 * Authorization is the router's business: it calls upload_handle only for
 * admin.  The upload borrows its options' loader policy; it must outlive
 * the upload, and the upload must outlive the server (free after stop).
 */
#ifndef BARGE_UPLOAD_H
#define BARGE_UPLOAD_H

#include <stdint.h>

#include "err.h"
#include "http_server.h"

struct loader_opts;
struct metrics;

/* 1 TiB: far over any real bundle, so only a runaway client meets it. */
#define UPLOAD_MAX_DEFAULT ((uint64_t)1 << 40)

struct upload_opts {
	const char *data_dir;
	const struct loader_opts *load; /* signature policy; NULL: defaults */
	uint64_t max_size;              /* body bytes at most; 0: UPLOAD_MAX_DEFAULT */
	struct metrics *metrics;        /* counts each load, ok or failed; NULL: none */
	/* Each told one line per upload's outcome; NULL: nobody.  From server threads. */
	void (*log_error)(const char *msg);
	void (*log_warn)(const char *msg);
	void (*log_info)(const char *msg);
};

struct upload;

int upload_new(const struct upload_opts *o, struct upload **out,
               struct barge_err *err) BARGE_MUST_CHECK;
/* Accepts NULL.  Only once no upload runs (after http_server_stop). */
void upload_free(struct upload *u);

/*
 * Tells fn(arg, "load", summary, detail) each upload's outcome from now on
 * (the admin API's event ring, api_events.h).  Before the server starts.
 */
void upload_on_result(struct upload *u,
                      void (*fn)(void *arg, const char *kind, const char *summary,
                                 const char *detail),
                      void *arg);

/* Takes req's body and answers it (see above).  From the server's handler. */
void upload_handle(struct upload *u, struct http_req *req);

/*
 * Parses a size: plain bytes, or a number with K, M, G or T (powers of
 * 1024, an optional "iB" or "B" after it).  BARGE_EINVAL for anything
 * else, 0, or more than 2^63-1 bytes.
 */
int upload_parse_size(const char *s, uint64_t *out, struct barge_err *err) BARGE_MUST_CHECK;

/* The HTTP status for a loader error (400, 507 or 500). */
int upload_status(int rc, const struct barge_err *err);

#endif
