#include "test_main.h"

#include <stdlib.h>
#include <string.h>

#include "token.h"

/* Parses body; on failure checks the code and that the message starts with field. */
static void
form_refused(const char *body, size_t len, int code, const char *field)
{
	struct barge_err err = { 0 };
	struct token_form f;

	assert_int_equal(token_form_parse(body, len, &f, &err), code);
	if (strncmp(err.msg, field, strlen(field)) != 0 || err.msg[strlen(field)] != ':')
		fail_msg("%s: \"%s\" does not name %s", body, err.msg, field);
	assert_null(f.buf);
}

/* form_refused of a string literal, its length counted by the compiler. */
#define FORM_REFUSED(body, code, field) form_refused(body, sizeof(body) - 1, code, field)

static void
test_form_parse(void **state)
{
	static const char nul[] = "grant_type=password&username=admin&password=a\0b";
	struct barge_err err = { 0 };
	struct token_form f;
	char *big;
	const char *body;

	(void)state;
	/* As containerd encodes it: '+' and %20 are spaces, escapes in either case. */
	body = "client_id=containerd-client&grant_type=password&password=p%40ss+w%2fd%20x"
	       "&scope=repository%3Ae%2Fsrc%3Apull+repository%3Ae%2Fdst%3Apull%2Cpush"
	       "&service=barged&username=admin";
	assert_int_equal(token_form_parse(body, strlen(body), &f, &err), BARGE_OK);
	assert_string_equal(f.grant_type, "password");
	assert_string_equal(f.username, "admin");
	assert_string_equal(f.password, "p@ss w/d x");
	assert_string_equal(f.scope, "repository:e/src:pull repository:e/dst:pull,push");
	assert_null(f.refresh_token);
	token_form_free(&f);
	assert_null(f.buf);
	token_form_free(NULL);
	/* Only the bytes given count: no NUL needed at the end. */
	body = "grant_type=refresh_token&refresh_token=barge_x&scope=registry%3Acatalog%3A*XYZ";
	assert_int_equal(token_form_parse(body, strlen(body) - 3, &f, &err), BARGE_OK);
	assert_string_equal(f.refresh_token, "barge_x");
	assert_string_equal(f.scope, "registry:catalog:*");
	assert_null(f.username);
	token_form_free(&f);
	/* Unknown parameters, empty pairs and a bare key are ignored. */
	body = "&&access_type=offline&x%zz=%zz&=&novalue&grant_type=password&username=u&password=";
	assert_int_equal(token_form_parse(body, strlen(body), &f, &err), BARGE_OK);
	assert_string_equal(f.password, "");
	token_form_free(&f);

	FORM_REFUSED("", BARGE_EINVAL, "grant_type");
	FORM_REFUSED("username=admin&password=x", BARGE_EINVAL, "grant_type");
	FORM_REFUSED("grant_type=client_credentials", BARGE_EINVAL, "grant_type");
	FORM_REFUSED("grant_type=password&password=x", BARGE_EINVAL, "username");
	FORM_REFUSED("grant_type=password&username=admin", BARGE_EINVAL, "password");
	FORM_REFUSED("grant_type=refresh_token", BARGE_EINVAL, "refresh_token");
	FORM_REFUSED("grant_type=password&grant_type=password", BARGE_EINVAL, "grant_type");
	FORM_REFUSED("scope=a&scope=b&grant_type=password", BARGE_EINVAL, "scope");
	FORM_REFUSED("grant_type=password&username=admin&password=%zz", BARGE_EINVAL, "password");
	FORM_REFUSED("grant_type=password&username=admin&password=%4", BARGE_EINVAL, "password");
	FORM_REFUSED("grant_type=password&username=admin&password=%", BARGE_EINVAL, "password");
	FORM_REFUSED("grant_type=password&username=admin&password=a%00b", BARGE_EINVAL, "password");
	FORM_REFUSED("grant_type=password&username=ad%0amin&password=x", BARGE_EINVAL, "username");
	FORM_REFUSED("grant_type=pass%7fword", BARGE_EINVAL, "grant_type");
	form_refused(nul, sizeof(nul) - 1, BARGE_EINVAL, "body");
	big = malloc(TOKEN_FORM_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', TOKEN_FORM_MAX + 1);
	form_refused(big, TOKEN_FORM_MAX + 1, BARGE_ELIMIT, "body");
	/* Up to the bound is parsed. */
	memcpy(big, "grant_type=password&username=admin&password=", 44);
	assert_int_equal(token_form_parse(big, TOKEN_FORM_MAX, &f, &err), BARGE_OK);
	assert_int_equal(strlen(f.password), TOKEN_FORM_MAX - 44);
	token_form_free(&f);
	free(big);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_form_parse),
};

BARGE_TEST_MAIN(tests)
