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
 * directly, so that the reader insists on frames that carry a checksum
 * and on a complete last frame: a bundle cut short anywhere, even in the
 * tar's trailing zero blocks, is an error rather than a quiet end of
 * archive.  Between the two, the tar headers are checked raw as they are
 * decompressed (tar_follow), for what libarchive does not report.
 */

#define BLOCK           (1024 * 1024) /* read block size */
#define ZSTD_MAGIC      0xFD2FB528u
#define ZSTD_SKIP_MAGIC 0x184D2A50u /* skippable frames: this, low 4 bits free */

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
/*
 * The tar headers, followed as the decompressed bytes go by.  libarchive
 * reads contiguous files, GNU sparse files and every typeflag it does not
 * know as regular files, and folds GNU long names and links and pax global
 * headers into the next entry, without a word; archive_entry gives no raw
 * typeflag.  So the reader walks the 512-byte headers itself, with
 * libarchive's arithmetic for where each entry ends (a pax "size" record
 * overrides the header's size field, octal or base-256; data is padded to
 * 512 bytes), and allows only regular files ('0', NUL), each preceded by
 * at most one pax extended header ('x').  It holds one header and one pax
 * body (at most TAR_PAX_MAX bytes), never an entry's data.
 */
#define TAR_BLOCK   512
#define TAR_PAX_MAX (64 * 1024)

enum tar_state {
	TAR_HEADER, /* gathering a header */
	TAR_DATA,   /* passing an entry's data and padding */
	TAR_PAX,    /* gathering a pax extended header's body */
	TAR_END,    /* after the end-of-archive block: libarchive reads no further */
	TAR_ASIDE   /* after a header with a bad checksum, which libarchive refuses */
};

struct tar_track {
	enum tar_state state;
	unsigned char hdr[TAR_BLOCK];
	size_t hlen;
	uint64_t left; /* TAR_DATA: bytes to pass; TAR_PAX: body bytes to gather */
	uint64_t pad;  /* TAR_PAX: the padding after the body */
	char *pax;     /* TAR_PAX_MAX bytes, allocated at the first pax header */
	size_t plen;
	int after_pax;                      /* the last header was 'x' */
	int64_t pax_size;                   /* its "size" record, or -1 */
	char pax_path[BUNDLE_NAME_MAX + 1]; /* its "path" record, for messages */
	char pax_sparse[32];                /* a sparse-file keyword it holds, or "" */
};

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
	int started;    /* the input began with the zstd magic */
	size_t zleft;   /* ZSTD_decompressStream's last return: 0 at a frame's end */
	int frame_next; /* the next compressed byte starts a frame */
	int nframes;
	struct tar_track tar;
	int refused;              /* tar_follow refused a header... */
	struct barge_err refusal; /* ...for this reason, once libarchive asks for it */
	int cb_named;             /* cb_err names the entry at fault itself */
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

/*
 * A header's size field, as libarchive reads it (tar_atol), in the forms
 * where that reading is plain: base-256 with the sign and high bytes clear,
 * or octal digits between optional leading spaces and trailing NULs or
 * spaces.  -1 for anything else.
 */
