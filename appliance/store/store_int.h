/*
 * store_int: the store's insides, shared by the files of appliance/store
 * and by nothing else (scripts/check-layers refuses any other includer).
 *
 *   store.c        the handle, the metadata rows and the lookups
 *   store_db.c     the SQLite database: schema, statements, transactions
 *   store_blob.c   the blob files: paths, writers, the walk of DIR/blobs
 *   store_lock.c   DIR/gc.lock
 *   store_dset.c   a sorted set of digests, for GC and fsck
 *   store_ls.c, store_gc.c, store_fsck.c, store_stats.c   the lifecycle
 *   store_load.c, store_push.c   the loader's and the registry's protocols
 *
 * The statement cache is store.c's; other files prepare their own statements
 * on s->db and finalize them.  Every digest goes through digest_parse (as
 * blob_path does) before it becomes part of a path.
 */
#ifndef BARGE_STORE_INT_H
#define BARGE_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "digest.h"
#include "err.h"
#include "store.h"
#include "store_proxy.h"

/* Room in the statement cache; store.c checks its own count against it. */
#define STORE_STMT_MAX 64

/* How long a statement waits for the database's write lock. */
#define STORE_BUSY_MS 5000

#define STORE_DIR_MODE  0755
#define STORE_FILE_MODE 0644

struct store {
	char *dir;
	char *tmp_dir;
	sqlite3 *db;
	sqlite3_stmt *stmt[STORE_STMT_MAX];
	int lock_fd;  /* DIR/gc.lock while this handle holds it, else -1 */
	int read_txn; /* store_read_begin opened a transaction */
	/* What store_put_tag records as the tag's origin (NONE: NULL, read as before v3). */
	enum store_origin tag_origin;
};

/* A blob on its way in: DIR/tmp/blob-XXXXXX, flocked, hashed as written. */
struct store_blob_writer {
	struct store *s;
	char digest[DIGEST_STR_MAX];
	char *tmp_path;
	int fd;
	struct digest_writer *dw; /* NULL for store_blob_begin_unknown's writer */
	struct digest_ctx *dc;    /* store_blob_begin_unknown's: hashes what is written */
	int verified;             /* store_blob_verify found digest and size right */
};

/* --- the database (store_db.c) ------------------------------------------- */

/* Opens DIR/barge.db into s->db (WAL, synchronous FULL) and creates the schema. */
int db_open(struct store *s, struct barge_err *err) BARGE_MUST_CHECK;
/* A read-only connection to s's database in r (r->dir is s's), for another thread. */
int db_open_reader(const struct store *s, struct store *r, struct barge_err *err) BARGE_MUST_CHECK;
void db_close_reader(struct store *r);
/* Records SQLite's last error on s as "what: <sqlite message>"; returns the code. */
int db_fail(struct store *s, struct barge_err *err, const char *what);
/* Runs SQL without results (BEGIN, COMMIT, schema). */
int db_exec(struct store *s, const char *sql, const char *what,
            struct barge_err *err) BARGE_MUST_CHECK;
/* Prepares sql on s; the caller finalizes *st. */
int db_prepare(struct store *s, const char *sql, sqlite3_stmt **st,
               struct barge_err *err) BARGE_MUST_CHECK;
