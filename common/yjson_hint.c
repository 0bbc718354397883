/*
 * yjson_hint: the words a checker of a YAML tree puts in its errors (see
 * yjson.h): what a node is, in a YAML user's terms, and the valid key a
 * misspelt one was probably meant to be.  It owns nothing and needs none of
 * the loader's insides.
 */
#include <string.h>

#include "yjson.h"

/* Optimal string alignment distance: Levenshtein plus adjacent transpositions. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, best;
	size_t d[33][33];

	/* Keys are short; anything longer is not a typo of one. */
	if (la > 32 || lb > 32)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const char *
yjson_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1, d, limit;

	/* One edit in four characters still reads as the same word. */
	limit = 1 + strlen(word) / 4;
	for (; *candidates != NULL; candidates++) {
		d = edit_distance(word, *candidates);
		if (d <= limit && d < bestd) {
			best = *candidates;
			bestd = d;
		}
	}
	return best;
}

const char *
yjson_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}
