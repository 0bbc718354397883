#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "digest.h"
#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"

/* Year 9999: beyond that RFC 3339 has no four-digit year to write. */
#define MTIME_MAX    INT64_C(253402300799)
#define VERIFY_BUFSZ (256 * 1024)

enum blob_kind { BLOB_MANIFEST, BLOB_CONFIG, BLOB_LAYER };

struct blob {
	char digest[DIGEST_STR_MAX];
	int64_t size;
	enum blob_kind kind;
	const struct ref *from; /* an image whose repository holds it */
	size_t nusers;          /* images using it */
	size_t last_user;
	char *mem; /* manifests and indexes: their exact bytes */
};

/* An image's top-level manifest or index. */
struct resolved {
	char digest[DIGEST_STR_MAX];
	char *media_type;
	int64_t size;
};

struct bctx {
	const struct profile *p;
	struct client *c;
	const struct build_opts *o;
	const struct platform *plats;
	size_t nplats;
	struct blob *blobs;
	size_t nblobs, cap;
	json_t *bydigest; /* digest -> index in blobs */
	struct resolved *res;
	char *cache;
	struct build_stats *st;
	struct barge_err *err;
};

static void progress(const struct bctx *b, const char *fmt, ...) BARGE_PRINTF(2, 3);

static void
progress(const struct bctx *b, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (b->o->progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->o->progress(b->o->progress_arg, msg);
}

static int
nomem(struct bctx *b)
{
	return err_set(b->err, BARGE_ENOMEM, "out of memory");
}

int
build_mtime_from_env(int64_t *out, struct barge_err *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0') {
		*out = 0;
		return BARGE_OK;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || s[0] < '0' || s[0] > '9' || v < 0 || v > MTIME_MAX)
		return err_set(err, BARGE_EINVAL,
		               "SOURCE_DATE_EPOCH \"%.40s\" is not a number of seconds between 0 "
		               "and %" PRId64,
		               s, MTIME_MAX);
	*out = (int64_t)v;
	return BARGE_OK;
}

/*
 * Records that image user needs blob digest.  A new blob takes ownership of
 * *mem (set to NULL); a known one leaves *mem to the caller.
 */
static int
add_blob(struct bctx *b, const char *digest, int64_t size, enum blob_kind kind, size_t user,
         char **mem)
{
	struct blob *grown, *bl;
	json_t *at;
	size_t i;

	if ((at = json_object_get(b->bydigest, digest)) != NULL) {
		bl = &b->blobs[json_integer_value(at)];
		if (bl->size != size)
			return err_set(b->err, BARGE_EDIGEST,
			               "%s: blob %s is listed with sizes %" PRId64 " and %" PRId64,
			               b->p->images[user].source, digest, bl->size, size);
		if (bl->last_user != user) {
			bl->nusers++;
			bl->last_user = user;
		}
		return BARGE_OK;
	}
	if (b->nblobs >= BUNDLE_META_BLOBS_MAX)
		return err_set(b->err, BARGE_ELIMIT, "more than %d blobs", BUNDLE_META_BLOBS_MAX);
	if (b->nblobs == b->cap) {
		i = b->cap == 0 ? 64 : b->cap * 2;
		if ((grown = realloc(b->blobs, i * sizeof(*grown))) == NULL)
			return nomem(b);
		b->blobs = grown;
		b->cap = i;
	}
	if ((at = json_integer((json_int_t)b->nblobs)) == NULL ||
	    json_object_set_new(b->bydigest, digest, at) != 0)
		return nomem(b);
	bl = &b->blobs[b->nblobs++];
	memset(bl, 0, sizeof(*bl));
	/* Callers pass digests the manifest parser or the client validated. */
	snprintf(bl->digest, sizeof(bl->digest), "%s", digest);
	bl->size = size;
	bl->kind = kind;
	bl->from = b->p->images[user].ref;
	bl->nusers = 1;
	bl->last_user = user;
	if (mem != NULL) {
		bl->mem = *mem;
		*mem = NULL;
	}
	return BARGE_OK;
}

