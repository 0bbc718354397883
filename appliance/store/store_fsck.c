/*
 * store_fsck: the store's consistency check and repair (store.h:
 * store_fsck).  After the walk that re-hashes every blob file
 * (store_fsck_hash.c), checks every manifest row against its blob and the
 * rows it implies, then the rows that point elsewhere.  --repair removes
 * broken rows in one transaction and only then the files, under the
 * exclusive GC lock, as GC does (store_gc.c).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "store_fsck_int.h"

/* The blob's size, -1 if it has no file; from the walk when it saw the blob. */
static int64_t
fsck_key_size(struct store *s, const struct fsck *f, const struct dkey *key, const char *digest)
{
	size_t i = dkidx_find(&f->seenx, key);

	return i != SIZE_MAX ? f->seen[i].size : blob_size(s, digest);
}

static int64_t
fsck_blob_size(struct store *s, const struct fsck *f, const char *digest)
{
	struct dkey key;

	if (dkey_pack(digest, &key) != 0)
		return blob_size(s, digest);
	return fsck_key_size(s, f, &key, digest);
}

void
fsck_problem(struct fsck *f, const char *subject, const char *fmt, ...)
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

int
fsck_doomed_file(struct fsck *f, const char *path, struct barge_err *err)
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

/* Whether q, a probe of two parameters (refs: parent, child), finds a row. */
static int
has_row(struct store *s, sqlite3_stmt *q, const char *a, const char *b, int *yes, const char *what,
        struct barge_err *err)
{
	int rc, step;

	if ((rc = bind_text(s, q, 1, a, err)) != BARGE_OK ||
	    (rc = bind_text(s, q, 2, b, err)) != BARGE_OK) {
		stmt_done(q);
		return rc;
	}
	step = sqlite3_step(q);
	stmt_done(q);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return db_fail(s, err, what);
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

/*
 * The row's blob as fsck_manifest checks it (*out): the hashing pass's when
 * it parsed it with the row's media type and size, else read and parsed now
 * into tmp, its children at the end of f->kids.  *out is NULL when a
 * problem was reported instead.
 */
static int
row_blob(struct store *s, struct fsck *f, const char *subject, const char *digest, const char *mt,
         int64_t recorded, struct mblob *tmp, const struct mblob **out, struct barge_err *err)
{
	struct barge_err merr = { 0 };
	struct manifest *m = NULL;
	struct mblob *mb = NULL;
	struct dkey key;
	char *buf = NULL;
	int64_t size;
	int rc;

	*out = NULL;
	if (dkey_pack(digest, &key) == 0)
		mb = fsck_mblob_find(f, &key);
	if (mb != NULL && mb->state != MB_UNSEEN && mb->size == recorded &&
	    strcmp(f->mts[mb->mt], mt) == 0) {
		if (mb->state == MB_BAD)
			fsck_problem(f, subject, "does not parse as a manifest: %s", mb->perr);
		else
			*out = mb;
		return BARGE_OK;
	}
	rc = read_blob_small(s, digest, &buf, &size, &merr);
	if (rc == BARGE_ENOMEM) {
		*err = merr;
		return rc;
	}
	if (rc == BARGE_ENOTFOUND)
		fsck_problem(f, subject, "its manifest blob is missing");
	else if (rc != BARGE_OK)
		fsck_problem(f, subject, "manifest blob: %s", merr.msg);
	else if (size != recorded)
		fsck_problem(f, subject, "manifest blob is %" PRId64 " bytes, recorded as %" PRId64,
		             size, recorded);
	else if (manifest_parse(buf, (size_t)size, mt[0] != '\0' ? mt : NULL, &m, &merr) !=
	         BARGE_OK)
		fsck_problem(f, subject, "does not parse as a manifest: %s", merr.msg);
	rc = BARGE_OK;
	if (m != NULL) {
		memset(tmp, 0, sizeof(*tmp));
		if ((rc = fsck_kids_of(f, m, tmp, err)) == BARGE_OK)
			*out = tmp;
	}
	manifest_free(m);
	free(buf);
	return rc;
}

/* Checks one manifest row against its blob and the rows it implies. */
static int
fsck_manifest(struct store *s, struct fsck *f, sqlite3_stmt *refq, sqlite3_stmt *childq,
              const char *repo, const char *digest, const char *mt, int64_t recorded,
              struct barge_err *err)
{
	char subject[1024], kd[DIGEST_STR_MAX];
	const struct mblob *mb;
	const struct kid *k;
	struct mblob tmp;
	size_t first = f->nkids, i;
	int64_t have;
	int rc, yes = 0, broken = 0;

