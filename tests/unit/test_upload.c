#include "test_main.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "fixture.h"
#include "http_server.h"
#include "store.h"
#include "upload.h"

static void
test_parse_size(void **state)
{
	struct barge_err err = { 0 };
	uint64_t v = 0;

	(void)state;
	assert_int_equal(upload_parse_size("1", &v, &err), BARGE_OK);
	assert_int_equal(v, 1);
	assert_int_equal(upload_parse_size("1024", &v, &err), BARGE_OK);
	assert_int_equal(v, 1024);
	assert_int_equal(upload_parse_size("3K", &v, &err), BARGE_OK);
	assert_int_equal(v, 3 * 1024);
	assert_int_equal(upload_parse_size("512M", &v, &err), BARGE_OK);
	assert_int_equal(v, (uint64_t)512 << 20);
	assert_int_equal(upload_parse_size("2GiB", &v, &err), BARGE_OK);
	assert_int_equal(v, (uint64_t)2 << 30);
	assert_int_equal(upload_parse_size("1TB", &v, &err), BARGE_OK);
	assert_int_equal(v, UPLOAD_MAX_DEFAULT);
	/* 2^63-1 bytes at most: 8388607T fits, 8388608T does not. */
	assert_int_equal(upload_parse_size("8388607T", &v, &err), BARGE_OK);
	assert_int_equal(v, (uint64_t)8388607 << 40);
}

static void
test_parse_size_refused(void **state)
{
	static const char *const bad[] = { "",
		                           "0",
		                           "0K",
		                           "-1",
		                           "1.5G",
		                           "1X",
		                           "1KK",
		                           "K",
		                           " 1",
		                           "1 K",
		                           "1Ki",
		                           "8388608T",
		                           "99999999999999999999999" };
	struct barge_err err = { 0 };
	uint64_t v = 42;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&err);
		if (upload_parse_size(bad[i], &v, &err) != BARGE_EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(strstr(err.msg, "size") != NULL);
		assert_int_equal(v, 42);
	}
}

static void
test_status_mapping(void **state)
{
	struct barge_err err = { 0 };

	(void)state;
	assert_int_equal(upload_status(BARGE_OK, &err), 200);
	err_set(&err, BARGE_ELIMIT,
	        "request body: not enough free space in /x: the bundle needs 10 bytes");
	assert_int_equal(upload_status(BARGE_ELIMIT, &err), 507);
	err_sys(&err, BARGE_EIO, ENOSPC, "write blob");
	assert_int_equal(upload_status(BARGE_EIO, &err), 507);
	err_set(&err, BARGE_EDIGEST, "request body: blob sha256:ab: digest mismatch");
	assert_int_equal(upload_status(BARGE_EDIGEST, &err), 400);
	err_set(&err, BARGE_EFORMAT, "request body: corrupt zstd stream");
	assert_int_equal(upload_status(BARGE_EFORMAT, &err), 400);
	err_set(&err, BARGE_EAUTH, "request body: not signed by a trusted key");
	assert_int_equal(upload_status(BARGE_EAUTH, &err), 400);
	err_sys(&err, BARGE_EIO, EACCES, "open /var/lib/barge/barge.db");
	assert_int_equal(upload_status(BARGE_EIO, &err), 500);
	err_set(&err, BARGE_ENOMEM, "out of memory");
	assert_int_equal(upload_status(BARGE_ENOMEM, &err), 500);
}

/* --- through a real server -------------------------------------------------- */

struct fixture {
	char dir[FX_DIR_MAX];
	struct upload *u;
	struct http_server *srv;
	char url[128];
};

