/*
 * profile: cluster profiles read from YAML and checked key by key (see
 * profile.h).  It owns the profile it builds, every string and list in it,
 * and the YAML documents while it reads them.  This file holds the handle,
 * the files a profile is made of, the top-level document and its includes;
 * the packs are profile_pack.c's and the checks of a node profile_check.c's
 * (profile_int.h lists what they share).
 */
#include "profile.h"

#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "profile_int.h"
#include "yjson.h"

#define PROFILE_API_VERSION      "barge.dev/v1"
#define PROFILE_KIND             "ClusterProfile"
#define PROFILE_DEFAULT_PROJECT  "edge"
#define PROFILE_DEFAULT_PLATFORM "linux/amd64"

static void
profile_image_clear(struct profile_image *im)
{
	size_t i;

	ref_free(im->ref);
	free(im->source);
	free(im->from);
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
	profile_refs_free(p);
	free(p);
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
/* path relative to the directory of base, unless it is absolute; caller frees. */
char *
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
	char sha256[DIGEST_STR_MAX];

	if (digest_buf(DIGEST_SHA256, buf, len, sha256, ld->err) != BARGE_OK)
		return err_prefix(ld->err, "%s", disp);
	return record_digest(ld, disp, real, sha256);
}

int
record_digest(struct pload *ld, const char *disp, const char *real, const char *sha256)
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
	snprintf(grown[p->nfiles].sha256, sizeof(grown[p->nfiles].sha256), "%s", sha256);
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
int
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
			               yjson_type_name(v));
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
			               json_is_string(v) ? "a bad string" : yjson_type_name(v));
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
			               json_is_string(v) ? "an empty string" : yjson_type_name(v));
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
	static const char *const allowed[] = { "platforms", "project",   "include",        "packs",
		                               "exclude",   "referrers", "referrer_types", NULL };
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
	if ((rc = load_platforms(c, spec)) != BARGE_OK ||
	    (rc = load_project(c, spec)) != BARGE_OK || (rc = load_referrers(c, spec)) != BARGE_OK)
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
		               yjson_type_name(doc));
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
