/*
 * isowrite_bundle: the bundles of an image (see isowrite_int.h): each one
 * named and described from its barge.json before the write, then read by
 * libisofs through a stream of ours, in large reads hashed on the way, and
 * checked to be the same file throughout.  A stream owns its file
 * descriptor and its hasher while libisofs has it open.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "isowrite_int.h"

#define BUNDLE_SUFFIX ".tar.zst"

/* Frees what a struct isowrite_bundle holds. */
void
isowrite_bundle_clear(struct isowrite_bundle *b)
{
	if (b == NULL)
		return;
	free(b->path);
	free(b->file);
	free(b->name);
	free(b->version);
	memset(b, 0, sizeof(*b));
}

/* Reads barge.json, the first entry, for the name and version BARGE.JSON repeats. */
static int
read_meta(struct isowrite_bundle *b, struct barge_err *err)
{
	struct bundle_reader *r = NULL;
	struct bundle_meta *m = NULL;
	const char *name;
	char *buf = NULL;
	size_t len;
	int64_t size;
	int rc;

	if ((rc = bundle_reader_open(b->path, &r, err)) != BARGE_OK)
		goto out;
	if ((rc = bundle_reader_next(r, &name, &size, err)) < 0)
		goto out;
	if (rc == BUNDLE_EOF || strcmp(name, "barge.json") != 0) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: not a bundle: barge.json is not its first entry", b->path);
		goto out;
	}
	if ((rc = bundle_reader_slurp(r, BUNDLE_META_MAX, &buf, &len, err)) != BARGE_OK ||
	    (rc = bundle_meta_parse(b->path, buf, len, &m, err)) != BARGE_OK)
		goto out;
	if ((b->name = strdup(m->name)) == NULL || (b->version = strdup(m->version)) == NULL)
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
out:
	bundle_meta_free(m);
	free(buf);
	bundle_reader_free(r);
	return rc;
}

/* Names the bundle and reads its barge.json; b->size and b->sha256 stay unset. */
static int
describe_meta(const char *path, struct isowrite_bundle *b, struct barge_err *err)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;
	size_t n = strlen(base), s = strlen(BUNDLE_SUFFIX);
	int rc;

	memset(b, 0, sizeof(*b));
	/* The loader takes *.tar.zst from an image; anything else would ride along unseen. */
	if (n <= s || strcmp(base + n - s, BUNDLE_SUFFIX) != 0)
		return err_set(err, BARGE_EINVAL, "%s: a bundle's name ends in %s", path,
		               BUNDLE_SUFFIX);
	if ((b->path = strdup(path)) == NULL || (b->file = strdup(base)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = read_meta(b, err)) != BARGE_OK)
		goto fail;
	return BARGE_OK;
fail:
	isowrite_bundle_clear(b);
	return rc;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * A bundle as libisofs reads it: from the file, in large reads, hashed on
 * the way, so each byte is read once.  The file must still be the one the
 * write began with, to its last byte.
 */
struct bundle_stream {
	struct job *job;
	size_t i;
	ino_t ino;
	int fd;
	struct hasher *h;
	unsigned char *buf; /* the hasher's chunk being handed out */
	size_t have, off;   /* bytes in buf, bytes of them handed out */
	int64_t done;       /* bytes read from the file */
};

static void
bundle_release(struct bundle_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	hasher_free(s->h);
	s->h = NULL;
	s->buf = NULL;
	s->have = s->off = 0;
}

