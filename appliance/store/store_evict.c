/*
 * store_evict: store_proxy_evict (store_proxy.h), the size limit of the
 * pull-through cache.  Owns the rule of what may be evicted: a proxied
 * manifest that no bundle pins, that no bundle load or push tagged, and
 * that is not a platform manifest of an index still there (it goes with
 * its index).  Least recently pulled first.
 *
 * As GC does (store_gc.c), rows go first, in one transaction per batch of
 * a few manifests, then, once no reader can still see them, the files no
 * row names any more, under the exclusive GC lock one batch at a time.  A
 * crash in between leaves orphan files for GC, never a row naming a
 * missing file.  docs/store.md (Eviction) has the rules and hold times.
 */
#include "store_proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

/*
 * Manifests per write transaction and blob files per hold of the GC lock:
 * a pull never waits for the database (WAL readers do not), a load or push
 * waits at most one batch (milliseconds), not the whole eviction.
 */
#define EVICT_VICTIMS 32
#define EVICT_BLOBS   256
/* Digests one batch may free: an index with its platforms, their layers. */
#define EVICT_DIGESTS_MAX  65536
#define EVICT_LOCK_WAIT_MS 10000

#define INDEX_TYPES                                   \
	"('application/vnd.oci.image.index.v1+json'," \
	" 'application/vnd.docker.distribution.manifest.list.v2+json')"

/* Neither pinned nor tagged by a bundle load or a push. */
#define UNCLAIMED(m)                                                                   \
	" NOT EXISTS (SELECT 1 FROM bundle_images bi WHERE bi.repo_id = " m ".repo_id" \
	"   AND bi.digest = " m ".digest)"                                             \
	" AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = " m ".repo_id"        \
	"   AND t.digest = " m ".digest AND (t.origin IS NULL OR t.origin <> 3))"

/*
 * The least recently pulled evictable manifests.  The index on pulled_at
 * gives the order; the probes are index lookups, so a batch costs the
 * pinned or claimed rows it skips plus its own.
 */
static const char cands_sql[] =
        "SELECT pm.repo_id, pm.digest, m.media_type FROM proxy_manifests pm"
        " JOIN manifests m ON m.repo_id = pm.repo_id AND m.digest = pm.digest"
        " WHERE" UNCLAIMED("pm") " AND NOT EXISTS (SELECT 1 FROM refs f CROSS JOIN manifests p"
                                 "   ON p.repo_id = pm.repo_id AND p.digest = f.parent"
                                 "   WHERE f.child = pm.digest AND p.media_type IN " INDEX_TYPES ")"
                                 " ORDER BY pm.pulled_at, pm.repo_id, pm.digest LIMIT ?1";

/* The platform manifests of index ?2 in repository ?1 that go with it. */
static const char platforms_sql[] =
        "SELECT m.digest FROM refs f CROSS JOIN proxy_manifests m"
        "   ON m.repo_id = ?1 AND m.digest = f.child"
        " WHERE f.parent = ?2 AND" UNCLAIMED(
                "m") " AND NOT EXISTS (SELECT 1 FROM refs g"
                     "   CROSS JOIN manifests p ON p.repo_id = ?1 AND p.digest = g.parent"
                     "   WHERE g.child = m.digest AND g.parent <> ?2 AND p.media_type "
                     "IN " INDEX_TYPES ")";

/* What GC counts as naming a blob (store_gc.c). */
static const char live_sql[] = "SELECT 1 FROM manifests WHERE digest = ?1"
                               " UNION ALL SELECT 1 FROM refs WHERE child = ?1"
                               " UNION ALL SELECT 1 FROM repo_blobs WHERE digest = ?1 LIMIT 1";
static const char live_nolinks_sql[] = "SELECT 1 FROM manifests WHERE digest = ?1"
                                       " UNION ALL SELECT 1 FROM refs WHERE child = ?1 LIMIT 1";

struct ev_blob {
	char digest[DIGEST_STR_MAX];
	int64_t size;
};

/* A digest whose rows this batch removed, and how far it got. */
struct ev_named {
	char digest[DIGEST_STR_MAX];
	int released; /* no manifest row names it: its references are gone */
	int garbage;  /* nothing names it: its file is in garbage */
};

struct ev_victim {
	int64_t repo_id;
	char digest[DIGEST_STR_MAX];
	int index;
};

struct evict {
	struct store_evict_stats *st;
	int64_t max;
	int64_t total;    /* blob bytes on disk */
	int64_t deferred; /* of those, files whose rows are gone but readers stayed busy */
	sqlite3_stmt *cands, *platforms, *live, *kids;
	struct ev_victim victims[EVICT_VICTIMS];
	size_t nvictims;
	/* Digests the rows of this batch named: manifests first, then their children. */
	struct ev_named *named;
	size_t nnamed, capnamed;
	/* Files to remove after the commit. */
	struct ev_blob *garbage;
	size_t ngarbage, capgarbage;
};

