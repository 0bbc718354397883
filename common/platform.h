/*
 * platform: "os/arch[/variant]" as in OCI index entries and --platform flags.
 * Matching normalises as containerd does: arm64 means arm64/v8, arm means
 * arm/v7, x86_64 is amd64, aarch64 is arm64.
 *
 * Fields hold [a-z0-9._-] only and are always stored normalised: parse and
 * set normalise, so two platforms that mean the same compare equal.
 * Matching: os and arch must be equal; an entry without a variant runs
 * anywhere its arch does; an entry "vM" satisfies a wanted "vN" when M <= N
 * (an arm/v6 image runs on arm/v7, not the reverse; amd64 "v1" is "").
 */
#ifndef BARGE_PLATFORM_H
#define BARGE_PLATFORM_H

#include "err.h"

#define PLATFORM_FIELD_MAX 32

struct platform {
	char os[PLATFORM_FIELD_MAX];
	char arch[PLATFORM_FIELD_MAX];
	char variant[PLATFORM_FIELD_MAX]; /* "" when none */
};

int platform_parse(const char *s, struct platform *out, struct barge_err *err) BARGE_MUST_CHECK;
/* Sets out from separate fields (an OCI "platform" object); variant may be NULL. */
int platform_set(struct platform *out, const char *os, const char *arch, const char *variant,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* Normalised "os/arch[/variant]" into buf. */
void platform_format(const struct platform *p, char *buf, size_t len);
/* Whether have (from an index entry) satisfies want (asked for). */
int platform_match(const struct platform *want, const struct platform *have);
/*
 * How well have satisfies want: 0 when it does not, otherwise higher for a
 * closer variant, the highest for an exact one.  For choosing among index entries.
 */
int platform_rank(const struct platform *want, const struct platform *have);

#endif
