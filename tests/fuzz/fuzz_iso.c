/*
 * fuzz_iso: the ISO 9660 reader (iso/isoread.h), which `barged load` and
 * the import watcher point at install media as they come: .iso files,
 * DVDs and USB sticks.
 *
 * The input is the image.  It is written to a memory file and read by
 * path (/proc/self/fd/N), as the loader reads a device: probed, listed,
 * and each listed file opened and read to its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fileutil.h"
#include "fuzz.h"
#include "isoread.h"

/* Real media are gigabytes, but mutations of a small image find the same code. */
#define INPUT_MAX (8 * 1024 * 1024)
/* Files read per image: the loader opens only bundles, which are few. */
#define FILES_READ_MAX 8

static void
read_file(const char *path, const char *name)
{
	struct barge_err err = { 0 };
	struct isoread_file *f = NULL;
	char buf[65536];
	size_t got;

	if (isoread_open(path, name, &f, &err) != BARGE_OK)
		return;
	while (isoread_read(f, buf, sizeof(buf), &got, &err) == BARGE_OK && got > 0)
		;
	isoread_close(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct isoread_entry *e = NULL;
	char path[64];
	size_t n = 0, i;
	int fd, is_iso;

	if (size > INPUT_MAX)
		return 0;
	if ((fd = memfd_create("fuzz.iso", MFD_CLOEXEC)) < 0 ||
	    fu_write_all(fd, data, size, &err) != BARGE_OK)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (isoread_probe(path, &is_iso, &err) == BARGE_OK && is_iso &&
	    isoread_list(path, &e, &n, &err) == BARGE_OK) {
		for (i = 0; i < n && i < FILES_READ_MAX; i++)
			read_file(path, e[i].name);
		isoread_list_free(e, n);
	}
	close(fd);
	return 0;
}
