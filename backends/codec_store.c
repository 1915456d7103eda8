/*
 * codec_store.c - the codec decorator: plain objects above, encoded ones
 * below (tfs1 in codec_tfs1.c, Trove format in codec_trove.c).
 *
 * This file holds the store ops: container ops, del, rename and statfs
 * pass through; list and head turn the stored size of a trovefs object
 * into its plain size (metadata trovefs-size) and pass its metadata up
 * unchanged, trovefs-* keys included; set_meta replaces the other keys
 * and keeps the trovefs-* ones the object has when it is called;
 * reader_open and writer_open pick the format and hand over to the
 * per-format code. Objects without trovefs-format are foreign and pass
 * through as they are.
 *
 * Keys: only the derived tfs1 master key and a copy of the Trove
 * passphrase are kept, both wiped in destroy.
 *
 * Locks: none. struct codec is read-only after codec_store_new(); readers
 * and writers carry their own state and the worker pool locks itself.
 */
#include "codec_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../conf/log.h"
#include "codec_i.h"

/* ---- helpers shared with the per-format files ---- */

int codec_format_parse(const char *s, enum codec_format *out)
{
	if (!strcmp(s, CODEC_FMT_TFS1_NAME)) {
		*out = CODEC_FMT_TFS1;
		return 0;
	}
	/* "trove" is the config file's spelling */
	if (!strcmp(s, CODEC_FMT_TROVE_NAME) || !strcmp(s, "trove")) {
		*out = CODEC_FMT_TROVE;
		return 0;
	}
	return -EINVAL;
}

/*
 * Copies @m (may be NULL) into @out and sets the codec's keys (see
 * codec_commit_inner()). On success caller releases @out.
 */
static int codec_meta_build(struct meta *out, const struct meta *m,
			    const char *format, uint64_t plain_size,
			    const char *check)
{
	int err = 0;

	meta_init(out);
	if (m) {
		err = meta_copy(out, m);
		if (err)
			return err;
	}
	err = meta_set(out, CODEC_META_FORMAT, format);
	if (!err)
		err = meta_set_u64(out, CODEC_META_SIZE, plain_size);
	if (!err && check)
		err = meta_set(out, CODEC_META_CHECK, check);
	if (!err && !check && meta_get(out, CODEC_META_CHECK))
		err = meta_del(out, CODEC_META_CHECK);
	if (err)
		meta_release(out);
	return err;
}

int codec_commit_inner(struct store_writer *inner, int err,
		       const struct meta *m, const char *format,
		       uint64_t plain_size, const char *check)
{
	struct meta full;

	if (!err)
		err = codec_meta_build(&full, m, format, plain_size, check);
	if (err) {
		store_writer_abort(inner);
		return err;
	}
	err = store_writer_commit(inner, &full);
	meta_release(&full);
	return err;
}

static struct codec *codec_of(struct store *st)
{
	return st->priv;
}

/* "c/k" for log lines; -EINVAL if it does not fit (invalid names). */
static int codec_name(char *out, const char *container, const char *key)
{
	int n = snprintf(out, CODEC_NAME_MAX, "%s/%s", container, key);

	if (n < 0 || n >= CODEC_NAME_MAX)
		return -EINVAL;
	return 0;
}

/*
 * The plain size of a trovefs object from its metadata. Returns false for
 * a foreign object or one whose trovefs-size is unusable (then the stored
 * size is shown and a read reports the damage).
 */
static bool codec_plain_size(const struct meta *m, uint64_t *size)
{
	if (!meta_get(m, CODEC_META_FORMAT))
		return false;
	return meta_get_u64(m, CODEC_META_SIZE, size) == 0;
}

/* ---- pass-through ops ---- */

static int codec_list_containers(struct store *st, store_list_fn *fn, void *arg)
{
	return store_list_containers(st->inner, fn, arg);
}

static int codec_create_container(struct store *st, const char *container)
{
	return store_create_container(st->inner, container);
}

static int codec_delete_container(struct store *st, const char *container)
{
	return store_delete_container(st->inner, container);
}

static int codec_del(struct store *st, const char *container, const char *key)
{
	return store_del(st->inner, container, key);
}

