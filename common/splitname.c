/*
 * splitname: parsing and spelling the names of a split bundle's parts (see
 * splitname.h).  It owns nothing; a formatted name belongs to the caller.
 */
#include "splitname.h"

#include <string.h>

#include "fileutil.h"

int
splitname_parse(const char *name, size_t *stemlen, long *num)
{
	const char *p = strrchr(name, '.');
	size_t digits, i;
	long v = 0;

	if (p == NULL || strncmp(p, ".part", 5) != 0)
		return 0;
	digits = strspn(p + 5, "0123456789");
	if (digits == 0 || digits > SPLITNAME_DIGITS_MAX || p[5 + digits] != '\0')
		return 0;
	for (i = 0; i < digits; i++)
		v = v * 10 + (p[5 + i] - '0');
	*stemlen = (size_t)(p - name);
	*num = v;
	return 1;
}

char *
splitname_part(const char *stem, size_t i)
{
	return fu_printf("%s.part%03zu", stem, i);
}
