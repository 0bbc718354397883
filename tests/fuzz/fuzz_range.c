/*
 * fuzz_range: the numbers and byte ranges of the registry's requests
 * (appliance/serve/registry_range.h): the Range of a blob GET
 * (registry_range_parse), the Content-Range of an upload PATCH
 * (registry_range_content), the n= of a listing (registry_range_page) and
 * the decimal reader under them all (registry_range_u64).
 *
 * The input, cut at its first NUL, is given to each as its header or query
 * value.  What each promises is checked against the input itself:
 * a partial range is a non-empty range inside the body, a Content-Range
 * has its start at most its end, a page size is at most the maximum and
 * comes from digits only, and the decimal reader stops at the first
 * non-digit with the value of the digits it read (saturated at 2^64-1).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_server.h"
#include "registry_range.h"

static const uint64_t sizes[] = { 0, 1, 2, 1000, (uint64_t)1 << 40, UINT64_MAX - 1, UINT64_MAX };

static void
check_u64(const char *s)
{
	const char *end;
	uint64_t v = 7, want = 0;
	const char *p;

	end = registry_range_u64(s, &v);
	if (*s < '0' || *s > '9') {
		if (end != NULL || v != 7)
			abort();
		return;
	}
	for (p = s; *p >= '0' && *p <= '9'; p++)
		want = want > (UINT64_MAX - (uint64_t)(*p - '0')) / 10
		               ? UINT64_MAX
		               : want * 10 + (uint64_t)(*p - '0');
	if (end != p || v != want)
		abort();
}

static void
check_range(const char *hdr)
{
	uint64_t start, len;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		start = len = 0;
		if (registry_range_parse(hdr, sizes[i], &start, &len) != REGISTRY_RANGE_PARTIAL)
			continue;
		if (len == 0 || start >= sizes[i] || len > sizes[i] - start)
			abort();
	}
}

static void
check_content(const char *v)
{
	uint64_t start = 0, end = 0;

	if (registry_range_content(v, &start, &end) && start > end)
		abort();
}

static void
check_page(const char *v)
{
	static const uint64_t maxes[] = { 0, 1, 100, 1000, UINT64_MAX };
	uint64_t n;
	size_t i;

	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		n = 0;
		if (!registry_range_page(v, maxes[i], &n))
			continue;
		if (n > maxes[i] || v[0] == '\0' || strspn(v, "0123456789") != strlen(v))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	/* A header or query value is part of the request head, which the server bounds. */
	if (size > HTTP_HEAD_MAX)
		return 0;
	text = fuzz_str(data, size);
	check_u64(text);
	check_range(text);
	check_content(text);
	check_page(text);
	free(text);
	return 0;
}
