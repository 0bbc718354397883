/*
 * fmtsize: the one formatter of byte counts for people (see fmtsize.h).  It
 * owns nothing: the caller's buffer receives the text.
 */
#include "fmtsize.h"

#include <inttypes.h>
#include <stdio.h>

void
fmtsize(int64_t n, char *buf, size_t cap, unsigned flags)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t top = (flags & FMTSIZE_UPTO_TIB) != 0 ? 3 : 4, u = 0;
	double v = (double)n;

	if (n < 1024) {
		snprintf(buf, cap, "%" PRId64 " %s", n,
		         (flags & FMTSIZE_BYTES_WORD) != 0 ? "bytes" : "B");
		return;
	}
	v /= 1024;
	while (v >= 1024 && u < top) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, units[u]);
}
