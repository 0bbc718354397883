/*
 * store_push: the store's write side for the registry's push API
 * (store_push.h).  Owns DIR/uploads/ and the uploads and repo_blobs rows:
 * sessions, their bytes, the blobs linked to repositories, manifests put
 * with validation, deletes, and the catalog and referrer listings.
 */
#include "store_push.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "manifest.h"
#include "ref.h"
#include "store_int.h"

#define PUSH_DIR_MODE  0755
#define PUSH_FILE_MODE 0644

/*
 * Blobs pushed (or mounted) into a repository before a manifest there names
 * them.  Not in store.c's schema v1: created here, idempotently, until the
 * schema takes it over.
 */
static const char push_schema[] = "CREATE TABLE IF NOT EXISTS repo_blobs("
                                  "  repo TEXT NOT NULL,"
                                  "  digest TEXT NOT NULL,"
                                  "  linked_at INTEGER NOT NULL,"
                                  "  UNIQUE(repo, digest));"
                                  "CREATE INDEX IF NOT EXISTS repo_blobs_digest "
                                  "ON repo_blobs(digest);";

/* Runs sql with text arguments a and b (b may be NULL: not bound), no rows expected. */
static int
push_run2(struct store *s, const char *sql, const char *a, const char *b, const char *what,
          struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, a, err)) == BARGE_OK &&
	    (b == NULL || (rc = bind_text(s, st, 2, b, err)) == BARGE_OK))
		rc = stmt_run(s, st, what, err);
	sqlite3_finalize(st);
	return rc;
}

static char *
push_uploads_dir(const struct store *s)
{
	return fu_printf("%s/uploads", s->dir);
}

