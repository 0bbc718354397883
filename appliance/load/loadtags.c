/*
 * loadtags: finding the tags a bundle moves, and the refusal that names
 * them (loadtags.h).  Owns the list of moves of one scan.
 */
#include "loadtags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_load.h"

void
loadtags_clear(struct loadtags *t)
{
	if (t == NULL)
		return;
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* Appends an empty move to t; NULL without memory.  Grows up to the bundle's tag count. */
static struct loader_tag_move *
add(struct loadtags *t, size_t max)
{
	struct loader_tag_move *nv;
	size_t cap;

	if (t->n == t->cap) {
		cap = t->cap == 0 ? 8 : t->cap * 2;
		if (cap > max)
			cap = max;
		if ((nv = realloc(t->v, cap * sizeof(*nv))) == NULL)
			return NULL;
		t->v = nv;
		t->cap = cap;
	}
	memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
	return &t->v[t->n++];
}

/* Adds to t each of the n tags of repo that s has on another digest than digest. */
static int
scan_tags(struct store *s, const char *repo, char *const *tags, size_t n, const char *digest,
          int referrer, struct loadtags *t, size_t total, struct barge_err *err)
{
	struct loader_tag_move m, *slot;
	size_t j;
	int rc;

	for (j = 0; j < n; j++) {
		memset(&m, 0, sizeof(m));
		rc = store_load_tag(s, repo, tags[j], m.old_digest, m.old_name, sizeof(m.old_name),
		                    m.old_version, sizeof(m.old_version), err);
		if (rc == BARGE_ENOTFOUND)
			continue;
		if (rc != BARGE_OK)
			return rc;
		if (strcmp(m.old_digest, digest) == 0)
			continue;
		if ((slot = add(t, total)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		m.repository = repo;
		m.tag = tags[j];
		m.new_digest = digest;
		m.referrer = referrer;
		*slot = m;
	}
	return BARGE_OK;
}

int
loadtags_scan(struct store *s, const struct bundle_meta *meta, struct loadtags *t,
              struct barge_err *err)
{
	const struct bundle_referrer *r;
	const struct bundle_image *im;
	size_t i, total = 0;
	int rc;

	loadtags_clear(t);
	for (i = 0; i < meta->nimages; i++)
		total += meta->images[i].ntags;
	for (i = 0; i < meta->nreferrers; i++)
		total += meta->referrers[i].ntags;
	for (i = 0; i < meta->nimages; i++) {
		im = &meta->images[i];
		if ((rc = scan_tags(s, im->repository, im->tags, im->ntags, im->digest, 0, t, total,
		                    err)) != BARGE_OK)
			return rc;
	}
	/* A referrer's tags ("sha256-<hex>.sig") follow the same policy as an image's. */
	for (i = 0; i < meta->nreferrers; i++) {
		r = &meta->referrers[i];
		if ((rc = scan_tags(s, r->repository, r->tags, r->ntags, r->digest, 1, t, total,
		                    err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

struct loader_tag_move *
loadtags_find(const struct loadtags *t, const char *repo, const char *tag)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].tag, tag) == 0 && strcmp(t->v[i].repository, repo) == 0)
			return &t->v[i];
	return NULL;
}

int
loadtags_refuse(const struct loadtags *t, struct barge_err *err)
{
	const struct loader_tag_move *m;
	char by[400], more[64];

	if (t->n == 0)
		return BARGE_OK;
	m = &t->v[0];
	if (m->old_name[0] != '\0')
		snprintf(by, sizeof(by), "bundle %s %s", m->old_name, m->old_version);
	else if (m->referrer)
		snprintf(by, sizeof(by), "a push or an earlier bundle's referrers");
	else
		snprintf(by, sizeof(by), "a push");
	more[0] = '\0';
	if (t->n > 1)
		snprintf(more, sizeof(more), " (and %zu more tag%s)", t->n - 1,
		         t->n == 2 ? "" : "s");
	return err_set(err, BARGE_EEXIST,
	               "refused (tags policy \"refuse\"): it would move tag %s:%s from %s "
	               "(set by %s) to %s%s",
	               m->repository, m->tag, m->old_digest, by, m->new_digest, more);
}
