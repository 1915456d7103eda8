/*
 * vfs_files.c - open files of the namespace: read handles over a store
 * reader, write handles over a store writer (the table of files open for
 * writing that makes an uncommitted file visible to getattr/readdir is
 * vfs_pending.c).
 *
 * A write handle ("pending", VFS_W_PENDING) streams sequential writes
 * from offset 0 into a writer opened at the first write; the object
 * appears in the store only when flush (close) or release commits it. Its
 * name may change before that (rename of an open file): the writer then
 * commits under the name it was opened with and the object is moved to
 * the final name right after (settle()); if no writer was opened yet, the
 * commit lands under the final name directly.
 *
 * A flush with nothing written does not commit: a shell redirection
 * ("cmd > f") dup2()s the new descriptor and closes the original, which
 * flushes, before cmd writes anything. Such a file is committed by a
 * later flush or, empty, by release.
 *
 * The front end may tag a handle with its opener (vfs_handle_set_owner)
 * so that only the opener's close commits (fs/fuse_ops.c).
 *
 * Handles are refcounted (refs, under files_lock): the opener's reference
 * is dropped by vfs_release(); path operations that act on a pending
 * handle (truncate) take one while they use it.
 * Locks: h->lock then v->files_lock (see vfs_i.h); no store call is made
 * with files_lock held.
 */
#include "vfs.h"
#include "vfs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/log.h"

/* "container/key" of a handle, for log lines */
#define VFS_LOG_NAME_MAX (STORE_CONTAINER_MAX + STORE_KEY_MAX + 2)

/* ---- handle lifetime ---- */

static void handle_free(struct vfs_handle *h)
{
	store_reader_close(h->reader);
	store_writer_abort(h->w);
	free(h->wcontainer);
	free(h->wkey);
	free(h->container);
	free(h->key);
	free(h->path);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static struct vfs_handle *handle_new(struct vfs *v, enum vfs_handle_kind kind,
				     const char *path)
{
	struct vfs_handle *h;

	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->path = strdup(path);
	if (!h->path || pthread_mutex_init(&h->lock, NULL)) {
		free(h->path);
		free(h);
		return NULL;
	}
	h->v = v;
	h->kind = kind;
	h->refs = 1;
	h->opens = 1;
	h->uid = (uid_t)-1;
	h->gid = (gid_t)-1;
	clock_gettime(CLOCK_REALTIME, &h->mtime);
	return h;
}

/* Sets the handle's name (copies); 0 or -ENOMEM. */
static int handle_set_name(struct vfs_handle *h, const char *c, const char *k)
{
	h->container = strdup(c);
	h->key = strdup(k);
	if (!h->container || !h->key)
		return -ENOMEM;
	return 0;
}

/* Makes @h findable (open-files table); takes no extra reference. */
static void handle_link(struct vfs_handle *h)
{
	struct vfs *v = h->v;

	pthread_mutex_lock(&v->files_lock);
	h->prev = NULL;
	h->next = v->handles;
	if (v->handles)
		v->handles->prev = h;
	v->handles = h;
	pthread_mutex_unlock(&v->files_lock);
}

/* Drops one reference; the last one frees. */
static void handle_put(struct vfs_handle *h)
{
	struct vfs *v = h->v;
	bool last;

	pthread_mutex_lock(&v->files_lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&v->files_lock);
	if (last)
		handle_free(h);
}

/* Removes @h from the table and drops the opener's reference. */
static void handle_unlink_put(struct vfs_handle *h)
{
	struct vfs *v = h->v;
	bool last;

	pthread_mutex_lock(&v->files_lock);
	if (h->prev)
		h->prev->next = h->next;
	else if (v->handles == h)
		v->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = NULL;
	h->next = NULL;
	last = --h->refs == 0;
	pthread_mutex_unlock(&v->files_lock);
	if (last)
		handle_free(h);
}

void vfs_handles_free(struct vfs *v)
{
	struct vfs_handle *h = v->handles;

	/* unmounted with files open: nothing uncommitted becomes visible */
	while (h) {
		struct vfs_handle *next = h->next;

		/* a file cut off by an unmount (or SIGTERM) gets its line */
		vfs_abandon(h, "was cut off by the unmount");
		handle_free(h);
		h = next;
	}
	v->handles = NULL;
}

const char *vfs_handle_path(const struct vfs_handle *h)
{
	return h->path;
}

/* atomic: a shared handle (join_pending()) gets its second opener's */
void vfs_handle_set_owner(struct vfs_handle *h, uint64_t owner)
{
	__atomic_store_n(&h->owner, owner, __ATOMIC_RELAXED);
}

uint64_t vfs_handle_owner(const struct vfs_handle *h)
{
	return __atomic_load_n(&h->owner, __ATOMIC_RELAXED);
}

/* An open file of stored @c/@k (not being written); files_lock held. */
static bool opened_on(const struct vfs_handle *h, const char *c, const char *k)
{
	return h->kind == VFS_H_FILE &&
	       (h->ws == VFS_W_NONE || h->ws == VFS_W_EXISTING) &&
	       strcmp(h->container, c) == 0 && strcmp(h->key, k) == 0;
}

/*
 * Without it, ">> f" renamed before its first write found nothing under
 * the old name (ESTALE), nor did a reader whose open came from the
 * cache (ENOENT). The name is changed under h->lock too: the reads and
 * the append use it under that lock alone.
 */
void vfs_open_files_follow(struct vfs *v, const char *sc, const char *sk,
			   const char *dc, const char *dk)
{
	struct vfs_handle **hs = NULL;
	struct vfs_handle **grown;
	struct vfs_handle *h;
	size_t n = 0;
	size_t cap = 0;
	size_t i;

	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h; h = h->next) {
		if (!opened_on(h, sc, sk))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			grown = realloc(hs, cap * sizeof(*hs));
			if (!grown)
				break; /* the rest keep the old name */
			hs = grown;
		}
		h->refs++;
		hs[n++] = h;
	}
	pthread_mutex_unlock(&v->files_lock);
	for (i = 0; i < n; i++) {
		h = hs[i];
		pthread_mutex_lock(&h->lock);
		pthread_mutex_lock(&v->files_lock);
		if (opened_on(h, sc, sk) && vfs_handle_rename(h, dc, dk))
			log_warn(
				"'%s/%s' moved to '%s/%s': an open file of it keeps the old name (out of memory)",
				sc, sk, dc, dk);
		pthread_mutex_unlock(&v->files_lock);
		pthread_mutex_unlock(&h->lock);
		handle_put(h);
	}
	free(hs);
}

