/*
 * test_api: the admin API's auth, CSRF, scope and rate-limit rules, and its
 * answers, through a real barged router on 127.0.0.1 serving a store with
 * a pushed image and a bundle's image (api.h, docs/api.md).
 */
#include "test_main.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_events.h"
#include "api_session.h"
#include "auth.h"
#include "fileutil.h"
#include "http_server.h"
#include "import.h"
#include "metrics.h"
#include "proxy.h"
#include "registry.h"
#include "router.h"
#include "store_fixture.h"
#include "store_push.h"
#include "upload.h"

#define HELLO  "edge/docker.io/library/hello"
#define PINNED "edge/docker.io/library/pinned"

struct served {
	struct fixture fx;
	char *base;
	char *password;
	struct fx_image hello, pinned;
	char referrer[DIGEST_STR_MAX]; /* an artifact whose subject is hello */
	struct auth *auth;
	struct metrics *metrics;
	struct registry *reg;
	struct upload *upload;
	struct router *router;
	struct http_server *srv;
	struct proxy *proxy; /* NULL but for serve_setup_proxy */
};

struct resp {
	long status;
	char *body;
	char *head;
	size_t len, head_len;
};

/* Pushes an SBOM-like artifact whose subject is hello's manifest. */
static void
add_referrer(struct store *s, struct served *f)
{
	struct store_push_result res;
	struct barge_err err = { 0 };
	char empty[DIGEST_STR_MAX], *doc;

	assert_int_equal(store_push_init(s, &err), BARGE_OK);
	fx_blob(s, "{}", empty);
	assert_int_equal(store_link_blob(s, HELLO, empty, &err), BARGE_OK);
	doc = fu_printf(
	        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"artifactType\":\"application/spdx+json\",\"config\":{\"mediaType\":"
	        "\"application/vnd.oci.empty.v1+json\",\"digest\":\"%s\",\"size\":2},"
	        "\"layers\":[],\"subject\":{\"mediaType\":"
	        "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%lld}}",
	        empty, f->hello.manifest, (long long)f->hello.manifest_size);
	assert_int_equal(digest_buf(DIGEST_SHA256, doc, strlen(doc), f->referrer, &err), BARGE_OK);
	if (store_push_manifest(s, HELLO, f->referrer, doc, strlen(doc),
	                        "application/vnd.oci.image.manifest.v1+json", &res,
	                        &err) != BARGE_OK)
		fail_msg("referrer: %s", err.msg);
	free(doc);
}

/*
 * A pull-through cache of one upstream whose URL carries credentials
 * (never contacted: the overview only reads its state).
 */
static struct proxy *
new_proxy(const char *dir)
{
	struct proxy_upstream up = { .registry = "docker.io" };
	struct proxy_opts po = { 0 };
	struct barge_err err = { 0 };
	struct proxy *p = NULL;

	up.opts.url = "http://user:secret@127.0.0.1:9/prefix";
	po.data_dir = dir;
	po.upstreams = &up;
	po.nupstreams = 1;
	if (proxy_new(&po, &p, &err) != BARGE_OK)
		fail_msg("proxy_new: %s", err.msg);
	return p;
}

