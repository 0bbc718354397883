/*
 * proxy_int: what the files of the proxy library share (nothing outside
 * appliance/proxy includes it).
 *
 *   proxy.c           the handle: upstreams, peers, routing, back-off,
 *                     counters, log lines
 *   proxy_manifest.c  manifests: local first, revalidation, fetch, store
 *   proxy_blob.c      blobs: flights (one thread and one store writer per
 *                     missing blob) and the readers that tail them
 *
 * struct proxy owns everything below; a flight is shared by its thread
 * and its readers and freed by the last one to let go (refs, under mtx).
 */
#ifndef BARGE_PROXY_INT_H
#define BARGE_PROXY_INT_H

#include <pthread.h>
#include <stdint.h>

#include "proxy.h"

#define PROXY_REPO_MAX     512 /* longest repository name (REGISTRY_NAME_MAX) */
#define PROXY_PEERS_MAX    64
#define PROXY_FETCH_MS     30000 /* the head of a cold fetch from an upstream */
#define PROXY_DNS_EVERY_MS 30000 /* peer_dns resolved again */
#define PROXY_FLIGHTS_MAX  256   /* blobs and manifests being fetched at once */
#define PROXY_KEY_MAX      (PROXY_REPO_MAX + 200)

#define PROXY_SRC_STRS 7 /* the strings of an upstream_opts */

/* A source: an upstream registry or a peer, with its state and counters (atomics). */
struct proxy_src {
	struct upstream_opts opts; /* its strings are own[] */
	char *own[PROXY_SRC_STRS];
	char *name;         /* "docker.io"; a peer's URL */
	char *segment;      /* the repository segment it owns ("127.0.0.1_5000"); NULL for peers */
	struct upstream *u; /* opened by proxy_ready */
	int peer;
	int64_t down_until; /* monotonic ms: backing off until then */
	uint64_t req[PROXY_NRESULTS], bytes, errors;
};

struct proxy_flight {
	char key[PROXY_KEY_MAX];
	int refs;
	int done; /* manifests: fetched (or failed); blobs: committed or failed */
	int rc;   /* BARGE_OK once done and good */
	struct barge_err err;
	/* Blobs only. */
	struct proxy *p; /* the owner, for the flight's thread */
	char digest[DIGEST_STR_MAX];
	int started; /* the source answered: size is known, the thread runs */
	struct proxy_src *src;
	struct upstream_body *body;  /* the flight thread's */
	struct store *store;         /* the flight thread's own handle */
	struct store_blob_writer *w; /* the flight thread's */
	int fd;                      /* a reading descriptor on the writer's file */
	int64_t size;                /* -1: unknown */
	int64_t written;             /* bytes in the file */
	int verified;                /* all of them, their digest checked: readers may end */
	struct proxy_flight *next;   /* in p->flights while it is being fetched */
};

struct proxy {
	const struct upstream_ops *ops; /* NULL until proxy_ready; then set for good */
	char *data_dir, *project;
	struct proxy_src *srcs; /* upstreams */
	size_t nsrcs;
	struct proxy_src peers[PROXY_PEERS_MAX]; /* static ones first, then found by DNS */
	size_t npeers;                           /* under mtx */
	struct proxy_src peerstat;               /* the counters of every peer, as "peer" */
	char *peer_dns;
	int peer_https;
	int64_t dns_at;
	int revalidate_ms, backoff_ms, peer_timeout_ms;
	int64_t max_size;
	int evicting; /* under mtx */
	void (*log_info)(const char *msg);
	void (*log_warn)(const char *msg);
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct proxy_flight *flights; /* being fetched */
	unsigned nflights, nthreads;  /* flights in p->flights; flight threads running */
	int stopping;
};

int64_t proxy_now_ms(void);
/* Loads the upstream module and opens the sources, on the first request that needs them. */
int proxy_ready(struct proxy *p, struct barge_err *err) BARGE_MUST_CHECK;
/* The upstream that repo belongs to, and the path there; NULL when none. */
struct proxy_src *proxy_route(struct proxy *p, const char *repo, const char **path);
/* The peers to ask now (a snapshot, refreshed from DNS now and then); returns how many. */
size_t proxy_peers(struct proxy *p, struct proxy_src **out, size_t max);
void proxy_count(struct proxy_src *src, enum proxy_result r);
int proxy_is_down(struct proxy_src *src);
/* An upstream failure: counted, logged, and the source backs off. */
void proxy_failed(struct proxy *p, struct proxy_src *src, const char *what,
                  const struct barge_err *err);
void proxy_info(struct proxy *p, const char *fmt, ...) BARGE_PRINTF(2, 3);
void proxy_warn(struct proxy *p, const char *fmt, ...) BARGE_PRINTF(2, 3);
/* Evicts proxied content past max_size on s, once at a time. */
void proxy_evict(struct proxy *p, struct store *s);

/*
 * The flight of key, a reference taken; or a new one (*made = 1, one
 * reference: its maker's) that others will find until proxy_flight_end.
 * NULL when PROXY_FLIGHTS_MAX are under way.  Under p->mtx.
 */
struct proxy_flight *proxy_flight_get(struct proxy *p, const char *key, int *made);
/* The flight is over (rc, err): waiters wake, new requests go to the store.  Takes p->mtx. */
void proxy_flight_end(struct proxy *p, struct proxy_flight *f, int rc, const struct barge_err *err);
/* Drops a reference; frees the flight at the last.  Under p->mtx. */
void proxy_flight_unref(struct proxy *p, struct proxy_flight *f);

#endif
