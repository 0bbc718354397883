/*
 * store_gc: the store's lifecycle (store.h: ls, rm, gc, fsck).
 *
 * GC and fsck --repair change metadata in one transaction and only then
 * remove files: a crash in between leaves files no row names, which the next
 * GC collects, never a row naming a missing file.  Before removing a file a
 * deleted row named, they wait (a FULL WAL checkpoint) until every reader
 * that began before the commit has ended; store_open_manifest and
 * store_open_repo_blob open their fd inside their read transaction, so a
 * reader that saw the row already holds the file.  docs/store.md has the rules.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "manifest.h"
#include "store_int.h"

/* fsck re-hashes blobs through this much memory, however large they are. */
#define GC_HASH_BUF (1024 * 1024)
/* A digest set larger than this is not a store this code was built for. */
#define GC_SET_MAX (64 * 1024 * 1024)

/* --- small helpers -------------------------------------------------------- */

/* A set of digests: appended, then sorted once and searched. */
struct dset {
	char (*d)[DIGEST_STR_MAX];
	size_t n, cap;
};

static int
dset_add(struct dset *set, const char *digest, struct barge_err *err)
{
	char(*nd)[DIGEST_STR_MAX];
	size_t cap;

	if (set->n == set->cap) {
		cap = set->cap ? set->cap * 2 : 64;
		if (cap > GC_SET_MAX)
			return err_set(err, BARGE_ELIMIT, "more than %d digests to track",
			               GC_SET_MAX);
		if ((nd = realloc(set->d, cap * sizeof(*nd))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		set->d = nd;
		set->cap = cap;
	}
	snprintf(set->d[set->n++], DIGEST_STR_MAX, "%s", digest);
	return BARGE_OK;
}

static int
dset_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
dset_sort(struct dset *set)
{
	if (set->n > 0)
		qsort(set->d, set->n, sizeof(*set->d), dset_cmp);
}

/* Needs dset_sort after the last dset_add. */
static int
dset_has(const struct dset *set, const char *digest)
{
	return set->n > 0 && bsearch(digest, set->d, set->n, sizeof(*set->d), dset_cmp) != NULL;
}

static void
dset_free(struct dset *set)
{
	free(set->d);
	set->d = NULL;
	set->n = set->cap = 0;
}

/* A text column; NULL only when SQLite ran out of memory (or the value is NULL). */
static int
col_text(sqlite3_stmt *st, int i, const char **out, struct barge_err *err)
{
	if ((*out = (const char *)sqlite3_column_text(st, i)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

/* Runs sql (one statement, no rows) with ?1 bound to v; *changes: rows changed. */
static int
run_int(struct store *s, const char *sql, int64_t v, int64_t *changes, const char *what,
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

/* Size of a blob file, or -1 when absent. */
static int64_t
blob_file_size(struct store *s, const char *digest)
{
	struct barge_err err;
	struct stat st;
	char *path = NULL;
	int64_t size = -1;

	if (blob_path(s, digest, &path, &err) != BARGE_OK)
		return -1;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		size = (int64_t)st.st_size;
	free(path);
	return size;
}

/*
 * Waits until no reader can still see rows this handle's last commit
 * deleted: a FULL checkpoint copies every WAL frame into the database, which
 * it can only do once every reader of an older snapshot has finished.
 */
static int
wait_readers(struct store *s)
{
	return sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_FULL, NULL, NULL) ==
	       SQLITE_OK;
}

/*
 * Calls fn for every entry under DIR/blobs/<alg>/<2 hex>/ and for anything
 * else found in DIR/blobs at those levels.  digest is NULL when the entry is
 * not a blob file of the store (wrong name, place or type).
 */
typedef int (*blob_fn)(struct store *s, const char *path, const char *digest, const struct stat *st,
                       void *arg, struct barge_err *err);

static int
walk_shard(struct store *s, const char *alg, const char *shard, blob_fn fn, void *arg,
           struct barge_err *err)
{
	char digest[DIGEST_STR_MAX];
	struct dirent *de;
	struct stat st;
	char *dir = NULL, *path = NULL;
	DIR *d = NULL;
	int rc = BARGE_OK, n;

	if ((dir = fu_printf("%s/blobs/%s/%s", s->dir, alg, shard)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((d = opendir(dir)) == NULL) {
		rc = err_sys(err, BARGE_EIO, errno, "open %s", dir);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((path = fu_printf("%s/%s", dir, de->d_name)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
		if (lstat(path, &st) != 0) {
			/* Gone since readdir (a concurrent GC): nothing to look at. */
			free(path);
			path = NULL;
			continue;
		}
		n = snprintf(digest, sizeof(digest), "%s:%s", alg, de->d_name);
		if (n > 0 && (size_t)n < sizeof(digest) && S_ISREG(st.st_mode) &&
		    digest_valid(digest) && strncmp(de->d_name, shard, 2) == 0)
			rc = fn(s, path, digest, &st, arg, err);
		else
			rc = fn(s, path, NULL, &st, arg, err);
		free(path);
		path = NULL;
		if (rc != BARGE_OK)
			goto out;
	}
out:
	if (d != NULL)
		closedir(d);
	free(path);
	free(dir);
	return rc;
}

static int
is_shard(const char *name)
{
	static const char hex[] = "0123456789abcdef";

	return strlen(name) == 2 && strchr(hex, name[0]) != NULL && strchr(hex, name[1]) != NULL;
}

static int
walk_blobs(struct store *s, blob_fn fn, void *arg, struct barge_err *err)
{
	struct dirent *a, *b;
	struct stat st;
	char *top = NULL, *sub = NULL, *path = NULL;
	DIR *dt = NULL, *da = NULL;
	int rc = BARGE_OK;

	if ((top = fu_printf("%s/blobs", s->dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((dt = opendir(top)) == NULL) {
		rc = err_sys(err, BARGE_EIO, errno, "open %s", top);
		goto out;
	}
	while ((a = readdir(dt)) != NULL) {
		if (strcmp(a->d_name, ".") == 0 || strcmp(a->d_name, "..") == 0)
			continue;
		free(sub);
		if ((sub = fu_printf("%s/%s", top, a->d_name)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
		if (lstat(sub, &st) != 0)
			continue;
		if (!S_ISDIR(st.st_mode) ||
		    (strcmp(a->d_name, "sha256") != 0 && strcmp(a->d_name, "sha512") != 0)) {
			if ((rc = fn(s, sub, NULL, &st, arg, err)) != BARGE_OK)
				goto out;
			continue;
		}
		if ((da = opendir(sub)) == NULL) {
			rc = err_sys(err, BARGE_EIO, errno, "open %s", sub);
			goto out;
		}
		while ((b = readdir(da)) != NULL) {
			if (strcmp(b->d_name, ".") == 0 || strcmp(b->d_name, "..") == 0)
				continue;
			free(path);
			if ((path = fu_printf("%s/%s", sub, b->d_name)) == NULL) {
				rc = err_set(err, BARGE_ENOMEM, "out of memory");
				goto out;
			}
			if (lstat(path, &st) != 0)
				continue;
			if (S_ISDIR(st.st_mode) && is_shard(b->d_name))
				rc = walk_shard(s, a->d_name, b->d_name, fn, arg, err);
			else
				rc = fn(s, path, NULL, &st, arg, err);
			if (rc != BARGE_OK)
				goto out;
		}
		closedir(da);
		da = NULL;
	}
out:
	if (da != NULL)
		closedir(da);
	if (dt != NULL)
		closedir(dt);
	free(path);
	free(sub);
	free(top);
	return rc;
}

/*
 * Removes the empty shard directories a sweep left; non-empty ones stay.
 * The caller holds the GC lock exclusively, so no writer is between the
 * mkdir of a shard and the rename of its blob into it.
 */
static void
prune_shards(struct store *s)
{
	static const char hex[] = "0123456789abcdef";
	char *p;
	int i, j;

	for (i = 0; i < 16; i++)
		for (j = 0; j < 16; j++) {
			p = fu_printf("%s/blobs/sha256/%c%c", s->dir, hex[i], hex[j]);
			if (p == NULL)
				return;
			/* Fails, as it should, while the directory holds a blob. */
			(void)rmdir(p);
			free(p);
		}
}

/* --- ls ------------------------------------------------------------------- */

/*
 * Distinct blob bytes reachable from the digests st yields in column 0
 * (indexes -> manifests -> blobs is at most two steps down), as stored.
 */
static int
reach_bytes(struct store *s, sqlite3_stmt *st, int64_t *bytes, struct barge_err *err)
{
	const char *d;
	int64_t size, total = 0;
	int rc = BARGE_OK, step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &d, err)) != BARGE_OK)
			return rc;
		if ((size = blob_file_size(s, d)) > 0)
			total += size;
	}
	if (step != SQLITE_DONE)
		return db_fail(s, err, "walk references");
	*bytes = total;
	return BARGE_OK;
}

#define DOWN_FROM(roots)                                                                  \
	"WITH RECURSIVE down(d, depth) AS (" roots " UNION "                              \
	"  SELECT refs.child, down.depth + 1 FROM refs JOIN down ON refs.parent = down.d" \
	"  WHERE down.depth < 2) SELECT DISTINCT d FROM down"

static int
bundle_bytes(struct store *s, int64_t id, int64_t *bytes, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s,
	                     DOWN_FROM("SELECT digest, 0 FROM bundle_images WHERE bundle_id = ?1"),
	                     &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, id, err)) == BARGE_OK)
		rc = reach_bytes(s, st, bytes, err);
	sqlite3_finalize(st);
	return rc;
}

static int
image_bytes(struct store *s, const char *digest, int64_t *bytes, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, DOWN_FROM("SELECT ?1, 0"), &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, digest, err)) == BARGE_OK)
		rc = reach_bytes(s, st, bytes, err);
	sqlite3_finalize(st);
	return rc;
}

/* Whole-listing reads run in one snapshot, so a concurrent load shows whole or not at all. */
static int
snap_begin(struct store *s, int *began, struct barge_err *err)
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

static void
snap_end(struct store *s, int began)
{
	if (began)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

#define BUNDLE_COLS                                              \
	"SELECT b.id, b.name, b.version, b.digest, b.loaded_at," \
	" (SELECT count(*) FROM bundle_images bi WHERE bi.bundle_id = b.id) FROM bundles b "

static int
bundle_rows(struct store *s, const char *sql, const char *sel,
            int (*fn)(const struct store_bundle *b, void *arg), void *arg, struct barge_err *err)
{
	struct store_bundle b;
	sqlite3_stmt *st = NULL;
	int began = 0, rc, step;

	if ((rc = snap_begin(s, &began, err)) != BARGE_OK)
		return rc;
	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		goto out;
	if (sel != NULL && (rc = bind_text(s, st, 1, sel, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&b, 0, sizeof(b));
		b.id = sqlite3_column_int64(st, 0);
		if ((rc = col_text(st, 1, &b.name, err)) != BARGE_OK ||
		    (rc = col_text(st, 2, &b.version, err)) != BARGE_OK ||
		    (rc = col_text(st, 3, &b.digest, err)) != BARGE_OK)
			goto out;
		b.loaded_at = sqlite3_column_int64(st, 4);
		b.images = sqlite3_column_int64(st, 5);
		if ((rc = bundle_bytes(s, b.id, &b.bytes, err)) != BARGE_OK)
			goto out;
		if (fn(&b, arg) != 0)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list bundles");
out:
	sqlite3_finalize(st);
	snap_end(s, began);
	return rc;
}

int
store_list_bundles(struct store *s, int (*fn)(const struct store_bundle *b, void *arg), void *arg,
                   struct barge_err *err)
{
	return bundle_rows(s, BUNDLE_COLS "ORDER BY b.id", NULL, fn, arg, err);
}

int
store_find_bundles(struct store *s, const char *sel,
                   int (*fn)(const struct store_bundle *b, void *arg), void *arg,
                   struct barge_err *err)
{
	return bundle_rows(s,
	                   BUNDLE_COLS "WHERE CAST(b.id AS TEXT) = ?1 OR b.name = ?1"
	                               " OR b.name || ':' || b.version = ?1 ORDER BY b.id",
	                   sel, fn, arg, err);
}

/* What store_list_images builds for one image and frees after fn. */
struct image_extra {
	char **tags;
	size_t ntags;
	struct store_bundle *bundles;
	size_t nbundles;
};

static void
image_extra_free(struct image_extra *x)
{
	size_t i;

	for (i = 0; i < x->ntags; i++)
		free(x->tags[i]);
	for (i = 0; i < x->nbundles; i++) {
		free((char *)x->bundles[i].name);
		free((char *)x->bundles[i].version);
		free((char *)x->bundles[i].digest);
	}
	free(x->tags);
	free(x->bundles);
	memset(x, 0, sizeof(*x));
}

static int
image_tags(struct store *s, sqlite3_stmt *st, struct image_extra *x, struct barge_err *err)
{
	const char *t;
	char **nt;
	int step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (col_text(st, 0, &t, err) != BARGE_OK)
			return BARGE_ENOMEM;
		if ((nt = realloc(x->tags, (x->ntags + 1) * sizeof(*nt))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->tags = nt;
		if ((x->tags[x->ntags] = strdup(t)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->ntags++;
	}
	if (step != SQLITE_DONE)
		return db_fail(s, err, "list tags");
	return BARGE_OK;
}

static int
image_bundles(struct store *s, sqlite3_stmt *st, struct image_extra *x, struct barge_err *err)
{
	struct store_bundle *nb, *b;
	const char *name, *version, *digest;
	int step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (col_text(st, 1, &name, err) != BARGE_OK ||
		    col_text(st, 2, &version, err) != BARGE_OK ||
		    col_text(st, 3, &digest, err) != BARGE_OK)
			return BARGE_ENOMEM;
		if ((nb = realloc(x->bundles, (x->nbundles + 1) * sizeof(*nb))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->bundles = nb;
		b = &x->bundles[x->nbundles];
		memset(b, 0, sizeof(*b));
		x->nbundles++;
		b->id = sqlite3_column_int64(st, 0);
		b->loaded_at = sqlite3_column_int64(st, 4);
		if ((b->name = strdup(name)) == NULL || (b->version = strdup(version)) == NULL ||
		    (b->digest = strdup(digest)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if (step != SQLITE_DONE)
		return db_fail(s, err, "list bundles");
	return BARGE_OK;
}

int
store_list_images(struct store *s, int (*fn)(const struct store_image *im, void *arg), void *arg,
                  struct barge_err *err)
{
	/* An index's children are part of its image, not images of their own. */
	static const char images_sql[] =
	        "SELECT r.name, m.digest, m.media_type, m.size, m.repo_id FROM manifests m"
	        " JOIN repositories r ON r.id = m.repo_id"
	        " WHERE EXISTS (SELECT 1 FROM tags t"
	        "   WHERE t.repo_id = m.repo_id AND t.digest = m.digest)"
	        " OR EXISTS (SELECT 1 FROM bundle_images bi"
	        "   WHERE bi.repo_id = m.repo_id AND bi.digest = m.digest)"
	        " OR NOT EXISTS (SELECT 1 FROM refs f JOIN manifests p"
	        "   ON p.digest = f.parent AND p.repo_id = m.repo_id WHERE f.child = m.digest)"
	        " ORDER BY r.name, m.digest";
	static const char tags_sql[] =
	        "SELECT name FROM tags WHERE repo_id = ?1 AND digest = ?2 ORDER BY name";
	static const char bundles_sql[] =
	        "SELECT b.id, b.name, b.version, b.digest, b.loaded_at FROM bundle_images bi"
	        " JOIN bundles b ON b.id = bi.bundle_id"
	        " WHERE bi.repo_id = ?1 AND bi.digest = ?2 ORDER BY b.id";
	struct image_extra x = { 0 };
	struct store_image im;
	sqlite3_stmt *st = NULL, *tq = NULL, *bq = NULL;
	int began = 0, rc, step;

	if ((rc = snap_begin(s, &began, err)) != BARGE_OK)
		return rc;
	if ((rc = db_prepare(s, images_sql, &st, err)) != BARGE_OK ||
	    (rc = db_prepare(s, tags_sql, &tq, err)) != BARGE_OK ||
	    (rc = db_prepare(s, bundles_sql, &bq, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&im, 0, sizeof(im));
		if ((rc = col_text(st, 0, &im.repo, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &im.digest, err)) != BARGE_OK ||
		    (rc = col_text(st, 2, &im.media_type, err)) != BARGE_OK)
			goto out;
		im.manifest_size = sqlite3_column_int64(st, 3);
		if ((rc = bind_int(s, tq, 1, sqlite3_column_int64(st, 4), err)) != BARGE_OK ||
		    (rc = bind_text(s, tq, 2, im.digest, err)) != BARGE_OK ||
		    (rc = bind_int(s, bq, 1, sqlite3_column_int64(st, 4), err)) != BARGE_OK ||
		    (rc = bind_text(s, bq, 2, im.digest, err)) != BARGE_OK ||
		    (rc = image_tags(s, tq, &x, err)) != BARGE_OK ||
		    (rc = image_bundles(s, bq, &x, err)) != BARGE_OK ||
		    (rc = image_bytes(s, im.digest, &im.size, err)) != BARGE_OK)
			goto out;
		stmt_done(tq);
		stmt_done(bq);
		im.tags = (const char *const *)x.tags;
		im.ntags = x.ntags;
		im.bundles = x.bundles;
		im.nbundles = x.nbundles;
		step = fn(&im, arg);
		image_extra_free(&x);
		if (step != 0)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list images");
out:
	image_extra_free(&x);
	sqlite3_finalize(st);
	sqlite3_finalize(tq);
	sqlite3_finalize(bq);
	snap_end(s, began);
	return rc;
}

/* --- rm ------------------------------------------------------------------- */

int
store_rm_bundle(struct store *s, int64_t id, int untag, struct store_rm_stats *st,
                struct barge_err *err)
{
	/*
	 * A tag goes with the bundle only when no other bundle pins its
	 * target: the other bundle brought the same image, and may well have
	 * brought the tag.
	 */
	static const char untag_sql[] =
	        "DELETE FROM tags WHERE EXISTS (SELECT 1 FROM bundle_images bi"
	        "   WHERE bi.bundle_id = ?1 AND bi.repo_id = tags.repo_id"
	        "   AND bi.digest = tags.digest)"
	        " AND NOT EXISTS (SELECT 1 FROM bundle_images o"
	        "   WHERE o.bundle_id <> ?1 AND o.repo_id = tags.repo_id"
	        "   AND o.digest = tags.digest)";
	struct store_rm_stats res = { 0 };
	int64_t n = 0;
	int rc;

	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	if (untag && (rc = run_int(s, untag_sql, id, &res.tags, "remove tags", err)) != BARGE_OK)
		goto fail;
	if ((rc = run_int(s, "DELETE FROM bundle_images WHERE bundle_id = ?1", id, &res.pins,
	                  "remove pins", err)) != BARGE_OK ||
	    (rc = run_int(s, "DELETE FROM bundles WHERE id = ?1", id, &n, "remove bundle", err)) !=
	            BARGE_OK)
		goto fail;
	if (n == 0) {
		rc = err_set(err, BARGE_ENOTFOUND, "bundle %" PRId64 " not found", id);
		goto fail;
	}
	if ((rc = store_commit(s, err)) != BARGE_OK)
		return rc;
	if (st != NULL)
		*st = res;
	return BARGE_OK;
fail:
	store_rollback(s);
	return rc;
}

/* --- gc ------------------------------------------------------------------- */

/*
 * The manifest rows reachable from a root: every tag and every bundle pin,
 * then the manifests a live row of the same repository references (an
 * index's children), and the referrers of a live row (an image manifest,
 * not an index, referencing a manifest can only be naming its subject: a
 * signature or SBOM lives as long as what it describes).
 */
#define LIVE_CTE                                                                    \
	"WITH RECURSIVE live(repo_id, digest) AS ("                                 \
	"  SELECT repo_id, digest FROM tags"                                        \
	"  UNION SELECT repo_id, digest FROM bundle_images"                         \
	"  UNION SELECT m.repo_id, m.digest FROM live"                              \
	"    JOIN refs f ON f.parent = live.digest"                                 \
	"    JOIN manifests m ON m.repo_id = live.repo_id AND m.digest = f.child"   \
	"  UNION SELECT m.repo_id, m.digest FROM live"                              \
	"    JOIN refs f ON f.child = live.digest"                                  \
	"    JOIN manifests m ON m.repo_id = live.repo_id AND m.digest = f.parent"  \
	"    WHERE m.media_type NOT IN ('application/vnd.oci.image.index.v1+json'," \
	"      'application/vnd.docker.distribution.manifest.list.v2+json')) "

struct gc {
	const struct store_gc_opts *o;
	struct store_gc_stats *st;
	struct dset garbage; /* digests rows deleted by this GC named */
	sqlite3_stmt *live;  /* whether a row still names a digest */
	int64_t uploads;     /* open upload sessions */
	int links;           /* the push side's repo_blobs table exists */
	int remove;          /* 0: dry run */
	int readers_done;    /* no reader can still see the deleted rows */
	time_t now;
};

/* Whether the table exists: extensions (store_push.c) create theirs on first use. */
static int
has_table(struct store *s, const char *name, int *yes, struct barge_err *err)
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
 * Blobs pushed to a repository (repo_blobs) that no manifest names once the
 * grace period is over: a push that never sent its manifest.  Their links
 * go with the rows this GC deletes.
 */
static int
gc_links(struct store *s, struct gc *g, struct barge_err *err)
{
	static const char stale[] = " FROM repo_blobs WHERE linked_at <= ?1"
	                            " AND digest NOT IN (SELECT digest FROM manifests)"
	                            " AND digest NOT IN (SELECT child FROM refs)";
	const char *digest;
	sqlite3_stmt *st = NULL;
	char sql[256];
	int rc, step;

	snprintf(sql, sizeof(sql), "SELECT DISTINCT digest%s", stale);
	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, (int64_t)g->now - g->o->grace_s, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &digest, err)) != BARGE_OK ||
		    (rc = dset_add(&g->garbage, digest, err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(s, err, "mark pushed blobs");
		goto out;
	}
	snprintf(sql, sizeof(sql), "DELETE%s", stale);
	rc = run_int(s, sql, (int64_t)g->now - g->o->grace_s, NULL, "remove pushed blobs", err);
out:
	sqlite3_finalize(st);
	return rc;
}

static int
gc_is_live(struct store *s, struct gc *g, const char *digest, int *live, struct barge_err *err)
{
	int rc, step;

	if ((rc = bind_text(s, g->live, 1, digest, err)) != BARGE_OK)
		return rc;
	step = sqlite3_step(g->live);
	stmt_done(g->live);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return db_fail(s, err, "look up blob");
	*live = step == SQLITE_ROW;
	return BARGE_OK;
}

static int
gc_blob(struct store *s, const char *path, const char *digest, const struct stat *st, void *arg,
        struct barge_err *err)
{
	struct gc *g = arg;
	int live = 0, orphan, rc;

	/* Not a blob's name: fsck reports it; GC leaves what it does not know. */
	if (digest == NULL)
		return BARGE_OK;
	if ((rc = gc_is_live(s, g, digest, &live, err)) != BARGE_OK)
		return rc;
	if (live)
		return BARGE_OK;
	orphan = !dset_has(&g->garbage, digest);
	if (orphan) {
		/*
		 * No row ever named it: a load that died, or a pushed blob whose
		 * manifest is still to come.  Young files and open uploads keep it.
		 */
		if (g->uploads > 0 || g->now - st->st_mtime < g->o->grace_s) {
			g->st->kept_orphans++;
			return BARGE_OK;
		}
	} else if (g->remove && !g->readers_done) {
		g->st->deferred++;
		return BARGE_OK;
	}
	if (g->remove && unlink(path) != 0 && errno != ENOENT)
		return err_sys(err, BARGE_EIO, errno, "remove %s", path);
	g->st->blobs++;
	g->st->orphans += orphan;
	g->st->bytes += (int64_t)st->st_size;
	if (g->o->on_blob != NULL)
		g->o->on_blob(digest, (int64_t)st->st_size, orphan, g->o->arg);
	return BARGE_OK;
}

/* Deletes the unreachable rows, remembering the digests they named. */
static int
gc_mark_delete(struct store *s, struct gc *g, struct barge_err *err)
{
	static const char dead_sql[] =
	        LIVE_CTE "SELECT r.name, m.digest FROM manifests m"
	                 " JOIN repositories r ON r.id = m.repo_id"
	                 " WHERE (m.repo_id, m.digest) NOT IN (SELECT repo_id, digest FROM live)"
	                 " ORDER BY r.name, m.digest";
	static const char delete_sql[] =
	        LIVE_CTE "DELETE FROM manifests"
	                 " WHERE (repo_id, digest) NOT IN (SELECT repo_id, digest FROM live)";
	static const char children_sql[] = "SELECT DISTINCT child FROM refs WHERE parent NOT IN "
	                                   "(SELECT digest FROM manifests)";
	const char *repo, *digest;
	sqlite3_stmt *st = NULL;
	int64_t n;
	int rc, step;

	if ((rc = db_prepare(s, "SELECT count(*) FROM uploads", &st, err)) != BARGE_OK)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(s, err, "count uploads");
		goto out;
	}
	g->uploads = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if ((rc = db_prepare(s, dead_sql, &st, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &repo, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &digest, err)) != BARGE_OK ||
		    (rc = dset_add(&g->garbage, digest, err)) != BARGE_OK)
			goto out;
		g->st->manifests++;
		if (g->o->on_manifest != NULL)
			g->o->on_manifest(repo, digest, g->o->arg);
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(s, err, "mark manifests");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = run_int(s, delete_sql, 0, NULL, "remove manifests", err)) != BARGE_OK)
		goto out;
	if ((rc = db_prepare(s, children_sql, &st, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &digest, err)) != BARGE_OK ||
		    (rc = dset_add(&g->garbage, digest, err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(s, err, "mark references");
		goto out;
	}
	/* Repositories with an open upload stay: the push names them. */
	if ((rc = run_int(s, "DELETE FROM refs WHERE parent NOT IN (SELECT digest FROM manifests)",
	                  0, NULL, "remove references", err)) != BARGE_OK ||
	    (rc = run_int(s,
	                  "DELETE FROM repositories WHERE id NOT IN (SELECT repo_id FROM manifests)"
	                  " AND id NOT IN (SELECT repo_id FROM tags)"
	                  " AND name NOT IN (SELECT repo FROM uploads)",
	                  0, &n, "remove repositories", err)) != BARGE_OK)
		goto out;
	g->st->repos = n;
	/* After the deletes above, so that the rows this GC drops hold nothing. */
	if ((rc = has_table(s, "repo_blobs", &g->links, err)) != BARGE_OK ||
	    (g->links && (rc = gc_links(s, g, err)) != BARGE_OK))
		goto out;
	dset_sort(&g->garbage);
out:
	sqlite3_finalize(st);
	return rc;
}

int
store_gc(struct store *s, const struct store_gc_opts *o, struct store_gc_stats *st,
         struct barge_err *err)
{
	struct store_gc_stats res = { 0 };
	struct gc g;
	int rc;

	memset(&g, 0, sizeof(g));
	g.o = o;
	g.st = &res;
	g.remove = !o->dry_run;
	g.now = time(NULL);
	if ((rc = store_lock_exclusive(s, o->lock_wait_ms, err)) != BARGE_OK)
		return rc;
	if ((rc = store_begin(s, err)) != BARGE_OK)
		goto out;
	if ((rc = gc_mark_delete(s, &g, err)) != BARGE_OK)
		goto out;
	if ((rc = db_prepare(
	             s,
	             g.links ? "SELECT 1 FROM manifests WHERE digest = ?1"
	                       " UNION ALL SELECT 1 FROM refs WHERE child = ?1"
	                       " UNION ALL SELECT 1 FROM repo_blobs WHERE digest = ?1 LIMIT 1"
	                     : "SELECT 1 FROM manifests WHERE digest = ?1"
	                       " UNION ALL SELECT 1 FROM refs WHERE child = ?1 LIMIT 1",
	             &g.live, err)) != BARGE_OK)
		goto out;
	if (o->dry_run) {
		/* The sweep looks at the marked state inside the transaction, then drops it. */
		rc = walk_blobs(s, gc_blob, &g, err);
		goto out;
	}
	if ((rc = store_commit(s, err)) != BARGE_OK)
		goto out;
	g.readers_done = wait_readers(s);
	if ((rc = walk_blobs(s, gc_blob, &g, err)) != BARGE_OK)
		goto out;
	prune_shards(s);
out:
	sqlite3_finalize(g.live);
	store_rollback(s);
	store_unlock(s);
	dset_free(&g.garbage);
	if (rc == BARGE_OK && st != NULL)
		*st = res;
	return rc;
}

/* --- fsck ----------------------------------------------------------------- */

struct fsck {
	const struct store_fsck_opts *o;
	struct store_fsck_stats *st;
	struct dset corrupt; /* blob files whose bytes do not match their name */
	struct dset bad;     /* digests --repair drops with everything above them */
	struct dset absent;  /* children a manifest may name without the store holding them */
	char **files;        /* files --repair removes: corrupt blobs, strays */
	size_t nfiles;
	unsigned char *buf;
};

static void BARGE_PRINTF(3, 4) problem(struct fsck *f, const char *subject, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->st->problems++;
	if (f->o->on_problem != NULL)
		f->o->on_problem(subject, msg, f->o->arg);
}

static int
doomed_file(struct fsck *f, const char *path, struct barge_err *err)
{
	char **nf;

	if ((nf = realloc(f->files, (f->nfiles + 1) * sizeof(*nf))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	f->files = nf;
	if ((f->files[f->nfiles] = strdup(path)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	f->nfiles++;
	return BARGE_OK;
}

/* Streams the file at path through the algorithm of digest; got: what it hashes to. */
static int
hash_file(struct fsck *f, const char *path, const char *digest, char *got, struct barge_err *err)
{
	struct digest_ctx *dc = NULL;
	enum digest_alg alg;
	ssize_t n;
	int fd = -1, rc;

	if ((rc = digest_parse(digest, &alg, NULL, err)) != BARGE_OK ||
	    (rc = digest_new(alg, &dc, err)) != BARGE_OK)
		return rc;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "open %s", path);
		goto out;
	}
	for (;;) {
		n = read(fd, f->buf, GC_HASH_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		if ((rc = digest_update(dc, f->buf, (size_t)n, err)) != BARGE_OK)
			goto out;
	}
	rc = digest_final(dc, got, err);
out:
	if (fd >= 0)
		close(fd);
	digest_free(dc);
	return rc;
}

static int
fsck_blob(struct store *s, const char *path, const char *digest, const struct stat *st, void *arg,
          struct barge_err *err)
{
	struct barge_err herr = { 0 };
	char got[DIGEST_STR_MAX];
	struct fsck *f = arg;
	int rc;

	(void)s;
	if (digest == NULL) {
		if (S_ISDIR(st->st_mode)) {
			problem(f, path, "not part of the store (a directory: remove it by hand)");
			f->st->unrepaired++;
			return BARGE_OK;
		}
		problem(f, path, "not a blob of the store");
		return doomed_file(f, path, err);
	}
	f->st->blobs++;
	f->st->bytes += (int64_t)st->st_size;
	if ((rc = hash_file(f, path, digest, got, &herr)) == BARGE_EIO) {
		problem(f, digest, "unreadable: %s", herr.msg);
	} else if (rc != BARGE_OK) {
		*err = herr;
		return rc;
	} else if (strcmp(got, digest) == 0) {
		return BARGE_OK;
	} else {
		problem(f, digest, "corrupt: %s hashes to %s", path, got);
	}
	if ((rc = dset_add(&f->corrupt, digest, err)) != BARGE_OK ||
	    (rc = dset_add(&f->bad, digest, err)) != BARGE_OK)
		return rc;
	return doomed_file(f, path, err);
}

/* Whether refs records parent -> child. */
static int
has_ref(struct store *s, sqlite3_stmt *q, const char *parent, const char *child, int *yes,
        struct barge_err *err)
{
	int rc, step;

	if ((rc = bind_text(s, q, 1, parent, err)) != BARGE_OK ||
	    (rc = bind_text(s, q, 2, child, err)) != BARGE_OK) {
		stmt_done(q);
		return rc;
	}
	step = sqlite3_step(q);
	stmt_done(q);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return db_fail(s, err, "look up reference");
	*yes = step == SQLITE_ROW;
	return BARGE_OK;
}

/* Reads a stored manifest of at most MANIFEST_MAX bytes; *buf is the caller's. */
static int
read_blob_small(struct store *s, const char *digest, char **buf, int64_t *size,
                struct barge_err *err)
{
	char *b = NULL;
	int fd = -1, rc;

	if ((rc = store_blob_open(s, digest, &fd, size, err)) != BARGE_OK)
		return rc;
	if (*size > MANIFEST_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "%" PRId64 " bytes, more than %d", *size,
		             MANIFEST_MAX);
		goto out;
	}
	if ((b = malloc((size_t)*size + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = fu_read_exact(fd, b, (size_t)*size, err)) != BARGE_OK) {
		err_prefix(err, "blob %s", digest);
		goto out;
	}
	*buf = b;
	b = NULL;
out:
	free(b);
	close(fd);
	return rc;
}

/* Layers registries do not hold (Windows foreign layers), as the push side treats them. */
static int
nondistributable(const char *mt)
{
	return mt != NULL &&
	       (strstr(mt, "nondistributable") != NULL || strstr(mt, ".foreign.") != NULL);
}

/* Checks one manifest row against its blob and the rows it implies. */
static int
fsck_manifest(struct store *s, struct fsck *f, sqlite3_stmt *refq, sqlite3_stmt *childq,
              const char *repo, const char *digest, const char *mt, int64_t recorded,
              struct barge_err *err)
{
	struct barge_err merr = { 0 };
	const struct manifest_desc *d;
	struct manifest *m = NULL;
	char subject[1024], *buf = NULL;
	int64_t size, have;
	size_t i, n;
	int rc, yes = 0, broken = 0, step;

	snprintf(subject, sizeof(subject), "%s@%s", repo, digest);
	f->st->manifests++;
	if (dset_has(&f->corrupt, digest)) {
		problem(f, subject, "its manifest blob is corrupt");
		return BARGE_OK;
	}
	rc = read_blob_small(s, digest, &buf, &size, &merr);
	if (rc == BARGE_ENOTFOUND) {
		problem(f, subject, "its manifest blob is missing");
		return dset_add(&f->bad, digest, err);
	}
	if (rc == BARGE_ENOMEM) {
		*err = merr;
		return rc;
	}
	if (rc != BARGE_OK) {
		problem(f, subject, "manifest blob: %s", merr.msg);
		return dset_add(&f->bad, digest, err);
	}
	if (size != recorded) {
		problem(f, subject, "manifest blob is %" PRId64 " bytes, recorded as %" PRId64,
		        size, recorded);
		broken = 1;
		goto out;
	}
	if (manifest_parse(buf, (size_t)size, mt[0] != '\0' ? mt : NULL, &m, &merr) != BARGE_OK) {
		problem(f, subject, "does not parse as a manifest: %s", merr.msg);
		broken = 1;
		goto out;
	}
	/* A referrer may come before its subject (OCI 1.1): its reference may dangle. */
	if (m->has_subject && (rc = dset_add(&f->absent, m->subject.digest, err)) != BARGE_OK)
		goto out;
	n = m->kind == MANIFEST_IMAGE ? m->ndescs + 1 : m->ndescs;
	for (i = 0; i < n; i++) {
		d = m->kind == MANIFEST_IMAGE ? (i == 0 ? &m->config : &m->descs[i - 1])
		                              : &m->descs[i];
		/* Non-distributable (foreign) layers are never in a registry. */
		if (m->kind == MANIFEST_IMAGE && i > 0 && nondistributable(d->media_type)) {
			if ((rc = dset_add(&f->absent, d->digest, err)) != BARGE_OK)
				goto out;
			continue;
		}
		if ((rc = has_ref(s, refq, digest, d->digest, &yes, err)) != BARGE_OK)
			goto out;
		if (m->kind == MANIFEST_INDEX) {
			/* A sparse index lists platforms the store never got: no ref, fine. */
			if (!yes)
				continue;
			if ((rc = bind_text(s, childq, 1, repo, err)) != BARGE_OK ||
			    (rc = bind_text(s, childq, 2, d->digest, err)) != BARGE_OK) {
				stmt_done(childq);
				goto out;
			}
			step = sqlite3_step(childq);
			stmt_done(childq);
			if (step != SQLITE_ROW && step != SQLITE_DONE) {
				rc = db_fail(s, err, "look up manifest");
				goto out;
			}
			if (step == SQLITE_DONE) {
				problem(f, subject, "index child %s is not a manifest of %s",
				        d->digest, repo);
				broken = 1;
			}
			continue;
		}
		if (!yes) {
			problem(f, subject, "%s %s is not recorded as its reference",
			        i == 0 ? "config" : "layer", d->digest);
			broken = 1;
			continue;
		}
		/* A missing file is the refs check's to report; here only its size. */
		have = blob_file_size(s, d->digest);
		if (have >= 0 && have != d->size) {
			problem(f, subject,
			        "%s %s is %" PRId64 " bytes, the manifest says %" PRId64,
			        i == 0 ? "config" : "layer", d->digest, have, d->size);
			broken = 1;
		}
	}
out:
	manifest_free(m);
	free(buf);
	if (rc == BARGE_OK && broken)
		rc = dset_add(&f->bad, digest, err);
	return rc;
}

static int
fsck_manifests(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *repo, *digest, *mt;
	sqlite3_stmt *st = NULL, *refq = NULL, *childq = NULL;
	int rc, step;

	if ((rc = db_prepare(
	             s,
	             "SELECT coalesce(r.name, '(repository ' || m.repo_id || ' missing)'),"
	             " m.digest, m.media_type, m.size FROM manifests m"
	             " LEFT JOIN repositories r ON r.id = m.repo_id ORDER BY r.name, m.digest",
	             &st, err)) != BARGE_OK ||
	    (rc = db_prepare(s, "SELECT 1 FROM refs WHERE parent = ?1 AND child = ?2", &refq,
	                     err)) != BARGE_OK ||
	    (rc = db_prepare(s,
	                     "SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id"
	                     " WHERE r.name = ?1 AND m.digest = ?2",
	                     &childq, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &repo, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &digest, err)) != BARGE_OK ||
		    (rc = col_text(st, 2, &mt, err)) != BARGE_OK)
			goto out;
		if (repo[0] == '(') {
			problem(f, digest, "manifest row of a missing %s", repo + 1);
			if ((rc = dset_add(&f->bad, digest, err)) != BARGE_OK)
				goto out;
			continue;
		}
		if ((rc = fsck_manifest(s, f, refq, childq, repo, digest, mt,
		                        sqlite3_column_int64(st, 3), err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list manifests");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(refq);
	sqlite3_finalize(childq);
	return rc;
}

/* Every reference of a manifest names a stored blob. */
static int
fsck_refs(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *parent, *child;
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = db_prepare(
	             s,
	             "SELECT parent, child FROM refs"
	             " WHERE parent IN (SELECT digest FROM manifests) ORDER BY parent, child",
	             &st, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &parent, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &child, err)) != BARGE_OK)
			goto out;
		if (blob_file_size(s, child) >= 0 || dset_has(&f->absent, child))
			continue;
		problem(f, parent, "references %s, which is missing", child);
		if ((rc = dset_add(&f->bad, child, err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list references");
out:
	sqlite3_finalize(st);
	return rc;
}

/* Every blob pushed to a repository (repo_blobs, when the push side made it) is stored. */
static int
fsck_links(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *repo, *digest;
	sqlite3_stmt *st = NULL;
	char subject[1024];
	int rc, step, yes;

	if ((rc = has_table(s, "repo_blobs", &yes, err)) != BARGE_OK || !yes)
		return rc;
	if ((rc = db_prepare(s, "SELECT repo, digest FROM repo_blobs ORDER BY repo, digest", &st,
	                     err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &repo, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &digest, err)) != BARGE_OK)
			goto out;
		if (blob_file_size(s, digest) >= 0)
			continue;
		snprintf(subject, sizeof(subject), "%s@%s", repo, digest);
		problem(f, subject, "pushed blob is missing");
		if ((rc = dset_add(&f->bad, digest, err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list pushed blobs");
out:
	sqlite3_finalize(st);
	return rc;
}

/* Rows of sql are (subject, problem) pairs; repair removes what they name. */
static int
fsck_rows(struct store *s, struct fsck *f, const char *sql, struct barge_err *err)
{
	const char *subject, *what;
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &subject, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &what, err)) != BARGE_OK)
			goto out;
		problem(f, subject, "%s", what);
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "check rows");
out:
	sqlite3_finalize(st);
	return rc;
}

static int
fsck_db(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *v;
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = db_prepare(s, "PRAGMA quick_check", &st, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &v, err)) != BARGE_OK)
			goto out;
		if (strcmp(v, "ok") != 0) {
			problem(f, "barge.db", "%s", v);
			f->st->unrepaired++;
		}
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "quick_check");
out:
	sqlite3_finalize(st);
	if (rc != BARGE_OK)
		return rc;
	if ((rc = fsck_manifests(s, f, err)) != BARGE_OK)
		return rc;
	dset_sort(&f->absent);
	if ((rc = fsck_refs(s, f, err)) != BARGE_OK || (rc = fsck_links(s, f, err)) != BARGE_OK)
		return rc;
	if ((rc = fsck_rows(s, f,
	                    "SELECT coalesce(r.name, '?') || ':' || t.name,"
	                    " 'points at ' || t.digest || ', which its repository does not hold'"
	                    " FROM tags t LEFT JOIN repositories r ON r.id = t.repo_id"
	                    " WHERE NOT EXISTS (SELECT 1 FROM manifests m"
	                    "   WHERE m.repo_id = t.repo_id AND m.digest = t.digest)",
	                    err)) != BARGE_OK)
		return rc;
	return fsck_rows(s, f,
	                 "SELECT 'bundle ' || bi.bundle_id,"
	                 " CASE WHEN b.id IS NULL THEN 'pins images but is not recorded'"
	                 " ELSE 'pins ' || coalesce(r.name, '?') || '@' || bi.digest ||"
	                 "  ', which its repository does not hold' END"
	                 " FROM bundle_images bi LEFT JOIN bundles b ON b.id = bi.bundle_id"
	                 " LEFT JOIN repositories r ON r.id = bi.repo_id"
	                 " WHERE b.id IS NULL OR NOT EXISTS (SELECT 1 FROM manifests m"
	                 "   WHERE m.repo_id = bi.repo_id AND m.digest = bi.digest)",
	                 err);
}

/*
 * Drops every broken digest and everything above it (the manifests that
 * reference it, the indexes above those), the tags and pins on them, and
 * rows that point nowhere, in one transaction.
 */
static int
fsck_repair_rows(struct store *s, struct fsck *f, struct barge_err *err)
{
	static const char grow_sql[] = "INSERT OR IGNORE INTO temp.fsck_bad SELECT parent FROM refs"
	                               " WHERE child IN (SELECT digest FROM temp.fsck_bad)";
	sqlite3_stmt *st = NULL;
	int64_t n;
	size_t i;
	int rc, round, links = 0;

	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = has_table(s, "repo_blobs", &links, err)) != BARGE_OK)
		goto fail;
	if ((rc = db_exec(s,
	                  "CREATE TEMP TABLE IF NOT EXISTS fsck_bad(digest TEXT PRIMARY KEY);"
	                  "DELETE FROM temp.fsck_bad",
	                  "create work table", err)) != BARGE_OK ||
	    (rc = db_prepare(s, "INSERT OR IGNORE INTO temp.fsck_bad(digest) VALUES(?1)", &st,
	                     err)) != BARGE_OK)
		goto fail;
	for (i = 0; i < f->bad.n; i++) {
		if ((rc = bind_text(s, st, 1, f->bad.d[i], err)) != BARGE_OK ||
		    (rc = stmt_run(s, st, "mark broken", err)) != BARGE_OK)
			goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Index -> manifest -> blob: two rounds reach the top; more cost nothing. */
	for (round = 0; round < 8; round++) {
		if ((rc = run_int(s, grow_sql, 0, &n, "mark broken parents", err)) != BARGE_OK)
			goto fail;
		if (n == 0)
			break;
	}
	if ((rc = run_int(s,
	                  "DELETE FROM tags WHERE digest IN (SELECT digest FROM temp.fsck_bad)"
	                  " OR NOT EXISTS (SELECT 1 FROM manifests m"
	                  "   WHERE m.repo_id = tags.repo_id AND m.digest = tags.digest)",
	                  0, &f->st->removed_tags, "remove tags", err)) != BARGE_OK ||
	    (rc = run_int(s,
	                  "DELETE FROM bundle_images"
	                  " WHERE digest IN (SELECT digest FROM temp.fsck_bad)"
	                  " OR bundle_id NOT IN (SELECT id FROM bundles)"
	                  " OR NOT EXISTS (SELECT 1 FROM manifests m"
	                  "   WHERE m.repo_id = bundle_images.repo_id"
	                  "   AND m.digest = bundle_images.digest)",
	                  0, &f->st->removed_pins, "remove pins", err)) != BARGE_OK ||
	    (links && (rc = run_int(s,
	                            "DELETE FROM repo_blobs"
	                            " WHERE digest IN (SELECT digest FROM temp.fsck_bad)",
	                            0, NULL, "remove pushed blobs", err)) != BARGE_OK) ||
	    (rc = run_int(s, "DELETE FROM refs WHERE parent IN (SELECT digest FROM temp.fsck_bad)",
	                  0, NULL, "remove references", err)) != BARGE_OK ||
	    (rc = run_int(
	             s, "DELETE FROM manifests WHERE digest IN (SELECT digest FROM temp.fsck_bad)",
	             0, &f->st->removed_manifests, "remove manifests", err)) != BARGE_OK ||
	    (rc = db_exec(s, "DROP TABLE temp.fsck_bad", "drop work table", err)) != BARGE_OK)
		goto fail;
	return store_commit(s, err);
fail:
	sqlite3_finalize(st);
	store_rollback(s);
	return rc;
}

int
store_fsck(struct store *s, const struct store_fsck_opts *o, struct store_fsck_stats *st,
           struct barge_err *err)
{
	struct store_fsck_stats res = { 0 };
	struct fsck f;
	size_t i;
	int began = 0, rc;

	memset(&f, 0, sizeof(f));
	f.o = o;
	f.st = &res;
	if ((f.buf = malloc(GC_HASH_BUF)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* Shared keeps GC from removing files under our feet; loads may go on. */
	rc = o->repair ? store_lock_exclusive(s, o->lock_wait_ms, err) : store_lock_shared(s, err);
	if (rc != BARGE_OK)
		goto out;
	if ((rc = walk_blobs(s, fsck_blob, &f, err)) != BARGE_OK)
		goto out;
	dset_sort(&f.corrupt);
	if ((rc = snap_begin(s, &began, err)) != BARGE_OK)
		goto out;
	rc = fsck_db(s, &f, err);
	snap_end(s, began);
	if (rc != BARGE_OK || !o->repair || res.problems == res.unrepaired)
		goto out;
	if ((rc = fsck_repair_rows(s, &f, err)) != BARGE_OK)
		goto out;
	/* Corrupt files are removed whether or not old readers are gone: nobody can use them. */
	(void)wait_readers(s);
	for (i = 0; i < f.nfiles; i++) {
		if (unlink(f.files[i]) != 0 && errno != ENOENT) {
			rc = err_sys(err, BARGE_EIO, errno, "remove %s", f.files[i]);
			goto out;
		}
		res.removed_files++;
	}
out:
	store_unlock(s);
	for (i = 0; i < f.nfiles; i++)
		free(f.files[i]);
	free(f.files);
	dset_free(&f.corrupt);
	dset_free(&f.bad);
	dset_free(&f.absent);
	free(f.buf);
	if (rc == BARGE_OK && st != NULL)
		*st = res;
	return rc;
}
