/*
 * test_frame_reject.c - unit tests of backends/frame.c, the tfs1 format:
 * every way a stored object can be wrong (wrong key, flipped bits, frames
 * moved, spliced or cut, malformed headers, footers and indexes, forged
 * compressed data) is rejected, and bad arguments to the writer are too.
 * The vectors and round trips are in test_frame.c; the shared helpers in
 * frame_fixture.h.
 */
#include "frame_fixture.h"

#include <lz4.h>
#include <lz4hc.h>
#include <zlib.h>

/* ---- every way an object can be wrong ---- */

static void test_open_wrong_key(void **state)
{
	struct frame_key key;
	struct frame_key other;
	uint8_t *obj;
	uint8_t *back;
	size_t olen;
	size_t blen;

	(void)state;
	derive(VEC_SECRET, &key);
	derive("another secret", &other);
	obj = unhex(vec2_object, &olen);
	assert_int_equal(decode(&other, obj, olen, &back, &blen),
			 -EKEYREJECTED);
	/* a different key that claims the same id still fails */
	memcpy(other.id, key.id, sizeof(key.id));
	assert_int_equal(decode(&other, obj, olen, &back, &blen), -EBADMSG);
	free(obj);
}

/* Flips every bit pattern @mask in every byte: nothing may decode. */
static void flip_every_byte(const char *hex, uint8_t mask)
{
	struct frame_key key;
	uint8_t *obj;
	uint8_t *back;
	size_t olen;
	size_t blen;
	size_t i;

	derive(VEC_SECRET, &key);
	obj = unhex(hex, &olen);
	for (i = 0; i < olen; i++) {
		int want = i >= 16 && i < 24 ? -EKEYREJECTED : -EBADMSG;

		obj[i] ^= mask;
		if (decode(&key, obj, olen, &back, &blen) != want)
			fail_msg("flipping byte %zu with %02x: not %d", i, mask,
				 want);
		obj[i] ^= mask;
	}
	assert_int_equal(decode(&key, obj, olen, &back, &blen), 0);
	free(back);
	free(obj);
}

static void test_bitflip_every_byte(void **state)
{
	(void)state;
	flip_every_byte(vec1_object, 0x01);
	flip_every_byte(vec2_object, 0x01);
	flip_every_byte(vec2_object, 0x80);
	flip_every_byte(vec3_object, 0x01);
	flip_every_byte(vec3_object, 0x80);
}

/* The same, region by region, through the API calls that must catch it. */
static void test_bitflip_regions(void **state)
{
	struct frame_ctx ctx;
	struct frame_footer ft;
	uint8_t *data;
	uint8_t *out;
	uint8_t *back;
	uint8_t idx[4 + 16 + 32];
	uint32_t len;
	uint32_t lens[1];
	size_t n;
	size_t blen;
	bool final;

	(void)state;
	data = one_frame_new(&ctx, FRAME_COMP_DEFLATE, false, &out, &back);
	assert_int_equal(frame_seal(&ctx, 0, true, data, 1000, out, &n), 0);

	/* frame header: plain_len (still plausible), then flags */
	out[3] ^= 0x01;
	assert_int_equal(frame_open(&ctx, 0, out, n, back, &blen, &final),
			 -EBADMSG);
	out[3] ^= 0x01;
	out[8] ^= 0x02;
	assert_int_equal(frame_open(&ctx, 0, out, n, back, &blen, &final),
			 -EBADMSG);
	out[8] ^= 0x02;
	/* ciphertext, then tag */
	out[FRAME_HDR_SIZE] ^= 0x10;
	assert_int_equal(frame_open(&ctx, 0, out, n, back, &blen, &final),
			 -EBADMSG);
	out[FRAME_HDR_SIZE] ^= 0x10;
	out[n - 1] ^= 0x10;
	assert_int_equal(frame_open(&ctx, 0, out, n, back, &blen, &final),
			 -EBADMSG);
	out[n - 1] ^= 0x10;
	/* the object header is authenticated with every frame */
	ctx.header[30] ^= 0x01;
	assert_int_equal(frame_open(&ctx, 0, out, n, back, &blen, &final),
			 -EBADMSG);
	ctx.header[30] ^= 0x01;
	assert_int_equal(frame_open(&ctx, 0, out, n, back, &blen, &final), 0);
	assert_int_equal(blen, 1000);
	assert_memory_equal(back, data, 1000);

	/* index ciphertext, index tag, footer plain_size */
	len = (uint32_t)n;
	assert_int_equal(frame_index_seal(&ctx, &len, 1, 1000, idx, &n), 0);
	assert_int_equal(frame_footer_parse(idx + 20, &ft), 0);
	idx[0] ^= 0x01;
	assert_int_equal(frame_index_open(&ctx, &ft, idx, lens), -EBADMSG);
	idx[0] ^= 0x01;
	idx[19] ^= 0x01;
	assert_int_equal(frame_index_open(&ctx, &ft, idx, lens), -EBADMSG);
	idx[19] ^= 0x01;
	idx[20 + 23] ^= 0x01; /* plain_size 1000 -> 1001 */
	assert_int_equal(frame_footer_parse(idx + 20, &ft), 0);
	assert_int_equal(ft.plain_size, 1001);
	assert_int_equal(frame_index_open(&ctx, &ft, idx, lens), -EBADMSG);
	idx[20 + 23] ^= 0x01;
	assert_int_equal(frame_footer_parse(idx + 20, &ft), 0);
	/* a footer struct that disagrees with the footer bytes */
	ft.plain_size = 999;
	assert_int_equal(frame_index_open(&ctx, &ft, idx, lens), -EBADMSG);
	ft.plain_size = 1000;
	assert_int_equal(frame_index_open(&ctx, &ft, idx, lens), 0);
	assert_int_equal(lens[0], len);
	one_frame_free(&ctx, data, out, back);
}

