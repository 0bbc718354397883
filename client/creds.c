/*
 * creds: registry credentials as docker keeps them (creds.h).  It owns the
 * reading of config.json and the docker-credential-* helper processes it
 * runs (spawned without a shell, their output bounded, killed on timeout);
 * the secrets it returns are the caller's, wiped by creds_clear.
 */
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "fileutil.h"

#define HELPER_NAME_MAX 64
#define HUB_SERVER      "https://index.docker.io/v1/"

extern char **environ;

void
creds_clear(struct creds *c)
{
	if (c->secret != NULL)
		OPENSSL_cleanse(c->secret, strlen(c->secret));
	free(c->username);
	free(c->secret);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

char *
creds_config_path(void)
{
	const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (dc != NULL && dc[0] != '\0')
		return fu_printf("%s/config.json", dc);
	if (home != NULL && home[0] != '\0')
		return fu_printf("%s/.docker/config.json", home);
	return NULL;
}

static int
is_hub(const char *authority)
{
	return strcmp(authority, "docker.io") == 0 || strcmp(authority, "index.docker.io") == 0 ||
	       strcmp(authority, "registry-1.docker.io") == 0;
}

/* Whether a config key ("https://host:port/v1/", "host:port") names registry. */
static int
key_matches(const char *key, const char *registry)
{
	const char *a = key;
	size_t n;
	char auth[256];

	if (strncasecmp(a, "https://", 8) == 0)
		a += 8;
	else if (strncasecmp(a, "http://", 7) == 0)
		a += 7;
	n = strcspn(a, "/");
	if (n == 0 || n >= sizeof(auth))
		return 0;
	memcpy(auth, a, n);
	auth[n] = '\0';
	if (is_hub(registry))
		return is_hub(auth);
	return strcasecmp(auth, registry) == 0;
}

static int
set_creds(struct creds *out, const char *user, size_t ulen, const char *secret, size_t slen,
          int identity, const char *source, struct barge_err *err)
{
	struct creds c = { 0 };

	if ((c.username = malloc(ulen + 1)) == NULL || (c.secret = malloc(slen + 1)) == NULL ||
	    (c.source = strdup(source)) == NULL) {
		free(c.username);
		free(c.secret);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	memcpy(c.username, user, ulen);
	c.username[ulen] = '\0';
	memcpy(c.secret, secret, slen);
	c.secret[slen] = '\0';
	c.identity_token = identity;
	*out = c;
	return BARGE_OK;
}

/* Decodes "auth": base64 of "user:password" with no NUL nor control bytes. */
static int
decode_auth(const char *b64, const char *registry, struct creds *out, struct barge_err *err)
{
	size_t n = strlen(b64), pad = 0, len, i;
	unsigned char *buf = NULL;
	const char *colon;
	int got, rc;

	if (n == 0 || n % 4 != 0 || n > 8192)
		goto bad;
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n)) < 0)
		goto bad;
	/* EVP_DecodeBlock counts padding as bytes: take them off. */
	while (pad < 2 && b64[n - 1 - pad] == '=')
		pad++;
	len = (size_t)got - pad;
	for (i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] == 0x7f)
			goto bad;
	buf[len] = '\0';
	if ((colon = memchr(buf, ':', len)) == NULL || colon == (const char *)buf)
		goto bad;
	rc = set_creds(out, (const char *)buf, (size_t)(colon - (const char *)buf), colon + 1,
	               len - (size_t)(colon - (const char *)buf) - 1, 0, "config.json auths", err);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
bad:
	if (buf != NULL)
		OPENSSL_cleanse(buf, n / 4 * 3 + 1);
	free(buf);
	return err_set(err, BARGE_EFORMAT,
	               "config.json: auths entry for %s: \"auth\" is not base64 of user:password",
	               registry);
}

static int
from_auths_entry(json_t *e, const char *registry, struct creds *out, struct barge_err *err)
{
	const char *user, *pass, *auth, *idtok;

	if (!json_is_object(e))
		return err_set(err, BARGE_EFORMAT,
		               "config.json: auths entry for %s is not an object", registry);
	idtok = json_string_value(json_object_get(e, "identitytoken"));
	if (idtok != NULL && idtok[0] != '\0')
		return set_creds(out, "<token>", 7, idtok, strlen(idtok), 1,
		                 "config.json identitytoken", err);
	auth = json_string_value(json_object_get(e, "auth"));
	if (auth != NULL && auth[0] != '\0')
		return decode_auth(auth, registry, out, err);
	user = json_string_value(json_object_get(e, "username"));
	pass = json_string_value(json_object_get(e, "password"));
	if (user != NULL && user[0] != '\0' && pass != NULL)
		return set_creds(out, user, strlen(user), pass, strlen(pass), 0,
		                 "config.json auths", err);
	/* An empty entry ({} as docker leaves with a credsStore) means nothing here. */
	return BARGE_OK;
}

