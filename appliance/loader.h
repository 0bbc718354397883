/*
 * loader: puts a bundle (docs/bundle-format.md, DESIGN §7) into the store.
 *
 * The bundle is untrusted.  Every entry is checked against barge.json (listed,
 * same size, once) and every blob against its digest while it streams to the
 * store; blobs the store already holds are verified without being rewritten.
 * Only when every blob is in place and every image is complete (its
 * manifests, configs and layers all in the store) are the manifests,
 * references, tags and the bundle record written, in one transaction.  A
 * failed load leaves the metadata exactly as it was; blobs it already stored
 * are orphans for GC, never visible through a tag.
 */
#ifndef BARGE_LOADER_H
#define BARGE_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "store.h"

struct loader_result {
	char name[256]; /* the bundle's name and version (cut to fit, for messages) */
	char version[128];
	char digest[DIGEST_STR_MAX]; /* of barge.json, which names every blob of the bundle */
	int64_t bundle_id;
	size_t images;
	size_t blobs_new;     /* blobs written to the store */
	size_t blobs_present; /* blobs the store already held, verified and skipped */
	int64_t bytes;        /* blob bytes read from the bundle */
};

/* Loads the bundle at path into s.  res is filled on success. */
int loader_load(struct store *s, const char *path, struct loader_result *res,
                struct barge_err *err) BARGE_MUST_CHECK;

#endif
