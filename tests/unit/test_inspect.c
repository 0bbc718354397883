#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "bundle_write.h"
#include "digest.h"
#include "fileutil.h"
#include "fixture.h"
#include "inspect.h"
#include "mediatype.h"
#include "sign.h"

/*
 * Bundles written with the real bundle writer: two images sharing their
 * first layer, then read back by inspect_bundle.  What can go wrong in a
 * bundle is made to go wrong on purpose: a changed byte, a missing or
 * unlisted blob, another key.
 */

struct blobdef {
	char digest[DIGEST_STR_MAX];
	char *data;
	size_t len;
};

struct fixture {
	char dir[FX_DIR_MAX];
	char *path;
	struct blobdef layer[3], config[2], manifest[2];
};

static void
blob_set(struct blobdef *b, char *data)
{
	struct barge_err err;

	b->data = data;
	b->len = strlen(data);
	assert_int_equal(digest_buf(DIGEST_SHA256, data, b->len, b->digest, &err), BARGE_OK);
}

static char *
manifest_text(const struct blobdef *config, const struct blobdef *l1, const struct blobdef *l2)
{
	return fu_printf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
	                 "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
	                 "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
	                 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
	                 MT_OCI_MANIFEST, MT_OCI_CONFIG, config->digest, config->len, MT_OCI_LAYER,
	                 l1->digest, l1->len, MT_OCI_LAYER, l2->digest, l2->len);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	fx_tmpdir(f->dir, "inspect");
	f->path = fu_printf("%s/b.tar.zst", f->dir);
	blob_set(&f->layer[0], strdup("the shared base layer, used by both images"));
	blob_set(&f->layer[1], strdup("layer of image a"));
	blob_set(&f->layer[2], strdup("layer of image b, a little longer"));
	blob_set(&f->config[0],
	         strdup("{\"architecture\":\"amd64\",\"os\":\"linux\",\"x\":\"a\"}"));
	blob_set(&f->config[1],
	         strdup("{\"architecture\":\"amd64\",\"os\":\"linux\",\"x\":\"b\"}"));
	blob_set(&f->manifest[0], manifest_text(&f->config[0], &f->layer[0], &f->layer[1]));
	blob_set(&f->manifest[1], manifest_text(&f->config[1], &f->layer[0], &f->layer[2]));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	fx_rmtree(f->dir);
	for (i = 0; i < 3; i++)
		free(f->layer[i].data);
	for (i = 0; i < 2; i++) {
		free(f->config[i].data);
		free(f->manifest[i].data);
	}
	free(f->path);
	free(f);
	return 0;
}

/* What to do differently from a sound bundle. */
struct twist {
	const char *sign_key; /* sign with this private key */
	int flip_layer;       /* change one byte of layer 2's content */
	int drop_layer;       /* leave layer 2's entry out */
	int extra_entry;      /* add a blob barge.json does not list */
	int requires_layer0;  /* a delta: layer 0 required, not carried */
	const char *stray;    /* add an entry by this name, outside blobs/ */
};

static const struct blobdef *
entry_order(const struct fixture *f, size_t i)
{
	const struct blobdef *order[] = { &f->manifest[0], &f->manifest[1], &f->config[0],
		                          &f->config[1],   &f->layer[0],    &f->layer[1],
		                          &f->layer[2] };

	return i < 7 ? order[i] : NULL;
}

