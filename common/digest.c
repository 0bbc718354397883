/*
 * digest: OpenSSL EVP behind digest.h's contexts, the one-shot and file
 * helpers, and the verifying writer.  It owns each context's EVP_MD_CTX and
 * a file helper's read buffer; never the descriptors it is handed.
 */
#include "digest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fileutil.h"

/* Large enough that hashing, not the system calls, sets the pace. */
#define DIGEST_FD_BUF (256 * 1024)

struct digest_ctx {
	enum digest_alg alg;
	EVP_MD_CTX *md;
	int done; /* digest_final was called: EVP refuses further updates */
};

struct digest_writer {
	int fd;
	char expect[DIGEST_STR_MAX];
	int64_t expect_size;
	int64_t count;
	int failed; /* a write failed: the file is in an unknown state */
	struct digest_ctx *ctx;
};

static const char *
alg_name(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? "sha512" : "sha256";
}

static size_t
alg_hexlen(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? 128 : 64;
}

int
digest_parse(const char *s, enum digest_alg *alg, const char **hex, struct barge_err *err)
{
	enum digest_alg a;
	const char *h;
	size_t i, n;

	if (s == NULL)
		return err_set(err, BARGE_EINVAL, "missing digest");
	if (strncmp(s, "sha256:", 7) == 0) {
		a = DIGEST_SHA256;
		h = s + 7;
	} else if (strncmp(s, "sha512:", 7) == 0) {
		a = DIGEST_SHA512;
		h = s + 7;
	} else if (strchr(s, ':') != NULL) {
		return err_set(
		        err, BARGE_EINVAL,
		        "invalid digest \"%.200s\": unsupported algorithm (want sha256 or sha512)",
		        s);
	} else {
		return err_set(err, BARGE_EINVAL, "invalid digest \"%.200s\": missing algorithm",
		               s);
	}
	n = strlen(h);
	for (i = 0; i < n; i++) {
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return err_set(err, BARGE_EINVAL,
			               "invalid digest \"%.200s\": not lowercase hex at offset %zu",
			               s, (size_t)(h - s) + i);
	}
	if (n != alg_hexlen(a))
		return err_set(err, BARGE_EINVAL,
		               "invalid digest \"%.200s\": %s needs %zu hex digits, got %zu", s,
		               alg_name(a), alg_hexlen(a), n);
	if (alg != NULL)
		*alg = a;
	if (hex != NULL)
		*hex = h;
	return BARGE_OK;
}

int
digest_valid(const char *s)
{
	return digest_parse(s, NULL, NULL, NULL) == BARGE_OK;
}

int
digest_new(enum digest_alg alg, struct digest_ctx **out, struct barge_err *err)
{
	struct digest_ctx *c = NULL;
	const EVP_MD *md;
	int rc;

	md = alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	c->alg = alg;
	if ((c->md = EVP_MD_CTX_new()) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if (EVP_DigestInit_ex(c->md, md, NULL) != 1) {
		rc = err_set(err, BARGE_EINTERNAL, "%s: digest init failed", alg_name(alg));
		goto fail;
	}
	*out = c;
	return BARGE_OK;
fail:
	digest_free(c);
	return rc;
}

int
digest_update(struct digest_ctx *c, const void *buf, size_t len, struct barge_err *err)
{
	if (c->done)
		return err_set(err, BARGE_EINTERNAL, "digest updated after final");
	if (len == 0)
		return BARGE_OK;
	if (EVP_DigestUpdate(c->md, buf, len) != 1)
		return err_set(err, BARGE_EINTERNAL, "%s: digest update failed", alg_name(c->alg));
	return BARGE_OK;
}

int
digest_final(struct digest_ctx *c, char *out, struct barge_err *err)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	size_t n;

	if (c->done)
		return err_set(err, BARGE_EINTERNAL, "digest finalised twice");
	c->done = 1;
	if (EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 || mdlen * 2 != alg_hexlen(c->alg))
		return err_set(err, BARGE_EINTERNAL, "%s: digest final failed", alg_name(c->alg));
	n = strlen(alg_name(c->alg));
	memcpy(out, alg_name(c->alg), n);
	out[n++] = ':';
	for (i = 0; i < mdlen; i++) {
		out[n++] = hexd[md[i] >> 4];
		out[n++] = hexd[md[i] & 0xf];
	}
	out[n] = '\0';
	return BARGE_OK;
}

