/*
 * fuzz_cosign: cosign signature payloads and signatures (bundler/cosign.h),
 * which `barge build --verify-signatures` reads from an upstream registry.
 *
 * The first byte chooses the mode.  Even: the rest is a payload, signed
 * here with the harness's Ed25519 key so that the signature verifies and
 * the payload's JSON is what is parsed.  Odd: the rest is the base64
 * signature of a fixed payload.  Either way cosign_verify must answer
 * without crashing, and accept only a payload that names the digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cosign.h"
#include "fuzz.h"

static const char digest[] =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char fixed[] = "{\"critical\":{\"type\":\"cosign container image signature\"}}";

static EVP_PKEY *priv;
static struct cosign_key *pub;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct barge_err err;
	char path[4096];
	FILE *f;

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/pub.pem", fuzz_tmpdir());
	if ((priv = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (f = fopen(path, "w")) == NULL)
		abort();
	if (PEM_write_PUBKEY(f, priv) != 1 || fclose(f) != 0 ||
	    cosign_key_load(path, &pub, &err) != BARGE_OK)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char sig[64], b64[128];
	struct barge_err err;
	EVP_MD_CTX *ctx;
	size_t n = sizeof(sig);
	char *text;
	int rc;

	if (size < 1 || size > COSIGN_PAYLOAD_MAX)
		return 0;
	if (data[0] & 1) {
		text = fuzz_str(data + 1, size - 1);
		if (cosign_verify(pub, fixed, strlen(fixed), text, digest, &err) == BARGE_OK)
			abort();
		free(text);
		return 0;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv) != 1 ||
	    EVP_DigestSign(ctx, sig, &n, data + 1, size - 1) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	EVP_EncodeBlock(b64, sig, (int)n);
	rc = cosign_verify(pub, (const char *)data + 1, size - 1, (const char *)b64, digest, &err);
	/* Accepted only when the payload names the digest. */
	if (rc == BARGE_OK && memmem(data + 1, size - 1, digest, sizeof(digest) - 1) == NULL)
		abort();
	return 0;
}
