#include "client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"

#define DOCKER_HUB_ENDPOINT "https://registry-1.docker.io"
#define CHALLENGE_MAX       4096        /* longest WWW-Authenticate value kept */
#define TOKEN_BODY_MAX      (64 * 1024) /* token responses are small JSON */
#define TOKEN_MAX           (16 * 1024)
#define ERROR_BODY_MAX      (1024 * 1024) /* error bodies are read and dropped */
#define CONNECT_TIMEOUT     30L
#define LOW_SPEED_LIMIT     1024L /* bytes/s below which ... */
#define LOW_SPEED_TIME      60L   /* ... for this long, a transfer is given up */
#define MAX_REDIRS          5L
#define MAX_ENDPOINTS       256
#define TOKENS_MAX          1024

/* One endpoint ("scheme://authority") with its own handle, so connections stay alive. */
struct conn {
	char *base;
	CURL *curl;
	json_t *tokens; /* repository -> anonymous bearer token */
};

struct client {
	struct client_config cfg;
	struct conn *conns;
	size_t nconns;
};

/* One transfer: where the body goes and what the headers said. */
struct xfer {
	long status;
	char content_type[256];
	char dcd[DIGEST_STR_MAX]; /* Docker-Content-Digest */
	int dcd_bad;              /* the header was there but not a digest */
	char challenge[CHALLENGE_MAX];
	/* Sinks: a bounded buffer, or a verifying writer, for a 2xx body. */
	char *buf;
	size_t len, cap, max;
	struct digest_writer *dw;
	size_t dropped;
	/* Set by a callback that aborted the transfer. */
	int cb_rc;
	struct barge_err cb_err;
	const char *what; /* names the transfer in messages */
};

static char *
xstrndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static const char *
canonical_host(const char *host)
{
	if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0)
		return "docker.io";
	return host;
}

/* Host part of an authority: "[::1]:5000" -> "::1", "a.b:5000" -> "a.b". */
static int
authority_host(const char *auth, char *out, size_t len)
{
	const char *end, *colon;
	size_t n;

	if (auth[0] == '[') {
		if ((end = strchr(auth, ']')) == NULL)
			return -1;
		auth++;
		n = (size_t)(end - auth);
	} else {
		colon = strchr(auth, ':');
		n = colon != NULL ? (size_t)(colon - auth) : strlen(auth);
	}
	if (n == 0 || n >= len)
		return -1;
	memcpy(out, auth, n);
	out[n] = '\0';
	return 0;
}

int
client_is_loopback(const char *authority)
{
	char host[256];
	struct in6_addr a6;
	struct in_addr a4;

	if (authority_host(authority, host, sizeof(host)) != 0)
		return 0;
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

static int
is_insecure(const struct client_config *cfg, const char *authority)
{
	char host[256];
	size_t i;

	if (authority_host(authority, host, sizeof(host)) != 0)
		host[0] = '\0';
	for (i = 0; i < cfg->ninsecure; i++)
		if (strcmp(cfg->insecure[i], authority) == 0 || strcmp(cfg->insecure[i], host) == 0)
			return 1;
	return 0;
}

static int
authority_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] != '\0' && strchr(".-:[]_", s[i]) != NULL)))
			return 0;
	return 1;
}

/* Splits "http(s)://authority[/]" into *scheme_https and the authority. */
static int
parse_base_url(const char *url, int *https, char *auth, size_t len)
{
	const char *a, *end;
	size_t n;

	if (strncmp(url, "https://", 8) == 0) {
		*https = 1;
		a = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		*https = 0;
		a = url + 7;
	} else {
		return -1;
	}
	end = strchr(a, '/');
	n = end != NULL ? (size_t)(end - a) : strlen(a);
	if (end != NULL && end[1] != '\0')
		return -1;
	if (!authority_ok(a, n) || n >= len)
		return -1;
	memcpy(auth, a, n);
	auth[n] = '\0';
	return 0;
}