static void test_open_wrong_index(void **state)
{
	struct frame_ctx ctx;
	uint8_t *data;
	uint8_t *out;
	uint8_t *back;
	size_t n;
	size_t blen;
	bool final;

	(void)state;
	data = one_frame_new(&ctx, FRAME_COMP_DEFLATE, false, &out, &back);
	assert_int_equal(frame_seal(&ctx, 5, false, data, VEC_FS, out, &n), 0);
	assert_int_equal(frame_open(&ctx, 4, out, n, back, &blen, &final),
			 -EBADMSG);
	assert_int_equal(frame_open(&ctx, 6, out, n, back, &blen, &final),
			 -EBADMSG);
	assert_int_equal(frame_open(&ctx, 5 + (UINT64_C(1) << 32), out, n, back,
				    &blen, &final),
			 -EBADMSG);
	assert_int_equal(frame_open(&ctx, 5, out, n, back, &blen, &final), 0);
	/* in_len must be the stored length */
	assert_int_equal(frame_open(&ctx, 5, out, n - 1, back, &blen, &final),
			 -EBADMSG);
	one_frame_free(&ctx, data, out, back);
}

static void test_open_final_flag_changed(void **state)
{
	struct frame_ctx ctx;
	uint8_t *data;
	uint8_t *out;
	uint8_t *back;
	uint32_t plen;
	uint32_t slen;
	size_t n;
	size_t blen;
	bool final;

	(void)state;
	data = one_frame_new(&ctx, FRAME_COMP_DEFLATE, false, &out, &back);

	/* a full final frame with its final flag dropped */
	assert_int_equal(frame_seal(&ctx, 2, true, data, VEC_FS, out, &n), 0);
	out[8] &= (uint8_t)~1;
	assert_int_equal(frame_peek(&ctx, out, &plen, &slen), 0);
	assert_int_equal(frame_open(&ctx, 2, out, n, back, &blen, &final),
			 -EBADMSG);
	out[8] |= 1;
	assert_int_equal(frame_open(&ctx, 2, out, n, back, &blen, &final), 0);
	assert_true(final);

	/* a non-final frame claiming to be the last */
	assert_int_equal(frame_seal(&ctx, 1, false, data, VEC_FS, out, &n), 0);
	out[8] |= 1;
	assert_int_equal(frame_open(&ctx, 1, out, n, back, &blen, &final),
			 -EBADMSG);

	/* a short frame without the final flag is malformed on sight */
	assert_int_equal(frame_seal(&ctx, 1, true, data, 10, out, &n), 0);
	out[8] &= (uint8_t)~1;
	assert_int_equal(frame_peek(&ctx, out, &plen, &slen), -EBADMSG);
	assert_int_equal(frame_open(&ctx, 1, out, n, back, &blen, &final),
			 -EBADMSG);
	one_frame_free(&ctx, data, out, back);
}