static int
helper_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > HELPER_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return s[0] != '.';
}

static int
want_helper(const char *name, const char *what, char **helper, struct barge_err *err)
{
	if (!helper_name_ok(name))
		return err_set(err, BARGE_EFORMAT, "config.json: %s \"%.64s\" is not a helper name",
		               what, name);
	if ((*helper = strdup(name)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	return BARGE_OK;
}

int
creds_from_config(const char *json, size_t len, const char *registry, struct creds *out,
                  char **helper, struct barge_err *err)
{
	json_error_t jerr;
	json_t *doc = NULL, *obj, *v;
	const char *key;
	int rc = BARGE_OK;

	memset(out, 0, sizeof(*out));
	*helper = NULL;
	if ((doc = json_loadb(json, len, 0, &jerr)) == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "config.json: line %d: %s", jerr.line, jerr.text);
		goto out;
	}
	if (!json_is_object(doc)) {
		rc = err_set(err, BARGE_EFORMAT, "config.json: not a JSON object");
		goto out;
	}
	obj = json_object_get(doc, "credHelpers");
	if (obj != NULL && !json_is_object(obj)) {
		rc = err_set(err, BARGE_EFORMAT, "config.json: credHelpers is not an object");
		goto out;
	}
	json_object_foreach(obj, key, v)
	{
		if (!key_matches(key, registry))
			continue;
		if (!json_is_string(v)) {
			rc = err_set(err, BARGE_EFORMAT,
			             "config.json: credHelpers[%s] is not a string", key);
			goto out;
		}
		rc = want_helper(json_string_value(v), "credHelpers entry", helper, err);
		goto out;
	}
	v = json_object_get(doc, "credsStore");
	if (v != NULL && !json_is_string(v)) {
		rc = err_set(err, BARGE_EFORMAT, "config.json: credsStore is not a string");
		goto out;
	}
	if (json_is_string(v) && json_string_value(v)[0] != '\0') {
		rc = want_helper(json_string_value(v), "credsStore", helper, err);
		goto out;
	}
	obj = json_object_get(doc, "auths");
	if (obj != NULL && !json_is_object(obj)) {
		rc = err_set(err, BARGE_EFORMAT, "config.json: auths is not an object");
		goto out;
	}
	/* An exact key first, so "host:5000" beats "https://host:5000/v1/" should both be there. */
	if ((v = json_object_get(obj, registry)) != NULL) {
		rc = from_auths_entry(v, registry, out, err);
		goto out;
	}
	json_object_foreach(obj, key, v)
	{
		if (key_matches(key, registry)) {
			rc = from_auths_entry(v, registry, out, err);
			goto out;
		}
	}
out:
	json_decref(doc);
	return rc;
}

/* Writes all of buf to a pipe whose reader may be gone: EPIPE, never a SIGPIPE. */
static int
write_pipe(int fd, const char *buf, size_t len)
{
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	ssize_t w;
	int rc = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (len > 0) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -1;
			break;
		}
		buf += w;
		len -= (size_t)w;
	}
	/* Consume the SIGPIPE this thread may now have pending, unless one was pending before. */
	if (rc != 0 && !sigismember(&old, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads fd to EOF into buf (at most max bytes) before the deadline. */
static int
read_bounded(int fd, char *buf, size_t max, size_t *len, int64_t deadline, const char *prog,
             struct barge_err *err)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t left;
	ssize_t r;

	*len = 0;
	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return err_set(err, BARGE_EAUTH, "%s: no answer within %d s", prog,
			               CREDS_HELPER_TIMEOUT_S);
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, BARGE_EIO, errno, "%s: poll", prog);
		}
		if (p.revents == 0)
			continue;
		r = read(fd, buf + *len, max - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(err, BARGE_EIO, errno, "%s: reading its output", prog);
		if (r == 0)
			return BARGE_OK;
		*len += (size_t)r;
		if (*len == max)
			return err_set(err, BARGE_ELIMIT, "%s: output larger than %zu bytes", prog,
			               max - 1);
	}
}

