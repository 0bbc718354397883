#include "test_main.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "fetch.h"
#include "fileutil.h"
#include "fixture.h"

/*
 * A small HTTP/1.1 server on 127.0.0.1 in a thread: one request per
 * connection, answered by the test's behaviour for the request number.  It
 * serves two blobs; the tests make it refuse, throttle, cut off or corrupt.
 */
enum behaviour {
	B_OK,
	B_429_THEN_OK, /* the first two requests: 429 with Retry-After: 1 */
	B_503_ALWAYS,
	B_CUT_THEN_RANGE, /* the first response stops halfway; Range is honoured after */
	B_CORRUPT,        /* one byte of the blob flipped */
	B_SILENT,         /* accept, read, never answer */
	B_BASIC,          /* Basic auth as alice:secret */
};

#define BLOB_SIZE (300 * 1000)

struct server {
	int lfd;
	int port;
	pthread_t th;
	enum behaviour b;
	int stop;
	int nreq;
	int nrange;           /* requests with a Range header */
	long long range_from; /* the last one's offset */
	char *blob[2];
	char digest[2][DIGEST_STR_MAX];
};

struct fx {
	struct server srv;
	char dir[FX_DIR_MAX];
	char cache[128];
	struct client *c;
	struct client_config cfg;
	struct ref *ref;
	struct fetch_req reqs[3];
};

static void
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = send(fd, p, len, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

static void
answer_status(int fd, const char *status, const char *extra)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n%s\r\n", status,
	                 extra);

	send_all(fd, head, (size_t)n);
}

