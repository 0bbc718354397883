/*
 * charts: Helm chart archives (.tgz) as OCI artifacts (docs/profiles.md,
 * "Helm charts").
 *
 * A chart archive becomes the artifact `helm push` would make of it: a
 * config blob of media type MT_HELM_CONFIG holding its Chart.yaml's fields
 * as JSON, one layer of media type MT_HELM_CHART that is the .tgz's bytes
 * unchanged, and an OCI image manifest over the two, tagged with the chart's
 * version ('+' written '_', as Helm does).  The manifest and the config are
 * made the same way every time, so the same archive always gives the same
 * digests.  Its repository is CHARTS_HOST/<name>.
 *
 * A lock names a chart's archive as the local source "chart:PATH"
 * (localsrc.h delegates to this module for it).  The archive is untrusted:
 * it is read with libarchive entry by entry, within the bounds below, and
 * only its Chart.yaml and values.yaml are kept in memory; the .tgz itself
 * is hashed and copied as a stream.  Every call opens and closes the file it
 * reads: the caller owns only what it gets back.
 */
#ifndef BARGE_CHARTS_H
#define BARGE_CHARTS_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "digest.h"
#include "err.h"
#include "ref.h"

#define MT_HELM_CONFIG "application/vnd.cncf.helm.config.v1+json"
#define MT_HELM_CHART  "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

#define CHARTS_PREFIX       "chart:"
#define CHARTS_HOST         "charts.local" /* the registry host of a chart read from a file */
#define CHARTS_YAML_MAX     (1024 * 1024)  /* Chart.yaml */
#define CHARTS_ENTRIES_MAX  10000          /* files in one archive */
#define CHARTS_UNPACKED_MAX (100LL << 20)  /* bytes unpacked: Helm's own limit */

struct chart {
	char *path;    /* the archive, as the caller named it */
	char *name;    /* Chart.yaml's name */
	char *version; /* Chart.yaml's version */
	char *tag;     /* version as a tag */
	char *config;  /* the config blob's bytes */
	size_t config_len;
	char config_digest[DIGEST_STR_MAX];
	char *manifest; /* the manifest's bytes */
	size_t manifest_len;
	char manifest_digest[DIGEST_STR_MAX];
	char tgz_digest[DIGEST_STR_MAX]; /* the layer: the archive itself */
	int64_t tgz_size;
	char *values; /* <dir>/values.yaml's bytes, NUL-terminated; NULL when it has none */
	size_t values_len;
	char *values_name; /* "PATH:<dir>/values.yaml", for messages */
};

/* Whether from is a chart source, "chart:PATH". */
int charts_is_source(const char *from);

/*
 * Reads the chart archive at path.  Errors name path and, for a bad
 * Chart.yaml, its line and field.  Caller frees *out with charts_free.
 */
int charts_open(const char *path, struct chart **out, struct barge_err *err) BARGE_MUST_CHECK;
void charts_free(struct chart *ch);

/* Whether the len bytes of buf are a Helm chart's manifest (its config is MT_HELM_CONFIG). */
int charts_is_manifest(const char *buf, size_t len);

/* "charts.local/<name>:<tag>", the reference a chart from a file is known by; caller frees. */
char *charts_ref(const struct chart *ch);

/*
 * The localsrc.h calls for a source "chart:PATH": the manifest of the chart
 * (r must be its charts_ref), a manifest or config blob read into memory,
 * and any of its blobs streamed, verified, into fd.  A digest the archive
 * does not give (it changed since it was locked) is BARGE_ENOTFOUND.
 */
int charts_manifest(const char *from, const struct ref *r, struct client_manifest *out,
                    struct barge_err *err) BARGE_MUST_CHECK;
int charts_read(const char *from, const char *digest, int64_t size, size_t max, char **buf,
                size_t *len, struct barge_err *err) BARGE_MUST_CHECK;
int charts_copy(const char *from, const char *digest, int64_t size, int fd,
                struct barge_err *err) BARGE_MUST_CHECK;

#endif
