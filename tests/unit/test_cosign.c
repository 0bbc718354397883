#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cosign.h"
#include "fixture.h"

static const char digest[] =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* A simple-signing payload naming d. */
static void
payload_for(const char *d, char *buf, size_t len)
{
	snprintf(buf, len,
	         "{\"critical\":{\"identity\":{\"docker-reference\":\"r.example/app\"},"
	         "\"image\":{\"docker-manifest-digest\":\"%s\"},"
	         "\"type\":\"cosign container image signature\"},\"optional\":null}",
	         d);
}

/* A fresh key of type ("EC" on P-256, "ED25519" or "RSA"), its public half written to path. */
static EVP_PKEY *
keypair(const char *type, const char *path)
{
	EVP_PKEY *k;
	FILE *f;

	if (strcmp(type, "EC") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(type, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(k);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
	return k;
}

/* The base64 signature of msg by k, as cosign writes it (SHA-256 for ECDSA). */
static void
sign_b64(EVP_PKEY *k, const char *msg, char *out)
{
	unsigned char sig[512];
	size_t n = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ed = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;

	assert_int_equal(EVP_DigestSignInit(ctx, NULL, ed ? NULL : EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(ctx);
	EVP_EncodeBlock((unsigned char *)out, sig, (int)n);
}

/* Signs a payload for digest with a key of type and checks it against the public key. */
static void
roundtrip(const char *type)
{
	char dir[FX_DIR_MAX], *pub, *pub2, payload[512], sig[1024], other[1024];
	struct cosign_key *ck = NULL;
	struct barge_err err;
	EVP_PKEY *k, *k2;

	fx_tmpdir(dir, "cosign");
	pub = fx_path(dir, "pub.pem");
	k = keypair(type, pub);
	payload_for(digest, payload, sizeof(payload));
	sign_b64(k, payload, sig);
	if (cosign_key_load(pub, &ck, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	if (cosign_verify(ck, payload, strlen(payload), sig, digest, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	/* The payload must name the image being checked. */
	assert_int_equal(cosign_verify(ck, payload, strlen(payload), sig,
	                               "sha256:1123456789abcdef0123456789abcdef0123456789abcdef01"
	                               "23456789abcdef",
	                               &err),
	                 BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "payload signs sha256:0123"));
	/* Another key's signature of the same payload does not verify. */
	pub2 = fx_path(dir, "other.pem");
	k2 = keypair(type, pub2);
	sign_b64(k2, payload, other);
	assert_int_equal(cosign_verify(ck, payload, strlen(payload), other, digest, &err),
	                 BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "does not verify"));
	/* Nor does the signature over altered bytes. */
	payload[10] ^= 1;
	assert_int_equal(cosign_verify(ck, payload, strlen(payload), sig, digest, &err),
	                 BARGE_EAUTH);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	cosign_key_free(ck);
	free(pub);
	free(pub2);
	fx_rmtree(dir);
}

static void
test_ecdsa_p256(void **state)
{
	(void)state;
	roundtrip("EC");
}

static void
test_ed25519(void **state)
{
	(void)state;
	roundtrip("ED25519");
}

static void
test_rsa_key_refused(void **state)
{
	char dir[FX_DIR_MAX], *pub;
	struct cosign_key *ck = NULL;
	struct barge_err err;

	(void)state;
	fx_tmpdir(dir, "cosign");
	pub = fx_path(dir, "rsa.pem");
	EVP_PKEY_free(keypair("RSA", pub));
	assert_int_equal(cosign_key_load(pub, &ck, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "neither ECDSA P-256 nor Ed25519"));
	assert_non_null(strstr(err.msg, pub));
	assert_null(ck);
	free(pub);
	fx_rmtree(dir);
}

static void
test_bad_signature_and_payload(void **state)
{
	char dir[FX_DIR_MAX], *pub, payload[512], sig[1024];
	static const char notcosign[] = "{\"critical\":{\"type\":\"something else\"}}";
	struct cosign_key *ck = NULL;
	struct barge_err err;
	EVP_PKEY *k;

	(void)state;
	fx_tmpdir(dir, "cosign");
	pub = fx_path(dir, "pub.pem");
	k = keypair("ED25519", pub);
	assert_int_equal(cosign_key_load(pub, &ck, &err), BARGE_OK);
	payload_for(digest, payload, sizeof(payload));
	assert_int_equal(cosign_verify(ck, payload, strlen(payload), "not base64!", digest, &err),
	                 BARGE_EFORMAT);
	assert_int_equal(cosign_verify(ck, payload, strlen(payload), "", digest, &err),
	                 BARGE_EFORMAT);
	/* A valid signature of a document that is not a cosign payload. */
	sign_b64(k, notcosign, sig);
	assert_int_equal(cosign_verify(ck, notcosign, strlen(notcosign), sig, digest, &err),
	                 BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "critical.type"));
	EVP_PKEY_free(k);
	cosign_key_free(ck);
	free(pub);
	fx_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_ecdsa_p256),
	cmocka_unit_test(test_ed25519),
	cmocka_unit_test(test_rsa_key_refused),
	cmocka_unit_test(test_bad_signature_and_payload),
};

BARGE_TEST_MAIN(tests)