static int
serve(void **state, int tls, int with_proxy)
{
	struct served *f = calloc(1, sizeof(*f));
	const char *layer[] = { "hello layer" }, *layer2[] = { "pinned layer" };
	struct auth_opts ao = { 0 };
	struct registry_opts ro = { 0 };
	struct router_opts to = { 0 };
	struct upload_opts uo = { 0 };
	struct http_server_opts ho = { 0 };
	struct barge_err err = { 0 };
	struct store *s = NULL;
	char *path;
	size_t len;
	int64_t id;
	int gen;

	assert_non_null(f);
	fx_tmpdir(f->fx.dir, "api");
	assert_int_equal(store_open(f->fx.dir, &s, &err), BARGE_OK);
	fx_image_blobs(s,
	               "{\"os\":\"linux\",\"architecture\":\"amd64\",\"created\":\"2024-01-02T03:"
	               "04:05Z\"}",
	               layer, 1, &f->hello);
	fx_image_blobs(s, "{\"os\":\"linux\",\"architecture\":\"arm64\"}", layer2, 1, &f->pinned);
	fx_begin(s);
	fx_record(s, HELLO, &f->hello, "v1", 0);
	/* A bundle whose name holds markup: it must come back as a plain JSON string. */
	id = fx_bundle(s, "<b>edge</b>", "1.0");
	fx_record(s, PINNED, &f->pinned, "v2", id);
	fx_commit(s);
	add_referrer(s, f);
	store_close(s);

	ao.data_dir = f->fx.dir;
	ao.anonymous_pull = 0;
	ao.pbkdf2_iter = 1000;
	assert_int_equal(auth_new(&ao, &f->auth, &gen, &err), BARGE_OK);
	path = fu_printf("%s/admin.password", f->fx.dir);
	assert_int_equal(fu_read_file(path, 100, &f->password, &len, &err), BARGE_OK);
	f->password[len - 1] = '\0';
	free(path);
	assert_int_equal(metrics_new("9.9.9", &f->metrics, &err), BARGE_OK);
	ro.data_dir = f->fx.dir;
	ro.project = "edge";
	assert_int_equal(registry_new(&ro, &f->reg, &err), BARGE_OK);
	to.data_dir = f->fx.dir;
	to.project = "edge";
	to.version = "9.9.9";
	to.auth = f->auth;
	to.registry = f->reg;
	to.metrics = f->metrics;
	to.webhook_advertise = "registry.local:30003";
	to.tls = tls;
	uo.data_dir = f->fx.dir;
	assert_int_equal(upload_new(&uo, &f->upload, &err), BARGE_OK);
	to.upload = f->upload;
	to.proxy = f->proxy = with_proxy ? new_proxy(f->fx.dir) : NULL;
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
serve_setup(void **state)
{
	return serve(state, 0, 0);
}

/* The router told that it serves HTTPS (the server itself speaks plain HTTP here). */
static int
serve_setup_tls(void **state)
{
	return serve(state, 1, 0);
}

/* A pull-through cache of the store (serve, with_proxy set). */
static int
serve_setup_proxy(void **state)
{
	return serve(state, 0, 1);
}

static int
serve_teardown(void **state)
{
	struct served *f = *state;

	http_server_stop(f->srv);
	router_free(f->router);
	proxy_free(f->proxy);
	upload_free(f->upload);
	registry_free(f->reg);
	metrics_free(f->metrics);
	auth_free(f->auth);
	fx_rmtree(f->fx.dir);
	free(f->base);
	free(f->password);
	free(f);
	curl_global_cleanup();
	return 0;
}

static size_t
grow(char **buf, size_t *len, const char *data, size_t n)
{
	char *p = realloc(*buf, *len + n + 1);

	assert_non_null(p);
	memcpy(p + *len, data, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
	return n;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	return grow(&r->body, &r->len, data, size * n);
}

static size_t
on_head(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	return grow(&r->head, &r->head_len, data, size * n);
}

/*
 * One request to path.  h1, h2: whole header lines or NULL; body (may be
 * NULL) is sent as is.
 */
static void
call(struct served *f, const char *method, const char *path, const char *h1, const char *h2,
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
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (h1 != NULL)
		hdrs = curl_slist_append(hdrs, h1);
	if (h2 != NULL)
		hdrs = curl_slist_append(hdrs, h2);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "GET") != 0)
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

static void
resp_free(struct resp *r)
{
	free(r->body);
	free(r->head);
	memset(r, 0, sizeof(*r));
}

/* The error code of an error answer. */
static void
assert_error(const struct resp *r, long status, const char *code)
{
	json_t *doc = json_loads(r->body != NULL ? r->body : "", 0, NULL);

	if (r->status != status)
		fail_msg("status %ld, wanted %ld: %s", r->status, status, r->body);
	assert_non_null(doc);
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(doc, "error"), "code")), code);
	json_decref(doc);
}

