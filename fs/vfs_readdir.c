/*
 * vfs_readdir.c - directory listings under /containers: readdir, and the
 * lookups answered from a listing of the directory where the store lists
 * by page (Swift). Every listing puts what it learns into the stat cache
 * and leaves its directory's mark there (vfs_cache.c): complete when it
 * held the whole directory, so that names not in it are absent for the
 * negative TTL without a request.
 *
 * Store listing callbacks never call the store (a leaf may hold its lock
 * over them). Locks: see vfs_i.h; this file takes files_lock only
 * through the vfs_pending_*() helpers and the cache lock only through
 * vfs_cache_*().
 */
#include "vfs.h"
#include "vfs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * State of a directory listing under /containers. @chain holds the last
 * object name and @chain_len the lengths of the earlier object names that
 * are prefixes of it: since the listing is sorted, an object "x" and the
 * subdirectory "x/" can only be separated by names that start with "x",
 * so this finds the duplicate without remembering every name.
 */
struct rd_ctx {
	struct vfs *v;
	vfs_fill_fn *fill;
	void *arg;
	size_t plen;		       /* length of the key prefix */
	struct vfs_pending_name *pend; /* files open for writing there */
	size_t npend;
	char chain[VFS_NAME_MAX + 1];
	size_t chain_len[VFS_NAME_MAX + 1];
	size_t nchain;
	uint64_t gen;
	size_t entries;	  /* store entries seen, marker too */
	bool full;	  /* fill() said stop */
	bool whole;	  /* the listing held it all (when it ended) */
	const char *want; /* a lookup's name, or NULL */
	int want_r;	  /* -ENOENT: not seen; 0: in *want_st; 1: seen */
	struct stat *want_st;
	char path[PATH_MAX]; /* "/containers/C/prefix" + name */
	size_t dlen;	     /* length of the directory part */
};

/* Pops the chain until its top is a prefix of @name (@len bytes). */
static void chain_trim(struct rd_ctx *x, const char *name, size_t len)
{
	while (x->nchain > 0) {
		size_t l = x->chain_len[x->nchain - 1];

		if (l <= len && memcmp(x->chain, name, l) == 0)
			break;
		x->nchain--;
	}
}

static int rd_fill(struct rd_ctx *x, const char *name, const struct stat *st)
{
	if (x->want && strcmp(name, x->want) == 0) {
		x->want_r = st ? 0 : 1;
		if (st)
			*x->want_st = *st;
	}
	if (x->fill && x->fill(x->arg, name, st)) {
		x->full = true;
		return 1;
	}
	return 0;
}

/* x->path with @name (@len bytes) after the directory; NULL if too long */
static const char *rd_path(struct rd_ctx *x, const char *name, size_t len)
{
	if (x->dlen + len >= sizeof(x->path))
		return NULL;
	memcpy(x->path + x->dlen, name, len);
	x->path[x->dlen + len] = '\0';
	return x->path;
}

/*
 * Caches that @name (@len bytes) exists, attributes unknown; @dir: a
 * subdirectory, no object of that name.
 */
static void rd_listed(struct rd_ctx *x, const char *name, size_t len, bool dir)
{
	const char *path = rd_path(x, name, len);

	if (path)
		vfs_cache_put_listed(&x->v->cache, path, dir, x->gen);
}

static int rd_subdir(struct rd_ctx *x, const char *name)
{
	char tmp[VFS_NAME_MAX + 1];
	size_t len = strlen(name);

	/* "sub/" with exactly one '/', at the end */
	if (len < 2 || len - 1 > VFS_NAME_MAX || name[len - 1] != '/' ||
	    memchr(name, '/', len - 1))
		return 0;
	len--;
	chain_trim(x, name, len);
	if (x->nchain > 0 && x->chain_len[x->nchain - 1] == len)
		return 0; /* the object of the same name wins */
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	rd_listed(x, tmp, len, true); /* its marker's attributes: not here */
	return rd_fill(x, tmp, NULL);
}

