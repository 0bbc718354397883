/*
 * store_fsck_hash: fsck's walk of DIR/blobs (store_fsck_int.h: fsck_blobs).
 * Re-hashes every blob file on threads that start once and hash one batch
 * while the walk lists the next, parses the manifest blobs among them from
 * the bytes just hashed and keeps their descriptors, and reports in walk
 * order.  Owns its threads, batches and their open shard directories for
 * the length of the walk.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_fsck_int.h"

/*
 * Blob files are hashed FSCK_THREADS at a time, in batches of FSCK_BATCH
 * files (issue #18: one thread left fsck at 13 s for 100,000 tags where
 * parallel sha256sum took a fraction of it), one batch while the walk fills
 * the next.  Results are then reported in walk order, so a run's output
 * does not depend on thread timing.
 */
#define FSCK_THREADS 4
#define FSCK_BATCH   1024

/*
 * A blob file of at most FSCK_SMALL bytes is read whole in one read and
 * hashed from memory; when the store's rows say it is a manifest, it is
 * parsed there too and only what the checks need is kept (struct mblob),
 * so that no manifest is read twice.  Larger ones are streamed as before.
 */
#define FSCK_SMALL (64 * 1024)

struct fsck_job {
	char *path;
	int dirfd;        /* its directory, open in the batch: the file is opened by name */
	const char *name; /* in path */
	char digest[DIGEST_STR_MAX];
	char got[DIGEST_STR_MAX];
	struct dkey key;
	int64_t size;          /* as the walk saw it */
	struct mblob *mb;      /* a manifest row's: parse it (read-only on the threads) */
	const char *mt;        /* and its media type */
	struct manifest *m;    /* parsed, when prc is BARGE_OK */
	int prc;               /* parsing it; -1: not parsed */
	struct barge_err merr; /* of prc */
	struct barge_err err;
	int rc;
};

/*
 * With the directories its jobs' files are in, kept open so that each file
 * is opened with one name lookup rather than the whole path's (issue #18:
 * path lookups were a tenth of fsck's CPU); -1 when one could not be opened
 * (its files are opened by path).
 */
struct fsck_batch {
	struct fsck_job job[FSCK_BATCH];
	size_t n;
	int dirfd[FSCK_BATCH];
	size_t ndir;
	char *dir; /* the path of dirfd[ndir - 1] */
};

/*
 * The hashing threads, started once: they hash the submitted batch while
 * the walking thread fills the next one, which joins them once it is full.
 * Jobs are taken POOL_CHUNK at a time under mu.
 */
#define POOL_CHUNK 4

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work;    /* a batch was submitted, or quit is set */
	pthread_cond_t idle;    /* the submitted batch is hashed */
	struct fsck_batch *cur; /* being hashed; NULL when none */
	size_t next;            /* its next job to take */
	size_t left;            /* its jobs not hashed yet */
	int quit;
	pthread_t th[FSCK_THREADS - 1];
	size_t nth;
};

/* The walk's state: the threads and the two batches. */
struct fsck_hash {
	struct fsck *f;
	struct pool pool;
	struct fsck_batch *batch[2]; /* blob files to hash: the one filled, the one hashed */
	size_t fill;                 /* batch[fill] is filled */
	struct fsck_batch *inflight; /* submitted, not reported yet; NULL when none */
};

static int
seen_add(struct fsck *f, const struct dkey *key, int64_t size, struct barge_err *err)
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
	f->seen[f->nseen].key = *key;
	f->seen[f->nseen++].size = size;
	return BARGE_OK;
}

struct mblob *
fsck_mblob_find(const struct fsck *f, const struct dkey *key)
{
	size_t i = dkidx_find(&f->mbx, key);

	return i != SIZE_MAX ? &f->mb[i] : NULL;
}

/* Layers registries do not hold (Windows foreign layers), as the push side treats them. */
static int
nondistributable(const char *mt)
{
	return mt != NULL &&
	       (strstr(mt, "nondistributable") != NULL || strstr(mt, ".foreign.") != NULL);
}

