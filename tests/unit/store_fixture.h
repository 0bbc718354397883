/*
 * store_fixture: a real store in a scratch directory (fixture.h) and real
 * images in it, for the store's tests (test_store, test_gc, test_fsck).
 * Include after test_main.h.  Images are OCI manifests whose config and
 * layers are small text blobs; everything goes through the public store
 * API, as a load would.  Every function asserts rather than returns an
 * error.
 */
#ifndef BARGE_STORE_FIXTURE_H
#define BARGE_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "fixture.h"
#include "store.h"

#define FX_LAYERS_MAX 4

/* The cmocka state of a store test: fx_setup makes it, fx_teardown frees it. */
struct fixture {
	char dir[FX_DIR_MAX];
	struct store *s;
};

struct fx_image {
	char manifest[DIGEST_STR_MAX];
	char config[DIGEST_STR_MAX];
	char layers[FX_LAYERS_MAX][DIGEST_STR_MAX];
	size_t nlayers;
	int64_t manifest_size;
	int64_t bytes; /* manifest + config + layers */
};

/* cmocka setup and teardown: a struct fixture with an open store in a new directory. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Stores text as a blob; digest in out (DIGEST_STR_MAX bytes). */
void fx_blob(struct store *s, const char *text, char *out);

/*
 * Stores the blobs of an image: config text cfg and the n layer texts.
 * Nothing is recorded: fx_record does that inside a transaction.
 */
void fx_image_blobs(struct store *s, const char *cfg, const char *const *layers, size_t n,
                    struct fx_image *im);

/* Records im in repo, tagged tag (NULL: untagged), pinned by bundle (0: none). */
void fx_record(struct store *s, const char *repo, const struct fx_image *im, const char *tag,
               int64_t bundle);

/* Records a bundle (its barge.json digest made from name) and returns its id. */
int64_t fx_bundle(struct store *s, const char *name, const char *version);

void fx_begin(struct store *s);
void fx_commit(struct store *s);

/* Path of a blob file; caller frees. */
char *fx_blob_path(const struct fixture *f, const char *digest);

/* Ages a blob file so GC's grace period does not keep it. */
void fx_age(const struct fixture *f, const char *digest, int seconds);

/* The integer the first row of sql gives, read from DIR/barge.db directly. */
int64_t fx_db_int(const char *dir, const char *sql);

/* Whether repo:reference resolves and its manifest blob opens. */
int fx_serves(struct store *s, const char *repo, const char *reference);

#endif
