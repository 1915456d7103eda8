/*
 * swift_json.c - listings, SLO manifests and Keystone JSON through libbson,
 * metadata-carrying content types, Swift timestamps (see swift_json.h).
 *
 * libbson parses a top-level JSON array as a document keyed "0", "1", ...,
 * and prints such a document back as an array; both directions rely on it.
 * Strings with an embedded NUL are refused (no name may hold one).
 * No state, no locks.
 */
#include "swift_json.h"

#include <bson/bson.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bson_t *parse(const char *json, size_t len)
{
	bson_error_t e;

	if (len == 0 || len > (size_t)SSIZE_MAX)
		return NULL;
	return bson_new_from_json((const uint8_t *)json, (ssize_t)len, &e);
}

/* A UTF-8 field without embedded NUL, else NULL. */
static const char *iter_str(const bson_iter_t *it)
{
	uint32_t len = 0;
	const char *s;

	if (!BSON_ITER_HOLDS_UTF8(it))
		return NULL;
	s = bson_iter_utf8(it, &len);
	if (!s || strlen(s) != len)
		return NULL;
	return s;
}

static bool iter_u64(const bson_iter_t *it, uint64_t *out)
{
	int64_t v;

	if (BSON_ITER_HOLDS_INT32(it))
		v = bson_iter_int32(it);
	else if (BSON_ITER_HOLDS_INT64(it))
		v = bson_iter_int64(it);
	else if (BSON_ITER_HOLDS_DOUBLE(it) && bson_iter_double(it) >= 0)
		v = (int64_t)bson_iter_double(it);
	else
		return false;
	if (v < 0)
		return false;
	*out = (uint64_t)v;
	return true;
}

/*
 * Walks an array of documents; @name_key is the field naming the entry
 * ("name"), @sub_key the alternative that marks a subdir ("subdir", or
 * for manifests none: sub_slo is a bool).
 */
static int walk(const char *json, size_t len, bool manifest,
		swift_json_entry_fn *fn, void *arg, size_t *n)
{
	bson_t *doc = parse(json, len);
	bson_iter_t top;
	int ret = 0;

	*n = 0;
	if (!doc)
		return -EBADMSG;
	if (!bson_iter_init(&top, doc)) {
		ret = -EBADMSG;
		goto out_destroy;
	}
	while (bson_iter_next(&top)) {
		struct swift_json_entry e;
		bson_iter_t f;

		memset(&e, 0, sizeof(e));
		e.last_modified = "";
		e.content_type = "";
		e.hash = "";
		e.slo_etag = "";
		if (!BSON_ITER_HOLDS_DOCUMENT(&top) ||
		    !bson_iter_recurse(&top, &f)) {
			ret = -EBADMSG;
			break;
		}
		while (bson_iter_next(&f)) {
			const char *k = bson_iter_key(&f);
			const char *s = iter_str(&f);

			if (strcmp(k, "name") == 0 && s) {
				e.name = s;
			} else if (!manifest && strcmp(k, "subdir") == 0 && s) {
				e.name = s;
				e.is_subdir = true;
			} else if (manifest && strcmp(k, "sub_slo") == 0 &&
				   BSON_ITER_HOLDS_BOOL(&f)) {
				e.is_subdir = bson_iter_bool(&f);
			} else if (strcmp(k, "bytes") == 0) {
				iter_u64(&f, &e.bytes);
			} else if (strcmp(k, "count") == 0) {
				iter_u64(&f, &e.count);
			} else if (strcmp(k, "last_modified") == 0 && s) {
				e.last_modified = s;
			} else if (strcmp(k, "content_type") == 0 && s) {
				e.content_type = s;
			} else if (strcmp(k, "hash") == 0 && s) {
				e.hash = s;
			} else if (strcmp(k, "slo_etag") == 0 && s) {
				e.slo_etag = s;
			}
		}
		if (!e.name || !*e.name) {
			ret = -EBADMSG;
			break;
		}
		(*n)++;
		ret = fn(arg, &e);
		if (ret)
			break;
	}
out_destroy:
	bson_destroy(doc);
	return ret;
}

int swift_json_parse_listing(const char *json, size_t len,
			     swift_json_entry_fn *fn, void *arg, size_t *n)
{
	return walk(json, len, false, fn, arg, n);
}

