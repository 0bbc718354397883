#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "digest.h"
#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"
#include "ref.h"
#include "store.h"
#include "store_push.h"

#define REGISTRY_NS_MAX          255 /* longest upstream host in ?ns= */
#define REGISTRY_UPLOADS_DEFAULT 64
#define REGISTRY_UPLOAD_AGE      (24 * 3600)
#define REGISTRY_EXPIRE_EVERY    600 /* seconds between sweeps of stale sessions */
#define REGISTRY_REFERRERS_MAX   1000
#define REGISTRY_REPOS_MAX       1000 /* most repositories in one _catalog page */

/*
 * An upload session's in-memory side: the running sha256 of its bytes, so
 * that finishing needs no second read of a large blob.  Lost on restart (or
 * after a broken chunk): then finishing hashes the file.
 */
struct registry_session {
	char id[STORE_UPLOAD_ID_LEN + 1];
	struct digest_ctx *ctx; /* NULL: hash the file when finishing */
	int64_t hashed;         /* bytes fed to ctx */
	int busy;               /* a request is writing to it */
	struct registry_session *next;
};

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
	int allow_delete;
	unsigned max_uploads;
	int64_t upload_max_age;
	uint64_t blob_max;
	struct registry_session *sessions; /* under mtx */
	time_t last_expire;                /* under mtx */
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
	r->allow_delete = o->allow_delete;
	r->max_uploads = o->max_uploads ? o->max_uploads : REGISTRY_UPLOADS_DEFAULT;
	r->upload_max_age = o->upload_max_age > 0 ? o->upload_max_age : REGISTRY_UPLOAD_AGE;
	r->blob_max = o->blob_max ? o->blob_max : UINT64_MAX;
	*out = r;
	return BARGE_OK;
}

static void
registry_session_free(struct registry_session *n)
{
	digest_free(n->ctx);
	free(n);
}

