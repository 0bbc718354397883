/*
 * lock: the lock file (lock.h): made from a profile, parsed and validated,
 * dumped with a fixed key order, written atomically and compared with a
 * profile.  A struct lock owns everything it points to.
 */
#include "lock.h"

#include "localsrc.h"
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "localsrc.h"
#include "manifest.h"
#include "mediatype.h"

/* Parsing state: the document name for messages and where the error goes. */
struct lctx {
	const char *name;
	struct barge_err *err;
};

static int bad(const struct lctx *c, const char *path, const char *fmt, ...) BARGE_PRINTF(3, 4);

static int
bad(const struct lctx *c, const char *path, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(c->err, BARGE_EFORMAT, "%s: %s: %s", c->name, path, msg);
}

static int
nomem(struct barge_err *err)
{
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

static void
lock_image_clear(struct lock_image *im)
{
	size_t i;

	ref_free(im->ref);
	free(im->source);
	free(im->from);
	free(im->media_type);
	free(im->manifests);
	for (i = 0; i < im->norigins; i++) {
		free(im->origins[i].pack);
		free(im->origins[i].file);
	}
	free(im->origins);
	lock_referrers_clear(im);
}

void
lock_referrers_clear(struct lock_image *im)
{
	size_t i;

	for (i = 0; i < im->nreferrers; i++) {
		free(im->referrers[i].media_type);
		free(im->referrers[i].artifact_type);
		free(im->referrers[i].tag);
	}
	free(im->referrers);
	im->referrers = NULL;
	im->nreferrers = 0;
}

void
lock_free(struct lock *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nimages; i++)
		lock_image_clear(&l->images[i]);
	free(l->images);
	for (i = 0; i < l->nfiles; i++)
		free(l->files[i].path);
	free(l->files);
	free(l->platforms);
	for (i = 0; i < l->nreferrer_types; i++)
		free(l->referrer_types[i]);
	free(l->referrer_types);
	free(l->name);
	free(l->version);
	free(l->project);
	free(l);
}

int
lock_from_profile(const struct profile *p, const struct platform *platforms, size_t n,
                  struct lock **out, struct barge_err *err)
{
	struct lock *l = NULL;
	struct lock_image *im;
	const struct profile_image *pi;
	size_t i, k;
	int rc;

	if (n == 0) {
		platforms = p->platforms;
		n = p->nplatforms;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->name = strdup(p->name)) == NULL ||
	    (l->version = strdup(p->version)) == NULL ||
	    (l->project = strdup(p->project)) == NULL ||
	    (l->platforms = calloc(n, sizeof(*l->platforms))) == NULL ||
	    (l->files = calloc(p->nfiles, sizeof(*l->files))) == NULL ||
	    (l->images = calloc(p->nimages, sizeof(*l->images))) == NULL)
		goto nomem;
	memcpy(l->platforms, platforms, n * sizeof(*platforms));
	l->nplatforms = n;
	l->no_referrers = p->no_referrers;
	if ((l->referrer_types = calloc(p->nreferrer_types + 1, sizeof(char *))) == NULL)
		goto nomem;
	for (i = 0; i < p->nreferrer_types; i++) {
		if ((l->referrer_types[i] = strdup(p->referrer_types[i])) == NULL)
			goto nomem;
		l->nreferrer_types++;
	}
	for (i = 0; i < p->nfiles; i++) {
		if ((l->files[i].path = strdup(p->files[i].path)) == NULL)
			goto nomem;
		memcpy(l->files[i].sha256, p->files[i].sha256, sizeof(l->files[i].sha256));
		l->nfiles++;
	}
	for (i = 0; i < p->nimages; i++) {
		pi = &p->images[i];
		im = &l->images[l->nimages++];
		if ((im->source = strdup(pi->source)) == NULL ||
		    (pi->from != NULL && (im->from = strdup(pi->from)) == NULL) ||
		    (im->origins = calloc(pi->norigins, sizeof(*im->origins))) == NULL)
			goto nomem;
		/* A normalised reference parses again; only memory can fail here. */
		if ((rc = ref_parse(pi->source, &im->ref, err)) != BARGE_OK) {
			lock_free(l);
			return rc;
		}
		for (k = 0; k < pi->norigins; k++) {
			if ((im->origins[k].pack = strdup(pi->origins[k].pack)) == NULL ||
			    (im->origins[k].file = strdup(pi->origins[k].file)) == NULL) {
				free(im->origins[k].pack);
				goto nomem;
			}
			im->origins[k].line = pi->origins[k].line;
			im->origins[k].col = pi->origins[k].col;
			im->norigins++;
		}
	}
	*out = l;
	return BARGE_OK;
