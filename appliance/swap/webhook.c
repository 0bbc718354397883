/*
 * webhook: the image-swap mutating admission webhook (DESIGN §10).
 *
 * Which references are looked at:
 *   - CREATE of a Pod: every container, initContainer and ephemeralContainer
 *     image, and every image volume's reference.
 *   - UPDATE of a Pod: only the references the update itself changes, found
 *     by comparing with oldObject by container (or volume) name.  Swapping a
 *     reference the pod already runs would make the kubelet restart that
 *     container, and the API server refuses updates that touch fields Pods
 *     do not let change (ephemeral containers, volumes).
 *   - the pods/ephemeralcontainers subresource: only ephemeralContainers,
 *     again only those new or changed.
 *
 * The annotation barge.dev/original-images holds a JSON map from container
 * name (or "volume/<name>" for an image volume) to the reference the pod
 * asked for.  It is merged with an annotation already there, so that a
 * reinvocation or an update keeps the originals of earlier swaps.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "ref.h"
#include "store.h"
#include "swapheld.h"
#include "swaprule.h"
#include "webhook.h"

#define WEBHOOK_ANNOTATION "barge.dev/original-images"
#define WEBHOOK_OPTOUT_KEY "barge.dev/imageswap"
#define WEBHOOK_UID_MAX    256               /* Kubernetes sends a 36-byte UUID */
#define WEBHOOK_PATCH_MAX  (8 * 1024 * 1024) /* base64 of it still fits an int */
/*
 * Mutation runs before validation, so a review may hold far more containers
 * than Kubernetes accepts; each costs a store lookup (and, in an UPDATE, a
 * search of oldObject), and the API server waits 5 s at most.
 */
#define WEBHOOK_REFS_MAX  1024
#define WEBHOOK_SWAPS_MAX 512          /* bytes of the log note listing what was swapped */
#define WEBHOOK_TRACE_MAX (256 * 1024) /* bytes of an explanation (webhook test) */

/* The state of one review. */
struct wh {
	const struct webhook_opts *o;
	struct store *s;
	json_t *ops;                   /* the JSON Patch being built */
	json_t *originals;             /* name -> original reference, of what ops swap */
	size_t nrefs;                  /* references looked at */
	size_t nswapped;               /* references swapped */
	char swaps[WEBHOOK_SWAPS_MAX]; /* "FROM -> TO, ...", cut short with "..." */
	const struct swaprule_set *rules;
	struct swapheld_pins pins; /* the platforms the pod pins */
	int any_always;            /* a reference was swapped by a rule with policy always */
	size_t nplatform_absent;   /* references left for a platform the store lacks */
	char *trace;               /* with o->explain: lines, up to WEBHOOK_TRACE_MAX */
	size_t tracelen;
	struct barge_err *err;
};

static const char *const wh_lists[] = { "containers", "initContainers", "ephemeralContainers" };

static const char *const wh_reasons[] = {
	[WEBHOOK_SWAPPED_PRESENT] = "present",
	[WEBHOOK_SWAPPED_ALWAYS] = "always",
	[WEBHOOK_NOTHING_TO_SWAP] = "nothing_to_swap",
	[WEBHOOK_OPTED_OUT] = "opted_out",
	[WEBHOOK_PULL_SECRETS] = "pull_secrets",
	[WEBHOOK_PLATFORM_ABSENT] = "platform_absent",
	[WEBHOOK_NOT_POD] = "not_pod",
	[WEBHOOK_NOT_MUTATED] = "not_mutated",
	[WEBHOOK_TOO_MANY_IMAGES] = "too_many_images",
	[WEBHOOK_TOO_LARGE] = "too_large",
	[WEBHOOK_MALFORMED] = "malformed",
};

const char *
webhook_reason_name(enum webhook_reason r)
{
	if ((size_t)r >= sizeof(wh_reasons) / sizeof(wh_reasons[0]))
		return "malformed";
	return wh_reasons[r];
}

