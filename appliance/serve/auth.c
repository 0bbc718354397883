/*
 * auth.c: who may pull and push (auth.h): the admin password and the
 * read-only tokens checked against what clients send, and the session
 * tokens of the token dance issued and verified.  It owns the admin
 * password's hash, the token key and its copy of the read-only tokens.
 */
#include "auth.h"

#include <errno.h>
#include <jansson.h>
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

#include "fileutil.h"
#include "oneshot.h"

#define AUTH_PASSWORD_LEN  24
#define AUTH_SALT_LEN      16
#define AUTH_KEY_LEN       32
#define AUTH_HASH_LEN      32
#define AUTH_RO_PREFIX     "barge_"
#define AUTH_RO_RANDOM     30 /* random bytes of a read-only token: 40 base64url characters */
#define AUTH_TOKENS_FILE   "tokens.json"
#define AUTH_TOKENS_MAXLEN (AUTH_TOKENS_MAX * 256)
#define AUTH_PAYLOAD_MAX   (AUTH_SCOPES_MAX * (AUTH_NAME_MAX + 32) + 256)

struct auth_ro {
	char name[AUTH_TOKEN_NAME_MAX + 1];
	unsigned char hash[AUTH_HASH_LEN];
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

static int
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
static void
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
static ssize_t
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

static void
sha256(const void *buf, size_t len, unsigned char out[AUTH_HASH_LEN])
{
	unsigned int n = AUTH_HASH_LEN;

	/* EVP_Digest with SHA-256 fails only on out-of-memory: then nothing matches. */
	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0xff, AUTH_HASH_LEN);
}

static void
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
	int rc;

	/* Hashed before the lock: requests go on meanwhile, with the old password. */
	if ((rc = password_load(a, &pw, err)) != BARGE_OK)
		return rc;
	pthread_mutex_lock(&a->mtx);
	a->pw = pw;
	a->pw_gen++;
	a->pw_ok_set = 0;
	explicit_bzero(a->pw_ok, sizeof(a->pw_ok));
	pthread_mutex_unlock(&a->mtx);
	explicit_bzero(&pw, sizeof(pw));
	return BARGE_OK;
}

/* --- read-only tokens ---------------------------------------------------- */

static int
valid_token_name(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > AUTH_TOKEN_NAME_MAX)
		return 0;
	return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
	       len;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lowercase hex of exactly len bytes. */