static int rd_object(struct rd_ctx *x, const struct obj_info *oi,
		     const char *name)
{
	size_t len = strlen(name);
	const char *path;
	struct stat st;
	size_t i;

	if (len == 0 || len > VFS_NAME_MAX || strchr(name, '/'))
		return 0; /* the marker itself, or no file name */
	chain_trim(x, name, len);
	memcpy(x->chain, name, len);
	x->chain_len[x->nchain++] = len;

	for (i = 0; i < x->npend; i++) {
		if (!x->pend[i].seen && strcmp(x->pend[i].name, name) == 0) {
			x->pend[i].seen = true;
			return rd_fill(x, name, &x->pend[i].st);
		}
	}
	if (oi->meta_partial) {
		rd_listed(x, name, len, false);
		return rd_fill(x, name, NULL); /* getattr will head it */
	}
	vfs_stat_object(x->v, oi, &st);
	path = rd_path(x, name, len);
	if (path)
		vfs_cache_put(&x->v->cache, path, &st, x->gen);
	return rd_fill(x, name, &st);
}

static int rd_cb(void *arg, const struct obj_info *oi)
{
	struct rd_ctx *x = arg;

	x->entries++;
	if (strlen(oi->name) < x->plen)
		return 0;
	if (oi->is_subdir)
		return rd_subdir(x, oi->name + x->plen);
	return rd_object(x, oi, oi->name + x->plen);
}

/*
 * Lists directory @k of @c (NULL: the container's top) into @x (x->fill
 * NULL: only into the cache), all of it, or with @page only what one
 * request of @page entries gives. Every name goes into the cache, and
 * the directory's mark: complete if the listing held it all.
 */
static int list_dir(struct vfs *v, const char *c, const char *k,
		    struct rd_ctx *x, unsigned page)
{
	char prefix[STORE_KEY_MAX + 2] = "";
	size_t i;
	int err;

	if (k) {
		err = vfs_marker_key(prefix, sizeof(prefix), k);
		if (err)
			return -ENOTDIR; /* too long to have children */
	}
	x->v = v;
	x->plen = strlen(prefix);
	err = vfs_object_path(x->path, sizeof(x->path), c, prefix);
	if (err)
		return err;
	x->dlen = strlen(x->path);
	if (x->plen == 0) {
		x->path[x->dlen++] = '/';
		x->path[x->dlen] = '\0';
	}
	if (x->fill) {
		err = vfs_pending_names(v, c, prefix, &x->pend, &x->npend);
		if (err)
			return err;
	}
	x->gen = vfs_cache_gen(&v->cache);

	if (rd_fill(x, ".", NULL) || rd_fill(x, "..", NULL))
		return 0;
	if (page) {
		err = store_list_page(v->st, c, prefix, '/', page, rd_cb, x);
		x->whole = err == 1;
		err = err > 0 ? 0 : err;
	} else {
		err = store_list(v->st, c, prefix, '/', rd_cb, x);
		x->whole = true;
	}
	if (err || x->full)
		return err;
	/* the directory's path and its '/', the mark's key */
	vfs_cache_mark(&v->cache, rd_path(x, "", 0), x->whole, x->gen);
	for (i = 0; i < x->npend; i++) {
		if (x->pend[i].seen)
			continue;
		x->entries++;
		if (rd_fill(x, x->pend[i].name, &x->pend[i].st))
			break;
	}
	return 0;
}

static int readdir_key(struct vfs *v, const char *c, const char *k,
		       vfs_fill_fn *fill, void *arg)
{
	struct rd_ctx *x;
	struct stat st;
	int err;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->fill = fill;
	x->arg = arg;
	err = list_dir(v, c, k, x, 0);
	if (!err && !x->full && x->entries == 0 && k) {
		/* no marker, nothing below: a file or nothing */
		err = vfs_lookup(v, c, k, &st);
		err = err ? err : -ENOTDIR;
	}
	vfs_pending_names_free(x->pend, x->npend);
	free(x);
	return err;
}

