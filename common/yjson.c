/*
 * yjson: YAML to jansson with positions (see yjson.h).  A struct yjson owns
 * its name, its documents and the table of node and key positions.  The
 * words checkers use about a tree (yjson_suggest, yjson_type_name) are
 * yjson_hint.c's.
 */
#include "yjson.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fileutil.h"

/*
 * Built on libyaml's event API: the tree is assembled here with an explicit
 * stack, so that depth and node budget are checked as events arrive and
 * nothing recurses on untrusted input.  Anchors are registered when their
 * node is complete, so an alias can never refer to an ancestor: a recursive
 * structure is an "unknown anchor" error.
 *
 * Aliased mappings and sequences are shared (json_incref), aliased scalars
 * copied; either way the alias adds the anchored subtree's node count to the
 * budget, which is what a consumer walking the tree will pay.
 *
 * Merge keys ("<<: *base", YAML 1.1, supported by the Go YAML libraries
 * that Kubernetes and Helm use) are honoured: the value must be a mapping or
 * a sequence of mappings; keys the mapping sets itself win, then earlier
 * merge sources win over later ones.
 */

#define TAG_PREFIX "tag:yaml.org,2002:"
#define QUOTE_MAX  80

/*
 * A hash table keyed by (pointer, string): node positions use (node, NULL),
 * key positions (object, key), anchors (NULL, name).
 */
struct pent {
	const void *p;
	char *s;
	int line, col;
	size_t count; /* nodes in the subtree (positions) or the anchored one */
	json_t *val;  /* anchors only: a reference to the anchored value */
};

struct ptab {
	struct pent *e;
	size_t cap, n; /* cap is 0 or a power of two */
};

struct yjson {
	char *name;
	json_t **docs;
	size_t ndocs, cap;
	struct ptab pos;
};

static uint64_t
phash(const void *p, const char *s)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;

	for (; s != NULL && *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
	return h ^ (h >> 29);
}

static struct pent *
pt_find(const struct ptab *t, const void *p, const char *s)
{
	size_t i;

	if (t->cap == 0)
		return NULL;
	for (i = phash(p, s) & (t->cap - 1); t->e[i].p != NULL || t->e[i].s != NULL;
	     i = (i + 1) & (t->cap - 1)) {
		if (t->e[i].p == p && (s == NULL ? t->e[i].s == NULL
		                                 : t->e[i].s != NULL && strcmp(t->e[i].s, s) == 0))
			return &t->e[i];
	}
	return NULL;
}

/* Where (p, s) lives or would go; the table has a free slot. */
static struct pent *
pt_slot(struct ptab *t, const void *p, const char *s)
{
	size_t i;

	for (i = phash(p, s) & (t->cap - 1); t->e[i].p != NULL || t->e[i].s != NULL;
	     i = (i + 1) & (t->cap - 1)) {
		if (t->e[i].p == p && (s == NULL ? t->e[i].s == NULL
		                                 : t->e[i].s != NULL && strcmp(t->e[i].s, s) == 0))
			break;
	}
	return &t->e[i];
}

static int
pt_grow(struct ptab *t)
{
	struct pent *old = t->e, *e;
	size_t oldcap = t->cap, i;

	t->cap = oldcap == 0 ? 64 : oldcap * 2;
	if ((t->e = calloc(t->cap, sizeof(*t->e))) == NULL) {
		t->e = old;
		t->cap = oldcap;
		return -1;
	}
	for (i = 0; i < oldcap; i++) {
		if (old[i].p == NULL && old[i].s == NULL)
			continue;
		e = pt_slot(t, old[i].p, old[i].s);
		*e = old[i];
	}
	free(old);
	return 0;
}

/*
 * Sets (p, s) to the given values, replacing an earlier entry (and dropping
 * its anchored value).  Takes the reference to val.  Returns -1 on ENOMEM,
 * leaving val to the caller.
 */
