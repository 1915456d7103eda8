/*
 * test_redis_repl.c - the replication pseudo-files (datastores/
 * redis_repl.c) without a server: INFO parsing on Redis 7.0's own text,
 * "HOST PORT" parsing, the choice of the replica to promote, the reads
 * and replica_of against the fake nodes of redis_repl_fake.h (promote and
 * eject: test_redis_failover.c).
 */
#include "redis_repl_fake.h"

/* ---- INFO parsing ---- */

static const char info_master[] =
	"# Replication\r\n"
	"role:master\r\n"
	"connected_slaves:2\r\n"
	"slave0:ip=127.0.0.1,port=31490,state=online,offset=2344,lag=1\r\n"
	"slave1:ip=::1,port=7003,state=wait_bgsave,offset=0,lag=12\r\n"
	"master_failover_state:no-failover\r\n"
	"master_replid:08f0bac8df132fe14d64ac4e0dfe1b9d499ff37c\r\n"
	"master_replid2:a1499aa5e251a8e7b1903e3be01c6300f3cc1a45\r\n"
	"master_repl_offset:2344\r\n"
	"second_repl_offset:2303\r\n"
	"repl_backlog_active:1\r\n";

static const char info_replica[] =
	"# Replication\r\n"
	"role:slave\r\n"
	"master_host:127.0.0.1\r\n"
	"master_port:31118\r\n"
	"master_link_status:up\r\n"
	"master_last_io_seconds_ago:8\r\n"
	"master_sync_in_progress:0\r\n"
	"slave_read_repl_offset:2344\r\n"
	"slave_repl_offset:2340\r\n"
	"slave_priority:100\r\n"
	"slave_read_only:1\r\n"
	"replica_announced:1\r\n"
	"connected_slaves:0\r\n"
	"master_failover_state:no-failover\r\n"
	"master_replid:08f0bac8df132fe14d64ac4e0dfe1b9d499ff37c\r\n"
	"master_repl_offset:2344\r\n";

static void test_parse_info_master(void **state)
{
	struct redis_repl_info *i = calloc(1, sizeof(*i));

	(void)state;
	assert_int_equal(redis_repl_parse_info("x", info_master, i), 0);
	assert_false(i->is_replica);
	assert_int_equal(i->offset, 2344);
	assert_int_equal(i->nreplicas, 2);
	assert_string_equal(i->replicas[0].host, "127.0.0.1");
	assert_int_equal(i->replicas[0].port, 31490);
	assert_string_equal(i->replicas[0].state, "online");
	assert_int_equal(i->replicas[0].offset, 2344);
	assert_int_equal(i->replicas[0].lag, 1);
	assert_string_equal(i->replicas[1].host, "::1");
	assert_string_equal(i->replicas[1].state, "wait_bgsave");
	assert_int_equal(i->replicas[1].lag, 12);
	assert_string_equal(i->replid,
			    "08f0bac8df132fe14d64ac4e0dfe1b9d499ff37c");
	assert_int_equal(i->last_io, -1);
	free(i);
}

static void test_parse_info_replica(void **state)
{
	struct redis_repl_info *i = calloc(1, sizeof(*i));

	(void)state;
	assert_int_equal(redis_repl_parse_info("x", info_replica, i), 0);
	assert_true(i->is_replica);
	assert_string_equal(i->master_host, "127.0.0.1");
	assert_int_equal(i->master_port, 31118);
	assert_true(i->link_up);
	assert_int_equal(i->last_io, 8);
	assert_int_equal(i->offset, 2340); /* slave_, not master_ */
	assert_int_equal(i->master_repl_offset, 2344);
	assert_int_equal(i->nreplicas, 0); /* slave_* keys are no slaveN */
	free(i);
}

static void test_parse_info_server_section(void **state)
{
	struct redis_repl_info *i = calloc(1, sizeof(*i));

	(void)state;
	assert_int_equal(
		redis_repl_parse_info("x",
				      "# Server\nrun_id:abc\ntcp_port:7002\n"
				      "config_file:/etc/r.conf\n",
				      i),
		0);
	assert_string_equal(i->run_id, "abc");
	assert_int_equal(i->tcp_port, 7002);
	assert_true(i->has_config_file);
	assert_int_equal(redis_repl_parse_info("x", "config_file:\n", i), 0);
	assert_false(i->has_config_file);
	free(i);
}