static int
add_image_blobs(struct bctx *b, size_t user, const struct manifest *m)
{
	size_t i;
	int rc;

	if ((rc = add_blob(b, m->config.digest, m->config.size, BLOB_CONFIG, user, NULL)) !=
	    BARGE_OK)
		return rc;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = add_blob(b, m->descs[i].digest, m->descs[i].size, BLOB_LAYER, user,
		                   NULL)) != BARGE_OK)
			return rc;
	return BARGE_OK;
}

/* "linux/amd64, linux/arm64/v8": the platforms an index offers. */
static void
available_platforms(const struct manifest *idx, char *buf, size_t len)
{
	char one[3 * PLATFORM_FIELD_MAX];
	size_t i, n;

	buf[0] = '\0';
	for (i = 0; i < idx->ndescs; i++) {
		if (!idx->descs[i].has_platform)
			continue;
		platform_format(&idx->descs[i].platform, one, sizeof(one));
		n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", n > 0 ? ", " : "", one);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
}

/* Pulls the image manifest desc names from an index of image user. */
static int
resolve_child(struct bctx *b, size_t user, const struct manifest_desc *desc)
{
	const struct profile_image *pi = &b->p->images[user];
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	const struct blob *known;
	json_t *at;
	int rc;

	if ((at = json_object_get(b->bydigest, desc->digest)) != NULL) {
		/* Pulled already, for another image: its blobs are now shared with this one. */
		known = &b->blobs[json_integer_value(at)];
		if (known->mem == NULL) {
			rc = err_set(b->err, BARGE_EFORMAT,
			             "%s: index entry %s is also a config or layer", pi->source,
			             desc->digest);
			goto out;
		}
		if ((rc = add_blob(b, desc->digest, desc->size, BLOB_MANIFEST, user, NULL)) !=
		            BARGE_OK ||
		    (rc = manifest_parse(known->mem, (size_t)known->size, desc->media_type, &m,
		                         b->err)) != BARGE_OK)
			goto out;
		rc = m->kind == MANIFEST_IMAGE ? add_image_blobs(b, user, m) : BARGE_OK;
		goto out;
	}
	if (!mt_is_manifest(desc->media_type)) {
		rc = err_set(b->err, BARGE_EFORMAT,
		             "%s: index entry %s is a %s, not an image manifest", pi->source,
		             desc->digest, desc->media_type);
		goto out;
	}
	if ((rc = client_get_manifest(b->c, pi->ref, desc->digest, &cm, b->err)) != BARGE_OK)
		goto out;
	if ((int64_t)cm.len != desc->size) {
		rc = err_set(b->err, BARGE_EDIGEST,
		             "%s: manifest %s is %zu bytes, the index says %" PRId64, pi->source,
		             desc->digest, cm.len, desc->size);
		goto out;
	}
	if ((rc = manifest_parse(cm.buf, cm.len,
	                         cm.media_type != NULL ? cm.media_type : desc->media_type, &m,
	                         b->err)) != BARGE_OK) {
		err_prefix(b->err, "%s: manifest %s", pi->source, desc->digest);
		goto out;
	}
	if (m->kind != MANIFEST_IMAGE) {
		rc = err_set(b->err, BARGE_EFORMAT, "%s: manifest %s is not an image manifest",
		             pi->source, desc->digest);
		goto out;
	}
	if ((rc = add_blob(b, cm.digest, (int64_t)cm.len, BLOB_MANIFEST, user, &cm.buf)) !=
	    BARGE_OK)
		goto out;
	rc = add_image_blobs(b, user, m);
out:
	manifest_free(m);
	client_manifest_clear(&cm);
	return rc;
}

static int
resolve_image(struct bctx *b, size_t user)
{
	const struct profile_image *pi = &b->p->images[user];
	const struct manifest_desc *desc, **picked = NULL;
	struct client_manifest cm = { 0 };
	struct manifest *m = NULL;
	char want[3 * PLATFORM_FIELD_MAX], avail[1024];
	size_t i, j, npicked = 0;
	int rc;

	progress(b, "resolving %s", pi->source);
	if ((rc = client_get_manifest(b->c, pi->ref,
	                              pi->ref->digest != NULL ? pi->ref->digest : pi->ref->tag, &cm,
	                              b->err)) != BARGE_OK)
		goto out;
	if ((rc = manifest_parse(cm.buf, cm.len, cm.media_type, &m, b->err)) != BARGE_OK) {
		err_prefix(b->err, "%s", pi->source);
		goto out;
	}
	memcpy(b->res[user].digest, cm.digest, sizeof(cm.digest));
	b->res[user].size = (int64_t)cm.len;
	if ((b->res[user].media_type = strdup(m->media_type)) == NULL) {
		rc = nomem(b);
		goto out;
	}
	if ((rc = add_blob(b, cm.digest, (int64_t)cm.len, BLOB_MANIFEST, user, &cm.buf)) !=
	    BARGE_OK)
		goto out;
	if (m->kind == MANIFEST_IMAGE) {
		rc = add_image_blobs(b, user, m);
		goto out;
	}
	/* A sparse index: the original bytes, and only the asked-for platforms' manifests. */
	if ((picked = calloc(b->nplats, sizeof(*picked))) == NULL) {
		rc = nomem(b);
		goto out;
	}
	for (i = 0; i < b->nplats; i++) {
		if ((desc = manifest_pick(m, &b->plats[i])) == NULL) {
			platform_format(&b->plats[i], want, sizeof(want));
			available_platforms(m, avail, sizeof(avail));
			rc = err_set(b->err, BARGE_ENOTFOUND,
			             "%s: no manifest for platform %s (available: %s)", pi->source,
			             want, avail);
			goto out;
		}
		/* linux/arm64 and linux/arm64/v8 may pick the same entry. */
		for (j = 0; j < npicked; j++)
			if (strcmp(picked[j]->digest, desc->digest) == 0)
				break;
		if (j < npicked)
			continue;
		picked[npicked++] = desc;
		if ((rc = resolve_child(b, user, desc)) != BARGE_OK)
			goto out;
	}
	rc = BARGE_OK;
out:
	free(picked);
	manifest_free(m);
	client_manifest_clear(&cm);
	return rc;
}

/* "<cache>/blobs/sha256/<hex>" for a digest. */
static char *
cache_path(const struct bctx *b, const char *digest)
{
	const char *colon = strchr(digest, ':');

	return fu_printf("%s/blobs/%.*s/%s", b->cache, (int)(colon - digest), digest, colon + 1);
}

/* Streams fd through the digest of its kind and checks size and digest. */
static int
verify_fd(int fd, const char *digest, int64_t size, struct barge_err *err)
{
	struct digest_ctx *dc = NULL;
	char got[DIGEST_STR_MAX];
	enum digest_alg alg;
	unsigned char *buf = NULL;
	int64_t total = 0;
	ssize_t n;
	int rc;

	if ((rc = digest_parse(digest, &alg, NULL, err)) != BARGE_OK)
		goto out;
	if ((buf = malloc(VERIFY_BUFSZ)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = digest_new(alg, &dc, err)) != BARGE_OK)
		goto out;
	for (;;) {
		n = read(fd, buf, VERIFY_BUFSZ);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "reading cached %s", digest);
			goto out;
		}
		if (n == 0)
			break;
		total += n;
		if (total > size) {
			rc = err_set(err, BARGE_EDIGEST,
			             "cached %s is larger than %" PRId64 " bytes", digest, size);
			goto out;
		}
		if ((rc = digest_update(dc, buf, (size_t)n, err)) != BARGE_OK)
			goto out;
	}
	if (total != size) {
		rc = err_set(err, BARGE_EDIGEST, "cached %s is %" PRId64 " bytes, not %" PRId64,
		             digest, total, size);
		goto out;
	}
	if ((rc = digest_final(dc, got, err)) != BARGE_OK)
		goto out;
	if (strcmp(got, digest) != 0)
		rc = err_set(err, BARGE_EDIGEST, "cached %s hashes to %s", digest, got);
