/*
 * profile: cluster profiles (apiVersion barge.dev/v1, kind ClusterProfile),
 * loaded from YAML and checked strictly.
 *
 * Every error names file:line:col and what was wrong there: an unknown key
 * (with the closest valid key suggested), a value of the wrong type, a bad
 * image reference (with its pack).  The keys DESIGN §5 plans but this
 * version does not implement yet (include, exclude, manifests, values) are
 * refused with "not supported yet" rather than silently ignored.
 *
 * Images listed in several packs are merged into one, keeping where they
 * first appeared.  The profile owns everything it points to.
 */
#ifndef BARGE_PROFILE_H
#define BARGE_PROFILE_H

#include <stddef.h>

#include "err.h"
#include "platform.h"
#include "ref.h"

#define PROFILE_NAME_MAX     128 /* metadata.name, metadata.version, pack names */
#define PROFILE_PLATFORM_MAX 64  /* spec.platforms entries */
#define PROFILE_IMAGES_MAX   100000

/* Where an image was first listed. */
struct profile_origin {
	int line;
	int col;
	char *pack;
};

struct profile_image {
	struct ref *ref;
	char *source; /* ref_string(ref): the normalised reference */
	struct profile_origin origin;
};

struct profile {
	char *file; /* the path it was loaded from, as given */
	char *name;
	char *version;
	char *project;              /* "edge" unless set */
	struct platform *platforms; /* normalised; [linux/amd64] unless set */
	size_t nplatforms;
	struct profile_image *images; /* in order of first appearance */
	size_t nimages;
	size_t npacks;
};

/* Loads and validates the profile at path.  Caller frees *out with profile_free. */
int profile_load(const char *path, struct profile **out, struct barge_err *err) BARGE_MUST_CHECK;
/* The same from a buffer; name stands for the file in messages. */
int profile_load_buf(const char *name, const char *buf, size_t len, struct profile **out,
                     struct barge_err *err) BARGE_MUST_CHECK;
void profile_free(struct profile *p);

/*
 * Of the NULL-terminated candidates, the one closest to word by edit
 * distance, or NULL when none is close enough to be a plausible typo.
 */
const char *profile_suggest(const char *word, const char *const *candidates);

#endif