/* ---- open, create ---- */

/*
 * A new pending handle for @c/@k with @a's mode and owner; linked into
 * the table on success.
 */
static int pending_new(struct vfs *v, const char *path, const char *c,
		       const char *k, const struct vfs_attrs *a, bool replaces,
		       struct vfs_handle **out)
{
	struct vfs_handle *h;

	h = handle_new(v, VFS_H_FILE, path);
	if (!h)
		return -ENOMEM;
	if (handle_set_name(h, c, k)) {
		handle_free(h);
		return -ENOMEM;
	}
	h->ws = VFS_W_PENDING;
	h->mode = a->mode & 07777;
	h->uid = a->uid;
	h->gid = a->gid;
	h->replaces = replaces;
	handle_link(h);
	vfs_drop_added(v, c, k);
	*out = h;
	return 0;
}

/* True if @c/@k is being created (written, not yet committed). */
static bool pending_exists(struct vfs *v, const char *c, const char *k)
{
	struct stat st;

	return vfs_pending_stat(v, c, k, &st);
}

/*
 * True if another descriptor is writing bytes into @c/@k. An empty one
 * is not counted: that is the touch before "touch f; cmd >> f", whose
 * release (the commit of the empty file) can come after cmd's first
 * write.
 */
static bool pending_has_bytes(struct vfs *v, const char *c, const char *k)
{
	struct stat st;

	return vfs_pending_stat(v, c, k, &st) && st.st_size > 0;
}

/*
 * True if the stat cache holds @c/@k as a file (a fresh stat); its size
 * into *@size.
 */
static bool known_file(struct vfs *v, const char *c, const char *k,
		       uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;

	if (vfs_object_path(path, sizeof(path), c, k) ||
	    vfs_cache_lookup(&v->cache, path, &st) != VFS_CACHED_STAT ||
	    !S_ISREG(st.st_mode))
		return false;
	*size = (uint64_t)st.st_size;
	return true;
}

/* -EISDIR if @c/@k is a directory, else -ENOENT (or a store error). */
static int absent_error(struct vfs *v, const char *c, const char *k)
{
	struct stat st;
	int err;

	err = vfs_lookup(v, c, k, &st);
	if (err)
		return err;
	return S_ISDIR(st.st_mode) ? -EISDIR : -ENOENT;
}

static int commit_empty_pending(struct vfs *v, const char *c, const char *k);
static struct vfs_handle *pending_get(struct vfs *v, const char *c,
				      const char *k);

/*
 * What the open flags of a new (pending) file change, or of a second
 * open joining it (join_pending()): O_APPEND; and
 * O_RDWR gets direct I/O, so that a shared mmap() of it fails with
 * ENODEV rather than its first page fault reading through the
 * descriptor being written (EOPNOTSUPP), which kills the process with
 * SIGBUS.
 */
static void pending_open_flags(struct vfs_handle *h, int flags)
{
	if (flags & O_APPEND)
		h->append = true;
	if ((flags & O_ACCMODE) == O_RDWR)
		h->direct_io = true;
}

/*
 * A second open for writing of a file being created that has nothing
 * written yet shares its handle: "touch f; cmd > f" (touch's release,
 * which would commit the empty file, may come after cmd's open), a
 * redirection opened again ("cmd > f 2> f"), ": > f; cmd >> f". Both
 * descriptors then write the one file, sequentially from 0, and the
 * last release (or a close after writing) commits it: committing the
 * empty file here instead left the first descriptor writing a file
 * already stored (EOPNOTSUPP). True and *@out set if joined.
 */
static bool join_pending(struct vfs *v, const char *c, const char *k, int flags,
			 struct vfs_handle **out)
{
	struct vfs_handle *p = pending_get(v, c, k);
	bool joined = false;

	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	pthread_mutex_lock(&v->files_lock);
	/* opens 0: its last release is committing it (then it is stored) */
	if (p->ws == VFS_W_PENDING && !p->doomed && p->opens > 0 && !p->w &&
	    !p->err && p->written == 0) {
		p->opens++;
		joined = true;
	}
	pthread_mutex_unlock(&v->files_lock);
	if (joined) {
		pending_open_flags(p, flags);
		*out = p; /* the reference pending_get() took is this open's */
	}
	pthread_mutex_unlock(&p->lock);
	if (!joined)
		handle_put(p);
	return joined;
}

