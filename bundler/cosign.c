/*
 * cosign: simple-signing signatures checked with OpenSSL's EVP_DigestVerify
 * (cosign.h).  Owns the EVP_PKEY of each struct cosign_key.
 */
#include "cosign.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define COSIGN_TYPE "cosign container image signature"

struct cosign_key {
	EVP_PKEY *pkey;
	int ed25519; /* else ECDSA P-256, verified over SHA-256 */
};

void
cosign_key_free(struct cosign_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* Whether pkey is an EC key on P-256. */
static int
is_p256(EVP_PKEY *pkey)
{
	char group[64];
	size_t n = 0;

	return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
	       EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &n) == 1 &&
	       strcmp(group, "prime256v1") == 0;
}

int
cosign_key_load(const char *path, struct cosign_key **out, struct barge_err *err)
{
	struct cosign_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno,
		               "verification key %s", path);
	pkey = PEM_read_PUBKEY(f, NULL, NULL, (void *)"");
	fclose(f);
	if (pkey == NULL) {
		ERR_clear_error();
		return err_set(err, BARGE_EFORMAT, "verification key %s: not a PEM public key",
		               path);
	}
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519 && !is_p256(pkey)) {
		EVP_PKEY_free(pkey);
		return err_set(err, BARGE_EFORMAT,
		               "verification key %s: neither ECDSA P-256 nor Ed25519", path);
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		EVP_PKEY_free(pkey);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	k->pkey = pkey;
	k->ed25519 = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
	*out = k;
	return BARGE_OK;
}

/* Decodes base64 sig into raw (at least COSIGN_SIG_MAX bytes); *n its length. */
static int
decode_sig(const char *sig, unsigned char *raw, size_t *n, struct barge_err *err)
{
	size_t len = strlen(sig), pad = 0;
	int got;

	if (len == 0 || len > COSIGN_SIG_MAX || len % 4 != 0)
		return err_set(err, BARGE_EFORMAT, "signature: not base64 of at most %d characters",
		               COSIGN_SIG_MAX);
	/* EVP_DecodeBlock keeps the padding as zero bytes: they are not the signature's. */
	pad = (sig[len - 1] == '=') + (len > 1 && sig[len - 2] == '=');
	if ((got = EVP_DecodeBlock(raw, (const unsigned char *)sig, (int)len)) < 0 ||
	    (size_t)got < pad)
		return err_set(err, BARGE_EFORMAT, "signature: not base64");
	*n = (size_t)got - pad;
	return BARGE_OK;
}

/* The payload must be a cosign signature of digest. */
static int
check_payload(const char *payload, size_t len, const char *digest, struct barge_err *err)
{
	json_t *doc, *crit, *v;
	int rc = BARGE_OK;

	if ((doc = json_loadb(payload, len, 0, NULL)) == NULL ||
	    !json_is_object(crit = json_object_get(doc, "critical"))) {
		json_decref(doc);
		return err_set(err, BARGE_EFORMAT, "payload: not a cosign simple-signing document");
	}
	v = json_object_get(crit, "type");
	if (!json_is_string(v) || strcmp(json_string_value(v), COSIGN_TYPE) != 0) {
		rc = err_set(err, BARGE_EFORMAT, "payload: critical.type is not \"%s\"",
		             COSIGN_TYPE);
		goto out;
	}
	v = json_object_get(json_object_get(crit, "image"), "docker-manifest-digest");
	if (!json_is_string(v)) {
		rc = err_set(err, BARGE_EFORMAT,
		             "payload: no critical.image.docker-manifest-digest");
		goto out;
	}
	if (strcmp(json_string_value(v), digest) != 0)
		rc = err_set(err, BARGE_EAUTH, "payload signs %.80s, not %s", json_string_value(v),
		             digest);
out:
	json_decref(doc);
	return rc;
}

int
cosign_verify(const struct cosign_key *k, const char *payload, size_t len, const char *sig_b64,
              const char *digest, struct barge_err *err)
{
	unsigned char raw[COSIGN_SIG_MAX];
	EVP_MD_CTX *ctx = NULL;
	size_t n = 0;
	int rc, ok;

	if (len > COSIGN_PAYLOAD_MAX)
		return err_set(err, BARGE_ELIMIT, "payload of %zu bytes: at most %d", len,
		               COSIGN_PAYLOAD_MAX);
	if ((rc = decode_sig(sig_b64, raw, &n, err)) != BARGE_OK)
		return rc;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* Ed25519 signs the message itself: no digest is named. */
	ok = EVP_DigestVerifyInit(ctx, NULL, k->ed25519 ? NULL : EVP_sha256(), NULL, k->pkey) ==
	             1 &&
	     EVP_DigestVerify(ctx, raw, n, (const unsigned char *)payload, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return err_set(err, BARGE_EAUTH, "signature does not verify with the key");
	}
	return check_payload(payload, len, digest, err);
}
