/*
 * cosign: checking cosign's "simple signing" signatures (barge build
 * --verify-signatures), with OpenSSL.
 *
 * A cosign signature is a layer of the image's "sha256-<hex>.sig"
 * manifest: the layer's blob is the payload, JSON
 *   {"critical": {"identity": {"docker-reference": ...},
 *                 "image": {"docker-manifest-digest": "sha256:..."},
 *                 "type": "cosign container image signature"}, ...}
 * and its annotation "dev.cosignproject.cosign/signature" is the base64
 * signature of the payload's exact bytes: ECDSA P-256 over SHA-256 (DER),
 * or Ed25519.  A signature counts for an image when it verifies with the
 * key and the payload names the image's digest.  The docker-reference is
 * not compared: a mirror or a copy serves the image under another name.
 *
 * A struct cosign_key owns its OpenSSL key; the caller frees it.
 */
#ifndef BARGE_COSIGN_H
#define BARGE_COSIGN_H

#include <stddef.h>

#include "err.h"

#define COSIGN_PAYLOAD_MAX (64 * 1024) /* cosign's payloads are a few hundred bytes */
#define COSIGN_SIG_MAX     1024        /* base64 characters of one signature */
#define COSIGN_ANNOTATION  "dev.cosignproject.cosign/signature"

struct cosign_key;

/* Loads a PEM public key (ECDSA P-256 or Ed25519).  BARGE_EFORMAT naming path for another. */
int cosign_key_load(const char *path, struct cosign_key **out,
                    struct barge_err *err) BARGE_MUST_CHECK;
void cosign_key_free(struct cosign_key *k);

/*
 * Whether sig_b64 is k's signature of payload and payload names digest.
 * BARGE_EAUTH when the signature does not verify or names another digest,
 * BARGE_EFORMAT when the payload or signature is malformed.
 */
int cosign_verify(const struct cosign_key *k, const char *payload, size_t len, const char *sig_b64,
                  const char *digest, struct barge_err *err) BARGE_MUST_CHECK;

#endif