void
registry_free(struct registry *r)
{
	struct registry_session *sess;
	struct registry_store *n;

	if (r == NULL)
		return;
	while ((n = r->stores) != NULL) {
		r->stores = n->next;
		store_close(n->s);
		free(n);
	}
	while ((sess = r->sessions) != NULL) {
		r->sessions = sess->next;
		registry_session_free(sess);
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
	if (store_push_init(s, err) != BARGE_OK) {
		store_close(s);
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
	if (strcmp(path, "/v2/_catalog") == 0) {
		out->kind = REGISTRY_ROUTE_CATALOG;
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
	} else if (registry_has_suffix(rest, len, "/blobs/uploads")) {
		/* POST without the trailing slash, as some clients send it. */
		out->kind = REGISTRY_ROUTE_UPLOAD;
		nlen = len - strlen("/blobs/uploads");
		ref = "";
	} else {
		const char *slash = memrchr(rest, '/', len);
		size_t head;

		if (slash == NULL)
			return err_set(err, BARGE_ENOTFOUND, "no such route");
		head = (size_t)(slash - rest);
		ref = slash + 1;
		if (registry_has_suffix(rest, head, "/blobs/uploads")) {
			out->kind = REGISTRY_ROUTE_UPLOAD;
			nlen = head - strlen("/blobs/uploads");
		} else if (registry_has_suffix(rest, head, "/referrers")) {
			out->kind = REGISTRY_ROUTE_REFERRERS;
			nlen = head - strlen("/referrers");
		} else if (registry_has_suffix(rest, head, "/manifests")) {
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

	if (out->kind == REGISTRY_ROUTE_UPLOAD) {
		/* A session id is checked against the sessions, not here: 404 if unknown. */
		if (strlen(ref) < sizeof(out->reference))
			strcpy(out->reference, ref);
	} else if (ref != NULL) {
		if (strlen(ref) >= sizeof(out->reference))
			return registry_route_fail(
			        out, strchr(ref, ':') ? "DIGEST_INVALID" : "TAG_INVALID", err,
			        "reference too long", "");
		strcpy(out->reference, ref);
		if (digest_valid(ref)) {
			out->is_digest = 1;
		} else if (out->kind == REGISTRY_ROUTE_BLOB ||
		           out->kind == REGISTRY_ROUTE_REFERRERS || strchr(ref, ':') != NULL) {
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

/*
 * Answers 304 when the client's If-None-Match names digest (content
 * addressed: the ETag of a digest never changes).
 */
static int
registry_not_modified(struct http_req *req, const char *digest)
{
	const char *inm = http_req_header(req, "If-None-Match");
	char etag[DIGEST_STR_MAX + 2];
	const char *p;
	size_t n = strlen(digest);

	if (inm == NULL)
		return 0;
	if (strcmp(inm, "*") != 0) {
		for (p = strstr(inm, digest); p != NULL; p = strstr(p + 1, digest))
			if ((p == inm || p[-1] == '"' || p[-1] == ' ' || p[-1] == ',') &&
			    (p[n] == '\0' || p[n] == '"' || p[n] == ',' || p[n] == ' '))
				break;
		if (p == NULL)
			return 0;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	registry_common_headers(req);
	(void)http_resp_header(req, "Docker-Content-Digest", digest);
	(void)http_resp_header(req, "ETag", etag);
	(void)http_respond_buf(req, 304, NULL, "", 0);
	return 1;
}

static void
registry_manifest(struct registry *r, struct http_req *req, struct store *s,
                  const struct registry_route *rt)
{
	struct store_manifest m;
	struct barge_err err = { 0 };
	int64_t size;
	int fd = -1, rc;

	/* Row and file in one snapshot: GC can not take the file in between. */
	rc = store_open_manifest(s, rt->repo, rt->reference, &m, &fd, &size, &err);
	if (rc == BARGE_ENOTFOUND) {
		if (store_repo_exists(s, rt->repo))
			registry_send_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown");
		else
			registry_send_error(req, 404, "NAME_UNKNOWN",
			                    "repository name not known to registry");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	if (registry_not_modified(req, m.digest)) {
		close(fd);
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

	/* The link and the file in one snapshot, as store_open_repo_blob does. */
	if ((rc = store_read_begin(s, &err)) == BARGE_OK) {
		rc = store_push_has_blob(s, rt->repo, rt->reference, &err);
		if (rc == BARGE_OK)
			rc = store_blob_open(s, rt->reference, &fd, &size, &err);
		store_read_end(s);
	}
	if (rc == BARGE_OK && registry_not_modified(req, rt->reference)) {
		close(fd);
		return;
	}
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

/* --- catalog and referrers ---------------------------------------------- */

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

static void
registry_catalog(struct registry *r, struct http_req *req, struct store *s)
{
	struct registry_list l = { NULL, 0 };
	const char *nq, *last, *end;
	struct barge_err err = { 0 };
	char link[2 * 3 * REGISTRY_NAME_MAX + 64];
	uint64_t n = REGISTRY_REPOS_MAX;
	int rc;

	if ((nq = http_req_query(req, "n")) != NULL) {
		if ((end = registry_parse_u64(nq, &n)) == NULL || *end != '\0') {
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

static void
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

/* --- uploads ------------------------------------------------------------- */

/* Per-request state of a request whose body the registry takes. */
struct registry_body {
	struct registry *r;
	struct store *s;
	struct registry_route rt;
	enum { BODY_CHUNK, BODY_MONOLITHIC, BODY_MANIFEST } kind;
	/* BODY_CHUNK */
	struct registry_session *sess;
	int fd;
	int64_t start;               /* the session's committed length before this chunk */
	int64_t expect;              /* bytes the Content-Range announced, or -1 */
	int finish;                  /* a PUT: finish the session after the chunk */
	uint64_t written;            /* body bytes taken */
	int write_failed;            /* errno of a failed write to the session's file */
	char digest[DIGEST_STR_MAX]; /* PUT ?digest=, monolithic POST ?digest= */
	/* BODY_MONOLITHIC */
	struct store_blob_writer *w;
	/* BODY_MANIFEST */
	char *buf;
	size_t len, cap;
	char content_type[256];
};

static void
registry_body_free(struct registry_body *b)
{
	if (b->fd >= 0)
		close(b->fd);
	store_blob_abort(b->w);
	free(b->buf);
	free(b);
}

static void
registry_upload_headers(struct http_req *req, const struct registry_route *rt, const char *id,
                        int64_t offset)
{
	char loc[REGISTRY_NAME_MAX + STORE_UPLOAD_ID_LEN + 32], range[64];

	snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/%s", rt->name, id);
	/* "0-0" for an empty session, as the reference implementation says it. */
	snprintf(range, sizeof(range), "0-%lld", (long long)(offset > 0 ? offset - 1 : 0));
	registry_common_headers(req);
	(void)http_resp_header(req, "Location", loc);
	(void)http_resp_header(req, "Range", range);
	(void)http_resp_header(req, "Docker-Upload-UUID", id);
}

static void
registry_blob_created(struct http_req *req, const struct registry_route *rt, const char *digest)
{
	char loc[REGISTRY_NAME_MAX + DIGEST_STR_MAX + 16];

	snprintf(loc, sizeof(loc), "/v2/%s/blobs/%s", rt->name, digest);
	registry_common_headers(req);
	(void)http_resp_header(req, "Location", loc);
	(void)http_resp_header(req, "Docker-Content-Digest", digest);
	(void)http_respond_buf(req, 201, NULL, "", 0);
}

/* Finds (or, for a session the store knows, makes) id's entry and marks it busy. */
static int
registry_session_take(struct registry *r, const char *id, struct registry_session **out)
{
	struct registry_session *n;

	pthread_mutex_lock(&r->mtx);
	for (n = r->sessions; n != NULL; n = n->next)
		if (strcmp(n->id, id) == 0)
			break;
	if (n == NULL && (n = calloc(1, sizeof(*n))) != NULL) {
		/* Started before a restart: no running hash. */
		snprintf(n->id, sizeof(n->id), "%s", id);
		n->next = r->sessions;
		r->sessions = n;
	}
	if (n == NULL || n->busy) {
		pthread_mutex_unlock(&r->mtx);
		return n == NULL ? BARGE_ENOMEM : BARGE_EEXIST;
	}
	n->busy = 1;
	pthread_mutex_unlock(&r->mtx);
	*out = n;
	return BARGE_OK;
}

static void
registry_session_release(struct registry *r, struct registry_session *n)
{
	pthread_mutex_lock(&r->mtx);
	n->busy = 0;
	pthread_mutex_unlock(&r->mtx);
}

/* Forgets id's entry (finished or cancelled). */
static void
registry_session_drop(struct registry *r, const char *id)
{
	struct registry_session **pp, *n;

	pthread_mutex_lock(&r->mtx);
	for (pp = &r->sessions; (n = *pp) != NULL; pp = &n->next) {
		if (strcmp(n->id, id) == 0) {
			*pp = n->next;
			registry_session_free(n);
			break;
		}
	}
	pthread_mutex_unlock(&r->mtx);
}

/* Sweeps stale sessions now and then; their entries go with them. */
static void
registry_expire(struct registry *r, struct store *s)
{
	struct registry_session **pp, *n;
	struct barge_err err = { 0 };
	time_t now = time(NULL);
	int gone = 0;

	pthread_mutex_lock(&r->mtx);
	if (r->last_expire != 0 && now - r->last_expire < REGISTRY_EXPIRE_EVERY) {
		pthread_mutex_unlock(&r->mtx);
		return;
	}
	r->last_expire = now;
	pthread_mutex_unlock(&r->mtx);
	if (store_upload_expire(s, r->upload_max_age, &gone, &err) != BARGE_OK) {
		if (r->log_error != NULL)
			r->log_error(err.msg);
		return;
	}
	if (gone == 0)
		return;
	/* Point lookups, cheap enough to hold the lock over. */
	pthread_mutex_lock(&r->mtx);
	for (pp = &r->sessions; (n = *pp) != NULL;) {
		if (!n->busy && !store_upload_exists(s, n->id)) {
			*pp = n->next;
			registry_session_free(n);
		} else {
			pp = &n->next;
		}
	}
	pthread_mutex_unlock(&r->mtx);
}

static int
registry_body_cb(struct http_req *req, const void *buf, size_t len, void *arg)
{
	struct registry_body *b = arg;
	struct barge_err err = { 0 };
	void *p;

	(void)req;
	switch (b->kind) {
	case BODY_CHUNK:
		if (b->expect >= 0 && b->written + len > (uint64_t)b->expect)
			return BARGE_ELIMIT;
		errno = 0;
		if (fu_write_all(b->fd, buf, len, &err) != BARGE_OK) {
			b->write_failed = errno ? errno : EIO;
			return BARGE_EIO;
		}
		/* Hash on the way while the session's hash is exactly at this point. */
		if (b->sess->ctx != NULL) {
			if (b->sess->hashed != b->start + (int64_t)b->written ||
			    digest_update(b->sess->ctx, buf, len, &err) != BARGE_OK) {
				digest_free(b->sess->ctx);
				b->sess->ctx = NULL;
			} else {
				b->sess->hashed += (int64_t)len;
			}
		}
		break;
	case BODY_MONOLITHIC:
		if (store_blob_write(b->w, buf, len, &err) != BARGE_OK)
			return err.code == BARGE_EDIGEST ? BARGE_EDIGEST : BARGE_EIO;
		break;
	case BODY_MANIFEST:
		if (b->len + len > MANIFEST_MAX)
			return BARGE_ELIMIT;
		if (b->len + len > b->cap) {
			size_t cap = b->cap ? b->cap : 64 * 1024;

			while (cap < b->len + len)
				cap *= 2;
			if (cap > MANIFEST_MAX)
				cap = MANIFEST_MAX;
			if ((p = realloc(b->buf, cap)) == NULL)
				return BARGE_ENOMEM;
			b->buf = p;
			b->cap = cap;
		}
		memcpy(b->buf + b->len, buf, len);
		b->len += len;
		break;
	}
	b->written += len;
	return BARGE_OK;
}

/* Ends a session as blob b->digest and answers 201, or why not. */
static void
registry_finish(struct registry *r, struct http_req *req, struct store *s,
                const struct registry_route *rt, struct registry_session *sess, const char *digest)
{
	char computed[DIGEST_STR_MAX], *have = NULL;
	struct barge_err err = { 0 };
	int64_t offset = 0, size = 0;
	int rc;

	/* The running hash counts only if it covers every committed byte. */
	if (sess->ctx != NULL && strncmp(digest, "sha256:", 7) == 0 &&
	    store_upload_get(s, rt->repo, rt->reference, &offset, &err) == BARGE_OK &&
	    offset == sess->hashed && digest_final(sess->ctx, computed, &err) == BARGE_OK)
		have = computed;
	if (have != NULL || (sess->ctx != NULL && offset == sess->hashed)) {
		/* digest_final used the context up either way. */
		digest_free(sess->ctx);
		sess->ctx = NULL;
	}
	rc = store_upload_finish(s, rt->repo, rt->reference, digest, have, &size, &err);
	if (rc == BARGE_OK) {
		registry_session_release(r, sess);
		registry_session_drop(r, rt->reference);
		registry_blob_created(req, rt, digest);
		return;
	}
	registry_session_release(r, sess);
	if (rc == BARGE_EDIGEST || rc == BARGE_EINVAL)
		registry_send_error(req, 400, "DIGEST_INVALID", err.msg);
	else if (rc == BARGE_ENOTFOUND)
		registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
	else
		registry_send_internal(r, req, &err);
}

static void
registry_done_cb(struct http_req *req, int rc, void *arg)
{
	struct registry_body *b = arg;
	struct registry *r = b->r;
	struct barge_err err = { 0 };
	struct store_push_result res;

	switch (b->kind) {
	case BODY_CHUNK:
		if (rc != BARGE_OK || (b->expect >= 0 && b->written != (uint64_t)b->expect)) {
			/*
			 * Nothing of a broken chunk counts: the session keeps its
			 * committed length (the next write cuts the rest off), and
			 * the running hash, which saw the bytes, is dropped.
			 */
			digest_free(b->sess->ctx);
			b->sess->ctx = NULL;
			registry_session_release(r, b->sess);
			if ((rc == BARGE_ELIMIT && b->expect >= 0) || rc == BARGE_OK) {
				registry_upload_headers(req, &b->rt, b->rt.reference, b->start);
				registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
				                    "chunk length differs from its Content-Range");
			} else if (rc == BARGE_ELIMIT) {
				registry_send_error(req, 413, "SIZE_INVALID", "blob too large");
			} else if (b->write_failed) {
				err_sys(&err, rc, b->write_failed, "upload %s: writing the chunk",
				        b->rt.reference);
				registry_send_internal(r, req, &err);
			}
			/* Otherwise the client went away: nobody to answer. */
			break;
		}
		close(b->fd);
		b->fd = -1;
		if (store_upload_set_offset(b->s, b->rt.reference, b->start + (int64_t)b->written,
		                            &err) != BARGE_OK) {
			registry_session_release(r, b->sess);
			registry_send_internal(r, req, &err);
			break;
		}
		if (b->finish) {
			registry_finish(r, req, b->s, &b->rt, b->sess, b->digest);
			break;
		}
		registry_session_release(r, b->sess);
		registry_upload_headers(req, &b->rt, b->rt.reference,
		                        b->start + (int64_t)b->written);
		(void)http_respond_buf(req, 202, NULL, "", 0);
		break;
	case BODY_MONOLITHIC:
		if (rc == BARGE_OK) {
			struct store_blob_writer *w = b->w;

			b->w = NULL;
			/* GC must not take the blob between its rename and its link. */
			if ((rc = store_lock_shared(b->s, &err)) != BARGE_OK) {
				store_blob_abort(w);
			} else {
				rc = store_blob_commit(w, &err);
				if (rc == BARGE_OK)
					rc = store_link_blob(b->s, b->rt.repo, b->digest, &err);
				store_unlock(b->s);
			}
			if (rc == BARGE_OK) {
				registry_blob_created(req, &b->rt, b->digest);
				break;
			}
		}
		if (rc == BARGE_EDIGEST)
			registry_send_error(req, 400, "DIGEST_INVALID",
			                    err.msg[0] ? err.msg
			                               : "content does not match the digest");
		else if (rc == BARGE_ELIMIT)
			registry_send_error(req, 413, "SIZE_INVALID", "blob too large");
		else if (rc != BARGE_EIO || err.msg[0])
			registry_send_internal(r, req, &err);
		break;
	case BODY_MANIFEST:
		if (rc == BARGE_ELIMIT) {
			registry_send_error(req, 413, "MANIFEST_INVALID",
			                    "manifest larger than 4 MiB");
			break;
		}
		if (rc != BARGE_OK) {
			if (rc != BARGE_EIO) {
				err_set(&err, rc, "reading the manifest failed");
				registry_send_internal(r, req, &err);
			}
			break;
		}
		rc = store_push_manifest(b->s, b->rt.repo, b->rt.reference, b->buf ? b->buf : "",
		                         b->len, b->content_type[0] ? b->content_type : NULL, &res,
		                         &err);
		if (rc == BARGE_OK) {
			char loc[REGISTRY_NAME_MAX + DIGEST_STR_MAX + 16];

			snprintf(loc, sizeof(loc), "/v2/%s/manifests/%s", b->rt.name, res.digest);
			registry_common_headers(req);
			(void)http_resp_header(req, "Location", loc);
			(void)http_resp_header(req, "Docker-Content-Digest", res.digest);
			if (res.subject[0] != '\0')
				(void)http_resp_header(req, "OCI-Subject", res.subject);
			(void)http_respond_buf(req, 201, NULL, "", 0);
			break;
		}
		switch (res.refusal) {
		case STORE_PUSH_MANIFEST_INVALID:
			registry_send_error(req, 400, "MANIFEST_INVALID", err.msg);
			break;
		case STORE_PUSH_DIGEST_INVALID:
			registry_send_error(req, 400, "DIGEST_INVALID", err.msg);
			break;
		case STORE_PUSH_MANIFEST_BLOB_UNKNOWN:
			registry_send_error(req, 400, "MANIFEST_BLOB_UNKNOWN", err.msg);
			break;
		case STORE_PUSH_TOO_BIG:
			registry_send_error(req, 413, "MANIFEST_INVALID", err.msg);
			break;
		case STORE_PUSH_OK:
			registry_send_internal(r, req, &err);
			break;
		}
		break;
	}
	registry_body_free(b);
}

static struct registry_body *
registry_body_new(struct registry *r, struct store *s, const struct registry_route *rt, int kind)
{
	struct registry_body *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->r = r;
	b->s = s;
	b->rt = *rt;
	b->kind = kind;
	b->fd = -1;
	b->expect = -1;
	return b;
}

/* Hands the body to b; answers (and frees b) when that cannot be. */
static void
registry_take_body(struct http_req *req, struct registry_body *b, uint64_t max)
{
	int rc = http_req_accept_body(req, max, registry_body_cb, registry_done_cb, b);

	if (rc == BARGE_OK)
		return;
	if (b->kind == BODY_CHUNK)
		registry_session_release(b->r, b->sess);
	if (rc == BARGE_ELIMIT)
		registry_send_error(req, 413,
		                    b->kind == BODY_MANIFEST ? "MANIFEST_INVALID" : "SIZE_INVALID",
		                    b->kind == BODY_MANIFEST ? "manifest larger than 4 MiB"
		                                             : "body larger than allowed");
	else
		registry_send_error(req, 500, "UNKNOWN", "internal error");
	registry_body_free(b);
}

/*
 * Content-Range of a PATCH: "<start>-<end>", also as "bytes <start>-<end>[/<n>]"
 * or "bytes=<start>-<end>" as some clients write it.  0 when malformed.
 */
static int
registry_content_range(const char *v, uint64_t *start, uint64_t *end)
{
	const char *p = v;

	if (strncasecmp(p, "bytes", 5) == 0) {
		p += 5;
		if (*p != ' ' && *p != '=')
			return 0;
		p++;
	}
	if ((p = registry_parse_u64(p, start)) == NULL || *p != '-')
		return 0;
	if ((p = registry_parse_u64(p + 1, end)) == NULL || (*p != '\0' && *p != '/'))
		return 0;
	return *end >= *start;
}

/* PATCH, or PUT (finish, with or without a last chunk). */
static void
registry_upload_write(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt, int finish)
{
	struct registry_session *sess = NULL;
	struct registry_body *b = NULL;
	struct barge_err err = { 0 };
	const char *cr, *dg = NULL;
	uint64_t a, z;
	int64_t offset;
	int rc;

	rc = store_upload_get(s, rt->repo, rt->reference, &offset, &err);
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	if (finish) {
		dg = http_req_query(req, "digest");
		if (dg == NULL || !digest_valid(dg)) {
			registry_send_error(req, 400, "DIGEST_INVALID",
			                    "PUT needs ?digest= with a valid digest");
			return;
		}
	}
	if ((rc = registry_session_take(r, rt->reference, &sess)) != BARGE_OK) {
		registry_upload_headers(req, rt, rt->reference, offset);
		if (rc == BARGE_EEXIST)
			registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
			                    "another request is writing to this upload");
		else
			registry_send_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	if (!http_req_has_body(req)) {
		if (finish) {
			registry_finish(r, req, s, rt, sess, dg);
			return;
		}
		registry_session_release(r, sess);
		registry_upload_headers(req, rt, rt->reference, offset);
		(void)http_respond_buf(req, 202, NULL, "", 0);
		return;
	}
	if ((b = registry_body_new(r, s, rt, BODY_CHUNK)) == NULL) {
		registry_session_release(r, sess);
		registry_send_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	b->sess = sess;
	b->start = offset;
	b->finish = finish;
	if (dg != NULL)
		snprintf(b->digest, sizeof(b->digest), "%s", dg);
	if ((cr = http_req_header(req, "Content-Range")) != NULL) {
		if (!registry_content_range(cr, &a, &z) || a != (uint64_t)offset ||
		    z - a + 1 > (uint64_t)INT64_MAX ||
		    (http_req_content_length(req) >= 0 &&
		     (uint64_t)http_req_content_length(req) != z - a + 1)) {
			/* Out of order, repeated, or not this body's length. */
			registry_session_release(r, sess);
			registry_body_free(b);
			registry_upload_headers(req, rt, rt->reference, offset);
			registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
			                    "Content-Range does not continue the upload");
			return;
		}
		b->expect = (int64_t)(z - a + 1);
	}
	if (store_upload_open(s, rt->reference, offset, &b->fd, &err) != BARGE_OK) {
		registry_session_release(r, sess);
		registry_body_free(b);
		registry_send_internal(r, req, &err);
		return;
	}
	registry_take_body(req, b, r->blob_max - (uint64_t)offset);
}

static void
registry_upload_start(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt)
{
	const char *mount = http_req_query(req, "mount"), *from = http_req_query(req, "from");
	const char *dg = http_req_query(req, "digest");
	char id[STORE_UPLOAD_ID_LEN + 1];
	struct barge_err err = { 0 };
	struct registry_body *b;
	int64_t open_now = 0;
	int rc;

	if (mount != NULL && digest_valid(mount)) {
		/* From a named repository we can read, or (no from) any blob the store holds. */
		if (from != NULL ? ref_valid_repo(from) &&
		                           store_push_has_blob(s, from, mount, &err) == BARGE_OK
		                 : store_blob_exists(s, mount)) {
			if (store_link_blob(s, rt->repo, mount, &err) != BARGE_OK) {
				registry_send_internal(r, req, &err);
				return;
			}
			registry_blob_created(req, rt, mount);
			return;
		}
	}
	if (dg != NULL) {
		/* Monolithic: the whole blob in this request's body. */
		if (!digest_valid(dg)) {
			registry_send_error(req, 400, "DIGEST_INVALID", "invalid digest");
			return;
		}
		if ((b = registry_body_new(r, s, rt, BODY_MONOLITHIC)) == NULL) {
			registry_send_error(req, 500, "UNKNOWN", "out of memory");
			return;
		}
		snprintf(b->digest, sizeof(b->digest), "%s", dg);
		if (store_blob_begin(s, dg, http_req_content_length(req), &b->w, &err) !=
		    BARGE_OK) {
			registry_body_free(b);
			registry_send_internal(r, req, &err);
			return;
		}
		if (!http_req_has_body(req)) {
			registry_done_cb(req, BARGE_OK, b); /* an empty blob */
			return;
		}
		registry_take_body(req, b, r->blob_max);
		return;
	}
	registry_expire(r, s);
	if ((rc = store_upload_count(s, &open_now, &err)) != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	if (open_now >= (int64_t)r->max_uploads) {
		(void)http_resp_header(req, "Retry-After", "10");
		registry_send_error(req, 429, "TOOMANYREQUESTS", "too many uploads in progress");
		return;
	}
	if ((rc = store_upload_new(s, rt->repo, id, &err)) != BARGE_OK) {
		if (rc == BARGE_EINVAL)
			registry_send_error(req, 400, "NAME_INVALID", err.msg);
		else
			registry_send_internal(r, req, &err);
		return;
	}
	/* A running hash from the first byte. */
	pthread_mutex_lock(&r->mtx);
	{
		struct registry_session *n = calloc(1, sizeof(*n));

		if (n != NULL) {
			snprintf(n->id, sizeof(n->id), "%s", id);
			if (digest_new(DIGEST_SHA256, &n->ctx, &err) != BARGE_OK)
				n->ctx = NULL;
			n->next = r->sessions;
			r->sessions = n;
		}
	}
	pthread_mutex_unlock(&r->mtx);
	registry_upload_headers(req, rt, id, 0);
	(void)http_respond_buf(req, 202, NULL, "", 0);
}

static void
registry_upload_status(struct registry *r, struct http_req *req, struct store *s,
                       const struct registry_route *rt)
{
	struct barge_err err = { 0 };
	int64_t offset;
	int rc;

	rc = store_upload_get(s, rt->repo, rt->reference, &offset, &err);
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	registry_upload_headers(req, rt, rt->reference, offset);
	(void)http_respond_buf(req, 204, NULL, "", 0);
}

static void
registry_upload_cancel(struct registry *r, struct http_req *req, struct store *s,
                       const struct registry_route *rt)
{
	struct registry_session *sess = NULL;
	struct barge_err err = { 0 };
	int64_t offset;
	int rc;

	rc = store_upload_get(s, rt->repo, rt->reference, &offset, &err);
	if (rc == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
		return;
	}
	if (rc == BARGE_OK && (rc = registry_session_take(r, rt->reference, &sess)) != BARGE_OK) {
		registry_send_error(req, 416, "BLOB_UPLOAD_INVALID",
		                    "another request is writing to this upload");
		return;
	}
	if (rc == BARGE_OK)
		rc = store_upload_delete(s, rt->reference, &err);
	if (sess != NULL) {
		registry_session_release(r, sess);
		registry_session_drop(r, rt->reference);
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	registry_common_headers(req);
	(void)http_respond_buf(req, 204, NULL, "", 0);
}

/* --- manifest PUT and deletes --------------------------------------------- */

static void
registry_manifest_put(struct registry *r, struct http_req *req, struct store *s,
                      const struct registry_route *rt)
{
	const char *ct = http_req_header(req, "Content-Type");
	struct registry_body *b;
	int64_t cl = http_req_content_length(req);

	if ((b = registry_body_new(r, s, rt, BODY_MANIFEST)) == NULL) {
		registry_send_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	if (ct != NULL)
		snprintf(b->content_type, sizeof(b->content_type), "%s", ct);
	if (!http_req_has_body(req)) {
		registry_done_cb(req, BARGE_OK, b);
		return;
	}
	/* A known length is allocated once; a chunked body grows up to the bound. */
	if (cl > 0 && cl <= MANIFEST_MAX) {
		if ((b->buf = malloc((size_t)cl)) == NULL) {
			registry_body_free(b);
			registry_send_error(req, 500, "UNKNOWN", "out of memory");
			return;
		}
		b->cap = (size_t)cl;
	}
	registry_take_body(req, b, MANIFEST_MAX);
}

static void
registry_delete(struct registry *r, struct http_req *req, struct store *s,
                const struct registry_route *rt)
{
	struct barge_err err = { 0 };
	int rc;

	if (!r->allow_delete) {
		(void)http_resp_header(req, "Allow", "GET, HEAD, POST, PATCH, PUT");
		registry_send_error(req, 405, "UNSUPPORTED", "deletes are switched off");
		return;
	}
	if (rt->kind == REGISTRY_ROUTE_BLOB)
		rc = store_push_delete_blob(s, rt->repo, rt->reference, &err);
	else if (rt->is_digest)
		rc = store_push_delete_manifest(s, rt->repo, rt->reference, &err);
	else
		rc = store_push_delete_tag(s, rt->repo, rt->reference, &err);
	if (rc == BARGE_ENOTFOUND) {
		if (rt->kind == REGISTRY_ROUTE_BLOB)
			registry_send_error(req, 404, "BLOB_UNKNOWN", "blob unknown to registry");
		else
			registry_send_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown");
		return;
	}
	if (rc == BARGE_EEXIST) {
		registry_send_error(req, 409, "DENIED", err.msg);
		return;
	}
	if (rc != BARGE_OK) {
		registry_send_internal(r, req, &err);
		return;
	}
	registry_common_headers(req);
	(void)http_respond_buf(req, 202, NULL, "", 0);
}

static void
registry_unsupported(struct http_req *req, const char *allow)
{
	(void)http_resp_header(req, "Allow", allow);
	registry_send_error(req, 405, "UNSUPPORTED", "method not allowed here");
}

void
registry_handle(struct http_req *req, void *arg)
{
	struct registry *r = arg;
	struct registry_route rt;
	struct barge_err err = { 0 };
	const char *method = http_req_method(req);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	struct store *s;
	int rc;

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
		if (get)
			registry_send_json(req, 200, json_object());
		else
			registry_unsupported(req, "GET, HEAD");
		return;
	}
	if ((s = registry_store(r, &err)) == NULL) {
		registry_send_internal(r, req, &err);
		return;
	}
	switch (rt.kind) {
	case REGISTRY_ROUTE_MANIFEST:
		if (get)
			registry_manifest(r, req, s, &rt);
		else if (strcmp(method, "PUT") == 0)
			registry_manifest_put(r, req, s, &rt);
		else if (strcmp(method, "DELETE") == 0)
			registry_delete(r, req, s, &rt);
		else
			registry_unsupported(req, "GET, HEAD, PUT, DELETE");
		break;
	case REGISTRY_ROUTE_BLOB:
		if (get)
			registry_blob(r, req, s, &rt);
		else if (strcmp(method, "DELETE") == 0)
			registry_delete(r, req, s, &rt);
		else
			registry_unsupported(req, "GET, HEAD, DELETE");
		break;
	case REGISTRY_ROUTE_UPLOAD:
		if (rt.reference[0] == '\0') {
			if (strcmp(method, "POST") == 0)
				registry_upload_start(r, req, s, &rt);
			else
				registry_unsupported(req, "POST");
		} else if (!store_upload_id_valid(rt.reference)) {
			registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
		} else if (strcmp(method, "GET") == 0) {
			registry_upload_status(r, req, s, &rt);
		} else if (strcmp(method, "PATCH") == 0) {
			registry_upload_write(r, req, s, &rt, 0);
		} else if (strcmp(method, "PUT") == 0) {
			registry_upload_write(r, req, s, &rt, 1);
		} else if (strcmp(method, "DELETE") == 0) {
			registry_upload_cancel(r, req, s, &rt);
		} else {
			registry_unsupported(req, "GET, PATCH, PUT, DELETE");
		}
		break;
	case REGISTRY_ROUTE_TAGS:
	case REGISTRY_ROUTE_CATALOG:
	case REGISTRY_ROUTE_REFERRERS:
		if (!get)
			registry_unsupported(req, "GET, HEAD");
		else if (rt.kind == REGISTRY_ROUTE_TAGS)
			registry_tags_list(r, req, s, &rt);
		else if (rt.kind == REGISTRY_ROUTE_CATALOG)
			registry_catalog(r, req, s);
		else
			registry_referrers(r, req, s, &rt);
		break;
	case REGISTRY_ROUTE_BASE:
		break;
	}
}
