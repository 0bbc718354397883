#include "test_main.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "store.h"
#include "swaprule.h"
#include "webhook.h"

/*
 * The store every test reviews against: manifest blobs whose bytes are
 * {"schemaVersion":2,"barge":"<name>"}, so the fixtures can name their
 * digests.
 */
static const struct {
	const char *name, *repo, *tag;
} held[] = {
	{ "nginx", "edge/docker.io/library/nginx", "1.25" },
	{ "nginx", "edge/docker.io/library/nginx", "latest" },
	{ "app", "edge/registry.local_5000/team/app", NULL },
	{ "busybox", "edge/docker.io/library/busybox", "1.36" },
	{ "data", "edge/quay.io/org/data", "v1" },
};

struct fixture {
	char dir[FX_DIR_MAX];
	struct store *s;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_blob_writer *w;
	struct barge_err err;
	char digest[DIGEST_STR_MAX], body[128];
	size_t i, n;

	assert_non_null(f);
	fx_tmpdir(f->dir, "webhook");
	assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
	assert_int_equal(store_begin(f->s, &err), BARGE_OK);
	for (i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
		n = (size_t)snprintf(body, sizeof(body), "{\"schemaVersion\":2,\"barge\":\"%s\"}",
		                     held[i].name);
		assert_int_equal(digest_buf(DIGEST_SHA256, body, n, digest, &err), BARGE_OK);
		if (!store_blob_exists(f->s, digest)) {
			assert_int_equal(store_blob_begin(f->s, digest, (int64_t)n, &w, &err),
			                 BARGE_OK);
			assert_int_equal(store_blob_write(w, body, n, &err), BARGE_OK);
			assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
		}
		assert_int_equal(store_put_manifest(f->s, held[i].repo, digest,
		                                    "application/vnd.oci.image.manifest.v1+json",
		                                    (int64_t)n, &err),
		                 BARGE_OK);
		if (held[i].tag != NULL)
			assert_int_equal(
			        store_put_tag(f->s, held[i].repo, held[i].tag, digest, &err),
			        BARGE_OK);
	}
	assert_int_equal(store_commit(f->s, &err), BARGE_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	fx_rmtree(f->dir);
	free(f);
	return 0;
}

static json_t *
load_fixture(const char *name, char **raw, size_t *len)
{
	struct barge_err err;
	char *path = fu_printf("%s/admission/%s", BARGE_TEST_DATA, name);
	json_t *j;

	assert_non_null(path);
	assert_int_equal(fu_read_file(path, WEBHOOK_BODY_MAX, raw, len, &err), BARGE_OK);
	j = json_loadb(*raw, *len, 0, NULL);
	assert_non_null(j);
	free(path);
	return j;
}

/* --- a small RFC 6902 applier (add, replace, remove) ---------------------- */

/* Splits off the last token of pointer p; returns the parent node, token in tok. */
static json_t *
pointer_parent(json_t *doc, const char *p, char *tok, size_t toksz)
{
	json_t *cur = doc;
	const char *s = p;

	assert_true(*s == '/');
	for (;;) {
		size_t n = 0;

		s++;
		while (*s != '\0' && *s != '/') {
			assert_true(n + 1 < toksz);
			if (*s == '~') {
				assert_true(s[1] == '0' || s[1] == '1');
				tok[n++] = s[1] == '0' ? '~' : '/';
				s += 2;
			} else {
				tok[n++] = *s++;
			}
		}
		tok[n] = '\0';
		if (*s == '\0')
			return cur;
		if (json_is_array(cur)) {
			char *end;
			unsigned long i = strtoul(tok, &end, 10);

			assert_true(*tok != '\0' && *end == '\0');
			cur = json_array_get(cur, i);
		} else {
			cur = json_object_get(cur, tok);
		}
		assert_non_null(cur);
	}
}

static void
apply_patch(json_t *doc, const json_t *patch)
{
	const json_t *op;
	size_t i;

	assert_true(json_is_array(patch));
	json_array_foreach(patch, i, op)
	{
		const char *o = json_string_value(json_object_get(op, "op"));
		const char *p = json_string_value(json_object_get(op, "path"));
		json_t *v = json_object_get(op, "value"), *parent;
		char tok[256];

		assert_non_null(o);
		assert_non_null(p);
		parent = pointer_parent(doc, p, tok, sizeof(tok));
		if (json_is_array(parent)) {
			unsigned long idx = strtoul(tok, NULL, 10);

			if (strcmp(o, "replace") == 0) {
				assert_true(idx < json_array_size(parent));
				assert_int_equal(json_array_set(parent, idx, v), 0);
			} else if (strcmp(o, "remove") == 0) {
				assert_int_equal(json_array_remove(parent, idx), 0);
			} else {
				assert_string_equal(o, "add");
				if (strcmp(tok, "-") == 0)
					assert_int_equal(json_array_append(parent, v), 0);
				else
					assert_int_equal(json_array_insert(parent, idx, v), 0);
			}
		} else {
			assert_true(json_is_object(parent));
			if (strcmp(o, "replace") == 0 || strcmp(o, "remove") == 0)
				assert_non_null(json_object_get(parent, tok)); /* must exist */
			if (strcmp(o, "remove") == 0)
				assert_int_equal(json_object_del(parent, tok), 0);
			else
				assert_int_equal(json_object_set(parent, tok, v), 0);
		}
	}
}

/* --- running a review ----------------------------------------------------- */

static const struct webhook_opts present = { .advertise = "127.0.0.1:30003",
	                                     .project = "edge",
	                                     .policy = WEBHOOK_PRESENT };
static const struct webhook_opts always = { .advertise = "127.0.0.1:30003",
	                                    .project = "edge",
	                                    .policy = WEBHOOK_ALWAYS };

/*
 * Reviews body and checks the envelope: AdmissionReview v1, uid, allowed.
 * Returns the decoded patch (NULL without one); *res as webhook_review, whose
 * decision must agree with the patch.
 */
static json_t *
review(const struct webhook_opts *o, struct store *s, const char *body, size_t len, const char *uid,
       struct webhook_result *res)
{
	struct barge_err err;
	char *resp = NULL;
	size_t resplen = 0;
	json_t *r, *rr, *patch = NULL;
	const char *b64;

