/*
 * accesslog: one JSON line per answered request, for log shippers.
 *
 *   {"ts":"2026-11-23T08:01:34.123Z","remote":"127.0.0.1","method":"GET",
 *    "path":"/v2/edge/x/blobs/sha256:...","status":200,"bytes":1234,
 *    "duration_ms":1.25,"user":"admin"}
 *
 * The path never carries the query string (upload and token URLs put
 * state there) and is cut at ACCESSLOG_PATH_MAX; the user is the subject
 * auth found ("admin", "token:NAME", "anonymous"), never a credential.
 * Each line is written with one write(2) on an O_APPEND descriptor, so
 * lines from several threads never interleave.
 */
#ifndef BARGE_ACCESSLOG_H
#define BARGE_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

#define ACCESSLOG_PATH_MAX 2048
#define ACCESSLOG_LINE_MAX (ACCESSLOG_PATH_MAX * 6 + 1024) /* escaping may grow a path 6-fold */

struct accesslog;

struct accesslog_entry {
	struct timespec ts; /* when the request arrived (CLOCK_REALTIME) */
	const char *remote;
	const char *method;
	const char *path;
	int status;
	uint64_t bytes;
	double duration_ms;
	const char *user; /* NULL: "-" */
};

/* where: "stdout", "off" (*out is then NULL: writes are no-ops) or a file, opened for append. */
int accesslog_open(const char *where, struct accesslog **out,
                   struct barge_err *err) BARGE_MUST_CHECK;
/* Reopens the file (after log rotation); a no-op for stdout. */
int accesslog_reopen(struct accesslog *l, struct barge_err *err) BARGE_MUST_CHECK;
/* Accepts NULL. */
void accesslog_close(struct accesslog *l);
/* Writes e; failures are dropped (a full disk must not stop serving).  l may be NULL. */
void accesslog_write(struct accesslog *l, const struct accesslog_entry *e);
/* Formats e as one line with its newline; returns its length, 0 if it did not fit. */
size_t accesslog_format(const struct accesslog_entry *e, char *buf, size_t len);

#endif
