/*
 * fuzz: the helpers every harness links (fuzz.h): input as a string, and
 * a scratch directory for the harnesses whose parser needs files around it.
 */
#include "fuzz.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

static char tmpdir[4096];

char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);

	if (s == NULL)
		abort();
	return s;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_tmpdir(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0] != '\0')
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/barge-fuzz.XXXXXX",
	         base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		abort();
	atexit(rm_tmpdir);
	return tmpdir;
}

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

void
fuzz_source(unsigned char *buf, size_t len, struct bundle_source *src)
{
	struct mem *m = calloc(1, sizeof(*m));

	if (m == NULL)
		abort();
	m->buf = buf;
	m->len = len;
	src->read = mem_read;
	src->close = mem_close;
	src->arg = m;
}
