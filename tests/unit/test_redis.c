/*
 * test_redis.c - unit tests of the Redis driver without a server: the RDB
 * CRC-64 and trailer checks, the error mappings, the SYNC framing parser,
 * INFO parsing, config parsing, the state markers, and the live stream
 * driven through a mocked struct redis_client_ops: sync mode ($len and
 * $EOF framing, keepalives, a mark split across reads, a bad CRC, early
 * end, errors) and bgsave mode (LASTSAVE/BGSAVE, "already in progress",
 * the bounded LASTSAVE poll, error replies, the dump file streamed from a
 * temp dir and its CRC-64 checked). Recover in place is tested in
 * test_redis_recover.c; the fixture and the mocked client both use are in
 * redis_fixture.h. Cases that share their logic are rows of a table run
 * by one function, each row its own cmocka test (its fixture's ->row).
 */
#include "redis_fixture.h"
#include "row_assert.h"

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
	assert_int_equal(redis_error_errno("NOMASTERLINK Can't SYNC while not "
					   "connected with my master"),
			 -ENOTCONN);
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

/* ---- the head of an RDB: what a recovered server must hold ---- */

struct head_row {
	const char *bytes; /* after "REDIS0010" */
	size_t len;
	enum rdb_head_kind kind;
	bool sized;
	uint64_t db;
	uint64_t keys;
	uint64_t expires;
};

#define HEAD(s) s, sizeof(s) - 1
/* aux "redis-ver" = "7.0.15", aux "ctime" = int32, aux "x" = LZF */
#define AUX                                                                    \
	"\xfa\x09redis-ver\x06"                                                \
	"7.0.15"                                                               \
	"\xfa\x05"                                                             \
	"ctime\xc2\x01\x02\x03\x04"                                            \
	"\xfa\x01x\xc3\x03\x0a"                                                \
	"abc"

static const struct head_row head_rows[] = {
	/* a dump of an empty server */
	{ HEAD(AUX "\xff"), RDB_HEAD_EMPTY, false, 0, 0, 0 },
	/* db 3: 300 keys (14-bit length), 7 with a TTL */
	{ HEAD(AUX "\xfe\x03\xfb\x41\x2c\x07\x00\x01k\x01v"), RDB_HEAD_KEYS,
	  true, 3, 300, 7 },
	/* a function library first; a 32-bit key count */
	{ HEAD("\xf5\x05mylib\xfe\x00\xfb\x80\x00\x01\x00\x00\x00"),
	  RDB_HEAD_KEYS, true, 0, 65536, 0 },
	/* before Redis 3.2: no RESIZEDB */
	{ HEAD("\xfe\x00\x00\x01k\x01v\xff"), RDB_HEAD_KEYS, false, 0, 0, 0 },
	/* more keys with a TTL than keys: not believed */
	{ HEAD("\xfe\x00\xfb\x01\x02"), RDB_HEAD_KEYS, false, 0, 0, 0 },
	/* a module aux field: cannot tell */
	{ HEAD(AUX "\xf7\x01\x02"), RDB_HEAD_UNKNOWN, false, 0, 0, 0 },
	/* cut short inside an aux string, and after SELECTDB */
	{ HEAD("\xfa\x09redis"), RDB_HEAD_UNKNOWN, false, 0, 0, 0 },
	{ HEAD("\xfe"), RDB_HEAD_UNKNOWN, false, 0, 0, 0 },
	{ HEAD(""), RDB_HEAD_UNKNOWN, false, 0, 0, 0 },
};