/* Opens existing file @c/@k (or fails with -ENOENT, -EISDIR). */
static int open_key(struct vfs *v, const char *path, const char *c,
		    const char *k, int flags, struct vfs_handle **out)
{
	int acc = flags & O_ACCMODE;
	struct vfs_attrs keep = VFS_ATTRS_KEEP;
	struct vfs_handle *h;
	struct obj_info oi;
	bool was_pending;
	int err;

	h = handle_new(v, VFS_H_FILE, path);
	if (!h)
		return -ENOMEM;
	err = handle_set_name(h, c, k);
	if (err)
		goto out_free;
	if (acc == O_RDONLY) {
		struct stat pst;
		bool pending = vfs_pending_stat(v, c, k, &pst);

		h->ws = VFS_W_NONE;
		h->can_read = true;
		if (pending && pst.st_size == 0) {
			/*
			 * Created or truncated and closed but not yet released
			 * (the kernel sends release after close() returns:
			 * touch f; cat f, or : > f; cat f over a stored f):
			 * what was written is nothing, so that is what reads.
			 */
			h->reads_empty = true;
			handle_link(h);
			*out = h;
			return 0;
		}
		if (!pending && known_file(v, c, k, &h->obj_size) &&
		    h->obj_size > 0) {
			/*
			 * The reader opens at the first read (vfs_read()):
			 * rsync opens each file it wrote to fchmod() it and
			 * reads nothing, which cost the store's HEAD. That
			 * read checks it still finds the size seen here. Not
			 * for an empty file: the kernel sends it no read, so
			 * its open is where a wrong key or a corrupt object
			 * shows.
			 */
			handle_link(h);
			*out = h;
			return 0;
		}
		err = store_reader_open(v->st, c, k, &h->reader);
		if (vfs_is_absent(err) && pending) {
			/* being written: its bytes are not in the store yet */
			if (log_once_per(path, 60))
				log_warn(
					"'%s/%s' is being written: it can be read once its writer closed it (EBUSY)",
					c, k);
			err = -EBUSY;
		} else if (!err && pending) {
			/*
			 * Being replaced (cp new f while cat f): getattr shows
			 * the new file's size so far, and the kernel would
			 * cut the reads of the old object there, a silent
			 * short read. Read it whole, whatever that size says.
			 */
			h->direct_io = true;
		}
		if (vfs_is_absent(err))
			err = absent_error(v, c, k);
		if (err)
			goto out_free;
		handle_link(h);
		*out = h;
		return 0;
	}

	if (join_pending(v, c, k, flags, out)) {
		handle_free(h);
		return 0;
	}
	/*
	 * Pending before the HEAD: a commit that ends between the HEAD and a
	 * later look would leave the name neither pending nor (for that
	 * HEAD) stored: ENOENT for a file that exists (touch f; echo x > f).
	 */
	was_pending = pending_exists(v, c, k);
	obj_info_init(&oi);
	err = store_head(v->st, c, k, &oi);
	if (vfs_is_absent(err) && (was_pending || pending_exists(v, c, k))) {
		err = commit_empty_pending(v, c, k);
		obj_info_release(&oi);
		obj_info_init(&oi);
		if (!err)
			err = store_head(v->st, c, k, &oi);
	}
	if (vfs_is_absent(err))
		err = absent_error(v, c, k);
	if (err) {
		obj_info_release(&oi);
		goto out_free;
	}
	/* a replaced file keeps its mode and owner, as on a disk */
	keep.mode = vfs_meta_get_mode(&oi.meta, v->conf.default_file_mode);
	vfs_meta_get_owner(&oi.meta, &keep.uid, &keep.gid);
	h->obj_size = oi.size;
	obj_info_release(&oi);
	if (flags & O_TRUNC) {
		handle_free(h);
		err = pending_new(v, path, c, k, &keep, true, out);
		if (!err)
			pending_open_flags(*out, flags);
		return err;
	}
	/* writable only after ftruncate(fd, 0): see vfs_write() */
	h->ws = VFS_W_EXISTING;
	h->append = (flags & O_APPEND) != 0;
	h->mode = keep.mode;
	h->uid = keep.uid;
	h->gid = keep.gid;
	h->can_read = acc == O_RDWR;
	handle_link(h);
	*out = h;
	return 0;

out_free:
	handle_free(h);
	return err;
}

int vfs_create(struct vfs *v, const char *path, mode_t mode, int flags,
	       struct vfs_handle **out)
{
	struct vfs_attrs a = VFS_ATTRS_KEEP;
	struct stat st;
	struct vpath vp;
	int err;

	err = vfs_path_parse_new_node(v, path, &vp, "file");
	if (err == -EEXIST && !(flags & O_EXCL))
		return -EISDIR; /* a directory's name, opened to write */
	if (err)
		return err;
	/*
	 * O_EXCL (rsync's temp files, cp's new files) asks for a new name
	 * and gets one as far as the directory's listing tells; without it
	 * an existing file is opened (touch, >>), so the name is asked for.
	 */
	if (flags & O_EXCL)
		err = vfs_key_getattr(v, vp.container, vp.key, &st);
	else
		err = vfs_key_getattr_for_create(v, vp.container, vp.key, &st);
	if (!err) {
		if (flags & O_EXCL)
			return -EEXIST;
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		return open_key(v, path, vp.container, vp.key, flags, out);
	}
	if (err != -ENOENT)
		return err;
	err = vfs_parent_exists(v, vp.container, vp.key);
	if (err)
		return err;
	a.mode = mode;
	err = pending_new(v, path, vp.container, vp.key, &a, false, out);
	if (!err)
		pending_open_flags(*out, flags);
	return err;
}

int vfs_open(struct vfs *v, const char *path, int flags,
	     struct vfs_handle **out)
{
	const struct vfs_prov *pr;
	struct vfs_handle *h;
	struct vpath vp;
	int err;

	err = vfs_path_parse_file(path, &vp, -ENOENT);
	if (err)
		return err;
	if (vp.kind == VP_KEY)
		return open_key(v, path, vp.container, vp.key, flags, out);
	pr = &v->prov[vp.top];
	if (!pr->ops || !pr->ops->open)
		return (flags & O_ACCMODE) == O_RDONLY ? -ENOENT : -EROFS;
	h = handle_new(v, VFS_H_PROVIDER, path);
	if (!h)
		return -ENOMEM;
	h->pops = pr->ops;
	h->p = pr->p;
	err = pr->ops->open(pr->p, vp.rel, flags, &h->pfh);
	if (err) {
		handle_free(h);
		return err;
	}
	handle_link(h);
	*out = h;
	return 0;
}

