/*
 * split: a bundle cut into parts with a parts list (see split.h).
 */
#include "split.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "splitname.h"

#define COPY_CHUNK (1024 * 1024)

int
split_parse_size(const char *s, int64_t *out, struct barge_err *err)
{
	int64_t v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			goto bad;
		v = v * 10 + (*p - '0');
	}
	switch (*p) {
	case '\0':
		break;
	case 'K':
	case 'k':
		mul = 1024;
		break;
	case 'M':
	case 'm':
		mul = 1024 * 1024;
		break;
	case 'G':
	case 'g':
		mul = 1024 * 1024 * 1024;
		break;
	case 'T':
	case 't':
		mul = (int64_t)1024 * 1024 * 1024 * 1024;
		break;
	default:
		goto bad;
	}
	if (*p != '\0' && p[1] != '\0')
		goto bad;
	if (v > INT64_MAX / mul)
		goto bad;
	v *= mul;
	if (v < SPLIT_SIZE_MIN)
		return err_set(err, BARGE_EINVAL, "size \"%s\": at least 1M", s);
	*out = v;
	return BARGE_OK;
bad:
	return err_set(err, BARGE_EINVAL,
	               "size \"%s\": want a number of bytes, or of K, M, G or T (powers of 1024)",
	               s);
}

void
split_result_free(struct split_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nparts; i++)
		free(r->parts[i].path);
	free(r->parts);
	free(r->list);
	free(r);
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

/* Copies up to want bytes from in to out, hashing them into both contexts; *got is what came. */
static int
copy_part(int in, int out, int64_t want, unsigned char *buf, struct digest_ctx *whole,
          struct digest_ctx *part, int64_t *got, const char *src, const char *dst,
          struct barge_err *err)
{
	ssize_t n;
	size_t cap;
	int rc;

	*got = 0;
	while (*got < want) {
		cap = want - *got < COPY_CHUNK ? (size_t)(want - *got) : COPY_CHUNK;
		n = read(in, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, BARGE_EIO, errno, "read %s", src);
		if (n == 0)
			break;
		if ((rc = digest_update(whole, buf, (size_t)n, err)) != BARGE_OK ||
		    (rc = digest_update(part, buf, (size_t)n, err)) != BARGE_OK)
			return rc;
		if ((rc = fu_write_all(out, buf, (size_t)n, err)) != BARGE_OK)
			return err_prefix(err, "%s", dst);
		*got += n;
	}
	return BARGE_OK;
}

static int
write_list(const struct split_result *r, const char *bundle, int64_t part_size,
           struct barge_err *err)
{
	json_t *root, *arr;
	char *text = NULL;
	size_t i;
	int rc;

