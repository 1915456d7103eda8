/*
 * codec_tfs1.c - the codec layer's tfs1 writer and reader (format in
 * backends/frame.h and docs/FORMAT.md).
 *
 * Writer: plain bytes fill the current frame buffer; a full frame goes to
 * the worker pool to be compressed and sealed while the caller keeps
 * writing. CODEC_INFLIGHT_MAX slots (plain buffer + sealed buffer each,
 * allocated on first use and recycled) form a ring: the oldest submitted
 * slot is written to the inner writer, by the calling thread and strictly
 * in frame order, when the ring is full or at commit. Any failure is
 * sticky; commit then aborts the inner writer so nothing becomes visible.
 *
 * Reader: the first read (open, for an empty object) checks the header
 * (key), the sealed index and footer and that every size adds up - a file
 * opened and never read costs no request for them - then reads are served
 * at any offset from a small cache of decoded frames. A small object is
 * fetched whole by that first read, in one request. A sequential reader
 * keeps up to workpool_size() + 1 frames ahead decoding on the pool. A frame's bytes
 * are returned only after it authenticated and its plain length and final
 * flag are the ones its position requires.
 *
 * Invariants: a slot whose job is queued or running is touched by nobody
 * but the pool until workpool_wait() returns for it; readers and writers
 * wait for all their jobs before they are freed. The frame_ctx is
 * read-only while jobs run.
 *
 * Locks: none here; a reader or writer is used by one thread at a time
 * (store.h) and the pool has its own.
 */
#include "codec_i.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../conf/log.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

/* Read-ahead frames kept at most, whatever the pool size. */
#define TFS1_AHEAD_MAX 15
/*
 * Decoded frames kept beyond the read-ahead window, for reads that the
 * FUSE threads deliver out of order (the kernel's read-ahead sends a few
 * at once): a frame fetched early waits there for its read.
 */
#define TFS1_REORDER_SLOTS 3

/*
 * Objects stored in at most this many bytes are fetched whole at the
 * first read: one request instead of three (header, index, frame).
 */
#define TFS1_WHOLE_MAX (256u << 10)

/* ---- writer ---- */

struct tfs1_wslot {
	struct workpool_job job;     /* first: the pool's handle */
	const struct frame_ctx *ctx; /* the writer's, borrowed */
	uint64_t index;
	bool final;
	uint8_t *plain; /* owned, frame_size bytes */
	size_t plen;
	uint8_t *sealed; /* owned, frame_stored_bound bytes */
	size_t sealed_len;
	int err; /* frame_seal()'s result */
};

struct tfs1_writer {
	struct store_writer base;
	struct codec *c;	    /* borrowed, outlives us */
	struct store_writer *inner; /* owned until commit/abort */
	char name[CODEC_NAME_MAX];
	struct frame_ctx ctx;
	bool started; /* header written */
	bool lz4;     /* frames in LZ4 rather than deflate */
	size_t bound; /* frame_stored_bound() */
	struct tfs1_wslot slots[CODEC_INFLIGHT_MAX];
	unsigned oldest;   /* ring position of the oldest submitted */
	unsigned inflight; /* submitted, not yet written to inner */
	uint64_t nframes;  /* frames submitted */
	uint32_t *lens;	   /* owned: stored length of each frame out */
	size_t nlens;
	size_t lens_cap;
	EVP_MD_CTX *tags; /* SHA-256 over the written frames' tags */
	uint64_t plain_size;
	int err; /* first error, sticky */
};

static void tfs1_seal_job(struct workpool_job *job)
{
	struct tfs1_wslot *s = container_of(job, struct tfs1_wslot, job);

	s->err = frame_seal(s->ctx, s->index, s->final, s->plain, s->plen,
			    s->sealed, &s->sealed_len);
}

/* The slot being filled: the one after the in-flight ones. */
static struct tfs1_wslot *tfs1_cur(struct tfs1_writer *w)
{
	return &w->slots[(w->oldest + w->inflight) % CODEC_INFLIGHT_MAX];
}

