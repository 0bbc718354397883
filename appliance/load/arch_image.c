/*
 * arch_image: the images an archive names (arch_int.h, arch_add_image):
 * its references mapped under the project as a bundle's are, --repo for an
 * image the archive does not name, and the refusal of one repository and
 * tag given to two digests.  Owns nothing past a call: the images it adds
 * belong to the struct arch.
 */
#include <stdlib.h>
#include <string.h>

#include "arch_int.h"
#include "ref.h"

/* Adds tag to im unless it has it. */
static int
image_tag(struct bundle_image *im, const char *tag, struct barge_err *err)
{
	char **grown;
	size_t i;

	for (i = 0; i < im->ntags; i++)
		if (strcmp(im->tags[i], tag) == 0)
			return BARGE_OK;
	if (im->ntags == ARCH_TAGS_MAX)
		return err_set(err, BARGE_ELIMIT, "image %s: more than %d tags", im->repository,
		               ARCH_TAGS_MAX);
	if ((grown = realloc(im->tags, (im->ntags + 1) * sizeof(*grown))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	im->tags = grown;
	if ((im->tags[im->ntags] = strdup(tag)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	im->ntags++;
	return BARGE_OK;
}

/* The image of repo at digest, added when new. */
static int
image_get(struct arch *a, const char *repo, const char *source, const char *digest,
          const char *media_type, struct bundle_image **out, struct barge_err *err)
{
	struct bundle_image *grown, *im;
	size_t i;

	for (i = 0; i < a->nimages; i++)
		if (strcmp(a->images[i].repository, repo) == 0 &&
		    strcmp(a->images[i].digest, digest) == 0) {
			*out = &a->images[i];
			return BARGE_OK;
		}
	if (a->nimages == ARCH_IMAGES_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: more than %d images", a->path,
		               ARCH_IMAGES_MAX);
	if ((grown = realloc(a->images, (a->nimages + 1) * sizeof(*grown))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	a->images = grown;
	im = &a->images[a->nimages];
	memset(im, 0, sizeof(*im));
	a->nimages++;
	if ((im->repository = strdup(repo)) == NULL || (im->source = strdup(source)) == NULL ||
	    (im->digest = strdup(digest)) == NULL || (im->media_type = strdup(media_type)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*out = im;
	return BARGE_OK;
}

/* Whether another image of repo has tag already. */
static const struct bundle_image *
tag_taken(const struct arch *a, const char *repo, const char *tag, const char *digest)
{
	size_t i, j;

	for (i = 0; i < a->nimages; i++) {
		if (strcmp(a->images[i].repository, repo) != 0 ||
		    strcmp(a->images[i].digest, digest) == 0)
			continue;
		for (j = 0; j < a->images[i].ntags; j++)
			if (strcmp(a->images[i].tags[j], tag) == 0)
				return &a->images[i];
	}
	return NULL;
}

int
arch_add_image(struct arch *a, const char *name, const char *tag, const char *digest,
               const char *media_type, const char *what, struct barge_err *err)
{
	const struct bundle_image *other;
	struct bundle_image *im = NULL;
	struct barge_err rerr;
	struct ref *ref = NULL;
	char *repo = NULL, *source = NULL;
	int rc;

	if (name == NULL && a->opts->repo == NULL)
		return err_set(err, BARGE_EINVAL,
		               "%s: %s names no repository (the archive gives it no name): load "
		               "it with --repo NAME",
		               a->path, what);
	if (ref_parse(name != NULL ? name : a->opts->repo, &ref, &rerr) != BARGE_OK)
		return err_set(err, BARGE_EFORMAT, "%s: %s: %s%s", a->path, what,
		               name != NULL ? "" : "--repo: ", rerr.msg);
	if (tag == NULL)
		tag = ref->tag != NULL ? ref->tag : name == NULL ? "latest" : NULL;
	if (tag != NULL && !ref_valid_tag(tag)) {
		rc = err_set(err, BARGE_EFORMAT, "%s: %s: invalid tag \"%.128s\"", a->path, what,
		             tag);
		goto out;
	}
	if ((repo = ref_local_repo(ref, a->project)) == NULL ||
	    (source = ref_string(ref)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (!ref_valid_repo(repo)) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: %s: repository \"%s\" is longer than a name may be", a->path,
		             what, repo);
		goto out;
	}
	if (tag != NULL && (other = tag_taken(a, repo, tag, digest)) != NULL) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: %s: %s:%s is also the name of %s: duplicate names", a->path, what,
		             repo, tag, other->digest);
		goto out;
	}
	if ((rc = image_get(a, repo, source, digest, media_type, &im, err)) != BARGE_OK)
		goto out;
	if (tag != NULL)
		rc = image_tag(im, tag, err);
out:
	free(source);
	free(repo);
	ref_free(ref);
	return rc;
}
