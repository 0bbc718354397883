/*
 * store_db: the store's SQLite database, DIR/barge.db.  Owns the schema
 * (docs/store.md), opening the database in WAL mode, the transactions of
 * store.h, and the small statement helpers every file of the store uses
 * (store_int.h).  The statements themselves live with the code that runs
 * them.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "store_int.h"

#define STORE_SCHEMA_VERSION 3

/*
 * Foreign keys keep the metadata whole: a tag can only name a manifest its
 * repository holds, and a bundle can only claim such manifests.  refs are
 * global (content addressed), so they name digests, not rows.
 */
static const char schema_v1[] =
        "CREATE TABLE repositories("
        "  id INTEGER PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE);"
        "CREATE TABLE manifests("
        "  repo_id INTEGER NOT NULL REFERENCES repositories(id),"
        "  digest TEXT NOT NULL,"
        "  media_type TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  UNIQUE(repo_id, digest));"
        "CREATE INDEX manifests_digest ON manifests(digest);"
        "CREATE TABLE tags("
        "  repo_id INTEGER NOT NULL,"
        "  name TEXT NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  UNIQUE(repo_id, name),"
        "  FOREIGN KEY(repo_id, digest) REFERENCES manifests(repo_id, digest));"
        "CREATE INDEX tags_target ON tags(repo_id, digest);"
        "CREATE TABLE refs("
        "  parent TEXT NOT NULL,"
        "  child TEXT NOT NULL,"
        "  UNIQUE(parent, child));"
        "CREATE INDEX refs_child ON refs(child);"
        "CREATE TABLE bundles("
        "  id INTEGER PRIMARY KEY,"
        "  name TEXT NOT NULL,"
        "  version TEXT NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  loaded_at INTEGER NOT NULL);"
        "CREATE TABLE bundle_images("
        "  bundle_id INTEGER NOT NULL REFERENCES bundles(id),"
        "  repo_id INTEGER NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  UNIQUE(bundle_id, repo_id, digest),"
        "  FOREIGN KEY(repo_id, digest) REFERENCES manifests(repo_id, digest));"
        "CREATE INDEX bundle_images_target ON bundle_images(repo_id, digest);"
        /*
         * Push sessions (OCI upload URLs).  An upload's bytes live in
         * DIR/uploads/<id>; the row says which repository it belongs to and
         * how far it got, so that a restart can resume or expire it and GC
         * never takes a blob an open upload is about to link.
         */
        "CREATE TABLE uploads("
        "  id TEXT PRIMARY KEY,"
        "  repo TEXT NOT NULL,"
        "  offset INTEGER NOT NULL DEFAULT 0,"
        "  started_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL);";

/*
 * Version 3: the pull-through cache (issue #12).  A tag says who set it
 * (origin: 1 bundle, 2 push, 3 proxy; NULL for tags set before version 3,
 * which read as before: bundle if a bundle pins the target, else push) and
 * when the proxy last fetched it.  proxy_manifests holds what the proxy
 * fetched, from which registry, and when it was last pulled (milliseconds,
 * strictly increasing within a process: eviction's LRU order).  Its rows go
 * with their manifest row (ON DELETE CASCADE), so GC, repair and deletes
 * need not know them.  A bundle row says who signed the bundle (the key id,
 * NULL when unsigned) and where it was loaded from (a path, "upload from
 * ADDRESS", a device), for the operator's pages (issue #14); rows from
 * before version 3 have neither.  Adding NULL columns rewrites nothing: the
 * upgrade costs the same on any store.
 */
static const char schema_v3[] =
        "ALTER TABLE tags ADD COLUMN origin INTEGER;"
        "ALTER TABLE tags ADD COLUMN fetched_at INTEGER;"
        "ALTER TABLE bundles ADD COLUMN signer TEXT;"
        "ALTER TABLE bundles ADD COLUMN source TEXT;"
        "CREATE TABLE proxy_manifests("
        "  repo_id INTEGER NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  registry TEXT NOT NULL,"
        "  fetched_at INTEGER NOT NULL,"
        "  pulled_at INTEGER NOT NULL,"
        "  PRIMARY KEY(repo_id, digest),"
        "  FOREIGN KEY(repo_id, digest) REFERENCES manifests(repo_id, digest)"
        "    ON DELETE CASCADE) WITHOUT ROWID;"
        "CREATE INDEX proxy_manifests_lru ON proxy_manifests(pulled_at);";

