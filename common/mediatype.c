/*
 * mediatype: the media types Barge understands, compared with parameters and
 * spaces trimmed (see mediatype.h).  Static tables; it owns nothing.
 */
#include "mediatype.h"

#include <string.h>

const char *
mt_trim(const char *mt, size_t *len)
{
	const char *end;

	while (*mt == ' ' || *mt == '\t')
		mt++;
	end = strchr(mt, ';');
	if (end == NULL)
		end = mt + strlen(mt);
	while (end > mt && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*len = (size_t)(end - mt);
	return mt;
}

/*
 * Whether mt names type, whitespace and parameters aside.  The comparison is
 * exact otherwise, as registries and clients make it.
 */
static int
mt_equal(const char *mt, const char *type)
{
	size_t n;

	if (mt == NULL)
		return 0;
	mt = mt_trim(mt, &n);
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
