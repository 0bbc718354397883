#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "fixture.h"
#include "import.h"
#include "loader.h"
#include "metrics.h"
#include "sign.h"

struct fixture {
	char dir[FX_DIR_MAX];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_tmpdir(f->dir, "import");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fx_rmtree(f->dir);
	free(f);
	return 0;
}

/* Writes n bytes (of 'x') into dir/name. */
static void
put(const struct fixture *f, const char *name, size_t n)
{
	char *path = fx_path(f->dir, name), *buf = malloc(n + 1);

	assert_non_null(buf);
	memset(buf, 'x', n);
	fx_write(path, buf, n);
	free(buf);
	free(path);
}

static void
put_text(const struct fixture *f, const char *name, const char *text)
{
	char *path = fx_path(f->dir, name);

	fx_write(path, text, strlen(text));
	free(path);
}

/* import_parts_ready for dir/b.tar.zst.part000; the reason goes to why (may be NULL). */
static int
ready(const struct fixture *f, char **why)
{
	char *p = fu_printf("%s/b.tar.zst.part000", f->dir);
	int r = import_parts_ready(p, why);

	free(p);
	return r;
}

static const char list3[] =
        "{\"schemaVersion\":1,\"bundle\":\"b.tar.zst\",\"size\":250,\"parts\":["
        "{\"file\":\"b.tar.zst.part000\",\"size\":100,\"sha256\":\"sha256:00\"},"
        "{\"file\":\"b.tar.zst.part001\",\"size\":100,\"sha256\":\"sha256:01\"},"
        "{\"file\":\"b.tar.zst.part002\",\"size\":50,\"sha256\":\"sha256:02\"}]}";

static void
test_list_waits_for_every_part(void **state)
{
	struct fixture *f = *state;
	char *why = NULL;

	(void)state;
	put_text(f, "b.tar.zst.split.json", list3);
	put(f, "b.tar.zst.part000", 100);
	assert_int_equal(ready(f, &why), 0);
	assert_non_null(why);
	assert_non_null(strstr(why, "b.tar.zst.part001 is not there yet"));
	free(why);
	put(f, "b.tar.zst.part001", 100);
	assert_int_equal(ready(f, NULL), 0);
	/* The last part still being written: too short. */
	put(f, "b.tar.zst.part002", 20);
	assert_int_equal(ready(f, &why), 0);
	assert_non_null(strstr(why, "b.tar.zst.part002 has 20 of 50 bytes"));
	free(why);
	put(f, "b.tar.zst.part002", 50);
	assert_int_equal(ready(f, &why), 1);
	assert_null(why);
}

static void
test_list_size_must_match(void **state)
{
	struct fixture *f = *state;

	put_text(f, "b.tar.zst.split.json", list3);
	put(f, "b.tar.zst.part000", 100);
	put(f, "b.tar.zst.part001", 101);
	put(f, "b.tar.zst.part002", 50);
	assert_int_equal(ready(f, NULL), 0);
}

static void
test_numbering_without_list(void **state)
{
	struct fixture *f = *state;
	char *why = NULL;

	put(f, "b.tar.zst.part000", 10);
	assert_int_equal(ready(f, NULL), 1);
	put(f, "b.tar.zst.part002", 10);
	/* A gap: part001 is on its way. */
	assert_int_equal(ready(f, &why), 0);
	assert_non_null(strstr(why, "one is missing"));
	free(why);
	put(f, "b.tar.zst.part001", 10);
	assert_int_equal(ready(f, NULL), 1);
	/* Other sets and other files beside it do not count. */
	put(f, "c.tar.zst.part005", 10);
	put(f, "b.tar.zst.part003.tmp", 10);
	put(f, "b.tar.zst", 10);
	assert_int_equal(ready(f, NULL), 1);
}

static void
test_unusable_list_falls_back_to_numbering(void **state)
{
	struct fixture *f = *state;

	put(f, "b.tar.zst.part000", 10);
	put(f, "b.tar.zst.part001", 10);
	put_text(f, "b.tar.zst.split.json", "{not json");
	assert_int_equal(ready(f, NULL), 1);
	/* Names with a path are not followed: the list is ignored. */
	put_text(f, "b.tar.zst.split.json",
	         "{\"parts\":[{\"file\":\"../etc/passwd\",\"size\":1}]}");
	assert_int_equal(ready(f, NULL), 1);
	put_text(f, "b.tar.zst.split.json", "{\"parts\":[]}");
	assert_int_equal(ready(f, NULL), 1);
}

