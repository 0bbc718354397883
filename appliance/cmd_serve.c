/*
 * barged serve: the device registry (pull side of the OCI Distribution API)
 * over HTTPS, with a generated CA unless told to speak plain HTTP.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "http_server.h"
#include "log.h"
#include "registry.h"
#include "tls.h"

#define SERVE_TLS_NAMES_MAX 64
#define SERVE_THREADS_MAX   256

static void
serve_usage(FILE *f)
{
	fprintf(f, "usage: barged serve [--data-dir DIR] [--listen ADDR:PORT] [--plain-http]\n"
	           "                    [--project NAME] [--tls-name NAME]... [--threads N]\n"
	           "\n"
	           "Serves the store over the OCI Distribution API (pulls).\n"
	           "\n"
	           "  --data-dir DIR     the store and TLS files (default /var/lib/barge)\n"
	           "  --listen ADDR:PORT where to listen: ':PORT' (every address), 'A.B.C.D:PORT'\n"
	           "                     or '[IPv6]:PORT' (default :30003)\n"
	           "  --plain-http       serve HTTP instead of HTTPS\n"
	           "  --project NAME     first path segment of mirror repositories (default edge)\n"
	           "  --tls-name NAME    a DNS name or address to add to a new server certificate\n"
	           "                     (repeatable; localhost, the host name and its addresses\n"
	           "                     are always included)\n"
	           "  --threads N        server threads (default 4)\n"
	           "\n"
	           "Without a certificate in DIR/tls/, a CA and a server certificate are created;\n"
	           "clients trust DIR/ca.crt.  Runs until SIGINT or SIGTERM.\n");
}

static void
serve_log_error(const char *msg)
{
	log_error("%s", msg);
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "plain-http", no_argument, NULL, 'p' },
		{ "project", required_argument, NULL, 'P' },
		{ "tls-name", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = "/var/lib/barge", *listen = ":30003", *project = "edge";
	const char *names[SERVE_TLS_NAMES_MAX];
	struct registry_opts ropts = { 0 };
	struct http_server_opts hopts = { 0 };
	struct http_server *srv = NULL;
	struct registry *reg = NULL;
	struct barge_err err = { 0 };
	char *cert = NULL, *key = NULL, *end;
	size_t nnames = 0;
	unsigned long threads = 4;
	const char *colon;
	int plain = 0, c, sig, status = 1;
	sigset_t set;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_dir = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'p':
			plain = 1;
			break;
		case 'P':
			project = optarg;
			break;
		case 'n':
			if (nnames == SERVE_TLS_NAMES_MAX) {
				fprintf(stderr, "barged serve: at most %d --tls-name\n",
				        SERVE_TLS_NAMES_MAX);
				return 2;
			}
			names[nnames++] = optarg;
			break;
		case 't':
			threads = strtoul(optarg, &end, 10);
			if (*optarg < '1' || *optarg > '9' || *end != '\0' ||
			    threads > SERVE_THREADS_MAX) {
				fprintf(stderr, "barged serve: --threads: 1 to %d\n",
				        SERVE_THREADS_MAX);
				return 2;
			}
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "barged serve: bad option '%s'\n", argv[optind - 1]);
			serve_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "barged serve: unexpected argument '%s'\n", argv[optind]);
		serve_usage(stderr);
		return 2;
	}

	/*
	 * Blocked before any thread starts, so every server thread inherits
	 * the mask and the signals wait for sigwait below.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!plain && tls_ensure(data_dir, names, nnames, &cert, &key, &err) != BARGE_OK) {
		log_error("TLS certificate: %s", err.msg);
		goto out;
	}
	ropts.data_dir = data_dir;
	ropts.project = project;
	ropts.log_error = serve_log_error;
	if (registry_new(&ropts, &reg, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	hopts.listen = listen;
	hopts.cert_pem = cert;
	hopts.key_pem = key;
	hopts.threads = (unsigned)threads;
	hopts.handler = registry_handle;
	hopts.arg = reg;
	if (http_server_start(&hopts, &srv, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	/* With port 0 the kernel picked one: say which. */
	colon = strrchr(listen, ':');
	if (plain)
		log_info("serving http on %.*s:%d", (int)(colon - listen), listen,
		         http_server_port(srv));
	else
		log_info("serving https on %.*s:%d (CA: %s/ca.crt)", (int)(colon - listen), listen,
		         http_server_port(srv), data_dir);

	if (sigwait(&set, &sig) != 0)
		sig = 0;
	log_info("stopping (%s)", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "error");
	status = 0;
out:
	http_server_stop(srv);
	registry_free(reg);
	free(cert);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	return status;
}
