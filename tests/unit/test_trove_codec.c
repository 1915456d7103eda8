/*
 * test_trove_codec.c - unit tests of backends/trove_codec.c.
 *
 * Streams the test needs in the "openssl enc" format are built here
 * independently of the codec, with zlib (gzip) and EVP (encryption), so
 * the encoder is checked by a second implementation and the decoder can
 * be fed damaged gzip members inside valid encryption. The three vectors
 * below come from the openssl 3.0 command line:
 *
 *     printf 'hello trove\n' | gzip -n -c |
 *     openssl enc -aes-256-cbc -S 0102030405060708 -pass pass:vector-pass \
 *         -md md5 | -md sha256 | -pbkdf2 -iter 10000 -md sha512
 *
 * with "Salted__" and the salt in front (openssl 3 omits them with -S).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "../../backends/trove_codec.h"

static const uint8_t test_salt[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const char test_pass[] = "correct horse battery staple";
#define TEST_PASS_LEN (sizeof(test_pass) - 1)

static const char vector_pass[] = "vector-pass";
static const char vector_plain[] = "hello trove\n";

/* clang-format off */
#define VECTOR_HDR \
	'S', 'a', 'l', 't', 'e', 'd', '_', '_', 1, 2, 3, 4, 5, 6, 7, 8

static const uint8_t vector_md5[] = {
	VECTOR_HDR,
	0x9a, 0xe7, 0x15, 0x8f, 0x9c, 0x19, 0xcc, 0x07, 0xe9, 0x0f, 0xbb, 0xb7,
	0x23, 0xe3, 0x40, 0xb6, 0xd1, 0xc3, 0x75, 0xcf, 0xad, 0x44, 0xc3, 0xf8,
	0x13, 0x90, 0x6f, 0x02, 0xda, 0x90, 0x5b, 0x18, 0x03, 0x45, 0x0e, 0xfc,
	0x7b, 0xb3, 0x7b, 0x78, 0x23, 0x7f, 0x2e, 0x80, 0x25, 0x19, 0xfe, 0x57,
};

static const uint8_t vector_sha256[] = {
	VECTOR_HDR,
	0xe6, 0x4e, 0x53, 0x55, 0xc7, 0xf9, 0x84, 0x39, 0xb8, 0xf2, 0x1b, 0x5c,
	0x0e, 0xab, 0xf2, 0x20, 0xd3, 0xef, 0x99, 0x04, 0x7c, 0x9d, 0x7b, 0x8e,
	0xf7, 0x67, 0x27, 0xff, 0xdb, 0x12, 0x1a, 0x14, 0x86, 0xec, 0x2f, 0x7a,
	0x72, 0x13, 0xfe, 0x96, 0xfd, 0x36, 0x93, 0x4f, 0xff, 0x94, 0xf1, 0x2f,
};

static const uint8_t vector_pbkdf2[] = {
	VECTOR_HDR,
	0x56, 0x6d, 0x40, 0x48, 0x9c, 0x39, 0x3e, 0x1b, 0x9c, 0x6c, 0xc3, 0xa5,
	0x1c, 0xfb, 0xbb, 0xc0, 0x4a, 0x15, 0x33, 0x7d, 0x57, 0x5b, 0xc4, 0x7f,
	0x8b, 0xd4, 0x20, 0x60, 0xf0, 0xec, 0x11, 0xd8, 0x65, 0xa2, 0xa3, 0xec,
	0x66, 0x80, 0x2d, 0x3f, 0x3f, 0x1c, 0x9a, 0xfb, 0x91, 0x0a, 0x56, 0xbe,
};

/* clang-format on */

/* ---- helpers ---- */

/* A growing output buffer; fails the Nth sink call when fail_at is N. */
struct out {
	uint8_t *p;
	size_t len;
	size_t cap;
	unsigned calls;
	unsigned fail_at; /* 0 = never */
};

static int sink_out(void *arg, const void *data, size_t len)
{
	struct out *o = arg;

	assert_true(len > 0);
	o->calls++;
	if (o->fail_at && o->calls == o->fail_at)
		return -ENOSPC;
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;

		while (cap < o->len + len)
			cap *= 2;
		o->p = realloc(o->p, cap);
		assert_non_null(o->p);
		o->cap = cap;
	}
	memcpy(o->p + o->len, data, len);
	o->len += len;
	return 0;
}

static void out_release(struct out *o)
{
	free(o->p);
	memset(o, 0, sizeof(*o));
}

/* Incompressible (xorshift) or compressible (text) test data. */
static uint8_t *make_data(size_t len, bool text, uint32_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	uint32_t x = seed | 1;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (text)
			p[i] = (uint8_t)("trove backup row "[i % 17] +
					 (i % 4096 == 0 ? (x & 3) : 0));
		else
			p[i] = (uint8_t)x;
	}
	return p;
}

/* Encodes @data written in pieces of @chunk bytes (0 = all at once). */
static void encode(enum trove_kdf kdf, int level, const void *data, size_t len,
		   size_t chunk, struct out *o)
{
	const uint8_t *p = data;
	struct trove_enc *e = NULL;
	size_t n;

	assert_int_equal(trove_enc_new(test_pass, TEST_PASS_LEN, kdf, test_salt,
				       level, &e),
			 0);
	if (!chunk)
		chunk = len ? len : 1;
	while (len) {
		n = len < chunk ? len : chunk;
		assert_int_equal(trove_enc_write(e, p, n, sink_out, o), 0);
		p += n;
		len -= n;
	}
	assert_int_equal(trove_enc_finish(e, sink_out, o), 0);
	trove_enc_free(e);
}

