/*
 * client: the registry client's handle (struct client, which owns its
 * configuration and connections) and the manifest request, which answers
 * challenges (client_auth.c) and retries (client_retry.c) over the transport
 * (client_http.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client_int.h"
#include "client_retry.h"
#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"

int
client_new(const struct client_config *cfg, struct client **out, struct barge_err *err)
{
	struct client *c;
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(err, BARGE_EINTERNAL, "libcurl initialisation failed");
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		curl_global_cleanup();
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if ((rc = client_config_copy(&c->cfg, cfg, err)) != BARGE_OK) {
		free(c);
		curl_global_cleanup();
		return rc;
	}
	*out = c;
	return BARGE_OK;
}

void
client_free(struct client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nconns; i++)
		client_conn_free(c->conns[i]);
	free(c->conns);
	client_config_clear(&c->cfg);
	free(c);
	curl_global_cleanup();
}

void
client_manifest_clear(struct client_manifest *m)
{
	free(m->buf);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

/*
 * GETs path under r's endpoint into x, answering a 401 challenge and
 * retrying what may pass.  Returns BARGE_OK with x->status set (401 only when
 * it persists after authenticating is turned into BARGE_EAUTH), or a
 * transport error.
 */
static int
registry_get(struct client *c, const struct ref *r, const char *path, const char *accept,
             struct xfer *x, struct barge_err *err)
{
	char authz[AUTHZ_MAX];
	struct conn *k;
	char *url = NULL;
	int rc, attempt, answered;
	CURLcode cc;