static void test_open_reordered_frames(void **state)
{
	struct frame_key key;
	uint8_t *obj;
	uint8_t *back;
	uint8_t tmp[0x9d];
	size_t olen;
	size_t blen;

	(void)state;
	derive(VEC_SECRET, &key);
	obj = unhex(vec3_object, &olen);
	/* frames 0 and 1 of vector 3 are both 0x9d bytes: swap them */
	memcpy(tmp, obj + 64, sizeof(tmp));
	memmove(obj + 64, obj + 64 + 0x9d, 0x9d);
	memcpy(obj + 64 + 0x9d, tmp, sizeof(tmp));
	assert_int_equal(decode(&key, obj, olen, &back, &blen), -EBADMSG);
	free(obj);
}

static void test_open_spliced_from_other_object(void **state)
{
	struct frame_key key;
	uint8_t salt[FRAME_SALT_SIZE];
	uint8_t *obj;
	uint8_t *other;
	uint8_t *back;
	size_t olen;
	size_t other_len;
	size_t blen;

	(void)state;
	derive(VEC_SECRET, &key);
	obj = unhex(vec2_object, &olen);
	/* the same plain text under the same key, another salt */
	vec_salt(salt);
	salt[0] ^= 1;
	encode(&key, salt, FRAME_COMP_DEFLATE, 1, VEC_FS,
	       (const uint8_t *)"hello\n", 6, &other, &other_len, NULL);
	assert_int_equal(other_len, olen);
	memcpy(obj + 64, other + 64, 0x22); /* its one frame */
	assert_int_equal(decode(&key, obj, olen, &back, &blen), -EBADMSG);
	free(other);
	free(obj);
}

static void test_open_truncated_object(void **state)
{
	struct frame_key key;
	uint8_t *obj;
	uint8_t *back;
	size_t olen;
	size_t blen;
	size_t cut;

	(void)state;
	derive(VEC_SECRET, &key);
	obj = unhex(vec3_object, &olen);
	for (cut = 0; cut < olen; cut++) {
		int err = decode(&key, obj, cut, &back, &blen);

		if (err != -EBADMSG)
			fail_msg("object cut to %zu bytes: %d", cut, err);
	}
	free(obj);
}

static void test_index_truncated(void **state)
{
	struct frame_key key;
	struct frame_ctx ctx;
	struct frame_footer ft;
	uint8_t *obj;
	uint8_t foot[FRAME_FOOTER_SIZE];
	uint8_t fake[24 + FRAME_FOOTER_SIZE];
	uint32_t lens[3];
	size_t olen;
	const uint8_t *idx;

	(void)state;
	derive(VEC_SECRET, &key);
	obj = unhex(vec3_object, &olen);
	assert_int_equal(frame_ctx_init_from_header(&ctx, &key, obj, olen), 0);
	idx = obj + olen - 32 - 28;
	assert_int_equal(frame_footer_parse(obj + olen - 32, &ft), 0);
	assert_int_equal(ft.nframes, 3);

	/* a footer whose index_len disagrees with nframes */
	memcpy(foot, obj + olen - 32, sizeof(foot));
	foot[27] = 24;
	assert_int_equal(frame_footer_parse(foot, &ft), -EBADMSG);
	/* nframes 0, unknown magic, reserved bytes */
	memcpy(foot, obj + olen - 32, sizeof(foot));
	foot[15] = 0;
	foot[27] = 16;
	assert_int_equal(frame_footer_parse(foot, &ft), -EBADMSG);
	memcpy(foot, obj + olen - 32, sizeof(foot));
	foot[0] = 't';
	assert_int_equal(frame_footer_parse(foot, &ft), -EBADMSG);
	memcpy(foot, obj + olen - 32, sizeof(foot));
	foot[31] = 1;
	assert_int_equal(frame_footer_parse(foot, &ft), -EBADMSG);

	/* a consistent footer claiming 2 frames over the 3-frame index */
	memcpy(foot, obj + olen - 32, sizeof(foot));
	foot[15] = 2;
	foot[22] = 0x10; /* plain size 4096: fits 2 frames */
	foot[23] = 0x00;
	foot[27] = 24;
	assert_int_equal(frame_footer_parse(foot, &ft), 0);
	memcpy(fake, idx + 4, 24);
	memcpy(fake + 24, foot, 32);
	assert_int_equal(frame_index_open(&ctx, &ft, fake, lens), -EBADMSG);
	frame_ctx_release(&ctx);
	free(obj);
}

