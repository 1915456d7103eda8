/*
 * frame_fixture.h - what the tfs1 unit tests share (test_frame.c and
 * test_frame_reject.c): the test vectors of docs/FORMAT.md as hex, a
 * hex decoder, key derivation, encode() and decode(), which write and
 * read a whole object the way FORMAT.md says, and the one-frame context
 * and buffers of the API-level tests.
 *
 * Included by exactly one .c per test binary (the Makefile links each
 * tests/unit/test_*.c alone with libtrovefs.a), so everything here is
 * static; functions are static inline so a file that leaves one unused
 * still builds with -Werror (unused static const data in a header draws
 * no warning). The helpers fail the test on any error they meet, except
 * decode(), which returns the first error to check.
 */
#ifndef TESTS_UNIT_FRAME_FIXTURE_H
#define TESTS_UNIT_FRAME_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "../../backends/frame.h"
#include "frame_vec.h"

#define VEC_FS 4096u

/* ---- the vectors of docs/FORMAT.md ---- */

static const char vec_master_key[] =
	"1f4fbea17cfdcdcc5295a5581bf8f12f4968ea4accbfc0600ebbe82f0fc96002";
static const char vec_key_id[] = "d987ab2dce1d250e";
static const char vec_object_key[] =
	"38b2759be936a2e8186ce1de3411c4a6249554f2aae21489173933fd4b1f3f02";

static const char vec1_object[] =
	"54524f56454653010100010000001000d987ab2dce1d250e0001020304050607"
	"08090a0b0c0d0e0f000000000000000000000000000000000000000000000000"
	"000000000000001c0100000078cfd94754544e2d03d6f40d33e056fde57fa94a"
	"a6706080ac372cfe47fa96f5ae9575b9544653494e4445580000000000000001"
	"00000000000000000000001400000000";
static const char vec1_check[] =
	"22a8be50f38f9abb9dec25f66d44182d75021b099d2963fa3b477fe8838cc2a9";

static const char vec2_object[] =
	"54524f56454653010101010000001000d987ab2dce1d250e0001020304050607"
	"08090a0b0c0d0e0f000000000000000000000000000000000000000000000000"
	"0000000600000022010000000fb21cabb7defd93d8576f84524a4efde48a7d52"
	"4332e57fa974fce6f89bfd19e42de5c7c4151ac021a3544653494e4445580000"
	"00000000000100000000000000060000001400000000";
static const char vec2_check[] =
	"08ff211fe0df0da0c14f509190f24f38218839143362f641666597d55de58eb5";

static const char vec3_object[] =
	"54524f56454653010101010000001000d987ab2dce1d250e0001020304050607"
	"08090a0b0c0d0e0f000000000000000000000000000000000000000000000000"
	"000010000000009d020000008a02d7c61bd42a1fd4229b3411f76c95b11d2b47"
	"b63023f9d2789014cb99065fb4d648f9054f20e05134bfdc51e76f52a4a5366f"
	"5f0ae28434f4fb8a99ff22243575b21af9148f34f3772366a8e6dd72eb1c723b"
	"d73004891d19a2968fdacb244072e8d41168c02f78b3dcac29fa285f32a61b1c"
	"957281b7c80338afd517262a6e0e3c42a503a6f5d9c1a3bb6e37f1a582000010"
	"000000009d020000003996aae1309138942272553087d9d43338e82a01cc9a73"
	"e49ff6fce2907e69c68994e4c3a7fee8f45edbf1693c22ad9e666d6ad72f3afd"
	"2e8f597d4ba8f4882be8ac137fcdd44a325fe77d3b0e05d5e8b4a282d44e2a9f"
	"6aa8767a00dfd5fe3ad6fb37531cd1ac168925a5f86810b8a12c17cdfa387284"
	"bf68f32049f3389e8c94a3baf6dcadf3b304b046572860350bfe000007100000"
	"008b03000000eacd6f058813c69d20940c100db4802fa98d855dce9a45ff2515"
	"602573978da92a07f47875d8ac1218802dc69c0f9590e84f849a3ddb9a576c74"
	"1a22c0cd1dcc06914d5f1c9a3958c82c4a63709cb77919ae7d0ee4f61751f6aa"
	"644f2aecfb297c0e400db5c0bbe9a3053d397b8705f66d17b502a29b74e7ae93"
	"21098d3e17b07885ce8d21473db73c88a68a537e9e390479422d6fc671b5f403"
	"ad544653494e444558000000000000000300000000000027100000001c000000"
	"00";