static int
pt_set(struct ptab *t, const void *p, const char *s, int line, int col, size_t count, json_t *val)
{
	struct pent *e;
	char *sc = NULL;

	if ((t->n + 1) * 2 > t->cap && pt_grow(t) != 0)
		return -1;
	e = pt_slot(t, p, s);
	if (e->p == NULL && e->s == NULL) {
		if (s != NULL && (sc = strdup(s)) == NULL)
			return -1;
		e->p = p;
		e->s = sc;
		t->n++;
	}
	json_decref(e->val);
	e->line = line;
	e->col = col;
	e->count = count;
	e->val = val;
	return 0;
}

static void
pt_clear(struct ptab *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++) {
		free(t->e[i].s);
		json_decref(t->e[i].val);
	}
	free(t->e);
	t->e = NULL;
	t->cap = t->n = 0;
}

/* One open mapping or sequence. */
struct frame {
	json_t *node;
	int is_map;
	char *anchor;
	int line, col;
	size_t count; /* nodes so far, this one included */
	char *key;    /* a mapping's key waiting for its value */
	int kline, kcol;
	int key_is_merge;
	json_t *merges; /* merge sources, in order; NULL when none */
	int mline, mcol;
};

struct loader {
	struct yjson *y;
	yaml_parser_t parser;
	struct frame *st;
	size_t depth;
	struct ptab anchors;
	size_t total; /* nodes so far, aliases expanded */
	locale_t cloc;
	json_t *root;
	struct barge_err *err;
};

static int bad(struct loader *l, int code, const yaml_mark_t *m, const char *fmt, ...)
        BARGE_PRINTF(4, 5);

/* Sets "name:line:col: message" from a libyaml mark (0-based). */
static int
bad(struct loader *l, int code, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[BARGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(l->err, code, "%s:%zu:%zu: %s", l->y->name, m->line + 1, m->column + 1, msg);
}

static int
nomem(struct loader *l)
{
	return err_set(l->err, BARGE_ENOMEM, "%s: out of memory", l->y->name);
}

/* A scalar cut for quoting in messages. */
static const char *
quoted(const char *s, size_t n, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; i < n && i + 4 < cap; i++)
		buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (i < n) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static int
budget(struct loader *l, size_t n, const yaml_mark_t *m)
{
	if (n > YJSON_NODE_MAX - l->total)
		return bad(l, BARGE_ELIMIT, m,
		           "more than %d nodes with aliases expanded (an alias bomb?)",
		           YJSON_NODE_MAX);
	l->total += n;
	return BARGE_OK;
}

static int
all_digits(const char *s, const char *digits)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (strchr(digits, *s) == NULL)
			return 0;
	return 1;
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ : 1 and *v, 0 if not an int, -1 if out of range. */
static int
core_int(const char *s, json_int_t *v)
{
	const char *d = s;
	int base = 10;
	char *end;
	long long x;

	if (s[0] == '0' && s[1] == 'o' && all_digits(s + 2, "01234567")) {
		base = 8;
		d = s + 2;
	} else if (s[0] == '0' && s[1] == 'x' && all_digits(s + 2, "0123456789abcdefABCDEF")) {
		base = 16;
		d = s + 2;
	} else if (!all_digits(s + (s[0] == '-' || s[0] == '+'), "0123456789")) {
		return 0;
	}
	errno = 0;
	x = strtoll(d, &end, base);
	if (errno == ERANGE || *end != '\0')
		return -1;
	*v = (json_int_t)x;
	return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int
core_float_syntax(const char *s)
{
	size_t ip = 0, fp = 0;

	if (*s == '-' || *s == '+')
		s++;
	while (*s >= '0' && *s <= '9')
		s++, ip++;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, fp++;
	}
	if (ip == 0 && fp == 0)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!all_digits(s, "0123456789"))
			return 0;
		return 1;
	}
	return *s == '\0';
}

static int
one_of(const char *s, const char *a, const char *b, const char *c)
{
	return strcmp(s, a) == 0 || strcmp(s, b) == 0 || strcmp(s, c) == 0;
}

