/*
 * store_gc: mark and sweep (store.h: store_gc).  Owns the rule of what is
 * live: every tag, every bundle pin, every proxied manifest (until
 * store_proxy_evict drops it), every open upload, and what they reach.
 *
 * GC changes metadata in one transaction and only then removes files: a
 * crash in between leaves files no row names, which the next GC collects,
 * never a row naming a missing file.  Before removing a file a deleted row
 * named, it waits (a FULL WAL checkpoint) until every reader that began
 * before the commit has ended; store_open_manifest and store_open_repo_blob
 * open their fd inside their read transaction, so a reader that saw the row
 * already holds the file.  docs/store.md has the rules.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

/*
 * The manifest rows reachable from a root: every tag, every bundle pin and
 * every proxied manifest (eviction, not GC, decides when those go),
 * then the manifests a live row of the same repository references (an
 * index's children), and the referrers of a live row (an image manifest,
 * not an index, referencing a manifest can only be naming its subject: a
 * signature or SBOM lives as long as what it describes).
 *
 * Computed once into temp.gc_live.  The CROSS JOINs fix the join order:
 * left to itself SQLite walked every manifest of the live row's repository
 * for each live row (the referrer step), which made the mark grow with
 * tags x tags-per-repository (580 s at 100,000 tags, issue #18).  Each step
 * is now an index probe per reference: refs(parent, child), refs_child and
 * manifests(repo_id, digest).
 */
static const char live_sql[] =
        "CREATE TEMP TABLE IF NOT EXISTS gc_live(repo_id INTEGER NOT NULL, digest TEXT NOT NULL,"
        "  PRIMARY KEY(repo_id, digest)) WITHOUT ROWID;"
        "DELETE FROM temp.gc_live;"
        "WITH RECURSIVE live(repo_id, digest) AS ("
        "  SELECT repo_id, digest FROM tags"
        "  UNION SELECT repo_id, digest FROM bundle_images"
        "  UNION SELECT repo_id, digest FROM proxy_manifests"
        "  UNION SELECT m.repo_id, m.digest FROM live"
        "    CROSS JOIN refs f ON f.parent = live.digest"
        "    CROSS JOIN manifests m ON m.repo_id = live.repo_id AND m.digest = f.child"
        "  UNION SELECT m.repo_id, m.digest FROM live"
        "    CROSS JOIN refs f ON f.child = live.digest"
        "    CROSS JOIN manifests m ON m.repo_id = live.repo_id AND m.digest = f.parent"
        "    WHERE m.media_type NOT IN ('application/vnd.oci.image.index.v1+json',"
        "      'application/vnd.docker.distribution.manifest.list.v2+json'))"
        " INSERT INTO temp.gc_live SELECT repo_id, digest FROM live;";

#define NOT_LIVE(m)                                                                     \
	" NOT EXISTS (SELECT 1 FROM temp.gc_live l WHERE l.repo_id = " m ".repo_id AND" \
	" l.digest = " m ".digest)"

/*
 * The sweep takes the exclusive GC lock for one batch of removals at a
 * time: a load or a push waits at most one batch (a few milliseconds), not
 * the walk of every blob file (issue #18).
 */
#define GC_BATCH 256

/*
 * The walk asks "does a row name this blob" in read snapshots of this many
 * blob files: one implicit transaction per probe cost SQLite's lock and
 * change checks every time (two fcntl, a stat and page reads per blob:
 * 3.1 s CPU for 200,000 files).  A snapshot is safe: a blob it shows dead is
 * checked again under the lock before it goes, and one it shows live stays
 * until the next GC.  Bounded so that checkpoints are not held off long.
 */
#define GC_SNAP_BLOBS 4096

/* A blob file that looked dead during the walk; checked again under the lock. */
struct gc_cand {
	char digest[DIGEST_STR_MAX];
	char *path;
	int64_t size;
	time_t mtime;
};

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
	int snap;     /* the walk's read snapshot is open (db_snap_begin) */
	size_t nsnap; /* blob files looked up in it */
	struct gc_cand cand[GC_BATCH];
	size_t ncand;
};

