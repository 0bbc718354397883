/*
 * logcb: formats a line for a log callback a program injected (logcb.h).
 * Owns nothing: the line lives on the stack for the call.
 */
#include "logcb.h"

#include <stdarg.h>
#include <stdio.h>

void
logcb_printf(void (*fn)(const char *msg), const char *fmt, ...)
{
	char msg[LOGCB_LINE_MAX];
	va_list ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(msg);
}
