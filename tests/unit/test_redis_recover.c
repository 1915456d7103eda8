/*
 * test_redis_recover.c - unit tests of the Redis driver's recover in
 * place (datastores/redis_recover.c) without a server: the stage ops on
 * a temp data dir with the mocked client of redis_fixture.h (the
 * leftover trash sweep, the old dump file removed in the background, a
 * failed move aside that must leave the dump file alone).
 */
#include "redis_fixture.h"

/* ---- recover in place ---- */

/* @dir/@name holds @text (a file) */
static void put_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static bool has_entry(const char *dir, const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &sb) == 0;
}

static int count_entries(const char *dir)
{
	struct dirent *e;
	int n = 0;
	DIR *d;

	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/*
 * Datastore "m" recovering in a fresh temp data dir (f->dir, dbfilename
 * dump.rdb, AOF off), its start command "true" on the mocked ops.
 */
static struct ds *recover_ds(struct fixture *f)
{
	const char *kv[6] = { "data_dir", f->dir,	   "dbfilename",
			      "dump.rdb", "start_command", "true" };

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_redis.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	return mocked_ds_kv(f, kv, 3);
}

/* What redis_stage_open() asks the server: AOF, config file, pid. */
static void expect_probe(void)
{
	g_info_server = INFO_SERVER; /* no config_file, no process_id */
	will_return(mock_connect, 0);
	expect_cmd("CONFIG GET appendonly", 0);
	expect_cmd("CONFIG GET appenddirname", 0);
	expect_cmd("INFO server", 0);
	expect_cmd("INFO server", 0);
}

/* trash a dead daemon left goes at the next recover, and nothing else */
static void test_redis_stage_open_sweeps_leftover_trash(void **state)
{
	static const char *const keep[] = {
		"dump.rdb",
		"dump.rdb.trovefs-old",
		".dump.rdb.trovefs-trash.0",
		".dump.rdb.trovefs-trash.0.",
		".dump.rdb.trovefs-trash.0.x",
		".dump.rdb.trovefs-trash.0.7.bak",
		".dump.rdb.trovefs-trash.-1.7",
		".dump.rdb.trovefs-trashy.0.7",
		".other.rdb.trovefs-trash.0.7",
		"x.dump.rdb.trovefs-trash.0.7",
	};
	struct fixture *f = *state;
	struct ds *ds = recover_ds(f);
	struct ds_stage *sg = NULL;
	char aof[128];
	size_t i;

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		put_file(f->dir, keep[i], "keep");
	put_file(f->dir, ".dump.rdb.trovefs-trash.0.7", "old rdb");
	/* an old AOF dir in the trash */
	snprintf(aof, sizeof(aof), "%s/.dump.rdb.trovefs-trash.12.8", f->dir);
	assert_int_equal(mkdir(aof, 0755), 0);
	put_file(aof, "appendonly.aof.1.base.rdb", "base");
	put_file(aof, "appendonly.aof.manifest", "manifest");
	expect_probe();
	assert_int_equal(ds->drv->stage_open(ds, "b1", &sg), 0);
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-trash.0.7"));
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-trash.12.8"));
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		assert_true(has_entry(f->dir, keep[i]));
	assert_int_equal(g_nnotice, 2);
	assert_non_null(strstr(g_last_log, "left by an earlier recover"));
	ds->drv->stage_free(sg);
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-new"));
}

/* @dir/@name holds @want (one line, < 32 bytes). */
static void assert_file_is(const char *dir, const char *name, const char *want)
{
	char path[128];
	char got[32] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(got, sizeof(got), fp));
	fclose(fp);
	assert_string_equal(got, want);
}

/* Stages backup "b1" holding @backup over a server holding "the old data". */
static struct ds_stage *stage_over_old_dump(struct fixture *f, struct ds *ds,
					    const char *backup)
{
	struct ds_stage *sg = NULL;

	put_file(f->dir, "dump.rdb", "the old data");
	expect_probe();
	assert_int_equal(ds->drv->stage_open(ds, "b1", &sg), 0);
	assert_int_equal(ds->drv->stage_write(sg, backup, strlen(backup)), 0);
	assert_int_equal(ds->drv->stage_sync(sg), 0);
	return sg;
}

/* the old dump file is out of the way at once, and gone soon after */
static void test_redis_stage_apply_removes_old_dump_in_background(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = recover_ds(f);
	struct ds_stage *sg;

	put_file(f->dir, "keep.me", "not ours");
	sg = stage_over_old_dump(f, ds, "the backup");
	will_return(mock_connect, -ECONNREFUSED); /* already stopped */
	will_return(mock_connect, 0);		  /* up after "true" */
	expect_cmd("PING", 0);
	assert_int_equal(ds->drv->stage_apply(sg), 0);
	ds->drv->stage_free(sg);
	assert_false(has_entry(f->dir, "dump.rdb.trovefs-old"));
	assert_int_equal(redis_trash_wait(10), 0);
	assert_int_equal(count_entries(f->dir), 2);
	assert_true(has_entry(f->dir, "keep.me"));
	assert_file_is(f->dir, "dump.rdb", "the backup");
	assert_int_equal(g_nnotice, 0);
}

/*
 * The old dump file cannot be moved aside (a leftover .trovefs-old that
 * cannot be removed): the recover fails and the rollback leaves the
 * server's dump file as it was - it must not "put back" what it never
 * moved.
 */
static void test_redis_stage_apply_failed_move_keeps_dump(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = recover_ds(f);
	struct ds_stage *sg;
	char path[128];

	snprintf(path, sizeof(path), "%s/dump.rdb.trovefs-old", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/dump.rdb.trovefs-old/sub", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	sg = stage_over_old_dump(f, ds, "new");
	will_return(mock_connect, -ECONNREFUSED); /* already stopped */
	will_return(mock_connect, -ECONNREFUSED); /* rollback: stopped */
	will_return(mock_connect, 0);		  /* up after "true" */
	expect_cmd("PING", 0);
	assert_true(ds->drv->stage_apply(sg) < 0);
	ds->drv->stage_free(sg);
	assert_true(g_nnotice >= 1); /* the failed removal, named */
	assert_file_is(f->dir, "dump.rdb", "the old data");
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-new"));
	snprintf(path, sizeof(path), "%s/dump.rdb.trovefs-old/sub", f->dir);
	assert_int_equal(rmdir(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_redis_stage_open_sweeps_leftover_trash),
		T(test_redis_stage_apply_removes_old_dump_in_background),
		T(test_redis_stage_apply_failed_move_keeps_dump),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
