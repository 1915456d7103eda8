/*
 * redis.c - the Redis datastore driver (contract in redis.h and ds.h).
 *
 * Live backup streams:
 *   sync    REPLCONF capa eof, REPLCONF rdb-only 1 (Redis 7; refusals are
 *           ignored), SYNC; skip the "\n" keepalives; "$<len>" or
 *           "$EOF:<mark>" framing; the payload is streamed as it arrives.
 *           With the server's repl-diskless-sync yes (Redis 7 default)
 *           nothing is written to the server's disk.
 *   bgsave  LASTSAVE, BGSAVE SCHEDULE (on "already in progress" wait
 *           for that save to end: if LASTSAVE did not change, as after a
 *           diskless replica sync, BGSAVE again, 3 tries), poll LASTSAVE
 *           until it changes (save_timeout for all of it), check
 *           rdb_last_bgsave_status, then stream CONFIG GET dir/dbfilename
 *           (the file is opened once: a later save renames a new file in
 *           and leaves our descriptor on the old one).
 * Either way the bytes go through an rdb_check; the read that would end
 * the stream fails with -EBADMSG instead if the RDB does not verify, and
 * in $EOF framing the last REDIS_EOF_MARK_LEN bytes are held back until
 * the mark is recognised.
 *
 * Recover in place (docs/DATASTORES.md): the stage ops of ds.h, in
 * redis_recover.c; struct redis_ds and the helpers both files use are in
 * redis_i.h.
 *
 * State markers (ds.h state_read): INFO server run_id (changes with a
 * restart) and INFO persistence rdb_changes_since_last_save (grows with
 * every write until a save), rdb_last_save_time (changes with a save) and
 * rdb_saves (Redis 7: counts saves, so two saves within the second
 * rdb_last_save_time resolves are told apart; "none" before 7), the last
 * three from one reply, and INFO replication master_replid (a full resync
 * replaces all data yet changes none of the others; for sync-mode backups
 * read again once the SYNC runs, redis_stream_state()). bgsave mode's own
 * BGSAVE changes them, so its backups never stand in for a safety backup;
 * sync mode's diskless SYNC leaves them alone. A replica has none
 * (-EOPNOTSUPP): a full resync replaces its data without counting writes.
 *
 * Invariants: every connection is opened for one call or one stream and
 * closed by it (a redisContext is never shared); struct redis_ds is
 * read-only after init except ->ops (tests, before any use). No locks of
 * its own: ds.c serialises backups and recovers.
 */
#include "redis.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../conf/log.h"
#include "redis_i.h"
#include "redis_rdb.h"
#include "redis_repl.h"

#define REDIS_STREAM_BUF (1u << 20)
#define REDIS_BGSAVE_TRIES 3	/* BGSAVEs met by another save running */
#define REDIS_TRASH_WAIT_S 10.0 /* at exit, for old files being removed */

static void real_sleep_ms(unsigned ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t real_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const struct redis_client_ops redis_client_real = {
	.connect = redis_connect,
	.close = redis_close,
	.command = redis_command,
	.send = redis_send,
	.read_line = redis_read_line,
	.read_raw = redis_read_raw,
	.set_quiet = redis_set_quiet,
	.last_error = redis_last_error,
	.sleep_ms = real_sleep_ms,
	.clock_ms = real_clock_ms,
};

void ds_redis_set_client_ops(struct ds *ds, const struct redis_client_ops *ops)
{
	redis_ds_of(ds)->ops = ops;
}

const struct redis_addr *ds_redis_addr(const struct ds *ds)
{
	return &redis_ds_of(ds)->addr;
}

/* ---- config ---- */

static void redis_fini(void *priv)
{
	struct redis_ds *r = priv;
	int left;

	if (!r)
		return;
	/* a recover's old files may still be going: let that end first */
	left = redis_trash_wait(REDIS_TRASH_WAIT_S);
	if (left)
		log_warn(
			"redis '%s': %d removal(s) of old recover files still running at exit; the next recover removes what they leave",
			r->ds->name, left);
	free(r->host);
	free(r->unix_path);
	free(r->user);
	conf_free_secret(r->password, r->password_len);
	free(r->data_dir);
	free(r->dbfilename);
	free(r->config_file);
	free(r->stop_command);
	free(r->start_command);
	free(r);
}

static int parse_seconds(const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !(d > 0) || d > 86400 * 7)
		return -EINVAL;
	*out = d;
	return 0;
}