/* [-+]?.inf and .nan in their three spellings. */
static int
is_inf_nan(const char *s)
{
	const char *t = s + (*s == '-' || *s == '+');

	return one_of(t, ".inf", ".Inf", ".INF") || one_of(s, ".nan", ".NaN", ".NAN");
}

enum kind { K_ANY, K_STR, K_INT, K_FLOAT, K_BOOL, K_NULL };

/*
 * The value of a scalar: plain ones by the core schema (kind K_ANY), or as
 * the explicit tag's kind demands.  jansson has no infinite or NaN reals, so
 * .inf, .nan and floats beyond double's range stay strings.
 */
static int
scalar_value(struct loader *l, const char *s, size_t n, enum kind k, const yaml_mark_t *m,
             json_t **out)
{
	char q[QUOTE_MAX];
	json_int_t iv;
	double dv;
	int r;

	*out = NULL;
	if (k == K_STR)
		goto string;
	/* Only a quoted scalar can hold a NUL, and quoted means string unless tagged. */
	if (strlen(s) != n) {
		if (k != K_ANY)
			goto mismatch;
		goto string;
	}
	if ((k == K_ANY || k == K_NULL) &&
	    (n == 0 || one_of(s, "~", "null", "Null") || strcmp(s, "NULL") == 0)) {
		*out = json_null();
		return BARGE_OK;
	}
	if (k == K_ANY || k == K_BOOL) {
		if (one_of(s, "true", "True", "TRUE")) {
			*out = json_true();
			return BARGE_OK;
		}
		if (one_of(s, "false", "False", "FALSE")) {
			*out = json_false();
			return BARGE_OK;
		}
	}
	if (k == K_ANY || k == K_INT || k == K_FLOAT) {
		if ((r = core_int(s, &iv)) < 0)
			return bad(l, BARGE_EFORMAT, m, "integer \"%s\" out of range",
			           quoted(s, n, q, sizeof(q)));
		if (r > 0) {
			*out = k == K_FLOAT ? json_real((double)iv) : json_integer(iv);
			goto made;
		}
	}
	if (k == K_ANY || k == K_FLOAT) {
		if (is_inf_nan(s))
			goto string;
		if (core_float_syntax(s)) {
			dv = strtod_l(s, NULL, l->cloc);
			if (!isfinite(dv))
				goto string;
			*out = json_real(dv);
			goto made;
		}
	}
	if (k == K_ANY)
		goto string;
mismatch:
	return bad(l, BARGE_EFORMAT, m, "\"%s\" is not a valid !!%s", quoted(s, n, q, sizeof(q)),
	           k == K_INT     ? "int"
	           : k == K_FLOAT ? "float"
	           : k == K_BOOL  ? "bool"
	                          : "null");
string:
	*out = json_stringn(s, n);
	if (*out == NULL)
		return bad(l, BARGE_EFORMAT, m, "scalar is not valid UTF-8");
	return BARGE_OK;
made:
	return *out == NULL ? nomem(l) : BARGE_OK;
}

/* What an explicit tag asks of a node; -1 for a tag we do not know or that does not fit. */
static int
tag_kind(const char *tag, yaml_event_type_t type)
{
	if (tag == NULL || strcmp(tag, "!") == 0)
		return type == YAML_SCALAR_EVENT ? K_ANY : 0;
	if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
		return -1;
	tag += strlen(TAG_PREFIX);
	if (type == YAML_SEQUENCE_START_EVENT)
		return strcmp(tag, "seq") == 0 ? 0 : -1;
	if (type == YAML_MAPPING_START_EVENT)
		return strcmp(tag, "map") == 0 ? 0 : -1;
	if (strcmp(tag, "str") == 0)
		return K_STR;
	if (strcmp(tag, "int") == 0)
		return K_INT;
	if (strcmp(tag, "float") == 0)
		return K_FLOAT;
	if (strcmp(tag, "bool") == 0)
		return K_BOOL;
	if (strcmp(tag, "null") == 0)
		return K_NULL;
	return -1;
}

