/*
 * isoread: files read straight out of install media, an ISO 9660 image file
 * or a block device (isoread.h), through libarchive and without mounting.
 * An open struct isoread_file owns its archive handle until isoread_close;
 * nothing is copied off the medium first.
 */
#include "isoread.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * libarchive reads the image through its own file reader, which seeks
 * (files and block devices alike), so skipping the files before the one
 * wanted costs no reading.  Large blocks keep a bundle streaming fast.
 */
#define ISO_BLOCK      (1024 * 1024)
#define ISO_PVD_OFFSET (16 * 2048 + 1) /* "CD001" in the first volume descriptor */
#define ISO_SECTOR     2048
#define ISO_VD_FIRST   16 /* the volume descriptor set starts at sector 16 */
#define ISO_VD_MAX     64 /* descriptors read before giving up on the terminator */

struct isoread_file {
	struct archive *ar;
	char *path;
	char *name;
};

int
isoread_probe(const char *path, int *is_iso, struct barge_err *err)
{
	char magic[5];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "open %s",
		               path);
	do
		n = pread(fd, magic, sizeof(magic), ISO_PVD_OFFSET);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		err_sys(err, BARGE_EIO, errno, "read %s", path);
		close(fd);
		return BARGE_EIO;
	}
	close(fd);
	*is_iso = n == (ssize_t)sizeof(magic) && memcmp(magic, "CD001", sizeof(magic)) == 0;
	return BARGE_OK;
}

/* The name of an entry as listed: no leading "/" or "./". */
static const char *
entry_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);

	if (name == NULL)
		return NULL;
	while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
		name += name[0] == '/' ? 1 : 2;
	return name;
}

/* A regular file with its own data (libarchive reports repeated extents as hard links). */
static int
is_file(struct archive_entry *e)
{
	return archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == NULL &&
	       archive_entry_size_is_set(e) && archive_entry_size(e) >= 0;
}

static int
iso_fail(struct archive *ar, const char *path, struct barge_err *err)
{
	const char *msg = archive_error_string(ar);

	return err_set(err, BARGE_EFORMAT, "%s: not a readable ISO 9660 image: %s", path,
	               msg != NULL ? msg : "unknown error");
}

/* A both-endian field (ECMA-119 7.2.3, 7.3.3) of width bytes: its value, or -1 if the halves
 * differ. */
static int64_t
both_endian(const unsigned char *p, int width)
{
	uint32_t le = 0, be = 0;
	int i;

	for (i = 0; i < width; i++) {
		le |= (uint32_t)p[i] << (8 * i);
		be |= (uint32_t)p[2 * width - 1 - i] << (8 * i);
	}
	return le == be ? (int64_t)le : -1;
}

static int
vd_field(const char *path, const char *kind, const unsigned char *d, int off, int width,
         const char *name, int64_t *v, struct barge_err *err)
{
	if ((*v = both_endian(d + off, width)) < 0)
		return err_set(
		        err, BARGE_EFORMAT,
		        "%s: %s volume descriptor: %s: its little- and big-endian values differ",
		        path, kind, name);
	return BARGE_OK;
}

/* Whether blocks [at, at + ceil(len / ISO_SECTOR)) lie in a volume of nblocks, past the
 * descriptors. */
static int
in_volume(int64_t at, int64_t len, int64_t nblocks)
{
	return at > ISO_VD_FIRST && at + (len + ISO_SECTOR - 1) / ISO_SECTOR <= nblocks;
}

static int
outside(const char *path, const char *kind, const char *what, int64_t at, int64_t len,
        int64_t nblocks, struct barge_err *err)
{
	return err_set(err, BARGE_EFORMAT,
	               "%s: %s volume descriptor: %s (block %" PRId64 ", %" PRId64
	               " bytes) lies outside the volume (%" PRId64 " blocks)",
	               path, kind, what, at, len, nblocks);
}

/*
 * Checks a primary or supplementary (Joliet) volume descriptor against the
 * image's size.  libarchive trusts these sizes: it reads the root directory
 * in one read-ahead of its recorded length, so a 64 KB image claiming a
 * 4 GiB root directory made it allocate 4 GiB.  Every directory below the
 * root it checks itself against the volume space size, which is checked
 * here against the image: so the image's size bounds those.
 */
