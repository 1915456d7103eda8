/*
 * test_ds.c - unit tests of the generic datastore layer (datastores/ds.c,
 * ds_names.c) with a fake driver over the mem store: backup naming, commit only of verified streams, listing and
 * latest, resolving what a user writes, the recover sequence (safety
 * backup, full verification before the driver runs), the staged pass
 * (pieces written in order on a writer thread, errors from either side,
 * nothing synced unless all verified), status. The restore/ and
 * datastores/ trees: test_ds_fs.c. Fixture: ds_fixture.h.
 */
#include "ds_fixture.h"

/* ---- naming ---- */

static void test_ds_backup_name_format(void **state)
{
	char name[DS_NAME_MAX];

	(void)state;
	assert_int_equal(ds_backup_name(0, "", name, sizeof(name)), 0);
	assert_string_equal(name, "1970-01-01T00:00:00Z");
	assert_int_equal(
		ds_backup_name(1700000000, "-pre-recover", name, sizeof(name)),
		0);
	assert_string_equal(name, "2023-11-14T22:13:20Z-pre-recover");
	assert_int_equal(ds_backup_name(0, "", name, 10), -ENAMETOOLONG);
}

static void test_ds_backup_name_is_valid(void **state)
{
	(void)state;
	assert_true(ds_backup_name_is_valid("2024-01-01T00:00:00Z"));
	assert_false(ds_backup_name_is_valid(""));
	assert_false(ds_backup_name_is_valid("latest"));
	assert_false(ds_backup_name_is_valid(".."));
	assert_false(ds_backup_name_is_valid("a/b"));
	assert_false(ds_backup_name_is_valid("a b"));
}

static void test_ds_config_prefix_and_container(void **state)
{
	struct fixture *f = *state;
	struct conf_kv kv[2] = {
		{ (char *)"container", (char *)"bad/name", 3 },
		{ (char *)"prefix", (char *)"p", 4 },
	};
	struct conf_section s = { (char *)"fake", (char *)"x", kv, 2, 1 };

	assert_string_equal(f->ds->prefix, "db/");
	assert_string_equal(f->ds->container, "database_backups");
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[0].value = (char *)"c2";
	/* prefixes no key may have: refused at mount, not at each backup */
	kv[1].value = (char *)"../../evil/";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[1].value = (char *)"a/./b";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[1].value = (char *)"/abs";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[1].value = (char *)"a//b";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	assert_null(ds_set_find(f->set, "x"));
	kv[1].value = (char *)"p";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), 0);
	assert_string_equal(ds_set_find(f->set, "x")->prefix, "p/");
	assert_string_equal(ds_set_find(f->set, "x")->container, "c2");
}

/*
 * Two datastores backing up into the same container and prefix: refused
 * at mount, one line. Their backups of one second would take one name,
 * the last commit replacing the other's data.
 */
static void test_ds_config_shared_prefix_refused(void **state)
{
	struct fixture *f = *state;
	struct conf_kv kv[1] = { { (char *)"prefix", (char *)"db", 7 } };
	struct conf_section s = { (char *)"fake", (char *)"y", kv, 1, 6 };

	g_nerrors = 0;
	g_nwarnings = 0;
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	assert_int_equal(g_nerrors + g_nwarnings, 1);
	assert_non_null(
		strstr(g_last_error, "would mix with datastore 'db''s"));
	assert_null(ds_set_find(f->set, "y"));
	/* another container, or a prefix below it: theirs apart */
	kv[0].value = (char *)"db/y";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), 0);
}

/* ---- backup ---- */

static void test_ds_backup_commits_stream(void **state)
{
	struct fixture *f = *state;
	char name[DS_NAME_MAX];
	char key[STORE_KEY_MAX];
	const void *p;
	size_t size;

	assert_int_equal(ds_backup(f->ds, "", name, sizeof(name)), 0);
	assert_int_equal(ds_backup_key(f->ds, name, key, sizeof(key)), 0);
	p = mem_store_get(f->st, "database_backups", key, &size);
	assert_non_null(p); /* stored encoded? mem is a leaf: plain */
	assert_int_equal((int)size, (int)strlen(g_data));
	assert_memory_equal(p, g_data, size);
}

static int count_object(void *arg, const struct obj_info *oi)
{
	(void)oi;
	(*(int *)arg)++;
	return 0;
}

/* How many objects @c holds (markers too). */
static int objects_in(struct store *st, const char *c)
{
	int n = 0;

	assert_int_equal(store_list(st, c, "", 0, count_object, &n), 0);
	return n;
}

static void test_ds_backup_failed_stream_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char latest[DS_NAME_MAX];
	struct buf b;

	g_stream_end_err = -EBADMSG;
	assert_int_equal(ds_backup(f->ds, "", NULL, 0), -EBADMSG);
	assert_int_equal(ds_backup_latest(f->ds, latest, sizeof(latest)),
			 -ENOENT);
	buf_init(&b, 4096);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b),
			       "last_result: error: Bad message (EBADMSG)"));
	buf_release(&b);
	/* nor the directory marker that took its name */
	assert_int_equal(objects_in(f->st, "database_backups"), 0);
}

