/*
 * test_redis.c - unit tests of the Redis driver without a server: the RDB
 * CRC-64 and trailer checks, the error mappings, the SYNC framing parser,
 * INFO parsing, config parsing, and the live stream in sync mode driven
 * through a mocked struct redis_client_ops ($len and $EOF framing,
 * keepalives, a mark split across reads, a bad CRC, early end, errors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/mem_store.h"
#include "../../conf/log.h"
#include "../../datastores/ds.h"
#include "../../datastores/redis.h"
#include "../../datastores/redis_rdb.h"

/* ---- logs ---- */

static int g_nlogs;
static char g_last_log[1024];

static void log_hook(int level, const char *msg)
{
	(void)level;
	g_nlogs++;
	snprintf(g_last_log, sizeof(g_last_log), "%s", msg);
}

/* ---- a small valid RDB ---- */

static size_t make_rdb(unsigned char *out, size_t payload)
{
	uint64_t crc;
	size_t n = 0;
	size_t i;
	int b;

	memcpy(out, "REDIS0010", 9);
	n = 9;
	/* an aux field "x" = "yyyy..." stands for the data */
	out[n++] = 0xfa;
	out[n++] = 1;
	out[n++] = 'x';
	out[n++] = (unsigned char)payload; /* 6-bit length, < 64 */
	for (i = 0; i < payload; i++)
		out[n++] = (unsigned char)('a' + i % 26);
	out[n++] = 0xff;
	crc = rdb_crc64(0, out, n);
	for (b = 0; b < 8; b++)
		out[n++] = (unsigned char)(crc >> (8 * b));
	return n;
}

/* ---- pure functions ---- */

static void test_rdb_crc64_redis_vector(void **state)
{
	(void)state;
	/* the check value of Redis's own crc64 test */
	assert_true(rdb_crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9caULL);
	assert_true(rdb_crc64(rdb_crc64(0, "1234", 4), "56789", 5) ==
		    0xe9c6d914c4b8d9caULL);
}

static void test_rdb_check_accepts_valid_in_any_pieces(void **state)
{
	unsigned char rdb[128];
	struct rdb_check c;
	const char *why = NULL;
	size_t n = make_rdb(rdb, 40);
	size_t step;
	size_t i;

	(void)state;
	for (step = 1; step <= n; step++) {
		rdb_check_init(&c);
		for (i = 0; i < n; i += step)
			rdb_check_update(&c, rdb + i,
					 n - i < step ? n - i : step);
		assert_int_equal(rdb_check_final(&c, &why), 0);
	}
}

static void test_rdb_check_refuses_flipped_byte(void **state)
{
	unsigned char rdb[128];
	struct rdb_check c;
	const char *why = NULL;
	size_t n = make_rdb(rdb, 40);

	(void)state;
	rdb[20] ^= 0x01;
	rdb_check_init(&c);
	rdb_check_update(&c, rdb, n);
	assert_int_equal(rdb_check_final(&c, &why), -EBADMSG);
	assert_string_equal(why, "CRC-64 mismatch");
}

static void test_rdb_check_refuses_bad_trailer_and_magic(void **state)
{
	unsigned char rdb[128];
	struct rdb_check c;
	const char *why = NULL;
	size_t n = make_rdb(rdb, 10);

	(void)state;
	rdb_check_init(&c);
	rdb_check_update(&c, rdb, n - 1); /* truncated */
	assert_int_equal(rdb_check_final(&c, &why), -EBADMSG);

	rdb[0] = 'X';
	rdb_check_init(&c);
	rdb_check_update(&c, rdb, n);
	assert_int_equal(rdb_check_final(&c, &why), -EBADMSG);
	assert_string_equal(why, "no REDIS magic");

	rdb_check_init(&c);
	rdb_check_update(&c, "REDIS", 5);
	assert_int_equal(rdb_check_final(&c, &why), -EBADMSG);
}

static void test_rdb_check_accepts_zero_crc(void **state)
{
	unsigned char rdb[128];
	struct rdb_check c;
	const char *why = NULL;
	size_t n = make_rdb(rdb, 10);

	(void)state;
	memset(rdb + n - 8, 0, 8); /* rdbchecksum no */
	rdb_check_init(&c);
	rdb_check_update(&c, rdb, n);
	assert_int_equal(rdb_check_final(&c, &why), 0);
}

