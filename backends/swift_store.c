/*
 * swift_store.c - the "swift:" leaf store (contract in swift_store.h):
 * containers, listings, HEAD/POST/COPY/DELETE of objects. The
 * configuration is in swift_conf.c, the reader (GET) in swift_reader.c,
 * the streamed writer in swift_writer.c, segment paths, bulk delete and
 * /info in swift_bulk.c; what they share is in swift_i.h.
 *
 * Every request goes through swift_do(): it builds the URL from the cached
 * storage URL (names percent-encoded), adds the token, runs the request
 * with retries (swift_http_perform_retry) and re-authenticates once on
 * 401. All requests here are idempotent (bodies are in memory and PUT,
 * POST, COPY and DELETE may be repeated), so all are retried; a DELETE
 * answered 404 after a retry counts as done (the lost first attempt did
 * it).
 *
 * Listings hide what is not a user file: the "<c>+segments" containers,
 * and "<x>_%08d" (Trove's segment names) when "<x>" was listed as an SLO.
 * In a sorted listing every name between "<x>" and "<x>_..." starts with
 * "<x>", so a stack of the SLO names that prefix the current entry is all
 * the state this needs. Also hidden: "<x>_%08d" that trovefs wrote as a
 * part of an upload in that layout (their Content-Type says so), so an
 * upload cut short shows nothing.
 *
 * Locks: none of its own; the http pool and the auth cache lock inside and
 * never across the network.
 */
#include "swift_store.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "swift_i.h"
#include "../conf/log.h"
#include "swift_auth.h"
#include "swift_http.h"
#include "swift_json.h"

/* One listing page's JSON: 10,000 entries of a few hundred bytes. */
#define LISTING_MAX (64u << 20)
#define PAGE_LIMIT 10000
#define LIST_FIRST_PAGE 2 /* list_first(): the marker and one more */

/* ---- requests ---- */

static int build_url(struct buf *u, const char *base,
		     const struct swift_call *c)
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

static void log_failure(const struct swift_call *c, struct swift_http_req *r,
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
 * Fills @url with @c's URL on @tok's storage URL and *@out with the
 * request's headers: the token (its line built in @th, which the caller
 * cleanses) and then @c->headers. The caller frees *@out.
 */
int swift_request_setup(const struct swift_token *tok,
			const struct swift_call *c, struct buf *url,
			struct buf *th, struct curl_slist **out)
{
	struct curl_slist *h;
	struct curl_slist *it;

	buf_reset(url);
	buf_reset(th);
	if ((c->container && !swift_name_is_utf8(c->container)) ||
	    (c->key && !swift_name_is_utf8(c->key))) {
		log_warn("swift: '%s%s%s' is not valid UTF-8, which Swift "
			 "requires of every name",
			 c->container ? c->container : "", c->key ? "/" : "",
			 c->key ? c->key : "");
		return -EILSEQ;
	}
	if (build_url(url, tok->url, c)) {
		log_error("swift: url of '%s/%s' too long",
			  c->container ? c->container : "",
			  c->key ? c->key : "");
		return -ENAMETOOLONG;
	}
	if (tok->token[0])
		buf_printf(th, "X-Auth-Token: %s", tok->token);
	else
		buf_puts(th, "X-Trovefs: 1");
	if (th->err)
		return th->err;
	h = curl_slist_append(NULL, th->data);
	for (it = c->headers; h && it; it = it->next) {
		struct curl_slist *n = curl_slist_append(h, it->data);

		if (!n)
			curl_slist_free_all(h);
		h = n;
	}
	if (!h)
		return -ENOMEM;
	*out = h;
	return 0;
}

static enum swift_target call_target(const struct swift_call *c)
{
	if (c->key)
		return SWIFT_TARGET_OBJECT;
	return c->container ? SWIFT_TARGET_CONTAINER : SWIFT_TARGET_ACCOUNT;
}

/*
 * Runs @c; @r (initialised by the caller, released by it) holds the last
 * response. Returns 0 for a 2xx (also 304/416), else the mapped -errno,
 * logged unless the status is one of @c->quiet.
 */
