#include "store_load.h"

#include <sqlite3.h>

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
