#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "ref.h"
#include "store_int.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_BUSY_MS        5000
#define STORE_DIR_MODE       0755
#define STORE_FILE_MODE      0644
#define STORE_TMP_PREFIX     "blob-"
#define STORE_LOCK_POLL_MS   50

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

/* Every statement the store runs, prepared once per handle. */
enum {
	ST_REPO_ADD,
	ST_REPO_ID,
	ST_MANIFEST_ADD,
	ST_REF_ADD,
	ST_TAG_SET,
	ST_BUNDLE_BY_DIGEST,
	ST_BUNDLE_ADD,
	ST_BUNDLE_IMAGE_ADD,
	ST_MANIFEST_BY_DIGEST,
	ST_MANIFEST_BY_TAG,
	ST_REPO_HAS_BLOB,
	ST_LIST_TAGS,
	ST_COUNT
};

_Static_assert(ST_COUNT <= STORE_STMT_MAX, "statement cache too small");

static const char *const stmt_sql[ST_COUNT] = {
	[ST_REPO_ADD] = "INSERT INTO repositories(name) VALUES(?1) ON CONFLICT(name) DO NOTHING",
	[ST_REPO_ID] = "SELECT id FROM repositories WHERE name = ?1",
	/* The same digest is the same bytes: the first record of it stands. */
	[ST_MANIFEST_ADD] = "INSERT INTO manifests(repo_id, digest, media_type, size) "
	                    "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(repo_id, digest) DO NOTHING",
	[ST_REF_ADD] = "INSERT INTO refs(parent, child) VALUES(?1, ?2) ON CONFLICT DO NOTHING",
	[ST_TAG_SET] = "INSERT INTO tags(repo_id, name, digest) VALUES(?1, ?2, ?3) "
	               "ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest",
	[ST_BUNDLE_BY_DIGEST] = "SELECT id FROM bundles WHERE digest = ?1 ORDER BY id LIMIT 1",
	[ST_BUNDLE_ADD] = "INSERT INTO bundles(name, version, digest, loaded_at) "
	                  "VALUES(?1, ?2, ?3, CAST(strftime('%s', 'now') AS INTEGER))",
	[ST_BUNDLE_IMAGE_ADD] = "INSERT INTO bundle_images(bundle_id, repo_id, digest) "
	                        "VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING",
	[ST_MANIFEST_BY_DIGEST] = "SELECT m.digest, m.media_type, m.size FROM manifests m "
	                          "JOIN repositories r ON r.id = m.repo_id "
	                          "WHERE r.name = ?1 AND m.digest = ?2",
	[ST_MANIFEST_BY_TAG] = "SELECT m.digest, m.media_type, m.size FROM tags t "
	                       "JOIN repositories r ON r.id = t.repo_id "
	                       "JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest "
	                       "WHERE r.name = ?1 AND t.name = ?2",
	/*
	 * Walks up from the blob (index -> manifest -> blob is at most two
	 * steps), so the cost follows the blob's parents and not the size of
	 * the repository.
	 */
	[ST_REPO_HAS_BLOB] =
	        "WITH RECURSIVE up(d, depth) AS ("
	        "  SELECT ?2, 0"
	        "  UNION"
	        "  SELECT refs.parent, up.depth + 1 FROM refs JOIN up ON refs.child = up.d"
	        "  WHERE up.depth < 2) "
	        "SELECT 1 FROM up JOIN manifests m ON m.digest = up.d "
	        "JOIN repositories r ON r.id = m.repo_id WHERE r.name = ?1 LIMIT 1",
	[ST_LIST_TAGS] = "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id "
	                 "WHERE r.name = ?1 AND t.name > ?2 ORDER BY t.name LIMIT ?3",
};

struct store_blob_writer {
	struct store *s;
	char digest[DIGEST_STR_MAX];
	char *tmp_path;
	int fd;
	struct digest_writer *dw;
};

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

