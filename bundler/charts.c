/*
 * charts: a Helm chart archive read as the OCI artifact Helm would push
 * (charts.h).  It owns, for the length of one call, the archive it reads,
 * and the struct chart it returns owns the texts made from it.
 */
#include "charts.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "manifest.h"
#include "mediatype.h"
#include "yjson.h"

#define CHUNK (64 * 1024)

/* Chart.yaml's fields in the order Helm's chart.Metadata writes them into the config. */
static const char *const meta_fields[] = {
	"name",        "home",        "sources",     "version",      "description", "keywords",
	"maintainers", "icon",        "apiVersion",  "condition",    "tags",        "appVersion",
	"deprecated",  "annotations", "kubeVersion", "dependencies", "type",
};

int
charts_is_source(const char *from)
{
	return strncmp(from, CHARTS_PREFIX, strlen(CHARTS_PREFIX)) == 0;
}

void
charts_free(struct chart *ch)
{
	if (ch == NULL)
		return;
	free(ch->path);
	free(ch->name);
	free(ch->version);
	free(ch->tag);
	free(ch->config);
	free(ch->manifest);
	free(ch->values);
	free(ch->values_name);
	free(ch);
}

static int
nomem(struct barge_err *err)
{
	return err_set(err, BARGE_ENOMEM, "out of memory");
}

