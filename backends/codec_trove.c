/*
 * codec_trove.c - the codec layer's writer and reader for the Trove format
 * (gzip | openssl enc -aes-256-cbc, backends/trove_codec.h).
 *
 * Writer: one streaming encoder (EVP_BytesToKey SHA-256, what Trove wrote
 * last) whose output goes straight into the inner writer; single-threaded.
 * Errors are sticky; commit then aborts the inner writer.
 *
 * Reader: the format has no index, so reads are sequential. The reader
 * keeps the plain position of its decoder: a read there decodes forward, a
 * forward seek decodes and discards, a backward seek restarts from the
 * start. Decoded bytes wait in a carry buffer, which also keeps the last
 * TROVE_HISTORY bytes behind the newest read: the kernel's read-ahead
 * sends several reads at once and FUSE threads deliver them in any order,
 * and a read overtaken by the one after it must not restart the decoder.
 * Stored bytes are fed to the decoder in small slices so one slice's
 * output stays small even for highly compressible data.
 *
 * Invariant: the carry holds the plain bytes [pos - carry_len, pos), pos
 * being the number of plain bytes the decoder produced so far.
 *
 * Locks: none; a reader or writer is used by one thread at a time.
 */
#include "codec_i.h"

#include <stdlib.h>
#include <string.h>

#include "../conf/log.h"
#include "trove_codec.h"

#define TROVE_IN_BUF (64 * 1024) /* stored bytes read from inner */
#define TROVE_SLICE 4096	 /* stored bytes fed per step */
/* plain bytes kept behind the newest read, for reads that it overtook */
#define TROVE_HISTORY (4u << 20)

/* gzip level per compress_level: 0 (off) still has to be gzip. */
static const int trove_gzip_level[] = { 1, 1, 6, 9 };

/* ---- writer ---- */

struct trove_writer {
	struct store_writer base;
	struct store_writer *inner; /* owned until commit/abort */
	struct trove_enc *enc;	    /* owned */
	char name[CODEC_NAME_MAX];
	int err; /* first error, sticky */
};

static int trove_sink_inner(void *arg, const void *data, size_t len)
{
	return store_writer_write(arg, data, len);
}

static int trove_write(struct store_writer *sw, const void *src, size_t len)
{
	struct trove_writer *w = sw->priv;
	int err;

	if (w->err)
		return w->err;
	err = trove_enc_write(w->enc, src, len, trove_sink_inner, w->inner);
	if (err) {
		w->err = err;
		return err;
	}
	w->base.written += len;
	return 0;
}

static void trove_writer_free(struct trove_writer *w)
{
	trove_enc_free(w->enc);
	free(w);
}

static void trove_abort(struct store_writer *sw)
{
	struct trove_writer *w = sw->priv;

	store_writer_abort(w->inner);
	trove_writer_free(w);
}

static int trove_commit(struct store_writer *sw, const struct meta *m)
{
	struct trove_writer *w = sw->priv;
	int err;

	err = w->err;
	if (!err)
		err = trove_enc_finish(w->enc, trove_sink_inner, w->inner);
	err = codec_commit_inner(w->inner, err, m, CODEC_FMT_TROVE_NAME,
				 w->base.written, NULL);
	trove_writer_free(w);
	return err;
}

/* What the encoder passed on is the inner writer's to sync. */
static int trove_sync(struct store_writer *sw)
{
	struct trove_writer *w = sw->priv;
	int err = w->err;

	if (!err)
		err = store_writer_sync(w->inner);
	if (err)
		w->err = err;
	return err;
}

static const struct store_writer_ops trove_writer_ops = {
	.write = trove_write,
	.commit = trove_commit,
	.abort = trove_abort,
	.sync = trove_sync,
};

int codec_trove_writer_new(struct codec *c, struct store_writer *inner,
			   const char *name, struct store_writer **out)
{
	struct trove_writer *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w) {
		store_writer_abort(inner);
		return -ENOMEM;
	}
	err = trove_enc_new(c->trove_pass, c->trove_pass_len, TROVE_KDF_SHA256,
			    NULL, trove_gzip_level[c->level], &w->enc);
	if (err) {
		store_writer_abort(inner);
		free(w);
		return err;
	}
	w->inner = inner;
	codec_name_copy(w->name, name);
	w->base.ops = &trove_writer_ops;
	w->base.priv = w;
	*out = &w->base;
	return 0;
}