int swift_do(struct swift_priv *sw, const struct swift_call *c,
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
		unsigned attempts = 0;

		err = swift_auth_get(sw->auth, &tok);
		if (err)
			break;
		err = swift_request_setup(&tok, c, &url, &th, &h);
		if (err)
			break;
		r->method = c->method;
		r->url = url.data;
		r->headers = h;
		r->body = c->body;
		r->body_len = c->body_len;
		r->has_body = c->has_body;
		r->dst = c->dst;
		r->dst_len = c->dst_len;
		r->resp = c->resp;
		r->stall_ms = c->stall_ms;
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
		err = swift_http_errno(r->status, r->cc, call_target(c),
				       r->err_text);
		if (err == -ENOENT && attempts > 1 &&
		    strcmp(c->method, "DELETE") == 0)
			err = 0;
		if (err &&
		    !((c->quiet & SWIFT_QUIET_404) && r->status == 404) &&
		    !((c->quiet & SWIFT_QUIET_409) && r->status == 409) &&
		    !((c->quiet & SWIFT_QUIET_401) && r->status == 401) &&
		    !((c->quiet & SWIFT_QUIET_413) && err == -EFBIG) &&
		    !((c->quiet & SWIFT_QUIET_412) && r->status == 412))
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
int swift_simple(struct swift_priv *sw, const char *method,
		 const char *container, const char *key, const char *query,
		 unsigned quiet, long *status)
{
	struct swift_call c = {
		.method = method,
		.container = container,
		.key = key,
		.query = query,
		.quiet = quiet,
	};
	struct swift_http_req r;
	int err;

	swift_http_req_init(&r);
	err = swift_do(sw, &c, &r);
	if (status)
		*status = r.status;
	swift_http_req_release(&r);
	return err;
}

bool swift_hdr_true(const struct swift_http_req *r, const char *name)
{
	char v[16];

	return swift_http_header(r, name, v, sizeof(v)) &&
	       strcasecmp(v, "true") == 0;
}

/* ---- containers ---- */

bool swift_is_seg_container(const char *name)
{
	size_t n = strlen(name);
	size_t s = strlen(SWIFT_SEG_SUFFIX);

	return n > s && strcmp(name + n - s, SWIFT_SEG_SUFFIX) == 0;
}

int swift_user_container_check(const char *name)
{
	if (!store_container_is_valid(name))
		return -EINVAL;
	return swift_is_seg_container(name) ? -ENOENT : 0;
}

int swift_user_object_check(const char *container, const char *key)
{
	int err = swift_user_container_check(container);

	if (!err && !store_key_is_valid(key))
		err = -EINVAL;
	return err;
}

struct list_ctx {
	store_list_fn *fn;
	void *arg;
	bool containers;
	struct swift_hide hide; /* SLOs prefixing the entry */
};

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/*
 * The length of the "<x>" of a Trove segment name "<x>_%08d" (or of a
 * sub-manifest "<x>_m%d-%08d" trovefs writes past 1000 segments), or 0.
 */
size_t swift_trove_seg_base(const char *name)
{
	size_t n = strlen(name);
	size_t i;

	if (n < 10 || !all_digits(name + n - 8, 8))
		return 0;
	if (name[n - 9] == '_')
		return n - 9;
	if (name[n - 9] != '-')
		return 0;
	for (i = n - 10; i > 0 && name[i] >= '0' && name[i] <= '9'; i--)
		;
	if (i < 2 || i == n - 10 || name[i] != 'm' || name[i - 1] != '_')
		return 0;
	return i - 1;
}

size_t swift_marked_part(const char *name, const char *ctype,
			 char id[SWIFT_UPLOAD_ID_LEN + 1])
{
	size_t base = swift_trove_seg_base(name);

	return base > 0 && swift_seg_ctype_upload(ctype, id) ? base : 0;
}

/* True if @s[0..@n) is a UUID: 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *s, size_t n)
{
	size_t i;

	if (n != 36)
		return false;
	for (i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Pushes @name (owned; NULL: out of memory, nothing) if there is room. */
static void hide_push(struct swift_hide *h, char *name)
{
	if (name && h->nslo < SWIFT_HIDE_STACK_MAX)
		h->slo[h->nslo++] = name;
	else
		free(name);
}

/*
 * Keeps the stack: drops SLO names that do not prefix @name, then tells
 * whether @name is a segment of one left, else pushes @name if an SLO.
 */
bool swift_hide_is_segment(struct swift_hide *h, const char *name,
			   bool is_subdir, bool is_slo)
{
	size_t base = swift_trove_seg_base(name);
	size_t i;

	while (h->nslo > 0 && strncmp(name, h->slo[h->nslo - 1],
				      strlen(h->slo[h->nslo - 1])) != 0)
		free(h->slo[--h->nslo]);
	for (i = 0; base && i < h->nslo; i++)
		if (strlen(h->slo[i]) == base &&
		    strncmp(name, h->slo[i], base) == 0)
			return true;
	if (!is_subdir && is_slo) {
		/* Trove's guest agent names the segments of "<id>.xbstream.
		 * gz.enc" after the name up to its first dot: "<id>_%08d";
		 * its ids are UUIDs, which keeps "x_20261122" next to an SLO
		 * "x.tar" shown. Siblings share the base: pushed once. */
		const char *last = strrchr(name, '/');
		const char *comp = last ? last + 1 : name;
		const char *dot = strchr(comp, '.');
		size_t blen = dot ? (size_t)(dot - name) : 0;

		if (dot && is_uuid(comp, (size_t)(dot - comp)) &&
		    !(h->nslo > 0 && strlen(h->slo[h->nslo - 1]) == blen &&
		      strncmp(h->slo[h->nslo - 1], name, blen) == 0))
			hide_push(h, strndup(name, blen));
		hide_push(h, strdup(name));
	}
	return false;
}

void swift_hide_release(struct swift_hide *h)
{
	while (h->nslo > 0)
		free(h->slo[--h->nslo]);
}

/*
 * True if @e is a segment of an SLO listed before it, or a part trovefs
 * marked as one of an upload in Trove's layout (SWIFT_SEG_CTYPE): so the
 * parts of an upload a killed daemon left are not shown either.
 */
static bool is_trove_segment(struct list_ctx *lc,
			     const struct swift_json_entry *e)
{
	char id[SWIFT_UPLOAD_ID_LEN + 1];
	bool after_slo = swift_hide_is_segment(&lc->hide, e->name, e->is_subdir,
					       e->slo_etag && e->slo_etag[0]);

	return after_slo || (!e->is_subdir &&
			     swift_marked_part(e->name, e->content_type, id));
}

static int list_entry(void *arg, const struct swift_json_entry *e)
{
	struct list_ctx *lc = arg;
	struct obj_info oi;
	int ret;

	if (lc->containers && swift_is_seg_container(e->name))
		return 0;
	if (!lc->containers && is_trove_segment(lc, e))
		return 0;
	obj_info_init(&oi);
	oi.name = strdup(e->name);
	if (!oi.name)
		return -ENOMEM;
	if (e->is_subdir) {
		oi.is_subdir = true;
	} else {
		bool complete = false;

		oi.size = e->bytes;
		oi.count = e->count;
		if (e->last_modified[0])
			swift_parse_iso_time(e->last_modified, &oi.mtime);
		if (!lc->containers &&
		    swift_ctype_to_meta(e->content_type, &oi.meta, &complete)) {
			obj_info_release(&oi);
			return -ENOMEM;
		}
		oi.meta_partial = !lc->containers && !complete;
	}
	ret = lc->fn(lc->arg, &oi);
	obj_info_release(&oi);
	return ret;
}

struct page_ctx {
	swift_json_entry_fn *fn;
	void *arg;
	char *last; /* owned: last name passed on (the marker) */
	int ret;    /* fn's result */
};

static int page_entry(void *arg, const struct swift_json_entry *e)
{
	struct page_ctx *pc = arg;
	char *last;

	/* the page after a subdir may repeat it: keep strictly ascending */
	if (pc->last && strcmp(e->name, pc->last) <= 0)
		return 0;
	last = strdup(e->name);
	if (!last) {
		pc->ret = -ENOMEM;
		return 1;
	}
	free(pc->last);
	pc->last = last;
	pc->ret = pc->fn(pc->arg, e);
	return pc->ret ? 1 : 0;
}

/*
 * swift_list_pages() with a first page of @first entries at most. With
 * @whole NULL, pages on until an empty page; otherwise stops after the
 * first and sets *@whole if it was short: Swift refuses (412) a limit
 * above its own rather than cutting a page, so a short page is the end.
 */
static int list_pages(struct swift_priv *sw, const char *container,
		      const char *prefix, char delim, int first, bool *whole,
		      swift_json_entry_fn *fn, void *arg)
{
	struct page_ctx pc = { .fn = fn, .arg = arg };
	bool learnt = false;
	struct buf q;
	struct buf resp;
	int err = 0;

	buf_init(&q, SWIFT_URL_MAX);
	buf_init(&resp, LISTING_MAX);
	for (;;) {
		struct swift_call c = {
			.method = "GET",
			.container = container,
			.resp = &resp,
			.quiet = SWIFT_QUIET_404 | SWIFT_QUIET_412,
		};
		struct swift_http_req r;
		unsigned max = __atomic_load_n(&sw->list_max, __ATOMIC_RELAXED);
		int limit = pc.last ? PAGE_LIMIT : first;
		long status;
		size_t n = 0;

		if (max > 0 && (unsigned)limit > max)
			limit = (int)max;
		buf_reset(&q);
		buf_reset(&resp);
		buf_printf(&q, "format=json&limit=%d", limit);
		if (prefix && *prefix) {
			buf_puts(&q, "&prefix=");
			swift_url_encode(&q, prefix, false);
		}
		if (delim) {
			char d[2] = { delim, '\0' };

			buf_puts(&q, "&delimiter=");
			swift_url_encode(&q, d, false);
		}
		if (pc.last) {
			buf_puts(&q, "&marker=");
			swift_url_encode(&q, pc.last, false);
		}
		if (q.err) {
			err = -ENAMETOOLONG;
			break;
		}
		c.query = q.data;
		swift_http_req_init(&r);
		err = swift_do(sw, &c, &r);
		status = r.status;
		swift_http_req_release(&r);
		if (err == -ESTALE && status == 412 && !learnt) {
			/* a limit above the cluster's: /info says which */
			learnt = true;
			swift_info_load(sw, sw->budget_ms); /* once a store */
			max = __atomic_load_n(&sw->list_max, __ATOMIC_RELAXED);
			if (max > 0 && max < (unsigned)limit) {
				log_info(
					"swift: listings of at most %u entries a page (container_listing_limit)",
					max);
				continue;
			}
		}
		if (err == -ESTALE && status == 412)
			log_error("swift GET '%s' listing: HTTP 412",
				  container ? container : "(account)");
		if (err)
			break;
		if (resp.len == 0)
			break; /* 204: empty */
		err = swift_json_parse_listing(resp.data, resp.len, page_entry,
					       &pc, &n);
		if (pc.ret) {
			err = pc.ret;
			break;
		}
		if (err) {
			log_error("swift: bad listing of '%s'",
				  container ? container : "(account)");
			err = -EIO;
			break;
		}
		if (whole) {
			*whole = n < (size_t)limit;
			break;
		}
		if (n == 0)
			break;
	}
	free(pc.last);
	buf_release(&q);
	buf_release(&resp);
	return err;
}

int swift_list_pages(struct swift_priv *sw, const char *container,
		     const char *prefix, char delim, swift_json_entry_fn *fn,
		     void *arg)
{
	return list_pages(sw, container, prefix, delim, PAGE_LIMIT, NULL, fn,
			  arg);
}

/*
 * Pages through a listing of @container (NULL: the account), the first
 * page @first entries at most; @whole as list_pages().
 */
static int sw_list(struct swift_priv *sw, const char *container,
		   const char *prefix, char delim, int first, bool *whole,
		   store_list_fn *fn, void *arg)
{
	struct list_ctx lc = {
		.fn = fn,
		.arg = arg,
		.containers = !container,
	};
	int err;

	err = list_pages(sw, container, prefix, delim, first, whole, list_entry,
			 &lc);
	swift_hide_release(&lc.hide);
	/* a positive result is fn's "stop here" */
	return err > 0 ? 0 : err;
}

static int sw_list_containers(struct store *st, store_list_fn *fn, void *arg)
{
	return sw_list(swift_priv_of(st), NULL, NULL, 0, PAGE_LIMIT, NULL, fn,
		       arg);
}

static int sw_create_container(struct store *st, const char *container)
{
	long status = 0;
	int err;

	if (!store_container_is_valid(container))
		return -EINVAL;
	if (swift_is_seg_container(container)) {
		log_warn(
			"swift: cannot create container '%s': a name ending in '%s' holds another container's segments",
			container, SWIFT_SEG_SUFFIX);
		return -EINVAL;
	}
	err = swift_simple(swift_priv_of(st), "PUT", container, NULL, NULL, 0,
			   &status);
	if (!err && status == 202)
		return -EEXIST;
	return err;
}

int swift_seg_container_name(const char *container, struct buf *b)
{
	buf_puts(b, container);
	buf_puts(b, SWIFT_SEG_SUFFIX);
	return b->err;
}

static int sw_delete_container(struct store *st, const char *container)
{
	struct swift_priv *sw = swift_priv_of(st);
	struct buf seg;
	int err;

	err = swift_user_container_check(container);
	if (err)
		return err;
	err = swift_simple(sw, "DELETE", container, NULL, NULL,
			   SWIFT_QUIET_404 | SWIFT_QUIET_409, NULL);
	if (err)
		return err;
	/* its segments container goes too if empty (leftovers stay) */
	buf_init(&seg, STORE_CONTAINER_MAX + 16);
	if (!swift_seg_container_name(container, &seg))
		swift_simple(sw, "DELETE", seg.data, NULL, NULL,
			     SWIFT_QUIET_404 | SWIFT_QUIET_409, NULL);
	buf_release(&seg);
	return 0;
}

static int sw_list_objects(struct store *st, const char *container,
			   const char *prefix, char delim, store_list_fn *fn,
			   void *arg)
{
	int err = swift_user_container_check(container);

	if (err)
		return err;
	return sw_list(swift_priv_of(st), container, prefix, delim, PAGE_LIMIT,
		       NULL, fn, arg);
}

/*
 * Whether anything is under a prefix, and what comes first: a marker
 * "prefix/" first of all. A page of 10,000 entries for that would be
 * megabytes for a large directory.
 */
static int sw_list_first(struct store *st, const char *container,
			 const char *prefix, char delim, store_list_fn *fn,
			 void *arg)
{
	int err = swift_user_container_check(container);

	if (err)
		return err;
	return sw_list(swift_priv_of(st), container, prefix, delim,
		       LIST_FIRST_PAGE, NULL, fn, arg);
}

/* One request of a listing: all of a small directory, or its start. */
static int sw_list_page(struct store *st, const char *container,
			const char *prefix, char delim, unsigned max,
			store_list_fn *fn, void *arg)
{
	bool whole = false;
	int err = swift_user_container_check(container);

	if (err)
		return err;
	if (max == 0 || max > PAGE_LIMIT)
		max = PAGE_LIMIT;
	err = sw_list(swift_priv_of(st), container, prefix, delim, (int)max,
		      &whole, fn, arg);
	return err ? err : whole;
}

/*
 * GETs the manifest of container/key as stored ("multipart-manifest=get")
 * into @resp. Returns 0, -ENOENT (quietly), or the request's -errno; *@slo
 * (if not NULL) tells whether the object is an SLO at all.
 */
int swift_get_manifest(struct swift_priv *sw, const char *container,
		       const char *key, struct buf *resp, bool *slo)
{
	struct swift_call c = {
		.method = "GET",
		.container = container,
		.key = key,
		.query = "multipart-manifest=get",
		.resp = resp,
		.quiet = SWIFT_QUIET_404,
	};
	struct swift_http_req r;
	int err;

	swift_http_req_init(&r);
	err = swift_do(sw, &c, &r);
	if (slo)
		*slo = !err && swift_hdr_true(&r, "x-static-large-object");
	swift_http_req_release(&r);
	return err;
}

/* ---- head ---- */

int swift_head_raw(struct swift_priv *sw, const char *container,
		   const char *key, struct swift_http_req *r)
{
	struct swift_call c = {
		.method = "HEAD",
		.container = container,
		.key = key,
		.quiet = SWIFT_QUIET_404,
	};

	if (!store_container_is_valid(container) || !store_key_is_valid(key))
		return -EINVAL;
	return swift_do(sw, &c, r);
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
		return 0; /* foreign keys (e.g. with '_') are skipped */
	err = meta_set(m, key, value);
	return err == -ENOMEM ? err : 0;
}

int swift_info_from_head(const struct swift_http_req *r, const char *key,
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
	err = swift_http_headers_each(r, "x-object-meta-", meta_hdr, &oi->meta);
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

	err = swift_user_object_check(container, key);
	if (err)
		return err;
	swift_http_req_init(&r);
	err = swift_head_raw(swift_priv_of(st), container, key, &r);
	if (!err)
		err = swift_info_from_head(&r, key, &tmp);
	if (!err)
		*oi = tmp;
	swift_http_req_release(&r);
	return err;
}

/* ---- metadata headers ---- */

/* Appends an X-Object-Meta-* line per key of @m to *@h. */
static int meta_lines(const struct meta *m, struct curl_slist **h)
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
	buf_release(&b);
	return err;
}

