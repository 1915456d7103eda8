/*
 * swift_gc.c - finds and removes orphan segments of the "swift:" store
 * (contract in swift_store.h: swift_store_gc).
 *
 * A writer uploads segments to "<c>+segments" as "<key>/<uuid>/<n>" and
 * commits with the manifest PUT; a daemon killed in between leaves an
 * upload group "<key>/<uuid>/" that no manifest names. Such a group is an
 * orphan when no segment of it is referenced by any SLO manifest of the
 * account (a rename may have moved the manifest to another container, so
 * every container's manifests are read, nested ones included) and its
 * newest segment is older than the grace period (an upload in progress
 * has no manifest yet, but its segments are fresh).
 *
 * In Trove's layout the parts are "<c>/<key>_%08d" (and sub-manifests
 * "<c>/<key>_m<l>-%08d") next to users' objects; trovefs gives the ones
 * it writes the Content-Type SWIFT_SEG_CTYPE naming their upload, and a
 * group there is the parts of one upload under one "<key>". A part whose
 * Content-Type does not say so (Trove's own, anyone's "x_00000001") is
 * never touched.
 *
 * Invariant: a segment referenced by a manifest that exists when gc ends
 * is never deleted. The segments (and marked parts) are listed first; the
 * manifests are then read in rounds over the account listing until a
 * round finds no SLO not read before (a rename between two listings shows
 * up as a new name in the next round; the references of the name it came
 * from were already taken). Only names of the form "<prefix>/<32 hex>/
 * <leaf>" in a segments container, or marked parts, are ever deleted.
 * A marked sub-manifest keeps its parts only while a manifest that is not
 * itself a marked part names it (read from the top down), so the parts
 * of an upload cut short between two sub-manifest PUTs go together.
 *
 * Locks: none; gc runs in one thread over the store's (thread-safe)
 * request runner.
 */
#include "swift_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/hash.h"
#include "../conf/log.h"

/* Listing rounds before giving up on a namespace that keeps changing. */
#define GC_ROUNDS_MAX 8
/* Nesting of sub-manifests followed (the writer makes at most 2-3). */
#define GC_DEPTH_MAX 8

/* ---- a set of strings (open addressing, fnv1a() of conf/hash.h) ---- */

struct strset {
	char **slot; /* owned strings, NULL = free */
	size_t cap;  /* power of 2 */
	size_t n;
};

static char **strset_find(const struct strset *s, const char *key)
{
	size_t i;

	if (!s->cap)
		return NULL;
	i = fnv1a(key, strlen(key)) & (s->cap - 1);
	while (s->slot[i] && strcmp(s->slot[i], key) != 0)
		i = (i + 1) & (s->cap - 1);
	return &s->slot[i];
}

static bool strset_has(const struct strset *s, const char *key)
{
	char **p = strset_find(s, key);

	return p && *p;
}

static int strset_grow(struct strset *s)
{
	struct strset bigger = { 0 };
	size_t i;

	bigger.cap = s->cap ? s->cap * 2 : 256;
	bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot));
	if (!bigger.slot)
		return -ENOMEM;
	for (i = 0; i < s->cap; i++)
		if (s->slot[i])
			*strset_find(&bigger, s->slot[i]) = s->slot[i];
	bigger.n = s->n;
	free(s->slot);
	*s = bigger;
	return 0;
}

/* Adds a copy of @key. Returns 1 if added, 0 if present, -ENOMEM. */
static int strset_add(struct strset *s, const char *key)
{
	char **p;

	if (2 * (s->n + 1) > s->cap && strset_grow(s))
		return -ENOMEM;
	p = strset_find(s, key);
	if (*p)
		return 0;
	*p = strdup(key);
	if (!*p)
		return -ENOMEM;
	s->n++;
	return 1;
}

