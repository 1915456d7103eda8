/*
 * local_store.c - the embedded "local:" leaf store (see local_store.h): a
 * directory tree under a root, one file per object, metadata in
 * "user.trovefs.<key>" xattrs.
 *
 * Invariants:
 * - Every path is resolved below the root fd one component at a time with
 *   O_NOFOLLOW (local_walk_dirs()), so a symlink planted in the tree is never
 *   followed out of it: it reads as "no such object" and a write through
 *   it fails with -ENOTDIR.
 * - An object file appears under its key only by renameat() from the
 *   staging directory ROOT/.trovefs/tmp, after its bytes and xattrs were
 *   fsync()ed; the parent directory is fsync()ed after the rename (and
 *   after each mkdir of a missing parent). Staging names come from a
 *   per-open random salt and a counter, never from the key, so keys with
 *   255-byte components stage fine. A store opened on a root removes the
 *   staging files it finds: one process owns a root at a time.
 * - Directories are markers: "a/b/" is ROOT/<c>/a/b, whether made by a
 *   marker write or implied by writing "a/b/x" (mkdir -p). Hence, unlike
 *   the mem store, recursive listings show implied markers, deleting a
 *   marker needs an empty directory (-ENOTEMPTY), and renaming a marker
 *   moves the directory with whatever is under it (merging it into an
 *   existing destination directory only when the source is empty).
 * - Deletes and set_meta are not fsync()ed: a crash may bring back a
 *   deleted object or old metadata, never a partial object.
 *
 * The listing ops are in local_list.c; what the two files share (the
 * store's state, key paths, directory walks) is declared in local_i.h.
 *
 * Locks: none. The root and staging fds are opened once and only read
 * after that; the staging counter is atomic. Every op opens its own fds,
 * so concurrent ops share no directory stream.
 */
#include "local_store.h"
#include "local_i.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../conf/log.h"

#define LOCAL_TMP_DIR "tmp"
#define LOCAL_XATTR_PREFIX "user.trovefs."
#define LOCAL_XATTR_PREFIX_LEN (sizeof(LOCAL_XATTR_PREFIX) - 1)
#define LOCAL_DIR_MODE 0700
#define LOCAL_FILE_MODE 0600
#define LOCAL_TMPNAME_MAX 48
/* xattr names a first flistxattr() takes: ours need about 20 bytes each */
#define LOCAL_XATTR_LIST_GUESS 1024

struct local_reader {
	struct store_reader r; /* r.priv points back here */
	int fd;		       /* the object; a directory for a marker */
	char *name;	       /* owned: "c/key" for log lines */
};

struct local_writer {
	struct store_writer w;	/* w.priv points back here */
	struct local_store *ls; /* borrowed: outlived by the store */
	char *container;	/* owned */
	char *key;		/* owned */
	bool marker;		/* no staging file; commit makes the dir */
	bool staged;		/* tmpname exists in the staging dir */
	int fd;			/* staging file open for writing, or -1 */
	int err;		/* first error; sticky */
	char tmpname[LOCAL_TMPNAME_MAX];
};

static const struct store_ops local_store_ops;

/* ---- errors ---- */

/*
 * Results that answer a question about the namespace rather than report
 * a failing disk: the caller expects them, so they are not logged.
 */
static bool local_err_is_expected(int err)
{
	switch (err) {
	case -ENOENT:
	case -EEXIST:
	case -ENOTDIR:
	case -EISDIR:
	case -ENOTEMPTY:
	case -EINVAL:
	case -ENAMETOOLONG:
	case -EXDEV:
		return true;
	default:
		return false;
	}
}

int local_fail(const char *what, const char *c, const char *key, int err)
{
	if (err && !local_err_is_expected(err))
		log_error("cannot %s '%s/%s': %s", what, c, key,
			  strerror(-err));
	return err;
}

/* The same for @what on container @c; returns @err. */
static int local_container_fail(const struct local_store *ls, const char *what,
				const char *c, int err)
{
	if (!local_err_is_expected(err))
		log_error("cannot %s container '%s' in '%s': %s", what, c,
			  ls->root, strerror(-err));
	return err;
}

/*
 * A lookup (head, read, del...) of a key whose path crosses a file, a
 * symlink or a name too long for the filesystem finds no object.
 */