static void
test_not_a_first_part(void **state)
{
	struct fixture *f = *state;
	char *p;

	put(f, "b.tar.zst.part001", 10);
	p = fu_printf("%s/b.tar.zst.part001", f->dir);
	assert_int_equal(import_parts_ready(p, NULL), 0);
	free(p);
	assert_int_equal(import_parts_ready("no-part-suffix", NULL), 0);
}

/* --- the watcher ------------------------------------------------------------ */

/* The watcher's outcomes, counted as barged serve counts them. */
static void
count_import(void *m, const char *result)
{
	metrics_import(m, result);
}

/* barged_imports_total{result=R} from the metrics text. */
static long
counted(struct metrics *m, const char *result)
{
	struct barge_err err = { 0 };
	char *text = NULL, key[96], *p;
	size_t len;
	long n = -1;

	assert_int_equal(metrics_render(m, -1, NULL, &text, &len, &err), BARGE_OK);
	snprintf(key, sizeof(key), "barged_imports_total{result=\"%s\"} ", result);
	if ((p = strstr(text, key)) != NULL)
		n = strtol(p + strlen(key), NULL, 10);
	free(text);
	return n;
}

static void
sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

/* Waits up to 10 s for counted(result) to reach n. */
static int
wait_counted(struct metrics *m, const char *result, long n)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (counted(m, result) == n)
			return 1;
		sleep_ms(100);
	}
	return 0;
}

static void
test_watcher_refuses_once(void **state)
{
	struct fixture *f = *state;
	struct import_opts o = { 0 };
	struct barge_err err = { 0 };
	struct metrics *m = NULL;
	struct import *im = NULL;
	char *watch = fu_printf("%s/watch", f->dir), *data = fu_printf("%s/data", f->dir);
	char *sub = fu_printf("%s/watch/a/b", f->dir),
	     *deep = fu_printf("%s/watch/a/b/c/d", f->dir);
	char *const dirs[] = { watch, fu_printf("%s/absent", f->dir) };

	assert_int_equal(fu_mkdirs(watch, 0755, &err), BARGE_OK);
	assert_int_equal(fu_mkdirs(deep, 0755, &err), BARGE_OK);
	assert_int_equal(metrics_new("test", &m, &err), BARGE_OK);
	o.data_dir = data;
	o.watch = dirs;
	o.nwatch = 2;
	o.on_result = count_import;
	o.on_result_arg = m;
	o.settle_ms = 200;
	/* Present at start: a file that is no bundle, and names that are no candidates. */
	put(f, "watch/junk.tar.zst", 100);
	put(f, "watch/.hidden.tar.zst", 100);
	put(f, "watch/notes.txt", 100);
	put(f, "watch/a/b/c/d/too-deep.tar.zst", 100);
	assert_int_equal(import_start(&o, &im, &err), BARGE_OK);
	assert_true(wait_counted(m, "failed", 1));
	/* Appearing later, in a new subdirectory (two levels down). */
	assert_int_equal(fu_mkdirs(sub, 0755, &err), BARGE_OK);
	put(f, "watch/a/b/later.iso", 100);
	assert_true(wait_counted(m, "failed", 2));
	/* Left alone: not taken again while unchanged. */
	sleep_ms(1000);
	assert_int_equal(counted(m, "failed"), 2);
	assert_int_equal(counted(m, "ok"), 0);
	assert_int_equal(counted(m, "skipped"), 0);
	/* Changed: taken once more. */
	put(f, "watch/junk.tar.zst", 200);
	assert_true(wait_counted(m, "failed", 3));
	sleep_ms(600);
	assert_int_equal(counted(m, "failed"), 3);
	import_stop(im);
	metrics_free(m);
	free(dirs[1]);
	free(watch);
	free(data);
	free(sub);
	free(deep);
}

/* The watcher's last line of each level (it logs from its own thread). */
static char last_error[1024], last_warn[1024];

