/*
 * fetch: the content-addressed blob cache and parallel blob downloads.
 *
 * The cache is a directory (--cache-dir; default $XDG_CACHE_HOME/barge, else
 * $HOME/.cache/barge) holding blobs/<alg>/<hex>, each a complete blob whose
 * content hashes to its name, and tmp/ for downloads in progress.  Blobs are
 * downloaded into tmp/ (a partial download of <alg>:<hex> is kept as
 * tmp/<alg>-<hex>.partial, so a later attempt or a later build resumes it
 * with an HTTP Range request after hashing what it holds) and renamed into
 * blobs/ only once their digest and size are verified.  A blob found in the
 * cache is verified again before it is trusted; a damaged one is removed and
 * fetched again.
 *
 * fetch_blobs runs up to opts->jobs transfers at once (curl multi) through
 * the client's endpoints, credentials and tokens; a digest asked for twice is
 * fetched once.  Downloads start in request order, so a caller that consumes
 * blobs in some order gets them roughly in that order by asking in it.  Connection errors, HTTP 429
 * and 5xx are retried with the client's backoff (honouring Retry-After) up to its attempt limit; a
 * digest mismatch is not retried: the blob upstream is wrong.  Nothing is printed: progress goes to
 * the caller's callback.
 */
#ifndef BARGE_FETCH_H
#define BARGE_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "digest.h"
#include "err.h"
#include "ref.h"

#define FETCH_JOBS_DEFAULT 4
#define FETCH_JOBS_MAX     64

/* One blob to have in the cache.  ref names a repository that holds it; the caller owns it. */
struct fetch_req {
	const struct ref *ref;
	char digest[DIGEST_STR_MAX];
	int64_t size;
};

/* What a progress callback is told; bytes count what is verified or in flight. */
struct fetch_progress {
	size_t index;       /* the request this is about */
	int64_t blob_done;  /* its bytes so far (including resumed ones) */
	int64_t blob_total; /* its size */
	int finished;       /* it is now complete and verified in the cache */
	int cached;         /* it was in the cache already */
	int64_t done;       /* bytes so far over every request, cached ones included */
	int64_t total;      /* the sum of every distinct request's size */
};

struct fetch_opts {
	int jobs; /* concurrent transfers; 0 means FETCH_JOBS_DEFAULT */
	/* Called from the transfer loop (never concurrently); may be NULL. */
	void (*progress)(void *arg, const struct fetch_progress *p);
	/*
	 * Asked between transfer steps and as bytes arrive, from the transfer
	 * loop; may be NULL.  BARGE_OK goes on; a negative code makes
	 * fetch_blobs abandon its transfers (partial downloads stay resumable)
	 * and return that code within about a second, even while waiting out a
	 * backoff.  For a caller in another thread that gives up.
	 */
	int (*stop)(void *arg);
	void *progress_arg; /* progress's and stop's argument */
};

struct fetch_stats {
	size_t ncached;           /* distinct blobs found verified in the cache */
	size_t ndownloaded;       /* distinct blobs downloaded */
	size_t nretries;          /* transfers retried (errors, 429, 5xx) */
	int64_t bytes_downloaded; /* bytes received over the network */
	int64_t bytes_resumed;    /* bytes of partial downloads kept and not fetched again */
};

/*
 * The default cache directory ($XDG_CACHE_HOME/barge or $HOME/.cache/barge,
 * absolute paths only); caller frees *out.  BARGE_EINVAL when neither is set.
 */
int fetch_default_cache_dir(char **out, struct barge_err *err) BARGE_MUST_CHECK;

/* Creates cache_dir's tmp/ and blobs/ directories. */
int fetch_cache_init(const char *cache_dir, struct barge_err *err) BARGE_MUST_CHECK;

/* "<cache_dir>/blobs/<alg>/<hex>" for a valid digest; NULL when out of memory.  Caller frees. */
char *fetch_cache_path(const char *cache_dir, const char *digest);

/*
 * Opens the cached blob digest of size bytes after verifying its content,
 * with *fd at offset 0 (caller closes).  BARGE_ENOTFOUND when the cache does
 * not hold it; BARGE_EDIGEST (and the entry is removed) when it is damaged.
 */
int fetch_cache_open(const char *cache_dir, const char *digest, int64_t size, int *fd,
                     struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Makes sure cache_dir holds every requested blob, verified.  On BARGE_OK
 * every blob is at fetch_cache_path(cache_dir, digest) and was verified
 * during this call (callers may open it without checking it again).  On
 * failure the message names the blob and its repository; finished blobs stay
 * cached and unfinished downloads stay resumable.  st may be NULL.
 */
int fetch_blobs(struct client *c, const char *cache_dir, const struct fetch_req *reqs, size_t n,
                const struct fetch_opts *opts, struct fetch_stats *st,
                struct barge_err *err) BARGE_MUST_CHECK;

#endif
