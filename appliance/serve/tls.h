/*
 * tls: the certificate barged serves HTTPS with (DESIGN §9).
 *
 *   DATA_DIR/ca.crt          the local CA, what mirror configs and clients trust (0644)
 *   DATA_DIR/tls/ca.key      its key (0600)
 *   DATA_DIR/tls/server.crt  the server certificate, signed by the CA (0644)
 *   DATA_DIR/tls/server.key  its key, PKCS#8 PEM (0600)
 *
 * When server.crt and server.key exist they are used, unless our CA issued
 * them and the certificate expires within 30 days or lacks one of the names
 * asked for; then it is issued again.  A certificate an operator put there
 * is never replaced.  Otherwise a CA (EC P-256, 10 years) is created, or the
 * existing one reused, and a server certificate (EC P-256, 825 days,
 * serverAuth) is issued whose subjectAltName covers localhost, 127.0.0.1,
 * ::1, the host name, every interface address that is not link-local, and
 * the names given.  Addresses the host gains later are not noticed: remove
 * server.crt (or pass them as names) to have them included.  Every file is
 * written atomically.
 */
#ifndef BARGE_TLS_H
#define BARGE_TLS_H

#include <stddef.h>

#include "err.h"

#define TLS_PEM_MAX (64 * 1024) /* largest certificate or key file read */

/*
 * Loads or creates the server certificate and key of data_dir.  names are
 * extra DNS names or IP addresses for the subjectAltName of a new
 * certificate.  On success *cert_pem and *key_pem are new NUL-terminated
 * PEM strings the caller frees (the key should be wiped first).
 */
int tls_ensure(const char *data_dir, const char *const *names, size_t nnames, char **cert_pem,
               char **key_pem, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Reads an operator's certificate chain and key (tls.cert, tls.key) and
 * checks that the key belongs to the first certificate, so that a reload
 * with a mismatched pair fails before anything changes.  Same ownership as
 * tls_ensure.
 */
int tls_load_files(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
                   struct barge_err *err) BARGE_MUST_CHECK;

#endif
