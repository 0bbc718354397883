/*
 * upstream_cred.c: the credentials of an upstream (upstream.h) and the
 * answers to its 401 challenges, in the upstream module.  Credentials come
 * from a docker config.json (through barge-client's creds.h, helpers
 * included), from a username and a password file, or from an exec helper
 * whose JSON answer says how long it holds ({"username": ..., "password":
 * ..., "expires_in": seconds}, ECR-style short-lived tokens); they are read
 * when first needed and again once expired.  Bearer tokens are fetched
 * from the challenge's realm for the repository's pull scope and kept per
 * repository.  It owns the secrets in struct upstream, wiped when
 * replaced or freed; no message carries one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "client_auth.h"
#include "creds.h"
#include "fileutil.h"
#include "upstream_int.h"

#define UPSTREAM_PASSWORD_MAX (64 * 1024)
#define UPSTREAM_TOKEN_TTL_MS 60000 /* a token without expires_in */

extern char **environ;

static void
creds_forget(struct upstream *u)
{
	fu_free_secret(u->user);
	fu_free_secret(u->secret);
	u->user = u->secret = NULL;
}

void
upstream_auth_free(struct upstream *u)
{
	size_t i;

	creds_forget(u);
	free(u->realm);
	free(u->service);
	for (i = 0; i < UPSTREAM_TOKENS_MAX; i++) {
		free(u->tokens[i].repo);
		fu_free_secret(u->tokens[i].token);
	}
}

