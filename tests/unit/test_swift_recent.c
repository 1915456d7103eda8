/*
 * test_swift_recent.c - the Swift store's table of objects it just stored
 * in one PUT (backends/swift_recent.c), which lets a rename skip its HEAD
 * of the source: what it answers, for how long, and what drops an entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../../backends/swift_i.h"

static int setup(void **state)
{
	static struct swift_recent r;

	swift_recent_init(&r);
	*state = &r;
	return 0;
}

static int teardown(void **state)
{
	swift_recent_release(*state);
	return 0;
}

static void test_take_answers_once(void **state)
{
	struct swift_recent *r = *state;
	uint64_t bytes = 0;

	swift_recent_note(r, "c", "d/.f1.Xy", 3000, 1000);
	assert_true(swift_recent_take(r, "c", "d/.f1.Xy", 1200, &bytes));
	assert_int_equal(bytes, 3000);
	/* the rename moved it: the name is no longer known */
	assert_false(swift_recent_take(r, "c", "d/.f1.Xy", 1200, &bytes));
}

static void test_names_kept_apart(void **state)
{
	struct swift_recent *r = *state;
	uint64_t bytes = 0;

	swift_recent_note(r, "c", "a/b", 1, 1000);
	/* another container, or the same path split differently */
	assert_false(swift_recent_take(r, "c2", "a/b", 1000, &bytes));
	assert_false(swift_recent_take(r, "c", "a", 1000, &bytes));
	assert_false(swift_recent_take(r, "c", "a/b/", 1000, &bytes));
	assert_true(swift_recent_take(r, "c", "a/b", 1000, &bytes));
}

static void test_entry_ages_out(void **state)
{
	struct swift_recent *r = *state;
	uint64_t bytes = 0;

	swift_recent_note(r, "c", "k", 5, 1000);
	assert_true(swift_recent_take(r, "c", "k", 1000 + SWIFT_RECENT_MS - 1,
				      &bytes));
	swift_recent_note(r, "c", "k", 5, 1000);
	assert_false(
		swift_recent_take(r, "c", "k", 1000 + SWIFT_RECENT_MS, &bytes));
	/* noted by another thread after the caller read the clock */
	swift_recent_note(r, "c", "k", 7, 2000);
	assert_true(swift_recent_take(r, "c", "k", 1999, &bytes));
	assert_int_equal(bytes, 7);
}

static void test_forget_drops(void **state)
{
	struct swift_recent *r = *state;
	uint64_t bytes = 0;

	swift_recent_note(r, "c", "k", 5, 1000);
	swift_recent_note(r, "c", "other", 6, 1000);
	swift_recent_forget(r, "c", "k");
	swift_recent_forget(r, "c", "never-noted");
	assert_false(swift_recent_take(r, "c", "k", 1000, &bytes));
	assert_true(swift_recent_take(r, "c", "other", 1000, &bytes));
	assert_int_equal(bytes, 6);
}

static void test_note_again_updates(void **state)
{
	struct swift_recent *r = *state;
	uint64_t bytes = 0;

	swift_recent_note(r, "c", "k", 5, 1000);
	swift_recent_note(r, "c", "k", 9, 1000 + SWIFT_RECENT_MS);
	/* one entry, the newer size and time */
	assert_true(
		swift_recent_take(r, "c", "k", 1000 + SWIFT_RECENT_MS, &bytes));
	assert_int_equal(bytes, 9);
	assert_false(swift_recent_take(r, "c", "k", 1000, &bytes));
}

static void test_oldest_replaced_when_full(void **state)
{
	struct swift_recent *r = *state;
	uint64_t bytes = 0;
	char k[32];
	unsigned i;

	for (i = 0; i <= SWIFT_RECENT_MAX; i++) {
		snprintf(k, sizeof(k), "f%u", i);
		swift_recent_note(r, "c", k, i, 1000);
	}
	/* f0 made room for the last one; the others are all there */
	assert_false(swift_recent_take(r, "c", "f0", 1000, &bytes));
	for (i = 1; i <= SWIFT_RECENT_MAX; i++) {
		snprintf(k, sizeof(k), "f%u", i);
		assert_true(swift_recent_take(r, "c", k, 1000, &bytes));
		assert_int_equal(bytes, i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_take_answers_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_names_kept_apart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_entry_ages_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forget_drops, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_note_again_updates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oldest_replaced_when_full,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
