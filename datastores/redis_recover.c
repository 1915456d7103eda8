/*
 * redis_recover.c - recover in place for the Redis driver: the stage ops
 * of ds.h (docs/DATASTORES.md "Recover in place"; driver state and shared
 * helpers in redis_i.h, the rest of the driver in redis.c).
 *
 * While the server runs, redis_stage_open() probes it (data dir,
 * dbfilename, AOF, config file, pid) and creates .DBFILENAME.trovefs-new
 * in its data dir, which ds.c fills as it verifies the backup
 * (writeback started every REDIS_WRITEBACK bytes, fsync at the end);
 * redis_stage_apply() stops the server, moves the old dump file (and AOF
 * dir) aside, renames the staged file in, starts the server with AOF off
 * so the RDB is what loads, checks that it did (aof_enabled:0, at least
 * the keys the RDB's head promises: check_loaded()), turns AOF back on
 * (Redis rewrites it), and rolls back to the old files if any of that
 * fails. Once the server runs
 * on the backup, the old dump file and AOF dir are renamed to trash names,
 * .DBFILENAME.trovefs-trash.PID.SEQ in the data dir, and removed on a
 * detached thread: unlinking a big dump file takes a while, and the
 * recover need not wait for it.
 *
 * Invariants: the server is stopped only in redis_stage_apply(), after
 * ds.c verified and synced the whole staged file; until the rename the
 * staged file is ours (struct ds_stage .staged) and removed on failure;
 * the config file is changed only by a temp file, fsync and rename, and
 * put back before the recover returns. Started processes keep no
 * descriptor but 0-2 and none of our signal state (spawn_wait()).
 * Only old data the server no longer needs becomes trash, and only names
 * of the trash pattern are removed without a recover's own knowledge:
 * redis_stage_open() removes those a daemon left when it died (not this
 * process's own while one of its removals runs). A crash leaves either
 * the old name or the trash name, both harmless, so the trash rename
 * needs no fsync of the dir.
 *
 * Locks: trash_lock protects the trash counters and is held for no I/O;
 * removal threads touch nothing else of ours (their own copy of the path,
 * libc, the log). Otherwise none: ds.c runs one recover at a time per
 * datastore, in one thread.
 */
#include "redis_i.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../conf/log.h"
#include "redis_rdb.h"

/* stop and start of a recover: the server is down meanwhile */
#define REDIS_UP_POLL_MS 20
#define REDIS_SPAWN_POLL_MS 10
/* staged bytes handed to writeback at a time, so the fsync is short */
#define REDIS_WRITEBACK (32u << 20)

/* ---- the server's files ---- */

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
	/*
	 * How far the swap got, for rollback(): a path is put back only
	 * once its move aside completed, so a failure before (the server
	 * would not stop, the move itself failed) never touches it.
	 */
	bool rdb_moved;	   /* dump file moved aside (or there was none) */
	bool had_rdb;	   /* ... and it existed (now rdb_old) */
	bool rdb_swapped;  /* the staged file was renamed to rdb */
	bool aof_moved;	   /* AOF dir moved aside (or there was none) */
	bool had_aof;	   /* ... and it existed (now aof_old) */
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

/*
 * A replica's data is its source's: the source's full resync after the
 * restart would replace the recovered data within seconds, after the
 * recover had reported success. -EBUSY (logged) for a replica.
 */
static int refuse_replica(struct redis_ds *r, struct redis_conn *c,
			  struct buf *v)
{
	const char *argv[2] = { "INFO", "replication" };
	char source[REDIS_PATH_MAX] = "?";
	struct redis_reply rep;
	int err;

	err = redis_ds_cmd(r, c, &rep, 2, argv);
	if (err)
		return err;
	if (rep.type != REDIS_R_STRING) {
		err = -EPROTO;
	} else if (!redis_info_get(rep.str, "role", v) &&
		   strcmp(buf_str(v), "slave") == 0) {
		/* (no role line, or another role: not a replica) */
		if (!redis_info_get(rep.str, "master_host", v))
			snprintf(source, sizeof(source), "%s", buf_str(v));
		if (!redis_info_get(rep.str, "master_port", v))
			snprintf(source + strlen(source),
				 sizeof(source) - strlen(source), ":%s",
				 buf_str(v));
		log_error(
			"redis '%s': cannot recover a replica (of %s): its source would replace the recovered data; detach it first ('none' into replication/replica_of)",
			r->ds->name, source);
		err = -EBUSY;
	}
	redis_reply_release(&rep);
	return err;
}

