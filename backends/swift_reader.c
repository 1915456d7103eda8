/*
 * swift_reader.c - reading objects of the "swift:" store (store_reader).
 *
 * A read at a new offset is one ranged GET (swift_do: retries and
 * re-authentication). From the second read in a row that starts where
 * the previous one ended (or up to SR_START_AHEAD past it), the reader
 * keeps one open-ended GET from that end ("Range: bytes=OFF-") on its own
 * multi handle and consumes its body read by read (the transfer pauses
 * when a read's buffer is full): Swift then loads an SLO manifest once
 * per stream instead of once per read (~8 ms each).
 * A read elsewhere closes the stream.
 *
 * The kernel's read-ahead sends several reads at once and the FUSE
 * threads deliver them in any order. A read a little ahead of the stream
 * (at most SR_GAP_MAX) takes the bytes before it from the stream into a
 * gap buffer, where the reads still to come find them; a read behind the
 * stream that no gap holds is one ranged GET and leaves the stream open.
 * Gaps hold SR_GAPS_MAX bytes at most (the oldest go first: their reads,
 * if they ever come, are ranged GETs) and a gap is freed once every byte
 * of it was read.
 *
 * The stream never returns a wrong byte: its status (206 with a
 * Content-Range starting at OFF, or 200 from 0) is checked before the
 * first body byte is taken. Any failure (transport, status, stall, a body
 * that ends early) closes it; the bytes it gave are right, and the rest
 * of that read is a ranged GET, which retries within the budget and
 * maps errors as before. After SR_STREAM_FAILS failures in a row the
 * reader stops streaming.
 *
 * The open is a GET of the first SR_OPEN_PREFETCH bytes (a HEAD only for
 * an empty object): its headers say what a HEAD would, its body waits in
 * a gap for the first reads, so that a small file costs one request.
 *
 * A reader stays on the version it opened (store.h): every GET carries
 * "If-Match: <the ETag of the open's response>", which Swift checks against
 * the SLO's own ETag for an SLO. Once the object was replaced or deleted
 * the GET gets 412 or 404 and the read fails with -ESTALE, where it would
 * otherwise mix the new object's bytes into the old one's (the codec
 * above would call that corrupt). A DLO has no stable ETag (it is that
 * of its segments' listing) and is not pinned.
 *
 * Locks: none; a reader is used by one thread at a time (store.h), and
 * its curl handles with it.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "swift_i.h"
#include "../conf/log.h"

#define SR_STREAM_FAILS 3
/* curl's receive buffer: fewer, larger write callbacks */
#define SR_CURL_BUFFER (512L << 10)
/* what may wait past a read's end; bounded by a couple of curl chunks */
#define SR_SPILL_MAX (64u << 20)
/* how long one wait for data may block before the stall check */
#define SR_POLL_MS 500
/* how far ahead of the stream a read may start and keep it */
#define SR_GAP_MAX (4u << 20)
/* how far past the previous read's end a read may start a stream there */
#define SR_START_AHEAD (1u << 20)
/* bytes held for reads that were overtaken, at most */
#define SR_GAPS_MAX (8u << 20)
/* what the open's GET brings: a small file whole (codec_tfs1.c's too) */
#define SR_OPEN_PREFETCH (256u << 10)

/* Stream bytes passed over for reads that have not come yet. */
struct sw_gap {
	uint64_t off;
	size_t len;
	size_t served; /* bytes read from it so far */
	struct sw_gap *next;
	char data[]; /* len bytes */
};

struct sw_stream {
	CURLM *multi;		 /* owned; kept across streams (connections) */
	CURL *easy;		 /* owned; NULL: no stream */
	struct curl_slist *hdrs; /* owned: token and range */
	uint64_t start;		 /* the range's first byte */
	uint64_t pos;		 /* object offset of the next byte to give */
	int64_t cr_start;	 /* Content-Range start seen; -1 none */
	bool checked;		 /* status and range verified */
	bool bad;		 /* write_cb refused the response */
	bool paused;		 /* write_cb paused the transfer */
	bool done;		 /* the transfer ended (cc) */
	CURLcode cc;
	char *dst; /* the current read's buffer (borrowed) */
	size_t want;
	size_t got;
	char *spill; /* owned: body bytes past the last read */
	size_t spill_len;
	size_t spill_off;
	size_t spill_cap;
};

