/*
 * store_suite.h - the behaviour every leaf store shares, as one cmocka
 * suite: test_local_store.c and test_mem_store.c both include it and run
 * the same tests over their own store, so the two leaves are held to
 * identical semantics by one piece of test code.
 *
 * Header-only because the Makefile links each tests/unit/test_*.c alone
 * with libtrovefs.a. An including file calls store_suite_use() with a
 * factory (a fresh, empty store per test) and its destructor, then lists
 * STORE_SUITE_TESTS in its cmocka test array. Each test runs against a
 * store of its own, passed as cmocka's state.
 *
 * The tests avoid what differs between leaves by design: the local store
 * makes directories (and so implied markers) for nested keys, so every
 * listing test creates its markers explicitly.
 */
#ifndef TESTS_UNIT_STORE_SUITE_H
#define TESTS_UNIT_STORE_SUITE_H

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/store.h"

typedef struct store *store_suite_make_fn(void);
typedef void store_suite_unmake_fn(struct store *st);

static store_suite_make_fn *suite_make;
static store_suite_unmake_fn *suite_unmake;

/* Sets the factory of the stores under test; call before the tests run. */
static void store_suite_use(store_suite_make_fn *make,
			    store_suite_unmake_fn *unmake)
{
	suite_make = make;
	suite_unmake = unmake;
}

static int suite_setup(void **state)
{
	struct store *st = suite_make();

	if (!st)
		return -1;
	*state = st;
	return 0;
}

static int suite_teardown(void **state)
{
	suite_unmake(*state);
	return 0;
}

/* ---- helpers, also for the leaf-specific tests ---- */

/* Writes @len bytes in uneven chunks and commits with @m (may be NULL). */
static int suite_put_bytes(struct store *st, const char *c, const char *key,
			   const void *data, size_t len, const struct meta *m)
{
	struct store_writer *w = NULL;
	const char *p = data;
	size_t done = 0;
	int err;

	err = store_writer_open(st, c, key, NULL, &w);
	if (err)
		return err;
	while (done < len) {
		size_t n = len - done < 7001 ? len - done : 7001;

		err = store_writer_write(w, p + done, n);
		if (err) {
			/* commit must report the write error */
			assert_int_equal(store_writer_commit(w, m), err);
			return err;
		}
		done += n;
	}
	assert_int_equal(w->written, len);
	return store_writer_commit(w, m);
}

static int suite_put(struct store *st, const char *c, const char *key,
		     const char *data, const struct meta *m)
{
	return suite_put_bytes(st, c, key, data, strlen(data), m);
}

/* Reads the whole object into a NUL-terminated malloc()ed string. */
static int suite_get(struct store *st, const char *c, const char *key,
		     char **out, size_t *len)
{
	struct store_reader *r = NULL;
	char *buf;
	int err;

	err = store_reader_open(st, c, key, &r);
	if (err)
		return err;
	buf = malloc(r->size + 1);
	assert_non_null(buf);
	err = store_reader_read_full(r, 0, buf, r->size);
	if (err) {
		free(buf);
		store_reader_close(r);
		return err;
	}
	buf[r->size] = '\0';
	*len = r->size;
	*out = buf;
	store_reader_close(r);
	return 0;
}

