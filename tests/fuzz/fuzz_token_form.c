/*
 * fuzz_token_form: the body of POST /token (appliance/serve/token.h), the
 * OAuth2 form containerd sends first, which reaches barged before any
 * credential is checked.
 *
 * The input is the body as it arrives (NULs and all, up to a little past
 * TOKEN_FORM_MAX so that the limit itself is tried).  A parse that
 * succeeds must hand back strings inside its own buffer and the grant's
 * fields its documentation promises; a failure must leave a message.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "token.h"

/* Whether s points into f's buffer (the header: "the strings point into buf"). */
static int
inside(const struct token_form *f, const char *s)
{
	return s == NULL || (s >= f->buf && s < f->buf + f->len + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct token_form f;

	if (size > TOKEN_FORM_MAX + 64)
		return 0;
	memset(&f, 0, sizeof(f));
	if (token_form_parse((const char *)data, size, &f, &err) != BARGE_OK) {
		if (err.msg[0] == '\0')
			abort();
		return 0;
	}
	if (!inside(&f, f.grant_type) || !inside(&f, f.username) || !inside(&f, f.password) ||
	    !inside(&f, f.refresh_token) || !inside(&f, f.scope))
		abort();
	if (f.grant_type == NULL)
		abort();
	if (strcmp(f.grant_type, "password") == 0 && (f.username == NULL || f.password == NULL))
		abort();
	if (strcmp(f.grant_type, "refresh_token") == 0 && f.refresh_token == NULL)
		abort();
	token_form_free(&f);
	return 0;
}
