#include "test_main.h"

#include <stdint.h>

#include "fmtsize.h"

static void
test_bytes(void **state)
{
	char b[FMTSIZE_MAX];

	(void)state;
	fmtsize(0, b, sizeof(b), 0);
	assert_string_equal(b, "0 B");
	fmtsize(1023, b, sizeof(b), 0);
	assert_string_equal(b, "1023 B");
	fmtsize(-5, b, sizeof(b), 0);
	assert_string_equal(b, "-5 B");
	fmtsize(1023, b, sizeof(b), FMTSIZE_BYTES_WORD);
	assert_string_equal(b, "1023 bytes");
	fmtsize(7, b, sizeof(b), FMTSIZE_BYTES_WORD | FMTSIZE_UPTO_TIB);
	assert_string_equal(b, "7 bytes");
}

static void
test_units(void **state)
{
	char b[FMTSIZE_MAX];

	(void)state;
	fmtsize(1024, b, sizeof(b), 0);
	assert_string_equal(b, "1.0 KiB");
	fmtsize(1536, b, sizeof(b), FMTSIZE_BYTES_WORD);
	assert_string_equal(b, "1.5 KiB");
	fmtsize(INT64_C(73504768), b, sizeof(b), 0);
	assert_string_equal(b, "70.1 MiB");
	fmtsize(INT64_C(3) << 30, b, sizeof(b), FMTSIZE_UPTO_TIB);
	assert_string_equal(b, "3.0 GiB");
	fmtsize(INT64_C(3) << 40, b, sizeof(b), 0);
	assert_string_equal(b, "3.0 TiB");
}

/* The largest unit: PiB by default, TiB with FMTSIZE_UPTO_TIB. */
static void
test_top_unit(void **state)
{
	char b[FMTSIZE_MAX];

	(void)state;
	fmtsize(INT64_C(2) << 50, b, sizeof(b), 0);
	assert_string_equal(b, "2.0 PiB");
	fmtsize(INT64_C(2) << 50, b, sizeof(b), FMTSIZE_UPTO_TIB);
	assert_string_equal(b, "2048.0 TiB");
	fmtsize(INT64_MAX, b, sizeof(b), 0);
	assert_string_equal(b, "8192.0 PiB");
}

/* A short buffer truncates as snprintf does, never past cap. */
static void
test_truncates(void **state)
{
	char b[5];

	(void)state;
	fmtsize(INT64_C(73504768), b, sizeof(b), 0);
	assert_string_equal(b, "70.1");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_bytes),
	cmocka_unit_test(test_units),
	cmocka_unit_test(test_top_unit),
	cmocka_unit_test(test_truncates),
};

BARGE_TEST_MAIN(tests)