int swift_json_parse_manifest(const char *json, size_t len,
			      swift_json_entry_fn *fn, void *arg, size_t *n)
{
	return walk(json, len, true, fn, arg, n);
}

/* Appends a bson document holding an array ("0", "1"...) as JSON. */
static int append_json(const bson_t *doc, bool as_array, struct buf *out)
{
	size_t len = 0;
	char *s;
	int err;

	if (as_array)
		s = bson_array_as_json(doc, &len);
	else
		s = bson_as_relaxed_extended_json(doc, &len);
	if (!s)
		return -ENOMEM;
	err = buf_append(out, s, len);
	/* may hold a secret (Keystone); wipe before freeing */
	bson_zero_free(s, len);
	return err;
}

int swift_json_manifest(const struct swift_seg *segs, size_t n, struct buf *out)
{
	bson_t doc = BSON_INITIALIZER;
	size_t i;
	int err = 0;

	for (i = 0; i < n; i++) {
		const char *key;
		char tmp[16];
		bson_t e;

		bson_uint32_to_string((uint32_t)i, &key, tmp, sizeof(tmp));
		if (!bson_append_document_begin(&doc, key, -1, &e) ||
		    !BSON_APPEND_UTF8(&e, "path", segs[i].path) ||
		    (segs[i].etag[0] &&
		     !BSON_APPEND_UTF8(&e, "etag", segs[i].etag)) ||
		    !BSON_APPEND_INT64(&e, "size_bytes",
				       (int64_t)segs[i].size) ||
		    !bson_append_document_end(&doc, &e)) {
			/* libbson's documents stop at 2 GiB */
			err = -E2BIG;
			goto out_destroy;
		}
	}
	err = append_json(&doc, true, out);
out_destroy:
	bson_destroy(&doc);
	return err;
}

int swift_slo_etag(const struct swift_seg *segs, size_t n, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;
	int err = 0;

	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
		err = -EIO;
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		if (!EVP_DigestUpdate(ctx, segs[i].etag,
				      strlen(segs[i].etag))) {
			err = -EIO;
			goto out_free;
		}
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 16) {
		err = -EIO;
		goto out_free;
	}
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
out_free:
	EVP_MD_CTX_free(ctx);
	return err;
}

/* ---- Keystone ---- */

/* {"name": N} into @parent[@key]. */
static bool append_name(bson_t *parent, const char *key, const char *name)
{
	bson_t o;

	return bson_append_document_begin(parent, key, -1, &o) &&
	       BSON_APPEND_UTF8(&o, "name", name) &&
	       bson_append_document_end(parent, &o);
}

/* {"name": N, "domain": {"name": D}} or {"id": I} into @parent[@key]. */
static bool append_named(bson_t *parent, const char *key, const char *name,
			 const char *id, const char *domain)
{
	bson_t o;
	bson_t d;

	if (!bson_append_document_begin(parent, key, -1, &o))
		return false;
	if (id) {
		if (!BSON_APPEND_UTF8(&o, "id", id))
			return false;
	} else {
		if (!BSON_APPEND_UTF8(&o, "name", name) ||
		    !bson_append_document_begin(&o, "domain", -1, &d) ||
		    !BSON_APPEND_UTF8(&d, "name", domain) ||
		    !bson_append_document_end(&o, &d))
			return false;
	}
	return bson_append_document_end(parent, &o);
}

int swift_json_keystone_request(const struct swift_keystone_cred *c,
				struct buf *out)
{
	const char *udom =
		c->user_domain && *c->user_domain ? c->user_domain : "Default";
	const char *pdom = c->project_domain && *c->project_domain
				   ? c->project_domain
				   : udom;
	bool appcred = c->appcred_id || c->appcred_name;
	const char *method = appcred ? "application_credential" : "password";
	bson_t doc = BSON_INITIALIZER;
	bson_t auth;
	bson_t ident;
	bson_t methods;
	bson_t cred;
	bson_t user;
	bson_t scope;
	bool ok;
	int err;

