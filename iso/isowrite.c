/*
 * isowrite: an ISO 9660 image of bundles, written by libisofs from the
 * bundles' own files (see isowrite.h).  For one write it owns the libisofs
 * image and its options, the job the streams report to, and the output file
 * until it is renamed (or linked, for O_TMPFILE) into place.  The bundles,
 * their hashing, the texts, the base image and the drain into the output
 * are the other isowrite_*.c files' (isowrite_int.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "isowrite_int.h"

/* The ring buffer between libisofs' writer thread and us, in 2 KiB blocks (16 MiB). */
#define FIFO_BLOCKS 8192

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

/* The libisofs failure rc as an error, with the oldest queued message, which names the file. */
int
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

void
node_fix(IsoNode *node, int64_t mtime, mode_t mode)
{
	iso_node_set_mtime(node, (time_t)mtime);
	iso_node_set_atime(node, (time_t)mtime);
	iso_node_set_ctime(node, (time_t)mtime);
	iso_node_set_uid(node, 0);
	iso_node_set_gid(node, 0);
	iso_node_set_permissions(node, mode);
}

/* Keeps the first failure; returns iso_rc, the libisofs code the stream reports. */
int
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
int
job_status(struct job *j, struct barge_err *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	if ((rc = j->rc) != BARGE_OK)
		err_set(err, rc, "%s", j->err.msg);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int
stream_is_repeatable(IsoStream *stream)
{
	(void)stream;
	return 1;
}

/* A new IsoStream of class holding data, or NULL when out of memory (data stays the caller's). */
IsoStream *
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

/*
 * Adds the file name with stream's content to the root, dated mtime and
 * written at sort weight (higher first); takes the reference to stream.
 */
int
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
int
check_stop(const struct isowrite_opts *o, struct barge_err *err)
{
	if (o->stop != NULL && *o->stop != 0)
		return err_set(err, BARGE_EIO, "stopped before the image was complete");
	return BARGE_OK;
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
