/*
 * swift_writer.c - the streamed writer of the "swift:" store (contract in
 * swift_store.h, shared internals in swift_i.h).
 *
 * An object that fits in one segment is one ETag-checked PUT at commit. A
 * larger one becomes a Static Large Object: each full buffer is handed to
 * an upload thread (a slot) and a fresh buffer is filled meanwhile; the
 * manifest PUT at commit is what makes the object visible.
 *
 * 413 (Swift's max_file_size is below segment_size): the slot that got it
 * still holds its data, so it cuts it in halves and uploads those, halving
 * again on another 413, and records the size that worked in
 * swift_priv.seg_limit: later buffers of every writer are cut at that
 * size from the start. A single PUT answered 413 at commit is turned into
 * an SLO the same way.
 *
 * Invariants: at most conf.parallel slots run at once, each with its own
 * buffer kept until Swift acknowledged it with the right ETag, plus the
 * buffer being filled: memory is bounded by (parallel + 1) * segment_size
 * per writer. Slot i uploads "group" i, one or more pieces (more only
 * after a 413), in manifest order. Segment object names are numbered by
 * w->next_name, taken with an atomic add by whoever uploads a piece: names
 * are unique, and every name from first_name to below next_name may exist
 * on the server, so a failed or aborted writer deletes exactly those (and
 * its
 * sub-manifests) before commit or abort returns - or, if a DELETE fails
 * (Swift down), stops there and leaves the rest to `trovefs gc`: close()
 * must not wait a retry budget per segment.
 *
 * Manifests hold at most swift_priv.slo_max entries (Swift's /info,
 * loaded at the first SLO commit); beyond that they nest.
 *
 * Locks: none. Slots share with the writer thread only their own struct,
 * read back after pthread_join(), and the atomic name counter.
 */
#include "swift_i.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../conf/log.h"

/* Pieces of one segment after 413s: a segment is at most cut this often. */
#define PIECES_MAX 4096

struct sw_group {
	struct swift_seg *pieces; /* owned, in manifest order */
	size_t n;
};

struct sw_slot {
	struct sw_writer *w;
	pthread_t th;
	bool running;
	char *data; /* owned, segment_size bytes */
	size_t len;
	size_t index;	     /* group number */
	char etag[33];	     /* md5 of data[0..len) */
	struct sw_group out; /* what was uploaded; moved to the writer */
	int err;
};

struct sw_writer {
	struct store_writer base;
	struct swift_priv *sw;
	char *container;
	char *key;
	char *seg_container; /* where segments go */
	char *seg_prefix;    /* "<key>/<uuid>/" or "<key>_" */
	char *part_ctype;    /* Content-Type of segments, sub-manifests */
	bool trove;
	bool seg_container_ok;
	bool fresh; /* store_wopts.fresh: no old parts to look for */

	char *cur; /* owned buffer being filled */
	size_t cur_len;
	EVP_MD_CTX *md5; /* over cur */

	size_t nseg;		 /* groups started */
	struct sw_group *groups; /* done: groups[i] for i < nseg */
	size_t groups_cap;
	size_t first_name; /* segment numbers start here (Trove's layout:
			    * above the object's current ones) */
	size_t next_name;  /* segment names taken (atomic) */
	bool numbered;	   /* first_name is known */
	struct sw_slot slots[SWIFT_MAX_PARALLEL];
	struct swift_nest nest; /* sub-manifests written, to delete on
				 * failure */
	int err;		/* sticky */
};