/* Creates the object key and writes the header; on the first write. */
static int tfs1_start(struct tfs1_writer *w)
{
	struct codec *c = w->c;
	uint8_t salt[FRAME_SALT_SIZE];
	enum frame_compression comp;
	int err;

	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		log_error("cannot write '%s': no random bytes for the salt",
			  w->name);
		return -EIO;
	}
	comp = !c->level ? FRAME_COMP_NONE
	       : w->lz4	 ? FRAME_COMP_LZ4
			 : FRAME_COMP_DEFLATE;
	err = frame_ctx_init_new(&w->ctx, &c->key, comp, c->level,
				 c->frame_size, salt);
	if (err)
		return err;
	w->bound = frame_stored_bound(&w->ctx);
	w->started = true;
	return store_writer_write(w->inner, w->ctx.header, FRAME_HEADER_SIZE);
}

/* Gives the current slot its buffers the first time it is used. */
static int tfs1_slot_alloc(struct tfs1_writer *w, struct tfs1_wslot *s)
{
	if (s->plain)
		return 0;
	s->plain = malloc(w->c->frame_size);
	s->sealed = malloc(w->bound);
	if (!s->plain || !s->sealed) {
		free(s->plain);
		free(s->sealed);
		s->plain = NULL;
		s->sealed = NULL;
		return -ENOMEM;
	}
	s->ctx = &w->ctx;
	s->job.fn = tfs1_seal_job;
	return 0;
}

