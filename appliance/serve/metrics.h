/*
 * metrics: barged's counters in the Prometheus text format 0.0.4, for
 * GET /metrics.
 *
 *   barged_build_info{version}                        1
 *   barged_http_requests_total{route,method,status}   counter
 *   barged_http_response_bytes_total{route}           counter, body bytes sent
 *   barged_http_requests_in_flight                    gauge (from http_server)
 *   barged_uploads_active                             gauge, open push sessions
 *   barged_store_blobs, barged_store_bytes            gauge, files under blobs/
 *   barged_store_images, barged_store_repositories    gauge, tags and repositories
 *   barged_imports_total{result}                      counter, bundles found by the
 *                                                     import watcher: ok, failed, skipped
 *
 * Routes and methods are small fixed vocabularies chosen by the caller (the
 * router), so the number of series stays bounded whatever clients send;
 * beyond METRICS_SERIES_MAX series new combinations are counted under
 * route "overflow" (method "", status 0).  The store figures are a snapshot the caller refreshes
 * (metrics_store_scan asks store_stats, which walks the blob tree and counts
 * rows; it is cheap but not free, so the router does it at most every few
 * seconds).
 *
 * Counting is safe from several threads at once.
 */
#ifndef BARGE_METRICS_H
#define BARGE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define METRICS_SERIES_MAX 512
#define METRICS_LABEL_MAX  24 /* longest route or method label kept */

struct metrics;
struct store;

struct metrics_store {
	int64_t blobs;   /* blob files */
	int64_t bytes;   /* their sizes summed */
	int64_t uploads; /* open upload sessions */
	int64_t images;  /* tags, over every repository */
	int64_t repos;   /* repositories */
};

int metrics_new(const char *version, struct metrics **out, struct barge_err *err) BARGE_MUST_CHECK;
void metrics_free(struct metrics *m);

/* Counts one answered request; status 0 means none was sent. */
void metrics_count(struct metrics *m, const char *route, const char *method, int status,
                   uint64_t bytes);
/* Counts one bundle the import watcher took; result is "ok", "failed" or "skipped". */
void metrics_import(struct metrics *m, const char *result);
void metrics_set_store(struct metrics *m, const struct metrics_store *st);
/* The last snapshot given to metrics_set_store (zeros before the first). */
void metrics_get_store(struct metrics *m, struct metrics_store *st);

/*
 * The exposition text, series sorted by their labels.  in_flight < 0 leaves
 * that gauge out.  *out (caller frees) is NUL-terminated.
 */
int metrics_render(struct metrics *m, long in_flight, char **out, size_t *len,
                   struct barge_err *err) BARGE_MUST_CHECK;

/* The store's figures, from store_stats (store.h). */
int metrics_store_scan(struct store *s, struct metrics_store *out,
                       struct barge_err *err) BARGE_MUST_CHECK;

#endif
