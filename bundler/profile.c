/*
 * profile: cluster profiles loaded from YAML, their packs' images, manifests
 * and values files read, includes followed and excludes applied (profile.h).
 * A struct profile owns everything it points to.
 */
#include "profile.h"

#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fileutil.h"
#include "yjson.h"

#define PROFILE_API_VERSION      "barge.dev/v1"
#define PROFILE_KIND             "ClusterProfile"
#define PROFILE_DEFAULT_PROJECT  "edge"
#define PROFILE_DEFAULT_PLATFORM "linux/amd64"

/* What one load shares across every file it reads. */
struct pload {
	struct profile *p;
	json_t *seen;  /* normalised reference -> index in p->images */
	json_t *packs; /* pack name -> "file:line" where it was defined */
	json_t *files; /* real path -> index in p->files */
	json_t *done;  /* real paths of the profiles read completely */
	json_t *excludes;
	/* The include chain being read, for cycle messages. */
	char *stack[PROFILE_INCLUDE_DEPTH + 1];
	char *stack_disp[PROFILE_INCLUDE_DEPTH + 1];
	size_t depth;
	/* What the current top-level profile's tree says, the includer overriding. */
	struct platform plats[PROFILE_PLATFORM_MAX];
	size_t nplats;
	char *project;
	struct barge_err *err;
};

/* What every check needs to name a position in a file. */
struct pctx {
	const struct yjson *y;
	const char *file;
	struct pload *ld;
	struct barge_err *err;
};

static void
profile_image_clear(struct profile_image *im)
{
	size_t i;

	ref_free(im->ref);
	free(im->source);
	for (i = 0; i < im->norigins; i++) {
		free(im->origins[i].pack);
		free(im->origins[i].file);
	}
	free(im->origins);
}

void
profile_free(struct profile *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nimages; i++)
		profile_image_clear(&p->images[i]);
	for (i = 0; i < p->nfiles; i++)
		free(p->files[i].path);
	free(p->files);
	free(p->images);
	free(p->platforms);
	free(p->file);
	free(p->name);
	free(p->version);
	free(p->project);
	free(p);
}

static int
nomem(const struct pctx *c)
{
	return err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
}

/*
 * The position of node, which is parent[key] (key NULL for list items).
 * The jansson singletons (null, true, false) carry no position of their own,
 * so their key, or else their parent, stands in for them.
 */
static void
node_pos(const struct pctx *c, const json_t *parent, const char *key, const json_t *node, int *line,
         int *col)
{
	*line = 0;
	*col = 0;
	if (node != NULL && yjson_pos(c->y, node, line, col) == 0)
		return;
	if (parent != NULL && key != NULL && yjson_key_pos(c->y, parent, key, line, col) == 0)
		return;
	if (parent != NULL && yjson_pos(c->y, parent, line, col) == 0)
		return;
	*line = 0;
	*col = 0;
}

static int perr(const struct pctx *c, int code, int line, int col, const char *fmt, ...)
        BARGE_PRINTF(5, 6);

static int
perr(const struct pctx *c, int code, int line, int col, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(c->err, code, "%s:%d:%d: %s", c->file, line, col, msg);
}

static int perr_at(const struct pctx *c, const json_t *parent, const char *key, const json_t *node,
                   const char *fmt, ...) BARGE_PRINTF(5, 6);

static int
perr_at(const struct pctx *c, const json_t *parent, const char *key, const json_t *node,
        const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	node_pos(c, parent, key, node, &line, &col);
	return perr(c, BARGE_EINVAL, line, col, "%s", msg);
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}

/* Checks that obj (named where) has only keys from allowed. */
static int
check_keys(const struct pctx *c, const json_t *obj, const char *where, const char *const *allowed)
{
	const char *key, *const *k, *hint;
	char list[256];
	json_t *v;
	int line, col;
	size_t n;

	json_object_foreach((json_t *)obj, key, v)
	{
		for (k = allowed; *k != NULL; k++)
			if (strcmp(key, *k) == 0)
				break;
		if (*k != NULL)
			continue;
		if (yjson_key_pos(c->y, obj, key, &line, &col) != 0)
			node_pos(c, obj, NULL, v, &line, &col);
		if ((hint = yjson_suggest(key, allowed)) != NULL)
			return perr(c, BARGE_EINVAL, line, col,
			            "unknown key \"%.100s\"; did you mean \"%s\"?", key, hint);
		list[0] = '\0';
		for (k = allowed; *k != NULL; k++) {
			n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", k == allowed ? "" : ", ", *k);
		}
		return perr(c, BARGE_EINVAL, line, col,
		            "unknown key \"%.100s\"; valid keys%s%s: %s", key,
		            *where != '\0' ? " in " : "", where, list);
	}
	return BARGE_OK;
}