static void test_rdb_head_parse(void **state)
{
	unsigned char buf[256];
	struct rdb_head h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(head_rows) / sizeof(head_rows[0]); i++) {
		const struct head_row *r = &head_rows[i];

		memcpy(buf, "REDIS0010", 9);
		memcpy(buf + 9, r->bytes, r->len);
		rdb_head_parse(buf, 9 + r->len, &h);
		assert_row_int_equal(i, h.kind, r->kind);
		assert_row_int_equal(i, h.sized, r->sized);
		assert_row_int_equal(i, h.db, r->db);
		assert_row_int_equal(i, h.keys, r->keys);
		assert_row_int_equal(i, h.expires, r->expires);
	}
	/* no magic */
	memcpy(buf, "RUDIS0010\xff", 10);
	rdb_head_parse(buf, 10, &h);
	assert_int_equal(h.kind, RDB_HEAD_UNKNOWN);
	/* what make_rdb() writes holds no key */
	rdb_head_parse(buf, make_rdb(buf, 50), &h);
	assert_int_equal(h.kind, RDB_HEAD_EMPTY);
}

/* ---- config ---- */

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
	static const char *const empty_host[] = { "host", "" };
	static const char *const unix_port[] = { "unix", "/s", "port", "7000" };

	assert_int_equal(add_redis(f, "a", mode, 1), -EINVAL);
	assert_int_equal(add_redis(f, "b", port, 1), -EINVAL);
	assert_int_equal(add_redis(f, "c", both, 2), -EINVAL);
	assert_int_equal(add_redis(f, "d", rel, 1), -EINVAL);
	assert_int_equal(add_redis(f, "e", pw, 1), -ENOENT);
	assert_int_equal(add_redis(f, "h", empty_host, 1), -EINVAL);
	assert_int_equal(add_redis(f, "u", unix_port, 2), -EINVAL);
	assert_non_null(
		strstr(g_last_log, "'unix' excludes 'host' and 'port'"));
	assert_int_equal(add_redis(f, "f/g", NULL, 0), -EINVAL);
	assert_int_equal(add_redis(f, "ok", NULL, 0), 0);
	assert_int_equal(add_redis(f, "ok", NULL, 0), -EINVAL); /* twice */
	assert_int_equal((int)f->set->n, 1);
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

/*
 * After a failed read: exactly one log line since @nlogs0, naming the
 * datastore, and the error is sticky.
 */
static void assert_stream_failed(struct ds *ds, struct ds_stream *s, int err,
				 int nlogs0)
{
	unsigned char b[16];
	size_t got;

	assert_int_equal(g_nlogs - nlogs0, 1);
	assert_non_null(strstr(g_last_log, "'m'"));
	assert_int_equal(ds->drv->stream_read(s, b, sizeof(b), &got), err);
}

/* ---- sync mode: one table, one runner ---- */

#define SYNC_PAYLOAD 50
#define SYNC_RDB_LEN 72	    /* rdb_len(SYNC_PAYLOAD) */
#define PIECE_REST SIZE_MAX /* the rest of the wire */

struct sync_row {
	bool eof_mark;	     /* "$EOF:<mark>" framing, else "$<len>" */
	unsigned keepalives; /* empty lines before the header */
	size_t flip;	     /* byte of the RDB flipped; 0: none */
	size_t pieces[3];    /* read_raw sizes: 0 = closed, PIECE_REST */
	size_t npieces;
	int want_err;
	size_t want_total; /* bytes handed out; PIECE_REST: the RDB */
};

static const struct sync_row sync_length_framing = {
	.keepalives = 2,
	.pieces = { 20, PIECE_REST },
	.npieces = 2,
	.want_total = PIECE_REST,
};
/* the mark arrives in two pieces */
static const struct sync_row sync_eof_mark_split = {
	.eof_mark = true,
	.pieces = { SYNC_RDB_LEN + 10, PIECE_REST },
	.npieces = 2,
	.want_total = PIECE_REST,
};
/* the bytes that ended the stream are never handed out */
static const struct sync_row sync_bad_crc_fails_last_read = {
	.flip = 15,
	.pieces = { 30, PIECE_REST },
	.npieces = 2,
	.want_err = -EBADMSG,
	.want_total = 30,
};
static const struct sync_row sync_eof_bad_crc = {
	.eof_mark = true,
	.flip = 15,
	.pieces = { PIECE_REST },
	.npieces = 1,
	.want_err = -EBADMSG,
	.want_total = 0,
};
static const struct sync_row sync_early_end = {
	.pieces = { 10, 0 },
	.npieces = 2,
	.want_err = -ECONNRESET,
	.want_total = 10,
};
/* fewer bytes than a mark: nothing can be handed out */
static const struct sync_row sync_eof_early_end = {
	.eof_mark = true,
	.pieces = { 30, 0 },
	.npieces = 2,
	.want_err = -ECONNRESET,
	.want_total = 0,
};

