/*
 * api_session: the login sessions of the admin API (docs/api.md), and the
 * login rate limit.
 *
 * A login checks a user and password through auth (admin's password, or a
 * read-only token's name and the token: a read-only session) and makes a
 * session: a random id (the cookie barge_session) and a random CSRF token
 * that every cookie-authenticated POST, PUT and DELETE must echo in
 * X-CSRF-Token.  Both are 64 hex digits.  Sessions live API_SESSION_TTL
 * seconds at most; at most API_SESSIONS_MAX exist at once (a new login
 * pushes the oldest out).  A session stops at once when its identity does:
 * admin's when the password changes (auth_password_generation), a
 * read-only one when its token is removed, re-made or expires.
 *
 * Failed logins are counted per client address: API_LOGIN_FAILS failures
 * within API_LOGIN_WINDOW seconds refuse further attempts (right or wrong)
 * until the window that began with the first failure ends.  Basic
 * credentials sent to the API are logins too (api.c counts them with
 * api_login_wait and api_login_failed).  At most
 * API_CLIENTS_MAX addresses are remembered; beyond, the one whose window
 * began longest ago is forgotten.
 *
 * struct api_sessions is safe to use from several threads at once; it
 * borrows the auth handle, which must outlive it.
 */
#ifndef BARGE_API_SESSION_H
#define BARGE_API_SESSION_H

#include <stddef.h>
#include <time.h>

#include "auth.h"
#include "err.h"

#define API_SESSION_TTL  (12 * 3600)
#define API_SESSIONS_MAX 64
#define API_LOGIN_FAILS  5
#define API_LOGIN_WINDOW 60
#define API_CLIENTS_MAX  1024
#define API_SID_LEN      64 /* hex digits of a session id, and of a CSRF token */
#define API_ADDR_MAX     64

struct api_sessions;

/* What a valid session stands for. */
struct api_session {
	struct auth_identity id; /* as it is now (auth_subject_identity) */
	char csrf[API_SID_LEN + 1];
	time_t expires;
};

int api_sessions_new(struct auth *a, struct api_sessions **out,
                     struct barge_err *err) BARGE_MUST_CHECK;
void api_sessions_free(struct api_sessions *s);

/*
 * Logs user in with pw (len bytes) from the client address addr at now.
 * BARGE_OK: sid (API_SID_LEN + 1 bytes) holds the new session's id and
 * out what it stands for.  BARGE_EAUTH for wrong credentials (counted);
 * BARGE_ELIMIT when addr is refused for now: *retry_after says for how
 * many seconds more.
 */
int api_session_login(struct api_sessions *s, const char *addr, const char *user, const char *pw,
                      size_t len, time_t now, char *sid, struct api_session *out,
                      int *retry_after) BARGE_MUST_CHECK;
/* Seconds a login from addr must still wait at now (the limit above), or 0. */
int api_login_wait(struct api_sessions *s, const char *addr, time_t now);
/* Counts a failed login from addr at now. */
void api_login_failed(struct api_sessions *s, const char *addr, time_t now);
/* The session sid names, if valid at now.  BARGE_EAUTH when not (ended ones are forgotten). */
int api_session_get(struct api_sessions *s, const char *sid, time_t now,
                    struct api_session *out) BARGE_MUST_CHECK;
/* Ends the session sid names, if any. */
void api_session_end(struct api_sessions *s, const char *sid);
/* Whether given (may be NULL) is the CSRF token csrf, compared in constant time. */
int api_csrf_ok(const char *csrf, const char *given);
/*
 * The value of the cookie barge_session in a Cookie header (NULL: none),
 * copied into sid (API_SID_LEN + 1 bytes).  0 when absent or not 64 hex
 * digits.
 */
int api_cookie_sid(const char *cookie, char *sid);

#endif
