/*
 * auth.c: who may pull and push (auth.h): the handle, the admin password
 * (generated, written, loaded and hashed, reloaded on SIGHUP) and the
 * checks of the credentials clients send, and the primitives the other
 * auth*.c files share (auth_int.h).  It owns the admin password's hash,
 * the token key, and the struct auth that holds them.
 */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth_int.h"
#include "fileutil.h"
#include "oneshot.h"

#define AUTH_PASSWORD_LEN 24

int
fill_random(void *buf, size_t len, struct barge_err *err)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, BARGE_EIO, errno, "getrandom");
		}
		p += n;
		len -= (size_t)n;
	}
	return BARGE_OK;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of len bytes into out (room for 4 * ceil(len / 3) + 1). */
void
b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = b64url[v >> 18];
		*out++ = b64url[(v >> 12) & 63];
		*out++ = b64url[(v >> 6) & 63];
		*out++ = b64url[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		*out++ = b64url[v >> 18];
		*out++ = b64url[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = b64url[v >> 18];
		*out++ = b64url[(v >> 12) & 63];
		*out++ = b64url[(v >> 6) & 63];
	}
	*out = '\0';
}

static int
b64_value(char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/*
 * Decodes len characters of base64 (url: the URL alphabet, unpadded; else
 * the standard one, padding allowed) into out (room for len * 3 / 4 bytes).
 * Returns the decoded length, or -1 when malformed.
 */
ssize_t
b64_decode(const char *in, size_t len, int url, unsigned char *out)
{
	size_t i, n = 0, bits = 0;
	uint32_t acc = 0;
	int v;

	if (!url)
		while (len > 0 && in[len - 1] == '=')
			len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b64_value(in[i], url)) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (ssize_t)n;
}

void
mac(const struct auth *a, const void *buf, size_t len, unsigned char out[AUTH_HASH_LEN])
{
	unsigned int n = AUTH_HASH_LEN;

	if (HMAC(EVP_sha256(), a->key, AUTH_KEY_LEN, buf, len, out, &n) == NULL)
		memset(out, 0xff, AUTH_HASH_LEN);
}

static int
pbkdf2(const struct auth *a, const unsigned char salt[AUTH_SALT_LEN], const char *pw, size_t len,
       unsigned char out[AUTH_HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)len, salt, AUTH_SALT_LEN, (int)a->iter, EVP_sha256(),
	                         AUTH_HASH_LEN, out) == 1
	               ? 0
	               : -1;
}

/* --- the admin password -------------------------------------------------- */

/* Whether pw is a password barged can keep: one non-empty line without NUL. */
static int
password_valid(const char *pw, size_t len)
{
	return len > 0 && len <= AUTH_PASSWORD_MAX && memchr(pw, '\0', len) == NULL &&
	       memchr(pw, '\n', len) == NULL && memchr(pw, '\r', len) == NULL;
}

