#include "client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "creds.h"
#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define DOCKER_HUB_ENDPOINT "https://registry-1.docker.io"
#define CHALLENGE_MAX       4096        /* longest WWW-Authenticate value kept */
#define TOKEN_BODY_MAX      (64 * 1024) /* token responses are small JSON */
#define TOKEN_MAX           (16 * 1024)
#define ERROR_BODY_MAX      (1024 * 1024) /* error bodies are read and dropped */
#define LOW_SPEED_LIMIT     1024L /* bytes/s below which, for timeout_s, a transfer is given up */
#define MAX_REDIRS          5L
#define MAX_ENDPOINTS       256
#define TOKENS_MAX          1024

/* One endpoint ("scheme://authority") with its own handle, so connections stay alive. */
struct conn {
	char *base;
	const char *authority; /* points into base */
	CURL *curl;
	json_t *tokens; /* repository -> bearer token */
	int creds_loaded;
	struct creds creds; /* for this endpoint; username NULL when none */
	char *basic;        /* "Basic ..." once the endpoint asked for Basic auth */
};

struct client {
	struct client_config cfg;
	struct conn **conns; /* pointers, so a conn stays put while others are added */
	size_t nconns;
};

/* One transfer: where the body goes and what the headers said. */
struct xfer {
	long status;
	char content_type[256];
	char dcd[DIGEST_STR_MAX]; /* Docker-Content-Digest */
	int dcd_bad;              /* the header was there but not a digest */
	char challenge[CHALLENGE_MAX];
	char retry_after[64];
	/* The sink of a 2xx body: a bounded buffer. */
	char *buf;
	size_t len, cap, max;
	size_t dropped;
	/* Set by a callback that aborted the transfer. */
	int cb_rc;
	struct barge_err cb_err;
	const char *what; /* names the transfer in messages */
};

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
	if ((h = strndup(spec, (size_t)(eq - spec))) == NULL ||
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
	dst->max_attempts = src->max_attempts;
	dst->backoff_ms = src->backoff_ms;
	dst->backoff_max_ms = src->backoff_max_ms;
	dst->timeout_s = src->timeout_s;
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
	if ((ch.scheme = strndup(s, n)) == NULL)
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

static void
conn_free(struct conn *k)
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

void
client_free(struct client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nconns; i++)
		conn_free(c->conns[i]);
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
		conn_free(k);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	k->authority = strstr(k->base, "://") != NULL ? strstr(k->base, "://") + 3 : k->base;
	c->conns[c->nconns++] = k;
	*out = k;
	return BARGE_OK;
}

