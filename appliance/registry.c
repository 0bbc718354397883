#include "registry.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "digest.h"
#include "fileutil.h"
#include "ref.h"
#include "store.h"

#define REGISTRY_NS_MAX 255 /* longest upstream host in ?ns= */

struct registry_store {
	struct store *s;
	struct registry_store *next;
};

struct registry {
	char *data_dir;
	char *project;
	void (*log_error)(const char *msg);
	pthread_key_t key;
	pthread_mutex_t mtx;
	struct registry_store *stores; /* every store opened, to close in registry_free */
};

int
registry_new(const struct registry_opts *o, struct registry **out, struct barge_err *err)
{
	struct registry *r;

	if (o->data_dir == NULL)
		return err_set(err, BARGE_EINVAL, "registry: no data directory");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, BARGE_ENOMEM, "registry: out of memory");
	r->data_dir = strdup(o->data_dir);
	r->project = strdup(o->project != NULL ? o->project : "edge");
	if (r->data_dir == NULL || r->project == NULL) {
		free(r->data_dir);
		free(r->project);
		free(r);
		return err_set(err, BARGE_ENOMEM, "registry: out of memory");
	}
	if (!ref_valid_repo(r->project) || strchr(r->project, '/') != NULL) {
		err_set(err, BARGE_EINVAL, "project '%s': not a valid repository path component",
		        r->project);
		free(r->data_dir);
		free(r->project);
		free(r);
		return BARGE_EINVAL;
	}
	if (pthread_key_create(&r->key, NULL) != 0) {
		free(r->data_dir);
		free(r->project);
		free(r);
		return err_set(err, BARGE_EINTERNAL, "registry: no thread key");
	}
	pthread_mutex_init(&r->mtx, NULL);
	r->log_error = o->log_error;
	*out = r;
	return BARGE_OK;
}

void
registry_free(struct registry *r)
{
	struct registry_store *n;

	if (r == NULL)
		return;
	while ((n = r->stores) != NULL) {
		r->stores = n->next;
		store_close(n->s);
		free(n);
	}
	pthread_key_delete(r->key);
	pthread_mutex_destroy(&r->mtx);
	free(r->data_dir);
	free(r->project);
	free(r);
}

/* This thread's store, opened on first use. */
static struct store *
registry_store(struct registry *r, struct barge_err *err)
{
	struct registry_store *n;
	struct store *s;

	if ((s = pthread_getspecific(r->key)) != NULL)
		return s;
	if ((n = malloc(sizeof(*n))) == NULL) {
		err_set(err, BARGE_ENOMEM, "registry: out of memory");
		return NULL;
	}
	if (store_open(r->data_dir, &s, err) != BARGE_OK) {
		free(n);
		return NULL;
	}
	if (pthread_setspecific(r->key, s) != 0) {
		store_close(s);
		free(n);
		err_set(err, BARGE_EINTERNAL, "registry: cannot keep the store of a thread");
		return NULL;
	}
	n->s = s;
	pthread_mutex_lock(&r->mtx);
	n->next = r->stores;
	r->stores = n;
	pthread_mutex_unlock(&r->mtx);
	return s;
}

/* --- parsing ------------------------------------------------------------ */

static int
registry_route_fail(struct registry_route *out, const char *code, struct barge_err *err,
                    const char *msg, const char *what)
{
	out->error = code;
	return err_set(err, BARGE_EINVAL, "%s: %.200s", msg, what);
}

/* Characters a repository name may hold; what else ref_parse would read as a tag or digest. */
static int
registry_name_chars_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '-' || *s == '/'))
			return 0;
	return 1;
}

/* The repository a mirror request for name at upstream host ns maps to. */
static int
registry_mirror_repo(const char *ns, const char *name, const char *project,
                     struct registry_route *out, struct barge_err *err)
{
	char host[REGISTRY_NS_MAX + 1];
	struct ref *ref = NULL;
	char *full = NULL, *repo = NULL;
	size_t i, n;
	int rc;

