/*
 * build: the build pipeline (build.h).  It owns, for one build, the plan of
 * every blob the lock's images need, the download thread and its blob cache
 * requests, and the bundle writer; the bundle appears at its path only once
 * it is complete.
 */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "bundle_write.h"
#include "digest.h"
#include "fetch.h"
#include "fileutil.h"
#include "localsrc.h"
#include "manifest.h"
#include "mediatype.h"
#include "ref.h"
#include "resolve.h"

/* Year 9999: beyond that RFC 3339 has no four-digit year to write. */
#define MTIME_MAX INT64_C(253402300799)

enum blob_kind { BLOB_MANIFEST, BLOB_CONFIG, BLOB_LAYER };

/* The bundle's blob entries: every manifest, then every config, then every layer. */
static const enum blob_kind entry_order[] = { BLOB_MANIFEST, BLOB_CONFIG, BLOB_LAYER };

struct blob {
	char digest[DIGEST_STR_MAX];
	int64_t size;
	enum blob_kind kind;
	const struct ref *from; /* an image whose repository holds it */
	size_t first_user;      /* the image it is counted for in progress */
	size_t nusers;          /* images using it */
	size_t last_user;
	int in_base; /* delta: the base has it, so the bundle leaves it out */
	char *mem;   /* manifests and indexes: their exact bytes */
};

/* Every blob a lock's images need, each once. */
struct plan {
	const struct lock *l;
	struct blob *blobs;
	size_t nblobs, cap;
	json_t *bydigest; /* digest -> index in blobs */
};

struct bctx {
	const struct lock *l;
	struct client *c;
	const struct build_opts *o;
	struct plan pl;
	json_t *base; /* delta: digest -> size of every blob the base has */
	char *cache;
	struct build_stats *st;
	struct build_progress bp;
	int64_t *img_total, *img_done;
	struct fetch_req *reqs; /* configs, then layers: the bundle's order */
	size_t nreqs;           /* blobs fetch_blobs is asked for */
	size_t *req_blob;       /* request -> index in pl.blobs */
	int64_t *req_done;      /* request -> its bytes reported so far */
	struct barge_err *err;  /* the calling thread's (the writer's) */
	/*
	 * Blobs download in a thread of their own while the calling thread
	 * writes the bundle.  mu guards the fields below and bp, img_done and
	 * req_done, and serialises the caller's callbacks; cv is signalled
	 * when a blob arrives and when the downloads end.
	 */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *cached;      /* blob index -> verified in the cache */
	int fetch_over;             /* fetch_blobs has returned fetch_rc */
	int fetch_rc;               /* its result; fetch_err says why when not BARGE_OK */
	struct barge_err fetch_err; /* the download thread's */
	int stop;                   /* the writer failed with this code: downloads give up */
};

static void progress(struct bctx *b, const char *fmt, ...) BARGE_PRINTF(2, 3);

