/*
 * fuzz_size: human-readable sizes, as upload.max_size in barged.yaml
 * (upload_parse_size, appliance/serve/upload.h) and `barge split --size`
 * (split_parse_size, bundler/split.h) take them.
 *
 * The input, cut at its first NUL, goes to both.  Each promises a value in
 * its range or an error: upload's never 0 nor above 2^63-1, split's never
 * under SPLIT_SIZE_MIN.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "split.h"
#include "upload.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	uint64_t u;
	int64_t s;
	char *text;

	/* A configuration value or an argument: short, and YAML bounds it anyway. */
	if (size > 4096)
		return 0;
	text = fuzz_str(data, size);
	if (upload_parse_size(text, &u, &err) == BARGE_OK && (u == 0 || u > (uint64_t)INT64_MAX))
		abort();
	if (split_parse_size(text, &s, &err) == BARGE_OK && s < SPLIT_SIZE_MIN)
		abort();
	free(text);
	return 0;
}
