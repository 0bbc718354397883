/*
 * config: barged.yaml and the flags over it, checked (config.h).  Owns the
 * table of keys (name, kind, offset in struct config) that the file
 * reader, config_set and config_free all walk, so a key is declared once.
 * The list of proxy.upstreams is read and checked by config_proxy.c.
 */
#include "config.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "yjson.h"

#define CONFIG_KEY_MAX 64 /* longest dotted key */

enum ckind { K_SECTION, K_STR, K_BOOL, K_UINT, K_ENUM, K_LIST, K_RULES, K_UPSTREAMS };

static const char *const policies[] = { "present", "always", NULL };
/* A rule's policy words, in enum config_rule_policy order after "inherit". */
static const char *const rule_policies[] = { "present", "always", "never", NULL };
static const char *const formats[] = { "text", "json", NULL };
static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const tag_policies[] = { "move", "keep", "refuse", NULL };
/* An enum with "true" and "false" also takes YAML's booleans. */
static const char *const autos[] = { "auto", "true", "false", NULL };

/*
 * Every key, by dotted path, with where it lives in struct config.  A
 * section lists before its keys; the order is the documentation's.
 */
static const struct ckey {
	const char *name;
	enum ckind kind;
	size_t off;
	const char *const *words; /* K_ENUM: the values, in enum order */
	unsigned min, max;        /* K_UINT bounds */
} keys[] = {
	{ "data_dir", K_STR, offsetof(struct config, data_dir), NULL, 0, 0 },
	{ "listen", K_STR, offsetof(struct config, listen), NULL, 0, 0 },
	{ "project", K_STR, offsetof(struct config, project), NULL, 0, 0 },
	{ "threads", K_UINT, offsetof(struct config, threads), NULL, 1, 256 },
	{ "plain_http", K_BOOL, offsetof(struct config, plain_http), NULL, 0, 0 },
	{ "tls", K_SECTION, 0, NULL, 0, 0 },
	{ "tls.cert", K_STR, offsetof(struct config, tls.cert), NULL, 0, 0 },
	{ "tls.key", K_STR, offsetof(struct config, tls.key), NULL, 0, 0 },
	{ "tls.names", K_LIST, offsetof(struct config, tls.names), NULL, 0, 0 },
	{ "auth", K_SECTION, 0, NULL, 0, 0 },
	{ "auth.anonymous_pull", K_BOOL, offsetof(struct config, auth.anonymous_pull), NULL, 0, 0 },
	{ "auth.admin_password_file", K_STR, offsetof(struct config, auth.admin_password_file),
	  NULL, 0, 0 },
	{ "registry", K_SECTION, 0, NULL, 0, 0 },
	{ "registry.allow_delete", K_BOOL, offsetof(struct config, registry.allow_delete), NULL, 0,
	  0 },
	{ "registry.max_uploads", K_UINT, offsetof(struct config, registry.max_uploads), NULL, 1,
	  4096 },
	{ "webhook", K_SECTION, 0, NULL, 0, 0 },
	{ "webhook.advertise", K_STR, offsetof(struct config, webhook.advertise), NULL, 0, 0 },
	{ "webhook.policy", K_ENUM, offsetof(struct config, webhook.policy), policies, 0, 0 },
	{ "webhook.exclude_namespaces", K_LIST, offsetof(struct config, webhook.exclude_namespaces),
	  NULL, 0, 0 },
	{ "webhook.label_keys", K_LIST, offsetof(struct config, webhook.label_keys), NULL, 0, 0 },
	{ "webhook.rules", K_RULES, offsetof(struct config, webhook.rules), NULL, 0, 0 },
	{ "webhook.skip_pods_with_pull_secrets", K_BOOL,
	  offsetof(struct config, webhook.skip_pods_with_pull_secrets), NULL, 0, 0 },
	{ "import", K_SECTION, 0, NULL, 0, 0 },
	{ "import.enabled", K_BOOL, offsetof(struct config, import.enabled), NULL, 0, 0 },
	{ "import.watch", K_LIST, offsetof(struct config, import.watch), NULL, 0, 0 },
	{ "import.settle_ms", K_UINT, offsetof(struct config, import.settle_ms), NULL, 100,
	  600000 },
	{ "import.require_signature", K_ENUM, offsetof(struct config, import.require_signature),
	  autos, 0, 0 },
	{ "load", K_SECTION, 0, NULL, 0, 0 },
	{ "load.require_signature", K_BOOL, offsetof(struct config, load.require_signature), NULL,
	  0, 0 },
	{ "load.keys_dir", K_STR, offsetof(struct config, load.keys_dir), NULL, 0, 0 },
	{ "load.trusted_keys", K_LIST, offsetof(struct config, load.trusted_keys), NULL, 0, 0 },
	{ "load.tags", K_ENUM, offsetof(struct config, load.tags), tag_policies, 0, 0 },
	{ "upload", K_SECTION, 0, NULL, 0, 0 },
	{ "upload.max_size", K_STR, offsetof(struct config, upload.max_size), NULL, 0, 0 },
	{ "proxy", K_SECTION, 0, NULL, 0, 0 },
	{ "proxy.upstreams", K_UPSTREAMS, offsetof(struct config, proxy.upstreams), NULL, 0, 0 },
	{ "proxy.revalidate_timeout_ms", K_UINT,
	  offsetof(struct config, proxy.revalidate_timeout_ms), NULL, 50, 60000 },
	{ "proxy.backoff_s", K_UINT, offsetof(struct config, proxy.backoff_s), NULL, 0, 3600 },
	{ "proxy.max_size", K_STR, offsetof(struct config, proxy.max_size), NULL, 0, 0 },
	{ "proxy.peers", K_LIST, offsetof(struct config, proxy.peers), NULL, 0, 0 },
	{ "proxy.peer_dns", K_STR, offsetof(struct config, proxy.peer_dns), NULL, 0, 0 },
	{ "proxy.peer_timeout_ms", K_UINT, offsetof(struct config, proxy.peer_timeout_ms), NULL, 50,
	  60000 },
	{ "log", K_SECTION, 0, NULL, 0, 0 },
	{ "log.format", K_ENUM, offsetof(struct config, log.format), formats, 0, 0 },
	{ "log.level", K_ENUM, offsetof(struct config, log.level), levels, 0, 0 },
	{ "log.access", K_STR, offsetof(struct config, log.access), NULL, 0, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct ckey *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Length of the section part of a dotted name ("auth" of "auth.x"), 0 at the top. */
static size_t
key_section_len(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL ? (size_t)(dot - name) : 0;
}

/*
 * The names of the keys in section (sec_len bytes of sec; 0: the top) into
 * out (NULL-terminated), as last components (full: whole dotted names).
 */
static void
key_siblings(const char *sec, size_t sec_len, int full, const char **out)
{
	size_t i, n = 0, l;

	for (i = 0; i < NKEYS; i++) {
		l = key_section_len(keys[i].name);
		if (l != sec_len || strncmp(keys[i].name, sec, sec_len) != 0)
			continue;
		out[n++] = full || l == 0 ? keys[i].name : keys[i].name + l + 1;
	}
	out[n] = NULL;
}

static void
list_clear(struct config_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
list_add(struct config_list *l, const char *name, const char *v, struct barge_err *err)
{
	char **nv;

	if (l->n == CONFIG_LIST_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: more than %d entries", name,
		               CONFIG_LIST_MAX);
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	l->v = nv;
	if ((l->v[l->n] = strdup(v)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	l->n++;
	return BARGE_OK;
}

/* A project is one repository path component (the distribution grammar). */
static int
valid_project(const char *p)
{
	const char *s;

	if (*p == '\0' || strlen(p) > 64)
		return 0;
	for (s = p; *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))
			continue;
		if ((*s == '.' || *s == '_' || *s == '-') && s != p && s[1] != '\0' &&
		    s[-1] != '.' && s[-1] != '_' && s[-1] != '-')
			continue;
		return 0;
	}
	return 1;
}

const char *
config_str_problem(const char *key, const char *v)
{
	const char *s;

	if (*v == '\0')
		return "must not be empty";
	if (strlen(v) > 4096)
		return "is longer than 4096 characters";
	for (s = v; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20)
			return "contains a control character";
	if (strcmp(key, "project") == 0 && !valid_project(v))
		return "must be lowercase letters and digits, with single . _ - between them";
	return NULL;
}

static int
set_str(struct config *c, const struct ckey *k, const char *v)
{
	char **slot = (char **)((char *)c + k->off);
	char *copy;

	if ((copy = strdup(v)) == NULL)
		return BARGE_ENOMEM;
	free(*slot);
	*slot = copy;
	return BARGE_OK;
}

int
config_word_index(const char *const *words, const char *v)
{
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], v) == 0)
			return i;
	return -1;
}

