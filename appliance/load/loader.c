/*
 * loader: one bundle into the store, all or nothing (loader.h).  Owns, for
 * one load, the parsed barge.json, the list of blobs written and pending,
 * and the tags the bundle moves (loadtags.h); the committer thread
 * (loadcommit.h) places the blobs, the metadata is written in one
 * transaction, its rows by loadput.c (loader_int.h).
 */
#include "loader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "loadcommit.h"
#include "loader_int.h"
#include "loadtags.h"
#include "sign.h"
#include "store_load.h"

/* Blobs stream through this much memory, however large they are. */
#define LOADER_BUF (1024 * 1024)
/* Bound for the oci-layout entry, which the loader reads past without using. */
#define LAYOUT_MAX 4096
/* Room kept free beyond the blobs, for the database and its WAL. */
#define SPACE_MARGIN (4 * 1024 * 1024)
/* Missing base blobs named in a refusal; the rest are counted. */
#define MISSING_SHOWN 8

/* Where the reader is in the fixed entry order of the format. */
enum phase { PH_META, PH_SIG, PH_LAYOUT, PH_INDEX, PH_BLOBS };

static int
lblob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lblob *)a)->digest, ((const struct lblob *)b)->digest);
}

struct lblob *
loader_blob_find(struct load *l, const char *digest)
{
	struct lblob key = { .digest = digest };

	if (l->nblobs == 0)
		return NULL;
	return bsearch(&key, l->blobs, l->nblobs, sizeof(*l->blobs), lblob_cmp);
}

/* Reads and parses barge.json, which must come first; *buf holds its bytes. */
static int
slurp_meta(struct bundle_reader *r, const char *path, char **buf, size_t *len,
           struct bundle_meta **meta, struct barge_err *err)
{
	const char *name;
	int64_t size;
	int rc;