int
webhook_reason_swapped(enum webhook_reason r)
{
	return r == WEBHOOK_SWAPPED_PRESENT || r == WEBHOOK_SWAPPED_ALWAYS;
}

/* Adds "from -> to" to the note of what was swapped, while it has room. */
static void
wh_note_swap(struct wh *w, const char *from, const char *to)
{
	size_t n = strlen(w->swaps), room = sizeof(w->swaps) - n;
	int k;

	w->nswapped++;
	if (n >= 3 && strcmp(w->swaps + n - 3, "...") == 0)
		return;
	k = snprintf(w->swaps + n, room, "%s%s -> %s", n > 0 ? ", " : "", from, to);
	/* Cut short: the end says so. */
	if (k < 0 || (size_t)k >= room)
		memcpy(w->swaps + sizeof(w->swaps) - 4, "...", 4);
}

/* Serialises the response; patch (a JSON Patch array) may be NULL. */
static int
wh_answer(const char *uid, const json_t *patch, char **resp, size_t *resplen, struct barge_err *err)
{
	json_t *root = NULL, *r = NULL;
	char *raw = NULL, *out = NULL;
	unsigned char *b64 = NULL;
	size_t rawlen;
	int rc = BARGE_ENOMEM;

	r = json_pack("{s:s, s:b}", "uid", uid, "allowed", 1);
	if (r == NULL)
		goto fail;
	if (patch != NULL) {
		if ((raw = json_dumps(patch, JSON_COMPACT)) == NULL)
			goto fail;
		rawlen = strlen(raw);
		if (rawlen > WEBHOOK_PATCH_MAX) {
			rc = err_set(err, BARGE_ELIMIT, "JSON patch of %zu bytes exceeds %d",
			             rawlen, WEBHOOK_PATCH_MAX);
			goto fail;
		}
		if ((b64 = malloc((rawlen + 2) / 3 * 4 + 1)) == NULL)
			goto fail;
		EVP_EncodeBlock(b64, (const unsigned char *)raw, (int)rawlen);
		if (json_object_set_new(r, "patchType", json_string("JSONPatch")) != 0 ||
		    json_object_set_new(r, "patch", json_string((const char *)b64)) != 0)
			goto fail;
	}
	root = json_pack("{s:s, s:s, s:O}", "apiVersion", "admission.k8s.io/v1", "kind",
	                 "AdmissionReview", "response", r);
	if (root == NULL || (out = json_dumps(root, JSON_COMPACT)) == NULL)
		goto fail;
	*resplen = strlen(out);
	*resp = out;
	rc = BARGE_OK;
fail:
	if (rc == BARGE_ENOMEM)
		err_set(err, rc, "out of memory answering an admission review");
	json_decref(root);
	json_decref(r);
	free(raw);
	free(b64);
	return rc;
}

/* Whether the reference names the advertised registry already. */
static int
wh_on_advertised(const struct webhook_opts *o, const char *image, const struct ref *r)
{
	size_t n = strlen(o->advertise);

	if (strncmp(image, o->advertise, n) == 0 && image[n] == '/')
		return 1;
	return r != NULL && strcasecmp(r->host, o->advertise) == 0;
}

static void wh_trace(struct wh *w, const char *fmt, ...) BARGE_PRINTF(2, 3);

/* Adds a line to the explanation, when one is asked for and it has room. */
static void
wh_trace(struct wh *w, const char *fmt, ...)
{
	char line[1024];
	char *t;
	va_list ap;
	int n;

	if (!w->o->explain || w->tracelen >= WEBHOOK_TRACE_MAX)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if ((t = realloc(w->trace, w->tracelen + (size_t)n + 1)) == NULL)
		return;
	memcpy(t + w->tracelen, line, (size_t)n);
	w->tracelen += (size_t)n;
	t[w->tracelen] = '\0';
	w->trace = t;
}

