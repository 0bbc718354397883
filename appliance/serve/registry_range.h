/*
 * registry_range: the numbers and byte ranges of the registry's request
 * headers and query arguments: Range of a blob GET (RFC 9110 §14),
 * Content-Range of an upload PATCH, and the decimal numbers both and the
 * n= of a listing are written in.
 *
 * Every function here is pure: it reads only its arguments, writes only its
 * out-parameters, and never fails in any other way than by its result.
 */
#ifndef BARGE_REGISTRY_RANGE_H
#define BARGE_REGISTRY_RANGE_H

#include <stdint.h>

/*
 * Reads a decimal number at s into *v; values beyond 64 bits saturate at
 * UINT64_MAX, as they are beyond any size anyway.  Returns the first
 * character after the digits, or NULL (*v untouched) when s does not start
 * with a digit.
 */
const char *registry_range_u64(const char *s, uint64_t *v);

enum registry_range {
	REGISTRY_RANGE_FULL,         /* no usable Range: send everything, 200 */
	REGISTRY_RANGE_PARTIAL,      /* send *len bytes from *start, 206 */
	REGISTRY_RANGE_UNSATISFIABLE /* 416 with Content-Range: bytes * / size */
};

/*
 * Interprets a Range header value (NULL when absent) against a body of
 * size bytes, following RFC 9110 §14: "bytes=a-b", "bytes=a-" and
 * "bytes=-n".  Headers that are malformed, use another unit, or ask for
 * several ranges are ignored (FULL): serving the whole body is always
 * allowed, and multipart bodies buy nothing for blob pulls.  Numbers too
 * large for 64 bits count as "beyond any end".  *start and *len are set
 * only for PARTIAL.
 */
enum registry_range registry_range_parse(const char *hdr, uint64_t size, uint64_t *start,
                                         uint64_t *len);

/*
 * Reads the Content-Range of a PATCH: "<start>-<end>", also as
 * "bytes <start>-<end>[/<n>]" or "bytes=<start>-<end>" as some clients
 * write it.  Returns 1 with *start <= *end, or 0 when malformed.
 */
int registry_range_content(const char *v, uint64_t *start, uint64_t *end);

/*
 * Reads the n= of a listing, v (NULL when absent), into *n: max when
 * absent, else the number, at most max.  Returns 1, or 0 when v is not a
 * plain decimal number (*n then unspecified): the listing answers 400.
 */
int registry_range_page(const char *v, uint64_t max, uint64_t *n);

#endif
