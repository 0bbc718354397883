/*
 * profile_pack: spec.packs of a profile (see profile.h and profile_int.h):
 * the images a pack lists, those its rendered Kubernetes manifests run, and
 * those its Helm values files name.  It adds them to the load's profile,
 * which owns them, and owns each manifests or values file while it reads it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fileutil.h"
#include "localsrc.h"
#include "profile_int.h"
#include "yjson.h"

static int
valid_pack_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > PROFILE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
add_origin(const struct pctx *c, struct profile_image *im, const char *pack, int line, int col)
{
	struct profile_origin *grown, *o;

	/* An image listed thousands of times says nothing more after the first ones. */
	if (im->norigins >= PROFILE_ORIGINS_MAX)
		return BARGE_OK;
	if ((grown = realloc(im->origins, (im->norigins + 1) * sizeof(*grown))) == NULL)
		return nomem(c);
	im->origins = grown;
	o = &grown[im->norigins];
	o->line = line;
	o->col = col;
	o->pack = strdup(pack);
	o->file = strdup(c->file);
	if (o->pack == NULL || o->file == NULL) {
		free(o->pack);
		free(o->file);
		return nomem(c);
	}
	im->norigins++;
	im->origin = grown[0];
	return BARGE_OK;
}

/*
 * Adds image reference s, found at line:col of c's file in pack, read from
 * from (profile.h; NULL for its registry).  The same image named again
 * gains an origin instead of a second entry, and must come from the same place.
 */
int
add_ref(const struct pctx *c, const char *pack, const char *s, const char *from, int line, int col)
{
	struct profile *p = c->ld->p;
	struct barge_err rerr;
	struct profile_image *im, *grown;
	struct ref *r = NULL;
	char *source = NULL;
	json_t *at;
	int rc;

	if (ref_parse(s, &r, &rerr) != BARGE_OK)
		/* ref's message quotes the reference and says what is wrong with it. */
		return perr(c, BARGE_EINVAL, line, col, "pack \"%s\": %s", pack, rerr.msg);
	if ((source = ref_string(r)) == NULL) {
		rc = nomem(c);
		goto fail;
	}
	if ((at = json_object_get(c->ld->seen, source)) != NULL) {
		im = &p->images[json_integer_value(at)];
		if ((im->from == NULL) != (from == NULL) ||
		    (from != NULL && strcmp(im->from, from) != 0)) {
			rc = perr(c, BARGE_EINVAL, line, col,
			          "pack \"%s\": %s comes from %s here but from %s at %s:%d", pack,
			          source, from != NULL ? from : "its registry",
			          im->from != NULL ? im->from : "its registry", im->origin.file,
			          im->origin.line);
			goto fail;
		}
		rc = add_origin(c, im, pack, line, col);
		goto fail;
	}
	if (p->nimages >= PROFILE_IMAGES_MAX) {
		rc = perr(c, BARGE_ELIMIT, line, col, "more than %d images", PROFILE_IMAGES_MAX);
		goto fail;
	}
	if ((grown = realloc(p->images, (p->nimages + 1) * sizeof(*grown))) == NULL) {
		rc = nomem(c);
		goto fail;
	}
	p->images = grown;
	if ((at = json_integer((json_int_t)p->nimages)) == NULL ||
	    json_object_set_new(c->ld->seen, source, at) != 0) {
		rc = nomem(c);
		goto fail;
	}
	im = &p->images[p->nimages++];
	memset(im, 0, sizeof(*im));
	im->ref = r;
	im->source = source;
	if (from != NULL && (im->from = strdup(from)) == NULL)
		return nomem(c);
	return add_origin(c, im, pack, line, col);
fail:
	free(source);
	ref_free(r);
	return rc;
}

/* A string node holding an image reference. */
static int
add_ref_node(const struct pctx *c, const char *pack, const json_t *parent, const char *key,
             const json_t *v)
{
	int line, col;

	node_pos(c, parent, key, v, &line, &col);
	return add_ref(c, pack, json_string_value(v), NULL, line, col);
}

/*
 * An images item written as a mapping: {ref: REFERENCE, from: SOURCE}, the
 * image read from a local OCI layout (localsrc.h) rather than its registry.
 * SOURCE's path is relative to c's file.
 */