	rc = bundle_reader_next(r, &name, &size, err);
	if (rc == BUNDLE_EOF)
		return err_set(err, BARGE_EFORMAT, "%s: not a barge bundle: it has no entries",
		               path);
	if (rc != BARGE_OK)
		return rc;
	if (strcmp(name, "barge.json") != 0)
		return err_set(err, BARGE_EFORMAT,
		               "%s: not a barge bundle: first entry is \"%s\", not \"barge.json\"",
		               path, name);
	if ((rc = bundle_reader_slurp(r, BUNDLE_META_MAX, buf, len, err)) != BARGE_OK)
		return rc;
	if ((rc = bundle_meta_parse("barge.json", *buf, *len, meta, err)) != BARGE_OK) {
		err_prefix(err, "%s", path);
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

/* Indexes l->meta's blobs and takes its name into the result. */
static int
index_blobs(struct load *l, struct barge_err *err)
{
	size_t i;

	if (l->meta->nblobs > 0 && (l->blobs = calloc(l->meta->nblobs, sizeof(*l->blobs))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (i = 0; i < l->meta->nblobs; i++) {
		l->blobs[i].digest = l->meta->blobs[i].digest;
		l->blobs[i].size = l->meta->blobs[i].size;
	}
	l->nblobs = l->meta->nblobs;
	qsort(l->blobs, l->nblobs, sizeof(*l->blobs), lblob_cmp);
	snprintf(l->res->name, sizeof(l->res->name), "%s", l->meta->name);
	snprintf(l->res->version, sizeof(l->res->version), "%s", l->meta->version);
	l->res->delta = l->meta->nrequires > 0;
	return BARGE_OK;
}

/* Reads barge.json and indexes its blobs. */
static int
read_meta(struct load *l, char **meta, size_t *metalen, struct barge_err *err)
{
	char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = slurp_meta(l->r, l->path, &buf, &len, &l->meta, err)) != BARGE_OK)
		return rc;
	/* barge.json names every blob by digest, so its digest names the bundle. */
	if ((rc = digest_buf(DIGEST_SHA256, buf, len, l->res->digest, err)) != BARGE_OK ||
	    (rc = index_blobs(l, err)) != BARGE_OK)
		goto out;
	*meta = buf;
	*metalen = len;
	return BARGE_OK;
out:
	free(buf);
	return rc;
}

static void
progress(struct load *l)
{
	if (l->opts->progress != NULL)
		l->opts->progress(l->opts->progress_arg, bundle_reader_bytes_in(l->r));
}

/*
 * Applies the signature policy to barge.json.sig (sig NULL when the bundle
 * has none).  Runs before any blob is written: a refused bundle leaves
 * nothing behind, not even orphans.
 */
static int
check_signature(struct load *l, const char *meta, size_t metalen, const char *sig, size_t siglen,
                struct barge_err *err)
{
	const struct loader_opts *o = l->opts;
	struct barge_err ignored;
	int rc;

	if (sig == NULL) {
		if (o->require_signature)
			return err_set(err, BARGE_EAUTH,
			               "%s: refused: the bundle is not signed and a signature is "
			               "required",
			               l->path);
		return BARGE_OK;
	}
	if (o->nkeys == 0) {
		if (o->require_signature)
			return err_set(err, BARGE_EAUTH,
			               "%s: refused: a signature is required but no trusted key "
			               "is configured",
			               l->path);
		/* Nothing to check it against: only say who claims to have signed it. */
		if (sign_read_keyid(sig, siglen, l->res->signer, &ignored) != BARGE_OK)
			l->res->signer[0] = '\0';
		return BARGE_OK;
	}
	rc = sign_check(o->keys, o->nkeys, meta, metalen, sig, siglen, l->res->signer, err);
	if (rc != BARGE_OK) {
		l->res->signer[0] = '\0';
		return err_prefix(err, "%s: refused: barge.json.sig", l->path);
	}
	l->res->verified = 1;
	return BARGE_OK;
}

/*
 * A delta bundle's base must be in the store before anything is written;
 * the refusal names the missing blobs (the first few, and how many more).
 */
static int
check_requires(struct load *l, struct barge_err *err)
{
	const struct bundle_blob *q;
	char list[MISSING_SHOWN * (DIGEST_STR_MAX + 2)];
	size_t i, missing = 0, used = 0;
	int64_t size;
	int fd, rc;

	list[0] = '\0';
	for (i = 0; i < l->meta->nrequires; i++) {
		q = &l->meta->requires[i];
		rc = store_blob_open(l->s, q->digest, &fd, &size, err);
		if (rc == BARGE_OK) {
			close(fd);
			if (size != q->size)
				return err_set(err, BARGE_EDIGEST,
				               "%s: required blob %s is %" PRId64
				               " bytes in the store, barge.json says %" PRId64,
				               l->path, q->digest, size, q->size);
			continue;
		}
		if (rc != BARGE_ENOTFOUND)
			return rc;
		if (missing++ < MISSING_SHOWN)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
			                         used > 0 ? ", " : "", q->digest);
	}
	if (missing == 0)
		return BARGE_OK;
	if (missing > MISSING_SHOWN)
		return err_set(err, BARGE_ENOTFOUND,
		               "%s: delta bundle needs %zu blobs from its base that the store "
		               "does not hold (load the base bundle first): %s and %zu more",
		               l->path, missing, list, missing - MISSING_SHOWN);
	return err_set(err, BARGE_ENOTFOUND,
	               "%s: delta bundle needs %zu blob%s from its base that the store does "
	               "not hold (load the base bundle first): %s",
	               l->path, missing, missing == 1 ? "" : "s", list);
}

/* Adds b to *a, saturating: sizes come from an untrusted barge.json. */
static void
add_sat(int64_t *a, int64_t b)
{
	*a = b > INT64_MAX - *a ? INT64_MAX : *a + b;
}

/*
 * Refuses a bundle whose new blobs (those the store does not hold, each
 * rounded up to whole filesystem blocks) do not fit in the free space of
 * the store's filesystem, before anything is written.
 */
static int
check_space(struct load *l, struct barge_err *err)
{
	struct statvfs vfs;
	int64_t need = SPACE_MARGIN, avail, bsize, blocks;
	size_t i;

	if (statvfs(store_dir(l->s), &vfs) != 0)
		return err_sys(err, BARGE_EIO, errno, "statvfs %s", store_dir(l->s));
	bsize = vfs.f_frsize > 0 ? (int64_t)vfs.f_frsize : 4096;
	for (i = 0; i < l->nblobs; i++) {
		if (store_blob_exists(l->s, l->blobs[i].digest))
			continue;
		blocks = l->blobs[i].size / bsize + (l->blobs[i].size % bsize != 0);
		add_sat(&need, blocks > INT64_MAX / bsize ? INT64_MAX : blocks * bsize);
	}
	avail = (uint64_t)vfs.f_bavail > (uint64_t)(INT64_MAX / bsize)
	                ? INT64_MAX
	                : (int64_t)vfs.f_bavail * bsize;
	if (need > avail)
		return err_set(err, BARGE_ELIMIT,
		               "%s: not enough free space in %s: the bundle needs %" PRId64
		               " bytes for its new blobs, %" PRId64 " bytes are available",
		               l->path, store_dir(l->s), need, avail);
	return BARGE_OK;
}

/* Reads past an entry whose content the loader does not use, within max bytes. */
static int
skip_entry(struct load *l, const char *name, int64_t size, int64_t max, struct barge_err *err)
{
	int64_t total = 0;
	size_t got;
	int rc;

	if (size > max)
		return err_set(err, BARGE_ELIMIT,
		               "%s: entry \"%s\": %" PRId64
		               " bytes, more than the limit of %" PRId64,
		               l->path, name, size, max);
	do {
		if ((rc = bundle_reader_read(l->r, l->buf, LOADER_BUF, &got, err)) != BARGE_OK)
			return rc;
		total += (int64_t)got;
		if (total > size)
			return err_set(err, BARGE_EFORMAT,
			               "%s: entry \"%s\": longer than its %" PRId64 " bytes",
			               l->path, name, size);
		progress(l);
	} while (got > 0);
	return BARGE_OK;
}

/*
 * Turns "blobs/<alg>/<hex>" into "<alg>:<hex>" when that is a valid digest.
 * Returns 0 for any other name.
 */
static int
entry_digest(const char *name, char *digest)
{
	const char *alg, *slash;
	int n;

	if (strncmp(name, "blobs/", 6) != 0)
		return 0;
	alg = name + 6;
	if ((slash = strchr(alg, '/')) == NULL)
		return 0;
	n = snprintf(digest, DIGEST_STR_MAX, "%.*s:%s", (int)(slash - alg), alg, slash + 1);
	return n > 0 && n < DIGEST_STR_MAX && digest_valid(digest);
}

/*
 * Streams the current entry into the store, or, when the store already holds
 * the blob, only through a digest check: a bundle is never trusted, but a
 * blob in place is not written twice.
 */
static int
load_blob(struct load *l, struct lblob *b, const char *name, struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	struct digest_ctx *dc = NULL;
	char got_digest[DIGEST_STR_MAX];
	const void *block;
	enum digest_alg alg;
	int64_t total = 0;
	size_t got;
	int present, rc;

	present = store_blob_exists(l->s, b->digest);
	if (present) {
		if ((rc = digest_parse(b->digest, &alg, NULL, err)) != BARGE_OK ||
		    (rc = digest_new(alg, &dc, err)) != BARGE_OK)
			goto out;
	} else if ((l->c == NULL && (rc = loadcommit_start(l->path, &l->c, err)) != BARGE_OK) ||
	           (rc = store_blob_begin(l->s, b->digest, b->size, &w, err)) != BARGE_OK) {
		goto out;
	}
	for (;;) {
		/* Straight from the decompressor's buffer: no copy on the way. */
		if ((rc = bundle_reader_read_block(l->r, &block, &got, err)) != BARGE_OK)
			goto out;
		if (got == 0)
			break;
		/*
		 * Never past the declared size: a tar header can say one size
		 * and deliver more (a pax sparse header, for one), and the bytes
		 * beyond would go to tmp/ or the hash for nothing.
		 */
		if ((uint64_t)got > (uint64_t)(b->size - total)) {
			rc = err_set(err, BARGE_EFORMAT,
			             "longer than the %" PRId64 " bytes barge.json declares",
			             b->size);
			goto prefixed;
		}
		total += (int64_t)got;
		l->res->bytes += (int64_t)got;
		progress(l);
		rc = present ? digest_update(dc, block, got, err)
		             : store_blob_write(w, block, got, err);
		if (rc != BARGE_OK)
			goto prefixed;
	}
	if (total != b->size) {
		rc = err_set(err, BARGE_EFORMAT, "%" PRId64 " of %" PRId64 " bytes", total,
		             b->size);
		goto prefixed;
	}
	if (present) {
		if ((rc = digest_final(dc, got_digest, err)) != BARGE_OK)
			goto prefixed;
		if (strcmp(got_digest, b->digest) != 0) {
			rc = err_set(err, BARGE_EDIGEST, "content has digest %s, expected %s",
			             got_digest, b->digest);
			goto prefixed;
		}
		l->res->blobs_present++;
	} else {
		/* Its prefix is already in the committer's message. */
		rc = loadcommit_put(l->c, w, &b->written, total, name, err);
		w = NULL;
	}
	goto out;
prefixed:
	err_prefix(err, "%s: entry \"%s\"", l->path, name);
out:
	digest_free(dc);
	store_blob_abort(w);
	return rc;
}

/*
 * Reads every entry after barge.json and its signature, checking each
 * against barge.json: rc, name and size are the first of them, as
 * bundle_reader_next returned it.
 */
static int
read_entries(struct load *l, enum phase phase, int rc, const char *name, int64_t size,
             struct barge_err *err)
{
	char digest[DIGEST_STR_MAX];
	enum phase want;
	struct lblob *b;

