/*
 * store_load: the load protocol of store_load.h.  Owns the GC lock of s
 * from store_load_begin to store_load_end or store_load_undo, and the
 * metadata transaction of store_load_record.
 */
#include "store_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

/* How long a failed load waits for the GC lock to remove what it wrote. */
#define UNDO_LOCK_WAIT_MS 2000

int
store_load_begin(struct store *s, struct barge_err *err)
{
	return store_lock_shared(s, err);
}

int
store_load_record(struct store *s, int (*fn)(struct store *s, void *arg, struct barge_err *err),
                  void *arg, struct barge_err *err)
{
	int rc;

	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	/* Every tag a load sets is the bundle's: a proxied one stops being revalidated. */
	s->tag_origin = STORE_ORIGIN_BUNDLE;
	rc = fn(s, arg, err);
	s->tag_origin = STORE_ORIGIN_NONE;
	if (rc != BARGE_OK) {
		store_rollback(s);
		return rc;
	}
	/* store_commit rolls back what it could not commit. */
	return store_commit(s, err);
}

void
store_load_end(struct store *s)
{
	store_unlock(s);
}

int
store_load_find_bundle(struct store *s, const char *digest, int64_t *id, struct barge_err *err)
{
	return bundle_by_digest(s, digest, id, err);
}

int
store_load_tag(struct store *s, const char *repo, const char *tag, char *digest, char *name,
               size_t namelen, char *version, size_t versionlen, struct barge_err *err)
{
	/* The tags table does not say who set a tag: the latest bundle with its image does. */
	static const char sql[] =
	        "SELECT t.digest, b.name, b.version FROM tags t"
	        " JOIN repositories r ON r.id = t.repo_id"
	        " LEFT JOIN bundle_images bi ON bi.repo_id = t.repo_id AND bi.digest = t.digest"
	        " LEFT JOIN bundles b ON b.id = bi.bundle_id"
	        " WHERE r.name = ?1 AND t.name = ?2 ORDER BY b.id DESC LIMIT 1";
	sqlite3_stmt *st = NULL;
	const char *v;
	int rc;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, tag, err)) != BARGE_OK ||
	    (rc = stmt_row(s, st, "look up tag", err)) != BARGE_OK)
		goto out;
	if ((rc = col_text(st, 0, &v, err)) != BARGE_OK)
		goto out;
	snprintf(digest, DIGEST_STR_MAX, "%s", v);
	v = (const char *)sqlite3_column_text(st, 1);
	snprintf(name, namelen, "%s", v != NULL ? v : "");
	v = (const char *)sqlite3_column_text(st, 2);
	snprintf(version, versionlen, "%s", v != NULL ? v : "");
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Removes each blob file unless a row names it.  The caller holds the GC
 * lock exclusively: no other writer is then between its first blob and
 * its commit, so nothing is about to reference them.
 */
static int
drop_blobs(struct store *s, const char *const *digests, size_t n, struct barge_err *err)
{
	/* What GC counts as live (store_gc.c). */
	static const char sql[] = "SELECT 1 FROM manifests WHERE digest = ?1"
	                          " UNION ALL SELECT 1 FROM refs WHERE child = ?1 LIMIT 1";
	sqlite3_stmt *st = NULL;
	char *path = NULL, *slash;
	size_t i;
	int rc = BARGE_OK, step;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	for (i = 0; i < n; i++) {
		if ((rc = bind_text(s, st, 1, digests[i], err)) != BARGE_OK)
			break;
		step = sqlite3_step(st);
		stmt_done(st);
		if (step == SQLITE_ROW)
			continue;
		if (step != SQLITE_DONE) {
			rc = db_fail(s, err, "check blob references");
			break;
		}
		if ((rc = blob_path(s, digests[i], &path, err)) != BARGE_OK)
			break;
		if (unlink(path) != 0 && errno != ENOENT) {
			rc = err_sys(err, BARGE_EIO, errno, "remove %s", path);
			free(path);
			break;
		}
		/* The shard directory goes too if this load made it: rmdir keeps a non-empty one.
		 */
		if ((slash = strrchr(path, '/')) != NULL) {
			*slash = '\0';
			rmdir(path);
		}
		free(path);
		path = NULL;
	}
	sqlite3_finalize(st);
	return rc;
}

void
store_load_undo(struct store *s, const char *const *written, size_t n)
{
	struct barge_err ignored;

	store_unlock(s);
	if (n == 0 || store_lock_exclusive(s, UNDO_LOCK_WAIT_MS, &ignored) != BARGE_OK)
		return;
	/* What could not be removed is an orphan, which GC collects. */
	(void)drop_blobs(s, written, n, &ignored);
	store_unlock(s);
}
