#include "test_main.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "upstream.h"

/* A listening socket on 127.0.0.1 that nobody accepts from: connections hang. */
static int
listener(int *port)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_check_names_missing_module(void **state)
{
	struct barge_err err = { 0 };

	const char *real = getenv("BARGED_UPSTREAM_MODULE");
	char *saved = real != NULL ? strdup(real) : NULL;

	(void)state;
	assert_non_null(saved);
	setenv("BARGED_UPSTREAM_MODULE", "/nonexistent/barged-upstream.so", 1);
	assert_int_equal(upstream_check(&err), BARGE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/barged-upstream.so"));
	setenv("BARGED_UPSTREAM_MODULE", saved, 1);
	assert_int_equal(upstream_check(&err), BARGE_OK);
	free(saved);
}

static void
test_open_refuses_bad_url(void **state)
{
	const struct upstream_ops *ops;
	struct upstream_opts o = { .url = "ftp://example.net" };
	struct barge_err err = { 0 };
	struct upstream *u = NULL;

	(void)state;
	assert_non_null(ops = upstream_load(&err));
	assert_true(upstream_loaded());
	assert_int_equal(ops->abi, UPSTREAM_ABI);
	assert_int_equal(ops->open(&o, &u, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "ftp://example.net: not http:// or https://"));
}

/* An upstream that accepts and never answers: the deadline holds, as a timeout. */
static void
test_hung_upstream_deadline(void **state)
{
	const struct upstream_ops *ops;
	struct upstream_opts o = { 0 };
	struct upstream_resp resp;
	struct barge_err err = { 0 };
	struct upstream_body *b = NULL;
	struct upstream *u = NULL;
	char url[64];
	int64_t t0, took;
	int fd, port;

	(void)state;
	fd = listener(&port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	o.url = url;
	assert_non_null(ops = upstream_load(&err));
	assert_int_equal(ops->open(&o, &u, &err), BARGE_OK);
	t0 = now_ms();
	assert_int_equal(ops->request(u, "/v2/a/manifests/1", "a", NULL, 300, &resp, &b, &err),
	                 BARGE_ENET);
	took = now_ms() - t0;
	assert_int_equal(resp.fail, UPSTREAM_FAIL_TIMEOUT);
	assert_null(b);
	assert_true(took >= 250 && took < 1500);
	assert_non_null(strstr(err.msg, "no answer within 300 ms"));
	ops->close(u);
	close(fd);
}

/* Nothing listening: a connection error, at once. */
static void
test_refused_upstream(void **state)
{
	const struct upstream_ops *ops;
	struct upstream_opts o = { 0 };
	struct upstream_resp resp;
	struct barge_err err = { 0 };
	struct upstream *u = NULL;
	char url[64];
	int fd, port;

	(void)state;
	fd = listener(&port);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	o.url = url;
	assert_non_null(ops = upstream_load(&err));
	assert_int_equal(ops->open(&o, &u, &err), BARGE_OK);
	assert_int_equal(ops->request(u, "/v2/", "a", NULL, 2000, &resp, NULL, &err), BARGE_ENET);
	assert_int_equal(resp.fail, UPSTREAM_FAIL_CONNECT);
	ops->close(u);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_check_names_missing_module),
	cmocka_unit_test(test_open_refuses_bad_url),
	cmocka_unit_test(test_hung_upstream_deadline),
	cmocka_unit_test(test_refused_upstream),
};

BARGE_TEST_MAIN(tests)
