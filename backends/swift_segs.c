/*
 * swift_segs.c - the parts of the "swift:" store's SLOs (contract in
 * swift_i.h): reading a manifest down to its leaves, deleting what an
 * object that was replaced or renamed leaves behind, the numbers of
 * segment names in Trove's layout, and the rename of an SLO in that
 * layout (its segments follow the name).
 *
 * A manifest may name sub-manifests (trovefs nests past Swift's
 * max_manifest_segments), so every part of an SLO is found by reading
 * the manifests recursively: the leaves in manifest order, and the
 * sub-manifests. What a replaced object leaves is deleted with plain
 * DELETEs, never with ?multipart-manifest=delete: a sub-manifest is
 * deleted by what it names when the DELETE arrives, and in Trove's layout
 * a name may by then belong to the new object. Nothing is deleted unless
 * every manifest involved could be read: a part whose use is unknown is
 * left (a leak), never guessed (a loss).
 *
 * Trove's layout names segments "<key>_%08d" and sub-manifests
 * "<key>_m<level>-%08d" in the object's own container. A new object's
 * numbers start after the highest number any name of that form has
 * (listing and current manifest), so it never writes over a part of the
 * object it replaces: until its manifest is committed, the old object
 * stays whole, and a failure deletes only names of its own.
 *
 * Locks: none; every function is safe to call from any thread.
 */
#include "swift_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/log.h"

/* Swift nests SLO manifests at most 10 deep; allow a little more. */
#define SLO_DEPTH_MAX 12

/* ---- reading an SLO down to its leaves ---- */

/* Appends a copy of entry @e to *@v (@n used, @cap allocated). */
static int seg_push(struct swift_seg **v, size_t *n, size_t *cap,
		    const struct swift_json_entry *e)
{
	struct swift_seg *s;

	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct swift_seg *p = reallocarray(*v, c, sizeof(*p));

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	s = &(*v)[*n];
	memset(s, 0, sizeof(*s));
	s->path = strdup(e->name);
	if (!s->path)
		return -ENOMEM;
	if (e->hash && strlen(e->hash) == 32)
		memcpy(s->etag, e->hash, 33);
	s->size = e->bytes;
	(*n)++;
	return 0;
}

static int walk_manifest(struct swift_priv *sw, const char *container,
			 const char *key, unsigned depth,
			 struct swift_slo_parts *p);

struct walk_ctx {
	struct swift_priv *sw;
	struct swift_slo_parts *p;
	unsigned depth;
	int err;
};

static int walk_entry(void *arg, const struct swift_json_entry *e)
{
	struct walk_ctx *wc = arg;
	struct swift_slo_parts *p = wc->p;
	const char *c = NULL;
	const char *k = NULL;
	struct buf b;

	if (!e->is_subdir) {
		wc->err = seg_push(&p->leaves, &p->nleaves, &p->cap_leaves, e);
		return wc->err ? 1 : 0;
	}
	/* a sub-manifest comes before the leaves it names */
	wc->err = seg_push(&p->subs, &p->nsubs, &p->cap_subs, e);
	if (wc->err)
		return 1;
	buf_init(&b, SWIFT_URL_MAX);
	wc->err = swift_split_path(e->name, &b, &c, &k);
	if (wc->err)
		log_error("swift: manifest names '%s', not a /container/object",
			  e->name);
	else
		wc->err = walk_manifest(wc->sw, c, k, wc->depth + 1, p);
	buf_release(&b);
	return wc->err ? 1 : 0;
}

/* Adds the parts the manifest @container/@key names, recursively. */
static int walk_manifest(struct swift_priv *sw, const char *container,
			 const char *key, unsigned depth,
			 struct swift_slo_parts *p)
{
	struct walk_ctx wc = { .sw = sw, .p = p, .depth = depth };
	struct buf resp;
	size_t n = 0;
	int err;

