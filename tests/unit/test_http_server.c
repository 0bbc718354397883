#include "test_main.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fileutil.h"
#include "fixture.h"
#include "http_server.h"
#include "tls.h"

#define FILE_SIZE (5 * 1024 * 1024 + 123)
#define BODY_MAX  (16 * 1024 * 1024)

struct fixture {
	char *dir;
	char *file; /* FILE_SIZE bytes of a pattern */
	unsigned char *content;
	/* What on_complete saw last. */
	pthread_mutex_t mtx;
	int last_status;
	uint64_t last_bytes;
	int completed;
	int slow_started; /* the /slow handler is running */
};

/* A body taken by the handler: counted and summed as it streams. */
struct sink {
	uint64_t n;
	uint64_t sum;
	size_t calls;
};

static int
sink_body(struct http_req *req, const void *buf, size_t len, void *arg)
{
	struct sink *k = arg;
	const unsigned char *p = buf;
	size_t i;

	(void)req;
	for (i = 0; i < len; i++)
		k->sum += p[i];
	k->n += len;
	k->calls++;
	/* A handler may refuse a body half way. */
	if (k->n > 0 && p[0] == 'X')
		return BARGE_EFORMAT;
	return BARGE_OK;
}

static void
sink_done(struct http_req *req, int rc, void *arg)
{
	struct sink *k = arg;
	char buf[128];

	if (rc == BARGE_OK) {
		snprintf(buf, sizeof(buf), "n=%llu sum=%llu", (unsigned long long)k->n,
		         (unsigned long long)k->sum);
		(void)http_respond_buf(req, 200, "text/plain", buf, strlen(buf));
	} else if (rc == BARGE_ELIMIT) {
		(void)http_respond_buf(req, 413, "text/plain", "too big", 7);
	} else if (rc != BARGE_EIO) {
		(void)http_respond_buf(req, 400, "text/plain", "refused", 7);
	}
	free(k);
}

static void
on_complete(struct http_req *req, int status, uint64_t bytes, void *arg)
{
	struct fixture *f = arg;

	(void)req;
	pthread_mutex_lock(&f->mtx);
	f->last_status = status;
	f->last_bytes = bytes;
	f->completed++;
	pthread_mutex_unlock(&f->mtx);
}

/*
 * What the test handler serves.  It runs on server threads, where cmocka's
 * asserts must not be used: a failure shows as a missing or wrong answer.
 */
static void
handler(struct http_req *req, void *arg)
{
	struct fixture *f = arg;
	const char *path = http_req_path(req);
	char buf[512];
	int fd;

	if (strcmp(path, "/buf") == 0) {
		if (http_resp_header(req, "X-Test", "yes") == BARGE_OK)
			(void)http_respond_buf(req, 200, "text/plain", "hello world", 11);
	} else if (strcmp(path, "/echo/a b") == 0) {
		const char *q = http_req_query(req, "q"), *h = http_req_header(req, "x-hdr");

		snprintf(buf, sizeof(buf), "%s q=%s h=%s missing=%s", http_req_method(req),
		         q ? q : "(null)", h ? h : "(null)",
		         http_req_query(req, "missing") ? "yes" : "no");
		(void)http_respond_buf(req, 201, "text/plain", buf, strlen(buf));
	} else if (strcmp(path, "/file") == 0) {
		const char *off = http_req_query(req, "off"), *len = http_req_query(req, "len");
		uint64_t o = off ? strtoull(off, NULL, 10) : 0;
		uint64_t l = len ? strtoull(len, NULL, 10) : FILE_SIZE;

		if ((fd = open(f->file, O_RDONLY)) >= 0)
			(void)http_respond_fd(req, off ? 206 : 200, "application/octet-stream", fd,
			                      o, l);
	} else if (strcmp(path, "/sink") == 0) {
		struct sink *k = calloc(1, sizeof(*k));
		int rc;

		if (k == NULL)
			return;
		rc = http_req_accept_body(req, 8 * 1024 * 1024, sink_body, sink_done, k);
		if (rc != BARGE_OK) {
			free(k);
			(void)http_respond_buf(req, rc == BARGE_ELIMIT ? 413 : 500, "text/plain",
			                       "no", 2);
		}
	} else if (strcmp(path, "/slow") == 0) {
		pthread_mutex_lock(&f->mtx);
		f->slow_started = 1;
		pthread_mutex_unlock(&f->mtx);
		usleep(700 * 1000);
		(void)http_respond_buf(req, 200, "text/plain", "slow", 4);
	} else if (strcmp(path, "/remote") == 0) {
		const char *a = http_req_remote_addr(req);

		(void)http_respond_buf(req, 200, "text/plain", a, strlen(a));
	}
	/* Anything else queues nothing: the server must answer 500 on its own. */
}

