/*
 * redis_fixture.h - what the Redis driver's unit tests share
 * (test_redis.c and test_redis_recover.c): the captured log lines, a
 * valid RDB of any size (make_rdb()), the fixture (a mem store, an empty
 * datastore set, a table row, a temp dir), add_redis(), and the mocked
 * struct redis_client_ops: commands are expected in order with
 * expect_cmd(), INFO and CONFIG GET answer from the g_* globals, pauses
 * add up in g_slept_ms; the clock (g_clock_ms) moves with the pauses and
 * g_cmd_cost_ms per command.
 *
 * Included by exactly one .c per test binary (the Makefile links each
 * tests/unit/test_*.c alone with libtrovefs.a), so everything here is
 * static; functions are static inline so a file that leaves one unused
 * still builds with -Werror.
 */
#ifndef TESTS_UNIT_REDIS_FIXTURE_H
#define TESTS_UNIT_REDIS_FIXTURE_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../backends/mem_store.h"
#include "../../conf/log.h"
#include "../../datastores/ds.h"
#include "../../datastores/redis.h"
#include "../../datastores/redis_i.h"
#include "../../datastores/redis_rdb.h"

/* ---- logs ---- */

static int g_nlogs;
static int g_nnotice; /* of them, notice or worse: not progress steps */
static char g_last_log[1024];
static char g_first_error[1024];     /* the first error line, or "" */
static char g_last_error_line[1024]; /* the last error line, or "" */
static char g_last_notice[1024];     /* the last notice or worse, or "" */

static inline void log_hook(int level, const char *msg)
{
	g_nlogs++;
	if (level <= LOG_NOTICE) {
		g_nnotice++;
		snprintf(g_last_notice, sizeof(g_last_notice), "%s", msg);
	}
	if (level <= LOG_ERR && !g_first_error[0])
		snprintf(g_first_error, sizeof(g_first_error), "%s", msg);
	if (level <= LOG_ERR)
		snprintf(g_last_error_line, sizeof(g_last_error_line), "%s",
			 msg);
	snprintf(g_last_log, sizeof(g_last_log), "%s", msg);
}

/* ---- a valid RDB ---- */

/* Bytes make_rdb() writes for @payload bytes of data. */
static inline size_t rdb_len(size_t payload)
{
	size_t lenlen = payload < 64 ? 1 : payload < 16384 ? 2 : 5;

	return 9 + 3 + lenlen + payload + 1 + 8;
}

/* An RDB of rdb_len(@payload) bytes into @out; returns its length. */
static inline size_t make_rdb(unsigned char *out, size_t payload)
{
	uint64_t crc;
	size_t n = 0;
	size_t i;
	int b;

	memcpy(out, "REDIS0010", 9);
	n = 9;
	/* an aux field "x" = "abc..." stands for the data */
	out[n++] = 0xfa;
	out[n++] = 1;
	out[n++] = 'x';
	if (payload < 64) { /* RDB string lengths: 6, 14 or 32 bits */
		out[n++] = (unsigned char)payload;
	} else if (payload < 16384) {
		out[n++] = (unsigned char)(0x40 | payload >> 8);
		out[n++] = (unsigned char)payload;
	} else {
		out[n++] = 0x80;
		for (b = 3; b >= 0; b--)
			out[n++] = (unsigned char)(payload >> (8 * b));
	}
	for (i = 0; i < payload; i++)
		out[n++] = (unsigned char)('a' + i % 26);
	out[n++] = 0xff;
	crc = rdb_crc64(0, out, n);
	for (b = 0; b < 8; b++)
		out[n++] = (unsigned char)(crc >> (8 * b));
	assert_int_equal(n, rdb_len(payload));
	return n;
}

struct fixture {
	struct store *st;
	struct ds_set *set;
	const void *row; /* the table row a row test runs, or NULL */
	char dir[64];	 /* a temp dir, or "" */
};

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->row = *state; /* cmocka's initial_state */
	assert_int_equal(mem_store_new(&f->st), 0);
	assert_int_equal(ds_set_new_empty(f->st, &f->set), 0);
	g_nlogs = 0;
	g_nnotice = 0;
	g_first_error[0] = '\0';
	g_last_error_line[0] = '\0';
	g_last_notice[0] = '\0';
	log_set_hook(log_hook);
	*state = f;
	return 0;
}

/* Removes @path and what it holds (a test's temp dir); absent is fine. */
static inline void rm_tree(const char *path)
{
	char sub[256];
	struct dirent *e;
	DIR *d;

	d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) <
		    (int)sizeof(sub))
			rm_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;

	log_set_hook(NULL);
	ds_set_free(f->set);
	store_destroy(f->st);
	if (f->dir[0])
		rm_tree(f->dir);
	free(f);
	return 0;
}