static int codec_rename(struct store *st, const char *src_container,
			const char *src_key, const char *dst_container,
			const char *dst_key)
{
	return store_rename(st->inner, src_container, src_key, dst_container,
			    dst_key);
}

/* Markers hold no data: nothing to encode (see codec_writer_open()). */
static int codec_mkdir_excl(struct store *st, const char *container,
			    const char *key, const struct meta *m)
{
	return store_mkdir_excl(st->inner, container, key, m);
}

static int codec_rename_new(struct store *st, const char *src_container,
			    const char *src_key, const char *dst_container,
			    const char *dst_key)
{
	return store_rename_new(st->inner, src_container, src_key,
				dst_container, dst_key);
}

bool codec_meta_key_is_own(const char *key)
{
	return strncmp(key, CODEC_META_PREFIX, strlen(CODEC_META_PREFIX)) == 0;
}

/*
 * @m with the trovefs-* keys of the object as it is now: the caller's
 * come from an earlier head, and the object may have been replaced since
 * (a stale trovefs-size would make the new object unreadable).
 */
static int codec_set_meta(struct store *st, const char *container,
			  const char *key, const struct meta *m)
{
	struct obj_info oi;
	struct meta out;
	size_t i;
	int err;

	obj_info_init(&oi);
	err = store_head(st->inner, container, key, &oi);
	meta_init(&out);
	for (i = 0; !err && i < m->n; i++)
		if (!codec_meta_key_is_own(m->v[i].key))
			err = meta_set(&out, m->v[i].key, m->v[i].value);
	for (i = 0; !err && i < oi.meta.n; i++)
		if (codec_meta_key_is_own(oi.meta.v[i].key))
			err = meta_set(&out, oi.meta.v[i].key,
				       oi.meta.v[i].value);
	if (!err)
		err = store_set_meta(st->inner, container, key, &out);
	meta_release(&out);
	obj_info_release(&oi);
	return err;
}

/* @oi, an inner head, as seen through the codec: the plain size. */
static void codec_info_plain(struct obj_info *oi)
{
	uint64_t size;

	if (codec_plain_size(&oi->meta, &size))
		oi->size = size;
}

/* The keys of @set never start with trovefs-: the others stay as stored. */
static int codec_update_meta(struct store *st, const char *container,
			     const char *key, const struct meta *set,
			     struct obj_info *out)
{
	size_t i;
	int err;

	for (i = 0; i < set->n; i++)
		if (codec_meta_key_is_own(set->v[i].key))
			return -EINVAL;
	err = store_update_meta(st->inner, container, key, set, out);
	if (!err && out)
		codec_info_plain(out);
	return err;
}

static int codec_statfs(struct store *st, struct store_statfs *out)
{
	return store_statfs(st->inner, out);
}

/* ---- list and head: plain sizes ---- */

struct codec_list_ctx {
	store_list_fn *fn;
	void *arg;
};

static int codec_list_entry(void *arg, const struct obj_info *oi)
{
	struct codec_list_ctx *lc = arg;
	struct obj_info plain;

	/* a partial listing may lack trovefs-size: shown as stored */
	if (oi->is_subdir || oi->meta_partial)
		return lc->fn(lc->arg, oi);
	/* shallow copy: every pointer stays borrowed from the inner entry */
	plain = *oi;
	if (!codec_plain_size(&oi->meta, &plain.size))
		plain.size = oi->size;
	return lc->fn(lc->arg, &plain);
}

static int codec_list(struct store *st, const char *container,
		      const char *prefix, char delim, store_list_fn *fn,
		      void *arg)
{
	struct codec_list_ctx lc = { .fn = fn, .arg = arg };

	return store_list(st->inner, container, prefix, delim, codec_list_entry,
			  &lc);
}

static int codec_list_first(struct store *st, const char *container,
			    const char *prefix, char delim, store_list_fn *fn,
			    void *arg)
{
	struct codec_list_ctx lc = { .fn = fn, .arg = arg };

	return store_list_first(st->inner, container, prefix, delim,
				codec_list_entry, &lc);
}