static void test_redis_sync_row(void **state)
{
	struct fixture *f = *state;
	const struct sync_row *row = f->row;
	unsigned char rdb[128];
	unsigned char wire[256];
	unsigned char out[256];
	struct ds *ds = mocked_ds(f);
	size_t n = make_rdb(rdb, SYNC_PAYLOAD);
	size_t wire_len = n;
	size_t off = 0;
	size_t len;
	struct ds_stream *s;
	char hdr[64];
	size_t total;
	size_t i;
	int nlogs0;

	assert_int_equal(n, SYNC_RDB_LEN); /* the rows' pieces assume it */
	if (row->flip)
		rdb[row->flip] ^= 0x40;
	memcpy(wire, rdb, n);
	if (row->eof_mark) {
		memcpy(wire + n, MARK, REDIS_EOF_MARK_LEN);
		wire_len += REDIS_EOF_MARK_LEN;
		snprintf(hdr, sizeof(hdr), "$EOF:%s", MARK);
	} else {
		snprintf(hdr, sizeof(hdr), "$%zu", n);
	}
	expect_handshake();
	for (i = 0; i < row->keepalives; i++)
		will_return(mock_read_line, "");
	will_return(mock_read_line, hdr);
	assert_int_equal(ds->drv->stream_open(ds, &s), 0);
	assert_true(ds->drv->stream_size(s) == (row->eof_mark ? 0 : n));
	for (i = 0; i < row->npieces; i++) {
		len = row->pieces[i] == PIECE_REST ? wire_len - off
						   : row->pieces[i];
		will_return(mock_read_raw, wire + off);
		will_return(mock_read_raw, len);
		off += len;
	}
	nlogs0 = g_nlogs;
	assert_int_equal(read_all(ds, s, out, sizeof(out), &total),
			 row->want_err);
	assert_int_equal(total,
			 row->want_total == PIECE_REST ? n : row->want_total);
	assert_memory_equal(out, rdb, total);
	if (row->want_err)
		assert_stream_failed(ds, s, row->want_err, nlogs0);
	ds->drv->stream_close(s);
}

