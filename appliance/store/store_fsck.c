/*
 * store_fsck: the store's consistency check and repair (store.h:
 * store_fsck).  Re-hashes every blob file, reads every manifest row's blob
 * and checks the rows it implies, then the rows that point elsewhere.
 * --repair removes broken rows in one transaction and only then the files,
 * under the exclusive GC lock, as GC does (store_gc.c).
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
#include "manifest.h"
#include "store_int.h"

/*
 * Blob files are hashed FSCK_THREADS at a time, in batches of FSCK_BATCH
 * files (issue #18: one thread left fsck at 13 s for 100,000 tags where
 * parallel sha256sum took a fraction of it).  Results are then reported in
 * walk order, so a run's output does not depend on thread timing.
 */
#define FSCK_THREADS 4
#define FSCK_BATCH   1024

/*
 * A blob file of at most FSCK_SMALL bytes is read whole in one read and
 * hashed from memory; when the store's rows say it is a manifest, its bytes
 * are kept for the manifest checks (up to FSCK_KEEP_TOTAL bytes in all), so
 * that they need not open it again.  Larger ones are streamed as before.
 */
#define FSCK_SMALL      (64 * 1024)
#define FSCK_KEEP_TOTAL (16 * 1024 * 1024)

struct fsck_job {
	char *path;
	char digest[DIGEST_STR_MAX];
	char got[DIGEST_STR_MAX];
	int64_t size; /* as the walk saw it */
	int keep;     /* a manifest's: hand buf back */
	char *buf;    /* the file's bytes, when kept */
	int64_t len;  /* buf's length */
	struct barge_err err;
	int rc;
};

/* A manifest blob's bytes from the hashing pass. */
struct kept_blob {
	char digest[DIGEST_STR_MAX];
	char *buf;
	int64_t len;
};

struct fsck_batch {
	struct fsck_job job[FSCK_BATCH];
	size_t n;
};

/*
 * One manifest row of a batch: its blob read and parsed on the threads
 * (mjob_load), then checked against the rows in order (fsck_manifest).
 */
struct fsck_mjob {
	char *repo;
	char *mt;
	char digest[DIGEST_STR_MAX];
	int64_t recorded; /* the row's size */
	int corrupt;      /* the hashing pass found the blob corrupt: not read */
	int rc;           /* reading the blob */
	int64_t size;     /* the blob's, when read */
	int prc;          /* parsing it, when read at the recorded size */
	struct manifest *m;
	struct barge_err merr; /* of rc or prc */
};

struct fsck_mbatch {
	struct store *s;
	const struct fsck *f;
	struct fsck_mjob job[FSCK_BATCH];
	size_t n;
};

/* n jobs, each done once by fn(arg, i) on whichever thread takes it. */
struct pfor {
	size_t n;
	size_t next; /* the next job a thread takes, atomically */
	void (*fn)(void *arg, size_t i);
	void *arg;
};

/*
 * The size of every blob file the walk saw, sorted by digest once the walk
 * ends, so that the checks of manifests, refs and pushed blobs look sizes up
 * in memory rather than stat each file again (three more stats per blob).
 * A blob a load adds after the walk is not here: the lookup then stats it.
 */
struct seen_blob {
	char digest[DIGEST_STR_MAX];
	int64_t size;
};

/* More blob files than this is not a store this code was built for (as DSET_MAX). */
#define SEEN_MAX (64 * 1024 * 1024)

struct fsck {
	const struct store_fsck_opts *o;
	struct seen_blob *seen;
	size_t nseen, capseen;
	struct store_fsck_stats *st;
	struct dset corrupt; /* blob files whose bytes do not match their name */
	struct dset bad;     /* digests --repair drops with everything above them */
	struct dset absent;  /* children a manifest may name without the store holding them */
	char **files;        /* files --repair removes: corrupt blobs, strays */
	size_t nfiles;
	struct fsck_batch *batch; /* blob files waiting to be hashed */
	struct dset mdigests;     /* digests of manifest rows before the walk */
	struct kept_blob *kept;   /* sorted by digest once the walk ends */
	size_t nkept, capkept;
	int64_t keptbytes;
};

