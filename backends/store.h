/*
 * store.h - the one storage interface of trovefs, and its stacking.
 *
 * A store is an object store in Swift's model: named containers holding
 * objects addressed by keys ("db/2024/dump.rdb"; '/' has no meaning to the
 * store except in listings with a delimiter), each object an immutable byte
 * string plus user metadata (struct meta). Objects are written whole
 * through a writer and become visible only when the writer commits.
 *
 * Implementations are stacked as decorators, each owning the next layer
 * down (->inner):
 *
 *     codec (encode/decode, backends/codec_store.c)
 *       -> local (backends/local_store.c) | mem (backends/mem_store.c)
 *          | swift (issue 3, with a retry layer)
 *
 * Only backends/stack.c knows the order. A decorator implements every op;
 * the ones it does not change call the inner store.
 *
 * Keys: a non-empty UTF-8 string of at most STORE_KEY_MAX bytes, no NUL.
 * A key ending in '/' is a pseudo-directory marker ("a/b/"), created by
 * mkdir: a zero-length object in Swift, a real directory in the local
 * store. Container names: 1..STORE_CONTAINER_MAX bytes, no '/'.
 *
 * Errors: every int op returns 0 or a negative errno. The ones every op may
 * return besides those listed: -ENOMEM, -EIO (storage failed; logged where
 * it happened), -EINVAL (bad name).
 *
 * Threading: every op of a store may be called from many threads at once.
 * A reader or writer is used by one thread at a time.
 */
#ifndef BACKENDS_STORE_H
#define BACKENDS_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "meta.h"

#define STORE_KEY_MAX 1024
#define STORE_CONTAINER_MAX 256

struct store;
struct store_reader;
struct store_writer;

/* One entry of a listing, or the result of head(). */
struct obj_info {
	char *name;	       /* owned: key (list, head) or container name */
	bool is_subdir;	       /* list with a delimiter: a common prefix
				 * ("a/b/"); no other field is set */
	uint64_t size;	       /* bytes as seen through this layer (plain
				 * size above the codec) */
	struct timespec mtime; /* the store's last-modified time */
	struct meta meta;      /* user metadata */
	bool meta_partial;     /* set by a list when @meta may lack keys that
				 * a head() would return (Swift listings) */
	uint64_t count;	       /* containers only: object count, if known */
};

void obj_info_init(struct obj_info *oi);
void obj_info_release(struct obj_info *oi);

/*
 * Listing callback: called once per entry in ascending byte order of name.
 * @oi is borrowed for the duration of the call (copy what you keep).
 * Return 0 to go on, a positive value to stop the listing early (the list
 * op then returns 0), or a -errno to abort it (returned by the list op).
 */
typedef int store_list_fn(void *arg, const struct obj_info *oi);

struct store_statfs {
	uint64_t bytes_total; /* 0 when unknown (no quota) */
	uint64_t bytes_free;
	uint64_t bytes_used;
	uint64_t objects;
};

/* Options of a writer. */
struct store_wopts {
	const char *format; /* codec: "tfs1", "trove-sha256" or NULL for
				 * the layer's default; leaves ignore it */
	bool fresh;	    /* the name held nothing when the caller looked: a
		     * leaf need not look for an object (and its segments)
		     * that the commit replaces */
};

struct store_ops {
	const char *name; /* "local", "mem", "codec", ... */

	/*
	 * Lists containers (obj_info.name, .count, .size = bytes used).
	 */
	int (*list_containers)(struct store *st, store_list_fn *fn, void *arg);

	/* Creates a container: 0, -EEXIST. */
	int (*create_container)(struct store *st, const char *container);

	/* Deletes an empty container: 0, -ENOENT, -ENOTEMPTY. */
	int (*delete_container)(struct store *st, const char *container);

	/*
	 * Lists the objects of @container whose key starts with @prefix ("" for
	 * all). With @delim ('/' or 0 for none), keys that have @delim after
	 * the prefix are rolled up into one is_subdir entry each (their prefix
	 * up to and including @delim). A marker "prefix/" itself is listed as
	 * an object. Returns 0, -ENOENT (no such container), or the callback's
	 * -errno.
	 */
	int (*list)(struct store *st, const char *container, const char *prefix,
		    char delim, store_list_fn *fn, void *arg);