/* ---- read, write ---- */

/* "c/k" of @h's current name into @buf, for logs. */
static const char *handle_name(struct vfs_handle *h, char *buf, size_t len)
{
	pthread_mutex_lock(&h->v->files_lock);
	snprintf(buf, len, "%s/%s", h->container, h->key);
	pthread_mutex_unlock(&h->v->files_lock);
	return buf;
}

ssize_t vfs_read(struct vfs_handle *h, char *buf, size_t size, off_t off)
{
	char name[VFS_LOG_NAME_MAX];
	size_t total = 0;
	size_t got;
	int err = 0;

	if (off < 0)
		return -EINVAL;
	if (h->kind == VFS_H_PROVIDER) {
		if (!h->pops->read)
			return -EBADF;
		return h->pops->read(h->p, h->pfh, buf, size, off);
	}
	pthread_mutex_lock(&h->lock);
	if (h->ws == VFS_W_PENDING || h->ws == VFS_W_DONE) {
		if (!h->warned)
			log_warn(
				"reading '%s' through the descriptor it is written with is not supported",
				handle_name(h, name, sizeof(name)));
		h->warned = true;
		err = -EOPNOTSUPP;
		goto out_unlock;
	}
	if (!h->can_read) {
		err = -EBADF;
		goto out_unlock;
	}
	if (h->reads_empty)
		goto out_unlock;
	if (h->gone_err) {
		err = h->gone_err;
		goto out_unlock;
	}
	if (!h->reader) {
		err = store_reader_open(h->v->st, h->container, h->key,
					&h->reader);
		if (vfs_is_absent(err)) {
			/*
			 * Another client deleted it before this first read:
			 * what the open would have said, had it asked (cat).
			 */
			log_warn(
				"'%s' was deleted before its first read; reads fail with ENOENT",
				handle_name(h, name, sizeof(name)));
			err = h->gone_err = -ENOENT;
		}
		if (!err && h->reader->size != h->obj_size) {
			/* the open saw another version: stay on none */
			log_warn(
				"'%s' was replaced between its open and its first read (%llu bytes, now %llu); reads fail with ESTALE",
				handle_name(h, name, sizeof(name)),
				(unsigned long long)h->obj_size,
				(unsigned long long)h->reader->size);
			store_reader_close(h->reader);
			h->reader = NULL;
			err = h->gone_err = -ESTALE;
		}
		if (err)
			goto out_unlock;
	}
	while (total < size) {
		got = 0;
		err = store_reader_read(h->reader, (uint64_t)off + total,
					buf + total, size - total, &got);
		if (err || got == 0)
			break;
		total += got;
	}
out_unlock:
	pthread_mutex_unlock(&h->lock);
	return err ? err : (ssize_t)total;
}

/* Opens @h's writer under its current name; h->lock held. */
static int writer_open(struct vfs_handle *h)
{
	struct vfs *v = h->v;
	struct store_wopts wo = { 0 };
	char *c;
	char *k;
	int err;

	pthread_mutex_lock(&v->files_lock);
	c = strdup(h->container);
	k = strdup(h->key);
	/* created where nothing was: no old object for the store to look up */
	wo.fresh = !h->replaces;
	if (c && k) {
		/* set before the store call: vfs_pending_retarget() */
		h->wcontainer = c;
		h->wkey = k;
	}
	pthread_mutex_unlock(&v->files_lock);
	if (!c || !k) {
		free(c);
		free(k);
		return -ENOMEM;
	}
	wo.format = vfs_format_for(v, c);
	err = store_writer_open(v->st, c, k, &wo, &h->w);
	if (err) {
		h->w = NULL;
		pthread_mutex_lock(&v->files_lock);
		h->wcontainer = NULL;
		h->wkey = NULL;
		pthread_mutex_unlock(&v->files_lock);
		free(c);
		free(k);
	}
	return err;
}

/*
 * A store call on @h failed with @err: it sticks, and one line says so,
 * the store's if it logged one since @said (log_problems_here()), else
 * ours; the commit then adds none. h->lock held.
 */
static int write_failed(struct vfs_handle *h, int err, unsigned said)
{
	char name[VFS_LOG_NAME_MAX];
	char ebuf[64];

	if (!h->warned && log_problems_here() == said)
		log_error("cannot write '%s': %s",
			  handle_name(h, name, sizeof(name)),
			  vfs_strerror(err, ebuf, sizeof(ebuf)));
	h->warned = true;
	h->err = err;
	return err;
}

/*
 * Appends @size bytes to a pending handle's new object, opening its
 * writer on the first byte. Any failure is sticky: the commit must not
 * store what a failed write left. h->lock held.
 */
static int append_locked(struct vfs_handle *h, const void *buf, size_t size)
{
	unsigned said = log_problems_here();
	int err;

	if (!h->w) {
		err = writer_open(h);
		if (err)
			return write_failed(h, err, said);
	}
	err = store_writer_write(h->w, buf, size);
	if (err)
		return write_failed(h, err, said);
	pthread_mutex_lock(&h->v->files_lock);
	h->written += size;
	pthread_mutex_unlock(&h->v->files_lock);
	return 0;
}

/*
 * A long write of @h (filling a hole, copying the stored bytes to append)
 * whose caller gave up: it stops, and the error sticks, so that the file
 * is not stored cut short. -EINTR or 0; h->lock held.
 */