/*
 * Decodes @len bytes fed in pieces of @chunk (0 = all at once); returns
 * the first error of write or finish and the detected variant.
 */
static int decode(const void *pass, size_t pass_len, const void *data,
		  size_t len, size_t chunk, struct out *o, enum trove_kdf *kdf)
{
	const uint8_t *p = data;
	struct trove_dec *d = NULL;
	size_t n;
	int err = 0;

	assert_int_equal(trove_dec_new(pass, pass_len, &d), 0);
	if (!chunk)
		chunk = len ? len : 1;
	while (len && !err) {
		n = len < chunk ? len : chunk;
		err = trove_dec_write(d, p, n, sink_out, o);
		p += n;
		len -= n;
	}
	if (!err)
		err = trove_dec_finish(d, sink_out, o);
	if (kdf)
		*kdf = trove_dec_kdf(d);
	trove_dec_free(d);
	return err;
}

/* Runs @step (deflate or inflate) to the end of the stream, into @o. */
static void zlib_pump(z_stream *zs, int (*step)(z_streamp, int), int flush,
		      struct out *o)
{
	uint8_t buf[4096];
	int ret;

	do {
		zs->next_out = buf;
		zs->avail_out = sizeof(buf);
		ret = step(zs, flush);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		if (sizeof(buf) - zs->avail_out)
			sink_out(o, buf, sizeof(buf) - zs->avail_out);
	} while (ret != Z_STREAM_END);
}

/* gzip with zlib; @fields adds name, comment, extra and header CRC. */
static void zlib_gzip(const void *data, size_t len, bool fields, struct out *o)
{
	static char name[] = "backup.xbstream";
	static char comment[] = "made by a test";
	static uint8_t extra[] = { 'T', 'R', 2, 0, 0xab, 0xcd };
	gz_header h;
	z_stream zs;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(
		deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY),
		Z_OK);
	if (fields) {
		memset(&h, 0, sizeof(h));
		h.name = (Bytef *)name;
		h.comment = (Bytef *)comment;
		h.extra = extra;
		h.extra_len = sizeof(extra);
		h.hcrc = 1;
		h.os = 3;
		assert_int_equal(deflateSetHeader(&zs, &h), Z_OK);
	}
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zlib_pump(&zs, deflate, Z_FINISH, o);
	deflateEnd(&zs);
}

/* Key and IV as "openssl enc" derives them, written out independently. */
static void ossl_key(enum trove_kdf kdf, const void *pass, size_t pass_len,
		     uint8_t *key, uint8_t *iv)
{
	uint8_t kiv[48];

	switch (kdf) {
	case TROVE_KDF_MD5:
	case TROVE_KDF_SHA256:
		assert_int_equal(EVP_BytesToKey(EVP_aes_256_cbc(),
						kdf == TROVE_KDF_MD5
							? EVP_md5()
							: EVP_sha256(),
						test_salt, pass ? pass : "",
						(int)pass_len, 1, key, iv),
				 32);
		return;
	case TROVE_KDF_PBKDF2:
		assert_int_equal(PKCS5_PBKDF2_HMAC(pass ? pass : "",
						   (int)pass_len, test_salt, 8,
						   10000, EVP_sha512(), 48,
						   kiv),
				 1);
		memcpy(key, kiv, 32);
		memcpy(iv, kiv + 32, 16);
		return;
	}
	fail();
}

/* "openssl enc -aes-256-cbc" of @plain with test_salt, into @o. */
static void ossl_enc(enum trove_kdf kdf, const void *pass, size_t pass_len,
		     const void *plain, size_t len, struct out *o)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t *buf = malloc(len + 32);
	uint8_t key[32];
	uint8_t iv[16];
	int n1 = 0;
	int n2 = 0;

	assert_non_null(ctx);
	assert_non_null(buf);
	ossl_key(kdf, pass, pass_len, key, iv);
	sink_out(o, "Salted__", 8);
	sink_out(o, test_salt, 8);
	assert_int_equal(
		EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, buf, &n1, plain, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, buf + n1, &n2), 1);
	sink_out(o, buf, (size_t)(n1 + n2));
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
}

/* "openssl enc -d" then gunzip, both independent of the codec. */
static void ossl_dec_gunzip(enum trove_kdf kdf, const struct out *enc,
			    struct out *plain)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t *gz = malloc(enc->len + 16);
	uint8_t key[32];
	uint8_t iv[16];
	z_stream zs;
	int n1 = 0;
	int n2 = 0;

	assert_non_null(ctx);
	assert_non_null(gz);
	assert_true(enc->len >= 16);
	assert_memory_equal(enc->p, "Salted__", 8);
	assert_memory_equal(enc->p + 8, test_salt, 8);
	ossl_key(kdf, test_pass, TEST_PASS_LEN, key, iv);
	assert_int_equal(
		EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, gz, &n1, enc->p + 16,
					   (int)(enc->len - 16)),
			 1);
	assert_int_equal(EVP_DecryptFinal_ex(ctx, gz + n1, &n2), 1);
	EVP_CIPHER_CTX_free(ctx);

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 31), Z_OK);
	zs.next_in = gz;
	zs.avail_in = (uInt)(n1 + n2);
	zlib_pump(&zs, inflate, Z_NO_FLUSH, plain);
	/* exactly one gzip member, nothing after it */
	assert_int_equal(zs.avail_in, 0);
	inflateEnd(&zs);
	free(gz);
}

