/*
 * api_sync: GET /api/v1/sync, what this barged holds, for `barged sync
 * --from` on another node (docs/proxy.md).  Read-only; the router
 * authorizes it as a pull of the catalog.
 *
 * The answer is the listing appliance/load/sync.h describes (newline-
 * delimited JSON, application/x-ndjson), which `barged sync` reads.
 * The listing is one read snapshot of the store, written to an unnamed
 * scratch file in the data directory (fu_scratch) and streamed from there, so its size costs disk,
 * not memory, and the snapshot ends before the first byte is sent.
 */
#ifndef BARGE_API_SYNC_H
#define BARGE_API_SYNC_H

#include "err.h"
#include "sync.h" /* the format: SYNC_LINE_MAX */

struct http_req;
struct store;

/* Writes the listing of s to fd.  project: the mirror project (router_opts). */
int api_sync_write(struct store *s, const char *project, int fd,
                   struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Answers req (GET or HEAD, already authorized) with the listing of the
 * store at data_dir; 500 with err filled when it cannot.  Returns the
 * failure for the router's log, after answering.
 */
int api_sync_handle(const char *data_dir, const char *project, struct http_req *req,
                    struct barge_err *err) BARGE_MUST_CHECK;

#endif