static void test_header_rejects(void **state)
{
	struct frame_key key;
	struct frame_ctx ctx;
	uint8_t *obj;
	uint8_t h[FRAME_HEADER_SIZE];
	size_t olen;
	size_t i;
	static const struct {
		size_t off;
		uint8_t val;
	} bad[] = {
		{ 0, 'X' },		 /* magic */
		{ 7, 0x02 },		 /* magic's version byte */
		{ 8, 2 },		 /* version */
		{ 8, 0 },     { 9, 3 },	 /* compression */
		{ 10, 0 },		 /* aead */
		{ 10, 2 },    { 11, 1 }, /* flags */
		{ 12, 0x02 },		 /* frame size 32 MiB + 4 KiB */
		{ 13, 0x01 },		 /* 68 KiB */
		{ 14, 0x08 },		 /* frame size 2 KiB */
		{ 14, 0x30 },		 /* 12 KiB: not a power of two */
		{ 15, 0x01 }, { 40, 1 }, /* reserved */
		{ 63, 0x80 },
	};

	(void)state;
	derive(VEC_SECRET, &key);
	obj = unhex(vec2_object, &olen);
	assert_int_equal(frame_ctx_init_from_header(&ctx, &key, obj, 64), 0);
	assert_int_equal(ctx.frame_size, VEC_FS);
	assert_int_equal(ctx.comp, FRAME_COMP_DEFLATE);
	frame_ctx_release(&ctx);
	assert_int_equal(frame_ctx_init_from_header(&ctx, &key, obj, 63),
			 -EBADMSG);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(h, obj, sizeof(h));
		h[bad[i].off] = bad[i].val;
		if (frame_ctx_init_from_header(&ctx, &key, h, sizeof(h)) !=
		    -EBADMSG)
			fail_msg("header byte %zu = %02x accepted", bad[i].off,
				 bad[i].val);
	}
	/* 32 MiB is too large; 16 MiB, the largest, is fine */
	memcpy(h, obj, sizeof(h));
	h[12] = 0x02;
	h[14] = 0x00;
	assert_int_equal(frame_ctx_init_from_header(&ctx, &key, h, sizeof(h)),
			 -EBADMSG);
	h[12] = 0x01;
	assert_int_equal(frame_ctx_init_from_header(&ctx, &key, h, sizeof(h)),
			 0);
	assert_int_equal(ctx.frame_size, FRAME_SIZE_MAX);
	frame_ctx_release(&ctx);
	free(obj);
}

static void test_init_new_rejects(void **state)
{
	struct frame_key key;
	struct frame_ctx ctx;
	uint8_t salt[FRAME_SALT_SIZE];

	(void)state;
	vec_key_salt(&key, salt);
	assert_int_equal(frame_ctx_init_new(&ctx, &key, FRAME_COMP_NONE, 0,
					    FRAME_SIZE_MIN / 2, salt),
			 -EINVAL);
	assert_int_equal(frame_ctx_init_new(&ctx, &key, FRAME_COMP_NONE, 0,
					    FRAME_SIZE_MAX * 2, salt),
			 -EINVAL);
	assert_int_equal(frame_ctx_init_new(&ctx, &key, FRAME_COMP_NONE, 0,
					    3 * 4096, salt),
			 -EINVAL);
	assert_int_equal(frame_ctx_init_new(&ctx, &key,
					    (enum frame_compression)7, 1,
					    VEC_FS, salt),
			 -EINVAL);
	assert_int_equal(frame_ctx_init_new(&ctx, &key, FRAME_COMP_DEFLATE, 0,
					    VEC_FS, salt),
			 -EINVAL);
	assert_int_equal(
		frame_ctx_init_new(&ctx, &key, FRAME_COMP_LZ4, 0, VEC_FS, salt),
		-EINVAL);
	assert_int_equal(frame_ctx_init_new(&ctx, &key, FRAME_COMP_NONE, 0,
					    VEC_FS, NULL),
			 -EINVAL);
	/* levels above ISA-L's highest mean the highest */
	assert_int_equal(frame_ctx_init_new(&ctx, &key, FRAME_COMP_DEFLATE, 9,
					    VEC_FS, salt),
			 0);
	assert_int_equal(ctx.level, 3);
	frame_ctx_release(&ctx);
}

