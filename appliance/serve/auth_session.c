/*
 * auth_session: the scopes of the Docker token dance and the session
 * tokens barged issues for them (auth.h): "PAYLOAD.MAC", both base64url,
 * the MAC under struct auth's token key.  A token holds everything it
 * grants, so nothing is kept per session; it owns only the buffers of one
 * call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth_int.h"

#define AUTH_PAYLOAD_MAX (AUTH_SCOPES_MAX * (AUTH_NAME_MAX + 32) + 256)

/* --- scopes and session tokens ------------------------------------------- */

static int
valid_resource_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= AUTH_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._/-", s[i]) != NULL))
			return 0;
	return 1;
}

int
auth_parse_scope(const char *s, struct auth_scope *out)
{
	const char *c1, *c2, *p, *e;
	size_t len;

	memset(out, 0, sizeof(*out));
	if ((c1 = strchr(s, ':')) == NULL || (c2 = strrchr(s, ':')) == c1)
		return BARGE_EINVAL;
	if ((size_t)(c1 - s) >= sizeof(out->type) || c1 == s)
		return BARGE_EINVAL;
	memcpy(out->type, s, (size_t)(c1 - s));
	if (strspn(out->type, "abcdefghijklmnopqrstuvwxyz") != strlen(out->type))
		return BARGE_EINVAL;
	len = (size_t)(c2 - c1 - 1);
	if (!valid_resource_name(c1 + 1, len))
		return BARGE_EINVAL;
	memcpy(out->name, c1 + 1, len);
	for (p = c2 + 1; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if (e - p == 4 && strncmp(p, "pull", 4) == 0)
			out->actions |= AUTH_PULL;
		else if (e - p == 4 && strncmp(p, "push", 4) == 0)
			out->actions |= AUTH_PUSH;
		else if (e - p == 6 && strncmp(p, "delete", 6) == 0)
			out->actions |= AUTH_DELETE;
		else if (e - p == 1 && *p == '*')
			out->actions |= AUTH_ALL;
	}
	return BARGE_OK;
}

/*
 * Adds one scope of scopes (at p, len bytes) to g, narrowed to what id may
 * do.  Scopes naming the same resource share one entry, so that a client
 * repeating a resource (pull in one scope, push in another) uses no more
 * of the AUTH_SCOPES_MAX entries than one.
 */
static int
grant_add(struct auth_grant *g, const struct auth_identity *id, const char *p, size_t len,
          struct barge_err *err)
{
	char one[AUTH_NAME_MAX + 32];
	struct auth_scope sc;
	size_t i;

	if (len >= sizeof(one))
		return err_set(err, BARGE_EINVAL, "scope longer than %zu characters",
		               sizeof(one) - 1);
	memcpy(one, p, len);
	one[len] = '\0';
	if (auth_parse_scope(one, &sc) != BARGE_OK)
		return err_set(err, BARGE_EINVAL, "malformed scope \"%.100s\"", one);
	for (i = 0; i < g->n; i++)
		if (strcmp(g->scope[i].type, sc.type) == 0 &&
		    strcmp(g->scope[i].name, sc.name) == 0)
			break;
	if (i == g->n) {
		if (g->n == AUTH_SCOPES_MAX)
			return err_set(err, BARGE_ELIMIT, "scopes naming more than %d resources",
			               AUTH_SCOPES_MAX);
		g->scope[g->n] = sc;
		g->scope[g->n++].actions = 0;
	}
	/* A scoped read-only token gets nothing outside its globs. */
	if (auth_identity_allows(id, sc.type, sc.name))
		g->scope[i].actions |= sc.actions & id->actions;
	return BARGE_OK;
}

