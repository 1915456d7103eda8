/*
 * fuse_ops.c - the FUSE high-level operations, each translated onto one
 * vfs call (fs/vfs.h) whose -errno result is returned as it is. No
 * namespace logic lives here: arguments in, result out.
 *
 * fi->fh carries the struct vfs_handle pointer from create/open to
 * release, and for a directory its struct vfs_dirsnap from opendir to
 * releasedir. The state is the struct trovefs_fuse given to fuse_main() as
 * private_data (read-only once mounted, so no locks here).
 */
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/log.h"
#include "../backends/store.h"
#include "vfs.h"

/* include/linux/sched.h: the task is exiting */
#define TFS_PF_EXITING 0x00000004ULL

#define TFS_MAX_WRITE (1u << 20)

static struct trovefs_fuse *tfs(void)
{
	return fuse_get_context()->private_data;
}

static struct vfs_handle *handle_of(const struct fuse_file_info *fi)
{
	return fi ? (struct vfs_handle *)(uintptr_t)fi->fh : NULL;
}

/*
 * @err of @op on @path, with one line for a change refused as read-only
 * (restore/, datastores/, the root) or a name too long for the store:
 * once a minute per path, since `rm -rf` or `touch` of such a path tries
 * several ops, and a tool may retry at will.
 */
/* True if a component of @path is longer than VFS_NAME_MAX. */
static bool has_long_name(const char *path)
{
	size_t n;

	for (; *path; path += n) {
		path += strspn(path, "/");
		n = strcspn(path, "/");
		if (n > VFS_NAME_MAX)
			return true;
	}
	return false;
}

static int refusal_said(const char *op, const char *path, int err)
{
	/* the whole path: a prefix shared by long names would merge them */
	char key[PATH_MAX + 16];

	if ((err != -EROFS && err != -ENAMETOOLONG) || !path)
		return err;
	snprintf(key, sizeof(key), "%d %s", err, path);
	if (!log_once_per(key, 60))
		return err;
	if (err == -EROFS)
		log_warn("%s of '%s' refused (EROFS): only containers/ is "
			 "writable; restore/ and datastores/ are made by "
			 "trovefs",
			 op, path);
	else if (has_long_name(path))
		log_warn("%s refused (ENAMETOOLONG): a file or directory "
			 "name is at most %d bytes: '%s'",
			 op, VFS_NAME_MAX, path);
	else
		/* the reason first: a path this long fills the line */
		log_warn("%s refused (ENAMETOOLONG): a name in a container is "
			 "at most %d bytes with its directories: '%s'",
			 op, STORE_KEY_MAX, path);
	return err;
}

/*
 * Stopping on SIGTERM, SIGINT or SIGHUP. libfuse 3.14's own handler
 * stores the signal as the session's error, so fuse_main() returned
 * non-zero and `kill`, `systemctl stop` or Ctrl-C of `trovefs -f` looked
 * like a failure. Ours ends the loop the same way (the main thread's
 * sem_wait() is interrupted and sees the session exited) without that.
 */
static struct fuse_session *volatile stop_session;
static volatile sig_atomic_t stop_signal;

static void stop_handler(int sig)
{
	stop_signal = sig;
	if (stop_session)
		fuse_session_exit(stop_session);
}

static void take_stop_signals(struct fuse_session *se)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_handler;
	sigemptyset(&sa.sa_mask);
	stop_session = se;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

int trovefs_fuse_stop_signal(void)
{
	return stop_signal;
}

bool trovefs_fuse_interrupted(void)
{
	return fuse_interrupted() != 0;
}

static void *tfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct trovefs_fuse *t = tfs();

	cfg->attr_timeout = t->attr_timeout;
	cfg->entry_timeout = t->attr_timeout;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	cfg->nullpath_ok = 0;
	cfg->hard_remove = 1; /* unlink of an open file reaches the vfs */
	cfg->direct_io = 0;

	conn->max_write = TFS_MAX_WRITE; /* libfuse asks for max_pages */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* writes must reach the vfs in order, as the application made them */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;

	/* fuse_main() has daemonized by now unless in the foreground */
	if (!t->foreground)
		log_init("trovefs", true, t->log_level);
	/* after fuse_main() set libfuse's handlers: ours replace them */
	take_stop_signals(fuse_get_session(fuse_get_context()->fuse));
	return t;
}

