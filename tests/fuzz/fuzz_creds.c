/*
 * fuzz_creds: docker's config.json (creds.h), read by barge for registry
 * credentials.
 *
 * The input is the file, up to CREDS_CONFIG_MAX bytes, asked for the
 * registries a build talks to: Docker Hub, a host with a port, and an IPv6
 * literal.  When the file names a helper nothing is run: only the parser
 * is under test.
 */
#include <stdlib.h>

#include "creds.h"
#include "fuzz.h"

static const char *const registries[] = { "docker.io", "127.0.0.1:5000", "[::1]:5000" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct creds c;
	char *helper;
	size_t i;

	if (size > CREDS_CONFIG_MAX)
		return 0;
	for (i = 0; i < sizeof(registries) / sizeof(registries[0]); i++) {
		helper = NULL;
		if (creds_from_config((const char *)data, size, registries[i], &c, &helper, &err) ==
		    BARGE_OK)
			creds_clear(&c);
		free(helper);
	}
	return 0;
}
