/*
 * vfs_cache.c - the stat cache: what readdir and getattr learnt from the
 * store, kept for attr_timeout seconds so that the kernel's getattr of
 * each entry after a readdir (ls -l, rsync) does not ask the store again.
 *
 * A chained hash table keyed by path plus a FIFO list of all entries;
 * when full, the oldest entry goes. Entries expire after the TTL and are
 * dropped on every change made through the vfs: a name that may be gone
 * together with its ancestors (an implied directory vanishes with its
 * last object); a name created or changed, or the target of a rename,
 * alone (its directories still hold it), but for ancestors cached as
 * absent.
 *
 * A lookup that found nothing is cached too (st_mode 0), for at most
 * VFS_CACHE_NEG_TTL_NS: rsync looks up each new name several times (the
 * file and its temp file, each twice) and every miss costs the store
 * two requests (a HEAD of the object, a listing under it). Every vfs call
 * that makes a name exist drops it, as it drops a changed one; a name
 * another client creates shows after that TTL.
 *
 * Invariant: an entry is in exactly one bucket chain and in the FIFO.
 * Lock: c->lock protects everything; it is a leaf lock (nothing is called
 * with it held). A generation counter, bumped by every invalidation, keeps
 * a getattr that read the store before a change from caching the stale
 * answer after it.
 */
#include "vfs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vfs_cache_entry {
	struct vfs_cache_entry *hnext; /* bucket chain */
	struct vfs_cache_entry *older; /* FIFO */
	struct vfs_cache_entry *newer;
	uint64_t expires_ns; /* CLOCK_MONOTONIC */
	uint64_t hash;
	struct stat st;
	char path[]; /* NUL-terminated */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* FNV-1a */
static uint64_t path_hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

int vfs_cache_init(struct vfs_cache *c, double ttl, size_t max)
{
	memset(c, 0, sizeof(*c));
	if (ttl <= 0 || max == 0)
		return pthread_mutex_init(&c->lock, NULL) ? -ENOMEM : 0;
	c->buckets = calloc(VFS_CACHE_BUCKETS, sizeof(*c->buckets));
	if (!c->buckets)
		return -ENOMEM;
	if (pthread_mutex_init(&c->lock, NULL)) {
		free(c->buckets);
		c->buckets = NULL;
		return -ENOMEM;
	}
	c->max = max;
	c->ttl_ns = (uint64_t)(ttl * 1e9);
	if (c->ttl_ns == 0)
		c->ttl_ns = 1;
	c->neg_ttl_ns = c->ttl_ns < VFS_CACHE_NEG_TTL_NS ? c->ttl_ns
							 : VFS_CACHE_NEG_TTL_NS;
	return 0;
}

