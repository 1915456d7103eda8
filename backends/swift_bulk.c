/*
 * swift_bulk.c - deleting many objects of the "swift:" store, and what
 * Swift's /info says about it: objects named by path ("/c/o"), one DELETE
 * each or Swift's bulk delete (POST ?bulk-delete) when /info offers it,
 * its JSON result parsed with libbson; /info also gives the SLO manifest
 * limit the writer needs. Split from swift_store.c; the declarations are
 * in swift_i.h.
 *
 * Locks: none of its own; sw->slo_max, bulk_max and info_known are
 * atomics, written once per store.
 */
#include <bson/bson.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "swift_i.h"
#include "../conf/log.h"
#include "swift_auth.h"
#include "swift_http.h"

/* Swift's /info: a few KiB. */
#define INFO_MAX (1u << 20)
/* One bulk-delete body; Swift takes 10,000 paths of up to ~1 KiB. */
#define BULK_BODY_MAX (8u << 20)

/* ---- segments ---- */

int swift_split_path(const char *path, struct buf *b, const char **c,
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

/* Deletes one object given as "/c/o" (404 = already gone). */
int swift_delete_path(struct swift_priv *sw, const char *path)
{
	struct buf b;
	const char *c = NULL;
	const char *k = NULL;
	int err;

	buf_init(&b, SWIFT_URL_MAX);
	err = swift_split_path(path, &b, &c, &k);
	if (!err) {
		err = swift_simple(sw, "DELETE", c, k, NULL, SWIFT_QUIET_404,
				   NULL);
		if (err == -ENOENT)
			err = 0;
	}
	buf_release(&b);
	return err;
}

/* ---- bulk delete and /info ---- */

int swift_info_url(const char *storage_url, struct buf *b)
{
	const char *host = strstr(storage_url, "://");
	const char *path;
	const char *v1 = NULL;
	const char *p;

	if (!host || host == storage_url || !host[3] || host[3] == '/')
		return -EINVAL;
	path = strchr(host + 3, '/');
	if (!path)
		path = storage_url + strlen(storage_url);
	/* the last "/v1/" or a final "/v1": what precedes it is the root */
	for (p = strstr(path, "/v1"); p; p = strstr(p + 1, "/v1"))
		if (p[3] == '/' || p[3] == '\0')
			v1 = p;
	buf_append(b, storage_url, (size_t)((v1 ? v1 : path) - storage_url));
	buf_puts(b, "/info");
	return b->err;
}

/* A non-negative integer at @path of @doc into *@out; false if none. */
static bool bson_uint_at(const bson_t *doc, const char *path, unsigned *out)
{
	bson_iter_t it;
	bson_iter_t d;
	int64_t v;

	if (!bson_iter_init(&it, doc) ||
	    !bson_iter_find_descendant(&it, path, &d))
		return false;
	if (BSON_ITER_HOLDS_INT32(&d))
		v = bson_iter_int32(&d);
	else if (BSON_ITER_HOLDS_INT64(&d))
		v = bson_iter_int64(&d);
	else if (BSON_ITER_HOLDS_DOUBLE(&d))
		v = (int64_t)bson_iter_double(&d);
	else
		return false;
	if (v < 0 || v > UINT32_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

int swift_info_parse(const char *json, size_t len, struct swift_info *out)
{
	bson_error_t e;
	bson_t *doc;
	bson_iter_t it;
	unsigned v;

	doc = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &e);
	if (!doc)
		return -EBADMSG;
	if (bson_uint_at(doc, "slo.max_manifest_segments", &v) && v > 0)
		out->slo_max = v;
	out->bulk_max = 0;
	if (bson_iter_init_find(&it, doc, "bulk_delete")) {
		/* present without a number: Swift's default */
		out->bulk_max = 10000;
		if (bson_uint_at(doc, "bulk_delete.max_deletes_per_request",
				 &v))
			out->bulk_max = v;
	}
	out->list_max = 0;
	if (bson_uint_at(doc, "swift.container_listing_limit", &v))
		out->list_max = v;
	bson_destroy(doc);
	return 0;
}

int swift_info_load(struct swift_priv *sw, uint64_t budget_ms)
{
	struct swift_info info = { .slo_max = SWIFT_SLO_MAX_SEGMENTS };
	struct swift_http_req r;
	struct swift_token tok;
	struct buf url;
	struct buf resp;
	int err;

	if (__atomic_load_n(&sw->info_known, __ATOMIC_ACQUIRE))
		return 0;
	err = swift_auth_get(sw->auth, &tok);
	if (err) {
		OPENSSL_cleanse(&tok, sizeof(tok));
		return err;
	}
	buf_init(&url, SWIFT_URL_MAX);
	buf_init(&resp, INFO_MAX);
	err = swift_info_url(tok.url, &url);
	OPENSSL_cleanse(&tok, sizeof(tok));
	swift_http_req_init(&r);
	if (!err) {
		r.method = "GET";
		r.url = url.data;
		r.resp = &resp;
		err = swift_http_perform_retry(sw->pool, &r, true, budget_ms,
					       NULL);
	} else {
		err = 0; /* no usable URL: the defaults are final */
	}
	if (!err && r.status >= 500)
		err = -EIO; /* transient: ask again next time */
	if (err)
		goto out_release;
	if (r.status == 200 && !swift_info_parse(resp.data, resp.len, &info))
		log_debug(
			"swift: /info: %u manifest segments, bulk delete of %u, listings of %u",
			info.slo_max, info.bulk_max, info.list_max);
	else
		log_info(
			"swift: no usable /info (HTTP %ld): assuming %u segments per manifest, no bulk delete",
			r.status, info.slo_max);
	__atomic_store_n(&sw->slo_max, info.slo_max, __ATOMIC_RELAXED);
	__atomic_store_n(&sw->bulk_max, info.bulk_max, __ATOMIC_RELAXED);
	__atomic_store_n(&sw->list_max, info.list_max, __ATOMIC_RELAXED);
	__atomic_store_n(&sw->info_known, true, __ATOMIC_RELEASE);
out_release:
	swift_http_req_release(&r);
	buf_release(&url);
	buf_release(&resp);
	return err;
}

int swift_bulk_delete_body(char *const *paths, size_t n, size_t max,
			   size_t max_bytes, struct buf *b, size_t *taken)
{
	struct buf line;
	size_t i;
	int err = 0;

	*taken = 0;
	buf_init(&line, SWIFT_URL_MAX);
	for (i = 0; i < n && i < max; i++) {
		const char *c = paths[i];
		const char *k = c[0] == '/' ? strchr(c + 1, '/') : NULL;

		if (!k || k == c + 1 || !k[1]) {
			err = -EINVAL;
			break;
		}
		buf_reset(&line);
		buf_puts(&line, "/");
		buf_append(&line, c + 1, (size_t)(k - c - 1));
		if (line.err) {
			err = line.err;
			break;
		}
		{
			/* the container alone, NUL-terminated, to encode it */
			struct buf enc;

			buf_init(&enc, SWIFT_URL_MAX);
			buf_puts(&enc, "/");
			swift_url_encode(&enc, line.data + 1, false);
			buf_puts(&enc, "/");
			swift_url_encode(&enc, k + 1, true);
			buf_puts(&enc, "\n");
			err = enc.err;
			if (!err && b->len + enc.len > max_bytes)
				err = i == 0 ? -ENAMETOOLONG : 1;
			if (!err)
				err = buf_append(b, enc.data, enc.len);
			buf_release(&enc);
		}
		if (err)
			break;
		(*taken)++;
	}
	buf_release(&line);
	if (err == 1)
		return 0; /* full */
	if (err == -E2BIG || err == -ENOSPC)
		err = -ENAMETOOLONG;
	return err;
}

int swift_bulk_delete_result(const char *json, size_t len, uint64_t *deleted,
			     uint64_t *not_found, long *code)
{
	bson_error_t e;
	bson_iter_t it;
	bson_iter_t arr;
	bson_t *doc;
	const char *status = NULL;
	unsigned v;
	int err = 0;

	*deleted = 0;
	*not_found = 0;
	if (code)
		*code = 0;
	doc = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &e);
	if (!doc)
		return -EBADMSG;
	if (bson_uint_at(doc, "Number Deleted", &v))
		*deleted = v;
	if (bson_uint_at(doc, "Number Not Found", &v))
		*not_found = v;
	if (bson_iter_init_find(&it, doc, "Response Status") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		status = bson_iter_utf8(&it, NULL);
	if (!status)
		err = -EBADMSG;
	else if (status[0] != '2')
		err = -EIO;
	if (status && code)
		*code = strtol(status, NULL, 10);
	if (!err && bson_iter_init_find(&it, doc, "Errors") &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr) &&
	    bson_iter_next(&arr))
		err = -EIO;
	bson_destroy(doc);
	return err;
}

long swift_bulk_first_error(const char *json, size_t len)
{
	bson_error_t e;
	bson_iter_t it;
	bson_iter_t errs;
	bson_iter_t pair;
	bson_t *doc;
	long code = 0;

	doc = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &e);
	if (!doc)
		return 0;
	/* "Errors": [["/c/o", "403 Forbidden"], ...] */
	if (bson_iter_init_find(&it, doc, "Errors") &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &errs)) {
		while (!code && bson_iter_next(&errs)) {
			if (!BSON_ITER_HOLDS_ARRAY(&errs) ||
			    !bson_iter_recurse(&errs, &pair) ||
			    !bson_iter_next(&pair) || !bson_iter_next(&pair) ||
			    !BSON_ITER_HOLDS_UTF8(&pair))
				continue;
			code = strtol(bson_iter_utf8(&pair, NULL), NULL, 10);
			if (code < 100 || code > 599)
				code = 0;
		}
	}
	bson_destroy(doc);
	return code;
}