/*
 * Key @k of @c looked up by a listing of its directory, one page: 0 with
 * *@st filled, -ENOENT, 1 if the store must be asked for it (a directory,
 * a name listed without its attributes, or a directory bigger than the
 * page), or a -errno. One request for a name that is not there (a HEAD
 * and a listing under the name otherwise), and the names beside it go
 * into the cache: rsync looks up each file and its temp file twice.
 */
int vfs_lookup_by_listing(struct vfs *v, const char *c, const char *k,
			  struct stat *st)
{
	const char *slash = strrchr(k, '/');
	char parent[STORE_KEY_MAX + 1];
	struct rd_ctx *x;
	int err;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->want = slash ? slash + 1 : k;
	x->want_r = -ENOENT;
	x->want_st = st;
	if (slash) {
		memcpy(parent, k, (size_t)(slash - k));
		parent[slash - k] = '\0';
	}
	err = list_dir(v, c, slash ? parent : NULL, x, VFS_LOOKUP_PAGE);
	if (!err)
		err = x->want_r == -ENOENT && !x->whole ? 1 : x->want_r;
	free(x);
	return err;
}

struct rc_ctx {
	struct vfs *v;
	vfs_fill_fn *fill;
	void *arg;
	uint64_t gen;
};

static int readdir_containers_cb(void *arg, const struct obj_info *oi)
{
	struct rc_ctx *x = arg;
	char path[PATH_MAX];
	struct stat st;

	if (!store_container_is_valid(oi->name) ||
	    strlen(oi->name) > VFS_NAME_MAX)
		return 0;
	vfs_stat_dir(x->v, &st);
	if (!vfs_object_path(path, sizeof(path), oi->name, NULL))
		vfs_cache_put(&x->v->cache, path, &st, x->gen);
	return x->fill(x->arg, oi->name, &st) ? 1 : 0;
}

int vfs_readdir(struct vfs *v, const char *path, vfs_fill_fn *fill, void *arg)
{
	const struct vfs_prov *pr;
	struct rc_ctx rc;
	struct stat st;
	struct vpath vp;
	int err;
	int i;

	err = vfs_path_parse(path, &vp);
	if (err)
		return err;
	switch (vp.kind) {
	case VP_ROOT:
		if (fill(arg, ".", NULL) || fill(arg, "..", NULL))
			return 0;
		for (i = 0; i < VFS_TOP_COUNT; i++) {
			char top[32];

			/* what getattr says (the kernel caches it: its mode) */
			snprintf(top, sizeof(top), "/%s", vfs_top_names[i]);
			if (fill(arg, vfs_top_names[i],
				 vfs_getattr(v, top, &st) ? NULL : &st))
				return 0;
		}
		return 0;
	case VP_BAD_TOP:
		return -ENOENT;
	case VP_TOP:
	case VP_PROV:
		pr = vfs_prov_of(v, &vp);
		if (vp.kind == VP_PROV && (!pr || !pr->ops->readdir))
			return -ENOENT;
		if (fill(arg, ".", NULL) || fill(arg, "..", NULL))
			return 0;
		if (pr && pr->ops->readdir)
			return pr->ops->readdir(pr->p, vp.rel, fill, arg);
		if (vp.top != VFS_TOP_CONTAINERS)
			return 0;
		rc.v = v;
		rc.fill = fill;
		rc.arg = arg;
		rc.gen = vfs_cache_gen(&v->cache);
		return store_list_containers(v->st, readdir_containers_cb, &rc);
	case VP_CONTAINER:
		return readdir_key(v, vp.container, NULL, fill, arg);
	case VP_KEY:
		return readdir_key(v, vp.container, vp.key, fill, arg);
	}
	return -ENOENT;
}
