/*
 * barge: the CI-side bundler.
 *
 *   barge resolve PROFILE... [--output-file LOCK]   pin every image to its digest
 *   barge images PROFILE...            list the images a profile names
 *   barge build PROFILE... | --locked LOCK [--base OLD] [--sign-key KEY]
 *   barge inspect BUNDLE               describe a bundle
 *   barge verify BUNDLE [--key PUB]    check a bundle's signature and every blob
 *   barge keygen --out PREFIX          make an Ed25519 signing key pair
 *   barge iso BUNDLE... --output-file ISO [--base ISO]  install media holding bundles
 *   barge split BUNDLE [--size SIZE]   parts for FAT32 sticks
 *
 * -o/--output is the format of what a verb prints (text, json, yaml) in
 * every verb; files are named with --output-file (outfmt.h).
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 *
 * This file only dispatches: each verb is in its cmd_<verb>.c (cmd_verbs.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "log.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} verbs[] = {
	{ "resolve", cmd_resolve, "pin a profile's images to digests in a lock file" },
	{ "images", cmd_images, "list the images profiles name (resolved or not)" },
	{ "build", cmd_build, "pull a profile's or a lock's images into a bundle" },
	{ "inspect", cmd_inspect, "describe a bundle: images, platforms, blobs, signature" },
	{ "verify", cmd_verify, "check a bundle's signature and every blob's digest" },
	{ "keygen", cmd_keygen, "make an Ed25519 key pair for signing bundles" },
	{ "iso", cmd_iso, "write an ISO image (install media) holding bundles" },
	{ "split", cmd_split, "cut a bundle into parts for FAT32 sticks" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: barge <verb> [options]\n       barge --version\n\nverbs:\n");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nRun 'barge <verb> --help' for a verb's options.\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init("barge", 0);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("barge %s\n", BARGE_VERSION);
		return EXIT_SUCCESS;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	log_error("unknown verb \"%s\"", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