nomem:
	lock_free(l);
	return nomem(err);
}

/* A required string of at most LOCK_TEXT_MAX bytes without control characters. */
static int
get_str(const struct lctx *c, const json_t *obj, const char *at, const char *key, const char **out)
{
	char path[160];
	json_t *v = json_object_get(obj, key);
	const char *s;

	snprintf(path, sizeof(path), "%s%s%s", at, at[0] != '\0' ? "." : "", key);
	if (v == NULL)
		return bad(c, path, "missing");
	if (!json_is_string(v))
		return bad(c, path, "expected a string");
	s = json_string_value(v);
	if (s[0] == '\0' || json_string_length(v) > LOCK_TEXT_MAX ||
	    strlen(s) != json_string_length(v))
		return bad(c, path, "empty, too long or holding NUL");
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return bad(c, path, "holds a control character");
	*out = json_string_value(v);
	return BARGE_OK;
}

static int
get_size(const struct lctx *c, const json_t *obj, const char *at, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(obj, "size");
	char path[160];

	snprintf(path, sizeof(path), "%s.size", at);
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return bad(c, path, "expected an integer from 0 to %" PRId64, max);
	*out = json_integer_value(v);
	return BARGE_OK;
}

static int
get_digest(const struct lctx *c, const json_t *obj, const char *at, const char *key, char *out)
{
	struct barge_err derr;
	const char *s = NULL;
	char path[160];
	int rc;

	if ((rc = get_str(c, obj, at, key, &s)) != BARGE_OK)
		return rc;
	snprintf(path, sizeof(path), "%s.%s", at, key);
	if (digest_parse(s, NULL, NULL, &derr) != BARGE_OK)
		return bad(c, path, "%s", derr.msg);
	snprintf(out, DIGEST_STR_MAX, "%s", s);
	return BARGE_OK;
}