/* The archive's sha256 and size, read as a stream. */
static int
hash_archive(struct chart *ch, struct barge_err *err)
{
	struct digest_ctx *d = NULL;
	struct stat st;
	int fd, rc;

	if ((fd = open(ch->path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, errno == ENOENT ? BARGE_ENOTFOUND : BARGE_EIO, errno, "%s",
		               ch->path);
	if (fstat(fd, &st) != 0) {
		rc = err_sys(err, BARGE_EIO, errno, "%s", ch->path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(err, BARGE_EINVAL, "%s: not a file", ch->path);
		goto out;
	}
	ch->tgz_size = (int64_t)st.st_size;
	if ((rc = digest_new(DIGEST_SHA256, &d, err)) != BARGE_OK ||
	    (rc = digest_update_fd(d, fd, ch->tgz_size, ch->path, err)) != BARGE_OK)
		goto out;
	rc = digest_final(d, ch->tgz_digest, err);
out:
	digest_free(d);
	close(fd);
	return rc;
}

/*
 * Where a chart's own file sits: "<top>/<file>", optionally after "./".
 * Sets *top (its length in *toplen) and returns the file part, or NULL for
 * an entry at another depth.
 */
static const char *
split_entry(const char *name, const char **top, size_t *toplen)
{
	const char *slash;

	if (strncmp(name, "./", 2) == 0)
		name += 2;
	if ((slash = strchr(name, '/')) == NULL || slash == name || strchr(slash + 1, '/') != NULL)
		return NULL;
	*top = name;
	*toplen = (size_t)(slash - name);
	return slash + 1;
}

/* The current entry's data, at most max bytes, NUL-terminated; caller frees *buf. */
static int
slurp_entry(struct archive *a, struct archive_entry *ae, const char *path, size_t max, char **buf,
            size_t *len, struct barge_err *err)
{
	int64_t size = archive_entry_size(ae);
	la_ssize_t n;
	size_t got = 0;
	char *b;

	if (size < 0 || size > (int64_t)max)
		return err_set(err, BARGE_ELIMIT, "%s: %s is larger than %zu bytes", path,
		               archive_entry_pathname(ae), max);
	if ((b = malloc((size_t)size + 1)) == NULL)
		return nomem(err);
	while (got < (size_t)size && (n = archive_read_data(a, b + got, (size_t)size - got)) > 0)
		got += (size_t)n;
	if (got != (size_t)size) {
		free(b);
		return err_set(err, BARGE_EFORMAT, "%s: %s: %s", path, archive_entry_pathname(ae),
		               archive_error_string(a) != NULL ? archive_error_string(a)
		                                               : "truncated");
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return BARGE_OK;
}

/* What a scan of the archive finds: the chart's directory, its Chart.yaml and values.yaml. */
struct found {
	char *top;
	char *chart_yaml;
	size_t chart_len;
	char *values_top;
	char *values;
	size_t values_len;
};

/* Keeps entry file of directory top, when it is one of the two files a chart is read for. */
static int
keep_entry(struct chart *ch, struct found *f, struct archive *a, struct archive_entry *ae,
           const char *top, size_t toplen, const char *file, struct barge_err *err)
{
	int rc;

	if (strcmp(file, "Chart.yaml") == 0) {
		if (f->top != NULL)
			return err_set(
			        err, BARGE_EFORMAT,
			        "%s: holds more than one chart (%s/Chart.yaml and %.*s/Chart.yaml)",
			        ch->path, f->top, (int)toplen, top);
		if ((f->top = strndup(top, toplen)) == NULL)
			return nomem(err);
		return slurp_entry(a, ae, ch->path, CHARTS_YAML_MAX, &f->chart_yaml, &f->chart_len,
		                   err);
	}
	if (strcmp(file, "values.yaml") == 0 && f->values == NULL) {
		if ((f->values_top = strndup(top, toplen)) == NULL)
			return nomem(err);
		if ((rc = slurp_entry(a, ae, ch->path, YJSON_FILE_MAX, &f->values, &f->values_len,
		                      err)) != BARGE_OK)
			return rc;
	}
	return BARGE_OK;
}

/* Reads the archive's entries, within CHARTS_ENTRIES_MAX and CHARTS_UNPACKED_MAX. */
static int
scan_archive(struct chart *ch, struct found *f, struct barge_err *err)
{
	struct archive *a = NULL;
	struct archive_entry *ae;
	const char *file, *top;
	int64_t unpacked = 0, size;
	size_t n = 0, toplen;
	int r, rc;

	if ((a = archive_read_new()) == NULL)
		return nomem(err);
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_filename(a, ch->path, CHUNK) != ARCHIVE_OK) {
		rc = err_set(err, BARGE_EFORMAT, "%s: not a Helm chart archive (a .tgz): %s",
		             ch->path, archive_error_string(a));
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			rc = err_set(err, BARGE_EFORMAT,
			             "%s: not a Helm chart archive (a .tgz): %s", ch->path,
			             archive_error_string(a));
			goto out;
		}
		/* Helm packages charts gzip-compressed; its layer media type says so. */
		if (n == 0 && archive_filter_code(a, 0) != ARCHIVE_FILTER_GZIP) {
			rc = err_set(err, BARGE_EFORMAT,
			             "%s: not a Helm chart archive (a .tgz): not gzip-compressed",
			             ch->path);
			goto out;
		}
		/* Sizes come from the archive: checked before they are added. */
		size = archive_entry_size(ae) > 0 ? archive_entry_size(ae) : 0;
		if (++n > CHARTS_ENTRIES_MAX || size > CHARTS_UNPACKED_MAX - unpacked) {
			rc = err_set(err, BARGE_ELIMIT,
			             "%s: more than %d files or %lld bytes unpacked", ch->path,
			             CHARTS_ENTRIES_MAX, (long long)CHARTS_UNPACKED_MAX);
			goto out;
		}
		unpacked += size;
		if (archive_entry_filetype(ae) != AE_IFREG ||
		    (file = split_entry(archive_entry_pathname(ae), &top, &toplen)) == NULL)
			continue;
		if ((rc = keep_entry(ch, f, a, ae, top, toplen, file, err)) != BARGE_OK)
			goto out;
	}
	if (f->top == NULL) {
		rc = err_set(err, BARGE_EFORMAT, "%s: no <chart>/Chart.yaml in the archive",
		             ch->path);
		goto out;
	}
	rc = BARGE_OK;
out:
	archive_read_free(a);
	return rc;
}

/* Chart.yaml's string field key, which must be there and not empty. */
static int
chart_field(const struct yjson *y, const json_t *doc, const char *key, const char **out,
            struct barge_err *err)
{
	json_t *v = json_object_get(doc, key);
	int line = 0, col = 0;

	if (v != NULL && json_is_string(v) && json_string_length(v) > 0) {
		*out = json_string_value(v);
		return BARGE_OK;
	}
	/* The value where it is wrong, the mapping where it is missing. */
	if (v == NULL ||
	    (yjson_pos(y, v, &line, &col) != 0 && yjson_key_pos(y, doc, key, &line, &col) != 0))
		(void)yjson_pos(y, doc, &line, &col);
	return err_set(err, BARGE_EFORMAT, "%s:%d:%d: %s: %s", yjson_name(y), line, col, key,
	               v == NULL           ? "missing"
	               : json_is_string(v) ? "empty"
	                                   : "expected a string (quote it)");
}

/* The config blob: Chart.yaml's known fields as JSON, in Helm's order. */
static int
make_config(struct chart *ch, const json_t *doc, struct barge_err *err)
{
	json_t *cfg = json_object(), *v;
	size_t i;
	int rc;

	if (cfg == NULL)
		return nomem(err);
	for (i = 0; i < sizeof(meta_fields) / sizeof(meta_fields[0]); i++) {
		v = json_object_get(doc, meta_fields[i]);
		/* Helm leaves out empty fields (omitempty). */
		if (v == NULL || json_is_null(v) ||
		    (json_is_string(v) && json_string_length(v) == 0))
			continue;
		if (json_object_set(cfg, meta_fields[i], v) != 0) {
			json_decref(cfg);
			return nomem(err);
		}
	}
	ch->config = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(cfg);
	if (ch->config == NULL)
		return nomem(err);
	ch->config_len = strlen(ch->config);
	rc = digest_buf(DIGEST_SHA256, ch->config, ch->config_len, ch->config_digest, err);
	return rc;
}

/* The manifest `helm push` writes: the config, the archive as the one layer, and annotations. */
static int
make_manifest(struct chart *ch, const json_t *doc)
{
	json_t *m, *ann, *desc;

	m = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}],s:{s:s,s:s}}", "schemaVersion", 2,
	              "mediaType", MT_OCI_MANIFEST, "config", "mediaType", MT_HELM_CONFIG, "digest",
	              ch->config_digest, "size", (json_int_t)ch->config_len, "layers", "mediaType",
	              MT_HELM_CHART, "digest", ch->tgz_digest, "size", (json_int_t)ch->tgz_size,
	              "annotations", "org.opencontainers.image.title", ch->name,
	              "org.opencontainers.image.version", ch->version);
	if (m == NULL)
		return BARGE_ENOMEM;
	desc = json_object_get(doc, "description");
	ann = json_object_get(m, "annotations");
	if (json_is_string(desc) && json_string_length(desc) > 0 &&
	    json_object_set(ann, "org.opencontainers.image.description", desc) != 0) {
		json_decref(m);
		return BARGE_ENOMEM;
	}
	ch->manifest = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(m);
	if (ch->manifest == NULL)
		return BARGE_ENOMEM;
	ch->manifest_len = strlen(ch->manifest);
	return BARGE_OK;
}