/*
 * Fetches obj[key] of the given JSON type.  A missing key is an error when
 * required, else *out is NULL.  Type errors name what was expected.
 */
static int
get_typed(const struct pctx *c, const json_t *obj, const char *where, const char *key,
          json_type type, int required, json_t **out)
{
	static const char *const want[] = {
		[JSON_OBJECT] = "a mapping",
		[JSON_ARRAY] = "a list",
		[JSON_STRING] = "a string",
	};
	json_t *v;

	*out = NULL;
	v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return BARGE_OK;
		if (v != NULL)
			return perr_at(c, obj, key, v, "%s%s is empty", where, key);
		return perr_at(c, obj, NULL, obj, "missing %s%s", where, key);
	}
	if (json_typeof(v) != type) {
		if (json_is_number(v) && type == JSON_STRING)
			return perr_at(c, obj, key, v,
			               "%s%s: expected a string, got a number (quote it)", where,
			               key);
		return perr_at(c, obj, key, v, "%s%s: expected %s, got %s", where, key, want[type],
		               type_name(v));
	}
	*out = v;
	return BARGE_OK;
}

/* metadata.name: lowercase, as it names files and appears in repositories. */
static int
valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > PROFILE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (i > 0 && (s[i] == '.' || s[i] == '_' || s[i] == '-'))
			continue;
		return 0;
	}
	return 1;
}

/* metadata.version ends up in the bundle's file name: no '/', no spaces, nothing odd. */
static int
valid_version(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > PROFILE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (i > 0 && (s[i] == '.' || s[i] == '_' || s[i] == '-' || s[i] == '+'))
			continue;
		return 0;
	}
	return 1;
}

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
strdup_into(const struct pctx *c, char **dst, const char *s)
{
	if ((*dst = strdup(s)) == NULL)
		return nomem(c);
	return BARGE_OK;
}

/* path relative to the directory of base, unless it is absolute; caller frees. */
static char *
join_rel(const char *base, const char *path)
{
	const char *slash = strrchr(base, '/');

	if (path[0] == '/' || slash == NULL)
		return strdup(path);
	return fu_printf("%.*s/%s", (int)(slash - base), base, path);
}

/*
 * Records a file read for the profile (its sha256 goes into lock files) once
 * per real path.  *idx is its index in p->files.
 */
static int
record_file(struct pload *ld, const char *disp, const char *real, const char *buf, size_t len)
{
	struct profile *p = ld->p;
	struct profile_file *grown;
	json_t *at;

	if (json_object_get(ld->files, real) != NULL)
		return BARGE_OK;
	if (p->nfiles >= PROFILE_FILES_MAX)
		return err_set(ld->err, BARGE_ELIMIT, "%s: more than %d files make up the profile",
		               disp, PROFILE_FILES_MAX);
	if ((grown = realloc(p->files, (p->nfiles + 1) * sizeof(*grown))) == NULL)
		return err_set(ld->err, BARGE_ENOMEM, "%s: out of memory", disp);
	p->files = grown;
	if (digest_buf(DIGEST_SHA256, buf, len, grown[p->nfiles].sha256, ld->err) != BARGE_OK)
		return err_prefix(ld->err, "%s", disp);
	if ((grown[p->nfiles].path = strdup(disp)) == NULL ||
	    (at = json_integer((json_int_t)p->nfiles)) == NULL ||
	    json_object_set_new(ld->files, real, at) != 0) {
		free(grown[p->nfiles].path);
		return err_set(ld->err, BARGE_ENOMEM, "%s: out of memory", disp);
	}
	p->nfiles++;
	return BARGE_OK;
}

/*
 * Reads disp (named so in messages) as YAML, recording it.  *real (caller
 * frees) is its canonical path, by which a file reached through different
 * paths is known to be the same.
 */