static void test_ds_backup_same_second_gets_new_name(void **state)
{
	struct fixture *f = *state;
	char a[DS_NAME_MAX];
	char b[DS_NAME_MAX];

	assert_int_equal(ds_backup(f->ds, "", a, sizeof(a)), 0);
	assert_int_equal(ds_backup(f->ds, "", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

/*
 * A name another client took (another mount's backup of the same second
 * made its directory marker first) is not taken again: the backup gets
 * the next one, and the other's directory gets nothing of it.
 */
static void test_ds_backup_name_taken_elsewhere(void **state)
{
	struct fixture *f = *state;
	char taken[2][DS_NAME_MAX];
	char dir[STORE_KEY_MAX];
	char name[DS_NAME_MAX];
	time_t now = time(NULL);
	int i;

	assert_int_equal(store_create_container(f->st, "database_backups"), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(
			ds_backup_name(now + i, "", taken[i], sizeof(taken[i])),
			0);
		snprintf(dir, sizeof(dir), "db/%s/", taken[i]);
		assert_int_equal(
			store_mkdir_excl(f->st, "database_backups", dir, NULL),
			0);
	}
	assert_int_equal(ds_backup(f->ds, "", name, sizeof(name)), 0);
	assert_string_not_equal(name, taken[0]);
	assert_string_not_equal(name, taken[1]);
	assert_int_equal(ds_backup_exists(f->ds, taken[0]), -ENOENT);
	assert_int_equal(ds_backup_exists(f->ds, taken[1]), -ENOENT);
	assert_int_equal(ds_backup_exists(f->ds, name), 0);
}

/*
 * Another mount's marker PUT at the same moment replaced ours (Swift
 * checks If-None-Match as each request arrives): found before the commit,
 * the backup is taken again under a new name, and the other's directory
 * gets nothing of ours.
 */
static struct store *g_race_st;
static char g_race_dir[STORE_KEY_MAX];

static int remember_dir(void *arg, const struct obj_info *oi)
{
	(void)arg;
	if (oi->is_subdir && !g_race_dir[0])
		snprintf(g_race_dir, sizeof(g_race_dir), "%s", oi->name);
	return 0;
}

static void other_client_takes_the_name(void)
{
	struct store_writer *w;
	struct meta m;

	g_race_dir[0] = '\0';
	assert_int_equal(store_list(g_race_st, "database_backups", "db/", '/',
				    remember_dir, NULL),
			 0);
	assert_true(g_race_dir[0] != '\0');
	meta_init(&m);
	assert_int_equal(meta_set(&m, "claim", "theirs"), 0);
	assert_int_equal(store_writer_open(g_race_st, "database_backups",
					   g_race_dir, NULL, &w),
			 0);
	assert_int_equal(store_writer_commit(w, &m), 0);
	meta_release(&m);
}

static void test_ds_backup_name_lost_at_once(void **state)
{
	struct fixture *f = *state;
	char name[DS_NAME_MAX];
	char dump[STORE_KEY_MAX + 16];
	struct obj_info oi;

	g_race_st = f->st;
	g_at_stream_end = other_client_takes_the_name;
	g_nerrors = 0;
	assert_int_equal(ds_backup(f->ds, "", name, sizeof(name)), 0);
	assert_int_equal(g_nerrors, 0);
	/* ours is under another name; theirs has no dump of ours */
	assert_int_equal(ds_backup_exists(f->ds, name), 0);
	snprintf(dump, sizeof(dump), "%sdump.rdb", g_race_dir);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, "database_backups", dump, &oi),
			 -ENOENT);
	assert_int_equal(store_head(f->st, "database_backups", g_race_dir, &oi),
			 0);
	assert_string_equal(meta_get(&oi.meta, "claim"), "theirs");
	obj_info_release(&oi);
}

/* the second backup of a second is the latest (its name sorts after) */
static void test_ds_backup_same_second_latest_is_newest(void **state)
{
	struct fixture *f = *state;
	char a[DS_NAME_MAX];
	char b[DS_NAME_MAX];
	char latest[DS_NAME_MAX];

	assert_int_equal(ds_backup(f->ds, "", a, sizeof(a)), 0);
	assert_int_equal(ds_backup(f->ds, "", b, sizeof(b)), 0);
	assert_int_equal(ds_backup_latest(f->ds, latest, sizeof(latest)), 0);
	assert_string_equal(latest, b);
}

static int collect_name(void *arg, const char *name)
{
	struct buf *b = arg;

	return buf_printf(b, "%s ", name);
}

/*
 * The store lists "NAME/" keys, and '-' sorts before '/': the names must
 * be ordered without it, and "-10" after "-9".
 */
static void test_ds_backup_list_order_within_a_second(void **state)
{
	static const char *const names[] = {
		"2024-01-01T00:00:01Z",
		"2024-01-01T00:00:00Z-pre-recover",
		"2024-01-01T00:00:00Z-10",
		"2024-01-01T00:00:00Z",
		"2024-01-01T00:00:00Z-pre-recover-1",
		"2024-01-01T00:00:00Z-1",
		"2024-01-01T00:00:00Z-9",
	};
	struct fixture *f = *state;
	char out[DS_NAME_MAX];
	struct buf b;
	size_t i;

	for (i = 0; i < 2; i++)
		put_backup(f, names[i == 0 ? 3 : 5], "GOOD");
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:00Z-1");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (i != 3 && i != 5)
			put_backup(f, names[i], "GOOD");
	buf_init(&b, 4096);
	assert_int_equal(ds_backup_list(f->ds, collect_name, &b), 0);
	assert_string_equal(buf_str(&b),
			    "2024-01-01T00:00:00Z 2024-01-01T00:00:00Z-1 "
			    "2024-01-01T00:00:00Z-9 2024-01-01T00:00:00Z-10 "
			    "2024-01-01T00:00:00Z-pre-recover "
			    "2024-01-01T00:00:00Z-pre-recover-1 "
			    "2024-01-01T00:00:01Z ");
	buf_release(&b);
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:01Z");
}

/* @key (under the datastore's container) holds a few bytes */
static void put_key(struct fixture *f, const char *key)
{
	struct store_writer *w;
	int err;

	err = store_create_container(f->st, f->ds->container);
	assert_true(err == 0 || err == -EEXIST);
	assert_int_equal(
		store_writer_open(f->st, f->ds->container, key, NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "x", 1), 0);
	assert_int_equal(store_writer_commit(w, NULL), 0);
}

/*
 * A backup is a directory holding the backup file: other directories
 * under the prefix are not listed (their lookup found nothing). `latest`
 * is the newest backup made (a time name), never a safety backup nor a
 * name given by hand.
 */
static void test_ds_backup_list_only_backups_latest_only_made(void **state)
{
	struct fixture *f = *state;
	char out[DS_NAME_MAX];
	char key[STORE_KEY_MAX + 1];
	struct buf b;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD");
	put_backup(f, "2024-01-01T00:00:05Z-2", "GOOD");
	put_backup(f, "2024-01-01T00:00:09Z-pre-recover", "GOOD");
	put_backup(f, "zz-by-hand", "GOOD");
	put_backup(f, "2099-01-01T00:00:00", "GOOD"); /* no 'Z' */
	/* a directory without the file; the file one level deeper */
	snprintf(key, sizeof(key), "%s2098-01-01T00:00:00Z/x", f->ds->prefix);
	put_key(f, key);
	snprintf(key, sizeof(key), "%s2097-01-01T00:00:00Z/sub/%s",
		 f->ds->prefix, f->ds->drv->backup_file);
	put_key(f, key);
	buf_init(&b, 4096);
	assert_int_equal(ds_backup_list(f->ds, collect_name, &b), 0);
	assert_string_equal(buf_str(&b),
			    "2024-01-01T00:00:00Z 2024-01-01T00:00:05Z-2 "
			    "2024-01-01T00:00:09Z-pre-recover "
			    "2099-01-01T00:00:00 zz-by-hand ");
	buf_release(&b);
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:05Z-2");
	/* all are still recovered by name */
	assert_int_equal(
		ds_backup_resolve(f->ds, "zz-by-hand", 10, out, sizeof(out)),
		0);
	assert_int_equal(ds_backup_resolve(f->ds,
					   "2024-01-01T00:00:09Z-pre-recover",
					   32, out, sizeof(out)),
			 0);
	assert_int_equal(ds_backup_resolve(f->ds, "2098-01-01T00:00:00Z", 20,
					   out, sizeof(out)),
			 -ENOENT);
}

static void test_ds_backup_name_cmp(void **state)
{
	(void)state;
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z",
				       "2024-01-01T00:00:00Z-1") < 0);
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z-2",
				       "2024-01-01T00:00:00Z-10") < 0);
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z-pre-recover",
				       "2024-01-01T00:00:00Z-99") > 0);
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z-pre-recover-9",
				       "2024-01-01T00:00:01Z") < 0);
	assert_true(ds_backup_name_cmp("2023-12-31T23:59:59Z-5",
				       "2024-01-01T00:00:00Z") < 0);
	assert_int_equal(ds_backup_name_cmp("a-01", "a-1"), 0);
	assert_int_equal(ds_backup_name_cmp("x", "x"), 0);
}

