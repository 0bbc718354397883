/*
 * barged load: puts bundles into the store, each all or nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "cmd.h"
#include "config.h"
#include "fmtsize.h"
#include "load_archive.h"
#include "loader.h"
#include "loadsrc.h"
#include "log.h"
#include "sign.h"
#include "store.h"

#define TRUSTED_KEY_MAX 64
/* A TTY's progress line is redrawn at most this often. */
#define PROGRESS_NS (250 * 1000 * 1000L)

static void
load_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged load [--data-dir DIR] [--require-signature] [--keys-dir DIR]\n"
	        "                   [--trusted-key PUB]... [--tags move|keep|refuse]\n"
	        "                   [--project NAME] [--repo NAME[:TAG]]\n"
	        "                   [-o text|json|yaml] SOURCE...\n"
	        "\n"
	        "Loads bundles into the store.  Every blob is checked against its digest;\n"
	        "a bundle's images and tags appear only when the whole bundle is in, and a\n"
	        "failed load leaves the store's images and tags as they were.\n"
	        "\n"
	        "SOURCE is one of:\n"
	        "  NAME-VERSION.tar.zst     a bundle\n"
	        "  NAME.tar.zst.part000     a split bundle: part000, part001, ... in order\n"
	        "  -                        a bundle on standard input\n"
	        "  IMAGE.iso, /dev/sr0      an ISO 9660 image or device, read without mounting:\n"
	        "                           every bundle in it\n"
	        "  DIR                      every bundle in a directory (a mounted USB stick)\n"
	        "  FILE.tar, FILE.tar.zst     an archive of another tool: docker save or\n"
	        "                           skopeo docker-archive, an OCI layout in a tar\n"
	        "                           (oci-archive), a Zarf package, a Hauler haul\n"
	        "From an image or a directory, full bundles load before deltas.\n"
	        "\n"
	        "  --data-dir DIR         the store (default " CONFIG_DEFAULT_DATA_DIR ")\n"
	        "  --require-signature    refuse bundles not signed by a trusted key\n"
	        "  --keys-dir DIR         trusted public keys, every *.pub "
	        "(default " CONFIG_DEFAULT_KEYS_DIR ")\n"
	        "  --trusted-key PUB      also trust this public key (repeatable)\n"
	        "  --tags POLICY          a tag the store has on another digest: move it (the\n"
	        "                         default), keep it, or refuse the bundle; each one\n"
	        "                         is reported\n"
	        "  --project NAME         archives: the first path segment of their\n"
	        "                         repositories (default edge), as a bundle's project\n"
	        "  --repo NAME[:TAG]      archives: the name of images the archive does not\n"
	        "                         name (default tag latest)\n"
	        "  -o, --output F         the summary's format: text (default), json, yaml\n"
	        "\n"
	        "A signed bundle is checked whenever trusted keys are configured.\n"
	        "\n"
	        "Exit status: 0 every bundle loaded, 1 a bundle failed, 2 usage error.\n");
}

static double
since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The progress line of one bundle on a terminal. */
struct progress {
	const char *label;
	int64_t total; /* compressed bytes, -1 unknown */
	struct timespec start, last;
	int drawn;
};

static void
progress_cb(void *arg, int64_t bytes_in)
{
	struct progress *p = arg;
	struct timespec now;
	char done[32], total[32], rate[32];
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - p->last.tv_sec) * 1000000000L + (now.tv_nsec - p->last.tv_nsec) <
	    PROGRESS_NS)
		return;
	p->last = now;
	secs = since(&p->start);
	fmtsize(bytes_in, done, sizeof(done), FMTSIZE_BYTES_WORD | FMTSIZE_UPTO_TIB);
	fmtsize(secs > 0 ? (int64_t)((double)bytes_in / secs) : 0, rate, sizeof(rate),
	        FMTSIZE_BYTES_WORD | FMTSIZE_UPTO_TIB);
	if (p->total > 0) {
		fmtsize(p->total, total, sizeof(total), FMTSIZE_BYTES_WORD | FMTSIZE_UPTO_TIB);
		fprintf(stderr, "\r\033[K%s: %3d%%  %s of %s  %s/s", p->label,
		        (int)(bytes_in * 100 / p->total), done, total, rate);
	} else {
		fprintf(stderr, "\r\033[K%s: %s  %s/s", p->label, done, rate);
	}
	p->drawn = 1;
}