static void
write_bundle(struct fixture *f, const struct twist *t)
{
	struct bundle_writer_opts bo = { .level = 3, .threads = 1, .mtime = 0 };
	struct bundle_writer *w = NULL;
	struct sign_key *k = NULL;
	const struct blobdef *b;
	char *meta, *blobs = strdup(""), *req, *tmp, name[BUNDLE_NAME_MAX], *sig = NULL, *data;
	struct barge_err err;
	size_t i, siglen;

	for (i = 0; (b = entry_order(f, i)) != NULL; i++) {
		if (t->requires_layer0 && b == &f->layer[0])
			continue;
		tmp = fu_printf("%s%s{\"digest\":\"%s\",\"size\":%zu}", blobs, i > 0 ? "," : "",
		                b->digest, b->len);
		free(blobs);
		blobs = tmp;
	}
	req = t->requires_layer0 ? fu_printf(",\"requires\":[{\"digest\":\"%s\",\"size\":%zu}]",
	                                     f->layer[0].digest, f->layer[0].len)
	                         : strdup("");
	meta = fu_printf(
	        "{\"schemaVersion\":1,\"name\":\"t\",\"version\":\"1\",\"created\":\"1970-01-01T00:"
	        "00:00Z\",\"builder\":\"test\",\"platforms\":[\"linux/"
	        "amd64\"],\"project\":\"edge\","
	        "\"images\":[{\"repository\":\"edge/docker.io/library/a\",\"source\":\"docker.io/"
	        "library/a:1\",\"tags\":[\"1\"],\"digest\":\"%s\",\"mediaType\":\"%s\"},"
	        "{\"repository\":\"edge/docker.io/library/b\",\"source\":\"docker.io/library/b:2\","
	        "\"tags\":[\"2\"],\"digest\":\"%s\",\"mediaType\":\"%s\"}],\"blobs\":[%s]%s}\n",
	        f->manifest[0].digest, MT_OCI_MANIFEST, f->manifest[1].digest, MT_OCI_MANIFEST,
	        blobs, req);
	assert_int_equal(bundle_writer_open(f->path, &bo, &w, &err), BARGE_OK);
	assert_int_equal(bundle_writer_add_buf(w, "barge.json", meta, strlen(meta), &err),
	                 BARGE_OK);
	if (t->sign_key != NULL) {
		if (sign_key_load_private(t->sign_key, &k, &err) != BARGE_OK)
			fail_msg("%s", err.msg);
		assert_int_equal(sign_make(k, meta, strlen(meta), &sig, &siglen, &err), BARGE_OK);
		assert_int_equal(bundle_writer_add_buf(w, "barge.json.sig", sig, siglen, &err),
		                 BARGE_OK);
	}
	for (i = 0; (b = entry_order(f, i)) != NULL; i++) {
		if ((t->drop_layer && b == &f->layer[2]) ||
		    (t->requires_layer0 && b == &f->layer[0]))
			continue;
		snprintf(name, sizeof(name), "blobs/sha256/%s", b->digest + 7);
		data = strdup(b->data);
		if (t->flip_layer && b == &f->layer[2])
			data[3] ^= 0x20;
		assert_int_equal(bundle_writer_add_buf(w, name, data, b->len, &err), BARGE_OK);
		free(data);
	}
	if (t->extra_entry)
		assert_int_equal(bundle_writer_add_buf(w,
		                                       "blobs/sha256/"
		                                       "0000000000000000000000000000000000000000000"
		                                       "000000000000000000000",
		                                       "x", 1, &err),
		                 BARGE_OK);
	if (t->stray != NULL)
		assert_int_equal(bundle_writer_add_buf(w, t->stray, "x", 1, &err), BARGE_OK);
	assert_int_equal(bundle_writer_close(w, &err), BARGE_OK);
	bundle_writer_free(w);
	sign_key_free(k);
	free(sig);
	free(meta);
	free(req);
	free(blobs);
}

static int
run(struct fixture *f, int verify, const char *pub, struct inspect_result **r,
    struct barge_err *err)
{
	struct sign_key *k = NULL;
	struct inspect_opts io = { .verify = verify };
	int rc;

	if (pub != NULL) {
		assert_int_equal(sign_key_load_public(pub, &k, err), BARGE_OK);
		io.trusted = &k;
		io.ntrusted = 1;
		io.require_signature = 1;
	}
	*r = NULL;
	rc = inspect_bundle(f->path, &io, r, err);
	sign_key_free(k);
	return rc;
}

