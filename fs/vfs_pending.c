/*
 * vfs_pending.c - the table of files open for writing: what makes a file
 * not yet stored visible to getattr and readdir under its name, and what
 * renames, unlinks and setattrs of such a file change in it (split from
 * vfs_files.c, which opens, writes and commits them).
 *
 * Locks: v->files_lock protects the table and the fields of struct
 * vfs_handle marked "under files_lock" (see vfs_i.h).
 */
#include "vfs.h"
#include "vfs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table of files open for writing ---- */

/* A file being written, visible under its name; files_lock held. */
static bool is_pending(const struct vfs_handle *h)
{
	return h->kind == VFS_H_FILE && h->ws == VFS_W_PENDING && !h->doomed;
}

bool vfs_pending_is(const struct vfs_handle *h, const char *c, const char *k)
{
	return is_pending(h) && strcmp(h->container, c) == 0 &&
	       strcmp(h->key, k) == 0;
}

/* The stat of a pending file; files_lock held. */
static void pending_fill(const struct vfs_handle *h, struct stat *st)
{
	vfs_stat_fill(h->v, st, S_IFREG | h->mode, h->written, &h->mtime);
	vfs_stat_owner(st, h->uid, h->gid);
}

bool vfs_pending_stat(struct vfs *v, const char *c, const char *k,
		      struct stat *st)
{
	struct vfs_handle *h;
	bool found = false;

	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h; h = h->next) {
		if (vfs_pending_is(h, c, k)) {
			pending_fill(h, st);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&v->files_lock);
	return found;
}

/* The name of @h's file relative to @prefix if it sits right there. */
static const char *name_in(const struct vfs_handle *h, const char *c,
			   const char *prefix, size_t plen)
{
	const char *name;

	if (!is_pending(h) || strcmp(h->container, c) != 0 ||
	    strncmp(h->key, prefix, plen) != 0)
		return NULL;
	name = h->key + plen;
	if (*name == '\0' || strchr(name, '/') || strlen(name) > VFS_NAME_MAX)
		return NULL;
	return name;
}

int vfs_pending_names(struct vfs *v, const char *c, const char *prefix,
		      struct vfs_pending_name **out, size_t *n)
{
	size_t plen = strlen(prefix);
	struct vfs_pending_name *names = NULL;
	struct vfs_handle *h;
	size_t count = 0;
	size_t i;
	int err = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h; h = h->next) {
		if (name_in(h, c, prefix, plen))
			count++;
	}
	if (count == 0)
		goto out_unlock;
	names = calloc(count, sizeof(*names));
	if (!names) {
		err = -ENOMEM;
		goto out_unlock;
	}
	count = 0;
	for (h = v->handles; h; h = h->next) {
		const char *name = name_in(h, c, prefix, plen);

		if (!name)
			continue;
		for (i = 0; i < count; i++) {
			if (strcmp(names[i].name, name) == 0)
				break;
		}
		if (i < count)
			continue; /* opened twice: list it once */
		names[count].name = strdup(name);
		if (!names[count].name) {
			err = -ENOMEM;
			break;
		}
		pending_fill(h, &names[count].st);
		count++;
	}
out_unlock:
	pthread_mutex_unlock(&v->files_lock);
	if (err) {
		vfs_pending_names_free(names, count);
		return err;
	}
	*out = names;
	*n = count;
	return 0;
}

void vfs_pending_names_free(struct vfs_pending_name *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i].name);
	free(names);
}

bool vfs_pending_under(struct vfs *v, const char *c, const char *prefix)
{
	size_t plen = strlen(prefix);
	struct vfs_handle *h;
	bool found = false;

	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h && !found; h = h->next) {
		found = is_pending(h) && strcmp(h->container, c) == 0 &&
			strncmp(h->key, prefix, plen) == 0;
	}
	pthread_mutex_unlock(&v->files_lock);
	return found;
}

