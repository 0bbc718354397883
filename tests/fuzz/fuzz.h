/*
 * fuzz: what every libFuzzer harness of tests/fuzz shares.
 *
 * Each fuzz_<parser>.c defines LLVMFuzzerTestOneInput (and maybe
 * LLVMFuzzerInitialize), declared here because the warnings ask every
 * external function for a prototype.  The helpers abort on out-of-memory,
 * which libFuzzer reports: a harness must never hide a failure.
 */
#ifndef BARGE_FUZZ_H
#define BARGE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* data as a NUL-terminated string (cut at its first NUL); caller frees. */
char *fuzz_str(const uint8_t *data, size_t size);

/*
 * A new private directory under $TMPDIR (else /tmp), removed with all it
 * holds when the process exits normally.  The path is static.
 */
const char *fuzz_tmpdir(void);

struct bundle_source;

/*
 * A bundle_source (common/bundle.h) reading buf's len bytes in short
 * reads, as pipes and split parts give; takes buf (malloc'd), which its
 * close frees.
 */
void fuzz_source(unsigned char *buf, size_t len, struct bundle_source *src);

#endif