/*
 * decode() of @len bytes at @p with test_pass in pieces of @chunk; the
 * output is dropped, its length put in *@plain_len unless that is NULL.
 */
static int decode_len(const void *p, size_t len, size_t chunk,
		      size_t *plain_len)
{
	struct out dec = { 0 };
	int err;

	err = decode(test_pass, TEST_PASS_LEN, p, len, chunk, &dec, NULL);
	if (plain_len)
		*plain_len = dec.len;
	out_release(&dec);
	return err;
}

/* decode_len() of "openssl enc" (@kdf) of @len bytes of @gz. */
static int enc_decode(enum trove_kdf kdf, const void *gz, size_t len,
		      size_t chunk, size_t *plain_len)
{
	struct out enc = { 0 };
	int err;

	ossl_enc(kdf, test_pass, TEST_PASS_LEN, gz, len, &enc);
	err = decode_len(enc.p, enc.len, chunk, plain_len);
	out_release(&enc);
	return err;
}

static const enum trove_kdf all_kdfs[] = {
	TROVE_KDF_MD5,
	TROVE_KDF_SHA256,
	TROVE_KDF_PBKDF2,
};

/* ---- round trips ---- */

static void test_trove_roundtrip_sizes_and_chunkings(void **state)
{
	static const size_t sizes[] = { 0,     1,      15,     16,
					17,    1000,   65535,  65536,
					65537, 300000, 1048579 };
	static const size_t chunks[] = { 0, 1, 7, 4099, 100003 };
	size_t si;
	size_t ci;
	int text;

	(void)state;
	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (text = 0; text < 2; text++) {
			uint8_t *data = make_data(sizes[si], text, 7 + si);
			struct out enc = { 0 };

			encode(TROVE_KDF_SHA256, 6, data, sizes[si], 0, &enc);
			for (ci = 0; ci < sizeof(chunks) / sizeof(chunks[0]);
			     ci++) {
				struct out dec = { 0 };
				struct out enc2 = { 0 };

				/* byte by byte only where it stays quick */
				if (chunks[ci] == 1 && sizes[si] > 70000)
					continue;
				encode(TROVE_KDF_SHA256, 6, data, sizes[si],
				       chunks[ci], &enc2);
				assert_int_equal(decode(test_pass,
							TEST_PASS_LEN, enc2.p,
							enc2.len, chunks[ci],
							&dec, NULL),
						 0);
				assert_int_equal(dec.len, sizes[si]);
				if (sizes[si])
					assert_memory_equal(dec.p, data,
							    sizes[si]);
				out_release(&dec);
				out_release(&enc2);
			}
			out_release(&enc);
			free(data);
		}
	}
}

static void test_trove_enc_levels_read_by_openssl_and_zlib(void **state)
{
	size_t len = 200000;
	uint8_t *data = make_data(len, true, 3);
	size_t k;
	int level;

	(void)state;
	for (k = 0; k < 3; k++) {
		for (level = 1; level <= 9; level++) {
			struct out enc = { 0 };
			struct out plain = { 0 };
			struct out dec = { 0 };

			encode(all_kdfs[k], level, data, len, 33333, &enc);
			ossl_dec_gunzip(all_kdfs[k], &enc, &plain);
			assert_int_equal(plain.len, len);
			assert_memory_equal(plain.p, data, len);
			assert_int_equal(decode(test_pass, TEST_PASS_LEN, enc.p,
						enc.len, 0, &dec, NULL),
					 0);
			assert_int_equal(dec.len, len);
			assert_memory_equal(dec.p, data, len);
			/* the gzip data really is compressed */
			assert_true(enc.len < len / 4);
			out_release(&enc);
			out_release(&plain);
			out_release(&dec);
		}
	}
	free(data);
}

static void test_trove_enc_empty_input_is_valid_gzip(void **state)
{
	struct out enc = { 0 };
	struct out plain = { 0 };

	(void)state;
	encode(TROVE_KDF_SHA256, 6, "", 0, 0, &enc);
	/* header, salt and two blocks: 20 gzip bytes + 12 padding */
	assert_int_equal(enc.len, 48);
	ossl_dec_gunzip(TROVE_KDF_SHA256, &enc, &plain);
	assert_int_equal(plain.len, 0);
	out_release(&enc);
	out_release(&plain);
}