static int
bundle_open(IsoStream *stream)
{
	struct bundle_stream *s = stream->data;
	const struct isowrite_bundle *b = &s->job->bs[s->i];
	struct barge_err e;
	struct stat now;

	bundle_release(s);
	s->done = 0;
	if ((s->fd = open(b->path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(&e, BARGE_EIO, errno, "open %s", b->path);
		goto fail;
	}
	if (fstat(s->fd, &now) != 0) {
		err_sys(&e, BARGE_EIO, errno, "stat %s", b->path);
		goto fail;
	}
	if (!same_file(&now, &s->job->before[s->i])) {
		err_set(&e, BARGE_EIO, "%s changed while the image was written", b->path);
		goto fail;
	}
	/* The kernel reads ahead further when told the whole file goes by once. */
	(void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (hasher_new(&s->h, &e) != BARGE_OK)
		goto fail;
	return ISO_SUCCESS;
fail:
	bundle_release(s);
	return job_fail(s->job, &e, (int)ISO_FILE_ERROR);
}

/* Refills buf from the file: 0 when the announced size was read, 1, or a libisofs error. */
static int
bundle_fill(struct bundle_stream *s)
{
	const struct isowrite_bundle *b = &s->job->bs[s->i];
	struct barge_err e;
	size_t want = b->size - s->done < READ_CHUNK ? (size_t)(b->size - s->done) : READ_CHUNK;
	ssize_t got;

	if (want == 0)
		return 0;
	s->buf = hasher_next(s->h);
	s->have = s->off = 0;
	do
		got = read(s->fd, s->buf, want);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		err_sys(&e, BARGE_EIO, errno, "read %s", b->path);
		return job_fail(s->job, &e, (int)ISO_FILE_READ_ERROR);
	}
	if (got == 0) {
		err_set(&e, BARGE_EIO,
		        "%s changed while the image was written: it ends after %" PRId64
		        " of %" PRId64 " bytes",
		        b->path, s->done, b->size);
		return job_fail(s->job, &e, (int)ISO_FILE_READ_ERROR);
	}
	hasher_submit(s->h, (size_t)got);
	s->have = (size_t)got;
	s->off = 0;
	s->done += got;
	return 1;
}

static int
bundle_read(IsoStream *stream, void *buf, size_t count)
{
	struct bundle_stream *s = stream->data;
	size_t copied = 0, k;
	int rc;

	if (s->fd < 0)
		return (int)ISO_FILE_NOT_OPENED;
	/* libisofs asks for 2 KiB at a time; the file is read in READ_CHUNK pieces. */
	while (copied < count) {
		if (s->off == s->have) {
			if ((rc = bundle_fill(s)) < 0)
				return rc;
			if (rc == 0)
				break;
		}
		k = s->have - s->off < count - copied ? s->have - s->off : count - copied;
		memcpy((unsigned char *)buf + copied, s->buf + s->off, k);
		s->off += k;
		copied += k;
	}
	return (int)copied;
}

static int
bundle_close(IsoStream *stream)
{
	struct bundle_stream *s = stream->data;
	struct isowrite_bundle *b = &s->job->bs[s->i];
	char sha[DIGEST_STR_MAX], extra;
	struct barge_err e;
	ssize_t got;
	int rc = BARGE_OK;

	if (s->fd < 0)
		return (int)ISO_FILE_NOT_OPENED;
	/* Only a bundle read to its end has a digest; an early close follows a failure. */
	if (s->done == b->size) {
		/* A file that grew would be cut short in the image without a word. */
		do
			got = read(s->fd, &extra, 1);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			rc = err_sys(&e, BARGE_EIO, errno, "read %s", b->path);
		else if (got > 0)
			rc = err_set(&e, BARGE_EIO,
			             "%s changed while the image was written: it grew past %" PRId64
			             " bytes",
			             b->path, b->size);
		else
			rc = hasher_finish(s->h, sha, &e);
	}
	bundle_release(s);
	if (rc != BARGE_OK)
		return job_fail(s->job, &e, (int)ISO_FILE_READ_ERROR);
	if (s->done == b->size) {
		pthread_mutex_lock(&s->job->mu);
		memcpy(b->sha256, sha, sizeof(b->sha256));
		pthread_mutex_unlock(&s->job->mu);
	}
	return ISO_SUCCESS;
}

static off_t
bundle_get_size(IsoStream *stream)
{
	struct bundle_stream *s = stream->data;

	return (off_t)s->job->bs[s->i].size;
}

static void
bundle_get_id(IsoStream *stream, unsigned int *fs_id, dev_t *dev_id, ino_t *ino_id)
{
	struct bundle_stream *s = stream->data;

	*fs_id = STREAM_FS_ID;
	*dev_id = 0;
	*ino_id = s->ino;
}

static void
bundle_free(IsoStream *stream)
{
	struct bundle_stream *s = stream->data;

	bundle_release(s);
	free(s);
}

/* Version 0: none of the later methods (sizes that change, filters, clones) applies. */
static IsoStreamIface bundle_class = {
	.version = 0,
	.type = { 'u', 's', 'e', 'r' },
	.open = bundle_open,
	.close = bundle_close,
	.get_size = bundle_get_size,
	.read = bundle_read,
	.is_repeatable = stream_is_repeatable,
	.get_id = bundle_get_id,
	.free = bundle_free,
};

int
add_bundle(IsoImage *img, struct job *j, size_t i, struct barge_err *err)
{
	struct bundle_stream *s;
	IsoStream *stream;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	s->job = j;
	s->i = i;
	s->ino = (ino_t)i + 1;
	s->fd = -1;
	if ((stream = stream_new(&bundle_class, s)) == NULL) {
		free(s);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	/* In the order given, before anything else (BARGE.JSON lists them). */
	return add_stream(img, j->bs[i].file, stream, (int)(j->n - i), j->mtime, err);
}

/* Whether a bundle is still the file the write began with, after libisofs read it. */
int
check_unchanged(const struct isowrite_bundle *b, const struct stat *before, struct barge_err *err)
{
	struct stat now;

	if (stat(b->path, &now) != 0)
		return err_sys(err, BARGE_EIO, errno, "stat %s", b->path);
	if (!same_file(&now, before))
		return err_set(err, BARGE_EIO, "%s changed while the image was written", b->path);
	return BARGE_OK;
}

/*
 * Stats the n bundles at paths into before (a change after this fails the
 * write), reads each one's barge.json into bs and checks that their names
 * in the image differ.
 */
int
describe_bundles(const char *const *paths, size_t n, struct isowrite_bundle *bs,
                 struct stat *before, struct isowrite_stats *st, struct barge_err *err)
{
	size_t i, k;
	int rc;

	for (i = 0; i < n; i++) {
		if (stat(paths[i], &before[i]) != 0)
			return err_sys(err, BARGE_EIO, errno, "stat %s", paths[i]);
		if (!S_ISREG(before[i].st_mode))
			return err_set(err, BARGE_EINVAL, "%s: not a regular file", paths[i]);
	}
	for (i = 0; i < n; i++) {
		if ((rc = describe_meta(paths[i], &bs[i], err)) != BARGE_OK)
			return rc;
		bs[i].size = (int64_t)before[i].st_size;
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < i; k++)
			if (strcmp(bs[k].file, bs[i].file) == 0)
				return err_set(err, BARGE_EINVAL, "%s and %s: two bundles named %s",
				               bs[k].path, bs[i].path, bs[i].file);
		st->bundle_bytes += bs[i].size;
	}
	return BARGE_OK;
}
