/*
 * frame.c - the tfs1 stored format: key derivation, object header, sealed
 * frames, sealed index and footer (docs/FORMAT.md is the normative text).
 *
 * Pure functions over caller buffers. Every function that seals or opens
 * uses only its arguments and per-call state (one EVP_CIPHER_CTX, one ISA-L
 * stream and level buffer, one inflate state; LZ4's 16 KiB on the stack),
 * so a struct frame_ctx can be shared read-only by any number of threads;
 * there are no locks.
 *
 * Invariants:
 *   - a stored frame is at most frame_stored_bound() bytes: a frame is
 *     stored compressed only when that makes it strictly smaller; a frame
 *     whose three samples do not shrink is stored raw without deflating
 *     the rest (random or already compressed data costs no deflate);
 *   - with LZ4 (compression 2) there is no probe: LZ4 itself skips fast
 *     through data without matches;
 *   - no plaintext leaves frame_open() or frame_index_open() unless the
 *     GCM tag verified; on failure the output is wiped;
 *   - nonces never repeat under one object key: frame i uses
 *     00000000 || i (i < 2^63), the index uses ffffffff || nframes.
 */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l.h>
#include <lz4.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "../conf/log.h"

#define FRAME_KDF_SALT "trovefs-tfs1"
#define FRAME_NONCE_SIZE 12
#define FRAME_INDEX_MAGIC "TFSINDEX"

/* Frame header flags (byte 8 of the frame header). */
#define FRAME_F_FINAL 0x01
#define FRAME_F_COMPRESSED 0x02

/* Header field offsets. */
#define HDR_OFF_VERSION 8
#define HDR_OFF_COMP 9
#define HDR_OFF_AEAD 10
#define HDR_OFF_FLAGS 11
#define HDR_OFF_FRAME_SIZE 12
#define HDR_OFF_KEY_ID 16
#define HDR_OFF_SALT 24
#define HDR_OFF_RESERVED 40

/* Frame indexes stay below 2^63 so frame and index nonces never meet. */
#define FRAME_INDEX_MAX (UINT64_C(1) << 63)
/* index_len is a u32: 4 * nframes + FRAME_TAG_SIZE must fit. */
#define FRAME_NFRAMES_MAX ((UINT32_MAX - FRAME_TAG_SIZE) / 4)

/* ---- byte order helpers ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* ---- key derivation ---- */

/*
 * HKDF-SHA256 (RFC 5869, extract then expand). Returns 0, or -ENOMEM when
 * OpenSSL fails (allocation or a missing provider).
 */
static int hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt,
		       size_t salt_len, const char *info, void *out,
		       size_t out_len)
{
	OSSL_PARAM params[5];
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int err = 0;

	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (!kdf) {
		log_error("cannot fetch 'HKDF' from openssl");
		return -ENOMEM;
	}
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		return -ENOMEM;
	/* OSSL_PARAM is not const-correct; the buffers are only read. */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						      (void *)salt, salt_len);
	params[3] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1) {
		log_error("cannot derive a key with 'HKDF-SHA256'");
		err = -ENOMEM;
	}
	EVP_KDF_CTX_free(kctx);
	return err;
}

int frame_key_derive(const void *secret, size_t len, struct frame_key *out)
{
	uint8_t id[32];
	int err;

	if (!secret || len == 0 || !out)
		return -EINVAL;
	err = hkdf_sha256(secret, len, FRAME_KDF_SALT, strlen(FRAME_KDF_SALT),
			  "master key", out->key, sizeof(out->key));
	if (err)
		goto out_wipe;
	err = hkdf_sha256(secret, len, FRAME_KDF_SALT, strlen(FRAME_KDF_SALT),
			  "key id", id, sizeof(id));
	if (err)
		goto out_wipe;
	memcpy(out->id, id, sizeof(out->id));
	return 0;
out_wipe:
	OPENSSL_cleanse(out, sizeof(*out));
	return err;
}

/* ---- object context ---- */