static void test_redis_error_errno_mapping(void **state)
{
	(void)state;
	assert_int_equal(redis_error_errno("NOAUTH Authentication required."),
			 -EACCES);
	assert_int_equal(
		redis_error_errno("WRONGPASS invalid username-password pair"),
		-EACCES);
	assert_int_equal(redis_error_errno("NOPERM no"), -EACCES);
	assert_int_equal(redis_error_errno("LOADING Redis is loading"),
			 -EAGAIN);
	assert_int_equal(redis_error_errno("BUSY script"), -EBUSY);
	assert_int_equal(redis_error_errno("MASTERDOWN link down"), -EBUSY);
	assert_int_equal(redis_error_errno("OOM command not allowed"), -ENOMEM);
	assert_int_equal(redis_error_errno("MISCONF errors writing"), -EIO);
	assert_int_equal(redis_error_errno("READONLY replica"), -EROFS);
	assert_int_equal(redis_error_errno("ERR unknown command 'X'"), -EINVAL);
	assert_int_equal(redis_error_errno("ERR syntax error"), -EINVAL);
	assert_int_equal(redis_error_errno("ERR anything"), -EIO);
	assert_int_equal(redis_error_errno(NULL), -EIO);
}

static void test_redis_ctx_errno_mapping(void **state)
{
	(void)state;
	assert_int_equal(redis_ctx_errno(0, 0), 0);
	assert_int_equal(redis_ctx_errno(1, ECONNREFUSED), -ECONNREFUSED);
	assert_int_equal(redis_ctx_errno(1, EAGAIN), -ETIMEDOUT);
	assert_int_equal(redis_ctx_errno(1, ETIMEDOUT), -ETIMEDOUT);
	assert_int_equal(redis_ctx_errno(1, EHOSTUNREACH), -EHOSTUNREACH);
	assert_int_equal(redis_ctx_errno(1, ECONNRESET), -ECONNRESET);
	assert_int_equal(redis_ctx_errno(3, 0), -ECONNRESET); /* EOF */
	assert_int_equal(redis_ctx_errno(4, 0), -EPROTO);
	assert_int_equal(redis_ctx_errno(5, 0), -ENOMEM);
	assert_int_equal(redis_ctx_errno(2, 0), -EIO);
}

static const char MARK[] = "0123456789abcdef0123456789abcdef01234567";

static void test_redis_sync_header_parse(void **state)
{
	char mark[REDIS_EOF_MARK_LEN];
	uint64_t len = 0;
	char line[64];

	(void)state;
	assert_int_equal(redis_sync_header_parse("", &len, mark),
			 REDIS_SYNC_KEEPALIVE);
	assert_int_equal(redis_sync_header_parse("$12345", &len, mark),
			 REDIS_SYNC_LENGTH);
	assert_true(len == 12345);
	snprintf(line, sizeof(line), "$EOF:%s", MARK);
	assert_int_equal(redis_sync_header_parse(line, &len, mark),
			 REDIS_SYNC_EOF_MARK);
	assert_memory_equal(mark, MARK, REDIS_EOF_MARK_LEN);
	assert_int_equal(redis_sync_header_parse("$EOF:short", &len, mark),
			 -EPROTO);
	assert_int_equal(redis_sync_header_parse("$12x", &len, mark), -EPROTO);
	assert_int_equal(redis_sync_header_parse("$", &len, mark), -EPROTO);
	assert_int_equal(redis_sync_header_parse("+OK", &len, mark), -EPROTO);
	assert_int_equal(redis_sync_header_parse("-NOAUTH needed", &len, mark),
			 -EACCES);
	assert_int_equal(redis_sync_header_parse("-LOADING x", &len, mark),
			 -EAGAIN);
}

