/*
 * http_server: libmicrohttpd behind barged's own request and response
 * calls (http_server.h).  This file owns the daemons: their start and
 * stop, the listening socket they share, the TLS credentials and their
 * reload, libmicrohttpd's log, and the guard's view of connections.  A
 * request's life is http_req.c's, its response http_resp.c's
 * (http_server_int.h).
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http_guard.h"
#include "http_server_int.h"

/*
 * More threads than cores, on purpose.  libmicrohttpd sends one TLS record
 * (16 KiB) per connection per turn of a thread's event loop, so a thread
 * that serves many busy connections trickles data to each and its clients
 * wake per record; and the scheduler shares the cores per thread, so
 * clients on the same host (bench/serve.sh: 32 curl processes) outnumber
 * 4 server threads.  On 2 cores, 32
 * concurrent TLS blob GETs ran at 0.6-0.7x nginx with 4 threads and
 * 0.9-1.0x with 16; a thread costs about 14 KiB of RSS.
 */
#define HTTP_DEFAULT_THREADS 16
#define HTTP_DEFAULT_CONNS   1024
/*
 * Enough for a node pulling many layers of many images at once (containerd
 * opens a few connections per image), or a handful of nodes behind one NAT
 * address; one address can then hold at most an eighth of the connections.
 */
#define HTTP_DEFAULT_PER_IP  128
#define HTTP_DEFAULT_TIMEOUT 120 /* seconds a connection may stay silent */
/*
 * Seconds for a request head to arrive, counted from the connection's
 * accept or from the end of its previous request.  A client on any working
 * network sends a head in well under a second; 30 s also keeps idle
 * kept-alive connections for as long as most servers do.
 */
#define HTTP_DEFAULT_HEAD_TIMEOUT 30
#define HTTP_DEFAULT_STOP_MS      10000

/*
 * TLS 1.2 and 1.3 only, AEAD ciphers only (no CBC, no SHA-1 MAC) and ECDHE
 * key exchange only (forward secrecy; no static RSA, no finite-field DHE).
 * The client's order decides among them, as with nginx's default.
 */
#define HTTP_TLS_PRIORITIES                                                                 \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

/*
 * libmicrohttpd's diagnostics: kept (the last one) for start-up errors, never
 * printed.  Its formats are libmicrohttpd's own literals.
 */
static void BARGE_PRINTF(2, 0) http_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	size_t n;

	pthread_mutex_lock(&s->log_mtx);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	n = strlen(s->last_error);
	while (n > 0 && (s->last_error[n - 1] == '\n' || s->last_error[n - 1] == '\r'))
		s->last_error[--n] = '\0';
	pthread_mutex_unlock(&s->log_mtx);
}

/*
 * A connection opens or closes: the guard learns of it.  libmicrohttpd
 * tells of a close before it closes the socket, as the guard needs.
 */
static void
http_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *info;
	struct http_server *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		http_guard_close(s->guard, *socket_context);
		*socket_context = NULL;
		return;
	}
	/* Unguarded (out of memory), a connection still has conn_timeout and max_conns. */
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info != NULL)
		*socket_context = http_guard_open(s->guard, info->connect_fd);
}

/*
 * Fills sa from "ADDR:PORT" or "[ADDR]:PORT" (numeric addresses only: a
 * listen address never waits on DNS), or sets *any for ":PORT".
 */