static void test_redis_stream_error_reply_and_old_server(void **state)
{
	struct fixture *f = *state;
	struct ds_stream *s = NULL;
	struct ds *ds = mocked_ds(f);

	/* REPLCONF refused (old server): SYNC still goes out */
	will_return(mock_connect, 0);
	expect_cmd("REPLCONF capa eof", -EINVAL);
	expect_cmd("REPLCONF rdb-only 1", -EINVAL);
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

/* ---- bgsave mode: one table, one runner ---- */

struct bgsave_row {
	size_t payload;		  /* RDB data bytes */
	unsigned cmd_cost_ms;	  /* what each command takes */
	bool same_second;	  /* LASTSAVE says now: wait 1 s first */
	unsigned in_progress;	  /* BGSAVEs met by "already in progress" */
	unsigned busy_looks;	  /* each time: looks while that save runs */
	bool disk_save;		  /* it wrote the dump: LASTSAVE changed */
	const char *bgsave_error; /* then BGSAVE's error, or NULL: +OK */
	unsigned unchanged;	  /* LASTSAVE looks before it changes */
	const char *poll_error;	  /* then this error reply, or NULL */
	bool changes;		  /* then it changes (else: timeout) */
	const char *status;	  /* rdb_last_bgsave_status */
	bool no_file;		  /* the dump file is missing */
	size_t flip;		  /* byte of the file flipped; 0: none */
	int want_open;
	int want_read;
	unsigned want_slept_ms;
	const char *want_log; /* in the last log line, or NULL */
};

static const struct bgsave_row bgsave_streams_file = {
	.payload = 50,
	.unchanged = 2,
	.changes = true,
	.status = "ok",
	.want_slept_ms = 2 * 100,
};
/* 2.5 MiB: more than the 1 MiB stream buffer, so three reads */
static const struct bgsave_row bgsave_streams_big_file = {
	.payload = (5u << 20) / 2,
	.changes = true,
	.status = "ok",
};
/* a save ending within LASTSAVE's second would not change it */
static const struct bgsave_row bgsave_waits_out_lastsave_second = {
	.payload = 50,
	.same_second = true,
	.changes = true,
	.status = "ok",
	.want_slept_ms = 1000,
};
/* someone else's BGSAVE runs: once it ended, its dump file is used */
static const struct bgsave_row bgsave_already_in_progress = {
	.payload = 50,
	.in_progress = 1,
	.busy_looks = 1,
	.disk_save = true,
	.changes = true,
	.status = "ok",
	.want_slept_ms = 100,
};
/*
 * A diskless replica sync runs: it ends without changing LASTSAVE, so
 * BGSAVE is sent again (old code polled LASTSAVE until save_timeout).
 */
static const struct bgsave_row bgsave_diskless_sync_running = {
	.payload = 50,
	.in_progress = 1,
	.busy_looks = 2,
	.unchanged = 1,
	.changes = true,
	.status = "ok",
	.want_slept_ms = 3 * 100,
};
/* one after the other: given up after 3 tries */
static const struct bgsave_row bgsave_diskless_sync_each_try = {
	.payload = 50,
	.in_progress = 3,
	.want_open = -EBUSY,
	.want_log = "was running at each of 3 tries",
};
/* save_timeout = 1: looks at 0, 100, ..., 1000 ms, then -ETIMEDOUT */
static const struct bgsave_row bgsave_times_out = {
	.payload = 50,
	.unchanged = 11,
	.status = "ok",
	.want_open = -ETIMEDOUT,
	.want_slept_ms = 1000,
	.want_log = "BGSAVE did not finish within 1 s",
};
/*
 * Each command takes 400 ms (a slow server): the bound is time, not the
 * sum of the pauses - BGSAVE ends at 400 ms, the looks at 800 and
 * 1300 ms, then -ETIMEDOUT (old code: 11 looks).
 */
static const struct bgsave_row bgsave_slow_looks_time_out = {
	.payload = 50,
	.cmd_cost_ms = 400,
	.unchanged = 2,
	.status = "ok",
	.want_open = -ETIMEDOUT,
	.want_slept_ms = 100,
	.want_log = "BGSAVE did not finish within 1 s",
};
static const struct bgsave_row bgsave_misconf = {
	.payload = 50,
	.bgsave_error = "MISCONF Redis is configured to save RDB snapshots",
	.want_open = -EIO,
	.want_log = "BGSAVE: MISCONF",
};
/* a renamed or disabled command */
static const struct bgsave_row bgsave_unknown_command = {
	.payload = 50,
	.bgsave_error = "ERR unknown command 'BGSAVE'",
	.want_open = -EINVAL,
	.want_log = "BGSAVE: ERR unknown",
};
/* the poll stops at an error, without waiting out save_timeout */
static const struct bgsave_row bgsave_lastsave_fails = {
	.payload = 50,
	.unchanged = 3,
	.poll_error = "LOADING Redis is loading the dataset in memory",
	.want_open = -EAGAIN,
	.want_slept_ms = 3 * 100,
};
static const struct bgsave_row bgsave_failed_status = {
	.payload = 50,
	.changes = true,
	.status = "err",
	.want_open = -EIO,
	.want_log = "rdb_last_bgsave_status:err",
};
static const struct bgsave_row bgsave_bad_crc = {
	.payload = 50,
	.changes = true,
	.status = "ok",
	.flip = 20,
	.want_read = -EBADMSG,
	.want_log = "does not verify",
};
static const struct bgsave_row bgsave_big_file_bad_crc = {
	.payload = (5u << 20) / 2,
	.changes = true,
	.status = "ok",
	.flip = 2 << 20,
	.want_read = -EBADMSG,
	.want_log = "does not verify",
};
static const struct bgsave_row bgsave_no_file = {
	.payload = 50,
	.changes = true,
	.status = "ok",
	.no_file = true,
	.want_open = -ENOENT,
	.want_log = "cannot read",
};

/* Writes @len bytes of @p to @dir/dump.rdb. */
static void put_dump(const char *dir, const unsigned char *p, size_t len)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/dump.rdb", dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Queues the replies to bgsave_open() as far as @row lets it get. */
static void expect_bgsave(const struct bgsave_row *row, long long t0)
{
	int err;
	unsigned i;
	unsigned k;

	will_return(mock_connect, 0);
	expect_cmd("LASTSAVE", 0);
	will_return(mock_command, t0);
	for (i = 0; i < row->in_progress; i++) {
		g_error_text = "ERR Background save already in progress";
		expect_cmd("BGSAVE SCHEDULE", -EIO);
		for (k = 0; k <= row->busy_looks; k++) {
			queue_persistence(
				k < row->busy_looks
					? "rdb_bgsave_in_progress:1\r\n"
					: "rdb_bgsave_in_progress:0\r\n");
			expect_cmd("INFO persistence", 0);
		}
		expect_cmd("LASTSAVE", 0);
		will_return(mock_command, row->disk_save ? t0 + 1 : t0);
		if (row->disk_save)
			break;
	}
	if (row->in_progress == 3 && !row->disk_save)
		return; /* -EBUSY */
	if (!row->disk_save) {
		/* the text last_error() shows for every failed command */
		if (row->bgsave_error)
			g_error_text = row->bgsave_error;
		err = row->bgsave_error ? redis_error_errno(row->bgsave_error)
					: 0;
		expect_cmd("BGSAVE SCHEDULE", err);
		if (err)
			return;
	}
	for (i = 0; i < row->unchanged; i++) {
		expect_cmd("LASTSAVE", 0);
		will_return(mock_command, t0);
	}
	if (row->poll_error) {
		g_error_text = row->poll_error;
		expect_cmd("LASTSAVE", redis_error_errno(row->poll_error));
		return;
	}
	if (!row->changes)
		return;
	expect_cmd("LASTSAVE", 0);
	will_return(mock_command, t0 + 1);
	expect_cmd("INFO persistence", 0); /* rdb_last_bgsave_status */
	if (strcmp(row->status, "ok") != 0)
		return;
	expect_cmd("CONFIG GET dir", 0);
	expect_cmd("CONFIG GET dbfilename", 0);
}

static void test_redis_bgsave_row(void **state)
{
	static const char *const kv[] = { "mode", "bgsave", "save_timeout",
					  "1" };
	struct fixture *f = *state;
	const struct bgsave_row *row = f->row;
	struct ds *ds = mocked_ds_kv(f, kv, 2);
	size_t cap = rdb_len(row->payload);
	struct ds_stream *s = NULL;
	unsigned char *rdb;
	unsigned char *out;
	char status[64];
	long long t0;
	size_t total;
	size_t n;
	int nlogs0;
	int err;

	rdb = malloc(cap);
	out = malloc(cap);
	assert_non_null(rdb);
	assert_non_null(out);
	n = make_rdb(rdb, row->payload);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_redis.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	g_conf_dir = f->dir;
	if (!row->no_file) {
		if (row->flip)
			rdb[row->flip] ^= 0x01;
		put_dump(f->dir, rdb, n);
		if (row->flip)
			rdb[row->flip] ^= 0x01;
	}
	snprintf(status, sizeof(status),
		 "# Persistence\r\nrdb_last_bgsave_status:%s\r\n",
		 row->status ? row->status : "ok");
	g_info_persistence = status;
	/* in the past, or this very second (time() <= LASTSAVE) */
	t0 = row->same_second ? (long long)time(NULL) + 3600 : 1763700000;
	expect_bgsave(row, t0);
	g_cmd_cost_ms = row->cmd_cost_ms;

	err = ds->drv->stream_open(ds, &s);
	assert_int_equal(err, row->want_open);
	assert_int_equal(g_slept_ms, row->want_slept_ms);
	/* status said what the backup waited for, not "connecting" */
	assert_string_equal(ds->step, "waiting for the server's BGSAVE");
	if (err) {
		assert_null(s);
	} else {
		assert_true(ds->drv->stream_size(s) == n);
		nlogs0 = g_nlogs;
		assert_int_equal(read_all(ds, s, out, cap, &total),
				 row->want_read);
		if (!row->want_read) {
			assert_int_equal(total, n);
			assert_memory_equal(out, rdb, n);
		} else {
			/* the read that would end it fails instead */
			assert_true(total < n);
			assert_stream_failed(ds, s, row->want_read, nlogs0);
		}
		ds->drv->stream_close(s);
	}
	if (row->want_log) {
		assert_non_null(strstr(g_last_log, row->want_log));
		assert_non_null(strstr(g_last_log, "'m'"));
	}
	free(out);
	free(rdb);
}

/* ---- the bounded poll ---- */

struct poll_row {
	unsigned look_ms; /* what one look takes */
	unsigned done_at; /* the look that finds it done; 0: never */
	int fail_at_err;  /* with done_at: fail so instead */
	int want_err;
	unsigned want_looks;
	unsigned want_slept_ms;
};

/* interval 20 ms, timeout 1 s: looks at 0, 20, ..., 1000 ms */
static const struct poll_row poll_times_out = {
	.want_err = -ETIMEDOUT,
	.want_looks = 51,
	.want_slept_ms = 1000,
};
/* a look that waits out a 10 s connect timeout: one look, not 51 */
static const struct poll_row poll_slow_look_once = {
	.look_ms = 10000,
	.want_err = -ETIMEDOUT,
	.want_looks = 1,
};
/* 180 ms looks: at 0, 200, ..., 800 ms; the 5th ends at 980: one 20 ms
 * pause more, the 6th ends at 1180 */
static const struct poll_row poll_looks_count = {
	.look_ms = 180,
	.want_err = -ETIMEDOUT,
	.want_looks = 6,
	.want_slept_ms = 5 * 20,
};
static const struct poll_row poll_done = {
	.done_at = 3,
	.want_looks = 3,
	.want_slept_ms = 2 * 20,
};
static const struct poll_row poll_error_stops = {
	.done_at = 2,
	.fail_at_err = -EACCES,
	.want_err = -EACCES,
	.want_looks = 2,
	.want_slept_ms = 20,
};

struct poll_state {
	const struct poll_row *row;
	unsigned looks;
};

static int poll_look(struct redis_ds *r, void *arg, bool *done)
{
	struct poll_state *ps = arg;

	(void)r;
	ps->looks++;
	g_clock_ms += ps->row->look_ms;
	if (ps->row->done_at && ps->looks == ps->row->done_at) {
		if (ps->row->fail_at_err)
			return ps->row->fail_at_err;
		*done = true;
	}
	return 0;
}

static void test_redis_poll_row(void **state)
{
	struct fixture *f = *state;
	struct poll_state ps = { .row = f->row };
	struct ds *ds = mocked_ds(f);

	assert_int_equal(redis_ds_poll(redis_ds_of(ds), 20, 1.0, "it did not",
				       NULL, poll_look, &ps),
			 ps.row->want_err);
	assert_int_equal(ps.looks, ps.row->want_looks);
	assert_int_equal(g_slept_ms, ps.row->want_slept_ms);
	if (ps.row->want_err == -ETIMEDOUT)
		assert_non_null(
			strstr(g_last_log, "'m': it did not within 1 s"));
}

/* ---- backups and state markers ---- */

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
	expect_stream_state();
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
	expect_stream_state();
	will_return(mock_read_line, hdr);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, n);
	assert_int_equal(ds_backup(ds, "-x", name, sizeof(name)), -EBADMSG);
	assert_int_equal(mem_store_calls(f->st, MEM_OP_COMMIT), 1);
}

