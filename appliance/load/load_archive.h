/*
 * load_archive: what `barged load` and the upload endpoint read, whatever
 * made it (docs/loading.md, "Other formats").  The stream's first bytes
 * say which: a barge bundle (zstd, barge.json first) goes to the loader
 * (loader.h); anything else is read as another tool's archive, once, as a
 * stream:
 *
 *   docker-archive  `docker save`, `skopeo copy ... docker-archive:`:
 *                   manifest.json, configs, uncompressed layer tars
 *   oci-archive     an OCI image layout in a tar (oci-layout, index.json,
 *                   blobs/<alg>/<hex>)
 *   zarf            a Zarf package (tar.zst): zarf.yaml, an OCI layout in images/
 *   hauler          a Hauler haul (tar.zst): an OCI layout whose index.json
 *                   annotations name the references
 *
 * (plain, gzip or zstd tar).  Blobs go into the store as they pass, each
 * checked against the digest its name or descriptor gives; metadata
 * members, wherever they come, are kept in memory within fixed bounds.  At
 * the end the format's reader names the images, and their manifests, tags
 * and a record of the archive are written in one transaction with the
 * loader's rules (loader_record).  A blob no image names is removed again.
 * Links other than docker-archive's legacy layer aliases, names that leave
 * the archive, devices, oversize metadata, a digest mismatch, a missing or
 * duplicate blob and an unknown format refuse the archive naming the
 * member or field, and leave the store's images and tags as they were.
 */
#ifndef BARGE_LOAD_ARCHIVE_H
#define BARGE_LOAD_ARCHIVE_H

#include "bundle.h"
#include "err.h"
#include "loader.h"
#include "store.h"

/*
 * Loads what src holds (name is used in messages) into s: a bundle or an
 * archive.  Takes ownership of src->arg, even on failure.  opts may be NULL.
 */
int archload_load(struct store *s, const struct bundle_source *src, const char *name,
                  const struct loader_opts *opts, struct loader_result *res,
                  struct barge_err *err) BARGE_MUST_CHECK;
/* Like archload_load, from fd (taken, even on failure). */
int archload_load_fd(struct store *s, int fd, const char *name, const struct loader_opts *opts,
                     struct loader_result *res, struct barge_err *err) BARGE_MUST_CHECK;

#endif
