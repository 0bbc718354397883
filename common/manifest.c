/*
 * manifest: parsing image manifests and indexes for reading (see
 * manifest.h).  The struct manifest it returns owns its descriptors' strings;
 * the manifest's bytes stay the caller's.
 */
#include "manifest.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "digest.h"
#include "mediatype.h"

/* The longest media type kept; real ones are under 80 bytes. */
#define MT_MAX 255

static void
desc_clear(struct manifest_desc *d)
{
	free(d->media_type);
	free(d->digest);
}

void
manifest_free(struct manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->media_type);
	desc_clear(&m->config);
	desc_clear(&m->subject);
	free(m->artifact_type);
	for (i = 0; i < m->ndescs; i++)
		desc_clear(&m->descs[i]);
	free(m->descs);
	free(m);
}

/* mt without parameters or surrounding whitespace, as a new string; NULL on ENOMEM. */
static char *
mt_base(const char *mt)
{
	size_t n;

	mt = mt_trim(mt, &n);
	return strndup(mt, n);
}

/* Whether a and b name the same type, surrounding whitespace and parameters aside. */
static int
mt_same(const char *a, const char *b)
{
	size_t n, m;

	a += strspn(a, " \t");
	b += strspn(b, " \t");
	n = strcspn(a, "; \t");
	m = strcspn(b, "; \t");
	return n == m && memcmp(a, b, n) == 0;
}

static int
nomem(struct barge_err *err)
{
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

/*
 * Prefixes the field to a message a validator (digest, platform) wrote and
 * makes it BARGE_EFORMAT: inside a manifest, a bad value is a bad document.
 */
static int
as_format(struct barge_err *err, const char *where, const char *field)
{
	if (err == NULL)
		return BARGE_EFORMAT;
	err_prefix(err, "manifest: %s%s", where, field);
	err->code = BARGE_EFORMAT;
	return BARGE_EFORMAT;
}

/* A media type string: present, short and printable, since it ends up in headers. */
static int
get_mt(json_t *obj, const char *field, const char *where, int required, const char **out,
       struct barge_err *err)
{
	json_t *v = json_object_get(obj, field);
	const char *s;
	size_t i, n;

	*out = NULL;
	if (v == NULL && !required)
		return BARGE_OK;
	if (v == NULL)
		return err_set(err, BARGE_EFORMAT, "manifest: %s%s: missing", where, field);
	if (!json_is_string(v))
		return err_set(err, BARGE_EFORMAT, "manifest: %s%s: not a string", where, field);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > MT_MAX)
		return err_set(err, BARGE_EFORMAT, "manifest: %s%s: empty or too long", where,
		               field);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return err_set(err, BARGE_EFORMAT,
			               "manifest: %s%s: control or non-ASCII character", where,
			               field);
	}
	*out = s;
	return BARGE_OK;
}

/* A platform field: absent is fine for variant only. */
static int
get_platform_str(json_t *p, const char *field, const char *where, int required, const char **out,
                 struct barge_err *err)
{
	json_t *v = json_object_get(p, field);

	*out = NULL;
	if (v == NULL && !required)
		return BARGE_OK;
	if (v == NULL)
		return err_set(err, BARGE_EFORMAT, "manifest: %splatform.%s: missing", where,
		               field);
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return err_set(err, BARGE_EFORMAT, "manifest: %splatform.%s: not a string", where,
		               field);
	*out = json_string_value(v);
	return BARGE_OK;
}

/*
 * Reads the descriptor obj into d; where names it in messages ("layers[2].").
 * Index entries (with_platform) also read their platform.
 */
static int
read_desc(json_t *obj, const char *where, int with_platform, struct manifest_desc *d,
          struct barge_err *err)
{
	const char *mt, *dg, *os, *arch, *variant;
	json_t *v, *p;
	int rc;

	if (!json_is_object(obj))
		return err_set(err, BARGE_EFORMAT, "manifest: %.*s: not an object",
		               (int)strlen(where) - 1, where);
	if ((rc = get_mt(obj, "mediaType", where, 1, &mt, err)) != BARGE_OK)
		return rc;

	v = json_object_get(obj, "digest");
	if (v == NULL)
		return err_set(err, BARGE_EFORMAT, "manifest: %sdigest: missing", where);
	if (!json_is_string(v))
		return err_set(err, BARGE_EFORMAT, "manifest: %sdigest: not a string", where);
	dg = json_string_value(v);
	if (strlen(dg) != json_string_length(v))
		return err_set(err, BARGE_EFORMAT, "manifest: %sdigest: holds a NUL byte", where);
	if (digest_parse(dg, NULL, NULL, err) != BARGE_OK)
		return as_format(err, where, "digest");

