/*
 * isowrite: an ISO 9660 image of bundles, written by libisofs from the
 * bundles' own files (see isowrite.h).  For one write it owns the libisofs
 * image and its ring buffer, the hashing threads that read each bundle as
 * libisofs does, BARGE.JSON and README.TXT, and the output file until it is
 * renamed (or linked, for O_TMPFILE) into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
/* The burn_source declaration comes with libisofs.h unless libburn.h provides it. */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "fileutil.h"
#include "isowrite.h"

#define BUNDLE_SUFFIX ".tar.zst"
/* Bytes per read from libisofs' ring buffer: whole 2 KiB blocks. */
#define WRITE_CHUNK (512 * 2048)
/* The ring buffer between libisofs' writer thread and us, in 2 KiB blocks (16 MiB). */
#define FIFO_BLOCKS 8192
#define FLUSH_EVERY ((int64_t)16 * 1024 * 1024)
/* O_DIRECT's alignment of buffers, offsets and lengths: the largest logical block in use. */
#define DIRECT_ALIGN 4096
/* Reads of a bundle while libisofs writes it (libisofs itself asks for 2 KiB at a time). */
#define READ_CHUNK (1024 * 1024)
/* Chunks read ahead of the hashing thread. */
#define HASH_BUFS 4
/* ECMA-119's system area, where boot records of hybrid images (MBR, GPT) live. */
#define SYSTEM_AREA 32768

/* One bundle as BARGE.JSON lists it. */
struct isowrite_bundle {
	char *path; /* on this host */
	char *file; /* the name in the image: path's last component */
	int64_t size;
	char sha256[DIGEST_STR_MAX];
	char *name;    /* barge.json's name */
	char *version; /* barge.json's version */
};

int
isowrite_label_check(const char *label, struct barge_err *err)
{
	size_t i, n = strlen(label);

	if (n == 0 || n > ISOWRITE_LABEL_MAX)
		return err_set(err, BARGE_EINVAL, "volume label \"%s\": want 1 to %d characters",
		               label, ISOWRITE_LABEL_MAX);
	for (i = 0; i < n; i++) {
		char c = label[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return err_set(err, BARGE_EINVAL,
			               "volume label \"%s\": only A-Z a-z 0-9 _ - . are allowed",
			               label);
	}
	return BARGE_OK;
}

/* Frees what a struct isowrite_bundle holds. */
static void
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

static void
format_time(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "1970-01-01T00:00:00Z");
}

