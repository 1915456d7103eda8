/*
 * redis_i.h - private to the Redis driver: datastores/redis.c (config,
 * live streams, verify, the driver table) and datastores/redis_recover.c
 * (recover in place). The driver's state, the small command helpers both
 * halves use, the bounded poll, and the stage ops redis.c puts into
 * ds_redis_driver.
 *
 * struct redis_ds is read-only after redis_init() except ->ops (tests,
 * before any use); every connection is opened for one call and closed by
 * it. No locks: ds.c serialises backups and recovers (the background
 * removal of a recover's old files has its own, in redis_recover.c).
 */
#ifndef DATASTORES_REDIS_I_H
#define DATASTORES_REDIS_I_H

#include <stdbool.h>
#include <stddef.h>

#include "redis.h"

#define REDIS_POLL_MS 100   /* LASTSAVE, AOF rewrite: poll interval */
#define REDIS_PATH_MAX 4096 /* a data dir or file name, with NUL */

enum redis_mode {
	REDIS_MODE_SYNC,
	REDIS_MODE_BGSAVE,
};

struct redis_ds {
	struct ds *ds;		/* borrowed: the owner */
	struct redis_addr addr; /* strings point into the fields below */
	char *host;		/* owned */
	char *unix_path;	/* owned */
	bool port_set;		/* "port" given: not with "unix" */
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

/* The driver state of @ds (a redis datastore); borrowed. */
static inline struct redis_ds *redis_ds_of(const struct ds *ds)
{
	return ds->priv;
}

/* Connects to the configured server; as redis_connect(). */
static inline int redis_ds_connect(struct redis_ds *r, struct redis_conn **out)
{
	return r->ops->connect(&r->addr, out);
}

/* Runs a C-string command; as redis_command() (caller releases @rep). */
static inline int redis_ds_cmd(struct redis_ds *r, struct redis_conn *c,
			       struct redis_reply *rep, int argc,
			       const char **argv)
{
	return r->ops->command(c, rep, argc, argv, NULL);
}

/*
 * CONFIG GET @param into @out (replaced): 0, -ENOENT (unknown parameter:
 * no pair in the reply), -EPROTO (not a string), or the command's -errno.
 */
int redis_ds_config_get(struct redis_ds *r, struct redis_conn *c,
			const char *param, struct buf *out);

/*
 * INFO @section's @key into @out: 0, -ENOENT (no such key), -EPROTO (not
 * a bulk string), or the command's -errno.
 */
int redis_ds_info_get(struct redis_ds *r, struct redis_conn *c,
		      const char *section, const char *key, struct buf *out);

/*
 * One look of redis_ds_poll(): sets *@done once the awaited state is
 * there. Returns 0 (go on polling unless done) or -errno (stop with it).
 */
typedef int redis_poll_fn(struct redis_ds *r, void *arg, bool *done);

/*
 * Calls @fn(@r, @arg) until it sets done or fails, pausing @interval_ms
 * between calls through r->ops->sleep_ms, until @timeout seconds have
 * passed on r->ops->clock_ms (looks included; the last look may end up to
 * one look's duration after that). On timeout logs "redis 'NAME': @what within T s" (followed by
 * strerror(-*@why) if @why is not NULL and *@why is non-zero: the reason
 * @fn keeps of its last look) and returns -ETIMEDOUT. Returns 0 or the
 * -errno @fn returned.
 */
int redis_ds_poll(struct redis_ds *r, unsigned interval_ms, double timeout,
		  const char *what, const int *why, redis_poll_fn *fn,
		  void *arg);

/*
 * Recover in place (redis_recover.c): the stage ops of struct ds_driver
 * (contract in ds.h), put into ds_redis_driver by redis.c.
 */
int redis_stage_open(struct ds *ds, const char *name, struct ds_stage **out);
int redis_stage_write(struct ds_stage *sg, const void *p, size_t len);
int redis_stage_sync(struct ds_stage *sg);
int redis_stage_apply(struct ds_stage *sg);
void redis_stage_free(struct ds_stage *sg);

/*
 * Waits at most @timeout seconds for the background removals of old files
 * that recovers started (redis_recover.c; any datastore) to end; returns
 * how many still run. Thread-safe; redis.c's fini calls it so that the
 * daemon normally exits with none running.
 */
int redis_trash_wait(double timeout);

/* ---- the server's config file (redis_conf_file.c) ---- */

#define REDIS_CONFIG_MAX (1u << 20) /* bytes of a server config file */

/* Reads the whole file @path (at most 1 MiB) into *@out (owned, NUL
 * terminated), its length into *@len. 0, -EFBIG, -ENOMEM, -errno. */
int redis_conf_read(const char *path, char **out, size_t *len);

struct stat;
struct buf;

/* Replaces @path atomically with @data (temp file, fsync, rename), with
 * the owner and mode of @like (NULL: ours, 0640). 0 or -errno. */
int redis_conf_write(const char *path, const char *data, size_t len,
		     const struct stat *like);

/* True if the last "appendonly" line of config text @text says yes. */
bool redis_conf_aof_is_on(const char *text);

/* Config text @orig with every "appendonly ..." line set to "no" (one
 * added if there is none) into @out. 0 or @out's error. */
int redis_conf_aof_off(const char *orig, struct buf *out);

#endif /* DATASTORES_REDIS_I_H */