static bool frame_size_is_valid(uint32_t fs)
{
	return fs >= FRAME_SIZE_MIN && fs <= FRAME_SIZE_MAX &&
	       (fs & (fs - 1)) == 0;
}

/* Derives ctx->okey from the master key and the salt in ctx->header. */
static int derive_object_key(struct frame_ctx *ctx, const struct frame_key *key)
{
	return hkdf_sha256(key->key, sizeof(key->key),
			   ctx->header + HDR_OFF_SALT, FRAME_SALT_SIZE,
			   "object key", ctx->okey, sizeof(ctx->okey));
}

int frame_ctx_init_new(struct frame_ctx *ctx, const struct frame_key *key,
		       enum frame_compression comp, int level,
		       uint32_t frame_size, const uint8_t salt[FRAME_SALT_SIZE])
{
	uint8_t *h;
	int err;

	if (!ctx || !key || !salt || !frame_size_is_valid(frame_size))
		return -EINVAL;
	if (comp == FRAME_COMP_NONE) {
		level = 0;
	} else if (comp == FRAME_COMP_DEFLATE || comp == FRAME_COMP_LZ4) {
		/*
		 * ISA-L stops at level 3; level 0 means "off" here. LZ4 has
		 * one level (its default acceleration): the level is kept
		 * only so that "off" reads the same for both.
		 */
		if (level < 1)
			return -EINVAL;
		if (level > ISAL_DEF_MAX_LEVEL)
			level = ISAL_DEF_MAX_LEVEL;
	} else {
		return -EINVAL;
	}

	memset(ctx, 0, sizeof(*ctx));
	h = ctx->header;
	memcpy(h, FRAME_MAGIC, 8);
	h[HDR_OFF_VERSION] = FRAME_VERSION;
	h[HDR_OFF_COMP] = (uint8_t)comp;
	h[HDR_OFF_AEAD] = FRAME_AEAD_AES256GCM;
	h[HDR_OFF_FLAGS] = 0;
	put_be32(h + HDR_OFF_FRAME_SIZE, frame_size);
	memcpy(h + HDR_OFF_KEY_ID, key->id, FRAME_KEY_ID_SIZE);
	memcpy(h + HDR_OFF_SALT, salt, FRAME_SALT_SIZE);
	/* bytes HDR_OFF_RESERVED..63 stay zero */
	ctx->frame_size = frame_size;
	ctx->comp = comp;
	ctx->level = level;
	err = derive_object_key(ctx, key);
	if (err)
		OPENSSL_cleanse(ctx, sizeof(*ctx));
	return err;
}

int frame_ctx_init_from_header(struct frame_ctx *ctx,
			       const struct frame_key *key, const void *header,
			       size_t len)
{
	const uint8_t *h = header;
	uint32_t fs;
	int err;

	if (!ctx || !key || !header || len < FRAME_HEADER_SIZE)
		return -EBADMSG;
	if (memcmp(h, FRAME_MAGIC, 8) != 0 ||
	    h[HDR_OFF_VERSION] != FRAME_VERSION ||
	    h[HDR_OFF_COMP] > FRAME_COMP_LZ4 ||
	    h[HDR_OFF_AEAD] != FRAME_AEAD_AES256GCM || h[HDR_OFF_FLAGS] != 0 ||
	    !all_zero(h + HDR_OFF_RESERVED,
		      FRAME_HEADER_SIZE - HDR_OFF_RESERVED))
		return -EBADMSG;
	fs = get_be32(h + HDR_OFF_FRAME_SIZE);
	if (!frame_size_is_valid(fs))
		return -EBADMSG;
	if (CRYPTO_memcmp(h + HDR_OFF_KEY_ID, key->id, FRAME_KEY_ID_SIZE))
		return -EKEYREJECTED;

	memset(ctx, 0, sizeof(*ctx));
	memcpy(ctx->header, h, FRAME_HEADER_SIZE);
	ctx->frame_size = fs;
	ctx->comp = (enum frame_compression)h[HDR_OFF_COMP];
	ctx->level = 0;
	err = derive_object_key(ctx, key);
	if (err)
		OPENSSL_cleanse(ctx, sizeof(*ctx));
	return err;
}