static void test_ds_backup_store_failure(void **state)
{
	struct fixture *f = *state;

	mem_store_fail(f->st, MEM_OP_COMMIT, 1, -ENOSPC);
	assert_int_equal(ds_backup(f->ds, "", NULL, 0), -ENOSPC);
}

/* ---- listing, resolving ---- */

static void test_ds_latest_and_resolve(void **state)
{
	struct fixture *f = *state;
	char out[DS_NAME_MAX];

	assert_int_equal(
		ds_backup_resolve(f->ds, "latest\n", 7, out, sizeof(out)),
		-ENOENT);
	put_backup(f, "2024-01-02T00:00:00Z", "GOOD-1");
	put_backup(f, "2024-03-01T00:00:00Z", "GOOD-3");
	put_backup(f, "2024-02-01T00:00:00Z", "GOOD-2");
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-03-01T00:00:00Z");
	assert_int_equal(
		ds_backup_resolve(f->ds, "latest\n", 7, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-03-01T00:00:00Z");
	assert_int_equal(ds_backup_resolve(f->ds, "2024-02-01T00:00:00Z \n", 22,
					   out, sizeof(out)),
			 0);
	assert_string_equal(out, "2024-02-01T00:00:00Z");
	assert_int_equal(
		ds_backup_resolve(f->ds, " \tlatest \n", 10, out, sizeof(out)),
		0);
	assert_string_equal(out, "2024-03-01T00:00:00Z");
	assert_int_equal(ds_backup_resolve(f->ds, "nope", 4, out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(ds_backup_resolve(f->ds, "../x", 4, out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(ds_backup_resolve(f->ds, " \n", 2, out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(ds_backup_resolve(f->ds, "a\0b", 3, out, sizeof(out)),
			 -ENOENT);
}

/* ---- recover ---- */

static void test_ds_recover_takes_safety_backup_then_driver(void **state)
{
	struct fixture *f = *state;
	char out[DS_NAME_MAX];

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_data = "GOOD-NOW";
	assert_int_equal(ds_recover(f->ds, "2024-01-01T00:00:00Z", 20), 0);
	assert_int_equal(g_recovers, 1);
	assert_string_equal(g_recovered, "GOOD-OLD");
	/* the safety backup is listed last; `latest` stays the backup made */
	{
		struct buf b;

		buf_init(&b, 4096);
		assert_int_equal(ds_backup_list(f->ds, collect_name, &b), 0);
		assert_non_null(strstr(buf_str(&b), "-pre-recover "));
		assert_string_equal(strstr(buf_str(&b), "-pre-recover "),
				    "-pre-recover ");
		buf_release(&b);
	}
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:00Z");
}

static void test_ds_recover_refuses_corrupt_backup(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	put_backup(f, "2024-01-01T00:00:00Z", "BAD-DATA");
	assert_int_equal(ds_recover(f->ds, "2024-01-01T00:00:00Z\n", 21),
			 -EBADMSG);
	assert_int_equal(g_recovers, 0); /* nothing was touched */
	buf_init(&b, 4096);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b), "last_result: error"));
	assert_non_null(strstr(buf_str(&b),
			       "last_operation: recover 2024-01-01T00:00:00Z"));
	buf_release(&b);
}

static void test_ds_recover_no_safety_backup_no_recover(void **state)
{
	struct fixture *f = *state;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_stream_end_err = -ECONNREFUSED;
	g_nerrors = 0;
	assert_int_equal(ds_recover(f->ds, "latest", 6), -ECONNREFUSED);
	assert_int_equal(g_recovers, 0);
	/* one line: the recover's, with the client's as its cause */
	assert_int_equal(g_nerrors, 1);
	assert_non_null(strstr(g_last_error, "failed before the server"));
	assert_non_null(strstr(g_last_error, "connection closed mid-line"));
}

/*
 * While a recover runs: a backup or a second recover gets EBUSY (one
 * line each) and leaves it be; status and progress show the running job.
 */
static void test_ds_one_job_at_a_time(void **state)
{
	struct fixture *f = *state;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_probe = true;
	g_nerrors = 0;
	assert_int_equal(ds_recover(f->ds, "2024-01-01T00:00:00Z", 20), 0);
	g_probe = false;
	assert_int_equal(g_probe_backup, -EBUSY);
	assert_int_equal(g_probe_recover, -EBUSY);
	assert_int_equal(g_nerrors, 2);
	assert_int_equal(g_recovers, 1);
	assert_non_null(strstr(g_probe_status, "state: running\n"));
	assert_non_null(strstr(g_probe_status,
			       "running: recover 2024-01-01T00:00:00Z\n"));
	assert_non_null(strstr(g_probe_status, "step: "));
	assert_non_null(strstr(g_probe_progress,
			       "operation: recover 2024-01-01T00:00:00Z"));
	assert_string_equal(g_recovered, "GOOD-OLD");
}

static void test_ds_recover_garbage(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	assert_int_equal(ds_recover(f->ds, "garbage", 7), -ENOENT);
	assert_int_equal(g_recovers, 0);
	/* status says what became of the request, though nothing ran */
	buf_init(&b, 4096);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(
		strstr(buf_str(&b), "last_operation: recover garbage\n"));
	assert_non_null(strstr(
		buf_str(&b),
		"last_result: error: No such file or directory (ENOENT)\n"));
	/* what was written cannot add lines to status */
	buf_reset(&b);
	assert_int_equal(ds_recover(f->ds, "x\nlast_result: ok", 17), -ENOENT);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b),
			       "last_operation: recover x?last_result: ok\n"));
	/* a NUL, bytes past ASCII, blanks around: shown as the lookup saw */
	buf_reset(&b);
	assert_int_equal(ds_recover(f->ds, " \tlatest\0j\xff\xfe\n", 13),
			 -ENOENT);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(
		strstr(buf_str(&b), "last_operation: recover latest?j??\n"));
	buf_reset(&b);
	assert_int_equal(ds_recover(f->ds, "\n", 1), -EINVAL);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b), "(EINVAL)"));
	buf_release(&b);
	assert_int_equal(g_recovers, 0);
}