static void strset_release(struct strset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* ---- references: what the manifests of the account name ---- */

struct refs {
	struct swift_priv *sw;
	struct strset refs;    /* "/<c>+segments/<name>" named by a manifest */
	struct strset seen;    /* "<c>/<key>\n<hash>" of manifests read */
	struct strset conts;   /* containers (not +segments) */
	const char *container; /* the one being listed */
	size_t fresh;	       /* manifests read this round */
	int err;
};

static int read_manifest(struct refs *rf, const char *container,
			 const char *key, unsigned depth);

struct man_ctx {
	struct refs *rf;
	unsigned depth;
	int err;
};

static int man_entry(void *arg, const struct swift_json_entry *e)
{
	struct man_ctx *mc = arg;
	const char *slash;
	size_t clen;
	char *cont;
	int ret;

	if (e->name[0] != '/')
		return 0;
	slash = strchr(e->name + 1, '/');
	if (!slash)
		return 0;
	clen = (size_t)(slash - e->name - 1);
	cont = strndup(e->name + 1, clen);
	if (!cont) {
		mc->err = -ENOMEM;
		return 1;
	}
	if (!swift_is_seg_container(cont) &&
	    swift_trove_seg_base(slash + 1) == 0) {
		free(cont);
		return 0; /* not a part name trovefs writes */
	}
	ret = strset_add(&mc->rf->refs, e->name);
	if (ret < 0) {
		free(cont);
		mc->err = ret;
		return 1;
	}
	if (ret > 0 && e->is_subdir) {
		/* a sub-manifest: its segments are referenced too */
		mc->err = read_manifest(mc->rf, cont, slash + 1, mc->depth + 1);
	}
	free(cont);
	return mc->err ? 1 : 0;
}

/*
 * Adds the segments the SLO manifest @container/@key names (recursively)
 * to rf->refs. Returns 0 (also when the object is gone: a later round sees
 * where it went), or -errno.
 */
static int read_manifest(struct refs *rf, const char *container,
			 const char *key, unsigned depth)
{
	struct man_ctx mc = { .rf = rf, .depth = depth };
	struct buf resp;
	size_t n = 0;
	bool slo;
	int err;

	if (depth > GC_DEPTH_MAX) {
		log_error(
			"swift gc: manifests nested deeper than %d at '%s/%s'",
			GC_DEPTH_MAX, container, key);
		return -ELOOP;
	}
	buf_init(&resp, SWIFT_MANIFEST_MAX);
	err = swift_get_manifest(rf->sw, container, key, &resp, &slo);
	if (err == -ENOENT)
		err = 0;
	if (err || !slo)
		goto out_release; /* gone, or replaced by a plain object */
	err = swift_json_parse_manifest(resp.data, resp.len, man_entry, &mc,
					&n);
	if (mc.err) {
		err = mc.err;
	} else if (err) {
		log_error("swift gc: bad manifest '%s/%s'", container, key);
		err = -EIO;
	}
out_release:
	buf_release(&resp);
	return err;
}

static int obj_entry(void *arg, const struct swift_json_entry *e)
{
	struct refs *rf = arg;
	char upload[SWIFT_UPLOAD_ID_LEN + 1];
	struct buf id;
	int ret;

	if (e->is_subdir || !e->slo_etag || !e->slo_etag[0])
		return 0; /* not an SLO manifest */
	if (swift_seg_ctype_upload(e->content_type, upload))
		return 0; /* a sub-manifest: read if a manifest names it */
	buf_init(&id, STORE_CONTAINER_MAX + STORE_KEY_MAX + 64);
	buf_printf(&id, "%s/%s\n%s", rf->container, e->name,
		   e->hash ? e->hash : "");
	if (id.err) {
		ret = id.err;
		goto out_release;
	}
	ret = strset_add(&rf->seen, id.data);
	if (ret > 0) {
		rf->fresh++;
		ret = read_manifest(rf, rf->container, e->name, 0);
	}
out_release:
	buf_release(&id);
	return ret < 0 ? ret : 0;
}

static int cont_entry(void *arg, const struct swift_json_entry *e)
{
	struct refs *rf = arg;
	int ret;

	if (swift_is_seg_container(e->name))
		return 0;
	ret = strset_add(&rf->conts, e->name);
	return ret < 0 ? ret : 0;
}

/* One round: lists every container and reads the manifests not read. */
static int refs_round(struct refs *rf)
{
	size_t i;
	int err;

	rf->fresh = 0;
	err = swift_list_pages(rf->sw, NULL, NULL, 0, cont_entry, rf);
	if (err)
		return err;
	for (i = 0; i < rf->conts.cap; i++) {
		if (!rf->conts.slot[i])
			continue;
		rf->container = rf->conts.slot[i];
		err = swift_list_pages(rf->sw, rf->container, NULL, 0,
				       obj_entry, rf);
		rf->container = NULL;
		if (err == -ENOENT)
			err = 0; /* deleted meanwhile */
		if (err)
			return err;
	}
	return 0;
}

/* ---- segments ---- */

struct seg {
	char *name;  /* owned */
	char *group; /* owned: what the parts of one upload share */
	uint64_t bytes;
	time_t mtime;
};

struct segs {
	struct seg *v;
	size_t n;
	size_t cap;
};

/*
 * Length of the upload group prefix of @name ("<key>/<32 hex>/"), or 0 if
 * @name is not a segment name the writer makes.
 */
static size_t group_len(const char *name)
{
	const char *last = strrchr(name, '/');
	const char *p;
	size_t i;

	if (!last || !last[1] || last - name < 34)
		return 0;
	p = last - 32;
	if (p[-1] != '/' || p - 1 == name)
		return 0;
	for (i = 0; i < 32; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return (size_t)(last - name) + 1;
}

/* Appends @e as a part of @group (owned; NULL: out of memory). */
static int segs_add(struct segs *s, const struct swift_json_entry *e,
		    char *group)
{
	struct timespec ts = { 0 };
	char *name = strdup(e->name);

	if (!group || !name)
		goto out_nomem;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct seg *v = reallocarray(s->v, cap, sizeof(*v));

		if (!v)
			goto out_nomem;
		s->v = v;
		s->cap = cap;
	}
	if (!e->last_modified || swift_parse_iso_time(e->last_modified, &ts))
		ts.tv_sec = time(NULL); /* unknown: treat as fresh */
	s->v[s->n].name = name;
	s->v[s->n].group = group;
	s->v[s->n].bytes = e->bytes;
	s->v[s->n].mtime = ts.tv_sec;
	s->n++;
	return 0;
out_nomem:
	free(group);
	free(name);
	return -ENOMEM;
}

/* An entry of a segments container: grouped by "<key>/<uuid>/". */
static int seg_entry(void *arg, const struct swift_json_entry *e)
{
	size_t glen = e->is_subdir ? 0 : group_len(e->name);

	if (glen == 0)
		return 0; /* not ours: never touched */
	return segs_add(arg, e, strndup(e->name, glen));
}

/*
 * An entry of a user's container: only the parts trovefs marked as its
 * own (Trove's layout), grouped by "<key>" and upload id.
 */
static int part_entry(void *arg, const struct swift_json_entry *e)
{
	char id[SWIFT_UPLOAD_ID_LEN + 1];
	size_t base = e->is_subdir
			      ? 0
			      : swift_marked_part(e->name, e->content_type, id);
	char *group;

	if (base == 0)
		return 0;
	group = malloc(base + 1 + SWIFT_UPLOAD_ID_LEN + 1);
	if (group)
		sprintf(group, "%.*s\n%s", (int)base, e->name, id);
	return segs_add(arg, e, group);
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a;
	const struct seg *y = b;
	int c = strcmp(x->group, y->group);

	return c ? c : strcmp(x->name, y->name);
}

static void segs_release(struct segs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].group);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct gc_ctx {
	struct swift_priv *sw;
	const struct swift_gc_opts *o;
	struct refs rf;
	uint64_t removed;
};