/* Returns statement which, reset and with no bindings, prepared on first use. */
static int
stmt_get(struct store *s, int which, sqlite3_stmt **out, struct barge_err *err)
{
	if (s->stmt[which] == NULL &&
	    sqlite3_prepare_v3(s->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
	                       &s->stmt[which], NULL) != SQLITE_OK)
		return db_fail(s, err, "prepare");
	*out = s->stmt[which];
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

/* Steps a statement that returns no rows, then resets it. */
int
stmt_run(struct store *s, sqlite3_stmt *st, const char *what, struct barge_err *err)
{
	int rc = BARGE_OK;

	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(s, err, what);
	stmt_done(st);
	return rc;
}

/*
 * Builds DIR/blobs/<alg>/<2 hex>/<hex> for a digest that digest_parse
 * accepted, so the path can not leave the store.  Caller frees.
 */
int
blob_path(const struct store *s, const char *digest, char **out, struct barge_err *err)
{
	const char *hex = NULL;
	char *p;
	int rc;

	if ((rc = digest_parse(digest, NULL, &hex, err)) != BARGE_OK)
		return rc;
	p = fu_printf("%s/blobs/%.*s/%.2s/%s", s->dir, (int)(hex - 1 - digest), digest, hex, hex);
	if (p == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*out = p;
	return BARGE_OK;
}

static int
fsync_dir(const char *path, struct barge_err *err)
{
	int fd, rc = BARGE_OK;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys(err, BARGE_EIO, errno, "open %s", path);
	if (fsync(fd) != 0)
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", path);
	close(fd);
	return rc;
}

/* mkdir path; when it is new, fsyncs its parent so the entry survives a crash. */
static int
mkdir_durable(char *path, struct barge_err *err)
{
	char *slash;
	int rc;

	if (mkdir(path, STORE_DIR_MODE) != 0) {
		if (errno == EEXIST)
			return BARGE_OK;
		return err_sys(err, BARGE_EIO, errno, "mkdir %s", path);
	}
	slash = strrchr(path, '/');
	if (slash == NULL || slash == path)
		return BARGE_OK;
	*slash = '\0';
	rc = fsync_dir(path, err);
	*slash = '/';
	return rc;
}

int
blob_place(struct store *s, const char *src, const char *digest, struct barge_err *err)
{
	struct stat st;
	char *final = NULL, *dir = NULL;
	int rc;

	if ((rc = blob_path(s, digest, &final, err)) != BARGE_OK)
		return rc;
	/* Content addressed: a blob already in place has these very bytes. */
	if (stat(final, &st) == 0 && S_ISREG(st.st_mode)) {
		unlink(src);
		goto out;
	}
	if ((dir = strdup(final)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	/* dir is DIR/blobs/<alg>/<2 hex>: make <alg>, then <2 hex>. */
	*strrchr(dir, '/') = '\0';
	*strrchr(dir, '/') = '\0';
	if ((rc = mkdir_durable(dir, err)) != BARGE_OK)
		goto out;
	dir[strlen(dir)] = '/';
	if ((rc = mkdir_durable(dir, err)) != BARGE_OK)
		goto out;
	if (rename(src, final) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "rename %s to %s", src, final);
		goto out;
	}
	rc = fsync_dir(dir, err);
out:
	free(final);
	free(dir);
	return rc;
}

/*
 * Removes what crashed writers left in tmp/.  A live writer holds an
 * exclusive flock on its file for its whole life (also across processes:
 * `barged load` runs beside `barged serve`), so only files nobody holds go.
 */
static void
clean_tmp(struct store *s)
{
	struct dirent *de;
	char *path;
	DIR *d;
	int fd;

	if ((d = opendir(s->tmp_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX)) != 0)
			continue;
		if ((path = fu_printf("%s/%s", s->tmp_dir, de->d_name)) == NULL)
			break;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlink(path);
		if (fd >= 0)
			close(fd);
		free(path);
	}
	closedir(d);
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
	if (version == 0) {
		if ((rc = db_exec(s, schema_v1, "create schema", err)) != BARGE_OK)
			goto fail;
		/* PRAGMA takes no bound parameters; the value is our constant. */
		if ((rc = db_exec(s, "PRAGMA user_version = 1", "set schema version", err)) !=
		    BARGE_OK)
			goto fail;
	}
	return db_exec(s, "COMMIT", "commit schema", err);
fail:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int
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

int
store_open(const char *dir, struct store **out, struct barge_err *err)
{
	struct store *s = NULL;
	char *p = NULL;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	s->lock_fd = -1;
	if ((s->dir = strdup(dir)) == NULL || (s->tmp_dir = fu_printf("%s/tmp", dir)) == NULL ||
	    (p = fu_printf("%s/blobs/sha256", dir)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = fu_mkdirs(p, STORE_DIR_MODE, err)) != BARGE_OK ||
	    (rc = fu_mkdirs(s->tmp_dir, STORE_DIR_MODE, err)) != BARGE_OK)
		goto fail;
	clean_tmp(s);
	if ((rc = db_open(s, err)) != BARGE_OK)
		goto fail;
	free(p);
	*out = s;
	return BARGE_OK;
fail:
	free(p);
	store_close(s);
	return rc;
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	store_unlock(s);
	free(s->tmp_dir);
	free(s->dir);
	free(s);
}

const char *
store_dir(const struct store *s)
{
	return s->dir;
}

/* --- blobs ---------------------------------------------------------------- */

/*
 * Creates a locked temp file.  The lock is taken after the file exists, so a
 * clean_tmp in another process may unlink it in between; then the file has
 * no name left and we make another.
 */
static int
tmp_create(struct store *s, char **path, int *fd, struct barge_err *err)
{
	struct stat st;
	char *p = NULL;
	int f = -1, tries;

	for (tries = 0; tries < 8; tries++) {
		if ((p = fu_printf("%s/" STORE_TMP_PREFIX "XXXXXX", s->tmp_dir)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if ((f = mkostemp(p, O_CLOEXEC)) < 0) {
			err_sys(err, BARGE_EIO, errno, "create temporary file in %s", s->tmp_dir);
			free(p);
			return BARGE_EIO;
		}
		if (flock(f, LOCK_EX) != 0 || fstat(f, &st) != 0) {
			err_sys(err, BARGE_EIO, errno, "lock %s", p);
			unlink(p);
			close(f);
			free(p);
			return BARGE_EIO;
		}
		if (st.st_nlink > 0) {
			if (fchmod(f, STORE_FILE_MODE) != 0) {
				err_sys(err, BARGE_EIO, errno, "chmod %s", p);
				unlink(p);
				close(f);
				free(p);
				return BARGE_EIO;
			}
			*path = p;
			*fd = f;
			return BARGE_OK;
		}
		close(f);
		free(p);
	}
	return err_set(err, BARGE_EIO, "%s: temporary files keep disappearing", s->tmp_dir);
}

int
store_blob_begin(struct store *s, const char *digest, int64_t size, struct store_blob_writer **out,
                 struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	w->s = s;
	w->fd = -1;
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	if ((rc = tmp_create(s, &w->tmp_path, &w->fd, err)) != BARGE_OK)
		goto fail;
	if ((rc = digest_writer_new(w->fd, digest, size, &w->dw, err)) != BARGE_OK)
		goto fail;
	*out = w;
	return BARGE_OK;
fail:
	store_blob_abort(w);
	return rc;
}

int
store_blob_write(struct store_blob_writer *w, const void *buf, size_t len, struct barge_err *err)
{
	int rc;

	if ((rc = digest_writer_write(w->dw, buf, len, err)) != BARGE_OK)
		return err_prefix(err, "blob %s", w->digest);
	return BARGE_OK;
}

int
store_blob_commit(struct store_blob_writer *w, struct barge_err *err)
{
	int rc;

	if ((rc = digest_writer_finish(w->dw, err)) != BARGE_OK) {
		err_prefix(err, "blob %s", w->digest);
		goto out;
	}
	if (fsync(w->fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", w->tmp_path);
		goto out;
	}
	rc = blob_place(w->s, w->tmp_path, w->digest, err);
out:
	/* After blob_place the temp name is gone and unlink is a no-op. */
	store_blob_abort(w);
	return rc;
}

void
store_blob_abort(struct store_blob_writer *w)
{
	if (w == NULL)
		return;
	digest_writer_free(w->dw);
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	if (w->fd >= 0)
		close(w->fd);
	free(w->tmp_path);
	free(w);
}

int
store_blob_exists(struct store *s, const char *digest)
{
	struct barge_err err;
	struct stat st;
	char *path = NULL;
	int ok;

	if (blob_path(s, digest, &path, &err) != BARGE_OK)
		return 0;
	ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok;
}

int
store_blob_open(struct store *s, const char *digest, int *fd, int64_t *size, struct barge_err *err)
{
	struct stat st;
	char *path = NULL;
	int f = -1, rc;

	if ((rc = blob_path(s, digest, &path, err)) != BARGE_OK)
		return rc;
	if ((f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "blob %s",
		             digest);
		goto fail;
	}
	if (fstat(f, &st) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "stat %s", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(err, BARGE_EIO, "%s: not a regular file", path);
		goto fail;
	}
	free(path);
	*fd = f;
	*size = (int64_t)st.st_size;
	return BARGE_OK;
fail:
	if (f >= 0)
		close(f);
	free(path);
	return rc;
}

/* --- metadata ------------------------------------------------------------- */

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

/* Looks up repo's id: BARGE_ENOTFOUND when it has none. */
static int
repo_id(struct store *s, const char *repo, int64_t *id, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt_get(s, ST_REPO_ID, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK)
		goto out;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*id = sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		rc = err_set(err, BARGE_ENOTFOUND, "repository %s not found", repo);
		break;
	default:
		rc = db_fail(s, err, "look up repository");
		break;
	}
out:
	stmt_done(st);
	return rc;
}

static int
repo_ensure(struct store *s, const char *repo, int64_t *id, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (!ref_valid_repo(repo))
		return err_set(err, BARGE_EINVAL, "invalid repository name '%s'", repo);
	if ((rc = stmt_get(s, ST_REPO_ADD, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK) {
		stmt_done(st);
		return rc;
	}
	if ((rc = stmt_run(s, st, "add repository", err)) != BARGE_OK)
		return rc;
	return repo_id(s, repo, id, err);
}

int
store_put_manifest(struct store *s, const char *repo, const char *digest, const char *media_type,
                   int64_t size, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t id;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if (size < 0)
		return err_set(err, BARGE_EINVAL, "manifest %s: negative size", digest);
	if (!store_blob_exists(s, digest))
		return err_set(err, BARGE_ENOTFOUND, "manifest %s: blob not in the store", digest);
	if ((rc = repo_ensure(s, repo, &id, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_get(s, ST_MANIFEST_ADD, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, id, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, digest, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 3, media_type, err)) != BARGE_OK ||
	    (rc = bind_int(s, st, 4, size, err)) != BARGE_OK) {
		stmt_done(st);
		return rc;
	}
	return stmt_run(s, st, "add manifest", err);
}

int
store_put_ref(struct store *s, const char *digest, const char *child, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK ||
	    (rc = digest_parse(child, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_get(s, ST_REF_ADD, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, digest, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, child, err)) != BARGE_OK) {
		stmt_done(st);
		return rc;
	}
	return stmt_run(s, st, "add reference", err);
}

int
store_put_tag(struct store *s, const char *repo, const char *tag, const char *digest,
              struct barge_err *err)
{
	struct store_manifest m;
	sqlite3_stmt *st = NULL;
	int64_t id;
	int rc;

	if (!ref_valid_tag(tag))
		return err_set(err, BARGE_EINVAL, "invalid tag '%s'", tag);
	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	/* Said here in words; the foreign key would only say "constraint failed". */
	if ((rc = store_get_manifest(s, repo, digest, &m, err)) != BARGE_OK)
		return err_prefix(err, "tag %s:%s", repo, tag);
	if ((rc = repo_id(s, repo, &id, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_get(s, ST_TAG_SET, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, id, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, tag, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 3, digest, err)) != BARGE_OK) {
		stmt_done(st);
		return rc;
	}
	return stmt_run(s, st, "set tag", err);
}

int
store_put_bundle(struct store *s, const char *name, const char *version, const char *digest,
                 int64_t *id, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	/* barge.json names every blob: the same digest is the same bundle, recorded once. */
	if ((rc = stmt_get(s, ST_BUNDLE_BY_DIGEST, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, digest, err)) != BARGE_OK) {
		stmt_done(st);
		return rc;
	}
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*id = sqlite3_column_int64(st, 0);
		stmt_done(st);
		return BARGE_OK;
	case SQLITE_DONE:
		stmt_done(st);
		break;
	default:
		rc = db_fail(s, err, "look up bundle");
		stmt_done(st);
		return rc;
	}
	if ((rc = stmt_get(s, ST_BUNDLE_ADD, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, name, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, version, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 3, digest, err)) != BARGE_OK) {
		stmt_done(st);
		return rc;
	}
	if ((rc = stmt_run(s, st, "add bundle", err)) != BARGE_OK)
		return rc;
	*id = sqlite3_last_insert_rowid(s->db);
	return BARGE_OK;
}

int
store_put_bundle_image(struct store *s, int64_t id, const char *repo, const char *digest,
                       struct barge_err *err)
{
	struct store_manifest m;
	sqlite3_stmt *st = NULL;
	int64_t rid;
	int rc;

	if ((rc = store_get_manifest(s, repo, digest, &m, err)) != BARGE_OK)
		return err_prefix(err, "bundle image %s@%s", repo, digest);
	if ((rc = repo_id(s, repo, &rid, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_get(s, ST_BUNDLE_IMAGE_ADD, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, id, err)) != BARGE_OK ||
	    (rc = bind_int(s, st, 2, rid, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 3, digest, err)) != BARGE_OK) {
		stmt_done(st);
		return rc;
	}
	return stmt_run(s, st, "add bundle image", err);
}

/* --- lookups -------------------------------------------------------------- */

int
store_get_manifest(struct store *s, const char *repo, const char *reference,
                   struct store_manifest *out, struct barge_err *err)
{
	const char *dg, *mt;
	sqlite3_stmt *st = NULL;
	int by_digest, rc;

	/* A tag never contains ':', so anything with one must be a valid digest. */
	by_digest = strchr(reference, ':') != NULL;
	if (by_digest && (rc = digest_parse(reference, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_get(s, by_digest ? ST_MANIFEST_BY_DIGEST : ST_MANIFEST_BY_TAG, &st, err)) !=
	    BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, reference, err)) != BARGE_OK)
		goto out;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		/* column_text is NULL only when SQLite runs out of memory. */
		dg = (const char *)sqlite3_column_text(st, 0);
		mt = (const char *)sqlite3_column_text(st, 1);
		if (dg == NULL || mt == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			break;
		}
		snprintf(out->digest, sizeof(out->digest), "%s", dg);
		snprintf(out->media_type, sizeof(out->media_type), "%s", mt);
		out->size = sqlite3_column_int64(st, 2);
		break;
	case SQLITE_DONE:
		rc = err_set(err, BARGE_ENOTFOUND, "manifest %s not found in %s", reference, repo);
		break;
	default:
		rc = db_fail(s, err, "look up manifest");
		break;
	}
out:
	stmt_done(st);
	return rc;
}

int
store_repo_has_blob(struct store *s, const char *repo, const char *digest, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_get(s, ST_REPO_HAS_BLOB, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, digest, err)) != BARGE_OK)
		goto out;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		rc = err_set(err, BARGE_ENOTFOUND, "blob %s not found in %s", digest, repo);
		break;
	default:
		rc = db_fail(s, err, "look up blob");
		break;
	}
out:
	stmt_done(st);
	return rc;
}

int
store_repo_exists(struct store *s, const char *repo)
{
	struct barge_err err;
	int64_t id;

	return repo_id(s, repo, &id, &err) == BARGE_OK;
}

int
store_list_tags(struct store *s, const char *repo, const char *last, int n,
                int (*fn)(const char *tag, void *arg), void *arg, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt_get(s, ST_LIST_TAGS, &st, err)) != BARGE_OK)
		return rc;
	/* Every tag sorts after "", and LIMIT -1 is no limit. */
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, last != NULL ? last : "", err)) != BARGE_OK ||
	    (rc = bind_int(s, st, 3, n > 0 ? n : -1, err)) != BARGE_OK)
		goto out;
	rc = stmt_each_text(s, st, fn, arg, "list tags", err);
