/*
 * build_meta: the bundle's texts (build_int.h): barge.json, which names
 * the bundle, its images and every blob it carries or requires, and
 * index.json, the OCI image layout's index.  It owns the JSON documents
 * while it builds them; the text it returns is the caller's.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build_int.h"
#include "charts.h"
#include "mediatype.h"
#include "platform.h"
#include "ref.h"

/* Appends v to arr, taking its reference; fails on NULL or ENOMEM. */
static int
push(struct bctx *b, json_t *arr, json_t *v)
{
	if (v == NULL || json_array_append_new(arr, v) != 0)
		return build_nomem(b->err);
	return BARGE_OK;
}

/* A Helm chart's entry says so with Helm's config type (docs/bundle-format.md). */
static int
chart_entry(struct bctx *b, const struct lock_image *im, json_t *entry)
{
	json_t *at = json_object_get(b->pl.bydigest, im->digest);
	const struct blob *bl = at != NULL ? &b->pl.blobs[json_integer_value(at)] : NULL;

	if (bl == NULL || bl->mem == NULL || !charts_is_manifest(bl->mem, (size_t)bl->size))
		return BARGE_OK;
	if (json_object_set_new(entry, "artifactType", json_string(MT_HELM_CONFIG)) != 0)
		return build_nomem(b->err);
	return BARGE_OK;
}

/*
 * barge.json's "referrers": each image's referrers in its repository, with
 * their subject.  Left out when there are none, so that a bundle without
 * referrers keeps the bytes it always had.
 */
static int
meta_referrers(struct bctx *b, json_t *root)
{
	const struct lock_referrer *r;
	const struct lock_image *im;
	json_t *list = NULL, *e;
	char *repo = NULL;
	size_t i, k;
	int rc = BARGE_OK;

	for (i = 0; i < b->l->nimages && rc == BARGE_OK; i++) {
		im = &b->l->images[i];
		if (im->nreferrers == 0)
			continue;
		if ((list == NULL && ((list = json_array()) == NULL ||
		                      json_object_set_new(root, "referrers", list) != 0)) ||
		    (repo = ref_local_repo(im->ref, b->l->project)) == NULL)
			return build_nomem(b->err);
		for (k = 0; k < im->nreferrers && rc == BARGE_OK; k++) {
			r = &im->referrers[k];
			e = json_pack("{s:s,s:s,s:s,s:s,s:s*,s:[]}", "repository", repo, "subject",
			              r->subject, "digest", r->digest, "mediaType", r->media_type,
			              "artifactType", r->artifact_type, "tags");
			if (e != NULL && r->tag != NULL &&
			    json_array_append_new(json_object_get(e, "tags"),
			                          json_string(r->tag)) != 0) {
				json_decref(e);
				e = NULL;
			}
			rc = push(b, list, e);
		}
		free(repo);
		repo = NULL;
	}
	return rc;
}

int
meta_json(struct bctx *b, char **out)
{
	char created[32], plat[3 * PLATFORM_FIELD_MAX];
	json_t *root = NULL, *plats, *images, *blobs, *req = NULL, *tags;
	const struct lock_image *im;
	const struct blob *bl;
	char *repo = NULL;
	time_t t = (time_t)b->o->mtime;
	struct tm tm;
	size_t i, k;
	int rc;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return err_set(b->err, BARGE_EINVAL, "mtime %" PRId64 " out of range", b->o->mtime);
	plats = json_array();
	images = json_array();
	blobs = json_array();
	root = json_pack("{s:i,s:s,s:s,s:s,s:s,s:o*,s:s,s:o*,s:o*}", "schemaVersion", 1, "name",
	                 b->l->name, "version", b->l->version, "created", created, "builder",
	                 "barge " BARGE_VERSION, "platforms", plats, "project", b->l->project,
	                 "images", images, "blobs", blobs);
	if (root == NULL || plats == NULL || images == NULL || blobs == NULL) {
		rc = build_nomem(b->err);
		goto out;
	}
	if (b->base != NULL &&
	    ((req = json_array()) == NULL || json_object_set_new(root, "requires", req) != 0)) {
		rc = build_nomem(b->err);
		goto out;
	}
	for (i = 0; i < b->l->nplatforms; i++) {
		platform_format(&b->l->platforms[i], plat, sizeof(plat));
		if ((rc = push(b, plats, json_string(plat))) != BARGE_OK)
			goto out;
	}
	for (i = 0; i < b->l->nimages; i++) {
		im = &b->l->images[i];
		if ((repo = ref_local_repo(im->ref, b->l->project)) == NULL ||
		    (tags = json_array()) == NULL) {
			rc = build_nomem(b->err);
			goto out;
		}
		if (im->ref->tag != NULL &&
		    json_array_append_new(tags, json_string(im->ref->tag))) {
			json_decref(tags);
			rc = build_nomem(b->err);
			goto out;
		}
		if ((rc = push(b, images,
		               json_pack("{s:s,s:s,s:o,s:s,s:s}", "repository", repo, "source",
		                         im->source, "tags", tags, "digest", im->digest,
		                         "mediaType", im->media_type))) != BARGE_OK)
			goto out;
		if ((rc = chart_entry(b, im, json_array_get(images, i))) != BARGE_OK)
			goto out;
		free(repo);
		repo = NULL;
	}
	if ((rc = meta_referrers(b, root)) != BARGE_OK)
		goto out;
	for (k = 0; k < sizeof(entry_order) / sizeof(entry_order[0]); k++)
		for (i = 0; i < b->pl.nblobs; i++) {
			bl = &b->pl.blobs[i];
			if (bl->kind == entry_order[k] &&
			    (rc = push(b, bl->in_base ? req : blobs,
			               json_pack("{s:s,s:I}", "digest", bl->digest, "size",
			                         (json_int_t)bl->size))) != BARGE_OK)
				goto out;
		}
	if ((*out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		rc = build_nomem(b->err);
		goto out;
	}
	rc = BARGE_OK;
out:
	free(repo);
	json_decref(root);
	return rc;
}

/* index.json: an OCI image layout naming every image by its source reference. */
int
index_json(struct bctx *b, char **out)
{
	const struct lock_image *im;
	json_t *root, *mans;
	size_t i;
	int rc;

	mans = json_array();
	root = json_pack("{s:i,s:s,s:o*}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
	                 "manifests", mans);
	if (root == NULL || mans == NULL) {
		rc = build_nomem(b->err);
		goto out;
	}
	for (i = 0; i < b->l->nimages; i++) {
		im = &b->l->images[i];
		if ((rc = push(b, mans,
		               json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType", im->media_type,
		                         "digest", im->digest, "size", (json_int_t)im->size,
		                         "annotations", "org.opencontainers.image.ref.name",
		                         im->source))) != BARGE_OK)
			goto out;
	}
	if ((*out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		rc = build_nomem(b->err);
		goto out;
	}
	rc = BARGE_OK;
out:
	json_decref(root);
	return rc;
}

/* Text files end with a newline; json_dumps leaves it out.  Replaces *text. */
int
add_newline(struct bctx *b, char **text, size_t *len)
{
	size_t n = strlen(*text);
	char *grown;

	if ((grown = realloc(*text, n + 2)) == NULL)
		return build_nomem(b->err);
	grown[n] = '\n';
	grown[n + 1] = '\0';
	*text = grown;
	*len = n + 1;
	return BARGE_OK;
}