static void
keep_error(const char *msg)
{
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

static void
keep_warn(const char *msg)
{
	snprintf(last_warn, sizeof(last_warn), "%s", msg);
}

/*
 * Watches f->dir/NAME-watch with trusted keys (nkeys of them) and rule sig,
 * drops the unsigned hello bundle in, and returns which outcome it had.
 */
static const char *
import_unsigned(struct fixture *f, const char *name, struct sign_key **keys, size_t nkeys,
                enum import_signature sig)
{
	struct loader_opts lo = { .keys = keys, .nkeys = nkeys };
	struct import_opts o = { 0 };
	struct barge_err err = { 0 };
	struct metrics *m = NULL;
	struct import *im = NULL;
	char *watch = fu_printf("%s/%s-watch", f->dir, name);
	char *data = fu_printf("%s/%s-data", f->dir, name), *buf = NULL, *dst;
	const char *outcome = NULL;
	size_t len;
	int i;

	assert_int_equal(fu_mkdirs(watch, 0755, &err), BARGE_OK);
	assert_int_equal(metrics_new("test", &m, &err), BARGE_OK);
	o.data_dir = data;
	o.watch = &watch;
	o.nwatch = 1;
	o.load = &lo;
	o.signature = sig;
	o.on_result = count_import;
	o.on_result_arg = m;
	o.settle_ms = 100;
	o.log_error = keep_error;
	o.log_warn = keep_warn;
	last_error[0] = last_warn[0] = '\0';
	assert_int_equal(import_start(&o, &im, &err), BARGE_OK);
	assert_int_equal(fu_read_file(BARGE_TEST_DATA "/loader/hello-1.0.0.tar.zst", 1 << 20, &buf,
	                              &len, &err),
	                 BARGE_OK);
	dst = fu_printf("%s/hello-1.0.0.tar.zst", watch);
	assert_int_equal(fu_write_atomic(dst, buf, len, 0644, &err), BARGE_OK);
	for (i = 0; i < 100 && outcome == NULL; i++) {
		if (counted(m, "ok") == 1)
			outcome = "ok";
		else if (counted(m, "failed") == 1)
			outcome = "failed";
		else
			sleep_ms(100);
	}
	import_stop(im);
	metrics_free(m);
	free(dst);
	free(buf);
	free(watch);
	free(data);
	return outcome != NULL ? outcome : "none";
}

/* With trusted keys configured, an import refuses an unsigned bundle unless told not to. */
static void
test_unsigned_refused_with_keys(void **state)
{
	struct fixture *f = *state;
	struct import_opts o = { 0 };
	struct barge_err err = { 0 };
	struct sign_key *pub = NULL;
	struct import *im = NULL;
	char keyid[DIGEST_STR_MAX], *prefix = fu_printf("%s/ci", f->dir), *p;

	assert_int_equal(sign_keygen(prefix, keyid, &err), BARGE_OK);
	p = fu_printf("%s.pub", prefix);
	assert_int_equal(sign_key_load_public(p, &pub, &err), BARGE_OK);
	free(p);

	assert_string_equal(import_unsigned(f, "auto", &pub, 1, IMPORT_SIGNATURE_AUTO), "failed");
	assert_non_null(strstr(last_error, "refused: the bundle is not signed"));
	assert_string_equal(import_unsigned(f, "required", &pub, 1, IMPORT_SIGNATURE_REQUIRED),
	                    "failed");
	/* import.require_signature: false follows the loader options: it loads. */
	assert_string_equal(import_unsigned(f, "loader", &pub, 1, IMPORT_SIGNATURE_LOADER), "ok");
	assert_non_null(strstr(last_warn, "unsigned bundles are imported"));
	/* No trusted key: auto takes unsigned bundles, and says so. */
	assert_string_equal(import_unsigned(f, "nokeys", NULL, 0, IMPORT_SIGNATURE_AUTO), "ok");
	assert_non_null(strstr(last_warn, "no trusted key is configured"));
	/* Required with nothing to check against: refused at start. */
	o.data_dir = f->dir;
	o.signature = IMPORT_SIGNATURE_REQUIRED;
	assert_int_equal(import_start(&o, &im, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "no trusted key"));
	sign_key_free(pub);
	free(prefix);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_list_waits_for_every_part, setup, teardown),
	cmocka_unit_test_setup_teardown(test_list_size_must_match, setup, teardown),
	cmocka_unit_test_setup_teardown(test_numbering_without_list, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unusable_list_falls_back_to_numbering, setup,
	                                teardown),
	cmocka_unit_test_setup_teardown(test_not_a_first_part, setup, teardown),
	cmocka_unit_test_setup_teardown(test_watcher_refuses_once, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unsigned_refused_with_keys, setup, teardown),
};

BARGE_TEST_MAIN(tests)