static void test_redis_state_keys(void **state)
{
	struct fixture *f = *state;
	struct ds *ds = mocked_ds(f);
	size_t i;

	assert_non_null(ds->drv->state_read);
	for (i = 0; ds->drv->state_keys[i]; i++)
		assert_true(meta_key_is_valid(ds->drv->state_keys[i]));
	assert_int_equal((int)i, 5);
}

struct state_row {
	int connect_err;
	const char *replication; /* the INFO replies; NULL: +OK */
	const char *server;
	const char *persistence;
	unsigned ncmds; /* INFO replication, server, persistence sent */
	int last_err;	/* the last one's result */
	int want_err;
	size_t want_n;		/* markers recorded */
	const char *want_dirty; /* with want_n 5 */
	const char *want_saves;
};

static const struct state_row state_markers = {
	.replication = INFO_MASTER,
	.server = INFO_SERVER,
	.persistence = INFO_PERSISTENCE,
	.ncmds = 3,
	.want_n = 5,
	.want_dirty = "42",
	.want_saves = "3",
};
/* no rdb_saves: recorded as "none", the other three still count */
static const struct state_row state_before_redis7 = {
	.replication = INFO_MASTER,
	.server = INFO_SERVER,
	.persistence = "rdb_changes_since_last_save:0\r\n"
		       "rdb_last_save_time:1763700000\r\n",
	.ncmds = 3,
	.want_n = 5,
	.want_dirty = "0",
	.want_saves = "none",
};
static const struct state_row state_refused = {
	.connect_err = -ECONNREFUSED,
	.want_err = -ECONNREFUSED,
};
static const struct state_row state_info_without_key = {
	.replication = INFO_MASTER,
	.server = INFO_SERVER,
	.persistence = "# Persistence\r\nloading:0\r\n",
	.ncmds = 3,
	.want_err = -ENOENT,
	.want_n = 2,
};
/* a master without master_replid (before Redis 4): no markers */
static const struct state_row state_no_replid = {
	.replication = "role:master\r\n",
	.ncmds = 1,
	.want_err = -ENOENT,
};
static const struct state_row state_error_reply = {
	.replication = INFO_MASTER,
	.ncmds = 2,
	.last_err = -EACCES,
	.want_err = -EACCES,
	.want_n = 1,
};
static const struct state_row state_not_a_bulk_string = {
	.replication = INFO_MASTER,
	.ncmds = 2,
	.want_err = -EPROTO,
	.want_n = 1,
};
/* a replica: a full resync replaces data without counting writes */
static const struct state_row state_replica = {
	.replication = "role:slave\r\nmaster_host:10.0.0.1\r\n",
	.ncmds = 1,
	.want_err = -EOPNOTSUPP,
};

