/*
 * store.c - the parts of the store interface that are not per layer:
 * obj_info lifetime, defaults for optional ops, name validation.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

void obj_info_init(struct obj_info *oi)
{
	memset(oi, 0, sizeof(*oi));
	meta_init(&oi->meta);
}

void obj_info_release(struct obj_info *oi)
{
	free(oi->name);
	meta_release(&oi->meta);
	obj_info_init(oi);
}

int store_update_meta(struct store *st, const char *c, const char *key,
		      const struct meta *set, struct obj_info *out)
{
	struct obj_info oi;
	int err;

	if (st->ops->update_meta)
		return st->ops->update_meta(st, c, key, set, out);
	obj_info_init(&oi);
	err = store_head(st, c, key, &oi);
	if (err)
		return err;
	err = meta_merge(&oi.meta, set);
	if (!err)
		err = store_set_meta(st, c, key, &oi.meta);
	if (!err && out) {
		*out = oi; /* the store's mtime may have moved: a hint only */
		return 0;
	}
	obj_info_release(&oi);
	return err;
}

bool store_lists_by_page(const struct store *st)
{
	while (st->inner)
		st = st->inner;
	return st->ops->list_page != NULL;
}

/* list() cut after @max entries, for a store without list_page(). */
struct page_cut {
	store_list_fn *fn;
	void *arg;
	unsigned left;
	bool cut;
};

static int page_cut_entry(void *arg, const struct obj_info *oi)
{
	struct page_cut *pc = arg;
	int rc;

	if (pc->left == 0) {
		pc->cut = true;
		return 1;
	}
	pc->left--;
	rc = pc->fn(pc->arg, oi);
	if (rc > 0)
		pc->cut = true; /* stopped by fn: not known to be all */
	return rc;
}

int store_list_cut(struct store *st, const char *c, const char *prefix,
		   char delim, unsigned max, store_list_fn *fn, void *arg)
{
	struct page_cut pc = { .fn = fn, .arg = arg, .left = max };
	int err;

	err = st->ops->list(st, c, prefix, delim, page_cut_entry, &pc);
	if (err)
		return err;
	return pc.cut ? 0 : 1;
}

int store_list_page(struct store *st, const char *c, const char *prefix,
		    char delim, unsigned max, store_list_fn *fn, void *arg)
{
	if (st->ops->list_page)
		return st->ops->list_page(st, c, prefix, delim, max, fn, arg);
	return store_list_cut(st, c, prefix, delim, max, fn, arg);
}

int store_statfs(struct store *st, struct store_statfs *out)
{
	memset(out, 0, sizeof(*out));
	if (!st->ops->statfs)
		return 0;
	return st->ops->statfs(st, out);
}

void store_destroy(struct store *st)
{
	if (st)
		st->ops->destroy(st);
}

void store_reader_close(struct store_reader *r)
{
	if (r)
		r->ops->close(r);
}

void store_writer_abort(struct store_writer *w)
{
	if (w)
		w->ops->abort(w);
}

int store_reader_read_full(struct store_reader *r, uint64_t off, void *dst,
			   size_t len)
{
	char *p = dst;

	while (len > 0) {
		size_t got = 0;
		int err = store_reader_read(r, off, p, len, &got);

		if (err)
			return err;
		if (got == 0)
			return -EBADMSG;
		p += got;
		off += got;
		len -= got;
	}
	return 0;
}

bool store_key_is_valid(const char *key)
{
	size_t len = strlen(key);
	const char *p = key;

	if (len == 0 || len > STORE_KEY_MAX)
		return false;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		/*
		 * Empty components are invalid; a marker's trailing '/' never
		 * gets here since the loop ends on the NUL after it ("a//"
		 * used to pass as a marker).
		 */
		if (n == 0)
			return false;
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
	}
	return true;
}

bool store_container_is_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > STORE_CONTAINER_MAX)
		return false;
	if (strchr(name, '/'))
		return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}
