/*
 * gen_redislike.c - benchmark input generator: writes exactly SIZE bytes of
 * deterministic data that looks like a Redis RDB dump to stdout.
 *
 *     gen_redislike SIZE [SEED]        SIZE: bytes, or with a K/M/G/T suffix
 *
 * The stream is an RDB header (magic, aux fields, SELECTDB, RESIZEDB)
 * followed by records as rdb.c writes them: optional expiry opcode, type
 * byte, length-prefixed key ("user:1234:session", "cache:page:88"), and a
 * string (integer-encoded, words from a small vocabulary, JSON-ish text or
 * a random binary blob), a hash or a list. It is cut at SIZE bytes, so it
 * is not a loadable dump: it only has the byte statistics of one.
 *
 * Invariants: the output depends only on (SIZE, SEED), and the output for
 * a smaller SIZE is a prefix of the output for a larger one (the bench
 * regenerates inputs instead of keeping multi-GiB files). The share of
 * random blob bytes (BLOB_PERMILLE) is tuned so that `gzip -6` compresses
 * the stream about 2.3x, like real session/cache dumps; docs/BENCHMARKS.md
 * has the measured ratios. Single-threaded, no library code: the Makefile
 * links every bench tool with libtrovefs.a, but this needs none of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_CHUNK (1u << 20)  /* bytes per write(2) */
#define GEN_SLACK (64u << 10) /* > the largest record */
#define GEN_SEED_DEFAULT 20240601u

/* Per mille of string values that are random binary blobs. */
#define BLOB_PERMILLE 92
#define BLOB_MIN 16
#define BLOB_SPAN 240 /* blob length: BLOB_MIN .. +BLOB_SPAN-1 */

/* RDB opcodes and types (redis src/rdb.h). */
#define RDB_OPCODE_AUX 0xFA
#define RDB_OPCODE_RESIZEDB 0xFB
#define RDB_OPCODE_EXPIRETIME_MS 0xFC
#define RDB_OPCODE_SELECTDB 0xFE
#define RDB_TYPE_STRING 0
#define RDB_TYPE_LIST 1
#define RDB_TYPE_HASH 4
#define RDB_ENC_INT8 0xC0
#define RDB_ENC_INT16 0xC1
#define RDB_ENC_INT32 0xC2

struct gen {
	uint64_t rng;	    /* splitmix64 state */
	uint64_t expire_ms; /* grows slowly, like real TTLs */
	uint8_t *buf;	    /* GEN_CHUNK + GEN_SLACK bytes, owned */
	size_t fill;
};

struct word {
	const char *s;
	size_t len;
};

/* A string literal and its length, so no strlen() per use. */
/* clang-format off */
#define W(lit) { lit, sizeof(lit) - 1 }
/* clang-format on */

/*
 * Words for string values and list items; put_json() picks names from
 * 11..15, states from 0..2 and plans from 8..10, hashes take their field
 * names from 50 on. Keep those ranges when editing.
 */
static const struct word vocab[] = {
	W("active"),  W("inactive"),   W("pending"),	    W("admin"),
	W("guest"),   W("en_US"),      W("fr_FR"),	    W("de_DE"),
	W("premium"), W("free"),       W("trial"),	    W("alice"),
	W("bob"),     W("carol"),      W("dave"),	    W("erin"),
	W("paris"),   W("london"),     W("berlin"),	    W("tokyo"),
	W("red"),     W("green"),      W("blue"),	    W("checkout"),
	W("cart"),    W("wishlist"),   W("mobile"),	    W("desktop"),
	W("tablet"),  W("chrome"),     W("firefox"),	    W("safari"),
	W("GET"),     W("POST"),       W("/api/v1/orders"), W("/api/v1/users"),
	W("/login"),  W("/logout"),    W("true"),	    W("false"),
	W("null"),    W("visa"),       W("mastercard"),	    W("paypal"),
	W("shipped"), W("delivered"),  W("returned"),	    W("gold"),
	W("silver"),  W("bronze"),     W("email"),	    W("name"),
	W("status"),  W("created_at"), W("updated_at"),	    W("last_seen"),
	W("country"), W("plan"),       W("score"),	    W("count"),
	W("theme"),   W("dark"),       W("light"),	    W("timezone"),
};

#define VOCAB_N (sizeof(vocab) / sizeof(vocab[0]))

struct key_shape {
	struct word prefix;
	struct word suffix;
};

static const struct key_shape key_shapes[] = {
	{ W("user:"), W(":session") },	  { W("user:"), W(":profile") },
	{ W("user:"), W(":cart") },	  { W("session:"), W("") },
	{ W("product:"), W(":views") },	  { W("order:"), W("") },
	{ W("rate:ip:"), W("") },	  { W("cache:page:"), W("") },
	{ W("queue:jobs:"), W(":meta") }, { W("lock:"), W("") },
};

