/*
 * client_retry: the retry policy shared by manifest requests (client.c) and
 * blob downloads (fetch.c): which failures are worth another attempt, the
 * exponential backoff with jitter, and the server's Retry-After.  It owns
 * nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "client_retry.h"

int
client_retryable_status(long status)
{
	/* 501 and 505 say the server will never do it; the other 5xx may pass. */
	return status == 429 || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

int
client_retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

int64_t
client_backoff_ms(const struct client_config *cfg, int attempt, uint32_t rnd)
{
	int64_t base = cfg->backoff_ms > 0 ? cfg->backoff_ms : CLIENT_BACKOFF_MS_DEFAULT;
	int64_t max = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : CLIENT_BACKOFF_MAX_MS_DEFAULT;
	int64_t d = base;
	int i;

	for (i = 1; i < attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* "Equal jitter": never less than half the delay, so retries do back off. */
	return d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

int
client_parse_retry_after(const char *value, time_t now, int64_t *ms)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char wday[4], mon[4], gmt[4];
	struct tm tm = { 0 };
	int day, year, hh, mm, ss, n = 0, i;
	int64_t secs = 0;
	time_t t;
	size_t k;

	if (value[0] >= '0' && value[0] <= '9') {
		for (k = 0; value[k] >= '0' && value[k] <= '9'; k++)
			if (secs <= CLIENT_RETRY_AFTER_MAX_S)
				secs = secs * 10 + (value[k] - '0');
		if (value[k] != '\0')
			return BARGE_EFORMAT;
	} else {
		/* IMF-fixdate, the form RFC 9110 requires senders to use: "Sun, 06 Nov 1994
		 * 08:49:37 GMT". */
		if (sscanf(value, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wday,
		           &day, mon, &year, &hh, &mm, &ss, gmt, &n) != 8 ||
		    value[n] != '\0' || strcmp(gmt, "GMT") != 0)
			return BARGE_EFORMAT;
		for (i = 0; i < 12 && strcmp(mon, months[i]) != 0; i++)
			;
		if (i == 12 || day < 1 || day > 31 || year < 1970 || hh > 23 || mm > 59 || ss > 60)
			return BARGE_EFORMAT;
		tm.tm_year = year - 1900;
		tm.tm_mon = i;
		tm.tm_mday = day;
		tm.tm_hour = hh;
		tm.tm_min = mm;
		tm.tm_sec = ss;
		if ((t = timegm(&tm)) == (time_t)-1)
			return BARGE_EFORMAT;
		secs = t > now ? (int64_t)(t - now) : 0;
	}
	if (secs > CLIENT_RETRY_AFTER_MAX_S)
		secs = CLIENT_RETRY_AFTER_MAX_S;
	*ms = secs * 1000;
	return BARGE_OK;
}

int
client_max_attempts(const struct client *c)
{
	return c->cfg.max_attempts > 0 ? c->cfg.max_attempts : CLIENT_ATTEMPTS_DEFAULT;
}

int64_t
client_retry_delay_ms(const struct client *c, int attempt, const char *retry_after)
{
	int64_t ms;

	if (retry_after != NULL && retry_after[0] != '\0' &&
	    client_parse_retry_after(retry_after, time(NULL), &ms) == BARGE_OK)
		return ms;
	return client_backoff_ms(&c->cfg, attempt, (uint32_t)random());
}

void
client_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
		               .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