/* "Authorization: Basic ..." for user:pw into buf. */
static void
basic(const char *user, const char *pw, char *buf, size_t len)
{
	static const char b64[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char raw[512];
	size_t n = (size_t)snprintf(raw, sizeof(raw), "%s:%s", user, pw), i, o;

	o = (size_t)snprintf(buf, len, "Authorization: Basic ");
	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)raw[i] << 16 |
		             (i + 1 < n ? (unsigned char)raw[i + 1] << 8 : 0) |
		             (i + 2 < n ? (unsigned char)raw[i + 2] : 0);

		assert_true(o + 5 < len);
		buf[o++] = b64[v >> 18];
		buf[o++] = b64[(v >> 12) & 63];
		buf[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		buf[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	buf[o] = '\0';
}

/* A login; on success the "Cookie: ..." and "X-CSRF-Token: ..." lines. */
static long
login(struct served *f, const char *user, const char *pw, char *cookie, char *csrf)
{
	char *body = fu_printf("{\"username\":\"%s\",\"password\":\"%s\"}", user, pw), *p;
	json_t *doc;
	struct resp r;
	long status;

	call(f, "POST", "/api/v1/login", NULL, NULL, body, &r);
	free(body);
	status = r.status;
	if (status == 200) {
		assert_non_null(p = strstr(r.head, "barge_session="));
		snprintf(cookie, 128, "Cookie: %.78s", p);
		assert_non_null(doc = json_loads(r.body, 0, NULL));
		snprintf(csrf, 128, "X-CSRF-Token: %s",
		         json_string_value(json_object_get(doc, "csrf")));
		json_decref(doc);
	}
	resp_free(&r);
	return status;
}

static char *
make_token(struct served *f, const char *name, long long expires, const char *scope)
{
	struct barge_err err = { 0 };
	const char *globs[1] = { scope };
	char *tok = NULL;

	assert_int_equal(
	        auth_ro_create_scoped(f->fx.dir, name, expires, globs, scope ? 1 : 0, &tok, &err),
	        BARGE_OK);
	return tok;
}

/* --- the tests -------------------------------------------------------------- */

static void
test_login_wrong_password(void **state)
{
	struct served *f = *state;
	char cookie[128], csrf[128];
	struct resp r;

	assert_int_equal(login(f, "admin", "wrong", cookie, csrf), 401);
	assert_int_equal(login(f, "nobody", "wrong", cookie, csrf), 401);
	/* No identity, no reads. */
	call(f, "GET", "/api/v1/overview", NULL, NULL, NULL, &r);
	assert_error(&r, 401, "UNAUTHORIZED");
	resp_free(&r);
	assert_int_equal(login(f, "admin", f->password, cookie, csrf), 200);
}

static void
test_login_rate_limit(void **state)
{
	struct served *f = *state;
	char cookie[128], csrf[128];
	struct resp r;
	int i;

	for (i = 0; i < API_LOGIN_FAILS; i++)
		assert_int_equal(login(f, "admin", "wrong", cookie, csrf), 401);
	/* The 6th attempt is refused, even with the right password. */
	call(f, "POST", "/api/v1/login", NULL, NULL, "{\"username\":\"admin\",\"password\":\"x\"}",
	     &r);
	assert_error(&r, 429, "TOO_MANY");
	assert_non_null(strcasestr(r.head, "Retry-After: "));
	resp_free(&r);
	assert_int_equal(login(f, "admin", f->password, cookie, csrf), 429);
	/* Basic credentials are a login too: refused from this address, even the right ones. */
	basic("admin", f->password, cookie, sizeof(cookie));
	call(f, "GET", "/api/v1/overview", cookie, NULL, NULL, &r);
	assert_error(&r, 429, "TOO_MANY");
	assert_non_null(strcasestr(r.head, "Retry-After: "));
	resp_free(&r);
}

/*
 * Wrong Basic credentials on the API count toward the same per-address
 * limit as POST /api/v1/login: after API_LOGIN_FAILS, the right ones are
 * refused too (429, Retry-After), and so is a login.
 */
static void
test_basic_rate_limit(void **state)
{
	struct served *f = *state;
	char cookie[128], csrf[128], hdr[256];
	struct resp r;
	int i;

	basic("admin", "wrong", hdr, sizeof(hdr));
	for (i = 0; i < API_LOGIN_FAILS; i++) {
		call(f, "GET", "/api/v1/overview", hdr, NULL, NULL, &r);
		assert_error(&r, 401, "UNAUTHORIZED");
		resp_free(&r);
	}
	basic("admin", f->password, hdr, sizeof(hdr));
	call(f, "GET", "/api/v1/overview", hdr, NULL, NULL, &r);
	assert_error(&r, 429, "TOO_MANY");
	assert_non_null(strcasestr(r.head, "Retry-After: "));
	resp_free(&r);
	assert_int_equal(login(f, "admin", f->password, cookie, csrf), 429);
}

static void
test_session_cookie(void **state)
{
	struct served *f = *state;
	char cookie[128], csrf[128], *body;
	json_t *doc;
	struct resp r;

	assert_int_equal(login(f, "admin", f->password, cookie, csrf), 200);
	call(f, "GET", "/api/v1/session", cookie, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(doc, "role")), "admin");
	assert_string_equal(csrf + strlen("X-CSRF-Token: "),
	                    json_string_value(json_object_get(doc, "csrf")));
	json_decref(doc);
	resp_free(&r);
	/* The cookie's attributes. */
	body = fu_printf("{\"username\":\"admin\",\"password\":\"%s\"}", f->password);
	call(f, "POST", "/api/v1/login", NULL, NULL, body, &r);
	free(body);
	assert_non_null(strstr(r.head, "; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"));
	assert_null(strstr(r.head, "Secure"));
	resp_free(&r);
	/* Logout (with its CSRF token) ends the session. */
	call(f, "POST", "/api/v1/logout", cookie, csrf, NULL, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	call(f, "GET", "/api/v1/session", cookie, NULL, NULL, &r);
	assert_error(&r, 401, "UNAUTHORIZED");
	resp_free(&r);
}

/* Over TLS the cookie is Secure, on login and on logout. */
static void
test_session_cookie_secure(void **state)
{
	struct served *f = *state;
	char *body = fu_printf("{\"username\":\"admin\",\"password\":\"%s\"}", f->password);
	struct resp r;

	call(f, "POST", "/api/v1/login", NULL, NULL, body, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "; HttpOnly; SameSite=Strict; Max-Age=43200; Secure\r\n"));
	resp_free(&r);
	free(body);
}

static void
test_csrf(void **state)
{
	struct served *f = *state;
	char cookie[128], csrf[128], auth[256];
	struct resp r;

	assert_int_equal(login(f, "admin", f->password, cookie, csrf), 200);
	/* A cookie-authenticated write without the header, or with a wrong one: 403 CSRF. */
	call(f, "POST", "/api/v1/gc", cookie, NULL, "{}", &r);
	assert_error(&r, 403, "CSRF");
	resp_free(&r);
	call(f, "POST", "/api/v1/gc", cookie,
	     "X-CSRF-Token: 0000000000000000000000000000000000000000000000000000000000000000", "{}",
	     &r);
	assert_error(&r, 403, "CSRF");
	resp_free(&r);
	call(f, "DELETE", "/api/v1/tags?repo=" HELLO "&tag=v1", cookie, NULL, NULL, &r);
	assert_error(&r, 403, "CSRF");
	resp_free(&r);
	/* The upload too, which upload.c answers. */
	call(f, "PUT", "/api/v1/bundles", cookie, NULL, "not a bundle", &r);
	assert_error(&r, 403, "CSRF");
	resp_free(&r);
	/* Nothing was deleted. */
	call(f, "GET", "/api/v1/tags?repo=" HELLO, cookie, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"tag\":\"v1\""));
	resp_free(&r);
	/* With the session's token it goes through. */
	call(f, "POST", "/api/v1/gc", cookie, csrf, "{}", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"removed_blobs\":"));
	resp_free(&r);
	/* Basic credentials carry no ambient authority: no CSRF token needed. */
	basic("admin", f->password, auth, sizeof(auth));
	call(f, "POST", "/api/v1/gc", auth, NULL, "{}", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_readonly_session(void **state)
{
	struct served *f = *state;
	char cookie[128], csrf[128], *tok = make_token(f, "viewer", 0, NULL);
	json_t *doc;
	struct resp r;

	assert_int_equal(login(f, "viewer", "barge_wrong", cookie, csrf), 401);
	assert_int_equal(login(f, "viewer", tok, cookie, csrf), 200);
	call(f, "GET", "/api/v1/session", cookie, NULL, NULL, &r);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(doc, "role")), "read-only");
	assert_string_equal(json_string_value(json_object_get(doc, "user")), "viewer");
	json_decref(doc);
	resp_free(&r);
	/* Reads yes; deletes, GC, tokens no, CSRF token or not. */
	call(f, "GET", "/api/v1/tags?repo=" HELLO, cookie, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, "DELETE", "/api/v1/tags?repo=" HELLO "&tag=v1", cookie, csrf, NULL, &r);
	assert_error(&r, 403, "FORBIDDEN");
	resp_free(&r);
	call(f, "POST", "/api/v1/gc", cookie, csrf, "{}", &r);
	assert_error(&r, 403, "FORBIDDEN");
	resp_free(&r);
	call(f, "GET", "/api/v1/tokens", cookie, NULL, NULL, &r);
	assert_error(&r, 403, "FORBIDDEN");
	resp_free(&r);
	call(f, "PUT", "/api/v1/bundles", cookie, csrf, "not a bundle", &r);
	assert_error(&r, 403, "FORBIDDEN");
	resp_free(&r);
	call(f, "GET", "/api/v1/tags?repo=" HELLO, cookie, NULL, NULL, &r);
	assert_non_null(strstr(r.body, "\"tag\":\"v1\""));
	resp_free(&r);
	free(tok);
}

