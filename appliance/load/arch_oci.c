/*
 * arch_oci: an OCI image layout read from an archive (oci-archive, and the
 * layouts inside Zarf packages and Hauler hauls): oci-layout and
 * index.json, whose entries are the images, named by their annotations.
 * Owns nothing past a call; the images go into the struct arch.
 */
#include <stdio.h>
#include <string.h>

#include "arch_int.h"
#include "mediatype.h"
#include "ref.h"

/* The annotation containerd (and Hauler) names an image with: a full reference. */
#define ANN_CONTAINERD "io.containerd.image.name"
/* The OCI one: a full reference, or a bare tag. */
#define ANN_REF_NAME "org.opencontainers.image.ref.name"

static const char *
ann(json_t *annotations, const char *key)
{
	return json_string_value(json_object_get(annotations, key));
}

/*
 * containerd's name first (docker and nerdctl write both); then ref.name,
 * which skopeo's oci-archive:FILE:NAME:TAG fills with "NAME:TAG", and other
 * tools with a bare tag: that one needs --repo.
 */
const char *
arch_oci_name(json_t *annotations, const char **tag)
{
	const char *v;

	*tag = NULL;
	if ((v = ann(annotations, ANN_CONTAINERD)) != NULL)
		return v;
	if ((v = ann(annotations, ANN_REF_NAME)) == NULL)
		return NULL;
	if (strchr(v, '/') != NULL || strchr(v, ':') != NULL || strchr(v, '@') != NULL)
		return v;
	*tag = v;
	return NULL;
}

/* The layout's oci-layout member: present, a JSON object with imageLayoutVersion. */
static int
check_layout(struct arch *a, const char *prefix, struct barge_err *err)
{
	char name[64];
	json_t *doc = NULL;
	int rc;

	snprintf(name, sizeof(name), "%soci-layout", prefix);
	if (arch_member(a, name) == NULL)
		return err_set(err, BARGE_EFORMAT,
		               "%s: member \"%s\" is missing (not an OCI layout)", a->path, name);
	if ((rc = arch_member_json(a, name, &doc, err)) != BARGE_OK)
		return rc;
	if (!json_is_string(json_object_get(doc, "imageLayoutVersion")))
		rc = err_set(err, BARGE_EFORMAT, "%s: member \"%s\": no imageLayoutVersion",
		             a->path, name);
	json_decref(doc);
	return rc;
}

/* Entry i of index.json: its descriptor checked against the blob staged for it, then named. */
static int
add_entry(struct arch *a, const char *member, size_t i, json_t *e,
          const char *(*name)(json_t *annotations, const char **tag), struct barge_err *err)
{
	const char *digest, *mt, *ref, *tag;
	const struct arch_blob *b;
	char what[128];
	json_t *size;

	snprintf(what, sizeof(what), "%s: manifests[%zu]", member, i);
	digest = json_string_value(json_object_get(e, "digest"));
	mt = json_string_value(json_object_get(e, "mediaType"));
	size = json_object_get(e, "size");
	if (!json_is_object(e) || digest == NULL || !digest_valid(digest) || mt == NULL ||
	    !json_is_integer(size))
		return err_set(err, BARGE_EFORMAT,
		               "%s: %s: a descriptor needs mediaType, a valid digest and size",
		               a->path, what);
	if (!mt_is_manifest(mt) && !mt_is_index(mt))
		return err_set(err, BARGE_EFORMAT,
		               "%s: %s.mediaType: \"%.100s\" is not a manifest or index", a->path,
		               what, mt);
	if ((b = arch_blob(a, digest)) == NULL)
		return err_set(err, BARGE_ENOTFOUND, "%s: %s: manifest %s is not in the archive",
		               a->path, what, digest);
	if (b->size != json_integer_value(size))
		return err_set(err, BARGE_EDIGEST,
		               "%s: %s.size: %" JSON_INTEGER_FORMAT ", but the blob is %lld bytes",
		               a->path, what, json_integer_value(size), (long long)b->size);
	ref = name(json_object_get(e, "annotations"), &tag);
	return arch_add_image(a, ref, tag, digest, mt, what, err);
}

int
arch_oci_images(struct arch *a, const char *prefix,
                const char *(*name)(json_t *annotations, const char **tag), struct barge_err *err)
{
	char member[64];
	json_t *index = NULL, *list, *e;
	size_t i;
	int rc;

	if ((rc = check_layout(a, prefix, err)) != BARGE_OK)
		return rc;
	snprintf(member, sizeof(member), "%sindex.json", prefix);
	if ((rc = arch_member_json(a, member, &index, err)) != BARGE_OK)
		return rc;
	if (index == NULL)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\" is missing", a->path, member);
	list = json_object_get(index, "manifests");
	if (!json_is_array(list)) {
		rc = err_set(err, BARGE_EFORMAT, "%s: %s: no \"manifests\" list", a->path, member);
		goto out;
	}
	json_array_foreach(list, i, e)
	{
		if ((rc = add_entry(a, member, i, e, name, err)) != BARGE_OK)
			goto out;
	}
out:
	json_decref(index);
	return rc;
}