static void test_parse_info_rejects_malformed(void **state)
{
	struct redis_repl_info *i = calloc(1, sizeof(*i));

	(void)state;
	assert_int_equal(
		redis_repl_parse_info(
			"x", "# Replication\r\nconnected_slaves:0\r\n", i),
		-EPROTO);
	assert_int_equal(nerrors, 1);
	assert_int_equal(redis_repl_parse_info("x", "role:sentinel\r\n", i),
			 -EPROTO);
	assert_int_equal(
		redis_repl_parse_info(
			"x",
			"role:master\r\nslave0:ip=1.2.3.4,state=online\r\n", i),
		-EPROTO);
	assert_int_equal(
		redis_repl_parse_info(
			"x", "role:master\r\nslave0:ip=h,port=-1\r\n", i),
		-EPROTO);
	assert_int_equal(
		redis_repl_parse_info(
			"x", "role:slave\r\nslave_repl_offset:12x\r\n", i),
		-EPROTO);
	assert_int_equal(redis_repl_parse_info(
				 "x", "role:slave\r\nmaster_port:99999\r\n", i),
			 -EPROTO);
	assert_int_equal(nerrors, 6);
	free(i);
}

/* An RDB transfer (port 0) parses but is no replica. */
static void test_parse_info_skips_rdb_transfer(void **state)
{
	struct redis_repl_info *i = calloc(1, sizeof(*i));

	(void)state;
	assert_int_equal(
		redis_repl_parse_info(
			"x",
			"# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
			"slave0:ip=127.0.0.1,port=0,state=wait_bgsave,"
			"offset=0,lag=0\r\n"
			"slave1:ip=127.0.0.1,port=7002,state=online,"
			"offset=9,lag=0\r\n"
			"master_repl_offset:9\r\n",
			i),
		0);
	assert_int_equal(i->nreplicas, 1);
	assert_int_equal(i->replicas[0].port, 7002);
	assert_int_equal(nerrors, 0);
	free(i);
}

static void test_parse_info_too_many_replicas(void **state)
{
	struct redis_repl_info *i = calloc(1, sizeof(*i));
	struct buf b;
	int k;

	(void)state;
	buf_init(&b, 1 << 16);
	buf_puts(&b, "role:master\r\n");
	for (k = 0; k <= REDIS_REPL_MAX_REPLICAS; k++)
		buf_printf(&b,
			   "slave%d:ip=h,port=%d,state=online,offset=1,"
			   "lag=0\r\n",
			   k, k + 1);
	assert_int_equal(redis_repl_parse_info("x", buf_str(&b), i), -E2BIG);
	buf_release(&b);
	free(i);
}

/* ---- "HOST PORT" ---- */

static int target(const char *s, enum redis_repl_target_kind *kind, char *host,
		  int *port)
{
	return redis_repl_parse_target(s, strlen(s), kind, host,
				       REDIS_REPL_HOST_MAX, port);
}

static void test_parse_target_forms(void **state)
{
	enum redis_repl_target_kind kind;
	char host[REDIS_REPL_HOST_MAX];
	int port;

	(void)state;
	assert_int_equal(target("none\n", &kind, host, &port), 0);
	assert_int_equal(kind, REDIS_REPL_TARGET_NONE);
	assert_int_equal(target("127.0.0.1 7001\n", &kind, host, &port), 0);
	assert_int_equal(kind, REDIS_REPL_TARGET_ADDR);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7001);
	assert_int_equal(
		target("  db-1.example\t65535 \r\n", &kind, host, &port), 0);
	assert_string_equal(host, "db-1.example");
	assert_int_equal(port, 65535);
	assert_int_equal(target("redis_a\n", &kind, host, &port), 0);
	assert_int_equal(kind, REDIS_REPL_TARGET_NAME);
	assert_string_equal(host, "redis_a");
	assert_int_equal(target("::1 1", &kind, host, &port), 0);
	assert_string_equal(host, "::1");
}

static void test_parse_target_rejects_garbage(void **state)
{
	static const char *const bad[] = {
		"",	    " \n",   "a b c",  "h 0",
		"h 65536",  "h -1",  "h +1",   "h 12x",
		"h 7001 x", "h/x 1", "h;rm 1", "h 123456789012",
	};
	enum redis_repl_target_kind kind;
	char host[REDIS_REPL_HOST_MAX];
	char big[REDIS_REPL_HOST_MAX + 8];
	size_t i;
	int port;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(target(bad[i], &kind, host, &port), -EINVAL);
	assert_int_equal(redis_repl_parse_target("h\0x 1", 5, &kind, host,
						 sizeof(host), &port),
			 -EINVAL);
	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(target(big, &kind, host, &port), -EINVAL);
}

