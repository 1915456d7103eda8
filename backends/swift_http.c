/*
 * swift_http.c - libcurl easy-handle pool, one-shot requests, the
 * status/CURLcode -> errno mapping, the backoff schedule and URL encoding
 * for the Swift store (contract in swift_http.h).
 *
 * A handle serves one request at a time (libcurl-thread(3)); idle handles
 * keep their connections, so consecutive requests of a thread reuse one.
 * Response bodies of non-2xx answers never reach the caller's dst buffer:
 * they are kept (the first bytes) only for the log.
 *
 * Locks: pool->lock protects the idle list only; it is never held while a
 * transfer runs.
 */
#include "swift_http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct swift_http_pool {
	struct swift_http_opts opts;
	pthread_mutex_t lock;
	CURL **idle; /* owned handles, n_idle of opts.max_idle */
	unsigned n_idle;
};

int swift_http_pool_new(const struct swift_http_opts *opts,
			struct swift_http_pool **out)
{
	struct swift_http_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->opts = *opts;
	if (p->opts.max_idle == 0)
		p->opts.max_idle = 1;
	p->idle = calloc(p->opts.max_idle, sizeof(*p->idle));
	if (!p->idle) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

void swift_http_pool_free(struct swift_http_pool *p)
{
	unsigned i;

	if (!p)
		return;
	for (i = 0; i < p->n_idle; i++)
		curl_easy_cleanup(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->idle);
	free(p);
}

static CURL *pool_take(struct swift_http_pool *p)
{
	CURL *h = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n_idle > 0)
		h = p->idle[--p->n_idle];
	pthread_mutex_unlock(&p->lock);
	if (h) {
		/* keeps the connection cache, drops every option */
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

/* Returns @h to the pool; a handle that broke is dropped by the caller. */
static void pool_give(struct swift_http_pool *p, CURL *h)
{
	pthread_mutex_lock(&p->lock);
	if (p->n_idle < p->opts.max_idle) {
		p->idle[p->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (h)
		curl_easy_cleanup(h);
}

void swift_http_req_init(struct swift_http_req *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->hdrs, SWIFT_HDRS_MAX);
}

void swift_http_req_release(struct swift_http_req *r)
{
	buf_release(&r->hdrs);
}

/* ---- transfer callbacks ---- */

struct xfer {
	struct swift_http_req *r;
	CURL *h;
	size_t sent;	     /* request body bytes handed to curl */
	struct buf err_body; /* start of a non-2xx body, for the log */
	uint64_t stall_ms;   /* 0 = no stall detection */
	uint64_t last_ms;    /* when bytes last moved, either way */
	curl_off_t last_dl;
	curl_off_t last_ul;
	bool stalled; /* we aborted the transfer for a stall */
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * nmemb;
	size_t left = x->r->body_len - x->sent;

	if (want > left)
		want = left;
	memcpy(dst, (const char *)x->r->body + x->sent, want);
	x->sent += want;
	return want;
}

/* curl rewinds the body when it must send it again (redirect, reuse). */
static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *src, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct swift_http_req *r = x->r;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		/* an error page: keep its start for the log, drop the rest */
		if (x->err_body.len < 256 && !x->err_body.err)
			buf_append(&x->err_body, src,
				   n < 256 - x->err_body.len
					   ? n
					   : 256 - x->err_body.len);
		return n;
	}
	if (r->dst) {
		size_t room = r->dst_len - r->got;

		if (n > room) {
			/* more than asked for: keep what fits, stop */
			memcpy((char *)r->dst + r->got, src, room);
			r->got += room;
			return 0;
		}
		memcpy((char *)r->dst + r->got, src, n);
		r->got += n;
		return n;
	}
	if (r->resp) {
		if (buf_append(r->resp, src, n))
			return 0;
		return n;
	}
	return n;
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct buf *h = &x->r->hdrs;
	size_t n = size * nmemb;
	size_t len = n;
	size_t i;
	size_t colon;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue or a redirect) */
		buf_reset(h);
		return n;
	}
	for (colon = 0; colon < len && line[colon] != ':'; colon++)
		;
	if (colon == len || colon == 0)
		return n;
	if (h->err)
		return n; /* over the cap: later lookups miss; no crash */
	for (i = 0; i < colon; i++) {
		char c = (char)tolower((unsigned char)line[i]);

		buf_append(h, &c, 1);
	}
	buf_puts(h, ":");
	i = colon + 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	buf_append(h, line + i, len - i);
	buf_puts(h, "\n");
	return n;
}

/*
 * Stall detection: no byte moved in either direction for stall_ms. Not
 * CURLOPT_LOW_SPEED_*: its speed is averaged over the last seconds, so
 * after a segment upload a silent server went unnoticed for stall_timeout
 * plus about 5 s (the sent megabytes kept the average up).
 */
static int xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	uint64_t now = swift_now_ms();

	(void)dltotal;
	(void)ultotal;
	if (dlnow != x->last_dl || ulnow != x->last_ul) {
		x->last_dl = dlnow;
		x->last_ul = ulnow;
		x->last_ms = now;
		return 0;
	}
	if (x->stall_ms && now - x->last_ms >= x->stall_ms) {
		x->stalled = true;
		return 1; /* CURLE_ABORTED_BY_CALLBACK */
	}
	return 0;
}

