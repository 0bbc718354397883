/*
 * barge: the CI-side bundler.
 *
 *   barge resolve PROFILE... -o LOCK   pin every image to its digest
 *   barge images PROFILE...            list the images a profile names
 *   barge build PROFILE... | --locked LOCK [--base OLD] [--sign-key KEY]
 *   barge inspect BUNDLE               describe a bundle
 *   barge verify BUNDLE [--key PUB]    check a bundle's signature and every blob
 *   barge keygen --out PREFIX          make an Ed25519 signing key pair
 *   barge iso BUNDLE... -o ISO [--base ISO]  install media holding bundles
 *   barge split BUNDLE [--size SIZE]   parts for FAT32 sticks
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "client.h"
#include "fetch.h"
#include "fileutil.h"
#include "inspect.h"
#include "isowrite.h"
#include "lock.h"
#include "log.h"
#include "platform.h"
#include "profile.h"
#include "progress.h"
#include "resolve.h"
#include "sign.h"
#include "split.h"

#define EXIT_USAGE 2
#define KEYS_MAX   64

static int cmd_build(int argc, char **argv);
static int cmd_resolve(int argc, char **argv);
static int cmd_images(int argc, char **argv);
static int cmd_inspect(int argc, char **argv);
static int cmd_verify(int argc, char **argv);
static int cmd_keygen(int argc, char **argv);
static int cmd_iso(int argc, char **argv);
static int cmd_split(int argc, char **argv);

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

static const char net_help[] =
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
	OPT_OUTPUT_FMT,
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
	int json; /* --output json */
};

static int
parse_int(const char *flag, const char *arg, long lo, long hi, long *out)
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

/*
 * Handles one of the shared options.  Returns 1 when ch was one of them, 0
 * when not, -1 (having logged why) on a usage error.
 */
static int
net_option(struct netopts *n, int ch, const char *arg)
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
		if (parse_int("--timeout", arg, 1, 3600, &v) != 0)
			return -1;
		n->cfg.timeout_s = (int)v;
		return 1;
	case OPT_RETRIES:
		if (parse_int("--retries", arg, 1, 100, &v) != 0)
			return -1;
		n->cfg.max_attempts = (int)v;
		return 1;
	case OPT_OUTPUT_FMT:
		if (strcmp(arg, "json") == 0) {
			n->json = 1;
		} else if (strcmp(arg, "text") != 0) {
			log_error("--output \"%s\": want text or json", arg);
			return -1;
		}
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

static void
on_resolve(void *arg, size_t i, size_t n, const char *source)
{
	(void)arg;
	log_info("resolving %s (%zu/%zu)", source, i + 1, n);
}

/* Loads profiles and pins them (or, with resolve 0, only lists them); NULL after logging. */
static struct lock *
profiles_to_lock(char **paths, size_t n, struct netopts *no, int resolve)
{
	struct barge_err err;
	struct profile *p = NULL;
	struct client *c = NULL;
	struct lock *l = NULL;

	if (profile_load_many((const char *const *)paths, n, &p, &err) != BARGE_OK ||
	    lock_from_profile(p, no->plats, no->nplats, &l, &err) != BARGE_OK)
		goto fail;
	if (p->nexcluded > 0)
		log_info("spec.exclude dropped %zu image%s", p->nexcluded,
		         p->nexcluded == 1 ? "" : "s");
	if (resolve && (client_new(&no->cfg, &c, &err) != BARGE_OK ||
	                resolve_lock(l, c, on_resolve, NULL, &err) != BARGE_OK))
		goto fail;
	client_free(c);
	profile_free(p);
	return l;
fail:
	log_error("%s", err.msg);
	lock_free(l);
	client_free(c);
	profile_free(p);
	return NULL;
}

