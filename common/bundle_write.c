/*
 * The bundle writer (bundle_write.h), a module apart from the reader (bundle.c) so
 * that a program that only reads bundles (barged) links none of
 * libarchive's writers: taking archive_write_set_format_pax_restricted
 * brings in libarchive's table of every writer format, and with them
 * libxml2 (xar), ICU and liblzma, megabytes loaded into a daemon that
 * never writes an archive.
 *
 * libarchive writes the pax tar; the zstd layer is ours, on libzstd
 * directly: libarchive 3.6.2's zstd filter writes frames without content
 * checksums and has no option to turn them on, and bundle format v1
 * requires them.
 */
#include "bundle_write.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameProgression: see report() */
#include <zstd.h>

#include "bundle.h"
#include "fileutil.h"

#define BLOCK      (1024 * 1024) /* add_fd's read block size */
#define LEVEL_DEF  3
#define LEVEL_MAX  19
#define OBUF       (1024 * 1024) /* compressed output per write */
#define OBUF_ALIGN 4096          /* the largest logical block O_DIRECT may want */
/*
 * zstd's default job size grows with the level's window and, with several
 * workers, each holds a job's input and output at once: 80-90 MiB peak at
 * level 3 on two cores.  1 MiB jobs keep the writer near 26 MiB for a cost
 * in ratio too small to see on container layers (measured with
 * bench/build.sh).  The size is fixed, so the output stays reproducible.
 */
#define BUNDLE_ZSTD_JOB (1 << 20)

struct bundle_writer {
	char *path;
	char *tmp; /* the file's temporary name, where it has one (see fu_out_create) */
	int fd;
	struct archive *ar;
	ZSTD_CCtx *cctx;
	unsigned char *obuf; /* compressed output waiting for a whole OBUF write */
	size_t olen;
	int direct; /* fd has O_DIRECT (see fu_write_direct) */
	void *rbuf; /* add_fd's read block */
	int64_t mtime;
	int64_t taken; /* bytes of entries' contents taken in, for progress */
	void (*progress)(void *arg, int64_t done);
	void *progress_arg;
	int queue_known; /* zstd's queue can be measured (see report) */
	int failed;      /* an entry or the stream is broken: only free remains */
	int aborting;    /* freeing without close: drop whatever libarchive flushes */
	int closed;
	struct barge_err cb_err; /* what the write callback hit, for the caller */
};

/*
 * Tells progress how many bytes of entries' contents are compressed: what
 * was taken in, less what still waits in zstd's queue.  At level 19 a job
 * is 8 MiB (the window) and several wait, so the queue holds tens of MiB,
 * many seconds of work.  ZSTD_getFrameProgression, which measures it, is
 * in zstd's experimental API: it is used only when the library loaded is
 * the one built against, else the queue counts as done.  Tar headers in the
 * queue are counted as contents, so the figure is behind rather than ahead
 * (by at most the 10 KiB block libarchive holds before passing it on).
 */
static void
report(struct bundle_writer *w)
{
	ZSTD_frameProgression fp;
	int64_t queued = 0;

	if (w->progress == NULL)
		return;
	if (w->queue_known) {
		fp = ZSTD_getFrameProgression(w->cctx);
		if (fp.ingested > fp.consumed &&
		    fp.ingested - fp.consumed < (unsigned long long)INT64_MAX)
			queued = (int64_t)(fp.ingested - fp.consumed);
	}
	w->progress(w->progress_arg, queued < w->taken ? w->taken - queued : 0);
}

/*
 * Compresses in into obuf, and writes obuf out each time it is full.
 *
 * The output goes to the disk with O_DIRECT where the file system allows,
 * in OBUF writes at OBUF-aligned offsets: through the page cache, the
 * fsync that makes the bundle durable before it gets its name cost more
 * than the compression (2 GiB: 6.9 s buffered and synced, 2.3 s direct,
 * mostly the kernel's writeback work on this project's 2-core machine).
 */
static int
zwrite(struct bundle_writer *w, const void *buf, size_t len, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	ZSTD_outBuffer out;
	size_t left;

	for (;;) {
		out.dst = w->obuf;
		out.size = OBUF;
		out.pos = w->olen;
		left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
		if (ZSTD_isError(left))
			return err_set(&w->cb_err, BARGE_EINTERNAL, "%s: zstd: %s", w->path,
			               ZSTD_getErrorName(left));
		w->olen = out.pos;
		report(w);
		if (w->olen == OBUF) {
			if (fu_write_direct(w->fd, w->obuf, OBUF, &w->direct, &w->cb_err) !=
			    BARGE_OK)
				return err_prefix(&w->cb_err, "%s", w->path);
			w->olen = 0;
		}
		if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
			return BARGE_OK;
	}
}

