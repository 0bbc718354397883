#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fileutil.h"
#include "fixture.h"
#include "tls.h"

static int
file_mode(const char *dir, const char *name)
{
	struct stat st;
	char *p = fu_printf("%s/%s", dir, name);

	assert_non_null(p);
	assert_int_equal(stat(p, &st), 0);
	free(p);
	return (int)(st.st_mode & 07777);
}

static X509 *
pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;

	assert_non_null(b);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(x);
	return x;
}

static X509 *
file_cert(const char *dir, const char *name)
{
	char *p = fu_printf("%s/%s", dir, name), *pem = NULL;
	struct barge_err err = { 0 };
	X509 *x;

	assert_non_null(p);
	assert_int_equal(fu_read_file(p, TLS_PEM_MAX, &pem, NULL, &err), BARGE_OK);
	x = pem_cert(pem);
	free(pem);
	free(p);
	return x;
}

static void
test_creates_files_with_modes(void **state)
{
	const char *names[] = { "registry.example.test", "10.9.8.7" };
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls"), *data = fu_printf("%s/data", dir);
	char *cert = NULL, *key = NULL;

	assert_int_equal(tls_ensure(data, names, 2, &cert, &key, &err), BARGE_OK);
	assert_non_null(strstr(cert, "-----BEGIN CERTIFICATE-----"));
	/* PKCS#8, which GnuTLS in libmicrohttpd reads. */
	assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(file_mode(data, "ca.crt"), 0644);
	assert_int_equal(file_mode(data, "tls/ca.key"), 0600);
	assert_int_equal(file_mode(data, "tls/server.crt"), 0644);
	assert_int_equal(file_mode(data, "tls/server.key"), 0600);
	free(cert);
	free(key);
	free(data);
	fx_rmtree(dir);
	free(dir);
}

static void
test_load_again_same_cert(void **state)
{
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls");
	char *c1 = NULL, *k1 = NULL, *c2 = NULL, *k2 = NULL;

	assert_int_equal(tls_ensure(dir, NULL, 0, &c1, &k1, &err), BARGE_OK);
	assert_int_equal(tls_ensure(dir, NULL, 0, &c2, &k2, &err), BARGE_OK);
	assert_string_equal(c1, c2);
	assert_string_equal(k1, k2);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
	fx_rmtree(dir);
	free(dir);
}

static void
test_ca_reused_for_new_server_cert(void **state)
{
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls"), *p;
	char *c1 = NULL, *k1 = NULL, *c2 = NULL, *k2 = NULL;
	X509 *ca1, *ca2;

	assert_int_equal(tls_ensure(dir, NULL, 0, &c1, &k1, &err), BARGE_OK);
	ca1 = file_cert(dir, "ca.crt");
	/* Removing the server certificate makes a new one, signed by the same CA. */
	p = fu_printf("%s/tls/server.crt", dir);
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(tls_ensure(dir, NULL, 0, &c2, &k2, &err), BARGE_OK);
	assert_string_not_equal(c1, c2);
	ca2 = file_cert(dir, "ca.crt");
	assert_int_equal(X509_cmp(ca1, ca2), 0);
	X509_free(ca1);
	X509_free(ca2);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
	fx_rmtree(dir);
	free(dir);
}