static int tfs_getattr(const char *path, struct stat *st,
		       struct fuse_file_info *fi)
{
	(void)fi;
	/* no path: an open file unlinked meanwhile (hard_remove) */
	if (!path)
		return -ENOENT;
	return refusal_said("lookup", path, vfs_getattr(tfs()->v, path, st));
}

static int tfs_readlink(const char *path, char *buf, size_t size)
{
	return vfs_readlink(tfs()->v, path, buf, size);
}

static int tfs_symlink(const char *target, const char *path)
{
	return refusal_said("symlink", path,
			    vfs_symlink(tfs()->v, target, path));
}

static int tfs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	(void)rdev;
	return refusal_said("mknod", path, vfs_mknod(tfs()->v, path, mode));
}

static int tfs_link(const char *from, const char *to)
{
	return refusal_said("link", to, vfs_link(tfs()->v, from, to));
}

static struct vfs_dirsnap *dirsnap_of(const struct fuse_file_info *fi)
{
	return (struct vfs_dirsnap *)(uintptr_t)fi->fh;
}

/*
 * The listing starts here and its first answer decides the opendir: a
 * directory gone from the store (a container deleted by another client)
 * fails here with ENOENT, where ls reports it; the same error from a
 * readdir would be taken for the end of the directory.
 */
static int tfs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct vfs_dirsnap *d;
	int err;

	err = vfs_dirsnap_new(tfs()->v, &d);
	if (err)
		return err;
	err = vfs_dirsnap_start(d, path);
	if (!err)
		err = vfs_dirsnap_verdict(d);
	if (err) {
		vfs_dirsnap_free(d);
		return err;
	}
	fi->fh = (uintptr_t)d;
	return 0;
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
	bool plus;
};

static int fill(void *arg, const char *name, const struct stat *st, size_t next)
{
	struct fill_ctx *x = arg;
	enum fuse_fill_dir_flags ff = 0;

	if (st && x->plus)
		ff = FUSE_FILL_DIR_PLUS;
	return x->filler(x->buf, name, st, (off_t)next, ff) ? 1 : 0;
}

/*
 * Entries go out with their position as offset (see vfs_dirsnap.c for
 * why): the listing starts at opendir (again on a rewinddir) and each
 * request resumes where the kernel asks. libfuse looks up (references) an
 * entry before it knows whether it fits the reply; the one that does not
 * fit keeps that reference until unmount, one node per request.
 */
static int tfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		       off_t off, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct vfs_dirsnap *d = dirsnap_of(fi);
	struct fill_ctx x = {
		.buf = buf,
		.filler = filler,
		.plus = (flags & FUSE_READDIR_PLUS) != 0,
	};
	int err;

	if (off < 0)
		return -EINVAL;
	/* offset 0 after entries went out: a rewinddir(), list anew */
	if (!vfs_dirsnap_started(d) || (off == 0 && vfs_dirsnap_served(d))) {
		err = vfs_dirsnap_start(d, path);
		if (err)
			return err;
	}
	return vfs_dirsnap_serve(d, (size_t)off, fill, &x);
}

static int tfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	vfs_dirsnap_free(dirsnap_of(fi));
	return 0;
}

static int tfs_mkdir(const char *path, mode_t mode)
{
	return refusal_said("mkdir", path, vfs_mkdir(tfs()->v, path, mode));
}

static int tfs_rmdir(const char *path)
{
	return refusal_said("rmdir", path, vfs_rmdir(tfs()->v, path));
}

static int tfs_unlink(const char *path)
{
	return refusal_said("unlink", path, vfs_unlink(tfs()->v, path));
}

