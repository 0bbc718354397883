/*
 * api_session.c: the admin API's login sessions and login rate limit
 * (api_session.h).  It owns the session table and the table of client
 * addresses with recent failures, both fixed-size and under one mutex.
 */
#include "api_session.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

struct slot {
	int used;
	char sid[API_SID_LEN + 1];
	char csrf[API_SID_LEN + 1];
	char subject[AUTH_SUBJECT_MAX];
	long long token_created; /* a read-only token's, to tell a re-made one apart */
	unsigned pw_gen;         /* admin's password generation at login */
	time_t born;
	time_t expires;
};

struct client {
	char addr[API_ADDR_MAX];
	time_t window; /* when its first counted failure was; 0: slot free */
	unsigned fails;
};

struct api_sessions {
	struct auth *auth;
	pthread_mutex_t mtx; /* guards the tables */
	/* Allocated at the first login, and at the first failure: an idle barged holds neither. */
	struct slot *slot;      /* API_SESSIONS_MAX */
	struct client *clients; /* API_CLIENTS_MAX */
};

int
api_sessions_new(struct auth *a, struct api_sessions **out, struct barge_err *err)
{
	struct api_sessions *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	s->auth = a;
	pthread_mutex_init(&s->mtx, NULL);
	*out = s;
	return BARGE_OK;
}

void
api_sessions_free(struct api_sessions *s)
{
	if (s == NULL)
		return;
	if (s->slot != NULL)
		explicit_bzero(s->slot, API_SESSIONS_MAX * sizeof(*s->slot));
	pthread_mutex_destroy(&s->mtx);
	free(s->slot);
	free(s->clients);
	free(s);
}

/* 32 random bytes as 64 hex digits. */
static int
random_hex(char *out)
{
	unsigned char r[API_SID_LEN / 2];
	size_t i, got = 0;
	ssize_t n;

	while (got < sizeof(r)) {
		n = getrandom(r + got, sizeof(r) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	explicit_bzero(r, sizeof(r));
	return 0;
}

static int
is_hex64(const char *s, size_t len)
{
	return len == API_SID_LEN && strspn(s, "0123456789abcdef") >= API_SID_LEN;
}

int
api_cookie_sid(const char *cookie, char *sid)
{
	static const char name[] = "barge_session=";
	const char *p = cookie, *v;
	size_t len;

	/* Cookie: a=1; barge_session=...; b=2 (RFC 6265 section 4.2.1). */
	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, sizeof(name) - 1) == 0) {
			v = p + sizeof(name) - 1;
			len = strcspn(v, "; ");
			if (!is_hex64(v, len))
				return 0;
			memcpy(sid, v, API_SID_LEN);
			sid[API_SID_LEN] = '\0';
			return 1;
		}
		p = strchr(p, ';');
	}
	return 0;
}

int
api_csrf_ok(const char *csrf, const char *given)
{
	return given != NULL && strlen(given) == API_SID_LEN &&
	       CRYPTO_memcmp(csrf, given, API_SID_LEN) == 0;
}

/* --- the rate limit -------------------------------------------------------- */

/* The client slot of addr, taking the oldest one when addr has none; NULL when out of memory.  With
 * mtx held. */
static struct client *
client_of(struct api_sessions *s, const char *addr)
{
	struct client *c, *oldest;
	size_t i;

	if (s->clients == NULL && (s->clients = calloc(API_CLIENTS_MAX, sizeof(*c))) == NULL)
		return NULL;
	oldest = &s->clients[0];
	for (i = 0; i < API_CLIENTS_MAX; i++) {
		c = &s->clients[i];
		if (c->window != 0 && strcmp(c->addr, addr) == 0)
			return c;
		if (c->window < oldest->window)
			oldest = c;
	}
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	return oldest;
}

/* Seconds addr must still wait, or 0.  With mtx held. */
static int
client_wait(struct api_sessions *s, const char *addr, time_t now)
{
	size_t i;

	for (i = 0; s->clients != NULL && i < API_CLIENTS_MAX; i++) {
		struct client *c = &s->clients[i];

		if (c->window == 0 || strcmp(c->addr, addr) != 0)
			continue;
		if (now - c->window >= API_LOGIN_WINDOW) {
			memset(c, 0, sizeof(*c));
			return 0;
		}
		return c->fails >= API_LOGIN_FAILS ? (int)(c->window + API_LOGIN_WINDOW - now) : 0;
	}
	return 0;
}

int
api_login_wait(struct api_sessions *s, const char *addr, time_t now)
{
	int wait;

	pthread_mutex_lock(&s->mtx);
	wait = client_wait(s, addr, now);
	pthread_mutex_unlock(&s->mtx);
	return wait;
}

