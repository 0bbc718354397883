/*
 * registry_route.c: the parser of /v2/ request paths into routes
 * (registry_route.h), with the mapping of mirror requests (?ns=HOST) to
 * repositories of the store.  It owns nothing beyond a call.
 */
#include "registry_route.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "fileutil.h"
#include "http_server.h"
#include "ref.h"

#define REGISTRY_NS_MAX 255 /* longest upstream host in ?ns= */

static int
registry_route_fail(struct registry_route *out, const char *code, struct barge_err *err,
                    const char *msg, const char *what)
{
	out->error = code;
	return err_set(err, BARGE_EINVAL, "%s: %.200s", msg, what);
}

/* Characters a repository name may hold; what else ref_parse would read as a tag or digest. */
static int
registry_name_chars_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '-' || *s == '/'))
			return 0;
	return 1;
}

/* The repository a mirror request for name at upstream host ns maps to. */
static int
registry_mirror_repo(const char *ns, const char *name, const char *project,
                     struct registry_route *out, struct barge_err *err)
{
	char host[REGISTRY_NS_MAX + 1];
	struct ref *ref = NULL;
	char *full = NULL, *repo = NULL;
	size_t i, n;
	int rc;

	n = strlen(ns);
	if (n == 0 || n > REGISTRY_NS_MAX)
		return registry_route_fail(out, "NAME_INVALID", err, "bad namespace", ns);
	/* Host names are case-insensitive; repository names are lowercase. */
	for (i = 0; i <= n; i++)
		host[i] = (char)tolower((unsigned char)ns[i]);
	if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0)
		strcpy(host, "docker.io");
	/* Only a host, or ref_parse would read it as the first component of a Docker Hub path. */
	if (strpbrk(host, "/@") != NULL ||
	    (strpbrk(host, ".:") == NULL && strcmp(host, "localhost") != 0 && host[0] != '['))
		return registry_route_fail(out, "NAME_INVALID", err, "namespace is not a host", ns);
	if (!registry_name_chars_ok(name))
		return registry_route_fail(out, "NAME_INVALID", err, "invalid repository name",
		                           name);
	if ((full = fu_printf("%s/%s", host, name)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (ref_parse(full, &ref, err) != BARGE_OK) {
		rc = registry_route_fail(out, "NAME_INVALID", err, "invalid repository name", full);
		goto out;
	}
	if ((repo = ref_local_repo(ref, project)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (strlen(repo) >= sizeof(out->repo) || !ref_valid_repo(repo)) {
		rc = registry_route_fail(out, "NAME_INVALID", err, "invalid repository name", repo);
		goto out;
	}
	strcpy(out->repo, repo);
	rc = BARGE_OK;
out:
	free(full);
	free(repo);
	ref_free(ref);
	return rc;
}

static int
registry_has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

int
registry_route_parse(const char *path, const char *ns, const char *project,
                     struct registry_route *out, struct barge_err *err)
{
	const char *rest, *ref = NULL;
	size_t len, nlen;

	memset(out, 0, sizeof(*out));
	if (project == NULL)
		project = "edge";
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
		out->kind = REGISTRY_ROUTE_BASE;
		return BARGE_OK;
	}
	if (strcmp(path, "/v2/_catalog") == 0) {
		out->kind = REGISTRY_ROUTE_CATALOG;
		return BARGE_OK;
	}
	if (strncmp(path, "/v2/", 4) != 0)
		return err_set(err, BARGE_ENOTFOUND, "no such route");
	rest = path + 4;
	if ((len = strnlen(rest, HTTP_URL_MAX + 1)) > HTTP_URL_MAX)
		return registry_route_fail(out, "NAME_INVALID", err, "path too long", "");
	if (registry_has_suffix(rest, len, "/tags/list")) {
		out->kind = REGISTRY_ROUTE_TAGS;
		nlen = len - strlen("/tags/list");
	} else if (registry_has_suffix(rest, len, "/blobs/uploads")) {
		/* POST without the trailing slash, as some clients send it. */
		out->kind = REGISTRY_ROUTE_UPLOAD;
		nlen = len - strlen("/blobs/uploads");
		ref = "";
	} else {
		const char *slash = memrchr(rest, '/', len);
		size_t head;

		if (slash == NULL)
			return err_set(err, BARGE_ENOTFOUND, "no such route");
		head = (size_t)(slash - rest);
		ref = slash + 1;
		if (registry_has_suffix(rest, head, "/blobs/uploads")) {
			out->kind = REGISTRY_ROUTE_UPLOAD;
			nlen = head - strlen("/blobs/uploads");
		} else if (registry_has_suffix(rest, head, "/referrers")) {
			out->kind = REGISTRY_ROUTE_REFERRERS;
			nlen = head - strlen("/referrers");
		} else if (registry_has_suffix(rest, head, "/manifests")) {
			out->kind = REGISTRY_ROUTE_MANIFEST;
			nlen = head - strlen("/manifests");
		} else if (registry_has_suffix(rest, head, "/blobs")) {
			out->kind = REGISTRY_ROUTE_BLOB;
			nlen = head - strlen("/blobs");
		} else {
			return err_set(err, BARGE_ENOTFOUND, "no such route");
		}
	}
	if (nlen == 0)
		return registry_route_fail(out, "NAME_INVALID", err, "empty repository name", "");
	if (nlen >= sizeof(out->name))
		return registry_route_fail(out, "NAME_INVALID", err, "repository name too long",
		                           "");
	memcpy(out->name, rest, nlen);
	out->name[nlen] = '\0';

	if (out->kind == REGISTRY_ROUTE_UPLOAD) {
		/* A session id is checked against the sessions, not here: 404 if unknown. */
		if (strlen(ref) < sizeof(out->reference))
			strcpy(out->reference, ref);
	} else if (ref != NULL) {
		int is_tag = out->kind == REGISTRY_ROUTE_MANIFEST && strchr(ref, ':') == NULL;

		/*
		 * A manifest reference that is no valid tag is still a route:
		 * it names no manifest, which a lookup answers 404 and a PUT
		 * 400 (the method is the registry's, not the parser's).
		 */
		if (is_tag && (strlen(ref) >= sizeof(out->reference) || !ref_valid_tag(ref)))
			out->tag_invalid = 1;
		else if (strlen(ref) >= sizeof(out->reference))
			return registry_route_fail(out, "DIGEST_INVALID", err, "reference too long",
			                           "");
		else if (!is_tag && !digest_valid(ref))
			return registry_route_fail(out, "DIGEST_INVALID", err, "invalid digest",
			                           ref);
		if (strlen(ref) < sizeof(out->reference))
			strcpy(out->reference, ref);
		out->is_digest = !is_tag;
	}

	if (ns != NULL)
		return registry_mirror_repo(ns, out->name, project, out, err);
	if (!ref_valid_repo(out->name))
		return registry_route_fail(out, "NAME_INVALID", err, "invalid repository name",
		                           out->name);
	strcpy(out->repo, out->name);
	return BARGE_OK;
}