static int parse_port(const char *v, int *out)
{
	char *end;
	long p;

	errno = 0;
	p = strtol(v, &end, 10);
	if (errno || end == v || *end || p < 1 || p > 65535)
		return -EINVAL;
	*out = (int)p;
	return 0;
}

/* Sets a string field to a copy of @v: 0, -ENOMEM. */
static int set_str(char **field, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

/* One key of the section; -EINVAL means "bad value", logged by caller. */
static int redis_key(struct redis_ds *r, const char *k, const char *v,
		     const char **password_file)
{
	if (strcmp(k, "host") == 0)
		return v[0] ? set_str(&r->host, v) : -EINVAL;
	if (strcmp(k, "port") == 0) {
		r->port_set = true;
		return parse_port(v, &r->addr.port);
	}
	if (strcmp(k, "unix") == 0)
		return v[0] == '/' ? set_str(&r->unix_path, v) : -EINVAL;
	if (strcmp(k, "password_file") == 0) {
		*password_file = v;
		return 0;
	}
	if (strcmp(k, "user") == 0)
		return set_str(&r->user, v);
	if (strcmp(k, "mode") == 0) {
		if (strcmp(v, "sync") == 0)
			r->mode = REDIS_MODE_SYNC;
		else if (strcmp(v, "bgsave") == 0)
			r->mode = REDIS_MODE_BGSAVE;
		else
			return -EINVAL;
		return 0;
	}
	if (strcmp(k, "timeout") == 0)
		return parse_seconds(v, &r->timeout);
	if (strcmp(k, "save_timeout") == 0)
		return parse_seconds(v, &r->save_timeout);
	if (strcmp(k, "start_timeout") == 0)
		return parse_seconds(v, &r->start_timeout);
	if (strcmp(k, "data_dir") == 0)
		return v[0] == '/' ? set_str(&r->data_dir, v) : -EINVAL;
	if (strcmp(k, "dbfilename") == 0)
		return (v[0] && !strchr(v, '/')) ? set_str(&r->dbfilename, v)
						 : -EINVAL;
	if (strcmp(k, "config_file") == 0)
		return v[0] == '/' ? set_str(&r->config_file, v) : -EINVAL;
	if (strcmp(k, "stop_command") == 0)
		return v[0] ? set_str(&r->stop_command, v) : -EINVAL;
	if (strcmp(k, "start_command") == 0)
		return v[0] ? set_str(&r->start_command, v) : -EINVAL;
	return -ENOENT;
}

static int redis_init(struct ds *ds, const struct conf_section *s, void **priv)
{
	const char *password_file = NULL;
	struct redis_ds *r;
	size_t i;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ds = ds;
	r->ops = &redis_client_real;
	r->mode = REDIS_MODE_SYNC;
	r->addr.port = 6379;
	r->timeout = 10;
	r->save_timeout = 600;
	r->start_timeout = 120;
	for (i = 0; i < s->nkv; i++) {
		const struct conf_kv *kv = &s->kv[i];

		if (ds_key_is_common(kv->key))
			continue;
		err = redis_key(r, kv->key, kv->value, &password_file);
		if (err == -ENOENT) {
			log_error("line %d: [redis:%s]: unknown key '%s'",
				  kv->line, s->name, kv->key);
			err = -EINVAL;
			goto out_free;
		}
		if (err == -EINVAL) {
			log_error(
				"line %d: [redis:%s]: bad value '%s' for '%s'",
				kv->line, s->name, kv->value, kv->key);
			goto out_free;
		}
		if (err)
			goto out_free;
	}
	if ((r->host || r->port_set) && r->unix_path) {
		log_error(
			"line %d: [redis:%s]: 'unix' excludes 'host' and 'port'",
			s->line, s->name);
		err = -EINVAL;
		goto out_free;
	}
	if (password_file) {
		err = conf_read_secret(password_file, "redis password file",
				       &r->password, &r->password_len);
		if (err) {
			log_error(
				"[redis:%s]: cannot read password file '%s': %s",
				s->name, password_file, strerror(-err));
			goto out_free;
		}
	}
	if (!r->host && !r->unix_path) {
		err = set_str(&r->host, "127.0.0.1");
		if (err)
			goto out_free;
	}
	r->addr.name = ds->name;
	r->addr.host = r->unix_path ? NULL : r->host;
	r->addr.unix_path = r->unix_path;
	r->addr.password = r->password;
	r->addr.user = r->user;
	r->addr.timeout = r->timeout;
	*priv = r;
	return 0;
out_free:
	redis_fini(r);
	return err;
}

/* ---- small command helpers ---- */

/* An integer reply of a one-word command (LASTSAVE). */
static int cmd_int(struct redis_ds *r, struct redis_conn *c, const char *word,
		   long long *out)
{
	struct redis_reply rep;
	int err;

	err = redis_ds_cmd(r, c, &rep, 1, &word);
	if (!err && rep.type != REDIS_R_INTEGER) {
		log_error("redis '%s': %s: unexpected reply", r->ds->name,
			  word);
		err = -EPROTO;
	}
	if (!err)
		*out = rep.integer;
	redis_reply_release(&rep);
	return err;
}

int redis_ds_config_get(struct redis_ds *r, struct redis_conn *c,
			const char *param, struct buf *out)
{
	const char *argv[3] = { "CONFIG", "GET", param };
	struct redis_reply rep;
	int err;

	err = redis_ds_cmd(r, c, &rep, 3, argv);
	if (err)
		return err;
	if (rep.type != REDIS_R_ARRAY || rep.nelements < 2) {
		err = -ENOENT;
	} else if (rep.elements[1].type != REDIS_R_STRING) {
		err = -EPROTO;
	} else {
		buf_reset(out);
		err = buf_append(out, rep.elements[1].str, rep.elements[1].len);
	}
	redis_reply_release(&rep);
	return err;
}

int redis_ds_info_get(struct redis_ds *r, struct redis_conn *c,
		      const char *section, const char *key, struct buf *out)
{
	const char *argv[2] = { "INFO", section };
	struct redis_reply rep;
	int err;

	err = redis_ds_cmd(r, c, &rep, 2, argv);
	if (err)
		return err;
	if (rep.type != REDIS_R_STRING)
		err = -EPROTO;
	else
		err = redis_info_get(rep.str, key, out);
	redis_reply_release(&rep);
	return err;
}

int redis_ds_poll(struct redis_ds *r, unsigned interval_ms, double timeout,
		  const char *what, const int *why, redis_poll_fn *fn,
		  void *arg)
{
	uint64_t limit = timeout > 0 ? (uint64_t)(timeout * 1000) : 0;
	uint64_t start = r->ops->clock_ms();
	uint64_t elapsed;
	bool done = false;
	int err;

	/*
	 * Time is measured, not summed from the pauses: one look may take up
	 * to the connect and command timeout (a server that does not answer),
	 * and counting only the pauses made start_timeout many times longer.
	 */
	for (;;) {
		err = fn(r, arg, &done);
		if (err || done)
			return err;
		elapsed = r->ops->clock_ms() - start;
		if (elapsed >= limit)
			break;
		r->ops->sleep_ms(limit - elapsed < interval_ms
					 ? (unsigned)(limit - elapsed)
					 : interval_ms);
	}
	if (why && *why)
		log_error("redis '%s': %s within %.0f s: %s", r->ds->name, what,
			  timeout, strerror(-*why));
	else
		log_error("redis '%s': %s within %.0f s", r->ds->name, what,
			  timeout);
	return -ETIMEDOUT;
}

/* ---- state markers ---- */

static const char *const redis_state_keys[] = {
	"redis-run-id", "redis-dirty",	"redis-last-save",
	"redis-saves",	"redis-replid", NULL,
};

/*
 * INFO @section's @key (a non-empty value) into meta @mkey of @m; a key
 * starting with '?' is optional and recorded as "none" when absent.
 */
static int state_put(struct redis_ds *r, const char *info, const char *key,
		     struct meta *m, const char *mkey)
{
	bool optional = key[0] == '?';
	struct buf v;
	int err;

	if (optional)
		key++;
	buf_init(&v, META_VALUE_MAX);
	err = redis_info_get(info, key, &v);
	if (err == -ENOENT && optional)
		err = buf_puts(&v, "none");
	if (!err && (!v.data || v.len == 0))
		err = -EPROTO;
	if (!err)
		err = meta_set(m, mkey, v.data);
	if (err)
		log_warn("redis '%s': cannot read INFO %s: %s", r->ds->name,
			 key, strerror(-err));
	buf_release(&v);
	return err;
}

/* One INFO @section reply into @m's keys. */
static int state_section(struct redis_ds *r, struct redis_conn *c,
			 const char *section, const char *const *keys,
			 const char *const *mkeys, struct meta *m)
{
	const char *argv[2] = { "INFO", section };
	struct redis_reply rep;
	size_t i;
	int err;

	err = redis_ds_cmd(r, c, &rep, 2, argv);
	if (err)
		return err;
	if (rep.type != REDIS_R_STRING)
		err = -EPROTO;
	for (i = 0; !err && keys[i]; i++)
		err = state_put(r, rep.str, keys[i], m, mkeys[i]);
	redis_reply_release(&rep);
	return err;
}

/*
 * INFO replication: -EOPNOTSUPP unless a master (a replica's full resync
 * replaces its data without counting writes), then master_replid into
 * @m's "redis-replid": a full resync as a replica and the detach after
 * it each give a new one.
 */
static int state_replication(struct redis_ds *r, struct redis_conn *c,
			     struct meta *m)
{
	static const char *const replication[] = { "master_replid", NULL };
	const char *argv[2] = { "INFO", "replication" };
	struct redis_reply rep;
	struct buf role;
	int err;

	err = redis_ds_cmd(r, c, &rep, 2, argv);
	if (err)
		return err;
	buf_init(&role, 64);
	if (rep.type != REDIS_R_STRING)
		err = -EPROTO;
	if (!err)
		err = redis_info_get(rep.str, "role", &role);
	if (!err && strcmp(buf_str(&role), "master") != 0)
		err = -EOPNOTSUPP;
	if (!err)
		err = state_put(r, rep.str, replication[0], m,
				redis_state_keys[4]);
	buf_release(&role);
	redis_reply_release(&rep);
	return err;
}

static int redis_state_read(struct ds *ds, struct meta *m)
{
	static const char *const server[] = { "run_id", NULL };
	static const char *const persistence[] = {
		"rdb_changes_since_last_save",
		"rdb_last_save_time",
		"?rdb_saves",
		NULL,
	};
	struct redis_ds *r = redis_ds_of(ds);
	struct redis_conn *c;
	int err;

	err = redis_ds_connect(r, &c);
	if (err)
		return err;
	err = state_replication(r, c, m);
	/* run_id is fixed for the process: a separate reply is fine */
	if (!err)
		err = state_section(r, c, "server", server, redis_state_keys,
				    m);
	if (!err)
		err = state_section(r, c, "persistence", persistence,
				    redis_state_keys + 1, m);
	r->ops->close(c);
	return err;
}

/* ---- live streams ---- */

struct ds_stream {
	struct redis_ds *r;
	struct redis_conn *conn; /* sync mode: owned */
	int fd;			 /* bgsave mode: owned, or -1 */
	bool eof_mark;		 /* $EOF framing, else a known length */
	char mark[REDIS_EOF_MARK_LEN];
	uint64_t size;	    /* known length; 0 with $EOF */
	uint64_t remaining; /* known length: bytes still to come */
	unsigned char *buf; /* owned, REDIS_STREAM_BUF bytes */
	size_t start;	    /* unread bytes are buf[start..len) */
	size_t len;
	size_t rel; /* of them, releasable (verified or
					 * not the end) */
	bool ended; /* source done, all verified */
	int err;    /* sticky */
	struct rdb_check chk;
	char what[64]; /* for log lines */
};

int redis_sync_header_parse(const char *line, uint64_t *len,
			    char mark[REDIS_EOF_MARK_LEN])
{
	unsigned long long n;
	char *end;

	if (line[0] == '\0')
		return REDIS_SYNC_KEEPALIVE;
	if (line[0] == '-')
		return redis_error_errno(line + 1);
	if (line[0] != '$')
		return -EPROTO;
	if (strncmp(line + 1, "EOF:", 4) == 0) {
		if (strlen(line + 5) != REDIS_EOF_MARK_LEN)
			return -EPROTO;
		memcpy(mark, line + 5, REDIS_EOF_MARK_LEN);
		return REDIS_SYNC_EOF_MARK;
	}
	if (!isdigit((unsigned char)line[1]))
		return -EPROTO;
	errno = 0;
	n = strtoull(line + 1, &end, 10);
	if (errno || *end)
		return -EPROTO;
	*len = n;
	return REDIS_SYNC_LENGTH;
}

static void stream_close(struct ds_stream *s)
{
	if (!s)
		return;
	if (s->conn)
		s->r->ops->close(s->conn);
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s);
}