static void test_same_host_loopback(void **state)
{
	(void)state;
	assert_true(redis_repl_same_host("localhost", "127.0.0.1"));
	assert_true(redis_repl_same_host("::1", "LOCALHOST"));
	assert_true(redis_repl_same_host("Db1", "db1"));
	assert_false(redis_repl_same_host("db1", "127.0.0.1"));
	assert_false(redis_repl_same_host("10.0.0.1", "10.0.0.2"));
}

/* ---- choice ---- */

static struct redis_repl_cand cand(const char *host, int port, long long off,
				   long long io)
{
	struct redis_repl_cand c;

	memset(&c, 0, sizeof(c));
	snprintf(c.host, sizeof(c.host), "%s", host);
	c.port = port;
	c.reachable = true;
	c.offset = off;
	c.last_io = io;
	return c;
}

static void test_choose_largest_offset(void **state)
{
	struct redis_repl_cand c[3];
	enum redis_repl_why why;
	size_t best;

	(void)state;
	c[0] = cand("h", 1, 10, 0);
	c[1] = cand("h", 2, 30, 9);
	c[2] = cand("h", 3, 20, 0);
	assert_int_equal(redis_repl_choose(c, 3, &best, &why), 0);
	assert_int_equal(best, 1);
	assert_int_equal(why, REDIS_REPL_WHY_OFFSET);
}

static void test_choose_tie_smallest_last_io(void **state)
{
	struct redis_repl_cand c[3];
	enum redis_repl_why why;
	size_t best;

	(void)state;
	c[0] = cand("h", 1, 30, 5);
	c[1] = cand("h", 2, 30, -1); /* unknown: worst */
	c[2] = cand("h", 3, 30, 2);
	assert_int_equal(redis_repl_choose(c, 3, &best, &why), 0);
	assert_int_equal(best, 2);
	assert_int_equal(why, REDIS_REPL_WHY_LAST_IO);
}

static void test_choose_tie_lowest_address(void **state)
{
	struct redis_repl_cand c[3];
	enum redis_repl_why why;
	size_t best;

	(void)state;
	c[0] = cand("h2", 1, 30, -1);
	c[1] = cand("h1", 9, 30, -1);
	c[2] = cand("h1", 8, 30, -1);
	assert_int_equal(redis_repl_choose(c, 3, &best, &why), 0);
	assert_int_equal(best, 2);
	assert_int_equal(why, REDIS_REPL_WHY_ADDRESS);
}

static void test_choose_skips_unreachable(void **state)
{
	struct redis_repl_cand c[2];
	enum redis_repl_why why;
	size_t best;

	(void)state;
	c[0] = cand("h", 1, 99, 0);
	c[0].reachable = false;
	c[1] = cand("h", 2, 1, 0);
	assert_int_equal(redis_repl_choose(c, 2, &best, &why), 0);
	assert_int_equal(best, 1);
	assert_int_equal(why, REDIS_REPL_WHY_ONLY);
	c[1].reachable = false;
	assert_int_equal(redis_repl_choose(c, 2, &best, &why), -ENODEV);
	assert_int_equal(redis_repl_choose(c, 0, &best, &why), -ENODEV);
}

static void test_format_choice_says_why(void **state)
{
	struct redis_repl_cand c = cand("127.0.0.1", 7002, 12345, 0);
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	redis_repl_format_choice(&b, &c, REDIS_REPL_WHY_LAST_IO);
	redis_repl_format_choice(&b, &c, REDIS_REPL_WHY_OFFSET);
	assert_string_equal(buf_str(&b),
			    "chosen: 127.0.0.1 7002 (largest offset 12345; tie "
			    "broken by smallest master_last_io_seconds_ago 0)\n"
			    "chosen: 127.0.0.1 7002 (largest offset 12345)\n");
	buf_release(&b);
}

/* ---- files ---- */