/* ---- reader ---- */

struct trove_reader {
	struct store_reader base;
	struct codec *c;	    /* borrowed, outlives us */
	struct store_reader *inner; /* owned */
	char name[CODEC_NAME_MAX];
	struct trove_dec *dec; /* owned */
	bool finished;	       /* trove_dec_finish() done */
	uint64_t in_off;       /* next stored offset to read */
	uint8_t *ibuf;	       /* owned, TROVE_IN_BUF bytes */
	size_t ilen;	       /* stored bytes in ibuf */
	size_t ipos;	       /* of which fed to the decoder */
	uint64_t pos;	       /* plain bytes decoded so far */
	uint64_t keep_from;    /* the sink drops bytes before this */
	uint8_t *carry;	       /* owned */
	size_t carry_len;
	size_t carry_cap;
	int err; /* first decoding error, sticky */
};

/* Decoder output: kept from keep_from on, counted always. */
static int trove_sink_carry(void *arg, const void *data, size_t len)
{
	struct trove_reader *r = arg;
	const uint8_t *p = data;
	size_t skip = 0;

	if (len > r->base.size - r->pos)
		return -EBADMSG; /* more than trovefs-size */
	if (r->keep_from > r->pos) {
		skip = r->keep_from - r->pos;
		if (skip > len)
			skip = len;
	}
	r->pos += len;
	p += skip;
	len -= skip;
	if (len == 0)
		return 0;
	if (r->carry_len + len > r->carry_cap) {
		size_t cap = r->carry_len + len;
		uint8_t *n = realloc(r->carry, cap);

		if (!n)
			return -ENOMEM;
		r->carry = n;
		r->carry_cap = cap;
	}
	memcpy(r->carry + r->carry_len, p, len);
	r->carry_len += len;
	return 0;
}

/* Maps a decoding error to the reader's result; logs it once. */
static int trove_fail(struct trove_reader *r, int err)
{
	if (err == -EKEYREJECTED) {
		log_error("wrong key for '%s': the passphrase does not decrypt "
			  "it (or it is not a Trove backup)",
			  r->name);
		err = -EIO;
	} else if (err == -EBADMSG) {
		log_error("'%s' is corrupt or truncated: the Trove stream "
			  "does not decode",
			  r->name);
	} else {
		/* inner errors were logged where they happened */
		return err;
	}
	r->err = err;
	return err;
}

/*
 * Feeds the decoder one slice of stored bytes (or, at the end of them,
 * finishes it). Returns 0, -EBADMSG at a decoded size other than
 * trovefs-size, or the decoder's or inner reader's error.
 */
static int trove_step(struct trove_reader *r)
{
	size_t got = 0;
	size_t n;
	int err;

	if (r->ipos == r->ilen && r->in_off < r->inner->size) {
		err = store_reader_read(r->inner, r->in_off, r->ibuf,
					TROVE_IN_BUF, &got);
		if (err)
			return err;
		if (got == 0)
			return trove_fail(r, -EBADMSG);
		r->in_off += got;
		r->ilen = got;
		r->ipos = 0;
	}
	if (r->ipos == r->ilen) {
		err = trove_dec_finish(r->dec, trove_sink_carry, r);
		if (err)
			return trove_fail(r, err);
		r->finished = true;
		if (r->pos != r->base.size)
			return trove_fail(r, -EBADMSG);
		return 0;
	}
	n = r->ilen - r->ipos;
	if (n > TROVE_SLICE)
		n = TROVE_SLICE;
	err = trove_dec_write(r->dec, r->ibuf + r->ipos, n, trove_sink_carry,
			      r);
	if (err)
		return trove_fail(r, err);
	r->ipos += n;
	return 0;
}

/*
 * Before decoding on towards @want (>= pos): keeps at most TROVE_HISTORY
 * carried bytes behind @want, and has the sink keep what it decodes from
 * there on. The carry's front is cut only once it holds twice the
 * history, so cutting costs one move of the history per TROVE_HISTORY
 * bytes decoded.
 */
