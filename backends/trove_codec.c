/*
 * trove_codec.c - streaming codec for the OpenStack Trove backup format,
 * "Salted__" + salt + AES-256-CBC(gzip(data)), as written by
 * "gzip | openssl enc -aes-256-cbc -salt" (see trove_codec.h).
 *
 * Encoder: ISA-L deflate (gzip wrapper) -> EVP AES-256-CBC with PKCS#7
 * padding -> sink. Decoder: header and first cipher block are buffered
 * until the key derivation is known, then EVP decrypt -> our own gzip
 * header parser -> ISA-L inflate of the raw deflate data, which checks
 * the trailer CRC32 and ISIZE -> sink. The header is parsed here because
 * ISA-L 2.30 keeps its header state in a per-call local: a header split
 * over two calls fails its FHCRC check (seen in test).
 *
 * Invariants: memory is fixed at creation (buffers are embedded, input is
 * processed in pieces of at most TROVE_CHUNK bytes); the first error is
 * sticky, so every later call returns it; keys live only in the EVP
 * context and in short-lived stack buffers that are wiped after use; the
 * decoder's passphrase copy is wiped as soon as the variant is known.
 * No locks: one object belongs to one thread at a time.
 */
#include "trove_codec.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../conf/log.h"

#define TROVE_MAGIC "Salted__"
#define TROVE_MAGIC_LEN 8
#define TROVE_SALT_LEN 8
#define TROVE_HDR_LEN (TROVE_MAGIC_LEN + TROVE_SALT_LEN)
#define TROVE_BLOCK 16 /* AES block size */
#define TROVE_KEY_LEN 32
#define TROVE_IV_LEN 16
#define TROVE_PBKDF2_ITER 10000 /* what Trove passes to -iter */
#define TROVE_CHUNK (64 * 1024) /* input processed per step */
#define TROVE_OUT (128 * 1024)	/* inflate output per sink call */

/* ---- key derivation ---- */

/*
 * Derives key and IV for @kdf exactly as "openssl enc" does. Returns 0,
 * -EINVAL for an unknown variant, -EIO if OpenSSL fails.
 */
static int trove_derive(enum trove_kdf kdf, const char *pass, size_t pass_len,
			const uint8_t *salt, uint8_t *key, uint8_t *iv)
{
	uint8_t kiv[TROVE_KEY_LEN + TROVE_IV_LEN];
	const EVP_MD *md;
	int n;

	if (pass_len > INT_MAX)
		return -EINVAL;
	switch (kdf) {
	case TROVE_KDF_MD5:
	case TROVE_KDF_SHA256:
		md = kdf == TROVE_KDF_MD5 ? EVP_md5() : EVP_sha256();
		n = EVP_BytesToKey(EVP_aes_256_cbc(), md, salt,
				   (const unsigned char *)pass, (int)pass_len,
				   1, key, iv);
		if (n != TROVE_KEY_LEN) {
			log_error(
				"cannot derive trove key: EVP_BytesToKey failed");
			return -EIO;
		}
		return 0;
	case TROVE_KDF_PBKDF2:
		/* openssl enc -pbkdf2 takes key then IV from one output */
		if (!PKCS5_PBKDF2_HMAC(pass, (int)pass_len, salt,
				       TROVE_SALT_LEN, TROVE_PBKDF2_ITER,
				       EVP_sha512(), (int)sizeof(kiv), kiv)) {
			log_error("cannot derive trove key: PBKDF2 failed");
			return -EIO;
		}
		memcpy(key, kiv, TROVE_KEY_LEN);
		memcpy(iv, kiv + TROVE_KEY_LEN, TROVE_IV_LEN);
		OPENSSL_cleanse(kiv, sizeof(kiv));
		return 0;
	}
	return -EINVAL;
}

/*
 * (Re)starts @ctx on AES-256-CBC with the key and IV of @kdf. @padding
 * false is for probing a single block. Returns 0, -EINVAL, -EIO.
 */
static int trove_cipher_init(EVP_CIPHER_CTX *ctx, bool enc, enum trove_kdf kdf,
			     const char *pass, size_t pass_len,
			     const uint8_t *salt, bool padding)
{
	uint8_t key[TROVE_KEY_LEN];
	uint8_t iv[TROVE_IV_LEN];
	int err;

	err = trove_derive(kdf, pass, pass_len, salt, key, iv);
	if (err)
		goto out_wipe;
	if (!EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv,
			       enc ? 1 : 0) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, padding ? 1 : 0)) {
		log_error("cannot start aes-256-cbc: EVP_CipherInit_ex failed");
		err = -EIO;
	}
