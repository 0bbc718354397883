/*
 * cmd_webhook: "barged webhook test", the webhook without a cluster.  Reads
 * Pods, workloads (their pod templates) or AdmissionReviews from a file or
 * stdin, reviews each as the API server would have it reviewed, under the
 * rules of barged.yaml and against the store, and prints what the webhook
 * would do with each reference, rule by rule.  Owns the documents it read.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "config.h"
#include "fileutil.h"
#include "log.h"
#include "store.h"
#include "swaprule.h"
#include "webhook.h"
#include "yjson.h"

static void
webhook_usage(FILE *f)
{
	fprintf(f, "usage: barged webhook test [--config FILE] [--no-store] [FILE|-]\n"
	           "  Prints what the image-swap webhook would do with the Pods, workloads\n"
	           "  (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) or\n"
	           "  AdmissionReviews in FILE (YAML or JSON; - or none: stdin), rule by rule.\n"
	           "  --no-store  do not open the store (rules with policy present then fail)\n");
}

/* The pod template of a workload (metadata and spec), or NULL. */
static const json_t *
pod_template(const json_t *doc, const char *kind)
{
	static const char *const workloads[] = { "Deployment", "StatefulSet",
		                                 "DaemonSet",  "ReplicaSet",
		                                 "Job",        "ReplicationController" };
	const json_t *spec = json_object_get(doc, "spec");
	size_t i;

	/* A CronJob's pods are its jobs' pods. */
	if (strcmp(kind, "CronJob") == 0)
		return json_object_get(
		        json_object_get(json_object_get(spec, "jobTemplate"), "spec"), "template");
	for (i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (strcmp(kind, workloads[i]) == 0)
			return json_object_get(spec, "template");
	return NULL;
}

/* The AdmissionReview the API server would send for doc, or NULL (not a pod or workload). */
static json_t *
as_review(const json_t *doc, const char *kind)
{
	const json_t *meta = json_object_get(doc, "metadata"), *tpl;
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	json_t *pod;

	if (strcmp(kind, "AdmissionReview") == 0)
		return json_incref((json_t *)doc);
	if (strcmp(kind, "Pod") == 0) {
		pod = json_deep_copy(doc);
	} else {
		if ((tpl = pod_template(doc, kind)) == NULL)
			return NULL;
		pod = json_pack("{s:s, s:s, s:O?, s:O?}", "apiVersion", "v1", "kind", "Pod",
		                "metadata", json_object_get(tpl, "metadata"), "spec",
		                json_object_get(tpl, "spec"));
		if (pod != NULL && !json_is_object(json_object_get(pod, "metadata")))
			json_object_set_new(pod, "metadata", json_object());
		/* Controllers name their pods after the workload. */
		if (pod != NULL && name != NULL)
			json_object_set_new(json_object_get(pod, "metadata"), "generateName",
			                    json_sprintf("%s-", name));
	}
	if (pod == NULL)
		return NULL;
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:o}}", "apiVersion",
	                 "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid",
	                 "barged-webhook-test", "kind", "group", "", "version", "v1", "kind", "Pod",
	                 "namespace", ns != NULL ? ns : "default", "operation", "CREATE", "object",
	                 pod);
}

/* Reviews document i and prints the outcome. */
static int
test_doc(const struct webhook_opts *o, struct store *s, const json_t *doc, size_t i)
{
	struct webhook_result res = { 0 };
	struct barge_err err = { 0 };
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	const char *name =
	        json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"));
	json_t *rv;
	char *body, *resp = NULL;
	size_t resplen;
	int rc;

	if (kind == NULL || (rv = as_review(doc, kind)) == NULL) {
		printf("document %zu: %s %s: not a Pod, workload or AdmissionReview; skipped\n", i,
		       kind != NULL ? kind : "(no kind)", name != NULL ? name : "");
		return EXIT_SUCCESS;
	}
	body = json_dumps(rv, JSON_COMPACT);
	json_decref(rv);
	if (body == NULL) {
		log_error("barged webhook test: out of memory");
		return EXIT_FAILURE;
	}
	printf("document %zu: %s %s\n", i, kind, name != NULL ? name : "");
	rc = webhook_review(o, s, body, strlen(body), &resp, &resplen, &res, &err);
	free(body);
	if (rc != BARGE_OK) {
		log_error("barged webhook test: document %zu: %s", i, err.msg);
		free(res.note);
		free(res.trace);
		return EXIT_FAILURE;
	}
	if (res.trace != NULL)
		fputs(res.trace, stdout);
	printf("  => %s (%s): %s\n", webhook_reason_swapped(res.reason) ? "patched" : "not patched",
	       webhook_reason_name(res.reason), res.note);
	free(res.note);
	free(res.trace);
	free(resp);
	return EXIT_SUCCESS;
}

