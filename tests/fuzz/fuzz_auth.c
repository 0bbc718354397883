/*
 * fuzz_auth: the credentials a client sends (appliance/serve/auth.h): the
 * Authorization header (Basic user:password or NAME:TOKEN, Bearer with a
 * read-only or a session token) and the scope parameter of GET /token.
 *
 * The input, cut at its first NUL, is given to auth_check_header, to
 * auth_token_verify (with and without its "Bearer " prefix, as the router
 * strips it), to auth_parse_scope, and as the scopes of a token issued to
 * admin, which must then verify.  The auth state lives in a scratch
 * directory: an admin password of "fuzz-password" (so a seed can hold the
 * right Basic header; PBKDF2 at one iteration) and one read-only token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "fuzz.h"

static struct auth *auth;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct auth_opts o = { 0 };
	struct barge_err err = { 0 };
	char path[4200], *tok = NULL;
	int generated;
	FILE *f;

	o.data_dir = fuzz_tmpdir();
	o.pbkdf2_iter = 1;
	snprintf(path, sizeof(path), "%s/admin.password", o.data_dir);
	if ((f = fopen(path, "w")) == NULL || fputs("fuzz-password\n", f) < 0 || fclose(f) != 0)
		abort();
	if (auth_ro_create(o.data_dir, "ci", &tok, &err) != BARGE_OK ||
	    auth_new(&o, &auth, &generated, &err) != BARGE_OK)
		abort();
	free(tok);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_identity id, admin = { .subject = "admin", .actions = AUTH_ALL };
	struct barge_err err = { 0 };
	struct auth_grant grant;
	struct auth_scope sc;
	time_t now = time(NULL);
	char *s, *tok = NULL;

	if (size > AUTH_TOKEN_MAX + 16)
		return 0;
	s = fuzz_str(data, size);
	(void)auth_check_header(auth, s, &id);
	(void)auth_token_verify(auth, s, now, &grant);
	if (strncmp(s, "Bearer ", 7) == 0)
		(void)auth_token_verify(auth, s + 7, now, &grant);
	(void)auth_parse_scope(s, &sc);
	if (auth_token_issue(auth, &admin, s, now, &tok, &err) == BARGE_OK) {
		if (auth_token_verify(auth, tok, now, &grant) != BARGE_OK)
			abort();
		free(tok);
	}
	free(s);
	return 0;
}
