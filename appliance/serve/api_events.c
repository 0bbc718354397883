/*
 * api_events.c: the ring of recent webhook decisions and loads
 * (api_events.h); texts are kept as valid UTF-8 (api_text_copy).  It owns the ring: API_EVENTS_MAX
 * fixed-size entries under a mutex, allocated once, so that memory stays bounded.
 */
#include "api_events.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"

struct event {
	time_t time;
	char kind[16];
	char summary[API_EVENT_TEXT_MAX];
	char detail[API_EVENT_TEXT_MAX];
};

struct api_events {
	pthread_mutex_t mtx; /* guards what follows */
	struct event *ring;  /* API_EVENTS_MAX */
	size_t next;         /* where the next event goes */
	size_t count;        /* events held, at most API_EVENTS_MAX */
};

int
api_events_new(struct api_events **out, struct barge_err *err)
{
	struct api_events *e;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->ring = calloc(API_EVENTS_MAX, sizeof(*e->ring))) == NULL) {
		free(e);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&e->mtx, NULL);
	*out = e;
	return BARGE_OK;
}

void
api_events_free(struct api_events *e)
{
	if (e == NULL)
		return;
	pthread_mutex_destroy(&e->mtx);
	free(e->ring);
	free(e);
}

void
api_events_add(void *arg, const char *kind, const char *summary, const char *detail)
{
	struct api_events *e = arg;
	struct event *ev;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mtx);
	ev = &e->ring[e->next];
	ev->time = time(NULL);
	snprintf(ev->kind, sizeof(ev->kind), "%s", kind);
	/* Cut on a character boundary, bad bytes replaced: JSON takes UTF-8 only. */
	api_text_copy(ev->summary, sizeof(ev->summary), summary);
	api_text_copy(ev->detail, sizeof(ev->detail), detail != NULL ? detail : "");
	e->next = (e->next + 1) % API_EVENTS_MAX;
	if (e->count < API_EVENTS_MAX)
		e->count++;
	pthread_mutex_unlock(&e->mtx);
}

json_t *
api_events_json(struct api_events *e, const char *kind, size_t n)
{
	json_t *list;
	struct tm tm;
	char when[32];
	size_t i, at;
	int failed = 0;

	if ((list = json_array()) == NULL)
		return NULL;
	if (n == 0 || n > API_EVENTS_MAX)
		n = API_EVENTS_MAX;
	pthread_mutex_lock(&e->mtx);
	for (i = 0; i < e->count && json_array_size(list) < n; i++) {
		const struct event *ev;

		at = (e->next + API_EVENTS_MAX - 1 - i) % API_EVENTS_MAX;
		ev = &e->ring[at];
		if (kind != NULL && strcmp(kind, ev->kind) != 0)
			continue;
		gmtime_r(&ev->time, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "time", when, "kind",
		                                          ev->kind, "summary", ev->summary,
		                                          "detail", ev->detail)) != 0)
			failed = 1;
	}
	pthread_mutex_unlock(&e->mtx);
	if (failed) {
		json_decref(list);
		return NULL;
	}
	return list;
}
