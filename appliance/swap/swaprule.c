/*
 * swaprule: webhook.rules compiled into regex_t (swaprule.h).  Owns the
 * compiled expressions and the rules' labels and replace prefixes.
 */
#include "swaprule.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWAPRULE_LABEL_MAX 96

struct swaprule {
	regex_t *match, *exclude;
	size_t nmatch, nexclude;
	char *replace;
	enum swaprule_policy policy;
	char label[SWAPRULE_LABEL_MAX];
};

struct swaprule_set {
	struct swaprule *r;
	size_t n;
};

static const char *const policy_names[] = { "present", "always", "never" };

const char *
swaprule_policy_name(enum swaprule_policy p)
{
	return (size_t)p < 3 ? policy_names[p] : "?";
}

void
swaprule_free(struct swaprule_set *set)
{
	size_t i, j;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		for (j = 0; j < set->r[i].nmatch; j++)
			regfree(&set->r[i].match[j]);
		for (j = 0; j < set->r[i].nexclude; j++)
			regfree(&set->r[i].exclude[j]);
		free(set->r[i].match);
		free(set->r[i].exclude);
		free(set->r[i].replace);
	}
	free(set->r);
	free(set);
}

/*
 * Compiles exprs into *out.  Match expressions of a replace rule keep
 * their positions (the part replaced); the others need only yes or no.
 */
static int
compile_exprs(const struct config_expr *e, size_t n, int nosub, size_t rule, const char *what,
              regex_t **out, size_t *nout, struct barge_err *err)
{
	char msg[256];
	size_t j;
	int rc;

	if (n == 0)
		return BARGE_OK;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (j = 0; j < n; j++) {
		if (strlen(e[j].re) > CONFIG_RULE_EXPR_MAX)
			return err_set(
			        err, BARGE_ELIMIT,
			        "line %d:%d: webhook.rules[%zu].%s[%zu]: longer than %d bytes",
			        e[j].line, e[j].col, rule, what, j, CONFIG_RULE_EXPR_MAX);
		rc = regcomp(&(*out)[j], e[j].re, REG_EXTENDED | (nosub ? REG_NOSUB : 0));
		if (rc != 0) {
			regerror(rc, &(*out)[j], msg, sizeof(msg));
			regfree(&(*out)[j]);
			return err_set(err, BARGE_EINVAL,
			               "line %d:%d: webhook.rules[%zu].%s[%zu]: \"%.100s\": %s",
			               e[j].line, e[j].col, rule, what, j, e[j].re, msg);
		}
		(*nout)++;
	}
	return BARGE_OK;
}

int
swaprule_compile(const struct config_rule *rules, size_t n, enum swaprule_policy dflt,
                 struct swaprule_set **out, struct barge_err *err)
{
	struct swaprule_set *set = NULL;
	struct swaprule *r;
	size_t i;
	int rc = BARGE_ENOMEM;

	if (n > CONFIG_RULES_MAX)
		return err_set(err, BARGE_ELIMIT, "webhook.rules: more than %d rules",
		               CONFIG_RULES_MAX);
	if ((set = calloc(1, sizeof(*set))) == NULL ||
	    (set->r = calloc(n > 0 ? n : 1, sizeof(*set->r))) == NULL)
		goto fail;
	if (rules == NULL) {
		/* The default: every reference, barged's layout, webhook.policy. */
		set->n = 1;
		set->r[0].policy = dflt;
		snprintf(set->r[0].label, sizeof(set->r[0].label), "default");
		*out = set;
		return BARGE_OK;
	}
	for (i = 0; i < n; i++) {
		r = &set->r[i];
		set->n++;
		r->policy = rules[i].policy == CONFIG_RULE_INHERIT
		                    ? dflt
		                    : (enum swaprule_policy)(rules[i].policy - 1);
		if (rules[i].name != NULL)
			snprintf(r->label, sizeof(r->label), "rules[%zu] (%.60s)", i,
			         rules[i].name);
		else
			snprintf(r->label, sizeof(r->label), "rules[%zu]", i);
		if (rules[i].replace != NULL && (r->replace = strdup(rules[i].replace)) == NULL)
			goto fail;
		if ((rc = compile_exprs(rules[i].match, rules[i].nmatch, rules[i].replace == NULL,
		                        i, "match", &r->match, &r->nmatch, err)) != BARGE_OK ||
		    (rc = compile_exprs(rules[i].exclude, rules[i].nexclude, 1, i, "exclude",
		                        &r->exclude, &r->nexclude, err)) != BARGE_OK)
			goto fail;
		rc = BARGE_ENOMEM;
	}
	*out = set;
	return BARGE_OK;
fail:
	if (rc == BARGE_ENOMEM)
		err_set(err, rc, "out of memory");
	swaprule_free(set);
	return rc;
}

int
swaprule_from_config(const struct config *c, struct swaprule_set **out, struct barge_err *err)
{
	return swaprule_compile(c->webhook.rules, c->webhook.nrules,
	                        c->webhook.policy == CONFIG_POLICY_ALWAYS ? SWAPRULE_ALWAYS
	                                                                  : SWAPRULE_PRESENT,
	                        out, err);
}

size_t
swaprule_count(const struct swaprule_set *set)
{
	return set->n;
}

const char *
swaprule_label(const struct swaprule_set *set, size_t i)
{
	return set->r[i].label;
}

enum swaprule_policy
swaprule_policy(const struct swaprule_set *set, size_t i)
{
	return set->r[i].policy;
}

const char *
swaprule_replace(const struct swaprule_set *set, size_t i)
{
	return set->r[i].replace;
}

void
swaprule_test(const struct swaprule_set *set, size_t i, const char *ref, struct swaprule_hit *hit)
{
	const struct swaprule *r = &set->r[i];
	regmatch_t m[1];
	size_t j;

	memset(hit, 0, sizeof(*hit));
	hit->match = hit->exclude = -1;
	hit->eo = strlen(ref);
	/* The default rule has no expressions and applies to everything. */
	if (r->nmatch == 0)
		hit->applies = 1;
	for (j = 0; j < r->nmatch; j++) {
		if (regexec(&r->match[j], ref, r->replace != NULL ? 1 : 0, m, 0) != 0)
			continue;
		hit->match = (int)j;
		if (r->replace != NULL) {
			hit->so = (size_t)m[0].rm_so;
			hit->eo = (size_t)m[0].rm_eo;
		}
		hit->applies = 1;
		break;
	}
	if (!hit->applies)
		return;
	for (j = 0; j < r->nexclude; j++) {
		if (regexec(&r->exclude[j], ref, 0, NULL, 0) == 0) {
			hit->exclude = (int)j;
			hit->applies = 0;
			return;
		}
	}
}

int
swaprule_find(const struct swaprule_set *set, const char *ref, struct swaprule_hit *hit)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		swaprule_test(set, i, ref, hit);
		if (hit->applies)
			return (int)i;
	}
	return -1;
}

int
swaprule_is_target(const struct swaprule_set *set, const char *ref)
{
	size_t i, n;

	for (i = 0; i < set->n; i++) {
		if (set->r[i].replace == NULL)
			continue;
		n = strlen(set->r[i].replace);
		if (strncmp(ref, set->r[i].replace, n) == 0 &&
		    (set->r[i].replace[n - 1] == '/' || strchr("/:@", ref[n]) != NULL))
			return 1;
	}
	return 0;
}
