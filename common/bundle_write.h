/*
 * bundle_write: writes bundle format v1 (docs/bundle-format.md), the
 * container bundle.h reads: a POSIX pax tar, zstd-compressed with frame
 * checksums, reproducibly (fixed mtime, uid/gid 0, mode 0644, entries in
 * the order they are added, the same bytes whatever the number of zstd
 * workers).  Entry names follow bundle_name_problem.  The caller owns the
 * writer and frees it with bundle_writer_free.
 */
#ifndef BARGE_BUNDLE_WRITE_H
#define BARGE_BUNDLE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct bundle_writer_opts {
	int level;     /* zstd level, 1..19; 0 means the default (3) */
	int threads;   /* zstd worker threads; 0 means one per core */
	int64_t mtime; /* every entry's mtime (SOURCE_DATE_EPOCH) */
	/*
	 * Called in the writer's thread, as the compressor works, with the
	 * bytes of entries' contents compressed so far (tar headers not
	 * counted); may be NULL.  Only a successful close says that all of
	 * it is in the file.
	 */
	void (*progress)(void *arg, int64_t done);
	void *progress_arg;
};

struct bundle_writer;

/*
 * Writes the bundle into a file without a name (fu_out_create);
 * bundle_writer_close gives it path's name atomically, replacing what was
 * there.  Without a successful close nothing is left, even if the process
 * is killed, so that no half-written bundle is ever seen.
 */
int bundle_writer_open(const char *path, const struct bundle_writer_opts *opts,
                       struct bundle_writer **out, struct barge_err *err) BARGE_MUST_CHECK;
int bundle_writer_add_buf(struct bundle_writer *w, const char *name, const void *buf, size_t len,
                          struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Streams size bytes from fd (read from its current offset) as entry name.
 * Fails if fd ends early.  Does not take ownership of fd.
 */
int bundle_writer_add_fd(struct bundle_writer *w, const char *name, int fd, int64_t size,
                         struct barge_err *err) BARGE_MUST_CHECK;
/* Finishes the archive, fsyncs and renames it into place. */
int bundle_writer_close(struct bundle_writer *w, struct barge_err *err) BARGE_MUST_CHECK;
void bundle_writer_free(struct bundle_writer *w);

#endif
