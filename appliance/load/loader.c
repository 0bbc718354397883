/*
 * loader: one bundle into the store, all or nothing (loader.h).  Owns, for
 * one load, the parsed barge.json, the list of blobs written and pending,
 * and the tags the bundle moves (loadtags.h); the committer thread
 * (loadcommit.h) places the blobs, the metadata is written in one
 * transaction.
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
#include "loadtags.h"
#include "manifest.h"
#include "platform.h"
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

struct lblob {
	const char *digest; /* points into the bundle_meta */
	int64_t size;
	int seen;
	int written; /* this load put it in the store */
};

struct load {
	struct store *s;
	const char *path;
	const struct loader_opts *opts;
	struct bundle_reader *r;
	struct bundle_meta *meta;
	struct lblob *blobs; /* barge.json's blobs, sorted by digest */
	size_t nblobs;
	unsigned char *buf;
	struct loader_result *res;
	struct loadcommit *c;  /* NULL until the first blob */
	struct loadtags moves; /* found in the metadata transaction */
};

static int
lblob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lblob *)a)->digest, ((const struct lblob *)b)->digest);
}

static struct lblob *
lblob_find(struct load *l, const char *digest)
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
		if ((b = lblob_find(l, digest)) == NULL)
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

/* Reads and parses a stored manifest or index (at most MANIFEST_MAX bytes). */
static int
read_manifest(struct load *l, const char *digest, const char *hint, struct manifest **out,
              int64_t *size, struct barge_err *err)
{
	char *buf = NULL;
	size_t have = 0;
	ssize_t n;
	int fd = -1, rc;

	if ((rc = store_blob_open(l->s, digest, &fd, size, err)) != BARGE_OK)
		return rc;
	if (*size > MANIFEST_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "manifest %s: %" PRId64 " bytes, more than %d",
		             digest, *size, MANIFEST_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)*size + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	while (have < (size_t)*size) {
		n = read(fd, buf + have, (size_t)*size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_sys(err, BARGE_EIO, n < 0 ? errno : EIO, "read blob %s", digest);
			goto out;
		}
		have += (size_t)n;
	}
	if ((rc = manifest_parse(buf, have, hint, out, err)) != BARGE_OK)
		err_prefix(err, "manifest %s", digest);
out:
	free(buf);
	close(fd);
	return rc;
}

/* Checks that a blob an image manifest names is stored with the size it says. */
static int
check_desc(struct load *l, const struct bundle_image *im, const char *parent,
           const struct manifest_desc *d, const char *what, struct barge_err *err)
{
	int64_t size;
	int fd, rc;

	rc = store_blob_open(l->s, d->digest, &fd, &size, err);
	if (rc == BARGE_ENOTFOUND)
		return err_set(err, BARGE_ENOTFOUND,
		               "image %s: %s %s of manifest %s is neither in the bundle nor in "
		               "the store",
		               im->repository, what, d->digest, parent);
	if (rc != BARGE_OK)
		return rc;
	close(fd);
	if (size != d->size)
		return err_set(err, BARGE_EDIGEST,
		               "image %s: %s %s is %" PRId64 " bytes, manifest %s says %" PRId64,
		               im->repository, what, d->digest, size, parent, d->size);
	return BARGE_OK;
}