static void
serve_one(struct server *s, int fd)
{
	char req[4096] = "", head[512];
	const char *blob = NULL, *rng, *auth;
	char *copy = NULL;
	long long from = 0;
	size_t got = 0;
	ssize_t r;
	int n, i, nreq;

	while (got < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
		r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
	}
	nreq = ++s->nreq;
	if ((rng = strcasestr(req, "\r\nRange: bytes=")) != NULL) {
		from = strtoll(rng + 15, NULL, 10);
		s->nrange++;
		s->range_from = from;
	}
	for (i = 0; i < 2; i++)
		if (strstr(req, s->digest[i]) != NULL)
			blob = s->blob[i];
	switch (s->b) {
	case B_429_THEN_OK:
		if (nreq <= 2) {
			answer_status(fd, "429 Too Many Requests", "Retry-After: 1\r\n");
			return;
		}
		break;
	case B_503_ALWAYS:
		answer_status(fd, "503 Service Unavailable", "");
		return;
	case B_SILENT:
		while (!s->stop && (recv(fd, req, sizeof(req), 0) > 0 || errno == EAGAIN))
			;
		return;
	case B_BASIC:
		/* alice:secret */
		auth = strcasestr(req, "\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n");
		if (auth == NULL) {
			answer_status(fd, "401 Unauthorized",
			              "WWW-Authenticate: Basic realm=\"test\"\r\n");
			return;
		}
		break;
	default:
		break;
	}
	if (blob == NULL) {
		answer_status(fd, "404 Not Found", "");
		return;
	}
	if (s->b == B_CORRUPT) {
		copy = malloc(BLOB_SIZE);
		memcpy(copy, blob, BLOB_SIZE);
		copy[1234] ^= 0x55;
		blob = copy;
	}
	if (from > 0 && s->b == B_CUT_THEN_RANGE)
		n = snprintf(head, sizeof(head),
		             "HTTP/1.1 206 Partial Content\r\nContent-Length: %lld\r\n"
		             "Content-Range: bytes %lld-%d/%d\r\nConnection: close\r\n\r\n",
		             BLOB_SIZE - from, from, BLOB_SIZE - 1, BLOB_SIZE);
	else
		n = snprintf(head, sizeof(head),
		             "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		             BLOB_SIZE);
	if (from > 0 && s->b != B_CUT_THEN_RANGE)
		from = 0;
	send_all(fd, head, (size_t)n);
	if (s->b == B_CUT_THEN_RANGE && nreq == 1)
		send_all(fd, blob, BLOB_SIZE / 2);
	else
		send_all(fd, blob + from, (size_t)(BLOB_SIZE - from));
	free(copy);
}

static void *
server_main(void *arg)
{
	struct server *s = arg;
	struct timeval tv = { 0, 200000 }, none = { 0, 0 };
	int fd;

	while (!s->stop) {
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		/* Blocking reads, but for the silent server, which must notice stop. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, s->b == B_SILENT ? &tv : &none, sizeof(tv));
		if (!s->stop)
			serve_one(s, fd);
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	return NULL;
}

static void
make_blob(struct server *s, int i, const char *seed)
{
	struct barge_err err;
	size_t k;

	s->blob[i] = malloc(BLOB_SIZE);
	assert_non_null(s->blob[i]);
	for (k = 0; k < BLOB_SIZE; k++)
		s->blob[i][k] = (char)(seed[k % strlen(seed)] + k / 7);
	assert_int_equal(digest_buf(DIGEST_SHA256, s->blob[i], BLOB_SIZE, s->digest[i], &err),
	                 BARGE_OK);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct timeval tv = { 0, 200000 };
	struct barge_err err;
	char name[64];

	assert_non_null(f);
	fx_tmpdir(f->dir, "fetch");
	snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
	make_blob(&f->srv, 0, "alpha");
	make_blob(&f->srv, 1, "bravo");
	f->srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->srv.lfd, 16), 0);
	assert_int_equal(getsockname(f->srv.lfd, (struct sockaddr *)&a, &alen), 0);
	/* accept wakes up now and then, so the thread sees stop. */
	setsockopt(f->srv.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	f->srv.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->srv.th, NULL, server_main, &f->srv), 0);
	snprintf(name, sizeof(name), "127.0.0.1:%d/library/x:1", f->srv.port);
	if (ref_parse(name, &f->ref, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	f->cfg.backoff_ms = 10;
	f->cfg.backoff_max_ms = 50;
	f->reqs[0].ref = f->reqs[1].ref = f->reqs[2].ref = f->ref;
	memcpy(f->reqs[0].digest, f->srv.digest[0], DIGEST_STR_MAX);
	memcpy(f->reqs[1].digest, f->srv.digest[1], DIGEST_STR_MAX);
	memcpy(f->reqs[2].digest, f->srv.digest[0], DIGEST_STR_MAX);
	f->reqs[0].size = f->reqs[1].size = f->reqs[2].size = BLOB_SIZE;
	/* No credentials but the ones a test writes. */
	setenv("DOCKER_CONFIG", f->dir, 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	f->srv.stop = 1;
	pthread_join(f->srv.th, NULL);
	close(f->srv.lfd);
	client_free(f->c);
	client_config_clear(&f->cfg);
	ref_free(f->ref);
	free(f->srv.blob[0]);
	free(f->srv.blob[1]);
	fx_rmtree(f->dir);
	unsetenv("DOCKER_CONFIG");
	free(f);
	return 0;
}

static int
run_opts(struct fx *f, size_t n, const struct fetch_opts *o, struct fetch_stats *st,
         struct barge_err *err)
{
	if (f->c == NULL && client_new(&f->cfg, &f->c, err) != BARGE_OK)
		fail_msg("client: %s", err->msg);
	return fetch_blobs(f->c, f->cache, f->reqs, n, o, st, err);
}

static int
run(struct fx *f, size_t n, struct fetch_stats *st, struct barge_err *err)
{
	struct fetch_opts o = { .jobs = 2 };

	return run_opts(f, n, &o, st, err);
}

/* The cached file of blob i has exactly the served bytes. */
static void
assert_cached(struct fx *f, int i)
{
	struct barge_err err;
	char *buf = NULL, *path = fetch_cache_path(f->cache, f->srv.digest[i]);
	size_t len;

	assert_int_equal(fu_read_file(path, BLOB_SIZE + 1, &buf, &len, &err), BARGE_OK);
	assert_int_equal(len, BLOB_SIZE);
	assert_memory_equal(buf, f->srv.blob[i], BLOB_SIZE);
	free(buf);
	free(path);
}

static int
tmp_is_empty(struct fx *f)
{
	char *cmd = fu_printf("test -z \"$(ls -A '%s/tmp')\"", f->cache);
	int rc = system(cmd);

	free(cmd);
	return rc == 0;
}

static void
test_fetch_and_dedupe(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;
	int fd = -1;

	if (run(f, 3, &st, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	/* Three requests, two distinct blobs: two downloads. */
	assert_int_equal(f->srv.nreq, 2);
	assert_int_equal(st.ndownloaded, 2);
	assert_int_equal(st.ncached, 0);
	assert_int_equal(st.bytes_downloaded, 2 * BLOB_SIZE);
	assert_cached(f, 0);
	assert_cached(f, 1);
	assert_true(tmp_is_empty(f));
	/* A second run finds both verified in the cache and asks nothing. */
	assert_int_equal(run(f, 3, &st, &err), BARGE_OK);
	assert_int_equal(f->srv.nreq, 2);
	assert_int_equal(st.ncached, 2);
	assert_int_equal(fetch_cache_open(f->cache, f->srv.digest[1], BLOB_SIZE, &fd, &err),
	                 BARGE_OK);
	close(fd);
}

static void
test_damaged_cache_entry(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;
	char *path;
	int fd = -1;
	FILE *fp;

	assert_int_equal(run(f, 2, &st, &err), BARGE_OK);
	path = fetch_cache_path(f->cache, f->srv.digest[0]);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	fseek(fp, 100, SEEK_SET);
	fputc('!', fp);
	fclose(fp);
	assert_int_equal(fetch_cache_open(f->cache, f->srv.digest[0], BLOB_SIZE, &fd, &err),
	                 BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, f->srv.digest[0]));
	/* The damaged entry is gone, and the next fetch brings it back. */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(fetch_cache_open(f->cache, f->srv.digest[0], BLOB_SIZE, &fd, &err),
	                 BARGE_ENOTFOUND);
	assert_int_equal(run(f, 2, &st, &err), BARGE_OK);
	assert_int_equal(st.ndownloaded, 1);
	assert_int_equal(st.ncached, 1);
	assert_cached(f, 0);
	free(path);
}

static void
test_retry_after_429(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;
	struct timespec t0, t1;

	f->srv.b = B_429_THEN_OK;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run(f, 1, &st, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(f->srv.nreq, 3);
	assert_int_equal(st.nretries, 2);
	/* Retry-After: 1, twice, wins over the 10 ms backoff. */
	assert_true(t1.tv_sec - t0.tv_sec >= 2 ||
	            (t1.tv_sec - t0.tv_sec == 1 && t1.tv_nsec >= t0.tv_nsec));
	assert_cached(f, 0);
}

static void
test_5xx_attempts_exhausted(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;

	f->srv.b = B_503_ALWAYS;
	f->cfg.max_attempts = 3;
	assert_int_equal(run(f, 1, &st, &err), BARGE_ENET);
	assert_int_equal(f->srv.nreq, 3);
	assert_non_null(strstr(err.msg, "HTTP 503"));
	assert_non_null(strstr(err.msg, f->srv.digest[0]));
}

static void
test_resume_with_range(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;

	f->srv.b = B_CUT_THEN_RANGE;
	if (run(f, 1, &st, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(f->srv.nreq, 2);
	assert_int_equal(f->srv.nrange, 1);
	assert_int_equal(f->srv.range_from, BLOB_SIZE / 2);
	/* Only the missing half came the second time. */
	assert_int_equal(st.bytes_downloaded, BLOB_SIZE);
	assert_int_equal(st.nretries, 1);
	assert_cached(f, 0);
	assert_true(tmp_is_empty(f));
}

/* A partial download left by an earlier build is hashed and resumed. */
static void
test_resume_across_runs(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;
	char *partial;
	const char *hex = strchr(f->srv.digest[0], ':') + 1;

	assert_int_equal(fetch_cache_init(f->cache, &err), BARGE_OK);
	partial = fu_printf("%s/tmp/sha256-%s.partial", f->cache, hex);
	assert_int_equal(fu_write_atomic(partial, f->srv.blob[0], 1000, 0644, &err), BARGE_OK);
	f->srv.b = B_CUT_THEN_RANGE;
	f->srv.nreq = 1; /* not the first request: no cut */
	if (run(f, 1, &st, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(f->srv.nrange, 1);
	assert_int_equal(f->srv.range_from, 1000);
	assert_int_equal(st.bytes_resumed, 1000);
	assert_int_equal(st.bytes_downloaded, BLOB_SIZE - 1000);
	assert_cached(f, 0);
	free(partial);
}

static void
test_digest_mismatch(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;
	char *path;

	f->srv.b = B_CORRUPT;
	assert_int_equal(run(f, 1, &st, &err), BARGE_EDIGEST);
	assert_non_null(strstr(err.msg, f->srv.digest[0]));
	assert_non_null(strstr(err.msg, "library/x"));
	/* Not retried, not cached, no partial left to resume. */
	assert_int_equal(f->srv.nreq, 1);
	path = fetch_cache_path(f->cache, f->srv.digest[0]);
	assert_int_equal(access(path, F_OK), -1);
	assert_true(tmp_is_empty(f));
	free(path);
}

static void
test_timeout(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;

	f->srv.b = B_SILENT;
	f->cfg.timeout_s = 1;
	f->cfg.max_attempts = 2;
	assert_int_equal(run(f, 1, &st, &err), BARGE_ENET);
	assert_non_null(strstr(err.msg, "timed out (no progress for 1 s)"));
	assert_non_null(strstr(err.msg, f->srv.digest[0]));
}

static void
write_config(struct fx *f, const char *text)
{
	struct barge_err err;
	char *path = fu_printf("%s/config.json", f->dir);

	assert_int_equal(fu_write_atomic(path, text, strlen(text), 0600, &err), BARGE_OK);
	free(path);
}

static void
test_basic_auth(void **state)
{
	struct fx *f = *state;
	struct fetch_stats st;
	struct barge_err err;
	char cfg[256];

	f->srv.b = B_BASIC;
	/* No credentials at all. */
	assert_int_equal(run(f, 1, &st, &err), BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "requires credentials for library/x"));
	client_free(f->c);
	f->c = NULL;
	/* Wrong ones (alice:wrong). */
	snprintf(cfg, sizeof(cfg), "{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"YWxpY2U6d3Jvbmc=\"}}}",
	         f->srv.port);
	write_config(f, cfg);
	assert_int_equal(run(f, 1, &st, &err), BARGE_EAUTH);
	snprintf(cfg, sizeof(cfg), "registry 127.0.0.1:%d refused the credentials for library/x",
	         f->srv.port);
	assert_non_null(strstr(err.msg, cfg));
	assert_null(strstr(err.msg, "wrong"));
	client_free(f->c);
	f->c = NULL;
	/* The right ones, as username and password. */
	snprintf(cfg, sizeof(cfg),
	         "{\"auths\":{\"http://127.0.0.1:%d/v1/\":{\"username\":\"alice\","
	         "\"password\":\"secret\"}}}",
	         f->srv.port);
	write_config(f, cfg);
	if (run(f, 2, &st, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_cached(f, 0);
	assert_cached(f, 1);
}

/* What the stop and progress callbacks of the tests below saw and decide. */
struct watch {
	int nstops;        /* stop calls so far */
	int stop_after;    /* stop calls answered BARGE_OK before stopping; -1: never */
	int got_bytes;     /* a progress report of a blob not finished yet came */
	int stop_on_bytes; /* stop once got_bytes */
	size_t finished[4];
	size_t nfinished;
};

static void
watch_progress(void *arg, const struct fetch_progress *p)
{
	struct watch *w = arg;

	if (!p->finished && p->blob_done > 0)
		w->got_bytes = 1;
	if (p->finished && w->nfinished < 4)
		w->finished[w->nfinished++] = p->index;
}

static int
watch_stop(void *arg)
{
	struct watch *w = arg;

	w->nstops++;
	if (w->stop_on_bytes && w->got_bytes)
		return BARGE_EEXIST;
	if (w->stop_after >= 0 && w->nstops > w->stop_after)
		return BARGE_EEXIST;
	return BARGE_OK;
}

/* A caller that gives up while every transfer waits out a backoff is heard at once. */
static void
test_stop_during_backoff(void **state)
{
	struct fx *f = *state;
	struct watch w = { .stop_after = 20 };
	struct fetch_opts o = {
		.jobs = 2, .progress = watch_progress, .stop = watch_stop, .progress_arg = &w
	};
	struct fetch_stats st;
	struct barge_err err;

	f->srv.b = B_503_ALWAYS;
	f->cfg.max_attempts = 1000;
	assert_int_equal(run_opts(f, 1, &o, &st, &err), BARGE_EEXIST);
	assert_non_null(strstr(err.msg, "downloads stopped"));
	assert_int_equal(w.nstops, 21);
	/* Each loop turn asks once: far fewer requests than the attempts allowed. */
	assert_true(f->srv.nreq >= 1 && f->srv.nreq <= 21);
}

/* A stop in the middle of a body leaves the partial download to resume. */
static void
test_stop_mid_blob(void **state)
{
	struct fx *f = *state;
	struct watch w = { .stop_after = -1, .stop_on_bytes = 1 };
	struct fetch_opts o = {
		.jobs = 1, .progress = watch_progress, .stop = watch_stop, .progress_arg = &w
	};
	struct fetch_stats st;
	struct barge_err err;
	char *path = fetch_cache_path(f->cache, f->srv.digest[0]);
	char *partial =
	        fu_printf("%s/tmp/sha256-%s.partial", f->cache, strchr(f->srv.digest[0], ':') + 1);
	struct stat sb;

	assert_int_equal(run_opts(f, 1, &o, &st, &err), BARGE_EEXIST);
	assert_non_null(strstr(err.msg, "downloads stopped"));
	assert_non_null(strstr(err.msg, f->srv.digest[0]));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(stat(partial, &sb), 0);
	assert_true(sb.st_size > 0 && sb.st_size < BLOB_SIZE);
	/* Without the stop, the next run resumes it and finishes. */
	o.stop = NULL;
	if (run_opts(f, 1, &o, &st, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_cached(f, 0);
	free(partial);
	free(path);
}

/* Downloads start in request order, so one transfer at a time finishes them in it. */
static void
test_request_order(void **state)
{
	struct fx *f = *state;
	struct watch w = { .stop_after = -1 };
	struct fetch_opts o = { .jobs = 1, .progress = watch_progress, .progress_arg = &w };
	struct fetch_stats st;
	struct barge_err err;

	memcpy(f->reqs[0].digest, f->srv.digest[1], DIGEST_STR_MAX);
	memcpy(f->reqs[1].digest, f->srv.digest[0], DIGEST_STR_MAX);
	if (run_opts(f, 2, &o, &st, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(w.nfinished, 2);
	assert_int_equal(w.finished[0], 0);
	assert_int_equal(w.finished[1], 1);
	assert_cached(f, 0);
	assert_cached(f, 1);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_fetch_and_dedupe, setup, teardown),
	cmocka_unit_test_setup_teardown(test_damaged_cache_entry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_retry_after_429, setup, teardown),
	cmocka_unit_test_setup_teardown(test_5xx_attempts_exhausted, setup, teardown),
	cmocka_unit_test_setup_teardown(test_resume_with_range, setup, teardown),
	cmocka_unit_test_setup_teardown(test_resume_across_runs, setup, teardown),
	cmocka_unit_test_setup_teardown(test_digest_mismatch, setup, teardown),
	cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	cmocka_unit_test_setup_teardown(test_basic_auth, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stop_during_backoff, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stop_mid_blob, setup, teardown),
	cmocka_unit_test_setup_teardown(test_request_order, setup, teardown),
};

BARGE_TEST_MAIN(tests)
