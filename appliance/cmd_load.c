/*
 * barged load: puts a bundle into the store, all or nothing.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "loader.h"
#include "log.h"
#include "store.h"

static void
load_usage(FILE *f)
{
	fprintf(f, "usage: barged load [--data-dir DIR] BUNDLE\n"
	           "\n"
	           "Loads a bundle (NAME-VERSION.tar.zst) into the store.  Every blob is checked\n"
	           "against its digest; the images and tags appear only when the whole bundle\n"
	           "is in, and a failed load leaves the store's images and tags as they were.\n"
	           "\n"
	           "  --data-dir DIR   the store (default /var/lib/barge)\n"
	           "\n"
	           "Exit status: 0 loaded, 1 failed, 2 usage error.\n");
}

/* "70.1 MiB": sizes for people. */
static void
human_size(int64_t n, char *buf, size_t cap)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, cap, "%lld bytes", (long long)n);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, units[u]);
}

int
cmd_load(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = "/var/lib/barge";
	struct loader_result res;
	struct barge_err err = { 0 };
	struct store *s = NULL;
	char size[32];
	int c, status = 1;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_dir = optarg;
			break;
		case 'h':
			load_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "barged load: bad option '%s'\n", argv[optind - 1]);
			load_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "barged load: %s\n",
		        optind == argc ? "a bundle file is required" : "only one bundle at a time");
		load_usage(stderr);
		return 2;
	}
	if (store_open(data_dir, &s, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	if (loader_load(s, argv[optind], &res, &err) != BARGE_OK) {
		log_error("%s", err.msg);
		goto out;
	}
	human_size(res.bytes, size, sizeof(size));
	printf("loaded %s %s: %zu image%s, %zu blob%s (%zu new, %zu already present), %s\n",
	       res.name, res.version, res.images, res.images == 1 ? "" : "s",
	       res.blobs_new + res.blobs_present, res.blobs_new + res.blobs_present == 1 ? "" : "s",
	       res.blobs_new, res.blobs_present, size);
	status = 0;
out:
	store_close(s);
	return status;
}