static int64_t
tar_size(const unsigned char *f)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80 || f[1] != 0 || f[2] != 0 || f[3] != 0 || (f[4] & 0x80) != 0)
			return -1;
		for (i = 4; i < 12; i++)
			v = v << 8 | f[i];
		return (int64_t)v;
	}
	while (i < 12 && f[i] == ' ')
		i++;
	for (; i < 12 && f[i] >= '0' && f[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(f[i] - '0');
	for (; i < 12; i++)
		if (f[i] != '\0' && f[i] != ' ')
			return -1;
	return (int64_t)v;
}

/*
 * Whether libarchive accepts the header's checksum, computed as its
 * checksum() does (unsigned bytes, or signed ones as old tars did), so that
 * a header set aside here is one libarchive refuses.
 */
static int
tar_checksum_ok(const unsigned char *h)
{
	int want = 0, usum = 0, ssum = 0;
	size_t i;

	for (i = 148; i < 156; i++)
		if (h[i] != ' ' && h[i] != '\0' && (h[i] < '0' || h[i] > '7'))
			return 0;
	for (i = 148; i < 156 && h[i] == ' '; i++)
		;
	for (; i < 156 && h[i] >= '0' && h[i] <= '7'; i++)
		want = want * 8 + (h[i] - '0');
	for (i = 0; i < TAR_BLOCK; i++) {
		usum += i >= 148 && i < 156 ? ' ' : h[i];
		ssum += i >= 148 && i < 156 ? ' ' : (signed char)h[i];
	}
	return want == usum || want == ssum;
}

/* The name of the entry a header starts, for messages: its pax path, else prefix/name. */
static const char *
tar_name(const struct tar_track *t, char *buf, size_t cap)
{
	char raw[BUNDLE_NAME_MAX + 1];
	int nlen = (int)strnlen((const char *)t->hdr, 100);
	int plen = (int)strnlen((const char *)t->hdr + 345, 155);

	if (t->after_pax && t->pax_path[0] != '\0')
		snprintf(raw, sizeof(raw), "%s", t->pax_path);
	else if (plen > 0)
		snprintf(raw, sizeof(raw), "%.*s/%.*s", plen, t->hdr + 345, nlen, t->hdr);
	else
		snprintf(raw, sizeof(raw), "%.*s", nlen, t->hdr);
	return shown(raw, buf, cap);
}

/* What a refused typeflag stands for, in a message. */
static const char *
tar_kind(unsigned char type, char *buf, size_t cap)
{
	static const struct {
		unsigned char type;
		int plain; /* known to every tar: named without its typeflag */
		const char *what;
	} kinds[] = {
		{ '1', 1, "hard link" },
		{ '2', 1, "symbolic link" },
		{ '3', 1, "device" },
		{ '4', 1, "device" },
		{ '5', 1, "directory" },
		{ '6', 1, "fifo" },
		{ '7', 0, "contiguous file" },
		{ 'A', 0, "Solaris ACL" },
		{ 'D', 0, "GNU directory dump" },
		{ 'K', 0, "GNU long link name" },
		{ 'L', 0, "GNU long name" },
		{ 'M', 0, "GNU multi-volume continuation" },
		{ 'N', 0, "GNU old long name" },
		{ 'S', 0, "GNU sparse file" },
		{ 'V', 0, "GNU volume header" },
		{ 'X', 0, "Solaris extended header" },
		{ 'g', 0, "pax global header" },
	};
	const char *what = "unknown entry type";
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].type != type)
			continue;
		if (kinds[i].plain)
			return kinds[i].what;
		what = kinds[i].what;
	}
	if (type > 0x20 && type < 0x7f)
		snprintf(buf, cap, "%s (typeflag '%c')", what, type);
	else
		snprintf(buf, cap, "%s (typeflag '\\x%02x')", what, type);
	return buf;
}

/*
 * Reads a pax body's records ("LEN KEY=VALUE\n", as libarchive's
 * pax_header does, but refusing whatever it would read leniently): the
 * size, the path, and any keyword that makes the entry a sparse file.
 */
