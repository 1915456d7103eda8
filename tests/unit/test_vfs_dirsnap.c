/*
 * test_vfs_dirsnap.c - the listing snapshot a resuming readdir serves
 * (fs/vfs_dirsnap.c): same entries and stats as vfs_readdir(), by
 * position, refilled on demand, errors passed through.
 */
#include "vfs_fixture.h"

/* What vfs_readdir() gives, for comparison: names joined by '|'. */
struct joined {
	char s[4096];
	size_t len;
	unsigned with_stat;
};

static int join_fill(void *arg, const char *name, const struct stat *st)
{
	struct joined *j = arg;
	int n = snprintf(j->s + j->len, sizeof(j->s) - j->len, "%s|", name);

	assert_true(n > 0 && (size_t)n < sizeof(j->s) - j->len);
	j->len += (size_t)n;
	if (st)
		j->with_stat++;
	return 0;
}

static void snap_join(const struct vfs_dirsnap *d, struct joined *j)
{
	size_t i;

	memset(j, 0, sizeof(*j));
	for (i = 0; i < vfs_dirsnap_count(d); i++) {
		const struct stat *st;
		const char *name = vfs_dirsnap_entry(d, i, &st);

		join_fill(j, name, st);
	}
}

static void test_dirsnap_matches_readdir(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	struct joined want;
	struct joined got;
	const struct stat *st;

	put(f->st, C, "a", "one", "1700000000", "600");
	put(f->st, C, "b", "three", NULL, NULL);
	put(f->st, C, "sub/x", "x", NULL, NULL);
	memset(&want, 0, sizeof(want));
	assert_int_equal(vfs_readdir(f->v, P, join_fill, &want), 0);

	assert_int_equal(vfs_dirsnap_new(&d), 0);
	assert_false(vfs_dirsnap_filled(d));
	assert_int_equal(vfs_dirsnap_fill(f->v, P, d), 0);
	assert_true(vfs_dirsnap_filled(d));
	snap_join(d, &got);
	assert_string_equal(got.s, want.s);
	assert_string_equal(got.s, ".|..|a|b|sub|");
	assert_int_equal(got.with_stat, want.with_stat);
	/* the stat of "a" is the listing's: size and mode */
	assert_string_equal(vfs_dirsnap_entry(d, 2, &st), "a");
	assert_non_null(st);
	assert_int_equal(st->st_size, 3);
	assert_int_equal(st->st_mode & 07777, 0600);
	vfs_dirsnap_free(d);
}

static void test_dirsnap_refill_sees_changes(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	struct joined got;

	put(f->st, C, "a", "1", NULL, NULL);
	assert_int_equal(vfs_dirsnap_new(&d), 0);
	assert_int_equal(vfs_dirsnap_fill(f->v, P, d), 0);
	assert_int_equal(vfs_dirsnap_count(d), 3);
	put(f->st, C, "b", "2", NULL, NULL);
	/* the snapshot stays as taken until refilled */
	assert_int_equal(vfs_dirsnap_count(d), 3);
	assert_int_equal(vfs_dirsnap_fill(f->v, P, d), 0);
	snap_join(d, &got);
	assert_string_equal(got.s, ".|..|a|b|");
	vfs_dirsnap_free(d);
}

static void test_dirsnap_many_names_grow(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	char key[32];
	size_t i;

	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "obj%04zu", i);
		put(f->st, C, key, "z", NULL, NULL);
	}
	assert_int_equal(vfs_dirsnap_new(&d), 0);
	assert_int_equal(vfs_dirsnap_fill(f->v, P, d), 0);
	assert_int_equal(vfs_dirsnap_count(d), 302);
	for (i = 0; i < 300; i++) {
		const struct stat *st;

		snprintf(key, sizeof(key), "obj%04zu", i);
		assert_string_equal(vfs_dirsnap_entry(d, i + 2, &st), key);
		assert_non_null(st);
		assert_int_equal(st->st_size, 1);
	}
	vfs_dirsnap_free(d);
}

static void test_dirsnap_errors_leave_it_empty(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;

	put(f->st, C, "a", "1", NULL, NULL);
	assert_int_equal(vfs_dirsnap_new(&d), 0);
	assert_int_equal(vfs_dirsnap_fill(f->v, P, d), 0);
	assert_int_equal(vfs_dirsnap_fill(f->v, "/containers/nope/", d),
			 -ENOENT);
	assert_false(vfs_dirsnap_filled(d));
	assert_int_equal(vfs_dirsnap_count(d), 0);
	assert_int_equal(vfs_dirsnap_fill(f->v, "/nope", d), -ENOENT);
	vfs_dirsnap_free(d);
	vfs_dirsnap_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dirsnap_matches_readdir,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_dirsnap_refill_sees_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirsnap_many_names_grow,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_dirsnap_errors_leave_it_empty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
