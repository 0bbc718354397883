/*
 * fuzz_profile: cluster profiles (bundler/profile.h), the YAML a user hands
 * `barge build` and `barge resolve`.
 *
 * The input is one profile of up to YJSON_FILE_MAX bytes, loaded with
 * profile_load_buf under a name in a folder that does not exist, so that
 * relative include, manifests and values paths fail to open instead of
 * reading whatever the working directory holds.
 */
#include "fuzz.h"
#include "profile.h"
#include "yjson.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct profile *p = NULL;

	if (size > YJSON_FILE_MAX)
		return 0;
	if (profile_load_buf("/nonexistent/barge-fuzz/profile.yaml", (const char *)data, size, &p,
	                     &err) == BARGE_OK)
		profile_free(p);
	return 0;
}
