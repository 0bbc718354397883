/*
 * fmtsize: byte counts for people ("70.1 MiB"), as progress lines, summaries
 * and the status page show them.  Powers of 1024 with one decimal; under
 * 1 KiB the exact count.  The flags keep the spellings that each program's
 * output has always had.  Writes into a caller-owned buffer; allocates nothing.
 */
#ifndef BARGE_FMTSIZE_H
#define BARGE_FMTSIZE_H

#include <stddef.h>
#include <stdint.h>

/* Room for any int64_t count with either spelling. */
#define FMTSIZE_MAX 32

/* "12 bytes" instead of "12 B" under 1 KiB. */
#define FMTSIZE_BYTES_WORD 0x1
/* TiB is the largest unit ("2048.0 TiB") instead of PiB. */
#define FMTSIZE_UPTO_TIB 0x2

/* Writes n into buf (cap bytes, truncated as snprintf does) as flags say. */
void fmtsize(int64_t n, char *buf, size_t cap, unsigned flags);

#endif