	/*
	 * Optional: list() for a caller that stops after the first entry or
	 * two (is anything under a prefix, is its marker first): a store
	 * that pages asks for a small first page. NULL: list() serves.
	 */
	int (*list_first)(struct store *st, const char *container,
			  const char *prefix, char delim, store_list_fn *fn,
			  void *arg);

	/*
	 * Optional, for a store that pays a round trip per request (Swift):
	 * one request of list(), the first @max entries at most. Returns 1
	 * if they were all there is, 0 if there may be more, or list()'s
	 * -errno. Offering it asks the vfs to answer lookups from listings
	 * of the parent directory (a store without it answers a head()
	 * as cheaply as a listing).
	 */
	int (*list_page)(struct store *st, const char *container,
			 const char *prefix, char delim, unsigned max,
			 store_list_fn *fn, void *arg);

	/*
	 * Size, mtime and metadata of one object. On success @oi is filled
	 * (caller releases with obj_info_release()); on failure untouched.
	 * Returns 0, -ENOENT.
	 */
	int (*head)(struct store *st, const char *container, const char *key,
		    struct obj_info *oi);

	/*
	 * Opens an object for reading. On success the caller owns *@out and
	 * closes it with store_reader_close(), and if @oi is not NULL it holds
	 * what head() gives for the very version the reader reads (caller
	 * releases; on failure untouched): a layer takes the object's metadata
	 * from here, never from a head() of its own, which could see a newer
	 * version than the reader. A reader stays on the version it opened:
	 * if the store cannot read that one any more (Swift: the object was
	 * replaced or deleted), reads fail with -ESTALE, never give bytes of
	 * another version. Returns 0, -ENOENT, and above the codec -EIO
	 * (wrong key) or -EBADMSG (corrupt or truncated), after one log line
	 * naming the object.
	 */
	int (*reader_open)(struct store *st, const char *container,
			   const char *key, struct obj_info *oi,
			   struct store_reader **out);

	/*
	 * Starts writing an object. Nothing is visible under @key until
	 * store_writer_commit() succeeds; then it replaces any object of that
	 * name atomically. On success the caller owns *@out and must end it
	 * with exactly one of commit or abort. Returns 0, -ENOENT (no
	 * container).
	 */
	int (*writer_open)(struct store *st, const char *container,
			   const char *key, const struct store_wopts *opts,
			   struct store_writer **out);

	/* Deletes an object (a marker "a/" too): 0, -ENOENT. */
	int (*del)(struct store *st, const char *container, const char *key);

	/*
	 * Renames an object, replacing @dst_key if it exists; metadata moves
	 * with it. Returns 0, -ENOENT, -EXDEV if the store cannot (caller
	 * then copies). Optional: NULL means -EXDEV.
	 */
	int (*rename)(struct store *st, const char *src_container,
		      const char *src_key, const char *dst_container,
		      const char *dst_key);

	/*
	 * Optional: rename() when @dst_key held nothing when the caller
	 * looked: a store need not look for an object (and its segments)
	 * that the rename replaces. NULL: rename() serves.
	 */
	int (*rename_new)(struct store *st, const char *src_container,
			  const char *src_key, const char *dst_container,
			  const char *dst_key);

	/*
	 * Makes directory marker @key ("a/b/") with metadata @m (NULL: none)
	 * unless something is there: 0, -EEXIST. Atomic against the store's
	 * other clients as far as the store can be (Swift checks as each
	 * request arrives: two at once may both pass; ds.c looks again).
	 * Every store has it; NULL: -EOPNOTSUPP.
	 */
	int (*mkdir_excl)(struct store *st, const char *container,
			  const char *key, const struct meta *m);

	/*
	 * Replaces all user metadata of an object with @m (like a Swift
	 * POST). Returns 0, -ENOENT.
	 */
	int (*set_meta)(struct store *st, const char *container,
			const char *key, const struct meta *m);

