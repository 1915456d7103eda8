/*
 * swift_http.h - the HTTP edge of the Swift store: a pool of libcurl easy
 * handles, one request at a time per handle, the one function mapping HTTP
 * statuses and CURLcodes to -errno, the retry policy (which failures are
 * transient, the backoff schedule) and URL encoding of names.
 *
 * Only backends/swift_*.c include this header (it exposes CURL types).
 * Nothing here knows tokens or Swift paths; swift_store.c and
 * swift_auth.c build the requests. The retry loop is
 * swift_http_perform_retry(); its policy functions are unit-tested.
 */
#ifndef BACKENDS_SWIFT_HTTP_H
#define BACKENDS_SWIFT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "../conf/buf.h"

/* Longest URL we build: storage URL + container + encoded key + query. */
#define SWIFT_URL_MAX 8192
/* Cap on the response headers kept per request. */
#define SWIFT_HDRS_MAX (64 * 1024)

struct swift_http_pool;

/* Settings copied into every handle. */
struct swift_http_opts {
	bool insecure;		  /* skip TLS verification (tests only) */
	unsigned connect_timeout; /* seconds; 0 = libcurl default */
	unsigned stall_timeout;	  /* seconds below 1 byte/s = timeout */
	unsigned max_idle;	  /* handles kept for reuse */
};

/*
 * New pool. Handles are created on demand and kept (up to max_idle) with
 * their connections. Returns 0, -ENOMEM. Caller frees with
 * swift_http_pool_free(). Thread-safe (one mutex around the idle list,
 * never held during a transfer).
 */
int swift_http_pool_new(const struct swift_http_opts *opts,
			struct swift_http_pool **out);
void swift_http_pool_free(struct swift_http_pool *p);

/*
 * One request. The caller fills the input fields; swift_http_perform()
 * fills the output fields (releasing what a previous attempt left).
 */
struct swift_http_req {
	/* in (borrowed) */
	const char *method; /* "GET", "PUT", "HEAD", ... */
	const char *url;
	struct curl_slist *headers; /* extra request headers or NULL */
	const void *body;	    /* request body or NULL */
	size_t body_len;	    /* sent with Content-Length */
	bool has_body;		    /* send body (also when empty) */
	void *dst;		    /* response body into this buffer... */
	size_t dst_len;		    /* ...of at most this many bytes */
	struct buf *resp;	    /* ...or appended here (capped) */
	uint64_t stall_ms; /* stall limit of this request if longer than
			    * the pool's (a server-side copy answers only
			    * when done); 0: the pool's */

	/* out */
	CURLcode cc;	    /* CURLE_OK if a response came */
	long status;	    /* HTTP status, 0 without one */
	size_t got;	    /* bytes stored into dst */
	struct buf hdrs;    /* "name: value\n" lines, names lower */
	char err_text[128]; /* start of a non-2xx body ("" if none) */
};

/* Zeroes @r (then fill the inputs); release with swift_http_req_release. */
void swift_http_req_init(struct swift_http_req *r);
void swift_http_req_release(struct swift_http_req *r);

/*
 * Runs @r once on a pooled handle. Returns 0 when an HTTP response
 * arrived (whatever its status; see r->status) or the -errno of the
 * transport failure (swift_http_errno(0, r->cc, ...)); -ENOMEM.
 */
int swift_http_perform(struct swift_http_pool *p, struct swift_http_req *r);

/*
 * The value of response header @name (lowercase) of @r, copied into @dst
 * (@dst_len bytes, NUL-terminated, truncated). Returns true if present.
 */
bool swift_http_header(const struct swift_http_req *r, const char *name,
		       char *dst, size_t dst_len);

/*
 * The object's size a ranged response gives: TOTAL of its
 * "Content-Range: bytes A-B/TOTAL". False if there is none or it is "*".
 */
bool swift_http_range_total(const struct swift_http_req *r, uint64_t *total);

/*
 * Calls @fn for every response header whose name starts with @prefix
 * (lowercase), with the rest of the name and the value (both borrowed,
 * NUL-terminated, valid during the call). Stops at the first non-zero
 * return, which is returned.
 */
typedef int swift_http_header_fn(void *arg, const char *name,
				 const char *value);
