/*
 * import: the watcher thread that loads bundles appearing in watched
 * directories (import.h).  Owns the thread, its inotify descriptor and
 * watches, the mount-table descriptor, the stop pipe and the candidate
 * list; it reports through the log callbacks of its options.
 */
#include "import.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "digest.h"
#include "fileutil.h"
#include "loader.h"
#include "loadsrc.h"
#include "logcb.h"
#include "splitname.h"
#include "store.h"

#define WATCH_MASK                                                                               \
	(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | \
	 IN_ONLYDIR)

enum cand_kind { CAND_BUNDLE, CAND_PARTS, CAND_ISO };

/* What says a file (or part set) changed. */
struct fp {
	int64_t size;
	int64_t mtime_ns;
	int64_t n; /* parts, or 1 */
};

struct cand {
	char *path;
	enum cand_kind kind;
	struct fp seen;        /* at the last look */
	struct timespec since; /* when seen last changed */
	struct fp done;        /* when last taken */
	int taken, present;
};

struct import {
	char *data_dir;
	char **watch;
	size_t nwatch;
	struct loader_opts load; /* the options given, with the import's signature rule */
	void (*on_result)(void *, const char *);
	void *on_result_arg;
	void (*on_event)(void *, const char *, const char *, const char *);
	void *on_event_arg;
	unsigned settle_ms;
	void (*log_error)(const char *);
	void (*log_warn)(const char *);
	void (*log_info)(const char *);

	int ino;     /* inotify */
	int mounts;  /* /proc/self/mounts: POLLPRI when the mount table changes */
	int stop[2]; /* a byte in stop[1] ends the thread */
	pthread_t thread;

	int wds[IMPORT_WATCH_MAX];
	size_t nwds;
	int full_warned, cand_warned, scan_warned; /* each limit is logged once */
	size_t scanned;                            /* directories read by the scan under way */
	struct cand *c;
	size_t nc;
};

/* --- names ----------------------------------------------------------------- */

static int
ends_with(const char *s, const char *suffix, int icase)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n < m)
		return 0;
	return icase ? strcasecmp(s + n - m, suffix) == 0 : strcmp(s + n - m, suffix) == 0;
}

/* The kind of a file name worth importing, or -1. */
static int
cand_kind_of(const char *name)
{
	size_t stemlen;
	long num;

	if (name[0] == '.')
		return -1;
	if (ends_with(name, ".tar.zst", 0))
		return CAND_BUNDLE;
	if (ends_with(name, ".iso", 1))
		return CAND_ISO;
	if (splitname_parse(name, &stemlen, &num) && num == 0 && stemlen > 8 &&
	    strncmp(name + stemlen - 8, ".tar.zst", 8) == 0)
		return CAND_PARTS;
	return -1;
}

/* --- part sets --------------------------------------------------------------- */

/* The directory of path ("." for none) and the stem of its part name; caller frees both. */
static int
split_path(const char *part000, char **dir, char **stem)
{
	const char *slash = strrchr(part000, '/'), *base = slash != NULL ? slash + 1 : part000;
	size_t stemlen;
	long num;

	if (!splitname_parse(base, &stemlen, &num) || num != 0)
		return -1;
	*dir = slash == NULL      ? strdup(".")
	       : slash == part000 ? strdup("/")
	                          : fu_printf("%.*s", (int)(slash - part000), part000);
	*stem = fu_printf("%.*s", (int)stemlen, base);
	if (*dir == NULL || *stem == NULL) {
		free(*dir);
		free(*stem);
		return -1;
	}
	return 0;
}

/*
 * With a parts list: whether every part it lists is there at its size.
 * Returns -1 when the list is absent or unusable (then the numbering rule
 * decides), else 1 or 0.
 */
