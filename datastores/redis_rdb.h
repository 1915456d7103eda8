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

/* ---- what the head of an RDB file says about its keys ---- */

#define RDB_HEAD_MAX (64u << 10) /* bytes rdb_head_parse() needs at most */

enum rdb_head_kind {
	RDB_HEAD_UNKNOWN, /* cannot tell (see rdb_head_parse()) */
	RDB_HEAD_EMPTY,	  /* no key at all */
	RDB_HEAD_KEYS,	  /* at least one database holds keys */
};

struct rdb_head {
	enum rdb_head_kind kind;
	bool sized;	  /* KEYS with a RESIZEDB opcode: the fields below */
	uint64_t db;	  /* KEYS: the first database that holds keys */
	uint64_t keys;	  /* sized: its number of keys when saved */
	uint64_t expires; /* sized: of them, keys with a TTL */
};

/*
 * Reads the opcodes before the first key of an RDB file (@len bytes of
 * its start; RDB_HEAD_MAX are always enough unless function libraries
 * are very large): aux fields (0xFA) and function libraries (0xF5) are
 * skipped; EOF (0xFF) means no key; SELECTDB (0xFE) means keys, as Redis
 * writes it only for a database that holds some, and the RESIZEDB (0xFB)
 * after it (Redis >= 3.2) gives that database's key and TTL counts. A
 * module aux field, any other opcode, a bad magic or too few bytes give
 * RDB_HEAD_UNKNOWN. Pure; never fails.
 */
void rdb_head_parse(const void *p, size_t len, struct rdb_head *out);

#endif /* DATASTORES_REDIS_RDB_H */
