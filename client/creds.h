/*
 * creds: registry credentials the way docker keeps them.
 *
 * The config is $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json;
 * a missing file means no credentials.  For a registry (an authority such as
 * "127.0.0.1:5000", or "docker.io" for Docker Hub) the source is, in docker's
 * order: credHelpers[registry], then credsStore, then auths[registry] ("auth"
 * = base64 "user:password", or "username" and "password", or
 * "identitytoken").  Keys of auths and credHelpers may carry a scheme and a
 * path ("https://index.docker.io/v1/"): only their authority is compared.
 *
 * A helper is run as docker-credential-<name> get (looked up on PATH,
 * without a shell), with the server on its stdin; its stdout, bounded, is
 * {"Username": ..., "Secret": ...}; Username "<token>" means Secret is an
 * identity token (an OAuth2 refresh token).  A helper that says "credentials
 * not found" means no credentials.  Secrets are never put in messages, and
 * creds_clear wipes them.
 */
#ifndef BARGE_CREDS_H
#define BARGE_CREDS_H

#include <stddef.h>

#include "err.h"

#define CREDS_CONFIG_MAX       (1024 * 1024) /* config.json */
#define CREDS_HELPER_MAX       (64 * 1024)   /* a helper's output */
#define CREDS_HELPER_TIMEOUT_S 30

struct creds {
	char *username;     /* NULL: no credentials */
	char *secret;       /* the password, or the identity token */
	int identity_token; /* secret is an identity (refresh) token */
	char *source;       /* where they came from, for messages: "config.json auths", ... */
};

/* The config file in use; caller frees.  NULL when neither DOCKER_CONFIG nor HOME is set. */
char *creds_config_path(void);

/* The credentials for registry from the config file (and its helpers). */
int creds_lookup(const char *registry, struct creds *out, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * The same from the text of a config file.  When a helper is to be asked,
 * *helper (caller frees) is its name and *out is left empty.
 */
int creds_from_config(const char *json, size_t len, const char *registry, struct creds *out,
                      char **helper, struct barge_err *err) BARGE_MUST_CHECK;

/* Runs docker-credential-<helper> get for server ("https://index.docker.io/v1/" for docker.io). */
int creds_from_helper(const char *helper, const char *server, struct creds *out,
                      struct barge_err *err) BARGE_MUST_CHECK;

/* Wipes and frees; c may be empty. */
void creds_clear(struct creds *c);

#endif
