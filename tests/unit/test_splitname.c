#include "test_main.h"

#include <stdlib.h>

#include "splitname.h"

static void
test_part_names(void **state)
{
	char *s;

	(void)state;
	/* What barged load looks for: the stem, ".part", the number, three digits at least. */
	assert_string_equal(s = splitname_part("d/x.tar.zst", 0), "d/x.tar.zst.part000");
	free(s);
	assert_string_equal(s = splitname_part("x.tar.zst", 7), "x.tar.zst.part007");
	free(s);
	assert_string_equal(s = splitname_part("x.tar.zst", 999), "x.tar.zst.part999");
	free(s);
	assert_string_equal(s = splitname_part("x.tar.zst", 1234), "x.tar.zst.part1234");
	free(s);
}

static void
expect_part(const char *name, size_t stemlen, long num)
{
	size_t sl = 0;
	long n = -1;

	assert_true(splitname_parse(name, &sl, &n));
	assert_int_equal(sl, stemlen);
	assert_int_equal(n, num);
}

static void
expect_not_part(const char *name)
{
	size_t sl = 77;
	long n = 77;

	assert_false(splitname_parse(name, &sl, &n));
	/* A refused name leaves the outputs alone. */
	assert_int_equal(sl, 77);
	assert_int_equal(n, 77);
}

static void
test_parse(void **state)
{
	(void)state;
	expect_part("x.tar.zst.part000", 9, 0);
	expect_part("d/x.tar.zst.part007", 11, 7);
	expect_part("x.tar.zst.part1234", 9, 1234);
	/* Fewer than three digits still name a part: the loader finds the gap, not the parser. */
	expect_part("x.part1", 1, 1);
	expect_part("x.part999999999", 1, 999999999);
	expect_part(".part0", 0, 0);
	expect_not_part("x.tar.zst");
	expect_not_part("x.tar.zst.part");
	expect_not_part("x.tar.zst.part0000000000");
	expect_not_part("x.tar.zst.part00a");
	expect_not_part("x.tar.zst.part-1");
	expect_not_part("x.tar.zst.part 1");
	expect_not_part("x.part1.tar.zst");
	expect_not_part("x.tar.zst.Part000");
	expect_not_part("xpart000");
	expect_not_part("");
}

/* What the writer spells, the reader reads back. */
static void
test_round_trip(void **state)
{
	static const size_t nums[] = { 0, 1, 42, 999, 1000, 99999 };
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		s = splitname_part("dir.v1/edge-1.4.0.tar.zst", nums[i]);
		assert_non_null(s);
		expect_part(s, 25, (long)nums[i]);
		free(s);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_part_names),
	cmocka_unit_test(test_parse),
	cmocka_unit_test(test_round_trip),
};

BARGE_TEST_MAIN(tests)
