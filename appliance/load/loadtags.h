/*
 * loadtags: the tags a bundle moves (load.tags, docs/loading.md).  A tag
 * of barge.json (an image's or a referrer's) that the store has on another
 * digest is a move; a scan
 * finds every one with the bundle that set it, and the loader applies its
 * policy (loader.h).  struct loadtags owns its list; the repository, tag
 * and new digest of each move point into the scanned bundle_meta.
 */
#ifndef BARGE_LOADTAGS_H
#define BARGE_LOADTAGS_H

#include <stddef.h>

#include "bundle_meta.h"
#include "err.h"
#include "loader.h"
#include "store.h"

struct loadtags {
	struct loader_tag_move *v;
	size_t n, cap;
};

/* Fills t (cleared first) with every tag of meta that s has on another digest. */
int loadtags_scan(struct store *s, const struct bundle_meta *meta, struct loadtags *t,
                  struct barge_err *err) BARGE_MUST_CHECK;
/* The move of tag of repo in t, or NULL when the tag does not move. */
struct loader_tag_move *loadtags_find(const struct loadtags *t, const char *repo, const char *tag);
/*
 * The refusal of LOADER_TAGS_REFUSE when t holds a move: names the first
 * tag, its digests and the bundle that set it, and how many more move.
 * BARGE_OK when t is empty.
 */
int loadtags_refuse(const struct loadtags *t, struct barge_err *err) BARGE_MUST_CHECK;
/* Releases t's list.  Accepts a zeroed t. */
void loadtags_clear(struct loadtags *t);

#endif
