/*
 * fuzz_charts: Helm chart archives (bundler/charts.h), the .tgz files a
 * profile's charts list names, as users bring them from anywhere.
 *
 * The input is the archive.  It is written to a memory file and read by
 * path (/proc/self/fd/N): gunzipped, untarred, its Chart.yaml parsed and
 * the config and manifest made from it, and, when that works, the chart's
 * config read back and its layer streamed through the verifying copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "charts.h"
#include "fileutil.h"
#include "fuzz.h"

/* Charts are kilobytes; mutations of a small one find the same code. */
#define INPUT_MAX (4 * 1024 * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct chart *ch = NULL;
	char path[64], from[80], *buf = NULL;
	size_t len;
	int fd, out;

	if (size > INPUT_MAX)
		return 0;
	if ((fd = memfd_create("fuzz.tgz", MFD_CLOEXEC)) < 0 ||
	    (out = memfd_create("fuzz.out", MFD_CLOEXEC)) < 0 ||
	    fu_write_all(fd, data, size, &err) != BARGE_OK)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	snprintf(from, sizeof(from), "%s%s", CHARTS_PREFIX, path);
	if (charts_open(path, &ch, &err) == BARGE_OK) {
		if (charts_read(from, ch->config_digest, (int64_t)ch->config_len, 1 << 20, &buf,
		                &len, &err) == BARGE_OK)
			free(buf);
		if (charts_copy(from, ch->tgz_digest, ch->tgz_size, out, &err) != BARGE_OK)
			abort(); /* the archive read once must copy as it hashed */
		charts_free(ch);
	}
	close(out);
	close(fd);
	return 0;
}