#define KEY_SHAPES_N (sizeof(key_shapes) / sizeof(key_shapes[0]))

/* splitmix64: fast, and good enough to make blobs incompressible. */
static uint64_t gen_rand(struct gen *g)
{
	uint64_t z;

	g->rng += 0x9e3779b97f4a7c15ull;
	z = g->rng;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for n far below 2^32. */
static uint32_t gen_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(((gen_rand(g) >> 32) * n) >> 32);
}

static void put_byte(struct gen *g, uint8_t b)
{
	g->buf[g->fill++] = b;
}

static void put_mem(struct gen *g, const void *p, size_t len)
{
	memcpy(g->buf + g->fill, p, len);
	g->fill += len;
}

/* RDB length encoding: 6-bit, 14-bit or 32-bit big-endian. */
static void put_len(struct gen *g, uint32_t len)
{
	if (len < 64) {
		put_byte(g, (uint8_t)len);
	} else if (len < 16384) {
		put_byte(g, (uint8_t)(0x40 | (len >> 8)));
		put_byte(g, (uint8_t)len);
	} else {
		put_byte(g, 0x80);
		put_byte(g, (uint8_t)(len >> 24));
		put_byte(g, (uint8_t)(len >> 16));
		put_byte(g, (uint8_t)(len >> 8));
		put_byte(g, (uint8_t)len);
	}
}

/* Decimal digits of @v into @out (room for 20); returns their count. */
static size_t fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	size_t i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void put_str(struct gen *g, const char *s, size_t len)
{
	put_len(g, (uint32_t)len);
	put_mem(g, s, len);
}

static void put_word(struct gen *g, const struct word *w)
{
	put_str(g, w->s, w->len);
}

/* An integer as RDB stores a numeric string: 0xC0/C1/C2 + little endian. */
static void put_int_value(struct gen *g)
{
	uint32_t v = (uint32_t)gen_rand(g);

	switch (gen_below(g, 3)) {
	case 0:
		put_byte(g, RDB_ENC_INT8);
		put_byte(g, (uint8_t)(v % 100));
		break;
	case 1:
		put_byte(g, RDB_ENC_INT16);
		put_byte(g, (uint8_t)v);
		put_byte(g, (uint8_t)(v >> 8) & 0x3f);
		break;
	default:
		put_byte(g, RDB_ENC_INT32);
		put_byte(g, (uint8_t)v);
		put_byte(g, (uint8_t)(v >> 8));
		put_byte(g, (uint8_t)(v >> 16) & 0x0f);
		put_byte(g, 0);
		break;
	}
}

static void put_key(struct gen *g)
{
	const struct key_shape *ks = &key_shapes[gen_below(g, KEY_SHAPES_N)];
	char key[96];
	size_t n;

	memcpy(key, ks->prefix.s, ks->prefix.len);
	n = ks->prefix.len +
	    fmt_u64(key + ks->prefix.len, gen_below(g, 200000));
	memcpy(key + n, ks->suffix.s, ks->suffix.len);
	put_str(g, key, n + ks->suffix.len);
}

/* 1..4 vocabulary words joined by one separator. */
static void put_words(struct gen *g)
{
	char s[4 * 24];
	size_t n = 0;
	uint32_t words = 1 + gen_below(g, 4);
	char sep = gen_below(g, 2) ? ' ' : ',';
	uint32_t i;

	for (i = 0; i < words; i++) {
		const struct word *w = &vocab[gen_below(g, VOCAB_N)];

		if (i)
			s[n++] = sep;
		memcpy(s + n, w->s, w->len);
		n += w->len;
	}
	put_str(g, s, n);
}

/* Appends @w to @p (room checked by the caller's fixed sizes). */
static char *cat(char *p, const struct word *w)
{
	memcpy(p, w->s, w->len);
	return p + w->len;
}

/* Appends a literal. */
#define CAT_LIT(p, lit) cat(p, &(const struct word)W(lit))

/* A small JSON document, the other common shape of cached values. */
static void put_json(struct gen *g)
{
	char s[256];
	char *p = s;

	p = CAT_LIT(p, "{\"id\":");
	p += fmt_u64(p, gen_below(g, 1000000));
	p = CAT_LIT(p, ",\"name\":\"");
	p = cat(p, &vocab[11 + gen_below(g, 5)]);
	p = CAT_LIT(p, "\",\"status\":\"");
	p = cat(p, &vocab[gen_below(g, 3)]);
	p = CAT_LIT(p, "\",\"plan\":\"");
	p = cat(p, &vocab[8 + gen_below(g, 3)]);
	p = CAT_LIT(p, "\",\"ts\":");
	p += fmt_u64(p, 1700000000u + gen_below(g, 40000000));
	p = CAT_LIT(p, "}");
	put_str(g, s, (size_t)(p - s));
}

