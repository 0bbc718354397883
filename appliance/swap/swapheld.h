/*
 * swapheld: whether the store holds an image so that a pod can pull it
 * from barged (the webhook's policy present).
 *
 * An image manifest counts when its repository holds it.  An index counts
 * only with its platforms: when the pod pins platforms (swapheld_pins:
 * nodeSelector, or a required node affinity on kubernetes.io/arch and
 * kubernetes.io/os), the index entry each of them would pull must be a
 * manifest of the repository with its config and layers; when it pins
 * none, at least one entry must be (a bundle keeps only the platforms it
 * chose, and the loader records an entry only when it is complete).
 */
#ifndef BARGE_SWAPHELD_H
#define BARGE_SWAPHELD_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "platform.h"

#define SWAPHELD_PINS_MAX 16 /* most platforms one pod may be pinned to */

struct store;

struct swapheld_pins {
	struct platform p[SWAPHELD_PINS_MAX];
	size_t n; /* 0: the pod pins no platform */
};

/*
 * The platforms pod spec pins: nodeSelector kubernetes.io/arch and
 * kubernetes.io/os, or requiredDuringSchedulingIgnoredDuringExecution
 * terms that all say "In" for them.  More combinations than
 * SWAPHELD_PINS_MAX, or values no platform can be, count as no pin.
 */
void swapheld_pins(const json_t *spec, struct swapheld_pins *out);

/* Why an image does not count as held. */
enum swapheld_why { SWAPHELD_OK, SWAPHELD_ABSENT, SWAPHELD_PLATFORM_ABSENT };

/*
 * Checks repo:reference (a tag or digest) in s for pins.  *why says the
 * verdict; *plat (when SWAPHELD_PLATFORM_ABSENT and a pin is to blame)
 * names the missing platform ("linux/arm64", or "" when no entry at all is
 * held).  Fails only on a store error or out of memory.
 */
int swapheld_check(struct store *s, const char *repo, const char *reference,
                   const struct swapheld_pins *pins, enum swapheld_why *why, char *plat,
                   size_t platlen, struct barge_err *err) BARGE_MUST_CHECK;

#endif
