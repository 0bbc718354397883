/*
 * store: the handle of the content-addressed store (store.h) and its
 * metadata rows: repositories, manifests, references, tags, bundles and
 * their pins, written and looked up through a cache of prepared statements
 * that this file owns.  The files and the database itself are
 * store_blob.c's and store_db.c's.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileutil.h"
#include "ref.h"
#include "store_int.h"

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
	/* A reference recorded before schema 2 gets its child's size the next time. */
	[ST_REF_ADD] = "INSERT INTO refs(parent, child, size) VALUES(?1, ?2, ?3) "
	               "ON CONFLICT DO UPDATE SET size = excluded.size"
	               " WHERE size IS NULL AND excluded.size IS NOT NULL",
	/* Whoever sets a tag owns it: a load or push of a proxied tag clears the proxy mark. */
	[ST_TAG_SET] = "INSERT INTO tags(repo_id, name, digest, origin, fetched_at)"
	               " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(repo_id, name) DO UPDATE SET"
	               " digest = excluded.digest, origin = excluded.origin,"
	               " fetched_at = excluded.fetched_at",
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
	blob_tmp_clean(s);
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
	proxy_touch_flush(s, 1);
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

/* --- metadata ------------------------------------------------------------- */

int
col_manifest(sqlite3_stmt *st, struct store_manifest *out, struct barge_err *err)
{
	const char *dg, *mt;
	int rc;

	if ((rc = col_text(st, 0, &dg, err)) != BARGE_OK ||
	    (rc = col_text(st, 1, &mt, err)) != BARGE_OK)
		return rc;
	snprintf(out->digest, sizeof(out->digest), "%s", dg);
	snprintf(out->media_type, sizeof(out->media_type), "%s", mt);
	out->size = sqlite3_column_int64(st, 2);
	return BARGE_OK;
}

int
bundle_by_digest(struct store *s, const char *digest, int64_t *id, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt_get(s, ST_BUNDLE_BY_DIGEST, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, digest, err)) != BARGE_OK)
		goto out;
	if ((rc = stmt_row(s, st, "look up bundle", err)) == BARGE_OK)
		*id = sqlite3_column_int64(st, 0);
	else if (rc == BARGE_ENOTFOUND)
		err_set(err, BARGE_ENOTFOUND, "no bundle %s", digest);
out:
	stmt_done(st);
	return rc;
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
	if ((rc = stmt_row(s, st, "look up repository", err)) == BARGE_OK)
		*id = sqlite3_column_int64(st, 0);
	else if (rc == BARGE_ENOTFOUND)
		err_set(err, BARGE_ENOTFOUND, "repository %s not found", repo);
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
	int64_t size;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK ||
	    (rc = digest_parse(child, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((rc = stmt_get(s, ST_REF_ADD, &st, err)) != BARGE_OK)
		return rc;
	/* A child not stored (a referrer's subject may be absent): ?3 stays NULL. */
	size = blob_size(s, child);
	if ((rc = bind_text(s, st, 1, digest, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, child, err)) != BARGE_OK ||
	    (size >= 0 && (rc = bind_int(s, st, 3, size, err)) != BARGE_OK)) {
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
	/* Unbound ?4 and ?5 are NULL: a tag nobody claimed reads as before schema 3. */
	if ((rc = bind_int(s, st, 1, id, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, tag, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 3, digest, err)) != BARGE_OK ||
	    (s->tag_origin != STORE_ORIGIN_NONE &&
	     (rc = bind_int(s, st, 4, s->tag_origin, err)) != BARGE_OK) ||
	    (s->tag_origin == STORE_ORIGIN_PROXY &&
	     (rc = bind_int(s, st, 5, (int64_t)time(NULL), err)) != BARGE_OK)) {
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
	if ((rc = bundle_by_digest(s, digest, id, err)) != BARGE_ENOTFOUND)
		return rc;
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
	if ((rc = stmt_row(s, st, "look up manifest", err)) == BARGE_OK)
		rc = col_manifest(st, out, err);
	else if (rc == BARGE_ENOTFOUND)
		err_set(err, BARGE_ENOTFOUND, "manifest %s not found in %s", reference, repo);
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
	if ((rc = stmt_row(s, st, "look up blob", err)) == BARGE_ENOTFOUND)
		err_set(err, BARGE_ENOTFOUND, "blob %s not found in %s", digest, repo);
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
