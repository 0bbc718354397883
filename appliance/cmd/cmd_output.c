/*
 * cmd_output: -o/--output for barged's verbs (cmd.h, common/outfmt.h): the
 * value checked with the verb's name in the message, a result printed on
 * standard output.  Owns nothing past a call.
 */
#include <stdio.h>

#include "cmd.h"
#include "log.h"

int
cmd_parse_output(const char *verb, const char *arg, unsigned allowed, const char *what,
                 const char *write_flag, enum outfmt *fmt)
{
	struct barge_err err = { 0 };

	if (outfmt_parse(arg, allowed, what, write_flag, fmt, &err) != BARGE_OK) {
		log_error("barged %s: %s", verb, err.msg);
		return EXIT_USAGE;
	}
	return EXIT_SUCCESS;
}

int
cmd_print_output(const char *verb, enum outfmt fmt, json_t *v)
{
	struct barge_err err = { 0 };

	if (outfmt_print(stdout, fmt, v, &err) != BARGE_OK) {
		log_error("barged %s: %s", verb, err.msg);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
