/*
 * mediatype: the OCI and Docker media types Barge understands.
 */
#ifndef BARGE_MEDIATYPE_H
#define BARGE_MEDIATYPE_H

#include <stddef.h>

#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZ    "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZST   "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* The Accept header value a client sends to get any manifest or index. */
#define MT_ACCEPT_ALL MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST

/*
 * The type in mt without surrounding whitespace and parameters after ';'
 * ("application/vnd.oci.image.index.v1+json; charset=utf-8"): returns where
 * it starts in mt and sets *len to its length.
 */
const char *mt_trim(const char *mt, size_t *len);
/* Whether mt is an OCI index or a Docker manifest list. */
int mt_is_index(const char *mt);
/* Whether mt is an OCI or Docker schema2 image manifest. */
int mt_is_manifest(const char *mt);

#endif