/* Adds the digest in column 0 of each row of st to the garbage. */
static int
gc_mark_rows(struct store *s, struct gc *g, sqlite3_stmt *st, const char *what,
             struct barge_err *err)
{
	const char *digest;
	int rc, step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = col_text(st, 0, &digest, err)) != BARGE_OK ||
		    (rc = dset_add(&g->garbage, digest, err)) != BARGE_OK)
			return rc;
	if (step != SQLITE_DONE)
		return db_fail(s, err, what);
	return BARGE_OK;
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
	sqlite3_stmt *st = NULL;
	char sql[256];
	int rc;

	snprintf(sql, sizeof(sql), "SELECT DISTINCT digest%s", stale);
	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, (int64_t)g->now - g->o->grace_s, err)) != BARGE_OK)
		goto out;
	if ((rc = gc_mark_rows(s, g, st, "mark pushed blobs", err)) != BARGE_OK)
		goto out;
	snprintf(sql, sizeof(sql), "DELETE%s", stale);
	rc = db_run_int(s, sql, (int64_t)g->now - g->o->grace_s, NULL, "remove pushed blobs", err);
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

/* Removes (or, dry, counts) a blob file no row names. */
static int
gc_drop(struct gc *g, const char *path, const char *digest, int64_t size, time_t mtime,
        struct barge_err *err)
{
	int orphan = !dset_has(&g->garbage, digest);

	if (orphan) {
		/*
		 * No row ever named it: a load that died, or a pushed blob whose
		 * manifest is still to come.  Young files and open uploads keep it.
		 */
		if (g->uploads > 0 || g->now - mtime < g->o->grace_s) {
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
	g->st->bytes += size;
	if (g->o->on_blob != NULL)
		g->o->on_blob(digest, size, orphan, g->o->arg);
	return BARGE_OK;
}

static int
gc_count_uploads(struct store *s, struct gc *g, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, "SELECT count(*) FROM uploads", &st, err)) != BARGE_OK)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		g->uploads = sqlite3_column_int64(st, 0);
	else
		rc = db_fail(s, err, "count uploads");
	sqlite3_finalize(st);
	return rc;
}

/*
 * Removes the candidates under the exclusive lock, each checked again: a
 * load or push that linked one since the walk saw it has committed by now
 * (writers hold the lock shared until their commit), and keeps it.
 */
static void
gc_snap_end(struct store *s, struct gc *g)
{
	db_snap_end(s, g->snap);
	g->snap = 0;
	g->nsnap = 0;
}

static int
gc_flush(struct store *s, struct gc *g, struct barge_err *err)
{
	struct gc_cand *c;
	size_t i;
	int live = 0, rc;

	int began = 0;

	gc_snap_end(s, g);
	if (g->ncand == 0)
		return BARGE_OK;
	if ((rc = store_lock_exclusive(s, g->o->lock_wait_ms, err)) != BARGE_OK)
		goto out;
	/* Under the lock no writer is between its blobs and its commit: one snapshot will do. */
	if ((rc = db_snap_begin(s, &began, err)) == BARGE_OK)
		rc = gc_count_uploads(s, g, err);
	for (i = 0; rc == BARGE_OK && i < g->ncand; i++) {
		c = &g->cand[i];
		if ((rc = gc_is_live(s, g, c->digest, &live, err)) == BARGE_OK && !live)
			rc = gc_drop(g, c->path, c->digest, c->size, c->mtime, err);
	}
	db_snap_end(s, began);
	store_unlock(s);
out:
	for (i = 0; i < g->ncand; i++)
		free(g->cand[i].path);
	g->ncand = 0;
	return rc;
}

static int
gc_blob(struct store *s, const char *path, const char *digest, const struct stat *st, void *arg,
        struct barge_err *err)
{
	struct gc *g = arg;
	struct gc_cand *c;
	int live = 0, rc;