int
client_config_add_mirror(struct client_config *cfg, const char *spec, struct barge_err *err)
{
	struct client_mirror *grown;
	char auth[256];
	const char *eq, *host;
	char *h = NULL, *u = NULL;
	size_t i;
	int https;

	if ((eq = strchr(spec, '=')) == NULL || eq == spec)
		return err_set(err, BARGE_EINVAL,
		               "--registry-mirror \"%.200s\": want HOST=URL "
		               "(docker.io=http://127.0.0.1:5000)",
		               spec);
	if (!authority_ok(spec, (size_t)(eq - spec)))
		return err_set(err, BARGE_EINVAL, "--registry-mirror \"%.200s\": bad host", spec);
	if (parse_base_url(eq + 1, &https, auth, sizeof(auth)) != 0)
		return err_set(err, BARGE_EINVAL,
		               "--registry-mirror \"%.200s\": URL must be http(s)://host[:port], "
		               "without a path",
		               spec);
	if ((h = xstrndup(spec, (size_t)(eq - spec))) == NULL ||
	    (u = fu_printf("%s://%s", https ? "https" : "http", auth)) == NULL)
		goto nomem;
	host = canonical_host(h);
	if (host != h) {
		free(h);
		if ((h = strdup(host)) == NULL)
			goto nomem;
	}
	for (i = 0; i < cfg->nmirrors; i++) {
		if (strcmp(cfg->mirrors[i].host, h) == 0) {
			free(cfg->mirrors[i].url);
			cfg->mirrors[i].url = u;
			free(h);
			return BARGE_OK;
		}
	}
	grown = realloc(cfg->mirrors, (cfg->nmirrors + 1) * sizeof(*grown));
	if (grown == NULL)
		goto nomem;
	cfg->mirrors = grown;
	cfg->mirrors[cfg->nmirrors].host = h;
	cfg->mirrors[cfg->nmirrors].url = u;
	cfg->nmirrors++;
	return BARGE_OK;
nomem:
	free(h);
	free(u);
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

int
client_config_add_insecure(struct client_config *cfg, const char *host, struct barge_err *err)
{
	char **grown;
	char *h;

	if (!authority_ok(host, strlen(host)))
		return err_set(err, BARGE_EINVAL, "--insecure-registry \"%.200s\": bad host", host);
	grown = realloc(cfg->insecure, (cfg->ninsecure + 1) * sizeof(*grown));
	if (grown == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	cfg->insecure = grown;
	if ((h = strdup(canonical_host(host))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	cfg->insecure[cfg->ninsecure++] = h;
	return BARGE_OK;
}

void
client_config_clear(struct client_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nmirrors; i++) {
		free(cfg->mirrors[i].host);
		free(cfg->mirrors[i].url);
	}
	for (i = 0; i < cfg->ninsecure; i++)
		free(cfg->insecure[i]);
	free(cfg->mirrors);
	free(cfg->insecure);
	memset(cfg, 0, sizeof(*cfg));
}

static int
config_copy(struct client_config *dst, const struct client_config *src, struct barge_err *err)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	if (src->nmirrors > 0 &&
	    (dst->mirrors = calloc(src->nmirrors, sizeof(*dst->mirrors))) == NULL)
		goto nomem;
	for (i = 0; i < src->nmirrors; i++, dst->nmirrors++)
		if ((dst->mirrors[i].host = strdup(src->mirrors[i].host)) == NULL ||
		    (dst->mirrors[i].url = strdup(src->mirrors[i].url)) == NULL) {
			dst->nmirrors++;
			goto nomem;
		}
	if (src->ninsecure > 0 &&
	    (dst->insecure = calloc(src->ninsecure, sizeof(*dst->insecure))) == NULL)
		goto nomem;
	for (i = 0; i < src->ninsecure; i++, dst->ninsecure++)
		if ((dst->insecure[i] = strdup(src->insecure[i])) == NULL)
			goto nomem;
	return BARGE_OK;
nomem:
	client_config_clear(dst);
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

/* Plain http only where nothing on the way can tamper: loopback, or what the user vouched for. */
static int
http_allowed(const struct client_config *cfg, const char *authority)
{
	return client_is_loopback(authority) || is_insecure(cfg, authority);
}

int
client_endpoint(const struct client_config *cfg, const char *host, char **url,
                struct barge_err *err)
{
	char auth[256];
	char *u = NULL;
	size_t i;
	int https;

	host = canonical_host(host);
	for (i = 0; i < cfg->nmirrors; i++) {
		if (strcmp(cfg->mirrors[i].host, host) != 0)
			continue;
		if (parse_base_url(cfg->mirrors[i].url, &https, auth, sizeof(auth)) != 0)
			return err_set(err, BARGE_EINVAL, "mirror for %s: bad URL \"%s\"", host,
			               cfg->mirrors[i].url);
		if (!https && !http_allowed(cfg, auth))
			return err_set(
			        err, BARGE_EINVAL,
			        "mirror for %s: plain http to %s is allowed only for loopback "
			        "hosts; add --insecure-registry %s to allow it",
			        host, auth, auth);
		u = strdup(cfg->mirrors[i].url);
		goto out;
	}
	if (strcmp(host, "docker.io") == 0)
		u = strdup(DOCKER_HUB_ENDPOINT);
	else if (!authority_ok(host, strlen(host)))
		return err_set(err, BARGE_EINVAL, "bad registry host \"%.200s\"", host);
	else
		u = fu_printf("%s://%s", http_allowed(cfg, host) ? "http" : "https", host);
out:
	if (u == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*url = u;
	return BARGE_OK;
}

void
client_challenge_clear(struct client_challenge *ch)
{
	free(ch->scheme);
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

static int
is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int
client_parse_challenge(const char *value, struct client_challenge *out, struct barge_err *err)
{
	struct client_challenge ch = { 0 };
	char key[64], val[CHALLENGE_MAX];
	const char *s = value;
	char **slot;
	size_t n, vn;
	int rc;

	if (strlen(value) >= CHALLENGE_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "WWW-Authenticate: longer than %d bytes",
		             CHALLENGE_MAX);
		goto fail;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	for (n = 0; is_token_char(s[n]); n++)
		;
	if (n == 0) {
		rc = err_set(err, BARGE_EFORMAT, "WWW-Authenticate: missing scheme in \"%.200s\"",
		             value);
		goto fail;
	}
	if ((ch.scheme = xstrndup(s, n)) == NULL)
		goto nomem;
	s += n;
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			break;
		for (n = 0; is_token_char(s[n]); n++)
			;
		if (n == 0 || n >= sizeof(key) || s[n] != '=') {
			rc = err_set(err, BARGE_EFORMAT,
			             "WWW-Authenticate: bad parameter at \"%.100s\"", s);
			goto fail;
		}
		memcpy(key, s, n);
		key[n] = '\0';
		s += n + 1;
		vn = 0;
		if (*s == '"') {
			for (s++; *s != '"'; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (*s == '\0') {
					rc = err_set(err, BARGE_EFORMAT,
					             "WWW-Authenticate: unterminated quoted value");
					goto fail;
				}
				val[vn++] = *s;
			}
			s++;
		} else {
			for (; *s != '\0' && *s != ',' && *s != ' ' && *s != '\t'; s++)
				val[vn++] = *s;
		}
		val[vn] = '\0';
		/* Parameter names are case-insensitive (RFC 9110 §11.2). */
		slot = NULL;
		if (strcasecmp(key, "realm") == 0)
			slot = &ch.realm;
		else if (strcasecmp(key, "service") == 0)
			slot = &ch.service;
		else if (strcasecmp(key, "scope") == 0)
			slot = &ch.scope;
		if (slot != NULL) {
			free(*slot);
			if ((*slot = strdup(val)) == NULL)
				goto nomem;
		}
	}
	if (strcasecmp(ch.scheme, "Bearer") == 0 && (ch.realm == NULL || ch.realm[0] == '\0')) {
		rc = err_set(err, BARGE_EFORMAT,
		             "WWW-Authenticate: Bearer challenge without realm");
		goto fail;
	}
	*out = ch;
	return BARGE_OK;
nomem:
	rc = err_set(err, BARGE_ENOMEM, "out of memory");
fail:
	client_challenge_clear(&ch);
	return rc;
}

int
client_new(const struct client_config *cfg, struct client **out, struct barge_err *err)
{
	struct client *c;
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(err, BARGE_EINTERNAL, "libcurl initialisation failed");
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		curl_global_cleanup();
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if ((rc = config_copy(&c->cfg, cfg, err)) != BARGE_OK) {
		free(c);
		curl_global_cleanup();
		return rc;
	}
	*out = c;
	return BARGE_OK;
}

void
client_free(struct client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nconns; i++) {
		curl_easy_cleanup(c->conns[i].curl);
		free(c->conns[i].base);
		json_decref(c->conns[i].tokens);
	}
	free(c->conns);
	client_config_clear(&c->cfg);
	free(c);
	curl_global_cleanup();
}

void
client_manifest_clear(struct client_manifest *m)
{
	free(m->buf);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

/* The connection for base ("scheme://authority"), created on first use. */
static int
get_conn(struct client *c, const char *base, struct conn **out, struct barge_err *err)
{
	struct conn *grown, *k;
	size_t i;

	for (i = 0; i < c->nconns; i++) {
		if (strcmp(c->conns[i].base, base) == 0) {
			*out = &c->conns[i];
			return BARGE_OK;
		}
	}
	if (c->nconns >= MAX_ENDPOINTS)
		return err_set(err, BARGE_ELIMIT, "more than %d registry endpoints", MAX_ENDPOINTS);
	grown = realloc(c->conns, (c->nconns + 1) * sizeof(*grown));
	if (grown == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	c->conns = grown;
	k = &c->conns[c->nconns];
	memset(k, 0, sizeof(*k));
	if ((k->base = strdup(base)) == NULL || (k->tokens = json_object()) == NULL ||
	    (k->curl = curl_easy_init()) == NULL) {
		json_decref(k->tokens);
		free(k->base);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	c->nconns++;
	*out = k;
	return BARGE_OK;
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
		return len;
	}
	if (header_value(line, len, "Content-Type", x->content_type, sizeof(x->content_type)) < 0)
		x->content_type[0] = '\0';
	r = header_value(line, len, "Docker-Content-Digest", x->dcd, sizeof(x->dcd));
	if (r < 0 || (r > 0 && !digest_valid(x->dcd))) {
		x->dcd[0] = '\0';
		x->dcd_bad = 1;
	}
	/* Of several challenges, a Bearer one is the one this client can answer. */
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
	if (x->dw != NULL) {
		if ((x->cb_rc = digest_writer_write(x->dw, data, len, &x->cb_err)) != BARGE_OK)
			return 0;
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

/*
 * Performs a GET of url on conn k.  Transport failures are BARGE_ENET naming
 * the endpoint; the HTTP status is left in x->status for the caller.
 */
static int
perform(struct conn *k, const char *url, const char *accept, const char *token, struct xfer *x,
        struct barge_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", *hdr = NULL;
	struct curl_slist *headers = NULL, *h;
	CURL *cu = k->curl;
	CURLcode cc;
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
	if (token != NULL) {
		if ((hdr = fu_printf("Authorization: Bearer %s", token)) == NULL ||
		    (h = curl_slist_append(headers, hdr)) == NULL)
			goto nomem;
		headers = h;
	}
	/* A redirect may go to other hosts (blob storage), but never from https down to http. */
	if (curl_easy_setopt(cu, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_REDIR_PROTOCOLS_STR,
	                     strncmp(url, "https:", 6) == 0 ? "https" : "http,https") != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_MAXREDIRS, MAX_REDIRS) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_LIMIT) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_USERAGENT, "barge/" BARGE_VERSION) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
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
	cc = curl_easy_perform(cu);
	if (x->cb_rc != BARGE_OK) {
		rc = err_set(err, x->cb_rc, "%s", x->cb_err.msg);
	} else if (cc != CURLE_OK) {
		/* The short text for the common cases; curl's detail where it says more (TLS). */
		rc = err_set(err, BARGE_ENET, "%s: cannot reach %s: %s", x->what, k->base,
		             cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
		                             errbuf[0] == '\0'
		                     ? curl_easy_strerror(cc)
		                     : errbuf);
	} else {
		rc = BARGE_OK;
	}
	goto out;
nomem:
	rc = err_set(err, BARGE_ENOMEM, "out of memory");
out:
	/* The handle lives on: it must not point at this frame's buffers. */
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	free(hdr);
	return rc;
}

/* Checks that a token can go into a header as it is. */
static int
token_ok(const char *t)
{
	size_t n = strlen(t), i;

	if (n == 0 || n > TOKEN_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return 0;
	return 1;
}

/* Fetches an anonymous token for k's repository repo, as the challenge asks. */
static int
fetch_token(struct client *c, struct conn *k, const char *repo, const char *challenge,
            const char *what, struct barge_err *err)
{
	struct client_challenge ch = { 0 };
	struct xfer x = { 0 };
	struct conn *tk;
	char auth[256], base[300];
	char *scope = NULL, *esc_scope = NULL, *esc_service = NULL, *url = NULL;
	const char *rest;
	json_t *doc = NULL, *t;
	int https, rc;
	size_t n;

	if ((rc = client_parse_challenge(challenge, &ch, err)) != BARGE_OK) {
		err_prefix(err, "%s", what);
		goto out;
	}
	if (strcasecmp(ch.scheme, "Bearer") != 0) {
		rc = err_set(err, BARGE_EAUTH,
		             "%s: registry asks for %s authentication; only anonymous pulls are "
		             "supported",
		             what, ch.scheme);
		goto out;
	}
	/* The realm is a URL on any host: the same http rule as for registries. */
	https = strncmp(ch.realm, "https://", 8) == 0;
	rest = ch.realm + (https ? 8 : 7);
	if (!https && strncmp(ch.realm, "http://", 7) != 0) {
		rc = err_set(err, BARGE_EAUTH, "%s: token realm \"%.200s\" is not an http(s) URL",
		             what, ch.realm);
		goto out;
	}
	n = strcspn(rest, "/?#");
	if (!authority_ok(rest, n) || n >= sizeof(auth)) {
		rc = err_set(err, BARGE_EAUTH, "%s: bad token realm \"%.200s\"", what, ch.realm);
		goto out;
	}
	memcpy(auth, rest, n);
	auth[n] = '\0';
	if (!https && !http_allowed(&c->cfg, auth)) {
		rc = err_set(err, BARGE_EAUTH,
		             "%s: token realm %.200s is plain http to a host that is not loopback "
		             "nor --insecure-registry",
		             what, ch.realm);
		goto out;
	}
	snprintf(base, sizeof(base), "%s://%s", https ? "https" : "http", auth);
	scope = ch.scope != NULL ? strdup(ch.scope) : fu_printf("repository:%s:pull", repo);
	if (scope == NULL || (esc_scope = curl_easy_escape(NULL, scope, 0)) == NULL ||
	    (ch.service != NULL && (esc_service = curl_easy_escape(NULL, ch.service, 0)) == NULL))
		goto nomem;
	url = fu_printf("%s%c%s%s&scope=%s", ch.realm, strchr(ch.realm, '?') != NULL ? '&' : '?',
	                esc_service != NULL ? "service=" : "",
	                esc_service != NULL ? esc_service : "", esc_scope);
	if (url == NULL || strlen(url) > CLIENT_URL_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "%s: token URL too long", what);
		goto out;
	}
	if ((rc = get_conn(c, base, &tk, err)) != BARGE_OK)
		goto out;
	x.max = TOKEN_BODY_MAX;
	x.what = what;
	if ((rc = perform(tk, url, "application/json", NULL, &x, err)) != BARGE_OK)
		goto out;
	if (x.status != 200) {
		rc = err_set(err, BARGE_EAUTH, "%s: token server %s answered HTTP %ld", what, base,
		             x.status);
		goto out;
	}
	doc = json_loadb(x.buf != NULL ? x.buf : "", x.len, 0, NULL);
	t = json_object_get(doc, "token");
	if (!json_is_string(t))
		t = json_object_get(doc, "access_token");
	if (!json_is_string(t) || !token_ok(json_string_value(t))) {
		rc = err_set(err, BARGE_EAUTH, "%s: token server %s sent no usable token", what,
		             base);
		goto out;
	}
	/* Tokens are per repository; a profile names a bounded number of them, but be sure. */
	if (json_object_size(k->tokens) >= TOKENS_MAX)
		json_object_clear(k->tokens);
	if (json_object_set(k->tokens, repo, t) != 0)
		goto nomem;
	rc = BARGE_OK;
	goto out;
nomem:
	rc = err_set(err, BARGE_ENOMEM, "out of memory");
out:
	json_decref(doc);
	free(x.buf);
	free(url);
	curl_free(esc_scope);
	curl_free(esc_service);
	free(scope);
	client_challenge_clear(&ch);
	return rc;
}

/*
 * GETs path under r's endpoint into x, answering one bearer challenge.
 * Returns BARGE_OK with x->status set, or a transport error.
 */
static int
registry_get(struct client *c, const struct ref *r, const char *path, const char *accept,
             struct xfer *x, struct barge_err *err)
{
	struct conn *k;
	char *base = NULL, *url = NULL;
	const char *token;
	int rc, attempt;

	if ((rc = client_endpoint(&c->cfg, r->host, &base, err)) != BARGE_OK) {
		err_prefix(err, "%s", x->what);
		goto out;
	}
	if ((rc = get_conn(c, base, &k, err)) != BARGE_OK)
		goto out;
	if ((url = fu_printf("%s/v2/%s/%s", base, r->path, path)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		token = json_string_value(json_object_get(k->tokens, r->path));
		if ((rc = perform(k, url, accept, token, x, err)) != BARGE_OK)
			goto out;
		if (x->status != 401 || x->challenge[0] == '\0' || attempt > 0)
			break;
		if ((rc = fetch_token(c, k, r->path, x->challenge, x->what, err)) != BARGE_OK)
			goto out;
	}
	rc = BARGE_OK;
out:
	free(url);
	free(base);
	return rc;
}

/* Maps an unsuccessful status to an error naming what was fetched. */
static int
status_error(const struct xfer *x, const char *unknown, struct barge_err *err)
{
	switch (x->status) {
	case 401:
		return err_set(err, BARGE_EAUTH, "%s: unauthorized (HTTP 401)", x->what);
	case 403:
		return err_set(err, BARGE_EAUTH, "%s: access denied (HTTP 403)", x->what);
	case 404:
		return err_set(err, BARGE_ENOTFOUND, "%s: %s", x->what, unknown);
	case 429:
		return err_set(err, BARGE_ENET, "%s: too many requests (HTTP 429)", x->what);
	default:
		return err_set(err, BARGE_ENET, "%s: registry answered HTTP %ld", x->what,
		               x->status);
	}
}

int
client_get_manifest(struct client *c, const struct ref *r, const char *reference,
                    struct client_manifest *out, struct barge_err *err)
{
	struct xfer x = { 0 };
	char what[REF_MAX + 300], path[400], got[DIGEST_STR_MAX];
	enum digest_alg alg = DIGEST_SHA256;
	int by_digest, rc;

	by_digest = strchr(reference, ':') != NULL;
	snprintf(what, sizeof(what), "%s/%s%c%s", r->host, r->path, by_digest ? '@' : ':',
	         reference);
	x.what = what;
	x.max = MANIFEST_MAX;
	if (by_digest) {
		if ((rc = digest_parse(reference, &alg, NULL, err)) != BARGE_OK) {
			err_prefix(err, "%s", what);
			goto fail;
		}
	} else if (!ref_valid_tag(reference)) {
		rc = err_set(err, BARGE_EINVAL, "%s: invalid tag", what);
		goto fail;
	}
	snprintf(path, sizeof(path), "manifests/%s", reference);
	if ((rc = registry_get(c, r, path, MT_ACCEPT_ALL, &x, err)) != BARGE_OK)
		goto fail;
	if (x.status != 200) {
		rc = status_error(&x, "manifest unknown", err);
		goto fail;
	}
	if (x.len == 0) {
		rc = err_set(err, BARGE_EFORMAT, "%s: empty manifest", what);
		goto fail;
	}
	if (x.dcd_bad) {
		rc = err_set(err, BARGE_EFORMAT, "%s: malformed Docker-Content-Digest header",
		             what);
		goto fail;
	}
	/* By tag, hash with the algorithm the registry announced, so the two compare. */
	if (!by_digest && x.dcd[0] != '\0' && digest_parse(x.dcd, &alg, NULL, NULL) != BARGE_OK)
		alg = DIGEST_SHA256;
	if ((rc = digest_buf(alg, x.buf, x.len, got, err)) != BARGE_OK)
		goto fail;
	if (by_digest && strcmp(got, reference) != 0) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest digest mismatch: expected %s, got %s", what, reference,
		             got);
		goto fail;
	}
	if (!by_digest && x.dcd[0] != '\0' && strcmp(got, x.dcd) != 0) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest digest mismatch: registry announced %s, content is %s",
		             what, x.dcd, got);
		goto fail;
	}
	memset(out, 0, sizeof(*out));
	if (x.content_type[0] != '\0' && (out->media_type = strdup(x.content_type)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	out->buf = x.buf;
	out->len = x.len;
	memcpy(out->digest, got, sizeof(got));
	return BARGE_OK;
fail:
	free(x.buf);
	return rc;
}

int
client_get_blob(struct client *c, const struct ref *r, const char *digest, int64_t size, int fd,
                struct barge_err *err)
{
	struct xfer x = { 0 };
	char what[REF_MAX + 300], path[400];
	int rc;

	snprintf(what, sizeof(what), "%s/%s: blob %s", r->host, r->path, digest);
	x.what = what;
	if ((rc = digest_writer_new(fd, digest, size, &x.dw, err)) != BARGE_OK) {
		err_prefix(err, "%s", what);
		goto out;
	}
	snprintf(path, sizeof(path), "blobs/%s", digest);
	if ((rc = registry_get(c, r, path, NULL, &x, err)) != BARGE_OK)
		goto out;
	if (x.status != 200) {
		rc = status_error(&x, "blob unknown", err);
		goto out;
	}
	if ((rc = digest_writer_finish(x.dw, err)) != BARGE_OK)
		err_prefix(err, "%s/%s", r->host, r->path);
out:
	digest_writer_free(x.dw);
	return rc;
}