struct body {
	unsigned char *p;
	size_t len;
};

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	unsigned char *p;

	if (b->len + size * n > BODY_MAX)
		return 0;
	p = realloc(b->p, b->len + size * n + 1);
	assert_non_null(p);
	memcpy(p + b->len, data, size * n);
	b->p = p;
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

static size_t
collect_headers(char *data, size_t size, size_t n, void *arg)
{
	return collect(data, size, n, arg);
}

/* One request; returns the status, fills body and headers (caller frees). */
static long
fetch(const char *url, const char *method, const char *cainfo, struct curl_slist *hdrs,
      const char *post, struct body *body, struct body *head, curl_off_t *clen)
{
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode rc;

	assert_non_null(c);
	memset(body, 0, sizeof(*body));
	memset(head, 0, sizeof(*head));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_headers);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, head);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (hdrs != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (post != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	}
	if (cainfo != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, cainfo);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (clen != NULL)
		curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, clen);
	curl_easy_cleanup(c);
	return status;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct barge_err err = { 0 };
	size_t i;

	assert_non_null(f);
	f->dir = fx_tmpdir_new("http");
	f->file = fu_printf("%s/blob", f->dir);
	pthread_mutex_init(&f->mtx, NULL);
	f->content = malloc(FILE_SIZE);
	assert_non_null(f->content);
	/* A pattern that does not repeat on block boundaries. */
	for (i = 0; i < FILE_SIZE; i++)
		f->content[i] = (unsigned char)((i * 7 + i / 251) & 0xff);
	assert_int_equal(fu_write_atomic(f->file, f->content, FILE_SIZE, 0644, &err), BARGE_OK);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f->dir);
	free(f->file);
	free(f->content);
	pthread_mutex_destroy(&f->mtx);
	free(f);
	curl_global_cleanup();
	return 0;
}

/* Starts the test handler's server on 127.0.0.1 with o's limits. */
static struct http_server *
start_opts(struct fixture *f, struct http_server_opts *o)
{
	struct barge_err err = { 0 };
	struct http_server *s = NULL;

	if (o->listen == NULL)
		o->listen = "127.0.0.1:0";
	o->threads = 2;
	o->handler = handler;
	o->arg = f;
	o->on_complete = on_complete;
	o->stop_wait_ms = 5000;
	if (http_server_start(o, &s, &err) != BARGE_OK)
		fail_msg("start %s: %s", o->listen, err.msg);
	assert_true(http_server_port(s) > 0);
	return s;
}

static struct http_server *
start(struct fixture *f, const char *listen, const char *cert, const char *key)
{
	struct http_server_opts o = { 0 };

	o.listen = listen;
	o.cert_pem = cert;
	o.key_pem = key;
	return start_opts(f, &o);
}

static void
check_file_and_head(const char *base, const char *cainfo, struct fixture *f)
{
	struct body b, h;
	curl_off_t clen = -1;
	char *url;

	url = fu_printf("%s/file", base);
	assert_int_equal(fetch(url, "GET", cainfo, NULL, NULL, &b, &h, NULL), 200);
	assert_int_equal(b.len, FILE_SIZE);
	assert_memory_equal(b.p, f->content, FILE_SIZE);
	free(b.p);
	free(h.p);

	assert_int_equal(fetch(url, "HEAD", cainfo, NULL, NULL, &b, &h, &clen), 200);
	assert_int_equal(clen, FILE_SIZE);
	assert_int_equal(b.len, 0);
	free(b.p);
	free(h.p);
	free(url);

	/* A window of the file, starting past the first block. */
	url = fu_printf("%s/file?off=1048577&len=2097152", base);
	assert_int_equal(fetch(url, "GET", cainfo, NULL, NULL, &b, &h, NULL), 206);
	assert_int_equal(b.len, 2097152);
	assert_memory_equal(b.p, f->content + 1048577, 2097152);
	free(b.p);
	free(h.p);
	free(url);
}

