/*
 * registry_range.c: the parsers of registry_range.h, for the numbers and
 * byte ranges clients send in headers and query arguments.  It owns
 * nothing beyond a call.
 */
#include "registry_range.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

const char *
registry_range_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*v = x;
	return s;
}

enum registry_range
registry_range_parse(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len)
{
	uint64_t a, b;
	const char *p;

	if (hdr == NULL || strncasecmp(hdr, "bytes=", 6) != 0)
		return REGISTRY_RANGE_FULL;
	p = hdr + 6;
	if (*p == '-') {
		/* A suffix: the last b bytes. */
		if ((p = registry_range_u64(p + 1, &b)) == NULL || *p != '\0')
			return REGISTRY_RANGE_FULL;
		if (b == 0 || size == 0)
			return REGISTRY_RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return REGISTRY_RANGE_PARTIAL;
	}
	if ((p = registry_range_u64(p, &a)) == NULL || *p != '-')
		return REGISTRY_RANGE_FULL;
	p++;
	if (*p == '\0') {
		b = UINT64_MAX;
	} else {
		if ((p = registry_range_u64(p, &b)) == NULL || *p != '\0')
			return REGISTRY_RANGE_FULL; /* several ranges, or garbage */
		if (b < a)
			return REGISTRY_RANGE_FULL; /* invalid, so the header is ignored */
	}
	if (a >= size)
		return REGISTRY_RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return REGISTRY_RANGE_PARTIAL;
}

int
registry_range_content(const char *v, uint64_t *start, uint64_t *end)
{
	const char *p = v;

	if (strncasecmp(p, "bytes", 5) == 0) {
		p += 5;
		if (*p != ' ' && *p != '=')
			return 0;
		p++;
	}
	if ((p = registry_range_u64(p, start)) == NULL || *p != '-')
		return 0;
	if ((p = registry_range_u64(p + 1, end)) == NULL || (*p != '\0' && *p != '/'))
		return 0;
	return *end >= *start;
}

int
registry_range_page(const char *v, uint64_t max, uint64_t *n)
{
	const char *end;

	*n = max;
	if (v == NULL)
		return 1;
	if ((end = registry_range_u64(v, n)) == NULL || *end != '\0')
		return 0;
	if (*n > max)
		*n = max;
	return 1;
}
