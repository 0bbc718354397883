/*
 * store_proxy: the store's side of the pull-through cache (issue #12).
 * Who set each tag (its origin), which manifests the proxy fetched and
 * from where, when each was last pulled, and the eviction of proxied
 * content that no bundle pins when the store passes proxy.max_size.
 *
 * Rows live in schema 3 (docs/store.md): tags.origin, tags.fetched_at and
 * the proxy_manifests table.  A tag's origin is set by whoever writes it:
 * a bundle load (store_load_record) makes it BUNDLE, a push PUSH, and
 * store_proxy_tag PROXY; so a load or push of a proxied tag clears its
 * proxy mark.  Proxied blobs are written with store_blob_* as any other
 * and are kept by GC through the references of the proxied manifests
 * that name them, until store_proxy_evict drops those.
 */
#ifndef BARGE_STORE_PROXY_H
#define BARGE_STORE_PROXY_H

#include <stdint.h>

#include "err.h"
#include "store.h"

enum store_origin {
	STORE_ORIGIN_NONE = 0, /* no such tag */
	STORE_ORIGIN_BUNDLE,   /* set by a bundle load: never revalidated */
	STORE_ORIGIN_PUSH,     /* set by a push */
	STORE_ORIGIN_PROXY     /* set by the pull-through cache */
};

/* "bundle", "push", "proxy" ("none" for STORE_ORIGIN_NONE); never NULL. */
const char *store_origin_name(enum store_origin o);

/*
 * In a transaction (store_begin .. store_commit), after store_put_manifest
 * and store_put_ref for the manifest's children: marks repo@digest as
 * fetched from upstream `registry` (e.g. "docker.io") now.  It counts as
 * pulled now too.
 */
int store_proxy_mark(struct store *s, const char *repo, const char *digest, const char *registry,
                     struct barge_err *err) BARGE_MUST_CHECK;

/*
 * In a transaction: sets repo:tag -> digest as a proxied tag, fetched now
 * (store_put_tag + origin PROXY + fetched_at).  A later bundle load or push
 * of the same tag makes it BUNDLE/PUSH again (store_put_tag clears the
 * proxy mark).
 */
int store_proxy_tag(struct store *s, const char *repo, const char *tag, const char *digest,
                    struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Who set repo:tag, and when the proxy last fetched/revalidated it (Unix
 * seconds; 0 unless PROXY).  STORE_ORIGIN_NONE (and BARGE_OK) when there is
 * no such tag.  Outside or inside a read transaction.
 */
int store_tag_origin(struct store *s, const char *repo, const char *tag, enum store_origin *origin,
                     int64_t *fetched_at, struct barge_err *err) BARGE_MUST_CHECK;

/* A revalidation that found the same digest: refresh fetched_at.  ENOTFOUND: no proxied tag. */
int store_proxy_revalidated(struct store *s, const char *repo, const char *tag,
                            struct barge_err *err) BARGE_MUST_CHECK;

/*
 * A pull of repo@digest (manifest) was served: records last-pulled time for
 * eviction.  Cheap and safe from serving threads: batched in memory (one
 * buffer per process, shared by every handle) and written at most about
 * once a second, by whichever handle touches then, without waiting for the
 * database's write lock (busy: the batch waits for the next touch).  A
 * touch lost to a crash only makes eviction a little less exact.
 */
void store_proxy_touch(struct store *s, const char *repo, const char *digest);

struct store_evict_stats {
	int64_t manifests;   /* manifest rows removed */
	int64_t blobs;       /* blob files removed */
	int64_t bytes;       /* their bytes */
	int64_t store_bytes; /* blob bytes left in the store */
};

/*
 * Evicts proxied manifests that no bundle pins (and their tags), least
 * recently pulled first, then the blobs nothing else references, until the
 * store's blob bytes are <= max_size.  Pinned content, and content a bundle
 * load or a push tagged, is never evicted.  Rows go first, a few
 * manifests per transaction, then the files (docs/store.md: Eviction).
 * Stops early, without error, when nothing evictable is left.
 */
int store_proxy_evict(struct store *s, int64_t max_size, struct store_evict_stats *st,
                      struct barge_err *err) BARGE_MUST_CHECK;

#endif
