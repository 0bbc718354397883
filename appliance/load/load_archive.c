/*
 * load_archive: a SOURCE stream told apart (bundle or another tool's
 * archive) and an archive read into the store (load_archive.h).  Owns, for
 * one archive, the libarchive handle, the sniffing buffer in front of the
 * source, and the struct arch (arch_int.h) the format readers fill; the
 * commit goes through the loader (loader_record) and the store's load
 * protocol (store_load.h).
 */
#include "load_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "arch_int.h"
#include "bundle_meta.h"
#include "store_load.h"

/* Bytes read ahead to tell a bundle from an archive, and the block size after. */
#define SNIFF_MAX (128 * 1024)
#define ARCH_BUF  (1024 * 1024)

/* --- the source, with its first bytes read ahead --------------------------- */

struct sniff {
	struct bundle_source src;
	unsigned char *buf;
	size_t len, pos;
	int eof;
	unsigned char *block; /* libarchive's read buffer */
	int64_t bytes_in;
	struct barge_err err; /* the source's error, for libarchive's caller */
	int failed;
};

static int
sniff_read(void *arg, void *buf, size_t cap, size_t *got, struct barge_err *err)
{
	struct sniff *k = arg;

	if (k->pos < k->len) {
		*got = k->len - k->pos < cap ? k->len - k->pos : cap;
		memcpy(buf, k->buf + k->pos, *got);
		k->pos += *got;
		return BARGE_OK;
	}
	if (k->eof) {
		*got = 0;
		return BARGE_OK;
	}
	return k->src.read(k->src.arg, buf, cap, got, err);
}

static void
sniff_close(void *arg)
{
	struct sniff *k = arg;

	if (k == NULL)
		return;
	if (k->src.close != NULL)
		k->src.close(k->src.arg);
	free(k->buf);
	free(k->block);
	free(k);
}

/* Reads up to SNIFF_MAX bytes ahead. */
static int
sniff_fill(struct sniff *k, struct barge_err *err)
{
	size_t got;
	int rc;

	if ((k->buf = malloc(SNIFF_MAX)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	while (k->len < SNIFF_MAX) {
		if ((rc = k->src.read(k->src.arg, k->buf + k->len, SNIFF_MAX - k->len, &got,
		                      err)) != BARGE_OK)
			return rc;
		if (got == 0) {
			k->eof = 1;
			break;
		}
		k->len += got;
	}
	return BARGE_OK;
}

/*
 * Whether the first bytes are a barge bundle: zstd, and a tar whose first
 * header is barge.json (or its pax extended header).  The bundle reader
 * checks the rest as strictly as ever.
 */
static int
is_bundle(const struct sniff *k)
{
	static const unsigned char magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	unsigned char out[512];
	ZSTD_inBuffer in = { k->buf, k->len, 0 };
	ZSTD_outBuffer o = { out, sizeof(out), 0 };
	ZSTD_DCtx *d;
	size_t nlen, zr;

	if (k->len < 4 || memcmp(k->buf, magic, 4) != 0)
		return 0;
	if ((d = ZSTD_createDCtx()) == NULL)
		return 1;
	do
		zr = ZSTD_decompressStream(d, &o, &in);
	while (!ZSTD_isError(zr) && o.pos < o.size && in.pos < in.size);
	ZSTD_freeDCtx(d);
	/* Not a tar we can name: the bundle reader says why. */
	if (o.pos < sizeof(out))
		return 1;
	nlen = strnlen((const char *)out, 100);
	return nlen >= 10 && memcmp(out + nlen - 10, "barge.json", 10) == 0;
}

/* --- the arch's lists ------------------------------------------------------ */

static int
blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct arch_blob *)a)->digest, ((const struct arch_blob *)b)->digest);
}

