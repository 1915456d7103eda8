/*
 * swift_store.c - the "swift:" leaf store (contract in swift_store.h):
 * containers, listings, HEAD/GET/PUT/POST/COPY/DELETE of objects, and the
 * streamed SLO writer.
 *
 * Every request goes through sw_do(): it builds the URL from the cached
 * storage URL (names percent-encoded), adds the token, runs the request
 * with retries (swift_http_perform_retry) and re-authenticates once on
 * 401. All requests here are idempotent (bodies are in memory and PUT,
 * POST, COPY and DELETE may be repeated), so all are retried; a DELETE
 * answered 404 after a retry counts as done (the lost first attempt did
 * it).
 *
 * Writer invariants: at most conf.parallel segment uploads run at once,
 * each on its own thread with its own buffer (kept until Swift acknowledged
 * it with the right ETag), plus the buffer being filled: memory is bounded
 * by (parallel + 1) * segment_size per writer. Segment i is "done" once its
 * thread was joined with success; the manifest lists done segments in
 * order. Whatever fails, every segment uploaded is deleted before commit or
 * abort returns.
 *
 * Locks: none of its own; the http pool and the auth cache lock inside and
 * never across the network. A writer's threads share nothing with each
 * other but their own slot, read back only after pthread_join().
 */
#include "swift_store.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../conf/log.h"
#include "swift_auth.h"
#include "swift_http.h"
#include "swift_json.h"

/* Hidden container of the default segment layout. */
#define SEG_SUFFIX "+segments"
/* One listing page's JSON: 10,000 entries of a few hundred bytes. */
#define LISTING_MAX (64u << 20)
/* A manifest of 1000 entries (or one returned by multipart-manifest=get). */
#define MANIFEST_MAX (16u << 20)
#define PAGE_LIMIT 10000

struct sw {
	struct swift_http_pool *pool;
	struct swift_auth *auth;
	uint64_t budget_ms;
	uint64_t segment_size;
	unsigned parallel;
	enum swift_segments segments;
	unsigned slo_max;
};

static struct sw *sw_of(struct store *st)
{
	return st->priv;
}

/* ---- configuration ---- */

void swift_conf_init(struct swift_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->auth_version = 1;
	c->connect_timeout = SWIFT_DEF_CONNECT_TIMEOUT;
	c->stall_timeout = SWIFT_DEF_STALL_TIMEOUT;
	c->retry_budget = SWIFT_DEF_RETRY_BUDGET;
	c->segment_size = SWIFT_DEF_SEGMENT_SIZE;
	c->parallel = SWIFT_DEF_PARALLEL;
	c->segments = SWIFT_SEGMENTS_HIDDEN;
}

void swift_conf_release(struct swift_conf *c)
{
	conf_free_secret(c->key, c->key_len);
	free(c->auth_url);
	free(c->user);
	free(c->user_id);
	free(c->project);
	free(c->project_id);
	free(c->domain);
	free(c->project_domain);
	free(c->appcred_id);
	free(c->appcred_name);
	free(c->region);
	free(c->interface);
	free(c->storage_url);
	swift_conf_init(c);
}

static int parse_uint(const char *key, const char *v, unsigned min,
		      unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n < min || n > max) {
		log_error("swift: %s = '%s' is not a number in %u..%u", key,
			  v, min, max);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int swift_conf_set(struct swift_conf *c, const char *key, const char *value)
{
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "auth_url", offsetof(struct swift_conf, auth_url) },
		{ "user", offsetof(struct swift_conf, user) },
		{ "user_id", offsetof(struct swift_conf, user_id) },
		{ "project", offsetof(struct swift_conf, project) },
		{ "project_id", offsetof(struct swift_conf, project_id) },
		{ "domain", offsetof(struct swift_conf, domain) },
		{ "project_domain",
		  offsetof(struct swift_conf, project_domain) },
		{ "appcred_id", offsetof(struct swift_conf, appcred_id) },
		{ "appcred_name", offsetof(struct swift_conf, appcred_name) },
		{ "region", offsetof(struct swift_conf, region) },
		{ "interface", offsetof(struct swift_conf, interface) },
		{ "storage_url", offsetof(struct swift_conf, storage_url) },
	};
	size_t i;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(key, strs[i].key) == 0)
			return set_str((char **)((char *)c + strs[i].off),
				       value);
	if (strcmp(key, "key_file") == 0) {
		char *s = NULL;
		size_t len = 0;
		int err = conf_read_secret(value, "swift key_file", &s, &len);

		if (err)
			return err;
		conf_free_secret(c->key, c->key_len);
		c->key = s;
		c->key_len = len;
		return 0;
	}
	if (strcmp(key, "key") == 0 || strcmp(key, "password") == 0) {
		log_error("swift: secrets are read from files only: use key_file");
		return -EINVAL;
	}
	if (strcmp(key, "auth_version") == 0) {
		if (strcmp(value, "1") == 0 || strcmp(value, "1.0") == 0) {
			c->auth_version = 1;
			return 0;
		}
		if (strcmp(value, "3") == 0) {
			c->auth_version = 3;
			return 0;
		}
		log_error("swift: auth_version = '%s' is not 1 or 3", value);
		return -EINVAL;
	}
	if (strcmp(key, "insecure") == 0) {
		if (!strcmp(value, "yes") || !strcmp(value, "true") ||
		    !strcmp(value, "1") || !strcmp(value, "on")) {
			c->insecure = true;
			return 0;
		}
		if (!strcmp(value, "no") || !strcmp(value, "false") ||
		    !strcmp(value, "0") || !strcmp(value, "off")) {
			c->insecure = false;
			return 0;
		}
		log_error("swift: insecure = '%s' is not yes or no", value);
		return -EINVAL;
	}
	if (strcmp(key, "connect_timeout") == 0)
		return parse_uint(key, value, 1, 3600, &c->connect_timeout);
	if (strcmp(key, "stall_timeout") == 0)
		return parse_uint(key, value, 1, 3600, &c->stall_timeout);
	if (strcmp(key, "retry_budget") == 0)
		return parse_uint(key, value, 0, 86400, &c->retry_budget);
	if (strcmp(key, "parallel") == 0)
		return parse_uint(key, value, 1, SWIFT_MAX_PARALLEL,
				  &c->parallel);
	if (strcmp(key, "segment_size") == 0) {
		uint64_t v;

		/* Swift's max_file_size (5 GiB + 2) caps a segment too */
		if (conf_parse_size(value, &v) || v == 0 ||
		    v > (5ULL << 30)) {
			log_error("swift: segment_size = '%s' is not a size in 1..5G",
				  value);
			return -EINVAL;
		}
		c->segment_size = v;
		return 0;
	}
	if (strcmp(key, "segments") == 0) {
		if (strcmp(value, "hidden") == 0) {
			c->segments = SWIFT_SEGMENTS_HIDDEN;
			return 0;
		}
		if (strcmp(value, "trove") == 0) {
			c->segments = SWIFT_SEGMENTS_TROVE;
			return 0;
		}
		log_error("swift: segments = '%s' is not hidden or trove",
			  value);
		return -EINVAL;
	}
	log_error("swift: unknown setting '%s'", key);
	return -EINVAL;
}

