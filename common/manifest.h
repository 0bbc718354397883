/*
 * manifest: reading OCI and Docker schema2 image manifests and indexes.
 *
 * Parsing is for reading only: the bytes a manifest came in are what Barge
 * stores, hashes and serves, and nothing here re-serialises them.
 */
#ifndef BARGE_MANIFEST_H
#define BARGE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "platform.h"

/* Registries must accept manifests of at least 4 MiB; larger ones are refused. */
#define MANIFEST_MAX (4 * 1024 * 1024)
/* No real image has this many layers or an index this many entries. */
#define MANIFEST_DESC_MAX 4096

enum manifest_kind { MANIFEST_IMAGE, MANIFEST_INDEX };

struct manifest_desc {
	char *media_type;
	char *digest;
	int64_t size;
	int has_platform;
	struct platform platform; /* index entries only */
};

struct manifest {
	enum manifest_kind kind;
	char *media_type;            /* from the document, or the hint when it has none */
	struct manifest_desc config; /* images only */
	struct manifest_desc *descs; /* images: layers; indexes: manifests */
	size_t ndescs;
	int has_subject;              /* OCI 1.1 "subject": the manifest this one refers to */
	struct manifest_desc subject; /* valid when has_subject */
	char *artifact_type;          /* OCI 1.1 "artifactType", or NULL */
};

/*
 * Parses buf (len <= MANIFEST_MAX).  mt_hint is the Content-Type it was served
 * with, or NULL; a document's own mediaType wins when present, and the two
 * must not contradict each other.  Every descriptor is checked: valid digest,
 * size >= 0.  Caller frees *out with manifest_free.
 */
int manifest_parse(const void *buf, size_t len, const char *mt_hint, struct manifest **out,
                   struct barge_err *err) BARGE_MUST_CHECK;
void manifest_free(struct manifest *m);

/*
 * The index entry that best matches want, or NULL.  An exact variant match
 * wins over an entry without a variant.
 */
const struct manifest_desc *manifest_pick(const struct manifest *index,
                                          const struct platform *want);

#endif
