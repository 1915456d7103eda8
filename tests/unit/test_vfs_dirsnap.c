/*
 * test_vfs_dirsnap.c - the listing a resuming readdir serves while its
 * thread takes it (fs/vfs_dirsnap.c): same entries and stats as
 * vfs_readdir(), by position, restarted on demand, errors passed through
 * after the entries before them, stopped early on free.
 */
#include "vfs_fixture.h"

/* What vfs_readdir() gives, for comparison: names joined by '|'. */
struct joined {
	char s[16384];
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

/* Collects entries (stops after @max per call when @max > 0). */
struct taken {
	struct joined j;
	size_t next; /* resume position the last entry gave */
	size_t calls;
	size_t max;
	size_t in_call;
};

static int take(void *arg, const char *name, const struct stat *st, size_t next)
{
	struct taken *t = arg;

	if (t->max && t->in_call == t->max)
		return 1;
	t->in_call++;
	join_fill(&t->j, name, st);
	assert_int_equal(next, t->next + 1);
	t->next = next;
	return 0;
}

/*
 * Serves the whole listing from position 0 as a FUSE front end would:
 * @max entries per request (0: no limit); returns the last result.
 */
static int snap_join(struct vfs_dirsnap *d, struct taken *t, size_t max)
{
	int err;

	memset(t, 0, sizeof(*t));
	t->max = max;
	for (;;) {
		size_t before = t->next;

		t->in_call = 0;
		t->calls++;
		err = vfs_dirsnap_serve(d, t->next, take, t);
		if (err || t->next == before)
			return err;
	}
}

static void test_dirsnap_matches_readdir(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	struct joined want;
	struct taken got;

	put(f->st, C, "a", "one", "1700000000", "600");
	put(f->st, C, "b", "three", NULL, NULL);
	put(f->st, C, "sub/x", "x", NULL, NULL);
	memset(&want, 0, sizeof(want));
	assert_int_equal(vfs_readdir(f->v, P, join_fill, &want), 0);

	assert_int_equal(vfs_dirsnap_new(f->v, &d), 0);
	assert_false(vfs_dirsnap_started(d));
	assert_int_equal(vfs_dirsnap_start(d, P), 0);
	assert_true(vfs_dirsnap_started(d));
	assert_int_equal(snap_join(d, &got, 0), 0);
	assert_string_equal(got.j.s, want.s);
	assert_string_equal(got.j.s, ".|..|a|b|sub|");
	assert_int_equal(got.j.with_stat, want.with_stat);
	/* served again from any position, e.g. after a seekdir */
	assert_int_equal(snap_join(d, &got, 2), 0);
	assert_string_equal(got.j.s, want.s);
	assert_int_equal(got.calls, 4); /* 2 + 2 + 1, then the empty end */
	vfs_dirsnap_free(d);
}

/* The stat an entry carries is the listing's: size and mode. */
static int stat_of_a(void *arg, const char *name, const struct stat *st,
		     size_t next)
{
	struct stat *out = arg;

	(void)next;
	if (strcmp(name, "a") == 0) {
		assert_non_null(st);
		*out = *st;
	}
	return 0;
}

static void test_dirsnap_carries_stat(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	struct stat st;

	put(f->st, C, "a", "one", "1700000000", "600");
	memset(&st, 0, sizeof(st));
	assert_int_equal(vfs_dirsnap_new(f->v, &d), 0);
	assert_int_equal(vfs_dirsnap_start(d, P), 0);
	/* "." and ".." may be all there is yet: wait for an entry of its own */
	assert_int_equal(vfs_dirsnap_verdict(d), 0);
	assert_int_equal(vfs_dirsnap_serve(d, 0, stat_of_a, &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_mtime, 1700000000);
	vfs_dirsnap_free(d);
}

static void test_dirsnap_restart_sees_changes(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	struct taken got;

	put(f->st, C, "a", "1", NULL, NULL);
	assert_int_equal(vfs_dirsnap_new(f->v, &d), 0);
	assert_int_equal(vfs_dirsnap_start(d, P), 0);
	assert_int_equal(snap_join(d, &got, 0), 0);
	assert_string_equal(got.j.s, ".|..|a|");
	put(f->st, C, "b", "2", NULL, NULL);
	/* the listing stays as taken until restarted (rewinddir) */
	assert_int_equal(snap_join(d, &got, 0), 0);
	assert_string_equal(got.j.s, ".|..|a|");
	assert_int_equal(vfs_dirsnap_start(d, P), 0);
	assert_int_equal(snap_join(d, &got, 0), 0);
	assert_string_equal(got.j.s, ".|..|a|b|");
	vfs_dirsnap_free(d);
}

static void test_dirsnap_many_names_in_small_replies(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	struct taken got;
	char key[32];
	size_t i;

	for (i = 0; i < 700; i++) {
		snprintf(key, sizeof(key), "obj%04zu", i);
		put(f->st, C, key, "z", NULL, NULL);
	}
	assert_int_equal(vfs_dirsnap_new(f->v, &d), 0);
	assert_int_equal(vfs_dirsnap_start(d, P), 0);
	assert_int_equal(snap_join(d, &got, 50), 0);
	assert_int_equal(got.next, 702);
	assert_int_equal(got.j.with_stat, 700);
	assert_non_null(strstr(got.j.s, "|obj0000|obj0001|"));
	assert_non_null(strstr(got.j.s, "|obj0699|"));
	vfs_dirsnap_free(d);
}

static void test_dirsnap_error_after_entries(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	struct taken got;

	assert_int_equal(vfs_dirsnap_new(f->v, &d), 0);
	/* "." and ".." come before the store says the container is gone */
	assert_int_equal(vfs_dirsnap_start(d, "/containers/nope/"), 0);
	assert_int_equal(snap_join(d, &got, 0), -ENOENT);
	assert_string_equal(got.j.s, ".|..|");
	/* an unknown top directory fails before any entry */
	assert_int_equal(vfs_dirsnap_start(d, "/nope"), 0);
	assert_int_equal(snap_join(d, &got, 0), -ENOENT);
	assert_string_equal(got.j.s, "");
	vfs_dirsnap_free(d);
	vfs_dirsnap_free(NULL);
}

/*
 * The verdict opendir returns: the listing's error when it ended with no
 * entry of its own (glibc's readdir() would take ENOENT for the end), 0
 * for a directory with entries or an empty one.
 */
static void test_dirsnap_verdict(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;

	assert_int_equal(vfs_dirsnap_new(f->v, &d), 0);
	assert_int_equal(vfs_dirsnap_start(d, "/containers/nope/"), 0);
	assert_int_equal(vfs_dirsnap_verdict(d), -ENOENT);
	assert_int_equal(vfs_dirsnap_start(d, P), 0);
	assert_int_equal(vfs_dirsnap_verdict(d), 0); /* empty */
	assert_false(vfs_dirsnap_served(d));
	put(f->st, C, "a", "one", NULL, NULL);
	assert_int_equal(vfs_dirsnap_start(d, P), 0);
	assert_int_equal(vfs_dirsnap_verdict(d), 0);
	assert_int_equal(vfs_mkdir(f->v, P "gone", 0755), 0);
	assert_int_equal(vfs_rmdir(f->v, P "gone"), 0);
	assert_int_equal(vfs_dirsnap_start(d, P "gone"), 0);
	assert_int_equal(vfs_dirsnap_verdict(d), -ENOENT);
	vfs_dirsnap_free(d);
}

/* Freed while its thread may still be listing: it stops and is joined. */
static void test_dirsnap_free_while_listing(void **state)
{
	struct fx *f = *state;
	struct vfs_dirsnap *d;
	char key[32];
	size_t i;

	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%05zu", i);
		put(f->st, C, key, "z", NULL, NULL);
	}
	for (i = 0; i < 20; i++) {
		assert_int_equal(vfs_dirsnap_new(f->v, &d), 0);
		assert_int_equal(vfs_dirsnap_start(d, P), 0);
		assert_int_equal(vfs_dirsnap_start(d, P), 0); /* restart */
		vfs_dirsnap_free(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dirsnap_matches_readdir,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirsnap_carries_stat,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_dirsnap_restart_sees_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_dirsnap_many_names_in_small_replies, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_dirsnap_error_after_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirsnap_verdict, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dirsnap_free_while_listing,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