/* Unlinks @e from its chain and the FIFO and frees it; lock held. */
static void entry_remove(struct vfs_cache *c, struct vfs_cache_entry *e)
{
	struct vfs_cache_entry **pp;

	pp = &c->buckets[e->hash & (VFS_CACHE_BUCKETS - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->count--;
	free(e);
}

void vfs_cache_release(struct vfs_cache *c)
{
	struct vfs_cache_entry *e = c->oldest;

	while (e) {
		struct vfs_cache_entry *next = e->newer;

		free(e);
		e = next;
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

uint64_t vfs_cache_gen(struct vfs_cache *c)
{
	uint64_t gen;

	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return gen;
}

/* The entry for @path or NULL; lock held. */
static struct vfs_cache_entry *entry_find(struct vfs_cache *c, const char *path,
					  uint64_t hash)
{
	struct vfs_cache_entry *e;

	e = c->buckets[hash & (VFS_CACHE_BUCKETS - 1)];
	for (; e; e = e->hnext) {
		if (e->hash == hash && strcmp(e->path, path) == 0)
			return e;
	}
	return NULL;
}

static void drop_with_ancestors(struct vfs_cache *c, const char *path);

/*
 * A new entry for @path (not linked yet), or NULL without memory; @st
 * NULL: @path is known absent (st_mode 0, the shorter TTL).
 */
static struct vfs_cache_entry *
entry_new(const struct vfs_cache *c, const char *path, const struct stat *st)
{
	size_t len = strlen(path);
	struct vfs_cache_entry *e = malloc(sizeof(*e) + len + 1);

	if (!e)
		return NULL;
	memcpy(e->path, path, len + 1);
	e->hash = path_hash(path, len);
	if (st)
		e->st = *st;
	else
		memset(&e->st, 0, sizeof(e->st));
	e->expires_ns = now_ns() + (st ? c->ttl_ns : c->neg_ttl_ns);
	return e;
}

/* Links @e in place of any entry for its path, evicting the oldest; lock
 * held. */
static void entry_insert(struct vfs_cache *c, struct vfs_cache_entry *e)
{
	size_t bucket = e->hash & (VFS_CACHE_BUCKETS - 1);
	struct vfs_cache_entry *old;

	old = entry_find(c, e->path, e->hash);
	if (old)
		entry_remove(c, old);
	while (c->count >= c->max && c->oldest)
		entry_remove(c, c->oldest);
	e->hnext = c->buckets[bucket];
	c->buckets[bucket] = e;
	e->newer = NULL;
	e->older = c->newest;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->count++;
}

void vfs_cache_put(struct vfs_cache *c, const char *path, const struct stat *st,
		   uint64_t gen)
{
	struct vfs_cache_entry *e;

	if (!c->buckets)
		return;
	/* allocated outside the lock; a cache miss costs nothing else */
	e = entry_new(c, path, st);
	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	if (gen != c->gen) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		return;
	}
	entry_insert(c, e);
	pthread_mutex_unlock(&c->lock);
}

void vfs_cache_put_absent(struct vfs_cache *c, const char *path, uint64_t gen)
{
	vfs_cache_put(c, path, NULL, gen); /* entry_new(): NULL is absent */
}

void vfs_cache_set(struct vfs_cache *c, const char *path, const struct stat *st,
		   uint64_t gen)
{
	struct vfs_cache_entry *e = c->buckets ? entry_new(c, path, st) : NULL;

	pthread_mutex_lock(&c->lock);
	if (e && gen == c->gen) {
		entry_insert(c, e);
		e = NULL;
	} else if (c->buckets) {
		drop_with_ancestors(c, path);
	}
	/* what other lookups read before the change must not land now */
	c->gen++;
	pthread_mutex_unlock(&c->lock);
	free(e);
}

bool vfs_cache_get(struct vfs_cache *c, const char *path, struct stat *st)
{
	size_t len = strlen(path);
	uint64_t hash = path_hash(path, len);
	struct vfs_cache_entry *e;
	bool hit = false;

	if (!c->buckets)
		return false;
	pthread_mutex_lock(&c->lock);
	e = entry_find(c, path, hash);
	if (e) {
		if (e->expires_ns > now_ns()) {
			*st = e->st;
			hit = true;
		} else {
			entry_remove(c, e);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

/* The entry of the first @len bytes of @path, or NULL; lock held. */
static struct vfs_cache_entry *find_prefix(struct vfs_cache *c,
					   const char *path, size_t len)
{
	char tmp[PATH_MAX];

	if (len >= sizeof(tmp))
		return NULL;
	memcpy(tmp, path, len);
	tmp[len] = '\0';
	return entry_find(c, tmp, path_hash(tmp, len));
}

/* Drops @path (@len bytes of it) if cached; lock held. */
static void drop_one(struct vfs_cache *c, const char *path, size_t len)
{
	struct vfs_cache_entry *e = find_prefix(c, path, len);

	if (e)
		entry_remove(c, e);
}

/*
 * The length in @path of the parent of its first @len bytes; 0 above the
 * topmost directory.
 */
static size_t parent_len(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	return len > 1 ? len - 1 : 0;
}

/* Drops @path and each ancestor of it; lock held. */
static void drop_with_ancestors(struct vfs_cache *c, const char *path)
{
	size_t len;

	for (len = strlen(path); len > 1; len = parent_len(path, len))
		drop_one(c, path, len);
}

/* True if the first @len bytes of @a name an ancestor of @b. */
static bool is_ancestor(const char *a, size_t len, const char *b)
{
	return strncmp(a, b, len) == 0 && b[len] == '/';
}

/*
 * Drops the ancestors of @path cached as absent, and (with @keep) those
 * that are not ancestors of @keep too; lock held.
 */
static void drop_ancestors(struct vfs_cache *c, const char *path,
			   const char *keep)
{
	size_t len = parent_len(path, strlen(path));
	struct vfs_cache_entry *e;

	for (; len > 1; len = parent_len(path, len)) {
		e = find_prefix(c, path, len);
		if (e && (e->st.st_mode == 0 ||
			  (keep && !is_ancestor(path, len, keep))))
			entry_remove(c, e);
	}
}

void vfs_cache_drop_added(struct vfs_cache *c, const char *path)
{
	pthread_mutex_lock(&c->lock);
	c->gen++;
	if (c->buckets) {
		drop_one(c, path, strlen(path));
		drop_ancestors(c, path, NULL);
	}
	pthread_mutex_unlock(&c->lock);
}

void vfs_cache_drop_moved(struct vfs_cache *c, const char *from, const char *to)
{
	pthread_mutex_lock(&c->lock);
	c->gen++;
	if (c->buckets) {
		drop_one(c, from, strlen(from));
		drop_ancestors(c, from, to);
		drop_one(c, to, strlen(to));
		drop_ancestors(c, to, NULL);
	}
	pthread_mutex_unlock(&c->lock);
}

void vfs_cache_drop(struct vfs_cache *c, const char *path)
{
	pthread_mutex_lock(&c->lock);
	c->gen++;
	if (c->buckets)
		drop_with_ancestors(c, path);
	pthread_mutex_unlock(&c->lock);
}

void vfs_cache_drop_tree(struct vfs_cache *c, const char *path)
{
	size_t len = strlen(path);
	struct vfs_cache_entry *e;

	pthread_mutex_lock(&c->lock);
	c->gen++;
	if (!c->buckets)
		goto out_unlock;
	drop_with_ancestors(c, path);
	/* rare (directory rename/rmdir): a scan of the FIFO is fine */
	e = c->oldest;
	while (e) {
		struct vfs_cache_entry *next = e->newer;

		if (strncmp(e->path, path, len) == 0 && e->path[len] == '/')
			entry_remove(c, e);
		e = next;
	}
out_unlock:
	pthread_mutex_unlock(&c->lock);
}
