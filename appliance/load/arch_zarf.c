/*
 * arch_zarf: a Zarf package (`zarf package create`): a tar.zst with
 * zarf.yaml (components[].images lists the images by reference) and an
 * OCI layout in images/, whose index.json entries carry the reference in
 * org.opencontainers.image.base.name.  Every image zarf.yaml lists must be
 * in the layout; the package's other members (components/, sboms.tar,
 * checksums.txt) are not images and were dropped as they passed.  Owns
 * nothing past a call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_int.h"
#include "ref.h"
#include "yjson.h"

#define ANN_BASE_NAME "org.opencontainers.image.base.name"
#define ANN_REF_NAME  "org.opencontainers.image.ref.name"

static const char *
zarf_name(json_t *annotations, const char **tag)
{
	const char *v;

	*tag = NULL;
	if ((v = json_string_value(json_object_get(annotations, ANN_BASE_NAME))) != NULL)
		return v;
	return arch_oci_name(annotations, tag);
}

/* Whether an image of the layout came from reference s (normalised alike). */
static int
listed(const struct arch *a, const char *s)
{
	struct barge_err ignored;
	struct ref *r = NULL;
	char *want;
	size_t i;
	int hit = 0;

	if (ref_parse(s, &r, &ignored) != BARGE_OK)
		return 0;
	if ((want = ref_string(r)) != NULL)
		for (i = 0; i < a->nimages && !hit; i++)
			hit = strcmp(a->images[i].source, want) == 0;
	free(want);
	ref_free(r);
	return hit;
}

/* Every image zarf.yaml lists is one of the layout's. */
static int
check_listed(struct arch *a, json_t *doc, struct barge_err *err)
{
	json_t *comps, *c, *imgs, *im;
	size_t i, j;

	comps = json_object_get(doc, "components");
	if (comps != NULL && !json_is_array(comps))
		return err_set(err, BARGE_EFORMAT, "%s: zarf.yaml: components: not a list",
		               a->path);
	json_array_foreach(comps, i, c)
	{
		imgs = json_object_get(c, "images");
		if (imgs != NULL && !json_is_array(imgs))
			return err_set(err, BARGE_EFORMAT,
			               "%s: zarf.yaml: components[%zu].images: not a list", a->path,
			               i);
		json_array_foreach(imgs, j, im)
		{
			if (!json_is_string(im))
				return err_set(err, BARGE_EFORMAT,
				               "%s: zarf.yaml: components[%zu].images[%zu]: not a "
				               "string",
				               a->path, i, j);
			if (!listed(a, json_string_value(im)))
				return err_set(
				        err, BARGE_ENOTFOUND,
				        "%s: zarf.yaml: components[%zu].images[%zu] \"%.200s\" "
				        "is not in images/index.json",
				        a->path, i, j, json_string_value(im));
		}
	}
	return BARGE_OK;
}

int
arch_zarf_images(struct arch *a, struct barge_err *err)
{
	const struct arch_member *m = arch_member(a, "zarf.yaml");
	struct yjson *y = NULL;
	json_t *doc;
	int rc;

	if ((rc = yjson_load_buf("zarf.yaml", m->data, m->len, &y, err)) != BARGE_OK)
		return err_prefix(err, "%s", a->path);
	doc = yjson_ndocs(y) > 0 ? yjson_doc(y, 0) : NULL;
	if (!json_is_object(doc) || strcmp(json_string_value(json_object_get(doc, "kind")) != NULL
	                                           ? json_string_value(json_object_get(doc, "kind"))
	                                           : "",
	                                   "ZarfPackageConfig") != 0) {
		rc = err_set(err, BARGE_EFORMAT, "%s: zarf.yaml: kind is not ZarfPackageConfig",
		             a->path);
		goto out;
	}
	if ((rc = arch_oci_images(a, "images/", zarf_name, err)) == BARGE_OK)
		rc = check_listed(a, doc, err);
out:
	yjson_free(y);
	return rc;
}
