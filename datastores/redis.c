/*
 * redis.c - the Redis datastore driver (contract in redis.h and ds.h).
 *
 * Live backup streams:
 *   sync    REPLCONF capa eof, REPLCONF rdb-only 1 (Redis 7; refusals are
 *           ignored), SYNC; skip the "\n" keepalives; "$<len>" or
 *           "$EOF:<mark>" framing; the payload is streamed as it arrives.
 *           With the server's repl-diskless-sync yes (Redis 7 default)
 *           nothing is written to the server's disk.
 *   bgsave  LASTSAVE, BGSAVE SCHEDULE ("already in progress" accepted),
 *           poll LASTSAVE until it changes (save_timeout), check
 *           rdb_last_bgsave_status, then stream CONFIG GET dir/dbfilename
 *           (the file is opened once: a later save renames a new file in
 *           and leaves our descriptor on the old one).
 * Either way the bytes go through an rdb_check; the read that would end
 * the stream fails with -EBADMSG instead if the RDB does not verify, and
 * in $EOF framing the last REDIS_EOF_MARK_LEN bytes are held back until
 * the mark is recognised.
 *
 * Recover in place (docs/DATASTORES.md): the stage ops of ds.h. While
 * the server runs, stage_open probes it and creates .DBFILENAME.trovefs-new
 * in its data dir, which ds.c fills as it verifies the backup (writeback
 * started every REDIS_WRITEBACK bytes, fsync at the end); stage_apply
 * stops the server, swaps the files, starts it, and rolls back to the old
 * files if any of that fails.
 *
 * State markers (ds.h state_read): INFO server run_id (changes with a
 * restart) and INFO persistence rdb_changes_since_last_save (grows with
 * every write until a save), rdb_last_save_time (changes with a save) and
 * rdb_saves (Redis 7: counts saves, so two saves within the second
 * rdb_last_save_time resolves are told apart; "none" before 7), the last
 * three from one reply. bgsave mode's own BGSAVE changes them, so
 * its backups never stand in for a safety backup; sync mode's diskless
 * SYNC leaves them alone. A replica has none (-EOPNOTSUPP): a full resync
 * replaces its data without counting writes.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "../conf/log.h"
#include "redis_rdb.h"
#include "redis_repl.h"

#define REDIS_STREAM_BUF (1u << 20)
#define REDIS_POLL_MS 100
/* stop and start of a recover: the server is down meanwhile */
#define REDIS_UP_POLL_MS 20
#define REDIS_SPAWN_POLL_MS 10
/* staged bytes handed to writeback at a time, so the fsync is short */
#define REDIS_WRITEBACK (32u << 20)
#define REDIS_PATH_MAX 4096
#define REDIS_CONFIG_MAX (1u << 20) /* bytes of a server config file */

enum redis_mode {
	REDIS_MODE_SYNC,
	REDIS_MODE_BGSAVE,
};

struct redis_ds {
	struct ds *ds;		/* borrowed: the owner */
	struct redis_addr addr; /* strings point into the fields below */
	char *host;		/* owned */
	char *unix_path;	/* owned */
	char *user;		/* owned */
	char *password;		/* owned secret, wiped on free */
	size_t password_len;
	enum redis_mode mode;
	char *data_dir;	     /* owned, or NULL: CONFIG GET dir */
	char *dbfilename;    /* owned, or NULL: CONFIG GET */
	char *config_file;   /* owned, or NULL: INFO config_file */
	char *stop_command;  /* owned, or NULL: SHUTDOWN */
	char *start_command; /* owned, or NULL: redis-server CONF */
	double timeout;
	double save_timeout;
	double start_timeout;
	const struct redis_client_ops *ops; /* borrowed static table */
};

static void real_sleep_ms(unsigned ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
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
};

static struct redis_ds *rds(const struct ds *ds)
{
	return ds->priv;
}

void ds_redis_set_client_ops(struct ds *ds, const struct redis_client_ops *ops)
{
	rds(ds)->ops = ops;
}

const struct redis_addr *ds_redis_addr(const struct ds *ds)
{
	return &rds(ds)->addr;
}

/* ---- config ---- */