int
auth_password_set(const char *path, const char *pw, size_t len, struct barge_err *err)
{
	char *buf;
	int rc;

	if (!password_valid(pw, len))
		return err_set(err, BARGE_EINVAL,
		               "the admin password must be one non-empty line of at most %d bytes",
		               AUTH_PASSWORD_MAX);
	if ((buf = malloc(len + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	memcpy(buf, pw, len);
	buf[len] = '\n';
	rc = fu_write_atomic(path, buf, len + 1, 0600, err);
	explicit_bzero(buf, len + 1);
	free(buf);
	return rc;
}

int
auth_password_generate(const char *path, char **pw, struct barge_err *err)
{
	static const char alnum[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[64];
	char *p;
	size_t n = 0, i;
	int rc = BARGE_OK;

	if ((p = malloc(AUTH_PASSWORD_LEN + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* Rejection sampling keeps every character equally likely. */
	while (n < AUTH_PASSWORD_LEN) {
		if ((rc = fill_random(r, sizeof(r), err)) != BARGE_OK)
			goto out;
		for (i = 0; i < sizeof(r) && n < AUTH_PASSWORD_LEN; i++)
			if (r[i] < 248)
				p[n++] = alnum[r[i] % 62];
	}
	p[n] = '\0';
	rc = auth_password_set(path, p, n, err);
out:
	explicit_bzero(r, sizeof(r));
	if (rc == BARGE_OK && pw != NULL) {
		*pw = p;
		return rc;
	}
	explicit_bzero(p, AUTH_PASSWORD_LEN + 1);
	free(p);
	return rc;
}

char *
auth_password_file(const char *data_dir, const char *configured)
{
	if (configured != NULL)
		return strdup(configured);
	return fu_printf("%s/admin.password", data_dir);
}

struct password_job {
	const struct auth *a;
	const unsigned char *salt;
	const char *pw;
	size_t len;
};

/* oneshot_fn: the password's hash, in the child. */
static int
password_hash_child(void *arg, void **out, size_t *len, struct barge_err *err)
{
	const struct password_job *j = arg;
	unsigned char *h;

	if ((h = malloc(AUTH_HASH_LEN)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (pbkdf2(j->a, j->salt, j->pw, j->len, h) != 0) {
		free(h);
		return err_set(err, BARGE_ENOMEM, "PBKDF2 failed");
	}
	*out = h;
	*len = AUTH_HASH_LEN;
	return BARGE_OK;
}

/*
 * PBKDF2 in a child process (oneshot.h), for auth_opts.isolate: OpenSSL's
 * first use stays out of a daemon until a request needs it.
 */
static int
password_hash_isolated(const struct auth *a, const char *pw, size_t pwlen, struct auth_pw *out,
                       struct barge_err *err)
{
	struct password_job j = { a, out->salt, pw, pwlen };
	void *h = NULL;
	size_t len = 0;
	int rc;

	if ((rc = oneshot_run(password_hash_child, &j, AUTH_HASH_LEN, &h, &len, err)) != BARGE_OK)
		return err_prefix(err, "hashing the admin password");
	if (len != AUTH_HASH_LEN)
		rc = err_set(err, BARGE_EINTERNAL, "hashing the admin password: %zu bytes", len);
	else
		memcpy(out->hash, h, AUTH_HASH_LEN);
	explicit_bzero(h, len);
	free(h);
	return rc;
}

/* Reads the password file and hashes it under a new salt into *out. */
static int
password_load(const struct auth *a, struct auth_pw *out, struct barge_err *err)
{
	const char *path = a->password_path;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = fu_read_file(path, AUTH_PASSWORD_MAX, &buf, &len, err)) != BARGE_OK)
		return err_prefix(err, "admin password");
	/* One trailing newline is the file's, not the password's. */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (!password_valid(buf, len)) {
		rc = err_set(err, BARGE_EINVAL, "%s: the admin password must be one non-empty line",
		             path);
		goto out;
	}
	if ((rc = fill_random(out->salt, AUTH_SALT_LEN, err)) != BARGE_OK)
		goto out;
	if (a->isolate)
		rc = password_hash_isolated(a, buf, len, out, err);
	else if (pbkdf2(a, out->salt, buf, len, out->hash) != 0)
		rc = err_set(err, BARGE_ENOMEM, "PBKDF2 failed");
out:
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

int
auth_new(const struct auth_opts *o, struct auth **out, int *generated, struct barge_err *err)
{
	struct auth *a = NULL;
	struct stat st;
	int rc;

	*generated = 0;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pthread_mutex_init(&a->mtx, NULL);
	a->anonymous_pull = o->anonymous_pull;
	a->isolate = o->isolate;
	a->iter = o->pbkdf2_iter ? o->pbkdf2_iter : AUTH_PBKDF2_ITER;
	a->password_path = auth_password_file(o->data_dir, o->admin_password_file);
	a->tokens_path = fu_printf("%s/%s", o->data_dir, AUTH_TOKENS_FILE);
	if (a->password_path == NULL || a->tokens_path == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = fill_random(a->key, AUTH_KEY_LEN, err)) != BARGE_OK)
		goto fail;
	/* Only our own file is generated; a configured one must exist. */
	if (o->admin_password_file == NULL && stat(a->password_path, &st) != 0) {
		if (errno != ENOENT) {
			rc = err_sys(err, BARGE_EIO, errno, "%s", a->password_path);
			goto fail;
		}
		if ((rc = fu_mkdirs(o->data_dir, 0755, err)) != BARGE_OK ||
		    (rc = auth_password_generate(a->password_path, NULL, err)) != BARGE_OK)
			goto fail;
		*generated = 1;
	}
	if (stat(a->password_path, &a->pw_st) != 0)
		memset(&a->pw_st, 0, sizeof(a->pw_st));
	if ((rc = password_load(a, &a->pw, err)) != BARGE_OK)
		goto fail;
	*out = a;
	return BARGE_OK;
fail:
	auth_free(a);
	return rc;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	explicit_bzero(a->key, sizeof(a->key));
	explicit_bzero(&a->pw, sizeof(a->pw));
	free(a->password_path);
	free(a->tokens_path);
	free(a->ro);
	pthread_mutex_destroy(&a->mtx);
	free(a);
}

const char *
auth_password_path(const struct auth *a)
{
	return a->password_path;
}

int
auth_reload(struct auth *a, struct barge_err *err)
{
	struct auth_pw pw;
	struct stat st;
	int rc;

	/* Looked at first: a change while it is read is seen at the next look. */
	if (stat(a->password_path, &st) != 0)
		memset(&st, 0, sizeof(st));
	/* Hashed before the lock: requests go on meanwhile, with the old password. */
	if ((rc = password_load(a, &pw, err)) != BARGE_OK)
		return rc;
	pthread_mutex_lock(&a->mtx);
	a->pw_st = st;
	a->pw = pw;
	a->pw_gen++;
	a->pw_ok_set = 0;
	explicit_bzero(a->pw_ok, sizeof(a->pw_ok));
	pthread_mutex_unlock(&a->mtx);
	explicit_bzero(&pw, sizeof(pw));
	return BARGE_OK;
}

unsigned
auth_password_generation(struct auth *a)
{
	struct barge_err err = { 0 };
	struct stat st;
	unsigned gen;
	int changed;

	if (stat(a->password_path, &st) != 0)
		memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&a->mtx);
	changed = st.st_ino != a->pw_st.st_ino || st.st_size != a->pw_st.st_size ||
	          st.st_mtim.tv_sec != a->pw_st.st_mtim.tv_sec ||
	          st.st_mtim.tv_nsec != a->pw_st.st_mtim.tv_nsec;
	/* Looked at once per change, even when it cannot be read. */
	a->pw_st = st;
	pthread_mutex_unlock(&a->mtx);
	/*
	 * A file that cannot be read keeps the old password, as SIGHUP does;
	 * `barged passwd` writes it atomically, so that is only an operator's
	 * half-written edit, and the next change is looked at again.
	 */
	if (changed && auth_reload(a, &err) != BARGE_OK)
		err_clear(&err);
	pthread_mutex_lock(&a->mtx);
	gen = a->pw_gen;
	pthread_mutex_unlock(&a->mtx);
	return gen;
}

int
auth_subject_identity(struct auth *a, const char *subject, struct auth_identity *id)
{
	memset(id, 0, sizeof(*id));
	if (strcmp(subject, "admin") == 0) {
		snprintf(id->subject, sizeof(id->subject), "admin");
		id->actions = AUTH_ALL;
		return BARGE_OK;
	}
	if (strncmp(subject, "token:", 6) == 0 && valid_token_name(subject + 6))
		return tokens_identity(a, subject + 6, id);
	return BARGE_EAUTH;
}

/* --- credentials --------------------------------------------------------- */

static int
check_admin(struct auth *a, const char *pw, size_t len)
{
	unsigned char h[AUTH_HASH_LEN], m[AUTH_HASH_LEN];
	struct auth_pw cur;
	unsigned gen;
	int ok;

	/* A password `barged passwd` changed is taken before the check. */
	(void)auth_password_generation(a);
	mac(a, pw, len, m);
	pthread_mutex_lock(&a->mtx);
	ok = a->pw_ok_set && CRYPTO_memcmp(m, a->pw_ok, AUTH_HASH_LEN) == 0;
	cur = a->pw;
	gen = a->pw_gen;
	pthread_mutex_unlock(&a->mtx);
	if (ok)
		return 1;
	ok = pbkdf2(a, cur.salt, pw, len, h) == 0 && CRYPTO_memcmp(h, cur.hash, AUTH_HASH_LEN) == 0;
	explicit_bzero(&cur, sizeof(cur));
	if (!ok)
		return 0;
	pthread_mutex_lock(&a->mtx);
	/* A reload while PBKDF2 ran: what verified is no longer the password to remember. */
	if (gen == a->pw_gen) {
		memcpy(a->pw_ok, m, AUTH_HASH_LEN);
		a->pw_ok_set = 1;
	}
	pthread_mutex_unlock(&a->mtx);
	return 1;
}

int
auth_check_password(struct auth *a, const char *user, const char *pw, size_t len,
                    struct auth_identity *id)
{
	memset(id, 0, sizeof(*id));
	if (strcmp(user, "admin") == 0) {
		if (!check_admin(a, pw, len))
			return BARGE_EAUTH;
		snprintf(id->subject, sizeof(id->subject), "admin");
		id->actions = AUTH_ALL;
		return BARGE_OK;
	}
	if (valid_token_name(user))
		return tokens_match(a, user, pw, len, id);
	return BARGE_EAUTH;
}

int
auth_check_ro_token(struct auth *a, const char *v, struct auth_identity *id)
{
	memset(id, 0, sizeof(*id));
	if (strncmp(v, AUTH_RO_PREFIX, sizeof(AUTH_RO_PREFIX) - 1) != 0 || strchr(v, '.') != NULL)
		return BARGE_EINVAL;
	return tokens_match(a, NULL, v, strlen(v), id);
}

int
auth_check_header(struct auth *a, const char *authorization, struct auth_identity *id)
{
	unsigned char dec[AUTH_TOKEN_MAX];
	const char *v;
	char *colon;
	ssize_t n;
	size_t len;
	int rc;

	memset(id, 0, sizeof(*id));
	if (authorization == NULL || (len = strlen(authorization)) > AUTH_TOKEN_MAX)
		return BARGE_EINVAL;
	if (strncasecmp(authorization, "Bearer ", 7) == 0)
		return auth_check_ro_token(a, authorization + 7, id);
	if (strncasecmp(authorization, "Basic ", 6) != 0)
		return BARGE_EINVAL;
	v = authorization + 6;
	while (*v == ' ')
		v++;
	if ((n = b64_decode(v, strlen(v), 0, dec)) < 0 || (size_t)n >= sizeof(dec))
		return BARGE_EINVAL;
	dec[n] = '\0';
	if ((colon = memchr(dec, ':', (size_t)n)) == NULL || memchr(dec, '\0', (size_t)n) != NULL) {
		explicit_bzero(dec, (size_t)n);
		return BARGE_EINVAL;
	}
	*colon = '\0';
	len = (size_t)n - (size_t)(colon + 1 - (char *)dec);
	rc = auth_check_password(a, (char *)dec, colon + 1, len, id);
	explicit_bzero(dec, (size_t)n);
	return rc;
}

void
auth_anonymous(const struct auth *a, struct auth_identity *id)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->subject, sizeof(id->subject), "anonymous");
	id->actions = a->anonymous_pull ? AUTH_PULL : 0;
}