void
digest_free(struct digest_ctx *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

int
digest_buf(enum digest_alg alg, const void *buf, size_t len, char *out, struct barge_err *err)
{
	struct digest_ctx *c = NULL;
	int rc;

	if ((rc = digest_new(alg, &c, err)) != BARGE_OK)
		goto out;
	if ((rc = digest_update(c, buf, len, err)) != BARGE_OK)
		goto out;
	rc = digest_final(c, out, err);
out:
	digest_free(c);
	return rc;
}

int
digest_update_fd(struct digest_ctx *c, int fd, int64_t len, const char *name, struct barge_err *err)
{
	unsigned char *buf;
	int64_t off = 0;
	size_t want;
	ssize_t n;
	int rc = BARGE_OK;

	if ((buf = malloc(DIGEST_FD_BUF)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	while (len < 0 || off < len) {
		want = len >= 0 && len - off < DIGEST_FD_BUF ? (size_t)(len - off) : DIGEST_FD_BUF;
		n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "read %s", name);
			break;
		}
		if (n == 0) {
			if (len >= 0)
				rc = err_set(err, BARGE_EIO, "%s: shorter than %" PRId64 " bytes",
				             name, len);
			break;
		}
		if ((rc = digest_update(c, buf, (size_t)n, err)) != BARGE_OK)
			break;
		off += n;
	}
	free(buf);
	return rc;
}

int
digest_fd(int fd, const char *like, const char *name, char *out, struct barge_err *err)
{
	struct digest_ctx *c = NULL;
	enum digest_alg alg;
	int rc;

	if ((rc = digest_parse(like, &alg, NULL, err)) != BARGE_OK ||
	    (rc = digest_new(alg, &c, err)) != BARGE_OK)
		return rc;
	if ((rc = digest_update_fd(c, fd, -1, name, err)) == BARGE_OK)
		rc = digest_final(c, out, err);
	digest_free(c);
	return rc;
}

int
digest_writer_new(int fd, const char *expect_digest, int64_t expect_size,
                  struct digest_writer **out, struct barge_err *err)
{
	struct digest_writer *w = NULL;
	enum digest_alg alg;
	int rc;

	if ((rc = digest_parse(expect_digest, &alg, NULL, err)) != BARGE_OK)
		goto fail;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	w->fd = fd;
	w->expect_size = expect_size < 0 ? -1 : expect_size;
	/* digest_parse bounded its length, so this fits. */
	strcpy(w->expect, expect_digest);
	if ((rc = digest_new(alg, &w->ctx, err)) != BARGE_OK)
		goto fail;
	*out = w;
	return BARGE_OK;
fail:
	digest_writer_free(w);
	return rc;
}

int
digest_writer_write(struct digest_writer *w, const void *buf, size_t len, struct barge_err *err)
{
	int rc;

	if (w->failed)
		return err_set(err, BARGE_EINTERNAL, "%s: write after a failed write", w->expect);
	/* Refuse before writing, so that an oversized stream never lands on disk. */
	if (w->expect_size >= 0 && (uint64_t)len > (uint64_t)(w->expect_size - w->count)) {
		w->failed = 1;
		return err_set(err, BARGE_EDIGEST,
		               "%s: content is longer than the expected %" PRId64 " bytes",
		               w->expect, w->expect_size);
	}
	if (w->expect_size < 0 && (uint64_t)len > (uint64_t)(INT64_MAX - w->count)) {
		w->failed = 1;
		return err_set(err, BARGE_ELIMIT, "%s: content size overflows", w->expect);
	}
	if ((rc = digest_update(w->ctx, buf, len, err)) != BARGE_OK ||
	    (rc = fu_write_all(w->fd, buf, len, err)) != BARGE_OK) {
		w->failed = 1;
		return rc;
	}
	w->count += (int64_t)len;
	return BARGE_OK;
}

int
digest_writer_finish(struct digest_writer *w, struct barge_err *err)
{
	char got[DIGEST_STR_MAX];
	int rc;

	if (w->failed)
		return err_set(err, BARGE_EINTERNAL, "%s: finish after a failed write", w->expect);
	if (w->expect_size >= 0 && w->count != w->expect_size) {
		w->failed = 1;
		return err_set(err, BARGE_EDIGEST,
		               "%s: size mismatch: expected %" PRId64 " bytes, got %" PRId64,
		               w->expect, w->expect_size, w->count);
	}
	if ((rc = digest_final(w->ctx, got, err)) != BARGE_OK) {
		w->failed = 1;
		return rc;
	}
	if (strcmp(got, w->expect) != 0) {
		w->failed = 1;
		return err_set(err, BARGE_EDIGEST, "digest mismatch: expected %s, got %s",
		               w->expect, got);
	}
	return BARGE_OK;
}

int64_t
digest_writer_count(const struct digest_writer *w)
{
	return w->count;
}

void
digest_writer_free(struct digest_writer *w)
{
	if (w == NULL)
		return;
	digest_free(w->ctx);
	free(w);
}
