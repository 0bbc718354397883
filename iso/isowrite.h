/*
 * isowrite: writes install media, an ISO 9660 image (level 3, Rock Ridge and
 * Joliet) holding bundles, with libisofs (`barge iso`).
 *
 * The bundles are not copied anywhere first, and each is read once: libisofs
 * reads each file from its path while it writes the image (hashing it on the
 * way), straight into a temporary sibling of the output that is renamed into
 * place at the end.  Files over 4 GiB become multi-extent files (level 3).
 * Besides the bundles, the image holds BARGE.JSON (every bundle's file name,
 * size, sha256, and barge.json name and version) and README.TXT for the
 * person holding the disc; their data comes after the bundles' in the image.
 *
 * With a base image (an installer), its files and El Torito boot records are
 * kept and the bundles are added next to them.  Every timestamp this module
 * sets is opts->mtime and the volume dates are fixed, so the same inputs give
 * the same bytes (see docs/media.md for what a base image brings in).
 *
 * libisofs keeps global state and a global message queue: one write at a
 * time per process.
 */
#ifndef BARGE_ISOWRITE_H
#define BARGE_ISOWRITE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define ISOWRITE_BUNDLES_MAX 4096
/* The volume id of ISO 9660: 32 characters at most. */
#define ISOWRITE_LABEL_MAX     32
#define ISOWRITE_LABEL_DEFAULT "BARGE"
#define ISOWRITE_CATALOG       "BARGE.JSON"
#define ISOWRITE_README        "README.TXT"

struct isowrite_opts {
	const char *base;         /* NULL, or an ISO image whose files and boot records stay */
	const char *volume_label; /* NULL: the base's, or ISOWRITE_LABEL_DEFAULT */
	int64_t mtime;            /* every timestamp written (SOURCE_DATE_EPOCH) */
	/* Optional: told what is happening ("hashing x.tar.zst"), and bytes written so far. */
	void (*progress)(void *arg, const char *msg);
	void (*bytes)(void *arg, int64_t done, int64_t total);
	void *progress_arg;
	/*
	 * Optional: when *stop becomes non-zero (a signal handler), the write
	 * ends soon with BARGE_EIO "stopped ..." and leaves no file.
	 */
	const volatile sig_atomic_t *stop;
};

struct isowrite_stats {
	size_t nbundles;
	int64_t bundle_bytes;
	int64_t image_bytes;
	int boot_images; /* El Torito boot images kept from the base */
	/*
	 * 1 when the base's system area has partitions (a hybrid image's MBR
	 * partition table or GPT): they are copied as they were, with the
	 * base's offsets and size, which the new image's layout does not keep.
	 */
	int base_partitions;
};

/*
 * Writes the image of the n bundles at paths to output, atomically: until
 * it is complete the image has no name where the file system allows
 * (O_TMPFILE), so not even a killed write leaves a file; elsewhere it is a
 * temporary sibling of output, removed when the write fails.  Each
 * bundle must be a file named *.tar.zst whose first entry is a valid
 * barge.json; names in the image are the paths' last components and must
 * differ.  A bundle that changes while the image is written fails the write.
 */
int isowrite_write(const char *output, const char *const *paths, size_t n,
                   const struct isowrite_opts *opts, struct isowrite_stats *st,
                   struct barge_err *err) BARGE_MUST_CHECK;

/* BARGE_EINVAL unless label is 1..ISOWRITE_LABEL_MAX of A-Z a-z 0-9 _ - . */
int isowrite_label_check(const char *label, struct barge_err *err) BARGE_MUST_CHECK;

#endif
