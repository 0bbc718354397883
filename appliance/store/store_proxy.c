/*
 * store_proxy: the rows of the pull-through cache (store_proxy.h): proxy
 * marks on manifests, proxied tags, tag origins, and the process-wide
 * buffer of last-pulled times (store_proxy_touch) with its writer.
 * Eviction is store_evict.c's.
 */
#include "store_proxy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref.h"
#include "store_int.h"

/* A registry name is a host[:port]; longer is not one. */
#define REGISTRY_MAX 255

/*
 * Touches wait in memory until about a second has passed (or the buffer
 * is full), so that a pull costs a mutex and a short scan, never a write.
 * Full and unwritable: a new touch is dropped (eviction is then a little
 * less exact, nothing else).
 */
#define TOUCH_MAX      1024
#define TOUCH_EVERY_MS 1000

struct touch {
	char *dir; /* the store's directory: one process may open several stores */
	char *repo;
	char digest[DIGEST_STR_MAX];
	int64_t at; /* proxy_clock_ms */
};

static pthread_mutex_t touch_mu = PTHREAD_MUTEX_INITIALIZER;
static struct touch touches[TOUCH_MAX];
static size_t ntouches;
static int64_t touch_flushed_ms; /* when a handle last took the buffer */
static int64_t clock_last_ms;

const char *
store_origin_name(enum store_origin o)
{
	switch (o) {
	case STORE_ORIGIN_BUNDLE:
		return "bundle";
	case STORE_ORIGIN_PUSH:
		return "push";
	case STORE_ORIGIN_PROXY:
		return "proxy";
	default:
		return "none";
	}
}

enum store_origin
origin_of(sqlite3_stmt *st, int col, int pinned)
{
	int64_t v;

	/* Set before schema 3: the rule store_load_tag has always used. */
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return pinned ? STORE_ORIGIN_BUNDLE : STORE_ORIGIN_PUSH;
	v = sqlite3_column_int64(st, col);
	if (v == STORE_ORIGIN_BUNDLE || v == STORE_ORIGIN_PROXY)
		return (enum store_origin)v;
	return STORE_ORIGIN_PUSH;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Milliseconds since the epoch, strictly increasing within the process, so
 * that two pulls in one millisecond still have an order.  Caller holds touch_mu.
 */
static int64_t
clock_locked(void)
{
	int64_t now = wall_ms();

	clock_last_ms = now > clock_last_ms ? now : clock_last_ms + 1;
	return clock_last_ms;
}

static int
run_text(struct store *s, const char *sql, const char *a, const char *b, const char *c, int64_t d,
         const char *what, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, a, err)) == BARGE_OK &&
	    (rc = bind_text(s, st, 2, b, err)) == BARGE_OK &&
	    (c == NULL || (rc = bind_text(s, st, 3, c, err)) == BARGE_OK) &&
	    (d < 0 || (rc = bind_int(s, st, 4, d, err)) == BARGE_OK))
		rc = stmt_run(s, st, what, err);
	sqlite3_finalize(st);
	return rc;
}

