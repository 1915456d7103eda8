/*
 * meta.h - an object's user metadata: a small set of key/value strings.
 *
 * Maps one to one onto Swift's X-Object-Meta-<key> headers and the local
 * store's "user.trovefs.<key>" xattrs. Keys are lowercase [a-z0-9-] (Swift
 * folds case, so trovefs always writes and looks up lowercase); values are
 * printable ASCII of at most META_VALUE_MAX bytes. Insertion order is kept.
 * Not thread-safe: one owner at a time.
 *
 * Keys in use (each layer documents its own):
 *   mtime            vfs: seconds since the epoch, "%lld.%09ld" (the
 *                    python-swiftclient/rclone X-Object-Meta-Mtime form)
 *   mode             vfs: permission bits, octal ("644")
 *   trovefs-format   codec: "tfs1" or "trove-sha256" (see docs/FORMAT.md)
 *   trovefs-size     codec: plain (decoded) size in bytes, decimal
 *   trovefs-check    codec: hex digest over the stored frames' tags
 */
#ifndef BACKENDS_META_H
#define BACKENDS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_KEY_MAX 128
#define META_VALUE_MAX 256
#define META_COUNT_MAX 90

struct meta_pair {
	char *key;   /* owned */
	char *value; /* owned */
};

struct meta {
	struct meta_pair *v; /* owned array of n pairs */
	size_t n;
	size_t cap;
};

void meta_init(struct meta *m);
/* Frees every pair; @m may be meta_init()ed again. */
void meta_release(struct meta *m);

/* True if @key is a valid key (non-empty, <= META_KEY_MAX, [a-z0-9-]). */
bool meta_key_is_valid(const char *key);

/*
 * Sets @key to a copy of @value, replacing an existing value.
 * Returns 0, -EINVAL (bad key or value, too many keys) or -ENOMEM.
 */
int meta_set(struct meta *m, const char *key, const char *value);
int meta_set_u64(struct meta *m, const char *key, uint64_t value);

/* The value of @key, borrowed (valid until the next change), or NULL. */
const char *meta_get(const struct meta *m, const char *key);

/*
 * Parses @key's value as a decimal u64. Returns 0, -ENOENT if absent,
 * -EINVAL if not a plain decimal number.
 */
int meta_get_u64(const struct meta *m, const char *key, uint64_t *out);

/* Removes @key; returns 0 or -ENOENT. */
int meta_del(struct meta *m, const char *key);

/* Replaces @dst's contents with a copy of @src; 0 or -ENOMEM (then @dst
 * is empty). */
int meta_copy(struct meta *dst, const struct meta *src);

/*
 * Adds the keys of @set to @dst, replacing the values of those @dst has.
 * Returns 0 or -ENOMEM (then @dst may hold some of them).
 */
int meta_merge(struct meta *dst, const struct meta *set);

#endif /* BACKENDS_META_H */