out:
	digest_free(dc);
	free(buf);
	return rc;
}

/* Makes sure the cache holds a verified copy of bl, downloading it if not. */
static int
ensure_cached(struct bctx *b, const struct blob *bl)
{
	struct barge_err verr;
	char *path = NULL, *tmp = NULL;
	int fd = -1, rc;

	if ((path = cache_path(b, bl->digest)) == NULL ||
	    (tmp = fu_printf("%s/tmp/blob-XXXXXX", b->cache)) == NULL) {
		rc = nomem(b);
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		rc = verify_fd(fd, bl->digest, bl->size, &verr);
		close(fd);
		fd = -1;
		if (rc == BARGE_OK)
			goto out;
		/* A damaged cache entry is not an error: it is fetched again. */
		progress(b, "dropping damaged cache entry: %s", verr.msg);
		if (unlink(path) != 0 && errno != ENOENT) {
			rc = err_sys(b->err, BARGE_EIO, errno, "removing bad cache entry %s", path);
			goto out;
		}
	} else if (errno != ENOENT) {
		rc = err_sys(b->err, BARGE_EIO, errno, "%s", path);
		goto out;
	}
	progress(b, "pulling %s (%" PRId64 " bytes)", bl->digest, bl->size);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = err_sys(b->err, BARGE_EIO, errno, "creating %s", tmp);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if ((rc = client_get_blob(b->c, bl->from, bl->digest, bl->size, fd, b->err)) != BARGE_OK)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		rc = err_sys(b->err, BARGE_EIO, errno, "writing %s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = err_sys(b->err, BARGE_EIO, errno, "rename %s to %s", tmp, path);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	b->st->ndownloaded++;
	rc = BARGE_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL && rc != BARGE_OK)
		unlink(tmp);
	free(tmp);
	free(path);
	return rc;
}

