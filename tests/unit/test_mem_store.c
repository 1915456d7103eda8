/*
 * test_mem_store.c - the mem leaf: the shared store suite (store_suite.h)
 * plus what only the mem store has: fault injection, call counters and the
 * raw access helpers.
 */
#include "store_suite.h"

#include "../../backends/mem_store.h"

static struct store *mem_make(void)
{
	struct store *st = NULL;

	if (mem_store_new(&st))
		return NULL;
	return st;
}

static void mem_unmake(struct store *st)
{
	store_destroy(st);
}

/* ---- fault injection ---- */

static int noop_cb(void *arg, const struct obj_info *oi)
{
	(void)arg;
	(void)oi;
	return 0;
}

/*
 * Makes exactly one call of @op (preparing with other ops where needed)
 * and returns its result. @seq makes names unique across calls.
 */
static int call_op(struct store *st, enum mem_op op, unsigned seq)
{
	struct store_writer *w = NULL;
	struct store_reader *r = NULL;
	struct store_statfs sf;
	struct obj_info oi;
	char name[32];
	char buf[8];
	size_t got;
	struct meta m;
	int err;

	snprintf(name, sizeof(name), "n%u", seq);
	meta_init(&m);
	switch (op) {
	case MEM_OP_LIST_CONTAINERS:
		return store_list_containers(st, noop_cb, NULL);
	case MEM_OP_CREATE_CONTAINER:
		return store_create_container(st, name);
	case MEM_OP_DELETE_CONTAINER:
		return store_delete_container(st, "gone");
	case MEM_OP_LIST:
		return store_list(st, "c", "", '/', noop_cb, NULL);
	case MEM_OP_HEAD:
		obj_info_init(&oi);
		err = store_head(st, "c", "k", &oi);
		obj_info_release(&oi);
		return err;
	case MEM_OP_READER_OPEN:
		err = store_reader_open(st, "c", "k", &r);
		store_reader_close(r);
		return err;
	case MEM_OP_READ:
		assert_int_equal(store_reader_open(st, "c", "k", &r), 0);
		err = store_reader_read(r, 0, buf, sizeof(buf), &got);
		store_reader_close(r);
		return err;
	case MEM_OP_WRITER_OPEN:
		err = store_writer_open(st, "c", name, NULL, &w);
		store_writer_abort(w);
		return err;
	case MEM_OP_WRITE:
		assert_int_equal(store_writer_open(st, "c", name, NULL, &w), 0);
		err = store_writer_write(w, "x", 1);
		store_writer_abort(w);
		return err;
	case MEM_OP_COMMIT:
		assert_int_equal(store_writer_open(st, "c", name, NULL, &w), 0);
		assert_int_equal(store_writer_write(w, "x", 1), 0);
		err = store_writer_commit(w, NULL);
		obj_info_init(&oi);
		/* a failed commit leaves nothing */
		assert_int_equal(store_head(st, "c", name, &oi),
				 err ? -ENOENT : 0);
		obj_info_release(&oi);
		return err;
	case MEM_OP_DEL:
		return store_del(st, "c", "del-me");
	case MEM_OP_RENAME:
		return store_rename(st, "c", "ren", "c", "ren2");
	case MEM_OP_SET_META:
		return store_set_meta(st, "c", "k", &m);
	case MEM_OP_STATFS:
		return store_statfs(st, &sf);
	case MEM_OP_SYNC:
		assert_int_equal(store_writer_open(st, "c", name, NULL, &w), 0);
		err = store_writer_sync(w);
		store_writer_abort(w);
		return err;
	case MEM_OP_MKDIR_EXCL:
		snprintf(name, sizeof(name), "d%u/", seq);
		return store_mkdir_excl(st, "c", name, NULL);
	case MEM_OP_COUNT:
		break;
	}
	fail_msg("unknown op %d", (int)op);
	return 0;
}

