/*
 * sync: `barged sync --from URL`, the copy of everything a peer barged
 * holds into this store (docs/proxy.md): every bundle with its pins, every
 * image and every tag, verified and whole or nothing like a bundle load.
 *
 * The peer says what it holds with GET /api/v1/sync, newline-delimited
 * JSON, one object a line of at most SYNC_LINE_MAX bytes, in this order:
 *
 *   {"sync":1,"project":"edge"}                                first
 *   {"bundle":"sha256:..","name":"n","version":"v"}            every bundle
 *   {"image":"sha256:..","repo":"r","media_type":"..","size":N} every image,
 *   {"tag":"t","repo":"r","digest":"sha256:.."}                 then its tags
 *   {"pin":"sha256:<bundle>","repo":"r","digest":"sha256:.."}   and its pins
 *   {"end":IMAGES}                                             last
 *
 * appliance/serve/api_sync.c writes it.  A listing without its "end" line
 * was cut short and is refused.
 *
 * The copy runs the store's load protocol (store_load.h): the GC lock is
 * held shared from the first blob to the commit; every manifest and blob
 * the store lacks is fetched from the peer's /v2/ API and committed only
 * once its digest and size are checked; then every row goes in one
 * transaction.  A sync that fails removes the blobs it wrote; one killed
 * leaves them as orphans for GC, which the next sync reuses instead of
 * fetching again.  What the store held before is kept; a tag the peer
 * points elsewhere is moved, as a bundle load moves it.
 */
#ifndef BARGE_SYNC_H
#define BARGE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

#define SYNC_LINE_MAX 4096
#define SYNC_PATH     "/api/v1/sync"
/* The listing is spooled to a scratch file in the store's directory; a longer one is refused. */
#define SYNC_LISTING_MAX ((int64_t)1 << 30)
/* New blobs one sync may write (remembered to undo a failure). */
#define SYNC_BLOBS_MAX (1 << 20)

/*
 * How sync reaches the peer; the caller's (cmd_sync.c: the upstream
 * module).  get opens GET path ("/v2/<repo>/blobs/<digest>", SYNC_PATH) on
 * the peer for repository repo (NULL for SYNC_PATH), with an Accept header
 * (may be NULL): BARGE_OK with *body open, else an error (BARGE_ENOTFOUND
 * for 404) whose message names the status.  read gives up to len bytes
 * (*got 0 at the end); close ends the transfer and accepts NULL.
 */
struct sync_transport {
	void *arg;
	int (*get)(void *arg, const char *path, const char *repo, const char *accept, void **body,
	           struct barge_err *err);
	int (*read)(void *body, void *buf, size_t len, size_t *got, struct barge_err *err);
	void (*close)(void *body);
};

struct sync_stats {
	int64_t images;    /* images the peer listed */
	int64_t manifests; /* manifest blobs fetched */
	int64_t blobs;     /* other blobs fetched */
	int64_t bytes;     /* fetched, manifests included */
	int64_t rows;      /* manifests newly recorded in a repository */
	int64_t tags;      /* tags set or moved */
	int64_t bundles;   /* bundles recorded */
	int64_t pins;      /* images pinned by those bundles */
};

/*
 * Copies what the peer at url (for messages only) holds into s.  On
 * failure err names the url, and the repository and digest at fault.
 * Nothing copied is then kept.
 */
int sync_run(struct store *s, const struct sync_transport *t, const char *url,
             struct sync_stats *st, struct barge_err *err) BARGE_MUST_CHECK;

#endif