static int
cache_dirs(struct bctx *b)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *d = NULL;
	int rc;

	if (b->o->cache_dir != NULL)
		b->cache = strdup(b->o->cache_dir);
	else if (xdg != NULL && xdg[0] == '/')
		b->cache = fu_printf("%s/barge", xdg);
	else if (home != NULL && home[0] == '/')
		b->cache = fu_printf("%s/.cache/barge", home);
	else
		return err_set(b->err, BARGE_EINVAL,
		               "no cache directory: set --cache-dir, XDG_CACHE_HOME or HOME");
	if (b->cache == NULL)
		return nomem(b);
	if ((d = fu_printf("%s/tmp", b->cache)) == NULL)
		return nomem(b);
	rc = fu_mkdirs(d, 0755, b->err);
	free(d);
	if (rc != BARGE_OK)
		return rc;
	if ((d = fu_printf("%s/blobs/sha256", b->cache)) == NULL)
		return nomem(b);
	rc = fu_mkdirs(d, 0755, b->err);
	free(d);
	if (rc != BARGE_OK)
		return rc;
	if ((d = fu_printf("%s/blobs/sha512", b->cache)) == NULL)
		return nomem(b);
	rc = fu_mkdirs(d, 0755, b->err);
	free(d);
	return rc;
}

/* Appends v to arr, taking its reference; fails on NULL or ENOMEM. */
static int
push(struct bctx *b, json_t *arr, json_t *v)
{
	if (v == NULL || json_array_append_new(arr, v) != 0)
		return nomem(b);
	return BARGE_OK;
}

static const enum blob_kind entry_order[] = { BLOB_MANIFEST, BLOB_CONFIG, BLOB_LAYER };

