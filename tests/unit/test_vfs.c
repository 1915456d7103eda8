/*
 * test_vfs.c - the namespace (fs/vfs.h) over the mem store, and a few
 * cases over codec -> mem: every op, its error codes, readdir contents,
 * files visible while written, sequential-write enforcement, commit
 * failures, renames of open files and directories, the stat cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

static void log_hook(int level, const char *msg)
{
	(void)level;
	log_lines++;
	snprintf(log_last, sizeof(log_last), "%s", msg);
}

static void vconf(struct vfs_conf *vc, double ttl)
{
	memset(vc, 0, sizeof(*vc));
	vc->uid = 1234;
	vc->gid = 5678;
	vc->default_file_mode = 0644;
	vc->default_dir_mode = 0755;
	vc->attr_timeout = ttl;
	vc->blksize = 1u << 20;
}

static int fx_setup(void **state, bool codec)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vfs_conf vc;

	if (!f)
		return -1;
	if (mem_store_new(&f->mem))
		return -1;
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

static int setup(void **state)
{
	return fx_setup(state, false);
}

static int setup_codec(void **state)
{
	return fx_setup(state, true);
}

static int teardown(void **state)
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
static void put(struct store *st, const char *c, const char *k,
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

static bool exists(struct store *st, const char *c, const char *k)
{
	struct obj_info oi;
	int err;

	obj_info_init(&oi);
	err = store_head(st, c, k, &oi);
	obj_info_release(&oi);
	return err == 0;
}

/* The stored plain content of @k (through @st), NUL-terminated; free() it */
static char *content(struct store *st, const char *k, size_t *len)
{
	struct store_reader *r;
	char *buf;
	size_t cap = 1 << 16;
	size_t n = 0;
	size_t got;

	assert_int_equal(store_reader_open(st, C, k, &r), 0);
	buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		got = 0;
		assert_int_equal(
			store_reader_read(r, n, buf + n, cap - n, &got), 0);
		if (got == 0)
			break;
		n += got;
	}
	store_reader_close(r);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static const char *meta_of(struct store *st, const char *k, const char *key,
			   char *buf, size_t len)
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
static int write_file(struct vfs *v, const char *path, const char *data,
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
static char *read_file(struct vfs *v, const char *path, size_t *len)
{
	struct vfs_handle *h;
	size_t cap = 1 << 16;
	size_t n = 0;
	char *buf;
	ssize_t got;

	assert_int_equal(vfs_open(v, path, O_RDONLY, &h), 0);
	buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		got = vfs_read(h, buf + n, cap - n, (off_t)n);
		assert_true(got >= 0);
		if (got == 0)
			break;
		n += (size_t)got;
	}
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	buf[n] = '\0';
	if (len)
		*len = n;
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

static int collect(void *arg, const char *name, const struct stat *st)
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

static const struct ent *find(const struct dirlist *d, const char *name)
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

/* ---- getattr ---- */

static void test_getattr_root_and_tops(void **state)
{
	struct fx *f = *state;
	struct stat st;

	assert_int_equal(vfs_getattr(f->v, "/", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(vfs_getattr(f->v, "/containers", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(vfs_getattr(f->v, "/restore", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(vfs_getattr(f->v, "/snapshots", &st), 0);
	assert_int_equal(vfs_getattr(f->v, "/datastores", &st), 0);
	assert_int_equal(vfs_getattr(f->v, "/nope", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, "/restore/x", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, "/containers/c", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(vfs_getattr(f->v, "/containers/zz", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, "/containers/zz/k", &st), -ENOENT);
}

static void test_getattr_file_from_meta(void **state)
{
	struct fx *f = *state;
	struct stat st;

	put(f->st, C, "f", "hello", "1700000000.123456789", "600");
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_mtim.tv_sec, 1700000000);
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_blksize, 1 << 20);
	assert_int_equal(st.st_blocks, 1);
}

static void test_getattr_mtime_forms(void **state)
{
	struct fx *f = *state;
	struct obj_info oi;
	struct stat st;

	put(f->st, C, "int", "", "1600000000", NULL);
	put(f->st, C, "float", "", "1600000000.5", NULL);
	put(f->st, C, "bad", "", "yesterday", "99x");
	put(f->st, C, "none", "", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "int", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(st.st_mtim.tv_nsec, 0);
	assert_int_equal(vfs_getattr(f->v, P "float", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(st.st_mtim.tv_nsec, 500000000);
	/* unusable metadata: the store's own mtime and the default mode */
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, C, "bad", &oi), 0);
	assert_int_equal(vfs_getattr(f->v, P "bad", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, oi.mtime.tv_sec);
	assert_int_equal(st.st_mode & 07777, 0644);
	obj_info_release(&oi);
	assert_int_equal(vfs_getattr(f->v, P "none", &st), 0);
	assert_int_equal(st.st_size, 0);
}

static void test_getattr_dirs(void **state)
{
	struct fx *f = *state;
	struct stat st;

	put(f->st, C, "d/", "", "1500000000.000000001", "700");
	put(f->st, C, "i/x", "abc", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "d", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	assert_int_equal(st.st_mtim.tv_nsec, 1);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(vfs_getattr(f->v, P "i", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(vfs_getattr(f->v, P "i/x", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 3);
	assert_int_equal(vfs_getattr(f->v, P "nothing", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "i/x/y", &st), -ENOENT);
	/* a file and a directory of one name: the file wins */
	put(f->st, C, "both", "1", NULL, NULL);
	put(f->st, C, "both/z", "2", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "both", &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

static void test_getattr_names(void **state)
{
	struct fx *f = *state;
	char path[2048];
	char comp[300];
	struct stat st;
	int i;
	int n;

	memset(comp, 'a', 256);
	comp[256] = '\0';
	snprintf(path, sizeof(path), P "%s", comp);
	assert_int_equal(vfs_getattr(f->v, path, &st), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "/containers/%s", comp);
	assert_int_equal(vfs_getattr(f->v, path, &st), -ENAMETOOLONG);
	/* 255 is fine for a component */
	comp[255] = '\0';
	snprintf(path, sizeof(path), P "%s", comp);
	assert_int_equal(vfs_getattr(f->v, path, &st), -ENOENT);
	/* five components of 250: a key beyond STORE_KEY_MAX */
	comp[250] = '\0';
	n = snprintf(path, sizeof(path), "/containers/c");
	for (i = 0; i < 5; i++)
		n += snprintf(path + n, sizeof(path) - n, "/%s", comp);
	assert_int_equal(vfs_getattr(f->v, path, &st), -ENAMETOOLONG);
	assert_int_equal(vfs_mkdir(f->v, path, 0755), -ENAMETOOLONG);
	assert_int_equal(vfs_getattr(f->v, P "a//b", &st), -EINVAL);
	assert_int_equal(vfs_mkdir(f->v, P "a/../b", 0755), -EINVAL);
}

/* ---- readdir ---- */

static void test_readdir_root_and_containers(void **state)
{
	struct fx *f = *state;
	struct dirlist d = { 0 };

	assert_int_equal(vfs_readdir(f->v, "/", collect, &d), 0);
	assert_int_equal(d.n, 6);
	assert_non_null(find(&d, "."));
	assert_non_null(find(&d, ".."));
	assert_non_null(find(&d, "containers"));
	assert_non_null(find(&d, "restore"));
	assert_non_null(find(&d, "snapshots"));
	assert_non_null(find(&d, "datastores"));
	d.n = 0;
	assert_int_equal(store_create_container(f->st, "other"), 0);
	assert_int_equal(vfs_readdir(f->v, "/containers", collect, &d), 0);
	assert_int_equal(d.n, 4);
	assert_non_null(find(&d, "c"));
	assert_non_null(find(&d, "other"));
	assert_true(S_ISDIR(find(&d, "other")->st.st_mode));
	d.n = 0;
	assert_int_equal(vfs_readdir(f->v, "/restore", collect, &d), 0);
	assert_int_equal(d.n, 2);
	assert_int_equal(vfs_readdir(f->v, "/nope", collect, &d), -ENOENT);
	free(d.e);
}

static void test_readdir_dir_contents(void **state)
{
	struct fx *f = *state;
	struct dirlist d = { 0 };
	const struct ent *e;

	put(f->st, C, "d/", "", NULL, NULL);
	put(f->st, C, "d/a", "aaa", "1400000000.5", "640");
	put(f->st, C, "d/b", "", NULL, NULL);
	put(f->st, C, "d/sub/", "", NULL, NULL);
	put(f->st, C, "d/sub/deep", "x", NULL, NULL);
	put(f->st, C, "d/impl/x", "x", NULL, NULL);
	put(f->st, C, "d/x", "file", NULL, NULL);
	put(f->st, C, "d/x!", "file", NULL, NULL);
	put(f->st, C, "d/x/y", "shadowed dir", NULL, NULL);
	put(f->st, C, "top", "t", NULL, NULL);

	assert_int_equal(vfs_readdir(f->v, P "d", collect, &d), 0);
	assert_int_equal(d.n, 2 + 6);
	assert_non_null(find(&d, "."));
	e = find(&d, "a");
	assert_non_null(e);
	assert_true(e->has_st);
	assert_true(S_ISREG(e->st.st_mode));
	assert_int_equal(e->st.st_size, 3);
	assert_int_equal(e->st.st_mode & 07777, 0640);
	assert_int_equal(e->st.st_mtim.tv_sec, 1400000000);
	assert_non_null(find(&d, "b"));
	assert_non_null(find(&d, "sub"));
	assert_non_null(find(&d, "impl"));
	assert_non_null(find(&d, "x!"));
	e = find(&d, "x");
	assert_non_null(e);
	assert_true(e->has_st && S_ISREG(e->st.st_mode));
	assert_null(find(&d, "deep"));
	assert_null(find(&d, "top"));
	assert_null(find(&d, ""));

	d.n = 0;
	assert_int_equal(vfs_readdir(f->v, P "", collect, &d), 0);
	assert_int_equal(d.n, 2 + 2);
	assert_non_null(find(&d, "d"));
	assert_non_null(find(&d, "top"));

	assert_int_equal(vfs_readdir(f->v, P "top", collect, &d), -ENOTDIR);
	assert_int_equal(vfs_readdir(f->v, P "none", collect, &d), -ENOENT);
	assert_int_equal(vfs_readdir(f->v, "/containers/zz", collect, &d),
			 -ENOENT);
	free(d.e);
}

static void test_readdir_many_entries_and_stop(void **state)
{
	struct fx *f = *state;
	struct dirlist d = { 0 };
	struct stat st;
	char key[64];
	unsigned heads;
	int i;

	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "big/f%05d", i);
		put(f->st, C, key, "z", NULL, NULL);
	}
	assert_int_equal(vfs_readdir(f->v, P "big", collect, &d), 0);
	assert_int_equal(d.n, 10002);
	assert_string_equal(d.e[2].name, "f00000");
	assert_string_equal(d.e[10001].name, "f09999");
	/* the kernel's getattr per entry is served by the stat cache */
	heads = mem_store_calls(f->mem, MEM_OP_HEAD);
	for (i = 0; i < 10000; i += 7) {
		snprintf(key, sizeof(key), P "big/f%05d", i);
		assert_int_equal(vfs_getattr(f->v, key, &st), 0);
		assert_int_equal(st.st_size, 1);
	}
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_HEAD), heads);

	d.n = 0;
	d.stop_after = 5;
	assert_int_equal(vfs_readdir(f->v, P "big", collect, &d), 0);
	assert_int_equal(d.n, 5);
	free(d.e);
}

static void test_readdir_shows_open_files(void **state)
{
	struct fx *f = *state;
	struct dirlist d = { 0 };
	struct vfs_handle *h;
	struct vfs_handle *h2;
	const struct ent *e;
	struct stat st;

	put(f->st, C, "d/", "", NULL, NULL);
	put(f->st, C, "d/old", "old content", NULL, NULL);
	assert_int_equal(vfs_create(f->v, P "d/new", 0600,
				    O_WRONLY | O_CREAT | O_EXCL, &h),
			 0);
	assert_int_equal(vfs_write(h, "12345", 5, 0), 5);
	assert_int_equal(vfs_open(f->v, P "d/old", O_WRONLY | O_TRUNC, &h2), 0);
	assert_false(exists(f->st, C, "d/new"));

	assert_int_equal(vfs_getattr(f->v, P "d/new", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(vfs_getattr(f->v, P "d/old", &st), 0);
	assert_int_equal(st.st_size, 0);

	assert_int_equal(vfs_readdir(f->v, P "d", collect, &d), 0);
	assert_int_equal(d.n, 4);
	e = find(&d, "new");
	assert_non_null(e);
	assert_int_equal(e->st.st_size, 5);
	e = find(&d, "old");
	assert_non_null(e);
	assert_int_equal(e->st.st_size, 0);

	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(vfs_release(h2), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/new", &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(vfs_getattr(f->v, P "d/old", &st), 0);
	assert_int_equal(st.st_size, 0);
	free(d.e);
}

/* ---- directories ---- */

static void test_mkdir(void **state)
{
	struct fx *f = *state;
	char buf[64];
	struct stat st;

	assert_int_equal(vfs_mkdir(f->v, P "d", 0750), 0);
	assert_true(exists(f->st, C, "d/"));
	assert_string_equal(meta_of(f->st, "d/", "mode", buf, sizeof(buf)),
			    "750");
	assert_non_null(meta_of(f->st, "d/", "mtime", buf, sizeof(buf)));
	assert_int_equal(vfs_getattr(f->v, P "d", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(vfs_mkdir(f->v, P "d/e", 0755), 0);
	assert_true(exists(f->st, C, "d/e/"));

	assert_int_equal(vfs_mkdir(f->v, P "d", 0755), -EEXIST);
	put(f->st, C, "file", "x", NULL, NULL);
	assert_int_equal(vfs_mkdir(f->v, P "file", 0755), -EEXIST);
	put(f->st, C, "impl/x", "x", NULL, NULL);
	assert_int_equal(vfs_mkdir(f->v, P "impl", 0755), -EEXIST);
	assert_int_equal(vfs_mkdir(f->v, P "no/such", 0755), -ENOENT);
	assert_int_equal(vfs_mkdir(f->v, P "file/sub", 0755), -ENOTDIR);

	assert_int_equal(vfs_mkdir(f->v, "/containers/new", 0755), 0);
	assert_int_equal(vfs_getattr(f->v, "/containers/new", &st), 0);
	assert_int_equal(vfs_mkdir(f->v, "/containers/new", 0755), -EEXIST);
	assert_int_equal(vfs_mkdir(f->v, "/restore/x", 0755), -EROFS);
	assert_int_equal(vfs_mkdir(f->v, "/x", 0755), -EROFS);
	assert_int_equal(vfs_mkdir(f->v, "/containers", 0755), -EEXIST);
}

static void test_rmdir(void **state)
{
	struct fx *f = *state;
	struct stat st;

	assert_int_equal(vfs_mkdir(f->v, P "d", 0755), 0);
	put(f->st, C, "d/x", "x", NULL, NULL);
	assert_int_equal(vfs_rmdir(f->v, P "d"), -ENOTEMPTY);
	assert_int_equal(vfs_rmdir(f->v, P "d/x"), -ENOTDIR);
	assert_int_equal(vfs_unlink(f->v, P "d/x"), 0);
	assert_int_equal(vfs_rmdir(f->v, P "d"), 0);
	assert_false(exists(f->st, C, "d/"));
	assert_int_equal(vfs_getattr(f->v, P "d", &st), -ENOENT);

	/* an implied directory vanishes with its last file: rm -r works */
	put(f->st, C, "i/y", "y", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "i", &st), 0);
	assert_int_equal(vfs_rmdir(f->v, P "i"), -ENOTEMPTY);
	assert_int_equal(vfs_unlink(f->v, P "i/y"), 0);
	assert_int_equal(vfs_getattr(f->v, P "i", &st), -ENOENT);
	assert_int_equal(vfs_rmdir(f->v, P "i"), 0);

	/* a file open for writing inside makes it non-empty */
	assert_int_equal(vfs_mkdir(f->v, P "o", 0755), 0);
	{
		struct vfs_handle *h;

		assert_int_equal(
			vfs_create(f->v, P "o/f", 0644, O_WRONLY | O_CREAT, &h),
			0);
		assert_int_equal(vfs_rmdir(f->v, P "o"), -ENOTEMPTY);
		assert_int_equal(vfs_release(h), 0);
	}

	assert_int_equal(store_create_container(f->st, "e"), 0);
	assert_int_equal(vfs_rmdir(f->v, "/containers/c"), -ENOTEMPTY);
	assert_int_equal(vfs_rmdir(f->v, "/containers/e"), 0);
	assert_int_equal(vfs_getattr(f->v, "/containers/e", &st), -ENOENT);
	assert_int_equal(vfs_rmdir(f->v, "/containers/e"), -ENOENT);
	assert_int_equal(vfs_rmdir(f->v, "/restore"), -EROFS);
	assert_int_equal(vfs_rmdir(f->v, "/restore/x"), -EROFS);
}

static void test_unlink(void **state)
{
	struct fx *f = *state;
	struct stat st;

	put(f->st, C, "f", "x", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0); /* cached */
	assert_int_equal(vfs_unlink(f->v, P "f"), 0);
	assert_false(exists(f->st, C, "f"));
	assert_int_equal(vfs_getattr(f->v, P "f", &st), -ENOENT);
	assert_int_equal(vfs_unlink(f->v, P "f"), -ENOENT);
	assert_int_equal(vfs_mkdir(f->v, P "d", 0755), 0);
	assert_int_equal(vfs_unlink(f->v, P "d"), -EISDIR);
	put(f->st, C, "i/y", "y", NULL, NULL);
	assert_int_equal(vfs_unlink(f->v, P "i"), -EISDIR);
	assert_int_equal(vfs_unlink(f->v, "/containers/c"), -EISDIR);
	assert_int_equal(vfs_unlink(f->v, "/restore/x"), -EROFS);
}

static void test_unlink_open_file_stores_nothing(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;

	assert_int_equal(
		vfs_create(f->v, P "tmp", 0644, O_WRONLY | O_CREAT, &h), 0);
	assert_int_equal(vfs_write(h, "abc", 3, 0), 3);
	assert_int_equal(vfs_unlink(f->v, P "tmp"), 0);
	assert_int_equal(vfs_getattr(f->v, P "tmp", &st), -ENOENT);
	assert_int_equal(vfs_write(h, "def", 3, 3), 3);
	/* FUSE passes no path for a file unlinked while open */
	assert_int_equal(vfs_utimens(f->v, NULL, NULL, h), 0);
	assert_int_equal(vfs_chmod(f->v, NULL, 0600, h), 0);
	assert_int_equal(vfs_truncate(f->v, NULL, 6, h), 0);
	assert_int_equal(vfs_utimens(f->v, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(vfs_truncate(f->v, NULL, 0, NULL), -ENOENT);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_false(exists(f->st, C, "tmp"));
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_COMMIT), 0);
}

/* ---- writing ---- */

static void test_write_read_roundtrip(void **state)
{
	struct fx *f = *state;
	size_t len = 100000;
	char *data = malloc(len);
	char buf[64];
	struct stat st;
	char *back;
	size_t n;
	size_t i;

	for (i = 0; i < len; i++)
		data[i] = (char)('a' + i % 23);
	assert_int_equal(write_file(f->v, P "f", data, len), 0);
	back = content(f->st, "f", &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, data, len);
	free(back);
	assert_string_equal(meta_of(f->st, "f", "mode", buf, sizeof(buf)),
			    "640");
	assert_non_null(meta_of(f->st, "f", "mtime", buf, sizeof(buf)));
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0);
	assert_int_equal(st.st_size, (off_t)len);
	assert_int_equal(st.st_mode & 07777, 0640);
	back = read_file(f->v, P "f", &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, data, len);
	free(back);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_WRITER_OPEN), 1);
	free(data);
}

static void test_write_random_offset_refused(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;

	assert_int_equal(vfs_create(f->v, P "r", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_write(h, "abc", 3, 0), 3);
	log_lines = 0;
	assert_int_equal(vfs_write(h, "x", 1, 100), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	assert_non_null(
		strstr(log_last,
		       "random write to 'c/r' at offset 100 is not supported"));
	/* the file must not be stored with a hole or cut short */
	assert_int_equal(vfs_write(h, "d", 1, 3), -EOPNOTSUPP);
	assert_int_equal(vfs_flush(h), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	assert_int_equal(vfs_release(h), 0);
	assert_false(exists(f->st, C, "r"));
	assert_int_equal(vfs_getattr(f->v, P "r", &st), -ENOENT);

	/* a first write that does not start at 0 */
	assert_int_equal(vfs_create(f->v, P "s", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_write(h, "x", 1, 4096), -EOPNOTSUPP);
	assert_int_equal(vfs_release(h), -EOPNOTSUPP);
	assert_false(exists(f->st, C, "s"));
}

static void test_write_existing_needs_truncate(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	char *back;

	put(f->st, C, "e", "original", NULL, "600");
	assert_int_equal(vfs_open(f->v, P "e", O_WRONLY, &h), 0);
	log_lines = 0;
	assert_int_equal(vfs_write(h, "new", 3, 0), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	back = content(f->st, "e", NULL);
	assert_string_equal(back, "original");
	free(back);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_WRITER_OPEN), 1);

	/* ftruncate(fd, 0) first: then it is a new file */
	assert_int_equal(vfs_open(f->v, P "e", O_RDWR, &h), 0);
	assert_int_equal(vfs_truncate(f->v, P "e", 0, h), 0);
	assert_int_equal(vfs_write(h, "new", 3, 0), 3);
	assert_int_equal(vfs_read(h, (char[4]){ 0 }, 3, 0), -EOPNOTSUPP);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	back = content(f->st, "e", NULL);
	assert_string_equal(back, "new");
	free(back);
	{
		char buf[16];

		assert_string_equal(
			meta_of(f->st, "e", "mode", buf, sizeof(buf)), "600");
	}

	/* O_RDWR without truncation reads the object */
	assert_int_equal(vfs_open(f->v, P "e", O_RDWR, &h), 0);
	{
		char buf[8] = { 0 };

		assert_int_equal(vfs_read(h, buf, sizeof(buf) - 1, 0), 3);
		assert_string_equal(buf, "new");
	}
	assert_int_equal(vfs_release(h), 0);
}

static void test_commit_failure_enospc(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;

	assert_int_equal(vfs_create(f->v, P "full", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &h),
			 0);
	assert_int_equal(vfs_write(h, "data", 4, 0), 4);
	mem_store_fail(f->mem, MEM_OP_COMMIT, 1, -ENOSPC);
	log_lines = 0;
	assert_int_equal(vfs_flush(h), -ENOSPC);
	assert_int_equal(log_lines, 1);
	assert_string_equal(log_last,
			    "cannot store 'c/full': No space left on device");
	assert_int_equal(vfs_getattr(f->v, P "full", &st), -ENOENT);
	assert_false(exists(f->st, C, "full"));
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_fsync(h, false), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(log_lines, 1);
}

static void test_write_failure_is_sticky(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;

	assert_int_equal(vfs_create(f->v, P "w", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	mem_store_fail(f->mem, MEM_OP_WRITE, 2, -EIO);
	assert_int_equal(vfs_write(h, "a", 1, 0), 1);
	assert_int_equal(vfs_write(h, "b", 1, 1), -EIO);
	assert_int_equal(vfs_write(h, "c", 1, 1), -EIO);
	assert_int_equal(vfs_fsync(h, true), -EIO);
	assert_int_equal(vfs_flush(h), -EIO);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(vfs_getattr(f->v, P "w", &st), -ENOENT);
	assert_false(exists(f->st, C, "w"));

	/* the writer cannot even be opened */
	assert_int_equal(vfs_create(f->v, P "w2", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	mem_store_fail(f->mem, MEM_OP_WRITER_OPEN, 1, -EIO);
	assert_int_equal(vfs_write(h, "a", 1, 0), -EIO);
	assert_int_equal(vfs_flush(h), -EIO);
	assert_int_equal(vfs_release(h), 0);
	assert_false(exists(f->st, C, "w2"));
}

static void test_empty_files_and_deferred_flush(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;
	char *back;

	/* touch: create, close */
	assert_int_equal(
		vfs_create(f->v, P "empty", 0644, O_WRONLY | O_CREAT, &h), 0);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_true(exists(f->st, C, "empty"));
	assert_int_equal(vfs_getattr(f->v, P "empty", &st), 0);
	assert_int_equal(st.st_size, 0);

	/* "echo hi > f": the shell closes a dup before the write */
	assert_int_equal(vfs_create(f->v, P "echo", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &h),
			 0);
	assert_int_equal(vfs_flush(h), 0);
	assert_false(exists(f->st, C, "echo"));
	assert_int_equal(vfs_write(h, "hi\n", 3, 0), 3);
	assert_int_equal(vfs_flush(h), 0);
	assert_true(exists(f->st, C, "echo"));
	/* more writes on the committed file (another dup): refused */
	assert_int_equal(vfs_write(h, "x", 1, 3), -EOPNOTSUPP);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	back = content(f->st, "echo", NULL);
	assert_string_equal(back, "hi\n");
	free(back);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_COMMIT), 2);
}

/*
 * touch f; cat f: the kernel sends release after close() returns, so the
 * read can open f before the empty file is committed. It reads empty.
 */
static void test_read_before_release_of_empty_file(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *w;
	struct vfs_handle *r;
	char buf[8];

	assert_int_equal(
		vfs_create(f->v, P "touched", 0644, O_WRONLY | O_CREAT, &w), 0);
	assert_int_equal(vfs_flush(w), 0);
	assert_false(exists(f->st, C, "touched"));
	assert_int_equal(vfs_open(f->v, P "touched", O_RDONLY, &r), 0);
	assert_int_equal(vfs_read(r, buf, sizeof(buf), 0), 0);
	assert_int_equal(vfs_release(r), 0);
	assert_int_equal(vfs_release(w), 0);
	assert_true(exists(f->st, C, "touched"));
	/* once written to, an uncommitted file is not readable as empty */
	assert_int_equal(
		vfs_create(f->v, P "busy", 0644, O_WRONLY | O_CREAT, &w), 0);
	assert_int_equal(vfs_write(w, "x", 1, 0), 1);
	assert_int_equal(vfs_open(f->v, P "busy", O_RDONLY, &r), -EBUSY);
	assert_int_equal(vfs_release(w), 0);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;

	put(f->st, C, "f", "x", NULL, NULL);
	put(f->st, C, "d/", "", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "none", O_RDONLY, &h), -ENOENT);
	assert_int_equal(vfs_open(f->v, P "none", O_WRONLY, &h), -ENOENT);
	assert_int_equal(vfs_open(f->v, P "d", O_RDONLY, &h), -EISDIR);
	assert_int_equal(vfs_open(f->v, P "d", O_WRONLY, &h), -EISDIR);
	assert_int_equal(vfs_open(f->v, "/containers/c", O_RDONLY, &h),
			 -EISDIR);
	assert_int_equal(vfs_open(f->v, "/restore/x", O_RDONLY, &h), -ENOENT);
	assert_int_equal(vfs_open(f->v, "/restore/x", O_WRONLY, &h), -EROFS);
	assert_int_equal(
		vfs_create(f->v, P "f", 0644, O_WRONLY | O_CREAT | O_EXCL, &h),
		-EEXIST);
	assert_int_equal(vfs_create(f->v, P "d", 0644, O_WRONLY | O_CREAT, &h),
			 -EISDIR);
	assert_int_equal(
		vfs_create(f->v, P "no/f", 0644, O_WRONLY | O_CREAT, &h),
		-ENOENT);
	assert_int_equal(
		vfs_create(f->v, P "f/g", 0644, O_WRONLY | O_CREAT, &h),
		-ENOTDIR);
	assert_int_equal(
		vfs_create(f->v, "/restore/f", 0644, O_WRONLY | O_CREAT, &h),
		-EROFS);
	assert_int_equal(vfs_create(f->v, "/f", 0644, O_WRONLY | O_CREAT, &h),
			 -EROFS);

	assert_int_equal(vfs_open(f->v, P "f", O_RDONLY, &h), 0);
	assert_int_equal(vfs_handle_owner(h), 0);
	vfs_handle_set_owner(h, 4242);
	assert_int_equal(vfs_handle_owner(h), 4242);
	assert_string_equal(vfs_handle_path(h), P "f");
	assert_int_equal(vfs_release(h), 0);
}

static void test_read_errors_pass_through(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	char buf[8];

	put(f->st, C, "f", "content", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "f", O_RDONLY, &h), 0);
	mem_store_fail(f->mem, MEM_OP_READ, 1, -EIO);
	assert_int_equal(vfs_read(h, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(vfs_read(h, buf, 3, 2), 3);
	assert_memory_equal(buf, "nte", 3);
	assert_int_equal(vfs_read(h, buf, sizeof(buf), 100), 0);
	assert_int_equal(vfs_write(h, "x", 1, 0), -EBADF);
	assert_int_equal(vfs_release(h), 0);
	mem_store_fail(f->mem, MEM_OP_READER_OPEN, 1, -EBADMSG);
	assert_int_equal(vfs_open(f->v, P "f", O_RDONLY, &h), -EBADMSG);
}

struct reader_arg {
	struct vfs_handle *h;
	const char *data;
	size_t len;
	unsigned seed;
	int bad;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	char buf[4096];
	int i;

	for (i = 0; i < 200; i++) {
		size_t off = (a->seed * 7919u + (unsigned)i * 104729u) %
			     (a->len - sizeof(buf));
		ssize_t got = vfs_read(a->h, buf, sizeof(buf), (off_t)off);

		if (got != (ssize_t)sizeof(buf) ||
		    memcmp(buf, a->data + off, sizeof(buf)) != 0)
			a->bad++;
	}
	return NULL;
}

static void test_concurrent_reads_one_handle(void **state)
{
	struct fx *f = *state;
	struct reader_arg a[4];
	pthread_t t[4];
	struct vfs_handle *h;
	size_t len = 300000;
	char *data = malloc(len);
	size_t i;

	for (i = 0; i < len; i++)
		data[i] = (char)(i * 31 + i / 255);
	assert_int_equal(write_file(f->v, P "big", data, len), 0);
	assert_int_equal(vfs_open(f->v, P "big", O_RDONLY, &h), 0);
	for (i = 0; i < 4; i++) {
		a[i] = (struct reader_arg){ h, data, len, (unsigned)i, 0 };
		assert_int_equal(
			pthread_create(&t[i], NULL, reader_thread, &a[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].bad, 0);
	}
	assert_int_equal(vfs_release(h), 0);
	free(data);
}

/* ---- rename ---- */

static void test_rename_uncommitted_before_write(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;
	char *back;

	put(f->st, C, "d/", "", NULL, NULL);
	put(f->st, C, "d/f", "old", NULL, NULL);
	/* rsync-like: temp name, renamed over the target before closing */
	assert_int_equal(vfs_create(f->v, P "d/.f.XyZ", 0600,
				    O_WRONLY | O_CREAT | O_EXCL, &h),
			 0);
	assert_int_equal(vfs_rename(f->v, P "d/.f.XyZ", P "d/f", 0), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/.f.XyZ", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "d/f", &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(vfs_write(h, "new data", 8, 0), 8);
	assert_int_equal(vfs_getattr(f->v, P "d/f", &st), 0);
	assert_int_equal(st.st_size, 8);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_WRITER_OPEN), 3);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_COMMIT), 3);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_RENAME), 0);
	assert_false(exists(f->st, C, "d/.f.XyZ"));
	back = content(f->st, "d/f", NULL);
	assert_string_equal(back, "new data");
	free(back);
}

static void test_rename_uncommitted_counts(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;

	/* the brief's exact case: one writer, one commit, no store rename */
	assert_int_equal(
		vfs_create(f->v, P "a.tmp", 0644, O_WRONLY | O_CREAT, &h), 0);
	assert_int_equal(vfs_rename(f->v, P "a.tmp", P "a", 0), 0);
	assert_int_equal(vfs_write(h, "x", 1, 0), 1);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_WRITER_OPEN), 1);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_COMMIT), 1);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_RENAME), 0);
	assert_true(exists(f->st, C, "a"));
	assert_false(exists(f->st, C, "a.tmp"));
}

static void test_rename_uncommitted_after_write(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;
	char *back;

	assert_int_equal(vfs_create(f->v, P "t", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_write(h, "abc", 3, 0), 3);
	assert_int_equal(vfs_rename(f->v, P "t", P "u", 0), 0);
	assert_int_equal(vfs_rename(f->v, P "u", P "v", 0), 0);
	assert_int_equal(vfs_getattr(f->v, P "t", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "v", &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(vfs_write(h, "def", 3, 3), 3);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_WRITER_OPEN), 1);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_RENAME), 1);
	assert_false(exists(f->st, C, "t"));
	assert_false(exists(f->st, C, "u"));
	back = content(f->st, "v", NULL);
	assert_string_equal(back, "abcdef");
	free(back);
}

static void test_rename_file(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char buf[64];
	char *back;

	put(f->st, C, "a", "aaa", "1300000000.000000000", "604");
	put(f->st, C, "b", "bbb", NULL, NULL);
	put(f->st, C, "d/", "", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "a", &st), 0); /* cached */

	assert_int_equal(vfs_rename(f->v, P "a", P "b", VFS_RENAME_NOREPLACE),
			 -EEXIST);
	assert_int_equal(vfs_rename(f->v, P "a", P "b", VFS_RENAME_EXCHANGE),
			 -EINVAL);
	assert_int_equal(vfs_rename(f->v, P "a", P "d", 0), -EISDIR);
	assert_int_equal(vfs_rename(f->v, P "none", P "x", 0), -ENOENT);
	assert_int_equal(vfs_rename(f->v, P "a", P "no/x", 0), -ENOENT);
	assert_int_equal(vfs_rename(f->v, P "a", P "a", 0), 0);

	assert_int_equal(vfs_rename(f->v, P "a", P "b", 0), 0);
	assert_int_equal(vfs_getattr(f->v, P "a", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "b", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1300000000);
	assert_int_equal(st.st_mode & 07777, 0604);
	back = content(f->st, "b", NULL);
	assert_string_equal(back, "aaa");
	free(back);
	assert_string_equal(meta_of(f->st, "b", "mode", buf, sizeof(buf)),
			    "604");
	assert_int_equal(vfs_rename(f->v, P "b", P "d/b", 0), 0);
	assert_true(exists(f->st, C, "d/b"));

	/* no rename in the store: copied, metadata and all */
	mem_store_fail(f->mem, MEM_OP_RENAME, 1, -EXDEV);
	assert_int_equal(vfs_rename(f->v, P "d/b", P "c2", 0), 0);
	assert_false(exists(f->st, C, "d/b"));
	back = content(f->st, "c2", NULL);
	assert_string_equal(back, "aaa");
	free(back);
	assert_string_equal(meta_of(f->st, "c2", "mtime", buf, sizeof(buf)),
			    "1300000000.000000000");

	/* across containers */
	assert_int_equal(store_create_container(f->st, "other"), 0);
	assert_int_equal(vfs_rename(f->v, P "c2", "/containers/other/z", 0), 0);
	assert_int_equal(vfs_getattr(f->v, "/containers/other/z", &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_false(exists(f->st, C, "c2"));

	/* containers and the read-only tops */
	assert_int_equal(
		vfs_rename(f->v, "/containers/other", "/containers/o2", 0),
		-EXDEV);
	assert_int_equal(
		vfs_rename(f->v, "/containers/other/z", "/restore/z", 0),
		-EROFS);
	assert_int_equal(vfs_rename(f->v, "/restore/a", "/restore/b", 0),
			 -EROFS);
}

static void test_rename_dir(void **state)
{
	struct fx *f = *state;
	struct dirlist d = { 0 };
	struct stat st;
	char buf[64];
	struct vfs_handle *h;

	assert_int_equal(vfs_mkdir(f->v, P "d", 0701), 0);
	assert_int_equal(vfs_mkdir(f->v, P "d/sub", 0755), 0);
	put(f->st, C, "d/a", "A", NULL, NULL);
	put(f->st, C, "d/sub/b", "B", NULL, NULL);
	put(f->st, C, "d/impl/c", "C", NULL, NULL);
	put(f->st, C, "d2", "x", NULL, NULL);
	assert_int_equal(
		vfs_create(f->v, P "d/sub/open", 0644, O_WRONLY | O_CREAT, &h),
		0);

	assert_int_equal(vfs_rename(f->v, P "d", P "d/sub/in", 0), -EINVAL);
	assert_int_equal(vfs_rename(f->v, P "d", P "d2", 0), -ENOTDIR);
	assert_int_equal(vfs_mkdir(f->v, P "full", 0755), 0);
	put(f->st, C, "full/x", "x", NULL, NULL);
	assert_int_equal(vfs_rename(f->v, P "d", P "full", 0), -ENOTEMPTY);
	assert_int_equal(vfs_mkdir(f->v, P "empty", 0755), 0);
	assert_int_equal(
		vfs_rename(f->v, P "d", P "empty", VFS_RENAME_NOREPLACE),
		-EEXIST);

	assert_int_equal(vfs_rename(f->v, P "d", P "e", 0), 0);
	assert_int_equal(vfs_getattr(f->v, P "d", &st), -ENOENT);
	assert_false(exists(f->st, C, "d/"));
	assert_false(exists(f->st, C, "d/a"));
	assert_false(exists(f->st, C, "d/sub/"));
	assert_true(exists(f->st, C, "e/"));
	assert_true(exists(f->st, C, "e/a"));
	assert_true(exists(f->st, C, "e/sub/"));
	assert_true(exists(f->st, C, "e/sub/b"));
	assert_true(exists(f->st, C, "e/impl/c"));
	assert_string_equal(meta_of(f->st, "e/", "mode", buf, sizeof(buf)),
			    "701");
	assert_int_equal(vfs_readdir(f->v, P "e/sub", collect, &d), 0);
	assert_int_equal(d.n, 4);
	assert_non_null(find(&d, "b"));
	assert_non_null(find(&d, "open"));
	/* the open file follows the move */
	assert_int_equal(vfs_write(h, "o", 1, 0), 1);
	assert_int_equal(vfs_release(h), 0);
	assert_true(exists(f->st, C, "e/sub/open"));
	assert_false(exists(f->st, C, "d/sub/open"));

	/* onto an empty directory */
	assert_int_equal(vfs_rename(f->v, P "e", P "empty", 0), 0);
	assert_true(exists(f->st, C, "empty/sub/b"));
	assert_int_equal(vfs_getattr(f->v, P "e", &st), -ENOENT);
	free(d.e);
}

/* ---- metadata ---- */

static void test_utimens_chmod_closed_file(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1234567890, 42 } };
	struct stat st;
	char buf[64];

	put(f->st, C, "f", "x", NULL, NULL);
	{
		struct obj_info oi;

		obj_info_init(&oi);
		assert_int_equal(store_head(f->st, C, "f", &oi), 0);
		assert_int_equal(meta_set(&oi.meta, "trovefs-other", "keep"),
				 0);
		assert_int_equal(store_set_meta(f->st, C, "f", &oi.meta), 0);
		obj_info_release(&oi);
	}
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0); /* cached */
	assert_int_equal(vfs_utimens(f->v, P "f", ts, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	assert_int_equal(st.st_mtim.tv_nsec, 42);
	assert_string_equal(meta_of(f->st, "f", "mtime", buf, sizeof(buf)),
			    "1234567890.000000042");
	assert_int_equal(vfs_chmod(f->v, P "f", S_IFREG | 0751, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0751);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	assert_string_equal(
		meta_of(f->st, "f", "trovefs-other", buf, sizeof(buf)), "keep");
	ts[1].tv_nsec = UTIME_OMIT;
	assert_int_equal(vfs_utimens(f->v, P "f", ts, NULL), 0);
	ts[1].tv_nsec = 1000000000L;
	assert_int_equal(vfs_utimens(f->v, P "f", ts, NULL), -EINVAL);
	assert_int_equal(vfs_utimens(f->v, P "none", NULL, NULL), -ENOENT);
	assert_int_equal(vfs_chmod(f->v, P "none", 0644, NULL), -ENOENT);
}

static void test_utimens_chmod_open_file(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1111111111, 5 } };
	struct vfs_handle *h;
	struct stat st;
	char buf[64];

	assert_int_equal(vfs_create(f->v, P "f", 0600, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_write(h, "abc", 3, 0), 3);
	assert_int_equal(vfs_utimens(f->v, P "f", ts, h), 0);
	assert_int_equal(vfs_chmod(f->v, P "f", 0640, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1111111111);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_SET_META), 0);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_string_equal(meta_of(f->st, "f", "mtime", buf, sizeof(buf)),
			    "1111111111.000000005");
	assert_string_equal(meta_of(f->st, "f", "mode", buf, sizeof(buf)),
			    "640");
}

static void test_utimens_dirs(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000000000, 0 } };
	struct stat st;

	assert_int_equal(vfs_mkdir(f->v, P "d", 0755), 0);
	assert_int_equal(vfs_utimens(f->v, P "d", ts, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "d", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_int_equal(vfs_chmod(f->v, P "d", 0700, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "d", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	put(f->st, C, "i/x", "x", NULL, NULL);
	assert_int_equal(vfs_utimens(f->v, P "i", ts, NULL), 0);
	assert_int_equal(vfs_utimens(f->v, "/containers/c", ts, NULL), 0);
	assert_int_equal(vfs_utimens(f->v, "/containers", ts, NULL), 0);
	assert_int_equal(vfs_utimens(f->v, "/containers/zz", ts, NULL),
			 -ENOENT);
	assert_int_equal(vfs_utimens(f->v, "/restore", ts, NULL), -EROFS);
	assert_int_equal(vfs_utimens(f->v, "/", ts, NULL), -EROFS);
	assert_int_equal(vfs_chmod(f->v, "/restore/x", 0644, NULL), -EROFS);
}

/* ---- truncate ---- */

static void test_truncate(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;
	char buf[64];
	unsigned opens;

	put(f->st, C, "f", "content", "1000000000", "600");
	opens = mem_store_calls(f->mem, MEM_OP_WRITER_OPEN);
	assert_int_equal(vfs_truncate(f->v, P "f", 7, NULL), 0);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_WRITER_OPEN), opens);
	log_lines = 0;
	assert_int_equal(vfs_truncate(f->v, P "f", 3, NULL), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	assert_int_equal(vfs_truncate(f->v, P "f", 0, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_mtim.tv_sec > 1000000000);
	assert_string_equal(meta_of(f->st, "f", "mode", buf, sizeof(buf)),
			    "600");
	assert_int_equal(vfs_truncate(f->v, P "none", 0, NULL), -ENOENT);
	assert_int_equal(vfs_mkdir(f->v, P "d", 0755), 0);
	assert_int_equal(vfs_truncate(f->v, P "d", 0, NULL), -EISDIR);
	assert_int_equal(vfs_truncate(f->v, "/restore/x", 0, NULL), -EROFS);

	/* on a write handle: back to empty */
	assert_int_equal(vfs_create(f->v, P "w", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_truncate(f->v, P "w", 0, h), 0);
	assert_int_equal(vfs_write(h, "abcdef", 6, 0), 6);
	assert_int_equal(vfs_truncate(f->v, P "w", 6, h), 0);
	assert_int_equal(vfs_truncate(f->v, P "w", 2, h), -EOPNOTSUPP);
	assert_int_equal(vfs_truncate(f->v, P "w", 0, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "w", &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(vfs_write(h, "xy", 2, 0), 2);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	{
		char *back = content(f->st, "w", NULL);

		assert_string_equal(back, "xy");
		free(back);
	}
}

/* ---- providers, statfs ---- */

static int prov_getattr(void *p, const char *rel, struct stat *st)
{
	(void)p;
	memset(st, 0, sizeof(*st));
	if (strcmp(rel, "") == 0) {
		st->st_mode = S_IFDIR | 0555;
		return 0;
	}
	if (strcmp(rel, "ds/file") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_size = 5;
		return 0;
	}
	if (strcmp(rel, "ds/link") == 0) {
		st->st_mode = S_IFLNK | 0777;
		return 0;
	}
	return -ENOENT;
}

static int prov_readdir(void *p, const char *rel, vfs_fill_fn *fill, void *arg)
{
	(void)p;
	if (strcmp(rel, "") == 0)
		return fill(arg, "ds", NULL) ? 0 : 0;
	return -ENOENT;
}

static int prov_open(void *p, const char *rel, int flags, void **fh)
{
	(void)p;
	if (strcmp(rel, "ds/file") != 0)
		return -ENOENT;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	*fh = (void *)0x1234;
	return 0;
}

static ssize_t prov_read(void *p, void *fh, char *buf, size_t size, off_t off)
{
	(void)p;
	assert_ptr_equal(fh, (void *)0x1234);
	if (off >= 5)
		return 0;
	if (size > 5 - (size_t)off)
		size = 5 - (size_t)off;
	memcpy(buf, "hello" + off, size);
	return (ssize_t)size;
}

static int prov_released;

static int prov_release(void *p, void *fh)
{
	(void)p;
	(void)fh;
	prov_released++;
	return 0;
}

static int prov_readlink(void *p, const char *rel, char *buf, size_t size)
{
	(void)p;
	if (strcmp(rel, "ds/link") != 0)
		return -EINVAL;
	snprintf(buf, size, "file");
	return 0;
}

static const struct vfs_provider_ops prov_ops = {
	.getattr = prov_getattr,
	.readdir = prov_readdir,
	.open = prov_open,
	.read = prov_read,
	.release = prov_release,
	.readlink = prov_readlink,
};

static void test_providers(void **state)
{
	struct fx *f = *state;
	struct dirlist d = { 0 };
	struct vfs_handle *h;
	struct stat st;
	char buf[16] = { 0 };

	assert_int_equal(
		vfs_register_provider(f->v, "containers", &prov_ops, NULL),
		-EINVAL);
	assert_int_equal(vfs_register_provider(f->v, "bogus", &prov_ops, NULL),
			 -EINVAL);
	assert_int_equal(
		vfs_register_provider(f->v, "restore", &prov_ops, NULL), 0);
	assert_int_equal(
		vfs_register_provider(f->v, "restore", &prov_ops, NULL),
		-EEXIST);
	assert_int_equal(vfs_getattr(f->v, "/restore", &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0555);
	assert_int_equal(vfs_getattr(f->v, "/restore/ds/file", &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(vfs_getattr(f->v, "/restore/ds/none", &st), -ENOENT);
	assert_int_equal(vfs_readdir(f->v, "/restore", collect, &d), 0);
	assert_int_equal(d.n, 3);
	assert_non_null(find(&d, "ds"));
	assert_int_equal(vfs_open(f->v, "/restore/ds/file", O_RDONLY, &h), 0);
	assert_int_equal(vfs_read(h, buf, sizeof(buf), 1), 4);
	assert_string_equal(buf, "ello");
	assert_int_equal(vfs_write(h, "x", 1, 0), -EROFS);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(prov_released, 1);
	assert_int_equal(vfs_open(f->v, "/restore/ds/file", O_WRONLY, &h),
			 -EACCES);
	assert_int_equal(
		vfs_readlink(f->v, "/restore/ds/link", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "file");
	assert_int_equal(vfs_readlink(f->v, P "x", buf, sizeof(buf)), -EINVAL);
	/* ops left NULL */
	assert_int_equal(vfs_mkdir(f->v, "/restore/x", 0755), -EROFS);
	assert_int_equal(vfs_rmdir(f->v, "/restore/ds"), -EROFS);
	assert_int_equal(vfs_unlink(f->v, "/restore/ds/file"), -EROFS);
	assert_int_equal(vfs_truncate(f->v, "/restore/ds/file", 0, NULL),
			 -EROFS);
	assert_int_equal(vfs_readdir(f->v, "/snapshots", collect, &d), 0);
	assert_int_equal(vfs_readlink(f->v, "/snapshots/x", buf, sizeof(buf)),
			 -ENOENT);
	free(d.e);
}

static void test_statfs(void **state)
{
	struct fx *f = *state;
	struct statvfs sv;

	put(f->st, C, "f", "0123456789", NULL, NULL);
	assert_int_equal(vfs_statfs(f->v, "/", &sv), 0);
	assert_int_equal(sv.f_bsize, 1 << 20);
	assert_int_equal(sv.f_frsize, 4096);
	assert_true((uint64_t)sv.f_blocks * 4096 == (1ull << 50));
	assert_true(sv.f_bavail > 0 && sv.f_bavail < sv.f_blocks);
	assert_int_equal(sv.f_namemax, 255);
	mem_store_fail(f->mem, MEM_OP_STATFS, 1, -EIO);
	assert_int_equal(vfs_statfs(f->v, "/", &sv), -EIO);
}

static void test_free_aborts_uncommitted(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct vfs_conf vc;

	assert_int_equal(vfs_create(f->v, P "f", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_write(h, "abc", 3, 0), 3);
	vfs_free(f->v);
	assert_false(exists(f->st, C, "f"));
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_COMMIT), 0);
	vconf(&vc, 1);
	assert_int_equal(vfs_new(&vc, f->st, &f->v), 0);
}

static void test_cache_off_sees_store_changes(void **state)
{
	struct fx *f = *state;
	struct vfs_conf vc;
	struct vfs *v;
	struct stat st;

	vconf(&vc, 0);
	assert_int_equal(vfs_new(&vc, f->st, &v), 0);
	put(f->st, C, "f", "x", NULL, NULL);
	assert_int_equal(vfs_getattr(v, P "f", &st), 0);
	assert_int_equal(store_del(f->st, C, "f"), 0);
	assert_int_equal(vfs_getattr(v, P "f", &st), -ENOENT);
	vfs_free(v);
	/* with a cache, a change behind its back shows only after the TTL */
	put(f->st, C, "g", "x", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "g", &st), 0);
	assert_int_equal(store_del(f->st, C, "g"), 0);
	assert_int_equal(vfs_getattr(f->v, P "g", &st), 0);
}

/* ---- over the codec ---- */

static void test_codec_roundtrip_and_rename(void **state)
{
	struct fx *f = *state;
	size_t len = 50000;
	char *data = malloc(len);
	struct stat st;
	char *back;
	size_t n;
	size_t i;

	for (i = 0; i < len; i++)
		data[i] = (char)(i % 251);
	assert_int_equal(write_file(f->v, P "f", data, len), 0);
	assert_int_equal(vfs_getattr(f->v, P "f", &st), 0);
	assert_int_equal(st.st_size, (off_t)len);
	back = read_file(f->v, P "f", &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, data, len);
	free(back);
	assert_int_equal(vfs_rename(f->v, P "f", P "g", 0), 0);
	back = read_file(f->v, P "g", &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, data, len);
	free(back);
	assert_int_equal(vfs_truncate(f->v, P "g", 0, NULL), 0);
	assert_int_equal(vfs_getattr(f->v, P "g", &st), 0);
	assert_int_equal(st.st_size, 0);
	back = read_file(f->v, P "g", &n);
	assert_int_equal(n, 0);
	free(back);
	free(data);
}

static void test_codec_mkdir_rmdir(void **state)
{
	struct fx *f = *state;
	struct stat st;

	assert_int_equal(vfs_mkdir(f->v, P "d", 0700), 0);
	assert_int_equal(vfs_getattr(f->v, P "d", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(write_file(f->v, P "d/x", "x", 1), 0);
	assert_int_equal(vfs_rename(f->v, P "d", P "e", 0), 0);
	assert_int_equal(vfs_unlink(f->v, P "e/x"), 0);
	assert_int_equal(vfs_rmdir(f->v, P "e"), 0);
	assert_int_equal(vfs_getattr(f->v, P "e", &st), -ENOENT);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TC(fn) cmocka_unit_test_setup_teardown(fn, setup_codec, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_getattr_root_and_tops),
		T(test_getattr_file_from_meta),
		T(test_getattr_mtime_forms),
		T(test_getattr_dirs),
		T(test_getattr_names),
		T(test_readdir_root_and_containers),
		T(test_readdir_dir_contents),
		T(test_readdir_many_entries_and_stop),
		T(test_readdir_shows_open_files),
		T(test_mkdir),
		T(test_rmdir),
		T(test_unlink),
		T(test_unlink_open_file_stores_nothing),
		T(test_write_read_roundtrip),
		T(test_write_random_offset_refused),
		T(test_write_existing_needs_truncate),
		T(test_commit_failure_enospc),
		T(test_write_failure_is_sticky),
		T(test_empty_files_and_deferred_flush),
		T(test_read_before_release_of_empty_file),
		T(test_open_errors),
		T(test_read_errors_pass_through),
		T(test_concurrent_reads_one_handle),
		T(test_rename_uncommitted_before_write),
		T(test_rename_uncommitted_counts),
		T(test_rename_uncommitted_after_write),
		T(test_rename_file),
		T(test_rename_dir),
		T(test_utimens_chmod_closed_file),
		T(test_utimens_chmod_open_file),
		T(test_utimens_dirs),
		T(test_truncate),
		T(test_providers),
		T(test_statfs),
		T(test_free_aborts_uncommitted),
		T(test_cache_off_sees_store_changes),
		TC(test_codec_roundtrip_and_rename),
		TC(test_codec_mkdir_rmdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
