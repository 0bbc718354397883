/*
 * config_proxy.c: the proxy section of barged.yaml (config.h): the list of
 * proxy.upstreams read from the file or added by --proxy REGISTRY=URL, and
 * the checks across its entries, peers and peer_dns.  It owns the strings
 * of struct config_upstream, released by config_upstreams_clear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "yjson.h"

/* The string fields of an upstream entry, by key. */
static const struct {
	const char *key;
	size_t off;
} ufields[] = {
	{ "registry", offsetof(struct config_upstream, registry) },
	{ "url", offsetof(struct config_upstream, url) },
	{ "ca_file", offsetof(struct config_upstream, ca_file) },
	{ "docker_config", offsetof(struct config_upstream, docker_config) },
	{ "username", offsetof(struct config_upstream, username) },
	{ "password_file", offsetof(struct config_upstream, password_file) },
	{ "exec", offsetof(struct config_upstream, exec) },
};
#define NUFIELDS (sizeof(ufields) / sizeof(ufields[0]))

static void
upstream_clear(struct config_upstream *u)
{
	size_t i;

	for (i = 0; i < NUFIELDS; i++)
		free(*(char **)((char *)u + ufields[i].off));
	memset(u, 0, sizeof(*u));
}

void
config_upstreams_clear(struct config *c)
{
	size_t i;

	for (i = 0; i < c->proxy.nupstreams; i++)
		upstream_clear(&c->proxy.upstreams[i]);
	free(c->proxy.upstreams);
	c->proxy.upstreams = NULL;
	c->proxy.nupstreams = 0;
}

/* Reads upstream i (u, a mapping) into *o. */
static int
upstream_read(const struct cctx *x, const json_t *u, size_t i, struct config_upstream *o)
{
	static const char *const ukeys[] = { "registry",      "url",           "ca_file",
		                             "insecure",      "docker_config", "username",
		                             "password_file", "exec",          NULL };
	const char *key, *hint, *s;
	const json_t *v;
	size_t f;

	(void)yjson_pos(x->y, u, &o->line, &o->col);
	json_object_foreach((json_t *)u, key, v)
	{
		if (config_word_index(ukeys, key) < 0) {
			hint = yjson_suggest(key, ukeys);
			return config_cerr(x, u, key, NULL, BARGE_EINVAL,
			                   "proxy.upstreams[%zu]: unknown key \"%.100s\"%s%s%s", i,
			                   key, hint != NULL ? "; did you mean \"" : "",
			                   hint != NULL ? hint : "", hint != NULL ? "\"?" : "");
		}
		if (strcmp(key, "insecure") == 0) {
			if (!json_is_boolean(v))
				return config_cerr(
				        x, u, key, v, BARGE_EINVAL,
				        "proxy.upstreams[%zu].insecure: expected true or false", i);
			o->insecure = json_is_true(v);
			continue;
		}
		if ((s = json_string_value(v)) == NULL || strlen(s) != json_string_length(v) ||
		    config_str_problem("", s) != NULL)
			return config_cerr(x, u, key, v, BARGE_EINVAL,
			                   "proxy.upstreams[%zu].%s: expected a non-empty string",
			                   i, key);
		for (f = 0; f < NUFIELDS; f++)
			if (strcmp(ufields[f].key, key) == 0 &&
			    (*(char **)((char *)o + ufields[f].off) = strdup(s)) == NULL)
				return err_set(x->err, BARGE_ENOMEM, "out of memory");
	}
	return BARGE_OK;
}

