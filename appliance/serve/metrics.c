/*
 * metrics.c: barged's counters and their exposition (metrics.h).  Owns
 * the request series, the latency histograms, the load and webhook
 * counters and the last store snapshot, all behind one mutex; reads this
 * process's figures from /proc when asked.
 */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "proxy.h"
#include "store.h"

/*
 * What names a row of a counting table: up to two label values (unused
 * ones empty) and a status (0 when unused).  Every row starts with it, so
 * that table_row serves the three tables.
 */
struct key {
	char a[METRICS_LABEL_MAX];
	char b[METRICS_LABEL_MAX];
	int status;
};

/* Requests: a is the route, b the method. */
struct series {
	struct key k;
	uint64_t count;
	uint64_t bytes;
};

/* One route's latency (a): counts per bucket (not cumulative; the last is +Inf). */
struct histo {
	struct key k;
	uint64_t bucket[METRICS_NBUCKETS + 1];
	double sum;
	uint64_t count;
};

/* Webhook reviews: a is the decision, b the reason. */
struct whcount {
	struct key k;
	uint64_t count;
};

/* What is counted; metrics_render formats a copy, so that the lock is not held meanwhile. */
struct counts {
	struct series s[METRICS_SERIES_MAX];
	size_t n;
	struct histo h[METRICS_ROUTES_MAX];
	size_t nh;
	struct whcount wh[METRICS_WEBHOOK_MAX];
	size_t nwh;
	struct metrics_store store;
	uint64_t imports[3];  /* ok, failed, skipped */
	uint64_t loads[2][2]; /* by source (upload, import), then result (ok, failed) */
};

struct metrics {
	char *version;
	pthread_mutex_t mtx; /* guards c */
	struct counts c;
	struct proxy *proxy; /* set before serving; counters of its own */
};

static const double bucket_le[METRICS_NBUCKETS] = METRICS_BUCKETS;
static const char *const import_results[] = { "ok", "failed", "skipped" };
static const char *const load_sources[] = { "upload", "import" };

int
metrics_new(const char *version, struct metrics **out, struct barge_err *err)
{
	struct metrics *m;

	if ((m = calloc(1, sizeof(*m))) == NULL || (m->version = strdup(version)) == NULL) {
		free(m);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&m->mtx, NULL);
	*out = m;
	return BARGE_OK;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mtx);
	free(m->version);
	free(m);
}

static void
label_copy(char *dst, const char *src)
{
	snprintf(dst, METRICS_LABEL_MAX, "%s", src != NULL ? src : "");
}

/*
 * The row of (a, b, status) in a table of *n rows of size bytes (at most
 * max), added when new.  The last row is kept for everything that did not
 * fit, as ("overflow", "", 0), so the table stays bounded.  mtx held.
 */
static void *
table_row(void *rows, size_t size, size_t *n, size_t max, const char *a, const char *b, int status)
{
	struct key *k;
	size_t i;

	for (i = 0; i < *n; i++) {
		k = (struct key *)((char *)rows + i * size);
		if (k->status == status && strncmp(k->a, a, METRICS_LABEL_MAX - 1) == 0 &&
		    strncmp(k->b, b, METRICS_LABEL_MAX - 1) == 0)
			return k;
	}
	if (*n < max - 1) {
		k = (struct key *)((char *)rows + (*n)++ * size);
		label_copy(k->a, a);
		label_copy(k->b, b);
		k->status = status;
		return k;
	}
	k = (struct key *)((char *)rows + (max - 1) * size);
	if (*n < max) {
		*n = max;
		label_copy(k->a, "overflow");
		label_copy(k->b, "");
		k->status = 0;
	}
	return k;
}

static void
histo_observe(struct histo *h, double seconds)
{
	size_t b = 0;

	if (!(seconds >= 0))
		seconds = 0;
	while (b < METRICS_NBUCKETS && seconds > bucket_le[b])
		b++;
	h->bucket[b]++;
	h->sum += seconds;
	h->count++;
}