	v = json_object_get(obj, "size");
	if (v == NULL)
		return err_set(err, BARGE_EFORMAT, "manifest: %ssize: missing", where);
	if (!json_is_integer(v))
		return err_set(err, BARGE_EFORMAT, "manifest: %ssize: not an integer", where);
	if (json_integer_value(v) < 0)
		return err_set(err, BARGE_EFORMAT, "manifest: %ssize: negative (%lld)", where,
		               (long long)json_integer_value(v));

	if (with_platform && (p = json_object_get(obj, "platform")) != NULL) {
		if (!json_is_object(p))
			return err_set(err, BARGE_EFORMAT, "manifest: %splatform: not an object",
			               where);
		if ((rc = get_platform_str(p, "os", where, 1, &os, err)) != BARGE_OK ||
		    (rc = get_platform_str(p, "architecture", where, 1, &arch, err)) != BARGE_OK ||
		    (rc = get_platform_str(p, "variant", where, 0, &variant, err)) != BARGE_OK)
			return rc;
		if (platform_set(&d->platform, os, arch, variant, err) != BARGE_OK)
			return as_format(err, where, "platform");
		d->has_platform = 1;
	}

	d->size = (int64_t)json_integer_value(v);
	if ((d->media_type = strdup(mt)) == NULL || (d->digest = strdup(dg)) == NULL)
		return nomem(err);
	return BARGE_OK;
}

/* The kind a known media type means; -1 for one Barge does not read. */
static int
kind_of(const char *mt)
{
	if (mt_is_index(mt))
		return MANIFEST_INDEX;
	if (mt_is_manifest(mt))
		return MANIFEST_IMAGE;
	return -1;
}

/* Parses buf as a JSON object of schemaVersion 2 into *root (caller decrefs). */
static int
load_root(const void *buf, size_t len, json_t **root, struct barge_err *err)
{
	json_error_t jerr;
	json_t *v;

	*root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (*root == NULL)
		return err_set(err, BARGE_EFORMAT,
		               "manifest: not valid JSON: %s (line %d, column %d)", jerr.text,
		               jerr.line, jerr.column);
	if (!json_is_object(*root))
		return err_set(err, BARGE_EFORMAT, "manifest: not a JSON object");
	v = json_object_get(*root, "schemaVersion");
	if (v == NULL)
		return err_set(err, BARGE_EFORMAT, "manifest: schemaVersion: missing");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return err_set(err, BARGE_EFORMAT, "manifest: schemaVersion: unsupported (want 2)");
	return BARGE_OK;
}

/*
 * The kind: from the document's mediaType (*doc_mt, NULL when absent), else
 * the served one (*hint_kind, -1 when it names no kind), else the shape.
 */
static int
find_kind(json_t *root, const char *mt_hint, const char **doc_mt, int *hint_kind, int *kind,
          struct barge_err *err)
{
	int rc;

	if ((rc = get_mt(root, "mediaType", "", 0, doc_mt, err)) != BARGE_OK)
		return rc;
	*hint_kind = mt_hint != NULL ? kind_of(mt_hint) : -1;
	if (*doc_mt != NULL) {
		*kind = kind_of(*doc_mt);
		if (*kind < 0)
			return err_set(err, BARGE_EFORMAT,
			               "manifest: mediaType: unsupported \"%s\"", *doc_mt);
	} else if (*hint_kind >= 0) {
		*kind = *hint_kind;
	} else if (json_object_get(root, "manifests") != NULL) {
		*kind = MANIFEST_INDEX;
	} else if (json_object_get(root, "config") != NULL &&
	           json_object_get(root, "layers") != NULL) {
		*kind = MANIFEST_IMAGE;
	} else {
		return err_set(err, BARGE_EFORMAT,
		               "manifest: neither an image manifest (config, layers) nor an index "
		               "(manifests)");
	}
	/* A hint that is not a manifest type (application/json) says nothing. */
	if (*doc_mt != NULL && *hint_kind >= 0 && !mt_same(mt_hint, *doc_mt))
		return err_set(err, BARGE_EFORMAT,
		               "manifest: mediaType \"%s\" contradicts the served type \"%.*s\"",
		               *doc_mt, MT_MAX, mt_hint);
	return BARGE_OK;
}

