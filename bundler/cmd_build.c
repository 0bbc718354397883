/*
 * cmd_build: barge build, its options turned into one build_run (build.h)
 * and the result into a summary and an exit code.  It owns the signing key
 * it loads, the progress bars and, with --split, the parts list.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "fetch.h"
#include "fmtsize.h"
#include "log.h"
#include "progress.h"
#include "sign.h"
#include "split.h"

static void
build_usage(FILE *f)
{
	fprintf(f,
	        "usage: barge build PROFILE... [--output-file FILE] [options]\n"
	        "       barge build [PROFILE...] --locked LOCK [--output-file FILE] [options]\n"
	        "\n"
	        "Resolves the images the profiles name (or takes the digests LOCK pins),\n"
	        "pulls them and writes one bundle (default NAME-VERSION.tar.zst).  Builds\n"
	        "are reproducible: every entry's mtime is SOURCE_DATE_EPOCH, or 0 when it\n"
	        "is unset, so the same lock gives the same bytes.  With both PROFILE and\n"
	        "--locked, the build fails if the profile names other images than the lock.\n"
	        "\n"
	        "options:\n"
	        "      --output-file FILE          the bundle to write\n"
	        "      --locked LOCK               build exactly what LOCK pins\n"
	        "      --base OLD                  a delta: leave out the blobs OLD (a lock or\n"
	        "                                  a bundle) has, and list them as required\n"
	        "      --sign-key KEY              sign barge.json with this private key\n"
	        "      --verify-signatures KEY     fail unless every image has a cosign\n"
	        "                                  signature this public key (ECDSA P-256\n"
	        "                                  or Ed25519 PEM) verifies\n"
	        "      --cache-dir DIR             blob cache (default $XDG_CACHE_HOME/barge\n"
	        "                                  or ~/.cache/barge)\n"
	        "      --jobs N                    parallel downloads (default 4)\n"
	        "      --level N                   zstd level 1..19 (default 3)\n"
	        "  -o, --output text|json|yaml     the summary's format (default text)\n"
	        "      --split SIZE                then cut the bundle into FILE.part000, ...\n"
	        "                                  of at most SIZE (e.g. 3900M) with a parts\n"
	        "                                  list, and remove FILE (see barge split)\n"
	        "%s",
	        cmd_net_help);
}

/* The summary as a JSON value; NULL without memory. */
static json_t *
build_json(const char *output, const struct lock *l, const struct build_stats *st, double seconds)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s*,s:f}",
	                 "output", output, "name", l->name, "version", l->version, "digest",
	                 st->meta_digest, "images", (json_int_t)st->nimages, "blobs",
	                 (json_int_t)st->nblobs, "sharedBlobs", (json_int_t)st->nshared,
	                 "downloadedBlobs", (json_int_t)st->ndownloaded, "cachedBlobs",
	                 (json_int_t)st->ncached, "requiredBlobs", (json_int_t)st->nrequired,
	                 "blobBytes", (json_int_t)st->blob_bytes, "sharedBytes",
	                 (json_int_t)st->shared_bytes, "requiredBytes",
	                 (json_int_t)st->required_bytes, "downloadedBytes",
	                 (json_int_t)st->downloaded_bytes, "fileBytes", (json_int_t)st->file_bytes,
	                 "keyId", st->keyid[0] != '\0' ? st->keyid : NULL, "seconds", seconds);
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

static void
on_build_failed(void *arg, const char *msg)
{
	progress_finish(arg);
	log_error("%s", msg);
}

/* What barge build's arguments ask for. */
struct build_args {
	struct netopts no;
	struct build_opts o;
	enum outfmt fmt;
	const char *locked, *keyfile, *verifyfile;
	const char *const *profiles;
	size_t nprofiles;
	int64_t split_size;
};

