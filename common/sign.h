/*
 * sign: Ed25519 signatures over barge.json (OpenSSL EVP).
 *
 * Keys are PEM files: PKCS#8 "PRIVATE KEY" (mode 0600) and SPKI "PUBLIC
 * KEY".  A key's id is "sha256:<hex>" of its DER SubjectPublicKeyInfo, so
 * the same public key always has the same id whoever computes it.
 *
 * barge.json.sig, the second bundle entry, is JSON:
 *   {"schemaVersion": 1, "algorithm": "ed25519",
 *    "keyId": "sha256:<hex>", "signature": "<base64 of 64 bytes>"}
 * and signs the exact bytes of barge.json.  Because barge.json lists every
 * blob digest and every blob is checked against its digest, this signs the
 * whole bundle.
 */
#ifndef BARGE_SIGN_H
#define BARGE_SIGN_H

#include <stddef.h>

#include "digest.h"
#include "err.h"

/* The largest barge.json.sig accepted. */
#define SIGN_SIG_MAX 4096

struct sign_key;

/*
 * Generates a key pair and writes PREFIX.key (0600, refusing to overwrite)
 * and PREFIX.pub.  keyid (DIGEST_STR_MAX bytes) receives the key id.
 */
int sign_keygen(const char *prefix, char *keyid, struct barge_err *err) BARGE_MUST_CHECK;

/* Loads a private key (for signing) or a public key (for checking). Caller frees. */
int sign_key_load_private(const char *path, struct sign_key **out,
                          struct barge_err *err) BARGE_MUST_CHECK;
int sign_key_load_public(const char *path, struct sign_key **out,
                         struct barge_err *err) BARGE_MUST_CHECK;
/* Every "*.pub" in dir (e.g. /etc/barge/keys); *n may be 0.  Caller frees each and the array. */
int sign_key_load_dir(const char *dir, struct sign_key ***out, size_t *n,
                      struct barge_err *err) BARGE_MUST_CHECK;
const char *sign_key_id(const struct sign_key *k);
void sign_key_free(struct sign_key *k);

/* Signs msg with a private key; *sig (caller frees) is the barge.json.sig text. */
int sign_make(const struct sign_key *k, const void *msg, size_t len, char **sig, size_t *siglen,
              struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Reads the key id from barge.json.sig text without checking it (for
 * display).  BARGE_EFORMAT when sig is malformed.
 */
int sign_read_keyid(const char *sig, size_t siglen, char *keyid,
                    struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Checks sig over msg against the trusted keys.  BARGE_OK with keyid set
 * when a trusted key made it; BARGE_EAUTH, naming the key id, when no
 * trusted key has that id or the signature does not verify; BARGE_EFORMAT
 * when sig is malformed.
 */
int sign_check(struct sign_key *const *trusted, size_t ntrusted, const void *msg, size_t len,
               const char *sig, size_t siglen, char *keyid, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * The trusted keys: every "*.pub" of dir, then each of files.  With
 * dir_optional, a dir that does not exist is no key (a default directory
 * need not be there); any other failure, or one file that is not a public
 * key, fails the whole.  *n may be 0; free the result with sign_keys_free.
 */
int sign_load_trusted(const char *dir, int dir_optional, char *const *files, size_t nfiles,
                      struct sign_key ***out, size_t *n, struct barge_err *err) BARGE_MUST_CHECK;
/* Frees keys[0..n) and the array.  Accepts NULL. */
void sign_keys_free(struct sign_key **keys, size_t n);

#endif