unsigned vfs_pending_doom(struct vfs *v, const char *c, const char *k)
{
	struct vfs_handle *h;
	unsigned n = 0;

	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h; h = h->next) {
		if (vfs_pending_is(h, c, k)) {
			h->doomed = true;
			n++;
		}
	}
	pthread_mutex_unlock(&v->files_lock);
	return n;
}

int vfs_handle_rename(struct vfs_handle *h, const char *dc, const char *dk)
{
	char *nc = strdup(dc);
	char *nk = strdup(dk);

	if (!nc || !nk) {
		free(nc);
		free(nk);
		return -ENOMEM;
	}
	free(h->container);
	free(h->key);
	h->container = nc;
	h->key = nk;
	return 0;
}

int vfs_pending_retarget(struct vfs *v, const char *sc, const char *sk,
			 const char *dc, const char *dk, bool *replaces)
{
	struct vfs_handle *h;
	int n = 0;
	int err;

	*replaces = false;
	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h; h = h->next) {
		if (!vfs_pending_is(h, sc, sk))
			continue;
		err = vfs_handle_rename(h, dc, dk);
		if (err) {
			n = err;
			break;
		}
		/*
		 * An older object under the old name must go, unless a
		 * writer is already open there: its commit replaces that
		 * object and settle() moves it (deleting then could race
		 * with the commit).
		 */
		if (h->replaces && !h->wkey)
			*replaces = true;
		/* the target name may hold an object too, now or later */
		h->replaces = true;
		n++;
	}
	pthread_mutex_unlock(&v->files_lock);
	return n;
}

int vfs_pending_retarget_prefix(struct vfs *v, const char *sc,
				const char *sprefix, const char *dc,
				const char *dprefix)
{
	char key[STORE_KEY_MAX + 2];
	size_t slen = strlen(sprefix);
	struct vfs_handle *h;
	int err = 0;
	int n;

	pthread_mutex_lock(&v->files_lock);
	for (h = v->handles; h && !err; h = h->next) {
		if (!is_pending(h) || strcmp(h->container, sc) != 0 ||
		    strncmp(h->key, sprefix, slen) != 0)
			continue;
		n = snprintf(key, sizeof(key), "%s%s", dprefix, h->key + slen);
		if (n < 0 || (size_t)n > STORE_KEY_MAX)
			err = -ENAMETOOLONG;
		else
			err = vfs_handle_rename(h, dc, key);
	}
	pthread_mutex_unlock(&v->files_lock);
	return err;
}

/* Records what @a changes for the commit of pending @h; files_lock held. */
static void pending_set(struct vfs_handle *h, const struct vfs_attrs *a)
{
	if (a->has_mode)
		h->mode = a->mode & 07777;
	if (a->has_mtime) {
		h->mtime = a->mtime;
		h->mtime_set = true;
	}
	if (a->uid != (uid_t)-1)
		h->uid = a->uid;
	if (a->gid != (gid_t)-1)
		h->gid = a->gid;
	h->attr_gen++;
}

/* What the commit of @h stores; files_lock held. */
struct vfs_attrs vfs_pending_attrs(const struct vfs_handle *h)
{
	struct vfs_attrs a = {
		.has_mode = true,
		.has_mtime = h->mtime_set,
		.mode = h->mode,
		.mtime = h->mtime,
		.uid = h->uid,
		.gid = h->gid,
	};

	return a;
}

bool vfs_pending_setattr(struct vfs *v, struct vfs_handle *h, const char *c,
			 const char *k, const struct vfs_attrs *a)
{
	struct vfs_handle *p;
	bool found = false;

	pthread_mutex_lock(&v->files_lock);
	if (h && h->kind == VFS_H_FILE && h->ws == VFS_W_PENDING) {
		pending_set(h, a);
		found = true;
	} else {
		for (p = v->handles; p; p = p->next) {
			if (vfs_pending_is(p, c, k)) {
				pending_set(p, a);
				found = true;
			}
		}
	}
	pthread_mutex_unlock(&v->files_lock);
	return found;
}
