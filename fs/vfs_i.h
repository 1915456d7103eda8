/*
 * vfs_i.h - private to fs/vfs*.c: the namespace's state, open handles,
 * parsed paths and the stat cache.
 *
 * fs/vfs.c        path parsing, getattr, directory ops, rename, statfs,
 *                 providers
 * fs/vfs_readdir.c readdir; lookups from listings of the directory
 * fs/vfs_attrs.c  utimens/chmod/chown
 * fs/vfs_files.c  open handles: create/open/read/write/flush/release,
 *                 truncate, the table of files open for writing
 * fs/vfs_cache.c  the stat cache
 * fs/vfs_symlink.c symlinks under /containers
 *
 * Locks, in acquisition order:
 *   h->lock         one per handle: serializes the use of its store reader
 *                   or writer (held over those store calls only)
 *   v->files_lock   the handle list and each handle's pending state (ws,
 *                   target name, bytes written, mode, mtime, doomed) and
 *                   refcount; never held over a store call
 *   v->cache.lock   the stat cache; a leaf, never held over a store call
 */
#ifndef FS_VFS_I_H
#define FS_VFS_I_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "../backends/store.h"
#include "vfs.h"

#define VFS_CACHE_MAX 100000	     /* stat cache entries */
#define VFS_CACHE_BUCKETS (1u << 17) /* power of 2 */
#define VFS_COPY_CHUNK (1u << 20)    /* copy fallback of rename */
#define VFS_FAKE_TOTAL (1ull << 50)  /* statfs total when unknown: 1 PiB */
/* entries of the one listing page a lookup may ask for (vfs.c) */
#define VFS_LOOKUP_PAGE 1000
/* how long "no such name" is believed (vfs_cache.c) */
#define VFS_CACHE_NEG_TTL_NS 1000000000ull

enum vfs_top {
	VFS_TOP_CONTAINERS,
	VFS_TOP_RESTORE,
	VFS_TOP_SNAPSHOTS,
	VFS_TOP_DATASTORES,
	VFS_TOP_COUNT
};

enum vpath_kind {
	VP_ROOT,      /* "/" */
	VP_TOP,	      /* "/containers", "/restore", ... */
	VP_BAD_TOP,   /* any other name directly under "/" */
	VP_CONTAINER, /* "/containers/C" */
	VP_KEY,	      /* "/containers/C/K" */
	VP_PROV,      /* below a provider's top: "/restore/x/y" */
};

/* A parsed path; the strings point into @buf. */
struct vpath {
	enum vpath_kind kind;
	enum vfs_top top;
	const char *container; /* VP_CONTAINER, VP_KEY */
	const char *key;       /* VP_KEY: a valid store key */
	const char *rel;       /* VP_TOP, VP_PROV: path below the top ("") */
	char buf[PATH_MAX];
};

/* ---- stat cache (vfs_cache.c) ---- */

struct vfs_cache_entry;

struct vfs_cache {
	pthread_mutex_t lock;
	struct vfs_cache_entry **buckets; /* owned, VFS_CACHE_BUCKETS */
	struct vfs_cache_entry *oldest;	  /* FIFO for eviction */
	struct vfs_cache_entry *newest;
	size_t count;
	size_t max;
	uint64_t gen;	     /* bumped by every invalidation */
	uint64_t ttl_ns;     /* 0: the cache is off */
	uint64_t neg_ttl_ns; /* for "absent" entries: min(ttl, 1 s) */
};

int vfs_cache_init(struct vfs_cache *c, double ttl, size_t max);
void vfs_cache_release(struct vfs_cache *c);
/* The generation to pass to vfs_cache_put() after a store call. */
uint64_t vfs_cache_gen(struct vfs_cache *c);
/*
 * Stores @st for @path unless an invalidation happened since @gen was
 * taken (the store call that produced @st may predate the change). @st
 * NULL: @path is absent (vfs_cache_put_absent()).
 */
void vfs_cache_put(struct vfs_cache *c, const char *path, const struct stat *st,
		   uint64_t gen);
