/*
 * metrics: barged's counters in the Prometheus text format 0.0.4, for
 * GET /metrics.
 *
 *   barged_build_info{version}                        1
 *   barged_http_requests_total{route,method,status}   counter
 *   barged_http_response_bytes_total{route}           counter, body bytes sent
 *   barged_http_request_duration_seconds{route}       histogram, head to last byte
 *   barged_http_requests_in_flight                    gauge (from http_server)
 *   barged_uploads_active                             gauge, open push sessions
 *   barged_store_blobs, barged_store_bytes            gauge, files under blobs/
 *   barged_store_tags, barged_store_repositories      gauge, tags and repositories
 *   barged_imports_total{result}                      counter, bundles found by the
 *                                                     import watcher: ok, failed, skipped
 *   barged_bundle_loads_total{source,result}          counter, loads by barged serve:
 *                                                     source upload or import, ok or failed
 *   barged_webhook_reviews_total{decision,reason}     counter, swapped or left, and why
 *   barged_upstream_errors_total                      counter, 0 until a pull-through
 *                                                     cache asks upstream registries
 *   process_*                                         this process, from /proc/self
 *
 * Routes, methods, sources and webhook reasons are small fixed vocabularies
 * chosen by the callers (router, upload, import), so the number of series
 * stays bounded whatever clients send; beyond METRICS_SERIES_MAX request
 * series new combinations are counted under route "overflow" (method "",
 * status 0), and likewise beyond METRICS_ROUTES_MAX histograms and
 * METRICS_WEBHOOK_MAX webhook series.  The store figures are a snapshot the
 * caller refreshes (metrics_store_scan asks store_stats, which walks the
 * blob tree and counts rows; it is cheap but not free, so the router does
 * it at most every few seconds).
 *
 * Counting is safe from several threads at once.
 */
#ifndef BARGE_METRICS_H
#define BARGE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define METRICS_SERIES_MAX  512
#define METRICS_ROUTES_MAX  32 /* latency histograms, one per route */
#define METRICS_WEBHOOK_MAX 32 /* webhook decision and reason pairs */
#define METRICS_LABEL_MAX   24 /* longest route, method or reason label kept */

/*
 * The latency buckets' upper bounds in seconds, from a cached manifest
 * (well under a millisecond) to a blob of gigabytes; +Inf follows them.
 */
#define METRICS_BUCKETS                                                                         \
	{                                                                                       \
		0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, \
		        30, 60, 300                                                             \
	}
#define METRICS_NBUCKETS 17

struct metrics;
struct store;

struct metrics_store {
	int64_t blobs;   /* blob files */
	int64_t bytes;   /* their sizes summed */
	int64_t uploads; /* open upload sessions */
	int64_t tags;    /* tags, over every repository */
	int64_t repos;   /* repositories */
};

/* The process figures Prometheus' client libraries call process_*. */
struct metrics_process {
	int64_t rss_bytes;    /* resident set size */
	double cpu_seconds;   /* user and system time */
	int64_t open_fds;     /* entries of /proc/self/fd */
	int64_t max_fds;      /* RLIMIT_NOFILE, soft */
	double start_seconds; /* start time, Unix seconds */
};

int metrics_new(const char *version, struct metrics **out, struct barge_err *err) BARGE_MUST_CHECK;
void metrics_free(struct metrics *m);

/*
 * Counts one answered request that took seconds from its head to its
 * completion; status 0 means none was sent.
 */
void metrics_count(struct metrics *m, const char *route, const char *method, int status,
                   uint64_t bytes, double seconds);
/*
 * Counts one bundle the import watcher took; result is "ok", "failed" or
 * "skipped".  ok and failed are loads, counted as metrics_load does.
 */
void metrics_import(struct metrics *m, const char *result);
/* Counts one bundle load by barged serve: source "upload" or "import". */
void metrics_load(struct metrics *m, const char *source, int ok);
/* Counts one webhook review: decision "swapped", "left" or "error", and why. */
void metrics_webhook(struct metrics *m, const char *decision, const char *reason);
void metrics_set_store(struct metrics *m, const struct metrics_store *st);
struct proxy;
/* The pull-through cache whose counters are rendered (borrowed; NULL: none). */
void metrics_set_proxy(struct metrics *m, struct proxy *p);
/* The last snapshot given to metrics_set_store (zeros before the first). */
void metrics_get_store(struct metrics *m, struct metrics_store *st);

/*
 * The exposition text, series sorted by their labels.  in_flight < 0 leaves
 * that gauge out, and proc NULL the process_* families.  *out (caller
 * frees) is NUL-terminated.
 */
int metrics_render(struct metrics *m, long in_flight, const struct metrics_process *proc,
                   char **out, size_t *len, struct barge_err *err) BARGE_MUST_CHECK;

/* This process's figures, from /proc/self (stat, statm, fd) and /proc/stat. */
int metrics_process_read(struct metrics_process *out, struct barge_err *err) BARGE_MUST_CHECK;

/* The store's figures, from store_stats (store.h). */
int metrics_store_scan(struct store *s, struct metrics_store *out,
                       struct barge_err *err) BARGE_MUST_CHECK;

#endif