/* Asserts that @key holds exactly the string @want. */
static void suite_assert_content(struct store *st, const char *c,
				 const char *key, const char *want)
{
	char *got = NULL;
	size_t len = 0;

	assert_int_equal(suite_get(st, c, key, &got, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_string_equal(got, want);
	free(got);
}

static void suite_meta2(struct meta *m, const char *k1, const char *v1,
			const char *k2, const char *v2)
{
	meta_init(m);
	if (k1)
		assert_int_equal(meta_set(m, k1, v1), 0);
	if (k2)
		assert_int_equal(meta_set(m, k2, v2), 0);
}

static void suite_mkdir(struct store *st, const char *c, const char *marker)
{
	assert_int_equal(suite_put(st, c, marker, "", NULL), 0);
}

#define SUITE_LIST_KEEP 64

/*
 * What a listing saw: names joined by ',' (subdirs as "[a/]") and copies
 * of the first SUITE_LIST_KEEP entries.
 */
struct suite_list {
	char names[8192];
	size_t len;
	unsigned n;
	unsigned stop_after; /* return 1 after this many (0: never) */
	unsigned fail_at;    /* return fail_err at this entry (1-based) */
	int fail_err;
	struct obj_info kept[SUITE_LIST_KEEP];
};

static int suite_list_cb(void *arg, const struct obj_info *oi)
{
	struct suite_list *sl = arg;
	int n;

	n = snprintf(sl->names + sl->len, sizeof(sl->names) - sl->len,
		     oi->is_subdir ? "%s[%s]" : "%s%s", sl->n ? "," : "",
		     oi->name);
	assert_true(n >= 0 && (size_t)n < sizeof(sl->names) - sl->len);
	sl->len += (size_t)n;
	if (sl->n < SUITE_LIST_KEEP) {
		struct obj_info *k = &sl->kept[sl->n];

		obj_info_init(k);
		k->name = strdup(oi->name);
		assert_non_null(k->name);
		k->is_subdir = oi->is_subdir;
		k->size = oi->size;
		k->mtime = oi->mtime;
		k->meta_partial = oi->meta_partial;
		k->count = oi->count;
		assert_int_equal(meta_copy(&k->meta, &oi->meta), 0);
	}
	sl->n++;
	if (sl->fail_at && sl->n == sl->fail_at)
		return sl->fail_err;
	if (sl->stop_after && sl->n == sl->stop_after)
		return 1;
	return 0;
}

static void suite_list_release(struct suite_list *sl)
{
	unsigned i;

	for (i = 0; i < sl->n && i < SUITE_LIST_KEEP; i++)
		obj_info_release(&sl->kept[i]);
	sl->n = 0;
	sl->len = 0;
	sl->names[0] = '\0';
}

/* Lists and asserts the joined names; returns nothing, checks err == 0. */
static void suite_assert_list(struct store *st, const char *c,
			      const char *prefix, char delim, const char *want)
{
	struct suite_list *sl = calloc(1, sizeof(*sl));

	assert_non_null(sl);
	assert_int_equal(store_list(st, c, prefix, delim, suite_list_cb, sl),
			 0);
	assert_string_equal(sl->names, want);
	suite_list_release(sl);
	free(sl);
}

/* ---- containers ---- */

static void test_store_containers_create_list_delete(void **state)
{
	struct store *st = *state;
	struct suite_list sl = { 0 };

	assert_int_equal(store_create_container(st, "b"), 0);
	assert_int_equal(store_create_container(st, "a.b"), 0);
	assert_int_equal(store_create_container(st, "a"), 0);
	assert_int_equal(store_create_container(st, "a b"), 0);
	assert_int_equal(store_list_containers(st, suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "a,a b,a.b,b");
	assert_false(sl.kept[0].is_subdir);
	suite_list_release(&sl);

	assert_int_equal(store_delete_container(st, "a.b"), 0);
	assert_int_equal(store_list_containers(st, suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "a,a b,b");
	suite_list_release(&sl);
}

static void test_store_containers_errors(void **state)
{
	struct store *st = *state;
	char big[STORE_CONTAINER_MAX + 2];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_create_container(st, "c"), -EEXIST);
	assert_int_equal(store_delete_container(st, "nope"), -ENOENT);

	assert_int_equal(suite_put(st, "c", "obj", "x", NULL), 0);
	assert_int_equal(store_delete_container(st, "c"), -ENOTEMPTY);
	assert_int_equal(store_del(st, "c", "obj"), 0);
	suite_mkdir(st, "c", "dir/");
	assert_int_equal(store_delete_container(st, "c"), -ENOTEMPTY);
	assert_int_equal(store_del(st, "c", "dir/"), 0);
	assert_int_equal(store_delete_container(st, "c"), 0);
	assert_int_equal(store_delete_container(st, "c"), -ENOENT);

	assert_int_equal(store_create_container(st, ""), -EINVAL);
	assert_int_equal(store_create_container(st, "a/b"), -EINVAL);
	assert_int_equal(store_create_container(st, "."), -EINVAL);
	assert_int_equal(store_create_container(st, ".."), -EINVAL);
	assert_int_equal(store_create_container(st, big), -EINVAL);
	assert_int_equal(store_delete_container(st, "a/b"), -EINVAL);
	assert_int_equal(store_delete_container(st, ""), -EINVAL);
}

static void test_store_containers_list_stop_and_abort(void **state)
{
	struct store *st = *state;
	struct suite_list sl = { 0 };

	assert_int_equal(store_create_container(st, "c1"), 0);
	assert_int_equal(store_create_container(st, "c2"), 0);
	assert_int_equal(store_create_container(st, "c3"), 0);
	sl.stop_after = 2;
	assert_int_equal(store_list_containers(st, suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "c1,c2");
	suite_list_release(&sl);

	sl.stop_after = 0;
	sl.fail_at = 1;
	sl.fail_err = -EIO;
	assert_int_equal(store_list_containers(st, suite_list_cb, &sl), -EIO);
	assert_int_equal(sl.n, 1);
	suite_list_release(&sl);
}

/* Every op on a container that does not exist says -ENOENT. */
static void test_store_missing_container_enoent(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;
	struct store_reader *r = NULL;
	struct suite_list sl = { 0 };
	struct obj_info oi;
	struct meta m;

	obj_info_init(&oi);
	meta_init(&m);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "v", NULL), 0);
	assert_int_equal(store_list(st, "nope", "", 0, suite_list_cb, &sl),
			 -ENOENT);
	assert_int_equal(store_list(st, "nope", "", '/', suite_list_cb, &sl),
			 -ENOENT);
	assert_int_equal(sl.n, 0);
	assert_int_equal(store_head(st, "nope", "k", &oi), -ENOENT);
	assert_null(oi.name);
	assert_int_equal(store_reader_open(st, "nope", "k", &r), -ENOENT);
	assert_null(r);
	assert_int_equal(store_writer_open(st, "nope", "k", NULL, &w), -ENOENT);
	assert_null(w);
	assert_int_equal(store_del(st, "nope", "k"), -ENOENT);
	assert_int_equal(store_set_meta(st, "nope", "k", &m), -ENOENT);
	assert_int_equal(store_rename(st, "nope", "k", "c", "k2"), -ENOENT);
	assert_int_equal(store_rename(st, "c", "k", "nope", "k2"), -ENOENT);
	/* a failed rename leaves the source alone */
	suite_assert_content(st, "c", "k", "v");
}

/* A container deleted while a writer is open: the commit fails. */
static void test_store_commit_into_deleted_container(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_writer_open(st, "c", "k", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "abc", 3), 0);
	assert_int_equal(store_delete_container(st, "c"), 0);
	assert_int_equal(store_writer_commit(w, NULL), -ENOENT);
	assert_int_equal(store_create_container(st, "c"), 0);
	suite_assert_list(st, "c", "", 0, "");
}

/* ---- keys ---- */

static void test_store_invalid_keys_einval(void **state)
{
	static const char *const bad[] = {
		"",   "/",   "/a",   "a//b", "a/./b", "a/../b", ".",
		"..", "./x", "x/..", "x/./", "../x",  "a//",
	};
	struct store *st = *state;
	char big[STORE_KEY_MAX + 2];
	struct obj_info oi;
	struct meta m;
	size_t i;

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	obj_info_init(&oi);
	meta_init(&m);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "ok", "v", NULL), 0);
	for (i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		const char *k = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : big;
		struct store_writer *w = NULL;
		struct store_reader *r = NULL;

		assert_int_equal(store_head(st, "c", k, &oi), -EINVAL);
		assert_int_equal(store_reader_open(st, "c", k, &r), -EINVAL);
		assert_int_equal(store_writer_open(st, "c", k, NULL, &w),
				 -EINVAL);
		assert_int_equal(store_del(st, "c", k), -EINVAL);
		assert_int_equal(store_set_meta(st, "c", k, &m), -EINVAL);
		assert_int_equal(store_rename(st, "c", k, "c", "x"), -EINVAL);
		assert_int_equal(store_rename(st, "c", "ok", "c", k), -EINVAL);
		/* also when the source is missing: names are checked first */
		assert_int_equal(store_rename(st, "c", "gone", "c", k),
				 -EINVAL);
	}
	/* a marker and an object are different kinds of things */
	assert_int_equal(store_rename(st, "c", "ok", "c", "dir/"), -EINVAL);
	suite_mkdir(st, "c", "dir/");
	assert_int_equal(store_rename(st, "c", "dir/", "c", "file"), -EINVAL);
	suite_assert_content(st, "c", "ok", "v");
	/* bad container names in object ops */
	assert_int_equal(store_head(st, "a/b", "ok", &oi), -EINVAL);
	assert_int_equal(store_head(st, "", "ok", &oi), -EINVAL);
	assert_int_equal(store_list(st, "a/b", "", 0, suite_list_cb, NULL),
			 -EINVAL);
}