static int
read_yaml(struct pload *ld, const char *disp, struct yjson **y, char **real)
{
	char *buf = NULL, *rp = NULL;
	size_t len;
	int rc;

	if ((rc = fu_read_file(disp, YJSON_FILE_MAX, &buf, &len, ld->err)) != BARGE_OK)
		goto out;
	if ((rp = realpath(disp, NULL)) == NULL) {
		rc = err_sys(ld->err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s",
		             disp);
		goto out;
	}
	if ((rc = record_file(ld, disp, rp, buf, len)) != BARGE_OK ||
	    (rc = yjson_load_buf(disp, buf, len, y, ld->err)) != BARGE_OK)
		goto out;
	*real = rp;
	rp = NULL;
out:
	free(rp);
	free(buf);
	return rc;
}

static int
load_metadata(struct pctx *c, const json_t *doc, int top)
{
	static const char *const allowed[] = { "name", "version", NULL };
	json_t *md, *name, *version;
	int rc;

	/* An included profile is a layer: its metadata, if any, is checked but not used. */
	if ((rc = get_typed(c, doc, "", "metadata", JSON_OBJECT, top, &md)) != BARGE_OK)
		return rc;
	if (md == NULL)
		return BARGE_OK;
	if ((rc = check_keys(c, md, "metadata", allowed)) != BARGE_OK)
		return rc;
	if ((rc = get_typed(c, md, "metadata.", "name", JSON_STRING, 1, &name)) != BARGE_OK)
		return rc;
	if (!valid_name(json_string_value(name)))
		return perr_at(c, md, "name", name,
		               "metadata.name \"%.200s\" is not valid: use lowercase letters, "
		               "digits, '.', '_' and '-', starting with a letter or digit",
		               json_string_value(name));
	if ((rc = get_typed(c, md, "metadata.", "version", JSON_STRING, 1, &version)) != BARGE_OK)
		return rc;
	if (!valid_version(json_string_value(version)))
		return perr_at(c, md, "version", version,
		               "metadata.version \"%.200s\" is not valid: use letters, digits, "
		               "'.', '_', '-' and '+', starting with a letter or digit",
		               json_string_value(version));
	if (!top || c->ld->p->name != NULL)
		return BARGE_OK;
	if ((rc = strdup_into(c, &c->ld->p->name, json_string_value(name))) != BARGE_OK ||
	    (rc = strdup_into(c, &c->ld->p->version, json_string_value(version))) != BARGE_OK)
		return rc;
	return BARGE_OK;
}

/* spec.platforms of one file: replaces what its includes said. */
static int
load_platforms(struct pctx *c, const json_t *spec)
{
	struct barge_err detail;
	struct platform pl[PROFILE_PLATFORM_MAX];
	char a[3 * PLATFORM_FIELD_MAX], b[3 * PLATFORM_FIELD_MAX];
	json_t *list, *v;
	size_t i, j, n = 0;
	int rc;

	if ((rc = get_typed(c, spec, "spec.", "platforms", JSON_ARRAY, 0, &list)) != BARGE_OK)
		return rc;
	if (list == NULL)
		return BARGE_OK;
	if (json_array_size(list) == 0)
		return perr_at(c, spec, "platforms", list, "spec.platforms is empty");
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v))
			return perr_at(c, list, NULL, v,
			               "spec.platforms[%zu]: expected a string, got %s", i,
			               type_name(v));
		if (platform_parse(json_string_value(v), &pl[n], &detail) != BARGE_OK)
			return perr_at(c, list, NULL, v, "spec.platforms: %s", detail.msg);
		platform_format(&pl[n], a, sizeof(a));
		for (j = 0; j < n; j++) {
			platform_format(&pl[j], b, sizeof(b));
			if (strcmp(a, b) == 0)
				return perr_at(c, list, NULL, v,
				               "spec.platforms: \"%s\" is listed twice", a);
		}
		if (n >= PROFILE_PLATFORM_MAX)
			return perr_at(c, list, NULL, v, "spec.platforms: more than %d platforms",
			               PROFILE_PLATFORM_MAX);
		n++;
	}
	memcpy(c->ld->plats, pl, n * sizeof(pl[0]));
	c->ld->nplats = n;
	return BARGE_OK;
}

