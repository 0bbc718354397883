#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct series {
	char route[METRICS_LABEL_MAX];
	char method[METRICS_LABEL_MAX];
	int status;
	uint64_t count;
	uint64_t bytes;
};

struct metrics {
	char *version;
	pthread_mutex_t mtx; /* guards what follows */
	struct series s[METRICS_SERIES_MAX];
	size_t n;
	struct metrics_store store;
	uint64_t imports[3]; /* ok, failed, skipped */
};

static const char *const import_results[] = { "ok", "failed", "skipped" };

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

void
metrics_count(struct metrics *m, const char *route, const char *method, int status, uint64_t bytes)
{
	struct series *s = NULL;
	size_t i;

	pthread_mutex_lock(&m->mtx);
	for (i = 0; i < m->n; i++) {
		if (m->s[i].status == status &&
		    strncmp(m->s[i].route, route, METRICS_LABEL_MAX - 1) == 0 &&
		    strncmp(m->s[i].method, method, METRICS_LABEL_MAX - 1) == 0) {
			s = &m->s[i];
			break;
		}
	}
	if (s == NULL && m->n < METRICS_SERIES_MAX - 1) {
		s = &m->s[m->n++];
		label_copy(s->route, route);
		label_copy(s->method, method);
		s->status = status;
	}
	/* The last slot is kept for everything that did not fit. */
	if (s == NULL) {
		s = &m->s[METRICS_SERIES_MAX - 1];
		if (m->n < METRICS_SERIES_MAX) {
			m->n = METRICS_SERIES_MAX;
			label_copy(s->route, "overflow");
			label_copy(s->method, "");
		}
	}
	s->count++;
	s->bytes += bytes;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_import(struct metrics *m, const char *result)
{
	size_t i;

	for (i = 0; i < 3; i++)
		if (strcmp(result, import_results[i]) == 0)
			break;
	if (i == 3)
		return;
	pthread_mutex_lock(&m->mtx);
	m->imports[i]++;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_set_store(struct metrics *m, const struct metrics_store *st)
{
	pthread_mutex_lock(&m->mtx);
	m->store = *st;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_get_store(struct metrics *m, struct metrics_store *st)
{
	pthread_mutex_lock(&m->mtx);
	*st = m->store;
	pthread_mutex_unlock(&m->mtx);
}

static int
series_cmp(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c;

	if ((c = strcmp(x->route, y->route)) != 0)
		return c;
	if ((c = strcmp(x->method, y->method)) != 0)
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

int
metrics_render(struct metrics *m, long in_flight, char **out, size_t *len, struct barge_err *err)
{
	struct series *s = NULL;
	struct metrics_store st;
	uint64_t imports[3];
	char *buf = NULL;
	size_t n, i, blen = 0;
	FILE *f;

	/* Copied out, so the lock is not held while formatting. */
	if ((s = malloc(sizeof(m->s))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pthread_mutex_lock(&m->mtx);
	n = m->n;
	memcpy(s, m->s, n * sizeof(*s));
	st = m->store;
	memcpy(imports, m->imports, sizeof(imports));
	pthread_mutex_unlock(&m->mtx);
	qsort(s, n, sizeof(*s), series_cmp);

	if ((f = open_memstream(&buf, &blen)) == NULL) {
		free(s);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	put_head(f, "barged_build_info", "gauge", "The version of this barged.");
	fputs("barged_build_info{version=\"", f);
	put_label(f, m->version);
	fputs("\"} 1\n", f);
	put_head(f, "barged_http_requests_total", "counter",
	         "HTTP requests answered, by route, method and status.");
	for (i = 0; i < n; i++) {
		fputs("barged_http_requests_total{route=\"", f);
		put_label(f, s[i].route);
		fputs("\",method=\"", f);
		put_label(f, s[i].method);
		fprintf(f, "\",status=\"%d\"} %llu\n", s[i].status, (unsigned long long)s[i].count);
	}
	put_head(f, "barged_http_response_bytes_total", "counter",
	         "Response body bytes sent, by route.");
	for (i = 0; i < n; i++) {
		uint64_t sum = s[i].bytes;

		/* Series are sorted by route: sum each route's run. */
		while (i + 1 < n && strcmp(s[i + 1].route, s[i].route) == 0)
			sum += s[++i].bytes;
		fputs("barged_http_response_bytes_total{route=\"", f);
		put_label(f, s[i].route);
		fprintf(f, "\"} %llu\n", (unsigned long long)sum);
	}
	if (in_flight >= 0) {
		put_head(f, "barged_http_requests_in_flight", "gauge", "Requests being handled.");
		fprintf(f, "barged_http_requests_in_flight %ld\n", in_flight);
	}
	put_head(f, "barged_uploads_active", "gauge", "Open push upload sessions.");
	fprintf(f, "barged_uploads_active %lld\n", (long long)st.uploads);
	put_head(f, "barged_store_blobs", "gauge", "Blobs in the store.");
	fprintf(f, "barged_store_blobs %lld\n", (long long)st.blobs);
	put_head(f, "barged_store_bytes", "gauge", "Bytes of the blobs in the store.");
	fprintf(f, "barged_store_bytes %lld\n", (long long)st.bytes);
	put_head(f, "barged_store_images", "gauge", "Tags in the store, over every repository.");
	fprintf(f, "barged_store_images %lld\n", (long long)st.images);
	put_head(f, "barged_store_repositories", "gauge", "Repositories in the store.");
	fprintf(f, "barged_store_repositories %lld\n", (long long)st.repos);
	put_head(f, "barged_imports_total", "counter",
	         "Bundles found in watched directories, by result.");
	for (i = 0; i < 3; i++)
		fprintf(f, "barged_imports_total{result=\"%s\"} %llu\n", import_results[i],
		        (unsigned long long)imports[i]);
	free(s);
	if (fclose(f) != 0) {
		free(buf);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	*out = buf;
	*len = blen;
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
	out->images = st.tags;
	out->repos = st.repos;
	return BARGE_OK;
}
