/*
 * registry_list.c: the registry's listings: tags/list and _catalog, which
 * share one paginator (n=, last=, and a Link header to the next page), and
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

/* --- the paginator --------------------------------------------------------- */

/*
 * One listing: list calls fn for at most n names after last (NULL: from
 * the start), in order; link is the path the Link header points back to.
 */
struct registry_page {
	const char *link; /* "/v2/<name>/tags/list" or "/v2/_catalog" */
	const char *ns;   /* carried on in the Link header, or NULL */
	const char *repo; /* the list's repository, NULL for _catalog */
	int (*list)(struct store *s, const char *repo, const char *last, int n,
	            int (*fn)(const char *name, void *arg), void *arg, struct barge_err *err);
};

struct registry_names {
	json_t *arr;
	int count;
};

static int
registry_name_cb(const char *name, void *arg)
{
	struct registry_names *l = arg;

	if (json_array_append_new(l->arr, json_string(name)) != 0)
		return 1;
	l->count++;
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

/*
 * The page size a request asks with n= (max when absent, at most max).
 * Answers 400 and returns 0 when n= is no number.
 */
static int
registry_page_size(struct http_req *req, uint64_t max, uint64_t *n)
{
	if (!registry_range_page(http_req_query(req, "n"), max, n)) {
		registry_send_error(req, 400, "PAGINATION_NUMBER_INVALID",
		                    "n must be a non-negative number");
		return 0;
	}
	return 1;
}

/*
 * Lists the page of n names after last into a new array (*out), and when
 * there is a next page, sets the Link header to it.  Answers (and returns
 * 0) when that fails.
 */
static int
registry_page(struct registry *r, struct http_req *req, struct store *s,
              const struct registry_page *pg, uint64_t n, const char *last, json_t **out)
{
	struct registry_names l = { NULL, 0 };
	struct barge_err err = { 0 };
	/* Room for the path and a last name escaped in full, and an escaped ?ns= host. */
	char link[4 * REGISTRY_NAME_MAX + 3 * 256 + 64];

	if ((l.arr = json_array()) == NULL) {
		registry_send_json(req, 500, NULL);
		return 0;
	}
	/* One more than asked shows whether there is a next page. */
	if (n > 0 &&
	    pg->list(s, pg->repo, last, (int)n + 1, registry_name_cb, &l, &err) != BARGE_OK) {
		json_decref(l.arr);
		registry_send_internal(r, req, &err);
		return 0;
	}
	if ((uint64_t)l.count > n) {
		json_array_remove(l.arr, (size_t)n);
		snprintf(link, sizeof(link), "<%s?n=%llu&last=", pg->link, (unsigned long long)n);
		registry_query_escape(link, sizeof(link) - 16,
		                      json_string_value(json_array_get(l.arr, (size_t)n - 1)));
		if (pg->ns != NULL) {
			strcat(link, "&ns=");
			registry_query_escape(link, sizeof(link) - 16, pg->ns);
		}
		strcat(link, ">; rel=\"next\"");
		(void)http_resp_header(req, "Link", link);
	}
	*out = l.arr;
	return 1;
}

/* --- tags/list and _catalog ------------------------------------------------ */

static int
registry_list_tags(struct store *s, const char *repo, const char *last, int n,
                   int (*fn)(const char *name, void *arg), void *arg, struct barge_err *err)
{
	return store_list_tags(s, repo, last, n, fn, arg, err);
}

static int
registry_list_repos(struct store *s, const char *repo, const char *last, int n,
                    int (*fn)(const char *name, void *arg), void *arg, struct barge_err *err)
{
	(void)repo;
	return store_list_repos(s, last, n, fn, arg, err);
}

void
registry_tags_list(struct registry *r, struct http_req *req, struct store *s,
                   const struct registry_route *rt)
{
	char path[REGISTRY_NAME_MAX + 32];
	struct registry_page pg = { path, NULL, rt->repo, registry_list_tags };
	const char *last;
	uint64_t n;
	json_t *tags;

	if (!registry_page_size(req, REGISTRY_TAGS_MAX, &n))
		return;
	last = http_req_query(req, "last");
	if (last != NULL && !ref_valid_tag(last)) {
		registry_send_error(req, 400, "TAG_INVALID", "last is not a valid tag");
		return;
	}
	if (!store_repo_listed(s, rt->repo)) {
		registry_send_error(req, 404, "NAME_UNKNOWN",
		                    "repository name not known to registry");
		return;
	}
	snprintf(path, sizeof(path), "/v2/%s/tags/list", rt->name);
	pg.ns = http_req_query(req, "ns");
	if (!registry_page(r, req, s, &pg, n, last, &tags))
		return;
	registry_send_json(req, 200, json_pack("{s:s,s:o}", "name", rt->name, "tags", tags));
}

void
registry_catalog(struct registry *r, struct http_req *req, struct store *s)
{
	static const struct registry_page pg = { "/v2/_catalog", NULL, NULL, registry_list_repos };
	const char *last;
	uint64_t n;
	json_t *repos;

	if (!registry_page_size(req, REGISTRY_REPOS_MAX, &n))
		return;
	last = http_req_query(req, "last");
	if (last != NULL && strlen(last) >= REGISTRY_NAME_MAX) {
		registry_send_error(req, 400, "NAME_INVALID", "last is too long");
		return;
	}
	if (!registry_page(r, req, s, &pg, n, last, &repos))
		return;
	registry_send_json(req, 200, json_pack("{s:o}", "repositories", repos));
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
