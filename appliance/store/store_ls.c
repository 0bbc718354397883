/*
 * store_ls: the lifecycle's reading side and its removal of bundles
 * (store.h: store_list_bundles, store_find_bundles, store_list_images,
 * store_rm_bundle).  Listings run in one read snapshot, so a concurrent load
 * shows whole or not at all; sizes are distinct blob bytes as stored.
 */
#include "store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

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
		if ((size = blob_size(s, d)) > 0)
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

/* st: DOWN_FROM("SELECT ?1, 0"), prepared once for the whole listing. */
static int
image_bytes(struct store *s, sqlite3_stmt *st, const char *digest, int64_t *bytes,
            struct barge_err *err)
{
	int rc;

	if ((rc = bind_text(s, st, 1, digest, err)) == BARGE_OK)
		rc = reach_bytes(s, st, bytes, err);
	stmt_done(st);
	return rc;
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

	if ((rc = db_snap_begin(s, &began, err)) != BARGE_OK)
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
	db_snap_end(s, began);
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
	/*
	 * An index's children are part of its image, not images of their own.
	 * The CROSS JOIN makes SQLite look the child's parents up by refs_child
	 * rather than walk every manifest of the repository for each row.
	 */
	static const char images_sql[] =
	        "SELECT r.name, m.digest, m.media_type, m.size, m.repo_id FROM manifests m"
	        " JOIN repositories r ON r.id = m.repo_id"
	        " WHERE EXISTS (SELECT 1 FROM tags t"
	        "   WHERE t.repo_id = m.repo_id AND t.digest = m.digest)"
	        " OR EXISTS (SELECT 1 FROM bundle_images bi"
	        "   WHERE bi.repo_id = m.repo_id AND bi.digest = m.digest)"
	        " OR NOT EXISTS (SELECT 1 FROM refs f CROSS JOIN manifests p"
	        "   ON p.digest = f.parent AND p.repo_id = m.repo_id WHERE f.child = m.digest)"
	        " ORDER BY r.name, m.digest";
	/*
	 * Left to itself SQLite walks every tag of the repository in name
	 * order (UNIQUE(repo_id, name)) for each image: 1.3 s for 10 x 1000
	 * tags.  By target, it reads the image's few tags and sorts them.
	 */
	static const char tags_sql[] = "SELECT name FROM tags INDEXED BY tags_target"
	                               " WHERE repo_id = ?1 AND digest = ?2 ORDER BY name";
	static const char bundles_sql[] =
	        "SELECT b.id, b.name, b.version, b.digest, b.loaded_at FROM bundle_images bi"
	        " JOIN bundles b ON b.id = bi.bundle_id"
	        " WHERE bi.repo_id = ?1 AND bi.digest = ?2 ORDER BY b.id";
	struct image_extra x = { 0 };
	struct store_image im;
	sqlite3_stmt *st = NULL, *tq = NULL, *bq = NULL, *sq = NULL;
	int began = 0, rc, step;

	if ((rc = db_snap_begin(s, &began, err)) != BARGE_OK)
		return rc;
	if ((rc = db_prepare(s, images_sql, &st, err)) != BARGE_OK ||
	    (rc = db_prepare(s, tags_sql, &tq, err)) != BARGE_OK ||
	    (rc = db_prepare(s, bundles_sql, &bq, err)) != BARGE_OK ||
	    (rc = db_prepare(s, DOWN_FROM("SELECT ?1, 0"), &sq, err)) != BARGE_OK)
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
		    (rc = image_bytes(s, sq, im.digest, &im.size, err)) != BARGE_OK)
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
	sqlite3_finalize(sq);
	db_snap_end(s, began);
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
	if (untag && (rc = db_run_int(s, untag_sql, id, &res.tags, "remove tags", err)) != BARGE_OK)
		goto fail;
	if ((rc = db_run_int(s, "DELETE FROM bundle_images WHERE bundle_id = ?1", id, &res.pins,
	                     "remove pins", err)) != BARGE_OK ||
	    (rc = db_run_int(s, "DELETE FROM bundles WHERE id = ?1", id, &n, "remove bundle",
	                     err)) != BARGE_OK)
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