static int tfs1_lens_push(struct tfs1_writer *w, uint32_t len)
{
	if (w->nlens == w->lens_cap) {
		size_t cap = w->lens_cap ? 2 * w->lens_cap : 64;
		uint32_t *p = reallocarray(w->lens, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->lens = p;
		w->lens_cap = cap;
	}
	w->lens[w->nlens++] = len;
	return 0;
}

/*
 * Waits for the oldest in-flight frame and writes it to the inner writer.
 * On failure the slot stays in flight (its job is done), so abort still
 * accounts for it.
 */
static int tfs1_flush_oldest(struct tfs1_writer *w)
{
	struct tfs1_wslot *s = &w->slots[w->oldest];
	int err;

	workpool_wait(w->c->pool, &s->job);
	if (s->err) {
		log_error("cannot write '%s': sealing frame %" PRIu64
			  " failed: %s",
			  w->name, s->index, strerror(-s->err));
		return s->err;
	}
	assert(s->sealed_len >= FRAME_TAG_SIZE && s->sealed_len <= w->bound);
	err = store_writer_write(w->inner, s->sealed, s->sealed_len);
	if (err)
		return err;
	err = tfs1_lens_push(w, (uint32_t)s->sealed_len);
	if (err)
		return err;
	/* the tag ends the stored frame */
	if (EVP_DigestUpdate(w->tags,
			     s->sealed + s->sealed_len - FRAME_TAG_SIZE,
			     FRAME_TAG_SIZE) != 1)
		return -ENOMEM;
	s->plen = 0;
	w->oldest = (w->oldest + 1) % CODEC_INFLIGHT_MAX;
	w->inflight--;
	return 0;
}

/*
 * Hands the current slot to the pool. Keeps a free slot for the next
 * frame: when all are in flight, the oldest is written out first.
 */
static int tfs1_submit(struct tfs1_writer *w, bool final)
{
	struct tfs1_wslot *s = tfs1_cur(w);

	s->index = w->nframes++;
	s->final = final;
	s->err = 0;
	/* -EAGAIN: no thread could start, the job ran inline; it is done */
	(void)workpool_submit(w->c->pool, &s->job);
	w->inflight++;
	if (w->inflight == CODEC_INFLIGHT_MAX)
		return tfs1_flush_oldest(w);
	return 0;
}

static int tfs1_write_frames(struct tfs1_writer *w, const uint8_t *p,
			     size_t len)
{
	uint32_t fs = w->c->frame_size;
	int err;

	while (len > 0) {
		struct tfs1_wslot *s = tfs1_cur(w);
		size_t n;

		err = tfs1_slot_alloc(w, s);
		if (err)
			return err;
		n = fs - s->plen;
		if (n > len)
			n = len;
		memcpy(s->plain + s->plen, p, n);
		s->plen += n;
		w->plain_size += n;
		p += n;
		len -= n;
		if (s->plen == fs) {
			err = tfs1_submit(w, false);
			if (err)
				return err;
		}
	}
	return 0;
}

static int tfs1_write(struct store_writer *sw, const void *src, size_t len)
{
	struct tfs1_writer *w = sw->priv;
	int err;

	if (w->err)
		return w->err;
	err = w->started ? 0 : tfs1_start(w);
	if (!err)
		err = tfs1_write_frames(w, src, len);
	if (err) {
		w->err = err;
		return err;
	}
	w->base.written += len;
	return 0;
}

/* Waits for every job still queued or running: their slots go away. */
static void tfs1_writer_quiesce(struct tfs1_writer *w)
{
	unsigned i;

	for (i = 0; i < w->inflight; i++) {
		unsigned k = (w->oldest + i) % CODEC_INFLIGHT_MAX;

		workpool_wait(w->c->pool, &w->slots[k].job);
	}
}

static void tfs1_writer_free(struct tfs1_writer *w)
{
	unsigned i;

	tfs1_writer_quiesce(w);
	for (i = 0; i < CODEC_INFLIGHT_MAX; i++) {
		if (w->slots[i].plain)
			OPENSSL_cleanse(w->slots[i].plain, w->c->frame_size);
		free(w->slots[i].plain);
		free(w->slots[i].sealed);
	}
	frame_ctx_release(&w->ctx);
	EVP_MD_CTX_free(w->tags);
	free(w->lens);
	free(w);
}

static void tfs1_abort(struct store_writer *sw)
{
	struct tfs1_writer *w = sw->priv;

	tfs1_writer_quiesce(w);
	store_writer_abort(w->inner);
	tfs1_writer_free(w);
}

/* Seals the index and footer after the last frame; writes them. */
static int tfs1_write_index(struct tfs1_writer *w)
{
	size_t size = frame_index_size(w->nframes) + FRAME_FOOTER_SIZE;
	uint8_t *buf;
	size_t len;
	int err;

	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	err = frame_index_seal(&w->ctx, w->lens, w->nframes, w->plain_size, buf,
			       &len);
	if (err)
		log_error("cannot write '%s': sealing the index failed: %s",
			  w->name, strerror(-err));
	else
		err = store_writer_write(w->inner, buf, len);
	free(buf);
	return err;
}

/* Hex SHA-256 of the tags: trovefs-check. */
static int tfs1_check_hex(struct tfs1_writer *w, char *hex, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	if (EVP_DigestFinal_ex(w->tags, md, &mdlen) != 1)
		return -ENOMEM;
	if (2 * (size_t)mdlen + 1 > size)
		return -EINVAL;
	for (i = 0; i < mdlen; i++) {
		static const char digits[] = "0123456789abcdef";

		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * mdlen] = '\0';
	return 0;
}

/* Final frame, drain, index; @check gets trovefs-check. */
static int tfs1_finish(struct tfs1_writer *w, char *check, size_t size)
{
	int err;

	if (!w->started) {
		err = tfs1_start(w);
		if (err)
			return err;
	}
	/* the final frame may be empty: an empty object is just that */
	err = tfs1_slot_alloc(w, tfs1_cur(w));
	if (!err)
		err = tfs1_submit(w, true);
	while (!err && w->inflight > 0)
		err = tfs1_flush_oldest(w);
	if (!err)
		err = tfs1_write_index(w);
	if (!err)
		err = tfs1_check_hex(w, check, size);
	return err;
}

static int tfs1_commit(struct store_writer *sw, const struct meta *m)
{
	struct tfs1_writer *w = sw->priv;
	char check[2 * EVP_MAX_MD_SIZE + 1];
	int err;

	err = w->err;
	if (!err)
		err = tfs1_finish(w, check, sizeof(check));
	/* a failed finish may leave jobs running: none outlives the abort */
	tfs1_writer_quiesce(w);
	err = codec_commit_inner(w->inner, err, m, CODEC_FMT_TFS1_NAME,
				 w->plain_size, check);
	w->inner = NULL; /* consumed, whatever the result */
	tfs1_writer_free(w);
	return err;
}

/* The frames sealed so far go to the inner writer, which syncs them. */
static int tfs1_sync(struct store_writer *sw)
{
	struct tfs1_writer *w = sw->priv;
	int err = w->err;

	while (!err && w->inflight > 0)
		err = tfs1_flush_oldest(w);
	if (!err)
		err = store_writer_sync(w->inner);
	if (err)
		w->err = err;
	return err;
}

static const struct store_writer_ops tfs1_writer_ops = {
	.write = tfs1_write,
	.commit = tfs1_commit,
	.abort = tfs1_abort,
	.sync = tfs1_sync,
};

int codec_tfs1_writer_new(struct codec *c, struct store_writer *inner, bool lz4,
			  const char *name, struct store_writer **out)
{
	struct tfs1_writer *w;

	w = calloc(1, sizeof(*w));
	if (!w)
		goto out_abort_inner;
	w->tags = EVP_MD_CTX_new();
	if (!w->tags)
		goto out_free_writer;
	if (EVP_DigestInit_ex(w->tags, EVP_sha256(), NULL) != 1)
		goto out_free_writer;
	w->c = c;
	w->inner = inner;
	w->lz4 = lz4;
	codec_name_copy(w->name, name);
	w->base.ops = &tfs1_writer_ops;
	w->base.priv = w;
	*out = &w->base;
	return 0;

out_free_writer:
	EVP_MD_CTX_free(w->tags);
	free(w);
out_abort_inner:
	store_writer_abort(inner);
	return -ENOMEM;
}

/* ---- reader ---- */

enum tfs1_rslot_state {
	RSLOT_EMPTY,
	RSLOT_PENDING, /* job queued or running: the pool's */
	RSLOT_READY,   /* opened (or failed: err) */
};

struct tfs1_rslot {
	struct workpool_job job;     /* first: the pool's handle */
	const struct frame_ctx *ctx; /* the reader's, borrowed */
	enum tfs1_rslot_state state;
	uint64_t frame;
	uint8_t *in; /* owned, stored bytes (bound) */
	size_t in_len;
	uint8_t *plain; /* owned, frame_size bytes */
	size_t plen;
	bool final;
	int err;       /* frame_open()'s result */
	uint64_t used; /* LRU stamp */
};

struct tfs1_reader {
	struct store_reader base;
	struct codec *c;	    /* borrowed, outlives us */
	struct store_reader *inner; /* owned */
	char name[CODEC_NAME_MAX];
	struct frame_ctx ctx;
	uint32_t fs; /* the object's frame size */
	size_t bound;
	uint64_t nframes;
	uint32_t *lens;		  /* owned: stored length per frame */
	uint64_t *offs;		  /* owned: stored offset per frame */
	struct tfs1_rslot *slots; /* owned array of nslots */
	unsigned nslots;
	unsigned ahead;	    /* read-ahead frames */
	uint64_t next_off;  /* where a sequential read goes on */
	uint64_t load_next; /* one past the frame the inner reader gave last */
	uint64_t clock;	    /* LRU clock */
	bool logged;	    /* a bad frame was logged */
	bool opened;	    /* tfs1_open_layout() came to a verdict */
	int open_err;	    /* which every read returns */
	bool fetch_failed;  /* an inner read failed (not: object too short) */
	uint64_t meta_size; /* the plain size its trovefs-size promises */
	uint8_t *whole;	    /* owned: a small object's stored bytes, or NULL */
};

static void tfs1_open_job(struct workpool_job *job)
{
	struct tfs1_rslot *s = container_of(job, struct tfs1_rslot, job);

	s->err = frame_open(s->ctx, s->frame, s->in, s->in_len, s->plain,
			    &s->plen, &s->final);
}

static void tfs1_reader_log_corrupt(const char *name, const char *what)
{
	log_error("'%s' is corrupt or truncated: %s", name, what);
}

static struct tfs1_rslot *tfs1_find(struct tfs1_reader *r, uint64_t frame)
{
	unsigned i;

	for (i = 0; i < r->nslots; i++)
		if (r->slots[i].state != RSLOT_EMPTY &&
		    r->slots[i].frame == frame)
			return &r->slots[i];
	return NULL;
}

/*
 * A slot to reuse: an empty one, else the least recently used ready one
 * holding no frame in [@lo, @hi]. NULL if none. (A frame fetched ahead
 * stays pending, so never a victim, until its read waits for it.)
 */
static struct tfs1_rslot *tfs1_victim(struct tfs1_reader *r, uint64_t lo,
				      uint64_t hi)
{
	struct tfs1_rslot *best = NULL;
	unsigned i;

	for (i = 0; i < r->nslots; i++) {
		struct tfs1_rslot *s = &r->slots[i];

		if (s->state == RSLOT_EMPTY)
			return s;
		if (s->state != RSLOT_READY ||
		    (s->frame >= lo && s->frame <= hi))
			continue;
		if (!best || s->used < best->used)
			best = s;
	}
	return best;
}

/* @len stored bytes at @off: from the whole object if fetched. */
static int tfs1_stored(struct tfs1_reader *r, uint64_t off, void *dst,
		       size_t len)
{
	int err;

	if (!r->whole) {
		err = store_reader_read_full(r->inner, off, dst, len);
		if (err && err != -EBADMSG)
			r->fetch_failed = true;
		return err;
	}
	if (off > r->inner->size || len > r->inner->size - off)
		return -EBADMSG;
	memcpy(dst, r->whole + off, len);
	return 0;
}

/* Reads frame @frame's stored bytes into @s (buffers on first use). */
static int tfs1_load(struct tfs1_reader *r, struct tfs1_rslot *s,
		     uint64_t frame)
{
	int err;

	if (!s->plain) {
		s->in = malloc(r->bound);
		s->plain = malloc(r->fs);
		if (!s->in || !s->plain) {
			free(s->in);
			free(s->plain);
			s->in = NULL;
			s->plain = NULL;
			return -ENOMEM;
		}
		s->ctx = &r->ctx;
		s->job.fn = tfs1_open_job;
	}
	s->state = RSLOT_EMPTY;
	s->frame = frame;
	s->in_len = r->lens[frame];
	err = tfs1_stored(r, r->offs[frame], s->in, s->in_len);
	if (err == -EBADMSG)
		tfs1_reader_log_corrupt(r->name, "object ends early");
	if (!err)
		r->load_next = frame + 1;
	return err;
}

/*
 * Checks an opened frame against what its position requires; logs the
 * first bad frame of this reader.
 */
static int tfs1_check_frame(struct tfs1_reader *r, struct tfs1_rslot *s)
{
	bool last = s->frame == r->nframes - 1;
	uint64_t want = last ? r->base.size - s->frame * r->fs : r->fs;
	int err = s->err;

	if (!err && (s->plen != want || s->final != last))
		err = -EBADMSG;
	if (err == -EBADMSG && !r->logged) {
		r->logged = true;
		log_error("'%s' is corrupt or truncated: frame %" PRIu64
			  " does not authenticate",
			  r->name, s->frame);
	}
	return err;
}

/*
 * Queues frames @lo .. @hi (inclusive, clamped to the object) not yet
 * cached, in ascending order: the inner reader then sees one sequential
 * stream (a Swift reader keeps its open GET).
 */
static void tfs1_queue(struct tfs1_reader *r, uint64_t lo, uint64_t hi)
{
	uint64_t f;

	if (hi >= r->nframes)
		hi = r->nframes - 1;
	for (f = lo; f <= hi; f++) {
		struct tfs1_rslot *s;

		if (tfs1_find(r, f))
			continue;
		s = tfs1_victim(r, lo, hi);
		if (!s)
			return;
		/* a failure here shows again when the frame is read */
		if (tfs1_load(r, s, f)) {
			s->state = RSLOT_EMPTY;
			return;
		}
		s->state = RSLOT_PENDING;
		s->used = ++r->clock;
		(void)workpool_submit(r->c->pool, &s->job);
	}
}

/*
 * Queues the frame being read and up to ahead frames after it, leaving
 * out frames fetched before (the read reloads its own if it was evicted).
 * A read that overtook the ones before it (concurrent kernel read-ahead)
 * also queues the frames in between, first, for the reads still to come:
 * the inner reader is asked for frames in ascending order.
 */
static void tfs1_prefetch(struct tfs1_reader *r, uint64_t frame)
{
	uint64_t lo = frame;
	uint64_t hi = frame + r->ahead;

	if (r->load_next > frame ||
	    (r->load_next < frame && frame - r->load_next < r->nslots))
		lo = r->load_next;
	if (hi > lo + r->nslots - 1)
		hi = lo + r->nslots - 1;
	tfs1_queue(r, lo, hi);
}

/*
 * Whether a read of @frame continues a sequential reader. The kernel's
 * read-ahead sends several reads at once and the FUSE threads deliver
 * them in any order, so a read a little past the last one (within the
 * read-ahead window), or a few frames back (still cached), counts too.
 */
static bool tfs1_is_seq(const struct tfs1_reader *r, uint64_t off,
			uint64_t frame)
{
	uint64_t last = r->next_off / r->fs;

	if (off == r->next_off)
		return true;
	return frame + r->nslots >= last && frame <= r->load_next + r->ahead;
}

/* A slot to decode into when the cache has no free one: the oldest. */
static struct tfs1_rslot *tfs1_reclaim(struct tfs1_reader *r)
{
	struct tfs1_rslot *best = &r->slots[0];
	unsigned i;

	for (i = 1; i < r->nslots; i++)
		if (r->slots[i].used < best->used)
			best = &r->slots[i];
	if (best->state == RSLOT_PENDING)
		workpool_wait(r->c->pool, &best->job);
	best->state = RSLOT_READY;
	return best;
}

/* The decoded frame @frame, from the cache or decoded here and now. */
static int tfs1_get_frame(struct tfs1_reader *r, uint64_t frame,
			  struct tfs1_rslot **out)
{
	struct tfs1_rslot *s = tfs1_find(r, frame);
	int err;

	if (s && s->state == RSLOT_PENDING) {
		workpool_wait(r->c->pool, &s->job);
		s->state = RSLOT_READY;
	}
	if (!s) {
		s = tfs1_victim(r, frame, frame);
		if (!s)
			s = tfs1_reclaim(r);
		err = tfs1_load(r, s, frame);
		if (err) {
			s->state = RSLOT_EMPTY;
			return err;
		}
		/* the caller's thread decodes what it waits for */
		tfs1_open_job(&s->job);
		s->state = RSLOT_READY;
	}
	s->used = ++r->clock;
	err = tfs1_check_frame(r, s);
	if (err)
		return err;
	*out = s;
	return 0;
}

static int tfs1_open_layout(struct tfs1_reader *r);

static int tfs1_read(struct store_reader *sr, uint64_t off, void *dst,
		     size_t len, size_t *got)
{
	struct tfs1_reader *r = sr->priv;
	uint64_t fs;
	uint8_t *p = dst;
	size_t done = 0;
	bool seq;
	int err;

	*got = 0;
	/* before the size test: a read at the end verifies the object too */
	err = tfs1_open_layout(r);
	if (err)
		return err;
	fs = r->fs;
	seq = tfs1_is_seq(r, off, off / fs);
	if (off >= r->base.size)
		return 0;
	if (len > r->base.size - off)
		len = (size_t)(r->base.size - off);
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t frame = pos / fs;
		size_t in_frame = (size_t)(pos - frame * fs);
		struct tfs1_rslot *s;
		size_t n;

		if (seq)
			tfs1_prefetch(r, frame);
		err = tfs1_get_frame(r, frame, &s);
		if (err)
			return err;
		n = s->plen - in_frame;
		if (n > len - done)
			n = len - done;
		memcpy(p + done, s->plain + in_frame, n);
		done += n;
	}
	r->next_off = off + done;
	*got = done;
	return 0;
}

