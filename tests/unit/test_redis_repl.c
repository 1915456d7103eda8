/*
 * test_redis_repl.c - the replication pseudo-files (datastores/
 * redis_repl.c, redis_failover.c) without a server: INFO parsing on
 * Redis 7.0's own text, "HOST PORT" parsing, the choice of the replica to
 * promote, and every read and write against a fake set of nodes.
 *
 * The fake replaces redis_client.h at link time (this file defines
 * redis_connect/redis_close/redis_command/redis_reply_release, so the
 * library's redis_client.o is never pulled in). Each fake node is a small
 * state machine: INFO is generated from its fields, REPLICAOF and CLIENT
 * PAUSE change them, and every command is appended to a log
 * ("PORT CMD ARGS;", an empty argument as "") that the tests compare
 * exactly. A replica's link comes up on REPLICAOF only if its masterauth
 * and masteruser are what its source requires, as with a real server;
 * the source lists it as a replica only then.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../conf/log.h"
#include "../../datastores/redis_repl_i.h"

/* ---- the fake client ---- */

#define NNODES 4

struct fake_node {
	int port;
	bool down;
	bool is_replica;
	int master_port;
	bool link_up;
	long long last_io;
	long long offset;
	const char *replid;
	const char *run_id;
	bool has_config;
	bool paused;
	const char *fail_cmd; /* a command (argv[0] argv[1]) that fails */
	int rewrites;
	bool rdb_stream; /* an RDB transfer (sync backup) runs from it */
	int connect_err; /* connecting fails so (AUTH refused, timeout) */
	int ping_err;	 /* PING fails so (LOADING: -EAGAIN) */
	const char *requirepass; /* a replica must send it (NULL: none) */
	const char *acl_user;	 /* ... as this ACL user (NULL: default) */
	bool slow_sync;	     /* its replicas wait (diskless delay): link down */
	bool admitted;	     /* as a replica: listed by the source */
	bool auth_fails;     /* as a replica: master_sync_in_progress:1 flips
			  * on at each retry, as Redis 7.0 does */
	char masterauth[64]; /* CONFIG SET masterauth */
	char masteruser[64]; /* CONFIG SET masteruser */
	bool no_masteruser;  /* Redis < 6: no such parameter */
	bool bad_config_get; /* CONFIG GET answers a status */
};

struct redis_conn {
	struct fake_node *n;
};

static struct fake_node nodes[NNODES];
static struct buf cmdlog;
static int nerrors;
static int nwarnings;
static int ninfos;
static int nleaks;	     /* log lines holding a password */
static char last_warn[512];  /* the last warning's text */
static char last_error[512]; /* the last error's text */

static struct fake_node *node_by_port(int port)
{
	size_t i;

	for (i = 0; i < NNODES; i++)
		if (nodes[i].port == port)
			return &nodes[i];
	return NULL;
}

int redis_connect(const struct redis_addr *addr, struct redis_conn **out)
{
	struct fake_node *n = node_by_port(addr->port);

	if (!n || n->down) {
		log_error("redis '%s': cannot connect: refused", addr->name);
		return -ECONNREFUSED;
	}
	if (n->connect_err) {
		log_error("redis '%s': cannot connect: injected", addr->name);
		return n->connect_err;
	}
	*out = calloc(1, sizeof(**out));
	assert_non_null(*out);
	(*out)->n = n;
	return 0;
}

void redis_close(struct redis_conn *c)
{
	free(c);
}

void redis_reply_release(struct redis_reply *r)
{
	size_t i;

	for (i = 0; i < r->nelements; i++)
		redis_reply_release(&r->elements[i]);
	free(r->elements);
	free(r->str);
	memset(r, 0, sizeof(*r));
}

/* Would @n's link to @src come up (AUTH as a real replica sends it)? */
static bool link_comes_up(const struct fake_node *n,
			  const struct fake_node *src)
{
	const char *need;
	const char *user;

	if (!src || src->down)
		return false;
	need = src->requirepass ? src->requirepass : "";
	user = src->acl_user ? src->acl_user : "";
	if (strcmp(n->masterauth, need) != 0)
		return false; /* NOAUTH, or AUTH refused by a passwordless one */
	return !n->masterauth[0] || strcmp(n->masteruser, user) == 0;
}

static void set_param(char *dst, size_t size, const char *v)
{
	assert_true(strlen(v) < size);
	snprintf(dst, size, "%s", v);
}