/* Appends the Content-Type that carries @m (may be NULL) to *@h. */
static int ctype_line(const struct meta *m, struct curl_slist **h)
{
	struct meta empty;
	struct curl_slist *n;
	struct buf b;
	int err;

	meta_init(&empty);
	buf_init(&b, 8192);
	buf_puts(&b, "Content-Type: ");
	err = swift_ctype_from_meta(m ? m : &empty, &b);
	if (!err) {
		n = curl_slist_append(*h, b.data);
		if (!n)
			err = -ENOMEM;
		else
			*h = n;
	}
	buf_release(&b);
	return err;
}

/* Appends X-Object-Meta-* and Content-Type for @m to *@h. */
int swift_meta_headers(const struct meta *m, struct curl_slist **h)
{
	int err = meta_lines(m, h);

	return err ? err : ctype_line(m, h);
}

int swift_add_header(struct curl_slist **h, const char *fmt, ...)
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

/* ---- del, rename, set_meta, statfs ---- */

/*
 * DELETE ?multipart-manifest=delete answers 200 whatever happened: the
 * outcome is in the body ("Response Status", "Errors"), and Swift deletes
 * the manifest even when some segments fail. So the body is read, and on
 * errors a HEAD tells whether the object is gone (its segments that
 * failed are left, one line says so) or still there (the unlink failed).
 */