int swift_conf_from_section(struct swift_conf *c,
			    const struct conf_section *s)
{
	size_t i;

	for (i = 0; i < s->nkv; i++) {
		int err = swift_conf_set(c, s->kv[i].key, s->kv[i].value);

		if (err) {
			log_error("in [swift:%s] at line %d", s->name,
				  s->kv[i].line);
			return err;
		}
	}
	return 0;
}

/* ---- requests ---- */

enum {
	QUIET_404 = 1 << 0,	/* expected: no log line */
	QUIET_409 = 1 << 1,
	QUIET_401 = 1 << 2,
	QUIET_202 = 1 << 3,
};

struct sw_call {
	const char *method;
	const char *container;		/* NULL: the account */
	const char *key;		/* NULL: the container */
	const char *query;		/* encoded, without '?'; or NULL */
	struct curl_slist *headers;	/* borrowed */
	const void *body;
	size_t body_len;
	bool has_body;
	void *dst;
	size_t dst_len;
	struct buf *resp;
	unsigned quiet;
};

static int build_url(struct buf *u, const char *base, const struct sw_call *c)
{
	buf_puts(u, base);
	if (c->container) {
		buf_puts(u, "/");
		swift_url_encode(u, c->container, false);
	}
	if (c->key) {
		buf_puts(u, "/");
		swift_url_encode(u, c->key, true);
	}
	if (c->query) {
		buf_puts(u, "?");
		buf_puts(u, c->query);
	}
	return u->err;
}

static void log_failure(const struct sw_call *c, struct swift_http_req *r,
			int err)
{
	char trans[128] = "";

	swift_http_header(r, "x-trans-id", trans, sizeof(trans));
	if (r->cc != CURLE_OK)
		log_error("swift %s '%s%s%s': %s", c->method,
			  c->container ? c->container : "(account)",
			  c->key ? "/" : "", c->key ? c->key : "",
			  curl_easy_strerror(r->cc));
	else
		log_error("swift %s '%s%s%s': HTTP %ld%s%s (%s)", c->method,
			  c->container ? c->container : "(account)",
			  c->key ? "/" : "", c->key ? c->key : "", r->status,
			  trans[0] ? " " : "", trans, strerror(-err));
}

/*
 * Runs @c; @r (initialised by the caller, released by it) holds the last
 * response. Returns 0 for a 2xx (also 304/416), else the mapped -errno,
 * logged unless the status is one of @c->quiet.
 */
static int sw_do(struct sw *sw, const struct sw_call *c,
		 struct swift_http_req *r)
{
	struct swift_token tok;
	struct buf url;
	struct buf th;
	bool reauthed = false;
	int err;

	buf_init(&url, SWIFT_URL_MAX);
	buf_init(&th, SWIFT_TOKEN_MAX + 32);
	for (;;) {
		struct curl_slist *h = NULL;
		struct curl_slist *it;
		unsigned attempts = 0;

		err = swift_auth_get(sw->auth, &tok);
		if (err)
			break;
		buf_reset(&url);
		buf_reset(&th);
		err = build_url(&url, tok.url, c);
		if (err) {
			log_error("swift: url of '%s/%s' too long",
				  c->container ? c->container : "",
				  c->key ? c->key : "");
			err = -ENAMETOOLONG;
			break;
		}
		if (tok.token[0])
			buf_printf(&th, "X-Auth-Token: %s", tok.token);
		else
			buf_puts(&th, "X-Trovefs: 1");
		if (th.err) {
			err = th.err;
			break;
		}
		h = curl_slist_append(NULL, th.data);
		for (it = c->headers; h && it; it = it->next) {
			struct curl_slist *n = curl_slist_append(h, it->data);

			if (!n) {
				curl_slist_free_all(h);
				h = NULL;
			} else {
				h = n;
			}
		}
		if (!h) {
			err = -ENOMEM;
			break;
		}
		r->method = c->method;
		r->url = url.data;
		r->headers = h;
		r->body = c->body;
		r->body_len = c->body_len;
		r->has_body = c->has_body;
		r->dst = c->dst;
		r->dst_len = c->dst_len;
		r->resp = c->resp;
		err = swift_http_perform_retry(sw->pool, r, true, sw->budget_ms,
					       &attempts);
		OPENSSL_cleanse(th.data, th.len);
		curl_slist_free_all(h);
		r->headers = NULL;
		r->url = NULL;
		if (!err && r->status == 401 && !reauthed && tok.token[0]) {
			/* token expired or lost (memcached restart) */
			swift_auth_invalidate(sw->auth, tok.gen);
			reauthed = true;
			continue;
		}
		if (err)
			break;
		err = swift_http_errno(r->status, r->cc);
		if (err == -ENOENT && attempts > 1 &&
		    strcmp(c->method, "DELETE") == 0)
			err = 0;
		if (err && !((c->quiet & QUIET_404) && r->status == 404) &&
		    !((c->quiet & QUIET_409) && r->status == 409) &&
		    !((c->quiet & QUIET_401) && r->status == 401))
			log_failure(c, r, err);
		goto out;
	}
	if (err && err != -ENAMETOOLONG && r->cc != CURLE_OK)
		log_failure(c, r, err);
out:
	OPENSSL_cleanse(&tok, sizeof(tok));
	buf_release(&url);
	if (th.data)
		OPENSSL_cleanse(th.data, th.cap);
	buf_release(&th);
	return err;
}

