/*
 * tls: barged's CA and server certificate in the data directory, loaded,
 * checked and issued again when due (tls.h).  Owns the OpenSSL objects of
 * one call; the PEM texts it returns are the caller's.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fileutil.h"

#define TLS_CA_DAYS     3650
#define TLS_SERVER_DAYS 825
#define TLS_RENEW_DAYS  30  /* a certificate we issued is replaced this long before it expires */
#define TLS_NAME_MAX    253 /* longest DNS name */
/* subjectAltName entries: a bound against hosts with absurd interface lists. */
#define TLS_SAN_MAX 256

/* Records an OpenSSL failure with the library's own reason. */
static int
tls_ssl_err(struct barge_err *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0)
		return err_set(err, BARGE_EINTERNAL, "%s failed", what);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return err_set(err, BARGE_EINTERNAL, "%s: %s", what, buf);
}

static int
tls_file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Whether s may be a DNS name in a certificate (a leading "*." wildcard allowed). */
static int
tls_dns_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > TLS_NAME_MAX || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-')
			continue;
		if (c == '.' && s[i + 1] != '.')
			continue;
		if (c == '*' && i == 0 && s[1] == '.')
			continue;
		return 0;
	}
	return 1;
}

/* Adds gen to gens unless an equal name is there; takes ownership of gen. */
static int
tls_san_add(GENERAL_NAMES *gens, GENERAL_NAME *gen, struct barge_err *err)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, i), gen) == 0) {
			GENERAL_NAME_free(gen);
			return BARGE_OK;
		}
	}
	if (sk_GENERAL_NAME_num(gens) >= TLS_SAN_MAX) {
		GENERAL_NAME_free(gen);
		return err_set(err, BARGE_ELIMIT, "more than %d certificate names", TLS_SAN_MAX);
	}
	if (sk_GENERAL_NAME_push(gens, gen) == 0) {
		GENERAL_NAME_free(gen);
		return err_set(err, BARGE_ENOMEM, "certificate names: out of memory");
	}
	return BARGE_OK;
}

static int
tls_san_ip(GENERAL_NAMES *gens, const unsigned char *addr, int len, struct barge_err *err)
{
	ASN1_OCTET_STRING *ip = NULL;
	GENERAL_NAME *gen = NULL;

	if ((ip = ASN1_OCTET_STRING_new()) == NULL || ASN1_OCTET_STRING_set(ip, addr, len) == 0 ||
	    (gen = GENERAL_NAME_new()) == NULL) {
		ASN1_OCTET_STRING_free(ip);
		return err_set(err, BARGE_ENOMEM, "certificate names: out of memory");
	}
	GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
	return tls_san_add(gens, gen, err);
}

/* Adds name as an IP address when it is one, else as a DNS name. */
static int
tls_san_name(GENERAL_NAMES *gens, const char *name, struct barge_err *err)
{
	unsigned char addr[sizeof(struct in6_addr)];
	ASN1_IA5STRING *dns = NULL;
	GENERAL_NAME *gen = NULL;

	if (inet_pton(AF_INET, name, addr) == 1)
		return tls_san_ip(gens, addr, 4, err);
	if (inet_pton(AF_INET6, name, addr) == 1)
		return tls_san_ip(gens, addr, 16, err);
	if (!tls_dns_name_ok(name))
		return err_set(err, BARGE_EINVAL, "TLS name '%s': not a DNS name or IP address",
		               name);
	if ((dns = ASN1_IA5STRING_new()) == NULL || ASN1_STRING_set(dns, name, -1) == 0 ||
	    (gen = GENERAL_NAME_new()) == NULL) {
		ASN1_IA5STRING_free(dns);
		return err_set(err, BARGE_ENOMEM, "certificate names: out of memory");
	}
	GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
	return tls_san_add(gens, gen, err);
}

