/*
 * cmd_verify: barge verify, a bundle's blobs and signature checked
 * (inspect.h), against trusted keys when --key is given.  It owns the keys
 * it loads.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "inspect.h"
#include "log.h"
#include "sign.h"

#define KEYS_MAX 64

static void
verify_usage(FILE *f)
{
	fprintf(f, "usage: barge verify BUNDLE [--key PUB]... [-o text|json|yaml]\n"
	           "\n"
	           "Checks a bundle: barge.json is valid, every blob entry is listed, has\n"
	           "its size and hashes to its digest, and none is missing.  With --key, the\n"
	           "signature must be made by one of the given public keys; without, the\n"
	           "signing key's id (or \"unsigned\") is reported.\n"
	           "\n"
	           "options:\n"
	           "      --key PUB                a trusted public key (repeatable)\n"
	           "  -o, --output text|json|yaml  the format (default text); a bundle that\n"
	           "                               fails is reported too, with \"ok\": false\n"
	           "  -h, --help                   show this help\n"
	           "\n"
	           "Exit status: 0 the bundle is sound (and signed by a trusted key when --key\n"
	           "is given), 1 it is not, 2 usage error.\n");
}

/* The verdict as a JSON value: r NULL for a bundle that failed with err.  NULL without memory. */
static json_t *
verify_json(const char *path, const struct inspect_result *r, const struct barge_err *err)
{
	if (r == NULL)
		return json_pack("{s:s,s:b,s:s,s:s}", "file", path, "ok", 0, "error", err->msg,
		                 "kind", err_name(err->code));
	return json_pack("{s:s,s:b,s:I,s:I,s:b,s:s*,s:b}", "file", path, "ok", 1, "blobs",
	                 (json_int_t)r->nentries, "requiredBlobs", (json_int_t)r->meta->nrequires,
	                 "signed", r->is_signed, "keyId", r->is_signed ? r->keyid : NULL,
	                 "signatureChecked", r->signature_checked);
}

int
cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, OPT_KEY },
		OUTPUT_LONGOPT,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sign_key *keys[KEYS_MAX];
	struct inspect_opts io = { .verify = 1, .trusted = keys };
	struct inspect_result *r = NULL;
	struct barge_err err;
	enum outfmt fmt = OUTFMT_TEXT;
	size_t i, nkeys = 0;
	int ch, rc = EXIT_FAILURE;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if (ch == 'o') {
			if (cmd_output("verify", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			               NULL, NULL, &fmt) != 0) {
				rc = EXIT_USAGE;
				goto out;
			}
		} else if (ch == OPT_KEY) {
			if (nkeys >= KEYS_MAX) {
				log_error("more than %d --key flags", KEYS_MAX);
				rc = EXIT_USAGE;
				goto out;
			}
			if (sign_key_load_public(optarg, &keys[nkeys], &err) != BARGE_OK) {
				log_error("%s", err.msg);
				goto out;
			}
			nkeys++;
		} else if (ch == 'h') {
			verify_usage(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		} else {
			verify_usage(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (argc - optind != 1) {
		log_error("verify: one BUNDLE");
		verify_usage(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	io.ntrusted = nkeys;
	io.require_signature = nkeys > 0;
	if (inspect_bundle(argv[optind], &io, &r, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		if (fmt != OUTFMT_TEXT)
			cmd_print(fmt, verify_json(argv[optind], NULL, &err));
		goto out;
	}
	if (fmt != OUTFMT_TEXT) {
		rc = cmd_print(fmt, verify_json(argv[optind], r, &err));
		goto out;
	}
	printf("%s: ok, %zu blobs verified", argv[optind], r->nentries);
	if (r->meta->nrequires > 0)
		printf(", %zu required from the base", r->meta->nrequires);
	if (r->signature_checked)
		printf(", signed by trusted key %s\n", r->keyid);
	else if (r->is_signed)
		printf(", signed by %s (not checked: no --key)\n", r->keyid);
	else
		printf(", unsigned\n");
	rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	inspect_result_free(r);
	for (i = 0; i < nkeys; i++)
		sign_key_free(keys[i]);
	return rc;
}
