/*
 * isowrite_int: the insides of `barge iso`'s image writer, shared by the
 * files of iso/isowrite*.c and by nothing else (scripts/check-layers refuses
 * any other includer).
 *
 *   isowrite.c         the write: the libisofs image, its options, the
 *                      output file, the job the streams report to
 *   isowrite_bundle.c  the bundles: described from their barge.json, and
 *                      the stream libisofs reads each one through
 *   isowrite_hash.c    the thread that hashes a bundle as it is read
 *   isowrite_text.c    BARGE.JSON and README.TXT and their stream
 *   isowrite_base.c    the import of a base image and its boot records
 *   isowrite_drain.c   the drain of the image into the output (O_DIRECT)
 *
 * libisofs' streams run in its writer thread: what they share with the
 * write goes through struct job, under its mutex.
 */
#ifndef BARGE_ISOWRITE_INT_H
#define BARGE_ISOWRITE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
/* The burn_source declaration comes with libisofs.h unless libburn.h provides it. */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "digest.h"
#include "err.h"
#include "isowrite.h"

/* Reads of a bundle while libisofs writes it (libisofs itself asks for 2 KiB at a time). */
#define READ_CHUNK (1024 * 1024)

/* One bundle as BARGE.JSON lists it. */
struct isowrite_bundle {
	char *path; /* on this host */
	char *file; /* the name in the image: path's last component */
	int64_t size;
	char sha256[DIGEST_STR_MAX];
	char *name;    /* barge.json's name */
	char *version; /* barge.json's version */
};

/*
 * What one write shares with the streams libisofs reads in its writer
 * thread.  A bundle's sha256 appears when libisofs has read the bundle to its
 * end; BARGE.JSON and README.TXT, which list them, are written after every
 * bundle (sort weights) and made when libisofs opens them.  Their sizes are
 * announced before: a digest's text has one length, so they are rendered
 * once with placeholder digests.  The first failure of any stream is kept
 * and ends the write.
 */
struct job {
	pthread_mutex_t mu;
	struct isowrite_bundle *bs; /* sha256 is "" until the bundle was read */
	const struct stat *before;  /* each bundle as it was when the write began */
	size_t n;
	const char *label;
	int64_t mtime;
	int rc;
	struct barge_err err;
};

/* Streams of this module tell libisofs their own ids: no two are the same file. */
#define STREAM_FS_ID 0x42524745u

/* --- the write (isowrite.c) ---------------------------------------------- */

/* The libisofs failure rc as an error, with the oldest queued message, which names the file. */
int iso_err(struct barge_err *err, int rc, const char *what);
/* Dates node mtime (all three times) and makes it root's, with mode. */
void node_fix(IsoNode *node, int64_t mtime, mode_t mode);
/* Keeps the first failure; returns iso_rc, the libisofs code the stream reports. */
int job_fail(struct job *j, const struct barge_err *e, int iso_rc);
/* BARGE_OK, or the first failure of a stream into err. */
int job_status(struct job *j, struct barge_err *err) BARGE_MUST_CHECK;
/* The is_repeatable method of this module's streams: yes. */
int stream_is_repeatable(IsoStream *stream);
/* A new IsoStream of class holding data, or NULL when out of memory (data stays the caller's). */
IsoStream *stream_new(IsoStreamIface *class, void *data);
/*
 * Adds the file name with stream's content to the root, dated mtime and
 * written at sort weight (higher first); takes the reference to stream.
 */
int add_stream(IsoImage *img, const char *name, IsoStream *stream, int weight, int64_t mtime,
               struct barge_err *err) BARGE_MUST_CHECK;
/* BARGE_EIO "stopped" once the caller asked the write to stop. */
int check_stop(const struct isowrite_opts *o, struct barge_err *err) BARGE_MUST_CHECK;

/* --- the bundles (isowrite_bundle.c) ------------------------------------- */

/* Frees what a struct isowrite_bundle holds. */
void isowrite_bundle_clear(struct isowrite_bundle *b);
/*
 * Stats the n bundles at paths into before (a change after this fails the
 * write), reads each one's barge.json into bs and checks that their names
 * in the image differ; adds their sizes to st->bundle_bytes.
 */
int describe_bundles(const char *const *paths, size_t n, struct isowrite_bundle *bs,
                     struct stat *before, struct isowrite_stats *st,
                     struct barge_err *err) BARGE_MUST_CHECK;
/* Adds bundle i of j to the image, read (and hashed) when libisofs writes it. */
int add_bundle(IsoImage *img, struct job *j, size_t i, struct barge_err *err) BARGE_MUST_CHECK;
/* Whether a bundle is still the file the write began with, after libisofs read it. */
int check_unchanged(const struct isowrite_bundle *b, const struct stat *before,
                    struct barge_err *err) BARGE_MUST_CHECK;

/* --- hashing (isowrite_hash.c) ------------------------------------------- */

/* A sha256 of chunks of READ_CHUNK bytes, computed in a thread of its own. */
struct hasher;

int hasher_new(struct hasher **out, struct barge_err *err) BARGE_MUST_CHECK;
/* The chunk to fill next, once the hasher is done with what it held. */
unsigned char *hasher_next(struct hasher *h);
/* Hands the chunk hasher_next gave, filled with len bytes, to the hasher. */
void hasher_submit(struct hasher *h, size_t len);
/* Waits for every chunk to be hashed; the digest into out. */
int hasher_finish(struct hasher *h, char *out, struct barge_err *err) BARGE_MUST_CHECK;
/* Stops the thread and frees h; accepts NULL. */
void hasher_free(struct hasher *h);

/* --- BARGE.JSON and README.TXT (isowrite_text.c) ------------------------- */

/*
 * The sizes BARGE.JSON and README.TXT will have: each digest's text has the
 * same length whatever the bytes, so a placeholder digest gives them.
 */
int text_sizes(struct job *j, size_t *catalog, size_t *readme,
               struct barge_err *err) BARGE_MUST_CHECK;
/* Adds BARGE.JSON (catalog) or README.TXT of size bytes, written after every bundle. */
int add_text(IsoImage *img, struct job *j, int catalog, size_t size,
             struct barge_err *err) BARGE_MUST_CHECK;

/* --- the base image (isowrite_base.c) ------------------------------------ */

/*
 * Imports the base image into img; its boot records come with it (El
 * Torito catalog and system area).  *ds is set as soon as it exists, for the
 * caller to release.  *nboot counts the boot images, *parts tells whether
 * the system area has partitions.
 */
int import_base(IsoImage *img, const char *base, IsoDataSource **ds, int *nboot, int *parts,
                struct barge_err *err) BARGE_MUST_CHECK;

/* --- the output (isowrite_drain.c) --------------------------------------- */

/*
 * Drains libisofs' image stream bs into fd; *written becomes the image's
 * size.  Fails on a short image, a failed stream (as soon as it fails), a
 * stop request or any queued failure.
 */
int drain(struct burn_source *bs, int fd, const struct isowrite_opts *o, struct job *j,
          int64_t *written, struct barge_err *err) BARGE_MUST_CHECK;

#endif