static int delete_slo(struct swift_priv *sw, const char *container,
		      const char *key)
{
	struct curl_slist *h = NULL;
	struct swift_http_req r;
	uint64_t deleted = 0;
	uint64_t not_found = 0;
	struct buf resp;
	int err;

	buf_init(&resp, SWIFT_BULK_RESP_MAX);
	swift_http_req_init(&r);
	err = swift_add_header(&h, "Accept: application/json");
	if (!err) {
		struct swift_call c = {
			.method = "DELETE",
			.container = container,
			.key = key,
			.query = "multipart-manifest=delete",
			.headers = h,
			.resp = &resp,
			.quiet = SWIFT_QUIET_404,
		};

		err = swift_do(sw, &c, &r);
	}
	if (!err && swift_bulk_delete_result(resp.data, resp.len, &deleted,
					     &not_found, NULL)) {
		swift_http_req_release(&r);
		swift_http_req_init(&r);
		err = swift_head_raw(sw, container, key, &r);
		if (err == -ENOENT) {
			log_warn(
				"deleted '%s/%s', but not all of its segments: %.300s",
				container, key, buf_str(&resp));
			err = 0;
		} else {
			/* e.g. 403 for the manifest: EACCES, as for a plain
			 * object the user may not delete */
			long code = swift_bulk_first_error(resp.data, resp.len);

			log_error("cannot delete '%s/%s': %.300s", container,
				  key, buf_str(&resp));
			err = code >= 400 && code != 404
				      ? swift_http_errno(code, CURLE_OK,
							 SWIFT_TARGET_OBJECT,
							 NULL)
				      : -EIO;
		}
	}
	swift_http_req_release(&r);
	curl_slist_free_all(h);
	buf_release(&resp);
	return err;
}