/* Asks the running server where its files are. */
static int site_probe(struct redis_ds *r, struct redis_site *st)
{
	struct redis_conn *c;
	struct buf v;
	int err;

	err = redis_ds_connect(r, &c);
	if (err)
		return err;
	buf_init(&v, REDIS_PATH_MAX);
	err = refuse_replica(r, c, &v);
	if (err)
		goto out_close;
	if (r->data_dir)
		err = buf_puts(&st->dir, r->data_dir);
	else
		err = redis_ds_config_get(r, c, "dir", &st->dir);
	if (err)
		goto out_close;
	if (r->dbfilename)
		err = buf_puts(&st->dbfile, r->dbfilename);
	else
		err = redis_ds_config_get(r, c, "dbfilename", &st->dbfile);
	if (err)
		goto out_close;
	err = redis_ds_config_get(r, c, "appendonly", &v);
	if (err)
		goto out_close;
	st->aof = strcmp(buf_str(&v), "yes") == 0;
	r->ops->set_quiet(c, true);
	err = redis_ds_config_get(r, c, "appenddirname", &st->aofdir);
	r->ops->set_quiet(c, false);
	if (err == -ENOENT || err == -EINVAL || err == -EIO) {
		/* before Redis 7: one file, appendfilename */
		err = redis_ds_config_get(r, c, "appendfilename", &st->aofdir);
	}
	if (err)
		goto out_close;
	if (r->config_file) {
		err = buf_puts(&st->conf, r->config_file);
	} else {
		err = redis_ds_info_get(r, c, "server", "config_file",
					&st->conf);
		if (err == -ENOENT)
			err = 0;
	}
	if (err)
		goto out_close;
	err = redis_ds_info_get(r, c, "server", "process_id", &v);
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

/* ---- stopping and starting the server ---- */

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
	uint64_t limit = timeout > 0 ? (uint64_t)(timeout * 1000) : 0;
	uint64_t start;
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
	/* real time and real pauses even under test ops: the child runs */
	start = redis_client_real.clock_ms();
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (redis_client_real.clock_ms() - start >= limit) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			log_error(
				"redis '%s': '%s' did not return within %.0f s, killed",
				r->ds->name, what, timeout);
			return -ETIMEDOUT;
		}
		redis_client_real.sleep_ms(REDIS_SPAWN_POLL_MS);
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

