/*
 * upstream_curl.c: the upstream transport module (upstream.h) over
 * libcurl, built as barged-upstream.so and loaded by upstream_load.  It
 * owns the handles (struct upstream) and the bodies it opens: a body is a
 * curl multi transfer driven by the reader, paused while its buffer is
 * full, so a slow client slows the upstream transfer instead of filling
 * memory.  Only the ops table is exported.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "digest.h"
#include "upstream_int.h"

#define UPSTREAM_BUF      (256 * 1024) /* a body's buffer; >= CURL_MAX_WRITE_SIZE */
#define UPSTREAM_IDLE_MS  30000
#define UPSTREAM_POLL_MS  200
#define UPSTREAM_URL_MAX  4096
#define UPSTREAM_CHAL_MAX 4096

struct upstream_body {
	struct upstream *u;
	CURLM *m;
	CURL *h;
	struct curl_slist *hdrs;
	struct upstream_resp head;
	char challenge[UPSTREAM_CHAL_MAX];
	char errbuf[CURL_ERROR_SIZE];
	int head_done, finished, paused, get;
	CURLcode result;
	char *buf;
	size_t off, len;
	int64_t received;
};

int64_t
upstream_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
upstream_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct upstream *u = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&u->share_mtx[data]);
}

static void
upstream_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct upstream *u = arg;

	(void)h;
	pthread_mutex_unlock(&u->share_mtx[data]);
}

static void upstream_close(struct upstream *u);

static char *
dup_opt(const char *s, int *bad)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*bad = 1;
	return d;
}

/* The host of url ("http(s)://host[:port][/...]"), for credential lookups. */
static char *
url_host(const char *url)
{
	const char *p = strstr(url, "://"), *e;

	if (p == NULL)
		return NULL;
	p += 3;
	for (e = p; *e != '\0' && *e != '/'; e++)
		;
	return strndup(p, (size_t)(e - p));
}

static int
upstream_open(const struct upstream_opts *o, struct upstream **out, struct barge_err *err)
{
	struct upstream *u;
	int bad = 0, i;
	size_t n;

	if (o->url == NULL ||
	    (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0))
		return err_set(err, BARGE_EINVAL, "upstream URL %s: not http:// or https://",
		               o->url != NULL ? o->url : "(none)");
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pthread_mutex_init(&u->mtx, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&u->share_mtx[i], NULL);
	u->url = dup_opt(o->url, &bad);
	u->host = url_host(o->url);
	u->ca_file = dup_opt(o->ca_file, &bad);
	u->docker_config = dup_opt(o->docker_config, &bad);
	u->registry = dup_opt(o->registry, &bad);
	u->username = dup_opt(o->username, &bad);
	u->password_file = dup_opt(o->password_file, &bad);
	u->exec = dup_opt(o->exec, &bad);
	u->insecure = o->insecure;
	u->peer = o->peer;
	u->body_idle_ms = o->body_idle_ms > 0 ? o->body_idle_ms : UPSTREAM_IDLE_MS;
	u->creds_expire = -1;
	if (bad || u->url == NULL || u->host == NULL) {
		upstream_close(u);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	n = strlen(u->url);
	while (n > 0 && u->url[n - 1] == '/')
		u->url[--n] = '\0';
	if ((u->share = curl_share_init()) == NULL) {
		upstream_close(u);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	curl_share_setopt(u->share, CURLSHOPT_LOCKFUNC, upstream_lock);
	curl_share_setopt(u->share, CURLSHOPT_UNLOCKFUNC, upstream_unlock);
	curl_share_setopt(u->share, CURLSHOPT_USERDATA, u);
	curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	*out = u;
	return BARGE_OK;
}

static void
upstream_close(struct upstream *u)
{
	int i;

	if (u == NULL)
		return;
	if (u->share != NULL)
		curl_share_cleanup(u->share);
	upstream_auth_free(u);
	free(u->url);
	free(u->host);
	free(u->ca_file);
	free(u->docker_config);
	free(u->registry);
	free(u->username);
	free(u->password_file);
	free(u->exec);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&u->share_mtx[i]);
	pthread_mutex_destroy(&u->mtx);
	free(u);
}

void
upstream_curl_common(struct upstream *u, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_SHARE, u->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "barged/" BARGE_VERSION);
	if (u->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, u->ca_file);
	if (u->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* Copies a header's value (trimmed) into dst. */
static void
hdr_value(const char *v, size_t n, char *dst, size_t cap)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct upstream_body *b = arg;
	size_t n = size * nmemb, k;
	char val[64];
	long status;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new answer (after a redirect, a 100): forget the last one's headers. */
		status = 0;
		for (k = 5; k < n && line[k] != ' '; k++)
			;
		if (k < n)
			status = strtol(line + k + 1, NULL, 10);
		memset(&b->head, 0, sizeof(b->head));
		b->head.status = status;
		b->head.length = -1;
		b->challenge[0] = '\0';
		return n;
	}
	if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
		if (b->head.status >= 200 && !(b->head.status >= 300 && b->head.status < 400))
			b->head_done = 1;
		return n;
	}
	if (n > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
		hdr_value(line + 13, n - 13, b->head.content_type, sizeof(b->head.content_type));
	} else if (n > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
		hdr_value(line + 15, n - 15, val, sizeof(val));
		b->head.length = val[0] >= '0' && val[0] <= '9' ? strtoll(val, NULL, 10) : -1;
	} else if (n > 22 && strncasecmp(line, "Docker-Content-Digest:", 22) == 0) {
		hdr_value(line + 22, n - 22, b->head.digest, sizeof(b->head.digest));
		if (digest_parse(b->head.digest, NULL, NULL, NULL) != BARGE_OK)
			b->head.digest[0] = '\0';
	} else if (n > 17 && strncasecmp(line, "WWW-Authenticate:", 17) == 0) {
		hdr_value(line + 17, n - 17, b->challenge, sizeof(b->challenge));
	}
	return n;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct upstream_body *b = arg;
	size_t n = size * nmemb;

	/* Only a successful answer's body is read; others' are dropped. */
	if (!b->get || b->head.status < 200 || b->head.status >= 300)
		return n;
	if (UPSTREAM_BUF - b->len < n) {
		b->paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->received += (int64_t)n;
	return n;
}

