/*
 * store_dset: a set of digests for GC and fsck (store_int.h), bounded so
 * that a store far beyond what this code was built for fails cleanly, and
 * digests as binary keys (struct dkey) for fsck's large sorted tables.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* A digest set larger than this is not a store this code was built for. */
#define DSET_MAX (64 * 1024 * 1024)

int
dset_add(struct dset *set, const char *digest, struct barge_err *err)
{
	char(*nd)[DIGEST_STR_MAX];
	size_t cap;

	if (set->n == set->cap) {
		cap = set->cap ? set->cap * 2 : 64;
		if (cap > DSET_MAX)
			return err_set(err, BARGE_ELIMIT, "more than %d digests to track",
			               DSET_MAX);
		if ((nd = realloc(set->d, cap * sizeof(*nd))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		set->d = nd;
		set->cap = cap;
	}
	snprintf(set->d[set->n++], DIGEST_STR_MAX, "%s", digest);
	return BARGE_OK;
}

static int
dset_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

void
dset_sort(struct dset *set)
{
	if (set->n > 0)
		qsort(set->d, set->n, sizeof(*set->d), dset_cmp);
}

int
dset_has(const struct dset *set, const char *digest)
{
	return set->n > 0 && bsearch(digest, set->d, set->n, sizeof(*set->d), dset_cmp) != NULL;
}

void
dset_free(struct dset *set)
{
	free(set->d);
	set->d = NULL;
	set->n = set->cap = 0;
}

/* Each hex digit's value, -1 for anything else (uppercase included, as digest_parse). */
static signed char unhex[256];

static void
unhex_init(void)
{
	int c;

	for (c = 0; c < 256; c++)
		unhex[c] = (signed char)(c >= '0' && c <= '9'   ? c - '0'
		                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
		                                                : -1);
}

int
dkey_pack(const char *digest, struct dkey *out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const unsigned char *h;
	size_t i, n;
	int hi, lo;

	(void)pthread_once(&once, unhex_init);
	memset(out, 0, sizeof(*out));
	if (strncmp(digest, "sha256:", 7) == 0) {
		out->b[0] = DIGEST_SHA256;
		n = 32;
	} else if (strncmp(digest, "sha512:", 7) == 0) {
		out->b[0] = DIGEST_SHA512;
		n = 64;
	} else {
		return -1;
	}
	h = (const unsigned char *)digest + 7;
	for (i = 0; i < n; i++) {
		/* The NUL is not a hex digit: a short digest stops here. */
		if ((hi = unhex[h[2 * i]]) < 0 || (lo = unhex[h[2 * i + 1]]) < 0)
			return -1;
		out->b[1 + i] = (unsigned char)(hi << 4 | lo);
	}
	return h[2 * n] == '\0' ? 0 : -1;
}

void
dkey_str(const struct dkey *k, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n = k->b[0] == DIGEST_SHA256 ? 32 : 64;

	memcpy(out, k->b[0] == DIGEST_SHA256 ? "sha256:" : "sha512:", 7);
	for (i = 0; i < n; i++) {
		out[7 + 2 * i] = hex[k->b[1 + i] >> 4];
		out[8 + 2 * i] = hex[k->b[1 + i] & 15];
	}
	out[7 + 2 * n] = '\0';
}

int
dkey_cmp(const void *a, const void *b)
{
	return memcmp(a, b, DKEY_LEN);
}

/* More than this is not a store this code was built for (as DSET_MAX); slots fit uint32_t. */
#define DKIDX_MAX (64 * 1024 * 1024)

int
dkidx_init(struct dkidx *x, const void *base, size_t stride, size_t n, struct barge_err *err)
{
	size_t cap = 16;

	memset(x, 0, sizeof(*x));
	if (n > DKIDX_MAX)
		return err_set(err, BARGE_ELIMIT, "more than %d digests to index", DKIDX_MAX);
	/* At most half full, so that probes stay short. */
	while (cap < 2 * n)
		cap *= 2;
	if ((x->slot = calloc(cap, sizeof(*x->slot))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	x->mask = cap - 1;
	x->base = base;
	x->stride = stride;
	return BARGE_OK;
}

/* Digests are uniformly random bytes: their first eight, mixed, pick the slot. */
static size_t
dkidx_home(const struct dkidx *x, const struct dkey *k)
{
	uint64_t h;

	memcpy(&h, k->b + 1, sizeof(h));
	h = (h ^ k->b[0]) * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 32) & x->mask;
}

size_t
dkidx_put(struct dkidx *x, size_t i)
{
	const struct dkey *k = (const struct dkey *)(x->base + i * x->stride);
	size_t h;

	for (h = dkidx_home(x, k); x->slot[h] != 0; h = (h + 1) & x->mask)
		if (memcmp(x->base + (x->slot[h] - 1) * x->stride, k, DKEY_LEN) == 0)
			return x->slot[h] - 1;
	x->slot[h] = (uint32_t)(i + 1);
	return i;
}

size_t
dkidx_find(const struct dkidx *x, const struct dkey *k)
{
	size_t h;

	if (x->slot == NULL)
		return SIZE_MAX;
	for (h = dkidx_home(x, k); x->slot[h] != 0; h = (h + 1) & x->mask)
		if (memcmp(x->base + (x->slot[h] - 1) * x->stride, k, DKEY_LEN) == 0)
			return x->slot[h] - 1;
	return SIZE_MAX;
}

void
dkidx_free(struct dkidx *x)
{
	free(x->slot);
	memset(x, 0, sizeof(*x));
}
