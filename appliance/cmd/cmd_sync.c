/*
 * barged sync: copies everything a peer barged holds into the store
 * (sync.h), through the upstream module (upstream.h), which only this
 * verb, a proxy section, --proxy or --peer ever load.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "fmtsize.h"
#include "log.h"
#include "store.h"
#include "sync.h"
#include "upstream.h"

/* How long the peer may take to start answering one request. */
#define SYNC_DEADLINE_MS 30000

static void
sync_usage(FILE *f)
{
	fprintf(f, "usage: barged sync --from URL [--data-dir DIR] [--ca-file F | --insecure]\n"
	           "                   [--username U --password-file F]\n"
	           "\n"
	           "Copies everything the barged at URL holds into the store: every bundle\n"
	           "with its pins, every image and every tag.  Each manifest and blob is\n"
	           "checked against its digest, and the copy is whole or nothing like a load:\n"
	           "a failed or interrupted sync leaves the store's images and tags as they\n"
	           "were, and a rerun completes it.  What the store already holds is not\n"
	           "fetched again; a tag URL points elsewhere is moved.\n"
	           "\n"
	           "  --from URL             the peer, https://HOST:PORT (http:// on loopback)\n"
	           "  --data-dir DIR         the store (default " CONFIG_DEFAULT_DATA_DIR ")\n"
	           "  --ca-file F            PEM certificates to verify the peer with\n"
	           "  --insecure             do not verify the peer's certificate (tests only)\n"
	           "  --username U           pull as U (admin, or a read-only token's name)\n"
	           "  --password-file F      U's password or token, read from F\n"
	           "\n"
	           "Exit status: 0 the store holds what URL holds, 1 failed, 2 usage error.\n");
}

/* The sync_transport over an upstream handle. */
struct peer {
	const struct upstream_ops *ops;
	struct upstream *u;
};

/* A body, with the table that reads it. */
struct peer_body {
	const struct upstream_ops *ops;
	struct upstream_body *b;
};

static int
peer_get(void *arg, const char *path, const char *repo, const char *accept, void **body,
         struct barge_err *err)
{
	struct peer *p = arg;
	struct upstream_resp resp;
	struct peer_body *pb;
	int rc;

	if ((pb = calloc(1, sizeof(*pb))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pb->ops = p->ops;
	/* The listing has no repository: its token scope is none of them. */
	rc = p->ops->request(p->u, path, repo != NULL ? repo : "", accept, SYNC_DEADLINE_MS, &resp,
	                     &pb->b, err);
	if (rc != BARGE_OK) {
		free(pb);
		return rc;
	}
	*body = pb;
	return BARGE_OK;
}

static int
peer_read(void *body, void *buf, size_t len, size_t *got, struct barge_err *err)
{
	struct peer_body *pb = body;

	return pb->ops->read(pb->b, buf, len, got, err);
}

static void
peer_close(void *body)
{
	struct peer_body *pb = body;

	if (pb == NULL)
		return;
	pb->ops->body_close(pb->b);
	free(pb);
}

static void
report(const char *url, const struct sync_stats *st)
{
	char size[32];

	if (st->manifests + st->blobs + st->rows + st->tags + st->bundles + st->pins == 0) {
		log_info("nothing to copy: the store already holds all %lld images of %s",
		         (long long)st->images, url);
		return;
	}
	fmtsize(st->bytes, size, sizeof(size), FMTSIZE_UPTO_TIB);
	log_info("synced from %s: %lld images listed; fetched %lld manifests and %lld blobs (%s); "
	         "recorded %lld manifests, %lld tags, %lld bundles with %lld pins",
	         url, (long long)st->images, (long long)st->manifests, (long long)st->blobs, size,
	         (long long)st->rows, (long long)st->tags, (long long)st->bundles,
	         (long long)st->pins);
}

int
cmd_sync(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "username", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = CONFIG_DEFAULT_DATA_DIR;
	struct upstream_opts uo = { .peer = 1 };
	struct barge_err err = { 0 };
	struct peer p = { 0 };
	struct sync_transport t = {
		.arg = &p, .get = peer_get, .read = peer_read, .close = peer_close
	};
	struct sync_stats st;
	struct store *s = NULL;
	int c, status = EXIT_FAILURE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			uo.url = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'c':
			uo.ca_file = optarg;
			break;
		case 'k':
			uo.insecure = 1;
			break;
		case 'u':
			uo.username = optarg;
			break;
		case 'p':
			uo.password_file = optarg;
			break;
		case 'h':
			sync_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged sync: bad option '%s'", argv[optind - 1]);
			sync_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || uo.url == NULL ||
	    (uo.username == NULL) != (uo.password_file == NULL) ||
	    (uo.insecure && uo.ca_file != NULL)) {
		log_error("barged sync: %s",
		          optind != argc   ? "unexpected arguments"
		          : uo.url == NULL ? "--from URL is required"
		          : uo.insecure    ? "--insecure and --ca-file exclude each other"
		                           : "--username and --password-file go together");
		sync_usage(stderr);
		return EXIT_USAGE;
	}
	if ((p.ops = upstream_load(&err)) == NULL) {
		log_error("barged sync: %s", err.msg);
		return EXIT_FAILURE;
	}
	if (p.ops->open(&uo, &p.u, &err) != BARGE_OK) {
		log_error("barged sync: %s", err.msg);
		return EXIT_FAILURE;
	}
	if (store_open(data_dir, &s, &err) != BARGE_OK) {
		log_error("barged sync: %s", err.msg);
		goto out;
	}
	if (sync_run(s, &t, uo.url, &st, &err) != BARGE_OK) {
		log_error("barged sync: %s", err.msg);
		goto out;
	}
	report(uo.url, &st);
	status = EXIT_SUCCESS;
out:
	store_close(s);
	p.ops->close(p.u);
	return status;
}
