/*
 * swapheld: what "the store holds it" means for a pod (swapheld.h): the
 * platforms a pod pins, and an index's entries for them.  Owns nothing
 * beyond one call; manifests read are freed before it returns.
 */
#include "swapheld.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"
#include "store.h"

#define SWAPHELD_VALUES_MAX 8 /* most values of one label a pod may allow */

/*
 * The values pod spec allows for node label key, into v: from nodeSelector,
 * else from required node affinity when every term constrains key with
 * "In".  0: unconstrained (or more than max values).
 */
static size_t
allowed(const json_t *spec, const char *key, const char **v, size_t max)
{
	const json_t *terms, *t, *e, *x;
	const char *s;
	size_t i, j, k, l, n = 0;
	int found;

	if ((s = json_string_value(json_object_get(json_object_get(spec, "nodeSelector"), key))) !=
	    NULL) {
		v[0] = s;
		return 1;
	}
	terms = json_object_get(
	        json_object_get(json_object_get(json_object_get(spec, "affinity"), "nodeAffinity"),
	                        "requiredDuringSchedulingIgnoredDuringExecution"),
	        "nodeSelectorTerms");
	if (!json_is_array(terms))
		return 0;
	/* Terms are alternatives: each must constrain key, or the pod may run anywhere. */
	json_array_foreach(terms, i, t)
	{
		found = 0;
		json_array_foreach(json_object_get(t, "matchExpressions"), j, e)
		{
			s = json_string_value(json_object_get(e, "operator"));
			if (!json_is_string(json_object_get(e, "key")) ||
			    strcmp(json_string_value(json_object_get(e, "key")), key) != 0 ||
			    s == NULL || strcmp(s, "In") != 0)
				continue;
			found = 1;
			json_array_foreach(json_object_get(e, "values"), k, x)
			{
				if ((s = json_string_value(x)) == NULL)
					continue;
				for (l = 0; l < n && strcmp(v[l], s) != 0; l++)
					;
				if (l < n)
					continue;
				if (n == max)
					return 0;
				v[n++] = s;
			}
			break;
		}
		if (!found)
			return 0;
	}
	return n;
}

void
swapheld_pins(const json_t *spec, struct swapheld_pins *out)
{
	const char *arch[SWAPHELD_VALUES_MAX], *os[SWAPHELD_VALUES_MAX];
	struct barge_err err;
	size_t na, no, i, j;

	out->n = 0;
	if ((na = allowed(spec, "kubernetes.io/arch", arch, SWAPHELD_VALUES_MAX)) == 0)
		return;
	if ((no = allowed(spec, "kubernetes.io/os", os, SWAPHELD_VALUES_MAX)) == 0) {
		os[0] = "linux";
		no = 1;
	}
	if (na * no > SWAPHELD_PINS_MAX)
		return;
	for (i = 0; i < no; i++)
		for (j = 0; j < na; j++) {
			if (platform_set(&out->p[out->n], os[i], arch[j], NULL, &err) != BARGE_OK) {
				out->n = 0;
				return;
			}
			out->n++;
		}
}

/*
 * Reads manifest digest of repo.  BARGE_ENOTFOUND also for one the store
 * cannot show or parse: it does not count as held either way.
 */
static int
read_manifest(struct store *s, const char *repo, const char *digest, struct manifest **out,
              struct barge_err *err)
{
	struct store_manifest m;
	struct barge_err perr;
	char *buf = NULL;
	int64_t size;
	int fd = -1, rc;

	if ((rc = store_open_manifest(s, repo, digest, &m, &fd, &size, err)) != BARGE_OK)
		return rc;
	rc = BARGE_ENOTFOUND;
	if (size <= 0 || size > MANIFEST_MAX)
		goto out;
	if ((buf = malloc((size_t)size)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (fu_read_exact(fd, buf, (size_t)size, &perr) != BARGE_OK)
		goto out;
	rc = manifest_parse(buf, (size_t)size, m.media_type, out, &perr);
	if (rc != BARGE_OK && rc != BARGE_ENOMEM)
		rc = BARGE_ENOTFOUND;
	else if (rc == BARGE_ENOMEM)
		err_set(err, rc, "out of memory");
out:
	free(buf);
	close(fd);
	return rc;
}

/* Whether entry d of an index of repo is held with its config and layers. */
static int
entry_complete(struct store *s, const char *repo, const struct manifest_desc *d, int *ok,
               struct barge_err *err)
{
	struct manifest *m = NULL;
	size_t i;
	int rc;

	*ok = 0;
	rc = read_manifest(s, repo, d->digest, &m, err);
	if (rc == BARGE_ENOTFOUND)
		return BARGE_OK;
	if (rc != BARGE_OK)
		return rc;
	if (m->kind != MANIFEST_IMAGE)
		goto out;
	if ((rc = store_repo_has_blob(s, repo, m->config.digest, err)) != BARGE_OK)
		goto out;
	for (i = 0; i < m->ndescs; i++)
		if ((rc = store_repo_has_blob(s, repo, m->descs[i].digest, err)) != BARGE_OK)
			goto out;
	*ok = 1;
out:
	manifest_free(m);
	return rc == BARGE_ENOTFOUND ? BARGE_OK : rc;
}

int
swapheld_check(struct store *s, const char *repo, const char *reference,
               const struct swapheld_pins *pins, enum swapheld_why *why, char *plat, size_t platlen,
               struct barge_err *err)
{
	struct store_manifest m;
	struct manifest *idx = NULL;
	const struct manifest_desc *d;
	size_t i;
	int rc, ok = 0;

	*why = SWAPHELD_ABSENT;
	plat[0] = '\0';
	rc = store_get_manifest(s, repo, reference, &m, err);
	if (rc == BARGE_ENOTFOUND)
		return BARGE_OK;
	if (rc != BARGE_OK)
		return rc;
	if (!mt_is_index(m.media_type)) {
		*why = SWAPHELD_OK;
		return BARGE_OK;
	}
	rc = read_manifest(s, repo, m.digest, &idx, err);
	if (rc != BARGE_OK)
		return rc == BARGE_ENOTFOUND ? BARGE_OK : rc;
	*why = SWAPHELD_PLATFORM_ABSENT;
	if (idx->kind != MANIFEST_INDEX)
		goto out;
	if (pins->n == 0) {
		/* Unpinned: some platform the bundle chose must be there. */
		for (i = 0; i < idx->ndescs && !ok; i++)
			if ((rc = entry_complete(s, repo, &idx->descs[i], &ok, err)) != BARGE_OK)
				goto out;
		if (ok)
			*why = SWAPHELD_OK;
		goto out;
	}
	for (i = 0; i < pins->n; i++) {
		ok = 0;
		if ((d = manifest_pick(idx, &pins->p[i])) != NULL &&
		    (rc = entry_complete(s, repo, d, &ok, err)) != BARGE_OK)
			goto out;
		if (!ok) {
			platform_format(&pins->p[i], plat, platlen);
			goto out;
		}
	}
	*why = SWAPHELD_OK;
out:
	manifest_free(idx);
	return rc;
}