/* Down for a stop: nothing serves, or it closed on us while stopping. */
static bool err_is_down(int err)
{
	return redis_err_no_server(err) || err == -ECONNRESET;
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

/* The server (pid *@arg if known, else its address) is gone. */
static int server_is_down(struct redis_ds *r, void *arg, bool *done)
{
	long pid = *(long *)arg;
	struct redis_conn *c;
	int err;

	if (pid > 0) {
		*done = pid_is_gone(pid);
		return 0;
	}
	err = conn_open_quiet(r, &c);
	*done = err_is_down(err);
	if (!err)
		r->ops->close(c);
	return 0;
}

/* Waits until the server is gone (process @pid if known, else the port). */
static int wait_down(struct redis_ds *r, long pid)
{
	return redis_ds_poll(r, REDIS_UP_POLL_MS, r->start_timeout,
			     "the server did not stop", NULL, server_is_down,
			     &pid);
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
	if (redis_ds_info_get(r, c, "server", "process_id", &v) == 0)
		pid = strtol(buf_str(&v), NULL, 10);
	buf_release(&v);
	if (r->stop_command) {
		r->ops->close(c);
		err = run_shell(r, r->stop_command, r->start_timeout);
		if (err)
			return err;
	} else {
		r->ops->set_quiet(c, true);
		err = redis_ds_cmd(r, c, &rep, 1, shutdown_argv);
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

/*
 * The server answers PING; a refused AUTH ends the wait, anything else
 * (down, LOADING) goes into *@arg, the reason of the last look.
 */
static int server_is_up(struct redis_ds *r, void *arg, bool *done)
{
	const char *ping[1] = { "PING" };
	struct redis_reply rep;
	struct redis_conn *c;
	int *why = arg;
	int err;

	err = conn_open_quiet(r, &c);
	if (!err) {
		r->ops->set_quiet(c, true);
		err = redis_ds_cmd(r, c, &rep, 1, ping);
		redis_reply_release(&rep);
		r->ops->close(c);
	}
	if (err == -EACCES)
		return err;
	*done = !err;
	*why = err;
	return 0;
}

/* Waits until the server answers PING (LOADING is waited out). */
static int wait_up(struct redis_ds *r)
{
	int why = 0;

	return redis_ds_poll(r, REDIS_UP_POLL_MS, r->start_timeout,
			     "the server did not come up", &why, server_is_up,
			     &why);
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

/* ---- the config file and the swap ---- */

static int conf_set_aof_off(struct redis_ds *r, struct redis_site *st)
{
	struct stat sb;
	struct buf b;
	int err;

	if (stat(buf_str(&st->conf), &sb) < 0)
		return -errno;
	buf_init(&b, 2 * REDIS_CONFIG_MAX);
	err = redis_conf_aof_off(st->conf_orig, &b);
	if (!err)
		err = redis_conf_write(buf_str(&st->conf), buf_str(&b), b.len,
				       &sb);
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
	/* what we wrote kept the original's owner and mode; gone: ours */
	err = redis_conf_write(buf_str(&st->conf), st->conf_orig,
			       st->conf_orig_len,
			       stat(buf_str(&st->conf), &sb) == 0 ? &sb : NULL);
	if (err)
		log_error("redis '%s': cannot restore '%s': %s", r->ds->name,
			  buf_str(&st->conf), strerror(-err));
	else
		st->conf_changed = false;
	return err;
}

/*
 * The config file could not be put back after a recover with AOF on (it
 * still says "appendonly no" while the server runs with AOF on, so a
 * restart would load the last RDB snapshot, not the AOF): the server
 * rewrites it itself with CONFIG REWRITE, which writes its running
 * settings, appendonly yes among them. Returns 0 or -errno (one line).
 */
static int conf_rewrite_by_server(struct redis_ds *r, struct redis_site *st,
				  int put_back_err)
{
	const char *rewrite[2] = { "CONFIG", "REWRITE" };
	struct redis_reply rep;
	struct redis_conn *c;
	int err;

	err = redis_ds_connect(r, &c);
	if (!err) {
		err = redis_ds_cmd(r, c, &rep, 2, rewrite);
		redis_reply_release(&rep);
		r->ops->close(c);
	}
	if (err) {
		log_error(
			"redis '%s': '%s' says appendonly no while the server runs with AOF on (put back: %s; CONFIG REWRITE: %s): a restart would not load the AOF; set appendonly yes there by hand",
			r->ds->name, buf_str(&st->conf),
			strerror(-put_back_err), strerror(-err));
		return put_back_err;
	}
	log_warn(
		"redis '%s': could not put '%s' back (%s); the server rewrote it with CONFIG REWRITE (appendonly yes, and its other running settings)",
		r->ds->name, buf_str(&st->conf), strerror(-put_back_err));
	st->conf_changed = false;
	return 0;
}

/*
 * Removes a flat directory (the AOF dir: base, incr, manifest). Entries
 * that vanish meanwhile are fine: another daemon's sweep may race us.
 */
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
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT &&
		    !err)
			err = -errno;
	}
	closedir(d);
	if (!err && rmdir(path) < 0 && errno != ENOENT)
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
	struct stat sb;
	bool was = lstat(to, &sb) == 0;
	int err;

	*existed = false;
	err = remove_path(to);
	if (err) {
		log_error("redis '%s': cannot remove the leftover '%s': %s",
			  r->ds->name, to, strerror(-err));
		return err;
	}
	/*
	 * A leftover of a crashed recover, or something put there by hand:
	 * it may have been someone's only copy of older data, so its
	 * removal is said.
	 */
	if (was)
		log_warn(
			"redis '%s': removed the leftover %s '%s' (an earlier recover's) to move the current one there",
			r->ds->name, S_ISDIR(sb.st_mode) ? "directory" : "file",
			to);
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

/* ---- old files: trash removed in the background ---- */

#define TRASH_INFIX ".trovefs-trash." /* .DBFILENAME<infix>PID.SEQ */

static pthread_mutex_t trash_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t trash_done = PTHREAD_COND_INITIALIZER;
static unsigned long trash_seq; /* trash names this process made */
static unsigned trash_running;	/* removal threads not done yet */

static void trash_running_add(int n)
{
	pthread_mutex_lock(&trash_lock);
	trash_running += n;
	if (!trash_running)
		pthread_cond_broadcast(&trash_done);
	pthread_mutex_unlock(&trash_lock);
}

/* A removal thread: @arg is its own copy of the path, freed here. */
static void *trash_thread(void *arg)
{
	char *path = arg;
	int err;

	err = remove_path(path);
	if (err)
		log_error("cannot remove '%s' (old data of a recover): %s",
			  path, strerror(-err));
	free(path);
	trash_running_add(-1);
	return NULL;
}

/*
 * Removes @path on a detached thread. All signals are blocked in it, as
 * they are meant for the FUSE loop. Returns 0 or -errno (not started).
 */
static int trash_start(const char *path)
{
	sigset_t all;
	sigset_t old;
	pthread_t t;
	char *copy;
	int err;

	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	trash_running_add(1);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t, NULL, trash_thread, copy);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		trash_running_add(-1);
		free(copy);
		return -err;
	}
	pthread_detach(t);
	return 0;
}