static void
test_plain_buffer_and_headers(void **state)
{
	struct fixture *f = *state;
	struct curl_slist *hdrs = NULL;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	struct body b, h;
	curl_off_t clen = -1;
	char *url;

	url = fu_printf("http://127.0.0.1:%d/buf", http_server_port(s));
	assert_int_equal(fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL), 200);
	assert_string_equal((char *)b.p, "hello world");
	assert_non_null(strstr((char *)h.p, "X-Test: yes\r\n"));
	assert_non_null(strstr((char *)h.p, "Content-Type: text/plain\r\n"));
	free(b.p);
	free(h.p);
	assert_int_equal(fetch(url, "HEAD", NULL, NULL, NULL, &b, &h, &clen), 200);
	assert_int_equal(clen, 11);
	assert_int_equal(b.len, 0);
	free(b.p);
	free(h.p);
	free(url);

	/* The path comes percent-decoded and without the query. */
	hdrs = curl_slist_append(hdrs, "X-Hdr: header value");
	url = fu_printf("http://127.0.0.1:%d/echo/a%%20b?q=x%%2Fy&other=1", http_server_port(s));
	assert_int_equal(fetch(url, "GET", NULL, hdrs, NULL, &b, &h, NULL), 201);
	assert_string_equal((char *)b.p, "GET q=x/y h=header value missing=no");
	free(b.p);
	free(h.p);
	curl_slist_free_all(hdrs);
	free(url);

	url = fu_printf("http://127.0.0.1:%d/unhandled", http_server_port(s));
	assert_int_equal(fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL), 500);
	free(b.p);
	free(h.p);
	free(url);
	http_server_stop(s);
}

static void
test_request_with_body(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	struct body b, h;
	char *url, *post;

	/* Large enough to arrive in several reads; the answer must still come whole. */
	post = malloc(200001);
	assert_non_null(post);
	memset(post, 'x', 200000);
	post[200000] = '\0';
	url = fu_printf("http://127.0.0.1:%d/echo/a%%20b?q=1", http_server_port(s));
	assert_int_equal(fetch(url, "POST", NULL, NULL, post, &b, &h, NULL), 201);
	assert_string_equal((char *)b.p, "POST q=1 h=(null) missing=no");
	free(b.p);
	free(h.p);
	free(url);
	free(post);
	http_server_stop(s);
}

/* A body announced larger than the server reads is answered without being read. */
static void
test_large_body_answered_early(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	struct body b, h;
	char *url, *post;

	post = malloc(3000001);
	assert_non_null(post);
	memset(post, 'x', 3000000);
	post[3000000] = '\0';
	url = fu_printf("http://127.0.0.1:%d/echo/a%%20b?q=big", http_server_port(s));
	assert_int_equal(fetch(url, "POST", NULL, NULL, post, &b, &h, NULL), 201);
	assert_string_equal((char *)b.p, "POST q=big h=(null) missing=no");
	free(b.p);
	free(h.p);
	/* The server still answers afterwards. */
	assert_int_equal(fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL), 201);
	free(b.p);
	free(h.p);
	free(url);
	free(post);
	http_server_stop(s);
}

static void
test_plain_fd_response(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	char *base = fu_printf("http://127.0.0.1:%d", http_server_port(s));

	check_file_and_head(base, NULL, f);
	free(base);
	http_server_stop(s);
}

static void
test_tls_verified_against_ca(void **state)
{
	struct fixture *f = *state;
	struct barge_err err = { 0 };
	char *cert = NULL, *key = NULL, *data = fu_printf("%s/data", f->dir);
	char *ca = fu_printf("%s/ca.crt", data), *base, *url;
	struct http_server *s;
	struct body b, h;

	assert_int_equal(tls_ensure(data, NULL, 0, &cert, &key, &err), BARGE_OK);
	s = start(f, "127.0.0.1:0", cert, key);
	base = fu_printf("https://127.0.0.1:%d", http_server_port(s));
	check_file_and_head(base, ca, f);
	free(base);

	url = fu_printf("https://localhost:%d/buf", http_server_port(s));
	assert_int_equal(fetch(url, "GET", ca, NULL, NULL, &b, &h, NULL), 200);
	assert_string_equal((char *)b.p, "hello world");
	free(b.p);
	free(h.p);
	free(url);

	http_server_stop(s);
	free(cert);
	free(key);
	free(ca);
	free(data);
}

/*
 * A TLS handshake limited to ciphers (an OpenSSL cipher list for TLS 1.2)
 * and versions; returns curl's code, the body discarded.
 */
static CURLcode
tls_try(const char *url, const char *ca, long version, const char *ciphers)
{
	CURL *c = curl_easy_init();
	struct body b = { 0 };
	CURLcode rc;

	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, version);
	if (ciphers != NULL)
		curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, ciphers);
	rc = curl_easy_perform(c);
	free(b.p);
	curl_easy_cleanup(c);
	return rc;
}

