/*
 * digest: content digests ("sha256:<64 hex>", "sha512:<128 hex>") computed
 * as streams with OpenSSL EVP, of buffers and of files, and a writer that
 * verifies what it writes.
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
 * Feeds c the first len bytes of fd, or all of it when len < 0.  Reads with
 * pread from offset 0, so fd's file offset does not move and fd is not
 * owned.  name names the file in errors ("read NAME: ..."); a file shorter
 * than len is BARGE_EIO.
 */
int digest_update_fd(struct digest_ctx *c, int fd, int64_t len, const char *name,
                     struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Hashes all of fd, as digest_update_fd reads it, with the algorithm of the
 * digest like (typically the one the content should have) and writes what
 * it hashes to into out (DIGEST_STR_MAX bytes).  Comparing is the caller's:
 * out differs from like when the content does.  BARGE_EINVAL when like is
 * not a digest.
 */
int digest_fd(int fd, const char *like, const char *name, char *out,
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
