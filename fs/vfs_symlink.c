/*
 * vfs_symlink.c - symbolic links under /containers: symlink(2) and
 * readlink(2) of a key.
 *
 * A symlink is an object like a file: its content is the target (stored,
 * like every file, encrypted and checksummed by the codec), its metadata
 * says "tfs-type=symlink" next to the usual "mtime" (docs/FORMAT.md;
 * not plain "type", which other tools' objects may carry). It is
 * written in one go, so it is never pending; getattr and listings show it
 * as S_IFLNK from the metadata alone (on Swift the listing carries it in
 * the content type, no HEAD per link), and rename, unlink and utimens
 * treat it as any object, keeping the key with the rest of the metadata.
 * Why store links at all: `rsync -a` and `cp -a` of a database directory
 * must not fail on (or lose) its links, e.g. PostgreSQL's pg_tblspc/ and
 * a pg_wal moved to another disk.
 *
 * Hard links and other node types (FIFOs, sockets, devices) are refused
 * with EPERM, what mknod(2) gives where a filesystem does not support the
 * type: a store has nothing to keep them in, and `rsync -a` of a data
 * directory with a socket in it then says what was skipped.
 *
 * Locks: none of its own (the store's and the stat cache's).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "vfs_i.h"
#include "../conf/log.h"

#define VFS_META_TYPE "tfs-type"
#define VFS_TYPE_SYMLINK "symlink"

bool vfs_meta_is_symlink(const struct meta *m)
{
	const char *t = meta_get(m, VFS_META_TYPE);

	return t && strcmp(t, VFS_TYPE_SYMLINK) == 0;
}

/* Stores @target as the link @c/@k with @m: 0 or the store's -errno. */
static int link_put(struct vfs *v, const char *c, const char *k,
		    const char *target, const struct meta *m)
{
	struct store_wopts wo = { .format = vfs_format_for(v, c) };
	struct store_writer *w;
	int err;

	err = store_writer_open(v->st, c, k, &wo, &w);
	if (err)
		return err;
	err = store_writer_write(w, target, strlen(target));
	if (err) {
		store_writer_abort(w);
		return err;
	}
	return store_writer_commit(w, m);
}

int vfs_path_parse_new_node(struct vfs *v, const char *path, struct vpath *vp,
			    const char *what)
{
	int err = vfs_path_parse(path, vp);

	if (err)
		return err;
	switch (vp->kind) {
	case VP_ROOT:
	case VP_TOP:
		return -EEXIST;
	case VP_BAD_TOP:
	case VP_PROV:
		return -EROFS;
	case VP_CONTAINER:
		return vfs_refuse_in_containers(v, vp->container, what);
	case VP_KEY:
		break;
	}
	return 0;
}

int vfs_symlink(struct vfs *v, const char *target, const char *path)
{
	struct vpath vp;
	struct meta m;
	size_t len = strlen(target);
	int err;

	err = vfs_path_parse_new_node(v, path, &vp, "symlink");
	if (err)
		return err;
	if (len == 0)
		return -ENOENT; /* symlink(2) on Linux: empty target */
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	err = vfs_name_free(v, vp.container, vp.key);
	if (err)
		return err;
	err = vfs_meta_new(&m, 0777);
	if (!err)
		err = meta_set(&m, VFS_META_TYPE, VFS_TYPE_SYMLINK);
	if (!err)
		err = link_put(v, vp.container, vp.key, target, &m);
	meta_release(&m);
	vfs_drop_added(v, vp.container, vp.key);
	if (err)
		log_error("cannot create the symlink '%s/%s': %s", vp.container,
			  vp.key, strerror(-err));
	return err;
}

int vfs_refuse_in_containers(struct vfs *v, const char *c, const char *what)
{
	struct stat st;
	int err = vfs_container_getattr(v, c, &st);

	if (err == -ENOENT) {
		log_warn("cannot create the %s 'containers/%s': containers/ "
			 "holds containers (directories) only",
			 what, c);
		return -EPERM;
	}
	return err ? err : -EEXIST;
}

static const char *node_type_name(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "FIFO";
	if (S_ISSOCK(mode))
		return "socket";
	if (S_ISCHR(mode))
		return "character device";
	if (S_ISBLK(mode))
		return "block device";
	return "special file";
}

int vfs_mknod(struct vfs *v, const char *path, mode_t mode)
{
	const char *what = node_type_name(mode);
	struct vfs_handle *h;
	struct vpath vp;
	int err;

	if (S_ISREG(mode)) {
		/* the kernel sends create instead; this is for completeness */
		err = vfs_create(v, path, mode & 07777, O_WRONLY | O_EXCL, &h);
		return err ? err : vfs_release(h);
	}
	err = vfs_path_parse_new_node(v, path, &vp, what);
	if (!err)
		err = vfs_name_free(v, vp.container, vp.key);
	if (err)
		return err;
	log_warn("cannot create the %s '%s/%s': the store keeps regular "
		 "files, directories and symbolic links only",
		 what, vp.container, vp.key);
	return -EPERM;
}

int vfs_link(struct vfs *v, const char *from, const char *to)
{
	(void)v;
	/* outside containers/ nothing is made: the read-only answer there */
	if (strncmp(to, "/containers/", strlen("/containers/")) != 0)
		return -EROFS;
	log_warn("cannot create '%s' as a hard link of '%s': hard links are "
		 "not supported (a symbolic link or a copy is)",
		 to + (*to == '/'), from + (*from == '/'));
	return -EPERM;
}

int vfs_key_readlink(struct vfs *v, const char *c, const char *k, char *buf,
		     size_t size)
{
	struct store_reader *r;
	struct obj_info oi;
	struct stat st;
	size_t want;
	int err;

	/* the kernel asked for the attributes just before: a cache hit */
	err = vfs_key_getattr(v, c, k, &st);
	if (err)
		return err;
	if (!S_ISLNK(st.st_mode))
		return -EINVAL;
	err = store_reader_open_info(v->st, c, k, &oi, &r);
	if (err)
		return vfs_is_absent(err) ? -ENOENT : err;
	if (!vfs_meta_is_symlink(&oi.meta) || r->size >= PATH_MAX) {
		err = -EINVAL; /* a file, not a link */
		goto out;
	}
	want = r->size < size - 1 ? (size_t)r->size : size - 1;
	err = store_reader_read_full(r, 0, buf, want);
	if (!err)
		buf[want] = '\0'; /* readlink(2) truncates */
out:
	store_reader_close(r);
	obj_info_release(&oi);
	return err;
}
