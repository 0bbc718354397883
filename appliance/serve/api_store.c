/*
 * api_store.c: the admin API's view of the store (docs/api.md): the
 * overview, repositories, a repository's tags, an image, bundles, and the
 * writes (delete a tag, an image, a bundle; GC).  Everything goes through
 * store.h and store_push.h, on the API's own store under its mutex.  It
 * owns the lists and documents it builds for one answer; every listing is
 * paged, so that an answer stays bounded whatever the store holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "api_int.h"
#include "fileutil.h"
#include "manifest.h"
#include "proxy.h"
#include "store_push.h"

#define API_PAGE_DEFAULT  100
#define API_PAGE_MAX      1000
#define API_COUNT_EVERY   30 /* seconds between the overview's counts (0.7 s CPU at 100,000 tags) */
#define API_CONFIG_MAX    1048576 /* bytes of an image config read for platform and time */
#define API_REFERRERS_MAX 100
#define API_GC_GRACE_S    600
#define API_GC_WAIT_MS    10000

/* One tag of a page: what the store says of it. */
struct tag_row {
	char *tag;
	struct store_manifest m;
	int64_t size;             /* -1: unknown */
	int in_bundles;           /* the image was seen in the listing */
	enum store_origin origin; /* who set the tag (NONE: not seen in the listing) */
	char *detail;             /* its detail: "NAME VERSION", the registry, or NULL */
};

struct tag_page {
	struct tag_row *rows;
	size_t n, max;
	const char *repo;
};

/* --- small helpers ---------------------------------------------------------- */

/* The page size asked for in ?n= (default API_PAGE_DEFAULT, at most API_PAGE_MAX); -1 when
 * malformed. */
static int
page_size(struct http_req *req)
{
	const char *n = http_req_query(req, "n");
	char *end;
	long v;

	if (n == NULL)
		return API_PAGE_DEFAULT;
	errno = 0;
	v = strtol(n, &end, 10);
	if (end == n || *end != '\0' || errno != 0 || v < 1)
		return -1;
	return v > API_PAGE_MAX ? API_PAGE_MAX : (int)v;
}

/* A required query parameter, or NULL after answering 400. */
static const char *
need(struct http_req *req, const char *name)
{
	const char *v = http_req_query(req, name);

	if (v == NULL || *v == '\0')
		api_error(req, 400, "INVALID", "%s: missing", name);
	return v != NULL && *v != '\0' ? v : NULL;
}