static int
hex_decode(const char *hex, unsigned char *out, size_t len)
{
	size_t i;
	int hi, lo;

	if (strlen(hex) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		if ((hi = hex_value(hex[2 * i])) < 0 || (lo = hex_value(hex[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Reads tokens.json (absent: an empty list) into a new json_t. */
static int
tokens_read(const char *path, json_t **out, struct barge_err *err)
{
	json_error_t jerr;
	json_t *doc = NULL, *list;
	char *buf = NULL;
	size_t len;
	int rc;

	rc = fu_read_file(path, AUTH_TOKENS_MAXLEN, &buf, &len, err);
	if (rc == BARGE_ENOTFOUND) {
		err_clear(err);
		if ((doc = json_pack("{s:[]}", "tokens")) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		*out = doc;
		return BARGE_OK;
	}
	if (rc != BARGE_OK)
		return rc;
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (doc == NULL)
		return err_set(err, BARGE_EFORMAT, "%s:%d:%d: %s", path, jerr.line, jerr.column,
		               jerr.text);
	if (!json_is_array(list = json_object_get(doc, "tokens")) ||
	    json_array_size(list) > AUTH_TOKENS_MAX) {
		json_decref(doc);
		return err_set(err, BARGE_EFORMAT, "%s: expected {\"tokens\": [...]}", path);
	}
	*out = doc;
	return BARGE_OK;
}

static int
tokens_write(const char *path, json_t *doc, struct barge_err *err)
{
	char *text;
	int rc;

	if ((text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	rc = fu_write_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return rc;
}

/* Re-reads tokens.json when it changed since the last look.  Called with a->mtx held. */
static void
tokens_refresh(struct auth *a)
{
	struct barge_err err = { 0 };
	struct auth_ro *ro = NULL;
	struct stat st;
	json_t *doc = NULL, *e;
	const char *name, *hash;
	size_t i, n = 0;

	if (stat(a->tokens_path, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (st.st_ino == a->ro_st.st_ino && st.st_size == a->ro_st.st_size &&
	    st.st_mtim.tv_sec == a->ro_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == a->ro_st.st_mtim.tv_nsec)
		return;
	/*
	 * An unreadable or malformed file grants nothing: the tokens it held
	 * stop working rather than outliving their removal.
	 */
	if (st.st_ino != 0 && tokens_read(a->tokens_path, &doc, &err) == BARGE_OK) {
		ro = calloc(json_array_size(json_object_get(doc, "tokens")) + 1, sizeof(*ro));
		json_array_foreach(json_object_get(doc, "tokens"), i, e)
		{
			if (ro == NULL)
				break;
			name = json_string_value(json_object_get(e, "name"));
			hash = json_string_value(json_object_get(e, "sha256"));
			if (name == NULL || hash == NULL || !valid_token_name(name) ||
			    hex_decode(hash, ro[n].hash, AUTH_HASH_LEN) != 0)
				continue;
			snprintf(ro[n].name, sizeof(ro[n].name), "%s", name);
			n++;
		}
		json_decref(doc);
	}
	free(a->ro);
	a->ro = ro;
	a->nro = ro != NULL ? n : 0;
	a->ro_st = st;
}

/*
 * Looks a read-only token up (name NULL: any name).  Every entry is
 * compared, so the time taken does not say which one matched.
 */
static int
tokens_match(struct auth *a, const char *name, const char *token, size_t len,
             struct auth_identity *id)
{
	unsigned char h[AUTH_HASH_LEN];
	size_t i;
	int found = -1;

	sha256(token, len, h);
	pthread_mutex_lock(&a->mtx);
	tokens_refresh(a);
	for (i = 0; i < a->nro; i++)
		if (CRYPTO_memcmp(h, a->ro[i].hash, AUTH_HASH_LEN) == 0 &&
		    (name == NULL || strcmp(name, a->ro[i].name) == 0))
			found = (int)i;
	if (found >= 0) {
		snprintf(id->subject, sizeof(id->subject), "token:%s", a->ro[found].name);
		id->actions = AUTH_PULL;
	}
	pthread_mutex_unlock(&a->mtx);
	return found >= 0 ? BARGE_OK : BARGE_EAUTH;
}

int
auth_ro_create(const char *data_dir, const char *name, char **token, struct barge_err *err)
{
	unsigned char r[AUTH_RO_RANDOM], h[AUTH_HASH_LEN];
	char *path = NULL, *tok = NULL, hex[2 * AUTH_HASH_LEN + 1];
	json_t *doc = NULL, *e, *entry;
	size_t i;
	int rc;

	if (!valid_token_name(name))
		return err_set(err, BARGE_EINVAL,
		               "token name \"%.100s\": 1 to %d of A-Z a-z 0-9 . _ -", name,
		               AUTH_TOKEN_NAME_MAX);
	/* Basic credentials with the user admin are always checked as admin's. */
	if (strcmp(name, "admin") == 0)
		return err_set(err, BARGE_EINVAL, "token name \"admin\" is the admin user's");
	if ((path = fu_printf("%s/%s", data_dir, AUTH_TOKENS_FILE)) == NULL ||
	    (tok = malloc(sizeof(AUTH_RO_PREFIX) + AUTH_RO_RANDOM * 4 / 3 + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = tokens_read(path, &doc, err)) != BARGE_OK)
		goto out;
	json_array_foreach(json_object_get(doc, "tokens"), i, e)
	{
		if (json_is_string(json_object_get(e, "name")) &&
		    strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
			rc = err_set(err, BARGE_EEXIST, "a token named \"%s\" exists", name);
			goto out;
		}
	}
	if (json_array_size(json_object_get(doc, "tokens")) >= AUTH_TOKENS_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "at most %d tokens", AUTH_TOKENS_MAX);
		goto out;
	}
	if ((rc = fill_random(r, sizeof(r), err)) != BARGE_OK)
		goto out;
	memcpy(tok, AUTH_RO_PREFIX, sizeof(AUTH_RO_PREFIX) - 1);
	b64url_encode(r, sizeof(r), tok + sizeof(AUTH_RO_PREFIX) - 1);
	sha256(tok, strlen(tok), h);
	for (i = 0; i < AUTH_HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	entry = json_pack("{s:s,s:s,s:I}", "name", name, "sha256", hex, "created",
	                  (json_int_t)time(NULL));
	if (entry == NULL || json_array_append_new(json_object_get(doc, "tokens"), entry) != 0) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = fu_mkdirs(data_dir, 0755, err)) != BARGE_OK ||
	    (rc = tokens_write(path, doc, err)) != BARGE_OK)
		goto out;
	*token = tok;
	tok = NULL;
out:
	explicit_bzero(r, sizeof(r));
	free(tok);
	free(path);
	json_decref(doc);
	return rc;
}

int
auth_ro_list(const char *data_dir, void (*fn)(const char *name, long long created, void *arg),
             void *arg, struct barge_err *err)
{
	json_t *doc = NULL, *e;
	char *path;
	size_t i;
	int rc;

	if ((path = fu_printf("%s/%s", data_dir, AUTH_TOKENS_FILE)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((rc = tokens_read(path, &doc, err)) == BARGE_OK) {
		json_array_foreach(json_object_get(doc, "tokens"), i, e)
		{
			if (json_is_string(json_object_get(e, "name")))
				fn(json_string_value(json_object_get(e, "name")),
				   (long long)json_integer_value(json_object_get(e, "created")),
				   arg);
		}
	}
	json_decref(doc);
	free(path);
	return rc;
}

int
auth_ro_remove(const char *data_dir, const char *name, struct barge_err *err)
{
	json_t *doc = NULL, *list, *e;
	char *path;
	size_t i;
	int rc;

	if ((path = fu_printf("%s/%s", data_dir, AUTH_TOKENS_FILE)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((rc = tokens_read(path, &doc, err)) != BARGE_OK)
		goto out;
	list = json_object_get(doc, "tokens");
	rc = err_set(err, BARGE_ENOTFOUND, "no token named \"%.100s\"", name);
	json_array_foreach(list, i, e)
	{
		if (json_is_string(json_object_get(e, "name")) &&
		    strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
			if (json_array_remove(list, i) != 0) {
				rc = err_set(err, BARGE_ENOMEM, "out of memory");
				goto out;
			}
			err_clear(err);
			rc = tokens_write(path, doc, err);
			goto out;
		}
	}
out:
	json_decref(doc);
	free(path);
	return rc;
}

/* --- credentials --------------------------------------------------------- */

static int
check_admin(struct auth *a, const char *pw, size_t len)
{
	unsigned char h[AUTH_HASH_LEN], m[AUTH_HASH_LEN];
	struct auth_pw cur;
	unsigned gen;
	int ok;

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

/* --- scopes and session tokens ------------------------------------------- */

static int
valid_resource_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= AUTH_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._/-", s[i]) != NULL))
			return 0;
	return 1;
}

int
auth_parse_scope(const char *s, struct auth_scope *out)
{
	const char *c1, *c2, *p, *e;
	size_t len;

	memset(out, 0, sizeof(*out));
	if ((c1 = strchr(s, ':')) == NULL || (c2 = strrchr(s, ':')) == c1)
		return BARGE_EINVAL;
	if ((size_t)(c1 - s) >= sizeof(out->type) || c1 == s)
		return BARGE_EINVAL;
	memcpy(out->type, s, (size_t)(c1 - s));
	if (strspn(out->type, "abcdefghijklmnopqrstuvwxyz") != strlen(out->type))
		return BARGE_EINVAL;
	len = (size_t)(c2 - c1 - 1);
	if (!valid_resource_name(c1 + 1, len))
		return BARGE_EINVAL;
	memcpy(out->name, c1 + 1, len);
	for (p = c2 + 1; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if (e - p == 4 && strncmp(p, "pull", 4) == 0)
			out->actions |= AUTH_PULL;
		else if (e - p == 4 && strncmp(p, "push", 4) == 0)
			out->actions |= AUTH_PUSH;
		else if (e - p == 6 && strncmp(p, "delete", 6) == 0)
			out->actions |= AUTH_DELETE;
		else if (e - p == 1 && *p == '*')
			out->actions |= AUTH_ALL;
	}
	return BARGE_OK;
}

/*
 * Adds one scope of scopes (at p, len bytes) to g, narrowed to what id may
 * do.  Scopes naming the same resource share one entry, so that a client
 * repeating a resource (pull in one scope, push in another) uses no more
 * of the AUTH_SCOPES_MAX entries than one.
 */
static int
grant_add(struct auth_grant *g, const struct auth_identity *id, const char *p, size_t len,
          struct barge_err *err)
{
	char one[AUTH_NAME_MAX + 32];
	struct auth_scope sc;
	size_t i;

	if (len >= sizeof(one))
		return err_set(err, BARGE_EINVAL, "scope longer than %zu characters",
		               sizeof(one) - 1);
	memcpy(one, p, len);
	one[len] = '\0';
	if (auth_parse_scope(one, &sc) != BARGE_OK)
		return err_set(err, BARGE_EINVAL, "malformed scope \"%.100s\"", one);
	for (i = 0; i < g->n; i++)
		if (strcmp(g->scope[i].type, sc.type) == 0 &&
		    strcmp(g->scope[i].name, sc.name) == 0)
			break;
	if (i == g->n) {
		if (g->n == AUTH_SCOPES_MAX)
			return err_set(err, BARGE_ELIMIT, "scopes naming more than %d resources",
			               AUTH_SCOPES_MAX);
		g->scope[g->n] = sc;
		g->scope[g->n++].actions = 0;
	}
	g->scope[i].actions |= sc.actions & id->actions;
	return BARGE_OK;
}

int
auth_token_issue(struct auth *a, const struct auth_identity *id, const char *scopes, time_t now,
                 char **token, struct barge_err *err)
{
	unsigned char m[AUTH_HASH_LEN];
	struct auth_grant *g = NULL;
	char *payload = NULL, *tok = NULL;
	const char *p, *e;
	size_t i, len, plen, tlen;
	int rc = BARGE_OK;

	if ((payload = malloc(AUTH_PAYLOAD_MAX)) == NULL || (g = calloc(1, sizeof(*g))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (p = scopes != NULL ? scopes : ""; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, " ");
		if (e != p && (rc = grant_add(g, id, p, (size_t)(e - p), err)) != BARGE_OK)
			goto out;
	}
	len = (size_t)snprintf(payload, AUTH_PAYLOAD_MAX, "v1\n%s\n%lld\n", id->subject,
	                       (long long)(now + AUTH_TOKEN_TTL));
	for (i = 0; i < g->n; i++)
		len += (size_t)snprintf(payload + len, AUTH_PAYLOAD_MAX - len, "%s:%s:%u\n",
		                        g->scope[i].type, g->scope[i].name, g->scope[i].actions);
	plen = (len + 2) / 3 * 4 + 1;
	tlen = plen + 1 + (AUTH_HASH_LEN + 2) / 3 * 4 + 1;
	if ((tok = malloc(tlen)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	b64url_encode((unsigned char *)payload, len, tok);
	plen = strlen(tok);
	mac(a, tok, plen, m);
	tok[plen] = '.';
	b64url_encode(m, AUTH_HASH_LEN, tok + plen + 1);
	*token = tok;
	tok = NULL;
out:
	free(tok);
	free(g);
	free(payload);
	return rc;
}

/* Parses "LINE\n" at *p as a decimal into *v. */
static int
take_number(char **p, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(*p, &end, 10);
	if (end == *p || *end != '\n' || errno != 0)
		return -1;
	*p = end + 1;
	return 0;
}

int
auth_token_verify(struct auth *a, const char *token, time_t now, struct auth_grant *out)
{
	unsigned char m[AUTH_HASH_LEN], given[AUTH_HASH_LEN + 3];
	char *payload = NULL, *p, *nl, *c1, *c2;
	const char *dot;
	long long exp, bits;
	ssize_t n;
	size_t len;
	int rc = BARGE_EAUTH;

	memset(out, 0, sizeof(*out));
	if (token == NULL || (len = strlen(token)) > AUTH_TOKEN_MAX ||
	    (dot = strchr(token, '.')) == NULL)
		return BARGE_EAUTH;
	/* The MAC part comes from the client: only as much as given can hold is decoded. */
	if (strlen(dot + 1) > sizeof(given) / 3 * 4)
		return BARGE_EAUTH;
	mac(a, token, (size_t)(dot - token), m);
	n = b64_decode(dot + 1, strlen(dot + 1), 1, given);
	if (n != AUTH_HASH_LEN || CRYPTO_memcmp(m, given, AUTH_HASH_LEN) != 0)
		return BARGE_EAUTH;
	/* The MAC is ours: the payload below was written by auth_token_issue. */
	if ((payload = malloc((size_t)(dot - token) + 1)) == NULL)
		return BARGE_ENOMEM;
	if ((n = b64_decode(token, (size_t)(dot - token), 1, (unsigned char *)payload)) < 0)
		goto out;
	payload[n] = '\0';
	if (strncmp(payload, "v1\n", 3) != 0 || (nl = strchr(payload + 3, '\n')) == NULL ||
	    (size_t)(nl - payload - 3) >= sizeof(out->subject))
		goto out;
	memcpy(out->subject, payload + 3, (size_t)(nl - payload - 3));
	p = nl + 1;
	if (take_number(&p, &exp) != 0)
		goto out;
	if ((long long)now >= exp)
		goto out;
	out->expires = (time_t)exp;
	while (*p != '\0' && out->n < AUTH_SCOPES_MAX) {
		struct auth_scope *s = &out->scope[out->n];

		if ((nl = strchr(p, '\n')) == NULL ||
		    (c1 = memchr(p, ':', (size_t)(nl - p))) == NULL)
			goto out;
		*nl = '\0';
		if ((c2 = strrchr(c1, ':')) == c1 || (size_t)(c1 - p) >= sizeof(s->type) ||
		    (size_t)(c2 - c1 - 1) >= sizeof(s->name))
			goto out;
		memcpy(s->type, p, (size_t)(c1 - p));
		memcpy(s->name, c1 + 1, (size_t)(c2 - c1 - 1));
		p = c2 + 1;
		*nl = '\n';
		if (take_number(&p, &bits) != 0)
			goto out;
		s->actions = (unsigned)bits & AUTH_ALL;
		out->n++;
	}
	rc = BARGE_OK;
out:
	free(payload);
	if (rc != BARGE_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
auth_grant_allows(const struct auth_grant *g, const char *type, const char *name, unsigned actions)
{
	unsigned have = 0;
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->scope[i].type, type) == 0 && strcmp(g->scope[i].name, name) == 0)
			have |= g->scope[i].actions;
	return (have & actions) == actions;
}