int
store_push_init(struct store *s, struct barge_err *err)
{
	char *dir;
	int rc;

	if ((dir = push_uploads_dir(s)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	rc = fu_mkdirs(dir, PUSH_DIR_MODE, err);
	free(dir);
	if (rc != BARGE_OK)
		return rc;
	return db_exec(s, push_schema, "create repo_blobs", err);
}

/* --- upload sessions ------------------------------------------------------- */

int
store_upload_id_valid(const char *id)
{
	size_t i;

	if (strlen(id) != STORE_UPLOAD_ID_LEN)
		return 0;
	for (i = 0; i < STORE_UPLOAD_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (id[i] != '-')
				return 0;
		} else if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

/* DIR/uploads/<id> for a valid id; caller frees. */
static int
upload_path(const struct store *s, const char *id, char **out, struct barge_err *err)
{
	if (!store_upload_id_valid(id))
		return err_set(err, BARGE_EINVAL, "invalid upload id");
	if ((*out = fu_printf("%s/uploads/%s", s->dir, id)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

int
store_upload_exists(struct store *s, const char *id)
{
	sqlite3_stmt *st = NULL;
	struct barge_err err;
	int found;

	if (!store_upload_id_valid(id) ||
	    db_prepare(s, "SELECT 1 FROM uploads WHERE id = ?1", &st, &err) != BARGE_OK)
		return 0;
	found = bind_text(s, st, 1, id, &err) == BARGE_OK && sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

int
store_upload_count(struct store *s, int64_t *n, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, "SELECT COUNT(*) FROM uploads", &st, err)) != BARGE_OK)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = db_fail(s, err, "count uploads");
	sqlite3_finalize(st);
	return rc;
}

int
store_upload_new(struct store *s, const char *repo, char id[STORE_UPLOAD_ID_LEN + 1],
                 struct barge_err *err)
{
	unsigned char r[16];
	sqlite3_stmt *st = NULL;
	char *path = NULL;
	int fd = -1, rc;

	if (!ref_valid_repo(repo))
		return err_set(err, BARGE_EINVAL, "invalid repository name '%s'", repo);
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return err_sys(err, BARGE_EIO, errno, "getrandom");
	/* A version 4 UUID. */
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(id, STORE_UPLOAD_ID_LEN + 1,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
	         r[15]);
	if ((rc = upload_path(s, id, &path, err)) != BARGE_OK)
		return rc;
	/* The row first: a file without one is swept by store_upload_expire. */
	if ((rc = db_prepare(s,
	                     "INSERT INTO uploads(id, repo, offset, started_at, updated_at) "
	                     "VALUES(?1, ?2, 0, strftime('%s','now'), strftime('%s','now'))",
	                     &st, err)) != BARGE_OK)
		goto out;
	if ((rc = bind_text(s, st, 1, id, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, repo, err)) != BARGE_OK ||
	    (rc = stmt_run(s, st, "add upload", err)) != BARGE_OK)
		goto out;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	               PUSH_FILE_MODE)) < 0) {
		struct barge_err ignored;

		rc = err_sys(err, BARGE_EIO, errno, "create %s", path);
		(void)push_run2(s, "DELETE FROM uploads WHERE id = ?1", id, NULL, "drop upload",
		                &ignored);
		goto out;
	}
	close(fd);
out:
	sqlite3_finalize(st);
	free(path);
	return rc;
}

int
store_upload_get(struct store *s, const char *repo, const char *id, int64_t *offset,
                 struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (!store_upload_id_valid(id))
		return err_set(err, BARGE_ENOTFOUND, "no such upload");
	if ((rc = db_prepare(s, "SELECT offset FROM uploads WHERE id = ?1 AND repo = ?2", &st,
	                     err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, id, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, repo, err)) != BARGE_OK)
		goto out;
	if ((rc = stmt_row(s, st, "look up upload", err)) == BARGE_OK)
		*offset = sqlite3_column_int64(st, 0);
	else if (rc == BARGE_ENOTFOUND)
		err_set(err, BARGE_ENOTFOUND, "upload %s not found in %s", id, repo);
out:
	sqlite3_finalize(st);
	return rc;
}

int
store_upload_open(struct store *s, const char *id, int64_t offset, int *fd, struct barge_err *err)
{
	char *path = NULL;
	int f = -1, rc;

	if ((rc = upload_path(s, id, &path, err)) != BARGE_OK)
		return rc;
	if ((f = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "open %s",
		             path);
		goto out;
	}
	if (ftruncate(f, (off_t)offset) != 0 || lseek(f, (off_t)offset, SEEK_SET) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "truncate %s", path);
		close(f);
		goto out;
	}
	*fd = f;
out:
	free(path);
	return rc;
}

int
store_upload_set_offset(struct store *s, const char *id, int64_t offset, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s,
	                     "UPDATE uploads SET offset = ?2, updated_at = strftime('%s','now') "
	                     "WHERE id = ?1",
	                     &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, id, err)) == BARGE_OK &&
	    (rc = bind_int(s, st, 2, offset, err)) == BARGE_OK)
		rc = stmt_run(s, st, "update upload", err);
	sqlite3_finalize(st);
	return rc;
}

int
store_upload_finish(struct store *s, const char *repo, const char *id, const char *digest,
                    const char *computed, int64_t *size, struct barge_err *err)
{
	char got[DIGEST_STR_MAX], *path = NULL;
	struct stat st;
	int64_t offset;
	int fd = -1, locked = 0, rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((rc = store_upload_get(s, repo, id, &offset, err)) != BARGE_OK)
		return rc;
	if ((rc = upload_path(s, id, &path, err)) != BARGE_OK)
		return rc;
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "open %s", path);
		goto out;
	}
	/* Only committed bytes count: a broken last chunk may have left more. */
	if (fstat(fd, &st) != 0 || (st.st_size != offset && ftruncate(fd, (off_t)offset) != 0)) {
		rc = err_sys(err, BARGE_EIO, errno, "truncate %s", path);
		goto out;
	}
	if (computed != NULL &&
	    strncmp(computed, digest, (size_t)(strchr(digest, ':') - digest) + 1) == 0) {
		snprintf(got, sizeof(got), "%s", computed);
	} else if ((rc = digest_fd(fd, digest, "upload", got, err)) != BARGE_OK) {
		goto out;
	}
	if (strcmp(got, digest) != 0) {
		rc = err_set(err, BARGE_EDIGEST, "upload is %s, not %s", got, digest);
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", path);
		goto out;
	}
	/* GC must not take the blob between its rename and its link (store.h). */
	if ((rc = store_lock_shared(s, err)) != BARGE_OK)
		goto out;
	locked = 1;
	if ((rc = blob_place(s, path, digest, err)) != BARGE_OK)
		goto out;
	/* The blob is durable: now link it and end the session together. */
	if ((rc = store_begin(s, err)) != BARGE_OK)
		goto out;
	if ((rc = store_link_blob(s, repo, digest, err)) != BARGE_OK ||
	    (rc = push_run2(s, "DELETE FROM uploads WHERE id = ?1", id, NULL, "drop upload",
	                    err)) != BARGE_OK) {
		store_rollback(s);
		goto out;
	}
	if ((rc = store_commit(s, err)) != BARGE_OK)
		goto out;
	*size = offset;
