/*
 * log: the one logger of the barge and barged programs.
 *
 * Text lines on a terminal, JSON lines (one object per line, for journald and
 * log shippers) when asked.  Only programs log; library code reports through
 * struct barge_err.  Never pass secrets (passwords, tokens) to these.
 */
#ifndef BARGE_LOG_H
#define BARGE_LOG_H

#include "err.h"

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* prog names the program in every line; json selects JSON lines on stderr. */
void log_init(const char *prog, int json);
void log_set_level(enum log_level lvl);

void log_debug(const char *fmt, ...) BARGE_PRINTF(1, 2);
void log_info(const char *fmt, ...) BARGE_PRINTF(1, 2);
void log_warn(const char *fmt, ...) BARGE_PRINTF(1, 2);
void log_error(const char *fmt, ...) BARGE_PRINTF(1, 2);
/* Logs at error level and exits with status 1. */
void fatal(const char *fmt, ...) BARGE_PRINTF(1, 2) __attribute__((noreturn));

#endif