/* A simple request whose response only matters by its status. */
static int sw_simple(struct sw *sw, const char *method, const char *container,
		     const char *key, const char *query, unsigned quiet,
		     long *status)
{
	struct sw_call c = {
		.method = method, .container = container, .key = key,
		.query = query, .quiet = quiet,
	};
	struct swift_http_req r;
	int err;

	swift_http_req_init(&r);
	err = sw_do(sw, &c, &r);
	if (status)
		*status = r.status;
	swift_http_req_release(&r);
	return err;
}

static bool hdr_true(const struct swift_http_req *r, const char *name)
{
	char v[16];

	return swift_http_header(r, name, v, sizeof(v)) &&
	       strcasecmp(v, "true") == 0;
}

/* ---- containers ---- */

static bool is_seg_container(const char *name)
{
	size_t n = strlen(name);
	size_t s = strlen(SEG_SUFFIX);

	return n > s && strcmp(name + n - s, SEG_SUFFIX) == 0;
}

struct list_ctx {
	store_list_fn *fn;
	void *arg;
	bool containers;
	char *last;		/* owned: last name passed on (the marker) */
	int ret;		/* the callback's result */
	int err;
};

static int list_entry(void *arg, const struct swift_json_entry *e)
{
	struct list_ctx *lc = arg;
	struct obj_info oi;
	char *last;
	int ret;

	/* the page after a subdir may repeat it: keep strictly ascending */
	if (lc->last && strcmp(e->name, lc->last) <= 0)
		return 0;
	last = strdup(e->name);
	if (!last) {
		lc->err = -ENOMEM;
		return 1;
	}
	free(lc->last);
	lc->last = last;
	if (lc->containers && is_seg_container(e->name))
		return 0;
	obj_info_init(&oi);
	oi.name = strdup(e->name);
	if (!oi.name) {
		lc->err = -ENOMEM;
		return 1;
	}
	if (e->is_subdir) {
		oi.is_subdir = true;
	} else {
		bool complete = false;

		oi.size = e->bytes;
		oi.count = e->count;
		if (e->last_modified[0])
			swift_parse_iso_time(e->last_modified, &oi.mtime);
		if (!lc->containers &&
		    swift_ctype_to_meta(e->content_type, &oi.meta,
					&complete)) {
			obj_info_release(&oi);
			lc->err = -ENOMEM;
			return 1;
		}
		oi.meta_partial = !lc->containers && !complete;
	}
	ret = lc->fn(lc->arg, &oi);
	obj_info_release(&oi);
	if (ret) {
		lc->ret = ret;
		return 1;
	}
	return 0;
}

/* Pages through a listing of @container (NULL: the account). */
static int sw_list(struct sw *sw, const char *container, const char *prefix,
		   char delim, store_list_fn *fn, void *arg)
{
	struct list_ctx lc = {
		.fn = fn, .arg = arg, .containers = !container,
	};
	struct buf q;
	struct buf resp;
	int err = 0;

	buf_init(&q, SWIFT_URL_MAX);
	buf_init(&resp, LISTING_MAX);
	for (;;) {
		struct sw_call c = {
			.method = "GET", .container = container,
			.resp = &resp, .quiet = QUIET_404,
		};
		struct swift_http_req r;
		size_t n = 0;

		buf_reset(&q);
		buf_reset(&resp);
		buf_printf(&q, "format=json&limit=%d", PAGE_LIMIT);
		if (prefix && *prefix) {
			buf_puts(&q, "&prefix=");
			swift_url_encode(&q, prefix, false);
		}
		if (delim) {
			char d[2] = { delim, '\0' };

			buf_puts(&q, "&delimiter=");
			swift_url_encode(&q, d, false);
		}
		if (lc.last) {
			buf_puts(&q, "&marker=");
			swift_url_encode(&q, lc.last, false);
		}
		if (q.err) {
			err = -ENAMETOOLONG;
			break;
		}
		c.query = q.data;
		swift_http_req_init(&r);
		err = sw_do(sw, &c, &r);
		swift_http_req_release(&r);
		if (err)
			break;
		if (resp.len == 0)
			break;	/* 204: empty */
		err = swift_json_parse_listing(resp.data, resp.len, list_entry,
					       &lc, &n);
		if (lc.err) {
			err = lc.err;
			break;
		}
		if (lc.ret) {
			err = lc.ret < 0 ? lc.ret : 0;
			break;
		}
		if (err) {
			log_error("swift: bad listing of '%s'",
				  container ? container : "(account)");
			err = -EIO;
			break;
		}
		if (n == 0)
			break;
	}
	free(lc.last);
	buf_release(&q);
	buf_release(&resp);
	return err;
}

static int sw_list_containers(struct store *st, store_list_fn *fn, void *arg)
{
	return sw_list(sw_of(st), NULL, NULL, 0, fn, arg);
}

static int sw_create_container(struct store *st, const char *container)
{
	long status = 0;
	int err;

	if (!store_container_is_valid(container) ||
	    is_seg_container(container))
		return -EINVAL;
	err = sw_simple(sw_of(st), "PUT", container, NULL, NULL, 0, &status);
	if (!err && status == 202)
		return -EEXIST;
	return err;
}

static int seg_container_name(const char *container, struct buf *b)
{
	buf_puts(b, container);
	buf_puts(b, SEG_SUFFIX);
	return b->err;
}

static int sw_delete_container(struct store *st, const char *container)
{
	struct sw *sw = sw_of(st);
	struct buf seg;
	int err;

	if (!store_container_is_valid(container))
		return -EINVAL;
	err = sw_simple(sw, "DELETE", container, NULL, NULL,
			QUIET_404 | QUIET_409, NULL);
	if (err)
		return err;
	/* its segments container goes too if empty (leftovers stay) */
	buf_init(&seg, STORE_CONTAINER_MAX + 16);
	if (!seg_container_name(container, &seg))
		sw_simple(sw, "DELETE", seg.data, NULL, NULL,
			  QUIET_404 | QUIET_409, NULL);
	buf_release(&seg);
	return 0;
}

static int sw_list_objects(struct store *st, const char *container,
			   const char *prefix, char delim, store_list_fn *fn,
			   void *arg)
{
	if (!store_container_is_valid(container))
		return -EINVAL;
	return sw_list(sw_of(st), container, prefix, delim, fn, arg);
}

/* ---- head ---- */

