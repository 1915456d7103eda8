/*
 * vfs_dirsnap.c - a directory listing served by position while it is
 * still being taken, for a front end whose readdir resumes at an offset
 * (FUSE).
 *
 * Why by position: libfuse 3.14's high-level readdir, when the filesystem
 * gives every entry at offset 0, buffers them itself and sends READDIRPLUS
 * entries with inode 0, which tells the kernel to ignore their attributes:
 * the kernel then sends one LOOKUP per name, so `ls -l` of 100,000
 * objects costs 100,000 round trips although the listing carried every
 * stat. Entries given with their position as offset go out with the node
 * id and attributes, and the kernel caches them.
 *
 * Why a thread: a big listing is many store pages (Swift: 10,000 names
 * each, a quarter second apiece on a small server). A listing thread
 * appends entries as the store returns them and the first request is
 * answered as soon as there are entries, so the kernel and the
 * application consume page N while the store produces page N+1.
 *
 * Names live in one arena (NUL-separated), entries point into it by
 * offset, so a listing of N names is 2 allocations that grow, not N.
 *
 * Locks: d->lock guards everything below it in the struct; the listing
 * thread takes it per entry, a reader holds it while it copies entries
 * out (so the arena cannot move under it). Nothing else is called with
 * it held except the reader's copy callback. libfuse serializes the
 * requests on one directory handle, so there is one reader at a time.
 */
#include "vfs_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/buf.h"
#include "../conf/log.h"

/* A listing's names: generous, a listing of 1 M names of 255 bytes. */
#define DIRSNAP_NAMES_MAX ((size_t)256 << 20)
/* Entries between wake-ups of a waiting reader. */
#define DIRSNAP_WAKE_EVERY 256
/* vfs_readdir() gives "." and ".." first, then the directory's own. */
#define DIRSNAP_DOTS 2

struct dirsnap_entry {
	size_t name_off; /* into names */
	bool has_st;
	struct stat st;
};

struct vfs_dirsnap {
	pthread_mutex_t lock;
	pthread_cond_t grew; /* entries appended, or the listing ended */
	struct vfs *v;	     /* borrowed */
	char *path;	     /* owned: what is listed */
	pthread_t thread;
	bool joinable; /* thread must be joined */
	bool started;  /* a listing was started */
	bool served;   /* an entry of it was given out */
	bool done;     /* the listing ended; err says how */
	bool stop;     /* the owner wants the listing to end */
	int err;
	struct buf names; /* NUL-separated */
	struct dirsnap_entry *e;
	size_t n;
	size_t cap;
};

int vfs_dirsnap_new(struct vfs *v, struct vfs_dirsnap **out)
{
	struct vfs_dirsnap *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	if (pthread_mutex_init(&d->lock, NULL)) {
		free(d);
		return -ENOMEM;
	}
	if (pthread_cond_init(&d->grew, NULL)) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		return -ENOMEM;
	}
	d->v = v;
	buf_init(&d->names, DIRSNAP_NAMES_MAX);
	*out = d;
	return 0;
}

/* Ends a running listing and waits for its thread. */
static void dirsnap_stop(struct vfs_dirsnap *d)
{
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_mutex_unlock(&d->lock);
	if (d->joinable) {
		pthread_join(d->thread, NULL);
		d->joinable = false;
	}
}

void vfs_dirsnap_free(struct vfs_dirsnap *d)
{
	if (!d)
		return;
	dirsnap_stop(d);
	pthread_cond_destroy(&d->grew);
	pthread_mutex_destroy(&d->lock);
	buf_release(&d->names);
	free(d->e);
	free(d->path);
	free(d);
}

/* vfs_fill_fn of the listing: appends under the lock. */
static int dirsnap_add(void *arg, const char *name, const struct stat *st)
{
	struct vfs_dirsnap *d = arg;
	struct dirsnap_entry *x;
	int ret = 1;

	pthread_mutex_lock(&d->lock);
	if (d->stop)
		goto out_unlock;
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;

		x = reallocarray(d->e, cap, sizeof(*x));
		if (!x) {
			d->err = -ENOMEM;
			goto out_unlock;
		}
		d->e = x;
		d->cap = cap;
	}
	x = &d->e[d->n];
	x->name_off = d->names.len;
	if (buf_append(&d->names, name, strlen(name) + 1)) {
		d->err = d->names.err;
		goto out_unlock;
	}
	x->has_st = st != NULL;
	if (st)
		x->st = *st;
	d->n++;
	if (d->n % DIRSNAP_WAKE_EVERY == 0)
		pthread_cond_broadcast(&d->grew);
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* Takes the listing; marks it done with its result. */
static void dirsnap_list(struct vfs_dirsnap *d)
{
	int err = vfs_readdir(d->v, d->path, dirsnap_add, d);

	pthread_mutex_lock(&d->lock);
	if (!err)
		err = d->err;
	if (err && !d->stop)
		log_debug("listing of '%s' stopped: %s", d->path,
			  strerror(-err));
	d->err = err;
	d->done = true;
	pthread_cond_broadcast(&d->grew);
	pthread_mutex_unlock(&d->lock);
}

static void *dirsnap_thread(void *arg)
{
	dirsnap_list(arg);
	return NULL;
}

int vfs_dirsnap_start(struct vfs_dirsnap *d, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	dirsnap_stop(d);
	free(d->path);
	d->path = p;
	buf_reset(&d->names);
	d->n = 0;
	d->err = 0;
	d->done = false;
	d->stop = false;
	d->started = true;
	d->served = false;
	/* without a thread the listing is taken here and now */
	if (pthread_create(&d->thread, NULL, dirsnap_thread, d) == 0)
		d->joinable = true;
	else
		dirsnap_list(d);
	return 0;
}

bool vfs_dirsnap_started(const struct vfs_dirsnap *d)
{
	return d->started;
}

bool vfs_dirsnap_served(const struct vfs_dirsnap *d)
{
	return d->served;
}

int vfs_dirsnap_verdict(struct vfs_dirsnap *d)
{
	int err;

	pthread_mutex_lock(&d->lock);
	while (d->n <= DIRSNAP_DOTS && !d->done)
		pthread_cond_wait(&d->grew, &d->lock);
	err = d->n <= DIRSNAP_DOTS ? d->err : 0;
	pthread_mutex_unlock(&d->lock);
	return err;
}

int vfs_dirsnap_serve(struct vfs_dirsnap *d, size_t from, vfs_dirsnap_fn *fn,
		      void *arg)
{
	int err = 0;
	size_t i;

	pthread_mutex_lock(&d->lock);
	while (d->n <= from && !d->done)
		pthread_cond_wait(&d->grew, &d->lock);
	if (d->n <= from) {
		err = d->err; /* the end, or why the listing stopped */
		goto out_unlock;
	}
	for (i = from; i < d->n; i++) {
		const struct dirsnap_entry *x = &d->e[i];

		d->served = true;
		if (fn(arg, d->names.data + x->name_off,
		       x->has_st ? &x->st : NULL, i + 1))
			break;
	}
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return err;
}
