/*
 * quote: double-quoted scalars for the YAML and TOML that barged writes
 * (quote.h).  Owns nothing; writes to the caller's stream.
 */
#include "quote.h"

void
quote_write(FILE *f, const char *s, int upper_hex)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if ((*p < 0x20 || *p == 0x7f) && upper_hex)
			fprintf(f, "\\u%04X", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
