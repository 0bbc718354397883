/*
 * build: the build pipeline (build.h).  This file runs it: the lock made or
 * loaded, the repository names checked, the plan made and compared with a
 * delta's base, the statistics counted, then the downloads and the writer
 * started (build_int.h names the files of each step).  It owns the
 * struct bctx of one build and the client it pulls through; the bundle
 * appears at its path only once it is complete.
 */
#include "build.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_int.h"
#include "fileutil.h"
#include "ref.h"
#include "resolve.h"

/* Year 9999: beyond that RFC 3339 has no four-digit year to write. */
#define MTIME_MAX INT64_C(253402300799)

/* The bundle's blob entries: every manifest, then every config, then every layer. */
const enum blob_kind entry_order[] = { BLOB_MANIFEST, BLOB_CONFIG, BLOB_LAYER };

void
build_note(struct bctx *b, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (b->o->progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The caller's callbacks are never called concurrently (build.h). */
	pthread_mutex_lock(&b->mu);
	b->o->progress(b->o->progress_arg, msg);
	pthread_mutex_unlock(&b->mu);
}

int
build_nomem(struct barge_err *err)
{
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

int
build_mtime_from_env(int64_t *out, struct barge_err *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0') {
		*out = 0;
		return BARGE_OK;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || s[0] < '0' || s[0] > '9' || v < 0 || v > MTIME_MAX)
		return err_set(err, BARGE_EINVAL,
		               "SOURCE_DATE_EPOCH \"%.40s\" is not a number of seconds between 0 "
		               "and %" PRId64,
		               s, MTIME_MAX);
	*out = (int64_t)v;
	return BARGE_OK;
}

/*
 * Every image's repository on barged (the project, the host as a path
 * component, the path) must be a repository name: a reference near the
 * 255-byte limit of a name is valid upstream but too long once the project
 * is in front, and barged would refuse the whole bundle at load.  Found
 * here, before anything is pulled, with the image named.
 */
static int
check_local_names(const struct lock *l, struct barge_err *err)
{
	char *repo;
	size_t i;
	int ok;

	for (i = 0; i < l->nimages; i++) {
		if ((repo = ref_local_repo(l->images[i].ref, l->project)) == NULL)
			return build_nomem(err);
		ok = ref_valid_repo(repo);
		if (!ok)
			err_set(err, BARGE_EINVAL,
			        "%s: its repository on barged, \"%.40s...\" (%zu bytes), is longer "
			        "than a repository name may be (255 bytes with the project \"%s\")",
			        l->images[i].source, repo, strlen(repo), l->project);
		free(repo);
		if (!ok)
			return BARGE_EINVAL;
	}
	return BARGE_OK;
}

/* Builds o->output from the pinned images of l, pulling through c. */
static int
build_run_lock(const struct lock *l, struct client *c, const struct build_opts *o,
               struct build_stats *st, struct barge_err *err)
{
	struct bctx b = { .l = l, .c = c, .o = o, .err = err, .st = st };
	struct blob *bl;
	json_t *have;
	size_t i;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = pthread_mutex_init(&b.mu, NULL)) != 0)
		return err_sys(err, BARGE_EINTERNAL, rc, "pthread_mutex_init");
	if ((rc = pthread_cond_init(&b.cv, NULL)) != 0) {
		pthread_mutex_destroy(&b.mu);
		return err_sys(err, BARGE_EINTERNAL, rc, "pthread_cond_init");
	}
	if (o->mtime < 0 || o->mtime > MTIME_MAX) {
		rc = err_set(err, BARGE_EINVAL, "mtime %" PRId64 " out of range", o->mtime);
		goto out;
	}
	if ((b.img_total = calloc(l->nimages, sizeof(*b.img_total))) == NULL ||
	    (b.img_done = calloc(l->nimages, sizeof(*b.img_done))) == NULL) {
		rc = build_nomem(err);
		goto out;
	}
	b.bp.nimages = l->nimages;
	if ((rc = check_local_names(l, err)) != BARGE_OK)
		goto out;
	if (o->base != NULL && (rc = load_base(&b)) != BARGE_OK)
		goto out;
	b.pl.l = l;
	if ((b.pl.bydigest = json_object()) == NULL) {
		rc = build_nomem(err);
		goto out;
	}
	for (i = 0; i < l->nimages; i++) {
		build_note(&b, "fetching manifests of %s", l->images[i].source);
		if ((rc = plan_image(&b.pl, c, i, err)) != BARGE_OK)
			goto out;
	}
	if (o->verify_key != NULL && (rc = verify_signatures(&b)) != BARGE_OK)
		goto out;
	for (i = 0; i < b.pl.nblobs; i++) {
		bl = &b.pl.blobs[i];
		if (b.base != NULL && (have = json_object_get(b.base, bl->digest)) != NULL) {
			if (json_integer_value(have) != bl->size) {
				rc = err_set(err, BARGE_EDIGEST,
				             "blob %s is %" PRId64
				             " bytes here, %" JSON_INTEGER_FORMAT " in the base",
				             bl->digest, bl->size, json_integer_value(have));
				goto out;
			}
			bl->in_base = 1;
			st->nrequired++;
			st->required_bytes += bl->size;
			continue;
		}
		if (bl->size > INT64_MAX - st->blob_bytes) {
			rc = err_set(err, BARGE_ELIMIT, "blob sizes add up past 2^63");
			goto out;
		}
		st->blob_bytes += bl->size;
		st->nblobs++;
		if (bl->mem != NULL) {
			st->ndownloaded++;
			st->downloaded_bytes += bl->size;
		}
		if (bl->nusers > 1) {
			st->nshared++;
			st->shared_bytes += bl->size * (int64_t)(bl->nusers - 1);
		}
	}
	if ((rc = fetch_prepare(&b)) != BARGE_OK || (rc = fetch_and_write(&b)) != BARGE_OK)
		goto out;
	st->nimages = l->nimages;
