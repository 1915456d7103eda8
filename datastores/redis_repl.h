/*
 * redis_repl.h - Redis replication as pseudo-files, served under
 * datastores/<NAME>/replication/ (SPEC section 4, issue 4):
 *
 *   read:  role        "master" | "replica"
 *          source      "HOST PORT" of this node's master ("" on a master)
 *          replicas    one line per replica of the source: "HOST PORT
 *                      state=online offset=N lag=S"
 *          offset      this node's replication offset
 *          lag         seconds since this replica last heard from its
 *                      master (master_last_io_seconds_ago), "0" on a master
 *          link        "up" | "down" | "none" (master_link_status)
 *          candidates  every replica of the source: offset,
 *                      master_last_io_seconds_ago, link state, and which
 *                      would be promoted and why
 *   write: replica_of  "HOST PORT", a configured datastore name, or "none"
 *          promote     anything: promote this replica (fenced failover)
 *          eject       anything: the source is gone, promote the most
 *                      current replica
 *
 * A node made a replica of a configured datastore (replica_of by name or
 * by its "HOST PORT", and the repointing of promote and eject) first gets
 * that source's credentials: masterauth (its password, "" when it has
 * none) and masteruser (its ACL user), persisted with the rest; a source
 * that is not configured leaves them as they are. The password is never
 * logged. replica_of then looks at the new link for up to 3 s: still down
 * means one warning (the write succeeds: the server keeps retrying).
 *
 * Each call opens its own connections (never shared) and closes them.
 * Every failure is one log line naming the datastore plus a -errno.
 */
#ifndef DATASTORES_REDIS_REPL_H
#define DATASTORES_REDIS_REPL_H

#include <stdbool.h>
#include <stddef.h>

#include "../conf/buf.h"
#include "redis_client.h"

/* This datastore and every configured Redis datastore (to resolve
 * "replica_of NAME" and to find nodes by address). Borrowed. @self may
 * point into @all or be a copy of its entry: nodes are matched by name
 * and address, never by pointer alone. */
struct redis_repl_env {
	const struct redis_addr *self;
	const struct redis_addr *all; /* includes self */
	size_t nall;
	/* Changes are persisted with CONFIG REWRITE into the config file the
	 * server itself reports (INFO server config_file); a server started
	 * without one gets a warning ("not persisted"), not a failure. */
	double wait_timeout; /* promote: max seconds to wait for catch-up */
};

/* The file names, NULL-terminated: read-only ones first. */
extern const char *const redis_repl_files[];

/* True if @file exists; *@writable tells whether it takes writes. */
bool redis_repl_file_lookup(const char *file, bool *writable);

/*
 * Generates the content of read file @file into @out (text ending in
 * '\n'). Returns 0, -ENOENT (no such file), -EACCES (write-only file),
 * or the connection's -errno (-ECONNREFUSED when the node is down).
 */
int redis_repl_read(const struct redis_repl_env *env, const char *file,
		    struct buf *out);

/*
 * Performs the write to @file of @data/@len (trailing whitespace
 * ignored). Returns 0; -EINVAL (garbage: not "HOST PORT", unknown name,
 * slave-of-slave), -EBUSY (eject while the source is alive), -ENODEV (no
 * replica to promote), -ETIMEDOUT (catch-up did not finish; the old
 * source is unfenced again), -EPROTO (replicas disagree on their source),
 * or a connection -errno.
 */
int redis_repl_write(const struct redis_repl_env *env, const char *file,
		     const char *data, size_t len);

#endif /* DATASTORES_REDIS_REPL_H */
