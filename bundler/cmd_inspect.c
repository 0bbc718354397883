/*
 * cmd_inspect: barge inspect, a bundle described as text or JSON
 * (inspect.h reads it).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "fmtsize.h"
#include "inspect.h"
#include "log.h"

static void
inspect_usage(FILE *f)
{
	fprintf(f, "usage: barge inspect BUNDLE [-o text|json|yaml]\n"
	           "\n"
	           "Describes a bundle: its images, tags and platforms, how many blobs it\n"
	           "carries and their sizes, the bytes images sharing blobs saved, the blobs a\n"
	           "delta bundle requires from its base, and the signing key's id.\n"
	           "\n"
	           "options:\n"
	           "  -o, --output text|json|yaml  the format (default text)\n"
	           "  -h, --help                   show this help\n"
	           "\n"
	           "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

/* The description as a JSON value; NULL without memory. */
static json_t *
inspect_json(const char *path, const struct inspect_result *r)
{
	const struct bundle_meta *m = r->meta;
	json_t *root, *plats, *images, *tags;
	size_t i, k;

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
	return root;
out:
	json_decref(root);
	return NULL;
}

static void
print_inspect_text(const char *path, const struct inspect_result *r)
{
	const struct bundle_meta *m = r->meta;
	char a[32], b[32], s[32];
	size_t i, k;

	fmtsize(r->file_bytes, a, sizeof(a), 0);
	printf("bundle:    %s (%s)\n", path, a);
	printf("name:      %s %s (created %s by %s)\n", m->name, m->version, m->created,
	       m->builder);
	printf("digest:    %s\n", r->meta_digest);
	printf("project:   %s\n", m->project);
	printf("platforms:");
	for (i = 0; i < m->nplatforms; i++)
		printf(" %s", m->platforms[i]);
	printf("\nsignature: %s\n", r->is_signed ? r->keyid : "unsigned");
	fmtsize(r->blob_bytes, a, sizeof(a), 0);
	fmtsize(r->shared_bytes, s, sizeof(s), 0);
	printf("blobs:     %zu (%s), %s saved by sharing\n", r->nentries, a, s);
	if (m->nrequires > 0) {
		fmtsize(r->required_bytes, b, sizeof(b), 0);
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

int
cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		OUTPUT_LONGOPT,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct inspect_opts io = { 0 };
	struct inspect_result *r = NULL;
	enum outfmt fmt = OUTFMT_TEXT;
	struct barge_err err;
	int ch, rc = EXIT_FAILURE;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		if (ch == 'o') {
			if (cmd_output("inspect", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			               NULL, NULL, &fmt) != 0)
				return EXIT_USAGE;
			continue;
		}
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
	if (fmt != OUTFMT_TEXT) {
		rc = cmd_print(fmt, inspect_json(argv[optind], r));
		goto out;
	}
	print_inspect_text(argv[optind], r);
	rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	inspect_result_free(r);
	return rc;
}