/*
 * After a change this mount made to @path (@gen taken before it): stores
 * @st, its attributes now, or drops @path if anything was invalidated
 * since @gen; either way an invalidation, so that a lookup that read the
 * store before the change cannot put its older answer afterwards.
 */
void vfs_cache_set(struct vfs_cache *c, const char *path, const struct stat *st,
		   uint64_t gen);
/* Caches that nothing is at @path (a lookup's -ENOENT), as _put() does. */
void vfs_cache_put_absent(struct vfs_cache *c, const char *path, uint64_t gen);
/* What the cache knows of a name (vfs_cache_lookup()). */
enum vfs_cached {
	VFS_CACHED_NONE,       /* nothing: ask the store */
	VFS_CACHED_UNLISTABLE, /* nothing, and its directory is too big to
				 * list for a lookup: ask for the name */
	VFS_CACHED_LISTED,     /* it exists; its attributes are not known */
	VFS_CACHED_ABSENT,     /* known absent (*st zeroed) */
	VFS_CACHED_UNLISTED,   /* not in its directory's complete listing
				 * (*st zeroed): absent, as far as listings
				 * tell, which lag a HEAD now and then */
	VFS_CACHED_STAT,       /* *st filled */
};

/*
 * What is cached of @path: its own entry, else what a mark of its
 * directory says (a complete listing: absent).
 */
enum vfs_cached vfs_cache_lookup(struct vfs_cache *c, const char *path,
				 struct stat *st);
/* True and *@st filled if known (_STAT, or absent: st_mode 0). */
bool vfs_cache_get(struct vfs_cache *c, const char *path, struct stat *st);
/*
 * Caches that @path exists (a listing said so without its attributes), or
 * with @dir that it is a subdirectory and no object (for the negative
 * TTL), unless it is cached as present already; @gen as _put().
 */
void vfs_cache_put_listed(struct vfs_cache *c, const char *path, bool dir,
			  uint64_t gen);
/*
 * After a listing of a directory (@dir_slash: its path and a '/'; @gen
 * taken before it) that cached each of its names: with @whole it held
 * them all, so for the negative TTL a name there not cached is absent;
 * without, the directory is too big to be listed for a lookup, for the
 * TTL.
 */
void vfs_cache_mark(struct vfs_cache *c, const char *dir_slash, bool whole,
		    uint64_t gen);
/* Drops @path and every ancestor (an implied directory may vanish). */
void vfs_cache_drop(struct vfs_cache *c, const char *path);
/* Drops @path, its ancestors and everything below it. */
void vfs_cache_drop_tree(struct vfs_cache *c, const char *path);
/*
 * After @path was created or changed: caches it as existing (attributes
 * unknown) and drops those of its ancestors not cached as present:
 * nothing vanished, so a directory above and its mark stay cached (rsync
 * creates and renames a file in the same directory many times).
 */
void vfs_cache_drop_added(struct vfs_cache *c, const char *path);
/*
 * Drops @from (moved away: gone) and its ancestors except those of @to,
 * which hold @to now, and caches @to as vfs_cache_drop_added() does.
 */
void vfs_cache_drop_moved(struct vfs_cache *c, const char *from,
			  const char *to);

/* ---- the namespace ---- */

struct vfs_prov {
	const struct vfs_provider_ops *ops; /* NULL: none registered */
	void *p;
};

struct vfs {
	struct vfs_conf conf;
	struct store *st;      /* borrowed */
	struct timespec birth; /* mtime of synthetic directories */
	struct vfs_prov prov[VFS_TOP_COUNT];
	pthread_mutex_t files_lock;
	struct vfs_handle *handles; /* every open handle, files_lock */
	struct vfs_cache cache;
	bool list_lookups; /* store_lists_by_page(): look up by listing */
};

enum vfs_handle_kind {
	VFS_H_FILE,	/* an object under /containers */
	VFS_H_PROVIDER, /* a file of a provider */
};

