/*
 * quote: a string written as a double-quoted literal that JSON, YAML (a
 * double-quoted scalar) and TOML (a basic string) all read back as the same
 * text, so that no value can change the structure of a generated document.
 * '"' and '\' get a backslash, control characters and DEL become \u00XX,
 * every other byte (UTF-8 included) is written as it is.  The caller owns
 * the stream; nothing is allocated.
 */
#ifndef BARGE_QUOTE_H
#define BARGE_QUOTE_H

#include <stdio.h>

/* Hex digits of \u escapes in uppercase ("\u001B", as the containerd config has had). */
#define QUOTE_HEX_UPPER 0x1

/* Writes s to f, quoted as above; flags: 0 or QUOTE_HEX_UPPER. */
void quote_fput(FILE *f, const char *s, unsigned flags);

#endif
