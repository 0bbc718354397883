/*
 * resolve: pinning a lock's images to the digests their registries serve
 * now, and choosing an index's entries for the lock's platforms.  It owns
 * nothing past a call but the client resolve_profiles makes and frees.
 */
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "localsrc.h"
#include "manifest.h"
#include "profile.h"
#include "referrers.h"

/* "linux/amd64, linux/arm64/v8": the platforms an index offers. */
static void
available_platforms(const struct manifest *idx, char *buf, size_t len)
{
	char one[3 * PLATFORM_FIELD_MAX];
	size_t i, n;

	buf[0] = '\0';
	for (i = 0; i < idx->ndescs; i++) {
		if (!idx->descs[i].has_platform)
			continue;
		platform_format(&idx->descs[i].platform, one, sizeof(one));
		n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", n > 0 ? ", " : "", one);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
}

/*
 * The entries of index m kept for platforms: one per platform, the same
 * entry once even if several platforms pick it.  BARGE_ENOTFOUND naming
 * source, the platform and what the index offers when one has no match.
 * Caller frees *out.
 */
static int
resolve_pick(const char *source, const struct manifest *m, const struct platform *platforms,
             size_t nplatforms, struct lock_manifest **out, size_t *n, struct barge_err *err)
{
	const struct manifest_desc *desc;
	struct lock_manifest *picked = NULL;
	char want[3 * PLATFORM_FIELD_MAX], avail[1024];
	size_t i, j, npicked = 0;

	if ((picked = calloc(nplatforms + 1, sizeof(*picked))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (i = 0; i < nplatforms; i++) {
		if ((desc = manifest_pick(m, &platforms[i])) == NULL) {
			platform_format(&platforms[i], want, sizeof(want));
			available_platforms(m, avail, sizeof(avail));
			free(picked);
			return err_set(err, BARGE_ENOTFOUND,
			               "%s: no manifest for platform %s (available: %s)", source,
			               want, avail);
		}
		/* linux/arm64 and linux/arm64/v8 may pick the same entry. */
		for (j = 0; j < npicked; j++)
			if (strcmp(picked[j].digest, desc->digest) == 0)
				break;
		if (j < npicked)
			continue;
		picked[npicked].platform = desc->platform;
		snprintf(picked[npicked].digest, sizeof(picked[npicked].digest), "%s",
		         desc->digest);
		picked[npicked].size = desc->size;
		npicked++;
	}
	*out = picked;
	*n = npicked;
	return BARGE_OK;
}

static int
resolve_one(struct lock *l, struct lock_image *im, struct client *c, struct barge_err *err)
{
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	int rc;

	/* A local image is read from its file, never from a registry. */
	if (im->from != NULL)
		rc = localsrc_manifest(im->from, im->ref, &cm, err);
	else
		rc = client_get_manifest(c, im->ref,
		                         im->ref->digest != NULL ? im->ref->digest : im->ref->tag,
		                         &cm, err);
	if (rc != BARGE_OK)
		goto out;
	if ((rc = manifest_parse(cm.buf, cm.len, cm.media_type, &m, err)) != BARGE_OK) {
		err_prefix(err, "%s", im->source);
		goto out;
	}
	snprintf(im->digest, sizeof(im->digest), "%s", cm.digest);
	im->size = (int64_t)cm.len;
	free(im->media_type);
	if ((im->media_type = strdup(m->media_type)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	free(im->manifests);
	im->manifests = NULL;
	im->nmanifests = 0;
	if (m->kind == MANIFEST_INDEX &&
	    (rc = resolve_pick(im->source, m, l->platforms, l->nplatforms, &im->manifests,
	                       &im->nmanifests, err)) != BARGE_OK)
		goto out;
	/* A local image has no registry to ask for its referrers. */
	if (!l->no_referrers && im->from == NULL)
		rc = referrers_find(l, im, c, err);
out:
	manifest_free(m);
	client_manifest_clear(&cm);
	return rc;
}

/*
 * Whether the images after one that failed with rc are still worth trying:
 * yes when the failure is the image's own (absent, refused, malformed), no
 * when it would only repeat for each (the network after its retries, the
 * local system).
 */
static int
resolve_goes_on(int rc)
{
	return rc == BARGE_ENOTFOUND || rc == BARGE_EAUTH || rc == BARGE_EFORMAT ||
	       rc == BARGE_EDIGEST || rc == BARGE_EINVAL || rc == BARGE_ELIMIT;
}

/* Appends "; msg" to list (just msg when list is empty), as much as it holds. */
static void
list_add(char *list, size_t cap, const char *msg)
{
	size_t len = strlen(list), n;

	if (len > 0 && len + 2 < cap) {
		memcpy(list + len, "; ", 2);
		len += 2;
	}
	n = strlen(msg);
	if (n > cap - len - 1)
		n = cap - len - 1;
	memcpy(list + len, msg, n);
	list[len + n] = '\0';
}

int
resolve_lock(struct lock *l, struct client *c, resolve_note_fn note, resolve_note_fn failed,
             void *arg, struct barge_err *err)
{
	char msg[REF_MAX + 64], list[BARGE_ERR_MSG_MAX] = "";
	struct barge_err one;
	struct lock_image *im;
	size_t i, nfailed = 0;
	int rc, first = BARGE_OK;

	for (i = 0; i < l->nimages; i++) {
		im = &l->images[i];
		if (note != NULL) {
			snprintf(msg, sizeof(msg), "resolving %s (%zu/%zu)", im->source, i + 1,
			         l->nimages);
			note(arg, msg);
		}
		err_clear(&one);
		if ((rc = resolve_one(l, im, c, &one)) == BARGE_OK)
			continue;
		/* Where the image was named is what the author needs to fix it. */
		if (im->norigins > 0)
			err_prefix(&one, "pack \"%s\" (%s:%d)", im->origins[0].pack,
			           im->origins[0].file, im->origins[0].line);
		if (!resolve_goes_on(rc)) {
			*err = one;
			return rc;
		}
		if (nfailed++ == 0)
			first = rc;
		if (failed != NULL) {
			failed(arg, one.msg);
		} else {
			list_add(list, sizeof(list), one.msg);
		}
	}
	if (nfailed == 0)
		return BARGE_OK;
	return err_set(err, first, "%zu of %zu image%s could not be resolved%s%s", nfailed,
	               l->nimages, l->nimages == 1 ? "" : "s", list[0] != '\0' ? ": " : "", list);
}

int
resolve_profiles(const char *const *paths, size_t n, const struct platform *platforms,
                 size_t nplatforms, const struct client_config *cfg, resolve_note_fn note,
                 resolve_note_fn failed, void *arg, struct lock **out, struct barge_err *err)
{
	struct profile *p = NULL;
	struct client *c = NULL;
	struct lock *l = NULL;
	char msg[64];
	int rc;

	if ((rc = profile_load_many(paths, n, &p, err)) != BARGE_OK ||
	    (rc = lock_from_profile(p, platforms, nplatforms, &l, err)) != BARGE_OK)
		goto fail;
	if (p->nexcluded > 0 && note != NULL) {
		snprintf(msg, sizeof(msg), "spec.exclude dropped %zu image%s", p->nexcluded,
		         p->nexcluded == 1 ? "" : "s");
		note(arg, msg);
	}
	if (cfg != NULL && ((rc = client_new(cfg, &c, err)) != BARGE_OK ||
	                    (rc = resolve_lock(l, c, note, failed, arg, err)) != BARGE_OK))
		goto fail;
	client_free(c);
	profile_free(p);
	*out = l;
	return BARGE_OK;
fail:
	lock_free(l);
	client_free(c);
	profile_free(p);
	return rc;
}