static int stream_alloc(struct redis_ds *r, struct ds_stream **out)
{
	struct ds_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->buf = malloc(REDIS_STREAM_BUF);
	if (!s->buf) {
		free(s);
		return -ENOMEM;
	}
	s->r = r;
	s->fd = -1;
	rdb_check_init(&s->chk);
	*out = s;
	return 0;
}

static int sync_open(struct redis_ds *r, struct ds_stream *s)
{
	const char *capa[3] = { "REPLCONF", "capa", "eof" };
	const char *rdbonly[3] = { "REPLCONF", "rdb-only", "1" };
	const char *sync_argv[1] = { "SYNC" };
	struct redis_reply rep;
	struct buf line;
	uint64_t len = 0;
	int kind;
	int err;

	err = redis_ds_connect(r, &s->conn);
	if (err)
		return err;
	/* older servers refuse these: the transfer then just goes on */
	r->ops->set_quiet(s->conn, true);
	err = redis_ds_cmd(r, s->conn, &rep, 3, capa);
	redis_reply_release(&rep);
	if (err == 0 || err == -EINVAL || err == -EIO) {
		err = redis_ds_cmd(r, s->conn, &rep, 3, rdbonly);
		redis_reply_release(&rep);
	}
	r->ops->set_quiet(s->conn, false);
	if (err && err != -EINVAL && err != -EIO) {
		log_error("redis '%s': REPLCONF: %s", r->ds->name,
			  r->ops->last_error(s->conn));
		return err;
	}
	err = r->ops->send(s->conn, 1, sync_argv, NULL);
	if (err)
		return err;
	buf_init(&line, 4096);
	for (;;) {
		err = r->ops->read_line(s->conn, &line);
		if (err)
			break;
		kind = redis_sync_header_parse(buf_str(&line), &len, s->mark);
		if (kind == REDIS_SYNC_KEEPALIVE)
			continue;
		if (kind < 0) {
			err = kind;
			log_error("redis '%s': SYNC: %s", r->ds->name,
				  buf_str(&line)[0] == '-'
					  ? buf_str(&line) + 1
					  : "unexpected reply");
			break;
		}
		if (kind == REDIS_SYNC_EOF_MARK) {
			s->eof_mark = true;
		} else {
			s->size = len;
			s->remaining = len;
		}
		break;
	}
	buf_release(&line);
	return err;
}

