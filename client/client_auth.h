/*
 * client_auth: the WWW-Authenticate challenges a registry's 401 carries.
 *
 * The parser is public so that it can be tested on its own; answering a
 * challenge (tokens, Basic credentials) is private to the client library
 * (client_int.h).  A parsed challenge's strings are the caller's, released
 * by client_challenge_clear.
 */
#ifndef BARGE_CLIENT_AUTH_H
#define BARGE_CLIENT_AUTH_H

#include "err.h"

/* A parsed WWW-Authenticate challenge; absent parameters are NULL. */
struct client_challenge {
	char *scheme; /* "Bearer", "Basic", ... */
	char *realm;
	char *service;
	char *scope;
};

/*
 * Parses one WWW-Authenticate value: a scheme, then comma-separated
 * key=value or key="quoted, with \" escapes" parameters.  A Bearer challenge
 * must have a realm.  Caller frees with client_challenge_clear.
 */
int client_parse_challenge(const char *value, struct client_challenge *out,
                           struct barge_err *err) BARGE_MUST_CHECK;
void client_challenge_clear(struct client_challenge *ch);

#endif