	for (;; rc = bundle_reader_next(l->r, &name, &size, err)) {
		if (rc == BUNDLE_EOF)
			return BARGE_OK;
		if (rc != BARGE_OK)
			return rc;
		if (strcmp(name, "barge.json.sig") == 0 || strcmp(name, "oci-layout") == 0 ||
		    strcmp(name, "index.json") == 0) {
			want = name[0] == 'b' ? PH_SIG : name[0] == 'o' ? PH_LAYOUT : PH_INDEX;
			if (phase >= want)
				return err_set(
				        err, BARGE_EFORMAT,
				        "%s: entry \"%s\" out of place (the order is "
				        "barge.json, barge.json.sig, oci-layout, index.json, "
				        "blobs)",
				        l->path, name);
			/* A signature is only valid right after barge.json, where it was read. */
			if (want == PH_SIG)
				return err_set(err, BARGE_EFORMAT,
				               "%s: entry \"%s\" out of place (it must come right "
				               "after barge.json)",
				               l->path, name);
			phase = want;
			rc = skip_entry(l, name, size,
			                want == PH_LAYOUT ? LAYOUT_MAX : BUNDLE_META_MAX, err);
			if (rc != BARGE_OK)
				return rc;
			continue;
		}
		phase = PH_BLOBS;
		if (!entry_digest(name, digest))
			return err_set(err, BARGE_EFORMAT, "%s: unexpected entry \"%s\"", l->path,
			               name);
		if ((b = loader_blob_find(l, digest)) == NULL)
			return err_set(err, BARGE_EFORMAT,
			               "%s: entry \"%s\": blob not listed in barge.json", l->path,
			               name);
		if (b->seen)
			return err_set(err, BARGE_EFORMAT, "%s: entry \"%s\" appears twice",
			               l->path, name);
		if (size != b->size)
			return err_set(err, BARGE_EDIGEST,
			               "%s: entry \"%s\": %" PRId64
			               " bytes, but barge.json lists %" PRId64,
			               l->path, name, size, b->size);
		b->seen = 1;
		if ((rc = load_blob(l, b, name, err)) != BARGE_OK)
			return rc;
	}
}

/* After the last entry: every listed blob arrived. */
static int
check_complete(struct load *l, struct barge_err *err)
{
	size_t i;

	for (i = 0; i < l->nblobs; i++)
		if (!l->blobs[i].seen)
			return err_set(err, BARGE_EFORMAT,
			               "%s: blob %s is listed in barge.json but missing from the "
			               "bundle",
			               l->path, l->blobs[i].digest);
	return BARGE_OK;
}

/*
 * Who signed the bundle and where it came from, for the operator (GET
 * /api/v1/bundles): a key id no trusted key checked is said to be unverified.
 */
static int
record_origin(struct load *l, struct barge_err *err)
{
	char signer[DIGEST_STR_MAX + 32];
	const char *source = l->opts->source != NULL ? l->opts->source : l->path;

	snprintf(signer, sizeof(signer), "%s%s", l->res->signer,
	         l->res->signer[0] != '\0' && !l->res->verified ? " (not verified)" : "");
	return store_set_bundle_origin(l->s, l->res->bundle_id, signer, source, err);
}

/* The bundle's metadata, which store_load_record writes in one transaction. */
static int
record_metadata(struct store *s, void *arg, struct barge_err *err)
{
	struct load *l = arg;
	size_t i;
	int rc;

	(void)s;
	/* Reloading a bundle keeps its record: the same barge.json is the same bundle. */
	rc = store_load_find_bundle(l->s, l->res->digest, &l->res->bundle_id, err);
	if (rc == BARGE_ENOTFOUND)
		rc = store_put_bundle(l->s, l->meta->name, l->meta->version, l->res->digest,
		                      &l->res->bundle_id, err);
	else if (rc == BARGE_OK)
		l->res->reloaded = 1;
	if (rc == BARGE_OK)
		rc = record_origin(l, err);
	if (rc != BARGE_OK)
		return rc;
	/* Inside the transaction: what the tags are now, not when the load began. */
	if ((rc = loadtags_scan(l->s, l->meta, &l->moves, err)) != BARGE_OK)
		return rc;
	if (l->opts->tags == LOADER_TAGS_REFUSE && l->moves.n > 0)
		return loadtags_refuse(&l->moves, err);
	for (i = 0; i < l->meta->nimages; i++)
		if ((rc = loadput_image(l, &l->meta->images[i], l->res->bundle_id, err)) !=
		    BARGE_OK)
			return rc;
	for (i = 0; i < l->meta->nreferrers; i++)
		if ((rc = loadput_referrer(l, &l->meta->referrers[i], err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/* Tells the caller each tag the committed load moved or kept. */
static void
report_moves(struct load *l)
{
	size_t i;

	if (l->opts->tag_moved == NULL)
		return;
	for (i = 0; i < l->moves.n; i++)
		l->opts->tag_moved(l->opts->tag_moved_arg, &l->moves.v[i]);
}

static int
commit_metadata(struct load *l, struct barge_err *err)
{
	if (store_load_record(l->s, record_metadata, l, err) != BARGE_OK)
		return err_prefix(err, "%s", l->path);
	l->res->images = l->meta->nimages;
	report_moves(l);
	return BARGE_OK;
}

/*
 * Without memory for the list the blobs stay as orphans for GC: a load
 * that failed is not made to fail differently.
 */
void
loader_undo(struct store *s, size_t n, const char *(*written)(const void *arg, size_t i),
            const void *arg)
{
	const char **list = NULL, *d;
	size_t i, cap = 0, k = 0;

	for (i = 0; i < n; i++)
		cap += written(arg, i) != NULL;
	list = cap > 0 ? calloc(cap, sizeof(*list)) : NULL;
	for (i = 0; list != NULL && i < n && k < cap; i++)
		if ((d = written(arg, i)) != NULL)
			list[k++] = d;
	store_load_undo(s, list, k);
	free(list);
}

/* The digest of blob i when this load wrote it, for loader_undo. */
static const char *
lblob_written(const void *arg, size_t i)
{
	const struct load *l = arg;

	return l->blobs[i].written ? l->blobs[i].digest : NULL;
}

/*
 * The head of the bundle: barge.json, then barge.json.sig if present; the
 * checks that must pass before anything is written; then the entries.
 */
static int
load_all(struct load *l, struct barge_err *err)
{
	enum phase phase = PH_META;
	char *meta = NULL, *sig = NULL;
	size_t metalen = 0, siglen = 0;
	struct barge_err ignored;
	const char *name = NULL;
	int64_t size = 0;
	int rc, frc, next, begun = 0;

	if ((rc = read_meta(l, &meta, &metalen, err)) != BARGE_OK)
		goto out;
	next = bundle_reader_next(l->r, &name, &size, err);
	if (next == BARGE_OK && strcmp(name, "barge.json.sig") == 0) {
		if ((rc = bundle_reader_slurp(l->r, SIGN_SIG_MAX, &sig, &siglen, err)) != BARGE_OK)
			goto out;
		phase = PH_SIG;
		next = bundle_reader_next(l->r, &name, &size, err);
	}
	if (next < 0) {
		rc = next;
		goto out;
	}
	if ((rc = check_signature(l, meta, metalen, sig, siglen, err)) != BARGE_OK ||
	    (rc = check_requires(l, err)) != BARGE_OK || (rc = check_space(l, err)) != BARGE_OK)
		goto out;
	/*
	 * Refused by the tags policy before any blob is written; the metadata
	 * transaction checks again, as another load may move a tag meanwhile.
	 */
	if (l->opts->tags == LOADER_TAGS_REFUSE &&
	    ((rc = loadtags_scan(l->s, l->meta, &l->moves, err)) != BARGE_OK ||
	     (rc = loadtags_refuse(&l->moves, err)) != BARGE_OK)) {
		err_prefix(err, "%s", l->path);
		goto out;
	}
	/* From here to the commit, GC leaves alone what this load writes or relies on. */
	if ((rc = store_load_begin(l->s, err)) != BARGE_OK)
		goto out;
	begun = 1;
	rc = read_entries(l, phase, next, name, size, err);
	/* Every blob is in place, or after a failure accounted for, before going on. */
	frc = loadcommit_finish(l->c, &l->res->blobs_new, &l->res->bytes_new,
	                        rc == BARGE_OK ? err : &ignored);
	l->c = NULL;
	if (rc == BARGE_OK)
		rc = frc;
	if (rc != BARGE_OK || (rc = check_complete(l, err)) != BARGE_OK)
		goto out;
	rc = commit_metadata(l, err);
out:
	if (begun && rc == BARGE_OK)
		store_load_end(l->s);
	else if (begun)
		/* A refused bundle leaves no trace. */
		loader_undo(l->s, l->nblobs, lblob_written, l);
	free(sig);
	free(meta);
	return rc;
}

int
loader_load_reader(struct store *s, struct bundle_reader *r, const char *name,
                   const struct loader_opts *opts, struct loader_result *res, struct barge_err *err)
{
	static const struct loader_opts defaults;
	struct loader_result tmp;
	struct load l;
	int rc;

	memset(&l, 0, sizeof(l));
	memset(&tmp, 0, sizeof(tmp));
	l.s = s;
	l.path = name;
	l.opts = opts != NULL ? opts : &defaults;
	l.r = r;
	l.res = &tmp;
	if ((l.buf = malloc(LOADER_BUF)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = load_all(&l, err)) != BARGE_OK)
		goto out;
	*res = tmp;
out:
	loadtags_clear(&l.moves);
	bundle_meta_free(l.meta);
	free(l.blobs);
	free(l.buf);
	return rc;
}

int
loader_record(struct store *s, struct bundle_meta *meta, const char *name, const char *digest,
              const struct loader_opts *opts, struct loader_result *res, struct barge_err *err)
{
	static const struct loader_opts defaults;
	struct load l;
	int rc;

	memset(&l, 0, sizeof(l));
	l.s = s;
	l.path = name;
	l.opts = opts != NULL ? opts : &defaults;
	l.meta = meta;
	l.res = res;
	snprintf(res->digest, sizeof(res->digest), "%s", digest);
	if ((rc = index_blobs(&l, err)) == BARGE_OK)
		rc = commit_metadata(&l, err);
	loadtags_clear(&l.moves);
	free(l.blobs);
	return rc;
}

int
loader_load(struct store *s, const char *path, struct loader_result *res, struct barge_err *err)
{
	struct bundle_reader *r = NULL;
	int rc;

	if ((rc = bundle_reader_open(path, &r, err)) != BARGE_OK)
		return rc;
	rc = loader_load_reader(s, r, path, NULL, res, err);
	bundle_reader_free(r);
	return rc;
}

int
loader_peek(struct bundle_reader *r, const char *name, struct bundle_meta **meta,
            struct barge_err *err)
{
	char *buf = NULL;
	size_t len;
	int rc;

	rc = slurp_meta(r, name, &buf, &len, meta, err);
	free(buf);
	return rc;
}