	assert_int_equal(webhook_review(o, s, body, len, &resp, &resplen, res, &err), BARGE_OK);
	assert_non_null(res->note);
	assert_non_null(resp);
	assert_int_equal(strlen(resp), resplen);
	r = json_loadb(resp, resplen, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "apiVersion")),
	                    "admission.k8s.io/v1");
	assert_string_equal(json_string_value(json_object_get(r, "kind")), "AdmissionReview");
	rr = json_object_get(r, "response");
	assert_string_equal(json_string_value(json_object_get(rr, "uid")), uid);
	assert_true(json_is_true(json_object_get(rr, "allowed")));
	b64 = json_string_value(json_object_get(rr, "patch"));
	if (b64 != NULL) {
		size_t n = strlen(b64);
		unsigned char *raw = malloc(n / 4 * 3 + 1);
		int m;

		assert_string_equal(json_string_value(json_object_get(rr, "patchType")),
		                    "JSONPatch");
		assert_non_null(raw);
		m = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
		assert_true(m >= 0);
		/* EVP_DecodeBlock counts the padding as zero bytes. */
		while (m > 0 && raw[m - 1] == '\0')
			m--;
		patch = json_loadb((const char *)raw, (size_t)m, JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(patch);
		free(raw);
		assert_true(webhook_reason_swapped(res->reason));
		assert_true(res->swapped > 0);
	} else {
		assert_null(json_object_get(rr, "patchType"));
		assert_false(webhook_reason_swapped(res->reason));
		assert_int_equal(res->swapped, 0);
	}
	json_decref(r);
	free(resp);
	return patch;
}

/*
 * Runs fixture NAME.json through the webhook, applies the patch to its
 * request.object and compares with NAME.expected.json.  Returns the number
 * of patch operations.
 */
static size_t
run_case(void **state, const char *name, const struct webhook_opts *o)
{
	struct fixture *f = *state;
	struct webhook_result res;
	char *raw = NULL, *raw2 = NULL, *fname;
	size_t len, len2, nops = 0;
	json_t *rv, *pod, *want, *patch;

	fname = fu_printf("%s.json", name);
	rv = load_fixture(fname, &raw, &len);
	free(fname);
	fname = fu_printf("%s.expected.json", name);
	want = load_fixture(fname, &raw2, &len2);
	free(fname);
	patch = review(o, f->s, raw, len,
	               json_string_value(json_object_get(json_object_get(rv, "request"), "uid")),
	               &res);
	pod = json_deep_copy(json_object_get(json_object_get(rv, "request"), "object"));
	assert_non_null(pod);
	if (patch != NULL) {
		nops = json_array_size(patch);
		apply_patch(pod, patch);
	}
	if (!json_equal(pod, want)) {
		char *got = json_dumps(pod, JSON_INDENT(2) | JSON_SORT_KEYS);

		print_error("%s: patched pod differs from the expected one:\n%s\n", name, got);
		free(got);
		fail();
	}
	json_decref(patch);
	json_decref(pod);
	json_decref(want);
	json_decref(rv);
	free(raw);
	free(raw2);
	free(res.note);
	return nops;
}

/*
 * Reviews body (not a fixture) and expects no patch, a note holding want,
 * and the decision named reason (NULL: any).
 */