/* Whether table name exists: the push side creates its own on first use. */
int db_has_table(struct store *s, const char *name, int *yes,
                 struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Waits until no reader can still see rows this handle's last commit
 * deleted; 0 when readers stayed busy.
 */
int db_wait_readers(struct store *s);
/*
 * A read snapshot for a whole listing, unless a transaction is already open
 * on s (then *began stays 0 and that one holds the snapshot).
 */
int db_snap_begin(struct store *s, int *began, struct barge_err *err) BARGE_MUST_CHECK;
void db_snap_end(struct store *s, int began);
/* Resets a statement and clears its bindings. */
void stmt_done(sqlite3_stmt *st);
int bind_text(struct store *s, sqlite3_stmt *st, int i, const char *v,
              struct barge_err *err) BARGE_MUST_CHECK;
int bind_int(struct store *s, sqlite3_stmt *st, int i, int64_t v,
             struct barge_err *err) BARGE_MUST_CHECK;
/* A text column; BARGE_ENOMEM when SQLite could not give it (or it is NULL). */
int col_text(sqlite3_stmt *st, int i, const char **out, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Steps a bound statement for its first row: BARGE_OK with st on the row
 * (read its columns, then reset it), BARGE_ENOTFOUND when there is none
 * (err untouched: the caller says what is missing), else the database
 * error as "what: ...".
 */
int stmt_row(struct store *s, sqlite3_stmt *st, const char *what, struct barge_err *err);
/*
 * Steps a bound statement, calling fn with column 0 of each row until fn
 * returns non-zero or the rows end.  The caller resets or finalizes st.
 */
int stmt_each_text(struct store *s, sqlite3_stmt *st, int (*fn)(const char *v, void *arg),
                   void *arg, const char *what, struct barge_err *err) BARGE_MUST_CHECK;
/* Steps a statement that returns no rows, then resets it. */
int stmt_run(struct store *s, sqlite3_stmt *st, const char *what,
             struct barge_err *err) BARGE_MUST_CHECK;
/* Runs sql (one statement, no rows) with ?1 bound to v if it has one; *changes may be NULL. */
int db_run_int(struct store *s, const char *sql, int64_t v, int64_t *changes, const char *what,
               struct barge_err *err) BARGE_MUST_CHECK;

/* --- metadata rows (store.c) -------------------------------------------- */

/* Reads a manifest row whose columns 0, 1, 2 are digest, media type and size. */
int col_manifest(sqlite3_stmt *st, struct store_manifest *out,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* The first bundle recorded with digest (of its barge.json); BARGE_ENOTFOUND if none. */
int bundle_by_digest(struct store *s, const char *digest, int64_t *id,
                     struct barge_err *err) BARGE_MUST_CHECK;

/* --- blob files (store_blob.c) ------------------------------------------- */

/*
 * Moves src, a durable file already verified to hold digest's bytes, to the
 * blob's place, making the directories on the way and fsyncing the entries.
 * When the blob is already there (same bytes, by its name), src is removed.
 */
int blob_place(struct store *s, const char *src, const char *digest,
               struct barge_err *err) BARGE_MUST_CHECK;
/* DIR/blobs/<alg>/<2 hex>/<hex> for a valid digest; caller frees *out. */
int blob_path(const struct store *s, const char *digest, char **out,
              struct barge_err *err) BARGE_MUST_CHECK;
/* Size of a blob file, or -1 when absent. */
int64_t blob_size(struct store *s, const char *digest);
/* Removes what crashed writers left in DIR/tmp (files nobody holds locked). */
void blob_tmp_clean(struct store *s);

/*
 * Called for every entry under DIR/blobs/<alg>/<2 hex>/ and for anything
 * else found in DIR/blobs at those levels.  digest is NULL when the entry is
 * not a blob file of the store (wrong name, place or type).
 */
typedef int (*blob_fn)(struct store *s, const char *path, const char *digest, const struct stat *st,
                       void *arg, struct barge_err *err);
/* Walks DIR/blobs; fn returning an error stops the walk with it. */
int blob_walk(struct store *s, blob_fn fn, void *arg, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * As blob_walk, but a blob file whose directory entry says it is a regular
 * file is not stat'ed: fn gets st NULL for it (fsck, which opens every blob
 * file anyway, takes its size from fstat).
 */
int blob_walk_lazy(struct store *s, blob_fn fn, void *arg, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Removes the empty shard directories a sweep left.  The caller holds the
 * GC lock exclusively, so no writer is between a shard's mkdir and the
 * rename of its blob into it.
 */
void blob_prune_shards(struct store *s);

/* --- the pull-through cache (store_proxy.c) ------------------------------ */

/*
 * Writes the touches buffered for s's store (store_proxy_touch).  Unless
 * wait, only when the last write was about a second ago, and never waiting
 * for the write lock.  Best effort: what it can not write stays buffered.
 */
void proxy_touch_flush(struct store *s, int wait);
/*
 * The origin of the tag whose tags.origin is column col of st's row;
 * pinned: whether a bundle pins its target (the rule for tags set before
 * schema 3, whose origin is NULL).
 */
enum store_origin origin_of(sqlite3_stmt *st, int col, int pinned);
/* Milliseconds of clock (CLOCK_REALTIME, CLOCK_MONOTONIC). */
int64_t clock_ms(clockid_t clock);

/* --- digest sets (store_dset.c) ------------------------------------------ */

/* A set of digests: appended, then sorted once and searched. */
struct dset {
	char (*d)[DIGEST_STR_MAX];
	size_t n, cap;
};

int dset_add(struct dset *set, const char *digest, struct barge_err *err) BARGE_MUST_CHECK;
void dset_sort(struct dset *set);
/* Needs dset_sort after the last dset_add. */
int dset_has(const struct dset *set, const char *digest);
void dset_free(struct dset *set);

/*
 * A digest as a fixed-size binary key: the algorithm (enum digest_alg) then
 * its bytes, zero-padded.  Sorting and searching 200,000 of them with memcmp
 * costs a fraction of strcmp on their hex (issue #18: fsck's lookups).
 */
#define DKEY_LEN 65
struct dkey {
	unsigned char b[DKEY_LEN];
};

/* -1 when digest is not a well-formed sha256 or sha512 digest. */
int dkey_pack(const char *digest, struct dkey *out);
/* Writes "alg:hex" into out (DIGEST_STR_MAX bytes). */
void dkey_str(const struct dkey *k, char *out);
/* qsort/bsearch order of structs that begin with a struct dkey. */
int dkey_cmp(const void *a, const void *b);

/*
 * A hash index of an array of structs that begin with a struct dkey: one
 * probe where a binary search of 200,000 digests took eighteen cache misses
 * (issue #18).  Sized for n elements at dkidx_init; the array must not move
 * while the index is used.
 */
struct dkidx {
	uint32_t *slot; /* 1 + an element's index, 0 for none */
	size_t mask;
	const unsigned char *base;
	size_t stride;
};

int dkidx_init(struct dkidx *x, const void *base, size_t stride, size_t n,
               struct barge_err *err) BARGE_MUST_CHECK;
/* Adds element i (of at most n) unless one with its key is there: returns that one's index, or i.
 */
size_t dkidx_put(struct dkidx *x, size_t i);
/* The index of the element with key k, or SIZE_MAX. */
size_t dkidx_find(const struct dkidx *x, const struct dkey *k);
void dkidx_free(struct dkidx *x);

#endif