/* CONFIG GET masteruser: [name, value], or [] before Redis 6. */
static int config_get(struct fake_node *n, struct redis_reply *reply,
		      const char *param)
{
	assert_string_equal(param, "masteruser");
	if (n->bad_config_get) {
		reply->type = REDIS_R_STATUS;
		reply->str = strdup("OK");
		assert_non_null(reply->str);
		return 0;
	}
	reply->type = REDIS_R_ARRAY;
	if (n->no_masteruser)
		return 0;
	reply->elements = calloc(2, sizeof(*reply->elements));
	assert_non_null(reply->elements);
	reply->nelements = 2;
	reply->elements[0].type = REDIS_R_STRING;
	reply->elements[0].str = strdup(param);
	reply->elements[1].type = REDIS_R_STRING;
	reply->elements[1].str = strdup(n->masteruser);
	assert_non_null(reply->elements[0].str);
	assert_non_null(reply->elements[1].str);
	reply->elements[0].len = strlen(param);
	reply->elements[1].len = strlen(n->masteruser);
	return 0;
}

static void gen_info(struct fake_node *n, struct buf *b)
{
	size_t i;
	int k = 0;

	buf_printf(b,
		   "# Server\r\nredis_version:7.0.15\r\nrun_id:%s\r\n"
		   "tcp_port:%d\r\nconfig_file:%s\r\n\r\n# Replication\r\n",
		   n->run_id, n->port, n->has_config ? "/etc/redis.conf" : "");
	buf_printf(b, "role:%s\r\n", n->is_replica ? "slave" : "master");
	if (n->is_replica)
		buf_printf(b,
			   "master_host:127.0.0.1\r\nmaster_port:%d\r\n"
			   "master_link_status:%s\r\n"
			   "master_last_io_seconds_ago:%lld\r\n"
			   "master_sync_in_progress:%d\r\n"
			   "slave_read_repl_offset:%lld\r\n"
			   "slave_repl_offset:%lld\r\n",
			   n->master_port, n->link_up ? "up" : "down",
			   n->last_io, n->auth_fails ? 1 : 0, n->offset,
			   n->offset);
	/* Redis 7.0 lists a REPLCONF rdb-only + SYNC client like this */
	if (n->rdb_stream)
		buf_printf(b,
			   "slave%d:ip=127.0.0.1,port=0,state=wait_bgsave,"
			   "offset=0,lag=0\r\n",
			   k++);
	for (i = 0; i < NNODES; i++) {
		struct fake_node *r = &nodes[i];

		if (r->port && r->is_replica && r->master_port == n->port &&
		    !r->down && (r->link_up || r->admitted))
			buf_printf(b,
				   "slave%d:ip=127.0.0.1,port=%d,"
				   "state=online,offset=%lld,lag=0\r\n",
				   k++, r->port, r->offset);
	}
	buf_printf(b,
		   "connected_slaves:%d\r\nmaster_replid:%s\r\n"
		   "master_repl_offset:%lld\r\n",
		   k, n->replid, n->offset);
}

int redis_command(struct redis_conn *c, struct redis_reply *reply, int argc,
		  const char **argv, const size_t *lens)
{
	struct fake_node *n = c->n;
	char cmd[64];
	char cmd3[128];
	struct buf b;
	int i;

	(void)lens;
	memset(reply, 0, sizeof(*reply));
	buf_printf(&cmdlog, "%d", n->port);
	for (i = 0; i < argc; i++)
		buf_printf(&cmdlog, " %s", argv[i][0] ? argv[i] : "\"\"");
	buf_puts(&cmdlog, ";");
	snprintf(cmd, sizeof(cmd), "%s %s", argv[0], argc > 1 ? argv[1] : "");
	snprintf(cmd3, sizeof(cmd3), "%s %s", cmd, argc > 2 ? argv[2] : "");
	if (n->fail_cmd &&
	    (strcmp(cmd, n->fail_cmd) == 0 || strcmp(cmd3, n->fail_cmd) == 0)) {
		log_error("redis '%d': %s: ERR injected", n->port, argv[0]);
		return -EIO;
	}
	if (n->ping_err && strcmp(argv[0], "PING") == 0) {
		log_error("redis '%d': PING: injected", n->port);
		return n->ping_err;
	}
	reply->type = REDIS_R_STATUS;
	if (strcmp(argv[0], "INFO") == 0) {
		buf_init(&b, 1 << 16);
		gen_info(n, &b);
		reply->type = REDIS_R_STRING;
		reply->len = b.len;
		reply->str = buf_steal(&b);
		return 0;
	}
	if (strcmp(argv[0], "REPLICAOF") == 0 && strcmp(argv[1], "NO") == 0) {
		n->is_replica = false;
	} else if (strcmp(argv[0], "REPLICAOF") == 0) {
		struct fake_node *src;

		n->is_replica = true;
		n->master_port = (int)strtol(argv[2], NULL, 10);
		src = node_by_port(n->master_port);
		n->admitted = src && link_comes_up(n, src);
		n->link_up = n->admitted && !src->slow_sync;
		n->auth_fails = src && !src->down && !n->admitted;
	} else if (strcmp(cmd, "CONFIG GET") == 0) {
		return config_get(n, reply, argv[2]);
	} else if (strcmp(cmd3, "CONFIG SET masterauth") == 0) {
		set_param(n->masterauth, sizeof(n->masterauth), argv[3]);
	} else if (strcmp(cmd3, "CONFIG SET masteruser") == 0) {
		assert_false(n->no_masteruser);
		set_param(n->masteruser, sizeof(n->masteruser), argv[3]);
	} else if (strcmp(cmd, "CLIENT PAUSE") == 0) {
		n->paused = true;
	} else if (strcmp(cmd, "CLIENT UNPAUSE") == 0) {
		n->paused = false;
	} else if (strcmp(cmd, "CONFIG REWRITE") == 0) {
		n->rewrites++;
	}
	reply->str = strdup("OK");
	assert_non_null(reply->str);
	reply->len = 2;
	return 0;
}