static int
http_parse_listen(const char *listen, struct sockaddr_storage *sa, int *any, uint16_t *port,
                  struct barge_err *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *p;
	unsigned long v;
	char *end;
	size_t hlen;

	memset(sa, 0, sizeof(*sa));
	*any = 0;
	if (listen == NULL || *listen == '\0')
		return err_set(err, BARGE_EINVAL, "empty listen address");
	if (listen[0] == '[') {
		if ((p = strchr(listen, ']')) == NULL || p[1] != ':')
			return err_set(err, BARGE_EINVAL, "%s: expected [ADDR]:PORT", listen);
		hlen = (size_t)(p - listen - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return err_set(err, BARGE_EINVAL, "%s: bad IPv6 address", listen);
		memcpy(host, listen + 1, hlen);
		colon = p + 1;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			return err_set(err, BARGE_EINVAL, "%s: expected ADDR:PORT or :PORT",
			               listen);
		hlen = (size_t)(colon - listen);
		if (hlen >= sizeof(host))
			return err_set(err, BARGE_EINVAL, "%s: bad address", listen);
		memcpy(host, listen, hlen);
	}
	host[hlen] = '\0';
	p = colon + 1;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (*p < '0' || *p > '9' || *end != '\0' || errno != 0 || v > 65535)
		return err_set(err, BARGE_EINVAL, "%s: bad port", listen);
	*port = (uint16_t)v;
	if (hlen == 0) {
		*any = 1;
		return BARGE_OK;
	}
	if (listen[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return err_set(err, BARGE_EINVAL,
			               "%s: not a numeric IPv4 address (IPv6: [ADDR]:PORT)",
			               listen);
		in->sin_family = AF_INET;
		in->sin_port = htons(*port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return err_set(err, BARGE_EINVAL, "%s: not a numeric IPv6 address", listen);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(*port);
	}
	return BARGE_OK;
}

/*
 * Starts a daemon with cert/key (NULL for plain HTTP) on the bound socket
 * fd, or binds sa / port itself when fd is MHD_INVALID_SOCKET.
 */
static struct MHD_Daemon *
http_daemon(struct http_server *s, MHD_socket fd, const struct sockaddr_storage *sa, int any,
            uint16_t port, const char *cert, const char *key)
{
	struct MHD_OptionItem opts[16]; /* at most 14 are filled in below */
	struct MHD_Daemon *d;
	unsigned int flags;
	size_t n = 0;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_log, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, s->threads, NULL };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_HEAD_MAX, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, s->timeout, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, s->max_conns, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_ip, NULL };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
		                             (intptr_t)http_notify_conn, s };
	opts[n++] =
	        (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)http_uri_check, s };
	if (cert != NULL) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
			                             (void *)HTTP_TLS_PRIORITIES };
	}
	if (fd != MHD_INVALID_SOCKET) {
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	} else if (any) {
		flags |= MHD_USE_DUAL_STACK;
	} else {
		if (sa->ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)sa };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	d = MHD_start_daemon(flags, port, NULL, NULL, http_access, s, MHD_OPTION_ARRAY, opts,
	                     MHD_OPTION_END);
	if (d == NULL && any && fd == MHD_INVALID_SOCKET) {
		/* A host without IPv6 still serves IPv4 on ":PORT". */
		flags &= ~(unsigned int)MHD_USE_DUAL_STACK;
		d = MHD_start_daemon(flags, port, NULL, NULL, http_access, s, MHD_OPTION_ARRAY,
		                     opts, MHD_OPTION_END);
	}
	return d;
}

static char *
http_strdup_secret(const char *pem)
{
	return pem != NULL ? strdup(pem) : NULL;
}