static int
add_image_entry(const struct pctx *c, const char *pack, size_t i, const json_t *list,
                const json_t *v)
{
	static const char *const allowed[] = { "ref", "from", NULL };
	struct barge_err serr;
	json_t *ref, *from;
	char where[96], *joined = NULL, *full = NULL;
	const char *path;
	int line, col, rc;

	snprintf(where, sizeof(where), "pack \"%.40s\": images[%zu]", pack, i);
	if ((rc = check_keys(c, v, where, allowed)) != BARGE_OK)
		return rc;
	snprintf(where, sizeof(where), "pack \"%.40s\": images[%zu].", pack, i);
	if ((rc = get_typed(c, v, where, "ref", JSON_STRING, 1, &ref)) != BARGE_OK ||
	    (rc = get_typed(c, v, where, "from", JSON_STRING, 0, &from)) != BARGE_OK)
		return rc;
	if (from != NULL) {
		if (localsrc_split(json_string_value(from), &path, &serr) != BARGE_OK)
			return perr_at(c, v, "from", from, "%sfrom: %s", where, serr.msg);
		if ((joined = join_rel(c->file, path)) == NULL ||
		    (full = fu_printf("%.*s%s", (int)(path - json_string_value(from)),
		                      json_string_value(from), joined)) == NULL) {
			free(joined);
			return nomem(c);
		}
	}
	node_pos(c, v, "ref", ref, &line, &col);
	rc = add_ref(c, pack, json_string_value(ref), full, line, col);
	free(full);
	free(joined);
	return rc;
}

/*
 * Rendered Kubernetes objects: where each kind keeps its pod spec.  Other
 * kinds (Services, ConfigMaps, CRDs...) hold no pod spec and are skipped.
 */
static const struct {
	const char *kind;
	const char *path[6];
} pod_spec_paths[] = {
	{ "Pod", { "spec", NULL } },
	{ "PodTemplate", { "template", "spec", NULL } },
	{ "Deployment", { "spec", "template", "spec", NULL } },
	{ "StatefulSet", { "spec", "template", "spec", NULL } },
	{ "DaemonSet", { "spec", "template", "spec", NULL } },
	{ "ReplicaSet", { "spec", "template", "spec", NULL } },
	{ "ReplicationController", { "spec", "template", "spec", NULL } },
	{ "Job", { "spec", "template", "spec", NULL } },
	{ "CronJob", { "spec", "jobTemplate", "spec", "template", "spec", NULL } },
};