	n = strlen(ns);
	if (n == 0 || n > REGISTRY_NS_MAX)
		return registry_route_fail(out, "NAME_INVALID", err, "bad namespace", ns);
	/* Host names are case-insensitive; repository names are lowercase. */
	for (i = 0; i <= n; i++)
		host[i] = (char)tolower((unsigned char)ns[i]);
	if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0)
		strcpy(host, "docker.io");
	/* Only a host, or ref_parse would read it as the first component of a Docker Hub path. */
	if (strpbrk(host, "/@") != NULL ||
	    (strpbrk(host, ".:") == NULL && strcmp(host, "localhost") != 0 && host[0] != '['))
		return registry_route_fail(out, "NAME_INVALID", err, "namespace is not a host", ns);
	if (!registry_name_chars_ok(name))
		return registry_route_fail(out, "NAME_INVALID", err, "invalid repository name",
		                           name);
	if ((full = fu_printf("%s/%s", host, name)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (ref_parse(full, &ref, err) != BARGE_OK) {
		rc = registry_route_fail(out, "NAME_INVALID", err, "invalid repository name", full);
		goto out;
	}
	if ((repo = ref_local_repo(ref, project)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (strlen(repo) >= sizeof(out->repo) || !ref_valid_repo(repo)) {
		rc = registry_route_fail(out, "NAME_INVALID", err, "invalid repository name", repo);
		goto out;
	}
	strcpy(out->repo, repo);
	rc = BARGE_OK;
out:
	free(full);
	free(repo);
	ref_free(ref);
	return rc;
}

static int
registry_has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

int
registry_parse_route(const char *path, const char *ns, const char *project,
                     struct registry_route *out, struct barge_err *err)
{
	const char *rest, *ref = NULL;
	size_t len, nlen;

	memset(out, 0, sizeof(*out));
	if (project == NULL)
		project = "edge";
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
		out->kind = REGISTRY_ROUTE_BASE;
		return BARGE_OK;
	}
	if (strncmp(path, "/v2/", 4) != 0)
		return err_set(err, BARGE_ENOTFOUND, "no such route");
	rest = path + 4;
	if ((len = strnlen(rest, HTTP_URL_MAX + 1)) > HTTP_URL_MAX)
		return registry_route_fail(out, "NAME_INVALID", err, "path too long", "");
	if (registry_has_suffix(rest, len, "/tags/list")) {
		out->kind = REGISTRY_ROUTE_TAGS;
		nlen = len - strlen("/tags/list");
	} else {
		const char *slash = memrchr(rest, '/', len);
		size_t head;

		if (slash == NULL)
			return err_set(err, BARGE_ENOTFOUND, "no such route");
		head = (size_t)(slash - rest);
		ref = slash + 1;
		if (registry_has_suffix(rest, head, "/manifests")) {
			out->kind = REGISTRY_ROUTE_MANIFEST;
			nlen = head - strlen("/manifests");
		} else if (registry_has_suffix(rest, head, "/blobs")) {
			out->kind = REGISTRY_ROUTE_BLOB;
			nlen = head - strlen("/blobs");
		} else {
			return err_set(err, BARGE_ENOTFOUND, "no such route");
		}
	}
	if (nlen == 0)
		return registry_route_fail(out, "NAME_INVALID", err, "empty repository name", "");
	if (nlen >= sizeof(out->name))
		return registry_route_fail(out, "NAME_INVALID", err, "repository name too long",
		                           "");
	memcpy(out->name, rest, nlen);
	out->name[nlen] = '\0';

	if (ref != NULL) {
		if (strlen(ref) >= sizeof(out->reference))
			return registry_route_fail(
			        out, strchr(ref, ':') ? "DIGEST_INVALID" : "TAG_INVALID", err,
			        "reference too long", "");
		strcpy(out->reference, ref);
		if (digest_valid(ref)) {
			out->is_digest = 1;
		} else if (out->kind == REGISTRY_ROUTE_BLOB || strchr(ref, ':') != NULL) {
			return registry_route_fail(out, "DIGEST_INVALID", err, "invalid digest",
			                           ref);
		} else if (!ref_valid_tag(ref)) {
			return registry_route_fail(out, "TAG_INVALID", err, "invalid tag", ref);
		}
	}

	if (ns != NULL)
		return registry_mirror_repo(ns, out->name, project, out, err);
	if (!ref_valid_repo(out->name))
		return registry_route_fail(out, "NAME_INVALID", err, "invalid repository name",
		                           out->name);
	strcpy(out->repo, out->name);
	return BARGE_OK;
}

/* A decimal number; values beyond 64 bits saturate, as they are beyond any size anyway. */
static const char *
registry_parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*v = x;
	return s;
}

enum registry_range
registry_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len)
{
	uint64_t a, b;
	const char *p;

	if (hdr == NULL || strncasecmp(hdr, "bytes=", 6) != 0)
		return REGISTRY_RANGE_FULL;
	p = hdr + 6;
	if (*p == '-') {
		/* A suffix: the last b bytes. */
		if ((p = registry_parse_u64(p + 1, &b)) == NULL || *p != '\0')
			return REGISTRY_RANGE_FULL;
		if (b == 0 || size == 0)
			return REGISTRY_RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return REGISTRY_RANGE_PARTIAL;
	}
	if ((p = registry_parse_u64(p, &a)) == NULL || *p != '-')
		return REGISTRY_RANGE_FULL;
	p++;
	if (*p == '\0') {
		b = UINT64_MAX;
	} else {
		if ((p = registry_parse_u64(p, &b)) == NULL || *p != '\0')
			return REGISTRY_RANGE_FULL; /* several ranges, or garbage */
		if (b < a)
			return REGISTRY_RANGE_FULL; /* invalid, so the header is ignored */
	}
	if (a >= size)
		return REGISTRY_RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return REGISTRY_RANGE_PARTIAL;
}