/* Says, in the explanation, what each rule up to the deciding one made of norm. */
static void
wh_trace_rules(struct wh *w, const char *norm, int chosen)
{
	struct swaprule_hit h;
	size_t i, n = swaprule_count(w->rules);

	if (!w->o->explain)
		return;
	for (i = 0; i < n && (chosen < 0 || i <= (size_t)chosen); i++) {
		swaprule_test(w->rules, i, norm, &h);
		if (h.applies)
			wh_trace(w, "  %s: applies (match[%d]), policy %s",
			         swaprule_label(w->rules, i), h.match,
			         swaprule_policy_name(swaprule_policy(w->rules, i)));
		else if (h.exclude >= 0)
			wh_trace(w, "  %s: matched match[%d], excluded by exclude[%d]",
			         swaprule_label(w->rules, i), h.match, h.exclude);
		else
			wh_trace(w, "  %s: no match", swaprule_label(w->rules, i));
	}
}

/*
 * The reference rule i sends r (normalised as norm) to, or NULL on ENOMEM:
 * barged's layout, or norm with the matched part replaced.
 */
static char *
wh_target(struct wh *w, size_t i, const struct ref *r, const char *norm,
          const struct swaprule_hit *h)
{
	const char *rep = swaprule_replace(w->rules, i);
	char *repo, *s;

	if (rep != NULL)
		return fu_printf("%.*s%s%s", (int)h->so, norm, rep, norm + h->eo);
	if ((repo = ref_local_repo(r, w->o->project)) == NULL)
		return NULL;
	s = fu_printf("%s/%s%s%s%s%s", w->o->advertise, repo, r->tag != NULL ? ":" : "",
	              r->tag != NULL ? r->tag : "", r->digest != NULL ? "@" : "",
	              r->digest != NULL ? r->digest : "");
	free(repo);
	return s;
}

/*
 * Policy present: whether the store holds target (which must be on
 * barged) for the pod's platforms.  *why: NULL when held, else the reason.
 */
static int
wh_held(struct wh *w, const struct ref *t, const char **why)
{
	enum swapheld_why h;
	char plat[64];
	int rc;

	*why = "unverifiable";
	if (strcasecmp(t->host, w->o->advertise) != 0)
		return BARGE_OK;
	rc = swapheld_check(w->s, t->path, t->digest != NULL ? t->digest : t->tag, &w->pins, &h,
	                    plat, sizeof(plat), w->err);
	if (rc != BARGE_OK)
		return err_prefix(w->err, "looking up %s/%s", t->host, t->path);
	*why = h == SWAPHELD_OK ? NULL : h == SWAPHELD_ABSENT ? "absent" : "platform_absent";
	if (h == SWAPHELD_PLATFORM_ABSENT) {
		w->nplatform_absent++;
		wh_trace(w, "  the store lacks %s",
		         *plat != '\0' ? plat : "every platform of the index");
	}
	return BARGE_OK;
}

/*
 * Decides what image becomes: *out is the new reference (caller frees), or
 * NULL when it is left alone, and *why then says why.
 */