/* TLS 1.2 with AEAD ciphers and ECDHE only: CBC suites and TLS 1.1 are refused. */
static void
test_tls_aead_only(void **state)
{
	struct fixture *f = *state;
	struct barge_err err = { 0 };
	char *cert = NULL, *key = NULL, *data = fu_printf("%s/data", f->dir);
	char *ca = fu_printf("%s/ca.crt", data), *url;
	struct http_server *s;

	assert_int_equal(tls_ensure(data, NULL, 0, &cert, &key, &err), BARGE_OK);
	s = start(f, "127.0.0.1:0", cert, key);
	url = fu_printf("https://127.0.0.1:%d/buf", http_server_port(s));
	assert_int_equal(tls_try(url, ca, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2,
	                         "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"),
	                 CURLE_OK);
	assert_int_equal(tls_try(url, ca, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2,
	                         "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
	                         "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384"),
	                 CURLE_SSL_CONNECT_ERROR);
	assert_int_equal(
	        tls_try(url, ca, CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1, NULL),
	        CURLE_SSL_CONNECT_ERROR);
	assert_int_equal(tls_try(url, ca, CURL_SSLVERSION_TLSv1_3, NULL), CURLE_OK);
	http_server_stop(s);
	free(url);
	free(cert);
	free(key);
	free(ca);
	free(data);
}

static void
test_ipv6_listen(void **state)
{
	struct fixture *f = *state;
	struct http_server *s;
	struct body b, h;
	char *url;

	if (access("/proc/net/if_inet6", F_OK) != 0)
		skip();
	s = start(f, "[::1]:0", NULL, NULL);
	url = fu_printf("http://[::1]:%d/buf", http_server_port(s));
	assert_int_equal(fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL), 200);
	assert_string_equal((char *)b.p, "hello world");
	free(b.p);
	free(h.p);
	free(url);
	http_server_stop(s);
}

static void
test_long_url_refused(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	struct body b, h;
	char *url, *path;
	long status;

	path = malloc(HTTP_URL_MAX + 10);
	assert_non_null(path);
	memset(path, 'a', HTTP_URL_MAX + 9);
	path[HTTP_URL_MAX + 9] = '\0';
	url = fu_printf("http://127.0.0.1:%d/%s", http_server_port(s), path);
	status = fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL);
	assert_int_equal(status, 414);
	free(b.p);
	free(h.p);
	free(url);
	free(path);
	http_server_stop(s);
}

static void
test_bad_listen(void **state)
{
	static const char *const bad[] = { "",         "30003",         "host:1",
		                           "1.2.3.4:", "1.2.3.4:65536", "[::1:5",
		                           "[::1]5",   "[zz]:5",        "1.2.3.4:-1" };
	struct http_server_opts o = { 0 };
	struct barge_err err = { 0 };
	struct http_server *s = NULL;
	size_t i;

	o.handler = handler;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.listen = bad[i];
		if (http_server_start(&o, &s, &err) != BARGE_EINVAL)
			fail_msg("listen '%s' accepted", bad[i]);
		assert_null(s);
	}
}

static void
test_port_in_use(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL), *s2 = NULL;
	struct http_server_opts o = { 0 };
	struct barge_err err = { 0 };
	char *listen = fu_printf("127.0.0.1:%d", http_server_port(s));

	o.listen = listen;
	o.handler = handler;
	assert_int_equal(http_server_start(&o, &s2, &err), BARGE_EIO);
	assert_non_null(strstr(err.msg, listen));
	assert_null(s2);
	free(listen);
	http_server_stop(s);
}

static void
expect_sink(struct fixture *f, const char *url, const unsigned char *data, size_t len, int chunked)
{
	struct curl_slist *hdrs = NULL;
	char want[128], *post;
	uint64_t sum = 0;
	struct body b, h;
	int before, done = 0, calls, status;
	uint64_t bytes;
	size_t i;

	post = malloc(len + 1);
	assert_non_null(post);
	memcpy(post, data, len);
	post[len] = '\0';
	for (i = 0; i < len; i++)
		sum += data[i];
	if (chunked)
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
	pthread_mutex_lock(&f->mtx);
	before = f->completed;
	pthread_mutex_unlock(&f->mtx);
	assert_int_equal(fetch(url, "POST", NULL, hdrs, post, &b, &h, NULL), 200);
	snprintf(want, sizeof(want), "n=%zu sum=%llu", len, (unsigned long long)sum);
	assert_string_equal((char *)b.p, want);
	/*
	 * on_complete may run just after the client has its answer: wait for
	 * this request's own call (counted, as the previous request's answer
	 * has the same length), up to 10 s on a loaded machine.
	 */
	for (i = 0; i < 1000 && !done; i++) {
		pthread_mutex_lock(&f->mtx);
		done = f->completed > before;
		pthread_mutex_unlock(&f->mtx);
		if (!done)
			usleep(10 * 1000);
	}
	/* Copied out: a failing check must not leave the lock held for the server threads. */
	pthread_mutex_lock(&f->mtx);
	calls = f->completed - before;
	status = f->last_status;
	bytes = f->last_bytes;
	pthread_mutex_unlock(&f->mtx);
	if (calls != 1 || status != 200 || bytes != strlen(want))
		fail_msg("on_complete ran %d times, last with status %d and %llu bytes; want once "
		         "with 200 and %zu",
		         calls, status, (unsigned long long)bytes, strlen(want));
	curl_slist_free_all(hdrs);
	free(b.p);
	free(h.p);
	free(post);
}