static int stop_if_interrupted(struct vfs_handle *h, const char *what,
			       uint64_t end)
{
	char name[VFS_LOG_NAME_MAX];

	if (!h->v->conf.interrupted || !h->v->conf.interrupted())
		return 0;
	log_warn("'%s' is not stored: %s was interrupted at %llu of %llu bytes",
		 handle_name(h, name, sizeof(name)), what,
		 (unsigned long long)h->written, (unsigned long long)end);
	h->warned = true;
	h->err = -EINTR;
	return -EINTR;
}

/*
 * Writes zeros up to @end: a write past the end or a truncate that
 * extends leaves a hole, which reads back as zeros (what cp and rsync
 * make of a sparse file's holes). The store has no holes: all of them are
 * written ("truncate -s 1T" streams a TiB of zeros), so a Ctrl-C stops
 * it. h->lock held.
 */
static int zero_fill_locked(struct vfs_handle *h, uint64_t end)
{
	static const char zeros[64 << 10];
	unsigned chunks = 0;
	int err = 0;

	while (!err && h->written < end) {
		uint64_t n = end - h->written;

		/* every 16 MiB: asking takes a lock */
		if (++chunks % 256 == 0) {
			err = stop_if_interrupted(h, "extending it", end);
			if (err)
				break;
		}
		err = append_locked(h, zeros,
				    n < sizeof(zeros) ? (size_t)n
						      : sizeof(zeros));
	}
	return err;
}

/*
 * Handle @h of an existing object becomes a new, empty file that replaces
 * it (ftruncate(fd, 0), or the first write to an empty object). h->lock
 * held.
 */
static void existing_to_pending(struct vfs_handle *h)
{
	struct vfs *v = h->v;

	/* The name can change once pending: drop it from the cache before. */
	vfs_drop_added(v, h->container, h->key);
	pthread_mutex_lock(&v->files_lock);
	h->ws = VFS_W_PENDING;
	h->written = 0;
	h->replaces = true;
	clock_gettime(CLOCK_REALTIME, &h->mtime);
	pthread_mutex_unlock(&v->files_lock);
}

/* vfs_stream_copy()'s output when appending: 1 MiB at a time */
static int put_pending(void *arg, const void *p, size_t n)
{
	struct vfs_handle *h = arg;
	int err = stop_if_interrupted(
		h, "copying its stored bytes to append to it", h->obj_size);

	return err ? err : append_locked(h, p, n);
}

/*
 * Appending to existing @h (>>, O_APPEND, a write at or past its end):
 * the file is stored anew, its stored bytes first, streamed from a reader
 * of the version that has the size @h opened. Until the commit the old
 * object stays; a failure here is sticky, so the close fails and leaves
 * it. h->lock held.
 */
static int existing_to_appended(struct vfs_handle *h)
{
	char name[VFS_LOG_NAME_MAX];
	struct store_reader *r;
	uint64_t copied = 0;
	unsigned said;
	char ebuf[64];
	int err;

	handle_name(h, name, sizeof(name));
	said = log_problems_here();
	err = store_reader_open(h->v->st, h->container, h->key, &r);
	if (vfs_is_absent(err))
		err = -ESTALE; /* deleted since it was opened */
	if (!err && r->size != h->obj_size) {
		store_reader_close(r);
		err = -ESTALE;
	}
	if (err) {
		if (err == -ESTALE || log_problems_here() == said)
			log_error(
				"cannot append to '%s': %s", name,
				err == -ESTALE
					? "it was replaced or deleted since it was opened"
					: vfs_strerror(err, ebuf,
						       sizeof(ebuf)));
		h->warned = true;
		h->err = err; /* sticky: the close fails too */
		return err;
	}
	log_info("appending to '%s': its %llu bytes are stored anew first",
		 name, (unsigned long long)h->obj_size);
	existing_to_pending(h);
	said = log_problems_here();
	err = vfs_stream_copy(r, put_pending, h, &copied);
	if (!err && copied != h->obj_size)
		err = -EIO;
	if (err) {
		/* the store, or stop_if_interrupted(), may have said why */
		if (log_problems_here() == said)
			log_error(
				"cannot append to '%s': copying what it holds failed: %s",
				name, vfs_strerror(err, ebuf, sizeof(ebuf)));
		h->warned = true;
		h->err = err;
	}
	store_reader_close(r);
	return err;
}

/*
 * A write refused on existing @h: one warning ("@before 'c/k' @after")
 * per handle, and @err sticks, so later writes and the close fail too.
 * h->lock held.
 */
static int refuse_sticky(struct vfs_handle *h, int err, const char *before,
			 const char *after)
{
	char name[VFS_LOG_NAME_MAX];

	if (!h->warned)
		log_warn("%s '%s' %s", before,
			 handle_name(h, name, sizeof(name)), after);
	h->warned = true;
	h->err = err;
	return err;
}