static int
seen_add(struct fsck *f, const char *digest, int64_t size, struct barge_err *err)
{
	struct seen_blob *ns;
	size_t cap;

	if (f->nseen == f->capseen) {
		cap = f->capseen ? f->capseen * 2 : 1024;
		if (cap > SEEN_MAX)
			return err_set(err, BARGE_ELIMIT, "more than %d blob files", SEEN_MAX);
		if ((ns = realloc(f->seen, cap * sizeof(*ns))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		f->seen = ns;
		f->capseen = cap;
	}
	snprintf(f->seen[f->nseen].digest, DIGEST_STR_MAX, "%s", digest);
	f->seen[f->nseen++].size = size;
	return BARGE_OK;
}

/* a may also be a bare digest (bsearch's key): digest is the first member. */
static int
seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seen_blob *)a)->digest, ((const struct seen_blob *)b)->digest);
}

/* The blob's size, -1 if it has no file; from the walk when it saw the blob. */
static int64_t
fsck_blob_size(struct store *s, const struct fsck *f, const char *digest)
{
	const struct seen_blob *b = NULL;

	if (f->nseen > 0)
		b = bsearch(digest, f->seen, f->nseen, sizeof(*f->seen), seen_cmp);
	return b != NULL ? b->size : blob_size(s, digest);
}

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

/*
 * Hashes the job's file with the algorithm of its digest into got.  A small
 * file is read whole: a read shorter than asked for is its end, so one read
 * does; one that grew past what the walk saw is streamed instead.
 */
static int
hash_file(struct fsck_job *j)
{
	enum digest_alg alg;
	char *b = NULL;
	ssize_t n = -1;
	int fd, rc;

	if ((fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_sys(&j->err, BARGE_EIO, errno, "open %s", j->path);
	if (j->size <= FSCK_SMALL && (b = malloc((size_t)j->size + 1)) != NULL) {
		do
			n = read(fd, b, (size_t)j->size + 1);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			rc = err_sys(&j->err, BARGE_EIO, errno, "read %s", j->path);
			goto out;
		}
	}
	if (n < 0 || n > j->size)
		rc = digest_fd(fd, j->digest, j->path, j->got, &j->err);
	else if ((rc = digest_parse(j->digest, &alg, NULL, &j->err)) == BARGE_OK)
		rc = digest_buf(alg, b, (size_t)n, j->got, &j->err);
	if (rc == BARGE_OK && j->keep && n >= 0 && n <= j->size) {
		j->buf = b;
		j->len = n;
		b = NULL;
	}
out:
	free(b);
	close(fd);
	return rc;
}

static void *
pfor_worker(void *arg)
{
	struct pfor *p = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n)
		p->fn(p->arg, i);
	return NULL;
}

/* Runs every job of p on up to FSCK_THREADS threads, the calling one among them. */
static void
pfor_run(struct pfor *p)
{
	pthread_t th[FSCK_THREADS];
	size_t i, nth = 0;

	p->next = 0;
	/* With no thread started the calling one still does every job. */
	while (nth < FSCK_THREADS - 1 && nth + 1 < p->n &&
	       pthread_create(&th[nth], NULL, pfor_worker, p) == 0)
		nth++;
	pfor_worker(p);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
}

static void
hash_job(void *arg, size_t i)
{
	struct fsck_job *j = &((struct fsck_batch *)arg)->job[i];

	j->rc = hash_file(j);
}