static void
words_join(const char *const *words, char *buf, size_t len)
{
	size_t i, n;

	buf[0] = '\0';
	for (i = 0; words[i] != NULL; i++) {
		n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", i == 0 ? "" : ", ", words[i]);
	}
}

static void
exprs_free(struct config_expr *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(e[i].re);
	free(e);
}

static void
rules_clear(struct config *c)
{
	size_t i;

	for (i = 0; i < c->webhook.nrules; i++) {
		free(c->webhook.rules[i].name);
		free(c->webhook.rules[i].replace);
		exprs_free(c->webhook.rules[i].match, c->webhook.rules[i].nmatch);
		exprs_free(c->webhook.rules[i].exclude, c->webhook.rules[i].nexclude);
	}
	free(c->webhook.rules);
	c->webhook.rules = NULL;
	c->webhook.nrules = 0;
}

int
config_init(struct config *c, struct barge_err *err)
{
	memset(c, 0, sizeof(*c));
	c->threads = 16; /* why 16: HTTP_DEFAULT_THREADS in http_server.c */
	c->auth.anonymous_pull = 1;
	c->registry.max_uploads = 64;
	c->import.enabled = 1;
	c->import.settle_ms = 2000;
	c->webhook.policy = CONFIG_POLICY_PRESENT;
	c->log.format = CONFIG_LOG_TEXT;
	c->log.level = CONFIG_LOG_INFO;
	c->proxy.revalidate_timeout_ms = 2000;
	c->proxy.backoff_s = 30;
	c->proxy.peer_timeout_ms = 500;
	if ((c->data_dir = strdup(CONFIG_DEFAULT_DATA_DIR)) == NULL ||
	    (c->listen = strdup(":30003")) == NULL || (c->project = strdup("edge")) == NULL ||
	    (c->webhook.advertise = strdup("127.0.0.1:30003")) == NULL ||
	    (c->log.access = strdup("stdout")) == NULL ||
	    (c->load.keys_dir = strdup(CONFIG_DEFAULT_KEYS_DIR)) == NULL) {
		config_free(c);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	return BARGE_OK;
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].kind == K_STR)
			free(*(char **)((char *)c + keys[i].off));
		else if (keys[i].kind == K_LIST)
			list_clear((struct config_list *)((char *)c + keys[i].off));
	}
	rules_clear(c);
	config_upstreams_clear(c);
	memset(c, 0, sizeof(*c));
}

