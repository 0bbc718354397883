/*
 * upload: bundles PUT to /api/v1/bundles, piped into a loader thread
 * (upload.h).  Owns the one-upload-at-a-time flag and, per upload, the
 * pipe and the loader thread; it reports through the log callbacks of its
 * options.
 */
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "load_archive.h"
#include "loader.h"
#include "logcb.h"
#include "metrics.h"
#include "store.h"

/* The pipe between the body and the loader: big enough for few wake-ups. */
#define UPLOAD_PIPE_SIZE (1024 * 1024)

struct upload {
	char *data_dir;
	const struct loader_opts *load;
	uint64_t max_size;
	struct metrics *metrics;
	void (*log_error)(const char *);
	void (*log_warn)(const char *);
	void (*log_info)(const char *);
	void (*on_result)(void *arg, const char *kind, const char *summary, const char *detail);
	void *on_result_arg;
	int busy; /* atomic: an upload runs */
};

/* One upload in progress, shared by the body callbacks and the loader thread. */
struct job {
	struct upload *u;
	int wfd; /* the body goes in here; -1 once closed */
	int rfd; /* the loader reads here (its reader owns it once opened) */
	pthread_t thread;
	struct timespec start;
	struct loader_result res;
	struct barge_err err;
	int rc;
};

int
upload_new(const struct upload_opts *o, struct upload **out, struct barge_err *err)
{
	struct upload *u;

	if ((u = calloc(1, sizeof(*u))) == NULL || (u->data_dir = strdup(o->data_dir)) == NULL) {
		free(u);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	u->load = o->load;
	u->max_size = o->max_size != 0 ? o->max_size : UPLOAD_MAX_DEFAULT;
	u->metrics = o->metrics;
	u->log_error = o->log_error;
	u->log_warn = o->log_warn;
	u->log_info = o->log_info;
	*out = u;
	return BARGE_OK;
}

void
upload_on_result(struct upload *u,
                 void (*fn)(void *arg, const char *kind, const char *summary, const char *detail),
                 void *arg)
{
	u->on_result = fn;
	u->on_result_arg = arg;
}

/* Tells the outcome's listener, if any. */
static void
tell(const struct upload *u, const char *summary, const char *detail)
{
	if (u->on_result != NULL)
		u->on_result(u->on_result_arg, "load", summary, detail);
}

void
upload_free(struct upload *u)
{
	if (u == NULL)
		return;
	free(u->data_dir);
	free(u);
}

int
upload_parse_size(const char *s, uint64_t *out, struct barge_err *err)
{
	static const char units[] = "KMGT";
	const char *p = s, *u;
	uint64_t n = 0, mul = 1;
	int shift;

	if (*p < '0' || *p > '9')
		return err_set(err, BARGE_EINVAL, "size '%s': expected a number", s);
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return err_set(err, BARGE_EINVAL, "size '%s' is too large", s);
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0') {
		if ((u = strchr(units, *p)) == NULL)
			return err_set(err, BARGE_EINVAL, "size '%s': unit is K, M, G or T", s);
		shift = 10 * (int)(u - units + 1);
		mul = (uint64_t)1 << shift;
		p++;
		if (strcmp(p, "iB") == 0)
			p += 2;
		else if (strcmp(p, "B") == 0)
			p++;
		if (*p != '\0')
			return err_set(err, BARGE_EINVAL, "size '%s': unit is K, M, G or T", s);
	}
	if (n == 0)
		return err_set(err, BARGE_EINVAL, "size '%s' must be above 0", s);
	if (n > (uint64_t)INT64_MAX / mul)
		return err_set(err, BARGE_EINVAL, "size '%s' is too large", s);
	*out = n * mul;
	return BARGE_OK;
}