/* ---- writing and reading ---- */

static void test_store_put_get_head(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m;

	suite_meta2(&m, "mode", "644", "mtime", "1700000000.123456789");
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "hello.txt", "hello world", &m), 0);
	suite_assert_content(st, "c", "hello.txt", "hello world");

	obj_info_init(&oi);
	assert_int_equal(store_head(st, "c", "hello.txt", &oi), 0);
	assert_string_equal(oi.name, "hello.txt");
	assert_false(oi.is_subdir);
	assert_int_equal(oi.size, 11);
	assert_true(oi.mtime.tv_sec > 1600000000);
	assert_int_equal(oi.meta.n, 2);
	assert_string_equal(meta_get(&oi.meta, "mode"), "644");
	assert_string_equal(meta_get(&oi.meta, "mtime"),
			    "1700000000.123456789");
	obj_info_release(&oi);
	meta_release(&m);

	/* the empty object exists and is empty */
	assert_int_equal(suite_put(st, "c", "empty", "", NULL), 0);
	assert_int_equal(store_head(st, "c", "empty", &oi), 0);
	assert_int_equal(oi.size, 0);
	assert_int_equal(oi.meta.n, 0);
	obj_info_release(&oi);
	suite_assert_content(st, "c", "empty", "");

	assert_int_equal(store_head(st, "c", "missing", &oi), -ENOENT);
	assert_null(oi.name);
}

static void test_store_commit_replaces_object_and_meta(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m1;
	struct meta m2;

	suite_meta2(&m1, "a", "1", "b", "2");
	suite_meta2(&m2, "c", "3", NULL, NULL);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "first version", &m1), 0);
	assert_int_equal(suite_put(st, "c", "k", "v2", &m2), 0);
	suite_assert_content(st, "c", "k", "v2");
	obj_info_init(&oi);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	assert_int_equal(oi.size, 2);
	assert_int_equal(oi.meta.n, 1);
	assert_string_equal(meta_get(&oi.meta, "c"), "3");
	assert_null(meta_get(&oi.meta, "a"));
	obj_info_release(&oi);

	/* NULL metadata: none at all */
	assert_int_equal(suite_put(st, "c", "k", "v3", NULL), 0);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	assert_int_equal(oi.meta.n, 0);
	obj_info_release(&oi);
	meta_release(&m1);
	meta_release(&m2);
}