	/*
	 * Sets the keys of @set (added or replaced) and keeps every other key
	 * and attribute of the object as it is when the call runs: touch and
	 * chmod, which change one key. Optional: NULL means head() + merge +
	 * set_meta() of this layer (store_update_meta()); a layer that reads
	 * the object anyway (Swift's POST must repeat what its HEAD shows)
	 * saves a round trip, a pass-through layer (the codec) hands it down.
	 * On success @out, if not NULL, holds what head() would now give
	 * (caller releases), so that the caller needs no head() of its own.
	 * Returns 0, -ENOENT.
	 */
	int (*update_meta)(struct store *st, const char *container,
			   const char *key, const struct meta *set,
			   struct obj_info *out);

	/* Space figures; optional: NULL means all zero. */
	int (*statfs)(struct store *st, struct store_statfs *out);

	/* Frees the layer and, through it, ->inner. */
	void (*destroy)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	struct store *inner; /* next layer down, owned; NULL for a leaf */
	void *priv;	     /* layer state, owned by the layer */
};

/* ---- readers ---- */

struct store_reader_ops {
	/*
	 * Reads up to @len bytes at @off into @dst; *@got is what was read
	 * (short only at the end of the object; 0 at or past it). Returns 0,
	 * -EIO, -EBADMSG (corrupt, truncated), -ETIMEDOUT, -ESTALE (the
	 * version opened is gone: replaced or deleted).
	 */
	int (*read)(struct store_reader *r, uint64_t off, void *dst, size_t len,
		    size_t *got);
	/* Frees the reader. */
	void (*close)(struct store_reader *r);
};

struct store_reader {
	const struct store_reader_ops *ops;
	uint64_t size; /* object size as seen through this layer */
	void *priv;
};

/* ---- writers ---- */

struct store_writer_ops {
	/*
	 * Appends @len bytes. Returns 0, -ENOSPC, -EFBIG, -EIO. After an
	 * error the writer only accepts abort (commit returns the error).
	 */
	int (*write)(struct store_writer *w, const void *src, size_t len);
	/*
	 * Makes the object visible with metadata @m (the layer adds its own
	 * keys) and frees the writer, whatever the result. On failure
	 * nothing is visible under the key and nothing is left behind.
	 */
	int (*commit)(struct store_writer *w, const struct meta *m);
	/* Discards everything written and frees the writer. */
	void (*abort)(struct store_writer *w);
	/*
	 * Optional (fsync): waits until what the writer has handed on so
	 * far (sealed frames, segments being uploaded) is stored or has
	 * failed. Returns 0 or the writer's error, which then sticks as
	 * after a failed write. A frame or segment still filling stays in
	 * memory: nothing is visible, or durable, before commit.
	 */
	int (*sync)(struct store_writer *w);
};

struct store_writer {
	const struct store_writer_ops *ops;
	uint64_t written; /* bytes accepted by write() so far */
	void *priv;
};

/* ---- callers use these; they supply the defaults of optional ops ---- */

static inline int store_list_containers(struct store *st, store_list_fn *fn,
					void *arg)
{
	return st->ops->list_containers(st, fn, arg);
}

static inline int store_create_container(struct store *st, const char *c)
{
	return st->ops->create_container(st, c);
}

static inline int store_delete_container(struct store *st, const char *c)
{
	return st->ops->delete_container(st, c);
}

static inline int store_list(struct store *st, const char *c,
			     const char *prefix, char delim, store_list_fn *fn,
			     void *arg)
{
	return st->ops->list(st, c, prefix, delim, fn, arg);
}

static inline int store_list_first(struct store *st, const char *c,
				   const char *prefix, char delim,
				   store_list_fn *fn, void *arg)
{
	if (st->ops->list_first)
		return st->ops->list_first(st, c, prefix, delim, fn, arg);
	return st->ops->list(st, c, prefix, delim, fn, arg);
}

/*
 * True if the leaf of @st's stack offers list_page(): a lookup costs it a
 * round trip, and one listing answers many.
 */
bool store_lists_by_page(const struct store *st);