ssize_t vfs_write(struct vfs_handle *h, const char *buf, size_t size, off_t off)
{
	char name[VFS_LOG_NAME_MAX];
	int err = 0;

	if (off < 0)
		return -EINVAL;
	if (h->kind == VFS_H_PROVIDER) {
		if (!h->pops->write)
			return -EROFS;
		return h->pops->write(h->p, h->pfh, buf, size, off);
	}
	pthread_mutex_lock(&h->lock);
	/*
	 * O_APPEND: at the end of what this descriptor holds. The kernel's
	 * offset is its idea of the size, which may be another descriptor's
	 * file being written or a size cached before another client
	 * replaced the object: writing there would pad with zeros.
	 */
	if (h->append)
		off = (off_t)(h->ws == VFS_W_EXISTING ? h->obj_size
						      : h->written);
	switch (h->ws) {
	case VFS_W_NONE:
		err = -EBADF;
		goto out_unlock;
	case VFS_W_EXISTING:
		if (h->err) {
			err = h->err;
			goto out_unlock;
		}
		if ((h->obj_size == 0 || (uint64_t)off >= h->obj_size) &&
		    pending_has_bytes(h->v, h->container, h->key)) {
			/* two files would be stored, the last close winning */
			err = refuse_sticky(
				h, -EBUSY, "appending to",
				"refused: another descriptor is writing it");
			goto out_unlock;
		}
		if (h->obj_size == 0) {
			/* appending to an empty file (touch f; cmd >> f) */
			existing_to_pending(h);
			break;
		}
		if ((uint64_t)off >= h->obj_size) {
			err = existing_to_appended(h);
			if (err)
				goto out_unlock;
			break;
		}
		/* sticky: a later append must not store around the hole */
		err = refuse_sticky(
			h, -EOPNOTSUPP, "writing into existing",
			"below its end is not supported (only appending, or writing a new or truncated file)");
		goto out_unlock;
	case VFS_W_DONE:
		if (!h->warned)
			log_warn(
				"writing to '%s' after it was stored is not supported",
				handle_name(h, name, sizeof(name)));
		h->warned = true;
		err = -EOPNOTSUPP;
		goto out_unlock;
	case VFS_W_PENDING:
		break;
	}
	if (h->err) {
		err = h->err;
		goto out_unlock;
	}
	if ((uint64_t)off < h->written) {
		log_warn(
			"writing '%s' again at offset %lld (%llu bytes are written) is not supported (only sequential writes)",
			handle_name(h, name, sizeof(name)), (long long)off,
			(unsigned long long)h->written);
		h->warned = true;
		/* sticky: the commit must not store what this left */
		h->err = -EOPNOTSUPP;
		err = h->err;
		goto out_unlock;
	}
	if (size == 0)
		goto out_unlock;
	err = zero_fill_locked(h, (uint64_t)off);
	if (!err)
		err = append_locked(h, buf, size);
out_unlock:
	pthread_mutex_unlock(&h->lock);
	return err ? err : (ssize_t)size;
}

/* ---- commit ---- */

/*
 * After the commit under (wcontainer, wkey): follows renames and unlinks
 * that happened meanwhile, then marks the handle done. h->lock held.
 */
static int settle(struct vfs_handle *h)
{
	struct vfs *v = h->v;
	char ebuf[64];
	bool gone = false;
	char *tc;
	char *tk;
	int err = 0;

	for (;;) {
		pthread_mutex_lock(&v->files_lock);
		if (h->doomed) {
			h->ws = VFS_W_DONE;
			pthread_mutex_unlock(&v->files_lock);
			err = store_del(v->st, h->wcontainer, h->wkey);
			if (err == -ENOENT)
				err = 0;
			gone = true;
			break;
		}
		if (strcmp(h->container, h->wcontainer) == 0 &&
		    strcmp(h->key, h->wkey) == 0) {
			h->ws = VFS_W_DONE;
			pthread_mutex_unlock(&v->files_lock);
			break;
		}
		tc = strdup(h->container);
		tk = strdup(h->key);
		pthread_mutex_unlock(&v->files_lock);
		if (!tc || !tk) {
			free(tc);
			free(tk);
			err = -ENOMEM;
			break;
		}
		err = vfs_move_object(v, h->wcontainer, h->wkey, tc, tk, false);
		if (err) {
			log_error(
				"cannot rename '%s/%s' to '%s/%s' after storing it: %s",
				h->wcontainer, h->wkey, tc, tk,
				vfs_strerror(err, ebuf, sizeof(ebuf)));
			free(tc);
			free(tk);
			break;
		}
		vfs_drop_gone(v, h->wcontainer, h->wkey);
		pthread_mutex_lock(&v->files_lock);
		free(h->wcontainer);
		free(h->wkey);
		h->wcontainer = tc;
		h->wkey = tk;
		pthread_mutex_unlock(&v->files_lock);
	}
	/* a deleted one may take an implied directory with it */
	if (gone || err)
		vfs_drop_gone(v, h->wcontainer, h->wkey);
	else
		vfs_drop_added(v, h->wcontainer, h->wkey);
	return err;
}

/*
 * After the commit and settle() of @h (stored under its own name, not
 * renamed or unlinked meanwhile): its attributes go to the stat cache,
 * for the getattr the kernel sends after the close (one HEAD less per
 * file written). h->lock held.
 */
static void cache_committed(struct vfs_handle *h, const struct vfs_attrs *a)
{
	struct vfs *v = h->v;
	char pathbuf[PATH_MAX];
	uint64_t gen = vfs_cache_gen(&v->cache);
	struct stat st;
	bool same;

	pthread_mutex_lock(&v->files_lock);
	same = !h->doomed && strcmp(h->container, h->wcontainer) == 0 &&
	       strcmp(h->key, h->wkey) == 0 &&
	       !vfs_object_path(pathbuf, sizeof(pathbuf), h->container, h->key);
	vfs_stat_fill(v, &st, S_IFREG | a->mode, h->written, &a->mtime);
	vfs_stat_owner(&st, a->uid, a->gid);
	pthread_mutex_unlock(&v->files_lock);
	if (same)
		vfs_cache_set(&v->cache, pathbuf, &st, gen);
}

/* Ends a pending handle without a visible object; h->lock held. */
static void drop_pending(struct vfs_handle *h)
{
	char pathbuf[PATH_MAX];

	store_writer_abort(h->w);
	h->w = NULL;
	pthread_mutex_lock(&h->v->files_lock);
	h->ws = VFS_W_DONE;
	if (vfs_object_path(pathbuf, sizeof(pathbuf), h->container, h->key))
		pathbuf[0] = '\0';
	pthread_mutex_unlock(&h->v->files_lock);
	if (pathbuf[0])
		vfs_cache_drop(&h->v->cache, pathbuf);
}

