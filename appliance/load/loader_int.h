/*
 * loader_int.h: what loader.c and loadput.c share, private to
 * appliance/load: one load's state, and the rows of its metadata
 * transaction (loadput.c).  Nothing outside this folder includes it.
 */
#ifndef BARGE_LOADER_INT_H
#define BARGE_LOADER_INT_H

#include "bundle.h"
#include "bundle_meta.h"
#include "err.h"
#include "loadcommit.h"
#include "loader.h"
#include "loadtags.h"
#include "store.h"

struct lblob {
	const char *digest; /* points into the bundle_meta */
	int64_t size;
	int seen;
	int written; /* this load put it in the store */
};

struct load {
	struct store *s;
	const char *path;
	const struct loader_opts *opts;
	struct bundle_reader *r;
	struct bundle_meta *meta;
	struct lblob *blobs; /* barge.json's blobs, sorted by digest */
	size_t nblobs;
	unsigned char *buf;
	struct loader_result *res;
	struct loadcommit *c;  /* NULL until the first blob */
	struct loadtags moves; /* found in the metadata transaction */
};

/* The entry of barge.json's blob list for digest, or NULL: the bundle does not carry it. */
struct lblob *loader_blob_find(struct load *l, const char *digest);

/*
 * In the metadata transaction: records image im of the bundle (its
 * manifest, the children the bundle keeps, its references and its tags by
 * the tags policy) and pins it to bundle_id.  Every blob it names must be
 * stored already.
 */
int loadput_image(struct load *l, const struct bundle_image *im, int64_t bundle_id,
                  struct barge_err *err) BARGE_MUST_CHECK;
/*
 * In the metadata transaction: records referrer r (a signature, an SBOM):
 * its manifest and blobs like an image's, its reference to its subject
 * and its tags.
 */
int loadput_referrer(struct load *l, const struct bundle_referrer *r,
                     struct barge_err *err) BARGE_MUST_CHECK;

#endif