static void test_seal_rejects(void **state)
{
	struct frame_ctx ctx;
	uint8_t *data = malloc(VEC_FS + 1);
	uint8_t *out;
	size_t n;

	(void)state;
	assert_non_null(data);
	memset(data, 'a', VEC_FS + 1);
	ctx_new(&ctx, FRAME_COMP_DEFLATE);
	out = malloc(frame_stored_bound(&ctx));
	assert_non_null(out);
	assert_int_equal(frame_seal(&ctx, 0, true, data, VEC_FS + 1, out, &n),
			 -EINVAL);
	assert_int_equal(frame_seal(&ctx, 0, false, data, VEC_FS - 1, out, &n),
			 -EINVAL);
	assert_int_equal(
		frame_seal(&ctx, UINT64_C(1) << 63, true, data, 1, out, &n),
		-EINVAL);
	assert_int_equal(frame_seal(&ctx, (UINT64_C(1) << 63) - 1, true, data,
				    1, out, &n),
			 0);
	free(out);
	free(data);
	frame_ctx_release(&ctx);
}

static void test_index_seal_rejects(void **state)
{
	struct frame_ctx ctx;
	uint8_t out[3 * 4 + 16 + 32];
	uint32_t lens[3] = { 100, 100, 100 };
	size_t bound;
	size_t n;

	(void)state;
	ctx_new(&ctx, FRAME_COMP_NONE);
	bound = frame_stored_bound(&ctx);
	assert_int_equal(bound, FRAME_HDR_SIZE + VEC_FS + FRAME_TAG_SIZE);
	assert_int_equal(frame_index_size(3), 28);
	assert_int_equal(frame_index_seal(&ctx, lens, 0, 0, out, &n), -EINVAL);
	assert_int_equal(
		frame_index_seal(&ctx, lens, 3, 3 * VEC_FS + 1, out, &n),
		-EINVAL);
	assert_int_equal(
		frame_index_seal(&ctx, lens, 3, 2 * VEC_FS - 1, out, &n),
		-EINVAL);
	lens[1] = FRAME_HDR_SIZE + FRAME_TAG_SIZE - 1;
	assert_int_equal(frame_index_seal(&ctx, lens, 3, 2 * VEC_FS, out, &n),
			 -EINVAL);
	lens[1] = (uint32_t)bound + 1;
	assert_int_equal(frame_index_seal(&ctx, lens, 3, 2 * VEC_FS, out, &n),
			 -EINVAL);
	lens[1] = (uint32_t)bound;
	assert_int_equal(frame_index_seal(&ctx, lens, 3, 2 * VEC_FS, out, &n),
			 0);
	assert_int_equal(n, sizeof(out));
	frame_ctx_release(&ctx);
}