/* Keeps a sound manifest blob's bytes, within FSCK_KEEP_TOTAL. */
static int
keep_blob(struct fsck *f, struct fsck_job *j, struct barge_err *err)
{
	struct kept_blob *nk;
	size_t cap;

	if (j->buf == NULL || f->keptbytes + j->len > FSCK_KEEP_TOTAL)
		return BARGE_OK;
	if (f->nkept == f->capkept) {
		/* Bounded: each kept blob is at least one byte of FSCK_KEEP_TOTAL. */
		cap = f->capkept ? f->capkept * 2 : 1024;
		if ((nk = realloc(f->kept, cap * sizeof(*nk))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		f->kept = nk;
		f->capkept = cap;
	}
	nk = f->kept;
	snprintf(nk[f->nkept].digest, DIGEST_STR_MAX, "%s", j->digest);
	nk[f->nkept].buf = j->buf;
	nk[f->nkept++].len = j->len;
	f->keptbytes += j->len;
	j->buf = NULL;
	return BARGE_OK;
}

/* Reports one hashed blob file. */
static int
fsck_hashed(struct fsck *f, struct fsck_job *j, struct barge_err *err)
{
	int rc;

	if (j->rc == BARGE_EIO) {
		problem(f, j->digest, "unreadable: %s", j->err.msg);
	} else if (j->rc != BARGE_OK) {
		*err = j->err;
		return j->rc;
	} else if (strcmp(j->got, j->digest) == 0) {
		return keep_blob(f, j, err);
	} else {
		problem(f, j->digest, "corrupt: %s hashes to %s", j->path, j->got);
	}
	if ((rc = dset_add(&f->corrupt, j->digest, err)) != BARGE_OK ||
	    (rc = dset_add(&f->bad, j->digest, err)) != BARGE_OK)
		return rc;
	return doomed_file(f, j->path, err);
}

/* Hashes the batch on up to FSCK_THREADS threads, then reports it in order and empties it. */
static int
fsck_flush(struct fsck *f, struct barge_err *err)
{
	struct fsck_batch *b = f->batch;
	struct pfor p = { .n = b->n, .fn = hash_job, .arg = b };
	size_t i;
	int rc = BARGE_OK;

	pfor_run(&p);
	for (i = 0; i < b->n; i++) {
		if (rc == BARGE_OK)
			rc = fsck_hashed(f, &b->job[i], err);
		free(b->job[i].path);
		free(b->job[i].buf);
	}
	b->n = 0;
	return rc;
}

static int
fsck_blob(struct store *s, const char *path, const char *digest, const struct stat *st, void *arg,
          struct barge_err *err)
{
	struct fsck *f = arg;
	struct fsck_job *j;
	int rc;

	(void)s;
	if (digest == NULL) {
		/* Blob files before it are reported first: problems come in walk order. */
		if (f->batch->n > 0 && (rc = fsck_flush(f, err)) != BARGE_OK)
			return rc;
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
	if ((rc = seen_add(f, digest, (int64_t)st->st_size, err)) != BARGE_OK)
		return rc;
	j = &f->batch->job[f->batch->n];
	memset(j, 0, sizeof(*j));
	if ((j->path = strdup(path)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	snprintf(j->digest, sizeof(j->digest), "%s", digest);
	j->size = (int64_t)st->st_size;
	j->keep = dset_has(&f->mdigests, digest);
	if (++f->batch->n == FSCK_BATCH)
		return fsck_flush(f, err);
	return BARGE_OK;
}

/* Which blobs the hashing pass keeps: a hint, the manifest checks read what it missed. */
static int
manifest_digests(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *digest;
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = db_prepare(s, "SELECT DISTINCT digest FROM manifests", &st, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &digest, err)) != BARGE_OK ||
		    (rc = dset_add(&f->mdigests, digest, err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list manifests");
out:
	sqlite3_finalize(st);
	dset_sort(&f->mdigests);
	return rc;
}

/* Walks DIR/blobs, hashing every blob file. */
static int
fsck_blobs(struct store *s, struct fsck *f, struct barge_err *err)
{
	struct barge_err herr = { 0 };
	size_t i;
	int rc;

	/* A damaged database is fsck_db's to report: without the hint, every blob is re-read. */
	if (manifest_digests(s, f, &herr) != BARGE_OK)
		dset_free(&f->mdigests);
	if ((f->batch = calloc(1, sizeof(*f->batch))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((rc = blob_walk(s, fsck_blob, f, err)) == BARGE_OK)
		rc = fsck_flush(f, err);
	for (i = 0; i < f->batch->n; i++) {
		free(f->batch->job[i].path);
		free(f->batch->job[i].buf);
	}
	free(f->batch);
	f->batch = NULL;
	return rc;
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

/* a may also be a bare digest (bsearch's key): digest is the first member. */
static int
kept_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kept_blob *)a)->digest, ((const struct kept_blob *)b)->digest);
}

/* Layers registries do not hold (Windows foreign layers), as the push side treats them. */
static int
nondistributable(const char *mt)
{
	return mt != NULL &&
	       (strstr(mt, "nondistributable") != NULL || strstr(mt, ".foreign.") != NULL);
}

/* Reads and parses one manifest row's blob; the reports are fsck_manifest's. */
static void
mjob_load(void *arg, size_t i)
{
	struct fsck_mbatch *b = arg;
	struct fsck_mjob *j = &b->job[i];
	const struct kept_blob *k = NULL;
	const char *body;
	char *buf = NULL;

	if ((j->corrupt = dset_has(&b->f->corrupt, j->digest)))
		return;
	if (b->f->nkept > 0)
		k = bsearch(j->digest, b->f->kept, b->f->nkept, sizeof(*b->f->kept), kept_cmp);
	if (k != NULL) {
		body = k->buf;
		j->size = k->len;
	} else if ((j->rc = read_blob_small(b->s, j->digest, &buf, &j->size, &j->merr)) ==
	           BARGE_OK) {
		body = buf;
	} else {
		return;
	}
	if (j->size == j->recorded)
		j->prc = manifest_parse(body, (size_t)j->size, j->mt[0] != '\0' ? j->mt : NULL,
		                        &j->m, &j->merr);
	free(buf);
}

/* Checks one manifest row against its blob (mjob_load's) and the rows it implies. */
static int
fsck_manifest(struct store *s, struct fsck *f, sqlite3_stmt *refq, sqlite3_stmt *childq,
              struct fsck_mjob *j, struct barge_err *err)
{
	const struct manifest_desc *d;
	const struct manifest *m = j->m;
	const char *repo = j->repo, *digest = j->digest;
	char subject[1024];
	int64_t have;
	size_t i, n;
	int rc = BARGE_OK, yes = 0, broken = 0, step;

	snprintf(subject, sizeof(subject), "%s@%s", repo, digest);
	f->st->manifests++;
	if (j->corrupt) {
		problem(f, subject, "its manifest blob is corrupt");
		return BARGE_OK;
	}
	if (j->rc == BARGE_ENOTFOUND) {
		problem(f, subject, "its manifest blob is missing");
		return dset_add(&f->bad, digest, err);
	}
	if (j->rc == BARGE_ENOMEM) {
		*err = j->merr;
		return BARGE_ENOMEM;
	}
	if (j->rc != BARGE_OK) {
		problem(f, subject, "manifest blob: %s", j->merr.msg);
		return dset_add(&f->bad, digest, err);
	}
	if (j->size != j->recorded) {
		problem(f, subject, "manifest blob is %" PRId64 " bytes, recorded as %" PRId64,
		        j->size, j->recorded);
		broken = 1;
		goto out;
	}
	if (j->prc != BARGE_OK) {
		problem(f, subject, "does not parse as a manifest: %s", j->merr.msg);
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
		have = fsck_blob_size(s, f, d->digest);
		if (have >= 0 && have != d->size) {
			problem(f, subject,
			        "%s %s is %" PRId64 " bytes, the manifest says %" PRId64,
			        i == 0 ? "config" : "layer", d->digest, have, d->size);
			broken = 1;
		}
	}
out:
	if (rc == BARGE_OK && broken)
		rc = dset_add(&f->bad, digest, err);
	return rc;
}

static void
mbatch_clear(struct fsck_mbatch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->job[i].repo);
		free(b->job[i].mt);
		manifest_free(b->job[i].m);
	}
	b->n = 0;
}

/* Reads and parses the batch's blobs on the threads, then checks its rows in order. */
static int
fsck_mflush(struct store *s, struct fsck *f, struct fsck_mbatch *b, sqlite3_stmt *refq,
            sqlite3_stmt *childq, struct barge_err *err)
{
	struct pfor p = { .n = b->n, .fn = mjob_load, .arg = b };
	size_t i;
	int rc = BARGE_OK;

	pfor_run(&p);
	for (i = 0; i < b->n && rc == BARGE_OK; i++)
		rc = fsck_manifest(s, f, refq, childq, &b->job[i], err);
	mbatch_clear(b);
	return rc;
}

/* Queues one manifest row, checking the batch when it is full. */
static int
fsck_mqueue(struct store *s, struct fsck *f, struct fsck_mbatch *b, sqlite3_stmt *refq,
            sqlite3_stmt *childq, const char *repo, const char *digest, const char *mt,
            int64_t recorded, struct barge_err *err)
{
	struct fsck_mjob *j = &b->job[b->n];

	memset(j, 0, sizeof(*j));
	if ((j->repo = strdup(repo)) == NULL || (j->mt = strdup(mt)) == NULL) {
		free(j->repo);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	snprintf(j->digest, sizeof(j->digest), "%s", digest);
	j->recorded = recorded;
	if (++b->n == FSCK_BATCH)
		return fsck_mflush(s, f, b, refq, childq, err);
	return BARGE_OK;
}

static int
fsck_manifests(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *repo, *digest, *mt;
	sqlite3_stmt *st = NULL, *refq = NULL, *childq = NULL;
	struct fsck_mbatch *b;
	int rc, step;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	b->s = s;
	b->f = f;

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
			/* Rows before it are reported first: problems come in row order. */
			if (b->n > 0 && (rc = fsck_mflush(s, f, b, refq, childq, err)) != BARGE_OK)
				goto out;
			problem(f, digest, "manifest row of a missing %s", repo + 1);
			if ((rc = dset_add(&f->bad, digest, err)) != BARGE_OK)
				goto out;
			continue;
		}
		if ((rc = fsck_mqueue(s, f, b, refq, childq, repo, digest, mt,
		                      sqlite3_column_int64(st, 3), err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list manifests");
	else if (b->n > 0)
		rc = fsck_mflush(s, f, b, refq, childq, err);
out:
	mbatch_clear(b);
	free(b);
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

	if ((rc = db_prepare(s,
	                     /* A proxied manifest's children are fetched when first pulled. */
	                     "SELECT parent, child FROM refs WHERE parent IN (SELECT m.digest FROM"
	                     " manifests m WHERE NOT EXISTS (SELECT 1 FROM proxy_manifests p"
	                     " WHERE p.repo_id = m.repo_id AND p.digest = m.digest))"
	                     " ORDER BY parent, child",
	                     &st, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &parent, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &child, err)) != BARGE_OK)
			goto out;
		if (fsck_blob_size(s, f, child) >= 0 || dset_has(&f->absent, child))
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
	struct fsck f;
	size_t i;
	int began = 0, rc;

	memset(&f, 0, sizeof(f));
	f.o = o;
	f.st = &res;
	/* Shared keeps GC from removing files under our feet; loads may go on. */
	rc = o->repair ? store_lock_exclusive(s, o->lock_wait_ms, err) : store_lock_shared(s, err);
	if (rc != BARGE_OK)
		goto out;
	if ((rc = fsck_blobs(s, &f, err)) != BARGE_OK)
		goto out;
	dset_sort(&f.corrupt);
	if (f.nseen > 0)
		qsort(f.seen, f.nseen, sizeof(*f.seen), seen_cmp);
	if (f.nkept > 0)
		qsort(f.kept, f.nkept, sizeof(*f.kept), kept_cmp);
	if ((rc = db_snap_begin(s, &began, err)) != BARGE_OK)
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
	store_unlock(s);
	for (i = 0; i < f.nfiles; i++)
		free(f.files[i]);
	free(f.files);
	free(f.seen);
	for (i = 0; i < f.nkept; i++)
		free(f.kept[i].buf);
	free(f.kept);
	dset_free(&f.mdigests);
	dset_free(&f.corrupt);
	dset_free(&f.bad);
	dset_free(&f.absent);
	if (rc == BARGE_OK && st != NULL)
		*st = res;
	return rc;
}