/* Parses argv into a; -1 when the build is to go on, else the exit status (having logged why). */
static int
parse_args(int argc, char **argv, struct build_args *a)
{
	static const struct option longopts[] = {
		{ "output-file", required_argument, NULL, OPT_OUTPUT_FILE },
		OUTPUT_LONGOPT,
		{ "cache-dir", required_argument, NULL, OPT_CACHE },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "locked", required_argument, NULL, OPT_LOCKED },
		{ "base", required_argument, NULL, OPT_BASE },
		{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
		{ "verify-signatures", required_argument, NULL, OPT_VERIFY_SIGNATURES },
		{ "split", required_argument, NULL, OPT_SPLIT },
		NET_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct barge_err err;
	long v;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "o:vqh", longopts, NULL)) != -1) {
		if ((r = cmd_net_option(&a->no, ch, optarg)) < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		switch (ch) {
		case 'o':
			if (cmd_output("build", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			               "the bundle", "--output-file", &a->fmt) != 0)
				return EXIT_USAGE;
			break;
		case OPT_OUTPUT_FILE:
			a->o.output = optarg;
			break;
		case OPT_CACHE:
			a->o.cache_dir = optarg;
			break;
		case OPT_LEVEL:
			if (cmd_parse_int("--level", optarg, 1, 19, &v) != 0)
				return EXIT_USAGE;
			a->o.level = (int)v;
			break;
		case OPT_JOBS:
			if (cmd_parse_int("--jobs", optarg, 1, FETCH_JOBS_MAX, &v) != 0)
				return EXIT_USAGE;
			a->o.jobs = (int)v;
			break;
		case OPT_LOCKED:
			a->locked = optarg;
			break;
		case OPT_BASE:
			a->o.base = optarg;
			break;
		case OPT_SIGN_KEY:
			a->keyfile = optarg;
			break;
		case OPT_VERIFY_SIGNATURES:
			a->verifyfile = optarg;
			break;
		case OPT_SPLIT:
			if (split_parse_size(optarg, &a->split_size, &err) != BARGE_OK) {
				log_error("--split: %s", err.msg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			build_usage(stdout);
			return EXIT_SUCCESS;
		default:
			build_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc && a->locked == NULL) {
		log_error("build: missing PROFILE (or --locked LOCK)");
		build_usage(stderr);
		return EXIT_USAGE;
	}
	if (a->locked != NULL && a->no.nplats > 0) {
		log_error("build: --platform cannot change a lock's platforms; resolve again");
		return EXIT_USAGE;
	}
	if (build_mtime_from_env(&a->o.mtime, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		return EXIT_USAGE;
	}
	a->profiles = (const char *const *)argv + optind;
	a->nprofiles = (size_t)(argc - optind);
	return -1;
}

/* Cuts the bundle into parts; the parts are what goes on the stick, the whole would be in the way.
 */
static int
split_output(const char *output, int64_t size)
{
	struct split_result *sr = NULL;
	struct barge_err err;
	int rc = EXIT_FAILURE;

	if (split_bundle(output, size, &sr, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (unlink(output) != 0) {
		log_error("remove %s after splitting it: %s", output, strerror(errno));
		goto out;
	}
	log_info("split %s into %zu parts (%s.part000...) listed in %s", output, sr->nparts, output,
	         sr->list);
	rc = EXIT_SUCCESS;
out:
	split_result_free(sr);
	return rc;
}

/* The summary on stdout: a line of text, or JSON or YAML for CI. */
static int
print_summary(const struct build_args *a, const struct build_result *res, int is_signed, double t0)
{
	const struct build_stats *st = &res->stats;
	char in[32], out[32];

	if (a->fmt != OUTFMT_TEXT)
		return cmd_print(a->fmt, build_json(res->output, res->lock, st, cmd_now_s() - t0));
	fmtsize(st->blob_bytes, in, sizeof(in), 0);
	fmtsize(st->file_bytes, out, sizeof(out), 0);
	/* Where the blobs came from first, so that the counts add up to the total. */
	printf("wrote %s: %zu image%s, %zu blobs (%zu downloaded, %zu cached; %zu shared",
	       res->output, st->nimages, st->nimages == 1 ? "" : "s", st->nblobs, st->ndownloaded,
	       st->ncached, st->nshared);
	if (a->o.base != NULL)
		printf("; %zu more left to the base", st->nrequired);
	printf("), %s -> %s compressed in %.1f s%s%s\n", in, out, cmd_now_s() - t0,
	       is_signed ? ", signed by " : "", is_signed ? st->keyid : "");
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
cmd_build(int argc, char **argv)
{
	struct build_args a = { .fmt = OUTFMT_TEXT };
	struct build_result res = { 0 };
	struct build_source src;
	struct barge_err err;
	struct sign_key *key = NULL;
	struct cosign_key *vkey = NULL;
	struct progress *pg = NULL;
	double t0 = cmd_now_s();
	int rc;

	err_clear(&err);
	if ((rc = parse_args(argc, argv, &a)) >= 0)
		goto out;
	rc = EXIT_FAILURE;
	if (a.keyfile != NULL && sign_key_load_private(a.keyfile, &key, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (a.verifyfile != NULL && cosign_key_load(a.verifyfile, &vkey, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (progress_new(stderr, isatty(STDERR_FILENO) && a.fmt == OUTFMT_TEXT, &pg, &err) !=
	    BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	src = (struct build_source){ .profiles = a.profiles,
		                     .nprofiles = a.nprofiles,
		                     .locked = a.locked,
		                     .platforms = a.no.plats,
		                     .nplatforms = a.no.nplats,
		                     .client = &a.no.cfg };
	a.o.sign_key = key;
	a.o.verify_key = vkey;
	a.o.progress = on_build_progress;
	a.o.failed = on_build_failed;
	a.o.bytes = progress_update;
	a.o.progress_arg = pg;
	rc = build_run(&src, &a.o, &res, &err);
	progress_finish(pg);
	if (rc != BARGE_OK) {
		log_error("%s", err.msg);
		rc = EXIT_FAILURE;
		goto out;
	}
	if (a.split_size > 0 && (rc = split_output(res.output, a.split_size)) != EXIT_SUCCESS)
		goto out;
	rc = print_summary(&a, &res, key != NULL, t0);
out:
	build_result_clear(&res);
	progress_free(pg);
	sign_key_free(key);
	cosign_key_free(vkey);
	client_config_clear(&a.no.cfg);
	return rc;
}