static la_ssize_t
writer_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct bundle_writer *w = data;

	if (w->aborting)
		return (la_ssize_t)len;
	if (zwrite(w, buf, len, ZSTD_e_continue) != BARGE_OK) {
		archive_set_error(a, EIO, "%s", w->cb_err.msg);
		return -1;
	}
	return (la_ssize_t)len;
}

/* The error of a failed libarchive write call: ours if the callback set one. */
static int
writer_fail(struct bundle_writer *w, struct barge_err *err, const char *what, const char *name)
{
	w->failed = 1;
	if (w->cb_err.code != BARGE_OK)
		return err_set(err, w->cb_err.code, "%s: %s", name, w->cb_err.msg);
	return err_set(err, BARGE_EIO, "%s: %s %s: %s", w->path, what, name,
	               archive_error_string(w->ar) != NULL ? archive_error_string(w->ar)
	                                                   : "unknown error");
}

static int
zparam(struct bundle_writer *w, ZSTD_cParameter p, int v, const char *what, struct barge_err *err)
{
	size_t r = ZSTD_CCtx_setParameter(w->cctx, p, v);

	if (ZSTD_isError(r))
		return err_set(err, BARGE_EINTERNAL, "zstd: cannot set %s=%d: %s", what, v,
		               ZSTD_getErrorName(r));
	return BARGE_OK;
}

int
bundle_writer_open(const char *path, const struct bundle_writer_opts *opts,
                   struct bundle_writer **out, struct barge_err *err)
{
	struct bundle_writer *w = NULL;
	ZSTD_bounds b;
	long ncpu;
	int level, threads, fl, rc;

	level = opts->level == 0 ? LEVEL_DEF : opts->level;
	if (level < 1 || level > LEVEL_MAX)
		return err_set(err, BARGE_EINVAL, "zstd level %d out of range 1..%d", opts->level,
		               LEVEL_MAX);
	if (opts->threads < 0)
		return err_set(err, BARGE_EINVAL, "zstd threads %d is negative", opts->threads);
	if (opts->mtime < 0)
		return err_set(err, BARGE_EINVAL, "mtime %" PRId64 " is negative", opts->mtime);
	/*
	 * Always at least one worker: zstd's multithreaded output does not
	 * depend on the number of workers, but differs from single-threaded
	 * output, so this keeps bundles byte-identical across machines.
	 */
	threads = opts->threads;
	if (threads == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		threads = ncpu > 0 ? (int)(ncpu < 256 ? ncpu : 256) : 1;
	}
	b = ZSTD_cParam_getBounds(ZSTD_c_nbWorkers);
	if (!ZSTD_isError(b.error) && threads > b.upperBound)
		threads = b.upperBound;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	w->fd = -1;
	w->mtime = opts->mtime;
	w->progress = opts->progress;
	w->progress_arg = opts->progress_arg;
	w->queue_known = ZSTD_versionNumber() == ZSTD_VERSION_NUMBER;
	err_clear(&w->cb_err);
	w->path = strdup(path);
	/* O_DIRECT wants the buffer aligned to the disk's blocks. */
	if (posix_memalign((void **)&w->obuf, OBUF_ALIGN, OBUF) != 0)
		w->obuf = NULL;
	w->rbuf = malloc(BLOCK);
	w->cctx = ZSTD_createCCtx();
	if (w->path == NULL || w->obuf == NULL || w->rbuf == NULL || w->cctx == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = zparam(w, ZSTD_c_compressionLevel, level, "level", err)) != BARGE_OK ||
	    (rc = zparam(w, ZSTD_c_checksumFlag, 1, "checksum", err)) != BARGE_OK ||
	    (rc = zparam(w, ZSTD_c_nbWorkers, threads, "threads", err)) != BARGE_OK ||
	    (rc = zparam(w, ZSTD_c_jobSize, BUNDLE_ZSTD_JOB, "job size", err)) != BARGE_OK)
		goto fail;

	if ((rc = fu_out_create(path, 0644, &w->fd, &w->tmp, err)) != BARGE_OK)
		goto fail;
	fl = fcntl(w->fd, F_GETFL);
	w->direct = fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0;
	if ((w->ar = archive_write_new()) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if (archive_write_set_format_pax_restricted(w->ar) != ARCHIVE_OK ||
	    archive_write_open2(w->ar, w, NULL, writer_cb, NULL, NULL) != ARCHIVE_OK) {
		rc = err_set(err, BARGE_EINTERNAL, "%s: %s", w->path, archive_error_string(w->ar));
		goto fail;
	}
	*out = w;
	return BARGE_OK;
fail:
	bundle_writer_free(w);
	return rc;
}