out_wipe:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return err;
}

/* ---- encoder ---- */

struct trove_enc {
	struct isal_zstream zs;
	uint8_t *level_buf;	    /* owned, for zs */
	EVP_CIPHER_CTX *ctx;	    /* owned; holds the key */
	uint8_t hdr[TROVE_HDR_LEN]; /* "Salted__" + salt */
	bool hdr_pending;	    /* hdr not yet passed to a sink */
	bool finished;		    /* trove_enc_finish() succeeded */
	int err;		    /* first error; sticky */
	uint8_t zbuf[TROVE_CHUNK];  /* gzip output */
	uint8_t cbuf[TROVE_HDR_LEN + TROVE_CHUNK + TROVE_BLOCK];
};

/* gzip levels 1..9 onto ISA-L's 1..3, like igzip's own command line */
static unsigned int trove_isal_level(int level, uint32_t *buf_size)
{
	if (level == 1) {
		*buf_size = ISAL_DEF_LVL1_DEFAULT;
		return 1;
	}
	if (level <= 5) {
		*buf_size = ISAL_DEF_LVL2_DEFAULT;
		return 2;
	}
	*buf_size = ISAL_DEF_LVL3_DEFAULT;
	return 3;
}

int trove_enc_new(const void *pass, size_t pass_len, enum trove_kdf kdf,
		  const uint8_t *salt, int level, struct trove_enc **out)
{
	struct trove_enc *e;
	uint32_t buf_size;
	int err;

	if ((!pass && pass_len) || level < 1 || level > 9 ||
	    (kdf != TROVE_KDF_MD5 && kdf != TROVE_KDF_SHA256 &&
	     kdf != TROVE_KDF_PBKDF2))
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	isal_deflate_init(&e->zs);
	e->zs.level = trove_isal_level(level, &buf_size);
	e->zs.level_buf_size = buf_size;
	e->zs.gzip_flag = IGZIP_GZIP;
	e->zs.flush = NO_FLUSH;
	e->zs.end_of_stream = 0;
	e->level_buf = malloc(buf_size);
	e->zs.level_buf = e->level_buf;
	e->ctx = EVP_CIPHER_CTX_new();
	if (!e->level_buf || !e->ctx) {
		err = -ENOMEM;
		goto out_free;
	}

	memcpy(e->hdr, TROVE_MAGIC, TROVE_MAGIC_LEN);
	if (salt) {
		memcpy(e->hdr + TROVE_MAGIC_LEN, salt, TROVE_SALT_LEN);
	} else if (RAND_bytes(e->hdr + TROVE_MAGIC_LEN, TROVE_SALT_LEN) != 1) {
		log_error("cannot make a trove salt: RAND_bytes failed");
		err = -EIO;
		goto out_free;
	}
	/* EVP_BytesToKey returns early on NULL data: never pass it one */
	err = trove_cipher_init(e->ctx, true, kdf, pass ? pass : "", pass_len,
				e->hdr + TROVE_MAGIC_LEN, true);
	if (err)
		goto out_free;
	e->hdr_pending = true;
	*out = e;
	return 0;

out_free:
	trove_enc_free(e);
	return err;
}

/*
 * Encrypts @len (<= TROVE_CHUNK) gzip bytes and hands them, preceded by
 * the header the first time, to @sink. @last also pads and flushes.
 */
static int trove_enc_emit(struct trove_enc *e, const uint8_t *z, size_t len,
			  bool last, trove_sink_fn *sink, void *arg)
{
	size_t off = 0;
	int outl = 0;

	if (e->hdr_pending) {
		memcpy(e->cbuf, e->hdr, TROVE_HDR_LEN);
		off = TROVE_HDR_LEN;
	}
	if (len &&
	    !EVP_EncryptUpdate(e->ctx, e->cbuf + off, &outl, z, (int)len)) {
		log_error(
			"cannot encrypt trove stream: EVP_EncryptUpdate failed");
		return -EIO;
	}
	off += (size_t)outl;
	if (last) {
		if (!EVP_EncryptFinal_ex(e->ctx, e->cbuf + off, &outl)) {
			log_error(
				"cannot encrypt trove stream: EVP_EncryptFinal_ex failed");
			return -EIO;
		}
		off += (size_t)outl;
	}
	if (!off)
		return 0;
	e->hdr_pending = false;
	return sink(arg, e->cbuf, off);
}