static int codec_list_page(struct store *st, const char *container,
			   const char *prefix, char delim, unsigned max,
			   store_list_fn *fn, void *arg)
{
	struct codec_list_ctx lc = { .fn = fn, .arg = arg };

	return store_list_page(st->inner, container, prefix, delim, max,
			       codec_list_entry, &lc);
}

static int codec_head(struct store *st, const char *container, const char *key,
		      struct obj_info *oi)
{
	int err;

	err = store_head(st->inner, container, key, oi);
	if (!err)
		codec_info_plain(oi);
	return err;
}

/* ---- readers and writers ---- */

/*
 * The metadata that says how to decode comes with the inner reader, from
 * the version it reads: a head() of its own could see a newer one.
 */
static int codec_reader_open(struct store *st, const char *container,
			     const char *key, struct obj_info *oi_out,
			     struct store_reader **out)
{
	struct codec *c = codec_of(st);
	char name[CODEC_NAME_MAX];
	struct store_reader *inner;
	enum codec_format fmt;
	struct obj_info oi;
	const char *fname;
	int err;

	err = codec_name(name, container, key);
	if (err)
		return err;
	err = store_reader_open_info(st->inner, container, key, &oi, &inner);
	if (err)
		return err;
	fname = meta_get(&oi.meta, CODEC_META_FORMAT);
	if (!fname) {
		/* foreign object: shown as it is */
		*out = inner;
		goto out_info;
	}
	err = codec_format_parse(fname, &fmt);
	if (err) {
		log_error("cannot read '%s': unknown trovefs-format '%s'", name,
			  fname);
		err = -EIO;
	} else if (fmt == CODEC_FMT_TFS1 && !c->have_key) {
		log_error("no key_file configured: cannot read '%s'", name);
		err = -EACCES;
	} else if (fmt == CODEC_FMT_TROVE && !c->trove_pass) {
		log_error("no trove_key_file configured: cannot read '%s'",
			  name);
		err = -EACCES;
	}
	if (err)
		store_reader_close(inner);
	else if (fmt == CODEC_FMT_TFS1)
		err = codec_tfs1_reader_new(c, inner, &oi, name, out);
	else
		err = codec_trove_reader_new(c, inner, &oi, name, out);
out_info:
	if (!err && oi_out) {
		codec_info_plain(&oi);
		*oi_out = oi;
		return 0;
	}
	obj_info_release(&oi);
	return err;
}

/* opts->format, else the container's format, else the default. */
static int codec_choose_format(struct codec *c, const char *container,
			       const struct store_wopts *opts,
			       enum codec_format *fmt)
{
	const char *name = opts ? opts->format : NULL;

	if (!name && c->format_for)
		name = c->format_for(c->format_arg, container);
	if (!name) {
		*fmt = c->default_format;
		return 0;
	}
	if (codec_format_parse(name, fmt)) {
		log_error("cannot write into '%s': unknown format '%s'",
			  container, name);
		return -EINVAL;
	}
	return 0;
}

static int codec_writer_open(struct store *st, const char *container,
			     const char *key, const struct store_wopts *opts,
			     struct store_writer **out)
{
	struct codec *c = codec_of(st);
	char name[CODEC_NAME_MAX];
	struct store_wopts inner_wo = { 0 };
	struct store_writer *inner;
	enum codec_format fmt;
	size_t klen = strlen(key);
	int err;

	/*
	 * A pseudo-directory marker ("a/b/") holds no data, only metadata:
	 * there is nothing to encode, and the leaves refuse data in markers.
	 */
	if (klen > 0 && key[klen - 1] == '/')
		return store_writer_open(st->inner, container, key, NULL, out);
	err = codec_name(name, container, key);
	if (err)
		return err;
	err = codec_choose_format(c, container, opts, &fmt);
	if (err)
		return err;
	if ((fmt == CODEC_FMT_TFS1 && !c->have_key) ||
	    (fmt == CODEC_FMT_TROVE && !c->trove_pass)) {
		log_error("no key_file configured: cannot write '%s'", name);
		return -EACCES;
	}
	/* the leaf lays out Trove objects as Trove did (swift: segments) */
	inner_wo.format = fmt == CODEC_FMT_TROVE ? CODEC_FMT_TROVE_NAME : NULL;
	inner_wo.fresh = opts && opts->fresh;
	err = store_writer_open(st->inner, container, key, &inner_wo, &inner);
	if (err)
		return err;
	if (fmt == CODEC_FMT_TFS1)
		return codec_tfs1_writer_new(
			c, inner,
			c->lz4_for && c->lz4_for(c->format_arg, container),
			name, out);
	return codec_trove_writer_new(c, inner, name, out);
}