/* Adds [redis:NAME] with @n key/value pairs. */
static inline int add_redis(struct fixture *f, const char *name,
			    const char *const *kv, size_t n)
{
	struct conf_kv pairs[8];
	struct conf_section s = { 0 };
	size_t i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++) {
		pairs[i].key = (char *)kv[2 * i];
		pairs[i].value = (char *)kv[2 * i + 1];
		pairs[i].line = (int)i + 2;
	}
	s.type = (char *)"redis";
	s.name = (char *)name;
	s.kv = pairs;
	s.nkv = n;
	s.line = 1;
	return ds_set_add(f->set, &ds_redis_driver, &s);
}

/* ---- mocked client ops ---- */

static inline int mock_connect(const struct redis_addr *addr,
			       struct redis_conn **out)
{
	int err = mock_type(int);

	(void)addr;
	if (!err)
		*out = (struct redis_conn *)(uintptr_t)0x1;
	return err;
}

static inline void mock_close(struct redis_conn *c)
{
	assert_true(c == (struct redis_conn *)(uintptr_t)0x1);
}

/* The bulk reply of an INFO command (NULL: a status reply). */
static const char *g_info_server;
static const char *g_info_persistence;
/* INFO persistence replies served first, in order (then the above) */
static const char *g_persistence_q[16];
static unsigned g_persistence_qh; /* next to serve */
static unsigned g_persistence_qt; /* next free */
static const char *g_info_replication;
static const char *g_info_replication2; /* from the 2nd INFO replication */
static const char *g_info_keyspace;
/* CONFIG GET dir's answer; dbfilename is always dump.rdb */
static const char *g_conf_dir;
/* CONFIG GET appendonly's answer; NULL: "no" */
static const char *g_conf_appendonly;
/* the error reply text of a command that fails; last_error() shows it */
static const char *g_error_text;
static const char *g_last_error;
/* the pauses the driver asked for, in ms */
static unsigned g_slept_ms;
/* the mocked monotonic clock: pauses and each command advance it */
static uint64_t g_clock_ms;
static unsigned g_cmd_cost_ms; /* what one command takes, in ms */

static inline void reply_string(struct redis_reply *r, const char *s)
{
	r->type = REDIS_R_STRING;
	r->str = strdup(s);
	assert_non_null(r->str);
	r->len = strlen(s);
}

/* CONFIG GET @param -> [@param, @value] */
static inline void reply_config(struct redis_reply *r, const char *param,
				const char *value)
{
	r->type = REDIS_R_ARRAY;
	r->elements = calloc(2, sizeof(*r->elements));
	assert_non_null(r->elements);
	r->nelements = 2;
	reply_string(&r->elements[0], param);
	reply_string(&r->elements[1], value);
}

/*
 * will_return: the expected command (words joined by ' '), the errno,
 * and for a LASTSAVE answered without error, the integer.
 */
static inline int mock_command(struct redis_conn *c, struct redis_reply *reply,
			       int argc, const char **argv, const size_t *lens)
{
	const char *want = mock_ptr_type(const char *);
	char got[256] = "";
	int err;
	int i;

	(void)c;
	(void)lens;
	for (i = 0; i < argc; i++) {
		if (i)
			strncat(got, " ", sizeof(got) - strlen(got) - 1);
		strncat(got, argv[i], sizeof(got) - strlen(got) - 1);
	}
	assert_string_equal(got, want);
	memset(reply, 0, sizeof(*reply));
	g_clock_ms += g_cmd_cost_ms;
	err = mock_type(int);
	g_last_error = err && g_error_text ? g_error_text : "";
	if (err)
		return err;
	if (strcmp(got, "LASTSAVE") == 0) {
		reply->type = REDIS_R_INTEGER;
		reply->integer = mock_type(long long);
	} else if (strcmp(got, "INFO server") == 0 && g_info_server) {
		reply_string(reply, g_info_server);
	} else if (strcmp(got, "INFO persistence") == 0 &&
		   g_persistence_qh < g_persistence_qt &&
		   g_persistence_q[g_persistence_qh]) {
		reply_string(reply, g_persistence_q[g_persistence_qh++]);
	} else if (strcmp(got, "INFO persistence") == 0 && g_info_persistence) {
		reply_string(reply, g_info_persistence);
	} else if (strcmp(got, "INFO replication") == 0 && g_info_replication) {
		reply_string(reply, g_info_replication);
		if (g_info_replication2)
			g_info_replication = g_info_replication2;
	} else if (strcmp(got, "INFO keyspace") == 0 && g_info_keyspace) {
		reply_string(reply, g_info_keyspace);
	} else if (strcmp(got, "CONFIG GET dir") == 0) {
		reply_config(reply, "dir", g_conf_dir);
	} else if (strcmp(got, "CONFIG GET dbfilename") == 0) {
		reply_config(reply, "dbfilename", "dump.rdb");
	} else if (strcmp(got, "CONFIG GET appendonly") == 0) {
		reply_config(reply, "appendonly",
			     g_conf_appendonly ? g_conf_appendonly : "no");
	} else if (strcmp(got, "CONFIG GET appenddirname") == 0) {
		reply_config(reply, "appenddirname", "appendonlydir");
	} else {
		reply->type = REDIS_R_STATUS;
		reply->str = strdup("OK");
		assert_non_null(reply->str);
		reply->len = 2;
	}
	return 0;
}