static void test_redis_info_get(void **state)
{
	const char *info = "# Server\r\nredis_version:7.0.15\r\n"
			   "process_id:42\r\nconfig_file:\r\nrole:master\r\n";
	struct buf b;

	(void)state;
	buf_init(&b, 128);
	assert_int_equal(redis_info_get(info, "process_id", &b), 0);
	assert_string_equal(buf_str(&b), "42");
	assert_int_equal(redis_info_get(info, "role", &b), 0);
	assert_string_equal(buf_str(&b), "master");
	assert_int_equal(redis_info_get(info, "config_file", &b), 0);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(redis_info_get(info, "process", &b), -ENOENT);
	assert_int_equal(redis_info_get(info, "nope", &b), -ENOENT);
	buf_release(&b);
}

/* ---- config ---- */

struct fixture {
	struct store *st;
	struct ds_set *set;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mem_store_new(&f->st), 0);
	assert_int_equal(ds_set_new_empty(f->st, &f->set), 0);
	g_nlogs = 0;
	log_set_hook(log_hook);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_set_hook(NULL);
	ds_set_free(f->set);
	store_destroy(f->st);
	free(f);
	return 0;
}

/* Adds [redis:NAME] with @n key/value pairs. */
static int add_redis(struct fixture *f, const char *name, const char *const *kv,
		     size_t n)
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

static void test_redis_conf_defaults(void **state)
{
	struct fixture *f = *state;
	const struct redis_addr *a;
	struct ds *ds;

	assert_int_equal(add_redis(f, "cache", NULL, 0), 0);
	ds = ds_set_find(f->set, "cache");
	assert_non_null(ds);
	assert_string_equal(ds->container, "database_backups");
	assert_string_equal(ds->prefix, "cache/");
	a = ds_redis_addr(ds);
	assert_string_equal(a->host, "127.0.0.1");
	assert_int_equal(a->port, 6379);
	assert_null(a->password);
	assert_string_equal(a->name, "cache");
}

static void test_redis_conf_keys(void **state)
{
	struct fixture *f = *state;
	static const char *const kv[] = {
		"port", "7000",	  "mode", "bgsave",  "container",
		"bk",	"prefix", "x/y",  "timeout", "2.5",
	};
	const struct redis_addr *a;
	struct ds *ds;

	assert_int_equal(add_redis(f, "r", kv, 5), 0);
	ds = ds_set_find(f->set, "r");
	a = ds_redis_addr(ds);
	assert_int_equal(a->port, 7000);
	assert_true(a->timeout == 2.5);
	assert_string_equal(ds->container, "bk");
	assert_string_equal(ds->prefix, "x/y/");
}

static void test_redis_conf_unknown_key_logs_line(void **state)
{
	struct fixture *f = *state;
	static const char *const kv[] = { "port", "7000", "colour", "red" };

	assert_int_equal(add_redis(f, "r", kv, 2), -EINVAL);
	assert_int_equal(g_nlogs, 1);
	assert_non_null(strstr(g_last_log, "line 3"));
	assert_non_null(strstr(g_last_log, "colour"));
	assert_null(ds_set_find(f->set, "r"));
}

static void test_redis_conf_bad_values(void **state)
{
	struct fixture *f = *state;
	static const char *const mode[] = { "mode", "fast" };
	static const char *const port[] = { "port", "70000" };
	static const char *const both[] = { "host", "h", "unix", "/s" };
	static const char *const rel[] = { "data_dir", "relative" };
	static const char *const pw[] = { "password_file", "/nonexistent/pw" };

	assert_int_equal(add_redis(f, "a", mode, 1), -EINVAL);
	assert_int_equal(add_redis(f, "b", port, 1), -EINVAL);
	assert_int_equal(add_redis(f, "c", both, 2), -EINVAL);
	assert_int_equal(add_redis(f, "d", rel, 1), -EINVAL);
	assert_int_equal(add_redis(f, "e", pw, 1), -ENOENT);
	assert_int_equal(add_redis(f, "f/g", NULL, 0), -EINVAL);
	assert_int_equal(add_redis(f, "ok", NULL, 0), 0);
	assert_int_equal(add_redis(f, "ok", NULL, 0), -EINVAL); /* twice */
	assert_int_equal((int)f->set->n, 1);
}

/* ---- the sync stream over mocked client ops ---- */