	if (depth > SLO_DEPTH_MAX) {
		log_error("swift: manifests nested deeper than %d at '%s/%s'",
			  SLO_DEPTH_MAX, container, key);
		return -ELOOP;
	}
	buf_init(&resp, SWIFT_MANIFEST_MAX);
	err = swift_get_manifest(sw, container, key, &resp, NULL);
	if (err == -ENOENT && depth > 0)
		log_error("swift: sub-manifest '%s/%s' is missing", container,
			  key);
	if (!err)
		err = swift_json_parse_manifest(resp.data, resp.len, walk_entry,
						&wc, &n);
	if (wc.err) {
		err = wc.err;
	} else if (err) {
		log_error("swift: bad manifest '%s/%s'", container, key);
		err = -EIO;
	}
	buf_release(&resp);
	return err;
}

int swift_slo_parts_get(struct swift_priv *sw, const char *container,
			const char *key, struct swift_slo_parts *p)
{
	struct swift_http_req r;
	bool slo;
	int err;

	memset(p, 0, sizeof(*p));
	swift_http_req_init(&r);
	err = swift_head_raw(sw, container, key, &r);
	slo = !err && swift_hdr_true(&r, "x-static-large-object");
	swift_http_req_release(&r);
	if (err == -ENOENT)
		return 0; /* nothing there */
	if (err || !slo)
		return err;
	err = walk_manifest(sw, container, key, 0, p);
	if (err)
		swift_slo_parts_release(p);
	return err;
}

void swift_segs_free(struct swift_seg *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i].path);
	free(v);
}

void swift_slo_parts_release(struct swift_slo_parts *p)
{
	swift_segs_free(p->leaves, p->nleaves);
	swift_segs_free(p->subs, p->nsubs);
	memset(p, 0, sizeof(*p));
}

