/*
 * bundle: the bundle reader, zstd frames decompressed here and the tar
 * inside read with libarchive (see bundle.h), and the entry-name rule.  A
 * reader owns its name, its zstd context, its buffers, the libarchive handle
 * and its source (a descriptor handed to it included), released by
 * bundle_reader_free.
 */
#include "bundle.h"

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
#include <zstd.h>

#include "fileutil.h"

/*
 * The reading side of the container; bundle_write.c has the writing side.
 * libarchive reads the pax tar; the zstd layer is ours, on libzstd
 * directly, so that the reader insists on a complete frame with its
 * checksum: a bundle cut short anywhere, even in the tar's trailing zero
 * blocks, is an error rather than a quiet end of archive.
 */

#define BLOCK      (1024 * 1024) /* read block size */
#define ZSTD_MAGIC 0xFD2FB528u

const char *
bundle_name_problem(const char *name)
{
	const char *p, *comp;
	size_t len, clen;

	len = strlen(name);
	if (len == 0)
		return "empty name";
	if (len > BUNDLE_NAME_MAX)
		return "name too long";
	if (name[0] == '/')
		return "absolute path";
	for (p = name; *p != '\0'; p++) {
		if (*p == '\\')
			return "backslash in name";
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "control character in name";
	}
	comp = name;
	for (;;) {
		p = strchr(comp, '/');
		clen = p != NULL ? (size_t)(p - comp) : strlen(comp);
		if (clen == 0)
			return "empty path component";
		if (clen == 1 && comp[0] == '.')
			return "\".\" path component";
		if (clen == 2 && comp[0] == '.' && comp[1] == '.')
			return "\"..\" path component";
		if (p == NULL)
			break;
		comp = p + 1;
	}
	return NULL;
}
struct bundle_reader {
	char *name;
	struct bundle_source src;
	int src_open; /* src.close still to be called */
	int64_t bytes_in;
	struct archive *ar;
	ZSTD_DCtx *dctx;
	unsigned char *ibuf; /* compressed input from fd */
	size_t ilen, ipos;
	void *obuf; /* decompressed tar handed to libarchive */
	int ieof;
	int started;  /* the input began with the zstd magic */
	size_t zleft; /* ZSTD_decompressStream's last return: 0 at a frame's end */
	int nentries;
	char *entry; /* current entry name */
	int64_t size;
	int64_t block_end; /* bundle_reader_read_block's next offset */
	int at_eof;
	int failed;
	struct barge_err cb_err;
};

/* The entry name made printable for messages. */
static const char *
shown(const char *name, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < cap; i++)
		buf[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	buf[i] = '\0';
	return buf;
}

#define NOT_A_BUNDLE "not a barge bundle (zstd-compressed tar expected)"

/*
 * Reads more compressed input; on the first read, checks the zstd magic.
 * fill and pull leave the bundle's name out of their messages: the public
 * functions put it first.
 */
static int
fill(struct bundle_reader *r, struct barge_err *err)
{
	size_t need = r->started ? 1 : 4, n;
	int rc;

	r->ilen = r->ipos = 0;
	while (r->ilen < need) {
		if ((rc = r->src.read(r->src.arg, r->ibuf + r->ilen, BLOCK - r->ilen, &n, err)) !=
		    BARGE_OK)
			return rc;
		if (n == 0) {
			r->ieof = 1;
			break;
		}
		r->ilen += n;
		r->bytes_in += (int64_t)n;
	}
	if (!r->started) {
		if (r->ilen < 4 ||
		    (r->ibuf[0] | (uint32_t)r->ibuf[1] << 8 | (uint32_t)r->ibuf[2] << 16 |
		     (uint32_t)r->ibuf[3] << 24) != ZSTD_MAGIC)
			return err_set(err, BARGE_EFORMAT, NOT_A_BUNDLE);
		r->started = 1;
	}
	return BARGE_OK;
}

/*
 * Decompresses the next piece of the tar into obuf.  *got is 0 only at the
 * end of the input, and only if the last zstd frame is complete (its
 * checksum verified by libzstd).
 */