/* --- responses ---------------------------------------------------------- */

static void
registry_common_headers(struct http_req *req)
{
	(void)http_resp_header(req, "Docker-Distribution-API-Version", "registry/2.0");
}

static void
registry_send_json(struct http_req *req, int status, json_t *body)
{
	static const char fallback[] = "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"out of "
	                               "memory\",\"detail\":{}}]}";
	char *s = NULL;

	if (body != NULL)
		s = json_dumps(body, JSON_COMPACT);
	registry_common_headers(req);
	if (s == NULL)
		(void)http_respond_buf(req, 500, "application/json", fallback,
		                       sizeof(fallback) - 1);
	else
		(void)http_respond_buf(req, status, "application/json", s, strlen(s));
	free(s);
	json_decref(body);
}

/* An OCI error body. */
static void
registry_send_error(struct http_req *req, int status, const char *code, const char *msg)
{
	json_t *body;

	body = json_pack("{s:[{s:s,s:s,s:{}}]}", "errors", "code", code, "message", msg, "detail");
	/* A message quoting the request may not be UTF-8; the code alone still tells. */
	if (body == NULL)
		body = json_pack("{s:[{s:s,s:s,s:{}}]}", "errors", "code", code, "message",
		                 "invalid request", "detail");
	registry_send_json(req, status, body);
}

/* A failure of ours: the cause goes to the log, the client learns nothing about the device. */
static void
registry_send_internal(struct registry *r, struct http_req *req, const struct barge_err *err)
{
	char line[BARGE_ERR_MSG_MAX + 256];

	if (r->log_error != NULL) {
		snprintf(line, sizeof(line), "%s %.200s: %s", http_req_method(req),
		         http_req_path(req), err->msg);
		r->log_error(line);
	}
	registry_send_error(req, 500, "UNKNOWN", "internal error");
}

static void
registry_send_fd(struct http_req *req, int status, const char *content_type, const char *digest,
                 int fd, uint64_t offset, uint64_t len)
{
	char etag[DIGEST_STR_MAX + 2];

	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	registry_common_headers(req);
	(void)http_resp_header(req, "Docker-Content-Digest", digest);
	(void)http_resp_header(req, "ETag", etag);
	(void)http_respond_fd(req, status, content_type, fd, offset, len);
}

