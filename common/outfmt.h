/*
 * outfmt: the one meaning -o/--output has in both programs, kubectl's: the
 * format of what a verb prints on standard output, text for a person, json
 * or yaml for a script.  Where a verb writes a file or a directory it has a
 * flag of its own (--output-file FILE, --output-dir DIR), so a value of
 * -o/--output that is not a format is refused with a message naming that
 * flag: `barge resolve -o lock.json` no longer means a path on one verb and
 * a format on the next, and `--output json` never writes a file named json.
 *
 * JSON keys are camelCase everywhere ("blobsNew", "keyId"), as OCI's are.
 * Nothing here keeps anything; messages go into the caller's barge_err.
 */
#ifndef BARGE_OUTFMT_H
#define BARGE_OUTFMT_H

#include <jansson.h>
#include <stdio.h>

#include "err.h"

/* Bits, so that a verb says which it prints with OUTFMT_TEXT | OUTFMT_JSON. */
enum outfmt {
	OUTFMT_TEXT = 1,
	OUTFMT_JSON = 2,
	OUTFMT_YAML = 4,
};

/*
 * Parses the value of -o/--output for a verb printing the formats in
 * allowed into *out.  BARGE_EINVAL when it is not one of them, the message
 * saying what to write instead: for a value that is no format at all, and
 * where the verb writes something (what, e.g. "the lock file"), "to write
 * WHAT use WRITE_FLAG VALUE"; what and write_flag are NULL for a verb that
 * writes nothing.
 */
int outfmt_parse(const char *arg, unsigned allowed, const char *what, const char *write_flag,
                 enum outfmt *out, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Writes v to f as JSON (indented, in insertion order) or as YAML (block
 * style; a string that would read back as another type is quoted), then
 * flushes f.  Takes the reference to v; v NULL (a json_pack that failed)
 * is BARGE_ENOMEM.  BARGE_EIO when f fails.
 */
int outfmt_print(FILE *f, enum outfmt fmt, json_t *v, struct barge_err *err) BARGE_MUST_CHECK;

#endif