/* One bulk delete of up to @max of @paths; *@taken gets how many it took. */
static int bulk_delete(struct swift_priv *sw, char *const *paths, size_t n,
		       size_t max, size_t *taken)
{
	struct curl_slist *h = NULL;
	struct swift_http_req r;
	uint64_t deleted = 0;
	uint64_t not_found = 0;
	struct buf body;
	struct buf resp;
	int err;

	buf_init(&body, BULK_BODY_MAX);
	buf_init(&resp, SWIFT_BULK_RESP_MAX);
	err = swift_bulk_delete_body(paths, n, max, BULK_BODY_MAX, &body,
				     taken);
	if (!err)
		err = swift_add_header(&h, "Content-Type: text/plain");
	if (!err)
		err = swift_add_header(&h, "Accept: application/json");
	if (!err) {
		struct swift_call c = {
			.method = "POST",
			.query = "bulk-delete",
			.headers = h,
			.body = body.data,
			.body_len = body.len,
			.has_body = true,
			.resp = &resp,
		};

		swift_http_req_init(&r);
		err = swift_do(sw, &c, &r);
		swift_http_req_release(&r);
		if (!err)
			err = swift_bulk_delete_result(resp.data, resp.len,
						       &deleted, &not_found,
						       NULL);
		if (err == -EIO || err == -EBADMSG)
			log_error(
				"swift bulk delete of %zu objects from '%s': %.300s",
				*taken, paths[0], resp.data ? resp.data : "");
	}
	curl_slist_free_all(h);
	buf_release(&body);
	buf_release(&resp);
	return err;
}

int swift_delete_paths(struct swift_priv *sw, char *const *paths, size_t n,
		       size_t *done)
{
	size_t i = 0;
	int err = 0;

	if (done)
		*done = 0;
	while (i < n) {
		unsigned bulk;
		size_t taken = 1;

		/* the first DELETE alone: it shows whether Swift is there */
		if (i > 0 && n - i > 1)
			swift_info_load(sw, 0);
		bulk = __atomic_load_n(&sw->bulk_max, __ATOMIC_RELAXED);
		if (i > 0 && n - i > 1 && bulk > 1)
			err = bulk_delete(sw, paths + i, n - i, bulk, &taken);
		else
			err = swift_delete_path(sw, paths[i]);
		if (err)
			break;
		i += taken;
		if (done)
			*done = i;
	}
	return err;
}