/* An image's config, then the layers of an image or the manifests of an index. */
static int
read_descs(json_t *root, struct manifest *m, struct barge_err *err)
{
	const char *field;
	char where[48];
	json_t *v, *arr;
	size_t i, n;
	int rc;

	if (m->kind == MANIFEST_IMAGE) {
		if ((v = json_object_get(root, "config")) == NULL) {
			if (json_object_get(root, "manifests") != NULL)
				return err_set(err, BARGE_EFORMAT,
				               "manifest: config: missing (type \"%s\" is an image "
				               "manifest, but the document lists manifests)",
				               m->media_type);
			return err_set(err, BARGE_EFORMAT, "manifest: config: missing");
		}
		if ((rc = read_desc(v, "config.", 0, &m->config, err)) != BARGE_OK)
			return rc;
		field = "layers";
	} else {
		field = "manifests";
	}
	arr = json_object_get(root, field);
	if (arr == NULL)
		return err_set(err, BARGE_EFORMAT, "manifest: %s: missing", field);
	if (!json_is_array(arr))
		return err_set(err, BARGE_EFORMAT, "manifest: %s: not an array", field);
	n = json_array_size(arr);
	if (n > MANIFEST_DESC_MAX)
		return err_set(err, BARGE_ELIMIT,
		               "manifest: %s: %zu entries, more than the %d allowed", field, n,
		               MANIFEST_DESC_MAX);
	if (n > 0 && (m->descs = calloc(n, sizeof(*m->descs))) == NULL)
		return nomem(err);
	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "%s[%zu].", field, i);
		m->ndescs = i + 1;
		if ((rc = read_desc(json_array_get(arr, i), where, m->kind == MANIFEST_INDEX,
		                    &m->descs[i], err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/* OCI 1.1: a manifest or index may name a subject and an artifact type. */
static int
read_oci11(json_t *root, struct manifest *m, struct barge_err *err)
{
	const char *atype;
	json_t *v;
	int rc;

	if ((v = json_object_get(root, "subject")) != NULL) {
		if ((rc = read_desc(v, "subject.", 0, &m->subject, err)) != BARGE_OK)
			return rc;
		m->has_subject = 1;
	}
	if ((rc = get_mt(root, "artifactType", "", 0, &atype, err)) != BARGE_OK)
		return rc;
	if (atype != NULL && (m->artifact_type = strdup(atype)) == NULL)
		return nomem(err);
	return BARGE_OK;
}

int
manifest_parse(const void *buf, size_t len, const char *mt_hint, struct manifest **out,
               struct barge_err *err)
{
	struct manifest *m = NULL;
	const char *doc_mt = NULL;
	json_t *root = NULL;
	int rc, kind = -1, hint_kind = -1;

	if (len > MANIFEST_MAX)
		return err_set(err, BARGE_ELIMIT, "manifest: %zu bytes, more than the %d allowed",
		               len, MANIFEST_MAX);
	if ((rc = load_root(buf, len, &root, err)) != BARGE_OK ||
	    (rc = find_kind(root, mt_hint, &doc_mt, &hint_kind, &kind, err)) != BARGE_OK)
		goto fail;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		rc = nomem(err);
		goto fail;
	}
	m->kind = (enum manifest_kind)kind;
	if (doc_mt != NULL)
		m->media_type = strdup(doc_mt);
	else if (hint_kind >= 0)
		m->media_type = mt_base(mt_hint);
	else
		m->media_type = strdup(kind == MANIFEST_INDEX ? MT_OCI_INDEX : MT_OCI_MANIFEST);
	if (m->media_type == NULL) {
		rc = nomem(err);
		goto fail;
	}
	if ((rc = read_descs(root, m, err)) != BARGE_OK ||
	    (rc = read_oci11(root, m, err)) != BARGE_OK)
		goto fail;
	json_decref(root);
	*out = m;
	return BARGE_OK;
fail:
	json_decref(root);
	manifest_free(m);
	return rc;
}

const struct manifest_desc *
manifest_pick(const struct manifest *index, const struct platform *want)
{
	const struct manifest_desc *best = NULL;
	int rank, best_rank = 0;
	size_t i;

	if (index == NULL || index->kind != MANIFEST_INDEX)
		return NULL;
	for (i = 0; i < index->ndescs; i++) {
		if (!index->descs[i].has_platform)
			continue;
		rank = platform_rank(want, &index->descs[i].platform);
		/* Strictly greater: among equals the first entry wins, as containerd picks. */
		if (rank > best_rank) {
			best = &index->descs[i];
			best_rank = rank;
		}
	}
	return best;
}
