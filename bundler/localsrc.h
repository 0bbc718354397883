/*
 * localsrc: images that come from a local OCI image layout instead of a
 * registry (docs/profiles.md, "Images from a local file").
 *
 * A source is written "oci-archive:PATH" (a tar of an OCI image layout, as
 * `skopeo copy ... oci-archive:` and the barged-image build target write it)
 * or "oci:DIR" (the layout as a directory); a third, "chart:PATH", is a
 * Helm chart archive, which every call here hands to charts.h.  Its index.json names the
 * images it holds; a blob is blobs/<alg>/<hex>.  An archive is read with
 * libarchive, entry by entry, and never held whole in memory; every byte
 * taken out of either kind is checked against the digest and size it is
 * asked for, so a damaged file is found as a registry's wrong blob would be.
 * Nothing here touches the network.  Every call opens and closes the file
 * it reads: the caller owns only what it gets back.
 */
#ifndef BARGE_LOCALSRC_H
#define BARGE_LOCALSRC_H

#include <stdint.h>

#include "client.h"
#include "err.h"
#include "ref.h"

#define LOCALSRC_INDEX_MAX (4 * 1024 * 1024) /* index.json */

/*
 * Whether from is "oci-archive:PATH" or "oci:DIR" with a PATH; *path points
 * into from.  BARGE_EINVAL saying what the forms are otherwise.
 */
int localsrc_split(const char *from, const char **path, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * The manifest from holds for r: the one pinned by r's digest when it has
 * one, else the index.json entry whose org.opencontainers.image.ref.name
 * annotation is r's tag or r itself (or whose io.containerd.image.name is
 * r), else the only entry when it has no name.  out gets its exact bytes,
 * its digest and its media type (caller clears it).  BARGE_ENOTFOUND naming
 * the file and the names it holds when nothing matches.
 */
int localsrc_manifest(const char *from, const struct ref *r, struct client_manifest *out,
                      struct barge_err *err) BARGE_MUST_CHECK;

/*
 * The blob digest of size bytes (at most max when size < 0), read from
 * from and verified; *buf (caller frees) holds it.  For manifests.
 */
int localsrc_read(const char *from, const char *digest, int64_t size, size_t max, char **buf,
                  size_t *len, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Streams the blob digest of size bytes from from into fd (not owned),
 * verifying it as it goes: BARGE_EDIGEST when the bytes are not what the
 * digest and size say (fd then holds garbage to discard).
 */
int localsrc_copy(const char *from, const char *digest, int64_t size, int fd,
                  struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Has the blob cache cache_dir (fetch.h) hold the blob digest of size bytes
 * from from, verified: copied into it unless it is there intact already, so
 * that fetch_blobs finds it without asking any registry.
 */
int localsrc_cache(const char *from, const char *digest, int64_t size, const char *cache_dir,
                   struct barge_err *err) BARGE_MUST_CHECK;

#endif