/*
 * Sets *@orphan if no part of the group @s->v[@i..@end) in @cont is named
 * by a manifest and its newest part is past the grace period.
 */
static int group_is_orphan(const struct gc_ctx *g, const char *cont,
			   const struct segs *s, size_t i, size_t end,
			   bool *orphan)
{
	time_t now = time(NULL);
	time_t newest = s->v[i].mtime;
	struct buf path;
	bool live = false;
	size_t j;
	int err = 0;

	buf_init(&path, SWIFT_URL_MAX);
	for (j = i; j < end && !live; j++) {
		buf_reset(&path);
		buf_printf(&path, "/%s/%s", cont, s->v[j].name);
		if (path.err) {
			err = path.err;
			break;
		}
		live = strset_has(&g->rf.refs, path.data);
		if (s->v[j].mtime > newest)
			newest = s->v[j].mtime;
	}
	buf_release(&path);
	*orphan = !err && !live && newest <= now &&
		  (uint64_t)(now - newest) >= g->o->grace_s;
	return err;
}

/* Removes (or reports) the orphan groups among the parts @s of @cont. */
static int gc_segments(struct gc_ctx *g, const char *cont, struct segs *s)
{
	size_t i = 0;
	int err = 0;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), seg_cmp);
	while (i < s->n && !err) {
		size_t end = i + 1;
		bool orphan = false;
		size_t j;

		while (end < s->n &&
		       strcmp(s->v[end].group, s->v[i].group) == 0)
			end++;
		err = group_is_orphan(g, cont, s, i, end, &orphan);
		for (j = i; orphan && j < end && !err; j++) {
			if (g->o->fn) {
				err = g->o->fn(g->o->arg, cont, s->v[j].name,
					       s->v[j].bytes);
				if (err)
					break;
			}
			if (!g->o->dry_run) {
				/* a plain DELETE of a sub-manifest takes it
				 * alone: its parts are in this group */
				err = swift_simple(g->sw, "DELETE", cont,
						   s->v[j].name, NULL,
						   SWIFT_QUIET_404, NULL);
				if (err == -ENOENT)
					err = 0;
				if (err)
					break;
			}
			g->removed++;
		}
		i = end;
	}
	return err;
}

