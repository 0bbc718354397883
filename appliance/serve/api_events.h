/*
 * api_events: the bounded in-memory ring of recent events the admin API
 * shows (GET /api/v1/events): webhook decisions (what was swapped, what
 * was left and why) and loads (uploads and imports, with their results
 * and errors).  The newest API_EVENTS_MAX are kept; older ones are
 * overwritten; nothing is written to disk, so a restart starts empty.
 *
 * Producers never depend on the API: they call a plain callback,
 * api_events_add, with the ring as its argument (the router wires the
 * webhook's decisions and the upload's outcomes to it).  Texts are copied,
 * cut to API_EVENT_TEXT_MAX bytes.  Safe to use from several threads.
 */
#ifndef BARGE_API_EVENTS_H
#define BARGE_API_EVENTS_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

#define API_EVENTS_MAX     256
#define API_EVENT_TEXT_MAX 512

struct api_events;

int api_events_new(struct api_events **out, struct barge_err *err) BARGE_MUST_CHECK;
void api_events_free(struct api_events *e);

/*
 * Records an event now.  arg is the struct api_events; kind is "webhook" or
 * "load"; summary one line; detail more (may be NULL).
 */
void api_events_add(void *arg, const char *kind, const char *summary, const char *detail);

/*
 * The newest n events (n 0 or beyond the ring: all) of kind (NULL: every
 * kind), newest first, as a new JSON array of {time (RFC 3339), kind,
 * summary, detail}; NULL when out of memory.
 */
json_t *api_events_json(struct api_events *e, const char *kind, size_t n);

#endif