static void test_trove_enc_random_salt(void **state)
{
	struct trove_enc *e1 = NULL;
	struct trove_enc *e2 = NULL;
	struct out o1 = { 0 };
	struct out o2 = { 0 };
	struct out dec = { 0 };

	(void)state;
	assert_int_equal(trove_enc_new(test_pass, TEST_PASS_LEN,
				       TROVE_KDF_SHA256, NULL, 6, &e1),
			 0);
	assert_int_equal(trove_enc_new(test_pass, TEST_PASS_LEN,
				       TROVE_KDF_SHA256, NULL, 6, &e2),
			 0);
	assert_int_equal(trove_enc_write(e1, "abc", 3, sink_out, &o1), 0);
	assert_int_equal(trove_enc_finish(e1, sink_out, &o1), 0);
	assert_int_equal(trove_enc_write(e2, "abc", 3, sink_out, &o2), 0);
	assert_int_equal(trove_enc_finish(e2, sink_out, &o2), 0);
	assert_memory_equal(o1.p, "Salted__", 8);
	assert_memory_equal(o2.p, "Salted__", 8);
	assert_memory_not_equal(o1.p + 8, o2.p + 8, 8);
	assert_int_equal(
		decode(test_pass, TEST_PASS_LEN, o2.p, o2.len, 0, &dec, NULL),
		0);
	assert_int_equal(dec.len, 3);
	assert_memory_equal(dec.p, "abc", 3);
	trove_enc_free(e1);
	trove_enc_free(e2);
	out_release(&o1);
	out_release(&o2);
	out_release(&dec);
}

static void test_trove_passphrase_empty_and_binary(void **state)
{
	static const char bin[] = { 'a', 0, 'b', '\n', (char)0xff };
	const char *data = "payload";
	struct trove_enc *e = NULL;
	struct out gz = { 0 };
	struct out enc = { 0 };
	struct out dec = { 0 };

	(void)state;
	/* empty passphrase, as "-pass pass:" gives, against EVP */
	zlib_gzip(data, 7, false, &gz);
	ossl_enc(TROVE_KDF_MD5, "", 0, gz.p, gz.len, &enc);
	assert_int_equal(decode(NULL, 0, enc.p, enc.len, 0, &dec, NULL), 0);
	assert_int_equal(dec.len, 7);
	out_release(&enc);
	out_release(&dec);

	/* a NUL inside the passphrase counts */
	assert_int_equal(trove_enc_new(bin, sizeof(bin), TROVE_KDF_PBKDF2,
				       test_salt, 1, &e),
			 0);
	assert_int_equal(trove_enc_write(e, data, 7, sink_out, &enc), 0);
	assert_int_equal(trove_enc_finish(e, sink_out, &enc), 0);
	trove_enc_free(e);
	assert_int_equal(
		decode(bin, sizeof(bin), enc.p, enc.len, 0, &dec, NULL), 0);
	assert_int_equal(dec.len, 7);
	assert_memory_equal(dec.p, data, 7);
	out_release(&dec);
	assert_int_equal(decode(bin, 1, enc.p, enc.len, 0, &dec, NULL),
			 -EKEYREJECTED);
	out_release(&dec);
	out_release(&enc);
	out_release(&gz);
}

/* ---- variants ---- */

static void check_vector(const uint8_t *v, size_t len, enum trove_kdf want)
{
	static const size_t chunks[] = { 0, 1, 5, 16, 17 };
	enum trove_kdf kdf;
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct out dec = { 0 };

		kdf = 0;
		assert_int_equal(decode(vector_pass, strlen(vector_pass), v,
					len, chunks[i], &dec, &kdf),
				 0);
		assert_int_equal(kdf, want);
		assert_int_equal(dec.len, strlen(vector_plain));
		assert_memory_equal(dec.p, vector_plain, dec.len);
		out_release(&dec);
	}
}

static void test_trove_dec_openssl_vector_md5(void **state)
{
	(void)state;
	check_vector(vector_md5, sizeof(vector_md5), TROVE_KDF_MD5);
}

static void test_trove_dec_openssl_vector_sha256(void **state)
{
	(void)state;
	check_vector(vector_sha256, sizeof(vector_sha256), TROVE_KDF_SHA256);
}

static void test_trove_dec_openssl_vector_pbkdf2(void **state)
{
	(void)state;
	check_vector(vector_pbkdf2, sizeof(vector_pbkdf2), TROVE_KDF_PBKDF2);
}

static void test_trove_dec_kdf_detected_after_first_block(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct trove_dec *d = NULL;
		struct out enc = { 0 };
		struct out dec = { 0 };

		encode(all_kdfs[k], 6, "some data", 9, 0, &enc);
		assert_int_equal(trove_dec_new(test_pass, TEST_PASS_LEN, &d),
				 0);
		assert_int_equal(trove_dec_kdf(d), 0);
		/* header, salt and 15 bytes of the first block */
		assert_int_equal(trove_dec_write(d, enc.p, 31, sink_out, &dec),
				 0);
		assert_int_equal(trove_dec_kdf(d), 0);
		assert_int_equal(
			trove_dec_write(d, enc.p + 31, 1, sink_out, &dec), 0);
		assert_int_equal(trove_dec_kdf(d), all_kdfs[k]);
		assert_int_equal(trove_dec_write(d, enc.p + 32, enc.len - 32,
						 sink_out, &dec),
				 0);
		assert_int_equal(trove_dec_finish(d, sink_out, &dec), 0);
		assert_int_equal(dec.len, 9);
		assert_memory_equal(dec.p, "some data", 9);
		trove_dec_free(d);
		out_release(&enc);
		out_release(&dec);
	}
}

