/*
 * test_redis_failover.c - promote and eject (datastores/
 * redis_failover.c) against the fake nodes of redis_repl_fake.h: the
 * exact command order, the credentials handed to repointed nodes, the
 * look at their links, timeouts and every refusal of eject.
 */
#include "redis_repl_fake.h"

/* ---- promote ---- */

static void test_promote_switches_and_repoints(void **state)
{
	(void)state;
	assert_int_equal(wr(1, "promote", "1\n"), 0);
	assert_false(nodes[1].is_replica);
	assert_true(nodes[0].is_replica);
	assert_int_equal(nodes[0].master_port, 7002);
	assert_true(nodes[2].is_replica);
	assert_int_equal(nodes[2].master_port, 7002);
	assert_false(nodes[0].paused);
	assert_string_equal(actions(), "7001 CLIENT PAUSE 14000 WRITE;"
				       "7002 REPLICAOF NO ONE;"
				       "7002 CONFIG REWRITE;"
				       "7001 CONFIG SET replica-read-only yes;"
				       "7001 CONFIG SET masterauth \"\";"
				       "7001 REPLICAOF 127.0.0.1 7002;"
				       "7001 CONFIG REWRITE;"
				       "7001 CLIENT UNPAUSE;"
				       "7003 CONFIG SET replica-read-only yes;"
				       "7003 CONFIG SET masterauth \"\";"
				       "7003 REPLICAOF 127.0.0.1 7002;"
				       "7003 CONFIG REWRITE;");
	assert_int_equal(nerrors, 0);
	assert_int_equal(nwarnings, 0); /* both linked to the new source */
	assert_int_equal(ninfos, 1);
}

/*
 * The nodes repointed cannot AUTH to the new source (its configured
 * password is not the one it requires): the promote stands, and each of
 * them gets a warning, as replica_of gives one.
 */
static void test_promote_warns_of_unlinked_nodes(void **state)
{
	struct redis_repl_env env = env_of(1);

	(void)state;
	env.wait_timeout = 0; /* one look */
	addrs[1].password = SECRET "b";
	nodes[1].requirepass = SECRET "other";
	assert_int_equal(redis_repl_write(&env, "promote", "", 0), 0);
	assert_false(nodes[1].is_replica);
	assert_int_equal(nodes[2].master_port, 7002);
	assert_int_equal(nerrors, 0);
	assert_int_equal(nwarnings, 2); /* the old source a, and c */
	assert_non_null(strstr(
		last_warn,
		"promote: 'c' (localhost 7003) follows 'b' but has no link to it yet"));
	assert_int_equal(nleaks, 0);
}

/* the old source and the others follow the new one with its password */
static void test_promote_repoints_with_masterauth(void **state)
{
	(void)state;
	addrs[1].password = SECRET "b";
	nodes[1].requirepass = SECRET "b";
	assert_int_equal(wr(1, "promote", "1"), 0);
	assert_string_equal(actions(), "7001 CLIENT PAUSE 14000 WRITE;"
				       "7002 REPLICAOF NO ONE;"
				       "7002 CONFIG REWRITE;"
				       "7001 CONFIG SET replica-read-only yes;"
				       "7001 CONFIG GET masteruser;"
				       "7001 CONFIG SET masterauth " SECRET "b;"
				       "7001 REPLICAOF 127.0.0.1 7002;"
				       "7001 CONFIG REWRITE;"
				       "7001 CLIENT UNPAUSE;"
				       "7003 CONFIG SET replica-read-only yes;"
				       "7003 CONFIG GET masteruser;"
				       "7003 CONFIG SET masterauth " SECRET "b;"
				       "7003 REPLICAOF 127.0.0.1 7002;"
				       "7003 CONFIG REWRITE;");
	assert_true(nodes[0].link_up);
	assert_true(nodes[2].link_up);
	assert_int_equal(nerrors, 0);
	assert_int_equal(nleaks, 0);
}

static void test_promote_timeout_changes_nothing(void **state)
{
	struct redis_repl_env env = env_of(1);

	(void)state;
	env.wait_timeout = 0; /* one poll, no sleep */
	nodes[1].offset = 50;
	assert_int_equal(redis_repl_write(&env, "promote", "", 0), -ETIMEDOUT);
	assert_string_equal(actions(), "7001 CLIENT PAUSE 9000 WRITE;"
				       "7001 CLIENT UNPAUSE;");
	assert_true(nodes[1].is_replica);
	assert_false(nodes[0].is_replica);
	assert_false(nodes[0].paused);
	assert_int_equal(nerrors, 1);
}

