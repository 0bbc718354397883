/*
 * store_load: the load protocol of store_load.h.  Owns the GC lock of s
 * from store_load_begin to store_load_end or store_load_undo, and the
 * metadata transaction of store_load_record.
 */
#include "store_load.h"

#include <errno.h>
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
	if ((rc = fn(s, arg, err)) != BARGE_OK) {
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
