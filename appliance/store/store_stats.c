/*
 * store_stats: the store's size at a glance (store.h: store_stats), for
 * barged's /metrics and status page: the blob files and their bytes, and
 * the rows counted.  Owns nothing; reads what store_blob.c and store_db.c
 * own.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fileutil.h"
#include "store_int.h"

static int
stats_blob(struct store *s, const char *path, const char *digest, const struct stat *st, void *arg,
           struct barge_err *err)
{
	struct store_stats *out = arg;

	(void)s;
	(void)path;
	(void)err;
	/* What is not a blob's name is fsck's to report, not a blob to count. */
	if (digest != NULL) {
		out->blobs++;
		out->bytes += (int64_t)st->st_size;
	}
	return BARGE_OK;
}

static int
stats_count(struct store *s, const char *sql, int64_t *out, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_row(s, st, sql, err)) == BARGE_OK)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == BARGE_ENOTFOUND)
		rc = db_fail(s, err, sql);
	sqlite3_finalize(st);
	return rc;
}

int
store_stats(struct store *s, struct store_stats *out, struct barge_err *err)
{
	struct store_stats res = { 0 };
	struct stat sb;
	char *top;
	int rc = BARGE_OK;

	if ((top = fu_printf("%s/blobs", s->dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* A store whose blob folder is gone holds no blobs: a figure, not an error. */
	if (lstat(top, &sb) == 0 || errno != ENOENT)
		rc = blob_walk(s, stats_blob, &res, err);
	free(top);
	if (rc != BARGE_OK)
		return rc;
	if ((rc = stats_count(s, "SELECT COUNT(*) FROM uploads", &res.uploads, err)) != BARGE_OK ||
	    (rc = stats_count(s, "SELECT COUNT(*) FROM tags", &res.tags, err)) != BARGE_OK ||
	    (rc = stats_count(s, "SELECT COUNT(*) FROM repositories", &res.repos, err)) != BARGE_OK)
		return rc;
	*out = res;
	return BARGE_OK;
}