static void trove_keep_history(struct trove_reader *r, uint64_t want)
{
	uint64_t keep = want > TROVE_HISTORY ? want - TROVE_HISTORY : 0;
	uint64_t start = r->pos - r->carry_len;
	size_t drop;

	r->keep_from = keep;
	if (keep >= r->pos) {
		r->carry_len = 0; /* all of it too far behind */
		return;
	}
	if (keep <= start || r->carry_len <= 2 * (size_t)TROVE_HISTORY)
		return;
	drop = (size_t)(keep - start);
	memmove(r->carry, r->carry + drop, r->carry_len - drop);
	r->carry_len -= drop;
}

/* Back to the start of the object: a new decoder. */
static int trove_restart(struct trove_reader *r)
{
	struct trove_dec *dec;
	int err;

	err = trove_dec_new(r->c->trove_pass, r->c->trove_pass_len, &dec);
	if (err)
		return err;
	trove_dec_free(r->dec);
	r->dec = dec;
	r->finished = false;
	r->in_off = 0;
	r->ilen = 0;
	r->ipos = 0;
	r->pos = 0;
	r->keep_from = 0;
	r->carry_len = 0;
	return 0;
}

static int trove_read(struct store_reader *sr, uint64_t off, void *dst,
		      size_t len, size_t *got)
{
	struct trove_reader *r = sr->priv;
	uint8_t *p = dst;
	size_t done = 0;
	int err;

	*got = 0;
	if (r->err)
		return r->err;
	if (off >= r->base.size)
		return 0;
	if (len > r->base.size - off)
		len = (size_t)(r->base.size - off);
	if (off < r->pos - r->carry_len) {
		log_debug("'%s': a read at %llu is behind what the Trove "
			  "decoder keeps: decoding again from the start",
			  r->name, (unsigned long long)off);
		err = trove_restart(r);
		if (err)
			return err;
	}
	while (done < len) {
		uint64_t want = off + done;
		uint64_t start = r->pos - r->carry_len;

		if (want < r->pos) {
			size_t skip = (size_t)(want - start);
			size_t n = r->carry_len - skip;

			if (n > len - done)
				n = len - done;
			memcpy(p + done, r->carry + skip, n);
			done += n;
			continue;
		}
		trove_keep_history(r, want);
		if (r->finished)
			return trove_fail(r, -EBADMSG);
		err = trove_step(r);
		if (err)
			return err;
	}
	/*
	 * The read that reaches the end also checks the end (padding, gzip
	 * CRC and length): only the trailer is left to decode.
	 */
	while (off + done == r->base.size && !r->finished) {
		err = trove_step(r);
		if (err)
			return err;
	}
	*got = done;
	return 0;
}

static void trove_reader_free(struct trove_reader *r)
{
	trove_dec_free(r->dec);
	free(r->ibuf);
	free(r->carry);
	store_reader_close(r->inner);
	free(r);
}

static void trove_close(struct store_reader *sr)
{
	trove_reader_free(sr->priv);
}

static const struct store_reader_ops trove_reader_ops = {
	.read = trove_read,
	.close = trove_close,
};

int codec_trove_reader_new(struct codec *c, struct store_reader *inner,
			   const struct obj_info *oi, const char *name,
			   struct store_reader **out)
{
	struct trove_reader *r;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r) {
		store_reader_close(inner);
		return -ENOMEM;
	}
	r->c = c;
	r->inner = inner;
	codec_name_copy(r->name, name);
	if (meta_get_u64(&oi->meta, CODEC_META_SIZE, &r->base.size)) {
		log_error("'%s' is corrupt or truncated: no valid "
			  "trovefs-size",
			  r->name);
		err = -EBADMSG;
		goto out_free_reader;
	}
	r->ibuf = malloc(TROVE_IN_BUF);
	if (!r->ibuf) {
		err = -ENOMEM;
		goto out_free_reader;
	}
	err = trove_restart(r);
	if (err)
		goto out_free_reader;
	/*
	 * Decode until the key variant is known, so a wrong passphrase
	 * shows at open; what this decodes is kept in the carry.
	 */
	while (!err && !r->finished && trove_dec_kdf(r->dec) == 0)
		err = trove_step(r);
	if (err)
		goto out_free_reader;
	r->base.ops = &trove_reader_ops;
	r->base.priv = r;
	*out = &r->base;
	return 0;

out_free_reader:
	trove_reader_free(r);
	return err;
}
