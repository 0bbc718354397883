/*
 * fuzz_route: the /v2/ request path and its ?ns= argument
 * (registry_route_parse, appliance/serve/registry_route.h), which the
 * router parses once for authorisation and the registry serves from.
 *
 * The first byte of the input picks the project (odd: the default "edge",
 * even: another), so that mirror repositories under both are reached.  The
 * rest up to its first NUL is the path; what follows that NUL, cut at the
 * next, is the value of ns (no NUL: no ns).  What the parser promises is checked: a route it
 * accepts is the path it was given (the name and reference put back where
 * the kind says reproduce it), its repository is a valid one, the name is
 * the repository when there is no ns, and a digest is a valid digest; a
 * route it refuses as invalid names the OCI code to answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "fuzz.h"
#include "http_server.h"
#include "ref.h"
#include "registry_route.h"

/* The path a route of this kind, name and reference was parsed from. */
static void
check_path(const char *path, const struct registry_route *rt)
{
	static const char *const words[] = {
		[REGISTRY_ROUTE_MANIFEST] = "manifests",
		[REGISTRY_ROUTE_BLOB] = "blobs",
		[REGISTRY_ROUTE_REFERRERS] = "referrers",
	};
	char want[HTTP_URL_MAX + REGISTRY_NAME_MAX + 64];
	size_t n;

	switch (rt->kind) {
	case REGISTRY_ROUTE_BASE:
		if (strcmp(path, "/v2") != 0 && strcmp(path, "/v2/") != 0)
			abort();
		return;
	case REGISTRY_ROUTE_CATALOG:
		if (strcmp(path, "/v2/_catalog") != 0)
			abort();
		return;
	case REGISTRY_ROUTE_TAGS:
		snprintf(want, sizeof(want), "/v2/%s/tags/list", rt->name);
		break;
	case REGISTRY_ROUTE_UPLOAD:
		/* The id is left "" when too long: only what precedes it is certain. */
		n = (size_t)snprintf(want, sizeof(want), "/v2/%s/blobs/uploads", rt->name);
		if (strncmp(path, want, n) != 0 || (path[n] != '\0' && path[n] != '/'))
			abort();
		if (rt->reference[0] != '\0' &&
		    (path[n] != '/' || strcmp(path + n + 1, rt->reference) != 0))
			abort();
		return;
	case REGISTRY_ROUTE_MANIFEST:
	case REGISTRY_ROUTE_BLOB:
	case REGISTRY_ROUTE_REFERRERS:
		snprintf(want, sizeof(want), "/v2/%s/%s/%s", rt->name, words[rt->kind],
		         rt->reference);
		/*
		 * A manifest reference that is no valid tag is still a route,
		 * marked tag_invalid (registry_route.h); one too long is left "",
		 * so only what precedes it is certain.
		 */
		if (rt->tag_invalid) {
			if (rt->kind != REGISTRY_ROUTE_MANIFEST || rt->is_digest ||
			    (rt->reference[0] != '\0' && ref_valid_tag(rt->reference)))
				abort();
			if (rt->reference[0] == '\0') {
				n = (size_t)snprintf(want, sizeof(want), "/v2/%s/manifests/",
				                     rt->name);
				if (strncmp(path, want, n) != 0)
					abort();
				return;
			}
			break;
		}
		if (rt->reference[0] == '\0' || rt->is_digest != digest_valid(rt->reference))
			abort();
		if (rt->kind != REGISTRY_ROUTE_MANIFEST && !rt->is_digest)
			abort();
		if (!rt->is_digest && !ref_valid_tag(rt->reference))
			abort();
		break;
	default:
		abort();
	}
	if (strcmp(path, want) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry_route rt;
	struct barge_err err = { 0 };
	const char *ns = NULL, *project;
	char *path;
	size_t plen;
	int rc;

	/* The path is bounded by the server (HTTP_URL_MAX), the ns by the request head. */
	if (size == 0 || size > HTTP_HEAD_MAX)
		return 0;
	project = (data[0] & 1) ? NULL : "site-a";
	/* Both strings in one copy: the path ends at the first NUL, ns at the next. */
	if ((path = malloc(size)) == NULL)
		abort();
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';
	plen = strlen(path);
	if (plen + 1 < size)
		ns = path + plen + 1;
	rc = registry_route_parse(path, ns, project, &rt, &err);
	switch (rc) {
	case BARGE_OK:
		check_path(path, &rt);
		if (rt.kind != REGISTRY_ROUTE_BASE && rt.kind != REGISTRY_ROUTE_CATALOG) {
			if (!ref_valid_repo(rt.repo))
				abort();
			if (ns == NULL && strcmp(rt.repo, rt.name) != 0)
				abort();
		}
		break;
	case BARGE_EINVAL:
		if (rt.error == NULL || err.msg[0] == '\0' ||
		    (strcmp(rt.error, "NAME_INVALID") != 0 &&
		     strcmp(rt.error, "TAG_INVALID") != 0 &&
		     strcmp(rt.error, "DIGEST_INVALID") != 0))
			abort();
		break;
	case BARGE_ENOTFOUND:
		break;
	default:
		abort();
	}
	free(path);
	return 0;
}
