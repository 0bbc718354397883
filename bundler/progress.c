/*
 * progress: the pull and write progress bars of `barge build` (see progress.h); it
 * owns its list of images and writes only to the FILE it was given.
 */
#include "progress.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "fmtsize.h"

#define BAR_CELLS 24

struct pimage {
	const char *source; /* borrowed from the lock, which outlives the build */
	int64_t done, total;
	int finished;
};

struct progress {
	FILE *f;
	int tty;
	struct pimage *imgs;
	size_t nimgs;
	int64_t done, total;
	double start, last_draw; /* start: the first update, so that resolving is not counted */
	double pulled;           /* when the last blob was in, which ends the pull's rate */
	int lines;               /* lines drawn last time, to move back over */
	enum build_write write;  /* the bundle's writing, drawn on a line of its own */
	int64_t written, write_total;
	double write_start;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
progress_new(FILE *f, int tty, struct progress **out, struct barge_err *err)
{
	struct progress *pg;

	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	pg->f = f;
	pg->tty = tty;
	*out = pg;
	return BARGE_OK;
}

void
progress_free(struct progress *pg)
{
	if (pg == NULL)
		return;
	free(pg->imgs);
	free(pg);
}

static int
term_width(const struct progress *pg)
{
	struct winsize ws;

	if (ioctl(fileno(pg->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col < PROGRESS_WIDTH_MAX ? ws.ws_col : PROGRESS_WIDTH_MAX;
	return 80;
}

/* A bar is full only when what it shows is complete, never for a count that merely reached its
 * total. */
static void
bar(char *out, int64_t done, int64_t total, int complete)
{
	int i, fill = total > 0 ? (int)((double)done / (double)total * BAR_CELLS) : BAR_CELLS;

	if (fill > BAR_CELLS)
		fill = BAR_CELLS;
	if (fill == BAR_CELLS && !complete)
		fill = BAR_CELLS - 1;

	out[0] = '[';
	for (i = 0; i < BAR_CELLS; i++)
		out[i + 1] = i < fill ? '#' : '.';
	out[BAR_CELLS + 1] = ']';
	out[BAR_CELLS + 2] = '\0';
}

/* One line, cut to the terminal's width so that nothing wraps (which would break redraws). */
static void
line(struct progress *pg, int width, const char *text)
{
	fprintf(pg->f, "\033[2K%.*s\n", width - 1, text);
	pg->lines++;
}

/* "1.5 MiB/s ETA 0:42": the rate of done bytes since start, and when left bytes will be done. */
static void
rate_eta(char *out, size_t cap, int64_t done, int64_t left, double elapsed)
{
	double bps = elapsed > 0.05 ? (double)done / elapsed : 0;
	char rate[32];

	fmtsize((int64_t)bps, rate, sizeof(rate), 0);
	/* A slow start can predict years: beyond what an int of seconds holds, say nothing. */
	if (bps >= 1 && left >= 0 && (double)left / bps < INT_MAX)
		snprintf(out, cap, "%s/s ETA %d:%02d", rate, (int)((double)left / bps) / 60,
		         (int)((double)left / bps) % 60);
	else
		snprintf(out, cap, "%s/s ETA --:--", rate);
}

/*
 * The bundle's line: the entries' bytes the compressor has compressed, of
 * all of them.  It runs behind the downloads (at level 19 by seconds) and is full
 * only once the file is complete, so it says when the build is done.
 */
static void
draw_write(struct progress *pg, int width, double now)
{
	char text[PROGRESS_WIDTH_MAX * 2], b[BAR_CELLS + 3], d[32], t[32], re[64];

	bar(b, pg->written, pg->write_total, pg->write == BUILD_WRITE_DONE);
	fmtsize(pg->written, d, sizeof(d), 0);
	fmtsize(pg->write_total, t, sizeof(t), 0);
	if (pg->write == BUILD_WRITE_DONE) {
		snprintf(text, sizeof(text), "%s %10s / %-10s bundle written", b, d, t);
	} else {
		rate_eta(re, sizeof(re), pg->written, pg->write_total - pg->written,
		         now - pg->write_start);
		snprintf(text, sizeof(text), "%s %10s / %-10s writing %s", b, d, t, re);
	}
	line(pg, width, text);
}

static void
draw(struct progress *pg)
{
	char text[PROGRESS_WIDTH_MAX * 2], b[BAR_CELLS + 3], d[32], t[32], re[64];
	double now = now_s();
	int width = term_width(pg), shown = 0;
	size_t i;

	if (pg->lines > 0)
		fprintf(pg->f, "\033[%dA", pg->lines);
	pg->lines = 0;
	for (i = 0; i < pg->nimgs && shown < PROGRESS_BARS_MAX; i++) {
		const struct pimage *im = &pg->imgs[i];

		if (im->source == NULL || im->finished || im->done == 0)
			continue;
		bar(b, im->done, im->total, 0);
		fmtsize(im->done, d, sizeof(d), 0);
		fmtsize(im->total, t, sizeof(t), 0);
		snprintf(text, sizeof(text), "%s %10s / %-10s %s", b, d, t, im->source);
		line(pg, width, text);
		shown++;
	}
	if (pg->pulled == 0 && pg->done >= pg->total)
		pg->pulled = now;
	rate_eta(re, sizeof(re), pg->done, pg->total - pg->done,
	         (pg->pulled != 0 ? pg->pulled : now) - pg->start);
	bar(b, pg->done, pg->total, pg->done >= pg->total);
	fmtsize(pg->done, d, sizeof(d), 0);
	fmtsize(pg->total, t, sizeof(t), 0);
	snprintf(text, sizeof(text), "%s %10s / %-10s pulled  %s", b, d, t, re);
	line(pg, width, text);
	if (pg->write != BUILD_WRITE_NONE)
		draw_write(pg, width, now);
	/* Bars that finished leave lines behind; clear what is below. */
	fprintf(pg->f, "\033[J");
	fflush(pg->f);
	pg->last_draw = now;
}

void
progress_update(void *arg, const struct build_progress *bp)
{
	struct progress *pg = arg;
	struct pimage *grown, *im;
	int changed;

	if (pg->start == 0)
		pg->start = now_s();
	if (pg->imgs == NULL || pg->nimgs != bp->nimages) {
		if ((grown = calloc(bp->nimages + 1, sizeof(*grown))) == NULL)
			return;
		free(pg->imgs);
		pg->imgs = grown;
		pg->nimgs = bp->nimages;
	}
	pg->done = bp->done;
	pg->total = bp->total;
	/* A new phase of the writing is always shown, as an image completing is. */
	changed = bp->write != pg->write;
	if (changed && bp->write == BUILD_WRITE_COMPRESSING)
		pg->write_start = now_s();
	pg->write = bp->write;
	pg->written = bp->written;
	pg->write_total = bp->write_total;
	if (bp->image < pg->nimgs) {
		im = &pg->imgs[bp->image];
		changed |= bp->image_finished && !im->finished;
		im->source = bp->source;
		im->done = bp->image_done;
		im->total = bp->image_total;
		im->finished = bp->image_finished;
	}
	if (!pg->tty)
		return;
	/* At most PROGRESS_HZ redraws a second, but what changed phase is always shown. */
	if (!changed && now_s() - pg->last_draw < 1.0 / PROGRESS_HZ)
		return;
	draw(pg);
}

void
progress_finish(struct progress *pg)
{
	if (pg == NULL || !pg->tty || pg->lines == 0)
		return;
	fprintf(pg->f, "\033[%dA\033[J", pg->lines);
	fflush(pg->f);
	pg->lines = 0;
}
