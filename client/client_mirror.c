/*
 * client_mirror: where each registry host is reached, from the mirrors and
 * insecure hosts the flags configure (client.h), and whether plain http may
 * be spoken to an authority.  It owns the struct client_config it fills in
 * until the caller clears it.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"
#include "fileutil.h"

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

int
client_authority_ok(const char *s, size_t n)
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
	if (!client_authority_ok(a, n) || n >= len)
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
	if (!client_authority_ok(spec, (size_t)(eq - spec)))
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

	if (!client_authority_ok(host, strlen(host)))
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

int
client_config_copy(struct client_config *dst, const struct client_config *src,
                   struct barge_err *err)
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
int
client_http_allowed(const struct client_config *cfg, const char *authority)
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
		if (!https && !client_http_allowed(cfg, auth))
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
	else if (!client_authority_ok(host, strlen(host)))
		return err_set(err, BARGE_EINVAL, "bad registry host \"%.200s\"", host);
	else
		u = fu_printf("%s://%s", client_http_allowed(cfg, host) ? "http" : "https", host);
out:
	if (u == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*url = u;
	return BARGE_OK;
}