/* The first line of a helper's complaint, printable characters only, for a message. */
static void
first_line(const char *s, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < len && s[i] != '\n' && n + 1 < cap; i++)
		if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
			out[n++] = s[i];
	out[n] = '\0';
}

int
creds_from_helper(const char *helper, const char *server, struct creds *out, struct barge_err *err)
{
	posix_spawn_file_actions_t fa;
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, fa_ok = 0, status, rc;
	char prog[HELPER_NAME_MAX + 32], line[200], *buf = NULL, *argv[3];
	const char *user, *secret = NULL;
	json_t *doc = NULL;
	pid_t pid = -1;
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	if (!helper_name_ok(helper))
		return err_set(err, BARGE_EINVAL, "\"%.64s\" is not a credential helper name",
		               helper);
	snprintf(prog, sizeof(prog), "docker-credential-%s", helper);
	if ((buf = malloc(CREDS_HELPER_MAX + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "%s: pipe", prog);
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	fa_ok = 1;
	if (posix_spawn_file_actions_adddup2(&fa, in[0], 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, outp[1], 1) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) != 0) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	argv[0] = prog;
	argv[1] = (char *)"get";
	argv[2] = NULL;
	if ((rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ)) != 0) {
		pid = -1;
		rc = err_sys(err, BARGE_EAUTH, rc,
		             "cannot run credential helper %s (is it on PATH?)", prog);
		goto out;
	}
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	/* A helper that exits without reading its input still gets its say below. */
	(void)write_pipe(in[1], server, strlen(server));
	close(in[1]);
	in[1] = -1;
	if ((rc = read_bounded(outp[0], buf, CREDS_HELPER_MAX + 1, &len,
	                       now_ms() + CREDS_HELPER_TIMEOUT_S * 1000, prog, err)) != BARGE_OK) {
		kill(pid, SIGKILL);
		goto out;
	}
	buf[len] = '\0';
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = err_sys(err, BARGE_EIO, errno, "%s: waitpid", prog);
			pid = -1;
			goto out;
		}
	}
	pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* docker's helpers say this, exiting 1, when they hold nothing for the server. */
		if (strstr(buf, "credentials not found") != NULL) {
			rc = BARGE_OK;
			goto out;
		}
		first_line(buf, len, line, sizeof(line));
		rc = err_set(err, BARGE_EAUTH, "credential helper %s failed for %s: %s", prog,
		             server, line[0] != '\0' ? line : "no message");
		goto out;
	}
	doc = json_loadb(buf, len, 0, NULL);
	user = json_string_value(json_object_get(doc, "Username"));
	secret = json_string_value(json_object_get(doc, "Secret"));
	if (user == NULL || secret == NULL || secret[0] == '\0') {
		rc = err_set(
		        err, BARGE_EAUTH,
		        "credential helper %s: output for %s is not {\"Username\", \"Secret\"}",
		        prog, server);
		goto out;
	}
	rc = set_creds(out, user, strlen(user), secret, strlen(secret),
	               strcmp(user, "<token>") == 0, prog, err);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	if (outp[0] >= 0)
		close(outp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	/* jansson keeps its own copy of the secret: wipe it before it is freed. */
	if (secret != NULL)
		OPENSSL_cleanse((char *)secret, strlen(secret));
	json_decref(doc);
	OPENSSL_cleanse(buf, CREDS_HELPER_MAX + 1);
	free(buf);
	return rc;
}

int
creds_lookup(const char *registry, struct creds *out, struct barge_err *err)
{
	char *path = NULL, *buf = NULL, *helper = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((path = creds_config_path()) == NULL)
		return BARGE_OK;
	rc = fu_read_file(path, CREDS_CONFIG_MAX, &buf, &len, err);
	if (rc == BARGE_ENOTFOUND) {
		rc = BARGE_OK;
		goto out;
	}
	if (rc != BARGE_OK)
		goto out;
	if ((rc = creds_from_config(buf, len, registry, out, &helper, err)) != BARGE_OK) {
		err_prefix(err, "%s", path);
		goto out;
	}
	if (helper != NULL)
		rc = creds_from_helper(helper, is_hub(registry) ? HUB_SERVER : registry, out, err);
out:
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
	free(helper);
	free(path);
	return rc;
}
