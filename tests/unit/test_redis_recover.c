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

/*
 * What redis_stage_open() asks the server: its role, AOF, config file
 * (unless configured), pid.
 */
static void expect_probe_conf(bool config_file_set)
{
	g_info_server = INFO_SERVER; /* no config_file, no process_id */
	g_info_replication = "# Replication\r\nrole:master\r\n";
	will_return(mock_connect, 0);
	expect_cmd("INFO replication", 0);
	expect_cmd("CONFIG GET appendonly", 0);
	expect_cmd("CONFIG GET appenddirname", 0);
	if (!config_file_set)
		expect_cmd("INFO server", 0);
	expect_cmd("INFO server", 0);
}

static void expect_probe(void)
{
	expect_probe_conf(false);
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

/*
 * A replica is refused before anything is staged or backed up: its
 * source's resync would replace the recovered data after the recover had
 * reported success.
 */
static void test_redis_stage_open_refuses_a_replica(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = recover_ds(f);
	struct ds_stage *sg = NULL;

	g_info_replication = "# Replication\r\nrole:slave\r\n"
			     "master_host:10.0.0.7\r\nmaster_port:6380\r\n";
	will_return(mock_connect, 0);
	expect_cmd("INFO replication", 0); /* one round trip */
	assert_int_equal(ds->drv->stage_open(ds, "b1", &sg), -EBUSY);
	assert_null(sg);
	assert_non_null(strstr(g_first_error, "cannot recover a replica "
					      "(of 10.0.0.7:6380)"));
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

/*
 * Stages backup "b1", @len bytes at @backup, over a server holding "the
 * old data".
 */
static struct ds_stage *stage_bytes(struct fixture *f, struct ds *ds,
				    const void *backup, size_t len)
{
	struct ds_stage *sg = NULL;

	put_file(f->dir, "dump.rdb", "the old data");
	expect_probe();
	assert_int_equal(ds->drv->stage_open(ds, "b1", &sg), 0);
	assert_int_equal(ds->drv->stage_write(sg, backup, len), 0);
	assert_int_equal(ds->drv->stage_sync(sg), 0);
	return sg;
}

static struct ds_stage *stage_over_old_dump(struct fixture *f, struct ds *ds,
					    const char *backup)
{
	return stage_bytes(f, ds, backup, strlen(backup));
}

/*
 * The check after the start: INFO persistence says aof_enabled:@aof;
 * INFO keyspace answers @keyspace unless it is NULL (not asked).
 */
static void expect_loaded(const char *aof, const char *keyspace)
{
	static char persistence[64];

	snprintf(persistence, sizeof(persistence),
		 "# Persistence\r\naof_enabled:%s\r\n", aof);
	g_info_persistence = persistence;
	g_info_keyspace = keyspace;
	will_return(mock_connect, 0);
	expect_cmd("INFO persistence", 0);
	if (keyspace)
		expect_cmd("INFO keyspace", 0);
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
	expect_loaded("0", NULL); /* not an RDB: no key count */
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
 * A leftover .trovefs-old (a directory with a file, as someone may keep
 * older data there) goes to make room: one warning names it.
 */
static void test_redis_stage_apply_says_leftover_removed(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = recover_ds(f);
	struct ds_stage *sg;
	char path[128];

	snprintf(path, sizeof(path), "%s/dump.rdb.trovefs-old", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	put_file(path, "f", "kept by hand");
	sg = stage_over_old_dump(f, ds, "the backup");
	will_return(mock_connect, -ECONNREFUSED); /* already stopped */
	will_return(mock_connect, 0);		  /* up after "true" */
	expect_cmd("PING", 0);
	expect_loaded("0", NULL);
	assert_int_equal(ds->drv->stage_apply(sg), 0);
	ds->drv->stage_free(sg);
	assert_int_equal(redis_trash_wait(10), 0);
	assert_int_equal(g_nnotice, 1);
	assert_non_null(
		strstr(g_last_notice, "removed the leftover directory '"));
	assert_file_is(f->dir, "dump.rdb", "the backup");
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
	/* the failed move, naming what is in the way; the rollback's */
	assert_int_equal(g_nnotice, 2);
	assert_non_null(strstr(g_first_error, "dump.rdb.trovefs-old"));
	assert_file_is(f->dir, "dump.rdb", "the old data");
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-new"));
	snprintf(path, sizeof(path), "%s/dump.rdb.trovefs-old/sub", f->dir);
	assert_int_equal(rmdir(path), 0);
}

/* ---- did the restarted server load the backup? ---- */

/* An RDB whose db 0 holds 3 keys, 1 of them with a TTL. */
static const char RDB_3_KEYS[] = "REDIS0010\xfa\x05"
				 "ctime\xc0\x01"
				 "\xfe\x00\xfb\x03\x01"
				 "\x00\x01k\x01v\xff\0\0\0\0\0\0\0\0";

struct loaded_row {
	const char *aof_enabled; /* after the start */
	const char *keyspace;	 /* INFO keyspace; NULL: not asked */
	int want_err;
	const char *want_log; /* in the first error line */
};

/* 3 keys, 1 with a TTL (it may have expired): 2 must be there */
static const struct loaded_row loaded_backup = {
	.aof_enabled = "0",
	.keyspace = "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n",
};
/* a start command or config file turned AOF on: Redis loaded an AOF */
static const struct loaded_row loaded_aof_instead = {
	.aof_enabled = "1",
	.want_err = -EIO,
	.want_log = "came up with AOF on (aof_enabled:1)",
};
/* an empty AOF made by the start: no database listed at all */
static const struct loaded_row loaded_nothing = {
	.aof_enabled = "0",
	.keyspace = "# Keyspace\r\n",
	.want_err = -EIO,
	.want_log = "holds 0 keys in db0, the backup 3 (2 without a TTL)",
};
static const struct loaded_row loaded_too_few = {
	.aof_enabled = "0",
	.keyspace = "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n",
	.want_err = -EIO,
	.want_log = "holds 1 keys in db0",
};

/*
 * A recover succeeds only if the restarted server loaded the backup;
 * otherwise it rolls back to the old dump file with one error line.
 */
static void test_redis_stage_apply_checks_loaded_row(void **state)
{
	struct fixture *f = *state;
	const struct loaded_row *row = f->row;
	struct ds *ds = recover_ds(f);
	struct ds_stage *sg;

	sg = stage_bytes(f, ds, RDB_3_KEYS, sizeof(RDB_3_KEYS) - 1);
	will_return(mock_connect, -ECONNREFUSED); /* already stopped */
	will_return(mock_connect, 0);		  /* up after "true" */
	expect_cmd("PING", 0);
	expect_loaded(row->aof_enabled, row->keyspace);
	if (row->want_err) {
		/* rollback: stopped, the old file back, started */
		will_return(mock_connect, -ECONNREFUSED);
		will_return(mock_connect, 0);
		expect_cmd("PING", 0);
	}
	assert_int_equal(ds->drv->stage_apply(sg), row->want_err);
	ds->drv->stage_free(sg);
	assert_int_equal(redis_trash_wait(10), 0);
	assert_false(has_entry(f->dir, "dump.rdb.trovefs-old"));
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-new"));
	if (row->want_err) {
		assert_file_is(f->dir, "dump.rdb", "the old data");
		assert_non_null(strstr(g_first_error, row->want_log));
		assert_non_null(strstr(g_first_error, "redis 'm'"));
	} else {
		assert_int_equal(count_entries(f->dir), 1);
		assert_string_equal(g_first_error, "");
	}
}

/*
 * AOF off at run time but "appendonly yes" in the config file: a restart
 * would load the old AOF, so the recover is refused before anything is
 * touched; a later "appendonly no" line is the one that counts.
 */
/*
 * Datastore "m" in a fresh temp data dir whose config_file is @conf (set
 * to "<dir>/redis.conf"); its start command is "true", or if
 * @start_breaks_conf, one that replaces the config file by a directory.
 */
static struct ds *conf_ds(struct fixture *f, char conf[128],
			  bool start_breaks_conf)
{
	char start[512] = "true";
	const char *kv[8] = { "data_dir",      f->dir,
			      "dbfilename",    "dump.rdb",
			      "start_command", start,
			      "config_file",   conf };

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_redis.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(conf, 128, "%s/redis.conf", f->dir);
	if (start_breaks_conf)
		snprintf(start, sizeof(start), "rm '%s' && mkdir -p '%s/x'",
			 conf, conf);
	return mocked_ds_kv(f, kv, 4);
}

static void test_redis_stage_open_refuses_aof_in_config(void **state)
{
	struct fixture *f = *state;
	char conf[128];
	struct ds_stage *sg = NULL;
	struct ds *ds = conf_ds(f, conf, false);

	put_file(f->dir, "redis.conf", "port 1\n  appendonly \"yes\"\n");
	expect_probe_conf(true);
	assert_int_equal(ds->drv->stage_open(ds, "b1", &sg), -EINVAL);
	assert_null(sg);
	assert_int_equal(g_nnotice, 1);
	assert_non_null(strstr(g_first_error, "says appendonly yes"));
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-new"));
	put_file(f->dir, "redis.conf", "appendonly yes\nappendonly no\n");
	expect_probe_conf(true);
	assert_int_equal(ds->drv->stage_open(ds, "b1", &sg), 0);
	ds->drv->stage_free(sg);
}

/*
 * The rollback cannot stop the server (its stop command fails): nothing
 * may be moved under a server that may still run, and no second one is
 * started; the old dump file stays aside, and the log and status say so.
 */
static void test_redis_rollback_cannot_stop_leaves_old_files(void **state)
{
	struct fixture *f = *state;
	const char *kv[8] = { "data_dir",     f->dir,	       "dbfilename",
			      "dump.rdb",     "start_command", "true",
			      "stop_command", "false" };
	struct ds_stage *sg;
	struct ds *ds;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_redis.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	ds = mocked_ds_kv(f, kv, 4);
	sg = stage_bytes(f, ds, RDB_3_KEYS, sizeof(RDB_3_KEYS) - 1);
	will_return(mock_connect, -ECONNREFUSED); /* already stopped */
	will_return(mock_connect, 0);		  /* up after "true" */
	expect_cmd("PING", 0);
	expect_loaded("1", NULL);     /* the wrong data: roll back */
	will_return(mock_connect, 0); /* it runs: stop it ("false") */
	expect_cmd("INFO server", 0);
	assert_int_equal(ds->drv->stage_apply(sg), -EIO);
	ds->drv->stage_free(sg);
	/* no second start: no connect for a PING is queued */
	assert_file_is(f->dir, "dump.rdb.trovefs-old", "the old data");
	assert_true(has_entry(f->dir, "dump.rdb"));
	assert_non_null(strstr(g_last_error_line,
			       "'m': rollback: cannot stop the server"));
	assert_non_null(strstr(g_last_error_line, "dump.rdb.trovefs-old'"));
	/* what status shows after "during:" */
	assert_non_null(
		strstr(ds->step, "rollback failed: the server would not stop"));
}

/* ---- AOF on: the config file after the recover ---- */

struct aof_conf_row {
	int rewrite_err; /* CONFIG REWRITE's answer */
	int want_err;
	const char *want_log; /* in the last error or notice line */
};

/* the server rewrites its config file: the recover succeeds */
static const struct aof_conf_row aof_conf_rewritten = {
	.want_log = "the server rewrote it with CONFIG REWRITE",
};
/* it cannot either: the recover fails and says what to set by hand */
static const struct aof_conf_row aof_conf_stuck = {
	.rewrite_err = -EIO,
	.want_err = -EISDIR,
	.want_log = "set appendonly yes there by hand",
};

/*
 * A recover with AOF on writes "appendonly no" into the config file for
 * the start on the RDB, and puts the file back once AOF is on again. If
 * that fails (here the file became a directory during the start: its
 * rename fails even for root), the file would make the next restart load
 * the last RDB snapshot instead of the AOF: the server is asked to
 * rewrite it (CONFIG REWRITE). The server runs on the backup either way.
 */
static void test_redis_stage_apply_aof_conf_put_back_row(void **state)
{
	struct fixture *f = *state;
	const struct aof_conf_row *row = f->row;
	char conf[128];
	char aof[160];
	struct ds_stage *sg = NULL;
	struct ds *ds = conf_ds(f, conf, true);

	g_conf_appendonly = "yes";
	put_file(f->dir, "redis.conf", "port 1\nappendonly yes\n");
	put_file(f->dir, "dump.rdb", "the old data");
	snprintf(aof, sizeof(aof), "%s/appendonlydir", f->dir);
	assert_int_equal(mkdir(aof, 0755), 0);
	put_file(aof, "appendonly.aof.1.base.rdb", "old base");
	expect_probe_conf(true);
	assert_int_equal(ds->drv->stage_open(ds, "b1", &sg), 0);
	assert_int_equal(
		ds->drv->stage_write(sg, RDB_3_KEYS, sizeof(RDB_3_KEYS) - 1),
		0);
	assert_int_equal(ds->drv->stage_sync(sg), 0);

	will_return(mock_connect, -ECONNREFUSED); /* already stopped */
	will_return(mock_connect, 0);		  /* up after the start */
	expect_cmd("PING", 0);
	/* loaded the backup, with AOF off */
	queue_persistence("# Persistence\r\naof_enabled:0\r\n");
	g_info_keyspace = "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=9\r\n";
	will_return(mock_connect, 0);
	expect_cmd("INFO persistence", 0);
	expect_cmd("INFO keyspace", 0);
	/* AOF back on, rewritten */
	queue_persistence("# Persistence\r\naof_enabled:1\r\n"
			  "aof_rewrite_in_progress:0\r\n"
			  "aof_rewrite_scheduled:0\r\n"
			  "aof_last_bgrewrite_status:ok\r\n");
	will_return(mock_connect, 0);
	expect_cmd("CONFIG SET appendonly yes", 0);
	expect_cmd("INFO persistence", 0);
	/* the put back fails: the server rewrites the file */
	will_return(mock_connect, 0);
	expect_cmd("CONFIG REWRITE", row->rewrite_err);
	assert_int_equal(ds->drv->stage_apply(sg), row->want_err);
	ds->drv->stage_free(sg);
	assert_int_equal(redis_trash_wait(10), 0);
	assert_non_null(strstr(g_first_error, "cannot restore"));
	assert_non_null(strstr(g_last_notice, row->want_log));
	assert_non_null(strstr(g_last_notice, "redis 'm'"));
	assert_int_equal(g_nnotice, 2);
	/* the server runs on the backup either way; the old data goes only
	 * with a recover that succeeded */
	assert_true(has_entry(f->dir, "dump.rdb"));
	assert_false(has_entry(f->dir, ".dump.rdb.trovefs-new"));
	assert_int_equal(has_entry(f->dir, "dump.rdb.trovefs-old"),
			 row->want_err != 0);
	assert_int_equal(has_entry(f->dir, "appendonlydir.trovefs-old"),
			 row->want_err != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_redis_stage_open_sweeps_leftover_trash),
		T(test_redis_stage_open_refuses_a_replica),
		T(test_redis_stage_apply_removes_old_dump_in_background),
		T(test_redis_stage_apply_says_leftover_removed),
		T(test_redis_stage_apply_failed_move_keeps_dump),
		ROW(test_redis_stage_apply_checks_loaded_row, loaded_backup),
		ROW(test_redis_stage_apply_checks_loaded_row,
		    loaded_aof_instead),
		ROW(test_redis_stage_apply_checks_loaded_row, loaded_nothing),
		ROW(test_redis_stage_apply_checks_loaded_row, loaded_too_few),
		T(test_redis_stage_open_refuses_aof_in_config),
		T(test_redis_rollback_cannot_stop_leaves_old_files),
		ROW(test_redis_stage_apply_aof_conf_put_back_row,
		    aof_conf_rewritten),
		ROW(test_redis_stage_apply_aof_conf_put_back_row,
		    aof_conf_stuck),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