void frame_ctx_release(struct frame_ctx *ctx)
{
	if (ctx)
		OPENSSL_cleanse(ctx->okey, sizeof(ctx->okey));
}

size_t frame_stored_bound(const struct frame_ctx *ctx)
{
	/* Compressed data is strictly smaller than the plain frame. */
	return FRAME_HDR_SIZE + (size_t)ctx->frame_size + FRAME_TAG_SIZE;
}

/* ---- AES-256-GCM ---- */

/*
 * AES-256-GCM of @len bytes of @in into @out (may equal @in), AAD being
 * @aad1 followed by @aad2: sealing (@enc) writes @tag, opening checks it.
 * Returns 0; -EBADMSG if an opened tag does not verify (then @out is
 * wiped); -ENOMEM.
 */
static int gcm_crypt(bool enc, const uint8_t *key, const uint8_t *nonce,
		     const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2,
		     size_t aad2_len, const uint8_t *in, size_t len,
		     uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c;
	int n;
	int err = -ENOMEM;

	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	/* The default IV length of GCM in OpenSSL is 12 bytes. */
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) != 1)
		goto out_free_ctx;
	if ((!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG,
					 FRAME_TAG_SIZE, tag) != 1) ||
	    EVP_CipherUpdate(c, NULL, &n, aad1, (int)aad1_len) != 1 ||
	    EVP_CipherUpdate(c, NULL, &n, aad2, (int)aad2_len) != 1)
		goto out_free_ctx;
	if (len > 0 && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1)
		goto out_free_ctx;
	if (EVP_CipherFinal_ex(c, out + len, &n) != 1) {
		if (enc)
			goto out_free_ctx;
		OPENSSL_cleanse(out, len);
		err = -EBADMSG;
		goto out_free_ctx;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, FRAME_TAG_SIZE,
				       tag) != 1)
		goto out_free_ctx;
	err = 0;
out_free_ctx:
	if (err == -ENOMEM)
		log_error("cannot %s with 'AES-256-GCM': openssl failed",
			  enc ? "seal" : "open");
	EVP_CIPHER_CTX_free(c);
	return err;
}

/* Seals @len bytes of @in into @out and writes the tag (gcm_crypt()). */
static int gcm_seal(const uint8_t *key, const uint8_t *nonce,
		    const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2,
		    size_t aad2_len, const uint8_t *in, size_t len,
		    uint8_t *out, uint8_t *tag)
{
	return gcm_crypt(true, key, nonce, aad1, aad1_len, aad2, aad2_len, in,
			 len, out, tag);
}

/* Opens @len bytes of @in into @out and checks @tag (gcm_crypt()). */
static int gcm_open(const uint8_t *key, const uint8_t *nonce,
		    const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2,
		    size_t aad2_len, const uint8_t *in, size_t len,
		    uint8_t *out, const uint8_t *tag)
{
	/* The tag argument is not const in OpenSSL; it is only read. */
	return gcm_crypt(false, key, nonce, aad1, aad1_len, aad2, aad2_len, in,
			 len, out, (uint8_t *)tag);
}

static void frame_nonce(uint8_t nonce[FRAME_NONCE_SIZE], uint32_t prefix,
			uint64_t counter)
{
	put_be32(nonce, prefix);
	put_be64(nonce + 4, counter);
}

/* ---- compression ---- */

/* Level buffer sizes; they shape deflate block boundaries, not the format. */
static size_t deflate_level_buf_size(int level)
{
	switch (level) {
	case 1:
		return ISAL_DEF_LVL1_DEFAULT;
	case 2:
		return ISAL_DEF_LVL2_DEFAULT;
	default:
		return ISAL_DEF_LVL3_DEFAULT;
	}
}

/*
 * Raw-deflates @len (> 0) bytes of @in into @out, which has room for @len
 * bytes. *@clen = compressed size if it is smaller than @len, else 0 (the
 * caller stores the frame raw). Returns 0, -ENOMEM, -EINVAL.
 */