/* Bodies reach the handler as they stream, with or without a length. */
static void
test_streamed_body(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	char *url = fu_printf("http://127.0.0.1:%d/sink", http_server_port(s));
	unsigned char *data = malloc(FILE_SIZE);
	size_t i;

	/* Letters only: POSTFIELDS are a C string, and 'X' first would make the sink refuse. */
	assert_non_null(data);
	for (i = 0; i < FILE_SIZE; i++)
		data[i] = (unsigned char)('a' + f->content[i] % 26);
	expect_sink(f, url, data, FILE_SIZE, 0);
	expect_sink(f, url, data, FILE_SIZE, 1);
	expect_sink(f, url, data, 1, 0);
	free(data);
	free(url);
	http_server_stop(s);
}

static void
test_body_limits(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	char *url = fu_printf("http://127.0.0.1:%d/sink", http_server_port(s)), *post;
	struct body b, h;

	/* Announced beyond the handler's bound: refused without being read. */
	post = malloc(9 * 1024 * 1024 + 1);
	assert_non_null(post);
	memset(post, 'a', 9 * 1024 * 1024);
	post[9 * 1024 * 1024] = '\0';
	assert_int_equal(fetch(url, "POST", NULL, NULL, post, &b, &h, NULL), 413);
	free(b.p);
	free(h.p);
	/* Refused half way by the handler: the answer still comes. */
	memset(post, 'X', 1000);
	post[1000] = '\0';
	assert_int_equal(fetch(url, "POST", NULL, NULL, post, &b, &h, NULL), 400);
	assert_string_equal((char *)b.p, "refused");
	free(b.p);
	free(h.p);
	/* Refused half way through a body over 1 MiB: the rest is read, and the answer comes. */
	memset(post, 'X', 4 * 1024 * 1024);
	post[4 * 1024 * 1024] = '\0';
	assert_int_equal(fetch(url, "POST", NULL, NULL, post, &b, &h, NULL), 400);
	assert_string_equal((char *)b.p, "refused");
	free(b.p);
	free(h.p);
	/* And the server goes on serving. */
	free(url);
	url = fu_printf("http://127.0.0.1:%d/remote", http_server_port(s));
	assert_int_equal(fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL), 200);
	assert_string_equal((char *)b.p, "127.0.0.1");
	free(b.p);
	free(h.p);
	free(post);
	free(url);
	http_server_stop(s);
}

struct slow_call {
	char *url;
	long status;
	char body[16];
};

static void *
slow_thread(void *arg)
{
	struct slow_call *c = arg;
	struct body b, h;

	c->status = fetch(c->url, "GET", NULL, NULL, NULL, &b, &h, NULL);
	if (b.p != NULL)
		snprintf(c->body, sizeof(c->body), "%s", (char *)b.p);
	free(b.p);
	free(h.p);
	return NULL;
}

/* A stop lets the request in flight finish before connections close. */
static void
test_graceful_stop(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	struct slow_call c = { 0 };
	pthread_t t;
	int i, started = 0;

	c.url = fu_printf("http://127.0.0.1:%d/slow", http_server_port(s));
	assert_int_equal(pthread_create(&t, NULL, slow_thread, &c), 0);
	/* Stop only once the request is in the handler, however long a loaded machine takes. */
	for (i = 0; i < 1000 && !started; i++) {
		pthread_mutex_lock(&f->mtx);
		started = f->slow_started;
		pthread_mutex_unlock(&f->mtx);
		if (!started)
			usleep(10 * 1000);
	}
	assert_true(started);
	http_server_stop(s);
	pthread_join(t, NULL);
	assert_int_equal(c.status, 200);
	assert_string_equal(c.body, "slow");
	free(c.url);
}