static void test_ds_recover_driver_error_is_returned(void **state)
{
	struct fixture *f = *state;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_recover_err = -EIO;
	assert_int_equal(ds_recover(f->ds, "latest", 6), -EIO);
	assert_int_equal(g_recovers, 1);
}

/* ---- state markers and the safety backup ---- */

static const char *const st_keys[] = { "redis-run-id", "redis-dirty",
				       "redis-last-save", NULL };

/* Fills @m with the three Redis-like markers. */
static void st_meta(struct meta *m, const char *run, const char *dirty,
		    const char *saved)
{
	meta_init(m);
	if (run)
		assert_int_equal(meta_set(m, "redis-run-id", run), 0);
	if (dirty)
		assert_int_equal(meta_set(m, "redis-dirty", dirty), 0);
	if (saved)
		assert_int_equal(meta_set(m, "redis-last-save", saved), 0);
}

/* ds_state_unchanged(st_keys, backup, live) for the given markers. */
static bool st_same(const char *brun, const char *bdirty, const char *bsaved,
		    const char *lrun, const char *ldirty, const char *lsaved)
{
	struct meta b;
	struct meta l;
	bool same;

	st_meta(&b, brun, bdirty, bsaved);
	st_meta(&l, lrun, ldirty, lsaved);
	assert_int_equal(meta_set(&b, "mtime", "1.000000000"), 0);
	same = ds_state_unchanged(st_keys, &b, &l);
	meta_release(&b);
	meta_release(&l);
	return same;
}