static void test_trove_dec_gzip_header_fields(void **state)
{
	uint8_t *data = make_data(50000, true, 11);
	struct out gz = { 0 };
	struct out enc = { 0 };
	struct out dec = { 0 };

	static const size_t chunks[] = { 0, 1, 2, 3, 19 };
	size_t i;

	(void)state;
	/* FEXTRA, FNAME, FCOMMENT and FHCRC, split at every byte */
	zlib_gzip(data, 50000, true, &gz);
	ossl_enc(TROVE_KDF_SHA256, test_pass, TEST_PASS_LEN, gz.p, gz.len,
		 &enc);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		assert_int_equal(decode(test_pass, TEST_PASS_LEN, enc.p,
					enc.len, chunks[i], &dec, NULL),
				 0);
		assert_int_equal(dec.len, 50000);
		assert_memory_equal(dec.p, data, 50000);
		out_release(&dec);
	}
	out_release(&gz);
	out_release(&enc);
	free(data);
}

static void test_trove_dec_bad_gzip_header(void **state)
{
	struct out gz = { 0 };
	size_t hcrc;
	size_t n;

	(void)state;
	/* wrong FHCRC: it follows "TR" extra (4+6), name and comment */
	zlib_gzip("abc", 3, true, &gz);
	hcrc = 10 + 2 + 6 + sizeof("backup.xbstream") +
	       sizeof("made by a test");
	gz.p[hcrc] ^= 0x01;
	assert_int_equal(enc_decode(TROVE_KDF_MD5, gz.p, gz.len, 1, NULL),
			 -EBADMSG);
	gz.p[hcrc] ^= 0x01;
	assert_int_equal(enc_decode(TROVE_KDF_MD5, gz.p, gz.len, 1, &n), 0);
	assert_int_equal(n, 3);
	out_release(&gz);

	/* a reserved FLG bit */
	zlib_gzip("abc", 3, false, &gz);
	gz.p[3] |= 0x20;
	assert_int_equal(enc_decode(TROVE_KDF_MD5, gz.p, gz.len, 0, NULL),
			 -EBADMSG);
	out_release(&gz);
}

/* ---- errors ---- */

static void test_trove_dec_wrong_passphrase_rejected(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct trove_dec *d = NULL;
		struct out enc = { 0 };
		struct out dec = { 0 };

		encode(all_kdfs[k], 6, "secret rows", 11, 0, &enc);
		assert_int_equal(trove_dec_new("wrong", 5, &d), 0);
		assert_int_equal(
			trove_dec_write(d, enc.p, enc.len, sink_out, &dec),
			-EKEYREJECTED);
		/* the error sticks */
		assert_int_equal(trove_dec_write(d, enc.p, 1, sink_out, &dec),
				 -EKEYREJECTED);
		assert_int_equal(trove_dec_finish(d, sink_out, &dec),
				 -EKEYREJECTED);
		assert_int_equal(trove_dec_kdf(d), 0);
		assert_int_equal(dec.len, 0);
		trove_dec_free(d);
		out_release(&enc);
		out_release(&dec);
	}
}

static void test_trove_dec_probe_needs_whole_gzip_magic(void **state)
{
	struct out enc = { 0 };
	struct out dec = { 0 };
	uint8_t plain[16];
	uint8_t key[32];
	uint8_t iv[16];
	char wrong[32];
	int found = -1;
	int outl;
	int i;

	(void)state;
	encode(TROVE_KDF_SHA256, 6, "abc", 3, 0, &enc);
	/*
	 * Find a wrong passphrase whose MD5 key turns the first block into
	 * 1f but not 1f 8b 08 (about 1 in 256): the probe must go on and
	 * reject it rather than pick MD5 and fail later with -EBADMSG.
	 */
	for (i = 0; i < 100000 && found < 0; i++) {
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

		assert_non_null(ctx);
		assert_true(snprintf(wrong, sizeof(wrong), "wrong-%d", i) > 0);
		ossl_key(TROVE_KDF_MD5, wrong, strlen(wrong), key, iv);
		assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(),
						    NULL, key, iv),
				 1);
		assert_int_equal(EVP_CIPHER_CTX_set_padding(ctx, 0), 1);
		assert_int_equal(
			EVP_DecryptUpdate(ctx, plain, &outl, enc.p + 16, 16),
			1);
		EVP_CIPHER_CTX_free(ctx);
		if (plain[0] == 0x1f && (plain[1] != 0x8b || plain[2] != 8))
			found = i;
	}
	assert_true(found >= 0);
	assert_int_equal(
		decode(wrong, strlen(wrong), enc.p, enc.len, 0, &dec, NULL),
		-EKEYREJECTED);
	out_release(&enc);
	out_release(&dec);
}

static void test_trove_dec_not_gzip_rejected(void **state)
{
	(void)state;
	/* right key, but the plaintext is not gzip: not a Trove backup */
	assert_int_equal(enc_decode(TROVE_KDF_SHA256, "plain text, not gzip",
				    20, 0, NULL),
			 -EKEYREJECTED);
}

static void test_trove_dec_missing_magic(void **state)
{
	static const char foreign[] = "Salted_X0123456789abcdef0123456789";
	struct trove_dec *d = NULL;
	struct out dec = { 0 };

	(void)state;
	assert_int_equal(decode(test_pass, TEST_PASS_LEN, foreign,
				sizeof(foreign) - 1, 0, &dec, NULL),
			 -EBADMSG);
	/* known wrong from the first byte, before 8 bytes arrived */
	assert_int_equal(trove_dec_new(test_pass, TEST_PASS_LEN, &d), 0);
	assert_int_equal(trove_dec_write(d, "\x1f", 1, sink_out, &dec),
			 -EBADMSG);
	trove_dec_free(d);
	/* a good prefix that just stops */
	assert_int_equal(
		decode(test_pass, TEST_PASS_LEN, "Salt", 4, 0, &dec, NULL),
		-EBADMSG);
	assert_int_equal(dec.len, 0);
	out_release(&dec);
}