/* Write state of a file handle. */
enum vfs_wstate {
	VFS_W_NONE,	/* opened read-only */
	VFS_W_EXISTING, /* existing object opened for writing without
			 * O_TRUNC: writes refused until truncated to 0 */
	VFS_W_PENDING,	/* new or truncated: writes stream into the writer,
			 * visible in getattr/readdir, committed at close */
	VFS_W_DONE,	/* committed (or failed); nothing more to write */
};

struct vfs_handle {
	struct vfs *v;
	enum vfs_handle_kind kind;
	char *path;		 /* owned: path at open, for logs */
	struct vfs_handle *prev; /* v->handles, under files_lock */
	struct vfs_handle *next;
	unsigned refs; /* under files_lock */
	/*
	 * Descriptors (opens) sharing it, under files_lock: a new file with
	 * nothing written yet is shared by a second open for writing
	 * (join_pending() in vfs_files.c); the last release commits.
	 */
	unsigned opens;
	uint64_t owner; /* vfs_handle_set_owner(); 0: none (read-only) */

	/* provider handles */
	const struct vfs_provider_ops *pops;
	void *p;
	void *pfh;

	/* file handles, under lock */
	pthread_mutex_t lock;
	bool can_read;
	bool reads_empty; /* opened while its empty creation awaits release */
	int gone_err;	  /* deleted (-ENOENT) or replaced (-ESTALE)
			   * before the first read: what reads get */
	bool direct_io;	  /* opened while a new file replaces it */
	struct store_reader *reader; /* owned; NULL until the first read
				      * for O_RDWR, or a file cached */
	struct store_writer *w;	     /* owned; opened at the first write */
	char *wcontainer;	     /* owned: where @w commits */
	char *wkey;
	int err;	   /* sticky error of the write */
	bool warned;	   /* one log line per handle */
	bool append;	   /* O_APPEND: every write goes at the end */
	uint64_t obj_size; /* VFS_W_EXISTING: size of the object; a read
			    * handle whose reader waits for the first read:
			    * the size the open saw */

	/* under files_lock (changed under lock too where noted) */
	enum vfs_wstate ws; /* changed under lock + files_lock */
	char *container;    /* owned: name the commit lands under */
	char *key;
	uint64_t written;      /* bytes accepted so far */
	mode_t mode;	       /* permission bits to store */
	struct timespec mtime; /* to store; creation time by default */
	bool mtime_set;	       /* set by utimens: keep it at commit */
	uid_t uid;	       /* owner to store; (uid_t)-1: the mount's */
	gid_t gid;	       /* (gid_t)-1: the mount's */
	unsigned attr_gen;     /* bumped by every pending setattr */
	bool doomed;	       /* unlinked or replaced: abort at commit */
	bool replaces;	       /* an older object may sit under the
					 * name (O_TRUNC of an existing one) */
};

/*
 * What chmod, utimens and chown change. has_mode/has_mtime false and
 * uid/gid (uid_t)-1 keep what is stored (VFS_ATTRS_KEEP: all kept).
 */
struct vfs_attrs {
	bool has_mode;
	bool has_mtime;
	mode_t mode;
	struct timespec mtime;
	uid_t uid;
	gid_t gid;
};

#define VFS_ATTRS_KEEP                                                         \
	{                                                                      \
		.uid = (uid_t)-1, .gid = (gid_t)-1                             \
	}

/* vfs.c (the metadata keys: vfs_attrs.c) */
int vfs_path_parse(const char *path, struct vpath *vp);
/*
 * vfs_path_parse() for an operation on a file: the root, a top directory
 * and a container are -EISDIR, an unknown top directory is @bad_top; 0
 * leaves @vp a VP_PROV or a VP_KEY path.
 */
int vfs_path_parse_file(const char *path, struct vpath *vp, int bad_top);
int vfs_object_path(char *buf, size_t len, const char *container,
		    const char *key);
void vfs_stat_fill(const struct vfs *v, struct stat *st, mode_t mode,
		   uint64_t size, const struct timespec *mtime);
