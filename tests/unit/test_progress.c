#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmtsize.h"
#include "progress.h"

static struct build_progress
at(size_t image, const char *source, int64_t idone, int64_t itotal, int64_t done, int64_t total)
{
	struct build_progress bp = {
		.image = image,
		.nimages = 3,
		.source = source,
		.image_done = idone,
		.image_total = itotal,
		.done = done,
		.total = total,
		.image_finished = idone == itotal,
	};
	return bp;
}

static void
test_tty_bars_rate_limited(void **state)
{
	struct barge_err err;
	struct progress *pg = NULL;
	struct build_progress bp;
	char *buf = NULL;
	size_t len = 0, before;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(progress_new(f, 1, &pg, &err), BARGE_OK);
	bp = at(1, "docker.io/library/nginx:1.25", 512 * 1024, 2 * 1024 * 1024, 3 << 20, 8 << 20);
	progress_update(pg, &bp);
	fflush(f);
	assert_non_null(strstr(buf, "docker.io/library/nginx:1.25"));
	assert_non_null(strstr(buf, "512.0 KiB / 2.0 MiB"));
	assert_non_null(strstr(buf, "3.0 MiB / 8.0 MiB"));
	assert_non_null(strstr(buf, "ETA "));
	assert_non_null(strstr(buf, "[######"));
	/* A second update within 1/PROGRESS_HZ s draws nothing... */
	before = len;
	bp = at(1, "docker.io/library/nginx:1.25", 1024 * 1024, 2 * 1024 * 1024, 4 << 20, 8 << 20);
	progress_update(pg, &bp);
	fflush(f);
	assert_int_equal(len, before);
	/* ...unless an image completes, which is always shown (its bar goes away). */
	bp = at(1, "docker.io/library/nginx:1.25", 2 * 1024 * 1024, 2 * 1024 * 1024, 5 << 20,
	        8 << 20);
	progress_update(pg, &bp);
	fflush(f);
	assert_true(len > before);
	assert_null(strstr(buf + before, "nginx"));
	assert_non_null(strstr(buf + before, "5.0 MiB / 8.0 MiB"));
	/* finish moves back over what was drawn and clears it. */
	before = len;
	progress_finish(pg);
	fflush(f);
	assert_string_equal(buf + before, "\033[1A\033[J");
	progress_free(pg);
	fclose(f);
	free(buf);
}

/* The last line drawn into buf (a bar line ends with "\n" after its "\033[2K"). */
static const char *
last_line(const char *buf, char *out, size_t cap)
{
	const char *p = buf, *q, *start = NULL, *end = NULL;

	while ((q = strstr(p, "\033[2K")) != NULL) {
		start = q + 4;
		end = strchr(start, '\n');
		p = start;
	}
	assert_non_null(start);
	assert_non_null(end);
	snprintf(out, cap, "%.*s", (int)(end - start), start);
	return out;
}

/*
 * Every blob is pulled but the bundle is still being compressed (as at zstd
 * level 19): the pull line is full, and a line of its own shows the bundle's
 * bytes, full only once the bundle is complete at its path.
 */
static void
test_writing_has_its_own_line(void **state)
{
	struct barge_err err;
	struct progress *pg = NULL;
	struct build_progress bp;
	char *buf = NULL, ln[512];
	size_t len = 0, before;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(progress_new(f, 1, &pg, &err), BARGE_OK);
	bp = at(2, "docker.io/library/redis:7", 2 << 20, 2 << 20, 8 << 20, 8 << 20);
	bp.write = BUILD_WRITE_COMPRESSING;
	bp.written = 5 << 20;
	bp.write_total = 8 << 20;
	progress_update(pg, &bp);
	fflush(f);
	assert_non_null(strstr(buf, "[########################]    8.0 MiB / 8.0 MiB"));
	assert_non_null(strstr(buf, "pulled"));
	last_line(buf, ln, sizeof(ln));
	assert_non_null(strstr(ln, "[###############.........]"));
	assert_non_null(strstr(ln, "5.0 MiB / 8.0 MiB"));
	assert_non_null(strstr(ln, "ETA "));
	assert_non_null(strstr(ln, "writing"));
	/* Every entry compressed, but the file not yet complete: the bar is not full. */
	usleep(1000000 / PROGRESS_HZ + 1000);
	before = len;
	bp.written = 8 << 20;
	progress_update(pg, &bp);
	fflush(f);
	assert_true(len > before);
	last_line(buf + before, ln, sizeof(ln));
	assert_non_null(strstr(ln, "[#######################.]    8.0 MiB / 8.0 MiB"));
	assert_non_null(strstr(ln, "writing"));
	/* Complete: now, and only now, full. */
	before = len;
	bp.write = BUILD_WRITE_DONE;
	progress_update(pg, &bp);
	fflush(f);
	assert_true(len > before);
	last_line(buf + before, ln, sizeof(ln));
	assert_non_null(strstr(ln, "[########################]    8.0 MiB / 8.0 MiB"));
	assert_non_null(strstr(ln, "bundle written"));
	progress_finish(pg);
	progress_free(pg);
	fclose(f);
	free(buf);
}

static void
test_not_a_tty_is_silent(void **state)
{
	struct barge_err err;
	struct progress *pg = NULL;
	struct build_progress bp = at(0, "a", 1, 2, 1, 2);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(progress_new(f, 0, &pg, &err), BARGE_OK);
	progress_update(pg, &bp);
	bp = at(0, "a", 2, 2, 2, 2);
	progress_update(pg, &bp);
	progress_finish(pg);
	fflush(f);
	assert_int_equal(len, 0);
	progress_free(pg);
	fclose(f);
	free(buf);
}

static void
test_human(void **state)
{
	char b[32];

	fmtsize(0, b, sizeof(b), 0);
	assert_string_equal(b, "0 B");
	fmtsize(1023, b, sizeof(b), 0);
	assert_string_equal(b, "1023 B");
	fmtsize(1536, b, sizeof(b), 0);
	assert_string_equal(b, "1.5 KiB");
	fmtsize(INT64_C(3) << 40, b, sizeof(b), 0);
	assert_string_equal(b, "3.0 TiB");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_tty_bars_rate_limited),
	cmocka_unit_test(test_writing_has_its_own_line),
	cmocka_unit_test(test_not_a_tty_is_silent),
	cmocka_unit_test(test_human),
};

BARGE_TEST_MAIN(tests)