/* Random bytes: encrypted tokens, serialized objects, images. */
static void put_blob(struct gen *g)
{
	uint32_t len = BLOB_MIN + gen_below(g, BLOB_SPAN);
	uint32_t i;

	put_len(g, len);
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t r = gen_rand(g);

		memcpy(g->buf + g->fill + i, &r, 8);
	}
	for (; i < len; i++)
		g->buf[g->fill + i] = (uint8_t)gen_rand(g);
	g->fill += len;
}

static void put_string_value(struct gen *g)
{
	uint32_t r = gen_below(g, 1000);

	if (r < BLOB_PERMILLE)
		put_blob(g);
	else if (r < BLOB_PERMILLE + 250)
		put_int_value(g);
	else if (r < BLOB_PERMILLE + 600)
		put_words(g);
	else
		put_json(g);
}

static void put_short_field(struct gen *g)
{
	char num[20];

	if (gen_below(g, 2))
		put_word(g, &vocab[gen_below(g, VOCAB_N)]);
	else
		put_str(g, num, fmt_u64(num, gen_below(g, 100000)));
}

static void put_record(struct gen *g)
{
	uint32_t kind = gen_below(g, 100);
	uint32_t n;
	uint32_t i;

	if (gen_below(g, 8) == 0) {
		g->expire_ms += gen_below(g, 1000);
		put_byte(g, RDB_OPCODE_EXPIRETIME_MS);
		put_mem(g, &g->expire_ms, 8);
	}
	if (kind < 65) {
		put_byte(g, RDB_TYPE_STRING);
		put_key(g);
		put_string_value(g);
	} else if (kind < 85) {
		put_byte(g, RDB_TYPE_HASH);
		put_key(g);
		n = 2 + gen_below(g, 5);
		put_len(g, n);
		for (i = 0; i < n; i++) {
			put_word(g, &vocab[50 + gen_below(g, VOCAB_N - 50)]);
			put_short_field(g);
		}
	} else {
		put_byte(g, RDB_TYPE_LIST);
		put_key(g);
		n = 2 + gen_below(g, 7);
		put_len(g, n);
		for (i = 0; i < n; i++)
			put_short_field(g);
	}
}

static void put_aux(struct gen *g, const char *k, const char *v)
{
	put_byte(g, RDB_OPCODE_AUX);
	put_str(g, k, strlen(k));
	put_str(g, v, strlen(v));
}

static void put_header(struct gen *g)
{
	put_mem(g, "REDIS0011", 9);
	put_aux(g, "redis-ver", "7.2.4");
	put_aux(g, "redis-bits", "64");
	put_aux(g, "ctime", "1717200000");
	put_aux(g, "used-mem", "2147483648");
	put_aux(g, "aof-base", "0");
	put_byte(g, RDB_OPCODE_SELECTDB);
	put_len(g, 0);
	put_byte(g, RDB_OPCODE_RESIZEDB);
	put_len(g, 1000000);
	put_len(g, 120000);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "123", "64K", "2G" (powers of 1024). Returns 0, -EINVAL, -ERANGE. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int generate(uint64_t size, uint64_t seed)
{
	struct gen g = { .rng = seed, .expire_ms = 1717200000000ull };
	int err = 0;

	g.buf = malloc(GEN_CHUNK + GEN_SLACK);
	if (!g.buf)
		return -ENOMEM;
	put_header(&g);
	while (size) {
		size_t n;

		while (g.fill < GEN_CHUNK)
			put_record(&g);
		n = size < GEN_CHUNK ? (size_t)size : GEN_CHUNK;
		err = write_all(STDOUT_FILENO, g.buf, n);
		if (err)
			break;
		size -= n;
		/* keep the cut record: a longer run continues with it */
		memmove(g.buf, g.buf + n, g.fill - n);
		g.fill -= n;
	}
	free(g.buf);
	return err;
}

int main(int argc, char **argv)
{
	uint64_t size;
	uint64_t seed = GEN_SEED_DEFAULT;
	int err;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SIZE[K|M|G|T] [SEED]\n", argv[0]);
		return 2;
	}
	err = parse_size(argv[1], &size);
	if (err) {
		fprintf(stderr, "gen_redislike: bad size '%s'\n", argv[1]);
		return 2;
	}
	if (argc == 3) {
		err = parse_size(argv[2], &seed);
		if (err) {
			fprintf(stderr, "gen_redislike: bad seed '%s'\n",
				argv[2]);
			return 2;
		}
	}
	err = generate(size, seed);
	if (err) {
		fprintf(stderr, "gen_redislike: cannot write to stdout: %s\n",
			strerror(-err));
		return 1;
	}
	return 0;
}