	/* Not a blob's name: fsck reports it; GC leaves what it does not know. */
	if (digest == NULL)
		return BARGE_OK;
	if (g->nsnap == GC_SNAP_BLOBS)
		gc_snap_end(s, g);
	if (g->nsnap++ == 0 && (rc = db_snap_begin(s, &g->snap, err)) != BARGE_OK)
		return rc;
	if ((rc = gc_is_live(s, g, digest, &live, err)) != BARGE_OK)
		return rc;
	if (live)
		return BARGE_OK;
	/* A dry run looks at its own uncommitted marking: nothing to wait for. */
	if (!g->remove)
		return gc_drop(g, path, digest, (int64_t)st->st_size, st->st_mtime, err);
	c = &g->cand[g->ncand];
	if ((c->path = strdup(path)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	snprintf(c->digest, sizeof(c->digest), "%s", digest);
	c->size = (int64_t)st->st_size;
	c->mtime = st->st_mtime;
	if (++g->ncand == GC_BATCH)
		return gc_flush(s, g, err);
	return BARGE_OK;
}

/* Deletes the unreachable rows, remembering the digests they named. */
static int
gc_mark_delete(struct store *s, struct gc *g, struct barge_err *err)
{
	static const char dead_sql[] = "SELECT r.name, m.digest FROM manifests m"
	                               " JOIN repositories r ON r.id = m.repo_id"
	                               " WHERE" NOT_LIVE("m") " ORDER BY r.name, m.digest";
	static const char delete_sql[] = "DELETE FROM manifests WHERE" NOT_LIVE("manifests");
	static const char children_sql[] = "SELECT DISTINCT child FROM refs WHERE parent NOT IN "
	                                   "(SELECT digest FROM manifests)";
	const char *repo, *digest;
	sqlite3_stmt *st = NULL;
	int64_t n;
	int rc, step;

	if ((rc = gc_count_uploads(s, g, err)) != BARGE_OK ||
	    (rc = db_exec(s, live_sql, "mark live manifests", err)) != BARGE_OK ||
	    (rc = db_prepare(s, dead_sql, &st, err)) != BARGE_OK)
		goto out;
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
	if ((rc = db_run_int(s, delete_sql, 0, NULL, "remove manifests", err)) != BARGE_OK ||
	    (rc = db_exec(s, "DROP TABLE temp.gc_live", "drop live manifests", err)) != BARGE_OK)
		goto out;
	if ((rc = db_prepare(s, children_sql, &st, err)) != BARGE_OK)
		goto out;
	if ((rc = gc_mark_rows(s, g, st, "mark references", err)) != BARGE_OK)
		goto out;
	/* Repositories with an open upload stay: the push names them. */
	if ((rc = db_run_int(s,
	                     "DELETE FROM refs WHERE parent NOT IN (SELECT digest FROM manifests)",
	                     0, NULL, "remove references", err)) != BARGE_OK ||
	    (rc = db_run_int(
	             s,
	             "DELETE FROM repositories WHERE id NOT IN (SELECT repo_id FROM manifests)"
	             " AND id NOT IN (SELECT repo_id FROM tags)"
	             " AND name NOT IN (SELECT repo FROM uploads)",
	             0, &n, "remove repositories", err)) != BARGE_OK)
		goto out;
	g->st->repos = n;
	/* After the deletes above, so that the rows this GC drops hold nothing. */
	if ((rc = db_has_table(s, "repo_blobs", &g->links, err)) != BARGE_OK ||
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
	struct barge_err ignored;
	struct gc g;
	size_t i;
	int rc;

	memset(&g, 0, sizeof(g));
	g.o = o;
	g.st = &res;
	g.remove = !o->dry_run;
	g.now = time(NULL);
	/*
	 * The mark needs no GC lock: a writer's rows are either committed
	 * (and seen) or not yet (and its blob files wait for it in the sweep's
	 * locked re-check).  Its transaction is one set-based pass.
	 */
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
		rc = blob_walk(s, gc_blob, &g, err);
		goto out;
	}
	if ((rc = store_commit(s, err)) != BARGE_OK)
		goto out;
	g.readers_done = db_wait_readers(s);
	if ((rc = blob_walk(s, gc_blob, &g, err)) != BARGE_OK ||
	    (rc = gc_flush(s, &g, err)) != BARGE_OK)
		goto out;
	/* Brief: no writer may be between a shard's mkdir and its rename. */
	if (store_lock_exclusive(s, o->lock_wait_ms, &ignored) == BARGE_OK)
		blob_prune_shards(s);
out:
	gc_snap_end(s, &g);
	for (i = 0; i < g.ncand; i++)
		free(g.cand[i].path);
	sqlite3_finalize(g.live);
	store_rollback(s);
	store_unlock(s);
	dset_free(&g.garbage);
	if (rc == BARGE_OK && st != NULL)
		*st = res;
	return rc;
}
