/*
 * arch_hauler: a Hauler haul (`hauler store save`): a tar.zst holding an
 * OCI layout whose index.json entries carry Hauler's "kind" annotation
 * (dev.cosignproject.cosign/image, .../sigs, .../atts, dev.hauler/...)
 * and name their references in full in io.containerd.image.name or
 * org.opencontainers.image.ref.name.  Owns nothing.
 */
#include <string.h>

#include "arch_int.h"

#define ANN_KIND       "kind"
#define ANN_CONTAINERD "io.containerd.image.name"
#define ANN_REF_NAME   "org.opencontainers.image.ref.name"

static int
is_hauler_kind(const char *kind)
{
	return kind != NULL && (strncmp(kind, "dev.cosignproject.cosign/", 25) == 0 ||
	                        strncmp(kind, "dev.hauler/", 11) == 0);
}

int
arch_hauler_is(json_t *index)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(index, "manifests"), i, e)
	{
		if (is_hauler_kind(json_string_value(
		            json_object_get(json_object_get(e, "annotations"), ANN_KIND))))
			return 1;
	}
	return 0;
}

/* Hauler's ref.name is always a full reference, never a bare tag. */
const char *
arch_hauler_name(json_t *annotations, const char **tag)
{
	const char *v;

	*tag = NULL;
	if ((v = json_string_value(json_object_get(annotations, ANN_CONTAINERD))) != NULL)
		return v;
	return json_string_value(json_object_get(annotations, ANN_REF_NAME));
}