/* Chart.yaml: its name, version and apiVersion checked, then the config and manifest made. */
static int
read_chart_yaml(struct chart *ch, const struct found *f, struct barge_err *err)
{
	struct yjson *y = NULL;
	struct ref *r = NULL;
	struct barge_err rerr;
	const char *name, *version, *api;
	char *disp = NULL, *s = NULL;
	json_t *doc;
	int line = 0, col = 0, rc;

	if ((disp = fu_printf("%s:%s/Chart.yaml", ch->path, f->top)) == NULL)
		return nomem(err);
	if ((rc = yjson_load_buf(disp, f->chart_yaml, f->chart_len, &y, err)) != BARGE_OK)
		goto out;
	doc = yjson_ndocs(y) > 0 ? yjson_doc(y, 0) : NULL;
	if (!json_is_object(doc)) {
		rc = err_set(err, BARGE_EFORMAT, "%s: expected a mapping, got %s", disp,
		             doc != NULL ? yjson_type_name(doc) : "nothing");
		goto out;
	}
	if ((rc = chart_field(y, doc, "apiVersion", &api, err)) != BARGE_OK ||
	    (rc = chart_field(y, doc, "name", &name, err)) != BARGE_OK ||
	    (rc = chart_field(y, doc, "version", &version, err)) != BARGE_OK)
		goto out;
	if ((ch->name = strdup(name)) == NULL || (ch->version = strdup(version)) == NULL ||
	    (ch->tag = strdup(version)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	/* OCI tags cannot hold '+'; Helm writes semver build metadata with '_'. */
	for (s = ch->tag; *s != '\0'; s++)
		if (*s == '+')
			*s = '_';
	s = NULL;
	if (!ref_valid_tag(ch->tag)) {
		(void)yjson_pos(y, json_object_get(doc, "version"), &line, &col);
		rc = err_set(err, BARGE_EFORMAT, "%s:%d:%d: version: \"%.128s\" cannot be a tag",
		             disp, line, col, version);
		goto out;
	}
	if ((s = charts_ref(ch)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	if (ref_parse(s, &r, &rerr) != BARGE_OK) {
		(void)yjson_pos(y, json_object_get(doc, "name"), &line, &col);
		rc = err_set(err, BARGE_EFORMAT,
		             "%s:%d:%d: name: \"%.128s\" cannot be a repository "
		             "name (lowercase letters, digits, '.', '_' and '-')",
		             disp, line, col, name);
		goto out;
	}
	if ((rc = make_config(ch, doc, err)) != BARGE_OK)
		goto out;
	if (make_manifest(ch, doc) != BARGE_OK) {
		rc = nomem(err);
		goto out;
	}
	rc = digest_buf(DIGEST_SHA256, ch->manifest, ch->manifest_len, ch->manifest_digest, err);
out:
	ref_free(r);
	free(s);
	yjson_free(y);
	free(disp);
	return rc;
}

int
charts_open(const char *path, struct chart **out, struct barge_err *err)
{
	struct found f = { 0 };
	struct chart *ch;
	int rc;

	if ((ch = calloc(1, sizeof(*ch))) == NULL || (ch->path = strdup(path)) == NULL) {
		free(ch);
		return nomem(err);
	}
	if ((rc = hash_archive(ch, err)) != BARGE_OK ||
	    (rc = scan_archive(ch, &f, err)) != BARGE_OK ||
	    (rc = read_chart_yaml(ch, &f, err)) != BARGE_OK)
		goto out;
	/* The chart's own values: those beside its Chart.yaml. */
	if (f.values != NULL && strcmp(f.values_top, f.top) == 0) {
		if ((ch->values_name = fu_printf("%s:%s/values.yaml", path, f.top)) == NULL) {
			rc = nomem(err);
			goto out;
		}
		ch->values = f.values;
		ch->values_len = f.values_len;
		f.values = NULL;
	}
	rc = BARGE_OK;
out:
	free(f.top);
	free(f.chart_yaml);
	free(f.values_top);
	free(f.values);
	if (rc != BARGE_OK) {
		charts_free(ch);
		return rc;
	}
	*out = ch;
	return BARGE_OK;
}

int
charts_is_manifest(const char *buf, size_t len)
{
	struct manifest *m = NULL;
	struct barge_err ignored;
	int yes;

	/* Every image of a bundle is asked: most never name Helm's type and need no parse. */
	if (memmem(buf, len, MT_HELM_CONFIG, strlen(MT_HELM_CONFIG)) == NULL ||
	    manifest_parse(buf, len, NULL, &m, &ignored) != BARGE_OK)
		return 0;
	yes = m->kind == MANIFEST_IMAGE && strcmp(m->config.media_type, MT_HELM_CONFIG) == 0;
	manifest_free(m);
	return yes;
}

char *
charts_ref(const struct chart *ch)
{
	return fu_printf("%s/%s:%s", CHARTS_HOST, ch->name, ch->tag);
}

/* The chart a source "chart:PATH" names. */
static int
open_source(const char *from, struct chart **out, struct barge_err *err)
{
	if (!charts_is_source(from) || from[strlen(CHARTS_PREFIX)] == '\0')
		return err_set(err, BARGE_EINVAL, "\"%.200s\" is not chart:FILE", from);
	return charts_open(from + strlen(CHARTS_PREFIX), out, err);
}

int
charts_manifest(const char *from, const struct ref *r, struct client_manifest *out,
                struct barge_err *err)
{
	struct chart *ch = NULL;
	char *want = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = open_source(from, &ch, err)) != BARGE_OK)
		return rc;
	if ((want = charts_ref(ch)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	/* The archive names itself: a lock written for another version no longer matches. */
	if (strcmp(r->host, CHARTS_HOST) != 0 || strcmp(r->path, ch->name) != 0 ||
	    (r->tag != NULL && strcmp(r->tag, ch->tag) != 0) ||
	    (r->digest != NULL && strcmp(r->digest, ch->manifest_digest) != 0)) {
		rc = err_set(err, BARGE_ENOTFOUND, "%s: the chart is %s@%s, not %s/%s:%s%s%s",
		             ch->path, want, ch->manifest_digest, r->host, r->path,
		             r->tag != NULL ? r->tag : "", r->digest != NULL ? "@" : "",
		             r->digest != NULL ? r->digest : "");
		goto out;
	}
	if ((out->buf = malloc(ch->manifest_len + 1)) == NULL ||
	    (out->media_type = strdup(MT_OCI_MANIFEST)) == NULL) {
		client_manifest_clear(out);
		rc = nomem(err);
		goto out;
	}
	memcpy(out->buf, ch->manifest, ch->manifest_len + 1);
	out->len = ch->manifest_len;
	snprintf(out->digest, sizeof(out->digest), "%s", ch->manifest_digest);
out:
	free(want);
	charts_free(ch);
	return rc;
}

/* The in-memory blob of ch with digest and size (size < 0: any), or NULL. */
static const char *
mem_blob(const struct chart *ch, const char *digest, int64_t size, size_t *len)
{
	const char *b = NULL;

	if (strcmp(digest, ch->manifest_digest) == 0) {
		b = ch->manifest;
		*len = ch->manifest_len;
	} else if (strcmp(digest, ch->config_digest) == 0) {
		b = ch->config;
		*len = ch->config_len;
	}
	if (b != NULL && size >= 0 && (int64_t)*len != size)
		return NULL;
	return b;
}

static int
no_blob(const struct chart *ch, const char *digest, int64_t size, struct barge_err *err)
{
	return err_set(err, BARGE_ENOTFOUND,
	               "%s: the chart gives no blob %s of %" PRId64 " bytes (it changed since "
	               "it was locked?)",
	               ch->path, digest, size);
}

int
charts_read(const char *from, const char *digest, int64_t size, size_t max, char **buf, size_t *len,
            struct barge_err *err)
{
	struct chart *ch = NULL;
	const char *b;
	int rc;

	*buf = NULL;
	if ((rc = open_source(from, &ch, err)) != BARGE_OK)
		return rc;
	if ((b = mem_blob(ch, digest, size, len)) == NULL)
		rc = no_blob(ch, digest, size, err);
	else if (*len > max)
		rc = err_set(err, BARGE_ELIMIT, "%s: blob %s is larger than %zu bytes", ch->path,
		             digest, max);
	else if ((*buf = malloc(*len + 1)) == NULL)
		rc = nomem(err);
	else
		memcpy(*buf, b, *len + 1);
	charts_free(ch);
	return rc;
}

/* Streams the archive into w. */
static int
copy_archive(const struct chart *ch, struct digest_writer *w, struct barge_err *err)
{
	char *buf = NULL;
	ssize_t n;
	int fd, rc = BARGE_OK;

	if ((fd = open(ch->path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, BARGE_EIO, errno, "%s", ch->path);
	if ((buf = malloc(CHUNK)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	while ((n = read(fd, buf, CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(err, BARGE_EIO, errno, "read %s", ch->path);
			goto out;
		}
		if ((rc = digest_writer_write(w, buf, (size_t)n, err)) != BARGE_OK)
			goto out;
	}
out:
	free(buf);
	close(fd);
	return rc;
}

int
charts_copy(const char *from, const char *digest, int64_t size, int fd, struct barge_err *err)
{
	struct digest_writer *w = NULL;
	struct chart *ch = NULL;
	const char *b;
	size_t len;
	int rc;

	if ((rc = open_source(from, &ch, err)) != BARGE_OK)
		return rc;
	b = mem_blob(ch, digest, size, &len);
	if (b == NULL && (strcmp(digest, ch->tgz_digest) != 0 || size != ch->tgz_size)) {
		rc = no_blob(ch, digest, size, err);
		goto out;
	}
	if ((rc = digest_writer_new(fd, digest, size, &w, err)) != BARGE_OK)
		goto out;
	rc = b != NULL ? digest_writer_write(w, b, len, err) : copy_archive(ch, w, err);
	if (rc == BARGE_OK && (rc = digest_writer_finish(w, err)) != BARGE_OK)
		err_prefix(err, "%s", ch->path);
out:
	digest_writer_free(w);
	charts_free(ch);
	return rc;
}
