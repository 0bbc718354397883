#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth.h"
#include "fileutil.h"
#include "fixture.h"

static char tmp[FX_DIR_MAX];

static int
setup(void **state)
{
	(void)state;
	fx_tmpdir(tmp, "auth");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fx_rmtree(tmp);
	return 0;
}

/* "Basic " + base64(user:pw) */
static void
basic(const char *user, const char *pw, char *out, size_t len)
{
	char raw[256];
	int n;

	n = snprintf(raw, sizeof(raw), "%s:%s", user, pw);
	assert_true(len > 6 + 4 * ((size_t)n + 2) / 3);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (unsigned char *)raw, n);
}

static struct auth *
new_auth(const char *pwfile, int anon, int *generated)
{
	struct auth_opts o = { tmp, pwfile, anon, 1000, 0 };
	struct barge_err err = { 0 };
	struct auth *a = NULL;

	assert_int_equal(auth_new(&o, &a, generated, &err), BARGE_OK);
	return a;
}

static void
test_generated_password(void **state)
{
	struct auth_identity id;
	struct auth *a;
	struct stat st;
	char path[128], hdr[256], *pw = NULL;
	struct barge_err err = { 0 };
	size_t len = 0;
	int gen;

	(void)state;
	a = new_auth(NULL, 1, &gen);
	assert_int_equal(gen, 1);
	snprintf(path, sizeof(path), "%s/admin.password", tmp);
	assert_string_equal(auth_password_path(a), path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fu_read_file(path, 100, &pw, &len, &err), BARGE_OK);
	assert_int_equal(len, 25);
	assert_int_equal(pw[24], '\n');
	pw[24] = '\0';
	assert_int_equal(
	        strspn(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), 24);

	basic("admin", pw, hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	assert_string_equal(id.subject, "admin");
	assert_int_equal(id.actions, AUTH_ALL);
	/* Again: the verified-password cache answers the same. */
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	basic("admin", "wrong", hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_EAUTH);
	assert_int_equal(id.actions, 0);
	basic("root", pw, hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_EAUTH);
	auth_free(a);

	/* The second start reads the same password rather than making another. */
	a = new_auth(NULL, 1, &gen);
	assert_int_equal(gen, 0);
	basic("admin", pw, hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	auth_free(a);
	free(pw);
}

/* A password hashed in a child process (as barged serve does) verifies the same. */
static void
test_isolated_hash(void **state)
{
	struct auth_opts o = { tmp, NULL, 0, 1000, 1 };
	struct barge_err err = { 0 };
	struct auth_identity id;
	struct auth *a = NULL;
	char path[128], hdr[256];
	int gen;

	(void)state;
	snprintf(path, sizeof(path), "%s/pw", tmp);
	assert_int_equal(fu_write_atomic(path, "s3cr:et\n", 8, 0600, &err), BARGE_OK);
	o.admin_password_file = path;
	assert_int_equal(auth_new(&o, &a, &gen, &err), BARGE_OK);
	basic("admin", "s3cr:et", hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	assert_string_equal(id.subject, "admin");
	basic("admin", "s3cr:eT", hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_EAUTH);
	auth_free(a);
}

/*
 * SIGHUP: auth_reload puts the file's new password in place of the old
 * one, which stops working at once (its remembered login too); a file
 * that cannot be used leaves the password in use alone.
 */
static void
test_reload_password(void **state)
{
	struct auth_opts o = { tmp, NULL, 0, 1000, 1 };
	struct barge_err err = { 0 };
	struct auth_identity id;
	struct auth *a = NULL;
	char path[128], old[256], new[256];
	int gen;

	(void)state;
	snprintf(path, sizeof(path), "%s/pw", tmp);
	assert_int_equal(auth_password_set(path, "first", 5, &err), BARGE_OK);
	o.admin_password_file = path;
	assert_int_equal(auth_new(&o, &a, &gen, &err), BARGE_OK);
	basic("admin", "first", old, sizeof(old));
	basic("admin", "second", new, sizeof(new));
	/* Twice: the second check answers from the remembered login. */
	assert_int_equal(auth_check_header(a, old, &id), BARGE_OK);
	assert_int_equal(auth_check_header(a, old, &id), BARGE_OK);

	/* `barged passwd` rewrote the file: the old password stops at once, without SIGHUP. */
	assert_int_equal(auth_password_set(path, "second", 6, &err), BARGE_OK);
	assert_int_equal(auth_check_header(a, old, &id), BARGE_EAUTH);
	assert_int_equal(auth_reload(a, &err), BARGE_OK);
	assert_int_equal(auth_check_header(a, old, &id), BARGE_EAUTH);
	assert_int_equal(auth_check_header(a, new, &id), BARGE_OK);
	assert_string_equal(id.subject, "admin");

	/* Unusable files: an error naming the file, and "second" goes on working. */
	assert_int_equal(fu_write_atomic(path, "a\nb\n", 4, 0600, &err), BARGE_OK);
	assert_int_equal(auth_reload(a, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(auth_reload(a, &err), BARGE_ENOTFOUND);
	assert_int_equal(auth_check_header(a, new, &id), BARGE_OK);
	assert_int_equal(auth_check_header(a, old, &id), BARGE_EAUTH);
	auth_free(a);
}

/* barged passwd's writers: one line, mode 0600, refused input leaves the file alone. */
static void
test_password_set(void **state)
{
	struct barge_err err = { 0 };
	struct stat st;
	char path[128], *pw = NULL, *buf = NULL, *gen = NULL, *p;
	size_t len = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/admin.password", tmp);
	p = auth_password_file(tmp, NULL);
	assert_string_equal(p, path);
	free(p);
	p = auth_password_file(tmp, "/etc/barge/pw");
	assert_string_equal(p, "/etc/barge/pw");
	free(p);

	assert_int_equal(auth_password_set(path, "s3cret", 6, &err), BARGE_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fu_read_file(path, 100, &buf, &len, &err), BARGE_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(buf, "s3cret\n", 7);
	free(buf);
	assert_int_equal(auth_password_set(path, "", 0, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "one non-empty line"));
	assert_int_equal(auth_password_set(path, "a\nb", 3, &err), BARGE_EINVAL);
	assert_int_equal(auth_password_set(path, "a\0b", 3, &err), BARGE_EINVAL);
	assert_non_null(pw = calloc(1, AUTH_PASSWORD_MAX + 1));
	memset(pw, 'x', AUTH_PASSWORD_MAX + 1);
	assert_int_equal(auth_password_set(path, pw, AUTH_PASSWORD_MAX + 1, &err), BARGE_EINVAL);
	free(pw);
	assert_int_equal(fu_read_file(path, 100, &buf, &len, &err), BARGE_OK);
	assert_memory_equal(buf, "s3cret\n", 7);
	free(buf);

	assert_int_equal(auth_password_generate(path, &gen, &err), BARGE_OK);
	assert_int_equal(strlen(gen), 24);
	assert_int_equal(fu_read_file(path, 100, &buf, &len, &err), BARGE_OK);
	assert_int_equal(len, 25);
	assert_memory_equal(buf, gen, 24);
	free(buf);
	free(gen);
}

static void
test_configured_password(void **state)
{
	struct auth_opts o = { tmp, "/nonexistent/pw", 0, 1000, 0 };
	struct barge_err err = { 0 };
	struct auth_identity id;
	struct auth *a = NULL;
	char path[128], hdr[256];
	int gen;

	(void)state;
	/* A configured file that is missing is an error, never generated. */
	assert_int_equal(auth_new(&o, &a, &gen, &err), BARGE_ENOTFOUND);
	assert_null(a);
	assert_non_null(strstr(err.msg, "/nonexistent/pw"));

	snprintf(path, sizeof(path), "%s/pw", tmp);
	assert_int_equal(fu_write_atomic(path, "\n", 1, 0600, &err), BARGE_OK);
	o.admin_password_file = path;
	assert_int_equal(auth_new(&o, &a, &gen, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "must be one non-empty line"));

	assert_int_equal(fu_write_atomic(path, "s3cr:et\r\n", 9, 0600, &err), BARGE_OK);
	a = new_auth(path, 0, &gen);
	assert_int_equal(gen, 0);
	basic("admin", "s3cr:et", hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	basic("admin", "s3cr:et\r", hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_EAUTH);

	assert_int_equal(auth_check_header(a, "Basic !!!", &id), BARGE_EINVAL);
	assert_int_equal(auth_check_header(a, "Basic YWRtaW4=", &id), BARGE_EINVAL); /* no colon */
	assert_int_equal(auth_check_header(a, "Digest x", &id), BARGE_EINVAL);
	assert_int_equal(auth_check_header(a, NULL, &id), BARGE_EINVAL);

	auth_anonymous(a, &id);
	assert_string_equal(id.subject, "anonymous");
	assert_int_equal(id.actions, 0);
	auth_free(a);
	a = new_auth(path, 1, &gen);
	auth_anonymous(a, &id);
	assert_int_equal(id.actions, AUTH_PULL);
	auth_free(a);
}

struct seen {
	char names[4][80];
	int n;
};

static void
collect(const struct auth_ro_info *t, void *arg)
{
	struct seen *s = arg;

	assert_true(t->created > 1700000000);
	snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", t->name);
}

static void
test_readonly_tokens(void **state)
{
	struct barge_err err = { 0 };
	struct auth_identity id;
	struct seen seen = { 0 };
	struct auth *a;
	char *tok = NULL, *tok2 = NULL, hdr[256], path[128], *file = NULL;
	size_t len;
	int gen;

	(void)state;
	a = new_auth(NULL, 0, &gen);
	assert_int_equal(auth_ro_create(tmp, "ci", &tok, &err), BARGE_OK);
	assert_int_equal(strncmp(tok, "barge_", 6), 0);
	assert_int_equal(strlen(tok), 46);
	assert_int_equal(auth_ro_create(tmp, "ci", &tok2, &err), BARGE_EEXIST);
	assert_int_equal(auth_ro_create(tmp, "bad name", &tok2, &err), BARGE_EINVAL);
	assert_int_equal(auth_ro_create(tmp, "admin", &tok2, &err), BARGE_EINVAL);
	assert_int_equal(auth_ro_create(tmp, "nodes", &tok2, &err), BARGE_OK);

	/* The file holds hashes only. */
	snprintf(path, sizeof(path), "%s/tokens.json", tmp);
	assert_int_equal(fu_read_file(path, 65536, &file, &len, &err), BARGE_OK);
	assert_null(strstr(file, tok));
	assert_null(strstr(file, tok2));
	free(file);

	assert_int_equal(auth_ro_list(tmp, collect, &seen, &err), BARGE_OK);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.names[0], "ci");
	assert_string_equal(seen.names[1], "nodes");

	/* Tokens made after auth_new are seen: the file is re-read on change. */
	basic("ci", tok, hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	assert_string_equal(id.subject, "token:ci");
	assert_int_equal(id.actions, AUTH_PULL);
	/* The name must match the token. */
	basic("nodes", tok, hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_EAUTH);
	/* A read-only token can never be the admin password. */
	basic("admin", tok, hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_EAUTH);
	snprintf(hdr, sizeof(hdr), "Bearer %s", tok2);
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	assert_string_equal(id.subject, "token:nodes");

	assert_int_equal(auth_ro_remove(tmp, "nodes", &err), BARGE_OK);
	assert_int_equal(auth_ro_remove(tmp, "nodes", &err), BARGE_ENOTFOUND);
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_EAUTH);
	basic("ci", tok, hdr, sizeof(hdr));
	assert_int_equal(auth_check_header(a, hdr, &id), BARGE_OK);
	free(tok);
	free(tok2);
	auth_free(a);
}

static void
test_scope_parse(void **state)
{
	struct auth_scope s;

	(void)state;
	assert_int_equal(auth_parse_scope("repository:a/b:pull,push", &s), BARGE_OK);
	assert_string_equal(s.type, "repository");
	assert_string_equal(s.name, "a/b");
	assert_int_equal(s.actions, AUTH_PULL | AUTH_PUSH);
	assert_int_equal(auth_parse_scope("repository:edge/docker.io/library/nginx:pull", &s),
	                 BARGE_OK);
	assert_string_equal(s.name, "edge/docker.io/library/nginx");
	assert_int_equal(s.actions, AUTH_PULL);
	assert_int_equal(auth_parse_scope("registry:catalog:*", &s), BARGE_OK);
	assert_int_equal(s.actions, AUTH_ALL);
	/* Unknown actions are ignored, not errors. */
	assert_int_equal(auth_parse_scope("repository:x:pull,launch,delete", &s), BARGE_OK);
	assert_int_equal(s.actions, AUTH_PULL | AUTH_DELETE);
	assert_int_equal(auth_parse_scope("repository:x:", &s), BARGE_OK);
	assert_int_equal(s.actions, 0);
	assert_int_equal(auth_parse_scope("repository:a", &s), BARGE_EINVAL);
	assert_int_equal(auth_parse_scope("repository::pull", &s), BARGE_EINVAL);
	assert_int_equal(auth_parse_scope(":a:pull", &s), BARGE_EINVAL);
	assert_int_equal(auth_parse_scope("repository:a b:pull", &s), BARGE_EINVAL);
	assert_int_equal(auth_parse_scope("repository:a\nb:pull", &s), BARGE_EINVAL);
}

static void
test_session_tokens(void **state)
{
	struct auth_identity admin = { .subject = "admin", .actions = AUTH_ALL },
	                     ro = { .subject = "token:ci", .actions = AUTH_PULL };
	struct barge_err err = { 0 };
	struct auth_grant g;
	struct auth *a, *b;
	char *t = NULL;
	time_t now = 1800000000;
	size_t dot;
	int gen;
	char c;

	(void)state;
	a = new_auth(NULL, 0, &gen);
	b = new_auth(NULL, 0, &gen);
	/* Session tokens of a read-only token hold only while it exists. */
	assert_int_equal(auth_ro_create(tmp, "ci", &t, &err), BARGE_OK);
	free(t);
	assert_int_equal(auth_token_issue(a, &admin, "repository:a/b:pull,push registry:catalog:*",
	                                  now, &t, &err),
	                 BARGE_OK);
	assert_int_equal(auth_token_verify(a, t, now, &g), BARGE_OK);
	assert_string_equal(g.subject, "admin");
	assert_int_equal(g.expires, now + AUTH_TOKEN_TTL);
	assert_int_equal(g.n, 2);
	assert_true(auth_grant_allows(&g, "repository", "a/b", AUTH_PULL | AUTH_PUSH));
	assert_false(auth_grant_allows(&g, "repository", "a/b", AUTH_DELETE));
	assert_false(auth_grant_allows(&g, "repository", "a/c", AUTH_PULL));
	assert_true(auth_grant_allows(&g, "registry", "catalog", AUTH_PULL));
	/* Expiry: valid up to the last second, not at it. */
	assert_int_equal(auth_token_verify(a, t, now + AUTH_TOKEN_TTL - 1, &g), BARGE_OK);
	assert_int_equal(auth_token_verify(a, t, now + AUTH_TOKEN_TTL, &g), BARGE_EAUTH);
	/* Another process (key) does not accept it. */
	assert_int_equal(auth_token_verify(b, t, now, &g), BARGE_EAUTH);
	/* Tampering with the payload or the MAC is caught. */
	dot = (size_t)(strchr(t, '.') - t);
	c = t[3];
	t[3] = c == 'A' ? 'B' : 'A';
	assert_int_equal(auth_token_verify(a, t, now, &g), BARGE_EAUTH);
	t[3] = c;
	assert_int_equal(auth_token_verify(a, t, now, &g), BARGE_OK);
	t[dot + 2] = t[dot + 2] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_token_verify(a, t, now, &g), BARGE_EAUTH);
	assert_int_equal(auth_token_verify(a, "", now, &g), BARGE_EAUTH);
	assert_int_equal(auth_token_verify(a, "a.b", now, &g), BARGE_EAUTH);
	free(t);
	/* A MAC part far longer than a MAC, as any client may send: refused, not decoded. */
	t = malloc(AUTH_TOKEN_MAX + 1);
	assert_non_null(t);
	memset(t, 'A', AUTH_TOKEN_MAX);
	t[AUTH_TOKEN_MAX] = '\0';
	t[1] = '.';
	assert_int_equal(auth_token_verify(a, t, now, &g), BARGE_EAUTH);
	assert_string_equal(g.subject, "");
	free(t);

	/* A read-only identity asking for push gets pull only. */
	assert_int_equal(auth_token_issue(a, &ro, "repository:a/b:pull,push", now, &t, &err),
	                 BARGE_OK);
	assert_int_equal(auth_token_verify(a, t, now, &g), BARGE_OK);
	assert_string_equal(g.subject, "token:ci");
	assert_true(auth_grant_allows(&g, "repository", "a/b", AUTH_PULL));
	assert_false(auth_grant_allows(&g, "repository", "a/b", AUTH_PUSH));
	free(t);

	/* No scope: a token good for /v2/ only. */
	assert_int_equal(auth_token_issue(a, &ro, NULL, now, &t, &err), BARGE_OK);
	assert_int_equal(auth_token_verify(a, t, now, &g), BARGE_OK);
	assert_int_equal(g.n, 0);
	free(t);
	t = NULL;
	assert_int_equal(auth_token_issue(a, &ro, "repository:a", now, &t, &err), BARGE_EINVAL);
	assert_null(t);
	assert_string_equal(err.msg, "malformed scope \"repository:a\"");
	auth_free(a);
	auth_free(b);
}

/* A token for id and scopes, verified into g. */
static void
issue(struct auth *a, const struct auth_identity *id, const char *scopes, struct auth_grant *g)
{
	struct barge_err err = { 0 };
	char *t = NULL;

	if (auth_token_issue(a, id, scopes, 1800000000, &t, &err) != BARGE_OK)
		fail_msg("%s: %s", scopes, err.msg);
	assert_int_equal(auth_token_verify(a, t, 1800000000, g), BARGE_OK);
	free(t);
}

static void
test_several_scopes(void **state)
{
	struct auth_identity admin = { .subject = "admin", .actions = AUTH_ALL },
	                     ro = { .subject = "token:ci", .actions = AUTH_PULL };
	struct barge_err err = { 0 };
	struct auth_grant g;
	struct auth *a;
	char *t = NULL, *many;
	size_t i, n;
	int gen;

	(void)state;
	a = new_auth(NULL, 0, &gen);
	assert_int_equal(auth_ro_create(tmp, "ci", &t, &err), BARGE_OK);
	free(t);
	t = NULL;
	/* A push that mounts: the source's pull scope, the destination's push, either order. */
	issue(a, &admin, "repository:e/src:pull repository:e/dst:pull,push", &g);
	assert_true(auth_grant_allows(&g, "repository", "e/dst", AUTH_PULL | AUTH_PUSH));
	assert_true(auth_grant_allows(&g, "repository", "e/src", AUTH_PULL));
	assert_false(auth_grant_allows(&g, "repository", "e/src", AUTH_PUSH));
	issue(a, &admin, "repository:e/dst:pull,push repository:e/src:pull", &g);
	assert_true(auth_grant_allows(&g, "repository", "e/dst", AUTH_PULL | AUTH_PUSH));
	assert_true(auth_grant_allows(&g, "repository", "e/src", AUTH_PULL));
	/* Every one is narrowed to what the identity may do. */
	issue(a, &ro, "repository:e/src:pull  repository:e/dst:pull,push", &g);
	assert_true(auth_grant_allows(&g, "repository", "e/dst", AUTH_PULL));
	assert_false(auth_grant_allows(&g, "repository", "e/dst", AUTH_PUSH));
	assert_true(auth_grant_allows(&g, "repository", "e/src", AUTH_PULL));
	/*
	 * Scopes naming one resource add up into one entry, so that repeating
	 * a resource costs none of the AUTH_SCOPES_MAX entries.
	 */
	n = 3 * AUTH_SCOPES_MAX;
	many = calloc(n, 32);
	assert_non_null(many);
	for (i = 0; i < n; i++)
		strcat(many, i == n - 1 ? "repository:e/dst:push" : "repository:e/dst:pull ");
	issue(a, &admin, many, &g);
	assert_int_equal(g.n, 1);
	assert_true(auth_grant_allows(&g, "repository", "e/dst", AUTH_PULL | AUTH_PUSH));
	/* More resources than a token holds: refused, not cut short. */
	many[0] = '\0';
	for (i = 0; i <= AUTH_SCOPES_MAX; i++)
		sprintf(many + strlen(many), "repository:e/r%zu:pull ", i);
	assert_int_equal(auth_token_issue(a, &admin, many, 1800000000, &t, &err), BARGE_ELIMIT);
	assert_null(t);
	free(many);
	auth_free(a);
}

static void
test_password_and_ro_token(void **state)
{
	struct barge_err err = { 0 };
	struct auth_identity id;
	struct auth *a;
	char pwfile[128], *tok = NULL;
	int gen;

	(void)state;
	snprintf(pwfile, sizeof(pwfile), "%s/pw", tmp);
	assert_int_equal(fu_write_atomic(pwfile, "s3cret pass\n", 12, 0600, &err), BARGE_OK);
	a = new_auth(pwfile, 0, &gen);
	/* What the OAuth2 form's username and password carry. */
	assert_int_equal(auth_check_password(a, "admin", "s3cret pass", 11, &id), BARGE_OK);
	assert_string_equal(id.subject, "admin");
	assert_int_equal(id.actions, AUTH_ALL);
	/* The length counts: a prefix is no password. */
	assert_int_equal(auth_check_password(a, "admin", "s3cret pass", 6, &id), BARGE_EAUTH);
	assert_string_equal(id.subject, "");
	assert_int_equal(auth_check_password(a, "root", "s3cret pass", 11, &id), BARGE_EAUTH);
	assert_int_equal(auth_check_password(a, "bad name", "s3cret pass", 11, &id), BARGE_EAUTH);
	/* A read-only token: with its name, or alone (Bearer, an OAuth2 refresh token). */
	assert_int_equal(auth_ro_create(tmp, "ci", &tok, &err), BARGE_OK);
	assert_int_equal(auth_check_password(a, "ci", tok, strlen(tok), &id), BARGE_OK);
	assert_string_equal(id.subject, "token:ci");
	assert_int_equal(id.actions, AUTH_PULL);
	assert_int_equal(auth_check_ro_token(a, tok, &id), BARGE_OK);
	assert_string_equal(id.subject, "token:ci");
	/* Admin's password is no read-only token, nor is a token's name or a session token. */
	assert_int_equal(auth_check_ro_token(a, "s3cret pass", &id), BARGE_EINVAL);
	assert_int_equal(auth_check_ro_token(a, "barge_ci", &id), BARGE_EAUTH);
	assert_int_equal(auth_check_ro_token(a, "barge_x.y", &id), BARGE_EINVAL);
	assert_string_equal(id.subject, "");
	free(tok);
	auth_free(a);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_generated_password, setup, teardown),
	cmocka_unit_test_setup_teardown(test_configured_password, setup, teardown),
	cmocka_unit_test_setup_teardown(test_isolated_hash, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reload_password, setup, teardown),
	cmocka_unit_test_setup_teardown(test_password_set, setup, teardown),
	cmocka_unit_test_setup_teardown(test_readonly_tokens, setup, teardown),
	cmocka_unit_test(test_scope_parse),
	cmocka_unit_test_setup_teardown(test_session_tokens, setup, teardown),
	cmocka_unit_test_setup_teardown(test_several_scopes, setup, teardown),
	cmocka_unit_test_setup_teardown(test_password_and_ro_token, setup, teardown),
};

BARGE_TEST_MAIN(tests)
