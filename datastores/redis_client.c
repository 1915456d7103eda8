/*
 * redis_client.c - the thin hiredis wrapper (contract in redis_client.h):
 * connect with timeouts and AUTH, one command at a time with replies
 * flattened into struct redis_reply, the Redis/hiredis -> errno mapping,
 * and raw reads for replication-protocol transfers (SYNC).
 *
 * Raw reads: after redis_send() the server may answer with bytes that are
 * not RESP (the RDB payload of a SYNC). hiredis may already hold some of
 * them in its reader buffer (c->reader->buf[pos..len)) from an earlier
 * redisBufferRead(); those are consumed first, by advancing reader->pos,
 * and only then is the socket read directly with poll() + read(). Once a
 * connection has been used for raw reads it must not be used for ordinary
 * commands again (its RESP state is gone): callers close it.
 *
 * Invariants: a struct redis_conn is used by one thread at a time; no
 * hiredis type leaves datastores/redis*.c. No locks.
 */
#include "redis_client.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "../conf/log.h"

#define REDIS_ARGV_MAX 32   /* redis_commandv() arguments */
#define REDIS_LINE_MAX 4096 /* redis_read_line() */
#define REDIS_ERRTEXT_MAX 256

struct redis_conn {
	redisContext *ctx; /* owned */
	char name[64];	   /* datastore name, for log lines */
	double timeout;	   /* seconds */
	bool quiet;	   /* error replies logged at debug level */
	char last_error[REDIS_ERRTEXT_MAX];
};

void redis_reply_release(struct redis_reply *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nelements; i++)
		redis_reply_release(&r->elements[i]);
	free(r->elements);
	free(r->str);
	memset(r, 0, sizeof(*r));
}

