/*
 * frame_vec.h - the fixed inputs of the tfs1 test vectors of
 * docs/FORMAT.md, shared by tests/unit/test_frame.c (which checks them)
 * and tests/tools/frame_vectors.c (which prints them), so that the two
 * cannot drift apart.
 */
#ifndef TESTS_UNIT_FRAME_VEC_H
#define TESTS_UNIT_FRAME_VEC_H

#include <stddef.h>
#include <stdint.h>

#include "../../backends/frame.h"

#define VEC_SECRET "correct horse battery staple"
#define VEC_PATTERN_LEN 10000

/* Vector 3's plain text: 60-letter lines, each ended by '\n'. */
static inline void fill_pattern(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 61 == 60)
			p[i] = '\n';
		else
			p[i] = (uint8_t)('a' + (i / 61 + i % 61) % 26);
	}
}

/* The salt of every vector: 00 01 02 ... 0f. */
static inline void vec_salt(uint8_t salt[FRAME_SALT_SIZE])
{
	int i;

	for (i = 0; i < FRAME_SALT_SIZE; i++)
		salt[i] = (uint8_t)i;
}

#endif /* TESTS_UNIT_FRAME_VEC_H */
