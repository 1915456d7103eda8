/*
 * redis_rdb.c - RDB trailer checks (contract in redis_rdb.h).
 *
 * ISA-L's crc64_jones_refl() inverts its seed on entry and its result on
 * exit (the CRC-64/XZ convention); Redis's crc64 does neither, so the
 * state is inverted around every call. The tail buffer holds the last
 * RDB_TRAILER + 1 bytes (the EOF opcode and the CRC) out of the CRC until
 * more bytes push them in. No locks: one checker per stream.
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
