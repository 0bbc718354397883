/*
 * build_plan: what a build carries (build_int.h).  The plan lists every
 * blob the lock's images need, each once with the images that use it:
 * each image's pinned manifest is fetched by digest, and for an index only
 * the manifests the lock keeps.  For a delta, the base's blobs are read
 * from its barge.json, or learnt by planning its lock.  A plan owns its
 * blobs and the manifests' bytes; the base's list is the struct bctx's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_int.h"
#include "bundle.h"
#include "bundle_meta.h"
#include "localsrc.h"
#include "manifest.h"
#include "mediatype.h"

void
plan_clear(struct plan *pl)
{
	size_t i;

	for (i = 0; i < pl->nblobs; i++)
		free(pl->blobs[i].mem);
	free(pl->blobs);
	json_decref(pl->bydigest);
	memset(pl, 0, sizeof(*pl));
}

/*
 * Records that image user needs blob digest.  A new blob takes ownership of
 * *mem (set to NULL); a known one leaves *mem to the caller.
 */
static int
add_blob(struct plan *pl, const char *digest, int64_t size, enum blob_kind kind, size_t user,
         char **mem, struct barge_err *err)
{
	struct blob *grown, *bl;
	json_t *at;
	size_t i;

	if ((at = json_object_get(pl->bydigest, digest)) != NULL) {
		bl = &pl->blobs[json_integer_value(at)];
		if (bl->size != size)
			return err_set(err, BARGE_EDIGEST,
			               "%s: blob %s is listed with sizes %" PRId64 " and %" PRId64,
			               pl->l->images[user].source, digest, bl->size, size);
		if (bl->last_user != user) {
			bl->nusers++;
			bl->last_user = user;
		}
		return BARGE_OK;
	}
	if (pl->nblobs >= BUNDLE_META_BLOBS_MAX)
		return err_set(err, BARGE_ELIMIT, "more than %d blobs", BUNDLE_META_BLOBS_MAX);
	if (pl->nblobs == pl->cap) {
		i = pl->cap == 0 ? 64 : pl->cap * 2;
		if ((grown = realloc(pl->blobs, i * sizeof(*grown))) == NULL)
			return build_nomem(err);
		pl->blobs = grown;
		pl->cap = i;
	}
	if ((at = json_integer((json_int_t)pl->nblobs)) == NULL ||
	    json_object_set_new(pl->bydigest, digest, at) != 0)
		return build_nomem(err);
	bl = &pl->blobs[pl->nblobs++];
	memset(bl, 0, sizeof(*bl));
	/* Callers pass digests the manifest parser or the client validated. */
	snprintf(bl->digest, sizeof(bl->digest), "%s", digest);
	bl->size = size;
	bl->kind = kind;
	bl->from = pl->l->images[user].ref;
	bl->first_user = user;
	bl->nusers = 1;
	bl->last_user = user;
	if (mem != NULL) {
		bl->mem = *mem;
		*mem = NULL;
	}
	return BARGE_OK;
}

static int
add_image_blobs(struct plan *pl, size_t user, const struct manifest *m, struct barge_err *err)
{
	size_t i;
	int rc;

	if ((rc = add_blob(pl, m->config.digest, m->config.size, BLOB_CONFIG, user, NULL, err)) !=
	    BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = add_blob(pl, m->descs[i].digest, m->descs[i].size, BLOB_LAYER, user, NULL,
		                   err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/*
 * Image user's manifest digest of size bytes: read from its local layout
 * (localsrc.h) when it has one, else fetched from its registry.
 */
static int
get_manifest(const struct plan *pl, struct client *c, size_t user, const char *digest, int64_t size,
             struct client_manifest *cm, struct barge_err *err)
{
	const struct lock_image *im = &pl->l->images[user];

	if (im->from == NULL)
		return client_get_manifest(c, im->ref, digest, cm, err);
	snprintf(cm->digest, sizeof(cm->digest), "%s", digest);
	return localsrc_read(im->from, digest, size, MANIFEST_MAX, &cm->buf, &cm->len, err);
}

/* Pulls the image manifest desc names from an index of image user. */
static int
plan_child(struct plan *pl, struct client *c, size_t user, const struct manifest_desc *desc,
           struct barge_err *err)
{
	const struct lock_image *im = &pl->l->images[user];
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	const struct blob *known;
	json_t *at;
	int rc;

	if ((at = json_object_get(pl->bydigest, desc->digest)) != NULL) {
		/* Pulled already, for another image: its blobs are now shared with this one. */
		known = &pl->blobs[json_integer_value(at)];
		if (known->mem == NULL) {
			rc = err_set(err, BARGE_EFORMAT,
			             "%s: index entry %s is also a config or layer", im->source,
			             desc->digest);
			goto out;
		}
		if ((rc = add_blob(pl, desc->digest, desc->size, BLOB_MANIFEST, user, NULL, err)) !=
		            BARGE_OK ||
		    (rc = manifest_parse(known->mem, (size_t)known->size, desc->media_type, &m,
		                         err)) != BARGE_OK)
			goto out;
		rc = m->kind == MANIFEST_IMAGE ? add_image_blobs(pl, user, m, err) : BARGE_OK;
		goto out;
	}
	if (!mt_is_manifest(desc->media_type)) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: index entry %s is a %s, not an image manifest", im->source,
		             desc->digest, desc->media_type);
		goto out;
	}
	if ((rc = get_manifest(pl, c, user, desc->digest, desc->size, &cm, err)) != BARGE_OK) {
		err_prefix(err, "%s: pinned manifest %s can no longer be fetched", im->source,
		           desc->digest);
		goto out;
	}
	if ((int64_t)cm.len != desc->size) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest %s is %zu bytes, the index says %" PRId64, im->source,
		             desc->digest, cm.len, desc->size);
		goto out;
	}
	if ((rc = manifest_parse(cm.buf, cm.len,
	                         cm.media_type != NULL ? cm.media_type : desc->media_type, &m,
	                         err)) != BARGE_OK) {
		err_prefix(err, "%s: manifest %s", im->source, desc->digest);
		goto out;
	}
	if (m->kind != MANIFEST_IMAGE) {
		rc = err_set(err, BARGE_EFORMAT, "%s: manifest %s is not an image manifest",
		             im->source, desc->digest);
		goto out;
	}
	if ((rc = add_blob(pl, cm.digest, (int64_t)cm.len, BLOB_MANIFEST, user, &cm.buf, err)) !=
	    BARGE_OK)
		goto out;
	rc = add_image_blobs(pl, user, m, err);