int swift_http_headers_each(const struct swift_http_req *r, const char *prefix,
			    swift_http_header_fn *fn, void *arg);

/* What a request addressed: the meaning of some statuses depends on it. */
enum swift_target {
	SWIFT_TARGET_ACCOUNT = 0, /* also auth, /info */
	SWIFT_TARGET_CONTAINER,
	SWIFT_TARGET_OBJECT,
};

/*
 * THE mapping of a Swift response to an errno (../shared/STYLE.md 4).
 * @status is the HTTP status (0 if none), @cc the transfer result, @t
 * what the request addressed:
 *   2xx, 304, 416 -> 0 (416: a range past the end reads as EOF)
 *   404 -> -ENOENT          401, 403 -> -EACCES     412 -> -ESTALE
 *   409 -> -ENOTEMPTY for a container (DELETE of one holding objects),
 *          -EIO otherwise (an object: an SLO whose segments changed, a
 *          timestamp conflict; no directory is involved)
 *   413 -> -EFBIG, or -EDQUOT when @body (the response's text, NULL:
 *          none) names a quota: account_quotas and container_quotas
 *          answer 413 like max_file_size ("Upload exceeds quota.")
 *                           422 -> -EIO
 *   429, 498, 5xx -> -EIO   other 4xx -> -EINVAL (400) / -EIO
 *   CURLE_OPERATION_TIMEDOUT -> -ETIMEDOUT
 *   resolve / connect failures -> -EHOSTUNREACH
 *   resets, partial bodies, other transfer errors -> -EIO
 *   CURLE_OUT_OF_MEMORY -> -ENOMEM
 * A CURLcode other than CURLE_OK wins over @status.
 */
int swift_http_errno(long status, CURLcode cc, enum swift_target t,
		     const char *body);

/*
 * True if the failure is transient and an idempotent request may be sent
 * again: 422 (body corrupted in flight), 429, 498, 5xx, timeouts, resets,
 * connect failures, partial bodies. 401 is not (the caller re-authenticates
 * once instead).
 */
bool swift_http_is_retryable(long status, CURLcode cc);

/*
 * Runs @r with retries: while the failure is transient
 * (swift_http_is_retryable) and @idempotent, sleeps per the backoff
 * schedule until @budget_ms is spent. Returns as swift_http_perform();
 * r->status and r->cc describe the last attempt. *@attempts (may be NULL)
 * gets the number of attempts made.
 */
int swift_http_perform_retry(struct swift_http_pool *p,
			     struct swift_http_req *r, bool idempotent,
			     uint64_t budget_ms, unsigned *attempts);

/* ---- backoff ---- */

/*
 * Bounded exponential backoff with "equal jitter" inside a total budget:
 * attempt n (1 = the first retry) waits between half and all of
 * min(cap_ms, base_ms << (n - 1)); @rnd in [0, 1) picks the point. Returns
 * the delay in milliseconds, or -1 when waiting it would pass the budget
 * (@elapsed_ms already spent of @budget_ms): then give up.
 */
/* CLOCK_MONOTONIC in milliseconds: stalls, budgets, ages. */
uint64_t swift_now_ms(void);

/* The schedule swift_http_perform_retry() uses. */
#define SWIFT_BACKOFF_BASE_MS 200
#define SWIFT_BACKOFF_CAP_MS 10000

struct swift_backoff {
	unsigned base_ms;   /* first delay's upper bound */
	unsigned cap_ms;    /* upper bound of any one delay */
	uint64_t budget_ms; /* total time a request may take */
};

long swift_backoff_delay(const struct swift_backoff *b, unsigned attempt,
			 uint64_t elapsed_ms, double rnd);

/* ---- URL encoding ---- */

/*
 * Appends @s percent-encoded to @b: every byte except the RFC 3986
 * unreserved set (A-Z a-z 0-9 - . _ ~) and, if @keep_slash, '/'. UTF-8 is
 * encoded byte by byte. Returns 0 or the buf's error.
 */
int swift_url_encode(struct buf *b, const char *s, bool keep_slash);

/*
 * True if @s is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). Swift refuses any other name with
 * 412 "Invalid UTF8", which would read as a stale handle.
 */
bool swift_name_is_utf8(const char *s);

#endif /* BACKENDS_SWIFT_HTTP_H */