out:
	if (locked)
		store_unlock(s);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

int
store_upload_delete(struct store *s, const char *id, struct barge_err *err)
{
	char *path = NULL;
	int rc;

	if ((rc = upload_path(s, id, &path, err)) != BARGE_OK)
		return rc == BARGE_EINVAL ? err_set(err, BARGE_ENOTFOUND, "no such upload") : rc;
	if ((rc = push_run2(s, "DELETE FROM uploads WHERE id = ?1", id, NULL, "drop upload",
	                    err)) == BARGE_OK) {
		if (sqlite3_changes(s->db) == 0)
			rc = err_set(err, BARGE_ENOTFOUND, "upload %s not found", id);
		else
			unlink(path);
	}
	free(path);
	return rc;
}

struct push_ids {
	char (*ids)[STORE_UPLOAD_ID_LEN + 1];
	size_t n, cap;
};

static int
push_ids_add(struct push_ids *v, const char *id)
{
	void *p;

	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		if ((p = realloc(v->ids, v->cap * sizeof(*v->ids))) == NULL)
			return BARGE_ENOMEM;
		v->ids = p;
	}
	snprintf(v->ids[v->n++], STORE_UPLOAD_ID_LEN + 1, "%s", id);
	return BARGE_OK;
}

int
store_upload_expire(struct store *s, int64_t max_age, int *n, struct barge_err *err)
{
	struct push_ids old = { 0 };
	sqlite3_stmt *st = NULL;
	struct dirent *de;
	const char *id;
	char *dir = NULL, *path;
	size_t i;
	DIR *d = NULL;
	int rc, gone = 0;

	if ((rc = db_prepare(s,
	                     "SELECT id FROM uploads "
	                     "WHERE updated_at < CAST(strftime('%s','now') AS INTEGER) - ?1",
	                     &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, max_age, err)) != BARGE_OK)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if ((id = (const char *)sqlite3_column_text(st, 0)) != NULL &&
		    store_upload_id_valid(id) && push_ids_add(&old, id) != BARGE_OK) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	for (i = 0; i < old.n; i++)
		if (store_upload_delete(s, old.ids[i], err) == BARGE_OK)
			gone++;
	/* Files nobody owns: a crash between a session's row going and its file. */
	if ((dir = push_uploads_dir(s)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct barge_err e2;
			int r2;

			if (!store_upload_id_valid(de->d_name))
				continue;
			r2 = db_prepare(s, "SELECT offset FROM uploads WHERE id = ?1", &st, &e2);
			if (r2 != BARGE_OK)
				break;
			if (bind_text(s, st, 1, de->d_name, &e2) == BARGE_OK &&
			    sqlite3_step(st) == SQLITE_DONE &&
			    (path = fu_printf("%s/%s", dir, de->d_name)) != NULL) {
				unlink(path);
				free(path);
			}
			sqlite3_finalize(st);
			st = NULL;
		}
	}
	if (n != NULL)
		*n = gone;
	rc = BARGE_OK;
out:
	if (d != NULL)
		closedir(d);
	sqlite3_finalize(st);
	free(old.ids);
	free(dir);
	return rc;
}

