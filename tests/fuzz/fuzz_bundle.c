/*
 * fuzz_bundle: the bundle reader (common/bundle.h) fed a tar, the container
 * every bundle is.
 *
 * The input is an uncompressed tar: the harness wraps it in one zstd frame
 * with its checksum, as the writer does, so that mutations reach the tar
 * reader instead of failing the checksum, and feeds it to
 * bundle_reader_open_source from memory.  (An input that already starts
 * with the zstd magic is fed as it is, so the zstd layer is reached too.)
 * Entries are then read as the loader reads them: barge.json first,
 * slurped up to BUNDLE_META_MAX and parsed, every other entry streamed,
 * alternately by copy and by block.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "fuzz.h"

/* Bigger bundles only take longer to fuzz; the reader streams whatever the size. */
#define INPUT_MAX (4 * 1024 * 1024)

/* The input as a bundle's bytes: one zstd frame with a checksum, unless it is one already. */
static void
wrap(const uint8_t *data, size_t size, struct bundle_source *src)
{
	static const unsigned char magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(size), len;
	unsigned char *buf;

	if (c == NULL || (buf = malloc(cap > 0 ? cap : 1)) == NULL)
		abort();
	if (size >= 4 && memcmp(data, magic, 4) == 0) {
		memcpy(buf, data, size);
		len = size;
	} else {
		if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1)))
			abort();
		len = ZSTD_compress2(c, buf, cap, data, size);
		if (ZSTD_isError(len))
			abort();
	}
	ZSTD_freeCCtx(c);
	fuzz_source(buf, len, src);
}

static int
read_entry(struct bundle_reader *r, int by_block, struct barge_err *err)
{
	unsigned char buf[8192];
	const void *block;
	size_t got;
	int rc;

	do {
		if (by_block)
			rc = bundle_reader_read_block(r, &block, &got, err);
		else
			rc = bundle_reader_read(r, buf, sizeof(buf), &got, err);
	} while (rc == BARGE_OK && got > 0);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_source src;
	struct barge_err err = { 0 };
	struct bundle_reader *r = NULL;
	struct bundle_meta *meta;
	const char *name;
	char *buf;
	size_t len, i;
	int64_t esize;
	int rc;

	if (size > INPUT_MAX)
		return 0;
	wrap(data, size, &src);
	if (bundle_reader_open_source(&src, "fuzz.barge", &r, &err) != BARGE_OK)
		return 0;
	for (i = 0; (rc = bundle_reader_next(r, &name, &esize, &err)) == BARGE_OK; i++) {
		if (i == 0 && strcmp(name, "barge.json") == 0) {
			if (bundle_reader_slurp(r, BUNDLE_META_MAX, &buf, &len, &err) != BARGE_OK)
				break;
			meta = NULL;
			if (bundle_meta_parse("barge.json", buf, len, &meta, &err) == BARGE_OK)
				bundle_meta_free(meta);
			free(buf);
		} else if (read_entry(r, (int)(i & 1), &err) != BARGE_OK) {
			break;
		}
	}
	bundle_reader_free(r);
	return 0;
}
