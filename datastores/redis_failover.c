/*
 * redis_failover.c - the two failover writes of datastores/NAME/
 * replication/ (contract in redis_repl.h, shared helpers in
 * redis_repl_i.h):
 *
 *   promote  (on a replica, the source alive) fence the source with
 *            CLIENT PAUSE WRITE, wait until this replica's offset reaches
 *            the source's, REPLICAOF NO ONE here, repoint the source and
 *            the other replicas here, CLIENT UNPAUSE the source.
 *   eject    (the source is gone) verify it does not answer, choose the
 *            most current of its configured replicas, promote it, repoint
 *            the rest.
 *
 * A repointed node gets the new source's credentials (masterauth,
 * masteruser) when that source is a configured datastore: this one for
 * promote, the chosen one for eject (see redis_repl_point()).
 *
 * Invariant of promote: no write the old source acknowledged after the
 * fence is lost. Writes paused by the fence are answered only after the
 * old source has become a replica, so they fail with READONLY; writes
 * acknowledged before the fence are in the offset the new source waited
 * for. Were the old source not repointed, it is left paused (the pause
 * expires after the budget computed below) rather than unpaused as a
 * second master. A catch-up that times out unpauses and changes nothing.
 *
 * Each call owns its connections; no state between calls; no locks. The
 * catch-up poll sleeps, bounded by env->wait_timeout.
 */
#include "redis_repl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/log.h"
#include "redis_repl_i.h"

#define FAILOVER_POLL_NS (20 * 1000 * 1000) /* catch-up poll interval */

/* The address other nodes reach @conf at ("" if unix socket only). */
static int tcp_address(const struct redis_addr *conf, const char **host)
{
	if (!conf->host || conf->unix_path) {
		log_error(
			"redis '%s': no TCP address (host, port) that replicas could follow",
			conf->name);
		return -EINVAL;
	}
	*host = conf->host;
	return 0;
}

/* The nodes a failover repointed, for the look at their links. */
struct repointed {
	struct redis_repl_node node[REDIS_REPL_MAX_REPLICAS + 1];
	size_t n;
};

static void repointed_add(struct repointed *rp,
			  const struct redis_repl_node *node)
{
	if (rp->n < sizeof(rp->node) / sizeof(rp->node[0]))
		rp->node[rp->n++] = *node;
}

/*
 * A brief look (redis_repl_link_wait()) at the links of the nodes in @rp
 * to the new source on @src: done once the source lists each of them as
 * a replica. One warning per node it does not list by then; the failover
 * stands (each node retries on its own, its log says why: NOAUTH,
 * refused...). A failing INFO ends the look (the client logged it).
 */
static void check_links(const struct redis_repl_env *env, const char *what,
			struct redis_conn *src, const char *src_label,
			const struct repointed *rp,
			struct redis_repl_info *scratch)
{
	const struct timespec pause = { 0, REDIS_REPL_LINK_POLL_NS };
	double wait = redis_repl_link_wait(env);
	double deadline = redis_repl_now() + wait;
	size_t missing;
	size_t i;

	for (;;) {
		if (redis_repl_info_of(src, src_label, "replication", scratch))
			return;
		missing = 0;
		for (i = 0; i < rp->n; i++)
			if (!redis_repl_lists_port(scratch, rp->node[i].port))
				missing++;
		if (!missing || redis_repl_now() >= deadline)
			break;
		nanosleep(&pause, NULL);
	}
	for (i = 0; i < rp->n; i++)
		if (!redis_repl_lists_port(scratch, rp->node[i].port))
			log_warn(
				"redis '%s': %s: '%s' (%s %d) follows '%s' but has no link to it yet after %.1f s; see its log",
				env->self->name, what, rp->node[i].label,
				rp->node[i].host, rp->node[i].port, src_label,
				wait);
}

/*
 * Repoints every reachable candidate except the one whose run_id is
 * @skip_run_id (the new source) to @host/@port, with the credentials of
 * @src_conf, the new source's configured datastore (NULL: not configured,
 * masterauth left as it is; see redis_repl_point()). Counts what it did
 * and adds the nodes repointed to @rp; failures are logged as warnings
 * and do not stop the others.
 */