static void test_peek_rejects_malformed(void **state)
{
	struct frame_ctx ctx;
	struct frame_ctx none;
	uint8_t *data = malloc(VEC_FS);
	uint8_t *out;
	uint8_t h[FRAME_HDR_SIZE];
	uint32_t plen;
	uint32_t slen;
	size_t n;

	(void)state;
	assert_non_null(data);
	fill_pattern(data, VEC_FS);
	ctx_new(&ctx, FRAME_COMP_DEFLATE);
	ctx_new(&none, FRAME_COMP_NONE);
	out = malloc(frame_stored_bound(&ctx));
	assert_non_null(out);
	assert_int_equal(frame_seal(&ctx, 0, true, data, 3000, out, &n), 0);
	assert_int_equal(frame_peek(&ctx, out, &plen, &slen), 0);
	assert_int_equal(plen, 3000);
	assert_int_equal(slen, n);
	/* a compressed frame in an object that says "no compression" */
	assert_int_equal(frame_peek(&none, out, &plen, &slen), -EBADMSG);

	memcpy(h, out, sizeof(h));
	h[8] |= 0x04; /* unknown flag */
	assert_int_equal(frame_peek(&ctx, h, &plen, &slen), -EBADMSG);
	memcpy(h, out, sizeof(h));
	h[11] = 1; /* reserved */
	assert_int_equal(frame_peek(&ctx, h, &plen, &slen), -EBADMSG);
	memcpy(h, out, sizeof(h));
	h[2] = 0x10; /* plain_len > frame_size */
	h[3] = 0x01;
	assert_int_equal(frame_peek(&ctx, h, &plen, &slen), -EBADMSG);
	memcpy(h, out, sizeof(h));
	memset(h + 4, 0, 4);
	h[7] = 27; /* stored_len below the minimum */
	assert_int_equal(frame_peek(&ctx, h, &plen, &slen), -EBADMSG);
	h[6] = 0x10; /* stored_len above the bound */
	h[7] = 29;
	assert_int_equal(frame_peek(&ctx, h, &plen, &slen), -EBADMSG);
	memcpy(h, out, sizeof(h));
	h[8] &= (uint8_t)~2; /* raw, but lengths disagree */
	assert_int_equal(frame_peek(&ctx, h, &plen, &slen), -EBADMSG);
	free(out);
	free(data);
	frame_ctx_release(&ctx);
	frame_ctx_release(&none);
}

/* ---- forged compressed frames ---- */

/*
 * Seals @data (@dlen bytes) as frame 0 with the given header fields, by
 * hand from the FORMAT.md rules: authenticated but possibly nonsense.
 */
static size_t forge_frame(const struct frame_ctx *ctx, uint32_t plen,
			  uint8_t flags, const uint8_t *data, size_t dlen,
			  uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint32_t slen = (uint32_t)(12 + dlen + 16);
	uint8_t nonce[12] = { 0 };
	int n;

	assert_non_null(c);
	out[0] = (uint8_t)(plen >> 24);
	out[1] = (uint8_t)(plen >> 16);
	out[2] = (uint8_t)(plen >> 8);
	out[3] = (uint8_t)plen;
	out[4] = (uint8_t)(slen >> 24);
	out[5] = (uint8_t)(slen >> 16);
	out[6] = (uint8_t)(slen >> 8);
	out[7] = (uint8_t)slen;
	out[8] = flags;
	memset(out + 9, 0, 3);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL,
					    ctx->okey, nonce),
			 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, ctx->header, 64), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, out, 12), 1);
	assert_int_equal(EVP_EncryptUpdate(c, out + 12, &n, data, (int)dlen),
			 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, out + 12 + dlen, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16,
					     out + 12 + dlen),
			 1);
	EVP_CIPHER_CTX_free(c);
	return slen;
}

/* Raw deflate of @len bytes with zlib; returns the compressed length. */
static size_t zdeflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(
		deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY),
		Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	deflateEnd(&zs);
	return zs.total_out;
}

/* A frame forged from @z (authentic, flags final | compressed) fails. */
static void assert_forged_fails(const struct frame_ctx *ctx, uint32_t plen,
				const uint8_t *z, size_t zlen, uint8_t *out,
				uint8_t *back)
{
	size_t slen = forge_frame(ctx, plen, 3, z, zlen, out);
	size_t blen;
	bool final;

	assert_int_equal(frame_open(ctx, 0, out, slen, back, &blen, &final),
			 -EBADMSG);
}

/* Nothing decoded is left in the first 2000 bytes of @back (0x55 before). */
static void assert_nothing_left(const uint8_t *back)
{
	size_t i;

	for (i = 0; i < 2000; i++)
		if (back[i] != 0 && back[i] != 0x55)
			fail_msg("output byte %zu left after a failure", i);
}

/* The open-bad-data tests: a context, the plain pattern and buffers. */
struct forge_fx {
	struct frame_ctx ctx;
	uint8_t *data; /* VEC_FS bytes of the pattern */
	uint8_t *back; /* VEC_FS bytes of output */
	uint8_t *out;  /* one stored frame */
};

static void forge_fx_new(struct forge_fx *fx, enum frame_compression comp)
{
	fx->data = malloc(VEC_FS);
	fx->back = malloc(VEC_FS);
	assert_non_null(fx->data);
	assert_non_null(fx->back);
	fill_pattern(fx->data, VEC_FS);
	ctx_new(&fx->ctx, comp);
	fx->out = malloc(frame_stored_bound(&fx->ctx));
	assert_non_null(fx->out);
}

