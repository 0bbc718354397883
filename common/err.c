/*
 * err: filling in the struct barge_err that callers own (see err.h), and the
 * names of the codes.  It owns nothing.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
err_clear(struct barge_err *e)
{
	if (e == NULL)
		return;
	e->code = BARGE_OK;
	e->msg[0] = '\0';
}

/* A printf-style function in its own right, so that its callers' formats are checked. */
static void BARGE_PRINTF(3, 0) err_vset(struct barge_err *e, int code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int
err_set(struct barge_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

int
err_sys(struct barge_err *e, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (e == NULL)
		return code;
	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	if (n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(errnum));
	return code;
}

int
err_prefix(struct barge_err *e, const char *fmt, ...)
{
	char head[BARGE_ERR_MSG_MAX];
	size_t hl, ml;
	va_list ap;
	int n;

	if (e == NULL)
		return BARGE_EINTERNAL;
	va_start(ap, fmt);
	n = vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (n < 0)
		return e->code;
	/* head + ": " + old message, cut to fit; the old message moves right. */
	hl = strlen(head);
	if (hl > sizeof(e->msg) - 3)
		hl = sizeof(e->msg) - 3;
	ml = strlen(e->msg);
	if (hl + 2 + ml > sizeof(e->msg) - 1)
		ml = sizeof(e->msg) - 1 - hl - 2;
	memmove(e->msg + hl + 2, e->msg, ml);
	memcpy(e->msg, head, hl);
	e->msg[hl] = ':';
	e->msg[hl + 1] = ' ';
	e->msg[hl + 2 + ml] = '\0';
	return e->code;
}

const char *
err_name(int code)
{
	switch (code) {
	case BARGE_OK:
		return "ok";
	case BARGE_EINVAL:
		return "invalid input";
	case BARGE_ENOTFOUND:
		return "not found";
	case BARGE_EDIGEST:
		return "digest mismatch";
	case BARGE_EFORMAT:
		return "malformed";
	case BARGE_ELIMIT:
		return "limit exceeded";
	case BARGE_EIO:
		return "i/o error";
	case BARGE_ENET:
		return "network error";
	case BARGE_EAUTH:
		return "unauthorized";
	case BARGE_ENOMEM:
		return "out of memory";
	case BARGE_EEXIST:
		return "already exists";
	default:
		return "internal error";
	}
}
