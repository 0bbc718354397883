/*
 * auth: who may pull and push (DESIGN §9).
 *
 * Identities:
 *   admin      the one user that may push and delete; its password comes
 *              from a configured file, or is generated at first start
 *              (24 random characters) into DATA_DIR/admin.password (0600).
 *              Only a PBKDF2-HMAC-SHA256 hash of it is kept in memory.
 *   token:NAME a read-only token, made by `barged token create`: pull only.
 *              DATA_DIR/tokens.json keeps the SHA-256 of each token, never
 *              the token; the file is re-read when it changes, so tokens
 *              made or removed while barged runs take effect at once.
 *              Clients send it as Basic NAME:TOKEN or as Bearer TOKEN.
 *              A token may carry an expiry (refused from then on) and a
 *              repository scope: glob patterns (fnmatch(3), where '*'
 *              also matches '/') of the repository names, as clients write
 *              them, it may pull; a scoped token never reads the catalog.
 *              Entries without either (files older than both) are
 *              unscoped and never expire.
 *   anonymous  pull only, and only when anonymous pull is on.
 *
 * Session tokens (the Docker token dance: /token, token.h) are opaque
 * strings "PAYLOAD.MAC", both base64url: the payload names the subject,
 * the expiry and the granted scopes, the MAC is HMAC-SHA256 under a key
 * drawn at random per process (a restart makes clients fetch a new token,
 * which they do on any 401).  Every secret is
 * compared in constant time (CRYPTO_memcmp).  Nothing here logs; callers
 * must never log credentials either.
 *
 * struct auth is safe to use from several threads at once.
 */
#ifndef BARGE_AUTH_H
#define BARGE_AUTH_H

#include <stddef.h>
#include <time.h>

#include "err.h"

#define AUTH_PULL   1u
#define AUTH_PUSH   2u
#define AUTH_DELETE 4u
#define AUTH_ALL    (AUTH_PULL | AUTH_PUSH | AUTH_DELETE)

#define AUTH_TOKEN_TTL      300  /* seconds a session token lives */
#define AUTH_SCOPES_MAX     16   /* scopes in one token */
#define AUTH_NAME_MAX       512  /* a scope's resource name */
#define AUTH_SUBJECT_MAX    80   /* "admin", "anonymous", "token:NAME" */
#define AUTH_TOKEN_MAX      8192 /* longest Authorization value looked at */
#define AUTH_PASSWORD_MAX   1024 /* longest password file read */
#define AUTH_TOKENS_MAX     1000 /* read-only tokens in tokens.json */
#define AUTH_TOKEN_NAME_MAX 64
#define AUTH_GLOBS_MAX      8   /* repository globs of one read-only token */
#define AUTH_GLOB_MAX       256 /* bytes of one glob, NUL included */

struct auth;

struct auth_opts {
	const char *data_dir;            /* holds admin.password and tokens.json */
	const char *admin_password_file; /* NULL: DATA_DIR/admin.password, generated if absent */
	int anonymous_pull;
	unsigned pbkdf2_iter; /* 0: the default (AUTH_PBKDF2_ITER); tests use fewer */
	/*
	 * Hash the password in a child process (oneshot.h), so that a daemon
	 * initialises OpenSSL only when a request needs it; only while no
	 * other thread runs.
	 */
	int isolate;
};

#define AUTH_PBKDF2_ITER 20000

/* An authenticated caller: its name and the most it may ever do. */
struct auth_identity {
	char subject[AUTH_SUBJECT_MAX];
	unsigned actions;
	long long created; /* of a read-only token (tells a re-made one apart); else 0 */
	long long expires; /* Unix seconds after which it is refused; 0: never */
	size_t nscope;     /* 0: every repository */
	char scope[AUTH_GLOBS_MAX][AUTH_GLOB_MAX];
};

/* One scope: "repository:NAME:pull,push" or "registry:catalog:*". */
struct auth_scope {
	char type[16];
	char name[AUTH_NAME_MAX];
	unsigned actions;
};

/* What a session token grants. */
struct auth_grant {
	char subject[AUTH_SUBJECT_MAX];
	time_t expires;
	size_t n;
	struct auth_scope scope[AUTH_SCOPES_MAX];
};

/*
 * Loads the admin password (generating and writing it first when needed:
 * *generated is set to 1 then) and draws the token key.
 */
int auth_new(const struct auth_opts *o, struct auth **out, int *generated,
             struct barge_err *err) BARGE_MUST_CHECK;
void auth_free(struct auth *a);
/* The file the admin password is read from (for the log: never log its content). */
const char *auth_password_path(const struct auth *a);
/*
 * Reads the admin password file again (SIGHUP) and puts its hash in place
 * of the old one, which then stops working at once, remembered logins
 * included.  With auth_opts.isolate the hash is made in a child process,
 * as at start-up, so that an idle daemon still never initialises OpenSSL;
 * the server threads run by then, so the child (a fork of a threaded
 * process) does nothing but PBKDF2: glibc's malloc stays usable after a
 * fork, and OpenSSL holds its locks only inside a call.  On failure (file
 * unreadable, not one non-empty line) the old password stays in use and
 * err says why.
 */
int auth_reload(struct auth *a, struct barge_err *err) BARGE_MUST_CHECK;

/* --- the admin password file (the `barged passwd` verb) ----------------- */