	if (!c->password || (!appcred && !c->user && !c->user_id) ||
	    (c->appcred_name && !c->appcred_id && !c->user && !c->user_id))
		return -EINVAL;
	ok = bson_append_document_begin(&doc, "auth", -1, &auth) &&
	     bson_append_document_begin(&auth, "identity", -1, &ident) &&
	     bson_append_array_begin(&ident, "methods", -1, &methods) &&
	     BSON_APPEND_UTF8(&methods, "0", method) &&
	     bson_append_array_end(&ident, &methods) &&
	     bson_append_document_begin(&ident, method, -1, &cred);
	if (ok && appcred) {
		if (c->appcred_id)
			ok = BSON_APPEND_UTF8(&cred, "id", c->appcred_id);
		else
			ok = BSON_APPEND_UTF8(&cred, "name", c->appcred_name) &&
			     append_named(&cred, "user", c->user, c->user_id,
					  udom);
		ok = ok && BSON_APPEND_UTF8(&cred, "secret", c->password);
	} else if (ok) {
		ok = bson_append_document_begin(&cred, "user", -1, &user);
		if (ok && c->user_id)
			ok = BSON_APPEND_UTF8(&user, "id", c->user_id);
		else if (ok)
			ok = BSON_APPEND_UTF8(&user, "name", c->user) &&
			     append_name(&user, "domain", udom);
		ok = ok && BSON_APPEND_UTF8(&user, "password", c->password) &&
		     bson_append_document_end(&cred, &user);
	}
	ok = ok && bson_append_document_end(&ident, &cred) &&
	     bson_append_document_end(&auth, &ident);
	/* application credentials carry their scope; asking for one is 401 */
	if (ok && !appcred && (c->project || c->project_id)) {
		ok = bson_append_document_begin(&auth, "scope", -1, &scope) &&
		     append_named(&scope, "project", c->project, c->project_id,
				  pdom) &&
		     bson_append_document_end(&auth, &scope);
	}
	ok = ok && bson_append_document_end(&doc, &auth);
	err = ok ? append_json(&doc, false, out) : -ENOMEM;
	/* the document holds the secret */
	memset((void *)bson_get_data(&doc), 0, doc.len);
	bson_destroy(&doc);
	return err;
}

/* "public" matches "public" and the v2-style "publicURL". */
static bool interface_is(const char *ifc, const char *want)
{
	size_t n = strlen(want);

	if (n > 3 && strcmp(want + n - 3, "URL") == 0)
		n -= 3;
	return strncmp(ifc, want, n) == 0 && ifc[n] == '\0';
}

/*
 * One endpoint {"interface", "region_id" (or "region"), "url"}: its url
 * if it matches, else NULL. *@reg gets its region.
 */
static const char *endpoint_match(bson_iter_t *eps, const char *region,
				  const char *interface, const char **reg)
{
	const char *ifc = NULL;
	const char *u = NULL;
	bson_iter_t ep;

	*reg = NULL;
	if (!BSON_ITER_HOLDS_DOCUMENT(eps) || !bson_iter_recurse(eps, &ep))
		return NULL;
	while (bson_iter_next(&ep)) {
		const char *k = bson_iter_key(&ep);

		if (strcmp(k, "interface") == 0)
			ifc = iter_str(&ep);
		else if (strcmp(k, "region_id") == 0 ||
			 (strcmp(k, "region") == 0 && !*reg))
			*reg = iter_str(&ep);
		else if (strcmp(k, "url") == 0)
			u = iter_str(&ep);
	}
	if (!ifc || !u || !*u || !interface_is(ifc, interface))
		return NULL;
	if (region && *region && (!*reg || strcmp(*reg, region) != 0))
		return NULL;
	return u;
}

/*
 * With no region configured the answer must be unambiguous: two matching
 * endpoints with different URLs (two regions) are an error (-ENOTUNIQ),
 * since Keystone lists them in no stable order and the choice would
 * change between tokens. With a region, the first match wins.
 */