static void
handler(struct http_req *req, void *arg)
{
	upload_handle(arg, req);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct upload_opts uo = { 0 };
	struct http_server_opts o = { 0 };
	struct barge_err err = { 0 };

	assert_non_null(f);
	fx_tmpdir(f->dir, "upload");
	uo.data_dir = f->dir;
	uo.max_size = 4096;
	assert_int_equal(upload_new(&uo, &f->u, &err), BARGE_OK);
	o.listen = "127.0.0.1:0";
	o.threads = 2;
	o.handler = handler;
	o.arg = f->u;
	o.stop_wait_ms = 5000;
	if (http_server_start(&o, &f->srv, &err) != BARGE_OK)
		fail_msg("start: %s", err.msg);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/api/v1/bundles",
	         http_server_port(f->srv));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	http_server_stop(f->srv);
	upload_free(f->u);
	fx_rmtree(f->dir);
	free(f);
	curl_global_cleanup();
	return 0;
}

struct src {
	const char *p;
	size_t len, off;
};

static size_t
feed(char *buf, size_t size, size_t n, void *arg)
{
	struct src *s = arg;
	size_t k = s->len - s->off < size * n ? s->len - s->off : size * n;

	memcpy(buf, s->p + s->off, k);
	s->off += k;
	return k;
}

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	char *b = arg;
	size_t have = strlen(b), k = size * n;

	if (have + k >= 4096)
		k = 4095 - have;
	memcpy(b + have, data, k);
	b[have + k] = '\0';
	return size * n;
}

/* PUTs len bytes of body (chunked: without a length); returns the status, body in resp. */
static long
put(const struct fixture *f, const char *body, size_t len, int chunked, char *resp)
{
	struct curl_slist *hdrs = NULL;
	struct src s = { body, len, 0 };
	CURL *c = curl_easy_init();
	long status = 0;

	assert_non_null(c);
	resp[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, f->url);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, feed);
	curl_easy_setopt(c, CURLOPT_READDATA, &s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (chunked)
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
	else
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	/* A refused body may be cut short by the server: the status is what counts. */
	(void)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return status;
}

static int
count_bundle(const struct store_bundle *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

static int
nbundles(const struct fixture *f)
{
	struct barge_err err = { 0 };
	struct store *s = NULL;
	int n = 0;

	assert_int_equal(store_open(f->dir, &s, &err), BARGE_OK);
	assert_int_equal(store_list_bundles(s, count_bundle, &n, &err), BARGE_OK);
	store_close(s);
	return n;
}

static void
test_over_limit_413(void **state)
{
	struct fixture *f = *state;
	char *big = calloc(1, 8192), resp[4096];

	assert_non_null(big);
	/* Announced over the limit: refused before a byte is read. */
	assert_int_equal(put(f, big, 8192, 0, resp), 413);
	assert_non_null(strstr(resp, "larger than the upload limit (4096 bytes)"));
	/* Chunked, no length: refused when the body passes the limit. */
	assert_int_equal(put(f, big, 8192, 1, resp), 413);
	assert_non_null(strstr(resp, "\"status\": \"failed\""));
	assert_int_equal(nbundles(f), 0);
	free(big);
}

static void
test_not_a_bundle_400(void **state)
{
	struct fixture *f = *state;
	static const char junk[] = "this is not a zstd-compressed tar at all\n";
	char resp[4096];

	assert_int_equal(put(f, junk, sizeof(junk) - 1, 0, resp), 400);
	assert_non_null(strstr(resp, "request body: "));
	assert_non_null(strstr(resp, "\"kind\""));
	assert_int_equal(nbundles(f), 0);
	/* The upload slot is free again: the next one is answered, not 409. */
	assert_int_equal(put(f, junk, sizeof(junk) - 1, 1, resp), 400);
	/* Within the limit exactly: read, then refused as a bundle. */
	{
		char *edge = calloc(1, 4096);

		assert_non_null(edge);
		assert_int_equal(put(f, edge, 4096, 0, resp), 400);
		free(edge);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_parse_size),
	cmocka_unit_test(test_parse_size_refused),
	cmocka_unit_test(test_status_mapping),
	cmocka_unit_test_setup_teardown(test_over_limit_413, setup, teardown),
	cmocka_unit_test_setup_teardown(test_not_a_bundle_400, setup, teardown),
};

BARGE_TEST_MAIN(tests)
