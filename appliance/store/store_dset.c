/*
 * store_dset: a set of digests for GC and fsck (store_int.h), bounded so
 * that a store far beyond what this code was built for fails cleanly, and
 * digests as binary keys (struct dkey) for fsck's large sorted tables.
 */
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

static int
unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
dkey_pack(const char *digest, struct dkey *out)
{
	size_t i, n;
	int hi, lo;

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
	digest += 7;
	for (i = 0; i < n; i++) {
		if ((hi = unhex(digest[2 * i])) < 0 || (lo = unhex(digest[2 * i + 1])) < 0)
			return -1;
		out->b[1 + i] = (unsigned char)(hi << 4 | lo);
	}
	return digest[2 * n] == '\0' ? 0 : -1;
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