/*
 * Runs deflate over what is in e->zs until the input is used up (or, at
 * the end of the stream, until the gzip trailer is out), encrypting
 * everything produced.
 */
static int trove_enc_pump(struct trove_enc *e, trove_sink_fn *sink, void *arg)
{
	bool end = e->zs.end_of_stream;
	bool done;
	size_t n;
	int ret;
	int err;

	do {
		e->zs.next_out = e->zbuf;
		e->zs.avail_out = sizeof(e->zbuf);
		ret = isal_deflate(&e->zs);
		if (ret != COMP_OK) {
			log_error(
				"cannot compress trove stream: isal_deflate returned %d",
				ret);
			return -EIO;
		}
		n = sizeof(e->zbuf) - e->zs.avail_out;
		if (end)
			done = e->zs.internal_state.state == ZSTATE_END;
		else
			done = !e->zs.avail_in && e->zs.avail_out;
		err = trove_enc_emit(e, e->zbuf, n, end && done, sink, arg);
		if (err)
			return err;
	} while (!done);
	return 0;
}

int trove_enc_write(struct trove_enc *e, const void *data, size_t len,
		    trove_sink_fn *sink, void *arg)
{
	const uint8_t *p = data;
	size_t n;

	if (e->err)
		return e->err;
	if (e->finished)
		return -EINVAL;
	while (len) {
		n = len < TROVE_CHUNK ? len : TROVE_CHUNK;
		e->zs.next_in = (uint8_t *)p;
		e->zs.avail_in = (uint32_t)n;
		e->err = trove_enc_pump(e, sink, arg);
		if (e->err)
			return e->err;
		p += n;
		len -= n;
	}
	return 0;
}

int trove_enc_finish(struct trove_enc *e, trove_sink_fn *sink, void *arg)
{
	if (e->err)
		return e->err;
	if (e->finished)
		return -EINVAL;
	e->zs.next_in = NULL;
	e->zs.avail_in = 0;
	e->zs.end_of_stream = 1;
	e->err = trove_enc_pump(e, sink, arg);
	if (e->err)
		return e->err;
	e->finished = true;
	return 0;
}

void trove_enc_free(struct trove_enc *e)
{
	if (!e)
		return;
	EVP_CIPHER_CTX_free(e->ctx); /* wipes the key schedule */
	free(e->level_buf);
	free(e);
}

/* ---- decoder ---- */

/* gzip header (RFC 1952 2.3) fields, in the order they appear */
enum trove_gz_state {
	TROVE_GZ_FIXED, /* ID1 ID2 CM FLG MTIME XFL OS */
	TROVE_GZ_XLEN,
	TROVE_GZ_EXTRA,
	TROVE_GZ_NAME,
	TROVE_GZ_COMMENT,
	TROVE_GZ_HCRC,
	TROVE_GZ_DONE,
};

#define TROVE_GZ_FIXED_LEN 10
#define TROVE_GZ_FEXTRA 0x04
#define TROVE_GZ_FNAME 0x08
#define TROVE_GZ_FCOMMENT 0x10
#define TROVE_GZ_FHCRC 0x02
#define TROVE_GZ_FRESERVED 0xe0

struct trove_gz_hdr {
	enum trove_gz_state state;
	uint8_t flags;
	uint8_t buf[TROVE_GZ_FIXED_LEN]; /* fixed part, XLEN or HCRC */
	size_t got;			 /* bytes of buf filled */
	size_t extra_left;		 /* FEXTRA bytes still to skip */
	uint32_t crc;			 /* CRC32 of the header so far */
};

enum trove_dec_state {
	TROVE_DEC_HDR,	 /* collecting "Salted__" + salt */
	TROVE_DEC_PROBE, /* collecting the first cipher block */
	TROVE_DEC_BODY,	 /* decrypting and inflating */
	TROVE_DEC_DONE,	 /* trove_dec_finish() succeeded */
};

struct trove_dec {
	enum trove_dec_state state;
	enum trove_kdf kdf; /* 0 until the probe succeeds */
	int err;	    /* first error; sticky */
	char *pass;	    /* owned, wiped; NULL after probe */
	size_t pass_len;
	EVP_CIPHER_CTX *ctx; /* owned; holds the key */
	uint8_t hdr[TROVE_HDR_LEN];
	size_t hdr_len;
	uint8_t probe[TROVE_BLOCK];
	size_t probe_len;
	struct trove_gz_hdr gz;
	struct inflate_state zs;
	uint8_t pbuf[TROVE_CHUNK + TROVE_BLOCK]; /* gzip bytes */
	uint8_t obuf[TROVE_OUT];		 /* plain bytes */
};

