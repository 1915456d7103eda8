/*
 * vfs_fixture.h - the fixture the vfs unit tests share (test_vfs*.c): a
 * vfs over the mem store (or codec -> mem), one container "c", a log
 * hook that counts lines and keeps the last, and helpers that put, read
 * and inspect objects behind the vfs's back.
 *
 * Included by exactly one .c per test binary (the Makefile links each
 * tests/unit/test_*.c alone with libtrovefs.a), so everything here is
 * static; functions are static inline so a file that leaves one unused
 * still builds with -Werror. The helpers fail the test on any error they
 * meet, except write_file(), which returns flush's result to check. The
 * log hook's counters are reset by setup; a test may reset them again.
 */
#ifndef TESTS_UNIT_VFS_FIXTURE_H
#define TESTS_UNIT_VFS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/codec_store.h"
#include "../../backends/mem_store.h"
#include "../../conf/log.h"
#include "../../fs/vfs.h"

#define C "c"
#define P "/containers/c/"

struct fx {
	struct store *mem; /* the leaf, for fault injection */
	struct store *st;  /* what the vfs sees: mem or codec -> mem */
	struct vfs *v;
};

/* ---- log capture ---- */

static unsigned log_lines;
static char log_last[1024];

static inline void log_hook(int level, const char *msg)
{
	(void)level;
	log_lines++;
	snprintf(log_last, sizeof(log_last), "%s", msg);
}

/* vfs_conf.interrupted: true once asked @fx_interrupt_after times; -1 never */
static int fx_interrupt_after = -1;

static inline bool fx_interrupted(void)
{
	if (fx_interrupt_after < 0)
		return false;
	if (fx_interrupt_after > 0)
		fx_interrupt_after--;
	return fx_interrupt_after == 0;
}

static inline void vconf(struct vfs_conf *vc, double ttl)
{
	memset(vc, 0, sizeof(*vc));
	vc->uid = 1234;
	vc->gid = 5678;
	vc->default_file_mode = 0644;
	vc->default_dir_mode = 0755;
	vc->attr_timeout = ttl;
	vc->blksize = 1u << 20;
	vc->interrupted = fx_interrupted;
	fx_interrupt_after = -1;
}

/*
 * With @paged the mem store lists by page as Swift does, so that the vfs
 * answers lookups from listings of the directory.
 */
static inline int fx_setup_as(void **state, bool codec, bool paged)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vfs_conf vc;

	if (!f)
		return -1;
	if (mem_store_new(&f->mem))
		return -1;
	mem_store_set_paged(f->mem, paged);
	f->st = f->mem;
	if (codec) {
		struct codec_conf cc;

		memset(&cc, 0, sizeof(cc));
		cc.secret = "test secret";
		cc.secret_len = strlen(cc.secret);
		cc.default_format = "tfs1";
		cc.frame_size = 4096;
		cc.compress_level = 1;
		cc.threads = 2;
		if (codec_store_new(&cc, f->mem, &f->st))
			return -1;
	}
	if (store_create_container(f->st, C))
		return -1;
	vconf(&vc, 3600);
	if (vfs_new(&vc, f->st, &f->v))
		return -1;
	log_init("test_vfs", false, LOG_CRIT);
	log_set_hook(log_hook);
	log_lines = 0;
	log_last[0] = '\0';
	*state = f;
	return 0;
}

static inline int fx_setup(void **state, bool codec)
{
	return fx_setup_as(state, codec, false);
}

static inline int setup(void **state)
{
	return fx_setup(state, false);
}

static inline int setup_paged(void **state)
{
	return fx_setup_as(state, false, true);
}

static inline int setup_codec(void **state)
{
	return fx_setup(state, true);
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	log_set_hook(NULL);
	vfs_free(f->v);
	store_destroy(f->st);
	free(f);
	return 0;
}

/* ---- helpers ---- */

/* Stores @c/@k with @data and optional "mtime"/"mode" metadata. */
static inline void put(struct store *st, const char *c, const char *k,
		       const char *data, const char *mtime, const char *mode)
{
	struct store_writer *w;
	struct meta m;

	assert_int_equal(store_writer_open(st, c, k, NULL, &w), 0);
	if (data && *data)
		assert_int_equal(store_writer_write(w, data, strlen(data)), 0);
	meta_init(&m);
	if (mtime)
		assert_int_equal(meta_set(&m, "mtime", mtime), 0);
	if (mode)
		assert_int_equal(meta_set(&m, "mode", mode), 0);
	assert_int_equal(store_writer_commit(w, &m), 0);
	meta_release(&m);
}