/* --- blobs of repositories --------------------------------------------------- */

int
store_link_blob(struct store *s, const char *repo, const char *digest, struct barge_err *err)
{
	int rc;

	if (!ref_valid_repo(repo))
		return err_set(err, BARGE_EINVAL, "invalid repository name '%s'", repo);
	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	return push_run2(s,
	                 "INSERT INTO repo_blobs(repo, digest, linked_at) "
	                 "VALUES(?1, ?2, strftime('%s','now')) ON CONFLICT DO NOTHING",
	                 repo, digest, "link blob", err);
}

/*
 * The blob is committed and linked under the shared GC lock, so that GC
 * can not take it between its rename and its link (store.h).
 */
int
store_blob_publish(struct store_blob_writer *w, const char *repo, struct barge_err *err)
{
	struct store *s = w->s;
	char digest[DIGEST_STR_MAX];
	int rc;

	memcpy(digest, w->digest, sizeof(digest));
	if ((rc = store_lock_shared(s, err)) != BARGE_OK) {
		store_blob_abort(w);
		return rc;
	}
	if ((rc = store_blob_commit(w, err)) == BARGE_OK)
		rc = store_link_blob(s, repo, digest, err);
	store_unlock(s);
	return rc;
}

/* Whether the repo_blobs row exists: BARGE_OK or BARGE_ENOTFOUND. */
static int
push_linked(struct store *s, const char *repo, const char *digest, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, "SELECT 1 FROM repo_blobs WHERE repo = ?1 AND digest = ?2", &st,
	                     err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) == BARGE_OK &&
	    (rc = bind_text(s, st, 2, digest, err)) == BARGE_OK &&
	    (rc = stmt_row(s, st, "look up blob link", err)) == BARGE_ENOTFOUND)
		err_set(err, BARGE_ENOTFOUND, "blob %s not found in %s", digest, repo);
	sqlite3_finalize(st);
	return rc;
}

int
store_push_has_blob(struct store *s, const char *repo, const char *digest, struct barge_err *err)
{
	int rc;

	/* A link outlives its blob only if GC took it: then the repository has it no more. */
	if ((rc = push_linked(s, repo, digest, err)) == BARGE_OK && !store_blob_exists(s, digest))
		rc = err_set(err, BARGE_ENOTFOUND, "blob %s is gone", digest);
	if (rc != BARGE_ENOTFOUND)
		return rc;
	return store_repo_has_blob(s, repo, digest, err);
}

/*
 * The manifest of repo through which repo serves digest, walked as
 * store_repo_has_blob walks it (digest itself, a manifest naming it, or an
 * index naming that): BARGE_OK with its digest in holder, or
 * BARGE_ENOTFOUND.
 */