out:
	stmt_done(st);
	return rc;
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

/* --- consistent reads ----------------------------------------------------- */

/*
 * A deferred BEGIN starts the read snapshot at the first statement and holds
 * it until COMMIT, across the open(2) of blobs.  Inside a transaction the
 * caller already opened, that one holds the snapshot.
 */
int
store_read_begin(struct store *s, struct barge_err *err)
{
	int rc;

	if (!sqlite3_get_autocommit(s->db))
		return BARGE_OK;
	if ((rc = db_exec(s, "BEGIN", "begin read", err)) != BARGE_OK)
		return rc;
	s->read_txn = 1;
	return BARGE_OK;
}

void
store_read_end(struct store *s)
{
	if (!s->read_txn)
		return;
	s->read_txn = 0;
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

int
store_open_manifest(struct store *s, const char *repo, const char *reference,
                    struct store_manifest *m, int *fd, int64_t *size, struct barge_err *err)
{
	int outer = s->read_txn, rc;

	if ((rc = store_read_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = store_get_manifest(s, repo, reference, m, err)) == BARGE_OK)
		rc = store_blob_open(s, m->digest, fd, size, err);
	if (!outer)
		store_read_end(s);
	return rc;
}

int
store_open_repo_blob(struct store *s, const char *repo, const char *digest, int *fd, int64_t *size,
                     struct barge_err *err)
{
	int outer = s->read_txn, rc;

	if ((rc = store_read_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = store_repo_has_blob(s, repo, digest, err)) == BARGE_OK)
		rc = store_blob_open(s, digest, fd, size, err);
	if (!outer)
		store_read_end(s);
	return rc;
}

/* --- the GC lock ---------------------------------------------------------- */

static int
lock_open(struct store *s, struct barge_err *err)
{
	char *path;

	if (s->lock_fd >= 0)
		return err_set(err, BARGE_EINVAL, "%s/gc.lock: already held by this handle",
		               s->dir);
	if ((path = fu_printf("%s/gc.lock", s->dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, STORE_FILE_MODE);
	if (s->lock_fd < 0) {
		err_sys(err, BARGE_EIO, errno, "open %s", path);
		free(path);
		return BARGE_EIO;
	}
	free(path);
	return BARGE_OK;
}

int
store_lock_shared(struct store *s, struct barge_err *err)
{
	int rc;

	if ((rc = lock_open(s, err)) != BARGE_OK)
		return rc;
	while (flock(s->lock_fd, LOCK_SH) != 0) {
		if (errno == EINTR)
			continue;
		rc = err_sys(err, BARGE_EIO, errno, "lock %s/gc.lock", s->dir);
		store_unlock(s);
		return rc;
	}
	return BARGE_OK;
}

int
store_lock_exclusive(struct store *s, int wait_ms, struct barge_err *err)
{
	int rc, waited = 0;

	if ((rc = lock_open(s, err)) != BARGE_OK)
		return rc;
	for (;;) {
		if (flock(s->lock_fd, wait_ms < 0 ? LOCK_EX : LOCK_EX | LOCK_NB) == 0)
			return BARGE_OK;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			rc = err_sys(err, BARGE_EIO, errno, "lock %s/gc.lock", s->dir);
			break;
		}
		if (waited >= wait_ms) {
			rc = err_set(err, BARGE_EEXIST,
			             "%s: busy: a load or another gc holds %s/gc.lock", s->dir,
			             s->dir);
			break;
		}
		usleep(STORE_LOCK_POLL_MS * 1000);
		waited += STORE_LOCK_POLL_MS;
	}
	store_unlock(s);
	return rc;
}

void
store_unlock(struct store *s)
{
	if (s->lock_fd < 0)
		return;
	/* Closing the only descriptor of the open file releases the flock. */
	close(s->lock_fd);
	s->lock_fd = -1;
}