void vfs_stat_object(const struct vfs *v, const struct obj_info *oi,
		     struct stat *st);
/* A directory's stat where no marker says more. */
void vfs_stat_dir(const struct vfs *v, struct stat *st);
/* "containers", "restore", ... by enum vfs_top */
extern const char *const vfs_top_names[VFS_TOP_COUNT];
/* The provider of @vp's top directory, or NULL. */
const struct vfs_prov *vfs_prov_of(struct vfs *v, const struct vpath *vp);
int vfs_meta_get_mtime(const struct meta *m, struct timespec *ts);
mode_t vfs_meta_get_mode(const struct meta *m, mode_t def);
int vfs_meta_put_mtime(struct meta *m, const struct timespec *ts);
int vfs_meta_put_mode(struct meta *m, mode_t mode);
/* Sets in @m the keys for what @a changes ("mode", "mtime", "uid", "gid"). */
int vfs_meta_put_attrs(struct meta *m, const struct vfs_attrs *a);
/*
 * The owner chown stored in @m ("uid", "gid"), each (uid_t)-1 if there is
 * none: the mount's owner is shown then.
 */
void vfs_meta_get_owner(const struct meta *m, uid_t *uid, gid_t *gid);
/* Shows owner @uid/@gid in @st, each unless (uid_t)-1. */
void vfs_stat_owner(struct stat *st, uid_t uid, gid_t gid);
int vfs_lookup(struct vfs *v, const char *container, const char *key,
	       struct stat *st);
/* Builds "K/", the marker of directory @key; -ENAMETOOLONG if no key. */
int vfs_marker_key(char *buf, size_t len, const char *key);
/* getattr of /containers/C, through the cache. */
int vfs_container_getattr(struct vfs *v, const char *c, struct stat *st);
/* getattr of /containers/C/K: open files, the cache, then the store */
int vfs_key_getattr(struct vfs *v, const char *container, const char *key,
		    struct stat *st);
/*
 * vfs_key_getattr() for a caller about to create @key unless it exists:
 * a name missing only from its directory's listing is asked for by name
 * (a listing may lag an object another client just stored, and creating
 * over it would lose it: touch, >>).
 */
int vfs_key_getattr_for_create(struct vfs *v, const char *c, const char *k,
			       struct stat *st);
int vfs_dir_exists(struct vfs *v, const char *container, const char *dir);
/* 0 if @c/@k names nothing yet (vfs_key_getattr_for_create()) and its
 * parent directory exists; -EEXIST, -ENOENT, -ENOTDIR or a store error. */
int vfs_name_free(struct vfs *v, const char *c, const char *k);
/* For a node other than a directory at /containers/@c (@what: "file",
 * "symlink", ...): -EEXIST if that container exists, else -EPERM with one
 * log line (containers/ holds directories only), or a store error. */
int vfs_refuse_in_containers(struct vfs *v, const char *c, const char *what);
/*
 * Parses @path for a new node other than a directory (@what: "file",
 * "symlink"..., for the log): 0 with @vp a key under /containers/C/,
 * else -EEXIST (the root, a top directory, an existing container), -EROFS
 * (outside /containers), or vfs_refuse_in_containers()'s -EPERM.
 */
int vfs_path_parse_new_node(struct vfs *v, const char *path, struct vpath *vp,
			    const char *what);
/* @m (initialised here; caller releases) with "mode" and "mtime" = now. */
int vfs_meta_new(struct meta *m, mode_t mode);
int vfs_parent_exists(struct vfs *v, const char *container, const char *key);
/*
 * The stat cache after a change to @c/@k: it may be gone (dropped with
 * its ancestors: an implied directory may vanish with it), or it was
 * added or changed (vfs_cache_drop_added(): its directories stay).
 */
void vfs_drop_gone(struct vfs *v, const char *c, const char *k);
void vfs_drop_added(struct vfs *v, const char *c, const char *k);
/* True if a store error means "no object of that name". */
bool vfs_is_absent(int err);
const char *vfs_format_for(struct vfs *v, const char *container);
const char *vfs_strerror(int err, char *buf, size_t len);

