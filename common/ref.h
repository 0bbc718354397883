/*
 * ref: image references, parsed by the distribution reference grammar and
 * normalised as Docker does.
 *
 *   nginx                      -> docker.io/library/nginx:latest
 *   index.docker.io/x/y        -> docker.io/x/y:latest
 *   localhost:5000/a@sha256:.. -> localhost:5000/a@sha256:..
 *   [::1]:5000/a:1             -> [::1]:5000/a:1
 *
 * The first path component is a host when it contains '.' or ':', is
 * "localhost", or is a bracketed IPv6 literal.  Tag and digest are both kept
 * when both are given; the digest wins for pulls.  "latest" is assumed only
 * when neither is given.
 */
#ifndef BARGE_REF_H
#define BARGE_REF_H

#include <stddef.h>

#include "err.h"

#define REF_MAX 4096 /* longest reference accepted, in bytes */

struct ref {
	char *host;   /* "docker.io", "localhost:5000", "[::1]:5000" */
	char *path;   /* "library/nginx" */
	char *tag;    /* "1.25", or NULL */
	char *digest; /* "sha256:<hex>", or NULL */
};

/* Parses and normalises s.  On success *out is set; caller frees with ref_free. */
int ref_parse(const char *s, struct ref **out, struct barge_err *err) BARGE_MUST_CHECK;
void ref_free(struct ref *r);

/* The normalised full reference ("docker.io/library/nginx:1.25@sha256:.."); caller frees. */
char *ref_string(const struct ref *r);

/* "host/path"; caller frees. */
char *ref_name(const struct ref *r);

/*
 * The repository on the device registry: "<project>/<host>/<path>", with a
 * host's ":port" written "_port" and an IPv6 literal written so that the
 * result is still a valid repository name.  Caller frees; NULL on ENOMEM.
 */
char *ref_local_repo(const struct ref *r, const char *project);

/* Whether s is a valid repository path ("edge/docker.io/library/nginx"). */
int ref_valid_repo(const char *s);
/* Whether s is a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). */
int ref_valid_tag(const char *s);

#endif
