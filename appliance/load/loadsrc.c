/*
 * loadsrc: the sources of `barged load` resolved into bundles (see
 * loadsrc.h).  It owns the list of items and each item's part names; a
 * reader it opens owns the open part (a file or an entry of the image).
 */
#include "loadsrc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_meta.h"
#include "fileutil.h"
#include "isoread.h"
#include "loader.h"
#include "splitname.h"

#define BUNDLE_SUFFIX ".tar.zst"
/* Bounds for what one directory or image may offer. */
#define NAMES_MAX 100000

/* --- reading: parts one after the other ------------------------------------ */

struct chain {
	enum loadsrc_kind kind;
	const char *image;
	char *const *parts;
	size_t nparts, next;
	int fd;
	struct isoread_file *f;
};

static int
chain_open_next(struct chain *c, struct barge_err *err)
{
	const char *part = c->parts[c->next];

	if (c->kind == LOADSRC_ISO)
		return isoread_open(c->image, part, &c->f, err);
	if ((c->fd = open(part, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "open %s",
		               part);
	return BARGE_OK;
}

static int
chain_read(void *arg, void *buf, size_t cap, size_t *got, struct barge_err *err)
{
	struct chain *c = arg;
	ssize_t n;
	int rc;

	for (;;) {
		if (c->fd < 0 && c->f == NULL) {
			if (c->next == c->nparts) {
				*got = 0;
				return BARGE_OK;
			}
			if ((rc = chain_open_next(c, err)) != BARGE_OK)
				return rc;
		}
		if (c->f != NULL) {
			if ((rc = isoread_read(c->f, buf, cap, got, err)) != BARGE_OK)
				return rc;
		} else {
			do
				n = read(c->fd, buf, cap);
			while (n < 0 && errno == EINTR);
			if (n < 0)
				return err_sys(err, BARGE_EIO, errno, "read %s", c->parts[c->next]);
			*got = (size_t)n;
		}
		if (*got > 0)
			return BARGE_OK;
		/* This part is done: go on with the next one. */
		isoread_close(c->f);
		c->f = NULL;
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		c->next++;
	}
}

static void
chain_close(void *arg)
{
	struct chain *c = arg;

	isoread_close(c->f);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int
loadsrc_source(const struct loadsrc_item *it, struct bundle_source *out, struct barge_err *err)
{
	struct chain *c;

	if (it->error != NULL)
		return err_set(err, BARGE_EINVAL, "%s: %s", it->label, it->error);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	c->kind = it->kind;
	c->image = it->image;
	c->parts = it->parts;
	c->nparts = it->nparts;
	c->fd = -1;
	/* Standard input: one part, already open, named by the label in messages. */
	if (it->kind == LOADSRC_STDIN) {
		c->parts = &it->label;
		c->nparts = 1;
		if ((c->fd = dup(STDIN_FILENO)) < 0) {
			free(c);
			return err_sys(err, BARGE_EIO, errno, "standard input");
		}
	}
	out->read = chain_read;
	out->close = chain_close;
	out->arg = c;
	return BARGE_OK;
}

int
loadsrc_open(const struct loadsrc_item *it, struct bundle_reader **out, struct barge_err *err)
{
	struct bundle_source src;
	int rc;

	if ((rc = loadsrc_source(it, &src, err)) != BARGE_OK)
		return rc;
	return bundle_reader_open_source(&src, it->label, out, err);
}

/* --- items ---------------------------------------------------------------- */

static void
item_clear(struct loadsrc_item *it)
{
	size_t i;

	for (i = 0; i < it->nparts; i++)
		free(it->parts[i]);
	free(it->parts);
	free(it->label);
	free(it->image);
	free(it->error);
	memset(it, 0, sizeof(*it));
}

void
loadsrc_free(struct loadsrc *ls)
{
	size_t i;

	if (ls == NULL)
		return;
	for (i = 0; i < ls->n; i++)
		item_clear(&ls->items[i]);
	free(ls->items);
	ls->items = NULL;
	ls->n = 0;
}

/* Moves *it (which ls then owns) to the end of ls. */
static int
push(struct loadsrc *ls, struct loadsrc_item *it, struct barge_err *err)
{
	struct loadsrc_item *grown;

	if ((grown = realloc(ls->items, (ls->n + 1) * sizeof(*grown))) == NULL) {
		item_clear(it);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	ls->items = grown;
	ls->items[ls->n++] = *it;
	memset(it, 0, sizeof(*it));
	return BARGE_OK;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

struct part {
	const char *name;
	long num;
};

static int
part_cmp(const void *a, const void *b)
{
	long x = ((const struct part *)a)->num, y = ((const struct part *)b)->num;

	return x < y ? -1 : x > y;
}

/*
 * Finds the parts of stem among names, in order.  A set must start at 0
 * and have no gap; *why says what is wrong when it does not (and the
 * parts are then not set).  Fails only without memory.
 */
static int
parts_collect(char *const *names, size_t n, const char *stem, size_t stemlen, char ***out,
              size_t *nout, char **why, struct barge_err *err)
{
	struct part *ps = NULL;
	char **list = NULL;
	size_t i, np = 0, sl;
	long num;
	int rc = BARGE_OK;

	*why = NULL;
	if ((ps = calloc(n > 0 ? n : 1, sizeof(*ps))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		if (splitname_parse(names[i], &sl, &num) && sl == stemlen &&
		    strncmp(names[i], stem, stemlen) == 0) {
			ps[np].name = names[i];
			ps[np++].num = num;
		}
	qsort(ps, np, sizeof(*ps), part_cmp);
	for (i = 0; i < np; i++) {
		if (ps[i].num == (long)i)
			continue;
		if (i > 0 && ps[i].num == ps[i - 1].num)
			*why = fu_printf("part %ld appears twice (%s and %s)", ps[i].num,
			                 ps[i - 1].name, ps[i].name);
		else if (i == 0)
			*why = fu_printf("split bundle has no part000 (first part found: %s)",
			                 ps[0].name);
		else
			*why = fu_printf("split bundle has a gap: part %zu is missing, but %s "
			                 "exists",
			                 i, ps[i].name);
		if (*why == NULL)
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((list = calloc(np > 0 ? np : 1, sizeof(*list))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < np; i++)
		if ((list[i] = strdup(ps[i].name)) == NULL) {
			while (i > 0)
				free(list[--i]);
			free(list);
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
	*out = list;
	*nout = np;
out:
	free(ps);
	return rc;
}

/* --- the entries of a directory or image ------------------------------------ */

/* The regular files a directory or image offers. */
struct lentry {
	char *name; /* a full path (directory) or a name inside the image */
	int64_t size;
};

struct listing {
	struct lentry *e;
	size_t n;
};

static void
listing_free(struct listing *li)
{
	size_t i;

	for (i = 0; i < li->n; i++)
		free(li->e[i].name);
	free(li->e);
}

/* Appends name (which li then owns) and its size. */
static int
listing_add(struct listing *li, char *name, int64_t size, struct barge_err *err)
{
	struct lentry *grown;

	if (name == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if (li->n == NAMES_MAX) {
		free(name);
		return err_set(err, BARGE_ELIMIT, "more than %d files", NAMES_MAX);
	}
	if ((grown = realloc(li->e, (li->n + 1) * sizeof(*grown))) == NULL) {
		free(name);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	li->e = grown;
	li->e[li->n].name = name;
	li->e[li->n++].size = size;
	return BARGE_OK;
}

static int
lentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lentry *)a)->name, ((const struct lentry *)b)->name);
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

static int
dir_list(const char *dir, struct listing *li, struct barge_err *err)
{
	struct dirent *de;
	struct stat st;
	char *path;
	DIR *d;
	int rc = BARGE_OK;

	if ((d = opendir(dir)) == NULL)
		return err_sys(err, BARGE_EIO, errno, "open directory %s", dir);
	while ((de = readdir(d)) != NULL) {
		/* Dot files include the "._" shadows macOS leaves on FAT sticks. */
		if (de->d_name[0] == '.')
			continue;
		/* "/" lists "/name", as an argument naming a file there is spelt. */
		if ((path = fu_printf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, de->d_name)) ==
		    NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			break;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if ((rc = listing_add(li, path, (int64_t)st.st_size, err)) != BARGE_OK) {
			err_prefix(err, "%s", dir);
			break;
		}
	}
	closedir(d);
	return rc;
}

static int
iso_list(const char *image, struct listing *li, struct barge_err *err)
{
	struct isoread_entry *e = NULL;
	size_t n = 0, i;
	int rc = BARGE_OK;

	if ((rc = isoread_list(image, &e, &n, err)) != BARGE_OK)
		return rc;
	for (i = 0; i < n && rc == BARGE_OK; i++)
		if (base_name(e[i].name)[0] != '.')
			rc = listing_add(li, strdup(e[i].name), e[i].size, err);
	isoread_list_free(e, n);
	return rc;
}

/* Whether name is "<stem>.tar.zst.part<digits>"; sets *stemlen. */
static int
is_bundle_part(const char *name, size_t *stemlen)
{
	size_t sl, suf = strlen(BUNDLE_SUFFIX);
	long num;

	if (!splitname_parse(name, &sl, &num) || sl < suf ||
	    strncmp(name + sl - suf, BUNDLE_SUFFIX, suf) != 0)
		return 0;
	*stemlen = sl;
	return 1;
}

/* The bundles of a listing: every *.tar.zst, and every part set once. */
static int
listing_items(struct listing *li, const char *image, struct loadsrc *out, struct barge_err *err)
{
	struct lentry key = { NULL, 0 }, *hit;
	struct loadsrc_item it;
	char **names = NULL;
	size_t i, j, stemlen, prev_stem = 0;
	const char *name, *prev = NULL;
	int rc = BARGE_OK;

	if (li->n == 0)
		return BARGE_OK;
	qsort(li->e, li->n, sizeof(*li->e), lentry_cmp);
	if ((names = calloc(li->n, sizeof(*names))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	for (i = 0; i < li->n; i++)
		names[i] = li->e[i].name;
	for (i = 0; i < li->n && rc == BARGE_OK; i++) {
		name = names[i];
		memset(&it, 0, sizeof(it));
		it.kind = image != NULL ? LOADSRC_ISO : LOADSRC_FILES;
		if (ends_with(name, BUNDLE_SUFFIX)) {
			it.nparts = 1;
			if ((it.parts = calloc(1, sizeof(*it.parts))) == NULL ||
			    (it.parts[0] = strdup(name)) == NULL) {
				rc = err_set(err, BARGE_ENOMEM, "out of memory");
				goto item_fail;
			}
		} else if (is_bundle_part(name, &stemlen)) {
			/* Names are sorted: a set is taken once, at its first name. */
			if (prev != NULL && prev_stem == stemlen &&
			    strncmp(prev, name, stemlen) == 0)
				continue;
			prev = name;
			prev_stem = stemlen;
			if ((rc = parts_collect(names, li->n, name, stemlen, &it.parts, &it.nparts,
			                        &it.error, err)) != BARGE_OK)
				goto item_fail;
		} else {
			continue;
		}
		it.label = image != NULL ? fu_printf("%s:%s", image, name) : strdup(name);
		it.image = image != NULL ? strdup(image) : NULL;
		if (it.label == NULL || (image != NULL && it.image == NULL)) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto item_fail;
		}
		it.size = 0;
		for (j = 0; j < it.nparts; j++) {
			key.name = it.parts[j];
			if ((hit = bsearch(&key, li->e, li->n, sizeof(*li->e), lentry_cmp)) != NULL)
				it.size += hit->size;
		}
		rc = push(out, &it, err);
		continue;
	item_fail:
		item_clear(&it);
	}
	free(names);
	return rc;
}

/* --- order: full bundles first, deltas after what they need ----------------- */

struct peeked {
	struct loadsrc_item item;
	struct bundle_meta *meta; /* NULL when barge.json could not be read */
	const char **have;        /* the digests of its blobs, sorted */
};

static int
cstr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
is_delta(const struct peeked *p)
{
	return p->meta != NULL && p->meta->nrequires > 0;
}

/* Whether p brings a blob q requires. */
static int
provides(const struct peeked *p, const struct peeked *q)
{
	const char *d;
	size_t i;

	if (p->have == NULL)
		return 0;
	for (i = 0; i < q->meta->nrequires; i++) {
		d = q->meta->requires[i].digest;
		if (bsearch(&d, p->have, p->meta->nblobs, sizeof(*p->have), cstr_cmp) != NULL)
			return 1;
	}
	return 0;
}

/* Reads barge.json of an item; leaves meta NULL when it can not (the load will say why). */
static void
peek(struct peeked *p)
{
	struct bundle_reader *r = NULL;
	struct barge_err ignored;
	size_t i;

	if (p->item.error != NULL || loadsrc_open(&p->item, &r, &ignored) != BARGE_OK)
		return;
	if (loader_peek(r, p->item.label, &p->meta, &ignored) == BARGE_OK && p->meta->nblobs > 0 &&
	    (p->have = calloc(p->meta->nblobs, sizeof(*p->have))) != NULL) {
		for (i = 0; i < p->meta->nblobs; i++)
			p->have[i] = p->meta->blobs[i].digest;
		qsort(p->have, p->meta->nblobs, sizeof(*p->have), cstr_cmp);
	}
	bundle_reader_free(r);
}

/*
 * Reorders ls->items[from..]: full bundles (and unreadable ones, whose load
 * will fail with the reason) in name order, then each delta once no
 * delta still waiting brings a blob it requires.  Deltas that wait on each
 * other in a cycle go last, in name order.
 */
static int
order_items(struct loadsrc *ls, size_t from, struct barge_err *err)
{
	struct peeked *ps = NULL;
	size_t n = ls->n - from, i, j, k = from;
	int *placed = NULL, progress;

	if (n < 2)
		return BARGE_OK;
	if ((ps = calloc(n, sizeof(*ps))) == NULL ||
	    (placed = calloc(n, sizeof(*placed))) == NULL) {
		free(ps);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		ps[i].item = ls->items[from + i];
		peek(&ps[i]);
	}
	for (i = 0; i < n; i++)
		if (!is_delta(&ps[i])) {
			ls->items[k++] = ps[i].item;
			placed[i] = 1;
		}
	do {
		progress = 0;
		for (i = 0; i < n && !progress; i++) {
			if (placed[i])
				continue;
			for (j = 0; j < n; j++)
				if (j != i && !placed[j] && provides(&ps[j], &ps[i]))
					break;
			if (j < n)
				continue;
			ls->items[k++] = ps[i].item;
			placed[i] = progress = 1;
		}
	} while (progress);
	for (i = 0; i < n; i++)
		if (!placed[i])
			ls->items[k++] = ps[i].item;
	for (i = 0; i < n; i++) {
		free(ps[i].have);
		bundle_meta_free(ps[i].meta);
	}
	free(placed);
	free(ps);
	return BARGE_OK;
}

/* --- SOURCE arguments ------------------------------------------------------- */

/* Adds the bundles of a listing (a directory or an image), in load order. */
static int
add_listing(struct loadsrc *ls, struct listing *li, const char *image, const char *what,
            const char *arg, struct barge_err *err)
{
	size_t from = ls->n;
	int rc;

	if ((rc = listing_items(li, image, ls, err)) != BARGE_OK)
		return rc;
	if (ls->n == from)
		return err_set(err, BARGE_ENOTFOUND,
		               "%s: no bundle in this %s (*.tar.zst, or *.tar.zst.part000 and the "
		               "parts after it)",
		               arg, what);
	return order_items(ls, from, err);
}

/* An explicit "X.partNNN": the set it starts, from the files beside it. */
static int
add_parts(struct loadsrc *ls, const char *arg, size_t stemlen, long num, struct barge_err *err)
{
	struct lentry key = { NULL, 0 }, *hit;
	struct listing li = { NULL, 0 };
	struct loadsrc_item it;
	const char *slash = strrchr(arg, '/');
	char *dir = NULL, *stem = NULL, *why = NULL, **names = NULL;
	size_t i;
	int rc;

	memset(&it, 0, sizeof(it));
	if (num != 0)
		return err_set(err, BARGE_EINVAL,
		               "%s: not the first part of a split bundle (give %.*s.part000)", arg,
		               (int)stemlen, arg);
	/* Listed names are "<dir>/<name>", so the stem is spelt the same way. */
	dir = slash != NULL ? fu_printf("%.*s", (int)(slash - arg), arg) : strdup(".");
	stem = slash != NULL ? fu_printf("%.*s", (int)stemlen, arg)
	                     : fu_printf("./%.*s", (int)stemlen, arg);
	if (dir == NULL || stem == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = dir_list(slash == arg ? "/" : dir, &li, err)) != BARGE_OK)
		goto out;
	qsort(li.e, li.n, sizeof(*li.e), lentry_cmp);
	if ((names = calloc(li.n > 0 ? li.n : 1, sizeof(*names))) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < li.n; i++)
		names[i] = li.e[i].name;
	if ((rc = parts_collect(names, li.n, stem, strlen(stem), &it.parts, &it.nparts, &why,
	                        err)) != BARGE_OK)
		goto out;
	if (why != NULL) {
		rc = err_set(err, BARGE_EFORMAT, "%s: %s", arg, why);
		goto out;
	}
	it.kind = LOADSRC_FILES;
	it.size = 0;
	for (i = 0; i < it.nparts; i++) {
		key.name = it.parts[i];
		if ((hit = bsearch(&key, li.e, li.n, sizeof(*li.e), lentry_cmp)) != NULL)
			it.size += hit->size;
	}
	if ((it.label = strdup(arg)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	rc = push(ls, &it, err);
out:
	item_clear(&it);
	free(names);
	listing_free(&li);
	free(why);
	free(stem);
	free(dir);
	return rc;
}

/* Whether the file starts with the zstd magic: a bundle rather than an image. */
static int
starts_zstd(const char *path)
{
	static const unsigned char magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	unsigned char buf[4];
	ssize_t n = -1;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	return n == (ssize_t)sizeof(buf) && memcmp(buf, magic, sizeof(buf)) == 0;
}

int
loadsrc_add(struct loadsrc *ls, const char *arg, struct barge_err *err)
{
	struct listing li = { NULL, 0 };
	struct loadsrc_item it;
	struct stat st;
	size_t stemlen;
	long num;
	int is_iso = 0, rc;

	memset(&it, 0, sizeof(it));
	if (strcmp(arg, "-") == 0) {
		it.kind = LOADSRC_STDIN;
		it.size = -1;
		if ((it.label = strdup("standard input")) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		return push(ls, &it, err);
	}
	if (stat(arg, &st) != 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s",
		               arg);
	if (S_ISDIR(st.st_mode)) {
		if ((rc = dir_list(arg, &li, err)) == BARGE_OK)
			rc = add_listing(ls, &li, NULL, "directory", arg, err);
		listing_free(&li);
		return rc;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return err_set(err, BARGE_EINVAL,
		               "%s: not a bundle, an ISO image, a block device or a directory",
		               arg);
	if (S_ISREG(st.st_mode) && splitname_parse(arg, &stemlen, &num))
		return add_parts(ls, arg, stemlen, num, err);
	if (S_ISBLK(st.st_mode))
		is_iso = 1;
	else if (!starts_zstd(arg) && (rc = isoread_probe(arg, &is_iso, err)) != BARGE_OK)
		return rc;
	if (is_iso) {
		if ((rc = iso_list(arg, &li, err)) == BARGE_OK)
			rc = add_listing(ls, &li, arg, "image", arg, err);
		listing_free(&li);
		return rc;
	}
	it.kind = LOADSRC_FILES;
	it.size = (int64_t)st.st_size;
	it.nparts = 1;
	if ((it.label = strdup(arg)) == NULL || (it.parts = calloc(1, sizeof(*it.parts))) == NULL ||
	    (it.parts[0] = strdup(arg)) == NULL) {
		item_clear(&it);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	return push(ls, &it, err);
}
