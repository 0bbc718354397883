/*
 * proxy_blob.c: blobs through the pull-through cache (proxy.h).  A missing
 * blob gets one flight, however many requests want it: the first request
 * finds a source (peers first, then the upstream) and the flight's thread
 * copies the body into a store blob writer; every request reads the
 * writer's file at its own position as the bytes land, one byte short of
 * the end until the digest has been checked and the blob committed.  A
 * flight that breaks or fails to verify is aborted (nothing is kept) and
 * every reader gets an error, so every response is cut short.  It owns the
 * flights' threads, their store handles and writers; a reader owns a
 * reference to its flight.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy_int.h"

#define PROXY_BLOB_CHUNK (256 * 1024)

struct proxy_blob {
	struct proxy *p;
	struct proxy_flight *f;
};

/* Copies the body into the writer; returns how it ended. */
static int
flight_copy(struct proxy *p, struct proxy_flight *f, struct barge_err *err)
{
	size_t got = 0;
	char *buf;
	int rc = BARGE_OK;

	if ((buf = malloc(PROXY_BLOB_CHUNK)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (;;) {
		if (__atomic_load_n(&p->stopping, __ATOMIC_RELAXED)) {
			rc = err_set(err, BARGE_ENET, "barged is stopping");
			break;
		}
		if ((rc = p->ops->read(f->body, buf, PROXY_BLOB_CHUNK, &got, err)) != BARGE_OK ||
		    got == 0)
			break;
		if ((rc = store_blob_write(f->w, buf, got, err)) != BARGE_OK)
			break;
		__atomic_add_fetch(&f->src->bytes, got, __ATOMIC_RELAXED);
		if (f->src->peer)
			__atomic_add_fetch(&p->peerstat.bytes, got, __ATOMIC_RELAXED);
		pthread_mutex_lock(&p->mtx);
		f->written += (int64_t)got;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->mtx);
	}
	free(buf);
	return rc;
}

static void *
flight_run(void *arg)
{
	struct proxy_flight *f = arg;
	struct proxy *p = f->p;
	struct barge_err err = { 0 };
	int rc;

	rc = flight_copy(p, f, &err);
	p->ops->body_close(f->body);
	f->body = NULL;
	/*
	 * Readers get the last byte once the digest is right, not after the
	 * fsync that makes the blob durable (a second or more for a large layer).
	 */
	if (rc == BARGE_OK && (rc = store_blob_verify(f->w, &err)) == BARGE_OK) {
		pthread_mutex_lock(&p->mtx);
		f->verified = 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->mtx);
	}
	if (rc == BARGE_OK)
		rc = store_blob_commit(f->w, &err); /* fsyncs and places it; frees w */
	else
		store_blob_abort(f->w);
	f->w = NULL;
	proxy_flight_end(p, f, rc, &err);
	if (rc == BARGE_OK) {
		proxy_info(p, "proxy: blob %s fetched from %s %s (%lld bytes)", f->digest,
		           f->src->peer ? "peer" : "upstream", f->src->name, (long long)f->written);
		proxy_evict(p, f->store);
	} else {
		if (rc == BARGE_ENET)
			proxy_failed(p, f->src, "blob", &err);
		proxy_warn(p, "proxy: blob %s not kept: %s", f->digest, err.msg);
	}
	store_close(f->store);
	f->store = NULL;
	pthread_mutex_lock(&p->mtx);
	p->nthreads--;
	proxy_flight_unref(p, f);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mtx);
	return NULL;
}

/* A GET of the blob from one source; its body and size. */
static int
open_from(struct proxy *p, struct proxy_src *src, const char *path, const char *digest,
          int deadline_ms, struct proxy_flight *f, struct barge_err *err)
{
	struct upstream_resp resp;
	char url[PROXY_KEY_MAX];

	snprintf(url, sizeof(url), "/v2/%s/blobs/%s", path, digest);
	if (p->ops->request(src->u, url, path, NULL, deadline_ms, &resp, &f->body, err) != BARGE_OK)
		return err->code;
	f->src = src;
	f->size = resp.length;
	return BARGE_OK;
}