static const char vec3_check[] =
	"f6334fe71874a2191ecb16d77ebffc05263dab1ec5cfe484b71ac32419f400d5";

/* vector 4: the pattern of vector 3 in LZ4 frames (compression 2) */
static const char vec4_object[] =
	"54524f56454653010102010000001000d987ab2dce1d250e0001020304050607"
	"08090a0b0c0d0e0f000000000000000000000000000000000000000000000000"
	"00001000000001460200000098dc11a5bbb0437ce234a9e44175bcb641603845"
	"e5000ef53a5e7b08a8c85fb51983f3af328153c1e6eeb81ac09464a2781b3c10"
	"551b96e900429c53989409a10c64f8580260e42b77255a11f73ffc13cbf6458e"
	"2050deae7c2549d197ec811c4d099f643c677c77a299b97b01934d76e0b5c191"
	"cb369f67da7eb5a31260afc861b06e6c891ab51c943568da186a79e063ca1822"
	"417c92283b61a612c8da61b81acbda72565077466318c69bcc99b25dd6a691af"
	"3c4bc4493275539b39484286b663e6a2318f618df630a4eacd2826b34c3b345d"
	"5e10dc427deaf5ce0805a8247bb6aeed630483f71f94bbfea9442362da1afaf8"
	"2bc2fbb192326b3b0af5e5a938dc6249845819acf5cd17a0e4200719f0b6c53f"
	"7bb6e4d30ca8e2069417bf66fa349cbb044c89a57c750363c055ac22461fdc67"
	"c617a3c2a51d0000100000000140020000002b48748e52f24b3417ba1c25d754"
	"e3e27e3e2251df587876895d44bdc3cdd3f1280c8d76d6da4f8a2814060f93f8"
	"273de9123e8fc92d4d2d421b6d74c656969cdb23d1527b9ebd4134def89c108f"
	"943b8da1b372a335e6a8716f042dd149e743ef232e0d48317b257f6b7231e309"
	"62234c51fa577623188824bf01dc04595b649cab7ac48ef102b9bfdbcfedef79"
	"0e64fade24fb45d7af1ba298f8f67791662e8b72fcbbdba95bbe5931db93b1d7"
	"bb17362b33416d6f36883faa04aa723a16a73b3135744aa54efd0fe6c3512bca"
	"580edd48ae4983fdb0bf7308c5e9888eff46e10082b0a6445c71f9d261242740"
	"55d0c629ae3881bfb00b6f51b963b00543d00554715e292fe0cc777e17f47c2a"
	"3b5be09e4d60765a4039f1e22aefe7a350c56ab457f10fb27750c7c937a1972b"
	"d96b484d7003000007100000014e03000000c3133f6f3529a73b035e360cbde5"
	"0eb1b892bf6ebcfa06133fcdf6ef87b35697c38c48ddd26e40ba0410e4b34adf"
	"a2efffdf871717e65456584f31e12b77f80e2396ca7dfa33f969183348176e70"
	"39e65f667906f1e9497298228256f70079735460ebbdafa66ce07b3f51d1b4ed"
	"395b469b2085fca5458fc880a1882ac8c77d6d10cdf36acdac4059f56f01bdb1"
	"f00b6749a1cba80a20ae83d2f05b558be621771a01e39ee011f730963a836599"
	"95eaa0bf9306860633218a7e3466ea40428e97d6855ddc9c2850579861104865"
	"ad7a9c7161bf97b65a8b53dd0edca164b25dbf4306f10ca89e10b2914b5655fd"
	"ef0e90372956f7a6d84fad562cd3f4e84d70d062e74c4baafa83e1404b96c1da"
	"9cf9c4c173dd298345647c2181b5b4360b8cce63954d7d98ededb57a43db08fe"
	"d96575d139b2a4ffb70670627755f089841d05c9b07884158d2146e0b73c8963"
	"43ac5e74ff8a4015f4f48ec7de682e45544653494e4445580000000000000003"
	"00000000000027100000001c00000000";