static int mock_connect(const struct redis_addr *addr, struct redis_conn **out)
{
	int err = mock_type(int);

	(void)addr;
	if (!err)
		*out = (struct redis_conn *)(uintptr_t)0x1;
	return err;
}

static void mock_close(struct redis_conn *c)
{
	assert_true(c == (struct redis_conn *)(uintptr_t)0x1);
}

/* The bulk reply of an INFO command (NULL: a status reply). */
static const char *g_info_server;
static const char *g_info_persistence;
static const char *g_info_replication;

/* will_return: the expected command (words joined by ' '), the errno. */
static int mock_command(struct redis_conn *c, struct redis_reply *reply,
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
	err = mock_type(int);
	if (!err && strcmp(got, "INFO server") == 0 && g_info_server) {
		reply->type = REDIS_R_STRING;
		reply->str = strdup(g_info_server);
	} else if (!err && strcmp(got, "INFO persistence") == 0 &&
		   g_info_persistence) {
		reply->type = REDIS_R_STRING;
		reply->str = strdup(g_info_persistence);
	} else if (!err && strcmp(got, "INFO replication") == 0 &&
		   g_info_replication) {
		reply->type = REDIS_R_STRING;
		reply->str = strdup(g_info_replication);
	} else if (!err) {
		reply->type = REDIS_R_STATUS;
		reply->str = strdup("OK");
	}
	if (reply->str)
		reply->len = strlen(reply->str);
	return err;
}

static int mock_send(struct redis_conn *c, int argc, const char **argv,
		     const size_t *lens)
{
	(void)c;
	(void)lens;
	assert_int_equal(argc, 1);
	assert_string_equal(argv[0], "SYNC");
	return mock_type(int);
}

static int mock_read_line(struct redis_conn *c, struct buf *line)
{
	const char *s = mock_ptr_type(const char *);

	(void)c;
	buf_reset(line);
	return buf_puts(line, s);
}

/* will_return: pointer, length (0 = connection closed) */
static int mock_read_raw(struct redis_conn *c, void *dst, size_t len,
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

static void mock_set_quiet(struct redis_conn *c, bool quiet)
{
	(void)c;
	(void)quiet;
}

static const char *mock_last_error(const struct redis_conn *c)
{
	(void)c;
	return "";
}

static void mock_sleep_ms(unsigned ms)
{
	(void)ms;
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
};

static struct ds *mocked_ds(struct fixture *f)
{
	struct ds *ds;

	assert_int_equal(add_redis(f, "m", NULL, 0), 0);
	ds = ds_set_find(f->set, "m");
	ds_redis_set_client_ops(ds, &mock_ops);
	return ds;
}

static const char INFO_SERVER[] =
	"# Server\r\nredis_version:7.0.15\r\n"
	"run_id:4d1f0c6a2b3e9f8a7c6d5e4f3a2b1c0d9e8f7a6b\r\ntcp_port:6379\r\n";
static const char INFO_PERSISTENCE[] =
	"# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:42\r\n"
	"rdb_bgsave_in_progress:0\r\nrdb_last_save_time:1763700000\r\n"
	"rdb_last_bgsave_status:ok\r\nrdb_saves:3\r\n";

/* The state markers read before a backup's stream starts. */
static void expect_state(void)
{
	g_info_server = INFO_SERVER;
	g_info_persistence = INFO_PERSISTENCE;
	g_info_replication = "# Replication\r\nrole:master\r\n";
	will_return(mock_connect, 0);
	will_return(mock_command, "INFO replication");
	will_return(mock_command, 0);
	will_return(mock_command, "INFO server");
	will_return(mock_command, 0);
	will_return(mock_command, "INFO persistence");
	will_return(mock_command, 0);
}

static void expect_handshake(void)
{
	will_return(mock_connect, 0);
	will_return(mock_command, "REPLCONF capa eof");
	will_return(mock_command, 0);
	will_return(mock_command, "REPLCONF rdb-only 1");
	will_return(mock_command, 0);
	will_return(mock_send, 0);
}

/* Reads a whole stream; returns the last error, bytes into @out. */
static int read_all(struct ds *ds, struct ds_stream *s, unsigned char *out,
		    size_t cap, size_t *total)
{
	size_t got;
	int err;

	*total = 0;
	for (;;) {
		err = ds->drv->stream_read(s, out + *total, cap - *total, &got);
		if (err || got == 0)
			return err;
		*total += got;
	}
}

static void test_redis_stream_length_framing(void **state)
{
	struct fixture *f = *state;
	unsigned char rdb[128];
	unsigned char out[256];
	struct ds_stream *s;
	struct ds *ds = mocked_ds(f);
	size_t n = make_rdb(rdb, 50);
	char hdr[32];
	size_t total;

	snprintf(hdr, sizeof(hdr), "$%zu", n);
	expect_handshake();
	will_return(mock_read_line, ""); /* keepalives first */
	will_return(mock_read_line, "");
	will_return(mock_read_line, hdr);
	assert_int_equal(ds->drv->stream_open(ds, &s), 0);
	assert_true(ds->drv->stream_size(s) == n);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, 20);
	will_return(mock_read_raw, rdb + 20);
	will_return(mock_read_raw, n - 20);
	assert_int_equal(read_all(ds, s, out, sizeof(out), &total), 0);
	assert_int_equal((int)total, (int)n);
	assert_memory_equal(out, rdb, n);
	ds->drv->stream_close(s);
}

