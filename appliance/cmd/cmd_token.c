/*
 * barged token: read-only tokens for pulling (auth.h).  The secret is
 * printed once, by create; DATA_DIR/tokens.json keeps only its hash.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "cmd.h"
#include "config.h"
#include "log.h"

static void
token_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged token create [--name NAME] [--expires-in DUR] [--scope GLOB]...\n"
	        "                           [--data-dir DIR] [--config FILE] [-o F]\n"
	        "       barged token ls [--data-dir DIR] [--config FILE] [-o F]\n"
	        "       barged token rm NAME [--data-dir DIR] [--config FILE] [-o F]\n"
	        "\n"
	        "Read-only tokens pull and nothing else.  create prints the token once;\n"
	        "clients send it as Basic NAME:TOKEN (docker login -u NAME, skopeo --creds,\n"
	        "ctr --user) or as 'Authorization: Bearer TOKEN'.  A running barged sees new\n"
	        "and removed tokens at once.\n"
	        "\n"
	        "  --name NAME      the token's name, 1-64 of A-Z a-z 0-9 . _ - (default ro-TIME)\n"
	        "  --expires-in DUR refused DUR after now: seconds, or a number with s, m, h, d\n"
	        "                   (default: never)\n"
	        "  --scope GLOB     pull only repositories GLOB matches ('*' matches '/' too;\n"
	        "                   repeatable, at most 8; default: every repository)\n"
	        "  --data-dir DIR   where tokens.json lives (default: data_dir of the config)\n"
	        "  --config FILE    configuration (default %s)\n"
	        "  -o, --output F   text (default), json or yaml: create {name, token},\n"
	        "                   ls [{name, created, expires, scope}], rm {name, removed}\n",
	        CONFIG_DEFAULT_PATH);
}

/* Where token ls goes: lines on stdout, or a list printed at the end. */
struct token_ls {
	json_t *list; /* NULL for text */
	int failed;
};

/* An RFC 3339 UTC time into buf, or "-" for 0. */
static void
token_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	snprintf(buf, len, "-");
	if (t > 0 && gmtime_r(&tt, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
token_print(const struct auth_ro_info *t, void *arg)
{
	struct token_ls *ls = arg;
	char when[32], until[32], scope[AUTH_GLOBS_MAX * AUTH_GLOB_MAX] = "*";
	json_t *globs;
	size_t i, n = 0;

	token_time(t->created, when, sizeof(when));
	token_time(t->expires, until, sizeof(until));
	if (ls->list == NULL) {
		for (i = 0; i < t->nscope; i++)
			n += (size_t)snprintf(scope + n, sizeof(scope) - n, "%s%s", i ? "," : "",
			                      t->scope[i]);
		printf("%-40s %-20s %-20s %s\n", t->name, when, until, scope);
		return;
	}
	if ((globs = json_array()) == NULL) {
		ls->failed = 1;
		return;
	}
	for (i = 0; i < t->nscope; i++)
		if (json_array_append_new(globs, json_string(t->scope[i])) != 0)
			ls->failed = 1;
	if (json_array_append_new(ls->list,
	                          json_pack("{s:s,s:s?,s:s?,s:o}", "name", t->name, "created",
	                                    t->created > 0 ? when : NULL, "expires",
	                                    t->expires > 0 ? until : NULL, "scope", globs)) != 0)
		ls->failed = 1;
}

/* A duration: seconds, or a number with s, m, h or d.  -1 when malformed or beyond ten years. */
static long long
token_duration(const char *s)
{
	char *end;
	long long v, unit = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v <= 0 || *s == '+')
		return -1;
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end == 'd')
		unit = 86400;
	else if (*end != 's' && *end != '\0')
		return -1;
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > 10LL * 366 * 86400 / unit)
		return -1;
	return v * unit;
}

int
cmd_token(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "expires-in", required_argument, NULL, 'e' },
		{ "scope", required_argument, NULL, 's' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *data_dir = NULL, *config_path = NULL, *verb;
	struct barge_err err = { 0 };
	struct config c = { 0 };
	struct token_ls ls = { NULL, 0 };
	enum outfmt fmt = OUTFMT_TEXT;
	const char *scope[AUTH_GLOBS_MAX];
	char *token = NULL, defname[32];
	long long expires_in = 0;
	size_t nscope = 0;
	int o, status = EXIT_FAILURE;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		token_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_SUCCESS;
	}
	verb = argv[1];
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc - 1, argv + 1, "ho:", longopts, NULL)) != -1) {
		switch (o) {
		case 'n':
			name = optarg;
			break;
		case 'e':
			if ((expires_in = token_duration(optarg)) < 0) {
				log_error("barged token: --expires-in '%s': seconds, or a number "
				          "with s, m, h or d, at most ten years",
				          optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (nscope == AUTH_GLOBS_MAX) {
				log_error("barged token: --scope: at most %d", AUTH_GLOBS_MAX);
				return EXIT_USAGE;
			}
			scope[nscope++] = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			if (cmd_parse_output("token", optarg,
			                     OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML, NULL, NULL,
			                     &fmt) != EXIT_SUCCESS)
				return EXIT_USAGE;
			break;
		case 'h':
			token_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged token: bad option '%s'", argv[optind]);
			token_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (data_dir == NULL) {
		if (cmd_config_load("token", config_path, &c) != EXIT_SUCCESS)
			goto out;
		data_dir = c.data_dir;
	}

	if (strcmp(verb, "create") == 0 && optind + 1 == argc) {
		if (name == NULL) {
			snprintf(defname, sizeof(defname), "ro-%lld", (long long)time(NULL));
			name = defname;
		}
		if (auth_ro_create_scoped(data_dir, name,
		                          expires_in > 0 ? (long long)time(NULL) + expires_in : 0,
		                          scope, nscope, &token, &err) != BARGE_OK) {
			log_error("barged token: %s", err.msg);
			goto out;
		}
		log_info("barged token: created read-only token \"%s\"; it is shown only this once",
		         name);
		if (fmt == OUTFMT_TEXT)
			printf("%s\n", token);
		else
			status = cmd_print_output(
			        "token", fmt, json_pack("{s:s,s:s}", "name", name, "token", token));
		explicit_bzero(token, strlen(token));
		free(token);
		if (fmt != OUTFMT_TEXT)
			goto out;
	} else if (strcmp(verb, "ls") == 0 && optind + 1 == argc) {
		if (fmt != OUTFMT_TEXT && (ls.list = json_array()) == NULL)
			goto out;
		if (auth_ro_list(data_dir, token_print, &ls, &err) != BARGE_OK) {
			log_error("barged token: %s", err.msg);
			goto out;
		}
		if (ls.failed) {
			log_error("barged token: out of memory");
			goto out;
		}
		if (fmt != OUTFMT_TEXT) {
			status = cmd_print_output("token", fmt, ls.list);
			ls.list = NULL;
			goto out;
		}
	} else if (strcmp(verb, "rm") == 0 && optind + 2 == argc) {
		if (auth_ro_remove(data_dir, argv[optind + 1], &err) != BARGE_OK) {
			log_error("barged token: %s", err.msg);
			goto out;
		}
		if (fmt != OUTFMT_TEXT) {
			status = cmd_print_output(
			        "token", fmt,
			        json_pack("{s:s,s:b}", "name", argv[optind + 1], "removed", 1));
			goto out;
		}
	} else {
		token_usage(stderr);
		status = EXIT_USAGE;
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	json_decref(ls.list);
	config_free(&c);
	return status;
}