/* Markers of a backup and of the live server, and whether they match. */
static const struct st_case {
	const char *b[3]; /* run id, dirty, last save; NULL: absent */
	const char *l[3];
	bool same;
} st_cases[] = {
	{ { "abc", "0", "1700000000" }, { "abc", "0", "1700000000" }, true },
	{ { "abc", "0", "1700000000" }, { "abd", "0", "1700000000" }, false },
	{ { "abc", "5", "1700000000" }, { "abc", "6", "1700000000" }, false },
	/* a save resets the counter: lower is a change too */
	{ { "abc", "5", "1700000000" }, { "abc", "0", "1700000000" }, false },
	{ { "abc", "0", "1700000000" }, { "abc", "0", "1700000001" }, false },
	/* a marker missing on either side proves nothing */
	{ { NULL, "0", "1" }, { "abc", "0", "1" }, false },
	{ { "abc", NULL, "1" }, { "abc", "0", "1" }, false },
	{ { "abc", "0", NULL }, { "abc", "0", "1" }, false },
	{ { "abc", "0", "1" }, { "abc", NULL, "1" }, false },
	{ { NULL, NULL, NULL }, { NULL, NULL, NULL }, false },
};

static void test_ds_state_unchanged(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(st_cases) / sizeof(st_cases[0]); i++) {
		const struct st_case *c = &st_cases[i];

		assert_row_int_equal(i,
				     st_same(c->b[0], c->b[1], c->b[2], c->l[0],
					     c->l[1], c->l[2]),
				     c->same);
	}
}

static void test_ds_state_unchanged_needs_keys(void **state)
{
	struct meta a;
	struct meta b;

	(void)state;
	/* no keys at all proves nothing */
	st_meta(&a, "abc", "0", "1");
	st_meta(&b, "abc", "0", "1");
	assert_false(ds_state_unchanged(NULL, &a, &b));
	assert_false(ds_state_unchanged(st_keys + 3, &a, &b));
	assert_true(ds_state_unchanged(st_keys, &a, &b));
	meta_release(&a);
	meta_release(&b);
}

/*
 * "sdb<i>", driven by fake_state_driver: a datastore of its own for table
 * row @i, so that rows sharing the fixture see only their own backups.
 */
static struct ds *row_ds(struct fixture *f, size_t i)
{
	struct conf_section s = { 0 };
	char name[32];

	snprintf(name, sizeof(name), "sdb%zu", i);
	s.type = (char *)"fakestate";
	s.name = name;
	assert_int_equal(ds_set_add(f->set, &fake_state_driver, &s), 0);
	return ds_set_find(f->set, name);
}

/* How many of @ds's backups are safety backups. */
static int count_safety(void *arg, const char *name)
{
	(*(int *)arg) += strstr(name, "-pre-recover") != NULL;
	return 0;
}

static int safety_backups(struct ds *ds)
{
	int n = 0;

	assert_int_equal(ds_backup_list(ds, count_safety, &n), 0);
	return n;
}

/* What state_read() answers at backup, and the markers the backup gets. */
static const struct marker_case {
	int state_err;
	const char *a;
	const char *b;
} marker_cases[] = {
	{ 0, "run1", "7" },
	/* the backup itself still works */
	{ -ECONNREFUSED, NULL, NULL },
};

