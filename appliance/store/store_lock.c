/*
 * store_lock: DIR/gc.lock, the flock that keeps GC and fsck --repair away
 * from writers between their first blob and the commit that references it
 * (store.h).  Owns the handle's lock descriptor, s->lock_fd.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "fileutil.h"
#include "store_int.h"

#define STORE_LOCK_POLL_MS 50

static int
lock_open(struct store *s, struct barge_err *err)
{
	char *path;

	if (s->lock_fd >= 0)
		return err_set(err, BARGE_EINVAL, "%s/gc.lock: already held by this handle",
		               s->dir);
	if ((path = fu_printf("%s/gc.lock", s->dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, STORE_FILE_MODE);
	if (s->lock_fd < 0) {
		err_sys(err, BARGE_EIO, errno, "open %s", path);
		free(path);
		return BARGE_EIO;
	}
	free(path);
	return BARGE_OK;
}

int
store_lock_shared(struct store *s, struct barge_err *err)
{
	int rc;

	if ((rc = lock_open(s, err)) != BARGE_OK)
		return rc;
	while (flock(s->lock_fd, LOCK_SH) != 0) {
		if (errno == EINTR)
			continue;
		rc = err_sys(err, BARGE_EIO, errno, "lock %s/gc.lock", s->dir);
		store_unlock(s);
		return rc;
	}
	return BARGE_OK;
}

int
store_lock_exclusive(struct store *s, int wait_ms, struct barge_err *err)
{
	int rc, waited = 0;

	if ((rc = lock_open(s, err)) != BARGE_OK)
		return rc;
	for (;;) {
		if (flock(s->lock_fd, wait_ms < 0 ? LOCK_EX : LOCK_EX | LOCK_NB) == 0)
			return BARGE_OK;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			rc = err_sys(err, BARGE_EIO, errno, "lock %s/gc.lock", s->dir);
			break;
		}
		if (waited >= wait_ms) {
			rc = err_set(err, BARGE_EEXIST,
			             "%s: busy: a load or another gc holds %s/gc.lock", s->dir,
			             s->dir);
			break;
		}
		usleep(STORE_LOCK_POLL_MS * 1000);
		waited += STORE_LOCK_POLL_MS;
	}
	store_unlock(s);
	return rc;
}

void
store_unlock(struct store *s)
{
	if (s->lock_fd < 0)
		return;
	/* Closing the only descriptor of the open file releases the flock. */
	close(s->lock_fd);
	s->lock_fd = -1;
}