static const char vec4_check[] =
	"329cfd06bcdebdd5244f977959dfecf9becc35181a2f9fc66f68258d399fc508";

/* ---- helpers ---- */

static inline int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	fail_msg("not a lowercase hex digit: '%c'", c);
	return 0;
}

/* Decodes hex (no separators) into a new buffer; the caller frees it. */
static inline uint8_t *unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *p = malloc(n ? n : 1);
	size_t i;

	assert_non_null(p);
	assert_int_equal(strlen(hex) % 2, 0);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(hex_nibble(hex[2 * i]) << 4 |
				 hex_nibble(hex[2 * i + 1]));
	*len = n;
	return p;
}

/* Incompressible but reproducible bytes (xorshift64). */
static inline void fill_random(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 32);
	}
}

static inline void derive(const char *secret, struct frame_key *key)
{
	assert_int_equal(frame_key_derive(secret, strlen(secret), key), 0);
}

/* The vectors' key (from VEC_SECRET) and salt. */
static inline void vec_key_salt(struct frame_key *key,
				uint8_t salt[FRAME_SALT_SIZE])
{
	derive(VEC_SECRET, key);
	vec_salt(salt);
}

/*
 * Encodes @len bytes as the codec does: header, frames, index, footer.
 * *@obj is the caller's to free. *@check = SHA-256 over the frame tags.
 */
static inline void encode(const struct frame_key *key, const uint8_t *salt,
			  enum frame_compression comp, int level, uint32_t fs,
			  const uint8_t *data, size_t len, uint8_t **obj,
			  size_t *obj_len, uint8_t *check)
{
	uint64_t n = len ? (len + fs - 1) / fs : 1;
	struct frame_ctx ctx;
	EVP_MD_CTX *md;
	uint32_t *lens;
	uint8_t *o;
	size_t off = FRAME_HEADER_SIZE;
	size_t got;
	uint64_t i;

	assert_int_equal(frame_ctx_init_new(&ctx, key, comp, level, fs, salt),
			 0);
	o = malloc(FRAME_HEADER_SIZE + n * frame_stored_bound(&ctx) +
		   frame_index_size(n) + FRAME_FOOTER_SIZE);
	lens = calloc(n, sizeof(*lens));
	md = EVP_MD_CTX_new();
	assert_non_null(o);
	assert_non_null(lens);
	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	memcpy(o, ctx.header, FRAME_HEADER_SIZE);
	for (i = 0; i < n; i++) {
		size_t start = i * fs;
		size_t plen = len - start < fs ? len - start : fs;

		assert_int_equal(frame_seal(&ctx, i, i + 1 == n, data + start,
					    plen, o + off, &got),
				 0);
		assert_true(got <= frame_stored_bound(&ctx));
		lens[i] = (uint32_t)got;
		assert_int_equal(EVP_DigestUpdate(md, o + off + got - 16, 16),
				 1);
		off += got;
	}
	assert_int_equal(frame_index_seal(&ctx, lens, n, len, o + off, &got),
			 0);
	assert_int_equal(got, frame_index_size(n) + FRAME_FOOTER_SIZE);
	off += got;
	if (check)
		assert_int_equal(EVP_DigestFinal_ex(md, check, NULL), 1);
	EVP_MD_CTX_free(md);
	free(lens);
	frame_ctx_release(&ctx);
	*obj = o;
	*obj_len = off;
}

/*
 * Reads a whole object the way FORMAT.md tells a reader to. Returns 0
 * (*@out is the caller's to free), or the first error.
 */