static void
progress(struct bctx *b, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (b->o->progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The caller's callbacks are never called concurrently (build.h). */
	pthread_mutex_lock(&b->mu);
	b->o->progress(b->o->progress_arg, msg);
	pthread_mutex_unlock(&b->mu);
}

static int
nomem(struct barge_err *err)
{
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

int
build_mtime_from_env(int64_t *out, struct barge_err *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0') {
		*out = 0;
		return BARGE_OK;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || s[0] < '0' || s[0] > '9' || v < 0 || v > MTIME_MAX)
		return err_set(err, BARGE_EINVAL,
		               "SOURCE_DATE_EPOCH \"%.40s\" is not a number of seconds between 0 "
		               "and %" PRId64,
		               s, MTIME_MAX);
	*out = (int64_t)v;
	return BARGE_OK;
}

static void
plan_clear(struct plan *pl)
{
	size_t i;

	for (i = 0; i < pl->nblobs; i++)
		free(pl->blobs[i].mem);
	free(pl->blobs);
	json_decref(pl->bydigest);
	memset(pl, 0, sizeof(*pl));
}

/*
 * Records that image user needs blob digest.  A new blob takes ownership of
 * *mem (set to NULL); a known one leaves *mem to the caller.
 */
static int
add_blob(struct plan *pl, const char *digest, int64_t size, enum blob_kind kind, size_t user,
         char **mem, struct barge_err *err)
{
	struct blob *grown, *bl;
	json_t *at;
	size_t i;

	if ((at = json_object_get(pl->bydigest, digest)) != NULL) {
		bl = &pl->blobs[json_integer_value(at)];
		if (bl->size != size)
			return err_set(err, BARGE_EDIGEST,
			               "%s: blob %s is listed with sizes %" PRId64 " and %" PRId64,
			               pl->l->images[user].source, digest, bl->size, size);
		if (bl->last_user != user) {
			bl->nusers++;
			bl->last_user = user;
		}
		return BARGE_OK;
	}
	if (pl->nblobs >= BUNDLE_META_BLOBS_MAX)
		return err_set(err, BARGE_ELIMIT, "more than %d blobs", BUNDLE_META_BLOBS_MAX);
	if (pl->nblobs == pl->cap) {
		i = pl->cap == 0 ? 64 : pl->cap * 2;
		if ((grown = realloc(pl->blobs, i * sizeof(*grown))) == NULL)
			return nomem(err);
		pl->blobs = grown;
		pl->cap = i;
	}
	if ((at = json_integer((json_int_t)pl->nblobs)) == NULL ||
	    json_object_set_new(pl->bydigest, digest, at) != 0)
		return nomem(err);
	bl = &pl->blobs[pl->nblobs++];
	memset(bl, 0, sizeof(*bl));
	/* Callers pass digests the manifest parser or the client validated. */
	snprintf(bl->digest, sizeof(bl->digest), "%s", digest);
	bl->size = size;
	bl->kind = kind;
	bl->from = pl->l->images[user].ref;
	bl->first_user = user;
	bl->nusers = 1;
	bl->last_user = user;
	if (mem != NULL) {
		bl->mem = *mem;
		*mem = NULL;
	}
	return BARGE_OK;
}

static int
add_image_blobs(struct plan *pl, size_t user, const struct manifest *m, struct barge_err *err)
{
	size_t i;
	int rc;

	if ((rc = add_blob(pl, m->config.digest, m->config.size, BLOB_CONFIG, user, NULL, err)) !=
	    BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = add_blob(pl, m->descs[i].digest, m->descs[i].size, BLOB_LAYER, user, NULL,
		                   err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/*
 * Image user's manifest digest of size bytes: read from its local layout
 * (localsrc.h) when it has one, else fetched from its registry.
 */
static int
get_manifest(const struct plan *pl, struct client *c, size_t user, const char *digest, int64_t size,
             struct client_manifest *cm, struct barge_err *err)
{
	const struct lock_image *im = &pl->l->images[user];

	if (im->from == NULL)
		return client_get_manifest(c, im->ref, digest, cm, err);
	snprintf(cm->digest, sizeof(cm->digest), "%s", digest);
	return localsrc_read(im->from, digest, size, MANIFEST_MAX, &cm->buf, &cm->len, err);
}

/* Pulls the image manifest desc names from an index of image user. */
static int
plan_child(struct plan *pl, struct client *c, size_t user, const struct manifest_desc *desc,
           struct barge_err *err)
{
	const struct lock_image *im = &pl->l->images[user];
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	const struct blob *known;
	json_t *at;
	int rc;

	if ((at = json_object_get(pl->bydigest, desc->digest)) != NULL) {
		/* Pulled already, for another image: its blobs are now shared with this one. */
		known = &pl->blobs[json_integer_value(at)];
		if (known->mem == NULL) {
			rc = err_set(err, BARGE_EFORMAT,
			             "%s: index entry %s is also a config or layer", im->source,
			             desc->digest);
			goto out;
		}
		if ((rc = add_blob(pl, desc->digest, desc->size, BLOB_MANIFEST, user, NULL, err)) !=
		            BARGE_OK ||
		    (rc = manifest_parse(known->mem, (size_t)known->size, desc->media_type, &m,
		                         err)) != BARGE_OK)
			goto out;
		rc = m->kind == MANIFEST_IMAGE ? add_image_blobs(pl, user, m, err) : BARGE_OK;
		goto out;
	}
	if (!mt_is_manifest(desc->media_type)) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: index entry %s is a %s, not an image manifest", im->source,
		             desc->digest, desc->media_type);
		goto out;
	}
	if ((rc = get_manifest(pl, c, user, desc->digest, desc->size, &cm, err)) != BARGE_OK) {
		err_prefix(err, "%s: pinned manifest %s can no longer be fetched", im->source,
		           desc->digest);
		goto out;
	}
	if ((int64_t)cm.len != desc->size) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest %s is %zu bytes, the index says %" PRId64, im->source,
		             desc->digest, cm.len, desc->size);
		goto out;
	}
	if ((rc = manifest_parse(cm.buf, cm.len,
	                         cm.media_type != NULL ? cm.media_type : desc->media_type, &m,
	                         err)) != BARGE_OK) {
		err_prefix(err, "%s: manifest %s", im->source, desc->digest);
		goto out;
	}
	if (m->kind != MANIFEST_IMAGE) {
		rc = err_set(err, BARGE_EFORMAT, "%s: manifest %s is not an image manifest",
		             im->source, desc->digest);
		goto out;
	}
	if ((rc = add_blob(pl, cm.digest, (int64_t)cm.len, BLOB_MANIFEST, user, &cm.buf, err)) !=
	    BARGE_OK)
		goto out;
	rc = add_image_blobs(pl, user, m, err);
out:
	manifest_free(m);
	client_manifest_clear(&cm);
	return rc;
}

