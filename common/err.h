/*
 * err: the error detail every fallible function writes.
 *
 * A fallible function returns BARGE_OK or one of the negative codes below and,
 * on failure, writes a one-line message into a struct barge_err the caller
 * owns.  The code says what kind of failure it was, so that callers can map it
 * to an exit status or an HTTP status; the message says which file, line,
 * field or reference was at fault.  Library code never prints and never exits.
 */
#ifndef BARGE_ERR_H
#define BARGE_ERR_H

#include <stddef.h>

#define BARGE_MUST_CHECK   __attribute__((warn_unused_result))
#define BARGE_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum {
	BARGE_OK = 0,
	BARGE_EINVAL = -1,    /* bad input: a reference, profile, flag, request */
	BARGE_ENOTFOUND = -2, /* no such image, blob, tag or file */
	BARGE_EDIGEST = -3,   /* content does not match its digest or size */
	BARGE_EFORMAT = -4,   /* a malformed document or archive */
	BARGE_ELIMIT = -5,    /* a hard bound was exceeded */
	BARGE_EIO = -6,       /* the filesystem failed */
	BARGE_ENET = -7,      /* the network or an upstream failed */
	BARGE_EAUTH = -8,     /* credentials missing or refused */
	BARGE_ENOMEM = -9,
	BARGE_EEXIST = -10,
	BARGE_EINTERNAL = -11
};

#define BARGE_ERR_MSG_MAX 1024

struct barge_err {
	int code;
	char msg[BARGE_ERR_MSG_MAX];
};

/* Clears e (e may be NULL). */
void err_clear(struct barge_err *e);

/* Records code and a formatted message in e (e may be NULL); returns code. */
int err_set(struct barge_err *e, int code, const char *fmt, ...) BARGE_PRINTF(3, 4);

/* Like err_set, appending ": strerror(errnum)". */
int err_sys(struct barge_err *e, int code, int errnum, const char *fmt, ...) BARGE_PRINTF(4, 5);

/*
 * Prepends context ("reading bundle.tar.zst: ") to the message already in e,
 * keeping its code; returns that code.
 */
int err_prefix(struct barge_err *e, const char *fmt, ...) BARGE_PRINTF(2, 3);

/* A short lowercase name for a code ("digest mismatch"). */
const char *err_name(int code);

#endif