static void test_file_lookup(void **state)
{
	bool w = true;

	(void)state;
	assert_true(redis_repl_file_lookup("role", &w));
	assert_false(w);
	assert_true(redis_repl_file_lookup("candidates", &w));
	assert_false(w);
	assert_true(redis_repl_file_lookup("replica_of", &w));
	assert_true(w);
	assert_true(redis_repl_file_lookup("eject", &w));
	assert_true(w);
	assert_false(redis_repl_file_lookup("nope", &w));
	assert_false(redis_repl_file_lookup("", &w));
}

static const char *rd(size_t self, const char *file, int *err)
{
	static char out[4096];
	struct redis_repl_env env = env_of(self);
	struct buf b;

	buf_init(&b, 1 << 16);
	*err = redis_repl_read(&env, file, &b);
	snprintf(out, sizeof(out), "%s", buf_str(&b));
	buf_release(&b);
	return out;
}

static void test_read_replica_files(void **state)
{
	int err;

	(void)state;
	nodes[1].offset = 90;
	nodes[1].last_io = 3;
	assert_string_equal(rd(1, "role", &err), "replica\n");
	assert_int_equal(err, 0);
	assert_string_equal(rd(1, "source", &err), "127.0.0.1 7001\n");
	assert_string_equal(rd(1, "offset", &err), "90\n");
	assert_string_equal(rd(1, "lag", &err), "3\n");
	assert_string_equal(rd(1, "link", &err), "up\n");
	assert_string_equal(rd(1, "replicas", &err),
			    "127.0.0.1 7002 state=online offset=90 lag=0\n"
			    "127.0.0.1 7003 state=online offset=100 lag=0\n");
	assert_int_equal(err, 0);
	assert_string_equal(actions(), ""); /* reads change nothing */
}

static void test_read_master_files(void **state)
{
	int err;

	(void)state;
	assert_string_equal(rd(0, "role", &err), "master\n");
	assert_string_equal(rd(0, "source", &err), "\n");
	assert_string_equal(rd(0, "lag", &err), "0\n");
	assert_string_equal(rd(0, "link", &err), "none\n");
	assert_string_equal(rd(0, "offset", &err), "100\n");
	assert_int_equal(err, 0);
}

static void test_read_candidates(void **state)
{
	int err;

	(void)state;
	nodes[1].offset = 90;
	assert_string_equal(
		rd(1, "candidates", &err),
		"127.0.0.1 7002 offset=90 master_last_io_seconds_ago=1 master_link_status=up\n"
		"127.0.0.1 7003 offset=100 master_last_io_seconds_ago=1 master_link_status=up\n"
		"chosen: 127.0.0.1 7003 (largest offset 100)\n");
	assert_int_equal(err, 0);
}

static void test_read_candidates_source_down(void **state)
{
	int err;

	(void)state;
	nodes[0].down = true;
	nodes[1].link_up = false;
	nodes[2].link_up = false;
	nodes[1].last_io = -1;
	nodes[2].last_io = -1;
	/* From the configured datastores; "localhost" c sorts after. */
	assert_string_equal(
		rd(2, "candidates", &err),
		"127.0.0.1 7002 offset=100 master_last_io_seconds_ago=-1 master_link_status=down\n"
		"localhost 7003 offset=100 master_last_io_seconds_ago=-1 master_link_status=down\n"
		"chosen: 127.0.0.1 7002 (largest offset 100; same master_last_io_seconds_ago -1; tie broken by lowest address)\n");
	assert_int_equal(err, 0);
	/* no link, no I/O to time: not "-1" */
	assert_string_equal(rd(1, "lag", &err), "unknown\n");
	assert_int_equal(err, 0);
}

static void test_read_errors(void **state)
{
	int err;

	(void)state;
	rd(0, "promote", &err);
	assert_int_equal(err, -EACCES);
	rd(0, "nope", &err);
	assert_int_equal(err, -ENOENT);
	nodes[0].down = true;
	rd(0, "role", &err);
	assert_int_equal(err, -ECONNREFUSED);
	rd(1, "replicas", &err);
	assert_int_equal(err, -ECONNREFUSED);
}

/* ---- replica_of ---- */

static void test_replica_of_garbage_one_log_line(void **state)
{
	static const char *const bad[] = {
		"", "x y z", "127.0.0.1 0", "127.0.0.1 70000", "nosuch\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		nerrors = 0;
		assert_int_equal(wr(3, "replica_of", bad[i]), -EINVAL);
		assert_int_equal(nerrors, 1);
	}
	assert_string_equal(buf_str(&cmdlog), ""); /* nothing sent */
	assert_int_equal(wr(3, "role", "x"), -EACCES);
	assert_int_equal(wr(3, "nope", "x"), -ENOENT);
}