static void test_redis_stream_eof_mark_split(void **state)
{
	struct fixture *f = *state;
	unsigned char rdb[128];
	unsigned char wire[256];
	unsigned char out[256];
	struct ds_stream *s;
	struct ds *ds = mocked_ds(f);
	size_t n = make_rdb(rdb, 30);
	char hdr[64];
	size_t total;

	memcpy(wire, rdb, n);
	memcpy(wire + n, MARK, REDIS_EOF_MARK_LEN);
	snprintf(hdr, sizeof(hdr), "$EOF:%s", MARK);
	expect_handshake();
	will_return(mock_read_line, hdr);
	assert_int_equal(ds->drv->stream_open(ds, &s), 0);
	assert_true(ds->drv->stream_size(s) == 0);
	/* the mark arrives in two pieces */
	will_return(mock_read_raw, wire);
	will_return(mock_read_raw, n + 10);
	will_return(mock_read_raw, wire + n + 10);
	will_return(mock_read_raw, REDIS_EOF_MARK_LEN - 10);
	assert_int_equal(read_all(ds, s, out, sizeof(out), &total), 0);
	assert_int_equal((int)total, (int)n);
	assert_memory_equal(out, rdb, n);
	ds->drv->stream_close(s);
}

static void test_redis_stream_bad_crc_fails_last_read(void **state)
{
	struct fixture *f = *state;
	unsigned char rdb[128];
	unsigned char out[256];
	struct ds_stream *s;
	struct ds *ds = mocked_ds(f);
	size_t n = make_rdb(rdb, 50);
	char hdr[32];
	size_t total;
	size_t got;

	rdb[15] ^= 0x40;
	snprintf(hdr, sizeof(hdr), "$%zu", n);
	expect_handshake();
	will_return(mock_read_line, hdr);
	assert_int_equal(ds->drv->stream_open(ds, &s), 0);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, 30);
	will_return(mock_read_raw, rdb + 30);
	will_return(mock_read_raw, n - 30);
	g_nlogs = 0;
	assert_int_equal(read_all(ds, s, out, sizeof(out), &total), -EBADMSG);
	/* the bytes that ended the stream were never handed out */
	assert_int_equal((int)total, 30);
	assert_int_equal(g_nlogs, 1);
	assert_non_null(strstr(g_last_log, "'m'"));
	/* sticky */
	assert_int_equal(ds->drv->stream_read(s, out, sizeof(out), &got),
			 -EBADMSG);
	ds->drv->stream_close(s);
}

static void test_redis_stream_early_end(void **state)
{
	struct fixture *f = *state;
	unsigned char rdb[128];
	unsigned char out[256];
	struct ds_stream *s;
	struct ds *ds = mocked_ds(f);
	size_t n = make_rdb(rdb, 50);
	char hdr[32];
	size_t total;

	snprintf(hdr, sizeof(hdr), "$%zu", n);
	expect_handshake();
	will_return(mock_read_line, hdr);
	assert_int_equal(ds->drv->stream_open(ds, &s), 0);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, 10);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, 0); /* closed */
	assert_int_equal(read_all(ds, s, out, sizeof(out), &total),
			 -ECONNRESET);
	ds->drv->stream_close(s);
}

