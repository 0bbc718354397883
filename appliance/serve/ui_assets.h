/*
 * ui_assets: the operator's pages (appliance/serve/ui/, docs/ui.md),
 * embedded in barged at build time (cmake/BargeEmbedUi.cmake writes the
 * table below as const data: nothing is read from disk at run time).
 *
 *   GET|HEAD /                      index.html, revalidated by ETag (no-cache)
 *   GET|HEAD /ui/<version>/<name>   every other asset, cached as immutable:
 *                                   version is a hash of all of them
 *
 * Every answer carries the Content-Security-Policy below (no inline script
 * or style, no other origin, no framing) and nosniff; a client that
 * accepts gzip gets the gzipped bytes, any other the raw ones.  A matching
 * If-None-Match gets 304.  Other paths under /ui/ are 404, other methods 405.
 */
#ifndef BARGE_UI_ASSETS_H
#define BARGE_UI_ASSETS_H

#include <stddef.h>

#include "http_server.h"

#define UI_ASSETS_CSP                                                                     \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

struct ui_asset {
	const char *name;  /* "index.html", "app.js" */
	const char *ctype; /* its Content-Type */
	const char *etag;  /* hex of its hash, without quotes */
	const unsigned char *raw;
	size_t raw_len;
	const unsigned char *gz; /* gzip -n -9 of raw */
	size_t gz_len;
};

/* The generated table (static storage; never freed). */
extern const struct ui_asset ui_asset_table[];
extern const size_t ui_asset_count;
extern const char ui_assets_version[];

/* Answers a request for "/" or a path under "/ui/". */
void ui_assets_handle(struct http_req *req);

/* --- exposed for the unit tests ------------------------------------------ */

/* The asset a path names ("/" or "/ui/<version>/<name>"), or NULL. */
const struct ui_asset *ui_assets_find(const char *path);
/* Whether an Accept-Encoding value accepts gzip (gzip, x-gzip or *, q above 0). */
int ui_accepts_gzip(const char *accept_encoding);

#endif