static void test_replica_of_refuses_replica_target(void **state)
{
	(void)state;
	assert_int_equal(wr(3, "replica_of", "b"), -EINVAL);
	assert_int_equal(nerrors, 1);
	assert_int_equal(wr(3, "replica_of", "localhost 7003"), -EINVAL);
	assert_int_equal(nerrors, 2);
	assert_string_equal(actions(), "");
	assert_false(nodes[3].is_replica);
}

static void test_replica_of_refuses_self(void **state)
{
	(void)state;
	assert_int_equal(wr(3, "replica_of", "d"), -EINVAL);
	assert_int_equal(wr(3, "replica_of", "localhost 7004"), -EINVAL);
	assert_int_equal(nerrors, 2);
	assert_string_equal(actions(), "");
}

static void test_replica_of_refuses_self_when_self_is_a_copy(void **state)
{
	struct redis_repl_env env = env_of(3);
	struct redis_addr me = addrs[3]; /* how the driver passes it */

	(void)state;
	env.self = &me;
	assert_int_equal(redis_repl_write(&env, "replica_of", "d", 1), -EINVAL);
	assert_int_equal(nerrors, 1);
	assert_string_equal(buf_str(&cmdlog), ""); /* refused up front */
}

static void test_replica_of_refuses_master_with_replicas(void **state)
{
	(void)state;
	assert_int_equal(wr(0, "replica_of", "d"), -EINVAL);
	assert_int_equal(nerrors, 1);
	assert_string_equal(actions(), "");
}

static void test_replica_of_name_and_addr(void **state)
{
	(void)state;
	assert_int_equal(wr(3, "replica_of", "a\n"), 0);
	assert_true(nodes[3].is_replica);
	assert_int_equal(nodes[3].master_port, 7001);
	assert_string_equal(actions(), "7004 CONFIG SET replica-read-only yes;"
				       "7004 CONFIG SET masterauth \"\";"
				       "7004 REPLICAOF 127.0.0.1 7001;"
				       "7004 CONFIG REWRITE;");
	assert_int_equal(ninfos, 1);
	assert_int_equal(wr(1, "replica_of", "none"), 0);
	assert_false(nodes[1].is_replica);
	assert_int_equal(nodes[1].rewrites, 1);
	assert_int_equal(wr(1, "replica_of", "127.0.0.1 7001"), 0);
	assert_true(nodes[1].is_replica);
	assert_int_equal(nodes[1].rewrites, 2);
	assert_int_equal(nerrors, 0);
}

static void test_replica_of_without_config_file_warns(void **state)
{
	(void)state;
	nodes[3].has_config = false;
	assert_int_equal(wr(3, "replica_of", "a"), 0);
	assert_int_equal(nodes[3].rewrites, 0);
	assert_int_equal(nwarnings, 1);
	assert_int_equal(nerrors, 0);
}

static void test_replica_of_target_down(void **state)
{
	(void)state;
	nodes[0].down = true;
	assert_int_equal(wr(3, "replica_of", "a"), -ECONNREFUSED);
	assert_string_equal(actions(), "");
}

/* ---- the source's credentials (masterauth, masteruser) ---- */

/* a requires a password; its datastore is configured with it */
static void source_a_with_password(void)
{
	addrs[0].password = SECRET "a";
	nodes[0].requirepass = SECRET "a";
}

static void test_replica_of_name_sets_masterauth(void **state)
{
	(void)state;
	source_a_with_password();
	assert_int_equal(wr(3, "replica_of", "a"), 0);
	assert_string_equal(actions(), "7004 CONFIG SET replica-read-only yes;"
				       "7004 CONFIG GET masteruser;"
				       "7004 CONFIG SET masterauth " SECRET "a;"
				       "7004 REPLICAOF 127.0.0.1 7001;"
				       "7004 CONFIG REWRITE;");
	assert_string_equal(nodes[3].masterauth, SECRET "a");
	assert_true(nodes[3].link_up);
	assert_int_equal(nodes[3].rewrites, 1); /* persisted with it */
	assert_int_equal(ninfos, 1);
	assert_int_equal(nwarnings, 0);
	assert_int_equal(nerrors, 0);
	assert_int_equal(nleaks, 0);
}