struct arch_blob *
arch_blob(struct arch *a, const char *digest)
{
	struct arch_blob key;

	if (a->nblobs == 0)
		return NULL;
	snprintf(key.digest, sizeof(key.digest), "%s", digest);
	return bsearch(&key, a->blobs, a->nblobs, sizeof(*a->blobs), blob_cmp);
}

/* Makes room for one more blob in the list: blob_add then can not fail. */
static int
blob_room(struct arch *a, struct barge_err *err)
{
	struct arch_blob *grown;
	size_t cap;

	if (a->nblobs == ARCH_BLOBS_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: more than %d blobs", a->path,
		               ARCH_BLOBS_MAX);
	if (a->nblobs == a->capblobs) {
		cap = a->capblobs > 0 ? a->capblobs * 2 : 64;
		if ((grown = realloc(a->blobs, cap * sizeof(*grown))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		a->blobs = grown;
		a->capblobs = cap;
	}
	return BARGE_OK;
}

/* Adds a blob, keeping the list sorted; *out points at it until the next add. */
static int
blob_add(struct arch *a, const char *digest, int64_t size, struct arch_blob **out,
         struct barge_err *err)
{
	size_t lo = 0, hi = a->nblobs, mid;
	int rc;

	if ((rc = blob_room(a, err)) != BARGE_OK)
		return rc;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(a->blobs[mid].digest, digest) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(a->blobs + lo + 1, a->blobs + lo, (a->nblobs - lo) * sizeof(*a->blobs));
	memset(&a->blobs[lo], 0, sizeof(a->blobs[lo]));
	snprintf(a->blobs[lo].digest, sizeof(a->blobs[lo].digest), "%s", digest);
	a->blobs[lo].size = size;
	a->nblobs++;
	*out = &a->blobs[lo];
	return BARGE_OK;
}

const struct arch_member *
arch_member(const struct arch *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nmembers; i++)
		if (strcmp(a->members[i].name, name) == 0)
			return &a->members[i];
	return NULL;
}

int
arch_member_json(const struct arch *a, const char *name, json_t **out, struct barge_err *err)
{
	const struct arch_member *m = arch_member(a, name);
	json_error_t je;

	*out = NULL;
	if (m == NULL)
		return BARGE_OK;
	if ((*out = json_loadb(m->data, m->len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\": line %d: %s", a->path, name,
		               je.line, je.text);
	return BARGE_OK;
}

static const char *
link_target(const struct arch *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nlinks; i++)
		if (strcmp(a->links[i].name, name) == 0)
			return a->links[i].target;
	return NULL;
}

/* Whether s is n lowercase hex digits. */
static int
is_hex(const char *s, size_t n)
{
	return strlen(s) >= n && strspn(s, "0123456789abcdef") >= n;
}

int
arch_name_digest(const struct arch *a, const char *name, char digest[DIGEST_STR_MAX])
{
	const char *alg, *slash, *target;
	size_t i;
	int n;

	if ((target = link_target(a, name)) != NULL)
		name = target;
	for (i = 0; i < a->nnamed; i++)
		if (strcmp(a->named[i].name, name) == 0) {
			memcpy(digest, a->named[i].digest, DIGEST_STR_MAX);
			return 1;
		}
	if (strncmp(name, "images/", 7) == 0)
		name += 7;
	if (strncmp(name, "blobs/", 6) == 0) {
		alg = name + 6;
		if ((slash = strchr(alg, '/')) == NULL)
			return 0;
		n = snprintf(digest, DIGEST_STR_MAX, "%.*s:%s", (int)(slash - alg), alg, slash + 1);
		return n > 0 && n < DIGEST_STR_MAX && digest_valid(digest);
	}
	/* docker-archive as skopeo writes it: layers "<hex>.tar", configs "<hex>.json". */
	if (is_hex(name, 64) &&
	    (strcmp(name + 64, ".tar") == 0 || strcmp(name + 64, ".json") == 0)) {
		snprintf(digest, DIGEST_STR_MAX, "sha256:%.64s", name);
		return digest_valid(digest);
	}
	return 0;
}

int
arch_read_blob(struct arch *a, const char *digest, size_t max, char **buf, size_t *len,
               struct barge_err *err)
{
	char *b = NULL;
	size_t have = 0;
	int64_t size;
	ssize_t n;
	int fd = -1, rc;

	if ((rc = store_blob_open(a->s, digest, &fd, &size, err)) != BARGE_OK)
		return rc;
	if (size < 0 || (uint64_t)size > max) {
		rc = err_set(err, BARGE_ELIMIT, "blob %s: %" PRId64 " bytes, more than %zu", digest,
		             size, max);
		goto out;
	}
	if ((b = malloc((size_t)size + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	while (have < (size_t)size) {
		n = read(fd, b + have, (size_t)size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_sys(err, BARGE_EIO, n < 0 ? errno : EIO, "read blob %s", digest);
			goto out;
		}
		have += (size_t)n;
	}
	b[have] = '\0';
	*buf = b;
	*len = have;
	b = NULL;
out:
	free(b);
	close(fd);
	return rc;
}

int
arch_put_blob(struct arch *a, const char *buf, size_t len, char digest[DIGEST_STR_MAX],
              struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	struct arch_blob *b;
	int rc;

	if ((rc = digest_buf(DIGEST_SHA256, buf, len, digest, err)) != BARGE_OK)
		return rc;
	if (arch_blob(a, digest) != NULL)
		return BARGE_OK;
	if ((rc = blob_add(a, digest, (int64_t)len, &b, err)) != BARGE_OK)
		return rc;
	if (store_blob_exists(a->s, digest))
		return BARGE_OK;
	if ((rc = store_blob_begin(a->s, digest, (int64_t)len, &w, err)) != BARGE_OK ||
	    (rc = store_blob_write(w, buf, len, err)) != BARGE_OK) {
		store_blob_abort(w);
		return rc;
	}
	if ((rc = store_blob_commit(w, err)) != BARGE_OK)
		return rc;
	b->written = 1;
	a->res->blobs_new++;
	a->res->bytes_new += (int64_t)len;
	return BARGE_OK;
}

/* --- the stream ------------------------------------------------------------ */

static la_ssize_t
ar_read(struct archive *ar, void *arg, const void **out)
{
	struct sniff *k = arg;
	size_t got;

	(void)ar;
	if (sniff_read(k, k->block, ARCH_BUF, &got, &k->err) != BARGE_OK) {
		k->failed = 1;
		archive_set_error(ar, EIO, "%s", k->err.msg);
		return -1;
	}
	k->bytes_in += (int64_t)got;
	*out = k->block;
	return (la_ssize_t)got;
}

/*
 * Feeds the current member's data, exactly the size its header declares,
 * to the store's writer w, or with w NULL to dc only.  The caller prefixes
 * errors with the member.
 */
static int
copy_data(struct archive *ar, int64_t size, struct store_blob_writer *w, struct digest_ctx *dc,
          struct barge_err *err)
{
	const void *block;
	size_t len;
	la_int64_t off;
	int64_t total = 0;
	int r, rc;

	while ((r = archive_read_data_block(ar, &block, &len, &off)) == ARCHIVE_OK) {
		if (off != total || (uint64_t)len > (uint64_t)(size - total))
			return err_set(err, BARGE_EFORMAT,
			               "not the %" PRId64 " contiguous bytes its header declares",
			               size);
		total += (int64_t)len;
		rc = w != NULL ? store_blob_write(w, block, len, err)
		               : digest_update(dc, block, len, err);
		if (rc != BARGE_OK)
			return rc;
	}
	if (r != ARCHIVE_EOF || total != size)
		return err_set(err, BARGE_EFORMAT, "%s",
		               r != ARCHIVE_EOF ? archive_error_string(ar) : "cut short");
	return BARGE_OK;
}

/* Counts a staged blob of size bytes in the result: new, or held by the store before. */
static void
count_blob(struct arch *a, int64_t size, int created)
{
	a->res->bytes += size;
	if (created) {
		a->res->blobs_new++;
		a->res->bytes_new += size;
	} else {
		a->res->blobs_present++;
	}
}

/* Reads the current member into the store as blob digest, checked against it. */
static int
stage_blob(struct arch *a, struct archive *ar, const char *name, const char *digest, int64_t size,
           struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	struct digest_ctx *dc = NULL;
	char got_digest[DIGEST_STR_MAX];
	struct arch_blob *b;
	enum digest_alg alg;
	int present, rc;

	if (arch_blob(a, digest) != NULL)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\": blob %s appears twice",
		               a->path, name, digest);
	/* Listed first, so that a failure halfway still has it undone. */
	if ((rc = blob_add(a, digest, size, &b, err)) != BARGE_OK)
		return rc;
	present = store_blob_exists(a->s, digest);
	if (present) {
		if ((rc = digest_parse(digest, &alg, NULL, err)) != BARGE_OK ||
		    (rc = digest_new(alg, &dc, err)) != BARGE_OK)
			goto out;
	} else if ((rc = store_blob_begin(a->s, digest, size, &w, err)) != BARGE_OK) {
		goto out;
	}
	if ((rc = copy_data(ar, size, w, dc, err)) != BARGE_OK)
		goto prefixed;
	if (present) {
		if ((rc = digest_final(dc, got_digest, err)) != BARGE_OK)
			goto prefixed;
		if (strcmp(got_digest, digest) != 0) {
			rc = err_set(err, BARGE_EDIGEST, "content has digest %s, expected %s",
			             got_digest, digest);
			goto prefixed;
		}
	} else {
		rc = store_blob_commit(w, err);
		w = NULL;
		if (rc != BARGE_OK)
			goto prefixed;
		b->written = 1;
	}
	count_blob(a, size, !present);
	goto out;
prefixed:
	err_prefix(err, "%s: member \"%s\"", a->path, name);
out:
	digest_free(dc);
	store_blob_abort(w);
	return rc;
}

/* Whether name is docker save's "<id>/layer.tar": one directory, then the layer. */
static int
is_legacy_layer(const char *name)
{
	const char *slash = strchr(name, '/');

	return slash != NULL && slash != name && strcmp(slash, "/layer.tar") == 0;
}

/* Remembers that member name holds blob digest (arch_name_digest finds it). */
static int
add_named(struct arch *a, const char *name, const char *digest, struct barge_err *err)
{
	struct arch_named *grown;

	if (a->nnamed == ARCH_BLOBS_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: more than %d layers named by no digest",
		               a->path, ARCH_BLOBS_MAX);
	if ((grown = realloc(a->named, (a->nnamed + 1) * sizeof(*grown))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	a->named = grown;
	if ((grown[a->nnamed].name = strdup(name)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	snprintf(grown[a->nnamed].digest, sizeof(grown[a->nnamed].digest), "%s", digest);
	a->nnamed++;
	return BARGE_OK;
}

/*
 * Reads a member named by no digest (docker save's "<id>/layer.tar" before
 * Docker 25) into the store, hashed on the way: the store learns its digest
 * at the end.  The config's rootfs.diff_ids check it once manifest.json is
 * read (arch_docker.c).  The same bytes under two ids are one blob.
 */
static int
stage_unnamed(struct arch *a, struct archive *ar, const char *name, int64_t size,
              struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	char digest[DIGEST_STR_MAX];
	struct arch_blob *b;
	int created = 0, rc;

	/* Room first: a blob placed must be listed, or a failure would not undo it. */
	if ((rc = blob_room(a, err)) != BARGE_OK ||
	    (rc = store_blob_begin_unknown(a->s, DIGEST_SHA256, &w, err)) != BARGE_OK)
		return rc;
	if ((rc = copy_data(ar, size, w, NULL, err)) != BARGE_OK) {
		store_blob_abort(w);
		return err_prefix(err, "%s: member \"%s\"", a->path, name);
	}
	if ((rc = store_blob_commit_as(w, digest, &created, err)) != BARGE_OK)
		return err_prefix(err, "%s: member \"%s\"", a->path, name);
	if (arch_blob(a, digest) == NULL) {
		if ((rc = blob_add(a, digest, size, &b, err)) != BARGE_OK)
			return rc;
		b->written = created;
		count_blob(a, size, created);
	}
	return add_named(a, name, digest, err);
}

/* The metadata members kept in memory; anything else no image can name. */
static int
is_meta(const char *name)
{
	static const char *const names[] = { "manifest.json",    "index.json", "oci-layout",
		                             "repositories",     "zarf.yaml",  "images/index.json",
		                             "images/oci-layout" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* Keeps the current member (a metadata file) in memory, within the bounds. */
static int
keep_member(struct arch *a, struct archive *ar, const char *name, int64_t size,
            struct barge_err *err)
{
	struct arch_member *grown, *m;
	la_ssize_t n;
	size_t have = 0;
	char *buf;

	if (arch_member(a, name) != NULL)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\" appears twice", a->path,
		               name);
	if (size > ARCH_MEMBER_MAX || (uint64_t)size > ARCH_META_TOTAL - a->metabytes)
		return err_set(err, BARGE_ELIMIT,
		               "%s: member \"%s\": %" PRId64 " bytes, more than the %d bytes "
		               "metadata may take",
		               a->path, name, size,
		               size > ARCH_MEMBER_MAX ? ARCH_MEMBER_MAX : ARCH_META_TOTAL);
	if ((buf = malloc((size_t)size + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	while (have < (size_t)size &&
	       (n = archive_read_data(ar, buf + have, (size_t)size - have)) > 0)
		have += (size_t)n;
	if (have != (size_t)size) {
		free(buf);
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\": cut short", a->path, name);
	}
	buf[have] = '\0';
	if ((grown = realloc(a->members, (a->nmembers + 1) * sizeof(*grown))) == NULL) {
		free(buf);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	a->members = grown;
	m = &a->members[a->nmembers];
	if ((m->name = strdup(name)) == NULL) {
		free(buf);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	m->data = buf;
	m->len = have;
	a->nmembers++;
	a->metabytes += have;
	return BARGE_OK;
}

/*
 * A symbolic link is never followed; only docker-archive's legacy alias
 * "<id>/layer.tar" -> "../<file>" (skopeo writes them) or
 * "../<id>/layer.tar" (docker save before Docker 25, for a layer saved
 * already) is taken, as another name for that member.
 */
static int
keep_link(struct arch *a, const char *name, const char *target, struct barge_err *err)
{
	const char *slash = strchr(name, '/');
	struct arch_link *grown;
	char *n = NULL, *t = NULL;

	if (target == NULL || slash == NULL || strcmp(slash, "/layer.tar") != 0 ||
	    strncmp(target, "../", 3) != 0 ||
	    (strchr(target + 3, '/') != NULL && !is_legacy_layer(target + 3)) ||
	    bundle_name_problem(target + 3) != NULL)
		return err_set(err, BARGE_EFORMAT,
		               "%s: member \"%s\": symbolic link to \"%s\" not allowed", a->path,
		               name, target != NULL ? target : "");
	if (a->nlinks == ARCH_LINKS_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: more than %d links", a->path,
		               ARCH_LINKS_MAX);
	if ((grown = realloc(a->links, (a->nlinks + 1) * sizeof(*grown))) == NULL ||
	    (a->links = grown, (n = strdup(name)) == NULL) || (t = strdup(target + 3)) == NULL) {
		free(n);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	a->links[a->nlinks].name = n;
	a->links[a->nlinks].target = t;
	a->nlinks++;
	return BARGE_OK;
}

/* Drops the current member: no image can name it. */
static int
skip_member(struct arch *a, struct archive *ar, const char *name, struct barge_err *err)
{
	if (archive_read_data_skip(ar) != ARCHIVE_OK)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\": %s", a->path, name,
		               archive_error_string(ar));
	return BARGE_OK;
}

/* One member, by its type and name. */
static int
read_member(struct arch *a, struct archive *ar, struct archive_entry *ae, struct barge_err *err)
{
	const char *raw = archive_entry_pathname(ae), *why;
	char name[BUNDLE_NAME_MAX + 1], digest[DIGEST_STR_MAX];
	mode_t type = archive_entry_filetype(ae);
	int64_t size = archive_entry_size(ae);
	size_t len;

	if (raw == NULL)
		return err_set(err, BARGE_EFORMAT, "%s: a member without a name", a->path);
	while (strncmp(raw, "./", 2) == 0)
		raw += 2;
	len = strlen(raw);
	if (type == AE_IFDIR && len > 0 && raw[len - 1] == '/')
		len--;
	if (len == 0 && type == AE_IFDIR)
		return BARGE_OK;
	if (len > BUNDLE_NAME_MAX)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%.64s...\": name too long",
		               a->path, raw);
	snprintf(name, sizeof(name), "%.*s", (int)len, raw);
	if ((why = bundle_name_problem(name)) != NULL)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\": %s", a->path, name, why);
	if (archive_entry_hardlink(ae) != NULL)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\": hard link not allowed",
		               a->path, name);
	/* A bundle cut or reordered is refused as one, never read as another format. */
	if (strcmp(name, "barge.json") == 0 || strcmp(name, "barge.json.sig") == 0)
		return err_set(
		        err, BARGE_EFORMAT,
		        "%s: member \"%s\": not a barge bundle (a bundle is a zstd-compressed "
		        "tar whose first entry is barge.json), nor another tool's archive",
		        a->path, name);
	if (type == AE_IFDIR)
		return BARGE_OK;
	if (type == AE_IFLNK)
		return keep_link(a, name, archive_entry_symlink(ae), err);
	if (type != AE_IFREG)
		return err_set(err, BARGE_EFORMAT,
		               "%s: member \"%s\": not a regular file, directory or link", a->path,
		               name);
	if (!archive_entry_size_is_set(ae) || size < 0)
		return err_set(err, BARGE_EFORMAT, "%s: member \"%s\": no size", a->path, name);
	if (is_meta(name))
		return keep_member(a, ar, name, size, err);
	if (arch_name_digest(a, name, digest))
		return stage_blob(a, ar, name, digest, size, err);
	if (is_legacy_layer(name))
		return stage_unnamed(a, ar, name, size, err);
	return skip_member(a, ar, name, err);
}

static int
read_stream(struct arch *a, struct sniff *k, struct barge_err *err)
{
	struct archive_entry *ae;
	struct archive *ar;
	size_t n = 0;
	int r, rc = BARGE_OK;

	if ((k->block = malloc(ARCH_BUF)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((ar = archive_read_new()) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (archive_read_support_filter_gzip(ar) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(ar) != ARCHIVE_OK ||
	    archive_read_support_format_tar(ar) != ARCHIVE_OK) {
		rc = err_set(err, BARGE_EIO, "libarchive: %s", archive_error_string(ar));
		goto out;
	}
	if (archive_read_open(ar, k, NULL, ar_read, NULL) != ARCHIVE_OK) {
		rc = k->failed ? err_set(err, BARGE_EIO, "%s", k->err.msg)
		               : err_set(err, BARGE_EFORMAT,
		                         "%s: not a barge bundle, nor a tar archive (plain, gzip "
		                         "or zstd) of another tool: %s",
		                         a->path, archive_error_string(ar));
		goto out;
	}
	while ((r = archive_read_next_header(ar, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		n++;
		if ((rc = read_member(a, ar, ae, err)) != BARGE_OK)
			goto out;
		if (a->opts->progress != NULL)
			a->opts->progress(a->opts->progress_arg, k->bytes_in);
	}
	if (r != ARCHIVE_EOF)
		rc = k->failed ? err_set(err, BARGE_EIO, "%s", k->err.msg)
		               : err_set(err, BARGE_EFORMAT, "%s: %s%s", a->path,
		                         n == 0 ? "not a barge bundle, nor a tar archive (plain, "
		                                  "gzip or zstd) of another tool: "
		                                : "",
		                         archive_error_string(ar));
	else if (n == 0)
		rc = err_set(
		        err, BARGE_EFORMAT,
		        "%s: not a barge bundle, nor another tool's archive: it has no entries",
		        a->path);
out:
	archive_read_free(ar);
	return rc;
}

/* --- formats and the commit ------------------------------------------------ */

/* Which format the members are, and its images. */
static int
read_images(struct arch *a, struct barge_err *err)
{
	const struct arch_member *m;
	json_t *index = NULL;
	int rc;

	if ((m = arch_member(a, "manifest.json")) != NULL) {
		snprintf(a->format, sizeof(a->format), "docker-archive");
		rc = arch_docker_images(a, err);
	} else if ((m = arch_member(a, "zarf.yaml")) != NULL) {
		snprintf(a->format, sizeof(a->format), "zarf");
		rc = arch_zarf_images(a, err);
	} else if ((m = arch_member(a, "index.json")) != NULL) {
		if ((rc = arch_member_json(a, "index.json", &index, err)) != BARGE_OK)
			return rc;
		if (arch_hauler_is(index)) {
			snprintf(a->format, sizeof(a->format), "hauler");
			rc = arch_oci_images(a, "", arch_hauler_name, err);
		} else {
			snprintf(a->format, sizeof(a->format), "oci-archive");
			rc = arch_oci_images(a, "", arch_oci_name, err);
		}
		json_decref(index);
	} else {
		return err_set(err, BARGE_EFORMAT,
		               "%s: unknown format: not a barge bundle, and no manifest.json "
		               "(docker-archive), index.json (OCI layout, Hauler) or zarf.yaml "
		               "(Zarf) in the archive",
		               a->path);
	}
	if (rc != BARGE_OK)
		return rc;
	if (a->nimages == 0)
		return err_set(err, BARGE_ENOTFOUND, "%s: %s names no image", a->path, a->format);
	/* The record of the archive is named by the metadata its images came from. */
	return digest_buf(DIGEST_SHA256, m->data, m->len, a->meta_digest, err);
}

/* barge.json's form of what the archive brought, for loader_record; images move into it. */
static int
make_meta(struct arch *a, struct bundle_meta **out, struct barge_err *err)
{
	struct bundle_meta *m;
	size_t i;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	m->images = a->images;
	m->nimages = a->nimages;
	a->images = NULL;
	a->nimages = 0;
	if ((m->name = strdup(a->format)) == NULL ||
	    (m->version = strndup(a->meta_digest + 7, 12)) == NULL ||
	    (m->project = strdup(a->project)) == NULL ||
	    (a->nblobs > 0 && (m->blobs = calloc(a->nblobs, sizeof(*m->blobs))) == NULL)) {
		bundle_meta_free(m);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	for (i = 0; i < a->nblobs; i++) {
		memcpy(m->blobs[i].digest, a->blobs[i].digest, sizeof(m->blobs[i].digest));
		m->blobs[i].size = a->blobs[i].size;
	}
	m->nblobs = a->nblobs;
	*out = m;
	return BARGE_OK;
}

/* The digest of blob i when this load wrote it, for loader_undo. */
static const char *
blob_written(const void *arg, size_t i)
{
	const struct arch *a = arg;

	return a->blobs[i].written ? a->blobs[i].digest : NULL;
}

/*
 * Ends the load, committed or not: the blobs it wrote that no manifest or
 * reference names go again (all of them after a failure), and blobs_new
 * counts those that stay.
 */

static void
finish(struct arch *a)
{
	size_t i;

	loader_undo(a->s, a->nblobs, blob_written, a);
	a->res->blobs_new = 0;
	a->res->bytes_new = 0;
	for (i = 0; i < a->nblobs; i++)
		if (a->blobs[i].written && store_blob_exists(a->s, a->blobs[i].digest)) {
			a->res->blobs_new++;
			a->res->bytes_new += a->blobs[i].size;
		}
}

static void
arch_clear(struct arch *a)
{
	size_t i;

	for (i = 0; i < a->nmembers; i++) {
		free(a->members[i].name);
		free(a->members[i].data);
	}
	for (i = 0; i < a->nlinks; i++) {
		free(a->links[i].name);
		free(a->links[i].target);
	}
	for (i = 0; i < a->nnamed; i++)
		free(a->named[i].name);
	free(a->named);
	for (i = 0; i < a->nimages; i++) {
		free(a->images[i].repository);
		free(a->images[i].source);
		while (a->images[i].ntags > 0)
			free(a->images[i].tags[--a->images[i].ntags]);
		free(a->images[i].tags);
		free(a->images[i].digest);
		free(a->images[i].media_type);
	}
	free(a->images);
	free(a->links);
	free(a->members);
	free(a->blobs);
}

static int
load_arch(struct store *s, struct sniff *k, const char *name, const struct loader_opts *opts,
          struct loader_result *res, struct barge_err *err)
{
	struct bundle_meta *meta = NULL;
	struct loader_result tmp;
	struct arch a;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&tmp, 0, sizeof(tmp));
	a.s = s;
	a.path = name;
	a.opts = opts;
	a.project = opts->project != NULL ? opts->project : "edge";
	a.res = &tmp;
	if (opts->require_signature)
		return err_set(err, BARGE_EAUTH,
		               "%s: refused: not a barge bundle, and a signature is required (an "
		               "archive of another tool carries none)",
		               name);
	if ((rc = store_load_begin(s, err)) != BARGE_OK)
		return rc;
	if ((rc = read_stream(&a, k, err)) == BARGE_OK && (rc = read_images(&a, err)) == BARGE_OK &&
	    (rc = make_meta(&a, &meta, err)) == BARGE_OK)
		rc = loader_record(s, meta, name, a.meta_digest, opts, &tmp, err);
	finish(&a);
	if (rc == BARGE_OK)
		*res = tmp;
	bundle_meta_free(meta);
	arch_clear(&a);
	return rc;
}

int
archload_load(struct store *s, const struct bundle_source *src, const char *name,
              const struct loader_opts *opts, struct loader_result *res, struct barge_err *err)
{
	static const struct loader_opts defaults;
	struct bundle_source own;
	struct bundle_reader *r = NULL;
	struct sniff *k;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		if (src->close != NULL)
			src->close(src->arg);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	k->src = *src;
	if ((rc = sniff_fill(k, err)) != BARGE_OK) {
		err_prefix(err, "%s", name);
		sniff_close(k);
		return rc;
	}
	if (!is_bundle(k)) {
		rc = load_arch(s, k, name, opts, res, err);
		sniff_close(k);
		return rc;
	}
	own.read = sniff_read;
	own.close = sniff_close;
	own.arg = k;
	if ((rc = bundle_reader_open_source(&own, name, &r, err)) != BARGE_OK)
		return rc;
	rc = loader_load_reader(s, r, name, opts, res, err);
	bundle_reader_free(r);
	return rc;
}

int
archload_load_fd(struct store *s, int fd, const char *name, const struct loader_opts *opts,
                 struct loader_result *res, struct barge_err *err)
{
	struct bundle_source src;

	bundle_source_fd(fd, &src);
	return archload_load(s, &src, name, opts, res, err);
}
