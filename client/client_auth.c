/*
 * client_auth: answering a registry's 401.  It parses WWW-Authenticate
 * challenges, fetches Bearer tokens from the realm (anonymously, with Basic
 * credentials, or by exchanging an identity token), builds Basic headers,
 * and keeps each endpoint's tokens and credentials in its struct conn.
 * Secrets it handles are wiped before they are freed and never put in
 * messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "client_auth.h"
#include "client_int.h"
#include "fileutil.h"

#define TOKEN_BODY_MAX (64 * 1024) /* token responses are small JSON */
#define TOKENS_MAX     1024

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

	if (client_conn_for(c, r, &k, err) != BARGE_OK)
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
	if (!client_authority_ok(rest, n) || n >= sizeof(auth)) {
		rc = err_set(err, BARGE_EAUTH, "%s: bad token realm \"%.200s\"", what, ch->realm);
		goto out;
	}
	memcpy(auth, rest, n);
	auth[n] = '\0';
	if (!https && !client_http_allowed(&c->cfg, auth)) {
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
	if ((rc = client_conn_get(c, base, &tk, err)) != BARGE_OK)
		goto out;
	x.max = TOKEN_BODY_MAX;
	x.what = what;
	if ((rc = client_perform(c, tk, url, "application/json", authz, post, &x, NULL, err)) !=
	    BARGE_OK)
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
int
client_auth_answer(struct client *c, struct conn *k, const char *repo, const char *challenge,
                   const char *what, struct barge_err *err)
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
const char *
client_authz(const struct conn *k, const char *repo, char *buf, size_t len)
{
	const char *token = json_string_value(json_object_get(k->tokens, repo));

	if (token != NULL) {
		snprintf(buf, len, "Bearer %s", token);
		return buf;
	}
	return k->basic;
}

/* Names an Authorization value without keeping it (FNV-1a); 0 for none. */
unsigned
client_authz_gen(const char *a)
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
	char authz[AUTHZ_MAX];
	struct conn *k;
	int rc, changed;

	if ((rc = client_conn_for(c, r, &k, err)) != BARGE_OK)
		return rc;
	/* Another transfer has authenticated since this one was sent: just try again. */
	changed = gen != client_authz_gen(client_authz(k, r->path, authz, sizeof(authz)));
	OPENSSL_cleanse(authz, sizeof(authz));
	if (changed)
		return BARGE_OK;
	return client_auth_answer(c, k, r->path, challenge, what, err);
}
