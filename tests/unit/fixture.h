/*
 * fixture: the scratch files of the unit tests.  Every test that needs a
 * directory makes it with fx_tmpdir and removes it with fx_rmtree, so that
 * a test leaves nothing behind and the removal does not follow links a test
 * planted.  Every function asserts (cmocka) rather than returns an error:
 * a fixture that cannot be set up fails the test that asked for it.  Include
 * after test_main.h.  store_fixture.h and bundle_fixture.h build on it.
 */
#ifndef BARGE_FIXTURE_H
#define BARGE_FIXTURE_H

#include <stddef.h>

/* The size of a directory name fx_tmpdir makes, with its NUL. */
#define FX_DIR_MAX 64

/* The most fx_read reads: larger files fail the test. */
#define FX_READ_MAX ((size_t)1 << 30)

/*
 * Makes a new, empty directory /tmp/barge-test-<name>.XXXXXX and writes its
 * name into dir (FX_DIR_MAX bytes, caller's).  name says which test made it.
 */
void fx_tmpdir(char *dir, const char *name);

/* fx_tmpdir's directory, its name in a new string; caller frees (after fx_rmtree). */
char *fx_tmpdir_new(const char *name);

/*
 * Removes path and everything below it, without following symbolic links;
 * a path that is not there is fine (a test may have removed it).
 */
void fx_rmtree(const char *path);

/* How many names dir holds besides . and .. */
int fx_count_entries(const char *dir);

/* How many regular files there are below dir, at any depth. */
int fx_count_files(const char *dir);

/* "dir/name"; caller frees. */
char *fx_path(const char *dir, const char *name);

/* Writes len bytes of buf to path (replacing it, mode 0644). */
void fx_write(const char *path, const void *buf, size_t len);

/* The whole of path, NUL-terminated; its length in *len unless NULL.  Caller frees. */
char *fx_read(const char *path, size_t *len);

#endif
