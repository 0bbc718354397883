/*
 * client_http: the curl transport.  It owns the client's connections (one
 * curl handle per endpoint, so connections are reused), reads the response
 * headers a registry client cares about, bounds what it keeps of a body, and
 * turns curl failures and HTTP statuses into BARGE_* errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "client_int.h"
#include "fileutil.h"

#define ERROR_BODY_MAX  (1024 * 1024) /* error bodies are read and dropped */
#define LOW_SPEED_LIMIT 1024L /* bytes/s below which, for timeout_s, a transfer is given up */
#define MAX_REDIRS      5L
#define MAX_ENDPOINTS   256

void
client_conn_free(struct conn *k)
{
	if (k == NULL)
		return;
	curl_easy_cleanup(k->curl);
	free(k->base);
	json_decref(k->tokens);
	creds_clear(&k->creds);
	if (k->basic != NULL)
		OPENSSL_cleanse(k->basic, strlen(k->basic));
	free(k->basic);
	free(k);
}

/* The connection for base ("scheme://authority"), created on first use. */
int
client_conn_get(struct client *c, const char *base, struct conn **out, struct barge_err *err)
{
	struct conn **grown, *k;
	size_t i;

	for (i = 0; i < c->nconns; i++) {
		if (strcmp(c->conns[i]->base, base) == 0) {
			*out = c->conns[i];
			return BARGE_OK;
		}
	}
	if (c->nconns >= MAX_ENDPOINTS)
		return err_set(err, BARGE_ELIMIT, "more than %d registry endpoints", MAX_ENDPOINTS);
	grown = realloc(c->conns, (c->nconns + 1) * sizeof(*grown));
	if (grown == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	c->conns = grown;
	if ((k = calloc(1, sizeof(*k))) == NULL || (k->base = strdup(base)) == NULL ||
	    (k->tokens = json_object()) == NULL || (k->curl = curl_easy_init()) == NULL) {
		client_conn_free(k);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	k->authority = strstr(k->base, "://") != NULL ? strstr(k->base, "://") + 3 : k->base;
	c->conns[c->nconns++] = k;
	*out = k;
	return BARGE_OK;
}

/* The connection for r's registry. */
int
client_conn_for(struct client *c, const struct ref *r, struct conn **out, struct barge_err *err)
{
	char *base = NULL;
	int rc;

	if ((rc = client_endpoint(&c->cfg, r->host, &base, err)) != BARGE_OK)
		return rc;
	rc = client_conn_get(c, base, out, err);
	free(base);
	return rc;
}

/* Copies a header value (trimmed) into dst when name matches. */
static int
header_value(const char *line, size_t len, const char *name, char *dst, size_t dstlen)
{
	size_t n = strlen(name), vlen;
	const char *v;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return 0;
	v = line + n + 1;
	vlen = len - n - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
	                    v[vlen - 1] == '\t'))
		vlen--;
	if (vlen >= dstlen)
		return -1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 1;
}

