/*
 * bundle_meta: parsing and validating barge.json (see bundle_meta.h).  The
 * struct bundle_meta it returns owns every string and array in it.
 */
#include "bundle_meta.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "mediatype.h"
#include "platform.h"
#include "ref.h"

/* Free-form strings (name, version, builder) are bounded too. */
#define TEXT_MAX  256
#define QUOTE_MAX 200 /* how much of a bad value a message quotes */

/* Validation state: the document name for messages and where the error goes. */
struct ctx {
	const char *name;
	struct barge_err *err;
};

/* Sets "name: path: message"; path is a JSON path like "images[3].tags[0]". */
static int bad(struct ctx *c, int code, const char *path, const char *fmt, ...) BARGE_PRINTF(4, 5);

static int
bad(struct ctx *c, int code, const char *path, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(c->err, code, "%s: %s: %s", c->name, path, msg);
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/*
 * A required, non-empty string member without control characters, returned
 * borrowed in *out.  Control characters are refused so that every value can
 * be quoted in a message or a log line as it is.
 */
static int
get_str(struct ctx *c, json_t *obj, const char *at, const char *key, const char **out)
{
	char path[128];
	json_t *v;
	const char *s;

	snprintf(path, sizeof(path), "%s%s", at, key);
	if ((v = json_object_get(obj, key)) == NULL)
		return bad(c, BARGE_EFORMAT, path, "missing");
	if (!json_is_string(v))
		return bad(c, BARGE_EFORMAT, path, "must be a string");
	s = json_string_value(v);
	if (s[0] == '\0')
		return bad(c, BARGE_EFORMAT, path, "must not be empty");
	if (has_control(s))
		return bad(c, BARGE_EFORMAT, path, "control character in value");
	*out = s;
	return BARGE_OK;
}

static int
dup_str(struct ctx *c, const char *s, char **out)
{
	if ((*out = strdup(s)) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

/* A free-form string (name, version, builder) bounded by TEXT_MAX. */
static int
get_text(struct ctx *c, json_t *obj, const char *key, char **out)
{
	const char *s;
	int rc;

	if ((rc = get_str(c, obj, "", key, &s)) != BARGE_OK)
		return rc;
	if (strlen(s) > TEXT_MAX)
		return bad(c, BARGE_EFORMAT, key, "longer than %d bytes", TEXT_MAX);
	return dup_str(c, s, out);
}

/* An array member with at most max elements; *n is its size. */
static int
get_array(struct ctx *c, json_t *obj, const char *at, const char *key, size_t max, json_t **out)
{
	char path[128];
	json_t *v;

	snprintf(path, sizeof(path), "%s%s", at, key);
	if ((v = json_object_get(obj, key)) == NULL)
		return bad(c, BARGE_EFORMAT, path, "missing");
	if (!json_is_array(v))
		return bad(c, BARGE_EFORMAT, path, "must be an array");
	if (json_array_size(v) > max)
		return bad(c, BARGE_ELIMIT, path, "more than %zu entries", max);
	*out = v;
	return BARGE_OK;
}

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* RFC 3339 in UTC: "YYYY-MM-DDTHH:MM:SS[.frac]Z". */
static int
valid_time(const char *s)
{
	size_t n = strlen(s);

	if (n < 20 || s[n - 1] != 'Z' || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) ||
	    s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return 0;
	if (n > 20 && (s[19] != '.' || n == 21 || !digits(s + 20, n - 21)))
		return 0;
	return atoi(s + 5) >= 1 && atoi(s + 5) <= 12 && atoi(s + 8) >= 1 && atoi(s + 8) <= 31 &&
	       atoi(s + 11) <= 23 && atoi(s + 14) <= 59 && atoi(s + 17) <= 60;
}

static int
parse_platforms(struct ctx *c, json_t *root, struct bundle_meta *m)
{
	struct barge_err perr;
	struct platform p;
	char path[64];
	json_t *arr, *v;
	size_t i;
	int rc;

	if ((rc = get_array(c, root, "", "platforms", BUNDLE_META_PLATFORMS_MAX, &arr)) != BARGE_OK)
		return rc;
	if (json_array_size(arr) == 0)
		return bad(c, BARGE_EFORMAT, "platforms", "must not be empty");
	if ((m->platforms = calloc(json_array_size(arr), sizeof(*m->platforms))) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(arr, i, v)
	{
		snprintf(path, sizeof(path), "platforms[%zu]", i);
		if (!json_is_string(v))
			return bad(c, BARGE_EFORMAT, path, "must be a string");
		if (platform_parse(json_string_value(v), &p, &perr) != BARGE_OK)
			return bad(c, BARGE_EFORMAT, path, "%s", perr.msg);
		if ((rc = dup_str(c, json_string_value(v), &m->platforms[i])) != BARGE_OK)
			return rc;
		m->nplatforms++;
	}
	return BARGE_OK;
}

static const char *
quoted(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s);

	if (n < cap) {
		memcpy(buf, s, n + 1);
	} else {
		memcpy(buf, s, cap - 4);
		memcpy(buf + cap - 4, "...", 4);
	}
	return buf;
}

/* A {digest, size} list: blobs or requires. */
static int
parse_blobs(struct ctx *c, json_t *root, const char *key, struct bundle_blob **out, size_t *nout)
{
	char path[64], q[QUOTE_MAX];
	json_t *arr, *v, *d, *sz;
	const char *ds;
	size_t i, n;
	int rc;

	if ((rc = get_array(c, root, "", key, BUNDLE_META_BLOBS_MAX, &arr)) != BARGE_OK)
		return rc;
	n = json_array_size(arr);
	if (n > 0 && (*out = calloc(n, sizeof(**out))) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(arr, i, v)
	{
		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		if (!json_is_object(v))
			return bad(c, BARGE_EFORMAT, path, "must be an object");
		snprintf(path, sizeof(path), "%s[%zu].digest", key, i);
		if ((d = json_object_get(v, "digest")) == NULL)
			return bad(c, BARGE_EFORMAT, path, "missing");
		if ((ds = json_string_value(d)) == NULL)
			return bad(c, BARGE_EFORMAT, path, "must be a string");
		if (!digest_valid(ds))
			return bad(c, BARGE_EFORMAT, path, "invalid digest \"%s\"",
			           quoted(ds, q, sizeof(q)));
		snprintf(path, sizeof(path), "%s[%zu].size", key, i);
		if ((sz = json_object_get(v, "size")) == NULL)
			return bad(c, BARGE_EFORMAT, path, "missing");
		if (!json_is_integer(sz))
			return bad(c, BARGE_EFORMAT, path, "must be an integer");
		if (json_integer_value(sz) < 0)
			return bad(c, BARGE_EFORMAT, path, "negative size %" JSON_INTEGER_FORMAT,
			           json_integer_value(sz));
		/* digest_valid bounds the length below DIGEST_STR_MAX. */
		memcpy((*out)[i].digest, ds, strlen(ds) + 1);
		(*out)[i].size = json_integer_value(sz);
		*nout = i + 1;
	}
	return BARGE_OK;
}

/* Orders pointers into one blob list by digest, then by position in the list. */
static int
by_digest(const void *a, const void *b)
{
	const struct bundle_blob *x = *(const struct bundle_blob *const *)a;
	const struct bundle_blob *y = *(const struct bundle_blob *const *)b;
	int d = strcmp(x->digest, y->digest);

	if (d != 0)
		return d;
	return x < y ? -1 : x > y;
}

/*
 * Sorts pointers to a blob list's entries by digest into *order (caller
 * frees) and fails on the first digest listed twice.
 */
static int
sort_blobs(struct ctx *c, const char *key, const struct bundle_blob *b, size_t n,
           const struct bundle_blob ***order)
{
	const struct bundle_blob **o;
	char path[64];
	size_t i;

	*order = NULL;
	if ((o = calloc(n > 0 ? n : 1, sizeof(*o))) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		o[i] = &b[i];
	qsort(o, n, sizeof(*o), by_digest);
	*order = o;
	for (i = 1; i < n; i++) {
		if (strcmp(o[i]->digest, o[i - 1]->digest) == 0) {
			snprintf(path, sizeof(path), "%s[%zu].digest", key, (size_t)(o[i] - b));
			return bad(c, BARGE_EFORMAT, path, "%s listed twice (also %s[%zu])",
			           o[i]->digest, key, (size_t)(o[i - 1] - b));
		}
	}
	return BARGE_OK;
}

/* Whether digest is in the sorted list. */
static int
listed(const struct bundle_blob *const *order, size_t n, const char *digest)
{
	size_t lo = 0, hi = n, mid;
	int d;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		d = strcmp(order[mid]->digest, digest);
		if (d == 0)
			return 1;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* at + "repository": a valid repository under project, copied into *out. */
static int
get_repo(struct ctx *c, json_t *v, const char *at, const char *project, char **out)
{
	char path[96], q[QUOTE_MAX];
	const char *s;
	size_t plen;
	int rc;

	if ((rc = get_str(c, v, at, "repository", &s)) != BARGE_OK)
		return rc;
	snprintf(path, sizeof(path), "%srepository", at);
	if (!ref_valid_repo(s))
		return bad(c, BARGE_EFORMAT, path, "invalid repository \"%s\"",
		           quoted(s, q, sizeof(q)));
	/* Repositories on the device are "<project>/<source host>/<source path>". */
	plen = strlen(project);
	if (strncmp(s, project, plen) != 0 || s[plen] != '/')
		return bad(c, BARGE_EFORMAT, path, "repository \"%s\" is not under project \"%s\"",
		           quoted(s, q, sizeof(q)), project);
	return dup_str(c, s, out);
}

/* at + key: a valid digest, copied into out (DIGEST_STR_MAX bytes). */
static int
get_digest(struct ctx *c, json_t *v, const char *at, const char *key, char *out)
{
	char path[96], q[QUOTE_MAX];
	const char *s;
	int rc;

	if ((rc = get_str(c, v, at, key, &s)) != BARGE_OK)
		return rc;
	snprintf(path, sizeof(path), "%s%s", at, key);
	if (!digest_valid(s) || strlen(s) >= DIGEST_STR_MAX)
		return bad(c, BARGE_EFORMAT, path, "invalid digest \"%s\"",
		           quoted(s, q, sizeof(q)));
	snprintf(out, DIGEST_STR_MAX, "%s", s);
	return BARGE_OK;
}

/* at + "tags": valid tags, copied into *out. */
static int
get_tags(struct ctx *c, json_t *v, const char *at, char ***out, size_t *n)
{
	char path[96], q[QUOTE_MAX];
	json_t *tags, *t;
	size_t i;
	int rc;

	if ((rc = get_array(c, v, at, "tags", BUNDLE_META_TAGS_MAX, &tags)) != BARGE_OK)
		return rc;
	if (json_array_size(tags) > 0 &&
	    (*out = calloc(json_array_size(tags), sizeof(**out))) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(tags, i, t)
	{
		snprintf(path, sizeof(path), "%stags[%zu]", at, i);
		if (!json_is_string(t))
			return bad(c, BARGE_EFORMAT, path, "must be a string");
		if (!ref_valid_tag(json_string_value(t)))
			return bad(c, BARGE_EFORMAT, path, "invalid tag \"%s\"",
			           quoted(json_string_value(t), q, sizeof(q)));
		if ((rc = dup_str(c, json_string_value(t), &(*out)[i])) != BARGE_OK)
			return rc;
		(*n)++;
	}
	return BARGE_OK;
}

static int
parse_referrer(struct ctx *c, json_t *v, size_t idx, const char *project, struct bundle_referrer *r)
{
	char at[48], path[96], q[QUOTE_MAX];
	const char *s;
	int rc;

	snprintf(at, sizeof(at), "referrers[%zu]", idx);
	if (!json_is_object(v))
		return bad(c, BARGE_EFORMAT, at, "must be an object");
	snprintf(at, sizeof(at), "referrers[%zu].", idx);
	if ((rc = get_repo(c, v, at, project, &r->repository)) != BARGE_OK ||
	    (rc = get_digest(c, v, at, "subject", r->subject)) != BARGE_OK ||
	    (rc = get_digest(c, v, at, "digest", r->digest)) != BARGE_OK ||
	    (rc = get_str(c, v, at, "mediaType", &s)) != BARGE_OK)
		return rc;
	snprintf(path, sizeof(path), "%smediaType", at);
	if (!mt_is_manifest(s) && !mt_is_index(s))
		return bad(c, BARGE_EFORMAT, path,
		           "\"%s\" is neither an image manifest nor an index media type",
		           quoted(s, q, sizeof(q)));
	if ((rc = dup_str(c, s, &r->media_type)) != BARGE_OK)
		return rc;
	if (json_object_get(v, "artifactType") != NULL &&
	    ((rc = get_str(c, v, at, "artifactType", &s)) != BARGE_OK ||
	     (rc = dup_str(c, s, &r->artifact_type)) != BARGE_OK))
		return rc;
	return get_tags(c, v, at, &r->tags, &r->ntags);
}

/* "referrers", when present; each must be carried or required. */
static int
parse_referrers(struct ctx *c, json_t *root, struct bundle_meta *m,
                const struct bundle_blob *const *border, const struct bundle_blob *const *rorder)
{
	char path[64];
	json_t *list, *v;
	size_t i;
	int rc;

	if (json_object_get(root, "referrers") == NULL)
		return BARGE_OK;
	if ((rc = get_array(c, root, "", "referrers", BUNDLE_META_REFERRERS_MAX, &list)) !=
	    BARGE_OK)
		return rc;
	if (json_array_size(list) > 0 &&
	    (m->referrers = calloc(json_array_size(list), sizeof(*m->referrers))) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(list, i, v)
	{
		m->nreferrers++;
		if ((rc = parse_referrer(c, v, i, m->project, &m->referrers[i])) != BARGE_OK)
			return rc;
		if (!listed(border, m->nblobs, m->referrers[i].digest) &&
		    !listed(rorder, m->nrequires, m->referrers[i].digest)) {
			snprintf(path, sizeof(path), "referrers[%zu].digest", i);
			return bad(c, BARGE_EFORMAT, path, "%s is in neither blobs nor requires",
			           m->referrers[i].digest);
		}
	}
	return BARGE_OK;
}

static int
parse_image(struct ctx *c, json_t *v, size_t idx, const char *project, struct bundle_image *im)
{
	char at[48], path[96], q[QUOTE_MAX];
	const char *s;
	struct ref *ref = NULL;
	struct barge_err rerr;
	int rc;

	snprintf(at, sizeof(at), "images[%zu]", idx);
	if (!json_is_object(v))
		return bad(c, BARGE_EFORMAT, at, "must be an object");
	snprintf(at, sizeof(at), "images[%zu].", idx);

	if ((rc = get_repo(c, v, at, project, &im->repository)) != BARGE_OK)
		return rc;

	if ((rc = get_str(c, v, at, "source", &s)) != BARGE_OK)
		return rc;
	snprintf(path, sizeof(path), "%ssource", at);
	if (ref_parse(s, &ref, &rerr) != BARGE_OK)
		return bad(c, BARGE_EFORMAT, path, "%s", rerr.msg);
	ref_free(ref);
	if ((rc = dup_str(c, s, &im->source)) != BARGE_OK)
		return rc;

	if ((rc = get_str(c, v, at, "digest", &s)) != BARGE_OK)
		return rc;
	snprintf(path, sizeof(path), "%sdigest", at);
	if (!digest_valid(s))
		return bad(c, BARGE_EFORMAT, path, "invalid digest \"%s\"",
		           quoted(s, q, sizeof(q)));
	if ((rc = dup_str(c, s, &im->digest)) != BARGE_OK)
		return rc;

	if ((rc = get_str(c, v, at, "mediaType", &s)) != BARGE_OK)
		return rc;
	snprintf(path, sizeof(path), "%smediaType", at);
	if (!mt_is_index(s) && !mt_is_manifest(s))
		return bad(c, BARGE_EFORMAT, path, "\"%s\" is not a manifest or index media type",
		           quoted(s, q, sizeof(q)));
	if ((rc = dup_str(c, s, &im->media_type)) != BARGE_OK)
		return rc;
	return get_tags(c, v, at, &im->tags, &im->ntags);
}

/* A tag of a repository, for finding a tag that two images both claim. */
struct tagref {
	const char *repo;
	const char *tag;
	const char *digest;
	size_t image;
	size_t index;
};

static int
by_repo_tag(const void *a, const void *b)
{
	const struct tagref *x = a, *y = b;
	int d;

	if ((d = strcmp(x->repo, y->repo)) != 0)
		return d;
	if ((d = strcmp(x->tag, y->tag)) != 0)
		return d;
	if (x->image != y->image)
		return x->image < y->image ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* A repository's tag may point at one manifest only (naming it twice is harmless). */
static int
check_tags_unique(struct ctx *c, const struct bundle_meta *m)
{
	struct tagref *t = NULL;
	size_t i, j, n = 0;
	char path[96];
	int rc = BARGE_OK;

	for (i = 0; i < m->nimages; i++)
		n += m->images[i].ntags;
	if (n < 2)
		return BARGE_OK;
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	n = 0;
	for (i = 0; i < m->nimages; i++) {
		for (j = 0; j < m->images[i].ntags; j++) {
			t[n].repo = m->images[i].repository;
			t[n].tag = m->images[i].tags[j];
			t[n].digest = m->images[i].digest;
			t[n].image = i;
			t[n].index = j;
			n++;
		}
	}
	qsort(t, n, sizeof(*t), by_repo_tag);
	for (i = 1; i < n; i++) {
		if (strcmp(t[i].repo, t[i - 1].repo) == 0 && strcmp(t[i].tag, t[i - 1].tag) == 0 &&
		    strcmp(t[i].digest, t[i - 1].digest) != 0) {
			snprintf(path, sizeof(path), "images[%zu].tags[%zu]", t[i].image,
			         t[i].index);
			rc = bad(c, BARGE_EFORMAT, path,
			         "tag \"%s\" of %s also names another digest (images[%zu])",
			         t[i].tag, t[i].repo, t[i - 1].image);
			break;
		}
	}
	free(t);
	return rc;
}

static int
parse_meta(struct ctx *c, json_t *root, struct bundle_meta *m)
{
	const struct bundle_blob **border = NULL, **rorder = NULL;
	size_t i;
	json_t *sv, *images, *v;
	char path[64], q[QUOTE_MAX];
	const char *s;
	int rc;

	if (!json_is_object(root))
		return err_set(c->err, BARGE_EFORMAT, "%s: not a JSON object", c->name);
	if ((sv = json_object_get(root, "schemaVersion")) == NULL)
		return bad(c, BARGE_EFORMAT, "schemaVersion", "missing");
	if (!json_is_integer(sv))
		return bad(c, BARGE_EFORMAT, "schemaVersion", "must be an integer");
	if (json_integer_value(sv) != 1)
		return bad(c, BARGE_EFORMAT, "schemaVersion",
		           "unsupported schemaVersion %" JSON_INTEGER_FORMAT
		           " (this barge reads 1)",
		           json_integer_value(sv));

	if ((rc = get_text(c, root, "name", &m->name)) != BARGE_OK ||
	    (rc = get_text(c, root, "version", &m->version)) != BARGE_OK ||
	    (rc = get_text(c, root, "builder", &m->builder)) != BARGE_OK)
		return rc;
	if (strchr(m->name, '/') != NULL)
		return bad(c, BARGE_EFORMAT, "name", "\"/\" in \"%s\"", m->name);
	if (strchr(m->version, '/') != NULL)
		return bad(c, BARGE_EFORMAT, "version", "\"/\" in \"%s\"", m->version);

	if ((rc = get_str(c, root, "", "created", &s)) != BARGE_OK)
		return rc;
	if (!valid_time(s))
		return bad(c, BARGE_EFORMAT, "created",
		           "\"%s\" is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)",
		           quoted(s, q, sizeof(q)));
	if ((rc = dup_str(c, s, &m->created)) != BARGE_OK)
		return rc;

	if ((rc = get_str(c, root, "", "project", &s)) != BARGE_OK)
		return rc;
	if (strchr(s, '/') != NULL || !ref_valid_repo(s))
		return bad(c, BARGE_EFORMAT, "project", "invalid project \"%s\"",
		           quoted(s, q, sizeof(q)));
	if ((rc = dup_str(c, s, &m->project)) != BARGE_OK)
		return rc;

	if ((rc = parse_platforms(c, root, m)) != BARGE_OK)
		return rc;

	if ((rc = get_array(c, root, "", "images", BUNDLE_META_IMAGES_MAX, &images)) != BARGE_OK)
		return rc;
	if (json_array_size(images) > 0 &&
	    (m->images = calloc(json_array_size(images), sizeof(*m->images))) == NULL)
		return err_set(c->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(images, i, v)
	{
		/* Counted first, so that bundle_meta_free frees a half-parsed image too. */
		m->nimages++;
		if ((rc = parse_image(c, v, i, m->project, &m->images[i])) != BARGE_OK)
			return rc;
	}
	if ((rc = check_tags_unique(c, m)) != BARGE_OK)
		return rc;

	if ((rc = parse_blobs(c, root, "blobs", &m->blobs, &m->nblobs)) != BARGE_OK)
		return rc;
	if (json_object_get(root, "requires") != NULL &&
	    (rc = parse_blobs(c, root, "requires", &m->requires, &m->nrequires)) != BARGE_OK)
		return rc;

	if ((rc = sort_blobs(c, "blobs", m->blobs, m->nblobs, &border)) != BARGE_OK ||
	    (rc = sort_blobs(c, "requires", m->requires, m->nrequires, &rorder)) != BARGE_OK)
		goto out;
	for (i = 0; i < m->nrequires; i++) {
		if (listed(border, m->nblobs, m->requires[i].digest)) {
			snprintf(path, sizeof(path), "requires[%zu].digest", i);
			rc = bad(c, BARGE_EFORMAT, path, "%s is also in blobs",
			         m->requires[i].digest);
			goto out;
		}
	}
	for (i = 0; i < m->nimages; i++) {
		if (!listed(border, m->nblobs, m->images[i].digest) &&
		    !listed(rorder, m->nrequires, m->images[i].digest)) {
			snprintf(path, sizeof(path), "images[%zu].digest", i);
			rc = bad(c, BARGE_EFORMAT, path, "%s is in neither blobs nor requires",
			         m->images[i].digest);
			goto out;
		}
	}
	rc = parse_referrers(c, root, m, border, rorder);
out:
	free((void *)border);
	free((void *)rorder);
	return rc;
}

int
bundle_meta_parse(const char *name, const char *buf, size_t len, struct bundle_meta **out,
                  struct barge_err *err)
{
	struct ctx c = { name, err };
	struct bundle_meta *m = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	int rc;

	if (len > BUNDLE_META_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: %zu bytes, more than the limit of %d", name,
		               len, BUNDLE_META_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return err_set(err, BARGE_EFORMAT, "%s:%d:%d: %s", name, jerr.line, jerr.column,
		               jerr.text);
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = parse_meta(&c, root, m)) != BARGE_OK)
		goto fail;
	json_decref(root);
	*out = m;
	return BARGE_OK;
fail:
	json_decref(root);
	bundle_meta_free(m);
	return rc;
}

static void
free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
bundle_meta_free(struct bundle_meta *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nimages; i++) {
		free(m->images[i].repository);
		free(m->images[i].source);
		free_strv(m->images[i].tags, m->images[i].ntags);
		free(m->images[i].digest);
		free(m->images[i].media_type);
	}
	free(m->images);
	for (i = 0; i < m->nreferrers; i++) {
		free(m->referrers[i].repository);
		free(m->referrers[i].media_type);
		free(m->referrers[i].artifact_type);
		free_strv(m->referrers[i].tags, m->referrers[i].ntags);
	}
	free(m->referrers);
	free(m->blobs);
	free(m->requires);
	free_strv(m->platforms, m->nplatforms);
	free(m->name);
	free(m->version);
	free(m->created);
	free(m->builder);
	free(m->project);
	free(m);
}

int
bundle_fallback_tag(const char *subject, char *buf, size_t size)
{
	int n;

	if (strncmp(subject, "sha256:", 7) != 0)
		return 0;
	n = snprintf(buf, size, "sha256-%s", subject + 7);
	return n > 0 && (size_t)n < size;
}