/* Every password of the tests starts so; no log line may hold one. */
#define SECRET "sekrit-"

static void count_log(int level, const char *msg)
{
	if (strstr(msg, SECRET))
		nleaks++;
	if (level == LOG_ERR) {
		nerrors++;
		snprintf(last_error, sizeof(last_error), "%s", msg);
	} else if (level == LOG_WARNING) {
		nwarnings++;
		snprintf(last_warn, sizeof(last_warn), "%s", msg);
	} else if (level == LOG_INFO) {
		ninfos++;
	}
}

/* A (7001) master of B (7002) and C (7003); D (7004) a lone master. */
static struct redis_addr addrs[NNODES] = {
	{ .name = "a", .host = "127.0.0.1", .port = 7001, .timeout = 1 },
	{ .name = "b", .host = "127.0.0.1", .port = 7002, .timeout = 1 },
	{ .name = "c", .host = "localhost", .port = 7003, .timeout = 1 },
	{ .name = "d", .host = "127.0.0.1", .port = 7004, .timeout = 1 },
};

static struct redis_repl_env env_of(size_t self)
{
	struct redis_repl_env env = {
		.self = &addrs[self],
		.all = addrs,
		.nall = NNODES,
		.wait_timeout = 5,
	};

	return env;
}

static int setup(void **state)
{
	static const char *const run_ids[NNODES] = { "ra", "rb", "rc", "rd" };
	size_t i;

	(void)state;
	memset(nodes, 0, sizeof(nodes));
	for (i = 0; i < NNODES; i++) {
		nodes[i].port = 7001 + (int)i;
		nodes[i].run_id = run_ids[i];
		nodes[i].replid = "r1";
		nodes[i].offset = 100;
		nodes[i].has_config = true;
		nodes[i].last_io = -1;
	}
	nodes[1].is_replica = true;
	nodes[1].master_port = 7001;
	nodes[1].link_up = true;
	nodes[1].last_io = 1;
	nodes[2] = nodes[1];
	nodes[2].port = 7003;
	nodes[2].run_id = "rc";
	nodes[3].replid = "other";
	for (i = 0; i < NNODES; i++) {
		addrs[i].password = NULL;
		addrs[i].user = NULL;
	}
	buf_init(&cmdlog, 1 << 16);
	nerrors = 0;
	nwarnings = 0;
	ninfos = 0;
	nleaks = 0;
	last_warn[0] = '\0';
	log_init("test", false, LOG_ERR - 1); /* silent, hook still sees */
	log_set_hook(count_log);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_hook(NULL);
	buf_release(&cmdlog);
	return nleaks ? -1 : 0; /* a password in a log line fails the test */
}

/* The commands of the log other than INFO, to compare exactly. */
static const char *actions(void)
{
	static char out[4096];
	const char *p = buf_str(&cmdlog);
	size_t o = 0;

	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = (size_t)(end - p + 1);

		if (!strstr(p, " INFO") || strstr(p, " INFO") > end) {
			if (strncmp(p + 4, " PING", 5) != 0) {
				assert_true(o + len < sizeof(out));
				memcpy(out + o, p, len);
				o += len;
			}
		}
		p = end + 1;
	}
	out[o] = '\0';
	return out;
}

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

static int wr(size_t self, const char *file, const char *data)
{
	struct redis_repl_env env = env_of(self);

	return redis_repl_write(&env, file, data, strlen(data));
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

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