static int sw_head_raw(struct sw *sw, const char *container, const char *key,
		       struct swift_http_req *r)
{
	struct sw_call c = {
		.method = "HEAD", .container = container, .key = key,
		.quiet = QUIET_404,
	};

	if (!store_container_is_valid(container) || !store_key_is_valid(key))
		return -EINVAL;
	return sw_do(sw, &c, r);
}

static int meta_hdr(void *arg, const char *name, const char *value)
{
	struct meta *m = arg;
	char key[META_KEY_MAX + 1];
	size_t i;
	int err;

	for (i = 0; name[i] && i < META_KEY_MAX; i++)
		key[i] = name[i];
	if (name[i])
		return 0;
	key[i] = '\0';
	if (!meta_key_is_valid(key))
		return 0;	/* foreign keys (e.g. with '_') are skipped */
	err = meta_set(m, key, value);
	return err == -ENOMEM ? err : 0;
}

static int info_from_head(const struct swift_http_req *r, const char *key,
			  struct obj_info *oi)
{
	char v[64];
	int err;

	obj_info_init(oi);
	oi->name = strdup(key);
	if (!oi->name)
		return -ENOMEM;
	if (swift_http_header(r, "content-length", v, sizeof(v)))
		oi->size = strtoull(v, NULL, 10);
	if (!swift_http_header(r, "x-timestamp", v, sizeof(v)) ||
	    swift_parse_x_timestamp(v, &oi->mtime)) {
		oi->mtime.tv_sec = 0;
		oi->mtime.tv_nsec = 0;
	}
	err = swift_http_headers_each(r, "x-object-meta-", meta_hdr,
				      &oi->meta);
	if (err) {
		obj_info_release(oi);
		return err;
	}
	return 0;
}

static int sw_head(struct store *st, const char *container, const char *key,
		   struct obj_info *oi)
{
	struct swift_http_req r;
	struct obj_info tmp;
	int err;

	swift_http_req_init(&r);
	err = sw_head_raw(sw_of(st), container, key, &r);
	if (!err)
		err = info_from_head(&r, key, &tmp);
	if (!err)
		*oi = tmp;
	swift_http_req_release(&r);
	return err;
}

/* ---- reader ---- */

struct sw_reader {
	struct store_reader base;
	struct sw *sw;
	char *container;
	char *key;
};

static int sw_read(struct store_reader *rd, uint64_t off, void *dst,
		   size_t len, size_t *got)
{
	struct sw_reader *sr = rd->priv;
	char range[64];
	struct curl_slist *h;
	struct sw_call c = {
		.method = "GET", .container = sr->container, .key = sr->key,
		.dst = dst,
	};
	struct swift_http_req r;
	int err;

	*got = 0;
	if (off >= rd->size || len == 0)
		return 0;
	if (len > rd->size - off)
		len = (size_t)(rd->size - off);
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
		 (unsigned long long)off, (unsigned long long)(off + len - 1));
	h = curl_slist_append(NULL, range);
	if (!h)
		return -ENOMEM;
	c.headers = h;
	c.dst_len = len;
	swift_http_req_init(&r);
	err = sw_do(sr->sw, &c, &r);
	if (!err && r.status == 416) {
		*got = 0;	/* the object shrank: EOF */
	} else if (!err && r.status == 200 && off > 0) {
		log_error("swift GET '%s/%s': range ignored (HTTP 200)",
			  sr->container, sr->key);
		err = -EIO;
	} else if (!err) {
		*got = r.got;
	} else if (err == -ENOENT) {
		err = -EIO;	/* gone while open */
	}
	swift_http_req_release(&r);
	curl_slist_free_all(h);
	return err;
}

static void sw_reader_close(struct store_reader *rd)
{
	struct sw_reader *sr = rd->priv;

	free(sr->container);
	free(sr->key);
	free(sr);
}

static const struct store_reader_ops sw_reader_ops = {
	.read = sw_read,
	.close = sw_reader_close,
};

static int sw_reader_open(struct store *st, const char *container,
			  const char *key, struct store_reader **out)
{
	struct sw_reader *sr;
	struct swift_http_req r;
	char v[64];
	int err;

	swift_http_req_init(&r);
	err = sw_head_raw(sw_of(st), container, key, &r);
	if (err)
		goto out_release;
	sr = calloc(1, sizeof(*sr));
	if (!sr) {
		err = -ENOMEM;
		goto out_release;
	}
	sr->sw = sw_of(st);
	sr->container = strdup(container);
	sr->key = strdup(key);
	if (!sr->container || !sr->key) {
		sw_reader_close(&sr->base);
		err = -ENOMEM;
		goto out_release;
	}
	sr->base.ops = &sw_reader_ops;
	sr->base.priv = sr;
	if (swift_http_header(&r, "content-length", v, sizeof(v)))
		sr->base.size = strtoull(v, NULL, 10);
	*out = &sr->base;
out_release:
	swift_http_req_release(&r);
	return err;
}

/* ---- metadata headers ---- */

/* Appends X-Object-Meta-* and Content-Type for @m to *@h. */
static int meta_headers(const struct meta *m, struct curl_slist **h)
{
	struct buf b;
	size_t i;
	int err = 0;

	buf_init(&b, 8192);
	for (i = 0; m && i < m->n && !err; i++) {
		struct curl_slist *n;

		buf_reset(&b);
		if (buf_printf(&b, "X-Object-Meta-%s: %s", m->v[i].key,
			       m->v[i].value)) {
			err = b.err;
			break;
		}
		n = curl_slist_append(*h, b.data);
		if (!n)
			err = -ENOMEM;
		else
			*h = n;
	}
	if (!err) {
		struct meta empty;
		struct curl_slist *n;

		meta_init(&empty);
		buf_reset(&b);
		buf_puts(&b, "Content-Type: ");
		err = swift_ctype_from_meta(m ? m : &empty, &b);
		if (!err) {
			n = curl_slist_append(*h, b.data);
			if (!n)
				err = -ENOMEM;
			else
				*h = n;
		}
	}
	buf_release(&b);
	return err;
}