static void tfs1_reader_free(struct tfs1_reader *r)
{
	unsigned i;

	for (i = 0; i < r->nslots; i++) {
		struct tfs1_rslot *s = &r->slots[i];

		if (s->state == RSLOT_PENDING)
			workpool_wait(r->c->pool, &s->job);
		if (s->plain)
			OPENSSL_cleanse(s->plain, r->fs);
		free(s->plain);
		free(s->in);
	}
	free(r->slots);
	frame_ctx_release(&r->ctx);
	free(r->lens);
	free(r->offs);
	free(r->whole);
	store_reader_close(r->inner);
	free(r);
}

static void tfs1_close(struct store_reader *sr)
{
	tfs1_reader_free(sr->priv);
}

static const struct store_reader_ops tfs1_reader_ops = {
	.read = tfs1_read,
	.close = tfs1_close,
};

/* Header: the key must be ours. */
static int tfs1_open_header(struct tfs1_reader *r)
{
	uint8_t hdr[FRAME_HEADER_SIZE];
	int err;

	err = tfs1_stored(r, 0, hdr, sizeof(hdr));
	if (err == -EBADMSG)
		tfs1_reader_log_corrupt(r->name, "object ends early");
	if (err)
		return err;
	err = frame_ctx_init_from_header(&r->ctx, &r->c->key, hdr, sizeof(hdr));
	if (err == -EKEYREJECTED) {
		log_error("wrong key for '%s': it was written under another "
			  "key_file",
			  r->name);
		return -EIO;
	}
	if (err == -EBADMSG)
		tfs1_reader_log_corrupt(r->name, "bad header");
	if (err)
		return err;
	/* objects keep their own frame size, whatever the config says */
	r->fs = r->ctx.frame_size;
	r->bound = frame_stored_bound(&r->ctx);
	return 0;
}