static void test_store_abort_leaves_nothing(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_writer_open(st, "c", "new", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "data", 4), 0);
	store_writer_abort(w);
	assert_int_equal(store_head(st, "c", "new", &oi), -ENOENT);

	/* an aborted replacement keeps the old object */
	assert_int_equal(suite_put(st, "c", "old", "v1", NULL), 0);
	assert_int_equal(store_writer_open(st, "c", "old", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "v2 longer", 9), 0);
	store_writer_abort(w);
	suite_assert_content(st, "c", "old", "v1");
	suite_assert_list(st, "c", "", 0, "old");
	store_writer_abort(NULL);
}

static void test_store_uncommitted_is_invisible(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;
	struct store_reader *r = NULL;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_writer_open(st, "c", "k", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "abc", 3), 0);
	assert_int_equal(store_head(st, "c", "k", &oi), -ENOENT);
	assert_int_equal(store_reader_open(st, "c", "k", &r), -ENOENT);
	suite_assert_list(st, "c", "", 0, "");
	suite_assert_list(st, "c", "", '/', "");
	assert_int_equal(store_delete_container(st, "c"), 0);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_writer_commit(w, NULL), 0);
	suite_assert_content(st, "c", "k", "abc");
}

/* A marker takes no content: the write fails, so does the commit. */
static void test_store_write_error_fails_commit(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_writer_open(st, "c", "m/", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "", 0), 0);
	assert_int_equal(store_writer_write(w, "x", 1), -EINVAL);
	/* sticky: later writes keep failing */
	assert_int_equal(store_writer_write(w, "", 0), -EINVAL);
	assert_int_equal(store_writer_commit(w, NULL), -EINVAL);
	assert_int_equal(store_head(st, "c", "m/", &oi), -ENOENT);
	suite_assert_list(st, "c", "", 0, "");
}

static void test_store_markers(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m;

	suite_meta2(&m, "mode", "755", NULL, NULL);
	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "d/", "", &m), 0);
	assert_int_equal(store_head(st, "c", "d/", &oi), 0);
	assert_string_equal(oi.name, "d/");
	assert_int_equal(oi.size, 0);
	assert_string_equal(meta_get(&oi.meta, "mode"), "755");
	obj_info_release(&oi);
	suite_assert_content(st, "c", "d/", "");
	/* "d" and "d/" are different keys */
	assert_int_equal(store_head(st, "c", "d", &oi), -ENOENT);
	assert_int_equal(store_del(st, "c", "d"), -ENOENT);

	/* writing a marker again replaces its metadata */
	assert_int_equal(suite_put(st, "c", "d/", "", NULL), 0);
	assert_int_equal(store_head(st, "c", "d/", &oi), 0);
	assert_int_equal(oi.meta.n, 0);
	obj_info_release(&oi);

	assert_int_equal(store_del(st, "c", "d/"), 0);
	assert_int_equal(store_head(st, "c", "d/", &oi), -ENOENT);
	assert_int_equal(store_del(st, "c", "d/"), -ENOENT);
	meta_release(&m);
}

/*
 * store_mkdir_excl(): a marker made once; a second time, or over a
 * marker put by a writer, -EEXIST and the first one's metadata stays.
 */
static void test_store_mkdir_excl(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m;

	suite_meta2(&m, "mode", "700", NULL, NULL);
	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_mkdir_excl(st, "c", "r/2024/", &m), 0);
	assert_int_equal(store_mkdir_excl(st, "c", "r/2024/", NULL), -EEXIST);
	assert_int_equal(store_head(st, "c", "r/2024/", &oi), 0);
	assert_string_equal(meta_get(&oi.meta, "mode"), "700");
	obj_info_release(&oi);
	suite_mkdir(st, "c", "w/");
	assert_int_equal(store_mkdir_excl(st, "c", "w/", NULL), -EEXIST);
	/* gone, it can be made again */
	assert_int_equal(store_del(st, "c", "r/2024/"), 0);
	assert_int_equal(store_mkdir_excl(st, "c", "r/2024/", NULL), 0);
	assert_int_equal(store_mkdir_excl(st, "nope", "x/", NULL), -ENOENT);
	meta_release(&m);
}

/* Nested keys need no markers first. */
static void test_store_nested_keys(void **state)
{
	struct store *st = *state;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "x/y/z", "deep", NULL), 0);
	suite_assert_content(st, "c", "x/y/z", "deep");
	assert_int_equal(store_head(st, "c", "x/y", &oi), -ENOENT);
	assert_int_equal(store_head(st, "c", "x/y/z/w", &oi), -ENOENT);
	assert_int_equal(suite_put(st, "c", "x/y/z2", "two", NULL), 0);
	suite_assert_content(st, "c", "x/y/z", "deep");
	suite_assert_content(st, "c", "x/y/z2", "two");
}

