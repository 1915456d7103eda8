/*
 * redis_repl_fake.h - the fake client that test_redis_repl.c (the files,
 * replica_of) and test_redis_failover.c (promote, eject) run the
 * replication code against, and their shared fixture.
 *
 * The fake replaces redis_client.h at link time (the test including this
 * header defines redis_connect/redis_close/redis_command/
 * redis_reply_release, so the library's redis_client.o is never pulled
 * in). Each fake node is a small
 * state machine: INFO is generated from its fields, REPLICAOF and CLIENT
 * PAUSE change them, and every command is appended to a log
 * ("PORT CMD ARGS;", an empty argument as "") that the tests compare
 * exactly. A replica's link comes up on REPLICAOF only if its masterauth
 * and masteruser are what its source requires, as with a real server;
 * the source lists it as a replica only then.
 */
#ifndef TESTS_UNIT_REDIS_REPL_FAKE_H
#define TESTS_UNIT_REDIS_REPL_FAKE_H

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

static int wr(size_t self, const char *file, const char *data)
{
	struct redis_repl_env env = env_of(self);

	return redis_repl_write(&env, file, data, strlen(data));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

#endif /* TESTS_UNIT_REDIS_REPL_FAKE_H */
