/*
 * redis_client.h - the thin wrapper every Redis code path goes through:
 * connect with timeouts, AUTH, one command at a time, and the one
 * function that turns hiredis and Redis errors into -errno.
 *
 * No hiredis type appears outside datastores/redis*.c. Unit tests replace
 * these functions (cmocka will_return()/mock()), so the drivers above are
 * tested without a server.
 *
 * A struct redis_conn is used by one thread at a time and never shared
 * (hiredis contexts are not thread-safe).
 */
#ifndef DATASTORES_REDIS_CLIENT_H
#define DATASTORES_REDIS_CLIENT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../conf/buf.h"

struct redis_conn;

/* Where a Redis server is and how to log in; strings borrowed. */
struct redis_addr {
	const char *name; /* datastore name, for log lines */
	const char *host; /* NULL when unix is set */
	int port;
	const char *unix_path; /* unix socket, or NULL */
	const char *password;  /* NULL: no AUTH */
	const char *user;      /* ACL user, or NULL (AUTH password only) */
	double timeout;	       /* connect and command timeout, seconds */
	bool quiet;	       /* connect failures logged at debug level
				 * (callers polling for a server to start) */
};

/* A reply, flattened: what callers of this module need. */
enum redis_reply_type {
	REDIS_R_NIL,
	REDIS_R_STATUS,	 /* +OK: str */
	REDIS_R_STRING,	 /* bulk string: str/len */
	REDIS_R_INTEGER, /* integer */
	REDIS_R_ARRAY,	 /* elements */
};

struct redis_reply {
	enum redis_reply_type type;
	char *str; /* owned, NUL-terminated (STATUS, STRING) */
	size_t len;
	long long integer;
	struct redis_reply *elements; /* owned array (ARRAY) */
	size_t nelements;
};

/* Frees what a reply owns; accepts a zeroed reply. */
void redis_reply_release(struct redis_reply *r);

/*
 * Connects and authenticates. Returns 0; -EHOSTUNREACH / -ECONNREFUSED
 * (server down), -ETIMEDOUT, -EACCES (AUTH refused: WRONGPASS,
 * NOAUTH), with one log line naming the datastore. On success the caller
 * closes *@out with redis_close().
 */
int redis_connect(const struct redis_addr *addr, struct redis_conn **out);

/* Closes and frees; accepts NULL. */
void redis_close(struct redis_conn *c);

/*
 * True if @err (of redis_connect()) means nothing serves at the address:
 * -ECONNREFUSED (also a unix socket file that is gone), -EHOSTUNREACH,
 * -ENOENT. Not -ETIMEDOUT: a stalled or unreachable-for-now server is not
 * known to be gone; nor -EACCES or an error reply: something answered.
 */
static inline bool redis_err_no_server(int err)
{
	return err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -ENOENT;
}

/*
 * Runs one command given as argv (binary-safe: @lens may be NULL for C
 * strings). On success *@reply is filled (caller releases it). A Redis
 * error reply becomes a -errno through redis_error_errno() with one log
 * line ("redis 'NAME': CMD: <error>"). Returns 0, -errno.
 */
int redis_command(struct redis_conn *c, struct redis_reply *reply, int argc,
		  const char **argv, const size_t *lens);

/* printf-free convenience for C-string arguments: NULL-terminated list. */
int redis_commandv(struct redis_conn *c, struct redis_reply *reply, ...)
	__attribute__((sentinel));

/*
 * The one mapping from a Redis error reply text to -errno:
 *   NOAUTH, WRONGPASS, NOPERM     -> -EACCES
 *   LOADING                       -> -EAGAIN
 *   BUSY (script), MASTERDOWN     -> -EBUSY
 *   OOM                           -> -ENOMEM
 *   MISCONF                       -> -EIO
 *   READONLY                      -> -EROFS
 *   ERR unknown command / syntax  -> -EINVAL
 *   anything else                 -> -EIO
 */
int redis_error_errno(const char *err_text);

/* The mapping for hiredis connection errors (REDIS_ERR_IO + errno,
 * REDIS_ERR_EOF, REDIS_ERR_TIMEOUT...) given as (type, errno). */
int redis_ctx_errno(int hiredis_err, int sys_errno);

/*
 * Raw stream access for replication-protocol transfers (SYNC / REPLCONF
 * rdb-only): sends a command without reading a reply, then reads raw bytes
 * from the socket through hiredis's buffer. redis_read_line() reads one
 * "\r\n"-terminated line (e.g. "$12345" or "$EOF:<40 bytes>") into @line;
 * redis_read_raw() reads up to @len bytes (*@got; 0 = connection closed).
 * Returns 0 or -errno (-ETIMEDOUT after the timeout).
 */
int redis_send(struct redis_conn *c, int argc, const char **argv,
	       const size_t *lens);
int redis_read_line(struct redis_conn *c, struct buf *line);
int redis_read_raw(struct redis_conn *c, void *dst, size_t len, size_t *got);

/*
 * For callers that accept some error replies (BGSAVE "already in
 * progress", CONFIG REWRITE without a config file, REPLCONF on an old
 * server): while @quiet, error replies are logged at debug level only;
 * the errno is returned as usual. redis_last_error() is the text of the
 * last error reply on @c ("" if the last command succeeded); borrowed,
 * valid until the next command.
 */
void redis_set_quiet(struct redis_conn *c, bool quiet);
const char *redis_last_error(const struct redis_conn *c);

/*
 * INFO section parsing helper: the value of @key in an INFO reply text
 * ("role:master\r\n..."), copied into @out. Returns 0, -ENOENT.
 */
int redis_info_get(const char *info, const char *key, struct buf *out);

#endif /* DATASTORES_REDIS_CLIENT_H */