/* obj must be an object holding only the given keys. */
static int
only_keys(const struct lctx *c, const json_t *obj, const char *at, const char *const *keys)
{
	const char *key, *const *k;
	json_t *v;

	if (!json_is_object(obj))
		return bad(c, at[0] != '\0' ? at : "(top)", "expected an object");
	json_object_foreach((json_t *)obj, key, v)
	{
		for (k = keys; *k != NULL; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (*k == NULL)
			return bad(c, at[0] != '\0' ? at : "(top)", "unknown key \"%.100s\"", key);
	}
	return BARGE_OK;
}

static int
get_array(const struct lctx *c, const json_t *obj, const char *at, const char *key, size_t max,
          json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char path[160];

	snprintf(path, sizeof(path), "%s%s%s", at, at[0] != '\0' ? "." : "", key);
	if (!json_is_array(v))
		return bad(c, path, "expected an array");
	if (json_array_size(v) > max)
		return bad(c, path, "more than %zu entries", max);
	*out = v;
	return BARGE_OK;
}

/* An optional string field: *out stays NULL when the key is absent. */
static int
get_opt_str(const struct lctx *c, const json_t *obj, const char *at, const char *key, char **out)
{
	const char *s;
	int rc;

	if (json_object_get(obj, key) == NULL)
		return BARGE_OK;
	if ((rc = get_str(c, obj, at, key, &s)) != BARGE_OK)
		return rc;
	if ((*out = strdup(s)) == NULL)
		return nomem(c->err);
	return BARGE_OK;
}

/* images[i].referrers: absent in a lock without any. */
static int
parse_referrers(const struct lctx *c, const json_t *v, const char *at, struct lock_image *im)
{
	static const char *const rkeys[] = { "subject", "digest", "mediaType", "artifactType",
		                             "size",    "tag",    NULL };
	struct lock_referrer *r;
	const char *mt;
	char sub[96];
	json_t *arr, *e;
	size_t i;
	int rc;

	if (json_object_get(v, "referrers") == NULL)
		return BARGE_OK;
	if ((rc = get_array(c, v, at, "referrers", LOCK_REFS_MAX, &arr)) != BARGE_OK)
		return rc;
	if ((im->referrers = calloc(json_array_size(arr) + 1, sizeof(*im->referrers))) == NULL)
		return nomem(c->err);
	json_array_foreach(arr, i, e)
	{
		snprintf(sub, sizeof(sub), "%s.referrers[%zu]", at, i);
		r = &im->referrers[im->nreferrers++];
		if ((rc = only_keys(c, e, sub, rkeys)) != BARGE_OK ||
		    (rc = get_digest(c, e, sub, "subject", r->subject)) != BARGE_OK ||
		    (rc = get_digest(c, e, sub, "digest", r->digest)) != BARGE_OK ||
		    (rc = get_str(c, e, sub, "mediaType", &mt)) != BARGE_OK ||
		    (rc = get_size(c, e, sub, MANIFEST_MAX, &r->size)) != BARGE_OK ||
		    (rc = get_opt_str(c, e, sub, "artifactType", &r->artifact_type)) != BARGE_OK ||
		    (rc = get_opt_str(c, e, sub, "tag", &r->tag)) != BARGE_OK)
			return rc;
		if (!mt_is_manifest(mt) && !mt_is_index(mt))
			return bad(c, sub,
			           "mediaType \"%.200s\" is neither a manifest nor an index", mt);
		if (r->tag != NULL && !ref_valid_tag(r->tag))
			return bad(c, sub, "tag \"%.200s\" is not a valid tag", r->tag);
		if ((r->media_type = strdup(mt)) == NULL)
			return nomem(c->err);
	}
	return BARGE_OK;
}

static int
parse_image(const struct lctx *c, const json_t *v, size_t idx, struct lock_image *im, json_t *seen)
{
	static const char *const keys[] = { "source",    "from",      "digest",
		                            "mediaType", "size",      "manifests",
		                            "origins",   "referrers", NULL };
	static const char *const mkeys[] = { "platform", "digest", "size", NULL };
	static const char *const okeys[] = { "pack", "file", "line", "column", NULL };
	struct barge_err rerr;
	char at[64], sub[96];
	const char *s, *mt, *path;
	json_t *arr, *e, *line, *col;
	size_t i;
	int rc;

	snprintf(at, sizeof(at), "images[%zu]", idx);
	if ((rc = only_keys(c, v, at, keys)) != BARGE_OK ||
	    (rc = get_str(c, v, at, "source", &s)) != BARGE_OK)
		return rc;
	if (ref_parse(s, &im->ref, &rerr) != BARGE_OK)
		return bad(c, at, "source: %s", rerr.msg);
	if ((im->source = ref_string(im->ref)) == NULL)
		return nomem(c->err);
	if (strcmp(im->source, s) != 0)
		return bad(c, at, "source \"%.200s\" is not normalised (\"%.200s\")", s,
		           im->source);
	if (json_object_get(seen, s) != NULL)
		return bad(c, at, "source \"%.200s\" is listed twice", s);
	if (json_object_set_new(seen, s, json_true()) != 0)
		return nomem(c->err);
	if (json_object_get(v, "from") != NULL) {
		if ((rc = get_str(c, v, at, "from", &s)) != BARGE_OK)
			return rc;
		if (localsrc_split(s, &path, &rerr) != BARGE_OK)
			return bad(c, at, "from: %s", rerr.msg);
		if ((im->from = strdup(s)) == NULL)
			return nomem(c->err);
	}
	if ((rc = get_digest(c, v, at, "digest", im->digest)) != BARGE_OK ||
	    (rc = get_str(c, v, at, "mediaType", &mt)) != BARGE_OK ||
	    (rc = get_size(c, v, at, MANIFEST_MAX, &im->size)) != BARGE_OK)
		return rc;
	if (!mt_is_index(mt) && !mt_is_manifest(mt))
		return bad(c, at, "mediaType \"%.200s\" is neither a manifest nor an index", mt);
	if ((im->media_type = strdup(mt)) == NULL)
		return nomem(c->err);
	/* Only an index has per-platform manifests to keep. */
	if ((rc = get_array(c, v, at, "manifests", LOCK_INDEX_MAX, &arr)) != BARGE_OK)
		return rc;
	if (!mt_is_index(mt) && json_array_size(arr) > 0)
		return bad(c, at, "manifests: an image manifest keeps no platform manifests");
	if (mt_is_index(mt) && json_array_size(arr) == 0)
		return bad(c, at, "manifests: an index must keep at least one platform manifest");
	if ((im->manifests = calloc(json_array_size(arr) + 1, sizeof(*im->manifests))) == NULL)
		return nomem(c->err);
	json_array_foreach(arr, i, e)
	{
		snprintf(sub, sizeof(sub), "%s.manifests[%zu]", at, i);
		if ((rc = only_keys(c, e, sub, mkeys)) != BARGE_OK ||
		    (rc = get_str(c, e, sub, "platform", &s)) != BARGE_OK)
			return rc;
		if (platform_parse(s, &im->manifests[i].platform, &rerr) != BARGE_OK)
			return bad(c, sub, "platform: %s", rerr.msg);
		if ((rc = get_digest(c, e, sub, "digest", im->manifests[i].digest)) != BARGE_OK ||
		    (rc = get_size(c, e, sub, MANIFEST_MAX, &im->manifests[i].size)) != BARGE_OK)
			return rc;
		im->nmanifests++;
	}
	if ((rc = get_array(c, v, at, "origins", PROFILE_ORIGINS_MAX, &arr)) != BARGE_OK)
		return rc;
	if ((im->origins = calloc(json_array_size(arr) + 1, sizeof(*im->origins))) == NULL)
		return nomem(c->err);
	json_array_foreach(arr, i, e)
	{
		snprintf(sub, sizeof(sub), "%s.origins[%zu]", at, i);
		if ((rc = only_keys(c, e, sub, okeys)) != BARGE_OK ||
		    (rc = get_str(c, e, sub, "pack", &s)) != BARGE_OK)
			return rc;
		if ((im->origins[i].pack = strdup(s)) == NULL)
			return nomem(c->err);
		im->norigins++;
		if ((rc = get_str(c, e, sub, "file", &s)) != BARGE_OK)
			return rc;
		if ((im->origins[i].file = strdup(s)) == NULL)
			return nomem(c->err);
		line = json_object_get(e, "line");
		if (!json_is_integer(line) || json_integer_value(line) < 0 ||
		    json_integer_value(line) > INT32_MAX)
			return bad(c, sub, "line: expected a non-negative integer");
		im->origins[i].line = (int)json_integer_value(line);
		/* Locks written before columns were recorded have none: 0, unknown. */
		col = json_object_get(e, "column");
		if (col != NULL && (!json_is_integer(col) || json_integer_value(col) < 1 ||
		                    json_integer_value(col) > INT32_MAX))
			return bad(c, sub, "column: expected a positive integer");
		im->origins[i].col = col != NULL ? (int)json_integer_value(col) : 0;
	}
	return parse_referrers(c, v, at, im);
}

/*
 * The profile's referrer settings the lock was resolved with: "referrers":
 * false when off, "referrerTypes" when filtered; absent, the defaults (on,
 * every type), so that locks written before they were recorded still load.
 */
static int
parse_referrer_settings(const struct lctx *c, const json_t *root, struct lock *l)
{
	json_t *v, *arr, *e;
	char at[48];
	size_t i;
	int rc;

	v = json_object_get(root, "referrers");
	if (v != NULL && !json_is_false(v))
		return bad(c, "referrers", "expected false (left out when true)");
	l->no_referrers = v != NULL;
	if (json_object_get(root, "referrerTypes") == NULL)
		return BARGE_OK;
	if ((rc = get_array(c, root, "", "referrerTypes", PROFILE_REFTYPES_MAX, &arr)) != BARGE_OK)
		return rc;
	if (json_array_size(arr) == 0)
		return bad(c, "referrerTypes", "empty (left out when every type is kept)");
	if ((l->referrer_types = calloc(json_array_size(arr), sizeof(char *))) == NULL)
		return nomem(c->err);
	json_array_foreach(arr, i, e)
	{
		snprintf(at, sizeof(at), "referrerTypes[%zu]", i);
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    json_string_length(e) > LOCK_TEXT_MAX)
			return bad(c, at, "expected a media type");
		if ((l->referrer_types[i] = strdup(json_string_value(e))) == NULL)
			return nomem(c->err);
		l->nreferrer_types++;
	}
	return BARGE_OK;
}

