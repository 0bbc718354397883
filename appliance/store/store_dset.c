/*
 * store_dset: a set of digests for GC and fsck (store_int.h), bounded so
 * that a store far beyond what this code was built for fails cleanly.
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