/* A new certificate serves new connections; a bad pair changes nothing. */
static void
test_cert_reload(void **state)
{
	struct fixture *f = *state;
	struct barge_err err = { 0 };
	char *d1 = fu_printf("%s/one", f->dir), *d2 = fu_printf("%s/two", f->dir);
	char *ca1 = fu_printf("%s/ca.crt", d1), *ca2 = fu_printf("%s/ca.crt", d2);
	char *c1 = NULL, *k1 = NULL, *c2 = NULL, *k2 = NULL, *url;
	struct http_server *s;
	struct body b, h;
	CURL *c;

	assert_int_equal(tls_ensure(d1, NULL, 0, &c1, &k1, &err), BARGE_OK);
	assert_int_equal(tls_ensure(d2, NULL, 0, &c2, &k2, &err), BARGE_OK);
	s = start(f, "127.0.0.1:0", c1, k1);
	url = fu_printf("https://127.0.0.1:%d/buf", http_server_port(s));
	assert_int_equal(fetch(url, "GET", ca1, NULL, NULL, &b, &h, NULL), 200);
	free(b.p);
	free(h.p);

	/* A certificate with another's key is refused; the old one stays. */
	assert_int_not_equal(http_server_set_cert(s, c1, k2, &err), BARGE_OK);
	assert_int_equal(fetch(url, "GET", ca1, NULL, NULL, &b, &h, NULL), 200);
	free(b.p);
	free(h.p);

	assert_int_equal(http_server_set_cert(s, c2, k2, &err), BARGE_OK);
	assert_int_equal(fetch(url, "GET", ca2, NULL, NULL, &b, &h, NULL), 200);
	assert_string_equal((char *)b.p, "hello world");
	free(b.p);
	free(h.p);
	/* The old CA no longer verifies the server. */
	c = curl_easy_init();
	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca1);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	assert_int_not_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	/* Twice more, to drain and reap the replaced listeners. */
	assert_int_equal(http_server_set_cert(s, c1, k1, &err), BARGE_OK);
	assert_int_equal(http_server_set_cert(s, c2, k2, &err), BARGE_OK);
	assert_int_equal(fetch(url, "GET", ca2, NULL, NULL, &b, &h, NULL), 200);
	free(b.p);
	free(h.p);
	http_server_stop(s);
	free(url);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
	free(ca1);
	free(ca2);
	free(d1);
	free(d2);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/*
 * Bodyless requests keep the connection: the second request on one curl
 * handle opens no new connection.  (libmicrohttpd closes it when a response
 * is queued on a request's first call; manifest GETs depend on this.)
 */
static void
test_keep_alive(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	char *url = fu_printf("http://127.0.0.1:%d/buf", http_server_port(s));
	const char *methods[] = { "GET", "HEAD", "GET" };
	long status, conns;
	size_t i;
	CURL *c;

	c = curl_easy_init();
	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(methods[i], "HEAD") == 0 ? 1L : 0L);
		if (strcmp(methods[i], "GET") == 0)
			curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		assert_int_equal(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		assert_int_equal(status, 200);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
		assert_int_equal(conns, i == 0 ? 1 : 0);
	}
	curl_easy_cleanup(c);
	free(url);
	http_server_stop(s);
}

/* --- hostile clients, over raw sockets ------------------------------------- */

/* A TCP connection to 127.0.0.1:port from the loopback address src (NULL: 127.0.0.1). */
static int
raw_connect(const char *src, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (src != NULL) {
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
			fail_msg("bind %s: %s", src, strerror(errno));
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		fail_msg("connect from %s: %s", src ? src : "127.0.0.1", strerror(errno));
	return fd;
}

/* Errors are ignored: the server may have closed the connection, which the caller checks. */
static void
raw_send(int fd, const char *s)
{
	(void)send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/*
 * Reads what the server sends until it closes fd (*eof set) or stays
 * silent for 10 s; returns the bytes read, NUL-terminated in buf.
 */
static size_t
raw_read(int fd, char *buf, size_t max, int *eof)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t k;

	*eof = 0;
	while (n + 1 < max && poll(&p, 1, 10000) == 1) {
		k = recv(fd, buf + n, max - 1 - n, 0);
		if (k <= 0) {
			*eof = 1;
			break;
		}
		n += (size_t)k;
	}
	buf[n] = '\0';
	return n;
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* A path that decodes to a control character is refused, not cut at it or served. */
static void
test_control_char_path_refused(void **state)
{
	static const char *const bad[] = { "/buf%00garbage", "/buf%00", "/b%0Auf",    "/buf%0d%0a",
		                           "/buf%1f",        "/buf%7F", "/echo/a%09b" };
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	struct body b, h;
	char *url;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		url = fu_printf("http://127.0.0.1:%d%s", http_server_port(s), bad[i]);
		if (fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL) != 400)
			fail_msg("%s: not refused with 400: %s", bad[i], b.p ? (char *)b.p : "");
		assert_non_null(strstr((char *)b.p, "{\"errors\":[{\"code\":\"UNSUPPORTED\""));
		assert_non_null(strstr((char *)h.p, "Content-Type: application/json\r\n"));
		free(b.p);
		free(h.p);
		free(url);
	}
	/* Printable escapes still decode, and the server goes on serving. */
	url = fu_printf("http://127.0.0.1:%d/echo/a%%20b?q=1", http_server_port(s));
	assert_int_equal(fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL), 201);
	free(b.p);
	free(h.p);
	free(url);
	http_server_stop(s);
}