/* Every address of the host's interfaces, skipping link-local ones (they need a zone). */
static int
tls_san_interfaces(GENERAL_NAMES *gens, struct barge_err *err)
{
	struct ifaddrs *ifs = NULL, *i;
	int rc = BARGE_OK;

	if (getifaddrs(&ifs) != 0)
		return BARGE_OK; /* Names and loopback still make a usable certificate. */
	for (i = ifs; i != NULL && rc == BARGE_OK; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)i->ifa_addr;
			const unsigned char *a = (const unsigned char *)&in->sin_addr;

			if (a[0] == 169 && a[1] == 254)
				continue;
			rc = tls_san_ip(gens, a, 4, err);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)i->ifa_addr;

			if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr))
				continue;
			rc = tls_san_ip(gens, (const unsigned char *)&in6->sin6_addr, 16, err);
		}
	}
	freeifaddrs(ifs);
	return rc;
}

static int
tls_build_san(const char *hostname, const char *const *names, size_t nnames, GENERAL_NAMES **out,
              struct barge_err *err)
{
	static const unsigned char lo4[4] = { 127, 0, 0, 1 };
	GENERAL_NAMES *gens;
	size_t i;
	int rc;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return err_set(err, BARGE_ENOMEM, "certificate names: out of memory");
	if ((rc = tls_san_name(gens, "localhost", err)) != BARGE_OK ||
	    (rc = tls_san_ip(gens, lo4, 4, err)) != BARGE_OK ||
	    (rc = tls_san_ip(gens, in6addr_loopback.s6_addr, 16, err)) != BARGE_OK)
		goto fail;
	if (hostname[0] != '\0' && tls_dns_name_ok(hostname) &&
	    (rc = tls_san_name(gens, hostname, err)) != BARGE_OK)
		goto fail;
	if ((rc = tls_san_interfaces(gens, err)) != BARGE_OK)
		goto fail;
	for (i = 0; i < nnames; i++)
		if ((rc = tls_san_name(gens, names[i], err)) != BARGE_OK)
			goto fail;
	*out = gens;
	return BARGE_OK;
fail:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int
tls_add_ext(X509 *x, X509 *issuer, int nid, const char *value, struct barge_err *err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return tls_ssl_err(err, "certificate extension");
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? BARGE_OK : tls_ssl_err(err, "certificate extension");
}

/* A new certificate with a random 128-bit serial, key, subject CN and validity set. */
static int
tls_new_cert(EVP_PKEY *key, const char *cn, long days, X509 **out, struct barge_err *err)
{
	unsigned char serial[16];
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	X509 *x = NULL;
	int rc;

	if ((x = X509_new()) == NULL || X509_set_version(x, X509_VERSION_3) == 0) {
		rc = tls_ssl_err(err, "new certificate");
		goto fail;
	}
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		rc = tls_ssl_err(err, "certificate serial");
		goto fail;
	}
	serial[0] &= 0x7f;
	serial[0] |= 0x40; /* positive, and always 16 bytes long */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		rc = tls_ssl_err(err, "certificate serial");
		goto fail;
	}
	/* An hour of slack for clocks that disagree a little. */
	if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL) {
		rc = tls_ssl_err(err, "certificate validity");
		goto fail;
	}
	if ((name = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) == 0 ||
	    X509_set_subject_name(x, name) == 0 || X509_set_pubkey(x, key) == 0) {
		rc = tls_ssl_err(err, "certificate subject");
		goto fail;
	}
	BN_free(bn);
	X509_NAME_free(name);
	*out = x;
	return BARGE_OK;
fail:
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