static inline void expect_cmd(const char *cmd, int err)
{
	will_return(mock_command, cmd);
	will_return(mock_command, err);
}

/* Queues @text as the reply to the next INFO persistence not yet served. */
static inline void queue_persistence(const char *text)
{
	assert_true(g_persistence_qt < 16);
	g_persistence_q[g_persistence_qt++] = text;
}

static inline int mock_send(struct redis_conn *c, int argc, const char **argv,
			    const size_t *lens)
{
	(void)c;
	(void)lens;
	assert_int_equal(argc, 1);
	assert_string_equal(argv[0], "SYNC");
	return mock_type(int);
}

static inline int mock_read_line(struct redis_conn *c, struct buf *line)
{
	const char *s = mock_ptr_type(const char *);

	(void)c;
	buf_reset(line);
	return buf_puts(line, s);
}

/* will_return: pointer, length (0 = connection closed) */
static inline int mock_read_raw(struct redis_conn *c, void *dst, size_t len,
				size_t *got)
{
	const void *p = mock_ptr_type(const void *);
	size_t n = mock_type(size_t);

	(void)c;
	assert_true(n <= len);
	memcpy(dst, p, n);
	*got = n;
	return 0;
}

static inline void mock_set_quiet(struct redis_conn *c, bool quiet)
{
	(void)c;
	(void)quiet;
}

static inline const char *mock_last_error(const struct redis_conn *c)
{
	(void)c;
	return g_last_error;
}

static inline void mock_sleep_ms(unsigned ms)
{
	g_slept_ms += ms;
	g_clock_ms += ms;
}

static inline uint64_t mock_clock_ms(void)
{
	return g_clock_ms;
}

static const struct redis_client_ops mock_ops = {
	.connect = mock_connect,
	.close = mock_close,
	.command = mock_command,
	.send = mock_send,
	.read_line = mock_read_line,
	.read_raw = mock_read_raw,
	.set_quiet = mock_set_quiet,
	.last_error = mock_last_error,
	.sleep_ms = mock_sleep_ms,
	.clock_ms = mock_clock_ms,
};

/* Datastore "m" with @n config pairs @kv, on the mocked ops. */
static inline struct ds *mocked_ds_kv(struct fixture *f, const char *const *kv,
				      size_t n)
{
	struct ds *ds;

	g_info_server = NULL;
	g_info_persistence = NULL;
	g_info_replication = NULL;
	g_info_replication2 = NULL;
	g_info_keyspace = NULL;
	g_persistence_qh = 0;
	g_persistence_qt = 0;
	g_conf_dir = NULL;
	g_conf_appendonly = NULL;
	g_error_text = NULL;
	g_last_error = "";
	g_slept_ms = 0;
	g_clock_ms = 1000000; /* any start */
	g_cmd_cost_ms = 0;
	assert_int_equal(add_redis(f, "m", kv, n), 0);
	ds = ds_set_find(f->set, "m");
	ds_redis_set_client_ops(ds, &mock_ops);
	return ds;
}

static inline struct ds *mocked_ds(struct fixture *f)
{
	return mocked_ds_kv(f, NULL, 0);
}

static const char INFO_SERVER[] =
	"# Server\r\nredis_version:7.0.15\r\n"
	"run_id:4d1f0c6a2b3e9f8a7c6d5e4f3a2b1c0d9e8f7a6b\r\ntcp_port:6379\r\n";
static const char INFO_PERSISTENCE[] =
	"# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:42\r\n"
	"rdb_bgsave_in_progress:0\r\nrdb_last_save_time:1763700000\r\n"
	"rdb_last_bgsave_status:ok\r\nrdb_saves:3\r\n";
#define REPLID_A "08f0bac8df132fe14d64ac4e0dfe1b9d499ff37c"
#define REPLID_B "429131c711921bd991e207203e258a38ad17ffd7"
static const char INFO_MASTER[] =
	"# Replication\r\nrole:master\r\nmaster_replid:" REPLID_A "\r\n";

/* The state markers read before a backup's stream starts. */
static inline void expect_state(void)
{
	g_info_server = INFO_SERVER;
	g_info_persistence = INFO_PERSISTENCE;
	g_info_replication = INFO_MASTER;
	will_return(mock_connect, 0);
	expect_cmd("INFO replication", 0);
	expect_cmd("INFO server", 0);
	expect_cmd("INFO persistence", 0);
}

/* After the SYNC started, master_replid once more (sync mode). */
static inline void expect_stream_state(void)
{
	will_return(mock_connect, 0);
	expect_cmd("INFO replication", 0);
}

static inline void expect_handshake(void)
{
	will_return(mock_connect, 0);
	expect_cmd("REPLCONF capa eof", 0);
	expect_cmd("REPLCONF rdb-only 1", 0);
	will_return(mock_send, 0);
}

/* Tests: plain, and a table row as its own test, named after the row. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define ROW(fn, row)                                                           \
	{                                                                      \
#row, fn, setup, teardown, (void *)&row                        \
	}

#endif /* TESTS_UNIT_REDIS_FIXTURE_H */
