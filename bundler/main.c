#include <stdio.h>

int
main(int argc, char **argv)
{
	fprintf(stderr, "usage: barge build PROFILE -o FILE\n");
	return 2;
}
