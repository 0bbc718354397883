/*
 * store_ls: the lifecycle's reading side and its removal of bundles
 * (store.h: store_list_bundles, store_find_bundles, store_list_images,
 * store_rm_bundle).  Listings run in one read snapshot, so a concurrent load
 * shows whole or not at all; sizes are distinct blob bytes as stored.
 */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mediatype.h"
#include "store_int.h"

/*
 * Blob sizes seen during one listing, so that a layer many images share is
 * looked up once.  Direct-mapped on the digest's leading hex digits (which
 * are uniform): a collision replaces the slot, so the cache never grows.
 */
#define SIZE_SLOTS 4096 /* the three leading hex digits */
struct size_cache {
	char digest[SIZE_SLOTS][DIGEST_STR_MAX];
	int64_t size[SIZE_SLOTS];
};

static int64_t
cached_size(struct store *s, struct size_cache *c, const char *digest)
{
	const char *hex = strchr(digest, ':');
	char lead[4];
	unsigned long slot;
	int64_t size;

	if (c == NULL || hex == NULL || strlen(hex) < sizeof(lead))
		return blob_size(s, digest);
	memcpy(lead, hex + 1, sizeof(lead) - 1);
	lead[sizeof(lead) - 1] = '\0';
	slot = strtoul(lead, NULL, 16) % SIZE_SLOTS;
	if (strcmp(c->digest[slot], digest) == 0)
		return c->size[slot];
	size = blob_size(s, digest);
	snprintf(c->digest[slot], DIGEST_STR_MAX, "%s", digest);
	c->size[slot] = size;
	return size;
}

/*
 * Adds to *bytes the blob bytes, as stored, of the digests st yields in
 * column 0 (distinct: the queries say so).
 */
static int
add_bytes(struct store *s, struct size_cache *c, sqlite3_stmt *st, int64_t *bytes,
          struct barge_err *err)
{
	const char *d;
	int64_t size;
	int rc = BARGE_OK, step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &d, err)) != BARGE_OK)
			return rc;
		if ((size = cached_size(s, c, d)) > 0)
			*bytes += size;
	}
	if (step != SQLITE_DONE)
		return db_fail(s, err, "walk references");
	return BARGE_OK;
}

/* Distinct digests reachable from roots (indexes -> manifests -> blobs: two steps). */
#define DOWN_FROM(roots)                                                                  \
	"WITH RECURSIVE down(d, depth) AS (" roots " UNION "                              \
	"  SELECT refs.child, down.depth + 1 FROM refs JOIN down ON refs.parent = down.d" \
	"  WHERE down.depth < 2) SELECT DISTINCT d FROM down"

static int
bundle_bytes(struct store *s, int64_t id, int64_t *bytes, struct barge_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*bytes = 0;
	if ((rc = db_prepare(s,
	                     DOWN_FROM("SELECT digest, 0 FROM bundle_images WHERE bundle_id = ?1"),
	                     &st, err)) != BARGE_OK)
		return rc;
	if ((rc = bind_int(s, st, 1, id, err)) == BARGE_OK)
		rc = add_bytes(s, NULL, st, bytes, err);
	sqlite3_finalize(st);
	return rc;
}

/*
 * The children's bytes of every sha256 manifest, read in one pass over refs
 * before the listing.  Probing refs per image instead reads the index in a
 * different order for each repository (digests are random), one page read
 * per image: 138,000 reads for 100,000 tags.  The raw digest keeps an entry
 * at 40 bytes (4 MiB per 100,000 references).
 */
struct kid_bytes {
	unsigned char d[32];
	int64_t bytes;
};

/* More manifests than this is not a store this code was built for. */
#define KIDS_MAX (64 * 1024 * 1024)

struct kids {
	struct kid_bytes *v;
	size_t n, cap;
};