/* Adds digest to the batch's named digests, once. */
static int
ev_named_add(struct evict *e, const char *digest, struct barge_err *err)
{
	void *p;
	size_t cap, i;

	for (i = 0; i < e->nnamed; i++)
		if (strcmp(e->named[i].digest, digest) == 0)
			return BARGE_OK;
	if (e->nnamed == e->capnamed) {
		cap = e->capnamed ? e->capnamed * 2 : 256;
		if (cap > EVICT_DIGESTS_MAX)
			return err_set(err, BARGE_ELIMIT,
			               "eviction: more than %d digests in a batch",
			               EVICT_DIGESTS_MAX);
		if ((p = realloc(e->named, cap * sizeof(*e->named))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		e->named = p;
		e->capnamed = cap;
	}
	memset(&e->named[e->nnamed], 0, sizeof(e->named[e->nnamed]));
	snprintf(e->named[e->nnamed++].digest, DIGEST_STR_MAX, "%s", digest);
	return BARGE_OK;
}

static int
ev_garbage_add(struct evict *e, const char *digest, int64_t size, struct barge_err *err)
{
	void *p;
	size_t cap;

	if (e->ngarbage == e->capgarbage) {
		cap = e->capgarbage ? e->capgarbage * 2 : 256;
		if (cap > EVICT_DIGESTS_MAX)
			return err_set(err, BARGE_ELIMIT, "eviction: more than %d blobs in a batch",
			               EVICT_DIGESTS_MAX);
		if ((p = realloc(e->garbage, cap * sizeof(*e->garbage))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		e->garbage = p;
		e->capgarbage = cap;
	}
	snprintf(e->garbage[e->ngarbage].digest, DIGEST_STR_MAX, "%s", digest);
	e->garbage[e->ngarbage++].size = size;
	return BARGE_OK;
}

/* Whether a row names digest (GC's rule): 1, 0, or a negative error. */
static int
ev_live(struct store *s, struct evict *e, const char *digest, struct barge_err *err)
{
	int rc, step;

	if ((rc = bind_text(s, e->live, 1, digest, err)) != BARGE_OK)
		return rc;
	step = sqlite3_step(e->live);
	stmt_done(e->live);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return db_fail(s, err, "look up blob");
	return step == SQLITE_ROW;
}

static int
ev_sum(struct store *s, const char *path, const char *digest, const struct stat *st, void *arg,
       struct barge_err *err)
{
	(void)s;
	(void)path;
	(void)err;
	if (digest != NULL)
		*(int64_t *)arg += (int64_t)st->st_size;
	return BARGE_OK;
}

/* Runs sql with ?1 = repo_id and ?2 = digest. */
static int
ev_run(struct store *s, const char *sql, int64_t repo_id, const char *digest, const char *what,
       struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, repo_id, err)) == BARGE_OK &&
	    (rc = bind_text(s, st, 2, digest, err)) == BARGE_OK)
		rc = stmt_run(s, st, what, err);
	sqlite3_finalize(st);
	return rc;
}

/* Removes the rows of manifest repo_id@digest and its proxied tags. */
static int
ev_drop_manifest(struct store *s, struct evict *e, int64_t repo_id, const char *digest,
                 struct barge_err *err)
{
	int rc;

	if ((rc = ev_run(s, "DELETE FROM tags WHERE repo_id = ?1 AND digest = ?2 AND origin = 3",
	                 repo_id, digest, "remove proxied tags", err)) != BARGE_OK ||
	    (rc = ev_run(s, "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2", repo_id,
	                 digest, "remove proxied manifest", err)) != BARGE_OK)
		return rc;
	e->st->manifests++;
	return ev_named_add(e, digest, err);
}

/* A victim and, for an index, its platform manifests that no one else holds. */
static int
ev_drop_victim(struct store *s, struct evict *e, const struct ev_victim *v, struct barge_err *err)
{
	char(*plats)[DIGEST_STR_MAX] = NULL;
	const char *d;
	size_t n = 0, i;
	void *p;
	int rc = BARGE_OK, step;

	if (v->index) {
		if ((rc = bind_int(s, e->platforms, 1, v->repo_id, err)) != BARGE_OK ||
		    (rc = bind_text(s, e->platforms, 2, v->digest, err)) != BARGE_OK)
			goto out;
		while ((step = sqlite3_step(e->platforms)) == SQLITE_ROW) {
			if ((rc = col_text(e->platforms, 0, &d, err)) != BARGE_OK)
				goto out;
			if (n >= EVICT_DIGESTS_MAX ||
			    (p = realloc(plats, (n + 1) * sizeof(*plats))) == NULL) {
				rc = err_set(err, BARGE_ENOMEM, "out of memory");
				goto out;
			}
			plats = p;
			snprintf(plats[n++], DIGEST_STR_MAX, "%s", d);
		}
		if (step != SQLITE_DONE) {
			rc = db_fail(s, err, "list platform manifests");
			goto out;
		}
		stmt_done(e->platforms);
	}
	if ((rc = ev_drop_manifest(s, e, v->repo_id, v->digest, err)) != BARGE_OK)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = ev_drop_manifest(s, e, v->repo_id, plats[i], err)) != BARGE_OK)
			goto out;
