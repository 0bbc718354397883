/*
 * loader: puts a bundle (docs/bundle-format.md, DESIGN §7) into the store.
 *
 * The bundle is untrusted.  Before any blob is written: barge.json is
 * parsed and bounded, barge.json.sig is checked against the signature
 * policy, a delta's required base blobs must be in the store (the refusal
 * lists them), and the new blobs must fit in the store's free space.  Then
 * every entry is checked against barge.json (listed, same size, once) and
 * every blob against its digest while it streams to the store; blobs the
 * store already holds are verified without being rewritten.  Only when every
 * blob is in place and every image is complete (its manifests, configs and
 * layers all in the store) are the manifests, references, tags and the
 * bundle record written, in one transaction.  A failed load leaves the
 * metadata exactly as it was; blobs it already stored are orphans for GC,
 * never visible through a tag.  Reloading a bundle writes no blob and keeps
 * its bundle record.
 *
 * An index must be whole for every platform barge.json chose: the entry
 * the bundler picks for it (manifest_pick) is in the bundle or the store,
 * with its config and layers.  No entry is read past the size barge.json
 * declares for it.  A tag of the bundle that the store has on another
 * digest moves, stays or refuses the load by the tags policy (load.tags),
 * and every such tag is reported.
 */
#ifndef BARGE_LOADER_H
#define BARGE_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "store.h"

struct sign_key;
struct bundle_reader;
struct bundle_meta;

/* load.tags: what a bundle's tag that the store has on another digest does. */
enum loader_tags {
	LOADER_TAGS_MOVE,  /* the tag moves to the bundle's digest (the default) */
	LOADER_TAGS_KEEP,  /* the tag stays; the bundle's images load untagged there */
	LOADER_TAGS_REFUSE /* the load fails before anything is written */
};

/*
 * A tag of the bundle that the store had on another digest.  old_name and
 * old_version are of the latest bundle that brought old_digest into the
 * repository, "" when none did (it was pushed) or when the tag is a
 * referrer's (the store records which bundle brought an image, not a
 * referrer).
 */
struct loader_tag_move {
	const char *repository; /* valid during the callback only */
	const char *tag;
	const char *new_digest;
	char old_digest[DIGEST_STR_MAX];
	char old_name[256];
	char old_version[128];
	int kept;     /* LOADER_TAGS_KEEP left it on old_digest */
	int referrer; /* a referrer's tag ("sha256-<hex>.sig") */
};

struct loader_result {
	char name[256]; /* the bundle's name and version (cut to fit, for messages) */
	char version[128];
	char digest[DIGEST_STR_MAX]; /* of barge.json, which names every blob of the bundle */
	char signer[DIGEST_STR_MAX]; /* key id of barge.json.sig, "" when unsigned */
	int verified;                /* the signature was checked against a trusted key */
	int delta;                   /* barge.json requires blobs from a base bundle */
	int reloaded;                /* the store already had this bundle */
	int64_t bundle_id;
	size_t images;
	size_t tags;          /* tags set to the bundle's images (kept ones not counted) */
	size_t tags_moved;    /* of which moved from another digest */
	size_t tags_kept;     /* tags left on another digest by LOADER_TAGS_KEEP */
	size_t blobs_new;     /* blobs written to the store */
	size_t blobs_present; /* blobs the store already held, verified and skipped */
	int64_t bytes;        /* blob bytes read from the bundle */
	int64_t bytes_new;    /* of which written to the store */
};

struct loader_opts {
	/*
	 * Trusted public keys.  With any, a signed bundle must be signed by
	 * one of them; require_signature also refuses unsigned bundles (and
	 * every bundle when there are no keys).  Both checks run before any
	 * blob is written.
	 */
	struct sign_key *const *keys;
	size_t nkeys;
	int require_signature;
	enum loader_tags tags;
	/*
	 * Told each tag that moved or was kept, after the load committed (a
	 * failed load moved nothing); may be NULL.
	 */
	void (*tag_moved)(void *arg, const struct loader_tag_move *m);
	void *tag_moved_arg;
	/* Called as the bundle streams, with the compressed bytes read so far; may be NULL. */
	void (*progress)(void *arg, int64_t bytes_in);
	void *progress_arg;
	/*
	 * Archives of other tools (load_archive.h): the first path component
	 * of their repositories (NULL: "edge"), and the NAME[:TAG] of the
	 * images they do not name (NULL: such an archive is refused).
	 */
	const char *project;
	const char *repo;
	/* Where the bundle came from, as the store records it (NULL: the name the load was given).
	 */
	const char *source;
};

/* Loads the bundle at path into s with default options.  res is filled on success. */
int loader_load(struct store *s, const char *path, struct loader_result *res,
                struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Loads the bundle r reads (name is used in messages) into s.  Does not
 * take ownership of r, which is spent afterwards.  opts may be NULL.
 */
int loader_load_reader(struct store *s, struct bundle_reader *r, const char *name,
                       const struct loader_opts *opts, struct loader_result *res,
                       struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Records meta's images (whose blobs are in the store) in one transaction,
 * as a bundle of digest named name, with the loader's rules for images,
 * indexes and tags: what load_archive.c commits for another tool's
 * archive.  The caller holds the store's load lock (store_load_begin).
 * Fills res's bundle and tag fields; meta is borrowed.
 */
int loader_record(struct store *s, struct bundle_meta *meta, const char *name, const char *digest,
                  const struct loader_opts *opts, struct loader_result *res,
                  struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Ends a load under the store's load lock (store_load_undo): of its n
 * blobs, those written(arg, i) names by their digest (this load put them
 * in the store; NULL for the others) are removed unless a manifest or
 * reference names them.  What loader_load_reader does after a failure and
 * load_archive.c after every archive.
 */
void loader_undo(struct store *s, size_t n, const char *(*written)(const void *arg, size_t i),
                 const void *arg);

/*
 * Reads and parses only barge.json from r, to decide in which order bundles
 * load (full bundles before the deltas that need them).  Caller frees *meta.
 */
int loader_peek(struct bundle_reader *r, const char *name, struct bundle_meta **meta,
                struct barge_err *err) BARGE_MUST_CHECK;

#endif
