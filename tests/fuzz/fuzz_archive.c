/*
 * fuzz_archive: another tool's archive (appliance/load/load_archive.h) fed
 * to archload_load from memory, into a store in a private directory: the
 * member walk (names, links, types), the bounded metadata, and the readers
 * of manifest.json, index.json, oci-layout and zarf.yaml.  An input that
 * is a barge bundle goes to the loader, which fuzz_bundle covers; a plain
 * tar, gzip or zstd one is read as an archive.  Whatever loads is left in
 * the store (each input is its own archive; reloading is the loader's
 * business).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "load_archive.h"
#include "store.h"

/* Bigger archives only take longer to fuzz; the reader streams whatever the size. */
#define INPUT_MAX (4 * 1024 * 1024)

static struct store *store;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct barge_err err;

	(void)argc;
	(void)argv;
	if (store_open(fuzz_tmpdir(), &store, &err) != BARGE_OK)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loader_opts opts = { .repo = "fuzz.local/unnamed" };
	struct bundle_source src;
	struct loader_result res;
	struct barge_err err;
	unsigned char *buf;

	if (size > INPUT_MAX)
		return 0;
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	fuzz_source(buf, size, &src);
	(void)archload_load(store, &src, "fuzz", &opts, &res, &err);
	return 0;
}
