/*
 * auth_ro: the read-only tokens of auth.h.  DATA_DIR/tokens.json keeps
 * each token's name, creation time, SHA-256 (never the token), and, when
 * given, its expiry ("expires", Unix seconds) and repository scope
 * ("scope", a list of globs): this file
 * makes, lists and removes them (the `barged token` verb) and looks them up
 * for a request, keeping struct auth's copy of the list in step with the
 * file.  It owns that copy (under the handle's mtx) and, for one call,
 * the parsed file.
 */
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth_int.h"
#include "fileutil.h"

#define AUTH_RO_RANDOM     30 /* random bytes of a read-only token: 40 base64url characters */
#define AUTH_TOKENS_MAXLEN (AUTH_TOKENS_MAX * 256)

static void
sha256(const void *buf, size_t len, unsigned char out[AUTH_HASH_LEN])
{
	unsigned int n = AUTH_HASH_LEN;

	/* EVP_Digest with SHA-256 fails only on out-of-memory: then nothing matches. */
	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0xff, AUTH_HASH_LEN);
}

/* --- read-only tokens ---------------------------------------------------- */

int
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

int
valid_scope_glob(const char *g)
{
	size_t len = strlen(g);

	return len > 0 && len < AUTH_GLOB_MAX &&
	       strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/*?") ==
	               len;
}

/*
 * Reads an entry's creation time, expiry and scope into ro.  A scope that
 * is not a list of valid globs makes the entry unusable (-1): read as
 * unscoped, it would grant more than was meant.
 */
static int
entry_limits(json_t *e, struct auth_ro *ro)
{
	json_t *scope = json_object_get(e, "scope"), *g;
	size_t i;

	ro->created = (long long)json_integer_value(json_object_get(e, "created"));
	ro->expires = (long long)json_integer_value(json_object_get(e, "expires"));
	ro->nscope = 0;
	if (scope == NULL || json_is_null(scope))
		return 0;
	if (!json_is_array(scope) || json_array_size(scope) == 0 ||
	    json_array_size(scope) > AUTH_GLOBS_MAX)
		return -1;
	json_array_foreach(scope, i, g)
	{
		if (!json_is_string(g) || !valid_scope_glob(json_string_value(g)))
			return -1;
		snprintf(ro->scope[i], AUTH_GLOB_MAX, "%s", json_string_value(g));
	}
	ro->nscope = json_array_size(scope);
	return 0;
}

/* Fills id from ro.  Called with a->mtx held. */
static void
ro_identity(const struct auth_ro *ro, struct auth_identity *id)
{
	size_t i;

	memset(id, 0, sizeof(*id));
	snprintf(id->subject, sizeof(id->subject), "token:%s", ro->name);
	id->actions = AUTH_PULL;
	id->created = ro->created;
	id->expires = ro->expires;
	id->nscope = ro->nscope;
	for (i = 0; i < ro->nscope; i++)
		memcpy(id->scope[i], ro->scope[i], AUTH_GLOB_MAX);
}

static int
ro_expired(const struct auth_ro *ro)
{
	return ro->expires != 0 && (long long)time(NULL) >= ro->expires;
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
			    hex_decode(hash, ro[n].hash, AUTH_HASH_LEN) != 0 ||
			    entry_limits(e, &ro[n]) != 0)
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
int
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
	if (found >= 0 && ro_expired(&a->ro[found]))
		found = -1;
	if (found >= 0)
		ro_identity(&a->ro[found], id);
	pthread_mutex_unlock(&a->mtx);
	return found >= 0 ? BARGE_OK : BARGE_EAUTH;
}

int
tokens_identity(struct auth *a, const char *name, struct auth_identity *id)
{
	size_t i;
	int rc = BARGE_EAUTH;

	pthread_mutex_lock(&a->mtx);
	tokens_refresh(a);
	for (i = 0; i < a->nro; i++)
		if (strcmp(name, a->ro[i].name) == 0 && !ro_expired(&a->ro[i])) {
			ro_identity(&a->ro[i], id);
			rc = BARGE_OK;
			break;
		}
	pthread_mutex_unlock(&a->mtx);
	return rc;
}