int
upload_status(int rc, const struct barge_err *err)
{
	if (rc == BARGE_OK)
		return 200;
	/* The loader's free-space check, or the disk filling up mid-load. */
	if (strstr(err->msg, "not enough free space") != NULL ||
	    strstr(err->msg, strerror(ENOSPC)) != NULL)
		return 507;
	if (rc == BARGE_ENOMEM || rc == BARGE_EINTERNAL)
		return 500;
	/* The store failing is ours; anything else is the bundle's (or its signature's). */
	if (rc == BARGE_EIO && strstr(err->msg, "bundle") == NULL)
		return 500;
	return 400;
}

/* The loader thread: the bundle from the pipe into the store. */
static void *
job_run(void *arg)
{
	struct job *j = arg;
	struct loader_opts o = { 0 };
	struct store *s = NULL;
	int fd = j->rfd;

	j->rfd = -1;
	/* NULL options are the defaults; either way the store hears where the bundle came from. */
	if (j->u->load != NULL)
		o = *j->u->load;
	o.source = "upload (PUT /api/v1/bundles)";
	if ((j->rc = store_open(j->u->data_dir, &s, &j->err)) != BARGE_OK) {
		close(fd);
		return NULL;
	}
	/* A bundle or another tool's archive; closing fd wakes a body callback blocked on a full
	 * pipe. */
	j->rc = archload_load_fd(s, fd, "request body", &o, &j->res, &j->err);
	store_close(s);
	return NULL;
}

