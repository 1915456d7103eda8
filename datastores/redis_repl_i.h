/*
 * redis_repl_i.h - private to datastores/redis_repl.c and
 * datastores/redis_failover.c (and their unit test): the parsed shape of
 * INFO, the nodes of a replication set, and the pure logic (parsing,
 * choosing a replica to promote) that the unit tests call directly.
 *
 * Nothing here is thread-shared: every struct lives on one call's stack or
 * heap and is borrowed by the functions it is passed to.
 */
#ifndef DATASTORES_REDIS_REPL_I_H
#define DATASTORES_REDIS_REPL_I_H

#include <stdbool.h>
#include <stddef.h>

#include "redis_repl.h"

#define REDIS_REPL_HOST_MAX 256		 /* host name or address, with NUL */
#define REDIS_REPL_LABEL_MAX 300	 /* "NAME" or "HOST:PORT", with NUL */
#define REDIS_REPL_ID_MAX 48		 /* run_id, master_replid (40 hex) */
#define REDIS_REPL_MAX_REPLICAS 64	 /* slaveN lines kept from one INFO */
#define REDIS_REPL_INFO_MAX (256u << 10) /* bytes of an INFO reply */

/* One "slaveN:ip=..,port=..,state=..,offset=..,lag=.." line. */
struct redis_repl_replica {
	char host[REDIS_REPL_HOST_MAX];
	int port;
	char state[32]; /* "online", "wait_bgsave", ... */
	long long offset;
	long long lag;
};

/* What this module needs from INFO (server and replication sections). */
struct redis_repl_info {
	bool is_replica;		       /* role:slave */
	char master_host[REDIS_REPL_HOST_MAX]; /* replica only */
	int master_port;		       /* replica only */
	bool link_up;			       /* master_link_status:up */
	long long last_io; /* master_last_io_seconds_ago; -1 unknown */
	long long offset;  /* slave_repl_offset, or master_repl_offset */
	long long master_repl_offset;
	char replid[REDIS_REPL_ID_MAX]; /* master_replid */
	char run_id[REDIS_REPL_ID_MAX]; /* INFO server only */
	bool has_config_file; /* config_file: non-empty (INFO server) */
	int tcp_port;	      /* INFO server; 0 if absent */
	size_t nreplicas;     /* slaveN lines of replicas (port > 0) */
	struct redis_repl_replica replicas[REDIS_REPL_MAX_REPLICAS];
};

/*
 * Parses an INFO reply (any sections; "key:value" lines ending in "\r\n"
 * or "\n", "# Section" lines skipped) into @out. slaveN lines with port=0
 * are RDB transfers (REPLCONF rdb-only + SYNC: backups, redis-cli --rdb),
 * not replicas: they are checked and left out of @out->replicas, so no
 * caller counts, lists or repoints them. Returns 0; -EPROTO when
 * a "# Replication" section has no role line or a field this module reads
 * is malformed (one log line naming @who); -E2BIG beyond
 * REDIS_REPL_MAX_REPLICAS replicas. Without a role line (INFO server
 * alone) *@out describes a master.
 */
int redis_repl_parse_info(const char *who, const char *text,
			  struct redis_repl_info *out);

/* What a write to replica_of asks for. */
enum redis_repl_target_kind {
	REDIS_REPL_TARGET_NONE, /* "none": detach */
	REDIS_REPL_TARGET_ADDR, /* "HOST PORT" */
	REDIS_REPL_TARGET_NAME, /* a configured datastore's name */
};

/*
 * Parses what was written to replica_of (@len bytes, not NUL-terminated,
 * leading and trailing whitespace ignored). For ADDR, @host/@port are
 * filled; for NAME, @host holds the name and @port is 0. Returns 0 or
 * -EINVAL (empty, more than two words, bad host characters, port not
 * 1..65535, NUL bytes); logs nothing (the caller knows the datastore).
 */
int redis_repl_parse_target(const char *data, size_t len,
			    enum redis_repl_target_kind *kind, char *host,
			    size_t host_size, int *port);

/* True if @a and @b name the same host: equal ignoring case, or both
 * loopback ("localhost", "127.0.0.1", "::1"). No DNS. */
bool redis_repl_same_host(const char *a, const char *b);

/* A replica considered for promotion. */
struct redis_repl_cand {
	char host[REDIS_REPL_HOST_MAX];
	int port;
	bool reachable;	   /* INFO answered; the rest is valid only then */
	long long offset;  /* slave_repl_offset */
	long long last_io; /* master_last_io_seconds_ago; -1 unknown */
	bool link_up;
	char replid[REDIS_REPL_ID_MAX];
	char master_host[REDIS_REPL_HOST_MAX];
	int master_port;
};

/* Why a candidate won, against the runner-up. */
enum redis_repl_why {
	REDIS_REPL_WHY_ONLY,	/* the only reachable replica */
	REDIS_REPL_WHY_OFFSET,	/* strictly largest offset */
	REDIS_REPL_WHY_LAST_IO, /* tie on offset, smallest last_io */
	REDIS_REPL_WHY_ADDRESS, /* tie on both, lowest host then port */
};