static void repoint_others(const struct redis_repl_env *env,
			   const struct redis_repl_cand *c, size_t n,
			   const char *skip_run_id, const char *host, int port,
			   const struct redis_addr *src_conf,
			   struct redis_repl_info *scratch, size_t *done,
			   size_t *failed, struct repointed *rp)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct redis_repl_node node;
		struct redis_conn *conn;
		int err;

		redis_repl_node_at(env, c[i].host, c[i].port, &node);
		if (!c[i].reachable) {
			log_warn(
				"redis '%s': replica '%s' unreachable, not repointed to %s:%d",
				env->self->name, node.label, host, port);
			(*failed)++;
			continue;
		}
		err = redis_repl_connect(env, &node, &conn);
		if (err) {
			(*failed)++;
			continue;
		}
		err = redis_repl_info_of(conn, node.label, "server", scratch);
		if (!err && strcmp(scratch->run_id, skip_run_id) == 0) {
			redis_close(conn);
			continue;
		}
		if (!err)
			err = redis_repl_point(conn, node.label, host, port,
					       src_conf);
		redis_close(conn);
		if (err) {
			log_warn(
				"redis '%s': replica '%s' not repointed to %s:%d",
				env->self->name, node.label, host, port);
			(*failed)++;
			continue;
		}
		(*done)++;
		repointed_add(rp, &node);
	}
}

/* ---- promote ---- */

/* Polls @self until its slave_repl_offset reaches @target. */
static int wait_catch_up(const struct redis_repl_env *env,
			 struct redis_conn *self, long long target,
			 struct redis_repl_info *info)
{
	const struct timespec pause = { 0, FAILOVER_POLL_NS };
	double deadline = redis_repl_now() + env->wait_timeout;
	int err;