static int
wh_swap(struct wh *w, const char *image, char **out, const char **why)
{
	struct barge_err perr;
	struct swaprule_hit h;
	struct ref *r = NULL, *t = NULL;
	char *norm = NULL, *s = NULL;
	int rc = BARGE_OK, i;

	*out = NULL;
	*why = "already_swapped";
	if (wh_on_advertised(w->o, image, NULL) || swaprule_is_target(w->rules, image))
		return BARGE_OK;
	/* A reference the kubelet could not pull either is not ours to judge. */
	*why = "unparseable";
	if ((rc = ref_parse(image, &r, &perr)) != BARGE_OK)
		return rc == BARGE_ENOMEM ? err_set(w->err, rc, "out of memory") : BARGE_OK;
	*why = "already_swapped";
	if (wh_on_advertised(w->o, image, r))
		goto out;
	rc = BARGE_ENOMEM;
	if ((norm = ref_string(r)) == NULL)
		goto fail;
	rc = BARGE_OK;
	*why = "already_swapped";
	if (swaprule_is_target(w->rules, norm))
		goto out;
	i = swaprule_find(w->rules, norm, &h);
	wh_trace_rules(w, norm, i);
	*why = "no_rule";
	if (i < 0)
		goto out;
	*why = "policy_never";
	if (swaprule_policy(w->rules, (size_t)i) == SWAPRULE_NEVER)
		goto out;
	rc = BARGE_ENOMEM;
	if ((s = wh_target(w, (size_t)i, r, norm, &h)) == NULL)
		goto fail;
	/*
	 * The new name may pass the 255-byte limit, or a replace may make
	 * something no reference can be: then the kubelet could not pull it,
	 * and the original stays.
	 */
	*why = "invalid_target";
	if ((rc = ref_parse(s, &t, &perr)) != BARGE_OK) {
		rc = rc == BARGE_ENOMEM ? err_set(w->err, rc, "out of memory") : BARGE_OK;
		goto out;
	}
	if (swaprule_policy(w->rules, (size_t)i) == SWAPRULE_PRESENT) {
		if (w->s == NULL) {
			rc = err_set(w->err, BARGE_EINVAL, "webhook policy present needs a store");
			goto out;
		}
		if ((rc = wh_held(w, t, why)) != BARGE_OK || *why != NULL)
			goto out;
	} else {
		w->any_always = 1;
	}
	*why = NULL;
	*out = s;
	s = NULL;
	goto out;
fail:
	err_set(w->err, rc, "out of memory");
out:
	free(norm);
	free(s);
	ref_free(r);
	ref_free(t);
	return rc;
}

/* The member field of the element of old array list named name, or NULL. */
static const char *
wh_old_value(const json_t *oldspec, const char *list, const char *name, const char *field,
             const char *sub)
{
	const json_t *a = json_object_get(oldspec, list), *e;
	size_t i;

	json_array_foreach(a, i, e)
	{
		const json_t *v;

		if (!json_is_string(json_object_get(e, "name")) ||
		    strcmp(json_string_value(json_object_get(e, "name")), name) != 0)
			continue;
		v = json_object_get(e, field);
		if (sub != NULL)
			v = json_object_get(v, sub);
		return json_string_value(v);
	}
	return NULL;
}

/*
 * Looks at one reference: element i of spec's list, whose reference is
 * at field (or field.sub).  key names it in the originals annotation.
 */
static int
wh_visit(struct wh *w, const json_t *e, const json_t *oldspec, const char *list, size_t i,
         const char *field, const char *sub, const char *keyprefix)
{
	const json_t *v = json_object_get(e, field);
	const char *name = json_string_value(json_object_get(e, "name")), *image, *old, *why;
	char *to = NULL, *path = NULL, *key = NULL;
	json_t *op = NULL;
	int rc;

	if (sub != NULL)
		v = json_object_get(v, sub);
	if ((image = json_string_value(v)) == NULL || name == NULL)
		return BARGE_OK;
	/* Counted before the search of oldObject too, which is linear in its size. */
	if (++w->nrefs > WEBHOOK_REFS_MAX)
		return BARGE_ELIMIT;
	if (oldspec != NULL && (old = wh_old_value(oldspec, list, name, field, sub)) != NULL &&
	    strcmp(old, image) == 0) {
		wh_trace(w, "%s%s: %s: left (unchanged by the update)", keyprefix, name, image);
		return BARGE_OK;
	}
	wh_trace(w, "%s%s: %s", keyprefix, name, image);
	if ((rc = wh_swap(w, image, &to, &why)) != BARGE_OK)
		return rc;
	if (to == NULL) {
		wh_trace(w, "  left (%s)", why);
		return BARGE_OK;
	}
	wh_trace(w, "  swapped to %s", to);
	rc = BARGE_ENOMEM;
	path = sub != NULL ? fu_printf("/spec/%s/%zu/%s/%s", list, i, field, sub)
	                   : fu_printf("/spec/%s/%zu/%s", list, i, field);
	key = fu_printf("%s%s", keyprefix, name);
	if (path == NULL || key == NULL)
		goto fail;
	op = json_pack("{s:s, s:s, s:s}", "op", "replace", "path", path, "value", to);
	if (op == NULL || json_array_append(w->ops, op) != 0 ||
	    json_object_set_new(w->originals, key, json_string(image)) != 0)
		goto fail;
	wh_note_swap(w, image, to);
	rc = BARGE_OK;
fail:
	if (rc != BARGE_OK)
		err_set(w->err, rc, "out of memory");
	json_decref(op);
	free(to);
	free(path);
	free(key);
	return rc;
}