static int sw_del(struct store *st, const char *container, const char *key)
{
	struct swift_priv *sw = swift_priv_of(st);
	struct swift_http_req r;
	bool slo;
	int err;

	err = swift_user_object_check(container, key);
	if (err)
		return err;
	swift_recent_forget(&sw->recent, container, key);
	swift_http_req_init(&r);
	err = swift_head_raw(sw, container, key, &r);
	slo = !err && swift_hdr_true(&r, "x-static-large-object");
	swift_http_req_release(&r);
	if (err)
		return err;
	if (slo)
		return delete_slo(sw, container, key);
	return swift_simple(sw, "DELETE", container, key, NULL, SWIFT_QUIET_404,
			    NULL);
}

/*
 * After a rename onto @dc/@dk, deletes the parts @old of what was there,
 * unless the source or the destination (as they are now) still names
 * them; if either cannot be read, nothing is deleted.
 */
static void rename_cleanup(struct swift_priv *sw, const char *sc,
			   const char *sk, const char *dc, const char *dk,
			   const struct swift_slo_parts *old)
{
	struct swift_slo_parts src;
	struct swift_slo_parts dst;
	const struct swift_slo_parts *keep[2] = { &src, &dst };

	if (old->nleaves + old->nsubs == 0)
		return;
	if (swift_slo_parts_get(sw, sc, sk, &src))
		goto out_leak;
	if (swift_slo_parts_get(sw, dc, dk, &dst)) {
		swift_slo_parts_release(&src);
		goto out_leak;
	}
	swift_delete_replaced(sw, dc, dk, old, keep, 2);
	swift_slo_parts_release(&src);
	swift_slo_parts_release(&dst);
	return;
out_leak:
	log_warn(
		"segments of the object '%s/%s' replaced by a rename left behind",
		dc, dk);
}