/* Whether every blob of image manifest m is stored. */
static int
check_image_manifest(struct load *l, const struct bundle_image *im, const char *digest,
                     const struct manifest *m, struct barge_err *err)
{
	size_t i;
	int rc;

	if ((rc = check_desc(l, im, digest, &m->config, "config", err)) != BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = check_desc(l, im, digest, &m->descs[i], "layer", err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/* Records an image manifest of repo and its references to its config and layers. */
static int
put_image_manifest(struct load *l, const struct bundle_image *im, const char *digest,
                   const struct manifest *m, int64_t size, struct barge_err *err)
{
	size_t i;
	int rc;

	if ((rc = store_put_manifest(l->s, im->repository, digest, m->media_type, size, err)) !=
	            BARGE_OK ||
	    (rc = store_put_ref(l->s, digest, m->config.digest, err)) != BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = store_put_ref(l->s, digest, m->descs[i].digest, err)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/*
 * The platform of barge.json for which index m's entry d is the one the
 * bundler keeps (manifest_pick, as it picks), or NULL.  Refuses an index
 * with no entry at all for one of the platforms: the bundler would not
 * have built it.
 */
static int
chosen_for(struct load *l, const struct bundle_image *im, const struct manifest *m,
           const struct manifest_desc *d, const char **platform, struct barge_err *err)
{
	struct platform want;
	size_t i;

	*platform = NULL;
	for (i = 0; i < l->meta->nplatforms; i++) {
		if (platform_parse(l->meta->platforms[i], &want, err) != BARGE_OK)
			return err_prefix(err, "barge.json: platforms[%zu]", i);
		if (manifest_pick(m, &want) == NULL)
			return err_set(err, BARGE_ENOTFOUND,
			               "image %s: index %s has no manifest for platform %s, one of "
			               "the bundle's platforms",
			               im->repository, im->digest, l->meta->platforms[i]);
		if (*platform == NULL && manifest_pick(m, &want) == d)
			*platform = l->meta->platforms[i];
	}
	return BARGE_OK;
}

/*
 * Records one child of an index.  A bundle keeps only its chosen platforms
 * (a sparse index): a child for one of them (platform not NULL) must be in
 * the bundle or the store, complete, or the load fails; another child in
 * neither is skipped.  A child the bundle brought must be complete; one
 * only the store holds (from another load) counts only if it is.
 */
static int
put_index_child(struct load *l, const struct bundle_image *im, const char *index,
                const struct manifest_desc *d, const char *platform, struct barge_err *err)
{
	struct manifest *m = NULL;
	int64_t size;
	int rc;

	if (!store_blob_exists(l->s, d->digest)) {
		if (platform == NULL)
			return BARGE_OK;
		return err_set(err, BARGE_ENOTFOUND,
		               "image %s: index %s: the manifest %s for platform %s is neither in "
		               "the bundle nor in the store",
		               im->repository, index, d->digest, platform);
	}
	if ((rc = read_manifest(l, d->digest, d->media_type, &m, &size, err)) != BARGE_OK)
		goto out;
	if (size != d->size) {
		rc = err_set(err, BARGE_EDIGEST,
		             "image %s: manifest %s is %" PRId64 " bytes, index %s says %" PRId64,
		             im->repository, d->digest, size, index, d->size);
		goto out;
	}
	if (m->kind != MANIFEST_IMAGE) {
		rc = err_set(err, BARGE_EFORMAT, "image %s: index %s holds another index %s",
		             im->repository, index, d->digest);
		goto out;
	}
	if ((rc = check_image_manifest(l, im, d->digest, m, err)) != BARGE_OK) {
		if (platform == NULL && lblob_find(l, d->digest) == NULL &&
		    (rc == BARGE_ENOTFOUND || rc == BARGE_EDIGEST))
			rc = BARGE_OK;
		goto out;
	}
	if ((rc = put_image_manifest(l, im, d->digest, m, size, err)) != BARGE_OK)
		goto out;
	rc = store_put_ref(l->s, index, d->digest, err);
out:
	manifest_free(m);
	return rc;
}

/*
 * Sets the n tags of digest in repo (an image's or a referrer's) by the
 * tags policy: a tag the scan found on another digest moves, or with
 * LOADER_TAGS_KEEP stays where it is.
 */
static int
put_tags(struct load *l, const char *repo, char *const *tags, size_t n, const char *digest,
         struct barge_err *err)
{
	struct loader_tag_move *mv;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		mv = loadtags_find(&l->moves, repo, tags[i]);
		if (mv != NULL && l->opts->tags == LOADER_TAGS_KEEP) {
			mv->kept = 1;
			l->res->tags_kept++;
			continue;
		}
		if ((rc = store_put_tag(l->s, repo, tags[i], digest, err)) != BARGE_OK)
			return rc;
		l->res->tags++;
		l->res->tags_moved += mv != NULL;
	}
	return BARGE_OK;
}

static int
put_image(struct load *l, const struct bundle_image *im, int64_t bundle_id, struct barge_err *err)
{
	const char *platform;
	struct manifest *m = NULL;
	int64_t size;
	size_t i;
	int rc;

	rc = read_manifest(l, im->digest, im->media_type, &m, &size, err);
	if (rc == BARGE_ENOTFOUND) {
		rc = err_set(err, BARGE_ENOTFOUND,
		             "image %s: manifest %s is neither in the bundle nor in the store",
		             im->repository, im->digest);
		goto out;
	}
	if (rc != BARGE_OK)
		goto out;
	if (m->kind == MANIFEST_IMAGE) {
		if ((rc = check_image_manifest(l, im, im->digest, m, err)) != BARGE_OK ||
		    (rc = put_image_manifest(l, im, im->digest, m, size, err)) != BARGE_OK)
			goto out;
	} else {
		if ((rc = store_put_manifest(l->s, im->repository, im->digest, m->media_type, size,
		                             err)) != BARGE_OK)
			goto out;
		for (i = 0; i < m->ndescs; i++)
			if ((rc = chosen_for(l, im, m, &m->descs[i], &platform, err)) != BARGE_OK ||
			    (rc = put_index_child(l, im, im->digest, &m->descs[i], platform,
			                          err)) != BARGE_OK)
				goto out;
	}
	if ((rc = put_tags(l, im->repository, im->tags, im->ntags, im->digest, err)) != BARGE_OK)
		goto out;
	rc = store_put_bundle_image(l->s, bundle_id, im->repository, im->digest, err);
out:
	manifest_free(m);
	return rc;
}

/* Whether r is tagged with its subject's OCI 1.1 fallback tag. */
static int
has_fallback_tag(const struct bundle_referrer *r)
{
	char tag[DIGEST_STR_MAX + 8];
	size_t i;

	if (!bundle_fallback_tag(r->subject, tag, sizeof(tag)))
		return 0;
	for (i = 0; i < r->ntags; i++)
		if (strcmp(r->tags[i], tag) == 0)
			return 1;
	return 0;
}

/*
 * Records index m, a referrer: upstream's fallback index of r's subject
 * (no subject, under the subject's fallback tag) lists referrers the bundle
 * or the store holds, put as entries of their own, so only its references
 * to them are recorded; any other (a multi-platform attestation) brings
 * every manifest it lists, each complete.
 */
static int
put_referrer_index(struct load *l, const struct bundle_referrer *r, const struct manifest *m,
                   int64_t size, struct barge_err *err)
{
	struct bundle_image im = { .repository = r->repository };
	char plat[3 * PLATFORM_FIELD_MAX];
	int fallback = !m->has_subject && has_fallback_tag(r);
	size_t i;
	int rc;

	if ((rc = store_put_manifest(l->s, r->repository, r->digest, m->media_type, size, err)) !=
	    BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++) {
		if (!fallback) {
			snprintf(plat, sizeof(plat), "(none)");
			if (m->descs[i].has_platform)
				platform_format(&m->descs[i].platform, plat, sizeof(plat));
			if ((rc = put_index_child(l, &im, r->digest, &m->descs[i], plat, err)) !=
			    BARGE_OK)
				return err_prefix(err, "referrer %s", r->digest);
			continue;
		}
		if (!store_blob_exists(l->s, m->descs[i].digest))
			return err_set(err, BARGE_ENOTFOUND,
			               "referrer %s of %s: the fallback index lists %s, which is "
			               "neither in the bundle nor in the store",
			               r->digest, r->repository, m->descs[i].digest);
		if ((rc = store_put_ref(l->s, r->digest, m->descs[i].digest, err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/*
 * Records a referrer the bundle carries (a signature, an SBOM): its
 * manifest and blobs like an image's, its reference to its subject, so
 * that /referrers and GC find it, and the tags it was found under.
 */
static int
put_referrer(struct load *l, const struct bundle_referrer *r, struct barge_err *err)
{
	struct bundle_image im = { .repository = r->repository };
	struct manifest *m = NULL;
	int64_t size;
	int rc;

	if ((rc = read_manifest(l, r->digest, r->media_type, &m, &size, err)) != BARGE_OK)
		goto out;
	if (m->has_subject && strcmp(m->subject.digest, r->subject) != 0) {
		rc = err_set(err, BARGE_EFORMAT,
		             "referrer %s of %s: its subject is not the one barge.json names",
		             r->digest, r->repository);
		goto out;
	}
	if (m->kind == MANIFEST_INDEX)
		rc = put_referrer_index(l, r, m, size, err);
	else if ((rc = check_image_manifest(l, &im, r->digest, m, err)) == BARGE_OK)
		rc = put_image_manifest(l, &im, r->digest, m, size, err);
	if (rc == BARGE_OK && (rc = store_put_ref(l->s, r->digest, r->subject, err)) == BARGE_OK)
		rc = put_tags(l, r->repository, r->tags, r->ntags, r->digest, err);
out:
	manifest_free(m);
	return rc;
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
		if ((rc = put_image(l, &l->meta->images[i], l->res->bundle_id, err)) != BARGE_OK)
			return rc;
	for (i = 0; i < l->meta->nreferrers; i++)
		if ((rc = put_referrer(l, &l->meta->referrers[i], err)) != BARGE_OK)
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