/* "HOST PORT" of a configured datastore is that datastore */
static void test_replica_of_configured_addr_sets_masterauth(void **state)
{
	(void)state;
	source_a_with_password();
	assert_int_equal(wr(3, "replica_of", "localhost 7001"), 0);
	assert_string_equal(nodes[3].masterauth, SECRET "a");
	assert_true(nodes[3].link_up);
	assert_int_equal(nwarnings, 0);
	assert_int_equal(nleaks, 0);
}

static void test_replica_of_sets_masteruser(void **state)
{
	(void)state;
	source_a_with_password();
	addrs[0].user = "repl";
	nodes[0].acl_user = "repl";
	assert_int_equal(wr(3, "replica_of", "a"), 0);
	assert_string_equal(actions(), "7004 CONFIG SET replica-read-only yes;"
				       "7004 CONFIG SET masteruser repl;"
				       "7004 CONFIG SET masterauth " SECRET "a;"
				       "7004 REPLICAOF 127.0.0.1 7001;"
				       "7004 CONFIG REWRITE;");
	assert_true(nodes[3].link_up);
	assert_int_equal(nwarnings, 0);
}

/* a masteruser of an earlier source would make AUTH fail: cleared */
static void test_replica_of_clears_stale_masteruser(void **state)
{
	(void)state;
	source_a_with_password();
	set_param(nodes[3].masteruser, sizeof(nodes[3].masteruser), "old");
	assert_int_equal(wr(3, "replica_of", "a"), 0);
	assert_string_equal(actions(), "7004 CONFIG SET replica-read-only yes;"
				       "7004 CONFIG GET masteruser;"
				       "7004 CONFIG SET masteruser \"\";"
				       "7004 CONFIG SET masterauth " SECRET "a;"
				       "7004 REPLICAOF 127.0.0.1 7001;"
				       "7004 CONFIG REWRITE;");
	assert_string_equal(nodes[3].masteruser, "");
	assert_true(nodes[3].link_up);
}

/* Redis < 6 has no masteruser: CONFIG GET answers [] and it is left */
static void test_replica_of_without_masteruser_parameter(void **state)
{
	(void)state;
	source_a_with_password();
	nodes[3].no_masteruser = true;
	assert_int_equal(wr(3, "replica_of", "a"), 0);
	assert_null(strstr(actions(), "SET masteruser"));
	assert_true(nodes[3].link_up);
	assert_int_equal(nerrors, 0);
}

/* a masterauth of an earlier source breaks a passwordless link */
static void test_replica_of_clears_stale_masterauth(void **state)
{
	(void)state;
	set_param(nodes[3].masterauth, sizeof(nodes[3].masterauth),
		  SECRET "old");
	assert_int_equal(wr(3, "replica_of", "a"), 0);
	assert_string_equal(nodes[3].masterauth, "");
	assert_true(nodes[3].link_up);
	assert_int_equal(nwarnings, 0);
}

/*
 * A source that is not configured: masterauth stays as it is. Here it
 * does not fit, so the link stays down (master_sync_in_progress flips
 * on, and is no sign of a link) and the source does not list it: the
 * write succeeds with one warning naming the datastore and the source.
 */
static void test_replica_of_unknown_source_keeps_masterauth(void **state)
{
	struct redis_repl_env env = env_of(3);

	(void)state;
	env.all = &addrs[1]; /* b, c, d: a (7001) is not configured */
	env.nall = NNODES - 1;
	env.wait_timeout = 0; /* one look, no sleep */
	nodes[0].requirepass = SECRET "a";
	set_param(nodes[3].masterauth, sizeof(nodes[3].masterauth),
		  SECRET "old");
	assert_int_equal(
		redis_repl_write(&env, "replica_of", "127.0.0.1 7001", 14), 0);
	assert_string_equal(actions(), "7004 CONFIG SET replica-read-only yes;"
				       "7004 REPLICAOF 127.0.0.1 7001;"
				       "7004 CONFIG REWRITE;");
	assert_string_equal(nodes[3].masterauth, SECRET "old");
	assert_true(nodes[3].is_replica);
	assert_false(nodes[3].link_up);
	assert_int_equal(nwarnings, 1);
	assert_int_equal(nerrors, 0);
	assert_non_null(strstr(last_warn, "redis 'd': replica_of: the link to "
					  "'127.0.0.1:7001' (127.0.0.1 7001) "
					  "is not up yet"));
	assert_non_null(strstr(last_warn, "see the server's log"));
	assert_int_equal(nleaks, 0);
}

