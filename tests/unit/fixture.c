/*
 * fixture: scratch directories and files for the unit tests (fixture.h).
 * Owns nothing between calls: each test owns the directory it made.
 */
#include "test_main.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "fixture.h"

void
fx_tmpdir(char *dir, const char *name)
{
	int n = snprintf(dir, FX_DIR_MAX, "/tmp/barge-test-%s.XXXXXX", name);

	assert_true(n > 0 && n < FX_DIR_MAX);
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp %s: %s", dir, strerror(errno));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fail_msg("remove %s: %s", path, strerror(errno));
	return 0;
}

void
fx_rmtree(const char *path)
{
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		fail_msg("remove %s: %s", path, strerror(errno));
}

char *
fx_path(const char *dir, const char *name)
{
	char *p = fu_printf("%s/%s", dir, name);

	assert_non_null(p);
	return p;
}

void
fx_write(const char *path, const void *buf, size_t len)
{
	struct barge_err err;

	if (fu_write_atomic(path, buf, len, 0644, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
}

char *
fx_read(const char *path, size_t *len)
{
	struct barge_err err;
	char *buf = NULL;

	if (fu_read_file(path, FX_READ_MAX, &buf, len, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	return buf;
}
