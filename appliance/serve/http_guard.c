/*
 * http_guard: deadlines for request heads and room for new connections
 * (see http_guard.h).  It owns the list of connections waiting for a head,
 * oldest first, and the thread that ends the overdue ones.
 */
#include "http_guard.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct http_guard_conn {
	struct http_guard_conn *prev;
	struct http_guard_conn *next;
	int fd;
	uint64_t since_ms; /* when it began to wait (monotonic) */
	int waiting;
};

struct http_guard {
	uint64_t limit_ms;
	unsigned evict_at;
	pthread_mutex_t mtx; /* everything below */
	pthread_cond_t cond;
	pthread_t reaper;
	int stop;
	unsigned nconns;
	/* Waiting for a head, in the order they began to: the order of their deadlines. */
	struct http_guard_conn *head;
	struct http_guard_conn *tail;
};

static uint64_t
http_guard_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Adds c to the end of the waiting list, or takes it off.  Under mtx. */
static void
http_guard_list(struct http_guard *g, struct http_guard_conn *c, int waiting)
{
	if (waiting == c->waiting)
		return;
	if (waiting) {
		c->since_ms = http_guard_now_ms();
		c->prev = g->tail;
		c->next = NULL;
		if (g->tail != NULL)
			g->tail->next = c;
		else
			g->head = c;
		g->tail = c;
	} else {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			g->head = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		else
			g->tail = c->prev;
		c->prev = c->next = NULL;
	}
	c->waiting = waiting;
}

/*
 * Ends a waiting connection.  Servers such as libmicrohttpd have no call
 * to close a connection from outside their own threads; a socket shut
 * down reads as the client's close there.  Under mtx.
 */
static void
http_guard_cut(struct http_guard *g, struct http_guard_conn *c)
{
	(void)shutdown(c->fd, SHUT_RDWR);
	http_guard_list(g, c, 0);
}

/*
 * Ends the connections whose head is overdue, then sleeps until the first
 * deadline left: a connection listed later has a later deadline than any
 * wake-up already planned.
 */
static void *
http_guard_reaper(void *arg)
{
	struct http_guard *g = arg;
	struct timespec ts;
	uint64_t now, wake;

	pthread_mutex_lock(&g->mtx);
	while (!g->stop) {
		now = http_guard_now_ms();
		while (g->head != NULL && now - g->head->since_ms >= g->limit_ms)
			http_guard_cut(g, g->head);
		wake = (g->head != NULL ? g->head->since_ms : now) + g->limit_ms;
		ts.tv_sec = (time_t)(wake / 1000);
		ts.tv_nsec = (long)(wake % 1000) * 1000000;
		(void)pthread_cond_timedwait(&g->cond, &g->mtx, &ts);
	}
	pthread_mutex_unlock(&g->mtx);
	return NULL;
}

int
http_guard_new(unsigned head_timeout, unsigned evict_at, struct http_guard **out,
               struct barge_err *err)
{
	struct http_guard *g;
	pthread_condattr_t cattr;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return err_set(err, BARGE_ENOMEM, "http server: out of memory");
	g->limit_ms = (uint64_t)head_timeout * 1000;
	g->evict_at = evict_at;
	pthread_mutex_init(&g->mtx, NULL);
	/* Deadlines are on the monotonic clock: a change of the date moves none. */
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &cattr);
	pthread_condattr_destroy(&cattr);
	if (pthread_create(&g->reaper, NULL, http_guard_reaper, g) != 0) {
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->mtx);
		free(g);
		return err_set(err, BARGE_ENOMEM, "http server: cannot start a thread");
	}
	*out = g;
	return BARGE_OK;
}

void
http_guard_free(struct http_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mtx);
	g->stop = 1;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->mtx);
	pthread_join(g->reaper, NULL);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->mtx);
	free(g);
}

struct http_guard_conn *
http_guard_open(struct http_guard *g, int fd)
{
	struct http_guard_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	pthread_mutex_lock(&g->mtx);
	g->nconns++;
	http_guard_list(g, c, 1);
	if (g->nconns > g->evict_at && g->head != c)
		http_guard_cut(g, g->head);
	pthread_mutex_unlock(&g->mtx);
	return c;
}

void
http_guard_wait(struct http_guard *g, struct http_guard_conn *c, int waiting)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&g->mtx);
	http_guard_list(g, c, waiting);
	pthread_mutex_unlock(&g->mtx);
}

void
http_guard_close(struct http_guard *g, struct http_guard_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&g->mtx);
	http_guard_list(g, c, 0);
	g->nconns--;
	pthread_mutex_unlock(&g->mtx);
	free(c);
}