static int
writer_header(struct bundle_writer *w, const char *name, int64_t size, struct barge_err *err)
{
	struct archive_entry *e = NULL;
	const char *why;
	int rc = BARGE_OK;

	if (w->failed || w->closed)
		return err_set(err, BARGE_EINVAL, "%s: bundle writer is %s", w->path,
		               w->closed ? "closed" : "broken by an earlier error");
	if ((why = bundle_name_problem(name)) != NULL)
		return err_set(err, BARGE_EINVAL, "entry \"%s\": %s", name, why);
	if (size < 0)
		return err_set(err, BARGE_EINVAL, "entry \"%s\": negative size", name);
	if ((e = archive_entry_new()) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* Only what reproducibility allows: no atime, ctime, owner names or xattrs. */
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, (time_t)w->mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(w->ar, e) != ARCHIVE_OK)
		rc = writer_fail(w, err, "writing header of", name);
	archive_entry_free(e);
	return rc;
}

static int
writer_data(struct bundle_writer *w, const char *name, const void *buf, size_t len,
            struct barge_err *err)
{
	const char *p = buf;
	la_ssize_t n;

	while (len > 0) {
		n = archive_write_data(w->ar, p, len);
		if (n <= 0)
			return writer_fail(w, err, "writing", name);
		p += n;
		len -= (size_t)n;
		w->taken += n;
	}
	return BARGE_OK;
}

int
bundle_writer_add_buf(struct bundle_writer *w, const char *name, const void *buf, size_t len,
                      struct barge_err *err)
{
	int rc;

	if (len > INT64_MAX)
		return err_set(err, BARGE_ELIMIT, "entry \"%s\": too large", name);
	if ((rc = writer_header(w, name, (int64_t)len, err)) != BARGE_OK)
		return rc;
	return writer_data(w, name, buf, len, err);
}

int
bundle_writer_add_fd(struct bundle_writer *w, const char *name, int fd, int64_t size,
                     struct barge_err *err)
{
	int64_t left;
	ssize_t n;
	size_t want;
	int rc;

	if ((rc = writer_header(w, name, size, err)) != BARGE_OK)
		return rc;
	for (left = size; left > 0; left -= n) {
		want = left < BLOCK ? (size_t)left : BLOCK;
		n = read(fd, w->rbuf, want);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0) {
			w->failed = 1;
			return err_sys(err, BARGE_EIO, errno, "entry \"%s\": read", name);
		}
		if (n == 0) {
			/* The header already promised size bytes: the archive is unusable. */
			w->failed = 1;
			return err_set(err, BARGE_EIO,
			               "entry \"%s\": input ended after %" PRId64 " of %" PRId64
			               " bytes",
			               name, size - left, size);
		}
		if ((rc = writer_data(w, name, w->rbuf, (size_t)n, err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

int
bundle_writer_close(struct bundle_writer *w, struct barge_err *err)
{
	int rc;

	if (w->failed || w->closed)
		return err_set(err, BARGE_EINVAL, "%s: bundle writer is %s", w->path,
		               w->closed ? "closed" : "broken by an earlier error");
	if (archive_write_close(w->ar) != ARCHIVE_OK)
		return writer_fail(w, err, "finishing", "archive");
	if (zwrite(w, NULL, 0, ZSTD_e_end) != BARGE_OK) {
		w->failed = 1;
		return err_set(err, w->cb_err.code, "%s", w->cb_err.msg);
	}
	/* The tail is shorter than a block: fu_write_direct takes it through the page cache. */
	if (w->olen > 0 && fu_write_direct(w->fd, w->obuf, w->olen, &w->direct, err) != BARGE_OK) {
		w->failed = 1;
		return err_prefix(err, "%s", w->path);
	}
	w->olen = 0;
	if (fsync(w->fd) != 0) {
		w->failed = 1;
		return err_sys(err, BARGE_EIO, errno, "fsync %s", w->path);
	}
	if ((rc = fu_out_publish(w->fd, &w->tmp, w->path, err)) != BARGE_OK) {
		w->failed = 1;
		return rc;
	}
	w->closed = 1;
	return BARGE_OK;
}

void
bundle_writer_free(struct bundle_writer *w)
{
	if (w == NULL)
		return;
	if (w->ar != NULL) {
		/* archive_write_free closes an open archive; nothing it flushes matters now. */
		w->aborting = 1;
		archive_write_free(w->ar);
	}
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp != NULL)
		unlink(w->tmp);
	ZSTD_freeCCtx(w->cctx);
	free(w->rbuf);
	free(w->obuf);
	free(w->tmp);
	free(w->path);
	free(w);
}