static int
list_ready(const char *dir, const char *stem, char **why)
{
	char *path = fu_printf("%s/%s%s", dir, stem, SPLITNAME_LIST_SUFFIX), *buf = NULL,
	     *file = NULL;
	json_t *root = NULL, *parts, *p, *f, *sz;
	struct barge_err err = { 0 };
	struct stat sb;
	size_t len, i;
	int rc = -1;

	if (path == NULL || fu_read_file(path, IMPORT_PARTS_JSON_MAX, &buf, &len, &err) != BARGE_OK)
		goto out;
	if ((root = json_loadb(buf, len, 0, NULL)) == NULL ||
	    !json_is_array(parts = json_object_get(root, "parts")) || json_array_size(parts) == 0)
		goto out;
	json_array_foreach(parts, i, p)
	{
		f = json_object_get(p, "file");
		sz = json_object_get(p, "size");
		/* Names in the list stay beside it: no path at all. */
		if (!json_is_string(f) || !json_is_integer(sz) ||
		    strchr(json_string_value(f), '/') || json_string_value(f)[0] == '.')
			goto out;
	}
	rc = 1;
	json_array_foreach(parts, i, p)
	{
		free(file);
		file = fu_printf("%s/%s", dir, json_string_value(json_object_get(p, "file")));
		if (file == NULL || stat(file, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			if (why != NULL)
				*why = fu_printf("%s is not there yet",
				                 json_string_value(json_object_get(p, "file")));
			rc = 0;
			break;
		}
		if (sb.st_size != json_integer_value(json_object_get(p, "size"))) {
			if (why != NULL)
				*why = fu_printf(
				        "%s has %lld of %lld bytes",
				        json_string_value(json_object_get(p, "file")),
				        (long long)sb.st_size,
				        (long long)json_integer_value(json_object_get(p, "size")));
			rc = 0;
			break;
		}
	}
out:
	free(file);
	json_decref(root);
	free(buf);
	free(path);
	return rc;
}

/* Calls fn for each "<stem>.partN" in dir; returns the number found. */
static size_t
parts_each(const char *dir, const char *stem,
           void (*fn)(const char *dir, const char *name, long n, void *arg), void *arg)
{
	size_t stemlen = strlen(stem), sl, found = 0;
	struct dirent *de;
	DIR *d;
	long n;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, stem, stemlen) != 0 ||
		    !splitname_parse(de->d_name, &sl, &n) || sl != stemlen)
			continue;
		found++;
		if (fn != NULL)
			fn(dir, de->d_name, n, arg);
	}
	closedir(d);
	return found;
}

struct numbering {
	long max;
	size_t count;
};

static void
numbering_add(const char *dir, const char *name, long n, void *arg)
{
	struct numbering *nb = arg;

	(void)dir;
	(void)name;
	if (n > nb->max)
		nb->max = n;
	nb->count++;
}

int
import_parts_ready(const char *part000, char **why)
{
	struct numbering nb = { -1, 0 };
	char *dir = NULL, *stem = NULL;
	int rc;

	if (why != NULL)
		*why = NULL;
	if (split_path(part000, &dir, &stem) != 0)
		return 0;
	if ((rc = list_ready(dir, stem, why)) < 0) {
		(void)parts_each(dir, stem, numbering_add, &nb);
		/* Names are unique in a directory, so count == max + 1 means 0..max, no gap. */
		rc = nb.max >= 0 && nb.count == (size_t)nb.max + 1;
		if (!rc && why != NULL)
			*why = fu_printf("parts 0 to %ld with %zu present: one is missing", nb.max,
			                 nb.count);
	}
	free(dir);
	free(stem);
	return rc;
}

/* --- fingerprints ------------------------------------------------------------- */

static void
fp_add(struct fp *fp, const struct stat *sb)
{
	int64_t t = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;

	fp->size += sb->st_size;
	if (t > fp->mtime_ns)
		fp->mtime_ns = t;
	fp->n++;
}

static void
fp_part(const char *dir, const char *name, long n, void *arg)
{
	char *path = fu_printf("%s/%s", dir, name);
	struct stat sb;

	(void)n;
	if (path != NULL && stat(path, &sb) == 0)
		fp_add(arg, &sb);
	free(path);
}