/* spec.project of one file: replaces what its includes said. */
static int
load_project(struct pctx *c, const json_t *spec)
{
	json_t *v;
	const char *s;
	char *dup;
	int rc;

	if ((rc = get_typed(c, spec, "spec.", "project", JSON_STRING, 0, &v)) != BARGE_OK)
		return rc;
	if (v == NULL)
		return BARGE_OK;
	s = json_string_value(v);
	/* One path component: the first segment of every repository on the device. */
	if (strchr(s, '/') != NULL || strlen(s) > PROFILE_NAME_MAX || !ref_valid_repo(s))
		return perr_at(c, spec, "project", v,
		               "spec.project \"%.200s\" is not a valid repository component "
		               "(lowercase letters, digits, separated by '.', '_' or '-')",
		               s);
	if ((rc = strdup_into(c, &dup, s)) != BARGE_OK)
		return rc;
	free(c->ld->project);
	c->ld->project = dup;
	return BARGE_OK;
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
 * Adds image reference s, found at line:col of c's file in pack.  The same
 * image named again gains an origin instead of a second entry.
 */
static int
add_ref(const struct pctx *c, const char *pack, const char *s, int line, int col)
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
		rc = add_origin(c, &p->images[json_integer_value(at)], pack, line, col);
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
	return add_ref(c, pack, json_string_value(v), line, col);
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
			               kind, lists[k], type_name(list));
		json_array_foreach(list, i, item)
		{
			if (!json_is_object(item))
				return perr_at(c, list, NULL, item,
				               "%s: %s[%zu]: expected a mapping, got %s", kind,
				               lists[k], i, type_name(item));
			img = json_object_get(item, "image");
			/* A container without an image has nothing to pull. */
			if (img == NULL || json_is_null(img))
				continue;
			if (!json_is_string(img) || json_string_length(img) == 0)
				return perr_at(c, item, "image", img,
				               "%s: %s[%zu].image: expected a reference, got %s",
				               kind, lists[k], i,
				               json_is_string(img) ? "an empty string"
				                                   : type_name(img));
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
		               type_name(doc));
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
				               next != NULL ? type_name(next) : "nothing");
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
static int
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
		return add_ref(c, pack, override, line, col);
	}
	if (opt_string(m, "registry", &registry) != 0)
		return perr_at(c, m, "registry", json_object_get(m, "registry"),
		               "image registry: expected a string, got %s",
		               type_name(json_object_get(m, "registry")));
	if (opt_string(m, "digest", &digest) != 0)
		return perr_at(c, m, "digest", json_object_get(m, "digest"),
		               "image digest: expected a string, got %s",
		               type_name(json_object_get(m, "digest")));
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
		               type_name(tagv));
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
	rc = add_ref(c, pack, ref, line, col);
	free(ref);
	return rc;
}

static int
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
		               json_is_string(v) ? "an empty string" : type_name(v));
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

static int
load_pack(struct pctx *c, const json_t *packs, size_t idx, const json_t *pack)
{
	static const char *const allowed[] = { "name", "images", "manifests", "values", NULL };
	static const char *const lists[] = { "images", "manifests", "values" };
	char where[64];
	json_t *name, *list, *v, *def;
	const char *pn;
	char *here;
	int line, col, rc;
	size_t i, k;

	snprintf(where, sizeof(where), "spec.packs[%zu]", idx);
	if (!json_is_object(pack))
		return perr_at(c, packs, NULL, pack, "%s: expected a mapping, got %s", where,
		               type_name(pack));
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
			if (k == 0 && !json_is_string(v))
				return perr_at(
				        c, list, NULL, v,
				        "pack \"%s\": images[%zu]: expected a string, got %s", pn,
				        i, type_name(v));
			if (k == 0)
				rc = add_ref_node(c, pn, list, NULL, v);
			else
				rc = load_source(c, pn, list, v,
				                 k == 1 ? SRC_MANIFESTS : SRC_VALUES);
			if (rc != BARGE_OK)
				return rc;
		}
	}
	return BARGE_OK;
}