static void
test_chain_and_names(void **state)
{
	const char *names[] = { "registry.example.test", "10.9.8.7", "fd00::99" };
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls");
	char *cert = NULL, *key = NULL;
	X509_STORE_CTX *ctx;
	X509_STORE *store;
	BASIC_CONSTRAINTS *bc;
	X509 *ca, *srv;

	assert_int_equal(tls_ensure(dir, names, 3, &cert, &key, &err), BARGE_OK);
	srv = pem_cert(cert);
	ca = file_cert(dir, "ca.crt");

	store = X509_STORE_new();
	assert_non_null(store);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	ctx = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_CTX_init(ctx, store, srv, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("verify: %s",
		         X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);

	assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "registry.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "other.example.test", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "10.9.8.7", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "fd00::99", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "10.9.8.6", 0), 0);
	assert_true(X509_get_extension_flags(srv) & EXFLAG_XKUSAGE);
	assert_true(X509_get_extended_key_usage(srv) & XKU_SSL_SERVER);
	assert_int_equal(X509_check_ca(srv), 0);
	assert_int_equal(X509_check_ca(ca), 1);
	bc = X509_get_ext_d2i(ca, NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_issued(ca, srv), X509_V_OK);

	X509_free(ca);
	X509_free(srv);
	free(cert);
	free(key);
	fx_rmtree(dir);
	free(dir);
}

static void
test_renewed_for_new_name(void **state)
{
	const char *n1[] = { "a.example.test" }, *n2[] = { "a.example.test", "10.1.2.3" };
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls");
	char *c1 = NULL, *k1 = NULL, *c2 = NULL, *k2 = NULL, *c3 = NULL, *k3 = NULL;
	X509 *ca, *srv;

	assert_int_equal(tls_ensure(dir, n1, 1, &c1, &k1, &err), BARGE_OK);
	/* Asking for names it has changes nothing. */
	assert_int_equal(tls_ensure(dir, n1, 1, &c2, &k2, &err), BARGE_OK);
	assert_string_equal(c1, c2);
	/* A new one makes a new certificate from the same CA. */
	assert_int_equal(tls_ensure(dir, n2, 2, &c3, &k3, &err), BARGE_OK);
	assert_string_not_equal(c1, c3);
	assert_string_not_equal(k1, k3);
	srv = pem_cert(c3);
	ca = file_cert(dir, "ca.crt");
	assert_int_equal(X509_check_issued(ca, srv), X509_V_OK);
	assert_int_equal(X509_check_ip_asc(srv, "10.1.2.3", 0), 1);
	assert_int_equal(X509_check_host(srv, "a.example.test", 0, 0, NULL), 1);
	X509_free(srv);
	X509_free(ca);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
	free(c3);
	free(k3);
	fx_rmtree(dir);
	free(dir);
}

/* A certificate of our CA that expires in 10 days is issued again. */
static void
test_renewed_before_expiry(void **state)
{
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls"), *p, *kpem = NULL, *c2 = NULL, *k2 = NULL;
	char *c1 = NULL, *k1 = NULL;
	EVP_PKEY *cakey;
	X509 *ca, *old, *srv;
	BIO *b;
	FILE *fp;
	time_t soon = time(NULL) + 40 * 24 * 3600;

	assert_int_equal(tls_ensure(dir, NULL, 0, &c1, &k1, &err), BARGE_OK);
	ca = file_cert(dir, "ca.crt");
	p = fu_printf("%s/tls/ca.key", dir);
	assert_int_equal(fu_read_file(p, TLS_PEM_MAX, &kpem, NULL, &err), BARGE_OK);
	free(p);
	b = BIO_new_mem_buf(kpem, -1);
	cakey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(cakey);
	/* The same certificate, re-signed to expire in 10 days. */
	old = pem_cert(c1);
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(old), 10, 0, NULL));
	assert_true(X509_sign(old, cakey, EVP_sha256()) > 0);
	p = fu_printf("%s/tls/server.crt", dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, old), 1);
	assert_int_equal(fclose(fp), 0);
	free(p);

	assert_int_equal(tls_ensure(dir, NULL, 0, &c2, &k2, &err), BARGE_OK);
	srv = pem_cert(c2);
	assert_int_equal(X509_check_issued(ca, srv), X509_V_OK);
	assert_string_not_equal(k1, k2);
	assert_true(X509_cmp_time(X509_get0_notAfter(srv), &soon) > 0);
	X509_free(srv);
	X509_free(old);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	free(kpem);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
	fx_rmtree(dir);
	free(dir);
}