	arr = json_array();
	root = json_pack("{s:i,s:s,s:I,s:s,s:I,s:o*}", "schemaVersion", 1, "bundle",
	                 base_name(bundle), "size", (json_int_t)r->size, "sha256", r->sha256,
	                 "partSize", (json_int_t)part_size, "parts", arr);
	if (root == NULL || arr == NULL)
		goto nomem;
	for (i = 0; i < r->nparts; i++)
		if (json_array_append_new(arr, json_pack("{s:s,s:I,s:s}", "file",
		                                         base_name(r->parts[i].path), "size",
		                                         (json_int_t)r->parts[i].size, "sha256",
		                                         r->parts[i].sha256)) != 0)
			goto nomem;
	if ((text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
		goto nomem;
	json_decref(root);
	rc = fu_write_atomic(r->list, text, strlen(text), 0644, err);
	free(text);
	return rc;
nomem:
	json_decref(root);
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

/* Removes parts numbered from first on, up to the first missing one, as the loader reads. */
static int
remove_stale(const char *bundle, size_t first, struct barge_err *err)
{
	char *name;
	size_t i;

	for (i = first; i < SPLIT_PARTS_MAX * 10; i++) {
		if ((name = splitname_part(bundle, i)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		if (unlink(name) != 0) {
			int e = errno;

			if (e == ENOENT) {
				free(name);
				return BARGE_OK;
			}
			err_sys(err, BARGE_EIO, e, "remove the stale part %s", name);
			free(name);
			return err->code;
		}
		free(name);
	}
	return BARGE_OK;
}

int
split_bundle(const char *bundle, int64_t part_size, struct split_result **out,
             struct barge_err *err)
{
	struct split_result *r = NULL;
	struct digest_ctx *whole = NULL, *part = NULL;
	unsigned char *buf = NULL;
	char **tmps = NULL, extra;
	struct stat st;
	int64_t got, left;
	size_t i, n = 0;
	int in = -1, fd = -1, rc;

	if (part_size < SPLIT_SIZE_MIN)
		return err_set(err, BARGE_EINVAL, "part size %" PRId64 ": at least %d", part_size,
		               SPLIT_SIZE_MIN);
	if ((in = open(bundle, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, BARGE_EIO, errno, "open %s", bundle);
	if (fstat(in, &st) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "stat %s", bundle);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		rc = err_set(err, BARGE_EINVAL, "%s: not a regular file with content", bundle);
		goto out;
	}
	n = (size_t)((st.st_size + part_size - 1) / part_size);
	if (n > SPLIT_PARTS_MAX) {
		rc = err_set(err, BARGE_ELIMIT, "%s: %zu parts of %" PRId64 " bytes; at most %d",
		             bundle, n, part_size, SPLIT_PARTS_MAX);
		goto out;
	}
	(void)posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->parts = calloc(n, sizeof(*r->parts))) == NULL ||
	    (tmps = calloc(n, sizeof(*tmps))) == NULL || (buf = malloc(COPY_CHUNK)) == NULL ||
	    (r->list = fu_printf("%s%s", bundle, SPLITNAME_LIST_SUFFIX)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	r->nparts = n;
	if ((rc = digest_new(DIGEST_SHA256, &whole, err)) != BARGE_OK)
		goto out;
	left = st.st_size;
	for (i = 0; i < n; i++) {
		if ((r->parts[i].path = splitname_part(bundle, i)) == NULL ||
		    (tmps[i] = fu_printf("%s.tmp-XXXXXX", r->parts[i].path)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
		if ((fd = mkostemp(tmps[i], O_CLOEXEC)) < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "create %s", tmps[i]);
			free(tmps[i]);
			tmps[i] = NULL;
			goto out;
		}
		if ((rc = digest_new(DIGEST_SHA256, &part, err)) != BARGE_OK)
			goto out;
		if ((rc = copy_part(in, fd, left < part_size ? left : part_size, buf, whole, part,
		                    &got, bundle, tmps[i], err)) != BARGE_OK)
			goto out;
		if (got != (left < part_size ? left : part_size)) {
			rc = err_set(err, BARGE_EIO, "%s shrank while it was split", bundle);
			goto out;
		}
		if ((rc = digest_final(part, r->parts[i].sha256, err)) != BARGE_OK)
			goto out;
		digest_free(part);
		part = NULL;
		r->parts[i].size = got;
		left -= got;
		if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
			rc = err_sys(err, BARGE_EIO, errno, "fsync %s", tmps[i]);
			goto out;
		}
		if (close(fd) != 0) {
			fd = -1;
			rc = err_sys(err, BARGE_EIO, errno, "close %s", tmps[i]);
			goto out;
		}
		fd = -1;
	}
	if (read(in, &extra, 1) != 0) {
		rc = err_set(err, BARGE_EIO, "%s grew while it was split", bundle);
		goto out;
	}
	if ((rc = digest_final(whole, r->sha256, err)) != BARGE_OK)
		goto out;
	r->size = st.st_size;
	if ((rc = remove_stale(bundle, n, err)) != BARGE_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (rename(tmps[i], r->parts[i].path) != 0) {
			rc = err_sys(err, BARGE_EIO, errno, "rename %s to %s", tmps[i],
			             r->parts[i].path);
			goto out;
		}
		free(tmps[i]);
		tmps[i] = NULL;
	}
	if ((rc = fu_fsync_dir_of(bundle, err)) != BARGE_OK ||
	    (rc = write_list(r, bundle, part_size, err)) != BARGE_OK)
		goto out;
	*out = r;
	r = NULL;
out:
	if (fd >= 0)
		close(fd);
	for (i = 0; tmps != NULL && i < n; i++)
		if (tmps[i] != NULL) {
			unlink(tmps[i]);
			free(tmps[i]);
		}
	free(tmps);
	free(buf);
	digest_free(whole);
	digest_free(part);
	split_result_free(r);
	close(in);
	return rc;
}