static int
load_exclude(struct pctx *c, const json_t *spec)
{
	json_t *list, *v;
	size_t i;
	int rc;

	if ((rc = get_typed(c, spec, "spec.", "exclude", JSON_ARRAY, 0, &list)) != BARGE_OK ||
	    list == NULL)
		return rc;
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > REF_MAX)
			return perr_at(c, list, NULL, v,
			               "spec.exclude[%zu]: expected a glob pattern, got %s", i,
			               json_is_string(v) ? "a bad string" : type_name(v));
		if (json_array_size(c->ld->excludes) >= PROFILE_EXCLUDE_MAX)
			return perr_at(c, list, NULL, v, "spec.exclude: more than %d patterns",
			               PROFILE_EXCLUDE_MAX);
		if (json_array_append(c->ld->excludes, v) != 0)
			return nomem(c);
	}
	return BARGE_OK;
}

static int load_profile(struct pload *ld, const char *disp, int top);

static int
load_includes(struct pctx *c, const json_t *spec)
{
	struct pload *ld = c->ld;
	json_t *list, *v;
	char *path = NULL, *real = NULL, chain[BARGE_ERR_MSG_MAX / 2];
	size_t i, k, n;
	int rc;

	if ((rc = get_typed(c, spec, "spec.", "include", JSON_ARRAY, 0, &list)) != BARGE_OK ||
	    list == NULL)
		return rc;
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0)
			return perr_at(c, list, NULL, v,
			               "spec.include[%zu]: expected a file name, got %s", i,
			               json_is_string(v) ? "an empty string" : type_name(v));
		if ((path = join_rel(c->file, json_string_value(v))) == NULL)
			return nomem(c);
		if ((real = realpath(path, NULL)) == NULL) {
			int line, col;

			node_pos(c, list, NULL, v, &line, &col);
			rc = perr(c, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, line, col,
			          "include \"%.200s\": %s", path, strerror(errno));
			goto out;
		}
		for (k = 0; k < ld->depth; k++)
			if (strcmp(ld->stack[k], real) == 0)
				break;
		if (k < ld->depth) {
			chain[0] = '\0';
			for (; k < ld->depth; k++) {
				n = strlen(chain);
				snprintf(chain + n, sizeof(chain) - n, "%s -> ", ld->stack_disp[k]);
			}
			n = strlen(chain);
			snprintf(chain + n, sizeof(chain) - n, "%s", path);
			rc = perr_at(c, list, NULL, v, "include cycle: %s", chain);
			goto out;
		}
		/* Reached again by another path (a diamond): its images are in already. */
		if (json_object_get(ld->done, real) == NULL &&
		    (rc = load_profile(ld, path, 0)) != BARGE_OK)
			goto out;
		free(path);
		free(real);
		path = real = NULL;
	}
	rc = BARGE_OK;
out:
	free(path);
	free(real);
	return rc;
}

static int
load_spec(struct pctx *c, const json_t *doc, int top)
{
	static const char *const allowed[] = { "platforms", "project", "include",
		                               "packs",     "exclude", NULL };
	json_t *spec, *packs, *pack;
	size_t i;
	int rc;

	if ((rc = get_typed(c, doc, "", "spec", JSON_OBJECT, 1, &spec)) != BARGE_OK)
		return rc;
	if ((rc = check_keys(c, spec, "spec", allowed)) != BARGE_OK)
		return rc;
	/* Layers first, so that this file's own settings override theirs. */
	if ((rc = load_includes(c, spec)) != BARGE_OK)
		return rc;
	if ((rc = load_platforms(c, spec)) != BARGE_OK || (rc = load_project(c, spec)) != BARGE_OK)
		return rc;
	if ((rc = get_typed(c, spec, "spec.", "packs", JSON_ARRAY, 0, &packs)) != BARGE_OK)
		return rc;
	json_array_foreach(packs, i, pack)
	{
		if ((rc = load_pack(c, packs, i, pack)) != BARGE_OK)
			return rc;
	}
	if ((rc = load_exclude(c, spec)) != BARGE_OK)
		return rc;
	if (top && c->ld->p->nimages == 0)
		return perr_at(c, spec, packs != NULL ? "packs" : NULL,
		               packs != NULL ? packs : spec, "spec.packs lists no images");
	return BARGE_OK;
}