/* rename(); @fresh: dk held nothing, there are no old parts to look up */
static int rename_object(struct store *st, const char *sc, const char *sk,
			 const char *dc, const char *dk, bool fresh)
{
	struct swift_priv *sw = swift_priv_of(st);
	struct swift_slo_parts old;
	struct swift_http_req r;
	uint64_t bytes = 0;
	bool manifest = false;
	bool slo = false;
	bool just_put;
	char v[32];
	int err = 0;

	err = swift_user_object_check(sc, sk);
	if (!err)
		err = swift_user_object_check(dc, dk);
	if (err)
		return err;
	swift_http_req_init(&r);
	if (strcmp(sc, dc) == 0 && strcmp(sk, dk) == 0) {
		/* nothing to move; it must exist all the same */
		err = swift_head_raw(sw, sc, sk, &r);
		swift_http_req_release(&r);
		return err;
	}
	just_put =
		swift_recent_take(&sw->recent, sc, sk, swift_now_ms(), &bytes);
	if (!just_put) {
		err = swift_head_raw(sw, sc, sk, &r);
		slo = !err && swift_hdr_true(&r, "x-static-large-object");
		manifest = slo ||
			   (!err && swift_http_header(&r, "x-object-manifest",
						      NULL, 0));
		if (!manifest &&
		    swift_http_header(&r, "content-length", v, sizeof(v)))
			bytes = strtoull(v, NULL, 10);
	}
	if (err) {
		swift_http_req_release(&r);
		return err;
	}
	/* what dk holds now; unreadable: its parts are left, not guessed */
	memset(&old, 0, sizeof(old));
	if (!fresh && swift_slo_parts_get(sw, dc, dk, &old))
		log_warn(
			"segments of the object '%s/%s' replaced by a rename will be left behind",
			dc, dk);
	if (slo) {
		err = swift_rename_trove_slo(sw, sc, sk, dc, dk, &r);
		if (err <= 0) {
			swift_http_req_release(&r);
			goto out_old;
		}
	}
	swift_http_req_release(&r);
	/*
	 * A manifest is copied as a manifest, not as its data; a plain
	 * object is copied as it is with or without the query, which is
	 * why an object just PUT (no HEAD) gets it too: another client may
	 * have made it a manifest since.
	 */
	err = swift_server_copy(
		sw, sc, sk, dc, dk,
		manifest || just_put ? "multipart-manifest=get" : NULL, bytes);
	if (err)
		goto out_old;
	/* dk is a copy now, whatever one PUT of it was noted */
	swift_recent_forget(&sw->recent, dc, dk);
	/* the source manifest only: its segments now belong to dk */
	err = swift_simple(sw, "DELETE", sc, sk, NULL, SWIFT_QUIET_404, NULL);
	if (err == -ENOENT)
		err = 0;
	/* two manifests naming the same segments: the copy must go */
	if (err)
		swift_rename_undo(sw, sc, sk, dc, dk, manifest);
out_old:
	rename_cleanup(sw, sc, sk, dc, dk, &old);
	swift_slo_parts_release(&old);
	return err;
}

static int sw_rename(struct store *st, const char *sc, const char *sk,
		     const char *dc, const char *dk)
{
	return rename_object(st, sc, sk, dc, dk, false);
}