out:
	manifest_free(m);
	client_manifest_clear(&cm);
	return rc;
}

/*
 * What referrer r's manifest m brings beyond its own bytes: an image
 * manifest its blobs, an index (a multi-platform attestation) every
 * manifest it lists with theirs.  An index without a subject under its
 * subject's fallback tag is upstream's fallback index, which lists
 * referrers carried as entries of their own: nothing more.
 */
static int
plan_referrer_blobs(struct plan *pl, struct client *c, size_t user, const struct lock_referrer *r,
                    const struct manifest *m, struct barge_err *err)
{
	char tag[DIGEST_STR_MAX + 8];
	size_t i;
	int rc;

	if (m->kind == MANIFEST_IMAGE)
		return add_image_blobs(pl, user, m, err);
	if (!m->has_subject && r->tag != NULL &&
	    bundle_fallback_tag(r->subject, tag, sizeof(tag)) && strcmp(r->tag, tag) == 0)
		return BARGE_OK;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = plan_child(pl, c, user, &m->descs[i], err)) != BARGE_OK)
			return err_prefix(err, "referrer %s", r->digest);
	return BARGE_OK;
}

/* Pulls image user's referrers (lock.h), pinned by digest, and records their blobs. */
static int
plan_referrers(struct plan *pl, struct client *c, size_t user, struct barge_err *err)
{
	const struct lock_image *im = &pl->l->images[user];
	const struct lock_referrer *r;
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	size_t i;
	int rc = BARGE_OK;

	for (i = 0; i < im->nreferrers && rc == BARGE_OK; i++) {
		r = &im->referrers[i];
		if ((rc = get_manifest(pl, c, user, r->digest, r->size, &cm, err)) != BARGE_OK) {
			err_prefix(err, "%s: pinned referrer %s can no longer be fetched",
			           im->source, r->digest);
			break;
		}
		if ((int64_t)cm.len != r->size)
			rc = err_set(err, BARGE_EDIGEST,
			             "%s: referrer %s is %zu bytes, the lock says %" PRId64,
			             im->source, r->digest, cm.len, r->size);
		else if ((rc = manifest_parse(cm.buf, cm.len, r->media_type, &m, err)) != BARGE_OK)
			err_prefix(err, "%s: referrer %s", im->source, r->digest);
		else if ((rc = add_blob(pl, cm.digest, (int64_t)cm.len, BLOB_MANIFEST, user,
		                        &cm.buf, err)) == BARGE_OK)
			rc = plan_referrer_blobs(pl, c, user, r, m, err);
		manifest_free(m);
		m = NULL;
		client_manifest_clear(&cm);
	}
	return rc;
}