	for (;;) {
		err = redis_repl_info_of(self, env->self->name, "replication",
					 info);
		if (err)
			return err;
		if (info->offset >= target)
			return 0;
		if (redis_repl_now() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

/* The steps after the source is fenced; @oc is the paused source. */
static int promote_fenced(const struct redis_repl_env *env,
			  const struct redis_repl_node *src,
			  struct redis_conn *sc, struct redis_conn *oc,
			  const char *new_host, struct redis_repl_info *info,
			  long long *offset)
{
	const char *me = env->self->name;
	long long target;
	int err;

	err = redis_repl_info_of(oc, src->label, "replication", info);
	if (err)
		goto out_unpause;
	target = info->master_repl_offset;
	err = wait_catch_up(env, sc, target, info);
	if (err == -ETIMEDOUT)
		log_error(
			"redis '%s': promote: did not catch up with '%s' in %.1f s (offset %lld of %lld); nothing changed",
			me, src->label, env->wait_timeout, info->offset,
			target);
	if (err)
		goto out_unpause;
	*offset = info->offset;
	err = redis_repl_run(sc, "REPLICAOF", "NO", "ONE", NULL);
	if (err)
		goto out_unpause;
	if (redis_repl_persist(sc, me))
		log_warn("redis '%s': promote: now a master, but not persisted",
			 me);
	err = redis_repl_point(oc, src->label, new_host, env->self->port,
			       env->self);
	if (err) {
		/* Unpausing it now would make two masters: let it expire. */
		log_error(
			"redis '%s': promote: old source '%s' not repointed; it stays paused until the fence expires: repoint it by hand",
			me, src->label);
		return err;
	}
	if (redis_repl_run(oc, "CLIENT", "UNPAUSE", NULL))
		log_warn(
			"redis '%s': promote: cannot unpause '%s'; its pause expires by itself",
			me, src->label);
	return 0;
out_unpause:
	if (redis_repl_run(oc, "CLIENT", "UNPAUSE", NULL))
		log_warn(
			"redis '%s': promote: cannot unpause '%s'; its pause expires by itself",
			me, src->label);
	return err;
}

int redis_repl_promote(const struct redis_repl_env *env)
{
	const char *me = env->self->name;
	char run_id[REDIS_REPL_ID_MAX];
	struct redis_repl_info *info;
	struct redis_repl_cand *cands;
	struct repointed *rp;
	struct redis_repl_node src;
	struct redis_conn *sc;
	struct redis_conn *oc;
	const char *new_host;
	char pause_ms[32];
	long long offset = 0;
	size_t ncands = 0;
	size_t done = 0;
	size_t failed = 0;
	double budget;
	int err;

	err = tcp_address(env->self, &new_host);
	if (err)
		return err;
	info = calloc(1, sizeof(*info));
	cands = calloc(REDIS_REPL_MAX_REPLICAS, sizeof(*cands));
	rp = calloc(1, sizeof(*rp));
	if (!info || !cands || !rp) {
		err = -ENOMEM;
		goto out_free;
	}
	err = redis_connect(env->self, &sc);
	if (err)
		goto out_free;
	err = redis_repl_info_of(sc, me, NULL, info);
	if (err)
		goto out_close_self;
	if (!info->is_replica) {
		log_error(
			"redis '%s': promote: not a replica (already a master)",
			me);
		err = -EINVAL;
		goto out_close_self;
	}
	memcpy(run_id, info->run_id, sizeof(run_id));
	redis_repl_node_at(env, info->master_host, info->master_port, &src);
	/* Who to repoint, found before the fence so the pause stays short. */
	err = redis_repl_gather(env, &src, cands, &ncands);
	if (err)
		goto out_close_self;
	err = redis_repl_connect(env, &src, &oc);
	if (err) {
		log_error(
			"redis '%s': promote: source '%s' unreachable (use eject)",
			me, src.label);
		goto out_close_self;
	}
	err = redis_repl_info_of(oc, src.label, "replication", info);
	if (err)
		goto out_close_source;
	if (info->is_replica) {
		log_error(
			"redis '%s': promote: source '%s' is itself a replica",
			me, src.label);
		err = -EPROTO;
		goto out_close_source;
	}
	/* The fence outlives the catch-up and every command after it. */
	budget = env->wait_timeout +
		 4 * (env->self->timeout > 0 ? env->self->timeout : 10) + 5;
	if (snprintf(pause_ms, sizeof(pause_ms), "%lld",
		     (long long)(budget * 1000)) >= (int)sizeof(pause_ms)) {
		err = -EINVAL;
		goto out_close_source;
	}
	err = redis_repl_run(oc, "CLIENT", "PAUSE", pause_ms, "WRITE", NULL);
	if (err) {
		log_error(
			"redis '%s': promote: cannot fence '%s' (CLIENT PAUSE WRITE needs Redis >= 6.2)",
			me, src.label);
		goto out_close_source;
	}
	err = promote_fenced(env, &src, sc, oc, new_host, info, &offset);
	if (err)
		goto out_close_source;
	done = 1; /* the old source */
	repointed_add(rp, &src);
	repoint_others(env, cands, ncands, run_id, new_host, env->self->port,
		       env->self, info, &done, &failed, rp);
	log_info(
		"redis '%s': promoted %s:%d (offset %lld); repointed %zu node%s%s",
		me, new_host, env->self->port, offset, done,
		done == 1 ? "" : "s",
		failed ? "; some not repointed (see above)" : "");
	check_links(env, "promote", sc, me, rp, info);
out_close_source:
	redis_close(oc);
out_close_self:
	redis_close(sc);
out_free:
	free(rp);
	free(cands);
	free(info);
	return err;
}

/* ---- eject ---- */

/*
 * 0 if @err, of connecting to the source @src, says it is gone (nothing
 * serves there); else -EBUSY with one log line: a source that refuses
 * AUTH, times out or answers LOADING/BUSY is alive, or may be again (a
 * master loading a big RDB answers LOADING, then serves writes), and a
 * replica promoted beside it would make two masters.
 */
static int source_gone(const struct redis_repl_env *env,
		       const struct redis_repl_node *src, int err,
		       const char *what)
{
	if (redis_err_no_server(err))
		return 0;
	log_error(
		"redis '%s': eject: source '%s' is not known to be gone: %s %s (%s); not ejecting",
		env->self->name, src->label, what, strerror(-err),
		strerrorname_np(-err) ? strerrorname_np(-err) : "?");
	return -EBUSY;
}

/* The source of the set @env->self belongs to, which must be gone. */
static int dead_source(const struct redis_repl_env *env,
		       struct redis_repl_info *info,
		       struct redis_repl_node *src)
{
	const char *me = env->self->name;
	struct redis_conn *conn;
	int err;

	err = redis_connect(env->self, &conn);
	if (redis_err_no_server(err)) {
		/* Written on the dead source's own file. */
		redis_repl_node_of(env->self, src);
		return 0;
	}
	if (err)
		return err; /* alive or unknown: not the dead source */
	err = redis_repl_info_of(conn, me, "replication", info);
	redis_close(conn);
	if (err)
		return err;
	if (!info->is_replica) {
		log_error(
			"redis '%s': eject: source still alive ('%s' is the master)",
			me, me);
		return -EBUSY;
	}
	redis_repl_node_at(env, info->master_host, info->master_port, src);
	err = redis_repl_connect(env, src, &conn);
	if (err)
		return source_gone(env, src, err, "connecting:");
	err = redis_repl_run(conn, "PING", NULL);
	redis_close(conn);
	if (!err) {
		log_error(
			"redis '%s': eject: source still alive ('%s' answers PING)",
			me, src->label);
		return -EBUSY;
	}
	/* it answered, if with an error (LOADING, BUSY...): alive */
	return source_gone(env, src, err, "PING:");
}

/* -EPROTO unless every reachable candidate follows the same history. */
static int check_agree(const struct redis_repl_env *env,
		       const struct redis_repl_node *src,
		       const struct redis_repl_cand *c, size_t n)
{
	size_t first = n;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!c[i].reachable)
			continue;
		if (first == n) {
			first = i;
			continue;
		}
		if (strcmp(c[i].replid, c[first].replid) != 0) {
			log_error(
				"redis '%s': eject: replicas of '%s' disagree on their source: %s:%d follows replication id %s, %s:%d follows %s",
				env->self->name, src->label, c[first].host,
				c[first].port, c[first].replid, c[i].host,
				c[i].port, c[i].replid);
			return -EPROTO;
		}
	}
	return 0;
}

int redis_repl_eject(const struct redis_repl_env *env)
{
	const char *me = env->self->name;
	struct redis_repl_info *info;
	struct redis_repl_cand *cands;
	struct repointed *rp;
	struct redis_repl_node src;
	struct redis_repl_node best_node;
	char run_id[REDIS_REPL_ID_MAX];
	struct redis_conn *bc;
	enum redis_repl_why why;
	long long offset;
	size_t ncands = 0;
	size_t best;
	size_t done = 0;
	size_t failed = 0;
	int err;

	info = calloc(1, sizeof(*info));
	cands = calloc(REDIS_REPL_MAX_REPLICAS, sizeof(*cands));
	rp = calloc(1, sizeof(*rp));
	if (!info || !cands || !rp) {
		err = -ENOMEM;
		goto out_free;
	}
	err = dead_source(env, info, &src);
	if (err)
		goto out_free;
	err = redis_repl_gather(env, &src, cands, &ncands);
	if (err)
		goto out_free;
	err = redis_repl_choose(cands, ncands, &best, &why);
	if (err) {
		log_error(
			"redis '%s': eject: no reachable replica of '%s' to promote",
			me, src.label);
		goto out_free;
	}
	err = check_agree(env, &src, cands, ncands);
	if (err)
		goto out_free;
	redis_repl_node_at(env, cands[best].host, cands[best].port, &best_node);
	err = redis_repl_connect(env, &best_node, &bc);
	if (err)
		goto out_free;
	err = redis_repl_info_of(bc, best_node.label, "server", info);
	if (!err)
		err = redis_repl_point(bc, best_node.label, NULL, 0, NULL);
	if (err) {
		redis_close(bc);
		log_error("redis '%s': eject: cannot promote '%s'", me,
			  best_node.label);
		goto out_free;
	}
	memcpy(run_id, info->run_id, sizeof(run_id));
	offset = cands[best].offset;
	cands[best] = cands[--ncands]; /* the rest follow it */
	repoint_others(env, cands, ncands, run_id, best_node.host,
		       best_node.port, best_node.conf, info, &done, &failed,
		       rp);
	log_info(
		"redis '%s': ejected '%s'; promoted %s:%d (offset %lld); repointed %zu node%s%s",
		me, src.label, best_node.host, best_node.port, offset, done,
		done == 1 ? "" : "s",
		failed ? "; some not repointed (see above)" : "");
	check_links(env, "eject", bc, best_node.label, rp, info);
	redis_close(bc);
out_free:
	free(rp);
	free(cands);
	free(info);
	return err;
}
