/*
 * isowrite_drain: the image from libisofs' ring buffer to the output file,
 * with O_DIRECT where the file system allows (see isowrite_int.h).  It owns
 * its aligned buffer; the output file is the write's.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>

#include "fileutil.h"
#include "isowrite_int.h"

/* Bytes per read from libisofs' ring buffer: whole 2 KiB blocks. */
#define WRITE_CHUNK (512 * 2048)
#define FLUSH_EVERY ((int64_t)16 * 1024 * 1024)
/* O_DIRECT's alignment of buffers, offsets and lengths: the largest logical block in use. */
#define DIRECT_ALIGN 4096

/*
 * Drains libisofs' image stream into fd; fails on a short image, a failed
 * stream (as soon as it fails) or any queued failure.
 *
 * The image goes to the disk with O_DIRECT where the file system allows:
 * copying gigabytes into the page cache only to fsync them at the end costs
 * more than the disk's own write (bench/media.sh), and fills the cache
 * with pages nobody reads again.  libisofs' writer thread reads the
 * bundles meanwhile, and a hasher thread hashes them.
 */
int
drain(struct burn_source *bs, int fd, const struct isowrite_opts *o, struct job *j,
      int64_t *written, struct barge_err *err)
{
	char msg[ISO_MSGS_MESSAGE_LEN], sev[80];
	void *buf = NULL;
	int64_t total = (int64_t)bs->get_size(bs), done = 0, flushed = 0;
	int code, imgid, got, want, fl, direct, rc = BARGE_OK;

	/* O_DIRECT wants the buffer aligned to the disk's blocks. */
	if (posix_memalign(&buf, DIRECT_ALIGN, WRITE_CHUNK) != 0)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	direct = (fl = fcntl(fd, F_GETFL)) >= 0 && fcntl(fd, F_SETFL, fl | O_DIRECT) == 0;
	/*
	 * The ring buffer hands out whole requests only, or nothing at the end:
	 * ask for exactly what is left of the announced size in the last one.
	 */
	while (done < total) {
		want = total - done < WRITE_CHUNK ? (int)(total - done) : WRITE_CHUNK;
		got = bs->read_xt(bs, buf, want);
		/* A stream's own failure says more than libisofs' report of it. */
		if ((rc = job_status(j, err)) != BARGE_OK || (rc = check_stop(o, err)) != BARGE_OK)
			goto out;
		if (got < 0) {
			rc = iso_err(err, got, "writing the image");
			goto out;
		}
		if (got == 0)
			break;
		if ((rc = fu_write_direct(fd, buf, (size_t)got, &direct, err)) != BARGE_OK) {
			err_prefix(err, "writing the image");
			goto out;
		}
		done += got;
		/*
		 * Through the page cache, start writeback of each finished stretch
		 * now, as xorriso does with its stdio_sync: gigabytes of dirty pages
		 * would otherwise throttle the writes and leave all the work to the
		 * final fsync.
		 */
		if (!direct && done - flushed >= FLUSH_EVERY) {
			(void)sync_file_range(fd, flushed, done - flushed, SYNC_FILE_RANGE_WRITE);
			flushed = done;
		}
		if (o->bytes != NULL)
			o->bytes(o->progress_arg, done, total);
	}
	if ((rc = job_status(j, err)) != BARGE_OK)
		goto out;
	/* libisofs fills an unreadable stretch of a file with zeros and only queues the error. */
	if (iso_obtain_msgs("SORRY", &code, &imgid, msg, sev) == 1) {
		rc = err_set(err, BARGE_EIO, "writing the image: %s", msg);
		goto out;
	}
	if (done != total) {
		rc = err_set(err, BARGE_EIO,
		             "writing the image: %" PRId64 " bytes of the %" PRId64 " announced",
		             done, total);
		goto out;
	}
	*written = done;
out:
	free(buf);
	return rc;
}
