/*
 * cmd_keygen: barge keygen, an Ed25519 key pair for signing bundles
 * (sign.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "digest.h"
#include "fileutil.h"
#include "log.h"
#include "sign.h"

int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, OPT_OUTPUT_FILE },
		OUTPUT_LONGOPT,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prefix = NULL;
	char keyid[DIGEST_STR_MAX], *priv, *pub;
	struct barge_err err;
	enum outfmt fmt = OUTFMT_TEXT;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if (ch == OPT_OUTPUT_FILE) {
			prefix = optarg;
			continue;
		}
		if (ch == 'o') {
			if (cmd_output("keygen", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			               "the key pair", "--out", &fmt) != 0)
				return EXIT_USAGE;
			continue;
		}
		fprintf(ch == 'h' ? stdout : stderr,
		        "usage: barge keygen --out PREFIX [-o text|json|yaml]\n"
		        "\n"
		        "Writes an Ed25519 key pair: PREFIX.key (private, mode 0600, never\n"
		        "overwritten) and PREFIX.pub, and prints the key id (-o json: the\n"
		        "files and the key id).\n");
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
	if (fmt == OUTFMT_TEXT) {
		printf("wrote %s.key and %s.pub: key id %s\n", prefix, prefix, keyid);
		return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	priv = fu_printf("%s.key", prefix);
	pub = fu_printf("%s.pub", prefix);
	rc = cmd_print(fmt, priv == NULL || pub == NULL
	                            ? NULL
	                            : json_pack("{s:s,s:s,s:s}", "privateKey", priv, "publicKey",
	                                        pub, "keyId", keyid));
	free(priv);
	free(pub);
	return rc;
}
