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
 * A listing also leaves a mark for its directory (an entry keyed by the
 * directory's path and a '/', which no name has): "complete" when it held
 * the whole directory, so that for the negative TTL every name there that
 * is not cached is absent without a request (rsync's lookups of new names
 * and of its temp files; the store lists by page, vfs.c), or "too big"
 * to be listed for a lookup. A complete mark holds only while every name
 * that exists there is cached as present (with its stat, or as "listed"
 * when only its existence is known), so whatever removes a present entry,
 * or may make a name exist that is not cached, drops the parent's mark:
 * eviction, expiry, vfs_cache_drop*(). A name the vfs creates or moves in
 * is cached as listed instead, which keeps the mark; a name moved away is
 * gone, which keeps it too.
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

#include "../conf/hash.h"

enum entry_kind {
	ENTRY_STAT,	/* st; st_mode 0: absent */
	ENTRY_LISTED,	/* exists, attributes not known */
	ENTRY_COMPLETE, /* mark "DIR/": every name of DIR is cached */
	ENTRY_TOO_BIG,	/* mark "DIR/": too big to list for a lookup */
};

struct vfs_cache_entry {
	struct vfs_cache_entry *hnext; /* bucket chain */
	struct vfs_cache_entry *older; /* FIFO */
	struct vfs_cache_entry *newer;
	uint64_t expires_ns; /* CLOCK_MONOTONIC */
	uint64_t hash;
	enum entry_kind kind;
	struct stat st;
	char path[]; /* NUL-terminated */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
 * A new entry of @kind for @path (not linked yet) that lives @ttl_ns, or
 * NULL without memory; @st NULL: @path is absent or not a stat.
 */
static struct vfs_cache_entry *entry_new(const char *path, enum entry_kind kind,
					 const struct stat *st, uint64_t ttl_ns)
{
	size_t len = strlen(path);
	struct vfs_cache_entry *e = malloc(sizeof(*e) + len + 1);

	if (!e)
		return NULL;
	memcpy(e->path, path, len + 1);
	e->hash = fnv1a(path, len);
	e->kind = kind;
	if (st)
		e->st = *st;
	else
		memset(&e->st, 0, sizeof(e->st));
	e->expires_ns = now_ns() + ttl_ns;
	return e;
}

/* A stat entry for @path, @st NULL: absent (the shorter TTL). */
static struct vfs_cache_entry *stat_entry_new(const struct vfs_cache *c,
					      const char *path,
					      const struct stat *st)
{
	return entry_new(path, ENTRY_STAT, st, st ? c->ttl_ns : c->neg_ttl_ns);
}

static bool entry_present(const struct vfs_cache_entry *e)
{
	return e->kind == ENTRY_LISTED ||
	       (e->kind == ENTRY_STAT && e->st.st_mode != 0);
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

/* The entry of the first @len bytes of @path, or NULL; lock held. */
static struct vfs_cache_entry *find_prefix(struct vfs_cache *c,
					   const char *path, size_t len)
{
	char tmp[PATH_MAX];

	if (len >= sizeof(tmp))
		return NULL;
	memcpy(tmp, path, len);
	tmp[len] = '\0';
	return entry_find(c, tmp, fnv1a(tmp, len));
}

/*
 * The mark of the directory holding the first @len bytes of @path (its
 * key is the path up to and including the '/' before the name), or NULL;
 * lock held.
 */
static struct vfs_cache_entry *parent_mark(struct vfs_cache *c,
					   const char *path, size_t len)
{
	size_t plen = parent_len(path, len);

	return plen ? find_prefix(c, path, plen + 1) : NULL;
}

/* Drops the mark of the parent of the first @len bytes of @path. */
static void unmark_parent(struct vfs_cache *c, const char *path, size_t len)
{
	struct vfs_cache_entry *m = parent_mark(c, path, len);

	if (m)
		entry_remove(c, m);
}

/* Removes @e, and its parent's mark if @e was present; lock held. */
static void entry_evict(struct vfs_cache *c, struct vfs_cache_entry *e)
{
	if (entry_present(e))
		unmark_parent(c, e->path, strlen(e->path));
	entry_remove(c, e);
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
		entry_evict(c, c->oldest);
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

/*
 * Links @e (allocated outside the lock: a cache miss costs nothing else)
 * unless an invalidation happened since @gen, or with @keep_present, its
 * path is cached as present; frees it otherwise. @e NULL: nothing.
 */
static void insert_unless_changed(struct vfs_cache *c,
				  struct vfs_cache_entry *e, uint64_t gen,
				  bool keep_present)
{
	struct vfs_cache_entry *old;

	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	old = keep_present ? entry_find(c, e->path, e->hash) : NULL;
	if (gen != c->gen || (old && entry_present(old))) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		return;
	}
	entry_insert(c, e);
	pthread_mutex_unlock(&c->lock);
}

void vfs_cache_put(struct vfs_cache *c, const char *path, const struct stat *st,
		   uint64_t gen)
{
	if (c->buckets)
		insert_unless_changed(c, stat_entry_new(c, path, st), gen,
				      false);
}

void vfs_cache_put_absent(struct vfs_cache *c, const char *path, uint64_t gen)
{
	vfs_cache_put(c, path, NULL, gen); /* entry_new(): NULL is absent */
}

void vfs_cache_set(struct vfs_cache *c, const char *path, const struct stat *st,
		   uint64_t gen)
{
	struct vfs_cache_entry *e =
		c->buckets ? stat_entry_new(c, path, st) : NULL;

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

/* @e if still fresh, else NULL (and @e evicted); lock held. */
static struct vfs_cache_entry *fresh(struct vfs_cache *c,
				     struct vfs_cache_entry *e)
{
	if (e && e->expires_ns <= now_ns()) {
		entry_evict(c, e);
		return NULL;
	}
	return e;
}

enum vfs_cached vfs_cache_lookup(struct vfs_cache *c, const char *path,
				 struct stat *st)
{
	size_t len = strlen(path);
	struct vfs_cache_entry *e;
	enum vfs_cached r = VFS_CACHED_NONE;

	if (!c->buckets)
		return r;
	pthread_mutex_lock(&c->lock);
	e = fresh(c, entry_find(c, path, fnv1a(path, len)));
	if (e && e->kind == ENTRY_STAT) {
		*st = e->st;
		r = st->st_mode ? VFS_CACHED_STAT : VFS_CACHED_ABSENT;
	} else if (e) {
		*st = e->st; /* st_mode S_IFDIR: a subdirectory, no object */
		r = VFS_CACHED_LISTED;
	} else {
		e = fresh(c, parent_mark(c, path, len));
		if (e && e->kind == ENTRY_COMPLETE) {
			memset(st, 0, sizeof(*st));
			r = VFS_CACHED_UNLISTED;
		} else if (e) {
			r = VFS_CACHED_UNLISTABLE;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

bool vfs_cache_get(struct vfs_cache *c, const char *path, struct stat *st)
{
	enum vfs_cached r = vfs_cache_lookup(c, path, st);

	return r == VFS_CACHED_STAT || r == VFS_CACHED_ABSENT ||
	       r == VFS_CACHED_UNLISTED;
}

/*
 * A "listed" entry for @path; with @dir, a subdirectory and no object,
 * which holds as long as "not there" does (an object of that name stored
 * later wins). NULL without memory or without a cache.
 */
static struct vfs_cache_entry *listed_entry_new(const struct vfs_cache *c,
						const char *path, bool dir)
{
	struct stat st;

	if (!c->buckets)
		return NULL;
	memset(&st, 0, sizeof(st));
	st.st_mode = dir ? S_IFDIR : 0;
	return entry_new(path, ENTRY_LISTED, &st,
			 dir ? c->neg_ttl_ns : c->ttl_ns);
}

void vfs_cache_put_listed(struct vfs_cache *c, const char *path, bool dir,
			  uint64_t gen)
{
	/* a stat cached says as much, and more */
	insert_unless_changed(c, listed_entry_new(c, path, dir), gen, true);
}

void vfs_cache_mark(struct vfs_cache *c, const char *dir_slash, bool whole,
		    uint64_t gen)
{
	if (c->buckets)
		insert_unless_changed(
			c,
			entry_new(dir_slash,
				  whole ? ENTRY_COMPLETE : ENTRY_TOO_BIG, NULL,
				  whole ? c->neg_ttl_ns : c->ttl_ns),
			gen, false);
}

/* Removes what is cached of the first @len bytes of @path; lock held. */
static void forget_one(struct vfs_cache *c, const char *path, size_t len)
{
	struct vfs_cache_entry *e = find_prefix(c, path, len);

	if (e)
		entry_remove(c, e);
}

/*
 * forget_one(), and the mark of the parent: the name may exist without
 * being cached now; lock held.
 */
static void drop_one(struct vfs_cache *c, const char *path, size_t len)
{
	forget_one(c, path, len);
	unmark_parent(c, path, len);
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
 * Drops the ancestors of @path not cached as present (they exist now),
 * and (with @keep) those that are not ancestors of @keep too (an implied
 * directory may have gone); lock held.
 */
static void drop_ancestors(struct vfs_cache *c, const char *path,
			   const char *keep)
{
	size_t len = parent_len(path, strlen(path));
	struct vfs_cache_entry *e;

	for (; len > 1; len = parent_len(path, len)) {
		e = find_prefix(c, path, len);
		if (!e || !entry_present(e) ||
		    (keep && !is_ancestor(path, len, keep)))
			drop_one(c, path, len);
	}
}

/*
 * @path exists now: cached as listed (@e, allocated by the caller; NULL
 * without memory: dropped), its ancestors as drop_ancestors(); lock held.
 */
static void added(struct vfs_cache *c, const char *path,
		  struct vfs_cache_entry *e)
{
	if (e)
		entry_insert(c, e);
	else
		drop_one(c, path, strlen(path));
	drop_ancestors(c, path, NULL);
}

void vfs_cache_drop_added(struct vfs_cache *c, const char *path)
{
	struct vfs_cache_entry *e = listed_entry_new(c, path, false);

	pthread_mutex_lock(&c->lock);
	c->gen++;
	if (c->buckets)
		added(c, path, e);
	pthread_mutex_unlock(&c->lock);
}

void vfs_cache_drop_moved(struct vfs_cache *c, const char *from, const char *to)
{
	struct vfs_cache_entry *e = listed_entry_new(c, to, false);

	pthread_mutex_lock(&c->lock);
	c->gen++;
	if (c->buckets) {
		/* @from is gone: its directory's mark still holds */
		forget_one(c, from, strlen(from));
		drop_ancestors(c, from, to);
		added(c, to, e);
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
