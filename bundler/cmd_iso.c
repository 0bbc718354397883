/*
 * cmd_iso: barge iso, install media holding bundles (isowrite.h).  It owns
 * the SIGINT and SIGTERM handlers while the image is written, so a
 * signal ends the write cleanly before it kills barge.
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "build.h"
#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "fmtsize.h"
#include "isowrite.h"
#include "log.h"

static void
iso_usage(FILE *f)
{
	fprintf(f, "usage: barge iso BUNDLE... --output-file ISO [--base ISO] [--volume-label L]\n"
	           "                 [-o text|json|yaml]\n"
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
	           "      --output-file ISO      the image to write\n"
	           "      --base ISO             add the bundles to this image (an installer),\n"
	           "                             keeping its files and El Torito boot records\n"
	           "      --volume-label L       the volume id (default BARGE, or the base's)\n"
	           "  -o, --output text|json|yaml  the summary's format (default text)\n"
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

/* The summary as a JSON value; NULL without memory. */
static json_t *
iso_json(const char *output, const struct isowrite_opts *o, const struct isowrite_stats *st,
         double seconds)
{
	return json_pack("{s:s,s:I,s:I,s:I,s:s*,s:i,s:b,s:f}", "file", output, "bundles",
	                 (json_int_t)st->nbundles, "bundleBytes", (json_int_t)st->bundle_bytes,
	                 "imageBytes", (json_int_t)st->image_bytes, "base", o->base, "bootImages",
	                 st->boot_images, "basePartitions", st->base_partitions, "seconds",
	                 seconds);
}

/* The signal that asked barge iso to stop, 0 until one did. */
static volatile sig_atomic_t iso_stop;

static void
on_iso_signal(int sig)
{
	iso_stop = sig;
}

int
cmd_iso(int argc, char **argv)
{
	static const struct option longopts[] = {
		OUTPUT_LONGOPT,
		{ "output-file", required_argument, NULL, OPT_OUTPUT_FILE },
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
	enum outfmt fmt = OUTFMT_TEXT;
	char a[32], b[32];
	double t0 = cmd_now_s();
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (cmd_output("iso", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			               "the image", "--output-file", &fmt) != 0)
				return EXIT_USAGE;
			break;
		case OPT_OUTPUT_FILE:
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
		log_error("iso: BUNDLE... and --output-file ISO");
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
	if (fmt != OUTFMT_TEXT) {
		rc = cmd_print(fmt, iso_json(output, &o, &st, cmd_now_s() - t0));
	} else {
		fmtsize(st.bundle_bytes, a, sizeof(a), 0);
		fmtsize(st.image_bytes, b, sizeof(b), 0);
		printf("wrote %s: %zu bundle%s (%s), image %s", output, st.nbundles,
		       st.nbundles == 1 ? "" : "s", a, b);
		if (o.base != NULL)
			printf(", %d boot image%s kept from %s", st.boot_images,
			       st.boot_images == 1 ? "" : "s", o.base);
		printf(" in %.1f s\n", cmd_now_s() - t0);
		rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	if (st.base_partitions)
		log_warn("%s has partitions (a hybrid MBR or GPT, for booting from a USB "
		         "stick): they are copied as they were and no longer match where %s "
		         "keeps the files, so booting it from a USB stick may fail (booting "
		         "from a disc, El Torito, is kept); see docs/media.md",
		         o.base, output);
	return rc;
}