int trove_dec_new(const void *pass, size_t pass_len, struct trove_dec **out)
{
	struct trove_dec *d;

	if (!pass && pass_len)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* one spare byte so even an empty passphrase has a non-NULL copy */
	d->pass = malloc(pass_len + 1);
	d->ctx = EVP_CIPHER_CTX_new();
	if (!d->pass || !d->ctx) {
		trove_dec_free(d);
		return -ENOMEM;
	}
	if (pass_len)
		memcpy(d->pass, pass, pass_len);
	d->pass[pass_len] = '\0';
	d->pass_len = pass_len;
	d->gz.state = TROVE_GZ_FIXED;
	isal_inflate_init(&d->zs);
	/* raw deflate, then the gzip trailer, which ISA-L verifies */
	d->zs.crc_flag = ISAL_GZIP_NO_HDR_VER;
	d->state = TROVE_DEC_HDR;
	*out = d;
	return 0;
}

static void trove_dec_wipe_pass(struct trove_dec *d)
{
	if (!d->pass)
		return;
	OPENSSL_cleanse(d->pass, d->pass_len + 1);
	free(d->pass);
	d->pass = NULL;
	d->pass_len = 0;
}

/*
 * Finds the variant whose first plaintext block starts with the gzip
 * magic and leaves d->ctx ready to decrypt the stream from its start.
 * A wrong key passes by chance with probability about 3 * 2^-24.
 */
static int trove_dec_probe(struct trove_dec *d)
{
	static const enum trove_kdf order[] = {
		TROVE_KDF_MD5,
		TROVE_KDF_SHA256,
		TROVE_KDF_PBKDF2,
	};
	const uint8_t *salt = d->hdr + TROVE_MAGIC_LEN;
	uint8_t plain[TROVE_BLOCK];
	bool match;
	size_t i;
	int outl;
	int err;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		err = trove_cipher_init(d->ctx, false, order[i], d->pass,
					d->pass_len, salt, false);
		if (err)
			goto out_wipe;
		if (!EVP_DecryptUpdate(d->ctx, plain, &outl, d->probe,
				       TROVE_BLOCK) ||
		    outl != TROVE_BLOCK) {
			log_error(
				"cannot decrypt trove stream: EVP_DecryptUpdate failed");
			err = -EIO;
			goto out_wipe;
		}
		match = plain[0] == 0x1f && plain[1] == 0x8b && plain[2] == 8;
		if (!match)
			continue;
		err = trove_cipher_init(d->ctx, false, order[i], d->pass,
					d->pass_len, salt, true);
		if (err)
			goto out_wipe;
		d->kdf = order[i];
		trove_dec_wipe_pass(d);
		goto out_wipe;
	}
	log_debug("trove stream: no key derivation yields gzip");
	err = -EKEYREJECTED;
out_wipe:
	OPENSSL_cleanse(plain, sizeof(plain));
	return err;
}

/* The header field after @st that FLG says is present. */
static enum trove_gz_state trove_gz_next(enum trove_gz_state st, uint8_t flags)
{
	switch (st) {
	case TROVE_GZ_FIXED:
		if (flags & TROVE_GZ_FEXTRA)
			return TROVE_GZ_XLEN;
		/* fall through */
	case TROVE_GZ_XLEN:
	case TROVE_GZ_EXTRA:
		if (flags & TROVE_GZ_FNAME)
			return TROVE_GZ_NAME;
		/* fall through */
	case TROVE_GZ_NAME:
		if (flags & TROVE_GZ_FCOMMENT)
			return TROVE_GZ_COMMENT;
		/* fall through */
	case TROVE_GZ_COMMENT:
		if (flags & TROVE_GZ_FHCRC)
			return TROVE_GZ_HCRC;
		/* fall through */
	default:
		return TROVE_GZ_DONE;
	}
}

/*
 * Moves input from *@p (advancing it) into @buf until that holds @want
 * bytes, *@got counting them; true once it does.
 */
