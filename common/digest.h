/*
 * digest: content digests ("sha256:<64 hex>", "sha512:<128 hex>") computed
 * as streams with OpenSSL EVP, and a writer that verifies what it writes.
 */
#ifndef BARGE_DIGEST_H
#define BARGE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Room for "sha512:" + 128 hex + NUL. */
#define DIGEST_STR_MAX 136

enum digest_alg { DIGEST_SHA256, DIGEST_SHA512 };

/*
 * Checks that s is a well-formed digest of a supported algorithm with
 * lowercase hex of the right length.  Sets *alg and *hex (pointing into s)
 * when they are not NULL.
 */
int digest_parse(const char *s, enum digest_alg *alg, const char **hex,
                 struct barge_err *err) BARGE_MUST_CHECK;
int digest_valid(const char *s);

struct digest_ctx;
int digest_new(enum digest_alg alg, struct digest_ctx **out,
               struct barge_err *err) BARGE_MUST_CHECK;
int digest_update(struct digest_ctx *c, const void *buf, size_t len,
                  struct barge_err *err) BARGE_MUST_CHECK;
/* Writes "alg:hex" into out (DIGEST_STR_MAX bytes).  The context can not be updated after. */
int digest_final(struct digest_ctx *c, char *out, struct barge_err *err) BARGE_MUST_CHECK;
void digest_free(struct digest_ctx *c);

/* One-shot digest of a buffer. */
int digest_buf(enum digest_alg alg, const void *buf, size_t len, char *out,
               struct barge_err *err) BARGE_MUST_CHECK;

/*
 * A writer that hashes and counts every byte it writes to fd and, at
 * digest_writer_finish, checks them against the expected digest and size.
 * Writing more than the expected size fails at once.  The writer does not own
 * fd: the caller closes it (and removes the file on failure).
 * expect_size < 0 means the size is not known in advance.
 */
struct digest_writer;
int digest_writer_new(int fd, const char *expect_digest, int64_t expect_size,
                      struct digest_writer **out, struct barge_err *err) BARGE_MUST_CHECK;
int digest_writer_write(struct digest_writer *w, const void *buf, size_t len,
                        struct barge_err *err) BARGE_MUST_CHECK;
/* BARGE_EDIGEST, naming both digests or sizes, when the content is not what was expected. */
int digest_writer_finish(struct digest_writer *w, struct barge_err *err) BARGE_MUST_CHECK;
int64_t digest_writer_count(const struct digest_writer *w);
void digest_writer_free(struct digest_writer *w);

#endif
