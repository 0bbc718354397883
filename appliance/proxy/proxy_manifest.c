/*
 * proxy_manifest.c: manifests through the pull-through cache (proxy.h):
 * the local-first decision for a tag or a digest, the one HEAD that
 * revalidates a proxied tag, and the fetch of a missing manifest (peers
 * first, then the upstream), verified and stored byte-for-byte with its
 * references and its proxied mark.  Concurrent requests for the same
 * missing manifest wait for the first one's fetch (a flight).  It owns the
 * bytes it fetches until they are stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "manifest.h"
#include "mediatype.h"
#include "proxy_int.h"
#include "store_proxy.h"

/* Where a manifest comes from: a source, and the repository's path there. */
struct msrc {
	struct proxy_src *src;
	const char *path;
	int deadline_ms;
};

/* Reads a manifest body, at most MANIFEST_MAX bytes; *buf is the caller's. */
static int
read_all(struct proxy *p, struct proxy_src *src, struct upstream_body *b, char **buf, size_t *len,
         struct barge_err *err)
{
	size_t got, cap = 64 * 1024;
	char *nb;
	int rc;

	*len = 0;
	if ((*buf = malloc(cap)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (;;) {
		if (*len == cap) {
			if (cap >= MANIFEST_MAX)
				return err_set(err, BARGE_ELIMIT, "manifest larger than %d bytes",
				               MANIFEST_MAX);
			cap *= 2;
			if ((nb = realloc(*buf, cap)) == NULL)
				return err_set(err, BARGE_ENOMEM, "out of memory");
			*buf = nb;
		}
		if ((rc = p->ops->read(b, *buf + *len, cap - *len, &got, err)) != BARGE_OK)
			return rc;
		if (got == 0)
			return BARGE_OK;
		*len += got;
		__atomic_add_fetch(&src->bytes, got, __ATOMIC_RELAXED);
		if (src->peer)
			__atomic_add_fetch(&p->peerstat.bytes, got, __ATOMIC_RELAXED);
	}
}

/*
 * Stores the manifest bytes buf (digest dg) in repo, with its children as
 * references, marked as proxied from registry, and tag (NULL: none) on it.
 */
static int
store_manifest(struct store *s, const char *repo, const char *tag, const char *dg,
               const char *registry, const char *buf, size_t len, const char *ctype,
               struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	struct manifest *m = NULL;
	size_t i;
	int rc;

	if ((rc = manifest_parse(buf, len, ctype[0] != '\0' ? ctype : NULL, &m, err)) != BARGE_OK)
		return err_prefix(err, "manifest %s", dg);
	if ((rc = store_lock_shared(s, err)) != BARGE_OK)
		goto out;
	if ((rc = store_blob_begin(s, dg, (int64_t)len, &w, err)) != BARGE_OK ||
	    (rc = store_blob_write(w, buf, len, err)) != BARGE_OK) {
		store_blob_abort(w);
		goto unlock;
	}
	if ((rc = store_blob_commit(w, err)) != BARGE_OK || (rc = store_begin(s, err)) != BARGE_OK)
		goto unlock;
	rc = store_put_manifest(s, repo, dg, m->media_type, (int64_t)len, err);
	if (rc == BARGE_OK && m->kind == MANIFEST_IMAGE)
		rc = store_put_ref(s, dg, m->config.digest, err);
	for (i = 0; rc == BARGE_OK && i < m->ndescs; i++)
		rc = store_put_ref(s, dg, m->descs[i].digest, err);
	if (rc == BARGE_OK)
		rc = store_proxy_mark(s, repo, dg, registry, err);
	if (rc == BARGE_OK && tag != NULL)
		rc = store_proxy_tag(s, repo, tag, dg, err);
	if (rc == BARGE_OK)
		rc = store_commit(s, err);
	else
		store_rollback(s);
unlock:
	store_unlock(s);
out:
	manifest_free(m);
	return rc;
}

/*
 * GET of repo's reference from one source, verified: the bytes hash to the
 * digest asked for, or to the Docker-Content-Digest announced.
 */
static int
fetch_from(struct proxy *p, struct store *s, const struct msrc *m, const char *repo,
           const char *reference, const char *registry, struct barge_err *err)
{
	struct upstream_body *b = NULL;
	struct upstream_resp resp;
	char path[PROXY_KEY_MAX], dg[DIGEST_STR_MAX];
	int is_digest = digest_parse(reference, NULL, NULL, NULL) == BARGE_OK, rc;
	enum digest_alg alg = DIGEST_SHA256;
	char *buf = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", m->path, reference);
	rc = p->ops->request(m->src->u, path, m->path, MT_ACCEPT_ALL, m->deadline_ms, &resp, &b,
	                     err);
	if (rc != BARGE_OK)
		return rc;
	rc = read_all(p, m->src, b, &buf, &len, err);
	p->ops->body_close(b);
	/* The algorithm of the digest to compare with (sha256 when there is none). */
	if (digest_parse(is_digest ? reference : resp.digest, &alg, NULL, NULL) != BARGE_OK)
		alg = DIGEST_SHA256;
	if (rc == BARGE_OK && (rc = digest_buf(alg, buf, len, dg, err)) == BARGE_OK) {
		if (is_digest ? strcmp(dg, reference) != 0
		              : resp.digest[0] != '\0' && strcmp(dg, resp.digest) != 0)
			rc = err_set(err, BARGE_EDIGEST,
			             "manifest %s: the bytes served hash to %s, not %s", reference,
			             dg, is_digest ? reference : resp.digest);
		else
			rc = store_manifest(s, repo, is_digest ? NULL : reference, dg, registry,
			                    buf, len, resp.content_type, err);
	}
	free(buf);
	if (rc == BARGE_OK)
		proxy_info(p, "proxy: %s:%s fetched from %s %s as %s (%zu bytes)", repo, reference,
		           m->src->peer ? "peer" : "upstream", m->src->name, dg, len);
	return rc;
}

/* Peers first (each with its short deadline), then the upstream; NOTFOUND when none has it. */
static int
fetch(struct proxy *p, struct store *s, struct proxy_src *up, const char *path, const char *repo,
      const char *reference, struct barge_err *err)
{
	struct proxy_src *peers[PROXY_PEERS_MAX];
	struct msrc m;
	size_t n = proxy_peers(p, peers, PROXY_PEERS_MAX), i;
	int rc = BARGE_ENOTFOUND;

	for (i = 0; i < n; i++) {
		m = (struct msrc){ peers[i], repo, p->peer_timeout_ms };
		rc = fetch_from(p, s, &m, repo, reference, up != NULL ? up->name : "peer", err);
		if (rc == BARGE_OK) {
			proxy_count(&p->peerstat, PROXY_MISS);
			return rc;
		}
		if (rc == BARGE_ENET)
			proxy_failed(p, peers[i], "manifest", err);
	}
	if (up == NULL)
		return err_set(err, BARGE_ENOTFOUND, "no peer has %s:%s", repo, reference);
	if (proxy_is_down(up))
		return err_set(err, BARGE_ENET, "upstream %s is down (backing off)", up->name);
	m = (struct msrc){ up, path, PROXY_FETCH_MS };
	rc = fetch_from(p, s, &m, repo, reference, up->name, err);
	if (rc == BARGE_ENET || rc == BARGE_EAUTH)
		proxy_failed(p, up, "manifest", err);
	return rc;
}

/* fetch, once for every concurrent request of the same repo and reference. */
static int
fetch_once(struct proxy *p, struct store *s, struct proxy_src *up, const char *path,
           const char *repo, const char *reference, struct barge_err *err)
{
	struct proxy_flight *f;
	char key[PROXY_KEY_MAX];
	int rc, made;

	snprintf(key, sizeof(key), "M %s %s", repo, reference);
	pthread_mutex_lock(&p->mtx);
	if ((f = proxy_flight_get(p, key, &made)) == NULL) {
		pthread_mutex_unlock(&p->mtx);
		return err_set(err, BARGE_ELIMIT, "too many fetches at once");
	}
	if (!made) {
		while (!f->done)
			pthread_cond_wait(&p->cond, &p->mtx);
		rc = f->rc;
		if (rc != BARGE_OK)
			*err = f->err;
		proxy_flight_unref(p, f);
		pthread_mutex_unlock(&p->mtx);
		return rc;
	}
	pthread_mutex_unlock(&p->mtx);
	rc = fetch(p, s, up, path, repo, reference, err);
	proxy_flight_end(p, f, rc, err);
	pthread_mutex_lock(&p->mtx);
	proxy_flight_unref(p, f);
	pthread_mutex_unlock(&p->mtx);
	return rc;
}

/* A proxied tag: one HEAD under the deadline; a new digest is fetched. */
static int
revalidate(struct proxy *p, struct store *s, struct proxy_src *up, const char *path,
           const char *repo, const char *tag, struct barge_err *err)
{
	struct upstream_resp resp;
	struct store_manifest cur;
	char url[PROXY_KEY_MAX];
	int rc;

	if (proxy_is_down(up)) {
		proxy_count(up, PROXY_STALE);
		return BARGE_OK;
	}
	snprintf(url, sizeof(url), "/v2/%s/manifests/%s", path, tag);
	rc = p->ops->request(up->u, url, path, MT_ACCEPT_ALL, p->revalidate_ms, &resp, NULL, err);
	if (rc != BARGE_OK) {
		/*
		 * A timeout, no connection, 5xx, 429, 401: the cached copy stands and
		 * the upstream backs off.  A 404 (the tag is gone upstream) is an
		 * answer, not a failure: the copy stands, nothing proxied expires.
		 */
		if (rc != BARGE_ENOTFOUND)
			proxy_failed(p, up, "revalidating a tag", err);
		proxy_info(p, "proxy: %s:%s served from the store (stale): %s", repo, tag,
		           err->msg);
		proxy_count(up, PROXY_STALE);
		return BARGE_OK;
	}
	if (store_get_manifest(s, repo, tag, &cur, err) == BARGE_OK && resp.digest[0] != '\0' &&
	    strcmp(cur.digest, resp.digest) == 0) {
		proxy_count(up, PROXY_REVALIDATED);
		if (store_proxy_revalidated(s, repo, tag, err) != BARGE_OK)
			proxy_warn(p, "proxy: %s:%s: %s", repo, tag, err->msg);
		return BARGE_OK;
	}
	proxy_info(p, "proxy: %s:%s moved upstream to %s; fetching it", repo, tag,
	           resp.digest[0] != '\0' ? resp.digest : "an unannounced digest");
	if ((rc = fetch_once(p, s, up, path, repo, tag, err)) != BARGE_OK) {
		proxy_info(p, "proxy: %s:%s served from the store (stale): %s", repo, tag,
		           err->msg);
		proxy_count(up, PROXY_STALE);
		return BARGE_OK;
	}
	proxy_count(up, PROXY_REVALIDATED);
	return BARGE_OK;
}

int
proxy_manifest(struct proxy *p, struct store *s, const char *repo, const char *reference,
               struct barge_err *err)
{
	struct store_manifest m;
	enum store_origin origin = STORE_ORIGIN_NONE;
	struct proxy_src *up;
	const char *path = NULL;
	int64_t fetched_at = 0;
	int rc;

	up = proxy_route(p, repo, &path);
	if (up == NULL && p->npeers == 0 && p->peer_dns == NULL)
		return BARGE_OK;
	if (digest_parse(reference, NULL, NULL, NULL) == BARGE_OK) {
		if ((rc = store_get_manifest(s, repo, reference, &m, err)) == BARGE_OK) {
			proxy_count(up, PROXY_HIT);
			store_proxy_touch(s, repo, reference);
			return BARGE_OK;
		}
		if (rc != BARGE_ENOTFOUND)
			return rc;
	} else {
		if ((rc = store_tag_origin(s, repo, reference, &origin, &fetched_at, err)) !=
		    BARGE_OK)
			return rc;
		if (origin == STORE_ORIGIN_BUNDLE || origin == STORE_ORIGIN_PUSH ||
		    (origin == STORE_ORIGIN_PROXY && up == NULL)) {
			proxy_count(up, PROXY_HIT);
			return BARGE_OK;
		}
		if (origin == STORE_ORIGIN_PROXY) {
			if (!proxy_is_down(up) && (rc = proxy_ready(p, err)) != BARGE_OK)
				return rc;
			if ((rc = revalidate(p, s, up, path, repo, reference, err)) == BARGE_OK &&
			    store_get_manifest(s, repo, reference, &m, err) == BARGE_OK)
				store_proxy_touch(s, repo,
				                  m.digest); /* least recently pulled goes first */
			return rc;
		}
	}
	if ((rc = proxy_ready(p, err)) != BARGE_OK)
		return rc;
	rc = fetch_once(p, s, up, path, repo, reference, err);
	if (rc == BARGE_OK) {
		proxy_count(up, PROXY_MISS);
		return BARGE_OK;
	}
	if (rc == BARGE_ENOTFOUND)
		return BARGE_OK; /* nothing anywhere: the store's 404 */
	proxy_count(up != NULL ? up : &p->peerstat, PROXY_ERROR);
	proxy_warn(p, "proxy: %s:%s: %s", repo, reference, err->msg);
	return rc == BARGE_EDIGEST || rc == BARGE_EAUTH || rc == BARGE_ELIMIT ? BARGE_ENET : rc;
}