int
db_fail(struct store *s, struct barge_err *err, const char *what)
{
	int code = sqlite3_extended_errcode(s->db);

	if ((code & 0xff) == SQLITE_CONSTRAINT)
		return err_set(err, BARGE_EINVAL, "%s: %s", what, sqlite3_errmsg(s->db));
	return err_set(err, BARGE_EIO, "%s/barge.db: %s: %s", s->dir, what, sqlite3_errmsg(s->db));
}

int
db_exec(struct store *s, const char *sql, const char *what, struct barge_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, what);
	return BARGE_OK;
}

int
db_prepare(struct store *s, const char *sql, sqlite3_stmt **st, struct barge_err *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(s, err, "prepare");
	return BARGE_OK;
}

void
stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int
bind_text(struct store *s, sqlite3_stmt *st, int i, const char *v, struct barge_err *err)
{
	if (sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) != SQLITE_OK)
		return db_fail(s, err, "bind");
	return BARGE_OK;
}

int
bind_int(struct store *s, sqlite3_stmt *st, int i, int64_t v, struct barge_err *err)
{
	if (sqlite3_bind_int64(st, i, v) != SQLITE_OK)
		return db_fail(s, err, "bind");
	return BARGE_OK;
}

int
stmt_run(struct store *s, sqlite3_stmt *st, const char *what, struct barge_err *err)
{
	int rc = BARGE_OK;

	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(s, err, what);
	stmt_done(st);
	return rc;
}

int
stmt_row(struct store *s, sqlite3_stmt *st, const char *what, struct barge_err *err)
{
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		return BARGE_OK;
	case SQLITE_DONE:
		return BARGE_ENOTFOUND;
	default:
		return db_fail(s, err, what);
	}
}

int
stmt_each_text(struct store *s, sqlite3_stmt *st, int (*fn)(const char *v, void *arg), void *arg,
               const char *what, struct barge_err *err)
{
	const char *v;
	int step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		/* A NULL for a NOT NULL column is SQLite failing to allocate. */
		if ((v = (const char *)sqlite3_column_text(st, 0)) == NULL)
			return err_set(err, BARGE_ENOMEM, "%s: out of memory", what);
		if (fn(v, arg) != 0)
			return BARGE_OK;
	}
	if (step != SQLITE_DONE)
		return db_fail(s, err, what);
	return BARGE_OK;
}