/* @n bytes of @in as lowercase hex into @out (2 * @n + 1 bytes). */
static void hex_of(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int swift_upload_id_new(char id[SWIFT_UPLOAD_ID_LEN + 1])
{
	unsigned char rnd[SWIFT_UPLOAD_ID_LEN / 2];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	hex_of(rnd, sizeof(rnd), id);
	return 0;
}

static void md5_hex(const unsigned char *md, char out[33])
{
	hex_of(md, 16, out);
}

/* Finishes @ctx into @out and restarts it for the next buffer. */
static int hex_md5(EVP_MD_CTX *ctx, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_DigestFinal_ex(ctx, md, &len) || len != 16 ||
	    !EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
		return -EIO;
	md5_hex(md, out);
	return 0;
}

uint64_t swift_cut_size(uint64_t segment_size, uint64_t limit)
{
	if (limit > 0 && limit < segment_size)
		return limit;
	return segment_size;
}

/* The largest segment to cut: segment_size, or less after a 413. */
static size_t cut_size(const struct swift_priv *sw)
{
	uint64_t lim = __atomic_load_n(&sw->seg_limit, __ATOMIC_RELAXED);

	return (size_t)swift_cut_size(sw->segment_size, lim);
}

/* Remembers that a segment of @len bytes passed after a 413. */
static void learn_limit(struct swift_priv *sw, uint64_t len)
{
	uint64_t cur = __atomic_load_n(&sw->seg_limit, __ATOMIC_RELAXED);

	while (cur < len &&
	       !__atomic_compare_exchange_n(&sw->seg_limit, &cur, len, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Object name of segment number @i in seg_container. */
static int seg_name(const struct sw_writer *w, size_t i, struct buf *b)
{
	if (w->trove && i > SWIFT_TROVE_NUM_MAX) {
		/* a 9th digit would no longer be a name Trove or listings know */
		log_error(
			"cannot upload '%s/%s': no segment number left after %u; remove it and copy again",
			w->container, w->key, SWIFT_TROVE_NUM_MAX);
		return -EFBIG;
	}
	buf_reset(b);
	buf_printf(b, "%s%08zu", w->seg_prefix, i);
	return b->err;
}

/*
 * A manifest PUT with heartbeat=on: Swift answers 202 at once and sends
 * spaces while it checks every segment (on a slow cluster longer than
 * the stall timeout), then the outcome in the body. A transient status
 * there (5xx, 429) is retried like a transient HTTP status, within the
 * retry budget. A Swift without heartbeats answers as usual (201).
 */
static int put_heartbeat(struct swift_priv *sw, struct swift_call *c)
{
	const struct swift_backoff bo = {
		.base_ms = SWIFT_BACKOFF_BASE_MS,
		.cap_ms = SWIFT_BACKOFF_CAP_MS,
		.budget_ms = sw->budget_ms,
	};
	uint64_t start = swift_now_ms();
	struct swift_http_req r;
	struct buf resp;
	unsigned attempt;
	int err;

	buf_init(&resp, 1u << 20);
	c->resp = &resp;
	for (attempt = 1;; attempt++) {
		uint64_t deleted = 0;
		uint64_t not_found = 0;
		struct timespec ts;
		long status = 0;
		long delay = -1;

		swift_http_req_init(&r);
		err = swift_do(sw, c, &r);
		if (!err && r.status == 202)
			err = swift_bulk_delete_result(resp.data, resp.len,
						       &deleted, &not_found,
						       &status);
		swift_http_req_release(&r);
		if (err != -EIO && err != -EBADMSG)
			break;
		if (swift_http_is_retryable(status, CURLE_OK))
			delay = swift_backoff_delay(
				&bo, attempt, swift_now_ms() - start, 0.5);
		if (delay < 0) {
			/* a transport failure: swift_do() said it already */
			if (resp.len > 0)
				log_error("swift PUT '%s/%s': %.300s",
					  c->container, c->key, buf_str(&resp));
			/* the body's text: a quota is EDQUOT here too */
			if (status)
				err = swift_http_errno(status, CURLE_OK,
						       SWIFT_TARGET_OBJECT,
						       buf_str(&resp));
			break;
		}
		ts.tv_sec = delay / 1000;
		ts.tv_nsec = (delay % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	c->resp = NULL;
	buf_release(&resp);
	return err;
}

/* True if the ETag header value @got (quoted or not) is md5 hex @want. */
static bool etag_is(const char *got, const char *want)
{
	size_t gl = strlen(got);

	if (gl >= 2 && got[0] == '"' && got[gl - 1] == '"') {
		got++;
		gl -= 2;
	}
	return gl == 32 && strncasecmp(got, want, 32) == 0;
}

int swift_put_checked(struct swift_priv *sw, const char *container,
		      const char *key, const char *query, const void *data,
		      size_t len, const char *etag, const struct meta *m,
		      const char *part_ctype)
{
	struct curl_slist *h = NULL;
	struct swift_call c = {
		.method = "PUT",
		.container = container,
		.key = key,
		.query = query,
		.body = data,
		.body_len = len,
		.has_body = true,
		.quiet = SWIFT_QUIET_413,
	};
	bool heartbeat = query && strcmp(query, SWIFT_MANIFEST_PUT) == 0;
	struct swift_http_req r;
	char got[64];
	int err = 0;

	if (etag && etag[0])
		err = swift_add_header(&h, "ETag: %s", etag);
	if (!err && !part_ctype)
		err = swift_meta_headers(m, &h);
	if (!err && part_ctype)
		err = swift_add_header(&h, "Content-Type: %s", part_ctype);
	if (!err && heartbeat)
		err = swift_add_header(&h, "Accept: application/json");
	if (err) {
		curl_slist_free_all(h);
		return err;
	}
	c.headers = h;
	if (heartbeat) {
		c.query = SWIFT_MANIFEST_PUT "&heartbeat=on";
		err = put_heartbeat(sw, &c);
		curl_slist_free_all(h);
		return err;
	}
	swift_http_req_init(&r);
	err = swift_do(sw, &c, &r);
	if (!err && etag && etag[0] && !query &&
	    swift_http_header(&r, "etag", got, sizeof(got))) {
		/* Swift checked it (422 otherwise); this catches proxies */
		if (!etag_is(got, etag)) {
			log_error("swift PUT '%s/%s': etag %s, expected %s",
				  container, key, got, etag);
			err = -EIO;
		}
	}
	swift_http_req_release(&r);
	curl_slist_free_all(h);
	return err;
}

/* Appends a piece uploaded as segment number @num to @g. */
static int group_add(struct sw_writer *w, struct sw_group *g, size_t num,
		     const char *etag, size_t len)
{
	struct swift_seg *p;
	struct buf path;

	p = reallocarray(g->pieces, g->n + 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	g->pieces = p;
	buf_init(&path, SWIFT_URL_MAX);
	buf_printf(&path, "/%s/%s%08zu", w->seg_container, w->seg_prefix, num);
	if (path.err) {
		buf_release(&path);
		return path.err;
	}
	p[g->n].path = buf_steal(&path);
	memcpy(p[g->n].etag, etag, 33);
	p[g->n].size = len;
	g->n++;
	return 0;
}

static void group_release(struct sw_group *g)
{
	swift_segs_free(g->pieces, g->n);
	g->pieces = NULL;
	g->n = 0;
}

static int put_cut_rec(size_t off, size_t len, bool cut, size_t max,
		       size_t *npieces, swift_piece_fn *put, void *arg)
{
	size_t half;
	int err;

	err = put(arg, off, len, cut);
	if (!err) {
		(*npieces)++;
		return 0;
	}
	if (err != -EFBIG || len < 2 || *npieces + 2 > max)
		return err;
	half = len - len / 2;
	err = put_cut_rec(off, half, true, max, npieces, put, arg);
	if (err)
		return err;
	return put_cut_rec(off + half, len - half, true, max, npieces, put,
			   arg);
}

int swift_put_cut(size_t len, size_t max_pieces, swift_piece_fn *put, void *arg)
{
	size_t npieces = 0;

	return put_cut_rec(0, len, false, max_pieces, &npieces, put, arg);
}

/* What a slot's swift_put_cut() callback needs. */
struct piece_ctx {
	struct sw_writer *w;
	struct sw_group *g;
	const char *data; /* the whole segment */
	size_t num;	  /* the slot's name, for the first (uncut) PUT */
	const char *etag; /* md5 of the whole segment */
};

/*
 * Uploads one piece: the whole segment under the slot's number, or a cut
 * piece (after a 413) under a new number; appends it to the group.
 */
static int put_piece(void *arg, size_t off, size_t len, bool cut)
{
	struct piece_ctx *pc = arg;
	struct sw_writer *w = pc->w;
	const char *data = pc->data + off;
	const char *etag = pc->etag;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t num = pc->num;
	char hex[33];
	struct buf name;
	int err;

	if (cut) {
		if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) ||
		    mdlen != 16)
			return -EIO;
		md5_hex(md, hex);
		etag = hex;
		num = __atomic_fetch_add(&w->next_name, 1, __ATOMIC_RELAXED);
	}
	buf_init(&name, STORE_KEY_MAX + 64);
	err = seg_name(w, num, &name);
	if (!err)
		err = swift_put_checked(w->sw, w->seg_container, name.data,
					NULL, data, len, etag, NULL,
					w->part_ctype);
	buf_release(&name);
	if (!err) {
		if (cut)
			learn_limit(w->sw, len);
		return group_add(w, pc->g, num, etag, len);
	}
	if (err == -EFBIG && !cut)
		log_info(
			"swift: a segment of %zu bytes of '%s/%s' is too large for Swift (HTTP 413): cutting it smaller",
			len, w->container, w->key);
	return err;
}

static void *slot_main(void *arg)
{
	struct sw_slot *s = arg;
	struct sw_writer *w = s->w;
	struct piece_ctx pc = {
		.w = w,
		.g = &s->out,
		.data = s->data,
		.etag = s->etag,
	};

	pc.num = __atomic_fetch_add(&w->next_name, 1, __ATOMIC_RELAXED);
	s->err = swift_put_cut(s->len, PIECES_MAX, put_piece, &pc);
	if (s->err == -EFBIG)
		log_error(
			"swift PUT '%s/%s': Swift refuses a segment of %zu bytes (HTTP 413)",
			w->container, w->key, s->len);
	return NULL;
}

/* Records the group slot @s uploaded (or its error). */
static void slot_record(struct sw_writer *w, struct sw_slot *s)
{
	if (s->err) {
		if (!w->err)
			w->err = s->err;
		group_release(&s->out);
		return;
	}
	w->groups[s->index] = s->out;
	s->out.pieces = NULL;
	s->out.n = 0;
}

/* Waits for slot @s's upload, if one runs, and records it. */
static void slot_join(struct sw_writer *w, struct sw_slot *s)
{
	if (!s->running)
		return;
	pthread_join(s->th, NULL);
	s->running = false;
	slot_record(w, s);
}

/*
 * In Trove's layout the segments share the container with the object they
 * replace, so they are numbered above every number in use (see
 * swift_segs.c): the old object stays whole until the manifest commits,
 * and a failure deletes only this writer's names.
 */
static int ensure_numbering(struct sw_writer *w)
{
	uint64_t first = 0;
	int err;

	if (w->numbered || !w->trove)
		return 0;
	err = swift_trove_first_number(w->sw, w->container, w->key, &first);
	if (err)
		return err;
	w->first_name = (size_t)first;
	w->next_name = (size_t)first;
	w->nest.first = (size_t)first;
	w->numbered = true;
	return 0;
}

static int ensure_seg_container(struct sw_writer *w)
{
	long status = 0;
	int err;

	if (w->seg_container_ok)
		return ensure_numbering(w);
	/*
	 * -ENOENT before the first segment rather than after gigabytes (the
	 * segments container would be made for a container that is gone).
	 * An object of one PUT learns it from that PUT: no HEAD for it.
	 */
	err = swift_simple(w->sw, "HEAD", w->container, NULL, NULL,
			   SWIFT_QUIET_404, NULL);
	if (!err)
		err = swift_simple(w->sw, "PUT", w->seg_container, NULL, NULL,
				   0, &status);
	if (!err)
		w->seg_container_ok = true;
	return err ? err : ensure_numbering(w);
}

/*
 * Hands the filled buffer to an upload thread (joining one if all are
 * busy). @etag is its md5 if already taken from w->md5, else NULL.
 */
static int flush_segment(struct sw_writer *w, const char *etag)
{
	struct swift_priv *sw = w->sw;
	struct sw_slot *s = NULL;
	struct sw_slot *oldest = NULL;
	char *spare;
	unsigned i;
	int err;

	err = ensure_seg_container(w);
	if (err)
		return err;
	if (w->nseg == w->groups_cap) {
		size_t cap = w->groups_cap ? w->groups_cap * 2 : 64;
		struct sw_group *p = reallocarray(w->groups, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		memset(p + w->groups_cap, 0,
		       (cap - w->groups_cap) * sizeof(*p));
		w->groups = p;
		w->groups_cap = cap;
	}
	for (i = 0; i < sw->parallel; i++) {
		if (!w->slots[i].running) {
			s = &w->slots[i];
			break;
		}
		if (!oldest || w->slots[i].index < oldest->index)
			oldest = &w->slots[i];
	}
	if (!s) {
		slot_join(w, oldest);
		if (w->err)
			return w->err;
		s = oldest;
	}
	if (etag)
		memcpy(s->etag, etag, sizeof(s->etag));
	else if (hex_md5(w->md5, s->etag))
		return -EIO;
	/* swap buffers: the slot takes the full one */
	spare = s->data;
	s->data = w->cur;
	s->len = w->cur_len;
	s->index = w->nseg;
	s->err = 0;
	s->w = w;
	if (!spare)
		spare = malloc(sw->segment_size);
	w->cur = spare;
	w->cur_len = 0;
	w->nseg++;
	if (pthread_create(&s->th, NULL, slot_main, s) == 0) {
		s->running = true;
	} else {
		/* no thread to be had: upload inline */
		slot_main(s);
		slot_record(w, s);
		if (w->err)
			return w->err;
	}
	if (!w->cur)
		return -ENOMEM;
	return 0;
}

static int sw_write(struct store_writer *wr, const void *src, size_t len)
{
	struct sw_writer *w = wr->priv;
	const char *p = src;

	if (w->err)
		return w->err;
	while (len > 0) {
		size_t cut = cut_size(w->sw);
		size_t room = cut > w->cur_len ? cut - w->cur_len : 0;
		size_t n = len < room ? len : room;

		if (room == 0) {
			/* full and more is coming: it becomes a segment */
			w->err = flush_segment(w, NULL);
			if (w->err)
				return w->err;
			continue;
		}
		memcpy(w->cur + w->cur_len, p, n);
		if (!EVP_DigestUpdate(w->md5, p, n)) {
			w->err = -EIO;
			return w->err;
		}
		w->cur_len += n;
		p += n;
		len -= n;
		wr->written += n;
	}
	return 0;
}

static void join_all(struct sw_writer *w)
{
	unsigned i;

	for (i = 0; i < SWIFT_MAX_PARALLEL; i++)
		slot_join(w, &w->slots[i]);
}

/*
 * Deletes every segment and sub-manifest this writer may have made (the
 * sub-manifests first: they name segments). Stops at the first failure
 * (swift_delete_paths): when Swift is down, close() must not wait a retry
 * budget per segment; the rest is left for `trovefs gc` with one log line.
 */
static void delete_uploaded(struct sw_writer *w)
{
	size_t first = w->first_name;
	size_t n = __atomic_load_n(&w->next_name, __ATOMIC_RELAXED) - first;
	size_t nsub = w->nest.nsub;
	size_t total = nsub + n;
	size_t done = 0;
	char **paths;
	struct buf p;
	size_t i;
	int err = 0;

	if (total == 0)
		return;
	paths = calloc(total, sizeof(*paths));
	if (!paths) {
		err = -ENOMEM;
		goto out_log;
	}
	for (i = 0; i < nsub; i++)
		paths[i] = w->nest.subs[i].path; /* borrowed */
	for (i = 0; i < n && !err; i++) {
		buf_init(&p, SWIFT_URL_MAX);
		buf_printf(&p, "/%s/%s%08zu", w->seg_container, w->seg_prefix,
			   first + i);
		err = p.err;
		paths[nsub + i] = buf_steal(&p);
		if (!err && !paths[nsub + i])
			err = -ENOMEM;
	}
	if (!err)
		err = swift_delete_paths(w->sw, paths, total, &done);
	for (i = 0; i < n; i++)
		free(paths[nsub + i]);
	free(paths);
out_log:
	/* in either layout the parts are marked as this upload's (Trove's:
	 * by their Content-Type), which is how gc knows them */
	if (err)
		log_warn("%zu segments of '%s/%s' left for 'trovefs gc'",
			 total - done, w->container, w->key);
}

static void writer_free(struct sw_writer *w)
{
	size_t i;

	for (i = 0; i < SWIFT_MAX_PARALLEL; i++) {
		free(w->slots[i].data);
		group_release(&w->slots[i].out);
	}
	for (i = 0; i < w->nseg && w->groups; i++)
		group_release(&w->groups[i]);
	swift_nest_release(&w->nest);
	free(w->groups);
	free(w->cur);
	EVP_MD_CTX_free(w->md5);
	free(w->container);
	free(w->key);
	free(w->seg_container);
	free(w->seg_prefix);
	free(w->part_ctype);
	free(w);
}

/*
 * The pieces of every group in manifest order, in one array (*@out, the
 * caller frees the array; the paths stay borrowed from the groups).
 */
static int flatten(struct sw_writer *w, struct swift_seg **out, size_t *n)
{
	struct swift_seg *all;
	size_t total = 0;
	size_t i;
	size_t j;

	for (i = 0; i < w->nseg; i++)
		total += w->groups[i].n;
	all = calloc(total ? total : 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	total = 0;
	for (i = 0; i < w->nseg; i++)
		for (j = 0; j < w->groups[i].n; j++)
			all[total++] = w->groups[i].pieces[j];
	*out = all;
	*n = total;
	return 0;
}

/* PUTs sub-manifest @name of the @cnt entries @segs; fills in *@sub. */
static int put_sub(struct swift_priv *sw, const struct swift_nest *ns,
		   const char *name, const struct swift_seg *segs, size_t cnt,
		   struct swift_seg *sub)
{
	struct buf body;
	size_t i;
	int err;

	memset(sub, 0, sizeof(*sub));
	buf_init(&body, SWIFT_MANIFEST_MAX);
	err = swift_json_manifest(segs, cnt, &body);
	if (!err)
		err = swift_slo_etag(segs, cnt, sub->etag);
	for (i = 0; i < cnt; i++)
		sub->size += segs[i].size;
	if (!err)
		err = swift_put_checked(sw, ns->container, name,
					SWIFT_MANIFEST_PUT, body.data, body.len,
					NULL, NULL, ns->ctype);
	buf_reset(&body);
	if (!err && buf_printf(&body, "/%s/%s", ns->container, name))
		err = body.err;
	if (!err)
		sub->path = buf_steal(&body);
	buf_release(&body);
	return err;
}

int swift_nest_manifests(struct swift_priv *sw, struct swift_nest *ns,
			 struct swift_seg *segs, size_t n,
			 struct swift_seg **top, size_t *ntop)
{
	size_t max = __atomic_load_n(&sw->slo_max, __ATOMIC_RELAXED);
	size_t level = 0;
	size_t from = 0; /* segs is ns->subs + from after the first level */
	struct buf name;
	int err = 0;

	if (max < 2)
		max = 2; /* a manifest of one entry would never shrink n */
	buf_init(&name, STORE_KEY_MAX + 64);
	while (n > max) {
		size_t groups = (n + max - 1) / max;
		size_t first = ns->nsub;
		size_t g;

		if (ns->nsub + groups > ns->cap) {
			size_t cap = ns->nsub + groups;
			struct swift_seg *p =
				reallocarray(ns->subs, cap, sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			ns->subs = p;
			ns->cap = cap;
		}
		/* the array may have moved */
		if (level > 0)
			segs = ns->subs + from;
		for (g = 0; g < groups && !err; g++) {
			size_t off = g * max;
			size_t cnt = n - off < max ? n - off : max;

			buf_reset(&name);
			buf_printf(&name, "%sm%zu-%08zu", ns->prefix, level,
				   ns->first + g);
			err = name.err;
			if (!err)
				err = put_sub(sw, ns, name.data, segs + off,
					      cnt, &ns->subs[ns->nsub]);
			if (!err)
				ns->nsub++;
		}
		if (err)
			break;
		from = first;
		segs = ns->subs + from;
		n = groups;
		level++;
	}
	buf_release(&name);
	if (!err) {
		*top = segs;
		*ntop = n;
	}
	return err;
}

void swift_nest_release(struct swift_nest *ns)
{
	swift_segs_free(ns->subs, ns->nsub);
	ns->subs = NULL;
	ns->nsub = 0;
	ns->cap = 0;
}

/*
 * A commit PUT failed with no telling answer: Swift may have stored it
 * and the answer been lost (a reset or timeout after the commit, on every
 * retry). Deleting the segments then would break the object that replaced
 * the old one, so put_landed() / manifest_landed() read it back first.
 */
static bool commit_unknown(int err)
{
	return err == -EIO || err == -ETIMEDOUT;
}

/*
 * @method on @w's object with X-Newest (a commit that reached some
 * replicas only is still seen); @resp may be NULL. The *_landed()
 * functions below return 1 if the object is ours, 0 if it is not (or
 * nothing is there), -errno if Swift cannot say.
 */
static int newest_call(struct sw_writer *w, const char *method,
		       const char *query, struct buf *resp,
		       struct swift_http_req *r)
{
	struct curl_slist *h = NULL;
	int err = swift_add_header(&h, "X-Newest: true");

	if (!err) {
		struct swift_call c = {
			.method = method,
			.container = w->container,
			.key = w->key,
			.query = query,
			.headers = h,
			.resp = resp,
			.quiet = SWIFT_QUIET_404,
		};

		err = swift_do(w->sw, &c, r);
	}
	curl_slist_free_all(h);
	return err;
}

/* The one PUT: a plain object of our MD5 @etag. */
static int put_landed(struct sw_writer *w, const char *etag)
{
	struct swift_http_req r;
	char got[72];
	int err;

	swift_http_req_init(&r);
	err = newest_call(w, "HEAD", NULL, NULL, &r);
	if (!err)
		err = !swift_hdr_true(&r, "x-static-large-object") &&
		      swift_http_header(&r, "etag", got, sizeof(got)) &&
		      etag_is(got, etag);
	else if (err == -ENOENT)
		err = 0;
	swift_http_req_release(&r);
	return err;
}

struct landed_ctx {
	const struct swift_seg *top;
	size_t ntop;
	size_t i;
	bool same;
};

static int landed_entry(void *arg, const struct swift_json_entry *e)
{
	struct landed_ctx *lc = arg;

	if (lc->i >= lc->ntop || strcmp(e->name, lc->top[lc->i].path) != 0)
		lc->same = false;
	lc->i++;
	return 0;
}

/*
 * The manifest: the one Swift holds names exactly our @top parts, in
 * order (their names are this writer's own: a uuid, or numbers above
 * every one in use), not merely the same ETag (identical content).
 */
static int manifest_landed(struct sw_writer *w, const struct swift_seg *top,
			   size_t ntop)
{
	struct landed_ctx lc = { .top = top, .ntop = ntop, .same = true };
	struct swift_http_req r;
	struct buf resp;
	size_t n = 0;
	bool slo;
	int err;

	buf_init(&resp, SWIFT_MANIFEST_MAX);
	swift_http_req_init(&r);
	err = newest_call(w, "GET", "multipart-manifest=get", &resp, &r);
	slo = !err && swift_hdr_true(&r, "x-static-large-object");
	swift_http_req_release(&r);
	if (err == -ENOENT || (!err && !slo))
		err = 0; /* nothing, or another (plain) object */
	else if (!err && swift_json_parse_manifest(resp.data, resp.len,
						   landed_entry, &lc, &n))
		err = -EIO; /* unreadable: cannot say */
	else if (!err)
		err = lc.same && lc.i == ntop;
	buf_release(&resp);
	return err;
}

static int sw_commit(struct store_writer *wr, const struct meta *m)
{
	struct sw_writer *w = wr->priv;
	struct swift_priv *sw = w->sw;
	struct swift_slo_parts old;
	struct swift_slo_parts mine;
	const struct swift_slo_parts *keep = &mine;
	struct swift_seg *segs = NULL;
	struct swift_seg *top = NULL;
	size_t nsegs = 0;
	size_t ntop = 0;
	struct buf body;
	char etag[33];
	bool sent = false; /* the manifest PUT went out */
	int err = w->err;

	memset(&old, 0, sizeof(old));
	buf_init(&body, SWIFT_MANIFEST_MAX);
	if (!err && w->nseg > 0 && w->cur_len > 0)
		err = flush_segment(w, NULL);
	join_all(w);
	if (!err)
		err = w->err;
	if (err)
		goto out_delete;
	/* the parts of the object we replace, deleted once it is replaced */
	if (!w->fresh && swift_slo_parts_get(sw, w->container, w->key, &old))
		log_warn(
			"segments of the object '%s/%s' replaced will be left behind",
			w->container, w->key);
	if (w->nseg == 0) {
		err = hex_md5(w->md5, etag);
		if (err)
			goto out_delete;
		err = swift_put_checked(sw, w->container, w->key, NULL, w->cur,
					w->cur_len, etag, m, NULL);
		if (commit_unknown(err) && put_landed(w, etag) > 0) {
			log_warn(
				"swift PUT '%s/%s' failed (%s), but the object is the one sent: committed",
				w->container, w->key, strerror(-err));
			err = 0;
		}
		if (err != -EFBIG) {
			if (err)
				goto out_delete;
			swift_recent_note(&sw->recent, w->container, w->key,
					  w->cur_len, swift_now_ms());
			swift_delete_replaced(sw, w->container, w->key, &old,
					      NULL, 0);
			goto out_free;
		}
		/* too large for one PUT here (413): an SLO of smaller parts */
		log_info(
			"swift: '%s/%s' is too large for one PUT (HTTP 413): storing it in segments",
			w->container, w->key);
		err = flush_segment(w, etag);
		join_all(w);
		if (!err)
			err = w->err;
		if (err)
			goto out_delete;
	}
	err = flatten(w, &segs, &nsegs);
	/* Swift's manifest limit (best effort: 1000 if /info cannot say) */
	if (!err && nsegs > 1)
		swift_info_load(sw, sw->budget_ms);
	if (!err)
		err = swift_nest_manifests(sw, &w->nest, segs, nsegs, &top,
					   &ntop);
	if (!err)
		err = swift_json_manifest(top, ntop, &body);
	if (!err) {
		/* a writer of the same name may have noted a plain object */
		swift_recent_forget(&sw->recent, w->container, w->key);
		err = swift_put_checked(sw, w->container, w->key,
					SWIFT_MANIFEST_PUT, body.data, body.len,
					NULL, m, NULL);
		sent = true;
	}
	if (err == -EFBIG)
		log_error(
			"swift PUT '%s/%s': Swift refuses the manifest (HTTP 413)",
			w->container, w->key);
	if (err && !(sent && commit_unknown(err)))
		goto out_delete;
	if (err) {
		int landed = manifest_landed(w, top, ntop);

		if (landed == 0)
			goto out_delete;
		if (landed < 0) {
			log_error(
				"swift PUT '%s/%s': cannot tell whether the manifest was stored (%s): its segments are kept",
				w->container, w->key, strerror(-landed));
			goto out_free;
		}
		log_warn(
			"swift PUT '%s/%s': the manifest PUT failed (%s), but the object is that manifest: committed",
			w->container, w->key, strerror(-err));
		err = 0;
	}
	/* a writer of the same name that committed meanwhile noted it */
	swift_recent_forget(&sw->recent, w->container, w->key);
	/* all the new object names: in Trove's layout, sub-manifest names
	 * may be the old ones' */
	mine.leaves = segs;
	mine.nleaves = nsegs;
	mine.subs = w->nest.subs;
	mine.nsubs = w->nest.nsub;
	swift_delete_replaced(sw, w->container, w->key, &old, &keep, 1);
	goto out_free;
out_delete:
	delete_uploaded(w);
out_free:
	free(segs);
	swift_slo_parts_release(&old);
	buf_release(&body);
	writer_free(w);
	return err;
}

static void sw_abort(struct store_writer *wr)
{
	struct sw_writer *w = wr->priv;

	join_all(w);
	delete_uploaded(w);
	writer_free(w);
}

/* Waits for the segment uploads in flight: their failure is ours. */
static int sw_sync(struct store_writer *wr)
{
	struct sw_writer *w = wr->priv;

	join_all(w);
	return w->err;
}

static const struct store_writer_ops sw_writer_ops = {
	.write = sw_write,
	.commit = sw_commit,
	.abort = sw_abort,
	.sync = sw_sync,
};

/* A key cut to @max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

int swift_writer_open(struct store *st, const char *container, const char *key,
		      const struct store_wopts *opts, struct store_writer **out)
{
	struct swift_priv *sw = swift_priv_of(st);
	struct sw_writer *w;
	struct buf b;
	char uuid[SWIFT_UPLOAD_ID_LEN + 1];
	int err;

	err = swift_user_object_check(container, key);
	if (err)
		return err;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->sw = sw;
	w->fresh = opts && opts->fresh;
	/* Trove's readers expect its layout; others get the hidden one */
	w->trove = sw->segments == SWIFT_SEGMENTS_TROVE ||
		   (opts && opts->format &&
		    strcmp(opts->format, "trove-sha256") == 0);
	w->container = strdup(container);
	w->key = strdup(key);
	w->md5 = EVP_MD_CTX_new();
	w->cur = malloc(sw->segment_size);
	if (!w->container || !w->key || !w->md5 || !w->cur ||
	    !EVP_DigestInit_ex(w->md5, EVP_md5(), NULL)) {
		err = -ENOMEM;
		goto out_free;
	}
	err = swift_upload_id_new(uuid);
	if (err)
		goto out_free;
	buf_init(&b, 128);
	/* next to users' objects, the parts say whose they are (for gc) */
	if (w->trove)
		swift_part_ctype(uuid, &b);
	else
		buf_puts(&b, "application/octet-stream");
	w->part_ctype = buf_steal(&b);
	buf_init(&b, SWIFT_URL_MAX);
	if (w->trove) {
		buf_puts(&b, key);
		buf_puts(&b, "_");
		w->seg_prefix = buf_steal(&b);
		w->seg_container = strdup(container);
		w->seg_container_ok = true;
	} else {
		/* key + "/" + uuid + "/" + "m9-00000000" fits 1024 */
		buf_append(&b, key, utf8_cut(key, STORE_KEY_MAX - 48));
		buf_printf(&b, "/%s/", uuid);
		w->seg_prefix = buf_steal(&b);
		buf_init(&b, STORE_CONTAINER_MAX + 16);
		swift_seg_container_name(container, &b);
		w->seg_container = buf_steal(&b);
	}
	if (!w->seg_prefix || !w->seg_container || !w->part_ctype) {
		err = -ENOMEM;
		goto out_free;
	}
	w->nest.container = w->seg_container;
	w->nest.prefix = w->seg_prefix;
	w->nest.ctype = w->part_ctype;
	w->base.ops = &sw_writer_ops;
	w->base.priv = w;
	*out = &w->base;
	return 0;
out_free:
	writer_free(w);
	return err;
}
