/*
 * isoread: reads files straight out of an ISO 9660 image, a .iso file or a
 * block device (/dev/sr0, a USB stick), with libarchive and without
 * mounting it, so that `barged load` can take install media as they come.
 *
 * The image is untrusted: its volume descriptors are checked against its
 * size before libarchive reads it (the volume, the root directory and the
 * path tables must lie within the image, blocks are 2048 bytes, the root
 * directory and path tables at most ISOREAD_DIR_MAX bytes), listings are
 * bounded (ISOREAD_FILES_MAX files, names of at most ISOREAD_NAME_MAX
 * bytes) and names are only compared, never used as paths on the host.
 * Only regular files are listed.
 */
#ifndef BARGE_ISOREAD_H
#define BARGE_ISOREAD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ISOREAD_FILES_MAX 100000
#define ISOREAD_NAME_MAX  1024
#define ISOREAD_DIR_MAX   (32 * 1024 * 1024)

/*
 * Whether path holds an ISO 9660 volume (the "CD001" descriptor of sector
 * 16).  *is_iso is 0 for a file too short to hold one.
 */
int isoread_probe(const char *path, int *is_iso, struct barge_err *err) BARGE_MUST_CHECK;

struct isoread_entry {
	char *name; /* path inside the image, no leading '/' */
	int64_t size;
};

/* Lists the regular files of the image at path, in the image's order.  Caller frees. */
int isoread_list(const char *path, struct isoread_entry **out, size_t *n,
                 struct barge_err *err) BARGE_MUST_CHECK;
void isoread_list_free(struct isoread_entry *e, size_t n);

struct isoread_file;

/* Opens file name of the image at path for reading.  BARGE_ENOTFOUND when it has none. */
int isoread_open(const char *path, const char *name, struct isoread_file **out,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* Reads up to cap bytes; *got is 0 at the end of the file. */
int isoread_read(struct isoread_file *f, void *buf, size_t cap, size_t *got,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* Accepts NULL. */
void isoread_close(struct isoread_file *f);

#endif
