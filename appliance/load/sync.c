/*
 * sync: the copy of a peer's store (sync.h).  Owns the spooled listing,
 * the list of blobs it wrote, the bundles it met, and the store's load
 * lock from store_load_begin to its end.
 */
#include "sync.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "fileutil.h"
#include "manifest.h"
#include "ref.h"
#include "store_load.h"

#define MANIFEST_ACCEPT                                                                         \
	"application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, "                           \
	"application/vnd.docker.distribution.manifest.v2+json"
#define SYNC_BUF         (256 * 1024)
#define SYNC_BUNDLES_MAX 100000
/* An index of indexes is as deep as real images go. */
#define SYNC_DEPTH_MAX 4

struct sync_bundle {
	char digest[DIGEST_STR_MAX];
	int64_t id;
	int fresh; /* recorded by this sync: its pins are recorded too */
};

struct sync {
	struct store *s;
	const struct sync_transport *t;
	const char *url;
	struct sync_stats *st;
	FILE *listing;
	char (*written)[DIGEST_STR_MAX];
	size_t nwritten, capwritten;
	struct sync_bundle *bundles;
	size_t nbundles, capbundles;
	char *buf; /* SYNC_BUF bytes */
	char *man; /* MANIFEST_MAX + 1 bytes */
};

/* One line of the listing, its strings borrowed from doc. */
struct line {
	json_t *doc;
	const char *kind; /* "sync", "bundle", "image", "tag", "pin", "end" */
	const char *key;  /* the value of kind's member */
	const char *repo, *digest, *name, *version, *media_type;
	json_int_t n;
};

/* --- the listing --------------------------------------------------------- */

/* Fetches the listing into an unlinked temporary file. */
static int
spool_listing(struct sync *y, struct barge_err *err)
{
	void *body = NULL;
	size_t got;
	int64_t total = 0;
	int rc;

	/* In the store's directory: /tmp may be a tmpfs, and the listing is not small. */
	if ((rc = fu_scratch(store_dir(y->s), &y->listing, err)) != BARGE_OK)
		return rc;
	if ((rc = y->t->get(y->t->arg, SYNC_PATH, NULL, "application/x-ndjson", &body, err)) !=
	    BARGE_OK)
		return err_prefix(err, "%s%s", y->url, SYNC_PATH);
	for (;;) {
		if ((rc = y->t->read(body, y->buf, SYNC_BUF, &got, err)) != BARGE_OK) {
			err_prefix(err, "%s%s", y->url, SYNC_PATH);
			break;
		}
		if (got == 0)
			break;
		if ((total += (int64_t)got) > SYNC_LISTING_MAX) {
			rc = err_set(err, BARGE_ELIMIT, "%s%s: the listing passes %lld bytes",
			             y->url, SYNC_PATH, (long long)SYNC_LISTING_MAX);
			break;
		}
		if (fwrite(y->buf, 1, got, y->listing) != got) {
			rc = err_sys(err, BARGE_EIO, errno, "spool the listing of %s", y->url);
			break;
		}
	}
	y->t->close(body);
	if (rc == BARGE_OK && fflush(y->listing) != 0)
		rc = err_sys(err, BARGE_EIO, errno, "spool the listing of %s", y->url);
	return rc;
}

