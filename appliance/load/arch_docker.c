/*
 * arch_docker: a docker-archive (`docker save`, `skopeo copy ...
 * docker-archive:`): manifest.json lists each image's config, its layers
 * (uncompressed tars, in order: named by their digest, or before Docker 25
 * "<id>/layer.tar") and its RepoTags.  The layers are checked against the
 * config's rootfs.diff_ids, the only check of a layer named by no digest, and barged writes the
 * Docker v2 schema 2 manifest a registry would serve for them, with the layers as
 * application/vnd.docker.image.rootfs.diff.tar: its digest is upstream's
 * only when upstream stored its layers uncompressed (docs/loading.md).
 * Owns nothing past a call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_int.h"
#include "mediatype.h"

#define MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"

/* The staged blob a manifest.json field names, checked. */
static int
named_blob(struct arch *a, const char *what, json_t *v, const struct arch_blob **out,
           struct barge_err *err)
{
	char digest[DIGEST_STR_MAX];
	const char *name = json_string_value(v);

	if (name == NULL)
		return err_set(err, BARGE_EFORMAT, "%s: manifest.json: %s: not a string", a->path,
		               what);
	if (!arch_name_digest(a, name, digest) || (*out = arch_blob(a, digest)) == NULL)
		return err_set(err, BARGE_ENOTFOUND,
		               "%s: manifest.json: %s \"%.200s\": no such member in the archive",
		               a->path, what, name);
	return BARGE_OK;
}

static json_t *
descriptor(const char *mt, const struct arch_blob *b)
{
	return json_pack("{s:s, s:I, s:s}", "mediaType", mt, "size", (json_int_t)b->size, "digest",
	                 b->digest);
}

/* The layers of entry i, checked against the config's diff_ids, as descriptors. */
static int
layers(struct arch *a, size_t i, json_t *list, json_t *diff_ids, json_t *out, struct barge_err *err)
{
	const struct arch_blob *b = NULL;
	const char *want;
	char what[64];
	json_t *v;
	size_t j;
	int rc;

	if (!json_is_array(list) || json_array_size(list) != json_array_size(diff_ids))
		return err_set(err, BARGE_EFORMAT,
		               "%s: manifest.json: [%zu].Layers: %zu layers, but the config has "
		               "%zu rootfs.diff_ids",
		               a->path, i, json_array_size(list), json_array_size(diff_ids));
	json_array_foreach(list, j, v)
	{
		snprintf(what, sizeof(what), "[%zu].Layers[%zu]", i, j);
		if ((rc = named_blob(a, what, v, &b, err)) != BARGE_OK)
			return rc;
		want = json_string_value(json_array_get(diff_ids, j));
		/* For a layer named by no digest this is the only check of its bytes. */
		if (want == NULL || strcmp(want, b->digest) != 0)
			return err_set(err, BARGE_EDIGEST,
			               "%s: manifest.json: %s is %s, but the config's "
			               "rootfs.diff_ids[%zu] is %.80s: member \"%.200s\" is not "
			               "that layer",
			               a->path, what, b->digest, j, want != NULL ? want : "missing",
			               json_string_value(v));
		if (json_array_append_new(out, descriptor(MT_DOCKER_LAYER_TAR, b)) != 0)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	return BARGE_OK;
}

/* Builds, stores and names the manifest of manifest.json's entry i. */
static int
add_entry(struct arch *a, size_t i, json_t *e, struct barge_err *err)
{
	const struct arch_blob *cfg;
	char digest[DIGEST_STR_MAX], what[96], *buf = NULL, *text = NULL;
	json_t *config = NULL, *m = NULL, *ls, *tags, *t;
	size_t len, j;
	int rc;

	snprintf(what, sizeof(what), "[%zu].Config", i);
	if (!json_is_object(e))
		return err_set(err, BARGE_EFORMAT, "%s: manifest.json: [%zu]: not an object",
		               a->path, i);
	if ((rc = named_blob(a, what, json_object_get(e, "Config"), &cfg, err)) != BARGE_OK)
		return rc;
	if ((rc = arch_read_blob(a, cfg->digest, ARCH_MEMBER_MAX, &buf, &len, err)) != BARGE_OK)
		return err_prefix(err, "%s: manifest.json: %s", a->path, what);
	if ((config = json_loadb(buf, len, 0, NULL)) == NULL ||
	    !json_is_array(json_object_get(json_object_get(config, "rootfs"), "diff_ids"))) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: manifest.json: %s %s: not an image config with rootfs.diff_ids",
		             a->path, what, cfg->digest);
		goto out;
	}
	m = json_pack("{s:i, s:s, s:o, s:[]}", "schemaVersion", 2, "mediaType", MT_DOCKER_MANIFEST,
	              "config", descriptor(MT_DOCKER_CONFIG, cfg), "layers");
	if (m == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	ls = json_object_get(m, "layers");
	if ((rc = layers(a, i, json_object_get(e, "Layers"),
	                 json_object_get(json_object_get(config, "rootfs"), "diff_ids"), ls,
	                 err)) != BARGE_OK)
		goto out;
	/* Compact, keys in this order: the bytes skopeo and docker push for these layers. */
	if ((text = json_dumps(m, JSON_COMPACT)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = arch_put_blob(a, text, strlen(text), digest, err)) != BARGE_OK)
		goto out;
	tags = json_object_get(e, "RepoTags");
	snprintf(what, sizeof(what), "manifest.json: [%zu]", i);
	if (json_array_size(tags) == 0) {
		rc = arch_add_image(a, NULL, NULL, digest, MT_DOCKER_MANIFEST, what, err);
		goto out;
	}
	json_array_foreach(tags, j, t)
	{
		snprintf(what, sizeof(what), "manifest.json: [%zu].RepoTags[%zu]", i, j);
		if (!json_is_string(t)) {
			rc = err_set(err, BARGE_EFORMAT, "%s: %s: not a string", a->path, what);
			goto out;
		}
		if ((rc = arch_add_image(a, json_string_value(t), NULL, digest, MT_DOCKER_MANIFEST,
		                         what, err)) != BARGE_OK)
			goto out;
	}
out:
	free(text);
	json_decref(m);
	json_decref(config);
	free(buf);
	return rc;
}

int
arch_docker_images(struct arch *a, struct barge_err *err)
{
	json_t *doc = NULL, *e;
	size_t i;
	int rc;

	if ((rc = arch_member_json(a, "manifest.json", &doc, err)) != BARGE_OK)
		return rc;
	if (!json_is_array(doc)) {
		rc = err_set(err, BARGE_EFORMAT, "%s: manifest.json: not a list", a->path);
		goto out;
	}
	json_array_foreach(doc, i, e)
	{
		if ((rc = add_entry(a, i, e, err)) != BARGE_OK)
			goto out;
	}
out:
	json_decref(doc);
	return rc;
}