static void forge_fx_free(struct forge_fx *fx)
{
	free(fx->out);
	free(fx->back);
	free(fx->data);
	frame_ctx_release(&fx->ctx);
}

/*
 * A frame forged from @z, another encoder's output for the first 2000
 * bytes of the pattern, opens to them; then @back is set to 0x55 so that
 * assert_nothing_left() can tell what failures leave.
 */
static void assert_forged_opens(struct forge_fx *fx, const uint8_t *z,
				size_t zlen)
{
	size_t slen = forge_frame(&fx->ctx, 2000, 3, z, zlen, fx->out);
	size_t blen;
	bool final;

	assert_int_equal(
		frame_open(&fx->ctx, 0, fx->out, slen, fx->back, &blen, &final),
		0);
	assert_int_equal(blen, 2000);
	assert_memory_equal(fx->back, fx->data, 2000);
	memset(fx->back, 0x55, VEC_FS);
}

static void test_open_bad_deflate(void **state)
{
	struct forge_fx fx;
	uint8_t z[VEC_FS];
	size_t zlen;

	(void)state;
	forge_fx_new(&fx, FRAME_COMP_DEFLATE);
	/* another deflate encoder's output is read fine */
	zlen = zdeflate(fx.data, 2000, z, sizeof(z));
	assert_forged_opens(&fx, z, zlen);

	/* authenticated, but the stream is longer than plain_len says */
	assert_forged_fails(&fx.ctx, 1999, z, zlen, fx.out, fx.back);
	/* or shorter */
	assert_forged_fails(&fx.ctx, 2001, z, zlen, fx.out, fx.back);
	/* trailing bytes after the end of the deflate stream */
	z[zlen] = 0;
	assert_forged_fails(&fx.ctx, 2000, z, zlen + 1, fx.out, fx.back);
	/* not deflate at all (reserved block type 3) */
	memset(z, 0xff, 100);
	assert_forged_fails(&fx.ctx, 2000, z, 100, fx.out, fx.back);
	assert_nothing_left(fx.back);
	forge_fx_free(&fx);
}

static void test_open_bad_lz4(void **state)
{
	struct forge_fx fx;
	uint8_t z[VEC_FS];
	int zlen;

	(void)state;
	forge_fx_new(&fx, FRAME_COMP_LZ4);
	/* another LZ4 encoder (high compression) is read fine */
	zlen = LZ4_compress_HC((const char *)fx.data, (char *)z, 2000,
			       sizeof(z), 9);
	assert_true(zlen > 0);
	assert_forged_opens(&fx, z, (size_t)zlen);

	/* authenticated, but the block decodes to more than plain_len */
	assert_forged_fails(&fx.ctx, 1999, z, (size_t)zlen, fx.out, fx.back);
	/* or to less */
	assert_forged_fails(&fx.ctx, 2001, z, (size_t)zlen, fx.out, fx.back);
	/* cut short */
	assert_forged_fails(&fx.ctx, 2000, z, (size_t)zlen - 1, fx.out,
			    fx.back);
	/* not LZ4: a match offset pointing before the output's start */
	z[0] = 0x0f;
	memset(z + 1, 0xff, 99);
	assert_forged_fails(&fx.ctx, 2000, z, 100, fx.out, fx.back);
	assert_nothing_left(fx.back);
	forge_fx_free(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_wrong_key),
		cmocka_unit_test(test_bitflip_every_byte),
		cmocka_unit_test(test_bitflip_regions),
		cmocka_unit_test(test_open_wrong_index),
		cmocka_unit_test(test_open_final_flag_changed),
		cmocka_unit_test(test_open_reordered_frames),
		cmocka_unit_test(test_open_spliced_from_other_object),
		cmocka_unit_test(test_open_truncated_object),
		cmocka_unit_test(test_index_truncated),
		cmocka_unit_test(test_header_rejects),
		cmocka_unit_test(test_init_new_rejects),
		cmocka_unit_test(test_seal_rejects),
		cmocka_unit_test(test_index_seal_rejects),
		cmocka_unit_test(test_peek_rejects_malformed),
		cmocka_unit_test(test_open_bad_deflate),
		cmocka_unit_test(test_open_bad_lz4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
