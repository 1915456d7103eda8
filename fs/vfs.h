/*
 * vfs.h - the trovefs namespace, FUSE-free: paths in, -errno out.
 *
 * fs/fuse_ops.c maps each FUSE high-level op onto one call here and
 * passes the result through; unit tests call these directly over a mem
 * store. The tree:
 *
 *   /                      root: the four top directories, read-only
 *   /containers/           one directory per container of the store
 *   /containers/C/K...     objects of container C; '/' in keys are
 *                          directories (markers "K/" or implied prefixes)
 *   /restore/              datastores' backups, read-only (issue 4)
 *   /snapshots/            Cinder snapshots (later issue)
 *   /datastores/           live datastores' control files (issue 4)
 *
 * The last three are served by providers (struct vfs_provider) that later
 * issues register; until then they are empty read-only directories.
 *
 * Semantics under /containers (what cp, rsync, mv, rm -r expect):
 * - A file being written is visible to getattr/readdir with the size
 *   written so far, but the object exists in the store only after close()
 *   (flush) commits it; close()/fsync() return the write's error, and a
 *   failed write leaves nothing under the name.
 * - Writes must be sequential from offset 0 of a new or truncated file;
 *   anything else is -EOPNOTSUPP with one log line.
 * - rename of a closed file is a store rename (no re-encode); rename of a
 *   directory moves every object under it.
 * - utimens/chmod update the object's metadata ("mtime", "mode").
 *
 * Threading: every function may be called from many threads at once.
 * Open handles are refcounted; one handle is used by one thread at a time
 * except for read, which may run concurrently.
 */
#ifndef FS_VFS_H
#define FS_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

struct store;
struct vfs;
struct vfs_handle;

/* The longest path component (a file or directory name), in bytes. */
#define VFS_NAME_MAX 255

struct vfs_conf {
	uid_t uid; /* owner shown where none was stored (chown) */
	gid_t gid;
	mode_t default_file_mode; /* for objects without "mode" (0644) */
	mode_t default_dir_mode;  /* 0755 */
	double attr_timeout;	  /* seconds a listing's stat stays cached
				 * (conf dir_cache_time) */
	uint32_t blksize;	  /* st_blksize reported (1 MiB) */
	const char *(*format_for)(void *arg, const char *container);
	void *format_arg; /* per-container write format, or NULL */
	/*
	 * True if the caller of the current call gave up on it (a signal:
	 * Ctrl-C on "truncate -s 10T f"); long calls stop then. NULL: never.
	 */
	bool (*interrupted)(void);
};

/*
 * Builds the namespace over @st (borrowed: the caller destroys it after
 * vfs_free()). Returns 0, -ENOMEM.
 */
int vfs_new(const struct vfs_conf *conf, struct store *st, struct vfs **out);

/* Aborts any uncommitted writes (nothing becomes visible) and frees. */
void vfs_free(struct vfs *v);

/* ---- namespace ---- */

/* Returns 0, -ENOENT, -ENAMETOOLONG, or a store error. */
int vfs_getattr(struct vfs *v, const char *path, struct stat *st);

/*
 * Called per entry (including "." and ".."); @st may be NULL when unknown.
 * Returns 0 to go on, 1 if the caller's buffer is full (stop).
 */
typedef int vfs_fill_fn(void *arg, const char *name, const struct stat *st);

/* Returns 0, -ENOENT, -ENOTDIR. */
int vfs_readdir(struct vfs *v, const char *path, vfs_fill_fn *fill, void *arg);

/*
 * A listing served by position while a thread still takes it
 * (vfs_dirsnap.c), for a readdir that resumes at an offset. One per open
 * directory; its requests come one at a time.
 */
struct vfs_dirsnap;

/* Returns 0 or -ENOMEM; free with vfs_dirsnap_free() (stops a listing). */
int vfs_dirsnap_new(struct vfs *v, struct vfs_dirsnap **out);
void vfs_dirsnap_free(struct vfs_dirsnap *d);
/* (Re)starts the listing of @path (vfs_readdir()'s entries, "." first). */
int vfs_dirsnap_start(struct vfs_dirsnap *d, const char *path);
/* True once vfs_dirsnap_start() was called. */
bool vfs_dirsnap_started(const struct vfs_dirsnap *d);
/* True once an entry of the current listing was given out. */
bool vfs_dirsnap_served(const struct vfs_dirsnap *d);
/*
 * Waits until the listing has an entry of its own (past "." and "..") or
 * has ended; returns its -errno if it ended with none, else 0. For
 * opendir: an error a readdir returns is lost to most programs (glibc's
 * readdir() turns ENOENT into the end of the directory).
 */
