/*
 * vfs_attrs.c - a file's attributes as object metadata: the "mtime",
 * "mode", "uid" and "gid" keys (parsed and written here), and the calls
 * that change them: utimens, chmod, chown (see vfs.h).
 *
 * A change to a file being written is recorded in its handle and lands
 * with the commit (vfs_pending_setattr()); a stored file or directory
 * marker gets one store_update_meta(), which keeps every other key, and
 * its attributes after the change go to the stat cache.
 * Locks: none of its own; see vfs_i.h.
 */
#include "vfs.h"
#include "vfs_i.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the metadata keys ---- */

/*
 * Parses "mtime": "%lld.%09ld" as trovefs, python-swiftclient and rclone
 * write it, or whole or fractional seconds. Returns 0, -ENOENT, -EINVAL.
 */
int vfs_meta_get_mtime(const struct meta *m, struct timespec *ts)
{
	const char *s = meta_get(m, "mtime");
	bool neg = false;
	long long sec = 0;
	long nsec = 0;
	int digits = 0;
	int scale;

	if (!s)
		return -ENOENT;
	if (*s == '-') {
		neg = true;
		s++;
	}
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (sec > (LLONG_MAX - 9) / 10)
			return -EINVAL;
		sec = sec * 10 + (*s - '0');
	}
	if (digits == 0)
		return -EINVAL;
	if (*s == '.') {
		s++;
		for (scale = 100000000; *s >= '0' && *s <= '9'; s++) {
			nsec += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s != '\0')
		return -EINVAL;
	if (neg && nsec > 0) {
		sec = -sec - 1;
		nsec = 1000000000L - nsec;
	} else if (neg) {
		sec = -sec;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = nsec;
	return 0;
}

mode_t vfs_meta_get_mode(const struct meta *m, mode_t def)
{
	const char *s = meta_get(m, "mode");
	unsigned long mode;
	char *end;

	if (!s || *s < '0' || *s > '7')
		return def;
	errno = 0;
	mode = strtoul(s, &end, 8);
	if (errno || *end != '\0' || mode > 07777)
		return def;
	return (mode_t)mode;
}

int vfs_meta_put_mtime(struct meta *m, const struct timespec *ts)
{
	char val[48];
	int n;

	n = snprintf(val, sizeof(val), "%lld.%09ld", (long long)ts->tv_sec,
		     (long)ts->tv_nsec);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EINVAL;
	return meta_set(m, "mtime", val);
}

int vfs_meta_put_mode(struct meta *m, mode_t mode)
{
	char val[16];
	int n;

	n = snprintf(val, sizeof(val), "%o", (unsigned)(mode & 07777));
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EINVAL;
	return meta_set(m, "mode", val);
}

/* A uid or gid as chown stored it; (uint32_t)-1 if absent or bad. */
static uint32_t meta_get_id(const struct meta *m, const char *key)
{
	uint64_t id;

	if (meta_get_u64(m, key, &id) || id >= UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)id;
}

void vfs_meta_get_owner(const struct meta *m, uid_t *uid, gid_t *gid)
{
	*uid = (uid_t)meta_get_id(m, "uid");
	*gid = (gid_t)meta_get_id(m, "gid");
}

int vfs_meta_put_attrs(struct meta *m, const struct vfs_attrs *a)
{
	int err = 0;

	if (a->has_mode)
		err = vfs_meta_put_mode(m, a->mode);
	if (!err && a->has_mtime)
		err = vfs_meta_put_mtime(m, &a->mtime);
	if (!err && a->uid != (uid_t)-1)
		err = meta_set_u64(m, "uid", (uint64_t)a->uid);
	if (!err && a->gid != (gid_t)-1)
		err = meta_set_u64(m, "gid", (uint64_t)a->gid);
	return err;
}

int vfs_meta_new(struct meta *m, mode_t mode)
{
	struct timespec now;
	int err;

	meta_init(m);
	clock_gettime(CLOCK_REALTIME, &now);
	err = vfs_meta_put_mode(m, mode);
	if (!err)
		err = vfs_meta_put_mtime(m, &now);
	return err;
}

/* ---- metadata: utimens, chmod, chown ---- */

/*
 * The store keeps every other key as it is when the change lands (one
 * HEAD and one POST on Swift).
 */
int vfs_update_meta(struct vfs *v, const char *c, const char *k,
		    const struct vfs_attrs *a, struct stat *st)
{
	struct timespec mt;
	struct obj_info oi;
	struct meta set;
	int err;

	meta_init(&set);
	obj_info_init(&oi);
	if (st)
		st->st_nlink = 0;
	err = vfs_meta_put_attrs(&set, a);
	if (!err)
		err = store_update_meta(v->st, c, k, &set, st ? &oi : NULL);
	/*
	 * Without an "mtime" key (another tool's object) the mtime shown is
	 * the store's, which the change itself moved (a Swift POST): unknown.
	 */
	if (!err && st && !vfs_meta_get_mtime(&oi.meta, &mt))
		vfs_stat_object(v, &oi, st);
	obj_info_release(&oi);
	meta_release(&set);
	return err;
}

static int setattr(struct vfs *v, const char *path, struct vfs_handle *h,
		   const struct vfs_attrs *a)
{
	char marker[STORE_KEY_MAX + 2];
	char path_buf[PATH_MAX];
	uint64_t gen;
	struct stat st;
	struct vpath vp;
	int err;

	if (!path) {
		/* an open file unlinked meanwhile: only its commit cares */
		if (h && vfs_pending_setattr(v, h, "", "", a))
			return 0;
		return -ENOENT;
	}
	err = vfs_path_parse(path, &vp);
	if (err)
		return err;
	switch (vp.kind) {
	case VP_TOP:
		/* rsync -a into /containers sets its times */
		return vp.top == VFS_TOP_CONTAINERS ? 0 : -EROFS;
	case VP_ROOT:
	case VP_BAD_TOP:
	case VP_PROV:
		return -EROFS;
	case VP_CONTAINER:
		/* containers have no metadata of ours: nothing to keep */
		return vfs_container_getattr(v, vp.container, &st);
	case VP_KEY:
		break;
	}
	if (h && h->kind != VFS_H_FILE)
		return -EROFS;
	if (vfs_pending_setattr(v, h, vp.container, vp.key, a))
		return 0;

	/*
	 * The attributes after the change go to the stat cache: libfuse
	 * asks for them right after (the reply to SETATTR carries them),
	 * and a HEAD for that is one per touch or chmod of each file that
	 * rsync -a copies. Unless anything was invalidated meanwhile.
	 */
	gen = vfs_cache_gen(&v->cache);
	err = vfs_update_meta(v, vp.container, vp.key, a, &st);
	if (!err && st.st_nlink &&
	    !vfs_object_path(path_buf, sizeof(path_buf), vp.container,
			     vp.key)) {
		vfs_cache_set(&v->cache, path_buf, &st, gen);
		return 0;
	}
	if (vfs_is_absent(err) &&
	    !vfs_marker_key(marker, sizeof(marker), vp.key)) {
		err = vfs_update_meta(v, vp.container, marker, a, NULL);
		if (vfs_is_absent(err)) {
			/* an implied directory has nowhere to keep it */
			err = vfs_lookup(v, vp.container, vp.key, &st);
		}
	}
	vfs_drop_gone(v, vp.container, vp.key);
	return err;
}

int vfs_utimens(struct vfs *v, const char *path, const struct timespec ts[2],
		struct vfs_handle *h)
{
	struct vfs_attrs a = VFS_ATTRS_KEEP;

	a.has_mtime = true;
	if (!ts || ts[1].tv_nsec == UTIME_NOW) {
		clock_gettime(CLOCK_REALTIME, &a.mtime);
	} else if (ts[1].tv_nsec == UTIME_OMIT) {
		return 0;
	} else {
		if (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000L)
			return -EINVAL;
		a.mtime = ts[1];
	}
	return setattr(v, path, h, &a);
}

int vfs_chmod(struct vfs *v, const char *path, mode_t mode,
	      struct vfs_handle *h)
{
	struct vfs_attrs a = VFS_ATTRS_KEEP;

	a.has_mode = true;
	a.mode = mode & 07777;
	return setattr(v, path, h, &a);
}

int vfs_chown(struct vfs *v, const char *path, uid_t uid, gid_t gid,
	      struct vfs_handle *h)
{
	struct vfs_attrs a = VFS_ATTRS_KEEP;

	if (uid == (uid_t)-1 && gid == (gid_t)-1)
		return 0;
	a.uid = uid;
	a.gid = gid;
	return setattr(v, path, h, &a);
}