/* Reads all of fd (at most max bytes) into *out (NUL-terminated; caller frees); closes fd. */
static int
read_all(int fd, int64_t size, size_t max, char **out, struct barge_err *err)
{
	char *buf;
	size_t got = 0;
	ssize_t n;

	if (size < 0 || (uint64_t)size > max) {
		close(fd);
		return err_set(err, BARGE_ELIMIT, "%" PRId64 " bytes: more than %zu", size, max);
	}
	if ((buf = malloc((size_t)size + 1)) == NULL) {
		close(fd);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	while (got < (size_t)size) {
		n = read(fd, buf + got, (size_t)size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			close(fd);
			return err_set(err, BARGE_EIO, "short read of a stored blob");
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	return BARGE_OK;
}

static json_t *
rfc3339(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* Whether the caller's scope reaches repo; answers 403 when not. */
static int
in_scope(struct http_req *req, const struct api_caller *c, const char *repo)
{
	if (auth_identity_allows(&c->id, "repository", repo))
		return 1;
	api_error(req, 403, "FORBIDDEN", "%s: outside this token's scope", repo);
	return 0;
}

/* --- overview ----------------------------------------------------------------- */

static int
count_image(const struct store_image *im, void *arg)
{
	(void)im;
	(*(int64_t *)arg)++;
	return 0;
}

static int
count_bundle(const struct store_bundle *b, void *arg)
{
	(void)b;
	(*(int64_t *)arg)++;
	return 0;
}

/* Counts again when the last count is old.  With st_mtx held. */
static int
recount(struct api *a, struct barge_err *err)
{
	struct store *st;
	time_t now = time(NULL);
	int64_t images = 0, bundles = 0;
	int rc;

	if (a->counted != 0 && now - a->counted < API_COUNT_EVERY)
		return BARGE_OK;
	if ((rc = api_store(a, &st, err)) != BARGE_OK)
		return rc;
	if ((rc = store_stats(st, &a->stats, err)) != BARGE_OK ||
	    (rc = store_list_images(st, count_image, &images, err)) != BARGE_OK ||
	    (rc = store_list_bundles(st, count_bundle, &bundles, err)) != BARGE_OK) {
		api_store_drop(a);
		return rc;
	}
	a->images = images;
	a->bundles = bundles;
	a->counted = now;
	return BARGE_OK;
}

/*
 * One upstream of the pull-through cache: its registry, its URL (without
 * any user:password@, which read-only callers must not see) and whether
 * it is asked ("up") or backing off after a failure ("backoff").  The
 * peers' sum ("peer", no URL) is not an upstream.
 */
static void
upstream_cb(const struct proxy_stats *st, void *arg)
{
	const char *url = st->url, *host, *at, *slash;
	char *shown;

	if (url == NULL)
		return;
	host = strstr(url, "://");
	host = host != NULL ? host + 3 : url;
	slash = strchr(host, '/');
	at = memchr(host, '@', slash != NULL ? (size_t)(slash - host) : strlen(host));
	shown = at != NULL ? fu_printf("%.*s%s", (int)(host - url), url, at + 1) : strdup(url);
	json_array_append_new(arg,
	                      json_pack("{s:o,s:o,s:s}", "registry", api_str(st->registry), "url",
	                                api_str(shown), "state", st->up ? "up" : "backoff"));
	free(shown);
}

void
api_overview(struct api *a, struct http_req *req)
{
	struct barge_err err = { 0 };
	struct statvfs vfs;
	char host[256];
	json_t *free_bytes = json_null(), *upstreams = json_array();
	int rc;

	if (upstreams != NULL)
		proxy_each_stats(a->proxy, upstream_cb, upstreams);
	pthread_mutex_lock(&a->st_mtx);
	rc = recount(a, &err);
	pthread_mutex_unlock(&a->st_mtx);
	if (rc != BARGE_OK && a->log_error != NULL)
		a->log_error(err.msg);
	if (statvfs(a->data_dir, &vfs) == 0) {
		json_decref(free_bytes);
		free_bytes = json_integer((json_int_t)vfs.f_bavail * (json_int_t)vfs.f_frsize);
	}
	api_registry_host(a, req, host, sizeof(host));
	/* The figures of the last good count: an unready store shows them with ready false. */
	api_send(req, 200,
	         json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:b,s:b,s:s,s:o}", "version",
	                   a->version, "started_at", (json_int_t)a->started, "images",
	                   (json_int_t)a->images, "repositories", (json_int_t)a->stats.repos,
	                   "tags", (json_int_t)a->stats.tags, "bundles", (json_int_t)a->bundles,
	                   "store_bytes", (json_int_t)a->stats.bytes, "free_bytes", free_bytes,
	                   "healthy", 1, "ready", rc == BARGE_OK, "registry", host, "upstreams",
	                   upstreams));
}

/* --- repositories ------------------------------------------------------------- */

struct repo_page {
	const struct api_caller *c;
	const char *q;
	json_t *names;
	size_t want; /* one more than the page, to know whether a next one exists */
};

static int
repo_cb(const char *repo, void *arg)
{
	struct repo_page *p = arg;

	if (p->q != NULL && strstr(repo, p->q) == NULL)
		return 0;
	if (!auth_identity_allows(&p->c->id, "repository", repo))
		return 0;
	if (json_array_append_new(p->names, json_string(repo)) != 0)
		return 1;
	return json_array_size(p->names) >= p->want;
}

static int
count_tag(const char *tag, void *arg)
{
	(void)tag;
	(*(int64_t *)arg)++;
	return 0;
}

/* The page's repositories (in name order), whose sizes the image listing adds up. */
struct repo_sizes {
	json_t *list;
	size_t at;
};

/*
 * Adds each image's size to its repository's, walking the page as the
 * images (also in name order) go by; stops past the page's last.
 */
static int
repo_size_cb(const struct store_image *im, void *arg)
{
	struct repo_sizes *rs = arg;
	json_t *o, *size;
	int cmp = -1;

	while (rs->at < json_array_size(rs->list)) {
		o = json_array_get(rs->list, rs->at);
		if ((cmp = strcmp(json_string_value(json_object_get(o, "name")), im->repo)) >= 0)
			break;
		rs->at++;
	}
	if (rs->at == json_array_size(rs->list))
		return 1;
	if (cmp == 0) {
		size = json_object_get(json_array_get(rs->list, rs->at), "size");
		json_integer_set(size, json_integer_value(size) + (json_int_t)im->size);
	}
	return 0;
}

void
api_repositories(struct api *a, struct http_req *req, const struct api_caller *c)
{
	struct barge_err err = { 0 };
	struct repo_page p = { c, http_req_query(req, "q"), NULL, 0 };
	json_t *list = NULL, *next = NULL, *name;
	struct store *st;
	int64_t ntags;
	size_t i;
	int n = page_size(req), rc;

	if (n < 0) {
		api_error(req, 400, "INVALID", "n: a number from 1 to %d", API_PAGE_MAX);
		return;
	}
	if ((p.names = json_array()) == NULL || (list = json_array()) == NULL) {
		json_decref(p.names);
		api_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	p.want = (size_t)n + 1;
	if (p.q != NULL && *p.q == '\0')
		p.q = NULL;
	pthread_mutex_lock(&a->st_mtx);
	/* Filtered as the names stream by: only one page of names is ever held. */
	if ((rc = api_store(a, &st, &err)) == BARGE_OK)
		rc = store_list_repos(st, http_req_query(req, "last"), 0, repo_cb, &p, &err);
	json_array_foreach(p.names, i, name)
	{
		if (rc != BARGE_OK || i == (size_t)n)
			break;
		ntags = 0;
		if ((rc = store_list_tags(st, json_string_value(name), NULL, 0, count_tag, &ntags,
		                          &err)) != BARGE_OK)
			break;
		if (json_array_append_new(list,
		                          json_pack("{s:O,s:I,s:I}", "name", name, "tags",
		                                    (json_int_t)ntags, "size", (json_int_t)0)) != 0)
			rc = err_set(&err, BARGE_ENOMEM, "out of memory");
	}
	if (rc == BARGE_OK && json_array_size(list) > 0) {
		struct repo_sizes rs = { list, 0 };

		rc = store_list_images(st, repo_size_cb, &rs, &err);
	}
	if (rc != BARGE_OK)
		api_store_drop(a);
	pthread_mutex_unlock(&a->st_mtx);
	/* A name past the page: the next page starts after the page's last. */
	if (rc == BARGE_OK && json_array_size(p.names) > (size_t)n)
		next = json_incref(json_array_get(p.names, (size_t)n - 1));
	json_decref(p.names);
	if (rc != BARGE_OK) {
		json_decref(list);
		api_fail(a, req, rc, &err);
		return;
	}
	api_send(req, 200,
	         json_pack("{s:o,s:o}", "repositories", list, "next",
	                   next != NULL ? next : json_null()));
}

/* --- tags ----------------------------------------------------------------------- */

static int
tag_cb(const char *tag, void *arg)
{
	struct tag_page *p = arg;

	if (p->n == p->max)
		return 1;
	if ((p->rows[p->n].tag = strdup(tag)) == NULL)
		return 1;
	p->n++;
	return 0;
}

/* Finds the page's images among the store's (ordered by repository) for size and origin. */
static int
tag_image_cb(const struct store_image *im, void *arg)
{
	struct tag_page *p = arg;
	int cmp = strcmp(im->repo, p->repo);
	size_t i, k;

	if (cmp > 0)
		return 1;
	if (cmp < 0)
		return 0;
	for (i = 0; i < p->n; i++) {
		struct tag_row *r = &p->rows[i];

		if (strcmp(r->m.digest, im->digest) != 0)
			continue;
		r->size = im->size;
		r->in_bundles = 1;
		for (k = 0; k < im->ntags; k++) {
			if (strcmp(im->tags[k], r->tag) != 0)
				continue;
			r->origin = im->tag_origin[k];
			free(r->detail);
			r->detail = NULL;
			if (im->tag_origin_detail[k] != NULL && im->tag_origin_detail[k][0] != '\0')
				r->detail = strdup(im->tag_origin_detail[k]);
		}
	}
	return 0;
}

static void
tag_page_free(struct tag_page *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->rows[i].tag);
		free(p->rows[i].detail);
	}
	free(p->rows);
}

/* "os/arch[/variant]" of a platform object (an index entry's, or a config's top level), or NULL. */
static json_t *
platform_of(json_t *o)
{
	const char *os = json_string_value(json_object_get(o, "os"));
	const char *arch = json_string_value(json_object_get(o, "architecture"));
	const char *variant = json_string_value(json_object_get(o, "variant"));
	char buf[256];

	if (os == NULL || arch == NULL || strcmp(os, "unknown") == 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%s/%s%s%s", os, arch, variant != NULL ? "/" : "",
	         variant != NULL ? variant : "");
	return api_str(buf);
}

/*
 * Platforms and creation time of repo@digest: an index's from its entries,
 * an image's from its config.  A manifest or config that cannot be read
 * leaves them empty: the listing still shows the tag.  With st_mtx held.
 */
static void
image_details(struct store *st, const char *repo, const char *digest, json_t *platforms,
              json_t **created)
{
	struct barge_err err = { 0 };
	struct store_manifest m;
	json_t *doc = NULL, *cfg = NULL, *e, *pl;
	const char *cd;
	char *text = NULL, *ctext = NULL;
	int64_t size;
	size_t i;
	int fd = -1;

	*created = json_null();
	if (store_open_manifest(st, repo, digest, &m, &fd, &size, &err) != BARGE_OK ||
	    read_all(fd, size, MANIFEST_MAX, &text, &err) != BARGE_OK ||
	    (doc = json_loads(text, 0, NULL)) == NULL)
		goto out;
	json_array_foreach(json_object_get(doc, "manifests"), i, e)
	{
		if ((pl = platform_of(json_object_get(e, "platform"))) != NULL)
			json_array_append_new(platforms, pl);
	}
	cd = json_string_value(json_object_get(json_object_get(doc, "config"), "digest"));
	if (cd == NULL || store_open_repo_blob(st, repo, cd, &fd, &size, &err) != BARGE_OK ||
	    read_all(fd, size, API_CONFIG_MAX, &ctext, &err) != BARGE_OK ||
	    (cfg = json_loads(ctext, 0, NULL)) == NULL)
		goto out;
	if ((pl = platform_of(cfg)) != NULL)
		json_array_append_new(platforms, pl);
	if (json_is_string(json_object_get(cfg, "created"))) {
		json_decref(*created);
		*created = api_str(json_string_value(json_object_get(cfg, "created")));
	}
out:
	json_decref(cfg);
	json_decref(doc);
	free(ctext);
	free(text);
}

/*
 * Where the containerd mirror form of project/HOST/PATH pulls from:
 * HOST/PATH, when the part after the project names a registry host.  NULL
 * for names that do not.
 */
static const char *
upstream_name(const struct api *a, const char *repo)
{
	size_t n = strlen(a->project);
	const char *rest, *slash;

	if (strncmp(repo, a->project, n) != 0 || repo[n] != '/')
		return NULL;
	rest = repo + n + 1;
	if ((slash = strchr(rest, '/')) == NULL)
		return NULL;
	if (memchr(rest, '.', (size_t)(slash - rest)) == NULL &&
	    memchr(rest, ':', (size_t)(slash - rest)) == NULL &&
	    strncmp(rest, "localhost/", 10) != 0)
		return NULL;
	return rest;
}

static json_t *
tag_json(struct api *a, struct store *st, const struct tag_row *r, const char *repo,
         const char *host)
{
	json_t *platforms = json_array(), *created = NULL, *origin;
	const char *up = upstream_name(a, repo);
	char *pull = fu_printf("%s/%s:%s", host, repo, r->tag);
	char *mirror = up != NULL ? fu_printf("%s:%s", up, r->tag) : NULL;
	json_t *o;

	if (platforms != NULL)
		image_details(st, repo, r->m.digest, platforms, &created);
	/* The store's word for who set the tag: a bundle (and which), a push, or the proxy. */
	switch (r->origin) {
	case STORE_ORIGIN_BUNDLE:
		origin = json_pack("{s:s,s:o}", "kind", "bundle", "bundle", api_str(r->detail));
		break;
	case STORE_ORIGIN_PROXY:
		origin = json_pack("{s:s,s:o}", "kind", "proxy", "registry", api_str(r->detail));
		break;
	default:
		origin = json_pack("{s:s,s:n}", "kind", "push", "bundle");
		break;
	}
	o = json_pack("{s:o,s:s,s:s,s:o*,s:o,s:o,s:o,s:o*,s:o}", "tag", api_str(r->tag), "digest",
	              r->m.digest, "media_type", r->m.media_type, "platforms", platforms, "size",
	              r->size >= 0 ? json_integer((json_int_t)r->size) : json_null(), "created",
	              created != NULL ? created : json_null(), "origin", origin, "pull",
	              pull != NULL ? api_str(pull) : NULL, "mirror", api_str(mirror));
	free(pull);
	free(mirror);
	return o;
}

void
api_tags(struct api *a, struct http_req *req, const struct api_caller *c)
{
	struct barge_err err = { 0 };
	struct tag_page p = { 0 };
	json_t *list = NULL, *next = NULL;
	struct store *st = NULL;
	char host[256];
	size_t i;
	int n = page_size(req), rc;

	if ((p.repo = need(req, "repo")) == NULL || !in_scope(req, c, p.repo))
		return;
	if (n < 0) {
		api_error(req, 400, "INVALID", "n: a number from 1 to %d", API_PAGE_MAX);
		return;
	}
	p.max = (size_t)n + 1;
	if ((p.rows = calloc(p.max, sizeof(*p.rows))) == NULL || (list = json_array()) == NULL) {
		free(p.rows);
		api_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	api_registry_host(a, req, host, sizeof(host));
	pthread_mutex_lock(&a->st_mtx);
	if ((rc = api_store(a, &st, &err)) != BARGE_OK)
		goto unlock;
	if (!store_repo_listed(st, p.repo)) {
		rc = err_set(&err, BARGE_ENOTFOUND, "repository %s not found", p.repo);
		goto unlock;
	}
	if ((rc = store_list_tags(st, p.repo, http_req_query(req, "last"), (int)p.max, tag_cb, &p,
	                          &err)) != BARGE_OK)
		goto unlock;
	if (p.n > (size_t)n) {
		/* The page's last tag: the next page starts after it. */
		next = api_str(p.rows[n - 1].tag);
		free(p.rows[n].tag);
		p.n = (size_t)n;
	}
	for (i = 0; i < p.n; i++) {
		p.rows[i].size = -1;
		if ((rc = store_get_manifest(st, p.repo, p.rows[i].tag, &p.rows[i].m, &err)) !=
		    BARGE_OK)
			goto unlock;
	}
	if ((rc = store_list_images(st, tag_image_cb, &p, &err)) != BARGE_OK)
		goto unlock;
	for (i = 0; i < p.n && rc == BARGE_OK; i++)
		if (json_array_append_new(list, tag_json(a, st, &p.rows[i], p.repo, host)) != 0)
			rc = err_set(&err, BARGE_ENOMEM, "out of memory");
unlock:
	if (rc != BARGE_OK && rc != BARGE_ENOTFOUND)
		api_store_drop(a);
	pthread_mutex_unlock(&a->st_mtx);
	tag_page_free(&p);
	if (rc != BARGE_OK) {
		json_decref(list);
		json_decref(next);
		api_fail(a, req, rc, &err);
		return;
	}
	api_send(req, 200,
	         json_pack("{s:o,s:o,s:o}", "repository", api_str(p.repo), "tags", list, "next",
	                   next != NULL ? next : json_null()));
}

/* --- an image --------------------------------------------------------------- */

/* {digest, size, media_type} of a descriptor. */
static json_t *
descriptor_json(json_t *d)
{
	return json_pack("{s:O*,s:O*,s:O*}", "digest", json_object_get(d, "digest"), "size",
	                 json_object_get(d, "size"), "media_type", json_object_get(d, "mediaType"));
}

static int
referrer_cb(const struct store_manifest *m, void *arg)
{
	struct store_manifest *list = arg;
	size_t i;

	for (i = 0; i < API_REFERRERS_MAX && list[i].digest[0] != '\0'; i++)
		;
	if (i == API_REFERRERS_MAX)
		return 1;
	list[i] = *m;
	return 0;
}

/*
 * The referrers of repo@subject that name it as their subject, with their
 * artifact type (artifactType, else the config's media type).  With st_mtx held.
 */
static int
referrers_json(struct store *st, const char *repo, const char *subject, json_t *out,
               struct barge_err *err)
{
	struct store_manifest *list, m;
	json_t *doc, *cfg;
	const char *at, *subj;
	char *text;
	int64_t size;
	size_t i;
	int fd, rc;

	if ((list = calloc(API_REFERRERS_MAX, sizeof(*list))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	rc = store_list_referrers(st, repo, subject, API_REFERRERS_MAX, referrer_cb, list, err);
	for (i = 0; rc == BARGE_OK && i < API_REFERRERS_MAX && list[i].digest[0] != '\0'; i++) {
		text = NULL;
		doc = NULL;
		if (store_open_manifest(st, repo, list[i].digest, &m, &fd, &size, err) !=
		            BARGE_OK ||
		    read_all(fd, size, MANIFEST_MAX, &text, err) != BARGE_OK ||
		    (doc = json_loads(text, 0, NULL)) == NULL) {
			/* Gone since the listing, or unreadable: not shown. */
			err_clear(err);
			free(text);
			continue;
		}
		subj = json_string_value(
		        json_object_get(json_object_get(doc, "subject"), "digest"));
		cfg = json_object_get(doc, "config");
		at = json_string_value(json_object_get(doc, "artifactType"));
		if (at == NULL)
			at = json_string_value(json_object_get(cfg, "mediaType"));
		if (subj != NULL && strcmp(subj, subject) == 0 &&
		    json_array_append_new(out,
		                          json_pack("{s:s,s:o,s:s,s:I}", "digest", m.digest,
		                                    "artifact_type", api_str(at), "media_type",
		                                    m.media_type, "size", (json_int_t)m.size)) != 0)
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
		json_decref(doc);
		free(text);
	}
	free(list);
	return rc;
}

void
api_image(struct api *a, struct http_req *req, const struct api_caller *c)
{
	const char *repo, *ref;
	struct barge_err err = { 0 };
	struct store_manifest m;
	json_t *doc = NULL, *layers = NULL, *refs = NULL, *d, *body = NULL;
	struct store *st;
	char *text = NULL;
	int64_t size;
	size_t i;
	int fd = -1, rc;

	if ((repo = need(req, "repo")) == NULL || (ref = need(req, "ref")) == NULL ||
	    !in_scope(req, c, repo))
		return;
	if ((layers = json_array()) == NULL || (refs = json_array()) == NULL) {
		rc = err_set(&err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&a->st_mtx);
	if ((rc = api_store(a, &st, &err)) == BARGE_OK &&
	    (rc = store_open_manifest(st, repo, ref, &m, &fd, &size, &err)) == BARGE_OK &&
	    (rc = read_all(fd, size, MANIFEST_MAX, &text, &err)) == BARGE_OK)
		rc = referrers_json(st, repo, m.digest, refs, &err);
	if (rc != BARGE_OK && rc != BARGE_ENOTFOUND)
		api_store_drop(a);
	pthread_mutex_unlock(&a->st_mtx);
	if (rc != BARGE_OK)
		goto out;
	/* An image's layers (its config first), or an index's manifests. */
	if ((doc = json_loads(text, 0, NULL)) != NULL) {
		if ((d = json_object_get(doc, "config")) != NULL)
			json_array_append_new(layers, descriptor_json(d));
		json_array_foreach(json_object_get(doc, "layers"), i, d)
		        json_array_append_new(layers, descriptor_json(d));
		json_array_foreach(json_object_get(doc, "manifests"), i, d)
		        json_array_append_new(layers, descriptor_json(d));
	}
	body = json_pack("{s:o,s:s,s:s,s:I,s:o,s:O,s:O}", "repository", api_str(repo), "digest",
	                 m.digest, "media_type", m.media_type, "size", (json_int_t)m.size,
	                 "manifest", api_str(text), "layers", layers, "referrers", refs);
out:
	json_decref(doc);
	json_decref(layers);
	json_decref(refs);
	free(text);
	if (rc != BARGE_OK)
		api_fail(a, req, rc, &err);
	else
		api_send(req, 200, body);
}

/* --- bundles ---------------------------------------------------------------- */

static int
bundle_cb(const struct store_bundle *b, void *arg)
{
	/* Signer and source are null for bundles loaded before the store recorded them. */
	return json_array_append_new(
	               arg,
	               json_pack("{s:I,s:o,s:o,s:s,s:o,s:o,s:o,s:I,s:I}", "id", (json_int_t)b->id,
	                         "name", api_str(b->name), "version", api_str(b->version), "digest",
	                         b->digest, "signer", api_str(b->signer), "loaded_at",
	                         rfc3339(b->loaded_at), "source", api_str(b->source), "images",
	                         (json_int_t)b->images, "pinned_bytes", (json_int_t)b->bytes)) != 0;
}

void
api_bundles(struct api *a, struct http_req *req)
{
	struct barge_err err = { 0 };
	struct store *st;
	json_t *list;
	int rc;

	if ((list = json_array()) == NULL) {
		api_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	pthread_mutex_lock(&a->st_mtx);
	if ((rc = api_store(a, &st, &err)) == BARGE_OK &&
	    (rc = store_list_bundles(st, bundle_cb, list, &err)) != BARGE_OK)
		api_store_drop(a);
	pthread_mutex_unlock(&a->st_mtx);
	if (rc != BARGE_OK) {
		json_decref(list);
		api_fail(a, req, rc, &err);
		return;
	}
	api_send(req, 200, json_pack("{s:o}", "bundles", list));
}

/* --- writes ----------------------------------------------------------------- */

/* Answers 204 after a write, or the failure; the overview counts again. */
static void
written(struct api *a, struct http_req *req, int rc, const struct barge_err *err)
{
	if (rc != BARGE_OK)
		api_fail(a, req, rc, err);
	else
		api_no_content(req);
}

/* A delete of repo and the query parameter what names (a tag, a digest) through del. */
static void
delete_one(struct api *a, struct http_req *req, const char *what,
           int (*del)(struct store *s, const char *repo, const char *name, struct barge_err *err))
{
	const char *repo, *name;
	struct barge_err err = { 0 };
	struct store *st;
	int rc;

	if ((repo = need(req, "repo")) == NULL || (name = need(req, what)) == NULL)
		return;
	pthread_mutex_lock(&a->st_mtx);
	if ((rc = api_store(a, &st, &err)) == BARGE_OK)
		rc = del(st, repo, name, &err);
	a->counted = 0;
	pthread_mutex_unlock(&a->st_mtx);
	written(a, req, rc, &err);
}

void
api_delete_tag(struct api *a, struct http_req *req)
{
	delete_one(a, req, "tag", store_push_delete_tag);
}

void
api_delete_image(struct api *a, struct http_req *req)
{
	delete_one(a, req, "digest", store_push_delete_manifest);
}

void
api_delete_bundle(struct api *a, struct http_req *req, const char *id)
{
	struct barge_err err = { 0 };
	struct store *st;
	char *end;
	long long v;
	int rc;

	errno = 0;
	v = strtoll(id, &end, 10);
	if (*id < '0' || *id > '9' || *end != '\0' || errno != 0) {
		api_error(req, 400, "INVALID", "bundle id \"%.64s\": a number", id);
		return;
	}
	pthread_mutex_lock(&a->st_mtx);
	/* The tags stay (the images keep serving) until GC after a delete of their own. */
	if ((rc = api_store(a, &st, &err)) == BARGE_OK)
		rc = store_rm_bundle(st, (int64_t)v, 0, NULL, &err);
	a->counted = 0;
	pthread_mutex_unlock(&a->st_mtx);
	written(a, req, rc, &err);
}

void
api_gc(struct api *a, struct http_req *req, const struct api_caller *c, json_t *body)
{
	struct store_gc_opts o = { 0 };
	struct store_gc_stats gs = { 0 };
	struct barge_err err = { 0 };
	struct store *st;
	int rc;

	(void)c;
	(void)body;
	o.grace_s = API_GC_GRACE_S;
	o.lock_wait_ms = API_GC_WAIT_MS;
	pthread_mutex_lock(&a->st_mtx);
	if ((rc = api_store(a, &st, &err)) == BARGE_OK)
		rc = store_gc(st, &o, &gs, &err);
	a->counted = 0;
	pthread_mutex_unlock(&a->st_mtx);
	if (rc == BARGE_EEXIST) {
		api_error(req, 409, "BUSY", "%s", err.msg);
		return;
	}
	if (rc != BARGE_OK) {
		api_fail(a, req, rc, &err);
		return;
	}
	api_send(req, 200,
	         json_pack("{s:I,s:I,s:I}", "removed_manifests", (json_int_t)gs.manifests,
	                   "removed_blobs", (json_int_t)gs.blobs, "removed_bytes",
	                   (json_int_t)gs.bytes));
}
