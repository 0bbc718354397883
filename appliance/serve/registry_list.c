/*
 * registry_list.c: the registry's listings: tags/list and _catalog, which
 * are paginated (n=, last=, and a Link header to the next page), and
 * the referrers of a digest as an OCI index.  It owns the JSON it builds
 * until the answer is queued.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "mediatype.h"
#include "ref.h"
#include "registry_int.h"
#include "registry_range.h"

struct registry_tags {
	json_t *tags;
	int count;
	char last[REGISTRY_REF_MAX];
};

static int
registry_tag_cb(const char *tag, void *arg)
{
	struct registry_tags *t = arg;

	if (json_array_append_new(t->tags, json_string(tag)) != 0)
		return 1;
	t->count++;
	return 0;
}

/* Appends s to buf percent-encoded, for a query value in a Link header. */
static void
registry_query_escape(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	for (; *s != '\0' && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '.' || c == '-' || c == '_')
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, size - n, "%%%02X", c);
	}
	buf[n] = '\0';
}

void
registry_tags_list(struct registry *r, struct http_req *req, struct store *s,
                   const struct registry_route *rt)
{
	struct registry_tags t = { NULL, 0, "" };
	const char *nq, *last, *ns, *end;
	struct barge_err err = { 0 };
	char link[REGISTRY_NAME_MAX + 2 * REGISTRY_REF_MAX + 3 * 256 + 64];
	uint64_t n = REGISTRY_TAGS_MAX;
	json_t *body;
	int rc;

	if ((nq = http_req_query(req, "n")) != NULL) {
		if ((end = registry_range_u64(nq, &n)) == NULL || *end != '\0') {
			registry_send_error(req, 400, "PAGINATION_NUMBER_INVALID",
			                    "n must be a non-negative number");
			return;
		}
		if (n > REGISTRY_TAGS_MAX)
			n = REGISTRY_TAGS_MAX;
	}
	last = http_req_query(req, "last");
	if (last != NULL && !ref_valid_tag(last)) {
		registry_send_error(req, 400, "TAG_INVALID", "last is not a valid tag");
		return;
	}
	if (!store_repo_exists(s, rt->repo)) {
		registry_send_error(req, 404, "NAME_UNKNOWN",
		                    "repository name not known to registry");
		return;
	}
	if ((t.tags = json_array()) == NULL) {
		registry_send_json(req, 500, NULL);
		return;
	}
	/* One more than asked shows whether there is a next page. */
	if (n > 0 && (rc = store_list_tags(s, rt->repo, last, (int)n + 1, registry_tag_cb, &t,
	                                   &err)) != BARGE_OK) {
		json_decref(t.tags);
		registry_send_internal(r, req, &err);
		return;
	}
	if ((uint64_t)t.count > n) {
		json_array_remove(t.tags, (size_t)n);
		snprintf(link, sizeof(link), "</v2/%s/tags/list?n=%llu&last=", rt->name,
		         (unsigned long long)n);
		registry_query_escape(link, sizeof(link) - 16,
		                      json_string_value(json_array_get(t.tags, (size_t)n - 1)));
		if ((ns = http_req_query(req, "ns")) != NULL) {
			strcat(link, "&ns=");
			registry_query_escape(link, sizeof(link) - 16, ns);
		}
		strcat(link, ">; rel=\"next\"");
		(void)http_resp_header(req, "Link", link);
	}
	body = json_pack("{s:s,s:o}", "name", rt->name, "tags", t.tags);
	registry_send_json(req, 200, body);
}

/* --- catalog ------------------------------------------------------------ */

struct registry_list {
	json_t *arr;
	int count;
};

static int
registry_list_cb(const char *name, void *arg)
{
	struct registry_list *l = arg;

	if (json_array_append_new(l->arr, json_string(name)) != 0)
		return 1;
	l->count++;
	return 0;
}

