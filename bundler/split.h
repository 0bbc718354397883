/*
 * split: cuts a bundle into parts for media with a file size limit (FAT32
 * sticks hold files under 4 GiB): BUNDLE.part000, BUNDLE.part001, ... in
 * BUNDLE's directory, each at most the part size, and BUNDLE.split.json
 * listing the whole's size and sha256 and each part's name, size and sha256.
 *
 * `barged load BUNDLE.part000` reads the parts one after the other up to the
 * first missing number, so the parts' concatenation is the bundle byte for
 * byte.  The bundle is read once, as a stream; every part goes to a
 * temporary file first and is renamed into place only when all are written,
 * and stale higher-numbered parts of an earlier split are removed so the
 * loader never reads past the new set.  The list is not named ".parts..."
 * so that `cat BUNDLE.part*` is exactly the parts.
 */
#ifndef BARGE_SPLIT_H
#define BARGE_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define SPLIT_SIZE_MIN (1024 * 1024)
/* 3900 MiB: under FAT32's 4 GiB - 1 with room to spare. */
#define SPLIT_SIZE_DEFAULT ((int64_t)3900 * 1024 * 1024)
#define SPLIT_PARTS_MAX    100000

/*
 * Parses "3900M", "4G", "512K" (powers of 1024) or plain bytes into *out:
 * BARGE_EINVAL for anything else, or a size under SPLIT_SIZE_MIN.
 */
int split_parse_size(const char *s, int64_t *out, struct barge_err *err) BARGE_MUST_CHECK;

struct split_part {
	char *path;
	int64_t size;
	char sha256[DIGEST_STR_MAX];
};

struct split_result {
	int64_t size;
	char sha256[DIGEST_STR_MAX];
	struct split_part *parts;
	size_t nparts;
	char *list; /* the parts list's path */
};

/* Splits bundle into parts of at most part_size bytes.  Caller frees *out. */
int split_bundle(const char *bundle, int64_t part_size, struct split_result **out,
                 struct barge_err *err) BARGE_MUST_CHECK;
void split_result_free(struct split_result *r);

#endif
