/*
 * vfs_dirsnap.c - a directory listing taken once and then served by
 * position, for a front end whose readdir resumes at an offset (FUSE).
 *
 * Why: libfuse 3.14's high-level readdir, when the filesystem gives every
 * entry at offset 0, buffers them itself and sends READDIRPLUS entries
 * with inode 0, which tells the kernel to ignore their attributes: the
 * kernel then sends one LOOKUP per name, so `ls -l` of 100,000 objects
 * costs 100,000 round trips although the listing carried every stat.
 * Entries given with their position as offset go out with the node id
 * and attributes, so the kernel caches them. This keeps the listing
 * between the kernel's requests.
 *
 * Names live in one arena (NUL-separated), entries point into it by
 * offset, so a listing of N names is 2 allocations that grow, not N.
 *
 * Locks: none; a snapshot belongs to one open directory, and libfuse
 * serializes the requests on one directory handle.
 */
#include "vfs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/buf.h"

/* A listing's names: generous, a listing of 1 M names of 255 bytes. */
#define DIRSNAP_NAMES_MAX ((size_t)256 << 20)

struct dirsnap_entry {
	size_t name_off; /* into names */
	bool has_st;
	struct stat st;
};

struct vfs_dirsnap {
	struct buf names; /* NUL-separated */
	struct dirsnap_entry *e;
	size_t n;
	size_t cap;
	bool filled; /* a listing was taken */
	int err;     /* of the listing being taken */
};

int vfs_dirsnap_new(struct vfs_dirsnap **out)
{
	struct vfs_dirsnap *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	buf_init(&d->names, DIRSNAP_NAMES_MAX);
	*out = d;
	return 0;
}

void vfs_dirsnap_free(struct vfs_dirsnap *d)
{
	if (!d)
		return;
	buf_release(&d->names);
	free(d->e);
	free(d);
}

static int dirsnap_add(void *arg, const char *name, const struct stat *st)
{
	struct vfs_dirsnap *d = arg;
	struct dirsnap_entry *x;

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;

		x = reallocarray(d->e, cap, sizeof(*x));
		if (!x) {
			d->err = -ENOMEM;
			return 1;
		}
		d->e = x;
		d->cap = cap;
	}
	x = &d->e[d->n];
	x->name_off = d->names.len;
	if (buf_append(&d->names, name, strlen(name) + 1)) {
		d->err = d->names.err;
		return 1;
	}
	x->has_st = st != NULL;
	if (st)
		x->st = *st;
	d->n++;
	return 0;
}

int vfs_dirsnap_fill(struct vfs *v, const char *path, struct vfs_dirsnap *d)
{
	int err;

	buf_reset(&d->names);
	d->n = 0;
	d->err = 0;
	d->filled = false;
	err = vfs_readdir(v, path, dirsnap_add, d);
	if (!err)
		err = d->err;
	if (err) {
		d->n = 0;
		return err;
	}
	d->filled = true;
	return 0;
}

bool vfs_dirsnap_filled(const struct vfs_dirsnap *d)
{
	return d->filled;
}

size_t vfs_dirsnap_count(const struct vfs_dirsnap *d)
{
	return d->n;
}

const char *vfs_dirsnap_entry(const struct vfs_dirsnap *d, size_t i,
			      const struct stat **st)
{
	const struct dirsnap_entry *x = &d->e[i];

	*st = x->has_st ? &x->st : NULL;
	return d->names.data + x->name_off;
}
