#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fileutil.h"
#include "fixture.h"
#include "sign.h"

static const char msg[] = "{\"schemaVersion\": 1, \"name\": \"edge\"}\n";

/* A scratch directory with one key pair, "a", in it; removed afterwards. */
struct fixture {
	char dir[FX_DIR_MAX];
	char prefix[96], key[128], pub[128];
	char id[DIGEST_STR_MAX];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct barge_err err;

	assert_non_null(f);
	fx_tmpdir(f->dir, "sign");
	snprintf(f->prefix, sizeof(f->prefix), "%s/a", f->dir);
	snprintf(f->key, sizeof(f->key), "%s.key", f->prefix);
	snprintf(f->pub, sizeof(f->pub), "%s.pub", f->prefix);
	if (sign_keygen(f->prefix, f->id, &err) != BARGE_OK)
		fail_msg("keygen: %s", err.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f);
	return 0;
}

static struct sign_key *
load(const char *path, int private)
{
	struct sign_key *k = NULL;
	struct barge_err err;
	int rc;

	rc = private ? sign_key_load_private(path, &k, &err) : sign_key_load_public(path, &k, &err);
	if (rc != BARGE_OK)
		fail_msg("%s: %s", path, err.msg);
	return k;
}

static char *
make_sig(const char *keypath, const void *m, size_t len, size_t *siglen)
{
	struct sign_key *k = load(keypath, 1);
	struct barge_err err;
	char *sig = NULL;

	if (sign_make(k, m, len, &sig, siglen, &err) != BARGE_OK)
		fail_msg("sign: %s", err.msg);
	sign_key_free(k);
	return sig;
}

static void
test_keygen_files(void **state)
{
	struct fixture *f = *state;
	struct sign_key *priv, *pub;
	struct barge_err err;
	char id[DIGEST_STR_MAX];
	struct stat st;

	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(f->pub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_true(digest_valid(f->id));
	assert_memory_equal(f->id, "sha256:", 7);
	/* Both halves have the id keygen reported. */
	priv = load(f->key, 1);
	pub = load(f->pub, 0);
	assert_string_equal(sign_key_id(priv), f->id);
	assert_string_equal(sign_key_id(pub), f->id);
	sign_key_free(priv);
	sign_key_free(pub);
	/* An existing key is never overwritten. */
	assert_int_equal(sign_keygen(f->prefix, id, &err), BARGE_EEXIST);
	assert_non_null(strstr(err.msg, f->key));
}

/* The key id is sha256 of the DER SPKI, as `openssl pkey -pubin -outform DER | sha256sum` says. */
static void
test_keyid_matches_openssl(void **state)
{
	struct fixture *f = *state;
	char *cmd, line[200];
	FILE *p;

	cmd = fu_printf("openssl pkey -pubin -in '%s' -outform DER | sha256sum", f->pub);
	assert_non_null(cmd);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	free(cmd);
	line[64] = '\0';
	assert_string_equal(f->id + 7, line);
}

static void
test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct sign_key *pub = load(f->pub, 0);
	struct barge_err err;
	char id[DIGEST_STR_MAX] = "";
	size_t siglen;
	char *sig = make_sig(f->key, msg, sizeof(msg) - 1, &siglen);
	json_t *doc;

	assert_true(siglen <= SIGN_SIG_MAX);
	assert_int_equal(strlen(sig), siglen);
	doc = json_loads(sig, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "schemaVersion")), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "algorithm")), "ed25519");
	assert_string_equal(json_string_value(json_object_get(doc, "keyId")), f->id);
	assert_int_equal(strlen(json_string_value(json_object_get(doc, "signature"))), 88);
	json_decref(doc);
	if (sign_check(&pub, 1, msg, sizeof(msg) - 1, sig, siglen, id, &err) != BARGE_OK)
		fail_msg("check: %s", err.msg);
	assert_string_equal(id, f->id);
	memset(id, 0, sizeof(id));
	assert_int_equal(sign_read_keyid(sig, siglen, id, &err), BARGE_OK);
	assert_string_equal(id, f->id);
	free(sig);
	sign_key_free(pub);
}

