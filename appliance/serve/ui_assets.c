/*
 * ui_assets.c: serves the embedded operator's pages (ui_assets.h) from the
 * table cmake/BargeEmbedUi.cmake generates: picks the asset, the encoding
 * and the caching headers.  It owns nothing: the bytes are const data.
 */
#include "ui_assets.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define UI_PREFIX "/ui/"

const struct ui_asset *
ui_assets_find(const char *path)
{
	size_t i, vlen = strlen(ui_assets_version);
	const char *name;

	if (strcmp(path, "/") == 0)
		name = "index.html";
	else if (strncmp(path, UI_PREFIX, strlen(UI_PREFIX)) == 0 &&
	         strncmp(path + strlen(UI_PREFIX), ui_assets_version, vlen) == 0 &&
	         path[strlen(UI_PREFIX) + vlen] == '/')
		name = path + strlen(UI_PREFIX) + vlen + 1;
	else
		return NULL;
	for (i = 0; i < ui_asset_count; i++) {
		/* index.html is only ever "/": one URL, one caching rule. */
		if (strcmp(ui_asset_table[i].name, name) == 0 &&
		    (strcmp(name, "index.html") != 0 || strcmp(path, "/") == 0))
			return &ui_asset_table[i];
	}
	return NULL;
}

/* Whether the coding (len bytes at s) names gzip for us: gzip, x-gzip or "*". */
static int
is_gzip_coding(const char *s, size_t len)
{
	return (len == 4 && strncasecmp(s, "gzip", 4) == 0) ||
	       (len == 6 && strncasecmp(s, "x-gzip", 6) == 0) || (len == 1 && s[0] == '*');
}

/* Whether the parameters of one element (after its ';') set q to zero. */
static int
q_is_zero(const char *p, const char *end)
{
	const char *q;

	for (; p < end; p++) {
		if (*p != 'q' && *p != 'Q')
			continue;
		q = p + 1;
		while (q < end && *q == ' ')
			q++;
		if (q >= end || *q != '=')
			continue;
		q++;
		while (q < end && *q == ' ')
			q++;
		/* RFC 9110 12.4.2: qvalue = "0" [ "." 0*3DIGIT ] / "1" ... */
		if (q >= end || *q != '0')
			return 0;
		for (q++; q < end && (*q == '.' || *q == '0'); q++)
			;
		return q >= end || *q == ' ' || *q == ';';
	}
	return 0;
}

int
ui_accepts_gzip(const char *ae)
{
	const char *p = ae, *end, *semi, *s, *e;

	if (ae == NULL)
		return 0;
	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		semi = memchr(p, ';', (size_t)(end - p));
		s = p;
		e = semi != NULL ? semi : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (is_gzip_coding(s, (size_t)(e - s)))
			return semi == NULL || !q_is_zero(semi + 1, end);
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* Whether If-None-Match (NULL: absent) lists this representation's tag. */
static int
etag_matches(const char *inm, const char *tag)
{
	if (inm == NULL)
		return 0;
	return strcmp(inm, "*") == 0 || strstr(inm, tag) != NULL;
}

void
ui_assets_handle(struct http_req *req)
{
	const char *method = http_req_method(req);
	const struct ui_asset *a;
	char tag[80];
	int gz;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		(void)http_resp_header(req, "Allow", "GET, HEAD");
		(void)http_respond_buf(req, 405, "text/plain", "GET the pages\n", 14);
		return;
	}
	(void)http_resp_header(req, "Content-Security-Policy", UI_ASSETS_CSP);
	(void)http_resp_header(req, "X-Content-Type-Options", "nosniff");
	(void)http_resp_header(req, "X-Frame-Options", "DENY");
	(void)http_resp_header(req, "Referrer-Policy", "no-referrer");
	if ((a = ui_assets_find(http_req_path(req))) == NULL) {
		(void)http_respond_buf(req, 404, "text/plain", "not found\n", 10);
		return;
	}
	gz = ui_accepts_gzip(http_req_header(req, "Accept-Encoding"));
	/* The two encodings are two representations: each has its own tag. */
	snprintf(tag, sizeof(tag), "\"%s%s\"", a->etag, gz ? "-gz" : "");
	(void)http_resp_header(req, "ETag", tag);
	(void)http_resp_header(req, "Vary", "Accept-Encoding");
	(void)http_resp_header(req, "Cache-Control",
	                       strcmp(a->name, "index.html") == 0
	                               ? "no-cache"
	                               : "public, max-age=31536000, immutable");
	if (etag_matches(http_req_header(req, "If-None-Match"), tag)) {
		(void)http_respond_buf(req, 304, NULL, "", 0);
		return;
	}
	if (gz) {
		(void)http_resp_header(req, "Content-Encoding", "gzip");
		(void)http_respond_buf(req, 200, a->ctype, a->gz, a->gz_len);
	} else {
		(void)http_respond_buf(req, 200, a->ctype, a->raw, a->raw_len);
	}
}