static int
push_holder(struct store *s, const char *repo, const char *digest, char holder[DIGEST_STR_MAX],
            struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	const char *d;
	int rc;

	if ((rc = db_prepare(
	             s,
	             "WITH RECURSIVE up(d, depth) AS ("
	             "  SELECT ?2, 0"
	             "  UNION"
	             "  SELECT refs.parent, up.depth + 1 FROM refs JOIN up ON refs.child = up.d"
	             "  WHERE up.depth < 2) "
	             "SELECT m.digest FROM up JOIN manifests m ON m.digest = up.d "
	             "JOIN repositories r ON r.id = m.repo_id WHERE r.name = ?1 "
	             "ORDER BY up.depth LIMIT 1",
	             &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) == BARGE_OK &&
	    (rc = bind_text(s, st, 2, digest, err)) == BARGE_OK &&
	    (rc = stmt_row(s, st, "look up the manifests of a blob", err)) == BARGE_OK) {
		d = (const char *)sqlite3_column_text(st, 0);
		snprintf(holder, DIGEST_STR_MAX, "%s", d != NULL ? d : "");
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * A blob a manifest of repo names stays served as long as that manifest
 * is there: unlinking it would claim a delete that changes nothing, so it
 * is refused, naming the manifest.  Only a link that alone makes repo
 * serve the blob is removed, in the transaction that checked it.
 */
int
store_push_delete_blob(struct store *s, const char *repo, const char *digest, struct barge_err *err)
{
	char holder[DIGEST_STR_MAX];
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = push_holder(s, repo, digest, holder, err)) == BARGE_OK) {
		if (strcmp(holder, digest) == 0)
			rc = err_set(err, BARGE_EEXIST,
			             "%s is a manifest of %s: delete it as a manifest", digest,
			             repo);
		else
			rc = err_set(err, BARGE_EEXIST,
			             "blob %s is referenced by manifest %s of %s: delete the "
			             "manifest first",
			             digest, holder, repo);
		goto fail;
	}
	if (rc != BARGE_ENOTFOUND || (rc = push_linked(s, repo, digest, err)) != BARGE_OK)
		goto fail;
	/* The bytes stay until GC finds nothing else holding them. */
	if ((rc = push_run2(s, "DELETE FROM repo_blobs WHERE repo = ?1 AND digest = ?2", repo,
	                    digest, "unlink blob", err)) != BARGE_OK ||
	    (rc = store_commit(s, err)) != BARGE_OK)
		goto fail;
	/* A link that outlived its blob (GC took it) served nothing: gone, but no delete. */
	if (!store_blob_exists(s, digest))
		return err_set(err, BARGE_ENOTFOUND, "blob %s is gone", digest);
	return BARGE_OK;
fail:
	store_rollback(s);
	return rc;
}

/* --- manifests --------------------------------------------------------------- */

static int
push_refuse(struct store_push_result *out, enum store_push_refusal why)
{
	out->refusal = why;
	return BARGE_EINVAL;
}

/* Layers that registries never hold (Windows foreign layers). */
static int
push_nondistributable(const char *mt)
{
	return strstr(mt, "nondistributable") != NULL || strstr(mt, ".foreign.") != NULL;
}

/* Checks that everything m names is in repo. */
static int
push_check_refs(struct store *s, const char *repo, const struct manifest *m,
                struct store_push_result *out, struct barge_err *err)
{
	struct store_manifest child;
	size_t i;
	int rc;

	if (m->kind == MANIFEST_INDEX) {
		for (i = 0; i < m->ndescs; i++) {
			rc = store_get_manifest(s, repo, m->descs[i].digest, &child, err);
			if (rc == BARGE_ENOTFOUND) {
				err_set(err, BARGE_EINVAL, "manifests[%zu]: %s is not in %s", i,
				        m->descs[i].digest, repo);
				return push_refuse(out, STORE_PUSH_MANIFEST_BLOB_UNKNOWN);
			}
			if (rc != BARGE_OK)
				return rc;
		}
		return BARGE_OK;
	}
	rc = store_push_has_blob(s, repo, m->config.digest, err);
	if (rc == BARGE_ENOTFOUND) {
		err_set(err, BARGE_EINVAL, "config: blob %s is not in %s", m->config.digest, repo);
		return push_refuse(out, STORE_PUSH_MANIFEST_BLOB_UNKNOWN);
	}
	if (rc != BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++) {
		if (push_nondistributable(m->descs[i].media_type))
			continue;
		rc = store_push_has_blob(s, repo, m->descs[i].digest, err);
		if (rc == BARGE_ENOTFOUND) {
			err_set(err, BARGE_EINVAL, "layers[%zu]: blob %s is not in %s", i,
			        m->descs[i].digest, repo);
			return push_refuse(out, STORE_PUSH_MANIFEST_BLOB_UNKNOWN);
		}
		if (rc != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/* The metadata of a stored manifest, in one transaction. */
static int
push_record(struct store *s, const char *repo, const char *tag, const struct manifest *m,
            const char *digest, size_t len, struct barge_err *err)
{
	size_t i;
	int rc;

	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = store_put_manifest(s, repo, digest, m->media_type, (int64_t)len, err)) !=
	    BARGE_OK)
		goto fail;
	if (m->kind == MANIFEST_IMAGE &&
	    (rc = store_put_ref(s, digest, m->config.digest, err)) != BARGE_OK)
		goto fail;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = store_put_ref(s, digest, m->descs[i].digest, err)) != BARGE_OK)
			goto fail;
	/* The subject as a reference too: store_list_referrers walks it back. */
	if (m->has_subject && (rc = store_put_ref(s, digest, m->subject.digest, err)) != BARGE_OK)
		goto fail;
	/* A pushed tag is the pusher's: a proxied one stops being revalidated or evicted. */
	if (tag != NULL) {
		s->tag_origin = STORE_ORIGIN_PUSH;
		rc = store_put_tag(s, repo, tag, digest, err);
		s->tag_origin = STORE_ORIGIN_NONE;
		if (rc != BARGE_OK)
			goto fail;
	}
	return store_commit(s, err);
fail:
	store_rollback(s);
	return rc;
}