static int
tar_pax(struct tar_track *t, struct barge_err *err)
{
	const char *p = t->pax, *end = t->pax + t->plen, *key, *eq, *v;
	char sbuf[BUNDLE_NAME_MAX + 1];
	size_t len, i, klen, vlen;

	t->pax_size = -1;
	t->pax_path[0] = '\0';
	t->pax_sparse[0] = '\0';
	if (memchr(p, '\0', t->plen) != NULL)
		goto malformed;
	while (p < end) {
		for (len = 0, i = 0; i < 7 && p + i < end && p[i] >= '0' && p[i] <= '9'; i++)
			len = len * 10 + (size_t)(p[i] - '0');
		if (i == 0 || p + i == end || p[i] != ' ' || len <= i + 1 ||
		    len > (size_t)(end - p) || p[len - 1] != '\n')
			goto malformed;
		key = p + i + 1;
		if ((eq = memchr(key, '=', (size_t)(p + len - 1 - key))) == NULL || eq == key)
			goto malformed;
		v = eq + 1;
		klen = (size_t)(eq - key);
		vlen = (size_t)(p + len - 1 - v);
		if (klen == 4 && memcmp(key, "size", 4) == 0) {
			if (vlen == 0 || vlen > 18 || strspn(v, "0123456789") < vlen)
				goto malformed;
			for (t->pax_size = 0, i = 0; i < vlen; i++)
				t->pax_size = t->pax_size * 10 + (v[i] - '0');
		} else if (klen == 4 && memcmp(key, "path", 4) == 0) {
			snprintf(t->pax_path, sizeof(t->pax_path), "%.*s", (int)vlen, v);
		} else if (t->pax_sparse[0] == '\0' &&
		           ((klen > 11 && memcmp(key, "GNU.sparse.", 11) == 0) ||
		            (klen == 15 && memcmp(key, "SCHILY.realsize", 15) == 0) ||
		            (klen == 13 && memcmp(key, "SUN.holesdata", 13) == 0))) {
			snprintf(t->pax_sparse, sizeof(t->pax_sparse), "%.*s", (int)klen, key);
		}
		p += len;
	}
	return BARGE_OK;
malformed:
	return err_set(err, BARGE_EFORMAT, "entry \"%s\": malformed pax extended header",
	               tar_name(t, sbuf, sizeof(sbuf)));
}

