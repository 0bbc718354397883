/*
 * store_fsck: the store's consistency check and repair (store.h:
 * store_fsck).  Re-hashes every blob file, parsing the manifest blobs among
 * them as they are read, checks every manifest row against its blob and the
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
#include "manifest.h"
#include "store_int.h"

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

/* A manifest row's blob as the hashing pass parsed it, sorted by key before the walk. */
struct mblob {
	struct dkey key;
	int64_t size;   /* the size a row records: parsed only when the file has it */
	uint16_t mt;    /* the row's media type, an index into fsck.mts; MT_NONE: not parsed */
	uint8_t state;  /* MB_UNSEEN, MB_PARSED, MB_BAD */
	uint8_t kind;   /* enum manifest_kind */
	uint32_t kid;   /* its children: fsck.kids[kid .. kid + nkids) */
	uint32_t nkids; /* subject first, then config, then layers or manifests */
	char *perr;     /* MB_BAD: why it does not parse */
};

enum { MB_UNSEEN, MB_PARSED, MB_BAD };

/* A manifest's descriptor, as fsck_manifest checks it. */
struct kid {
	struct dkey key;
	int64_t size;
	int64_t have;  /* KID_REF: its file's size, -1 when it has none */
	uint8_t flags; /* KID_* */
};

#define KID_SUBJECT 1 /* OCI 1.1 subject: may dangle */
#define KID_CONFIG  2
#define KID_FOREIGN 4 /* a non-distributable layer: never in a registry */
#define KID_REF     8 /* refs records it (fsck_refs_scan) */

/* Media types of manifest rows worth parsing during the walk; rows with others are read after. */
#define MT_MAX  16
#define MT_NONE 0xffff
/* More descriptors than this in all is not a store this code was built for (as SEEN_MAX). */
#define KIDS_MAX (64 * 1024 * 1024)

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

/*
 * The size of every blob file the walk saw, indexed once the walk ends, so
 * that the checks of manifests, refs and pushed blobs look sizes up
 * in memory rather than stat each file again (three more stats per blob).
 * A blob a load adds after the walk is not here: the lookup then stats it.
 */
