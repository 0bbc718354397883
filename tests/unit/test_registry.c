#include "test_main.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <jansson.h>

#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "http_server.h"
#include "mediatype.h"
#include "ref.h"
#include "registry.h"
#include "registry_range.h"
#include "registry_route.h"
#include "store.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D64 "sha256:" H64

/* --- route parsing ------------------------------------------------------- */

struct route_case {
	const char *path;
	const char *ns;
	const char *project;
	int rc;
	enum registry_route_kind kind;
	const char *repo;      /* expected repository (rc == BARGE_OK) */
	const char *reference; /* expected reference, or NULL */
	const char *error;     /* expected OCI code (rc == BARGE_EINVAL) */
};

static const struct route_case route_cases[] = {
	{ "/v2/", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_BASE, "", NULL, NULL },
	{ "/v2", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_BASE, "", NULL, NULL },
	{ "/v2/edge/docker.io/library/nginx/manifests/1.25", NULL, NULL, BARGE_OK,
	  REGISTRY_ROUTE_MANIFEST, "edge/docker.io/library/nginx", "1.25", NULL },
	{ "/v2/edge/docker.io/library/nginx/manifests/" D64, NULL, NULL, BARGE_OK,
	  REGISTRY_ROUTE_MANIFEST, "edge/docker.io/library/nginx", D64, NULL },
	{ "/v2/a/blobs/" D64, NULL, NULL, BARGE_OK, REGISTRY_ROUTE_BLOB, "a", D64, NULL },
	{ "/v2/a/b/c/tags/list", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_TAGS, "a/b/c", NULL, NULL },
	/* Path components named like the API's are part of the name. */
	{ "/v2/x/manifests/y/blobs/manifests/latest", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_MANIFEST,
	  "x/manifests/y/blobs", "latest", NULL },
	{ "/v2/tags/list/tags/list", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_TAGS, "tags/list", NULL,
	  NULL },
	/* Push, catalog and referrers routes. */
	{ "/v2/a/b/blobs/uploads/", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_UPLOAD, "a/b", "", NULL },
	{ "/v2/a/b/blobs/uploads", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_UPLOAD, "a/b", "", NULL },
	{ "/v2/a/blobs/uploads/6cb3ba83-e7c8-48af-a615-cb2d3287bb81", NULL, NULL, BARGE_OK,
	  REGISTRY_ROUTE_UPLOAD, "a", "6cb3ba83-e7c8-48af-a615-cb2d3287bb81", NULL },
	{ "/v2/_catalog", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_CATALOG, "", NULL, NULL },
	{ "/v2/a/referrers/" D64, NULL, NULL, BARGE_OK, REGISTRY_ROUTE_REFERRERS, "a", D64, NULL },
	{ "/v2/a/referrers/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "DIGEST_INVALID" },
	/* Mirror requests. */
	{ "/v2/library/nginx/manifests/1.25", "docker.io", NULL, BARGE_OK, REGISTRY_ROUTE_MANIFEST,
	  "edge/docker.io/library/nginx", "1.25", NULL },
	{ "/v2/library/nginx/manifests/1.25", "index.docker.io", NULL, BARGE_OK,
	  REGISTRY_ROUTE_MANIFEST, "edge/docker.io/library/nginx", "1.25", NULL },
	{ "/v2/library/nginx/blobs/" D64, "registry-1.docker.io", NULL, BARGE_OK,
	  REGISTRY_ROUTE_BLOB, "edge/docker.io/library/nginx", D64, NULL },
	{ "/v2/library/nginx/tags/list", "Docker.IO", "prod", BARGE_OK, REGISTRY_ROUTE_TAGS,
	  "prod/docker.io/library/nginx", NULL, NULL },
	{ "/v2/team/app/manifests/v1", "registry.local:5000", NULL, BARGE_OK,
	  REGISTRY_ROUTE_MANIFEST, "edge/registry.local_5000/team/app", "v1", NULL },
	{ "/v2/app/manifests/v1", "localhost:5000", NULL, BARGE_OK, REGISTRY_ROUTE_MANIFEST,
	  "edge/localhost_5000/app", "v1", NULL },
	{ "/v2/app/manifests/v1", "ghcr.io", NULL, BARGE_OK, REGISTRY_ROUTE_MANIFEST,
	  "edge/ghcr.io/app", "v1", NULL },
	/* Bad namespaces. */
	{ "/v2/app/manifests/v1", "notahost", NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/app/manifests/v1", "", NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/app/manifests/v1", "a.io/b", NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/app/manifests/v1", "a.io@x", NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/app/manifests/v1", "a.io:notaport", NULL, BARGE_EINVAL, 0, NULL, NULL,
	  "NAME_INVALID" },
	{ "/v2/library/../etc/manifests/v1", "docker.io", NULL, BARGE_EINVAL, 0, NULL, NULL,
	  "NAME_INVALID" },
	{ "/v2/library/nginx:1/manifests/v1", "docker.io", NULL, BARGE_EINVAL, 0, NULL, NULL,
	  "NAME_INVALID" },
	{ "/v2/library/nginx@x/manifests/v1", "docker.io", NULL, BARGE_EINVAL, 0, NULL, NULL,
	  "NAME_INVALID" },
	/* Bad names. */
	{ "/v2/Upper/manifests/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/a/../b/manifests/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/../manifests/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/a//b/manifests/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2//manifests/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/a b/manifests/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/-a/manifests/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	/* Bad references.  A manifest's is no error of the route: it names no manifest. */
	{ "/v2/a/manifests/-bad", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_MANIFEST, "a", "-bad",
	  NULL },
	{ "/v2/a/manifests/", NULL, NULL, BARGE_OK, REGISTRY_ROUTE_MANIFEST, "a", "", NULL },
	{ "/v2/Upper/manifests/-bad", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "NAME_INVALID" },
	{ "/v2/a/manifests/sha256:xyz", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "DIGEST_INVALID" },
	{ "/v2/a/blobs/latest", NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "DIGEST_INVALID" },
	{ "/v2/a/blobs/sha256:"
	  "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  NULL, NULL, BARGE_EINVAL, 0, NULL, NULL, "DIGEST_INVALID" },
	{ "/v2/a/blobs/md5:0123456789abcdef0123456789abcdef", NULL, NULL, BARGE_EINVAL, 0, NULL,
	  NULL, "DIGEST_INVALID" },
	/* Not API routes. */
	{ "/", NULL, NULL, BARGE_ENOTFOUND, 0, NULL, NULL, NULL },
	{ "/v1/", NULL, NULL, BARGE_ENOTFOUND, 0, NULL, NULL, NULL },
	{ "/v2x/a/manifests/latest", NULL, NULL, BARGE_ENOTFOUND, 0, NULL, NULL, NULL },
	{ "/v2/a/foo/bar", NULL, NULL, BARGE_ENOTFOUND, 0, NULL, NULL, NULL },
	{ "/v2/a/tags/list/", NULL, NULL, BARGE_ENOTFOUND, 0, NULL, NULL, NULL },
	{ "/v2/a", NULL, NULL, BARGE_ENOTFOUND, 0, NULL, NULL, NULL },
};

static void
test_route_table(void **state)
{
	struct registry_route rt;
	struct barge_err err = { 0 };
	size_t i;
	int rc;

	for (i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
		const struct route_case *c = &route_cases[i];

		rc = registry_route_parse(c->path, c->ns, c->project, &rt, &err);
		if (rc != c->rc)
			fail_msg("%s ns=%s: rc %d, want %d (%s)", c->path, c->ns ? c->ns : "-", rc,
			         c->rc, err.msg);
		if (rc == BARGE_EINVAL && strcmp(rt.error, c->error) != 0)
			fail_msg("%s ns=%s: %s, want %s", c->path, c->ns ? c->ns : "-", rt.error,
			         c->error);
		if (rc != BARGE_OK)
			continue;
		if (rt.kind != c->kind || strcmp(rt.repo, c->repo) != 0)
			fail_msg("%s ns=%s: kind %d repo '%s', want %d '%s'", c->path,
			         c->ns ? c->ns : "-", rt.kind, rt.repo, c->kind, c->repo);
		if (c->reference != NULL) {
			assert_string_equal(rt.reference, c->reference);
			assert_int_equal(rt.is_digest, strchr(c->reference, ':') != NULL);
			assert_int_equal(rt.tag_invalid, c->kind == REGISTRY_ROUTE_MANIFEST &&
			                                         !rt.is_digest &&
			                                         !ref_valid_tag(c->reference));
		}
	}
}

/* A mirror request maps to the repository the loader gives the same image. */
static void
test_route_ns_matches_loader(void **state)
{
	static const char *const refs[][3] = {
		{ "[::1]:5000", "app", "[::1]:5000/app:1" },
		{ "[fd00::2]", "a/b", "[fd00::2]/a/b:1" },
		{ "docker.io", "library/nginx", "nginx:1" },
		{ "my.registry:443", "x/y/z", "my.registry:443/x/y/z:1" },
	};
	struct registry_route rt;
	struct barge_err err = { 0 };
	struct ref *r = NULL;
	char *path, *want;
	size_t i;

	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		assert_int_equal(ref_parse(refs[i][2], &r, &err), BARGE_OK);
		want = ref_local_repo(r, "edge");
		assert_non_null(want);
		path = fu_printf("/v2/%s/manifests/1", refs[i][1]);
		if (registry_route_parse(path, refs[i][0], "edge", &rt, &err) != BARGE_OK)
			fail_msg("%s ns=%s: %s", path, refs[i][0], err.msg);
		assert_string_equal(rt.repo, want);
		free(path);
		free(want);
		ref_free(r);
	}
}

static void
test_route_too_long(void **state)
{
	struct registry_route rt;
	struct barge_err err = { 0 };
	char *path, *name;
	size_t i;

	/* Longer than a repository may be, though each component is fine. */
	name = malloc(301);
	assert_non_null(name);
	for (i = 0; i < 300; i++)
		name[i] = i % 10 == 9 ? '/' : 'a';
	name[300] = '\0';
	path = fu_printf("/v2/%s/manifests/latest", name);
	assert_int_equal(registry_route_parse(path, NULL, NULL, &rt, &err), BARGE_EINVAL);
	assert_string_equal(rt.error, "NAME_INVALID");
	free(path);
	free(name);

	/* Longer than the name buffer. */
	name = malloc(REGISTRY_NAME_MAX + 2);
	assert_non_null(name);
	memset(name, 'a', REGISTRY_NAME_MAX + 1);
	name[REGISTRY_NAME_MAX + 1] = '\0';
	path = fu_printf("/v2/%s/tags/list", name);
	assert_int_equal(registry_route_parse(path, NULL, NULL, &rt, &err), BARGE_EINVAL);
	assert_string_equal(rt.error, "NAME_INVALID");
	free(path);

	/* Longer than any URL the server takes. */
	name = realloc(name, HTTP_URL_MAX + 2);
	memset(name, 'a', HTTP_URL_MAX + 1);
	name[HTTP_URL_MAX + 1] = '\0';
	path = fu_printf("/v2/a/manifests/%s", name);
	assert_int_equal(registry_route_parse(path, NULL, NULL, &rt, &err), BARGE_EINVAL);
	free(path);

	/* A tag of 129 characters, and one longer than the reference buffer: no manifest's. */
	memset(name, 'a', 129);
	name[129] = '\0';
	path = fu_printf("/v2/a/manifests/%s", name);
	assert_int_equal(registry_route_parse(path, NULL, NULL, &rt, &err), BARGE_OK);
	assert_true(rt.tag_invalid);
	free(path);
	memset(name, 'a', REGISTRY_REF_MAX + 1);
	name[REGISTRY_REF_MAX + 1] = '\0';
	path = fu_printf("/v2/a/manifests/%s", name);
	assert_int_equal(registry_route_parse(path, NULL, NULL, &rt, &err), BARGE_OK);
	assert_true(rt.tag_invalid);
	assert_string_equal(rt.reference, "");
	free(path);
	free(name);

	/* A namespace longer than any host. */
	name = malloc(300);
	memset(name, 'a', 299);
	memcpy(name + 290, ".io", 4);
	assert_int_equal(registry_route_parse("/v2/a/manifests/1", name, NULL, &rt, &err),
	                 BARGE_EINVAL);
	assert_string_equal(rt.error, "NAME_INVALID");
	free(name);
}

/* --- range parsing ------------------------------------------------------- */

struct range_case {
	const char *hdr;
	uint64_t size;
	enum registry_range want;
	uint64_t start, len;
};

static const struct range_case range_cases[] = {
	{ NULL, 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=0-99", 1000, REGISTRY_RANGE_PARTIAL, 0, 100 },
	{ "bytes=100-", 1000, REGISTRY_RANGE_PARTIAL, 100, 900 },
	{ "bytes=-100", 1000, REGISTRY_RANGE_PARTIAL, 900, 100 },
	{ "bytes=-2000", 1000, REGISTRY_RANGE_PARTIAL, 0, 1000 },
	{ "bytes=0-5000", 1000, REGISTRY_RANGE_PARTIAL, 0, 1000 },
	{ "bytes=999-999", 1000, REGISTRY_RANGE_PARTIAL, 999, 1 },
	{ "bytes=999-", 1000, REGISTRY_RANGE_PARTIAL, 999, 1 },
	{ "BYTES=0-0", 1000, REGISTRY_RANGE_PARTIAL, 0, 1 },
	{ "bytes=1000-", 1000, REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=1000-2000", 1000, REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=-0", 1000, REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=0-", 0, REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=-1", 0, REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ NULL, 0, REGISTRY_RANGE_FULL, 0, 0 },
	/* Invalid specs make the header ignored. */
	{ "bytes=5-4", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=abc", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=-", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=1-2-3", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=1-2x", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=-5x", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes= 0-1", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=+1-2", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "items=0-1", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "0-1", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	/* Several ranges: the whole body is sent instead. */
	{ "bytes=0-1,5-6", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=0-1, 5-6", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=-1,-2", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	/* Numbers beyond 64 bits. */
	{ "bytes=99999999999999999999999-", 1000, REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=99999999999999999999999-99999999999999999999999", 1000,
	  REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=0-99999999999999999999999", 1000, REGISTRY_RANGE_PARTIAL, 0, 1000 },
	{ "bytes=-99999999999999999999999", 1000, REGISTRY_RANGE_PARTIAL, 0, 1000 },
	{ "bytes=99999999999999999999999-5", 1000, REGISTRY_RANGE_FULL, 0, 0 },
	{ "bytes=18446744073709551615-", UINT64_MAX, REGISTRY_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=18446744073709551614-", UINT64_MAX, REGISTRY_RANGE_PARTIAL, UINT64_MAX - 1, 1 },
};

static void
test_range_table(void **state)
{
	enum registry_range got;
	uint64_t start, len;
	size_t i;

	for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const struct range_case *c = &range_cases[i];

		start = len = 12345;
		got = registry_range_parse(c->hdr, c->size, &start, &len);
		if (got != c->want)
			fail_msg("'%s' size %llu: %d, want %d", c->hdr ? c->hdr : "(none)",
			         (unsigned long long)c->size, got, c->want);
		if (got == REGISTRY_RANGE_PARTIAL && (start != c->start || len != c->len))
			fail_msg("'%s': %llu+%llu, want %llu+%llu", c->hdr,
			         (unsigned long long)start, (unsigned long long)len,
			         (unsigned long long)c->start, (unsigned long long)c->len);
	}
}

/* --- a real store served over HTTP -------------------------------------- */

#define REPO       "edge/docker.io/library/nginx"
#define REPO_PORT  "edge/registry.local_5000/team/app"
#define LAYER_SIZE (3 * 1024 * 1024 + 17)

struct served {
	char *dir;
	struct registry *reg;
	struct http_server *srv;
	char *base;
	unsigned char *layer;
	char layer_digest[DIGEST_STR_MAX];
	char config_digest[DIGEST_STR_MAX];
	char *manifest;
	char manifest_digest[DIGEST_STR_MAX];
	char other_digest[DIGEST_STR_MAX]; /* stored, but no manifest of REPO references it */
};

static void
put_blob(struct store *s, const void *buf, size_t len, char *digest)
{
	struct store_blob_writer *w = NULL;
	struct barge_err err = { 0 };

	assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, digest, &err), BARGE_OK);
	assert_int_equal(store_blob_begin(s, digest, (int64_t)len, &w, &err), BARGE_OK);
	/* In pieces, as a stream would come. */
	assert_int_equal(store_blob_write(w, buf, len / 2, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, (const char *)buf + len / 2, len - len / 2, &err),
	                 BARGE_OK);
	if (store_blob_commit(w, &err) != BARGE_OK)
		fail_msg("commit %s: %s", digest, err.msg);
}

/* What the router does with a request it allows: parse its route once, and serve that. */
static void
registry_handler(struct http_req *req, void *arg)
{
	struct registry_route rt;
	struct barge_err err = { 0 };
	int rc;

	rc = registry_route_request(arg, req, &rt, &err);
	registry_serve(arg, req, rc, &rt, &err);
}

static int
serve_setup_with(void **state, int allow_delete)
{
	static const char config[] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
	static const char other[] = "not referenced by any manifest of " REPO;
	static const char *const tags[] = { "latest", "1.25", "c", "a", "b" };
	struct served *f = calloc(1, sizeof(*f));
	struct registry_opts ro = { 0 };
	struct http_server_opts ho = { 0 };
	struct barge_err err = { 0 };
	struct store *s = NULL;
	size_t i;

	assert_non_null(f);
	f->dir = fx_tmpdir_new("registry");
	assert_int_equal(store_open(f->dir, &s, &err), BARGE_OK);

	f->layer = malloc(LAYER_SIZE);
	assert_non_null(f->layer);
	for (i = 0; i < LAYER_SIZE; i++)
		f->layer[i] = (unsigned char)((i * 31 + i / 4099) & 0xff);
	put_blob(s, f->layer, LAYER_SIZE, f->layer_digest);
	put_blob(s, config, strlen(config), f->config_digest);
	put_blob(s, other, strlen(other), f->other_digest);
	/* Odd spacing: served bytes must be the stored ones, never re-serialised. */
	f->manifest = fu_printf("{\"schemaVersion\": 2,\n  \"mediaType\": \"%s\",\n"
	                        "  \"config\": {\"mediaType\": \"%s\", \"digest\": \"%s\", "
	                        "\"size\": %zu},\n  \"layers\": [{\"mediaType\": \"%s\", "
	                        "\"digest\": \"%s\", \"size\": %d}]}\n",
	                        MT_OCI_MANIFEST, MT_OCI_CONFIG, f->config_digest, strlen(config),
	                        MT_OCI_LAYER_GZ, f->layer_digest, LAYER_SIZE);
	put_blob(s, f->manifest, strlen(f->manifest), f->manifest_digest);

	assert_int_equal(store_begin(s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(s, REPO, f->manifest_digest, MT_OCI_MANIFEST,
	                                    (int64_t)strlen(f->manifest), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(s, f->manifest_digest, f->config_digest, &err), BARGE_OK);
	assert_int_equal(store_put_ref(s, f->manifest_digest, f->layer_digest, &err), BARGE_OK);
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		assert_int_equal(store_put_tag(s, REPO, tags[i], f->manifest_digest, &err),
		                 BARGE_OK);
	assert_int_equal(store_put_manifest(s, REPO_PORT, f->manifest_digest, MT_OCI_MANIFEST,
	                                    (int64_t)strlen(f->manifest), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_tag(s, REPO_PORT, "v1", f->manifest_digest, &err), BARGE_OK);
	if (store_commit(s, &err) != BARGE_OK)
		fail_msg("commit: %s", err.msg);
	store_close(s);

	ro.data_dir = f->dir;
	ro.project = "edge";
	ro.allow_delete = allow_delete;
	assert_int_equal(registry_new(&ro, &f->reg, &err), BARGE_OK);
	ho.listen = "127.0.0.1:0";
	ho.threads = 2;
	ho.handler = registry_handler;
	ho.arg = f->reg;
	if (http_server_start(&ho, &f->srv, &err) != BARGE_OK)
		fail_msg("start: %s", err.msg);
	f->base = fu_printf("http://127.0.0.1:%d", http_server_port(f->srv));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*state = f;
	return 0;
}

static int
serve_setup(void **state)
{
	return serve_setup_with(state, 0);
}

static int
serve_setup_delete(void **state)
{
	return serve_setup_with(state, 1);
}

static int
serve_teardown(void **state)
{
	struct served *f = *state;

	http_server_stop(f->srv);
	registry_free(f->reg);
	fx_rmtree(f->dir);
	free(f->dir);
	free(f->base);
	free(f->layer);
	free(f->manifest);
	free(f);
	curl_global_cleanup();
	return 0;
}

struct resp {
	long status;
	unsigned char *body;
	size_t len;
	char *head;
	size_t head_len;
	curl_off_t clen;
};

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	unsigned char *p;

	if (r->len + size * n > 64 * 1024 * 1024)
		return 0;
	p = realloc(r->body, r->len + size * n + 1);
	assert_non_null(p);
	memcpy(p + r->len, data, size * n);
	r->body = p;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t
collect_head(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	char *p;

	p = realloc(r->head, r->head_len + size * n + 1);
	assert_non_null(p);
	memcpy(p + r->head_len, data, size * n);
	r->head = p;
	r->head_len += size * n;
	r->head[r->head_len] = '\0';
	return size * n;
}

/*
 * method is GET, HEAD or any other verb, sent with len bytes of body; range
 * may be NULL.  Returns curl's code: a connection the server ended without
 * an answer is CURLE_GOT_NOTHING or a send or receive error.
 */
static CURLcode
req_body(struct served *f, const char *method, const char *path, const char *range,
         const void *body, size_t len, struct resp *r)
{
	struct curl_slist *hdrs = NULL;
	char *url = fu_printf("%s%s", f->base, path), *rh = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;

	assert_non_null(c);
	memset(r, 0, sizeof(*r));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (range != NULL) {
		rh = fu_printf("Range: %s", range);
		hdrs = curl_slist_append(hdrs, rh);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->clen);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	free(rh);
	free(url);
	if (r->head == NULL)
		r->head = strdup("");
	if (r->body == NULL)
		r->body = (unsigned char *)strdup("");
	return rc;
}

/* req_body with a small body ("{}"), failing the test when no answer comes. */
static void
req(struct served *f, const char *method, const char *path, const char *range, struct resp *r)
{
	CURLcode rc = req_body(f, method, path, range, "{}", 2, r);

	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
}

static void
resp_free(struct resp *r)
{
	free(r->body);
	free(r->head);
}

/* The value of header name in r ("" when absent), in a static buffer. */
static const char *
header(const struct resp *r, const char *name)
{
	static char val[1024];
	const char *line = r->head, *end, *v;
	size_t n = strlen(name);

	val[0] = '\0';
	for (; line != NULL && *line != '\0'; line = end != NULL ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (strncasecmp(line, name, n) != 0 || line[n] != ':')
			continue;
		for (v = line + n + 1; *v == ' '; v++)
			;
		n = end != NULL ? (size_t)(end - v) : strlen(v);
		while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
			n--;
		if (n >= sizeof(val))
			n = sizeof(val) - 1;
		memcpy(val, v, n);
		val[n] = '\0';
		break;
	}
	return val;
}

/* The first OCI error code of a response body. */
static void
assert_oci_error(const struct resp *r, long status, const char *code)
{
	json_t *j, *e;

	if (r->status != status)
		fail_msg("status %ld, want %ld (%s)", r->status, status, (char *)r->body);
	assert_string_equal(header(r, "Content-Type"), "application/json");
	j = json_loadb((const char *)r->body, r->len, 0, NULL);
	assert_non_null(j);
	e = json_array_get(json_object_get(j, "errors"), 0);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_non_null(json_string_value(json_object_get(e, "message")));
	assert_true(json_is_object(json_object_get(e, "detail")));
	json_decref(j);
}

static void
test_serve_base(void **state)
{
	struct served *f = *state;
	struct resp r;

	req(f, "GET", "/v2/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, "{}");
	assert_string_equal(header(&r, "Docker-Distribution-API-Version"), "registry/2.0");
	resp_free(&r);
}

static void
test_serve_manifest(void **state)
{
	struct served *f = *state;
	char *path;
	struct resp r;
	int i;

	for (i = 0; i < 2; i++) {
		path = fu_printf("/v2/" REPO "/manifests/%s", i == 0 ? "1.25" : f->manifest_digest);
		req(f, "GET", path, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.len, strlen(f->manifest));
		assert_memory_equal(r.body, f->manifest, r.len);
		assert_string_equal(header(&r, "Docker-Content-Digest"), f->manifest_digest);
		assert_string_equal(header(&r, "Content-Type"), MT_OCI_MANIFEST);
		assert_string_equal(header(&r, "Docker-Distribution-API-Version"), "registry/2.0");
		resp_free(&r);

		req(f, "HEAD", path, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.len, 0);
		assert_int_equal(r.clen, (curl_off_t)strlen(f->manifest));
		assert_string_equal(header(&r, "Docker-Content-Digest"), f->manifest_digest);
		assert_string_equal(header(&r, "Content-Type"), MT_OCI_MANIFEST);
		resp_free(&r);
		free(path);
	}
}

static void
test_serve_blob_and_ranges(void **state)
{
	struct served *f = *state;
	char *path = fu_printf("/v2/" REPO "/blobs/%s", f->layer_digest), *want;
	struct resp r;

	req(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, LAYER_SIZE);
	assert_memory_equal(r.body, f->layer, LAYER_SIZE);
	assert_string_equal(header(&r, "Docker-Content-Digest"), f->layer_digest);
	assert_string_equal(header(&r, "Accept-Ranges"), "bytes");
	assert_string_equal(header(&r, "Content-Type"), "application/octet-stream");
	resp_free(&r);

	req(f, "HEAD", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.clen, LAYER_SIZE);
	assert_int_equal(r.len, 0);
	resp_free(&r);

	req(f, "GET", path, "bytes=1048570-2097160", &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 2097160 - 1048570 + 1);
	assert_memory_equal(r.body, f->layer + 1048570, r.len);
	want = fu_printf("bytes 1048570-2097160/%d", LAYER_SIZE);
	assert_string_equal(header(&r, "Content-Range"), want);
	free(want);
	resp_free(&r);

	req(f, "GET", path, "bytes=-10", &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 10);
	assert_memory_equal(r.body, f->layer + LAYER_SIZE - 10, 10);
	want = fu_printf("bytes %d-%d/%d", LAYER_SIZE - 10, LAYER_SIZE - 1, LAYER_SIZE);
	assert_string_equal(header(&r, "Content-Range"), want);
	free(want);
	resp_free(&r);

	want = fu_printf("bytes=%d-", LAYER_SIZE);
	req(f, "GET", path, want, &r);
	free(want);
	assert_int_equal(r.status, 416);
	want = fu_printf("bytes */%d", LAYER_SIZE);
	assert_string_equal(header(&r, "Content-Range"), want);
	free(want);
	resp_free(&r);

	/* Several ranges: the whole blob. */
	req(f, "GET", path, "bytes=0-1,5-6", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, LAYER_SIZE);
	resp_free(&r);
	free(path);
}

/* The tags of a page, comma-joined, and its Link header. */
static void
tags_page(struct served *f, const char *query, const char *want_tags, const char *want_link)
{
	char *path = fu_printf("/v2/" REPO "/tags/list%s", query), got[256] = "";
	struct resp r;
	json_t *j, *t;
	size_t i;

	req(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	j = json_loadb((const char *)r.body, r.len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "name")), REPO);
	json_array_foreach(json_object_get(j, "tags"), i, t)
	{
		if (i > 0)
			strcat(got, ",");
		strcat(got, json_string_value(t));
	}
	assert_true(json_is_array(json_object_get(j, "tags")));
	assert_string_equal(got, want_tags);
	assert_string_equal(header(&r, "Link"), want_link);
	json_decref(j);
	resp_free(&r);
	free(path);
}

static void
test_serve_tags_pagination(void **state)
{
	struct served *f = *state;
	struct resp r;

	tags_page(f, "", "1.25,a,b,c,latest", "");
	tags_page(f, "?n=2", "1.25,a", "</v2/" REPO "/tags/list?n=2&last=a>; rel=\"next\"");
	tags_page(f, "?n=2&last=a", "b,c", "</v2/" REPO "/tags/list?n=2&last=c>; rel=\"next\"");
	tags_page(f, "?n=2&last=c", "latest", "");
	tags_page(f, "?n=5", "1.25,a,b,c,latest", "");
	tags_page(f, "?n=0", "", "");
	tags_page(f, "?n=99999999999999999999", "1.25,a,b,c,latest", "");
	tags_page(f, "?last=latest", "", "");

	req(f, "GET", "/v2/" REPO "/tags/list?n=abc", NULL, &r);
	assert_oci_error(&r, 400, "PAGINATION_NUMBER_INVALID");
	resp_free(&r);
	req(f, "GET", "/v2/" REPO "/tags/list?n=-1", NULL, &r);
	assert_oci_error(&r, 400, "PAGINATION_NUMBER_INVALID");
	resp_free(&r);
	req(f, "GET", "/v2/edge/nothing/tags/list", NULL, &r);
	assert_oci_error(&r, 404, "NAME_UNKNOWN");
	resp_free(&r);
}

static void
test_serve_mirror_ns(void **state)
{
	struct served *f = *state;
	char *path;
	struct resp r;
	json_t *j;

	req(f, "GET", "/v2/library/nginx/manifests/1.25?ns=docker.io", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, f->manifest, strlen(f->manifest));
	assert_string_equal(header(&r, "Docker-Content-Digest"), f->manifest_digest);
	resp_free(&r);

	req(f, "HEAD", "/v2/library/nginx/manifests/latest?ns=index.docker.io", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Docker-Content-Digest"), f->manifest_digest);
	resp_free(&r);

	req(f, "GET", "/v2/team/app/manifests/v1?ns=registry.local:5000", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Docker-Content-Digest"), f->manifest_digest);
	resp_free(&r);

	path = fu_printf("/v2/library/nginx/blobs/%s?ns=docker.io", f->config_digest);
	req(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
	resp_free(&r);
	free(path);

	/* Pages of a mirror request link back with its ns. */
	req(f, "GET", "/v2/library/nginx/tags/list?ns=docker.io&n=1", NULL, &r);
	assert_int_equal(r.status, 200);
	j = json_loadb((const char *)r.body, r.len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "library/nginx");
	json_decref(j);
	assert_string_equal(
	        header(&r, "Link"),
	        "</v2/library/nginx/tags/list?n=1&last=1.25&ns=docker.io>; rel=\"next\"");
	resp_free(&r);

	req(f, "GET", "/v2/library/nginx/manifests/1.25?ns=quay.io", NULL, &r);
	assert_oci_error(&r, 404, "NAME_UNKNOWN");
	resp_free(&r);
	req(f, "GET", "/v2/library/nginx/manifests/1.25?ns=nohost", NULL, &r);
	assert_oci_error(&r, 400, "NAME_INVALID");
	resp_free(&r);
}

static void
test_serve_errors(void **state)
{
	struct served *f = *state;
	char *path;
	struct resp r;

	req(f, "GET", "/v2/" REPO "/manifests/nope", NULL, &r);
	assert_oci_error(&r, 404, "MANIFEST_UNKNOWN");
	assert_string_equal(header(&r, "Docker-Distribution-API-Version"), "registry/2.0");
	resp_free(&r);
	req(f, "GET", "/v2/" REPO "/manifests/" D64, NULL, &r);
	assert_oci_error(&r, 404, "MANIFEST_UNKNOWN");
	resp_free(&r);
	req(f, "GET", "/v2/edge/nothing/manifests/latest", NULL, &r);
	assert_oci_error(&r, 404, "NAME_UNKNOWN");
	resp_free(&r);
	req(f, "GET", "/v2/" REPO "/blobs/" D64, NULL, &r);
	assert_oci_error(&r, 404, "BLOB_UNKNOWN");
	resp_free(&r);
	/* Stored, but not part of this repository. */
	path = fu_printf("/v2/" REPO "/blobs/%s", f->other_digest);
	req(f, "GET", path, NULL, &r);
	assert_oci_error(&r, 404, "BLOB_UNKNOWN");
	resp_free(&r);
	free(path);
	/* Blobs of one repository are not served through another. */
	path = fu_printf("/v2/edge/nothing/blobs/%s", f->layer_digest);
	req(f, "GET", path, NULL, &r);
	assert_oci_error(&r, 404, "BLOB_UNKNOWN");
	resp_free(&r);
	free(path);

	req(f, "GET", "/v2/" REPO "/blobs/sha256:nothex", NULL, &r);
	assert_oci_error(&r, 400, "DIGEST_INVALID");
	resp_free(&r);
	/* A reference that is no tag names no manifest (the spec's 404); a PUT to it is a 400. */
	req(f, "GET", "/v2/" REPO "/manifests/-x", NULL, &r);
	assert_oci_error(&r, 404, "MANIFEST_UNKNOWN");
	resp_free(&r);
	req(f, "HEAD", "/v2/" REPO "/manifests/-x", NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	req(f, "GET", "/v2/edge/nothing/manifests/-x", NULL, &r);
	assert_oci_error(&r, 404, "NAME_UNKNOWN");
	resp_free(&r);
	req(f, "PUT", "/v2/" REPO "/manifests/-x", NULL, &r);
	assert_oci_error(&r, 400, "TAG_INVALID");
	resp_free(&r);
	req(f, "GET", "/v2/edge/../etc/manifests/latest", NULL, &r);
	assert_oci_error(&r, 400, "NAME_INVALID");
	resp_free(&r);
	req(f, "GET", "/v2/edge/%2e%2e/etc/manifests/latest", NULL, &r);
	assert_oci_error(&r, 400, "NAME_INVALID");
	resp_free(&r);
	req(f, "GET", "/nothing", NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	/* "{}" is no manifest. */
	req(f, "PUT", "/v2/" REPO "/manifests/new", NULL, &r);
	assert_oci_error(&r, 400, "MANIFEST_INVALID");
	resp_free(&r);
	req(f, "PATCH", "/v2/" REPO "/manifests/new", NULL, &r);
	assert_oci_error(&r, 405, "UNSUPPORTED");
	resp_free(&r);
	req(f, "PATCH", "/v2/" REPO "/blobs/uploads/6cb3ba83-e7c8-48af-a615-cb2d3287bb81", NULL,
	    &r);
	assert_oci_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
	resp_free(&r);
	/* Deletes are off unless the registry is told otherwise. */
	req(f, "DELETE", "/v2/" REPO "/manifests/1.25", NULL, &r);
	assert_oci_error(&r, 405, "UNSUPPORTED");
	resp_free(&r);
	path = fu_printf("/v2/" REPO "/blobs/%s", f->layer_digest);
	req(f, "DELETE", path, NULL, &r);
	assert_oci_error(&r, 405, "UNSUPPORTED");
	resp_free(&r);
	free(path);
	/* Nothing was deleted. */
	req(f, "HEAD", "/v2/" REPO "/manifests/1.25", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

/* Whether _catalog lists repo; tags/list must agree (200, or 404 NAME_UNKNOWN). */
static void
assert_repo_listed(struct served *f, const char *repo, int listed)
{
	char *path = fu_printf("/v2/%s/tags/list", repo);
	struct resp r;
	json_t *j, *v;
	size_t i;
	int found = 0;

	req(f, "GET", "/v2/_catalog", NULL, &r);
	assert_int_equal(r.status, 200);
	j = json_loadb((const char *)r.body, r.len, 0, NULL);
	assert_non_null(j);
	json_array_foreach(json_object_get(j, "repositories"), i, v)
	{
		found |= strcmp(json_string_value(v), repo) == 0;
	}
	json_decref(j);
	resp_free(&r);
	if (found != listed)
		fail_msg("_catalog %s %s", listed ? "misses" : "lists", repo);
	req(f, "GET", path, NULL, &r);
	if (listed)
		assert_int_equal(r.status, 200);
	else
		assert_oci_error(&r, 404, "NAME_UNKNOWN");
	resp_free(&r);
	free(path);
}

static void
test_serve_deletes(void **state)
{
	struct served *f = *state;
	char *path;
	struct resp r;
	int i;

	/* A blob a manifest of the repository names: refused, each time, and still served. */
	path = fu_printf("/v2/" REPO "/blobs/%s", f->layer_digest);
	for (i = 0; i < 2; i++) {
		req(f, "DELETE", path, NULL, &r);
		assert_oci_error(&r, 409, "DENIED");
		assert_non_null(strstr((const char *)r.body, f->manifest_digest));
		resp_free(&r);
		req(f, "HEAD", path, NULL, &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
	}
	free(path);

	/* A reference that is no tag names no manifest. */
	req(f, "DELETE", "/v2/" REPO "/manifests/-x", NULL, &r);
	assert_oci_error(&r, 404, "MANIFEST_UNKNOWN");
	resp_free(&r);

	/* A repository holding only a mounted blob is no repository of the listings. */
	path = fu_printf("/v2/edge/mounted/only/blobs/uploads/?mount=%s", f->other_digest);
	req(f, "POST", path, NULL, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	free(path);
	assert_repo_listed(f, "edge/mounted/only", 0);
	/* Its blob is served until deleted; the delete takes effect, once. */
	path = fu_printf("/v2/edge/mounted/only/blobs/%s", f->other_digest);
	req(f, "HEAD", path, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	req(f, "DELETE", path, NULL, &r);
	assert_int_equal(r.status, 202);
	resp_free(&r);
	req(f, "GET", path, NULL, &r);
	assert_oci_error(&r, 404, "BLOB_UNKNOWN");
	resp_free(&r);
	req(f, "DELETE", path, NULL, &r);
	assert_oci_error(&r, 404, "BLOB_UNKNOWN");
	resp_free(&r);
	free(path);

	/* A repository emptied by deletes is gone from both listings. */
	assert_repo_listed(f, REPO_PORT, 1);
	path = fu_printf("/v2/" REPO_PORT "/manifests/%s", f->manifest_digest);
	req(f, "DELETE", path, NULL, &r);
	assert_int_equal(r.status, 202);
	resp_free(&r);
	assert_repo_listed(f, REPO_PORT, 0);
	req(f, "GET", path, NULL, &r);
	assert_oci_error(&r, 404, "MANIFEST_UNKNOWN");
	resp_free(&r);
	free(path);
	assert_repo_listed(f, REPO, 1);
}

/* Files this process writes stop at limit bytes (EFBIG), as a full disk stops them; 0: no limit. */
static void
file_limit(rlim_t limit)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = limit != 0 ? limit : rl.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Entries in dir, . and .. aside. */
static int
dir_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* A chunk the disk cannot take: 507, its bytes gone, the session where it was and resumable. */
static void
test_serve_chunk_no_room(void **state)
{
	struct served *f = *state;
	char loc[512], range[64], *file, *path;
	struct stat st;
	struct resp r;
	CURLcode rc;

	req_body(f, "POST", "/v2/" REPO "/blobs/uploads/", NULL, "", 0, &r);
	assert_int_equal(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	file = fu_printf("%s/uploads/%s", f->dir, header(&r, "Docker-Upload-UUID"));
	resp_free(&r);

	file_limit(2 * 1024 * 1024);
	rc = req_body(f, "PATCH", loc, NULL, f->layer, LAYER_SIZE, &r);
	file_limit(0);
	if (rc != CURLE_OK)
		fail_msg("PATCH beyond the room left: no answer (%s)", curl_easy_strerror(rc));
	assert_oci_error(&r, 507, "DENIED");
	assert_non_null(strstr((const char *)r.body, "File too large"));
	resp_free(&r);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, 0);
	req(f, "GET", loc, NULL, &r);
	assert_int_equal(r.status, 204);
	assert_string_equal(header(&r, "Range"), "0-0");
	resp_free(&r);

	/* With room again, the same chunk at the same offset, and the blob is whole. */
	assert_int_equal(req_body(f, "PATCH", loc, NULL, f->layer, LAYER_SIZE, &r), CURLE_OK);
	assert_int_equal(r.status, 202);
	snprintf(range, sizeof(range), "0-%d", LAYER_SIZE - 1);
	assert_string_equal(header(&r, "Range"), range);
	resp_free(&r);
	path = fu_printf("%s?digest=%s", loc, f->layer_digest);
	assert_int_equal(req_body(f, "PUT", path, NULL, "", 0, &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	free(path);
	free(file);
}

/* A monolithic blob the disk cannot take: 507, nothing left in tmp/, and a later push works. */
static void
test_serve_monolithic_no_room(void **state)
{
	struct served *f = *state;
	unsigned char *blob = malloc(LAYER_SIZE);
	char digest[DIGEST_STR_MAX], *path, *tmp = fu_printf("%s/tmp", f->dir);
	struct barge_err err = { 0 };
	struct resp r;
	CURLcode rc;

	assert_non_null(blob);
	memcpy(blob, f->layer, LAYER_SIZE);
	blob[0] ^= 0xff;
	assert_int_equal(digest_buf(DIGEST_SHA256, blob, LAYER_SIZE, digest, &err), BARGE_OK);
	path = fu_printf("/v2/" REPO "/blobs/uploads/?digest=%s", digest);

	file_limit(2 * 1024 * 1024);
	rc = req_body(f, "POST", path, NULL, blob, LAYER_SIZE, &r);
	file_limit(0);
	if (rc != CURLE_OK)
		fail_msg("POST beyond the room left: no answer (%s)", curl_easy_strerror(rc));
	assert_oci_error(&r, 507, "DENIED");
	resp_free(&r);
	assert_int_equal(dir_entries(tmp), 0);

	assert_int_equal(req_body(f, "POST", path, NULL, blob, LAYER_SIZE, &r), CURLE_OK);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	free(path);
	free(tmp);
	free(blob);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_route_table),
	cmocka_unit_test(test_route_ns_matches_loader),
	cmocka_unit_test(test_route_too_long),
	cmocka_unit_test(test_range_table),
	cmocka_unit_test_setup_teardown(test_serve_base, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_manifest, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_blob_and_ranges, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_tags_pagination, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_mirror_ns, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_errors, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_deletes, serve_setup_delete, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_chunk_no_room, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_serve_monolithic_no_room, serve_setup, serve_teardown),
};

BARGE_TEST_MAIN(tests)
