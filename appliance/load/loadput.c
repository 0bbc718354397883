/*
 * loadput: the rows a loaded bundle's images and referrers become, written
 * in the loader's metadata transaction (loader_int.h).  Every blob is in
 * the store by then: this checks that each manifest's blobs are there with
 * the sizes it says, and records manifests, references, tags and pins.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader_int.h"
#include "manifest.h"
#include "platform.h"

/* Reads and parses a stored manifest or index (at most MANIFEST_MAX bytes). */
static int
read_manifest(struct load *l, const char *digest, const char *hint, struct manifest **out,
              int64_t *size, struct barge_err *err)
{
	char *buf = NULL;
	size_t have = 0;
	ssize_t n;
	int fd = -1, rc;

	if ((rc = store_blob_open(l->s, digest, &fd, size, err)) != BARGE_OK)
		return rc;
	if (*size > MANIFEST_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "manifest %s: %" PRId64 " bytes, more than %d",
		             digest, *size, MANIFEST_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)*size + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	while (have < (size_t)*size) {
		n = read(fd, buf + have, (size_t)*size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_sys(err, BARGE_EIO, n < 0 ? errno : EIO, "read blob %s", digest);
			goto out;
		}
		have += (size_t)n;
	}
	if ((rc = manifest_parse(buf, have, hint, out, err)) != BARGE_OK)
		err_prefix(err, "manifest %s", digest);
out:
	free(buf);
	close(fd);
	return rc;
}

/* Checks that a blob an image manifest names is stored with the size it says. */
static int
check_desc(struct load *l, const struct bundle_image *im, const char *parent,
           const struct manifest_desc *d, const char *what, struct barge_err *err)
{
	int64_t size;
	int fd, rc;

	rc = store_blob_open(l->s, d->digest, &fd, &size, err);
	if (rc == BARGE_ENOTFOUND)
		return err_set(err, BARGE_ENOTFOUND,
		               "image %s: %s %s of manifest %s is neither in the bundle nor in "
		               "the store",
		               im->repository, what, d->digest, parent);
	if (rc != BARGE_OK)
		return rc;
	close(fd);
	if (size != d->size)
		return err_set(err, BARGE_EDIGEST,
		               "image %s: %s %s is %" PRId64 " bytes, manifest %s says %" PRId64,
		               im->repository, what, d->digest, size, parent, d->size);
	return BARGE_OK;
}