/* Fetches image user's pinned manifest and the manifests the lock keeps, recording every blob. */
static int
plan_image(struct plan *pl, struct client *c, size_t user, struct barge_err *err)
{
	const struct lock_image *im = &pl->l->images[user];
	const struct manifest_desc *desc;
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	size_t i, k;
	int rc;

	if ((rc = get_manifest(pl, c, user, im->digest, im->size, &cm, err)) != BARGE_OK) {
		err_prefix(err, "%s: pinned manifest %s can no longer be fetched", im->source,
		           im->digest);
		goto out;
	}
	if ((int64_t)cm.len != im->size) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest %s is %zu bytes, the lock says %" PRId64, im->source,
		             im->digest, cm.len, im->size);
		goto out;
	}
	if ((rc = manifest_parse(cm.buf, cm.len,
	                         cm.media_type != NULL ? cm.media_type : im->media_type, &m,
	                         err)) != BARGE_OK) {
		err_prefix(err, "%s", im->source);
		goto out;
	}
	if ((m->kind == MANIFEST_INDEX) != (im->nmanifests > 0)) {
		rc = err_set(err, BARGE_EFORMAT, "%s: %s is %s, the lock says otherwise",
		             im->source, im->digest,
		             m->kind == MANIFEST_INDEX ? "an index" : "an image manifest");
		goto out;
	}
	if ((rc = add_blob(pl, cm.digest, (int64_t)cm.len, BLOB_MANIFEST, user, &cm.buf, err)) !=
	    BARGE_OK)
		goto out;
	if (m->kind == MANIFEST_IMAGE) {
		rc = add_image_blobs(pl, user, m, err);
		goto out;
	}
	/* A sparse index: the original bytes, and only the manifests the lock keeps. */
	for (k = 0; k < im->nmanifests; k++) {
		desc = NULL;
		for (i = 0; i < m->ndescs; i++)
			if (strcmp(m->descs[i].digest, im->manifests[k].digest) == 0)
				desc = &m->descs[i];
		if (desc == NULL || desc->size != im->manifests[k].size) {
			rc = err_set(err, BARGE_EFORMAT, "%s: index %s does not list manifest %s",
			             im->source, im->digest, im->manifests[k].digest);
			goto out;
		}
		if ((rc = plan_child(pl, c, user, desc, err)) != BARGE_OK)
			goto out;
	}
	rc = BARGE_OK;
out:
	manifest_free(m);
	client_manifest_clear(&cm);
	return rc;
}

