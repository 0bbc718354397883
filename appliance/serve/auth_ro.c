/*
 * auth_ro: the read-only tokens of auth.h.  DATA_DIR/tokens.json keeps
 * each token's name, creation time and SHA-256, never the token: this file
 * makes, lists and removes them (the `barged token` verb) and looks them up
 * for a request, keeping struct auth's copy of the list in step with the
 * file.  It owns that copy (under the handle's mtx) and, for one call,
 * the parsed file.
 */
#include <errno.h>
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