static const char *
str_member(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Reads and checks the next line; BARGE_ENOTFOUND at the end of the file. */
static int
next_line(struct sync *y, int64_t lineno, struct line *l, struct barge_err *err)
{
	static const char *const kinds[] = { "sync", "bundle", "image", "tag", "pin", "end" };
	json_error_t je;
	size_t len, i;
	int ok;

	memset(l, 0, sizeof(*l));
	if (fgets(y->buf, SYNC_LINE_MAX + 1, y->listing) == NULL)
		return BARGE_ENOTFOUND;
	len = strlen(y->buf);
	if (len == 0 || y->buf[len - 1] != '\n')
		return err_set(err, BARGE_EFORMAT,
		               "%s%s: line %lld: longer than %d bytes or cut short", y->url,
		               SYNC_PATH, (long long)lineno, SYNC_LINE_MAX);
	if ((l->doc = json_loadb(y->buf, len, 0, &je)) == NULL || !json_is_object(l->doc))
		return err_set(err, BARGE_EFORMAT, "%s%s: line %lld: not a JSON object", y->url,
		               SYNC_PATH, (long long)lineno);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (json_object_get(l->doc, kinds[i]) != NULL) {
			l->kind = kinds[i];
			break;
		}
	l->key = str_member(l->doc, l->kind != NULL ? l->kind : "");
	l->repo = str_member(l->doc, "repo");
	l->digest = str_member(l->doc, "digest");
	l->name = str_member(l->doc, "name");
	l->version = str_member(l->doc, "version");
	l->media_type = str_member(l->doc, "media_type");
	if (l->kind == NULL)
		ok = 0;
	else if (strcmp(l->kind, "sync") == 0 || strcmp(l->kind, "end") == 0) {
		l->n = json_integer_value(json_object_get(l->doc, l->kind));
		ok = json_is_integer(json_object_get(l->doc, l->kind));
	} else if (strcmp(l->kind, "bundle") == 0)
		ok = l->key != NULL && digest_valid(l->key) && l->name != NULL &&
		     l->version != NULL;
	else if (strcmp(l->kind, "image") == 0)
		ok = l->key != NULL && digest_valid(l->key) && l->repo != NULL &&
		     ref_valid_repo(l->repo) && l->media_type != NULL;
	else
		ok = l->key != NULL && l->repo != NULL && ref_valid_repo(l->repo) &&
		     l->digest != NULL && digest_valid(l->digest) &&
		     (strcmp(l->kind, "tag") == 0 ? ref_valid_tag(l->key) : digest_valid(l->key));
	if (!ok)
		return err_set(err, BARGE_EFORMAT, "%s%s: line %lld: a malformed %s entry", y->url,
		               SYNC_PATH, (long long)lineno, l->kind != NULL ? l->kind : "unknown");
	return BARGE_OK;
}

/* --- fetching ------------------------------------------------------------ */

static int
remember(struct sync *y, const char *digest, struct barge_err *err)
{
	void *p;
	size_t cap;

	if (y->nwritten == y->capwritten) {
		if (y->capwritten >= SYNC_BLOBS_MAX)
			return err_set(err, BARGE_ELIMIT, "%s: more than %d new blobs in one sync",
			               y->url, SYNC_BLOBS_MAX);
		cap = y->capwritten ? y->capwritten * 2 : 256;
		if ((p = realloc(y->written, cap * sizeof(*y->written))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		y->written = p;
		y->capwritten = cap;
	}
	snprintf(y->written[y->nwritten++], DIGEST_STR_MAX, "%s", digest);
	return BARGE_OK;
}

/*
 * Fetches repo's blob or manifest digest (size bytes, < 0: unknown) into
 * the store, checked against both.  A manifest's bytes are also left in
 * y->man (*len of them).
 */
static int
fetch(struct sync *y, const char *repo, const char *digest, int64_t size, int manifest, size_t *len,
      struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	char path[1024];
	void *body = NULL;
	size_t got, have = 0;
	int rc;

	snprintf(path, sizeof(path), "/v2/%s/%s/%s", repo, manifest ? "manifests" : "blobs",
	         digest);
	if ((rc = y->t->get(y->t->arg, path, repo, manifest ? MANIFEST_ACCEPT : NULL, &body,
	                    err)) != BARGE_OK)
		goto fail;
	if ((rc = store_blob_begin(y->s, digest, size, &w, err)) != BARGE_OK)
		goto fail;
	for (;;) {
		if ((rc = y->t->read(body, manifest ? y->man + have : y->buf,
		                     manifest ? MANIFEST_MAX + 1 - have : SYNC_BUF, &got, err)) !=
		    BARGE_OK)
			goto fail;
		if (got == 0)
			break;
		if (manifest && (have += got) > MANIFEST_MAX) {
			rc = err_set(err, BARGE_ELIMIT, "a manifest over %d bytes", MANIFEST_MAX);
			goto fail;
		}
		if ((rc = store_blob_write(w, manifest ? y->man + have - got : y->buf, got, err)) !=
		    BARGE_OK)
			goto fail;
		y->st->bytes += (int64_t)got;
	}
	y->t->close(body);
	body = NULL;
	/* Checks the digest and size before the blob becomes visible. */
	rc = store_blob_commit(w, err);
	w = NULL;
	if (rc != BARGE_OK)
		goto fail;
	if (manifest) {
		*len = have;
		y->st->manifests++;
	} else
		y->st->blobs++;
	return remember(y, digest, err);
fail:
	y->t->close(body);
	store_blob_abort(w);
	return err_prefix(err, "%s: %s@%s", y->url, repo, digest);
}

/* Reads a stored manifest blob into y->man. */
static int
read_local(struct sync *y, const char *digest, size_t *len, struct barge_err *err)
{
	int64_t size;
	ssize_t n;
	size_t have = 0;
	int fd = -1, rc;

	if ((rc = store_blob_open(y->s, digest, &fd, &size, err)) != BARGE_OK)
		return rc;
	if (size > MANIFEST_MAX) {
		close(fd);
		return err_set(err, BARGE_ELIMIT, "manifest %s: over %d bytes", digest,
		               MANIFEST_MAX);
	}
	while (have < (size_t)size && (n = read(fd, y->man + have, (size_t)size - have)) > 0)
		have += (size_t)n;
	close(fd);
	if (have != (size_t)size)
		return err_sys(err, BARGE_EIO, errno, "read manifest %s", digest);
	*len = have;
	return BARGE_OK;
}

/*
 * The manifest digest of repo, parsed: fetched first when the store lacks
 * it.  Caller frees *out.
 */
static int
manifest_get(struct sync *y, const char *repo, const char *digest, int64_t size,
             const char *media_type, struct manifest **out, size_t *len, struct barge_err *err)
{
	int rc;

	if (store_blob_exists(y->s, digest))
		rc = read_local(y, digest, len, err);
	else
		rc = fetch(y, repo, digest, size, 1, len, err);
	if (rc != BARGE_OK)
		return rc;
	if ((rc = manifest_parse(y->man, *len, media_type, out, err)) != BARGE_OK)
		return err_prefix(err, "%s: %s@%s", y->url, repo, digest);
	return BARGE_OK;
}

/*
 * Pass one: the manifest tree of repo@digest and every blob it reaches
 * into the store.  With record (pass two, in the transaction), its rows.
 */
static int
walk(struct sync *y, const char *repo, const char *digest, int64_t size, const char *media_type,
     int record, int depth, struct barge_err *err)
{
	struct manifest *m = NULL;
	struct store_manifest have;
	size_t len, i;
	int rc;

	if (depth > SYNC_DEPTH_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: %s@%s: indexes nested over %d deep", y->url,
		               repo, digest, SYNC_DEPTH_MAX);
	/* A manifest row of repo means its whole tree is stored (store.h). */
	rc = store_get_manifest(y->s, repo, digest, &have, err);
	if (rc == BARGE_OK)
		return BARGE_OK;
	if (rc != BARGE_ENOTFOUND)
		return rc;
	if ((rc = manifest_get(y, repo, digest, size, media_type, &m, &len, err)) != BARGE_OK)
		return rc;
	if (m->kind == MANIFEST_INDEX) {
		for (i = 0; rc == BARGE_OK && i < m->ndescs; i++)
			rc = walk(y, repo, m->descs[i].digest, m->descs[i].size,
			          m->descs[i].media_type, record, depth + 1, err);
	} else {
		if (!record && !store_blob_exists(y->s, m->config.digest))
			rc = fetch(y, repo, m->config.digest, m->config.size, 0, NULL, err);
		for (i = 0; rc == BARGE_OK && !record && i < m->ndescs; i++)
			if (!store_blob_exists(y->s, m->descs[i].digest))
				rc = fetch(y, repo, m->descs[i].digest, m->descs[i].size, 0, NULL,
				           err);
	}
	if (rc == BARGE_OK && record) {
		/* m owns its strings: reading the children into y->man left it alone. */
		rc = store_put_manifest(y->s, repo, digest, m->media_type, (int64_t)len, err);
		if (rc == BARGE_OK && m->kind == MANIFEST_IMAGE)
			rc = store_put_ref(y->s, digest, m->config.digest, err);
		for (i = 0; rc == BARGE_OK && i < m->ndescs; i++)
			rc = store_put_ref(y->s, digest, m->descs[i].digest, err);
		if (rc == BARGE_OK)
			y->st->rows++;
	}
	manifest_free(m);
	return rc;
}

/* --- recording ----------------------------------------------------------- */

static struct sync_bundle *
bundle_find(struct sync *y, const char *digest)
{
	size_t i;

	for (i = 0; i < y->nbundles; i++)
		if (strcmp(y->bundles[i].digest, digest) == 0)
			return &y->bundles[i];
	return NULL;
}

static int
record_bundle(struct sync *y, const struct line *l, struct barge_err *err)
{
	struct sync_bundle *b;
	void *p;
	size_t cap;
	int rc;

	if (bundle_find(y, l->key) != NULL)
		return BARGE_OK;
	if (y->nbundles == y->capbundles) {
		if (y->capbundles >= SYNC_BUNDLES_MAX)
			return err_set(err, BARGE_ELIMIT, "%s: more than %d bundles", y->url,
			               SYNC_BUNDLES_MAX);
		cap = y->capbundles ? y->capbundles * 2 : 16;
		if ((p = realloc(y->bundles, cap * sizeof(*y->bundles))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		y->bundles = p;
		y->capbundles = cap;
	}
	b = &y->bundles[y->nbundles];
	memset(b, 0, sizeof(*b));
	snprintf(b->digest, sizeof(b->digest), "%s", l->key);
	rc = store_load_find_bundle(y->s, l->key, &b->id, err);
	if (rc == BARGE_ENOTFOUND) {
		if ((rc = store_put_bundle(y->s, l->name, l->version, l->key, &b->id, err)) !=
		    BARGE_OK)
			return err_prefix(err, "bundle %s:%s (%s)", l->name, l->version, l->key);
		b->fresh = 1;
		y->st->bundles++;
	}
	if (rc == BARGE_OK)
		y->nbundles++;
	return rc;
}

static int
record_line(struct sync *y, const struct line *l, struct barge_err *err)
{
	struct store_manifest have;
	struct sync_bundle *b;
	int rc;

	if (strcmp(l->kind, "bundle") == 0)
		return record_bundle(y, l, err);
	if (strcmp(l->kind, "image") == 0)
		return walk(y, l->repo, l->key, -1, l->media_type, 1, 0, err);
	if (strcmp(l->kind, "tag") == 0) {
		rc = store_get_manifest(y->s, l->repo, l->key, &have, err);
		if (rc == BARGE_OK && strcmp(have.digest, l->digest) == 0)
			return BARGE_OK;
		if (rc != BARGE_OK && rc != BARGE_ENOTFOUND)
			return rc;
		if ((rc = store_put_tag(y->s, l->repo, l->key, l->digest, err)) != BARGE_OK)
			return err_prefix(err, "%s:%s", l->repo, l->key);
		y->st->tags++;
		return BARGE_OK;
	}
	if (strcmp(l->kind, "pin") == 0) {
		if ((b = bundle_find(y, l->key)) == NULL)
			return err_set(err, BARGE_EFORMAT,
			               "%s%s: a pin of %s@%s by bundle %s, not listed", y->url,
			               SYNC_PATH, l->repo, l->digest, l->key);
		if (!b->fresh)
			return BARGE_OK;
		if ((rc = store_put_bundle_image(y->s, b->id, l->repo, l->digest, err)) != BARGE_OK)
			return err_prefix(err, "pin %s@%s", l->repo, l->digest);
		y->st->pins++;
	}
	return BARGE_OK;
}

/* What a pass over the listing does with it. */
enum pass_mode {
	PASS_CHECK, /* reads every line: a cut or malformed listing is refused before a fetch */
	PASS_FETCH, /* fetches what the store lacks */
	PASS_RECORD /* writes the rows, in the transaction */
};

/* Reads the listing from its start, checking its first and last lines. */
static int
pass(struct sync *y, enum pass_mode mode, struct barge_err *err)
{
	struct line l;
	int64_t lineno = 0, images = 0;
	int rc, ended = 0;

	rewind(y->listing);
	for (;;) {
		rc = next_line(y, ++lineno, &l, err);
		if (rc == BARGE_ENOTFOUND) {
			rc = BARGE_OK;
			break;
		}
		if (rc == BARGE_OK && ended)
			rc = err_set(err, BARGE_EFORMAT, "%s%s: line %lld: after the end", y->url,
			             SYNC_PATH, (long long)lineno);
		else if (rc == BARGE_OK && (lineno == 1) != (strcmp(l.kind, "sync") == 0))
			rc = err_set(err, BARGE_EFORMAT, "%s%s: line %lld: %s", y->url, SYNC_PATH,
			             (long long)lineno,
			             lineno == 1 ? "not a barged sync listing" : "a second head");
		else if (rc == BARGE_OK && lineno == 1 && l.n != 1)
			rc = err_set(err, BARGE_EFORMAT, "%s%s: listing version %lld, not 1",
			             y->url, SYNC_PATH, (long long)l.n);
		else if (rc == BARGE_OK && strcmp(l.kind, "end") == 0) {
			ended = 1;
			if (l.n != images)
				rc = err_set(err, BARGE_EFORMAT,
				             "%s%s: %lld images listed, %lld said", y->url,
				             SYNC_PATH, (long long)images, (long long)l.n);
		} else if (rc == BARGE_OK && strcmp(l.kind, "image") == 0) {
			images++;
			if (mode == PASS_RECORD)
				rc = record_line(y, &l, err);
			else if (mode == PASS_FETCH)
				rc = walk(y, l.repo, l.key, -1, l.media_type, 0, 0, err);
		} else if (rc == BARGE_OK && mode == PASS_RECORD && strcmp(l.kind, "sync") != 0)
			rc = record_line(y, &l, err);
		json_decref(l.doc);
		if (rc != BARGE_OK)
			return rc;
	}
	if (!ended)
		return err_set(err, BARGE_EFORMAT, "%s%s: the listing was cut short (no end line)",
		               y->url, SYNC_PATH);
	y->st->images = images;
	return BARGE_OK;
}

static int
record_all(struct store *s, void *arg, struct barge_err *err)
{
	struct sync *y = arg;

	(void)s;
	return pass(y, PASS_RECORD, err);
}

int
sync_run(struct store *s, const struct sync_transport *t, const char *url, struct sync_stats *st,
         struct barge_err *err)
{
	struct sync y = { .s = s, .t = t, .url = url, .st = st };
	const char **digests = NULL;
	size_t i;
	int rc, locked = 0;

	memset(st, 0, sizeof(*st));
	if ((y.buf = malloc(SYNC_BUF)) == NULL || (y.man = malloc(MANIFEST_MAX + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = spool_listing(&y, err)) != BARGE_OK ||
	    (rc = pass(&y, PASS_CHECK, err)) != BARGE_OK)
		goto out;
	if ((rc = store_load_begin(s, err)) != BARGE_OK)
		goto out;
	locked = 1;
	if ((rc = pass(&y, PASS_FETCH, err)) != BARGE_OK)
		goto out;
	/* Pass two starts over: bundles met in pass one were not recorded. */
	y.nbundles = 0;
	st->rows = st->tags = st->bundles = st->pins = 0;
	rc = store_load_record(s, record_all, &y, err);
out:
	if (locked && rc == BARGE_OK)
		store_load_end(s);
	else if (locked) {
		if ((digests = calloc(y.nwritten + 1, sizeof(*digests))) != NULL) {
			for (i = 0; i < y.nwritten; i++)
				digests[i] = y.written[i];
			store_load_undo(s, digests, y.nwritten);
		} else
			store_load_undo(s, NULL, 0);
		free(digests);
	}
	if (y.listing != NULL)
		fclose(y.listing);
	free(y.written);
	free(y.bundles);
	free(y.buf);
	free(y.man);
	return rc;
}
