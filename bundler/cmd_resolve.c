/*
 * cmd_resolve: barge resolve, profiles pinned to digests in a lock file.
 * It owns only its arguments; the lock and the client are resolve.h's.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "lock.h"
#include "log.h"

static void
resolve_usage(FILE *f)
{
	fprintf(f,
	        "usage: barge resolve PROFILE... [--output-file LOCK] [-o json|yaml] [options]\n"
	        "\n"
	        "Resolves every image the profiles name to the digest its registry serves\n"
	        "now and writes the lock file (a JSON document), or prints it on standard\n"
	        "output without --output-file.  Several profiles are merged: name and\n"
	        "version of the first, the union of their images and platforms.\n"
	        "\n"
	        "options:\n"
	        "      --output-file LOCK          the lock file to write (atomically)\n"
	        "  -o, --output json|yaml          print the lock on standard output in this\n"
	        "                                  format (default json without --output-file)\n"
	        "%s",
	        cmd_net_help);
}

int
cmd_resolve(int argc, char **argv)
{
	static const struct option longopts[] = {
		OUTPUT_LONGOPT,
		{ "output-file", required_argument, NULL, OPT_OUTPUT_FILE },
		NET_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct netopts no = { 0 };
	struct barge_err err;
	struct lock *l = NULL;
	const char *output = NULL;
	enum outfmt fmt = 0;
	char *text = NULL;
	size_t len;
	int ch, r, rc = EXIT_FAILURE;

	while ((ch = getopt_long(argc, argv, "o:vqh", longopts, NULL)) != -1) {
		if ((r = cmd_net_option(&no, ch, optarg)) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (r > 0)
			continue;
		if (ch == 'o') {
			if (cmd_output("resolve", optarg, OUTFMT_JSON | OUTFMT_YAML,
			               "the lock file", "--output-file", &fmt) != 0) {
				rc = EXIT_USAGE;
				goto out;
			}
		} else if (ch == OPT_OUTPUT_FILE) {
			output = optarg;
		} else if (ch == 'h') {
			resolve_usage(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		} else {
			resolve_usage(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		log_error("resolve: missing PROFILE");
		resolve_usage(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((l = cmd_profiles_to_lock(argv + optind, (size_t)(argc - optind), &no, 1)) == NULL)
		goto out;
	if (output != NULL) {
		if (lock_write(l, output, &err) != BARGE_OK) {
			log_error("%s", err.msg);
			goto out;
		}
		log_info("wrote %s: %zu image%s pinned", output, l->nimages,
		         l->nimages == 1 ? "" : "s");
	} else if (fmt == 0) {
		fmt = OUTFMT_JSON;
	}
	if (fmt == 0) {
		rc = EXIT_SUCCESS;
		goto out;
	}
	if (lock_dump(l, &text, &len, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	/* JSON is the lock's own bytes, so that stdout and the file never differ. */
	if (fmt == OUTFMT_YAML) {
		rc = cmd_print(fmt, json_loadb(text, len, 0, NULL));
		goto out;
	}
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		log_error("writing the lock to standard output failed");
		goto out;
	}
	rc = EXIT_SUCCESS;
out:
	free(text);
	lock_free(l);
	client_config_clear(&no.cfg);
	return rc;
}
