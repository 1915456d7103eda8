/*
 * redis_rdb.c - RDB trailer checks (contract in redis_rdb.h).
 *
 * ISA-L's crc64_jones_refl() inverts its seed on entry and its result on
 * exit (the CRC-64/XZ convention); Redis's crc64 does neither, so the
 * state is inverted around every call. The tail buffer holds the last
 * RDB_TRAILER + 1 bytes (the EOF opcode and the CRC) out of the CRC until
 * more bytes push them in. rdb_head_parse() reads just enough of the RDB
 * encoding (lengths, strings) to step over what precedes the first key.
 * No locks: one checker per stream.
 */
#include "redis_rdb.h"

#include <errno.h>
#include <isa-l/crc64.h>
#include <string.h>

uint64_t rdb_crc64(uint64_t crc, const void *p, size_t len)
{
	return ~crc64_jones_refl(~crc, p, len);
}

void rdb_check_init(struct rdb_check *c)
{
	memset(c, 0, sizeof(*c));
}

void rdb_check_update(struct rdb_check *c, const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t keep = sizeof(c->tail);
	size_t out;
	size_t n;

	/* the first bytes, for the magic and version */
	if (c->total < RDB_HEADER) {
		n = RDB_HEADER - (size_t)c->total;
		if (n > len)
			n = len;
		memcpy(c->head + c->total, s, n);
	}
	c->total += len;
	if (c->ntail + len <= keep) {
		memcpy(c->tail + c->ntail, s, len);
		c->ntail += len;
		return;
	}
	/* the held bytes that are no longer among the last @keep go in */
	out = c->ntail + len - keep;
	if (out >= c->ntail) {
		c->crc = rdb_crc64(c->crc, c->tail, c->ntail);
		out -= c->ntail;
		c->crc = rdb_crc64(c->crc, s, out);
		memcpy(c->tail, s + out, keep);
	} else {
		c->crc = rdb_crc64(c->crc, c->tail, out);
		memmove(c->tail, c->tail + out, c->ntail - out);
		memcpy(c->tail + c->ntail - out, s, len);
	}
	c->ntail = keep;
}

static int rdb_version(const struct rdb_check *c)
{
	int v = 0;
	int i;

	for (i = 5; i < RDB_HEADER; i++) {
		if (c->head[i] < '0' || c->head[i] > '9')
			return -1;
		v = v * 10 + (c->head[i] - '0');
	}
	return v;
}

int rdb_check_final(const struct rdb_check *c, const char **why)
{
	uint64_t stored = 0;
	uint64_t crc;
	int version;
	int i;

	if (c->total < RDB_HEADER + 1 + RDB_TRAILER ||
	    c->ntail != sizeof(c->tail)) {
		*why = "too short for an RDB file";
		return -EBADMSG;
	}
	if (memcmp(c->head, "REDIS", 5) != 0) {
		*why = "no REDIS magic";
		return -EBADMSG;
	}
	version = rdb_version(c);
	if (version < 1) {
		*why = "bad RDB version";
		return -EBADMSG;
	}
	if (version < 5) {
		/* no checksum: the file ends with the EOF opcode */
		if (c->tail[RDB_TRAILER] != 0xff) {
			*why = "no EOF opcode at the end";
			return -EBADMSG;
		}
		return 0;
	}
	if (c->tail[0] != 0xff) {
		*why = "no EOF opcode before the checksum";
		return -EBADMSG;
	}
	for (i = RDB_TRAILER; i >= 1; i--)
		stored = (stored << 8) | c->tail[i];
	if (stored == 0)
		return 0;		     /* written with rdbchecksum no */
	crc = rdb_crc64(c->crc, c->tail, 1); /* the EOF opcode */
	if (crc != stored) {
		*why = "CRC-64 mismatch";
		return -EBADMSG;
	}
	return 0;
}

/* ---- the head of an RDB file ---- */

