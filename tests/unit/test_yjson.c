#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileutil.h"
#include "yjson.h"

#define DATA BARGE_TEST_DATA "/yaml/"

static struct yjson *
load_ok(const char *name, const char *text)
{
	struct yjson *y = NULL;
	struct barge_err e;

	if (yjson_load_buf(name, text, strlen(text), &y, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	return y;
}

static struct yjson *
file_ok(const char *file)
{
	struct yjson *y = NULL;
	struct barge_err e;

	if (yjson_load_file(file, &y, &e) != BARGE_OK)
		fail_msg("%s", e.msg);
	return y;
}

/* Loading text fails with code and exactly msg. */
static void
expect_fail(const char *text, int code, const char *msg)
{
	struct yjson *y = NULL;
	struct barge_err e;
	int rc;

	err_clear(&e);
	rc = yjson_load_buf("t.yaml", text, strlen(text), &y, &e);
	if (rc != code || strcmp(e.msg, msg) != 0)
		fail_msg("%s: got %d \"%s\", want %d \"%s\"", text, rc, e.msg, code, msg);
	assert_null(y);
}

/* The single document of text equals the JSON want (types included: 1 is not 1.0). */
static void
expect_json(const char *text, const char *want)
{
	struct yjson *y = load_ok("t.yaml", text);
	json_error_t je;
	json_t *w;
	char *got;

	assert_non_null(w = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je));
	assert_int_equal(yjson_ndocs(y), 1);
	if (!json_equal(yjson_doc(y, 0), w)) {
		got = json_dumps(yjson_doc(y, 0), JSON_ENCODE_ANY);
		fail_msg("%s: got %s, want %s", text, got, want);
	}
	json_decref(w);
	yjson_free(y);
}

static void
test_core_schema_scalars(void **state)
{
	static const char *cases[][2] = {
		{ "yes", "\"yes\"" },
		{ "no", "\"no\"" },
		{ "on", "\"on\"" },
		{ "0o17", "15" },
		{ "0x1F", "31" },
		{ "0x1f", "31" },
		{ "1e3", "1000.0" },
		{ "'true'", "\"true\"" },
		{ "\"12\"", "\"12\"" },
		{ "~", "null" },
		{ "null", "null" },
		{ "Null", "null" },
		{ "NULL", "null" },
		{ "nULL", "\"nULL\"" },
		{ "true", "true" },
		{ "True", "true" },
		{ "TRUE", "true" },
		{ "false", "false" },
		{ "False", "false" },
		{ "FALSE", "false" },
		{ "tRUE", "\"tRUE\"" },
		{ "-12", "-12" },
		{ "+12", "12" },
		{ "012", "12" },
		{ "0", "0" },
		{ "9223372036854775807", "9223372036854775807" },
		{ "-9223372036854775808", "-9223372036854775808" },
		{ "0o8", "\"0o8\"" },
		{ "0x", "\"0x\"" },
		{ "0xG", "\"0xG\"" },
		{ "-0x1", "\"-0x1\"" },
		{ "1_000", "\"1_000\"" },
		{ "0b101", "\"0b101\"" },
		{ "1.5", "1.5" },
		{ ".5", "0.5" },
		{ "-.5e-1", "-0.05" },
		{ "1.", "1.0" },
		{ "+2.5E+2", "250.0" },
		{ "1e", "\"1e\"" },
		{ ".", "\".\"" },
		{ "1.2.3", "\"1.2.3\"" },
		{ ".inf", "\".inf\"" },
		{ "-.Inf", "\"-.Inf\"" },
		{ ".NaN", "\".NaN\"" },
		{ "1e999", "\"1e999\"" },
		{ "nginx:1.25", "\"nginx:1.25\"" },
		{ "3.6", "3.6" },
		{ "!!str 12", "\"12\"" },
		{ "!!str true", "\"true\"" },
		{ "! 12", "\"12\"" },
		{ "!!int \"12\"", "12" },
		{ "!!float 3", "3.0" },
		{ "!!bool 'false'", "false" },
		{ "!!null ''", "null" },
		{ "|\n  text\n", "\"text\\n\"" },
		{ ">\n  a\n  b\n", "\"a b\\n\"" },
		{ "\"tab\\there\"", "\"tab\\there\"" },
		{ "'it''s'", "\"it's\"" },
		{ "\"nul\\0in\"", "\"nul\\u0000in\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_json(cases[i][0], cases[i][1]);
	/* The empty plain scalar, as a mapping value. */
	expect_json("a:\nb: ''\n", "{\"a\": null, \"b\": \"\"}");
}

static void
test_scalar_errors(void **state)
{
	expect_fail("a: 9223372036854775808\n", BARGE_EFORMAT,
	            "t.yaml:1:4: integer \"9223372036854775808\" out of range");
	expect_fail("a: 0x8000000000000000\n", BARGE_EFORMAT,
	            "t.yaml:1:4: integer \"0x8000000000000000\" out of range");
	expect_fail("a: !!bool yes\n", BARGE_EFORMAT, "t.yaml:1:4: \"yes\" is not a valid !!bool");
	expect_fail("a: !!int 1.5\n", BARGE_EFORMAT, "t.yaml:1:4: \"1.5\" is not a valid !!int");
	expect_fail("a: !!null x\n", BARGE_EFORMAT, "t.yaml:1:4: \"x\" is not a valid !!null");
	expect_fail("a: !custom x\n", BARGE_EFORMAT, "t.yaml:1:4: unsupported tag \"!custom\"");
	expect_fail("a: !!binary aGk=\n", BARGE_EFORMAT,
	            "t.yaml:1:4: unsupported tag \"tag:yaml.org,2002:binary\"");
	expect_fail("a: !!map [1]\n", BARGE_EFORMAT,
	            "t.yaml:1:4: unsupported tag \"tag:yaml.org,2002:map\"");
	expect_fail("? [a]\n: 1\n", BARGE_EFORMAT, "t.yaml:1:3: mapping key must be a scalar");
	expect_fail("\"a\\0b\": 1\n", BARGE_EFORMAT, "t.yaml:1:1: NUL character in mapping key");
}

static void
test_nested(void **state)
{
	struct yjson *y = file_ok(DATA "nested.yaml");
	json_error_t je;
	json_t *want;

	want = json_loads("{\"spec\": {"
	                  "\"platforms\": [\"linux/amd64\", \"linux/arm64\"],"
	                  "\"packs\": [{\"name\": \"k3s\", \"images\": "
	                  "[\"docker.io/rancher/mirrored-pause:3.6\"]},"
	                  "{\"name\": \"empty\", \"images\": [], \"values\": {}}],"
	                  "\"flow\": {\"a\": [1, {\"b\": \"c\"}], \"quoted key\": \"v\"},"
	                  "\"block\": \"line one\\nline two\\n\","
	                  "\"folded\": \"a b\\n\"}}",
	                  0, &je);
	assert_non_null(want);
	assert_int_equal(yjson_ndocs(y), 1);
	assert_true(json_equal(yjson_doc(y, 0), want));
	assert_string_equal(yjson_name(y), DATA "nested.yaml");
	json_decref(want);
	yjson_free(y);
}

static void
assert_pos(const struct yjson *y, const json_t *node, int line, int col)
{
	int l = 0, c = 0;

	assert_non_null(node);
	assert_int_equal(yjson_pos(y, node, &l, &c), 0);
	if (l != line || c != col)
		fail_msg("node at %d:%d, want %d:%d", l, c, line, col);
}

static void
assert_key_pos(const struct yjson *y, const json_t *obj, const char *key, int line, int col)
{
	int l = 0, c = 0;

	assert_int_equal(yjson_key_pos(y, obj, key, &l, &c), 0);
	if (l != line || c != col)
		fail_msg("key %s at %d:%d, want %d:%d", key, l, c, line, col);
}

static void
test_positions(void **state)
{
	struct yjson *y = file_ok(DATA "positions.yaml");
	json_t *doc = yjson_doc(y, 0), *spec, *ctrs, *c0, *ports, *other;
	int l, c;

	assert_pos(y, doc, 1, 1);
	assert_key_pos(y, doc, "apiVersion", 1, 1);
	assert_pos(y, json_object_get(doc, "apiVersion"), 1, 13);
	assert_key_pos(y, doc, "spec", 5, 1);
	spec = json_object_get(doc, "spec");
	assert_pos(y, spec, 6, 3);
	assert_key_pos(y, spec, "containers", 6, 3);
	ctrs = json_object_get(spec, "containers");
	assert_pos(y, ctrs, 7, 5);
	c0 = json_array_get(ctrs, 0);
	assert_pos(y, c0, 7, 7);
	assert_key_pos(y, c0, "image", 8, 7);
	assert_pos(y, json_object_get(c0, "image"), 8, 14);
	ports = json_object_get(c0, "ports");
	assert_pos(y, ports, 9, 14);
	assert_pos(y, json_array_get(ports, 1), 9, 19);
	/* Singletons have no position of their own: their key does. */
	assert_true(json_is_true(json_object_get(c0, "enabled")));
	assert_int_equal(yjson_pos(y, json_object_get(c0, "enabled"), &l, &c), -1);
	assert_key_pos(y, c0, "enabled", 10, 7);
	/* Unknown nodes and keys. */
	assert_int_equal(yjson_key_pos(y, c0, "nope", &l, &c), -1);
	other = json_string("x");
	assert_int_equal(yjson_pos(y, other, &l, &c), -1);
	json_decref(other);
	yjson_free(y);
}

static void
test_duplicate_key(void **state)
{
	struct yjson *y = NULL;
	struct barge_err e;

	assert_int_equal(yjson_load_file(DATA "duplicate.yaml", &y, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, DATA "duplicate.yaml:4:3: duplicate key \"c\"");
	assert_null(y);
	/* Keys compare by their text, whatever their style. */
	expect_fail("a: 1\n'a': 2\n", BARGE_EFORMAT, "t.yaml:2:1: duplicate key \"a\"");
	expect_fail("{x: 1, x: 2}\n", BARGE_EFORMAT, "t.yaml:1:8: duplicate key \"x\"");
}

static void
test_syntax_error(void **state)
{
	struct yjson *y = NULL;
	struct barge_err e;

	assert_int_equal(yjson_load_file(DATA "syntax.yaml", &y, &e), BARGE_EFORMAT);
	assert_string_equal(e.msg, DATA "syntax.yaml:2:2: did not find expected ',' or ']' "
	                                "(while parsing a flow sequence at 1:4)");
	expect_fail("a: b: c\n", BARGE_EFORMAT,
	            "t.yaml:1:5: mapping values are not allowed in this context");
	expect_fail("a: 'x\n", BARGE_EFORMAT,
	            "t.yaml:2:1: found unexpected end of stream "
	            "(while scanning a quoted scalar at 1:4)");
	expect_fail("a: \xff\n", BARGE_EFORMAT, "t.yaml: invalid leading UTF-8 octet at byte 3");
}

static void
test_aliases(void **state)
{
	struct yjson *y = file_ok(DATA "alias.yaml");
	json_t *doc = yjson_doc(y, 0), *base, *want;
	json_error_t je;

	base = json_object_get(doc, "base");
	assert_true(json_equal(json_object_get(doc, "one"), base));
	assert_string_equal(json_string_value(json_object_get(doc, "two")), "hello");
	/* An aliased scalar has the alias's position; a shared mapping keeps its anchor's. */
	assert_pos(y, json_object_get(doc, "two"), 4, 6);
	assert_pos(y, json_object_get(doc, "one"), 1, 7);
	/* Explicit keys beat merged ones; earlier merge sources beat later ones. */
	want = json_loads("{\"x\": 2, \"y\": [1, 2], \"z\": 3}", 0, &je);
	assert_true(json_equal(json_object_get(doc, "merged"), want));
	json_decref(want);
	want = json_loads("{\"p\": 1, \"q\": 2}", 0, &je);
	assert_true(json_equal(json_object_get(doc, "many"), want));
	json_decref(want);
	assert_key_pos(y, json_object_get(doc, "merged"), "y", 6, 3);
	yjson_free(y);

	expect_fail("a: *nope\n", BARGE_EFORMAT, "t.yaml:1:4: unknown anchor \"nope\"");
	/* An alias cannot refer to the node it is inside of. */
	expect_fail("a: &a [1, *a]\n", BARGE_EFORMAT, "t.yaml:1:11: unknown anchor \"a\"");
	/* Anchors do not cross documents. */
	expect_fail("a: &a 1\n---\nb: *a\n", BARGE_EFORMAT, "t.yaml:3:4: unknown anchor \"a\"");
	expect_fail("a: &a k\n*a : 1\n", BARGE_EFORMAT,
	            "t.yaml:2:1: alias as mapping key not supported");
	expect_fail("a: &a 1\nb:\n  <<: *a\n", BARGE_EFORMAT,
	            "t.yaml:3:7: merge key \"<<\" wants a mapping or a list of mappings");
	expect_fail("b:\n  <<: {x: 1}\n  <<: {y: 1}\n", BARGE_EFORMAT,
	            "t.yaml:3:3: duplicate key \"<<\"");
	/* A quoted "<<" is an ordinary key. */
	expect_json("'<<': 1\n", "{\"<<\": 1}");
	/* Anchors may be redefined; an alias takes the latest. */
	expect_json("a: &x 1\nb: &x 2\nc: *x\n", "{\"a\": 1, \"b\": 2, \"c\": 2}");
}

/* The classic "billion laughs", which would expand to 10^9 nodes. */
static void
test_alias_bomb(void **state)
{
	const char *bomb =
	        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	struct yjson *y = NULL;
	struct barge_err e;
	clock_t t0 = clock();
	json_t *v;
	int i;

	assert_int_equal(yjson_load_buf("bomb.yaml", bomb, strlen(bomb), &y, &e), BARGE_ELIMIT);
	assert_null(y);
	assert_string_equal(e.msg, "bomb.yaml:7:8: more than 1000000 nodes with aliases expanded "
	                           "(an alias bomb?)");
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);

	/* The first five levels (75k nodes) are within the budget, and really expanded. */
	y = NULL;
	assert_int_equal(
	        yjson_load_buf("bomb.yaml", bomb, (size_t)(strstr(bomb, "f:") - bomb), &y, &e),
	        BARGE_OK);
	v = json_object_get(yjson_doc(y, 0), "e");
	for (i = 0; i < 4; i++)
		v = json_array_get(v, 8);
	assert_int_equal(json_array_size(v), 9);
	assert_string_equal(json_string_value(json_array_get(v, 8)), "lol");
	yjson_free(y);
}

static char *
repeat(const char *a, size_t n, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	char *s = malloc(la * n + lb + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * la, a, la);
	memcpy(s + n * la, b, lb + 1);
	return s;
}

static void
test_depth_bomb(void **state)
{
	struct yjson *y = NULL;
	struct barge_err e;
	char *deep;

	/* YJSON_DEPTH_MAX levels are fine, one more is not. */
	assert_non_null(deep = malloc(2 * YJSON_DEPTH_MAX + 1));
	memset(deep, '[', YJSON_DEPTH_MAX);
	memset(deep + YJSON_DEPTH_MAX, ']', YJSON_DEPTH_MAX);
	deep[2 * YJSON_DEPTH_MAX] = '\0';
	y = load_ok("deep.yaml", deep);
	yjson_free(y);
	free(deep);

	deep = repeat("[", 100000, "");
	y = NULL;
	assert_int_equal(yjson_load_buf("deep.yaml", deep, strlen(deep), &y, &e), BARGE_ELIMIT);
	assert_string_equal(e.msg, "deep.yaml:1:257: nested deeper than 256 levels");
	assert_null(y);
	free(deep);

	deep = repeat("- ", 1000, "x\n");
	assert_int_equal(yjson_load_buf("deep.yaml", deep, strlen(deep), &y, &e), BARGE_ELIMIT);
	assert_string_equal(e.msg, "deep.yaml:1:513: nested deeper than 256 levels");
	free(deep);
}

static void
test_multi_doc(void **state)
{
	struct yjson *y = file_ok(DATA "multi.yaml");
	json_t *d;

	assert_int_equal(yjson_ndocs(y), 4);
	assert_int_equal(json_integer_value(json_object_get(yjson_doc(y, 0), "a")), 1);
	assert_pos(y, yjson_doc(y, 0), 2, 1);
	d = yjson_doc(y, 1);
	assert_int_equal(json_array_size(d), 2);
	assert_pos(y, json_array_get(d, 1), 5, 3);
	/* An empty document between two separators is null. */
	assert_true(json_is_null(yjson_doc(y, 2)));
	assert_string_equal(json_string_value(json_object_get(yjson_doc(y, 3), "kind")), "last");
	assert_null(yjson_doc(y, 4));
	yjson_free(y);

	y = load_ok("empty.yaml", "");
	assert_int_equal(yjson_ndocs(y), 0);
	yjson_free(y);
	y = load_ok("comments.yaml", "# nothing here\n\n# at all\n");
	assert_int_equal(yjson_ndocs(y), 0);
	yjson_free(y);
}

static void
test_file_errors(void **state)
{
	struct yjson *y = NULL;
	struct barge_err e;
	char *big;

	assert_int_equal(yjson_load_file("/nonexistent/profile.yaml", &y, &e), BARGE_ENOTFOUND);
	assert_string_equal(e.msg, "/nonexistent/profile.yaml: No such file or directory");
	assert_null(y);

	assert_non_null(big = malloc((size_t)YJSON_FILE_MAX + 1));
	memset(big, ' ', (size_t)YJSON_FILE_MAX + 1);
	assert_int_equal(yjson_load_buf("big.yaml", big, (size_t)YJSON_FILE_MAX + 1, &y, &e),
	                 BARGE_ELIMIT);
	assert_string_equal(e.msg, "big.yaml: larger than 16777216 bytes");
	free(big);
	yjson_free(NULL);
}

static void
test_suggest(void **state)
{
	static const char *const keys[] = { "apiVersion", "kind", "metadata", "spec", NULL };

	assert_string_equal(yjson_suggest("apiversion", keys), "apiVersion");
	assert_string_equal(yjson_suggest("metdata", keys), "metadata");
	assert_string_equal(yjson_suggest("kindd", keys), "kind");
	assert_null(yjson_suggest("colour", keys));
	assert_null(yjson_suggest("a-very-long-key-that-matches-nothing-at-all-here", keys));
}

/* What a value is, in the words the profile and barged.yaml errors use, as YAML spells it. */
static void
test_type_name(void **state)
{
	static const struct {
		const char *yaml, *name;
	} cases[] = {
		{ "v: {a: 1}", "a mapping" }, { "v: [1]", "a list" },  { "v: x", "a string" },
		{ "v: '1'", "a string" },     { "v: 1", "a number" },  { "v: 1.5", "a number" },
		{ "v: true", "a boolean" },   { "v: no", "a string" }, { "v: ~", "null" },
	};
	struct yjson *y;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		y = load_ok("t.yaml", cases[i].yaml);
		assert_string_equal(yjson_type_name(json_object_get(yjson_doc(y, 0), "v")),
		                    cases[i].name);
		yjson_free(y);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_core_schema_scalars),
	cmocka_unit_test(test_scalar_errors),
	cmocka_unit_test(test_nested),
	cmocka_unit_test(test_positions),
	cmocka_unit_test(test_duplicate_key),
	cmocka_unit_test(test_syntax_error),
	cmocka_unit_test(test_aliases),
	cmocka_unit_test(test_alias_bomb),
	cmocka_unit_test(test_depth_bomb),
	cmocka_unit_test(test_multi_doc),
	cmocka_unit_test(test_file_errors),
	cmocka_unit_test(test_suggest),
	cmocka_unit_test(test_type_name),
};

BARGE_TEST_MAIN(tests)
