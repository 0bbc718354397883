/*
 * cmd_images: barge images, the images profiles name (pinned now, or not)
 * listed as text or JSON for review in CI.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "lock.h"
#include "log.h"
#include "platform.h"

static void
images_usage(FILE *f)
{
	fprintf(f,
	        "usage: barge images PROFILE... [--no-resolve] [-o text|json|yaml] [options]\n"
	        "\n"
	        "Lists the images the profiles name, pinned to the digests their\n"
	        "registries serve now (or, with --no-resolve, without asking them), with\n"
	        "where each came from.  For review in CI.\n"
	        "\n"
	        "options:\n"
	        "      --no-resolve                list only; no network\n"
	        "  -o, --output text|json|yaml     the format (default text)\n"
	        "%s",
	        cmd_net_help);
}

/* The list as a JSON value; NULL without memory. */
static json_t *
images_json(const struct lock *l, int resolved)
{
	char plat[3 * PLATFORM_FIELD_MAX];
	json_t *root, *arr, *plats, *o, *origins, *mans;
	const struct lock_image *im;
	size_t i, k;

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
	return root;
out:
	json_decref(root);
	return NULL;
}

int
cmd_images(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-resolve", no_argument, NULL, OPT_NO_RESOLVE },
		OUTPUT_LONGOPT,
		NET_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct netopts no = { 0 };
	const struct lock_image *im;
	struct lock *l = NULL;
	enum outfmt fmt = OUTFMT_TEXT;
	int ch, r, resolve = 1, rc = EXIT_FAILURE;
	size_t i;

	while ((ch = getopt_long(argc, argv, "o:vqh", longopts, NULL)) != -1) {
		if ((r = cmd_net_option(&no, ch, optarg)) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (r > 0)
			continue;
		if (ch == OPT_NO_RESOLVE) {
			resolve = 0;
		} else if (ch == 'o') {
			if (cmd_output("images", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			               NULL, NULL, &fmt) != 0) {
				rc = EXIT_USAGE;
				goto out;
			}
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
	if ((l = cmd_profiles_to_lock(argv + optind, (size_t)(argc - optind), &no, resolve)) ==
	    NULL)
		goto out;
	if (fmt != OUTFMT_TEXT) {
		rc = cmd_print(fmt, images_json(l, resolve));
		goto out;
	}
	for (i = 0; i < l->nimages; i++) {
		im = &l->images[i];
		printf("%s%s%s\t%s %s:%d:%d\n", im->source, resolve ? "\t" : "",
		       resolve ? im->digest : "", im->origins[0].pack, im->origins[0].file,
		       im->origins[0].line, im->origins[0].col);
	}
	rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	lock_free(l);
	client_config_clear(&no.cfg);
	return rc;
}