/* The admin password file: configured (not NULL), else DATA_DIR/admin.password.  Caller frees. */
char *auth_password_file(const char *data_dir, const char *configured);
/*
 * Writes pw (len bytes: one non-empty line without NUL, at most
 * AUTH_PASSWORD_MAX bytes; BARGE_EINVAL else) and a newline to path,
 * atomically and with mode 0600.
 */
int auth_password_set(const char *path, const char *pw, size_t len,
                      struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Writes a new random password of 24 letters and digits to path as
 * auth_password_set does.  *pw (NULL: not wanted; else caller wipes and
 * frees) is it, NUL-terminated.
 */
int auth_password_generate(const char *path, char **pw, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Checks an Authorization header value.  "Basic B64(user:password)" is
 * checked against admin and the read-only tokens; "Bearer T" against a
 * read-only token (a session token is not an identity: use
 * auth_token_verify).  BARGE_EAUTH for wrong credentials, BARGE_EINVAL for
 * a malformed header or another scheme.
 */
int auth_check_header(struct auth *a, const char *authorization,
                      struct auth_identity *id) BARGE_MUST_CHECK;
/*
 * Checks a user name and a password of len bytes, as Basic credentials
 * carry them: admin's password, or a read-only token and its name.
 * BARGE_EAUTH when wrong.
 */
int auth_check_password(struct auth *a, const char *user, const char *pw, size_t len,
                        struct auth_identity *id) BARGE_MUST_CHECK;
/*
 * Checks a read-only token given alone (Bearer, or an OAuth2 refresh
 * token).  BARGE_EINVAL when it does not look like one (a session token
 * is not: use auth_token_verify), BARGE_EAUTH when no such token exists.
 */
int auth_check_ro_token(struct auth *a, const char *token,
                        struct auth_identity *id) BARGE_MUST_CHECK;
/* The anonymous identity: pull when anonymous pull is on, else nothing. */
void auth_anonymous(const struct auth *a, struct auth_identity *id);
/*
 * Whether id's scope reaches the resource type:name: every resource when
 * id is unscoped; else a repository a glob matches, and nothing else.
 */
int auth_identity_allows(const struct auth_identity *id, const char *type, const char *name);
/*
 * The identity subject stands for now, for credentials checked earlier (a
 * session token, a login session): "admin", or "token:NAME" while that
 * token exists and has not expired.  BARGE_EAUTH else: a removed token
 * stops working at once.
 */
int auth_subject_identity(struct auth *a, const char *subject,
                          struct auth_identity *id) BARGE_MUST_CHECK;
/*
 * Counts the admin password's replacements.  The password file is looked
 * at first (a stat): when `barged passwd` rewrote it, it is reloaded as
 * auth_reload does, so that a running barged notices without SIGHUP.
 * Whatever remembers an admin login keeps this and compares.
 */
unsigned auth_password_generation(struct auth *a);

/*
 * Parses one scope.  Actions other than pull, push, delete and "*" are
 * ignored, as the token specification asks.  BARGE_EINVAL when malformed.
 */
int auth_parse_scope(const char *s, struct auth_scope *out) BARGE_MUST_CHECK;

/*
 * Issues a session token for id with the space-separated scopes asked for
 * (NULL or "": none; /v2/ only needs a valid token), each narrowed to what
 * id may do; scopes naming the same resource add up.  BARGE_EINVAL for a
 * malformed scope, BARGE_ELIMIT beyond AUTH_SCOPES_MAX resources.  *token
 * (caller frees) expires AUTH_TOKEN_TTL after now.
 */
int auth_token_issue(struct auth *a, const struct auth_identity *id, const char *scopes, time_t now,
                     char **token, struct barge_err *err) BARGE_MUST_CHECK;
/* Verifies a session token's MAC and expiry.  BARGE_EAUTH when invalid or expired. */
int auth_token_verify(struct auth *a, const char *token, time_t now,
                      struct auth_grant *out) BARGE_MUST_CHECK;
/* Whether g allows all of actions on the resource type:name. */
int auth_grant_allows(const struct auth_grant *g, const char *type, const char *name,
                      unsigned actions);

/* --- read-only tokens (the `barged token` verb) ------------------------- */

/* What tokens.json says of one token (never the secret). */
struct auth_ro_info {
	const char *name;
	long long created;
	long long expires; /* 0: never */
	size_t nscope;     /* 0: every repository */
	const char *const *scope;
};

/* Creates token NAME, unscoped and without expiry; *token (caller frees) is the secret. */
int auth_ro_create(const char *data_dir, const char *name, char **token,
                   struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Creates token NAME expiring at expires (Unix seconds; 0: never) and
 * limited to the nscope globs of scope (0: every repository; each 1 to
 * AUTH_GLOB_MAX - 1 of A-Z a-z 0-9 . _ - / * ?, at most AUTH_GLOBS_MAX).
 * BARGE_EINVAL names the glob at fault.  *token (caller frees) is shown once.
 */
int auth_ro_create_scoped(const char *data_dir, const char *name, long long expires,
                          const char *const *scope, size_t nscope, char **token,
                          struct barge_err *err) BARGE_MUST_CHECK;
/* Calls fn for every token, in the file's order. */
int auth_ro_list(const char *data_dir, void (*fn)(const struct auth_ro_info *t, void *arg),
                 void *arg, struct barge_err *err) BARGE_MUST_CHECK;
/* Removes token NAME.  BARGE_ENOTFOUND if there is none. */
int auth_ro_remove(const char *data_dir, const char *name, struct barge_err *err) BARGE_MUST_CHECK;

#endif
