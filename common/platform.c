/*
 * platform: parsing, normalising and matching "os/arch[/variant]" (see
 * platform.h).  Platforms are plain fixed-size structs; it owns nothing.
 */
#include "platform.h"

#include <stdio.h>
#include <string.h>

/* The score of an exact variant match, above any lesser compatible variant. */
#define RANK_EXACT 1000

static int
field_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '-'))
			return 0;
	}
	return 1;
}

static int
copy_field(char *dst, const char *src, size_t n, const char *what, const char *whole,
           struct barge_err *err)
{
	if (n >= PLATFORM_FIELD_MAX)
		return err_set(err, BARGE_EINVAL, "invalid platform \"%.200s\": %s is too long",
		               whole, what);
	memcpy(dst, src, n);
	dst[n] = '\0';
	if (!field_ok(dst))
		return err_set(err, BARGE_EINVAL,
		               "invalid platform \"%.200s\": %s may hold only [a-z0-9._-]", whole,
		               what);
	return BARGE_OK;
}

static void
set_str(char *dst, const char *src)
{
	/* Only ever called with short literals, which fit. */
	snprintf(dst, PLATFORM_FIELD_MAX, "%s", src);
}

/* Rewrites p the way containerd normalises os, architecture and variant. */
static void
normalise(struct platform *p)
{
	char *v = p->variant;
	size_t n;

	if (strcmp(p->os, "macos") == 0)
		set_str(p->os, "darwin");
	if (strcmp(p->arch, "x86_64") == 0 || strcmp(p->arch, "x86-64") == 0)
		set_str(p->arch, "amd64");
	else if (strcmp(p->arch, "aarch64") == 0)
		set_str(p->arch, "arm64");
	else if (strcmp(p->arch, "i386") == 0)
		set_str(p->arch, "386");
	else if (strcmp(p->arch, "armhf") == 0 && v[0] == '\0') {
		set_str(p->arch, "arm");
		set_str(v, "v7");
	} else if (strcmp(p->arch, "armel") == 0 && v[0] == '\0') {
		set_str(p->arch, "arm");
		set_str(v, "v6");
	}
	if (strcmp(p->arch, "amd64") != 0 && strcmp(p->arch, "arm64") != 0 &&
	    strcmp(p->arch, "arm") != 0)
		return;

	/* A bare level ("7", "8.0") is written "v7", "v8.0", when it fits. */
	n = strlen(v);
	if (v[0] >= '0' && v[0] <= '9' && n + 1 < PLATFORM_FIELD_MAX) {
		memmove(v + 1, v, n + 1);
		v[0] = 'v';
	}
	if (strcmp(p->arch, "amd64") == 0 && strcmp(v, "v1") == 0)
		set_str(v, "");
	else if (strcmp(p->arch, "arm64") == 0 && (v[0] == '\0' || strcmp(v, "v8.0") == 0))
		set_str(v, "v8");
	else if (strcmp(p->arch, "arm") == 0 && v[0] == '\0')
		set_str(v, "v7");
}

int
platform_set(struct platform *out, const char *os, const char *arch, const char *variant,
             struct barge_err *err)
{
	struct platform p;
	char whole[128];
	int rc;

	if (variant == NULL)
		variant = "";
	snprintf(whole, sizeof(whole), "%.40s/%.40s%s%.40s", os, arch, variant[0] ? "/" : "",
	         variant);
	if (os[0] == '\0')
		return err_set(err, BARGE_EINVAL, "invalid platform \"%s\": empty os", whole);
	if (arch[0] == '\0')
		return err_set(err, BARGE_EINVAL, "invalid platform \"%s\": empty architecture",
		               whole);
	if ((rc = copy_field(p.os, os, strlen(os), "os", whole, err)) != BARGE_OK ||
	    (rc = copy_field(p.arch, arch, strlen(arch), "architecture", whole, err)) != BARGE_OK ||
	    (rc = copy_field(p.variant, variant, strlen(variant), "variant", whole, err)) !=
	            BARGE_OK)
		return rc;
	normalise(&p);
	*out = p;
	return BARGE_OK;
}

int
platform_parse(const char *s, struct platform *out, struct barge_err *err)
{
	struct platform p;
	const char *a, *v;
	int rc;

	if (s == NULL || s[0] == '\0')
		return err_set(err, BARGE_EINVAL, "invalid platform \"\": want os/arch[/variant]");
	a = strchr(s, '/');
	if (a == NULL)
		return err_set(err, BARGE_EINVAL,
		               "invalid platform \"%.200s\": want os/arch[/variant]", s);
	a++;
	v = strchr(a, '/');
	if (v != NULL && strchr(v + 1, '/') != NULL)
		return err_set(err, BARGE_EINVAL,
		               "invalid platform \"%.200s\": more than os/arch/variant", s);
	if (a - 1 == s)
		return err_set(err, BARGE_EINVAL, "invalid platform \"%.200s\": empty os", s);
	if ((v == NULL ? *a == '\0' : v == a))
		return err_set(err, BARGE_EINVAL, "invalid platform \"%.200s\": empty architecture",
		               s);
	if (v != NULL && v[1] == '\0')
		return err_set(err, BARGE_EINVAL, "invalid platform \"%.200s\": empty variant", s);
	if ((rc = copy_field(p.os, s, (size_t)(a - 1 - s), "os", s, err)) != BARGE_OK)
		return rc;
	if ((rc = copy_field(p.arch, a, v == NULL ? strlen(a) : (size_t)(v - a), "architecture", s,
	                     err)) != BARGE_OK)
		return rc;
	if ((rc = copy_field(p.variant, v == NULL ? "" : v + 1, v == NULL ? 0 : strlen(v + 1),
	                     "variant", s, err)) != BARGE_OK)
		return rc;
	normalise(&p);
	*out = p;
	return BARGE_OK;
}

void
platform_format(const struct platform *p, char *buf, size_t len)
{
	struct platform n = *p;

	if (len == 0)
		return;
	normalise(&n);
	if (n.variant[0] != '\0')
		snprintf(buf, len, "%s/%s/%s", n.os, n.arch, n.variant);
	else
		snprintf(buf, len, "%s/%s", n.os, n.arch);
}

/* The N of a variant "vN" (leading digits only), or -1 when it has none. */
static int
variant_level(const char *v)
{
	int n = 0;

	if (v[0] != 'v' || v[1] < '0' || v[1] > '9')
		return -1;
	for (v++; *v >= '0' && *v <= '9' && n < 1000; v++)
		n = n * 10 + (*v - '0');
	return n;
}

int
platform_rank(const struct platform *want, const struct platform *have)
{
	struct platform w = *want, h = *have;
	int wl, hl;

	normalise(&w);
	normalise(&h);
	if (strcmp(w.os, h.os) != 0 || strcmp(w.arch, h.arch) != 0)
		return 0;
	if (strcmp(w.variant, h.variant) == 0)
		return RANK_EXACT;
	/* An entry without a variant is built for the arch's baseline. */
	if (h.variant[0] == '\0')
		return 1;
	/* A wanted "" is the baseline (amd64 v1), which no vN entry above it satisfies. */
	wl = w.variant[0] == '\0' ? 1 : variant_level(w.variant);
	hl = variant_level(h.variant);
	if (wl < 0 || hl < 0 || hl > wl)
		return 0;
	return 1 + (hl < RANK_EXACT - 2 ? hl : RANK_EXACT - 2);
}

int
platform_match(const struct platform *want, const struct platform *have)
{
	return platform_rank(want, have) > 0;
}