static size_t
on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nitems;
	char tmp[CHALLENGE_MAX];
	int r;

	/* Every response of a redirect chain starts with a status line: start afresh. */
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);

		x->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
		x->content_type[0] = '\0';
		x->dcd[0] = '\0';
		x->dcd_bad = 0;
		x->challenge[0] = '\0';
		x->retry_after[0] = '\0';
		return len;
	}
	if (header_value(line, len, "Content-Type", x->content_type, sizeof(x->content_type)) < 0)
		x->content_type[0] = '\0';
	if (header_value(line, len, "Retry-After", x->retry_after, sizeof(x->retry_after)) < 0)
		x->retry_after[0] = '\0';
	r = header_value(line, len, "Docker-Content-Digest", x->dcd, sizeof(x->dcd));
	if (r < 0 || (r > 0 && !digest_valid(x->dcd))) {
		x->dcd[0] = '\0';
		x->dcd_bad = 1;
	}
	/* Of several challenges, a Bearer one is preferred: it scopes access to one repository. */
	if (header_value(line, len, "WWW-Authenticate", tmp, sizeof(tmp)) > 0 &&
	    (x->challenge[0] == '\0' || strncasecmp(tmp, "Bearer", 6) == 0))
		memcpy(x->challenge, tmp, strlen(tmp) + 1);
	return len;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb, cap;
	char *grown;

	if (x->status < 200 || x->status > 299) {
		/* An error body is not used, but an endless one is not read forever. */
		if (len > ERROR_BODY_MAX - x->dropped) {
			x->cb_rc = err_set(&x->cb_err, BARGE_ELIMIT,
			                   "%s: error response larger than %d bytes", x->what,
			                   ERROR_BODY_MAX);
			return 0;
		}
		x->dropped += len;
		return len;
	}
	if (len > x->max - x->len) {
		x->cb_rc = err_set(&x->cb_err, BARGE_ELIMIT, "%s: larger than %zu bytes", x->what,
		                   x->max);
		return 0;
	}
	if (x->len + len + 1 > x->cap) {
		cap = x->cap == 0 ? 16384 : x->cap;
		while (cap < x->len + len + 1)
			cap *= 2;
		if (cap > x->max + 1)
			cap = x->max + 1;
		if ((grown = realloc(x->buf, cap)) == NULL) {
			x->cb_rc = err_set(&x->cb_err, BARGE_ENOMEM, "out of memory");
			return 0;
		}
		x->buf = grown;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	x->buf[x->len] = '\0';
	return len;
}

static long
timeout_s(const struct client_config *cfg)
{
	return cfg->timeout_s > 0 ? cfg->timeout_s : CLIENT_TIMEOUT_S_DEFAULT;
}

/* The options every request shares; headers (may be NULL) become the request's. */
static int
setup_handle(const struct client_config *cfg, CURL *cu, const char *url, struct curl_slist *headers)
{
	/* A redirect may go to other hosts (blob storage), but never from https down to http. */
	return curl_easy_setopt(cu, CURLOPT_URL, url) != CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https") !=
	                               CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_REDIR_PROTOCOLS_STR,
	                                        strncmp(url, "https:", 6) == 0
	                                                ? "https"
	                                                : "http,https") != CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_MAXREDIRS, MAX_REDIRS) != CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, timeout_s(cfg)) !=
	                               CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_LIMIT) !=
	                               CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_LOW_SPEED_TIME, timeout_s(cfg)) !=
	                               CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_USERAGENT, "barge/" BARGE_VERSION) !=
	                               CURLE_OK ||
	                       curl_easy_setopt(cu, CURLOPT_HTTPHEADER, headers) != CURLE_OK
	               ? -1
	               : 0;
}

/* The BARGE_ENET message for a failed transfer of what from base. */
static int
transport_error(const struct client_config *cfg, const char *base, CURLcode cc, const char *errbuf,
                const char *what, struct barge_err *err)
{
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return err_set(err, BARGE_ENET, "%s: %s timed out (no progress for %ld s)", what,
		               base, timeout_s(cfg));
	/* The short text for the common cases; curl's detail where it says more (TLS). */
	return err_set(err, BARGE_ENET, "%s: cannot reach %s: %s", what, base,
	               cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
	                               errbuf == NULL || errbuf[0] == '\0'
	                       ? curl_easy_strerror(cc)
	                       : errbuf);
}

int
client_transport_error(const struct client *c, const struct ref *r, CURLcode cc, const char *errbuf,
                       const char *what, struct barge_err *err)
{
	char *base = NULL;
	int rc;

	if (client_endpoint(&c->cfg, r->host, &base, NULL) != BARGE_OK)
		base = NULL;
	rc = transport_error(&c->cfg, base != NULL ? base : r->host, cc, errbuf, what, err);
	free(base);
	return rc;
}

/*
 * Performs a GET (or, with post, a form POST) of url on conn k, with authz
 * ("Bearer ..." or "Basic ...") when not NULL.  Transport failures are
 * BARGE_ENET naming the endpoint, *ccp says which; the HTTP status is left
 * in x->status for the caller.
 */