struct seen_blob {
	struct dkey key;
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
	struct pool pool;
	struct fsck_batch *batch[2]; /* blob files to hash: the one filled, the one hashed */
	size_t fill;                 /* batch[fill] is filled */
	struct fsck_batch *inflight; /* submitted, not reported yet; NULL when none */
	struct mblob *mb;            /* one per manifest row before the walk */
	size_t nmb;
	struct dkidx mbx;   /* mb's index, the first row of each digest */
	struct dkidx seenx; /* seen's, once the walk ends */
	struct dset dangp;  /* fsck_refs_scan's references to a missing blob: parents */
	struct dset dangc;  /* and children */
	char *mts[MT_MAX];  /* the media types mblob.mt names */
	size_t nmts;
	struct kid *kids; /* the mblobs' children, and a row's read after the walk at the end */
	size_t nkids, capkids;
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

static struct mblob *
mblob_find(const struct fsck *f, const struct dkey *key)
{
	size_t i = dkidx_find(&f->mbx, key);

	return i != SIZE_MAX ? &f->mb[i] : NULL;
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
static int
kids_of(struct fsck *f, const struct manifest *m, struct mblob *mb, struct barge_err *err)
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
		if ((rc = kids_of(f, j->m, j->mb, err)) != BARGE_OK)
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
		problem(f, j->digest, "unreadable: %s", j->err.msg);
	} else if (j->rc != BARGE_OK) {
		*err = j->err;
		return j->rc;
	} else if (strcmp(j->got, j->digest) == 0) {
		return keep_parsed(f, j, err);
	} else {
		problem(f, j->digest, "corrupt: %s hashes to %s", j->path, j->got);
	}
	if ((rc = dset_add(&f->corrupt, j->digest, err)) != BARGE_OK ||
	    (rc = dset_add(&f->bad, j->digest, err)) != BARGE_OK)
		return rc;
	return doomed_file(f, j->path, err);
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
fsck_drain(struct fsck *f, struct barge_err *err)
{
	struct fsck_batch *b = f->inflight;

	if (b == NULL)
		return BARGE_OK;
	pool_wait(&f->pool);
	f->inflight = NULL;
	return batch_report(f, b, err);
}

/* Reports the batch being hashed, then hands over the one filled and fills the other. */
static int
fsck_submit(struct fsck *f, struct barge_err *err)
{
	struct fsck_batch *b = f->batch[f->fill];
	int rc;

	if ((rc = fsck_drain(f, err)) != BARGE_OK || b->n == 0)
		return rc;
	pool_submit(&f->pool, b);
	f->inflight = b;
	f->fill ^= 1;
	return BARGE_OK;
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
	struct fsck *f = arg;
	struct fsck_batch *b = f->batch[f->fill];
	struct fsck_job *j;
	int rc;

	(void)s;
	if (digest == NULL) {
		/* Blob files before it are reported first: problems come in walk order. */
		if ((rc = fsck_submit(f, err)) != BARGE_OK || (rc = fsck_drain(f, err)) != BARGE_OK)
			return rc;
		if (S_ISDIR(st->st_mode)) {
			problem(f, path, "not part of the store (a directory: remove it by hand)");
			f->st->unrepaired++;
			return BARGE_OK;
		}
		problem(f, path, "not a blob of the store");
		return doomed_file(f, path, err);
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
	if ((j->mb = mblob_find(f, &j->key)) != NULL && j->mb->mt != MT_NONE)
		j->mt = f->mts[j->mb->mt];
	else
		j->mb = NULL;
	if (++b->n == FSCK_BATCH)
		return fsck_submit(f, err);
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

/* Walks DIR/blobs, hashing every blob file. */
static int
fsck_blobs(struct store *s, struct fsck *f, struct barge_err *err)
{
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
	if ((f->batch[0] = calloc(1, sizeof(*f->batch[0]))) == NULL ||
	    (f->batch[1] = calloc(1, sizeof(*f->batch[1]))) == NULL) {
		free(f->batch[0]);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	pool_start(&f->pool);
	if ((rc = blob_walk_lazy(s, fsck_blob, f, err)) == BARGE_OK &&
	    (rc = fsck_submit(f, err)) == BARGE_OK)
		rc = fsck_drain(f, err);
	/* After a failure: the threads are done with both batches before they are freed. */
	pool_wait(&f->pool);
	pool_stop(&f->pool);
	for (i = 0; i < 2; i++) {
		batch_clear(f->batch[i]);
		free(f->batch[i]);
		f->batch[i] = NULL;
	}
	return rc;
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
		mb = mblob_find(f, &key);
	if (mb != NULL && mb->state != MB_UNSEEN && mb->size == recorded &&
	    strcmp(f->mts[mb->mt], mt) == 0) {
		if (mb->state == MB_BAD)
			problem(f, subject, "does not parse as a manifest: %s", mb->perr);
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
		problem(f, subject, "its manifest blob is missing");
	else if (rc != BARGE_OK)
		problem(f, subject, "manifest blob: %s", merr.msg);
	else if (size != recorded)
		problem(f, subject, "manifest blob is %" PRId64 " bytes, recorded as %" PRId64,
		        size, recorded);
	else if (manifest_parse(buf, (size_t)size, mt[0] != '\0' ? mt : NULL, &m, &merr) !=
	         BARGE_OK)
		problem(f, subject, "does not parse as a manifest: %s", merr.msg);
	rc = BARGE_OK;
	if (m != NULL) {
		memset(tmp, 0, sizeof(*tmp));
		if ((rc = kids_of(f, m, tmp, err)) == BARGE_OK)
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
		problem(f, subject, "its manifest blob is corrupt");
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
			problem(f, subject, "index child %s is not a manifest of %s", kd, repo);
			broken = 1;
			continue;
		}
		if (!yes) {
			problem(f, subject, "%s %s is not recorded as its reference",
			        k->flags & KID_CONFIG ? "config" : "layer", kd);
			broken = 1;
			continue;
		}
		/* A missing file is the refs check's to report; here only its size. */
		have = mb != &tmp ? k->have : fsck_key_size(s, f, &k->key, kd);
		if (have >= 0 && have != k->size) {
			problem(f, subject,
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
			problem(f, digest, "manifest row of a missing %s", repo + 1);
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
 * One ordered pass over the references of manifests, before the manifest
 * checks: marks which children of the hashing pass's manifests refs
 * records (issue #18: a probe of refs per descriptor was a tenth of fsck),
 * and keeps those whose blob is missing for fsck_refs.
 */
static int
fsck_refs_scan(struct store *s, struct fsck *f, struct barge_err *err)
{
	char last[DIGEST_STR_MAX] = "";
	const char *parent, *child;
	struct mblob *mb = NULL;
	sqlite3_stmt *st = NULL;
	struct dkey ck, pk;
	int64_t have;
	int rc, step, packed;

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
		/* Rows come by parent: its manifest is looked up once. */
		if (strcmp(parent, last) != 0) {
			snprintf(last, sizeof(last), "%s", parent);
			mb = dkey_pack(parent, &pk) == 0 ? mblob_find(f, &pk) : NULL;
		}
		packed = dkey_pack(child, &ck) == 0;
		have = packed ? fsck_key_size(s, f, &ck, child) : blob_size(s, child);
		if (packed && mb != NULL && mb->state == MB_PARSED)
			mark_ref(f, mb, &ck, have);
		if (have >= 0)
			continue;
		if ((rc = dset_add(&f->dangp, parent, err)) != BARGE_OK ||
		    (rc = dset_add(&f->dangc, child, err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list references");
out:
	sqlite3_finalize(st);
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
		problem(f, f->dangp.d[i], "references %s, which is missing", f->dangc.d[i]);
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
	if ((rc = dkidx_init(&f.seenx, f.seen, sizeof(*f.seen), f.nseen, err)) != BARGE_OK)
		goto out;
	for (i = 0; i < f.nseen; i++)
		(void)dkidx_put(&f.seenx, i);
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