static void test_redis_stream_error_reply_and_old_server(void **state)
{
	struct fixture *f = *state;
	struct ds_stream *s = NULL;
	struct ds *ds = mocked_ds(f);

	/* REPLCONF refused (old server): SYNC still goes out */
	will_return(mock_connect, 0);
	will_return(mock_command, "REPLCONF capa eof");
	will_return(mock_command, -EINVAL);
	will_return(mock_command, "REPLCONF rdb-only 1");
	will_return(mock_command, -EINVAL);
	will_return(mock_send, 0);
	will_return(mock_read_line, "-NOAUTH Authentication required.");
	assert_int_equal(ds->drv->stream_open(ds, &s), -EACCES);
	assert_null(s);
}

static void test_redis_stream_connect_refused(void **state)
{
	struct fixture *f = *state;
	struct ds_stream *s = NULL;
	struct ds *ds = mocked_ds(f);

	will_return(mock_connect, -ECONNREFUSED);
	assert_int_equal(ds->drv->stream_open(ds, &s), -ECONNREFUSED);
	assert_null(s);
}

static void test_redis_backup_commits_only_verified(void **state)
{
	struct fixture *f = *state;
	unsigned char rdb[128];
	struct ds *ds = mocked_ds(f);
	size_t n = make_rdb(rdb, 50);
	char name[DS_NAME_MAX];
	char key[STORE_KEY_MAX];
	char hdr[32];
	size_t size;

	snprintf(hdr, sizeof(hdr), "$%zu", n);
	/* a good one */
	expect_state();
	expect_handshake();
	will_return(mock_read_line, hdr);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, n);
	assert_int_equal(ds_backup(ds, "", name, sizeof(name)), 0);
	assert_int_equal(ds_backup_key(ds, name, key, sizeof(key)), 0);
	assert_non_null(mem_store_get(f->st, "database_backups", key, &size));
	/* a corrupt one leaves nothing */
	rdb[12] ^= 1;
	expect_state();
	expect_handshake();
	will_return(mock_read_line, hdr);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, n);
	assert_int_equal(ds_backup(ds, "-x", name, sizeof(name)), -EBADMSG);
	assert_int_equal(mem_store_calls(f->st, MEM_OP_COMMIT), 1);
}

static void test_redis_state_read_markers(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = mocked_ds(f);
	struct meta m;
	size_t i;

	assert_non_null(ds->drv->state_read);
	for (i = 0; ds->drv->state_keys[i]; i++)
		assert_true(meta_key_is_valid(ds->drv->state_keys[i]));
	assert_int_equal((int)i, 4);
	expect_state();
	meta_init(&m);
	assert_int_equal(ds->drv->state_read(ds, &m), 0);
	assert_string_equal(meta_get(&m, "redis-run-id"),
			    "4d1f0c6a2b3e9f8a7c6d5e4f3a2b1c0d9e8f7a6b");
	assert_string_equal(meta_get(&m, "redis-dirty"), "42");
	assert_string_equal(meta_get(&m, "redis-last-save"), "1763700000");
	assert_string_equal(meta_get(&m, "redis-saves"), "3");
	meta_release(&m);
}

static void test_redis_state_read_before_redis7(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = mocked_ds(f);
	struct meta m;

	/* no rdb_saves: recorded as "none", the other three still count */
	expect_state();
	g_info_persistence = "rdb_changes_since_last_save:0\r\n"
			     "rdb_last_save_time:1763700000\r\n";
	meta_init(&m);
	assert_int_equal(ds->drv->state_read(ds, &m), 0);
	assert_string_equal(meta_get(&m, "redis-saves"), "none");
	assert_string_equal(meta_get(&m, "redis-dirty"), "0");
	meta_release(&m);
}