static int sw_rename_new(struct store *st, const char *sc, const char *sk,
			 const char *dc, const char *dk)
{
	return rename_object(st, sc, sk, dc, dk, true);
}

/*
 * An empty marker PUT with "If-None-Match: *": the object server refuses
 * it (412) if the name holds an object. A retry of a PUT that landed but
 * whose answer was lost gets 412 too: the caller then takes another name,
 * and this one stays an empty directory.
 */
static int sw_mkdir_excl(struct store *st, const char *container,
			 const char *key, const struct meta *m)
{
	struct swift_priv *sw = swift_priv_of(st);
	struct swift_call c = {
		.method = "PUT",
		.container = container,
		.key = key,
		.body = "",
		.has_body = true,
		.quiet = SWIFT_QUIET_412,
	};
	struct curl_slist *h = NULL;
	struct swift_http_req r;
	int err;

	err = swift_add_header(&h, "If-None-Match: *");
	if (!err && m)
		err = swift_meta_headers(m, &h);
	if (err) {
		curl_slist_free_all(h);
		return err;
	}
	c.headers = h;
	swift_http_req_init(&r);
	err = swift_do(sw, &c, &r);
	if (err == -ESTALE && r.status == 412)
		err = -EEXIST;
	swift_http_req_release(&r);
	curl_slist_free_all(h);
	if (!err)
		swift_recent_note(&sw->recent, container, key, 0,
				  swift_now_ms());
	return err;
}

/*
 * Headers a Swift POST replaces besides X-Object-Meta-* and Content-Type:
 * the object server's default allowed_headers. X-Static-Large-Object is
 * left out: the SLO middleware refuses it in a POST, and a POST keeps the
 * SLO flag anyway (it is system metadata).
 */
static const char *const post_replaced[] = {
	"content-disposition",
	"content-encoding",
	"x-delete-at",
	"x-object-manifest",
	"cache-control",
	"content-language",
	"expires",
	"x-robots-tag",
};

/* What carry_hdr() needs: the object's metadata as head() showed it. */
struct carry_ctx {
	const struct meta *shown; /* what head() made of the headers */
	const struct meta *m;	  /* the new metadata */
	bool foreign;		  /* not a trovefs Content-Type: keep it */
	struct curl_slist **h;
	const char *bad; /* the header that could not be carried */
};