static void
registry_manifest(struct registry *r, struct http_req *req, struct store *s,
                  const struct registry_route *rt)
{
	struct store_manifest m;
	struct barge_err err = { 0 };
	int64_t size;
	int fd = -1, rc;

	rc = store_get_manifest(s, rt->repo, rt->reference, &m, &err);
	if (rc == BARGE_ENOTFOUND) {
		if (store_repo_exists(s, rt->repo))
			registry_send_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown");
		else
			registry_send_error(req, 404, "NAME_UNKNOWN",
			                    "repository name not known to registry");
		return;
	}
	if (rc != BARGE_OK || (rc = store_blob_open(s, m.digest, &fd, &size, &err)) != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	if (size != m.size) {
		close(fd);
		err_set(&err, BARGE_EDIGEST, "manifest %s: %lld bytes stored, %lld recorded",
		        m.digest, (long long)size, (long long)m.size);
		registry_send_internal(r, req, &err);
		return;
	}
	registry_send_fd(req, 200,
	                 m.media_type[0] != '\0' ? m.media_type : "application/octet-stream",
	                 m.digest, fd, 0, (uint64_t)size);
}

static void
registry_blob(struct registry *r, struct http_req *req, struct store *s,
              const struct registry_route *rt)
{
	struct barge_err err = { 0 };
	uint64_t start = 0, len = 0;
	char crange[96];
	int64_t size;
	int fd = -1, rc;

	rc = store_repo_has_blob(s, rt->repo, rt->reference, &err);
	if (rc == BARGE_OK)
		rc = store_blob_open(s, rt->reference, &fd, &size, &err);
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	(void)http_resp_header(req, "Accept-Ranges", "bytes");
	switch (registry_parse_range(http_req_header(req, "Range"), (uint64_t)size, &start, &len)) {
	case REGISTRY_RANGE_FULL:
		registry_send_fd(req, 200, "application/octet-stream", rt->reference, fd, 0,
		                 (uint64_t)size);
		break;
	case REGISTRY_RANGE_PARTIAL:
		snprintf(crange, sizeof(crange), "bytes %llu-%llu/%lld", (unsigned long long)start,
		         (unsigned long long)(start + len - 1), (long long)size);
		(void)http_resp_header(req, "Content-Range", crange);
		registry_send_fd(req, 206, "application/octet-stream", rt->reference, fd, start,
		                 len);
		break;
	case REGISTRY_RANGE_UNSATISFIABLE:
		close(fd);
		snprintf(crange, sizeof(crange), "bytes */%lld", (long long)size);
		(void)http_resp_header(req, "Content-Range", crange);
		registry_common_headers(req);
		(void)http_respond_buf(req, 416, NULL, "", 0);
		break;
	}
}

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

static void
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
		if ((end = registry_parse_u64(nq, &n)) == NULL || *end != '\0') {
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

void
registry_handle(struct http_req *req, void *arg)
{
	struct registry *r = arg;
	struct registry_route rt;
	struct barge_err err = { 0 };
	const char *method = http_req_method(req);
	struct store *s;
	int rc;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		(void)http_resp_header(req, "Allow", "GET, HEAD");
		registry_send_error(req, 405, "UNSUPPORTED",
		                    "this registry serves pulls only (GET and HEAD)");
		return;
	}
	rc = registry_parse_route(http_req_path(req), http_req_query(req, "ns"), r->project, &rt,
	                          &err);
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "NAME_UNKNOWN", "no such API endpoint");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_error(req, 400, rt.error != NULL ? rt.error : "NAME_INVALID",
		                    err.msg);
		return;
	}
	if (rt.kind == REGISTRY_ROUTE_BASE) {
		registry_send_json(req, 200, json_object());
		return;
	}
	if ((s = registry_store(r, &err)) == NULL) {
		registry_send_internal(r, req, &err);
		return;
	}
	switch (rt.kind) {
	case REGISTRY_ROUTE_MANIFEST:
		registry_manifest(r, req, s, &rt);
		break;
	case REGISTRY_ROUTE_BLOB:
		registry_blob(r, req, s, &rt);
		break;
	case REGISTRY_ROUTE_TAGS:
		registry_tags_list(r, req, s, &rt);
		break;
	case REGISTRY_ROUTE_BASE:
		break;
	}
}