int
store_push_manifest(struct store *s, const char *repo, const char *reference, const void *buf,
                    size_t len, const char *content_type, struct store_push_result *out,
                    struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	struct manifest *m = NULL;
	enum digest_alg alg = DIGEST_SHA256;
	const char *tag = NULL;
	int locked = 0, rc;

	memset(out, 0, sizeof(*out));
	if (!ref_valid_repo(repo))
		return err_set(err, BARGE_EINVAL, "invalid repository name '%s'", repo);
	if (len > MANIFEST_MAX) {
		err_set(err, BARGE_ELIMIT, "manifest of %zu bytes: at most %d", len, MANIFEST_MAX);
		return push_refuse(out, STORE_PUSH_TOO_BIG);
	}
	if (strchr(reference, ':') != NULL) {
		if (digest_parse(reference, &alg, NULL, err) != BARGE_OK)
			return push_refuse(out, STORE_PUSH_DIGEST_INVALID);
	} else if (!ref_valid_tag(reference)) {
		err_set(err, BARGE_EINVAL, "invalid tag '%s'", reference);
		return push_refuse(out, STORE_PUSH_MANIFEST_INVALID);
	} else {
		tag = reference;
	}
	if ((rc = digest_buf(alg, buf, len, out->digest, err)) != BARGE_OK)
		return rc;
	if (tag == NULL && strcmp(out->digest, reference) != 0) {
		err_set(err, BARGE_EINVAL, "manifest is %s, not %s", out->digest, reference);
		return push_refuse(out, STORE_PUSH_DIGEST_INVALID);
	}
	if (manifest_parse(buf, len, content_type, &m, err) != BARGE_OK)
		return push_refuse(out, STORE_PUSH_MANIFEST_INVALID);
	/* From the check of what it names to the commit, GC keeps away (store.h). */
	if ((rc = store_lock_shared(s, err)) != BARGE_OK)
		goto out;
	locked = 1;
	if ((rc = push_check_refs(s, repo, m, out, err)) != BARGE_OK)
		goto out;
	if (m->has_subject)
		snprintf(out->subject, sizeof(out->subject), "%s", m->subject.digest);
	if ((rc = store_blob_begin(s, out->digest, (int64_t)len, &w, err)) != BARGE_OK ||
	    (rc = store_blob_write(w, buf, len, err)) != BARGE_OK) {
		store_blob_abort(w);
		goto out;
	}
	if ((rc = store_blob_commit(w, err)) != BARGE_OK)
		goto out;
	rc = push_record(s, repo, tag, m, out->digest, len, err);
out:
	if (locked)
		store_unlock(s);
	manifest_free(m);
	return rc;
}

