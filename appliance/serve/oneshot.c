/*
 * oneshot: a function run in a forked child, its result read back over a
 * pipe (oneshot.h).  Owns the child and the pipe until the child is
 * reaped.
 */
#include "oneshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileutil.h"

/* What the child writes first: fn's code and how many bytes follow (result or message). */
struct oneshot_head {
	int32_t code;
	uint32_t len;
};

/* The child: runs fn, reports over fd, never returns. */
static void
oneshot_child(int fd, oneshot_fn fn, void *arg)
{
	struct barge_err err = { 0 };
	struct oneshot_head h = { 0 };
	void *out = NULL;
	size_t len = 0;
	const void *body;

	h.code = fn(arg, &out, &len, &err);
	if (h.code == BARGE_OK && len > UINT32_MAX)
		h.code = err_set(&err, BARGE_ELIMIT, "result too large");
	if (h.code != BARGE_OK) {
		body = err.msg;
		h.len = (uint32_t)strnlen(err.msg, sizeof(err.msg));
	} else {
		body = out;
		h.len = (uint32_t)len;
	}
	if (fu_write_all(fd, &h, sizeof(h), NULL) != BARGE_OK ||
	    fu_write_all(fd, body, h.len, NULL) != BARGE_OK)
		_exit(1);
	if (out != NULL)
		explicit_bzero(out, len);
	/* _exit: the parent's atexit handlers and stdio buffers are not the child's to run. */
	_exit(0);
}

/* Reads the child's answer: its code, and its result or message in a new buffer. */
static int
oneshot_read(int fd, size_t max, struct oneshot_head *h, char **buf, struct barge_err *err)
{
	char *b = NULL;

	if (fu_read_exact(fd, h, sizeof(*h), NULL) != BARGE_OK)
		return err_set(err, BARGE_EINTERNAL, "helper process gave no answer");
	if (h->code == BARGE_OK ? h->len > max : h->len >= sizeof(err->msg))
		return err_set(err, BARGE_EINTERNAL, "helper process: answer of %u bytes too long",
		               (unsigned)h->len);
	if ((b = malloc((size_t)h->len + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (fu_read_exact(fd, b, h->len, NULL) != BARGE_OK) {
		explicit_bzero(b, h->len);
		free(b);
		return err_set(err, BARGE_EINTERNAL, "helper process: answer cut short");
	}
	b[h->len] = '\0';
	*buf = b;
	return BARGE_OK;
}

int
oneshot_run(oneshot_fn fn, void *arg, size_t max, void **out, size_t *len, struct barge_err *err)
{
	struct oneshot_head h = { 0 };
	int fds[2] = { -1, -1 }, status = 0, rc;
	char *buf = NULL;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return err_sys(err, BARGE_EIO, errno, "pipe");
	if ((pid = fork()) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fork");
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (pid == 0) {
		close(fds[0]);
		oneshot_child(fds[1], fn, arg);
	}
	close(fds[1]);
	rc = oneshot_read(fds[0], max, &h, &buf, err);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc != BARGE_OK)
		goto out;
	if (h.code != BARGE_OK) {
		/* The child's own message, under its code (an error, whatever it sent). */
		rc = err_set(err, h.code < 0 ? h.code : BARGE_EINTERNAL, "%s", buf);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = err_set(err, BARGE_EINTERNAL, "helper process died (wait status %d)", status);
		goto out;
	}
	*out = buf;
	*len = h.len;
	return BARGE_OK;
out:
	if (buf != NULL) {
		explicit_bzero(buf, h.len);
		free(buf);
	}
	return rc;
}
