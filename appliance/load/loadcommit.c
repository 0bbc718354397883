/*
 * loadcommit: the committer thread of one load (loadcommit.h).  Owns the
 * thread, its queue of blob writers, and the first failure it met.
 */
#include "loadcommit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bundle.h"

struct pending {
	struct store_blob_writer *w;
	int *written;
	int64_t size;
	char name[BUNDLE_NAME_MAX + 1];
};

struct loadcommit {
	const char *path;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work; /* an item was queued, or stop */
	pthread_cond_t done; /* an item was committed */
	struct pending q[LOADCOMMIT_QUEUE];
	size_t head, n; /* n counts queued and in-flight items */
	int stop;
	int rc; /* the first failure, detail in err */
	struct barge_err err;
	size_t blobs;
	int64_t bytes;
};

static void *
committer_main(void *arg)
{
	struct loadcommit *c = arg;
	struct barge_err err;
	struct pending p;
	int rc, failed;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->n == 0 && !c->stop)
			pthread_cond_wait(&c->work, &c->mu);
		if (c->n == 0)
			break;
		p = c->q[c->head];
		failed = c->rc != BARGE_OK;
		pthread_mutex_unlock(&c->mu);
		/* After a failure the rest are only dropped: the load is lost anyway. */
		if (!failed) {
			err_clear(&err);
			rc = store_blob_commit(p.w, &err);
		} else {
			store_blob_abort(p.w);
			rc = BARGE_OK;
		}
		pthread_mutex_lock(&c->mu);
		if (rc != BARGE_OK && c->rc == BARGE_OK) {
			c->rc = rc;
			c->err = err;
			err_prefix(&c->err, "%s: entry \"%s\"", c->path, p.name);
		} else if (rc == BARGE_OK && c->rc == BARGE_OK) {
			*p.written = 1;
			c->blobs++;
			c->bytes += p.size;
		}
		c->head = (c->head + 1) % LOADCOMMIT_QUEUE;
		c->n--;
		pthread_cond_broadcast(&c->done);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void
destroy(struct loadcommit *c)
{
	pthread_cond_destroy(&c->done);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int
loadcommit_start(const char *path, struct loadcommit **out, struct barge_err *err)
{
	struct loadcommit *c;
	int e;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	c->path = path;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->done, NULL);
	if ((e = pthread_create(&c->thread, NULL, committer_main, c)) != 0) {
		destroy(c);
		return err_sys(err, BARGE_EINTERNAL, e, "start the committer thread");
	}
	*out = c;
	return BARGE_OK;
}

int
loadcommit_put(struct loadcommit *c, struct store_blob_writer *w, int *written, int64_t size,
               const char *name, struct barge_err *err)
{
	struct pending *p;
	int rc;

	pthread_mutex_lock(&c->mu);
	while (c->n == LOADCOMMIT_QUEUE)
		pthread_cond_wait(&c->done, &c->mu);
	if ((rc = c->rc) != BARGE_OK) {
		*err = c->err;
		pthread_mutex_unlock(&c->mu);
		store_blob_abort(w);
		return rc;
	}
	p = &c->q[(c->head + c->n) % LOADCOMMIT_QUEUE];
	p->w = w;
	p->written = written;
	p->size = size;
	snprintf(p->name, sizeof(p->name), "%s", name);
	c->n++;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
	return BARGE_OK;
}

int
loadcommit_finish(struct loadcommit *c, size_t *blobs, int64_t *bytes, struct barge_err *err)
{
	int rc;

	if (c == NULL)
		return BARGE_OK;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	if ((rc = c->rc) != BARGE_OK)
		*err = c->err;
	*blobs += c->blobs;
	*bytes += c->bytes;
	destroy(c);
	return rc;
}
