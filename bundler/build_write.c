/*
 * build_write: the bundle writer of a build (build_int.h).  barge.json
 * (and its signature), oci-layout and index.json first, then every blob in
 * the bundle's order, each taken as soon as the download thread has it in
 * the cache; the writer renames the bundle into place only once the
 * downloads agree.  It owns the bundle writer and the texts it writes, and
 * starts and joins the download thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_int.h"
#include "bundle.h"
#include "bundle_write.h"
#include "digest.h"
#include "sign.h"

static int
add_blob_entry(struct bctx *b, struct bundle_writer *w, const struct blob *bl)
{
	char name[BUNDLE_NAME_MAX], *path = NULL;
	int fd = -1, rc;

	snprintf(name, sizeof(name), "blobs/%s", bl->digest);
	*strchr(name + 6, ':') = '/';
	if (bl->mem != NULL)
		return bundle_writer_add_buf(w, name, bl->mem, (size_t)bl->size, b->err);
	if ((rc = wait_cached(b, (size_t)(bl - b->pl.blobs))) != BARGE_OK)
		return rc;
	if ((path = fetch_cache_path(b->cache, bl->digest)) == NULL)
		return build_nomem(b->err);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = err_sys(b->err, BARGE_EIO, errno, "%s", path);
	else
		rc = bundle_writer_add_fd(w, name, fd, bl->size, b->err);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* The writing moves to phase.  In the calling thread. */
static void
write_phase(struct bctx *b, enum build_write phase)
{
	pthread_mutex_lock(&b->mu);
	b->bp.write = phase;
	if (b->o->bytes != NULL)
		b->o->bytes(b->o->progress_arg, &b->bp);
	pthread_mutex_unlock(&b->mu);
}

/* bundle_writer_opts.progress: the entries' bytes compressed.  In the calling thread. */
static void
on_write(void *arg, int64_t done)
{
	struct bctx *b = arg;

	pthread_mutex_lock(&b->mu);
	b->bp.written = done;
	b->o->bytes(b->o->progress_arg, &b->bp);
	pthread_mutex_unlock(&b->mu);
}

static int
write_bundle(struct bctx *b)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
	struct bundle_writer_opts bo = {
		.level = b->o->level,
		.threads = 0,
		.mtime = b->o->mtime,
		.progress = b->o->bytes != NULL ? on_write : NULL,
		.progress_arg = b,
	};
	struct bundle_writer *w = NULL;
	const struct blob *bl;
	char *meta = NULL, *index = NULL, *sig = NULL;
	size_t i, k, metalen = 0, indexlen = 0, siglen = 0;
	struct stat st;
	int rc;

	if ((rc = meta_json(b, &meta)) != BARGE_OK || (rc = index_json(b, &index)) != BARGE_OK ||
	    (rc = add_newline(b, &meta, &metalen)) != BARGE_OK ||
	    (rc = add_newline(b, &index, &indexlen)) != BARGE_OK ||
	    (rc = digest_buf(DIGEST_SHA256, meta, metalen, b->st->meta_digest, b->err)) != BARGE_OK)
		goto out;
	if (b->o->sign_key != NULL) {
		/* The signature covers the exact bytes of the barge.json entry. */
		if ((rc = sign_make(b->o->sign_key, meta, metalen, &sig, &siglen, b->err)) !=
		    BARGE_OK)
			goto out;
		snprintf(b->st->keyid, sizeof(b->st->keyid), "%s", sign_key_id(b->o->sign_key));
	}
	/* What the bundle's entries hold; blob_bytes leaves out what the base has. */
	pthread_mutex_lock(&b->mu);
	b->bp.write_total =
	        (int64_t)(metalen + siglen + (sizeof(layout) - 1) + indexlen) + b->st->blob_bytes;
	pthread_mutex_unlock(&b->mu);
	build_note(b, "writing %s", b->o->output);
	write_phase(b, BUILD_WRITE_COMPRESSING);
	if ((rc = bundle_writer_open(b->o->output, &bo, &w, b->err)) != BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "barge.json", meta, metalen, b->err)) != BARGE_OK ||
	    (sig != NULL &&
	     (rc = bundle_writer_add_buf(w, "barge.json.sig", sig, siglen, b->err)) != BARGE_OK) ||
	    (rc = bundle_writer_add_buf(w, "oci-layout", layout, sizeof(layout) - 1, b->err)) !=
	            BARGE_OK ||
	    (rc = bundle_writer_add_buf(w, "index.json", index, indexlen, b->err)) != BARGE_OK)
		goto out;
	for (k = 0; k < sizeof(entry_order) / sizeof(entry_order[0]); k++) {
		for (i = 0; i < b->pl.nblobs; i++) {
			bl = &b->pl.blobs[i];
			if (bl->kind == entry_order[k] && !bl->in_base &&
			    (rc = add_blob_entry(b, w, bl)) != BARGE_OK)
				goto out;
		}
	}
	/* Every blob is written; the bundle is renamed into place only if the downloads agree. */
	if ((rc = wait_fetched(b)) != BARGE_OK || (rc = bundle_writer_close(w, b->err)) != BARGE_OK)
		goto out;
	write_phase(b, BUILD_WRITE_DONE);
	if (stat(b->o->output, &st) == 0)
		b->st->file_bytes = st.st_size;
out:
	bundle_writer_free(w);
	free(sig);
	free(meta);
	free(index);
	return rc;
}

/*
 * Downloads in a thread of their own while this one writes the bundle, so
 * that pulling and compressing overlap; the bundle's bytes do not depend on
 * the order in which blobs arrive.  A failed download fails the writer as it
 * waits for that blob (or at the end), a failed writer stops the downloads.
 */
int
fetch_and_write(struct bctx *b)
{
	pthread_t th;
	int rc;

	if ((rc = pthread_create(&th, NULL, fetch_main, b)) != 0)
		return err_sys(b->err, BARGE_EINTERNAL, rc, "starting the download thread");
	if ((rc = write_bundle(b)) != BARGE_OK) {
		pthread_mutex_lock(&b->mu);
		b->stop = rc;
		pthread_mutex_unlock(&b->mu);
	}
	pthread_join(th, NULL);
	return rc;
}