struct sw_reader {
	struct store_reader base;
	struct swift_priv *sw;
	char *container;
	char *key;
	char *if_match;	 /* owned "If-Match: ETAG" line, or NULL (not pinned) */
	bool stale_said; /* the -ESTALE was logged */
	uint64_t next;	 /* end of the previous read; UINT64_MAX none */
	unsigned fails;	 /* stream failures in a row */
	struct sw_stream st;
	struct sw_gap *gaps; /* owned list, oldest first */
	size_t gap_bytes;
};

static size_t stream_header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "content-range:";
	struct sw_stream *s = arg;
	size_t n = size * nmemb;
	char v[128];
	const char *p;
	char *end;
	size_t len;
	unsigned long long a;

	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		s->cr_start = -1; /* a new response */
		return n;
	}
	len = sizeof(name) - 1;
	if (n <= len || strncasecmp(line, name, len) != 0)
		return n;
	if (n - len >= sizeof(v))
		return n; /* not ours: the check refuses the response */
	memcpy(v, line + len, n - len);
	v[n - len] = '\0';
	p = v;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "bytes ", 6) != 0)
		return n;
	p += 6;
	errno = 0;
	a = strtoull(p, &end, 10);
	if (errno || end == p || *end != '-' || a > INT64_MAX)
		return n;
	s->cr_start = (int64_t)a;
	return n;
}

