/*
 * quote: the one escaping printer for strings in generated YAML and TOML
 * (see quote.h).  It owns nothing; it writes to the caller's stream.
 */
#include "quote.h"

void
quote_fput(FILE *f, const char *s, unsigned flags)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, (flags & QUOTE_HEX_UPPER) != 0 ? "\\u%04X" : "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