static void test_store_reader_ranges(void **state)
{
	struct store *st = *state;
	struct store_reader *r = NULL;
	size_t n = 100000;
	unsigned char *data = malloc(n);
	unsigned char buf[256];
	size_t got;
	size_t i;

	assert_non_null(data);
	for (i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 8));
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put_bytes(st, "c", "blob", data, n, NULL), 0);
	assert_int_equal(store_reader_open(st, "c", "blob", &r), 0);
	assert_int_equal(r->size, n);

	assert_int_equal(store_reader_read(r, 0, buf, 10, &got), 0);
	assert_int_equal(got, 10);
	assert_memory_equal(buf, data, 10);
	assert_int_equal(store_reader_read(r, 12345, buf, 200, &got), 0);
	assert_int_equal(got, 200);
	assert_memory_equal(buf, data + 12345, 200);
	/* short only at the end, then nothing */
	assert_int_equal(store_reader_read(r, n - 10, buf, 100, &got), 0);
	assert_int_equal(got, 10);
	assert_memory_equal(buf, data + n - 10, 10);
	got = 99;
	assert_int_equal(store_reader_read(r, n, buf, 100, &got), 0);
	assert_int_equal(got, 0);
	got = 99;
	assert_int_equal(store_reader_read(r, n * 2, buf, 100, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(store_reader_read_full(r, n - 5, buf, 10), -EBADMSG);
	store_reader_close(r);
	store_reader_close(NULL);
	free(data);
}

/* An open reader keeps reading what it opened, as an open file does. */
static void test_store_reader_survives_replace_and_delete(void **state)
{
	struct store *st = *state;
	struct store_reader *r = NULL;
	char buf[16];

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "old bytes", NULL), 0);
	assert_int_equal(store_reader_open(st, "c", "k", &r), 0);
	assert_int_equal(suite_put(st, "c", "k", "new", NULL), 0);
	assert_int_equal(store_reader_read_full(r, 0, buf, 9), 0);
	assert_memory_equal(buf, "old bytes", 9);
	assert_int_equal(store_del(st, "c", "k"), 0);
	assert_int_equal(store_reader_read_full(r, 4, buf, 5), 0);
	assert_memory_equal(buf, "bytes", 5);
	store_reader_close(r);
}

/* The info of reader_open is the opened version's, whatever came after. */
static void test_store_reader_open_info_is_the_opened_version(void **state)
{
	struct store *st = *state;
	struct store_reader *r = NULL;
	struct obj_info oi;
	struct obj_info now;
	struct meta m;

	assert_int_equal(store_create_container(st, "c"), 0);
	meta_init(&m);
	suite_meta2(&m, "a", "1", "b", "old");
	assert_int_equal(suite_put(st, "c", "k", "old bytes", &m), 0);
	meta_release(&m);
	assert_int_equal(store_reader_open_info(st, "c", "k", &oi, &r), 0);
	suite_meta2(&m, "b", "new", NULL, NULL);
	assert_int_equal(suite_put(st, "c", "k", "new", &m), 0);
	meta_release(&m);
	assert_string_equal(oi.name, "k");
	assert_true(oi.size == 9 && r->size == 9);
	assert_string_equal(meta_get(&oi.meta, "a"), "1");
	assert_string_equal(meta_get(&oi.meta, "b"), "old");
	obj_info_init(&now);
	assert_int_equal(store_head(st, "c", "k", &now), 0);
	assert_true(now.size == 3);
	assert_true(now.mtime.tv_sec >= oi.mtime.tv_sec);
	assert_null(meta_get(&now.meta, "a"));
	obj_info_release(&now);
	obj_info_release(&oi);
	store_reader_close(r);
	assert_int_equal(store_reader_open_info(st, "c", "gone", &oi, &r),
			 -ENOENT);
}

/* ---- listings ---- */

/*
 * Names whose byte order differs from a per-directory order: '-' and '.'
 * sort before '/', '0' after it; UTF-8 after ASCII.
 */
static void suite_put_tricky(struct store *st)
{
	static const char *const keys[] = {
		"ab",  "a.b", "a/b.c", "A",	"a0",
		"b c", "a-c", "a/b",   "a/d/e", "\xc3\xa9t\xc3\xa9",
	};
	size_t i;

	assert_int_equal(store_create_container(st, "c"), 0);
	suite_mkdir(st, "c", "a/");
	suite_mkdir(st, "c", "a/d/");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(suite_put(st, "c", keys[i], keys[i], NULL), 0);
}

static void test_store_list_byte_order(void **state)
{
	struct store *st = *state;

	suite_put_tricky(st);
	suite_assert_list(st, "c", "", 0,
			  "A,a-c,a.b,a/,a/b,a/b.c,a/d/,a/d/e,a0,ab,b c,"
			  "\xc3\xa9t\xc3\xa9");
}