/* --- the file ------------------------------------------------------------ */

/* An error at node (or, for the jansson singletons, at its key in parent). */
int
config_cerr(const struct cctx *x, const json_t *parent, const char *key, const json_t *node,
            int code, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	int line = 0, col = 0;
	va_list ap;

	if (yjson_pos(x->y, node, &line, &col) != 0 && parent != NULL)
		(void)yjson_key_pos(x->y, parent, key, &line, &col);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(x->err, code, "%s:%d:%d: %s", yjson_name(x->y), line, col, msg);
}

static int walk(const struct cctx *x, const json_t *obj, const char *section);
static int rules_apply(const struct cctx *x, const json_t *obj, const char *key, const json_t *v);

static int
apply_value(const struct cctx *x, const json_t *obj, const char *key, const struct ckey *k,
            const json_t *v)
{
	char words[128];
	const char *why;
	json_int_t n;
	size_t i;
	int rc, idx;

	switch (k->kind) {
	case K_SECTION:
		if (json_is_null(v))
			return BARGE_OK;
		if (!json_is_object(v))
			return config_cerr(x, obj, key, v, BARGE_EINVAL,
			                   "%s: expected a mapping, got %s", k->name,
			                   yjson_type_name(v));
		return walk(x, v, k->name);
	case K_STR:
		if (!json_is_string(v))
			return config_cerr(x, obj, key, v, BARGE_EINVAL,
			                   "%s: expected a string, got %s", k->name,
			                   yjson_type_name(v));
		if (strlen(json_string_value(v)) != json_string_length(v))
			return config_cerr(x, obj, key, v, BARGE_EINVAL, "%s: contains a NUL byte",
			                   k->name);
		if ((why = config_str_problem(k->name, json_string_value(v))) != NULL)
			return config_cerr(x, obj, key, v, BARGE_EINVAL, "%s: %s", k->name, why);
		if (set_str(x->c, k, json_string_value(v)) != BARGE_OK)
			return err_set(x->err, BARGE_ENOMEM, "out of memory");
		return BARGE_OK;
	case K_BOOL:
		if (!json_is_boolean(v))
			return config_cerr(x, obj, key, v, BARGE_EINVAL,
			                   "%s: expected true or false, got %s", k->name,
			                   yjson_type_name(v));
		*(int *)((char *)x->c + k->off) = json_is_true(v);
		return BARGE_OK;
	case K_UINT:
		if (!json_is_integer(v))
			return config_cerr(x, obj, key, v, BARGE_EINVAL,
			                   "%s: expected an integer, got %s", k->name,
			                   yjson_type_name(v));
		n = json_integer_value(v);
		if (n < (json_int_t)k->min || n > (json_int_t)k->max)
			return config_cerr(x, obj, key, v, BARGE_EINVAL, "%s: must be %u to %u",
			                   k->name, k->min, k->max);
		*(unsigned *)((char *)x->c + k->off) = (unsigned)n;
		return BARGE_OK;
	case K_ENUM:
		words_join(k->words, words, sizeof(words));
		if (json_is_boolean(v) &&
		    (idx = config_word_index(k->words, json_is_true(v) ? "true" : "false")) >= 0) {
			*(int *)((char *)x->c + k->off) = idx;
			return BARGE_OK;
		}
		if (!json_is_string(v))
			return config_cerr(x, obj, key, v, BARGE_EINVAL,
			                   "%s: expected one of %s, got %s", k->name, words,
			                   yjson_type_name(v));
		if ((idx = config_word_index(k->words, json_string_value(v))) < 0)
			return config_cerr(x, obj, key, v, BARGE_EINVAL,
			                   "%s: \"%.100s\" is not one of %s", k->name,
			                   json_string_value(v), words);
		*(int *)((char *)x->c + k->off) = idx;
		return BARGE_OK;
	case K_RULES:
		return rules_apply(x, obj, key, v);
	case K_UPSTREAMS:
		return config_upstreams_apply(x, obj, key, v);
	case K_LIST: {
		struct config_list *l = (struct config_list *)((char *)x->c + k->off);
		const json_t *e;

		if (json_is_null(v)) {
			list_clear(l);
			return BARGE_OK;
		}
		if (!json_is_array(v))
			return config_cerr(x, obj, key, v, BARGE_EINVAL,
			                   "%s: expected a list, got %s", k->name,
			                   yjson_type_name(v));
		list_clear(l);
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) ||
			    strlen(json_string_value(e)) != json_string_length(e))
				return config_cerr(x, v, NULL, e, BARGE_EINVAL,
				                   "%s[%zu]: expected a string, got %s", k->name, i,
				                   yjson_type_name(e));
			if ((why = config_str_problem(k->name, json_string_value(e))) != NULL)
				return config_cerr(x, v, NULL, e, BARGE_EINVAL, "%s[%zu]: %s",
				                   k->name, i, why);
			if ((rc = list_add(l, k->name, json_string_value(e), x->err)) != BARGE_OK)
				return config_cerr(x, v, NULL, e, rc, "%s", x->err->msg);
		}
		return BARGE_OK;
	}
	}
	return err_set(x->err, BARGE_EINTERNAL, "%s: unknown kind", k->name);
}

