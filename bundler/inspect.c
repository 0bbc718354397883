/*
 * inspect: a bundle streamed once and described or verified (inspect.h).
 * For one call it owns the read buffer and the maps of what barge.json lists
 * and what arrived; the struct inspect_result it returns is the caller's.
 */
#include "inspect.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "manifest.h"
#include "mediatype.h"

#define READ_BUFSZ (256 * 1024)

struct ictx {
	const char *path;
	const struct inspect_opts *o;
	struct inspect_result *r;
	json_t *listed; /* blob digest -> size, from barge.json */
	json_t *seen;   /* blob digests that arrived */
	json_t *users;  /* blob digest -> object of image indexes using it */
	json_t *wanted; /* manifest digest -> array of image indexes it belongs to */
	unsigned char *buf;
	struct barge_err *err;
};

void
inspect_result_free(struct inspect_result *r)
{
	if (r == NULL)
		return;
	bundle_meta_free(r->meta);
	free(r);
}

static int
nomem(struct barge_err *err)
{
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

/* Marks blob digest as used by every image in imgs (an array of indexes). */
static int
use(struct ictx *c, const char *digest, const json_t *imgs)
{
	json_t *set = json_object_get(c->users, digest), *v;
	char key[32];
	size_t i;

	if (set == NULL) {
		if ((set = json_object()) == NULL ||
		    json_object_set_new(c->users, digest, set) != 0)
			return nomem(c->err);
	}
	json_array_foreach(imgs, i, v)
	{
		snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		if (json_object_set_new(set, key, json_true()) != 0)
			return nomem(c->err);
	}
	return BARGE_OK;
}

/* A manifest of some images arrived: what it references is theirs too. */
static int
manifest_arrived(struct ictx *c, const char *digest, const char *buf, size_t len,
                 const json_t *imgs)
{
	struct manifest *m = NULL;
	json_t *w;
	size_t i;
	int rc;

	/* Manifests are parsed without a media type hint: their own mediaType says. */
	if (manifest_parse(buf, len, NULL, &m, c->err) != BARGE_OK)
		return err_prefix(c->err, "%s: blobs/%s", c->path, digest);
	if (m->kind == MANIFEST_IMAGE) {
		if ((rc = use(c, m->config.digest, imgs)) != BARGE_OK)
			goto out;
		for (i = 0; i < m->ndescs; i++)
			if ((rc = use(c, m->descs[i].digest, imgs)) != BARGE_OK)
				goto out;
	} else {
		for (i = 0; i < m->ndescs; i++) {
			if ((w = json_object_get(c->wanted, m->descs[i].digest)) == NULL) {
				if ((w = json_array()) == NULL ||
				    json_object_set_new(c->wanted, m->descs[i].digest, w) != 0) {
					rc = nomem(c->err);
					goto out;
				}
			}
			if (json_array_extend(w, (json_t *)imgs) != 0) {
				rc = nomem(c->err);
				goto out;
			}
		}
	}
	rc = BARGE_OK;
out:
	manifest_free(m);
	return rc;
}

/* Streams the current entry (a blob) through its digest, keeping it if it is a manifest. */
static int
read_blob(struct ictx *c, struct bundle_reader *br, const char *name, int64_t size)
{
	char digest[DIGEST_STR_MAX], got[DIGEST_STR_MAX], *mem = NULL;
	const char *rest = NULL, *slash = NULL;
	struct digest_ctx *dc = NULL;
	enum digest_alg alg;
	json_t *listed, *imgs;
	int64_t total = 0;
	size_t n;
	int rc;

	/* Any other name reaches here, so the prefix is checked before looking past it. */
	if (strncmp(name, "blobs/", 6) == 0)
		slash = strchr(rest = name + 6, '/');
	if (slash == NULL || (size_t)(slash - rest) >= sizeof(digest) / 2) {
		return err_set(c->err, BARGE_EFORMAT, "%s: entry \"%s\" is not a blob", c->path,
		               name);
	}
	snprintf(digest, sizeof(digest), "%.*s:%s", (int)(slash - rest), rest, slash + 1);
	if (digest_parse(digest, &alg, NULL, c->err) != BARGE_OK)
		return err_prefix(c->err, "%s: entry \"%s\"", c->path, name);
	listed = json_object_get(c->listed, digest);
	if (c->o->verify && listed == NULL)
		return err_set(c->err, BARGE_EFORMAT,
		               "%s: entry \"%s\" is not listed in barge.json", c->path, name);
	if (c->o->verify && json_integer_value(listed) != size)
		return err_set(c->err, BARGE_EDIGEST,
		               "%s: entry \"%s\" is %" PRId64
		               " bytes, barge.json says %" JSON_INTEGER_FORMAT,
		               c->path, name, size, json_integer_value(listed));
	if (json_object_get(c->seen, digest) != NULL)
		return err_set(c->err, BARGE_EFORMAT, "%s: entry \"%s\" appears twice", c->path,
		               name);
	if (json_object_set_new(c->seen, digest, json_true()) != 0)
		return nomem(c->err);
	c->r->nentries++;
	c->r->blob_bytes += size;
	imgs = json_object_get(c->wanted, digest);
	if (imgs != NULL && size <= MANIFEST_MAX && (mem = malloc((size_t)size + 1)) == NULL)
		return nomem(c->err);
	if (c->o->verify && (rc = digest_new(alg, &dc, c->err)) != BARGE_OK)
		goto out;
	for (;;) {
		if ((rc = bundle_reader_read(br, c->buf, READ_BUFSZ, &n, c->err)) != BARGE_OK)
			goto out;
		if (n == 0)
			break;
		if (mem != NULL && total + (int64_t)n <= size)
			memcpy(mem + total, c->buf, n);
		total += (int64_t)n;
		if (dc != NULL && (rc = digest_update(dc, c->buf, n, c->err)) != BARGE_OK)
			goto out;
	}
	if (total != size) {
		rc = err_set(c->err, BARGE_EFORMAT, "%s: entry \"%s\" ends after %" PRId64 " bytes",
		             c->path, name, total);
		goto out;
	}
	if (dc != NULL) {
		if ((rc = digest_final(dc, got, c->err)) != BARGE_OK)
			goto out;
		if (strcmp(got, digest) != 0) {
			rc = err_set(c->err, BARGE_EDIGEST, "%s: entry \"%s\" hashes to %s",
			             c->path, name, got);
			goto out;
		}
	}
	rc = mem != NULL ? manifest_arrived(c, digest, mem, (size_t)size, imgs) : BARGE_OK;
out:
	digest_free(dc);
	free(mem);
	return rc;
}

static int
read_meta(struct ictx *c, struct bundle_reader *br, char **meta, size_t *metalen)
{
	const struct bundle_meta *m;
	json_t *v, *arr;
	size_t i;
	int rc;

	if ((rc = bundle_reader_slurp(br, BUNDLE_META_MAX, meta, metalen, c->err)) != BARGE_OK ||
	    (rc = bundle_meta_parse("barge.json", *meta, *metalen, &c->r->meta, c->err)) !=
	            BARGE_OK ||
	    (rc = digest_buf(DIGEST_SHA256, *meta, *metalen, c->r->meta_digest, c->err)) !=
	            BARGE_OK)
		return err_prefix(c->err, "%s", c->path);
	m = c->r->meta;
	for (i = 0; i < m->nblobs; i++)
		if ((v = json_integer(m->blobs[i].size)) == NULL ||
		    json_object_set_new(c->listed, m->blobs[i].digest, v) != 0)
			return nomem(c->err);
	for (i = 0; i < m->nrequires; i++)
	c->r->required_bytes += m->requires[i].size;
	for (i = 0; i < m->nimages; i++) {
		if ((arr = json_object_get(c->wanted, m->images[i].digest)) == NULL) {
			if ((arr = json_array()) == NULL ||
			    json_object_set_new(c->wanted, m->images[i].digest, arr) != 0)
				return nomem(c->err);
		}
		if (json_array_append_new(arr, json_integer((json_int_t)i)) != 0)
			return nomem(c->err);
	}
	return BARGE_OK;
}

static int
read_sig(struct ictx *c, struct bundle_reader *br, const char *meta, size_t metalen)
{
	char *sig = NULL;
	size_t siglen;
	int rc;

	if ((rc = bundle_reader_slurp(br, SIGN_SIG_MAX, &sig, &siglen, c->err)) != BARGE_OK)
		return err_prefix(c->err, "%s: barge.json.sig", c->path);
	c->r->is_signed = 1;
	if (c->o->ntrusted > 0) {
		rc = sign_check(c->o->trusted, c->o->ntrusted, meta, metalen, sig, siglen,
		                c->r->keyid, c->err);
		if (rc == BARGE_OK)
			c->r->signature_checked = 1;
	} else {
		rc = sign_read_keyid(sig, siglen, c->r->keyid, c->err);
	}
	if (rc != BARGE_OK)
		err_prefix(c->err, "%s: barge.json.sig", c->path);
	free(sig);
	return rc;
}

/* Bytes that more than one image uses, counted once per extra user. */
static void
count_shared(struct ictx *c)
{
	const char *digest;
	json_t *set, *size;

	json_object_foreach(c->users, digest, set)
	{
		if (json_object_size(set) < 2 ||
		    (size = json_object_get(c->listed, digest)) == NULL)
			continue;
		c->r->shared_bytes +=
		        json_integer_value(size) * (int64_t)(json_object_size(set) - 1);
	}
}

int
inspect_bundle(const char *path, const struct inspect_opts *opts, struct inspect_result **out,
               struct barge_err *err)
{
	struct ictx c = { .path = path, .o = opts, .err = err };
	struct bundle_reader *br = NULL;
	char *meta = NULL;
	const char *name, *digest;
	size_t metalen = 0, idx = 0;
	struct stat st;
	json_t *v;
	int64_t size;
	int rc;

	if ((c.r = calloc(1, sizeof(*c.r))) == NULL || (c.listed = json_object()) == NULL ||
	    (c.seen = json_object()) == NULL || (c.users = json_object()) == NULL ||
	    (c.wanted = json_object()) == NULL || (c.buf = malloc(READ_BUFSZ)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	if (stat(path, &st) == 0)
		c.r->file_bytes = st.st_size;
	if ((rc = bundle_reader_open(path, &br, err)) != BARGE_OK)
		goto out;
	for (;; idx++) {
		if ((rc = bundle_reader_next(br, &name, &size, err)) < 0)
			goto out;
		if (rc == BUNDLE_EOF)
			break;
		if (idx == 0) {
			if (strcmp(name, "barge.json") != 0) {
				rc = err_set(err, BARGE_EFORMAT,
				             "%s: the first entry is \"%s\", not barge.json", path,
				             name);
				goto out;
			}
			rc = read_meta(&c, br, &meta, &metalen);
		} else if (idx == 1 && strcmp(name, "barge.json.sig") == 0) {
			rc = read_sig(&c, br, meta, metalen);
		} else if (strcmp(name, "oci-layout") == 0 || strcmp(name, "index.json") == 0) {
			rc = BARGE_OK;
		} else {
			rc = read_blob(&c, br, name, size);
		}
		if (rc != BARGE_OK)
			goto out;
	}
	if (idx == 0) {
		rc = err_set(err, BARGE_EFORMAT, "%s: no entries", path);
		goto out;
	}
	if (opts->verify) {
		json_object_foreach(c.listed, digest, v)
		{
			if (json_object_get(c.seen, digest) == NULL) {
				rc = err_set(err, BARGE_EFORMAT,
				             "%s: blob %s is listed in barge.json but missing",
				             path, digest);
				goto out;
			}
		}
	}
	if (opts->require_signature && !c.r->is_signed) {
		rc = err_set(err, BARGE_EAUTH, "%s: the bundle is not signed", path);
		goto out;
	}
	count_shared(&c);
	*out = c.r;
	c.r = NULL;
	rc = BARGE_OK;
out:
	bundle_reader_free(br);
	inspect_result_free(c.r);
	json_decref(c.listed);
	json_decref(c.seen);
	json_decref(c.users);
	json_decref(c.wanted);
	free(c.buf);
	free(meta);
	return rc;
}