/* Ed25519 is deterministic: the same key and message give the same bytes (reproducible bundles). */
static void
test_deterministic(void **state)
{
	struct fixture *f = *state;
	size_t l1, l2;
	char *s1 = make_sig(f->key, msg, sizeof(msg) - 1, &l1);
	char *s2 = make_sig(f->key, msg, sizeof(msg) - 1, &l2);

	assert_int_equal(l1, l2);
	assert_memory_equal(s1, s2, l1);
	free(s1);
	free(s2);
}

static void
test_tampered_message(void **state)
{
	struct fixture *f = *state;
	struct sign_key *pub = load(f->pub, 0);
	struct barge_err err;
	char id[DIGEST_STR_MAX], bad[sizeof(msg)];
	size_t siglen;
	char *sig = make_sig(f->key, msg, sizeof(msg) - 1, &siglen);

	memcpy(bad, msg, sizeof(msg));
	bad[20] ^= 1;
	assert_int_equal(sign_check(&pub, 1, bad, sizeof(msg) - 1, sig, siglen, id, &err),
	                 BARGE_EAUTH);
	assert_non_null(strstr(err.msg, f->id));
	assert_non_null(strstr(err.msg, "does not match"));
	/* One byte less is a different message too. */
	assert_int_equal(sign_check(&pub, 1, msg, sizeof(msg) - 2, sig, siglen, id, &err),
	                 BARGE_EAUTH);
	free(sig);
	sign_key_free(pub);
}

static void
test_tampered_signature(void **state)
{
	struct fixture *f = *state;
	struct sign_key *pub = load(f->pub, 0);
	struct barge_err err;
	char id[DIGEST_STR_MAX], *p;
	size_t siglen;
	char *sig = make_sig(f->key, msg, sizeof(msg) - 1, &siglen);

	/* Change one base64 character in the middle of the signature (still valid base64). */
	p = strstr(sig, "\"signature\"");
	assert_non_null(p);
	p = strchr(p + 12, '"') + 10;
	*p = *p == 'A' ? 'B' : 'A';
	assert_int_equal(sign_check(&pub, 1, msg, sizeof(msg) - 1, sig, siglen, id, &err),
	                 BARGE_EAUTH);
	free(sig);
	sign_key_free(pub);
}

static void
test_unknown_key(void **state)
{
	struct fixture *f = *state;
	struct sign_key *other;
	struct barge_err err;
	char id[DIGEST_STR_MAX], prefix[128], path[140];
	size_t siglen;
	char *sig = make_sig(f->key, msg, sizeof(msg) - 1, &siglen);

	snprintf(prefix, sizeof(prefix), "%s/b", f->dir);
	assert_int_equal(sign_keygen(prefix, id, &err), BARGE_OK);
	snprintf(path, sizeof(path), "%s.pub", prefix);
	other = load(path, 0);
	assert_string_not_equal(sign_key_id(other), f->id);
	assert_int_equal(sign_check(&other, 1, msg, sizeof(msg) - 1, sig, siglen, id, &err),
	                 BARGE_EAUTH);
	assert_non_null(strstr(err.msg, f->id));
	assert_non_null(strstr(err.msg, "not trusted"));
	/* No trusted keys at all: the same answer. */
	assert_int_equal(sign_check(NULL, 0, msg, sizeof(msg) - 1, sig, siglen, id, &err),
	                 BARGE_EAUTH);
	assert_non_null(strstr(err.msg, f->id));
	free(sig);
	sign_key_free(other);
}

/* Expands @ID@ (the key id's hex), @SIG@ (sig) and @SIG86@ (its first 86 characters) in tmpl. */
static size_t
expand(char *out, size_t cap, const char *tmpl, const char *idhex, const char *sig)
{
	size_t n = 0, k;
	const char *put;

	while (*tmpl != '\0') {
		put = NULL;
		k = 0;
		if (strncmp(tmpl, "@ID@", 4) == 0) {
			put = idhex, k = strlen(idhex), tmpl += 4;
		} else if (strncmp(tmpl, "@SIG86@", 7) == 0) {
			put = sig, k = 86, tmpl += 7;
		} else if (strncmp(tmpl, "@SIG@", 5) == 0) {
			put = sig, k = strlen(sig), tmpl += 5;
		} else {
			put = tmpl++, k = 1;
		}
		assert_true(n + k < cap);
		memcpy(out + n, put, k);
		n += k;
	}
	out[n] = '\0';
	return n;
}