static void test_store_list_prefix_and_delimiter(void **state)
{
	struct store *st = *state;

	suite_put_tricky(st);
	suite_assert_list(st, "c", "", '/',
			  "A,a-c,a.b,[a/],a0,ab,b c,\xc3\xa9t\xc3\xa9");
	/* the marker equal to the prefix is an object of the listing */
	suite_assert_list(st, "c", "a/", '/', "a/,a/b,a/b.c,[a/d/]");
	suite_assert_list(st, "c", "a/", 0, "a/,a/b,a/b.c,a/d/,a/d/e");
	suite_assert_list(st, "c", "a/d/", '/', "a/d/,a/d/e");
	suite_assert_list(st, "c", "a", '/', "a-c,a.b,[a/],a0,ab");
	suite_assert_list(st, "c", "a", 0,
			  "a-c,a.b,a/,a/b,a/b.c,a/d/,a/d/e,a0,ab");
	suite_assert_list(st, "c", "a/b", '/', "a/b,a/b.c");
	suite_assert_list(st, "c", "a/b", 0, "a/b,a/b.c");
	suite_assert_list(st, "c", "a/d", '/', "[a/d/]");
	suite_assert_list(st, "c", "a/d", 0, "a/d/,a/d/e");
	suite_assert_list(st, "c", "b", '/', "b c");
	suite_assert_list(st, "c", "\xc3", '/', "\xc3\xa9t\xc3\xa9");
	/* prefixes nothing matches, also through a file or bad names */
	suite_assert_list(st, "c", "zz", '/', "");
	suite_assert_list(st, "c", "nodir/", 0, "");
	suite_assert_list(st, "c", "nodir/", '/', "");
	suite_assert_list(st, "c", "a.b/", 0, "");
	suite_assert_list(st, "c", "a//", 0, "");
	suite_assert_list(st, "c", "../", 0, "");
	suite_assert_list(st, "c", "a/../", '/', "");
}

static void test_store_list_stop_early(void **state)
{
	struct store *st = *state;
	struct suite_list sl = { 0 };

	suite_put_tricky(st);
	sl.stop_after = 3;
	assert_int_equal(store_list(st, "c", "", 0, suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "A,a-c,a.b");
	suite_list_release(&sl);
	sl.stop_after = 4;
	assert_int_equal(store_list(st, "c", "", '/', suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "A,a-c,a.b,[a/]");
	suite_list_release(&sl);
}

static void test_store_list_abort(void **state)
{
	struct store *st = *state;
	struct suite_list sl = { 0 };

	suite_put_tricky(st);
	sl.fail_at = 2;
	sl.fail_err = -ECANCELED;
	assert_int_equal(store_list(st, "c", "", 0, suite_list_cb, &sl),
			 -ECANCELED);
	assert_string_equal(sl.names, "A,a-c");
	suite_list_release(&sl);
	sl.fail_at = 4;
	assert_int_equal(store_list(st, "c", "", '/', suite_list_cb, &sl),
			 -ECANCELED);
	assert_string_equal(sl.names, "A,a-c,a.b,[a/]");
	suite_list_release(&sl);
}

/* Listings carry size, mtime and the full metadata: no head needed. */
static void test_store_list_fills_info(void **state)
{
	struct store *st = *state;
	struct suite_list sl = { 0 };
	struct meta m;

	suite_meta2(&m, "mode", "600", "mtime", "1.000000000");
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "f", "12345", &m), 0);
	assert_int_equal(suite_put(st, "c", "d/", "", &m), 0);
	assert_int_equal(suite_put(st, "c", "d/x", "xy", NULL), 0);
	assert_int_equal(store_list(st, "c", "", '/', suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "[d/],f");
	assert_true(sl.kept[0].is_subdir);
	assert_false(sl.kept[1].is_subdir);
	assert_int_equal(sl.kept[1].size, 5);
	assert_true(sl.kept[1].mtime.tv_sec > 1600000000);
	assert_false(sl.kept[1].meta_partial);
	assert_int_equal(sl.kept[1].meta.n, 2);
	assert_string_equal(meta_get(&sl.kept[1].meta, "mode"), "600");
	assert_string_equal(meta_get(&sl.kept[1].meta, "mtime"), "1.000000000");
	suite_list_release(&sl);

	assert_int_equal(store_list(st, "c", "d/", 0, suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "d/,d/x");
	assert_int_equal(sl.kept[0].size, 0);
	assert_string_equal(meta_get(&sl.kept[0].meta, "mode"), "600");
	assert_int_equal(sl.kept[1].size, 2);
	assert_int_equal(sl.kept[1].meta.n, 0);
	suite_list_release(&sl);
	meta_release(&m);
}

/* ---- delete, rename, metadata ---- */

static void test_store_del(void **state)
{
	struct store *st = *state;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "v", NULL), 0);
	assert_int_equal(suite_put(st, "c", "k2", "v", NULL), 0);
	assert_int_equal(store_del(st, "c", "k"), 0);
	assert_int_equal(store_head(st, "c", "k", &oi), -ENOENT);
	assert_int_equal(store_del(st, "c", "k"), -ENOENT);
	assert_int_equal(store_del(st, "c", "never"), -ENOENT);
	assert_int_equal(store_del(st, "c", "no/such/key"), -ENOENT);
	assert_int_equal(store_del(st, "c", "no/"), -ENOENT);
	assert_int_equal(store_del(st, "c", "k2/x"), -ENOENT);
	suite_assert_list(st, "c", "", 0, "k2");
}