struct totals {
	size_t loaded, failed, images, tags, blobs_new, blobs_present;
	int64_t bytes;
};

static void
print_loaded(const struct loader_result *r, double secs)
{
	char size[32];

	fmtsize(r->bytes, size, sizeof(size), FMTSIZE_BYTES_WORD | FMTSIZE_UPTO_TIB);
	printf("loaded %s %s%s: %zu image%s, %zu tag%s, %zu blob%s (%zu new, %zu already "
	       "present), %s in %.1f s",
	       r->name, r->version, r->reloaded ? " (again)" : "", r->images,
	       r->images == 1 ? "" : "s", r->tags, r->tags == 1 ? "" : "s",
	       r->blobs_new + r->blobs_present, r->blobs_new + r->blobs_present == 1 ? "" : "s",
	       r->blobs_new, r->blobs_present, size, secs);
	if (r->signer[0] != '\0')
		printf(", signed by %s%s", r->signer,
		       r->verified ? "" : " (not verified: no trusted keys)");
	printf("\n");
}

/* Collects, for one bundle, each tag its load moved or kept (a loader callback). */
static void
tag_moved(void *arg, const struct loader_tag_move *m)
{
	json_t *set_by = json_null();

	if (m->old_name[0] != '\0')
		set_by = json_pack("{s:s, s:s}", "name", m->old_name, "version", m->old_version);
	json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "repository",
	                                     m->repository, "tag", m->tag, "oldDigest",
	                                     m->old_digest, "newDigest", m->new_digest, "oldBundle",
	                                     set_by, "action", m->kept ? "kept" : "moved"));
}

/* One line per tag moved or kept, under the bundle's summary line. */
static void
print_moves(json_t *moves)
{
	json_t *m, *by;
	char set_by[512];
	size_t i;

	json_array_foreach(moves, i, m)
	{
		by = json_object_get(m, "oldBundle");
		if (json_is_object(by))
			snprintf(set_by, sizeof(set_by), "bundle %s %s",
			         json_string_value(json_object_get(by, "name")),
			         json_string_value(json_object_get(by, "version")));
		else
			snprintf(set_by, sizeof(set_by), "no bundle: pushed");
		if (strcmp(json_string_value(json_object_get(m, "action")), "kept") == 0)
			printf("  tag %s:%s kept on %s (set by %s), not moved to %s\n",
			       json_string_value(json_object_get(m, "repository")),
			       json_string_value(json_object_get(m, "tag")),
			       json_string_value(json_object_get(m, "oldDigest")), set_by,
			       json_string_value(json_object_get(m, "newDigest")));
		else
			printf("  tag %s:%s moved from %s (set by %s) to %s\n",
			       json_string_value(json_object_get(m, "repository")),
			       json_string_value(json_object_get(m, "tag")),
			       json_string_value(json_object_get(m, "oldDigest")), set_by,
			       json_string_value(json_object_get(m, "newDigest")));
	}
}

static json_t *
json_loaded(const char *source, const struct loader_result *r, json_t *moves, double secs)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s?, s:b, s:I, s:I, s:I, s:I, "
	                 "s:I, s:I, s:I, s:I, s:I, s:O, s:f}",
	                 "source", source, "status", "loaded", "name", r->name, "version",
	                 r->version, "digest", r->digest, "delta", r->delta, "reloaded",
	                 r->reloaded, "signer", r->signer[0] != '\0' ? r->signer : NULL, "verified",
	                 r->verified, "bundleId", (json_int_t)r->bundle_id, "images",
	                 (json_int_t)r->images, "tags", (json_int_t)r->tags, "tagsMoved",
	                 (json_int_t)r->tags_moved, "tagsKept", (json_int_t)r->tags_kept,
	                 "blobsNew", (json_int_t)r->blobs_new, "blobsPresent",
	                 (json_int_t)r->blobs_present, "bytes", (json_int_t)r->bytes, "bytesNew",
	                 (json_int_t)r->bytes_new, "tagMoves", moves, "seconds", secs);
}