static int
check_descriptor(const char *path, const unsigned char *d, int64_t image, struct barge_err *err)
{
	const char *kind = d[0] == 1 ? "primary" : "supplementary";
	int64_t bsize, nblocks, ptsize, extent, len, lpt, mpt;
	int rc;

	if ((rc = vd_field(path, kind, d, 128, 2, "logical block size", &bsize, err)) != BARGE_OK ||
	    (rc = vd_field(path, kind, d, 80, 4, "volume space size", &nblocks, err)) != BARGE_OK ||
	    (rc = vd_field(path, kind, d, 132, 4, "path table size", &ptsize, err)) != BARGE_OK ||
	    (rc = vd_field(path, kind, d, 156 + 2, 4, "root directory extent", &extent, err)) !=
	            BARGE_OK ||
	    (rc = vd_field(path, kind, d, 156 + 10, 4, "root directory data length", &len, err)) !=
	            BARGE_OK)
		return rc;
	if (bsize != ISO_SECTOR)
		return err_set(err, BARGE_EFORMAT,
		               "%s: %s volume descriptor: logical block size %" PRId64
		               ", %d expected",
		               path, kind, bsize, ISO_SECTOR);
	if (nblocks * ISO_SECTOR > image)
		return err_set(err, BARGE_EFORMAT,
		               "%s: %s volume descriptor: volume space size of %" PRId64
		               " blocks (%" PRId64 " bytes) is larger than the image (%" PRId64
		               " bytes)",
		               path, kind, nblocks, nblocks * ISO_SECTOR, image);
	if (!in_volume(extent, len, nblocks))
		return outside(path, kind, "root directory", extent, len, nblocks, err);
	if (len > ISOREAD_DIR_MAX || ptsize > ISOREAD_DIR_MAX)
		return err_set(
		        err, BARGE_EFORMAT,
		        "%s: %s volume descriptor: %s %" PRId64 " bytes, more than %d", path, kind,
		        len > ISOREAD_DIR_MAX ? "root directory data length" : "path table size",
		        len > ISOREAD_DIR_MAX ? len : ptsize, ISOREAD_DIR_MAX);
	/* The path tables' locations: type L little-endian, type M big-endian (0: none). */
	lpt = d[140] | (int64_t)d[141] << 8 | (int64_t)d[142] << 16 | (int64_t)d[143] << 24;
	mpt = (int64_t)d[148] << 24 | (int64_t)d[149] << 16 | (int64_t)d[150] << 8 | d[151];
	if (!in_volume(lpt, ptsize, nblocks))
		return outside(path, kind, "type L path table", lpt, ptsize, nblocks, err);
	if (mpt != 0 && !in_volume(mpt, ptsize, nblocks))
		return outside(path, kind, "type M path table", mpt, ptsize, nblocks, err);
	return BARGE_OK;
}

/*
 * Reads the volume descriptor set (sector 16 to the terminator) and checks
 * each primary and supplementary descriptor, before libarchive reads any
 * of it.  What is missing or not a descriptor is left to libarchive.
 */
static int
check_volumes(const char *path, struct barge_err *err)
{
	unsigned char d[ISO_SECTOR];
	int64_t image;
	ssize_t n;
	int fd, i, rc = BARGE_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "open %s",
		               path);
	/* The size of a file or of a block device alike. */
	if ((image = lseek(fd, 0, SEEK_END)) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "seek %s", path);
		goto out;
	}
	for (i = ISO_VD_FIRST; i < ISO_VD_FIRST + ISO_VD_MAX; i++) {
		do
			n = pread(fd, d, sizeof(d), (off_t)i * ISO_SECTOR);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "read %s", path);
			goto out;
		}
		if (n < (ssize_t)sizeof(d) || memcmp(d + 1, "CD001", 5) != 0 || d[0] == 255)
			break;
		if ((d[0] == 1 || d[0] == 2) &&
		    (rc = check_descriptor(path, d, image, err)) != BARGE_OK)
			goto out;
	}
