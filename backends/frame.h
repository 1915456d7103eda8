/*
 * frame.h - the default stored format, "tfs1": primitives to encode and
 * decode it. Pure functions over caller buffers: no I/O, no threads, no
 * global state. docs/FORMAT.md is the normative description and carries
 * test vectors checked by tests/unit/test_frame.c.
 *
 * An object is:
 *
 *     header (FRAME_HEADER_SIZE)
 *     frame 0 | frame 1 | ... | frame N-1      (the last one marked final)
 *     sealed index (N stored frame lengths)
 *     footer (FRAME_FOOTER_SIZE)
 *
 * The plain stream is cut into frames of frame_size bytes (the last one
 * shorter, possibly empty); each is compressed (stored raw when that does
 * not shrink it) and sealed with AES-256-GCM under a per-object key derived
 * from the master key and the header's random salt. The frame number, the
 * final flag and the whole header are authenticated, so reordering,
 * truncation, splicing and header edits are all detected.
 *
 * Thread-safety: a struct frame_ctx is read-only once initialised; any
 * number of threads may seal or open frames with it at once.
 */
#ifndef BACKENDS_FRAME_H
#define BACKENDS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC "TROVEFS\x01" /* 8 bytes, no NUL stored */
#define FRAME_VERSION 1
#define FRAME_HEADER_SIZE 64
#define FRAME_FOOTER_SIZE 32
#define FRAME_TAG_SIZE 16
#define FRAME_SALT_SIZE 16
#define FRAME_KEY_ID_SIZE 8
#define FRAME_HDR_SIZE 12 /* per-frame header before the ciphertext */
#define FRAME_SIZE_DEFAULT (1u << 20)
#define FRAME_SIZE_MIN (4u << 10)
#define FRAME_SIZE_MAX (16u << 20)

enum frame_compression {
	FRAME_COMP_NONE = 0,
	FRAME_COMP_DEFLATE = 1, /* raw deflate (RFC 1951) */
	FRAME_COMP_LZ4 = 2,	/* one LZ4 block (lz4 block format) */
};

enum frame_aead {
	FRAME_AEAD_AES256GCM = 1,
};

/* The master key and its public id, derived from the key file's secret. */
struct frame_key {
	uint8_t key[32];
	uint8_t id[FRAME_KEY_ID_SIZE];
};

/*
 * Derives a master key from @secret (the key file's first line, any
 * length >= 1) with HKDF-SHA256 as FORMAT.md says. Returns 0, -EINVAL.
 * The caller wipes @out with OPENSSL_cleanse() when done.
 */
int frame_key_derive(const void *secret, size_t len, struct frame_key *out);

/* Per-object state: the parsed header and the derived object key. */
struct frame_ctx {
	uint8_t header[FRAME_HEADER_SIZE]; /* exact bytes, used as AAD */
	uint8_t okey[32];		   /* per-object key */
	uint32_t frame_size;
	enum frame_compression comp;
	int level; /* compression level (writer) */
};

/*
 * Starts a new object: fills the header from @key's id, @comp, @level,
 * @frame_size (FRAME_SIZE_MIN..FRAME_SIZE_MAX, a power of two) and @salt
 * (random; fixed in test vectors) and derives the object key.
 * Returns 0, -EINVAL.
 */
int frame_ctx_init_new(struct frame_ctx *ctx, const struct frame_key *key,
		       enum frame_compression comp, int level,
		       uint32_t frame_size,
		       const uint8_t salt[FRAME_SALT_SIZE]);

/*
 * Opens an existing object from its first FRAME_HEADER_SIZE bytes.
 * Returns 0; -EBADMSG if it is not a tfs1 header (magic, version,
 * algorithms, frame size); -EKEYREJECTED if it was written under another
 * key (key id mismatch).
 */
int frame_ctx_init_from_header(struct frame_ctx *ctx,
			       const struct frame_key *key, const void *header,
			       size_t len);

/* Wipes the object key. */
void frame_ctx_release(struct frame_ctx *ctx);

/* Largest stored size of one frame (header + data + tag). */
size_t frame_stored_bound(const struct frame_ctx *ctx);

/*
 * Seals frame @index: compresses and encrypts @plen bytes of @plain
 * (plen <= frame_size; plen < frame_size only when @final) into @out, which
 * has room for frame_stored_bound() bytes. *@out_len = stored size.
 * Returns 0, -EINVAL, -ENOMEM.
 */
int frame_seal(const struct frame_ctx *ctx, uint64_t index, bool final,
	       const void *plain, size_t plen, void *out, size_t *out_len);

/*
 * Reads the plain length and stored length from a frame's first
 * FRAME_HDR_SIZE bytes (not yet authenticated). Returns 0, -EBADMSG.
 */
int frame_peek(const struct frame_ctx *ctx, const void *hdr, uint32_t *plen,
	       uint32_t *stored_len);

/*
 * Opens frame @index (@in holds @in_len stored bytes, as frame_peek said)
 * into @plain (room for frame_size bytes). *@plen = plain length, *@final
 * whether it is the last frame. Returns 0, or -EBADMSG when authentication
 * or decompression fails (corrupt, wrong position, spliced).
 */
int frame_open(const struct frame_ctx *ctx, uint64_t index, const void *in,
	       size_t in_len, void *plain, size_t *plen, bool *final);

/* ---- index and footer ---- */

struct frame_footer {
	uint64_t nframes;
	uint64_t plain_size;
	uint32_t index_len; /* sealed index bytes before the footer */
};

/* Bytes needed by frame_index_seal() for @nframes frames (excl. footer). */
size_t frame_index_size(uint64_t nframes);

/*
 * Seals the index (stored length of every frame) and writes it followed by
 * the footer into @out (room for frame_index_size(n) + FRAME_FOOTER_SIZE).
 * *@out_len = bytes written. Returns 0, -EINVAL.
 */
int frame_index_seal(const struct frame_ctx *ctx, const uint32_t *lens,
		     uint64_t nframes, uint64_t plain_size, void *out,
		     size_t *out_len);

/*
 * Parses the last FRAME_FOOTER_SIZE bytes of an object (not yet
 * authenticated: frame_index_open() checks it). Returns 0, -EBADMSG.
 */
int frame_footer_parse(const void *footer, struct frame_footer *out);

/*
 * Verifies and decodes the sealed index (@in: footer.index_len bytes
 * followed by the footer) into @lens (footer.nframes entries).
 * Returns 0, -EBADMSG.
 */
int frame_index_open(const struct frame_ctx *ctx, const struct frame_footer *ft,
		     const void *in, uint32_t *lens);

#endif /* BACKENDS_FRAME_H */