static int
load_doc(struct pctx *c, const json_t *doc, int top)
{
	static const char *const allowed[] = { "apiVersion", "kind", "metadata", "spec", NULL };
	json_t *v;
	int line, col, rc;

	if (yjson_ndocs(c->y) == 0)
		return err_set(c->err, BARGE_EINVAL, "%s: no YAML document in the file", c->file);
	if (yjson_ndocs(c->y) > 1) {
		if (yjson_pos(c->y, yjson_doc(c->y, 1), &line, &col) != 0)
			line = col = 0;
		return perr(c, BARGE_EINVAL, line, col, "a profile is one YAML document; found %zu",
		            yjson_ndocs(c->y));
	}
	if (!json_is_object(doc))
		return perr_at(c, NULL, NULL, doc, "expected a mapping at the top level, got %s",
		               type_name(doc));
	if ((rc = check_keys(c, doc, "", allowed)) != BARGE_OK)
		return rc;
	if ((rc = get_typed(c, doc, "", "apiVersion", JSON_STRING, 1, &v)) != BARGE_OK)
		return rc;
	if (strcmp(json_string_value(v), PROFILE_API_VERSION) != 0)
		return perr_at(c, doc, "apiVersion", v,
		               "apiVersion \"%.100s\" is not supported (want \"%s\")",
		               json_string_value(v), PROFILE_API_VERSION);
	if ((rc = get_typed(c, doc, "", "kind", JSON_STRING, 1, &v)) != BARGE_OK)
		return rc;
	if (strcmp(json_string_value(v), PROFILE_KIND) != 0)
		return perr_at(c, doc, "kind", v, "kind \"%.100s\" is not supported (want \"%s\")",
		               json_string_value(v), PROFILE_KIND);
	if ((rc = load_metadata(c, doc, top)) != BARGE_OK)
		return rc;
	return load_spec(c, doc, top);
}

/* Reads profile disp (already parsed into y when y is not NULL). */
static int
load_profile_y(struct pload *ld, const char *disp, const char *real, const struct yjson *y, int top)
{
	struct pctx c = { .y = y, .file = disp, .ld = ld, .err = ld->err };
	int rc;

	if (ld->depth >= PROFILE_INCLUDE_DEPTH)
		return err_set(ld->err, BARGE_ELIMIT, "%s: includes nest more than %d deep", disp,
		               PROFILE_INCLUDE_DEPTH);
	if ((ld->stack[ld->depth] = strdup(real)) == NULL ||
	    (ld->stack_disp[ld->depth] = strdup(disp)) == NULL) {
		free(ld->stack[ld->depth]);
		return nomem(&c);
	}
	ld->depth++;
	rc = load_doc(&c, yjson_ndocs(y) > 0 ? yjson_doc(y, 0) : NULL, top);
	ld->depth--;
	free(ld->stack[ld->depth]);
	free(ld->stack_disp[ld->depth]);
	if (rc == BARGE_OK && json_object_set_new(ld->done, real, json_true()) != 0)
		rc = nomem(&c);
	return rc;
}

static int
load_profile(struct pload *ld, const char *disp, int top)
{
	struct yjson *y = NULL;
	char *real = NULL;
	int rc;

	if ((rc = read_yaml(ld, disp, &y, &real)) == BARGE_OK)
		rc = load_profile_y(ld, disp, real, y, top);
	yjson_free(y);
	free(real);
	return rc;
}

/* After one top-level profile's tree: its platforms join the union, its project must agree. */
static int
finish_top(struct pload *ld, const char *disp)
{
	struct profile *p = ld->p;
	struct barge_err perr_detail;
	char a[3 * PLATFORM_FIELD_MAX], b[3 * PLATFORM_FIELD_MAX];
	const char *project = ld->project != NULL ? ld->project : PROFILE_DEFAULT_PROJECT;
	size_t i, j;

	if (ld->nplats == 0) {
		if (platform_parse(PROFILE_DEFAULT_PLATFORM, &ld->plats[0], &perr_detail) !=
		    BARGE_OK)
			return err_set(ld->err, BARGE_EINTERNAL, "%s", perr_detail.msg);
		ld->nplats = 1;
	}
	for (i = 0; i < ld->nplats; i++) {
		platform_format(&ld->plats[i], a, sizeof(a));
		for (j = 0; j < p->nplatforms; j++) {
			platform_format(&p->platforms[j], b, sizeof(b));
			if (strcmp(a, b) == 0)
				break;
		}
		if (j < p->nplatforms)
			continue;
		if (p->nplatforms >= PROFILE_PLATFORM_MAX)
			return err_set(ld->err, BARGE_ELIMIT, "%s: more than %d platforms", disp,
			               PROFILE_PLATFORM_MAX);
		p->platforms[p->nplatforms++] = ld->plats[i];
	}
	if (p->project == NULL) {
		if ((p->project = strdup(project)) == NULL)
			return err_set(ld->err, BARGE_ENOMEM, "out of memory");
	} else if (strcmp(p->project, project) != 0) {
		return err_set(ld->err, BARGE_EINVAL,
		               "%s: project \"%s\" differs from the first profile's \"%s\"", disp,
		               project, p->project);
	}
	free(ld->project);
	ld->project = NULL;
	ld->nplats = 0;
	return BARGE_OK;
}