/* digest's 32 bytes if it is "sha256:<64 lowercase hex>"; else 0. */
static int
sha256_raw(const char *digest, unsigned char *out)
{
	static const char hexd[] = "0123456789abcdef";
	const char *h = digest + strlen("sha256:"), *p, *q;
	size_t i;

	if (strncmp(digest, "sha256:", strlen("sha256:")) != 0 || strlen(h) != 64)
		return 0;
	for (i = 0; i < 32; i++) {
		if ((p = memchr(hexd, h[2 * i], 16)) == NULL || h[2 * i] == '\0' ||
		    (q = memchr(hexd, h[2 * i + 1], 16)) == NULL || h[2 * i + 1] == '\0')
			return 0;
		out[i] = (unsigned char)((p - hexd) << 4 | (q - hexd));
	}
	return 1;
}

static int
kids_push(struct kids *k, const unsigned char *d, int64_t bytes, struct barge_err *err)
{
	struct kid_bytes *nv;
	size_t cap;

	if (k->n == k->cap) {
		cap = k->cap ? k->cap * 2 : 1024;
		if (cap > KIDS_MAX)
			return err_set(err, BARGE_ELIMIT, "more than %d manifests to list",
			               KIDS_MAX);
		if ((nv = realloc(k->v, cap * sizeof(*nv))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		k->v = nv;
		k->cap = cap;
	}
	memcpy(k->v[k->n].d, d, sizeof(k->v[k->n].d));
	k->v[k->n++].bytes = bytes;
	return BARGE_OK;
}

static int
kid_cmp(const void *a, const void *b)
{
	return memcmp(((const struct kid_bytes *)a)->d, ((const struct kid_bytes *)b)->d, 32);
}

/*
 * Reads refs in table order (no index: the sizes are in the rows only),
 * one entry per row, then sorts and sums the entries of each parent.
 */
static int
kids_load(struct store *s, struct kids *k, struct size_cache *c, struct barge_err *err)
{
	const char *parent, *child;
	unsigned char d[32];
	sqlite3_stmt *st = NULL;
	int64_t size;
	size_t i, n;
	int rc, step;

	if ((rc = db_prepare(s, "SELECT parent, child, size FROM refs", &st, err)) != BARGE_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = col_text(st, 0, &parent, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &child, err)) != BARGE_OK)
			goto out;
		if (!sha256_raw(parent, d))
			continue;
		/* Recorded since schema 2; a reference from before, a stat. */
		size = sqlite3_column_type(st, 2) == SQLITE_INTEGER ? sqlite3_column_int64(st, 2)
		                                                    : cached_size(s, c, child);
		if ((rc = kids_push(k, d, size > 0 ? size : 0, err)) != BARGE_OK)
			goto out;
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(s, err, "walk references");
		goto out;
	}
	if (k->n > 0)
		qsort(k->v, k->n, sizeof(*k->v), kid_cmp);
	for (i = 0, n = 0; i < k->n; i++) {
		if (n > 0 && memcmp(k->v[n - 1].d, k->v[i].d, 32) == 0)
			k->v[n - 1].bytes += k->v[i].bytes;
		else
			k->v[n++] = k->v[i];
	}
	k->n = n;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The statements store_list_images prepares once and runs per image. */
struct ls_stmts {
	sqlite3_stmt *tags, *bundles, *down, *proxy;
	struct size_cache *sizes;
	struct kids kids;
};

/*
 * An image's bytes.  A plain manifest (nearly every image) is its own
 * recorded size plus its children's, from the pass over refs; only an
 * index walks refs two levels down for itself.
 */
static int
image_bytes(struct store *s, struct ls_stmts *q, struct store_image *im, struct barge_err *err)
{
	const struct kid_bytes *kb;
	struct kid_bytes key;
	int rc;

	if (!mt_is_index(im->media_type) && sha256_raw(im->digest, key.d)) {
		kb = q->kids.n > 0 ? bsearch(&key, q->kids.v, q->kids.n, sizeof(key), kid_cmp)
		                   : NULL;
		im->size = im->manifest_size + (kb != NULL ? kb->bytes : 0);
		return BARGE_OK;
	}
	im->size = 0;
	if ((rc = bind_text(s, q->down, 1, im->digest, err)) == BARGE_OK)
		rc = add_bytes(s, q->sizes, q->down, &im->size, err);
	stmt_done(q->down);
	return rc;
}

#define BUNDLE_COLS                                                           \
	"SELECT b.id, b.name, b.version, b.digest, b.loaded_at,"              \
	" (SELECT count(*) FROM bundle_images bi WHERE bi.bundle_id = b.id)," \
	" b.signer, b.source FROM bundles b "

static int
bundle_rows(struct store *s, const char *sql, const char *sel,
            int (*fn)(const struct store_bundle *b, void *arg), void *arg, struct barge_err *err)
{
	struct store_bundle b;
	sqlite3_stmt *st = NULL;
	int began = 0, rc, step;

	if ((rc = db_snap_begin(s, &began, err)) != BARGE_OK)
		return rc;
	if ((rc = db_prepare(s, sql, &st, err)) != BARGE_OK)
		goto out;
	if (sel != NULL && (rc = bind_text(s, st, 1, sel, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&b, 0, sizeof(b));
		b.id = sqlite3_column_int64(st, 0);
		if ((rc = col_text(st, 1, &b.name, err)) != BARGE_OK ||
		    (rc = col_text(st, 2, &b.version, err)) != BARGE_OK ||
		    (rc = col_text(st, 3, &b.digest, err)) != BARGE_OK)
			goto out;
		b.loaded_at = sqlite3_column_int64(st, 4);
		b.images = sqlite3_column_int64(st, 5);
		b.signer = (const char *)sqlite3_column_text(st, 6);
		b.source = (const char *)sqlite3_column_text(st, 7);
		if ((rc = bundle_bytes(s, b.id, &b.bytes, err)) != BARGE_OK)
			goto out;
		if (fn(&b, arg) != 0)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list bundles");
out:
	sqlite3_finalize(st);
	db_snap_end(s, began);
	return rc;
}

int
store_list_bundles(struct store *s, int (*fn)(const struct store_bundle *b, void *arg), void *arg,
                   struct barge_err *err)
{
	return bundle_rows(s, BUNDLE_COLS "ORDER BY b.id", NULL, fn, arg, err);
}

int
store_find_bundles(struct store *s, const char *sel,
                   int (*fn)(const struct store_bundle *b, void *arg), void *arg,
                   struct barge_err *err)
{
	return bundle_rows(s,
	                   BUNDLE_COLS "WHERE CAST(b.id AS TEXT) = ?1 OR b.name = ?1"
	                               " OR b.name || ':' || b.version = ?1 ORDER BY b.id",
	                   sel, fn, arg, err);
}

/* What store_list_images builds for one image and frees after fn. */
struct image_extra {
	char **tags;
	size_t ntags;
	struct store_bundle *bundles;
	size_t nbundles;
	/* Per tag: tags.origin (-1: NULL, set before schema 3) and fetched_at. */
	int64_t *raw_origin;
	enum store_origin *origin;
	const char **detail;
	int64_t *fetched;
	char *bundle_detail; /* "NAME VERSION" of the latest pin */
	char *registry;      /* of the proxy mark */
};

static void
image_extra_free(struct image_extra *x)
{
	size_t i;

	for (i = 0; i < x->ntags; i++)
		free(x->tags[i]);
	for (i = 0; i < x->nbundles; i++) {
		free((char *)x->bundles[i].name);
		free((char *)x->bundles[i].version);
		free((char *)x->bundles[i].digest);
	}
	free(x->tags);
	free(x->bundles);
	free(x->raw_origin);
	free(x->origin);
	free(x->detail);
	free(x->fetched);
	free(x->bundle_detail);
	free(x->registry);
	memset(x, 0, sizeof(*x));
}

static int
image_tags(struct store *s, sqlite3_stmt *st, struct image_extra *x, struct barge_err *err)
{
	const char *t;
	int64_t *no, *nf;
	char **nt;
	int step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (col_text(st, 0, &t, err) != BARGE_OK)
			return BARGE_ENOMEM;
		if ((nt = realloc(x->tags, (x->ntags + 1) * sizeof(*nt))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->tags = nt;
		if ((no = realloc(x->raw_origin, (x->ntags + 1) * sizeof(*no))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->raw_origin = no;
		if ((nf = realloc(x->fetched, (x->ntags + 1) * sizeof(*nf))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->fetched = nf;
		if ((x->tags[x->ntags] = strdup(t)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->raw_origin[x->ntags] = sqlite3_column_type(st, 1) == SQLITE_NULL
		                                  ? -1
		                                  : sqlite3_column_int64(st, 1);
		x->fetched[x->ntags] = sqlite3_column_int64(st, 2);
		x->ntags++;
	}
	if (step != SQLITE_DONE)
		return db_fail(s, err, "list tags");
	return BARGE_OK;
}

static int
image_bundles(struct store *s, sqlite3_stmt *st, struct image_extra *x, struct barge_err *err)
{
	struct store_bundle *nb, *b;
	const char *name, *version, *digest;
	int step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (col_text(st, 1, &name, err) != BARGE_OK ||
		    col_text(st, 2, &version, err) != BARGE_OK ||
		    col_text(st, 3, &digest, err) != BARGE_OK)
			return BARGE_ENOMEM;
		if ((nb = realloc(x->bundles, (x->nbundles + 1) * sizeof(*nb))) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		x->bundles = nb;
		b = &x->bundles[x->nbundles];
		memset(b, 0, sizeof(*b));
		x->nbundles++;
		b->id = sqlite3_column_int64(st, 0);
		b->loaded_at = sqlite3_column_int64(st, 4);
		if ((b->name = strdup(name)) == NULL || (b->version = strdup(version)) == NULL ||
		    (b->digest = strdup(digest)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if (step != SQLITE_DONE)
		return db_fail(s, err, "list bundles");
	return BARGE_OK;
}

/*
 * Who set each tag of the image and where the image came from
 * (store.h: struct store_image), once its tags and pins are read.  The
 * proxy statement is bound to the image.
 */
static int
image_origins(struct store *s, sqlite3_stmt *proxy, struct image_extra *x, struct store_image *im,
              struct barge_err *err)
{
	const struct store_bundle *last;
	const char *reg;
	size_t i;
	int rc, pushed = 0;

	if ((rc = stmt_row(s, proxy, "look up proxy mark", err)) == BARGE_OK) {
		if ((rc = col_text(proxy, 0, &reg, err)) != BARGE_OK)
			return rc;
		if ((x->registry = strdup(reg)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	} else if (rc != BARGE_ENOTFOUND) {
		return rc;
	}
	if (x->nbundles > 0) {
		last = &x->bundles[x->nbundles - 1];
		if ((x->bundle_detail = malloc(strlen(last->name) + strlen(last->version) + 2)) ==
		    NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		sprintf(x->bundle_detail, "%s %s", last->name, last->version);
	}
	if (x->ntags > 0 && ((x->origin = calloc(x->ntags, sizeof(*x->origin))) == NULL ||
	                     (x->detail = calloc(x->ntags, sizeof(*x->detail))) == NULL))
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (i = 0; i < x->ntags; i++) {
		/* The rule of origin_of (store_proxy.c), on the values read. */
		if (x->raw_origin[i] == STORE_ORIGIN_BUNDLE ||
		    x->raw_origin[i] == STORE_ORIGIN_PROXY)
			x->origin[i] = (enum store_origin)x->raw_origin[i];
		else if (x->raw_origin[i] < 0 && x->nbundles > 0)
			x->origin[i] = STORE_ORIGIN_BUNDLE;
		else
			x->origin[i] = STORE_ORIGIN_PUSH;
		pushed |= x->origin[i] == STORE_ORIGIN_PUSH;
		x->detail[i] = x->origin[i] == STORE_ORIGIN_BUNDLE && x->bundle_detail != NULL
		                       ? x->bundle_detail
		               : x->origin[i] == STORE_ORIGIN_PROXY && x->registry != NULL
		                       ? x->registry
		                       : "";
		if (x->origin[i] != STORE_ORIGIN_PROXY)
			x->fetched[i] = 0;
	}
	if (x->nbundles > 0)
		im->origin = STORE_ORIGIN_BUNDLE;
	else if (x->registry != NULL && !pushed)
		im->origin = STORE_ORIGIN_PROXY;
	else
		im->origin = STORE_ORIGIN_PUSH;
	im->origin_detail = im->origin == STORE_ORIGIN_BUNDLE  ? x->bundle_detail
	                    : im->origin == STORE_ORIGIN_PROXY ? x->registry
	                                                       : "";
	im->tag_origin = x->origin;
	im->tag_origin_detail = x->detail;
	im->tag_fetched_at = x->fetched;
	return BARGE_OK;
}

int
store_list_images(struct store *s, int (*fn)(const struct store_image *im, void *arg), void *arg,
                  struct barge_err *err)
{
	/*
	 * An index's children are part of its image, not images of their own.
	 * The CROSS JOIN makes SQLite look the child's parents up by refs_child
	 * rather than walk every manifest of the repository for each row.
	 */
	static const char images_sql[] =
	        "SELECT r.name, m.digest, m.media_type, m.size, m.repo_id FROM manifests m"
	        " JOIN repositories r ON r.id = m.repo_id"
	        " WHERE EXISTS (SELECT 1 FROM tags t"
	        "   WHERE t.repo_id = m.repo_id AND t.digest = m.digest)"
	        " OR EXISTS (SELECT 1 FROM bundle_images bi"
	        "   WHERE bi.repo_id = m.repo_id AND bi.digest = m.digest)"
	        " OR NOT EXISTS (SELECT 1 FROM refs f CROSS JOIN manifests p"
	        "   ON p.digest = f.parent AND p.repo_id = m.repo_id WHERE f.child = m.digest)"
	        " ORDER BY r.name, m.digest";
	/*
	 * Left to itself SQLite walks every tag of the repository in name
	 * order (UNIQUE(repo_id, name)) for each image: 1.3 s for 10 x 1000
	 * tags.  By target, it reads the image's few tags and sorts them.
	 */
	static const char tags_sql[] = "SELECT name, origin, fetched_at FROM tags"
	                               " INDEXED BY tags_target"
	                               " WHERE repo_id = ?1 AND digest = ?2 ORDER BY name";
	static const char proxy_sql[] = "SELECT registry FROM proxy_manifests"
	                                " WHERE repo_id = ?1 AND digest = ?2";
	static const char bundles_sql[] =
	        "SELECT b.id, b.name, b.version, b.digest, b.loaded_at FROM bundle_images bi"
	        " JOIN bundles b ON b.id = bi.bundle_id"
	        " WHERE bi.repo_id = ?1 AND bi.digest = ?2 ORDER BY b.id";
	struct image_extra x = { 0 };
	struct store_image im;
	struct ls_stmts q = { 0 };
	sqlite3_stmt *st = NULL;
	int began = 0, rc, step;

	if ((q.sizes = calloc(1, sizeof(*q.sizes))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((rc = db_snap_begin(s, &began, err)) != BARGE_OK)
		goto out;
	if ((rc = db_prepare(s, images_sql, &st, err)) != BARGE_OK ||
	    (rc = db_prepare(s, tags_sql, &q.tags, err)) != BARGE_OK ||
	    (rc = db_prepare(s, bundles_sql, &q.bundles, err)) != BARGE_OK ||
	    (rc = db_prepare(s, proxy_sql, &q.proxy, err)) != BARGE_OK ||
	    (rc = db_prepare(s, DOWN_FROM("SELECT ?1, 0"), &q.down, err)) != BARGE_OK ||
	    (rc = kids_load(s, &q.kids, q.sizes, err)) != BARGE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&im, 0, sizeof(im));
		if ((rc = col_text(st, 0, &im.repo, err)) != BARGE_OK ||
		    (rc = col_text(st, 1, &im.digest, err)) != BARGE_OK ||
		    (rc = col_text(st, 2, &im.media_type, err)) != BARGE_OK)
			goto out;
		im.manifest_size = sqlite3_column_int64(st, 3);
		if ((rc = bind_int(s, q.tags, 1, sqlite3_column_int64(st, 4), err)) != BARGE_OK ||
		    (rc = bind_text(s, q.tags, 2, im.digest, err)) != BARGE_OK ||
		    (rc = bind_int(s, q.bundles, 1, sqlite3_column_int64(st, 4), err)) !=
		            BARGE_OK ||
		    (rc = bind_text(s, q.bundles, 2, im.digest, err)) != BARGE_OK ||
		    (rc = bind_int(s, q.proxy, 1, sqlite3_column_int64(st, 4), err)) != BARGE_OK ||
		    (rc = bind_text(s, q.proxy, 2, im.digest, err)) != BARGE_OK ||
		    (rc = image_tags(s, q.tags, &x, err)) != BARGE_OK ||
		    (rc = image_bundles(s, q.bundles, &x, err)) != BARGE_OK ||
		    (rc = image_origins(s, q.proxy, &x, &im, err)) != BARGE_OK ||
		    (rc = image_bytes(s, &q, &im, err)) != BARGE_OK)
			goto out;
		stmt_done(q.tags);
		stmt_done(q.bundles);
		stmt_done(q.proxy);
		im.tags = (const char *const *)x.tags;
		im.ntags = x.ntags;
		im.bundles = x.bundles;
		im.nbundles = x.nbundles;
		step = fn(&im, arg);
		image_extra_free(&x);
		if (step != 0)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(s, err, "list images");
out:
	image_extra_free(&x);
	sqlite3_finalize(st);
	sqlite3_finalize(q.tags);
	sqlite3_finalize(q.bundles);
	sqlite3_finalize(q.proxy);
	sqlite3_finalize(q.down);
	free(q.kids.v);
	free(q.sizes);
	db_snap_end(s, began);
	return rc;
}

/* --- rm ------------------------------------------------------------------- */

int
store_rm_bundle(struct store *s, int64_t id, int untag, struct store_rm_stats *st,
                struct barge_err *err)
{
	/*
	 * A tag goes with the bundle only when no other bundle pins its
	 * target: the other bundle brought the same image, and may well have
	 * brought the tag.
	 */
	static const char untag_sql[] =
	        "DELETE FROM tags WHERE EXISTS (SELECT 1 FROM bundle_images bi"
	        "   WHERE bi.bundle_id = ?1 AND bi.repo_id = tags.repo_id"
	        "   AND bi.digest = tags.digest)"
	        " AND NOT EXISTS (SELECT 1 FROM bundle_images o"
	        "   WHERE o.bundle_id <> ?1 AND o.repo_id = tags.repo_id"
	        "   AND o.digest = tags.digest)";
	struct store_rm_stats res = { 0 };
	int64_t n = 0;
	int rc;

	if ((rc = store_begin(s, err)) != BARGE_OK)
		return rc;
	if (untag && (rc = db_run_int(s, untag_sql, id, &res.tags, "remove tags", err)) != BARGE_OK)
		goto fail;
	if ((rc = db_run_int(s, "DELETE FROM bundle_images WHERE bundle_id = ?1", id, &res.pins,
	                     "remove pins", err)) != BARGE_OK ||
	    (rc = db_run_int(s, "DELETE FROM bundles WHERE id = ?1", id, &n, "remove bundle",
	                     err)) != BARGE_OK)
		goto fail;
	if (n == 0) {
		rc = err_set(err, BARGE_ENOTFOUND, "bundle %" PRId64 " not found", id);
		goto fail;
	}
	if ((rc = store_commit(s, err)) != BARGE_OK)
		return rc;
	if (st != NULL)
		*st = res;
	return BARGE_OK;
fail:
	store_rollback(s);
	return rc;
}