static int
registry_valid(const char *r)
{
	size_t i, n = strlen(r);

	if (n == 0 || n > REGISTRY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (r[i] <= ' ' || r[i] > '~' || r[i] == '/')
			return 0;
	return 1;
}

int
store_proxy_mark(struct store *s, const char *repo, const char *digest, const char *registry,
                 struct barge_err *err)
{
	/* A manifest fetched again is fetched now, from where it came this time. */
	static const char sql[] =
	        "INSERT INTO proxy_manifests(repo_id, digest, registry, fetched_at, pulled_at)"
	        " SELECT m.repo_id, m.digest, ?3, CAST(strftime('%s','now') AS INTEGER), ?4"
	        " FROM manifests m JOIN repositories r ON r.id = m.repo_id"
	        " WHERE r.name = ?1 AND m.digest = ?2"
	        " ON CONFLICT(repo_id, digest) DO UPDATE SET registry = excluded.registry,"
	        " fetched_at = excluded.fetched_at, pulled_at = max(pulled_at, excluded.pulled_at)";
	int64_t at;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if (!registry_valid(registry))
		return err_set(err, BARGE_EINVAL, "%s@%s: invalid registry name '%s'", repo, digest,
		               registry);
	pthread_mutex_lock(&touch_mu);
	at = clock_locked();
	pthread_mutex_unlock(&touch_mu);
	if ((rc = run_text(s, sql, repo, digest, registry, at, "mark proxied manifest", err)) !=
	    BARGE_OK)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return err_set(err, BARGE_ENOTFOUND, "%s@%s: no such manifest to mark proxied",
		               repo, digest);
	return BARGE_OK;
}

int
store_proxy_tag(struct store *s, const char *repo, const char *tag, const char *digest,
                struct barge_err *err)
{
	int rc;

	s->tag_origin = STORE_ORIGIN_PROXY;
	rc = store_put_tag(s, repo, tag, digest, err);
	s->tag_origin = STORE_ORIGIN_NONE;
	return rc;
}

int
store_tag_origin(struct store *s, const char *repo, const char *tag, enum store_origin *origin,
                 int64_t *fetched_at, struct barge_err *err)
{
	static const char sql[] =
	        "SELECT t.origin, t.fetched_at, EXISTS (SELECT 1 FROM bundle_images bi"
	        "   WHERE bi.repo_id = t.repo_id AND bi.digest = t.digest)"
	        " FROM tags t JOIN repositories r ON r.id = t.repo_id"
	        " WHERE r.name = ?1 AND t.name = ?2";
	sqlite3_stmt *st = NULL;
	int rc;

	*origin = STORE_ORIGIN_NONE;
	*fetched_at = 0;
	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, st, 1, repo, err)) != BARGE_OK ||
	    (rc = bind_text(s, st, 2, tag, err)) != BARGE_OK)
		goto out;
	if ((rc = stmt_row(s, st, "look up tag origin", err)) == BARGE_OK) {
		*origin = origin_of(st, 0, sqlite3_column_int(st, 2));
		if (*origin == STORE_ORIGIN_PROXY)
			*fetched_at = sqlite3_column_int64(st, 1);
	} else if (rc == BARGE_ENOTFOUND) {
		rc = BARGE_OK;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int
store_proxy_revalidated(struct store *s, const char *repo, const char *tag, struct barge_err *err)
{
	int rc;

	if ((rc = run_text(s,
	                   "UPDATE tags SET fetched_at = CAST(strftime('%s','now') AS INTEGER)"
	                   " WHERE origin = 3 AND name = ?2"
	                   " AND repo_id = (SELECT id FROM repositories WHERE name = ?1)",
	                   repo, tag, NULL, -1, "refresh proxied tag", err)) != BARGE_OK)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return err_set(err, BARGE_ENOTFOUND, "%s:%s is not a proxied tag", repo, tag);
	return BARGE_OK;
}

/* --- last-pulled times ------------------------------------------------------ */

/* Adds or raises a touch; takes dir and repo (freed when dropped).  Caller holds touch_mu. */
static void
touch_put_locked(char *dir, char *repo, const char *digest, int64_t at)
{
	struct touch *t;
	size_t i;

	for (i = 0; i < ntouches; i++) {
		t = &touches[i];
		if (strcmp(t->digest, digest) == 0 && strcmp(t->repo, repo) == 0 &&
		    strcmp(t->dir, dir) == 0) {
			if (at > t->at)
				t->at = at;
			free(dir);
			free(repo);
			return;
		}
	}
	if (ntouches == TOUCH_MAX) {
		free(dir);
		free(repo);
		return;
	}
	t = &touches[ntouches++];
	t->dir = dir;
	t->repo = repo;
	snprintf(t->digest, sizeof(t->digest), "%s", digest);
	t->at = at;
}

/* Writes n touches in one transaction; BARGE_OK or why not (busy: try later). */
static int
touch_write(struct store *s, const struct touch *v, size_t n, int wait)
{
	static const char sql[] = "UPDATE proxy_manifests SET pulled_at = max(pulled_at, ?3)"
	                          " WHERE digest = ?2"
	                          " AND repo_id = (SELECT id FROM repositories WHERE name = ?1)";
	struct barge_err err;
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	if (!wait)
		sqlite3_busy_timeout(s->db, 0);
	/* Last-pulled times are a hint: losing the latest to a power cut costs nothing. */
	sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if ((rc = store_begin(s, &err)) != BARGE_OK)
		goto out;
	if ((rc = db_prepare(s, sql, &st, &err)) != BARGE_OK)
		goto out;
	for (i = 0; i < n && rc == BARGE_OK; i++)
		if ((rc = bind_text(s, st, 1, v[i].repo, &err)) == BARGE_OK &&
		    (rc = bind_text(s, st, 2, v[i].digest, &err)) == BARGE_OK &&
		    (rc = bind_int(s, st, 3, v[i].at, &err)) == BARGE_OK)
			rc = stmt_run(s, st, "record pulls", &err);
	sqlite3_finalize(st);
	st = NULL;
	if (rc == BARGE_OK)
		rc = store_commit(s, &err);
out:
	store_rollback(s);
	sqlite3_exec(s->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	return rc;
}

void
proxy_touch_flush(struct store *s, int wait)
{
	struct touch *mine = NULL;
	size_t i, j, n = 0;
	int64_t now;

	if (s == NULL || s->db == NULL || !sqlite3_get_autocommit(s->db))
		return;
	pthread_mutex_lock(&touch_mu);
	now = wall_ms();
	if (ntouches == 0 ||
	    (!wait && ntouches < TOUCH_MAX && now - touch_flushed_ms < TOUCH_EVERY_MS) ||
	    (mine = malloc(ntouches * sizeof(*mine))) == NULL) {
		pthread_mutex_unlock(&touch_mu);
		return;
	}
	touch_flushed_ms = now;
	for (i = 0, j = 0; i < ntouches; i++) {
		if (strcmp(touches[i].dir, s->dir) == 0)
			mine[n++] = touches[i];
		else
			touches[j++] = touches[i];
	}
	ntouches = j;
	pthread_mutex_unlock(&touch_mu);
	if (n > 0 && touch_write(s, mine, n, wait) != BARGE_OK) {
		pthread_mutex_lock(&touch_mu);
		for (i = 0; i < n; i++)
			touch_put_locked(mine[i].dir, mine[i].repo, mine[i].digest, mine[i].at);
		pthread_mutex_unlock(&touch_mu);
		free(mine);
		return;
	}
	for (i = 0; i < n; i++) {
		free(mine[i].dir);
		free(mine[i].repo);
	}
	free(mine);
}

void
store_proxy_touch(struct store *s, const char *repo, const char *digest)
{
	char *dir, *r;

	if (strlen(digest) >= DIGEST_STR_MAX || !ref_valid_repo(repo))
		return;
	/* Allocated outside the lock; a touch that can not be kept is only a lost hint. */
	dir = strdup(s->dir);
	r = strdup(repo);
	if (dir == NULL || r == NULL) {
		free(dir);
		free(r);
		return;
	}
	pthread_mutex_lock(&touch_mu);
	touch_put_locked(dir, r, digest, clock_locked());
	pthread_mutex_unlock(&touch_mu);
	proxy_touch_flush(s, 0);
}