/* vfs_readdir.c */
/*
 * Key @k of @c looked up by one page of a listing of its directory: 0
 * with *@st filled, -ENOENT, 1 if the store must be asked for it by name
 * (vfs_lookup()), or a -errno. What the listing says goes to the cache.
 */
int vfs_lookup_by_listing(struct vfs *v, const char *c, const char *k,
			  struct stat *st);

/* vfs_symlink.c */
bool vfs_meta_is_symlink(const struct meta *m);
/* readlink(2) of /containers/C/K: 0, -EINVAL (not a link), -ENOENT... */
int vfs_key_readlink(struct vfs *v, const char *c, const char *k, char *buf,
		     size_t size);

/* vfs_files.c */
bool vfs_pending_stat(struct vfs *v, const char *container, const char *key,
		      struct stat *st);
/* One name of a pending file in a directory (readdir). */
struct vfs_pending_name {
	char *name; /* owned: relative to the directory */
	struct stat st;
	bool seen; /* listed by the store too */
};
int vfs_pending_names(struct vfs *v, const char *container, const char *prefix,
		      struct vfs_pending_name **out, size_t *n);
void vfs_pending_names_free(struct vfs_pending_name *names, size_t n);
bool vfs_pending_under(struct vfs *v, const char *container,
		       const char *prefix);
unsigned vfs_pending_doom(struct vfs *v, const char *container,
			  const char *key);
int vfs_pending_retarget(struct vfs *v, const char *sc, const char *sk,
			 const char *dc, const char *dk, bool *replaces);
int vfs_pending_retarget_prefix(struct vfs *v, const char *sc,
				const char *sprefix, const char *dc,
				const char *dprefix);
bool vfs_pending_setattr(struct vfs *v, struct vfs_handle *h,
			 const char *container, const char *key,
			 const struct vfs_attrs *a);
void vfs_handles_free(struct vfs *v);
/*
 * After object @sc/@sk was moved to @dc/@dk (a rename of a stored file):
 * the files open on it for reading, or for writing and not yet written
 * (">>" before its first write), follow it there, as on a disk.
 */
void vfs_open_files_follow(struct vfs *v, const char *sc, const char *sk,
			   const char *dc, const char *dk);
/*
 * vfs_pending.c, for vfs_files.c: @h is a file being written under
 * @c/@k; the attributes its commit stores. files_lock held.
 */
bool vfs_pending_is(const struct vfs_handle *h, const char *c, const char *k);
/* Gives @h the name @dc/@dk (copies); files_lock held. 0 or -ENOMEM. */
int vfs_handle_rename(struct vfs_handle *h, const char *dc, const char *dk);
struct vfs_attrs vfs_pending_attrs(const struct vfs_handle *h);

/* vfs_copy.c */
/*
 * Renames object @sk of @sc to @dk of @dc (a copy and a delete where the
 * store cannot rename); @dest_new: @dk was found free just before.
 */
int vfs_move_object(struct vfs *v, const char *sc, const char *sk,
		    const char *dc, const char *dk, bool dest_new);
/* Drops the codec's own keys from @m: a copy's writer makes new ones. */
void vfs_meta_strip_codec(struct meta *m);
/*
 * Streams reader @r from its start into @put(@arg, bytes, n), a chunk of
 * VFS_COPY_CHUNK at a time; *@copied (optional) gets the bytes passed on.
 */
int vfs_stream_copy(struct store_reader *r,
		    int (*put)(void *arg, const void *p, size_t n), void *arg,
		    uint64_t *copied);

/* vfs_attrs.c */
/*
 * Stores what @a changes of object @c/@k, keeping every other metadata
 * key; *@st (optional) gets its attributes after the change, or
 * st_nlink 0 if they are not known. Returns 0, -ENOENT, or a store error.
 */
int vfs_update_meta(struct vfs *v, const char *c, const char *k,
		    const struct vfs_attrs *a, struct stat *st);

#endif /* FS_VFS_I_H */
