/*
 * localsrc: reading images out of a local OCI image layout, as a directory
 * or as a tar archive (localsrc.h).  It owns, for the length of one call,
 * the file or archive it reads and the one entry open in it.
 */
#include "localsrc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "charts.h"
#include "digest.h"
#include "fetch.h"
#include "fileutil.h"
#include "manifest.h"

#define PFX_ARCHIVE "oci-archive:"
#define PFX_DIR     "oci:"
#define CHUNK       (64 * 1024)
#define LAYOUT_MAX  4096 /* the oci-layout file */
#define NAMES_MAX   512  /* the names listed when no entry matches */

/* One entry of a layout, open for reading. */
struct entry {
	const char *path; /* the archive or the directory, as the source names it */
	int archive;
	int fd;
	struct archive *a;
	int64_t size;
};

int
localsrc_split(const char *from, const char **path, struct barge_err *err)
{
	const char *p = NULL;

	if (strncmp(from, PFX_ARCHIVE, strlen(PFX_ARCHIVE)) == 0)
		p = from + strlen(PFX_ARCHIVE);
	else if (strncmp(from, PFX_DIR, strlen(PFX_DIR)) == 0)
		p = from + strlen(PFX_DIR);
	else if (charts_is_source(from))
		p = from + strlen(CHARTS_PREFIX);
	if (p == NULL || p[0] == '\0')
		return err_set(err, BARGE_EINVAL,
		               "\"%.200s\" is not oci-archive:FILE or oci:DIRECTORY", from);
	*path = p;
	return BARGE_OK;
}

static void
entry_close(struct entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	archive_read_free(e->a);
	e->fd = -1;
	e->a = NULL;
}