int
client_perform(struct client *c, struct conn *k, const char *url, const char *accept,
               const char *authz, const char *post, struct xfer *x, CURLcode *ccp,
               struct barge_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", *hdr = NULL;
	struct curl_slist *headers = NULL, *h;
	CURL *cu = k->curl;
	CURLcode cc = CURLE_OK;
	int rc;

	curl_easy_reset(cu);
	if (accept != NULL) {
		if ((hdr = fu_printf("Accept: %s", accept)) == NULL ||
		    (h = curl_slist_append(headers, hdr)) == NULL)
			goto nomem;
		headers = h;
		free(hdr);
		hdr = NULL;
	}
	if (authz != NULL) {
		if ((hdr = fu_printf("Authorization: %s", authz)) == NULL ||
		    (h = curl_slist_append(headers, hdr)) == NULL)
			goto nomem;
		headers = h;
	}
	if (setup_handle(&c->cfg, cu, url, headers) != 0 ||
	    (post != NULL && curl_easy_setopt(cu, CURLOPT_POSTFIELDS, post) != CURLE_OK) ||
	    (x->head && curl_easy_setopt(cu, CURLOPT_NOBODY, 1L) != CURLE_OK) ||
	    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_WRITEDATA, x) != CURLE_OK) {
		rc = err_set(err, BARGE_EINTERNAL, "%s: libcurl refused an option", x->what);
		goto out;
	}
	x->status = 0;
	x->cb_rc = BARGE_OK;
	x->dropped = 0;
	x->len = 0;
	cc = curl_easy_perform(cu);
	if (x->cb_rc != BARGE_OK) {
		rc = err_set(err, x->cb_rc, "%s", x->cb_err.msg);
	} else if (cc != CURLE_OK) {
		rc = transport_error(&c->cfg, k->base, cc, errbuf, x->what, err);
	} else {
		rc = BARGE_OK;
	}
	goto out;
nomem:
	rc = err_set(err, BARGE_ENOMEM, "out of memory");
out:
	if (ccp != NULL)
		*ccp = cc;
	/* The handle lives on: it must not point at this frame's buffers. */
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(headers);
	if (hdr != NULL)
		OPENSSL_cleanse(hdr, strlen(hdr));
	free(hdr);
	return rc;
}

int
client_prepare(struct client *c, const struct ref *r, const char *path, CURL *h,
               struct curl_slist **headers, unsigned *gen, struct barge_err *err)
{
	char authz[AUTHZ_MAX], *url = NULL, *hdr = NULL;
	struct curl_slist *grown;
	const char *a;
	struct conn *k;
	int rc;

	if ((rc = client_conn_for(c, r, &k, err)) != BARGE_OK)
		return rc;
	if ((url = fu_printf("%s/v2/%s/%s", k->base, r->path, path)) == NULL)
		goto nomem;
	a = client_authz(k, r->path, authz, sizeof(authz));
	*gen = client_authz_gen(a);
	if (a != NULL) {
		if ((hdr = fu_printf("Authorization: %s", a)) == NULL ||
		    (grown = curl_slist_append(*headers, hdr)) == NULL)
			goto nomem;
		*headers = grown;
	}
	if (setup_handle(&c->cfg, h, url, *headers) != 0) {
		rc = err_set(err, BARGE_EINTERNAL, "libcurl refused an option");
		goto out;
	}
	rc = BARGE_OK;
	goto out;
nomem:
	rc = err_set(err, BARGE_ENOMEM, "out of memory");
out:
	OPENSSL_cleanse(authz, sizeof(authz));
	if (hdr != NULL)
		OPENSSL_cleanse(hdr, strlen(hdr));
	free(hdr);
	free(url);
	return rc;
}

int
client_status_error(long status, const char *what, const char *unknown, struct barge_err *err)
{
	switch (status) {
	case 401:
		return err_set(err, BARGE_EAUTH, "%s: unauthorized (HTTP 401)", what);
	case 403:
		return err_set(err, BARGE_EAUTH, "%s: access denied (HTTP 403)", what);
	case 404:
		return err_set(err, BARGE_ENOTFOUND, "%s: %s", what, unknown);
	case 429:
		return err_set(err, BARGE_ENET,
		               "%s: too many requests (HTTP 429), retries exhausted", what);
	default:
		return err_set(err, BARGE_ENET, "%s: registry answered HTTP %ld", what, status);
	}
}