/* What bgsave_done() compares: LASTSAVE before the BGSAVE. */
struct bgsave_poll {
	struct redis_conn *conn; /* borrowed */
	long long t0;
};

/* LASTSAVE on p->conn is no longer p->t0: a save has ended since. */
static int bgsave_done(struct redis_ds *r, void *arg, bool *done)
{
	struct bgsave_poll *p = arg;
	long long t;
	int err;

	err = cmd_int(r, p->conn, "LASTSAVE", &t);
	if (!err)
		*done = t != p->t0;
	return err;
}

/* The save running on p->conn is over: rdb_bgsave_in_progress:0. */
static int bgsave_idle(struct redis_ds *r, void *arg, bool *done)
{
	struct bgsave_poll *p = arg;
	struct buf v;
	int err;

	buf_init(&v, 64);
	err = redis_ds_info_get(r, p->conn, "persistence",
				"rdb_bgsave_in_progress", &v);
	if (!err)
		*done = strcmp(buf_str(&v), "0") == 0;
	buf_release(&v);
	return err;
}

/* Seconds of save_timeout left since @start (r->ops->clock_ms). */
static double bgsave_left(struct redis_ds *r, uint64_t start)
{
	double used = (double)(r->ops->clock_ms() - start) / 1000;

	return used < r->save_timeout ? r->save_timeout - used : 0;
}