/* Footer and sealed index: fills lens. */
static int tfs1_open_index(struct tfs1_reader *r, struct frame_footer *ft)
{
	uint64_t stored = r->inner->size;
	uint8_t footer[FRAME_FOOTER_SIZE];
	uint64_t min_frame = FRAME_HDR_SIZE + FRAME_TAG_SIZE;
	uint8_t *buf;
	size_t size;
	int err;

	err = tfs1_stored(r, stored - sizeof(footer), footer, sizeof(footer));
	if (err)
		return err;
	err = frame_footer_parse(footer, ft);
	if (err) {
		tfs1_reader_log_corrupt(r->name, "bad footer");
		return err;
	}
	/* bound everything before allocating: the footer is not yet checked */
	if (ft->nframes == 0 ||
	    ft->nframes > (stored - FRAME_HEADER_SIZE) / min_frame ||
	    ft->index_len != frame_index_size(ft->nframes) ||
	    ft->index_len > stored - FRAME_HEADER_SIZE - FRAME_FOOTER_SIZE) {
		tfs1_reader_log_corrupt(r->name, "bad footer");
		return -EBADMSG;
	}
	size = ft->index_len + FRAME_FOOTER_SIZE;
	buf = malloc(size);
	r->lens = calloc(ft->nframes, sizeof(*r->lens));
	r->offs = calloc(ft->nframes, sizeof(*r->offs));
	if (!buf || !r->lens || !r->offs) {
		err = -ENOMEM;
		goto out_free_buf;
	}
	err = tfs1_stored(r, stored - size, buf, size);
	if (err)
		goto out_free_buf;
	err = frame_index_open(&r->ctx, ft, buf, r->lens);
	if (err)
		tfs1_reader_log_corrupt(r->name, "the index does not verify");
out_free_buf:
	free(buf);
	return err;
}