#define RDB_OP_FUNCTION2 0xf5
#define RDB_OP_AUX 0xfa
#define RDB_OP_RESIZEDB 0xfb
#define RDB_OP_SELECTDB 0xfe
#define RDB_OP_EOF 0xff

struct rdb_cursor {
	const unsigned char *p;
	size_t len;
	size_t pos;
};

static bool cur_byte(struct rdb_cursor *c, unsigned *b)
{
	if (c->pos >= c->len)
		return false;
	*b = c->p[c->pos++];
	return true;
}

/*
 * An RDB length (rdbLoadLen()): 6, 14, 32 or 64 bits; *@encoded is set
 * for the special string encodings (0b11 prefix), whose type is *@v.
 */
static bool cur_len(struct rdb_cursor *c, uint64_t *v, bool *encoded)
{
	unsigned b;
	unsigned x;
	int n;

	*encoded = false;
	if (!cur_byte(c, &b))
		return false;
	switch (b >> 6) {
	case 0:
		*v = b & 0x3f;
		return true;
	case 1:
		if (!cur_byte(c, &x))
			return false;
		*v = (uint64_t)(b & 0x3f) << 8 | x;
		return true;
	case 2:
		if (b != 0x80 && b != 0x81)
			return false;
		*v = 0;
		for (n = b == 0x80 ? 4 : 8; n > 0; n--) {
			if (!cur_byte(c, &x))
				return false;
			*v = *v << 8 | x;
		}
		return true;
	default:
		*encoded = true;
		*v = b & 0x3f;
		return true;
	}
}

static bool cur_skip(struct rdb_cursor *c, uint64_t n)
{
	if (n > c->len - c->pos)
		return false;
	c->pos += (size_t)n;
	return true;
}

/* Steps over one string (rdbGenericLoadStringObject()). */
static bool cur_skip_string(struct rdb_cursor *c)
{
	uint64_t clen;
	uint64_t ulen;
	uint64_t v;
	bool enc;

	if (!cur_len(c, &v, &enc))
		return false;
	if (!enc)
		return cur_skip(c, v);
	switch (v) {
	case 0: /* 8, 16, 32-bit integers */
	case 1:
	case 2:
		return cur_skip(c, (uint64_t)1 << v);
	case 3: /* LZF: compressed and plain length, then the bytes */
		return cur_len(c, &clen, &enc) && !enc &&
		       cur_len(c, &ulen, &enc) && !enc && cur_skip(c, clen);
	default:
		return false;
	}
}

void rdb_head_parse(const void *p, size_t len, struct rdb_head *out)
{
	struct rdb_cursor c = { .p = p, .len = len, .pos = RDB_HEADER };
	uint64_t db;
	unsigned op;
	bool enc;

	memset(out, 0, sizeof(*out));
	if (len < RDB_HEADER || memcmp(p, "REDIS", 5) != 0)
		return;
	for (;;) {
		if (!cur_byte(&c, &op))
			return;
		if (op == RDB_OP_AUX) {
			if (!cur_skip_string(&c) || !cur_skip_string(&c))
				return;
		} else if (op == RDB_OP_FUNCTION2) {
			if (!cur_skip_string(&c))
				return;
		} else if (op == RDB_OP_EOF) {
			out->kind = RDB_HEAD_EMPTY;
			return;
		} else if (op == RDB_OP_SELECTDB) {
			break;
		} else {
			return; /* a module aux field, or unknown */
		}
	}
	if (!cur_len(&c, &db, &enc) || enc)
		return;
	out->kind = RDB_HEAD_KEYS;
	out->db = db;
	if (!cur_byte(&c, &op) || op != RDB_OP_RESIZEDB)
		return;
	if (!cur_len(&c, &out->keys, &enc) || enc ||
	    !cur_len(&c, &out->expires, &enc) || enc ||
	    out->expires > out->keys) {
		out->keys = 0;
		out->expires = 0;
		return;
	}
	out->sized = true;
}
