/*
 * vfs.c - the trovefs namespace over a store: path parsing, getattr,
 * directory operations, unlink, rename, statfs and the dispatch to
 * providers (see vfs.h for the tree and semantics); readdir and the
 * lookups answered from listings are in vfs_readdir.c, utimens, chmod,
 * chown and the metadata keys they use in vfs_attrs.c.
 *
 * The namespace keeps no tree of its own: every answer comes from the
 * store, from the table of files open for writing (vfs_files.c) or from
 * the stat cache (vfs_cache.c). Under /containers/C a key K is a file if
 * the object K exists, else a directory if the marker "K/" exists or a
 * listing of "K/" finds anything; a file wins over a directory of the same
 * name.
 *
 * Store listing callbacks never call the store (a leaf may hold its lock
 * over them); what needs a store call is collected and done afterwards.
 * Locks: see vfs_i.h; this file takes files_lock only through the
 * vfs_pending_*() helpers and the cache lock only through vfs_cache_*().
 */
#include "vfs.h"
#include "vfs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/log.h"

const char *const vfs_top_names[VFS_TOP_COUNT] = {
	[VFS_TOP_CONTAINERS] = "containers",
	[VFS_TOP_RESTORE] = "restore",
	[VFS_TOP_SNAPSHOTS] = "snapshots",
	[VFS_TOP_DATASTORES] = "datastores",
};

/* ---- helpers shared with vfs_files.c ---- */

const char *vfs_strerror(int err, char *buf, size_t len)
{
	/* GNU strerror_r: thread-safe, returns a static string or @buf */
	return strerror_r(err < 0 ? -err : err, buf, len);
}

const char *vfs_format_for(struct vfs *v, const char *container)
{
	if (!v->conf.format_for)
		return NULL;
	return v->conf.format_for(v->conf.format_arg, container);
}

/* Checks each component of @p (up to its end) for the kernel's limit. */
static int check_components(const char *p)
{
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n > VFS_NAME_MAX)
			return -ENAMETOOLONG;
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}

int vfs_path_parse(const char *path, struct vpath *vp)
{
	size_t len = strlen(path);
	char *p;
	char *slash;
	int i;
	int err;

	vp->kind = VP_ROOT;
	vp->top = VFS_TOP_CONTAINERS;
	vp->container = NULL;
	vp->key = NULL;
	vp->rel = NULL;
	if (path[0] != '/')
		return -EINVAL;
	if (len >= sizeof(vp->buf))
		return -ENAMETOOLONG;
	memcpy(vp->buf, path, len + 1);
	while (len > 1 && vp->buf[len - 1] == '/')
		vp->buf[--len] = '\0';
	p = vp->buf + 1;
	err = check_components(p);
	if (err)
		return err;
	if (*p == '\0')
		return 0;

	slash = strchr(p, '/');
	if (slash)
		*slash = '\0';
	for (i = 0; i < VFS_TOP_COUNT; i++) {
		if (strcmp(p, vfs_top_names[i]) == 0)
			break;
	}
	if (i == VFS_TOP_COUNT) {
		vp->kind = VP_BAD_TOP;
		return 0;
	}
	vp->top = i;
	if (!slash) {
		vp->kind = VP_TOP;
		vp->rel = "";
		return 0;
	}
	p = slash + 1;
	if (vp->top != VFS_TOP_CONTAINERS) {
		vp->kind = VP_PROV;
		vp->rel = p;
		return 0;
	}

	slash = strchr(p, '/');
	if (slash)
		*slash = '\0';
	if (!store_container_is_valid(p))
		return -EINVAL;
	vp->container = p;
	if (!slash) {
		vp->kind = VP_CONTAINER;
		return 0;
	}
	p = slash + 1;
	if (strlen(p) > STORE_KEY_MAX)
		return -ENAMETOOLONG;
	if (!store_key_is_valid(p))
		return -EINVAL;
	vp->kind = VP_KEY;
	vp->key = p;
	return 0;
}

int vfs_path_parse_file(const char *path, struct vpath *vp, int bad_top)
{
	int err = vfs_path_parse(path, vp);

	if (err)
		return err;
	switch (vp->kind) {
	case VP_ROOT:
	case VP_TOP:
	case VP_CONTAINER:
		return -EISDIR;
	case VP_BAD_TOP:
		return bad_top;
	case VP_PROV:
	case VP_KEY:
		break;
	}
	return 0;
}

