/*
 * api_tokens.c: the admin API's read-only tokens (docs/api.md): listed,
 * created (the secret answered once, never kept) and revoked, all through
 * auth's tokens.json (auth.h), which a running barged re-reads on change,
 * so that a revoked token fails at its next request.  A token's id is its
 * name.  It owns the JSON of one answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define API_TOKEN_TTL_MAX (10LL * 366 * 86400) /* longest expires_in: ten years */

struct token_list {
	json_t *arr;
	int failed;
};

static json_t *
scope_json(const char *const *scope, size_t n)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; list != NULL && i < n; i++)
		if (json_array_append_new(list, api_str(scope[i])) != 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

static json_t *
expires_json(long long t)
{
	return t > 0 ? json_integer((json_int_t)t) : json_null();
}

static void
token_cb(const struct auth_ro_info *t, void *arg)
{
	struct token_list *l = arg;

	if (json_array_append_new(
	            l->arr, json_pack("{s:o,s:o,s:I,s:o,s:o*,s:b}", "id", api_str(t->name), "name",
	                              api_str(t->name), "created", (json_int_t)t->created,
	                              "expires", expires_json(t->expires), "scope",
	                              scope_json(t->scope, t->nscope), "read_only", 1)) != 0)
		l->failed = 1;
}

void
api_tokens_list(struct api *a, struct http_req *req)
{
	struct barge_err err = { 0 };
	struct token_list l = { json_array(), 0 };
	int rc;

	if (l.arr == NULL) {
		api_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	if ((rc = auth_ro_list(a->data_dir, token_cb, &l, &err)) == BARGE_OK && l.failed)
		rc = err_set(&err, BARGE_ENOMEM, "out of memory");
	if (rc != BARGE_OK) {
		json_decref(l.arr);
		api_fail(a, req, rc, &err);
		return;
	}
	api_send(req, 200, json_pack("{s:o}", "tokens", l.arr));
}

/* Reads "scope" (absent, null or a list of strings) into scope; 400 answered on failure. */
static int
body_scope(struct http_req *req, json_t *body, const char **scope, size_t *n)
{
	json_t *list = json_object_get(body, "scope"), *g;
	size_t i;

	*n = 0;
	if (list == NULL || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > AUTH_GLOBS_MAX) {
		api_error(req, 400, "INVALID", "scope: a list of at most %d globs", AUTH_GLOBS_MAX);
		return -1;
	}
	json_array_foreach(list, i, g)
	{
		if (!json_is_string(g)) {
			api_error(req, 400, "INVALID", "scope[%zu]: a string", i);
			return -1;
		}
		scope[i] = json_string_value(g);
	}
	*n = json_array_size(list);
	return 0;
}

void
api_tokens_create(struct api *a, struct http_req *req, const struct api_caller *c, json_t *body)
{
	const char *name = json_string_value(json_object_get(body, "name"));
	json_t *ttl = json_object_get(body, "expires_in");
	const char *scope[AUTH_GLOBS_MAX];
	struct barge_err err = { 0 };
	long long expires = 0;
	char *token = NULL;
	size_t n;
	int rc;

	(void)c;
	if (name == NULL) {
		api_error(req, 400, "INVALID", "name: missing");
		return;
	}
	if (ttl != NULL && !json_is_null(ttl)) {
		if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
		    json_integer_value(ttl) > API_TOKEN_TTL_MAX) {
			api_error(req, 400, "INVALID",
			          "expires_in: seconds from 1 to %lld, or null for never",
			          API_TOKEN_TTL_MAX);
			return;
		}
		expires = (long long)time(NULL) + (long long)json_integer_value(ttl);
	}
	if (body_scope(req, body, scope, &n) != 0)
		return;
	rc = auth_ro_create_scoped(a->data_dir, name, expires, scope, n, &token, &err);
	if (rc == BARGE_EEXIST) {
		api_error(req, 409, "CONFLICT", "%s", err.msg);
		return;
	}
	if (rc != BARGE_OK) {
		api_fail(a, req, rc, &err);
		return;
	}
	api_send(req, 201,
	         json_pack("{s:o,s:o,s:s,s:o,s:o*}", "id", api_str(name), "name", api_str(name),
	                   "token", token, "expires", expires_json(expires), "scope",
	                   scope_json(scope, n)));
	explicit_bzero(token, strlen(token));
	free(token);
}

void
api_tokens_revoke(struct api *a, struct http_req *req, const char *id)
{
	struct barge_err err = { 0 };
	int rc;

	if ((rc = auth_ro_remove(a->data_dir, id, &err)) != BARGE_OK) {
		api_fail(a, req, rc, &err);
		return;
	}
	(void)http_resp_header(req, "Cache-Control", "no-store");
	(void)http_respond_buf(req, 204, NULL, "", 0);
}
