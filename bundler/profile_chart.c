/*
 * profile_chart: a pack's charts (profile_int.h, docs/profiles.md "Helm
 * charts").  An OCI reference is an image pulled like any other; a chart
 * archive is an image read from the file (charts.h), recorded among the
 * profile's files, and the values.yaml it holds goes through the same
 * Helm-values scan as a pack's values files.  It owns the chart and the
 * values YAML it reads while it reads them.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "charts.h"
#include "fileutil.h"
#include "profile_int.h"
#include "yjson.h"

#define OCI_SCHEME "oci://"

/* The images the chart's values.yaml names, errors naming archive:dir/values.yaml:line:col. */
static int
chart_values(const struct pctx *c, const char *pack, const struct chart *ch)
{
	struct pctx sc = { .ld = c->ld, .err = c->err, .file = ch->values_name };
	struct yjson *y = NULL;
	size_t i;
	int rc;

	if (ch->values == NULL)
		return BARGE_OK;
	if ((rc = yjson_load_buf(ch->values_name, ch->values, ch->values_len, &y, c->err)) !=
	    BARGE_OK)
		return rc;
	sc.y = y;
	for (i = 0; i < yjson_ndocs(y); i++)
		if ((rc = values_walk(&sc, pack, yjson_doc(y, i), NULL, 0)) != BARGE_OK)
			break;
	yjson_free(y);
	return rc;
}

/* A chart archive, path relative to c's file, named at line:col. */
static int
chart_file(const struct pctx *c, const char *pack, size_t i, const char *s, int line, int col)
{
	struct barge_err cerr;
	struct chart *ch = NULL;
	char *path = NULL, *real = NULL, *ref = NULL, *from = NULL;
	int rc;

	if ((path = join_rel(c->file, s)) == NULL)
		return nomem(c);
	if ((rc = charts_open(path, &ch, &cerr)) != BARGE_OK) {
		rc = perr(c, rc, line, col, "pack \"%s\": charts[%zu]: %s", pack, i, cerr.msg);
		goto out;
	}
	if ((real = realpath(path, NULL)) == NULL) {
		rc = perr(c, BARGE_EIO, line, col, "pack \"%s\": charts[%zu]: %s: %s", pack, i,
		          path, strerror(errno));
		goto out;
	}
	if ((ref = charts_ref(ch)) == NULL ||
	    (from = fu_printf("%s%s", CHARTS_PREFIX, path)) == NULL) {
		rc = nomem(c);
		goto out;
	}
	if ((rc = record_digest(c->ld, path, real, ch->tgz_digest)) != BARGE_OK ||
	    (rc = add_ref(c, pack, ref, from, line, col)) != BARGE_OK)
		goto out;
	rc = chart_values(c, pack, ch);
out:
	free(from);
	free(ref);
	free(real);
	free(path);
	charts_free(ch);
	return rc;
}

int
load_chart(const struct pctx *c, const char *pack, const json_t *list, size_t i, const json_t *v)
{
	const char *s;
	int line, col;

	if (!json_is_string(v) || json_string_length(v) == 0)
		return perr_at(c, list, NULL, v,
		               "pack \"%s\": charts[%zu]: expected oci://HOST/PATH:VERSION or a "
		               "chart archive (.tgz), got %s",
		               pack, i, json_is_string(v) ? "an empty string" : yjson_type_name(v));
	s = json_string_value(v);
	node_pos(c, list, NULL, v, &line, &col);
	if (strncmp(s, OCI_SCHEME, strlen(OCI_SCHEME)) != 0)
		return chart_file(c, pack, i, s, line, col);
	s += strlen(OCI_SCHEME);
	/* A lock pins the digest, but which version to pin is the profile's to say. */
	if (!has_tag_or_digest(s))
		return perr(c, BARGE_EINVAL, line, col,
		            "pack \"%s\": charts[%zu]: \"%.200s\" names no version: write "
		            "oci://HOST/PATH:VERSION",
		            pack, i, json_string_value(v));
	return add_ref(c, pack, s, NULL, line, col);
}