#define SIG_HEAD "{\"schemaVersion\":1,\"algorithm\":\"ed25519\",\"keyId\":\"sha256:@ID@\","

static void
test_malformed_sig(void **state)
{
	static const char *const cases[] = {
		"",
		"not json",
		"[]",
		"{\"schemaVersion\":1,\"algorithm\":\"ed25519\",\"keyId\":\"sha256:@ID@\"}",
		"{\"schemaVersion\":2,\"algorithm\":\"ed25519\",\"keyId\":\"sha256:@ID@\","
		"\"signature\":\"@SIG@\"}",
		"{\"schemaVersion\":1,\"algorithm\":\"rsa\",\"keyId\":\"sha256:@ID@\","
		"\"signature\":\"@SIG@\"}",
		"{\"schemaVersion\":1,\"algorithm\":\"ed25519\",\"keyId\":\"md5:@ID@\","
		"\"signature\":\"@SIG@\"}",
		"{\"schemaVersion\":1,\"algorithm\":\"ed25519\",\"keyId\":\"sha256:@ID@0\","
		"\"signature\":\"@SIG@\"}",
		SIG_HEAD "\"signature\":\"@SIG@\",\"extra\":1}",
		SIG_HEAD "\"signature\":\"@SIG@\",\"signature\":\"@SIG@\"}",
		SIG_HEAD "\"signature\":\"@SIG86@\"}",
		SIG_HEAD "\"signature\":\"@SIG@==\"}",
		SIG_HEAD "\"signature\":\"@SIG86@!!\"}",
		SIG_HEAD "\"signature\":\"@SIG86@A=\"}",
		SIG_HEAD "\"signature\":12}",
	};
	struct fixture *f = *state;
	struct sign_key *pub = load(f->pub, 0);
	struct barge_err err;
	char id[DIGEST_STR_MAX], text[1024];
	/* A base64 of 64 bytes whose last character has padding bits set: not canonical. */
	char good[89], noncanon[89];
	char big[SIGN_SIG_MAX + 2];
	size_t i, n;

	memset(good, 'A', 86);
	strcpy(good + 86, "==");
	memcpy(noncanon, good, sizeof(good));
	noncanon[85] = 'B';
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = expand(text, sizeof(text), cases[i], f->id + 7, good);
		err.msg[0] = '\0';
		if (sign_read_keyid(text, n, id, &err) != BARGE_EFORMAT)
			fail_msg("case %zu accepted: %s", i, text);
		assert_non_null(strstr(err.msg, "barge.json.sig"));
		assert_int_equal(sign_check(&pub, 1, msg, sizeof(msg) - 1, text, n, id, &err),
		                 BARGE_EFORMAT);
	}
	n = expand(text, sizeof(text), SIG_HEAD "\"signature\":\"@SIG@\"}", f->id + 7, noncanon);
	assert_int_equal(sign_read_keyid(text, n, id, &err), BARGE_EFORMAT);
	/* The all-zero signature is well-formed, just wrong. */
	n = expand(text, sizeof(text), SIG_HEAD "\"signature\":\"@SIG@\"}", f->id + 7, good);
	assert_int_equal(sign_read_keyid(text, n, id, &err), BARGE_OK);
	assert_string_equal(id, f->id);
	assert_int_equal(sign_check(&pub, 1, msg, sizeof(msg) - 1, text, n, id, &err), BARGE_EAUTH);
	/* Larger than the bound, whatever it holds. */
	memset(big, ' ', sizeof(big));
	memcpy(big + SIGN_SIG_MAX + 1 - n, text, n);
	assert_int_equal(sign_read_keyid(big, SIGN_SIG_MAX + 1, id, &err), BARGE_EFORMAT);
	sign_key_free(pub);
}