int vfs_dirsnap_verdict(struct vfs_dirsnap *d);

/*
 * Called per entry with the position after it (the offset to resume at);
 * @st may be NULL. Returns 0 to go on, 1 to stop (reply full).
 */
typedef int vfs_dirsnap_fn(void *arg, const char *name, const struct stat *st,
			   size_t next);

/*
 * Gives entries from position @from on to @fn, waiting until there is at
 * least one or the listing ended. Returns 0 (nothing given: the end), or
 * the listing's -errno once every entry before the failure was given.
 */
int vfs_dirsnap_serve(struct vfs_dirsnap *d, size_t from, vfs_dirsnap_fn *fn,
		      void *arg);

/* 0, -EEXIST, -ENOENT (parent), -EROFS (outside /containers), -EPERM */
int vfs_mkdir(struct vfs *v, const char *path, mode_t mode);
/* 0, -ENOENT, -ENOTEMPTY, -ENOTDIR, -EROFS, -EPERM */
int vfs_rmdir(struct vfs *v, const char *path);
/* 0, -ENOENT, -EISDIR, -EROFS, -EPERM */
int vfs_unlink(struct vfs *v, const char *path);

#define VFS_RENAME_NOREPLACE (1u << 0) /* RENAME_NOREPLACE */
#define VFS_RENAME_EXCHANGE (1u << 1)  /* RENAME_EXCHANGE: -EINVAL */

/*
 * 0, -ENOENT, -EEXIST, -ENOTEMPTY, -EISDIR, -ENOTDIR, -EINVAL, -EROFS;
 * -EXDEV for a container or a directory becoming one (mv copies it), and
 * -EPERM for a file moved into containers/ itself.
 */
int vfs_rename(struct vfs *v, const char *from, const char *to, unsigned flags);

/*
 * Only size 0 (or the current size) is supported: else -EOPNOTSUPP.
 * For truncate, utimens and chmod @h is the open file when the caller has
 * one (ftruncate, futimens, fchmod); @path may then be NULL (FUSE passes
 * none for a file unlinked while open).
 */
int vfs_truncate(struct vfs *v, const char *path, off_t size,
		 struct vfs_handle *h);
/* @ts[0] atime (ignored), @ts[1] mtime; UTIME_NOW/UTIME_OMIT honoured. */
int vfs_utimens(struct vfs *v, const char *path, const struct timespec ts[2],
		struct vfs_handle *h);
int vfs_chmod(struct vfs *v, const char *path, mode_t mode,
	      struct vfs_handle *h);
/*
 * Stores owner @uid/@gid ((uid_t)-1: keep) of a file, link or directory
 * marker; shown by getattr from then on. Who may is the caller's check.
 */
int vfs_chown(struct vfs *v, const char *path, uid_t uid, gid_t gid,
	      struct vfs_handle *h);
int vfs_statfs(struct vfs *v, const char *path, struct statvfs *out);

/* ---- files ---- */

/*
 * Creates (or truncates, with O_TRUNC) a file for writing; on success
 * *@out is the caller's handle, ended with vfs_release().
 * Returns 0, -EEXIST (O_EXCL), -ENOENT (parent), -EISDIR, -EROFS, -EPERM
 * (a file in containers/ itself: one log line).
 */
int vfs_create(struct vfs *v, const char *path, mode_t mode, int flags,
	       struct vfs_handle **out);

/*
 * Opens an existing file (O_RDONLY, O_WRONLY|O_TRUNC, ...). Returns 0,
 * -ENOENT, -EISDIR, -EBUSY (read of a file still being written: its bytes
 * are not stored yet; one created empty and closed reads as empty).
 */
int vfs_open(struct vfs *v, const char *path, int flags,
	     struct vfs_handle **out);

/* Returns bytes read (0 at EOF) or -errno (-EIO, -EBADMSG). */
ssize_t vfs_read(struct vfs_handle *h, char *buf, size_t size, off_t off);

/* Returns @size or -errno (-EOPNOTSUPP, -ENOSPC, -EIO, -EFBIG). */
ssize_t vfs_write(struct vfs_handle *h, const char *buf, size_t size,
		  off_t off);