static int
parse_root(const struct lctx *c, const json_t *root, struct lock *l)
{
	static const char *const keys[] = { "lockVersion", "name",      "version",       "project",
		                            "platforms",   "referrers", "referrerTypes", "files",
		                            "images",      NULL };
	static const char *const fkeys[] = { "path", "sha256", NULL };
	struct barge_err perr_detail;
	json_t *v, *arr, *e, *seen = NULL;
	const char *s;
	char at[64];
	size_t i;
	int rc;

	if ((rc = only_keys(c, root, "", keys)) != BARGE_OK)
		return rc;
	v = json_object_get(root, "lockVersion");
	if (!json_is_integer(v) || json_integer_value(v) != LOCK_VERSION)
		return bad(c, "lockVersion", "unsupported (want %d)", LOCK_VERSION);
	if ((rc = get_str(c, root, "", "name", &s)) != BARGE_OK)
		return rc;
	if ((l->name = strdup(s)) == NULL)
		return nomem(c->err);
	if ((rc = get_str(c, root, "", "version", &s)) != BARGE_OK)
		return rc;
	if ((l->version = strdup(s)) == NULL)
		return nomem(c->err);
	if ((rc = get_str(c, root, "", "project", &s)) != BARGE_OK)
		return rc;
	if (strchr(s, '/') != NULL || !ref_valid_repo(s))
		return bad(c, "project", "\"%.200s\" is not a valid repository component", s);
	if ((l->project = strdup(s)) == NULL)
		return nomem(c->err);
	if ((rc = get_array(c, root, "", "platforms", PROFILE_PLATFORM_MAX, &arr)) != BARGE_OK)
		return rc;
	if (json_array_size(arr) == 0)
		return bad(c, "platforms", "empty");
	if ((l->platforms = calloc(json_array_size(arr), sizeof(*l->platforms))) == NULL)
		return nomem(c->err);
	json_array_foreach(arr, i, e)
	{
		snprintf(at, sizeof(at), "platforms[%zu]", i);
		if (!json_is_string(e) || platform_parse(json_string_value(e), &l->platforms[i],
		                                         &perr_detail) != BARGE_OK)
			return bad(c, at, "expected a platform \"os/arch[/variant]\"");
		l->nplatforms++;
	}
	if ((rc = parse_referrer_settings(c, root, l)) != BARGE_OK)
		return rc;
	if ((rc = get_array(c, root, "", "files", PROFILE_FILES_MAX, &arr)) != BARGE_OK)
		return rc;
	if ((l->files = calloc(json_array_size(arr) + 1, sizeof(*l->files))) == NULL)
		return nomem(c->err);
	json_array_foreach(arr, i, e)
	{
		snprintf(at, sizeof(at), "files[%zu]", i);
		if ((rc = only_keys(c, e, at, fkeys)) != BARGE_OK ||
		    (rc = get_str(c, e, at, "path", &s)) != BARGE_OK)
			return rc;
		if ((l->files[i].path = strdup(s)) == NULL)
			return nomem(c->err);
		l->nfiles++;
		if ((rc = get_digest(c, e, at, "sha256", l->files[i].sha256)) != BARGE_OK)
			return rc;
	}
	if ((rc = get_array(c, root, "", "images", PROFILE_IMAGES_MAX, &arr)) != BARGE_OK)
		return rc;
	if (json_array_size(arr) == 0)
		return bad(c, "images", "empty");
	if ((l->images = calloc(json_array_size(arr), sizeof(*l->images))) == NULL ||
	    (seen = json_object()) == NULL)
		return nomem(c->err);
	json_array_foreach(arr, i, e)
	{
		l->nimages++;
		if ((rc = parse_image(c, e, i, &l->images[i], seen)) != BARGE_OK)
			break;
	}
	json_decref(seen);
	return rc;
}