out:
	stmt_done(e->platforms);
	free(plats);
	return rc;
}

/*
 * After a victim's manifest rows went: the references of every digest no
 * manifest row names any more go too (their children join the list, so an
 * index's platforms and their layers follow), and every listed digest that
 * nothing names any more is garbage, its bytes no longer counted.  Runs
 * after each victim over the whole batch's list: a layer an earlier victim
 * shared with a later one is garbage once both are gone.
 */
static int
ev_release(struct store *s, struct evict *e, struct barge_err *err)
{
	sqlite3_stmt *has = NULL, *del = NULL;
	struct ev_named *nd;
	const char *d;
	int64_t size;
	size_t i;
	int rc, step, live;

	if ((rc = db_prepare(s, "SELECT 1 FROM manifests WHERE digest = ?1", &has, err)) !=
	            BARGE_OK ||
	    (rc = db_prepare(s, "DELETE FROM refs WHERE parent = ?1", &del, err)) != BARGE_OK)
		goto out;
	for (i = 0; i < e->nnamed; i++) {
		if (e->named[i].released)
			continue;
		if ((rc = bind_text(s, has, 1, e->named[i].digest, err)) != BARGE_OK)
			goto out;
		rc = stmt_row(s, has, "look up manifest", err);
		stmt_done(has);
		if (rc == BARGE_OK)
			continue; /* another repository holds it: its references stay */
		if (rc != BARGE_ENOTFOUND ||
		    (rc = bind_text(s, e->kids, 1, e->named[i].digest, err)) != BARGE_OK)
			goto out;
		rc = BARGE_OK;
		while (rc == BARGE_OK && (step = sqlite3_step(e->kids)) == SQLITE_ROW)
			if ((rc = col_text(e->kids, 0, &d, err)) == BARGE_OK)
				rc = ev_named_add(e, d, err);
		stmt_done(e->kids);
		if (rc != BARGE_OK)
			goto out;
		if (step != SQLITE_DONE) {
			rc = db_fail(s, err, "list references");
			goto out;
		}
		/* ev_named_add may have moved the list. */
		nd = &e->named[i];
		if ((rc = bind_text(s, del, 1, nd->digest, err)) != BARGE_OK ||
		    (rc = stmt_run(s, del, "remove references", err)) != BARGE_OK)
			goto out;
		nd->released = 1;
	}
	for (i = 0; i < e->nnamed; i++) {
		nd = &e->named[i];
		if (nd->garbage)
			continue;
		if ((live = ev_live(s, e, nd->digest, err)) < 0) {
			rc = live;
			goto out;
		}
		if (live || (size = blob_size(s, nd->digest)) < 0)
			continue;
		if ((rc = ev_garbage_add(e, nd->digest, size, err)) != BARGE_OK)
			goto out;
		nd->garbage = 1;
		e->total -= size;
	}
out:
	sqlite3_finalize(has);
	sqlite3_finalize(del);
	return rc;
}

/* Reads up to EVICT_VICTIMS candidates, least recently pulled first. */
static int
ev_candidates(struct store *s, struct evict *e, struct barge_err *err)
{
	const char *d, *mt;
	struct ev_victim *v;
	int rc = BARGE_OK, step;

	e->nvictims = 0;
	if ((rc = bind_int(s, e->cands, 1, EVICT_VICTIMS, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(e->cands)) == SQLITE_ROW) {
		if ((rc = col_text(e->cands, 1, &d, err)) != BARGE_OK ||
		    (rc = col_text(e->cands, 2, &mt, err)) != BARGE_OK)
			break;
		v = &e->victims[e->nvictims++];
		v->repo_id = sqlite3_column_int64(e->cands, 0);
		snprintf(v->digest, sizeof(v->digest), "%s", d);
		v->index = strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
		           strcmp(mt,
		                  "application/vnd.docker.distribution.manifest.list.v2+json") == 0;
	}
	stmt_done(e->cands);
	if (rc == BARGE_OK && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = db_fail(s, err, "list evictable manifests");
	return rc;
}

/*
 * One write transaction: victims in order until the bytes are under the
 * limit or the batch is full.  *n: victims taken (0: nothing evictable).
 */
static int
ev_batch_rows(struct store *s, struct evict *e, size_t *n, struct barge_err *err)
{
	size_t i;
	int rc;

	*n = 0;
	e->nnamed = 0;
	e->ngarbage = 0;
	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = ev_candidates(s, e, err)) != BARGE_OK)
		goto fail;
	for (i = 0; i < e->nvictims && e->total - e->deferred > e->max; i++) {
		if ((rc = ev_drop_victim(s, e, &e->victims[i], err)) != BARGE_OK ||
		    (rc = ev_release(s, e, err)) != BARGE_OK)
			goto fail;
		(*n)++;
		if (e->ngarbage >= EVICT_BLOBS)
			break;
	}
	return store_commit(s, err);
fail:
	store_rollback(s);
	return rc;
}