static bool is_trovefs_ctype(const char *v)
{
	size_t n = strlen(SWIFT_CTYPE);

	return strncasecmp(v, SWIFT_CTYPE, n) == 0 &&
	       (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}

/*
 * Adds to the POST the response header @name of the HEAD that the POST
 * would otherwise drop: system headers (a DLO's X-Object-Manifest, a
 * foreign Content-Type...) and the X-Object-Meta-* that struct meta
 * cannot hold (foreign keys, long or non-ASCII values), which the caller
 * never saw; the keys it saw are in @m or were removed on purpose.
 */
static int carry_hdr(void *arg, const char *name, const char *value)
{
	struct carry_ctx *cc = arg;
	const char *meta = NULL;
	bool carry = false;
	size_t i;
	int err;

	if (strncmp(name, "x-object-meta-", 14) == 0)
		meta = name + 14;
	if (meta)
		carry = !meta_get(cc->shown, meta) && !meta_get(cc->m, meta);
	else if (strcmp(name, "content-type") == 0)
		carry = cc->foreign;
	for (i = 0; !meta && !carry &&
		    i < sizeof(post_replaced) / sizeof(post_replaced[0]);
	     i++)
		carry = strcmp(name, post_replaced[i]) == 0;
	if (!carry)
		return 0;
	err = swift_add_header(cc->h, "%s: %s", name, value);
	if (err == -ENAMETOOLONG) {
		cc->bad = name;
		err = -EOPNOTSUPP;
	}
	return err;
}

/*
 * A Swift POST replaces all of an object's user metadata and the system
 * headers above; touch or chmod must not turn a DLO into an empty object
 * or drop another tool's Content-Type, X-Delete-At or metadata. So the
 * POST repeats what the HEAD shows, and is refused (-EOPNOTSUPP) when
 * some of it cannot be repeated. The user metadata posted is @m, or with
 * @merge the HEAD's with @m's keys over it; @out (optional) gets the
 * HEAD's info with that metadata.
 */
static int post_meta(struct store *st, const char *container, const char *key,
		     const struct meta *m, bool merge, struct obj_info *out)
{
	struct swift_priv *sw = swift_priv_of(st);
	struct curl_slist *h = NULL;
	struct swift_http_req r;
	struct obj_info shown;
	struct meta merged;
	char ctype[256] = "";
	struct carry_ctx cc = { .m = m, .h = &h };
	int err;

	err = swift_user_object_check(container, key);
	if (err)
		return err;
	obj_info_init(&shown);
	meta_init(&merged);
	swift_http_req_init(&r);
	err = swift_head_raw(sw, container, key, &r);
	if (err)
		goto out_release;
	if (r.hdrs.err) {
		log_error(
			"cannot set the metadata of '%s/%s': its headers pass %u bytes, some would be lost",
			container, key, SWIFT_HDRS_MAX);
		err = -EOPNOTSUPP;
		goto out_release;
	}
	err = swift_info_from_head(&r, key, &shown);
	if (!err && merge) {
		err = meta_copy(&merged, &shown.meta);
		if (!err)
			err = meta_merge(&merged, m);
		m = &merged;
		cc.m = m;
	}
	if (err)
		goto out_release;
	cc.shown = &shown.meta;
	cc.foreign =
		swift_http_header(&r, "content-type", ctype, sizeof(ctype)) &&
		!is_trovefs_ctype(ctype);
	err = meta_lines(m, &h);
	if (!err && !cc.foreign)
		err = ctype_line(m, &h);
	if (!err)
		err = swift_http_headers_each(&r, "", carry_hdr, &cc);
	if (err == -EOPNOTSUPP)
		log_error(
			"cannot set the metadata of '%s/%s': its header '%s' is too long to keep",
			container, key, cc.bad);
	if (!err) {
		struct swift_call c = {
			.method = "POST",
			.container = container,
			.key = key,
			.headers = h,
			.quiet = SWIFT_QUIET_404,
		};

		swift_http_req_release(&r);
		swift_http_req_init(&r);
		err = swift_do(sw, &c, &r);
	}
	if (!err && out) {
		/* the HEAD's object with the metadata just posted */
		meta_release(&shown.meta);
		if (merge) {
			shown.meta = merged; /* moved */
			meta_init(&merged);
		} else {
			err = meta_copy(&shown.meta, m);
		}
	}
	if (!err && out) {
		*out = shown;
		obj_info_init(&shown);
	}
out_release:
	swift_http_req_release(&r);
	obj_info_release(&shown);
	meta_release(&merged);
	curl_slist_free_all(h);
	return err;
}

static int sw_set_meta(struct store *st, const char *container, const char *key,
		       const struct meta *m)
{
	return post_meta(st, container, key, m, false, NULL);
}

/* set_meta with the HEAD's own metadata under @set: one HEAD, one POST. */
static int sw_update_meta(struct store *st, const char *container,
			  const char *key, const struct meta *set,
			  struct obj_info *out)
{
	return post_meta(st, container, key, set, true, out);
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
	struct swift_call c = { .method = "HEAD" };
	struct swift_http_req r;
	bool found;
	uint64_t quota;
	int err;

	swift_http_req_init(&r);
	err = swift_do(swift_priv_of(st), &c, &r);
	if (!err) {
		out->bytes_used = hdr_u64(&r, "x-account-bytes-used", &found);
		out->objects = hdr_u64(&r, "x-account-object-count", &found);
		quota = hdr_u64(&r, "x-account-meta-quota-bytes", &found);
		if (found) {
			out->bytes_total = quota;
			out->bytes_free = quota > out->bytes_used
						  ? quota - out->bytes_used
						  : 0;
		}
	}
	swift_http_req_release(&r);
	return err;
}

static void sw_destroy(struct store *st)
{
	struct swift_priv *sw = swift_priv_of(st);

	swift_auth_free(sw->auth);
	swift_http_pool_free(sw->pool);
	swift_recent_release(&sw->recent);
	free(sw);
	free(st);
}

static const struct store_ops sw_ops = {
	.name = "swift",
	.list_containers = sw_list_containers,
	.create_container = sw_create_container,
	.delete_container = sw_delete_container,
	.list = sw_list_objects,
	.list_first = sw_list_first,
	.list_page = sw_list_page,
	.head = sw_head,
	.reader_open = swift_reader_open,
	.writer_open = swift_writer_open,
	.del = sw_del,
	.rename = sw_rename,
	.rename_new = sw_rename_new,
	.mkdir_excl = sw_mkdir_excl,
	.set_meta = sw_set_meta,
	.update_meta = sw_update_meta,
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
	struct swift_priv *sw;
	int err;

	if (conf->segment_size == 0 || conf->parallel == 0 ||
	    conf->parallel > SWIFT_MAX_PARALLEL) {
		log_error("swift: bad segment_size or parallel");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	sw = calloc(1, sizeof(*sw));
	if (!st || !sw) {
		free(sw);
		free(st);
		return -ENOMEM;
	}
	swift_recent_init(&sw->recent);
	sw->budget_ms = (uint64_t)conf->retry_budget * 1000;
	sw->segment_size = conf->segment_size;
	sw->parallel = conf->parallel;
	sw->segments = conf->segments;
	sw->connect_timeout = conf->connect_timeout;
	sw->stall_timeout = conf->stall_timeout;
	sw->insecure = conf->insecure;
	sw->slo_max = SWIFT_SLO_MAX_SEGMENTS;
	sw->bulk_max = 0;
	sw->info_known = false;
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
	swift_recent_release(&sw->recent);
	free(sw);
	free(st);
	return err;
}