/* Collects the containers to clean: segments containers and users'. */
static int todo_entry(void *arg, const struct swift_json_entry *e)
{
	int ret = strset_add(arg, e->name);

	return ret < 0 ? ret : 0;
}

static struct store *swift_leaf(struct store *st)
{
	while (st && strcmp(st->ops->name, "swift") != 0)
		st = st->inner;
	return st;
}

int swift_store_gc_opts(struct store *st, const char *container,
			const struct swift_gc_opts *o, uint64_t *removed)
{
	struct gc_ctx g = { .o = o };
	struct strset todo = { 0 };
	struct segs *all = NULL;
	char **names = NULL;
	size_t nnames = 0;
	size_t i;
	unsigned round;
	int err;

	*removed = 0;
	st = swift_leaf(st);
	if (!st) {
		log_error("gc: the source is not a swift store");
		return -EINVAL;
	}
	if (container && (!store_container_is_valid(container) ||
			  swift_is_seg_container(container)))
		return -EINVAL;
	g.sw = swift_priv_of(st);
	g.rf.sw = g.sw;

	/* 1. the parts, listed before any manifest is read: segments
	 * containers, and users' containers for Trove's layout */
	if (container) {
		struct buf b;

		buf_init(&b, STORE_CONTAINER_MAX + 16);
		err = swift_seg_container_name(container, &b);
		if (!err)
			err = strset_add(&todo, b.data) < 0 ? -ENOMEM : 0;
		if (!err)
			err = strset_add(&todo, container) < 0 ? -ENOMEM : 0;
		buf_release(&b);
	} else {
		err = swift_list_pages(g.sw, NULL, NULL, 0, todo_entry, &todo);
	}
	if (err)
		goto out_release;
	names = calloc(todo.n ? todo.n : 1, sizeof(*names));
	all = calloc(todo.n ? todo.n : 1, sizeof(*all));
	if (!names || !all) {
		err = -ENOMEM;
		goto out_release;
	}
	for (i = 0; i < todo.cap; i++)
		if (todo.slot[i])
			names[nnames++] = todo.slot[i];
	for (i = 0; i < nnames; i++) {
		err = swift_list_pages(g.sw, names[i], NULL, 0,
				       swift_is_seg_container(names[i])
					       ? seg_entry
					       : part_entry,
				       &all[i]);
		if (err == -ENOENT)
			err = 0; /* nothing was ever segmented there */
		if (err)
			goto out_release;
	}

	/* 2. every manifest of the account, until a round finds no new one */
	for (round = 0; round < GC_ROUNDS_MAX; round++) {
		err = refs_round(&g.rf);
		if (err)
			goto out_release;
		if (g.rf.fresh == 0)
			break;
	}
	if (round == GC_ROUNDS_MAX) {
		log_error(
			"swift gc: the account kept changing over %d listings; nothing removed",
			GC_ROUNDS_MAX);
		err = -EAGAIN;
		goto out_release;
	}

	/* 3. orphan groups older than the grace period */
	for (i = 0; i < nnames && !err; i++)
		err = gc_segments(&g, names[i], &all[i]);
out_release:
	for (i = 0; all && i < nnames; i++)
		segs_release(&all[i]);
	free(all);
	free(names);
	strset_release(&todo);
	strset_release(&g.rf.refs);
	strset_release(&g.rf.seen);
	strset_release(&g.rf.conts);
	*removed = g.removed;
	return err;
}

int swift_store_gc(struct store *st, const char *container, bool dry_run,
		   uint64_t *removed)
{
	const struct swift_gc_opts o = {
		.grace_s = SWIFT_GC_DEF_GRACE,
		.dry_run = dry_run,
	};

	return swift_store_gc_opts(st, container, &o, removed);
}