static int
meta_json(struct bctx *b, char **out)
{
	char created[32], plat[3 * PLATFORM_FIELD_MAX];
	json_t *root = NULL, *plats, *images, *blobs, *tags;
	const struct profile_image *pi;
	char *repo = NULL;
	time_t t = (time_t)b->o->mtime;
	struct tm tm;
	size_t i, k;
	int rc;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return err_set(b->err, BARGE_EINVAL, "mtime %" PRId64 " out of range", b->o->mtime);
	plats = json_array();
	images = json_array();
	blobs = json_array();
	root = json_pack("{s:i,s:s,s:s,s:s,s:s,s:o*,s:s,s:o*,s:o*}", "schemaVersion", 1, "name",
	                 b->p->name, "version", b->p->version, "created", created, "builder",
	                 "barge " BARGE_VERSION, "platforms", plats, "project", b->p->project,
	                 "images", images, "blobs", blobs);
	if (root == NULL || plats == NULL || images == NULL || blobs == NULL) {
		rc = nomem(b);
		goto out;
	}
	for (i = 0; i < b->nplats; i++) {
		platform_format(&b->plats[i], plat, sizeof(plat));
		if ((rc = push(b, plats, json_string(plat))) != BARGE_OK)
			goto out;
	}
	for (i = 0; i < b->p->nimages; i++) {
		pi = &b->p->images[i];
		if ((repo = ref_local_repo(pi->ref, b->p->project)) == NULL ||
		    (tags = json_array()) == NULL) {
			rc = nomem(b);
			goto out;
		}
		if (pi->ref->tag != NULL &&
		    json_array_append_new(tags, json_string(pi->ref->tag))) {
			json_decref(tags);
			rc = nomem(b);
			goto out;
		}
		if ((rc = push(b, images,
		               json_pack("{s:s,s:s,s:o,s:s,s:s}", "repository", repo, "source",
		                         pi->source, "tags", tags, "digest", b->res[i].digest,
		                         "mediaType", b->res[i].media_type))) != BARGE_OK)
			goto out;
		free(repo);
		repo = NULL;
	}
	for (k = 0; k < sizeof(entry_order) / sizeof(entry_order[0]); k++)
		for (i = 0; i < b->nblobs; i++)
			if (b->blobs[i].kind == entry_order[k] &&
			    (rc = push(b, blobs,
			               json_pack("{s:s,s:I}", "digest", b->blobs[i].digest, "size",
			                         (json_int_t)b->blobs[i].size))) != BARGE_OK)
				goto out;
	if ((*out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		rc = nomem(b);
		goto out;
	}
	rc = BARGE_OK;
out:
	free(repo);
	json_decref(root);
	return rc;
}

/* index.json: an OCI image layout naming every image by its source reference. */
static int
index_json(struct bctx *b, char **out)
{
	json_t *root, *mans;
	size_t i;
	int rc;

	mans = json_array();
	root = json_pack("{s:i,s:s,s:o*}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
	                 "manifests", mans);
	if (root == NULL || mans == NULL) {
		rc = nomem(b);
		goto out;
	}
	for (i = 0; i < b->p->nimages; i++)
		if ((rc = push(b, mans,
		               json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType", b->res[i].media_type,
		                         "digest", b->res[i].digest, "size",
		                         (json_int_t)b->res[i].size, "annotations",
		                         "org.opencontainers.image.ref.name",
		                         b->p->images[i].source))) != BARGE_OK)
			goto out;
	if ((*out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		rc = nomem(b);
		goto out;
	}
	rc = BARGE_OK;
out:
	json_decref(root);
	return rc;
}

static int
add_json_entry(struct bctx *b, struct bundle_writer *w, const char *name, char *text)
{
	size_t n = strlen(text);

	/* Text files end with a newline; json_dumps leaves it out. */
	text[n] = '\n';
	return bundle_writer_add_buf(w, name, text, n + 1, b->err);
}

static int
write_bundle(struct bctx *b)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
	struct bundle_writer_opts bo = { .level = b->o->level, .threads = 0, .mtime = b->o->mtime };
	struct bundle_writer *w = NULL;
	const struct blob *bl;
	char *meta = NULL, *index = NULL, *tmp, *path = NULL;
	char name[BUNDLE_NAME_MAX];
	struct stat st;
	size_t i, k;
	int fd = -1, rc;

	if ((rc = meta_json(b, &meta)) != BARGE_OK || (rc = index_json(b, &index)) != BARGE_OK)
		goto out;
	/* Room for the newline add_json_entry puts in place of the NUL, and a new NUL. */
	if ((tmp = realloc(meta, strlen(meta) + 2)) == NULL) {
		rc = nomem(b);
		goto out;
	}
	meta = tmp;
	if ((tmp = realloc(index, strlen(index) + 2)) == NULL) {
		rc = nomem(b);
		goto out;
	}
	index = tmp;
	progress(b, "writing %s", b->o->output);
	if ((rc = bundle_writer_open(b->o->output, &bo, &w, b->err)) != BARGE_OK ||
	    (rc = add_json_entry(b, w, "barge.json", meta)) != BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "oci-layout", layout, sizeof(layout) - 1, b->err)) !=
	            BARGE_OK ||
	    (rc = add_json_entry(b, w, "index.json", index)) != BARGE_OK)
		goto out;
	for (k = 0; k < sizeof(entry_order) / sizeof(entry_order[0]); k++) {
		for (i = 0; i < b->nblobs; i++) {
			bl = &b->blobs[i];
			if (bl->kind != entry_order[k])
				continue;
			snprintf(name, sizeof(name), "blobs/%s", bl->digest);
			*strchr(name + 6, ':') = '/';
			if (bl->mem != NULL) {
				rc = bundle_writer_add_buf(w, name, bl->mem, (size_t)bl->size,
				                           b->err);
			} else {
				if ((path = cache_path(b, bl->digest)) == NULL) {
					rc = nomem(b);
					goto out;
				}
				if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
					rc = err_sys(b->err, BARGE_EIO, errno, "%s", path);
					goto out;
				}
				rc = bundle_writer_add_fd(w, name, fd, bl->size, b->err);
				close(fd);
				fd = -1;
				free(path);
				path = NULL;
			}
			if (rc != BARGE_OK)
				goto out;
		}
	}
	if ((rc = bundle_writer_close(w, b->err)) != BARGE_OK)
		goto out;
	if (stat(b->o->output, &st) == 0)
		b->st->file_bytes = st.st_size;