#define SETOPT(h, opt, val)                                                    \
	do {                                                                   \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)           \
			goto out_setopt;                                       \
	} while (0)

int swift_http_perform(struct swift_http_pool *p, struct swift_http_req *r)
{
	struct curl_slist *hl = NULL;
	struct curl_slist *it;
	struct xfer x;
	CURL *h;
	int err = 0;

	buf_reset(&r->hdrs);
	r->status = 0;
	r->got = 0;
	r->cc = CURLE_OK;
	memset(&x, 0, sizeof(x));
	x.r = r;
	buf_init(&x.err_body, 512);

	h = pool_take(p);
	if (!h)
		return -ENOMEM;
	x.h = h;
	/* "Expect:" stops curl waiting for 100-continue on uploads */
	hl = curl_slist_append(hl, "Expect:");
	if (!hl)
		goto out_nomem;
	for (it = r->headers; it; it = it->next) {
		struct curl_slist *n = curl_slist_append(hl, it->data);

		if (!n)
			goto out_nomem;
		hl = n;
	}

	SETOPT(h, CURLOPT_URL, r->url);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_HTTPHEADER, hl);
	SETOPT(h, CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(h, CURLOPT_HEADERDATA, &x);
	SETOPT(h, CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(h, CURLOPT_WRITEDATA, &x);
	SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (p->opts.connect_timeout)
		SETOPT(h, CURLOPT_CONNECTTIMEOUT,
		       (long)p->opts.connect_timeout);
	if (p->opts.stall_timeout) {
		x.stall_ms = (uint64_t)p->opts.stall_timeout * 1000;
		if (r->stall_ms > x.stall_ms)
			x.stall_ms = r->stall_ms;
		x.last_ms = swift_now_ms();
		SETOPT(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
		SETOPT(h, CURLOPT_XFERINFODATA, &x);
		SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	}
	if (p->opts.insecure) {
		SETOPT(h, CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(r->method, "HEAD") == 0) {
		SETOPT(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "GET") == 0 && !r->has_body) {
		SETOPT(h, CURLOPT_HTTPGET, 1L);
	} else {
		SETOPT(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (r->has_body) {
		SETOPT(h, CURLOPT_UPLOAD, 1L);
		SETOPT(h, CURLOPT_READFUNCTION, read_cb);
		SETOPT(h, CURLOPT_READDATA, &x);
		SETOPT(h, CURLOPT_SEEKFUNCTION, seek_cb);
		SETOPT(h, CURLOPT_SEEKDATA, &x);
		SETOPT(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	}

	r->cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	snprintf(r->err_text, sizeof(r->err_text), "%.*s",
		 x.err_body.err ? 0 : (int)x.err_body.len,
		 x.err_body.data ? x.err_body.data : "");
	if (r->cc == CURLE_ABORTED_BY_CALLBACK && x.stalled)
		r->cc = CURLE_OPERATION_TIMEDOUT;
	if (r->cc == CURLE_WRITE_ERROR && r->dst && r->got == r->dst_len &&
	    r->status >= 200 && r->status <= 299) {
		/* we stopped a body longer than asked for: we have ours */
		r->cc = CURLE_OK;
		curl_easy_cleanup(h); /* its connection is mid-body */
		h = NULL;
	} else if (r->cc == CURLE_WRITE_ERROR && r->resp && r->resp->err) {
		err = r->resp->err;
	}
	if (!err && r->cc != CURLE_OK)
		err = swift_http_errno(0, r->cc, SWIFT_TARGET_ACCOUNT, NULL);
	if (h && r->cc != CURLE_OK) {
		curl_easy_cleanup(h);
		h = NULL;
	}
	if (h)
		pool_give(p, h);
	curl_slist_free_all(hl);
	buf_release(&x.err_body);
	return err;

out_setopt:
	/* only an out-of-memory or a libcurl without HTTP gets here */
	err = -EIO;
	goto out_free;
out_nomem:
	err = -ENOMEM;
out_free:
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	buf_release(&x.err_body);
	return err;
}

bool swift_http_header(const struct swift_http_req *r, const char *name,
		       char *dst, size_t dst_len)
{
	const char *p = buf_str(&r->hdrs);
	size_t nlen = strlen(name);

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t llen = eol ? (size_t)(eol - p) : strlen(p);

		if (llen > nlen && memcmp(p, name, nlen) == 0 &&
		    p[nlen] == ':') {
			size_t vlen = llen - nlen - 1;

			if (dst_len == 0)
				return true;
			if (vlen >= dst_len)
				vlen = dst_len - 1;
			memcpy(dst, p + nlen + 1, vlen);
			dst[vlen] = '\0';
			return true;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return false;
}

int swift_http_headers_each(const struct swift_http_req *r, const char *prefix,
			    swift_http_header_fn *fn, void *arg)
{
	const char *p = buf_str(&r->hdrs);
	size_t plen = strlen(prefix);
	struct buf line;
	int ret = 0;

	buf_init(&line, SWIFT_HDRS_MAX);
	while (*p && !ret) {
		const char *eol = strchr(p, '\n');
		size_t llen = eol ? (size_t)(eol - p) : strlen(p);

		if (llen > plen && memcmp(p, prefix, plen) == 0) {
			char *colon;

			buf_reset(&line);
			if (buf_append(&line, p + plen, llen - plen)) {
				ret = line.err;
				break;
			}
			colon = strchr(line.data, ':');
			if (colon) {
				*colon = '\0';
				ret = fn(arg, line.data, colon + 1);
			}
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	buf_release(&line);
	return ret;
}

/* ---- policy ---- */

int swift_http_errno(long status, CURLcode cc, enum swift_target t,
		     const char *body)
{
	switch (cc) {
	case CURLE_OK:
		break;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
	if ((status >= 200 && status <= 299) || status == 304 || status == 416)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return t == SWIFT_TARGET_CONTAINER ? -ENOTEMPTY : -EIO;
	case 412:
		return -ESTALE;
	case 413:
		return body && strcasestr(body, "quota") ? -EDQUOT : -EFBIG;
	default:
		return -EIO;
	}
}

bool swift_http_is_retryable(long status, CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		break;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
	return status == 422 || status == 429 || status == 498 ||
	       (status >= 500 && status <= 599);
}

long swift_backoff_delay(const struct swift_backoff *b, unsigned attempt,
			 uint64_t elapsed_ms, double rnd)
{
	uint64_t ceil_ms = b->base_ms;
	uint64_t delay;
	unsigned i;

	if (attempt == 0)
		attempt = 1;
	for (i = 1; i < attempt && ceil_ms < b->cap_ms; i++)
		ceil_ms *= 2;
	if (ceil_ms > b->cap_ms)
		ceil_ms = b->cap_ms;
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	/* equal jitter: never less than half, so retries do spread out */
	delay = ceil_ms / 2 + (uint64_t)((double)(ceil_ms - ceil_ms / 2) * rnd);
	if (elapsed_ms >= b->budget_ms || delay > b->budget_ms - elapsed_ms)
		return -1;
	return (long)delay;
}

uint64_t swift_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Per-thread xorshift for jitter; quality does not matter, spread does. */
static double jitter(void)
{
	static __thread uint64_t state;
	uint64_t x;

	if (!state) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
			(uint64_t)(uintptr_t)&state;
		if (!state)
			state = 88172645463325252ULL;
	}
	x = state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	state = x;
	return (double)(x >> 11) / (double)(1ULL << 53);
}

int swift_http_perform_retry(struct swift_http_pool *p,
			     struct swift_http_req *r, bool idempotent,
			     uint64_t budget_ms, unsigned *attempts)
{
	const struct swift_backoff bo = {
		.base_ms = SWIFT_BACKOFF_BASE_MS,
		.cap_ms = SWIFT_BACKOFF_CAP_MS,
		.budget_ms = budget_ms,
	};
	uint64_t start = swift_now_ms();
	unsigned n = 0;
	int err;

	for (;;) {
		long delay;
		struct timespec ts;

		if (r->resp)
			buf_reset(r->resp);
		err = swift_http_perform(p, r);
		n++;
		if (err == -ENOMEM)
			break;
		if (!idempotent || !swift_http_is_retryable(r->status, r->cc))
			break;
		delay = swift_backoff_delay(&bo, n, swift_now_ms() - start,
					    jitter());
		if (delay < 0)
			break;
		ts.tv_sec = delay / 1000;
		ts.tv_nsec = (delay % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	if (attempts)
		*attempts = n;
	return err;
}

int swift_url_encode(struct buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;

	/* explicit ranges: isalnum() follows the locale */
	for (; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~' || (keep_slash && *p == '/')) {
			buf_append(b, p, 1);
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			buf_append(b, esc, 3);
		}
	}
	return b->err;
}

bool swift_name_is_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned char c = *p;
		unsigned char lo = 0x80; /* the second byte's range */
		unsigned char hi = 0xBF;
		size_t n;
		size_t i;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0; /* overlong */
			else if (c == 0xED)
				hi = 0x9F; /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90; /* overlong */
			else if (c == 0xF4)
				hi = 0x8F; /* past U+10FFFF */
		} else {
			return false; /* a continuation byte, C0, C1, F5-FF */
		}
		if (p[1] < lo || p[1] > hi)
			return false;
		for (i = 2; i <= n; i++)
			if (p[i] < 0x80 || p[i] > 0xBF)
				return false;
		p += n + 1;
	}
	return true;
}

bool swift_http_range_total(const struct swift_http_req *r, uint64_t *total)
{
	char v[128];
	const char *slash;
	char *end;

	if (!swift_http_header(r, "content-range", v, sizeof(v)))
		return false;
	slash = strchr(v, '/');
	if (!slash || slash[1] < '0' || slash[1] > '9')
		return false;
	*total = strtoull(slash + 1, &end, 10);
	return *end == '\0';
}