static int deflate_frame(int level, const void *in, size_t len, uint8_t *out,
			 size_t *clen)
{
	struct isal_zstream *zs;
	size_t lbsize = deflate_level_buf_size(level);
	int ret;

	/* ~80 KiB of stream state: too big for a worker's stack. */
	zs = malloc(sizeof(*zs) + lbsize);
	if (!zs)
		return -ENOMEM;
	isal_deflate_stateless_init(zs);
	zs->level = (uint32_t)level;
	zs->level_buf = (uint8_t *)(zs + 1);
	zs->level_buf_size = (uint32_t)lbsize;
	zs->gzip_flag = IGZIP_DEFLATE;
	zs->flush = NO_FLUSH;
	zs->end_of_stream = 1;
	/* The cast drops const: ISA-L does not write its input. */
	zs->next_in = (uint8_t *)in;
	zs->avail_in = (uint32_t)len;
	zs->next_out = out;
	/* One byte less: output that does not shrink the frame overflows. */
	zs->avail_out = (uint32_t)(len - 1);

	ret = isal_deflate_stateless(zs);
	if (ret == COMP_OK && zs->avail_in == 0) {
		*clen = zs->total_out;
		ret = 0;
	} else if (ret == STATELESS_OVERFLOW || ret == COMP_OK) {
		*clen = 0;
		ret = 0;
	} else {
		log_error("cannot deflate at level %d: isa-l error %d", level,
			  ret);
		ret = -EINVAL;
	}
	free(zs);
	return ret;
}

/* Bytes of each of the three samples probe_incompressible() deflates. */
#define FRAME_PROBE_SIZE (8u << 10)

/*
 * True when deflating @in (@len bytes) would almost surely not shrink it:
 * three samples (start, middle, end) each deflate to more than 31/32 of
 * their size. Costs ~2 % of deflating a 1 MiB frame; on random or already
 * compressed data it saves the other 98 %. Data that compresses anywhere
 * near a sample is deflated as before.
 */
static bool probe_incompressible(int level, const uint8_t *in, size_t len)
{
	uint8_t *out;
	unsigned i;
	bool raw = true;

	if (len < 8 * FRAME_PROBE_SIZE)
		return false;
	out = malloc(FRAME_PROBE_SIZE);
	if (!out)
		return false;
	for (i = 0; i < 3 && raw; i++) {
		size_t off = i * ((len - FRAME_PROBE_SIZE) / 2);
		size_t clen = 0;

		if (deflate_frame(level, in + off, FRAME_PROBE_SIZE, out,
				  &clen) ||
		    (clen > 0 &&
		     clen <= FRAME_PROBE_SIZE - FRAME_PROBE_SIZE / 32))
			raw = false;
	}
	free(out);
	return raw;
}

/*
 * Inflates the raw deflate stream @in (@len bytes) into exactly @plen bytes
 * of @out. Any error, short or long output or trailing input gives
 * -EBADMSG. @st is caller-provided scratch.
 */
static int inflate_frame(struct inflate_state *st, const uint8_t *in,
			 size_t len, uint8_t *out, size_t plen)
{
	int ret;

	isal_inflate_init(st);
	st->crc_flag = ISAL_DEFLATE;
	st->next_in = (uint8_t *)in; /* not written by ISA-L */
	st->avail_in = (uint32_t)len;
	st->next_out = out;
	st->avail_out = (uint32_t)plen;
	ret = isal_inflate_stateless(st);
	if (ret != ISAL_DECOMP_OK || st->avail_in != 0 || st->total_out != plen)
		return -EBADMSG;
	return 0;
}

/*
 * Decompresses the LZ4 block @in (@len bytes) into exactly @plen bytes of
 * @out; anything else (corrupt block, other length) gives -EBADMSG.
 */
static int lz4_frame_decode(const uint8_t *in, size_t len, uint8_t *out,
			    size_t plen)
{
	int n = LZ4_decompress_safe((const char *)in, (char *)out, (int)len,
				    (int)plen);

	return n >= 0 && (size_t)n == plen ? 0 : -EBADMSG;
}

