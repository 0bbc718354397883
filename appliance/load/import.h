/*
 * import: loads the bundles that appear in watched directories (USB
 * sticks mounted under /media, an installer's /mnt), on a thread of its
 * own while barged serves.
 *
 * The watched directories and their subdirectories, down to IMPORT_DEPTH
 * levels (a stick mounted at /media/USER/LABEL is two down), are scanned at
 * start and again whenever inotify reports a file written, moved in or
 * created there, whenever the mount table changes, and every
 * IMPORT_RESCAN_S seconds (a watched directory that did not exist yet).
 * Candidates are *.tar.zst, *.tar.zst.part000 (a split bundle) and *.iso
 * (every bundle in the image); hidden names are ignored.
 *
 * A candidate is taken once it has settled: its size and modification
 * time (for a part set: of every part and of its parts list) unchanged
 * for the settle time.  A part set must also be complete: with a parts
 * list (BUNDLE.split.json, written by `barge split`) every listed part is
 * present with its listed size; without one, its parts are numbered 000 to
 * N without a gap.  Then each bundle it holds is checked against the store
 * by the digest of its barge.json: one the store already has is skipped
 * without reading further; others are loaded with the loader options, one
 * at a time (the loader takes the GC lock).
 *
 * Signatures: a stick is the easiest way to bring a bundle in unseen, so
 * by default (IMPORT_SIGNATURE_AUTO) an import refuses an unsigned bundle
 * whenever trusted keys are configured, even where `barged load` and
 * uploads would take it.  IMPORT_SIGNATURE_REQUIRED refuses unsigned
 * bundles always (and needs a trusted key); IMPORT_SIGNATURE_LOADER
 * follows the loader options alone.  Every tag an import moves or keeps
 * is logged.
 *
 * Whatever the outcome, the candidate is not taken again until its
 * fingerprint (size and mtime) changes, so a corrupt bundle is refused
 * once, not in a loop.  Each outcome is one line to the injected loggers
 * and counts in
 * barged_imports_total{result="ok|failed|skipped"}; loaded bundles are in
 * the store's bundles table (`barged ls bundles`).
 *
 * Bounds: at most IMPORT_WATCH_MAX inotify watches, IMPORT_CAND_MAX
 * candidates and IMPORT_SCAN_DIRS_MAX directories read per scan; the rest
 * are left alone (each limit is logged once).
 *
 * The import borrows its options (the loader policy and the result
 * callback's argument must outlive it); it keeps its own copies of the paths.
 */
#ifndef BARGE_IMPORT_H
#define BARGE_IMPORT_H

#include <stddef.h>

#include "err.h"

struct loader_opts;

#define IMPORT_DEPTH          3    /* subdirectory levels watched below each directory */
#define IMPORT_WATCH_MAX      1024 /* inotify watches at most */
#define IMPORT_CAND_MAX       4096 /* files tracked at most */
#define IMPORT_SCAN_DIRS_MAX  4096 /* directories read by one scan at most */
#define IMPORT_SETTLE_MS      2000 /* default settle time */
#define IMPORT_RESCAN_S       10   /* full rescan at least this often */
#define IMPORT_PARTS_JSON_MAX (1024 * 1024)

/* import.require_signature: auto, true, false. */
enum import_signature {
	IMPORT_SIGNATURE_AUTO,     /* required when trusted keys are configured */
	IMPORT_SIGNATURE_REQUIRED, /* always required; a trusted key must exist */
	IMPORT_SIGNATURE_LOADER    /* as the loader options say (load.require_signature) */
};

struct import_opts {
	const char *data_dir;
	char *const *watch; /* the directories; absent ones are looked for again later */
	size_t nwatch;
	const struct loader_opts *load; /* keys, policies; NULL: defaults */
	enum import_signature signature;
	/* Told each bundle's outcome: "ok", "failed" or "skipped"; NULL: nobody. */
	void (*on_result)(void *arg, const char *result);
	void *on_result_arg;
	/*
	 * Told each bundle's outcome in words: kind "load", a summary line and
	 * the detail (the loader's error, or the bundle's digest); NULL: nobody.
	 * From the thread.
	 */
	void (*on_event)(void *arg, const char *kind, const char *summary, const char *detail);
	void *on_event_arg;
	unsigned settle_ms; /* 0: IMPORT_SETTLE_MS */
	/* Each told one line (outcomes, limits met); NULL: nobody.  From the thread. */
	void (*log_error)(const char *msg);
	void (*log_warn)(const char *msg);
	void (*log_info)(const char *msg);
};

struct import;

/*
 * Starts the watcher thread.  BARGE_EINVAL when IMPORT_SIGNATURE_REQUIRED
 * has no trusted key to check against.
 */
int import_start(const struct import_opts *o, struct import **out,
                 struct barge_err *err) BARGE_MUST_CHECK;
/* Stops the thread (after the load in progress, if any) and frees im.  Accepts NULL. */
void import_stop(struct import *im);

/*
 * Whether the part set whose first part is part000 (a path ending in
 * ".partNNN" with NNN all zeros) is complete, by the rule above: 1 yes,
 * 0 not yet.  *why (caller frees, may be NULL) says what is missing.
 */
int import_parts_ready(const char *part000, char **why);

#endif
