/*
 * fileutil: small file helpers shared by the programs.
 */
#ifndef BARGE_FILEUTIL_H
#define BARGE_FILEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* mkdir -p with mode; existing directories are fine. */
int fu_mkdirs(const char *path, int mode, struct barge_err *err) BARGE_MUST_CHECK;
/* Reads a whole file of at most max bytes into a new NUL-terminated buffer. */
int fu_read_file(const char *path, size_t max, char **buf, size_t *len,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* Writes buf to path atomically: temp sibling, fsync, rename, fsync dir. */
int fu_write_atomic(const char *path, const void *buf, size_t len, int mode,
                    struct barge_err *err) BARGE_MUST_CHECK;
/* fsyncs the directory containing path. */
int fu_fsync_dir_of(const char *path, struct barge_err *err) BARGE_MUST_CHECK;
/* read(2) exactly len bytes, retrying EINTR; a file that ends first is BARGE_EIO. */
int fu_read_exact(int fd, void *buf, size_t len, struct barge_err *err) BARGE_MUST_CHECK;
/* write(2) until done, retrying EINTR. */
int fu_write_all(int fd, const void *buf, size_t len, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * A scratch file in dir, open for reading and writing (caller fcloses): an
 * unnamed one (O_TMPFILE), else one unlinked as soon as it is made, so that
 * nothing is left behind even after SIGKILL.  For spools that must cost
 * disk rather than memory, where /tmp may be a tmpfs.
 */
int fu_scratch(const char *dir, FILE **out, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * An output file written whole and then given its name atomically.
 * fu_out_create opens it unnamed (O_TMPFILE) in path's directory, so that a
 * write that fails or is killed, even by SIGKILL, leaves nothing; where the
 * file system has no unnamed files it is a temporary sibling, named in *tmp,
 * which the caller unlinks and frees if it never publishes.  fu_out_publish,
 * after the caller's fsync, gives the file path's name (replacing what was
 * there) and fsyncs the directory; *tmp is NULL afterwards.  The caller owns
 * *fd either way.
 */
int fu_out_create(const char *path, int mode, int *fd, char **tmp,
                  struct barge_err *err) BARGE_MUST_CHECK;
int fu_out_publish(int fd, char **tmp, const char *path, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * write(2) of all of buf, straight to the disk while *direct (fd has
 * O_DIRECT, and buf, len and the offset are aligned as it requires): a
 * write O_DIRECT refuses (a file system without it, an unaligned tail) or
 * cuts short turns O_DIRECT off, sets *direct to 0 and goes through the
 * page cache, as does every later write.
 */
int fu_write_direct(int fd, const void *buf, size_t len, int *direct,
                    struct barge_err *err) BARGE_MUST_CHECK;
/* Like asprintf; NULL on failure. */
char *fu_printf(const char *fmt, ...) BARGE_PRINTF(1, 2);
/* Wipes the string s (a key, a password) before freeing it.  Accepts NULL. */
void fu_free_secret(char *s);

#endif
