/*
 * fuzz_ref: image references (common/ref.h), as profiles, lock files, the
 * command line and admission reviews hand them to ref_parse.
 *
 * The input, cut at its first NUL, goes to ref_parse; what parses is
 * printed back (ref_string, ref_name, ref_local_repo) and the promises of
 * ref.h are checked: the normalised string parses to itself, and the local
 * repository is a valid repository path.  The validators of repository
 * paths and tags take the raw input too.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ref.h"

/* The normalised form is a fixed point of parsing. */
static void
check_round_trip(const char *s)
{
	struct barge_err err = { 0 };
	struct ref *again = NULL;
	char *s2;

	if (ref_parse(s, &again, &err) != BARGE_OK)
		abort();
	if ((s2 = ref_string(again)) == NULL)
		abort();
	if (strcmp(s, s2) != 0)
		abort();
	free(s2);
	ref_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct ref *r = NULL;
	char *s, *full = NULL, *name = NULL, *local = NULL;

	/* Longer inputs only test the length check; ref_parse refuses them. */
	if (size > REF_MAX + 16)
		return 0;
	s = fuzz_str(data, size);
	(void)ref_valid_repo(s);
	(void)ref_valid_tag(s);
	if (ref_parse(s, &r, &err) == BARGE_OK) {
		if ((full = ref_string(r)) == NULL || (name = ref_name(r)) == NULL ||
		    (local = ref_local_repo(r, "edge")) == NULL)
			abort();
		check_round_trip(full);
		/* Valid whenever the project leaves it within a name's length (ref.h). */
		if (strlen(local) <= 255 && !ref_valid_repo(local))
			abort();
	}
	free(local);
	free(name);
	free(full);
	ref_free(r);
	free(s);
	return 0;
}
