/*
 * client_retry: when a failed registry request is worth another attempt, and
 * how long to wait before it.
 *
 * Pure functions of their arguments, public so that they can be tested on
 * their own; the client and fetch.c apply them (client_int.h).  Nothing here
 * owns anything.
 */
#ifndef BARGE_CLIENT_RETRY_H
#define BARGE_CLIENT_RETRY_H

#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "client.h"
#include "err.h"

/* Whether an HTTP status or a libcurl result is worth another attempt. */
int client_retryable_status(long status);
int client_retryable_curl(CURLcode cc);

/*
 * The delay before retry number attempt (1 for the first retry): backoff_ms
 * doubled attempt - 1 times, at most backoff_max_ms, then jittered by rnd to
 * between half of it and all of it.
 */
int64_t client_backoff_ms(const struct client_config *cfg, int attempt, uint32_t rnd);

/*
 * Parses a Retry-After value (delay-seconds or an IMF-fixdate HTTP date)
 * into milliseconds from now, at most CLIENT_RETRY_AFTER_MAX_S seconds; a
 * date in the past is 0.  BARGE_EFORMAT when it is neither.
 */
int client_parse_retry_after(const char *value, time_t now, int64_t *ms) BARGE_MUST_CHECK;

#endif