static void
expect_no_patch(struct store *s, const char *body, size_t len, const char *uid, const char *want,
                const char *reason)
{
	struct webhook_result res;
	json_t *patch = review(&present, s, body, len, uid, &res);

	assert_null(patch);
	if (res.note == NULL || strstr(res.note, want) == NULL) {
		print_error("note '%s' does not say '%s'\n", res.note != NULL ? res.note : "(none)",
		            want);
		fail();
	}
	if (reason != NULL)
		assert_string_equal(webhook_reason_name(res.reason), reason);
	free(res.note);
}

static void
expect_fixture_no_patch(void **state, const char *name, const char *uid, const char *want,
                        const char *reason)
{
	struct fixture *f = *state;
	char *raw = NULL, *fname = fu_printf("%s.json", name);
	size_t len;
	json_t *rv = load_fixture(fname, &raw, &len);

	expect_no_patch(f->s, raw, len, uid, want, reason);
	json_decref(rv);
	free(raw);
	free(fname);
}

/* --- pods that get patched ------------------------------------------------ */

/*
 * Short names, tag+digest, digest-only from a host with a port, an image
 * volume, absent tag, absent digest of a repository that exists, and an
 * annotation map that already exists.
 */
static void
test_create_present(void **state)
{
	assert_int_equal(run_case(state, "create-present", &present), 5);
}

/* Everything parseable swapped, hosts with ports and IPv6, no annotations yet. */
static void
test_create_always(void **state)
{
	assert_int_equal(run_case(state, "create-always", &always), 6);
}

static void
test_create_always_without_store(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(run_case(state, "create-always", &always), 6);
}

/* Reinvocation: what is swapped stays, a sidecar added since is swapped, originals merge. */
static void
test_reinvoke(void **state)
{
	assert_int_equal(run_case(state, "reinvoke", &present), 2);
}

static void
test_already_swapped(void **state)
{
	assert_int_equal(run_case(state, "swapped", &always), 0);
}

/* An UPDATE swaps only the image it changes, not the one the pod already runs. */
static void
test_update(void **state)
{
	assert_int_equal(run_case(state, "update", &present), 2);
}

static void
test_ephemeral(void **state)
{
	assert_int_equal(run_case(state, "ephemeral", &present), 2);
}

static void
test_dry_run(void **state)
{
	assert_int_equal(run_case(state, "dryrun", &present), 2);
}

/* Applying the patch and reviewing the result again changes nothing. */
static void
test_idempotent(void **state)
{
	struct fixture *f = *state;
	struct webhook_result res;
	char *raw = NULL, *body;
	size_t len;
	json_t *rv = load_fixture("create-present.json", &raw, &len), *patch, *req;

	req = json_object_get(rv, "request");
	patch = review(&present, f->s, raw, len, json_string_value(json_object_get(req, "uid")),
	               &res);
	assert_non_null(patch);
	apply_patch(json_object_get(req, "object"), patch);
	body = json_dumps(rv, JSON_COMPACT);
	assert_non_null(body);
	expect_no_patch(f->s, body, strlen(body), json_string_value(json_object_get(req, "uid")),
	                "no image to swap", "nothing_to_swap");
	json_decref(patch);
	json_decref(rv);
	free(body);
	free(raw);
	free(res.note);
}

/* --- reviews that are allowed without a patch ----------------------------- */

static void
test_optout_label(void **state)
{
	assert_int_equal(run_case(state, "optout", &always), 0);
	expect_fixture_no_patch(state, "optout", "c7d8e9f0-a1b2-4c3d-8e4f-a5b6c7d8e9f0",
	                        "labelled barge.dev/imageswap=disable", "opted_out");
}

static void
test_not_a_pod(void **state)
{
	expect_fixture_no_patch(state, "deployment", "d8e9f0a1-b2c3-4d4e-9f5a-b6c7d8e9f0a1",
	                        "not a Pod (kind apps/Deployment)", "not_pod");
}

static void
test_delete(void **state)
{
	expect_fixture_no_patch(state, "delete", "e9f0a1b2-c3d4-4e5f-8a6b-c7d8e9f0a1b2",
	                        "operation DELETE", "not_mutated");
}

static void
test_no_uid(void **state)
{
	expect_fixture_no_patch(state, "nouid", "", "request.uid", "malformed");
}

static void
test_status_subresource(void **state)
{
	expect_fixture_no_patch(state, "status", "f0a1b2c3-d4e5-4f6a-9b7c-d8e9f0a1b2c3",
	                        "subresource status", "not_mutated");
}

static void
test_v1beta1(void **state)
{
	expect_fixture_no_patch(state, "v1beta1", "a1b2c3d4-e5f6-4a7b-8c8d-e9f0a1b2c3d4",
	                        "admission.k8s.io/v1 AdmissionReview", "malformed");
}