/*
 * Content-Length with Transfer-Encoding (RFC 9112 6.3): refused, and the
 * connection closed, so the bytes after the chunked body are never read as
 * a second request.
 */
static void
test_length_with_chunked_refused(void **state)
{
	static const char *const smuggle[] = {
		"POST /buf HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /remote HTTP/1.1\r\nHost: "
		"x\r\n\r\n",
		"GET /buf HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 0\r\n\r\n0\r\n\r\nGET /remote HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	char buf[8192];
	int fd, eof;
	size_t i;

	for (i = 0; i < sizeof(smuggle) / sizeof(smuggle[0]); i++) {
		fd = raw_connect(NULL, http_server_port(s));
		raw_send(fd, smuggle[i]);
		(void)raw_read(fd, buf, sizeof(buf), &eof);
		close(fd);
		if (strncmp(buf, "HTTP/1.1 400 ", 13) != 0 || count_of(buf, "HTTP/1.1 ") != 1 ||
		    strstr(buf, "127.0.0.1") != NULL || !eof)
			fail_msg("request %zu: want one 400 and the connection closed, got%s:\n%s",
			         i, eof ? "" : " (still open)", buf);
		assert_non_null(strstr(buf, "{\"errors\":[{\"code\":\"UNSUPPORTED\""));
	}
	http_server_stop(s);
}

/*
 * Whether the server closes fd within 30 s while the client sends a header
 * line every 200 ms: a head that never ends must not hold a connection.
 */
static int
raw_closed_while_trickling(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	int i;

	for (i = 0; i < 150; i++) {
		raw_send(fd, "X-Slow: y\r\n");
		if (poll(&p, 1, 200) == 1 && recv(fd, buf, sizeof(buf), 0) <= 0)
			return 1;
	}
	return 0;
}

/* The request head has a deadline, however steadily its bytes trickle in. */
static void
test_head_deadline(void **state)
{
	struct fixture *f = *state;
	struct http_server_opts o = { 0 };
	struct http_server *s;
	char buf[4096];
	int fd, eof;

	o.head_timeout = 1;
	s = start_opts(f, &o);
	fd = raw_connect(NULL, http_server_port(s));
	raw_send(fd, "GET /buf HTTP/1.1\r\nHost: x\r\n");
	if (!raw_closed_while_trickling(fd))
		fail_msg("a head trickling in for 30 s was not cut off");
	close(fd);
	/* A head that arrives in time is served. */
	fd = raw_connect(NULL, http_server_port(s));
	raw_send(fd, "GET /buf HTTP/1.1\r\nHost: x\r\n\r\n");
	(void)raw_read(fd, buf, sizeof(buf), &eof);
	assert_int_equal(strncmp(buf, "HTTP/1.1 200 ", 13), 0);
	assert_non_null(strstr(buf, "hello world"));
	close(fd);
	http_server_stop(s);
}

/* Connections from one address are capped (128 by default); other addresses are served. */
static void
test_per_address_limit(void **state)
{
	enum { LIMIT = 128, OVER = 12 };
	struct fixture *f = *state;
	struct http_server *s = start(f, "127.0.0.1:0", NULL, NULL);
	struct pollfd p[LIMIT + OVER];
	struct body b, h;
	int closed = 0, n, i;
	char c, *url;

	for (i = 0; i < LIMIT + OVER; i++) {
		p[i].fd = raw_connect("127.0.0.2", http_server_port(s));
		p[i].events = POLLIN;
		raw_send(p[i].fd, "GET /buf HTTP/1.1\r\n");
	}
	/* Wait for the refusals (30 s at most), then a little for any extra one. */
	while (closed < OVER && (n = poll(p, LIMIT + OVER, 30000)) > 0) {
		for (i = 0; i < LIMIT + OVER; i++) {
			if (p[i].revents == 0 || p[i].fd < 0)
				continue;
			if (recv(p[i].fd, &c, 1, 0) <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				closed++;
			}
		}
	}
	if (poll(p, LIMIT + OVER, 500) > 0)
		for (i = 0; i < LIMIT + OVER; i++)
			closed += p[i].fd >= 0 && p[i].revents != 0;
	assert_int_equal(closed, OVER);
	url = fu_printf("http://127.0.0.1:%d/buf", http_server_port(s));
	assert_int_equal(fetch(url, "GET", NULL, NULL, NULL, &b, &h, NULL), 200);
	free(b.p);
	free(h.p);
	free(url);
	for (i = 0; i < LIMIT + OVER; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	http_server_stop(s);
}

#define SLOW_CLIENTS   3000
#define SLOW_PER_ADDR  50 /* under the per-address limit: 60 addresses */
#define NORMAL_CLIENTS 30

struct normal_call {
	const char *url;
	CURLcode rc;
	long status;
};

static void *
normal_thread(void *arg)
{
	struct normal_call *c = arg;
	CURL *h = curl_easy_init();

	c->rc = CURLE_FAILED_INIT;
	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	c->rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_cleanup(h);
	return NULL;
}

/*
 * Thousands of clients that never finish their head, from many addresses
 * (each under the per-address limit), more than the server's 1024
 * connections: new clients are still served, every one of them.
 */
static void
test_slow_clients(void **state)
{
	struct fixture *f = *state;
	struct normal_call calls[NORMAL_CLIENTS];
	pthread_t t[NORMAL_CLIENTS];
	struct http_server *s;
	struct rlimit rl;
	int *fds, i, failed = 0, first = -1;
	char src[32], *url;

	/* The slow clients' sockets and the server's share this process's descriptors. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < SLOW_CLIENTS + 2048)
		skip();
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < SLOW_CLIENTS + 2048) {
		rl.rlim_cur = SLOW_CLIENTS + 2048;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	s = start(f, "127.0.0.1:0", NULL, NULL);
	fds = calloc(SLOW_CLIENTS, sizeof(*fds));
	assert_non_null(fds);
	for (i = 0; i < SLOW_CLIENTS; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 2 + i / SLOW_PER_ADDR);
		fds[i] = raw_connect(src, http_server_port(s));
		raw_send(fds[i], "GET /buf HTTP/1.1\r\nHost: x\r\n");
	}
	url = fu_printf("http://127.0.0.1:%d/buf", http_server_port(s));
	for (i = 0; i < NORMAL_CLIENTS; i++) {
		calls[i].url = url;
		assert_int_equal(pthread_create(&t[i], NULL, normal_thread, &calls[i]), 0);
	}
	for (i = 0; i < NORMAL_CLIENTS; i++) {
		pthread_join(t[i], NULL);
		if (calls[i].rc != CURLE_OK || calls[i].status != 200) {
			failed++;
			first = first < 0 ? i : first;
		}
	}
	if (failed != 0)
		fail_msg("%d of %d requests failed beside %d slow clients (first: %s, status %ld)",
		         failed, NORMAL_CLIENTS, SLOW_CLIENTS, curl_easy_strerror(calls[first].rc),
		         calls[first].status);
	for (i = 0; i < SLOW_CLIENTS; i++)
		close(fds[i]);
	free(fds);
	free(url);
	http_server_stop(s);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_streamed_body, setup, teardown),
	cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
	cmocka_unit_test_setup_teardown(test_body_limits, setup, teardown),
	cmocka_unit_test_setup_teardown(test_graceful_stop, setup, teardown),
	cmocka_unit_test_setup_teardown(test_cert_reload, setup, teardown),
	cmocka_unit_test_setup_teardown(test_plain_buffer_and_headers, setup, teardown),
	cmocka_unit_test_setup_teardown(test_request_with_body, setup, teardown),
	cmocka_unit_test_setup_teardown(test_large_body_answered_early, setup, teardown),
	cmocka_unit_test_setup_teardown(test_plain_fd_response, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tls_verified_against_ca, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tls_aead_only, setup, teardown),
	cmocka_unit_test_setup_teardown(test_ipv6_listen, setup, teardown),
	cmocka_unit_test_setup_teardown(test_long_url_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_bad_listen, setup, teardown),
	cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
	cmocka_unit_test_setup_teardown(test_control_char_path_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_length_with_chunked_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_head_deadline, setup, teardown),
	cmocka_unit_test_setup_teardown(test_per_address_limit, setup, teardown),
	cmocka_unit_test_setup_teardown(test_slow_clients, setup, teardown),
};

BARGE_TEST_MAIN(tests)
