/*
 * auth_int: the insides of struct auth (auth.h), shared by the files of
 * appliance/serve/auth*.c and by nothing else (scripts/check-layers refuses
 * any other includer).
 *
 *   auth.c          the handle, the admin password, the checks of what
 *                   clients send, and the primitives below (random bytes,
 *                   base64, the token key's HMAC)
 *   auth_ro.c       the read-only tokens: tokens.json, made, listed,
 *                   removed, and looked up
 *   auth_session.c  scopes, and the session tokens of the token dance
 *
 * struct auth owns the admin password's hash, the token key and its copy of
 * the read-only tokens; mtx guards what the comment in it says.
 */
#ifndef BARGE_AUTH_INT_H
#define BARGE_AUTH_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "auth.h"
#include "err.h"

#define AUTH_SALT_LEN    16
#define AUTH_KEY_LEN     32
#define AUTH_HASH_LEN    32
#define AUTH_RO_PREFIX   "barge_"
#define AUTH_TOKENS_FILE "tokens.json"

struct auth_ro {
	char name[AUTH_TOKEN_NAME_MAX + 1];
	unsigned char hash[AUTH_HASH_LEN];
	long long created;
	long long expires; /* 0: never */
	size_t nscope;
	char scope[AUTH_GLOBS_MAX][AUTH_GLOB_MAX];
};

/* The admin password as kept: a salted hash, never the password. */
struct auth_pw {
	unsigned char salt[AUTH_SALT_LEN];
	unsigned char hash[AUTH_HASH_LEN];
};

struct auth {
	char *password_path;
	int anonymous_pull;
	int isolate;
	unsigned iter;
	unsigned char key[AUTH_KEY_LEN];
	char *tokens_path;

	pthread_mutex_t mtx; /* guards what follows */
	struct auth_pw pw;   /* replaced by auth_reload */
	unsigned pw_gen;     /* counts those replacements */
	struct stat pw_st;   /* of the password file when last read */
	/*
	 * HMAC of the last admin password that verified: clients send Basic
	 * credentials on every request, and PBKDF2 on each would cost more
	 * than serving the request.  A reload forgets it.
	 */
	int pw_ok_set;
	unsigned char pw_ok[AUTH_HASH_LEN];
	struct auth_ro *ro;
	size_t nro;
	struct stat ro_st; /* of tokens.json when last read; st_ino 0: absent */
};

/* --- auth.c ----------------------------------------------------------------- */

/* Random bytes from getrandom(2). */
int fill_random(void *buf, size_t len, struct barge_err *err) BARGE_MUST_CHECK;
/* Base64url, unpadded (see auth.c for the room out needs). */
void b64url_encode(const unsigned char *in, size_t len, char *out);
/* Base64 (url: base64url) decoded: the length, or -1 when malformed (see auth.c). */
ssize_t b64_decode(const char *in, size_t len, int url, unsigned char *out);
/* HMAC-SHA256 of buf under the token key (all 0xff when OpenSSL fails: nothing matches). */
void mac(const struct auth *a, const void *buf, size_t len, unsigned char out[AUTH_HASH_LEN]);

/* --- auth_ro.c -------------------------------------------------------------- */

/* Whether n is a read-only token's name: 1 to AUTH_TOKEN_NAME_MAX of A-Z a-z 0-9 . _ - */
int valid_token_name(const char *n);
/* Whether g is a scope glob: 1 to AUTH_GLOB_MAX - 1 of A-Z a-z 0-9 . _ - / * ? */
int valid_scope_glob(const char *g);
/*
 * Looks a read-only token up (name NULL: any name), re-reading tokens.json
 * when it changed; fills id when found and not expired.  BARGE_EAUTH when
 * not.  Takes mtx.
 */
int tokens_match(struct auth *a, const char *name, const char *token, size_t len,
                 struct auth_identity *id) BARGE_MUST_CHECK;
/* Fills id for the token named name if it exists and has not expired; BARGE_EAUTH else.  Takes mtx.
 */
int tokens_identity(struct auth *a, const char *name, struct auth_identity *id) BARGE_MUST_CHECK;

#endif