/* Runs u->exec (no shell), collecting at most UPSTREAM_HELPER_OUTMAX bytes of stdout. */
static int
exec_helper(struct upstream *u, char **out, size_t *outlen, struct barge_err *err)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { u->exec, NULL }, *buf = NULL;
	int p[2] = { -1, -1 }, status = 0, rc = BARGE_OK;
	int64_t end = upstream_now_ms() + UPSTREAM_HELPER_TIME_S * 1000;
	size_t len = 0;
	struct pollfd pfd;
	pid_t pid = -1;
	ssize_t n;

	if ((buf = malloc(UPSTREAM_HELPER_OUTMAX + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (pipe2(p, O_CLOEXEC) != 0) {
		free(buf);
		return err_set(err, BARGE_EIO, "credential helper %s: no pipe", u->exec);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (posix_spawn(&pid, u->exec, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		free(buf);
		return err_set(err, BARGE_EAUTH, "credential helper %s: cannot be run", u->exec);
	}
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		int64_t left = end - upstream_now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			if (errno == EINTR && left > 0)
				continue;
			kill(pid, SIGKILL);
			rc = err_set(err, BARGE_EAUTH, "credential helper %s: no answer in %d s",
			             u->exec, UPSTREAM_HELPER_TIME_S);
			break;
		}
		n = read(p[0], buf + len, UPSTREAM_HELPER_OUTMAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == UPSTREAM_HELPER_OUTMAX) {
			kill(pid, SIGKILL);
			rc = err_set(err, BARGE_EAUTH, "credential helper %s: answer too long",
			             u->exec);
			break;
		}
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == BARGE_OK && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		rc = err_set(err, BARGE_EAUTH, "credential helper %s: failed", u->exec);
	if (rc != BARGE_OK) {
		fu_free_secret(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return BARGE_OK;
}

/* The exec helper's answer: username, password, expires_in. */
static int
creds_from_exec(struct upstream *u, struct barge_err *err)
{
	const char *user, *pass;
	json_t *j = NULL, *exp;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = exec_helper(u, &buf, &len, err)) != BARGE_OK)
		return rc;
	j = json_loadb(buf, len, 0, NULL);
	fu_free_secret(buf);
	user = json_string_value(json_object_get(j, "username"));
	pass = json_string_value(json_object_get(j, "password"));
	if (user == NULL || pass == NULL) {
		json_decref(j);
		return err_set(err, BARGE_EAUTH,
		               "credential helper %s: answer is no JSON object with username and "
		               "password",
		               u->exec);
	}
	u->user = strdup(user);
	u->secret = strdup(pass);
	exp = json_object_get(j, "expires_in");
	u->creds_expire = json_is_integer(exp) && json_integer_value(exp) > 0
	                          ? upstream_now_ms() + (json_integer_value(exp) - 10) * 1000
	                          : 0;
	json_decref(j);
	return u->user != NULL && u->secret != NULL ? BARGE_OK
	                                            : err_set(err, BARGE_ENOMEM, "out of memory");
}

static int
creds_from_docker(struct upstream *u, struct barge_err *err)
{
	const char *reg = u->registry != NULL ? u->registry : u->host;
	struct creds c = { 0 };
	char *json = NULL, *helper = NULL;
	size_t len = 0;
	int rc;

	if ((rc = fu_read_file(u->docker_config, 1024 * 1024, &json, &len, err)) != BARGE_OK)
		return rc;
	rc = creds_from_config(json, len, reg, &c, &helper, err);
	fu_free_secret(json);
	if (rc == BARGE_OK && helper != NULL)
		rc = creds_from_helper(
		        helper, strcmp(reg, "docker.io") == 0 ? "https://index.docker.io/v1/" : reg,
		        &c, err);
	free(helper);
	if (rc != BARGE_OK)
		return err_prefix(err, "%s", u->docker_config);
	if (c.username != NULL && c.identity_token) {
		creds_clear(&c);
		return err_set(err, BARGE_EAUTH, "%s: %s: identity tokens are not supported here",
		               u->docker_config, reg);
	}
	if (c.username != NULL) {
		u->user = strdup(c.username);
		u->secret = strdup(c.secret != NULL ? c.secret : "");
	}
	creds_clear(&c);
	u->creds_expire = 0;
	return BARGE_OK;
}

/* Fills u->user and u->secret (under u->mtx) when they are missing or expired. */
static int
creds_load(struct upstream *u, struct barge_err *err)
{
	char *pw = NULL;
	size_t len = 0;
	int rc = BARGE_OK;

	if (u->creds_expire == 0 || (u->creds_expire > 0 && upstream_now_ms() < u->creds_expire))
		return BARGE_OK;
	creds_forget(u);
	if (u->exec != NULL)
		return creds_from_exec(u, err);
	if (u->docker_config != NULL)
		return creds_from_docker(u, err);
	if (u->username != NULL && u->password_file != NULL) {
		if ((rc = fu_read_file(u->password_file, UPSTREAM_PASSWORD_MAX, &pw, &len, err)) !=
		    BARGE_OK)
			return rc;
		while (len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
			pw[--len] = '\0';
		u->user = strdup(u->username);
		u->secret = pw;
		if (u->user == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	u->creds_expire = 0;
	return rc;
}

static struct upstream_token *
token_find(struct upstream *u, const char *repo)
{
	size_t i;

	for (i = 0; i < UPSTREAM_TOKENS_MAX; i++)
		if (u->tokens[i].repo != NULL && strcmp(u->tokens[i].repo, repo) == 0)
			return &u->tokens[i];
	return NULL;
}

int
upstream_auth_apply(struct upstream *u, const char *repo, CURL *h, struct curl_slist **hdrs,
                    struct barge_err *err)
{
	struct upstream_token *t;
	char *line = NULL;
	int rc = BARGE_OK;

	pthread_mutex_lock(&u->mtx);
	if (u->basic) {
		if ((rc = creds_load(u, err)) == BARGE_OK && u->user != NULL) {
			curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(h, CURLOPT_USERNAME, u->user);
			curl_easy_setopt(h, CURLOPT_PASSWORD, u->secret);
		}
	} else if ((t = token_find(u, repo)) != NULL && upstream_now_ms() < t->expires) {
		line = fu_printf("Authorization: Bearer %s", t->token);
	}
	pthread_mutex_unlock(&u->mtx);
	if (line != NULL) {
		*hdrs = curl_slist_append(*hdrs, line);
		fu_free_secret(line);
	}
	return rc;
}

struct token_buf {
	char *p;
	size_t len;
};

static size_t
token_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct token_buf *t = arg;
	size_t n = size * nmemb;

	if (n > UPSTREAM_TOKEN_MAX - t->len)
		return 0;
	memcpy(t->p + t->len, data, n);
	t->len += n;
	return n;
}

/* GET realm?service=&scope=repository:REPO:pull with the credentials, under u->mtx. */
static int
token_fetch(struct upstream *u, const char *repo, int64_t deadline, struct barge_err *err)
{
	struct token_buf tb = { 0 };
	struct upstream_token *t;
	const char *tok;
	json_t *j = NULL, *exp;
	char *svc = NULL, *scope = NULL, *url = NULL;
	long status = 0;
	CURLcode cc;
	CURL *h;
	size_t i;
	int rc;

	if ((h = curl_easy_init()) == NULL || (tb.p = malloc(UPSTREAM_TOKEN_MAX)) == NULL) {
		curl_easy_cleanup(h);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	scope = fu_printf("repository:%s:pull", repo);
	svc = u->service != NULL ? curl_easy_escape(h, u->service, 0) : NULL;
	if (scope != NULL) {
		char *esc = curl_easy_escape(h, scope, 0);
		url = fu_printf("%s%sscope=%s%s%s", u->realm, strchr(u->realm, '?') ? "&" : "?",
		                esc != NULL ? esc : "", svc != NULL ? "&service=" : "",
		                svc != NULL ? svc : "");
		curl_free(esc);
	}
	upstream_curl_common(u, h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, token_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &tb);
	curl_easy_setopt(
	        h, CURLOPT_TIMEOUT_MS,
	        (long)(deadline - upstream_now_ms() > 1 ? deadline - upstream_now_ms() : 1));
	if (u->user != NULL) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, u->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, u->secret);
	}
	cc = url != NULL ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_free(svc);
	free(scope);
	free(url);
	if (cc != CURLE_OK) {
		rc = err_set(err, BARGE_ENET, "upstream %s: token service: %s", u->host,
		             curl_easy_strerror(cc));
		goto out;
	}
	if (status != 200) {
		rc = err_set(err, BARGE_EAUTH, "upstream %s: token service refused (HTTP %ld)",
		             u->host, status);
		goto out;
	}
	j = json_loadb(tb.p, tb.len, 0, NULL);
	if ((tok = json_string_value(json_object_get(j, "token"))) == NULL)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (tok == NULL) {
		rc = err_set(err, BARGE_EAUTH, "upstream %s: token service answered no token",
		             u->host);
		goto out;
	}
	if ((t = token_find(u, repo)) == NULL) {
		/* A free slot, else the one that expires first. */
		t = &u->tokens[0];
		for (i = 0; i < UPSTREAM_TOKENS_MAX && t->repo != NULL; i++)
			if (u->tokens[i].repo == NULL || u->tokens[i].expires < t->expires)
				t = &u->tokens[i];
		free(t->repo);
		t->repo = strdup(repo);
	}
	fu_free_secret(t->token);
	t->token = strdup(tok);
	exp = json_object_get(j, "expires_in");
	t->expires = upstream_now_ms() + (json_is_integer(exp) && json_integer_value(exp) > 30
	                                          ? (json_integer_value(exp) - 15) * 1000
	                                          : UPSTREAM_TOKEN_TTL_MS);
	rc = t->repo != NULL && t->token != NULL ? BARGE_OK
	                                         : err_set(err, BARGE_ENOMEM, "out of memory");
out:
	json_decref(j);
	if (tb.p != NULL) {
		memset(tb.p, 0, tb.len);
		free(tb.p);
	}
	return rc;
}

int
upstream_auth_answer(struct upstream *u, const char *repo, const char *challenge, int64_t deadline,
                     struct barge_err *err)
{
	struct client_challenge ch = { 0 };
	int rc;

	if ((rc = client_parse_challenge(challenge, &ch, err)) != BARGE_OK)
		return err_prefix(err, "upstream %s", u->host);
	pthread_mutex_lock(&u->mtx);
	if ((rc = creds_load(u, err)) != BARGE_OK)
		goto out;
	if (strcasecmp(ch.scheme, "Basic") == 0) {
		if (u->user == NULL || u->basic) {
			rc = err_set(err, BARGE_EAUTH, "upstream %s: %s", u->host,
			             u->user == NULL
			                     ? "asks for credentials and none are configured"
			                     : "refused the credentials");
			u->creds_expire = u->creds_expire > 0 ? 1 : u->creds_expire;
			goto out;
		}
		u->basic = 1;
	} else if (strcasecmp(ch.scheme, "Bearer") == 0) {
		free(u->realm);
		free(u->service);
		u->realm = strdup(ch.realm);
		u->service = ch.service != NULL ? strdup(ch.service) : NULL;
		if (u->realm == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
		rc = token_fetch(u, repo, deadline, err);
	} else {
		rc = err_set(err, BARGE_EAUTH, "upstream %s: unsupported authentication scheme %s",
		             u->host, ch.scheme);
	}
out:
	pthread_mutex_unlock(&u->mtx);
	client_challenge_clear(&ch);
	return rc;
}