	snprintf(subject, sizeof(subject), "%s@%s", repo, digest);
	f->st->manifests++;
	if (dset_has(&f->corrupt, digest)) {
		fsck_problem(f, subject, "its manifest blob is corrupt");
		return BARGE_OK;
	}
	if ((rc = row_blob(s, f, subject, digest, mt, recorded, &tmp, &mb, err)) != BARGE_OK)
		return rc;
	if (mb == NULL)
		return dset_add(&f->bad, digest, err);
	for (i = 0; i < mb->nkids && rc == BARGE_OK; i++) {
		k = &f->kids[mb->kid + i];
		/* The common case, a sound image whose reference the refs pass marked. */
		if (mb != &tmp && mb->kind == MANIFEST_IMAGE &&
		    (k->flags & (KID_SUBJECT | KID_FOREIGN | KID_REF)) == KID_REF &&
		    (k->have < 0 || k->have == k->size))
			continue;
		dkey_str(&k->key, kd);
		/* A referrer may come before its subject (OCI 1.1): its reference may dangle. */
		if (k->flags & (KID_SUBJECT | KID_FOREIGN)) {
			rc = dset_add(&f->absent, kd, err);
			continue;
		}
		/* fsck_refs_scan marked the hashing pass's; a blob read now is probed. */
		if (mb != &tmp)
			yes = (k->flags & KID_REF) != 0;
		else if ((rc = has_row(s, refq, digest, kd, &yes, "look up reference", err)) !=
		         BARGE_OK)
			break;
		if (mb->kind == MANIFEST_INDEX) {
			/* A sparse index lists platforms the store never got: no ref, fine. */
			if (!yes ||
			    (rc = has_row(s, childq, repo, kd, &yes, "look up manifest", err)) !=
			            BARGE_OK ||
			    yes)
				continue;
			fsck_problem(f, subject, "index child %s is not a manifest of %s", kd,
			             repo);
			broken = 1;
			continue;
		}
		if (!yes) {
			fsck_problem(f, subject, "%s %s is not recorded as its reference",
			             k->flags & KID_CONFIG ? "config" : "layer", kd);
			broken = 1;
			continue;
		}
		/* A missing file is the refs check's to report; here only its size. */
		have = mb != &tmp ? k->have : fsck_key_size(s, f, &k->key, kd);
		if (have >= 0 && have != k->size) {
			fsck_problem(f, subject,
			             "%s %s is %" PRId64 " bytes, the manifest says %" PRId64,
			             k->flags & KID_CONFIG ? "config" : "layer", kd, have, k->size);
			broken = 1;
		}
	}
	f->nkids = first;
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
			fsck_problem(f, digest, "manifest row of a missing %s", repo + 1);
			rc = dset_add(&f->bad, digest, err);
		} else {
			rc = fsck_manifest(s, f, refq, childq, repo, digest, mt,
			                   sqlite3_column_int64(st, 3), err);
		}
		if (rc != BARGE_OK)
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

/* Marks the children of mb (refs: mb -> child) that child is, with the size of its file. */
static void
mark_ref(struct fsck *f, const struct mblob *mb, const struct dkey *child, int64_t have)
{
	struct kid *k;
	uint32_t i;

	for (i = 0; i < mb->nkids; i++) {
		k = &f->kids[mb->kid + i];
		if (memcmp(&k->key, child, sizeof(*child)) == 0) {
			k->flags |= KID_REF;
			k->have = have;
		}
	}
}

/*
 * Whether a row of the manifest digest is not proxied (*yes): a proxied
 * manifest's children are fetched when first pulled, so only such a row
 * makes a missing child a problem.
 */
static int
fsck_unproxied(struct store *s, sqlite3_stmt **q, const char *digest, int *yes,
               struct barge_err *err)
{
	int rc;

