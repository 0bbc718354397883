#include "test_main.h"

#include <archive.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "http_server.h"
#include "ui_assets.h"

/* The asset of that name in the table, or NULL. */
static const struct ui_asset *
by_name(const char *name)
{
	size_t i;

	for (i = 0; i < ui_asset_count; i++)
		if (strcmp(ui_asset_table[i].name, name) == 0)
			return &ui_asset_table[i];
	return NULL;
}

/* gunzip of a gz buffer through libarchive's raw format; caller frees. */
static unsigned char *
gunzip(const unsigned char *gz, size_t len, size_t *outlen)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	unsigned char *buf = malloc(1 << 20);
	la_ssize_t n;
	size_t have = 0;

	assert_non_null(a);
	assert_non_null(buf);
	assert_int_equal(archive_read_support_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_read_support_format_raw(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_memory(a, gz, len), ARCHIVE_OK);
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
	/* The only gzip filter counts: a buffer gzip did not make is no asset. */
	assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
	while ((n = archive_read_data(a, buf + have, (1 << 20) - have)) > 0)
		have += (size_t)n;
	assert_true(n == 0);
	archive_read_free(a);
	*outlen = have;
	return buf;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void
test_table(void **state)
{
	const struct ui_asset *a;
	unsigned char *raw;
	size_t i, len;

	(void)state;
	assert_true(ui_asset_count >= 3);
	assert_int_equal(strlen(ui_assets_version), 16);
	for (i = 0; i < ui_asset_count; i++) {
		a = &ui_asset_table[i];
		assert_true(a->raw_len > 0);
		assert_int_equal(strlen(a->etag), 32);
		assert_int_equal(strspn(a->etag, "0123456789abcdef"), 32);
		/* The gzipped copy is exactly the raw bytes. */
		raw = gunzip(a->gz, a->gz_len, &len);
		assert_int_equal(len, a->raw_len);
		assert_memory_equal(raw, a->raw, len);
		free(raw);
		if (ends_with(a->name, ".js"))
			assert_string_equal(a->ctype, "text/javascript; charset=utf-8");
		else if (ends_with(a->name, ".css"))
			assert_string_equal(a->ctype, "text/css; charset=utf-8");
		else if (ends_with(a->name, ".html"))
			assert_string_equal(a->ctype, "text/html; charset=utf-8");
	}
	assert_non_null(by_name("app.js"));
	assert_non_null(by_name("style.css"));
}

static void
test_find(void **state)
{
	char path[256];

	(void)state;
	assert_ptr_equal(ui_assets_find("/"), by_name("index.html"));
	snprintf(path, sizeof(path), "/ui/%s/app.js", ui_assets_version);
	assert_ptr_equal(ui_assets_find(path), by_name("app.js"));
	/* index.html has one URL, so one caching rule: "/" (no-cache). */
	snprintf(path, sizeof(path), "/ui/%s/index.html", ui_assets_version);
	assert_null(ui_assets_find(path));
	/* Another version's names are not ours: an immutable URL never changes meaning. */
	assert_null(ui_assets_find("/ui/0000000000000000/app.js"));
	snprintf(path, sizeof(path), "/ui/%s", ui_assets_version);
	assert_null(ui_assets_find(path));
	snprintf(path, sizeof(path), "/ui/%s/", ui_assets_version);
	assert_null(ui_assets_find(path));
	snprintf(path, sizeof(path), "/ui/%s/../app.js", ui_assets_version);
	assert_null(ui_assets_find(path));
	snprintf(path, sizeof(path), "/ui/%sx/app.js", ui_assets_version);
	assert_null(ui_assets_find(path));
	assert_null(ui_assets_find("/index.html"));
	assert_null(ui_assets_find("/ui/"));
	assert_null(ui_assets_find(""));
}

/* The CSP forbids inline script and style: index.html must have none. */
static void
test_index_has_nothing_inline(void **state)
{
	const struct ui_asset *a = by_name("index.html");
	char *html, want[128], *p;

	(void)state;
	assert_non_null(a);
	html = strndup((const char *)a->raw, a->raw_len);
	assert_non_null(html);
	snprintf(want, sizeof(want), "src=\"/ui/%s/app.js\"", ui_assets_version);
	assert_non_null(strstr(html, want));
	snprintf(want, sizeof(want), "href=\"/ui/%s/style.css\"", ui_assets_version);
	assert_non_null(strstr(html, want));
	assert_null(strstr(html, "@UI_VERSION@"));
	assert_null(strstr(html, "<style"));
	assert_null(strstr(html, " style="));
	assert_null(strstr(html, " on"));
	for (p = html; (p = strstr(p, "<script")) != NULL; p++)
		assert_true(strncmp(p, "<script type=\"module\" src=\"/ui/", 31) == 0);
	free(html);
}

static void
test_accepts_gzip(void **state)
{
	(void)state;
	assert_true(ui_accepts_gzip("gzip"));
	assert_true(ui_accepts_gzip("gzip, deflate, br"));
	assert_true(ui_accepts_gzip("br, GZIP;q=0.5"));
	assert_true(ui_accepts_gzip("deflate, x-gzip"));
	assert_true(ui_accepts_gzip("*"));
	assert_true(ui_accepts_gzip(" gzip ; q=1"));
	assert_true(ui_accepts_gzip("gzip;q=0.001"));
	assert_false(ui_accepts_gzip(NULL));
	assert_false(ui_accepts_gzip(""));
	assert_false(ui_accepts_gzip("identity"));
	assert_false(ui_accepts_gzip("deflate, br"));
	assert_false(ui_accepts_gzip("gzip;q=0"));
	assert_false(ui_accepts_gzip("gzip; q=0.000"));
	assert_false(ui_accepts_gzip("gzipx"));
	assert_false(ui_accepts_gzip("xgzip"));
}

/* --- through a real server ------------------------------------------------ */

struct resp {
	long status;
	char *head;
	size_t headlen;
	unsigned char *body;
	size_t len;
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	unsigned char *nb = realloc(r->body, r->len + sz * n + 1);

	assert_non_null(nb);
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	return sz * n;
}

static size_t
on_head(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	char *nh = realloc(r->head, r->headlen + sz * n + 1);

	assert_non_null(nh);
	r->head = nh;
	memcpy(r->head + r->headlen, p, sz * n);
	r->headlen += sz * n;
	r->head[r->headlen] = '\0';
	return sz * n;
}

/* method on base+path with one extra header (NULL: none); the body stays encoded. */
static void
req(const char *base, const char *method, const char *path, const char *hdr, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char *url = fu_printf("%s%s", base, path);

	memset(r, 0, sizeof(*r));
	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (hdr != NULL)
		h = curl_slist_append(h, hdr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
}

static void
resp_free(struct resp *r)
{
	free(r->head);
	free(r->body);
}

/* The response header line "Name: value" is there, exactly. */
static void
has_header(const struct resp *r, const char *line)
{
	char *want = fu_printf("\r\n%s\r\n", line);

	if (strcasestr(r->head, want) == NULL)
		fail_msg("no header \"%s\" in:\n%s", line, r->head);
	free(want);
}

static void
lacks_header(const struct resp *r, const char *name)
{
	char *want = fu_printf("\r\n%s:", name);

	if (strcasestr(r->head, want) != NULL)
		fail_msg("header %s in:\n%s", name, r->head);
	free(want);
}

static void
ui_handler(struct http_req *req, void *arg)
{
	(void)arg;
	ui_assets_handle(req);
}

static void
test_served(void **state)
{
	struct http_server_opts ho = { 0 };
	struct http_server *srv = NULL;
	struct barge_err err = { 0 };
	const struct ui_asset *idx = by_name("index.html"), *app = by_name("app.js");
	char *base, *path, *line;
	struct resp r;

	(void)state;
	ho.listen = "127.0.0.1:0";
	ho.threads = 1;
	ho.handler = ui_handler;
	if (http_server_start(&ho, &srv, &err) != BARGE_OK)
		fail_msg("start: %s", err.msg);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = fu_printf("http://127.0.0.1:%d", http_server_port(srv));

	/* gzip when accepted: the precompressed bytes, with their own ETag. */
	req(base, "GET", "/", "Accept-Encoding: gzip, deflate", &r);
	assert_int_equal(r.status, 200);
	has_header(&r, "Content-Type: text/html; charset=utf-8");
	has_header(&r, "Content-Encoding: gzip");
	has_header(&r, "Content-Security-Policy: " UI_ASSETS_CSP);
	has_header(&r, "X-Content-Type-Options: nosniff");
	has_header(&r, "X-Frame-Options: DENY");
	has_header(&r, "Cache-Control: no-cache");
	has_header(&r, "Vary: Accept-Encoding");
	line = fu_printf("ETag: \"%s-gz\"", idx->etag);
	has_header(&r, line);
	free(line);
	assert_int_equal(r.len, idx->gz_len);
	assert_memory_equal(r.body, idx->gz, r.len);
	resp_free(&r);

	/* Without gzip: the raw bytes, nothing to decode. */
	req(base, "GET", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	lacks_header(&r, "Content-Encoding");
	has_header(&r, "Content-Security-Policy: " UI_ASSETS_CSP);
	assert_int_equal(r.len, idx->raw_len);
	assert_memory_equal(r.body, idx->raw, r.len);
	resp_free(&r);
	req(base, "GET", "/", "Accept-Encoding: gzip;q=0, identity", &r);
	lacks_header(&r, "Content-Encoding");
	resp_free(&r);

	/* Versioned assets are immutable. */
	path = fu_printf("/ui/%s/app.js", ui_assets_version);
	req(base, "GET", path, "Accept-Encoding: gzip", &r);
	assert_int_equal(r.status, 200);
	has_header(&r, "Content-Type: text/javascript; charset=utf-8");
	has_header(&r, "Cache-Control: public, max-age=31536000, immutable");
	assert_int_equal(r.len, app->gz_len);
	resp_free(&r);
	req(base, "HEAD", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	resp_free(&r);

	/* A matching If-None-Match: 304 and no body; the other encoding's tag does not match. */
	line = fu_printf("If-None-Match: \"%s\"", app->etag);
	req(base, "GET", path, line, &r);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.len, 0);
	resp_free(&r);
	free(line);
	line = fu_printf("If-None-Match: \"%s-gz\"", app->etag);
	req(base, "GET", path, line, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free(line);
	free(path);

	/* Unknown names 404, still under the CSP; writes 405. */
	req(base, "GET", "/ui/0000000000000000/app.js", NULL, &r);
	assert_int_equal(r.status, 404);
	has_header(&r, "Content-Security-Policy: " UI_ASSETS_CSP);
	resp_free(&r);
	req(base, "POST", "/", NULL, &r);
	assert_int_equal(r.status, 405);
	has_header(&r, "Allow: GET, HEAD");
	resp_free(&r);

	free(base);
	http_server_stop(srv);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_table),
	cmocka_unit_test(test_find),
	cmocka_unit_test(test_index_has_nothing_inline),
	cmocka_unit_test(test_accepts_gzip),
	cmocka_unit_test(test_served),
};

BARGE_TEST_MAIN(tests)
