/*
 * store: the content-addressed store of the device registry (DESIGN §8).
 *
 *   DIR/blobs/sha256/<2 hex>/<hex>   every blob, manifests included, byte-for-byte
 *   DIR/tmp/                         blobs being written
 *   DIR/barge.db                     SQLite (WAL): repositories, manifests, tags,
 *                                    manifest->blob references, bundles, uploads
 *   DIR/uploads/<id>                 bytes of open push sessions
 *   DIR/gc.lock                      keeps GC away from writers (store_lock_*)
 *
 * docs/store.md describes the layout, the schema and the rules in full.
 *
 * A blob becomes visible only once it is complete, verified and durable
 * (hashed while written, fsync, rename, fsync dir).  Metadata changes happen
 * inside store_begin/store_commit, so a crash leaves the old state or the
 * new one and never a tag pointing at a missing blob.
 *
 * One struct store may be used by one thread at a time; a server opens one
 * per worker thread (SQLite WAL lets readers and a writer run together).
 * The exception: the blob writer calls (store_blob_begin, _write, _commit,
 * _abort, store_blob_exists) touch only files and the store's fixed paths,
 * never SQLite, so the loader commits one blob on a helper thread while the
 * next streams in.  Keep them free of database access.
 */
#ifndef BARGE_STORE_H
#define BARGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

struct store;

/* Opens (creating if needed) the store at dir. */
int store_open(const char *dir, struct store **out, struct barge_err *err) BARGE_MUST_CHECK;
void store_close(struct store *s);
const char *store_dir(const struct store *s);

/* --- blobs ---------------------------------------------------------------- */

struct store_blob_writer;

/*
 * Starts writing a blob expected to have digest and size (size < 0: unknown).
 * Nothing is visible until store_blob_commit; store_blob_abort (or a failed
 * commit) removes the temporary file.
 */
int store_blob_begin(struct store *s, const char *digest, int64_t size,
                     struct store_blob_writer **out, struct barge_err *err) BARGE_MUST_CHECK;
int store_blob_write(struct store_blob_writer *w, const void *buf, size_t len,
                     struct barge_err *err) BARGE_MUST_CHECK;