/*
 * list() stopped after @max entries: 1 if the entries seen were all, 0 if
 * there were more, or list()'s -errno (list_page() as a layer that lists
 * whole would give it).
 */
int store_list_cut(struct store *st, const char *c, const char *prefix,
		   char delim, unsigned max, store_list_fn *fn, void *arg);

/* list_page() of @st if it has one, else store_list_cut(). */
int store_list_page(struct store *st, const char *c, const char *prefix,
		    char delim, unsigned max, store_list_fn *fn, void *arg);

static inline int store_head(struct store *st, const char *c, const char *key,
			     struct obj_info *oi)
{
	return st->ops->head(st, c, key, oi);
}

static inline int store_reader_open(struct store *st, const char *c,
				    const char *key, struct store_reader **out)
{
	return st->ops->reader_open(st, c, key, NULL, out);
}

/* store_reader_open() that also fills @oi (see reader_open). */
static inline int store_reader_open_info(struct store *st, const char *c,
					 const char *key, struct obj_info *oi,
					 struct store_reader **out)
{
	return st->ops->reader_open(st, c, key, oi, out);
}

static inline int store_writer_open(struct store *st, const char *c,
				    const char *key,
				    const struct store_wopts *opts,
				    struct store_writer **out)
{
	return st->ops->writer_open(st, c, key, opts, out);
}

static inline int store_del(struct store *st, const char *c, const char *key)
{
	return st->ops->del(st, c, key);
}

static inline int store_rename(struct store *st, const char *sc, const char *sk,
			       const char *dc, const char *dk)
{
	if (!st->ops->rename)
		return -EXDEV;
	return st->ops->rename(st, sc, sk, dc, dk);
}

static inline int store_rename_new(struct store *st, const char *sc,
				   const char *sk, const char *dc,
				   const char *dk)
{
	if (st->ops->rename_new)
		return st->ops->rename_new(st, sc, sk, dc, dk);
	return store_rename(st, sc, sk, dc, dk);
}

/* Directory marker @key made unless something is there (mkdir_excl). */
static inline int store_mkdir_excl(struct store *st, const char *c,
				   const char *key, const struct meta *m)
{
	if (!st->ops->mkdir_excl)
		return -EOPNOTSUPP;
	return st->ops->mkdir_excl(st, c, key, m);
}

static inline int store_set_meta(struct store *st, const char *c,
				 const char *key, const struct meta *m)
{
	return st->ops->set_meta(st, c, key, m);
}

/* See update_meta in struct store_ops. */
int store_update_meta(struct store *st, const char *c, const char *key,
		      const struct meta *set, struct obj_info *out);

int store_statfs(struct store *st, struct store_statfs *out);

/* Destroys the whole stack below and including @st; accepts NULL. */
void store_destroy(struct store *st);

static inline int store_reader_read(struct store_reader *r, uint64_t off,
				    void *dst, size_t len, size_t *got)
{
	return r->ops->read(r, off, dst, len, got);
}

/* Accepts NULL. */
void store_reader_close(struct store_reader *r);

static inline int store_writer_write(struct store_writer *w, const void *src,
				     size_t len)
{
	return w->ops->write(w, src, len);
}

static inline int store_writer_commit(struct store_writer *w,
				      const struct meta *m)
{
	return w->ops->commit(w, m);
}

/* Accepts NULL. */
void store_writer_abort(struct store_writer *w);

static inline int store_writer_sync(struct store_writer *w)
{
	return w->ops->sync ? w->ops->sync(w) : 0;
}

/*
 * Reads exactly @len bytes at @off (looping over short reads). Returns 0,
 * -EBADMSG if the object ends first, or the reader's error.
 */
int store_reader_read_full(struct store_reader *r, uint64_t off, void *dst,
			   size_t len);

/*
 * True if @key is acceptable to every store: 1..STORE_KEY_MAX bytes, no
 * empty, "." or ".." component (a trailing '/' of a marker is allowed).
 */
bool store_key_is_valid(const char *key);

/* True if @name is a valid container name. */
bool store_container_is_valid(const char *name);

#endif /* BACKENDS_STORE_H */
