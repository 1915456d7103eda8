/*
 * trove_codec.h - the format OpenStack Trove's guest agent wrote backups in:
 *
 *     gzip | openssl enc -aes-256-cbc -salt -pass pass:KEY [-md sha256]
 *
 * i.e. "Salted__" + 8-byte salt + AES-256-CBC (PKCS#7 padding) of a gzip
 * stream. Trove changed the key derivation twice, so three variants exist:
 *
 *   TROVE_KDF_MD5      EVP_BytesToKey(MD5, 1 iteration)   (openssl < 1.1)
 *   TROVE_KDF_SHA256   EVP_BytesToKey(SHA-256, 1)         (-md sha256)
 *   TROVE_KDF_PBKDF2   PBKDF2-HMAC-SHA512, 10000 iter.    (-pbkdf2 -md sha512)
 *
 * The encoder writes TROVE_KDF_SHA256 by default. The decoder tries each
 * variant on the first cipher block and keeps the one whose plaintext
 * starts with the gzip magic (1f 8b 08).
 *
 * Streaming: constant memory whatever the size; output goes to a sink
 * callback. Not thread-safe per object; independent objects are.
 */
#ifndef BACKENDS_TROVE_CODEC_H
#define BACKENDS_TROVE_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum trove_kdf {
	TROVE_KDF_MD5 = 1,
	TROVE_KDF_SHA256 = 2,
	TROVE_KDF_PBKDF2 = 3,
};

/*
 * Receives output bytes; returns 0 or a -errno that aborts the operation
 * (and is returned by it).
 */
typedef int trove_sink_fn(void *arg, const void *data, size_t len);

struct trove_enc;
struct trove_dec;

/*
 * New encoder. @pass/@pass_len: the passphrase (copied; wiped on free).
 * @salt: 8 bytes, or NULL for random ones. @level: gzip level 1..9.
 * Returns 0, -EINVAL, -ENOMEM; on success caller frees with
 * trove_enc_free().
 */
int trove_enc_new(const void *pass, size_t pass_len, enum trove_kdf kdf,
		  const uint8_t *salt, int level, struct trove_enc **out);

/* Compresses and encrypts @len bytes; output goes to @sink. */
int trove_enc_write(struct trove_enc *e, const void *data, size_t len,
		    trove_sink_fn *sink, void *arg);

/* Ends the gzip stream, pads and flushes the last cipher block. */
int trove_enc_finish(struct trove_enc *e, trove_sink_fn *sink, void *arg);

/* Accepts NULL. */
void trove_enc_free(struct trove_enc *e);

/* New decoder for passphrase @pass. Returns 0, -ENOMEM. */
int trove_dec_new(const void *pass, size_t pass_len, struct trove_dec **out);

/*
 * Feeds @len stored bytes; plain output goes to @sink. Returns 0;
 * -EKEYREJECTED if no variant yields gzip (wrong passphrase, or not a
 * Trove backup); -EBADMSG if the data is corrupt.
 */
int trove_dec_write(struct trove_dec *d, const void *data, size_t len,
		    trove_sink_fn *sink, void *arg);

/*
 * Checks the end: padding, gzip trailer (CRC32 and length). Returns 0,
 * -EBADMSG if the stream is truncated or damaged.
 */
int trove_dec_finish(struct trove_dec *d, trove_sink_fn *sink, void *arg);

/* The variant detected so far (0 before the first block). */
enum trove_kdf trove_dec_kdf(const struct trove_dec *d);

/* Accepts NULL. */
void trove_dec_free(struct trove_dec *d);

#endif /* BACKENDS_TROVE_CODEC_H */