static int tfs_rename(const char *from, const char *to, unsigned int flags)
{
	unsigned vflags = 0;
	const char *blamed;
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & RENAME_NOREPLACE)
		vflags |= VFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		vflags |= VFS_RENAME_EXCHANGE;
	err = vfs_rename(tfs()->v, from, to, vflags);
	/* the side refused: outside containers/, or the longer name */
	if (err == -EROFS)
		blamed = strncmp(from, "/containers/", 12) == 0 ? to : from;
	else
		blamed = strlen(to) > strlen(from) ? to : from;
	return refusal_said("rename", blamed, err);
}

static int tfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	return refusal_said("truncate", path,
			    vfs_truncate(tfs()->v, path, size, handle_of(fi)));
}

static int tfs_utimens(const char *path, const struct timespec tv[2],
		       struct fuse_file_info *fi)
{
	return refusal_said("utimens", path,
			    vfs_utimens(tfs()->v, path, tv, handle_of(fi)));
}

static int tfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return refusal_said("chmod", path,
			    vfs_chmod(tfs()->v, path, mode, handle_of(fi)));
}

/* True if the calling process is in group @gid. */
static bool caller_in_group(gid_t gid)
{
	gid_t groups[256];
	int n;
	int i;

	if (fuse_get_context()->gid == gid)
		return true;
	n = fuse_getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (i = 0; i < n && i < (int)(sizeof(groups) / sizeof(groups[0])); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * The rule of chown(2) on a disk: root gives anything to anyone; others
 * may only change the group of what they own, to one of their own
 * groups. The kernel does not check it for us (no default_permissions).
 */
static int chown_check(const char *path, uid_t uid, gid_t gid)
{
	uid_t caller = fuse_get_context()->uid;
	struct stat st;
	int err;

	if (caller == 0)
		return 0;
	if (!path)
		return -EPERM;
	err = vfs_getattr(tfs()->v, path, &st);
	if (err)
		return err;
	if (st.st_uid != caller)
		return -EPERM;
	if (uid != (uid_t)-1 && uid != st.st_uid)
		return -EPERM;
	if (gid != (gid_t)-1 && gid != st.st_gid && !caller_in_group(gid))
		return -EPERM;
	return 0;
}

static int tfs_chown(const char *path, uid_t uid, gid_t gid,
		     struct fuse_file_info *fi)
{
	int err = chown_check(path, uid, gid);

	if (err == -EPERM)
		log_warn("chown of '%s' to %ld:%ld refused (EPERM): only root "
			 "changes owners; an owner only sets its own groups",
			 path ? path : "(unlinked)", (long)(int)uid,
			 (long)(int)gid);
	if (err)
		return err;
	return refusal_said("chown", path,
			    vfs_chown(tfs()->v, path, uid, gid, handle_of(fi)));
}

/*
 * Who closes: FUSE gives the calling thread's id, and a multithreaded
 * program may open a file in one thread and close it in another, whose
 * close() must still commit and report the outcome. The owner is the
 * thread group (the process), read from /proc; the thread id if that
 * cannot be read.
 */
static uint64_t caller_process(void)
{
	pid_t tid = fuse_get_context()->pid;
	char path[40];
	char line[128];
	long tgid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)tid);
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Tgid: %ld", &tgid) == 1)
				break;
		fclose(f);
	}
	return tgid > 0 ? (uint64_t)tgid : (uint64_t)tid;
}

/*
 * The signal killing the calling thread, or 0. A process killed mid-copy
 * (Ctrl-C on cp, kill) closes its files on its way out: the kernel
 * flushes them with the task already exiting (PF_EXITING in the flags,
 * field 9 of /proc/TID/stat) and its exit code set (field 52: the signal
 * in the low 7 bits). A normal close, or exit() with any status, is not
 * a kill.
 */
static int caller_killed_by(void)
{
	pid_t tid = fuse_get_context()->pid;
	unsigned long long flags = 0;
	long long code = 0;
	char path[40];
	char buf[1024];
	const char *p;
	size_t n = 0;
	FILE *f;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)tid);
	f = fopen(path, "re");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	/* the fields after the command name, which may hold anything */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (field = 2; *p && field < 52; p++) {
		if (*p != ' ')
			continue;
		field++;
		if (field == 9)
			flags = strtoull(p + 1, NULL, 10);
		else if (field == 52)
			code = strtoll(p + 1, NULL, 10);
	}
	if (!(flags & TFS_PF_EXITING))
		return 0;
	return (int)(code & 0x7f);
}

