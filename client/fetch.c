/*
 * fetch: the blob half of pulling from a registry.  It owns the blob cache
 * directory's layout (blobs/, tmp/, resumable .partial files and their
 * locks) and the curl multi handle and easy handles of one fetch_blobs call;
 * requests go through the client's endpoints, credentials and retry policy
 * (client_int.h).
 */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client_int.h"
#include "client_retry.h"
#include "fileutil.h"

#define ERROR_BODY_MAX (1024 * 1024) /* error bodies are read and dropped */
#define POLL_MAX_MS    1000
#define RECV_BUFSZ     (256 * 1024) /* fewer, larger writes and hash updates than curl's 16 KiB */

enum job_state { JOB_IDLE, JOB_WAITING, JOB_RUNNING };

/* One transfer slot: a curl handle and the blob it is fetching into a partial file. */
struct job {
	enum job_state state;
	size_t req; /* index of the request being fetched */
	CURL *h;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	int fd;
	char *partial;         /* the temp file */
	struct digest_ctx *dc; /* has hashed exactly the `have` bytes of the file */
	int64_t have;          /* bytes in the file */
	int64_t start;         /* the offset this transfer asked for */
	int attempt;           /* 1 for the first */
	int answered;          /* a 401 was answered during this attempt */
	unsigned gen;          /* the authentication state this transfer used */
	int body_started;      /* the 2xx body of this transfer began */
	int64_t wake_ms;       /* JOB_WAITING: when to start again */
	long status;
	int64_t range_start; /* from Content-Range, -1 when absent */
	char challenge[CHALLENGE_MAX];
	char retry_after[64];
	size_t dropped;
	int cb_rc;
	struct barge_err cb_err;
	char what[REF_MAX + 200];
	struct fctx *f;
};

struct fctx {
	struct client *c;
	const char *cache;
	const struct fetch_req *reqs;
	const struct fetch_opts *o;
	struct fetch_stats *st;
	int64_t done_bytes; /* of finished blobs */
	int64_t total;
	struct barge_err *err;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
fetch_default_cache_dir(char **out, struct barge_err *err)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *d;

