/*
 * store_push: the store's write side for the registry's push API (OCI
 * Distribution v1.1): upload sessions, blobs linked to repositories,
 * manifests put with validation, deletes, the catalog and referrers.
 *
 *   DIR/uploads/<id>   the bytes of an open upload session, appended chunk
 *                      by chunk; its row in `uploads` says repository and
 *                      committed length.  GC must keep both while the row
 *                      lives (the bytes become a blob by rename).
 *   repo_blobs         (table, created here if missing) blobs pushed to or
 *                      mounted into a repository before any manifest there
 *                      names them, so HEAD/GET and manifest validation see
 *                      them.
 *
 * A finished upload is verified against the digest the client names (sha256
 * or sha512), fsynced and renamed into DIR/blobs/: it never passes through
 * memory and is never copied.  A manifest is stored byte-for-byte as a blob,
 * then its metadata (manifest, references, subject, tag) goes in one
 * transaction.
 *
 * Same threading rule as store.h: one struct store per thread.
 */
#ifndef BARGE_STORE_PUSH_H
#define BARGE_STORE_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "store.h"

/* A session id: a random UUID, 36 characters. */
#define STORE_UPLOAD_ID_LEN 36

/* Creates the tables this module adds, if missing.  Run once per store handle. */
int store_push_init(struct store *s, struct barge_err *err) BARGE_MUST_CHECK;

/* --- upload sessions ------------------------------------------------------- */

/* Whether id has the shape of a session id (so it can name a file). */
int store_upload_id_valid(const char *id);
/* Whether session id is open. */
int store_upload_exists(struct store *s, const char *id);
/* Open sessions, all repositories. */
int store_upload_count(struct store *s, int64_t *n, struct barge_err *err) BARGE_MUST_CHECK;
/* Starts a session for repo: an empty DIR/uploads/<id> and its row. */
int store_upload_new(struct store *s, const char *repo, char id[STORE_UPLOAD_ID_LEN + 1],
                     struct barge_err *err) BARGE_MUST_CHECK;
/*
 * The session id of repo and its committed length.  BARGE_ENOTFOUND when
 * there is none (or it belongs to another repository).
 */