/* Everything must add up: stored layout, plain size, frame count. */
static int tfs1_check_layout(struct tfs1_reader *r,
			     const struct frame_footer *ft)
{
	uint64_t fs = r->fs;
	uint64_t pos = FRAME_HEADER_SIZE;
	uint64_t i;

	if (r->meta_size != ft->plain_size) {
		tfs1_reader_log_corrupt(r->name, "trovefs-size does not match");
		return -EBADMSG;
	}
	/* only the last frame may be short (frame_index_open checks too) */
	if (ft->nframes - 1 > ft->plain_size / fs ||
	    ft->plain_size / fs + (ft->plain_size % fs != 0) > ft->nframes) {
		tfs1_reader_log_corrupt(r->name, "frame count does not match");
		return -EBADMSG;
	}
	for (i = 0; i < ft->nframes; i++) {
		if (r->lens[i] < FRAME_HDR_SIZE + FRAME_TAG_SIZE ||
		    r->lens[i] > r->bound) {
			tfs1_reader_log_corrupt(r->name, "bad frame length");
			return -EBADMSG;
		}
		r->offs[i] = pos;
		pos += r->lens[i];
	}
	if (pos + ft->index_len + FRAME_FOOTER_SIZE != r->inner->size) {
		tfs1_reader_log_corrupt(r->name, "sizes do not add up");
		return -EBADMSG;
	}
	return 0;
}