/*
 * BGSAVE SCHEDULE until a save that ends after LASTSAVE @t0 is under way
 * or over. "already in progress" may be a save to disk, whose end changes
 * LASTSAVE (that save is then used), or a diskless replication fork,
 * whose end does not (a save to a socket updates neither LASTSAVE nor
 * rdb_saves): waiting for LASTSAVE to change then waited out
 * save_timeout. So the running save is waited out
 * (rdb_bgsave_in_progress:0), and if LASTSAVE did not change, BGSAVE is
 * sent again, REDIS_BGSAVE_TRIES times at most (then -EBUSY). Bounded by
 * save_timeout from @start.
 */
static int bgsave_start(struct redis_ds *r, struct redis_conn *c, long long t0,
			uint64_t start)
{
	const char *bgsave[2] = { "BGSAVE", "SCHEDULE" };
	struct bgsave_poll p = { .conn = c, .t0 = t0 };
	struct redis_reply rep;
	unsigned tries;
	long long t;
	int err;

	for (tries = 1;; tries++) {
		r->ops->set_quiet(c, true);
		err = redis_ds_cmd(r, c, &rep, 2, bgsave);
		redis_reply_release(&rep);
		r->ops->set_quiet(c, false);
		if (!err)
			return 0;
		if (!strstr(r->ops->last_error(c), "already in progress")) {
			log_error("redis '%s': BGSAVE: %s", r->ds->name,
				  r->ops->last_error(c));
			return err;
		}
		err = redis_ds_poll(r, REDIS_POLL_MS, bgsave_left(r, start),
				    "the running background save did not end",
				    NULL, bgsave_idle, &p);
		if (!err)
			err = cmd_int(r, c, "LASTSAVE", &t);
		if (err || t != t0)
			return err; /* a save to disk ended: it will do */
		if (tries == REDIS_BGSAVE_TRIES)
			break;
	}
	log_error(
		"redis '%s': BGSAVE: a background save that writes no dump file (a diskless replica sync?) was running at each of %u tries",
		r->ds->name, tries);
	return -EBUSY;
}

