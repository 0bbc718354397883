/*
 * cmd_split: barge split, a bundle cut into parts for FAT32 sticks
 * (split.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "fmtsize.h"
#include "log.h"
#include "split.h"

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

int
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
	fmtsize(r->size, a, sizeof(a), 0);
	printf("wrote %zu part%s of %s (%s, %s), listed in %s\n", r->nparts,
	       r->nparts == 1 ? "" : "s", argv[optind], a, r->sha256, r->list);
	split_result_free(r);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
