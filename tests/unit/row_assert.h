/*
 * row_assert.h - exact asserts for table-driven cmocka tests. Like
 * assert_int_equal() and assert_string_equal(), but a failure names the
 * table row and the expression: cmocka's own message gives only the line
 * of the loop, the same for every row.
 *
 * Header-only (static inline): the Makefile links each tests/unit/test_*.c
 * alone with libtrovefs.a. Include it after <cmocka.h>'s prerequisites.
 */
#ifndef TESTS_UNIT_ROW_ASSERT_H
#define TESTS_UNIT_ROW_ASSERT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

/*
 * Fails the test at @file:@line unless @got == @want; @expr names what
 * was checked.
 */
static inline void row_int_equal(size_t row, const char *expr, long long got,
				 long long want, const char *file, int line)
{
	if (got != want) {
		print_error("row %zu: %s is %lld, want %lld\n", row, expr, got,
			    want);
		_fail(file, line);
	}
}

/* Likewise unless both are NULL or both hold the same string. */
static inline void row_string_equal(size_t row, const char *expr,
				    const char *got, const char *want,
				    const char *file, int line)
{
	bool same = got && want ? strcmp(got, want) == 0 : got == want;

	if (!same) {
		print_error("row %zu: %s is %s%s%s, want %s%s%s\n", row, expr,
			    got ? "\"" : "", got ? got : "NULL",
			    got ? "\"" : "", want ? "\"" : "",
			    want ? want : "NULL", want ? "\"" : "");
		_fail(file, line);
	}
}

#define assert_row_int_equal(row, a, b)                                        \
	row_int_equal((row), #a, (long long)(a), (long long)(b), __FILE__,     \
		      __LINE__)
#define assert_row_string_equal(row, a, b)                                     \
	row_string_equal((row), #a, (a), (b), __FILE__, __LINE__)
#define assert_row_true(row, c)                                                \
	row_int_equal((row), #c, !!(c), 1, __FILE__, __LINE__)

#endif /* TESTS_UNIT_ROW_ASSERT_H */