static int
check_tag(struct loader *l, const yaml_event_t *ev, const yaml_char_t *tag, int *kind)
{
	char q[QUOTE_MAX];

	*kind = tag_kind((const char *)tag, ev->type);
	if (*kind < 0)
		return bad(l, BARGE_EFORMAT, &ev->start_mark, "unsupported tag \"%s\"",
		           quoted((const char *)tag, strlen((const char *)tag), q, sizeof(q)));
	/* "!" on a scalar means "not resolved": a string. */
	if (tag != NULL && strcmp((const char *)tag, "!") == 0 && ev->type == YAML_SCALAR_EVENT)
		*kind = K_STR;
	return BARGE_OK;
}

static int
is_singleton(const json_t *v)
{
	return json_is_true(v) || json_is_false(v) || json_is_null(v);
}

/* Records where node v (with count nodes) came from. */
static int
note_pos(struct loader *l, json_t *v, const yaml_mark_t *m, size_t count)
{
	if (is_singleton(v))
		return BARGE_OK;
	if (pt_set(&l->y->pos, v, NULL, (int)m->line + 1, (int)m->column + 1, count, NULL) != 0)
		return nomem(l);
	return BARGE_OK;
}

static size_t
count_of(struct loader *l, const json_t *v)
{
	struct pent *e = pt_find(&l->y->pos, v, NULL);

	return e != NULL ? e->count : 1;
}

static int
set_anchor(struct loader *l, const yaml_char_t *anchor, json_t *v, size_t count)
{
	if (anchor == NULL)
		return BARGE_OK;
	if (pt_set(&l->anchors, NULL, (const char *)anchor, 0, 0, count, json_incref(v)) != 0) {
		json_decref(v);
		return nomem(l);
	}
	return BARGE_OK;
}

/* Takes merge source v ("<<: v") into mapping frame f. */
static int
add_merge(struct loader *l, struct frame *f, json_t *v, const yaml_mark_t *m)
{
	json_t *e;
	size_t i;

	if (f->merges == NULL && (f->merges = json_array()) == NULL) {
		json_decref(v);
		return nomem(l);
	}
	if (json_is_object(v)) {
		if (json_array_append_new(f->merges, v) != 0)
			return nomem(l);
		return BARGE_OK;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_object(e)) {
				json_decref(v);
				return bad(
				        l, BARGE_EFORMAT, m,
				        "merge key \"<<\" wants a mapping or a list of mappings");
			}
			if (json_array_append(f->merges, e) != 0) {
				json_decref(v);
				return nomem(l);
			}
		}
		json_decref(v);
		return BARGE_OK;
	}
	json_decref(v);
	return bad(l, BARGE_EFORMAT, m, "merge key \"<<\" wants a mapping or a list of mappings");
}

/* At a mapping's end: the merge sources' keys it does not set itself. */
static int
apply_merges(struct loader *l, struct frame *f)
{
	yaml_mark_t m = { 0, (size_t)f->mline - 1, (size_t)f->mcol - 1 };
	json_t *src, *v;
	const char *k;
	size_t i, n;
	int rc;

	json_array_foreach(f->merges, i, src)
	{
		json_object_foreach(src, k, v)
		{
			if (json_object_get(f->node, k) != NULL)
				continue;
			n = 1 + count_of(l, v);
			if ((rc = budget(l, n, &m)) != BARGE_OK)
				return rc;
			if (json_object_set(f->node, k, v) != 0 ||
			    pt_set(&l->y->pos, f->node, k, f->mline, f->mcol, 0, NULL) != 0)
				return nomem(l);
			f->count += n;
		}
	}
	return BARGE_OK;
}

/* Hands a finished value (with count nodes) to its parent, or makes it the document. */
static int
deliver(struct loader *l, json_t *v, size_t count, const yaml_mark_t *m)
{
	struct frame *f;
	int rc;

	if (l->depth == 0) {
		l->root = v;
		return BARGE_OK;
	}
	f = &l->st[l->depth - 1];
	if (!f->is_map) {
		if (json_array_append_new(f->node, v) != 0)
			return nomem(l);
		f->count += count;
		return BARGE_OK;
	}
	if (f->key_is_merge) {
		f->key_is_merge = 0;
		return add_merge(l, f, v, m);
	}
	rc = json_object_set_new(f->node, f->key, v);
	if (rc == 0 && pt_set(&l->y->pos, f->node, f->key, f->kline, f->kcol, 0, NULL) != 0)
		rc = -1;
	free(f->key);
	f->key = NULL;
	if (rc != 0)
		return nomem(l);
	f->count += count;
	return BARGE_OK;
}