static int
job_body(struct http_req *req, const void *buf, size_t len, void *arg)
{
	struct job *j = arg;
	const char *p = buf;
	ssize_t n;

	(void)req;
	while (len > 0) {
		n = write(j->wfd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		/* EPIPE: the loader stopped reading; its error says why. */
		if (n < 0)
			return BARGE_EFORMAT;
		p += n;
		len -= (size_t)n;
	}
	return BARGE_OK;
}

static void
respond_json(struct http_req *req, int status, json_t *body)
{
	char *text = body != NULL ? json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	static const char oom[] = "{\"status\":\"failed\",\"error\":\"out of memory\"}\n";
	char *nl;

	if (text == NULL) {
		(void)http_respond_buf(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	if ((nl = realloc(text, strlen(text) + 2)) != NULL) {
		text = nl;
		strcat(text, "\n");
	}
	(void)http_respond_buf(req, status, "application/json", text, strlen(text));
	free(text);
}

static void
respond_error(struct http_req *req, int status, int rc, const char *msg)
{
	json_t *b = json_pack("{s:s, s:s, s:s}", "status", "failed", "error", msg, "kind",
	                      err_name(rc));

	respond_json(req, status, b);
	json_decref(b);
}

static double
since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
job_done(struct http_req *req, int rc, void *arg)
{
	struct job *j = arg;
	const struct loader_result *r = &j->res;
	char msg[128], line[1024];
	json_t *b;
	int status;

	/* End of input for the loader: a short body makes its load fail, whole. */
	close(j->wfd);
	j->wfd = -1;
	pthread_join(j->thread, NULL);
	if (j->u->metrics != NULL)
		metrics_load(j->u->metrics, "upload", j->rc == BARGE_OK && rc != BARGE_ELIMIT);
	if (rc == BARGE_EIO) {
		logcb_printf(j->u->log_warn, "upload: the client went away; %s",
		             j->rc == BARGE_OK ? "the bundle had arrived whole and is loaded"
		                               : "nothing was loaded");
	} else if (rc == BARGE_ELIMIT) {
		snprintf(msg, sizeof(msg),
		         "the bundle is larger than the upload limit (%llu bytes)",
		         (unsigned long long)j->u->max_size);
		logcb_printf(j->u->log_error, "upload: %s", msg);
		tell(j->u, "upload refused", msg);
		respond_error(req, 413, BARGE_ELIMIT, msg);
	} else if (j->rc != BARGE_OK) {
		logcb_printf(j->u->log_error, "upload refused: %s", j->err.msg);
		tell(j->u, "upload refused", j->err.msg);
		respond_error(req, upload_status(j->rc, &j->err), j->rc, j->err.msg);
	} else {
		/* The loader had all it needed (what follows a tar's end is not read). */
		logcb_printf(j->u->log_info,
		             "upload: loaded %s %s%s: %zu images, %zu blobs (%zu new), %lld bytes",
		             r->name, r->version, r->reloaded ? " (again)" : "", r->images,
		             r->blobs_new + r->blobs_present, r->blobs_new, (long long)r->bytes);
		snprintf(line, sizeof(line), "upload: loaded %s %s%s", r->name, r->version,
		         r->reloaded ? " (again)" : "");
		tell(j->u, line, r->digest);
		status = r->reloaded ? 200 : 201;
		b = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s?, s:b, s:I, s:I, s:I, s:I, s:I, "
		              "s:I, s:f}",
		              "status", "loaded", "name", r->name, "version", r->version, "digest",
		              r->digest, "delta", r->delta, "reloaded", r->reloaded, "signer",
		              r->signer[0] != '\0' ? r->signer : NULL, "verified", r->verified,
		              "images", (json_int_t)r->images, "tags", (json_int_t)r->tags,
		              "blobsNew", (json_int_t)r->blobs_new, "blobsPresent",
		              (json_int_t)r->blobs_present, "bytes", (json_int_t)r->bytes,
		              "bytesNew", (json_int_t)r->bytes_new, "seconds", since(&j->start));
		respond_json(req, status, b);
		json_decref(b);
	}
	__atomic_store_n(&j->u->busy, 0, __ATOMIC_SEQ_CST);
	free(j);
}

void
upload_handle(struct upload *u, struct http_req *req)
{
	struct job *j = NULL;
	int fds[2] = { -1, -1 }, expect = 0, rc;
	char msg[128];

	if (!__atomic_compare_exchange_n(&u->busy, &expect, 1, 0, __ATOMIC_SEQ_CST,
	                                 __ATOMIC_SEQ_CST)) {
		respond_error(req, 409, BARGE_EEXIST,
		              "another upload is in progress; try again later");
		return;
	}
	if (http_req_content_length(req) > 0 &&
	    (uint64_t)http_req_content_length(req) > u->max_size) {
		snprintf(msg, sizeof(msg),
		         "the bundle is larger than the upload limit (%llu bytes)",
		         (unsigned long long)u->max_size);
		respond_error(req, 413, BARGE_ELIMIT, msg);
		goto fail;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL || pipe2(fds, O_CLOEXEC) != 0) {
		respond_error(req, 500, BARGE_ENOMEM, "cannot start the upload");
		goto fail;
	}
	/* Best effort: a larger pipe means fewer wake-ups; the default 64 KiB works too. */
	(void)fcntl(fds[1], F_SETPIPE_SZ, UPLOAD_PIPE_SIZE);
	j->u = u;
	j->rfd = fds[0];
	j->wfd = fds[1];
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	if (pthread_create(&j->thread, NULL, job_run, j) != 0) {
		respond_error(req, 500, BARGE_EINTERNAL, "cannot start the upload");
		goto fail;
	}
	fds[0] = fds[1] = -1; /* the job's now */
	rc = http_req_accept_body(req, u->max_size, job_body, job_done, j);
	if (rc == BARGE_OK)
		return;
	/* No body callback will run: end the loader's input and wait for it. */
	close(j->wfd);
	pthread_join(j->thread, NULL);
	if (rc == BARGE_ELIMIT) {
		snprintf(msg, sizeof(msg),
		         "the bundle is larger than the upload limit (%llu bytes)",
		         (unsigned long long)u->max_size);
		respond_error(req, 413, BARGE_ELIMIT, msg);
	} else {
		respond_error(req, 500, rc, "cannot read the request body");
	}
	free(j);
	__atomic_store_n(&u->busy, 0, __ATOMIC_SEQ_CST);
	return;
fail:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(j);
	__atomic_store_n(&u->busy, 0, __ATOMIC_SEQ_CST);
}