/*
 * Header, index and layout: at the first read, not at open (rsync opens
 * every file it copies to set its mode, and reads none). A small object
 * is fetched whole first. What the bytes say (a wrong key, corruption)
 * stands for every later read, as an open's failure would; a fetch that
 * failed (a timeout) is tried again by the next read.
 */
static int tfs1_open_layout(struct tfs1_reader *r)
{
	uint64_t stored = r->inner->size;
	struct frame_footer ft;
	int err = 0;

	if (r->opened)
		return r->open_err;
	free(r->lens);
	free(r->offs);
	r->lens = NULL;
	r->offs = NULL;
	r->fetch_failed = false;
	if (stored <= TFS1_WHOLE_MAX && !r->whole) {
		uint8_t *whole = malloc(stored);

		err = whole ? tfs1_stored(r, 0, whole, stored) : -ENOMEM;
		if (err == -EBADMSG)
			tfs1_reader_log_corrupt(r->name, "object ends early");
		if (err)
			free(whole);
		else
			r->whole = whole;
	}
	if (!err)
		err = tfs1_open_header(r);
	if (!err)
		err = tfs1_open_index(r, &ft);
	if (!err)
		err = tfs1_check_layout(r, &ft);
	if (!err)
		r->nframes = ft.nframes;
	r->opened = !err || (err != -ENOMEM && !r->fetch_failed);
	r->open_err = err;
	return err;
}