int vfs_object_path(char *buf, size_t len, const char *container,
		    const char *key)
{
	int n;

	if (key && *key)
		n = snprintf(buf, len, "/containers/%s/%s", container, key);
	else
		n = snprintf(buf, len, "/containers/%s", container);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

void vfs_stat_fill(const struct vfs *v, struct stat *st, mode_t mode,
		   uint64_t size, const struct timespec *mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = v->conf.uid;
	st->st_gid = v->conf.gid;
	st->st_size = (off_t)size;
	st->st_blksize = v->conf.blksize;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_atim = *mtime;
	st->st_mtim = *mtime;
	st->st_ctim = *mtime;
}

void vfs_stat_dir(const struct vfs *v, struct stat *st)
{
	vfs_stat_fill(v, st, S_IFDIR | v->conf.default_dir_mode, 0, &v->birth);
}

/*
 * The stat of @oi from its metadata: a file or a link, or (@marker) the
 * directory whose marker "K/" it is.
 */
static void stat_of(const struct vfs *v, const struct obj_info *oi, bool marker,
		    struct stat *st)
{
	struct timespec mt;
	mode_t mode;
	uid_t uid;
	gid_t gid;

	if (vfs_meta_get_mtime(&oi->meta, &mt))
		mt = oi->mtime;
	if (marker)
		mode = S_IFDIR |
		       vfs_meta_get_mode(&oi->meta, v->conf.default_dir_mode);
	else if (vfs_meta_is_symlink(&oi->meta))
		mode = S_IFLNK | 0777;
	else
		mode = S_IFREG |
		       vfs_meta_get_mode(&oi->meta, v->conf.default_file_mode);
	vfs_stat_fill(v, st, mode, marker ? 0 : oi->size, &mt);
	vfs_meta_get_owner(&oi->meta, &uid, &gid);
	vfs_stat_owner(st, uid, gid);
}

void vfs_stat_object(const struct vfs *v, const struct obj_info *oi,
		     struct stat *st)
{
	stat_of(v, oi, false, st);
}

void vfs_stat_owner(struct stat *st, uid_t uid, gid_t gid)
{
	if (uid != (uid_t)-1)
		st->st_uid = uid;
	if (gid != (gid_t)-1)
		st->st_gid = gid;
}

/* Builds "K/" in @buf; -ENAMETOOLONG if it is no valid key. */
int vfs_marker_key(char *buf, size_t len, const char *key)
{
	size_t klen = strlen(key);

	if (klen + 1 > STORE_KEY_MAX || klen + 2 > len)
		return -ENAMETOOLONG;
	memcpy(buf, key, klen);
	buf[klen] = '/';
	buf[klen + 1] = '\0';
	return 0;
}

/* Listing callback: notes that there is at least one entry, stops. */
static int found_cb(void *arg, const struct obj_info *oi)
{
	bool *found = arg;

	(void)oi;
	*found = true;
	return 1;
}

/* 0 if container @c exists, -ENOENT, or a store error. */
static int container_probe(struct vfs *v, const char *c)
{
	bool found = false;

	return store_list_first(v->st, c, "", '/', found_cb, &found);
}

/* True if head()'s error means "no object of that name". */
bool vfs_is_absent(int err)
{
	return err == -ENOENT || err == -EISDIR || err == -ENOTDIR;
}

/* The first entry under "K/": is there one, is it the marker itself. */
struct first_ctx {
	const struct vfs *v;
	const char *marker;
	bool found;
	bool marker_whole;   /* the marker, all its metadata listed: in st */
	bool marker_partial; /* the marker, its metadata not all listed */
	struct stat *st;
};

static int first_cb(void *arg, const struct obj_info *oi)
{
	struct first_ctx *x = arg;

	x->found = true;
	if (!oi->is_subdir && strcmp(oi->name, x->marker) == 0) {
		if (oi->meta_partial) {
			x->marker_partial = true;
		} else {
			stat_of(x->v, oi, true, x->st);
			x->marker_whole = true;
		}
	}
	return 1;
}

/*
 * Directory @k of @c, known not to be an object: its marker (the first
 * entry listed under "K/", which is the marker "K/" if there is one: it
 * sorts first, with the metadata a listing carries; a HEAD of the marker
 * only if the listing does not say all of it), else an implied directory.
 * 0 with *@st, -ENOENT (nothing under "K/"), or a store error.
 */
static int lookup_dir(struct vfs *v, const char *c, const char *k,
		      struct stat *st)
{
	char marker[STORE_KEY_MAX + 2];
	struct first_ctx x = { .v = v, .marker = marker, .st = st };
	struct obj_info oi;
	int err;

	if (vfs_marker_key(marker, sizeof(marker), k))
		return -ENOENT;
	err = store_list_first(v->st, c, marker, '/', first_cb, &x);
	if (err)
		return err;
	if (!x.found)
		return -ENOENT;
	if (x.marker_whole)
		return 0; /* the marker, from the listing */
	if (x.marker_partial) {
		obj_info_init(&oi);
		err = store_head(v->st, c, marker, &oi);
		if (!err) {
			stat_of(v, &oi, true, st);
			obj_info_release(&oi);
			return 0;
		}
		if (!vfs_is_absent(err))
			return err;
	}
	vfs_stat_dir(v, st);
	return 0;
}

/*
 * What key @k of container @c is in the store: a file, a directory (a
 * marker or an implied prefix) or nothing. No cache, no open files.
 * Returns 0 with *@st filled, -ENOENT, or a store error. A HEAD of the
 * name, then lookup_dir(): two requests for a name that is not there.
 */
int vfs_lookup(struct vfs *v, const char *c, const char *k, struct stat *st)
{
	struct obj_info oi;
	int err;

	obj_info_init(&oi);
	err = store_head(v->st, c, k, &oi);
	if (!err) {
		vfs_stat_object(v, &oi, st);
		obj_info_release(&oi);
		return 0;
	}
	if (!vfs_is_absent(err))
		return err;
	return lookup_dir(v, c, k, st);
}

/* getattr of /containers/C, through the cache. */
int vfs_container_getattr(struct vfs *v, const char *c, struct stat *st)
{
	char path[PATH_MAX];
	uint64_t gen;
	int err;

	err = vfs_object_path(path, sizeof(path), c, NULL);
	if (err)
		return err;
	if (vfs_cache_get(&v->cache, path, st))
		return st->st_mode ? 0 : -ENOENT;
	gen = vfs_cache_gen(&v->cache);
	err = container_probe(v, c);
	if (err)
		return err;
	vfs_stat_dir(v, st);
	vfs_cache_put(&v->cache, path, st, gen);
	return 0;
}

/*
 * getattr of /containers/C/K: open files, then the cache, then the store
 * (a listing of the directory where the store lists by page, vfs_lookup()
 * where that does not settle it). Without @by_listing, a name absent only
 * because its directory's listing lacks it is asked for by name.
 */
static int key_getattr(struct vfs *v, const char *c, const char *k,
		       struct stat *st, bool by_listing)
{
	enum vfs_cached cached;
	char path[PATH_MAX];
	uint64_t gen;
	int err;

	if (vfs_pending_stat(v, c, k, st))
		return 0;
	err = vfs_object_path(path, sizeof(path), c, k);
	if (err)
		return err;
	cached = vfs_cache_lookup(&v->cache, path, st);
	if (cached == VFS_CACHED_STAT)
		return 0;
	if (cached == VFS_CACHED_ABSENT ||
	    (cached == VFS_CACHED_UNLISTED && by_listing))
		return -ENOENT;
	gen = vfs_cache_gen(&v->cache);
	if (cached == VFS_CACHED_LISTED && S_ISDIR(st->st_mode)) {
		/* a subdirectory its parent's listing just showed */
		err = lookup_dir(v, c, k, st);
		if (!err)
			vfs_cache_put(&v->cache, path, st, gen);
		return err;
	}
	if (cached == VFS_CACHED_NONE && v->list_lookups) {
		/* what it learnt is cached, the directory marked */
		err = vfs_lookup_by_listing(v, c, k, st);
		if (err != 1)
			return err;
	}
	err = vfs_lookup(v, c, k, st);
	if (err == -ENOENT)
		vfs_cache_put_absent(&v->cache, path, gen);
	if (err)
		return err;
	vfs_cache_put(&v->cache, path, st, gen);
	return 0;
}

int vfs_key_getattr(struct vfs *v, const char *c, const char *k,
		    struct stat *st)
{
	return key_getattr(v, c, k, st, true);
}

int vfs_key_getattr_for_create(struct vfs *v, const char *c, const char *k,
			       struct stat *st)
{
	return key_getattr(v, c, k, st, false);
}

/* 0 if @dir ("" = the container itself) is a directory of @c. */
int vfs_dir_exists(struct vfs *v, const char *c, const char *dir)
{
	struct stat st;
	int err;

	if (*dir == '\0')
		return vfs_container_getattr(v, c, &st);
	err = vfs_key_getattr(v, c, dir, &st);
	if (err)
		return err;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* 0 if the parent directory of key @k exists in @c. */
int vfs_parent_exists(struct vfs *v, const char *c, const char *k)
{
	char parent[STORE_KEY_MAX + 1];
	const char *slash = strrchr(k, '/');
	size_t n;

	if (!slash)
		return vfs_dir_exists(v, c, "");
	n = (size_t)(slash - k);
	memcpy(parent, k, n);
	parent[n] = '\0';
	return vfs_dir_exists(v, c, parent);
}

/* @drop (a vfs_cache_drop*()) of the path of @c/@k. */
static void cache_drop_key(struct vfs *v, const char *c, const char *k,
			   void (*drop)(struct vfs_cache *, const char *))
{
	char path[PATH_MAX];

	if (!vfs_object_path(path, sizeof(path), c, k))
		drop(&v->cache, path);
}

/* Drops @c/@k, its ancestors and everything below it from the cache. */
static void cache_drop_tree(struct vfs *v, const char *c, const char *k)
{
	cache_drop_key(v, c, k, vfs_cache_drop_tree);
}

void vfs_drop_gone(struct vfs *v, const char *c, const char *k)
{
	cache_drop_key(v, c, k, vfs_cache_drop);
}

void vfs_drop_added(struct vfs *v, const char *c, const char *k)
{
	cache_drop_key(v, c, k, vfs_cache_drop_added);
}

/* After a change this vfs made: @c/@k is *@st now (vfs_cache_set()). */
static void cache_key(struct vfs *v, const char *c, const char *k,
		      const struct stat *st)
{
	char path[PATH_MAX];

	if (!vfs_object_path(path, sizeof(path), c, k))
		vfs_cache_set(&v->cache, path, st, vfs_cache_gen(&v->cache));
}

/* After @ca/@ka moved to @cb/@kb: vfs_cache_drop_moved(). */
static void cache_moved_key(struct vfs *v, const char *ca, const char *ka,
			    const char *cb, const char *kb)
{
	char from[PATH_MAX];
	char to[PATH_MAX];

	if (vfs_object_path(from, sizeof(from), ca, ka) ||
	    vfs_object_path(to, sizeof(to), cb, kb)) {
		vfs_drop_gone(v, ca, ka);
		vfs_drop_gone(v, cb, kb);
		return;
	}
	vfs_cache_drop_moved(&v->cache, from, to);
}

/* ---- lifecycle ---- */

int vfs_new(const struct vfs_conf *conf, struct store *st, struct vfs **out)
{
	struct vfs *v;
	int err;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->conf = *conf;
	if (v->conf.blksize == 0)
		v->conf.blksize = 1u << 20;
	v->st = st;
	clock_gettime(CLOCK_REALTIME, &v->birth);
	if (pthread_mutex_init(&v->files_lock, NULL)) {
		err = -ENOMEM;
		goto out_free;
	}
	err = vfs_cache_init(&v->cache, conf->attr_timeout, VFS_CACHE_MAX);
	if (err)
		goto out_destroy_lock;
	v->list_lookups = store_lists_by_page(st);
	*out = v;
	return 0;

out_destroy_lock:
	pthread_mutex_destroy(&v->files_lock);
out_free:
	free(v);
	return err;
}

void vfs_free(struct vfs *v)
{
	if (!v)
		return;
	vfs_handles_free(v);
	vfs_cache_release(&v->cache);
	pthread_mutex_destroy(&v->files_lock);
	free(v);
}

int vfs_register_provider(struct vfs *v, const char *top,
			  const struct vfs_provider_ops *ops, void *p)
{
	int i;

	for (i = VFS_TOP_RESTORE; i < VFS_TOP_COUNT; i++) {
		if (strcmp(top, vfs_top_names[i]) == 0)
			break;
	}
	if (i == VFS_TOP_COUNT || !ops)
		return -EINVAL;
	if (v->prov[i].ops)
		return -EEXIST;
	v->prov[i].ops = ops;
	v->prov[i].p = p;
	return 0;
}

/* The provider of @vp's top, or NULL (none registered, or /containers). */
const struct vfs_prov *vfs_prov_of(struct vfs *v, const struct vpath *vp)
{
	if (vp->top == VFS_TOP_CONTAINERS || !v->prov[vp->top].ops)
		return NULL;
	return &v->prov[vp->top];
}

/* ---- getattr ---- */

int vfs_getattr(struct vfs *v, const char *path, struct stat *st)
{
	const struct vfs_prov *pr;
	struct vpath vp;
	int err;

	err = vfs_path_parse(path, &vp);
	if (err)
		return err;
	switch (vp.kind) {
	case VP_ROOT:
		/* nothing is made here: the top directories are fixed */
		vfs_stat_dir(v, st);
		st->st_mode &= ~(mode_t)0222;
		st->st_nlink = 2 + VFS_TOP_COUNT;
		return 0;
	case VP_BAD_TOP:
		return -ENOENT;
	case VP_TOP:
		pr = vfs_prov_of(v, &vp);
		if (pr && pr->ops->getattr)
			return pr->ops->getattr(pr->p, "", st);
		vfs_stat_dir(v, st);
		/* only containers/ takes new names (mkdir: a container) */
		if (vp.top != VFS_TOP_CONTAINERS)
			st->st_mode &= ~(mode_t)0222;
		return 0;
	case VP_PROV:
		pr = vfs_prov_of(v, &vp);
		if (!pr || !pr->ops->getattr)
			return -ENOENT;
		return pr->ops->getattr(pr->p, vp.rel, st);
	case VP_CONTAINER:
		return vfs_container_getattr(v, vp.container, st);
	case VP_KEY:
		return vfs_key_getattr(v, vp.container, vp.key, st);
	}
	return -ENOENT;
}

/* ---- directories ---- */

int vfs_name_free(struct vfs *v, const char *c, const char *k)
{
	struct stat st;
	int err;

	err = vfs_key_getattr_for_create(v, c, k, &st);
	if (!err)
		return -EEXIST;
	if (err != -ENOENT)
		return err;
	return vfs_parent_exists(v, c, k);
}

/* Writes the marker of directory @k with its mode and mtime. */
static int marker_create(struct vfs *v, const char *c, const char *k,
			 const struct meta *m)
{
	char marker[STORE_KEY_MAX + 2];
	struct store_wopts wo = { .format = vfs_format_for(v, c) };
	struct store_writer *w;
	int err;

	err = vfs_marker_key(marker, sizeof(marker), k);
	if (err)
		return err;
	err = store_writer_open(v->st, c, marker, &wo, &w);
	if (err)
		return err;
	return store_writer_commit(w, m);
}

/*
 * Caches directory @k as its new marker's metadata @m says: rsync looks
 * at each directory it made (a HEAD and a listing otherwise).
 */
static void cache_marker(struct vfs *v, const char *c, const char *k,
			 const struct meta *m)
{
	struct obj_info oi;
	struct stat st;

	obj_info_init(&oi);
	oi.meta = *m; /* borrowed: stat_of() only reads it */
	clock_gettime(CLOCK_REALTIME, &oi.mtime);
	stat_of(v, &oi, true, &st);
	cache_key(v, c, k, &st);
}

int vfs_mkdir(struct vfs *v, const char *path, mode_t mode)
{
	const struct vfs_prov *pr;
	struct vpath vp;
	struct meta m;
	int err;

	err = vfs_path_parse(path, &vp);
	if (err)
		return err;
	switch (vp.kind) {
	case VP_ROOT:
	case VP_TOP:
		return -EEXIST;
	case VP_BAD_TOP:
		return -EROFS;
	case VP_PROV:
		pr = vfs_prov_of(v, &vp);
		if (!pr || !pr->ops->mkdir)
			return -EROFS;
		return pr->ops->mkdir(pr->p, vp.rel, mode);
	case VP_CONTAINER:
		err = store_create_container(v->st, vp.container);
		vfs_drop_added(v, vp.container, NULL);
		return err;
	case VP_KEY:
		break;
	}

	if (strlen(vp.key) + 1 > STORE_KEY_MAX)
		return -ENAMETOOLONG;
	err = vfs_name_free(v, vp.container, vp.key);
	if (err)
		return err;
	err = vfs_meta_new(&m, mode);
	if (!err)
		err = marker_create(v, vp.container, vp.key, &m);
	vfs_drop_added(v, vp.container, vp.key);
	if (!err)
		cache_marker(v, vp.container, vp.key, &m);
	meta_release(&m);
	return err;
}

struct empty_ctx {
	const char *marker;
	bool other;
};

/* Listing callback: stops at the first key other than the marker. */
static int not_marker_cb(void *arg, const struct obj_info *oi)
{
	struct empty_ctx *x = arg;

	if (strcmp(oi->name, x->marker) == 0)
		return 0;
	x->other = true;
	return 1;
}

/* 0 if directory @k holds nothing but its marker, -ENOTEMPTY, -errno. */
static int dir_empty(struct vfs *v, const char *c, const char *k)
{
	char marker[STORE_KEY_MAX + 2];
	struct empty_ctx x;
	int err;

	err = vfs_marker_key(marker, sizeof(marker), k);
	if (err)
		return err;
	if (vfs_pending_under(v, c, marker))
		return -ENOTEMPTY;
	x.marker = marker;
	x.other = false;
	err = store_list(v->st, c, marker, 0, not_marker_cb, &x);
	if (err)
		return err;
	return x.other ? -ENOTEMPTY : 0;
}

int vfs_rmdir(struct vfs *v, const char *path)
{
	char marker[STORE_KEY_MAX + 2];
	const struct vfs_prov *pr;
	struct stat st;
	struct vpath vp;
	int err;

	err = vfs_path_parse(path, &vp);
	if (err)
		return err;
	switch (vp.kind) {
	case VP_ROOT:
	case VP_TOP:
	case VP_BAD_TOP:
		return -EROFS;
	case VP_PROV:
		pr = vfs_prov_of(v, &vp);
		if (!pr || !pr->ops->rmdir)
			return -EROFS;
		return pr->ops->rmdir(pr->p, vp.rel);
	case VP_CONTAINER:
		err = store_delete_container(v->st, vp.container);
		cache_drop_tree(v, vp.container, NULL);
		return err;
	case VP_KEY:
		break;
	}

	err = vfs_key_getattr(v, vp.container, vp.key, &st);
	if (!err && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (err && err != -ENOENT)
		return err;
	err = dir_empty(v, vp.container, vp.key);
	if (err)
		return err;
	err = vfs_marker_key(marker, sizeof(marker), vp.key);
	if (err)
		return err;
	/*
	 * An implied directory has no marker, and vanishes with its last
	 * object: rm -r's rmdir after unlinking the contents must succeed.
	 */
	err = store_del(v->st, vp.container, marker);
	if (err == -ENOENT)
		err = 0;
	cache_drop_tree(v, vp.container, vp.key);
	return err;
}

int vfs_unlink(struct vfs *v, const char *path)
{
	struct stat st;
	struct vpath vp;
	unsigned doomed;
	int err;

	err = vfs_path_parse_file(path, &vp, -EROFS);
	if (err)
		return err;
	if (vp.kind == VP_PROV)
		return -EROFS;

	doomed = vfs_pending_doom(v, vp.container, vp.key);
	err = store_del(v->st, vp.container, vp.key);
	vfs_drop_gone(v, vp.container, vp.key);
	if (!err || !vfs_is_absent(err))
		return err;
	if (doomed)
		return 0;
	err = vfs_lookup(v, vp.container, vp.key, &st);
	if (!err)
		return S_ISDIR(st.st_mode) ? -EISDIR : -ENOENT;
	return err;
}

/* ---- rename ---- */

/* A growing array of keys, filled by a listing. */
struct names {
	char **v; /* owned strings */
	size_t n;
	size_t cap;
};

static int collect_cb(void *arg, const struct obj_info *oi)
{
	struct names *x = arg;
	char **nv;
	size_t cap;

	if (x->n == x->cap) {
		cap = x->cap ? x->cap * 2 : 64;
		nv = reallocarray(x->v, cap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		x->v = nv;
		x->cap = cap;
	}
	x->v[x->n] = strdup(oi->name);
	if (!x->v[x->n])
		return -ENOMEM;
	x->n++;
	return 0;
}

static void names_release(struct names *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		free(x->v[i]);
	free(x->v);
}

/* @dst = @to + (@name less its first @flen bytes); a valid key length. */
static int rebase(char *dst, size_t len, const char *to, const char *name,
		  size_t flen)
{
	int n = snprintf(dst, len, "%s%s", to, name + flen);

	if (n < 0 || (size_t)n >= len || (size_t)n > STORE_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static bool is_marker(const char *key)
{
	size_t len = strlen(key);

	return len > 0 && key[len - 1] == '/';
}

/* Creates marker @dk of @dc with the metadata of marker @sk of @sc. */
static int marker_copy(struct vfs *v, const char *sc, const char *sk,
		       const char *dc, const char *dk)
{
	struct store_wopts wo = { .format = vfs_format_for(v, dc) };
	struct store_writer *w;
	struct obj_info oi;
	int err;

	obj_info_init(&oi);
	err = store_head(v->st, sc, sk, &oi);
	if (err && !vfs_is_absent(err))
		return err;
	vfs_meta_strip_codec(&oi.meta);
	err = store_writer_open(v->st, dc, dk, &wo, &w);
	if (!err)
		err = store_writer_commit(w, &oi.meta);
	obj_info_release(&oi);
	return err;
}

/*
 * Moves every object below directory @ka of @ca to @kb of @cb: markers of
 * the destination first (the local store's directories), then the
 * objects, then the source markers from the deepest up.
 */
static int rename_dir(struct vfs *v, const char *ca, const char *ka,
		      const char *cb, const char *kb, bool exists)
{
	char fm[STORE_KEY_MAX + 2];
	char tm[STORE_KEY_MAX + 2];
	char dst[STORE_KEY_MAX + 2];
	char ebuf[64];
	struct names x = { 0 };
	size_t la = strlen(ka);
	size_t flen;
	size_t i;
	int err;

	if (strcmp(ca, cb) == 0 && strncmp(kb, ka, la) == 0 && kb[la] == '/')
		return -EINVAL;
	err = vfs_marker_key(fm, sizeof(fm), ka);
	if (!err)
		err = vfs_marker_key(tm, sizeof(tm), kb);
	if (err)
		return err;
	if (exists) {
		err = dir_empty(v, cb, kb);
		if (err)
			return err;
	}
	err = store_list(v->st, ca, fm, 0, collect_cb, &x);
	if (err)
		goto out_release;
	flen = strlen(fm);
	/* refuse before changing anything if a new key would be too long */
	for (i = 0; i < x.n; i++) {
		err = rebase(dst, sizeof(dst), tm, x.v[i], flen);
		if (err)
			goto out_release;
	}
	for (i = 0; i < x.n && !err; i++) {
		if (!is_marker(x.v[i]))
			continue;
		rebase(dst, sizeof(dst), tm, x.v[i], flen);
		err = marker_copy(v, ca, x.v[i], cb, dst);
	}
	for (i = 0; i < x.n && !err; i++) {
		if (is_marker(x.v[i]))
			continue;
		rebase(dst, sizeof(dst), tm, x.v[i], flen);
		err = vfs_move_object(v, ca, x.v[i], cb, dst, false);
	}
	if (!err)
		err = vfs_pending_retarget_prefix(v, ca, fm, cb, tm);
	for (i = x.n; i-- > 0 && !err;) {
		if (!is_marker(x.v[i]))
			continue;
		err = store_del(v->st, ca, x.v[i]);
		if (err == -ENOENT)
			err = 0;
	}
	if (err)
		log_error("cannot rename directory '%s/%s' to '%s/%s': %s", ca,
			  ka, cb, kb, vfs_strerror(err, ebuf, sizeof(ebuf)));
out_release:
	names_release(&x);
	cache_drop_tree(v, ca, ka);
	cache_drop_tree(v, cb, kb);
	return err;
}

/*
 * @exists: something was under @cb/@kb when the rename looked; @sa: what
 * @ca/@ka is, which a copy keeps (metadata and all)
 */
static int rename_file(struct vfs *v, const char *ca, const char *ka,
		       const char *cb, const char *kb, bool exists,
		       const struct stat *sa)
{
	bool moved = false;
	bool replaces = false;
	int err;
	int n;

	/* an open file under the target name is replaced: never commit it */
	vfs_pending_doom(v, cb, kb);
	n = vfs_pending_retarget(v, ca, ka, cb, kb, &replaces);
	if (n < 0) {
		err = n;
	} else if (n > 0) {
		/* the commit lands under the new name; drop a truncated old
		 * version left under the old one */
		err = 0;
		if (replaces) {
			err = store_del(v->st, ca, ka);
			if (vfs_is_absent(err))
				err = 0;
		}
	} else {
		err = vfs_move_object(v, ca, ka, cb, kb, !exists);
		moved = true;
	}
	/* a failed move may have left either: drop both whole */
	if (err) {
		vfs_drop_gone(v, ca, ka);
		vfs_drop_gone(v, cb, kb);
		return err;
	}
	cache_moved_key(v, ca, ka, cb, kb);
	if (moved) {
		vfs_open_files_follow(v, ca, ka, cb, kb);
		cache_key(v, cb, kb, sa); /* rsync stats it again later */
	}
	return 0;
}

static bool is_read_only(const struct vpath *vp)
{
	return vp->kind != VP_KEY && vp->kind != VP_CONTAINER;
}

int vfs_rename(struct vfs *v, const char *from, const char *to, unsigned flags)
{
	struct vpath *a;
	struct vpath *b;
	struct stat sa;
	struct stat sb;
	bool exists;
	int err;

	if (flags & ~(VFS_RENAME_NOREPLACE | VFS_RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & VFS_RENAME_EXCHANGE)
		return -EINVAL;
	a = malloc(2 * sizeof(*a));
	if (!a)
		return -ENOMEM;
	b = a + 1;
	err = vfs_path_parse(from, a);
	if (!err)
		err = vfs_path_parse(to, b);
	if (err)
		goto out_free;
	if (a->kind == VP_KEY && b->kind == VP_CONTAINER) {
		/* a directory becomes a container by mv's copy; a file never */
		err = vfs_key_getattr(v, a->container, a->key, &sa);
		if (!err && S_ISDIR(sa.st_mode))
			err = -EXDEV;
		else if (!err)
			err = vfs_refuse_in_containers(v, b->container, "file");
		if (err == -EEXIST)
			err = -EISDIR; /* a file over a directory */
		goto out_free;
	}
	if (a->kind != VP_KEY || b->kind != VP_KEY) {
		/* containers are not renamed: mv copies instead */
		err = is_read_only(a) || is_read_only(b) ? -EROFS : -EXDEV;
		goto out_free;
	}
	err = vfs_key_getattr(v, a->container, a->key, &sa);
	if (err)
		goto out_free;
	if (strcmp(a->container, b->container) == 0 &&
	    strcmp(a->key, b->key) == 0)
		goto out_free;
	err = vfs_key_getattr(v, b->container, b->key, &sb);
	exists = !err;
	if (err && err != -ENOENT)
		goto out_free;
	err = 0;
	if (exists && (flags & VFS_RENAME_NOREPLACE))
		err = -EEXIST;
	else if (exists && S_ISDIR(sa.st_mode) && !S_ISDIR(sb.st_mode))
		err = -ENOTDIR;
	else if (exists && !S_ISDIR(sa.st_mode) && S_ISDIR(sb.st_mode))
		err = -EISDIR;
	else if (!exists)
		err = vfs_parent_exists(v, b->container, b->key);
	if (err)
		goto out_free;
	if (S_ISDIR(sa.st_mode))
		err = rename_dir(v, a->container, a->key, b->container, b->key,
				 exists);
	else
		err = rename_file(v, a->container, a->key, b->container, b->key,
				  exists, &sa);
out_free:
	free(a);
	return err;
}

/* ---- statfs, readlink ---- */

int vfs_statfs(struct vfs *v, const char *path, struct statvfs *out)
{
	const uint64_t frsize = 4096;
	const uint64_t ffree = 1ull << 30;
	struct store_statfs sf;
	uint64_t used_blocks;
	uint64_t total;
	uint64_t avail;
	int err;

	(void)path;
	err = store_statfs(v->st, &sf);
	if (err)
		return err;
	total = sf.bytes_total;
	avail = sf.bytes_free;
	if (total == 0) {
		/* no quota: show plenty of room so df and cp work */
		total = VFS_FAKE_TOTAL;
		avail = total > sf.bytes_used ? total - sf.bytes_used : 0;
	}
	/* df's "Used" (blocks - free) is what is used, in whole blocks */
	used_blocks = total > avail ? (total - avail + frsize - 1) / frsize : 0;
	memset(out, 0, sizeof(*out));
	out->f_bsize = v->conf.blksize;
	out->f_frsize = frsize;
	out->f_blocks = total / frsize;
	out->f_bfree =
		out->f_blocks > used_blocks ? out->f_blocks - used_blocks : 0;
	out->f_bavail = out->f_bfree;
	out->f_files = sf.objects + ffree;
	out->f_ffree = ffree;
	out->f_favail = ffree;
	out->f_namemax = VFS_NAME_MAX;
	return 0;
}

int vfs_readlink(struct vfs *v, const char *path, char *buf, size_t size)
{
	const struct vfs_prov *pr;
	struct vpath vp;
	int err;

	if (size == 0)
		return -EINVAL;
	err = vfs_path_parse(path, &vp);
	if (err)
		return err;
	if (vp.kind == VP_KEY)
		return vfs_key_readlink(v, vp.container, vp.key, buf, size);
	if (vp.kind != VP_PROV)
		return -EINVAL; /* nothing else is a symlink */
	pr = vfs_prov_of(v, &vp);
	if (!pr || !pr->ops->readlink)
		return -ENOENT;
	return pr->ops->readlink(pr->p, vp.rel, buf, size);
}
