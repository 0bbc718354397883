/*
 * registry_session.c: the in-memory side of upload sessions (struct
 * registry_session, under the registry's mutex): the running hash of each
 * session, the busy mark that keeps two requests from writing one session
 * at once, and the sweep of stale sessions.  The sessions' bytes and rows
 * are the store's (store_push.h); this file owns only the list entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

#define REGISTRY_EXPIRE_EVERY 600 /* seconds between sweeps of stale sessions */

void
registry_session_free(struct registry_session *n)
{
	digest_free(n->ctx);
	free(n);
}

void
registry_session_add(struct registry *r, const char *id)
{
	struct barge_err err = { 0 };
	struct registry_session *n;

	pthread_mutex_lock(&r->mtx);
	if ((n = calloc(1, sizeof(*n))) != NULL) {
		snprintf(n->id, sizeof(n->id), "%s", id);
		if (digest_new(DIGEST_SHA256, &n->ctx, &err) != BARGE_OK)
			n->ctx = NULL;
		n->next = r->sessions;
		r->sessions = n;
	}
	pthread_mutex_unlock(&r->mtx);
}

int
registry_session_take(struct registry *r, const char *id, struct registry_session **out)
{
	struct registry_session *n;

	pthread_mutex_lock(&r->mtx);
	for (n = r->sessions; n != NULL; n = n->next)
		if (strcmp(n->id, id) == 0)
			break;
	if (n == NULL && (n = calloc(1, sizeof(*n))) != NULL) {
		/* Started before a restart: no running hash. */
		snprintf(n->id, sizeof(n->id), "%s", id);
		n->next = r->sessions;
		r->sessions = n;
	}
	if (n == NULL || n->busy) {
		pthread_mutex_unlock(&r->mtx);
		return n == NULL ? BARGE_ENOMEM : BARGE_EEXIST;
	}
	n->busy = 1;
	pthread_mutex_unlock(&r->mtx);
	*out = n;
	return BARGE_OK;
}

void
registry_session_release(struct registry *r, struct registry_session *n)
{
	pthread_mutex_lock(&r->mtx);
	n->busy = 0;
	pthread_mutex_unlock(&r->mtx);
}

void
registry_session_drop(struct registry *r, const char *id)
{
	struct registry_session **pp, *n;

	pthread_mutex_lock(&r->mtx);
	for (pp = &r->sessions; (n = *pp) != NULL; pp = &n->next) {
		if (strcmp(n->id, id) == 0) {
			*pp = n->next;
			registry_session_free(n);
			break;
		}
	}
	pthread_mutex_unlock(&r->mtx);
}

void
registry_session_expire(struct registry *r, struct store *s)
{
	struct registry_session **pp, *n;
	struct barge_err err = { 0 };
	time_t now = time(NULL);
	int gone = 0;

	pthread_mutex_lock(&r->mtx);
	if (r->last_expire != 0 && now - r->last_expire < REGISTRY_EXPIRE_EVERY) {
		pthread_mutex_unlock(&r->mtx);
		return;
	}
	r->last_expire = now;
	pthread_mutex_unlock(&r->mtx);
	if (store_upload_expire(s, r->upload_max_age, &gone, &err) != BARGE_OK) {
		if (r->log_error != NULL)
			r->log_error(err.msg);
		return;
	}
	if (gone == 0)
		return;
	/* Point lookups, cheap enough to hold the lock over. */
	pthread_mutex_lock(&r->mtx);
	for (pp = &r->sessions; (n = *pp) != NULL;) {
		if (!n->busy && !store_upload_exists(s, n->id)) {
			*pp = n->next;
			registry_session_free(n);
		} else {
			pp = &n->next;
		}
	}
	pthread_mutex_unlock(&r->mtx);
}
