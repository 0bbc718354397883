/*
 * cmd_split: barge split, a bundle cut into parts for FAT32 sticks
 * (split.h).
 */
#include <getopt.h>
#include <jansson.h>
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
	fprintf(f, "usage: barge split BUNDLE [--size SIZE] [-o text|json|yaml]\n"
	           "\n"
	           "Cuts BUNDLE into BUNDLE.part000, BUNDLE.part001, ... of at most SIZE\n"
	           "bytes each (K, M, G, T are powers of 1024; default 3900M, under FAT32's\n"
	           "4 GiB limit) and writes BUNDLE.split.json: the whole's size and sha256,\n"
	           "each part's name, size and sha256.  BUNDLE stays.  On the edge host:\n"
	           "barged load BUNDLE.part000 (the other parts are found beside it).\n"
	           "\n"
	           "options:\n"
	           "      --size SIZE                the largest part (at least 1M)\n"
	           "  -o, --output text|json|yaml  the format of the summary (default text)\n"
	           "  -h, --help                   show this help\n"
	           "\n"
	           "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

/* The parts as a JSON value, as the parts list has them; NULL without memory. */
static json_t *
split_json(const char *bundle, const struct split_result *r)
{
	json_t *root, *parts;
	size_t i;

	parts = json_array();
	root = json_pack("{s:s,s:I,s:s,s:s,s:o*}", "file", bundle, "size", (json_int_t)r->size,
	                 "sha256", r->sha256, "list", r->list, "parts", parts);
	if (root == NULL || parts == NULL)
		goto fail;
	for (i = 0; i < r->nparts; i++)
		if (json_array_append_new(parts,
		                          json_pack("{s:s,s:I,s:s}", "path", r->parts[i].path,
		                                    "size", (json_int_t)r->parts[i].size, "sha256",
		                                    r->parts[i].sha256)) != 0)
			goto fail;
	return root;
fail:
	json_decref(root);
	return NULL;
}

int
cmd_split(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, OPT_SIZE },
		OUTPUT_LONGOPT,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct split_result *r = NULL;
	struct barge_err err;
	int64_t size = SPLIT_SIZE_DEFAULT;
	enum outfmt fmt = OUTFMT_TEXT;
	char a[32];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if (ch == 'o') {
			if (cmd_output("split", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			               NULL, NULL, &fmt) != 0)
				return EXIT_USAGE;
			continue;
		}
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
	if (fmt != OUTFMT_TEXT) {
		rc = cmd_print(fmt, split_json(argv[optind], r));
	} else {
		fmtsize(r->size, a, sizeof(a), 0);
		printf("wrote %zu part%s of %s (%s, %s), listed in %s\n", r->nparts,
		       r->nparts == 1 ? "" : "s", argv[optind], a, r->sha256, r->list);
		rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	split_result_free(r);
	return rc;
}