/*
 * Removes the batch's garbage files, EVICT_BLOBS per hold of the GC lock,
 * each checked again under it: a proxy fetch or load that named one since
 * the commit has committed by then (writers hold the lock shared until
 * their commit), and keeps it.
 */
static int
ev_unlink(struct store *s, struct evict *e, struct barge_err *err)
{
	struct ev_blob *b;
	char *path = NULL;
	size_t i, j;
	int began = 0, live, rc = BARGE_OK;

	if (e->ngarbage == 0)
		return BARGE_OK;
	/* Readers that saw the rows must be done before their files go (docs/store.md). */
	if (!db_wait_readers(s)) {
		for (i = 0; i < e->ngarbage; i++)
			e->deferred += e->garbage[i].size;
		return BARGE_OK;
	}
	for (i = 0; i < e->ngarbage && rc == BARGE_OK; i += EVICT_BLOBS) {
		if ((rc = store_lock_exclusive(s, EVICT_LOCK_WAIT_MS, err)) != BARGE_OK)
			break;
		if ((rc = db_snap_begin(s, &began, err)) != BARGE_OK) {
			store_unlock(s);
			break;
		}
		for (j = i; j < e->ngarbage && j < i + EVICT_BLOBS && rc == BARGE_OK; j++) {
			b = &e->garbage[j];
			if ((live = ev_live(s, e, b->digest, err)) < 0) {
				rc = live;
				break;
			}
			if (live) {
				e->total += b->size;
				continue;
			}
			if ((rc = blob_path(s, b->digest, &path, err)) != BARGE_OK)
				break;
			if (unlink(path) != 0 && errno != ENOENT)
				rc = err_sys(err, BARGE_EIO, errno, "remove %s", path);
			free(path);
			path = NULL;
			if (rc != BARGE_OK)
				break;
			e->st->blobs++;
			e->st->bytes += b->size;
		}
		db_snap_end(s, began);
		store_unlock(s);
	}
	return rc;
}

int
store_proxy_evict(struct store *s, int64_t max_size, struct store_evict_stats *st,
                  struct barge_err *err)
{
	struct store_evict_stats res = { 0 };
	struct evict e;
	size_t n;
	int links = 0, rc;

	memset(&e, 0, sizeof(e));
	e.st = &res;
	e.max = max_size;
	/* This process's pulls count before choosing; other processes' flush on their own. */
	proxy_touch_flush(s, 1);
	if ((rc = blob_walk(s, ev_sum, &e.total, err)) != BARGE_OK)
		goto out;
	if (e.total <= max_size)
		goto done;
	if ((rc = db_has_table(s, "repo_blobs", &links, err)) != BARGE_OK ||
	    (rc = db_prepare(s, cands_sql, &e.cands, err)) != BARGE_OK ||
	    (rc = db_prepare(s, platforms_sql, &e.platforms, err)) != BARGE_OK ||
	    (rc = db_prepare(s, links ? live_sql : live_nolinks_sql, &e.live, err)) != BARGE_OK ||
	    (rc = db_prepare(s, "SELECT child FROM refs WHERE parent = ?1", &e.kids, err)) !=
	            BARGE_OK)
		goto out;
	while (e.total - e.deferred > max_size) {
		if ((rc = ev_batch_rows(s, &e, &n, err)) != BARGE_OK ||
		    (rc = ev_unlink(s, &e, err)) != BARGE_OK)
			goto out;
		if (n == 0)
			break;
	}
	/* Brief: no writer may be between a shard's mkdir and its rename. */
	if (res.blobs > 0 && store_lock_exclusive(s, EVICT_LOCK_WAIT_MS, err) == BARGE_OK) {
		blob_prune_shards(s);
		store_unlock(s);
	}
done:
	res.store_bytes = e.total;
	if (st != NULL)
		*st = res;
out:
	sqlite3_finalize(e.cands);
	sqlite3_finalize(e.platforms);
	sqlite3_finalize(e.live);
	sqlite3_finalize(e.kids);
	free(e.named);
	free(e.garbage);
	return rc;
}
