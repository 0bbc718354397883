/*
 * splitname: the names of a split bundle's files.  Part i of the bundle
 * STEM is "STEM.part" and i in at least three digits (STEM.part000,
 * STEM.part001, ... STEM.part1234); the parts list beside them is
 * "STEM.split.json".  barge's split writes these names; barged's load
 * sources and import watcher read them, so both sides agree on one spelling.
 * Nothing here touches the filesystem.
 */
#ifndef BARGE_SPLITNAME_H
#define BARGE_SPLITNAME_H

#include <stddef.h>

/* A part number has at most this many digits, so that it fits a long. */
#define SPLITNAME_DIGITS_MAX  9
#define SPLITNAME_LIST_SUFFIX ".split.json"

/*
 * Whether name is "<stem>.part<digits>" (1 to SPLITNAME_DIGITS_MAX digits
 * and nothing after them): then sets *stemlen to the length of <stem> and
 * *num to the part's number, else leaves both alone.
 */
int splitname_parse(const char *name, size_t *stemlen, long *num);

/* The name of part i of stem, "<stem>.part007"; caller frees; NULL without memory. */
char *splitname_part(const char *stem, size_t i);

#endif
