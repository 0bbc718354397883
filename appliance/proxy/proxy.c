/*
 * proxy.c: the pull-through cache's handle (proxy.h): the upstreams and
 * peers it may ask, which repository belongs to which upstream, the
 * back-off after a failure, the counters metrics show, its log lines, and
 * eviction past proxy.max_size.  It owns the upstream handles (through the
 * module's ops), the peers found by DNS, and the flights' lifetime.
 */
#include "proxy_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logcb.h"
#include "store_proxy.h"

static const char *const result_names[PROXY_NRESULTS] = { "hit", "miss", "revalidated", "stale",
	                                                  "error" };

int64_t
proxy_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
proxy_result_name(enum proxy_result r)
{
	return r < PROXY_NRESULTS ? result_names[r] : "error";
}

void
proxy_info(struct proxy *p, const char *fmt, ...)
{
	char line[LOGCB_LINE_MAX];
	va_list ap;

	if (p->log_info == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->log_info(line);
}

void
proxy_warn(struct proxy *p, const char *fmt, ...)
{
	char line[LOGCB_LINE_MAX];
	va_list ap;

	if (p->log_warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->log_warn(line);
}

/* The strings of an upstream_opts, copied into src (released by src_close). */
static int
src_init(struct proxy_src *src, const char *name, const struct upstream_opts *o,
         struct barge_err *err)
{
	const char *const from[PROXY_SRC_STRS] = { o->url,      o->ca_file,  o->docker_config,
		                                   o->registry, o->username, o->password_file,
		                                   o->exec };
	const char **to[PROXY_SRC_STRS] = { &src->opts.url,           &src->opts.ca_file,
		                            &src->opts.docker_config, &src->opts.registry,
		                            &src->opts.username,      &src->opts.password_file,
		                            &src->opts.exec };
	char *c;
	int i;

	src->opts = *o;
	for (i = 0; i < PROXY_SRC_STRS; i++) {
		*to[i] = NULL;
		if (from[i] != NULL && (*to[i] = src->own[i] = strdup(from[i])) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	if ((src->name = strdup(name)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	src->peer = o->peer;
	if (!o->peer) {
		if ((src->segment = strdup(name)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		/* The loader writes "host:port" as "host_port" in repository names. */
		for (c = src->segment; *c != '\0'; c++)
			if (*c == ':')
				*c = '_';
	}
	return BARGE_OK;
}

/* Opens src's upstream handle, once the module is loaded. */
static int
src_connect(struct proxy *p, struct proxy_src *src, struct barge_err *err)
{
	if (src->u != NULL)
		return BARGE_OK;
	if (p->ops->open(&src->opts, &src->u, err) != BARGE_OK)
		return err_prefix(err, "%s %s", src->peer ? "peer" : "upstream", src->name);
	return BARGE_OK;
}

static void
src_close(struct proxy *p, struct proxy_src *src)
{
	int i;

	if (src->u != NULL)
		p->ops->close(src->u);
	for (i = 0; i < PROXY_SRC_STRS; i++)
		free(src->own[i]);
	free(src->name);
	free(src->segment);
}

/* Under p->mtx (or before p is shared). */
static int
peer_add(struct proxy *p, const char *url, struct barge_err *err)
{
	struct upstream_opts o = { 0 };
	struct proxy_src *src = &p->peers[p->npeers];

	if (p->npeers == PROXY_PEERS_MAX)
		return err_set(err, BARGE_ELIMIT, "more than %d peers", PROXY_PEERS_MAX);
	o.url = url;
	o.peer = 1;
	o.body_idle_ms = 5000;
	if (src_init(src, url, &o, err) != BARGE_OK ||
	    (p->ops != NULL && src_connect(p, src, err) != BARGE_OK)) {
		src_close(p, src);
		memset(src, 0, sizeof(*src));
		return err->code;
	}
	p->npeers++;
	return BARGE_OK;
}

int
proxy_ready(struct proxy *p, struct barge_err *err)
{
	int rc = BARGE_OK;
	size_t i;

	pthread_mutex_lock(&p->mtx);
	if (p->ops == NULL && (p->ops = upstream_load(err)) == NULL)
		rc = err->code;
	for (i = 0; rc == BARGE_OK && i < p->nsrcs; i++)
		rc = src_connect(p, &p->srcs[i], err);
	for (i = 0; rc == BARGE_OK && i < p->npeers; i++)
		rc = src_connect(p, &p->peers[i], err);
	pthread_mutex_unlock(&p->mtx);
	return rc;
}

int
proxy_new(const struct proxy_opts *o, struct proxy **out, struct barge_err *err)
{
	struct proxy *p;
	size_t i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->revalidate_ms = o->revalidate_ms > 0 ? o->revalidate_ms : 2000;
	p->backoff_ms = (o->backoff_s >= 0 ? o->backoff_s : 30) * 1000;
	p->peer_timeout_ms = o->peer_timeout_ms > 0 ? o->peer_timeout_ms : 500;
	p->max_size = o->max_size;
	p->peer_https = o->peer_scheme_https;
	p->log_info = o->log_info;
	p->log_warn = o->log_warn;
	p->peerstat.name = (char *)"peer"; /* never freed: peerstat is no source */
	p->data_dir = strdup(o->data_dir);
	p->project = strdup(o->project != NULL ? o->project : "edge");
	p->peer_dns = o->peer_dns != NULL ? strdup(o->peer_dns) : NULL;
	if (p->data_dir == NULL || p->project == NULL || (o->peer_dns != NULL && !p->peer_dns) ||
	    (o->nupstreams > 0 && (p->srcs = calloc(o->nupstreams, sizeof(*p->srcs))) == NULL)) {
		proxy_free(p);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	/*
	 * The module is loaded by the first request that must leave the store
	 * (proxy_ready): a proxy that serves from the store maps no libcurl.
	 * That it can be loaded is checked now, while the operator watches.
	 */
	if (upstream_check(err) != BARGE_OK) {
		proxy_free(p);
		return err->code;
	}
	for (i = 0; i < o->nupstreams; i++) {
		p->nsrcs++;
		if (src_init(&p->srcs[i], o->upstreams[i].registry, &o->upstreams[i].opts, err) !=
		    BARGE_OK) {
			proxy_free(p);
			return err->code;
		}
	}
	for (i = 0; i < o->npeers; i++)
		if (peer_add(p, o->peers[i], err) != BARGE_OK) {
			proxy_free(p);
			return err->code;
		}
	*out = p;
	return BARGE_OK;
}

void
proxy_free(struct proxy *p)
{
	size_t i;

	if (p == NULL)
		return;
	/* Flights hold references to p: wait for their threads to see stopping. */
	pthread_mutex_lock(&p->mtx);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	while (p->nthreads > 0)
		pthread_cond_wait(&p->cond, &p->mtx);
	pthread_mutex_unlock(&p->mtx);
	for (i = 0; i < p->nsrcs; i++)
		src_close(p, &p->srcs[i]);
	for (i = 0; i < p->npeers; i++)
		src_close(p, &p->peers[i]);
	free(p->srcs);
	free(p->data_dir);
	free(p->project);
	free(p->peer_dns);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mtx);
	free(p);
}

struct proxy_src *
proxy_route(struct proxy *p, const char *repo, const char **path)
{
	size_t n = strlen(p->project), i, l;

	if (strncmp(repo, p->project, n) != 0 || repo[n] != '/')
		return NULL;
	repo += n + 1;
	for (i = 0; i < p->nsrcs; i++) {
		l = strlen(p->srcs[i].segment);
		if (strncmp(repo, p->srcs[i].segment, l) == 0 && repo[l] == '/' && repo[l + 1]) {
			*path = repo + l + 1;
			return &p->srcs[i];
		}
	}
	return NULL;
}

/* Adds every address of peer_dns not yet a peer (peers found once stay: the list is bounded). */
static void
peers_resolve(struct proxy *p)
{
	struct addrinfo hints = { 0 }, *res = NULL, *a;
	char host[256], addr[INET6_ADDRSTRLEN], url[512];
	struct barge_err err = { 0 };
	const char *colon = strrchr(p->peer_dns, ':');
	size_t i, n = (size_t)(colon - p->peer_dns);
	void *sa;

	if (n >= sizeof(host))
		return;
	memcpy(host, p->peer_dns, n);
	host[n] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return;
	for (a = res; a != NULL; a = a->ai_next) {
		sa = a->ai_family == AF_INET
		             ? (void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
		             : (void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		if (inet_ntop(a->ai_family, sa, addr, sizeof(addr)) == NULL)
			continue;
		snprintf(url, sizeof(url), "%s://%s%s%s:%s", p->peer_https ? "https" : "http",
		         a->ai_family == AF_INET6 ? "[" : "", addr,
		         a->ai_family == AF_INET6 ? "]" : "", colon + 1);
		for (i = 0; i < p->npeers && strcmp(p->peers[i].name, url) != 0; i++)
			;
		if (i == p->npeers && peer_add(p, url, &err) != BARGE_OK)
			proxy_warn(p, "peer %s: %s", url, err.msg);
	}
	freeaddrinfo(res);
}

size_t
proxy_peers(struct proxy *p, struct proxy_src **out, size_t max)
{
	int64_t now = proxy_now_ms();
	size_t i, n = 0;

	pthread_mutex_lock(&p->mtx);
	if (p->peer_dns != NULL && now - p->dns_at >= PROXY_DNS_EVERY_MS) {
		p->dns_at = now;
		peers_resolve(p);
	}
	for (i = 0; i < p->npeers && n < max; i++)
		if (!proxy_is_down(&p->peers[i]))
			out[n++] = &p->peers[i];
	pthread_mutex_unlock(&p->mtx);
	return n;
}

void
proxy_count(struct proxy_src *src, enum proxy_result r)
{
	if (src != NULL)
		__atomic_add_fetch(&src->req[r], 1, __ATOMIC_RELAXED);
}

int
proxy_is_down(struct proxy_src *src)
{
	return __atomic_load_n(&src->down_until, __ATOMIC_RELAXED) > proxy_now_ms();
}

void
proxy_failed(struct proxy *p, struct proxy_src *src, const char *what, const struct barge_err *err)
{
	int64_t until = proxy_now_ms() + p->backoff_ms;

	__atomic_add_fetch(&src->errors, 1, __ATOMIC_RELAXED);
	if (src->peer)
		__atomic_add_fetch(&p->peerstat.errors, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&src->down_until, until, __ATOMIC_RELAXED);
	proxy_warn(p, "%s %s: %s: %s; not asked again for %d s", src->peer ? "peer" : "upstream",
	           src->name, what, err->msg, p->backoff_ms / 1000);
}

void
proxy_count_hit(struct proxy *p, const char *repo)
{
	const char *path;

	if (p != NULL)
		proxy_count(proxy_route(p, repo, &path), PROXY_HIT);
}

static void
stats_of(const struct proxy_src *src, struct proxy_stats *st)
{
	int r;

	st->registry = src->name;
	st->url = src->opts.url;
	for (r = 0; r < PROXY_NRESULTS; r++)
		st->requests[r] = __atomic_load_n(&src->req[r], __ATOMIC_RELAXED);
	st->bytes = __atomic_load_n(&src->bytes, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&src->errors, __ATOMIC_RELAXED);
	st->up = !proxy_is_down((struct proxy_src *)src);
}

void
proxy_each_stats(struct proxy *p, void (*fn)(const struct proxy_stats *st, void *arg), void *arg)
{
	struct proxy_stats st;
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nsrcs; i++) {
		stats_of(&p->srcs[i], &st);
		fn(&st, arg);
	}
	if (p->npeers > 0 || p->peer_dns != NULL) {
		stats_of(&p->peerstat, &st);
		st.up = 1;
		fn(&st, arg);
	}
}

void
proxy_evict(struct proxy *p, struct store *s)
{
	struct store_evict_stats st = { 0 };
	struct barge_err err = { 0 };

	if (p->max_size <= 0)
		return;
	pthread_mutex_lock(&p->mtx);
	if (p->evicting) {
		pthread_mutex_unlock(&p->mtx);
		return;
	}
	p->evicting = 1;
	pthread_mutex_unlock(&p->mtx);
	if (store_proxy_evict(s, p->max_size, &st, &err) != BARGE_OK)
		proxy_warn(p, "proxy.max_size: eviction failed: %s", err.msg);
	else if (st.manifests > 0 || st.blobs > 0)
		proxy_info(
		        p,
		        "proxy.max_size: evicted %lld manifests and %lld blobs (%lld bytes); the "
		        "store holds %lld bytes",
		        (long long)st.manifests, (long long)st.blobs, (long long)st.bytes,
		        (long long)st.store_bytes);
	pthread_mutex_lock(&p->mtx);
	p->evicting = 0;
	pthread_mutex_unlock(&p->mtx);
}

static void proxy_flight_unlink(struct proxy *p, struct proxy_flight *f);

struct proxy_flight *
proxy_flight_get(struct proxy *p, const char *key, int *made)
{
	struct proxy_flight *f;

	*made = 0;
	for (f = p->flights; f != NULL; f = f->next)
		if (strcmp(f->key, key) == 0) {
			f->refs++;
			return f;
		}
	if (p->nflights >= PROXY_FLIGHTS_MAX || (f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	snprintf(f->key, sizeof(f->key), "%s", key);
	f->p = p;
	f->refs = 1;
	f->fd = -1;
	f->next = p->flights;
	p->flights = f;
	p->nflights++;
	*made = 1;
	return f;
}

void
proxy_flight_end(struct proxy *p, struct proxy_flight *f, int rc, const struct barge_err *err)
{
	pthread_mutex_lock(&p->mtx);
	f->done = 1;
	f->rc = rc;
	if (rc != BARGE_OK)
		f->err = *err;
	proxy_flight_unlink(p, f);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mtx);
}

static void
proxy_flight_unlink(struct proxy *p, struct proxy_flight *f)
{
	struct proxy_flight **pp;

	for (pp = &p->flights; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			p->nflights--;
			break;
		}
	f->next = NULL;
}

void
proxy_flight_unref(struct proxy *p, struct proxy_flight *f)
{
	(void)p;
	if (--f->refs > 0)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}