static int
pull(struct bundle_reader *r, size_t *got, struct barge_err *err)
{
	ZSTD_outBuffer out = { r->obuf, BLOCK, 0 };
	ZSTD_inBuffer in;
	size_t z;
	int rc;

	for (;;) {
		if (r->ipos == r->ilen && !r->ieof && (rc = fill(r, err)) != BARGE_OK)
			return rc;
		if (r->ipos == r->ilen && r->ieof && r->zleft == 0) {
			*got = 0;
			return BARGE_OK;
		}
		in.src = r->ibuf;
		in.size = r->ilen;
		in.pos = r->ipos;
		z = ZSTD_decompressStream(r->dctx, &out, &in);
		r->ipos = in.pos;
		if (ZSTD_isError(z))
			return err_set(err, BARGE_EFORMAT, "corrupt zstd stream: %s",
			               ZSTD_getErrorName(z));
		r->zleft = z;
		if (out.pos > 0) {
			*got = out.pos;
			return BARGE_OK;
		}
		if (r->ipos == r->ilen && r->ieof && z != 0)
			return err_set(err, BARGE_EFORMAT, "truncated (zstd stream ends early)");
	}
}

/*
 * The error of a failed read: the callback's if it set one, else
 * libarchive's.  The reader is unusable after it.
 */
static int
reader_fail(struct bundle_reader *r, struct barge_err *err, const char *where)
{
	const char *msg;

	r->failed = 1;
	if (r->cb_err.code != BARGE_OK)
		return err_set(err, r->cb_err.code, "%s: %s%s", r->name, where, r->cb_err.msg);
	msg = archive_error_string(r->ar);
	return err_set(err, BARGE_EFORMAT, "%s: %s%s", r->name, where,
	               msg != NULL ? msg : "unreadable archive");
}

static la_ssize_t
reader_cb(struct archive *a, void *data, const void **buf)
{
	struct bundle_reader *r = data;
	size_t got;

	if (pull(r, &got, &r->cb_err) != BARGE_OK) {
		archive_set_error(a, EIO, "%s", r->cb_err.msg);
		return -1;
	}
	*buf = r->obuf;
	return (la_ssize_t)got;
}

/* The source of a plain fd: arg is the fd itself. */
static int
fd_read(void *arg, void *buf, size_t cap, size_t *got, struct barge_err *err)
{
	ssize_t n;

	do
		n = read((int)(intptr_t)arg, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, BARGE_EIO, errno, "read");
	*got = (size_t)n;
	return BARGE_OK;
}

static void
fd_close(void *arg)
{
	close((int)(intptr_t)arg);
}

int
bundle_reader_open_fd(int fd, const char *name, struct bundle_reader **out, struct barge_err *err)
{
	struct bundle_source src = { fd_read, fd_close, (void *)(intptr_t)fd };

	return bundle_reader_open_source(&src, name, out, err);
}

int
bundle_reader_open_source(const struct bundle_source *src, const char *name,
                          struct bundle_reader **out, struct barge_err *err)
{
	struct bundle_reader *r = NULL;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		src->close(src->arg);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	r->src = *src;
	r->src_open = 1;
	r->zleft = 1; /* no frame seen yet: an empty input is not a complete stream */
	err_clear(&r->cb_err);
	r->name = strdup(name);
	r->ibuf = malloc(BLOCK);
	r->obuf = malloc(BLOCK);
	/* libzstd's default window limit (128 MiB) bounds the decoder's memory. */
	r->dctx = ZSTD_createDCtx();
	r->ar = archive_read_new();
	if (r->name == NULL || r->ibuf == NULL || r->obuf == NULL || r->dctx == NULL ||
	    r->ar == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	if (archive_read_support_format_tar(r->ar) != ARCHIVE_OK) {
		rc = err_set(err, BARGE_EINTERNAL, "%s: %s", name, archive_error_string(r->ar));
		goto fail;
	}
	/* Opening reads the first block and recognises the tar format. */
	if (archive_read_open2(r->ar, r, NULL, reader_cb, NULL, NULL) != ARCHIVE_OK) {
		if (r->cb_err.code == BARGE_OK)
			rc = err_set(err, BARGE_EFORMAT, "%s: " NOT_A_BUNDLE, r->name);
		else
			rc = reader_fail(r, err, "");
		goto fail;
	}
	*out = r;
	return BARGE_OK;
fail:
	bundle_reader_free(r);
	return rc;
}

int
bundle_reader_open(const char *path, struct bundle_reader **out, struct barge_err *err)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "open %s",
		               path);
	return bundle_reader_open_fd(fd, path, out, err);
}