/* The candidate's fingerprint now; -1 when it is gone. */
static int
fp_get(const struct cand *c, struct fp *fp)
{
	char *dir = NULL, *stem = NULL, *list;
	struct stat sb;

	memset(fp, 0, sizeof(*fp));
	if (stat(c->path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return -1;
	if (c->kind != CAND_PARTS) {
		fp_add(fp, &sb);
		return 0;
	}
	if (split_path(c->path, &dir, &stem) != 0)
		return -1;
	(void)parts_each(dir, stem, fp_part, fp);
	if ((list = fu_printf("%s/%s%s", dir, stem, SPLITNAME_LIST_SUFFIX)) != NULL &&
	    stat(list, &sb) == 0) {
		fp_add(fp, &sb);
	}
	free(list);
	free(dir);
	free(stem);
	return 0;
}

static int
fp_eq(const struct fp *a, const struct fp *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->n == b->n;
}

/* --- scanning ---------------------------------------------------------------- */

static void
watch_dir(struct import *im, const char *path)
{
	size_t i;
	int wd;

	if ((wd = inotify_add_watch(im->ino, path, WATCH_MASK)) < 0)
		return;
	for (i = 0; i < im->nwds; i++)
		if (im->wds[i] == wd)
			return;
	if (im->nwds == IMPORT_WATCH_MAX) {
		(void)inotify_rm_watch(im->ino, wd);
		if (!im->full_warned)
			logcb_printf(im->log_warn,
			             "import: more than %d directories to watch; %s and others are "
			             "only scanned every %d s",
			             IMPORT_WATCH_MAX, path, IMPORT_RESCAN_S);
		im->full_warned = 1;
		return;
	}
	im->wds[im->nwds++] = wd;
}

static void
cand_seen(struct import *im, const char *path, enum cand_kind kind)
{
	struct cand *c;
	size_t i;

	for (i = 0; i < im->nc; i++)
		if (strcmp(im->c[i].path, path) == 0) {
			im->c[i].present = 1;
			return;
		}
	if (im->nc == IMPORT_CAND_MAX) {
		if (!im->cand_warned)
			logcb_printf(
			        im->log_warn,
			        "import: more than %d files to look after; %s and others are left "
			        "alone",
			        IMPORT_CAND_MAX, path);
		im->cand_warned = 1;
		return;
	}
	if ((c = realloc(im->c, (im->nc + 1) * sizeof(*c))) == NULL)
		return;
	im->c = c;
	c = &im->c[im->nc];
	memset(c, 0, sizeof(*c));
	if ((c->path = strdup(path)) == NULL)
		return;
	c->kind = kind;
	c->present = 1;
	/* A fingerprint that matches nothing: the first look starts the settle time. */
	c->seen.n = -1;
	im->nc++;
}

static void
scan_dir(struct import *im, const char *path, int depth)
{
	struct dirent *de;
	struct stat sb;
	char *sub;
	DIR *d;
	int kind;

	/* A big tree mounted under /mnt is not walked whole every few seconds. */
	if (im->scanned == IMPORT_SCAN_DIRS_MAX) {
		if (!im->scan_warned)
			logcb_printf(im->log_warn,
			             "import: more than %d directories under the watched ones; the "
			             "rest are not looked at",
			             IMPORT_SCAN_DIRS_MAX);
		im->scan_warned = 1;
		return;
	}
	im->scanned++;
	watch_dir(im, path);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((sub = fu_printf("%s/%s", path, de->d_name)) == NULL)
			break;
		/* lstat: links are not followed, so no loop and no escape from the tree. */
		if (lstat(sub, &sb) == 0) {
			if (S_ISDIR(sb.st_mode) && depth < IMPORT_DEPTH)
				scan_dir(im, sub, depth + 1);
			else if (S_ISREG(sb.st_mode) && (kind = cand_kind_of(de->d_name)) >= 0)
				cand_seen(im, sub, (enum cand_kind)kind);
		}
		free(sub);
	}
	closedir(d);
}

static void
rescan(struct import *im)
{
	struct stat sb;
	size_t i, j;

	for (i = 0; i < im->nc; i++)
		im->c[i].present = 0;
	im->scanned = 0;
	for (i = 0; i < im->nwatch; i++)
		if (stat(im->watch[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			scan_dir(im, im->watch[i], 0);
	/* Forget what went away: a stick plugged in again is looked at again. */
	for (i = j = 0; i < im->nc; i++) {
		if (im->c[i].present)
			im->c[j++] = im->c[i];
		else
			free(im->c[i].path);
	}
	im->nc = j;
}

/* --- importing ------------------------------------------------------------------ */

/* Counts an outcome and tells it in words: a summary line made of fmt, and detail (may be NULL). */
static void __attribute__((format(printf, 4, 5)))
count(struct import *im, const char *result, const char *detail, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (im->on_result != NULL)
		im->on_result(im->on_result_arg, result);
	if (im->on_event == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	im->on_event(im->on_event_arg, "load", line, detail);
}

struct find {
	const char *digest;
	char name[256];
	char version[128];
	int found;
};

static int
find_digest(const struct store_bundle *b, void *arg)
{
	struct find *f = arg;

	if (strcmp(b->digest, f->digest) != 0)
		return 0;
	snprintf(f->name, sizeof(f->name), "%s", b->name);
	snprintf(f->version, sizeof(f->version), "%s", b->version);
	f->found = 1;
	return 1;
}

/*
 * Whether the store already has the bundle it names, by its barge.json's
 * digest, read from the start of the stream only.  Errors say "no": the
 * loader then reports them properly.
 */
static int
already_loaded(struct store *s, const struct loadsrc_item *it, struct find *f)
{
	struct bundle_reader *r = NULL;
	struct barge_err err = { 0 };
	char digest[DIGEST_STR_MAX], *buf = NULL;
	const char *name;
	int64_t size;
	size_t len;

	memset(f, 0, sizeof(*f));
	if (loadsrc_open(it, &r, &err) == BARGE_OK &&
	    bundle_reader_next(r, &name, &size, &err) == BARGE_OK &&
	    strcmp(name, "barge.json") == 0 &&
	    bundle_reader_slurp(r, BUNDLE_META_MAX, &buf, &len, &err) == BARGE_OK &&
	    digest_buf(DIGEST_SHA256, buf, len, digest, &err) == BARGE_OK) {
		f->digest = digest;
		if (store_list_bundles(s, find_digest, f, &err) != BARGE_OK)
			f->found = 0;
		f->digest = NULL;
	}
	free(buf);
	bundle_reader_free(r);
	return f->found;
}

static void
import_item(struct import *im, struct store *s, const struct loadsrc_item *it)
{
	struct bundle_reader *r = NULL;
	struct loader_result res;
	struct barge_err err = { 0 };
	struct find f;
	int rc;

	if (it->error != NULL) {
		logcb_printf(im->log_error, "import: %s: %s", it->label, it->error);
		count(im, "failed", it->error, "import: %s refused", it->label);
		return;
	}
	if (already_loaded(s, it, &f)) {
		logcb_printf(im->log_info, "import: %s: %s %s is already loaded; skipped",
		             it->label, f.name, f.version);
		count(im, "skipped", it->label, "import: %s %s is already loaded; skipped", f.name,
		      f.version);
		return;
	}
	rc = loadsrc_open(it, &r, &err);
	if (rc == BARGE_OK)
		rc = loader_load_reader(s, r, it->label, &im->load, &res, &err);
	bundle_reader_free(r);
	if (rc != BARGE_OK) {
		logcb_printf(im->log_error, "import: %s refused: %s", it->label, err.msg);
		count(im, "failed", err.msg, "import: %s refused", it->label);
		return;
	}
	logcb_printf(
	        im->log_info,
	        "import: loaded %s %s from %s: %zu images, %zu blobs (%zu new), %lld bytes%s%s%s",
	        res.name, res.version, it->label, res.images, res.blobs_new + res.blobs_present,
	        res.blobs_new, (long long)res.bytes, res.reloaded ? " (again)" : "",
	        res.signer[0] != '\0' ? ", signed by " : "", res.signer);
	count(im, res.reloaded ? "skipped" : "ok", res.digest, "import: loaded %s %s from %s%s",
	      res.name, res.version, it->label, res.reloaded ? " (again)" : "");
}

static void
import_cand(struct import *im, const struct cand *c)
{
	struct loadsrc ls = { NULL, 0 };
	struct barge_err err = { 0 };
	struct store *s = NULL;
	size_t i;

	if (loadsrc_add(&ls, c->path, &err) != BARGE_OK) {
		logcb_printf(im->log_error, "import: %s", err.msg);
		count(im, "failed", err.msg, "import: %s refused", c->path);
		goto out;
	}
	if (store_open(im->data_dir, &s, &err) != BARGE_OK) {
		logcb_printf(im->log_error, "import: %s: the store: %s", c->path, err.msg);
		count(im, "failed", err.msg, "import: %s: the store failed", c->path);
		goto out;
	}
	for (i = 0; i < ls.n; i++)
		import_item(im, s, &ls.items[i]);
out:
	store_close(s);
	loadsrc_free(&ls);
}

static int64_t
ms_since(const struct timespec *t0, const struct timespec *now)
{
	return (int64_t)(now->tv_sec - t0->tv_sec) * 1000 + (now->tv_nsec - t0->tv_nsec) / 1000000;
}

/* Takes what has settled; returns whether something is still settling. */
static int
take_settled(struct import *im)
{
	struct timespec now;
	struct fp fp;
	char *why = NULL;
	size_t i;
	int settling = 0;

	for (i = 0; i < im->nc; i++) {
		struct cand *c = &im->c[i];

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (fp_get(c, &fp) != 0)
			continue;
		if (!fp_eq(&fp, &c->seen)) {
			c->seen = fp;
			c->since = now;
			settling = 1;
			continue;
		}
		if (c->taken && fp_eq(&fp, &c->done))
			continue;
		if (ms_since(&c->since, &now) < (int64_t)im->settle_ms) {
			settling = 1;
			continue;
		}
		if (c->kind == CAND_PARTS && !import_parts_ready(c->path, &why)) {
			/* Not taken: a part arriving changes the fingerprint and it settles again.
			 */
			logcb_printf(im->log_info,
			             "import: %s: waiting for the rest of the parts: %s", c->path,
			             why != NULL ? why : "");
			free(why);
			why = NULL;
			c->done = fp;
			c->taken = 1;
			continue;
		}
		c->done = fp;
		c->taken = 1;
		import_cand(im, c);
	}
	return settling;
}

static int
drain_events(struct import *im)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	size_t i, j;
	ssize_t n;
	char *p;
	int any = 0;

	while ((n = read(im->ino, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			any = 1;
			if ((ev->mask & IN_IGNORED) == 0)
				continue;
			for (i = j = 0; i < im->nwds; i++)
				if (im->wds[i] != ev->wd)
					im->wds[j++] = im->wds[i];
			im->nwds = j;
		}
	}
	return any;
}

static void *
import_run(void *arg)
{
	struct import *im = arg;
	struct pollfd pfd[3];
	struct timespec last, now;
	int settling, dirty = 1, n;

	clock_gettime(CLOCK_MONOTONIC, &last);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (dirty || ms_since(&last, &now) >= IMPORT_RESCAN_S * 1000) {
			rescan(im);
			last = now;
			dirty = 0;
		}
		settling = take_settled(im);
		pfd[0] = (struct pollfd){ .fd = im->stop[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = im->ino, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = im->mounts, .events = POLLPRI };
		n = poll(pfd, im->mounts >= 0 ? 3 : 2, settling ? 200 : 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (pfd[0].revents != 0)
			break;
		if ((pfd[1].revents & POLLIN) != 0 && drain_events(im))
			dirty = 1;
		/* A mount appeared or went: a stick mounted over a watched directory. */
		if (im->mounts >= 0 && (pfd[2].revents & (POLLPRI | POLLERR)) != 0)
			dirty = 1;
	}
	return NULL;
}

/* --- life ------------------------------------------------------------------------- */

/* Logs each tag an import moved or kept (the loader's callback). */
static void
log_tag_moved(void *arg, const struct loader_tag_move *m)
{
	struct import *im = arg;
	char by[400];

	if (m->old_name[0] != '\0')
		snprintf(by, sizeof(by), "bundle %s %s", m->old_name, m->old_version);
	else
		snprintf(by, sizeof(by), "no bundle: pushed");
	if (m->kept)
		logcb_printf(im->log_warn,
		             "import: tag %s:%s kept on %s (set by %s), not moved to %s",
		             m->repository, m->tag, m->old_digest, by, m->new_digest);
	else
		logcb_printf(im->log_info, "import: tag %s:%s moved from %s (set by %s) to %s",
		             m->repository, m->tag, m->old_digest, by, m->new_digest);
}

/*
 * The import's loader options: those given, with unsigned bundles refused
 * as the signature rule says (import.h), and the rule logged once.
 */
static int
import_policy(struct import *im, const struct import_opts *o, struct barge_err *err)
{
	struct loader_opts *l = &im->load;

	if (o->load != NULL)
		*l = *o->load;
	l->progress = NULL;
	l->tag_moved = log_tag_moved;
	l->tag_moved_arg = im;
	if (o->signature == IMPORT_SIGNATURE_REQUIRED && l->nkeys == 0)
		return err_set(
		        err, BARGE_EINVAL,
		        "import.require_signature is true, but no trusted key is configured");
	if (o->signature == IMPORT_SIGNATURE_REQUIRED ||
	    (o->signature == IMPORT_SIGNATURE_AUTO && l->nkeys > 0))
		l->require_signature = 1;
	if (l->require_signature)
		logcb_printf(im->log_info,
		             "import: only bundles signed by a trusted key are imported");
	else if (o->signature == IMPORT_SIGNATURE_LOADER)
		logcb_printf(im->log_warn, "import: unsigned bundles are imported "
		                           "(import.require_signature: false)");
	else
		logcb_printf(im->log_warn, "import: unsigned bundles are imported: no trusted key "
		                           "is configured");
	return BARGE_OK;
}

static void
import_free(struct import *im)
{
	size_t i;

	if (im == NULL)
		return;
	for (i = 0; i < im->nwatch; i++)
		free(im->watch[i]);
	free(im->watch);
	for (i = 0; i < im->nc; i++)
		free(im->c[i].path);
	free(im->c);
	if (im->ino >= 0)
		close(im->ino);
	if (im->mounts >= 0)
		close(im->mounts);
	if (im->stop[0] >= 0)
		close(im->stop[0]);
	if (im->stop[1] >= 0)
		close(im->stop[1]);
	free(im->data_dir);
	free(im);
}

int
import_start(const struct import_opts *o, struct import **out, struct barge_err *err)
{
	struct import *im;
	size_t i;
	int rc;

	if ((im = calloc(1, sizeof(*im))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	im->ino = im->mounts = im->stop[0] = im->stop[1] = -1;
	im->on_result = o->on_result;
	im->on_result_arg = o->on_result_arg;
	im->on_event = o->on_event;
	im->on_event_arg = o->on_event_arg;
	im->settle_ms = o->settle_ms != 0 ? o->settle_ms : IMPORT_SETTLE_MS;
	im->log_error = o->log_error;
	im->log_warn = o->log_warn;
	im->log_info = o->log_info;
	if ((rc = import_policy(im, o, err)) != BARGE_OK)
		goto fail;
	if ((im->data_dir = strdup(o->data_dir)) == NULL ||
	    (o->nwatch > 0 && (im->watch = calloc(o->nwatch, sizeof(*im->watch))) == NULL)) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < o->nwatch; i++, im->nwatch++)
		if ((im->watch[i] = strdup(o->watch[i])) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto fail;
		}
	if ((im->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		rc = err_sys(err, BARGE_EIO, errno, "inotify");
		goto fail;
	}
	if (pipe2(im->stop, O_CLOEXEC) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "pipe");
		goto fail;
	}
	/* Without it, mounts are still seen by the periodic rescan. */
	im->mounts = open("/proc/self/mounts", O_RDONLY | O_CLOEXEC);
	if ((rc = pthread_create(&im->thread, NULL, import_run, im)) != 0) {
		rc = err_sys(err, BARGE_EIO, rc, "starting the import thread");
		goto fail;
	}
	*out = im;
	return BARGE_OK;
fail:
	import_free(im);
	return rc;
}

void
import_stop(struct import *im)
{
	char b = 0;

	if (im == NULL)
		return;
	if (write(im->stop[1], &b, 1) != 1)
		logcb_printf(im->log_warn, "import: cannot signal the import thread to stop");
	pthread_join(im->thread, NULL);
	import_free(im);
}