/*
 * Removes @path, old data the restarted server no longer needs (absent is
 * fine), without waiting: renames it to a trash name of this process in
 * the data dir, which no recover uses, and removes that on a thread.
 * Removes it here if the rename or the thread fails; one log line if the
 * removal does.
 */
static void trash_old(struct redis_ds *r, const struct redis_site *st,
		      const char *path)
{
	struct buf trash;
	unsigned long seq;
	int err;

	pthread_mutex_lock(&trash_lock);
	seq = trash_seq++;
	pthread_mutex_unlock(&trash_lock);
	buf_init(&trash, 2 * REDIS_PATH_MAX);
	buf_printf(&trash, "%s/.%s" TRASH_INFIX "%ld.%lu", buf_str(&st->dir),
		   buf_str(&st->dbfile), (long)getpid(), seq);
	err = trash.err;
	if (!err && rename(path, buf_str(&trash)) < 0)
		err = -errno;
	if (err == -ENOENT)
		goto out_release; /* nothing to remove */
	if (!err) {
		path = buf_str(&trash);
		if (trash_start(path) == 0)
			goto out_release;
	}
	err = remove_path(path);
	if (err)
		log_error("redis '%s': cannot remove '%s': %s", r->ds->name,
			  path, strerror(-err));
out_release:
	buf_release(&trash);
}

int redis_trash_wait(double timeout)
{
	struct timespec until;
	unsigned left;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)timeout;
	until.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&trash_lock);
	while (trash_running &&
	       pthread_cond_timedwait(&trash_done, &trash_lock, &until) == 0)
		;
	left = trash_running;
	pthread_mutex_unlock(&trash_lock);
	return (int)left;
}

/*
 * The PID.SEQ part of @name if it is a trash name of @dbfile
 * (.DBFILE.trovefs-trash.PID.SEQ, digits only), else NULL.
 */
static const char *trash_suffix(const char *name, const char *dbfile)
{
	static const char digits[] = "0123456789";
	size_t n = strlen(dbfile);
	const char *p;
	size_t k;

	if (name[0] != '.' || strncmp(name + 1, dbfile, n) != 0 ||
	    strncmp(name + 1 + n, TRASH_INFIX, strlen(TRASH_INFIX)) != 0)
		return NULL;
	p = name + 1 + n + strlen(TRASH_INFIX);
	k = strspn(p, digits);
	if (!k || p[k] != '.')
		return NULL;
	k++;
	if (!strspn(p + k, digits) || p[k + strspn(p + k, digits)])
		return NULL;
	return p;
}

