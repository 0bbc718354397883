/*
 * barged: the edge-side daemon and its CLI.  main only picks the verb
 * (cmd.h) and returns its exit status; it owns the table of verbs.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "log.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} verbs[] = {
	{ "load", cmd_load, "load a bundle into the store" },
	{ "serve", cmd_serve, "serve the registry over HTTPS" },
	{ "token", cmd_token, "create, list and remove read-only pull tokens" },
	{ "passwd", cmd_passwd, "set the admin password (SIGHUP makes barged serve use it)" },
	{ "ls", cmd_ls, "list the images or bundles in the store" },
	{ "rm", cmd_rm, "remove a bundle and unpin its images" },
	{ "gc", cmd_gc, "remove what no tag, bundle or upload holds" },
	{ "fsck", cmd_fsck, "re-hash every blob, check every reference" },
	{ "manifests", cmd_manifests, "print the Kubernetes objects that deploy barged" },
	{ "mirror-config", cmd_mirror_config, "write containerd or CRI-O mirror configuration" },
	{ "webhook", cmd_webhook,
	  "webhook test: show what the image-swap webhook does with a pod" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: barged <verb> [options]\n\nverbs:\n");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-14s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nRun 'barged <verb> --help' for a verb's options.\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init("barged", 0);
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
		printf("barged %s\n", BARGE_VERSION);
		return EXIT_SUCCESS;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	log_error("unknown verb '%s'", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