/*
 * Commits pending @h with its mode and mtime; h->lock held. On failure
 * nothing is visible, the error is logged once and returned.
 */
/*
 * A chmod/utimens/chown that arrived while the commit was under way (rsync
 * sets the temp file's times as the kernel releases it) was recorded in
 * the handle after the commit took its snapshot: apply it to the object
 * now.
 */
static int apply_late_attrs(struct vfs_handle *h, unsigned gen)
{
	struct vfs *v = h->v;
	struct vfs_attrs a;
	char *c;
	char *k;
	int err;

	pthread_mutex_lock(&v->files_lock);
	if (h->attr_gen == gen || h->doomed) {
		pthread_mutex_unlock(&v->files_lock);
		return 0;
	}
	a = vfs_pending_attrs(h);
	c = strdup(h->container);
	k = strdup(h->key);
	pthread_mutex_unlock(&v->files_lock);
	err = -ENOMEM;
	if (c && k)
		err = vfs_update_meta(v, c, k, &a, NULL);
	if (!err)
		vfs_drop_added(v, c, k);
	free(c);
	free(k);
	return err;
}

static int commit_locked(struct vfs_handle *h)
{
	struct vfs *v = h->v;
	char name[VFS_LOG_NAME_MAX];
	char ebuf[64];
	struct vfs_attrs a;
	struct meta m;
	unsigned gen;
	unsigned said;
	bool doomed;
	int err;

	pthread_mutex_lock(&v->files_lock);
	doomed = h->doomed;
	a = vfs_pending_attrs(h);
	gen = h->attr_gen;
	pthread_mutex_unlock(&v->files_lock);
	if (!a.has_mtime) {
		a.has_mtime = true;
		clock_gettime(CLOCK_REALTIME, &a.mtime);
	}
	if (doomed) {
		drop_pending(h);
		return 0;
	}
	err = h->err;
	said = log_problems_here();
	if (!err && !h->w)
		err = writer_open(h); /* an empty file */
	meta_init(&m);
	if (!err)
		err = vfs_meta_put_attrs(&m, &a);
	if (!err) {
		uint64_t bytes = h->w->written;

		err = store_writer_commit(h->w, &m);
		h->w = NULL;
		if (!err)
			log_debug("committed '%s' (%llu bytes)",
				  handle_name(h, name, sizeof(name)),
				  (unsigned long long)bytes);
	}
	meta_release(&m);
	if (err) {
		/* said already: a refused or failed write, or the store */
		bool told =
			err == h->err ? h->warned : log_problems_here() != said;

		if (!told)
			log_error("cannot store '%s': %s",
				  handle_name(h, name, sizeof(name)),
				  vfs_strerror(err, ebuf, sizeof(ebuf)));
		drop_pending(h);
		return err;
	}
	err = settle(h);
	if (err)
		return err;
	cache_committed(h, &a);
	return apply_late_attrs(h, gen);
}

