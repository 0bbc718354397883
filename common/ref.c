/*
 * ref: the image-reference parser and normaliser and the local repository
 * names (see ref.h).  A struct ref owns its strings.
 */
#include "ref.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "fileutil.h"

#define NAME_MAX_LEN 255 /* host/path, as the distribution grammar bounds it */
#define TAG_MAX_LEN  128
#define PORT_MAX_LEN 5

/* How much of a bad input an error message quotes. */
#define QUOTE_MAX 300

static int
is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
is_alnum(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* over s[0..n). */
static int
path_component_ok(const char *s, size_t n)
{
	size_t i = 0, sep;

	for (;;) {
		if (i >= n || !is_lower_alnum((unsigned char)s[i]))
			return 0;
		while (i < n && is_lower_alnum((unsigned char)s[i]))
			i++;
		if (i == n)
			return 1;
		sep = i;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (i == sep)
			return 0;
	}
}

/* path-component ('/' path-component)* over s[0..n). */
static int
path_ok(const char *s, size_t n)
{
	const char *slash;
	size_t len;

	for (;;) {
		slash = memchr(s, '/', n);
		len = slash == NULL ? n : (size_t)(slash - s);
		if (!path_component_ok(s, len))
			return 0;
		if (slash == NULL)
			return 1;
		s += len + 1;
		n -= len + 1;
	}
}

/* [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] over s[0..n). */
static int
domain_component_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_alnum((unsigned char)s[0]) || !is_alnum((unsigned char)s[n - 1]))
		return 0;
	for (i = 1; i + 1 < n; i++) {
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	}
	return 1;
}

/* A port is 1 to 5 digits, at most 65535. */
static int
port_ok(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > PORT_MAX_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

/*
 * Parses the IPv6 literal inside the brackets of s[0..n) ("[::1]") into addr.
 * The grammar allows hex digits and colons; inet_pton then checks that they
 * form an address.
 */
static int
ipv6_parse(const char *s, size_t n, struct in6_addr *addr)
{
	char buf[INET6_ADDRSTRLEN];
	size_t i;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof(buf))
		return 0;
	for (i = 1; i + 1 < n; i++) {
		if (!is_hex((unsigned char)s[i]) && s[i] != ':')
			return 0;
	}
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	return inet_pton(AF_INET6, buf, addr) == 1;
}

/* domain-component ('.' domain-component)* [':' port], or '[' ipv6 ']' [':' port]. */
static int
host_ok(const char *s, size_t n)
{
	struct in6_addr addr;
	const char *colon, *dot;
	size_t hn, len;

	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (rb == NULL)
			return 0;
		hn = (size_t)(rb - s) + 1;
		if (!ipv6_parse(s, hn, &addr))
			return 0;
		if (hn == n)
			return 1;
		return s[hn] == ':' && port_ok(s + hn + 1, n - hn - 1);
	}
	colon = memchr(s, ':', n);
	hn = colon == NULL ? n : (size_t)(colon - s);
	if (colon != NULL && !port_ok(colon + 1, n - hn - 1))
		return 0;
	for (;;) {
		dot = memchr(s, '.', hn);
		len = dot == NULL ? hn : (size_t)(dot - s);
		if (!domain_component_ok(s, len))
			return 0;
		if (dot == NULL)
			return 1;
		s += len + 1;
		hn -= len + 1;
	}
}

int
ref_valid_tag(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > TAG_MAX_LEN || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (!is_alnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return 0;
	}
	return 1;
}

int
ref_valid_repo(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	return n > 0 && n <= NAME_MAX_LEN && path_ok(s, n);
}

void
ref_free(struct ref *r)
{
	if (r == NULL)
		return;
	free(r->host);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r);
}

/* err_set with the standard head: invalid reference "<input>": <what>. */
static int
bad(struct barge_err *err, const char *in, const char *what)
{
	return err_set(err, BARGE_EINVAL, "invalid reference \"%.*s%s\": %s", QUOTE_MAX, in,
	               strlen(in) > QUOTE_MAX ? "..." : "", what);
}

/*
 * Whether the first component of a name is a host rather than the start of a
 * Docker Hub path: the rule Docker applies.
 */
