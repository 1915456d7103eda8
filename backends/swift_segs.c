/*
 * swift_segs.c - the parts of the "swift:" store's SLOs (contract in
 * swift_i.h): reading a manifest down to its leaves, deleting what an
 * object that was replaced or renamed leaves behind, and the numbers of
 * segment names in Trove's layout.
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

void swift_slo_parts_release(struct swift_slo_parts *p)
{
	size_t i;

	for (i = 0; i < p->nleaves; i++)
		free(p->leaves[i].path);
	for (i = 0; i < p->nsubs; i++)
		free(p->subs[i].path);
	free(p->leaves);
	free(p->subs);
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
