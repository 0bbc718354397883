/*
 * fuzz_range: the Range header of blob pulls (registry_parse_range,
 * appliance/serve/registry.h).
 *
 * The input, cut at its first NUL, is the header's value, interpreted
 * against bodies of several sizes, the edges included.  A partial answer
 * must be a non-empty range inside the body.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "http_server.h"
#include "registry.h"

static const uint64_t sizes[] = { 0, 1, 2, 1000, (uint64_t)1 << 40, UINT64_MAX - 1, UINT64_MAX };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t start, len;
	size_t i;
	char *hdr;

	/* A header is part of the request head, which the server bounds. */
	if (size > HTTP_HEAD_MAX)
		return 0;
	hdr = fuzz_str(data, size);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		start = len = 0;
		if (registry_parse_range(hdr, sizes[i], &start, &len) != REGISTRY_RANGE_PARTIAL)
			continue;
		if (len == 0 || start >= sizes[i] || len > sizes[i] - start)
			abort();
	}
	free(hdr);
	return 0;
}
