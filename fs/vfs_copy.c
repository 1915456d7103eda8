/*
 * vfs_copy.c - objects copied and moved through the store: a rename the
 * store can do itself (Swift: a server-side copy), else a copy through a
 * reader and a writer, then a delete; and the stream copy that appending
 * to a stored file also uses.
 * Locks: none; the callers hold what they need (vfs_i.h).
 */
#include "vfs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/codec_store.h"
#include "../conf/log.h"

void vfs_meta_strip_codec(struct meta *m)
{
	char key[META_KEY_MAX + 1];
	size_t i = m->n;

	/* the codec writes its own trovefs-* keys for the new bytes */
	while (i-- > 0) {
		if (!codec_meta_key_is_own(m->v[i].key))
			continue;
		snprintf(key, sizeof(key), "%s", m->v[i].key);
		meta_del(m, key);
	}
}

int vfs_stream_copy(struct store_reader *r,
		    int (*put)(void *arg, const void *p, size_t n), void *arg,
		    uint64_t *copied)
{
	uint64_t off = 0;
	size_t got;
	char *buf;
	int err;

	buf = malloc(VFS_COPY_CHUNK);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		got = 0;
		err = store_reader_read(r, off, buf, VFS_COPY_CHUNK, &got);
		if (err || got == 0)
			break;
		err = put(arg, buf, got);
		if (err)
			break;
		off += got;
	}
	free(buf);
	if (copied)
		*copied = off;
	return err;
}

static int put_writer(void *arg, const void *p, size_t n)
{
	return store_writer_write(arg, p, n);
}

/* Copies object @sk of @sc to @dk of @dc through a reader and a writer. */
static int copy_object(struct vfs *v, const char *sc, const char *sk,
		       const char *dc, const char *dk)
{
	struct store_wopts wo = { .format = vfs_format_for(v, dc) };
	struct store_reader *r;
	struct store_writer *w;
	struct obj_info oi;
	int err;

	/* the metadata of the version read, not of a later head() */
	err = store_reader_open_info(v->st, sc, sk, &oi, &r);
	if (err)
		return err;
	vfs_meta_strip_codec(&oi.meta);
	err = store_writer_open(v->st, dc, dk, &wo, &w);
	if (err)
		goto out_close;
	err = vfs_stream_copy(r, put_writer, w, NULL);
	if (err)
		store_writer_abort(w);
	else
		err = store_writer_commit(w, &oi.meta);
out_close:
	store_reader_close(r);
	obj_info_release(&oi);
	return err;
}

int vfs_move_object(struct vfs *v, const char *sc, const char *sk,
		    const char *dc, const char *dk, bool dest_new)
{
	int err;

	if (dest_new)
		err = store_rename_new(v->st, sc, sk, dc, dk);
	else
		err = store_rename(v->st, sc, sk, dc, dk);
	if (!err)
		log_debug("renamed '%s/%s' to '%s/%s'", sc, sk, dc, dk);
	if (err != -EXDEV)
		return err;
	/* the store cannot rename (e.g. across containers): copy */
	err = copy_object(v, sc, sk, dc, dk);
	if (err)
		return err;
	err = store_del(v->st, sc, sk);
	return err == -ENOENT ? 0 : err;
}