/* The connection for r's registry. */
static int
ref_conn(struct client *c, const struct ref *r, struct conn **out, struct barge_err *err)
{
	char *base = NULL;
	int rc;

	if ((rc = client_endpoint(&c->cfg, r->host, &base, err)) != BARGE_OK)
		return rc;
	rc = get_conn(c, base, out, err);
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
static int
perform(struct client *c, struct conn *k, const char *url, const char *accept, const char *authz,
        const char *post, struct xfer *x, CURLcode *ccp, struct barge_err *err)
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

/* Loads k's credentials on first use: by the endpoint's authority, Docker Hub as docker.io. */
static int
load_creds(struct conn *k, struct barge_err *err)
{
	const char *who = strcmp(k->base, DOCKER_HUB_ENDPOINT) == 0 ? "docker.io" : k->authority;
	int rc;

	if (k->creds_loaded)
		return BARGE_OK;
	if ((rc = creds_lookup(who, &k->creds, err)) != BARGE_OK) {
		err_prefix(err, "credentials for %s", who);
		return rc;
	}
	k->creds_loaded = 1;
	return BARGE_OK;
}

/* "Basic base64(user:secret)"; caller wipes and frees. */
static char *
basic_header(const struct creds *cr)
{
	size_t ulen = strlen(cr->username), slen = strlen(cr->secret), n = ulen + 1 + slen;
	unsigned char *plain;
	char *out;

	if (n > TOKEN_MAX || (plain = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(plain, cr->username, ulen);
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, cr->secret, slen);
	if ((out = malloc(6 + 4 * ((n + 2) / 3) + 1)) != NULL) {
		memcpy(out, "Basic ", 6);
		EVP_EncodeBlock((unsigned char *)out + 6, plain, (int)n);
	}
	OPENSSL_cleanse(plain, n);
	free(plain);
	return out;
}

static int
refused(struct conn *k, const char *repo, const char *what, struct barge_err *err)
{
	return err_set(err, BARGE_EAUTH,
	               "%s: registry %s refused the credentials for %s (user \"%.64s\" from %s)",
	               what, k->authority, repo,
	               k->creds.identity_token ? "<identity token>" : k->creds.username,
	               k->creds.source);
}

static int
missing(struct conn *k, const char *repo, const char *what, struct barge_err *err)
{
	char *path = creds_config_path();
	int rc;

	rc = err_set(err, BARGE_EAUTH,
	             "%s: registry %s requires credentials for %s and none were found (looked "
	             "in %s)",
	             what, k->authority, repo, path != NULL ? path : "DOCKER_CONFIG and HOME");
	free(path);
	return rc;
}

int
client_auth_error(struct client *c, const struct ref *r, const char *what, struct barge_err *err)
{
	struct conn *k;

	if (ref_conn(c, r, &k, err) != BARGE_OK)
		return err->code;
	if (k->creds.username != NULL)
		return refused(k, r->path, what, err);
	return missing(k, r->path, what, err);
}

/* Fetches a token for k's repository repo, as the Bearer challenge ch asks. */
static int
fetch_token(struct client *c, struct conn *k, const char *repo, const struct client_challenge *ch,
            const char *what, struct barge_err *err)
{
	struct xfer x = { 0 };
	struct conn *tk;
	char auth[256], base[300];
	char *scope = NULL, *esc_scope = NULL, *esc_service = NULL, *url = NULL;
	char *esc_secret = NULL, *post = NULL, *authz = NULL;
	const char *rest;
	json_t *doc = NULL, *t;
	int https, rc;
	size_t n;

	/* The realm is a URL on any host: the same http rule as for registries. */
	https = strncmp(ch->realm, "https://", 8) == 0;
	rest = ch->realm + (https ? 8 : 7);
	if (!https && strncmp(ch->realm, "http://", 7) != 0) {
		rc = err_set(err, BARGE_EAUTH, "%s: token realm \"%.200s\" is not an http(s) URL",
		             what, ch->realm);
		goto out;
	}
	n = strcspn(rest, "/?#");
	if (!authority_ok(rest, n) || n >= sizeof(auth)) {
		rc = err_set(err, BARGE_EAUTH, "%s: bad token realm \"%.200s\"", what, ch->realm);
		goto out;
	}
	memcpy(auth, rest, n);
	auth[n] = '\0';
	if (!https && !http_allowed(&c->cfg, auth)) {
		rc = err_set(err, BARGE_EAUTH,
		             "%s: token realm %.200s is plain http to a host that is not loopback "
		             "nor --insecure-registry",
		             what, ch->realm);
		goto out;
	}
	snprintf(base, sizeof(base), "%s://%s", https ? "https" : "http", auth);
	scope = ch->scope != NULL ? strdup(ch->scope) : fu_printf("repository:%s:pull", repo);
	if (scope == NULL || (esc_scope = curl_easy_escape(NULL, scope, 0)) == NULL ||
	    (ch->service != NULL && (esc_service = curl_easy_escape(NULL, ch->service, 0)) == NULL))
		goto nomem;
	if (k->creds.username != NULL && k->creds.identity_token) {
		/* An identity token is an OAuth2 refresh token: it is exchanged by POST. */
		url = strdup(ch->realm);
		if ((esc_secret = curl_easy_escape(NULL, k->creds.secret, 0)) == NULL ||
		    (post = fu_printf(
		             "grant_type=refresh_token&client_id=barge&service=%s&scope=%s&"
		             "refresh_token=%s",
		             esc_service != NULL ? esc_service : "", esc_scope, esc_secret)) ==
		            NULL)
			goto nomem;
	} else {
		url = fu_printf("%s%c%s%s&scope=%s", ch->realm,
		                strchr(ch->realm, '?') != NULL ? '&' : '?',
		                esc_service != NULL ? "service=" : "",
		                esc_service != NULL ? esc_service : "", esc_scope);
		if (k->creds.username != NULL && (authz = basic_header(&k->creds)) == NULL)
			goto nomem;
	}
	if (url == NULL || strlen(url) > CLIENT_URL_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "%s: token URL too long", what);
		goto out;
	}
	if ((rc = get_conn(c, base, &tk, err)) != BARGE_OK)
		goto out;
	x.max = TOKEN_BODY_MAX;
	x.what = what;
	if ((rc = perform(c, tk, url, "application/json", authz, post, &x, NULL, err)) != BARGE_OK)
		goto out;
	if (x.status == 401 || x.status == 403) {
		rc = k->creds.username != NULL ? refused(k, repo, what, err)
		                               : missing(k, repo, what, err);
		goto out;
	}
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
	if (x.buf != NULL)
		OPENSSL_cleanse(x.buf, x.len);
	free(x.buf);
	free(url);
	if (post != NULL)
		OPENSSL_cleanse(post, strlen(post));
	free(post);
	if (authz != NULL)
		OPENSSL_cleanse(authz, strlen(authz));
	free(authz);
	if (esc_secret != NULL)
		OPENSSL_cleanse(esc_secret, strlen(esc_secret));
	curl_free(esc_secret);
	curl_free(esc_scope);
	curl_free(esc_service);
	free(scope);
	return rc;
}

/* Answers a 401 challenge of conn k for repository repo. */
static int
answer(struct client *c, struct conn *k, const char *repo, const char *challenge, const char *what,
       struct barge_err *err)
{
	struct client_challenge ch = { 0 };
	int rc;

	if ((rc = client_parse_challenge(challenge, &ch, err)) != BARGE_OK) {
		err_prefix(err, "%s", what);
		goto out;
	}
	if ((rc = load_creds(k, err)) != BARGE_OK) {
		err_prefix(err, "%s", what);
		goto out;
	}
	if (strcasecmp(ch.scheme, "Bearer") == 0) {
		rc = fetch_token(c, k, repo, &ch, what, err);
	} else if (strcasecmp(ch.scheme, "Basic") == 0) {
		if (k->creds.username == NULL) {
			rc = missing(k, repo, what, err);
		} else if (k->creds.identity_token) {
			rc = err_set(err, BARGE_EAUTH,
			             "%s: registry %s asks for Basic authentication, but its "
			             "credentials are an identity token",
			             what, k->authority);
		} else if (k->basic != NULL) {
			/* Basic credentials were sent already: the registry does not want them. */
			rc = refused(k, repo, what, err);
		} else if ((k->basic = basic_header(&k->creds)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
		}
	} else {
		rc = err_set(err, BARGE_EAUTH,
		             "%s: registry %s asks for %.32s authentication, which barge does not "
		             "speak (Bearer and Basic only)",
		             what, k->authority, ch.scheme);
	}
out:
	client_challenge_clear(&ch);
	return rc;
}

/* The Authorization value for repo on k, or NULL. */
static const char *
authz_of(const struct conn *k, const char *repo, char *buf, size_t len)
{
	const char *token = json_string_value(json_object_get(k->tokens, repo));

	if (token != NULL) {
		snprintf(buf, len, "Bearer %s", token);
		return buf;
	}
	return k->basic;
}

/* Names an Authorization value without keeping it (FNV-1a); 0 for none. */
static unsigned
authz_gen(const char *a)
{
	unsigned h = 2166136261u;

	if (a == NULL)
		return 0;
	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * 16777619u;
	return h | 1;
}

int
client_authenticate(struct client *c, const struct ref *r, const char *challenge, unsigned gen,
                    const char *what, struct barge_err *err)
{
	char authz[TOKEN_MAX + 16];
	struct conn *k;
	int rc, changed;

	if ((rc = ref_conn(c, r, &k, err)) != BARGE_OK)
		return rc;
	/* Another transfer has authenticated since this one was sent: just try again. */
	changed = gen != authz_gen(authz_of(k, r->path, authz, sizeof(authz)));
	OPENSSL_cleanse(authz, sizeof(authz));
	if (changed)
		return BARGE_OK;
	return answer(c, k, r->path, challenge, what, err);
}

int
client_prepare(struct client *c, const struct ref *r, const char *path, CURL *h,
               struct curl_slist **headers, unsigned *gen, struct barge_err *err)
{
	char authz[TOKEN_MAX + 16], *url = NULL, *hdr = NULL;
	struct curl_slist *grown;
	const char *a;
	struct conn *k;
	int rc;

	if ((rc = ref_conn(c, r, &k, err)) != BARGE_OK)
		return rc;
	if ((url = fu_printf("%s/v2/%s/%s", k->base, r->path, path)) == NULL)
		goto nomem;
	a = authz_of(k, r->path, authz, sizeof(authz));
	*gen = authz_gen(a);
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
client_retryable_status(long status)
{
	/* 501 and 505 say the server will never do it; the other 5xx may pass. */
	return status == 429 || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

int
client_retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

int64_t
client_backoff_ms(const struct client_config *cfg, int attempt, uint32_t rnd)
{
	int64_t base = cfg->backoff_ms > 0 ? cfg->backoff_ms : CLIENT_BACKOFF_MS_DEFAULT;
	int64_t max = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : CLIENT_BACKOFF_MAX_MS_DEFAULT;
	int64_t d = base;
	int i;

	for (i = 1; i < attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* "Equal jitter": never less than half the delay, so retries do back off. */
	return d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

int
client_parse_retry_after(const char *value, time_t now, int64_t *ms)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char wday[4], mon[4], gmt[4];
	struct tm tm = { 0 };
	int day, year, hh, mm, ss, n = 0, i;
	int64_t secs = 0;
	time_t t;
	size_t k;

	if (value[0] >= '0' && value[0] <= '9') {
		for (k = 0; value[k] >= '0' && value[k] <= '9'; k++)
			if (secs <= CLIENT_RETRY_AFTER_MAX_S)
				secs = secs * 10 + (value[k] - '0');
		if (value[k] != '\0')
			return BARGE_EFORMAT;
	} else {
		/* IMF-fixdate, the form RFC 9110 requires senders to use: "Sun, 06 Nov 1994
		 * 08:49:37 GMT". */
		if (sscanf(value, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wday,
		           &day, mon, &year, &hh, &mm, &ss, gmt, &n) != 8 ||
		    value[n] != '\0' || strcmp(gmt, "GMT") != 0)
			return BARGE_EFORMAT;
		for (i = 0; i < 12 && strcmp(mon, months[i]) != 0; i++)
			;
		if (i == 12 || day < 1 || day > 31 || year < 1970 || hh > 23 || mm > 59 || ss > 60)
			return BARGE_EFORMAT;
		tm.tm_year = year - 1900;
		tm.tm_mon = i;
		tm.tm_mday = day;
		tm.tm_hour = hh;
		tm.tm_min = mm;
		tm.tm_sec = ss;
		if ((t = timegm(&tm)) == (time_t)-1)
			return BARGE_EFORMAT;
		secs = t > now ? (int64_t)(t - now) : 0;
	}
	if (secs > CLIENT_RETRY_AFTER_MAX_S)
		secs = CLIENT_RETRY_AFTER_MAX_S;
	*ms = secs * 1000;
	return BARGE_OK;
}

int
client_max_attempts(const struct client *c)
{
	return c->cfg.max_attempts > 0 ? c->cfg.max_attempts : CLIENT_ATTEMPTS_DEFAULT;
}

int64_t
client_retry_delay_ms(const struct client *c, int attempt, const char *retry_after)
{
	int64_t ms;

	if (retry_after != NULL && retry_after[0] != '\0' &&
	    client_parse_retry_after(retry_after, time(NULL), &ms) == BARGE_OK)
		return ms;
	return client_backoff_ms(&c->cfg, attempt, (uint32_t)random());
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
		               .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * GETs path under r's endpoint into x, answering a 401 challenge and
 * retrying what may pass.  Returns BARGE_OK with x->status set (401 only when
 * it persists after authenticating is turned into BARGE_EAUTH), or a
 * transport error.
 */
static int
registry_get(struct client *c, const struct ref *r, const char *path, const char *accept,
             struct xfer *x, struct barge_err *err)
{
	char authz[TOKEN_MAX + 16];
	struct conn *k;
	char *url = NULL;
	int rc, attempt, answered;
	CURLcode cc;

	if ((rc = ref_conn(c, r, &k, err)) != BARGE_OK) {
		err_prefix(err, "%s", x->what);
		goto out;
	}
	if ((url = fu_printf("%s/v2/%s/%s", k->base, r->path, path)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (attempt = 1;; attempt++) {
		answered = 0;
		for (;;) {
			rc = perform(c, k, url, accept, authz_of(k, r->path, authz, sizeof(authz)),
			             NULL, x, &cc, err);
			if (rc != BARGE_OK || x->status != 401 || x->challenge[0] == '\0')
				break;
			/* A second 401 after answering: the answer was not good enough. */
			if (answered) {
				rc = client_auth_error(c, r, x->what, err);
				goto out;
			}
			if ((rc = answer(c, k, r->path, x->challenge, x->what, err)) != BARGE_OK)
				goto out;
			answered = 1;
		}
		if (attempt >= client_max_attempts(c))
			break;
		if (rc == BARGE_ENET && client_retryable_curl(cc))
			sleep_ms(client_retry_delay_ms(c, attempt, NULL));
		else if (rc == BARGE_OK && client_retryable_status(x->status))
			sleep_ms(client_retry_delay_ms(c, attempt, x->retry_after));
		else
			break;
	}
out:
	OPENSSL_cleanse(authz, sizeof(authz));
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
		rc = client_status_error(x.status, what, "manifest unknown", err);
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
