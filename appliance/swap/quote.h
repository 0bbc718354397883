/*
 * quote: one string written as a double-quoted scalar that YAML and TOML
 * basic strings read alike: '"' and '\' backslash-escaped, control
 * characters as \uXXXX, everything else as is.  The node configurations
 * and the Kubernetes objects barged writes quote every value that comes
 * from a flag or the configuration this way, so no value can change the
 * structure around it.
 */
#ifndef BARGE_QUOTE_H
#define BARGE_QUOTE_H

#include <stdio.h>

/* Writes s quoted to f; upper_hex spells \uXXXX's digits A-F rather than a-f. */
void quote_write(FILE *f, const char *s, int upper_hex);

#endif