/*
 * Compresses @plen bytes of @plain with @ctx's algorithm into @out (room
 * for @plen bytes). *@clen = compressed size when that is smaller than
 * @plen, else 0: the frame is stored raw. Returns 0, -ENOMEM, -EINVAL.
 */
static int compress_frame(const struct frame_ctx *ctx, const void *plain,
			  size_t plen, uint8_t *out, size_t *clen)
{
	int n;

	*clen = 0;
	if (plen == 0 || ctx->comp == FRAME_COMP_NONE)
		return 0;
	if (ctx->comp == FRAME_COMP_LZ4) {
		/*
		 * No probe: LZ4 skips ahead faster and faster in data
		 * without matches, so incompressible input costs it little.
		 * 0 = it does not fit in one byte less than the input.
		 */
		n = LZ4_compress_default(plain, (char *)out, (int)plen,
					 (int)plen - 1);
		*clen = n > 0 ? (size_t)n : 0;
		return 0;
	}
	if (probe_incompressible(ctx->level, plain, plen))
		return 0;
	return deflate_frame(ctx->level, plain, plen, out, clen);
}

/* Decompresses one frame's data with @comp (inflate_frame() contract). */
static int decompress_frame(enum frame_compression comp,
			    struct inflate_state *st, const uint8_t *in,
			    size_t len, uint8_t *out, size_t plen)
{
	if (comp == FRAME_COMP_LZ4)
		return lz4_frame_decode(in, len, out, plen);
	return inflate_frame(st, in, len, out, plen);
}

/* ---- frames ---- */

/*
 * Parses and checks a frame header against @ctx: everything that can be
 * checked before authentication. Returns 0, -EBADMSG.
 */
static int frame_hdr_parse(const struct frame_ctx *ctx, const uint8_t *h,
			   uint32_t *plen, uint32_t *slen, uint8_t *flags)
{
	uint32_t pl = get_be32(h);
	uint32_t sl = get_be32(h + 4);
	uint8_t fl = h[8];
	uint32_t dlen;

	if ((fl & ~(FRAME_F_FINAL | FRAME_F_COMPRESSED)) != 0 ||
	    !all_zero(h + 9, 3))
		return -EBADMSG;
	if (pl > ctx->frame_size ||
	    (!(fl & FRAME_F_FINAL) && pl != ctx->frame_size))
		return -EBADMSG;
	if (sl < FRAME_HDR_SIZE + FRAME_TAG_SIZE ||
	    sl > frame_stored_bound(ctx))
		return -EBADMSG;
	dlen = sl - FRAME_HDR_SIZE - FRAME_TAG_SIZE;
	if (fl & FRAME_F_COMPRESSED) {
		if (ctx->comp == FRAME_COMP_NONE || dlen == 0 || dlen >= pl)
			return -EBADMSG;
	} else if (dlen != pl) {
		return -EBADMSG;
	}
	*plen = pl;
	*slen = sl;
	*flags = fl;
	return 0;
}

int frame_seal(const struct frame_ctx *ctx, uint64_t index, bool final,
	       const void *plain, size_t plen, void *out, size_t *out_len)
{
	uint8_t nonce[FRAME_NONCE_SIZE];
	uint8_t *hdr = out;
	uint8_t *data = hdr + FRAME_HDR_SIZE;
	const uint8_t *src = plain;
	uint8_t flags = final ? FRAME_F_FINAL : 0;
	size_t dlen = plen;
	size_t clen = 0;
	int err;

	if (!ctx || !out || !out_len || (plen > 0 && !plain) ||
	    plen > ctx->frame_size || (!final && plen != ctx->frame_size) ||
	    index >= FRAME_INDEX_MAX)
		return -EINVAL;

	/* Compress straight into the output, then encrypt in place. */
	err = compress_frame(ctx, plain, plen, data, &clen);
	if (err)
		return err;
	if (clen > 0) {
		flags |= FRAME_F_COMPRESSED;
		src = data;
		dlen = clen;
	}

	put_be32(hdr, (uint32_t)plen);
	put_be32(hdr + 4, (uint32_t)(FRAME_HDR_SIZE + dlen + FRAME_TAG_SIZE));
	hdr[8] = flags;
	hdr[9] = 0;
	hdr[10] = 0;
	hdr[11] = 0;
	frame_nonce(nonce, 0, index);
	err = gcm_seal(ctx->okey, nonce, ctx->header, FRAME_HEADER_SIZE, hdr,
		       FRAME_HDR_SIZE, src, dlen, data, data + dlen);
	if (err)
		return err;
	*out_len = FRAME_HDR_SIZE + dlen + FRAME_TAG_SIZE;
	return 0;
}

