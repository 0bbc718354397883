#include "test_main.h"

#include <string.h>

#include "platform.h"

/* Parses s, which must be valid, and returns its normalised form. */
static const char *
norm(const char *s)
{
	static char buf[3 * PLATFORM_FIELD_MAX + 3];
	struct platform p;
	struct barge_err e;

	assert_int_equal(platform_parse(s, &p, &e), BARGE_OK);
	platform_format(&p, buf, sizeof(buf));
	return buf;
}

static void
test_parse_fields(void **state)
{
	struct platform p;
	struct barge_err e;

	assert_int_equal(platform_parse("linux/arm/v6", &p, &e), BARGE_OK);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.arch, "arm");
	assert_string_equal(p.variant, "v6");
	assert_int_equal(platform_parse("linux/amd64", &p, &e), BARGE_OK);
	assert_string_equal(p.variant, "");
	assert_int_equal(platform_parse("windows/amd64", &p, &e), BARGE_OK);
	assert_string_equal(p.os, "windows");
}

static void
test_normalise(void **state)
{
	assert_string_equal(norm("linux/amd64"), "linux/amd64");
	assert_string_equal(norm("linux/x86_64"), "linux/amd64");
	assert_string_equal(norm("linux/x86-64"), "linux/amd64");
	assert_string_equal(norm("linux/amd64/v1"), "linux/amd64");
	assert_string_equal(norm("linux/amd64/v3"), "linux/amd64/v3");
	assert_string_equal(norm("linux/amd64/2"), "linux/amd64/v2");
	assert_string_equal(norm("linux/aarch64"), "linux/arm64/v8");
	assert_string_equal(norm("linux/arm64"), "linux/arm64/v8");
	assert_string_equal(norm("linux/arm64/8"), "linux/arm64/v8");
	assert_string_equal(norm("linux/arm64/v9"), "linux/arm64/v9");
	assert_string_equal(norm("linux/arm"), "linux/arm/v7");
	assert_string_equal(norm("linux/arm/6"), "linux/arm/v6");
	assert_string_equal(norm("linux/armhf"), "linux/arm/v7");
	assert_string_equal(norm("linux/armel"), "linux/arm/v6");
	assert_string_equal(norm("linux/i386"), "linux/386");
	assert_string_equal(norm("linux/riscv64"), "linux/riscv64");
	assert_string_equal(norm("unknown/unknown"), "unknown/unknown");
}

static void
test_parse_rejects(void **state)
{
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "", "want os/arch" },
		{ "linux", "want os/arch" },
		{ "/amd64", "empty os" },
		{ "linux/", "empty architecture" },
		{ "linux//v7", "empty architecture" },
		{ "linux/arm/", "empty variant" },
		{ "linux/arm/v7/x", "more than os/arch/variant" },
		{ "Linux/amd64", "os may hold only [a-z0-9._-]" },
		{ "linux/AMD64", "architecture may hold only" },
		{ "linux/arm/v 7", "variant may hold only" },
		{ "linux/amd64\n", "architecture may hold only" },
		{ "linuxlinuxlinuxlinuxlinuxlinuxlinux/amd64", "os is too long" },
	};
	struct platform p;
	struct barge_err e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		assert_int_equal(platform_parse(bad[i].in, &p, &e), BARGE_EINVAL);
		if (strstr(e.msg, bad[i].msg) == NULL)
			fail_msg("platform \"%s\": message \"%s\" lacks \"%s\"", bad[i].in, e.msg,
			         bad[i].msg);
	}
}

static void
test_set_fields(void **state)
{
	struct platform p;
	struct barge_err e;

	assert_int_equal(platform_set(&p, "linux", "arm64", NULL, &e), BARGE_OK);
	assert_string_equal(p.variant, "v8");
	assert_int_equal(platform_set(&p, "linux", "x86_64", "", &e), BARGE_OK);
	assert_string_equal(p.arch, "amd64");
	assert_int_equal(platform_set(&p, "linux", "", NULL, &e), BARGE_EINVAL);
	assert_int_equal(platform_set(&p, "linux", "amd64", "V3", &e), BARGE_EINVAL);
	assert_non_null(strstr(e.msg, "\"linux/amd64/V3\""));
}

static int
match(const char *want, const char *have)
{
	struct platform w, h;
	struct barge_err e;

	assert_int_equal(platform_parse(want, &w, &e), BARGE_OK);
	assert_int_equal(platform_parse(have, &h, &e), BARGE_OK);
	return platform_match(&w, &h);
}

static void
test_match(void **state)
{
	assert_true(match("linux/amd64", "linux/amd64"));
	assert_true(match("linux/x86_64", "linux/amd64"));
	assert_true(match("linux/arm64", "linux/arm64/v8"));
	assert_true(match("linux/arm64/v8", "linux/arm64"));
	assert_true(match("linux/aarch64", "linux/arm64/v8"));
	assert_true(match("linux/arm", "linux/arm/v7"));
	/* An older variant runs on a newer CPU, not the reverse. */
	assert_true(match("linux/arm/v7", "linux/arm/v6"));
	assert_false(match("linux/arm/v6", "linux/arm/v7"));
	assert_true(match("linux/amd64/v3", "linux/amd64"));
	assert_true(match("linux/amd64/v3", "linux/amd64/v2"));
	assert_false(match("linux/amd64", "linux/amd64/v3"));
	assert_false(match("linux/amd64", "linux/arm64"));
	assert_false(match("linux/arm64", "linux/arm/v7"));
	assert_false(match("linux/amd64", "windows/amd64"));
	assert_false(match("linux/amd64", "unknown/unknown"));
}

static void
test_rank_prefers_exact(void **state)
{
	struct platform w, exact, older, none;
	struct barge_err e;

	assert_int_equal(platform_parse("linux/amd64/v3", &w, &e), BARGE_OK);
	assert_int_equal(platform_parse("linux/amd64/v3", &exact, &e), BARGE_OK);
	assert_int_equal(platform_parse("linux/amd64/v2", &older, &e), BARGE_OK);
	assert_int_equal(platform_parse("linux/amd64", &none, &e), BARGE_OK);
	assert_true(platform_rank(&w, &exact) > platform_rank(&w, &older));
	assert_true(platform_rank(&w, &older) > platform_rank(&w, &none));
	assert_true(platform_rank(&w, &none) > 0);
}

static void
test_format_small_buffer(void **state)
{
	struct platform p;
	struct barge_err e;
	char buf[6];

	assert_int_equal(platform_parse("linux/arm64", &p, &e), BARGE_OK);
	platform_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "linux");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_parse_fields),
	cmocka_unit_test(test_normalise),
	cmocka_unit_test(test_parse_rejects),
	cmocka_unit_test(test_set_fields),
	cmocka_unit_test(test_match),
	cmocka_unit_test(test_rank_prefers_exact),
	cmocka_unit_test(test_format_small_buffer),
};

BARGE_TEST_MAIN(tests)