int
lock_parse(const char *name, const char *buf, size_t len, struct lock **out, struct barge_err *err)
{
	struct lctx c = { .name = name, .err = err };
	struct lock *l = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	int rc;

	if (len > LOCK_FILE_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: larger than %d bytes", name, LOCK_FILE_MAX);
	if ((root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return err_set(err, BARGE_EFORMAT, "%s:%d:%d: %s", name, jerr.line, jerr.column,
		               jerr.text);
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		rc = nomem(err);
		goto out;
	}
	if ((rc = parse_root(&c, root, l)) != BARGE_OK)
		goto out;
	*out = l;
	l = NULL;
out:
	lock_free(l);
	json_decref(root);
	return rc;
}

int
lock_load(const char *path, struct lock **out, struct barge_err *err)
{
	char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = fu_read_file(path, LOCK_FILE_MAX, &buf, &len, err)) != BARGE_OK)
		return rc;
	rc = lock_parse(path, buf, len, out, err);
	free(buf);
	return rc;
}

/* Appends v to arr, taking its reference; fails on NULL or ENOMEM. */
static int
push(json_t *arr, json_t *v, struct barge_err *err)
{
	if (v == NULL || json_array_append_new(arr, v) != 0)
		return nomem(err);
	return BARGE_OK;
}