static bool trove_collect(uint8_t *buf, size_t *got, size_t want,
			  const uint8_t **p, size_t *len)
{
	size_t n = want - *got;

	if (n > *len)
		n = *len;
	memcpy(buf + *got, *p, n);
	*got += n;
	*p += n;
	*len -= n;
	return *got == want;
}

/* Collects up to @want bytes of a fixed-size field into g->buf. */
static bool trove_gz_collect(struct trove_gz_hdr *g, size_t want,
			     const uint8_t **p, size_t *len)
{
	return trove_collect(g->buf, &g->got, want, p, len);
}

/*
 * Consumes gzip header bytes from *@p (advancing it) until the header
 * ends or the input does; any length of header in any pieces, in
 * constant memory. Returns 0 or -EBADMSG.
 */
static int trove_gz_parse(struct trove_gz_hdr *g, const uint8_t **p,
			  size_t *len)
{
	const uint8_t *start;
	const uint8_t *nul;
	size_t n;

	while (*len && g->state != TROVE_GZ_DONE) {
		start = *p;
		switch (g->state) {
		case TROVE_GZ_FIXED:
			if (!trove_gz_collect(g, TROVE_GZ_FIXED_LEN, p, len))
				break;
			g->flags = g->buf[3];
			if (g->buf[0] != 0x1f || g->buf[1] != 0x8b ||
			    g->buf[2] != 8 || (g->flags & TROVE_GZ_FRESERVED)) {
				log_debug("trove stream: bad gzip header");
				return -EBADMSG;
			}
			g->got = 0;
			g->state = trove_gz_next(g->state, g->flags);
			break;
		case TROVE_GZ_XLEN:
			if (!trove_gz_collect(g, 2, p, len))
				break;
			g->extra_left = g->buf[0] | (size_t)g->buf[1] << 8;
			g->got = 0;
			g->state = TROVE_GZ_EXTRA;
			break;
		case TROVE_GZ_EXTRA:
			n = *len < g->extra_left ? *len : g->extra_left;
			*p += n;
			*len -= n;
			g->extra_left -= n;
			if (!g->extra_left)
				g->state = trove_gz_next(g->state, g->flags);
			break;
		case TROVE_GZ_NAME:
		case TROVE_GZ_COMMENT:
			nul = memchr(*p, 0, *len);
			n = nul ? (size_t)(nul - *p) + 1 : *len;
			*p += n;
			*len -= n;
			if (nul)
				g->state = trove_gz_next(g->state, g->flags);
			break;
		case TROVE_GZ_HCRC:
			if (!trove_gz_collect(g, 2, p, len))
				return 0;
			if ((g->buf[0] | (uint32_t)g->buf[1] << 8) !=
			    (g->crc & 0xffff)) {
				log_debug("trove stream: bad gzip header crc");
				return -EBADMSG;
			}
			g->state = TROVE_GZ_DONE;
			return 0;
		case TROVE_GZ_DONE:
			break;
		}
		/* FHCRC covers every header byte before it */
		g->crc = crc32_gzip_refl(g->crc, start, (uint64_t)(*p - start));
	}
	return 0;
}

/* After the end of the gzip member: @left more bytes are an error. */
static int trove_dec_after_end(size_t left)
{
	if (!left)
		return 0;
	log_debug("trove stream: data after the gzip trailer");
	return -EBADMSG;
}

/*
 * Inflates @len gzip bytes into the sink. Bytes after the end of the gzip
 * member are an error: Trove wrote exactly one member.
 */
static int trove_dec_inflate(struct trove_dec *d, const uint8_t *z, size_t len,
			     trove_sink_fn *sink, void *arg)
{
	uint32_t in;
	size_t n;
	int ret;
	int err;

	if (d->gz.state != TROVE_GZ_DONE) {
		err = trove_gz_parse(&d->gz, &z, &len);
		if (err || d->gz.state != TROVE_GZ_DONE)
			return err;
	}
	if (d->zs.block_state == ISAL_BLOCK_FINISH)
		return trove_dec_after_end(len);
	d->zs.next_in = (uint8_t *)z;
	d->zs.avail_in = (uint32_t)len;
	for (;;) {
		in = d->zs.avail_in;
		d->zs.next_out = d->obuf;
		d->zs.avail_out = sizeof(d->obuf);
		ret = isal_inflate(&d->zs);
		n = sizeof(d->obuf) - d->zs.avail_out;
		/* a stall with input left would loop forever: treat as bad */
		if (ret < 0 || (!n && d->zs.avail_in && d->zs.avail_in == in)) {
			log_debug(
				"trove stream: bad gzip data (isal_inflate returned %d)",
				ret);
			return -EBADMSG;
		}
		if (n) {
			err = sink(arg, d->obuf, n);
			if (err)
				return err;
		}
		if (d->zs.block_state == ISAL_BLOCK_FINISH)
			return trove_dec_after_end(d->zs.avail_in);
		if (!d->zs.avail_in && d->zs.avail_out)
			return 0;
	}
}

