/*
 * fuzz_manifest: image manifests and indexes (common/manifest.h), as the
 * registry takes them on a push and the bundler and loader read them.
 *
 * The input is the document, up to MANIFEST_MAX as every caller bounds
 * it, parsed without a Content-Type and with each one a client may send;
 * for an index, manifest_pick chooses an entry as the resolver does.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "manifest.h"
#include "mediatype.h"
#include "platform.h"

static const char *const hints[] = {
	NULL, MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct platform want = { 0 };
	struct barge_err err = { 0 };
	struct manifest *m;
	size_t i;

	if (size > MANIFEST_MAX)
		return 0;
	if (platform_parse("linux/arm64/v8", &want, &err) != BARGE_OK)
		abort();
	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		m = NULL;
		if (manifest_parse(data, size, hints[i], &m, &err) != BARGE_OK)
			continue;
		if (m->kind == MANIFEST_INDEX)
			(void)manifest_pick(m, &want);
		manifest_free(m);
	}
	return 0;
}