/* GET /token for scope with auth; the session token answered, or NULL on a non-200. */
static char *
session_token(struct served *f, const char *auth, const char *scope)
{
	char *path = fu_printf("/token?service=barged&scope=%s", scope), *t = NULL;
	json_t *doc;
	struct resp r;

	call(f, "GET", path, auth, NULL, NULL, &r);
	free(path);
	if (r.status == 200 && (doc = json_loads(r.body, 0, NULL)) != NULL) {
		t = fu_printf("Authorization: Bearer %s",
		              json_string_value(json_object_get(doc, "token")));
		json_decref(doc);
	}
	resp_free(&r);
	return t;
}

static void
test_scoped_token(void **state)
{
	struct served *f = *state;
	char auth[256], *tok = make_token(f, "hello-only", 0, "edge/docker.io/library/hel*");
	char *bearer;
	struct resp r;

	basic("hello-only", tok, auth, sizeof(auth));
	/* /v2/ with Basic: inside the scope 200, outside 403. */
	call(f, "GET", "/v2/" HELLO "/manifests/v1", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, "GET", "/v2/" PINNED "/manifests/v2", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	/* The catalog would list names outside the scope. */
	call(f, "GET", "/v2/_catalog", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	/* The token dance: a session token grants only what the scope allows. */
	assert_non_null(bearer = session_token(f, auth, "repository:" HELLO ":pull"));
	call(f, "GET", "/v2/" HELLO "/manifests/v1", bearer, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free(bearer);
	assert_non_null(bearer = session_token(f, auth, "repository:" PINNED ":pull"));
	call(f, "GET", "/v2/" PINNED "/manifests/v2", bearer, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.head, "insufficient_scope"));
	resp_free(&r);
	free(bearer);
	/* The API follows the same scope. */
	call(f, "GET", "/api/v1/tags?repo=" PINNED, auth, NULL, NULL, &r);
	assert_error(&r, 403, "FORBIDDEN");
	resp_free(&r);
	call(f, "GET", "/api/v1/repositories", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, HELLO));
	assert_null(strstr(r.body, PINNED));
	resp_free(&r);
	free(tok);
}

static void
test_expired_token(void **state)
{
	struct served *f = *state;
	char auth[256], cookie[128], csrf[128];
	char *tok = make_token(f, "old", (long long)time(NULL) - 1, NULL);
	struct resp r;

	basic("old", tok, auth, sizeof(auth));
	call(f, "GET", "/v2/" HELLO "/manifests/v1", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	assert_null(session_token(f, auth, "repository:" HELLO ":pull"));
	assert_int_equal(login(f, "old", tok, cookie, csrf), 401);
	free(tok);
}

static void
test_revoked_token(void **state)
{
	struct served *f = *state;
	char auth[256], admin[256], cookie[128], csrf[128], *bearer;
	char *tok = make_token(f, "soon-gone", 0, NULL);
	struct resp r;

	basic("soon-gone", tok, auth, sizeof(auth));
	basic("admin", f->password, admin, sizeof(admin));
	assert_non_null(bearer = session_token(f, auth, "repository:" HELLO ":pull"));
	assert_int_equal(login(f, "soon-gone", tok, cookie, csrf), 200);
	call(f, "GET", "/v2/" HELLO "/manifests/v1", bearer, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, "DELETE", "/api/v1/tokens/soon-gone", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	/* At once: Basic, the session token from before, and the login session. */
	call(f, "GET", "/v2/" HELLO "/manifests/v1", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	call(f, "GET", "/v2/" HELLO "/manifests/v1", bearer, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	call(f, "GET", "/api/v1/session", cookie, NULL, NULL, &r);
	assert_error(&r, 401, "UNAUTHORIZED");
	resp_free(&r);
	call(f, "DELETE", "/api/v1/tokens/soon-gone", admin, NULL, NULL, &r);
	assert_error(&r, 404, "NOT_FOUND");
	resp_free(&r);
	free(bearer);
	free(tok);
}

static void
test_password_change(void **state)
{
	struct served *f = *state;
	struct barge_err err = { 0 };
	char cookie[128], csrf[128], *path = fu_printf("%s/admin.password", f->fx.dir);
	struct resp r;

	assert_int_equal(login(f, "admin", f->password, cookie, csrf), 200);
	/* What `barged passwd` does; no SIGHUP. */
	assert_int_equal(auth_password_set(path, "brand-new-password", 18, &err), BARGE_OK);
	call(f, "GET", "/api/v1/session", cookie, NULL, NULL, &r);
	assert_error(&r, 401, "UNAUTHORIZED");
	resp_free(&r);
	assert_int_equal(login(f, "admin", f->password, cookie, csrf), 401);
	assert_int_equal(login(f, "admin", "brand-new-password", cookie, csrf), 200);
	free(path);
}

static void
test_tokens_api(void **state)
{
	struct served *f = *state;
	char admin[256], auth[256];
	const char *tok;
	json_t *doc;
	struct resp r;

	basic("admin", f->password, admin, sizeof(admin));
	call(f, "POST", "/api/v1/tokens", admin, NULL,
	     "{\"name\":\"ci\",\"expires_in\":3600,\"scope\":[\"edge/docker.io/library/pin*\"]}",
	     &r);
	assert_int_equal(r.status, 201);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	assert_non_null(tok = json_string_value(json_object_get(doc, "token")));
	basic("ci", tok, auth, sizeof(auth));
	json_decref(doc);
	resp_free(&r);
	call(f, "GET", "/v2/" PINNED "/manifests/v2", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, "GET", "/v2/" HELLO "/manifests/v1", auth, NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	/* Listed without the secret. */
	call(f, "GET", "/api/v1/tokens", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"scope\":[\"edge/docker.io/library/pin*\"]"));
	assert_null(strstr(r.body, "barge_"));
	resp_free(&r);
	call(f, "POST", "/api/v1/tokens", admin, NULL, "{\"name\":\"ci\"}", &r);
	assert_error(&r, 409, "CONFLICT");
	resp_free(&r);
	call(f, "POST", "/api/v1/tokens", admin, NULL, "{\"name\":\"x\",\"scope\":[\"<a>\"]}", &r);
	assert_error(&r, 400, "INVALID");
	resp_free(&r);
}

/* The overview lists the cache's upstreams, their URLs without credentials, and their state. */
static void
test_overview_upstreams(void **state)
{
	struct served *f = *state;
	char admin[256];
	json_t *doc, *ups, *u;
	struct resp r;

	basic("admin", f->password, admin, sizeof(admin));
	call(f, "GET", "/api/v1/overview", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	ups = json_object_get(doc, "upstreams");
	assert_int_equal(json_array_size(ups), 1);
	u = json_array_get(ups, 0);
	assert_string_equal(json_string_value(json_object_get(u, "registry")), "docker.io");
	assert_string_equal(json_string_value(json_object_get(u, "url")),
	                    "http://127.0.0.1:9/prefix");
	assert_string_equal(json_string_value(json_object_get(u, "state")), "up");
	assert_null(strstr(r.body, "secret"));
	json_decref(doc);
	resp_free(&r);
}

static void
test_reads(void **state)
{
	struct served *f = *state;
	char admin[256];
	json_t *doc, *t;
	struct resp r;

	basic("admin", f->password, admin, sizeof(admin));
	call(f, "GET", "/api/v1/tags?repo=" HELLO, admin, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "application/json"));
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	t = json_array_get(json_object_get(doc, "tags"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "digest")), f->hello.manifest);
	assert_int_equal(json_integer_value(json_object_get(t, "size")), f->hello.bytes);
	assert_string_equal(json_string_value(json_array_get(json_object_get(t, "platforms"), 0)),
	                    "linux/amd64");
	assert_string_equal(json_string_value(json_object_get(t, "created")),
	                    "2024-01-02T03:04:05Z");
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(t, "origin"), "kind")), "push");
	assert_string_equal(json_string_value(json_object_get(t, "pull")),
	                    "registry.local:30003/" HELLO ":v1");
	assert_string_equal(json_string_value(json_object_get(t, "mirror")),
	                    "docker.io/library/hello:v1");
	json_decref(doc);
	resp_free(&r);
	call(f, "GET", "/api/v1/tags?repo=" PINNED, admin, NULL, NULL, &r);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	t = json_object_get(json_array_get(json_object_get(doc, "tags"), 0), "origin");
	assert_string_equal(json_string_value(json_object_get(t, "kind")), "bundle");
	assert_string_equal(json_string_value(json_object_get(t, "bundle")), "<b>edge</b> 1.0");
	json_decref(doc);
	resp_free(&r);
	/* Filter and pages. */
	call(f, "GET", "/api/v1/repositories?q=pinn", admin, NULL, NULL, &r);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	assert_int_equal(json_array_size(json_object_get(doc, "repositories")), 1);
	t = json_array_get(json_object_get(doc, "repositories"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "name")), PINNED);
	assert_int_equal(json_integer_value(json_object_get(t, "tags")), 1);
	assert_int_equal(json_integer_value(json_object_get(t, "size")), f->pinned.bytes);
	assert_true(json_is_null(json_object_get(doc, "next")));
	json_decref(doc);
	resp_free(&r);
	call(f, "GET", "/api/v1/repositories?n=1", admin, NULL, NULL, &r);
	assert_non_null(strstr(r.body, "\"next\":\"" HELLO "\""));
	resp_free(&r);
	call(f, "GET", "/api/v1/repositories?n=1&last=" HELLO, admin, NULL, NULL, &r);
	assert_non_null(strstr(r.body, PINNED));
	assert_non_null(strstr(r.body, "\"next\":null"));
	resp_free(&r);
	/* The image: its raw manifest and layers. */
	call(f, "GET", "/api/v1/image?repo=" HELLO "&ref=v1", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(doc, "digest")), f->hello.manifest);
	assert_int_equal(json_array_size(json_object_get(doc, "layers")), 2);
	assert_int_equal(strlen(json_string_value(json_object_get(doc, "manifest"))),
	                 (size_t)f->hello.manifest_size);
	/* Its referrer, with the artifact type. */
	t = json_array_get(json_object_get(doc, "referrers"), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "referrers")), 1);
	assert_string_equal(json_string_value(json_object_get(t, "digest")), f->referrer);
	assert_string_equal(json_string_value(json_object_get(t, "artifact_type")),
	                    "application/spdx+json");
	json_decref(doc);
	resp_free(&r);
	call(f, "GET", "/api/v1/image?repo=" HELLO "&ref=nope", admin, NULL, NULL, &r);
	assert_error(&r, 404, "NOT_FOUND");
	resp_free(&r);
	/* Bundles: the markup is a JSON string, sent as JSON that no browser sniffs. */
	call(f, "GET", "/api/v1/bundles", admin, NULL, NULL, &r);
	assert_non_null(strstr(r.body, "\"name\":\"<b>edge</b>\""));
	assert_non_null(strcasestr(r.head, "X-Content-Type-Options: nosniff"));
	resp_free(&r);
}