out:
	close(fd);
	return rc;
}

static int
iso_open(const char *path, struct archive **out, struct barge_err *err)
{
	struct archive *ar;
	int rc;

	if ((rc = check_volumes(path, err)) != BARGE_OK)
		return rc;
	if ((ar = archive_read_new()) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (archive_read_support_format_iso9660(ar) != ARCHIVE_OK) {
		rc = err_set(err, BARGE_EINTERNAL, "%s: %s", path, archive_error_string(ar));
		goto fail;
	}
	if (archive_read_open_filename(ar, path, ISO_BLOCK) != ARCHIVE_OK) {
		rc = iso_fail(ar, path, err);
		goto fail;
	}
	*out = ar;
	return BARGE_OK;
fail:
	archive_read_free(ar);
	return rc;
}

void
isoread_list_free(struct isoread_entry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

int
isoread_list(const char *path, struct isoread_entry **out, size_t *n, struct barge_err *err)
{
	struct isoread_entry *list = NULL, *grown;
	struct archive_entry *e;
	struct archive *ar = NULL;
	size_t len = 0, cap = 0;
	const char *name;
	int rc;

	if ((rc = iso_open(path, &ar, err)) != BARGE_OK)
		return rc;
	for (;;) {
		rc = archive_read_next_header(ar, &e);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
			rc = iso_fail(ar, path, err);
			goto fail;
		}
		if (!is_file(e) || (name = entry_name(e)) == NULL)
			continue;
		if (strlen(name) > ISOREAD_NAME_MAX) {
			rc = err_set(err, BARGE_ELIMIT, "%s: a file name longer than %d bytes",
			             path, ISOREAD_NAME_MAX);
			goto fail;
		}
		if (len == ISOREAD_FILES_MAX) {
			rc = err_set(err, BARGE_ELIMIT, "%s: more than %d files", path,
			             ISOREAD_FILES_MAX);
			goto fail;
		}
		if (len == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(list, cap * sizeof(*list))) == NULL) {
				rc = err_set(err, BARGE_ENOMEM, "out of memory");
				goto fail;
			}
			list = grown;
		}
		if ((list[len].name = strdup(name)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto fail;
		}
		list[len++].size = archive_entry_size(e);
	}
	archive_read_free(ar);
	*out = list;
	*n = len;
	return BARGE_OK;
fail:
	archive_read_free(ar);
	isoread_list_free(list, len);
	return rc;
}

int
isoread_open(const char *path, const char *name, struct isoread_file **out, struct barge_err *err)
{
	struct isoread_file *f = NULL;
	struct archive_entry *e;
	const char *n;
	int rc;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((f->path = strdup(path)) == NULL || (f->name = strdup(name)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = iso_open(path, &f->ar, err)) != BARGE_OK)
		goto fail;
	for (;;) {
		rc = archive_read_next_header(f->ar, &e);
		if (rc == ARCHIVE_EOF) {
			rc = err_set(err, BARGE_ENOTFOUND, "%s: no file \"%s\" in the image", path,
			             name);
			goto fail;
		}
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
			rc = iso_fail(f->ar, path, err);
			goto fail;
		}
		if (is_file(e) && (n = entry_name(e)) != NULL && strcmp(n, name) == 0)
			break;
	}
	*out = f;
	return BARGE_OK;
fail:
	isoread_close(f);
	return rc;
}

int
isoread_read(struct isoread_file *f, void *buf, size_t cap, size_t *got, struct barge_err *err)
{
	la_ssize_t n = archive_read_data(f->ar, buf, cap);
	const char *msg;

	if (n < 0) {
		msg = archive_error_string(f->ar);
		return err_set(err, BARGE_EIO, "%s: reading \"%s\": %s", f->path, f->name,
		               msg != NULL ? msg : "unknown error");
	}
	*got = (size_t)n;
	return BARGE_OK;
}

void
isoread_close(struct isoread_file *f)
{
	if (f == NULL)
		return;
	if (f->ar != NULL)
		archive_read_free(f->ar);
	free(f->name);
	free(f->path);
	free(f);
}
