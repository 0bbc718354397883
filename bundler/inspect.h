/*
 * inspect: reading a bundle back, to describe it (barge inspect) or to
 * check it (barge verify).
 *
 * The bundle is streamed once: barge.json is parsed and validated
 * (bundle_meta.h), barge.json.sig is read (and checked against trusted keys
 * when some are given), manifests are parsed to learn which blobs each
 * image uses, and in verify mode every blob entry is hashed as it streams
 * and compared with barge.json: listed, the right size, the right digest,
 * once, and none missing.  Nothing but manifests is held in memory.
 */
#ifndef BARGE_INSPECT_H
#define BARGE_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "bundle_meta.h"
#include "digest.h"
#include "err.h"
#include "sign.h"

struct inspect_opts {
	int verify;                      /* hash every blob and check it against barge.json */
	struct sign_key *const *trusted; /* check the signature against these (verify only) */
	size_t ntrusted;
	int require_signature; /* fail when the bundle is unsigned */
};

struct inspect_result {
	struct bundle_meta *meta; /* barge.json, parsed */
	char meta_digest[DIGEST_STR_MAX];
	int is_signed;
	char keyid[DIGEST_STR_MAX]; /* the signing key's id, "" when unsigned */
	int signature_checked;      /* a trusted key verified it */
	size_t nentries;            /* blob entries in the bundle */
	int64_t blob_bytes;         /* the sum of their sizes */
	int64_t required_bytes;     /* delta: the sum of the sizes of the required blobs */
	int64_t shared_bytes;       /* bytes that images sharing blobs did not need twice */
	int64_t file_bytes;         /* the bundle file's size */
};

/* Reads path.  Caller frees *out with inspect_result_free. */
int inspect_bundle(const char *path, const struct inspect_opts *opts, struct inspect_result **out,
                   struct barge_err *err) BARGE_MUST_CHECK;
void inspect_result_free(struct inspect_result *r);

#endif