int store_upload_get(struct store *s, const char *repo, const char *id, int64_t *offset,
                     struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Opens the session's file for writing at offset, cutting off anything a
 * broken chunk left beyond it.  Caller closes *fd.
 */
int store_upload_open(struct store *s, const char *id, int64_t offset, int *fd,
                      struct barge_err *err) BARGE_MUST_CHECK;
/* Records that the file's first offset bytes are committed. */
int store_upload_set_offset(struct store *s, const char *id, int64_t offset,
                            struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Ends the session as blob digest: hashes the file unless computed (the
 * digest the caller hashed while receiving, same algorithm) is given,
 * BARGE_EDIGEST on mismatch (the session stays open); else fsync, rename
 * into the blob store, link the blob to repo, drop the session.  *size gets
 * the blob's length.
 */
int store_upload_finish(struct store *s, const char *repo, const char *id, const char *digest,
                        const char *computed, int64_t *size,
                        struct barge_err *err) BARGE_MUST_CHECK;
/* Drops the session and its bytes.  BARGE_ENOTFOUND when unknown. */
int store_upload_delete(struct store *s, const char *id, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Drops sessions untouched for max_age seconds, and files in DIR/uploads/
 * that no session owns.  *n (may be NULL) gets how many sessions went.
 */
int store_upload_expire(struct store *s, int64_t max_age, int *n,
                        struct barge_err *err) BARGE_MUST_CHECK;

/* --- blobs of repositories --------------------------------------------------- */

/*
 * A monolithic push: commits w (store_blob_commit: verify, fsync, rename)
 * and links its blob to repo, holding the GC lock shared from before the
 * rename until after the link, so that GC never takes a blob between the
 * two.  Consumes w in every case, as store_blob_commit does.  Takes and
 * releases the lock of w's store handle, which must not hold it already.
 * BARGE_EDIGEST or BARGE_ELIMIT when the bytes are not the digest's.
 */
int store_blob_publish(struct store_blob_writer *w, const char *repo,
                       struct barge_err *err) BARGE_MUST_CHECK;
/* Links blob digest (already stored) to repo: pushed or mounted there. */
int store_link_blob(struct store *s, const char *repo, const char *digest,
                    struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Whether repo may serve blob digest: linked to it, or named by one of its
 * manifests (store_repo_has_blob).  BARGE_OK or BARGE_ENOTFOUND.
 */
int store_push_has_blob(struct store *s, const char *repo, const char *digest,
                        struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Unlinks blob digest from repo, after which repo no longer serves it.
 * BARGE_ENOTFOUND when repo could not serve it; BARGE_EEXIST when a
 * manifest of repo names it (or it is one), which keeps it served: err
 * names that manifest, and nothing changes.
 */
int store_push_delete_blob(struct store *s, const char *repo, const char *digest,
                           struct barge_err *err) BARGE_MUST_CHECK;

/* --- manifests --------------------------------------------------------------- */

/* What a refused manifest PUT answers, as the OCI error codes say it. */
enum store_push_refusal {
	STORE_PUSH_OK,
	STORE_PUSH_MANIFEST_INVALID,      /* 400: not a manifest we can read */
	STORE_PUSH_DIGEST_INVALID,        /* 400: the digest in the URL is not the content's */
	STORE_PUSH_MANIFEST_BLOB_UNKNOWN, /* 400: a referenced blob or child is not in repo */
	STORE_PUSH_TOO_BIG                /* 413: more than MANIFEST_MAX */
};

struct store_push_result {
	char digest[DIGEST_STR_MAX];  /* the manifest's digest */
	char subject[DIGEST_STR_MAX]; /* its subject's digest, or "" */
	enum store_push_refusal refusal;
};

/*
 * Puts manifest bytes buf into repo under reference (a tag, or the digest
 * they must have).  content_type is the request's Content-Type (may be
 * NULL); the document's mediaType must agree with it.  Every blob an image
 * manifest names (config, layers; non-distributable layers aside) and every
 * manifest an index names must be in repo already.  A refusal returns
 * BARGE_EINVAL with out->refusal and err saying why.
 */
int store_push_manifest(struct store *s, const char *repo, const char *reference, const void *buf,
                        size_t len, const char *content_type, struct store_push_result *out,
                        struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Deletes manifest digest from repo, with the tags pointing at it.
 * BARGE_ENOTFOUND when repo does not hold it; BARGE_EEXIST when a loaded
 * bundle holds it (remove the bundle instead).
 */
int store_push_delete_manifest(struct store *s, const char *repo, const char *digest,
                               struct barge_err *err) BARGE_MUST_CHECK;
/* Deletes tag of repo.  BARGE_ENOTFOUND when there is no such tag. */
int store_push_delete_tag(struct store *s, const char *repo, const char *tag,
                          struct barge_err *err) BARGE_MUST_CHECK;

/* --- listings ----------------------------------------------------------------- */

/*
 * Whether repo is a repository as the registry shows it: it holds at least
 * one manifest, tagged or not.  A repository holding only pushed or
 * mounted blobs, or emptied by deletes, is none (its blobs are still
 * served until unlinked).  The catalog and tags/list both follow this;
 * store_repo_exists (a repository the store still knows) does not.
 */
int store_repo_listed(struct store *s, const char *repo);
/*
 * Calls fn for up to n repositories that store_repo_listed counts (n <= 0:
 * all) that sort after last (NULL: from the start), in lexical order.  fn
 * returning non-zero stops.
 */
int store_list_repos(struct store *s, const char *last, int n,
                     int (*fn)(const char *repo, void *arg), void *arg,
                     struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Calls fn for each manifest of repo that may name subject as its subject
 * (the caller reads it to be sure), at most max of them.
 */
int store_list_referrers(struct store *s, const char *repo, const char *subject, int max,
                         int (*fn)(const struct store_manifest *m, void *arg), void *arg,
                         struct barge_err *err) BARGE_MUST_CHECK;

#endif