/* BARGE.JSON for the bundles: new NUL-terminated text, caller frees. */
static int
isowrite_catalog(const struct isowrite_bundle *b, size_t n, const char *label, int64_t mtime,
                 char **out, size_t *len, struct barge_err *err)
{
	json_t *root, *arr;
	char created[32], *text;
	size_t i;

	format_time(mtime, created, sizeof(created));
	arr = json_array();
	root = json_pack("{s:i,s:s,s:s,s:o*}", "schemaVersion", 1, "volume", label, "created",
	                 created, "bundles", arr);
	if (root == NULL || arr == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:s,s:s}", "file", b[i].file,
		                                         "size", (json_int_t)b[i].size, "sha256",
		                                         b[i].sha256, "name", b[i].name, "version",
		                                         b[i].version)) != 0)
			goto nomem;
	if ((text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
		goto nomem;
	json_decref(root);
	*len = strlen(text);
	*out = text;
	return BARGE_OK;
nomem:
	json_decref(root);
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

static char *
make_readme(const struct isowrite_bundle *b, size_t n, const char *label)
{
	char *text = NULL, *next;
	size_t i;

	text = fu_printf(
	        "Barge install media \"%s\"\r\n"
	        "\r\n"
	        "This disc (or USB stick) carries container images for offline edge hosts,\r\n"
	        "packed as Barge bundles.  BARGE.JSON lists them with their sizes and sha256.\r\n"
	        "\r\n"
	        "To load them on a host running barged, insert the media and run\r\n"
	        "\r\n"
	        "    barged load /dev/sr0\r\n"
	        "\r\n"
	        "(or the device the media appears as, e.g. /dev/sdb), or copy the image file\r\n"
	        "and run\r\n"
	        "\r\n"
	        "    barged load media.iso\r\n"
	        "\r\n"
	        "Nothing needs to be mounted.  Every blob is checked against its digest\r\n"
	        "while it loads; a damaged disc is refused and the store stays unchanged.\r\n"
	        "\r\n"
	        "Bundles:\r\n",
	        label);
	for (i = 0; text != NULL && i < n; i++) {
		next = fu_printf("%s\r\n  %s\r\n    %s %s, %" PRId64 " bytes\r\n    %s\r\n", text,
		                 b[i].file, b[i].name, b[i].version, b[i].size, b[i].sha256);
		free(text);
		text = next;
	}
	return text;
}

/* The libisofs failure rc as an error, with the oldest queued message, which names the file. */
static int
iso_err(struct barge_err *err, int rc, const char *what)
{
	char msg[ISO_MSGS_MESSAGE_LEN], sev[80];
	int code, imgid;

	if (iso_obtain_msgs("SORRY", &code, &imgid, msg, sev) == 1)
		return err_set(err, BARGE_EIO, "%s: %s (%s)", what, iso_error_to_msg(rc), msg);
	return err_set(err, BARGE_EIO, "%s: %s", what, iso_error_to_msg(rc));
}

/* Discards libisofs' queued messages. */
static void
msgs_clear(void)
{
	char msg[ISO_MSGS_MESSAGE_LEN], sev[80];
	int code, imgid;

	(void)iso_obtain_msgs("NEVER", &code, &imgid, msg, sev);
}

static void
node_fix(IsoNode *node, int64_t mtime, mode_t mode)
{
	iso_node_set_mtime(node, (time_t)mtime);
	iso_node_set_atime(node, (time_t)mtime);
	iso_node_set_ctime(node, (time_t)mtime);
	iso_node_set_uid(node, 0);
	iso_node_set_gid(node, 0);
	iso_node_set_permissions(node, mode);
}

/*
 * Whether the system area (the first 32 KiB) holds partitions: MBR entries
 * (bytes 446 to 509 under the 0x55AA signature) or a GPT header (block 1).
 * libisofs writes a loaded system area back as it was, so its partitions
 * keep the base's offsets and size while the files move.
 */
static int
has_partitions(const unsigned char *sa)
{
	size_t i;

	if (memcmp(sa + 512, "EFI PART", 8) == 0)
		return 1;
	if (sa[510] != 0x55 || sa[511] != 0xAA)
		return 0;
	for (i = 446; i < 510; i++)
		if (sa[i] != 0)
			return 1;
	return 0;
}

/*
 * Imports the base image; its boot records come with it (El Torito catalog
 * and system area).  *parts tells whether the system area has partitions.
 */
static int
import_base(IsoImage *img, const char *base, IsoDataSource **ds, int *nboot, int *parts,
            struct barge_err *err)
{
	char *sa = NULL;
	int i, opts, options;
	IsoReadOpts *ro = NULL;
	IsoReadImageFeatures *feat = NULL;
	ElToritoBootImage **boots = NULL;
	IsoFile **bootnodes = NULL;
	int rc;

	if ((rc = iso_data_source_new_from_file(base, ds)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	if ((rc = iso_read_opts_new(&ro, 0)) < 0 ||
	    (rc = iso_read_opts_load_system_area(ro, 1)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	if ((rc = iso_image_import(img, *ds, ro, &feat)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	*nboot = 0;
	if ((rc = iso_image_get_all_boot_imgs(img, nboot, &boots, &bootnodes, 0)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	/*
	 * A boot info table (mkisofs -boot-info-table, which ISOLINUX needs) or
	 * GRUB2's boot info holds the boot image's own block address, which the
	 * new image changes: libisofs writes them anew when told they are there.
	 */
	for (i = 0; i < *nboot; i++) {
		opts = el_torito_get_isolinux_options(boots[i], 0);
		if (el_torito_seems_boot_info_table(boots[i], 0) == 1)
			opts |= 1;
		if (el_torito_seems_boot_info_table(boots[i], 1) == 1)
			opts |= 1 << 9;
		if ((rc = el_torito_set_isolinux_options(boots[i], opts, 0)) < 0) {
			rc = iso_err(err, rc, base);
			goto out;
		}
	}
	if ((sa = malloc(SYSTEM_AREA)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = iso_image_get_system_area(img, sa, &options, 0)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	*parts = rc == 1 && has_partitions((const unsigned char *)sa);
	rc = BARGE_OK;
out:
	free(sa);
	free(boots);
	free(bootnodes);
	if (feat != NULL)
		iso_read_image_features_destroy(feat);
	iso_read_opts_free(ro);
	return rc;
}

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

/* Keeps the first failure; returns iso_rc, the libisofs code the stream reports. */
static int
job_fail(struct job *j, const struct barge_err *e, int iso_rc)
{
	pthread_mutex_lock(&j->mu);
	if (j->rc == BARGE_OK) {
		j->rc = e->code;
		j->err = *e;
	}
	pthread_mutex_unlock(&j->mu);
	return iso_rc;
}

/* BARGE_OK, or the first failure of a stream into err. */
static int
job_status(struct job *j, struct barge_err *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	if ((rc = j->rc) != BARGE_OK)
		err_set(err, rc, "%s", j->err.msg);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* Streams of this module tell libisofs their own ids: no two are the same file. */
#define STREAM_FS_ID 0x42524745u

static int
stream_is_repeatable(IsoStream *stream)
{
	(void)stream;
	return 1;
}

/* A new IsoStream of class holding data, or NULL when out of memory (data stays the caller's). */
static IsoStream *
stream_new(IsoStreamIface *class, void *data)
{
	IsoStream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->class = class;
	s->refcount = 1;
	s->data = data;
	return s;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Hashes the chunks a bundle stream reads, in a thread of its own: sha256
 * is most of the work of libisofs' writer thread otherwise, and beside it
 * the reads, libisofs and the disk go on.  The stream fills the chunks in
 * turn and fills one again only once it was hashed.
 */
struct hasher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	struct digest_ctx *d;
	unsigned char *buf[HASH_BUFS];
	size_t len[HASH_BUFS];
	uint64_t filled, hashed; /* chunks */
	int stop, rc;
	struct barge_err err;
};

static void *
hasher_main(void *arg)
{
	struct hasher *h = arg;
	struct barge_err e;
	size_t k;
	int rc;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (h->hashed == h->filled && !h->stop)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->hashed == h->filled)
			break;
		k = h->hashed % HASH_BUFS;
		/* After a failure, chunks are only taken, so that the stream never waits in vain.
		 */
		rc = h->rc;
		pthread_mutex_unlock(&h->mu);
		if (rc == BARGE_OK)
			rc = digest_update(h->d, h->buf[k], h->len[k], &e);
		pthread_mutex_lock(&h->mu);
		if (rc != BARGE_OK && h->rc == BARGE_OK) {
			h->rc = rc;
			h->err = e;
		}
		h->hashed++;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static void
hasher_free(struct hasher *h)
{
	size_t k;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->th, NULL);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	digest_free(h->d);
	for (k = 0; k < HASH_BUFS; k++)
		free(h->buf[k]);
	free(h);
}

static int
hasher_new(struct hasher **out, struct barge_err *err)
{
	struct hasher *h = calloc(1, sizeof(*h));
	size_t k;
	int rc;

	if (h == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (k = 0; k < HASH_BUFS; k++)
		if ((h->buf[k] = malloc(READ_CHUNK)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto fail;
		}
	if ((rc = digest_new(DIGEST_SHA256, &h->d, err)) != BARGE_OK)
		goto fail;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if ((rc = pthread_create(&h->th, NULL, hasher_main, h)) != 0) {
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mu);
		rc = err_sys(err, BARGE_EINTERNAL, rc, "starting a thread");
		goto fail;
	}
	*out = h;
	return BARGE_OK;
fail:
	digest_free(h->d);
	for (k = 0; k < HASH_BUFS; k++)
		free(h->buf[k]);
	free(h);
	return rc;
}

/* The chunk to fill next, once the hasher is done with what it held. */
static unsigned char *
hasher_next(struct hasher *h)
{
	unsigned char *buf;

	pthread_mutex_lock(&h->mu);
	while (h->filled - h->hashed >= HASH_BUFS)
		pthread_cond_wait(&h->cv, &h->mu);
	buf = h->buf[h->filled % HASH_BUFS];
	pthread_mutex_unlock(&h->mu);
	return buf;
}

/* Hands the chunk hasher_next gave, filled with len bytes, to the hasher. */
static void
hasher_submit(struct hasher *h, size_t len)
{
	pthread_mutex_lock(&h->mu);
	h->len[h->filled % HASH_BUFS] = len;
	h->filled++;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Waits for every chunk to be hashed; the digest into out. */
static int
hasher_finish(struct hasher *h, char *out, struct barge_err *err)
{
	int rc;

	pthread_mutex_lock(&h->mu);
	while (h->hashed != h->filled && h->rc == BARGE_OK)
		pthread_cond_wait(&h->cv, &h->mu);
	if ((rc = h->rc) != BARGE_OK)
		err_set(err, rc, "%s", h->err.msg);
	pthread_mutex_unlock(&h->mu);
	return rc != BARGE_OK ? rc : digest_final(h->d, out, err);
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

/* BARGE.JSON or README.TXT, rendered when libisofs opens it, after every bundle was read. */
struct text_stream {
	struct job *job;
	int catalog; /* BARGE.JSON, else README.TXT */
	ino_t ino;
	size_t size; /* announced */
	char *text;
	size_t off;
};

/* The text for the job's bundles as they are now. */
static int
text_render(const struct job *j, int catalog, char **out, size_t *len, struct barge_err *err)
{
	char *text;

	if (catalog)
		return isowrite_catalog(j->bs, j->n, j->label, j->mtime, out, len, err);
	if ((text = make_readme(j->bs, j->n, j->label)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*len = strlen(text);
	*out = text;
	return BARGE_OK;
}

static int
text_open(IsoStream *stream)
{
	struct text_stream *s = stream->data;
	struct job *j = s->job;
	const char *name = s->catalog ? ISOWRITE_CATALOG : ISOWRITE_README;
	struct barge_err e;
	size_t i, len;
	int prior, rc;

	free(s->text);
	s->text = NULL;
	s->off = 0;
	pthread_mutex_lock(&j->mu);
	rc = prior = j->rc;
	for (i = 0; rc == BARGE_OK && i < j->n; i++)
		if (j->bs[i].sha256[0] == '\0')
			rc = err_set(&e, BARGE_EINTERNAL, "%s was due before %s was read", name,
			             j->bs[i].path);
	if (rc == BARGE_OK && (rc = text_render(j, s->catalog, &s->text, &len, &e)) == BARGE_OK &&
	    len != s->size)
		rc = err_set(&e, BARGE_EINTERNAL, "%s: %zu bytes, not the %zu announced", name, len,
		             s->size);
	pthread_mutex_unlock(&j->mu);
	if (rc == BARGE_OK)
		return ISO_SUCCESS;
	free(s->text);
	s->text = NULL;
	/* A bundle's failure is already the job's. */
	if (prior != BARGE_OK)
		return (int)ISO_FILE_ERROR;
	return job_fail(j, &e, (int)ISO_FILE_ERROR);
}

static int
text_read(IsoStream *stream, void *buf, size_t count)
{
	struct text_stream *s = stream->data;
	size_t k;

	if (s->text == NULL)
		return (int)ISO_FILE_NOT_OPENED;
	k = s->size - s->off < count ? s->size - s->off : count;
	memcpy(buf, s->text + s->off, k);
	s->off += k;
	return (int)k;
}

static int
text_close(IsoStream *stream)
{
	struct text_stream *s = stream->data;

	free(s->text);
	s->text = NULL;
	return ISO_SUCCESS;
}

static off_t
text_get_size(IsoStream *stream)
{
	struct text_stream *s = stream->data;

	return (off_t)s->size;
}

static void
text_get_id(IsoStream *stream, unsigned int *fs_id, dev_t *dev_id, ino_t *ino_id)
{
	struct text_stream *s = stream->data;

	*fs_id = STREAM_FS_ID;
	*dev_id = 0;
	*ino_id = s->ino;
}

static void
text_free(IsoStream *stream)
{
	struct text_stream *s = stream->data;

	free(s->text);
	free(s);
}

static IsoStreamIface text_class = {
	.version = 0,
	.type = { 'u', 's', 'e', 'r' },
	.open = text_open,
	.close = text_close,
	.get_size = text_get_size,
	.read = text_read,
	.is_repeatable = stream_is_repeatable,
	.get_id = text_get_id,
	.free = text_free,
};

/*
 * Adds the file name with stream's content to the root, dated mtime and
 * written at sort weight (higher first); takes the reference to stream.
 */
static int
add_stream(IsoImage *img, const char *name, IsoStream *stream, int weight, int64_t mtime,
           struct barge_err *err)
{
	IsoFile *f = NULL;
	int rc;

	if ((rc = iso_image_add_new_file(img, iso_image_get_root(img), name, stream, &f)) < 0) {
		iso_stream_unref(stream);
		return rc == (int)ISO_NODE_NAME_NOT_UNIQUE
		               ? err_set(err, BARGE_EEXIST, "the base image already has %s", name)
		               : iso_err(err, rc, name);
	}
	node_fix((IsoNode *)f, mtime, 0444);
	iso_node_set_sort_weight((IsoNode *)f, weight);
	return BARGE_OK;
}

static int
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

/* Adds BARGE.JSON or README.TXT of size bytes, written after every bundle. */
static int
add_text(IsoImage *img, struct job *j, int catalog, size_t size, struct barge_err *err)
{
	struct text_stream *s;
	IsoStream *stream;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	s->job = j;
	s->catalog = catalog;
	s->ino = (ino_t)j->n + (catalog ? 1 : 2);
	s->size = size;
	if ((stream = stream_new(&text_class, s)) == NULL) {
		free(s);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	return add_stream(img, catalog ? ISOWRITE_CATALOG : ISOWRITE_README, stream,
	                  catalog ? -1 : -2, j->mtime, err);
}

/*
 * The sizes BARGE.JSON and README.TXT will have: each digest's text has the
 * same length whatever the bytes, so a placeholder digest gives them.
 */
static int
text_sizes(struct job *j, size_t *catalog, size_t *readme, struct barge_err *err)
{
	char *text = NULL;
	size_t i;
	int rc, k;

	for (i = 0; i < j->n; i++) {
		k = snprintf(j->bs[i].sha256, sizeof(j->bs[i].sha256), "sha256:%064d", 0);
		if (k < 0 || (size_t)k >= sizeof(j->bs[i].sha256))
			return err_set(err, BARGE_EINTERNAL, "digest placeholder");
	}
	if ((rc = text_render(j, 1, &text, catalog, err)) != BARGE_OK)
		goto out;
	free(text);
	text = NULL;
	rc = text_render(j, 0, &text, readme, err);
out:
	free(text);
	for (i = 0; i < j->n; i++)
		j->bs[i].sha256[0] = '\0';
	return rc;
}

/* Whether a bundle is still the file the write began with, after libisofs read it. */
static int
check_unchanged(const struct isowrite_bundle *b, const struct stat *before, struct barge_err *err)
{
	struct stat now;

	if (stat(b->path, &now) != 0)
		return err_sys(err, BARGE_EIO, errno, "stat %s", b->path);
	if (!same_file(&now, before))
		return err_set(err, BARGE_EIO, "%s changed while the image was written", b->path);
	return BARGE_OK;
}

static void
say(const struct isowrite_opts *o, const char *what, const char *arg)
{
	char *msg;

	if (o->progress == NULL || (msg = fu_printf("%s %s", what, arg)) == NULL)
		return;
	o->progress(o->progress_arg, msg);
	free(msg);
}

/* BARGE_EIO "stopped" once the caller asked the write to stop. */
static int
check_stop(const struct isowrite_opts *o, struct barge_err *err)
{
	if (o->stop != NULL && *o->stop != 0)
		return err_set(err, BARGE_EIO, "stopped before the image was complete");
	return BARGE_OK;
}

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
static int
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

/* The options that make the image level 3 with Rock Ridge and Joliet, dated mtime. */
static int
write_opts(IsoWriteOpts **wo, int64_t mtime, int base, struct barge_err *err)
{
	char uuid[32];
	time_t t = (time_t)mtime;
	struct tm tm;
	int rc;

	if (gmtime_r(&t, &tm) == NULL || strftime(uuid, sizeof(uuid), "%Y%m%d%H%M%S00", &tm) != 16)
		return err_set(err, BARGE_EINVAL, "timestamp %" PRId64 " out of range", mtime);
	if ((rc = iso_write_opts_new(wo, 0)) < 0)
		return iso_err(err, rc, "image options");
	/*
	 * The uuid fixes the volume's creation and modification dates; without
	 * it libisofs would write the time of the write.  mtime 0 means "now" to
	 * libisofs, hence the 1 (the uuid overrides it anyway).
	 */
	if ((rc = iso_write_opts_set_iso_level(*wo, 3)) < 0 ||
	    (rc = iso_write_opts_set_rockridge(*wo, 1)) < 0 ||
	    (rc = iso_write_opts_set_joliet(*wo, 1)) < 0 ||
	    (rc = iso_write_opts_set_joliet_long_names(*wo, 1)) < 0 ||
	    (rc = iso_write_opts_set_always_gmt(*wo, 1)) < 0 ||
	    (rc = iso_write_opts_set_dir_rec_mtime(*wo, 3)) < 0 ||
	    (rc = iso_write_opts_set_appendable(*wo, 0)) < 0 ||
	    (rc = iso_write_opts_set_fifo_size(*wo, FIFO_BLOCKS)) < 0 ||
	    (rc = iso_write_opts_set_sort_files(*wo, 1)) < 0 ||
	    (rc = iso_write_opts_set_pvd_times(*wo, t > 0 ? t : 1, t > 0 ? t : 1, 0, 0, uuid)) < 0)
		return iso_err(err, rc, "image options");
	/* A new image's own directories get mtime too; a base keeps its files' times. */
	if (!base && ((rc = iso_write_opts_set_replace_timestamps(*wo, 2)) < 0 ||
	              (rc = iso_write_opts_set_default_timestamp(*wo, t)) < 0))
		return iso_err(err, rc, "image options");
	return BARGE_OK;
}

/*
 * Stats the n bundles at paths into before (a change after this fails the
 * write), reads each one's barge.json into bs and checks that their names
 * in the image differ.
 */
static int
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

/*
 * The image the bundles are added to: o->base's files and boot records, or
 * an empty one.  *label becomes the volume id in use.  *img and *ds are set
 * as soon as they exist, for the caller to release even on failure.
 */
static int
new_image(const struct isowrite_opts *o, IsoImage **img, IsoDataSource **ds, const char **label,
          int *nboot, int *base_partitions, struct barge_err *err)
{
	int rc;

	if ((rc = iso_image_new(*label != NULL ? *label : ISOWRITE_LABEL_DEFAULT, img)) < 0)
		return iso_err(err, rc, "new image");
	/* ACLs and xattrs of the build host are not the disc's business. */
	iso_image_set_ignore_aclea(*img, 3);
	if (o->base != NULL) {
		say(o, "reading", o->base);
		if ((rc = import_base(*img, o->base, ds, nboot, base_partitions, err)) != BARGE_OK)
			return rc;
		if (*label != NULL)
			iso_image_set_volume_id(*img, *label);
		else if ((*label = iso_image_get_volume_id(*img)) == NULL)
			*label = "";
	} else {
		if (*label == NULL)
			*label = ISOWRITE_LABEL_DEFAULT;
		iso_image_set_application_id(*img, "BARGE");
		node_fix((IsoNode *)iso_image_get_root(*img), o->mtime, 0555);
	}
	return BARGE_OK;
}

int
isowrite_write(const char *output, const char *const *paths, size_t n,
               const struct isowrite_opts *o, struct isowrite_stats *st, struct barge_err *err)
{
	struct job job = { .mu = PTHREAD_MUTEX_INITIALIZER, .mtime = o->mtime, .n = n };
	struct isowrite_bundle *bs = NULL;
	struct stat *before = NULL;
	IsoImage *img = NULL;
	IsoDataSource *ds = NULL;
	IsoWriteOpts *wo = NULL;
	struct burn_source *bsrc = NULL;
	const char *label = o->volume_label;
	char *tmp = NULL;
	size_t i, catalog_size, readme_size;
	int fd = -1, inited = 0, nboot = 0, done = 0, rc;

	memset(st, 0, sizeof(*st));
	if (n == 0 || n > ISOWRITE_BUNDLES_MAX)
		return err_set(err, BARGE_EINVAL, "want 1 to %d bundles, not %zu",
		               ISOWRITE_BUNDLES_MAX, n);
	if (label != NULL && (rc = isowrite_label_check(label, err)) != BARGE_OK)
		return rc;
	if ((bs = calloc(n, sizeof(*bs))) == NULL ||
	    (before = calloc(n, sizeof(*before))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = describe_bundles(paths, n, bs, before, st, err)) != BARGE_OK)
		goto out;

	if ((rc = iso_init()) < 0) {
		rc = err_set(err, BARGE_EINTERNAL, "libisofs: %s", iso_error_to_msg(rc));
		goto out;
	}
	inited = 1;
	/* Library code does not print: queue what matters and report it as the error. */
	iso_set_msgs_severities("SORRY", "NEVER", "barge");
	if ((rc = new_image(o, &img, &ds, &label, &nboot, &st->base_partitions, err)) != BARGE_OK)
		goto out;

	job.bs = bs;
	job.before = before;
	job.label = label;
	for (i = 0; i < n; i++)
		if ((rc = add_bundle(img, &job, i, err)) != BARGE_OK)
			goto out;
	if ((rc = text_sizes(&job, &catalog_size, &readme_size, err)) != BARGE_OK ||
	    (rc = add_text(img, &job, 1, catalog_size, err)) != BARGE_OK ||
	    (rc = add_text(img, &job, 0, readme_size, err)) != BARGE_OK)
		goto out;

	if ((rc = write_opts(&wo, o->mtime, o->base != NULL, err)) != BARGE_OK)
		goto out;
	/* Nothing queued so far is about the write: start its report clean. */
	msgs_clear();
	if ((rc = fu_out_create(output, 0644, &fd, &tmp, err)) != BARGE_OK)
		goto out;
	if ((rc = iso_image_create_burn_source(img, wo, &bsrc)) < 0) {
		bsrc = NULL;
		rc = iso_err(err, rc, "starting the image writer");
		goto out;
	}
	say(o, "writing", output);
	if ((rc = drain(bsrc, fd, o, &job, &st->image_bytes, err)) != BARGE_OK)
		goto out;
	done = 1;
	for (i = 0; i < n; i++)
		if ((rc = check_unchanged(&bs[i], &before[i], err)) != BARGE_OK)
			goto out;
	if (fsync(fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", output);
		goto out;
	}
	/* The last moment a stop request keeps output as it was. */
	if ((rc = check_stop(o, err)) != BARGE_OK ||
	    (rc = fu_out_publish(fd, &tmp, output, err)) != BARGE_OK)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		rc = err_sys(err, BARGE_EIO, errno, "close %s", output);
		goto out;
	}
	fd = -1;
	st->nbundles = n;
	st->boot_images = nboot;
	rc = BARGE_OK;
out:
	if (bsrc != NULL) {
		/* Stops libisofs' writer thread when the image was not read to its end. */
		if (!done)
			bsrc->cancel(bsrc);
		bsrc->free_data(bsrc);
		free(bsrc);
	}
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	iso_write_opts_free(wo);
	if (img != NULL)
		iso_image_unref(img);
	if (ds != NULL)
		iso_data_source_unref(ds);
	if (inited)
		iso_finish();
	for (i = 0; bs != NULL && i < n; i++)
		isowrite_bundle_clear(&bs[i]);
	free(bs);
	free(before);
	pthread_mutex_destroy(&job.mu);
	return rc;
}
