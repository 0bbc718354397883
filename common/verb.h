/*
 * verb: the dispatch of "PROG <verb> [options]" that barge and barged share.
 * A program hands it its table of verbs; it answers --help, -h, help and
 * --version itself, runs the verb named by argv[1] with argv shifted by one,
 * and otherwise prints the usage (the table, with each verb's line of help)
 * and returns 2.  It owns nothing: the table is the caller's, and usage and
 * the version go to stdout or stderr as a program's own words would.
 */
#ifndef BARGE_VERB_H
#define BARGE_VERB_H

#include <stddef.h>

/* The exit status of a command line that is wrong (0 and 1 are stdlib's). */
#define EXIT_USAGE 2

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the verb's name */
	const char *help;                 /* one line for the usage */
};

/* The exit status of prog's command line argc/argv, run through the n verbs of v. */
int verb_main(const char *prog, const struct verb *v, size_t n, int argc, char **argv);

#endif
