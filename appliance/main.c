#include <stdio.h>

int
main(int argc, char **argv)
{
	fprintf(stderr, "usage: barged load|serve\n");
	return 2;
}
