/*
 * store: the content-addressed store of the device registry (DESIGN §8).
 *
 *   DIR/blobs/sha256/<2 hex>/<hex>   every blob, manifests included, byte-for-byte
 *   DIR/tmp/                         blobs being written
 *   DIR/barge.db                     SQLite (WAL): repositories, manifests, tags,
 *                                    manifest->blob references, bundles
 *
 * A blob becomes visible only once it is complete, verified and durable
 * (hashed while written, fsync, rename, fsync dir).  Metadata changes happen
 * inside store_begin/store_commit, so a crash leaves the old state or the
 * new one and never a tag pointing at a missing blob.
 *
 * One struct store may be used by one thread at a time; a server opens one
 * per worker thread (SQLite WAL lets readers and a writer run together).
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
/* Drops an unfinished blob; frees w.  Accepts NULL. */
void store_blob_abort(struct store_blob_writer *w);

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
/* Records a loaded bundle and returns its id. */
int store_put_bundle(struct store *s, const char *name, const char *version, const char *digest,
                     int64_t *id, struct barge_err *err) BARGE_MUST_CHECK;
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

#endif