static void test_promote_refuses_master(void **state)
{
	(void)state;
	assert_int_equal(wr(0, "promote", "1"), -EINVAL);
	assert_int_equal(nerrors, 1);
	assert_string_equal(actions(), "");
}

static void test_promote_source_down(void **state)
{
	(void)state;
	nodes[0].down = true;
	assert_int_equal(wr(1, "promote", "1"), -ECONNREFUSED);
	assert_string_equal(actions(), "");
	assert_true(nodes[1].is_replica);
}

static void test_promote_old_source_stays_fenced(void **state)
{
	(void)state;
	nodes[0].fail_cmd = "REPLICAOF 127.0.0.1";
	assert_int_equal(wr(1, "promote", "1"), -EIO);
	assert_true(nodes[0].paused); /* no second writable master */
	assert_false(nodes[1].is_replica);
	assert_null(strstr(actions(), "UNPAUSE"));
}

static void test_promote_fence_refused(void **state)
{
	(void)state;
	nodes[0].fail_cmd = "CLIENT PAUSE";
	assert_int_equal(wr(1, "promote", "1"), -EIO);
	assert_true(nodes[1].is_replica);
	assert_string_equal(actions(), "7001 CLIENT PAUSE 14000 WRITE;");
}

/* ---- eject ---- */

static void test_eject_source_alive(void **state)
{
	(void)state;
	assert_int_equal(wr(1, "eject", "1"), -EBUSY);
	assert_int_equal(wr(0, "eject", "1"), -EBUSY);
	assert_int_equal(nerrors, 2);
	assert_string_equal(actions(), "");
}

/*
 * Only a source that is gone (refused, unreachable) is ejected: one that
 * answers LOADING or BUSY, refuses AUTH or times out is alive, or will be
 * again, and a promoted replica would make two masters.
 */
static void test_eject_source_alive_but_erroring(void **state)
{
	static const struct {
		int connect_err;
		int ping_err;
	} alive[] = {
		{ 0, -EAGAIN },	    /* LOADING a big RDB after a restart */
		{ 0, -EBUSY },	    /* BUSY running a script */
		{ 0, -ETIMEDOUT },  /* stalled */
		{ -EACCES, 0 },	    /* WRONGPASS */
		{ -ETIMEDOUT, 0 },  /* no answer to connect or AUTH */
		{ -ECONNRESET, 0 }, /* closed on us */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(alive) / sizeof(alive[0]); i++) {
		nodes[0].connect_err = alive[i].connect_err;
		nodes[0].ping_err = alive[i].ping_err;
		nerrors = 0;
		assert_int_equal(wr(1, "eject", "1"), -EBUSY);
		/* one line: the refusal, which says what the source said */
		assert_int_equal(nerrors, 1);
		assert_string_equal(actions(), "");
		assert_true(nodes[1].is_replica);
		assert_true(nodes[2].is_replica);
	}
}

/* unreachable counts as gone, like refused */
static void test_eject_source_unreachable(void **state)
{
	(void)state;
	nodes[0].connect_err = -EHOSTUNREACH;
	nodes[1].offset = 120;
	assert_int_equal(wr(2, "eject", "1"), 0);
	assert_false(nodes[1].is_replica);
	assert_int_equal(nodes[2].master_port, 7002);
}

/*
 * eject written on a node that cannot be reached for another reason
 * than being gone (here: its password is refused) is an error, not a
 * dead source to replace.
 */
static void test_eject_self_not_gone(void **state)
{
	(void)state;
	nodes[0].connect_err = -EACCES;
	assert_int_equal(wr(0, "eject", "1"), -EACCES);
	assert_string_equal(actions(), "");
	assert_true(nodes[1].is_replica);
	assert_true(nodes[2].is_replica);
}

