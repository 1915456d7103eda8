/*
 * codec_store.h - the decorator that makes objects plain above it and
 * encoded below it: compressed + encrypted in the tfs1 format
 * (backends/frame.h) or the Trove format (backends/trove_codec.h).
 *
 * Above this layer sizes and reads are of the plain bytes. Below it each
 * object is stored encoded, with metadata keys trovefs-format,
 * trovefs-size and trovefs-check (see meta.h). Objects without
 * trovefs-format (written by other tools) pass through as they are.
 *
 * Writes are streamed: the writer cuts the stream into frames, seals them
 * on the worker pool (all cores) and hands them to the inner writer in
 * order; at most CODEC_INFLIGHT_MAX frames are in memory per writer.
 * tfs1 reads are random-access through the index, with read-ahead on the
 * pool for sequential readers; Trove-format reads are sequential (a
 * backward seek restarts the decoder from the start).
 *
 * A wrong key gives -EIO and a corrupt or truncated object -EBADMSG, each
 * with one log line naming the object; no unauthenticated byte is ever
 * returned.
 */
#ifndef BACKENDS_CODEC_STORE_H
#define BACKENDS_CODEC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CODEC_INFLIGHT_MAX 8 /* frames per writer in memory at once */

struct codec_conf {
	/* The secret for tfs1 (key file's first line); borrowed during
	 * codec_store_new() only (derived, then not kept). NULL: writing
	 * and reading tfs1 objects fail with -EACCES and a log line. */
	const char *secret;
	size_t secret_len;
	/* The passphrase for the Trove format; NULL = same as secret.
	 * Copied. */
	const char *trove_secret;
	size_t trove_secret_len;
	const char *default_format; /* "tfs1" or "trove-sha256" */
	/* Per-container format: returns "tfs1", "trove-sha256" or NULL for
	 * the default. Borrowed; may be NULL. */
	const char *(*format_for)(void *arg, const char *container);
	void *format_arg;
	uint32_t frame_size; /* FRAME_SIZE_DEFAULT if 0 */
	int compress_level;  /* 0 = off, 1..3 (ISA-L levels) */
	/* Per-container: tfs1 frames in LZ4 (true) rather than deflate;
	 * NULL: deflate everywhere. Borrowed, called with format_arg. */
	bool (*lz4_for)(void *arg, const char *container);
	unsigned threads; /* 0 = number of CPUs */
};

/*
 * Builds the codec layer over @inner. On success *@out owns @inner; on
 * failure *@out is untouched and @inner is still the caller's.
 * Returns 0, -EINVAL, -ENOMEM.
 */
int codec_store_new(const struct codec_conf *conf, struct store *inner,
		    struct store **out);

/*
 * True if metadata key @key is one the codec writes itself ("trovefs-*",
 * docs/FORMAT.md): it describes the stored bytes, so a copy or a caller's
 * metadata change must not carry it.
 */
bool codec_meta_key_is_own(const char *key);

#endif /* BACKENDS_CODEC_STORE_H */