/* Reads path ("-": stdin) as YAML documents. */
static int
read_docs(const char *path, struct yjson **y, struct barge_err *err)
{
	char *buf = NULL;
	size_t len = 0, n;
	int rc;

	if (strcmp(path, "-") != 0)
		return yjson_load_file(path, y, err);
	if ((buf = malloc(WEBHOOK_BODY_MAX + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	while ((n = fread(buf + len, 1, WEBHOOK_BODY_MAX + 1 - len, stdin)) > 0 &&
	       len + n <= WEBHOOK_BODY_MAX)
		len += n;
	if (len + n > WEBHOOK_BODY_MAX)
		rc = err_set(err, BARGE_ELIMIT, "stdin: larger than %d bytes", WEBHOOK_BODY_MAX);
	else
		rc = yjson_load_buf("stdin", buf, len, y, err);
	free(buf);
	return rc;
}

int
cmd_webhook(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "no-store", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct webhook_opts o = { .explain = 1 };
	struct barge_err err = { 0 };
	struct config c = { 0 };
	struct swaprule_set *rules = NULL;
	struct store *s = NULL;
	struct yjson *y = NULL;
	const char *cfg = NULL, *path = "-";
	struct stat st;
	char *db = NULL;
	int ch, nostore = 0, rc = EXIT_FAILURE;
	size_t i;

	if (argc < 2 || strcmp(argv[1], "test") != 0) {
		webhook_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? EXIT_SUCCESS : EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfg = optarg;
			break;
		case 'n':
			nostore = 1;
			break;
		case 'h':
			webhook_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged webhook test: bad option '%s'", argv[optind - 1]);
			webhook_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		log_error("barged webhook test: unexpected argument '%s'", argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (optind < argc)
		path = argv[optind];
	if (cmd_config_load("webhook test", cfg, &c) != EXIT_SUCCESS)
		return EXIT_FAILURE;
	if (config_check(&c, &err) != BARGE_OK ||
	    swaprule_from_config(&c, &rules, &err) != BARGE_OK) {
		log_error("barged webhook test: %s", err.msg);
		goto out;
	}
	o.advertise = c.webhook.advertise;
	o.project = c.project;
	o.policy = c.webhook.policy == CONFIG_POLICY_ALWAYS ? WEBHOOK_ALWAYS : WEBHOOK_PRESENT;
	o.rules = rules;
	o.skip_pull_secrets = c.webhook.skip_pods_with_pull_secrets;
	/* Only a store that exists: a test must not create one. */
	if (!nostore && (db = fu_printf("%s/barge.db", c.data_dir)) != NULL && stat(db, &st) == 0 &&
	    store_open(c.data_dir, &s, &err) != BARGE_OK) {
		log_error("barged webhook test: %s", err.msg);
		goto out;
	}
	if (s == NULL && !nostore)
		printf("no store at %s: rules with policy present cannot be checked\n", c.data_dir);
	if (read_docs(path, &y, &err) != BARGE_OK) {
		log_error("barged webhook test: %s", err.msg);
		goto out;
	}
	rc = EXIT_SUCCESS;
	for (i = 0; i < yjson_ndocs(y) && rc == EXIT_SUCCESS; i++)
		if (!json_is_null(yjson_doc(y, i)))
			rc = test_doc(&o, s, yjson_doc(y, i), i);
out:
	yjson_free(y);
	store_close(s);
	swaprule_free(rules);
	free(db);
	config_free(&c);
	return rc;
}
