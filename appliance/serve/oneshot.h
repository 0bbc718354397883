/*
 * oneshot: runs a function in a short-lived child process and hands its
 * result back, for one-off work a long-running daemon should not carry in
 * its resident memory.  OpenSSL 3 builds its provider and algorithm tables
 * on first use and touches megabytes of its code doing so; done in a child
 * (barged's certificate check or generation and password hashing at
 * start-up), none of those pages is ever mapped in the daemon, which then
 * pays for OpenSSL only when a request needs it.
 *
 * The child is a fork(2): fn sees the caller's memory as it was and may
 * write files, but nothing it changes in memory reaches the caller.  Fork
 * only while no other thread runs (a lock another thread holds stays held
 * in the child).
 */
#ifndef BARGE_ONESHOT_H
#define BARGE_ONESHOT_H

#include <stddef.h>

#include "err.h"

/*
 * Runs in the child.  Returns BARGE_OK with *out and *len set to a new
 * malloc'd result (may be empty), or an error in err.
 */
typedef int (*oneshot_fn)(void *arg, void **out, size_t *len, struct barge_err *err);

/*
 * Runs fn(arg) in a child and waits for it.  On success *out is a new
 * buffer of *len bytes (at most max) the caller frees; one more byte, a
 * NUL, follows them.  fn's error comes back as its code and message; a
 * child that dies or answers more than max bytes is BARGE_EINTERNAL.
 * Results are wiped in transit: they may be secrets.
 */
int oneshot_run(oneshot_fn fn, void *arg, size_t max, void **out, size_t *len,
                struct barge_err *err) BARGE_MUST_CHECK;

#endif