/* Collects the replace operations for spec (oldspec: the spec before an UPDATE, or NULL). */
static int
wh_pod(struct wh *w, const json_t *spec, const json_t *oldspec, int only_ephemeral)
{
	const json_t *e;
	size_t i, l;
	int rc;

	for (l = 0; l < sizeof(wh_lists) / sizeof(wh_lists[0]); l++) {
		if (only_ephemeral && strcmp(wh_lists[l], "ephemeralContainers") != 0)
			continue;
		json_array_foreach(json_object_get(spec, wh_lists[l]), i, e)
		{
			rc = wh_visit(w, e, oldspec, wh_lists[l], i, "image", NULL, "");
			if (rc != BARGE_OK)
				return rc;
		}
	}
	if (only_ephemeral)
		return BARGE_OK;
	json_array_foreach(json_object_get(spec, "volumes"), i, e)
	{
		rc = wh_visit(w, e, oldspec, "volumes", i, "image", "reference", "volume/");
		if (rc != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/* Appends the operation that records w->originals in the pod's annotation. */
static int
wh_annotate(struct wh *w, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const json_t *ann = json_object_get(meta, "annotations");
	const char *had = json_string_value(json_object_get(ann, WEBHOOK_ANNOTATION));
	json_t *merged = NULL, *op = NULL;
	char *text = NULL;
	int rc = BARGE_ENOMEM;

	/* Originals of earlier swaps stay; an unreadable annotation is replaced. */
	if (had != NULL && (merged = json_loads(had, JSON_REJECT_DUPLICATES, NULL)) != NULL &&
	    !json_is_object(merged)) {
		json_decref(merged);
		merged = NULL;
	}
	if (merged == NULL && (merged = json_object()) == NULL)
		goto fail;
	if (json_object_update(merged, w->originals) != 0 ||
	    (text = json_dumps(merged, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto fail;
	/*
	 * "add" on an existing member replaces it (RFC 6902 4.1), so one form
	 * serves a new annotation and an old one; the key's "/" is "~1".
	 */
	if (!json_is_object(meta))
		op = json_pack("{s:s, s:s, s:{s:{s:s}}}", "op", "add", "path", "/metadata", "value",
		               "annotations", WEBHOOK_ANNOTATION, text);
	else if (!json_is_object(ann))
		op = json_pack("{s:s, s:s, s:{s:s}}", "op", "add", "path", "/metadata/annotations",
		               "value", WEBHOOK_ANNOTATION, text);
	else
		op = json_pack("{s:s, s:s, s:s}", "op", "add", "path",
		               "/metadata/annotations/barge.dev~1original-images", "value", text);
	if (op == NULL || json_array_append(w->ops, op) != 0)
		goto fail;
	rc = BARGE_OK;
fail:
	if (rc != BARGE_OK)
		err_set(w->err, rc, "out of memory");
	json_decref(merged);
	json_decref(op);
	free(text);
	return rc;
}

/* Whether a rule of set swaps only what the store holds. */
static int
wh_needs_store(const struct swaprule_set *set)
{
	size_t i;

	for (i = 0; i < swaprule_count(set); i++)
		if (swaprule_policy(set, i) == SWAPRULE_PRESENT)
			return 1;
	return 0;
}

/* Whether root is an admission.k8s.io/v1 AdmissionReview. */
static int
wh_is_review(const json_t *root)
{
	const char *v = json_string_value(json_object_get(root, "apiVersion"));
	const char *k = json_string_value(json_object_get(root, "kind"));

	return v != NULL && k != NULL && strcmp(v, "admission.k8s.io/v1") == 0 &&
	       strcmp(k, "AdmissionReview") == 0;
}

/* Annotates the patch, answers with it and says what was swapped in *res. */
static int
wh_patched(struct wh *w, const json_t *obj, const char *uid, const char *pod, char **resp,
           size_t *resplen, struct webhook_result *res)
{
	char *note;
	int rc;

	if ((rc = wh_annotate(w, obj)) != BARGE_OK)
		return rc;
	if ((note = fu_printf("pod %s: %s", pod, w->swaps)) == NULL)
		return err_set(w->err, BARGE_ENOMEM, "out of memory");
	if ((rc = wh_answer(uid, w->ops, resp, resplen, w->err)) != BARGE_OK) {
		free(note);
		return rc;
	}
	res->reason = w->any_always ? WEBHOOK_SWAPPED_ALWAYS : WEBHOOK_SWAPPED_PRESENT;
	res->swapped = w->nswapped;
	res->note = note;
	return BARGE_OK;
}

/* A name for the pod in notes: "namespace/name". */
static char *
wh_pod_name(const json_t *req, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(req, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (name == NULL || *name == '\0')
		name = json_string_value(json_object_get(meta, "generateName"));
	return fu_printf("%s/%s", ns != NULL ? ns : "", name != NULL ? name : "");
}

int
webhook_review(const struct webhook_opts *o, struct store *s, const char *body, size_t len,
               char **resp, size_t *resplen, struct webhook_result *res, struct barge_err *err)
{
	struct wh w = { .o = o, .s = s, .rules = o->rules, .err = err };
	struct swaprule_set *dflt = NULL;
	json_t *root = NULL;
	const json_t *req, *kind, *obj, *old = NULL, *v;
	const char *uid = "", *op, *sub, *group, *k;
	char *why = NULL, *pod = NULL;
	json_error_t jerr;
	int rc = BARGE_ENOMEM;

	*resp = NULL;
	memset(res, 0, sizeof(*res));
	res->reason = WEBHOOK_MALFORMED;
	if (len > WEBHOOK_BODY_MAX) {
		res->reason = WEBHOOK_TOO_LARGE;
		why = fu_printf("AdmissionReview of %zu bytes exceeds the limit of %d", len,
		                WEBHOOK_BODY_MAX);
		goto answer;
	}
	root = json_loadb(body != NULL ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		why = fu_printf("malformed AdmissionReview: %s (line %d, column %d)", jerr.text,
		                jerr.line, jerr.column);
		goto answer;
	}
	req = json_object_get(root, "request");
	v = json_object_get(req, "uid");
	if (json_is_string(v) && json_string_length(v) <= WEBHOOK_UID_MAX &&
	    strlen(json_string_value(v)) == json_string_length(v))
		uid = json_string_value(v);
	if (!wh_is_review(root) || !json_is_object(req)) {
		why = fu_printf("not an admission.k8s.io/v1 AdmissionReview request");
		goto answer;
	}
	if (*uid == '\0') {
		why = fu_printf("AdmissionReview without a usable request.uid");
		goto answer;
	}
	kind = json_object_get(req, "kind");
	group = json_string_value(json_object_get(kind, "group"));
	k = json_string_value(json_object_get(kind, "kind"));
	if (group == NULL || k == NULL || *group != '\0' || strcmp(k, "Pod") != 0) {
		res->reason = WEBHOOK_NOT_POD;
		why = fu_printf("not a Pod (kind %s%s%s)", group != NULL ? group : "",
		                group != NULL && *group != '\0' ? "/" : "", k != NULL ? k : "?");
		goto answer;
	}
	op = json_string_value(json_object_get(req, "operation"));
	res->reason = WEBHOOK_NOT_MUTATED;
	if (op == NULL || (strcmp(op, "CREATE") != 0 && strcmp(op, "UPDATE") != 0)) {
		why = fu_printf("operation %s is not mutated", op != NULL ? op : "(none)");
		goto answer;
	}
	sub = json_string_value(json_object_get(req, "subResource"));
	if (sub != NULL && *sub != '\0' && strcmp(sub, "ephemeralcontainers") != 0) {
		why = fu_printf("subresource %s is not mutated", sub);
		goto answer;
	}
	obj = json_object_get(req, "object");
	res->reason = WEBHOOK_MALFORMED;
	if (!json_is_object(obj) || !json_is_object(json_object_get(obj, "spec"))) {
		why = fu_printf("Pod review without an object.spec");
		goto answer;
	}
	if ((pod = wh_pod_name(req, obj)) == NULL)
		goto fail;
	v = json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"),
	                    WEBHOOK_OPTOUT_KEY);
	if (json_is_string(v) && strcmp(json_string_value(v), "disable") == 0) {
		res->reason = WEBHOOK_OPTED_OUT;
		why = fu_printf("pod %s is labelled %s=disable", pod, WEBHOOK_OPTOUT_KEY);
		goto answer;
	}
	v = json_object_get(json_object_get(obj, "spec"), "imagePullSecrets");
	if (o->skip_pull_secrets && json_array_size(v) > 0) {
		res->reason = WEBHOOK_PULL_SECRETS;
		why = fu_printf("pod %s has imagePullSecrets (webhook.skip_pods_with_pull_secrets)",
		                pod);
		goto answer;
	}
	if (w.rules == NULL) {
		rc = swaprule_compile(
		        NULL, 0, o->policy == WEBHOOK_ALWAYS ? SWAPRULE_ALWAYS : SWAPRULE_PRESENT,
		        &dflt, err);
		if (rc != BARGE_OK)
			goto fail;
		w.rules = dflt;
	}
	swapheld_pins(json_object_get(obj, "spec"), &w.pins);
	if (strcmp(op, "UPDATE") == 0) {
		old = json_object_get(json_object_get(req, "oldObject"), "spec");
		if (!json_is_object(old))
			old = NULL;
	}
	if (s == NULL && wh_needs_store(w.rules)) {
		rc = err_set(err, BARGE_EINVAL, "webhook policy present needs a store");
		goto fail;
	}
	if ((w.ops = json_array()) == NULL || (w.originals = json_object()) == NULL)
		goto fail;
	rc = wh_pod(&w, json_object_get(obj, "spec"), old,
	            sub != NULL && strcmp(sub, "ephemeralcontainers") == 0);
	if (rc == BARGE_ELIMIT) {
		res->reason = WEBHOOK_TOO_MANY_IMAGES;
		why = fu_printf("pod %s has more than %d image references", pod, WEBHOOK_REFS_MAX);
		goto answer;
	}
	if (rc != BARGE_OK)
		goto fail;
	if (json_array_size(w.ops) == 0 && w.nplatform_absent > 0) {
		res->reason = WEBHOOK_PLATFORM_ABSENT;
		why = fu_printf("pod %s: the store lacks the platform the pod pins for %zu "
		                "image(s)",
		                pod, w.nplatform_absent);
		goto answer;
	}
	if (json_array_size(w.ops) == 0) {
		res->reason = WEBHOOK_NOTHING_TO_SWAP;
		why = fu_printf("pod %s: no image to swap", pod);
		goto answer;
	}
	if ((rc = wh_patched(&w, obj, uid, pod, resp, resplen, res)) != BARGE_OK)
		goto fail;
	goto out;
answer:
	if (why == NULL) {
		rc = BARGE_ENOMEM;
		goto fail;
	}
	if ((rc = wh_answer(uid, NULL, resp, resplen, err)) != BARGE_OK)
		goto out;
	res->note = why;
	why = NULL;
	goto out;
fail:
	if (rc == BARGE_ENOMEM)
		err_set(err, rc, "out of memory reviewing a pod");
out:
	if (w.trace != NULL) {
		res->trace = w.trace;
		w.trace = NULL;
	}
	swaprule_free(dflt);
	json_decref(w.ops);
	json_decref(w.originals);
	json_decref(root);
	free(why);
	free(pod);
	return rc;
}