static const char *
type_name(struct archive_entry *e)
{
	if (archive_entry_hardlink(e) != NULL)
		return "hard link";
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return NULL;
	case AE_IFLNK:
		return "symbolic link";
	case AE_IFDIR:
		return "directory";
	case AE_IFCHR:
	case AE_IFBLK:
		return "device";
	case AE_IFIFO:
		return "fifo";
	case AE_IFSOCK:
		return "socket";
	default:
		return "special file";
	}
}

/* Checks an entry header: a clean name, a regular file, a sane size, pax or ustar. */
static int
check_entry(struct bundle_reader *r, struct archive_entry *e, struct barge_err *err)
{
	char sbuf[BUNDLE_NAME_MAX + 1];
	const char *name, *why;
	int fmt;

	fmt = archive_format(r->ar);
	if (fmt != ARCHIVE_FORMAT_TAR_USTAR && fmt != ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE &&
	    fmt != ARCHIVE_FORMAT_TAR_PAX_RESTRICTED)
		return err_set(err, BARGE_EFORMAT, "%s: %s archive, pax or ustar tar expected",
		               r->name, archive_format_name(r->ar));
	if ((name = archive_entry_pathname(e)) == NULL)
		return err_set(err, BARGE_EFORMAT, "%s: entry %d has no readable name", r->name,
		               r->nentries + 1);
	if ((why = type_name(e)) != NULL)
		return err_set(err, BARGE_EFORMAT,
		               "%s: entry \"%s\": %s not allowed (only regular files)", r->name,
		               shown(name, sbuf, sizeof(sbuf)), why);
	if ((why = bundle_name_problem(name)) != NULL)
		return err_set(err, BARGE_EFORMAT, "%s: entry \"%s\": %s", r->name,
		               shown(name, sbuf, sizeof(sbuf)), why);
	if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
		return err_set(err, BARGE_EFORMAT, "%s: entry \"%s\": no valid size", r->name,
		               shown(name, sbuf, sizeof(sbuf)));
	if (archive_entry_sparse_count(e) > 0)
		return err_set(err, BARGE_EFORMAT, "%s: entry \"%s\": sparse entries not allowed",
		               r->name, shown(name, sbuf, sizeof(sbuf)));
	return BARGE_OK;
}

