/*
 * fuzz_length: the Content-Length of every request (http_parse_length,
 * appliance/serve/http_server.h), which decides whether the server reads
 * a body and how much of it.
 *
 * The input, cut at its first NUL, is the header's value.  The answer is
 * checked against a reading of the input made here: the number when the
 * input is one or more digits worth at most INT64_MAX, else -1.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "http_server.h"

/* The number the digits of s are worth, or -1 if s is not only digits or too big. */
static int64_t
expected(const char *s)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	return (int64_t)v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size > HTTP_HEAD_MAX)
		return 0;
	text = fuzz_str(data, size);
	if (http_parse_length(text) != expected(text))
		abort();
	free(text);
	return 0;
}