static void test_ds_backup_state_markers(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(marker_cases) / sizeof(marker_cases[0]); i++) {
		const struct marker_case *c = &marker_cases[i];
		struct ds *ds = row_ds(f, i);
		char name[DS_NAME_MAX];
		char key[STORE_KEY_MAX + 1];
		struct obj_info oi;
		int reads = g_state_reads;

		g_state_err = c->state_err;
		assert_row_int_equal(i, ds_backup(ds, "", name, sizeof(name)),
				     0);
		assert_row_int_equal(i, g_state_reads, reads + 1);
		assert_row_int_equal(
			i, ds_backup_key(ds, name, key, sizeof(key)), 0);
		obj_info_init(&oi);
		assert_row_int_equal(
			i, store_head(f->st, ds->container, key, &oi), 0);
		assert_row_string_equal(i, meta_get(&oi.meta, "fake-a"), c->a);
		assert_row_string_equal(i, meta_get(&oi.meta, "fake-b"), c->b);
		obj_info_release(&oi);
	}
}

/*
 * Recover of a backup just taken (markers run1/7) when the live markers
 * are then run1/@b or unreadable: a safety backup unless they match.
 * Either way the status names the backup that holds the data from
 * before the recover.
 */
static const struct live_case {
	const char *b;
	int state_err;
	int safety;
} live_cases[] = {
	{ "7", 0, 0 },
	/* one write since */
	{ "8", 0, 1 },
	{ "7", -ETIMEDOUT, 1 },
};

/* @ds's status line last_safety_backup into @out: "none" if there is none. */
static void last_safety(struct ds *ds, char *out, size_t size)
{
	static const char key[] = "\nlast_safety_backup: ";
	const char *line;
	struct buf b;
	size_t n = 0;

	buf_init(&b, 4096);
	assert_int_equal(ds_status(ds, &b), 0);
	line = strstr(buf_str(&b), key);
	if (line) {
		line += strlen(key);
		n = strcspn(line, "\n");
		assert_true(n < size);
		memcpy(out, line, n);
	}
	out[n] = '\0';
	buf_release(&b);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s);
	size_t k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void test_ds_recover_safety_by_live_state(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(live_cases) / sizeof(live_cases[0]); i++) {
		const struct live_case *c = &live_cases[i];
		struct ds *ds = row_ds(f, i);
		char name[DS_NAME_MAX];
		char last[DS_NAME_MAX];
		int recovers = g_recovers;

		g_state_b = "7";
		g_state_err = 0;
		assert_row_int_equal(i, ds_backup(ds, "", name, sizeof(name)),
				     0);
		g_state_b = c->b;
		g_state_err = c->state_err;
		assert_row_int_equal(i, ds_recover(ds, name, strlen(name)), 0);
		assert_row_int_equal(i, g_recovers, recovers + 1);
		assert_row_int_equal(i, safety_backups(ds), c->safety);
		last_safety(ds, last, sizeof(last));
		if (c->safety)
			assert_row_true(i, ends_with(last, "-pre-recover"));
		else
			assert_row_string_equal(i, last, name);
	}
}

#define MARKED_MAX 3

/*
 * Backups with and without markers (live: run1/7), the one recovered,
 * and how many safety backups that took: only the newest backup with
 * markers can prove the live data is kept, and only if it verifies.
 */
static const struct marked_case {
	struct {
		const char *name;
		const char *data;
		const char *a;
		const char *b;
	} put[MARKED_MAX];
	const char *target;
	const char *recovered;
	int safety;
} marked_cases[] = {
	/* an old backup without markers proves nothing */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", NULL, NULL },
	    { "2024-01-02T00:00:00Z", "GOOD-NEW", "run1", NULL } },
	  "latest",
	  "GOOD-NEW",
	  1 },
	/* the newest matches the live state but does not verify */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", NULL, NULL },
	    { "2024-01-02T00:00:00Z", "BAD", "run1", "7" } },
	  "2024-01-01T00:00:00Z",
	  "GOOD-OLD",
	  1 },
	/* the newest with markers counts, even behind one without */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", NULL, NULL },
	    { "2024-01-02T00:00:00Z", "GOOD-MID", "run1", "7" },
	    { "2024-01-03T00:00:00Z", "GOOD-NEW", NULL, NULL } },
	  "2024-01-01T00:00:00Z",
	  "GOOD-OLD",
	  0 },
	/* an older backup matching the live state is not enough */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", "run1", "7" },
	    { "2024-01-02T00:00:00Z", "GOOD-NEW", "run1", "6" } },
	  "2024-01-01T00:00:00Z",
	  "GOOD-OLD",
	  1 },
};

static void test_ds_recover_safety_by_backup_markers(void **state)
{
	struct fixture *f = *state;
	size_t i;
	size_t k;

	for (i = 0; i < sizeof(marked_cases) / sizeof(marked_cases[0]); i++) {
		const struct marked_case *c = &marked_cases[i];
		struct ds *ds = row_ds(f, i);

		for (k = 0; k < MARKED_MAX && c->put[k].name; k++)
			put_backup_to(f, ds, c->put[k].name, c->put[k].data,
				      c->put[k].a, c->put[k].b);
		memset(g_recovered, 0, sizeof(g_recovered));
		assert_row_int_equal(
			i, ds_recover(ds, c->target, strlen(c->target)), 0);
		assert_row_string_equal(i, g_recovered, c->recovered);
		assert_row_int_equal(i, safety_backups(ds), c->safety);
	}
}

/* ---- the staged pass ---- */

