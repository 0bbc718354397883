/*
 * referrers: finding an image's referrers through the referrers API, its
 * fallback tag and cosign's tags (referrers.h).  Owns nothing past a call:
 * what it finds goes into the caller's lock image.
 */
#include "referrers.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_meta.h"
#include "mediatype.h"

#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"

static const char *const cosign_suffixes[] = { REFERRERS_COSIGN_SIG, ".att", ".sbom" };

const char *
referrers_artifact_type(const struct manifest *m)
{
	const char *cfg = m->config.media_type;

	/* An index's entries are manifests: only its own artifactType says what it is. */
	if (m->artifact_type != NULL || m->kind == MANIFEST_INDEX)
		return m->artifact_type;
	if (cfg != NULL && strcmp(cfg, MT_OCI_CONFIG) != 0 && strcmp(cfg, MT_DOCKER_CONFIG) != 0 &&
	    strcmp(cfg, MT_OCI_EMPTY) != 0)
		return cfg;
	if (m->ndescs > 0 && m->descs[0].media_type != NULL)
		return m->descs[0].media_type;
	return cfg;
}

/* Whether l keeps referrers of artifact type t. */
static int
type_wanted(const struct lock *l, const char *t)
{
	size_t i;

	if (l->nreferrer_types == 0)
		return 1;
	for (i = 0; t != NULL && i < l->nreferrer_types; i++)
		if (strcmp(l->referrer_types[i], t) == 0)
			return 1;
	return 0;
}

/* The entry for digest of subject in im, or NULL. */
static struct lock_referrer *
find_entry(struct lock_image *im, const char *subject, const char *digest)
{
	size_t i;

	for (i = 0; i < im->nreferrers; i++)
		if (strcmp(im->referrers[i].digest, digest) == 0 &&
		    strcmp(im->referrers[i].subject, subject) == 0)
			return &im->referrers[i];
	return NULL;
}

/*
 * Records cm (already fetched and checked, parsed as m) for subject, found
 * under tag or through a list (tag NULL).  One already recorded for the
 * subject only gains the tag.
 */