static int
plan_lock(struct plan *pl, const struct lock *l, struct client *c, struct barge_err *err)
{
	size_t i;
	int rc;

	pl->l = l;
	if ((pl->bydigest = json_object()) == NULL)
		return nomem(err);
	for (i = 0; i < l->nimages; i++)
		if ((rc = plan_image(pl, c, i, err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/* Records that the base holds digest of size bytes. */
static int
base_add(struct bctx *b, const char *digest, int64_t size)
{
	json_t *v;

	if ((v = json_integer((json_int_t)size)) == NULL ||
	    json_object_set_new(b->base, digest, v) != 0)
		return nomem(b->err);
	return BARGE_OK;
}

/* A base bundle: what its barge.json lists, carried or required (the store holds both). */
static int
base_from_bundle(struct bctx *b, const char *path)
{
	struct bundle_reader *r = NULL;
	struct bundle_meta *meta = NULL;
	const char *name;
	char *buf = NULL;
	size_t len, i;
	int64_t size;
	int rc;

	if ((rc = bundle_reader_open(path, &r, b->err)) != BARGE_OK ||
	    (rc = bundle_reader_next(r, &name, &size, b->err)) < 0)
		goto out;
	if (rc == BUNDLE_EOF || strcmp(name, "barge.json") != 0) {
		rc = err_set(b->err, BARGE_EFORMAT, "%s: barge.json is not the first entry", path);
		goto out;
	}
	if ((rc = bundle_reader_slurp(r, BUNDLE_META_MAX, &buf, &len, b->err)) != BARGE_OK ||
	    (rc = bundle_meta_parse(path, buf, len, &meta, b->err)) != BARGE_OK)
		goto out;
	for (i = 0; i < meta->nblobs; i++)
		if ((rc = base_add(b, meta->blobs[i].digest, meta->blobs[i].size)) != BARGE_OK)
			goto out;
	for (i = 0; i < meta->nrequires; i++)
		if ((rc = base_add(b, meta->requires[i].digest, meta->requires[i].size)) !=
		    BARGE_OK)
			goto out;
out:
	bundle_meta_free(meta);
	free(buf);
	bundle_reader_free(r);
	return rc;
}

/* A base lock: its images' manifests are fetched (by digest) to learn their blobs. */
static int
base_from_lock(struct bctx *b, const char *path)
{
	struct plan pl = { 0 };
	struct lock *l = NULL;
	size_t i;
	int rc;

	if ((rc = lock_load(path, &l, b->err)) != BARGE_OK)
		goto out;
	if ((rc = plan_lock(&pl, l, b->c, b->err)) != BARGE_OK) {
		err_prefix(b->err, "base %s", path);
		goto out;
	}
	for (i = 0; i < pl.nblobs; i++)
		if ((rc = base_add(b, pl.blobs[i].digest, pl.blobs[i].size)) != BARGE_OK)
			goto out;
out:
	plan_clear(&pl);
	lock_free(l);
	return rc;
}

static int
load_base(struct bctx *b)
{
	static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	unsigned char head[4];
	ssize_t n;
	int fd;

	if ((b->base = json_object()) == NULL)
		return nomem(b->err);
	if ((fd = open(b->o->base, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(b->err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno,
		               "base %s", b->o->base);
	n = read(fd, head, sizeof(head));
	close(fd);
	progress(b, "reading base %s", b->o->base);
	if (n == (ssize_t)sizeof(head) && memcmp(head, zstd_magic, sizeof(head)) == 0)
		return base_from_bundle(b, b->o->base);
	return base_from_lock(b, b->o->base);
}

/* Counts delta more bytes of bl as at hand, for the progress callback.  With mu held. */
static void
blob_progress(struct bctx *b, const struct blob *bl, int64_t delta)
{
	struct build_progress *bp = &b->bp;

	b->img_done[bl->first_user] += delta;
	bp->image = bl->first_user;
	bp->source = b->l->images[bl->first_user].source;
	bp->image_done = b->img_done[bl->first_user];
	bp->image_total = b->img_total[bl->first_user];
	bp->image_finished = bp->image_done == bp->image_total;
	bp->done += delta;
	if (b->o->bytes != NULL)
		b->o->bytes(b->o->progress_arg, bp);
}

/*
 * fetch's progress, per request, turned into per-image and total bytes; a
 * finished blob is now the writer's to take.  In the download thread.
 */
static void
on_fetch(void *arg, const struct fetch_progress *fp)
{
	struct bctx *b = arg;
	const struct blob *bl;
	int64_t delta;

	if (fp->index >= b->nreqs)
		return;
	pthread_mutex_lock(&b->mu);
	bl = &b->pl.blobs[b->req_blob[fp->index]];
	delta = fp->blob_done - b->req_done[fp->index];
	b->req_done[fp->index] = fp->blob_done;
	if (delta != 0 || fp->finished)
		blob_progress(b, bl, delta);
	if (fp->finished) {
		b->cached[b->req_blob[fp->index]] = 1;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
}

/* fetch_opts.stop: the downloads go on until the writer fails.  In the download thread. */
static int
on_stop(void *arg)
{
	struct bctx *b = arg;
	int rc;

	pthread_mutex_lock(&b->mu);
	rc = b->stop;
	pthread_mutex_unlock(&b->mu);
	return rc;
}

/*
 * Copies the blobs of images read from local layouts into the cache, where
 * the downloads find them verified and ask no registry for them.
 */
static int
cache_local(struct bctx *b)
{
	const struct blob *bl;
	const char *from;
	size_t i;
	int rc;

	for (i = 0; i < b->pl.nblobs; i++) {
		bl = &b->pl.blobs[i];
		from = b->l->images[bl->first_user].from;
		if (from == NULL || bl->in_base || bl->mem != NULL)
			continue;
		if ((rc = localsrc_cache(from, bl->digest, bl->size, b->cache, b->err)) !=
		    BARGE_OK) {
			err_prefix(b->err, "%s", b->l->images[bl->first_user].source);
			return rc;
		}
	}
	return BARGE_OK;
}

/*
 * Lists the config and layer blobs the bundle carries, as requests in the
 * order the bundle has them, so that they tend to arrive in the order the
 * writer takes them.
 */
static int
fetch_prepare(struct bctx *b)
{
	const struct blob *bl;
	size_t i, k;
	int rc;

	if (b->o->cache_dir != NULL)
		b->cache = strdup(b->o->cache_dir);
	else if ((rc = fetch_default_cache_dir(&b->cache, b->err)) != BARGE_OK)
		return rc;
	if (b->cache == NULL)
		return nomem(b->err);
	if ((rc = fetch_cache_init(b->cache, b->err)) != BARGE_OK ||
	    (rc = cache_local(b)) != BARGE_OK)
		return rc;
	if ((b->reqs = calloc(b->pl.nblobs + 1, sizeof(*b->reqs))) == NULL ||
	    (b->req_blob = calloc(b->pl.nblobs + 1, sizeof(*b->req_blob))) == NULL ||
	    (b->req_done = calloc(b->pl.nblobs + 1, sizeof(*b->req_done))) == NULL ||
	    (b->cached = calloc(b->pl.nblobs + 1, sizeof(*b->cached))) == NULL)
		return nomem(b->err);
	for (k = 0; k < sizeof(entry_order) / sizeof(entry_order[0]); k++)
		for (i = 0; i < b->pl.nblobs; i++) {
			bl = &b->pl.blobs[i];
			if (bl->kind != entry_order[k] || bl->in_base || bl->mem != NULL)
				continue;
			b->reqs[b->nreqs].ref = bl->from;
			memcpy(b->reqs[b->nreqs].digest, bl->digest, sizeof(bl->digest));
			b->reqs[b->nreqs].size = bl->size;
			b->req_blob[b->nreqs++] = i;
		}
	pthread_mutex_lock(&b->mu);
	for (i = 0; i < b->pl.nblobs; i++) {
		bl = &b->pl.blobs[i];
		if (bl->in_base)
			continue;
		b->img_total[bl->first_user] += bl->size;
		b->bp.total += bl->size;
	}
	/* Manifests are in memory already. */
	for (i = 0; i < b->pl.nblobs; i++)
		if (!b->pl.blobs[i].in_base && b->pl.blobs[i].mem != NULL)
			blob_progress(b, &b->pl.blobs[i], b->pl.blobs[i].size);
	pthread_mutex_unlock(&b->mu);
	progress(b, "pulling %zu blobs", b->nreqs);
	return BARGE_OK;
}

/* The download thread: has every request in the cache, verified, or says why not. */
static void *
fetch_main(void *arg)
{
	struct bctx *b = arg;
	struct fetch_opts fo = {
		.jobs = b->o->jobs, .progress = on_fetch, .stop = on_stop, .progress_arg = b
	};
	struct fetch_stats fst = { 0 };
	int rc;

	rc = fetch_blobs(b->c, b->cache, b->reqs, b->nreqs, &fo, &fst, &b->fetch_err);
	pthread_mutex_lock(&b->mu);
	/* Added to the manifests build_run_lock counted: they came over the network too. */
	b->st->ndownloaded += fst.ndownloaded;
	b->st->ncached = fst.ncached;
	b->st->downloaded_bytes += fst.bytes_downloaded;
	b->fetch_rc = rc;
	b->fetch_over = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* With mu held, once the downloads are over: their result, and their error in b->err. */
static int
fetch_result(struct bctx *b)
{
	if (b->fetch_rc == BARGE_OK)
		return BARGE_OK;
	*b->err = b->fetch_err;
	return b->fetch_rc;
}

/*
 * Waits until blob i is in the cache, verified, or the downloads failed.  A
 * failure stops the writer even when blob i is at hand: writing on would
 * only delay the error.
 */
static int
wait_cached(struct bctx *b, size_t i)
{
	int rc = BARGE_OK;

	pthread_mutex_lock(&b->mu);
	while (!b->cached[i] && !b->fetch_over)
		pthread_cond_wait(&b->cv, &b->mu);
	if (b->fetch_over && (rc = fetch_result(b)) == BARGE_OK && !b->cached[i])
		rc = err_set(b->err, BARGE_EINTERNAL, "blob %s was not fetched",
		             b->pl.blobs[i].digest);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

/* Waits for the downloads to end; their result. */
static int
wait_fetched(struct bctx *b)
{
	int rc;

	pthread_mutex_lock(&b->mu);
	while (!b->fetch_over)
		pthread_cond_wait(&b->cv, &b->mu);
	rc = fetch_result(b);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

/* Appends v to arr, taking its reference; fails on NULL or ENOMEM. */
static int
push(struct bctx *b, json_t *arr, json_t *v)
{
	if (v == NULL || json_array_append_new(arr, v) != 0)
		return nomem(b->err);
	return BARGE_OK;
}

static int
meta_json(struct bctx *b, char **out)
{
	char created[32], plat[3 * PLATFORM_FIELD_MAX];
	json_t *root = NULL, *plats, *images, *blobs, *req = NULL, *tags;
	const struct lock_image *im;
	const struct blob *bl;
	char *repo = NULL;
	time_t t = (time_t)b->o->mtime;
	struct tm tm;
	size_t i, k;
	int rc;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return err_set(b->err, BARGE_EINVAL, "mtime %" PRId64 " out of range", b->o->mtime);
	plats = json_array();
	images = json_array();
	blobs = json_array();
	root = json_pack("{s:i,s:s,s:s,s:s,s:s,s:o*,s:s,s:o*,s:o*}", "schemaVersion", 1, "name",
	                 b->l->name, "version", b->l->version, "created", created, "builder",
	                 "barge " BARGE_VERSION, "platforms", plats, "project", b->l->project,
	                 "images", images, "blobs", blobs);
	if (root == NULL || plats == NULL || images == NULL || blobs == NULL) {
		rc = nomem(b->err);
		goto out;
	}
	if (b->base != NULL &&
	    ((req = json_array()) == NULL || json_object_set_new(root, "requires", req) != 0)) {
		rc = nomem(b->err);
		goto out;
	}
	for (i = 0; i < b->l->nplatforms; i++) {
		platform_format(&b->l->platforms[i], plat, sizeof(plat));
		if ((rc = push(b, plats, json_string(plat))) != BARGE_OK)
			goto out;
	}
	for (i = 0; i < b->l->nimages; i++) {
		im = &b->l->images[i];
		if ((repo = ref_local_repo(im->ref, b->l->project)) == NULL ||
		    (tags = json_array()) == NULL) {
			rc = nomem(b->err);
			goto out;
		}
		if (im->ref->tag != NULL &&
		    json_array_append_new(tags, json_string(im->ref->tag))) {
			json_decref(tags);
			rc = nomem(b->err);
			goto out;
		}
		if ((rc = push(b, images,
		               json_pack("{s:s,s:s,s:o,s:s,s:s}", "repository", repo, "source",
		                         im->source, "tags", tags, "digest", im->digest,
		                         "mediaType", im->media_type))) != BARGE_OK)
			goto out;
		free(repo);
		repo = NULL;
	}
	for (k = 0; k < sizeof(entry_order) / sizeof(entry_order[0]); k++)
		for (i = 0; i < b->pl.nblobs; i++) {
			bl = &b->pl.blobs[i];
			if (bl->kind == entry_order[k] &&
			    (rc = push(b, bl->in_base ? req : blobs,
			               json_pack("{s:s,s:I}", "digest", bl->digest, "size",
			                         (json_int_t)bl->size))) != BARGE_OK)
				goto out;
		}
	if ((*out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		rc = nomem(b->err);
		goto out;
	}
	rc = BARGE_OK;
out:
	free(repo);
	json_decref(root);
	return rc;
}

/* index.json: an OCI image layout naming every image by its source reference. */
static int
index_json(struct bctx *b, char **out)
{
	const struct lock_image *im;
	json_t *root, *mans;
	size_t i;
	int rc;

	mans = json_array();
	root = json_pack("{s:i,s:s,s:o*}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
	                 "manifests", mans);
	if (root == NULL || mans == NULL) {
		rc = nomem(b->err);
		goto out;
	}
	for (i = 0; i < b->l->nimages; i++) {
		im = &b->l->images[i];
		if ((rc = push(b, mans,
		               json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType", im->media_type,
		                         "digest", im->digest, "size", (json_int_t)im->size,
		                         "annotations", "org.opencontainers.image.ref.name",
		                         im->source))) != BARGE_OK)
			goto out;
	}
	if ((*out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		rc = nomem(b->err);
		goto out;
	}
	rc = BARGE_OK;
out:
	json_decref(root);
	return rc;
}

/* Text files end with a newline; json_dumps leaves it out.  Replaces *text. */
static int
add_newline(struct bctx *b, char **text, size_t *len)
{
	size_t n = strlen(*text);
	char *grown;

	if ((grown = realloc(*text, n + 2)) == NULL)
		return nomem(b->err);
	grown[n] = '\n';
	grown[n + 1] = '\0';
	*text = grown;
	*len = n + 1;
	return BARGE_OK;
}

static int
add_blob_entry(struct bctx *b, struct bundle_writer *w, const struct blob *bl)
{
	char name[BUNDLE_NAME_MAX], *path = NULL;
	int fd = -1, rc;

	snprintf(name, sizeof(name), "blobs/%s", bl->digest);
	*strchr(name + 6, ':') = '/';
	if (bl->mem != NULL)
		return bundle_writer_add_buf(w, name, bl->mem, (size_t)bl->size, b->err);
	if ((rc = wait_cached(b, (size_t)(bl - b->pl.blobs))) != BARGE_OK)
		return rc;
	if ((path = fetch_cache_path(b->cache, bl->digest)) == NULL)
		return nomem(b->err);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = err_sys(b->err, BARGE_EIO, errno, "%s", path);
	else
		rc = bundle_writer_add_fd(w, name, fd, bl->size, b->err);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* The writing moves to phase.  In the calling thread. */
static void
write_phase(struct bctx *b, enum build_write phase)
{
	pthread_mutex_lock(&b->mu);
	b->bp.write = phase;
	if (b->o->bytes != NULL)
		b->o->bytes(b->o->progress_arg, &b->bp);
	pthread_mutex_unlock(&b->mu);
}

/* bundle_writer_opts.progress: the entries' bytes compressed.  In the calling thread. */
static void
on_write(void *arg, int64_t done)
{
	struct bctx *b = arg;

	pthread_mutex_lock(&b->mu);
	b->bp.written = done;
	b->o->bytes(b->o->progress_arg, &b->bp);
	pthread_mutex_unlock(&b->mu);
}

static int
write_bundle(struct bctx *b)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
	struct bundle_writer_opts bo = {
		.level = b->o->level,
		.threads = 0,
		.mtime = b->o->mtime,
		.progress = b->o->bytes != NULL ? on_write : NULL,
		.progress_arg = b,
	};
	struct bundle_writer *w = NULL;
	const struct blob *bl;
	char *meta = NULL, *index = NULL, *sig = NULL;
	size_t i, k, metalen = 0, indexlen = 0, siglen = 0;
	struct stat st;
	int rc;

	if ((rc = meta_json(b, &meta)) != BARGE_OK || (rc = index_json(b, &index)) != BARGE_OK ||
	    (rc = add_newline(b, &meta, &metalen)) != BARGE_OK ||
	    (rc = add_newline(b, &index, &indexlen)) != BARGE_OK ||
	    (rc = digest_buf(DIGEST_SHA256, meta, metalen, b->st->meta_digest, b->err)) != BARGE_OK)
		goto out;
	if (b->o->sign_key != NULL) {
		/* The signature covers the exact bytes of the barge.json entry. */
		if ((rc = sign_make(b->o->sign_key, meta, metalen, &sig, &siglen, b->err)) !=
		    BARGE_OK)
			goto out;
		snprintf(b->st->keyid, sizeof(b->st->keyid), "%s", sign_key_id(b->o->sign_key));
	}
	/* What the bundle's entries hold; blob_bytes leaves out what the base has. */
	pthread_mutex_lock(&b->mu);
	b->bp.write_total =
	        (int64_t)(metalen + siglen + (sizeof(layout) - 1) + indexlen) + b->st->blob_bytes;
	pthread_mutex_unlock(&b->mu);
	progress(b, "writing %s", b->o->output);
	write_phase(b, BUILD_WRITE_COMPRESSING);
	if ((rc = bundle_writer_open(b->o->output, &bo, &w, b->err)) != BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "barge.json", meta, metalen, b->err)) != BARGE_OK ||
	    (sig != NULL &&
	     (rc = bundle_writer_add_buf(w, "barge.json.sig", sig, siglen, b->err)) != BARGE_OK) ||
	    (rc = bundle_writer_add_buf(w, "oci-layout", layout, sizeof(layout) - 1, b->err)) !=
	            BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "index.json", index, indexlen, b->err)) != BARGE_OK)
		goto out;
	for (k = 0; k < sizeof(entry_order) / sizeof(entry_order[0]); k++) {
		for (i = 0; i < b->pl.nblobs; i++) {
			bl = &b->pl.blobs[i];
			if (bl->kind == entry_order[k] && !bl->in_base &&
			    (rc = add_blob_entry(b, w, bl)) != BARGE_OK)
				goto out;
		}
	}
	/* Every blob is written; the bundle is renamed into place only if the downloads agree. */
	if ((rc = wait_fetched(b)) != BARGE_OK || (rc = bundle_writer_close(w, b->err)) != BARGE_OK)
		goto out;
	write_phase(b, BUILD_WRITE_DONE);
	if (stat(b->o->output, &st) == 0)
		b->st->file_bytes = st.st_size;
out:
	bundle_writer_free(w);
	free(sig);
	free(meta);
	free(index);
	return rc;
}

/*
 * Downloads in a thread of their own while this one writes the bundle, so
 * that pulling and compressing overlap; the bundle's bytes do not depend on
 * the order in which blobs arrive.  A failed download fails the writer as it
 * waits for that blob (or at the end), a failed writer stops the downloads.
 */
static int
fetch_and_write(struct bctx *b)
{
	pthread_t th;
	int rc;

	if ((rc = pthread_create(&th, NULL, fetch_main, b)) != 0)
		return err_sys(b->err, BARGE_EINTERNAL, rc, "starting the download thread");
	if ((rc = write_bundle(b)) != BARGE_OK) {
		pthread_mutex_lock(&b->mu);
		b->stop = rc;
		pthread_mutex_unlock(&b->mu);
	}
	pthread_join(th, NULL);
	return rc;
}

/*
 * Every image's repository on barged (the project, the host as a path
 * component, the path) must be a repository name: a reference near the
 * 255-byte limit of a name is valid upstream but too long once the project
 * is in front, and barged would refuse the whole bundle at load.  Found
 * here, before anything is pulled, with the image named.
 */
static int
check_local_names(const struct lock *l, struct barge_err *err)
{
	char *repo;
	size_t i;
	int ok;

	for (i = 0; i < l->nimages; i++) {
		if ((repo = ref_local_repo(l->images[i].ref, l->project)) == NULL)
			return nomem(err);
		ok = ref_valid_repo(repo);
		if (!ok)
			err_set(err, BARGE_EINVAL,
			        "%s: its repository on barged, \"%.40s...\" (%zu bytes), is longer "
			        "than a repository name may be (255 bytes with the project \"%s\")",
			        l->images[i].source, repo, strlen(repo), l->project);
		free(repo);
		if (!ok)
			return BARGE_EINVAL;
	}
	return BARGE_OK;
}

/* Builds o->output from the pinned images of l, pulling through c. */
static int
build_run_lock(const struct lock *l, struct client *c, const struct build_opts *o,
               struct build_stats *st, struct barge_err *err)
{
	struct bctx b = { .l = l, .c = c, .o = o, .err = err, .st = st };
	struct blob *bl;
	json_t *have;
	size_t i;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = pthread_mutex_init(&b.mu, NULL)) != 0)
		return err_sys(err, BARGE_EINTERNAL, rc, "pthread_mutex_init");
	if ((rc = pthread_cond_init(&b.cv, NULL)) != 0) {
		pthread_mutex_destroy(&b.mu);
		return err_sys(err, BARGE_EINTERNAL, rc, "pthread_cond_init");
	}
	if (o->mtime < 0 || o->mtime > MTIME_MAX) {
		rc = err_set(err, BARGE_EINVAL, "mtime %" PRId64 " out of range", o->mtime);
		goto out;
	}
	if ((b.img_total = calloc(l->nimages, sizeof(*b.img_total))) == NULL ||
	    (b.img_done = calloc(l->nimages, sizeof(*b.img_done))) == NULL) {
		rc = nomem(err);
		goto out;
	}
	b.bp.nimages = l->nimages;
	if ((rc = check_local_names(l, err)) != BARGE_OK)
		goto out;
	if (o->base != NULL && (rc = load_base(&b)) != BARGE_OK)
		goto out;
	b.pl.l = l;
	if ((b.pl.bydigest = json_object()) == NULL) {
		rc = nomem(err);
		goto out;
	}
	for (i = 0; i < l->nimages; i++) {
		progress(&b, "fetching manifests of %s", l->images[i].source);
		if ((rc = plan_image(&b.pl, c, i, err)) != BARGE_OK)
			goto out;
	}
	for (i = 0; i < b.pl.nblobs; i++) {
		bl = &b.pl.blobs[i];
		if (b.base != NULL && (have = json_object_get(b.base, bl->digest)) != NULL) {
			if (json_integer_value(have) != bl->size) {
				rc = err_set(err, BARGE_EDIGEST,
				             "blob %s is %" PRId64
				             " bytes here, %" JSON_INTEGER_FORMAT " in the base",
				             bl->digest, bl->size, json_integer_value(have));
				goto out;
			}
			bl->in_base = 1;
			st->nrequired++;
			st->required_bytes += bl->size;
			continue;
		}
		if (bl->size > INT64_MAX - st->blob_bytes) {
			rc = err_set(err, BARGE_ELIMIT, "blob sizes add up past 2^63");
			goto out;
		}
		st->blob_bytes += bl->size;
		st->nblobs++;
		if (bl->mem != NULL) {
			st->ndownloaded++;
			st->downloaded_bytes += bl->size;
		}
		if (bl->nusers > 1) {
			st->nshared++;
			st->shared_bytes += bl->size * (int64_t)(bl->nusers - 1);
		}
	}
	if ((rc = fetch_prepare(&b)) != BARGE_OK || (rc = fetch_and_write(&b)) != BARGE_OK)
		goto out;
	st->nimages = l->nimages;
out:
	plan_clear(&b.pl);
	json_decref(b.base);
	free(b.img_total);
	free(b.img_done);
	free(b.reqs);
	free(b.req_blob);
	free(b.req_done);
	free(b.cached);
	free(b.cache);
	pthread_cond_destroy(&b.cv);
	pthread_mutex_destroy(&b.mu);
	return rc;
}

/* The lock src names: loaded, and matched against the profiles when both are given. */
static int
load_locked(const struct build_source *src, struct lock **out, struct barge_err *err)
{
	struct profile *p = NULL;
	struct lock *l = NULL;
	int rc;

	if ((rc = lock_load(src->locked, &l, err)) != BARGE_OK)
		return rc;
	if (src->nprofiles > 0 &&
	    ((rc = profile_load_many(src->profiles, src->nprofiles, &p, err)) != BARGE_OK ||
	     (rc = lock_matches_profile(l, p, err)) != BARGE_OK)) {
		profile_free(p);
		lock_free(l);
		return rc;
	}
	profile_free(p);
	*out = l;
	return BARGE_OK;
}

int
build_run(const struct build_source *src, const struct build_opts *o, struct build_result *res,
          struct barge_err *err)
{
	struct build_opts lo = *o;
	struct client *c = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	if (src->locked != NULL)
		rc = load_locked(src, &res->lock, err);
	else
		rc = resolve_profiles(src->profiles, src->nprofiles, src->platforms,
		                      src->nplatforms, src->client, o->progress, o->failed,
		                      o->progress_arg, &res->lock, err);
	if (rc != BARGE_OK)
		return rc;
	res->output = o->output != NULL
	                      ? strdup(o->output)
	                      : fu_printf("%s-%s.tar.zst", res->lock->name, res->lock->version);
	if (res->output == NULL)
		return nomem(err);
	lo.output = res->output;
	/* The build's own client: nothing of the resolving one (tokens, connections) carries over.
	 */
	if ((rc = client_new(src->client, &c, err)) != BARGE_OK)
		return rc;
	rc = build_run_lock(res->lock, c, &lo, &res->stats, err);
	client_free(c);
	return rc;
}

void
build_result_clear(struct build_result *res)
{
	lock_free(res->lock);
	free(res->output);
	memset(res, 0, sizeof(*res));
}
