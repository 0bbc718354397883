/*
 * sign: Ed25519 keys and signatures over barge.json with OpenSSL EVP (see
 * sign.h).  A struct sign_key owns its EVP_PKEY; the keys of a directory
 * are the caller's, as is every signature text it makes.
 */
#include "sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fileutil.h"

#define ED25519_SIG_LEN 64
#define SIG_B64_LEN     88          /* 64 bytes in base64: 22 groups, the last with "==" */
#define SIG_DEC_LEN     66          /* what EVP_DecodeBlock makes of them, padding as zeros */
#define KEY_FILE_MAX    (16 * 1024) /* a PEM Ed25519 key is about 120 bytes */
#define KEY_DIR_MAX     1024        /* keys in a trust directory */

struct sign_key {
	EVP_PKEY *pkey;
	int private;
	char id[DIGEST_STR_MAX];
};

void
sign_key_free(struct sign_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

const char *
sign_key_id(const struct sign_key *k)
{
	return k->id;
}

/* The key id: sha256 of the DER SubjectPublicKeyInfo, the same for the private and public halves.
 */
static int
key_id(EVP_PKEY *pkey, char *id, struct barge_err *err)
{
	unsigned char *der = NULL;
	int n, rc;

	if ((n = i2d_PUBKEY(pkey, &der)) <= 0)
		return err_set(err, BARGE_EINTERNAL, "cannot encode the public key");
	rc = digest_buf(DIGEST_SHA256, der, (size_t)n, id, err);
	OPENSSL_free(der);
	return rc;
}

/* Wraps pkey (taking it) into a new key after checking it is Ed25519. */
static int
key_wrap(EVP_PKEY *pkey, int private, const char *path, struct sign_key **out,
         struct barge_err *err)
{
	struct sign_key *k = NULL;
	int rc;

	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
		rc = err_set(err, BARGE_EFORMAT, "%s: not an Ed25519 key", path);
		goto fail;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = key_id(pkey, k->id, err)) != BARGE_OK)
		goto fail;
	k->pkey = pkey;
	k->private = private;
	*out = k;
	return BARGE_OK;
fail:
	free(k);
	EVP_PKEY_free(pkey);
	return rc;
}

static int
key_load(const char *path, int private, struct sign_key **out, struct barge_err *err)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = fu_read_file(path, KEY_FILE_MAX, &buf, &len, err)) != BARGE_OK)
		return rc;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	/* A NULL password callback with an empty string: encrypted keys fail instead of prompting.
	 */
	pkey = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"")
	               : PEM_read_bio_PUBKEY(bio, NULL, NULL, (void *)"");
	if (pkey == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "%s: not a PEM %s key", path,
		             private ? "PKCS#8 private" : "SPKI public");
		goto out;
	}
	rc = key_wrap(pkey, private, path, out, err);
out:
	BIO_free(bio);
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int
sign_key_load_private(const char *path, struct sign_key **out, struct barge_err *err)
{
	return key_load(path, 1, out, err);
}

int
sign_key_load_public(const char *path, struct sign_key **out, struct barge_err *err)
{
	return key_load(path, 0, out, err);
}

static int
pub_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".pub") == 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
sign_key_load_dir(const char *dir, struct sign_key ***out, size_t *n, struct barge_err *err)
{
	struct sign_key **keys = NULL;
	char *names[KEY_DIR_MAX];
	size_t nnames = 0, nkeys = 0, i;
	struct dirent *de;
	char *path = NULL;
	DIR *d = NULL;
	int rc;

	if ((d = opendir(dir)) == NULL)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s",
		               dir);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!pub_name(de->d_name))
			continue;
		if (nnames == KEY_DIR_MAX) {
			rc = err_set(err, BARGE_ELIMIT, "%s: more than %d keys", dir, KEY_DIR_MAX);
			goto out;
		}
		if ((names[nnames] = strdup(de->d_name)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
		nnames++;
	}
	if (errno != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "reading %s", dir);
		goto out;
	}
	/* A fixed order, so that messages and results do not depend on the filesystem. */
	qsort(names, nnames, sizeof(names[0]), cmp_str);
	if (nnames > 0 && (keys = calloc(nnames, sizeof(*keys))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nnames; i++) {
		if ((path = fu_printf("%s/%s", dir, names[i])) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = sign_key_load_public(path, &keys[nkeys], err)) != BARGE_OK)
			goto out;
		nkeys++;
		free(path);
		path = NULL;
	}
	*out = keys;
	*n = nkeys;
	keys = NULL;
	rc = BARGE_OK;
out:
	if (keys != NULL) {
		for (i = 0; i < nkeys; i++)
			sign_key_free(keys[i]);
		free(keys);
	}
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(path);
	closedir(d);
	return rc;
}