/* Finds a source for f: peers first, then repo's upstream. */
static int
flight_source(struct proxy *p, struct proxy_flight *f, const char *repo, struct barge_err *err)
{
	struct proxy_src *peers[PROXY_PEERS_MAX], *up;
	const char *path = NULL;
	size_t n = proxy_peers(p, peers, PROXY_PEERS_MAX), i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = open_from(p, peers[i], repo, f->digest, p->peer_timeout_ms, f, err);
		if (rc == BARGE_OK)
			return BARGE_OK;
		if (rc == BARGE_ENET)
			proxy_failed(p, peers[i], "blob", err);
	}
	if ((up = proxy_route(p, repo, &path)) == NULL)
		return err_set(err, BARGE_ENOTFOUND, "no peer has blob %s", f->digest);
	if (proxy_is_down(up))
		return err_set(err, BARGE_ENET, "upstream %s is down (backing off)", up->name);
	rc = open_from(p, up, path, f->digest, PROXY_FETCH_MS, f, err);
	if (rc == BARGE_ENET || rc == BARGE_EAUTH)
		proxy_failed(p, up, "blob", err);
	return rc;
}

/* Opens the source, the store writer and the thread of a new flight f. */
static int
flight_start(struct proxy *p, struct proxy_flight *f, const char *repo, struct barge_err *err)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if ((rc = flight_source(p, f, repo, err)) != BARGE_OK)
		return rc;
	if ((rc = store_open(p->data_dir, &f->store, err)) != BARGE_OK ||
	    (rc = store_blob_begin(f->store, f->digest, f->size, &f->w, err)) != BARGE_OK ||
	    (rc = store_blob_reopen(f->w, &f->fd, err)) != BARGE_OK)
		goto fail;
	pthread_mutex_lock(&p->mtx);
	f->refs++;
	p->nthreads++;
	pthread_mutex_unlock(&p->mtx);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, flight_run, f);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return BARGE_OK;
	pthread_mutex_lock(&p->mtx);
	f->refs--;
	p->nthreads--;
	pthread_mutex_unlock(&p->mtx);
	rc = err_set(err, BARGE_ENOMEM, "no thread for a fetch");
fail:
	store_blob_abort(f->w);
	f->w = NULL;
	store_close(f->store);
	f->store = NULL;
	p->ops->body_close(f->body);
	f->body = NULL;
	return rc;
}

int
proxy_blob_open(struct proxy *p, const char *repo, const char *digest, struct proxy_blob **out,
                int64_t *size, struct barge_err *err)
{
	struct proxy_flight *f;
	struct proxy_blob *b;
	char key[PROXY_KEY_MAX];
	int rc = BARGE_OK, made;

	if ((rc = proxy_ready(p, err)) != BARGE_OK)
		return rc;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	b->p = p;
	snprintf(key, sizeof(key), "B %s", digest);
	pthread_mutex_lock(&p->mtx);
	if ((f = proxy_flight_get(p, key, &made)) == NULL) {
		pthread_mutex_unlock(&p->mtx);
		free(b);
		return err_set(err, BARGE_ELIMIT, "too many fetches at once");
	}
	if (!made) {
		while (!f->started && !f->done)
			pthread_cond_wait(&p->cond, &p->mtx);
		if (f->done && f->rc != BARGE_OK) {
			rc = f->rc;
			*err = f->err;
			proxy_flight_unref(p, f);
			pthread_mutex_unlock(&p->mtx);
			free(b);
			return rc;
		}
		*size = f->size;
		pthread_mutex_unlock(&p->mtx);
		proxy_count(f->src, PROXY_MISS);
		b->f = f;
		*out = b;
		return BARGE_OK;
	}
	snprintf(f->digest, sizeof(f->digest), "%s", digest);
	pthread_mutex_unlock(&p->mtx);

	if ((rc = flight_start(p, f, repo, err)) != BARGE_OK) {
		proxy_flight_end(p, f, rc, err);
		pthread_mutex_lock(&p->mtx);
		proxy_flight_unref(p, f);
		pthread_mutex_unlock(&p->mtx);
		free(b);
		if (rc != BARGE_ENOTFOUND)
			proxy_warn(p, "proxy: %s@%s: %s", repo, digest, err->msg);
		return rc;
	}
	pthread_mutex_lock(&p->mtx);
	f->started = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mtx);
	proxy_count(f->src, PROXY_MISS);
	*size = f->size;
	b->f = f;
	*out = b;
	return BARGE_OK;
}