/* Waits for a save to end after @t0 and checks that it succeeded. */
static int bgsave_wait(struct redis_ds *r, struct redis_conn *c, long long t0,
		       uint64_t start)
{
	struct bgsave_poll p = { .conn = c, .t0 = t0 };
	struct buf st;
	int err;

	err = redis_ds_poll(r, REDIS_POLL_MS, bgsave_left(r, start),
			    "BGSAVE did not finish", NULL, bgsave_done, &p);
	if (err)
		return err;
	buf_init(&st, 256);
	err = redis_ds_info_get(r, c, "persistence", "rdb_last_bgsave_status",
				&st);
	if (err == 0 && strcmp(buf_str(&st), "ok") != 0) {
		log_error(
			"redis '%s': BGSAVE failed (rdb_last_bgsave_status:%s)",
			r->ds->name, buf_str(&st));
		err = -EIO;
	} else if (err == -ENOENT) {
		err = 0; /* no such field: trust LASTSAVE */
	}
	buf_release(&st);
	return err;
}

static int bgsave_open(struct redis_ds *r, struct ds_stream *s)
{
	struct redis_conn *c;
	uint64_t start;
	struct buf dir;
	struct buf file;
	struct buf path;
	struct stat sb;
	long long t0;
	int err;

	err = redis_ds_connect(r, &c);
	if (err)
		return err;
	buf_init(&dir, REDIS_PATH_MAX);
	buf_init(&file, REDIS_PATH_MAX);
	buf_init(&path, 2 * REDIS_PATH_MAX);
	err = cmd_int(r, c, "LASTSAVE", &t0);
	if (err)
		goto out_close;
	/* LASTSAVE counts seconds: a save ending within t0's second would
	 * not change it */
	if ((long long)time(NULL) <= t0)
		r->ops->sleep_ms(1000);
	start = r->ops->clock_ms();
	ds_set_step(r->ds, "waiting for the server's BGSAVE");
	err = bgsave_start(r, c, t0, start);
	if (!err)
		err = bgsave_wait(r, c, t0, start);
	if (err)
		goto out_close;
	err = redis_ds_config_get(r, c, "dir", &dir);
	if (!err)
		err = redis_ds_config_get(r, c, "dbfilename", &file);
	if (err)
		goto out_close;
	buf_printf(&path, "%s/%s", buf_str(&dir), buf_str(&file));
	if (path.err) {
		err = path.err;
		goto out_close;
	}
	s->fd = open(buf_str(&path), O_RDONLY | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &sb) < 0) {
		err = -errno;
		log_error(
			"redis '%s': cannot read '%s': %s (bgsave mode needs the server's files on this host)",
			r->ds->name, buf_str(&path), strerror(-err));
		goto out_close;
	}
	s->size = (uint64_t)sb.st_size;
	s->remaining = s->size;
out_close:
	r->ops->close(c);
	buf_release(&path);
	buf_release(&file);
	buf_release(&dir);
	return err;
}