int swift_json_keystone_catalog(const char *json, size_t len, const char *type,
				const char *region, const char *interface,
				char **url)
{
	bson_t *doc = parse(json, len);
	const char *found = NULL;
	bson_iter_t it;
	bson_iter_t svc;
	int err = 0;

	if (!interface || !*interface)
		interface = "public";
	if (!doc)
		return -EBADMSG;
	if (!bson_iter_init(&it, doc) ||
	    !(bson_iter_find_descendant(&it, "token.catalog", &svc) ||
	      (bson_iter_init(&it, doc) &&
	       bson_iter_find_descendant(&it, "catalog", &svc))) ||
	    !BSON_ITER_HOLDS_ARRAY(&svc) || !bson_iter_recurse(&svc, &it)) {
		err = -EBADMSG;
		goto out_destroy;
	}
	while (!err && bson_iter_next(&it)) {
		bson_iter_t s;
		bson_iter_t eps;

		if (!BSON_ITER_HOLDS_DOCUMENT(&it) ||
		    !bson_iter_recurse(&it, &s) ||
		    !bson_iter_find(&s, "type") || !iter_str(&s) ||
		    strcmp(iter_str(&s), type) != 0)
			continue;
		if (!bson_iter_recurse(&it, &s) ||
		    !bson_iter_find(&s, "endpoints") ||
		    !BSON_ITER_HOLDS_ARRAY(&s) || !bson_iter_recurse(&s, &eps))
			continue;
		while (bson_iter_next(&eps)) {
			const char *reg;
			const char *u =
				endpoint_match(&eps, region, interface, &reg);

			if (!u)
				continue;
			if (!found) {
				found = u;
			} else if ((!region || !*region) &&
				   strcmp(u, found) != 0) {
				err = -ENOTUNIQ;
				break;
			}
		}
	}
	if (!err && !found)
		err = -ENOENT;
	if (!err) {
		*url = strdup(found);
		if (!*url)
			err = -ENOMEM;
	}
out_destroy:
	bson_destroy(doc);
	return err;
}

int swift_json_keystone_expiry(const char *json, size_t len, time_t *expires)
{
	bson_t *doc = parse(json, len);
	struct timespec ts;
	bson_iter_t it;
	bson_iter_t f;
	int err = -ENOENT;

	if (!doc)
		return -EBADMSG;
	if (bson_iter_init(&it, doc) &&
	    bson_iter_find_descendant(&it, "token.expires_at", &f)) {
		if (iter_str(&f) &&
		    swift_parse_iso_time(iter_str(&f), &ts) == 0) {
			*expires = ts.tv_sec;
			err = 0;
		} else {
			err = -EBADMSG;
		}
	}
	bson_destroy(doc);
	return err;
}

/* ---- content types ---- */

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_tchar(*s))
			return false;
	return true;
}

int swift_ctype_from_meta(const struct meta *m, struct buf *out)
{
	bool partial = false;
	size_t i;

	buf_puts(out, SWIFT_CTYPE);
	for (i = 0; i < m->n; i++) {
		if (!is_token(m->v[i].value)) {
			partial = true;
			continue;
		}
		buf_printf(out, "; %s=%s", m->v[i].key, m->v[i].value);
	}
	if (partial)
		buf_puts(out, "; tfs_partial=1");
	return out->err;
}

static void trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* One "key=value" parameter of a content type. */
struct ctype_param {
	const char *ks, *ke; /* the key, trimmed */
	const char *vs, *ve; /* the value, trimmed, unquoted */
};

/*
 * Checks that @ctype's type is @type (case-insensitive); then *@next is
 * where its parameters start (NULL: none).
 */
static bool ctype_is(const char *ctype, const char *type, const char **next)
{
	const char *p = ctype;
	const char *semi = strchr(p, ';');
	const char *end = semi ? semi : p + strlen(p);

	trim(&p, &end);
	*next = semi;
	return (size_t)(end - p) == strlen(type) &&
	       strncasecmp(p, type, (size_t)(end - p)) == 0;
}

/* The parameter at *@next (a ';'), skipping any without '='; advances. */
static bool ctype_next_param(const char **next, struct ctype_param *pa)
{
	while (*next) {
		const char *ks = *next + 1;
		const char *ve;
		const char *eq;

		*next = strchr(ks, ';');
		ve = *next ? *next : ks + strlen(ks);
		eq = memchr(ks, '=', (size_t)(ve - ks));
		if (!eq)
			continue;
		pa->ks = ks;
		pa->ke = eq;
		pa->vs = eq + 1;
		pa->ve = ve;
		trim(&pa->ks, &pa->ke);
		trim(&pa->vs, &pa->ve);
		if (pa->ve - pa->vs >= 2 && *pa->vs == '"' &&
		    pa->ve[-1] == '"') {
			pa->vs++;
			pa->ve--;
		}
		return true;
	}
	return false;
}