static void
resolve_usage(FILE *f)
{
	fprintf(f,
	        "usage: barge resolve PROFILE... [-o LOCK] [options]\n"
	        "\n"
	        "Resolves every image the profiles name to the digest its registry serves\n"
	        "now and writes the lock file (default: standard output).  Several\n"
	        "profiles are merged: name and version of the first, the union of their\n"
	        "images and platforms.\n"
	        "\n"
	        "options:\n"
	        "  -o, --output FILE               the lock file to write (atomically)\n"
	        "%s",
	        net_help);
}

static int
cmd_resolve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		NET_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct netopts no = { 0 };
	struct barge_err err;
	struct lock *l = NULL;
	const char *output = NULL;
	char *text = NULL;
	size_t len;
	int ch, r, rc = EXIT_FAILURE;

	while ((ch = getopt_long(argc, argv, "o:vqh", longopts, NULL)) != -1) {
		if ((r = net_option(&no, ch, optarg)) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (r > 0)
			continue;
		if (ch == 'o') {
			output = optarg;
		} else if (ch == 'h') {
			resolve_usage(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		} else {
			resolve_usage(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		log_error("resolve: missing PROFILE");
		resolve_usage(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((l = profiles_to_lock(argv + optind, (size_t)(argc - optind), &no, 1)) == NULL)
		goto out;
	if (output != NULL) {
		if (lock_write(l, output, &err) != BARGE_OK) {
			log_error("%s", err.msg);
			goto out;
		}
		log_info("wrote %s: %zu image%s pinned", output, l->nimages,
		         l->nimages == 1 ? "" : "s");
	} else {
		if (lock_dump(l, &text, &len, &err) != BARGE_OK) {
			log_error("%s", err.msg);
			goto out;
		}
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
			log_error("writing the lock to standard output failed");
			goto out;
		}
	}
	rc = EXIT_SUCCESS;
out:
	free(text);
	lock_free(l);
	client_config_clear(&no.cfg);
	return rc;
}

static void
images_usage(FILE *f)
{
	fprintf(f,
	        "usage: barge images PROFILE... [--no-resolve] [--output json] [options]\n"
	        "\n"
	        "Lists the images the profiles name, pinned to the digests their\n"
	        "registries serve now (or, with --no-resolve, without asking them), with\n"
	        "where each came from.  For review in CI.\n"
	        "\n"
	        "options:\n"
	        "      --no-resolve                list only; no network\n"
	        "      --output text|json          the format (default text)\n"
	        "%s",
	        net_help);
}

static int
print_images_json(const struct lock *l, int resolved)
{
	char plat[3 * PLATFORM_FIELD_MAX];
	json_t *root, *arr, *plats, *o, *origins, *mans;
	const struct lock_image *im;
	size_t i, k;
	int rc = -1;

	arr = json_array();
	plats = json_array();
	root = json_pack("{s:s,s:s,s:s,s:o*,s:o*}", "name", l->name, "version", l->version,
	                 "project", l->project, "platforms", plats, "images", arr);
	if (root == NULL || arr == NULL || plats == NULL)
		goto out;
	for (i = 0; i < l->nplatforms; i++) {
		platform_format(&l->platforms[i], plat, sizeof(plat));
		if (json_array_append_new(plats, json_string(plat)) != 0)
			goto out;
	}
	for (i = 0; i < l->nimages; i++) {
		im = &l->images[i];
		origins = json_array();
		o = json_pack("{s:s,s:o*}", "source", im->source, "origins", origins);
		if (o == NULL || origins == NULL || json_array_append_new(arr, o) != 0)
			goto out;
		if (resolved &&
		    (json_object_set_new(o, "digest", json_string(im->digest)) != 0 ||
		     json_object_set_new(o, "mediaType", json_string(im->media_type)) != 0 ||
		     json_object_set_new(o, "manifests", mans = json_array()) != 0 || mans == NULL))
			goto out;
		for (k = 0; resolved && k < im->nmanifests; k++) {
			platform_format(&im->manifests[k].platform, plat, sizeof(plat));
			if (json_array_append_new(mans,
			                          json_pack("{s:s,s:s}", "platform", plat, "digest",
			                                    im->manifests[k].digest)) != 0)
				goto out;
		}
		for (k = 0; k < im->norigins; k++)
			if (json_array_append_new(origins, json_pack("{s:s,s:s,s:i,s:i}", "pack",
			                                             im->origins[k].pack, "file",
			                                             im->origins[k].file, "line",
			                                             im->origins[k].line, "column",
			                                             im->origins[k].col)) != 0)
				goto out;
	}
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		goto out;
	putchar('\n');
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int
cmd_images(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-resolve", no_argument, NULL, OPT_NO_RESOLVE },
		{ "output", required_argument, NULL, OPT_OUTPUT_FMT },
		NET_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct netopts no = { 0 };
	const struct lock_image *im;
	struct lock *l = NULL;
	int ch, r, resolve = 1, rc = EXIT_FAILURE;
	size_t i;

	while ((ch = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		if ((r = net_option(&no, ch, optarg)) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (r > 0)
			continue;
		if (ch == OPT_NO_RESOLVE) {
			resolve = 0;
		} else if (ch == 'h') {
			images_usage(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		} else {
			images_usage(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		log_error("images: missing PROFILE");
		images_usage(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((l = profiles_to_lock(argv + optind, (size_t)(argc - optind), &no, resolve)) == NULL)
		goto out;
	if (no.json) {
		if (print_images_json(l, resolve) != 0) {
			log_error("writing JSON failed");
			goto out;
		}
	} else {
		for (i = 0; i < l->nimages; i++) {
			im = &l->images[i];
			printf("%s%s%s\t%s %s:%d:%d\n", im->source, resolve ? "\t" : "",
			       resolve ? im->digest : "", im->origins[0].pack, im->origins[0].file,
			       im->origins[0].line, im->origins[0].col);
		}
	}
	rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	lock_free(l);
	client_config_clear(&no.cfg);
	return rc;
}

static void
build_usage(FILE *f)
{
	fprintf(f,
	        "usage: barge build PROFILE... [-o FILE] [options]\n"
	        "       barge build [PROFILE...] --locked LOCK [-o FILE] [options]\n"
	        "\n"
	        "Resolves the images the profiles name (or takes the digests LOCK pins),\n"
	        "pulls them and writes one bundle (default NAME-VERSION.tar.zst).  Builds\n"
	        "are reproducible: every entry's mtime is SOURCE_DATE_EPOCH, or 0 when it\n"
	        "is unset, so the same lock gives the same bytes.  With both PROFILE and\n"
	        "--locked, the build fails if the profile names other images than the lock.\n"
	        "\n"
	        "options:\n"
	        "  -o, --output-file FILE          the bundle to write\n"
	        "      --locked LOCK               build exactly what LOCK pins\n"
	        "      --base OLD                  a delta: leave out the blobs OLD (a lock or\n"
	        "                                  a bundle) has, and list them as required\n"
	        "      --sign-key KEY              sign barge.json with this private key\n"
	        "      --cache-dir DIR             blob cache (default $XDG_CACHE_HOME/barge\n"
	        "                                  or ~/.cache/barge)\n"
	        "      --jobs N                    parallel downloads (default 4)\n"
	        "      --level N                   zstd level 1..19 (default 3)\n"
	        "      --output text|json          the summary's format (json on stdout, for CI)\n"
	        "      --split SIZE                then cut the bundle into FILE.part000, ...\n"
	        "                                  of at most SIZE (e.g. 3900M) with a parts\n"
	        "                                  list, and remove FILE (see barge split)\n"
	        "%s",
	        net_help);
}

static int
print_build_json(const char *output, const struct lock *l, const struct build_stats *st,
                 double seconds)
{
	json_t *o;
	int rc;

	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s*,s:f}",
	              "output", output, "name", l->name, "version", l->version, "digest",
	              st->meta_digest, "images", (json_int_t)st->nimages, "blobs",
	              (json_int_t)st->nblobs, "sharedBlobs", (json_int_t)st->nshared,
	              "downloadedBlobs", (json_int_t)st->ndownloaded, "requiredBlobs",
	              (json_int_t)st->nrequired, "blobBytes", (json_int_t)st->blob_bytes,
	              "sharedBytes", (json_int_t)st->shared_bytes, "requiredBytes",
	              (json_int_t)st->required_bytes, "downloadedBytes",
	              (json_int_t)st->downloaded_bytes, "fileBytes", (json_int_t)st->file_bytes,
	              "keyId", st->keyid[0] != '\0' ? st->keyid : NULL, "seconds", seconds);
	if (o == NULL)
		return -1;
	rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
	return rc;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_build_progress(void *arg, const char *msg)
{
	/* A log line would be overdrawn by the bars: clear them first; the next update redraws. */
	progress_finish(arg);
	/* Blob pulls are many; the per-image lines are what a CI log wants by default. */
	if (strncmp(msg, "pulling ", 8) == 0 || strncmp(msg, "fetching manifests", 18) == 0)
		log_debug("%s", msg);
	else
		log_info("%s", msg);
}

static int
cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output-file", required_argument, NULL, 'o' },
		{ "output", required_argument, NULL, OPT_OUTPUT_FMT },
		{ "cache-dir", required_argument, NULL, OPT_CACHE },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "locked", required_argument, NULL, OPT_LOCKED },
		{ "base", required_argument, NULL, OPT_BASE },
		{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
		{ "split", required_argument, NULL, OPT_SPLIT },
		NET_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct netopts no = { 0 };
	struct build_opts o = { 0 };
	struct split_result *sr = NULL;
	int64_t split_size = 0;
	struct build_stats st;
	struct barge_err err;
	struct profile *p = NULL;
	struct client *c = NULL;
	struct lock *l = NULL;
	struct sign_key *key = NULL;
	struct progress *pg = NULL;
	const char *locked = NULL, *keyfile = NULL;
	char *output = NULL, in[32], out[32];
	long level = 0, jobs = 0;
	double t0 = now_s();
	int ch, r, rc = EXIT_FAILURE;

	err_clear(&err);
	while ((ch = getopt_long(argc, argv, "o:vqh", longopts, NULL)) != -1) {
		if ((r = net_option(&no, ch, optarg)) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (r > 0)
			continue;
		switch (ch) {
		case 'o':
			free(output);
			if ((output = strdup(optarg)) == NULL)
				fatal("out of memory");
			break;
		case OPT_CACHE:
			o.cache_dir = optarg;
			break;
		case OPT_LEVEL:
			if (parse_int("--level", optarg, 1, 19, &level) != 0) {
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_JOBS:
			if (parse_int("--jobs", optarg, 1, FETCH_JOBS_MAX, &jobs) != 0) {
				rc = EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_LOCKED:
			locked = optarg;
			break;
		case OPT_BASE:
			o.base = optarg;
			break;
		case OPT_SIGN_KEY:
			keyfile = optarg;
			break;
		case OPT_SPLIT:
			if (split_parse_size(optarg, &split_size, &err) != BARGE_OK) {
				log_error("--split: %s", err.msg);
				rc = EXIT_USAGE;
				goto out;
			}
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
	if (optind >= argc && locked == NULL) {
		log_error("build: missing PROFILE (or --locked LOCK)");
		build_usage(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if (locked != NULL && no.nplats > 0) {
		log_error("build: --platform cannot change a lock's platforms; resolve again");
		rc = EXIT_USAGE;
		goto out;
	}
	if (build_mtime_from_env(&o.mtime, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		rc = EXIT_USAGE;
		goto out;
	}
	if (keyfile != NULL && sign_key_load_private(keyfile, &key, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (locked != NULL) {
		if (lock_load(locked, &l, &err) != BARGE_OK) {
			log_error("%s", err.msg);
			goto out;
		}
		if (optind < argc &&
		    (profile_load_many((const char *const *)argv + optind, (size_t)(argc - optind),
		                       &p, &err) != BARGE_OK ||
		     lock_matches_profile(l, p, &err) != BARGE_OK)) {
			log_error("%s", err.msg);
			goto out;
		}
	} else if ((l = profiles_to_lock(argv + optind, (size_t)(argc - optind), &no, 1)) == NULL) {
		goto out;
	}
	if (output == NULL && (output = fu_printf("%s-%s.tar.zst", l->name, l->version)) == NULL)
		fatal("out of memory");
	if (client_new(&no.cfg, &c, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (progress_new(stderr, isatty(STDERR_FILENO) && !no.json, &pg, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	o.output = output;
	o.level = (int)level;
	o.jobs = (int)jobs;
	o.sign_key = key;
	o.progress = on_build_progress;
	o.bytes = progress_update;
	o.progress_arg = pg;
	rc = build_run_lock(l, c, &o, &st, &err);
	progress_finish(pg);
	if (rc != BARGE_OK) {
		log_error("%s", err.msg);
		rc = EXIT_FAILURE;
		goto out;
	}
	rc = EXIT_FAILURE;
	/* The parts are what goes on the stick; the whole would only be in the way there. */
	if (split_size > 0) {
		if (split_bundle(output, split_size, &sr, &err) != BARGE_OK) {
			log_error("%s", err.msg);
			goto out;
		}
		if (unlink(output) != 0) {
			log_error("remove %s after splitting it: %s", output, strerror(errno));
			goto out;
		}
		log_info("split %s into %zu parts (%s.part000...) listed in %s", output, sr->nparts,
		         output, sr->list);
	}
	if (no.json) {
		if (print_build_json(output, l, &st, now_s() - t0) != 0) {
			log_error("writing JSON failed");
			goto out;
		}
	} else {
		progress_human(st.blob_bytes, in, sizeof(in));
		progress_human(st.file_bytes, out, sizeof(out));
		printf("wrote %s: %zu image%s, %zu blobs (%zu shared, %zu downloaded", output,
		       st.nimages, st.nimages == 1 ? "" : "s", st.nblobs, st.nshared,
		       st.ndownloaded);
		if (o.base != NULL)
			printf(", %zu left to the base", st.nrequired);
		printf("), %s -> %s compressed in %.1f s%s%s\n", in, out, now_s() - t0,
		       key != NULL ? ", signed by " : "", key != NULL ? st.keyid : "");
	}
	rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	split_result_free(sr);
	progress_free(pg);
	sign_key_free(key);
	client_free(c);
	lock_free(l);
	profile_free(p);
	client_config_clear(&no.cfg);
	free(output);
	return rc;
}

static void
inspect_usage(FILE *f)
{
	fprintf(f, "usage: barge inspect BUNDLE [--output json]\n"
	           "\n"
	           "Describes a bundle: its images, tags and platforms, how many blobs it\n"
	           "carries and their sizes, the bytes images sharing blobs saved, the blobs a\n"
	           "delta bundle requires from its base, and the signing key's id.\n"
	           "\n"
	           "options:\n"
	           "      --output text|json  the format (default text)\n"
	           "  -h, --help              show this help\n"
	           "\n"
	           "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int
print_inspect_json(const char *path, const struct inspect_result *r)
{
	const struct bundle_meta *m = r->meta;
	json_t *root, *plats, *images, *tags;
	size_t i, k;
	int rc = -1;

	plats = json_array();
	images = json_array();
	root = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o*,s:o*,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:s*}",
	                 "file", path, "digest", r->meta_digest, "name", m->name, "version",
	                 m->version, "created", m->created, "builder", m->builder, "project",
	                 m->project, "platforms", plats, "images", images, "blobs",
	                 (json_int_t)r->nentries, "blobBytes", (json_int_t)r->blob_bytes,
	                 "sharedBytes", (json_int_t)r->shared_bytes, "requiredBlobs",
	                 (json_int_t)m->nrequires, "requiredBytes", (json_int_t)r->required_bytes,
	                 "fileBytes", (json_int_t)r->file_bytes, "signed", r->is_signed, "keyId",
	                 r->is_signed ? r->keyid : NULL);
	if (root == NULL || plats == NULL || images == NULL)
		goto out;
	for (i = 0; i < m->nplatforms; i++)
		if (json_array_append_new(plats, json_string(m->platforms[i])) != 0)
			goto out;
	for (i = 0; i < m->nimages; i++) {
		if ((tags = json_array()) == NULL)
			goto out;
		for (k = 0; k < m->images[i].ntags; k++)
			json_array_append_new(tags, json_string(m->images[i].tags[k]));
		if (json_array_size(tags) != m->images[i].ntags ||
		    json_array_append_new(images,
		                          json_pack("{s:s,s:s,s:o,s:s,s:s}", "repository",
		                                    m->images[i].repository, "source",
		                                    m->images[i].source, "tags", tags, "digest",
		                                    m->images[i].digest, "mediaType",
		                                    m->images[i].media_type)) != 0)
			goto out;
	}
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		goto out;
	putchar('\n');
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static void
print_inspect_text(const char *path, const struct inspect_result *r)
{
	const struct bundle_meta *m = r->meta;
	char a[32], b[32], s[32];
	size_t i, k;

	progress_human(r->file_bytes, a, sizeof(a));
	printf("bundle:    %s (%s)\n", path, a);
	printf("name:      %s %s (created %s by %s)\n", m->name, m->version, m->created,
	       m->builder);
	printf("digest:    %s\n", r->meta_digest);
	printf("project:   %s\n", m->project);
	printf("platforms:");
	for (i = 0; i < m->nplatforms; i++)
		printf(" %s", m->platforms[i]);
	printf("\nsignature: %s\n", r->is_signed ? r->keyid : "unsigned");
	progress_human(r->blob_bytes, a, sizeof(a));
	progress_human(r->shared_bytes, s, sizeof(s));
	printf("blobs:     %zu (%s), %s saved by sharing\n", r->nentries, a, s);
	if (m->nrequires > 0) {
		progress_human(r->required_bytes, b, sizeof(b));
		printf("requires:  %zu blobs (%s) from its base\n", m->nrequires, b);
	}
	printf("images:    %zu\n", m->nimages);
	for (i = 0; i < m->nimages; i++) {
		printf("  %s\n    %s %s tags:", m->images[i].source, m->images[i].repository,
		       m->images[i].digest);
		for (k = 0; k < m->images[i].ntags; k++)
			printf(" %s", m->images[i].tags[k]);
		printf("%s\n", m->images[i].ntags == 0 ? " (none)" : "");
	}
}

static int
cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, OPT_OUTPUT_FMT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct inspect_opts io = { 0 };
	struct inspect_result *r = NULL;
	struct netopts no = { 0 };
	struct barge_err err;
	int ch, rc = EXIT_FAILURE;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == OPT_OUTPUT_FMT && net_option(&no, ch, optarg) > 0)
			continue;
		if (ch == 'h') {
			inspect_usage(stdout);
			return EXIT_SUCCESS;
		}
		inspect_usage(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind != 1) {
		log_error("inspect: one BUNDLE");
		inspect_usage(stderr);
		return EXIT_USAGE;
	}
	if (inspect_bundle(argv[optind], &io, &r, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (no.json) {
		if (print_inspect_json(argv[optind], r) != 0) {
			log_error("writing JSON failed");
			goto out;
		}
	} else {
		print_inspect_text(argv[optind], r);
	}
	rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	inspect_result_free(r);
	return rc;
}

static void
verify_usage(FILE *f)
{
	fprintf(f, "usage: barge verify BUNDLE [--key PUB]...\n"
	           "\n"
	           "Checks a bundle: barge.json is valid, every blob entry is listed, has\n"
	           "its size and hashes to its digest, and none is missing.  With --key, the\n"
	           "signature must be made by one of the given public keys; without, the\n"
	           "signing key's id (or \"unsigned\") is reported.\n"
	           "\n"
	           "options:\n"
	           "      --key PUB   a trusted public key (repeatable)\n"
	           "  -h, --help      show this help\n"
	           "\n"
	           "Exit status: 0 the bundle is sound (and signed by a trusted key when --key\n"
	           "is given), 1 it is not, 2 usage error.\n");
}

static int
cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, OPT_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sign_key *keys[KEYS_MAX];
	struct inspect_opts io = { .verify = 1, .trusted = keys };
	struct inspect_result *r = NULL;
	struct barge_err err;
	size_t i, nkeys = 0;
	int ch, rc = EXIT_FAILURE;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == OPT_KEY) {
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

static int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prefix = NULL;
	char keyid[DIGEST_STR_MAX];
	struct barge_err err;
	int ch;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if (ch == 'o') {
			prefix = optarg;
			continue;
		}
		fprintf(ch == 'h' ? stdout : stderr,
		        "usage: barge keygen --out PREFIX\n"
		        "\n"
		        "Writes an Ed25519 key pair: PREFIX.key (private, mode 0600, never\n"
		        "overwritten) and PREFIX.pub, and prints the key id.\n");
		return ch == 'h' ? EXIT_SUCCESS : EXIT_USAGE;
	}
	if (prefix == NULL || optind != argc) {
		log_error("keygen: --out PREFIX, and nothing else");
		return EXIT_USAGE;
	}
	if (sign_keygen(prefix, keyid, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		return EXIT_FAILURE;
	}
	printf("wrote %s.key and %s.pub: key id %s\n", prefix, prefix, keyid);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static void
iso_usage(FILE *f)
{
	fprintf(f, "usage: barge iso BUNDLE... -o ISO [--base ISO] [--volume-label L]\n"
	           "\n"
	           "Writes an ISO 9660 image (level 3, Rock Ridge and Joliet; bundles over\n"
	           "4 GiB are fine) holding the bundles, BARGE.JSON (each bundle's file, size,\n"
	           "sha256, name and version) and README.TXT.  The bundles are read from\n"
	           "where they are while the image is written: no copy is made first.  The\n"
	           "image is written to a temporary sibling of ISO and renamed into place.\n"
	           "Timestamps are SOURCE_DATE_EPOCH, or 0 when it is unset.  On the edge\n"
	           "host: barged load /dev/sr0 (or the .iso file).\n"
	           "\n"
	           "options:\n"
	           "  -o, --output FILE          the image to write\n"
	           "      --base ISO             add the bundles to this image (an installer),\n"
	           "                             keeping its files and El Torito boot records\n"
	           "      --volume-label L       the volume id (default BARGE, or the base's)\n"
	           "  -q, --quiet                log errors only\n"
	           "  -h, --help                 show this help\n"
	           "\n"
	           "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static void
on_iso_progress(void *arg, const char *msg)
{
	(void)arg;
	log_info("%s", msg);
}

/* The signal that asked barge iso to stop, 0 until one did. */
static volatile sig_atomic_t iso_stop;

static void
on_iso_signal(int sig)
{
	iso_stop = sig;
}

static int
cmd_iso(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "base", required_argument, NULL, OPT_BASE },
		{ "volume-label", required_argument, NULL, OPT_VOLUME_LABEL },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct isowrite_opts o = { 0 };
	struct isowrite_stats st;
	struct sigaction sa = { .sa_handler = on_iso_signal }, old_int, old_term;
	struct barge_err err;
	const char *output = NULL;
	char a[32], b[32];
	double t0 = now_s();
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			output = optarg;
			break;
		case OPT_BASE:
			o.base = optarg;
			break;
		case OPT_VOLUME_LABEL:
			if (isowrite_label_check(optarg, &err) != BARGE_OK) {
				log_error("--volume-label: %s", err.msg);
				return EXIT_USAGE;
			}
			o.volume_label = optarg;
			break;
		case 'q':
			log_set_level(LOG_LVL_ERROR);
			break;
		case 'h':
			iso_usage(stdout);
			return EXIT_SUCCESS;
		default:
			iso_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (output == NULL || optind >= argc) {
		log_error("iso: BUNDLE... and -o ISO");
		iso_usage(stderr);
		return EXIT_USAGE;
	}
	if (build_mtime_from_env(&o.mtime, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		return EXIT_USAGE;
	}
	o.progress = on_iso_progress;
	/*
	 * SIGINT and SIGTERM end the write cleanly: where the image file has a
	 * name before it is complete (no O_TMPFILE), it is removed.  Then the
	 * signal kills barge as it would have.
	 */
	o.stop = &iso_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	rc = isowrite_write(output, (const char *const *)argv + optind, (size_t)(argc - optind), &o,
	                    &st, &err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	/* A signal after the image was complete changes nothing. */
	if (rc != BARGE_OK && iso_stop != 0) {
		log_error("%s: no image written", iso_stop == SIGINT ? "SIGINT" : "SIGTERM");
		signal(iso_stop, SIG_DFL);
		raise(iso_stop);
		return EXIT_FAILURE;
	}
	if (rc != BARGE_OK) {
		log_error("%s", err.msg);
		return EXIT_FAILURE;
	}
	progress_human(st.bundle_bytes, a, sizeof(a));
	progress_human(st.image_bytes, b, sizeof(b));
	printf("wrote %s: %zu bundle%s (%s), image %s", output, st.nbundles,
	       st.nbundles == 1 ? "" : "s", a, b);
	if (o.base != NULL)
		printf(", %d boot image%s kept from %s", st.boot_images,
		       st.boot_images == 1 ? "" : "s", o.base);
	printf(" in %.1f s\n", now_s() - t0);
	if (st.base_partitions)
		log_warn("%s has partitions (a hybrid MBR or GPT, for booting from a USB "
		         "stick): they are copied as they were and no longer match where %s "
		         "keeps the files, so booting it from a USB stick may fail (booting "
		         "from a disc, El Torito, is kept); see docs/media.md",
		         o.base, output);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static void
split_usage(FILE *f)
{
	fprintf(f, "usage: barge split BUNDLE [--size SIZE]\n"
	           "\n"
	           "Cuts BUNDLE into BUNDLE.part000, BUNDLE.part001, ... of at most SIZE\n"
	           "bytes each (K, M, G, T are powers of 1024; default 3900M, under FAT32's\n"
	           "4 GiB limit) and writes BUNDLE.split.json: the whole's size and sha256,\n"
	           "each part's name, size and sha256.  BUNDLE stays.  On the edge host:\n"
	           "barged load BUNDLE.part000 (the other parts are found beside it).\n"
	           "\n"
	           "options:\n"
	           "      --size SIZE   the largest part (at least 1M)\n"
	           "  -h, --help        show this help\n"
	           "\n"
	           "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int
cmd_split(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct split_result *r = NULL;
	struct barge_err err;
	int64_t size = SPLIT_SIZE_DEFAULT;
	char a[32];
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == OPT_SIZE) {
			if (split_parse_size(optarg, &size, &err) != BARGE_OK) {
				log_error("--size: %s", err.msg);
				return EXIT_USAGE;
			}
			continue;
		}
		split_usage(ch == 'h' ? stdout : stderr);
		return ch == 'h' ? EXIT_SUCCESS : EXIT_USAGE;
	}
	if (argc - optind != 1) {
		log_error("split: one BUNDLE");
		split_usage(stderr);
		return EXIT_USAGE;
	}
	if (split_bundle(argv[optind], size, &r, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		return EXIT_FAILURE;
	}
	progress_human(r->size, a, sizeof(a));
	printf("wrote %zu part%s of %s (%s, %s), listed in %s\n", r->nparts,
	       r->nparts == 1 ? "" : "s", argv[optind], a, r->sha256, r->list);
	split_result_free(r);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
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
