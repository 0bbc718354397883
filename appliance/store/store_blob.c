/*
 * store_blob: the store's blob files.  Owns DIR/blobs/<alg>/<2 hex>/<hex>
 * (placing a verified file there durably, opening, sizing, walking the
 * tree) and DIR/tmp/ (the writers' temporary files and their cleanup).
 * Never touches the database: the loader commits blobs on a helper thread
 * (store.h).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "store_int.h"

#define STORE_TMP_PREFIX "blob-"

/* Only a digest that digest_parse accepted becomes a path, so it can not leave the store. */
int
blob_path(const struct store *s, const char *digest, char **out, struct barge_err *err)
{
	const char *hex = NULL;
	char *p;
	int rc;

	if ((rc = digest_parse(digest, NULL, &hex, err)) != BARGE_OK)
		return rc;
	p = fu_printf("%s/blobs/%.*s/%.2s/%s", s->dir, (int)(hex - 1 - digest), digest, hex, hex);
	if (p == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	*out = p;
	return BARGE_OK;
}

static int
fsync_dir(const char *path, struct barge_err *err)
{
	int fd, rc = BARGE_OK;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys(err, BARGE_EIO, errno, "open %s", path);
	if (fsync(fd) != 0)
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", path);
	close(fd);
	return rc;
}

/* mkdir path; when it is new, fsyncs its parent so the entry survives a crash. */
static int
mkdir_durable(char *path, struct barge_err *err)
{
	char *slash;
	int rc;

	if (mkdir(path, STORE_DIR_MODE) != 0) {
		if (errno == EEXIST)
			return BARGE_OK;
		return err_sys(err, BARGE_EIO, errno, "mkdir %s", path);
	}
	slash = strrchr(path, '/');
	if (slash == NULL || slash == path)
		return BARGE_OK;
	*slash = '\0';
	rc = fsync_dir(path, err);
	*slash = '/';
	return rc;
}

int
blob_place(struct store *s, const char *src, const char *digest, struct barge_err *err)
{
	struct stat st;
	char *final = NULL, *dir = NULL;
	int rc;

	if ((rc = blob_path(s, digest, &final, err)) != BARGE_OK)
		return rc;
	/* Content addressed: a blob already in place has these very bytes. */
	if (stat(final, &st) == 0 && S_ISREG(st.st_mode)) {
		unlink(src);
		goto out;
	}
	if ((dir = strdup(final)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	/* dir is DIR/blobs/<alg>/<2 hex>: make <alg>, then <2 hex>. */
	*strrchr(dir, '/') = '\0';
	*strrchr(dir, '/') = '\0';
	if ((rc = mkdir_durable(dir, err)) != BARGE_OK)
		goto out;
	dir[strlen(dir)] = '/';
	if ((rc = mkdir_durable(dir, err)) != BARGE_OK)
		goto out;
	if (rename(src, final) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "rename %s to %s", src, final);
		goto out;
	}
	rc = fsync_dir(dir, err);
out:
	free(final);
	free(dir);
	return rc;
}

/*
 * A live writer holds an exclusive flock on its file for its whole life
 * (also across processes: `barged load` runs beside `barged serve`), so
 * only files nobody holds go.
 */
void
blob_tmp_clean(struct store *s)
{
	struct dirent *de;
	char *path;
	DIR *d;
	int fd;

	if ((d = opendir(s->tmp_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX)) != 0)
			continue;
		if ((path = fu_printf("%s/%s", s->tmp_dir, de->d_name)) == NULL)
			break;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlink(path);
		if (fd >= 0)
			close(fd);
		free(path);
	}
	closedir(d);
}

/* --- writers and readers ---------------------------------------------------- */

/*
 * Creates a locked temp file.  The lock is taken after the file exists, so a
 * blob_tmp_clean in another process may unlink it in between; then the file has
 * no name left and we make another.
 */
static int
tmp_create(struct store *s, char **path, int *fd, struct barge_err *err)
{
	struct stat st;
	char *p = NULL;
	int f = -1, tries;

	for (tries = 0; tries < 8; tries++) {
		if ((p = fu_printf("%s/" STORE_TMP_PREFIX "XXXXXX", s->tmp_dir)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if ((f = mkostemp(p, O_CLOEXEC)) < 0) {
			err_sys(err, BARGE_EIO, errno, "create temporary file in %s", s->tmp_dir);
			free(p);
			return BARGE_EIO;
		}
		if (flock(f, LOCK_EX) != 0 || fstat(f, &st) != 0) {
			err_sys(err, BARGE_EIO, errno, "lock %s", p);
			unlink(p);
			close(f);
			free(p);
			return BARGE_EIO;
		}
		if (st.st_nlink > 0) {
			if (fchmod(f, STORE_FILE_MODE) != 0) {
				err_sys(err, BARGE_EIO, errno, "chmod %s", p);
				unlink(p);
				close(f);
				free(p);
				return BARGE_EIO;
			}
			*path = p;
			*fd = f;
			return BARGE_OK;
		}
		close(f);
		free(p);
	}
	return err_set(err, BARGE_EIO, "%s: temporary files keep disappearing", s->tmp_dir);
}

int
store_blob_begin(struct store *s, const char *digest, int64_t size, struct store_blob_writer **out,
                 struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	int rc;

	if ((rc = digest_parse(digest, NULL, NULL, err)) != BARGE_OK)
		return rc;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	w->s = s;
	w->fd = -1;
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	if ((rc = tmp_create(s, &w->tmp_path, &w->fd, err)) != BARGE_OK)
		goto fail;
	if ((rc = digest_writer_new(w->fd, digest, size, &w->dw, err)) != BARGE_OK)
		goto fail;
	*out = w;
	return BARGE_OK;
fail:
	store_blob_abort(w);
	return rc;
}

int
store_blob_begin_unknown(struct store *s, enum digest_alg alg, struct store_blob_writer **out,
                         struct barge_err *err)
{
	struct store_blob_writer *w = NULL;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	w->s = s;
	w->fd = -1;
	/* Names the blob in errors until its digest is known. */
	snprintf(w->digest, sizeof(w->digest), "being hashed");
	if ((rc = tmp_create(s, &w->tmp_path, &w->fd, err)) != BARGE_OK ||
	    (rc = digest_new(alg, &w->dc, err)) != BARGE_OK)
		goto fail;
	*out = w;
	return BARGE_OK;
fail:
	store_blob_abort(w);
	return rc;
}

int
store_blob_write(struct store_blob_writer *w, const void *buf, size_t len, struct barge_err *err)
{
	int rc;

	if (w->dc == NULL)
		rc = digest_writer_write(w->dw, buf, len, err);
	else if ((rc = digest_update(w->dc, buf, len, err)) == BARGE_OK)
		rc = fu_write_all(w->fd, buf, len, err);
	if (rc != BARGE_OK)
		return err_prefix(err, "blob %s", w->digest);
	return BARGE_OK;
}

int
store_blob_verify(struct store_blob_writer *w, struct barge_err *err)
{
	int rc;

	if (w->verified)
		return BARGE_OK;
	if (w->dw == NULL)
		return err_set(err, BARGE_EINTERNAL, "blob %s: a writer of unknown digest",
		               w->digest);
	if ((rc = digest_writer_finish(w->dw, err)) != BARGE_OK)
		return err_prefix(err, "blob %s", w->digest);
	w->verified = 1;
	return BARGE_OK;
}

int
store_blob_commit(struct store_blob_writer *w, struct barge_err *err)
{
	int rc;

	if ((rc = store_blob_verify(w, err)) != BARGE_OK)
		goto out;
	if (fsync(w->fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", w->tmp_path);
		goto out;
	}
	rc = blob_place(w->s, w->tmp_path, w->digest, err);
out:
	/* After blob_place the temp name is gone and unlink is a no-op. */
	store_blob_abort(w);
	return rc;
}

int
store_blob_commit_as(struct store_blob_writer *w, char digest[DIGEST_STR_MAX], int *created,
                     struct barge_err *err)
{
	int rc;

	*created = 0;
	if (w->dc == NULL) {
		rc = err_set(err, BARGE_EINTERNAL, "blob %s: not a writer of unknown digest",
		             w->digest);
		goto out;
	}
	if ((rc = digest_final(w->dc, digest, err)) != BARGE_OK)
		goto out;
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	/* Content addressed: a blob already in place has these very bytes. */
	if (store_blob_exists(w->s, digest))
		goto out;
	if (fsync(w->fd) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "fsync %s", w->tmp_path);
		goto out;
	}
	if ((rc = blob_place(w->s, w->tmp_path, digest, err)) == BARGE_OK)
		*created = 1;
out:
	store_blob_abort(w);
	return rc;
}

void
store_blob_abort(struct store_blob_writer *w)
{
	if (w == NULL)
		return;
	digest_writer_free(w->dw);
	digest_free(w->dc);
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	if (w->fd >= 0)
		close(w->fd);
	free(w->tmp_path);
	free(w);
}

int
store_blob_reopen(struct store_blob_writer *w, int *fd, struct barge_err *err)
{
	if ((*fd = open(w->tmp_path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, BARGE_EIO, errno, "%s", w->tmp_path);
	return BARGE_OK;
}

int
store_blob_exists(struct store *s, const char *digest)
{
	struct barge_err err;
	struct stat st;
	char *path = NULL;
	int ok;

	if (blob_path(s, digest, &path, &err) != BARGE_OK)
		return 0;
	ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok;
}

int
store_blob_open(struct store *s, const char *digest, int *fd, int64_t *size, struct barge_err *err)
{
	struct stat st;
	char *path = NULL;
	int f = -1, rc;

	if ((rc = blob_path(s, digest, &path, err)) != BARGE_OK)
		return rc;
	if ((f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "blob %s",
		             digest);
		goto fail;
	}
	if (fstat(f, &st) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "stat %s", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(err, BARGE_EIO, "%s: not a regular file", path);
		goto fail;
	}
	free(path);
	*fd = f;
	*size = (int64_t)st.st_size;
	return BARGE_OK;
fail:
	if (f >= 0)
		close(f);
	free(path);
	return rc;
}

int64_t
blob_size(struct store *s, const char *digest)
{
	struct barge_err err;
	struct stat st;
	char *path = NULL;
	int64_t size = -1;

	if (blob_path(s, digest, &path, &err) != BARGE_OK)
		return -1;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		size = (int64_t)st.st_size;
	free(path);
	return size;
}

/* --- the walk of DIR/blobs ------------------------------------------------ */

typedef int (*entry_fn)(struct store *s, int dfd, const char *name, const char *path,
                        const struct stat *st, void *arg, struct barge_err *err);

/*
 * Calls fn for each entry of dir but "." and "..", with its path and lstat.
 * An entry gone between readdir and lstat (a concurrent GC) is skipped.  The
 * lstat is relative to the open directory: a store of 100,000 blobs costs
 * one name lookup each instead of the whole path's (issue #18: path lookups
 * were a tenth of fsck's CPU).  When lazy, a regular file's entry (by its
 * d_type) is not stat'ed: fn gets st NULL and may stat it relative to dfd.
 */
static int
dir_each(struct store *s, const char *dir, entry_fn fn, void *arg, int lazy, struct barge_err *err)
{
	struct dirent *de;
	struct stat st;
	char *path;
	DIR *d;
	int rc = BARGE_OK;

	if ((d = opendir(dir)) == NULL)
		return err_sys(err, BARGE_EIO, errno, "open %s", dir);
	while (rc == BARGE_OK && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((path = fu_printf("%s/%s", dir, de->d_name)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			break;
		}
		if (lazy && de->d_type == DT_REG)
			rc = fn(s, dirfd(d), de->d_name, path, NULL, arg, err);
		else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			rc = fn(s, dirfd(d), de->d_name, path, &st, arg, err);
		free(path);
	}
	closedir(d);
	return rc;
}

struct walk {
	blob_fn fn;
	void *arg;
	const char *alg;   /* the directory being walked: DIR/blobs/<alg> */
	const char *shard; /* and DIR/blobs/<alg>/<shard> */
	int lazy;          /* blob files are not stat'ed (blob_walk_lazy) */
};

static int
is_shard(const char *name)
{
	static const char hex[] = "0123456789abcdef";

	return strlen(name) == 2 && strchr(hex, name[0]) != NULL && strchr(hex, name[1]) != NULL;
}

static int
walk_file(struct store *s, int dfd, const char *name, const char *path, const struct stat *st,
          void *arg, struct barge_err *err)
{
	char digest[DIGEST_STR_MAX];
	struct walk *w = arg;
	struct stat lst;
	int n;

	n = snprintf(digest, sizeof(digest), "%s:%s", w->alg, name);
	if (n > 0 && (size_t)n < sizeof(digest) && (st == NULL || S_ISREG(st->st_mode)) &&
	    digest_valid(digest) && strncmp(name, w->shard, 2) == 0)
		return w->fn(s, path, digest, st, w->arg, err);
	if (st == NULL) {
		/* Not a blob: the callback is told what it is. */
		if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) != 0)
			return BARGE_OK;
		st = &lst;
	}
	return w->fn(s, path, NULL, st, w->arg, err);
}

static int
walk_shard(struct store *s, int dfd, const char *name, const char *path, const struct stat *st,
           void *arg, struct barge_err *err)
{
	struct walk *w = arg;

	(void)dfd;
	if (!S_ISDIR(st->st_mode) || !is_shard(name))
		return w->fn(s, path, NULL, st, w->arg, err);
	w->shard = name;
	return dir_each(s, path, walk_file, w, w->lazy, err);
}

static int
walk_alg(struct store *s, int dfd, const char *name, const char *path, const struct stat *st,
         void *arg, struct barge_err *err)
{
	struct walk *w = arg;

	(void)dfd;
	if (!S_ISDIR(st->st_mode) || (strcmp(name, "sha256") != 0 && strcmp(name, "sha512") != 0))
		return w->fn(s, path, NULL, st, w->arg, err);
	w->alg = name;
	return dir_each(s, path, walk_shard, w, 0, err);
}

static int
walk_top(struct store *s, blob_fn fn, void *arg, int lazy, struct barge_err *err)
{
	struct walk w = { fn, arg, NULL, NULL, lazy };
	char *top;
	int rc;

	if ((top = fu_printf("%s/blobs", s->dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	rc = dir_each(s, top, walk_alg, &w, 0, err);
	free(top);
	return rc;
}

int
blob_walk(struct store *s, blob_fn fn, void *arg, struct barge_err *err)
{
	return walk_top(s, fn, arg, 0, err);
}

int
blob_walk_lazy(struct store *s, blob_fn fn, void *arg, struct barge_err *err)
{
	return walk_top(s, fn, arg, 1, err);
}

void
blob_prune_shards(struct store *s)
{
	static const char hex[] = "0123456789abcdef";
	char *p;
	int i, j;

	for (i = 0; i < 16; i++)
		for (j = 0; j < 16; j++) {
			p = fu_printf("%s/blobs/sha256/%c%c", s->dir, hex[i], hex[j]);
			if (p == NULL)
				return;
			/* Fails, as it should, while the directory holds a blob. */
			(void)rmdir(p);
			free(p);
		}
}