/* Judges a whole header: what follows it, or why the bundle is refused. */
static int
tar_judge(struct tar_track *t, struct barge_err *err)
{
	const unsigned char *h = t->hdr, type = t->hdr[156];
	char sbuf[BUNDLE_NAME_MAX + 1], kind[64];
	int64_t size;
	size_t i;

	for (i = 0; i < TAR_BLOCK && h[i] == 0; i++)
		;
	if (i == TAR_BLOCK) {
		if (t->after_pax)
			return err_set(err, BARGE_EFORMAT,
			               "a pax extended header at the end of the archive");
		t->state = TAR_END;
		return BARGE_OK;
	}
	if (!tar_checksum_ok(h)) {
		t->state = TAR_ASIDE;
		return BARGE_OK;
	}
	if (memcmp(h + 257, "ustar  ", 8) == 0)
		return err_set(err, BARGE_EFORMAT,
		               "GNU tar format archive, pax or ustar tar expected");
	if (memcmp(h + 257, "ustar", 5) != 0)
		return err_set(err, BARGE_EFORMAT,
		               "tar (non-POSIX) archive, pax or ustar tar expected");
	tar_name(t, sbuf, sizeof(sbuf));
	if (type == 'x' && t->after_pax)
		return err_set(err, BARGE_EFORMAT,
		               "entry \"%s\": a pax extended header follows another", sbuf);
	if (type != 'x' && type != '0' && type != '\0')
		return err_set(err, BARGE_EFORMAT,
		               "entry \"%s\": %s not allowed (only regular files)", sbuf,
		               tar_kind(type, kind, sizeof(kind)));
	if (type != 'x' && t->after_pax && t->pax_sparse[0] != '\0')
		return err_set(err, BARGE_EFORMAT,
		               "entry \"%s\": sparse file (pax keyword \"%s\") not allowed (only "
		               "regular files)",
		               sbuf, t->pax_sparse);
	size = type != 'x' && t->after_pax && t->pax_size >= 0 ? t->pax_size : tar_size(h + 124);
	if (size < 0)
		return err_set(err, BARGE_EFORMAT, "entry \"%s\": invalid size field", sbuf);
	if (type == 'x') {
		if (size > TAR_PAX_MAX)
			return err_set(err, BARGE_ELIMIT,
			               "entry \"%s\": a pax extended header of more than %d bytes",
			               sbuf, TAR_PAX_MAX);
		if (t->pax == NULL && (t->pax = malloc(TAR_PAX_MAX)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		t->state = TAR_PAX;
		t->plen = 0;
		t->left = (uint64_t)size;
		t->pad = (TAR_BLOCK - (uint64_t)size % TAR_BLOCK) % TAR_BLOCK;
		return BARGE_OK;
	}
	t->after_pax = 0;
	t->left = (uint64_t)size + (TAR_BLOCK - (uint64_t)size % TAR_BLOCK) % TAR_BLOCK;
	t->state = t->left > 0 ? TAR_DATA : TAR_HEADER;
	return BARGE_OK;
}

/*
 * Follows len more bytes of the tar.  On a refusal, *clean is how many of
 * them come before the refused header: libarchive may have those, so that
 * the entries before it are read whole and the refusal comes when
 * libarchive reaches the header.
 */
static int
tar_follow(struct tar_track *t, const unsigned char *p, size_t len, size_t *clean,
           struct barge_err *err)
{
	size_t pos = 0, start = 0, n;
	int rc;

	while (pos < len && t->state != TAR_END && t->state != TAR_ASIDE) {
		n = len - pos;
		if (t->state == TAR_HEADER) {
			if (t->hlen == 0)
				start = pos;
			n = n < TAR_BLOCK - t->hlen ? n : TAR_BLOCK - t->hlen;
			memcpy(t->hdr + t->hlen, p + pos, n);
			t->hlen += n;
			pos += n;
			if (t->hlen < TAR_BLOCK)
				continue;
			t->hlen = 0;
			rc = tar_judge(t, err);
		} else {
			n = n < t->left ? n : (size_t)t->left;
			if (t->state == TAR_PAX)
				memcpy(t->pax + t->plen, p + pos, n);
			t->plen += t->state == TAR_PAX ? n : 0;
			t->left -= n;
			pos += n;
			if (t->left > 0)
				continue;
			rc = BARGE_OK;
			if (t->state == TAR_PAX && (rc = tar_pax(t, err)) == BARGE_OK) {
				t->after_pax = 1;
				t->left = t->pad;
			}
			t->state = t->left > 0 ? TAR_DATA : TAR_HEADER;
		}
		if (rc != BARGE_OK) {
			*clean = start;
			return rc;
		}
	}
	*clean = len;
	return BARGE_OK;
}

#define NOT_A_BUNDLE "not a barge bundle (zstd-compressed tar expected)"

static uint32_t
le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Reads more compressed input, keeping what is left unread, until need
 * bytes are at hand or the input ends; on the first read, checks the zstd
 * magic.  fill and pull leave the bundle's name out of their messages: the
 * public functions put it first.
 */
static int
fill(struct bundle_reader *r, size_t need, struct barge_err *err)
{
	size_t n;
	int rc;

	memmove(r->ibuf, r->ibuf + r->ipos, r->ilen - r->ipos);
	r->ilen -= r->ipos;
	r->ipos = 0;
	while (r->ilen < need && !r->ieof) {
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
		if (r->ilen < 4 || le32(r->ibuf) != ZSTD_MAGIC)
			return err_set(err, BARGE_EFORMAT, NOT_A_BUNDLE);
		r->started = 1;
	}
	return BARGE_OK;
}

/*
 * At the start of a frame: its header must say that a content checksum
 * follows (RFC 8878 3.1.1.1.1, Content_Checksum_flag), as libzstd checks
 * one only where the writer put it.  A skippable frame has none.  What is
 * not a frame at all, or is cut short, is left to ZSTD_decompressStream.
 */
static int
frame_check(struct bundle_reader *r, struct barge_err *err)
{
	const unsigned char *p;
	uint32_t magic;
	int rc;

	if (r->ilen - r->ipos < 5 && (rc = fill(r, 5, err)) != BARGE_OK)
		return rc;
	r->frame_next = 0;
	if (r->ilen - r->ipos < 5)
		return BARGE_OK;
	p = r->ibuf + r->ipos;
	magic = le32(p);
	if (magic == ZSTD_MAGIC && (p[4] & 0x04) != 0) {
		r->nframes++;
		return BARGE_OK;
	}
	if (magic == ZSTD_MAGIC || (magic & ~0xFu) == ZSTD_SKIP_MAGIC)
		return err_set(err, BARGE_EFORMAT,
		               "zstd frame %d (at byte %" PRId64 ") has no content checksum, which "
		               "every frame of a bundle carries",
		               r->nframes + 1, r->bytes_in - (int64_t)(r->ilen - r->ipos));
	return BARGE_OK;
}

/*
 * Decompresses the next piece of the tar into obuf, and follows its
 * headers.  *got is 0 only at the end of the input, and only if the last
 * zstd frame is complete (its checksum verified by libzstd).
 */
static int
pull(struct bundle_reader *r, size_t *got, struct barge_err *err)
{
	ZSTD_outBuffer out = { r->obuf, BLOCK, 0 };
	ZSTD_inBuffer in;
	size_t z;
	int rc;

	if (r->refused) {
		r->cb_named = 1;
		*err = r->refusal;
		return err->code;
	}
	for (;;) {
		if (r->ipos == r->ilen && !r->ieof &&
		    (rc = fill(r, r->started ? 1 : 4, err)) != BARGE_OK)
			return rc;
		if (r->ipos == r->ilen && r->ieof && r->zleft == 0) {
			*got = 0;
			return BARGE_OK;
		}
		if (r->frame_next && (rc = frame_check(r, err)) != BARGE_OK)
			return rc;
		in.src = r->ibuf;
		in.size = r->ilen;
		in.pos = r->ipos;
		z = ZSTD_decompressStream(r->dctx, &out, &in);
		r->ipos = in.pos;
		if (ZSTD_isError(z))
			return err_set(err, BARGE_EFORMAT, "corrupt zstd stream: %s",
			               ZSTD_getErrorName(z));
		r->zleft = z;
		r->frame_next = z == 0;
		if (out.pos > 0) {
			if (tar_follow(&r->tar, r->obuf, out.pos, got, &r->refusal) != BARGE_OK)
				r->refused = 1;
			/* A refusal with nothing before it in this piece: at once. */
			return *got > 0 ? BARGE_OK : pull(r, got, err);
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
		return err_set(err, r->cb_err.code, "%s: %s%s", r->name, r->cb_named ? "" : where,
		               r->cb_err.msg);
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

void
bundle_source_fd(int fd, struct bundle_source *src)
{
	src->read = fd_read;
	src->close = fd_close;
	src->arg = (void *)(intptr_t)fd;
}

int
bundle_reader_open_fd(int fd, const char *name, struct bundle_reader **out, struct barge_err *err)
{
	struct bundle_source src;

	bundle_source_fd(fd, &src);
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
	r->frame_next = 1;
	err_clear(&r->cb_err);
	err_clear(&r->refusal);
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

/*
 * Checks an entry as libarchive read it: a clean name, a regular file (a
 * pax "linkpath" makes a '0' entry a hard link, a trailing '/' a
 * directory), a sane size.  tar_follow has checked its raw headers.
 */
static int
check_entry(struct bundle_reader *r, struct archive_entry *e, struct barge_err *err)
{
	char sbuf[BUNDLE_NAME_MAX + 1];
	const char *name, *why;

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
	free(r->tar.pax);
	free(r->entry);
	free(r->obuf);
	free(r->ibuf);
	free(r->name);
	free(r);
}