/* Every op returns its injected error exactly once, then works again. */
static void test_mem_fault_each_op_once(void **state)
{
	static const int errs[] = { -EIO, -ENOSPC, -EACCES, -ETIMEDOUT };
	struct store *st = *state;
	struct obj_info oi;
	unsigned seq = 0;
	int op;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "data", NULL), 0);
	for (op = 0; op < MEM_OP_COUNT; op++) {
		int err = errs[op % 4];
		unsigned before;

		/* what the successful second call consumes */
		assert_int_equal(store_create_container(st, "gone"), 0);
		assert_int_equal(suite_put(st, "c", "del-me", "d", NULL), 0);
		assert_int_equal(suite_put(st, "c", "ren", "r", NULL), 0);

		mem_store_fail(st, (enum mem_op)op, 1, err);
		before = mem_store_calls(st, (enum mem_op)op);
		assert_int_equal(call_op(st, (enum mem_op)op, seq++), err);
		assert_int_equal(mem_store_calls(st, (enum mem_op)op),
				 before + 1);
		/* the failed call changed nothing */
		assert_int_equal(store_head(st, "c", "del-me", &oi), 0);
		obj_info_release(&oi);
		assert_int_equal(store_head(st, "c", "ren", &oi), 0);
		obj_info_release(&oi);
		assert_int_equal(store_create_container(st, "gone"), -EEXIST);

		/* the checks above may have been calls of @op too */
		before = mem_store_calls(st, (enum mem_op)op);
		assert_int_equal(call_op(st, (enum mem_op)op, seq++), 0);
		assert_int_equal(mem_store_calls(st, (enum mem_op)op),
				 before + 1);
		/* leave the store as the next round expects it */
		store_delete_container(st, "gone");
		store_del(st, "c", "ren2");
		store_del(st, "c", "del-me");
	}
}

static void test_mem_fault_nth_call(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	unsigned before = mem_store_calls(st, MEM_OP_HEAD);

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "v", NULL), 0);
	mem_store_fail(st, MEM_OP_HEAD, 3, -EIO);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	obj_info_release(&oi);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	obj_info_release(&oi);
	assert_int_equal(store_head(st, "c", "k", &oi), -EIO);
	assert_null(oi.name);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	obj_info_release(&oi);
	assert_int_equal(mem_store_calls(st, MEM_OP_HEAD), before + 4);
	/* a failing call is counted also when its arguments are bad */
	assert_int_equal(store_head(st, "c", "", &oi), -EINVAL);
	assert_int_equal(mem_store_calls(st, MEM_OP_HEAD), before + 5);
}

static void test_mem_fault_cleared_by_nth_zero(void **state)
{
	struct store *st = *state;

	mem_store_fail(st, MEM_OP_CREATE_CONTAINER, 1, -EIO);
	mem_store_fail(st, MEM_OP_CREATE_CONTAINER, 0, 0);
	assert_int_equal(store_create_container(st, "c"), 0);
}

/* A failed write poisons the writer: later writes and commit fail. */
static void test_mem_write_fault_fails_commit(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	mem_store_fail(st, MEM_OP_WRITE, 2, -ENOSPC);
	assert_int_equal(store_writer_open(st, "c", "k", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "ab", 2), 0);
	assert_int_equal(store_writer_write(w, "cd", 2), -ENOSPC);
	assert_int_equal(store_writer_write(w, "ef", 2), -ENOSPC);
	assert_int_equal(w->written, 2);
	assert_int_equal(store_writer_commit(w, NULL), -ENOSPC);
	assert_int_equal(store_head(st, "c", "k", &oi), -ENOENT);
}

/* A read fault does not end the reader. */
static void test_mem_read_fault_then_read(void **state)
{
	struct store *st = *state;
	struct store_reader *r = NULL;
	char buf[4];
	size_t got = 7;

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "abcd", NULL), 0);
	assert_int_equal(store_reader_open(st, "c", "k", &r), 0);
	mem_store_fail(st, MEM_OP_READ, 1, -ETIMEDOUT);
	assert_int_equal(store_reader_read(r, 0, buf, 4, &got), -ETIMEDOUT);
	assert_int_equal(got, 0);
	assert_int_equal(store_reader_read(r, 0, buf, 4, &got), 0);
	assert_int_equal(got, 4);
	assert_memory_equal(buf, "abcd", 4);
	store_reader_close(r);
}

/* ---- raw access ---- */