int frame_peek(const struct frame_ctx *ctx, const void *hdr, uint32_t *plen,
	       uint32_t *stored_len)
{
	uint8_t flags;

	if (!ctx || !hdr || !plen || !stored_len)
		return -EBADMSG;
	return frame_hdr_parse(ctx, hdr, plen, stored_len, &flags);
}

int frame_open(const struct frame_ctx *ctx, uint64_t index, const void *in,
	       size_t in_len, void *plain, size_t *plen, bool *final)
{
	uint8_t nonce[FRAME_NONCE_SIZE];
	const uint8_t *hdr = in;
	const uint8_t *data = hdr + FRAME_HDR_SIZE;
	struct inflate_state *st;
	uint8_t *scratch;
	uint32_t pl;
	uint32_t sl;
	uint8_t flags;
	size_t dlen;
	int err;

	if (!ctx || !in || !plain || !plen || !final ||
	    in_len < FRAME_HDR_SIZE + FRAME_TAG_SIZE ||
	    index >= FRAME_INDEX_MAX)
		return -EBADMSG;
	err = frame_hdr_parse(ctx, hdr, &pl, &sl, &flags);
	if (err)
		return err;
	if (sl != in_len)
		return -EBADMSG;
	dlen = sl - FRAME_HDR_SIZE - FRAME_TAG_SIZE;
	frame_nonce(nonce, 0, index);

	if (!(flags & FRAME_F_COMPRESSED)) {
		err = gcm_open(ctx->okey, nonce, ctx->header, FRAME_HEADER_SIZE,
			       hdr, FRAME_HDR_SIZE, data, dlen, plain,
			       data + dlen);
		goto out_result;
	}

	/*
	 * Compressed: decrypt and verify into scratch first, so nothing
	 * unauthenticated is ever inflated or handed out.
	 */
	st = malloc(sizeof(*st) + dlen);
	if (!st)
		return -ENOMEM;
	scratch = (uint8_t *)(st + 1);
	err = gcm_open(ctx->okey, nonce, ctx->header, FRAME_HEADER_SIZE, hdr,
		       FRAME_HDR_SIZE, data, dlen, scratch, data + dlen);
	if (!err) {
		err = decompress_frame(ctx->comp, st, scratch, dlen, plain, pl);
		if (err)
			OPENSSL_cleanse(plain, pl);
	}
	OPENSSL_cleanse(scratch, dlen);
	free(st);
out_result:
	if (err)
		return err;
	*plen = pl;
	*final = (flags & FRAME_F_FINAL) != 0;
	return 0;
}

/* ---- index and footer ---- */

size_t frame_index_size(uint64_t nframes)
{
	return (size_t)nframes * 4 + FRAME_TAG_SIZE;
}

static void footer_write(uint8_t *f, uint64_t nframes, uint64_t plain_size,
			 uint32_t index_len)
{
	memcpy(f, FRAME_INDEX_MAGIC, 8);
	put_be64(f + 8, nframes);
	put_be64(f + 16, plain_size);
	put_be32(f + 24, index_len);
	memset(f + 28, 0, 4);
}

/* A plain size fits n frames if only the last one is short (or empty). */
static bool plain_size_fits(const struct frame_ctx *ctx, uint64_t nframes,
			    uint64_t plain_size)
{
	uint64_t fs = ctx->frame_size;

	return plain_size >= (nframes - 1) * fs && plain_size <= nframes * fs;
}

