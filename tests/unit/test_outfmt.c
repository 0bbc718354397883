#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfmt.h"
#include "yjson.h"

static const unsigned ALL = OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML;

static void
test_parse_formats(void **state)
{
	struct barge_err err;
	enum outfmt f = 0;

	(void)state;
	assert_int_equal(outfmt_parse("json", ALL, NULL, NULL, &f, &err), BARGE_OK);
	assert_int_equal(f, OUTFMT_JSON);
	assert_int_equal(outfmt_parse("yaml", ALL, NULL, NULL, &f, &err), BARGE_OK);
	assert_int_equal(f, OUTFMT_YAML);
	assert_int_equal(outfmt_parse("text", ALL, NULL, NULL, &f, &err), BARGE_OK);
	assert_int_equal(f, OUTFMT_TEXT);
	/* Exact names only: a value is a format or it is not. */
	assert_int_equal(outfmt_parse("JSON", ALL, NULL, NULL, &f, &err), BARGE_EINVAL);
	assert_int_equal(outfmt_parse("", ALL, NULL, NULL, &f, &err), BARGE_EINVAL);
}

static void
test_parse_refusals(void **state)
{
	struct barge_err err;
	enum outfmt f = OUTFMT_TEXT;

	(void)state;
	assert_int_equal(outfmt_parse("./x.json", ALL, "the lock file", "--output-file", &f, &err),
	                 BARGE_EINVAL);
	assert_string_equal(err.msg, "-o/--output ./x.json: not a format (json, yaml, text); to "
	                             "write the lock file use --output-file ./x.json");
	assert_int_equal(outfmt_parse("out", OUTFMT_TEXT | OUTFMT_JSON, NULL, NULL, &f, &err),
	                 BARGE_EINVAL);
	assert_string_equal(err.msg, "-o/--output out: not a format (json, yaml, text); this verb "
	                             "prints text, json");
	assert_int_equal(
	        outfmt_parse("yaml", OUTFMT_TEXT | OUTFMT_JSON, "x", "--output-file", &f, &err),
	        BARGE_EINVAL);
	assert_string_equal(err.msg, "-o/--output yaml: this verb prints text, json");
	/* A refusal leaves the format as it was. */
	assert_int_equal(f, OUTFMT_TEXT);
}

/* What outfmt_print writes for v in fmt; caller frees. */
static char *
printed(enum outfmt fmt, json_t *v)
{
	struct barge_err err;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(f = open_memstream(&buf, &len));
	assert_int_equal(outfmt_print(f, fmt, v, &err), BARGE_OK);
	fclose(f);
	return buf;
}

static void
test_print_json(void **state)
{
	struct barge_err err;
	char *s;

	(void)state;
	s = printed(OUTFMT_JSON, json_pack("{s:I,s:s}", "blobsNew", (json_int_t)3, "a", "b"));
	assert_string_equal(s, "{\n  \"blobsNew\": 3,\n  \"a\": \"b\"\n}\n");
	free(s);
	/* A json_pack that failed is reported, not printed as nothing. */
	assert_int_equal(outfmt_print(stdout, OUTFMT_JSON, NULL, &err), BARGE_ENOMEM);
}

static void
test_print_yaml(void **state)
{
	struct barge_err err;
	struct yjson *y = NULL;
	json_t *v, *back;
	char *s;

	(void)state;
	/* Strings that YAML would read as other types stay strings. */
	v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:n,s:f,s:[s,{s:s}],s:{},s:[]}", "version",
	              "1.0", "yes", "true", "empty", "", "null", "null", "colon", "a: b", "when",
	              "2024-01-02T03:04:05Z", "count", (json_int_t)7, "ok", 1, "none", "seconds",
	              1.5, "list", "x", "k", "sha256:ab", "obj", "arr");
	assert_non_null(v);
	s = printed(OUTFMT_YAML, json_incref(v));
	assert_non_null(strstr(s, "version: \"1.0\"\n"));
	assert_non_null(strstr(s, "count: 7\n"));
	assert_int_equal(yjson_load_buf("out.yaml", s, strlen(s), &y, &err), BARGE_OK);
	assert_non_null(back = yjson_doc(y, 0));
	assert_true(json_equal(v, back));
	yjson_free(y);
	json_decref(v);
	free(s);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_parse_formats),
	cmocka_unit_test(test_parse_refusals),
	cmocka_unit_test(test_print_json),
	cmocka_unit_test(test_print_yaml),
};

BARGE_TEST_MAIN(tests)