/*
 * Removes the trash of @st's dump file that a daemon left when it died
 * before removing it, one log line each; nothing else. This process's own
 * names are skipped while one of its removals runs: it may be on them.
 */
static void trash_sweep(struct redis_ds *r, const struct redis_site *st)
{
	struct dirent *e;
	struct buf path;
	const char *sfx;
	char own[32];
	size_t own_len;
	bool busy;
	DIR *d;
	int err;

	pthread_mutex_lock(&trash_lock);
	busy = trash_running > 0;
	pthread_mutex_unlock(&trash_lock);
	err = snprintf(own, sizeof(own), "%ld.", (long)getpid());
	if (err < 0 || (size_t)err >= sizeof(own))
		return;
	own_len = (size_t)err;
	d = opendir(buf_str(&st->dir));
	if (!d)
		return; /* creating the staged file there will say why */
	buf_init(&path, 2 * REDIS_PATH_MAX);
	while ((e = readdir(d)) != NULL) {
		sfx = trash_suffix(e->d_name, buf_str(&st->dbfile));
		if (!sfx || (busy && strncmp(sfx, own, own_len) == 0))
			continue;
		buf_reset(&path);
		if (buf_printf(&path, "%s/%s", buf_str(&st->dir), e->d_name))
			continue;
		err = remove_path(buf_str(&path));
		if (err)
			log_error("redis '%s': cannot remove '%s': %s",
				  r->ds->name, buf_str(&path), strerror(-err));
		else
			log_notice(
				"redis '%s': removed '%s', left by an earlier recover",
				r->ds->name, buf_str(&path));
	}
	closedir(d);
	buf_release(&path);
}

/*
 * The AOF rewrite on connection @arg is over: enabled, none in progress
 * or scheduled; -EIO if it failed, -EPROTO if INFO lacks the fields.
 */
static int aof_is_rewritten(struct redis_ds *r, void *arg, bool *done)
{
	const char *info[2] = { "INFO", "persistence" };
	struct redis_conn *c = arg;
	struct redis_reply rep;
	struct buf a;
	struct buf b;
	struct buf e;
	struct buf s;
	int err;

	err = redis_ds_cmd(r, c, &rep, 2, info);
	if (err)
		return err;
	buf_init(&a, 64);
	buf_init(&b, 64);
	buf_init(&e, 64);
	buf_init(&s, 64);
	if (rep.type != REDIS_R_STRING ||
	    redis_info_get(rep.str, "aof_rewrite_in_progress", &a) ||
	    redis_info_get(rep.str, "aof_rewrite_scheduled", &b) ||
	    redis_info_get(rep.str, "aof_enabled", &e)) {
		err = -EPROTO;
		goto out_release;
	}
	if (redis_info_get(rep.str, "aof_last_bgrewrite_status", &s))
		buf_reset(&s);
	*done = strcmp(buf_str(&a), "0") == 0 &&
		strcmp(buf_str(&b), "0") == 0 && strcmp(buf_str(&e), "1") == 0;
	if (*done && strcmp(buf_str(&s), "err") == 0) {
		log_error("redis '%s': the AOF rewrite failed", r->ds->name);
		err = -EIO;
	}
out_release:
	redis_reply_release(&rep);
	buf_release(&a);
	buf_release(&b);
	buf_release(&e);
	buf_release(&s);
	return err;
}

/* Turns AOF on in the running server and waits for the rewrite. */
static int aof_enable(struct redis_ds *r)
{
	const char *set[4] = { "CONFIG", "SET", "appendonly", "yes" };
	struct redis_reply rep;
	struct redis_conn *c;
	int err;

	err = redis_ds_connect(r, &c);
	if (err)
		return err;
	err = redis_ds_cmd(r, c, &rep, 4, set);
	redis_reply_release(&rep);
	if (!err)
		err = redis_ds_poll(r, REDIS_POLL_MS, r->start_timeout,
				    "the AOF rewrite did not finish", NULL,
				    aof_is_rewritten, c);
	r->ops->close(c);
	return err;
}