static int add_header(struct curl_slist **h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add_header(struct curl_slist **h, const char *fmt, ...)
{
	char line[SWIFT_URL_MAX + 64];
	struct curl_slist *n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -ENAMETOOLONG;
	n = curl_slist_append(*h, line);
	if (!n)
		return -ENOMEM;
	*h = n;
	return 0;
}

/* ---- segments ---- */

/* Parses "/container/object" into its parts (borrowed into @buf). */
static int split_path(const char *path, struct buf *b, const char **c,
		      const char **k)
{
	char *slash;

	if (path[0] != '/')
		return -EINVAL;
	buf_reset(b);
	if (buf_puts(b, path + 1))
		return b->err;
	slash = strchr(b->data, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	*slash = '\0';
	*c = b->data;
	*k = slash + 1;
	return 0;
}

/* Deletes one segment given as "/c/o" (404 = already gone). */
static int delete_path(struct sw *sw, const char *path, bool sub_slo)
{
	struct buf b;
	const char *c = NULL;
	const char *k = NULL;
	int err;

	buf_init(&b, SWIFT_URL_MAX);
	err = split_path(path, &b, &c, &k);
	if (!err) {
		err = sw_simple(sw, "DELETE", c, k,
				sub_slo ? "multipart-manifest=delete" : NULL,
				QUIET_404, NULL);
		if (err == -ENOENT)
			err = 0;
	}
	buf_release(&b);
	return err;
}

/* The segments of an SLO manifest we may delete when it is replaced. */
struct old_segs {
	char **paths;
	bool *sub;
	size_t n;
	size_t cap;
	const char *own_prefix;	/* "/<c>+segments/" */
	const char *trove_prefix;	/* "/<c>/<key>_" */
	int err;
};

static int old_seg_entry(void *arg, const struct swift_json_entry *e)
{
	struct old_segs *o = arg;

	if (strncmp(e->name, o->own_prefix, strlen(o->own_prefix)) != 0 &&
	    strncmp(e->name, o->trove_prefix, strlen(o->trove_prefix)) != 0)
		return 0;	/* not ours: another tool's data */
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		char **p = reallocarray(o->paths, cap, sizeof(*p));
		bool *s;

		if (!p)
			goto out_nomem;
		o->paths = p;
		s = reallocarray(o->sub, cap, sizeof(*s));
		if (!s)
			goto out_nomem;
		o->sub = s;
		o->cap = cap;
	}
	o->paths[o->n] = strdup(e->name);
	if (!o->paths[o->n])
		goto out_nomem;
	o->sub[o->n++] = e->is_subdir;
	return 0;
out_nomem:
	o->err = -ENOMEM;
	return 1;
}

static void old_segs_release(struct old_segs *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->paths[i]);
	free(o->paths);
	free(o->sub);
	memset(o, 0, sizeof(*o));
}

/*
 * If @key is an SLO whose segments trovefs made, collects them into @o so
 * they can be deleted once a new object replaced it. Best effort: any
 * failure leaves @o empty (the segments are then leaked, not lost).
 */
static void collect_old_segments(struct sw *sw, const char *container,
				 const char *key, struct old_segs *o)
{
	struct swift_http_req r;
	struct buf own;
	struct buf trove;
	struct buf resp;
	size_t n;
	int err;

	memset(o, 0, sizeof(*o));
	swift_http_req_init(&r);
	err = sw_head_raw(sw, container, key, &r);
	if (err || !hdr_true(&r, "x-static-large-object")) {
		swift_http_req_release(&r);
		return;
	}
	swift_http_req_release(&r);
	buf_init(&own, SWIFT_URL_MAX);
	buf_init(&trove, SWIFT_URL_MAX);
	buf_init(&resp, MANIFEST_MAX);
	buf_printf(&own, "/%s%s/", container, SEG_SUFFIX);
	buf_printf(&trove, "/%s/%s_", container, key);
	if (own.err || trove.err)
		goto out_release;
	{
		struct sw_call c = {
			.method = "GET", .container = container, .key = key,
			.query = "multipart-manifest=get", .resp = &resp,
			.quiet = QUIET_404,
		};

		swift_http_req_init(&r);
		err = sw_do(sw, &c, &r);
		swift_http_req_release(&r);
	}
	if (err)
		goto out_release;
	o->own_prefix = own.data;
	o->trove_prefix = trove.data;
	err = swift_json_parse_manifest(resp.data, resp.len, old_seg_entry, o,
					&n);
	if (err || o->err)
		old_segs_release(o);
out_release:
	o->own_prefix = NULL;
	o->trove_prefix = NULL;
	buf_release(&own);
	buf_release(&trove);
	buf_release(&resp);
}

/* Deletes the old segments not listed in @keep (n_keep entries). */
static void delete_old_segments(struct sw *sw, struct old_segs *o,
				const struct swift_seg *keep, size_t n_keep)
{
	size_t i;
	size_t j;

	for (i = 0; i < o->n; i++) {
		bool kept = false;

		for (j = 0; j < n_keep && !kept; j++)
			kept = strcmp(o->paths[i], keep[j].path) == 0;
		if (!kept)
			delete_path(sw, o->paths[i], o->sub[i]);
	}
}

/* ---- writer ---- */

struct sw_slot {
	struct sw_writer *w;
	pthread_t th;
	bool running;
	char *data;		/* owned, segment_size bytes */
	size_t len;
	size_t index;		/* segment number */
	char etag[33];
	int err;
};

struct sw_writer {
	struct store_writer base;
	struct sw *sw;
	char *container;
	char *key;
	char *seg_container;	/* where segments go */
	char *seg_prefix;	/* "<key>/<uuid>/" or "<key>_" */
	bool trove;
	bool seg_container_ok;

	char *cur;		/* owned buffer being filled */
	size_t cur_len;
	EVP_MD_CTX *md5;	/* over cur */

	size_t nseg;		/* segments started */
	struct swift_seg *segs;	/* done: segs[i] for i < nseg */
	size_t segs_cap;
	bool *seg_uploaded;	/* segs[i] may exist on the server */
	struct sw_slot slots[SWIFT_MAX_PARALLEL];
	size_t nsub;		/* sub-manifests written */
	struct swift_seg *subs;	/* their entries, to delete on failure */
	size_t subs_cap;
	int err;		/* sticky */
};