static int lookup_errno(int err)
{
	if (err == -ENOTDIR || err == -ELOOP || err == -ENAMETOOLONG)
		return -ENOENT;
	return err;
}

/* ---- names and paths ---- */

bool local_container_is_valid(const char *c)
{
	return store_container_is_valid(c) && strcmp(c, LOCAL_STAGING_DIR) != 0;
}

static bool local_names_are_valid(const char *c, const char *key)
{
	return local_container_is_valid(c) && store_key_is_valid(key);
}

int local_key_path_split(const char *key, struct key_path *kp)
{
	size_t len = strlen(key);
	size_t start;
	size_t end;

	kp->marker = len > 0 && key[len - 1] == '/';
	end = kp->marker ? len - 1 : len;
	start = end;
	while (start > 0 && key[start - 1] != '/')
		start--;
	if (end - start > NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(kp->leaf, key + start, end - start);
	kp->leaf[end - start] = '\0';
	kp->dir_len = start;
	return 0;
}

/* True if no component of @key is longer than the filesystem allows. */
static bool key_fits_fs(const char *key)
{
	const char *p = key;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n > NAME_MAX)
			return false;
		if (!slash)
			break;
		p = slash + 1;
	}
	return true;
}

/*
 * Opens subdirectory @name of @dirfd without following a symlink; with
 * @create makes it first if missing and syncs @dirfd, so the new entry
 * survives a crash. Returns 0 with *@out to close, -ENOENT, -ENOTDIR (a
 * file or symlink is in the way), or another -errno.
 */
static int open_subdir(int dirfd, const char *name, bool create, int *out)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	bool made = false;
	int fd;

	for (;;) {
		fd = openat(dirfd, name, flags);
		if (fd >= 0)
			break;
		if (errno == ELOOP)
			return -ENOTDIR;
		if (errno != ENOENT || !create || made)
			return -errno;
		if (mkdirat(dirfd, name, LOCAL_DIR_MODE) && errno != EEXIST)
			return -errno;
		made = true;
		if (fsync(dirfd))
			return -errno;
	}
	*out = fd;
	return 0;
}

int local_walk_dirs(int dirfd, const char *path, size_t len, bool create,
		    int *out)
{
	char name[NAME_MAX + 1];
	size_t i = 0;
	int fd;

	/* a new open file description: callers may readdir it */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (i < len) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t n = slash ? (size_t)(slash - (path + i)) : len - i;
		int next;
		int err;

		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(name, path + i, n);
		name[n] = '\0';
		if (n == 0 || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0) {
			close(fd);
			return -ENOENT;
		}
		err = open_subdir(fd, name, create, &next);
		close(fd);
		if (err)
			return err;
		fd = next;
		i += n + 1;
	}
	*out = fd;
	return 0;
}

int local_open_container(struct local_store *ls, const char *c, int *out)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(ls->rootfd, c, flags);
	int err;

	if (fd >= 0) {
		*out = fd;
		return 0;
	}
	err = lookup_errno(-errno);
	if (err != -ENOENT)
		log_error("cannot open container '%s' in '%s': %s", c, ls->root,
			  strerror(-err));
	return err;
}

/*
 * Opens the directory that holds @kp's leaf, made if missing with @create.
 * Returns 0 with *@dirfd to close, -ENOENT (no container, or a missing
 * parent), -ENOTDIR, -ENAMETOOLONG, or another -errno.
 */
static int local_open_parent(struct local_store *ls, const char *c,
			     const char *key, const struct key_path *kp,
			     bool create, int *dirfd)
{
	int cfd;
	int err;

	err = local_open_container(ls, c, &cfd);
	if (err)
		return err;
	err = local_walk_dirs(cfd, key, kp->dir_len, create, dirfd);
	close(cfd);
	return err;
}