int
config_upstreams_apply(const struct cctx *x, const json_t *obj, const char *key, const json_t *v)
{
	struct config *c = x->c;
	const json_t *u;
	size_t i;
	int rc;

	config_upstreams_clear(c);
	if (json_is_null(v))
		return BARGE_OK;
	if (!json_is_array(v))
		return config_cerr(x, obj, key, v, BARGE_EINVAL,
		                   "proxy.upstreams: expected a list, got %s", yjson_type_name(v));
	if (json_array_size(v) > CONFIG_UPSTREAMS_MAX)
		return config_cerr(x, obj, key, v, BARGE_ELIMIT,
		                   "proxy.upstreams: more than %d entries", CONFIG_UPSTREAMS_MAX);
	if ((c->proxy.upstreams = calloc(json_array_size(v) + 1, sizeof(*c->proxy.upstreams))) ==
	    NULL)
		return err_set(x->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(v, i, u)
	{
		if (!json_is_object(u))
			return config_cerr(
			        x, v, NULL, u, BARGE_EINVAL,
			        "proxy.upstreams[%zu]: expected a mapping (registry, url, ...), "
			        "got %s",
			        i, yjson_type_name(u));
		c->proxy.nupstreams++;
		if ((rc = upstream_read(x, u, i, &c->proxy.upstreams[i])) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

int
config_add_proxy(struct config *c, const char *spec, struct barge_err *err)
{
	const char *eq = strchr(spec, '=');
	struct config_upstream *n, *u = NULL;
	size_t i;

	if (eq == NULL || eq == spec || eq[1] == '\0')
		return err_set(err, BARGE_EINVAL,
		               "--proxy %.200s: expected REGISTRY=URL (docker.io=https://...)",
		               spec);
	for (i = 0; i < c->proxy.nupstreams; i++)
		if (strlen(c->proxy.upstreams[i].registry) == (size_t)(eq - spec) &&
		    strncmp(c->proxy.upstreams[i].registry, spec, (size_t)(eq - spec)) == 0)
			u = &c->proxy.upstreams[i];
	if (u != NULL) {
		upstream_clear(u);
	} else {
		if (c->proxy.nupstreams == CONFIG_UPSTREAMS_MAX)
			return err_set(err, BARGE_ELIMIT, "proxy.upstreams: more than %d entries",
			               CONFIG_UPSTREAMS_MAX);
		n = realloc(c->proxy.upstreams, (c->proxy.nupstreams + 1) * sizeof(*n));
		if (n == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		c->proxy.upstreams = n;
		u = &n[c->proxy.nupstreams++];
		memset(u, 0, sizeof(*u));
	}
	if ((u->registry = strndup(spec, (size_t)(eq - spec))) == NULL ||
	    (u->url = strdup(eq + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

int
config_proxy_enabled(const struct config *c)
{
	return c->proxy.nupstreams > 0 || c->proxy.peers.n > 0 || c->proxy.peer_dns != NULL;
}

/* Each upstream names a registry once, a URL, and at most one kind of credentials. */
int
config_upstreams_check(const struct config *c, struct barge_err *err)
{
	const struct config_upstream *u;
	size_t i, j;
	int kinds;

	for (i = 0; i < c->proxy.nupstreams; i++) {
		u = &c->proxy.upstreams[i];
		if (u->registry == NULL || u->url == NULL)
			return err_set(err, BARGE_EINVAL,
			               "line %d:%d: proxy.upstreams[%zu]: needs registry and url",
			               u->line, u->col, i);
		if (strncmp(u->url, "http://", 7) != 0 && strncmp(u->url, "https://", 8) != 0)
			return err_set(err, BARGE_EINVAL,
			               "line %d:%d: proxy.upstreams[%zu].url \"%.200s\": expected "
			               "http:// or https://",
			               u->line, u->col, i, u->url);
		if (strchr(u->registry, '/') != NULL || strchr(u->registry, '=') != NULL)
			return err_set(err, BARGE_EINVAL,
			               "line %d:%d: proxy.upstreams[%zu].registry \"%.200s\": "
			               "expected a registry host (docker.io, host:port)",
			               u->line, u->col, i, u->registry);
		for (j = 0; j < i; j++)
			if (strcmp(c->proxy.upstreams[j].registry, u->registry) == 0)
				return err_set(err, BARGE_EINVAL,
				               "line %d:%d: proxy.upstreams[%zu]: registry %s is "
				               "already upstreams[%zu]",
				               u->line, u->col, i, u->registry, j);
		if ((u->username == NULL) != (u->password_file == NULL))
			return err_set(err, BARGE_EINVAL,
			               "line %d:%d: proxy.upstreams[%zu]: username and "
			               "password_file go together",
			               u->line, u->col, i);
		kinds = (u->username != NULL) + (u->docker_config != NULL) + (u->exec != NULL);
		if (kinds > 1)
			return err_set(err, BARGE_EINVAL,
			               "line %d:%d: proxy.upstreams[%zu]: one kind of credentials: "
			               "docker_config, username + password_file, or exec",
			               u->line, u->col, i);
	}
	for (i = 0; i < c->proxy.peers.n; i++)
		if (strncmp(c->proxy.peers.v[i], "http://", 7) != 0 &&
		    strncmp(c->proxy.peers.v[i], "https://", 8) != 0)
			return err_set(err, BARGE_EINVAL,
			               "proxy.peers[%zu] \"%.200s\": expected http:// or https://",
			               i, c->proxy.peers.v[i]);
	if (c->proxy.peer_dns != NULL && strrchr(c->proxy.peer_dns, ':') == NULL)
		return err_set(err, BARGE_EINVAL, "proxy.peer_dns \"%.200s\": expected NAME:PORT",
		               c->proxy.peer_dns);
	return BARGE_OK;
}