static int
pod_spec_images(const struct pctx *c, const char *pack, const char *kind, const json_t *ps)
{
	static const char *const lists[] = { "containers", "initContainers",
		                             "ephemeralContainers" };
	json_t *list, *item, *img, *ref;
	size_t i, k;
	int rc;

	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		if ((list = json_object_get(ps, lists[k])) == NULL || json_is_null(list))
			continue;
		if (!json_is_array(list))
			return perr_at(c, ps, lists[k], list, "%s: %s: expected a list, got %s",
			               kind, lists[k], yjson_type_name(list));
		json_array_foreach(list, i, item)
		{
			if (!json_is_object(item))
				return perr_at(c, list, NULL, item,
				               "%s: %s[%zu]: expected a mapping, got %s", kind,
				               lists[k], i, yjson_type_name(item));
			img = json_object_get(item, "image");
			/* A container without an image has nothing to pull. */
			if (img == NULL || json_is_null(img))
				continue;
			if (!json_is_string(img) || json_string_length(img) == 0)
				return perr_at(c, item, "image", img,
				               "%s: %s[%zu].image: expected a reference, got %s",
				               kind, lists[k], i,
				               json_is_string(img) ? "an empty string"
				                                   : yjson_type_name(img));
			if ((rc = add_ref_node(c, pack, item, "image", img)) != BARGE_OK)
				return rc;
		}
	}
	/* Image volumes (Kubernetes 1.31+): volumes[].image.reference. */
	if ((list = json_object_get(ps, "volumes")) == NULL || !json_is_array(list))
		return BARGE_OK;
	json_array_foreach(list, i, item)
	{
		if (!json_is_object(item) || (img = json_object_get(item, "image")) == NULL ||
		    !json_is_object(img))
			continue;
		ref = json_object_get(img, "reference");
		if (!json_is_string(ref) || json_string_length(ref) == 0)
			return perr_at(c, img, "reference", ref != NULL ? ref : img,
			               "%s: volumes[%zu].image.reference: expected a reference",
			               kind, i);
		if ((rc = add_ref_node(c, pack, img, "reference", ref)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

static int
k8s_object(const struct pctx *c, const char *pack, const json_t *doc, int depth)
{
	const json_t *node;
	json_t *kind, *items, *next, *item;
	const char *k;
	size_t i, j;
	int rc;

	if (doc == NULL || json_is_null(doc))
		return BARGE_OK;
	if (!json_is_object(doc))
		return perr_at(c, NULL, NULL, doc, "expected a Kubernetes object, got %s",
		               yjson_type_name(doc));
	kind = json_object_get(doc, "kind");
	if (!json_is_string(kind))
		return perr_at(c, NULL, NULL, doc, "Kubernetes object without a kind");
	k = json_string_value(kind);
	/* kubectl's "kind: List" (and FooList) wraps objects in items. */
	if (strcmp(k, "List") == 0 || (strlen(k) > 4 && strcmp(k + strlen(k) - 4, "List") == 0 &&
	                               json_is_array(json_object_get(doc, "items")))) {
		if (depth > 0)
			return perr_at(c, doc, "kind", kind, "a List inside a List");
		items = json_object_get(doc, "items");
		if (items == NULL || json_is_null(items))
			return BARGE_OK;
		if (!json_is_array(items))
			return perr_at(c, doc, "items", items, "List: items: expected a list");
		json_array_foreach(items, i, item)
		{
			if ((rc = k8s_object(c, pack, item, depth + 1)) != BARGE_OK)
				return rc;
		}
		return BARGE_OK;
	}
	for (i = 0; i < sizeof(pod_spec_paths) / sizeof(pod_spec_paths[0]); i++) {
		if (strcmp(k, pod_spec_paths[i].kind) != 0)
			continue;
		node = doc;
		for (j = 0; pod_spec_paths[i].path[j] != NULL; j++) {
			next = json_object_get(node, pod_spec_paths[i].path[j]);
			if (!json_is_object(next))
				return perr_at(c, node, pod_spec_paths[i].path[j],
				               next != NULL ? next : node,
				               "%s: %s: expected a mapping, got %s", k,
				               pod_spec_paths[i].path[j],
				               next != NULL ? yjson_type_name(next) : "nothing");
			node = next;
		}
		return pod_spec_images(c, pack, k, node);
	}
	return BARGE_OK;
}

/*
 * Helm values.  An image map is a mapping with a string "repository" that
 * sits under a key ending in "image" (any case) or has one of "registry",
 * "tag" or "digest"; see docs/profiles.md for the whole rule.
 */
static int
key_is_image(const char *key)
{
	size_t n = key != NULL ? strlen(key) : 0;

	return n >= 5 && strcasecmp(key + n - 5, "image") == 0;
}

/* Whether reference s names its own tag or digest ("nginx:1.25", "a@sha256:.."). */
int
has_tag_or_digest(const char *s)
{
	const char *slash = strrchr(s, '/'), *last = slash != NULL ? slash : s;

	return strchr(last, ':') != NULL || strchr(s, '@') != NULL;
}

static int
is_image_map(const json_t *obj, const char *key)
{
	if (!json_is_string(json_object_get(obj, "repository")))
		return 0;
	if (key_is_image(key))
		return 1;
	return json_object_get(obj, "registry") != NULL || json_object_get(obj, "tag") != NULL ||
	       json_object_get(obj, "digest") != NULL;
}

/* obj[key] as a string: "" for absent or null; -1 for another type. */
static int
opt_string(const json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = "";
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static int
values_image_map(const struct pctx *c, const char *pack, const json_t *m)
{
	const json_t *repo = json_object_get(m, "repository"), *tagv, *ud;
	const char *registry, *digest, *override, *tag = "", *r = json_string_value(repo);
	char num[32], *ref = NULL;
	int line, col, rc;

	node_pos(c, m, "repository", repo, &line, &col);
	/* Cilium's image.override replaces the whole reference when set. */
	if (opt_string(m, "override", &override) != 0)
		return perr_at(c, m, "override", json_object_get(m, "override"),
		               "image override: expected a string");
	if (override[0] != '\0') {
		node_pos(c, m, "override", json_object_get(m, "override"), &line, &col);
		return add_ref(c, pack, override, NULL, line, col);
	}
	if (opt_string(m, "registry", &registry) != 0)
		return perr_at(c, m, "registry", json_object_get(m, "registry"),
		               "image registry: expected a string, got %s",
		               yjson_type_name(json_object_get(m, "registry")));
	if (opt_string(m, "digest", &digest) != 0)
		return perr_at(c, m, "digest", json_object_get(m, "digest"),
		               "image digest: expected a string, got %s",
		               yjson_type_name(json_object_get(m, "digest")));
	ud = json_object_get(m, "useDigest");
	if (json_is_false(ud))
		digest = "";
	tagv = json_object_get(m, "tag");
	if (json_is_integer(tagv)) {
		/* tag: 7 reads as a number; Helm prints it back as 7. */
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(tagv));
		tag = num;
	} else if (json_is_real(tagv)) {
		return perr_at(c, m, "tag", tagv,
		               "image tag is a floating-point number (1.10 would read as 1.1): "
		               "quote it");
	} else if (opt_string(m, "tag", &tag) != 0) {
		return perr_at(c, m, "tag", tagv, "image tag: expected a string, got %s",
		               yjson_type_name(tagv));
	}
	if (r[0] == '\0')
		/* An empty repository is a placeholder for an image that is turned off. */
		return BARGE_OK;
	/* A repository may carry its own tag or digest ("nginx:1.25"). */
	if (tag[0] == '\0' && digest[0] == '\0' && !has_tag_or_digest(r))
		return perr(c, BARGE_EINVAL, line, col,
		            "pack \"%s\": image \"%.200s\" has no tag or digest (a chart then "
		            "uses its appVersion, which barge cannot see): set tag",
		            pack, r);
	ref = fu_printf("%s%s%s%s%s%s%s", registry, registry[0] != '\0' ? "/" : "", r,
	                tag[0] != '\0' ? ":" : "", tag, digest[0] != '\0' ? "@" : "", digest);
	if (ref == NULL)
		return nomem(c);
	rc = add_ref(c, pack, ref, NULL, line, col);
	free(ref);
	return rc;
}

int
values_walk(const struct pctx *c, const char *pack, const json_t *node, const char *key, int depth)
{
	const char *k;
	json_t *v;
	size_t i;
	int rc;

	/* yjson bounds depth already; aliases shared between places cannot loop. */
	if (depth > YJSON_DEPTH_MAX)
		return perr_at(c, NULL, NULL, node, "values nested too deeply");
	if (json_is_array(node)) {
		json_array_foreach(node, i, v)
		{
			if ((rc = values_walk(c, pack, v, NULL, depth + 1)) != BARGE_OK)
				return rc;
		}
		return BARGE_OK;
	}
	if (!json_is_object(node))
		return BARGE_OK;
	if (is_image_map(node, key))
		return values_image_map(c, pack, node);
	/* Shapes that clearly mean an image but that no rule reads are errors, not misses. */
	if (key_is_image(key) &&
	    (json_object_get(node, "tag") != NULL || json_object_get(node, "digest") != NULL))
		return perr_at(c, NULL, NULL, node,
		               "pack \"%s\": %s has a tag or digest but no repository string: "
		               "barge cannot tell the image (list it under images)",
		               pack, key);
	json_object_foreach((json_t *)node, k, v)
	{
		if (strcmp(k, "image") == 0 && json_is_string(v)) {
			if (json_string_length(v) == 0)
				continue;
			if (!has_tag_or_digest(json_string_value(v)) &&
			    (json_object_get(node, "tag") != NULL ||
			     json_object_get(node, "imageTag") != NULL))
				return perr_at(
				        c, node, k, v,
				        "pack \"%s\": image \"%.200s\" has no tag, but a tag "
				        "is set beside it: write the whole reference",
				        pack, json_string_value(v));
			rc = add_ref_node(c, pack, node, k, v);
		} else {
			rc = values_walk(c, pack, v, k, depth + 1);
		}
		if (rc != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

enum source_kind { SRC_MANIFESTS, SRC_VALUES };

/* A pack's manifests or values file, relative to the profile c reads. */
static int
load_source(const struct pctx *c, const char *pack, const json_t *list, const json_t *v,
            enum source_kind kind)
{
	struct pctx sc = { .ld = c->ld, .err = c->err };
	struct yjson *y = NULL;
	char *path = NULL, *real = NULL;
	size_t i;
	int line, col, rc;

	if (!json_is_string(v) || json_string_length(v) == 0)
		return perr_at(c, list, NULL, v, "pack \"%s\": %s: expected a file name, got %s",
		               pack, kind == SRC_MANIFESTS ? "manifests" : "values",
		               json_is_string(v) ? "an empty string" : yjson_type_name(v));
	if ((path = join_rel(c->file, json_string_value(v))) == NULL)
		return nomem(c);
	if ((rc = read_yaml(c->ld, path, &y, &real)) != BARGE_OK) {
		/* Where the file was named, then what is wrong in it. */
		node_pos(c, list, NULL, v, &line, &col);
		if (rc != BARGE_ENOMEM)
			err_prefix(c->err, "%s:%d:%d: pack \"%s\"", c->file, line, col, pack);
		goto out;
	}
	sc.y = y;
	sc.file = path;
	for (i = 0; i < yjson_ndocs(y); i++) {
		if (kind == SRC_MANIFESTS)
			rc = k8s_object(&sc, pack, yjson_doc(y, i), 0);
		else
			rc = values_walk(&sc, pack, yjson_doc(y, i), NULL, 0);
		if (rc != BARGE_OK)
			goto out;
	}
	rc = BARGE_OK;
out:
	yjson_free(y);
	free(real);
	free(path);
	return rc;
}

int
load_pack(struct pctx *c, const json_t *packs, size_t idx, const json_t *pack)
{
	static const char *const allowed[] = { "name",   "images", "manifests",
		                               "values", "charts", NULL };
	static const char *const lists[] = { "images", "manifests", "values", "charts" };
	char where[64];
	json_t *name, *list, *v, *def;
	const char *pn;
	char *here;
	int line, col, rc;
	size_t i, k;

	snprintf(where, sizeof(where), "spec.packs[%zu]", idx);
	if (!json_is_object(pack))
		return perr_at(c, packs, NULL, pack, "%s: expected a mapping, got %s", where,
		               yjson_type_name(pack));
	if ((rc = check_keys(c, pack, where, allowed)) != BARGE_OK)
		return rc;
	snprintf(where, sizeof(where), "spec.packs[%zu].", idx);
	if ((rc = get_typed(c, pack, where, "name", JSON_STRING, 1, &name)) != BARGE_OK)
		return rc;
	pn = json_string_value(name);
	if (!valid_pack_name(pn))
		return perr_at(c, pack, "name", name, "%sname is not a valid pack name", where);
	if ((def = json_object_get(c->ld->packs, pn)) != NULL)
		return perr_at(c, pack, "name", name, "pack \"%s\" is defined twice (first at %s)",
		               pn, json_string_value(def));
	node_pos(c, pack, "name", name, &line, &col);
	if ((here = fu_printf("%s:%d", c->file, line)) == NULL)
		return nomem(c);
	rc = json_object_set_new(c->ld->packs, pn, json_string(here));
	free(here);
	if (rc != 0)
		return nomem(c);
	c->ld->p->npacks++;
	snprintf(where, sizeof(where), "pack \"%.40s\": ", pn);
	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		if ((rc = get_typed(c, pack, where, lists[k], JSON_ARRAY, 0, &list)) != BARGE_OK)
			return rc;
		if (list == NULL)
			continue;
		json_array_foreach(list, i, v)
		{
			if (k == 0 && !json_is_string(v) && !json_is_object(v))
				return perr_at(c, list, NULL, v,
				               "pack \"%s\": images[%zu]: expected a reference or "
				               "a mapping, got %s",
				               pn, i, yjson_type_name(v));
			if (k == 0 && json_is_object(v))
				rc = add_image_entry(c, pn, i, list, v);
			else if (k == 0)
				rc = add_ref_node(c, pn, list, NULL, v);
			else if (k == 3)
				rc = load_chart(c, pn, list, i, v);
			else
				rc = load_source(c, pn, list, v,
				                 k == 1 ? SRC_MANIFESTS : SRC_VALUES);
			if (rc != BARGE_OK)
				return rc;
		}
	}
	return BARGE_OK;
}
