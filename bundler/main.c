/*
 * barge: the CI-side bundler.  `barge build PROFILE` pulls a profile's images
 * into one bundle.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "client.h"
#include "fileutil.h"
#include "log.h"
#include "platform.h"
#include "profile.h"

#define EXIT_USAGE 2

static int cmd_build(int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} verbs[] = {
	{ "build", cmd_build, "pull a profile's images into a bundle" },
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

static void
build_usage(FILE *f)
{
	fprintf(f, "usage: barge build PROFILE [-o FILE] [options]\n"
	           "\n"
	           "Resolves the images PROFILE lists, pulls them and writes one bundle\n"
	           "(default NAME-VERSION.tar.zst).  Builds are reproducible: every entry's\n"
	           "mtime is SOURCE_DATE_EPOCH, or 0 when it is unset.\n"
	           "\n"
	           "options:\n"
	           "  -o, --output FILE               the bundle to write\n"
	           "      --platform OS/ARCH[/VAR]    pull this platform (repeatable; replaces\n"
	           "                                  the profile's spec.platforms)\n"
	           "      --registry-mirror HOST=URL  fetch references to HOST from URL\n"
	           "                                  (e.g. docker.io=http://127.0.0.1:5000)\n"
	           "      --insecure-registry HOST    allow plain http to HOST (loopback hosts\n"
	           "                                  always are)\n"
	           "      --cache-dir DIR             blob cache (default $XDG_CACHE_HOME/barge\n"
	           "                                  or ~/.cache/barge)\n"
	           "      --level N                   zstd level 1..19 (default 3)\n"
	           "  -v, --verbose                   log every blob pulled\n"
	           "  -q, --quiet                     log errors only\n"
	           "  -h, --help                      show this help\n"
	           "\n"
	           "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

/* "70.2 MiB" */
static void
human(int64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%lld B", (long long)n);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void
on_progress(void *arg, const char *msg)
{
	/* Blob pulls are many; the per-image lines are what a CI log wants by default. */
	if (strncmp(msg, "pulling ", 8) == 0)
		log_debug("%s", msg);
	else
		log_info("%s", msg);
}

enum {
	OPT_PLATFORM = 256,
	OPT_MIRROR,
	OPT_INSECURE,
	OPT_CACHE,
	OPT_LEVEL,
};

static int
cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "registry-mirror", required_argument, NULL, OPT_MIRROR },
		{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
		{ "cache-dir", required_argument, NULL, OPT_CACHE },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_config cfg = { 0 };
	struct platform plats[PROFILE_PLATFORM_MAX];
	struct build_opts o = { 0 };
	struct build_stats st;
	struct barge_err err;
	struct profile *p = NULL;
	struct client *c = NULL;
	char *output = NULL, *end, in[32], out[32];
	size_t nplats = 0;
	long level = 0;
	int ch, rc = EXIT_FAILURE;

	err_clear(&err);
	while ((ch = getopt_long(argc, argv, "o:vqh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			free(output);
			if ((output = strdup(optarg)) == NULL)
				fatal("out of memory");
			break;
		case OPT_PLATFORM:
			if (nplats >= PROFILE_PLATFORM_MAX) {
				log_error("more than %d --platform flags", PROFILE_PLATFORM_MAX);
				rc = EXIT_USAGE;
				goto out;
			}
			if (platform_parse(optarg, &plats[nplats], &err) != BARGE_OK) {
				log_error("--platform: %s", err.msg);
				rc = EXIT_USAGE;
				goto out;
			}
			nplats++;
			break;
		case OPT_MIRROR:
			if (client_config_add_mirror(&cfg, optarg, &err) != BARGE_OK) {
				log_error("%s", err.msg);
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_INSECURE:
			if (client_config_add_insecure(&cfg, optarg, &err) != BARGE_OK) {
				log_error("%s", err.msg);
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_CACHE:
			o.cache_dir = optarg;
			break;
		case OPT_LEVEL:
			level = strtol(optarg, &end, 10);
			if (optarg[0] == '\0' || *end != '\0' || level < 1 || level > 19) {
				log_error("--level \"%s\": want a number from 1 to 19", optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'q':
			log_set_level(LOG_LVL_ERROR);
			break;
		case 'h':
			build_usage(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		default:
			build_usage(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (argc - optind != 1) {
		log_error("%s", argc - optind == 0 ? "build: missing PROFILE"
		                                   : "build: one PROFILE only");
		build_usage(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if (build_mtime_from_env(&o.mtime, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		rc = EXIT_USAGE;
		goto out;
	}
	if (profile_load(argv[optind], &p, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (output == NULL && (output = fu_printf("%s-%s.tar.zst", p->name, p->version)) == NULL)
		fatal("out of memory");
	if (client_new(&cfg, &c, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	o.output = output;
	o.platforms = plats;
	o.nplatforms = nplats;
	o.level = (int)level;
	o.progress = on_progress;
	if (build_run(p, c, &o, &st, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	human(st.blob_bytes, in, sizeof(in));
	human(st.file_bytes, out, sizeof(out));
	printf("wrote %s: %zu image%s, %zu blobs (%zu shared), %s -> %s compressed\n", output,
	       st.nimages, st.nimages == 1 ? "" : "s", st.nblobs, st.nshared, in, out);
	rc = EXIT_SUCCESS;
out:
	client_free(c);
	profile_free(p);
	client_config_clear(&cfg);
	free(output);
	return rc;
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