static size_t stream_write_cb(char *src, size_t size, size_t nmemb, void *arg)
{
	struct sw_stream *s = arg;
	size_t n = size * nmemb;
	size_t room;
	size_t c;

	if (!s->checked) {
		long status = 0;

		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
		if (!((status == 206 && s->cr_start >= 0 &&
		       (uint64_t)s->cr_start == s->start) ||
		      (status == 200 && s->start == 0))) {
			s->bad = true;
			return 0;
		}
		s->checked = true;
	}
	room = s->want - s->got;
	if (room == 0) {
		/* curl keeps this chunk and gives it again on unpause */
		s->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	c = n < room ? n : room;
	memcpy(s->dst + s->got, src, c);
	s->got += c;
	if (c == n)
		return n;
	if (s->spill_len + (n - c) > s->spill_cap) {
		size_t cap = s->spill_len + (n - c);
		char *nb;

		if (cap > SR_SPILL_MAX) {
			s->bad = true;
			return 0;
		}
		nb = realloc(s->spill, cap);
		if (!nb) {
			s->bad = true;
			return 0;
		}
		s->spill = nb;
		s->spill_cap = cap;
	}
	memcpy(s->spill + s->spill_len, src + c, n - c);
	s->spill_len += n - c;
	return n;
}

static void stream_close(struct sw_stream *s)
{
	struct curl_slist *it;

	if (s->easy) {
		curl_multi_remove_handle(s->multi, s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	for (it = s->hdrs; it; it = it->next)
		OPENSSL_cleanse(it->data, strlen(it->data));
	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
	s->spill_len = 0;
	s->spill_off = 0;
}

#define SR_SETOPT(h, opt, val)                                                 \
	do {                                                                   \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)           \
			goto out_close;                                        \
	} while (0)

/* Opens the stream at @off. Returns 0, -ENOMEM, -EIO, or the auth's. */
static int stream_open(struct sw_reader *sr, uint64_t off)
{
	struct sw_stream *s = &sr->st;
	struct swift_priv *sw = sr->sw;
	const struct swift_call c = {
		.method = "GET",
		.container = sr->container,
		.key = sr->key,
	};
	struct swift_token tok;
	struct curl_slist *h;
	struct buf url;
	struct buf line;
	int err;

	buf_init(&url, SWIFT_URL_MAX);
	buf_init(&line, SWIFT_TOKEN_MAX + 32);
	err = swift_auth_get(sw->auth, &tok);
	if (err)
		goto out_cleanse;
	err = swift_request_setup(&tok, &c, &url, &line, &h);
	if (err)
		goto out_cleanse;
	s->hdrs = h;
	err = -ENOMEM;
	buf_reset(&line);
	buf_printf(&line, "Range: bytes=%llu-", (unsigned long long)off);
	h = line.err ? NULL : curl_slist_append(s->hdrs, line.data);
	if (h && sr->if_match)
		h = curl_slist_append(h, sr->if_match);
	if (!h)
		goto out_close;
	if (!s->multi) {
		s->multi = curl_multi_init();
		if (!s->multi)
			goto out_close;
	}
	s->easy = curl_easy_init();
	if (!s->easy)
		goto out_close;
	err = -EIO; /* a setopt fails only without memory or HTTP */
	SR_SETOPT(s->easy, CURLOPT_URL, url.data);
	SR_SETOPT(s->easy, CURLOPT_NOSIGNAL, 1L);
	SR_SETOPT(s->easy, CURLOPT_HTTPGET, 1L);
	SR_SETOPT(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
	SR_SETOPT(s->easy, CURLOPT_HEADERFUNCTION, stream_header_cb);
	SR_SETOPT(s->easy, CURLOPT_HEADERDATA, s);
	SR_SETOPT(s->easy, CURLOPT_WRITEFUNCTION, stream_write_cb);
	SR_SETOPT(s->easy, CURLOPT_WRITEDATA, s);
	SR_SETOPT(s->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	SR_SETOPT(s->easy, CURLOPT_BUFFERSIZE, SR_CURL_BUFFER);
	if (sw->connect_timeout)
		SR_SETOPT(s->easy, CURLOPT_CONNECTTIMEOUT,
			  (long)sw->connect_timeout);
	if (sw->insecure) {
		SR_SETOPT(s->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		SR_SETOPT(s->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
		goto out_close;
	s->start = off;
	s->pos = off;
	s->cr_start = -1;
	s->checked = false;
	s->bad = false;
	s->paused = false;
	s->done = false;
	s->cc = CURLE_OK;
	s->spill_len = 0;
	s->spill_off = 0;
	err = 0;
	goto out_cleanse;

out_close:
	if (s->easy) {
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	stream_close(s);
out_cleanse:
	OPENSSL_cleanse(&tok, sizeof(tok));
	if (line.data)
		OPENSSL_cleanse(line.data, line.cap);
	buf_release(&line);
	buf_release(&url);
	return err;
}

/*
 * Takes @len bytes at the stream's position into @dst; *@got gets how
 * many came, right ones also on failure. Returns 0 (all @len), -EIO,
 * -ETIMEDOUT (nothing for stall_timeout).
 */
static int stream_read(struct sw_reader *sr, void *dst, size_t len, size_t *got)
{
	struct sw_stream *s = &sr->st;
	uint64_t stall_ms = (uint64_t)sr->sw->stall_timeout * 1000;
	uint64_t last = swift_now_ms();
	size_t seen = 0;
	int err = 0;

	s->dst = dst;
	s->want = len;
	s->got = 0;
	if (s->spill_off < s->spill_len) {
		size_t c = s->spill_len - s->spill_off;

		if (c > len)
			c = len;
		memcpy(s->dst, s->spill + s->spill_off, c);
		s->got = c;
		s->spill_off += c;
		if (s->spill_off == s->spill_len) {
			s->spill_off = 0;
			s->spill_len = 0;
		}
	}
	if (s->got < s->want && s->paused) {
		s->paused = false;
		/* may deliver the held chunk at once, through write_cb */
		if (curl_easy_pause(s->easy, CURLPAUSE_CONT) != CURLE_OK)
			err = -EIO;
	}
	while (!err && s->got < s->want) {
		CURLMsg *m;
		int running = 0;
		int q;

		if (s->done || s->bad) {
			err = -EIO; /* cut, refused, or shorter than asked */
			break;
		}
		if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
			err = -EIO;
			break;
		}
		while ((m = curl_multi_info_read(s->multi, &q)) != NULL) {
			if (m->msg == CURLMSG_DONE &&
			    m->easy_handle == s->easy) {
				s->done = true;
				s->cc = m->data.result;
			}
		}
		if (s->got >= s->want || s->done || s->bad)
			continue;
		if (s->got != seen) {
			seen = s->got;
			last = swift_now_ms();
		} else if (stall_ms && swift_now_ms() - last >= stall_ms) {
			err = -ETIMEDOUT;
			break;
		}
		if (curl_multi_poll(s->multi, NULL, 0, SR_POLL_MS, NULL) !=
		    CURLM_OK)
			err = -EIO;
	}
	*got = s->got;
	s->pos += s->got;
	s->dst = NULL;
	s->want = 0;
	s->got = 0;
	return err;
}

/* One ranged GET of [@off, @off + @len) (@len > 0, inside the size). */
static int ranged_read(struct sw_reader *sr, uint64_t off, void *dst,
		       size_t len, size_t *got)
{
	char range[64];
	struct curl_slist *h;
	struct swift_call c = {
		.method = "GET",
		.container = sr->container,
		.key = sr->key,
		.dst = dst,
		.quiet = SWIFT_QUIET_404 | SWIFT_QUIET_412,
	};
	struct swift_http_req r;
	int n;
	int err;

	*got = 0;
	n = snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
		     (unsigned long long)off,
		     (unsigned long long)(off + len - 1));
	if (n < 0 || (size_t)n >= sizeof(range))
		return -EINVAL;
	h = curl_slist_append(NULL, range);
	if (h && sr->if_match && !curl_slist_append(h, sr->if_match)) {
		curl_slist_free_all(h);
		h = NULL;
	}
	if (!h)
		return -ENOMEM;
	c.headers = h;
	c.dst_len = len;
	swift_http_req_init(&r);
	err = swift_do(sr->sw, &c, &r);
	if (!err && r.status == 416) {
		*got = 0; /* the object shrank: EOF */
	} else if (!err && r.status == 200 && off > 0) {
		log_error("swift GET '%s/%s': range ignored (HTTP 200)",
			  sr->container, sr->key);
		err = -EIO;
	} else if (!err) {
		*got = r.got;
	} else if (err == -ENOENT || err == -ESTALE) {
		if (!sr->stale_said)
			log_error("swift GET '%s/%s': the object was %s since "
				  "it was opened; reads fail with ESTALE",
				  sr->container, sr->key,
				  err == -ENOENT ? "deleted" : "replaced");
		sr->stale_said = true;
		err = -ESTALE;
	}
	swift_http_req_release(&r);
	curl_slist_free_all(h);
	return err;
}

/* @g holds @len bytes from @off, none read yet; unlinked. */
static void gap_init(struct sw_gap *g, uint64_t off, size_t len)
{
	g->off = off;
	g->len = len;
	g->served = 0;
	g->next = NULL;
}

static void gap_free(struct sw_reader *sr, struct sw_gap **link)
{
	struct sw_gap *g = *link;

	*link = g->next;
	sr->gap_bytes -= g->len;
	free(g);
}

/* Serves [@off, @off + @len) from a gap that holds all of it. */
static bool gap_serve(struct sw_reader *sr, uint64_t off, void *dst, size_t len)
{
	struct sw_gap **link;

	for (link = &sr->gaps; *link; link = &(*link)->next) {
		struct sw_gap *g = *link;

		if (off < g->off || off + len > g->off + g->len)
			continue;
		memcpy(dst, g->data + (off - g->off), len);
		g->served += len;
		if (g->served >= g->len)
			gap_free(sr, link);
		return true;
	}
	return false;
}

/*
 * Takes the stream's bytes up to @off (ahead of it by at most
 * SR_GAP_MAX) into a new gap. Returns 0, or an error after which the
 * stream must be closed.
 */
static int gap_fill(struct sw_reader *sr, uint64_t off)
{
	size_t len = (size_t)(off - sr->st.pos);
	struct sw_gap *g;
	struct sw_gap **tail;
	size_t got = 0;
	int err;

	while (sr->gaps && sr->gap_bytes + len > SR_GAPS_MAX)
		gap_free(sr, &sr->gaps);
	g = malloc(sizeof(*g) + len);
	if (!g)
		return -ENOMEM;
	gap_init(g, sr->st.pos, len);
	err = stream_read(sr, g->data, len, &got);
	if (err) {
		free(g);
		return err;
	}
	for (tail = &sr->gaps; *tail; tail = &(*tail)->next)
		;
	*tail = g;
	sr->gap_bytes += len;
	return 0;
}

static int sw_read(struct store_reader *rd, uint64_t off, void *dst, size_t len,
		   size_t *got)
{
	struct sw_reader *sr = rd->priv;
	size_t from_stream = 0;
	size_t rest = 0;
	int err;

	*got = 0;
	if (off >= rd->size || len == 0)
		return 0;
	if (len > rd->size - off)
		len = (size_t)(rd->size - off);
	if (gap_serve(sr, off, dst, len)) {
		*got = len;
		return 0;
	}
	/*
	 * The stream starts at the end of the previous read also when this
	 * one is a little past it (SR_START_AHEAD, about one read-ahead
	 * window): the kernel's read-ahead reads come in any order from the
	 * start, and waiting for one that starts exactly there cost a ranged
	 * GET per read overtaken. Not further: a sparse reader would fetch
	 * what it skips.
	 */
	if (!sr->st.easy && sr->next != UINT64_MAX && off >= sr->next &&
	    off - sr->next <= SR_START_AHEAD && sr->fails < SR_STREAM_FAILS &&
	    stream_open(sr, sr->next) != 0)
		sr->fails++;
	if (sr->st.easy && off > sr->st.pos && off - sr->st.pos <= SR_GAP_MAX &&
	    gap_fill(sr, off) != 0) {
		stream_close(&sr->st);
		sr->fails++;
	}
	if (sr->st.easy && off < sr->st.pos && sr->st.pos - off <= SR_GAPS_MAX)
		/* overtaken by the reads after it: the stream goes on */
		return ranged_read(sr, off, dst, len, got);
	if (sr->st.easy && off != sr->st.pos)
		stream_close(&sr->st); /* a seek */
	if (sr->st.easy) {
		err = stream_read(sr, dst, len, &from_stream);
		if (!err) {
			sr->fails = 0;
			sr->next = off + len;
			*got = len;
			return 0;
		}
		log_info("swift GET '%s/%s': stream at %llu ended (%s); "
			 "ranged GET for the rest",
			 sr->container, sr->key,
			 (unsigned long long)(off + from_stream),
			 sr->st.bad ? "refused" : strerror(-err));
		stream_close(&sr->st);
		sr->fails++;
	}
	err = ranged_read(sr, off + from_stream, (char *)dst + from_stream,
			  len - from_stream, &rest);
	*got = from_stream + rest;
	sr->next = err ? UINT64_MAX : off + *got;
	return err;
}

static void sw_reader_close(struct store_reader *rd)
{
	struct sw_reader *sr = rd->priv;

	stream_close(&sr->st);
	if (sr->st.multi)
		curl_multi_cleanup(sr->st.multi);
	while (sr->gaps)
		gap_free(sr, &sr->gaps);
	free(sr->st.spill);
	free(sr->container);
	free(sr->key);
	free(sr->if_match);
	free(sr);
}

static const struct store_reader_ops sw_reader_ops = {
	.read = sw_read,
	.close = sw_reader_close,
};

/*
 * "If-Match: ETAG" for the version @r (the open's GET or HEAD) describes, into
 * *@out; NULL for a DLO or without an ETag. Returns 0 or -ENOMEM.
 */
static int pin_line(const struct swift_http_req *r, char **out)
{
	char etag[128];

	*out = NULL;
	if (swift_http_header(r, "x-object-manifest", NULL, 0) ||
	    !swift_http_header(r, "etag", etag, sizeof(etag)) || !etag[0])
		return 0;
	if (asprintf(out, "If-Match: %s", etag) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * The open's request: a GET of the first SR_OPEN_PREFETCH bytes, whose
 * headers say what a HEAD would (size from Content-Range) and whose body
 * goes into *@head, a gap the first reads find: a small file is read in
 * this one request. Returns 0, 1 if only a HEAD can tell (an empty
 * object: 416), or the GET's -errno.
 */
static int open_get(struct swift_priv *sw, const char *container,
		    const char *key, struct swift_http_req *r,
		    struct sw_gap **head, uint64_t *size)
{
	char range[64];
	struct curl_slist *h;
	struct swift_call c = {
		.method = "GET",
		.container = container,
		.key = key,
		.quiet = SWIFT_QUIET_404,
		.dst_len = SR_OPEN_PREFETCH,
	};
	struct sw_gap *g;
	char v[64];
	int err;

	*head = NULL;
	err = swift_user_object_check(container, key);
	if (err)
		return err;
	snprintf(range, sizeof(range), "Range: bytes=0-%u",
		 SR_OPEN_PREFETCH - 1);
	g = malloc(sizeof(*g) + SR_OPEN_PREFETCH);
	h = curl_slist_append(NULL, range);
	if (!g || !h) {
		free(g);
		curl_slist_free_all(h);
		return -ENOMEM;
	}
	c.headers = h;
	c.dst = g->data;
	err = swift_do(sw, &c, r);
	curl_slist_free_all(h);
	if (!err && r->status == 206 && !swift_http_range_total(r, size))
		err = 1; /* no total: ask a HEAD */
	else if (!err && r->status == 200)
		/* the range ignored: the body's start is the object's */
		*size = swift_http_header(r, "content-length", v, sizeof(v))
				? strtoull(v, NULL, 10)
				: r->got;
	else if (!err && r->status != 206)
		err = 1; /* 416: empty, the response says no more */
	if (err || r->got == 0) {
		free(g);
		return err;
	}
	gap_init(g, 0, r->got);
	*head = g;
	return 0;
}

int swift_reader_open(struct store *st, const char *container, const char *key,
		      struct obj_info *oi, struct store_reader **out)
{
	struct sw_gap *head = NULL;
	struct sw_reader *sr;
	struct swift_http_req r;
	struct obj_info tmp;
	uint64_t size = 0;
	bool by_get;
	int err;

	swift_http_req_init(&r);
	obj_info_init(&tmp);
	err = open_get(swift_priv_of(st), container, key, &r, &head, &size);
	by_get = err != 1;
	if (!by_get) {
		swift_http_req_release(&r);
		swift_http_req_init(&r);
		err = swift_head_raw(swift_priv_of(st), container, key, &r);
	}
	if (!err)
		err = swift_info_from_head(&r, key, &tmp);
	if (err)
		goto out_release;
	if (by_get)
		tmp.size = size; /* not the body's Content-Length */
	sr = calloc(1, sizeof(*sr));
	if (!sr) {
		err = -ENOMEM;
		goto out_release;
	}
	sr->base.ops = &sw_reader_ops;
	sr->base.priv = sr; /* before any sw_reader_close() */
	sr->sw = swift_priv_of(st);
	sr->next = UINT64_MAX;
	sr->container = strdup(container);
	sr->key = strdup(key);
	err = pin_line(&r, &sr->if_match);
	if (!err && (!sr->container || !sr->key))
		err = -ENOMEM;
	if (err) {
		sw_reader_close(&sr->base);
		goto out_release;
	}
	sr->base.size = tmp.size;
	if (head && head->len <= tmp.size) {
		sr->gaps = head;
		sr->gap_bytes = head->len;
		sr->next = head->len; /* a read from there streams */
		head = NULL;
	}
	*out = &sr->base;
	if (oi) {
		*oi = tmp;
		obj_info_init(&tmp);
	}
out_release:
	free(head);
	obj_info_release(&tmp);
	swift_http_req_release(&r);
	return err;
}