out:
	plan_clear(&b.pl);
	json_decref(b.base);
	free(b.img_total);
	free(b.img_done);
	free(b.reqs);
	free(b.req_blob);
	free(b.req_done);
	free(b.cached);
	free(b.cache);
	pthread_cond_destroy(&b.cv);
	pthread_mutex_destroy(&b.mu);
	return rc;
}

/* The lock src names: loaded, and matched against the profiles when both are given. */
static int
load_locked(const struct build_source *src, struct lock **out, struct barge_err *err)
{
	struct profile *p = NULL;
	struct lock *l = NULL;
	int rc;

	if ((rc = lock_load(src->locked, &l, err)) != BARGE_OK)
		return rc;
	if (src->nprofiles > 0 &&
	    ((rc = profile_load_many(src->profiles, src->nprofiles, &p, err)) != BARGE_OK ||
	     (rc = lock_matches_profile(l, p, err)) != BARGE_OK)) {
		profile_free(p);
		lock_free(l);
		return rc;
	}
	profile_free(p);
	*out = l;
	return BARGE_OK;
}

int
build_run(const struct build_source *src, const struct build_opts *o, struct build_result *res,
          struct barge_err *err)
{
	struct build_opts lo = *o;
	struct client *c = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	if (src->locked != NULL)
		rc = load_locked(src, &res->lock, err);
	else
		rc = resolve_profiles(src->profiles, src->nprofiles, src->platforms,
		                      src->nplatforms, src->client, o->progress, o->failed,
		                      o->progress_arg, &res->lock, err);
	if (rc != BARGE_OK)
		return rc;
	res->output = o->output != NULL
	                      ? strdup(o->output)
	                      : fu_printf("%s-%s.tar.zst", res->lock->name, res->lock->version);
	if (res->output == NULL)
		return build_nomem(err);
	lo.output = res->output;
	/* The build's own client: nothing of the resolving one (tokens, connections) carries over.
	 */
	if ((rc = client_new(src->client, &c, err)) != BARGE_OK)
		return rc;
	rc = build_run_lock(res->lock, c, &lo, &res->stats, err);
	client_free(c);
	return rc;
}

void
build_result_clear(struct build_result *res)
{
	lock_free(res->lock);
	free(res->output);
	memset(res, 0, sizeof(*res));
}
