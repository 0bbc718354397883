/*
 * bench/webhook_driver.c: webhook_review in-process, without HTTP or TLS:
 * the cost of one review itself (JSON parsing, reference parsing, store
 * lookups, the patch).  Built and run by bench/webhook.sh.
 *
 *   webhook_driver DATA_DIR REVIEW.json N [present|always] [BARGED.yaml]
 *
 * With a barged.yaml, its webhook.rules are the rules (bench/webhook.sh
 * BENCH_RULES writes one).
 *
 * Prints "reviews N  per_s R  p50_us A  p99_us B  max_us C" and checks
 * every answer carries a patch, so a bench of a broken webhook says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "fileutil.h"
#include "store.h"
#include "swaprule.h"
#include "webhook.h"

static int
cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static unsigned long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	struct webhook_opts o = { .advertise = "127.0.0.1:30003",
		                  .project = "edge",
		                  .policy = WEBHOOK_PRESENT };
	struct barge_err err = { 0 };
	struct store *s = NULL;
	struct swaprule_set *rules = NULL;
	struct config c;
	unsigned long long *lat, t0, total = 0;
	struct webhook_result res;
	char *body = NULL, *resp;
	size_t len, resplen;
	long n, i;

	if (argc < 4 || (n = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: webhook_driver DATA_DIR REVIEW.json N [present|always] "
		                "[BARGED.yaml]\n");
		return 2;
	}
	if (argc > 4 && strcmp(argv[4], "always") == 0)
		o.policy = WEBHOOK_ALWAYS;
	if (argc > 5) {
		if (config_init(&c, &err) != BARGE_OK ||
		    config_load_file(&c, argv[5], &err) != BARGE_OK ||
		    swaprule_from_config(&c, &rules, &err) != BARGE_OK) {
			fprintf(stderr, "webhook_driver: %s\n", err.msg);
			return 1;
		}
		config_free(&c);
		o.rules = rules;
	}
	if (store_open(argv[1], &s, &err) != BARGE_OK ||
	    fu_read_file(argv[2], WEBHOOK_BODY_MAX, &body, &len, &err) != BARGE_OK) {
		fprintf(stderr, "webhook_driver: %s\n", err.msg);
		return 1;
	}
	if ((lat = calloc((size_t)n, sizeof(*lat))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		if (webhook_review(&o, s, body, len, &resp, &resplen, &res, &err) != BARGE_OK) {
			fprintf(stderr, "webhook_driver: %s\n", err.msg);
			return 1;
		}
		lat[i] = now_ns() - t0;
		total += lat[i];
		if (!webhook_reason_swapped(res.reason)) {
			fprintf(stderr, "webhook_driver: no patch: %s\n", res.note);
			return 1;
		}
		free(resp);
		free(res.note);
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("reviews %ld  per_s %.0f  p50_us %.1f  p99_us %.1f  max_us %.1f\n", n,
	       (double)n / ((double)total / 1e9), (double)lat[n / 2] / 1e3,
	       (double)lat[(size_t)((double)n * 0.99)] / 1e3, (double)lat[n - 1] / 1e3);
	free(lat);
	free(body);
	store_close(s);
	swaprule_free(rules);
	return 0;
}