static int
walk(const struct cctx *x, const json_t *obj, const char *section)
{
	const char *key, *hint, *sib[NKEYS + 1];
	char full[CONFIG_KEY_MAX], list[512];
	const struct ckey *k;
	size_t i, n;
	json_t *v;
	int rc, line = 0, col = 0;

	json_object_foreach((json_t *)obj, key, v)
	{
		k = NULL;
		if (strlen(key) < 40 && !(*section == '\0' && strchr(key, '.') != NULL)) {
			snprintf(full, sizeof(full), "%s%s%s", section, *section ? "." : "", key);
			if (strchr(key, '.') == NULL)
				k = key_find(full);
		}
		if (k == NULL) {
			if (yjson_key_pos(x->y, obj, key, &line, &col) != 0)
				(void)yjson_pos(x->y, obj, &line, &col);
			key_siblings(section, strlen(section), 0, sib);
			if ((hint = yjson_suggest(key, sib)) != NULL)
				return err_set(x->err, BARGE_EINVAL,
				               "%s:%d:%d: unknown key \"%.100s\"%s%s; did you mean "
				               "\"%s\"?",
				               yjson_name(x->y), line, col, key,
				               *section ? " in " : "", section, hint);
			list[0] = '\0';
			for (i = 0; sib[i] != NULL; i++) {
				n = strlen(list);
				snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", sib[i]);
			}
			return err_set(x->err, BARGE_EINVAL,
			               "%s:%d:%d: unknown key \"%.100s\"%s%s; valid keys: %s",
			               yjson_name(x->y), line, col, key, *section ? " in " : "",
			               section, list);
		}
		if ((rc = apply_value(x, obj, key, k, v)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

static int
config_apply(struct config *c, const struct yjson *y, struct barge_err *err)
{
	struct cctx x = { c, y, err };
	const json_t *doc;

	if (yjson_ndocs(y) > 1)
		return err_set(err, BARGE_EINVAL, "%s: expected one YAML document, found %zu",
		               yjson_name(y), yjson_ndocs(y));
	/* An empty file (or one of comments) is the defaults. */
	if (yjson_ndocs(y) == 0 || json_is_null(doc = yjson_doc(y, 0)))
		return BARGE_OK;
	if (!json_is_object(doc))
		return config_cerr(&x, NULL, NULL, doc, BARGE_EINVAL,
		                   "expected a mapping of keys, got %s", yjson_type_name(doc));
	return walk(&x, doc, "");
}

int
config_load_buf(struct config *c, const char *name, const char *buf, size_t len,
                struct barge_err *err)
{
	struct yjson *y = NULL;
	int rc;

	if (len > CONFIG_FILE_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: larger than %d bytes", name,
		               CONFIG_FILE_MAX);
	if ((rc = yjson_load_buf(name, buf, len, &y, err)) != BARGE_OK)
		return rc;
	rc = config_apply(c, y, err);
	yjson_free(y);
	return rc;
}

int
config_load_file(struct config *c, const char *path, struct barge_err *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t len;
	int rc;

	if ((f = fopen(path, "r")) == NULL)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s",
		               path);
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = err_sys(err, BARGE_EIO, errno, "reading %s", path);
		goto out;
	}
	rc = config_load_buf(c, path, buf, len, err);
out:
	free(buf);
	fclose(f);
	return rc;
}

/* --- webhook.rules -------------------------------------------------------- */

/* Reads one list of expressions (match or exclude) of rule i, checking each compiles. */
static int
rule_exprs(const struct cctx *x, const json_t *r, const char *what, size_t i,
           struct config_expr **out, size_t *n)
{
	const json_t *v = json_object_get(r, what), *e;
	char msg[256];
	regex_t re;
	size_t j;
	int rc;

	if (v == NULL || json_is_null(v))
		return BARGE_OK;
	if (json_is_string(v))
		return config_cerr(
		        x, r, what, v, BARGE_EINVAL,
		        "webhook.rules[%zu].%s: expected a list of expressions, got a string "
		        "(write it as [\"...\"] or on a \"- \" line)",
		        i, what);
	if (!json_is_array(v))
		return config_cerr(x, r, what, v, BARGE_EINVAL,
		                   "webhook.rules[%zu].%s: expected a list, got %s", i, what,
		                   yjson_type_name(v));
	if (json_array_size(v) > CONFIG_RULE_EXPRS_MAX)
		return config_cerr(x, r, what, v, BARGE_ELIMIT,
		                   "webhook.rules[%zu].%s: more than %d expressions", i, what,
		                   CONFIG_RULE_EXPRS_MAX);
	if ((*out = calloc(json_array_size(v) + 1, sizeof(**out))) == NULL)
		return err_set(x->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(v, j, e)
	{
		const char *s = json_string_value(e);

		if (s == NULL || strlen(s) != json_string_length(e) || *s == '\0')
			return config_cerr(
			        x, v, NULL, e, BARGE_EINVAL,
			        "webhook.rules[%zu].%s[%zu]: expected a non-empty string, got %s",
			        i, what, j, yjson_type_name(e));
		if (strlen(s) > CONFIG_RULE_EXPR_MAX)
			return config_cerr(x, v, NULL, e, BARGE_ELIMIT,
			                   "webhook.rules[%zu].%s[%zu]: longer than %d bytes", i,
			                   what, j, CONFIG_RULE_EXPR_MAX);
		if ((rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB)) != 0) {
			regerror(rc, &re, msg, sizeof(msg));
			return config_cerr(x, v, NULL, e, BARGE_EINVAL,
			                   "webhook.rules[%zu].%s[%zu]: \"%.100s\": %s", i, what, j,
			                   s, msg);
		}
		regfree(&re);
		(*out)[*n].line = (*out)[*n].col = 0;
		(void)yjson_pos(x->y, e, &(*out)[*n].line, &(*out)[*n].col);
		if (((*out)[*n].re = strdup(s)) == NULL)
			return err_set(x->err, BARGE_ENOMEM, "out of memory");
		(*n)++;
	}
	return BARGE_OK;
}

/* Reads rule i (r, a mapping) into *o. */
static int
rule_read(const struct cctx *x, const json_t *r, size_t i, struct config_rule *o)
{
	static const char *const rkeys[] = {
		"name", "match", "exclude", "replace", "policy", NULL
	};
	const char *key, *hint, *s;
	const json_t *v;
	int rc, idx;

	json_object_foreach((json_t *)r, key, v)
	{
		if (config_word_index(rkeys, key) >= 0)
			continue;
		hint = yjson_suggest(key, rkeys);
		return config_cerr(
		        x, r, key, NULL, BARGE_EINVAL,
		        "webhook.rules[%zu]: unknown key \"%.100s\"%s%s%s; valid keys: name, "
		        "match, "
		        "exclude, replace, policy",
		        i, key, hint != NULL ? " (did you mean \"" : "", hint != NULL ? hint : "",
		        hint != NULL ? "\"?)" : "");
	}
	(void)yjson_pos(x->y, r, &o->line, &o->col);
	if ((rc = rule_exprs(x, r, "match", i, &o->match, &o->nmatch)) != BARGE_OK ||
	    (rc = rule_exprs(x, r, "exclude", i, &o->exclude, &o->nexclude)) != BARGE_OK)
		return rc;
	if (o->nmatch == 0)
		return config_cerr(
		        x, NULL, NULL, r, BARGE_EINVAL,
		        "webhook.rules[%zu]: needs match, one or more expressions (\".\" matches "
		        "every reference)",
		        i);
	if ((v = json_object_get(r, "name")) != NULL) {
		if ((s = json_string_value(v)) == NULL || config_str_problem("", s) != NULL)
			return config_cerr(x, r, "name", v, BARGE_EINVAL,
			                   "webhook.rules[%zu].name: expected a non-empty string",
			                   i);
		if ((o->name = strdup(s)) == NULL)
			return err_set(x->err, BARGE_ENOMEM, "out of memory");
	}
	if ((v = json_object_get(r, "replace")) != NULL) {
		if ((s = json_string_value(v)) == NULL || config_str_problem("", s) != NULL ||
		    strlen(s) > 255)
			return config_cerr(
			        x, r, "replace", v, BARGE_EINVAL,
			        "webhook.rules[%zu].replace: expected a registry and path prefix "
			        "(\"harbor.example.net/dockerhub\"), at most 255 bytes",
			        i);
		if ((o->replace = strdup(s)) == NULL)
			return err_set(x->err, BARGE_ENOMEM, "out of memory");
	}
	if ((v = json_object_get(r, "policy")) != NULL) {
		if ((s = json_string_value(v)) == NULL ||
		    (idx = config_word_index(rule_policies, s)) < 0)
			return config_cerr(
			        x, r, "policy", v, BARGE_EINVAL,
			        "webhook.rules[%zu].policy: expected one of present, always, never",
			        i);
		o->policy = (enum config_rule_policy)(idx + 1);
	}
	return BARGE_OK;
}

static int
rules_apply(const struct cctx *x, const json_t *obj, const char *key, const json_t *v)
{
	struct config *c = x->c;
	const json_t *r;
	size_t i;
	int rc;

	rules_clear(c);
	if (json_is_null(v))
		return BARGE_OK;
	if (!json_is_array(v))
		return config_cerr(x, obj, key, v, BARGE_EINVAL,
		                   "webhook.rules: expected a list, got %s", yjson_type_name(v));
	if (json_array_size(v) > CONFIG_RULES_MAX)
		return config_cerr(x, obj, key, v, BARGE_ELIMIT,
		                   "webhook.rules: more than %d rules", CONFIG_RULES_MAX);
	/* An empty list is kept apart from no key: it swaps nothing. */
	if ((c->webhook.rules = calloc(json_array_size(v) + 1, sizeof(*c->webhook.rules))) == NULL)
		return err_set(x->err, BARGE_ENOMEM, "out of memory");
	json_array_foreach(v, i, r)
	{
		if (!json_is_object(r))
			return config_cerr(
			        x, v, NULL, r, BARGE_EINVAL,
			        "webhook.rules[%zu]: expected a mapping (match, exclude, replace, "
			        "policy), got %s",
			        i, yjson_type_name(r));
		c->webhook.nrules++;
		if ((rc = rule_read(x, r, i, &c->webhook.rules[i])) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/*
 * A rule that swaps only what the store holds must send pods to barged:
 * presence elsewhere cannot be checked.
 */
static int
rules_check(const struct config *c, struct barge_err *err)
{
	const struct config_rule *r;
	size_t i, n = strlen(c->webhook.advertise);
	enum config_rule_policy p;

	for (i = 0; i < c->webhook.nrules; i++) {
		r = &c->webhook.rules[i];
		p = r->policy;
		if (p == CONFIG_RULE_INHERIT)
			p = c->webhook.policy == CONFIG_POLICY_ALWAYS ? CONFIG_RULE_ALWAYS
			                                              : CONFIG_RULE_PRESENT;
		if (p != CONFIG_RULE_PRESENT || r->replace == NULL)
			continue;
		if (strncmp(r->replace, c->webhook.advertise, n) == 0 &&
		    (r->replace[n] == '/' || r->replace[n] == '\0'))
			continue;
		return err_set(err, BARGE_EINVAL,
		               "line %d:%d: webhook.rules[%zu]: policy present can check only "
		               "a replace on barged (webhook.advertise %s), not \"%.100s\"; say "
		               "policy: always to send pods to another registry",
		               r->line, r->col, i, c->webhook.advertise, r->replace);
	}
	return BARGE_OK;
}

/* --- flags --------------------------------------------------------------- */

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1", NULL };
	static const char *const no[] = { "false", "no", "off", "0", NULL };

	if (config_word_index(yes, v) >= 0)
		*out = 1;
	else if (config_word_index(no, v) >= 0)
		*out = 0;
	else
		return -1;
	return 0;
}

int
config_set(struct config *c, const char *key, const char *value, struct barge_err *err)
{
	const char *all[NKEYS + 1], *hint, *why;
	const struct ckey *k;
	unsigned long n;
	size_t i, m = 0;
	char words[128], *end;
	int b, idx;

	if ((k = key_find(key)) == NULL || k->kind == K_SECTION) {
		/* Suggest among every key, by its dotted name. */
		for (i = 0; i < NKEYS; i++)
			if (keys[i].kind != K_SECTION)
				all[m++] = keys[i].name;
		all[m] = NULL;
		hint = yjson_suggest(key, all);
		if (hint != NULL)
			return err_set(err, BARGE_EINVAL,
			               "unknown key \"%.100s\"; did you mean \"%s\"?", key, hint);
		return err_set(err, BARGE_EINVAL, "unknown key \"%.100s\"", key);
	}
	switch (k->kind) {
	case K_SECTION:
		break;
	case K_STR:
		if ((why = config_str_problem(k->name, value)) != NULL)
			return err_set(err, BARGE_EINVAL, "%s: %s", k->name, why);
		if (set_str(c, k, value) != BARGE_OK)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		return BARGE_OK;
	case K_BOOL:
		if (parse_bool(value, &b) != 0)
			return err_set(err, BARGE_EINVAL,
			               "%s: expected true or false, got \"%.100s\"", k->name,
			               value);
		*(int *)((char *)c + k->off) = b;
		return BARGE_OK;
	case K_UINT:
		errno = 0;
		n = strtoul(value, &end, 10);
		if (*value < '0' || *value > '9' || *end != '\0' || errno != 0 || n < k->min ||
		    n > k->max)
			return err_set(err, BARGE_EINVAL, "%s: must be %u to %u, got \"%.100s\"",
			               k->name, k->min, k->max, value);
		*(unsigned *)((char *)c + k->off) = (unsigned)n;
		return BARGE_OK;
	case K_ENUM:
		if ((idx = config_word_index(k->words, value)) < 0) {
			words_join(k->words, words, sizeof(words));
			return err_set(err, BARGE_EINVAL, "%s: \"%.100s\" is not one of %s",
			               k->name, value, words);
		}
		*(int *)((char *)c + k->off) = idx;
		return BARGE_OK;
	case K_RULES:
		return err_set(err, BARGE_EINVAL, "%s: a list of rules is set in the file only",
		               k->name);
	case K_UPSTREAMS:
		return config_add_proxy(c, value, err);
	case K_LIST:
		if ((why = config_str_problem(k->name, value)) != NULL)
			return err_set(err, BARGE_EINVAL, "%s: %s", k->name, why);
		return list_add((struct config_list *)((char *)c + k->off), k->name, value, err);
	}
	return err_set(err, BARGE_EINTERNAL, "%s: unknown kind", k->name);
}

int
config_check(const struct config *c, struct barge_err *err)
{
	if ((c->tls.cert == NULL) != (c->tls.key == NULL))
		return err_set(err, BARGE_EINVAL, "tls.cert and tls.key must be set together");
	if (c->plain_http && c->tls.cert != NULL)
		return err_set(err, BARGE_EINVAL, "plain_http and tls.cert exclude each other");
	if (config_upstreams_check(c, err) != BARGE_OK)
		return BARGE_EINVAL;
	return rules_check(c, err);
}
