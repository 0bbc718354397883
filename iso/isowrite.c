/*
 * isowrite: an ISO 9660 image of bundles, written by libisofs from the
 * bundles' own files (see isowrite.h).
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
#define FIFO_BLOCKS      8192
#define FLUSH_EVERY      ((int64_t)16 * 1024 * 1024)
#define HASH_CHUNK       (1024 * 1024)
#define HASH_THREADS_MAX 4

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

/* The file's size and sha256, read as a stream. */
static int
hash_file(struct isowrite_bundle *b, struct barge_err *err)
{
	struct digest_ctx *d = NULL;
	unsigned char *buf = NULL;
	struct stat st;
	int64_t total = 0;
	ssize_t got;
	int fd = -1, rc;

	if ((fd = open(b->path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "open %s", b->path);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "stat %s", b->path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(err, BARGE_EINVAL, "%s: not a regular file", b->path);
		goto out;
	}
	/* The kernel reads ahead further when told the whole file goes by once. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((buf = malloc(HASH_CHUNK)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = digest_new(DIGEST_SHA256, &d, err)) != BARGE_OK)
		goto out;
	for (;;) {
		got = read(fd, buf, HASH_CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "read %s", b->path);
			goto out;
		}
		if (got == 0)
			break;
		if ((rc = digest_update(d, buf, (size_t)got, err)) != BARGE_OK)
			goto out;
		total += got;
	}
	if ((rc = digest_final(d, b->sha256, err)) != BARGE_OK)
		goto out;
	b->size = total;
out:
	digest_free(d);
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int
isowrite_describe(const char *path, struct isowrite_bundle *b, struct barge_err *err)
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
	if ((rc = read_meta(b, err)) != BARGE_OK || (rc = hash_file(b, err)) != BARGE_OK)
		goto fail;
	return BARGE_OK;
fail:
	isowrite_bundle_clear(b);
	return rc;
}

struct hash_job {
	const char *const *paths;
	struct isowrite_bundle *bs;
	struct barge_err *errs;
	int *rcs;
	size_t n, next;
	pthread_mutex_t mu;
};

static void *
hash_worker(void *arg)
{
	struct hash_job *j = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&j->mu);
		i = j->next++;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->n)
			return NULL;
		j->rcs[i] = isowrite_describe(j->paths[i], &j->bs[i], &j->errs[i]);
	}
}

/*
 * Describes every bundle, several at a time: hashing gigabytes is most of
 * the work barge iso adds to what libisofs does.  The first failure in the
 * bundles' order is the error.
 */
static int
describe_all(const char *const *paths, size_t n, struct isowrite_bundle *bs, struct barge_err *err)
{
	pthread_t th[HASH_THREADS_MAX];
	struct hash_job j = { .paths = paths, .bs = bs, .n = n };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nth = cpus > 1 ? (size_t)cpus : 1, started, i;
	int rc = BARGE_OK;

	if (nth > HASH_THREADS_MAX)
		nth = HASH_THREADS_MAX;
	if (nth > n)
		nth = n;
	if ((j.errs = calloc(n, sizeof(*j.errs))) == NULL ||
	    (j.rcs = calloc(n, sizeof(*j.rcs))) == NULL) {
		free(j.errs);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&j.mu, NULL);
	for (started = 0; started < nth; started++)
		if (pthread_create(&th[started], NULL, hash_worker, &j) != 0)
			break;
	/* Without threads, this one does all the work. */
	if (started == 0)
		hash_worker(&j);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j.mu);
	for (i = 0; i < n; i++)
		if (j.rcs[i] != BARGE_OK) {
			rc = err_set(err, j.rcs[i], "%s", j.errs[i].msg);
			break;
		}
	free(j.errs);
	free(j.rcs);
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

int
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

/* Adds a file whose content is the NUL-terminated text; takes ownership of text. */
static int
add_text(IsoImage *img, const char *name, char *text, int64_t mtime, struct barge_err *err)
{
	IsoStream *s = NULL;
	IsoFile *f = NULL;
	int rc;

	if ((rc = iso_memory_stream_new((unsigned char *)text, strlen(text), &s)) < 0) {
		free(text);
		return iso_err(err, rc, name);
	}
	if ((rc = iso_image_add_new_file(img, iso_image_get_root(img), name, s, &f)) < 0) {
		iso_stream_unref(s);
		return rc == (int)ISO_NODE_NAME_NOT_UNIQUE
		               ? err_set(err, BARGE_EEXIST, "the base image already has %s", name)
		               : iso_err(err, rc, name);
	}
	node_fix((IsoNode *)f, mtime, 0444);
	return BARGE_OK;
}

/* Imports the base image; its boot records come with it (El Torito catalog and system area). */
static int
import_base(IsoImage *img, const char *base, IsoDataSource **ds, int *nboot, struct barge_err *err)
{
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
	rc = BARGE_OK;
out:
	free(boots);
	free(bootnodes);
	if (feat != NULL)
		iso_read_image_features_destroy(feat);
	iso_read_opts_free(ro);
	return rc;
}

/* Whether a bundle is still the file that was hashed, after libisofs read it. */
static int
check_unchanged(const struct isowrite_bundle *b, const struct stat *before, struct barge_err *err)
{
	struct stat now;

	if (stat(b->path, &now) != 0)
		return err_sys(err, BARGE_EIO, errno, "stat %s", b->path);
	if (now.st_ino != before->st_ino || now.st_dev != before->st_dev ||
	    now.st_size != before->st_size || now.st_mtim.tv_sec != before->st_mtim.tv_sec ||
	    now.st_mtim.tv_nsec != before->st_mtim.tv_nsec)
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

/* Drains libisofs' image stream into fd; fails on a short image or any queued failure. */
static int
drain(struct burn_source *bs, int fd, const struct isowrite_opts *o, int64_t *written,
      struct barge_err *err)
{
	char msg[ISO_MSGS_MESSAGE_LEN], sev[80];
	unsigned char *buf;
	int64_t total = (int64_t)bs->get_size(bs), done = 0, flushed = 0;
	int code, imgid, got, want, rc = BARGE_OK;

	if ((buf = malloc(WRITE_CHUNK)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/*
	 * The ring buffer hands out whole requests only, or nothing at the end:
	 * ask for exactly what is left of the announced size in the last one.
	 */
	while (done < total) {
		want = total - done < WRITE_CHUNK ? (int)(total - done) : WRITE_CHUNK;
		got = bs->read_xt(bs, buf, want);
		if (got < 0) {
			rc = iso_err(err, got, "writing the image");
			goto out;
		}
		if (got == 0)
			break;
		if ((rc = fu_write_all(fd, buf, (size_t)got, err)) != BARGE_OK)
			goto out;
		done += got;
		/*
		 * Start writeback of each finished stretch now, as xorriso does with its
		 * stdio_sync: gigabytes of dirty pages would otherwise throttle the
		 * writes and leave all the work to the final fsync.
		 */
		if (done - flushed >= FLUSH_EVERY) {
			(void)sync_file_range(fd, flushed, done - flushed, SYNC_FILE_RANGE_WRITE);
			flushed = done;
		}
		if (o->bytes != NULL)
			o->bytes(o->progress_arg, done, total);
	}
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
	    (rc = iso_write_opts_set_pvd_times(*wo, t > 0 ? t : 1, t > 0 ? t : 1, 0, 0, uuid)) < 0)
		return iso_err(err, rc, "image options");
	/* A new image's own directories get mtime too; a base keeps its files' times. */
	if (!base && ((rc = iso_write_opts_set_replace_timestamps(*wo, 2)) < 0 ||
	              (rc = iso_write_opts_set_default_timestamp(*wo, t)) < 0))
		return iso_err(err, rc, "image options");
	return BARGE_OK;
}

int
isowrite_write(const char *output, const char *const *paths, size_t n,
               const struct isowrite_opts *o, struct isowrite_stats *st, struct barge_err *err)
{
	struct isowrite_bundle *bs = NULL;
	struct stat *before = NULL;
	IsoImage *img = NULL;
	IsoDataSource *ds = NULL;
	IsoWriteOpts *wo = NULL;
	IsoNode *node;
	struct burn_source *bsrc = NULL;
	const char *label = o->volume_label;
	char *catalog = NULL, *readme = NULL, *tmp = NULL, *abs = NULL;
	size_t i, k, len;
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
	/* Stat first: a change after this point, hashing included, fails the write. */
	for (i = 0; i < n; i++)
		if (stat(paths[i], &before[i]) != 0) {
			rc = err_sys(err, BARGE_EIO, errno, "stat %s", paths[i]);
			goto out;
		}
	say(o, "hashing", n == 1 ? paths[0] : "the bundles");
	if ((rc = describe_all(paths, n, bs, err)) != BARGE_OK)
		goto out;
	for (i = 0; i < n; i++) {
		for (k = 0; k < i; k++)
			if (strcmp(bs[k].file, bs[i].file) == 0) {
				rc = err_set(err, BARGE_EINVAL, "%s and %s: two bundles named %s",
				             bs[k].path, bs[i].path, bs[i].file);
				goto out;
			}
		st->bundle_bytes += bs[i].size;
	}

	if ((rc = iso_init()) < 0) {
		rc = err_set(err, BARGE_EINTERNAL, "libisofs: %s", iso_error_to_msg(rc));
		goto out;
	}
	inited = 1;
	/* Library code does not print: queue what matters and report it as the error. */
	iso_set_msgs_severities("SORRY", "NEVER", "barge");
	if ((rc = iso_image_new(label != NULL ? label : ISOWRITE_LABEL_DEFAULT, &img)) < 0) {
		rc = iso_err(err, rc, "new image");
		goto out;
	}
	/* ACLs and xattrs of the build host are not the disc's business. */
	iso_image_set_ignore_aclea(img, 3);
	if (o->base != NULL) {
		say(o, "reading", o->base);
		if ((rc = import_base(img, o->base, &ds, &nboot, err)) != BARGE_OK)
			goto out;
		if (label != NULL)
			iso_image_set_volume_id(img, label);
		else if ((label = iso_image_get_volume_id(img)) == NULL)
			label = "";
	} else {
		if (label == NULL)
			label = ISOWRITE_LABEL_DEFAULT;
		iso_image_set_application_id(img, "BARGE");
		node_fix((IsoNode *)iso_image_get_root(img), o->mtime, 0555);
	}

	for (i = 0; i < n; i++) {
		/* libisofs opens the file again when it writes it, and wants it absolute. */
		if ((abs = realpath(bs[i].path, NULL)) == NULL) {
			rc = err_sys(err, BARGE_EIO, errno, "realpath %s", bs[i].path);
			goto out;
		}
		rc = iso_tree_add_new_node(img, iso_image_get_root(img), bs[i].file, abs, &node);
		free(abs);
		abs = NULL;
		if (rc < 0) {
			rc = rc == (int)ISO_NODE_NAME_NOT_UNIQUE
			             ? err_set(err, BARGE_EEXIST, "the base image already has %s",
			                       bs[i].file)
			             : iso_err(err, rc, bs[i].path);
			goto out;
		}
		node_fix(node, o->mtime, 0444);
	}
	if ((rc = isowrite_catalog(bs, n, label, o->mtime, &catalog, &len, err)) != BARGE_OK)
		goto out;
	rc = add_text(img, ISOWRITE_CATALOG, catalog, o->mtime, err);
	catalog = NULL;
	if (rc != BARGE_OK)
		goto out;
	if ((readme = make_readme(bs, n, label)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	rc = add_text(img, ISOWRITE_README, readme, o->mtime, err);
	readme = NULL;
	if (rc != BARGE_OK)
		goto out;

	if ((rc = write_opts(&wo, o->mtime, o->base != NULL, err)) != BARGE_OK)
		goto out;
	/* Nothing queued so far is about the write: start its report clean. */
	msgs_clear();
	if ((tmp = fu_printf("%s.tmp-XXXXXX", output)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "create %s", tmp);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0644) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "chmod %s", tmp);
		goto out;
	}
	if ((rc = iso_image_create_burn_source(img, wo, &bsrc)) < 0) {
		bsrc = NULL;
		rc = iso_err(err, rc, "starting the image writer");
		goto out;
	}
	say(o, "writing", output);
	if ((rc = drain(bsrc, fd, o, &st->image_bytes, err)) != BARGE_OK)
		goto out;
	done = 1;
	for (i = 0; i < n; i++)
		if ((rc = check_unchanged(&bs[i], &before[i], err)) != BARGE_OK)
			goto out;
	if (fsync(fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", tmp);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = err_sys(err, BARGE_EIO, errno, "close %s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, output) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "rename %s to %s", tmp, output);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if ((rc = fu_fsync_dir_of(output, err)) != BARGE_OK)
		goto out;
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
	free(catalog);
	free(readme);
	return rc;
}
