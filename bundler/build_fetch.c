/*
 * build_fetch: the download thread of a build (build_int.h).  It asks the
 * blob cache (fetch.h) for the bundle's configs and layers in the bundle's
 * order, turns the cache's progress into per-image and total bytes, and
 * tells the writer as each blob arrives, verified.  It owns the requests
 * and the record of which blobs are at hand, under the struct bctx's mu.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "build_int.h"
#include "localsrc.h"

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
int
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
		return build_nomem(b->err);
	if ((rc = fetch_cache_init(b->cache, b->err)) != BARGE_OK ||
	    (rc = cache_local(b)) != BARGE_OK)
		return rc;
	if ((b->reqs = calloc(b->pl.nblobs + 1, sizeof(*b->reqs))) == NULL ||
	    (b->req_blob = calloc(b->pl.nblobs + 1, sizeof(*b->req_blob))) == NULL ||
	    (b->req_done = calloc(b->pl.nblobs + 1, sizeof(*b->req_done))) == NULL ||
	    (b->cached = calloc(b->pl.nblobs + 1, sizeof(*b->cached))) == NULL)
		return build_nomem(b->err);
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
	build_note(b, "pulling %zu blobs", b->nreqs);
	return BARGE_OK;
}

/* The download thread: has every request in the cache, verified, or says why not. */
void *
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
int
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
int
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