/* Pieces of a staged pass (1 MiB reads): more than the pipe's buffers. */
#define STAGE_PIECES (DS_STAGE_BUFS + 4)
#define STAGE_LEN ((size_t)(STAGE_PIECES - 1) * (1u << 20) + 1234)
#define STAGE_NAME "2024-01-01T00:00:00Z"

/*
 * "stg", driven by fake_stage_driver, with backup STAGE_NAME: STAGE_LEN
 * bytes that differ from piece to piece, starting with @first ('G'
 * verifies). Returns the backup's bytes (the caller frees them).
 */
static char *stage_setup(struct fixture *f, char first, struct ds **ds)
{
	struct conf_section s = { 0 };
	char *data = malloc(STAGE_LEN + 1);
	size_t i;

	assert_non_null(data);
	for (i = 0; i < STAGE_LEN; i++)
		data[i] = (char)('a' + (i * 7 + i / 4093) % 26);
	data[0] = first;
	data[STAGE_LEN] = '\0';
	s.type = (char *)"fakestage";
	s.name = (char *)"stg";
	assert_int_equal(ds_set_add(f->set, &fake_stage_driver, &s), 0);
	*ds = ds_set_find(f->set, "stg");
	put_backup_to(f, *ds, STAGE_NAME, data, NULL, NULL);
	return data;
}

/*
 * After a failed staged recover of @data (freed here): what was staged is
 * a prefix of it, in order, and it was neither synced nor applied.
 */
static void stage_failed(char *data)
{
	if (g_staged_len)
		assert_memory_equal(g_staged, data, g_staged_len);
	assert_int_equal(g_stage_syncs, 0);
	assert_int_equal(g_stage_applies, 0);
	free(data);
}

/*
 * A server that goes away during a backup fails the markers' read (a
 * warning), the stream (the client's error) and the backup: one line,
 * naming the backup, with the first thing that failed as its cause.
 */
static void test_ds_backup_server_gone_one_line(void **state)
{
	struct ds *ds = row_ds(*state, 0);

	g_state_err = -ECONNREFUSED;
	g_stream_end_err = -ECONNRESET;
	g_nerrors = 0;
	g_nwarnings = 0;
	assert_int_equal(ds_backup(ds, "", NULL, 0), -ECONNRESET);
	assert_int_equal(g_nerrors, 1);
	assert_int_equal(g_nwarnings, 0);
	assert_non_null(strstr(g_last_error, "datastore 'sdb0': backup '"));
	assert_non_null(
		strstr(g_last_error, "failed: Connection reset by peer"));
	assert_non_null(strstr(g_last_error, "(fake: cannot connect)"));
	/* a backup that works still says what went wrong on the way */
	g_stream_end_err = 0;
	assert_int_equal(ds_backup(ds, "", NULL, 0), 0);
	assert_int_equal(g_nerrors, 2);
	assert_int_equal(g_nwarnings, 1);
}

/* The staged recover's safety backup fails in its thread: one line. */
static void test_ds_recover_staged_safety_fails_one_line(void **state)
{
	struct ds *ds;
	char *data = stage_setup(*state, 'G', &ds);

	g_stream_end_err = -ECONNRESET;
	g_nerrors = 0;
	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)),
			 -ECONNRESET);
	assert_int_equal(g_nerrors, 1);
	assert_non_null(strstr(g_last_error, "recover from '" STAGE_NAME
					     "' failed before the server"));
	assert_non_null(strstr(g_last_error, "-pre-recover' failed"));
	/* the staged copy may be complete (the two ran side by side) */
	assert_int_equal(g_stage_applies, 0);
	free(data);
}

/*
 * The chosen backup is corrupt and the safety backup still streams when
 * its verify ends: status names the verify as the failing step, not the
 * wait for the safety backup that followed it.
 */
static void test_ds_recover_staged_corrupt_names_the_verify(void **state)
{
	struct ds *ds;
	char *data = stage_setup(*state, 'B', &ds);
	struct buf b;

	g_stream_end_ms = 300;
	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)),
			 -EBADMSG);
	buf_init(&b, 4096);
	assert_int_equal(ds_status(ds, &b), 0);
	assert_non_null(strstr(buf_str(&b), "last_result: error: Bad message"));
	assert_null(strstr(buf_str(&b), "during: waiting"));
	assert_non_null(strstr(buf_str(&b), "verifying and staging"));
	buf_release(&b);
	assert_int_equal(g_stage_applies, 0);
	free(data);
}

static void test_ds_recover_staged_bytes_in_order(void **state)
{
	struct fixture *f = *state;
	struct ds *ds;
	char *data = stage_setup(f, 'G', &ds);

	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)), 0);
	assert_int_equal(g_stage_writes, STAGE_PIECES);
	assert_int_equal(g_staged_len, STAGE_LEN);
	assert_memory_equal(g_staged, data, STAGE_LEN);
	/* written on the writer thread, which takes no signals */
	assert_int_equal(g_stage_on_main, 0);
	assert_int_equal(g_stage_unmasked, 0);
	assert_int_equal(g_stage_syncs, 1);
	assert_int_equal(g_stage_applies, 1);
	/* idle now, progress shows the last job's bytes: the backup read */
	{
		struct buf b;
		char want[64];

		buf_init(&b, 4096);
		assert_int_equal(ds_progress(ds, &b), 0);
		snprintf(want, sizeof(want), "bytes_done: %u\n",
			 (unsigned)STAGE_LEN);
		assert_non_null(strstr(buf_str(&b), "operation: none\n"));
		assert_non_null(strstr(buf_str(&b), want));
		buf_release(&b);
	}
	free(data);
}