/* a replica the source lists is let in (its sync waits): no warning */
static void test_replica_of_listed_by_source_no_warning(void **state)
{
	struct redis_repl_env env = env_of(3);

	(void)state;
	env.wait_timeout = 0;
	nodes[0].slow_sync = true;
	assert_int_equal(redis_repl_write(&env, "replica_of", "a", 1), 0);
	assert_false(nodes[3].link_up);
	assert_int_equal(nwarnings, 0);
	assert_int_equal(nerrors, 0);
}

static void test_replica_of_masterauth_refused(void **state)
{
	(void)state;
	source_a_with_password();
	nodes[3].fail_cmd = "CONFIG SET masterauth";
	assert_int_equal(wr(3, "replica_of", "a"), -EIO);
	assert_int_equal(nerrors, 1);
	assert_null(strstr(actions(), "REPLICAOF"));
	assert_false(nodes[3].is_replica);
	assert_int_equal(nleaks, 0);
}

static void test_replica_of_config_get_garbage(void **state)
{
	(void)state;
	source_a_with_password();
	nodes[3].bad_config_get = true;
	assert_int_equal(wr(3, "replica_of", "a"), -EPROTO);
	assert_int_equal(nerrors, 1);
	assert_null(strstr(actions(), "REPLICAOF"));
	assert_false(nodes[3].is_replica);
}

/*
 * A sync backup streaming from a node (port=0 in its INFO) changes no
 * file: not listed, not a candidate, not a replica that would forbid
 * replica_of.
 */
static void test_rdb_transfer_is_no_replica(void **state)
{
	int err;

	(void)state;
	nodes[0].rdb_stream = true;
	nodes[3].rdb_stream = true;
	assert_string_equal(rd(1, "replicas", &err),
			    "127.0.0.1 7002 state=online offset=100 lag=0\n"
			    "127.0.0.1 7003 state=online offset=100 lag=0\n");
	assert_int_equal(err, 0);
	assert_non_null(strstr(rd(1, "candidates", &err),
			       "chosen: 127.0.0.1 7002 (largest offset 100"));
	assert_int_equal(err, 0);
	assert_int_equal(wr(3, "replica_of", "a"), 0);
	assert_true(nodes[3].is_replica);
	assert_int_equal(nerrors, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_info_master),
		T(test_parse_info_replica),
		T(test_parse_info_server_section),
		T(test_parse_info_rejects_malformed),
		T(test_parse_info_skips_rdb_transfer),
		T(test_parse_info_too_many_replicas),
		T(test_parse_target_forms),
		T(test_parse_target_rejects_garbage),
		T(test_same_host_loopback),
		T(test_choose_largest_offset),
		T(test_choose_tie_smallest_last_io),
		T(test_choose_tie_lowest_address),
		T(test_choose_skips_unreachable),
		T(test_format_choice_says_why),
		T(test_file_lookup),
		T(test_read_replica_files),
		T(test_read_master_files),
		T(test_read_candidates),
		T(test_read_candidates_source_down),
		T(test_read_errors),
		T(test_replica_of_garbage_one_log_line),
		T(test_replica_of_refuses_replica_target),
		T(test_replica_of_refuses_self),
		T(test_replica_of_refuses_self_when_self_is_a_copy),
		T(test_replica_of_refuses_master_with_replicas),
		T(test_replica_of_name_and_addr),
		T(test_replica_of_without_config_file_warns),
		T(test_replica_of_target_down),
		T(test_replica_of_name_sets_masterauth),
		T(test_replica_of_configured_addr_sets_masterauth),
		T(test_replica_of_sets_masteruser),
		T(test_replica_of_clears_stale_masteruser),
		T(test_replica_of_without_masteruser_parameter),
		T(test_replica_of_clears_stale_masterauth),
		T(test_replica_of_unknown_source_keeps_masterauth),
		T(test_replica_of_listed_by_source_no_warning),
		T(test_replica_of_masterauth_refused),
		T(test_replica_of_config_get_garbage),
		T(test_rdb_transfer_is_no_replica),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