static int redis_stream_open(struct ds *ds, struct ds_stream **out)
{
	struct redis_ds *r = redis_ds_of(ds);
	struct ds_stream *s;
	int err;

	err = stream_alloc(r, &s);
	if (err)
		return err;
	if (snprintf(s->what, sizeof(s->what), "%s", ds->name) < 0)
		s->what[0] = '\0';
	if (r->mode == REDIS_MODE_SYNC)
		err = sync_open(r, s);
	else
		err = bgsave_open(r, s);
	if (err) {
		stream_close(s);
		return err;
	}
	*out = s;
	return 0;
}

/* Verifies what was fed; on failure the stream is dead. */
static int stream_finish(struct ds_stream *s)
{
	const char *why = "";
	int err;

	err = rdb_check_final(&s->chk, &why);
	if (err) {
		log_error("redis '%s': the RDB stream does not verify: %s",
			  s->what, why);
		return err;
	}
	s->ended = true;
	return 0;
}

/*
 * Reads more from the source into buf and decides what becomes
 * releasable: buf[start..rel) may be handed out, buf[rel..len) is held
 * (a possible $EOF mark, or nothing).
 */
static int stream_fill(struct ds_stream *s)
{
	size_t room;
	size_t got = 0;
	ssize_t n;
	int err;

	if (s->start > 0) {
		memmove(s->buf, s->buf + s->start, s->len - s->start);
		s->len -= s->start;
		s->rel -= s->start;
		s->start = 0;
	}
	room = REDIS_STREAM_BUF - s->len;
	if (!s->eof_mark && room > s->remaining)
		room = (size_t)s->remaining;
	if (room == 0)
		return stream_finish(s); /* an empty payload */
	if (s->fd >= 0) {
		do {
			n = read(s->fd, s->buf + s->len, room);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			err = -errno;
			log_error("redis '%s': cannot read the dump file: %s",
				  s->what, strerror(-err));
			return err;
		}
		got = (size_t)n;
	} else {
		err = s->r->ops->read_raw(s->conn, s->buf + s->len, room, &got);
		if (err)
			return err;
	}
	if (got == 0) {
		log_error("redis '%s': the RDB stream ended early", s->what);
		return -ECONNRESET;
	}
	s->len += got;
	if (!s->eof_mark) {
		rdb_check_update(&s->chk, s->buf + s->len - got, got);
		s->remaining -= got;
		if (s->remaining == 0) {
			err = stream_finish(s);
			if (err)
				return err;
		}
		s->rel = s->len;
		return 0;
	}
	/* $EOF framing: the mark ends the payload; hold back its length */
	if (s->len - s->rel >= REDIS_EOF_MARK_LEN &&
	    memcmp(s->buf + s->len - REDIS_EOF_MARK_LEN, s->mark,
		   REDIS_EOF_MARK_LEN) == 0) {
		s->len -= REDIS_EOF_MARK_LEN;
		rdb_check_update(&s->chk, s->buf + s->rel, s->len - s->rel);
		err = stream_finish(s);
		if (err)
			return err;
		s->rel = s->len;
		return 0;
	}
	if (s->len - s->rel > REDIS_EOF_MARK_LEN) {
		rdb_check_update(&s->chk, s->buf + s->rel,
				 s->len - REDIS_EOF_MARK_LEN - s->rel);
		s->rel = s->len - REDIS_EOF_MARK_LEN;
	}
	return 0;
}

static int redis_stream_read(struct ds_stream *s, void *dst, size_t len,
			     size_t *got)
{
	size_t n;
	int err;

	*got = 0;
	while (s->rel == s->start) {
		if (s->err)
			return s->err;
		if (s->ended)
			return 0;
		err = stream_fill(s);
		if (err) {
			s->err = err;
			return err;
		}
	}
	n = s->rel - s->start;
	if (n > len)
		n = len;
	memcpy(dst, s->buf + s->start, n);
	s->start += n;
	*got = n;
	return 0;
}

static uint64_t redis_stream_size(struct ds_stream *s)
{
	return s->size;
}

/*
 * Sync mode: master_replid once more, now that the SYNC runs. The first
 * SYNC after a start, or after repl-backlog-ttl without replicas, creates
 * the replication backlog and with it a new replication id: read before
 * the SYNC, a backup's id would never equal the live one. Read after, it
 * is still sound: making the server a replica, the only way to replace
 * its data by a resync, drops every replica link, this stream's too, so
 * the backup fails. bgsave mode keeps the value read before (its own
 * BGSAVE changes rdb_last_save_time: its markers never match anyway).
 */
