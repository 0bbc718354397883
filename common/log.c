/*
 * log: the logger of barge and barged (see log.h).  It owns the process-wide
 * logging settings (program name, text or JSON, lowest level) and the lock
 * that keeps lines from different threads whole.
 */
#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *log_prog = "barge";
static int log_json;
static enum log_level log_min = LOG_LVL_INFO;
/* Lines from server threads must not interleave. */
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_names[] = { "debug", "info", "warn", "error" };

void
log_init(const char *prog, int json)
{
	log_prog = prog;
	log_json = json;
}

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

/* printf-style, so that its callers' formats are checked. */
static void BARGE_PRINTF(2, 0) log_vemit(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[2048], ts[32];
	struct tm tm;
	time_t now;
	json_t *o;
	char *line;

	if (lvl < log_min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&log_mtx);
	if (log_json) {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		o = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", log_names[lvl], "prog",
		              log_prog, "msg", msg);
		line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		if (line != NULL)
			fprintf(stderr, "%s\n", line);
		free(line);
		json_decref(o);
	} else if (lvl >= LOG_LVL_WARN) {
		fprintf(stderr, "%s: %s%s\n", log_prog,
		        lvl == LOG_LVL_ERROR ? "error: " : "warning: ", msg);
	} else {
		fprintf(stderr, "%s: %s\n", log_prog, msg);
	}
	pthread_mutex_unlock(&log_mtx);
}

#define LOG_FN(name, lvl)                \
	void name(const char *fmt, ...)  \
	{                                \
		va_list ap;              \
		va_start(ap, fmt);       \
		log_vemit(lvl, fmt, ap); \
		va_end(ap);              \
	}

LOG_FN(log_debug, LOG_LVL_DEBUG)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_error, LOG_LVL_ERROR)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