int swift_ctype_to_meta(const char *ctype, struct meta *m, bool *complete)
{
	bool partial = false;
	struct ctype_param pa;
	const char *next;
	char key[META_KEY_MAX + 1];
	char val[META_VALUE_MAX + 1];

	*complete = false;
	if (!ctype_is(ctype, SWIFT_CTYPE, &next))
		return 0;
	while (ctype_next_param(&next, &pa)) {
		size_t kl = (size_t)(pa.ke - pa.ks);
		size_t vl = (size_t)(pa.ve - pa.vs);
		int err;

		if (kl > META_KEY_MAX || vl > META_VALUE_MAX)
			continue;
		memcpy(key, pa.ks, kl);
		key[kl] = '\0';
		memcpy(val, pa.vs, vl);
		val[vl] = '\0';
		if (strcmp(key, "tfs_partial") == 0) {
			partial = true;
			continue;
		}
		if (!meta_key_is_valid(key))
			continue;
		err = meta_set(m, key, val);
		if (err == -ENOMEM)
			return err;
		if (err)
			partial = true;
	}
	*complete = !partial;
	return 0;
}

int swift_part_ctype(const char *id, struct buf *out)
{
	return buf_printf(out, SWIFT_SEG_CTYPE "; upload=%s", id);
}

bool swift_seg_ctype_upload(const char *ctype, char id[SWIFT_UPLOAD_ID_LEN + 1])
{
	struct ctype_param pa;
	const char *next;
	size_t i;

	if (!ctype_is(ctype, SWIFT_SEG_CTYPE, &next))
		return false;
	while (ctype_next_param(&next, &pa)) {
		if (pa.ke - pa.ks != 6 || strncmp(pa.ks, "upload", 6) != 0)
			continue;
		if (pa.ve - pa.vs != SWIFT_UPLOAD_ID_LEN)
			return false;
		for (i = 0; i < SWIFT_UPLOAD_ID_LEN; i++)
			if (!((pa.vs[i] >= '0' && pa.vs[i] <= '9') ||
			      (pa.vs[i] >= 'a' && pa.vs[i] <= 'f')))
				return false;
		memcpy(id, pa.vs, SWIFT_UPLOAD_ID_LEN);
		id[SWIFT_UPLOAD_ID_LEN] = '\0';
		return true;
	}
	return false;
}

/* ---- times ---- */

/* Reads exactly @n digits. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;

	while (n--) {
		if (**p < '0' || **p > '9')
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return true;
}

/* ".123456" -> nanoseconds (up to 9 digits kept). */
static long frac_ns(const char **p)
{
	long ns = 0;
	int nd = 0;

	if (**p != '.')
		return 0;
	(*p)++;
	while (**p >= '0' && **p <= '9') {
		if (nd < 9) {
			ns = ns * 10 + (**p - '0');
			nd++;
		}
		(*p)++;
	}
	while (nd++ < 9)
		ns *= 10;
	return ns;
}

int swift_parse_iso_time(const char *s, struct timespec *ts)
{
	const char *p = s;
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!digits(&p, 4, &tm.tm_year) || *p++ != '-' ||
	    !digits(&p, 2, &tm.tm_mon) || *p++ != '-' ||
	    !digits(&p, 2, &tm.tm_mday) || (*p != 'T' && *p != ' '))
		return -EINVAL;
	p++;
	if (!digits(&p, 2, &tm.tm_hour) || *p++ != ':' ||
	    !digits(&p, 2, &tm.tm_min) || *p++ != ':' ||
	    !digits(&p, 2, &tm.tm_sec))
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	ts->tv_nsec = frac_ns(&p);
	if (*p == 'Z')
		p++;
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	ts->tv_sec = t;
	return 0;
}

int swift_parse_x_timestamp(const char *s, struct timespec *ts)
{
	const char *p = s;
	long long sec = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		if (sec > 1000000000000LL)
			return -EINVAL;
		sec = sec * 10 + (*p - '0');
		p++;
	}
	ts->tv_nsec = frac_ns(&p);
	/* "_offset" suffixes of internal timestamps are ignored */
	if (*p && *p != '_')
		return -EINVAL;
	ts->tv_sec = (time_t)sec;
	return 0;
}
