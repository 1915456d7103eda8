/*
 * frame_vectors - prints the tfs1 test vectors of docs/FORMAT.md.
 *
 * Encodes the fixed inputs with backends/frame.c and prints every derived
 * value and the whole stored object in hex, so the document and
 * tests/unit/test_frame.c can be refreshed from one source. Usage:
 * frame_vectors (no arguments); exit status 0 or 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../../backends/frame.h"
#include "../unit/frame_vec.h"

struct vector {
	const char *name;
	enum frame_compression comp;
	int level;
	uint32_t frame_size;
	const uint8_t *plain;
	size_t plen;
};

static void print_hex(const char *label, const uint8_t *p, size_t len)
{
	size_t i;

	printf("%s (%zu bytes):\n", label, len);
	for (i = 0; i < len; i++) {
		printf("%02x", p[i]);
		if (i % 32 == 31 || i + 1 == len)
			printf("\n");
	}
}

/*
 * Encodes @v into a new object (*@out, caller frees) the way the codec
 * does: header, frames, sealed index, footer. Returns 0 or -errno.
 */
static int encode(const struct vector *v, const struct frame_key *key,
		  const uint8_t *salt, struct frame_ctx *ctx, uint8_t **out,
		  size_t *out_len, uint8_t check[32])
{
	uint64_t nframes =
		v->plen ? (v->plen + v->frame_size - 1) / v->frame_size : 1;
	size_t cap;
	uint32_t *lens;
	uint8_t *obj;
	size_t off = FRAME_HEADER_SIZE;
	size_t n;
	uint64_t i;
	EVP_MD_CTX *md;
	int err;

	err = frame_ctx_init_new(ctx, key, v->comp, v->level, v->frame_size,
				 salt);
	if (err)
		return err;
	cap = FRAME_HEADER_SIZE + nframes * frame_stored_bound(ctx) +
	      frame_index_size(nframes) + FRAME_FOOTER_SIZE;
	obj = malloc(cap);
	lens = calloc(nframes, sizeof(*lens));
	md = EVP_MD_CTX_new();
	if (!obj || !lens || !md ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		err = -ENOMEM;
		goto out_free;
	}
	memcpy(obj, ctx->header, FRAME_HEADER_SIZE);
	for (i = 0; i < nframes; i++) {
		size_t start = i * v->frame_size;
		size_t len = v->plen - start < v->frame_size ? v->plen - start
							     : v->frame_size;

		err = frame_seal(ctx, i, i + 1 == nframes, v->plain + start,
				 len, obj + off, &n);
		if (err)
			goto out_free;
		lens[i] = (uint32_t)n;
		if (EVP_DigestUpdate(md, obj + off + n - FRAME_TAG_SIZE,
				     FRAME_TAG_SIZE) != 1) {
			err = -ENOMEM;
			goto out_free;
		}
		off += n;
	}
	err = frame_index_seal(ctx, lens, nframes, v->plen, obj + off, &n);
	if (err)
		goto out_free;
	off += n;
	if (EVP_DigestFinal_ex(md, check, NULL) != 1) {
		err = -ENOMEM;
		goto out_free;
	}
	*out = obj;
	*out_len = off;
	obj = NULL;
out_free:
	EVP_MD_CTX_free(md);
	free(lens);
	free(obj);
	return err;
}

int main(void)
{
	static uint8_t pattern[VEC_PATTERN_LEN];
	static const uint8_t hello[] = "hello\n";
	const struct vector vecs[] = {
		{ "1: empty stream", FRAME_COMP_NONE, 0, 4096, NULL, 0 },
		{ "2: \"hello\\n\"", FRAME_COMP_DEFLATE, 1, 4096, hello, 6 },
		{ "3: 10000-byte pattern", FRAME_COMP_DEFLATE, 1, 4096, pattern,
		  sizeof(pattern) },
		{ "4: 10000-byte pattern, LZ4", FRAME_COMP_LZ4, 1, 4096,
		  pattern, sizeof(pattern) },
	};
	struct frame_key key;
	uint8_t salt[FRAME_SALT_SIZE];
	size_t i;
	int rc = 0;

	fill_pattern(pattern, sizeof(pattern));
	vec_salt(salt);
	if (frame_key_derive(VEC_SECRET, strlen(VEC_SECRET), &key)) {
		fprintf(stderr, "frame_vectors: cannot derive the key\n");
		return 1;
	}
	printf("secret: \"%s\" (%zu bytes, no newline)\n", VEC_SECRET,
	       strlen(VEC_SECRET));
	print_hex("master key", key.key, sizeof(key.key));
	print_hex("key id", key.id, sizeof(key.id));
	print_hex("salt", salt, sizeof(salt));
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		struct frame_ctx ctx;
		uint8_t check[32];
		uint8_t *obj;
		size_t len;
		int err;

		err = encode(&vecs[i], &key, salt, &ctx, &obj, &len, check);
		if (err) {
			fprintf(stderr,
				"frame_vectors: cannot encode '%s': %s\n",
				vecs[i].name, strerror(-err));
			rc = 1;
			continue;
		}
		printf("\nvector %s: comp %d level %d frame_size %u plain %zu\n",
		       vecs[i].name, vecs[i].comp, vecs[i].level,
		       vecs[i].frame_size, vecs[i].plen);
		print_hex("object key", ctx.okey, sizeof(ctx.okey));
		print_hex("trovefs-check", check, sizeof(check));
		print_hex("object", obj, len);
		frame_ctx_release(&ctx);
		free(obj);
	}
	OPENSSL_cleanse(&key, sizeof(key));
	return rc;
}