/* A certificate an operator put in tls/ is used as it is, whatever names are asked for. */
static void
test_operator_cert_kept(void **state)
{
	const char *names[] = { "not-in-it.example.test" };
	struct barge_err err = { 0 };
	char *mine = fx_tmpdir_new("tls"), *theirs = fx_tmpdir_new("tls"), *p;
	char *c1 = NULL, *k1 = NULL, *oc = NULL, *ok = NULL, *c2 = NULL, *k2 = NULL;

	assert_int_equal(tls_ensure(mine, NULL, 0, &c1, &k1, &err), BARGE_OK);
	/* A certificate from another CA stands for the operator's own. */
	assert_int_equal(tls_ensure(theirs, NULL, 0, &oc, &ok, &err), BARGE_OK);
	p = fu_printf("%s/tls/server.crt", mine);
	assert_int_equal(fu_write_atomic(p, oc, strlen(oc), 0644, &err), BARGE_OK);
	free(p);
	p = fu_printf("%s/tls/server.key", mine);
	assert_int_equal(fu_write_atomic(p, ok, strlen(ok), 0600, &err), BARGE_OK);
	free(p);
	assert_int_equal(tls_ensure(mine, names, 1, &c2, &k2, &err), BARGE_OK);
	assert_string_equal(c2, oc);
	assert_string_equal(k2, ok);
	free(c1);
	free(k1);
	free(oc);
	free(ok);
	free(c2);
	free(k2);
	fx_rmtree(mine);
	fx_rmtree(theirs);
	free(mine);
	free(theirs);
}

static void
test_bad_name_rejected(void **state)
{
	const char *names[] = { "bad name,with comma" };
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls");
	char *cert = NULL, *key = NULL;

	assert_int_equal(tls_ensure(dir, names, 1, &cert, &key, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "bad name,with comma"));
	assert_null(cert);
	assert_null(key);
	fx_rmtree(dir);
	free(dir);
}

static void
test_load_files_checks_pair(void **state)
{
	struct barge_err err = { 0 };
	char *dir = fx_tmpdir_new("tls");
	char *cert = NULL, *key = NULL, *c2 = NULL, *k2 = NULL;
	char *crt_path = fu_printf("%s/tls/server.crt", dir);
	char *key_path = fu_printf("%s/tls/server.key", dir);
	char *ca_key = fu_printf("%s/tls/ca.key", dir);

	(void)state;
	assert_int_equal(tls_ensure(dir, NULL, 0, &cert, &key, &err), BARGE_OK);
	assert_int_equal(tls_load_files(crt_path, key_path, &c2, &k2, &err), BARGE_OK);
	assert_string_equal(c2, cert);
	assert_string_equal(k2, key);
	free(c2);
	free(k2);
	c2 = k2 = NULL;
	/* The CA's key does not belong to the server certificate. */
	assert_int_equal(tls_load_files(crt_path, ca_key, &c2, &k2, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "does not belong to"));
	assert_null(c2);
	/* A key file given as the certificate is no certificate. */
	assert_int_equal(tls_load_files(key_path, key_path, &c2, &k2, &err), BARGE_EINTERNAL);
	assert_non_null(strstr(err.msg, key_path));
	assert_int_equal(tls_load_files("/nonexistent.crt", key_path, &c2, &k2, &err),
	                 BARGE_ENOTFOUND);
	assert_null(c2);
	free(cert);
	free(key);
	free(crt_path);
	free(key_path);
	free(ca_key);
	fx_rmtree(dir);
	free(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_creates_files_with_modes),
	cmocka_unit_test(test_load_again_same_cert),
	cmocka_unit_test(test_ca_reused_for_new_server_cert),
	cmocka_unit_test(test_chain_and_names),
	cmocka_unit_test(test_renewed_for_new_name),
	cmocka_unit_test(test_renewed_before_expiry),
	cmocka_unit_test(test_operator_cert_kept),
	cmocka_unit_test(test_bad_name_rejected),
	cmocka_unit_test(test_load_files_checks_pair),
};

BARGE_TEST_MAIN(tests)