static void test_redis_state_read_failures(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = mocked_ds(f);
	struct meta m;

	meta_init(&m);
	/* refused */
	will_return(mock_connect, -ECONNREFUSED);
	assert_int_equal(ds->drv->state_read(ds, &m), -ECONNREFUSED);
	/* an INFO without the key */
	g_info_server = INFO_SERVER;
	g_info_persistence = "# Persistence\r\nloading:0\r\n";
	g_info_replication = "role:master\r\n";
	will_return(mock_connect, 0);
	will_return(mock_command, "INFO replication");
	will_return(mock_command, 0);
	will_return(mock_command, "INFO server");
	will_return(mock_command, 0);
	will_return(mock_command, "INFO persistence");
	will_return(mock_command, 0);
	assert_int_equal(ds->drv->state_read(ds, &m), -ENOENT);
	/* an error reply */
	will_return(mock_connect, 0);
	will_return(mock_command, "INFO replication");
	will_return(mock_command, 0);
	will_return(mock_command, "INFO server");
	will_return(mock_command, -EACCES);
	assert_int_equal(ds->drv->state_read(ds, &m), -EACCES);
	/* a reply that is no bulk string */
	g_info_server = NULL;
	will_return(mock_connect, 0);
	will_return(mock_command, "INFO replication");
	will_return(mock_command, 0);
	will_return(mock_command, "INFO server");
	will_return(mock_command, 0);
	assert_int_equal(ds->drv->state_read(ds, &m), -EPROTO);
	/* a replica: a full resync replaces data without counting writes */
	meta_release(&m);
	meta_init(&m);
	g_info_replication = "role:slave\r\nmaster_host:10.0.0.1\r\n";
	will_return(mock_connect, 0);
	will_return(mock_command, "INFO replication");
	will_return(mock_command, 0);
	assert_int_equal(ds->drv->state_read(ds, &m), -EOPNOTSUPP);
	assert_int_equal((int)m.n, 0);
	meta_release(&m);
}

static void test_redis_backup_records_state(void **state)
{
	struct fixture *f = *state;
	unsigned char rdb[128];
	struct ds *ds = mocked_ds(f);
	size_t n = make_rdb(rdb, 50);
	char name[DS_NAME_MAX];
	char key[STORE_KEY_MAX];
	char hdr[32];
	struct obj_info oi;

	snprintf(hdr, sizeof(hdr), "$%zu", n);
	expect_state();
	expect_handshake();
	will_return(mock_read_line, hdr);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, n);
	assert_int_equal(ds_backup(ds, "", name, sizeof(name)), 0);
	assert_int_equal(ds_backup_key(ds, name, key, sizeof(key)), 0);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, "database_backups", key, &oi), 0);
	assert_string_equal(meta_get(&oi.meta, "redis-dirty"), "42");
	assert_string_equal(meta_get(&oi.meta, "redis-last-save"),
			    "1763700000");
	assert_non_null(meta_get(&oi.meta, "redis-run-id"));
	obj_info_release(&oi);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rdb_crc64_redis_vector),
		cmocka_unit_test(test_rdb_check_accepts_valid_in_any_pieces),
		cmocka_unit_test(test_rdb_check_refuses_flipped_byte),
		cmocka_unit_test(test_rdb_check_refuses_bad_trailer_and_magic),
		cmocka_unit_test(test_rdb_check_accepts_zero_crc),
		cmocka_unit_test(test_redis_error_errno_mapping),
		cmocka_unit_test(test_redis_ctx_errno_mapping),
		cmocka_unit_test(test_redis_sync_header_parse),
		cmocka_unit_test(test_redis_info_get),
		T(test_redis_conf_defaults),
		T(test_redis_conf_keys),
		T(test_redis_conf_unknown_key_logs_line),
		T(test_redis_conf_bad_values),
		T(test_redis_stream_length_framing),
		T(test_redis_stream_eof_mark_split),
		T(test_redis_stream_bad_crc_fails_last_read),
		T(test_redis_stream_early_end),
		T(test_redis_stream_error_reply_and_old_server),
		T(test_redis_stream_connect_refused),
		T(test_redis_backup_commits_only_verified),
		T(test_redis_state_read_markers),
		T(test_redis_state_read_before_redis7),
		T(test_redis_state_read_failures),
		T(test_redis_backup_records_state),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