static void
test_inspect_counts(void **state)
{
	struct fixture *f = *state;
	struct twist t = { 0 };
	struct inspect_result *r;
	struct barge_err err;
	int64_t total = 0;
	size_t i;

	write_bundle(f, &t);
	if (run(f, 0, NULL, &r, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(r->meta->nimages, 2);
	assert_int_equal(r->nentries, 7);
	for (i = 0; i < 7; i++)
		total += (int64_t)entry_order(f, i)->len;
	assert_int_equal(r->blob_bytes, total);
	/* The shared base layer would otherwise be carried twice. */
	assert_int_equal(r->shared_bytes, (int64_t)f->layer[0].len);
	assert_int_equal(r->is_signed, 0);
	assert_string_equal(r->keyid, "");
	assert_int_equal(strncmp(r->meta_digest, "sha256:", 7), 0);
	inspect_result_free(r);
	if (run(f, 1, NULL, &r, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	inspect_result_free(r);
}

static void
test_verify_flipped_byte(void **state)
{
	struct fixture *f = *state;
	struct twist t = { .flip_layer = 1 };
	struct inspect_result *r;
	struct barge_err err;
	char want[200];

	write_bundle(f, &t);
	/* inspect alone does not hash... */
	assert_int_equal(run(f, 0, NULL, &r, &err), BARGE_OK);
	inspect_result_free(r);
	/* ...verify does, and names the entry. */
	assert_int_equal(run(f, 1, NULL, &r, &err), BARGE_EDIGEST);
	assert_null(r);
	snprintf(want, sizeof(want),
	         "entry \"blobs/sha256/%s\" hashes to sha256:", f->layer[2].digest + 7);
	if (strstr(err.msg, want) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err.msg, want);
}

static void
test_verify_missing_and_unlisted(void **state)
{
	struct fixture *f = *state;
	struct twist t = { .drop_layer = 1 };
	struct inspect_result *r;
	struct barge_err err;

	write_bundle(f, &t);
	assert_int_equal(run(f, 1, NULL, &r, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "is listed in barge.json but missing"));
	assert_non_null(strstr(err.msg, f->layer[2].digest));
	t.drop_layer = 0;
	t.extra_entry = 1;
	write_bundle(f, &t);
	assert_int_equal(run(f, 1, NULL, &r, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "blobs/sha256/0000000000000000000000000000000000000000000"
	                                "000000000000000000000\" is not listed in barge.json"));
}

/* Entries shorter than "blobs/" or outside it are refused by name, in both modes. */
static void
test_stray_entry(void **state)
{
	static const char *const names[] = { "x", "blobs", "notblobs/sha256/ab" };
	struct fixture *f = *state;
	struct twist t = { 0 };
	struct inspect_result *r;
	struct barge_err err;
	char want[128];
	size_t i;
	int verify;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		t.stray = names[i];
		write_bundle(f, &t);
		snprintf(want, sizeof(want), "entry \"%s\" is not a blob", names[i]);
		for (verify = 0; verify <= 1; verify++) {
			assert_int_equal(run(f, verify, NULL, &r, &err), BARGE_EFORMAT);
			if (strstr(err.msg, want) == NULL)
				fail_msg("\"%s\" lacks \"%s\"", err.msg, want);
		}
	}
}

static void
test_signature(void **state)
{
	struct fixture *f = *state;
	char *k1 = fu_printf("%s/k1", f->dir), *k2 = fu_printf("%s/k2", f->dir);
	char *k1key = fu_printf("%s.key", k1), *k1pub = fu_printf("%s.pub", k1);
	char *k2pub = fu_printf("%s.pub", k2), id1[DIGEST_STR_MAX], id2[DIGEST_STR_MAX];
	struct twist t = { .sign_key = k1key };
	struct inspect_result *r;
	struct barge_err err;

	assert_int_equal(sign_keygen(k1, id1, &err), BARGE_OK);
	assert_int_equal(sign_keygen(k2, id2, &err), BARGE_OK);
	write_bundle(f, &t);
	/* Without keys, the key id is reported but not checked. */
	assert_int_equal(run(f, 1, NULL, &r, &err), BARGE_OK);
	assert_int_equal(r->is_signed, 1);
	assert_int_equal(r->signature_checked, 0);
	assert_string_equal(r->keyid, id1);
	inspect_result_free(r);
	assert_int_equal(run(f, 1, k1pub, &r, &err), BARGE_OK);
	assert_int_equal(r->signature_checked, 1);
	assert_string_equal(r->keyid, id1);
	inspect_result_free(r);
	assert_int_equal(run(f, 1, k2pub, &r, &err), BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "barge.json.sig"));
	/* An unsigned bundle fails when a key is required. */
	t.sign_key = NULL;
	write_bundle(f, &t);
	assert_int_equal(run(f, 1, k1pub, &r, &err), BARGE_EAUTH);
	assert_non_null(strstr(err.msg, "the bundle is not signed"));
	free(k1);
	free(k2);
	free(k1key);
	free(k1pub);
	free(k2pub);
}

static void
test_delta_requires(void **state)
{
	struct fixture *f = *state;
	struct twist t = { .requires_layer0 = 1 };
	struct inspect_result *r;
	struct barge_err err;

	write_bundle(f, &t);
	if (run(f, 1, NULL, &r, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(r->nentries, 6);
	assert_int_equal(r->meta->nrequires, 1);
	assert_int_equal(r->required_bytes, (int64_t)f->layer[0].len);
	/* The shared layer is not in this bundle: nothing saved by sharing here. */
	assert_int_equal(r->shared_bytes, 0);
	inspect_result_free(r);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_inspect_counts, setup, teardown),
	cmocka_unit_test_setup_teardown(test_verify_flipped_byte, setup, teardown),
	cmocka_unit_test_setup_teardown(test_verify_missing_and_unlisted, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stray_entry, setup, teardown),
	cmocka_unit_test_setup_teardown(test_signature, setup, teardown),
	cmocka_unit_test_setup_teardown(test_delta_requires, setup, teardown),
};

BARGE_TEST_MAIN(tests)
