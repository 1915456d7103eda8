/*
 * buf.h - growing, capped byte buffers for URLs, headers, listings, JSON.
 *
 * A buf is embedded (buf_init/buf_release). Its data is always
 * NUL-terminated so buf_str() can be used as a C string. Every append
 * either succeeds or frees the buffer and returns an error, so a caller
 * checks once at the end ("sticky" errors: later appends keep failing).
 * Not thread-safe; one owner at a time.
 */
#ifndef CONF_BUF_H
#define CONF_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* owned; NULL until the first append */
	size_t len; /* bytes used, excluding the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* cap on len; appends beyond fail with -E2BIG */
	int err;    /* first error, 0 if none; sticky */
};

/* Empty buffer that may grow to @max bytes. */
void buf_init(struct buf *b, size_t max);

/* Frees the data; the buf may be buf_init()ed again. Accepts NULL data. */
void buf_release(struct buf *b);

/* Sets len to 0 and clears the error, keeping the allocation. */
void buf_reset(struct buf *b);

/*
 * Append @len bytes / a C string / printf output. Return 0, -ENOMEM or
 * -E2BIG (beyond max); on failure the data is freed and b->err is set.
 */
int buf_append(struct buf *b, const void *p, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The contents as a C string ("" when empty); borrowed, valid until the
 * next append or release. */
const char *buf_str(const struct buf *b);

/* Hands the data to the caller (free() it); the buf is left empty. */
char *buf_steal(struct buf *b);

#endif /* CONF_BUF_H */
