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
 * when neither is given.  Hosts are case-insensitive and kept in lowercase;
 * index.docker.io and registry-1.docker.io become docker.io, where a
 * one-component path gets "library/".  Digests are sha256 or sha512 only.
 * Uppercase in the path, a name (host/path) over 255 bytes, a tag over 128
 * and whitespace anywhere are errors; messages quote the input and say why.
 *
 * Local repositories (ref_local_repo) turn the host into one path component:
 *   localhost:5000/a     -> edge/localhost_5000/a
 *   [::1]:5000/a         -> edge/ip6__0-0-0-0-0-0-0-1_5000/a
 *   [fe80::1]/a          -> edge/ip6__fe80-0-0-0-0-0-0-1/a
 * An IPv6 literal is written "ip6__" followed by its eight 16-bit groups in
 * lowercase hex without leading zeros, joined by '-', then "_port" if it has
 * one: deterministic, the same for every spelling of one address, and
 * distinct from every named host, whose local form never holds "__".
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
 * host's ":port" written "_port" and an IPv6 literal written as characters a
 * repository name may hold.  The project in front can make it longer than a
 * name may be (255 bytes): callers check it with ref_valid_repo.  Caller
 * frees; NULL on ENOMEM.
 */
char *ref_local_repo(const struct ref *r, const char *project);

/* Whether s is a valid repository path ("edge/docker.io/library/nginx"). */
int ref_valid_repo(const char *s);
/* Whether s is a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). */
int ref_valid_tag(const char *s);

#endif
