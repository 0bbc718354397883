/*
 * api_sync: the listing behind GET /api/v1/sync (api_sync.h).  Owns the
 * store handle and the temporary file of one answer.
 */
#include "api_sync.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "http_server.h"
#include "store.h"

struct lister {
	FILE *f;
	int64_t images;
	int rc; /* a failed line, detail in err */
	struct barge_err *err;
};

/* Writes v (stolen) as one line. */
static int
put_line(struct lister *l, json_t *v)
{
	char *text = NULL;
	int rc = BARGE_OK;

	if (v == NULL || (text = json_dumps(v, JSON_COMPACT)) == NULL)
		rc = err_set(l->err, BARGE_ENOMEM, "out of memory");
	else if (strlen(text) >= SYNC_LINE_MAX)
		rc = err_set(l->err, BARGE_ELIMIT, "sync listing: a line of %zu bytes",
		             strlen(text));
	else if (fputs(text, l->f) == EOF || fputc('\n', l->f) == EOF)
		rc = err_sys(l->err, BARGE_EIO, errno, "write the sync listing");
	free(text);
	json_decref(v);
	return rc;
}

static int
on_bundle(const struct store_bundle *b, void *arg)
{
	struct lister *l = arg;

	l->rc = put_line(l, json_pack("{s:s,s:s,s:s}", "bundle", b->digest, "name", b->name,
	                              "version", b->version));
	return l->rc != BARGE_OK;
}

static int
on_image(const struct store_image *im, void *arg)
{
	struct lister *l = arg;
	size_t i;
	int rc;

	rc = put_line(l, json_pack("{s:s,s:s,s:s,s:I}", "image", im->digest, "repo", im->repo,
	                           "media_type", im->media_type, "size",
	                           (json_int_t)im->manifest_size));
	for (i = 0; rc == BARGE_OK && i < im->ntags; i++)
		rc = put_line(l, json_pack("{s:s,s:s,s:s}", "tag", im->tags[i], "repo", im->repo,
		                           "digest", im->digest));
	for (i = 0; rc == BARGE_OK && i < im->nbundles; i++)
		rc = put_line(l, json_pack("{s:s,s:s,s:s}", "pin", im->bundles[i].digest, "repo",
		                           im->repo, "digest", im->digest));
	l->images++;
	l->rc = rc;
	return rc != BARGE_OK;
}

int
api_sync_write(struct store *s, const char *project, int fd, struct barge_err *err)
{
	struct lister l = { .err = err };
	int dfd = -1, rc;

	if ((dfd = dup(fd)) < 0 || (l.f = fdopen(dfd, "w")) == NULL) {
		rc = err_sys(err, BARGE_EIO, errno, "open the sync listing");
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	if ((rc = put_line(&l, json_pack("{s:i,s:s}", "sync", 1, "project", project))) != BARGE_OK)
		goto out;
	/* One snapshot for both listings: a load committing meanwhile shows whole or not at all. */
	if ((rc = store_read_begin(s, err)) != BARGE_OK)
		goto out;
	rc = store_list_bundles(s, on_bundle, &l, err);
	if (rc == BARGE_OK && l.rc == BARGE_OK)
		rc = store_list_images(s, on_image, &l, err);
	store_read_end(s);
	if (rc == BARGE_OK)
		rc = l.rc;
	if (rc == BARGE_OK)
		rc = put_line(&l, json_pack("{s:I}", "end", (json_int_t)l.images));
out:
	if (fclose(l.f) != 0 && rc == BARGE_OK)
		rc = err_sys(err, BARGE_EIO, errno, "write the sync listing");
	return rc;
}

int
api_sync_handle(const char *data_dir, const char *project, struct http_req *req,
                struct barge_err *err)
{
	struct store *s = NULL;
	FILE *tmp = NULL;
	off_t len;
	int fd = -1, rc;

	if ((rc = store_open(data_dir, &s, err)) != BARGE_OK)
		goto fail;
	if ((rc = fu_scratch(data_dir, &tmp, err)) != BARGE_OK)
		goto fail;
	if ((rc = api_sync_write(s, project, fileno(tmp), err)) != BARGE_OK)
		goto fail;
	store_close(s);
	s = NULL;
	if ((len = lseek(fileno(tmp), 0, SEEK_END)) < 0 || (fd = dup(fileno(tmp))) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "read the sync listing");
		goto fail;
	}
	fclose(tmp);
	/* http_respond_fd takes fd and sends from offset 0. */
	(void)http_respond_fd(req, 200, "application/x-ndjson", fd, 0, (uint64_t)len);
	return BARGE_OK;
fail:
	if (tmp != NULL)
		fclose(tmp);
	store_close(s);
	(void)http_respond_buf(req, 500, "text/plain", "internal error\n", 15);
	return rc;
}