static bool stored_len_is_valid(const struct frame_ctx *ctx, uint32_t len)
{
	return len >= FRAME_HDR_SIZE + FRAME_TAG_SIZE &&
	       len <= frame_stored_bound(ctx);
}

int frame_index_seal(const struct frame_ctx *ctx, const uint32_t *lens,
		     uint64_t nframes, uint64_t plain_size, void *out,
		     size_t *out_len)
{
	uint8_t nonce[FRAME_NONCE_SIZE];
	uint8_t *o = out;
	uint8_t *footer;
	size_t ilen;
	uint64_t i;
	int err;

	if (!ctx || !lens || !out || !out_len || nframes == 0 ||
	    nframes > FRAME_NFRAMES_MAX ||
	    !plain_size_fits(ctx, nframes, plain_size))
		return -EINVAL;
	for (i = 0; i < nframes; i++) {
		if (!stored_len_is_valid(ctx, lens[i]))
			return -EINVAL;
		put_be32(o + 4 * i, lens[i]);
	}
	ilen = frame_index_size(nframes);
	footer = o + ilen;
	/* The footer is plaintext but authenticated as AAD. */
	footer_write(footer, nframes, plain_size, (uint32_t)ilen);
	frame_nonce(nonce, UINT32_MAX, nframes);
	err = gcm_seal(ctx->okey, nonce, ctx->header, FRAME_HEADER_SIZE, footer,
		       FRAME_FOOTER_SIZE, o, nframes * 4, o, o + nframes * 4);
	if (err)
		return err;
	*out_len = ilen + FRAME_FOOTER_SIZE;
	return 0;
}

int frame_footer_parse(const void *footer, struct frame_footer *out)
{
	const uint8_t *f = footer;
	uint64_t n;
	uint32_t ilen;

	if (!f || !out)
		return -EBADMSG;
	if (memcmp(f, FRAME_INDEX_MAGIC, 8) != 0 || !all_zero(f + 28, 4))
		return -EBADMSG;
	n = get_be64(f + 8);
	ilen = get_be32(f + 24);
	if (n == 0 || n > FRAME_NFRAMES_MAX || ilen != frame_index_size(n))
		return -EBADMSG;
	out->nframes = n;
	out->plain_size = get_be64(f + 16);
	out->index_len = ilen;
	return 0;
}

int frame_index_open(const struct frame_ctx *ctx, const struct frame_footer *ft,
		     const void *in, uint32_t *lens)
{
	uint8_t nonce[FRAME_NONCE_SIZE];
	const uint8_t *idx = in;
	const uint8_t *footer;
	struct frame_footer check;
	uint8_t *raw = (uint8_t *)lens;
	uint64_t i;
	int err;

	if (!ctx || !ft || !in || !lens ||
	    ft->index_len != frame_index_size(ft->nframes))
		return -EBADMSG;
	/* The footer bytes are what gets authenticated: they must agree. */
	footer = idx + ft->index_len;
	err = frame_footer_parse(footer, &check);
	if (err)
		return err;
	if (check.nframes != ft->nframes ||
	    check.plain_size != ft->plain_size ||
	    check.index_len != ft->index_len ||
	    !plain_size_fits(ctx, ft->nframes, ft->plain_size))
		return -EBADMSG;
	frame_nonce(nonce, UINT32_MAX, ft->nframes);
	err = gcm_open(ctx->okey, nonce, ctx->header, FRAME_HEADER_SIZE, footer,
		       FRAME_FOOTER_SIZE, idx, ft->nframes * 4, raw,
		       idx + ft->nframes * 4);
	if (err)
		return err;
	for (i = 0; i < ft->nframes; i++) {
		lens[i] = get_be32(raw + 4 * i);
		if (!stored_len_is_valid(ctx, lens[i])) {
			memset(lens, 0, ft->nframes * 4);
			return -EBADMSG;
		}
	}
	return 0;
}