/* close(): commits pending writes; returns their result. */
int vfs_flush(struct vfs_handle *h);
/*
 * The writer is gone mid-way (killed by a signal, @why says how): a file
 * being written is not stored, and what was under its name stays. Logs
 * one line if there was something to drop. Returns 0.
 */
int vfs_abandon(struct vfs_handle *h, const char *why);
/* Returns the pending error of a write in progress, if any. */
int vfs_fsync(struct vfs_handle *h, bool datasync);
/* Last close: commits if flush did not, drops the handle. */
int vfs_release(struct vfs_handle *h);

/*
 * True if @h must be read with direct_io: a provider's (see
 * vfs_provider_ops), or a file opened while a new one replaces it.
 */
bool vfs_handle_direct_io(const struct vfs_handle *h);

/* The handle's path (borrowed) - for logs. */
const char *vfs_handle_path(const struct vfs_handle *h);

/*
 * An opaque id of whoever opened @h (FUSE: the pid of create/open), kept
 * for the front end: a flush from another process (a child that inherited
 * the descriptor, as in "(cmd1; cmd2) > f") must not commit while the
 * opener may still write. 0 until set.
 */
void vfs_handle_set_owner(struct vfs_handle *h, uint64_t owner);
uint64_t vfs_handle_owner(const struct vfs_handle *h);

/* ---- providers for the other top directories (later issues) ---- */

/*
 * A provider serves everything below one top directory ("restore",
 * "snapshots", "datastores"); paths it receives are relative to it ("" is
 * its root). Ops left NULL answer -EROFS (changes) or -ENOENT (lookups).
 */
struct vfs_provider_ops {
	int (*getattr)(void *p, const char *rel, struct stat *st);
	int (*readdir)(void *p, const char *rel, vfs_fill_fn *fill, void *arg);
	int (*open)(void *p, const char *rel, int flags, void **fh);
	ssize_t (*read)(void *p, void *fh, char *buf, size_t size, off_t off);
	ssize_t (*write)(void *p, void *fh, const char *buf, size_t size,
			 off_t off);
	int (*release)(void *p, void *fh);
	int (*mkdir)(void *p, const char *rel, mode_t mode);
	int (*rmdir)(void *p, const char *rel);
	int (*truncate)(void *p, const char *rel, off_t size);
	int (*readlink)(void *p, const char *rel, char *buf, size_t size);
	/*
	 * Optional: true if reads of @fh must bypass the page cache (content
	 * of unknown size, e.g. a live dump shown with st_size 0): the front
	 * end then opens it with direct_io so every read reaches the op.
	 */
	bool (*direct_io)(void *p, void *fh);
};
/* (readdir: the vfs fills "." and ".." itself before calling the op.) */

/*
 * Registers @ops/@p for top directory @top. Before fuse_main only.
 * Returns 0, -EINVAL (unknown top), -EEXIST.
 */
int vfs_register_provider(struct vfs *v, const char *top,
			  const struct vfs_provider_ops *ops, void *p);

/*
 * readlink(2): a symlink under /containers or one a provider shows
 * (restore/NAME/latest). Returns 0 or -errno (-EINVAL: not a link); @buf
 * NUL-terminated, truncated to @size - 1 bytes.
 */
int vfs_readlink(struct vfs *v, const char *path, char *buf, size_t size);

/*
 * symlink(2): creates @path (under /containers/C/) holding @target.
 * Returns 0, -EEXIST, -ENOENT (no parent, or an empty @target),
 * -ENAMETOOLONG, -EPERM (a container), -EROFS (elsewhere), or a store
 * error (logged).
 */
int vfs_symlink(struct vfs *v, const char *target, const char *path);

/*
 * mknod(2): a regular @mode creates an empty file; FIFOs, sockets and
 * devices are refused with -EPERM (one log line). Also -EEXIST, -ENOENT
 * (no parent), -EROFS (outside /containers/C/).
 */
int vfs_mknod(struct vfs *v, const char *path, mode_t mode);

/*
 * link(2): hard links are not kept by any store: -EPERM, one log line;
 * -EROFS (no line: the caller says it) for a new name outside containers/.
 */
int vfs_link(struct vfs *v, const char *from, const char *to);

#endif /* FS_VFS_H */