static void test_redis_state_row(void **state)
{
	static const char *const cmds[] = { "INFO replication", "INFO server",
					    "INFO persistence" };
	struct fixture *f = *state;
	const struct state_row *row = f->row;
	struct ds *ds = mocked_ds(f);
	struct meta m;
	unsigned i;

	g_info_replication = row->replication;
	g_info_server = row->server;
	g_info_persistence = row->persistence;
	will_return(mock_connect, row->connect_err);
	for (i = 0; i < row->ncmds; i++)
		expect_cmd(cmds[i], i + 1 == row->ncmds ? row->last_err : 0);
	meta_init(&m);
	assert_int_equal(ds->drv->state_read(ds, &m), row->want_err);
	assert_int_equal(m.n, row->want_n);
	if (row->want_n == 5) {
		assert_string_equal(meta_get(&m, "redis-replid"), REPLID_A);
		assert_string_equal(meta_get(&m, "redis-run-id"),
				    "4d1f0c6a2b3e9f8a7c6d5e4f3a2b1c0d9e8f7a6b");
		assert_string_equal(meta_get(&m, "redis-dirty"),
				    row->want_dirty);
		assert_string_equal(meta_get(&m, "redis-last-save"),
				    "1763700000");
		assert_string_equal(meta_get(&m, "redis-saves"),
				    row->want_saves);
	}
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
	/* the SYNC created the replication backlog: a new replication id */
	g_info_replication2 = "role:master\r\nmaster_replid:" REPLID_B "\r\n";
	expect_handshake();
	expect_stream_state();
	will_return(mock_read_line, hdr);
	will_return(mock_read_raw, rdb);
	will_return(mock_read_raw, n);
	assert_int_equal(ds_backup(ds, "", name, sizeof(name)), 0);
	assert_int_equal(ds_backup_key(ds, name, key, sizeof(key)), 0);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, "database_backups", key, &oi), 0);
	assert_string_equal(meta_get(&oi.meta, "redis-replid"), REPLID_B);
	assert_string_equal(meta_get(&oi.meta, "redis-dirty"), "42");
	assert_string_equal(meta_get(&oi.meta, "redis-last-save"),
			    "1763700000");
	assert_non_null(meta_get(&oi.meta, "redis-run-id"));
	obj_info_release(&oi);
}