out:
	if (fd >= 0)
		close(fd);
	bundle_writer_free(w);
	free(path);
	free(meta);
	free(index);
	return rc;
}

int
build_run(const struct profile *p, struct client *c, const struct build_opts *o,
          struct build_stats *stats, struct barge_err *err)
{
	struct bctx b = { .p = p, .c = c, .o = o, .err = err, .st = stats };
	size_t i, k;
	int rc;

	memset(stats, 0, sizeof(*stats));
	b.plats = o->nplatforms > 0 ? o->platforms : p->platforms;
	b.nplats = o->nplatforms > 0 ? o->nplatforms : p->nplatforms;
	if (o->mtime < 0 || o->mtime > MTIME_MAX) {
		rc = err_set(err, BARGE_EINVAL, "mtime %" PRId64 " out of range", o->mtime);
		goto out;
	}
	if ((b.bydigest = json_object()) == NULL ||
	    (b.res = calloc(p->nimages, sizeof(*b.res))) == NULL) {
		rc = nomem(&b);
		goto out;
	}
	if ((rc = cache_dirs(&b)) != BARGE_OK)
		goto out;
	for (i = 0; i < p->nimages; i++)
		if ((rc = resolve_image(&b, i)) != BARGE_OK)
			goto out;
	for (i = 0; i < b.nblobs; i++) {
		if (b.blobs[i].kind != BLOB_MANIFEST &&
		    (rc = ensure_cached(&b, &b.blobs[i])) != BARGE_OK)
			goto out;
		if (b.blobs[i].size > INT64_MAX - stats->blob_bytes) {
			rc = err_set(err, BARGE_ELIMIT, "blob sizes add up past 2^63");
			goto out;
		}
		stats->blob_bytes += b.blobs[i].size;
		if (b.blobs[i].nusers > 1)
			stats->nshared++;
	}
	if ((rc = write_bundle(&b)) != BARGE_OK)
		goto out;
	stats->nimages = p->nimages;
	stats->nblobs = b.nblobs;
out:
	for (k = 0; k < b.nblobs; k++)
		free(b.blobs[k].mem);
	free(b.blobs);
	if (b.res != NULL)
		for (k = 0; k < p->nimages; k++)
			free(b.res[k].media_type);
	free(b.res);
	free(b.cache);
	json_decref(b.bydigest);
	return rc;
}
