/*
 * webhook: the image-swap mutating admission webhook (DESIGN §10).
 *
 * webhook_review takes an AdmissionReview (admission.k8s.io/v1) as sent by
 * the API server and produces the AdmissionReview response: same uid,
 * allowed, and for Pods a base64 JSONPatch that rewrites container,
 * initContainer, ephemeralContainer and image-volume references
 * H/P[:T][@D] to <advertise>/<project>/H/P[:T][@D] (host ":port" written
 * "_port").  It never refuses a pod: malformed, oversized or non-Pod reviews
 * get allowed=true without a patch, and *note says why (for the log).
 *
 * On UPDATE only references that differ from oldObject's (matched by
 * container or volume name) are swapped, since swapping an image a pod
 * already runs restarts its container; the pods/ephemeralcontainers
 * subresource swaps ephemeral containers only.  The annotation
 * barge.dev/original-images maps container name (or "volume/<name>") to
 * the original reference, merged with one already there.  A pod labelled
 * barge.dev/imageswap=disable is left alone even if the selectors let it
 * through, and so is one with more than 1024 image references (mutation
 * runs before validation; each reference costs a store lookup).
 */
#ifndef BARGE_WEBHOOK_H
#define BARGE_WEBHOOK_H

#include <stddef.h>

#include "err.h"

/* The largest AdmissionReview read (the API server's own request limit is 3 MiB). */
#define WEBHOOK_BODY_MAX (3 * 1024 * 1024)

struct store;

enum webhook_policy {
	WEBHOOK_PRESENT, /* swap only what the store holds (by digest, or by tag) */
	WEBHOOK_ALWAYS   /* swap every reference */
};

struct webhook_opts {
	const char *advertise; /* "127.0.0.1:30003" */
	const char *project;   /* "edge" */
	enum webhook_policy policy;
};

/*
 * Answers one review.  s may be NULL only with WEBHOOK_ALWAYS.  *resp
 * (caller frees) is the JSON response body; *note (caller frees, may be
 * NULL) says why nothing was patched.  Fails only on out-of-memory or a
 * store error; callers then answer 500 (failurePolicy Ignore admits the pod).
 */
int webhook_review(const struct webhook_opts *o, struct store *s, const char *body, size_t len,
                   char **resp, size_t *resplen, char **note,
                   struct barge_err *err) BARGE_MUST_CHECK;

#endif
