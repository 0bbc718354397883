/*
 * store_fixture: a real store in a scratch directory and real images in it
 * (store_fixture.h).  Owns nothing between calls: the test owns the fixture
 * fx_setup made, until fx_teardown.
 */
#include "test_main.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "fileutil.h"
#include "store_fixture.h"

int
fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct barge_err err;

	assert_non_null(f);
	fx_tmpdir(f->dir, "store");
	assert_int_equal(store_open(f->dir, &f->s, &err), BARGE_OK);
	*state = f;
	return 0;
}

int
fx_teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	fx_rmtree(f->dir);
	free(f);
	return 0;
}

/* Stores text as a blob; digest in out. */
void
fx_blob(struct store *s, const char *text, char *out)
{
	struct store_blob_writer *w = NULL;
	struct barge_err err;
	size_t len = strlen(text);

	assert_int_equal(digest_buf(DIGEST_SHA256, text, len, out, &err), BARGE_OK);
	assert_int_equal(store_blob_begin(s, out, (int64_t)len, &w, &err), BARGE_OK);
	assert_int_equal(store_blob_write(w, text, len, &err), BARGE_OK);
	assert_int_equal(store_blob_commit(w, &err), BARGE_OK);
}

/*
 * Stores the blobs of an image: config text cfg and the n layer texts.
 * Nothing is recorded: fx_record does that inside a transaction.
 */
void
fx_image_blobs(struct store *s, const char *cfg, const char *const *layers, size_t n,
               struct fx_image *im)
{
	char json[4096];
	size_t used, i;

	assert_true(n <= FX_LAYERS_MAX);
	memset(im, 0, sizeof(*im));
	fx_blob(s, cfg, im->config);
	im->bytes = (int64_t)strlen(cfg);
	used = (size_t)snprintf(json, sizeof(json),
	                        "{\"schemaVersion\":2,"
	                        "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	                        "\"config\":{\"mediaType\":"
	                        "\"application/vnd.oci.image.config.v1+json\","
	                        "\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
	                        im->config, strlen(cfg));
	for (i = 0; i < n; i++) {
		fx_blob(s, layers[i], im->layers[i]);
		im->bytes += (int64_t)strlen(layers[i]);
		used += (size_t)snprintf(json + used, sizeof(json) - used,
		                         "%s{\"mediaType\":"
		                         "\"application/vnd.oci.image.layer.v1.tar\","
		                         "\"digest\":\"%s\",\"size\":%zu}",
		                         i ? "," : "", im->layers[i], strlen(layers[i]));
	}
	im->nlayers = n;
	snprintf(json + used, sizeof(json) - used, "]}");
	fx_blob(s, json, im->manifest);
	im->manifest_size = (int64_t)strlen(json);
	im->bytes += im->manifest_size;
}

/* Records im in repo, tagged tag (NULL: untagged), pinned by bundle (0: none). */
void
fx_record(struct store *s, const char *repo, const struct fx_image *im, const char *tag,
          int64_t bundle)
{
	struct barge_err err;
	size_t i;

	assert_int_equal(store_put_manifest(s, repo, im->manifest,
	                                    "application/vnd.oci.image.manifest.v1+json",
	                                    im->manifest_size, &err),
	                 BARGE_OK);
	assert_int_equal(store_put_ref(s, im->manifest, im->config, &err), BARGE_OK);
	for (i = 0; i < im->nlayers; i++)
		assert_int_equal(store_put_ref(s, im->manifest, im->layers[i], &err), BARGE_OK);
	if (tag != NULL)
		assert_int_equal(store_put_tag(s, repo, tag, im->manifest, &err), BARGE_OK);
	if (bundle > 0)
		assert_int_equal(store_put_bundle_image(s, bundle, repo, im->manifest, &err),
		                 BARGE_OK);
}

/* Records a bundle (its barge.json digest made from name) and returns its id. */
int64_t
fx_bundle(struct store *s, const char *name, const char *version)
{
	struct barge_err err;
	char digest[DIGEST_STR_MAX], text[256];
	int64_t id;

	snprintf(text, sizeof(text), "%s-%s", name, version);
	assert_int_equal(digest_buf(DIGEST_SHA256, text, strlen(text), digest, &err), BARGE_OK);
	assert_int_equal(store_put_bundle(s, name, version, digest, &id, &err), BARGE_OK);
	return id;
}

void
fx_begin(struct store *s)
{
	struct barge_err err;

	assert_int_equal(store_begin(s, &err), BARGE_OK);
}

void
fx_commit(struct store *s)
{
	struct barge_err err;

	assert_int_equal(store_commit(s, &err), BARGE_OK);
}

/* Path of a blob file; caller frees. */
char *
fx_blob_path(const struct fixture *f, const char *digest)
{
	char *p = fu_printf("%s/blobs/sha256/%.2s/%s", f->dir, digest + 7, digest + 7);

	assert_non_null(p);
	return p;
}

/* Ages a blob file so GC's grace period does not keep it. */
void
fx_age(const struct fixture *f, const char *digest, int seconds)
{
	struct timespec ts[2];
	char *p = fx_blob_path(f, digest);

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - seconds;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

/* Whether repo:reference resolves and its manifest blob opens. */
int
fx_serves(struct store *s, const char *repo, const char *reference)
{
	struct store_manifest m;
	struct barge_err err;
	int64_t size;
	int fd;

	if (store_open_manifest(s, repo, reference, &m, &fd, &size, &err) != BARGE_OK)
		return 0;
	close(fd);
	return 1;
}

int64_t
fx_db_int(const char *dir, const char *sql)
{
	char path[FX_DIR_MAX + 16];
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int64_t v;

	snprintf(path, sizeof(path), "%s/barge.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}