/*
 * Flips @mask in the bytes @from, @from + @step, ... before @to of @enc
 * one at a time: decoding in pieces of @chunk must fail with @want.
 */
static void check_flips(struct out *enc, size_t from, size_t to, size_t step,
			uint8_t mask, size_t chunk, int want)
{
	size_t pos;

	for (pos = from; pos < to; pos += step) {
		enc->p[pos] ^= mask;
		assert_int_equal(decode_len(enc->p, enc->len, chunk, NULL),
				 want);
		enc->p[pos] ^= mask;
	}
}

static void test_trove_dec_flipped_byte(void **state)
{
	uint8_t *data = make_data(100000, false, 5);
	struct out enc = { 0 };

	(void)state;
	encode(TROVE_KDF_SHA256, 6, data, 100000, 0, &enc);
	/* the magic */
	check_flips(&enc, 0, 8, 3, 0x20, 4096, -EBADMSG);
	/* salt or first block: indistinguishable from a wrong key */
	check_flips(&enc, 8, 32, 5, 0x01, 4096, -EKEYREJECTED);
	/* anywhere in the body, up to the padding */
	check_flips(&enc, 32, enc.len, enc.len / 13, 0x01, 4096, -EBADMSG);
	check_flips(&enc, enc.len - 17, enc.len, 8, 0x80, 0, -EBADMSG);
	out_release(&enc);
	free(data);
}

static void test_trove_dec_truncated(void **state)
{
	uint8_t *data = make_data(300000, true, 9);
	struct out enc = { 0 };
	size_t cuts[16];
	size_t n = 0;
	size_t i;

	(void)state;
	encode(TROVE_KDF_PBKDF2, 6, data, 300000, 0, &enc);
	cuts[n++] = 0;
	cuts[n++] = 1;
	cuts[n++] = 8;
	cuts[n++] = 15;
	cuts[n++] = 16;
	cuts[n++] = 17;
	cuts[n++] = 31;
	cuts[n++] = 32;
	cuts[n++] = 33;
	cuts[n++] = enc.len / 2;
	cuts[n++] = enc.len - 32;
	cuts[n++] = enc.len - 17;
	cuts[n++] = enc.len - 16;
	cuts[n++] = enc.len - 1;
	for (i = 0; i < n; i++) {
		struct out dec = { 0 };

		assert_int_equal(decode(test_pass, TEST_PASS_LEN, enc.p,
					cuts[i], 1000, &dec, NULL),
				 -EBADMSG);
		assert_true(dec.len < 300000);
		out_release(&dec);
	}
	out_release(&enc);
	free(data);
}

static void test_trove_dec_gzip_cut_inside_valid_encryption(void **state)
{
	uint8_t *data = make_data(100000, true, 23);
	struct out gz = { 0 };
	size_t cuts[6];
	size_t i;

	(void)state;
	/* the cipher layer is intact; only the gzip member is short */
	zlib_gzip(data, 100000, false, &gz);
	cuts[0] = 5;
	cuts[1] = 10;
	cuts[2] = gz.len / 2;
	cuts[3] = gz.len - 8;
	cuts[4] = gz.len - 4;
	cuts[5] = gz.len - 1;
	for (i = 0; i < 6; i++)
		assert_int_equal(
			enc_decode(TROVE_KDF_SHA256, gz.p, cuts[i], 0, NULL),
			-EBADMSG);
	out_release(&gz);
	free(data);
}

static void test_trove_dec_gzip_ending_on_block_boundary(void **state)
{
	static const uint8_t junk[16] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
					  5,	6,    7,    8,	  9, 9, 9, 9 };
	struct out gz = { 0 };
	struct out enc = { 0 };
	uint8_t *data = NULL;
	size_t plain_len;
	size_t n;

	(void)state;
	/* a member whose trailer ends a cipher block */
	for (n = 1; n < 200; n++) {
		data = make_data(n, false, 29);
		zlib_gzip(data, n, false, &gz);
		if (gz.len % 16 == 0)
			break;
		out_release(&gz);
		free(data);
		data = NULL;
	}
	assert_non_null(data);
	ossl_enc(TROVE_KDF_SHA256, test_pass, TEST_PASS_LEN, gz.p, gz.len,
		 &enc);
	assert_int_equal(decode_len(enc.p, enc.len, 1, &plain_len), 0);
	assert_int_equal(plain_len, n);

	/* the last block is all padding: bad padding there still counts */
	memcpy(enc.p + enc.len - 16, junk, 16);
	assert_int_equal(decode_len(enc.p, enc.len, 0, NULL), -EBADMSG);
	out_release(&enc);

	/* garbage starting in the block after the trailer */
	sink_out(&gz, junk, 16);
	assert_int_equal(enc_decode(TROVE_KDF_SHA256, gz.p, gz.len, 1, NULL),
			 -EBADMSG);
	assert_int_equal(enc_decode(TROVE_KDF_SHA256, gz.p, gz.len, 0, NULL),
			 -EBADMSG);
	out_release(&gz);
	free(data);
}