int vfs_abandon(struct vfs_handle *h, const char *why)
{
	char name[VFS_LOG_NAME_MAX];

	if (h->kind != VFS_H_FILE)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (h->ws == VFS_W_PENDING) {
		/* a failed write said "not stored" already */
		if (!h->err || !h->warned)
			log_warn(
				"'%s' is not stored: its writer %s mid-way (%llu bytes written)%s",
				handle_name(h, name, sizeof(name)), why,
				(unsigned long long)h->written,
				h->replaces
					? "; the file under its name is unchanged"
					: "");
		drop_pending(h);
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

bool vfs_handle_direct_io(const struct vfs_handle *h)
{
	if (h->kind == VFS_H_FILE)
		return h->direct_io;
	return h->kind == VFS_H_PROVIDER && h->pops->direct_io &&
	       h->pops->direct_io(h->p, h->pfh);
}

int vfs_flush(struct vfs_handle *h)
{
	int err = 0;

	if (h->kind == VFS_H_PROVIDER)
		return 0;
	pthread_mutex_lock(&h->lock);
	/* nothing written yet: maybe a dup2()ed descriptor, see the top */
	if (h->ws == VFS_W_PENDING && (h->w || h->err))
		err = commit_locked(h);
	else if (h->ws == VFS_W_EXISTING)
		err = h->err; /* a refused write: the close says it too */
	pthread_mutex_unlock(&h->lock);
	return err;
}

int vfs_fsync(struct vfs_handle *h, bool datasync)
{
	int err = 0;

	(void)datasync;
	if (h->kind == VFS_H_PROVIDER)
		return 0;
	/*
	 * The data is durable once committed, at close; what the store has
	 * been handed so far (segments in flight) is waited for, so that a
	 * failed upload fails this fsync rather than only the close.
	 */
	pthread_mutex_lock(&h->lock);
	if (h->ws == VFS_W_PENDING) {
		err = h->err;
		if (!err && h->w)
			err = store_writer_sync(h->w);
		if (err)
			h->err = err;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

int vfs_release(struct vfs_handle *h)
{
	int err = 0;

	if (h->kind == VFS_H_PROVIDER) {
		if (h->pops->release)
			err = h->pops->release(h->p, h->pfh);
	} else {
		bool last;

		pthread_mutex_lock(&h->lock);
		pthread_mutex_lock(&h->v->files_lock);
		last = --h->opens == 0;
		pthread_mutex_unlock(&h->v->files_lock);
		if (!last) {
			/* shared (join_pending()): the other open commits */
			pthread_mutex_unlock(&h->lock);
			handle_put(h);
			return 0;
		}
		if (h->ws == VFS_W_PENDING)
			err = commit_locked(h);
		store_reader_close(h->reader);
		h->reader = NULL;
		pthread_mutex_unlock(&h->lock);
	}
	handle_unlink_put(h);
	return err;
}

/* ---- truncate ---- */

static int truncate_refused(const char *c, const char *k, off_t size)
{
	log_warn(
		"truncating '%s/%s' to %lld bytes is not supported (only to 0 or its size)",
		c, k, (long long)size);
	return -EOPNOTSUPP;
}

/* ftruncate() on a write handle (or truncate() of a pending file). */
static int handle_truncate(struct vfs_handle *h, off_t size)
{
	struct vfs *v = h->v;
	char name[VFS_LOG_NAME_MAX];
	int err = 0;

	pthread_mutex_lock(&h->lock);
	switch (h->ws) {
	case VFS_W_PENDING:
		if ((uint64_t)size == h->written)
			break;
		if ((uint64_t)size > h->written) {
			err = h->err ? h->err : zero_fill_locked(h, size);
			break;
		}
		if (size != 0) {
			handle_name(h, name, sizeof(name));
			log_warn(
				"truncating '%s' to %lld bytes (%llu are written) is not supported (only to 0, its size or beyond)",
				name, (long long)size,
				(unsigned long long)h->written);
			h->warned = true;
			/* sticky, as for a refused write: keep the old object */
			h->err = -EOPNOTSUPP;
			err = h->err;
			break;
		}
		/* start over: what was written is discarded */
		store_writer_abort(h->w);
		h->w = NULL;
		h->err = 0;
		pthread_mutex_lock(&v->files_lock);
		free(h->wcontainer);
		free(h->wkey);
		h->wcontainer = NULL;
		h->wkey = NULL;
		h->written = 0;
		pthread_mutex_unlock(&v->files_lock);
		break;
	case VFS_W_EXISTING:
		if ((uint64_t)size == h->obj_size)
			break;
		if (size != 0) {
			err = truncate_refused(h->container, h->key, size);
			break;
		}
		existing_to_pending(h);
		break;
	case VFS_W_NONE:
	case VFS_W_DONE:
		err = -EBADF;
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

/* A pending handle of @c/@k with a reference taken, or NULL. */
static struct vfs_handle *pending_get(struct vfs *v, const char *c,
				      const char *k)
{
	struct vfs_handle *h;

	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h; h = h->next) {
		if (vfs_pending_is(h, c, k)) {
			h->refs++;
			break;
		}
	}
	pthread_mutex_unlock(&v->files_lock);
	return h;
}

/*
 * "touch f; echo x > f": touch's close() has returned, but its release,
 * which commits the empty file, may reach us after echo's open of f.
 * Commits such a pending file with nothing written now, so that the open
 * finds it in the store; its own release then has nothing left to do.
 * 0 (committed, or nothing pending any more: the caller looks again),
 * -EBUSY if another open file is writing it, or the commit's error.
 */
static int commit_empty_pending(struct vfs *v, const char *c, const char *k)
{
	struct vfs_handle *p = pending_get(v, c, k);
	char name[VFS_LOG_NAME_MAX];
	int err = 0;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->ws == VFS_W_PENDING) {
		if (p->w || p->err) {
			log_warn("'%s' is being written by another open file",
				 handle_name(p, name, sizeof(name)));
			err = -EBUSY;
		} else {
			err = commit_locked(p);
		}
	}
	pthread_mutex_unlock(&p->lock);
	handle_put(p);
	return err;
}

/* Rewrites closed object @c/@k as an empty one, keeping its metadata. */
static int truncate_object(struct vfs *v, const char *c, const char *k,
			   off_t size)
{
	struct store_wopts wo = { .format = vfs_format_for(v, c) };
	struct store_writer *w;
	struct timespec now;
	struct obj_info oi;
	int err;

	obj_info_init(&oi);
	err = store_head(v->st, c, k, &oi);
	if (vfs_is_absent(err))
		return absent_error(v, c, k);
	if (err)
		return err;
	if ((uint64_t)size == oi.size)
		goto out_release;
	if (size != 0) {
		err = truncate_refused(c, k, size);
		goto out_release;
	}
	vfs_meta_strip_codec(&oi.meta);
	clock_gettime(CLOCK_REALTIME, &now);
	err = vfs_meta_put_mtime(&oi.meta, &now);
	if (err)
		goto out_release;
	err = store_writer_open(v->st, c, k, &wo, &w);
	if (!err)
		err = store_writer_commit(w, &oi.meta);
out_release:
	obj_info_release(&oi);
	return err;
}

int vfs_truncate(struct vfs *v, const char *path, off_t size,
		 struct vfs_handle *h)
{
	const struct vfs_prov *pr;
	struct vfs_handle *p;
	enum vfs_wstate ws = VFS_W_NONE;
	struct vpath vp;
	int err;

	if (size < 0)
		return -EINVAL;
	if (h && h->kind == VFS_H_FILE) {
		pthread_mutex_lock(&v->files_lock);
		ws = h->ws;
		pthread_mutex_unlock(&v->files_lock);
		if (ws == VFS_W_PENDING || ws == VFS_W_EXISTING)
			return handle_truncate(h, size);
	}
	if (!path)
		return -ENOENT; /* unlinked while open */
	err = vfs_path_parse_file(path, &vp, -EROFS);
	if (err)
		return err;
	if (vp.kind == VP_PROV) {
		pr = &v->prov[vp.top];
		if (!pr->ops || !pr->ops->truncate)
			return -EROFS;
		return pr->ops->truncate(pr->p, vp.rel, size);
	}
	p = pending_get(v, vp.container, vp.key);
	if (p) {
		err = handle_truncate(p, size);
		handle_put(p);
		return err;
	}
	err = truncate_object(v, vp.container, vp.key, size);
	vfs_drop_added(v, vp.container, vp.key);
	return err;
}
