/*
 * fileutil: the small file helpers both programs use (see fileutil.h).  It
 * owns nothing past a call: what it allocates or opens and returns (a
 * buffer, a string, fu_out_create's descriptor) is the caller's, and every
 * other descriptor it opens is closed before it returns.
 */
#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
fu_mkdirs(const char *path, int mode, struct barge_err *err)
{
	char buf[4096];
	size_t len, i;

	len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return err_set(err, BARGE_EINVAL, "%s: bad directory path", path);
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return err_sys(err, BARGE_EIO, errno, "mkdir %s", buf);
		buf[i] = path[i];
	}
	return BARGE_OK;
}

int
fu_read_file(const char *path, size_t max, char **buf, size_t *len, struct barge_err *err)
{
	struct stat st;
	char *b = NULL;
	size_t have = 0;
	ssize_t n;
	int fd = -1, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s", path);
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "%s", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(err, BARGE_EINVAL, "%s: not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		rc = err_set(err, BARGE_ELIMIT, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	/* The file may change under us; never read past what was allocated. */
	while (have < (size_t)st.st_size) {
		n = read(fd, b + have, (size_t)st.st_size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "read %s", path);
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	b[have] = '\0';
	close(fd);
	*buf = b;
	if (len != NULL)
		*len = have;
	return BARGE_OK;
fail:
	if (fd >= 0)
		close(fd);
	free(b);
	return rc;
}

int
fu_read_exact(int fd, void *buf, size_t len, struct barge_err *err)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, BARGE_EIO, errno, "read");
		if (n == 0)
			return err_set(err, BARGE_EIO, "read: %zu bytes short of the end", len);
		p += n;
		len -= (size_t)n;
	}
	return BARGE_OK;
}

int
fu_write_all(int fd, const void *buf, size_t len, struct barge_err *err)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, BARGE_EIO, errno, "write");
		/* No progress and no error would loop for ever: treat it as a full device. */
		if (n == 0)
			return err_sys(err, BARGE_EIO, ENOSPC, "write");
		p += n;
		len -= (size_t)n;
	}
	return BARGE_OK;
}

int
fu_fsync_dir_of(const char *path, struct barge_err *err)
{
	char buf[4096];
	int fd, rc = BARGE_OK;

	if (strlen(path) >= sizeof(buf))
		return err_set(err, BARGE_EINVAL, "%s: path too long", path);
	strcpy(buf, path);
	if ((fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys(err, BARGE_EIO, errno, "open directory of %s", path);
	if (fsync(fd) != 0)
		rc = err_sys(err, BARGE_EIO, errno, "fsync directory of %s", path);
	close(fd);
	return rc;
}

int
fu_write_atomic(const char *path, const void *buf, size_t len, int mode, struct barge_err *err)
{
	char *tmp = NULL;
	int fd = -1, rc;

	if ((tmp = fu_printf("%s.tmp.%ld", path, (long)getpid())) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "create %s", tmp);
		goto fail;
	}
	if ((rc = fu_write_all(fd, buf, len, err)) != BARGE_OK) {
		err_prefix(err, "%s", tmp);
		goto fail;
	}
	if (fsync(fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", tmp);
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "rename %s to %s", tmp, path);
		goto fail;
	}
	free(tmp);
	return fu_fsync_dir_of(path, err);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

char *
fu_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

int
fu_scratch(const char *dir, FILE **out, struct barge_err *err)
{
	char *name = NULL;
	FILE *f;
	int fd, rc;

	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0) {
		if ((name = fu_printf("%s/.scratch-XXXXXX", dir)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if ((fd = mkostemp(name, O_CLOEXEC)) < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "create a scratch file in %s", dir);
			free(name);
			return rc;
		}
		unlink(name);
		free(name);
	}
	if ((f = fdopen(fd, "w+")) == NULL) {
		rc = err_sys(err, BARGE_EIO, errno, "open a scratch file in %s", dir);
		close(fd);
		return rc;
	}
	*out = f;
	return BARGE_OK;
}

int
fu_out_create(const char *path, int mode, int *fd, char **tmp, struct barge_err *err)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	int f = -1, rc;

	*fd = -1;
	*tmp = NULL;
	if (slash == NULL)
		dir = strdup(".");
	else
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (dir == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	/* fu_out_publish names an unnamed file through /proc: without it, use a name. */
	if (access("/proc/self/fd", X_OK) == 0)
		f = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	free(dir);
	if (f < 0) {
		if ((*tmp = fu_printf("%s.tmp-XXXXXX", path)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if ((f = mkostemp(*tmp, O_CLOEXEC)) < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "create %s", *tmp);
			free(*tmp);
			*tmp = NULL;
			return rc;
		}
	}
	/* The file's mode is the caller's, not the umask's nor mkostemp's 0600. */
	if (fchmod(f, (mode_t)mode) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "chmod %s", *tmp != NULL ? *tmp : path);
		close(f);
		if (*tmp != NULL) {
			unlink(*tmp);
			free(*tmp);
			*tmp = NULL;
		}
		return rc;
	}
	*fd = f;
	return BARGE_OK;
}

int
fu_out_publish(int fd, char **tmp, const char *path, struct barge_err *err)
{
	char proc[64];
	int rc;

	if (*tmp == NULL) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
			return fu_fsync_dir_of(path, err);
		if (errno != EEXIST)
			return err_sys(err, BARGE_EIO, errno, "link %s", path);
		/* linkat never replaces: link to a sibling name, then rename over path. */
		if ((*tmp = fu_printf("%s.tmp-%ld", path, (long)getpid())) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		/* A leftover of this name is from a writer of this pid killed right here. */
		(void)unlink(*tmp);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, *tmp, AT_SYMLINK_FOLLOW) != 0) {
			rc = err_sys(err, BARGE_EIO, errno, "link %s", *tmp);
			free(*tmp);
			*tmp = NULL;
			return rc;
		}
	}
	if (rename(*tmp, path) != 0)
		return err_sys(err, BARGE_EIO, errno, "rename %s to %s", *tmp, path);
	free(*tmp);
	*tmp = NULL;
	return fu_fsync_dir_of(path, err);
}

int
fu_write_direct(int fd, const void *buf, size_t len, int *direct, struct barge_err *err)
{
	const unsigned char *p = buf;
	ssize_t w;
	int fl;

	if (*direct) {
		do
			w = write(fd, p, len);
		while (w < 0 && errno == EINTR);
		if (w == (ssize_t)len)
			return BARGE_OK;
		if (w < 0 && errno != EINVAL)
			return err_sys(err, BARGE_EIO, errno, "write");
		if (w > 0) {
			p += w;
			len -= (size_t)w;
		}
		*direct = 0;
		if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) != 0)
			return err_sys(err, BARGE_EIO, errno, "fcntl");
	}
	return fu_write_all(fd, p, len, err);
}

void
fu_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