int
proxy_blob_head(struct proxy *p, const char *repo, const char *digest, int64_t *size,
                struct barge_err *err)
{
	struct proxy_src *peers[PROXY_PEERS_MAX], *up;
	struct upstream_resp resp;
	char url[PROXY_KEY_MAX];
	const char *path = NULL;
	size_t n, i;
	int rc;

	if ((rc = proxy_ready(p, err)) != BARGE_OK)
		return rc;
	n = proxy_peers(p, peers, PROXY_PEERS_MAX);
	snprintf(url, sizeof(url), "/v2/%s/blobs/%s", repo, digest);
	for (i = 0; i < n; i++)
		if (p->ops->request(peers[i]->u, url, repo, NULL, p->peer_timeout_ms, &resp, NULL,
		                    err) == BARGE_OK) {
			*size = resp.length;
			return BARGE_OK;
		}
	if ((up = proxy_route(p, repo, &path)) == NULL)
		return err_set(err, BARGE_ENOTFOUND, "no peer has blob %s", digest);
	if (proxy_is_down(up))
		return err_set(err, BARGE_ENET, "upstream %s is down (backing off)", up->name);
	snprintf(url, sizeof(url), "/v2/%s/blobs/%s", path, digest);
	rc = p->ops->request(up->u, url, path, NULL, PROXY_FETCH_MS, &resp, NULL, err);
	if (rc == BARGE_ENET || rc == BARGE_EAUTH)
		proxy_failed(p, up, "blob", err);
	*size = resp.length;
	return rc;
}

int
proxy_blob_read(struct proxy_blob *b, uint64_t pos, void *buf, size_t len, size_t *got,
                struct barge_err *err)
{
	struct proxy_flight *f = b->f;
	struct proxy *p = b->p;
	int64_t avail;
	ssize_t n;
	int rc;

	*got = 0;
	pthread_mutex_lock(&p->mtx);
	for (;;) {
		/* Verified bytes stay good even if keeping them fails later. */
		if (f->done && f->rc != BARGE_OK && !f->verified) {
			rc = f->rc;
			*err = f->err;
			pthread_mutex_unlock(&p->mtx);
			return rc;
		}
		/* The last byte waits for the digest: a wrong blob is never complete. */
		avail = f->done || f->verified ? f->written : f->written - 1;
		if ((int64_t)pos < avail || f->done || f->verified)
			break;
		pthread_cond_wait(&p->cond, &p->mtx);
	}
	pthread_mutex_unlock(&p->mtx);
	if ((int64_t)pos >= avail)
		return BARGE_OK;
	if ((uint64_t)(avail - (int64_t)pos) < len)
		len = (size_t)(avail - (int64_t)pos);
	do
		n = pread(f->fd, buf, len, (off_t)pos);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return err_sys(err, BARGE_EIO, n < 0 ? errno : EIO, "blob %s", f->digest);
	*got = (size_t)n;
	return BARGE_OK;
}

void
proxy_blob_close(struct proxy_blob *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->p->mtx);
	proxy_flight_unref(b->p, b->f);
	pthread_mutex_unlock(&b->p->mtx);
	free(b);
}