void
metrics_count(struct metrics *m, const char *route, const char *method, int status, uint64_t bytes,
              double seconds)
{
	struct series *s;

	pthread_mutex_lock(&m->mtx);
	histo_observe(
	        table_row(m->c.h, sizeof(m->c.h[0]), &m->c.nh, METRICS_ROUTES_MAX, route, "", 0),
	        seconds);
	s = table_row(m->c.s, sizeof(m->c.s[0]), &m->c.n, METRICS_SERIES_MAX, route, method,
	              status);
	s->count++;
	s->bytes += bytes;
	pthread_mutex_unlock(&m->mtx);
}

/* The index of s in the n words of v, or n when it is none of them. */
static size_t
word_index(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n && strcmp(s, v[i]) != 0; i++)
		;
	return i;
}

void
metrics_import(struct metrics *m, const char *result)
{
	size_t i = word_index(import_results, 3, result);

	if (i == 3)
		return;
	pthread_mutex_lock(&m->mtx);
	m->c.imports[i]++;
	pthread_mutex_unlock(&m->mtx);
	if (i < 2)
		metrics_load(m, "import", i == 0);
}

void
metrics_load(struct metrics *m, const char *source, int ok)
{
	size_t i = word_index(load_sources, 2, source);

	if (i == 2)
		return;
	pthread_mutex_lock(&m->mtx);
	m->c.loads[i][ok ? 0 : 1]++;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_webhook(struct metrics *m, const char *decision, const char *reason)
{
	struct whcount *w;

	pthread_mutex_lock(&m->mtx);
	w = table_row(m->c.wh, sizeof(m->c.wh[0]), &m->c.nwh, METRICS_WEBHOOK_MAX, decision, reason,
	              0);
	w->count++;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_set_store(struct metrics *m, const struct metrics_store *st)
{
	pthread_mutex_lock(&m->mtx);
	m->c.store = *st;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_get_store(struct metrics *m, struct metrics_store *st)
{
	pthread_mutex_lock(&m->mtx);
	*st = m->c.store;
	pthread_mutex_unlock(&m->mtx);
}

/* Rows by their key, for qsort: every table's rows start with one. */
static int
key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c;

	if ((c = strcmp(x->a, y->a)) != 0)
		return c;
	if ((c = strcmp(x->b, y->b)) != 0)
		return c;
	return (x->status > y->status) - (x->status < y->status);
}

/* A label value with \, " and newline escaped, as the text format asks. */
static void
put_label(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void
put_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
render_requests(FILE *f, const struct counts *p)
{
	size_t i;

	put_head(f, "barged_http_requests_total", "counter",
	         "HTTP requests answered, by route, method and status.");
	for (i = 0; i < p->n; i++) {
		fputs("barged_http_requests_total{route=\"", f);
		put_label(f, p->s[i].k.a);
		fputs("\",method=\"", f);
		put_label(f, p->s[i].k.b);
		fprintf(f, "\",status=\"%d\"} %llu\n", p->s[i].k.status,
		        (unsigned long long)p->s[i].count);
	}
	put_head(f, "barged_http_response_bytes_total", "counter",
	         "Response body bytes sent, by route.");
	for (i = 0; i < p->n; i++) {
		uint64_t sum = p->s[i].bytes;

		/* Series are sorted by route: sum each route's run. */
		while (i + 1 < p->n && strcmp(p->s[i + 1].k.a, p->s[i].k.a) == 0)
			sum += p->s[++i].bytes;
		fputs("barged_http_response_bytes_total{route=\"", f);
		put_label(f, p->s[i].k.a);
		fprintf(f, "\"} %llu\n", (unsigned long long)sum);
	}
}

/* One histogram per route, buckets cumulative as the text format asks. */
static void
render_histograms(FILE *f, const struct counts *p)
{
	uint64_t cum;
	size_t i, b;

	put_head(f, "barged_http_request_duration_seconds", "histogram",
	         "Time from a request's head to its last byte sent, by route.");
	for (i = 0; i < p->nh; i++) {
		cum = 0;
		for (b = 0; b <= METRICS_NBUCKETS; b++) {
			cum += p->h[i].bucket[b];
			fputs("barged_http_request_duration_seconds_bucket{route=\"", f);
			put_label(f, p->h[i].k.a);
			if (b < METRICS_NBUCKETS)
				fprintf(f, "\",le=\"%g\"} %llu\n", bucket_le[b],
				        (unsigned long long)cum);
			else
				fprintf(f, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		fputs("barged_http_request_duration_seconds_sum{route=\"", f);
		put_label(f, p->h[i].k.a);
		fprintf(f, "\"} %.9g\n", p->h[i].sum);
		fputs("barged_http_request_duration_seconds_count{route=\"", f);
		put_label(f, p->h[i].k.a);
		fprintf(f, "\"} %llu\n", (unsigned long long)p->h[i].count);
	}
}

static void
render_store(FILE *f, const struct metrics_store *st)
{
	put_head(f, "barged_uploads_active", "gauge", "Open push upload sessions.");
	fprintf(f, "barged_uploads_active %lld\n", (long long)st->uploads);
	put_head(f, "barged_store_blobs", "gauge", "Blobs in the store.");
	fprintf(f, "barged_store_blobs %lld\n", (long long)st->blobs);
	put_head(f, "barged_store_bytes", "gauge", "Bytes of the blobs in the store.");
	fprintf(f, "barged_store_bytes %lld\n", (long long)st->bytes);
	put_head(f, "barged_store_tags", "gauge", "Tags in the store, over every repository.");
	fprintf(f, "barged_store_tags %lld\n", (long long)st->tags);
	put_head(f, "barged_store_repositories", "gauge", "Repositories in the store.");
	fprintf(f, "barged_store_repositories %lld\n", (long long)st->repos);
}

static void
render_counters(FILE *f, const struct counts *p)
{
	size_t i;

	put_head(f, "barged_imports_total", "counter",
	         "Bundles found in watched directories, by result.");
	for (i = 0; i < 3; i++)
		fprintf(f, "barged_imports_total{result=\"%s\"} %llu\n", import_results[i],
		        (unsigned long long)p->imports[i]);
	put_head(f, "barged_bundle_loads_total", "counter",
	         "Bundles loaded by this barged serve, by source (upload, import) and result; "
	         "barged load runs in a process of its own and is not counted.");
	for (i = 0; i < 2; i++)
		fprintf(f,
		        "barged_bundle_loads_total{source=\"%s\",result=\"ok\"} %llu\n"
		        "barged_bundle_loads_total{source=\"%s\",result=\"failed\"} %llu\n",
		        load_sources[i], (unsigned long long)p->loads[i][0], load_sources[i],
		        (unsigned long long)p->loads[i][1]);
	put_head(f, "barged_webhook_reviews_total", "counter",
	         "Admission reviews answered by the image-swap webhook, by decision (swapped, "
	         "left, error) and reason.");
	for (i = 0; i < p->nwh; i++) {
		fputs("barged_webhook_reviews_total{decision=\"", f);
		put_label(f, p->wh[i].k.a);
		fputs("\",reason=\"", f);
		put_label(f, p->wh[i].k.b);
		fprintf(f, "\"} %llu\n", (unsigned long long)p->wh[i].count);
	}
}

/* --- the pull-through cache (proxy.h) ------------------------------------- */

struct proxy_render {
	FILE *f;
	int pass;
	uint64_t errors;
};

static void
render_proxy_one(const struct proxy_stats *st, void *arg)
{
	struct proxy_render *pr = arg;
	int r;

	switch (pr->pass) {
	case 0:
		for (r = 0; r < PROXY_NRESULTS; r++) {
			fputs("barged_proxy_requests_total{registry=\"", pr->f);
			put_label(pr->f, st->registry);
			fprintf(pr->f, "\",result=\"%s\"} %llu\n",
			        proxy_result_name((enum proxy_result)r),
			        (unsigned long long)st->requests[r]);
		}
		pr->errors += st->errors;
		break;
	case 1:
		fputs("barged_proxy_upstream_bytes_total{registry=\"", pr->f);
		put_label(pr->f, st->registry);
		fprintf(pr->f, "\"} %llu\n", (unsigned long long)st->bytes);
		break;
	default:
		fputs("barged_proxy_upstream_up{registry=\"", pr->f);
		put_label(pr->f, st->registry);
		fprintf(pr->f, "\"} %d\n", st->up);
		break;
	}
}

/* Registries are the configured ones (and "peer"): a bounded set of labels. */
static void
render_proxy(FILE *f, struct proxy *p)
{
	struct proxy_render pr = { f, 0, 0 };

	if (p != NULL) {
		put_head(f, "barged_proxy_requests_total", "counter",
		         "Manifest and blob requests of the pull-through cache, by upstream "
		         "registry and result (hit, miss, revalidated, stale, error).");
		proxy_each_stats(p, render_proxy_one, &pr);
		pr.pass = 1;
		put_head(f, "barged_proxy_upstream_bytes_total", "counter",
		         "Body bytes fetched from upstream registries and peers.");
		proxy_each_stats(p, render_proxy_one, &pr);
		pr.pass = 2;
		put_head(f, "barged_proxy_upstream_up", "gauge",
		         "1 while the upstream answers, 0 while it is backed off after a failure.");
		proxy_each_stats(p, render_proxy_one, &pr);
	}
	put_head(f, "barged_upstream_errors_total", "counter",
	         "Failed requests to upstream registries and peers of the pull-through cache.");
	fprintf(f, "barged_upstream_errors_total %llu\n", (unsigned long long)pr.errors);
}

void
metrics_set_proxy(struct metrics *m, struct proxy *p)
{
	m->proxy = p;
}

static void
render_process(FILE *f, const struct metrics_process *pr)
{
	put_head(f, "process_cpu_seconds_total", "counter",
	         "Total user and system CPU time spent in seconds.");
	fprintf(f, "process_cpu_seconds_total %.2f\n", pr->cpu_seconds);
	put_head(f, "process_open_fds", "gauge", "Number of open file descriptors.");
	fprintf(f, "process_open_fds %lld\n", (long long)pr->open_fds);
	put_head(f, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	fprintf(f, "process_max_fds %lld\n", (long long)pr->max_fds);
	put_head(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	fprintf(f, "process_resident_memory_bytes %lld\n", (long long)pr->rss_bytes);
	put_head(f, "process_start_time_seconds", "gauge",
	         "Start time of the process since unix epoch in seconds.");
	fprintf(f, "process_start_time_seconds %.2f\n", pr->start_seconds);
}

int
metrics_render(struct metrics *m, long in_flight, const struct metrics_process *proc, char **out,
               size_t *len, struct barge_err *err)
{
	struct counts *p = NULL;
	char *buf = NULL;
	size_t blen = 0;
	FILE *f;

	if ((p = malloc(sizeof(*p))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pthread_mutex_lock(&m->mtx);
	*p = m->c;
	pthread_mutex_unlock(&m->mtx);
	qsort(p->s, p->n, sizeof(p->s[0]), key_cmp);
	qsort(p->h, p->nh, sizeof(p->h[0]), key_cmp);
	qsort(p->wh, p->nwh, sizeof(p->wh[0]), key_cmp);

	if ((f = open_memstream(&buf, &blen)) == NULL) {
		free(p);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	put_head(f, "barged_build_info", "gauge", "The version of this barged.");
	fputs("barged_build_info{version=\"", f);
	put_label(f, m->version);
	fputs("\"} 1\n", f);
	render_requests(f, p);
	render_histograms(f, p);
	if (in_flight >= 0) {
		put_head(f, "barged_http_requests_in_flight", "gauge", "Requests being handled.");
		fprintf(f, "barged_http_requests_in_flight %ld\n", in_flight);
	}
	render_store(f, &p->store);
	render_counters(f, p);
	render_proxy(f, m->proxy);
	if (proc != NULL)
		render_process(f, proc);
	free(p);
	if (fclose(f) != 0) {
		free(buf);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	*out = buf;
	*len = blen;
	return BARGE_OK;
}

/* --- this process, from /proc ------------------------------------------- */

/*
 * A small /proc file into buf (NUL-terminated): fu_read_file trusts
 * st_size, which /proc reports as 0.
 */
static int
proc_read(const char *path, char *buf, size_t room, struct barge_err *err)
{
	size_t have = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, BARGE_EIO, errno, "%s", path);
	while (have < room - 1) {
		n = read(fd, buf + have, room - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	return have > 0 ? BARGE_OK : err_set(err, BARGE_EIO, "%s: nothing read", path);
}

/* utime, stime and starttime (clock ticks) from /proc/self/stat. */
static int
proc_stat(unsigned long long *utime, unsigned long long *stime, unsigned long long *start,
          struct barge_err *err)
{
	char buf[1024], *p;
	int rc;

	if ((rc = proc_read("/proc/self/stat", buf, sizeof(buf), err)) != BARGE_OK)
		return rc;
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
	           " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
	           "%*d %llu",
	           utime, stime, start) != 3)
		return err_set(err, BARGE_EFORMAT, "/proc/self/stat: unexpected format");
	return BARGE_OK;
}

/* The boot time (btime of /proc/stat, whose other lines can be long), Unix seconds. */
static int
proc_btime(long long *btime, struct barge_err *err)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int rc;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return err_sys(err, BARGE_EIO, errno, "/proc/stat");
	rc = err_set(err, BARGE_EFORMAT, "/proc/stat: no btime");
	while (getline(&line, &cap, f) > 0)
		if (sscanf(line, "btime %lld", btime) == 1) {
			err_clear(err);
			rc = BARGE_OK;
			break;
		}
	free(line);
	fclose(f);
	return rc;
}

static int
proc_fds(int64_t *n, struct barge_err *err)
{
	struct dirent *e;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return err_sys(err, BARGE_EIO, errno, "/proc/self/fd");
	*n = 0;
	while ((e = readdir(d)) != NULL)
		/* Not ".", "..", nor the descriptor reading the directory. */
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			(*n)++;
	closedir(d);
	return BARGE_OK;
}

int
metrics_process_read(struct metrics_process *out, struct barge_err *err)
{
	unsigned long long utime, stime, start;
	long long btime, pages;
	long tck = sysconf(_SC_CLK_TCK), psz = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	char buf[256];
	int rc;

	memset(out, 0, sizeof(*out));
	if (tck <= 0 || psz <= 0)
		return err_set(err, BARGE_EINTERNAL, "sysconf: no clock tick or page size");
	if ((rc = proc_stat(&utime, &stime, &start, err)) != BARGE_OK ||
	    (rc = proc_btime(&btime, err)) != BARGE_OK ||
	    (rc = proc_fds(&out->open_fds, err)) != BARGE_OK)
		return rc;
	if ((rc = proc_read("/proc/self/statm", buf, sizeof(buf), err)) != BARGE_OK)
		return rc;
	if (sscanf(buf, "%*d %lld", &pages) != 1)
		return err_set(err, BARGE_EFORMAT, "/proc/self/statm: unexpected format");
	out->rss_bytes = (int64_t)pages * psz;
	out->cpu_seconds = (double)(utime + stime) / (double)tck;
	out->start_seconds = (double)btime + (double)start / (double)tck;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
	return BARGE_OK;
}

/* --- the store snapshot -------------------------------------------------- */

int
metrics_store_scan(struct store *s, struct metrics_store *out, struct barge_err *err)
{
	struct store_stats st;
	int rc;

	if ((rc = store_stats(s, &st, err)) != BARGE_OK)
		return rc;
	out->blobs = st.blobs;
	out->bytes = st.bytes;
	out->uploads = st.uploads;
	out->tags = st.tags;
	out->repos = st.repos;
	return BARGE_OK;
}
