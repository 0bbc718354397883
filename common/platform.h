/*
 * platform: "os/arch[/variant]" as in OCI index entries and --platform flags.
 * Matching normalises as containerd does: arm64 means arm64/v8, arm means
 * arm/v7, x86_64 is amd64, aarch64 is arm64.
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
/* Normalised "os/arch[/variant]" into buf. */
void platform_format(const struct platform *p, char *buf, size_t len);
/* Whether have (from an index entry) satisfies want (asked for). */
int platform_match(const struct platform *want, const struct platform *have);

#endif