/* Fetches image user's pinned manifest and the manifests the lock keeps, recording every blob. */
int
plan_image(struct plan *pl, struct client *c, size_t user, struct barge_err *err)
{
	const struct lock_image *im = &pl->l->images[user];
	const struct manifest_desc *desc;
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	size_t i, k;
	int rc;

	if ((rc = get_manifest(pl, c, user, im->digest, im->size, &cm, err)) != BARGE_OK) {
		err_prefix(err, "%s: pinned manifest %s can no longer be fetched", im->source,
		           im->digest);
		goto out;
	}
	if ((int64_t)cm.len != im->size) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest %s is %zu bytes, the lock says %" PRId64, im->source,
		             im->digest, cm.len, im->size);
		goto out;
	}
	if ((rc = manifest_parse(cm.buf, cm.len,
	                         cm.media_type != NULL ? cm.media_type : im->media_type, &m,
	                         err)) != BARGE_OK) {
		err_prefix(err, "%s", im->source);
		goto out;
	}
	if ((m->kind == MANIFEST_INDEX) != (im->nmanifests > 0)) {
		rc = err_set(err, BARGE_EFORMAT, "%s: %s is %s, the lock says otherwise",
		             im->source, im->digest,
		             m->kind == MANIFEST_INDEX ? "an index" : "an image manifest");
		goto out;
	}
	if ((rc = add_blob(pl, cm.digest, (int64_t)cm.len, BLOB_MANIFEST, user, &cm.buf, err)) !=
	    BARGE_OK)
		goto out;
	if (m->kind == MANIFEST_IMAGE) {
		if ((rc = add_image_blobs(pl, user, m, err)) == BARGE_OK)
			rc = plan_referrers(pl, c, user, err);
		goto out;
	}
	/* A sparse index: the original bytes, and only the manifests the lock keeps. */
	for (k = 0; k < im->nmanifests; k++) {
		desc = NULL;
		for (i = 0; i < m->ndescs; i++)
			if (strcmp(m->descs[i].digest, im->manifests[k].digest) == 0)
				desc = &m->descs[i];
		if (desc == NULL || desc->size != im->manifests[k].size) {
			rc = err_set(err, BARGE_EFORMAT, "%s: index %s does not list manifest %s",
			             im->source, im->digest, im->manifests[k].digest);
			goto out;
		}
		if ((rc = plan_child(pl, c, user, desc, err)) != BARGE_OK)
			goto out;
	}
	rc = plan_referrers(pl, c, user, err);
out:
	manifest_free(m);
	client_manifest_clear(&cm);
	return rc;
}

static int
plan_lock(struct plan *pl, const struct lock *l, struct client *c, struct barge_err *err)
{
	size_t i;
	int rc;

	pl->l = l;
	if ((pl->bydigest = json_object()) == NULL)
		return build_nomem(err);
	for (i = 0; i < l->nimages; i++)
		if ((rc = plan_image(pl, c, i, err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/* Records that the base holds digest of size bytes. */
static int
base_add(struct bctx *b, const char *digest, int64_t size)
{
	json_t *v;

	if ((v = json_integer((json_int_t)size)) == NULL ||
	    json_object_set_new(b->base, digest, v) != 0)
		return build_nomem(b->err);
	return BARGE_OK;
}

/* A base bundle: what its barge.json lists, carried or required (the store holds both). */
static int
base_from_bundle(struct bctx *b, const char *path)
{
	struct bundle_reader *r = NULL;
	struct bundle_meta *meta = NULL;
	const char *name;
	char *buf = NULL;
	size_t len, i;
	int64_t size;
	int rc;

	if ((rc = bundle_reader_open(path, &r, b->err)) != BARGE_OK ||
	    (rc = bundle_reader_next(r, &name, &size, b->err)) < 0)
		goto out;
	if (rc == BUNDLE_EOF || strcmp(name, "barge.json") != 0) {
		rc = err_set(b->err, BARGE_EFORMAT, "%s: barge.json is not the first entry", path);
		goto out;
	}
	if ((rc = bundle_reader_slurp(r, BUNDLE_META_MAX, &buf, &len, b->err)) != BARGE_OK ||
	    (rc = bundle_meta_parse(path, buf, len, &meta, b->err)) != BARGE_OK)
		goto out;
	for (i = 0; i < meta->nblobs; i++)
		if ((rc = base_add(b, meta->blobs[i].digest, meta->blobs[i].size)) != BARGE_OK)
			goto out;
	for (i = 0; i < meta->nrequires; i++)
		if ((rc = base_add(b, meta->requires[i].digest, meta->requires[i].size)) !=
		    BARGE_OK)
			goto out;
out:
	bundle_meta_free(meta);
	free(buf);
	bundle_reader_free(r);
	return rc;
}

/* A base lock: its images' manifests are fetched (by digest) to learn their blobs. */
static int
base_from_lock(struct bctx *b, const char *path)
{
	struct plan pl = { 0 };
	struct lock *l = NULL;
	size_t i;
	int rc;

	if ((rc = lock_load(path, &l, b->err)) != BARGE_OK)
		goto out;
	if ((rc = plan_lock(&pl, l, b->c, b->err)) != BARGE_OK) {
		err_prefix(b->err, "base %s", path);
		goto out;
	}
	for (i = 0; i < pl.nblobs; i++)
		if ((rc = base_add(b, pl.blobs[i].digest, pl.blobs[i].size)) != BARGE_OK)
			goto out;
out:
	plan_clear(&pl);
	lock_free(l);
	return rc;
}

int
load_base(struct bctx *b)
{
	static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	unsigned char head[4];
	ssize_t n;
	int fd;

	if ((b->base = json_object()) == NULL)
		return build_nomem(b->err);
	if ((fd = open(b->o->base, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(b->err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno,
		               "base %s", b->o->base);
	n = read(fd, head, sizeof(head));
	close(fd);
	build_note(b, "reading base %s", b->o->base);
	if (n == (ssize_t)sizeof(head) && memcmp(head, zstd_magic, sizeof(head)) == 0)
		return base_from_bundle(b, b->o->base);
	return base_from_lock(b, b->o->base);
}
