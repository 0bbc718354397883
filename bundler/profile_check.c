/*
 * profile_check: the checks of one node of a profile's YAML (see
 * profile_int.h): its keys, its type, and the file:line:col that every
 * error names.  It owns nothing; the error text goes into the load's err.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_int.h"

int
nomem(const struct pctx *c)
{
	return err_set(c->err, BARGE_ENOMEM, "%s: out of memory", c->file);
}

/*
 * The position of node, which is parent[key] (key NULL for list items).
 * The jansson singletons (null, true, false) carry no position of their own,
 * so their key, or else their parent, stands in for them.
 */
void
node_pos(const struct pctx *c, const json_t *parent, const char *key, const json_t *node, int *line,
         int *col)
{
	*line = 0;
	*col = 0;
	if (node != NULL && yjson_pos(c->y, node, line, col) == 0)
		return;
	if (parent != NULL && key != NULL && yjson_key_pos(c->y, parent, key, line, col) == 0)
		return;
	if (parent != NULL && yjson_pos(c->y, parent, line, col) == 0)
		return;
	*line = 0;
	*col = 0;
}

int
perr(const struct pctx *c, int code, int line, int col, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(c->err, code, "%s:%d:%d: %s", c->file, line, col, msg);
}

int
perr_at(const struct pctx *c, const json_t *parent, const char *key, const json_t *node,
        const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	node_pos(c, parent, key, node, &line, &col);
	return perr(c, BARGE_EINVAL, line, col, "%s", msg);
}

/* Checks that obj (named where) has only keys from allowed. */
int
check_keys(const struct pctx *c, const json_t *obj, const char *where, const char *const *allowed)
{
	const char *key, *const *k, *hint;
	char list[256];
	json_t *v;
	int line, col;
	size_t n;

	json_object_foreach((json_t *)obj, key, v)
	{
		for (k = allowed; *k != NULL; k++)
			if (strcmp(key, *k) == 0)
				break;
		if (*k != NULL)
			continue;
		if (yjson_key_pos(c->y, obj, key, &line, &col) != 0)
			node_pos(c, obj, NULL, v, &line, &col);
		if ((hint = yjson_suggest(key, allowed)) != NULL)
			return perr(c, BARGE_EINVAL, line, col,
			            "unknown key \"%.100s\"; did you mean \"%s\"?", key, hint);
		list[0] = '\0';
		for (k = allowed; *k != NULL; k++) {
			n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", k == allowed ? "" : ", ", *k);
		}
		return perr(c, BARGE_EINVAL, line, col,
		            "unknown key \"%.100s\"; valid keys%s%s: %s", key,
		            *where != '\0' ? " in " : "", where, list);
	}
	return BARGE_OK;
}

/*
 * Fetches obj[key] of the given JSON type.  A missing key is an error when
 * required, else *out is NULL.  Type errors name what was expected.
 */
int
get_typed(const struct pctx *c, const json_t *obj, const char *where, const char *key,
          json_type type, int required, json_t **out)
{
	static const char *const want[] = {
		[JSON_OBJECT] = "a mapping",
		[JSON_ARRAY] = "a list",
		[JSON_STRING] = "a string",
	};
	json_t *v;

	*out = NULL;
	v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return BARGE_OK;
		if (v != NULL)
			return perr_at(c, obj, key, v, "%s%s is empty", where, key);
		return perr_at(c, obj, NULL, obj, "missing %s%s", where, key);
	}
	if (json_typeof(v) != type) {
		if (json_is_number(v) && type == JSON_STRING)
			return perr_at(c, obj, key, v,
			               "%s%s: expected a string, got a number (quote it)", where,
			               key);
		return perr_at(c, obj, key, v, "%s%s: expected %s, got %s", where, key, want[type],
		               yjson_type_name(v));
	}
	*out = v;
	return BARGE_OK;
}

int
strdup_into(const struct pctx *c, char **dst, const char *s)
{
	if ((*dst = strdup(s)) == NULL)
		return nomem(c);
	return BARGE_OK;
}