/* Adds "referrers" to o, the image's JSON (only called when it has some). */
static int
referrers_json(const struct lock_image *im, json_t *o)
{
	const struct lock_referrer *r;
	json_t *arr, *e;
	size_t i;

	if ((arr = json_array()) == NULL || json_object_set_new(o, "referrers", arr) != 0)
		return BARGE_ENOMEM;
	for (i = 0; i < im->nreferrers; i++) {
		r = &im->referrers[i];
		e = json_pack("{s:s,s:s,s:s,s:s*,s:I,s:s*}", "subject", r->subject, "digest",
		              r->digest, "mediaType", r->media_type, "artifactType",
		              r->artifact_type, "size", (json_int_t)r->size, "tag", r->tag);
		if (push(arr, e, NULL) != BARGE_OK)
			return BARGE_ENOMEM;
	}
	return BARGE_OK;
}

static json_t *
image_json(const struct lock_image *im)
{
	char plat[3 * PLATFORM_FIELD_MAX];
	json_t *o, *mans, *origins, *org;
	size_t i;

	mans = json_array();
	origins = json_array();
	o = json_pack("{s:s,s:s*,s:s,s:s,s:I,s:o*,s:o*}", "source", im->source, "from", im->from,
	              "digest", im->digest, "mediaType",
	              im->media_type != NULL ? im->media_type : "", "size", (json_int_t)im->size,
	              "manifests", mans, "origins", origins);
	if (o == NULL || mans == NULL || origins == NULL)
		goto fail;
	for (i = 0; i < im->nmanifests; i++) {
		platform_format(&im->manifests[i].platform, plat, sizeof(plat));
		if (push(mans,
		         json_pack("{s:s,s:s,s:I}", "platform", plat, "digest",
		                   im->manifests[i].digest, "size",
		                   (json_int_t)im->manifests[i].size),
		         NULL) != BARGE_OK)
			goto fail;
	}
	for (i = 0; i < im->norigins; i++) {
		/* An unknown column (an older lock's) is left out, so that lock keeps its bytes. */
		org = json_pack("{s:s,s:s,s:i}", "pack", im->origins[i].pack, "file",
		                im->origins[i].file, "line", im->origins[i].line);
		if (org != NULL && im->origins[i].col > 0 &&
		    json_object_set_new(org, "column", json_integer(im->origins[i].col)) != 0) {
			json_decref(org);
			goto fail;
		}
		if (push(origins, org, NULL) != BARGE_OK)
			goto fail;
	}
	if (im->nreferrers > 0 && referrers_json(im, o) != BARGE_OK)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Adds the referrer settings to root when they are not the defaults (parse_referrer_settings). */
static int
referrer_settings_json(const struct lock *l, json_t *root)
{
	json_t *arr;
	size_t i;

	if (l->no_referrers && json_object_set_new(root, "referrers", json_false()) != 0)
		return BARGE_ENOMEM;
	if (l->nreferrer_types == 0)
		return BARGE_OK;
	if ((arr = json_array()) == NULL || json_object_set_new(root, "referrerTypes", arr) != 0)
		return BARGE_ENOMEM;
	for (i = 0; i < l->nreferrer_types; i++)
		if (push(arr, json_string(l->referrer_types[i]), NULL) != BARGE_OK)
			return BARGE_ENOMEM;
	return BARGE_OK;
}

int
lock_dump(const struct lock *l, char **out, size_t *len, struct barge_err *err)
{
	char plat[3 * PLATFORM_FIELD_MAX], *text = NULL, *grown;
	json_t *root, *plats, *files, *images;
	size_t i, n;
	int rc;

	plats = json_array();
	files = json_array();
	images = json_array();
	root = json_pack("{s:i,s:s,s:s,s:s,s:o*}", "lockVersion", LOCK_VERSION, "name", l->name,
	                 "version", l->version, "project", l->project, "platforms", plats);
	if (root == NULL || plats == NULL || files == NULL || images == NULL ||
	    referrer_settings_json(l, root) != BARGE_OK ||
	    json_object_set(root, "files", files) != 0 ||
	    json_object_set(root, "images", images) != 0) {
		rc = nomem(err);
		goto out;
	}
	for (i = 0; i < l->nplatforms; i++) {
		platform_format(&l->platforms[i], plat, sizeof(plat));
		if ((rc = push(plats, json_string(plat), err)) != BARGE_OK)
			goto out;
	}
	for (i = 0; i < l->nfiles; i++)
		if ((rc = push(files,
		               json_pack("{s:s,s:s}", "path", l->files[i].path, "sha256",
		                         l->files[i].sha256),
		               err)) != BARGE_OK)
			goto out;
	for (i = 0; i < l->nimages; i++)
		if ((rc = push(images, image_json(&l->images[i]), err)) != BARGE_OK)
			goto out;
	if ((text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	n = strlen(text);
	if ((grown = realloc(text, n + 2)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	text = grown;
	text[n++] = '\n';
	text[n] = '\0';
	*out = text;
	*len = n;
	text = NULL;
	rc = BARGE_OK;
out:
	free(text);
	json_decref(root);
	json_decref(files);
	json_decref(images);
	return rc;
}

int
lock_write(const struct lock *l, const char *path, struct barge_err *err)
{
	char *text = NULL;
	size_t len;
	int rc;

	if ((rc = lock_dump(l, &text, &len, err)) != BARGE_OK)
		return rc;
	rc = fu_write_atomic(path, text, len, 0644, err);
	free(text);
	return rc;
}

/* Appends ", name" to list (bounded), counting what did not fit. */
static void
list_add(char *list, size_t size, const char *name, size_t *more)
{
	size_t n = strlen(list);

	if (n + strlen(name) + 3 >= size) {
		(*more)++;
		return;
	}
	snprintf(list + n, size - n, "%s%s", n > 0 ? ", " : "", name);
}

/* Whether type t is one of the n in list. */
static int
has_type(char *const *list, size_t n, const char *t)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], t) == 0)
			return 1;
	return 0;
}

/* The referrer types as "[a, b]" for messages, "every type" when none (bounded). */
static void
types_text(char *const *list, size_t n, char *buf, size_t size)
{
	size_t i, more = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		list_add(buf, size - 1, list[i], &more);
	if (n == 0)
		snprintf(buf, size, "every type");
	else if (more > 0 && strlen(buf) + 5 < size)
		strcat(buf, ", ...");
}

/* Whether the lock was resolved with the referrer settings p has now. */
static int
referrers_match(const struct lock *l, const struct profile *p, struct barge_err *err)
{
	char inlock[300], inprof[300];
	size_t i;

	if (l->no_referrers != p->no_referrers)
		return err_set(err, BARGE_EINVAL,
		               "the lock was resolved with referrers %s, and the profile now says "
		               "\"referrers: %s\" (resolve again to update the lock)",
		               l->no_referrers ? "off" : "on", p->no_referrers ? "false" : "true");
	if (l->no_referrers)
		return BARGE_OK;
	for (i = 0; i < p->nreferrer_types; i++)
		if (!has_type(l->referrer_types, l->nreferrer_types, p->referrer_types[i]))
			break;
	if (i == p->nreferrer_types && l->nreferrer_types == p->nreferrer_types)
		return BARGE_OK;
	types_text(l->referrer_types, l->nreferrer_types, inlock, sizeof(inlock));
	types_text(p->referrer_types, p->nreferrer_types, inprof, sizeof(inprof));
	return err_set(err, BARGE_EINVAL,
	               "the lock keeps referrers of %s, and the profile's referrer_types now say "
	               "%s (resolve again to update the lock)",
	               inlock, inprof);
}

int
lock_matches_profile(const struct lock *l, const struct profile *p, struct barge_err *err)
{
	char missing[400] = "", extra[400] = "";
	size_t i, more_missing = 0, more_extra = 0;
	json_t *inlock = NULL, *inprof = NULL, *at;
	const char *from;
	int rc;

	if ((rc = referrers_match(l, p, err)) != BARGE_OK)
		return rc;
	if ((inlock = json_object()) == NULL || (inprof = json_object()) == NULL) {
		rc = nomem(err);
		goto out;
	}
	for (i = 0; i < l->nimages; i++)
		if (json_object_set_new(inlock, l->images[i].source, json_integer((json_int_t)i)) !=
		    0) {
			rc = nomem(err);
			goto out;
		}
	for (i = 0; i < p->nimages; i++) {
		if (json_object_set_new(inprof, p->images[i].source, json_true()) != 0) {
			rc = nomem(err);
			goto out;
		}
		if ((at = json_object_get(inlock, p->images[i].source)) == NULL) {
			list_add(missing, sizeof(missing), p->images[i].source, &more_missing);
			continue;
		}
		from = l->images[json_integer_value(at)].from;
		if ((from == NULL) != (p->images[i].from == NULL) ||
		    (from != NULL && strcmp(from, p->images[i].from) != 0)) {
			rc = err_set(err, BARGE_EINVAL,
			             "%s comes from %s in the profile but from %s in the lock "
			             "(resolve again to update the lock)",
			             p->images[i].source,
			             p->images[i].from != NULL ? p->images[i].from : "its registry",
			             from != NULL ? from : "its registry");
			goto out;
		}
	}
	for (i = 0; i < l->nimages; i++)
		if (json_object_get(inprof, l->images[i].source) == NULL)
			list_add(extra, sizeof(extra), l->images[i].source, &more_extra);
	if (missing[0] == '\0' && extra[0] == '\0') {
		rc = BARGE_OK;
		goto out;
	}
	rc = err_set(err, BARGE_EINVAL,
	             "the profile and the lock name different images:%s%s%s%s%s%s (resolve "
	             "again to update the lock)",
	             missing[0] != '\0' ? " not in the lock: " : "", missing,
	             more_missing > 0 ? " and more" : "",
	             extra[0] != '\0' ? "; only in the lock: " : "", extra,
	             more_extra > 0 ? " and more" : "");
out:
	json_decref(inlock);
	json_decref(inprof);
	return rc;
}
