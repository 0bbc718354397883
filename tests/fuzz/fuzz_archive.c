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

struct mem {
	unsigned char *buf;
	size_t len, pos;
};

static int
mem_read(void *arg, void *buf, size_t cap, size_t *got, struct barge_err *err)
{
	struct mem *m = arg;
	size_t n = m->len - m->pos;

	(void)err;
	/* Short reads, as pipes give, exercise the refills. */
	if (n > cap)
		n = cap;
	if (n > 4096)
		n = 4096;
	memcpy(buf, m->buf + m->pos, n);
	m->pos += n;
	*got = n;
	return BARGE_OK;
}

static void
mem_close(void *arg)
{
	struct mem *m = arg;

	free(m->buf);
	free(m);
}

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
	struct bundle_source src = { mem_read, mem_close, NULL };
	struct loader_result res;
	struct barge_err err;
	struct mem *m;

	if (size > INPUT_MAX)
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL || (m->buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(m->buf, data, size);
	m->len = size;
	src.arg = m;
	(void)archload_load(store, &src, "fuzz", &opts, &res, &err);
	return 0;
}
