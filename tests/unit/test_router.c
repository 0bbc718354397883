#include "test_main.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "auth.h"
#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "http_server.h"
#include "metrics.h"
#include "registry.h"
#include "router.h"
#include "store.h"
#include "token.h"

#define REPO "edge/docker.io/library/hello"
#define MANIFEST                                                                                  \
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","      \
	"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","                 \
	"\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"," \
	"\"size\":2},\"layers\":[]}"

static void
test_route_labels(void **state)
{
	(void)state;
	assert_string_equal(router_route_label("/v2/", "edge"), "base");
	assert_string_equal(router_route_label("/v2/" REPO "/manifests/v1", "edge"), "manifest");
	assert_string_equal(router_route_label("/v2/" REPO "/blobs/sha256:"
	                                       "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c"
	                                       "060f61caaff8a",
	                                       "edge"),
	                    "blob");
	assert_string_equal(router_route_label("/v2/" REPO "/blobs/uploads/", "edge"), "upload");
	assert_string_equal(router_route_label("/v2/" REPO "/tags/list", "edge"), "tags");
	assert_string_equal(router_route_label("/v2/_catalog", "edge"), "catalog");
	/* A malformed name is still no label of its own: the series stay bounded. */
	assert_string_equal(router_route_label("/v2/UPPER/manifests/v1", "edge"), "other");
	assert_string_equal(router_route_label("/token", "edge"), "token");
	assert_string_equal(router_route_label("/healthz", "edge"), "healthz");
	assert_string_equal(router_route_label("/readyz", "edge"), "readyz");
	assert_string_equal(router_route_label("/metrics", "edge"), "metrics");
	assert_string_equal(router_route_label("/", "edge"), "ui");
	assert_string_equal(router_route_label("/ui/0123/app.js", "edge"), "ui");
	assert_string_equal(router_route_label("/webhook/mutate", "edge"), "webhook");
	assert_string_equal(router_route_label("/etc/passwd", "edge"), "other");
	assert_string_equal(router_method_label("PATCH"), "PATCH");
	assert_string_equal(router_method_label("BREW"), "other");
}

static void
test_realm(void **state)
{
	char buf[512];

	(void)state;
	router_realm("edge-1.local:30003", 1, buf, sizeof(buf));
	assert_string_equal(buf, "https://edge-1.local:30003/token");
	router_realm("[::1]:5000", 0, buf, sizeof(buf));
	assert_string_equal(buf, "http://[::1]:5000/token");
	/* A Host that could break out of the quoted realm, or none, is not echoed. */
	router_realm("evil\",x=\"y", 1, buf, sizeof(buf));
	assert_string_equal(buf, "https://localhost/token");
	router_realm("a/b", 1, buf, sizeof(buf));
	assert_string_equal(buf, "https://localhost/token");
	router_realm(NULL, 1, buf, sizeof(buf));
	assert_string_equal(buf, "https://localhost/token");
	router_realm("", 0, buf, sizeof(buf));
	assert_string_equal(buf, "http://localhost/token");
}

/* --- through a real server ---------------------------------------------- */

struct served {
	char *dir;
	char *base;
	char *password;
	char *ro_token;
	char manifest_digest[DIGEST_STR_MAX];
	struct auth *auth;
	struct metrics *metrics;
	struct accesslog *alog;
	struct registry *reg;
	struct router *router;
	struct http_server *srv;
};

