/*
 * cmd_keygen: barge keygen, an Ed25519 key pair for signing bundles
 * (sign.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "digest.h"
#include "log.h"
#include "sign.h"

int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prefix = NULL;
	char keyid[DIGEST_STR_MAX];
	struct barge_err err;
	int ch;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if (ch == 'o') {
			prefix = optarg;
			continue;
		}
		fprintf(ch == 'h' ? stdout : stderr,
		        "usage: barge keygen --out PREFIX\n"
		        "\n"
		        "Writes an Ed25519 key pair: PREFIX.key (private, mode 0600, never\n"
		        "overwritten) and PREFIX.pub, and prints the key id.\n");
		return ch == 'h' ? EXIT_SUCCESS : EXIT_USAGE;
	}
	if (prefix == NULL || optind != argc) {
		log_error("keygen: --out PREFIX, and nothing else");
		return EXIT_USAGE;
	}
	if (sign_keygen(prefix, keyid, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		return EXIT_FAILURE;
	}
	printf("wrote %s.key and %s.pub: key id %s\n", prefix, prefix, keyid);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