/*
 * A recover whose @nth stage_write() fails with -ENOSPC: the pass fails
 * with it, nothing is written after it and nothing synced; returns how
 * many pieces were read.
 */
static unsigned stage_write_fails(struct fixture *f, unsigned nth)
{
	struct ds *ds;
	char *data = stage_setup(f, 'G', &ds);
	unsigned reads = mem_store_calls(f->st, MEM_OP_READ);

	g_stage_fail_at = nth;
	g_stage_fail_err = -ENOSPC;
	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)),
			 -ENOSPC);
	assert_int_equal(g_stage_writes, nth);
	assert_int_equal(g_staged_len, (size_t)(nth - 1) << 20);
	stage_failed(data);
	return mem_store_calls(f->st, MEM_OP_READ) - reads;
}

static void test_ds_recover_staged_write_error_stops_reader(void **state)
{
	unsigned reads = stage_write_fails(*state, 3);

	/* at most the pieces the ring held when the write failed */
	assert_true(reads <= 3 + DS_STAGE_BUFS - 1);
	assert_true(reads < STAGE_PIECES);
}

static void test_ds_recover_staged_last_write_error(void **state)
{
	unsigned reads = stage_write_fails(*state, STAGE_PIECES);

	/*
	 * all was read: only the end of the pass sees it. The read that
	 * finds the end races the writer's failing last write (a loaded
	 * machine lets the writer win now and then).
	 */
	assert_true(reads == STAGE_PIECES || reads == STAGE_PIECES + 1);
}

static void test_ds_recover_staged_read_error(void **state)
{
	struct fixture *f = *state;
	struct ds *ds;
	char *data = stage_setup(f, 'G', &ds);

	mem_store_fail(f->st, MEM_OP_READ, 3, -EIO);
	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)), -EIO);
	/* the writer may drop queued pieces, never write past the error */
	assert_true(g_stage_writes <= 2);
	stage_failed(data);
}

static void test_ds_recover_staged_bad_backup_not_synced(void **state)
{
	struct fixture *f = *state;
	struct ds *ds;
	char *data = stage_setup(f, 'B', &ds);

	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)),
			 -EBADMSG);
	stage_failed(data);
}

/* ---- live stream ---- */

static void test_ds_live_sequential_only(void **state)
{
	struct fixture *f = *state;
	struct ds_live *l;
	char buf[64];

	assert_int_equal(ds_live_open(f->ds, &l), 0);
	assert_int_equal((int)ds_live_read(l, buf, 4, 0), 4);
	assert_int_equal((int)ds_live_read(l, buf, 4, 100), -EINVAL);
	assert_int_equal((int)ds_live_read(l, buf, sizeof(buf), 4),
			 (int)strlen(g_data) - 4);
	assert_int_equal(
		(int)ds_live_read(l, buf, sizeof(buf), (off_t)strlen(g_data)),
		0);
	ds_live_close(l);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ds_backup_name_format),
		cmocka_unit_test(test_ds_backup_name_is_valid),
		T(test_ds_config_prefix_and_container),
		T(test_ds_config_shared_prefix_refused),
		T(test_ds_backup_commits_stream),
		T(test_ds_backup_failed_stream_leaves_nothing),
		T(test_ds_backup_same_second_gets_new_name),
		T(test_ds_backup_name_taken_elsewhere),
		T(test_ds_backup_name_lost_at_once),
		T(test_ds_backup_same_second_latest_is_newest),
		T(test_ds_backup_list_order_within_a_second),
		T(test_ds_backup_list_only_backups_latest_only_made),
		cmocka_unit_test(test_ds_backup_name_cmp),
		T(test_ds_backup_store_failure),
		T(test_ds_latest_and_resolve),
		T(test_ds_recover_takes_safety_backup_then_driver),
		T(test_ds_recover_refuses_corrupt_backup),
		T(test_ds_recover_no_safety_backup_no_recover),
		T(test_ds_backup_server_gone_one_line),
		T(test_ds_recover_staged_safety_fails_one_line),
		T(test_ds_recover_staged_corrupt_names_the_verify),
		T(test_ds_one_job_at_a_time),
		T(test_ds_recover_garbage),
		T(test_ds_recover_driver_error_is_returned),
		T(test_ds_recover_staged_bytes_in_order),
		T(test_ds_recover_staged_write_error_stops_reader),
		T(test_ds_recover_staged_last_write_error),
		T(test_ds_recover_staged_read_error),
		T(test_ds_recover_staged_bad_backup_not_synced),
		T(test_ds_live_sequential_only),
		cmocka_unit_test(test_ds_state_unchanged),
		cmocka_unit_test(test_ds_state_unchanged_needs_keys),
		T(test_ds_backup_state_markers),
		T(test_ds_recover_safety_by_live_state),
		T(test_ds_recover_safety_by_backup_markers),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