int main(void)
{
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
		cmocka_unit_test(test_rdb_head_parse),
		T(test_redis_conf_defaults),
		T(test_redis_conf_keys),
		T(test_redis_conf_unknown_key_logs_line),
		T(test_redis_conf_bad_values),
		ROW(test_redis_sync_row, sync_length_framing),
		ROW(test_redis_sync_row, sync_eof_mark_split),
		ROW(test_redis_sync_row, sync_bad_crc_fails_last_read),
		ROW(test_redis_sync_row, sync_eof_bad_crc),
		ROW(test_redis_sync_row, sync_early_end),
		ROW(test_redis_sync_row, sync_eof_early_end),
		T(test_redis_stream_error_reply_and_old_server),
		T(test_redis_stream_connect_refused),
		ROW(test_redis_bgsave_row, bgsave_streams_file),
		ROW(test_redis_bgsave_row, bgsave_streams_big_file),
		ROW(test_redis_bgsave_row, bgsave_waits_out_lastsave_second),
		ROW(test_redis_bgsave_row, bgsave_already_in_progress),
		ROW(test_redis_bgsave_row, bgsave_diskless_sync_running),
		ROW(test_redis_bgsave_row, bgsave_diskless_sync_each_try),
		ROW(test_redis_bgsave_row, bgsave_times_out),
		ROW(test_redis_bgsave_row, bgsave_slow_looks_time_out),
		ROW(test_redis_bgsave_row, bgsave_misconf),
		ROW(test_redis_bgsave_row, bgsave_unknown_command),
		ROW(test_redis_bgsave_row, bgsave_lastsave_fails),
		ROW(test_redis_bgsave_row, bgsave_failed_status),
		ROW(test_redis_bgsave_row, bgsave_bad_crc),
		ROW(test_redis_bgsave_row, bgsave_big_file_bad_crc),
		ROW(test_redis_bgsave_row, bgsave_no_file),
		ROW(test_redis_poll_row, poll_times_out),
		ROW(test_redis_poll_row, poll_slow_look_once),
		ROW(test_redis_poll_row, poll_looks_count),
		ROW(test_redis_poll_row, poll_done),
		ROW(test_redis_poll_row, poll_error_stops),
		T(test_redis_backup_commits_only_verified),
		T(test_redis_state_keys),
		ROW(test_redis_state_row, state_markers),
		ROW(test_redis_state_row, state_before_redis7),
		ROW(test_redis_state_row, state_refused),
		ROW(test_redis_state_row, state_info_without_key),
		ROW(test_redis_state_row, state_no_replid),
		ROW(test_redis_state_row, state_error_reply),
		ROW(test_redis_state_row, state_not_a_bulk_string),
		ROW(test_redis_state_row, state_replica),
		T(test_redis_backup_records_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