static void
test_writes(void **state)
{
	struct served *f = *state;
	char admin[256], *path;
	struct resp r;

	basic("admin", f->password, admin, sizeof(admin));
	/* A pinned image: 409, the bundle holds it. */
	path = fu_printf("/api/v1/image?repo=%s&digest=%s", PINNED, f->pinned.manifest);
	call(f, "DELETE", path, admin, NULL, NULL, &r);
	assert_error(&r, 409, "CONFLICT");
	resp_free(&r);
	call(f, "DELETE", "/api/v1/bundles/1", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	call(f, "DELETE", "/api/v1/bundles/1", admin, NULL, NULL, &r);
	assert_error(&r, 404, "NOT_FOUND");
	resp_free(&r);
	call(f, "DELETE", path, admin, NULL, NULL, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	free(path);
	call(f, "DELETE", "/api/v1/tags?repo=" HELLO "&tag=v1", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	call(f, "DELETE", "/api/v1/tags?repo=" HELLO "&tag=v1", admin, NULL, NULL, &r);
	assert_error(&r, 404, "NOT_FOUND");
	resp_free(&r);
	call(f, "GET", "/v2/" HELLO "/manifests/v1", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
}

static void
test_body_bounded(void **state)
{
	struct served *f = *state;
	char *big = malloc(API_BODY_MAX + 100);
	struct resp r;

	assert_non_null(big);
	memset(big, ' ', API_BODY_MAX + 99);
	big[API_BODY_MAX + 99] = '\0';
	call(f, "POST", "/api/v1/login", NULL, NULL, big, &r);
	assert_error(&r, 413, "TOO_LARGE");
	resp_free(&r);
	call(f, "POST", "/api/v1/login", NULL, NULL, "[1,2]", &r);
	assert_error(&r, 400, "INVALID");
	resp_free(&r);
	free(big);
}

#define REVIEW(uid, image)                                                                         \
	"{\"apiVersion\":\"admission.k8s.io/"                                                      \
	"v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":"                                  \
	"\"" uid "\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"namespace\":" \
	"\"default\",\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"name\":\"p\"},\"spec\":" \
	"{\"containers\":[{\"name\":\"c\",\"image\":\"" image "\"}]}}}}"

/* Webhook decisions and upload outcomes reach GET /api/v1/events through their callbacks. */
static void
test_events_fed(void **state)
{
	struct served *f = *state;
	char admin[256];
	json_t *doc, *e;
	struct resp r;

	basic("admin", f->password, admin, sizeof(admin));
	call(f, "POST", "/webhook/mutate", NULL, NULL, REVIEW("u-1", "docker.io/library/hello:v1"),
	     &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, "POST", "/webhook/mutate", NULL, NULL, REVIEW("u-2", "docker.io/library/gone:v9"),
	     &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, "PUT", "/api/v1/bundles", admin, NULL, "not a bundle", &r);
	assert_int_equal(r.status, 400);
	resp_free(&r);

	call(f, "GET", "/api/v1/events?kind=webhook", admin, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	assert_int_equal(json_array_size(json_object_get(doc, "events")), 2);
	/* Newest first: the one left, then the one swapped. */
	e = json_array_get(json_object_get(doc, "events"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "kind")), "webhook");
	assert_int_equal(strncmp(json_string_value(json_object_get(e, "summary")), "left: ", 6), 0);
	e = json_array_get(json_object_get(doc, "events"), 1);
	assert_int_equal(strncmp(json_string_value(json_object_get(e, "summary")), "swapped: ", 9),
	                 0);
	assert_non_null(strstr(json_string_value(json_object_get(e, "detail")),
	                       "registry.local:30003/" HELLO ":v1"));
	json_decref(doc);
	resp_free(&r);

	call(f, "GET", "/api/v1/events?kind=load", admin, NULL, NULL, &r);
	assert_non_null(doc = json_loads(r.body, 0, NULL));
	e = json_array_get(json_object_get(doc, "events"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "summary")), "upload refused");
	assert_true(strlen(json_string_value(json_object_get(e, "detail"))) > 0);
	json_decref(doc);
	resp_free(&r);
	call(f, "GET", "/api/v1/events?kind=nope", admin, NULL, NULL, &r);
	assert_error(&r, 400, "INVALID");
	resp_free(&r);
}

/* The ring keeps the newest API_EVENTS_MAX, newest first, by kind. */
static void
test_events_ring(void **state)
{
	struct barge_err err = { 0 };
	struct api_events *e = NULL;
	char s[32];
	json_t *list;
	int i;

	(void)state;
	assert_int_equal(api_events_new(&e, &err), BARGE_OK);
	for (i = 0; i < API_EVENTS_MAX + 10; i++) {
		snprintf(s, sizeof(s), "event %d", i);
		api_events_add(e, i % 2 ? "load" : "webhook", s, "\xff<b>detail</b>");
	}
	assert_non_null(list = api_events_json(e, NULL, 0));
	assert_int_equal(json_array_size(list), API_EVENTS_MAX);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "summary")),
	                    "event 265");
	/* Not UTF-8: replaced, so the answer stays valid JSON. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "detail")),
	                    "?<b>detail</b>");
	json_decref(list);
	assert_non_null(list = api_events_json(e, "webhook", 3));
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "summary")),
	                    "event 264");
	json_decref(list);
	api_events_free(e);
}

/* An import's outcome reaches the ring through import_opts.on_event, as barged serve wires it. */
static void
test_import_events(void **state)
{
	struct barge_err err = { 0 };
	struct api_events *e = NULL;
	struct import_opts o = { 0 };
	struct import *im = NULL;
	struct timespec t = { 0, 100000000L };
	char dir[FX_DIR_MAX], *watch, *data, *junk;
	char *dirs[1];
	json_t *list = NULL;
	int i;

	(void)state;
	fx_tmpdir(dir, "api-import");
	watch = fu_printf("%s/watch", dir);
	data = fu_printf("%s/data", dir);
	junk = fu_printf("%s/junk.tar.zst", watch);
	dirs[0] = watch;
	assert_int_equal(fu_mkdirs(watch, 0755, &err), BARGE_OK);
	assert_int_equal(api_events_new(&e, &err), BARGE_OK);
	o.data_dir = data;
	o.watch = dirs;
	o.nwatch = 1;
	o.on_event = api_events_add;
	o.on_event_arg = e;
	o.settle_ms = 100;
	fx_write(junk, "not a bundle", 12);
	assert_int_equal(import_start(&o, &im, &err), BARGE_OK);
	for (i = 0; i < 100; i++) {
		json_decref(list);
		assert_non_null(list = api_events_json(e, "load", 0));
		if (json_array_size(list) > 0)
			break;
		nanosleep(&t, NULL);
	}
	import_stop(im);
	assert_int_equal(json_array_size(list), 1);
	assert_non_null(
	        strstr(json_string_value(json_object_get(json_array_get(list, 0), "summary")),
	               "junk.tar.zst refused"));
	assert_true(strlen(json_string_value(json_object_get(json_array_get(list, 0), "detail"))) >
	            0);
	json_decref(list);
	api_events_free(e);
	fx_rmtree(dir);
	free(watch);
	free(data);
	free(junk);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_login_wrong_password, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_login_rate_limit, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_basic_rate_limit, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_session_cookie, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_session_cookie_secure, serve_setup_tls,
	                                serve_teardown),
	cmocka_unit_test_setup_teardown(test_csrf, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_readonly_session, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_scoped_token, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_expired_token, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_revoked_token, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_password_change, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_tokens_api, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_reads, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_overview_upstreams, serve_setup_proxy, serve_teardown),
	cmocka_unit_test_setup_teardown(test_writes, serve_setup, serve_teardown),
	cmocka_unit_test_setup_teardown(test_body_bounded, serve_setup, serve_teardown),
	cmocka_unit_test(test_events_ring),
	cmocka_unit_test(test_import_events),
	cmocka_unit_test_setup_teardown(test_events_fed, serve_setup, serve_teardown),
};

BARGE_TEST_MAIN(tests)