static void test_eject_promotes_most_current(void **state)
{
	(void)state;
	nodes[0].down = true;
	nodes[1].offset = 120;
	nodes[2].offset = 110;
	assert_int_equal(wr(2, "eject", "1"), 0);
	assert_false(nodes[1].is_replica);
	assert_true(nodes[2].is_replica);
	assert_int_equal(nodes[2].master_port, 7002);
	assert_string_equal(actions(), "7002 REPLICAOF NO ONE;"
				       "7002 CONFIG REWRITE;"
				       "7003 CONFIG SET replica-read-only yes;"
				       "7003 CONFIG SET masterauth \"\";"
				       "7003 REPLICAOF 127.0.0.1 7002;"
				       "7003 CONFIG REWRITE;");
	assert_int_equal(nwarnings, 0);
}

static void test_eject_warns_of_unlinked_nodes(void **state)
{
	struct redis_repl_env env = env_of(2);

	(void)state;
	env.wait_timeout = 0;
	nodes[0].down = true;
	nodes[1].offset = 120;
	addrs[1].password = SECRET "b";
	nodes[1].requirepass = SECRET "other";
	assert_int_equal(redis_repl_write(&env, "eject", "1", 1), 0);
	assert_false(nodes[1].is_replica);
	assert_int_equal(nwarnings, 1);
	assert_non_null(
		strstr(last_warn, "eject: 'c' (localhost 7003) follows 'b'"));
	assert_int_equal(nleaks, 0);
}

/*
 * Written on the source itself, gone: each node it tries to reach logs
 * "cannot connect" (the source twice); the failure is one line naming
 * the datastore and the file, with eject's own verdict.
 */
static void test_eject_failure_one_line(void **state)
{
	(void)state;
	nodes[0].down = true;
	nodes[1].down = true;
	nodes[2].down = true;
	nerrors = 0;
	nwarnings = 0;
	assert_true(wr(0, "eject", "1") < 0);
	assert_int_equal(nerrors + nwarnings, 1);
	assert_non_null(strstr(last_error, "redis 'a': eject failed: "));
	assert_string_equal(actions(), "");
}

static void test_eject_repoints_with_masterauth(void **state)
{
	(void)state;
	nodes[0].down = true;
	nodes[1].offset = 120;
	addrs[1].password = SECRET "b";
	nodes[1].requirepass = SECRET "b";
	assert_int_equal(wr(2, "eject", "1"), 0);
	assert_false(nodes[1].is_replica);
	assert_string_equal(nodes[2].masterauth, SECRET "b");
	assert_int_equal(nodes[2].master_port, 7002);
	assert_true(nodes[2].link_up);
	assert_int_equal(nleaks, 0);
}

static void test_eject_on_dead_source_file(void **state)
{
	(void)state;
	nodes[0].down = true;
	nodes[2].offset = 130;
	assert_int_equal(wr(0, "eject", "1"), 0);
	assert_false(nodes[2].is_replica);
	assert_int_equal(nodes[1].master_port, 7003);
}

static void test_eject_no_replica(void **state)
{
	(void)state;
	nodes[0].down = true;
	nodes[1].down = true;
	nodes[2].down = true;
	assert_int_equal(wr(0, "eject", "1"), -ENODEV);
	assert_string_equal(actions(), "");
}

static void test_eject_replicas_disagree(void **state)
{
	(void)state;
	nodes[0].down = true;
	nodes[2].replid = "elsewhere";
	nerrors = 0;
	assert_int_equal(wr(1, "eject", "1"), -EPROTO);
	assert_string_equal(actions(), "");
	assert_true(nodes[1].is_replica);
	assert_true(nodes[2].is_replica);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_promote_switches_and_repoints),
		T(test_promote_repoints_with_masterauth),
		T(test_promote_warns_of_unlinked_nodes),
		T(test_promote_timeout_changes_nothing),
		T(test_promote_refuses_master),
		T(test_promote_source_down),
		T(test_promote_old_source_stays_fenced),
		T(test_promote_fence_refused),
		T(test_eject_source_alive),
		T(test_eject_source_alive_but_erroring),
		T(test_eject_source_unreachable),
		T(test_eject_self_not_gone),
		T(test_eject_promotes_most_current),
		T(test_eject_warns_of_unlinked_nodes),
		T(test_eject_failure_one_line),
		T(test_eject_repoints_with_masterauth),
		T(test_eject_on_dead_source_file),
		T(test_eject_no_replica),
		T(test_eject_replicas_disagree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