	if (xdg != NULL && xdg[0] == '/')
		d = fu_printf("%s/barge", xdg);
	else if (home != NULL && home[0] == '/')
		d = fu_printf("%s/.cache/barge", home);
	else
		return err_set(err, BARGE_EINVAL,
		               "no cache directory: set --cache-dir, XDG_CACHE_HOME or HOME");
	if (d == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*out = d;
	return BARGE_OK;
}

int
fetch_cache_init(const char *cache_dir, struct barge_err *err)
{
	static const char *const subs[] = { "tmp", "blobs/sha256", "blobs/sha512" };
	char *d;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((d = fu_printf("%s/%s", cache_dir, subs[i])) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		rc = fu_mkdirs(d, 0755, err);
		free(d);
		if (rc != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

char *
fetch_cache_path(const char *cache_dir, const char *digest)
{
	const char *colon = strchr(digest, ':');

	if (colon == NULL)
		return NULL;
	return fu_printf("%s/blobs/%.*s/%s", cache_dir, (int)(colon - digest), digest, colon + 1);
}

/* "<cache>/tmp/<alg>-<hex>.partial": one name per blob, so a later build finds it. */
static char *
partial_path(const char *cache_dir, const char *digest)
{
	const char *colon = strchr(digest, ':');

	return fu_printf("%s/tmp/%.*s-%s.partial", cache_dir, (int)(colon - digest), digest,
	                 colon + 1);
}

/* Streams fd through the digest of its kind and checks its size and digest. */
static int
verify_fd(int fd, const char *digest, int64_t size, const char *path, struct barge_err *err)
{
	struct digest_ctx *dc = NULL;
	char got[DIGEST_STR_MAX];
	enum digest_alg alg;
	struct stat st;
	int rc;

	if ((rc = digest_parse(digest, &alg, NULL, err)) != BARGE_OK)
		return rc;
	if (fstat(fd, &st) != 0)
		return err_sys(err, BARGE_EIO, errno, "%s", path);
	if (st.st_size != size)
		return err_set(err, BARGE_EDIGEST, "cached %s is %" PRId64 " bytes, not %" PRId64,
		               digest, (int64_t)st.st_size, size);
	if ((rc = digest_new(alg, &dc, err)) != BARGE_OK)
		return rc;
	if ((rc = digest_update_fd(dc, fd, size, path, err)) == BARGE_OK &&
	    (rc = digest_final(dc, got, err)) == BARGE_OK && strcmp(got, digest) != 0)
		rc = err_set(err, BARGE_EDIGEST, "cached %s hashes to %s", digest, got);
	digest_free(dc);
	return rc;
}

int
fetch_cache_open(const char *cache_dir, const char *digest, int64_t size, int *out,
                 struct barge_err *err)
{
	char *path;
	int fd = -1, rc;

	if (!digest_valid(digest))
		return err_set(err, BARGE_EINVAL, "\"%.80s\" is not a digest", digest);
	if ((path = fetch_cache_path(cache_dir, digest)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s", path);
		goto out;
	}
	if ((rc = verify_fd(fd, digest, size, path, err)) != BARGE_OK) {
		/* A damaged entry must not be trusted by the next build either. */
		if (rc == BARGE_EDIGEST && unlink(path) != 0 && errno != ENOENT)
			rc = err_sys(err, BARGE_EIO, errno, "removing damaged cache entry %s",
			             path);
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "%s", path);
		goto out;
	}
	*out = fd;
	fd = -1;
	rc = BARGE_OK;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* The caller's word on going on (fetch_opts.stop): BARGE_OK, or why to stop. */
static int
check_stop(const struct fctx *f, const char *what, struct barge_err *err)
{
	int rc;

	if (f->o->stop == NULL || (rc = f->o->stop(f->o->progress_arg)) == BARGE_OK)
		return BARGE_OK;
	return err_set(err, rc, "%s: downloads stopped", what);
}

static void
report(struct fctx *f, size_t index, int64_t blob_done, int finished, int cached)
{
	struct fetch_progress p;

	if (f->o->progress == NULL)
		return;
	p.index = index;
	p.blob_done = blob_done;
	p.blob_total = f->reqs[index].size;
	p.finished = finished;
	p.cached = cached;
	p.done = f->done_bytes + (finished ? 0 : blob_done);
	p.total = f->total;
	f->o->progress(f->o->progress_arg, &p);
}

static void
job_close(struct job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	digest_free(j->dc);
	j->dc = NULL;
	free(j->partial);
	j->partial = NULL;
	curl_slist_free_all(j->headers);
	j->headers = NULL;
	j->state = JOB_IDLE;
}

/* Empties the partial file: the next transfer starts from byte 0. */
static int
job_restart(struct job *j, struct barge_err *err)
{
	enum digest_alg alg;

	digest_free(j->dc);
	j->dc = NULL;
	j->have = 0;
	if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) != 0)
		return err_sys(err, BARGE_EIO, errno, "truncating %s", j->partial);
	if (digest_parse(j->f->reqs[j->req].digest, &alg, NULL, err) != BARGE_OK)
		return err->code;
	return digest_new(alg, &j->dc, err);
}

/*
 * Opens the blob's partial file (or, when another process holds it, a
 * private temp file) and hashes what it already holds.
 */
static int
job_open(struct job *j, struct barge_err *err)
{
	const struct fetch_req *rq = &j->f->reqs[j->req];
	enum digest_alg alg;
	struct stat st;
	int rc;

	if ((rc = digest_parse(rq->digest, &alg, NULL, err)) != BARGE_OK)
		return rc;
	if ((j->partial = partial_path(j->f->cache, rq->digest)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((j->fd = open(j->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return err_sys(err, BARGE_EIO, errno, "creating %s", j->partial);
	if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
		/* Another barge is fetching the same blob into this cache: do not share its file.
		 */
		close(j->fd);
		free(j->partial);
		if ((j->partial = fu_printf("%s/tmp/blob-XXXXXX", j->f->cache)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if ((j->fd = mkostemp(j->partial, O_CLOEXEC)) < 0)
			return err_sys(err, BARGE_EIO, errno, "creating %s", j->partial);
	}
	if (fstat(j->fd, &st) != 0)
		return err_sys(err, BARGE_EIO, errno, "%s", j->partial);
	if ((rc = digest_new(alg, &j->dc, err)) != BARGE_OK)
		return rc;
	j->have = 0;
	/* A whole-sized leftover is not trusted to be the blob: only a strict prefix is resumed. */
	if (st.st_size > 0 && st.st_size < rq->size) {
		if ((rc = digest_update_fd(j->dc, j->fd, st.st_size, j->partial, err)) != BARGE_OK)
			return rc;
		j->have = st.st_size;
		j->f->st->bytes_resumed += j->have;
	} else if (st.st_size > 0 && (rc = job_restart(j, err)) != BARGE_OK) {
		return rc;
	}
	if (lseek(j->fd, (off_t)j->have, SEEK_SET) < 0)
		return err_sys(err, BARGE_EIO, errno, "%s", j->partial);
	return BARGE_OK;
}

static size_t
on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct job *j = arg;
	size_t len = size * nitems, n, vlen;
	const char *v;
	char tmp[CHALLENGE_MAX];

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		v = memchr(line, ' ', len);
		j->status = v != NULL ? strtol(v + 1, NULL, 10) : 0;
		j->challenge[0] = '\0';
		j->retry_after[0] = '\0';
		j->range_start = -1;
		return len;
	}
	if ((v = memchr(line, ':', len)) == NULL)
		return len;
	n = (size_t)(v - line);
	for (v++; v < line + len && (*v == ' ' || *v == '\t'); v++)
		;
	vlen = (size_t)(line + len - v);
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= sizeof(tmp))
		return len;
	memcpy(tmp, v, vlen);
	tmp[vlen] = '\0';
	if (n == 16 && strncasecmp(line, "WWW-Authenticate", n) == 0 &&
	    (j->challenge[0] == '\0' || strncasecmp(tmp, "Bearer", 6) == 0))
		memcpy(j->challenge, tmp, vlen + 1);
	else if (n == 11 && strncasecmp(line, "Retry-After", n) == 0 &&
	         vlen < sizeof(j->retry_after))
		memcpy(j->retry_after, tmp, vlen + 1);
	else if (n == 13 && strncasecmp(line, "Content-Range", n) == 0 &&
	         strncmp(tmp, "bytes ", 6) == 0)
		j->range_start = strtoll(tmp + 6, NULL, 10);
	return len;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct job *j = arg;
	const struct fetch_req *rq = &j->f->reqs[j->req];
	size_t len = size * nmemb;

	if (j->status != 200 && j->status != 206) {
		if (len > ERROR_BODY_MAX - j->dropped) {
			j->cb_rc = err_set(&j->cb_err, BARGE_ELIMIT,
			                   "%s: error response larger than %d bytes", j->what,
			                   ERROR_BODY_MAX);
			return 0;
		}
		j->dropped += len;
		return len;
	}
	if (!j->body_started) {
		j->body_started = 1;
		/* A server that ignores Range sends it all again: start the file afresh. */
		if (j->status == 200 && j->have > 0 &&
		    (j->cb_rc = job_restart(j, &j->cb_err)) != BARGE_OK)
			return 0;
		if (j->status == 206 && j->range_start != j->have) {
			j->cb_rc = err_set(&j->cb_err, BARGE_ENET,
			                   "%s: asked for bytes from %" PRId64
			                   ", the registry sent a range from %" PRId64,
			                   j->what, j->have, j->range_start);
			return 0;
		}
	}
	if ((j->cb_rc = check_stop(j->f, j->what, &j->cb_err)) != BARGE_OK)
		return 0;
	if ((int64_t)len > rq->size - j->have) {
		j->cb_rc = err_set(&j->cb_err, BARGE_EDIGEST, "%s: larger than %" PRId64 " bytes",
		                   j->what, rq->size);
		return 0;
	}
	if ((j->cb_rc = fu_write_all(j->fd, data, len, &j->cb_err)) != BARGE_OK) {
		err_prefix(&j->cb_err, "%s: writing %s", j->what, j->partial);
		return 0;
	}
	if ((j->cb_rc = digest_update(j->dc, data, len, &j->cb_err)) != BARGE_OK)
		return 0;
	j->have += (int64_t)len;
	j->f->st->bytes_downloaded += (int64_t)len;
	report(j->f, j->req, j->have, 0, 0);
	return len;
}

/* Starts (or restarts) j's transfer on the multi handle. */
static int
job_launch(CURLM *m, struct job *j, struct barge_err *err)
{
	const struct fetch_req *rq = &j->f->reqs[j->req];
	struct curl_slist *grown;
	char path[DIGEST_STR_MAX + 8], range[64];
	int rc;

	curl_slist_free_all(j->headers);
	j->headers = NULL;
	curl_easy_reset(j->h);
	if (j->have > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-", j->have);
		if ((grown = curl_slist_append(NULL, range)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		j->headers = grown;
	}
	snprintf(path, sizeof(path), "blobs/%s", rq->digest);
	if ((rc = client_prepare(j->f->c, rq->ref, path, j->h, &j->headers, &j->gen, err)) !=
	    BARGE_OK) {
		err_prefix(err, "%s", j->what);
		return rc;
	}
	j->errbuf[0] = '\0';
	j->status = 0;
	j->dropped = 0;
	j->cb_rc = BARGE_OK;
	j->body_started = 0;
	j->start = j->have;
	j->range_start = -1;
	if (curl_easy_setopt(j->h, CURLOPT_ERRORBUFFER, j->errbuf) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_BUFFERSIZE, (long)RECV_BUFSZ) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_HEADERDATA, j) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_PRIVATE, j) != CURLE_OK)
		return err_set(err, BARGE_EINTERNAL, "%s: libcurl refused an option", j->what);
	if (curl_multi_add_handle(m, j->h) != CURLM_OK)
		return err_set(err, BARGE_EINTERNAL, "%s: libcurl refused a transfer", j->what);
	j->state = JOB_RUNNING;
	return BARGE_OK;
}

/* The partial file holds the whole blob: check it and move it into the cache. */
static int
job_finish(struct job *j, struct barge_err *err)
{
	const struct fetch_req *rq = &j->f->reqs[j->req];
	char got[DIGEST_STR_MAX], *path = NULL;
	int rc;

	if ((rc = digest_final(j->dc, got, err)) != BARGE_OK)
		return rc;
	if (strcmp(got, rq->digest) != 0) {
		/* What upstream serves under this digest is wrong: keeping it would only resume it.
		 */
		unlink(j->partial);
		return err_set(err, BARGE_EDIGEST,
		               "%s/%s: blob %s: digest mismatch: the registry sent content hashing "
		               "to %s",
		               rq->ref->host, rq->ref->path, rq->digest, got);
	}
	if ((path = fetch_cache_path(j->f->cache, rq->digest)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (rename(j->partial, path) != 0)
		rc = err_sys(err, BARGE_EIO, errno, "rename %s to %s", j->partial, path);
	free(path);
	if (rc != BARGE_OK)
		return rc;
	j->f->st->ndownloaded++;
	j->f->done_bytes += rq->size;
	report(j->f, j->req, rq->size, 1, 0);
	job_close(j);
	return BARGE_OK;
}

/* Schedules another attempt of j after delay_ms, or fails when attempts are spent. */
static int
job_retry(struct job *j, int64_t delay_ms, int fail_rc, struct barge_err *err)
{
	if (j->attempt >= client_max_attempts(j->f->c))
		return fail_rc;
	j->attempt++;
	j->answered = 0;
	j->f->st->nretries++;
	j->wake_ms = now_ms() + delay_ms;
	j->state = JOB_WAITING;
	err_clear(err);
	return BARGE_OK;
}

/* Decides what a finished transfer of j means: done, retry, relaunch or fail. */
static int
job_done(CURLM *m, struct job *j, CURLcode cc, struct barge_err *err)
{
	const struct fetch_req *rq = &j->f->reqs[j->req];
	int rc;

	curl_multi_remove_handle(m, j->h);
	j->state = JOB_IDLE;
	if (j->cb_rc != BARGE_OK) {
		if (j->cb_rc == BARGE_EDIGEST)
			unlink(j->partial);
		return err_set(err, j->cb_rc, "%s", j->cb_err.msg);
	}
	if (cc != CURLE_OK) {
		rc = client_transport_error(j->f->c, rq->ref, cc, j->errbuf, j->what, err);
		if (!client_retryable_curl(cc))
			return rc;
		return job_retry(j, client_retry_delay_ms(j->f->c, j->attempt, NULL), rc, err);
	}
	if (j->status == 401 && j->challenge[0] != '\0') {
		if (j->answered)
			return client_auth_error(j->f->c, rq->ref, j->what, err);
		if ((rc = client_authenticate(j->f->c, rq->ref, j->challenge, j->gen, j->what,
		                              err)) != BARGE_OK)
			return rc;
		j->answered = 1;
		return job_launch(m, j, err);
	}
	if (j->status == 416 && j->start > 0) {
		/* The registry will not resume from there: fetch the whole blob. */
		if ((rc = job_restart(j, err)) != BARGE_OK)
			return rc;
		return job_launch(m, j, err);
	}
	if (client_retryable_status(j->status)) {
		rc = client_status_error(j->status, j->what, "blob unknown", err);
		return job_retry(j, client_retry_delay_ms(j->f->c, j->attempt, j->retry_after), rc,
		                 err);
	}
	if (j->status != 200 && j->status != 206)
		return client_status_error(j->status, j->what, "blob unknown", err);
	if (j->have < rq->size) {
		/* A body that ended early without a transport error: resume it. */
		rc = err_set(err, BARGE_ENET,
		             "%s: the registry sent %" PRId64 " of %" PRId64 " bytes", j->what,
		             j->have, rq->size);
		return job_retry(j, client_retry_delay_ms(j->f->c, j->attempt, NULL), rc, err);
	}
	return job_finish(j, err);
}

/* Takes the next request to download into j: opens its file and launches it. */
static int
job_start(CURLM *m, struct job *j, size_t req, struct barge_err *err)
{
	const struct fetch_req *rq = &j->f->reqs[req];
	int rc;

	j->req = req;
	j->attempt = 1;
	j->answered = 0;
	snprintf(j->what, sizeof(j->what), "%s/%s: blob %s", rq->ref->host, rq->ref->path,
	         rq->digest);
	if ((rc = job_open(j, err)) != BARGE_OK) {
		job_close(j);
		return rc;
	}
	return job_launch(m, j, err);
}

/* The distinct, checked requests still to download, in order; cached ones are reported done. */
static int
plan(struct fctx *f, size_t n, size_t *todo, size_t *ntodo, struct barge_err *err)
{
	struct barge_err verr;
	size_t i, k;
	int fd, rc;

	*ntodo = 0;
	for (i = 0; i < n; i++) {
		if (f->reqs[i].ref == NULL || !digest_valid(f->reqs[i].digest) ||
		    f->reqs[i].size < 0)
			return err_set(err, BARGE_EINVAL, "fetch request %zu: bad digest or size",
			               i);
		for (k = 0; k < i; k++)
			if (strcmp(f->reqs[k].digest, f->reqs[i].digest) == 0)
				break;
		if (k < i) {
			if (f->reqs[k].size != f->reqs[i].size)
				return err_set(err, BARGE_EDIGEST,
				               "blob %s is listed with sizes %" PRId64
				               " and %" PRId64,
				               f->reqs[i].digest, f->reqs[k].size, f->reqs[i].size);
			continue;
		}
		if (f->reqs[i].size > INT64_MAX - f->total)
			return err_set(err, BARGE_ELIMIT, "blob sizes add up past 2^63");
		f->total += f->reqs[i].size;
		todo[(*ntodo)++] = i;
	}
	for (i = k = 0; i < *ntodo; i++) {
		/* Verifying a large cache takes a while: a stop is heard here too. */
		if ((rc = check_stop(f, "verifying the cache", err)) != BARGE_OK)
			return rc;
		rc = fetch_cache_open(f->cache, f->reqs[todo[i]].digest, f->reqs[todo[i]].size, &fd,
		                      &verr);
		if (rc == BARGE_OK) {
			close(fd);
			f->st->ncached++;
			f->done_bytes += f->reqs[todo[i]].size;
			report(f, todo[i], f->reqs[todo[i]].size, 1, 1);
			continue;
		}
		/* Missing or damaged (and now removed): either way it is downloaded. */
		if (rc != BARGE_ENOTFOUND && rc != BARGE_EDIGEST) {
			*err = verr;
			return rc;
		}
		todo[k++] = todo[i];
	}
	*ntodo = k;
	return BARGE_OK;
}

int
fetch_blobs(struct client *c, const char *cache_dir, const struct fetch_req *reqs, size_t n,
            const struct fetch_opts *o, struct fetch_stats *st, struct barge_err *err)
{
	struct fetch_stats local;
	struct fctx f = { .c = c, .cache = cache_dir, .reqs = reqs, .o = o, .err = err };
	struct job *jobs = NULL;
	size_t *todo = NULL, ntodo = 0, next = 0, njobs, i;
	CURLM *m = NULL;
	CURLMsg *msg;
	int64_t now, wait;
	int running, left, busy, rc;

	f.st = st != NULL ? st : &local;
	memset(f.st, 0, sizeof(*f.st));
	njobs = o->jobs > 0 ? (size_t)o->jobs : FETCH_JOBS_DEFAULT;
	if (njobs > FETCH_JOBS_MAX)
		njobs = FETCH_JOBS_MAX;
	if ((rc = fetch_cache_init(cache_dir, err)) != BARGE_OK)
		return rc;
	if (n == 0)
		return BARGE_OK;
	if ((todo = calloc(n, sizeof(*todo))) == NULL ||
	    (jobs = calloc(njobs, sizeof(*jobs))) == NULL || (m = curl_multi_init()) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < njobs; i++) {
		jobs[i].fd = -1;
		jobs[i].f = &f;
		if ((jobs[i].h = curl_easy_init()) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((rc = plan(&f, n, todo, &ntodo, err)) != BARGE_OK)
		goto out;
	for (;;) {
		/* The poll below waits at most POLL_MAX_MS: a stop is heard within that. */
		if ((rc = check_stop(&f, "fetching blobs", err)) != BARGE_OK)
			goto out;
		now = now_ms();
		wait = POLL_MAX_MS;
		busy = 0;
		for (i = 0; i < njobs; i++) {
			struct job *j = &jobs[i];

			if (j->state == JOB_IDLE && next < ntodo &&
			    (rc = job_start(m, j, todo[next++], err)) != BARGE_OK)
				goto out;
			if (j->state == JOB_WAITING && j->wake_ms <= now &&
			    (rc = job_launch(m, j, err)) != BARGE_OK)
				goto out;
			if (j->state == JOB_WAITING && j->wake_ms - now < wait)
				wait = j->wake_ms - now;
			busy |= j->state != JOB_IDLE;
		}
		if (!busy && next >= ntodo)
			break;
		if (curl_multi_perform(m, &running) != CURLM_OK ||
		    curl_multi_poll(m, NULL, 0, (int)(wait > 0 ? wait : 0), NULL) != CURLM_OK) {
			rc = err_set(err, BARGE_EINTERNAL, "libcurl multi interface failed");
			goto out;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = err_set(err, BARGE_EINTERNAL, "libcurl multi interface failed");
			goto out;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			char *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			if ((rc = job_done(m, (struct job *)priv, msg->data.result, err)) !=
			    BARGE_OK)
				goto out;
		}
	}
	rc = BARGE_OK;
out:
	for (i = 0; jobs != NULL && i < njobs; i++) {
		if (jobs[i].state == JOB_RUNNING)
			curl_multi_remove_handle(m, jobs[i].h);
		job_close(&jobs[i]);
		curl_easy_cleanup(jobs[i].h);
	}
	curl_multi_cleanup(m);
	free(jobs);
	free(todo);
	return rc;
}