	if (*q == NULL &&
	    (rc = db_prepare(s,
	                     "SELECT 1 FROM manifests m WHERE m.digest = ?1 AND NOT EXISTS"
	                     " (SELECT 1 FROM proxy_manifests p WHERE p.repo_id = m.repo_id"
	                     " AND p.digest = m.digest)",
	                     q, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_text(s, *q, 1, digest, err)) != BARGE_OK)
		return rc;
	rc = stmt_row(s, *q, "look up proxied manifest", err);
	stmt_done(*q);
	*yes = rc == BARGE_OK;
	return rc == BARGE_ENOTFOUND ? BARGE_OK : rc;
}

/*
 * One ordered pass over the references of manifests, before the manifest
 * checks: marks which children of the hashing pass's manifests refs
 * records (issue #18: a probe of refs per descriptor was a tenth of fsck),
 * and keeps those whose blob is missing for fsck_refs.  Whether the parent
 * has a row that is not proxied is asked only of a missing child, which
 * also passes over the references of a digest no row has (issue #18: that
 * filter and that question asked of every row in the query were nine tenths
 * of the pass).
 */
static int
fsck_refs_scan(struct store *s, struct fsck *f, struct barge_err *err)
{
	char last[DIGEST_STR_MAX] = "";
	const char *parent, *child;
	struct mblob *mb = NULL;
	sqlite3_stmt *st = NULL, *liveq = NULL;
	struct dkey ck, pk;
	int64_t have;
	int rc, step, packed, live = -1;

	if ((rc = db_prepare(s, "SELECT parent, child FROM refs ORDER BY parent, child", &st,
	                     err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &parent, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &child, err)) != BARGE_OK)
			goto out;
		/* Rows come by parent: its manifest is looked up once. */
		if (strcmp(parent, last) != 0) {
			snprintf(last, sizeof(last), "%s", parent);
			mb = dkey_pack(parent, &pk) == 0 ? fsck_mblob_find(f, &pk) : NULL;
			live = -1;
		}
		packed = dkey_pack(child, &ck) == 0;
		have = packed ? fsck_key_size(s, f, &ck, child) : blob_size(s, child);
		if (packed && mb != NULL && mb->state == MB_PARSED)
			mark_ref(f, mb, &ck, have);
		if (have >= 0)
			continue;
		if (live < 0 && (rc = fsck_unproxied(s, &liveq, parent, &live, err)) != BARGE_OK)
			goto out;
		if (live && ((rc = dset_add(&f->dangp, parent, err)) != BARGE_OK ||
		             (rc = dset_add(&f->dangc, child, err)) != BARGE_OK))
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list references");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(liveq);
	return rc;
}

/* Every reference of a manifest names a stored blob, or one a manifest may lack. */
static int
fsck_refs(struct fsck *f, struct barge_err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < f->dangc.n; i++) {
		if (dset_has(&f->absent, f->dangc.d[i]))
			continue;
		fsck_problem(f, f->dangp.d[i], "references %s, which is missing", f->dangc.d[i]);
		if ((rc = dset_add(&f->bad, f->dangc.d[i], err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/* Every blob pushed to a repository (repo_blobs, when the push side made it) is stored. */
static int
fsck_links(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *repo, *digest;
	sqlite3_stmt *st = NULL;
	char subject[1024];
	int rc, step, yes;

	if ((rc = db_has_table(s, "repo_blobs", &yes, err)) != BARGE_OK || !yes)
		return rc;
	if ((rc = db_prepare(s, "SELECT repo, digest FROM repo_blobs ORDER BY repo, digest", &st,
	                     err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &repo, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &digest, err)) != BARGE_OK)
			goto out;
		if (fsck_blob_size(s, f, digest) >= 0)
			continue;
		snprintf(subject, sizeof(subject), "%s@%s", repo, digest);
		fsck_problem(f, subject, "pushed blob is missing");
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
		fsck_problem(f, subject, "%s", what);
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "check rows");
out:
	sqlite3_finalize(st);
	return rc;
}

/* quick_check answers at most this many lines (its default limit). */
#define QC_MAX 100

/*
 * PRAGMA quick_check, which needs nothing of the walk, runs on its own
 * read-only connection and thread while the walk hashes (issue #18: it
 * came after the walk, a third of a second with a core idle).  The
 * connection reads with a small page cache, so that it adds little to
 * fsck's memory: quick_check reads every page once, in order.
 */
struct fsck_qc {
	struct store rd;  /* the read-only connection; rd.db is NULL when there is none */
	struct store *db; /* &rd, or the store's own (then after the walk) */
	pthread_t th;
	int started;      /* th runs qc_run */
	int ran;          /* qc_run has run */
	char *qc[QC_MAX]; /* quick_check's lines other than "ok", reported after the walk's */
	size_t nqc;
	int rc;
	struct barge_err err;
};

static void
qc_run(struct fsck_qc *p)
{
	const char *v;
	sqlite3_stmt *st = NULL;
	int rc, step;

	p->ran = 1;
	if ((rc = db_prepare(p->db, "PRAGMA quick_check", &st, &p->err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &v, &p->err)) != BARGE_OK)
			goto out;
		if (strcmp(v, "ok") == 0 || p->nqc == QC_MAX)
			continue;
		if ((p->qc[p->nqc] = strdup(v)) == NULL) {
			rc = err_set(&p->err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
		p->nqc++;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(p->db, &p->err, "quick_check");
out:
	sqlite3_finalize(st);
	p->rc = rc;
}

static void *
qc_main(void *arg)
{
	qc_run(arg);
	return NULL;
}

/* Starts quick_check on its own connection and thread, when it can have them. */
static void
qc_start(struct store *s, struct fsck_qc *p)
{
	struct barge_err err = { 0 };

	memset(p, 0, sizeof(*p));
	p->db = s;
	/* A transaction open on s may hold what another connection can not see yet: then on s. */
	if (!sqlite3_get_autocommit(s->db) || db_open_reader(s, &p->rd, &err) != BARGE_OK)
		return;
	p->db = &p->rd;
	/* 64 pages of 4 KiB; no page is read twice. */
	(void)sqlite3_exec(p->rd.db, "PRAGMA cache_size = 64", NULL, NULL, NULL);
	if ((p->started = pthread_create(&p->th, NULL, qc_main, p) == 0))
		return;
	/* Without a thread it runs after the walk, on s. */
	db_close_reader(&p->rd);
	p->db = s;
}

/* Waits for the thread and closes the connection; accepts one never started. */
static void
qc_stop(struct fsck_qc *p)
{
	if (p->started)
		pthread_join(p->th, NULL);
	p->started = 0;
	if (p->rd.db != NULL)
		db_close_reader(&p->rd);
}

/* Joins quick_check (or runs it here on the store's connection) and reports what it said. */
static int
qc_join(struct fsck *f, struct fsck_qc *p, struct barge_err *err)
{
	size_t i;

	qc_stop(p);
	if (!p->ran)
		qc_run(p);
	if (p->rc != BARGE_OK) {
		*err = p->err;
		return p->rc;
	}
	for (i = 0; i < p->nqc; i++) {
		fsck_problem(f, "barge.db", "%s", p->qc[i]);
		f->st->unrepaired++;
	}
	return BARGE_OK;
}

static void
qc_free(struct fsck_qc *p)
{
	size_t i;

	qc_stop(p);
	for (i = 0; i < p->nqc; i++)
		free(p->qc[i]);
	p->nqc = 0;
}

/* The checks of the rows, in one snapshot, once the walk is done. */
static int
fsck_db(struct store *s, struct fsck *f, struct barge_err *err)
{
	int rc;

	if ((rc = fsck_refs_scan(s, f, err)) != BARGE_OK ||
	    (rc = fsck_manifests(s, f, err)) != BARGE_OK)
		return rc;
	dset_sort(&f->absent);
	if ((rc = fsck_refs(f, err)) != BARGE_OK || (rc = fsck_links(s, f, err)) != BARGE_OK)
		return rc;
	if ((rc = fsck_rows(s, f,
	                    "SELECT coalesce(r.name, '?') || ':' || t.name,"
	                    " 'points at ' || t.digest || ', which its repository does not hold'"
	                    " FROM tags t LEFT JOIN repositories r ON r.id = t.repo_id"
	                    " WHERE NOT EXISTS (SELECT 1 FROM manifests m"
	                    "   WHERE m.repo_id = t.repo_id AND m.digest = t.digest)",
	                    err)) != BARGE_OK)
		return rc;
	if ((rc = fsck_rows(s, f,
	                    "SELECT 'bundle ' || bi.bundle_id,"
	                    " CASE WHEN b.id IS NULL THEN 'pins images but is not recorded'"
	                    " ELSE 'pins ' || coalesce(r.name, '?') || '@' || bi.digest ||"
	                    "  ', which its repository does not hold' END"
	                    " FROM bundle_images bi LEFT JOIN bundles b ON b.id = bi.bundle_id"
	                    " LEFT JOIN repositories r ON r.id = bi.repo_id"
	                    " WHERE b.id IS NULL OR NOT EXISTS (SELECT 1 FROM manifests m"
	                    "   WHERE m.repo_id = bi.repo_id AND m.digest = bi.digest)",
	                    err)) != BARGE_OK)
		return rc;
	/* The foreign key cascades; only a write with foreign keys off leaves one behind. */
	return fsck_rows(s, f,
	                 "SELECT coalesce(r.name, '?') || '@' || p.digest,"
	                 " 'is marked proxied from ' || p.registry || ', but its repository does"
	                 " not hold it'"
	                 " FROM proxy_manifests p LEFT JOIN repositories r ON r.id = p.repo_id"
	                 " WHERE NOT EXISTS (SELECT 1 FROM manifests m"
	                 "   WHERE m.repo_id = p.repo_id AND m.digest = p.digest)",
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
	if ((rc = db_has_table(s, "repo_blobs", &links, err)) != BARGE_OK)
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
		if ((rc = db_run_int(s, grow_sql, 0, &n, "mark broken parents", err)) != BARGE_OK)
			goto fail;
		if (n == 0)
			break;
	}
	if ((rc = db_run_int(s,
	                     "DELETE FROM tags WHERE digest IN (SELECT digest FROM temp.fsck_bad)"
	                     " OR NOT EXISTS (SELECT 1 FROM manifests m"
	                     "   WHERE m.repo_id = tags.repo_id AND m.digest = tags.digest)",
	                     0, &f->st->removed_tags, "remove tags", err)) != BARGE_OK ||
	    (rc = db_run_int(s,
	                     "DELETE FROM bundle_images"
	                     " WHERE digest IN (SELECT digest FROM temp.fsck_bad)"
	                     " OR bundle_id NOT IN (SELECT id FROM bundles)"
	                     " OR NOT EXISTS (SELECT 1 FROM manifests m"
	                     "   WHERE m.repo_id = bundle_images.repo_id"
	                     "   AND m.digest = bundle_images.digest)",
	                     0, &f->st->removed_pins, "remove pins", err)) != BARGE_OK ||
	    (links && (rc = db_run_int(s,
	                               "DELETE FROM repo_blobs"
	                               " WHERE digest IN (SELECT digest FROM temp.fsck_bad)",
	                               0, NULL, "remove pushed blobs", err)) != BARGE_OK) ||
	    (rc = db_run_int(s,
	                     "DELETE FROM refs WHERE parent IN (SELECT digest FROM temp.fsck_bad)",
	                     0, NULL, "remove references", err)) != BARGE_OK ||
	    (rc = db_run_int(
	             s, "DELETE FROM manifests WHERE digest IN (SELECT digest FROM temp.fsck_bad)",
	             0, &f->st->removed_manifests, "remove manifests", err)) != BARGE_OK ||
	    (rc = db_run_int(s,
	                     "DELETE FROM proxy_manifests WHERE NOT EXISTS (SELECT 1 FROM"
	                     " manifests m WHERE m.repo_id = proxy_manifests.repo_id"
	                     " AND m.digest = proxy_manifests.digest)",
	                     0, NULL, "remove proxy marks", err)) != BARGE_OK ||
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
	struct fsck_qc qc;
	struct fsck f;
	size_t i;
	int began = 0, rc;

	memset(&qc, 0, sizeof(qc));
	memset(&f, 0, sizeof(f));
	f.o = o;
	f.st = &res;
	/* Shared keeps GC from removing files under our feet; loads may go on. */
	rc = o->repair ? store_lock_exclusive(s, o->lock_wait_ms, err) : store_lock_shared(s, err);
	if (rc != BARGE_OK)
		goto out;
	qc_start(s, &qc);
	if ((rc = fsck_blobs(s, &f, err)) != BARGE_OK)
		goto out;
	dset_sort(&f.corrupt);
	if ((rc = dkidx_init(&f.seenx, f.seen, sizeof(*f.seen), f.nseen, err)) != BARGE_OK)
		goto out;
	for (i = 0; i < f.nseen; i++)
		(void)dkidx_put(&f.seenx, i);
	if ((rc = qc_join(&f, &qc, err)) != BARGE_OK ||
	    (rc = db_snap_begin(s, &began, err)) != BARGE_OK)
		goto out;
	rc = fsck_db(s, &f, err);
	db_snap_end(s, began);
	if (rc != BARGE_OK || !o->repair || res.problems == res.unrepaired)
		goto out;
	if ((rc = fsck_repair_rows(s, &f, err)) != BARGE_OK)
		goto out;
	/* Corrupt files are removed whether or not old readers are gone: nobody can use them. */
	(void)db_wait_readers(s);
	for (i = 0; i < f.nfiles; i++) {
		if (unlink(f.files[i]) != 0 && errno != ENOENT) {
			rc = err_sys(err, BARGE_EIO, errno, "remove %s", f.files[i]);
			goto out;
		}
		res.removed_files++;
	}
out:
	qc_free(&qc);
	store_unlock(s);
	for (i = 0; i < f.nfiles; i++)
		free(f.files[i]);
	free(f.files);
	free(f.seen);
	for (i = 0; i < f.nmb; i++)
		free(f.mb[i].perr);
	free(f.mb);
	dkidx_free(&f.mbx);
	dkidx_free(&f.seenx);
	dset_free(&f.dangp);
	dset_free(&f.dangc);
	for (i = 0; i < f.nmts; i++)
		free(f.mts[i]);
	free(f.kids);
	dset_free(&f.corrupt);
	dset_free(&f.bad);
	dset_free(&f.absent);
	if (rc == BARGE_OK && st != NULL)
		*st = res;
	return rc;
}