int
col_text(sqlite3_stmt *st, int i, const char **out, struct barge_err *err)
{
	if ((*out = (const char *)sqlite3_column_text(st, i)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

int
db_run_int(struct store *s, const char *sql, int64_t v, int64_t *changes, const char *what,
           struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if (sqlite3_bind_parameter_count(st) > 0 && (rc = bind_int(s, st, 1, v, err)) != BARGE_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(s, err, what);
		goto out;
	}
	if (changes != NULL)
		*changes = sqlite3_changes(s->db);
out:
	sqlite3_finalize(st);
	return rc;
}

int
db_has_table(struct store *s, const char *name, int *yes, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = db_prepare(s, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
	                     &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, name, err)) == BARGE_OK) {
		step = sqlite3_step(st);
		if (step != SQLITE_ROW && step != SQLITE_DONE)
			rc = db_fail(s, err, "look up table");
		*yes = step == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Waits until no reader can still see rows this handle's last commit
 * deleted: a FULL checkpoint copies every WAL frame into the database, which
 * it can only do once every reader of an older snapshot has finished.
 */
int
db_wait_readers(struct store *s)
{
	return sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_FULL, NULL, NULL) ==
	       SQLITE_OK;
}
/* Whole-listing reads run in one snapshot, so a concurrent load shows whole or not at all. */
int
db_snap_begin(struct store *s, int *began, struct barge_err *err)
{
	int rc;

	*began = 0;
	if (!sqlite3_get_autocommit(s->db))
		return BARGE_OK;
	if ((rc = db_exec(s, "BEGIN", "begin read", err)) != BARGE_OK)
		return rc;
	*began = 1;
	return BARGE_OK;
}

void
db_snap_end(struct store *s, int began)
{
	if (began)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

static int
schema_init(struct store *s, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int version, rc;

	if ((rc = db_exec(s, "BEGIN IMMEDIATE", "begin", err)) != BARGE_OK)
		return rc;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(s, err, "read schema version");
		goto fail;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > STORE_SCHEMA_VERSION) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s/barge.db: schema version %d is newer than this barged (%d)",
		             s->dir, version, STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (version == 0 && (rc = db_exec(s, schema_v1, "create schema", err)) != BARGE_OK)
		goto fail;
	/*
	 * Version 2 records the size of a reference's child (issue #18: barged
	 * ls read it with a stat per image).  References recorded before have
	 * none, and their readers stat the file as before.
	 */
	if (version < 2 && (rc = db_exec(s, "ALTER TABLE refs ADD COLUMN size INTEGER",
	                                 "upgrade schema to 2", err)) != BARGE_OK)
		goto fail;
	if (version < 3 && (rc = db_exec(s, schema_v3, "upgrade schema to 3", err)) != BARGE_OK)
		goto fail;
	/* PRAGMA takes no bound parameters; the value is our constant. */
	if (version < STORE_SCHEMA_VERSION &&
	    (rc = db_exec(s, "PRAGMA user_version = 3", "set schema version", err)) != BARGE_OK)
		goto fail;
	return db_exec(s, "COMMIT", "commit schema", err);
fail:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
db_open(struct store *s, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	char *path;
	int rc;

	if ((path = fu_printf("%s/barge.db", s->dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	rc = sqlite3_open_v2(path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	free(path);
	if (rc != SQLITE_OK) {
		if (s->db == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		return db_fail(s, err, "open");
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	/* journal_mode answers with the mode in force, which must be WAL. */
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(s, err, "set WAL mode");
		sqlite3_finalize(st);
		return rc;
	}
	if (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		sqlite3_finalize(st);
		return err_set(err, BARGE_EIO, "%s/barge.db: can not use WAL mode", s->dir);
	}
	sqlite3_finalize(st);
	/* A load's commit must be on disk before `barged load` reports success. */
	if ((rc = db_exec(s, "PRAGMA synchronous = FULL", "set synchronous", err)) != BARGE_OK ||
	    (rc = db_exec(s, "PRAGMA foreign_keys = ON", "enable foreign keys", err)) != BARGE_OK)
		return rc;
	return schema_init(s, err);
}

/*
 * A second connection, read-only, so that a check can read the database on
 * another thread while this one works (issue #18: fsck's quick_check and
 * reads ran after the hashing walk, one core idle).  r borrows s's dir.
 */
int
db_open_reader(const struct store *s, struct store *r, struct barge_err *err)
{
	char *path;
	int rc;

	memset(r, 0, sizeof(*r));
	r->dir = s->dir;
	r->lock_fd = -1;
	if ((path = fu_printf("%s/barge.db", s->dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	free(path);
	if (rc != SQLITE_OK) {
		rc = r->db == NULL ? err_set(err, BARGE_ENOMEM, "out of memory")
		                   : db_fail(r, err, "open for reading");
		db_close_reader(r);
		return rc;
	}
	sqlite3_extended_result_codes(r->db, 1);
	sqlite3_busy_timeout(r->db, STORE_BUSY_MS);
	return BARGE_OK;
}

void
db_close_reader(struct store *r)
{
	sqlite3_close(r->db);
	r->db = NULL;
}

int
store_begin(struct store *s, struct barge_err *err)
{
	/* IMMEDIATE takes the write lock now instead of failing at the first write. */
	return db_exec(s, "BEGIN IMMEDIATE", "begin", err);
}

int
store_commit(struct store *s, struct barge_err *err)
{
	int rc;

	if ((rc = db_exec(s, "COMMIT", "commit", err)) != BARGE_OK)
		store_rollback(s);
	return rc;
}

void
store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
