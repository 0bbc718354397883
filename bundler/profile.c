#include "profile.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yjson.h"

#define PROFILE_API_VERSION      "barge.dev/v1"
#define PROFILE_KIND             "ClusterProfile"
#define PROFILE_DEFAULT_PROJECT  "edge"
#define PROFILE_DEFAULT_PLATFORM "linux/amd64"

/* What every check needs to name a position in the file. */
struct pctx {
	const struct yjson *y;
	const char *file;
	struct profile *p;
	json_t *seen; /* normalised reference -> index in p->images */
	struct barge_err *err;
};

static void
profile_image_clear(struct profile_image *im)
{
	ref_free(im->ref);
	free(im->source);
	free(im->origin.pack);
}

void
profile_free(struct profile *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nimages; i++)
		profile_image_clear(&p->images[i]);
	free(p->images);
	free(p->platforms);
	free(p->file);
	free(p->name);
	free(p->version);
	free(p->project);
	free(p);
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

/* Optimal string alignment distance: Levenshtein plus adjacent transpositions. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, best;
	size_t d[33][33];

	/* Keys are short; anything longer is not a typo of one. */
	if (la > 32 || lb > 32)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const char *
profile_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1, d, limit;

	/* One edit in four characters still reads as the same word. */
	limit = 1 + strlen(word) / 4;
	for (; *candidates != NULL; candidates++) {
		d = edit_distance(word, *candidates);
		if (d <= limit && d < bestd) {
			best = *candidates;
			bestd = d;
		}
	}
	return best;
}

/*
 * Checks that obj (named where) has only keys from allowed.  Keys DESIGN
 * plans for later are refused by name, so that a profile written for a
 * newer barge fails loudly instead of building a bundle without them.
 */
static int
check_keys(const struct pctx *c, const json_t *obj, const char *where, const char *const *allowed,
           const char *const *later)
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
		for (k = later; *k != NULL; k++)
			if (strcmp(key, *k) == 0)
				return perr(c, BARGE_EINVAL, line, col,
				            "%s%s\"%s\" is not supported yet", where,
				            *where != '\0' ? ": " : "", key);
		if ((hint = profile_suggest(key, allowed)) != NULL)
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
		return err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
	return BARGE_OK;
}

static int
load_metadata(struct pctx *c, const json_t *doc)
{
	static const char *const allowed[] = { "name", "version", NULL };
	static const char *const later[] = { NULL };
	json_t *md, *name, *version;
	int rc;

	if ((rc = get_typed(c, doc, "", "metadata", JSON_OBJECT, 1, &md)) != BARGE_OK)
		return rc;
	if ((rc = check_keys(c, md, "metadata", allowed, later)) != BARGE_OK)
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
	if ((rc = strdup_into(c, &c->p->name, json_string_value(name))) != BARGE_OK ||
	    (rc = strdup_into(c, &c->p->version, json_string_value(version))) != BARGE_OK)
		return rc;
	return BARGE_OK;
}

static int
add_platform(struct pctx *c, const json_t *list, const json_t *v, const char *s)
{
	struct barge_err perr_detail;
	struct platform pl;
	char a[3 * PLATFORM_FIELD_MAX], b[3 * PLATFORM_FIELD_MAX];
	size_t i;

	if (platform_parse(s, &pl, &perr_detail) != BARGE_OK)
		return perr_at(c, list, NULL, v, "spec.platforms: %s", perr_detail.msg);
	platform_format(&pl, a, sizeof(a));
	for (i = 0; i < c->p->nplatforms; i++) {
		platform_format(&c->p->platforms[i], b, sizeof(b));
		if (strcmp(a, b) == 0)
			return perr_at(c, list, NULL, v, "spec.platforms: \"%s\" is listed twice",
			               a);
	}
	if (c->p->nplatforms >= PROFILE_PLATFORM_MAX)
		return perr_at(c, list, NULL, v, "spec.platforms: more than %d platforms",
		               PROFILE_PLATFORM_MAX);
	c->p->platforms[c->p->nplatforms++] = pl;
	return BARGE_OK;
}