void
registry_catalog(struct registry *r, struct http_req *req, struct store *s)
{
	struct registry_list l = { NULL, 0 };
	const char *nq, *last, *end;
	struct barge_err err = { 0 };
	char link[2 * 3 * REGISTRY_NAME_MAX + 64];
	uint64_t n = REGISTRY_REPOS_MAX;
	int rc;

	if ((nq = http_req_query(req, "n")) != NULL) {
		if ((end = registry_range_u64(nq, &n)) == NULL || *end != '\0') {
			registry_send_error(req, 400, "PAGINATION_NUMBER_INVALID",
			                    "n must be a non-negative number");
			return;
		}
		if (n > REGISTRY_REPOS_MAX)
			n = REGISTRY_REPOS_MAX;
	}
	last = http_req_query(req, "last");
	if (last != NULL && strlen(last) >= REGISTRY_NAME_MAX) {
		registry_send_error(req, 400, "NAME_INVALID", "last is too long");
		return;
	}
	if ((l.arr = json_array()) == NULL) {
		registry_send_json(req, 500, NULL);
		return;
	}
	if (n > 0 &&
	    (rc = store_list_repos(s, last, (int)n + 1, registry_list_cb, &l, &err)) != BARGE_OK) {
		json_decref(l.arr);
		registry_send_internal(r, req, &err);
		return;
	}
	if ((uint64_t)l.count > n) {
		json_array_remove(l.arr, (size_t)n);
		snprintf(link, sizeof(link), "</v2/_catalog?n=%llu&last=", (unsigned long long)n);
		registry_query_escape(link, sizeof(link) - 16,
		                      json_string_value(json_array_get(l.arr, (size_t)n - 1)));
		strcat(link, ">; rel=\"next\"");
		(void)http_resp_header(req, "Link", link);
	}
	registry_send_json(req, 200, json_pack("{s:o}", "repositories", l.arr));
}

/* --- referrers -------------------------------------------------------------- */

struct registry_referrers {
	struct store *s;
	const char *subject;
	const char *filter; /* artifactType wanted, or NULL */
	json_t *list;
	struct barge_err *err;
	int failed;
};

/* Adds m to the list when its stored bytes name the subject (and match the filter). */
static int
registry_referrer_cb(const struct store_manifest *m, void *arg)
{
	struct registry_referrers *x = arg;
	json_t *doc = NULL, *d = NULL, *v;
	const char *atype = NULL;
	char *buf = NULL;
	int64_t size;
	ssize_t got;
	int fd = -1;

	if (m->size < 0 || m->size > MANIFEST_MAX)
		return 0;
	if (store_blob_open(x->s, m->digest, &fd, &size, x->err) != BARGE_OK) {
		x->failed = 1;
		return 1;
	}
	if (size != m->size || (buf = malloc((size_t)size + 1)) == NULL ||
	    (got = pread(fd, buf, (size_t)size, 0)) != (ssize_t)size)
		goto out;
	if ((doc = json_loadb(buf, (size_t)size, 0, NULL)) == NULL)
		goto out;
	v = json_object_get(json_object_get(doc, "subject"), "digest");
	if (!json_is_string(v) || strcmp(json_string_value(v), x->subject) != 0)
		goto out;
	if (json_is_string(json_object_get(doc, "artifactType")))
		atype = json_string_value(json_object_get(doc, "artifactType"));
	else if (json_is_string(json_object_get(json_object_get(doc, "config"), "mediaType")))
		atype = json_string_value(
		        json_object_get(json_object_get(doc, "config"), "mediaType"));
	if (x->filter != NULL && (atype == NULL || strcmp(atype, x->filter) != 0))
		goto out;
	d = json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest", m->digest, "size",
	              (json_int_t)m->size);
	if (d == NULL)
		goto out;
	if (atype != NULL)
		json_object_set_new(d, "artifactType", json_string(atype));
	if (json_is_object(json_object_get(doc, "annotations")))
		json_object_set(d, "annotations", json_object_get(doc, "annotations"));
	json_array_append_new(x->list, d);
out:
	json_decref(doc);
	free(buf);
	close(fd);
	return 0;
}

void
registry_referrers(struct registry *r, struct http_req *req, struct store *s,
                   const struct registry_route *rt)
{
	struct registry_referrers x = { 0 };
	struct barge_err err = { 0 };
	json_t *body;
	char *text;

	x.s = s;
	x.subject = rt->reference;
	x.filter = http_req_query(req, "artifactType");
	x.err = &err;
	if ((x.list = json_array()) == NULL) {
		registry_send_json(req, 500, NULL);
		return;
	}
	if (store_list_referrers(s, rt->repo, rt->reference, REGISTRY_REFERRERS_MAX,
	                         registry_referrer_cb, &x, &err) != BARGE_OK ||
	    x.failed) {
		json_decref(x.list);
		registry_send_internal(r, req, &err);
		return;
	}
	body = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
	                 "manifests", x.list);
	if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		json_decref(body);
		registry_send_json(req, 500, NULL);
		return;
	}
	json_decref(body);
	if (x.filter != NULL)
		(void)http_resp_header(req, "OCI-Filters-Applied", "artifactType");
	registry_common_headers(req);
	(void)http_respond_buf(req, 200, MT_OCI_INDEX, text, strlen(text));
	free(text);
}