static void
test_malformed(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"null",
		"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
		("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/"
		 "v1\",\"request\":[]}"),
		"\xff\xfe{}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_no_patch(f->s, bad[i], strlen(bad[i]), "", "", "malformed");
	expect_no_patch(f->s, NULL, 0, "", "malformed", "malformed");
	expect_no_patch(f->s, "{\"a\":1,\"a\":2}", 13, "", "duplicate", "malformed");
}

/* Wrong types where strings, arrays and objects belong: answered, never a crash. */
static void
test_wrong_types(void **state)
{
	struct fixture *f = *state;
	static const char *const head = "{\"kind\":\"AdmissionReview\",\"apiVersion\":"
	                                "\"admission.k8s.io/v1\",\"request\":{\"uid\":\"u1\","
	                                "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
	                                "\"Pod\"},\"operation\":\"CREATE\",";
	static const char *const tails[] = {
		"\"object\":{\"spec\":{\"containers\":\"nginx\"}}}}",
		"\"object\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":5}]}}}}",
		"\"object\":{\"spec\":{\"containers\":[{\"image\":\"nginx\"}]}}}}",
		"\"object\":{\"spec\":{\"containers\":[null,7,\"x\"]}}}}",
		("\"object\":{\"metadata\":7,\"spec\":{\"volumes\":[{\"name\":\"v\",\"image\":7}]}}"
		 "}"
		 "}"),
		"\"object\":{\"spec\":[]}}}",
		"\"object\":\"pod\"}}",
	};
	size_t i;

	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char *body = fu_printf("%s%s", head, tails[i]);

		assert_non_null(body);
		expect_no_patch(f->s, body, strlen(body), "u1", "", NULL);
		free(body);
	}
}

/* metadata that is not an object gets a whole new one with the annotation. */
static void
test_metadata_missing(void **state)
{
	struct fixture *f = *state;
	static const char body[] =
	        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
	        "\"request\":{\"uid\":\"u2\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
	        "\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":{\"spec\":{"
	        "\"containers\":[{\"name\":\"a\",\"image\":\"nginx:1.25\"}]}}}}";
	struct webhook_result res;
	json_t *patch = review(&present, f->s, body, sizeof(body) - 1, "u2", &res), *pod;

	assert_non_null(patch);
	/* The decision for the metrics and the log line: what became what. */
	assert_string_equal(webhook_reason_name(res.reason), "present");
	assert_int_equal(res.swapped, 1);
	assert_string_equal(
	        res.note, "pod /: nginx:1.25 -> 127.0.0.1:30003/edge/docker.io/library/nginx:1.25");
	free(res.note);
	pod = json_pack("{s:{s:[{s:s,s:s}]}}", "spec", "containers", "name", "a", "image",
	                "nginx:1.25");
	apply_patch(pod, patch);
	assert_string_equal(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(pod, "metadata"), "annotations"),
	                "barge.dev/original-images")),
	        "{\"a\":\"nginx:1.25\"}");
	json_decref(pod);
	json_decref(patch);
}

