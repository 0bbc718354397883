/*
 * build_verify: barge build --verify-signatures (build_int.h).  Before
 * anything is written, each image must have a cosign signature that
 * verifies with the key (cosign.h): a layer of a referrer found under the
 * image's "sha256-<hex>.sig" tag whose subject is the image's top-level
 * digest.  Owns nothing past a call; the signature manifests are the
 * plan's, the payloads are fetched and freed here.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "build_int.h"
#include "cosign.h"
#include "referrers.h"

/* Whether r is a cosign signature of digest: found under "sha256-<hex>.sig". */
static int
is_signature(const struct lock_referrer *r, const char *digest)
{
	size_t n, k = strlen(REFERRERS_COSIGN_SIG);

	if (r->tag == NULL || strcmp(r->subject, digest) != 0)
		return 0;
	n = strlen(r->tag);
	return n > k && strcmp(r->tag + n - k, REFERRERS_COSIGN_SIG) == 0;
}

/* Whether a layer of signature manifest buf verifies for image im; why in err when not. */
static int
check_manifest(struct bctx *b, const struct lock_image *im, const struct blob *sig,
               struct barge_err *err)
{
	json_t *doc, *layers, *layer, *dg, *s;
	char *payload = NULL;
	size_t i, len;
	int rc = err_set(err, BARGE_EAUTH, "signature %s holds no signed layer", sig->digest);

	if ((doc = json_loadb(sig->mem, (size_t)sig->size, 0, NULL)) == NULL ||
	    !json_is_array(layers = json_object_get(doc, "layers"))) {
		json_decref(doc);
		return err_set(err, BARGE_EFORMAT, "signature %s: not a manifest", sig->digest);
	}
	json_array_foreach(layers, i, layer)
	{
		dg = json_object_get(layer, "digest");
		s = json_object_get(json_object_get(layer, "annotations"), COSIGN_ANNOTATION);
		if (!json_is_string(dg) || !json_is_string(s))
			continue;
		if ((rc = client_get_small_blob(b->c, im->ref, json_string_value(dg),
		                                COSIGN_PAYLOAD_MAX, &payload, &len, err)) ==
		            BARGE_OK &&
		    (rc = cosign_verify(b->o->verify_key, payload, len, json_string_value(s),
		                        im->digest, err)) == BARGE_OK)
			break;
		free(payload);
		payload = NULL;
		/* A registry that cannot be reached says nothing about the signature. */
		if (rc == BARGE_ENET || rc == BARGE_ENOMEM)
			break;
	}
	free(payload);
	json_decref(doc);
	return rc;
}

int
verify_signatures(struct bctx *b)
{
	const struct lock_image *im;
	struct barge_err why;
	json_t *at;
	size_t i, k;
	int rc, found;

	for (i = 0; i < b->l->nimages; i++) {
		im = &b->l->images[i];
		build_note(b, "verifying the signature of %s", im->source);
		rc = BARGE_EAUTH;
		found = 0;
		err_set(&why, BARGE_EAUTH, "no cosign signature (sha256-<hex>.sig) was found");
		for (k = 0; k < im->nreferrers && rc != BARGE_OK; k++) {
			if (!is_signature(&im->referrers[k], im->digest) ||
			    (at = json_object_get(b->pl.bydigest, im->referrers[k].digest)) == NULL)
				continue;
			found = 1;
			rc = check_manifest(b, im, &b->pl.blobs[json_integer_value(at)], &why);
			if (rc == BARGE_ENET || rc == BARGE_ENOMEM)
				break;
		}
		if (rc != BARGE_OK)
			return err_set(b->err,
			               rc == BARGE_ENET || rc == BARGE_ENOMEM ? rc : BARGE_EAUTH,
			               "%s (%s): no valid signature%s: %s", im->source, im->digest,
			               found ? "" : " to check", why.msg);
	}
	return BARGE_OK;
}