/* Verifies digest and size, fsyncs, renames into place, fsyncs the directory; frees w. */
int store_blob_commit(struct store_blob_writer *w, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Checks what w holds against its digest and size, without making it
 * durable or placing it: a reader of the temporary file (store_blob_reopen)
 * may hand out the last bytes once this succeeds, rather than after the
 * fsync of a blob that may be gigabytes.  store_blob_commit then fsyncs and
 * places it (and checks nothing twice); on failure w awaits store_blob_abort.
 */
int store_blob_verify(struct store_blob_writer *w, struct barge_err *err) BARGE_MUST_CHECK;
/* Drops an unfinished blob; frees w.  Accepts NULL. */
void store_blob_abort(struct store_blob_writer *w);
/*
 * A reading descriptor (caller closes) on w's temporary file: the bytes
 * written so far, for the pull-through cache to stream them to clients as
 * they arrive.  After a commit it reads the blob; after an abort, nothing
 * that counts.
 */
int store_blob_reopen(struct store_blob_writer *w, int *fd, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * A blob whose digest is learnt only at its end (docker save's "<id>/layer.tar"
 * before Docker 25): store_blob_write hashes it with alg as it goes to DIR/tmp,
 * and store_blob_commit_as, not store_blob_commit, ends it.  The caller bounds
 * its size.
 */
int store_blob_begin_unknown(struct store *s, enum digest_alg alg, struct store_blob_writer **out,
                             struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Ends a writer of store_blob_begin_unknown: *digest gets the digest of what
 * was written and the blob is placed as store_blob_commit places one, unless
 * the store holds it already (the bytes are then dropped).  *created says
 * which: 1 placed now, 0 held before.  Frees w, also on failure.
 */
int store_blob_commit_as(struct store_blob_writer *w, char digest[DIGEST_STR_MAX], int *created,
                         struct barge_err *err) BARGE_MUST_CHECK;

/* Whether the blob file is present. */
int store_blob_exists(struct store *s, const char *digest);
/* Opens a blob for reading: *fd (caller closes) and *size.  BARGE_ENOTFOUND if absent. */
int store_blob_open(struct store *s, const char *digest, int *fd, int64_t *size,
                    struct barge_err *err) BARGE_MUST_CHECK;

/* --- metadata ------------------------------------------------------------- */

int store_begin(struct store *s, struct barge_err *err) BARGE_MUST_CHECK;
int store_commit(struct store *s, struct barge_err *err) BARGE_MUST_CHECK;
/* Accepts a store with no open transaction. */
void store_rollback(struct store *s);

/* Records that repo holds manifest digest (its blob must already be stored). */
int store_put_manifest(struct store *s, const char *repo, const char *digest,
                       const char *media_type, int64_t size,
                       struct barge_err *err) BARGE_MUST_CHECK;
/* Records that manifest digest references child (a blob, or a manifest of an index). */
int store_put_ref(struct store *s, const char *digest, const char *child,
                  struct barge_err *err) BARGE_MUST_CHECK;
/* Points repo:tag at manifest digest, replacing an older target. */
int store_put_tag(struct store *s, const char *repo, const char *tag, const char *digest,
                  struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Records a loaded bundle and returns its id.  A bundle already recorded
 * (same digest) keeps its record and id.
 */
int store_put_bundle(struct store *s, const char *name, const char *version, const char *digest,
                     int64_t *id, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * In the same transaction: who signed bundle id (a key id, or NULL) and
 * where this load read it from (NULL: unknown).  A bundle loaded again keeps
 * the latest.
 */
int store_set_bundle_origin(struct store *s, int64_t id, const char *signer, const char *source,
                            struct barge_err *err) BARGE_MUST_CHECK;
/* Records that bundle id brought repo@digest. */
int store_put_bundle_image(struct store *s, int64_t id, const char *repo, const char *digest,
                           struct barge_err *err) BARGE_MUST_CHECK;

/* --- lookups -------------------------------------------------------------- */

struct store_manifest {
	char digest[DIGEST_STR_MAX];
	char media_type[256];
	int64_t size;
};

/*
 * Resolves reference (a tag or a digest) in repo to a manifest.
 * BARGE_ENOTFOUND when repo does not hold it.
 */
int store_get_manifest(struct store *s, const char *repo, const char *reference,
                       struct store_manifest *out, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Whether repo may serve blob digest: a manifest of repo references it, or
 * it is one of repo's manifests.  BARGE_OK or BARGE_ENOTFOUND.
 */
int store_repo_has_blob(struct store *s, const char *repo, const char *digest,
                        struct barge_err *err) BARGE_MUST_CHECK;
/* Whether repo exists. */
int store_repo_exists(struct store *s, const char *repo);

/*
 * Calls fn for up to n tags of repo that sort after last (NULL: from the
 * start), in lexical order; n <= 0 means all.  fn returning non-zero stops.
 */
int store_list_tags(struct store *s, const char *repo, const char *last, int n,
                    int (*fn)(const char *tag, void *arg), void *arg,
                    struct barge_err *err) BARGE_MUST_CHECK;

/* --- consistent reads ----------------------------------------------------- */

/*
 * A read snapshot: between these, every lookup sees the store as one
 * commit left it, and a blob opened in it stays readable (GC unlinks only
 * after the snapshot ends; an open fd outlives the unlink).  Inside a
 * transaction already open on s both do nothing.  Keep snapshots short:
 * open the fds, end it, then stream.
 */
int store_read_begin(struct store *s, struct barge_err *err) BARGE_MUST_CHECK;
void store_read_end(struct store *s);

/*
 * Resolves reference in repo and opens its manifest blob inside one SQLite
 * read transaction, so the fd belongs to the very row that was read: GC and
 * fsck --repair unlink a blob only after every reader that could still see
 * its row has ended its transaction (docs/store.md).  *fd: caller closes.
 */
int store_open_manifest(struct store *s, const char *repo, const char *reference,
                        struct store_manifest *m, int *fd, int64_t *size,
                        struct barge_err *err) BARGE_MUST_CHECK;
/* store_repo_has_blob and store_blob_open in one read transaction. */
int store_open_repo_blob(struct store *s, const char *repo, const char *digest, int *fd,
                         int64_t *size, struct barge_err *err) BARGE_MUST_CHECK;

/* --- the GC lock ---------------------------------------------------------- */

/*
 * DIR/gc.lock (flock).  Whoever writes blobs before the transaction that
 * references them (a load; a push linking a finished upload) holds it shared
 * from before its first blob until after its commit; GC and fsck --repair
 * hold it exclusive from their mark to the end of their sweep.  So GC never
 * takes a blob a writer is about to reference.  One lock per handle:
 * store_unlock releases it (store_close too).
 *
 * The store runs these protocols itself: a load through store_load.h, a
 * push through store_upload_finish, store_push_manifest and
 * store_blob_publish (store_push.h), GC and fsck below.  Callers outside
 * the store use those, not the lock.
 */
int store_lock_shared(struct store *s, struct barge_err *err) BARGE_MUST_CHECK;
/* Waits at most wait_ms (< 0: forever); BARGE_EEXIST when still held by others. */
int store_lock_exclusive(struct store *s, int wait_ms, struct barge_err *err) BARGE_MUST_CHECK;
void store_unlock(struct store *s);

/* --- lifecycle: ls, rm (store_ls.c), gc (store_gc.c), fsck (store_fsck.c) --- */

struct store_bundle {
	int64_t id;
	const char *name;
	const char *version;
	const char *digest; /* of its barge.json */
	int64_t loaded_at;  /* Unix seconds */
	int64_t images;     /* images it pins */
	int64_t bytes;      /* distinct blob bytes its images reach, as stored */
	const char *signer; /* the key id that signed it; NULL: unsigned or not recorded */
	const char *source; /* where it was loaded from; NULL: not recorded */
};

/* Calls fn for every bundle, by id; fn returning non-zero stops. */
int store_list_bundles(struct store *s, int (*fn)(const struct store_bundle *b, void *arg),
                       void *arg, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Calls fn for every bundle that sel names: its id (all digits), its name,
 * or NAME:VERSION.  The caller decides what no match or several mean.
 */
int store_find_bundles(struct store *s, const char *sel,
                       int (*fn)(const struct store_bundle *b, void *arg), void *arg,
                       struct barge_err *err) BARGE_MUST_CHECK;

/* Who set a tag (store_proxy.h has the pull-through cache's side). */
enum store_origin {
	STORE_ORIGIN_NONE = 0, /* no such tag */
	STORE_ORIGIN_BUNDLE,   /* set by a bundle load: never revalidated */
	STORE_ORIGIN_PUSH,     /* set by a push */
	STORE_ORIGIN_PROXY     /* set by the pull-through cache */
};

struct store_image {
	const char *repo;
	const char *digest;
	const char *media_type;
	int64_t manifest_size;
	int64_t size;            /* distinct blob bytes it reaches, manifests included */
	const char *const *tags; /* ntags tags of repo pointing at it, sorted */
	size_t ntags;
	const struct store_bundle *bundles; /* the bundles pinning it (bytes, images: 0) */
	size_t nbundles;
	/*
	 * Where it came from: BUNDLE if a bundle pins it, else PUSH if a push
	 * tagged it or it was not proxied, else PROXY.  origin_detail: "NAME
	 * VERSION" of the latest bundle pinning it, the registry it was
	 * proxied from, or "" (push).
	 */
	enum store_origin origin;
	const char *origin_detail;
	/*
	 * Per tag, in the order of tags: who set it, its detail as above (for
	 * a bundle's tag, the latest bundle pinning the image), and when the
	 * proxy last fetched it (Unix seconds; 0 unless PROXY).
	 */
	const enum store_origin *tag_origin;
	const char *const *tag_origin_detail;
	const int64_t *tag_fetched_at;
};

/*
 * Calls fn for every image: a manifest that is tagged, pinned by a bundle,
 * or not a child of an index in its repository.  Ordered by repository and
 * digest.  Everything fn sees lives until it returns.
 */
int store_list_images(struct store *s, int (*fn)(const struct store_image *im, void *arg),
                      void *arg, struct barge_err *err) BARGE_MUST_CHECK;

struct store_rm_stats {
	int64_t pins; /* bundle_images rows removed */
	int64_t tags; /* tags removed (untag only) */
};

/*
 * Removes bundle id and its pins in one transaction.  Tags stay (the images
 * keep serving) unless untag: then the tags pointing at images no other
 * bundle pins go too.  What nothing holds any more is left for store_gc.
 */
int store_rm_bundle(struct store *s, int64_t id, int untag, struct store_rm_stats *st,
                    struct barge_err *err) BARGE_MUST_CHECK;

struct store_gc_opts {
	int dry_run;      /* report, remove nothing */
	int64_t grace_s;  /* orphan blob files younger than this stay */
	int lock_wait_ms; /* for the exclusive GC lock; < 0 waits forever */
	/* Each removed (or, dry, removable) manifest row and blob file; may be NULL. */
	void (*on_manifest)(const char *repo, const char *digest, void *arg);
	void (*on_blob)(const char *digest, int64_t size, int orphan, void *arg);
	void *arg;
};

struct store_gc_stats {
	int64_t manifests;    /* manifest rows removed */
	int64_t repos;        /* repositories left empty and removed */
	int64_t blobs;        /* blob files removed, orphans included */
	int64_t orphans;      /* of those, files no row named */
	int64_t bytes;        /* freed */
	int64_t kept_orphans; /* orphans kept: younger than grace_s, or an upload is open */
	int64_t deferred;     /* garbage kept because readers stayed busy; the next GC takes it */
};

/*
 * Mark and sweep (docs/store.md).  Roots: every tag, every bundle pin, every
 * open upload.  Unreachable manifest rows and their references go in one
 * transaction; then, once no reader can still see them, the blob files no
 * row names.  DIR/uploads and DIR/tmp are never touched.
 */
int store_gc(struct store *s, const struct store_gc_opts *o, struct store_gc_stats *st,
             struct barge_err *err) BARGE_MUST_CHECK;

struct store_fsck_opts {
	int repair;
	int lock_wait_ms;
	/* One call per problem: subject is a digest, "repo@digest", "repo:tag" or a path. */
	void (*on_problem)(const char *subject, const char *problem, void *arg);
	void *arg;
};

struct store_fsck_stats {
	int64_t blobs; /* blob files re-hashed */
	int64_t bytes;
	int64_t manifests; /* manifest rows checked */
	int64_t problems;
	/* --repair: what was removed */
	int64_t removed_files;
	int64_t removed_manifests;
	int64_t removed_tags;
	int64_t removed_pins;
	int64_t unrepaired; /* problems --repair could not fix */
};

/*
 * Re-hashes every blob file and checks every reference (docs/store.md).
 * With repair, broken blob files and every row depending on them are removed
 * in one transaction (files after it).  Returns BARGE_OK even when problems
 * were found: st->problems says so.
 */
int store_fsck(struct store *s, const struct store_fsck_opts *o, struct store_fsck_stats *st,
               struct barge_err *err) BARGE_MUST_CHECK;

/* --- statistics (store_stats.c) ------------------------------------------ */

struct store_stats {
	int64_t blobs;   /* blob files under DIR/blobs (what fsck calls strays aside) */
	int64_t bytes;   /* their sizes summed */
	int64_t tags;    /* over every repository */
	int64_t repos;   /* repositories */
	int64_t uploads; /* open upload sessions */
};

/*
 * Counts the blob files and their bytes (a walk of DIR/blobs: cheap but not
 * free, so callers refresh it every few seconds at most) and the rows.
 */
int store_stats(struct store *s, struct store_stats *out, struct barge_err *err) BARGE_MUST_CHECK;

#endif