static int
kid_add(struct fsck *f, const struct manifest_desc *d, uint8_t flags, struct barge_err *err)
{
	struct kid *nk;
	size_t cap;

	if (f->nkids == f->capkids) {
		cap = f->capkids ? f->capkids * 2 : 1024;
		if (cap > KIDS_MAX)
			return err_set(err, BARGE_ELIMIT, "more than %d descriptors", KIDS_MAX);
		if ((nk = realloc(f->kids, cap * sizeof(*nk))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		f->kids = nk;
		f->capkids = cap;
	}
	/* manifest_parse checked every descriptor's digest. */
	(void)dkey_pack(d->digest, &f->kids[f->nkids].key);
	f->kids[f->nkids].size = d->size;
	f->kids[f->nkids].have = -1;
	f->kids[f->nkids++].flags = flags;
	return BARGE_OK;
}

/* Appends m's descriptors to f->kids and records where in mb. */
int
fsck_kids_of(struct fsck *f, const struct manifest *m, struct mblob *mb, struct barge_err *err)
{
	size_t i, first = f->nkids;
	uint8_t fl;
	int rc = BARGE_OK;

	if (m->has_subject)
		rc = kid_add(f, &m->subject, KID_SUBJECT, err);
	if (rc == BARGE_OK && m->kind == MANIFEST_IMAGE)
		rc = kid_add(f, &m->config, KID_CONFIG, err);
	for (i = 0; i < m->ndescs && rc == BARGE_OK; i++) {
		fl = m->kind == MANIFEST_IMAGE && nondistributable(m->descs[i].media_type)
		             ? KID_FOREIGN
		             : 0;
		rc = kid_add(f, &m->descs[i], fl, err);
	}
	if (rc != BARGE_OK) {
		f->nkids = first;
		return rc;
	}
	mb->kind = (uint8_t)m->kind;
	mb->kid = (uint32_t)first;
	mb->nkids = (uint32_t)(f->nkids - first);
	return BARGE_OK;
}

/*
 * Hashes the job's file with the algorithm of its digest into got.  A small
 * file is read whole: a read shorter than asked for is its end, so one read
 * does; one that grew past what the walk saw is streamed instead.  A sound
 * manifest blob of the size its row records is parsed from those bytes.
 */
static int
hash_file(struct fsck_job *j)
{
	struct stat st;
	char *b = NULL;
	ssize_t n = -1;
	int fd, rc;

	if (j->dirfd >= 0)
		fd = openat(j->dirfd, j->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	else
		fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = err_sys(&j->err, BARGE_EIO, errno, "open %s", j->path);
		/* It is counted with the size the directory gives, as a walk that stats would. */
		if (j->size < 0 &&
		    fstatat(j->dirfd >= 0 ? j->dirfd : AT_FDCWD, j->dirfd >= 0 ? j->name : j->path,
		            &st, AT_SYMLINK_NOFOLLOW) == 0)
			j->size = (int64_t)st.st_size;
		return rc;
	}
	/* The walk did not stat it: the open file is, without a lookup of its name. */
	if (j->size < 0 && fstat(fd, &st) == 0)
		j->size = (int64_t)st.st_size;
	if (j->size < 0) {
		rc = err_sys(&j->err, BARGE_EIO, errno, "stat %s", j->path);
		goto out;
	}
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
	else
		rc = digest_buf((enum digest_alg)j->key.b[0], b, (size_t)n, j->got, &j->err);
	if (rc == BARGE_OK && j->mb != NULL && n >= 0 && n == j->mb->size &&
	    strcmp(j->got, j->digest) == 0)
		j->prc = manifest_parse(b, (size_t)n, j->mt[0] != '\0' ? j->mt : NULL, &j->m,
		                        &j->merr);
out:
	free(b);
	close(fd);
	return rc;
}

/* Hashes jobs of the submitted batch while there are some to take; called with mu held. */
static void
pool_take(struct pool *p)
{
	struct fsck_batch *b;
	size_t i, first, end;

	while ((b = p->cur) != NULL && p->next < b->n) {
		first = p->next;
		end = b->n - first > POOL_CHUNK ? first + POOL_CHUNK : b->n;
		p->next = end;
		pthread_mutex_unlock(&p->mu);
		for (i = first; i < end; i++)
			b->job[i].rc = hash_file(&b->job[i]);
		pthread_mutex_lock(&p->mu);
		p->left -= end - first;
		if (p->left == 0) {
			p->cur = NULL;
			pthread_cond_broadcast(&p->idle);
		}
	}
}

static void *
pool_worker(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->quit) {
		if (p->cur != NULL && p->next < p->cur->n)
			pool_take(p);
		else
			pthread_cond_wait(&p->work, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Starts up to FSCK_THREADS - 1 threads; with none, pool_wait's caller hashes every job. */
static void
pool_start(struct pool *p)
{
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	while (p->nth < FSCK_THREADS - 1 &&
	       pthread_create(&p->th[p->nth], NULL, pool_worker, p) == 0)
		p->nth++;
}

/* Hands b (not empty) to the threads; the previous batch is hashed (pool_wait). */
static void
pool_submit(struct pool *p, struct fsck_batch *b)
{
	pthread_mutex_lock(&p->mu);
	p->cur = b;
	p->next = 0;
	p->left = b->n;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
}

/* Returns once the submitted batch is hashed, hashing its jobs along with the threads. */
static void
pool_wait(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->cur != NULL) {
		if (p->next < p->cur->n)
			pool_take(p);
		else
			pthread_cond_wait(&p->idle, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
}

static void
pool_stop(struct pool *p)
{
	size_t i;

	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
}

/* Keeps what the checks need of a manifest blob the hashing pass parsed. */
static int
keep_parsed(struct fsck *f, struct fsck_job *j, struct barge_err *err)
{
	int rc;

	if (j->mb == NULL || j->prc < 0)
		return BARGE_OK;
	if (j->prc == BARGE_OK) {
		if ((rc = fsck_kids_of(f, j->m, j->mb, err)) != BARGE_OK)
			return rc;
		j->mb->state = MB_PARSED;
	} else if (j->prc != BARGE_ENOMEM && (j->mb->perr = strdup(j->merr.msg)) != NULL) {
		/* Out of memory, it is parsed again after the walk. */
		j->mb->state = MB_BAD;
	}
	return BARGE_OK;
}

/* Reports one hashed blob file. */
static int
fsck_hashed(struct fsck *f, struct fsck_job *j, struct barge_err *err)
{
	int rc;

	if (j->size < 0)
		j->size = 0;
	f->st->blobs++;
	f->st->bytes += j->size;
	if ((rc = seen_add(f, &j->key, j->size, err)) != BARGE_OK)
		return rc;
	if (j->rc == BARGE_EIO) {
		fsck_problem(f, j->digest, "unreadable: %s", j->err.msg);
	} else if (j->rc != BARGE_OK) {
		*err = j->err;
		return j->rc;
	} else if (strcmp(j->got, j->digest) == 0) {
		return keep_parsed(f, j, err);
	} else {
		fsck_problem(f, j->digest, "corrupt: %s hashes to %s", j->path, j->got);
	}
	if ((rc = dset_add(&f->corrupt, j->digest, err)) != BARGE_OK ||
	    (rc = dset_add(&f->bad, j->digest, err)) != BARGE_OK)
		return rc;
	return fsck_doomed_file(f, j->path, err);
}

static void
batch_clear(struct fsck_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->job[i].path);
		manifest_free(b->job[i].m);
	}
	b->n = 0;
	for (i = 0; i < b->ndir; i++)
		if (b->dirfd[i] >= 0)
			close(b->dirfd[i]);
	b->ndir = 0;
	free(b->dir);
	b->dir = NULL;
}

/* Reports a hashed batch in order and empties it. */
static int
batch_report(struct fsck *f, struct fsck_batch *b, struct barge_err *err)
{
	size_t i;
	int rc = BARGE_OK;

	for (i = 0; i < b->n && rc == BARGE_OK; i++)
		rc = fsck_hashed(f, &b->job[i], err);
	batch_clear(b);
	return rc;
}

/* Waits for the batch being hashed and reports it. */
static int
hash_drain(struct fsck_hash *h, struct barge_err *err)
{
	struct fsck_batch *b = h->inflight;

	if (b == NULL)
		return BARGE_OK;
	pool_wait(&h->pool);
	h->inflight = NULL;
	return batch_report(h->f, b, err);
}

/*
 * Once the batch being hashed is, hands over the one filled, then reports
 * the hashed one while the threads hash the next (issue #18: reported
 * first, the threads idled through it) and fills it again.
 */
static int
hash_submit(struct fsck_hash *h, struct barge_err *err)
{
	struct fsck_batch *b = h->batch[h->fill], *done = h->inflight;

	if (done != NULL)
		pool_wait(&h->pool);
	h->inflight = NULL;
	if (b->n > 0) {
		pool_submit(&h->pool, b);
		h->inflight = b;
		h->fill ^= 1;
	}
	return done != NULL ? batch_report(h->f, done, err) : BARGE_OK;
}

/* Sets j->dirfd to its directory's (the first dirlen bytes of its path), opened once a batch. */
static int
batch_dir(struct fsck_batch *b, struct fsck_job *j, size_t dirlen, struct barge_err *err)
{
	char *d;

	if (b->dir == NULL || strlen(b->dir) != dirlen || memcmp(b->dir, j->path, dirlen) != 0) {
		if ((d = strndup(j->path, dirlen)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		free(b->dir);
		b->dir = d;
		/* Bounded: a batch's jobs are in at most FSCK_BATCH directories. */
		b->dirfd[b->ndir++] = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	j->dirfd = b->dirfd[b->ndir - 1];
	return BARGE_OK;
}

static int
fsck_blob(struct store *s, const char *path, const char *digest, const struct stat *st, void *arg,
          struct barge_err *err)
{
	struct fsck_hash *h = arg;
	struct fsck *f = h->f;
	struct fsck_batch *b = h->batch[h->fill];
	struct fsck_job *j;
	int rc;

	(void)s;
	if (digest == NULL) {
		/* Blob files before it are reported first: problems come in walk order. */
		if ((rc = hash_submit(h, err)) != BARGE_OK || (rc = hash_drain(h, err)) != BARGE_OK)
			return rc;
		if (S_ISDIR(st->st_mode)) {
			fsck_problem(f, path,
			             "not part of the store (a directory: remove it by hand)");
			f->st->unrepaired++;
			return BARGE_OK;
		}
		fsck_problem(f, path, "not a blob of the store");
		return fsck_doomed_file(f, path, err);
	}
	j = &b->job[b->n];
	memset(j, 0, sizeof(*j));
	/* The walk hands over valid digests only. */
	(void)dkey_pack(digest, &j->key);
	if ((j->path = strdup(path)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* The walk names a blob file DIR/blobs/<alg>/<shard>/<hex>. */
	j->name = strrchr(j->path, '/') + 1;
	if ((rc = batch_dir(b, j, (size_t)(j->name - 1 - j->path), err)) != BARGE_OK) {
		free(j->path);
		return rc;
	}
	snprintf(j->digest, sizeof(j->digest), "%s", digest);
	/* Unknown when the walk did not stat it: hash_file fstats it. */
	j->size = st != NULL ? (int64_t)st->st_size : -1;
	j->prc = -1;
	if ((j->mb = fsck_mblob_find(f, &j->key)) != NULL && j->mb->mt != MT_NONE)
		j->mt = f->mts[j->mb->mt];
	else
		j->mb = NULL;
	if (++b->n == FSCK_BATCH)
		return hash_submit(h, err);
	return BARGE_OK;
}

/* The index of mt in f->mts, adding it; MT_NONE when the table is full. */
static int
mt_index(struct fsck *f, const char *mt, uint16_t *out, struct barge_err *err)
{
	size_t i;

	for (i = 0; i < f->nmts; i++)
		if (strcmp(f->mts[i], mt) == 0)
			break;
	if (i == f->nmts && i < MT_MAX) {
		if ((f->mts[i] = strdup(mt)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		f->nmts++;
	}
	*out = i < f->nmts ? (uint16_t)i : MT_NONE;
	return BARGE_OK;
}

/*
 * Which blobs the hashing pass parses, with the media type and size of one
 * of their rows: a hint, the manifest checks read what it missed.
 */
static int
manifest_digests(struct store *s, struct fsck *f, struct barge_err *err)
{
	const char *digest, *mt;
	struct mblob *nm;
	sqlite3_stmt *st = NULL;
	size_t cap = 0, i;
	int rc, step;

	if ((rc = db_prepare(s, "SELECT digest, media_type, size FROM manifests", &st, err)) !=
	    BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &digest, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &mt, err)) != BARGE_OK)
			goto out;
		if (f->nmb == cap) {
			cap = cap ? cap * 2 : 1024;
			if (cap > SEEN_MAX) {
				rc = err_set(err, BARGE_ELIMIT, "more than %d manifests", SEEN_MAX);
				goto out;
			}
			if ((nm = realloc(f->mb, cap * sizeof(*nm))) == NULL) {
				rc = err_set(err, BARGE_ENOMEM, "out of memory");
				goto out;
			}
			f->mb = nm;
		}
		nm = &f->mb[f->nmb];
		memset(nm, 0, sizeof(*nm));
		if (dkey_pack(digest, &nm->key) != 0)
			continue;
		nm->size = sqlite3_column_int64(st, 2);
		if ((rc = mt_index(f, mt, &nm->mt, err)) != BARGE_OK)
			goto out;
		f->nmb++;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list manifests");
out:
	sqlite3_finalize(st);
	if (rc == BARGE_OK)
		rc = dkidx_init(&f->mbx, f->mb, sizeof(*f->mb), f->nmb, err);
	/* Rows of several repositories share a blob: it is parsed with the first's type. */
	for (i = 0; i < f->nmb && rc == BARGE_OK; i++)
		if (dkidx_put(&f->mbx, i) != i)
			f->mb[i].mt = MT_NONE;
	return rc;
}

int
fsck_blobs(struct store *s, struct fsck *f, struct barge_err *err)
{
	struct fsck_hash h = { .f = f };
	struct barge_err herr = { 0 };
	size_t i;
	int rc;

	/* A damaged database is fsck_db's to report: without the hint, manifests are read after. */
	if (manifest_digests(s, f, &herr) != BARGE_OK) {
		dkidx_free(&f->mbx);
		free(f->mb);
		f->mb = NULL;
		f->nmb = 0;
	}
	/* Its pages are read again after the walk: the walk may have their memory meanwhile. */
	(void)sqlite3_db_release_memory(s->db);
	if ((h.batch[0] = calloc(1, sizeof(*h.batch[0]))) == NULL ||
	    (h.batch[1] = calloc(1, sizeof(*h.batch[1]))) == NULL) {
		free(h.batch[0]);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	pool_start(&h.pool);
	if ((rc = blob_walk_lazy(s, fsck_blob, &h, err)) == BARGE_OK &&
	    (rc = hash_submit(&h, err)) == BARGE_OK)
		rc = hash_drain(&h, err);
	/* After a failure: the threads are done with both batches before they are freed. */
	pool_wait(&h.pool);
	pool_stop(&h.pool);
	for (i = 0; i < 2; i++) {
		batch_clear(h.batch[i]);
		free(h.batch[i]);
	}
	return rc;
}
