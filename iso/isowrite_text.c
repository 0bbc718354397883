/*
 * isowrite_text: BARGE.JSON and README.TXT of an image (see isowrite.h),
 * which list every bundle with its sha256: their sizes announced before the
 * write, their text rendered when libisofs opens them, after every bundle
 * was read.  A text stream owns its rendered text.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileutil.h"
#include "isowrite_int.h"

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

/* Adds BARGE.JSON or README.TXT of size bytes, written after every bundle. */
int
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
int
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
