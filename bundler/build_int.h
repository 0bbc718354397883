/*
 * build_int: the insides of one build (build.h), shared by the files of
 * bundler/build*.c and by nothing else (scripts/check-layers refuses any
 * other includer).
 *
 *   build.c        the pipeline: profiles -> lock -> resolve -> build, the
 *                  checks before anything is pulled, and the statistics
 *   build_plan.c   the plan: every blob the lock's images need, each once,
 *                  and, for a delta, the blobs its base already has
 *   build_fetch.c  the download thread and the writer's waits for it
 *   build_meta.c   barge.json and index.json
 *   build_write.c  the bundle writer, beside the download thread
 *   build_verify.c --verify-signatures: each image's cosign signature
 *
 * A struct bctx lives for one build_run_lock call and owns the plan, the
 * base's list, the cache path and the download requests; mu guards what
 * its comment says.  A struct plan owns its blobs and their in-memory
 * manifests.
 */
#ifndef BARGE_BUILD_INT_H
#define BARGE_BUILD_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "build.h"
#include "client.h"
#include "digest.h"
#include "err.h"
#include "fetch.h"
#include "lock.h"

enum blob_kind { BLOB_MANIFEST, BLOB_CONFIG, BLOB_LAYER };

struct blob {
	char digest[DIGEST_STR_MAX];
	int64_t size;
	enum blob_kind kind;
	const struct ref *from; /* an image whose repository holds it */
	size_t first_user;      /* the image it is counted for in progress */
	size_t nusers;          /* images using it */
	size_t last_user;
	int in_base; /* delta: the base has it, so the bundle leaves it out */
	char *mem;   /* manifests and indexes: their exact bytes */
};

/* Every blob a lock's images need, each once. */
struct plan {
	const struct lock *l;
	struct blob *blobs;
	size_t nblobs, cap;
	json_t *bydigest; /* digest -> index in blobs */
};

struct bctx {
	const struct lock *l;
	struct client *c;
	const struct build_opts *o;
	struct plan pl;
	json_t *base; /* delta: digest -> size of every blob the base has */
	char *cache;
	struct build_stats *st;
	struct build_progress bp;
	int64_t *img_total, *img_done;
	struct fetch_req *reqs; /* configs, then layers: the bundle's order */
	size_t nreqs;           /* blobs fetch_blobs is asked for */
	size_t *req_blob;       /* request -> index in pl.blobs */
	int64_t *req_done;      /* request -> its bytes reported so far */
	struct barge_err *err;  /* the calling thread's (the writer's) */
	/*
	 * Blobs download in a thread of their own while the calling thread
	 * writes the bundle.  mu guards the fields below and bp, img_done and
	 * req_done, and serialises the caller's callbacks; cv is signalled
	 * when a blob arrives and when the downloads end.
	 */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *cached;      /* blob index -> verified in the cache */
	int fetch_over;             /* fetch_blobs has returned fetch_rc */
	int fetch_rc;               /* its result; fetch_err says why when not BARGE_OK */
	struct barge_err fetch_err; /* the download thread's */
	int stop;                   /* the writer failed with this code: downloads give up */
};

/* --- build.c ------------------------------------------------------------------ */

/* The bundle's blob entries: every manifest, then every config, then every layer. */
extern const enum blob_kind entry_order[BLOB_LAYER + 1];

/* One line of progress to the caller's o->progress, under mu. */
void build_note(struct bctx *b, const char *fmt, ...) BARGE_PRINTF(2, 3);
/* BARGE_ENOMEM, "out of memory", in err. */
int build_nomem(struct barge_err *err);

/* --- build_plan.c ------------------------------------------------------------- */

void plan_clear(struct plan *pl);
/* Fetches image user's pinned manifest and the manifests the lock keeps, recording every blob. */
int plan_image(struct plan *pl, struct client *c, size_t user,
               struct barge_err *err) BARGE_MUST_CHECK;
/* b->base: every blob the base (o->base, a bundle or a lock) has, digest -> size. */
int load_base(struct bctx *b) BARGE_MUST_CHECK;

/* --- build_fetch.c ------------------------------------------------------------ */

/* The cache, the download requests in the bundle's order, and the byte totals. */
int fetch_prepare(struct bctx *b) BARGE_MUST_CHECK;
/* The download thread's body (pthread_create). */
void *fetch_main(void *arg);
/* Waits until blob i is in the cache, verified, or the downloads failed. */
int wait_cached(struct bctx *b, size_t i) BARGE_MUST_CHECK;
/* Waits for the downloads to end; their result. */
int wait_fetched(struct bctx *b) BARGE_MUST_CHECK;

/* --- build_meta.c ------------------------------------------------------------- */

/* barge.json, without its final newline; *out is the caller's. */
int meta_json(struct bctx *b, char **out) BARGE_MUST_CHECK;
/* index.json, without its final newline; *out is the caller's. */
int index_json(struct bctx *b, char **out) BARGE_MUST_CHECK;
/* Text files end with a newline; json_dumps leaves it out.  Replaces *text. */
int add_newline(struct bctx *b, char **text, size_t *len) BARGE_MUST_CHECK;

/* --- build_verify.c ---------------------------------------------------------- */

/* Each image of the plan has a cosign signature that b->o->verify_key verifies. */
int verify_signatures(struct bctx *b) BARGE_MUST_CHECK;

/* --- build_write.c ------------------------------------------------------------ */

/* The downloads in a thread of their own while this one writes the bundle. */
int fetch_and_write(struct bctx *b) BARGE_MUST_CHECK;

#endif