static void
body_close(struct upstream_body *b)
{
	if (b == NULL)
		return;
	if (b->m != NULL && b->h != NULL)
		curl_multi_remove_handle(b->m, b->h);
	if (b->h != NULL)
		curl_easy_cleanup(b->h);
	if (b->m != NULL)
		curl_multi_cleanup(b->m);
	curl_slist_free_all(b->hdrs);
	free(b->buf);
	free(b);
}

/* Runs the transfer a step: reads what curl says finished. */
static void
body_step(struct upstream_body *b, int wait_ms)
{
	struct CURLMsg *msg;
	int running = 0, left;

	curl_multi_perform(b->m, &running);
	while ((msg = curl_multi_info_read(b->m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE) {
			b->finished = 1;
			b->result = msg->data.result;
		}
	if (!b->finished && wait_ms > 0 && !(b->get && b->len > 0))
		curl_multi_poll(b->m, NULL, 0, wait_ms, NULL);
}

/* Starts one transfer of url and waits for its head until deadline. */
static int
body_start(struct upstream *u, const char *url, const char *repo, const char *accept, int get,
           int64_t deadline, struct upstream_body **out, struct barge_err *err)
{
	struct upstream_body *b;
	char line[512];
	int64_t left;
	int rc;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (get && (b->buf = malloc(UPSTREAM_BUF)) == NULL)) {
		free(b);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	b->u = u;
	b->get = get;
	b->head.length = -1;
	if ((b->m = curl_multi_init()) == NULL || (b->h = curl_easy_init()) == NULL) {
		body_close(b);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	upstream_curl_common(u, b->h);
	curl_easy_setopt(b->h, CURLOPT_URL, url);
	curl_easy_setopt(b->h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(b->h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(b->h, CURLOPT_ERRORBUFFER, b->errbuf);
	curl_easy_setopt(b->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(b->h, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(b->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(b->h, CURLOPT_WRITEDATA, b);
	left = deadline - upstream_now_ms();
	curl_easy_setopt(b->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(left > 1 ? left : 1));
	if (!get)
		curl_easy_setopt(b->h, CURLOPT_NOBODY, 1L);
	if (accept != NULL) {
		snprintf(line, sizeof(line), "Accept: %s", accept);
		b->hdrs = curl_slist_append(b->hdrs, line);
	}
	if (u->peer)
		b->hdrs = curl_slist_append(b->hdrs, UPSTREAM_PEER_HEADER ": 1");
	if ((rc = upstream_auth_apply(u, repo, b->h, &b->hdrs, err)) != BARGE_OK) {
		body_close(b);
		return rc;
	}
	curl_easy_setopt(b->h, CURLOPT_HTTPHEADER, b->hdrs);
	curl_multi_add_handle(b->m, b->h);
	while (!b->head_done && !b->finished) {
		if ((left = deadline - upstream_now_ms()) <= 0)
			break;
		body_step(b, left < UPSTREAM_POLL_MS ? (int)left : UPSTREAM_POLL_MS);
	}
	*out = b;
	return BARGE_OK;
}

static int
upstream_request(struct upstream *u, const char *path, const char *repo, const char *accept,
                 int deadline_ms, struct upstream_resp *resp, struct upstream_body **body,
                 struct barge_err *err)
{
	int64_t deadline = upstream_now_ms() + (deadline_ms > 0 ? deadline_ms : 1);
	struct upstream_body *b = NULL;
	char url[UPSTREAM_URL_MAX];
	int attempt, rc;

	memset(resp, 0, sizeof(*resp));
	resp->length = -1;
	if (body != NULL)
		*body = NULL;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", u->url, path) >= sizeof(url)) {
		resp->fail = UPSTREAM_FAIL_OTHER;
		return err_set(err, BARGE_EINVAL, "upstream %s: URL too long", u->host);
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if ((rc = body_start(u, url, repo, accept, body != NULL, deadline, &b, err)) !=
		    BARGE_OK) {
			resp->fail = rc == BARGE_EAUTH ? UPSTREAM_FAIL_AUTH : UPSTREAM_FAIL_OTHER;
			return rc;
		}
		if (!b->head_done && !b->finished) {
			body_close(b);
			resp->fail = UPSTREAM_FAIL_TIMEOUT;
			return err_set(err, BARGE_ENET, "upstream %s: no answer within %d ms",
			               u->host, deadline_ms);
		}
		if (!b->head_done) {
			rc = b->result == CURLE_OPERATION_TIMEDOUT ? UPSTREAM_FAIL_TIMEOUT
			                                           : UPSTREAM_FAIL_CONNECT;
			err_set(err, BARGE_ENET, "upstream %s: %s", u->host,
			        b->errbuf[0] != '\0' ? b->errbuf : curl_easy_strerror(b->result));
			resp->fail = (enum upstream_fail)rc;
			body_close(b);
			return BARGE_ENET;
		}
		if (b->head.status != 401 || attempt == 1 || b->challenge[0] == '\0')
			break;
		rc = upstream_auth_answer(u, repo, b->challenge, deadline, err);
		body_close(b);
		b = NULL;
		if (rc != BARGE_OK) {
			resp->fail = rc == BARGE_ENET ? UPSTREAM_FAIL_TIMEOUT : UPSTREAM_FAIL_AUTH;
			resp->status = 401;
			return rc;
		}
	}
	*resp = b->head;
	if (resp->status < 200 || resp->status >= 300) {
		body_close(b);
		resp->fail = resp->status == 401 || resp->status == 403 ? UPSTREAM_FAIL_AUTH
		                                                        : UPSTREAM_FAIL_HTTP;
		return err_set(err, resp->status == 404 ? BARGE_ENOTFOUND : BARGE_ENET,
		               "upstream %s: HTTP %ld", u->host, resp->status);
	}
	if (body != NULL)
		*body = b;
	else
		body_close(b);
	return BARGE_OK;
}

static int
body_read(struct upstream_body *b, void *buf, size_t len, size_t *got, struct barge_err *err)
{
	int64_t idle_since = upstream_now_ms();
	size_t n;

	*got = 0;
	for (;;) {
		if (b->len > b->off) {
			n = b->len - b->off < len ? b->len - b->off : len;
			memcpy(buf, b->buf + b->off, n);
			b->off += n;
			*got = n;
			return BARGE_OK;
		}
		b->off = b->len = 0;
		if (b->finished) {
			if (b->result != CURLE_OK ||
			    (b->head.length >= 0 && b->received != b->head.length))
				return err_set(err, BARGE_ENET,
				               "upstream %s: the body broke after %lld bytes: %s",
				               b->u->host, (long long)b->received,
				               b->result != CURLE_OK ? curl_easy_strerror(b->result)
				                                     : "short");
			return BARGE_OK;
		}
		if (b->paused) {
			b->paused = 0;
			curl_easy_pause(b->h, CURLPAUSE_CONT);
		}
		body_step(b, UPSTREAM_POLL_MS);
		if (b->len > 0 || b->finished)
			idle_since = upstream_now_ms();
		else if (upstream_now_ms() - idle_since > b->u->body_idle_ms)
			return err_set(err, BARGE_ENET,
			               "upstream %s: the body stalled after %lld bytes", b->u->host,
			               (long long)b->received);
	}
}

__attribute__((visibility("default"))) const struct upstream_ops barged_upstream_ops = {
	.abi = UPSTREAM_ABI,
	.open = upstream_open,
	.close = upstream_close,
	.request = upstream_request,
	.read = body_read,
	.body_close = body_close,
};
