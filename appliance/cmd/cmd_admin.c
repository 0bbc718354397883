/*
 * barged ls, rm, gc, fsck: looking after the store (docs/store.md).
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd.h"
#include "config.h"
#include "fmtsize.h"
#include "log.h"
#include "store.h"
#include "store_proxy.h"

/* Orphan blob files younger than this stay: a push links blobs before its manifest. */
#define DEFAULT_GRACE_S 600
#define DEFAULT_WAIT_S  60

static void
iso_time(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%" PRId64, t);
}

/*
 * Opens an existing store: these verbs look after a store and must not
 * create an empty one where the operator mistyped a path.  Returns the
 * exit status: EXIT_FAILURE, logged, when there is no store.
 */
static int
open_existing(const char *verb, const char *dir, struct store **s)
{
	struct barge_err err = { 0 };
	struct stat st;
	char path[4096];

	snprintf(path, sizeof(path), "%s/barge.db", dir);
	if (stat(path, &st) != 0) {
		log_error("barged %s: %s: no store here (no barge.db)", verb, dir);
		return EXIT_FAILURE;
	}
	if (store_open(dir, s, &err) != BARGE_OK) {
		log_error("barged %s: %s", verb, err.msg);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/* --- ls ------------------------------------------------------------------- */

static void
ls_usage(FILE *f)
{
	fprintf(f, "usage: barged ls [images|bundles] [--data-dir DIR] [-o text|json]\n"
	           "\n"
	           "Lists the images of the store (default) or the bundles loaded into it.\n"
	           "images: repository, tags, digest, media type, size (the bytes of every\n"
	           "blob it reaches, as stored), origin (bundle NAME VERSION, push, or\n"
	           "proxy REGISTRY, for each tag) and the bundles pinning it.\n"
	           "bundles: id, name, version, when loaded, images pinned, bytes.\n"
	           "\n"
	           "  --data-dir DIR          the store (default " CONFIG_DEFAULT_DATA_DIR ")\n"
	           "  -o, --output FORMAT     text (default) or json\n"
	           "\n"
	           "Exit status: 0 listed, 1 failed, 2 usage error.\n");
}

struct ls {
	int json;
	size_t n; /* JSON elements printed */
	int failed;
};

/*
 * Prints v, an element of the JSON array on stdout, and frees it: one
 * element at a time, so that a listing of 100,000 images does not hold
 * them all (issue #18).  The bytes are those json_dumpf of the whole array
 * with JSON_INDENT(2) printed.
 */
static void
ls_emit(struct ls *l, json_t *v)
{
	char *text, *p;

	text = v != NULL ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(v);
	if (text == NULL) {
		l->failed = 1;
		return;
	}
	fputs(l->n++ == 0 ? "[\n  " : ",\n  ", stdout);
	for (p = text; *p != '\0'; p++) {
		putchar(*p);
		if (*p == '\n')
			fputs("  ", stdout);
	}
	free(text);
}

static json_t *
bundle_json(const struct store_bundle *b, int full)
{
	char when[32];
	json_t *o;

	iso_time(b->loaded_at, when, sizeof(when));
	o = json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)b->id, "name", b->name, "version",
	              b->version, "digest", b->digest, "loadedAt", when);
	if (o != NULL && full &&
	    (json_object_set_new(o, "images", json_integer(b->images)) != 0 ||
	     json_object_set_new(o, "bytes", json_integer(b->bytes)) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
ls_bundle(const struct store_bundle *b, void *arg)
{
	struct ls *l = arg;
	char when[32], size[32];

	if (l->json) {
		ls_emit(l, bundle_json(b, 1));
		return l->failed;
	}
	iso_time(b->loaded_at, when, sizeof(when));
	fmtsize(b->bytes, size, sizeof(size), FMTSIZE_UPTO_TIB);
	printf("%-5" PRId64 " %-24s %-14s %-20s %6" PRId64 " %10s\n", b->id, b->name, b->version,
	       when, b->images, size);
	return 0;
}

/* Each tag's origin for the UI and scripts: [{"tag", "origin", "originDetail", "fetchedAt"?}]. */
static json_t *
tag_origins_json(const struct store_image *im)
{
	json_t *a = json_array(), *o;
	char when[32];
	size_t i;

	for (i = 0; a != NULL && i < im->ntags; i++) {
		o = json_pack("{s:s,s:s,s:s}", "tag", im->tags[i], "origin",
		              store_origin_name(im->tag_origin[i]), "originDetail",
		              im->tag_origin_detail[i]);
		if (o != NULL && im->tag_fetched_at[i] > 0) {
			iso_time(im->tag_fetched_at[i], when, sizeof(when));
			if (json_object_set_new(o, "fetchedAt", json_string(when)) != 0) {
				json_decref(o);
				o = NULL;
			}
		}
		if (json_array_append_new(a, o) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* The ORIGIN column: each distinct origin of the image's tags ("bundle demo 1.0", "proxy
 * docker.io"). */
static void
origin_text(const struct store_image *im, char *buf, size_t cap)
{
	size_t i, j, used = 0;
	char one[320];

	buf[0] = '\0';
	for (i = 0; i < (im->ntags ? im->ntags : 1) && used < cap; i++) {
		if (im->ntags == 0)
			snprintf(one, sizeof(one), "%s%s%s", store_origin_name(im->origin),
			         im->origin_detail[0] ? " " : "", im->origin_detail);
		else
			snprintf(one, sizeof(one), "%s%s%s", store_origin_name(im->tag_origin[i]),
			         im->tag_origin_detail[i][0] ? " " : "", im->tag_origin_detail[i]);
		for (j = 0; j < i; j++)
			if (im->tag_origin[j] == im->tag_origin[i] &&
			    strcmp(im->tag_origin_detail[j], im->tag_origin_detail[i]) == 0)
				break;
		if (j == i)
			used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? "," : "", one);
	}
}

static int
ls_image(const struct store_image *im, void *arg)
{
	struct ls *l = arg;
	json_t *o, *tags, *bundles;
	char size[32], list[512], origin[512];
	size_t i, used = 0;

	if (l->json) {
		tags = json_array();
		bundles = json_array();
		for (i = 0; tags != NULL && i < im->ntags; i++)
			if (json_array_append_new(tags, json_string(im->tags[i])) != 0)
				l->failed = 1;
		for (i = 0; bundles != NULL && i < im->nbundles; i++)
			if (json_array_append_new(bundles, bundle_json(&im->bundles[i], 0)) != 0)
				l->failed = 1;
		o = json_pack("{s:s,s:o*,s:s,s:s,s:I,s:I,s:o*,s:s,s:s,s:o*}", "repository",
		              im->repo, "tags", tags, "digest", im->digest, "mediaType",
		              im->media_type, "size", (json_int_t)im->size, "manifestSize",
		              (json_int_t)im->manifest_size, "bundles", bundles, "origin",
		              store_origin_name(im->origin), "originDetail", im->origin_detail,
		              "tagOrigins", tag_origins_json(im));
		ls_emit(l, o);
		return l->failed;
	}
	list[0] = '\0';
	for (i = 0; i < im->ntags && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "",
		                         im->tags[i]);
	fmtsize(im->size, size, sizeof(size), FMTSIZE_UPTO_TIB);
	origin_text(im, origin, sizeof(origin));
	/* Padded only when the BUNDLES column follows: no trailing blanks. */
	printf("%-48s %-20s %.19s %10s %-*s", im->repo, im->ntags ? list : "<none>", im->digest,
	       size, im->nbundles ? 24 : 0, origin);
	for (i = 0; i < im->nbundles; i++)
		printf("%s%s:%s", i ? "," : " ", im->bundles[i].name, im->bundles[i].version);
	printf("\n");
	return 0;
}

int
cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = CONFIG_DEFAULT_DATA_DIR, *what = "images";
	struct barge_err err = { 0 };
	struct store *s = NULL;
	struct ls l = { 0 };
	enum outfmt fmt = OUTFMT_TEXT;
	int c, rc, status = EXIT_FAILURE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_dir = optarg;
			break;
		case 'o':
			if (cmd_parse_output("ls", optarg, OUTFMT_TEXT | OUTFMT_JSON, NULL, NULL,
			                     &fmt) != EXIT_SUCCESS)
				return EXIT_USAGE;
			l.json = fmt == OUTFMT_JSON;
			break;
		case 'h':
			ls_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged ls: bad option '%s'", argv[optind - 1]);
			ls_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || (argc - optind == 1 && strcmp(argv[optind], "images") != 0 &&
	                          strcmp(argv[optind], "bundles") != 0)) {
		log_error("barged ls: list images or bundles");
		ls_usage(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind == 1)
		what = argv[optind];
	if (open_existing("ls", data_dir, &s) != EXIT_SUCCESS)
		return EXIT_FAILURE;
	if (!l.json && what[0] == 'i')
		printf("%-48s %-20s %-19s %10s %-24s %s\n", "REPOSITORY", "TAGS", "DIGEST", "SIZE",
		       "ORIGIN", "BUNDLES");
	else if (!l.json)
		printf("%-5s %-24s %-14s %-20s %6s %10s\n", "ID", "NAME", "VERSION", "LOADED",
		       "IMAGES", "SIZE");
	rc = what[0] == 'i' ? store_list_images(s, ls_image, &l, &err)
	                    : store_list_bundles(s, ls_bundle, &l, &err);
	if (rc != BARGE_OK) {
		log_error("barged ls: %s", err.msg);
		goto out;
	}
	if (l.failed) {
		log_error("barged ls: out of memory");
		goto out;
	}
	if (l.json)
		fputs(l.n > 0 ? "\n]\n" : "[]\n", stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("barged ls: write: standard output failed");
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	store_close(s);
	return status;
}

/* --- rm ------------------------------------------------------------------- */

static void
rm_usage(FILE *f)
{
	fprintf(f, "usage: barged rm [--data-dir DIR] [--untag] [-o text|json|yaml] BUNDLE\n"
	           "\n"
	           "Removes a bundle's record and unpins its images.  BUNDLE is an id (see\n"
	           "'barged ls bundles'), a name, or NAME:VERSION; naming several bundles is\n"
	           "an error that lists them.  Tags stay, so the images keep serving; with\n"
	           "--untag, the tags on images no other bundle pins are removed too.  Nothing\n"
	           "is deleted from disk: 'barged gc' then frees what nothing holds.\n"
	           "\n"
	           "  --data-dir DIR   the store (default " CONFIG_DEFAULT_DATA_DIR ")\n"
	           "  --untag          also remove the tags of the images only it pinned\n"
	           "  -o, --output F   text (default), json or yaml\n"
	           "\n"
	           "Exit status: 0 removed, 1 failed or no single match, 2 usage error.\n");
}

struct matches {
	int64_t id;
	char what[400]; /* NAME:VERSION of the last match */
	char name[256], version[144];
	size_t n;
	char list[2048];
	size_t used;
};

static int
rm_match(const struct store_bundle *b, void *arg)
{
	struct matches *m = arg;
	char when[32];
	int n;

	m->id = b->id;
	snprintf(m->what, sizeof(m->what), "%s:%s", b->name, b->version);
	snprintf(m->name, sizeof(m->name), "%s", b->name);
	snprintf(m->version, sizeof(m->version), "%s", b->version);
	m->n++;
	iso_time(b->loaded_at, when, sizeof(when));
	if (m->used < sizeof(m->list)) {
		n = snprintf(m->list + m->used, sizeof(m->list) - m->used,
		             "\n  %" PRId64 "  %s:%s  loaded %s", b->id, b->name, b->version, when);
		if (n > 0)
			m->used += (size_t)n;
	}
	return 0;
}

int
cmd_rm(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "untag", no_argument, NULL, 'u' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = CONFIG_DEFAULT_DATA_DIR;
	struct store_rm_stats st;
	struct barge_err err = { 0 };
	struct matches m;
	struct store *s = NULL;
	enum outfmt fmt = OUTFMT_TEXT;
	int c, untag = 0, status = EXIT_FAILURE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_dir = optarg;
			break;
		case 'u':
			untag = 1;
			break;
		case 'o':
			if (cmd_parse_output("rm", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			                     NULL, NULL, &fmt) != EXIT_SUCCESS)
				return EXIT_USAGE;
			break;
		case 'h':
			rm_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged rm: bad option '%s'", argv[optind - 1]);
			rm_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		log_error("barged rm: %s",
		          optind == argc ? "name one bundle" : "one bundle at a time");
		rm_usage(stderr);
		return EXIT_USAGE;
	}
	if (open_existing("rm", data_dir, &s) != EXIT_SUCCESS)
		return EXIT_FAILURE;
	memset(&m, 0, sizeof(m));
	if (store_find_bundles(s, argv[optind], rm_match, &m, &err) != BARGE_OK) {
		log_error("barged rm: %s", err.msg);
		goto out;
	}
	if (m.n == 0) {
		log_error("barged rm: no bundle is named '%s' (see 'barged ls bundles')",
		          argv[optind]);
		goto out;
	}
	if (m.n > 1) {
		log_error("barged rm: '%s' names %zu bundles; give an id or NAME:VERSION:%s",
		          argv[optind], m.n, m.list);
		goto out;
	}
	if (store_rm_bundle(s, m.id, untag, &st, &err) != BARGE_OK) {
		log_error("barged rm: %s", err.msg);
		goto out;
	}
	if (fmt != OUTFMT_TEXT) {
		status = cmd_print_output("rm", fmt,
		                          json_pack("{s:I,s:s,s:s,s:I,s:I}", "id", (json_int_t)m.id,
		                                    "name", m.name, "version", m.version, "pins",
		                                    (json_int_t)st.pins, "tags",
		                                    (json_int_t)(untag ? st.tags : 0)));
		goto out;
	}
	printf("removed bundle %" PRId64 " (%s): %" PRId64 " image pin%s", m.id, m.what, st.pins,
	       st.pins == 1 ? "" : "s");
	if (untag)
		printf(", %" PRId64 " tag%s", st.tags, st.tags == 1 ? "" : "s");
	printf("; 'barged gc' frees what nothing else holds\n");
	status = EXIT_SUCCESS;
out:
	store_close(s);
	return status;
}

/* --- gc ------------------------------------------------------------------- */

static void
gc_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged gc [--data-dir DIR] [--dry-run] [-v] [--grace SECONDS]\n"
	        "                 [--wait SECONDS] [-o text|json|yaml]\n"
	        "\n"
	        "Mark and sweep: keeps every image a tag, a bundle or an open upload holds\n"
	        "and removes the rest, rows first, then files.  Blob files no row ever named\n"
	        "(an interrupted load, a push whose manifest is still to come) are removed\n"
	        "once older than the grace period and while no upload is open.\n"
	        "\n"
	        "  --data-dir DIR    the store (default " CONFIG_DEFAULT_DATA_DIR ")\n"
	        "  --dry-run         report what would be removed, remove nothing\n"
	        "  -v, --verbose     name every manifest and blob (on stderr with -o json)\n"
	        "  --grace SECONDS   keep younger orphan blob files (default %d)\n"
	        "  --wait SECONDS    wait this long for a running load (default %d)\n"
	        "  -o, --output F    text (default), json or yaml\n"
	        "\n"
	        "Exit status: 0 done, 1 failed (or the store stayed busy), 2 usage error.\n",
	        DEFAULT_GRACE_S, DEFAULT_WAIT_S);
}

/* How gc -v names what it removes: on stdout, or logged when stdout is a document. */
struct gc_out {
	int verbose;
	enum outfmt fmt;
};

static void
gc_manifest(const char *repo, const char *digest, void *arg)
{
	const struct gc_out *g = arg;

	if (g->verbose && g->fmt == OUTFMT_TEXT)
		printf("manifest %s@%s\n", repo, digest);
	else if (g->verbose)
		log_info("manifest %s@%s", repo, digest);
}

static void
gc_blob(const char *digest, int64_t size, int orphan, void *arg)
{
	const struct gc_out *g = arg;

	if (g->verbose && g->fmt == OUTFMT_TEXT)
		printf("blob %s %" PRId64 "%s\n", digest, size, orphan ? " (orphan)" : "");
	else if (g->verbose)
		log_info("blob %s %" PRId64 "%s", digest, size, orphan ? " (orphan)" : "");
}

/* A non-negative number of seconds up to max. */
static int
parse_seconds(const char *v, int64_t max, int64_t *out)
{
	char *end;
	long long n;

	n = strtoll(v, &end, 10);
	if (end == v || *end != '\0' || n < 0 || n > max)
		return -1;
	*out = n;
	return 0;
}

int
cmd_gc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "grace", required_argument, NULL, 'g' },
		{ "wait", required_argument, NULL, 'w' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = CONFIG_DEFAULT_DATA_DIR;
	struct store_gc_opts o = { 0 };
	struct store_gc_stats st;
	struct barge_err err = { 0 };
	struct store *s = NULL;
	int64_t wait_s = DEFAULT_WAIT_S;
	struct gc_out g = { 0, OUTFMT_TEXT };
	char size[32];
	int c, status = EXIT_FAILURE;

	o.grace_s = DEFAULT_GRACE_S;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hnvo:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_dir = optarg;
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'v':
			g.verbose = 1;
			break;
		case 'o':
			if (cmd_parse_output("gc", optarg, OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML,
			                     NULL, NULL, &g.fmt) != EXIT_SUCCESS)
				return EXIT_USAGE;
			break;
		case 'g':
		case 'w':
			/* --wait becomes milliseconds in an int: a year of them would wrap. */
			if (parse_seconds(optarg, c == 'g' ? 86400LL * 365 : INT_MAX / 1000,
			                  c == 'g' ? &o.grace_s : &wait_s) != 0) {
				log_error("barged gc: bad number of seconds '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			gc_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged gc: bad option '%s'", argv[optind - 1]);
			gc_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc != optind) {
		log_error("barged gc: unexpected argument '%s'", argv[optind]);
		gc_usage(stderr);
		return EXIT_USAGE;
	}
	if (open_existing("gc", data_dir, &s) != EXIT_SUCCESS)
		return EXIT_FAILURE;
	o.lock_wait_ms = (int)(wait_s * 1000);
	o.on_manifest = gc_manifest;
	o.on_blob = gc_blob;
	o.arg = &g;
	if (store_gc(s, &o, &st, &err) != BARGE_OK) {
		log_error("barged gc: %s", err.msg);
		goto out;
	}
	if (g.fmt != OUTFMT_TEXT) {
		status = cmd_print_output(
		        "gc", g.fmt,
		        json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "dryRun", o.dry_run,
		                  "manifests", (json_int_t)st.manifests, "repositories",
		                  (json_int_t)st.repos, "blobs", (json_int_t)st.blobs, "orphans",
		                  (json_int_t)st.orphans, "bytes", (json_int_t)st.bytes,
		                  "keptOrphans", (json_int_t)st.kept_orphans, "deferred",
		                  (json_int_t)st.deferred, "graceSeconds", (json_int_t)o.grace_s));
		goto out;
	}
	fmtsize(st.bytes, size, sizeof(size), FMTSIZE_UPTO_TIB);
	printf("%s %" PRId64 " manifest%s, %" PRId64 " blob%s (%" PRId64 " orphan%s): %s %s\n",
	       o.dry_run ? "would remove" : "removed", st.manifests, st.manifests == 1 ? "" : "s",
	       st.blobs, st.blobs == 1 ? "" : "s", st.orphans, st.orphans == 1 ? "" : "s", size,
	       o.dry_run ? "to free" : "freed");
	if (st.kept_orphans > 0)
		printf("kept %" PRId64 " orphan blob%s (younger than %" PRId64
		       " s, or an upload is open)\n",
		       st.kept_orphans, st.kept_orphans == 1 ? "" : "s", o.grace_s);
	if (st.deferred > 0)
		printf("left %" PRId64 " blob%s for the next gc: readers stayed busy\n",
		       st.deferred, st.deferred == 1 ? "" : "s");
	status = EXIT_SUCCESS;
out:
	store_close(s);
	return status;
}