static void redis_fini(void *priv)
{
	struct redis_ds *r = priv;

	if (!r)
		return;
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
		return set_str(&r->host, v);
	if (strcmp(k, "port") == 0)
		return parse_port(v, &r->addr.port);
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
	if (r->host && r->unix_path) {
		log_error(
			"line %d: [redis:%s]: 'host' and 'unix' exclude each other",
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

static int conn_open(struct redis_ds *r, struct redis_conn **out)
{
	return r->ops->connect(&r->addr, out);
}

/* Runs a C-string command. */
static int cmd(struct redis_ds *r, struct redis_conn *c,
	       struct redis_reply *rep, int argc, const char **argv)
{
	return r->ops->command(c, rep, argc, argv, NULL);
}

/* An integer reply of a one-word command (LASTSAVE). */
static int cmd_int(struct redis_ds *r, struct redis_conn *c, const char *word,
		   long long *out)
{
	struct redis_reply rep;
	int err;

	err = cmd(r, c, &rep, 1, &word);
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

/* CONFIG GET @param into @out: 0, -ENOENT (unknown parameter), -errno. */
static int config_get(struct redis_ds *r, struct redis_conn *c,
		      const char *param, struct buf *out)
{
	const char *argv[3] = { "CONFIG", "GET", param };
	struct redis_reply rep;
	int err;

	err = cmd(r, c, &rep, 3, argv);
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

/* INFO @section's @key into @out: 0, -ENOENT, -errno. */
static int info_get(struct redis_ds *r, struct redis_conn *c,
		    const char *section, const char *key, struct buf *out)
{
	const char *argv[2] = { "INFO", section };
	struct redis_reply rep;
	int err;

	err = cmd(r, c, &rep, 2, argv);
	if (err)
		return err;
	if (rep.type != REDIS_R_STRING)
		err = -EPROTO;
	else
		err = redis_info_get(rep.str, key, out);
	redis_reply_release(&rep);
	return err;
}

/* ---- state markers ---- */

static const char *const redis_state_keys[] = {
	"redis-run-id", "redis-dirty", "redis-last-save", "redis-saves", NULL,
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

	err = cmd(r, c, &rep, 2, argv);
	if (err)
		return err;
	if (rep.type != REDIS_R_STRING)
		err = -EPROTO;
	for (i = 0; !err && keys[i]; i++)
		err = state_put(r, rep.str, keys[i], m, mkeys[i]);
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
	struct redis_ds *r = rds(ds);
	struct redis_conn *c;
	struct buf role;
	int err;

	err = conn_open(r, &c);
	if (err)
		return err;
	buf_init(&role, 64);
	err = info_get(r, c, "replication", "role", &role);
	if (!err && strcmp(buf_str(&role), "master") != 0)
		err = -EOPNOTSUPP;
	/* run_id is fixed for the process: a separate reply is fine */
	if (!err)
		err = state_section(r, c, "server", server, redis_state_keys,
				    m);
	if (!err)
		err = state_section(r, c, "persistence", persistence,
				    redis_state_keys + 1, m);
	buf_release(&role);
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

	err = conn_open(r, &s->conn);
	if (err)
		return err;
	/* older servers refuse these: the transfer then just goes on */
	r->ops->set_quiet(s->conn, true);
	err = cmd(r, s->conn, &rep, 3, capa);
	redis_reply_release(&rep);
	if (err == 0 || err == -EINVAL || err == -EIO) {
		err = cmd(r, s->conn, &rep, 3, rdbonly);
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

static int bgsave_wait(struct redis_ds *r, struct redis_conn *c, long long t0)
{
	struct buf st;
	long long t;
	unsigned waited = 0;
	unsigned limit = (unsigned)(r->save_timeout * 1000);
	int err;

	for (;;) {
		err = cmd_int(r, c, "LASTSAVE", &t);
		if (err)
			return err;
		if (t != t0)
			break;
		if (waited >= limit) {
			log_error(
				"redis '%s': BGSAVE did not finish within %.0f s",
				r->ds->name, r->save_timeout);
			return -ETIMEDOUT;
		}
		r->ops->sleep_ms(REDIS_POLL_MS);
		waited += REDIS_POLL_MS;
	}
	buf_init(&st, 256);
	err = info_get(r, c, "persistence", "rdb_last_bgsave_status", &st);
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
	const char *bgsave[2] = { "BGSAVE", "SCHEDULE" };
	struct redis_conn *c;
	struct redis_reply rep;
	struct buf dir;
	struct buf file;
	struct buf path;
	struct stat sb;
	long long t0;
	int err;

	err = conn_open(r, &c);
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
	r->ops->set_quiet(c, true);
	err = cmd(r, c, &rep, 2, bgsave);
	redis_reply_release(&rep);
	r->ops->set_quiet(c, false);
	if (err && strstr(r->ops->last_error(c), "already in progress")) {
		err = 0;
	} else if (err) {
		log_error("redis '%s': BGSAVE: %s", r->ds->name,
			  r->ops->last_error(c));
		goto out_close;
	}
	err = bgsave_wait(r, c, t0);
	if (err)
		goto out_close;
	err = config_get(r, c, "dir", &dir);
	if (!err)
		err = config_get(r, c, "dbfilename", &file);
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
	struct redis_ds *r = rds(ds);
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

/* ---- recover in place ---- */

/* What recover learns from the server before stopping it. */
struct redis_site {
	struct buf dir;	   /* data dir */
	struct buf dbfile; /* dbfilename */
	struct buf conf;   /* the server's config file, or "" */
	struct buf aofdir; /* appenddirname (Redis 7), or "" */
	bool aof;	   /* appendonly yes */
	long pid;	   /* process_id, 0 unknown */
	/* paths */
	struct buf rdb;	     /* dir/dbfile */
	struct buf rdb_new;  /* dir/.dbfile.trovefs-new */
	struct buf rdb_old;  /* dir/dbfile.trovefs-old */
	struct buf aof_path; /* dir/aofdir */
	struct buf aof_old;  /* dir/aofdir.trovefs-old */
	char *conf_orig;     /* owned: the config file as it was */
	size_t conf_orig_len;
	bool had_rdb;	   /* dump file existed (moved to rdb_old) */
	bool had_aof;	   /* AOF dir existed (moved to aof_old) */
	bool conf_changed; /* config file holds "appendonly no" */
};

static void site_init(struct redis_site *st)
{
	memset(st, 0, sizeof(*st));
	buf_init(&st->dir, REDIS_PATH_MAX);
	buf_init(&st->dbfile, REDIS_PATH_MAX);
	buf_init(&st->conf, REDIS_PATH_MAX);
	buf_init(&st->aofdir, REDIS_PATH_MAX);
	buf_init(&st->rdb, 2 * REDIS_PATH_MAX);
	buf_init(&st->rdb_new, 2 * REDIS_PATH_MAX);
	buf_init(&st->rdb_old, 2 * REDIS_PATH_MAX);
	buf_init(&st->aof_path, 2 * REDIS_PATH_MAX);
	buf_init(&st->aof_old, 2 * REDIS_PATH_MAX);
}

static void site_release(struct redis_site *st)
{
	buf_release(&st->dir);
	buf_release(&st->dbfile);
	buf_release(&st->conf);
	buf_release(&st->aofdir);
	buf_release(&st->rdb);
	buf_release(&st->rdb_new);
	buf_release(&st->rdb_old);
	buf_release(&st->aof_path);
	buf_release(&st->aof_old);
	free(st->conf_orig);
}

/* Asks the running server where its files are. */
static int site_probe(struct redis_ds *r, struct redis_site *st)
{
	struct redis_conn *c;
	struct buf v;
	int err;

	err = conn_open(r, &c);
	if (err)
		return err;
	buf_init(&v, REDIS_PATH_MAX);
	if (r->data_dir)
		err = buf_puts(&st->dir, r->data_dir);
	else
		err = config_get(r, c, "dir", &st->dir);
	if (err)
		goto out_close;
	if (r->dbfilename)
		err = buf_puts(&st->dbfile, r->dbfilename);
	else
		err = config_get(r, c, "dbfilename", &st->dbfile);
	if (err)
		goto out_close;
	err = config_get(r, c, "appendonly", &v);
	if (err)
		goto out_close;
	st->aof = strcmp(buf_str(&v), "yes") == 0;
	r->ops->set_quiet(c, true);
	err = config_get(r, c, "appenddirname", &st->aofdir);
	r->ops->set_quiet(c, false);
	if (err == -ENOENT || err == -EINVAL || err == -EIO) {
		/* before Redis 7: one file, appendfilename */
		err = config_get(r, c, "appendfilename", &st->aofdir);
	}
	if (err)
		goto out_close;
	if (r->config_file) {
		err = buf_puts(&st->conf, r->config_file);
	} else {
		err = info_get(r, c, "server", "config_file", &st->conf);
		if (err == -ENOENT)
			err = 0;
	}
	if (err)
		goto out_close;
	err = info_get(r, c, "server", "process_id", &v);
	if (err == 0)
		st->pid = strtol(buf_str(&v), NULL, 10);
	err = 0;
	buf_printf(&st->rdb, "%s/%s", buf_str(&st->dir), buf_str(&st->dbfile));
	buf_printf(&st->rdb_new, "%s/.%s.trovefs-new", buf_str(&st->dir),
		   buf_str(&st->dbfile));
	buf_printf(&st->rdb_old, "%s/%s.trovefs-old", buf_str(&st->dir),
		   buf_str(&st->dbfile));
	buf_printf(&st->aof_path, "%s/%s", buf_str(&st->dir),
		   buf_str(&st->aofdir));
	buf_printf(&st->aof_old, "%s/%s.trovefs-old", buf_str(&st->dir),
		   buf_str(&st->aofdir));
	if (st->rdb.err || st->rdb_new.err || st->rdb_old.err ||
	    st->aof_path.err || st->aof_old.err)
		err = -ENAMETOOLONG;
out_close:
	buf_release(&v);
	r->ops->close(c);
	return err;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Runs @argv (argv[0] looked up in PATH) and waits at most @timeout
 * seconds (@what names it in logs). The child keeps no descriptor of
 * ours but 0-2 (/dev/fuse must not leak into a daemonized server), and
 * none of our signal state: exec keeps the blocked mask and ignored
 * signals, and libfuse's threads block HUP, INT, QUIT and TERM, so a
 * server started from here would ignore SIGTERM. Returns 0 if it exited
 * 0, -EIO (non-zero exit, with a log line), -ETIMEDOUT (killed), -errno.
 */
static int spawn_wait(struct redis_ds *r, const char *const argv[],
		      double timeout, const char *what)
{
	unsigned waited = 0;
	unsigned limit = (unsigned)(timeout * 1000);
	struct sigaction dfl;
	sigset_t none;
	int status;
	pid_t pid;
	pid_t w;
	int devnull;
	int sig;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigemptyset(&none);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(devnull);
		return -errno;
	}
	if (pid == 0) {
		/* async-signal-safe calls only until exec */
		for (sig = 1; sig < NSIG; sig++)
			sigaction(sig, &dfl, NULL); /* KILL, STOP: EINVAL */
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		dup2(devnull, 0);
		close_range(3, ~0U, 0);
		/* execvp() does not change the strings */
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(devnull);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (waited >= limit) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			log_error(
				"redis '%s': '%s' did not return within %.0f s, killed",
				r->ds->name, what, timeout);
			return -ETIMEDOUT;
		}
		real_sleep_ms(REDIS_SPAWN_POLL_MS);
		waited += REDIS_SPAWN_POLL_MS;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	log_error("redis '%s': '%s' failed (%s %d)", r->ds->name, what,
		  WIFEXITED(status) ? "exit status" : "signal",
		  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -EIO;
}

static int run_shell(struct redis_ds *r, const char *cmdline, double timeout)
{
	const char *argv[4] = { "/bin/sh", "-c", cmdline, NULL };

	return spawn_wait(r, argv, timeout, cmdline);
}

/* A quiet connection (polling): failures are not errors yet. */
static int conn_open_quiet(struct redis_ds *r, struct redis_conn **out)
{
	struct redis_addr a = r->addr;

	a.quiet = true;
	return r->ops->connect(&a, out);
}

static bool err_is_down(int err)
{
	return err == -ECONNREFUSED || err == -ECONNRESET ||
	       err == -EHOSTUNREACH || err == -ENOENT;
}

/*
 * True once process @pid has exited. A zombie has: its files are closed
 * and its port is free, but kill(pid, 0) succeeds until its parent reaps
 * it, and a daemonized server's parent is init, which may take a second
 * (hence the state letter of /proc/PID/stat; without /proc only kill()
 * tells).
 */
static bool pid_is_gone(long pid)
{
	char path[64];
	char stat_line[512];
	const char *p;
	ssize_t n;
	int fd;

	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return true;
	n = snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	do {
		n = read(fd, stat_line, sizeof(stat_line) - 1);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return false;
	stat_line[n] = '\0';
	/* "PID (COMM) S ...": COMM may hold ')' itself, S follows the last */
	p = strrchr(stat_line, ')');
	if (!p || p[1] != ' ')
		return false;
	return p[2] == 'Z' || p[2] == 'X';
}

/* Waits until the server (@pid if known, else its address) is gone. */
static int wait_down(struct redis_ds *r, long pid)
{
	unsigned limit = (unsigned)(r->start_timeout * 1000);
	unsigned waited = 0;
	struct redis_conn *c;
	int err;

	for (;;) {
		if (pid > 0) {
			if (pid_is_gone(pid))
				return 0;
		} else {
			err = conn_open_quiet(r, &c);
			if (err_is_down(err))
				return 0;
			if (!err)
				r->ops->close(c);
		}
		if (waited >= limit) {
			log_error(
				"redis '%s': the server did not stop within %.0f s",
				r->ds->name, r->start_timeout);
			return -ETIMEDOUT;
		}
		r->ops->sleep_ms(REDIS_UP_POLL_MS);
		waited += REDIS_UP_POLL_MS;
	}
}

/* Stops the server (a server already down is fine). */
static int server_stop(struct redis_ds *r)
{
	const char *shutdown_argv[1] = { "SHUTDOWN" };
	struct redis_reply rep;
	struct redis_conn *c;
	struct buf v;
	long pid = 0;
	int err;

	err = conn_open_quiet(r, &c);
	if (err_is_down(err))
		return 0;
	if (err)
		return err;
	buf_init(&v, 64);
	if (info_get(r, c, "server", "process_id", &v) == 0)
		pid = strtol(buf_str(&v), NULL, 10);
	buf_release(&v);
	if (r->stop_command) {
		r->ops->close(c);
		err = run_shell(r, r->stop_command, r->start_timeout);
		if (err)
			return err;
	} else {
		r->ops->set_quiet(c, true);
		err = cmd(r, c, &rep, 1, shutdown_argv);
		redis_reply_release(&rep);
		if (err && !err_is_down(err)) {
			log_error("redis '%s': SHUTDOWN: %s", r->ds->name,
				  r->ops->last_error(c)[0]
					  ? r->ops->last_error(c)
					  : strerror(-err));
			r->ops->close(c);
			return err;
		}
		r->ops->close(c);
	}
	return wait_down(r, pid);
}

/* Waits until the server answers PING (LOADING is waited out). */
static int wait_up(struct redis_ds *r)
{
	const char *ping[1] = { "PING" };
	unsigned limit = (unsigned)(r->start_timeout * 1000);
	unsigned waited = 0;
	struct redis_reply rep;
	struct redis_conn *c;
	int err;

	for (;;) {
		err = conn_open_quiet(r, &c);
		if (err == -EACCES)
			return err;
		if (!err) {
			r->ops->set_quiet(c, true);
			err = cmd(r, c, &rep, 1, ping);
			redis_reply_release(&rep);
			r->ops->close(c);
			if (!err)
				return 0;
			if (err == -EACCES)
				return err;
		}
		if (waited >= limit) {
			log_error(
				"redis '%s': the server did not come up within %.0f s: %s",
				r->ds->name, r->start_timeout, strerror(-err));
			return -ETIMEDOUT;
		}
		r->ops->sleep_ms(REDIS_UP_POLL_MS);
		waited += REDIS_UP_POLL_MS;
	}
}

static int server_start(struct redis_ds *r, const struct redis_site *st)
{
	const char *argv[5];
	int err;

	if (r->start_command) {
		err = run_shell(r, r->start_command, r->start_timeout);
	} else {
		argv[0] = "redis-server";
		argv[1] = buf_str(&st->conf);
		argv[2] = "--daemonize";
		argv[3] = "yes";
		argv[4] = NULL;
		err = spawn_wait(r, argv, r->start_timeout, "redis-server");
	}
	if (err)
		return err;
	return wait_up(r);
}

/* Reads a whole small file into *@out (owned). */
static int read_file(const char *path, char **out, size_t *len)
{
	struct stat sb;
	char *p;
	ssize_t n;
	size_t off = 0;
	int fd;
	int err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || sb.st_size > (off_t)REDIS_CONFIG_MAX) {
		err = sb.st_size > (off_t)REDIS_CONFIG_MAX ? -EFBIG : -errno;
		close(fd);
		return err;
	}
	p = malloc((size_t)sb.st_size + 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)sb.st_size) {
		n = read(fd, p + off, (size_t)sb.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (err) {
		free(p);
		return err;
	}
	p[off] = '\0';
	*out = p;
	*len = off;
	return 0;
}

/* Replaces @path atomically with @data (temp file, fsync, rename). */
static int write_file_atomic(const char *path, const char *data, size_t len,
			     mode_t mode)
{
	struct buf tmp;
	ssize_t n;
	size_t off = 0;
	int fd;
	int err = 0;

	buf_init(&tmp, 2 * REDIS_PATH_MAX);
	if (buf_printf(&tmp, "%s.trovefs-tmp", path))
		return tmp.err;
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  mode & 07777);
	if (fd < 0) {
		err = -errno;
		goto out_release;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!err && (fchmod(fd, mode & 07777) < 0 || fsync(fd) < 0))
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(buf_str(&tmp), path) < 0)
		err = -errno;
	if (err)
		unlink(buf_str(&tmp));
out_release:
	buf_release(&tmp);
	return err;
}

/* The config file with every "appendonly ..." line set to "no". */
static int conf_aof_off(const char *orig, struct buf *out)
{
	const char *p = orig;
	const char *eol;
	const char *k;
	bool found = false;

	while (*p) {
		eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		k = p;
		while (k < eol && (*k == ' ' || *k == '\t'))
			k++;
		if (eol - k > 10 && strncasecmp(k, "appendonly", 10) == 0 &&
		    (k[10] == ' ' || k[10] == '\t')) {
			buf_puts(out, "appendonly no");
			found = true;
		} else {
			buf_append(out, p, (size_t)(eol - p));
		}
		if (*eol == '\n') {
			buf_puts(out, "\n");
			eol++;
		}
		p = eol;
	}
	if (!found) {
		if (out->len > 0 && out->data[out->len - 1] != '\n')
			buf_puts(out, "\n");
		buf_puts(out, "appendonly no\n");
	}
	return out->err;
}

static int conf_set_aof_off(struct redis_ds *r, struct redis_site *st)
{
	struct stat sb;
	struct buf b;
	int err;

	if (stat(buf_str(&st->conf), &sb) < 0)
		return -errno;
	buf_init(&b, 2 * REDIS_CONFIG_MAX);
	err = conf_aof_off(st->conf_orig, &b);
	if (!err)
		err = write_file_atomic(buf_str(&st->conf), buf_str(&b), b.len,
					sb.st_mode);
	buf_release(&b);
	if (err)
		log_error("redis '%s': cannot write '%s': %s", r->ds->name,
			  buf_str(&st->conf), strerror(-err));
	else
		st->conf_changed = true;
	return err;
}

static int conf_put_back(struct redis_ds *r, struct redis_site *st)
{
	struct stat sb;
	int err;

	if (!st->conf_changed)
		return 0;
	if (stat(buf_str(&st->conf), &sb) < 0)
		sb.st_mode = 0640;
	err = write_file_atomic(buf_str(&st->conf), st->conf_orig,
				st->conf_orig_len, sb.st_mode);
	if (err)
		log_error("redis '%s': cannot restore '%s': %s", r->ds->name,
			  buf_str(&st->conf), strerror(-err));
	else
		st->conf_changed = false;
	return err;
}

/* Removes a flat directory (the AOF dir: base, incr, manifest). */
static int remove_dir_flat(const char *path)
{
	struct dirent *e;
	DIR *d;
	int err = 0;

	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && !err)
			err = -errno;
	}
	closedir(d);
	if (!err && rmdir(path) < 0)
		err = -errno;
	return err;
}

/* Removes a file or a flat directory; absent is fine. */
static int remove_path(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(sb.st_mode))
		return remove_dir_flat(path);
	return unlink(path) < 0 ? -errno : 0;
}

/* Renames, reporting whether @from existed. */
static int move_aside(struct redis_ds *r, const char *from, const char *to,
		      bool *existed)
{
	int err;

	*existed = false;
	err = remove_path(to); /* a leftover of a crashed recover */
	if (err)
		return err;
	if (rename(from, to) < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		log_error("redis '%s': cannot rename '%s' to '%s': %s",
			  r->ds->name, from, to, strerror(-err));
		return err;
	}
	*existed = true;
	return 0;
}

/* Turns AOF on in the running server and waits for the rewrite. */
static int aof_enable(struct redis_ds *r)
{
	const char *set[4] = { "CONFIG", "SET", "appendonly", "yes" };
	const char *info[2] = { "INFO", "persistence" };
	unsigned limit = (unsigned)(r->start_timeout * 1000);
	unsigned waited = 0;
	struct redis_reply rep;
	struct redis_conn *c;
	struct buf a;
	struct buf b;
	struct buf e;
	struct buf s;
	int err;

	err = conn_open(r, &c);
	if (err)
		return err;
	buf_init(&a, 64);
	buf_init(&b, 64);
	buf_init(&e, 64);
	buf_init(&s, 64);
	err = cmd(r, c, &rep, 4, set);
	redis_reply_release(&rep);
	while (!err) {
		err = cmd(r, c, &rep, 2, info);
		if (err)
			break;
		if (rep.type != REDIS_R_STRING ||
		    redis_info_get(rep.str, "aof_rewrite_in_progress", &a) ||
		    redis_info_get(rep.str, "aof_rewrite_scheduled", &b) ||
		    redis_info_get(rep.str, "aof_enabled", &e)) {
			redis_reply_release(&rep);
			err = -EPROTO;
			break;
		}
		if (redis_info_get(rep.str, "aof_last_bgrewrite_status", &s))
			buf_reset(&s);
		redis_reply_release(&rep);
		if (strcmp(buf_str(&a), "0") == 0 &&
		    strcmp(buf_str(&b), "0") == 0 &&
		    strcmp(buf_str(&e), "1") == 0) {
			if (strcmp(buf_str(&s), "err") == 0) {
				log_error("redis '%s': the AOF rewrite failed",
					  r->ds->name);
				err = -EIO;
			}
			break;
		}
		if (waited >= limit) {
			log_error(
				"redis '%s': the AOF rewrite did not finish within %.0f s",
				r->ds->name, r->start_timeout);
			err = -ETIMEDOUT;
			break;
		}
		r->ops->sleep_ms(REDIS_POLL_MS);
		waited += REDIS_POLL_MS;
	}
	buf_release(&a);
	buf_release(&b);
	buf_release(&e);
	buf_release(&s);
	r->ops->close(c);
	return err;
}

/*
 * Brings the previous data back after a failed step: stop whatever runs,
 * put the old dump file, AOF dir and config file back, start.
 */
static int rollback(struct redis_ds *r, struct redis_site *st)
{
	int err;

	ds_set_step(r->ds, "rolling back to the previous data");
	err = server_stop(r);
	if (err)
		log_error("redis '%s': rollback: cannot stop the server: %s",
			  r->ds->name, strerror(-err));
	if (st->had_rdb) {
		if (rename(buf_str(&st->rdb_old), buf_str(&st->rdb)) < 0)
			log_error(
				"redis '%s': rollback: cannot rename '%s' back: %s",
				r->ds->name, buf_str(&st->rdb_old),
				strerror(errno));
	} else {
		remove_path(buf_str(&st->rdb));
	}
	if (st->aof) {
		remove_path(buf_str(&st->aof_path));
		if (st->had_aof &&
		    rename(buf_str(&st->aof_old), buf_str(&st->aof_path)) < 0)
			log_error(
				"redis '%s': rollback: cannot rename '%s' back: %s",
				r->ds->name, buf_str(&st->aof_old),
				strerror(errno));
	}
	fsync_dir(buf_str(&st->dir));
	conf_put_back(r, st);
	err = server_start(r, st);
	if (err) {
		/* the start command may fail once (test wrappers, systemd
		 * rate limits): one more try */
		err = server_start(r, st);
	}
	if (err)
		log_error("redis '%s': rollback: the server does not run: %s",
			  r->ds->name, strerror(-err));
	else
		log_warn(
			"redis '%s': rolled back: the server runs on its previous data",
			r->ds->name);
	return err;
}

/*
 * A recover being staged: the server's files as probed, and the backup
 * being written to rdb_new beside dbfilename while the server runs.
 */
struct ds_stage {
	struct redis_ds *r;
	struct redis_site st;
	int fd;		  /* rdb_new while written, else -1 */
	uint64_t written; /* bytes in rdb_new */
	uint64_t flushed; /* of them, handed to writeback */
	bool staged;	  /* rdb_new is ours and still there */
};

static void redis_stage_free(struct ds_stage *sg)
{
	if (!sg)
		return;
	if (sg->fd >= 0)
		close(sg->fd);
	if (sg->staged)
		unlink(buf_str(&sg->st.rdb_new));
	site_release(&sg->st);
	free(sg);
}

/* Probes the server and creates rdb_new (owner and mode of dbfilename). */
static int redis_stage_open(struct ds *ds, const char *name,
			    struct ds_stage **out)
{
	struct redis_ds *r = rds(ds);
	struct ds_stage *sg;
	const char *path;
	struct stat sb;
	int err;

	sg = calloc(1, sizeof(*sg));
	if (!sg)
		return -ENOMEM;
	sg->r = r;
	sg->fd = -1;
	site_init(&sg->st);
	ds_set_step(ds, "probing the server before recovering '%s'", name);
	err = site_probe(r, &sg->st);
	if (err)
		goto out_free;
	if ((sg->st.aof || !r->start_command) && !sg->st.conf.len) {
		log_error(
			"redis '%s': the server's config file is unknown (started without one?): set config_file or start_command",
			ds->name);
		err = -EINVAL;
		goto out_free;
	}
	if (sg->st.aof) {
		err = read_file(buf_str(&sg->st.conf), &sg->st.conf_orig,
				&sg->st.conf_orig_len);
		if (err) {
			log_error("redis '%s': cannot read '%s': %s", ds->name,
				  buf_str(&sg->st.conf), strerror(-err));
			goto out_free;
		}
	}
	path = buf_str(&sg->st.rdb_new);
	unlink(path); /* a leftover of a crashed recover */
	sg->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (sg->fd < 0) {
		err = -errno;
		log_error("redis '%s': cannot create '%s': %s", ds->name, path,
			  strerror(-err));
		goto out_free;
	}
	sg->staged = true;
	if (stat(buf_str(&sg->st.rdb), &sb) == 0) {
		if (fchown(sg->fd, sb.st_uid, sb.st_gid) < 0 ||
		    fchmod(sg->fd, sb.st_mode & 07777) < 0)
			log_warn(
				"redis '%s': cannot copy owner and mode of '%s' to '%s'",
				ds->name, buf_str(&sg->st.rdb), path);
	}
	*out = sg;
	return 0;
out_free:
	redis_stage_free(sg);
	return err;
}

static int redis_stage_write(struct ds_stage *sg, const void *p, size_t len)
{
	const char *c = p;
	size_t off = 0;
	ssize_t n;
	int err;

	while (off < len) {
		n = write(sg->fd, c + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			log_error("redis '%s': cannot write '%s': %s",
				  sg->r->ds->name, buf_str(&sg->st.rdb_new),
				  strerror(-err));
			return err;
		}
		off += (size_t)n;
	}
	sg->written += len;
	/*
	 * Start writeback of what is complete now, so the disk works while
	 * the backup is still being read and the final fsync has little
	 * left; only a hint (fsync reports errors), hence no check.
	 */
	if (sg->written - sg->flushed >= REDIS_WRITEBACK) {
		(void)sync_file_range(sg->fd, (off_t)sg->flushed,
				      (off_t)(sg->written - sg->flushed),
				      SYNC_FILE_RANGE_WRITE);
		sg->flushed = sg->written;
	}
	return 0;
}

static int redis_stage_sync(struct ds_stage *sg)
{
	const char *path = buf_str(&sg->st.rdb_new);
	int err = 0;

	if (fsync(sg->fd) < 0) {
		err = -errno;
		log_error("redis '%s': cannot fsync '%s': %s", sg->r->ds->name,
			  path, strerror(-err));
	}
	if (close(sg->fd) < 0 && !err) {
		err = -errno;
		log_error("redis '%s': cannot write '%s': %s", sg->r->ds->name,
			  path, strerror(-err));
	}
	sg->fd = -1;
	return err;
}

/* Stops the server, swaps the staged file in, starts it (see the docs). */
static int redis_stage_apply(struct ds_stage *sg)
{
	struct redis_ds *r = sg->r;
	struct redis_site *st = &sg->st;
	struct ds *ds = r->ds;
	int err;
	int rerr;

	ds_set_step(ds, "stopping the server");
	err = server_stop(r);
	if (err)
		goto out_rollback;
	/* 1. swap the files */
	ds_set_step(ds, "replacing '%s'", buf_str(&st->rdb));
	err = move_aside(r, buf_str(&st->rdb), buf_str(&st->rdb_old),
			 &st->had_rdb);
	if (!err && st->aof)
		err = move_aside(r, buf_str(&st->aof_path),
				 buf_str(&st->aof_old), &st->had_aof);
	if (!err && rename(buf_str(&st->rdb_new), buf_str(&st->rdb)) < 0) {
		err = -errno;
		log_error("redis '%s': cannot rename '%s': %s", ds->name,
			  buf_str(&st->rdb_new), strerror(-err));
	}
	if (!err)
		sg->staged = false;
	if (!err)
		err = fsync_dir(buf_str(&st->dir));
	if (!err && st->aof)
		err = conf_set_aof_off(r, st);
	if (err)
		goto out_rollback;
	/* 2. start on the backup, with AOF off so the RDB is what loads */
	ds_set_step(ds, "starting the server");
	err = server_start(r, st);
	if (err)
		goto out_rollback;
	/* 3. AOF back on: Redis rewrites a fresh multi-part AOF dir */
	if (st->aof) {
		ds_set_step(ds, "rewriting the AOF");
		err = aof_enable(r);
		if (err)
			goto out_rollback;
		err = conf_put_back(r, st);
		if (err)
			return err;
	}
	ds_set_step(ds, "cleaning up");
	remove_path(buf_str(&st->rdb_old));
	if (st->aof)
		remove_path(buf_str(&st->aof_old));
	return 0;
out_rollback:
	if (sg->staged) {
		unlink(buf_str(&st->rdb_new));
		sg->staged = false;
	}
	rerr = rollback(r, st);
	if (!rerr) {
		remove_path(buf_str(&st->rdb_old));
		if (st->aof && st->had_aof)
			remove_path(buf_str(&st->aof_old));
	}
	return err;
}

/* ---- status, replication files ---- */

static int redis_status(struct ds *ds, struct buf *out)
{
	struct redis_ds *r = rds(ds);

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
			(*all)[n++] = rds(set->v[i])->addr;
	memset(env, 0, sizeof(*env));
	env->self = &rds(ds)->addr;
	env->all = *all;
	env->nall = n;
	env->wait_timeout = rds(ds)->timeout;
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