static void hex_md5(EVP_MD_CTX *ctx, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	unsigned int i;

	EVP_DigestFinal_ex(ctx, md, &len);
	for (i = 0; i < 16 && i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
}

/* Object name of segment @i in seg_container. */
static int seg_name(const struct sw_writer *w, size_t i, struct buf *b)
{
	buf_reset(b);
	buf_printf(b, "%s%08zu", w->seg_prefix, i);
	return b->err;
}

/* PUTs @len bytes at @container/@key, checked against @etag. */
static int put_checked(struct sw *sw, const char *container, const char *key,
		       const char *query, const void *data, size_t len,
		       const char *etag, const struct meta *m, bool with_meta)
{
	struct curl_slist *h = NULL;
	struct sw_call c = {
		.method = "PUT", .container = container, .key = key,
		.query = query, .body = data, .body_len = len,
		.has_body = true,
	};
	struct swift_http_req r;
	char got[64];
	int err = 0;

	if (etag && etag[0])
		err = add_header(&h, "ETag: %s", etag);
	if (!err && with_meta)
		err = meta_headers(m, &h);
	if (!err && !with_meta)
		err = add_header(&h, "Content-Type: application/octet-stream");
	if (err) {
		curl_slist_free_all(h);
		return err;
	}
	c.headers = h;
	swift_http_req_init(&r);
	err = sw_do(sw, &c, &r);
	if (!err && etag && etag[0] && !query &&
	    swift_http_header(&r, "etag", got, sizeof(got))) {
		const char *g = got;
		size_t gl = strlen(g);

		if (gl >= 2 && g[0] == '"') {
			g++;
			gl -= 2;
		}
		/* Swift checked it (422 otherwise); this catches proxies */
		if (gl != 32 || strncasecmp(g, etag, 32) != 0) {
			log_error("swift PUT '%s/%s': etag %s, expected %s",
				  container, key, got, etag);
			err = -EIO;
		}
	}
	swift_http_req_release(&r);
	curl_slist_free_all(h);
	return err;
}

static void *slot_main(void *arg)
{
	struct sw_slot *s = arg;
	struct sw_writer *w = s->w;
	struct buf name;

	buf_init(&name, STORE_KEY_MAX + 64);
	s->err = seg_name(w, s->index, &name);
	if (!s->err)
		s->err = put_checked(w->sw, w->seg_container, name.data, NULL,
				     s->data, s->len, s->etag, NULL, false);
	buf_release(&name);
	return NULL;
}

/* Records the segment slot @s uploaded (or its error). */
static void slot_record(struct sw_writer *w, struct sw_slot *s)
{
	struct swift_seg *seg = &w->segs[s->index];
	struct buf path;

	if (s->err) {
		if (!w->err)
			w->err = s->err;
		return;
	}
	buf_init(&path, SWIFT_URL_MAX);
	buf_printf(&path, "/%s/%s%08zu", w->seg_container, w->seg_prefix,
		   s->index);
	if (path.err) {
		if (!w->err)
			w->err = path.err;
		return;
	}
	seg->path = buf_steal(&path);
	memcpy(seg->etag, s->etag, sizeof(seg->etag));
	seg->size = s->len;
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

static int ensure_seg_container(struct sw_writer *w)
{
	long status = 0;
	int err;

	if (w->seg_container_ok)
		return 0;
	err = sw_simple(w->sw, "PUT", w->seg_container, NULL, NULL, 0,
			&status);
	if (!err)
		w->seg_container_ok = true;
	return err;
}

/* Hands the full buffer to an upload thread (joining one if all busy). */
static int flush_segment(struct sw_writer *w)
{
	struct sw *sw = w->sw;
	struct sw_slot *s = NULL;
	struct sw_slot *oldest = NULL;
	char *spare;
	unsigned i;
	int err;

	err = ensure_seg_container(w);
	if (err)
		return err;
	if (w->nseg == w->segs_cap) {
		size_t cap = w->segs_cap ? w->segs_cap * 2 : 64;
		struct swift_seg *p = reallocarray(w->segs, cap, sizeof(*p));
		bool *u;

		if (!p)
			return -ENOMEM;
		memset(p + w->segs_cap, 0, (cap - w->segs_cap) * sizeof(*p));
		w->segs = p;
		u = reallocarray(w->seg_uploaded, cap, sizeof(*u));
		if (!u)
			return -ENOMEM;
		memset(u + w->segs_cap, 0, (cap - w->segs_cap) * sizeof(*u));
		w->seg_uploaded = u;
		w->segs_cap = cap;
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
	/* swap buffers: the slot takes the full one */
	spare = s->data;
	s->data = w->cur;
	s->len = w->cur_len;
	s->index = w->nseg;
	s->err = 0;
	s->w = w;
	hex_md5(w->md5, s->etag);
	if (!spare)
		spare = malloc(sw->segment_size);
	w->cur = spare;
	w->cur_len = 0;
	w->seg_uploaded[w->nseg] = true;
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
		size_t room = w->sw->segment_size - w->cur_len;
		size_t n = len < room ? len : room;

		if (room == 0) {
			/* full and more is coming: it becomes a segment */
			w->err = flush_segment(w);
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

/* Deletes every segment and sub-manifest this writer may have made. */
static void delete_uploaded(struct sw_writer *w)
{
	struct buf name;
	size_t i;

	buf_init(&name, STORE_KEY_MAX + 64);
	for (i = 0; i < w->nsub; i++)
		delete_path(w->sw, w->subs[i].path, false);
	for (i = 0; i < w->nseg; i++) {
		if (!w->seg_uploaded[i] || seg_name(w, i, &name))
			continue;
		if (sw_simple(w->sw, "DELETE", w->seg_container, name.data,
			      NULL, QUIET_404, NULL) == -ENOENT)
			continue;
	}
	buf_release(&name);
}

static void writer_free(struct sw_writer *w)
{
	size_t i;

	for (i = 0; i < SWIFT_MAX_PARALLEL; i++)
		free(w->slots[i].data);
	for (i = 0; i < w->nseg && w->segs; i++)
		free(w->segs[i].path);
	for (i = 0; i < w->nsub; i++)
		free(w->subs[i].path);
	free(w->subs);
	free(w->segs);
	free(w->seg_uploaded);
	free(w->cur);
	EVP_MD_CTX_free(w->md5);
	free(w->container);
	free(w->key);
	free(w->seg_container);
	free(w->seg_prefix);
	free(w);
}

/*
 * Folds @n entries into sub-manifests of at most slo_max until one
 * manifest can hold them: *@top and *@ntop are the entries of the final
 * manifest (borrowed from w->segs or w->subs).
 */
static int nest_manifests(struct sw_writer *w, struct swift_seg *segs,
			  size_t n, struct swift_seg **top, size_t *ntop)
{
	size_t level = 0;
	struct buf body;
	struct buf name;
	int err = 0;

	buf_init(&body, MANIFEST_MAX);
	buf_init(&name, STORE_KEY_MAX + 64);
	while (n > w->sw->slo_max) {
		size_t groups = (n + w->sw->slo_max - 1) / w->sw->slo_max;
		size_t first = w->nsub;
		size_t g;

		if (w->nsub + groups > w->subs_cap) {
			size_t cap = w->nsub + groups;
			struct swift_seg *p = reallocarray(w->subs, cap,
							   sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			w->subs = p;
			w->subs_cap = cap;
		}
		for (g = 0; g < groups && !err; g++) {
			size_t off = g * w->sw->slo_max;
			size_t cnt = n - off < w->sw->slo_max ?
				     n - off : w->sw->slo_max;
			struct swift_seg *sub = &w->subs[w->nsub];
			size_t i;

			memset(sub, 0, sizeof(*sub));
			buf_reset(&body);
			buf_reset(&name);
			buf_printf(&name, "%sm%zu-%08zu", w->seg_prefix, level,
				   g);
			err = name.err ? name.err :
			      swift_json_manifest(segs + off, cnt, &body);
			if (!err)
				err = swift_slo_etag(segs + off, cnt,
						     sub->etag);
			if (err)
				break;
			sub->size = 0;
			for (i = 0; i < cnt; i++)
				sub->size += segs[off + i].size;
			err = put_checked(w->sw, w->seg_container, name.data,
					  "multipart-manifest=put", body.data,
					  body.len, NULL, NULL, false);
			if (err)
				break;
			buf_reset(&body);
			buf_printf(&body, "/%s/%s", w->seg_container,
				   name.data);
			if (body.err) {
				err = body.err;
				break;
			}
			sub->path = buf_steal(&body);
			buf_init(&body, MANIFEST_MAX);
			w->nsub++;
		}
		if (err)
			break;
		segs = w->subs + first;
		n = groups;
		level++;
	}
	buf_release(&body);
	buf_release(&name);
	if (!err) {
		*top = segs;
		*ntop = n;
	}
	return err;
}

static int sw_commit(struct store_writer *wr, const struct meta *m)
{
	struct sw_writer *w = wr->priv;
	struct sw *sw = w->sw;
	struct old_segs old;
	struct swift_seg *top = NULL;
	size_t ntop = 0;
	struct buf body;
	char etag[33];
	int err = w->err;

	memset(&old, 0, sizeof(old));
	buf_init(&body, MANIFEST_MAX);
	if (!err && w->nseg > 0 && w->cur_len > 0)
		err = flush_segment(w);
	join_all(w);
	if (!err)
		err = w->err;
	if (err)
		goto out_delete;
	/* what the object we replace leaves behind (SLO segments) */
	collect_old_segments(sw, w->container, w->key, &old);
	if (w->nseg == 0) {
		hex_md5(w->md5, etag);
		err = put_checked(sw, w->container, w->key, NULL, w->cur,
				  w->cur_len, etag, m, true);
		if (err)
			goto out_delete;
		delete_old_segments(sw, &old, NULL, 0);
		goto out_free;
	}
	err = nest_manifests(w, w->segs, w->nseg, &top, &ntop);
	if (!err)
		err = swift_json_manifest(top, ntop, &body);
	if (!err)
		err = put_checked(sw, w->container, w->key,
				  "multipart-manifest=put", body.data,
				  body.len, NULL, m, true);
	if (err)
		goto out_delete;
	delete_old_segments(sw, &old, w->segs, w->nseg);
	goto out_free;
out_delete:
	delete_uploaded(w);
out_free:
	old_segs_release(&old);
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

static const struct store_writer_ops sw_writer_ops = {
	.write = sw_write,
	.commit = sw_commit,
	.abort = sw_abort,
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

static int sw_writer_open(struct store *st, const char *container,
			  const char *key, const struct store_wopts *opts,
			  struct store_writer **out)
{
	struct sw *sw = sw_of(st);
	struct sw_writer *w;
	struct buf b;
	unsigned char rnd[16];
	char uuid[33];
	unsigned i;
	int err;

	if (!store_container_is_valid(container) || !store_key_is_valid(key))
		return -EINVAL;
	/* -ENOENT now rather than after uploading gigabytes */
	err = sw_simple(sw, "HEAD", container, NULL, NULL, QUIET_404, NULL);
	if (err)
		return err;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->sw = sw;
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
	buf_init(&b, SWIFT_URL_MAX);
	if (w->trove) {
		buf_puts(&b, key);
		buf_puts(&b, "_");
		w->seg_prefix = buf_steal(&b);
		w->seg_container = strdup(container);
		w->seg_container_ok = true;
	} else {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			err = -EIO;
			goto out_free;
		}
		for (i = 0; i < 16; i++)
			snprintf(uuid + 2 * i, 3, "%02x", rnd[i]);
		/* key + "/" + uuid + "/" + "m9-00000000" fits 1024 */
		buf_append(&b, key, utf8_cut(key, STORE_KEY_MAX - 48));
		buf_printf(&b, "/%s/", uuid);
		w->seg_prefix = buf_steal(&b);
		buf_init(&b, STORE_CONTAINER_MAX + 16);
		seg_container_name(container, &b);
		w->seg_container = buf_steal(&b);
	}
	if (!w->seg_prefix || !w->seg_container) {
		err = -ENOMEM;
		goto out_free;
	}
	w->base.ops = &sw_writer_ops;
	w->base.priv = w;
	*out = &w->base;
	return 0;
out_free:
	writer_free(w);
	return err;
}

/* ---- del, rename, set_meta, statfs ---- */

static int sw_del(struct store *st, const char *container, const char *key)
{
	struct sw *sw = sw_of(st);
	struct swift_http_req r;
	bool slo;
	int err;

	swift_http_req_init(&r);
	err = sw_head_raw(sw, container, key, &r);
	slo = !err && hdr_true(&r, "x-static-large-object");
	swift_http_req_release(&r);
	if (err)
		return err;
	return sw_simple(sw, "DELETE", container, key,
			 slo ? "multipart-manifest=delete" : NULL, QUIET_404,
			 NULL);
}

static int sw_rename(struct store *st, const char *sc, const char *sk,
		     const char *dc, const char *dk)
{
	struct sw *sw = sw_of(st);
	struct swift_http_req r;
	struct curl_slist *h = NULL;
	struct old_segs old;
	struct buf src;
	bool manifest;
	int err;

	if (!store_container_is_valid(dc) || !store_key_is_valid(dk))
		return -EINVAL;
	swift_http_req_init(&r);
	err = sw_head_raw(sw, sc, sk, &r);
	manifest = !err && (hdr_true(&r, "x-static-large-object") ||
			    swift_http_header(&r, "x-object-manifest", NULL,
					      0));
	swift_http_req_release(&r);
	if (err)
		return err;
	if (strcmp(sc, dc) == 0 && strcmp(sk, dk) == 0)
		return 0;
	collect_old_segments(sw, dc, dk, &old);
	buf_init(&src, SWIFT_URL_MAX);
	buf_puts(&src, "X-Copy-From: /");
	swift_url_encode(&src, sc, false);
	buf_puts(&src, "/");
	swift_url_encode(&src, sk, true);
	if (src.err) {
		err = -ENAMETOOLONG;
		goto out_release;
	}
	h = curl_slist_append(NULL, src.data);
	if (!h) {
		err = -ENOMEM;
		goto out_release;
	}
	{
		/* a manifest is copied as a manifest, not as its data */
		struct sw_call c = {
			.method = "PUT", .container = dc, .key = dk,
			.query = manifest ? "multipart-manifest=get" : NULL,
			.headers = h, .has_body = true, .body = "",
		};

		swift_http_req_init(&r);
		err = sw_do(sw, &c, &r);
		swift_http_req_release(&r);
	}
	if (err)
		goto out_release;
	/* the source manifest only: its segments now belong to dk */
	err = sw_simple(sw, "DELETE", sc, sk, NULL, QUIET_404, NULL);
	if (err == -ENOENT)
		err = 0;
	if (!err) {
		/* the segments of the old dk, unless dk now uses them */
		struct old_segs now;

		collect_old_segments(sw, dc, dk, &now);
		{
			size_t i;
			size_t j;

			for (i = 0; i < old.n; i++) {
				bool kept = false;

				for (j = 0; j < now.n && !kept; j++)
					kept = !strcmp(old.paths[i],
						       now.paths[j]);
				if (!kept)
					delete_path(sw, old.paths[i],
						    old.sub[i]);
			}
		}
		old_segs_release(&now);
	}
out_release:
	old_segs_release(&old);
	curl_slist_free_all(h);
	buf_release(&src);
	return err;
}

static int sw_set_meta(struct store *st, const char *container,
		       const char *key, const struct meta *m)
{
	struct curl_slist *h = NULL;
	struct swift_http_req r;
	int err;

	if (!store_container_is_valid(container) || !store_key_is_valid(key))
		return -EINVAL;
	err = meta_headers(m, &h);
	if (!err) {
		struct sw_call c = {
			.method = "POST", .container = container, .key = key,
			.headers = h, .quiet = QUIET_404,
		};

		swift_http_req_init(&r);
		err = sw_do(sw_of(st), &c, &r);
		swift_http_req_release(&r);
	}
	curl_slist_free_all(h);
	return err;
}

static uint64_t hdr_u64(const struct swift_http_req *r, const char *name,
			bool *found)
{
	char v[64];

	*found = swift_http_header(r, name, v, sizeof(v));
	return *found ? strtoull(v, NULL, 10) : 0;
}

static int sw_statfs(struct store *st, struct store_statfs *out)
{
	struct sw_call c = { .method = "HEAD" };
	struct swift_http_req r;
	bool found;
	uint64_t quota;
	int err;

	swift_http_req_init(&r);
	err = sw_do(sw_of(st), &c, &r);
	if (!err) {
		out->bytes_used = hdr_u64(&r, "x-account-bytes-used", &found);
		out->objects = hdr_u64(&r, "x-account-object-count", &found);
		quota = hdr_u64(&r, "x-account-meta-quota-bytes", &found);
		if (found) {
			out->bytes_total = quota;
			out->bytes_free = quota > out->bytes_used ?
					  quota - out->bytes_used : 0;
		}
	}
	swift_http_req_release(&r);
	return err;
}

static void sw_destroy(struct store *st)
{
	struct sw *sw = sw_of(st);

	swift_auth_free(sw->auth);
	swift_http_pool_free(sw->pool);
	free(sw);
	free(st);
}

static const struct store_ops sw_ops = {
	.name = "swift",
	.list_containers = sw_list_containers,
	.create_container = sw_create_container,
	.delete_container = sw_delete_container,
	.list = sw_list_objects,
	.head = sw_head,
	.reader_open = sw_reader_open,
	.writer_open = sw_writer_open,
	.del = sw_del,
	.rename = sw_rename,
	.set_meta = sw_set_meta,
	.statfs = sw_statfs,
	.destroy = sw_destroy,
};

int swift_store_new(const struct swift_conf *conf, struct store **out)
{
	struct swift_http_opts ho = {
		.insecure = conf->insecure,
		.connect_timeout = conf->connect_timeout,
		.stall_timeout = conf->stall_timeout,
		.max_idle = 32,
	};
	struct store *st;
	struct sw *sw;
	int err;

	if (conf->segment_size == 0 || conf->parallel == 0 ||
	    conf->parallel > SWIFT_MAX_PARALLEL) {
		log_error("swift: bad segment_size or parallel");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	sw = calloc(1, sizeof(*sw));
	if (!st || !sw) {
		err = -ENOMEM;
		goto out_free;
	}
	sw->budget_ms = (uint64_t)conf->retry_budget * 1000;
	sw->segment_size = conf->segment_size;
	sw->parallel = conf->parallel;
	sw->segments = conf->segments;
	sw->slo_max = SWIFT_SLO_MAX_SEGMENTS;
	err = swift_http_pool_new(&ho, &sw->pool);
	if (err)
		goto out_free;
	err = swift_auth_new(conf, sw->pool, &sw->auth);
	if (err)
		goto out_pool;
	st->ops = &sw_ops;
	st->priv = sw;
	*out = st;
	return 0;
out_pool:
	swift_http_pool_free(sw->pool);
out_free:
	free(sw);
	free(st);
	return err;
}