static void test_mem_get_and_poke(void **state)
{
	struct store *st = *state;
	struct store_reader *r = NULL;
	const unsigned char *p;
	size_t size = 0;
	char buf[4];

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "hello", NULL), 0);
	p = mem_store_get(st, "c", "k", &size);
	assert_non_null(p);
	assert_int_equal(size, 5);
	assert_memory_equal(p, "hello", 5);

	assert_int_equal(mem_store_poke(st, "c", "k", 0, 'j'), 0);
	suite_assert_content(st, "c", "k", "jello");
	assert_int_equal(mem_store_poke(st, "c", "k", UINT64_MAX, 4), 0);
	suite_assert_content(st, "c", "k", "jell");
	p = mem_store_get(st, "c", "k", &size);
	assert_int_equal(size, 4);

	/* an open reader sees the corruption: it reads the same bytes */
	assert_int_equal(store_reader_open(st, "c", "k", &r), 0);
	assert_int_equal(mem_store_poke(st, "c", "k", UINT64_MAX, 2), 0);
	assert_int_equal(store_reader_read_full(r, 0, buf, 4), -EBADMSG);
	store_reader_close(r);

	assert_int_equal(mem_store_poke(st, "c", "k", 2, 0), -EINVAL);
	assert_int_equal(mem_store_poke(st, "c", "k", UINT64_MAX, 3), -EINVAL);
	assert_int_equal(mem_store_poke(st, "c", "nope", 0, 0), -ENOENT);
	assert_int_equal(mem_store_poke(st, "x", "k", 0, 0), -ENOENT);
	assert_null(mem_store_get(st, "c", "nope", &size));
	assert_null(mem_store_get(st, "x", "k", &size));

	/* the empty object exists */
	assert_int_equal(suite_put(st, "c", "empty", "", NULL), 0);
	size = 9;
	assert_non_null(mem_store_get(st, "c", "empty", &size));
	assert_int_equal(size, 0);
}

/* ---- what the mem store knows that the local one does not ---- */

static void test_mem_list_containers_counts(void **state)
{
	struct store *st = *state;
	struct suite_list sl = { 0 };

	assert_int_equal(store_create_container(st, "a"), 0);
	assert_int_equal(store_create_container(st, "b"), 0);
	assert_int_equal(suite_put(st, "a", "x", "12345", NULL), 0);
	assert_int_equal(suite_put(st, "a", "y/", "", NULL), 0);
	assert_int_equal(suite_put(st, "a", "z", "123", NULL), 0);
	assert_int_equal(store_list_containers(st, suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "a,b");
	assert_int_equal(sl.kept[0].count, 3);
	assert_int_equal(sl.kept[0].size, 8);
	assert_int_equal(sl.kept[1].count, 0);
	assert_int_equal(sl.kept[1].size, 0);
	suite_list_release(&sl);
}

static void test_mem_statfs_sums(void **state)
{
	struct store *st = *state;
	struct store_statfs sf;

	assert_int_equal(store_create_container(st, "a"), 0);
	assert_int_equal(store_create_container(st, "b"), 0);
	assert_int_equal(suite_put(st, "a", "x", "12345", NULL), 0);
	assert_int_equal(suite_put(st, "b", "y", "123", NULL), 0);
	assert_int_equal(suite_put(st, "b", "d/", "", NULL), 0);
	assert_int_equal(store_statfs(st, &sf), 0);
	assert_int_equal(sf.bytes_used, 8);
	assert_int_equal(sf.objects, 3);
	assert_int_equal(sf.bytes_total, 0);
	assert_int_equal(sf.bytes_free, 0);
}

/* A marker is one object: deleting or renaming it leaves the keys below. */
static void test_mem_marker_is_one_object(void **state)
{
	struct store *st = *state;

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "a/", "", NULL), 0);
	assert_int_equal(suite_put(st, "c", "a/b", "x", NULL), 0);
	assert_int_equal(store_rename(st, "c", "a/", "c", "z/"), 0);
	suite_assert_list(st, "c", "", 0, "a/b,z/");
	assert_int_equal(store_del(st, "c", "z/"), 0);
	suite_assert_list(st, "c", "", 0, "a/b");
	/* nested keys imply no markers */
	suite_assert_list(st, "c", "", '/', "[a/]");
	suite_assert_list(st, "c", "a/", '/', "a/b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_SUITE_TESTS,
		SUITE_TEST(test_mem_fault_each_op_once),
		SUITE_TEST(test_mem_fault_nth_call),
		SUITE_TEST(test_mem_fault_cleared_by_nth_zero),
		SUITE_TEST(test_mem_write_fault_fails_commit),
		SUITE_TEST(test_mem_read_fault_then_read),
		SUITE_TEST(test_mem_get_and_poke),
		SUITE_TEST(test_mem_list_containers_counts),
		SUITE_TEST(test_mem_statfs_sums),
		SUITE_TEST(test_mem_marker_is_one_object),
	};

	store_suite_use(mem_make, mem_unmake);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
