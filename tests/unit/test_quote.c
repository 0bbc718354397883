#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "quote.h"

/* What quote_fput writes for s. */
static char *
quoted(const char *s, unsigned flags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	quote_fput(f, s, flags);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void
expect(const char *s, unsigned flags, const char *want)
{
	char *got = quoted(s, flags);

	assert_string_equal(got, want);
	free(got);
}

static void
test_plain(void **state)
{
	(void)state;
	expect("", 0, "\"\"");
	expect("registry.k8s.io/pause:3.9", 0, "\"registry.k8s.io/pause:3.9\"");
	/* UTF-8 goes through as it is. */
	expect("caf\xc3\xa9", 0, "\"caf\xc3\xa9\"");
}

static void
test_escapes(void **state)
{
	(void)state;
	expect("a\"b\\c", 0, "\"a\\\"b\\\\c\"");
	expect("tab\there\nnl", 0, "\"tab\\u0009here\\u000anl\"");
	expect("\x1b[0m\x7f", 0, "\"\\u001b[0m\\u007f\"");
	/* The same text, with the hex digits as TOML writers spell them. */
	expect("\x1b[0m\x7f", QUOTE_HEX_UPPER, "\"\\u001B[0m\\u007F\"");
	expect("a\"b\\c", QUOTE_HEX_UPPER, "\"a\\\"b\\\\c\"");
}

/* A JSON parser reads back exactly the bytes that went in: no value breaks out of its quotes. */
static void
test_reads_back(void **state)
{
	static const char *const inputs[] = { "x\"}, \"evil\": \"1", "\\\"\\", "\x01\x1f\x7f ~",
		                              "line\r\nline" };
	json_error_t je;
	json_t *v;
	size_t i, k;
	char *q;

	(void)state;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		for (k = 0; k < 2; k++) {
			q = quoted(inputs[i], k == 0 ? 0 : QUOTE_HEX_UPPER);
			v = json_loads(q, JSON_DECODE_ANY, &je);
			assert_non_null(v);
			assert_true(json_is_string(v));
			assert_string_equal(json_string_value(v), inputs[i]);
			json_decref(v);
			free(q);
		}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_plain),
	cmocka_unit_test(test_escapes),
	cmocka_unit_test(test_reads_back),
};

BARGE_TEST_MAIN(tests)