static inline int decode(const struct frame_key *key, const uint8_t *obj,
			 size_t len, uint8_t **out, size_t *out_len)
{
	struct frame_footer ft;
	struct frame_ctx ctx;
	uint32_t *lens = NULL;
	uint8_t *plain = NULL;
	size_t off = FRAME_HEADER_SIZE;
	size_t pos = 0;
	uint64_t sum = 0;
	uint64_t i;
	int err;

	if (len < FRAME_HEADER_SIZE + FRAME_FOOTER_SIZE)
		return -EBADMSG;
	err = frame_ctx_init_from_header(&ctx, key, obj, len);
	if (err)
		return err;
	err = frame_footer_parse(obj + len - FRAME_FOOTER_SIZE, &ft);
	if (err)
		goto out;
	if ((uint64_t)ft.index_len + FRAME_HEADER_SIZE + FRAME_FOOTER_SIZE >
	    len) {
		err = -EBADMSG;
		goto out;
	}
	lens = calloc(ft.nframes, sizeof(*lens));
	plain = malloc(ft.nframes * ctx.frame_size);
	assert_non_null(lens);
	assert_non_null(plain);
	err = frame_index_open(
		&ctx, &ft, obj + len - FRAME_FOOTER_SIZE - ft.index_len, lens);
	if (err)
		goto out;
	for (i = 0; i < ft.nframes; i++)
		sum += lens[i];
	if (sum + FRAME_HEADER_SIZE + ft.index_len + FRAME_FOOTER_SIZE != len) {
		err = -EBADMSG;
		goto out;
	}
	for (i = 0; i < ft.nframes; i++) {
		uint32_t plen;
		uint32_t slen;
		size_t got;
		bool final;

		err = frame_peek(&ctx, obj + off, &plen, &slen);
		if (err)
			goto out;
		if (slen != lens[i]) {
			err = -EBADMSG;
			goto out;
		}
		err = frame_open(&ctx, i, obj + off, slen, plain + pos, &got,
				 &final);
		if (err)
			goto out;
		assert_int_equal(got, plen);
		if (final != (i + 1 == ft.nframes)) {
			err = -EBADMSG;
			goto out;
		}
		pos += got;
		off += slen;
	}
	if (pos != ft.plain_size) {
		err = -EBADMSG;
		goto out;
	}
	*out = plain;
	*out_len = pos;
	plain = NULL;
out:
	free(plain);
	free(lens);
	frame_ctx_release(&ctx);
	return err;
}

/* A ready object context for the API-level tests; fs = VEC_FS. */
static inline void ctx_new(struct frame_ctx *ctx, enum frame_compression comp)
{
	struct frame_key key;
	uint8_t salt[FRAME_SALT_SIZE];

	vec_key_salt(&key, salt);
	assert_int_equal(frame_ctx_init_new(ctx, &key, comp, 1, VEC_FS, salt),
			 0);
}

/*
 * The start of the one-frame tests: a context with @comp (ctx_new()) and
 * a VEC_FS buffer of pattern (or, with @random, random) bytes, returned;
 * *@out gets a frame_stored_bound() buffer and *@back, unless @back is
 * NULL, a VEC_FS one. one_frame_free() undoes it.
 */
static inline uint8_t *one_frame_new(struct frame_ctx *ctx,
				     enum frame_compression comp, bool random,
				     uint8_t **out, uint8_t **back)
{
	uint8_t *data = malloc(VEC_FS);

	assert_non_null(data);
	if (back) {
		*back = malloc(VEC_FS);
		assert_non_null(*back);
	}
	if (random)
		fill_random(data, VEC_FS, 1);
	else
		fill_pattern(data, VEC_FS);
	ctx_new(ctx, comp);
	*out = malloc(frame_stored_bound(ctx));
	assert_non_null(*out);
	return data;
}

static inline void one_frame_free(struct frame_ctx *ctx, uint8_t *data,
				  uint8_t *out, uint8_t *back)
{
	free(out);
	free(back);
	free(data);
	frame_ctx_release(ctx);
}

#endif /* TESTS_UNIT_FRAME_FIXTURE_H */
