/*
 * profile: cluster profiles (apiVersion barge.dev/v1, kind ClusterProfile),
 * loaded from YAML and checked strictly (docs/profiles.md is the reference).
 *
 * A profile lists packs; a pack names images directly (images), through
 * rendered Kubernetes manifests (manifests: every pod spec's containers,
 * initContainers, ephemeralContainers and image volumes) and through Helm
 * values files (values: `image:` strings and {registry, repository, tag,
 * digest} maps).  spec.include layers other profiles under this one (paths
 * relative to the including file, depth-first, a file reached twice is read
 * once, a cycle is an error naming the chain).  spec.exclude drops images
 * whose normalised reference matches a glob.
 *
 * Every error names file:line:col and what was wrong there: an unknown key
 * (with the closest valid key suggested), a value of the wrong type, a bad
 * image reference (with its pack).  Images named several times are merged
 * into one that keeps every place it came from.  The profile owns everything
 * it points to.
 */
#ifndef BARGE_PROFILE_H
#define BARGE_PROFILE_H

#include <stddef.h>

#include "digest.h"
#include "err.h"
#include "platform.h"
#include "ref.h"

#define PROFILE_NAME_MAX      128 /* metadata.name, metadata.version, pack names */
#define PROFILE_PLATFORM_MAX  64  /* spec.platforms entries */
#define PROFILE_IMAGES_MAX    100000
#define PROFILE_FILES_MAX     1000 /* profiles, manifests and values files read */
#define PROFILE_INCLUDE_DEPTH 32
#define PROFILE_EXCLUDE_MAX   1000
#define PROFILE_ORIGINS_MAX   1000 /* places kept per image */
#define PROFILE_REFTYPES_MAX  64   /* spec.referrer_types entries */

/* Where an image was listed: file:line:col, in pack. */
struct profile_origin {
	int line;
	int col;
	char *pack;
	char *file; /* the profile, manifest or values file, as reached from the command line */
};

struct profile_image {
	struct ref *ref;
	char *source; /* ref_string(ref): the normalised reference */
	/*
	 * NULL for an image pulled from its registry; else where it is read
	 * instead (localsrc.h): "oci-archive:PATH" or "oci:DIR", PATH relative
	 * to the profile's directory joined to it, as files are named here.
	 */
	char *from;
	/* The first place it was listed; its strings belong to origins[0]. */
	struct profile_origin origin;
	struct profile_origin *origins; /* every place, in the order they were read */
	size_t norigins;
};

/* A file that was read to make the profile, with the sha256 of its bytes. */
struct profile_file {
	char *path;
	char sha256[DIGEST_STR_MAX];
};

struct profile {
	char *file; /* the path it was loaded from, as given (the first, for several) */
	char *name;
	char *version;
	char *project;              /* "edge" unless set */
	struct platform *platforms; /* normalised; [linux/amd64] unless set */
	size_t nplatforms;
	struct profile_image *images; /* in order of first appearance, excluded ones dropped */
	size_t nimages;
	size_t npacks;
	struct profile_file *files; /* every file read, in the order read */
	size_t nfiles;
	size_t nexcluded; /* images spec.exclude dropped */
	/* spec.referrers: false, spec.referrer_types (profile_refs.c) */
	int no_referrers;
	char **referrer_types;
	size_t nreferrer_types;
};

/* Loads and validates the profile at path.  Caller frees *out with profile_free. */
int profile_load(const char *path, struct profile **out, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Several profiles merged into one: name and version of the first, the
 * union of their platforms and images; their projects must agree and pack
 * names must be unique across them.
 */
int profile_load_many(const char *const *paths, size_t n, struct profile **out,
                      struct barge_err *err) BARGE_MUST_CHECK;
/* The same from a buffer; name stands for the file in messages and for includes' base. */
int profile_load_buf(const char *name, const char *buf, size_t len, struct profile **out,
                     struct barge_err *err) BARGE_MUST_CHECK;
void profile_free(struct profile *p);

#endif