int codec_tfs1_reader_new(struct codec *c, struct store_reader *inner,
			  const struct obj_info *oi, const char *name,
			  struct store_reader **out)
{
	struct tfs1_reader *r;
	unsigned ahead;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r) {
		store_reader_close(inner);
		return -ENOMEM;
	}
	r->c = c;
	r->inner = inner;
	codec_name_copy(r->name, name);
	if (inner->size < FRAME_HEADER_SIZE + FRAME_FOOTER_SIZE) {
		tfs1_reader_log_corrupt(r->name, "object too short");
		err = -EBADMSG;
		goto out_free_reader;
	}
	if (meta_get_u64(&oi->meta, CODEC_META_SIZE, &r->meta_size)) {
		tfs1_reader_log_corrupt(r->name, "trovefs-size does not match");
		err = -EBADMSG;
		goto out_free_reader;
	}
	/*
	 * Nothing reads an empty file (the kernel stops at its size), so
	 * nothing would check it: that it is empty, and its key, now.
	 */
	if (r->meta_size == 0) {
		err = tfs1_open_layout(r);
		if (err)
			goto out_free_reader;
	}
	ahead = workpool_size(c->pool) + 1;
	if (ahead > TFS1_AHEAD_MAX)
		ahead = TFS1_AHEAD_MAX;
	r->ahead = ahead;
	/* the window, and room for a few reads that arrive out of order */
	r->nslots = ahead + 1 + TFS1_REORDER_SLOTS;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (!r->slots) {
		err = -ENOMEM;
		goto out_free_reader;
	}
	r->base.size = r->meta_size;
	r->base.ops = &tfs1_reader_ops;
	r->base.priv = r;
	*out = &r->base;
	return 0;

out_free_reader:
	tfs1_reader_free(r);
	return err;
}