int
auth_identity_allows(const struct auth_identity *id, const char *type, const char *name)
{
	size_t i;

	if (id->nscope == 0)
		return 1;
	if (strcmp(type, "repository") != 0)
		return 0;
	for (i = 0; i < id->nscope; i++)
		if (fnmatch(id->scope[i], name, 0) == 0)
			return 1;
	return 0;
}

int
auth_ro_create(const char *data_dir, const char *name, char **token, struct barge_err *err)
{
	return auth_ro_create_scoped(data_dir, name, 0, NULL, 0, token, err);
}

/* The "expires" and "scope" members of a new entry, when given. */
static int
entry_set_limits(json_t *entry, long long expires, const char *const *scope, size_t nscope,
                 struct barge_err *err)
{
	json_t *list;
	size_t i;

	if (expires != 0 && json_object_set_new(entry, "expires", json_integer(expires)) != 0)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (nscope == 0)
		return BARGE_OK;
	if ((list = json_array()) == NULL || json_object_set_new(entry, "scope", list) != 0)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (i = 0; i < nscope; i++)
		if (json_array_append_new(list, json_string(scope[i])) != 0)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

static int
check_limits(long long expires, const char *const *scope, size_t nscope, struct barge_err *err)
{
	size_t i;

	if (expires < 0)
		return err_set(err, BARGE_EINVAL, "expiry: %lld is before 1970", expires);
	if (nscope > AUTH_GLOBS_MAX)
		return err_set(err, BARGE_EINVAL, "scope: at most %d globs", AUTH_GLOBS_MAX);
	for (i = 0; i < nscope; i++)
		if (!valid_scope_glob(scope[i]))
			return err_set(err, BARGE_EINVAL,
			               "scope \"%.100s\": 1 to %d of A-Z a-z 0-9 . _ - / * ?",
			               scope[i], AUTH_GLOB_MAX - 1);
	return BARGE_OK;
}

int
auth_ro_create_scoped(const char *data_dir, const char *name, long long expires,
                      const char *const *scope, size_t nscope, char **token, struct barge_err *err)
{
	unsigned char r[AUTH_RO_RANDOM], h[AUTH_HASH_LEN];
	char *path = NULL, *tok = NULL, hex[2 * AUTH_HASH_LEN + 1];
	json_t *doc = NULL, *e, *entry;
	size_t i;
	int rc;

	if ((rc = check_limits(expires, scope, nscope, err)) != BARGE_OK)
		return rc;
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
	if ((rc = entry_set_limits(entry, expires, scope, nscope, err)) != BARGE_OK)
		goto out;
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
auth_ro_list(const char *data_dir, void (*fn)(const struct auth_ro_info *t, void *arg), void *arg,
             struct barge_err *err)
{
	struct auth_ro *ro = NULL;
	const char *globs[AUTH_GLOBS_MAX];
	struct auth_ro_info t;
	json_t *doc = NULL, *e;
	char *path;
	size_t i, k;
	int rc;

	if ((path = fu_printf("%s/%s", data_dir, AUTH_TOKENS_FILE)) == NULL ||
	    (ro = malloc(sizeof(*ro))) == NULL) {
		free(path);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if ((rc = tokens_read(path, &doc, err)) == BARGE_OK) {
		json_array_foreach(json_object_get(doc, "tokens"), i, e)
		{
			if (!json_is_string(json_object_get(e, "name")) || entry_limits(e, ro) != 0)
				continue;
			for (k = 0; k < ro->nscope; k++)
				globs[k] = ro->scope[k];
			t.name = json_string_value(json_object_get(e, "name"));
			t.created = ro->created;
			t.expires = ro->expires;
			t.nscope = ro->nscope;
			t.scope = globs;
			fn(&t, arg);
		}
	}
	json_decref(doc);
	free(ro);
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