/* A scalar where a mapping expects a key. */
static int
take_key(struct loader *l, struct frame *f, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	char q[QUOTE_MAX];
	json_t *anchored;
	int kind, rc;

	if ((rc = check_tag(l, ev, ev->data.scalar.tag, &kind)) != BARGE_OK)
		return rc;
	if (strlen(s) != n)
		return bad(l, BARGE_EFORMAT, &ev->start_mark, "NUL character in mapping key");
	if ((rc = budget(l, 1, &ev->start_mark)) != BARGE_OK)
		return rc;
	if (ev->data.scalar.tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    strcmp(s, "<<") == 0) {
		if (f->merges != NULL)
			return bad(l, BARGE_EFORMAT, &ev->start_mark, "duplicate key \"<<\"");
		f->key_is_merge = 1;
		f->mline = (int)ev->start_mark.line + 1;
		f->mcol = (int)ev->start_mark.column + 1;
		return BARGE_OK;
	}
	if (json_object_get(f->node, s) != NULL)
		return bad(l, BARGE_EFORMAT, &ev->start_mark, "duplicate key \"%s\"",
		           quoted(s, n, q, sizeof(q)));
	if ((f->key = strdup(s)) == NULL)
		return nomem(l);
	f->kline = (int)ev->start_mark.line + 1;
	f->kcol = (int)ev->start_mark.column + 1;
	f->count++;
	if (ev->data.scalar.anchor != NULL) {
		if ((anchored = json_stringn(s, n)) == NULL)
			return bad(l, BARGE_EFORMAT, &ev->start_mark, "key is not valid UTF-8");
		rc = set_anchor(l, ev->data.scalar.anchor, anchored, 1);
		json_decref(anchored);
		return rc;
	}
	return BARGE_OK;
}

static int
expecting_key(struct loader *l)
{
	struct frame *f;

	if (l->depth == 0)
		return 0;
	f = &l->st[l->depth - 1];
	return f->is_map && f->key == NULL && !f->key_is_merge;
}

