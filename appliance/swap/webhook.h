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
 *
 * Which references are swapped, and to what, the rules say (swaprule.h):
 * the first rule that applies to a reference gives its target and policy;
 * policy present swaps only what the store holds for the platforms the pod
 * may run on (swapheld.h).  A reference already on the advertised registry
 * or under a rule's replace prefix is left, so a reinvocation changes
 * nothing.  With skip_pull_secrets a pod with imagePullSecrets is left
 * alone: a registry that cannot pass its credentials on must not take its
 * private images.
 *
 * Every review ends in a decision the caller can count and log: swapped
 * (and why: found in the store, or policy always) or left unpatched (and
 * why), as struct webhook_result.
 */
#ifndef BARGE_WEBHOOK_H
#define BARGE_WEBHOOK_H

#include <stddef.h>

#include "err.h"

/* The largest AdmissionReview read (the API server's own request limit is 3 MiB). */
#define WEBHOOK_BODY_MAX (3 * 1024 * 1024)

struct store;
struct swaprule_set;

enum webhook_policy {
	WEBHOOK_PRESENT, /* swap only what the store holds (by digest, or by tag) */
	WEBHOOK_ALWAYS   /* swap every reference */
};

struct webhook_opts {
	const char *advertise;      /* "127.0.0.1:30003" */
	const char *project;        /* "edge" */
	enum webhook_policy policy; /* for the default rule, when rules is NULL */
	/* The rules (caller owns, shared read-only); NULL: the default rule with policy. */
	const struct swaprule_set *rules;
	int skip_pull_secrets; /* webhook.skip_pods_with_pull_secrets */
	int explain;           /* fill webhook_result.trace */
};

/* Why a review was patched or not: a small fixed vocabulary, for metrics. */
enum webhook_reason {
	WEBHOOK_SWAPPED_PRESENT, /* patched: references the store holds */
	WEBHOOK_SWAPPED_ALWAYS,  /* patched: every reference, policy always */
	WEBHOOK_NOTHING_TO_SWAP, /* a pod with nothing the policy swaps */
	WEBHOOK_OPTED_OUT,       /* labelled barge.dev/imageswap=disable */
	WEBHOOK_PULL_SECRETS,    /* imagePullSecrets, with skip_pull_secrets */
	WEBHOOK_PLATFORM_ABSENT, /* nothing swapped, the store lacks a pinned platform */
	WEBHOOK_NOT_POD,         /* another kind of object */
	WEBHOOK_NOT_MUTATED,     /* an operation or subresource that is not mutated */
	WEBHOOK_TOO_MANY_IMAGES, /* more than 1024 image references */
	WEBHOOK_TOO_LARGE,       /* a body over WEBHOOK_BODY_MAX */
	WEBHOOK_MALFORMED,       /* not a usable AdmissionReview v1 */
};

struct webhook_result {
	enum webhook_reason reason;
	size_t swapped; /* references swapped */
	/*
	 * For the log (caller frees): why the review was left unpatched, or
	 * which pod was patched and what its references became.
	 */
	char *note;
	/*
	 * With opts.explain (caller frees; else NULL): one line per reference
	 * and rule tried, saying what each rule made of it and what became of it.
	 */
	char *trace;
};

/* "present", "always", "nothing_to_swap", "opted_out", ... (the metrics label). */
const char *webhook_reason_name(enum webhook_reason r);
/* Whether r is a patch (WEBHOOK_SWAPPED_*). */
int webhook_reason_swapped(enum webhook_reason r);

/*
 * Answers one review.  s may be NULL only when no rule has policy present.  *resp
 * (caller frees) is the JSON response body; *res says what was decided
 * (res->note and res->trace: caller frees, also on failure).  Fails only on out-of-memory
 * or a store error; callers then answer 500 (failurePolicy Ignore admits
 * the pod).
 */
int webhook_review(const struct webhook_opts *o, struct store *s, const char *body, size_t len,
                   char **resp, size_t *resplen, struct webhook_result *res,
                   struct barge_err *err) BARGE_MUST_CHECK;

#endif