static void
test_load_errors(void **state)
{
	struct fixture *f = *state;
	struct sign_key *k = NULL;
	struct barge_err err;
	char path[128];
	FILE *fp;

	/* A public key is not a private key and the other way round. */
	assert_int_equal(sign_key_load_private(f->pub, &k, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, f->pub));
	assert_int_equal(sign_key_load_public(f->key, &k, &err), BARGE_EFORMAT);
	assert_null(k);
	snprintf(path, sizeof(path), "%s/missing.pub", f->dir);
	assert_int_equal(sign_key_load_public(path, &k, &err), BARGE_ENOTFOUND);
	/* An RSA key is not an Ed25519 key. */
	snprintf(path, sizeof(path), "%s/rsa.pem", f->dir);
	{
		char *cmd =
		        fu_printf("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 "
		                  "-out '%s' 2>/dev/null",
		                  path);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	assert_int_equal(sign_key_load_private(path, &k, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "not an Ed25519 key"));
	snprintf(path, sizeof(path), "%s/junk.pub", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", fp);
	fclose(fp);
	assert_int_equal(sign_key_load_public(path, &k, &err), BARGE_EFORMAT);
	assert_null(k);
}

static void
test_sign_with_public_key(void **state)
{
	struct fixture *f = *state;
	struct sign_key *pub = load(f->pub, 0);
	struct barge_err err;
	char *sig = NULL;
	size_t siglen;

	assert_int_equal(sign_make(pub, msg, sizeof(msg) - 1, &sig, &siglen, &err), BARGE_EINVAL);
	assert_null(sig);
	sign_key_free(pub);
}

static void
test_load_dir(void **state)
{
	struct fixture *f = *state;
	struct sign_key **keys = NULL;
	struct barge_err err;
	char dir[128], prefix[160], ids[2][DIGEST_STR_MAX], id[DIGEST_STR_MAX];
	char *cmd;
	size_t n = 99, siglen;
	char *sig;

	snprintf(dir, sizeof(dir), "%s/trust", f->dir);
	assert_int_equal(fu_mkdirs(dir, 0755, &err), BARGE_OK);
	assert_int_equal(sign_key_load_dir(dir, &keys, &n, &err), BARGE_OK);
	assert_int_equal(n, 0);
	free(keys);
	snprintf(prefix, sizeof(prefix), "%s/k1", dir);
	assert_int_equal(sign_keygen(prefix, ids[0], &err), BARGE_OK);
	snprintf(prefix, sizeof(prefix), "%s/k2", dir);
	assert_int_equal(sign_keygen(prefix, ids[1], &err), BARGE_OK);
	/* Private keys and other files in the directory are not trust anchors. */
	cmd = fu_printf("cp '%s' '%s/a.pub' && echo hi > '%s/README'", f->pub, dir, dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	keys = NULL;
	if (sign_key_load_dir(dir, &keys, &n, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 3);
	/* Sorted by file name: a.pub, k1.pub, k2.pub. */
	assert_string_equal(sign_key_id(keys[0]), f->id);
	assert_string_equal(sign_key_id(keys[1]), ids[0]);
	assert_string_equal(sign_key_id(keys[2]), ids[1]);
	sig = make_sig(f->key, msg, sizeof(msg) - 1, &siglen);
	assert_int_equal(sign_check(keys, n, msg, sizeof(msg) - 1, sig, siglen, id, &err),
	                 BARGE_OK);
	assert_string_equal(id, f->id);
	free(sig);
	for (size_t i = 0; i < n; i++)
		sign_key_free(keys[i]);
	free(keys);
	/* A bad .pub in the directory is an error naming it, not silently skipped. */
	cmd = fu_printf("echo junk > '%s/zz.pub'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	keys = NULL;
	assert_int_equal(sign_key_load_dir(dir, &keys, &n, &err), BARGE_EFORMAT);
	assert_non_null(strstr(err.msg, "zz.pub"));
	assert_null(keys);
	snprintf(dir, sizeof(dir), "%s/nope", f->dir);
	assert_int_equal(sign_key_load_dir(dir, &keys, &n, &err), BARGE_ENOTFOUND);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_keygen_files, setup, teardown),
	cmocka_unit_test_setup_teardown(test_keyid_matches_openssl, setup, teardown),
	cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tampered_message, setup, teardown),
	cmocka_unit_test_setup_teardown(test_tampered_signature, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_sig, setup, teardown),
	cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	cmocka_unit_test_setup_teardown(test_sign_with_public_key, setup, teardown),
	cmocka_unit_test_setup_teardown(test_load_dir, setup, teardown),
};

BARGE_TEST_MAIN(tests)