static int tfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct vfs_handle *h;
	int err;

	err = vfs_create(tfs()->v, path, mode, fi->flags, &h);
	if (err)
		return refusal_said("create", path, err);
	vfs_handle_set_owner(h, caller_process());
	fi->direct_io = vfs_handle_direct_io(h); /* O_RDWR: no mmap */
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int tfs_open(const char *path, struct fuse_file_info *fi)
{
	struct vfs_handle *h;
	int err;

	err = vfs_open(tfs()->v, path, fi->flags, &h);
	if (err)
		return refusal_said("open for writing", path, err);
	/* only a handle that can write has a commit for its owner's close */
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		vfs_handle_set_owner(h, caller_process());
	/* a live dump has no size to show: reads must reach the provider */
	fi->direct_io = vfs_handle_direct_io(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int tfs_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	return (int)vfs_read(handle_of(fi), buf, size, off);
}

static int tfs_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)path;
	return (int)vfs_write(handle_of(fi), buf, size, off);
}

/*
 * A file was written and then not stored (a failed commit, a writer
 * killed mid-way). The kernel still has the size the writes gave it and
 * their pages, until attr_timeout: a read right after would see them, or
 * the old file cut at that size. It is told to forget them.
 */
static void forget_written(const char *path)
{
	if (path)
		fuse_invalidate_path(fuse_get_context()->fuse, path);
}

/*
 * The kernel flushes on every close(), also of a descriptor a child
 * inherited: "(cat a; cat b) > f" flushes when the first cat exits, while
 * more is to come. Only the opening process's close commits (so that its
 * close() reports the outcome), whichever of its threads closes; another
 * process's close reports what went wrong so far, and release commits if
 * the opener never flushes.
 */
static int tfs_flush(const char *path, struct fuse_file_info *fi)
{
	struct vfs_handle *h = handle_of(fi);
	char why[48];
	int err;
	int sig;

	(void)path;
	if (!vfs_handle_owner(h))
		return 0; /* read-only: nothing to commit, no /proc to read */
	if (vfs_handle_owner(h) != caller_process())
		return vfs_fsync(h, false);
	sig = caller_killed_by();
	if (sig) {
		snprintf(why, sizeof(why), "was killed by signal %d (%s)", sig,
			 sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		err = vfs_abandon(h, why);
		forget_written(path);
		return err;
	}
	err = vfs_flush(h);
	if (err)
		forget_written(path);
	return err;
}

static int tfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	return vfs_fsync(handle_of(fi), datasync != 0);
}

static int tfs_release(const char *path, struct fuse_file_info *fi)
{
	int err = vfs_release(handle_of(fi));

	if (err)
		forget_written(path);
	return err;
}

static int tfs_statfs(const char *path, struct statvfs *st)
{
	return vfs_statfs(tfs()->v, path, st);
}

static void tfs_destroy(void *private_data)
{
	/* main frees the vfs and the store after fuse_main() returns */
	(void)private_data;
	/* the session is freed next: a later signal only records itself */
	stop_session = NULL;
}

const struct fuse_operations trovefs_fuse_ops = {
	.init = tfs_init,
	.destroy = tfs_destroy,
	.getattr = tfs_getattr,
	.readlink = tfs_readlink,
	.symlink = tfs_symlink,
	.mknod = tfs_mknod,
	.link = tfs_link,
	.opendir = tfs_opendir,
	.readdir = tfs_readdir,
	.releasedir = tfs_releasedir,
	.mkdir = tfs_mkdir,
	.rmdir = tfs_rmdir,
	.unlink = tfs_unlink,
	.rename = tfs_rename,
	.truncate = tfs_truncate,
	.utimens = tfs_utimens,
	.chmod = tfs_chmod,
	.chown = tfs_chown,
	.create = tfs_create,
	.open = tfs_open,
	.read = tfs_read,
	.write = tfs_write,
	.flush = tfs_flush,
	.fsync = tfs_fsync,
	.release = tfs_release,
	.statfs = tfs_statfs,
};
