#include "mediatype.h"

#include <string.h>

/*
 * Whether mt names type, ignoring surrounding whitespace and any parameters
 * after ';' ("application/vnd.oci.image.index.v1+json; charset=utf-8").
 * The comparison is exact otherwise, as registries and clients make it.
 */
static int
mt_equal(const char *mt, const char *type)
{
	const char *end;
	size_t n;

	if (mt == NULL)
		return 0;
	while (*mt == ' ' || *mt == '\t')
		mt++;
	end = strchr(mt, ';');
	if (end == NULL)
		end = mt + strlen(mt);
	while (end > mt && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - mt);
	return n == strlen(type) && memcmp(mt, type, n) == 0;
}

int
mt_is_index(const char *mt)
{
	return mt_equal(mt, MT_OCI_INDEX) || mt_equal(mt, MT_DOCKER_LIST);
}

int
mt_is_manifest(const char *mt)
{
	return mt_equal(mt, MT_OCI_MANIFEST) || mt_equal(mt, MT_DOCKER_MANIFEST);
}
