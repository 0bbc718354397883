/*
 * profile_refs: spec.referrers and spec.referrer_types of a profile
 * (docs/profiles.md), which say whether a build carries the images'
 * signatures, SBOMs and other referrers, and which artifact types.  Owns
 * nothing: the lists it reads go into the profile, which frees them.
 */
#include <stdlib.h>
#include <string.h>

#include "profile_int.h"

void
profile_refs_free(struct profile *p)
{
	size_t i;

	for (i = 0; i < p->nreferrer_types; i++)
		free(p->referrer_types[i]);
	free(p->referrer_types);
	p->referrer_types = NULL;
	p->nreferrer_types = 0;
}

/* A media type: type/subtype of printable characters, no spaces. */
static int
valid_type(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t n = strlen(s);

	if (n < 3 || n > 255 || slash == NULL || slash == s || slash[1] == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int
load_referrers(struct pctx *c, const json_t *spec)
{
	struct profile *p = c->ld->p;
	json_t *on, *list, *v;
	char **types = NULL;
	size_t i, n = 0;
	int rc;

	/* The last file read that sets a key wins: includes are read before their includer. */
	if ((on = json_object_get(spec, "referrers")) != NULL) {
		if (!json_is_boolean(on))
			return perr_at(c, spec, "referrers", on,
			               "spec.referrers: expected true or false");
		p->no_referrers = json_is_false(on);
	}
	if ((rc = get_typed(c, spec, "spec.", "referrer_types", JSON_ARRAY, 0, &list)) !=
	            BARGE_OK ||
	    list == NULL)
		return rc;
	if (json_array_size(list) > PROFILE_REFTYPES_MAX)
		return perr_at(c, spec, "referrer_types", list,
		               "spec.referrer_types: more than %d types", PROFILE_REFTYPES_MAX);
	if ((types = calloc(json_array_size(list) + 1, sizeof(*types))) == NULL)
		return nomem(c);
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v) || !valid_type(json_string_value(v))) {
			rc = perr_at(c, list, NULL, v,
			             "spec.referrer_types[%zu]: expected an artifact media type "
			             "(\"application/spdx+json\")",
			             i);
			goto fail;
		}
		if ((types[n] = strdup(json_string_value(v))) == NULL) {
			rc = nomem(c);
			goto fail;
		}
		n++;
	}
	profile_refs_free(p);
	p->referrer_types = types;
	p->nreferrer_types = n;
	return BARGE_OK;
fail:
	for (i = 0; i < n; i++)
		free(types[i]);
	free(types);
	return rc;
}