/*
 * Brings the previous data back after a failed step: stop whatever runs,
 * put the old dump file, AOF dir and config file back, start. Logs how
 * it ended; the recover fails with the step's error either way.
 */
/*
 * The rollback's stop failed (@err): the server may still run, so nothing
 * is moved under it and no second server is started. The old files stay
 * under their .trovefs-old names; the config file goes back (read only at
 * a start, and the way back by hand starts the server). One error line
 * and the status step say where the previous data is.
 */
static void rollback_stuck(struct redis_ds *r, struct redis_site *st, int err)
{
	struct buf where;

	conf_put_back(r, st);
	if (!st->rdb_moved && !st->aof_moved) {
		log_error(
			"redis '%s': rollback: cannot stop the server: %s; nothing had been moved: it runs on its previous data",
			r->ds->name, strerror(-err));
		return;
	}
	buf_init(&where, 4 * REDIS_PATH_MAX);
	if (st->rdb_moved && st->had_rdb)
		buf_printf(&where, " '%s'", buf_str(&st->rdb_old));
	if (st->aof_moved && st->had_aof)
		buf_printf(&where, " '%s'", buf_str(&st->aof_old));
	if (!where.len)
		buf_puts(&where, " none: there was no dump file or AOF dir");
	log_error(
		"redis '%s': rollback: cannot stop the server: %s; nothing moved back and no second server started: the previous data is in%s - stop the server, rename that back (without '.trovefs-old') and start it",
		r->ds->name, strerror(-err), buf_str(&where));
	ds_set_step(
		r->ds,
		"rollback failed: the server would not stop; previous data in%s",
		buf_str(&where));
	buf_release(&where);
}