static int
load_platforms(struct pctx *c, const json_t *spec)
{
	json_t *list, *v;
	size_t i;
	int rc;

	if ((rc = get_typed(c, spec, "spec.", "platforms", JSON_ARRAY, 0, &list)) != BARGE_OK)
		return rc;
	c->p->platforms = calloc(PROFILE_PLATFORM_MAX, sizeof(*c->p->platforms));
	if (c->p->platforms == NULL)
		return err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
	if (list == NULL)
		return add_platform(c, spec, spec, PROFILE_DEFAULT_PLATFORM);
	if (json_array_size(list) == 0)
		return perr_at(c, spec, "platforms", list, "spec.platforms is empty");
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v))
			return perr_at(c, list, NULL, v,
			               "spec.platforms[%zu]: expected a string, got %s", i,
			               type_name(v));
		if ((rc = add_platform(c, list, v, json_string_value(v))) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

static int
load_project(struct pctx *c, const json_t *spec)
{
	json_t *v;
	const char *s = PROFILE_DEFAULT_PROJECT;
	int rc;

	if ((rc = get_typed(c, spec, "spec.", "project", JSON_STRING, 0, &v)) != BARGE_OK)
		return rc;
	if (v != NULL) {
		s = json_string_value(v);
		/* One path component: the first segment of every repository on the device. */
		if (strchr(s, '/') != NULL || strlen(s) > PROFILE_NAME_MAX || !ref_valid_repo(s))
			return perr_at(
			        c, spec, "project", v,
			        "spec.project \"%.200s\" is not a valid repository component "
			        "(lowercase letters, digits, separated by '.', '_' or '-')",
			        s);
	}
	return strdup_into(c, &c->p->project, s);
}

static int
add_image(struct pctx *c, const json_t *list, size_t idx, const json_t *v, const char *pack)
{
	struct barge_err rerr;
	struct profile_image *im, *grown;
	struct ref *r = NULL;
	char *source = NULL, *packdup = NULL;
	json_t *at;
	int line, col, rc;

	if (!json_is_string(v))
		return perr_at(c, list, NULL, v,
		               "pack \"%s\": images[%zu]: expected a string, got %s", pack, idx,
		               type_name(v));
	node_pos(c, list, NULL, v, &line, &col);
	if (ref_parse(json_string_value(v), &r, &rerr) != BARGE_OK)
		/* ref's message quotes the reference and says what is wrong with it. */
		return perr(c, BARGE_EINVAL, line, col, "pack \"%s\": %s", pack, rerr.msg);
	if ((source = ref_string(r)) == NULL) {
		rc = err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
		goto fail;
	}
	/* The same image in several packs is pulled and bundled once. */
	if (json_object_get(c->seen, source) != NULL) {
		rc = BARGE_OK;
		goto fail;
	}
	if (c->p->nimages >= PROFILE_IMAGES_MAX) {
		rc = perr(c, BARGE_ELIMIT, line, col, "more than %d images", PROFILE_IMAGES_MAX);
		goto fail;
	}
	grown = realloc(c->p->images, (c->p->nimages + 1) * sizeof(*grown));
	if (grown == NULL || (packdup = strdup(pack)) == NULL ||
	    (at = json_integer((json_int_t)c->p->nimages)) == NULL) {
		if (grown != NULL)
			c->p->images = grown;
		rc = err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
		goto fail;
	}
	c->p->images = grown;
	if (json_object_set_new(c->seen, source, at) != 0) {
		rc = err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
		goto fail;
	}
	im = &c->p->images[c->p->nimages++];
	im->ref = r;
	im->source = source;
	im->origin.line = line;
	im->origin.col = col;
	im->origin.pack = packdup;
	return BARGE_OK;
fail:
	free(packdup);
	free(source);
	ref_free(r);
	return rc;
}

static int
load_pack(struct pctx *c, const json_t *packs, size_t idx, const json_t *pack, json_t *names)
{
	static const char *const allowed[] = { "name", "images", NULL };
	static const char *const later[] = { "manifests", "values", NULL };
	char where[64];
	json_t *name, *images, *v;
	const char *pn;
	size_t i;
	int rc;

	snprintf(where, sizeof(where), "spec.packs[%zu]", idx);
	if (!json_is_object(pack))
		return perr_at(c, packs, NULL, pack, "%s: expected a mapping, got %s", where,
		               type_name(pack));
	if ((rc = check_keys(c, pack, where, allowed, later)) != BARGE_OK)
		return rc;
	snprintf(where, sizeof(where), "spec.packs[%zu].", idx);
	if ((rc = get_typed(c, pack, where, "name", JSON_STRING, 1, &name)) != BARGE_OK)
		return rc;
	pn = json_string_value(name);
	if (!valid_pack_name(pn))
		return perr_at(c, pack, "name", name, "%sname is not a valid pack name", where);
	if (json_object_get(names, pn) != NULL)
		return perr_at(c, pack, "name", name, "pack \"%s\" is defined twice", pn);
	if (json_object_set_new(names, pn, json_true()) != 0)
		return err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
	snprintf(where, sizeof(where), "pack \"%.40s\": ", pn);
	if ((rc = get_typed(c, pack, where, "images", JSON_ARRAY, 0, &images)) != BARGE_OK)
		return rc;
	if (images == NULL)
		return BARGE_OK;
	json_array_foreach(images, i, v)
	{
		if ((rc = add_image(c, images, i, v, pn)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

static int
load_spec(struct pctx *c, const json_t *doc)
{
	static const char *const allowed[] = { "platforms", "project", "packs", NULL };
	static const char *const later[] = { "include", "exclude", NULL };
	json_t *spec, *packs, *pack, *names = NULL;
	size_t i;
	int rc;

	if ((rc = get_typed(c, doc, "", "spec", JSON_OBJECT, 1, &spec)) != BARGE_OK)
		return rc;
	if ((rc = check_keys(c, spec, "spec", allowed, later)) != BARGE_OK)
		return rc;
	if ((rc = load_platforms(c, spec)) != BARGE_OK || (rc = load_project(c, spec)) != BARGE_OK)
		return rc;
	if ((rc = get_typed(c, spec, "spec.", "packs", JSON_ARRAY, 1, &packs)) != BARGE_OK)
		return rc;
	if ((names = json_object()) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
	json_array_foreach(packs, i, pack)
	{
		if ((rc = load_pack(c, packs, i, pack, names)) != BARGE_OK)
			goto out;
	}
	c->p->npacks = json_array_size(packs);
	if (c->p->nimages == 0)
		rc = perr_at(c, spec, "packs", packs, "spec.packs lists no images");
out:
	json_decref(names);
	return rc;
}

static int
load_doc(struct pctx *c, const json_t *doc)
{
	static const char *const allowed[] = { "apiVersion", "kind", "metadata", "spec", NULL };
	static const char *const later[] = { NULL };
	json_t *v;
	int rc;

	if (!json_is_object(doc))
		return perr_at(c, NULL, NULL, doc, "expected a mapping at the top level, got %s",
		               type_name(doc));
	if ((rc = check_keys(c, doc, "", allowed, later)) != BARGE_OK)
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
	if ((rc = load_metadata(c, doc)) != BARGE_OK)
		return rc;
	return load_spec(c, doc);
}

static int
profile_from_yjson(const char *file, const struct yjson *y, struct profile **out,
                   struct barge_err *err)
{
	struct pctx c = { .y = y, .file = file, .err = err };
	int line, col, rc;

	if ((c.p = calloc(1, sizeof(*c.p))) == NULL || (c.p->file = strdup(file)) == NULL ||
	    (c.seen = json_object()) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "%s: out of memory", file);
		goto fail;
	}
	if (yjson_ndocs(y) == 0) {
		rc = err_set(err, BARGE_EINVAL, "%s: no YAML document in the file", file);
		goto fail;
	}
	if (yjson_ndocs(y) > 1) {
		if (yjson_pos(y, yjson_doc(y, 1), &line, &col) != 0)
			line = col = 0;
		rc = perr(&c, BARGE_EINVAL, line, col, "a profile is one YAML document; found %zu",
		          yjson_ndocs(y));
		goto fail;
	}
	if ((rc = load_doc(&c, yjson_doc(y, 0))) != BARGE_OK)
		goto fail;
	json_decref(c.seen);
	*out = c.p;
	return BARGE_OK;
fail:
	json_decref(c.seen);
	profile_free(c.p);
	return rc;
}

int
profile_load(const char *path, struct profile **out, struct barge_err *err)
{
	struct yjson *y = NULL;
	int rc;

	if ((rc = yjson_load_file(path, &y, err)) != BARGE_OK)
		return rc;
	rc = profile_from_yjson(path, y, out, err);
	yjson_free(y);
	return rc;
}

int
profile_load_buf(const char *name, const char *buf, size_t len, struct profile **out,
                 struct barge_err *err)
{
	struct yjson *y = NULL;
	int rc;

	if ((rc = yjson_load_buf(name, buf, len, &y, err)) != BARGE_OK)
		return rc;
	rc = profile_from_yjson(name, y, out, err);
	yjson_free(y);
	return rc;
}
