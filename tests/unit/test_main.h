/*
 * The main of every unit test binary: with an argument, runs only the test of
 * that name (how CTest runs each test as its own entry); without, runs all.
 */
#ifndef BARGE_TEST_MAIN_H
#define BARGE_TEST_MAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define BARGE_TEST_MAIN(tests)                                    \
	int main(int argc, char **argv)                           \
	{                                                         \
		if (argc > 1)                                     \
			cmocka_set_test_filter(argv[1]);          \
		return cmocka_run_group_tests(tests, NULL, NULL); \
	}

#endif
