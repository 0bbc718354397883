/*
 * cmd_opts: what barge's verbs share: the option codes, the options of the
 * verbs that reach registries (platforms, mirrors, insecure hosts, timeouts,
 * retries, verbosity), -o/--output and their help text.  Functions here report
 * usage errors through common/log.h, as verbs do; a struct netopts is its
 * verb's, its client_config cleared by the verb.
 */
#ifndef BARGE_CMD_OPTS_H
#define BARGE_CMD_OPTS_H

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>

#include "client.h"
#include "lock.h"
#include "outfmt.h"
#include "platform.h"
#include "profile.h"

#include "verb.h" /* EXIT_USAGE */

/* The help lines of the options NET_LONGOPTS adds, and the exit statuses. */
extern const char cmd_net_help[];

enum {
	OPT_PLATFORM = 256,
	OPT_MIRROR,
	OPT_INSECURE,
	OPT_CACHE,
	OPT_LEVEL,
	OPT_JOBS,
	OPT_LOCKED,
	OPT_BASE,
	OPT_SIGN_KEY,
	OPT_VERIFY_SIGNATURES,
	OPT_OUTPUT_FILE,
	OPT_NO_RESOLVE,
	OPT_KEY,
	OPT_TIMEOUT,
	OPT_RETRIES,
	OPT_SPLIT,
	OPT_VOLUME_LABEL,
	OPT_SIZE,
};

#define NET_LONGOPTS                                                                        \
	{ "platform", required_argument, NULL, OPT_PLATFORM },                              \
	        { "registry-mirror", required_argument, NULL, OPT_MIRROR },                 \
	        { "insecure-registry", required_argument, NULL, OPT_INSECURE },             \
	        { "timeout", required_argument, NULL, OPT_TIMEOUT },                        \
	        { "retries", required_argument, NULL, OPT_RETRIES },                        \
	        { "verbose", no_argument, NULL, 'v' }, { "quiet", no_argument, NULL, 'q' }, \
	{                                                                                   \
		"help", no_argument, NULL, 'h'                                              \
	}

/* What the verbs that reach registries share. */
struct netopts {
	struct client_config cfg;
	struct platform plats[PROFILE_PLATFORM_MAX];
	size_t nplats;
};

/* -o/--output FORMAT, the one meaning the flag has in every verb (outfmt.h). */
#define OUTPUT_LONGOPT                                 \
	{                                              \
		"output", required_argument, NULL, 'o' \
	}

/* Parses arg as an integer from lo to hi for flag; -1 (having logged why) when it is not. */
int cmd_parse_int(const char *flag, const char *arg, long lo, long hi, long *out);

/*
 * Handles one of the shared options.  Returns 1 when ch was one of them, 0
 * when not, -1 (having logged why) on a usage error.
 */
int cmd_net_option(struct netopts *n, int ch, const char *arg);

/*
 * Parses the value of -o/--output for verb, which prints the formats in
 * allowed and, where what is not NULL, writes it with write_flag.  0, or -1
 * having logged what to write instead.
 */
int cmd_output(const char *verb, const char *arg, unsigned allowed, const char *what,
               const char *write_flag, enum outfmt *fmt);

/* Prints v (its reference taken) in fmt on stdout: EXIT_SUCCESS, or EXIT_FAILURE logged. */
int cmd_print(enum outfmt fmt, json_t *v);

/* Loads profiles and pins them (or, with resolve 0, only lists them); NULL after logging. */
struct lock *cmd_profiles_to_lock(char **paths, size_t n, struct netopts *no, int resolve);

/* Seconds on the monotonic clock, for "in 1.2 s". */
double cmd_now_s(void);

#endif