static inline bool exists(struct store *st, const char *c, const char *k)
{
	struct obj_info oi;
	int err;

	obj_info_init(&oi);
	err = store_head(st, c, k, &oi);
	obj_info_release(&oi);
	return err == 0;
}

/* Reads up to @len bytes at @off of @src into @dst; 0 at the end. */
typedef size_t read_at_fn(void *src, char *dst, size_t len, size_t off);

/* All of @src, NUL-terminated, its length in *@len if @len; free() it. */
static inline char *read_all(read_at_fn *rd, void *src, size_t *len)
{
	size_t cap = 1 << 16;
	size_t n = 0;
	size_t got;
	char *buf;

	buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		got = rd(src, buf + n, cap - n, n);
		if (got == 0)
			break;
		n += got;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static inline size_t read_at_store(void *src, char *dst, size_t len, size_t off)
{
	size_t got = 0;

	assert_int_equal(store_reader_read(src, off, dst, len, &got), 0);
	return got;
}

static inline size_t read_at_vfs(void *src, char *dst, size_t len, size_t off)
{
	ssize_t got = vfs_read(src, dst, len, (off_t)off);

	assert_true(got >= 0);
	return (size_t)got;
}

/* The stored plain content of @k (through @st), NUL-terminated; free() it */
static inline char *content(struct store *st, const char *k, size_t *len)
{
	struct store_reader *r;
	char *buf;

	assert_int_equal(store_reader_open(st, C, k, &r), 0);
	buf = read_all(read_at_store, r, len);
	store_reader_close(r);
	return buf;
}

static inline const char *meta_of(struct store *st, const char *k,
				  const char *key, char *buf, size_t len)
{
	struct obj_info oi;
	const char *v;

	obj_info_init(&oi);
	assert_int_equal(store_head(st, C, k, &oi), 0);
	v = meta_get(&oi.meta, key);
	if (v)
		snprintf(buf, len, "%s", v);
	obj_info_release(&oi);
	return v ? buf : NULL;
}

/* create + write + flush + release; returns flush's result. */
static inline int write_file(struct vfs *v, const char *path, const char *data,
			     size_t len)
{
	struct vfs_handle *h;
	size_t off = 0;
	int err;

	err = vfs_create(v, path, 0640, O_WRONLY | O_CREAT | O_TRUNC, &h);
	if (err)
		return err;
	while (off < len) {
		size_t n = len - off > 3000 ? 3000 : len - off;

		assert_int_equal(vfs_write(h, data + off, n, (off_t)off),
				 (ssize_t)n);
		off += n;
	}
	err = vfs_flush(h);
	assert_int_equal(vfs_release(h), 0);
	return err;
}

/* Reads the whole file at @path through the vfs; free() it. */
static inline char *read_file(struct vfs *v, const char *path, size_t *len)
{
	struct vfs_handle *h;
	char *buf;

	assert_int_equal(vfs_open(v, path, O_RDONLY, &h), 0);
	buf = read_all(read_at_vfs, h, len);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	return buf;
}

struct ent {
	char name[256];
	bool has_st;
	struct stat st;
};

struct dirlist {
	struct ent *e;
	size_t n;
	size_t cap;
	size_t stop_after; /* fill returns 1 after this many; 0 never */
};

static inline int collect(void *arg, const char *name, const struct stat *st)
{
	struct dirlist *d = arg;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->e = realloc(d->e, d->cap * sizeof(*d->e));
		assert_non_null(d->e);
	}
	snprintf(d->e[d->n].name, sizeof(d->e[d->n].name), "%s", name);
	d->e[d->n].has_st = st != NULL;
	if (st)
		d->e[d->n].st = *st;
	d->n++;
	return d->stop_after && d->n >= d->stop_after ? 1 : 0;
}

static inline const struct ent *find(const struct dirlist *d, const char *name)
{
	const struct ent *hit = NULL;
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (strcmp(d->e[i].name, name) == 0) {
			assert_null(hit); /* listed once */
			hit = &d->e[i];
		}
	}
	return hit;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TC(fn) cmocka_unit_test_setup_teardown(fn, setup_codec, teardown)
#define TP(fn) cmocka_unit_test_setup_teardown(fn, setup_paged, teardown)

#endif /* TESTS_UNIT_VFS_FIXTURE_H */