/* A name the prefix would push past 255 bytes stays as it is: the kubelet could not pull it. */
static void
test_name_too_long_for_prefix(void **state)
{
	struct fixture *f = *state;
	struct webhook_result res;
	char path[241], *body;
	json_t *patch;

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	body = fu_printf("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
	                 "\"request\":{\"uid\":\"u3\",\"kind\":{\"group\":\"\",\"version\":"
	                 "\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":{"
	                 "\"spec\":{\"containers\":[{\"name\":\"long\",\"image\":"
	                 "\"quay.io/%s:1\"},{\"name\":\"short\",\"image\":\"quay.io/a:1\"}]}}}}",
	                 path);
	assert_non_null(body);
	patch = review(&always, f->s, body, strlen(body), "u3", &res);
	assert_non_null(patch);
	assert_int_equal(json_array_size(patch), 2); /* short's image and the annotation */
	assert_string_equal(json_string_value(json_object_get(json_array_get(patch, 0), "path")),
	                    "/spec/containers/1/image");
	assert_string_equal(webhook_reason_name(res.reason), "always");
	assert_int_equal(res.swapped, 1);
	assert_string_equal(res.note, "pod /: quay.io/a:1 -> 127.0.0.1:30003/edge/quay.io/a:1");
	free(res.note);
	json_decref(patch);
	free(body);
}

/* The log note of a big patch is cut short, and says so; the count is whole. */
static void
test_note_bounded(void **state)
{
	struct fixture *f = *state;
	struct webhook_result res;
	char *body = NULL, *list = NULL, *t;
	json_t *patch;
	size_t n;
	int i;

	for (i = 0; i < 30; i++) {
		t = fu_printf("%s%s{\"name\":\"c%d\",\"image\":\"quay.io/team/app%d:1.0\"}",
		              list != NULL ? list : "", i > 0 ? "," : "", i, i);
		assert_non_null(t);
		free(list);
		list = t;
	}
	body = fu_printf("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
	                 "\"request\":{\"uid\":\"u6\",\"kind\":{\"group\":\"\",\"version\":"
	                 "\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"namespace\":"
	                 "\"ns\",\"object\":{\"metadata\":{\"name\":\"big\"},\"spec\":{"
	                 "\"containers\":[%s]}}}}",
	                 list);
	assert_non_null(body);
	patch = review(&always, f->s, body, strlen(body), "u6", &res);
	assert_non_null(patch);
	assert_int_equal(res.swapped, 30);
	assert_string_equal(webhook_reason_name(res.reason), "always");
	n = strlen(res.note);
	assert_true(n < 600);
	assert_string_equal(res.note + n - 3, "...");
	assert_non_null(strstr(res.note, "pod ns/big: quay.io/team/app0:1.0 -> "
	                                 "127.0.0.1:30003/edge/quay.io/team/app0:1.0, "));
	free(res.note);
	json_decref(patch);
	free(body);
	free(list);
}

/* More references than any pod may have: answered at once, without a patch. */
static void
test_too_many_references(void **state)
{
	struct fixture *f = *state;
	size_t n = 5000, i, len = 0, cap = n * 64 + 512;
	char *body = malloc(cap);

	assert_non_null(body);
	len += (size_t)snprintf(body + len, cap - len,
	                        "{\"kind\":\"AdmissionReview\",\"apiVersion\":"
	                        "\"admission.k8s.io/v1\",\"request\":{\"uid\":\"u4\",\"kind\":"
	                        "{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	                        "\"operation\":\"CREATE\",\"object\":{\"spec\":{\"containers\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, cap - len,
		                        "%s{\"name\":\"c%zu\",\"image\":\"nginx:1.25\"}",
		                        i > 0 ? "," : "", i);
	len += (size_t)snprintf(body + len, cap - len, "]}}}}");
	assert_true(len < cap);
	expect_no_patch(f->s, body, len, "u4", "more than 1024 image references",
	                "too_many_images");
	free(body);
}

/*
 * An UPDATE whose references are all unchanged still counts every one it
 * compares with oldObject: matching names against a large old list in
 * reverse order must not cost quadratic time.
 */
static void
test_too_many_unchanged_references(void **state)
{
	struct fixture *f = *state;
	size_t n = 4000, i, len = 0, cap = 2 * n * 64 + 512;
	char *body = malloc(cap);

	assert_non_null(body);
	len += (size_t)snprintf(body + len, cap - len,
	                        "{\"kind\":\"AdmissionReview\",\"apiVersion\":"
	                        "\"admission.k8s.io/v1\",\"request\":{\"uid\":\"u5\",\"kind\":"
	                        "{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	                        "\"operation\":\"UPDATE\",\"object\":{\"spec\":{\"containers\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, cap - len,
		                        "%s{\"name\":\"c%zu\",\"image\":\"nginx:1.25\"}",
		                        i > 0 ? "," : "", i);
	len += (size_t)snprintf(body + len, cap - len,
	                        "]}},\"oldObject\":{\"spec\":{\"containers\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, cap - len,
		                        "%s{\"name\":\"c%zu\",\"image\":\"nginx:1.25\"}",
		                        i > 0 ? "," : "", n - 1 - i);
	len += (size_t)snprintf(body + len, cap - len, "]}}}}");
	assert_true(len < cap && len <= WEBHOOK_BODY_MAX);
	expect_no_patch(f->s, body, len, "u5", "more than 1024 image references",
	                "too_many_images");
	free(body);
}

static void
test_oversized(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(WEBHOOK_BODY_MAX + 1);

	assert_non_null(big);
	memset(big, ' ', WEBHOOK_BODY_MAX + 1);
	big[0] = '{';
	big[WEBHOOK_BODY_MAX] = '}';
	expect_no_patch(f->s, big, WEBHOOK_BODY_MAX + 1, "", "exceeds the limit", "too_large");
	free(big);
}

/* Nesting far beyond anything a pod has is refused by the parser, not the stack. */
static void
test_deep_nesting(void **state)
{
	struct fixture *f = *state;
	size_t n = 200000, i;
	char *deep = malloc(2 * n);

	assert_non_null(deep);
	for (i = 0; i < n; i++) {
		deep[i] = '[';
		deep[n + i] = ']';
	}
	expect_no_patch(f->s, deep, 2 * n, "", "malformed", "malformed");
	free(deep);
}

static void
test_present_needs_store(void **state)
{
	struct barge_err err;
	struct webhook_result res;
	char *raw = NULL, *resp = NULL;
	size_t len, resplen;
	json_t *rv = load_fixture("dryrun.json", &raw, &len);

	(void)state;
	assert_int_equal(webhook_review(&present, NULL, raw, len, &resp, &resplen, &res, &err),
	                 BARGE_EINVAL);
	assert_null(resp);
	json_decref(rv);
	free(raw);
}

/* --- rules translated from the seeds -------------------------------------- */

/* Writes body as a blob of the store; its digest into digest. */
static void
put_blob(struct store *s, const char *body, char *digest)
{
	struct store_blob_writer *w;
	struct barge_err err;
	size_t n = strlen(body);

	assert_int_equal(digest_buf(DIGEST_SHA256, body, n, digest, &err), BARGE_OK);
	if (store_blob_exists(s, digest))
		return;
	assert_int_equal(store_blob_begin(s, digest, (int64_t)n, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, body, n, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
}

/*
 * The store of setup, plus registry.local:5000/team/multi:1: an index of
 * linux/amd64 and linux/arm64 of which the store holds only amd64, as a
 * bundle built for amd64 leaves it.
 */
static int
setup_multi(void **state)
{
	static const char repo[] = "edge/registry.local_5000/team/multi";
	struct fixture *f;
	struct barge_err err;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], amd[DIGEST_STR_MAX], idx[DIGEST_STR_MAX];
	char *man, *index;

	setup(state);
	f = *state;
	assert_int_equal(store_begin(f->s, &err), BARGE_OK);
	put_blob(f->s, "{\"architecture\":\"amd64\",\"os\":\"linux\"}", cfg);
	put_blob(f->s, "layer bytes of amd64", layer);
	man = fu_printf(
	        "{\"schemaVersion\":2,\"mediaType\":\"application/"
	        "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/"
	        "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":38},\"layers\":[{"
	        "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
	        "\"size\":20}]}",
	        cfg, layer);
	put_blob(f->s, man, amd);
	index = fu_printf(
	        "{\"schemaVersion\":2,\"mediaType\":\"application/"
	        "vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/"
	        "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
	        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},{"
	        "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
	        "\"sha256:%064d\",\"size\":400,\"platform\":{\"os\":\"linux\","
	        "\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}",
	        amd, strlen(man), 7);
	put_blob(f->s, index, idx);
	assert_int_equal(store_put_manifest(f->s, repo, amd,
	                                    "application/vnd.oci.image.manifest.v1+json",
	                                    (int64_t)strlen(man), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(f->s, amd, cfg, &err), BARGE_OK);
	assert_int_equal(store_put_ref(f->s, amd, layer, &err), BARGE_OK);
	assert_int_equal(store_put_manifest(f->s, repo, idx,
	                                    "application/vnd.oci.image.index.v1+json",
	                                    (int64_t)strlen(index), &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(f->s, idx, amd, &err), BARGE_OK);
	assert_int_equal(store_put_tag(f->s, repo, "1", idx, &err), BARGE_OK);
	assert_int_equal(store_commit(f->s, &err), BARGE_OK);
	free(man);
	free(index);
	return 0;
}

/* The rules of a barged.yaml, compiled as barged serve does. */
static struct swaprule_set *
rules_of(const char *yaml, int *skip)
{
	struct barge_err err = { 0 };
	struct swaprule_set *set = NULL;
	struct config c;

	assert_int_equal(config_init(&c, &err), BARGE_OK);
	if (config_load_buf(&c, "barged.yaml", yaml, strlen(yaml), &err) != BARGE_OK ||
	    config_check(&c, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(swaprule_from_config(&c, &set, &err), BARGE_OK);
	*skip = c.webhook.skip_pods_with_pull_secrets;
	config_free(&c);
	return set;
}

/*
 * Runs fixture NAME (patched and compared as run_case) under the rules of
 * yaml, expecting decision reason; then reviews the patched pod again, as
 * a reinvocation would, and expects no patch.
 */
static void
run_rules_case(void **state, const char *name, const char *yaml, const char *reason)
{
	struct fixture *f = *state;
	struct webhook_opts o = { .advertise = "127.0.0.1:30003", .project = "edge" };
	struct swaprule_set *set = rules_of(yaml, &o.skip_pull_secrets);
	struct webhook_result res;
	char *raw = NULL, *raw2 = NULL, *fname, *again;
	size_t len, len2;
	json_t *rv, *want, *patch;

	o.rules = set;
	fname = fu_printf("%s.json", name);
	rv = load_fixture(fname, &raw, &len);
	free(fname);
	fname = fu_printf("%s.expected.json", name);
	want = load_fixture(fname, &raw2, &len2);
	free(fname);
	patch = review(&o, f->s, raw, len,
	               json_string_value(json_object_get(json_object_get(rv, "request"), "uid")),
	               &res);
	assert_string_equal(webhook_reason_name(res.reason), reason);
	free(res.note);
	if (patch != NULL)
		apply_patch(json_object_get(json_object_get(rv, "request"), "object"), patch);
	if (!json_equal(json_object_get(json_object_get(rv, "request"), "object"), want)) {
		char *got = json_dumps(json_object_get(json_object_get(rv, "request"), "object"),
		                       JSON_INDENT(2) | JSON_SORT_KEYS);

		print_error("%s: patched pod differs from the expected one:\n%s\n", name, got);
		free(got);
		fail();
	}
	/* Reinvoked with what it made: nothing more to do. */
	again = json_dumps(rv, JSON_COMPACT);
	assert_non_null(again);
	json_decref(patch);
	patch = review(&o, f->s, again, strlen(again),
	               json_string_value(json_object_get(json_object_get(rv, "request"), "uid")),
	               &res);
	assert_null(patch);
	free(res.note);
	free(again);
	json_decref(rv);
	json_decref(want);
	free(raw);
	free(raw2);
	swaprule_free(set);
}

/* harbor-container-webhook's rule from the seed, in barged.yaml. */
static const char harbor_yaml[] = "webhook:\n"
                                  "  rules:\n"
                                  "    - name: docker.io rewrite rule\n"
                                  "      match: ['^docker.io']\n"
                                  "      exclude: ['^docker.io/(library/)?ubuntu:.*$']\n"
                                  "      replace: harbor.example.net/dockerhub\n"
                                  "      policy: always\n";

static void
test_rules_harbor(void **state)
{
	run_rules_case(state, "harbor-deployment", harbor_yaml, "always");
}

/* Kyverno's replace-image-registry: only pods without imagePullSecrets. */
static const char kyverno_yaml[] = "webhook:\n"
                                   "  skip_pods_with_pull_secrets: true\n"
                                   "  rules:\n"
                                   "    - match: ['hub\\.opensciencegrid\\.org']\n"
                                   "      replace: harbor.ssl-hep.org/osgharborproxy\n"
                                   "      policy: always\n";

static void
test_rules_kyverno(void **state)
{
	run_rules_case(state, "kyverno-job", kyverno_yaml, "always");
}

static void
test_rules_kyverno_pull_secrets(void **state)
{
	run_rules_case(state, "kyverno-pull-secrets", kyverno_yaml, "pull_secrets");
}

/* Palette: an imageReplacementRule first, so it wins over the registryMappingRule. */
static const char palette_yaml[] =
        "webhook:\n"
        "  rules:\n"
        "    - name: imageReplacementRules\n"
        "      match: ['^docker\\.io/library/nginx:1\\.25$']\n"
        "      replace: 127.0.0.1:30003/edge/approved/nginx:1.25-hardened\n"
        "      policy: always\n"
        "    - name: registryMappingRules\n"
        "      match: ['^docker\\.io/']\n"
        "      replace: 127.0.0.1:30003/edge/docker.io/\n"
        "      policy: always\n";

static void
test_rules_palette(void **state)
{
	run_rules_case(state, "palette-cronjob", palette_yaml, "always");
}

/* The default rule, policy present, with an index the store holds for amd64 only. */
static void
test_platform_arm64_absent(void **state)
{
	run_rules_case(state, "platform-arm64", "webhook: {policy: present}\n", "platform_absent");
}

static void
test_platform_amd64_held(void **state)
{
	run_rules_case(state, "platform-amd64", "webhook: {policy: present}\n", "present");
}

static void
test_platform_unpinned(void **state)
{
	run_rules_case(state, "platform-any", "webhook: {policy: present}\n", "present");
}

/*
 * A target the rule's own match finds again: a reinvocation must leave it
 * (replacing it by itself would still be a patch).
 */
static void
test_rules_reinvoke_own_target(void **state)
{
	run_rules_case(state, "replace-reinvoke",
	               "webhook:\n  rules:\n    - match: ['^.*pytorch/pytorch']\n"
	               "      replace: harbor.example.net/dockerhub/pytorch/pytorch\n"
	               "      policy: always\n",
	               "always");
}

/* The pull-secret precondition is off unless asked for. */
static void
test_pull_secrets_default(void **state)
{
	struct fixture *f = *state;
	struct webhook_result res;
	char *raw = NULL;
	size_t len;
	json_t *rv = load_fixture("kyverno-pull-secrets.json", &raw, &len), *patch;

	patch = review(&always, f->s, raw, len, "6c2f3e4d-5b6a-4f7e-9d8c-0b1a2f3e4d5c", &res);
	assert_non_null(patch);
	assert_string_equal(webhook_reason_name(res.reason), "always");
	free(res.note);
	json_decref(patch);
	json_decref(rv);
	free(raw);
}

/*
 * An explicit catch-all rule is the default; a never rule before a
 * second rule keeps what it matches from that one.
 */
static void
test_rules_present_and_never(void **state)
{
	run_rules_case(state, "create-present", "webhook:\n  rules:\n    - match: ['.']\n",
	               "present");
	run_rules_case(state, "kyverno-pull-secrets",
	               "webhook:\n  rules:\n    - match: ['opensciencegrid']\n      policy: never\n"
	               "    - match: ['athena']\n      policy: always\n",
	               "nothing_to_swap");
}

/* An invalid expression reaching swaprule_compile is refused with its key and place. */
static void
test_rules_invalid(void **state)
{
	struct config_expr e = { .re = (char *)"a{2,1}", .line = 7, .col = 17 };
	struct config_rule r = { .match = &e, .nmatch = 1 };
	struct swaprule_set *set = NULL;
	struct barge_err err = { 0 };

	(void)state;
	assert_int_equal(swaprule_compile(&r, 1, SWAPRULE_PRESENT, &set, &err), BARGE_EINVAL);
	assert_null(set);
	assert_non_null(strstr(err.msg, "line 7:17: webhook.rules[0].match[0]: \"a{2,1}\": "));
}

/* The explanation names each rule tried and what became of each reference. */
static void
test_explain(void **state)
{
	struct fixture *f = *state;
	struct webhook_opts o = { .advertise = "127.0.0.1:30003", .project = "edge", .explain = 1 };
	struct webhook_result res;
	char *raw = NULL;
	size_t len;
	json_t *rv = load_fixture("harbor-deployment.json", &raw, &len), *patch;
	int skip;

	o.rules = rules_of(harbor_yaml, &skip);
	patch = review(&o, f->s, raw, len, "3f0c9a8e-1d2b-4c5a-9e6f-7a8b9c0d1e2f", &res);
	assert_non_null(res.trace);
	assert_non_null(strstr(res.trace, "shell: ubuntu:22.04\n  rules[0] (docker.io rewrite "
	                                  "rule): matched match[0], excluded by exclude[0]\n  left "
	                                  "(no_rule)\n"));
	assert_non_null(strstr(res.trace, "metrics: quay.io/prometheus/node-exporter:v1.8.1\n  "
	                                  "rules[0] (docker.io rewrite rule): no match\n  left "
	                                  "(no_rule)\n"));
	assert_non_null(strstr(res.trace, "  swapped to harbor.example.net/dockerhub/pytorch/"
	                                  "pytorch:latest\n"));
	free(res.trace);
	free(res.note);
	json_decref(patch);
	json_decref(rv);
	free(raw);
	swaprule_free((struct swaprule_set *)o.rules);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_create_present, setup, teardown),
	cmocka_unit_test_setup_teardown(test_create_always, setup, teardown),
	cmocka_unit_test_setup_teardown(test_create_always_without_store, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reinvoke, setup, teardown),
	cmocka_unit_test_setup_teardown(test_already_swapped, setup, teardown),
	cmocka_unit_test_setup_teardown(test_update, setup, teardown),
	cmocka_unit_test_setup_teardown(test_ephemeral, setup, teardown),
	cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
	cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
	cmocka_unit_test_setup_teardown(test_optout_label, setup, teardown),
	cmocka_unit_test_setup_teardown(test_not_a_pod, setup, teardown),
	cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	cmocka_unit_test_setup_teardown(test_no_uid, setup, teardown),
	cmocka_unit_test_setup_teardown(test_status_subresource, setup, teardown),
	cmocka_unit_test_setup_teardown(test_v1beta1, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
	cmocka_unit_test_setup_teardown(test_metadata_missing, setup, teardown),
	cmocka_unit_test_setup_teardown(test_name_too_long_for_prefix, setup, teardown),
	cmocka_unit_test_setup_teardown(test_note_bounded, setup, teardown),
	cmocka_unit_test_setup_teardown(test_too_many_references, setup, teardown),
	cmocka_unit_test_setup_teardown(test_too_many_unchanged_references, setup, teardown),
	cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
	cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
	cmocka_unit_test(test_present_needs_store),
	cmocka_unit_test_setup_teardown(test_rules_harbor, setup, teardown),
	cmocka_unit_test_setup_teardown(test_rules_kyverno, setup, teardown),
	cmocka_unit_test_setup_teardown(test_rules_kyverno_pull_secrets, setup, teardown),
	cmocka_unit_test_setup_teardown(test_rules_palette, setup, teardown),
	cmocka_unit_test_setup_teardown(test_rules_present_and_never, setup, teardown),
	cmocka_unit_test_setup_teardown(test_pull_secrets_default, setup, teardown),
	cmocka_unit_test_setup_teardown(test_rules_reinvoke_own_target, setup, teardown),
	cmocka_unit_test_setup_teardown(test_platform_arm64_absent, setup_multi, teardown),
	cmocka_unit_test_setup_teardown(test_platform_amd64_held, setup_multi, teardown),
	cmocka_unit_test_setup_teardown(test_platform_unpinned, setup_multi, teardown),
	cmocka_unit_test(test_rules_invalid),
	cmocka_unit_test_setup_teardown(test_explain, setup, teardown),
};

BARGE_TEST_MAIN(tests)