/* Writes PEM text to a new file (O_EXCL), so an existing key is never replaced. */
static int
write_new(const char *path, const char *pem, size_t len, int mode, struct barge_err *err)
{
	int fd, rc;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
		return err_sys(err, errno == EEXIST ? BARGE_EEXIST : BARGE_EIO, errno, "%s", path);
	/* The umask may have widened nothing, but fchmod makes the mode exact. */
	if (fchmod(fd, (mode_t)mode) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "chmod %s", path);
		goto fail;
	}
	if ((rc = fu_write_all(fd, pem, len, err)) != BARGE_OK) {
		err_prefix(err, "%s", path);
		goto fail;
	}
	if (fsync(fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", path);
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = err_sys(err, BARGE_EIO, errno, "closing %s", path);
		goto fail;
	}
	return BARGE_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(path);
	return rc;
}

/* The PEM text of pkey's private (PKCS#8) or public (SPKI) half; caller frees *out. */
static int
pem_of(EVP_PKEY *pkey, int private, char **out, size_t *len, struct barge_err *err)
{
	BIO *bio = NULL;
	char *data;
	long n;
	int rc;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((private ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
	             : PEM_write_bio_PUBKEY(bio, pkey)) != 1 ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0) {
		rc = err_set(err, BARGE_EINTERNAL, "cannot encode the %s key",
		             private ? "private" : "public");
		goto out;
	}
	if ((*out = malloc((size_t)n)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, data, (size_t)n);
	*len = (size_t)n;
	rc = BARGE_OK;
out:
	/* The memory BIO holds the private key's text: wipe it before it goes. */
	if ((n = BIO_get_mem_data(bio, &data)) > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(bio);
	return rc;
}

int
sign_keygen(const char *prefix, char *keyid, struct barge_err *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	char *keypath = NULL, *pubpath = NULL, *priv = NULL, *pub = NULL;
	size_t privlen = 0, publen = 0;
	int wrote_key = 0, rc;

	if ((keypath = fu_printf("%s.key", prefix)) == NULL ||
	    (pubpath = fu_printf("%s.pub", prefix)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1) {
		rc = err_set(err, BARGE_EINTERNAL, "Ed25519 key generation failed");
		goto out;
	}
	if ((rc = key_id(pkey, keyid, err)) != BARGE_OK ||
	    (rc = pem_of(pkey, 1, &priv, &privlen, err)) != BARGE_OK ||
	    (rc = pem_of(pkey, 0, &pub, &publen, err)) != BARGE_OK)
		goto out;
	if ((rc = write_new(keypath, priv, privlen, 0600, err)) != BARGE_OK)
		goto out;
	wrote_key = 1;
	if ((rc = write_new(pubpath, pub, publen, 0644, err)) != BARGE_OK)
		goto out;
	rc = BARGE_OK;
out:
	/* Half a key pair is worse than none: the next keygen would refuse to overwrite it. */
	if (rc != BARGE_OK && wrote_key)
		unlink(keypath);
	if (priv != NULL)
		OPENSSL_cleanse(priv, privlen);
	free(priv);
	free(pub);
	free(keypath);
	free(pubpath);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int
sign_make(const struct sign_key *k, const void *msg, size_t len, char **sig, size_t *siglen,
          struct barge_err *err)
{
	unsigned char raw[ED25519_SIG_LEN];
	unsigned char b64[SIG_B64_LEN + 1];
	size_t rawlen = sizeof(raw);
	EVP_MD_CTX *md = NULL;
	json_t *doc = NULL;
	char *text = NULL;
	int rc;

	if (!k->private)
		return err_set(err, BARGE_EINVAL,
		               "key %s is a public key; signing needs the private one", k->id);
	/* Ed25519 hashes internally: no digest is given, and the message goes in one call. */
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(md, raw, &rawlen, msg, len) != 1 || rawlen != ED25519_SIG_LEN) {
		rc = err_set(err, BARGE_EINTERNAL, "Ed25519 signing with key %s failed", k->id);
		goto out;
	}
	EVP_EncodeBlock(b64, raw, ED25519_SIG_LEN);
	doc = json_pack("{s:i,s:s,s:s,s:s}", "schemaVersion", 1, "algorithm", "ed25519", "keyId",
	                k->id, "signature", (const char *)b64);
	if (doc == NULL || (text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	*siglen = strlen(text);
	*sig = text;
	rc = BARGE_OK;
out:
	json_decref(doc);
	EVP_MD_CTX_free(md);
	return rc;
}

/*
 * Parses barge.json.sig: exactly the four members, of the right types.
 * raw (64 bytes) receives the signature when it is not NULL.
 */
static int
parse_sig(const char *sig, size_t siglen, char *keyid, unsigned char *raw, struct barge_err *err)
{
	unsigned char dec[SIG_DEC_LEN], again[SIG_B64_LEN + 1];
	json_error_t jerr;
	json_t *doc = NULL, *v;
	const char *b64, *id;
	const char *key;
	size_t n;
	int rc;

	if (siglen > SIGN_SIG_MAX) {
		rc = err_set(err, BARGE_EFORMAT, "barge.json.sig: larger than %d bytes",
		             SIGN_SIG_MAX);
		goto out;
	}
	if ((doc = json_loadb(sig, siglen, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "barge.json.sig: line %d: %s", jerr.line,
		             jerr.text);
		goto out;
	}
	if (!json_is_object(doc)) {
		rc = err_set(err, BARGE_EFORMAT, "barge.json.sig: not a JSON object");
		goto out;
	}
	json_object_foreach(doc, key, v)
	{
		if (strcmp(key, "schemaVersion") != 0 && strcmp(key, "algorithm") != 0 &&
		    strcmp(key, "keyId") != 0 && strcmp(key, "signature") != 0) {
			rc = err_set(err, BARGE_EFORMAT, "barge.json.sig: unknown member \"%.64s\"",
			             key);
			goto out;
		}
	}
	v = json_object_get(doc, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		rc = err_set(err, BARGE_EFORMAT, "barge.json.sig: schemaVersion must be 1");
		goto out;
	}
	v = json_object_get(doc, "algorithm");
	if (!json_is_string(v) || strcmp(json_string_value(v), "ed25519") != 0) {
		rc = err_set(err, BARGE_EFORMAT, "barge.json.sig: algorithm must be \"ed25519\"");
		goto out;
	}
	v = json_object_get(doc, "keyId");
	id = json_string_value(v);
	if (id == NULL || strncmp(id, "sha256:", 7) != 0 || !digest_valid(id)) {
		rc = err_set(err, BARGE_EFORMAT, "barge.json.sig: keyId is not a sha256 digest");
		goto out;
	}
	v = json_object_get(doc, "signature");
	b64 = json_string_value(v);
	/*
	 * Strict: decoding, then encoding again, must give back the same text,
	 * so that one signature has one spelling (no stray padding bits).
	 */
	if (b64 == NULL || (n = strlen(b64)) != SIG_B64_LEN ||
	    EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n) != SIG_DEC_LEN ||
	    EVP_EncodeBlock(again, dec, ED25519_SIG_LEN) != SIG_B64_LEN ||
	    memcmp(again, b64, SIG_B64_LEN) != 0) {
		rc = err_set(err, BARGE_EFORMAT,
		             "barge.json.sig: signature is not the base64 of %d bytes",
		             ED25519_SIG_LEN);
		goto out;
	}
	if (raw != NULL)
		memcpy(raw, dec, ED25519_SIG_LEN);
	snprintf(keyid, DIGEST_STR_MAX, "%s", id);
	rc = BARGE_OK;
out:
	json_decref(doc);
	return rc;
}

int
sign_read_keyid(const char *sig, size_t siglen, char *keyid, struct barge_err *err)
{
	return parse_sig(sig, siglen, keyid, NULL, err);
}

int
sign_check(struct sign_key *const *trusted, size_t ntrusted, const void *msg, size_t len,
           const char *sig, size_t siglen, char *keyid, struct barge_err *err)
{
	unsigned char raw[ED25519_SIG_LEN];
	char id[DIGEST_STR_MAX];
	EVP_MD_CTX *md = NULL;
	const struct sign_key *k = NULL;
	size_t i;
	int rc;

	if ((rc = parse_sig(sig, siglen, id, raw, err)) != BARGE_OK)
		return rc;
	for (i = 0; i < ntrusted && k == NULL; i++)
		if (strcmp(trusted[i]->id, id) == 0)
			k = trusted[i];
	if (k == NULL)
		return err_set(err, BARGE_EAUTH, "signed by key %s, which is not trusted", id);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) != 1) {
		rc = err_set(err, BARGE_EINTERNAL, "cannot set up Ed25519 verification");
		goto out;
	}
	if (EVP_DigestVerify(md, raw, sizeof(raw), msg, len) != 1) {
		rc = err_set(err, BARGE_EAUTH, "the signature by key %s does not match barge.json",
		             id);
		goto out;
	}
	snprintf(keyid, DIGEST_STR_MAX, "%s", id);
	rc = BARGE_OK;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int
sign_load_trusted(const char *dir, int dir_optional, char *const *files, size_t nfiles,
                  struct sign_key ***out, size_t *n, struct barge_err *err)
{
	struct sign_key **all = NULL, **grown;
	size_t nall = 0, i;
	int rc;

	rc = sign_key_load_dir(dir, &all, &nall, err);
	/* A default directory may well not exist: then no key is trusted by default. */
	if (rc == BARGE_ENOTFOUND && dir_optional) {
		all = NULL;
		nall = 0;
		rc = BARGE_OK;
	}
	if (rc != BARGE_OK)
		return rc;
	if (nfiles > 0) {
		if ((grown = realloc(all, (nall + nfiles) * sizeof(*all))) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto fail;
		}
		all = grown;
		for (i = 0; i < nfiles; i++, nall++)
			if ((rc = sign_key_load_public(files[i], &all[nall], err)) != BARGE_OK)
				goto fail;
	}
	*out = all;
	*n = nall;
	return BARGE_OK;
fail:
	sign_keys_free(all, nall);
	return rc;
}

void
sign_keys_free(struct sign_key **keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sign_key_free(keys[i]);
	free(keys);
}
