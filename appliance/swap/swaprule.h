/*
 * swaprule: the webhook's rewrite rules (webhook.rules in barged.yaml,
 * docs/swap.md), compiled.
 *
 * An ordered list; a rule applies to a normalised reference
 * ("docker.io/library/nginx:latest") when one of its match expressions
 * (POSIX extended) finds it and none of its exclude expressions does.  The
 * first rule that applies decides: its target is barged's own layout
 * (<advertise>/<project>/H/P) or a replace prefix put in place of the part
 * the match expression matched, and its policy says whether to swap only
 * what the store holds (present), every reference (always) or none
 * (never).  A reference no rule applies to is left alone.  Without rules
 * in the configuration the set is one rule that applies to everything,
 * barged's layout, with webhook.policy: the webhook as it always was.
 *
 * A compiled set is read-only and may be shared by threads (regexec on a
 * compiled expression is thread-safe).  The set owns its expressions and
 * copies of the strings it keeps.
 */
#ifndef BARGE_SWAPRULE_H
#define BARGE_SWAPRULE_H

#include <stddef.h>

#include "config.h"
#include "err.h"

enum swaprule_policy { SWAPRULE_PRESENT, SWAPRULE_ALWAYS, SWAPRULE_NEVER };

struct swaprule_set;

/*
 * Compiles rules[0..n) (n == 0 and rules NULL: the default rule) with
 * dflt for rules without a policy.  Errors name "webhook.rules[I].match[J]"
 * and the expression's line:col.  *out: caller frees with swaprule_free.
 */
int swaprule_compile(const struct config_rule *rules, size_t n, enum swaprule_policy dflt,
                     struct swaprule_set **out, struct barge_err *err) BARGE_MUST_CHECK;
/* The set for c's webhook section (webhook.rules and webhook.policy). */
int swaprule_from_config(const struct config *c, struct swaprule_set **out,
                         struct barge_err *err) BARGE_MUST_CHECK;
void swaprule_free(struct swaprule_set *set);

size_t swaprule_count(const struct swaprule_set *set);
/* "rules[0]" or "rules[0] (docker.io rewrite)"; "default" for the default rule. */
const char *swaprule_label(const struct swaprule_set *set, size_t i);
enum swaprule_policy swaprule_policy(const struct swaprule_set *set, size_t i);
const char *swaprule_policy_name(enum swaprule_policy p);
/* Rule i's replace prefix, or NULL for barged's layout. */
const char *swaprule_replace(const struct swaprule_set *set, size_t i);

/* How rule i judged a reference (swaprule_test). */
struct swaprule_hit {
	int applies;   /* matched and not excluded */
	int match;     /* the match expression that found it, or -1 */
	int exclude;   /* the exclude expression that found it, or -1 */
	size_t so, eo; /* the part match found: [so, eo) of the reference */
};

/* Tests rule i against ref (normalised); fills *hit. */
void swaprule_test(const struct swaprule_set *set, size_t i, const char *ref,
                   struct swaprule_hit *hit);
/*
 * The first rule that applies to ref, or -1; *hit as swaprule_test.
 * Never more than swaprule_count(set) rules are tried.
 */
int swaprule_find(const struct swaprule_set *set, const char *ref, struct swaprule_hit *hit);
/*
 * Whether ref already starts with a replace prefix of a rule (followed by
 * "/", ":", "@" or its end), i.e. was swapped by one: a reinvocation
 * leaves it alone.
 */
int swaprule_is_target(const struct swaprule_set *set, const char *ref);

#endif
