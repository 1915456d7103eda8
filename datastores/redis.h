/*
 * redis.h - the Redis datastore driver (struct ds_driver "redis", SPEC
 * section 4, issue 4): live RDB streams (sync: disk-free REPLCONF
 * rdb-only + SYNC; bgsave: BGSAVE then the server's dump file), RDB
 * verification, in-place recover with the AOF procedure, and the
 * replication control files (datastores/redis_repl.h).
 *
 * Config section [redis:NAME] (besides ds.c's container and prefix):
 *   host = 127.0.0.1 | port = 6379 | unix = /run/redis.sock
 *   password_file = FILE (first line; mode 0600) | user = ACL user
 *   mode = sync | bgsave                 (default sync)
 *   timeout = 10          seconds: connect, each command, each stall
 *   save_timeout = 600    bgsave: seconds from BGSAVE until LASTSAVE changed
 *   start_timeout = 120   recover: seconds to wait for stop/start/load
 *   data_dir, dbfilename  recover: where the server's RDB lives
 *                         (default: CONFIG GET dir / dbfilename)
 *   config_file           the server's config (default: INFO config_file)
 *   stop_command          default: SHUTDOWN through the client
 *   start_command         default: redis-server CONFIG_FILE --daemonize yes
 * docs/DATASTORES.md has the details.
 *
 * Every call to the server goes through a struct redis_client_ops table
 * (the functions of redis_client.h by default) so unit tests drive the
 * driver with cmocka mocks and no server.
 */
#ifndef DATASTORES_REDIS_H
#define DATASTORES_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds.h"
#include "redis_client.h"

#define REDIS_EOF_MARK_LEN 40 /* "$EOF:<40 bytes>" */

struct redis_client_ops {
	int (*connect)(const struct redis_addr *addr, struct redis_conn **out);
	void (*close)(struct redis_conn *c);
	int (*command)(struct redis_conn *c, struct redis_reply *reply,
		       int argc, const char **argv, const size_t *lens);
	int (*send)(struct redis_conn *c, int argc, const char **argv,
		    const size_t *lens);
	int (*read_line)(struct redis_conn *c, struct buf *line);
	int (*read_raw)(struct redis_conn *c, void *dst, size_t len,
			size_t *got);
	void (*set_quiet)(struct redis_conn *c, bool quiet);
	const char *(*last_error)(const struct redis_conn *c);
	void (*sleep_ms)(unsigned ms); /* polling pauses */
	/* CLOCK_MONOTONIC in ms: the deadlines of polls (redis_ds_poll()) */
	uint64_t (*clock_ms)(void);
};

/* The real client (redis_client.h), nanosleep and clock_gettime. */
extern const struct redis_client_ops redis_client_real;

extern const struct ds_driver ds_redis_driver;

/* Test hook: makes @ds (a redis datastore) use @ops from now on. */
void ds_redis_set_client_ops(struct ds *ds, const struct redis_client_ops *ops);

/* The address @ds connects to (borrowed, valid while @ds lives). */
const struct redis_addr *ds_redis_addr(const struct ds *ds);

enum redis_sync_header {
	REDIS_SYNC_KEEPALIVE = 1, /* an empty line: "\n" while waiting */
	REDIS_SYNC_LENGTH,	  /* "$<len>" */
	REDIS_SYNC_EOF_MARK,	  /* "$EOF:<mark>" */
};

/*
 * Parses one line a master sends before the RDB payload (without its
 * line end). Returns a positive enum redis_sync_header (filling @len or
 * @mark), the errno of an error reply ("-ERR ..." via
 * redis_error_errno()), or -EPROTO for anything else.
 */
int redis_sync_header_parse(const char *line, uint64_t *len,
			    char mark[REDIS_EOF_MARK_LEN]);

#endif /* DATASTORES_REDIS_H */