static void
put_blob(struct store *s, const char *buf, char *digest)
{
	struct store_blob_writer *w = NULL;
	struct barge_err err = { 0 };

	assert_int_equal(digest_buf(DIGEST_SHA256, buf, strlen(buf), digest, &err), BARGE_OK);
	assert_int_equal(store_blob_begin(s, digest, (int64_t)strlen(buf), &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, buf, strlen(buf), &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
}

static int
serve(void **state, int anonymous_pull)
{
	struct served *f = calloc(1, sizeof(*f));
	char config_digest[DIGEST_STR_MAX], *path;
	struct auth_opts ao = { 0 };
	struct registry_opts ro = { 0 };
	struct router_opts to = { 0 };
	struct http_server_opts ho = { 0 };
	struct barge_err err = { 0 };
	struct store *s = NULL;
	size_t len;
	int gen;

	assert_non_null(f);
	f->dir = fx_tmpdir_new("router");
	assert_int_equal(store_open(f->dir, &s, &err), BARGE_OK);
	put_blob(s, "{}", config_digest);
	put_blob(s, MANIFEST, f->manifest_digest);
	assert_int_equal(store_begin(s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(s, REPO, f->manifest_digest,
	                                    "application/vnd.oci.image.manifest.v1+json",
	                                    (int64_t)strlen(MANIFEST), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(s, f->manifest_digest, config_digest, &err), BARGE_OK);
	assert_int_equal(store_put_tag(s, REPO, "v1", f->manifest_digest, &err), BARGE_OK);
	assert_int_equal(store_commit(s, &err), BARGE_OK);
	store_close(s);

	ao.data_dir = f->dir;
	ao.anonymous_pull = anonymous_pull;
	ao.pbkdf2_iter = 1000;
	assert_int_equal(auth_new(&ao, &f->auth, &gen, &err), BARGE_OK);
	path = fu_printf("%s/admin.password", f->dir);
	assert_int_equal(fu_read_file(path, 100, &f->password, &len, &err), BARGE_OK);
	f->password[len - 1] = '\0';
	free(path);
	assert_int_equal(auth_ro_create(f->dir, "nodes", &f->ro_token, &err), BARGE_OK);
	assert_int_equal(metrics_new("9.9.9", &f->metrics, &err), BARGE_OK);
	path = fu_printf("%s/access.log", f->dir);
	assert_int_equal(accesslog_open(path, &f->alog, &err), BARGE_OK);
	free(path);

	ro.data_dir = f->dir;
	ro.project = "edge";
	assert_int_equal(registry_new(&ro, &f->reg, &err), BARGE_OK);
	to.data_dir = f->dir;
	to.project = "edge";
	to.version = "9.9.9";
	to.auth = f->auth;
	to.registry = f->reg;
	to.metrics = f->metrics;
	to.accesslog = f->alog;
	to.webhook_advertise = "127.0.0.1:30003";
	assert_int_equal(router_new(&to, &f->router, &err), BARGE_OK);
	ho.listen = "127.0.0.1:0";
	ho.threads = 2;
	ho.handler = router_handle;
	ho.on_complete = router_complete;
	ho.arg = f->router;
	if (http_server_start(&ho, &f->srv, &err) != BARGE_OK)
		fail_msg("start: %s", err.msg);
	router_set_server(f->router, f->srv);
	f->base = fu_printf("http://127.0.0.1:%d", http_server_port(f->srv));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*state = f;
	return 0;
}

static int
serve_anon(void **state)
{
	return serve(state, 1);
}

static int
serve_closed(void **state)
{
	return serve(state, 0);
}

static int
serve_teardown(void **state)
{
	struct served *f = *state;

	http_server_stop(f->srv);
	router_free(f->router);
	registry_free(f->reg);
	accesslog_close(f->alog);
	metrics_free(f->metrics);
	auth_free(f->auth);
	fx_rmtree(f->dir);
	free(f->dir);
	free(f->base);
	free(f->password);
	free(f->ro_token);
	free(f);
	curl_global_cleanup();
	return 0;
}

struct resp {
	long status;
	char *body;
	size_t len;
	char *head;
	size_t head_len;
};

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	char *p;

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
 * One request.  header is a whole header line ("Content-Type: x") or NULL;
 * body (POST, PUT) may be NULL.  curl sends a POST body as
 * application/x-www-form-urlencoded unless header says otherwise.
 */
static void
req_header(struct served *f, const char *method, const char *path, const char *header,
           const char *body, struct resp *r)
{
	struct curl_slist *hdrs = NULL;
	char *url = fu_printf("%s%s", f->base, path);
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (header != NULL) {
		hdrs = curl_slist_append(hdrs, header);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	free(url);
}

/* One request.  auth is a whole Authorization value or NULL; body may be NULL. */
static void
req(struct served *f, const char *method, const char *path, const char *auth, const char *body,
    struct resp *r)
{
	char *ah = auth != NULL ? fu_printf("Authorization: %s", auth) : NULL;

	req_header(f, method, path, ah, body, r);
	free(ah);
}

static void
resp_free(struct resp *r)
{
	free(r->body);
	free(r->head);
}

static char *
basic(const char *user, const char *pw)
{
	char *raw = fu_printf("%s:%s", user, pw), *out;
	size_t n = strlen(raw);

	out = malloc(6 + 4 * ((n + 2) / 3) + 1);
	assert_non_null(out);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (unsigned char *)raw, (int)n);
	free(raw);
	return out;
}

/* The access token of a 200 /token answer in r, as "Bearer T" (caller frees). */
static char *
token_of(struct resp *r)
{
	char *t, *end, *out;

	assert_int_equal(r->status, 200);
	assert_non_null(strstr(r->head, "Content-Type: application/json"));
	assert_non_null(strstr(r->body, "\"expires_in\":300"));
	assert_non_null(strstr(r->body, "\"issued_at\":\""));
	assert_non_null(t = strstr(r->body, "\"token\":\""));
	t += 9;
	assert_non_null(end = strchr(t, '"'));
	out = fu_printf("Bearer %.*s", (int)(end - t), t);
	/* The OAuth2 name of the same token. */
	assert_non_null(t = strstr(r->body, "\"access_token\":\""));
	assert_memory_equal(t + 16, out + 7, strlen(out + 7));
	return out;
}

/* The token of a GET /token answer for query (after "?service=barged&"), as "Bearer T". */
static char *
fetch_token_query(struct served *f, const char *auth, const char *query)
{
	struct resp r;
	char *path = fu_printf("/token?service=barged&%s", query), *out;

	req(f, "GET", path, auth, NULL, &r);
	out = token_of(&r);
	resp_free(&r);
	free(path);
	return out;
}

/* The token of a /token answer, as "Bearer T" (caller frees). */
static char *
fetch_token(struct served *f, const char *auth, const char *scope)
{
	char *query = fu_printf("scope=%s", scope), *out;

	out = fetch_token_query(f, auth, query);
	free(query);
	return out;
}

static void
test_anonymous_pull_allowed(void **state)
{
	struct served *f = *state;
	struct resp r;

	req(f, "GET", "/v2/" REPO "/manifests/v1", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, MANIFEST);
	resp_free(&r);
	/* Pushing is never anonymous. */
	req(f, "POST", "/v2/" REPO "/blobs/uploads/", NULL, "", &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.head, "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:"));
	assert_non_null(strstr(r.head, "/token\",service=\"barged\",scope=\"repository:" REPO
	                               ":pull,push\"\r\n"));
	assert_non_null(strstr(r.body, "\"UNAUTHORIZED\""));
	resp_free(&r);
	/* /v2/ asks for credentials, so that `docker login` can check them. */
	req(f, "GET", "/v2/", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
}

static void
test_anonymous_pull_denied(void **state)
{
	struct served *f = *state;
	char *ro = basic("nodes", f->ro_token), *bearer;
	struct resp r;

	req(f, "GET", "/v2/" REPO "/manifests/v1", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.head, "scope=\"repository:" REPO ":pull\"\r\n"));
	resp_free(&r);
	/* No anonymous tokens either. */
	req(f, "GET", "/token?service=barged&scope=repository:" REPO ":pull", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	/* The read-only token pulls, directly and through the token dance. */
	req(f, "GET", "/v2/" REPO "/manifests/v1", ro, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	bearer = fetch_token(f, ro, "repository:" REPO ":pull");
	req(f, "GET", "/v2/" REPO "/manifests/v1", bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, MANIFEST);
	resp_free(&r);
	/* The token names its repository: another one needs a new token. */
	req(f, "GET", "/v2/edge/other/manifests/v1", bearer, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.head, "error=\"insufficient_scope\""));
	resp_free(&r);
	free(ro);
	free(bearer);
}

static void
test_token_dance_admin_push(void **state)
{
	struct served *f = *state;
	char *admin = basic("admin", f->password), *wrong = basic("admin", "nope"), *bearer;
	struct resp r;

	req(f, "GET", "/token?service=barged&scope=repository:" REPO ":pull,push", wrong, NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	req(f, "GET", "/v2/", wrong, NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	bearer = fetch_token(f, admin, "repository:" REPO ":pull,push");
	req(f, "GET", "/v2/", bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* The push reaches the registry: an upload session starts. */
	req(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer, "", &r);
	assert_int_equal(r.status, 202);
	assert_non_null(strstr(r.head, "Location: "));
	resp_free(&r);
	/* Basic admin credentials work without the dance too. */
	req(f, "POST", "/v2/" REPO "/blobs/uploads/", admin, "", &r);
	assert_int_equal(r.status, 202);
	resp_free(&r);
	free(admin);
	free(wrong);
	free(bearer);
}

static void
test_readonly_cannot_push(void **state)
{
	struct served *f = *state;
	char *ro = basic("nodes", f->ro_token), *bearer, *raw;
	struct resp r;

	req(f, "POST", "/v2/" REPO "/blobs/uploads/", ro, "", &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "\"DENIED\""));
	resp_free(&r);
	/* A malformed path is no way around it. */
	req(f, "PUT", "/v2/BAD/manifests/x", ro, MANIFEST, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	bearer = fetch_token(f, ro, "repository:" REPO ":pull,push");
	req(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer, "", &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	req(f, "DELETE", "/v2/" REPO "/manifests/v1", bearer, NULL, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	raw = fu_printf("Bearer %s", f->ro_token);
	req(f, "PUT", "/v2/" REPO "/manifests/v2", raw, MANIFEST, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	req(f, "GET", "/v2/" REPO "/manifests/v1", raw, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free(raw);
	free(ro);
	free(bearer);
}

/*
 * A repository that sorts before REPO: containerd sorts its scopes, so a
 * push to REPO that mounts from SRC asks for SRC's pull scope first.
 */
#define SRC "edge/aa/src"

/* A request's status, and that its body is freed. */
static long
status_of(struct served *f, const char *method, const char *path, const char *auth)
{
	struct resp r;
	long status;

	req(f, method, path, auth, method[0] == 'P' ? "" : NULL, &r);
	status = r.status;
	resp_free(&r);
	return status;
}

static void
test_token_several_scopes(void **state)
{
	struct served *f = *state;
	char *admin = basic("admin", f->password), *ro = basic("nodes", f->ro_token), *bearer;
	struct resp r;

	/* The source's pull scope first, as containerd asks when it mounts. */
	bearer = fetch_token_query(
	        f, admin, "scope=repository:" SRC ":pull&scope=repository:" REPO ":pull,push");
	assert_int_equal(status_of(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer), 202);
	assert_int_equal(status_of(f, "GET", "/v2/" REPO "/manifests/v1", bearer), 200);
	/* Authorized on the source: the registry answers, not the router. */
	assert_int_equal(status_of(f, "GET", "/v2/" SRC "/tags/list", bearer), 404);
	free(bearer);
	/* The other order grants the same. */
	bearer = fetch_token_query(
	        f, admin, "scope=repository:" REPO ":pull,push&scope=repository:" SRC ":pull");
	assert_int_equal(status_of(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer), 202);
	assert_int_equal(status_of(f, "GET", "/v2/" SRC "/tags/list", bearer), 404);
	/* Each scope grants what it names: pull on the source is no push there. */
	req(f, "POST", "/v2/" SRC "/blobs/uploads/", bearer, "", &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.head, "error=\"insufficient_scope\""));
	resp_free(&r);
	free(bearer);
	/* A read-only token gets pull on each, and push on none. */
	bearer = fetch_token_query(
	        f, ro, "scope=repository:" SRC ":pull&scope=repository:" REPO ":pull,push");
	assert_int_equal(status_of(f, "GET", "/v2/" REPO "/manifests/v1", bearer), 200);
	assert_int_equal(status_of(f, "GET", "/v2/" SRC "/tags/list", bearer), 404);
	assert_int_equal(status_of(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer), 403);
	free(bearer);
	/* One malformed scope among good ones refuses the request, naming the field. */
	req(f, "GET", "/token?service=barged&scope=repository:" REPO ":pull&scope=repository:a",
	    admin, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"code\":\"UNSUPPORTED\""));
	assert_non_null(strstr(r.body, "\"message\":\"scope: "));
	resp_free(&r);
	free(admin);
	free(ro);
}

static void
test_token_space_separated(void **state)
{
	struct served *f = *state;
	char *admin = basic("admin", f->password), *bearer;

	/* One parameter, several scopes: %20 and + both mean a space. */
	bearer = fetch_token_query(f, admin,
	                           "scope=repository:" SRC ":pull%20repository:" REPO ":pull,push");
	assert_int_equal(status_of(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer), 202);
	assert_int_equal(status_of(f, "GET", "/v2/" SRC "/tags/list", bearer), 404);
	free(bearer);
	bearer = fetch_token_query(f, admin,
	                           "scope=repository:" SRC ":pull+repository:" REPO
	                           ":pull,push&scope=registry:catalog:*");
	assert_int_equal(status_of(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer), 202);
	assert_int_equal(status_of(f, "GET", "/v2/_catalog", bearer), 200);
	free(bearer);
	free(admin);
}

/* POSTs body to /token; the answer's token as "Bearer T", or NULL when not 200. */
static char *
post_token(struct served *f, const char *body, long *status)
{
	struct resp r;
	char *out = NULL;

	req(f, "POST", "/token", NULL, body, &r);
	*status = r.status;
	if (r.status == 200)
		out = token_of(&r);
	resp_free(&r);
	return out;
}

static void
test_token_post_form(void **state)
{
	struct served *f = *state;
	char *body, *bearer, *esc;
	long status;

	/* What containerd sends: url.Values encoded, scopes joined by a space. */
	body = fu_printf("client_id=containerd-client&grant_type=password&password=%s"
	                 "&scope=repository%%3Aedge%%2Faa%%2Fsrc%%3Apull+repository%%3Aedge%%2F"
	                 "docker.io%%2Flibrary%%2Fhello%%3Apull%%2Cpush&service=barged"
	                 "&username=admin",
	                 f->password);
	bearer = post_token(f, body, &status);
	assert_int_equal(status, 200);
	assert_int_equal(status_of(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer), 202);
	assert_int_equal(status_of(f, "GET", "/v2/" SRC "/tags/list", bearer), 404);
	free(bearer);
	free(body);
	/* A read-only token as the refresh token: pull, never push. */
	esc = curl_easy_escape(NULL, f->ro_token, 0);
	body = fu_printf("grant_type=refresh_token&refresh_token=%s&service=barged&client_id=t"
	                 "&scope=repository%%3A" REPO "%%3Apull%%2Cpush",
	                 esc);
	bearer = post_token(f, body, &status);
	assert_int_equal(status, 200);
	assert_int_equal(status_of(f, "GET", "/v2/" REPO "/manifests/v1", bearer), 200);
	assert_int_equal(status_of(f, "POST", "/v2/" REPO "/blobs/uploads/", bearer), 403);
	free(bearer);
	free(body);
	curl_free(esc);
	/* No scope: a token for /v2/ only. */
	body = fu_printf("grant_type=password&username=admin&password=%s", f->password);
	bearer = post_token(f, body, &status);
	assert_int_equal(status, 200);
	assert_int_equal(status_of(f, "GET", "/v2/", bearer), 200);
	assert_int_equal(status_of(f, "GET", "/v2/" REPO "/manifests/v1", bearer), 401);
	free(bearer);
	free(body);
	/* Wrong credentials, and a session token is no refresh token. */
	assert_null(post_token(f, "grant_type=password&username=admin&password=nope", &status));
	assert_int_equal(status, 401);
	assert_null(post_token(f, "grant_type=password&username=nodes&password=nope", &status));
	assert_int_equal(status, 401);
	assert_null(post_token(f, "grant_type=refresh_token&refresh_token=barge_nope", &status));
	assert_int_equal(status, 401);
	body = fu_printf("grant_type=password&username=admin&password=%s", f->password);
	bearer = post_token(f, body, &status);
	free(body);
	body = fu_printf("grant_type=refresh_token&refresh_token=%s", bearer + 7);
	assert_null(post_token(f, body, &status));
	assert_int_equal(status, 401);
	free(body);
	free(bearer);
}

/* POSTs body to /token with header; checks a 4xx OCI error whose message starts with field. */
static void
post_refused(struct served *f, const char *header, const char *body, long status, const char *field)
{
	char *want = fu_printf("\"message\":\"%s: ", field);
	struct resp r;

	req_header(f, "POST", "/token", header, body, &r);
	if (r.status != status || strstr(r.body, want) == NULL)
		fail_msg("POST /token %.60s: %ld %s, expected %ld naming %s", body, r.status,
		         r.body, status, field);
	assert_non_null(strstr(r.head, "Content-Type: application/json"));
	assert_non_null(strstr(r.body, "{\"errors\":[{\"code\":\""));
	resp_free(&r);
	free(want);
}

static void
test_token_post_malformed(void **state)
{
	struct served *f = *state;
	char *big, *body;
	long status;

	/* Bodies past the bound: announced, and streamed without a length. */
	big = malloc(TOKEN_FORM_MAX + 2);
	assert_non_null(big);
	memset(big, 'x', TOKEN_FORM_MAX + 1);
	big[TOKEN_FORM_MAX + 1] = '\0';
	memcpy(big, "grant_type=password&username=admin&password=", 44);
	post_refused(f, NULL, big, 413, "body");
	post_refused(f, "Transfer-Encoding: chunked", big, 413, "body");
	free(big);
	post_refused(f, "Content-Type: application/json", "{\"grant_type\":\"password\"}", 400,
	             "Content-Type");
	post_refused(f, NULL, "", 400, "grant_type");
	post_refused(f, NULL, "username=admin&password=x", 400, "grant_type");
	post_refused(f, NULL, "grant_type=client_credentials", 400, "grant_type");
	post_refused(f, NULL, "grant_type=password&password=x", 400, "username");
	post_refused(f, NULL, "grant_type=password&username=admin", 400, "password");
	post_refused(f, NULL, "grant_type=refresh_token&username=admin", 400, "refresh_token");
	post_refused(f, NULL, "grant_type=password&username=admin&password=%zz", 400, "password");
	post_refused(f, NULL, "grant_type=password&username=admin&password=%4", 400, "password");
	post_refused(f, NULL, "grant_type=password&username=admin&password=a%00b", 400, "password");
	post_refused(f, NULL, "grant_type=password&username=ad%0Amin&password=x", 400, "username");
	post_refused(f, NULL, "grant_type=password&grant_type=password&username=admin&password=x",
	             400, "grant_type");
	body = fu_printf("grant_type=password&username=admin&password=%s&scope=repository%%3Aa",
	                 f->password);
	post_refused(f, NULL, body, 400, "scope");
	free(body);
	/* Parameters the server does not know are ignored, as OAuth2 asks. */
	body = fu_printf("grant_type=password&username=admin&password=%s&access_type=offline"
	                 "&x%%zz=%%zz&&=",
	                 f->password);
	free(post_token(f, body, &status));
	assert_int_equal(status, 200);
	free(body);
}

static void
test_ops_endpoints(void **state)
{
	struct served *f = *state;
	char *path, *log = NULL, *bytes;
	struct barge_err err = { 0 };
	struct resp r;
	size_t len;
	int i;

	req(f, "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	req(f, "GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	req(f, "GET", "/v2/" REPO "/manifests/v1", NULL, NULL, &r);
	resp_free(&r);
	req(f, "GET", "/", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: text/html"));
	assert_non_null(strstr(r.head, "Content-Security-Policy: default-src 'self'"));
	assert_non_null(strstr(r.body, "/app.js\"></script>"));
	resp_free(&r);
	/*
	 * Requests are counted once the server has sent the whole answer,
	 * which may be just after the client has it: ask again until the
	 * manifest GET shows, for up to 10 s on a loaded machine.
	 */
	for (i = 0; i < 500; i++) {
		req(f, "GET", "/metrics", NULL, NULL, &r);
		if (strstr(r.body, "route=\"manifest\"") != NULL)
			break;
		resp_free(&r);
		usleep(20000);
	}
	if (i == 500)
		fail_msg("/metrics did not count the manifest GET within 10 s");
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(r.body,
	                       "barged_http_requests_total{route=\"healthz\",method=\"GET\","
	                       "status=\"200\"} 1\n"));
	assert_non_null(strstr(r.body, "barged_http_requests_total{route=\"manifest\",method="
	                               "\"GET\",status=\"200\"} 1\n"));
	bytes = fu_printf("barged_http_response_bytes_total{route=\"manifest\"} %zu\n",
	                  strlen(MANIFEST));
	assert_non_null(strstr(r.body, bytes));
	free(bytes);
	assert_non_null(strstr(r.body, "barged_store_blobs 2\n"));
	assert_non_null(strstr(r.body, "barged_store_tags 1\n"));
	assert_null(strstr(r.body, "barged_store_images"));
	assert_non_null(strstr(
	        r.body, "barged_http_request_duration_seconds_count{route=\"manifest\"} 1\n"));
	assert_non_null(strstr(r.body, "\nprocess_resident_memory_bytes "));
	/* This request at least; others may not have completed yet. */
	assert_non_null(strstr(r.body, "barged_http_requests_in_flight "));
	assert_null(strstr(r.body, "barged_http_requests_in_flight 0\n"));
	resp_free(&r);
	req(f, "GET", "/nope", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	/* A review for something that is not a pod is allowed, unpatched. */
	req(f, "POST", "/webhook/mutate", NULL,
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u-1\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
	    "\"kind\":\"ConfigMap\"},\"object\":{}}}",
	    &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: application/json"));
	assert_non_null(strstr(r.body, "\"response\":{\"uid\":\"u-1\",\"allowed\":true}"));
	resp_free(&r);

	/*
	 * The access log has a line per request.  A line is written once the
	 * server has sent the whole answer, which may be just after the
	 * client has it: wait for the last one, up to 10 s on a loaded machine.
	 */
	path = fu_printf("%s/access.log", f->dir);
	for (i = 0; i < 500; i++) {
		assert_int_equal(fu_read_file(path, 1 << 20, &log, &len, &err), BARGE_OK);
		if (strstr(log, "\"path\":\"/webhook/mutate\",\"status\":200") != NULL)
			break;
		free(log);
		log = NULL;
		usleep(20000);
	}
	assert_non_null(log);
	assert_non_null(strstr(log, "\"method\":\"GET\",\"path\":\"/healthz\",\"status\":200,"));
	assert_non_null(strstr(log, "\"remote\":\"127.0.0.1\""));
	free(log);
	free(path);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_route_labels),
	cmocka_unit_test(test_realm),
	cmocka_unit_test_setup_teardown(test_anonymous_pull_allowed, serve_anon, serve_teardown),
	cmocka_unit_test_setup_teardown(test_anonymous_pull_denied, serve_closed, serve_teardown),
	cmocka_unit_test_setup_teardown(test_token_dance_admin_push, serve_anon, serve_teardown),
	cmocka_unit_test_setup_teardown(test_readonly_cannot_push, serve_closed, serve_teardown),
	cmocka_unit_test_setup_teardown(test_ops_endpoints, serve_anon, serve_teardown),
	cmocka_unit_test_setup_teardown(test_token_several_scopes, serve_closed, serve_teardown),
	cmocka_unit_test_setup_teardown(test_token_space_separated, serve_closed, serve_teardown),
	cmocka_unit_test_setup_teardown(test_token_post_form, serve_closed, serve_teardown),
	cmocka_unit_test_setup_teardown(test_token_post_malformed, serve_closed, serve_teardown),
};

BARGE_TEST_MAIN(tests)