int
auth_token_issue(struct auth *a, const struct auth_identity *id, const char *scopes, time_t now,
                 char **token, struct barge_err *err)
{
	unsigned char m[AUTH_HASH_LEN];
	struct auth_grant *g = NULL;
	char *payload = NULL, *tok = NULL;
	const char *p, *e;
	size_t i, len, plen, tlen;
	int rc = BARGE_OK;

	if ((payload = malloc(AUTH_PAYLOAD_MAX)) == NULL || (g = calloc(1, sizeof(*g))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (p = scopes != NULL ? scopes : ""; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, " ");
		if (e != p && (rc = grant_add(g, id, p, (size_t)(e - p), err)) != BARGE_OK)
			goto out;
	}
	len = (size_t)snprintf(payload, AUTH_PAYLOAD_MAX, "v1\n%s\n%lld\n", id->subject,
	                       (long long)(now + AUTH_TOKEN_TTL));
	for (i = 0; i < g->n; i++)
		len += (size_t)snprintf(payload + len, AUTH_PAYLOAD_MAX - len, "%s:%s:%u\n",
		                        g->scope[i].type, g->scope[i].name, g->scope[i].actions);
	plen = (len + 2) / 3 * 4 + 1;
	tlen = plen + 1 + (AUTH_HASH_LEN + 2) / 3 * 4 + 1;
	if ((tok = malloc(tlen)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	b64url_encode((unsigned char *)payload, len, tok);
	plen = strlen(tok);
	mac(a, tok, plen, m);
	tok[plen] = '.';
	b64url_encode(m, AUTH_HASH_LEN, tok + plen + 1);
	*token = tok;
	tok = NULL;
out:
	free(tok);
	free(g);
	free(payload);
	return rc;
}

/* Parses "LINE\n" at *p as a decimal into *v. */
static int
take_number(char **p, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(*p, &end, 10);
	if (end == *p || *end != '\n' || errno != 0)
		return -1;
	*p = end + 1;
	return 0;
}

int
auth_token_verify(struct auth *a, const char *token, time_t now, struct auth_grant *out)
{
	unsigned char m[AUTH_HASH_LEN], given[AUTH_HASH_LEN + 3];
	struct auth_identity *id;
	char *payload = NULL, *p, *nl, *c1, *c2;
	const char *dot;
	long long exp, bits;
	ssize_t n;
	size_t len;
	int rc = BARGE_EAUTH;

	memset(out, 0, sizeof(*out));
	if (token == NULL || (len = strlen(token)) > AUTH_TOKEN_MAX ||
	    (dot = strchr(token, '.')) == NULL)
		return BARGE_EAUTH;
	/* The MAC part comes from the client: only as much as given can hold is decoded. */
	if (strlen(dot + 1) > sizeof(given) / 3 * 4)
		return BARGE_EAUTH;
	mac(a, token, (size_t)(dot - token), m);
	n = b64_decode(dot + 1, strlen(dot + 1), 1, given);
	if (n != AUTH_HASH_LEN || CRYPTO_memcmp(m, given, AUTH_HASH_LEN) != 0)
		return BARGE_EAUTH;
	/* The MAC is ours: the payload below was written by auth_token_issue. */
	if ((payload = malloc((size_t)(dot - token) + 1)) == NULL)
		return BARGE_ENOMEM;
	if ((n = b64_decode(token, (size_t)(dot - token), 1, (unsigned char *)payload)) < 0)
		goto out;
	payload[n] = '\0';
	if (strncmp(payload, "v1\n", 3) != 0 || (nl = strchr(payload + 3, '\n')) == NULL ||
	    (size_t)(nl - payload - 3) >= sizeof(out->subject))
		goto out;
	memcpy(out->subject, payload + 3, (size_t)(nl - payload - 3));
	p = nl + 1;
	if (take_number(&p, &exp) != 0)
		goto out;
	if ((long long)now >= exp)
		goto out;
	out->expires = (time_t)exp;
	while (*p != '\0' && out->n < AUTH_SCOPES_MAX) {
		struct auth_scope *s = &out->scope[out->n];

		if ((nl = strchr(p, '\n')) == NULL ||
		    (c1 = memchr(p, ':', (size_t)(nl - p))) == NULL)
			goto out;
		*nl = '\0';
		if ((c2 = strrchr(c1, ':')) == c1 || (size_t)(c1 - p) >= sizeof(s->type) ||
		    (size_t)(c2 - c1 - 1) >= sizeof(s->name))
			goto out;
		memcpy(s->type, p, (size_t)(c1 - p));
		memcpy(s->name, c1 + 1, (size_t)(c2 - c1 - 1));
		p = c2 + 1;
		*nl = '\n';
		if (take_number(&p, &bits) != 0)
			goto out;
		s->actions = (unsigned)bits & AUTH_ALL;
		out->n++;
	}
	rc = BARGE_OK;
	/* A read-only token removed or expired since takes its session tokens with it. */
	if (strncmp(out->subject, "token:", 6) == 0) {
		if ((id = malloc(sizeof(*id))) == NULL)
			rc = BARGE_ENOMEM;
		else
			rc = auth_subject_identity(a, out->subject, id);
		free(id);
	}
out:
	free(payload);
	if (rc != BARGE_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
auth_grant_allows(const struct auth_grant *g, const char *type, const char *name, unsigned actions)
{
	unsigned have = 0;
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->scope[i].type, type) == 0 && strcmp(g->scope[i].name, name) == 0)
			have |= g->scope[i].actions;
	return (have & actions) == actions;
}