/* --- fsck ----------------------------------------------------------------- */

static void
fsck_usage(FILE *f)
{
	fprintf(f, "usage: barged fsck [--data-dir DIR] [--repair] [-o text|json|yaml]\n"
	           "\n"
	           "Re-hashes every blob file and checks every reference: manifests have\n"
	           "their blobs and parse, references and tags point at what exists.  Prints\n"
	           "one problem per line.  --repair removes broken blob files and every row\n"
	           "depending on them (manifests, tags, pins) in one transaction; reload the\n"
	           "bundles named by 'barged ls bundles' to get the images back.\n"
	           "\n"
	           "  --data-dir DIR   the store (default " CONFIG_DEFAULT_DATA_DIR ")\n"
	           "  --repair         remove what is broken\n"
	           "  -o, --output F   text (default), json or yaml\n"
	           "\n"
	           "Exit status: 0 clean (or, with --repair, everything found repaired),\n"
	           "1 problems remain or fsck failed, 2 usage error.\n");
}

struct fsck_out {
	int json;
	json_t *problems;
	int failed;
};

static void
fsck_problem(const char *subject, const char *problem, void *arg)
{
	struct fsck_out *fo = arg;

	if (!fo->json) {
		printf("%s: %s\n", subject, problem);
		return;
	}
	if (json_array_append_new(fo->problems, json_pack("{s:s,s:s}", "subject", subject,
	                                                  "problem", problem)) != 0)
		fo->failed = 1;
}