static int
on_scalar(struct loader *l, const yaml_event_t *ev)
{
	json_t *v = NULL;
	int kind, rc;

	if (expecting_key(l))
		return take_key(l, &l->st[l->depth - 1], ev);
	if ((rc = check_tag(l, ev, ev->data.scalar.tag, &kind)) != BARGE_OK)
		return rc;
	if (kind == K_ANY && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		kind = K_STR;
	if ((rc = budget(l, 1, &ev->start_mark)) != BARGE_OK)
		return rc;
	if ((rc = scalar_value(l, (const char *)ev->data.scalar.value, ev->data.scalar.length,
	                       (enum kind)kind, &ev->start_mark, &v)) != BARGE_OK)
		return rc;
	if ((rc = note_pos(l, v, &ev->start_mark, 1)) != BARGE_OK ||
	    (rc = set_anchor(l, ev->data.scalar.anchor, v, 1)) != BARGE_OK) {
		json_decref(v);
		return rc;
	}
	return deliver(l, v, 1, &ev->start_mark);
}

static int
on_alias(struct loader *l, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	char q[QUOTE_MAX];
	struct pent *a;
	json_t *v;
	int rc;

	if (expecting_key(l))
		return bad(l, BARGE_EFORMAT, &ev->start_mark, "alias as mapping key not supported");
	if ((a = pt_find(&l->anchors, NULL, name)) == NULL)
		return bad(l, BARGE_EFORMAT, &ev->start_mark, "unknown anchor \"%s\"",
		           quoted(name, strlen(name), q, sizeof(q)));
	if ((rc = budget(l, a->count, &ev->start_mark)) != BARGE_OK)
		return rc;
	/* A scalar is copied so that it keeps the alias's own position. */
	if (json_is_object(a->val) || json_is_array(a->val) || is_singleton(a->val)) {
		v = json_incref(a->val);
	} else {
		if ((v = json_copy(a->val)) == NULL)
			return nomem(l);
		if ((rc = note_pos(l, v, &ev->start_mark, 1)) != BARGE_OK) {
			json_decref(v);
			return rc;
		}
	}
	return deliver(l, v, a->count, &ev->start_mark);
}

static int
on_start(struct loader *l, const yaml_event_t *ev)
{
	int is_map = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	const yaml_char_t *anchor =
	        is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	struct frame *f;
	int kind, rc;

	if (expecting_key(l))
		return bad(l, BARGE_EFORMAT, &ev->start_mark, "mapping key must be a scalar");
	if ((rc = check_tag(l, ev, tag, &kind)) != BARGE_OK)
		return rc;
	if (l->depth >= YJSON_DEPTH_MAX)
		return bad(l, BARGE_ELIMIT, &ev->start_mark, "nested deeper than %d levels",
		           YJSON_DEPTH_MAX);
	if ((rc = budget(l, 1, &ev->start_mark)) != BARGE_OK)
		return rc;
	f = &l->st[l->depth];
	memset(f, 0, sizeof(*f));
	f->is_map = is_map;
	f->count = 1;
	f->line = (int)ev->start_mark.line + 1;
	f->col = (int)ev->start_mark.column + 1;
	if ((f->node = is_map ? json_object() : json_array()) == NULL)
		return nomem(l);
	l->depth++;
	if (anchor != NULL && (f->anchor = strdup((const char *)anchor)) == NULL)
		return nomem(l);
	return BARGE_OK;
}

static int
on_end(struct loader *l, const yaml_event_t *ev)
{
	struct frame *f = &l->st[l->depth - 1];
	yaml_mark_t m = { 0, (size_t)f->line - 1, (size_t)f->col - 1 };
	json_t *v;
	size_t count;
	int rc = BARGE_OK;

	if (f->merges != NULL)
		rc = apply_merges(l, f);
	if (rc == BARGE_OK)
		rc = note_pos(l, f->node, &m, f->count);
	if (rc == BARGE_OK && f->anchor != NULL)
		rc = set_anchor(l, (const yaml_char_t *)f->anchor, f->node, f->count);
	if (rc != BARGE_OK)
		return rc;
	/* The frame is gone once its node is handed on. */
	v = f->node;
	count = f->count;
	free(f->anchor);
	json_decref(f->merges);
	l->depth--;
	return deliver(l, v, count, &m);
}

static int
add_doc(struct loader *l)
{
	struct yjson *y = l->y;
	json_t **d;
	size_t cap;

	if (y->ndocs == y->cap) {
		cap = y->cap == 0 ? 4 : y->cap * 2;
		if ((d = realloc(y->docs, cap * sizeof(*d))) == NULL)
			return nomem(l);
		y->docs = d;
		y->cap = cap;
	}
	y->docs[y->ndocs++] = l->root;
	l->root = NULL;
	return BARGE_OK;
}

static int
parse_error(struct loader *l)
{
	yaml_parser_t *p = &l->parser;

	if (p->error == YAML_MEMORY_ERROR)
		return nomem(l);
	if (p->error == YAML_READER_ERROR)
		return err_set(l->err, BARGE_EFORMAT, "%s: %s at byte %zu", l->y->name,
		               p->problem != NULL ? p->problem : "unreadable", p->problem_offset);
	if (p->context != NULL)
		return bad(l, BARGE_EFORMAT, &p->problem_mark, "%s (%s at %zu:%zu)",
		           p->problem != NULL ? p->problem : "syntax error", p->context,
		           p->context_mark.line + 1, p->context_mark.column + 1);
	return bad(l, BARGE_EFORMAT, &p->problem_mark, "%s",
	           p->problem != NULL ? p->problem : "syntax error");
}

static int
run(struct loader *l)
{
	yaml_event_t ev;
	int rc = BARGE_OK, done = 0;

	while (!done && rc == BARGE_OK) {
		if (!yaml_parser_parse(&l->parser, &ev))
			return parse_error(l);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			/* Anchors do not cross documents. */
			pt_clear(&l->anchors);
			break;
		case YAML_DOCUMENT_END_EVENT:
			rc = add_doc(l);
			break;
		case YAML_SCALAR_EVENT:
			rc = on_scalar(l, &ev);
			break;
		case YAML_ALIAS_EVENT:
			rc = on_alias(l, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			rc = on_start(l, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			rc = on_end(l, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	return rc;
}

int
yjson_load_buf(const char *name, const char *buf, size_t len, struct yjson **out,
               struct barge_err *err)
{
	struct loader l;
	struct yjson *y = NULL;
	size_t i;
	int rc;

	if (len > YJSON_FILE_MAX)
		return err_set(err, BARGE_ELIMIT, "%s: larger than %d bytes", name, YJSON_FILE_MAX);
	memset(&l, 0, sizeof(l));
	l.err = err;
	if ((y = calloc(1, sizeof(*y))) == NULL || (y->name = strdup(name)) == NULL) {
		free(y);
		return err_set(err, BARGE_ENOMEM, "%s: out of memory", name);
	}
	l.y = y;
	l.st = calloc(YJSON_DEPTH_MAX, sizeof(*l.st));
	/* Floats are read with '.' whatever the program's locale says. */
	l.cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (l.st == NULL || l.cloc == (locale_t)0 || !yaml_parser_initialize(&l.parser)) {
		free(l.st);
		if (l.cloc != (locale_t)0)
			freelocale(l.cloc);
		yjson_free(y);
		return err_set(err, BARGE_ENOMEM, "%s: out of memory", name);
	}
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)buf, len);
	rc = run(&l);
	for (i = 0; i < l.depth; i++) {
		json_decref(l.st[i].node);
		json_decref(l.st[i].merges);
		free(l.st[i].anchor);
		free(l.st[i].key);
	}
	json_decref(l.root);
	free(l.st);
	pt_clear(&l.anchors);
	freelocale(l.cloc);
	yaml_parser_delete(&l.parser);
	if (rc != BARGE_OK) {
		yjson_free(y);
		return rc;
	}
	*out = y;
	return BARGE_OK;
}

int
yjson_load_file(const char *path, struct yjson **out, struct barge_err *err)
{
	char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = fu_read_file(path, YJSON_FILE_MAX, &buf, &len, err)) != BARGE_OK)
		return rc;
	rc = yjson_load_buf(path, buf, len, out, err);
	free(buf);
	return rc;
}

void
yjson_free(struct yjson *y)
{
	size_t i;

	if (y == NULL)
		return;
	for (i = 0; i < y->ndocs; i++)
		json_decref(y->docs[i]);
	free(y->docs);
	pt_clear(&y->pos);
	free(y->name);
	free(y);
}

const char *
yjson_name(const struct yjson *y)
{
	return y->name;
}

size_t
yjson_ndocs(const struct yjson *y)
{
	return y->ndocs;
}

json_t *
yjson_doc(const struct yjson *y, size_t i)
{
	return i < y->ndocs ? y->docs[i] : NULL;
}

int
yjson_pos(const struct yjson *y, const json_t *node, int *line, int *col)
{
	struct pent *e;

	if (node == NULL || is_singleton(node) || (e = pt_find(&y->pos, node, NULL)) == NULL)
		return -1;
	*line = e->line;
	*col = e->col;
	return 0;
}

int
yjson_key_pos(const struct yjson *y, const json_t *obj, const char *key, int *line, int *col)
{
	struct pent *e;

	if (obj == NULL || key == NULL || (e = pt_find(&y->pos, obj, key)) == NULL)
		return -1;
	*line = e->line;
	*col = e->col;
	return 0;
}