static void test_store_rename(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m;

	suite_meta2(&m, "mode", "640", NULL, NULL);
	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_create_container(st, "c2"), 0);
	assert_int_equal(suite_put(st, "c", "src", "payload", &m), 0);

	assert_int_equal(store_rename(st, "c", "src", "c", "dst"), 0);
	assert_int_equal(store_head(st, "c", "src", &oi), -ENOENT);
	assert_int_equal(store_head(st, "c", "dst", &oi), 0);
	assert_int_equal(oi.size, 7);
	assert_string_equal(meta_get(&oi.meta, "mode"), "640");
	obj_info_release(&oi);
	suite_assert_content(st, "c", "dst", "payload");

	/* into nested keys and another container */
	assert_int_equal(store_rename(st, "c", "dst", "c2", "n/e/w"), 0);
	suite_assert_content(st, "c2", "n/e/w", "payload");
	assert_int_equal(store_head(st, "c", "dst", &oi), -ENOENT);

	/* replaces the destination, content and metadata */
	assert_int_equal(suite_put(st, "c2", "other", "other bytes", NULL), 0);
	assert_int_equal(store_rename(st, "c2", "other", "c2", "n/e/w"), 0);
	suite_assert_content(st, "c2", "n/e/w", "other bytes");
	assert_int_equal(store_head(st, "c2", "n/e/w", &oi), 0);
	assert_int_equal(oi.meta.n, 0);
	obj_info_release(&oi);
	assert_int_equal(store_head(st, "c2", "other", &oi), -ENOENT);

	/* onto itself: nothing changes */
	assert_int_equal(store_rename(st, "c2", "n/e/w", "c2", "n/e/w"), 0);
	suite_assert_content(st, "c2", "n/e/w", "other bytes");

	assert_int_equal(store_rename(st, "c", "gone", "c", "x"), -ENOENT);
	assert_int_equal(store_rename(st, "c", "gone/", "c", "x/"), -ENOENT);
	assert_int_equal(store_head(st, "c", "x", &oi), -ENOENT);

	/* an (empty) marker moves with its metadata */
	assert_int_equal(suite_put(st, "c", "m/", "", &m), 0);
	assert_int_equal(store_rename(st, "c", "m/", "c", "m2/"), 0);
	assert_int_equal(store_head(st, "c", "m/", &oi), -ENOENT);
	assert_int_equal(store_head(st, "c", "m2/", &oi), 0);
	assert_string_equal(meta_get(&oi.meta, "mode"), "640");
	obj_info_release(&oi);
	meta_release(&m);
}

/*
 * Object "k" = "data" with a=1 b=2, then set_meta or update_meta of
 * c=3 b=two: set_meta drops a, update_meta keeps it; data and size stay.
 * Leaves container "c" with "k" for the caller.
 */
static void suite_meta_change(struct store *st, bool update)
{
	struct obj_info oi;
	struct meta m1;
	struct meta m2;

	suite_meta2(&m1, "a", "1", "b", "2");
	suite_meta2(&m2, "c", "3", "b", "two");
	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "data", &m1), 0);
	if (update)
		assert_int_equal(store_update_meta(st, "c", "k", &m2, NULL), 0);
	else
		assert_int_equal(store_set_meta(st, "c", "k", &m2), 0);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	assert_int_equal(oi.meta.n, update ? 3 : 2);
	if (update)
		assert_string_equal(meta_get(&oi.meta, "a"), "1");
	else
		assert_null(meta_get(&oi.meta, "a"));
	assert_string_equal(meta_get(&oi.meta, "b"), "two");
	assert_string_equal(meta_get(&oi.meta, "c"), "3");
	assert_int_equal(oi.size, 4);
	obj_info_release(&oi);
	suite_assert_content(st, "c", "k", "data");
	meta_release(&m1);
	meta_release(&m2);
}

/* update_meta changes the keys it is given and keeps the others. */
static void test_store_update_meta(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta set;

	obj_info_init(&oi);
	suite_meta_change(st, true);
	suite_meta2(&set, "b", "three", NULL, NULL);
	/* what it hands back is what head() now says */
	assert_int_equal(store_update_meta(st, "c", "k", &set, &oi), 0);
	assert_string_equal(oi.name, "k");
	assert_int_equal(oi.size, 4);
	assert_int_equal(oi.meta.n, 3);
	assert_string_equal(meta_get(&oi.meta, "a"), "1");
	assert_string_equal(meta_get(&oi.meta, "b"), "three");
	obj_info_release(&oi);
	suite_mkdir(st, "c", "d/");
	assert_int_equal(store_update_meta(st, "c", "d/", &set, NULL), 0);
	assert_int_equal(store_head(st, "c", "d/", &oi), 0);
	assert_string_equal(meta_get(&oi.meta, "b"), "three");
	obj_info_release(&oi);
	assert_int_equal(store_update_meta(st, "c", "missing", &set, &oi),
			 -ENOENT);
	meta_release(&set);
}

static void test_store_set_meta(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m1;
	struct meta m2;

	suite_meta_change(st, false);
	suite_meta2(&m1, "a", "1", "b", "2");
	meta_init(&m2);
	obj_info_init(&oi);
	assert_int_equal(store_set_meta(st, "c", "k", &m2), 0);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	assert_int_equal(oi.meta.n, 0);
	obj_info_release(&oi);

	suite_mkdir(st, "c", "d/");
	assert_int_equal(store_set_meta(st, "c", "d/", &m1), 0);
	assert_int_equal(store_head(st, "c", "d/", &oi), 0);
	assert_string_equal(meta_get(&oi.meta, "a"), "1");
	obj_info_release(&oi);

	assert_int_equal(store_set_meta(st, "c", "missing", &m1), -ENOENT);
	assert_int_equal(store_set_meta(st, "c", "missing/", &m1), -ENOENT);
	meta_release(&m1);
	meta_release(&m2);
}

