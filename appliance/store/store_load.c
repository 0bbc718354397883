/*
 * store_load: the store queries only the loader needs (store_load.h).
 */
#include "store_load.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

int
store_load_find_bundle(struct store *s, const char *digest, int64_t *id, struct barge_err *err)
{
	static const char sql[] = "SELECT id FROM bundles WHERE digest = ?1 ORDER BY id LIMIT 1";
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, err, "prepare");
	if ((rc = bind_text(s, st, 1, digest, err)) != BARGE_OK)
		goto out;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*id = sqlite3_column_int64(st, 0);
		rc = BARGE_OK;
		break;
	case SQLITE_DONE:
		rc = err_set(err, BARGE_ENOTFOUND, "no bundle %s", digest);
		break;
	default:
		rc = db_fail(s, err, "find bundle");
		break;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int
store_load_drop_blobs(struct store *s, const char *const *digests, size_t n, size_t *dropped,
                      struct barge_err *err)
{
	/* What GC counts as live (store_gc.c). */
	static const char sql[] = "SELECT 1 FROM manifests WHERE digest = ?1"
	                          " UNION ALL SELECT 1 FROM refs WHERE child = ?1 LIMIT 1";
	sqlite3_stmt *st = NULL;
	char *path = NULL, *slash;
	size_t i;
	int rc = BARGE_OK, step;

	*dropped = 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, err, "prepare");
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
		(*dropped)++;
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