/* Finds name among the archive's entries; the archive is left at its data. */
static int
entry_seek(struct entry *e, const char *name, struct barge_err *err)
{
	struct archive_entry *ae;
	const char *n;
	int r;

	if ((e->a = archive_read_new()) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* The file is there (entry_open saw it): what libarchive cannot open is no tar. */
	if (archive_read_support_format_tar(e->a) != ARCHIVE_OK ||
	    archive_read_open_filename(e->a, e->path, CHUNK) != ARCHIVE_OK)
		return err_set(err, BARGE_EFORMAT, "%s: not an OCI archive (a tar file): %s",
		               e->path, archive_error_string(e->a));
	for (;;) {
		if ((r = archive_read_next_header(e->a, &ae)) == ARCHIVE_EOF)
			return err_set(err, BARGE_ENOTFOUND, "%s: the archive has no %s", e->path,
			               name);
		if (r < ARCHIVE_WARN)
			return err_set(err, BARGE_EFORMAT,
			               "%s: not an OCI archive (a tar file): %s", e->path,
			               archive_error_string(e->a));
		n = archive_entry_pathname(ae);
		if (n != NULL && strncmp(n, "./", 2) == 0)
			n += 2;
		if (n == NULL || strcmp(n, name) != 0)
			continue;
		if (archive_entry_filetype(ae) != AE_IFREG || archive_entry_size(ae) < 0)
			return err_set(err, BARGE_EFORMAT, "%s: %s is not a regular file", e->path,
			               name);
		e->size = archive_entry_size(ae);
		return BARGE_OK;
	}
}

/* Opens entry name ("index.json", "blobs/sha256/<hex>") of the layout from names. */
static int
entry_open(struct entry *e, const char *from, const char *name, struct barge_err *err)
{
	struct stat st;
	char *file;
	int rc;

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	if ((rc = localsrc_split(from, &e->path, err)) != BARGE_OK)
		return rc;
	e->archive = strncmp(from, PFX_ARCHIVE, strlen(PFX_ARCHIVE)) == 0;
	if (stat(e->path, &st) != 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s",
		               e->path);
	if (e->archive != !S_ISDIR(st.st_mode))
		return err_set(err, BARGE_EINVAL, "%s: %s", e->path,
		               e->archive ? "is a directory: name it oci:DIRECTORY"
		                          : "is not a directory: name an archive oci-archive:FILE");
	if (e->archive) {
		if ((rc = entry_seek(e, name, err)) != BARGE_OK)
			entry_close(e);
		return rc;
	}
	if ((file = fu_printf("%s/%s", e->path, name)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((e->fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(e->fd, &st) != 0)
		rc = err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s", file);
	else if (!S_ISREG(st.st_mode))
		rc = err_set(err, BARGE_EFORMAT, "%s is not a regular file", file);
	else
		e->size = st.st_size;
	free(file);
	if (rc != BARGE_OK)
		entry_close(e);
	return rc;
}

/* Up to n bytes of the entry into buf; *got 0 at its end. */
static int
entry_read(struct entry *e, void *buf, size_t n, size_t *got, struct barge_err *err)
{
	la_ssize_t r;
	ssize_t d;

	if (e->archive) {
		if ((r = archive_read_data(e->a, buf, n)) < 0)
			return err_set(err, BARGE_EIO, "%s: %s", e->path,
			               archive_error_string(e->a));
		*got = (size_t)r;
		return BARGE_OK;
	}
	do
		d = read(e->fd, buf, n);
	while (d < 0 && errno == EINTR);
	if (d < 0)
		return err_sys(err, BARGE_EIO, errno, "read %s", e->path);
	*got = (size_t)d;
	return BARGE_OK;
}

/* The whole entry name, at most max bytes; caller frees *buf. */
static int
entry_slurp(const char *from, const char *name, size_t max, char **buf, size_t *len,
            struct barge_err *err)
{
	struct entry e;
	char *b = NULL;
	size_t off = 0, got;
	int rc;

	if ((rc = entry_open(&e, from, name, err)) != BARGE_OK)
		return rc;
	if (e.size > (int64_t)max) {
		rc = err_set(err, BARGE_ELIMIT, "%s: %s is %" PRId64 " bytes, more than %zu",
		             e.path, name, e.size, max);
		goto out;
	}
	if ((b = malloc((size_t)e.size + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	/* One byte more than the size says, to notice a file that grew. */
	do {
		if ((rc = entry_read(&e, b + off, (size_t)e.size + 1 - off, &got, err)) != BARGE_OK)
			goto out;
		off += got;
	} while (got > 0 && off <= (size_t)e.size);
	if (off != (size_t)e.size) {
		rc = err_set(err, BARGE_EIO, "%s: %s changed while it was read", e.path, name);
		goto out;
	}
	*buf = b;
	*len = off;
	b = NULL;
out:
	free(b);
	entry_close(&e);
	return rc;
}

/* "blobs/sha256/<hex>" for a digest. */
static int
blob_name(const char *digest, char *name, size_t cap, struct barge_err *err)
{
	const char *colon;

	if (!digest_valid(digest) || (colon = strchr(digest, ':')) == NULL)
		return err_set(err, BARGE_EINVAL, "\"%.80s\" is not a digest", digest);
	snprintf(name, cap, "blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1);
	return BARGE_OK;
}

int
localsrc_read(const char *from, const char *digest, int64_t size, size_t max, char **buf,
              size_t *len, struct barge_err *err)
{
	char name[DIGEST_STR_MAX + 8], got[DIGEST_STR_MAX];
	const char *path = NULL;
	int rc;

	if (charts_is_source(from))
		return charts_read(from, digest, size, max, buf, len, err);
	*buf = NULL;
	if ((rc = localsrc_split(from, &path, err)) != BARGE_OK ||
	    (rc = blob_name(digest, name, sizeof(name), err)) != BARGE_OK ||
	    (rc = entry_slurp(from, name, max, buf, len, err)) != BARGE_OK)
		return rc;
	if ((size >= 0 && (int64_t)*len != size) ||
	    (rc = digest_buf(strncmp(digest, "sha512:", 7) == 0 ? DIGEST_SHA512 : DIGEST_SHA256,
	                     *buf, *len, got, err)) != BARGE_OK ||
	    strcmp(got, digest) != 0) {
		rc = rc != BARGE_OK
		             ? rc
		             : err_set(err, BARGE_EDIGEST,
		                       "%s: %s does not match its digest and size (%zu bytes, "
		                       "expected %" PRId64 ")",
		                       path, name, *len, size);
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

int
localsrc_copy(const char *from, const char *digest, int64_t size, int fd, struct barge_err *err)
{
	char name[DIGEST_STR_MAX + 8];
	struct digest_writer *w = NULL;
	struct entry e = { .fd = -1 };
	char *buf = NULL;
	size_t got;
	int rc;

	if (charts_is_source(from))
		return charts_copy(from, digest, size, fd, err);
	if ((rc = blob_name(digest, name, sizeof(name), err)) != BARGE_OK ||
	    (rc = entry_open(&e, from, name, err)) != BARGE_OK)
		return rc;
	if (e.size != size) {
		rc = err_set(err, BARGE_EDIGEST, "%s: %s is %" PRId64 " bytes, expected %" PRId64,
		             e.path, name, e.size, size);
		goto out;
	}
	if ((buf = malloc(CHUNK)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = digest_writer_new(fd, digest, size, &w, err)) != BARGE_OK)
		goto out;
	for (;;) {
		if ((rc = entry_read(&e, buf, CHUNK, &got, err)) != BARGE_OK)
			goto out;
		if (got == 0)
			break;
		if ((rc = digest_writer_write(w, buf, got, err)) != BARGE_OK)
			goto fail;
	}
	if ((rc = digest_writer_finish(w, err)) != BARGE_OK)
		goto fail;
	goto out;
fail:
	err_prefix(err, "%s: %s", e.path, name);
out:
	digest_writer_free(w);
	free(buf);
	entry_close(&e);
	return rc;
}

/* Whether s, a reference as an annotation writes it, is the image source names. */
static int
same_ref(const char *s, const char *source)
{
	struct barge_err ignored;
	struct ref *r = NULL;
	char *norm = NULL;
	int same;

	if (s == NULL || ref_parse(s, &r, &ignored) != BARGE_OK)
		return 0;
	norm = ref_string(r);
	same = norm != NULL && strcmp(norm, source) == 0;
	free(norm);
	ref_free(r);
	return same;
}

/* Appends ", s" to names, as much as it holds. */
static void
names_add(char *names, size_t cap, const char *s)
{
	size_t n = strlen(names);

	snprintf(names + n, cap - n, "%s%s", n > 0 ? ", " : "", s);
}

/*
 * The entry of index.json's manifests for r (localsrc_manifest says which);
 * NULL, with the names it offers in names, when none is.
 */
static json_t *
pick_entry(json_t *mans, const struct ref *r, const char *source, char *names, size_t cap)
{
	json_t *m, *ann, *unnamed = NULL;
	const char *name, *cname, *d;
	size_t i;

	names[0] = '\0';
	json_array_foreach(mans, i, m)
	{
		d = json_string_value(json_object_get(m, "digest"));
		if (r->digest != NULL) {
			if (d != NULL && strcmp(d, r->digest) == 0)
				return m;
			continue;
		}
		ann = json_object_get(m, "annotations");
		name = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		cname = json_string_value(json_object_get(ann, "io.containerd.image.name"));
		if ((name != NULL && r->tag != NULL && strcmp(name, r->tag) == 0) ||
		    same_ref(name, source) || same_ref(cname, source))
			return m;
		if (name != NULL || cname != NULL)
			names_add(names, cap, name != NULL ? name : cname);
		else
			unnamed = m;
	}
	/* An archive of one image that names it nothing holds the image asked for. */
	if (r->digest == NULL && json_array_size(mans) == 1 && unnamed != NULL)
		return unnamed;
	return NULL;
}

/* Checks that path (named so) is an OCI image layout: an oci-layout file saying its version. */
static int
check_layout(const char *from, const char *path, struct barge_err *err)
{
	json_t *root = NULL;
	char *buf = NULL;
	struct stat st;
	size_t len;
	int rc;

	/* A missing file is not a file that is no layout. */
	if (stat(path, &st) != 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s",
		               path);
	if ((rc = entry_slurp(from, "oci-layout", LAYOUT_MAX, &buf, &len, err)) != BARGE_OK) {
		if (rc == BARGE_ENOTFOUND)
			return err_set(err, BARGE_EFORMAT,
			               "%s: not an OCI image layout (no oci-layout)", path);
		return rc;
	}
	root = json_loadb(buf, len, 0, NULL);
	if (!json_is_string(json_object_get(root, "imageLayoutVersion")))
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: not an OCI image layout (oci-layout has no imageLayoutVersion)",
		             path);
	json_decref(root);
	free(buf);
	return rc;
}

int
localsrc_manifest(const char *from, const struct ref *r, struct client_manifest *out,
                  struct barge_err *err)
{
	char names[NAMES_MAX], *source = NULL, *buf = NULL;
	json_t *root = NULL, *mans, *m, *size;
	const char *path = NULL, *digest, *mt;
	json_error_t jerr;
	size_t len;
	int rc;

	if (charts_is_source(from))
		return charts_manifest(from, r, out, err);
	memset(out, 0, sizeof(*out));
	if ((rc = localsrc_split(from, &path, err)) != BARGE_OK ||
	    (rc = check_layout(from, path, err)) != BARGE_OK ||
	    (rc = entry_slurp(from, "index.json", LOCALSRC_INDEX_MAX, &buf, &len, err)) != BARGE_OK)
		goto out;
	if ((source = ref_string(r)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((root = json_loadb(buf, len, 0, &jerr)) == NULL ||
	    !json_is_array(mans = json_object_get(root, "manifests"))) {
		rc = err_set(err, BARGE_EFORMAT, "%s: index.json: %s", path,
		             root == NULL ? jerr.text : "no manifests list");
		goto out;
	}
	if ((m = pick_entry(mans, r, source, names, sizeof(names))) == NULL) {
		rc = err_set(err, BARGE_ENOTFOUND,
		             "%s: index.json names no image %s (it names: %s)", path,
		             r->digest != NULL ? r->digest : source,
		             names[0] != '\0' ? names : "none");
		goto out;
	}
	digest = json_string_value(json_object_get(m, "digest"));
	mt = json_string_value(json_object_get(m, "mediaType"));
	size = json_object_get(m, "size");
	if (digest == NULL || !digest_valid(digest) || mt == NULL || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || json_integer_value(size) > MANIFEST_MAX) {
		rc = err_set(err, BARGE_EFORMAT,
		             "%s: index.json: the entry for %s lacks a valid digest, mediaType or "
		             "size",
		             path, source);
		goto out;
	}
	if ((rc = localsrc_read(from, digest, json_integer_value(size), MANIFEST_MAX, &out->buf,
	                        &out->len, err)) != BARGE_OK)
		goto out;
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	if ((out->media_type = strdup(mt)) == NULL)
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
out:
	if (rc != BARGE_OK)
		client_manifest_clear(out);
	json_decref(root);
	free(source);
	free(buf);
	return rc;
}

int
localsrc_cache(const char *from, const char *digest, int64_t size, const char *cache_dir,
               struct barge_err *err)
{
	char *tmp = NULL, *dst = NULL;
	struct barge_err ignored;
	int fd = -1, rc;

	if (fetch_cache_open(cache_dir, digest, size, &fd, &ignored) == BARGE_OK) {
		close(fd);
		return BARGE_OK;
	}
	if ((tmp = fu_printf("%s/tmp/local-XXXXXX", cache_dir)) == NULL ||
	    (dst = fetch_cache_path(cache_dir, digest)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "creating %s", tmp);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if ((rc = localsrc_copy(from, digest, size, fd, err)) != BARGE_OK)
		goto out;
	if (fsync(fd) != 0 || rename(tmp, dst) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "storing %s", dst);
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(dst);
	return rc;
}