/* ---- deleting what a replaced object leaves ---- */

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The paths of every part of @keep (borrowed), sorted, into *@out. */
static int keep_sorted(const struct swift_slo_parts *const *keep, size_t nkeep,
		       char ***out, size_t *n)
{
	size_t total = 0;
	char **v;
	size_t i;
	size_t j;

	for (i = 0; i < nkeep; i++)
		total += keep[i]->nleaves + keep[i]->nsubs;
	v = calloc(total ? total : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	total = 0;
	for (i = 0; i < nkeep; i++) {
		for (j = 0; j < keep[i]->nsubs; j++)
			v[total++] = keep[i]->subs[j].path;
		for (j = 0; j < keep[i]->nleaves; j++)
			v[total++] = keep[i]->leaves[j].path;
	}
	qsort(v, total, sizeof(*v), cmp_path);
	*out = v;
	*n = total;
	return 0;
}

/* True if @path is ours to delete and no kept object names it. */
static bool doomed(const char *path, const char *own, const char *trove,
		   char **keep, size_t nkeep)
{
	if (strncmp(path, own, strlen(own)) != 0 &&
	    strncmp(path, trove, strlen(trove)) != 0)
		return false; /* another tool's data */
	return !bsearch(&path, keep, nkeep, sizeof(*keep), cmp_path);
}

void swift_delete_replaced(struct swift_priv *sw, const char *container,
			   const char *key, const struct swift_slo_parts *old,
			   const struct swift_slo_parts *const *keep,
			   size_t nkeep)
{
	char **kept = NULL;
	char **del = NULL;
	size_t nkept = 0;
	size_t ndel = 0;
	size_t done = 0;
	struct buf own;
	struct buf trove;
	size_t i;
	int err;

	if (old->nleaves + old->nsubs == 0)
		return;
	buf_init(&own, SWIFT_URL_MAX);
	buf_init(&trove, SWIFT_URL_MAX);
	buf_printf(&own, "/%s%s/", container, SWIFT_SEG_SUFFIX);
	buf_printf(&trove, "/%s/%s_", container, key);
	err = own.err ? own.err : trove.err;
	if (!err)
		err = keep_sorted(keep, nkeep, &kept, &nkept);
	if (!err) {
		del = calloc(old->nleaves + old->nsubs, sizeof(*del));
		if (!del)
			err = -ENOMEM;
	}
	/* sub-manifests first: no manifest left names a deleted segment */
	for (i = 0; !err && i < old->nsubs; i++)
		if (doomed(old->subs[i].path, own.data, trove.data, kept,
			   nkept))
			del[ndel++] = old->subs[i].path;
	for (i = 0; !err && i < old->nleaves; i++)
		if (doomed(old->leaves[i].path, own.data, trove.data, kept,
			   nkept))
			del[ndel++] = old->leaves[i].path;
	if (!err && ndel > 0)
		err = swift_delete_paths(sw, del, ndel, &done);
	if (err)
		log_warn(
			"%zu segments of the object '%s/%s' replaced left behind",
			ndel - done, container, key);
	free(del);
	free(kept);
	buf_release(&own);
	buf_release(&trove);
}
/* ---- numbers of Trove-layout names ---- */

bool swift_trove_number(const char *suffix, uint64_t *num)
{
	const char *p = suffix;
	uint64_t v = 0;

	if (*p == 'm') {
		/* "m<level>-<number>": a sub-manifest */
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
		if (p == suffix + 1 || *p != '-')
			return false;
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p)
		return false;
	*num = v;
	return true;
}

struct next_ctx {
	const char *prefix; /* "<key>_" or "/<c>/<key>_" */
	size_t plen;
	uint64_t next;
};

static void next_see(struct next_ctx *nc, const char *name)
{
	uint64_t num;

	if (strncmp(name, nc->prefix, nc->plen) == 0 &&
	    swift_trove_number(name + nc->plen, &num) && num >= nc->next)
		nc->next = num + 1;
}

static int next_entry(void *arg, const struct swift_json_entry *e)
{
	if (!e->is_subdir)
		next_see(arg, e->name);
	return 0;
}

int swift_trove_first_number(struct swift_priv *sw, const char *container,
			     const char *key, uint64_t *first)
{
	struct swift_slo_parts cur;
	struct next_ctx nc = { 0 };
	struct buf prefix;
	size_t i;
	int err;

	buf_init(&prefix, SWIFT_URL_MAX);
	buf_printf(&prefix, "%s_", key);
	err = prefix.err;
	nc.prefix = prefix.data;
	nc.plen = prefix.len;
	if (!err)
		err = swift_list_pages(sw, container, prefix.data, '\0',
				       next_entry, &nc);
	/* a listing may lag behind: the manifest names what is in use */
	if (!err)
		err = swift_slo_parts_get(sw, container, key, &cur);
	if (err)
		goto out_release;
	buf_reset(&prefix);
	buf_printf(&prefix, "/%s/%s_", container, key);
	nc.prefix = prefix.data;
	nc.plen = prefix.len;
	for (i = 0; !prefix.err && i < cur.nleaves; i++)
		next_see(&nc, cur.leaves[i].path);
	for (i = 0; !prefix.err && i < cur.nsubs; i++)
		next_see(&nc, cur.subs[i].path);
	err = prefix.err;
	swift_slo_parts_release(&cur);
	*first = nc.next;
out_release:
	buf_release(&prefix);
	return err;
}

/* ---- rename ---- */

uint64_t swift_copy_stall_ms(unsigned stall_timeout, uint64_t bytes)
{
	return ((uint64_t)stall_timeout + (bytes >> 20)) * 1000;
}

int swift_server_copy(struct swift_priv *sw, const char *sc, const char *sk,
		      const char *dc, const char *dk, const char *query,
		      uint64_t bytes)
{
	struct curl_slist *h = NULL;
	struct swift_http_req r;
	struct buf src;
	int err;

	buf_init(&src, SWIFT_URL_MAX);
	buf_puts(&src, "X-Copy-From: /");
	swift_url_encode(&src, sc, false);
	buf_puts(&src, "/");
	swift_url_encode(&src, sk, true);
	if (src.err) {
		buf_release(&src);
		return -ENAMETOOLONG;
	}
	h = curl_slist_append(NULL, src.data);
	buf_release(&src);
	if (!h)
		return -ENOMEM;
	{
		struct swift_call c = {
			.method = "PUT",
			.container = dc,
			.key = dk,
			.query = query,
			.headers = h,
			.has_body = true,
			.body = "",
			.stall_ms =
				swift_copy_stall_ms(sw->stall_timeout, bytes),
		};

		swift_http_req_init(&r);
		err = swift_do(sw, &c, &r);
		swift_http_req_release(&r);
	}
	curl_slist_free_all(h);
	return err;
}

int swift_rename_undo(struct swift_priv *sw, const char *sc, const char *sk,
		      const char *dc, const char *dk, bool shared)
{
	int err;

	err = swift_simple(sw, "DELETE", dc, dk, NULL, SWIFT_QUIET_404, NULL);
	if (err == -ENOENT)
		err = 0;
	if (err && shared)
		log_error(
			"rename of '%s/%s' to '%s/%s' failed half way: both name the same segments, and rm of either deletes the other's data",
			sc, sk, dc, dk);
	else if (err)
		log_error(
			"rename of '%s/%s' to '%s/%s' failed half way: both exist",
			sc, sk, dc, dk);
	return err;
}

/* True if every part of @p is "<prefix><number>" (Trove's layout). */
static bool trove_named(const struct swift_slo_parts *p, const char *prefix)
{
	size_t plen = strlen(prefix);
	uint64_t num;
	size_t i;

	if (p->nleaves == 0)
		return false;
	for (i = 0; i < p->nleaves; i++)
		if (strncmp(p->leaves[i].path, prefix, plen) != 0 ||
		    !swift_trove_number(p->leaves[i].path + plen, &num))
			return false;
	for (i = 0; i < p->nsubs; i++)
		if (strncmp(p->subs[i].path, prefix, plen) != 0 ||
		    !swift_trove_number(p->subs[i].path + plen, &num))
			return false;
	return true;
}

/*
 * Server-side copies of the @n leaves @from as @dc/@dk_<first + i> into
 * @to (paths owned by @to). *@done gets how many may exist (a failed
 * copy may have been made all the same).
 */
static int copy_leaves(struct swift_priv *sw, const struct swift_seg *from,
		       size_t n, const char *dc, const char *dk, size_t first,
		       struct swift_seg *to, size_t *done)
{
	struct buf b;
	size_t i;
	int err = 0;

	*done = 0;
	buf_init(&b, SWIFT_URL_MAX);
	for (i = 0; i < n && !err; i++) {
		const char *c = NULL;
		const char *k = NULL;

		buf_reset(&b);
		if (buf_printf(&b, "/%s/%s_%08zu", dc, dk, first + i)) {
			err = -ENAMETOOLONG;
			break;
		}
		to[i].path = strdup(b.data);
		if (!to[i].path) {
			err = -ENOMEM;
			break;
		}
		memcpy(to[i].etag, from[i].etag, sizeof(to[i].etag));
		to[i].size = from[i].size;
		(*done)++;
		err = swift_split_path(from[i].path, &b, &c, &k);
		if (!err)
			err = swift_server_copy(sw, c, k, dc,
						to[i].path + strlen(dc) + 2,
						NULL, from[i].size);
	}
	buf_release(&b);
	return err;
}

/* Deletes @subs (sub-manifests first) and the first @n of @leaves. */
static void delete_made(struct swift_priv *sw, const struct swift_nest *ns,
			const struct swift_seg *leaves, size_t n,
			const char *dc, const char *dk)
{
	size_t total = ns->nsub + n;
	size_t done = 0;
	char **paths;
	size_t i;
	int err = -ENOMEM;

	if (total == 0)
		return;
	paths = calloc(total, sizeof(*paths));
	if (paths) {
		for (i = 0; i < ns->nsub; i++)
			paths[i] = ns->subs[i].path; /* borrowed */
		for (i = 0; i < n; i++)
			paths[ns->nsub + i] = leaves[i].path;
		err = swift_delete_paths(sw, paths, total, &done);
		free(paths);
	}
	if (err)
		log_warn(
			"%zu segments of '%s/%s' left behind: 'trovefs gc' removes those trovefs wrote; delete any other '%s/%s_*' its manifests do not name by hand",
			total - done, dc, dk, dc, dk);
}

/*
 * Puts the manifest of the @n leaves @nv at @dc/@dk (nested as needed,
 * sub-manifests in @ns) with the metadata of @head.
 */
static int put_renamed(struct swift_priv *sw, const char *dc, const char *dk,
		       struct swift_seg *nv, size_t n, struct swift_nest *ns,
		       const struct swift_http_req *head)
{
	struct swift_seg *top = NULL;
	struct obj_info oi;
	struct buf body;
	size_t ntop = 0;
	int err;

	obj_info_init(&oi);
	buf_init(&body, SWIFT_MANIFEST_MAX);
	if (n > 1)
		swift_info_load(sw, sw->budget_ms);
	err = swift_nest_manifests(sw, ns, nv, n, &top, &ntop);
	if (!err)
		err = swift_json_manifest(top, ntop, &body);
	if (!err)
		err = swift_info_from_head(head, dk, &oi);
	if (!err)
		err = swift_put_checked(sw, dc, dk, SWIFT_MANIFEST_PUT,
					body.data, body.len, NULL, &oi.meta,
					NULL);
	obj_info_release(&oi);
	buf_release(&body);
	return err;
}

/*
 * Trove finds a backup's segments through its manifest, and listings hide
 * "<x>_%08d" only next to an SLO "<x>": so the segments follow the name.
 * Each leaf is copied server-side, numbered above what @dc/@dk holds (it
 * stays whole until the new manifest replaces it), the sub-manifests are
 * made again under the new name, and only once the source manifest is
 * gone do its parts go. The caller deletes the old @dk's parts.
 */
int swift_rename_trove_slo(struct swift_priv *sw, const char *sc,
			   const char *sk, const char *dc, const char *dk,
			   const struct swift_http_req *head)
{
	struct swift_slo_parts src;
	struct swift_slo_parts made = { 0 };
	const struct swift_slo_parts *keep = &made;
	struct swift_nest ns = { .container = dc };
	struct swift_seg *nv = NULL;
	char id[SWIFT_UPLOAD_ID_LEN + 1];
	struct buf prefix;
	struct buf ctype;
	uint64_t first = 0;
	size_t done = 0;
	int err;

	err = swift_slo_parts_get(sw, sc, sk, &src);
	if (err)
		return err;
	/* the sub-manifests made again are parts of an upload of our own
	 * (the leaves' copies keep the Content-Type of their source) */
	buf_init(&ctype, 128);
	err = swift_upload_id_new(id);
	if (!err)
		err = swift_part_ctype(id, &ctype);
	ns.ctype = ctype.data;
	buf_init(&prefix, SWIFT_URL_MAX);
	buf_printf(&prefix, "/%s/%s_", sc, sk);
	if (!err)
		err = prefix.err;
	if (!err && !trove_named(&src, prefix.data))
		err = 1; /* not (all) Trove-named: the manifest is copied */
	buf_reset(&prefix);
	buf_printf(&prefix, "%s_", dk);
	ns.prefix = prefix.data;
	if (!err)
		err = prefix.err;
	if (!err)
		err = swift_trove_first_number(sw, dc, dk, &first);
	if (!err && first + src.nleaves - 1 > SWIFT_TROVE_NUM_MAX) {
		log_error(
			"cannot rename '%s/%s' to '%s/%s': no segment number left after %u; remove '%s/%s' first",
			sc, sk, dc, dk, SWIFT_TROVE_NUM_MAX, dc, dk);
		err = -EFBIG;
	}
	if (err)
		goto out_release;
	ns.first = (size_t)first;
	nv = calloc(src.nleaves, sizeof(*nv));
	err = nv ? 0 : -ENOMEM;
	if (!err)
		err = copy_leaves(sw, src.leaves, src.nleaves, dc, dk,
				  (size_t)first, nv, &done);
	if (!err)
		err = put_renamed(sw, dc, dk, nv, src.nleaves, &ns, head);
	if (err)
		goto out_undo;
	err = swift_simple(sw, "DELETE", sc, sk, NULL, SWIFT_QUIET_404, NULL);
	if (err && err != -ENOENT) {
		/* the source stays as it was; so the copy must go */
		if (!swift_rename_undo(sw, sc, sk, dc, dk, false))
			goto out_undo;
		goto out_release;
	}
	err = 0;
	made.leaves = nv;
	made.nleaves = src.nleaves;
	made.subs = ns.subs;
	made.nsubs = ns.nsub;
	swift_delete_replaced(sw, sc, sk, &src, &keep, 1);
	goto out_release;
out_undo:
	delete_made(sw, &ns, nv, done, dc, dk);
out_release:
	swift_segs_free(nv, src.nleaves);
	swift_nest_release(&ns);
	swift_slo_parts_release(&src);
	buf_release(&prefix);
	buf_release(&ctype);
	return err;
}
