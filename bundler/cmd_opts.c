/*
 * cmd_opts: the options barge's verbs share (cmd_opts.h).  It owns nothing:
 * what it parses goes into the caller's struct netopts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmd_opts.h"
#include "log.h"
#include "resolve.h"

const char cmd_net_help[] =
        "      --platform OS/ARCH[/VAR]    resolve this platform (repeatable; replaces\n"
        "                                  the profile's spec.platforms)\n"
        "      --registry-mirror HOST=URL  fetch references to HOST from URL\n"
        "                                  (e.g. docker.io=http://127.0.0.1:5000)\n"
        "      --insecure-registry HOST    allow plain http to HOST (loopback hosts\n"
        "                                  always are)\n"
        "      --timeout S                 give up on a registry that makes no progress\n"
        "                                  for S seconds (default 60)\n"
        "      --retries N                 tries per request on connection errors, 429\n"
        "                                  and 5xx, the first included (default 5)\n"
        "  -v, --verbose                   log every blob pulled\n"
        "  -q, --quiet                     log errors only\n"
        "  -h, --help                      show this help\n"
        "\n"
        "Exit status: 0 success, 1 failure, 2 usage error.\n";

int
cmd_parse_int(const char *flag, const char *arg, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (arg[0] == '\0' || *end != '\0' || v < lo || v > hi) {
		log_error("%s \"%s\": want a number from %ld to %ld", flag, arg, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int
cmd_net_option(struct netopts *n, int ch, const char *arg)
{
	struct barge_err err;
	long v;

	switch (ch) {
	case OPT_PLATFORM:
		if (n->nplats >= PROFILE_PLATFORM_MAX) {
			log_error("more than %d --platform flags", PROFILE_PLATFORM_MAX);
			return -1;
		}
		if (platform_parse(arg, &n->plats[n->nplats], &err) != BARGE_OK) {
			log_error("--platform: %s", err.msg);
			return -1;
		}
		n->nplats++;
		return 1;
	case OPT_MIRROR:
		if (client_config_add_mirror(&n->cfg, arg, &err) != BARGE_OK) {
			log_error("%s", err.msg);
			return -1;
		}
		return 1;
	case OPT_INSECURE:
		if (client_config_add_insecure(&n->cfg, arg, &err) != BARGE_OK) {
			log_error("%s", err.msg);
			return -1;
		}
		return 1;
	case OPT_TIMEOUT:
		if (cmd_parse_int("--timeout", arg, 1, 3600, &v) != 0)
			return -1;
		n->cfg.timeout_s = (int)v;
		return 1;
	case OPT_RETRIES:
		if (cmd_parse_int("--retries", arg, 1, 100, &v) != 0)
			return -1;
		n->cfg.max_attempts = (int)v;
		return 1;
	case 'v':
		log_set_level(LOG_LVL_DEBUG);
		return 1;
	case 'q':
		log_set_level(LOG_LVL_ERROR);
		return 1;
	}
	return 0;
}

int
cmd_output(const char *verb, const char *arg, unsigned allowed, const char *what,
           const char *write_flag, enum outfmt *fmt)
{
	struct barge_err err;

	if (outfmt_parse(arg, allowed, what, write_flag, fmt, &err) != BARGE_OK) {
		log_error("%s: %s", verb, err.msg);
		return -1;
	}
	return 0;
}

int
cmd_print(enum outfmt fmt, json_t *v)
{
	struct barge_err err;

	if (outfmt_print(stdout, fmt, v, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

static void
on_resolve_note(void *arg, const char *msg)
{
	(void)arg;
	log_info("%s", msg);
}

static void
on_resolve_failed(void *arg, const char *msg)
{
	(void)arg;
	log_error("%s", msg);
}

struct lock *
cmd_profiles_to_lock(char **paths, size_t n, struct netopts *no, int resolve)
{
	struct barge_err err;
	struct lock *l = NULL;

	if (resolve_profiles((const char *const *)paths, n, no->plats, no->nplats,
	                     resolve ? &no->cfg : NULL, on_resolve_note, on_resolve_failed, NULL,
	                     &l, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		return NULL;
	}
	return l;
}

double
cmd_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
