#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "fixture.h"
#include "metrics.h"
#include "store.h"

static void
test_render_exact(void **state)
{
	struct barge_err err = { 0 };
	struct metrics_store st = { 3, 4096, 1, 2, 1 };
	struct metrics *m = NULL;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(metrics_new("1.2.3", &m, &err), BARGE_OK);
	metrics_count(m, "manifest", "GET", 200, 100);
	metrics_count(m, "blob", "HEAD", 200, 0);
	metrics_count(m, "blob", "GET", 206, 10);
	metrics_count(m, "blob", "GET", 200, 1000);
	metrics_count(m, "blob", "GET", 200, 24);
	metrics_count(m, "manifest", "GET", 404, 70);
	metrics_import(m, "ok");
	metrics_import(m, "failed");
	metrics_import(m, "ok");
	metrics_import(m, "no such result");
	metrics_set_store(m, &st);
	assert_int_equal(metrics_render(m, 2, &text, &len, &err), BARGE_OK);
	assert_int_equal(len, strlen(text));
	assert_string_equal(
	        text,
	        "# HELP barged_build_info The version of this barged.\n"
	        "# TYPE barged_build_info gauge\n"
	        "barged_build_info{version=\"1.2.3\"} 1\n"
	        "# HELP barged_http_requests_total HTTP requests answered, by route, method and "
	        "status.\n"
	        "# TYPE barged_http_requests_total counter\n"
	        "barged_http_requests_total{route=\"blob\",method=\"GET\",status=\"200\"} 2\n"
	        "barged_http_requests_total{route=\"blob\",method=\"GET\",status=\"206\"} 1\n"
	        "barged_http_requests_total{route=\"blob\",method=\"HEAD\",status=\"200\"} 1\n"
	        "barged_http_requests_total{route=\"manifest\",method=\"GET\",status=\"200\"} 1\n"
	        "barged_http_requests_total{route=\"manifest\",method=\"GET\",status=\"404\"} 1\n"
	        "# HELP barged_http_response_bytes_total Response body bytes sent, by route.\n"
	        "# TYPE barged_http_response_bytes_total counter\n"
	        "barged_http_response_bytes_total{route=\"blob\"} 1034\n"
	        "barged_http_response_bytes_total{route=\"manifest\"} 170\n"
	        "# HELP barged_http_requests_in_flight Requests being handled.\n"
	        "# TYPE barged_http_requests_in_flight gauge\n"
	        "barged_http_requests_in_flight 2\n"
	        "# HELP barged_uploads_active Open push upload sessions.\n"
	        "# TYPE barged_uploads_active gauge\n"
	        "barged_uploads_active 1\n"
	        "# HELP barged_store_blobs Blobs in the store.\n"
	        "# TYPE barged_store_blobs gauge\n"
	        "barged_store_blobs 3\n"
	        "# HELP barged_store_bytes Bytes of the blobs in the store.\n"
	        "# TYPE barged_store_bytes gauge\n"
	        "barged_store_bytes 4096\n"
	        "# HELP barged_store_images Tags in the store, over every repository.\n"
	        "# TYPE barged_store_images gauge\n"
	        "barged_store_images 2\n"
	        "# HELP barged_store_repositories Repositories in the store.\n"
	        "# TYPE barged_store_repositories gauge\n"
	        "barged_store_repositories 1\n"
	        "# HELP barged_imports_total Bundles found in watched directories, by result.\n"
	        "# TYPE barged_imports_total counter\n"
	        "barged_imports_total{result=\"ok\"} 2\n"
	        "barged_imports_total{result=\"failed\"} 1\n"
	        "barged_imports_total{result=\"skipped\"} 0\n");
	free(text);
	metrics_free(m);
}

static void
test_labels_escaped_and_bounded(void **state)
{
	struct barge_err err = { 0 };
	struct metrics *m = NULL;
	char *text = NULL, route[32];
	size_t len = 0;
	int i;

	(void)state;
	assert_int_equal(metrics_new("v\"1\\\n", &m, &err), BARGE_OK);
	for (i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		snprintf(route, sizeof(route), "r%04d", i);
		metrics_count(m, route, "GET", 200, 1);
	}
	assert_int_equal(metrics_render(m, -1, &text, &len, &err), BARGE_OK);
	assert_non_null(strstr(text, "barged_build_info{version=\"v\\\"1\\\\\\n\"} 1\n"));
	/* The series beyond the bound are summed under one "overflow" series. */
	assert_non_null(strstr(text, "{route=\"overflow\",method=\"\",status=\"0\"} 11\n"));
	assert_non_null(strstr(text, "{route=\"r0510\",method=\"GET\",status=\"200\"} 1\n"));
	assert_null(strstr(text, "r0511"));
	assert_null(strstr(text, "in_flight"));
	free(text);
	metrics_free(m);
}

static void
test_store_scan(void **state)
{
	struct barge_err err = { 0 };
	struct store_blob_writer *w = NULL;
	struct metrics_store st;
	struct store *s = NULL;
	char dir[FX_DIR_MAX], d1[DIGEST_STR_MAX], d2[DIGEST_STR_MAX];

	(void)state;
	fx_tmpdir(dir, "metrics");
	assert_int_equal(store_open(dir, &s, &err), BARGE_OK);
	assert_int_equal(metrics_store_scan(s, &st, &err), BARGE_OK);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(digest_buf(DIGEST_SHA256, "hello", 5, d1, &err), 0);
	assert_int_equal(digest_buf(DIGEST_SHA256, "{}", 2, d2, &err), 0);
	assert_int_equal(store_blob_begin(s, d1, 5, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "hello", 5, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
	assert_int_equal(store_blob_begin(s, d2, 2, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, "{}", 2, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
	assert_int_equal(store_begin(s, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(s, "edge/a", d2, "application/json", 2, &err),
	                 BARGE_OK);
	assert_int_equal(store_put_tag(s, "edge/a", "v1", d2, &err), BARGE_OK);
	assert_int_equal(store_put_tag(s, "edge/a", "v2", d2, &err), BARGE_OK);
	assert_int_equal(store_commit(s, &err), BARGE_OK);
	assert_int_equal(metrics_store_scan(s, &st, &err), BARGE_OK);
	assert_int_equal(st.blobs, 2);
	assert_int_equal(st.bytes, 7);
	assert_int_equal(st.images, 2);
	assert_int_equal(st.repos, 1);
	assert_int_equal(st.uploads, 0);
	store_close(s);
	fx_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_render_exact),
	cmocka_unit_test(test_labels_escaped_and_bounded),
	cmocka_unit_test(test_store_scan),
};

BARGE_TEST_MAIN(tests)
