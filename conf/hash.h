/*
 * hash.h - the one string hash of trovefs (FNV-1a, 64 bits): hash tables
 * and key tables (vfs_cache.c, swift_gc.c, log.c). Not for anything an
 * attacker must not steer: no seed. Pure; thread-safe.
 */
#ifndef CONF_HASH_H
#define CONF_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t fnv1a(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#endif /* CONF_HASH_H */
