/*
 * codec_i.h - private to the codec layer (codec_store.c, codec_tfs1.c,
 * codec_trove.c): the layer's state and the per-format reader and writer
 * constructors that codec_store.c dispatches to.
 */
#ifndef BACKENDS_CODEC_I_H
#define BACKENDS_CODEC_I_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec_store.h"
#include "frame.h"
#include "store.h"
#include "workpool.h"

/* Metadata keys the codec owns (meta.h). */
#define CODEC_META_PREFIX "trovefs-" /* the codec's own keys */
#define CODEC_META_FORMAT "trovefs-format"
#define CODEC_META_SIZE "trovefs-size"
#define CODEC_META_CHECK "trovefs-check"

#define CODEC_FMT_TFS1_NAME "tfs1"
#define CODEC_FMT_TROVE_NAME "trove-sha256"

/* "container/key" plus NUL: the subject of every log line. */
#define CODEC_NAME_MAX (STORE_CONTAINER_MAX + 1 + STORE_KEY_MAX + 1)

/* Copies a name built by codec_store.c (so known to fit). */
static inline void codec_name_copy(char dst[CODEC_NAME_MAX], const char *src)
{
	size_t n = strlen(src);

	assert(n < CODEC_NAME_MAX);
	memcpy(dst, src, n + 1);
}

enum codec_format {
	CODEC_FMT_TFS1 = 1,
	CODEC_FMT_TROVE = 2,
};

/*
 * The layer state (store->priv). Read-only after codec_store_new(), so
 * readers and writers of many threads share it without a lock; it must
 * outlive every reader and writer opened through the layer.
 */
struct codec {
	struct frame_key key; /* derived tfs1 master key */
	bool have_key;	      /* false: no secret configured */
	uint8_t *trove_pass;  /* owned, wiped on free; NULL = none */
	size_t trove_pass_len;
	enum codec_format default_format;
	const char *(*format_for)(void *arg, const char *container);
	void *format_arg;
	uint32_t frame_size;
	int level; /* 0 = no compression, 1..3 */
	bool (*lz4_for)(void *arg, const char *container); /* or NULL */
	struct workpool *pool;				   /* owned */
};

/* Parses a format name; returns 0 or -EINVAL. */
int codec_format_parse(const char *s, enum codec_format *out);

/*
 * The end of every format writer's commit. @err is 0 when the format wrote
 * all its bytes to @inner. Then commits @inner with a copy of @m (may be
 * NULL) carrying the codec's keys: @format, @plain_size and, if @check is
 * not NULL, trovefs-check (removed otherwise). On any error aborts @inner
 * instead. Either way @inner is consumed. Returns 0, @err, -EINVAL (too
 * many keys), -ENOMEM or the inner commit's error.
 */
int codec_commit_inner(struct store_writer *inner, int err,
		       const struct meta *m, const char *format,
		       uint64_t plain_size, const char *check);

/*
 * The per-format constructors. Each takes ownership of @inner (a writer
 * from the inner store: aborted on failure; a reader: closed on failure).
 * @name is "container/key", copied. On success caller owns *@out.
 */
int codec_tfs1_writer_new(struct codec *c, struct store_writer *inner, bool lz4,
			  const char *name, struct store_writer **out);
int codec_trove_writer_new(struct codec *c, struct store_writer *inner,
			   const char *name, struct store_writer **out);

/*
 * Take @inner (closed on failure). @oi is the inner head() of the version
 * @inner reads (borrowed): its meta says the plain size. Returns 0, -EIO (wrong key, logged), -EBADMSG (corrupt or
 * truncated, logged), -EACCES (no key, logged), or the inner reader's
 * error.
 */
int codec_tfs1_reader_new(struct codec *c, struct store_reader *inner,
			  const struct obj_info *oi, const char *name,
			  struct store_reader **out);
int codec_trove_reader_new(struct codec *c, struct store_reader *inner,
			   const struct obj_info *oi, const char *name,
			   struct store_reader **out);

#endif /* BACKENDS_CODEC_I_H */