int
bundle_reader_next(struct bundle_reader *r, const char **name, int64_t *size, struct barge_err *err)
{
	struct archive_entry *e;
	char where[BUNDLE_NAME_MAX + 32];
	size_t got;
	int rc;

	if (r->failed)
		return err_set(err, BARGE_EINVAL, "%s: reader broken by an earlier error", r->name);
	if (r->at_eof)
		return BUNDLE_EOF;
	where[0] = '\0';
	if (r->entry != NULL)
		snprintf(where, sizeof(where), "after entry \"%s\": ", r->entry);
	free(r->entry);
	r->entry = NULL;
	rc = archive_read_next_header(r->ar, &e);
	if (rc == ARCHIVE_EOF) {
		/* Insist on the rest of the stream: complete frames, checksums verified. */
		do {
			if (pull(r, &got, &r->cb_err) != BARGE_OK)
				return reader_fail(r, err, where);
		} while (got > 0);
		r->at_eof = 1;
		return BUNDLE_EOF;
	}
	if (rc != ARCHIVE_OK)
		return reader_fail(r, err, where);
	if ((rc = check_entry(r, e, err)) != BARGE_OK) {
		r->failed = 1;
		return rc;
	}
	if ((r->entry = strdup(archive_entry_pathname(e))) == NULL) {
		r->failed = 1;
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	r->nentries++;
	r->size = archive_entry_size(e);
	r->block_end = 0;
	*name = r->entry;
	*size = r->size;
	return BARGE_OK;
}

int
bundle_reader_read(struct bundle_reader *r, void *buf, size_t len, size_t *got,
                   struct barge_err *err)
{
	char where[BUNDLE_NAME_MAX + 32];
	la_ssize_t n;

	if (r->failed)
		return err_set(err, BARGE_EINVAL, "%s: reader broken by an earlier error", r->name);
	if (r->entry == NULL)
		return err_set(err, BARGE_EINVAL, "%s: no current entry", r->name);
	n = archive_read_data(r->ar, buf, len);
	if (n < 0) {
		snprintf(where, sizeof(where), "entry \"%s\": ", r->entry);
		return reader_fail(r, err, where);
	}
	*got = (size_t)n;
	return BARGE_OK;
}

int
bundle_reader_read_block(struct bundle_reader *r, const void **buf, size_t *got,
                         struct barge_err *err)
{
	char where[BUNDLE_NAME_MAX + 32];
	la_int64_t offset;
	size_t len;
	int rc;

	if (r->failed)
		return err_set(err, BARGE_EINVAL, "%s: reader broken by an earlier error", r->name);
	if (r->entry == NULL)
		return err_set(err, BARGE_EINVAL, "%s: no current entry", r->name);
	rc = archive_read_data_block(r->ar, buf, &len, &offset);
	if (rc == ARCHIVE_EOF) {
		*got = 0;
		return BARGE_OK;
	}
	if (rc != ARCHIVE_OK) {
		snprintf(where, sizeof(where), "entry \"%s\": ", r->entry);
		return reader_fail(r, err, where);
	}
	/*
	 * Entries are never sparse (check_entry), so blocks follow each
	 * other; a gap means bundle_reader_read took part of this entry.
	 */
	if (offset != r->block_end) {
		r->failed = 1;
		return err_set(err, BARGE_EFORMAT, "%s: entry \"%s\": data out of sequence",
		               r->name, r->entry);
	}
	r->block_end += (int64_t)len;
	*got = len;
	return BARGE_OK;
}

int
bundle_reader_slurp(struct bundle_reader *r, size_t max, char **buf, size_t *len,
                    struct barge_err *err)
{
	char *b = NULL;
	size_t have = 0, got = 0;
	int rc;

	if (r->entry == NULL)
		return err_set(err, BARGE_EINVAL, "%s: no current entry", r->name);
	if ((uint64_t)r->size > max || (uint64_t)r->size >= SIZE_MAX)
		return err_set(err, BARGE_ELIMIT,
		               "%s: entry \"%s\": %" PRId64 " bytes, more than the limit of %zu",
		               r->name, r->entry, r->size, max);
	if ((b = malloc((size_t)r->size + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (;;) {
		if ((rc = bundle_reader_read(r, b + have, (size_t)r->size - have + 1, &got, err)) !=
		    BARGE_OK)
			goto fail;
		if (got == 0)
			break;
		have += got;
		if (have > (size_t)r->size) {
			rc = err_set(err, BARGE_EFORMAT, "%s: entry \"%s\": longer than its size",
			             r->name, r->entry);
			goto fail;
		}
	}
	if (have != (size_t)r->size) {
		rc = err_set(err, BARGE_EFORMAT, "%s: entry \"%s\": %zu of %" PRId64 " bytes",
		             r->name, r->entry, have, r->size);
		goto fail;
	}
	b[have] = '\0';
	*buf = b;
	if (len != NULL)
		*len = have;
	return BARGE_OK;
fail:
	free(b);
	return rc;
}

int64_t
bundle_reader_bytes_in(const struct bundle_reader *r)
{
	return r->bytes_in;
}

void
bundle_reader_free(struct bundle_reader *r)
{
	if (r == NULL)
		return;
	if (r->ar != NULL)
		archive_read_free(r->ar);
	if (r->src_open)
		r->src.close(r->src.arg);
	ZSTD_freeDCtx(r->dctx);
	free(r->entry);
	free(r->obuf);
	free(r->ibuf);
	free(r->name);
	free(r);
}
