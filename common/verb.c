/*
 * verb: the verb dispatcher of barge and barged (verb.h).  It owns nothing;
 * the usage it prints is built from the caller's table, aligned on its
 * longest verb.
 */
#include "verb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void
verb_usage(FILE *f, const char *prog, const struct verb *v, size_t n)
{
	size_t i, w = 0;

	for (i = 0; i < n; i++)
		if (strlen(v[i].name) > w)
			w = strlen(v[i].name);
	fprintf(f, "usage: %s <verb> [options]\n       %s --version\n\nverbs:\n", prog, prog);
	for (i = 0; i < n; i++)
		fprintf(f, "  %-*s %s\n", (int)w, v[i].name, v[i].help);
	fprintf(f, "\nRun '%s <verb> --help' for a verb's options.\n", prog);
}

int
verb_main(const char *prog, const struct verb *v, size_t n, int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		verb_usage(stderr, prog, v, n);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		verb_usage(stdout, prog, v, n);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", prog, BARGE_VERSION);
		return EXIT_SUCCESS;
	}
	for (i = 0; i < n; i++)
		if (strcmp(argv[1], v[i].name) == 0)
			return v[i].fn(argc - 1, argv + 1);
	log_error("unknown verb \"%s\"", argv[1]);
	verb_usage(stderr, prog, v, n);
	return EXIT_USAGE;
}
