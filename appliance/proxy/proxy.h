/*
 * proxy: the pull-through cache's serve path (docs/proxy.md).  The
 * registry asks it, before answering from the store, whether a manifest
 * or blob request of a repository should go to an upstream or a peer;
 * everything it fetches is verified and stored in the same
 * content-addressed store, under the same repository names, marked as
 * proxied (store_proxy.h).
 *
 * Routing: a repository "<project>/<host>/<path>" belongs to the upstream
 * configured for <host> (":port" written "_port", as the loader names
 * repositories); it is fetched there as "<path>".  Peers (other barged)
 * hold the same repository names and are asked first, for every
 * repository, with their own short deadline.
 *
 * Local first: a digest the store holds never leaves the store; a tag a
 * bundle or a push set is never revalidated; a proxied tag is revalidated
 * with one HEAD under revalidate_ms, and a timeout, a connection error,
 * 5xx, 429 or 401 serves the cached copy and starts a back-off of
 * backoff_s during which the upstream is not asked.  Nothing expires.
 *
 * Blobs: a missing blob is fetched once by a flight thread (however many
 * requests want it) into a store blob writer, and every request reads the
 * bytes from the writer's file as they arrive: the first bytes go out
 * before the blob is complete, the last only once the digest is checked,
 * and a blob that fails to verify or breaks is never committed and cuts
 * every response short.  Manifests are fetched (bounded, MANIFEST_MAX) and
 * stored by the first request; concurrent ones wait for it.
 *
 * A struct proxy is shared by every server thread; the store handles it
 * is given are the caller's thread's.  It owns its upstream handles, its
 * flights and their threads; proxy_free stops and joins them.
 */
#ifndef BARGE_PROXY_H
#define BARGE_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "upstream.h"

struct proxy_upstream {
	const char *registry; /* the name it stands for: "docker.io", "127.0.0.1:5000" */
	struct upstream_opts opts;
};

struct proxy_opts {
	const char *data_dir; /* the store (flights open their own handle) */
	const char *project;  /* first segment of proxied repositories; NULL: "edge" */
	const struct proxy_upstream *upstreams;
	size_t nupstreams;
	const char *const *peers; /* "http(s)://host:port" */
	size_t npeers;
	const char *peer_dns;  /* "name:port": every address a peer; NULL: none */
	int peer_scheme_https; /* peers found by DNS speak https */
	int revalidate_ms;     /* 0: 2000 */
	int backoff_s;         /* < 0: 30 */
	int peer_timeout_ms;   /* 0: 500 */
	int64_t max_size;      /* evict proxied content beyond this many blob bytes; 0: never */
	/* Log lines (from any thread): what happened and why.  May be NULL. */
	void (*log_info)(const char *msg);
	void (*log_warn)(const char *msg);
};

enum proxy_result {
	PROXY_HIT,         /* served from the store */
	PROXY_MISS,        /* fetched upstream (or from a peer) */
	PROXY_REVALIDATED, /* a proxied tag checked upstream (same or new digest) */
	PROXY_STALE,       /* the cached copy served: the upstream failed or backs off */
	PROXY_ERROR,       /* nothing to serve */
	PROXY_NRESULTS
};

struct proxy;
struct proxy_blob;

/* Loads the upstream module and opens every upstream; nothing is contacted yet. */
int proxy_new(const struct proxy_opts *o, struct proxy **out,
              struct barge_err *err) BARGE_MUST_CHECK;
/* Stops the flights, joins their threads, closes the upstreams.  Accepts NULL. */
void proxy_free(struct proxy *p);

/*
 * Makes the store ready to answer a GET/HEAD of repo's manifest reference
 * (a tag or a digest), by the rules above, using s (the calling thread's
 * store).  BARGE_OK: answer from the store now (it holds what to serve, or
 * nothing anywhere had it: the store's 404 is the answer).  BARGE_ENET:
 * nothing stored and the upstream failed (err says why: answer 502/503).
 * Other codes: a failure of ours.
 */
int proxy_manifest(struct proxy *p, struct store *s, const char *repo, const char *reference,
                   struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Whether repo's blob digest, absent from the store, can be fetched: starts
 * (or joins) its flight and returns a reader, with the blob's size.
 * BARGE_ENOTFOUND when no upstream or peer has it.
 */
int proxy_blob_open(struct proxy *p, const char *repo, const char *digest, struct proxy_blob **out,
                    int64_t *size, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * A HEAD of repo's blob digest, absent from the store, asked of the peers
 * and the upstream without fetching it: its size (-1 when not said).
 * BARGE_ENOTFOUND when none has it.
 */
int proxy_blob_head(struct proxy *p, const char *repo, const char *digest, int64_t *size,
                    struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Up to len bytes of the blob from offset pos into buf, waiting for them to
 * arrive: *got is 0 only at the end.  BARGE_ENET (the upstream broke),
 * BARGE_EDIGEST (the content is not what its digest says): the response
 * must be cut short.
 */
int proxy_blob_read(struct proxy_blob *b, uint64_t pos, void *buf, size_t len, size_t *got,
                    struct barge_err *err) BARGE_MUST_CHECK;
void proxy_blob_close(struct proxy_blob *b);

/* Counts a blob request served from the store (a hit) for repo's registry. */
void proxy_count_hit(struct proxy *p, const char *repo);

/*
 * For metrics and the API's overview: calls fn once per upstream (and
 * "peer") with its counters and state.  The strings are p's.
 */
struct proxy_stats {
	const char *registry;
	const char *url; /* the upstream's URL as configured; NULL for "peer" */
	uint64_t requests[PROXY_NRESULTS];
	uint64_t bytes;  /* body bytes fetched */
	uint64_t errors; /* failed requests */
	int up;          /* 0 while backing off */
};
void proxy_each_stats(struct proxy *p, void (*fn)(const struct proxy_stats *st, void *arg),
                      void *arg);
const char *proxy_result_name(enum proxy_result r);

#endif
