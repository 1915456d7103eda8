/*
 * redis_rdb.h - checking Redis RDB files: the CRC-64 Redis puts in the
 * last 8 bytes (CRC-64/Jones, reflected, init 0, no final xor; stored
 * little-endian), the "REDIS" magic, the version and the EOF opcode.
 *
 * A checker is fed the file in order, in pieces of any size; it keeps the
 * last 8 bytes back until the end, so it needs no look-ahead. Pure
 * functions: no I/O, no locks; one checker per stream.
 */
#ifndef DATASTORES_REDIS_RDB_H
#define DATASTORES_REDIS_RDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RDB_TRAILER 8 /* CRC-64 bytes at the end */
#define RDB_HEADER 9  /* "REDIS" + 4 version digits */

/* Redis's crc64(crc, p, len): continues @crc over @len bytes. */
uint64_t rdb_crc64(uint64_t crc, const void *p, size_t len);

struct rdb_check {
	uint64_t crc;	/* over every byte before the held tail */
	uint64_t total; /* bytes fed */
	unsigned char head[RDB_HEADER]; /* the first bytes, for the magic */
	unsigned char tail[RDB_TRAILER + 1]; /* the last bytes fed */
	size_t ntail;
};

void rdb_check_init(struct rdb_check *c);
void rdb_check_update(struct rdb_check *c, const void *p, size_t len);

/*
 * Checks what was fed: 0, or -EBADMSG with a reason in @why (static
 * text): too short, no "REDIS" magic, no EOF opcode, CRC mismatch. A zero
 * CRC is accepted like Redis does (the server ran with rdbchecksum no);
 * files of RDB version < 5 have no CRC and are checked for magic and EOF.
 */
int rdb_check_final(const struct rdb_check *c, const char **why);

#endif /* DATASTORES_REDIS_RDB_H */
