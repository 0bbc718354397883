/*
 * loadsrc: what `barged load` takes as a SOURCE, turned into the bundles to
 * read, in the order they load.
 *
 *   FILE.tar.zst                 one bundle
 *   FILE.tar.zst.part000         a split bundle: part000, part001, ... read as
 *                                one stream, up to the first missing number;
 *                                a later part after a gap is an error
 *   -                            one bundle on standard input
 *   IMAGE.iso, /dev/sr0, /dev/sdb  an ISO 9660 image (read without mounting):
 *                                every *.tar.zst and part set inside it
 *   DIR                          every *.tar.zst and part set in it
 *
 * From an image or a directory, full bundles load before deltas, and a delta
 * after the deltas whose blobs it requires (read from each barge.json).  A
 * bundle that cannot be found or ordered keeps its error in its item, so that
 * the others still load.
 */
#ifndef BARGE_LOADSRC_H
#define BARGE_LOADSRC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct bundle_reader;
struct bundle_source;

enum loadsrc_kind { LOADSRC_FILES, LOADSRC_STDIN, LOADSRC_ISO };

struct loadsrc_item {
	enum loadsrc_kind kind;
	char *label;  /* for messages: "d/x.tar.zst", "m.iso:x.tar.zst", "standard input" */
	char *image;  /* LOADSRC_ISO: the image or device */
	char **parts; /* files (or names in the image) read one after the other */
	size_t nparts;
	int64_t size; /* compressed bytes, -1 when unknown */
	char *error;  /* why this item can not load, NULL when it can */
};

struct loadsrc {
	struct loadsrc_item *items;
	size_t n;
};

/*
 * Expands one SOURCE argument and appends its bundles to ls (zeroed to
 * start).  Fails only when arg itself can not be read or holds no bundle.
 */
int loadsrc_add(struct loadsrc *ls, const char *arg, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * The item's bytes as a source (a bundle, or another tool's archive for
 * load_archive.h); its close releases it.
 */
int loadsrc_source(const struct loadsrc_item *it, struct bundle_source *out,
                   struct barge_err *err) BARGE_MUST_CHECK;
/* Opens a bundle reader over the item's bytes. */
int loadsrc_open(const struct loadsrc_item *it, struct bundle_reader **out,
                 struct barge_err *err) BARGE_MUST_CHECK;
void loadsrc_free(struct loadsrc *ls);

#endif
