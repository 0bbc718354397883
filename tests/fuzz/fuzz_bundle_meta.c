/*
 * fuzz_bundle_meta: barge.json (common/bundle_meta.h), the first entry of
 * every bundle, which the loader parses before it trusts anything else.
 *
 * The input is the entry, up to BUNDLE_META_MAX bytes as the loader slurps
 * it, given to bundle_meta_parse under the entry's name.
 */
#include "bundle.h"
#include "bundle_meta.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct bundle_meta *m = NULL;

	if (size > BUNDLE_META_MAX)
		return 0;
	if (bundle_meta_parse("barge.json", (const char *)data, size, &m, &err) == BARGE_OK)
		bundle_meta_free(m);
	return 0;
}
