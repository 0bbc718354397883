#include "test_main.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "fixture.h"
#include "metrics.h"
#include "store.h"

static void
test_render_exact(void **state)
{
	struct barge_err err = { 0 };
	struct metrics_store st = { 3, 4096, 1, 2, 1 };
	struct metrics_process proc = { 8388608, 1.5, 12, 1024, 1700000000.25 };
	struct metrics *m = NULL;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(metrics_new("1.2.3", &m, &err), BARGE_OK);
	metrics_count(m, "manifest", "GET", 200, 100, 0.0003);
	/* On a bucket's bound: counted in it (le is "less than or equal"). */
	metrics_count(m, "blob", "HEAD", 200, 0, 0.001);
	metrics_count(m, "blob", "GET", 206, 10, 0.02);
	metrics_count(m, "blob", "GET", 200, 1000, 2);
	/* Past the last bound: only +Inf counts it. */
	metrics_count(m, "blob", "GET", 200, 24, 400);
	metrics_count(m, "manifest", "GET", 404, 70, 0.0003);
	metrics_import(m, "ok");
	metrics_import(m, "failed");
	metrics_import(m, "ok");
	metrics_import(m, "skipped");
	metrics_import(m, "no such result");
	metrics_load(m, "upload", 1);
	metrics_load(m, "upload", 0);
	metrics_load(m, "upload", 1);
	metrics_load(m, "cli", 1); /* not a source barged serve sees: not counted */
	metrics_webhook(m, "swapped", "present");
	metrics_webhook(m, "left", "nothing_to_swap");
	metrics_webhook(m, "swapped", "present");
	metrics_webhook(m, "error", "internal");
	metrics_set_store(m, &st);
	assert_int_equal(metrics_render(m, 2, &proc, &text, &len, &err), BARGE_OK);
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
	        "# HELP barged_http_request_duration_seconds Time from a request's head to its "
	        "last "
	        "byte sent, by route.\n"
	        "# TYPE barged_http_request_duration_seconds histogram\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.0005\"} 0\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.001\"} 1\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.0025\"} 1\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.005\"} 1\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.01\"} 1\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.025\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.05\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.1\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.25\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"0.5\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"1\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"2.5\"} 3\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"5\"} 3\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"10\"} 3\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"30\"} 3\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"60\"} 3\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"300\"} 3\n"
	        "barged_http_request_duration_seconds_bucket{route=\"blob\",le=\"+Inf\"} 4\n"
	        "barged_http_request_duration_seconds_sum{route=\"blob\"} 402.021\n"
	        "barged_http_request_duration_seconds_count{route=\"blob\"} 4\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.0005\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.001\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.0025\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.005\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.01\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.025\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.05\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.1\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.25\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"0.5\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"1\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"2.5\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"5\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"10\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"30\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"60\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"300\"} 2\n"
	        "barged_http_request_duration_seconds_bucket{route=\"manifest\",le=\"+Inf\"} 2\n"
	        "barged_http_request_duration_seconds_sum{route=\"manifest\"} 0.0006\n"
	        "barged_http_request_duration_seconds_count{route=\"manifest\"} 2\n"
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
	        "# HELP barged_store_tags Tags in the store, over every repository.\n"
	        "# TYPE barged_store_tags gauge\n"
	        "barged_store_tags 2\n"
	        "# HELP barged_store_repositories Repositories in the store.\n"
	        "# TYPE barged_store_repositories gauge\n"
	        "barged_store_repositories 1\n"
	        "# HELP barged_imports_total Bundles found in watched directories, by result.\n"
	        "# TYPE barged_imports_total counter\n"
	        "barged_imports_total{result=\"ok\"} 2\n"
	        "barged_imports_total{result=\"failed\"} 1\n"
	        "barged_imports_total{result=\"skipped\"} 1\n"
	        "# HELP barged_bundle_loads_total Bundles loaded by this barged serve, by source "
	        "(upload, import) and result; barged load runs in a process of its own and is not "
	        "counted.\n"
	        "# TYPE barged_bundle_loads_total counter\n"
	        "barged_bundle_loads_total{source=\"upload\",result=\"ok\"} 2\n"
	        "barged_bundle_loads_total{source=\"upload\",result=\"failed\"} 1\n"
	        "barged_bundle_loads_total{source=\"import\",result=\"ok\"} 2\n"
	        "barged_bundle_loads_total{source=\"import\",result=\"failed\"} 1\n"
	        "# HELP barged_webhook_reviews_total Admission reviews answered by the image-swap "
	        "webhook, by decision (swapped, left, error) and reason.\n"
	        "# TYPE barged_webhook_reviews_total counter\n"
	        "barged_webhook_reviews_total{decision=\"error\",reason=\"internal\"} 1\n"
	        "barged_webhook_reviews_total{decision=\"left\",reason=\"nothing_to_swap\"} 1\n"
	        "barged_webhook_reviews_total{decision=\"swapped\",reason=\"present\"} 2\n"
	        "# HELP barged_upstream_errors_total Failed requests to upstream registries and "
	        "peers of the pull-through cache.\n"
	        "# TYPE barged_upstream_errors_total counter\n"
	        "barged_upstream_errors_total 0\n"
	        "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
	        "seconds.\n"
	        "# TYPE process_cpu_seconds_total counter\n"
	        "process_cpu_seconds_total 1.50\n"
	        "# HELP process_open_fds Number of open file descriptors.\n"
	        "# TYPE process_open_fds gauge\n"
	        "process_open_fds 12\n"
	        "# HELP process_max_fds Maximum number of open file descriptors.\n"
	        "# TYPE process_max_fds gauge\n"
	        "process_max_fds 1024\n"
	        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
	        "# TYPE process_resident_memory_bytes gauge\n"
	        "process_resident_memory_bytes 8388608\n"
	        "# HELP process_start_time_seconds Start time of the process since unix epoch in "
	        "seconds.\n"
	        "# TYPE process_start_time_seconds gauge\n"
	        "process_start_time_seconds 1700000000.25\n");
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
		metrics_count(m, route, "GET", 200, 1, 0.01);
		metrics_webhook(m, "left", route);
	}
	assert_int_equal(metrics_render(m, -1, NULL, &text, &len, &err), BARGE_OK);
	assert_non_null(strstr(text, "barged_build_info{version=\"v\\\"1\\\\\\n\"} 1\n"));
	/* The series beyond the bound are summed under one "overflow" series. */
	assert_non_null(strstr(text, "{route=\"overflow\",method=\"\",status=\"0\"} 11\n"));
	assert_non_null(strstr(text, "{route=\"r0510\",method=\"GET\",status=\"200\"} 1\n"));
	assert_null(strstr(text, "r0511"));
	/* So are the histograms beyond theirs, and the webhook's pairs. */
	assert_non_null(strstr(text, "_count{route=\"r0030\"} 1\n"));
	assert_null(strstr(text, "_count{route=\"r0031\"}"));
	assert_non_null(strstr(text, "_count{route=\"overflow\"} 491\n"));
	assert_non_null(strstr(text, "{decision=\"left\",reason=\"r0030\"} 1\n"));
	assert_null(strstr(text, "reason=\"r0031\""));
	assert_non_null(strstr(text, "{decision=\"overflow\",reason=\"\"} 491\n"));
	assert_null(strstr(text, "in_flight"));
	assert_null(strstr(text, "process_"));
	free(text);
	metrics_free(m);
}

