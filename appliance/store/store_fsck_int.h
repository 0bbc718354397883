/*
 * store_fsck_int.h: what the two halves of fsck share, private to them
 * (store_fsck.c: the checks of the rows and the repair; store_fsck_hash.c:
 * the walk that hashes every blob file and parses the manifest blobs).
 * struct fsck is store_fsck's, for one run.
 */
#ifndef BARGE_STORE_FSCK_INT_H
#define BARGE_STORE_FSCK_INT_H

#include <stdint.h>

#include "manifest.h"
#include "store_int.h"

/* A manifest row's blob as the hashing pass parsed it, sorted by key before the walk. */
struct mblob {
	struct dkey key;
	int64_t size;   /* the size a row records: parsed only when the file has it */
	uint16_t mt;    /* the row's media type, an index into fsck.mts; MT_NONE: not parsed */
	uint8_t state;  /* MB_UNSEEN, MB_PARSED, MB_BAD */
	uint8_t kind;   /* enum manifest_kind */
	uint32_t kid;   /* its children: fsck.kids[kid .. kid + nkids) */
	uint32_t nkids; /* subject first, then config, then layers or manifests */
	char *perr;     /* MB_BAD: why it does not parse */
};

enum { MB_UNSEEN, MB_PARSED, MB_BAD };

/* A manifest's descriptor, as fsck_manifest checks it. */
struct kid {
	struct dkey key;
	int64_t size;
	int64_t have;  /* KID_REF: its file's size, -1 when it has none */
	uint8_t flags; /* KID_* */
};

#define KID_SUBJECT 1 /* OCI 1.1 subject: may dangle */
#define KID_CONFIG  2
#define KID_FOREIGN 4 /* a non-distributable layer: never in a registry */
#define KID_REF     8 /* refs records it (fsck_refs_scan) */

/* Media types of manifest rows worth parsing during the walk; rows with others are read after. */
#define MT_MAX  16
#define MT_NONE 0xffff
/* More descriptors than this in all is not a store this code was built for (as SEEN_MAX). */
#define KIDS_MAX (64 * 1024 * 1024)

/*
 * The size of every blob file the walk saw, indexed once the walk ends, so
 * that the checks of manifests, refs and pushed blobs look sizes up
 * in memory rather than stat each file again (three more stats per blob).
 * A blob a load adds after the walk is not here: the lookup then stats it.
 */
struct seen_blob {
	struct dkey key;
	int64_t size;
};

/* More blob files than this is not a store this code was built for (as DSET_MAX). */
#define SEEN_MAX (64 * 1024 * 1024)

struct fsck {
	const struct store_fsck_opts *o;
	struct seen_blob *seen;
	size_t nseen, capseen;
	struct store_fsck_stats *st;
	struct dset corrupt; /* blob files whose bytes do not match their name */
	struct dset bad;     /* digests --repair drops with everything above them */
	struct dset absent;  /* children a manifest may name without the store holding them */
	char **files;        /* files --repair removes: corrupt blobs, strays */
	size_t nfiles;
	struct mblob *mb; /* one per manifest row before the walk */
	size_t nmb;
	struct dkidx mbx;   /* mb's index, the first row of each digest */
	struct dkidx seenx; /* seen's, once the walk ends */
	struct dset dangp;  /* fsck_refs_scan's references to a missing blob: parents */
	struct dset dangc;  /* and children */
	char *mts[MT_MAX];  /* the media types mblob.mt names */
	size_t nmts;
	struct kid *kids; /* the mblobs' children, and a row's read after the walk at the end */
	size_t nkids, capkids;
};

/* Reports one problem through the caller's on_problem and counts it. */
void fsck_problem(struct fsck *f, const char *subject, const char *fmt, ...) BARGE_PRINTF(3, 4);
/* Adds path to the files --repair removes. */
int fsck_doomed_file(struct fsck *f, const char *path, struct barge_err *err) BARGE_MUST_CHECK;
/* The mblob of a manifest row's digest, NULL when the hashing pass has none. */
struct mblob *fsck_mblob_find(const struct fsck *f, const struct dkey *key);
/* Appends m's descriptors to f->kids and records in mb where they are. */
int fsck_kids_of(struct fsck *f, const struct manifest *m, struct mblob *mb,
                 struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Walks DIR/blobs, hashing every blob file and parsing the blobs of the
 * manifest rows (f->mb, f->kids); fills f->seen, f->corrupt, f->bad and
 * f->files and reports in walk order.
 */
int fsck_blobs(struct store *s, struct fsck *f, struct barge_err *err) BARGE_MUST_CHECK;

#endif