/* Loads one item; reports it and adds it to the totals and the JSON list. */
static void
load_item(struct store *s, const struct loadsrc_item *it, struct loader_opts *opts, int json,
          json_t *list, struct totals *t)
{
	struct bundle_source src;
	struct loader_result res;
	struct barge_err err = { 0 };
	json_t *moves = json_array();
	struct progress p;
	double secs;
	int rc;

	memset(&p, 0, sizeof(p));
	p.label = it->label;
	p.total = it->size;
	clock_gettime(CLOCK_MONOTONIC, &p.start);
	p.last = p.start;
	opts->progress = isatty(STDERR_FILENO) ? progress_cb : NULL;
	opts->progress_arg = &p;
	opts->tag_moved = moves != NULL ? tag_moved : NULL;
	opts->tag_moved_arg = moves;
	rc = loadsrc_source(it, &src, &err);
	if (rc == BARGE_OK)
		rc = archload_load(s, &src, it->label, opts, &res, &err);
	if (p.drawn)
		fprintf(stderr, "\r\033[K");
	secs = since(&p.start);
	if (rc != BARGE_OK) {
		log_error("%s", err.msg);
		t->failed++;
		if (json)
			json_array_append_new(list,
			                      json_pack("{s:s, s:s, s:s, s:s}", "source", it->label,
			                                "status", "failed", "error", err.msg,
			                                "kind", err_name(rc)));
		goto out;
	}
	t->loaded++;
	t->images += res.images;
	t->tags += res.tags;
	t->blobs_new += res.blobs_new;
	t->blobs_present += res.blobs_present;
	t->bytes += res.bytes;
	if (json) {
		json_array_append_new(list, json_loaded(it->label, &res, moves, secs));
	} else {
		print_loaded(&res, secs);
		print_moves(moves);
	}
out:
	json_decref(moves);
}

/* What the command line asks for. */
struct load_args {
	const char *data_dir, *keys_dir, *project, *repo;
	int keys_dir_given, require_signature;
	enum outfmt fmt;
	enum loader_tags tags;
	char *trusted[TRUSTED_KEY_MAX];
	size_t ntrusted;
};

/* Reads the flags into a; -1 to go on with the SOURCEs from optind, else the exit status. */
static int
load_args(int argc, char **argv, struct load_args *a)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "require-signature", no_argument, NULL, 'r' },
		{ "keys-dir", required_argument, NULL, 'k' },
		{ "trusted-key", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "tags", required_argument, NULL, 'T' },
		{ "project", required_argument, NULL, 'p' },
		{ "repo", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t i;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->data_dir = optarg;
			break;
		case 'r':
			a->require_signature = 1;
			break;
		case 'k':
			a->keys_dir = optarg;
			a->keys_dir_given = 1;
			break;
		case 't':
			if (a->ntrusted == TRUSTED_KEY_MAX) {
				log_error("barged load: more than %d --trusted-key",
				          TRUSTED_KEY_MAX);
				return EXIT_USAGE;
			}
			a->trusted[a->ntrusted++] = optarg;
			break;
		case 'o':
			if (cmd_parse_output("load", optarg,
			                     OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML, NULL, NULL,
			                     &a->fmt) != EXIT_SUCCESS)
				return EXIT_USAGE;
			break;
		case 'T':
			if (strcmp(optarg, "move") == 0)
				a->tags = LOADER_TAGS_MOVE;
			else if (strcmp(optarg, "keep") == 0)
				a->tags = LOADER_TAGS_KEEP;
			else if (strcmp(optarg, "refuse") == 0)
				a->tags = LOADER_TAGS_REFUSE;
			else {
				log_error("barged load: --tags is move, keep or refuse, not '%s'",
				          optarg);
				return EXIT_USAGE;
			}
			break;
		case 'p':
			a->project = optarg;
			break;
		case 'R':
			a->repo = optarg;
			break;
		case 'h':
			load_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged load: bad option '%s'", argv[optind - 1]);
			load_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		log_error("barged load: a SOURCE (bundle, image, directory or -) is required");
		load_usage(stderr);
		return EXIT_USAGE;
	}
	for (i = (size_t)optind; i < (size_t)argc; i++)
		if (strcmp(argv[i], "-") == 0 && i != (size_t)optind) {
			log_error("barged load: standard input (-) must be the only SOURCE");
			return EXIT_USAGE;
		}
	return -1;
}

