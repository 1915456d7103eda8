/*
 * mem_store.h - an in-memory leaf for unit tests, with fault injection.
 *
 * Same semantics as the local store (markers, atomic commit, metadata)
 * but nothing touches the disk. Every op can be made to fail: the Nth call
 * (counting from 1 after mem_store_fail()) of an op returns a chosen
 * -errno, so every error path of a layer above can be reached.
 * Thread-safe (one mutex around the whole store).
 */
#ifndef BACKENDS_MEM_STORE_H
#define BACKENDS_MEM_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

enum mem_op {
	MEM_OP_LIST_CONTAINERS,
	MEM_OP_CREATE_CONTAINER,
	MEM_OP_DELETE_CONTAINER,
	MEM_OP_LIST,
	MEM_OP_HEAD,
	MEM_OP_READER_OPEN,
	MEM_OP_READ, /* reader read */
	MEM_OP_WRITER_OPEN,
	MEM_OP_WRITE,  /* writer write */
	MEM_OP_COMMIT, /* writer commit */
	MEM_OP_DEL,
	MEM_OP_RENAME,
	MEM_OP_SET_META,
	MEM_OP_STATFS,
	MEM_OP_SYNC,	   /* writer sync */
	MEM_OP_MKDIR_EXCL, /* store_mkdir_excl() */
	MEM_OP_COUNT
};

/* New empty store; returns 0, -ENOMEM. Caller destroys *@out. */
int mem_store_new(struct store **out);

/*
 * Makes the @nth next call of @op fail with @err (a negative errno);
 * @nth = 1 is the very next call. @nth = 0 clears it. @st must be a mem
 * store (not a decorator over one).
 */
void mem_store_fail(struct store *st, enum mem_op op, unsigned nth, int err);

/*
 * With @paged, the store offers list_page() (as Swift does), so that the
 * vfs answers lookups from listings; list_page() counts as MEM_OP_LIST.
 */
void mem_store_set_paged(struct store *st, bool paged);

/* How many times @op was called so far. */
unsigned mem_store_calls(struct store *st, enum mem_op op);

/*
 * How many reader reads so far started somewhere else than where the same
 * reader's previous read ended (a Swift reader pays a new GET for each).
 */
unsigned mem_store_seeks(struct store *st);

/*
 * Reader calls may come one at a time only (store.h). The mem store
 * counts the calls that started while another one ran on the same reader;
 * mem_store_slow_reads() makes every read sleep @usec first (0: none), so
 * that callers which break the rule are caught.
 */
void mem_store_slow_reads(struct store *st, unsigned usec);
unsigned mem_store_reader_overlaps(struct store *st);

/*
 * Test helpers: raw access to stored bytes. mem_store_get() returns a
 * pointer into the store (borrowed, valid until the object changes) and
 * its size, or NULL. mem_store_poke() overwrites/truncates stored bytes:
 * sets byte @off to @val, or if @off == (uint64_t)-1 truncates to @val.
 */
const void *mem_store_get(struct store *st, const char *container,
			  const char *key, size_t *size);
int mem_store_poke(struct store *st, const char *container, const char *key,
		   uint64_t off, uint64_t val);

#endif /* BACKENDS_MEM_STORE_H */