static int
add_entry(struct lock_image *im, const char *subject, const struct client_manifest *cm,
          const struct manifest *m, const char *atype, const char *tag, struct barge_err *err)
{
	struct lock_referrer *r, *grown;

	if ((r = find_entry(im, subject, cm->digest)) != NULL) {
		if (tag != NULL && r->tag == NULL && (r->tag = strdup(tag)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		return BARGE_OK;
	}
	if (im->nreferrers >= LOCK_REFS_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: more than %d referrers", im->source,
		               LOCK_REFS_MAX);
	if ((grown = realloc(im->referrers, (im->nreferrers + 1) * sizeof(*grown))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	im->referrers = grown;
	r = &im->referrers[im->nreferrers];
	memset(r, 0, sizeof(*r));
	snprintf(r->subject, sizeof(r->subject), "%s", subject);
	snprintf(r->digest, sizeof(r->digest), "%s", cm->digest);
	r->size = (int64_t)cm->len;
	if ((r->media_type = strdup(m->media_type)) == NULL ||
	    (atype != NULL && (r->artifact_type = strdup(atype)) == NULL) ||
	    (tag != NULL && (r->tag = strdup(tag)) == NULL)) {
		free(r->media_type);
		free(r->artifact_type);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	im->nreferrers++;
	return BARGE_OK;
}

/* Records referrer cm of subject, found under tag or through a list (tag NULL). */
static int
add_referrer(const struct lock *l, struct lock_image *im, const char *subject,
             const struct client_manifest *cm, const char *tag, struct barge_err *err)
{
	struct manifest *m = NULL;
	const char *atype;
	int rc;

	if ((rc = manifest_parse(cm->buf, cm->len, cm->media_type, &m, err)) != BARGE_OK)
		return err_prefix(err, "referrer %s of %s", cm->digest, subject);
	/* An index (a multi-platform attestation) is carried with its manifests. */
	atype = referrers_artifact_type(m);
	if (m->kind == MANIFEST_INDEX && m->ndescs > LOCK_INDEX_MAX)
		rc = err_set(err, BARGE_ELIMIT, "referrer %s of %s: more than %d manifests",
		             cm->digest, subject, LOCK_INDEX_MAX);
	else if (type_wanted(l, atype))
		rc = add_entry(im, subject, cm, m, atype, tag, err);
	manifest_free(m);
	return rc;
}

/*
 * Records upstream's fallback index cm of subject under its tag, byte for
 * byte, so that barged serves the tag with upstream's digest.  Only when
 * every manifest it lists is carried: one that referrer_types left out
 * would make it name what barged does not hold.
 */
static int
add_fallback(struct lock_image *im, const char *subject, const struct client_manifest *cm,
             const char *tag, struct barge_err *err)
{
	struct manifest *m = NULL;
	size_t i;
	int rc;

	if ((rc = manifest_parse(cm->buf, cm->len, cm->media_type, &m, err)) != BARGE_OK)
		return err_prefix(err, "fallback tag %s of %s", tag, subject);
	if (m->kind != MANIFEST_INDEX || m->has_subject)
		goto out;
	for (i = 0; i < m->ndescs; i++)
		if (find_entry(im, subject, m->descs[i].digest) == NULL)
			goto out;
	rc = add_entry(im, subject, cm, m, NULL, tag, err);
out:
	manifest_free(m);
	return rc;
}

/* The referrers an index (the API's answer or the fallback tag's) lists. */
static int
add_listed(const struct lock *l, struct lock_image *im, struct client *c, const char *subject,
           const char *buf, size_t len, struct barge_err *err)
{
	struct client_manifest cm = { 0 };
	json_t *doc, *list, *d, *dg, *mt;
	size_t i;
	int rc = BARGE_OK;

	if ((doc = json_loadb(buf, len, 0, NULL)) == NULL ||
	    !json_is_array(list = json_object_get(doc, "manifests"))) {
		json_decref(doc);
		return err_set(err, BARGE_EFORMAT, "the referrers of %s are not an image index",
		               subject);
	}
	if (json_array_size(list) > LOCK_REFS_MAX) {
		json_decref(doc);
		return err_set(err, BARGE_ELIMIT, "%s: more than %d referrers", subject,
		               LOCK_REFS_MAX);
	}
	json_array_foreach(list, i, d)
	{
		dg = json_object_get(d, "digest");
		mt = json_object_get(d, "mediaType");
		if (!json_is_string(dg) || !json_is_string(mt)) {
			rc = err_set(err, BARGE_EFORMAT,
			             "referrers of %s: manifests[%zu]: no digest "
			             "or mediaType",
			             subject, i);
			break;
		}
		if (!mt_is_manifest(json_string_value(mt)) && !mt_is_index(json_string_value(mt)))
			continue;
		/* By digest: the bytes must hash to what the list says. */
		if ((rc = client_get_manifest(c, im->ref, json_string_value(dg), &cm, err)) !=
		            BARGE_OK ||
		    (rc = add_referrer(l, im, subject, &cm, NULL, err)) != BARGE_OK)
			break;
		client_manifest_clear(&cm);
	}
	client_manifest_clear(&cm);
	json_decref(doc);
	return rc;
}

/*
 * The manifest under tag, probed with HEAD first: most probed tags do not
 * exist, and Docker Hub counts a GET, not a HEAD, against its pull limits.
 * Then fetched by the digest the registry announced (by tag without one).
 */
static int
get_tagged(struct lock_image *im, struct client *c, const char *tag, struct client_manifest *cm,
           struct barge_err *err)
{
	char digest[DIGEST_STR_MAX];
	int rc;

	if ((rc = client_head_manifest(c, im->ref, tag, digest, err)) != BARGE_OK)
		return rc;
	if ((rc = client_get_manifest(c, im->ref, digest[0] != '\0' ? digest : tag, cm, err)) ==
	    BARGE_ENOTFOUND)
		err_prefix(err, "tag %s moved while it was read", tag);
	return rc == BARGE_ENOTFOUND ? BARGE_EDIGEST : rc;
}

/* The referrers of subject: the API's list, else the fallback tag's, then cosign's tags. */
static int
find_for(const struct lock *l, struct lock_image *im, struct client *c, const char *subject,
         struct barge_err *err)
{
	struct client_manifest cm = { 0 };
	char tag[DIGEST_STR_MAX + 16], *buf = NULL;
	const char *hex = strchr(subject, ':') + 1;
	size_t len, i;
	int rc;

	rc = client_get_referrers(c, im->ref, subject, &buf, &len, err);
	if (rc == BARGE_OK) {
		rc = add_listed(l, im, c, subject, buf, len, err);
	} else if (rc == BARGE_ENOTFOUND) {
		snprintf(tag, sizeof(tag), "sha256-%s", hex);
		rc = get_tagged(im, c, tag, &cm, err);
		if (rc == BARGE_ENOTFOUND)
			rc = BARGE_OK;
		else if (rc == BARGE_OK &&
		         (rc = add_listed(l, im, c, subject, cm.buf, cm.len, err)) == BARGE_OK)
			rc = add_fallback(im, subject, &cm, tag, err);
		client_manifest_clear(&cm);
	}
	free(buf);
	for (i = 0; rc == BARGE_OK && i < sizeof(cosign_suffixes) / sizeof(cosign_suffixes[0]);
	     i++) {
		snprintf(tag, sizeof(tag), "sha256-%s%s", hex, cosign_suffixes[i]);
		rc = get_tagged(im, c, tag, &cm, err);
		if (rc == BARGE_OK)
			rc = add_referrer(l, im, subject, &cm, tag, err);
		else if (rc == BARGE_ENOTFOUND)
			rc = BARGE_OK;
		client_manifest_clear(&cm);
	}
	return rc;
}

/* Whether r is upstream's fallback index (lock.h), which no tag scheme refers to. */
static int
is_fallback(const struct lock_referrer *r)
{
	char tag[DIGEST_STR_MAX + 8];

	return r->tag != NULL && mt_is_index(r->media_type) &&
	       bundle_fallback_tag(r->subject, tag, sizeof(tag)) && strcmp(r->tag, tag) == 0;
}

int
referrers_find(const struct lock *l, struct lock_image *im, struct client *c, struct barge_err *err)
{
	char subject[DIGEST_STR_MAX];
	size_t i, n;
	int rc;

	lock_referrers_clear(im);
	/* The tag schemes spell sha256 digests only. */
	if (strncmp(im->digest, "sha256:", 7) == 0 &&
	    (rc = find_for(l, im, c, im->digest, err)) != BARGE_OK)
		return err_prefix(err, "%s: referrers", im->source);
	for (i = 0; i < im->nmanifests; i++)
		if (strncmp(im->manifests[i].digest, "sha256:", 7) == 0 &&
		    (rc = find_for(l, im, c, im->manifests[i].digest, err)) != BARGE_OK)
			return err_prefix(err, "%s: referrers", im->source);
	/*
	 * The referrers of those referrers (a signature on an SBOM), one level
	 * only: what that level finds is not asked in turn, so a chain or a
	 * cycle of artifacts costs at most one more round of requests.
	 */
	n = im->nreferrers;
	for (i = 0; i < n; i++) {
		if (is_fallback(&im->referrers[i]) ||
		    strncmp(im->referrers[i].digest, "sha256:", 7) != 0)
			continue;
		/* find_for may move the array: the subject is copied first. */
		snprintf(subject, sizeof(subject), "%s", im->referrers[i].digest);
		if ((rc = find_for(l, im, c, subject, err)) != BARGE_OK)
			return err_prefix(err, "%s: referrers of %s", im->source, subject);
	}
	return BARGE_OK;
}
