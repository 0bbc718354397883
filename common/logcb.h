/*
 * logcb: the log callbacks a program hands its library modules (router,
 * registry, import, upload take `void (*log_error)(const char *msg)` and
 * the like in their options).  Library code never prints: it formats one
 * line and hands it to the callback, and the program decides where it goes
 * (common/log.h).  A NULL callback hears nothing.
 */
#ifndef BARGE_LOGCB_H
#define BARGE_LOGCB_H

#include "err.h"

/* The longest line handed on; longer ones are cut. */
#define LOGCB_LINE_MAX 2048

/* Formats a line and calls fn with it (borrowed for the call); nothing when fn is NULL. */
void logcb_printf(void (*fn)(const char *msg), const char *fmt, ...) BARGE_PRINTF(2, 3);

#endif