/* Drops the images spec.exclude matches. */
static void
apply_excludes(struct pload *ld)
{
	struct profile *p = ld->p;
	json_t *pat;
	size_t i, k, n = 0;

	for (i = 0; i < p->nimages; i++) {
		json_array_foreach(ld->excludes, k, pat)
		{
			if (fnmatch(json_string_value(pat), p->images[i].source, 0) == 0)
				break;
		}
		if (k < json_array_size(ld->excludes)) {
			profile_image_clear(&p->images[i]);
			p->nexcluded++;
			continue;
		}
		p->images[n++] = p->images[i];
	}
	p->nimages = n;
}

enum top_src { TOP_FILES, TOP_BUF };

static int
load_top(enum top_src src, const char *const *paths, size_t n, const char *buf, size_t len,
         struct profile **out, struct barge_err *err)
{
	struct pload ld = { .err = err };
	struct yjson *y = NULL;
	size_t i;
	int rc;

	if ((ld.p = calloc(1, sizeof(*ld.p))) == NULL ||
	    (ld.p->file = strdup(n > 0 ? paths[0] : "")) == NULL ||
	    (ld.p->platforms = calloc(PROFILE_PLATFORM_MAX, sizeof(*ld.p->platforms))) == NULL ||
	    (ld.seen = json_object()) == NULL || (ld.packs = json_object()) == NULL ||
	    (ld.files = json_object()) == NULL || (ld.done = json_object()) == NULL ||
	    (ld.excludes = json_array()) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (n == 0) {
		rc = err_set(err, BARGE_EINVAL, "no profile given");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (src == TOP_BUF) {
			/* A buffer has no real path: its name stands for it. */
			if ((rc = record_file(&ld, paths[0], paths[0], buf, len)) != BARGE_OK ||
			    (rc = yjson_load_buf(paths[0], buf, len, &y, err)) != BARGE_OK ||
			    (rc = load_profile_y(&ld, paths[0], paths[0], y, 1)) != BARGE_OK)
				goto out;
		} else if ((rc = load_profile(&ld, paths[i], 1)) != BARGE_OK) {
			goto out;
		}
		if ((rc = finish_top(&ld, paths[i])) != BARGE_OK)
			goto out;
	}
	apply_excludes(&ld);
	if (ld.p->nimages == 0) {
		rc = err_set(err, BARGE_EINVAL, "%s: spec.exclude drops every image", paths[0]);
		goto out;
	}
	*out = ld.p;
	ld.p = NULL;
	rc = BARGE_OK;
out:
	yjson_free(y);
	free(ld.project);
	json_decref(ld.seen);
	json_decref(ld.packs);
	json_decref(ld.files);
	json_decref(ld.done);
	json_decref(ld.excludes);
	profile_free(ld.p);
	return rc;
}

int
profile_load(const char *path, struct profile **out, struct barge_err *err)
{
	return load_top(TOP_FILES, &path, 1, NULL, 0, out, err);
}

int
profile_load_many(const char *const *paths, size_t n, struct profile **out, struct barge_err *err)
{
	return load_top(TOP_FILES, paths, n, NULL, 0, out, err);
}

int
profile_load_buf(const char *name, const char *buf, size_t len, struct profile **out,
                 struct barge_err *err)
{
	return load_top(TOP_BUF, &name, 1, buf, len, out, err);
}
