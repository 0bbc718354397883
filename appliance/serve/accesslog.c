/*
 * accesslog: the JSON access log, one line per answered request
 * (accesslog.h).  Owns the log's file descriptor and the lock a reopen takes.
 */
#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct accesslog {
	char *path;          /* NULL: stdout */
	pthread_rwlock_t lk; /* writers share it; a reopen takes it alone */
	int fd;
};

static int
open_file(const char *path, int *fd, struct barge_err *err)
{
	*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (*fd < 0)
		return err_sys(err, BARGE_EIO, errno, "access log %s", path);
	return BARGE_OK;
}

int
accesslog_open(const char *where, struct accesslog **out, struct barge_err *err)
{
	struct accesslog *l;
	int rc;

	if (strcmp(where, "off") == 0) {
		*out = NULL;
		return BARGE_OK;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	l->fd = STDOUT_FILENO;
	if (strcmp(where, "stdout") != 0) {
		if ((l->path = strdup(where)) == NULL) {
			free(l);
			return err_set(err, BARGE_ENOMEM, "out of memory");
		}
		if ((rc = open_file(where, &l->fd, err)) != BARGE_OK) {
			free(l->path);
			free(l);
			return rc;
		}
	}
	pthread_rwlock_init(&l->lk, NULL);
	*out = l;
	return BARGE_OK;
}

int
accesslog_reopen(struct accesslog *l, struct barge_err *err)
{
	int fd, rc;

	if (l == NULL || l->path == NULL)
		return BARGE_OK;
	if ((rc = open_file(l->path, &fd, err)) != BARGE_OK)
		return rc;
	pthread_rwlock_wrlock(&l->lk);
	close(l->fd);
	l->fd = fd;
	pthread_rwlock_unlock(&l->lk);
	return BARGE_OK;
}

void
accesslog_close(struct accesslog *l)
{
	if (l == NULL)
		return;
	if (l->path != NULL)
		close(l->fd);
	pthread_rwlock_destroy(&l->lk);
	free(l->path);
	free(l);
}

/* Appends s as a JSON string (quotes included); returns the new length, or len+1 on overflow. */
static size_t
put_str(char *buf, size_t len, size_t n, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i;

	if (n + 1 >= len)
		return len + 1;
	buf[n++] = '"';
	for (i = 0; i < max && s[i] != '\0'; i++) {
		c = (unsigned char)s[i];
		if (n + 7 >= len)
			return len + 1;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/*
			 * Bytes beyond ASCII are escaped one by one: the path is
			 * what the client sent, not necessarily UTF-8.
			 */
			memcpy(buf + n, "\\u00", 4);
			buf[n + 4] = hex[c >> 4];
			buf[n + 5] = hex[c & 15];
			n += 6;
		} else {
			buf[n++] = (char)c;
		}
	}
	buf[n++] = '"';
	return n;
}

size_t
accesslog_format(const struct accesslog_entry *e, char *buf, size_t len)
{
	struct tm tm;
	size_t n;
	int w;

	gmtime_r(&e->ts.tv_sec, &tm);
	w = snprintf(buf, len, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"remote\":",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             e->ts.tv_nsec / 1000000);
	if (w < 0 || (size_t)w >= len)
		return 0;
	n = put_str(buf, len, (size_t)w, e->remote != NULL ? e->remote : "", 64);
	if (n + 11 < len) {
		memcpy(buf + n, ",\"method\":", 10);
		n = put_str(buf, len, n + 10, e->method != NULL ? e->method : "", 16);
	}
	if (n + 9 < len) {
		memcpy(buf + n, ",\"path\":", 8);
		n = put_str(buf, len, n + 8, e->path != NULL ? e->path : "", ACCESSLOG_PATH_MAX);
	}
	if (n >= len)
		return 0;
	w = snprintf(buf + n, len - n,
	             ",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%.3f,\"user\":", e->status,
	             (unsigned long long)e->bytes, e->duration_ms);
	if (w < 0 || (size_t)w >= len - n)
		return 0;
	n = put_str(buf, len, n + (size_t)w, e->user != NULL ? e->user : "-", 128);
	if (n + 2 >= len)
		return 0;
	buf[n++] = '}';
	buf[n++] = '\n';
	buf[n] = '\0';
	return n;
}

void
accesslog_write(struct accesslog *l, const struct accesslog_entry *e)
{
	char *buf;
	size_t n;
	ssize_t w;

	if (l == NULL || (buf = malloc(ACCESSLOG_LINE_MAX)) == NULL)
		return;
	if ((n = accesslog_format(e, buf, ACCESSLOG_LINE_MAX)) > 0) {
		pthread_rwlock_rdlock(&l->lk);
		do
			w = write(l->fd, buf, n);
		while (w < 0 && errno == EINTR);
		pthread_rwlock_unlock(&l->lk);
	}
	free(buf);
}
