/*
 * bundle: the container of bundle format v1 (docs/bundle-format.md): a POSIX
 * pax tar, zstd-compressed with frame checksums, written reproducibly
 * (fixed mtime, uid/gid 0, mode 0644, entries in the order they are added).
 *
 * This module is the reader, and the entry-name rule both sides share;
 * bundle_write.h is the writer, a module of its own so that a program that
 * only reads bundles (barged) links none of libarchive's writers and their
 * dependencies.  Neither knows barge.json's meaning: the bundler decides
 * what goes in, the loader decides what it accepts.  Both stream: nothing
 * holds a whole blob or bundle in memory.
 */
#ifndef BARGE_BUNDLE_H
#define BARGE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* The largest barge.json (and any other metadata entry) accepted. */
#define BUNDLE_META_MAX (64 * 1024 * 1024)
/* The longest entry name accepted. */
#define BUNDLE_NAME_MAX 256

/*
 * Whether name may be an entry of a bundle: relative, '/'-separated, no
 * empty, "." or ".." components, no backslash, no control characters, at
 * most BUNDLE_NAME_MAX bytes.  Returns NULL when it may, else why not.
 */
const char *bundle_name_problem(const char *name);

struct bundle_reader;

/*
 * Where a reader's compressed bytes come from, when not a plain fd: a split
 * part set, a file inside an ISO image.  read fills buf with up to cap bytes
 * (*got 0 at the end of the input); close releases arg and is called once,
 * by bundle_reader_free or a failed open.
 */
struct bundle_source {
	int (*read)(void *arg, void *buf, size_t cap, size_t *got, struct barge_err *err);
	void (*close)(void *arg);
	void *arg;
};

/* src reads fd, which its close closes. */
void bundle_source_fd(int fd, struct bundle_source *src);
/* Opens a bundle read from src.  Takes ownership of src->arg, even on failure. */
int bundle_reader_open_source(const struct bundle_source *src, const char *name,
                              struct bundle_reader **out, struct barge_err *err) BARGE_MUST_CHECK;
/* Opens a bundle for reading. Takes ownership of fd. */
int bundle_reader_open_fd(int fd, const char *name, struct bundle_reader **out,
                          struct barge_err *err) BARGE_MUST_CHECK;
int bundle_reader_open(const char *path, struct bundle_reader **out,
                       struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Advances to the next entry.  Returns BARGE_OK with *name and *size set
 * (name valid until the next call), BUNDLE_EOF at the end, or an error for
 * anything but a regular file with a clean relative name (no "..", no
 * absolute path, at most BUNDLE_NAME_MAX bytes).
 */
#define BUNDLE_EOF 1
int bundle_reader_next(struct bundle_reader *r, const char **name, int64_t *size,
                       struct barge_err *err) BARGE_MUST_CHECK;
/* Reads up to len bytes of the current entry; *got is 0 at its end. */
int bundle_reader_read(struct bundle_reader *r, void *buf, size_t len, size_t *got,
                       struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Like bundle_reader_read without a copy: *buf points at the next *got
 * bytes of the current entry, valid until the next call on r; *got is 0 at
 * its end.  An entry is read with one or the other, not both.
 */
int bundle_reader_read_block(struct bundle_reader *r, const void **buf, size_t *got,
                             struct barge_err *err) BARGE_MUST_CHECK;
/* Reads the whole current entry into a new buffer (NUL-terminated) if it is at most max bytes. */
int bundle_reader_slurp(struct bundle_reader *r, size_t max, char **buf, size_t *len,
                        struct barge_err *err) BARGE_MUST_CHECK;
/* Compressed bytes consumed so far (for progress). */
int64_t bundle_reader_bytes_in(const struct bundle_reader *r);
void bundle_reader_free(struct bundle_reader *r);

#endif