void
api_login_failed(struct api_sessions *s, const char *addr, time_t now)
{
	struct client *c;

	pthread_mutex_lock(&s->mtx);
	if ((c = client_of(s, addr)) != NULL) {
		if (c->window == 0)
			c->window = now;
		c->fails++;
	}
	pthread_mutex_unlock(&s->mtx);
}

/* --- sessions --------------------------------------------------------------- */

/* The slot sid names, or NULL.  Every slot is compared, in constant time each.  With mtx held. */
static struct slot *
slot_of(struct api_sessions *s, const char *sid)
{
	struct slot *found = NULL;
	size_t i;

	for (i = 0; s->slot != NULL && i < API_SESSIONS_MAX; i++)
		if (s->slot[i].used && CRYPTO_memcmp(s->slot[i].sid, sid, API_SID_LEN) == 0)
			found = &s->slot[i];
	return found;
}

/* A free slot, or the oldest session's; NULL when out of memory.  With mtx held. */
static struct slot *
slot_new(struct api_sessions *s, time_t now)
{
	struct slot *oldest;
	size_t i;

	if (s->slot == NULL && (s->slot = calloc(API_SESSIONS_MAX, sizeof(*oldest))) == NULL)
		return NULL;
	oldest = &s->slot[0];
	for (i = 0; i < API_SESSIONS_MAX; i++) {
		if (!s->slot[i].used || s->slot[i].expires <= now)
			return &s->slot[i];
		if (s->slot[i].born < oldest->born)
			oldest = &s->slot[i];
	}
	return oldest;
}

int
api_session_login(struct api_sessions *s, const char *addr, const char *user, const char *pw,
                  size_t len, time_t now, char *sid, struct api_session *out, int *retry_after)
{
	struct auth_identity id;
	struct slot *sl;
	unsigned gen = 0;

	if ((*retry_after = api_login_wait(s, addr, now)) > 0)
		return BARGE_ELIMIT;
	if (strcmp(user, "admin") == 0)
		gen = auth_password_generation(s->auth);
	if (auth_check_password(s->auth, user, pw, len, &id) != BARGE_OK) {
		api_login_failed(s, addr, now);
		return BARGE_EAUTH;
	}
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->expires = now + API_SESSION_TTL;
	/* A token that expires sooner ends its session then. */
	if (id.expires != 0 && id.expires < (long long)out->expires)
		out->expires = (time_t)id.expires;
	pthread_mutex_lock(&s->mtx);
	if ((sl = slot_new(s, now)) == NULL) {
		pthread_mutex_unlock(&s->mtx);
		return BARGE_ENOMEM;
	}
	memset(sl, 0, sizeof(*sl));
	if (random_hex(sl->sid) != 0 || random_hex(sl->csrf) != 0) {
		memset(sl, 0, sizeof(*sl));
		pthread_mutex_unlock(&s->mtx);
		return BARGE_EIO;
	}
	sl->used = 1;
	snprintf(sl->subject, sizeof(sl->subject), "%s", id.subject);
	sl->token_created = id.created;
	sl->pw_gen = gen;
	sl->born = now;
	sl->expires = out->expires;
	memcpy(sid, sl->sid, API_SID_LEN + 1);
	memcpy(out->csrf, sl->csrf, API_SID_LEN + 1);
	pthread_mutex_unlock(&s->mtx);
	return BARGE_OK;
}

int
api_session_get(struct api_sessions *s, const char *sid, time_t now, struct api_session *out)
{
	struct slot *sl, copy;
	int admin, ok;

	pthread_mutex_lock(&s->mtx);
	sl = slot_of(s, sid);
	if (sl != NULL && sl->expires <= now) {
		memset(sl, 0, sizeof(*sl));
		sl = NULL;
	}
	if (sl != NULL)
		copy = *sl;
	pthread_mutex_unlock(&s->mtx);
	if (sl == NULL)
		return BARGE_EAUTH;
	/* The identity as it is now: a password changed or a token removed ends the session. */
	memset(out, 0, sizeof(*out));
	admin = strcmp(copy.subject, "admin") == 0;
	ok = auth_subject_identity(s->auth, copy.subject, &out->id) == BARGE_OK &&
	     (admin ? auth_password_generation(s->auth) == copy.pw_gen
	            : out->id.created == copy.token_created);
	if (!ok) {
		api_session_end(s, sid);
		explicit_bzero(&copy, sizeof(copy));
		return BARGE_EAUTH;
	}
	memcpy(out->csrf, copy.csrf, sizeof(out->csrf));
	out->expires = copy.expires;
	explicit_bzero(&copy, sizeof(copy));
	return BARGE_OK;
}

void
api_session_end(struct api_sessions *s, const char *sid)
{
	struct slot *sl;

	pthread_mutex_lock(&s->mtx);
	if ((sl = slot_of(s, sid)) != NULL)
		explicit_bzero(sl, sizeof(*sl));
	pthread_mutex_unlock(&s->mtx);
}