/* ---- lifetime ---- */

static void codec_free(struct codec *c)
{
	if (!c)
		return;
	workpool_free(c->pool);
	OPENSSL_cleanse(&c->key, sizeof(c->key));
	if (c->trove_pass) {
		OPENSSL_cleanse(c->trove_pass, c->trove_pass_len);
		free(c->trove_pass);
	}
	free(c);
}

static void codec_destroy(struct store *st)
{
	store_destroy(st->inner);
	codec_free(codec_of(st));
	free(st);
}

static const struct store_ops codec_ops = {
	.name = "codec",
	.list_containers = codec_list_containers,
	.create_container = codec_create_container,
	.delete_container = codec_delete_container,
	.list = codec_list,
	.list_first = codec_list_first,
	.list_page = codec_list_page,
	.head = codec_head,
	.reader_open = codec_reader_open,
	.writer_open = codec_writer_open,
	.del = codec_del,
	.rename = codec_rename,
	.rename_new = codec_rename_new,
	.mkdir_excl = codec_mkdir_excl,
	.set_meta = codec_set_meta,
	.update_meta = codec_update_meta,
	.statfs = codec_statfs,
	.destroy = codec_destroy,
};

static bool codec_frame_size_is_valid(uint32_t fs)
{
	return fs >= FRAME_SIZE_MIN && fs <= FRAME_SIZE_MAX &&
	       (fs & (fs - 1)) == 0;
}

/* Everything but the pool; on failure nothing is left to free. */
static int codec_init_keys(struct codec *c, const struct codec_conf *conf)
{
	const char *pass = conf->trove_secret;
	size_t pass_len = conf->trove_secret_len;
	int err;

	if (conf->secret) {
		err = frame_key_derive(conf->secret, conf->secret_len, &c->key);
		if (err)
			return err;
		c->have_key = true;
	}
	if (!pass) {
		pass = conf->secret;
		pass_len = conf->secret_len;
	}
	if (!pass)
		return 0;
	if (pass_len == 0)
		return -EINVAL;
	c->trove_pass = malloc(pass_len);
	if (!c->trove_pass)
		return -ENOMEM;
	memcpy(c->trove_pass, pass, pass_len);
	c->trove_pass_len = pass_len;
	return 0;
}

int codec_store_new(const struct codec_conf *conf, struct store *inner,
		    struct store **out)
{
	struct codec *c;
	struct store *st;
	int err;

	if (conf->compress_level < 0 || conf->compress_level > 3)
		return -EINVAL;
	if (conf->frame_size && !codec_frame_size_is_valid(conf->frame_size))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->default_format = CODEC_FMT_TFS1;
	if (conf->default_format) {
		err = codec_format_parse(conf->default_format,
					 &c->default_format);
		if (err)
			goto out_free_codec;
	}
	c->format_for = conf->format_for;
	c->format_arg = conf->format_arg;
	c->frame_size =
		conf->frame_size ? conf->frame_size : FRAME_SIZE_DEFAULT;
	c->level = conf->compress_level;
	c->lz4_for = conf->lz4_for;
	err = codec_init_keys(c, conf);
	if (err)
		goto out_free_codec;
	err = workpool_new(conf->threads, &c->pool);
	if (err)
		goto out_free_codec;
	st = calloc(1, sizeof(*st));
	if (!st) {
		err = -ENOMEM;
		goto out_free_codec;
	}
	st->ops = &codec_ops;
	st->inner = inner;
	st->priv = c;
	*out = st;
	return 0;

out_free_codec:
	codec_free(c);
	return err;
}