/* Whether every blob of image manifest m is stored. */
static int
check_image_manifest(struct load *l, const struct bundle_image *im, const char *digest,
                     const struct manifest *m, struct barge_err *err)
{
	size_t i;
	int rc;

	if ((rc = check_desc(l, im, digest, &m->config, "config", err)) != BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = check_desc(l, im, digest, &m->descs[i], "layer", err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/* Records an image manifest of repo and its references to its config and layers. */
static int
put_image_manifest(struct load *l, const struct bundle_image *im, const char *digest,
                   const struct manifest *m, int64_t size, struct barge_err *err)
{
	size_t i;
	int rc;

	if ((rc = store_put_manifest(l->s, im->repository, digest, m->media_type, size, err)) !=
	            BARGE_OK ||
	    (rc = store_put_ref(l->s, digest, m->config.digest, err)) != BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = store_put_ref(l->s, digest, m->descs[i].digest, err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/*
 * The platform of barge.json for which index m's entry d is the one the
 * bundler keeps (manifest_pick, as it picks), or NULL.  Refuses an index
 * with no entry at all for one of the platforms: the bundler would not
 * have built it.
 */
static int
chosen_for(struct load *l, const struct bundle_image *im, const struct manifest *m,
           const struct manifest_desc *d, const char **platform, struct barge_err *err)
{
	struct platform want;
	size_t i;

	*platform = NULL;
	for (i = 0; i < l->meta->nplatforms; i++) {
		if (platform_parse(l->meta->platforms[i], &want, err) != BARGE_OK)
			return err_prefix(err, "barge.json: platforms[%zu]", i);
		if (manifest_pick(m, &want) == NULL)
			return err_set(err, BARGE_ENOTFOUND,
			               "image %s: index %s has no manifest for platform %s, one of "
			               "the bundle's platforms",
			               im->repository, im->digest, l->meta->platforms[i]);
		if (*platform == NULL && manifest_pick(m, &want) == d)
			*platform = l->meta->platforms[i];
	}
	return BARGE_OK;
}

/*
 * Records one child of an index.  A bundle keeps only its chosen platforms
 * (a sparse index): a child for one of them (platform not NULL) must be in
 * the bundle or the store, complete, or the load fails; another child in
 * neither is skipped.  A child the bundle brought must be complete; one
 * only the store holds (from another load) counts only if it is.
 */
static int
put_index_child(struct load *l, const struct bundle_image *im, const char *index,
                const struct manifest_desc *d, const char *platform, struct barge_err *err)
{
	struct manifest *m = NULL;
	int64_t size;
	int rc;

	if (!store_blob_exists(l->s, d->digest)) {
		if (platform == NULL)
			return BARGE_OK;
		return err_set(err, BARGE_ENOTFOUND,
		               "image %s: index %s: the manifest %s for platform %s is neither in "
		               "the bundle nor in the store",
		               im->repository, index, d->digest, platform);
	}
	if ((rc = read_manifest(l, d->digest, d->media_type, &m, &size, err)) != BARGE_OK)
		goto out;
	if (size != d->size) {
		rc = err_set(err, BARGE_EDIGEST,
		             "image %s: manifest %s is %" PRId64 " bytes, index %s says %" PRId64,
		             im->repository, d->digest, size, index, d->size);
		goto out;
	}
	if (m->kind != MANIFEST_IMAGE) {
		rc = err_set(err, BARGE_EFORMAT, "image %s: index %s holds another index %s",
		             im->repository, index, d->digest);
		goto out;
	}
	if ((rc = check_image_manifest(l, im, d->digest, m, err)) != BARGE_OK) {
		if (platform == NULL && loader_blob_find(l, d->digest) == NULL &&
		    (rc == BARGE_ENOTFOUND || rc == BARGE_EDIGEST))
			rc = BARGE_OK;
		goto out;
	}
	if ((rc = put_image_manifest(l, im, d->digest, m, size, err)) != BARGE_OK)
		goto out;
	rc = store_put_ref(l->s, index, d->digest, err);
out:
	manifest_free(m);
	return rc;
}

/*
 * Sets the n tags of digest in repo (an image's or a referrer's) by the
 * tags policy: a tag the scan found on another digest moves, or with
 * LOADER_TAGS_KEEP stays where it is.
 */
static int
put_tags(struct load *l, const char *repo, char *const *tags, size_t n, const char *digest,
         struct barge_err *err)
{
	struct loader_tag_move *mv;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		mv = loadtags_find(&l->moves, repo, tags[i]);
		if (mv != NULL && l->opts->tags == LOADER_TAGS_KEEP) {
			mv->kept = 1;
			l->res->tags_kept++;
			continue;
		}
		if ((rc = store_put_tag(l->s, repo, tags[i], digest, err)) != BARGE_OK)
			return rc;
		l->res->tags++;
		l->res->tags_moved += mv != NULL;
	}
	return BARGE_OK;
}

int
loadput_image(struct load *l, const struct bundle_image *im, int64_t bundle_id,
              struct barge_err *err)
{
	const char *platform;
	struct manifest *m = NULL;
	int64_t size;
	size_t i;
	int rc;

	rc = read_manifest(l, im->digest, im->media_type, &m, &size, err);
	if (rc == BARGE_ENOTFOUND) {
		rc = err_set(err, BARGE_ENOTFOUND,
		             "image %s: manifest %s is neither in the bundle nor in the store",
		             im->repository, im->digest);
		goto out;
	}
	if (rc != BARGE_OK)
		goto out;
	if (m->kind == MANIFEST_IMAGE) {
		if ((rc = check_image_manifest(l, im, im->digest, m, err)) != BARGE_OK ||
		    (rc = put_image_manifest(l, im, im->digest, m, size, err)) != BARGE_OK)
			goto out;
	} else {
		if ((rc = store_put_manifest(l->s, im->repository, im->digest, m->media_type, size,
		                             err)) != BARGE_OK)
			goto out;
		for (i = 0; i < m->ndescs; i++)
			if ((rc = chosen_for(l, im, m, &m->descs[i], &platform, err)) != BARGE_OK ||
			    (rc = put_index_child(l, im, im->digest, &m->descs[i], platform,
			                          err)) != BARGE_OK)
				goto out;
	}
	if ((rc = put_tags(l, im->repository, im->tags, im->ntags, im->digest, err)) != BARGE_OK)
		goto out;
	rc = store_put_bundle_image(l->s, bundle_id, im->repository, im->digest, err);
out:
	manifest_free(m);
	return rc;
}

/* Whether r is tagged with its subject's OCI 1.1 fallback tag. */
static int
has_fallback_tag(const struct bundle_referrer *r)
{
	char tag[DIGEST_STR_MAX + 8];
	size_t i;

	if (!bundle_fallback_tag(r->subject, tag, sizeof(tag)))
		return 0;
	for (i = 0; i < r->ntags; i++)
		if (strcmp(r->tags[i], tag) == 0)
			return 1;
	return 0;
}

/*
 * Records index m, a referrer: upstream's fallback index of r's subject
 * (no subject, under the subject's fallback tag) lists referrers the bundle
 * or the store holds, put as entries of their own, so only its references
 * to them are recorded; any other (a multi-platform attestation) brings
 * every manifest it lists, each complete.
 */
static int
put_referrer_index(struct load *l, const struct bundle_referrer *r, const struct manifest *m,
                   int64_t size, struct barge_err *err)
{
	struct bundle_image im = { .repository = r->repository };
	char plat[3 * PLATFORM_FIELD_MAX];
	int fallback = !m->has_subject && has_fallback_tag(r);
	size_t i;
	int rc;

	if ((rc = store_put_manifest(l->s, r->repository, r->digest, m->media_type, size, err)) !=
	    BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++) {
		if (!fallback) {
			snprintf(plat, sizeof(plat), "(none)");
			if (m->descs[i].has_platform)
				platform_format(&m->descs[i].platform, plat, sizeof(plat));
			if ((rc = put_index_child(l, &im, r->digest, &m->descs[i], plat, err)) !=
			    BARGE_OK)
				return err_prefix(err, "referrer %s", r->digest);
			continue;
		}
		if (!store_blob_exists(l->s, m->descs[i].digest))
			return err_set(err, BARGE_ENOTFOUND,
			               "referrer %s of %s: the fallback index lists %s, which is "
			               "neither in the bundle nor in the store",
			               r->digest, r->repository, m->descs[i].digest);
		if ((rc = store_put_ref(l->s, r->digest, m->descs[i].digest, err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/*
 * Records a referrer the bundle carries (a signature, an SBOM): its
 * manifest and blobs like an image's, its reference to its subject, so
 * that /referrers and GC find it, and the tags it was found under.
 */
int
loadput_referrer(struct load *l, const struct bundle_referrer *r, struct barge_err *err)
{
	struct bundle_image im = { .repository = r->repository };
	struct manifest *m = NULL;
	int64_t size;
	int rc;

	if ((rc = read_manifest(l, r->digest, r->media_type, &m, &size, err)) != BARGE_OK)
		goto out;
	if (m->has_subject && strcmp(m->subject.digest, r->subject) != 0) {
		rc = err_set(err, BARGE_EFORMAT,
		             "referrer %s of %s: its subject is not the one barge.json names",
		             r->digest, r->repository);
		goto out;
	}
	if (m->kind == MANIFEST_INDEX)
		rc = put_referrer_index(l, r, m, size, err);
	else if ((rc = check_image_manifest(l, &im, r->digest, m, err)) == BARGE_OK)
		rc = put_image_manifest(l, &im, r->digest, m, size, err);
	if (rc == BARGE_OK && (rc = store_put_ref(l->s, r->digest, r->subject, err)) == BARGE_OK)
		rc = put_tags(l, r->repository, r->tags, r->ntags, r->digest, err);
out:
	manifest_free(m);
	return rc;
}