static int
tls_make_ca(const char *hostname, X509 **cert, EVP_PKEY **key, struct barge_err *err)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char cn[300];
	int rc;

	snprintf(cn, sizeof(cn), "Barge local CA %.200s", hostname[0] ? hostname : "barged");
	if ((k = EVP_EC_gen("P-256")) == NULL) {
		rc = tls_ssl_err(err, "CA key");
		goto fail;
	}
	if ((rc = tls_new_cert(k, cn, TLS_CA_DAYS, &x, err)) != BARGE_OK)
		goto fail;
	if (X509_set_issuer_name(x, X509_get_subject_name(x)) == 0) {
		rc = tls_ssl_err(err, "CA issuer");
		goto fail;
	}
	if ((rc = tls_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE", err)) != BARGE_OK ||
	    (rc = tls_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign", err)) !=
	            BARGE_OK ||
	    (rc = tls_add_ext(x, x, NID_subject_key_identifier, "hash", err)) != BARGE_OK ||
	    (rc = tls_add_ext(x, x, NID_authority_key_identifier, "keyid:always", err)) != BARGE_OK)
		goto fail;
	if (X509_sign(x, k, EVP_sha256()) == 0) {
		rc = tls_ssl_err(err, "signing the CA certificate");
		goto fail;
	}
	*cert = x;
	*key = k;
	return BARGE_OK;
fail:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static int
tls_make_server(X509 *ca, EVP_PKEY *ca_key, const char *hostname, const char *const *names,
                size_t nnames, X509 **cert, EVP_PKEY **key, struct barge_err *err)
{
	GENERAL_NAMES *san = NULL;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	int rc;

	if ((rc = tls_build_san(hostname, names, nnames, &san, err)) != BARGE_OK)
		goto fail;
	if ((k = EVP_EC_gen("P-256")) == NULL) {
		rc = tls_ssl_err(err, "server key");
		goto fail;
	}
	if ((rc = tls_new_cert(k, hostname[0] ? hostname : "barged", TLS_SERVER_DAYS, &x, err)) !=
	    BARGE_OK)
		goto fail;
	if (X509_set_issuer_name(x, X509_get_subject_name(ca)) == 0) {
		rc = tls_ssl_err(err, "server certificate issuer");
		goto fail;
	}
	if ((rc = tls_add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE", err)) !=
	            BARGE_OK ||
	    (rc = tls_add_ext(x, ca, NID_key_usage, "critical,digitalSignature", err)) !=
	            BARGE_OK ||
	    (rc = tls_add_ext(x, ca, NID_ext_key_usage, "serverAuth", err)) != BARGE_OK ||
	    (rc = tls_add_ext(x, ca, NID_subject_key_identifier, "hash", err)) != BARGE_OK ||
	    (rc = tls_add_ext(x, ca, NID_authority_key_identifier, "keyid:always", err)) !=
	            BARGE_OK)
		goto fail;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1) {
		rc = tls_ssl_err(err, "server certificate names");
		goto fail;
	}
	if (X509_sign(x, ca_key, EVP_sha256()) == 0) {
		rc = tls_ssl_err(err, "signing the server certificate");
		goto fail;
	}
	GENERAL_NAMES_free(san);
	*cert = x;
	*key = k;
	return BARGE_OK;
fail:
	GENERAL_NAMES_free(san);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* Copies what was written to a memory BIO into a new NUL-terminated string. */
static int
tls_bio_string(BIO *b, char **out, struct barge_err *err)
{
	char *data, *s;
	long n;

	n = BIO_get_mem_data(b, &data);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return err_set(err, BARGE_ENOMEM, "PEM: out of memory");
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*out = s;
	return BARGE_OK;
}

static int
tls_cert_pem(X509 *x, char **out, struct barge_err *err)
{
	BIO *b;
	int rc;

	if ((b = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(b, x) == 0) {
		BIO_free(b);
		return tls_ssl_err(err, "writing certificate PEM");
	}
	rc = tls_bio_string(b, out, err);
	BIO_free(b);
	return rc;
}

/* PKCS#8 ("BEGIN PRIVATE KEY"), which both OpenSSL and GnuTLS read. */
static int
tls_key_pem(EVP_PKEY *k, char **out, struct barge_err *err)
{
	BIO *b;
	int rc;

	if ((b = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 0) {
		BIO_free(b);
		return tls_ssl_err(err, "writing key PEM");
	}
	rc = tls_bio_string(b, out, err);
	BIO_free(b);
	return rc;
}

/*
 * Parses a certificate and key (PEM text, named by their files in messages)
 * and checks that they belong together.  cert and key may be NULL when the
 * caller only wants the check.
 */
static int
tls_check_pair(const char *crt_pem, const char *key_pem, const char *crt_path, const char *key_path,
               X509 **cert, EVP_PKEY **key, struct barge_err *err)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	BIO *b = NULL;
	int rc;

	if ((b = BIO_new_mem_buf(crt_pem, -1)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		rc = tls_ssl_err(err, crt_path);
		goto fail;
	}
	BIO_free(b);
	if ((b = BIO_new_mem_buf(key_pem, -1)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		rc = tls_ssl_err(err, key_path);
		goto fail;
	}
	if (X509_check_private_key(x, k) != 1) {
		ERR_clear_error();
		rc = err_set(err, BARGE_EINVAL, "%s does not belong to %s", key_path, crt_path);
		goto fail;
	}
	BIO_free(b);
	if (cert != NULL) {
		*cert = x;
		x = NULL;
	}
	if (key != NULL) {
		*key = k;
		k = NULL;
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return BARGE_OK;
fail:
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* Loads the CA certificate and key and checks that they belong together. */
static int
tls_load_ca(const char *crt_path, const char *key_path, X509 **cert, EVP_PKEY **key,
            struct barge_err *err)
{
	char *crt_pem = NULL, *key_pem = NULL;
	int rc;

	if ((rc = fu_read_file(crt_path, TLS_PEM_MAX, &crt_pem, NULL, err)) == BARGE_OK &&
	    (rc = fu_read_file(key_path, TLS_PEM_MAX, &key_pem, NULL, err)) == BARGE_OK)
		rc = tls_check_pair(crt_pem, key_pem, crt_path, key_path, cert, key, err);
	free(crt_pem);
	fu_free_secret(key_pem);
	return rc;
}

int
tls_load_files(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
               struct barge_err *err)
{
	char *crt = NULL, *key = NULL;
	int rc;

	if ((rc = fu_read_file(cert_path, TLS_PEM_MAX, &crt, NULL, err)) == BARGE_OK &&
	    (rc = fu_read_file(key_path, TLS_PEM_MAX, &key, NULL, err)) == BARGE_OK &&
	    (rc = tls_check_pair(crt, key, cert_path, key_path, NULL, NULL, err)) == BARGE_OK) {
		*cert_pem = crt;
		*key_pem = key;
		return BARGE_OK;
	}
	free(crt);
	fu_free_secret(key);
	return rc;
}

/*
 * Whether a server certificate issued by our CA should be issued again: it
 * expires within TLS_RENEW_DAYS, or lacks a name asked for.  A certificate
 * we did not issue (an operator's own) is never replaced.
 */
static int
tls_should_renew(const char *crt_pem, const char *ca_crt, const char *const *names, size_t nnames)
{
	char *ca_pem = NULL;
	X509 *srv = NULL, *ca = NULL;
	BIO *b = NULL;
	time_t soon;
	size_t i;
	int renew = 0;

	if (fu_read_file(ca_crt, TLS_PEM_MAX, &ca_pem, NULL, NULL) != BARGE_OK)
		goto out;
	if ((b = BIO_new_mem_buf(ca_pem, -1)) == NULL ||
	    (ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		goto out;
	BIO_free(b);
	if ((b = BIO_new_mem_buf(crt_pem, -1)) == NULL ||
	    (srv = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		goto out;
	if (X509_check_issued(ca, srv) != X509_V_OK || X509_verify(srv, X509_get0_pubkey(ca)) != 1)
		goto out;
	soon = time(NULL) + (time_t)TLS_RENEW_DAYS * 24 * 3600;
	if (X509_cmp_time(X509_get0_notAfter(srv), &soon) <= 0)
		renew = 1;
	for (i = 0; i < nnames && !renew; i++) {
		if (X509_check_ip_asc(srv, names[i], 0) == 1 ||
		    X509_check_host(srv, names[i], 0, 0, NULL) == 1)
			continue;
		renew = 1;
	}
out:
	ERR_clear_error();
	BIO_free(b);
	X509_free(srv);
	X509_free(ca);
	free(ca_pem);
	return renew;
}

int
tls_ensure(const char *data_dir, const char *const *names, size_t nnames, char **cert_pem,
           char **key_pem, struct barge_err *err)
{
	char *dir = NULL, *ca_crt = NULL, *ca_key = NULL, *srv_crt = NULL, *srv_key = NULL;
	char *ca_crt_pem = NULL, *ca_key_pem = NULL, *crt = NULL, *key = NULL;
	EVP_PKEY *ca_k = NULL, *srv_k = NULL;
	X509 *ca = NULL, *srv = NULL;
	char hostname[256] = "";
	int rc;

	if ((dir = fu_printf("%s/tls", data_dir)) == NULL ||
	    (ca_crt = fu_printf("%s/ca.crt", data_dir)) == NULL ||
	    (ca_key = fu_printf("%s/tls/ca.key", data_dir)) == NULL ||
	    (srv_crt = fu_printf("%s/tls/server.crt", data_dir)) == NULL ||
	    (srv_key = fu_printf("%s/tls/server.key", data_dir)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if (tls_file_exists(srv_crt) && tls_file_exists(srv_key)) {
		if ((rc = fu_read_file(srv_crt, TLS_PEM_MAX, &crt, NULL, err)) != BARGE_OK ||
		    (rc = fu_read_file(srv_key, TLS_PEM_MAX, &key, NULL, err)) != BARGE_OK)
			goto out;
		if (!tls_file_exists(ca_key) || !tls_should_renew(crt, ca_crt, names, nnames))
			goto done;
		free(crt);
		fu_free_secret(key);
		crt = key = NULL;
	}

	if (gethostname(hostname, sizeof(hostname) - 1) != 0)
		hostname[0] = '\0';
	if ((rc = fu_mkdirs(data_dir, 0755, err)) != BARGE_OK ||
	    (rc = fu_mkdirs(dir, 0700, err)) != BARGE_OK)
		goto out;
	/* Clients already trust an existing CA: keep it unless half of it is missing. */
	if (tls_file_exists(ca_crt) && tls_file_exists(ca_key)) {
		if ((rc = tls_load_ca(ca_crt, ca_key, &ca, &ca_k, err)) != BARGE_OK)
			goto out;
	} else {
		if ((rc = tls_make_ca(hostname, &ca, &ca_k, err)) != BARGE_OK ||
		    (rc = tls_cert_pem(ca, &ca_crt_pem, err)) != BARGE_OK ||
		    (rc = tls_key_pem(ca_k, &ca_key_pem, err)) != BARGE_OK)
			goto out;
		/* The key first: a certificate on disk always has its key. */
		if ((rc = fu_write_atomic(ca_key, ca_key_pem, strlen(ca_key_pem), 0600, err)) !=
		            BARGE_OK ||
		    (rc = fu_write_atomic(ca_crt, ca_crt_pem, strlen(ca_crt_pem), 0644, err)) !=
		            BARGE_OK)
			goto out;
	}
	if ((rc = tls_make_server(ca, ca_k, hostname, names, nnames, &srv, &srv_k, err)) !=
	            BARGE_OK ||
	    (rc = tls_cert_pem(srv, &crt, err)) != BARGE_OK ||
	    (rc = tls_key_pem(srv_k, &key, err)) != BARGE_OK)
		goto out;
	if ((rc = fu_write_atomic(srv_key, key, strlen(key), 0600, err)) != BARGE_OK ||
	    (rc = fu_write_atomic(srv_crt, crt, strlen(crt), 0644, err)) != BARGE_OK)
		goto out;
done:
	*cert_pem = crt;
	*key_pem = key;
	crt = NULL;
	key = NULL;
	rc = BARGE_OK;
out:
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(ca_k);
	EVP_PKEY_free(srv_k);
	free(ca_crt_pem);
	fu_free_secret(ca_key_pem);
	free(crt);
	fu_free_secret(key);
	free(dir);
	free(ca_crt);
	free(ca_key);
	free(srv_crt);
	free(srv_key);
	return rc;
}
