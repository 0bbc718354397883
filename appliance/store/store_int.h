/*
 * store_int: the store's insides, shared by the files that implement
 * store.h and its extensions (store.c, and the push and GC parts in their
 * own files).  Nothing outside the store includes this.
 *
 * The statement cache is store.c's; other files prepare their own statements
 * on s->db and finalize them.  Every digest goes through digest_parse (as
 * blob_path does) before it becomes part of a path.
 */
#ifndef BARGE_STORE_INT_H
#define BARGE_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "err.h"

/* Room in the statement cache; store.c checks its own count against it. */
#define STORE_STMT_MAX 64

struct store {
	char *dir;
	char *tmp_dir;
	sqlite3 *db;
	sqlite3_stmt *stmt[STORE_STMT_MAX];
	int lock_fd;  /* DIR/gc.lock while this handle holds it, else -1 */
	int read_txn; /* store_read_begin opened a transaction */
};

/* Records SQLite's last error on s as "what: <sqlite message>"; returns the code. */
int db_fail(struct store *s, struct barge_err *err, const char *what);
/* Runs SQL without results (BEGIN, COMMIT, schema). */
int db_exec(struct store *s, const char *sql, const char *what,
            struct barge_err *err) BARGE_MUST_CHECK;
/* Prepares sql on s; the caller finalizes *st. */
int db_prepare(struct store *s, const char *sql, sqlite3_stmt **st,
               struct barge_err *err) BARGE_MUST_CHECK;
/* Resets a statement and clears its bindings. */
void stmt_done(sqlite3_stmt *st);
int bind_text(struct store *s, sqlite3_stmt *st, int i, const char *v,
              struct barge_err *err) BARGE_MUST_CHECK;
int bind_int(struct store *s, sqlite3_stmt *st, int i, int64_t v,
             struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Steps a bound statement, calling fn with column 0 of each row until fn
 * returns non-zero or the rows end.  The caller resets or finalizes st.
 */
int stmt_each_text(struct store *s, sqlite3_stmt *st, int (*fn)(const char *v, void *arg),
                   void *arg, const char *what, struct barge_err *err) BARGE_MUST_CHECK;
/* Steps a statement that returns no rows, then resets it. */
int stmt_run(struct store *s, sqlite3_stmt *st, const char *what,
             struct barge_err *err) BARGE_MUST_CHECK;
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

#endif