static void test_trove_dec_trailing_data(void **state)
{
	struct out gz = { 0 };
	struct out enc = { 0 };

	(void)state;
	/*
	 * Garbage after the gzip member, inside the encryption: one byte
	 * (same block as the trailer) and 40 (in later blocks, so in a
	 * later piece when fed byte by byte).
	 */
	zlib_gzip("abcdef", 6, false, &gz);
	sink_out(&gz, "x", 1);
	assert_int_equal(enc_decode(TROVE_KDF_MD5, gz.p, gz.len, 0, NULL),
			 -EBADMSG);
	out_release(&gz);
	zlib_gzip("abcdef", 6, false, &gz);
	sink_out(&gz, "0123456789012345678901234567890123456789", 40);
	assert_int_equal(enc_decode(TROVE_KDF_MD5, gz.p, gz.len, 1, NULL),
			 -EBADMSG);
	assert_int_equal(enc_decode(TROVE_KDF_MD5, gz.p, gz.len, 0, NULL),
			 -EBADMSG);
	out_release(&gz);

	/* a second gzip member: Trove never writes one */
	zlib_gzip("abcdef", 6, false, &gz);
	zlib_gzip("ghi", 3, false, &gz);
	assert_int_equal(enc_decode(TROVE_KDF_MD5, gz.p, gz.len, 1, NULL),
			 -EBADMSG);
	out_release(&gz);

	/* bytes after the last cipher block */
	encode(TROVE_KDF_SHA256, 6, "abcdef", 6, 0, &enc);
	sink_out(&enc, "\0\0\0", 3);
	assert_int_equal(decode_len(enc.p, enc.len, 0, NULL), -EBADMSG);
	out_release(&enc);
}

static void test_trove_dec_bad_gzip_trailer(void **state)
{
	/* from the end: CRC32 low and high byte, ISIZE low and high byte */
	static const size_t back[] = { 8, 5, 4, 1 };
	uint8_t *data = make_data(70000, true, 13);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
		struct out gz = { 0 };

		zlib_gzip(data, 70000, false, &gz);
		gz.p[gz.len - back[i]] ^= 0x01;
		assert_int_equal(
			enc_decode(TROVE_KDF_SHA256, gz.p, gz.len, 0, NULL),
			-EBADMSG);
		out_release(&gz);
	}
	free(data);
}

/*
 * Encodes @in in 10000-byte writes with the sink failing at call
 * @fail_at; returns the first error, checking that it sticks.
 */
static int encode_failing(const struct out *in, unsigned fail_at, struct out *o)
{
	const uint8_t *data = in->p;
	size_t len = in->len;
	struct trove_enc *e = NULL;
	size_t off;
	size_t n;
	int err = 0;

	o->fail_at = fail_at;
	assert_int_equal(trove_enc_new(test_pass, TEST_PASS_LEN,
				       TROVE_KDF_SHA256, test_salt, 1, &e),
			 0);
	for (off = 0; off < len && !err; off += n) {
		n = len - off < 10000 ? len - off : 10000;
		err = trove_enc_write(e, data + off, n, sink_out, o);
	}
	if (!err)
		err = trove_enc_finish(e, sink_out, o);
	else
		assert_int_equal(trove_enc_write(e, data, 1, sink_out, o), err);
	assert_int_equal(trove_enc_finish(e, sink_out, o), err ? err : -EINVAL);
	trove_enc_free(e);
	return err;
}

/*
 * Runs @run (encode_failing() or decode_failing() of @in) with a sink that
 * never fails, then failing at its first call, a middle one and the last
 * one (in finish): the error must come back and no sink call follow it.
 * Returns the output length of the run that did not fail.
 */
static size_t check_sink_errors(int (*run)(const struct out *in,
					   unsigned fail_at, struct out *o),
				const struct out *in)
{
	struct out o = { 0 };
	unsigned fails[3];
	unsigned calls;
	size_t len;
	size_t i;

	assert_int_equal(run(in, 0, &o), 0);
	len = o.len;
	calls = o.calls;
	assert_true(calls > 3);
	out_release(&o);
	fails[0] = 1;
	fails[1] = calls / 2;
	fails[2] = calls;
	for (i = 0; i < 3; i++) {
		assert_int_equal(run(in, fails[i], &o), -ENOSPC);
		assert_int_equal(o.calls, fails[i]);
		out_release(&o);
	}
	return len;
}

static void test_trove_enc_sink_error_propagates(void **state)
{
	struct out in = { 0 };

	(void)state;
	in.p = make_data(500000, false, 17);
	in.len = 500000;
	(void)check_sink_errors(encode_failing, &in);
	out_release(&in);
}

/* Like encode_failing() for the decoder, feeding 7000-byte writes. */
static int decode_failing(const struct out *enc, unsigned fail_at,
			  struct out *o)
{
	struct trove_dec *d = NULL;
	size_t off;
	size_t n;
	int err = 0;

