/*
 * isowrite_hash: the thread that hashes a bundle while libisofs writes it
 * (see isowrite_int.h).  A hasher owns its thread, its digest and its
 * chunks; the bundle stream that made it frees it.
 */
#include <stdlib.h>

#include "isowrite_int.h"

/* Chunks read ahead of the hashing thread. */
#define HASH_BUFS 4

/*
 * Hashes the chunks a bundle stream reads, in a thread of its own: sha256
 * is most of the work of libisofs' writer thread otherwise, and beside it
 * the reads, libisofs and the disk go on.  The stream fills the chunks in
 * turn and fills one again only once it was hashed.
 */
struct hasher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	struct digest_ctx *d;
	unsigned char *buf[HASH_BUFS];
	size_t len[HASH_BUFS];
	uint64_t filled, hashed; /* chunks */
	int stop, rc;
	struct barge_err err;
};

static void *
hasher_main(void *arg)
{
	struct hasher *h = arg;
	struct barge_err e;
	size_t k;
	int rc;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (h->hashed == h->filled && !h->stop)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->hashed == h->filled)
			break;
		k = h->hashed % HASH_BUFS;
		/* After a failure, chunks are only taken, so that the stream never waits in vain.
		 */
		rc = h->rc;
		pthread_mutex_unlock(&h->mu);
		if (rc == BARGE_OK)
			rc = digest_update(h->d, h->buf[k], h->len[k], &e);
		pthread_mutex_lock(&h->mu);
		if (rc != BARGE_OK && h->rc == BARGE_OK) {
			h->rc = rc;
			h->err = e;
		}
		h->hashed++;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

void
hasher_free(struct hasher *h)
{
	size_t k;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->th, NULL);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	digest_free(h->d);
	for (k = 0; k < HASH_BUFS; k++)
		free(h->buf[k]);
	free(h);
}

int
hasher_new(struct hasher **out, struct barge_err *err)
{
	struct hasher *h = calloc(1, sizeof(*h));
	size_t k;
	int rc;

	if (h == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (k = 0; k < HASH_BUFS; k++)
		if ((h->buf[k] = malloc(READ_CHUNK)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto fail;
		}
	if ((rc = digest_new(DIGEST_SHA256, &h->d, err)) != BARGE_OK)
		goto fail;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if ((rc = pthread_create(&h->th, NULL, hasher_main, h)) != 0) {
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mu);
		rc = err_sys(err, BARGE_EINTERNAL, rc, "starting a thread");
		goto fail;
	}
	*out = h;
	return BARGE_OK;
fail:
	digest_free(h->d);
	for (k = 0; k < HASH_BUFS; k++)
		free(h->buf[k]);
	free(h);
	return rc;
}

/* The chunk to fill next, once the hasher is done with what it held. */
unsigned char *
hasher_next(struct hasher *h)
{
	unsigned char *buf;

	pthread_mutex_lock(&h->mu);
	while (h->filled - h->hashed >= HASH_BUFS)
		pthread_cond_wait(&h->cv, &h->mu);
	buf = h->buf[h->filled % HASH_BUFS];
	pthread_mutex_unlock(&h->mu);
	return buf;
}

/* Hands the chunk hasher_next gave, filled with len bytes, to the hasher. */
void
hasher_submit(struct hasher *h, size_t len)
{
	pthread_mutex_lock(&h->mu);
	h->len[h->filled % HASH_BUFS] = len;
	h->filled++;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Waits for every chunk to be hashed; the digest into out. */
int
hasher_finish(struct hasher *h, char *out, struct barge_err *err)
{
	int rc;

	pthread_mutex_lock(&h->mu);
	while (h->hashed != h->filled && h->rc == BARGE_OK)
		pthread_cond_wait(&h->cv, &h->mu);
	if ((rc = h->rc) != BARGE_OK)
		err_set(err, rc, "%s", h->err.msg);
	pthread_mutex_unlock(&h->mu);
	return rc != BARGE_OK ? rc : digest_final(h->d, out, err);
}
