/*
 * fuzz_lock: lock files (bundler/lock.h), which `barge build --locked`
 * reads from a repository that anyone may have edited.
 *
 * The input is the lock, up to LOCK_FILE_MAX bytes as lock_load bounds
 * it, given to lock_parse.  A lock that parses is dumped, and lock.h's
 * promise is checked: the dump parses again and dumps to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lock.h"

static void
check_round_trip(const char *text, size_t len)
{
	struct barge_err err = { 0 };
	struct lock *l = NULL;
	char *again = NULL;
	size_t againlen;

	if (lock_parse("lock.json", text, len, &l, &err) != BARGE_OK)
		abort();
	if (lock_dump(l, &again, &againlen, &err) != BARGE_OK)
		abort();
	if (againlen != len || memcmp(again, text, len) != 0)
		abort();
	free(again);
	lock_free(l);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct lock *l = NULL;
	char *text = NULL;
	size_t len;

	if (size > LOCK_FILE_MAX)
		return 0;
	if (lock_parse("lock.json", (const char *)data, size, &l, &err) != BARGE_OK)
		return 0;
	if (lock_dump(l, &text, &len, &err) != BARGE_OK)
		abort();
	check_round_trip(text, len);
	free(text);
	lock_free(l);
	return 0;
}
