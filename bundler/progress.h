/*
 * progress: what `barge build` shows while it pulls and writes.
 *
 * On a terminal, a bar per image being pulled, one for everything pulled
 * and, once the bundle is being written, one for the bundle's entries
 * compressed, with bytes, rate and ETA, redrawn in place at most
 * PROGRESS_HZ times a second (and whenever an image completes or the
 * writing changes phase).  The writing runs behind the downloads, by
 * seconds at high zstd levels, and its bar is full only once the bundle is
 * complete.  Off a terminal it draws nothing: the caller prints a one-line
 * summary at the end.  This module writes only to the FILE it is given; it
 * owns nothing else.
 */
#ifndef BARGE_PROGRESS_H
#define BARGE_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "build.h"
#include "err.h"

#define PROGRESS_HZ        10
#define PROGRESS_BARS_MAX  6 /* image bars shown at once; the rest wait their turn */
#define PROGRESS_WIDTH_MAX 200

struct progress;

/* Draws on f (normally stderr) when tty, else stays silent.  Caller frees. */
int progress_new(FILE *f, int tty, struct progress **out, struct barge_err *err) BARGE_MUST_CHECK;
/* A build_opts.bytes callback: arg is the struct progress. */
void progress_update(void *arg, const struct build_progress *bp);
/* Erases the bars (the caller prints the summary after it). */
void progress_finish(struct progress *pg);
void progress_free(struct progress *pg);

#endif