static int redis_stream_state(struct ds_stream *s, struct meta *m)
{
	struct redis_conn *c;
	int err;

	if (!s->conn)
		return 0;
	err = redis_ds_connect(s->r, &c);
	if (err)
		return err;
	err = state_replication(s->r, c, m);
	s->r->ops->close(c);
	return err;
}

/* ---- verify ---- */

struct ds_verify {
	struct rdb_check chk;
};

static int redis_verify_new(struct ds *ds, struct ds_verify **out)
{
	struct ds_verify *v = calloc(1, sizeof(*v));

	(void)ds;
	if (!v)
		return -ENOMEM;
	rdb_check_init(&v->chk);
	*out = v;
	return 0;
}

static void redis_verify_update(struct ds_verify *v, const void *p, size_t len)
{
	rdb_check_update(&v->chk, p, len);
}

static int redis_verify_final(struct ds_verify *v, const char *what)
{
	const char *why = "";
	int err = rdb_check_final(&v->chk, &why);

	if (err)
		log_error("'%s' is not a valid RDB file: %s", what, why);
	return err;
}

static void redis_verify_free(struct ds_verify *v)
{
	free(v);
}

/* ---- status, replication files ---- */

static int redis_status(struct ds *ds, struct buf *out)
{
	struct redis_ds *r = redis_ds_of(ds);

	buf_printf(out, "mode: %s\n",
		   r->mode == REDIS_MODE_SYNC ? "sync" : "bgsave");
	if (r->unix_path)
		buf_printf(out, "server: unix:%s\n", r->unix_path);
	else
		buf_printf(out, "server: %s:%d\n", r->host, r->addr.port);
	buf_printf(out, "auth: %s\n", r->password ? "password" : "none");
	return out->err;
}

/* Every configured Redis address, self included; caller frees. */
static int repl_env(struct ds *ds, struct redis_repl_env *env,
		    struct redis_addr **all)
{
	struct ds_set *set = ds->set;
	size_t i;
	size_t n = 0;

	*all = calloc(set->n ? set->n : 1, sizeof(**all));
	if (!*all)
		return -ENOMEM;
	for (i = 0; i < set->n; i++)
		if (set->v[i]->drv == &ds_redis_driver)
			(*all)[n++] = redis_ds_of(set->v[i])->addr;
	memset(env, 0, sizeof(*env));
	env->self = &redis_ds_of(ds)->addr;
	env->all = *all;
	env->nall = n;
	env->wait_timeout = redis_ds_of(ds)->timeout;
	return 0;
}

static int repl_read(struct ds *ds, const char *file, struct buf *out)
{
	struct redis_repl_env env;
	struct redis_addr *all;
	int err;

	err = repl_env(ds, &env, &all);
	if (err)
		return err;
	err = redis_repl_read(&env, file, out);
	free(all);
	return err;
}

static int repl_write(struct ds *ds, const char *file, const char *data,
		      size_t len)
{
	struct redis_repl_env env;
	struct redis_addr *all;
	int err;

	err = repl_env(ds, &env, &all);
	if (err)
		return err;
	err = redis_repl_write(&env, file, data, len);
	free(all);
	return err;
}

static const struct ds_ctl_dir redis_repl_dir = {
	.name = "replication",
	.lookup = redis_repl_file_lookup,
	.files = redis_repl_files,
	.read = repl_read,
	.write = repl_write,
};

const struct ds_driver ds_redis_driver = {
	.type = "redis",
	.backup_file = "dump.rdb",
	.init = redis_init,
	.fini = redis_fini,
	.stream_open = redis_stream_open,
	.stream_read = redis_stream_read,
	.stream_size = redis_stream_size,
	.stream_state = redis_stream_state,
	.stream_close = stream_close,
	.verify_new = redis_verify_new,
	.verify_update = redis_verify_update,
	.verify_final = redis_verify_final,
	.verify_free = redis_verify_free,
	.stage_open = redis_stage_open,
	.stage_write = redis_stage_write,
	.stage_sync = redis_stage_sync,
	.stage_apply = redis_stage_apply,
	.stage_free = redis_stage_free,
	.state_read = redis_state_read,
	.state_keys = redis_state_keys,
	.status = redis_status,
	.ctl_dir = &redis_repl_dir,
};