/*
 * Chooses among the reachable candidates: largest offset, then smallest
 * master_last_io_seconds_ago (-1, unknown, counts as the largest), then
 * the lowest address (host by strcmp, then port) so the choice is
 * deterministic. Returns 0 with *@best and *@why set, or -ENODEV when no
 * candidate is reachable.
 */
int redis_repl_choose(const struct redis_repl_cand *c, size_t n, size_t *best,
		      enum redis_repl_why *why);

/* Appends the "chosen: HOST PORT (...)" line for @c[@best]. */
int redis_repl_format_choice(struct buf *out, const struct redis_repl_cand *c,
			     enum redis_repl_why why);

/* ---- helpers shared by redis_repl.c and redis_failover.c ---- */

/* A node of the replication set, known by configuration or by address. */
struct redis_repl_node {
	char host[REDIS_REPL_HOST_MAX]; /* "" for a unix-socket datastore */
	int port;
	char label[REDIS_REPL_LABEL_MAX]; /* for log lines */
	const struct redis_addr *conf;	  /* configured datastore, or NULL */
};

/* The node at @host/@port: the configured datastore with that address if
 * there is one (its credentials), else @env->self's credentials. */
void redis_repl_node_at(const struct redis_repl_env *env, const char *host,
			int port, struct redis_repl_node *out);

/* The node of configured datastore @conf. */
void redis_repl_node_of(const struct redis_addr *conf,
			struct redis_repl_node *out);

/* Connects to @node (caller closes *@out with redis_close()). */
int redis_repl_connect(const struct redis_repl_env *env,
		       const struct redis_repl_node *node,
		       struct redis_conn **out);

/* INFO (@section, or the default sections for NULL) on @c, parsed. */
int redis_repl_info_of(struct redis_conn *c, const char *who,
		       const char *section, struct redis_repl_info *out);

/* CLOCK_MONOTONIC in seconds, for the bounded polls. */
double redis_repl_now(void);

/*
 * The brief look at links a write just made (replica_of, promote, eject):
 * at most this long, or env->wait_timeout if smaller (0: one look).
 */
#define REDIS_REPL_LINK_WAIT 3.0
#define REDIS_REPL_LINK_POLL_NS (100 * 1000 * 1000)
double redis_repl_link_wait(const struct redis_repl_env *env);

/*
 * True if the source whose INFO replication is @info lists a replica at
 * @port: it let the replica in (AUTH, REPLCONF, PSYNC accepted). Matched
 * by port alone: the source sees the replica's address, which need not be
 * the one configured here (a name, NAT, replica-announce-ip).
 */
bool redis_repl_lists_port(const struct redis_repl_info *info, int port);

/* Runs a command whose reply is not needed (NULL-terminated args). */
int redis_repl_run(struct redis_conn *c, ...) __attribute__((sentinel));

/*
 * Makes @c a replica of @host/@port: CONFIG SET replica-read-only yes,
 * the source's credentials (below), REPLICAOF, then persist (see
 * redis_repl_persist()). @host NULL means REPLICAOF NO ONE (@src_conf
 * ignored; masterauth is left as it is).
 *
 * @src_conf is the configured datastore at @host/@port (borrowed), or
 * NULL when the source is not configured. When known, the replica gets
 * its credentials before REPLICAOF: CONFIG SET masterauth to its password
 * ("" when it has none, so a stale one from an earlier source does not
 * break the new link), and, with a password, CONFIG SET masteruser to
 * its ACL user, or, without a user, "" if CONFIG GET shows one left set
 * (a server without masteruser, Redis < 6, shows none: left alone). When
 * NULL, masterauth and masteruser are left as they are. The password is
 * never logged.
 *
 * Returns 0 or the failing command's -errno (one log line: the client's).
 */
int redis_repl_point(struct redis_conn *c, const char *who, const char *host,
		     int port, const struct redis_addr *src_conf);

/*
 * CONFIG REWRITE when the server has a config file; otherwise a warning
 * naming @who ("not persisted"). Returns 0 or CONFIG REWRITE's -errno.
 */
int redis_repl_persist(struct redis_conn *c, const char *who);

/* Fills @out with the candidates for promotion among the replicas of the
 * source @src (every configured datastore whose INFO names @src as its
 * master, plus @src's slaveN lines when @src answers). Unreachable ones
 * are kept with reachable false. *@n is set; @out has room for
 * REDIS_REPL_MAX_REPLICAS. */
int redis_repl_gather(const struct redis_repl_env *env,
		      const struct redis_repl_node *src,
		      struct redis_repl_cand *out, size_t *n);

/* The write handlers of redis_failover.c. */
int redis_repl_promote(const struct redis_repl_env *env);
int redis_repl_eject(const struct redis_repl_env *env);

#endif /* DATASTORES_REDIS_REPL_I_H */