static void rollback(struct redis_ds *r, struct redis_site *st)
{
	int err;

	ds_set_step(r->ds, "rolling back to the previous data");
	err = server_stop(r);
	if (err) {
		rollback_stuck(r, st, err);
		return;
	}
	/* put back only what the swap moved (struct redis_site) */
	if (st->rdb_moved && st->had_rdb) {
		/* atomically over the staged file, if it got there */
		if (rename(buf_str(&st->rdb_old), buf_str(&st->rdb)) < 0)
			log_error(
				"redis '%s': rollback: cannot rename '%s' back: %s",
				r->ds->name, buf_str(&st->rdb_old),
				strerror(errno));
	} else if (st->rdb_swapped) {
		/* there was no dump file: the backup's goes */
		remove_path(buf_str(&st->rdb));
	}
	if (st->aof && st->aof_moved) {
		/* whatever the failed start made; the old one is aside */
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
}

/* ---- after the start: did the server load the backup? ---- */

/* Keys of database @db in INFO keyspace ("dbN:keys=K,..."; none: 0). */
static int keyspace_keys(struct redis_ds *r, struct redis_conn *c, uint64_t db,
			 unsigned long long *keys)
{
	char key[32];
	struct buf v;
	char *end;
	int err;

	*keys = 0;
	if (snprintf(key, sizeof(key), "db%llu", (unsigned long long)db) >=
	    (int)sizeof(key))
		return -EINVAL;
	buf_init(&v, 256);
	err = redis_ds_info_get(r, c, "keyspace", key, &v);
	if (err == -ENOENT) {
		err = 0; /* an empty database is not listed */
	} else if (!err) {
		errno = 0;
		if (strncmp(buf_str(&v), "keys=", 5) != 0)
			err = -EPROTO;
		else
			*keys = strtoull(buf_str(&v) + 5, &end, 10);
		if (!err && (errno || (*end && *end != ',')))
			err = -EPROTO;
		if (err)
			log_error(
				"redis '%s': INFO keyspace: cannot parse '%s'",
				r->ds->name, buf_str(&v));
	}
	buf_release(&v);
	return err;
}

/*
 * Right after the start with AOF off: the server must have loaded the
 * staged RDB. A start command or config file that turns appendonly on
 * makes Redis load its AOF instead (or create an empty one when the AOF
 * dir was moved aside) and ignore the RDB, yet PING answers all the same.
 * So: INFO persistence aof_enabled:0, and, when the RDB's head tells
 * (@h), at least as many keys in its first database as the backup holds
 * there without a TTL (keys with one may have expired since; clients may
 * write already, so there is no upper bound). Returns 0, or -EIO (one
 * log line saying what the server holds instead), or -errno of INFO.
 */
static int check_loaded(struct redis_ds *r, const struct rdb_head *h)
{
	unsigned long long keys = 0;
	unsigned long long want = 0;
	struct redis_conn *c;
	struct buf aof;
	int err;

	err = redis_ds_connect(r, &c);
	if (err)
		return err;
	buf_init(&aof, 64);
	err = redis_ds_info_get(r, c, "persistence", "aof_enabled", &aof);
	if (err == -ENOENT) {
		log_error("redis '%s': INFO persistence has no aof_enabled",
			  r->ds->name);
		err = -EPROTO;
	}
	if (err)
		goto out_close;
	if (strcmp(buf_str(&aof), "0") != 0) {
		log_error(
			"redis '%s': the server came up with AOF on (aof_enabled:%s), so it loaded its AOF and not the backup: the start command or the config file turns appendonly on",
			r->ds->name, buf_str(&aof));
		err = -EIO;
		goto out_close;
	}
	if (h->kind != RDB_HEAD_KEYS || !h->sized)
		goto out_close;
	want = h->keys - h->expires;
	err = keyspace_keys(r, c, h->db, &keys);
	if (!err && keys < want) {
		log_error(
			"redis '%s': the server holds %llu keys in db%llu, the backup %llu (%llu without a TTL): it did not load the backup",
			r->ds->name, keys, (unsigned long long)h->db,
			(unsigned long long)h->keys, want);
		err = -EIO;
	}
out_close:
	buf_release(&aof);
	r->ops->close(c);
	return err;
}

/* ---- the stage ops ---- */

/*
 * A recover being staged: the server's files as probed, and the backup
 * being written to rdb_new beside dbfilename while the server runs.
 */
struct ds_stage {
	struct redis_ds *r;
	struct redis_site st;
	int fd;		      /* rdb_new while written, else -1 */
	uint64_t written;     /* bytes in rdb_new */
	uint64_t flushed;     /* of them, handed to writeback */
	bool staged;	      /* rdb_new is ours and still there */
	struct rdb_head head; /* of rdb_new, read by redis_stage_sync() */
};

void redis_stage_free(struct ds_stage *sg)
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

/*
 * With AOF off at run time, the config file must not say appendonly yes:
 * the restart would load the old AOF and not the backup, and nothing
 * moves that AOF aside (only an AOF on at run time is). Refused before
 * anything is touched (-EINVAL). A config file that cannot be read is
 * not checked here; the check after the start catches it then.
 */
static int check_conf_aof_off(struct redis_ds *r, const struct redis_site *st)
{
	size_t len;
	char *text;
	bool on;

	if (!st->conf.len || redis_conf_read(buf_str(&st->conf), &text, &len))
		return 0;
	on = redis_conf_aof_is_on(text);
	free(text);
	if (!on)
		return 0;
	log_error(
		"redis '%s': the server runs with AOF off but '%s' says appendonly yes: a restart would load the old AOF, not the backup; make them agree (CONFIG SET appendonly yes, or CONFIG REWRITE)",
		r->ds->name, buf_str(&st->conf));
	return -EINVAL;
}

/* Probes the server and creates rdb_new (owner and mode of dbfilename). */
int redis_stage_open(struct ds *ds, const char *name, struct ds_stage **out)
{
	struct redis_ds *r = redis_ds_of(ds);
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
	trash_sweep(r, &sg->st);
	if ((sg->st.aof || !r->start_command) && !sg->st.conf.len) {
		log_error(
			"redis '%s': the server's config file is unknown (started without one?): set config_file or start_command",
			ds->name);
		err = -EINVAL;
		goto out_free;
	}
	if (sg->st.aof) {
		err = redis_conf_read(buf_str(&sg->st.conf), &sg->st.conf_orig,
				      &sg->st.conf_orig_len);
		if (err) {
			log_error("redis '%s': cannot read '%s': %s", ds->name,
				  buf_str(&sg->st.conf), strerror(-err));
			goto out_free;
		}
	} else {
		err = check_conf_aof_off(r, &sg->st);
		if (err)
			goto out_free;
	}
	path = buf_str(&sg->st.rdb_new);
	unlink(path); /* a leftover of a crashed recover */
	sg->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
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

int redis_stage_write(struct ds_stage *sg, const void *p, size_t len)
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

/* What the head of the staged RDB says about its keys, into sg->head. */
static int stage_read_head(struct ds_stage *sg)
{
	unsigned char *buf;
	size_t got = 0;
	ssize_t n;
	int err = 0;

	buf = malloc(RDB_HEAD_MAX);
	if (!buf)
		return -ENOMEM;
	while (got < RDB_HEAD_MAX) {
		n = pread(sg->fd, buf + got, RDB_HEAD_MAX - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			log_error("redis '%s': cannot read '%s': %s",
				  sg->r->ds->name, buf_str(&sg->st.rdb_new),
				  strerror(-err));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	rdb_head_parse(buf, got, &sg->head);
	free(buf);
	return err;
}

int redis_stage_sync(struct ds_stage *sg)
{
	const char *path = buf_str(&sg->st.rdb_new);
	int err = 0;

	if (fsync(sg->fd) < 0) {
		err = -errno;
		log_error("redis '%s': cannot fsync '%s': %s", sg->r->ds->name,
			  path, strerror(-err));
	}
	if (!err)
		err = stage_read_head(sg);
	if (close(sg->fd) < 0 && !err) {
		err = -errno;
		log_error("redis '%s': cannot write '%s': %s", sg->r->ds->name,
			  path, strerror(-err));
	}
	sg->fd = -1;
	return err;
}

/* Stops the server, swaps the staged file in, starts it (see the docs). */
int redis_stage_apply(struct ds_stage *sg)
{
	struct redis_ds *r = sg->r;
	struct redis_site *st = &sg->st;
	struct ds *ds = r->ds;
	int err;

	ds_set_step(ds, "stopping the server");
	err = server_stop(r);
	if (err)
		goto out_rollback;
	/* 1. swap the files */
	ds_set_step(ds, "replacing '%s'", buf_str(&st->rdb));
	err = move_aside(r, buf_str(&st->rdb), buf_str(&st->rdb_old),
			 &st->had_rdb);
	st->rdb_moved = !err;
	if (!err && st->aof) {
		err = move_aside(r, buf_str(&st->aof_path),
				 buf_str(&st->aof_old), &st->had_aof);
		st->aof_moved = !err;
	}
	if (!err && rename(buf_str(&st->rdb_new), buf_str(&st->rdb)) < 0) {
		err = -errno;
		log_error("redis '%s': cannot rename '%s': %s", ds->name,
			  buf_str(&st->rdb_new), strerror(-err));
	}
	if (!err) {
		sg->staged = false;
		st->rdb_swapped = true;
	}
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
	ds_set_step(ds, "checking that the server loaded the backup");
	err = check_loaded(r, &sg->head);
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
			err = conf_rewrite_by_server(r, st, err);
		if (err)
			return err;
	}
	/* the server no longer needs the old files: off the recover's time */
	ds_set_step(ds, "cleaning up");
	trash_old(r, st, buf_str(&st->rdb_old));
	if (st->aof)
		trash_old(r, st, buf_str(&st->aof_old));
	return 0;
out_rollback:
	if (sg->staged) {
		unlink(buf_str(&st->rdb_new));
		sg->staged = false;
	}
	/*
	 * A rollback renames the old files back; one still under its old
	 * name is one that could not be (logged), the only copy of its data
	 * on disk: it stays.
	 */
	rollback(r, st);
	return err;
}