int
cmd_load(int argc, char **argv)
{
	struct load_args a = { .data_dir = CONFIG_DEFAULT_DATA_DIR,
		               .keys_dir = CONFIG_DEFAULT_KEYS_DIR,
		               .fmt = OUTFMT_TEXT };
	struct loader_opts opts;
	struct loadsrc ls = { NULL, 0 };
	struct barge_err err = { 0 };
	struct sign_key **keys = NULL;
	struct store *s = NULL;
	struct totals t;
	struct timespec t0;
	json_t *out = NULL, *list = NULL;
	size_t nkeys = 0, i;
	char size[32];
	int json, status;

	memset(&opts, 0, sizeof(opts));
	memset(&t, 0, sizeof(t));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((status = load_args(argc, argv, &a)) >= 0)
		return status;
	status = EXIT_FAILURE;
	json = a.fmt != OUTFMT_TEXT;
	opts.require_signature = a.require_signature;
	opts.tags = a.tags;
	opts.project = a.project;
	opts.repo = a.repo;
	if (sign_load_trusted(a.keys_dir, !a.keys_dir_given, a.trusted, a.ntrusted, &keys, &nkeys,
	                      &err) != BARGE_OK) {
		log_error("trusted keys: %s", err.msg);
		goto out;
	}
	if (opts.require_signature && nkeys == 0) {
		log_error("--require-signature: no trusted key (none in %s, no --trusted-key)",
		          a.keys_dir);
		goto out;
	}
	opts.keys = keys;
	opts.nkeys = nkeys;
	for (i = (size_t)optind; i < (size_t)argc; i++)
		if (loadsrc_add(&ls, argv[i], &err) != BARGE_OK) {
			log_error("%s", err.msg);
			goto out;
		}
	if (store_open(a.data_dir, &s, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (json && (list = json_array()) == NULL) {
		log_error("out of memory");
		goto out;
	}
	for (i = 0; i < ls.n; i++)
		load_item(s, &ls.items[i], &opts, json, list, &t);
	if (json) {
		out = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "bundles", list,
		                "loaded", (json_int_t)t.loaded, "failed", (json_int_t)t.failed,
		                "images", (json_int_t)t.images, "tags", (json_int_t)t.tags,
		                "blobsNew", (json_int_t)t.blobs_new, "blobsPresent",
		                (json_int_t)t.blobs_present, "bytes", (json_int_t)t.bytes,
		                "seconds", since(&t0));
		list = NULL;
		status = cmd_print_output("load", a.fmt, out);
		out = NULL;
		if (status != EXIT_SUCCESS)
			goto out;
	} else if (ls.n > 1) {
		fmtsize(t.bytes, size, sizeof(size), FMTSIZE_BYTES_WORD | FMTSIZE_UPTO_TIB);
		printf("%zu of %zu bundles loaded%s: %zu images, %zu tags, %zu blobs (%zu new, %zu "
		       "already present), %s in %.1f s\n",
		       t.loaded, ls.n, t.failed > 0 ? " (see the errors above)" : "", t.images,
		       t.tags, t.blobs_new + t.blobs_present, t.blobs_new, t.blobs_present, size,
		       since(&t0));
	}
	status = t.failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	json_decref(out);
	json_decref(list);
	store_close(s);
	loadsrc_free(&ls);
	sign_keys_free(keys, nkeys);
	return status;
}