	if ((rc = client_conn_for(c, r, &k, err)) != BARGE_OK) {
		err_prefix(err, "%s", x->what);
		goto out;
	}
	if ((url = fu_printf("%s/v2/%s/%s", k->base, r->path, path)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (attempt = 1;; attempt++) {
		answered = 0;
		for (;;) {
			rc = client_perform(c, k, url, accept,
			                    client_authz(k, r->path, authz, sizeof(authz)), NULL, x,
			                    &cc, err);
			if (rc != BARGE_OK || x->status != 401 || x->challenge[0] == '\0')
				break;
			/* A second 401 after answering: the answer was not good enough. */
			if (answered) {
				rc = client_auth_error(c, r, x->what, err);
				goto out;
			}
			if ((rc = client_auth_answer(c, k, r->path, x->challenge, x->what, err)) !=
			    BARGE_OK)
				goto out;
			answered = 1;
		}
		if (attempt >= client_max_attempts(c))
			break;
		if (rc == BARGE_ENET && client_retryable_curl(cc))
			client_sleep_ms(client_retry_delay_ms(c, attempt, NULL));
		else if (rc == BARGE_OK && client_retryable_status(x->status))
			client_sleep_ms(client_retry_delay_ms(c, attempt, x->retry_after));
		else
			break;
	}
out:
	OPENSSL_cleanse(authz, sizeof(authz));
	free(url);
	return rc;
}

int
client_get_manifest(struct client *c, const struct ref *r, const char *reference,
                    struct client_manifest *out, struct barge_err *err)
{
	struct xfer x = { 0 };
	char what[REF_MAX + 300], path[400], got[DIGEST_STR_MAX];
	enum digest_alg alg = DIGEST_SHA256;
	int by_digest, rc;

	by_digest = strchr(reference, ':') != NULL;
	snprintf(what, sizeof(what), "%s/%s%c%s", r->host, r->path, by_digest ? '@' : ':',
	         reference);
	x.what = what;
	x.max = MANIFEST_MAX;
	if (by_digest) {
		if ((rc = digest_parse(reference, &alg, NULL, err)) != BARGE_OK) {
			err_prefix(err, "%s", what);
			goto fail;
		}
	} else if (!ref_valid_tag(reference)) {
		rc = err_set(err, BARGE_EINVAL, "%s: invalid tag", what);
		goto fail;
	}
	snprintf(path, sizeof(path), "manifests/%s", reference);
	if ((rc = registry_get(c, r, path, MT_ACCEPT_ALL, &x, err)) != BARGE_OK)
		goto fail;
	if (x.status != 200) {
		rc = client_status_error(x.status, what, "manifest unknown", err);
		goto fail;
	}
	if (x.len == 0) {
		rc = err_set(err, BARGE_EFORMAT, "%s: empty manifest", what);
		goto fail;
	}
	if (x.dcd_bad) {
		rc = err_set(err, BARGE_EFORMAT, "%s: malformed Docker-Content-Digest header",
		             what);
		goto fail;
	}
	/* By tag, hash with the algorithm the registry announced, so the two compare. */
	if (!by_digest && x.dcd[0] != '\0' && digest_parse(x.dcd, &alg, NULL, NULL) != BARGE_OK)
		alg = DIGEST_SHA256;
	if ((rc = digest_buf(alg, x.buf, x.len, got, err)) != BARGE_OK)
		goto fail;
	if (by_digest && strcmp(got, reference) != 0) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest digest mismatch: expected %s, got %s", what, reference,
		             got);
		goto fail;
	}
	if (!by_digest && x.dcd[0] != '\0' && strcmp(got, x.dcd) != 0) {
		rc = err_set(err, BARGE_EDIGEST,
		             "%s: manifest digest mismatch: registry announced %s, content is %s",
		             what, x.dcd, got);
		goto fail;
	}
	memset(out, 0, sizeof(*out));
	if (x.content_type[0] != '\0' && (out->media_type = strdup(x.content_type)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	out->buf = x.buf;
	out->len = x.len;
	memcpy(out->digest, got, sizeof(got));
	return BARGE_OK;
fail:
	free(x.buf);
	return rc;
}

int
client_head_manifest(struct client *c, const struct ref *r, const char *tag,
                     char digest[DIGEST_STR_MAX], struct barge_err *err)
{
	struct xfer x = { 0 };
	char what[REF_MAX + 300], path[400];
	int rc;

	snprintf(what, sizeof(what), "%s/%s:%s", r->host, r->path, tag);
	x.what = what;
	x.max = MANIFEST_MAX;
	x.head = 1;
	if (!ref_valid_tag(tag))
		return err_set(err, BARGE_EINVAL, "%s: invalid tag", what);
	snprintf(path, sizeof(path), "manifests/%s", tag);
	if ((rc = registry_get(c, r, path, MT_ACCEPT_ALL, &x, err)) != BARGE_OK)
		goto out;
	if (x.status != 200) {
		rc = client_status_error(x.status, what, "manifest unknown", err);
		goto out;
	}
	if (x.dcd_bad) {
		rc = err_set(err, BARGE_EFORMAT, "%s: malformed Docker-Content-Digest header",
		             what);
		goto out;
	}
	snprintf(digest, DIGEST_STR_MAX, "%s", x.dcd);
out:
	free(x.buf);
	return rc;
}

int
client_get_referrers(struct client *c, const struct ref *r, const char *digest, char **buf,
                     size_t *len, struct barge_err *err)
{
	struct xfer x = { 0 };
	char what[REF_MAX + 300], path[400];
	int rc;

	snprintf(what, sizeof(what), "%s/%s referrers of %s", r->host, r->path, digest);
	x.what = what;
	x.max = MANIFEST_MAX;
	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		goto fail;
	snprintf(path, sizeof(path), "referrers/%s", digest);
	if ((rc = registry_get(c, r, path, MT_OCI_INDEX, &x, err)) != BARGE_OK)
		goto fail;
	/* A registry without the API answers its unknown route with one of these. */
	if (x.status == 404 || x.status == 400 || x.status == 405) {
		rc = err_set(err, BARGE_ENOTFOUND, "%s: no referrers API (HTTP %ld)", what,
		             x.status);
		goto fail;
	}
	if (x.status != 200) {
		rc = client_status_error(x.status, what, "unknown", err);
		goto fail;
	}
	*buf = x.buf;
	*len = x.len;
	return BARGE_OK;
fail:
	free(x.buf);
	return rc;
}

int
client_get_small_blob(struct client *c, const struct ref *r, const char *digest, size_t max,
                      char **buf, size_t *len, struct barge_err *err)
{
	struct xfer x = { 0 };
	char what[REF_MAX + 300], path[400], got[DIGEST_STR_MAX];
	enum digest_alg alg = DIGEST_SHA256;
	int rc;

	snprintf(what, sizeof(what), "%s/%s@%s", r->host, r->path, digest);
	x.what = what;
	x.max = max;
	if ((rc = digest_parse(digest, &alg, NULL, err)) != BARGE_OK)
		goto fail;
	snprintf(path, sizeof(path), "blobs/%s", digest);
	if ((rc = registry_get(c, r, path, "*/*", &x, err)) != BARGE_OK)
		goto fail;
	if (x.status != 200) {
		rc = client_status_error(x.status, what, "blob unknown", err);
		goto fail;
	}
	if ((rc = digest_buf(alg, x.buf != NULL ? x.buf : "", x.len, got, err)) != BARGE_OK)
		goto fail;
	if (strcmp(got, digest) != 0) {
		rc = err_set(err, BARGE_EDIGEST, "%s: blob digest mismatch: got %s", what, got);
		goto fail;
	}
	*buf = x.buf;
	*len = x.len;
	return BARGE_OK;
fail:
	free(x.buf);
	return rc;
}