static void test_store_statfs(void **state)
{
	struct store *st = *state;
	struct store_statfs sf;

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "12345", NULL), 0);
	assert_int_equal(store_statfs(st, &sf), 0);
	assert_true(sf.bytes_free <= sf.bytes_total || sf.bytes_total == 0);
	assert_true(sf.bytes_used >= 5);
}

/* ---- threads ---- */

#define SUITE_THREADS 4
#define SUITE_PER_THREAD 25

struct suite_thread {
	struct store *st;
	int id;
	int err;
};

static void *suite_thread_main(void *arg)
{
	struct suite_thread *t = arg;
	struct suite_list sl = { 0 };
	char key[32];
	char val[32];
	int i;

	for (i = 0; i < SUITE_PER_THREAD && !t->err; i++) {
		char *got = NULL;
		size_t len = 0;

		snprintf(key, sizeof(key), "t%d-%02d", t->id, i);
		snprintf(val, sizeof(val), "value %d %d", t->id, i);
		t->err = suite_put(t->st, "c", key, val, NULL);
		if (!t->err)
			t->err = suite_get(t->st, "c", key, &got, &len);
		if (!t->err && strcmp(got, val) != 0)
			t->err = -EBADMSG;
		free(got);
		/* listings race with the other threads' commits */
		sl.stop_after = 5;
		if (!t->err)
			t->err = store_list(t->st, "c", "t", 0, suite_list_cb,
					    &sl);
		suite_list_release(&sl);
	}
	return NULL;
}

static void test_store_concurrent_writers(void **state)
{
	struct store *st = *state;
	struct suite_thread t[SUITE_THREADS];
	struct suite_list *sl = calloc(1, sizeof(*sl));
	pthread_t tid[SUITE_THREADS];
	int i;

	assert_non_null(sl);
	assert_int_equal(store_create_container(st, "c"), 0);
	for (i = 0; i < SUITE_THREADS; i++) {
		t[i].st = st;
		t[i].id = i;
		t[i].err = 0;
		assert_int_equal(
			pthread_create(&tid[i], NULL, suite_thread_main, &t[i]),
			0);
	}
	for (i = 0; i < SUITE_THREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(t[i].err, 0);
	}
	assert_int_equal(store_list(st, "c", "", 0, suite_list_cb, sl), 0);
	assert_int_equal(sl->n, SUITE_THREADS * SUITE_PER_THREAD);
	assert_string_equal(sl->kept[0].name, "t0-00");
	suite_list_release(sl);
	free(sl);
}

/* The shared tests, for a CMUnitTest array. */
#define SUITE_TEST(f)                                                          \
	cmocka_unit_test_setup_teardown(f, suite_setup, suite_teardown)
/* clang-format off */
#define STORE_SUITE_TESTS                                                      \
	SUITE_TEST(test_store_containers_create_list_delete),                  \
	SUITE_TEST(test_store_containers_errors),                              \
	SUITE_TEST(test_store_containers_list_stop_and_abort),                 \
	SUITE_TEST(test_store_missing_container_enoent),                       \
	SUITE_TEST(test_store_commit_into_deleted_container),                  \
	SUITE_TEST(test_store_invalid_keys_einval),                            \
	SUITE_TEST(test_store_put_get_head),                                   \
	SUITE_TEST(test_store_commit_replaces_object_and_meta),                \
	SUITE_TEST(test_store_abort_leaves_nothing),                           \
	SUITE_TEST(test_store_uncommitted_is_invisible),                       \
	SUITE_TEST(test_store_write_error_fails_commit),                       \
	SUITE_TEST(test_store_markers),                                        \
	SUITE_TEST(test_store_mkdir_excl),                                     \
	SUITE_TEST(test_store_nested_keys),                                    \
	SUITE_TEST(test_store_reader_ranges),                                  \
	SUITE_TEST(test_store_reader_survives_replace_and_delete),             \
	SUITE_TEST(test_store_reader_open_info_is_the_opened_version),         \
	SUITE_TEST(test_store_list_byte_order),                                \
	SUITE_TEST(test_store_list_prefix_and_delimiter),                      \
	SUITE_TEST(test_store_list_stop_early),                                \
	SUITE_TEST(test_store_list_abort),                                     \
	SUITE_TEST(test_store_list_fills_info),                                \
	SUITE_TEST(test_store_del),                                            \
	SUITE_TEST(test_store_rename),                                         \
	SUITE_TEST(test_store_set_meta),                                       \
	SUITE_TEST(test_store_update_meta),                                       \
	SUITE_TEST(test_store_statfs),                                         \
	SUITE_TEST(test_store_concurrent_writers)
/* clang-format on */

#endif /* TESTS_UNIT_STORE_SUITE_H */