/* This process's figures, as /metrics shows them. */
static void
test_process_read(void **state)
{
	struct barge_err err = { 0 };
	struct metrics_process p;
	struct metrics *m = NULL;
	char *text = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	int fd;

	(void)state;
	assert_int_equal(metrics_process_read(&p, &err), BARGE_OK);
	assert_true(p.rss_bytes > 1024 * 1024);
	assert_true(p.cpu_seconds >= 0);
	assert_true(p.max_fds > 0);
	assert_true(p.start_seconds > (double)now - 3600 && p.start_seconds < (double)now + 2);
	/* One more open file is one more descriptor counted. */
	assert_true((fd = open("/dev/null", O_RDONLY)) >= 0);
	{
		struct metrics_process q;

		assert_int_equal(metrics_process_read(&q, &err), BARGE_OK);
		assert_int_equal(q.open_fds, p.open_fds + 1);
	}
	close(fd);
	assert_int_equal(metrics_new("1", &m, &err), BARGE_OK);
	assert_int_equal(metrics_render(m, -1, &p, &text, &len, &err), BARGE_OK);
	assert_non_null(strstr(text, "\nprocess_resident_memory_bytes "));
	assert_non_null(strstr(text, "\nprocess_open_fds "));
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
	assert_int_equal(st.tags, 2);
	assert_int_equal(st.repos, 1);
	assert_int_equal(st.uploads, 0);
	store_close(s);
	fx_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_render_exact),
	cmocka_unit_test(test_labels_escaped_and_bounded),
	cmocka_unit_test(test_process_read),
	cmocka_unit_test(test_store_scan),
};

BARGE_TEST_MAIN(tests)
