/*
 * fixture: scratch directories and files for the unit tests (fixture.h).
 * Owns nothing between calls: each test owns the directory it made.
 */
#include "test_main.h"

#include <dirent.h>
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

char *
fx_tmpdir_new(const char *name)
{
	char dir[FX_DIR_MAX], *p;

	fx_tmpdir(dir, name);
	assert_non_null(p = strdup(dir));
	return p;
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

int
fx_count_entries(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* nftw passes no argument to its callback: the count of the walk in progress. */
static int nfiles;

static int
count_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	nfiles += flag == FTW_F;
	return 0;
}

int
fx_count_files(const char *dir)
{
	nfiles = 0;
	if (nftw(dir, count_entry, 16, FTW_PHYS) != 0)
		fail_msg("walk %s: %s", dir, strerror(errno));
	return nfiles;
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