static bool prefix_is(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int redis_error_errno(const char *err_text)
{
	if (!err_text)
		return -EIO;
	if (prefix_is(err_text, "NOAUTH") || prefix_is(err_text, "WRONGPASS") ||
	    prefix_is(err_text, "NOPERM"))
		return -EACCES;
	/* Redis < 6 says "ERR invalid password" for a bad AUTH */
	if (prefix_is(err_text, "ERR invalid password") ||
	    prefix_is(err_text, "ERR Client sent AUTH, but no password"))
		return -EACCES;
	if (prefix_is(err_text, "LOADING"))
		return -EAGAIN;
	if (prefix_is(err_text, "BUSY") || prefix_is(err_text, "MASTERDOWN"))
		return -EBUSY;
	if (prefix_is(err_text, "OOM"))
		return -ENOMEM;
	if (prefix_is(err_text, "MISCONF"))
		return -EIO;
	if (prefix_is(err_text, "READONLY"))
		return -EROFS;
	/* a replica asked for a sync (a backup) while its master is away */
	if (prefix_is(err_text, "NOMASTERLINK"))
		return -ENOTCONN;
	if (prefix_is(err_text, "ERR unknown command") ||
	    prefix_is(err_text, "ERR unknown subcommand") ||
	    prefix_is(err_text, "ERR syntax error") ||
	    prefix_is(err_text, "ERR wrong number of arguments"))
		return -EINVAL;
	return -EIO;
}

int redis_ctx_errno(int hiredis_err, int sys_errno)
{
	switch (hiredis_err) {
	case 0:
		return 0;
	case REDIS_ERR_IO:
		switch (sys_errno) {
		case ECONNREFUSED:
		case ENOENT: /* unix socket absent: nobody listens */
			return -ECONNREFUSED;
		case ETIMEDOUT:
		case EAGAIN: /* SO_RCVTIMEO expired */
		case EINPROGRESS:
			return -ETIMEDOUT;
		case EHOSTUNREACH:
		case ENETUNREACH:
		case EADDRNOTAVAIL:
			return -EHOSTUNREACH;
		case ECONNRESET:
		case EPIPE:
			return -ECONNRESET;
		case EACCES:
		case EPERM:
			return -EACCES;
		case ENOMEM:
			return -ENOMEM;
		default:
			return -EIO;
		}
	case REDIS_ERR_EOF:
		return -ECONNRESET;
	case REDIS_ERR_PROTOCOL:
		return -EPROTO;
	case REDIS_ERR_OOM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Maps and logs the context's error; @what says what was being done. */
static int conn_fail(struct redis_conn *c, const char *what, int sys_errno)
{
	int err = redis_ctx_errno(c->ctx->err, sys_errno);

	if (err == 0)
		err = -EIO;
	if (c->quiet)
		log_debug("redis '%s': %s: %s", c->name, what, c->ctx->errstr);
	else
		log_error("redis '%s': %s: %s", c->name, what, c->ctx->errstr);
	return err;
}

static struct timeval timeval_of(double seconds)
{
	struct timeval tv;

	if (seconds <= 0)
		seconds = 10;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* Flattens a hiredis reply (not an error reply) into @out. */
static int reply_convert(const redisReply *in, struct redis_reply *out)
{
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	switch (in->type) {
	case REDIS_REPLY_NIL:
		out->type = REDIS_R_NIL;
		return 0;
	case REDIS_REPLY_INTEGER:
		out->type = REDIS_R_INTEGER;
		out->integer = in->integer;
		return 0;
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_STRING:
		out->type = in->type == REDIS_REPLY_STATUS ? REDIS_R_STATUS
							   : REDIS_R_STRING;
		out->str = malloc((size_t)in->len + 1);
		if (!out->str)
			return -ENOMEM;
		memcpy(out->str, in->str, (size_t)in->len);
		out->str[in->len] = '\0';
		out->len = (size_t)in->len;
		return 0;
	case REDIS_REPLY_ARRAY:
		out->type = REDIS_R_ARRAY;
		if (in->elements == 0)
			return 0;
		out->elements = calloc(in->elements, sizeof(*out->elements));
		if (!out->elements)
			return -ENOMEM;
		for (i = 0; i < in->elements; i++) {
			/* nelements counts converted ones, for release */
			out->nelements = i + 1;
			err = reply_convert(in->element[i], &out->elements[i]);
			if (err) {
				redis_reply_release(out);
				return err;
			}
		}
		return 0;
	default:
		return -EPROTO;
	}
}

/*
 * Turns an error reply into -errno, remembering and logging its text.
 * @cmd is argv[0]; never an argument (AUTH carries the password).
 */
static int reply_error(struct redis_conn *c, const char *cmd,
		       const redisReply *r)
{
	int n = snprintf(c->last_error, sizeof(c->last_error), "%.*s",
			 (int)(r->len > INT_MAX ? INT_MAX : r->len), r->str);

	if (n < 0)
		c->last_error[0] = '\0';
	if (c->quiet)
		log_debug("redis '%s': %s: %s", c->name, cmd, c->last_error);
	else
		log_error("redis '%s': %s: %s", c->name, cmd, c->last_error);
	return redis_error_errno(c->last_error);
}

int redis_command(struct redis_conn *c, struct redis_reply *reply, int argc,
		  const char **argv, const size_t *lens)
{
	redisReply *r;
	int sys_errno;
	int err;

	memset(reply, 0, sizeof(*reply));
	c->last_error[0] = '\0';
	if (argc < 1)
		return -EINVAL;
	errno = 0;
	r = redisCommandArgv(c->ctx, argc, argv, lens);
	sys_errno = errno;
	if (!r)
		return conn_fail(c, argv[0], sys_errno);
	if (r->type == REDIS_REPLY_ERROR)
		err = reply_error(c, argv[0], r);
	else
		err = reply_convert(r, reply);
	freeReplyObject(r);
	return err;
}

int redis_commandv(struct redis_conn *c, struct redis_reply *reply, ...)
{
	const char *argv[REDIS_ARGV_MAX];
	const char *a;
	va_list ap;
	int argc = 0;

	va_start(ap, reply);
	while ((a = va_arg(ap, const char *)) != NULL) {
		if (argc == REDIS_ARGV_MAX) {
			va_end(ap);
			memset(reply, 0, sizeof(*reply));
			return -E2BIG;
		}
		argv[argc++] = a;
	}
	va_end(ap);
	return redis_command(c, reply, argc, argv, NULL);
}

static int conn_auth(struct redis_conn *c, const struct redis_addr *addr)
{
	const char *argv[3];
	struct redis_reply r;
	int argc = 0;
	int err;

	argv[argc++] = "AUTH";
	if (addr->user)
		argv[argc++] = addr->user;
	argv[argc++] = addr->password;
	err = redis_command(c, &r, argc, argv, NULL);
	redis_reply_release(&r);
	if (err == -EIO)
		err = -EACCES; /* any refusal of AUTH is an auth failure */
	return err;
}

int redis_connect(const struct redis_addr *addr, struct redis_conn **out)
{
	struct redis_conn *c;
	struct timeval tv = timeval_of(addr->timeout);
	int sys_errno;
	int err;
	int n;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	n = snprintf(c->name, sizeof(c->name), "%s",
		     addr->name ? addr->name : "?");
	if (n < 0)
		c->name[0] = '\0'; /* a truncated name is fine for logs */
	c->timeout = addr->timeout > 0 ? addr->timeout : 10;
	errno = 0;
	if (addr->unix_path)
		c->ctx = redisConnectUnixWithTimeout(addr->unix_path, tv);
	else
		c->ctx = redisConnectWithTimeout(
			addr->host ? addr->host : "127.0.0.1", addr->port, tv);
	sys_errno = errno;
	if (!c->ctx) {
		free(c);
		return -ENOMEM;
	}
	if (c->ctx->err) {
		if (c->ctx->err == REDIS_ERR_OTHER) /* resolver, socket() */
			err = -EHOSTUNREACH;
		else
			err = redis_ctx_errno(c->ctx->err, sys_errno);
		if (err == -EIO && strstr(c->ctx->errstr, "refused"))
			err = -ECONNREFUSED;
		log_msg(addr->quiet ? LOG_DEBUG : LOG_ERR,
			"redis '%s': cannot connect to '%s:%d': %s", c->name,
			addr->unix_path
				? addr->unix_path
				: (addr->host ? addr->host : "127.0.0.1"),
			addr->unix_path ? 0 : addr->port, c->ctx->errstr);
		goto out_free;
	}
	if (redisSetTimeout(c->ctx, tv) != REDIS_OK) {
		err = conn_fail(c, "set timeout", errno);
		goto out_free;
	}
	c->quiet = addr->quiet;
	if (addr->password) {
		err = conn_auth(c, addr);
		if (err)
			goto out_free;
	}
	c->quiet = false;
	*out = c;
	return 0;
out_free:
	redisFree(c->ctx);
	free(c);
	return err;
}

void redis_close(struct redis_conn *c)
{
	if (!c)
		return;
	redisFree(c->ctx);
	free(c);
}

void redis_set_quiet(struct redis_conn *c, bool quiet)
{
	c->quiet = quiet;
}

const char *redis_last_error(const struct redis_conn *c)
{
	return c->last_error;
}

/* ---- raw stream access ---- */

int redis_send(struct redis_conn *c, int argc, const char **argv,
	       const size_t *lens)
{
	int done = 0;

	c->last_error[0] = '\0';
	if (argc < 1)
		return -EINVAL;
	if (redisAppendCommandArgv(c->ctx, argc, argv, lens) != REDIS_OK)
		return conn_fail(c, argv[0], errno);
	while (!done) {
		errno = 0;
		if (redisBufferWrite(c->ctx, &done) != REDIS_OK)
			return conn_fail(c, argv[0], errno);
	}
	return 0;
}

int redis_read_raw(struct redis_conn *c, void *dst, size_t len, size_t *got)
{
	redisReader *rd = c->ctx->reader;
	struct pollfd pfd;
	ssize_t n;
	int ms;
	int rc;

	*got = 0;
	if (len == 0)
		return 0;
	/* bytes hiredis already took off the socket come first */
	if (rd && rd->buf && rd->pos < rd->len) {
		size_t avail = rd->len - rd->pos;

		if (avail > len)
			avail = len;
		memcpy(dst, rd->buf + rd->pos, avail);
		rd->pos += avail;
		*got = avail;
		return 0;
	}
	pfd.fd = c->ctx->fd;
	pfd.events = POLLIN;
	ms = (int)(c->timeout * 1000);
	for (;;) {
		pfd.revents = 0;
		rc = poll(&pfd, 1, ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			rc = -errno;
			log_error("redis '%s': cannot poll: %s", c->name,
				  strerror(-rc));
			return rc;
		}
		if (rc == 0) {
			log_error("redis '%s': no data for %.1f s", c->name,
				  c->timeout);
			return -ETIMEDOUT;
		}
		n = read(c->ctx->fd, dst, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = redis_ctx_errno(REDIS_ERR_IO, errno);
			log_error("redis '%s': cannot read: %s", c->name,
				  strerror(errno));
			return rc;
		}
		*got = (size_t)n;
		return 0;
	}
}

int redis_read_line(struct redis_conn *c, struct buf *line)
{
	char ch;
	size_t got;
	int err;

	buf_reset(line);
	for (;;) {
		err = redis_read_raw(c, &ch, 1, &got);
		if (err)
			return err;
		if (got == 0) {
			log_error("redis '%s': connection closed mid-line",
				  c->name);
			return -ECONNRESET;
		}
		if (ch == '\n')
			break;
		if (line->len >= REDIS_LINE_MAX) {
			log_error("redis '%s': protocol line too long",
				  c->name);
			return -EPROTO;
		}
		err = buf_append(line, &ch, 1);
		if (err)
			return err;
	}
	if (line->len > 0 && line->data[line->len - 1] == '\r') {
		line->len--;
		line->data[line->len] = '\0';
	}
	return 0;
}

/* ---- INFO ---- */

int redis_info_get(const char *info, const char *key, struct buf *out)
{
	size_t klen = strlen(key);
	const char *p = info;
	const char *end;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			end = p + strcspn(p, "\r\n");
			buf_reset(out);
			return buf_append(out, p, (size_t)(end - p));
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}