int
cmd_fsck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "repair", no_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = CONFIG_DEFAULT_DATA_DIR;
	struct store_fsck_opts o = { 0 };
	struct store_fsck_stats st;
	struct barge_err err = { 0 };
	struct fsck_out fo = { 0 };
	struct store *s = NULL;
	enum outfmt fmt = OUTFMT_TEXT;
	char size[32];
	int c, rc, clean, status = EXIT_FAILURE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_dir = optarg;
			break;
		case 'r':
			o.repair = 1;
			break;
		case 'o':
			if (cmd_parse_output("fsck", optarg,
			                     OUTFMT_TEXT | OUTFMT_JSON | OUTFMT_YAML, NULL, NULL,
			                     &fmt) != EXIT_SUCCESS)
				return EXIT_USAGE;
			fo.json = fmt != OUTFMT_TEXT;
			break;
		case 'h':
			fsck_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged fsck: bad option '%s'", argv[optind - 1]);
			fsck_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc != optind) {
		log_error("barged fsck: unexpected argument '%s'", argv[optind]);
		fsck_usage(stderr);
		return EXIT_USAGE;
	}
	if (open_existing("fsck", data_dir, &s) != EXIT_SUCCESS)
		return EXIT_FAILURE;
	if (fo.json && (fo.problems = json_array()) == NULL)
		goto out;
	o.lock_wait_ms = DEFAULT_WAIT_S * 1000;
	o.on_problem = fsck_problem;
	o.arg = &fo;
	if (store_fsck(s, &o, &st, &err) != BARGE_OK) {
		log_error("barged fsck: %s", err.msg);
		goto out;
	}
	if (fo.failed) {
		log_error("barged fsck: out of memory");
		goto out;
	}
	clean = st.problems == 0 || (o.repair && st.unrepaired == 0);
	if (fo.json) {
		rc = cmd_print_output(
		        "fsck", fmt,
		        json_pack("{s:b,s:I,s:I,s:I,s:o,s:{s:I,s:I,s:I,s:I,s:I}}", "clean", clean,
		                  "blobs", (json_int_t)st.blobs, "bytes", (json_int_t)st.bytes,
		                  "manifests", (json_int_t)st.manifests, "problems", fo.problems,
		                  "repaired", "files", (json_int_t)st.removed_files, "manifests",
		                  (json_int_t)st.removed_manifests, "tags",
		                  (json_int_t)st.removed_tags, "pins", (json_int_t)st.removed_pins,
		                  "unrepaired", (json_int_t)st.unrepaired));
		fo.problems = NULL;
		if (rc != EXIT_SUCCESS)
			goto out;
	} else {
		fmtsize(st.bytes, size, sizeof(size), FMTSIZE_UPTO_TIB);
		printf("checked %" PRId64 " blob%s (%s), %" PRId64 " manifest%s: %" PRId64
		       " problem%s\n",
		       st.blobs, st.blobs == 1 ? "" : "s", size, st.manifests,
		       st.manifests == 1 ? "" : "s", st.problems, st.problems == 1 ? "" : "s");
		if (o.repair && st.problems > 0)
			printf("repaired: removed %" PRId64 " file%s, %" PRId64
			       " manifest%s, %" PRId64 " tag%s, %" PRId64 " pin%s; %" PRId64
			       " problem%s left\n",
			       st.removed_files, st.removed_files == 1 ? "" : "s",
			       st.removed_manifests, st.removed_manifests == 1 ? "" : "s",
			       st.removed_tags, st.removed_tags == 1 ? "" : "s", st.removed_pins,
			       st.removed_pins == 1 ? "" : "s", st.unrepaired,
			       st.unrepaired == 1 ? "" : "s");
	}
	status = clean ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	json_decref(fo.problems);
	store_close(s);
	return status;
}