	o->fail_at = fail_at;
	assert_int_equal(trove_dec_new(test_pass, TEST_PASS_LEN, &d), 0);
	for (off = 0; off < enc->len && !err; off += n) {
		n = enc->len - off < 7000 ? enc->len - off : 7000;
		err = trove_dec_write(d, enc->p + off, n, sink_out, o);
	}
	if (!err)
		err = trove_dec_finish(d, sink_out, o);
	else
		assert_int_equal(trove_dec_write(d, enc->p, 1, sink_out, o),
				 err);
	assert_int_equal(trove_dec_finish(d, sink_out, o), err ? err : -EINVAL);
	trove_dec_free(d);
	return err;
}

static void test_trove_dec_sink_error_propagates(void **state)
{
	uint8_t *data = make_data(400000, true, 19);
	struct out enc = { 0 };

	(void)state;
	encode(TROVE_KDF_SHA256, 6, data, 400000, 0, &enc);
	assert_int_equal(check_sink_errors(decode_failing, &enc), 400000);
	out_release(&enc);
	free(data);
}

static void test_trove_enc_new_invalid(void **state)
{
	static int sentinel;
	struct trove_enc *e = (struct trove_enc *)&sentinel;

	(void)state;
	assert_int_equal(trove_enc_new("k", 1, TROVE_KDF_SHA256, NULL, 0, &e),
			 -EINVAL);
	assert_int_equal(trove_enc_new("k", 1, TROVE_KDF_SHA256, NULL, 10, &e),
			 -EINVAL);
	assert_int_equal(trove_enc_new("k", 1, 0, NULL, 6, &e), -EINVAL);
	assert_int_equal(trove_enc_new("k", 1, 4, NULL, 6, &e), -EINVAL);
	assert_int_equal(trove_enc_new(NULL, 3, TROVE_KDF_MD5, NULL, 6, &e),
			 -EINVAL);
	/* *out untouched on failure */
	assert_ptr_equal(e, (struct trove_enc *)&sentinel);
}

static void test_trove_finish_twice_and_write_after_finish(void **state)
{
	struct trove_enc *e = NULL;
	struct trove_dec *d = NULL;
	struct out enc = { 0 };
	struct out dec = { 0 };

	(void)state;
	assert_int_equal(trove_enc_new(test_pass, TEST_PASS_LEN, TROVE_KDF_MD5,
				       test_salt, 6, &e),
			 0);
	assert_int_equal(trove_enc_write(e, "abc", 3, sink_out, &enc), 0);
	assert_int_equal(trove_enc_finish(e, sink_out, &enc), 0);
	assert_int_equal(trove_enc_write(e, "abc", 3, sink_out, &enc), -EINVAL);
	assert_int_equal(trove_enc_finish(e, sink_out, &enc), -EINVAL);
	trove_enc_free(e);

	assert_int_equal(trove_dec_new(test_pass, TEST_PASS_LEN, &d), 0);
	assert_int_equal(trove_dec_write(d, enc.p, enc.len, sink_out, &dec), 0);
	assert_int_equal(trove_dec_finish(d, sink_out, &dec), 0);
	assert_int_equal(trove_dec_write(d, enc.p, 1, sink_out, &dec), -EINVAL);
	assert_int_equal(trove_dec_finish(d, sink_out, &dec), -EINVAL);
	assert_int_equal(trove_dec_kdf(d), TROVE_KDF_MD5);
	assert_int_equal(dec.len, 3);
	trove_dec_free(d);
	out_release(&enc);
	out_release(&dec);
}

static void test_trove_free_accepts_null(void **state)
{
	(void)state;
	trove_enc_free(NULL);
	trove_dec_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trove_roundtrip_sizes_and_chunkings),
		cmocka_unit_test(
			test_trove_enc_levels_read_by_openssl_and_zlib),
		cmocka_unit_test(test_trove_enc_empty_input_is_valid_gzip),
		cmocka_unit_test(test_trove_enc_random_salt),
		cmocka_unit_test(test_trove_passphrase_empty_and_binary),
		cmocka_unit_test(test_trove_dec_openssl_vector_md5),
		cmocka_unit_test(test_trove_dec_openssl_vector_sha256),
		cmocka_unit_test(test_trove_dec_openssl_vector_pbkdf2),
		cmocka_unit_test(test_trove_dec_kdf_detected_after_first_block),
		cmocka_unit_test(test_trove_dec_gzip_header_fields),
		cmocka_unit_test(test_trove_dec_bad_gzip_header),
		cmocka_unit_test(test_trove_dec_wrong_passphrase_rejected),
		cmocka_unit_test(test_trove_dec_probe_needs_whole_gzip_magic),
		cmocka_unit_test(test_trove_dec_not_gzip_rejected),
		cmocka_unit_test(test_trove_dec_missing_magic),
		cmocka_unit_test(test_trove_dec_flipped_byte),
		cmocka_unit_test(test_trove_dec_truncated),
		cmocka_unit_test(
			test_trove_dec_gzip_cut_inside_valid_encryption),
		cmocka_unit_test(test_trove_dec_gzip_ending_on_block_boundary),
		cmocka_unit_test(test_trove_dec_trailing_data),
		cmocka_unit_test(test_trove_dec_bad_gzip_trailer),
		cmocka_unit_test(test_trove_enc_sink_error_propagates),
		cmocka_unit_test(test_trove_dec_sink_error_propagates),
		cmocka_unit_test(test_trove_enc_new_invalid),
		cmocka_unit_test(
			test_trove_finish_twice_and_write_after_finish),
		cmocka_unit_test(test_trove_free_accepts_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
