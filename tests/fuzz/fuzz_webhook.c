/*
 * fuzz_webhook: AdmissionReview bodies (appliance/swap/webhook.h), which
 * the Kubernetes API server posts to barged for every pod.
 *
 * The input is the body, up to WEBHOOK_BODY_MAX bytes as the server reads
 * it, reviewed under both policies: "always", and "present" against an
 * empty store in a scratch directory, so that every reference is looked
 * up.  Whatever the body, the answer must be a JSON document.
 */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "store.h"
#include "webhook.h"

static struct store *store;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct barge_err err = { 0 };

	if (store_open(fuzz_tmpdir(), &store, &err) != BARGE_OK)
		abort();
	return 0;
}

static void
review(enum webhook_policy policy, const uint8_t *data, size_t size)
{
	struct webhook_opts o = { .advertise = "127.0.0.1:30003",
		                  .project = "edge",
		                  .policy = policy };
	struct barge_err err = { 0 };
	struct webhook_result res;
	char *resp = NULL;
	size_t resplen;
	json_t *j;

	if (webhook_review(&o, store, (const char *)data, size, &resp, &resplen, &res, &err) !=
	    BARGE_OK)
		abort();
	if ((j = json_loadb(resp, resplen, 0, NULL)) == NULL)
		abort();
	json_decref(j);
	free(resp);
	free(res.note);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > WEBHOOK_BODY_MAX)
		return 0;
	review(WEBHOOK_ALWAYS, data, size);
	review(WEBHOOK_PRESENT, data, size);
	return 0;
}