int local_open_obj(int dirfd, const struct key_path *kp, int *out,
		   struct stat *sb)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd;
	int err;

	if (kp->marker)
		flags |= O_DIRECTORY;
	fd = openat(dirfd, kp->leaf, flags);
	if (fd < 0)
		return lookup_errno(-errno);
	if (fstat(fd, sb)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (kp->marker ? !S_ISDIR(sb->st_mode) : !S_ISREG(sb->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	*out = fd;
	return 0;
}

/*
 * The start of the ops on one object: checks the names and opens the
 * object @key of container @c (see local_open_obj()); *@kp is filled. Returns
 * 0, -EINVAL, -ENOENT or another -errno, logged as failing to @what.
 */
static int local_open_key(struct local_store *ls, const char *what,
			  const char *c, const char *key, struct key_path *kp,
			  int *out, struct stat *sb)
{
	int dirfd;
	int err;

	if (!local_names_are_valid(c, key))
		return -EINVAL;
	if (local_key_path_split(key, kp))
		return -ENOENT;
	err = local_open_parent(ls, c, key, kp, false, &dirfd);
	if (err)
		return local_fail(what, c, key, lookup_errno(err));
	err = local_open_obj(dirfd, kp, out, sb);
	close(dirfd);
	return local_fail(what, c, key, err);
}

/* ---- metadata in xattrs ---- */

/*
 * The xattr names of @fd, a list of NUL-terminated strings: *@names (NULL
 * if none; caller frees) of *@len bytes. Returns 0 or -errno.
 *
 * A listing asks this of every object, so the first try reads into a
 * buffer that fits our metadata: one flistxattr() rather than a size
 * query and a read. Only a longer list costs the query.
 */
static int xattr_names(int fd, char **names, size_t *len)
{
	size_t size = LOCAL_XATTR_LIST_GUESS;
	char *buf;
	ssize_t n;
	int err;

	*names = NULL;
	*len = 0;
	for (;;) {
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		n = flistxattr(fd, buf, size);
		if (n > 0)
			break;
		err = n < 0 ? -errno : 0;
		free(buf);
		/* ERANGE: longer than @size (or grown meanwhile); ask again */
		if (err != -ERANGE)
			return err;
		n = flistxattr(fd, NULL, 0);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		size = (size_t)n;
	}
	*names = buf;
	*len = (size_t)n;
	return 0;
}

/*
 * Reads the "user.trovefs." xattrs of @fd into @m. Entries that are not
 * valid metadata (written by someone else) are skipped. Returns 0 or
 * -errno; on failure @m may hold part of the pairs.
 */
static int read_meta(int fd, struct meta *m)
{
	char value[META_VALUE_MAX + 1];
	char *names;
	size_t len;
	size_t i;
	int err;

	err = xattr_names(fd, &names, &len);
	if (err)
		return err;
	for (i = 0; i < len; i += strlen(names + i) + 1) {
		const char *name = names + i;
		ssize_t n;

		if (strncmp(name, LOCAL_XATTR_PREFIX, LOCAL_XATTR_PREFIX_LEN))
			continue;
		n = fgetxattr(fd, name, value, META_VALUE_MAX);
		if (n < 0) {
			/* ENODATA: removed meanwhile; ERANGE: not ours */
			if (errno == ENODATA || errno == ERANGE)
				continue;
			err = -errno;
			break;
		}
		value[n] = '\0';
		err = meta_set(m, name + LOCAL_XATTR_PREFIX_LEN, value);
		if (err == -EINVAL) {
			err = 0;
			continue;
		}
		if (err)
			break;
	}
	free(names);
	return err;
}

/*
 * Sets @m (NULL = none) as "user.trovefs." xattrs of @fd; with @replace
 * also removes the ones not in @m, so that @fd's metadata is exactly @m.
 * New values are set before stale ones go, so a reader never sees the
 * object without metadata it had. Returns 0 or -errno.
 */
static int write_meta(int fd, const struct meta *m, bool replace)
{
	char name[LOCAL_XATTR_PREFIX_LEN + META_KEY_MAX + 1];
	char *names;
	size_t len;
	size_t i;
	int err = 0;
	int n;

	for (i = 0; m && i < m->n; i++) {
		const char *value = m->v[i].value;

		n = snprintf(name, sizeof(name), "%s%s", LOCAL_XATTR_PREFIX,
			     m->v[i].key);
		if (n < 0 || (size_t)n >= sizeof(name))
			return -EINVAL;
		if (fsetxattr(fd, name, value, strlen(value), 0))
			return -errno;
	}
	if (!replace)
		return 0;
	err = xattr_names(fd, &names, &len);
	if (err)
		return err;
	for (i = 0; i < len; i += strlen(names + i) + 1) {
		const char *old = names + i;

		if (strncmp(old, LOCAL_XATTR_PREFIX, LOCAL_XATTR_PREFIX_LEN))
			continue;
		if (m && meta_get(m, old + LOCAL_XATTR_PREFIX_LEN))
			continue;
		if (fremovexattr(fd, old) && errno != ENODATA) {
			err = -errno;
			break;
		}
	}
	free(names);
	return err;
}

int local_fill_info(int fd, const struct stat *sb, bool marker,
		    struct obj_info *oi)
{
	oi->is_subdir = false;
	oi->size = marker ? 0 : (uint64_t)sb->st_size;
	oi->mtime = sb->st_mtim;
	oi->meta_partial = false;
	return read_meta(fd, &oi->meta);
}

/* ---- containers ---- */

static int local_create_container(struct store *st, const char *c)
{
	struct local_store *ls = local_of(st);

	if (!local_container_is_valid(c))
		return -EINVAL;
	if (mkdirat(ls->rootfd, c, LOCAL_DIR_MODE) || fsync(ls->rootfd))
		return local_container_fail(ls, "create", c, -errno);
	return 0;
}

static int local_delete_container(struct store *st, const char *c)
{
	struct local_store *ls = local_of(st);
	int err;

	if (!local_container_is_valid(c))
		return -EINVAL;
	if (unlinkat(ls->rootfd, c, AT_REMOVEDIR) == 0)
		return 0;
	err = -errno;
	if (err == -EEXIST)
		err = -ENOTEMPTY;
	return local_container_fail(ls, "delete", c, lookup_errno(err));
}

/* ---- head ---- */

/* head() of the object open as @fd (@sb its fstat): 0, or -errno logged. */
static int local_head_fd(const char *c, const char *key, int fd,
			 const struct stat *sb, bool marker,
			 struct obj_info *oi)
{
	struct obj_info tmp;
	int err;

	obj_info_init(&tmp);
	tmp.name = strdup(key);
	err = tmp.name ? local_fill_info(fd, sb, marker, &tmp) : -ENOMEM;
	if (err) {
		obj_info_release(&tmp);
		return local_fail("read metadata of", c, key, err);
	}
	*oi = tmp;
	return 0;
}

static int local_head(struct store *st, const char *c, const char *key,
		      struct obj_info *oi)
{
	struct local_store *ls = local_of(st);
	struct key_path kp;
	struct stat sb;
	int err;
	int fd;

	err = local_open_key(ls, "stat", c, key, &kp, &fd, &sb);
	if (err)
		return err;
	err = local_head_fd(c, key, fd, &sb, kp.marker, oi);
	close(fd);
	return err;
}

/* ---- readers ---- */

static int local_read(struct store_reader *r, uint64_t off, void *dst,
		      size_t len, size_t *got)
{
	struct local_reader *lr = r->priv;
	size_t done = 0;

	*got = 0;
	/* objects are immutable: replacing one renames a new inode over it */
	if (off >= r->size)
		return 0;
	if (len > r->size - off)
		len = (size_t)(r->size - off);
	while (done < len) {
		ssize_t n = pread(lr->fd, (char *)dst + done, len - done,
				  (off_t)(off + done));

		if (n < 0) {
			int err = -errno;

			if (err == -EINTR)
				continue;
			log_error("cannot read '%s': %s", lr->name,
				  strerror(-err));
			return err;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static void local_reader_close(struct store_reader *r)
{
	struct local_reader *lr = r->priv;

	close(lr->fd);
	free(lr->name);
	free(lr);
}

static const struct store_reader_ops local_reader_ops = {
	.read = local_read,
	.close = local_reader_close,
};

static int local_reader_open(struct store *st, const char *c, const char *key,
			     struct obj_info *oi, struct store_reader **out)
{
	struct local_store *ls = local_of(st);
	struct local_reader *lr;
	struct key_path kp;
	struct stat sb;
	size_t len;
	int err;
	int fd;

	err = local_open_key(ls, "open", c, key, &kp, &fd, &sb);
	if (err)
		return err;
	lr = calloc(1, sizeof(*lr));
	len = strlen(c) + 1 + strlen(key) + 1;
	if (lr)
		lr->name = malloc(len);
	if (!lr || !lr->name) {
		free(lr);
		close(fd);
		return -ENOMEM;
	}
	/* the descriptor pins the version: a replace renames a new inode */
	err = oi ? local_head_fd(c, key, fd, &sb, kp.marker, oi) : 0;
	if (err) {
		free(lr->name);
		free(lr);
		close(fd);
		return err;
	}
	snprintf(lr->name, len, "%s/%s", c, key);
	lr->fd = fd;
	lr->r.ops = &local_reader_ops;
	lr->r.size = kp.marker ? 0 : (uint64_t)sb.st_size;
	lr->r.priv = lr;
	*out = &lr->r;
	return 0;
}

/* ---- writers ---- */

/* Removes the staging file, if any. */
static void local_writer_unstage(struct local_writer *lw)
{
	if (lw->fd >= 0)
		close(lw->fd);
	lw->fd = -1;
	if (lw->staged && unlinkat(lw->ls->tmpfd, lw->tmpname, 0) &&
	    errno != ENOENT)
		log_error("cannot remove staging file '%s/%s/%s/%s': %s",
			  lw->ls->root, LOCAL_STAGING_DIR, LOCAL_TMP_DIR,
			  lw->tmpname, strerror(errno));
	lw->staged = false;
}

static void local_writer_free(struct local_writer *lw)
{
	local_writer_unstage(lw);
	free(lw->container);
	free(lw->key);
	free(lw);
}

/*
 * Puts the writer in its failed state: the staging file goes at once (so
 * that a full disk gets its space back) and @err is logged once.
 */
static int local_writer_fail(struct local_writer *lw, const char *what, int err)
{
	local_writer_unstage(lw);
	lw->err = err;
	return local_fail(what, lw->container, lw->key, err);
}

static int local_write(struct store_writer *w, const void *src, size_t len)
{
	struct local_writer *lw = w->priv;
	size_t done = 0;

	if (lw->err)
		return lw->err;
	if (lw->marker) {
		if (len == 0)
			return 0;
		/* a marker is a directory: it has no content */
		return local_writer_fail(lw, "write", -EINVAL);
	}
	while (done < len) {
		ssize_t n = write(lw->fd, (const char *)src + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return local_writer_fail(lw, "write", -errno);
		}
		done += (size_t)n;
	}
	w->written += len;
	return 0;
}

/* Commits a file: xattrs, fsync, mkdir -p, rename, fsync of the parent. */
static int local_commit_file(struct local_writer *lw, const struct meta *m)
{
	struct local_store *ls = lw->ls;
	struct key_path kp;
	int dirfd;
	int err;

	/* xattrs before the fsync, so that it makes them durable too */
	err = write_meta(lw->fd, m, false);
	if (err)
		return local_writer_fail(lw, "set metadata of", err);
	if (fsync(lw->fd))
		return local_writer_fail(lw, "sync", -errno);
	err = close(lw->fd) ? -errno : 0;
	lw->fd = -1;
	if (err)
		return local_writer_fail(lw, "close", err);
	err = local_key_path_split(lw->key, &kp);
	if (!err)
		err = local_open_parent(ls, lw->container, lw->key, &kp, true,
					&dirfd);
	if (err)
		return local_writer_fail(lw, "create parent of", err);
	if (renameat(ls->tmpfd, lw->tmpname, dirfd, kp.leaf)) {
		err = -errno;
		close(dirfd);
		return local_writer_fail(lw, "commit", err);
	}
	lw->staged = false;
	/*
	 * The object is visible now and cannot be taken back; a failed sync
	 * means it may not survive a crash, which the caller must hear.
	 */
	if (fsync(dirfd))
		err = local_fail("sync parent of", lw->container, lw->key,
				 -errno);
	close(dirfd);
	return err;
}

/* Commits a marker: mkdir -p, and the directory's xattrs become @m. */
/*
 * Marker @key of @c: mkdir -p, and the directory's xattrs become @m (NULL:
 * none). With @excl the directory must not exist yet (-EEXIST, unlogged).
 */
static int local_make_marker(struct local_store *ls, const char *c,
			     const char *key, const struct meta *m, bool excl)
{
	struct key_path kp;
	int dirfd;
	int err;
	int fd;

	err = local_key_path_split(key, &kp);
	if (!err)
		err = local_open_parent(ls, c, key, &kp, true, &dirfd);
	if (err)
		return local_fail("create parent of", c, key, err);
	if (excl && mkdirat(dirfd, kp.leaf, LOCAL_DIR_MODE) == 0 &&
	    fsync(dirfd) == 0)
		err = open_subdir(dirfd, kp.leaf, false, &fd);
	else if (excl)
		err = -errno;
	else
		err = open_subdir(dirfd, kp.leaf, true, &fd);
	close(dirfd);
	if (err == -EEXIST)
		return err;
	if (err)
		return local_fail("create", c, key, err);
	err = write_meta(fd, m, true);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	return local_fail("set metadata of", c, key, err);
}

static int local_commit_marker(struct local_writer *lw, const struct meta *m)
{
	return local_make_marker(lw->ls, lw->container, lw->key, m, false);
}

/* A marker's directory made by mkdirat(), which fails if it exists. */
static int local_mkdir_excl(struct store *st, const char *c, const char *key,
			    const struct meta *m)
{
	size_t len = strlen(key);

	if (!local_names_are_valid(c, key) || len == 0 || key[len - 1] != '/')
		return -EINVAL;
	return local_make_marker(local_of(st), c, key, m, true);
}

static int local_commit(struct store_writer *w, const struct meta *m)
{
	struct local_writer *lw = w->priv;
	int err = lw->err;

	if (!err && lw->marker)
		err = local_commit_marker(lw, m);
	else if (!err)
		err = local_commit_file(lw, m);
	local_writer_free(lw);
	return err;
}

static void local_abort(struct store_writer *w)
{
	local_writer_free(w->priv);
}

static const struct store_writer_ops local_writer_ops = {
	.write = local_write,
	.commit = local_commit,
	.abort = local_abort,
};

/* Creates a staging file with a fresh name; 0 or -errno. */
static int local_stage(struct local_writer *lw)
{
	struct local_store *ls = lw->ls;
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int tries;
	int n;

	for (tries = 0; tries < 16; tries++) {
		uint64_t seq =
			__atomic_fetch_add(&ls->seq, 1, __ATOMIC_RELAXED);

		n = snprintf(lw->tmpname, sizeof(lw->tmpname),
			     "w-%016" PRIx64 "-%" PRIu64, ls->salt, seq);
		if (n < 0 || (size_t)n >= sizeof(lw->tmpname))
			return -EOVERFLOW;
		lw->fd = openat(ls->tmpfd, lw->tmpname, flags, LOCAL_FILE_MODE);
		if (lw->fd >= 0) {
			lw->staged = true;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int local_writer_open(struct store *st, const char *c, const char *key,
			     const struct store_wopts *opts,
			     struct store_writer **out)
{
	struct local_store *ls = local_of(st);
	struct local_writer *lw;
	int cfd;
	int err;

	(void)opts;
	if (!local_names_are_valid(c, key))
		return -EINVAL;
	/* fail now rather than after the caller sent all the bytes */
	if (!key_fits_fs(key))
		return -ENAMETOOLONG;
	err = local_open_container(ls, c, &cfd);
	if (err)
		return err;
	close(cfd);
	lw = calloc(1, sizeof(*lw));
	if (!lw)
		return -ENOMEM;
	lw->fd = -1;
	lw->ls = ls;
	lw->container = strdup(c);
	lw->key = strdup(key);
	if (!lw->container || !lw->key) {
		local_writer_free(lw);
		return -ENOMEM;
	}
	lw->marker = key[strlen(key) - 1] == '/';
	if (!lw->marker) {
		err = local_stage(lw);
		if (err) {
			local_fail("stage", c, key, err);
			local_writer_free(lw);
			return err;
		}
	}
	lw->w.ops = &local_writer_ops;
	lw->w.priv = lw;
	*out = &lw->w;
	return 0;
}

/* ---- delete, rename, metadata, statfs ---- */

static int local_del(struct store *st, const char *c, const char *key)
{
	struct local_store *ls = local_of(st);
	struct key_path kp;
	int dirfd;
	int err;

	if (!local_names_are_valid(c, key))
		return -EINVAL;
	if (local_key_path_split(key, &kp))
		return -ENOENT;
	err = local_open_parent(ls, c, key, &kp, false, &dirfd);
	if (err)
		return local_fail("delete", c, key, lookup_errno(err));
	if (unlinkat(dirfd, kp.leaf, kp.marker ? AT_REMOVEDIR : 0) == 0) {
		close(dirfd);
		return 0;
	}
	err = -errno;
	close(dirfd);
	if (kp.marker && err == -EEXIST)
		err = -ENOTEMPTY;
	/* "a" is a directory: there is no object "a" (only "a/") */
	if (!kp.marker && (err == -EISDIR || err == -EPERM))
		err = -ENOENT;
	return local_fail("delete", c, key, lookup_errno(err));
}

/*
 * Renames marker @sleaf of @sdir onto the existing directory @dleaf of
 * @ddir: the destination takes the source's metadata and the source
 * directory goes, which it can only if empty (-ENOTEMPTY).
 */
static int merge_marker(int sdir, const char *sleaf, int ddir,
			const char *dleaf)
{
	struct meta m;
	int err;
	int fd;

	meta_init(&m);
	err = open_subdir(sdir, sleaf, false, &fd);
	if (err)
		return lookup_errno(err);
	err = read_meta(fd, &m);
	close(fd);
	if (err)
		goto out_release;
	if (unlinkat(sdir, sleaf, AT_REMOVEDIR)) {
		err = errno == EEXIST ? -ENOTEMPTY : -errno;
		goto out_release;
	}
	err = open_subdir(ddir, dleaf, false, &fd);
	if (err)
		goto out_release;
	err = write_meta(fd, &m, true);
	close(fd);
out_release:
	meta_release(&m);
	return err;
}

static int local_rename(struct store *st, const char *sc, const char *sk,
			const char *dc, const char *dk)
{
	struct local_store *ls = local_of(st);
	struct key_path skp;
	struct key_path dkp;
	struct stat sb;
	int sdir;
	int ddir;
	int err;

	if (!local_names_are_valid(sc, sk) || !local_names_are_valid(dc, dk))
		return -EINVAL;
	/* a marker and an object are different kinds of things */
	if ((sk[strlen(sk) - 1] == '/') != (dk[strlen(dk) - 1] == '/'))
		return -EINVAL;
	if (local_key_path_split(sk, &skp))
		return -ENOENT;
	err = local_key_path_split(dk, &dkp);
	if (err)
		return err;
	err = local_open_parent(ls, sc, sk, &skp, false, &sdir);
	if (err)
		return local_fail("rename", sc, sk, lookup_errno(err));
	/* check the source before making the destination's parents */
	if (fstatat(sdir, skp.leaf, &sb, AT_SYMLINK_NOFOLLOW)) {
		err = lookup_errno(-errno);
		goto out_close_sdir;
	}
	if (skp.marker ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) {
		err = -ENOENT;
		goto out_close_sdir;
	}
	err = local_open_parent(ls, dc, dk, &dkp, true, &ddir);
	if (err)
		goto out_close_sdir;
	if (renameat(sdir, skp.leaf, ddir, dkp.leaf)) {
		err = -errno;
		if (skp.marker && (err == -ENOTEMPTY || err == -EEXIST))
			err = merge_marker(sdir, skp.leaf, ddir, dkp.leaf);
	}
	if (!err && fsync(ddir))
		err = -errno;
	if (!err && fsync(sdir))
		err = -errno;
	close(ddir);
out_close_sdir:
	close(sdir);
	return local_fail("rename", sc, sk, err);
}

static int local_set_meta(struct store *st, const char *c, const char *key,
			  const struct meta *m)
{
	struct local_store *ls = local_of(st);
	struct key_path kp;
	struct stat sb;
	int err;
	int fd;

	err = local_open_key(ls, "set metadata of", c, key, &kp, &fd, &sb);
	if (err)
		return err;
	err = write_meta(fd, m, true);
	close(fd);
	return local_fail("set metadata of", c, key, err);
}

static int local_statfs(struct store *st, struct store_statfs *out)
{
	struct local_store *ls = local_of(st);
	struct statvfs sv;
	int err;

	memset(out, 0, sizeof(*out));
	if (fstatvfs(ls->rootfd, &sv)) {
		err = -errno;
		log_error("cannot statfs '%s': %s", ls->root, strerror(-err));
		return err;
	}
	out->bytes_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	out->bytes_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	out->bytes_used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	out->objects = 0; /* unknown without a walk */
	return 0;
}

static void local_destroy(struct store *st)
{
	struct local_store *ls = local_of(st);

	if (ls->tmpfd >= 0)
		close(ls->tmpfd);
	if (ls->rootfd >= 0)
		close(ls->rootfd);
	free(ls->root);
	free(ls);
}

static const struct store_ops local_store_ops = {
	.name = "local",
	.list_containers = local_list_containers,
	.create_container = local_create_container,
	.delete_container = local_delete_container,
	.list = local_list,
	.head = local_head,
	.reader_open = local_reader_open,
	.writer_open = local_writer_open,
	.del = local_del,
	.rename = local_rename,
	.mkdir_excl = local_mkdir_excl,
	.set_meta = local_set_meta,
	.statfs = local_statfs,
	.destroy = local_destroy,
};

/* ---- opening a root ---- */

/* mkdir -p @path, each new directory with @mode; 0 or -errno. */
static int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	char *s;
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; !err && *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) && errno != EEXIST)
			err = -errno;
		*s = '/';
	}
	if (!err && mkdir(p, mode) && errno != EEXIST)
		err = -errno;
	free(p);
	return err;
}

/* Removes what a previous run left in the staging directory. */
static void local_clean_staging(struct local_store *ls)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(ls->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(ls->tmpfd, de->d_name, 0) == 0)
			continue;
		if (errno == EISDIR &&
		    unlinkat(ls->tmpfd, de->d_name, AT_REMOVEDIR) == 0)
			continue;
		log_warn("cannot remove stale staging file '%s/%s/%s/%s': %s",
			 ls->root, LOCAL_STAGING_DIR, LOCAL_TMP_DIR, de->d_name,
			 strerror(errno));
	}
	closedir(d);
}

/* Checks that the staging directory's filesystem takes user xattrs. */
static int local_probe_xattrs(struct local_store *ls)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	const char *name = LOCAL_XATTR_PREFIX "probe";
	char probe[LOCAL_TMPNAME_MAX];
	int err = 0;
	int n;
	int fd;

	n = snprintf(probe, sizeof(probe), "probe-%016" PRIx64, ls->salt);
	if (n < 0 || (size_t)n >= sizeof(probe))
		return -EOVERFLOW;
	fd = openat(ls->tmpfd, probe, flags, LOCAL_FILE_MODE);
	if (fd < 0) {
		err = -errno;
		log_error("cannot create files in '%s/%s/%s': %s", ls->root,
			  LOCAL_STAGING_DIR, LOCAL_TMP_DIR, strerror(-err));
		return err;
	}
	if (fsetxattr(fd, name, "1", 1, 0) || fremovexattr(fd, name))
		err = -errno;
	close(fd);
	unlinkat(ls->tmpfd, probe, 0);
	if (err == -ENOTSUP) {
		log_error(
			"cannot use '%s' as a store: the filesystem lacks user xattrs",
			ls->root);
	} else if (err) {
		log_error("cannot set xattrs in '%s/%s/%s': %s", ls->root,
			  LOCAL_STAGING_DIR, LOCAL_TMP_DIR, strerror(-err));
	}
	return err;
}

int local_store_new(const char *root, struct store **out)
{
	struct local_store *ls;
	int err;
	int fd;

	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->rootfd = -1;
	ls->tmpfd = -1;
	ls->root = strdup(root);
	if (!ls->root) {
		err = -ENOMEM;
		goto out_destroy;
	}
	err = mkdir_p(root, LOCAL_DIR_MODE);
	if (err) {
		log_error("cannot create store root '%s': %s", root,
			  strerror(-err));
		goto out_destroy;
	}
	ls->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ls->rootfd < 0) {
		err = -errno;
		log_error("cannot open store root '%s': %s", root,
			  strerror(-err));
		goto out_destroy;
	}
	err = open_subdir(ls->rootfd, LOCAL_STAGING_DIR, true, &fd);
	if (!err) {
		err = open_subdir(fd, LOCAL_TMP_DIR, true, &ls->tmpfd);
		close(fd);
	}
	if (err) {
		log_error("cannot open staging directory '%s/%s/%s': %s", root,
			  LOCAL_STAGING_DIR, LOCAL_TMP_DIR, strerror(-err));
		goto out_destroy;
	}
	if (getrandom(&ls->salt, sizeof(ls->salt), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(ls->salt))
		ls->salt = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	local_clean_staging(ls);
	err = local_probe_xattrs(ls);
	if (err)
		goto out_destroy;
	ls->st.ops = &local_store_ops;
	ls->st.inner = NULL;
	ls->st.priv = ls;
	*out = &ls->st;
	return 0;

out_destroy:
	ls->st.priv = ls;
	local_destroy(&ls->st);
	return err;
}
