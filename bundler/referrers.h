/*
 * referrers: finding the signatures, SBOMs and other artifacts that refer
 * to an image (issue #17), so that a bundle carries them beside it.
 *
 * For the image's digest and each manifest the lock keeps of an index, the
 * registry's referrers API (GET /v2/<name>/referrers/<digest>) is asked;
 * where it has none, the OCI 1.1 fallback tag "sha256-<hex>" (an index of
 * the referrers) is read instead, and the index itself is kept as an entry
 * tagged so (its bytes and digest upstream's) when every manifest it lists
 * is.  cosign's tags "sha256-<hex>.sig", ".att"
 * and ".sbom" are read too, as cosign stores its artifacts there without a
 * subject.  Every referrer's manifest is fetched by digest, so what the
 * lock pins is what the registry served; a referrer that is an index (a
 * multi-platform attestation) is pinned by its digest, which pins the
 * manifests it lists.  The referrers of the referrers found (a signature
 * on an SBOM) are found the same way, one level deep, with the referrer
 * as their subject.  A referrer's artifact type is referrers_artifact_type's.
 */
#ifndef BARGE_REFERRERS_H
#define BARGE_REFERRERS_H

#include "client.h"
#include "err.h"
#include "lock.h"
#include "manifest.h"

/* The cosign tags read beside the referrers API: "sha256-<hex>" + each. */
#define REFERRERS_COSIGN_SIG ".sig"

/*
 * The artifact type of referrer m: its artifactType (all an index has);
 * else its config's media type, unless that is a plain image config or the empty descriptor (as in
 * cosign's manifests), and then its first layer's media type
 * ("application/vnd.dev.cosign.simplesigning.v1+json" for a signature).
 */
const char *referrers_artifact_type(const struct manifest *m);

/*
 * Replaces im->referrers with those found for im through c, keeping only
 * l->referrer_types when l names any.  The errors are the registry's,
 * prefixed with the subject.
 */
int referrers_find(const struct lock *l, struct lock_image *im, struct client *c,
                   struct barge_err *err) BARGE_MUST_CHECK;

#endif