int
store_push_delete_manifest(struct store *s, const char *repo, const char *digest,
                           struct barge_err *err)
{
	struct store_manifest m;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = store_get_manifest(s, repo, digest, &m, err)) != BARGE_OK)
		goto fail;
	if ((rc = db_prepare(s,
	                     "SELECT b.name FROM bundle_images i JOIN bundles b ON b.id = "
	                     "i.bundle_id JOIN repositories r ON r.id = i.repo_id "
	                     "WHERE r.name = ?1 AND i.digest = ?2 LIMIT 1",
	                     &st, err)) != BARGE_OK)
		goto fail;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, digest, err)) != BARGE_OK)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = err_set(err, BARGE_EEXIST, "%s@%s came with bundle %s: remove the bundle",
		             repo, digest, (const char *)sqlite3_column_text(st, 0));
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = push_run2(s,
	                    "DELETE FROM tags WHERE digest = ?2 AND repo_id = "
	                    "(SELECT id FROM repositories WHERE name = ?1)",
	                    repo, digest, "delete tags", err)) != BARGE_OK ||
	    (rc = push_run2(s,
	                    "DELETE FROM manifests WHERE digest = ?2 AND repo_id = "
	                    "(SELECT id FROM repositories WHERE name = ?1)",
	                    repo, digest, "delete manifest", err)) != BARGE_OK)
		goto fail;
	return store_commit(s, err);
fail:
	sqlite3_finalize(st);
	store_rollback(s);
	return rc;
}

int
store_push_delete_tag(struct store *s, const char *repo, const char *tag, struct barge_err *err)
{
	int rc;

	if ((rc = push_run2(s,
	                    "DELETE FROM tags WHERE name = ?2 AND repo_id = "
	                    "(SELECT id FROM repositories WHERE name = ?1)",
	                    repo, tag, "delete tag", err)) != BARGE_OK)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return err_set(err, BARGE_ENOTFOUND, "tag %s not found in %s", tag, repo);
	return BARGE_OK;
}

/* --- listings ----------------------------------------------------------------- */

int
store_repo_listed(struct store *s, const char *repo)
{
	sqlite3_stmt *st = NULL;
	struct barge_err err;
	int found;

	if (db_prepare(s,
	               "SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id "
	               "WHERE r.name = ?1 LIMIT 1",
	               &st, &err) != BARGE_OK)
		return 0;
	found = bind_text(s, st, 1, repo, &err) == BARGE_OK && sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

int
store_list_repos(struct store *s, const char *last, int n, int (*fn)(const char *repo, void *arg),
                 void *arg, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* Repositories with something to pull, as store_repo_listed says it. */
	if ((rc = db_prepare(s,
	                     "SELECT r.name FROM repositories r WHERE EXISTS"
	                     "  (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) "
	                     "AND r.name > ?1 ORDER BY r.name LIMIT ?2",
	                     &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, last != NULL ? last : "", err)) != BARGE_OK ||
	    (rc = bind_int(s, st, 2, n > 0 ? n : -1, err)) != BARGE_OK)
		goto out;
	rc = stmt_each_text(s, st, fn, arg, "list repositories", err);
out:
	sqlite3_finalize(st);
	return rc;
}

int
store_list_referrers(struct store *s, const char *repo, const char *subject, int max,
                     int (*fn)(const struct store_manifest *m, void *arg), void *arg,
                     struct barge_err *err)
{
	struct store_manifest m;
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = digest_parse(subject, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((rc = db_prepare(s,
	                     "SELECT m.digest, m.media_type, m.size FROM refs f "
	                     "JOIN manifests m ON m.digest = f.parent "
	                     "JOIN repositories r ON r.id = m.repo_id "
	                     "WHERE f.child = ?2 AND r.name = ?1 ORDER BY m.digest LIMIT ?3",
	                     &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, subject, err)) != BARGE_OK ||
	    (rc = bind_int(s, st, 3, max, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_manifest(st, &m, err)) != BARGE_OK)
			goto out;
		if (fn(&m, arg) != 0)
			break;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = db_fail(s, err, "list referrers");
out:
	sqlite3_finalize(st);
	return rc;
}