static void
http_free_secret(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

int
http_server_start(const struct http_server_opts *o, struct http_server **out, struct barge_err *err)
{
	const union MHD_DaemonInfo *info;
	struct http_server *s = NULL;
	struct sockaddr_storage sa;
	uint16_t port = 0;
	int any, rc;

	if (o->handler == NULL)
		return err_set(err, BARGE_EINVAL, "http server: no handler");
	if ((o->cert_pem == NULL) != (o->key_pem == NULL))
		return err_set(err, BARGE_EINVAL, "http server: certificate and key go together");
	if ((rc = http_parse_listen(o->listen, &sa, &any, &port, err)) != BARGE_OK)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(err, BARGE_ENOMEM, "http server: out of memory");
	pthread_mutex_init(&s->log_mtx, NULL);
	pthread_mutex_init(&s->mtx, NULL);
	s->listen_fd = MHD_INVALID_SOCKET;
	s->handler = o->handler;
	s->arg = o->arg;
	s->on_complete = o->on_complete;
	s->threads = o->threads ? o->threads : HTTP_DEFAULT_THREADS;
	s->max_conns = o->max_conns ? o->max_conns : HTTP_DEFAULT_CONNS;
	s->per_ip = o->per_ip_conns ? o->per_ip_conns : HTTP_DEFAULT_PER_IP;
	s->timeout = o->conn_timeout ? o->conn_timeout : HTTP_DEFAULT_TIMEOUT;
	s->head_timeout = o->head_timeout ? o->head_timeout : HTTP_DEFAULT_HEAD_TIMEOUT;
	s->stop_wait_ms = o->stop_wait_ms ? o->stop_wait_ms : HTTP_DEFAULT_STOP_MS;
	s->tls = o->cert_pem != NULL;
	if (s->tls && ((s->cert = http_strdup_secret(o->cert_pem)) == NULL ||
	               (s->key = http_strdup_secret(o->key_pem)) == NULL)) {
		rc = err_set(err, BARGE_ENOMEM, "http server: out of memory");
		goto fail;
	}
	/*
	 * libmicrohttpd stops accepting at max_conns, and clients that never
	 * finish a head would then keep every new client in the kernel's
	 * backlog: past 7/8 of it, new connections push out waiting ones.
	 */
	if ((rc = http_guard_new(s->head_timeout, s->max_conns - s->max_conns / 8, &s->guard,
	                         err)) != BARGE_OK)
		goto fail;
	s->d = http_daemon(s, MHD_INVALID_SOCKET, &sa, any, port, s->cert, s->key);
	if (s->d == NULL) {
		rc = err_set(err, BARGE_EIO, "cannot serve on %s: %s", o->listen,
		             s->last_error[0] ? s->last_error : "libmicrohttpd refused to start");
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_LISTEN_FD);
	s->listen_fd = info != NULL ? info->listen_fd : MHD_INVALID_SOCKET;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? (int)info->port : -1;
	*out = s;
	return BARGE_OK;
fail:
	http_server_stop(s);
	return rc;
}

int
http_server_port(const struct http_server *s)
{
	return s->port;
}

unsigned
http_server_in_flight(struct http_server *s)
{
	return __atomic_load_n(&s->in_flight, __ATOMIC_SEQ_CST);
}

/* Whether d still has connections open. */
static int
http_daemon_busy(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info == NULL || info->num_connections > 0;
}

/* Stops the replaced daemons that have no connection left (all of them if force). */
static void
http_reap_old(struct http_server *s, int force)
{
	size_t i = 0;

	while (i < s->nold) {
		if (!force && http_daemon_busy(s->old[i])) {
			i++;
			continue;
		}
		MHD_stop_daemon(s->old[i]);
		free(s->old_cert[i]);
		http_free_secret(s->old_key[i]);
		s->nold--;
		s->old[i] = s->old[s->nold];
		s->old_cert[i] = s->old_cert[s->nold];
		s->old_key[i] = s->old_key[s->nold];
	}
}

void
http_server_stop(struct http_server *s)
{
	unsigned waited = 0;
	size_t i;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	if (s->d != NULL) {
		/*
		 * No new connections; requests in flight (an upload chunk, a
		 * blob) get a bounded time to finish before connections close.
		 */
		(void)MHD_quiesce_daemon(s->d);
		for (i = 0; i < s->nold; i++)
			(void)MHD_quiesce_daemon(s->old[i]);
		while (http_server_in_flight(s) > 0 && waited < s->stop_wait_ms) {
			usleep(10 * 1000);
			waited += 10;
		}
		http_reap_old(s, 1);
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
	if (s->listen_fd != MHD_INVALID_SOCKET)
		close(s->listen_fd);
	pthread_mutex_unlock(&s->mtx);
	/* Every connection is closed by now. */
	http_guard_free(s->guard);
	pthread_mutex_destroy(&s->mtx);
	pthread_mutex_destroy(&s->log_mtx);
	free(s->cert);
	http_free_secret(s->key);
	free(s);
}

/* Whether cert_pem's first certificate and key_pem's key parse and belong together. */
static int
http_check_pair(const char *cert_pem, const char *key_pem, struct barge_err *err)
{
	BIO *cb = NULL, *kb = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	int rc = BARGE_OK;

	cb = BIO_new_mem_buf(cert_pem, -1);
	kb = BIO_new_mem_buf(key_pem, -1);
	if (cb == NULL || kb == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "certificate: no PEM certificate");
		goto out;
	}
	if ((pkey = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "certificate: no PEM private key");
		goto out;
	}
	if (X509_check_private_key(x, pkey) != 1)
		rc = err_set(err, BARGE_EINVAL, "certificate: the key does not match it");
out:
	X509_free(x);
	EVP_PKEY_free(pkey);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

/*
 * libmicrohttpd cannot swap a certificate in a running daemon without
 * calling into GnuTLS, which barged does not link; instead a new daemon
 * takes over the listening socket (MHD_quiesce_daemon keeps it open) and
 * the old one finishes its connections before it is stopped.
 */
int
http_server_set_cert(struct http_server *s, const char *cert_pem, const char *key_pem,
                     struct barge_err *err)
{
	struct MHD_Daemon *d = NULL;
	char *cert = NULL, *key = NULL;
	int rc;

	if (!s->tls)
		return err_set(err, BARGE_EINVAL, "http server: plain HTTP has no certificate");
	if ((rc = http_check_pair(cert_pem, key_pem, err)) != BARGE_OK)
		return rc;
	if ((cert = strdup(cert_pem)) == NULL || (key = strdup(key_pem)) == NULL) {
		free(cert);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&s->mtx);
	http_reap_old(s, 0);
	if (s->nold == HTTP_OLD_DAEMONS_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "http server: too many reloads still draining");
		goto fail;
	}
	if (MHD_quiesce_daemon(s->d) == MHD_INVALID_SOCKET) {
		rc = err_set(err, BARGE_EINTERNAL, "http server: cannot hand over the listener");
		goto fail;
	}
	d = http_daemon(s, s->listen_fd, NULL, 0, 0, cert, key);
	if (d == NULL) {
		/* Keep serving with what worked: a listener with the old pair. */
		rc = err_set(err, BARGE_EIO, "http server: new certificate refused: %s",
		             s->last_error);
		d = http_daemon(s, s->listen_fd, NULL, 0, 0, s->cert, s->key);
		if (d == NULL) {
			err_prefix(err, "and the old one can not serve again either");
			goto fail;
		}
		s->old[s->nold] = s->d;
		s->old_cert[s->nold] = NULL;
		s->old_key[s->nold] = NULL;
		s->nold++;
		s->d = d;
		goto fail;
	}
	s->old[s->nold] = s->d;
	s->old_cert[s->nold] = s->cert;
	s->old_key[s->nold] = s->key;
	s->nold++;
	s->d = d;
	s->cert = cert;
	s->key = key;
	pthread_mutex_unlock(&s->mtx);
	return BARGE_OK;
fail:
	pthread_mutex_unlock(&s->mtx);
	free(cert);
	http_free_secret(key);
	return rc;
}