static int
looks_like_host(const char *s, size_t n)
{
	return memchr(s, '.', n) != NULL || memchr(s, ':', n) != NULL ||
	       (n == 9 && memcmp(s, "localhost", 9) == 0) || (n > 0 && s[0] == '[');
}

/* Refuses what no reference can hold: too many bytes, spaces, controls, non-ASCII. */
static int
check_chars(const char *s, size_t len, struct barge_err *err)
{
	char msg[256];
	size_t i;

	if (len > REF_MAX) {
		snprintf(msg, sizeof(msg), "longer than %d bytes", REF_MAX);
		return bad(err, s, msg);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isspace(c))
			return bad(err, s, "contains whitespace");
		if (c < 0x20 || c >= 0x7f)
			return bad(err, s, "contains a control or non-ASCII character");
	}
	return BARGE_OK;
}

/*
 * name [':' tag] ['@' digest]: the digest starts at the first '@'.  Sets
 * r->digest if there is one; *nlen becomes the length of what precedes it.
 */
static int
parse_digest(struct ref *r, const char *s, size_t len, size_t *nlen, struct barge_err *err)
{
	const char *at = strchr(s, '@');
	int rc;

	*nlen = at == NULL ? len : (size_t)(at - s);
	if (at == NULL)
		return BARGE_OK;
	if ((rc = digest_parse(at + 1, NULL, NULL, err)) != BARGE_OK) {
		err_prefix(err, "invalid reference \"%.*s%s\"", QUOTE_MAX, s,
		           len > QUOTE_MAX ? "..." : "");
		return rc;
	}
	if ((r->digest = strdup(at + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

/*
 * A tag is what follows the last ':' after the last '/' of the first nlen
 * bytes of s.  Sets r->tag if there is one; *nlen becomes the name's length.
 */
static int
parse_tag(struct ref *r, const char *s, size_t *nlen, struct barge_err *err)
{
	const char *colon = NULL, *slash = NULL, *p;
	char msg[256];

	for (p = s; p < s + *nlen; p++) {
		if (*p == '/')
			slash = p;
	}
	for (p = slash == NULL ? s : slash; p < s + *nlen; p++) {
		if (*p == ':')
			colon = p;
	}
	if (colon == NULL)
		return BARGE_OK;
	if ((r->tag = strndup(colon + 1, (size_t)(s + *nlen - colon - 1))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (r->tag[0] == '\0')
		return bad(err, s, "empty tag");
	if (strlen(r->tag) > TAG_MAX_LEN) {
		snprintf(msg, sizeof(msg), "tag is longer than %d characters", TAG_MAX_LEN);
		return bad(err, s, msg);
	}
	if (!ref_valid_tag(r->tag)) {
		snprintf(msg, sizeof(msg),
		         "invalid tag \"%.140s\" (want [A-Za-z0-9_][A-Za-z0-9_.-]*)", r->tag);
		return bad(err, s, msg);
	}
	*nlen = (size_t)(colon - s);
	return BARGE_OK;
}

/*
 * Sets r->host from the name (s, *nlen bytes), lowercased, docker.io when
 * the name has none and for Docker Hub's other names.  *name and *nlen
 * become the repository path that follows it.
 */
static int
parse_host(struct ref *r, const char *s, const char **name, size_t *nlen, struct barge_err *err)
{
	const char *slash = memchr(s, '/', *nlen);
	size_t hlen, i;
	char msg[256];

	*name = s;
	if (slash != NULL && looks_like_host(s, (size_t)(slash - s))) {
		hlen = (size_t)(slash - s);
		if (!host_ok(s, hlen)) {
			snprintf(msg, sizeof(msg), "invalid registry host \"%.*s\"",
			         hlen > 100 ? 100 : (int)hlen, s);
			return bad(err, s, msg);
		}
		if ((r->host = strndup(s, hlen)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		/* Host names are case-insensitive; repository names are lowercase. */
		for (i = 0; i < hlen; i++)
			r->host[i] = (char)tolower((unsigned char)r->host[i]);
		*name = slash + 1;
		*nlen -= hlen + 1;
	} else if ((r->host = strdup("docker.io")) == NULL) {
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if (strcmp(r->host, "index.docker.io") == 0 ||
	    strcmp(r->host, "registry-1.docker.io") == 0) {
		free(r->host);
		if ((r->host = strdup("docker.io")) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	return BARGE_OK;
}

/*
 * Sets r->path from the repository path (name, nlen bytes) of reference s;
 * Docker Hub's official images gain their "library/".
 */
static int
parse_path(struct ref *r, const char *s, const char *name, size_t nlen, struct barge_err *err)
{
	char msg[256];
	size_t i;

	for (i = 0; i < nlen; i++) {
		if (name[i] >= 'A' && name[i] <= 'Z')
			return bad(err, s, "repository name must be lowercase");
	}
	for (i = 0; i < nlen; i++) {
		if (name[i] == '/' && (i == 0 || i + 1 == nlen || name[i + 1] == '/'))
			break;
	}
	if (nlen == 0 || i < nlen)
		return bad(err, s, "empty path component");
	if (!path_ok(name, nlen))
		return bad(
		        err, s,
		        "invalid repository path (components are [a-z0-9] runs joined by '.', '_', "
		        "'__' or '-')");
	if (strcmp(r->host, "docker.io") == 0 && memchr(name, '/', nlen) == NULL) {
		if ((r->path = malloc(nlen + 9)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		memcpy(r->path, "library/", 8);
		memcpy(r->path + 8, name, nlen);
		r->path[nlen + 8] = '\0';
	} else if ((r->path = strndup(name, nlen)) == NULL) {
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if (strlen(r->host) + 1 + strlen(r->path) > NAME_MAX_LEN) {
		snprintf(msg, sizeof(msg), "repository name longer than %d characters",
		         NAME_MAX_LEN);
		return bad(err, s, msg);
	}
	return BARGE_OK;
}

int
ref_parse(const char *s, struct ref **out, struct barge_err *err)
{
	struct ref *r = NULL;
	const char *name;
	size_t len, nlen;
	int rc;

	if (s == NULL || s[0] == '\0')
		return err_set(err, BARGE_EINVAL, "invalid reference \"\": empty reference");
	len = strlen(s);
	if ((rc = check_chars(s, len, err)) != BARGE_OK)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((rc = parse_digest(r, s, len, &nlen, err)) != BARGE_OK ||
	    (rc = parse_tag(r, s, &nlen, err)) != BARGE_OK)
		goto fail;
	if (nlen == 0) {
		rc = bad(err, s, "empty repository name");
		goto fail;
	}
	if ((rc = parse_host(r, s, &name, &nlen, err)) != BARGE_OK ||
	    (rc = parse_path(r, s, name, nlen, err)) != BARGE_OK)
		goto fail;
	if (r->tag == NULL && r->digest == NULL && (r->tag = strdup("latest")) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	*out = r;
	return BARGE_OK;
fail:
	ref_free(r);
	return rc;
}

char *
ref_name(const struct ref *r)
{
	return fu_printf("%s/%s", r->host, r->path);
}

char *
ref_string(const struct ref *r)
{
	return fu_printf("%s/%s%s%s%s%s", r->host, r->path, r->tag != NULL ? ":" : "",
	                 r->tag != NULL ? r->tag : "", r->digest != NULL ? "@" : "",
	                 r->digest != NULL ? r->digest : "");
}

char *
ref_local_repo(const struct ref *r, const char *project)
{
	struct in6_addr a;
	const char *rb, *port;
	char host[64];
	size_t n;

	if (r->host[0] != '[') {
		char *s = fu_printf("%s/%s/%s", project, r->host, r->path);
		char *c;

		if (s != NULL && (c = strchr(s + strlen(project) + 1, ':')) != NULL)
			*c = '_';
		return s;
	}
	/* Every group, spelt out, so that one address has one name however it was written. */
	rb = strchr(r->host, ']');
	if (rb == NULL || !ipv6_parse(r->host, (size_t)(rb - r->host) + 1, &a))
		return NULL;
	port = rb[1] == ':' ? rb + 2 : NULL;
	n = (size_t)snprintf(host, sizeof(host), "ip6_");
	for (int i = 0; i < 16; i += 2)
		n += (size_t)snprintf(host + n, sizeof(host) - n, "%s%x", i == 0 ? "_" : "-",
		                      (unsigned)(a.s6_addr[i] << 8 | a.s6_addr[i + 1]));
	return fu_printf("%s/%s%s%s/%s", project, host, port != NULL ? "_" : "",
	                 port != NULL ? port : "", r->path);
}