/* Decrypts and inflates cipher bytes once the variant is known. */
static int trove_dec_body(struct trove_dec *d, const uint8_t *p, size_t len,
			  trove_sink_fn *sink, void *arg)
{
	size_t n;
	int outl;
	int err;

	while (len) {
		n = len < TROVE_CHUNK ? len : TROVE_CHUNK;
		if (!EVP_DecryptUpdate(d->ctx, d->pbuf, &outl, p, (int)n)) {
			log_error(
				"cannot decrypt trove stream: EVP_DecryptUpdate failed");
			return -EIO;
		}
		err = trove_dec_inflate(d, d->pbuf, (size_t)outl, sink, arg);
		if (err)
			return err;
		p += n;
		len -= n;
	}
	return 0;
}

static int trove_dec_feed(struct trove_dec *d, const uint8_t *p, size_t len,
			  trove_sink_fn *sink, void *arg)
{
	bool full;
	size_t n;
	int err;

	if (d->state == TROVE_DEC_HDR) {
		full = trove_collect(d->hdr, &d->hdr_len, TROVE_HDR_LEN, &p,
				     &len);
		/* reject a foreign object as soon as its first bytes differ */
		n = d->hdr_len < TROVE_MAGIC_LEN ? d->hdr_len : TROVE_MAGIC_LEN;
		if (memcmp(d->hdr, TROVE_MAGIC, n) != 0) {
			log_debug("trove stream: no 'Salted__' header");
			return -EBADMSG;
		}
		if (!full)
			return 0;
		d->state = TROVE_DEC_PROBE;
	}
	if (d->state == TROVE_DEC_PROBE) {
		if (!trove_collect(d->probe, &d->probe_len, TROVE_BLOCK, &p,
				   &len))
			return 0;
		err = trove_dec_probe(d);
		if (err)
			return err;
		d->state = TROVE_DEC_BODY;
		err = trove_dec_body(d, d->probe, TROVE_BLOCK, sink, arg);
		if (err)
			return err;
	}
	return trove_dec_body(d, p, len, sink, arg);
}

int trove_dec_write(struct trove_dec *d, const void *data, size_t len,
		    trove_sink_fn *sink, void *arg)
{
	if (d->err)
		return d->err;
	if (d->state == TROVE_DEC_DONE)
		return -EINVAL;
	d->err = trove_dec_feed(d, data, len, sink, arg);
	return d->err;
}

/* Checks the padding and that the gzip member ended with its trailer. */
static int trove_dec_end(struct trove_dec *d, trove_sink_fn *sink, void *arg)
{
	int outl;
	int err;

	if (d->state != TROVE_DEC_BODY) {
		log_debug("trove stream: shorter than header and one block");
		return -EBADMSG;
	}
	if (!EVP_DecryptFinal_ex(d->ctx, d->pbuf, &outl)) {
		log_debug("trove stream: bad length or padding");
		return -EBADMSG;
	}
	err = trove_dec_inflate(d, d->pbuf, (size_t)outl, sink, arg);
	if (err)
		return err;
	if (d->zs.block_state != ISAL_BLOCK_FINISH) {
		log_debug("trove stream: gzip data ends before its trailer");
		return -EBADMSG;
	}
	return 0;
}

int trove_dec_finish(struct trove_dec *d, trove_sink_fn *sink, void *arg)
{
	if (d->err)
		return d->err;
	if (d->state == TROVE_DEC_DONE)
		return -EINVAL;
	d->err = trove_dec_end(d, sink, arg);
	if (d->err)
		return d->err;
	d->state = TROVE_DEC_DONE;
	return 0;
}

enum trove_kdf trove_dec_kdf(const struct trove_dec *d)
{
	return d->kdf;
}

void trove_dec_free(struct trove_dec *d)
{
	if (!d)
		return;
	trove_dec_wipe_pass(d);
	EVP_CIPHER_CTX_free(d->ctx); /* wipes the key schedule */
	free(d);
}
