/*
 * test_codec_store.c - unit tests of the codec layer (backends/codec_*.c)
 * over the mem store: tfs1 and Trove-format round trips, plain sizes in
 * head and list, foreign objects, wrong keys, every kind of corruption
 * and truncation, and the inner store's failures. Read patterns (random,
 * reordered, read-ahead) are in test_codec_reads.c; the fixture in
 * codec_fixture.h. Most tests use 4 KiB frames so that small objects
 * have many frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "../../backends/frame.h"
#include "codec_fixture.h"

/* Reads the whole object sequentially in @chunk reads; must equal @data. */
static void check_read_all(struct store *st, const char *key,
			   const uint8_t *data, size_t len, size_t chunk)
{
	struct store_reader *r = NULL;
	uint8_t *buf = malloc(chunk);
	uint64_t off = 0;
	size_t got = 1;

	assert_non_null(buf);
	assert_int_equal(store_reader_open(st, C, key, &r), 0);
	assert_true(r->size == len);
	while (off < len) {
		assert_int_equal(store_reader_read(r, off, buf, chunk, &got),
				 0);
		assert_true(got > 0);
		assert_true(got == (len - off < chunk ? len - off : chunk));
		assert_memory_equal(buf, data + off, got);
		off += got;
	}
	assert_int_equal(store_reader_read(r, len, buf, chunk, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(store_reader_read(r, len + 5, buf, chunk, &got), 0);
	assert_int_equal(got, 0);
	store_reader_close(r);
	free(buf);
}

/*
 * The error of opening @key and reading its first bytes: a tfs1 object's
 * key and layout are checked by its first read, an empty one's at open.
 */
static int first_read_err(struct store *st, const char *key)
{
	struct store_reader *r = NULL;
	uint8_t b[16];
	size_t got = 0;
	int err;

	err = store_reader_open(st, C, key, &r);
	if (err)
		return err;
	err = store_reader_read(r, 0, b, sizeof(b), &got);
	store_reader_close(r);
	return err;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The stored bytes of a tfs1 object: its frames' offsets and lengths. */
static uint64_t frame_walk(struct store *mem, const char *key, uint64_t *offs,
			   uint32_t *lens, uint64_t max)
{
	size_t size = 0;
	const uint8_t *p = mem_store_get(mem, C, key, &size);
	uint64_t n;
	uint64_t off = FRAME_HEADER_SIZE;
	uint64_t i;

	assert_non_null(p);
	n = (uint64_t)be32(p + size - FRAME_FOOTER_SIZE + 8) << 32 |
	    be32(p + size - FRAME_FOOTER_SIZE + 12);
	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		offs[i] = off;
		lens[i] = be32(p + off + 4); /* stored length field */
		off += lens[i];
	}
	return n;
}

static void assert_meta_eq(const struct meta *m, const char *k, const char *v)
{
	const char *got = meta_get(m, k);

	assert_non_null(got);
	assert_string_equal(got, v);
}

/* ---- round trips ---- */

static void round_trip(struct fx *f, const char *key, const uint8_t *data,
		       size_t len, size_t chunk)
{
	struct obj_info oi;
	char size_s[32];

	assert_int_equal(put(f->st, key, NULL, data, len, chunk), 0);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, C, key, &oi), 0);
	assert_true(oi.size == len);
	snprintf(size_s, sizeof(size_s), "%zu", len);
	assert_meta_eq(&oi.meta, "trovefs-format", "tfs1");
	assert_meta_eq(&oi.meta, "trovefs-size", size_s);
	assert_meta_eq(&oi.meta, "mtime", "1700000000.000000000");
	assert_int_equal(strlen(meta_get(&oi.meta, "trovefs-check")), 64);
	obj_info_release(&oi);
	check_read_all(f->st, key, data, len, 5000);
	check_read_all(f->st, key, data, len, 128 * 1024);
}

static void test_codec_tfs1_round_trips_sizes(void **state)
{
	struct fx *f = *state;
	const size_t sizes[] = { 0,
				 1,
				 FS - 1,
				 FS,
				 FS + 1,
				 FS * 7 / 2,
				 FS * CODEC_INFLIGHT_MAX * 3 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *d = random_data(sizes[i]);
		uint8_t *t = text_data(sizes[i]);

		round_trip(f, "obj", d, sizes[i], 1000);
		round_trip(f, "txt", t, sizes[i], 3 * FS + 17);
		free(d);
		free(t);
	}
	assert_int_equal(g_nlogs, 0);
}

static void test_codec_tfs1_round_trips_5mib(void **state)
{
	struct fx *f = *state;
	size_t len = 5u << 20;
	uint8_t *d = random_data(len);
	uint8_t *t = text_data(len);
	size_t stored = 0;

	round_trip(f, "rand", d, len, 128 * 1024);
	round_trip(f, "text", t, len, 65536 + 3);
	/* compressible data is stored compressed */
	assert_non_null(mem_store_get(f->mem, C, "text", &stored));
	assert_true(stored < len / 3);
	assert_non_null(mem_store_get(f->mem, C, "rand", &stored));
	assert_true(stored > len);
	free(d);
	free(t);
}

static void test_codec_tfs1_round_trips_other_settings(void **state)
{
	struct codec_conf conf = default_conf();
	size_t len = (1u << 20) + 12345;
	uint8_t *t = text_data(len);
	int levels[] = { 0, 3 };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct fx f;
		size_t stored = 0;

		conf.compress_level = levels[i];
		conf.frame_size = 65536;
		conf.threads = i + 1;
		fx_open(&f, &conf);
		round_trip(&f, "obj", t, len, 100000);
		assert_non_null(mem_store_get(f.mem, C, "obj", &stored));
		if (levels[i] == 0)
			assert_true(stored > len);
		else
			assert_true(stored < len / 3);
		store_destroy(f.st);
	}
	/* the default frame size */
	conf.frame_size = 0;
	{
		struct fx f;

		fx_open(&f, &conf);
		round_trip(&f, "obj", t, len, 100000);
		store_destroy(f.st);
	}
	free(t);
}

/* trovefs-check is the SHA-256 of the stored frames' tags. */
static void test_codec_tfs1_check_is_sha256_of_tags(void **state)
{
	struct fx *f = *state;
	size_t len = FS * 5 + 99;
	uint8_t *d = random_data(len);
	uint64_t offs[16];
	uint32_t lens[16];
	uint8_t md[32];
	char hex[65];
	unsigned mdlen = 0;
	struct obj_info oi;
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	const uint8_t *p;
	size_t size = 0;
	uint64_t n;
	uint64_t i;

	assert_int_equal(put(f->st, "obj", NULL, d, len, 777), 0);
	n = frame_walk(f->mem, "obj", offs, lens, 16);
	assert_true(n == 6);
	p = mem_store_get(f->mem, C, "obj", &size);
	assert_int_equal(EVP_DigestInit_ex(x, EVP_sha256(), NULL), 1);
	for (i = 0; i < n; i++)
		EVP_DigestUpdate(x, p + offs[i] + lens[i] - FRAME_TAG_SIZE,
				 FRAME_TAG_SIZE);
	EVP_DigestFinal_ex(x, md, &mdlen);
	EVP_MD_CTX_free(x);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, C, "obj", &oi), 0);
	assert_meta_eq(&oi.meta, "trovefs-check", hex);
	obj_info_release(&oi);
	free(d);
}

/* Frames reach the inner store while writing, not all at commit. */
static void test_codec_tfs1_writer_streams_frames(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_data(FS);
	struct store_writer *w = NULL;
	struct meta m;
	unsigned before = mem_store_calls(f->mem, MEM_OP_WRITE);
	unsigned n = 64;
	unsigned i;

	assert_int_equal(store_writer_open(f->st, C, "obj", NULL, &w), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(store_writer_write(w, d, FS), 0);
	/* header + every frame but those still in the window */
	assert_true(mem_store_calls(f->mem, MEM_OP_WRITE) - before >=
		    1 + n - CODEC_INFLIGHT_MAX);
	meta_init(&m);
	assert_int_equal(store_writer_commit(w, &m), 0);
	free(d);
}

/* ---- Trove format ---- */

static void test_codec_trove_round_trips(void **state)
{
	struct fx *f = *state;
	const size_t sizes[] = { 0, 1, 100000, 1u << 20 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *d = random_data(sizes[i]);
		uint8_t *t = text_data(sizes[i]);
		struct obj_info oi;
		const uint8_t *p;
		size_t stored = 0;

		assert_int_equal(
			put(f->st, "rand", "trove-sha256", d, sizes[i], 7000),
			0);
		assert_int_equal(
			put(f->st, "text", "trove-sha256", t, sizes[i], 65536),
			0);
		obj_info_init(&oi);
		assert_int_equal(store_head(f->st, C, "text", &oi), 0);
		assert_true(oi.size == sizes[i]);
		assert_meta_eq(&oi.meta, "trovefs-format", "trove-sha256");
		assert_null(meta_get(&oi.meta, "trovefs-check"));
		assert_meta_eq(&oi.meta, "mtime", "1700000000.000000000");
		obj_info_release(&oi);
		p = mem_store_get(f->mem, C, "text", &stored);
		assert_non_null(p);
		assert_memory_equal(p, "Salted__", 8);
		check_read_all(f->st, "rand", d, sizes[i], 5000);
		check_read_all(f->st, "text", t, sizes[i], 128 * 1024);
		free(d);
		free(t);
	}
	assert_int_equal(g_nlogs, 0);
}

static const char *format_for(void *arg, const char *container)
{
	(void)arg;
	return strcmp(container, "t") ? NULL : "trove-sha256";
}

static void test_codec_format_chosen_by_opts_container_default(void **state)
{
	struct codec_conf conf = default_conf();
	uint8_t data[] = "hello";
	struct store_wopts o = { .format = "tfs1" };
	struct store_writer *w = NULL;
	struct obj_info oi;
	struct fx f;

	(void)state;
	conf.format_for = format_for;
	fx_open(&f, &conf);
	assert_int_equal(store_create_container(f.st, "t"), 0);
	obj_info_init(&oi);
	/* container "t" says trove */
	assert_int_equal(store_writer_open(f.st, "t", "k", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, data, 5), 0);
	assert_int_equal(store_writer_commit(w, NULL), 0);
	assert_int_equal(store_head(f.st, "t", "k", &oi), 0);
	assert_meta_eq(&oi.meta, "trovefs-format", "trove-sha256");
	obj_info_release(&oi);
	/* opts beat the container */
	assert_int_equal(store_writer_open(f.st, "t", "k2", &o, &w), 0);
	assert_int_equal(store_writer_commit(w, NULL), 0);
	assert_int_equal(store_head(f.st, "t", "k2", &oi), 0);
	assert_meta_eq(&oi.meta, "trovefs-format", "tfs1");
	obj_info_release(&oi);
	/* others get the default */
	assert_int_equal(store_writer_open(f.st, C, "k", NULL, &w), 0);
	assert_int_equal(store_writer_commit(w, NULL), 0);
	assert_int_equal(store_head(f.st, C, "k", &oi), 0);
	assert_meta_eq(&oi.meta, "trovefs-format", "tfs1");
	obj_info_release(&oi);
	o.format = "zip";
	assert_int_equal(store_writer_open(f.st, C, "k", &o, &w), -EINVAL);
	store_destroy(f.st);

	conf.format_for = NULL;
	conf.default_format = "trove-sha256";
	fx_open(&f, &conf);
	assert_int_equal(store_writer_open(f.st, C, "k", NULL, &w), 0);
	assert_int_equal(store_writer_commit(w, NULL), 0);
	assert_int_equal(store_head(f.st, C, "k", &oi), 0);
	assert_meta_eq(&oi.meta, "trovefs-format", "trove-sha256");
	assert_true(oi.size == 0);
	obj_info_release(&oi);
	store_destroy(f.st);
}

/* ---- list, head, foreign objects, pass-through ops ---- */

struct listed {
	char names[8][32];
	uint64_t sizes[8];
	bool partial[8];
	int n;
};

static int list_cb(void *arg, const struct obj_info *oi)
{
	struct listed *l = arg;

	assert_true(l->n < 8);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", oi->name);
	l->sizes[l->n] = oi->size;
	l->partial[l->n] = oi->meta_partial;
	l->n++;
	return 0;
}

static void put_raw(struct store *mem, const char *key, const void *data,
		    size_t len, const struct meta *m)
{
	struct store_writer *w = NULL;

	assert_int_equal(store_writer_open(mem, C, key, NULL, &w), 0);
	assert_int_equal(store_writer_write(w, data, len), 0);
	assert_int_equal(store_writer_commit(w, m), 0);
}

static void test_codec_list_and_head_show_plain_sizes(void **state)
{
	struct fx *f = *state;
	uint8_t *t = text_data(30000);
	struct listed l;
	struct meta m;
	struct obj_info oi;

	meta_init(&m);
	assert_int_equal(meta_set(&m, "color", "red"), 0);
	assert_int_equal(put(f->st, "a", NULL, t, 30000, 999), 0);
	assert_int_equal(put(f->st, "b", "trove-sha256", t, 20000, 999), 0);
	put_raw(f->mem, "c", "foreign bytes", 13, &m);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_list(f->st, C, "", 0, list_cb, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.names[0], "a");
	assert_true(l.sizes[0] == 30000);
	assert_string_equal(l.names[1], "b");
	assert_true(l.sizes[1] == 20000);
	assert_string_equal(l.names[2], "c");
	assert_true(l.sizes[2] == 13);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, C, "b", &oi), 0);
	assert_true(oi.size == 20000);
	obj_info_release(&oi);
	assert_int_equal(store_head(f->st, C, "nope", &oi), -ENOENT);
	assert_int_equal(store_list(f->st, "nope", "", 0, list_cb, &l),
			 -ENOENT);
	meta_release(&m);
	free(t);
}

static void test_codec_foreign_object_passes_through(void **state)
{
	struct fx *f = *state;
	const char raw[] = "written by some other tool";
	struct store_reader *r = NULL;
	struct obj_info oi;
	struct meta m;
	char buf[64];
	size_t got = 0;

	meta_init(&m);
	assert_int_equal(meta_set(&m, "mtime", "5.000000000"), 0);
	put_raw(f->mem, "raw", raw, sizeof(raw), &m);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, C, "raw", &oi), 0);
	assert_true(oi.size == sizeof(raw));
	assert_meta_eq(&oi.meta, "mtime", "5.000000000");
	obj_info_release(&oi);
	assert_int_equal(store_reader_open(f->st, C, "raw", &r), 0);
	assert_true(r->size == sizeof(raw));
	assert_int_equal(store_reader_read(r, 9, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, sizeof(raw) - 9);
	assert_memory_equal(buf, raw + 9, got);
	store_reader_close(r);
	meta_release(&m);
	assert_int_equal(g_nlogs, 0);
}

/*
 * The open takes the metadata from the inner reader's own open, never
 * from a head() of its own: a head could see a newer version than the
 * reader (an overwrite in between), and its trovefs-size or format would
 * then be applied to the other version's bytes. The info it hands up is
 * what head() says: the plain size.
 */
static void test_codec_reader_open_takes_meta_from_the_reader(void **state)
{
	struct fx *f = *state;
	const char raw[] = "foreign bytes";
	size_t len = 5 * FS + 7;
	uint8_t *d = random_data(len);
	struct store_reader *r = NULL;
	struct obj_info oi;
	unsigned heads;

	assert_int_equal(put(f->st, "obj", NULL, d, len, FS), 0);
	assert_int_equal(put(f->st, "trove", "trove-sha256", d, len, FS), 0);
	put_raw(f->mem, "raw", raw, sizeof(raw), NULL);
	heads = mem_store_calls(f->mem, MEM_OP_HEAD);
	assert_int_equal(store_reader_open_info(f->st, C, "obj", &oi, &r), 0);
	assert_true(oi.size == len);
	assert_true(r->size == len);
	assert_meta_eq(&oi.meta, "trovefs-format", "tfs1");
	obj_info_release(&oi);
	store_reader_close(r);
	assert_int_equal(store_reader_open_info(f->st, C, "trove", &oi, &r), 0);
	assert_true(oi.size == len);
	assert_meta_eq(&oi.meta, "trovefs-format", "trove-sha256");
	obj_info_release(&oi);
	store_reader_close(r);
	assert_int_equal(store_reader_open_info(f->st, C, "raw", &oi, &r), 0);
	assert_true(oi.size == sizeof(raw));
	assert_null(meta_get(&oi.meta, "trovefs-format"));
	obj_info_release(&oi);
	store_reader_close(r);
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	store_reader_close(r);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_HEAD), heads);
	/* a failed open leaves @oi alone and closes the inner reader */
	assert_int_equal(store_reader_open_info(f->st, C, "nope", &oi, &r),
			 -ENOENT);
	assert_int_equal(g_nlogs, 0);
	free(d);
}

/* A store whose list marks every entry meta_partial (like Swift's). */
struct partial_ctx {
	store_list_fn *fn;
	void *arg;
};

static int partial_entry(void *arg, const struct obj_info *oi)
{
	struct partial_ctx *pc = arg;
	struct obj_info copy = *oi;

	copy.meta_partial = true;
	return pc->fn(pc->arg, &copy);
}

static int partial_list(struct store *st, const char *c, const char *prefix,
			char delim, store_list_fn *fn, void *arg)
{
	struct partial_ctx pc = { .fn = fn, .arg = arg };

	return store_list(st->inner, c, prefix, delim, partial_entry, &pc);
}

static void partial_destroy(struct store *st)
{
	store_destroy(st->inner);
	free(st);
}

static const struct store_ops partial_ops = {
	.name = "partial",
	.list = partial_list,
	.destroy = partial_destroy,
};

static void test_codec_list_passes_partial_entries_as_they_are(void **state)
{
	struct codec_conf conf = default_conf();
	struct fx *f = *state;
	struct store *partial = calloc(1, sizeof(*partial));
	struct store *top = NULL;
	uint8_t *t = text_data(30000);
	size_t stored = 0;
	struct listed l;

	assert_int_equal(put(f->st, "a", NULL, t, 30000, 999), 0);
	assert_non_null(mem_store_get(f->mem, C, "a", &stored));
	/* borrow the fixture's mem store: partial must not destroy it */
	assert_non_null(partial);
	partial->ops = &partial_ops;
	assert_int_equal(codec_store_new(&conf, partial, &top), 0);
	partial->inner = f->mem;
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_list(top, C, "", 0, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_true(l.partial[0]);
	assert_true(l.sizes[0] == stored);
	partial->inner = NULL;
	store_destroy(top);
	free(t);
}

static void test_codec_other_ops_pass_through(void **state)
{
	struct fx *f = *state;
	uint8_t *t = text_data(10000);
	struct store_statfs a;
	struct store_statfs b;
	struct obj_info oi;
	struct listed l;
	struct meta m;

	assert_int_equal(put(f->st, "a", NULL, t, 10000, 999), 0);
	assert_int_equal(store_create_container(f->st, "d"), 0);
	assert_int_equal(store_create_container(f->st, "d"), -EEXIST);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_list_containers(f->st, list_cb, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.names[1], "d");
	assert_int_equal(store_delete_container(f->st, "d"), 0);
	assert_int_equal(store_delete_container(f->st, C), -ENOTEMPTY);

	/* set_meta: the vfs sends back what head gave it */
	obj_info_init(&oi);
	assert_int_equal(store_head(f->st, C, "a", &oi), 0);
	meta_init(&m);
	assert_int_equal(meta_copy(&m, &oi.meta), 0);
	obj_info_release(&oi);
	assert_int_equal(meta_set(&m, "mtime", "42.000000000"), 0);
	assert_int_equal(store_set_meta(f->st, C, "a", &m), 0);
	meta_release(&m);
	assert_int_equal(store_head(f->st, C, "a", &oi), 0);
	assert_meta_eq(&oi.meta, "mtime", "42.000000000");
	assert_true(oi.size == 10000);
	obj_info_release(&oi);

	/*
	 * A chmod racing an overwrite: its head saw the old object. The
	 * new object keeps its own trovefs-* keys and still reads.
	 */
	assert_int_equal(put(f->st, "race", NULL, t, 10000, 999), 0);
	assert_int_equal(store_head(f->st, C, "race", &oi), 0);
	meta_init(&m);
	assert_int_equal(meta_copy(&m, &oi.meta), 0);
	obj_info_release(&oi);
	assert_int_equal(put(f->st, "race", NULL, t, 7000, 7000), 0);
	assert_int_equal(meta_set(&m, "mode", "600"), 0);
	assert_int_equal(store_set_meta(f->st, C, "race", &m), 0);
	meta_release(&m);
	assert_int_equal(store_head(f->st, C, "race", &oi), 0);
	assert_meta_eq(&oi.meta, "mode", "600");
	assert_meta_eq(&oi.meta, "trovefs-size", "7000");
	assert_true(oi.size == 7000);
	obj_info_release(&oi);
	check_read_all(f->st, "race", t, 7000, 4000);

	/*
	 * update_meta (touch, chmod): handed down, so the inner store reads
	 * the object once and keeps its trovefs-* keys; the caller may not
	 * set them.
	 */
	{
		unsigned heads = mem_store_calls(f->mem, MEM_OP_HEAD);

		meta_init(&m);
		assert_int_equal(meta_set(&m, "mode", "640"), 0);
		assert_int_equal(store_update_meta(f->st, C, "race", &m, &oi),
				 0);
		assert_int_equal(mem_store_calls(f->mem, MEM_OP_HEAD),
				 heads + 1);
		assert_true(oi.size == 7000); /* the plain size */
		assert_meta_eq(&oi.meta, "mode", "640");
		obj_info_release(&oi);
		assert_int_equal(meta_set(&m, "trovefs-size", "1"), 0);
		assert_int_equal(store_update_meta(f->st, C, "race", &m, NULL),
				 -EINVAL);
		meta_release(&m);
		assert_int_equal(store_head(f->st, C, "race", &oi), 0);
		assert_meta_eq(&oi.meta, "mode", "640");
		assert_meta_eq(&oi.meta, "trovefs-size", "7000");
		obj_info_release(&oi);
		check_read_all(f->st, "race", t, 7000, 4000);
	}
	assert_int_equal(store_del(f->st, C, "race"), 0);

	assert_int_equal(store_rename(f->st, C, "a", C, "b"), 0);
	assert_int_equal(store_head(f->st, C, "a", &oi), -ENOENT);
	check_read_all(f->st, "b", t, 10000, 4000);
	assert_int_equal(store_statfs(f->st, &a), 0);
	assert_int_equal(store_statfs(f->mem, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_true(a.objects == 1);
	assert_int_equal(store_del(f->st, C, "b"), 0);
	assert_int_equal(store_del(f->st, C, "b"), -ENOENT);
	free(t);
}

/* ---- keys ---- */

/* Copies an object's stored bytes and metadata to another mem store. */
static void copy_raw(struct store *from, struct store *to, const char *key)
{
	struct obj_info oi;
	const void *p;
	size_t size = 0;

	obj_info_init(&oi);
	assert_int_equal(store_head(from, C, key, &oi), 0);
	p = mem_store_get(from, C, key, &size);
	assert_non_null(p);
	put_raw(to, key, p, size, &oi.meta);
	obj_info_release(&oi);
}

/*
 * A tfs1 file opened and not read costs no read of the store (rsync opens
 * each file it sets the mode of); the first read of a small one fetches
 * it whole, in one read.
 */
static void test_codec_tfs1_open_reads_nothing(void **state)
{
	struct fx *f = *state;
	size_t big = 100 * FS;
	uint8_t *d = random_data(big);
	struct store_reader *r = NULL;
	unsigned reads;

	assert_int_equal(put(f->st, "small", NULL, d, 5000, 5000), 0);
	assert_int_equal(put(f->st, "big", NULL, d, big, FS), 0);
	reads = mem_store_calls(f->mem, MEM_OP_READ);
	assert_int_equal(store_reader_open(f->st, C, "small", &r), 0);
	assert_true(r->size == 5000);
	store_reader_close(r);
	assert_int_equal(store_reader_open(f->st, C, "big", &r), 0);
	assert_true(r->size == big);
	store_reader_close(r);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_READ), reads);
	check_read_all(f->st, "small", d, 5000, 1000);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_READ), reads + 1);
	check_read_all(f->st, "big", d, big, 3 * FS);
	free(d);
}

static void test_codec_wrong_secret_is_eio(void **state)
{
	struct fx *f = *state;
	struct codec_conf conf = default_conf();
	uint8_t *t = text_data(20000);
	struct store_reader *r = NULL;
	struct fx other;

	assert_int_equal(put(f->st, "tfs", NULL, t, 20000, 999), 0);
	assert_int_equal(put(f->st, "trove", "trove-sha256", t, 20000, 999), 0);
	conf.secret = "another secret";
	conf.secret_len = strlen(conf.secret);
	fx_open(&other, &conf);
	copy_raw(f->mem, other.mem, "tfs");
	copy_raw(f->mem, other.mem, "trove");
	logs_reset();
	assert_int_equal(first_read_err(other.st, "tfs"), -EIO);
	assert_one_log("wrong key", "'c/tfs'");
	/* the verdict stands for the open file's later reads, logged once */
	{
		uint8_t b[16];
		size_t got = 0;

		logs_reset();
		assert_int_equal(store_reader_open(other.st, C, "tfs", &r), 0);
		assert_int_equal(store_reader_read(r, 0, b, sizeof(b), &got),
				 -EIO);
		assert_int_equal(store_reader_read(r, 99, b, sizeof(b), &got),
				 -EIO);
		store_reader_close(r);
		assert_one_log("wrong key", "'c/tfs'");
	}
	/* an empty file: checked at open */
	assert_int_equal(put(f->st, "empty", NULL, t, 0, 999), 0);
	copy_raw(f->mem, other.mem, "empty");
	logs_reset();
	assert_int_equal(store_reader_open(other.st, C, "empty", &r), -EIO);
	assert_one_log("wrong key", "'c/empty'");
	logs_reset();
	assert_int_equal(store_reader_open(other.st, C, "trove", &r), -EIO);
	assert_one_log("wrong key", "'c/trove'");
	store_destroy(other.st);

	/* a separate Trove passphrase is used for the Trove format only */
	conf = default_conf();
	conf.trove_secret = "trove pass";
	conf.trove_secret_len = strlen(conf.trove_secret);
	fx_open(&other, &conf);
	copy_raw(f->mem, other.mem, "tfs");
	copy_raw(f->mem, other.mem, "trove");
	check_read_all(other.st, "tfs", t, 20000, 7000);
	logs_reset();
	assert_int_equal(store_reader_open(other.st, C, "trove", &r), -EIO);
	assert_one_log("wrong key", "'c/trove'");
	assert_int_equal(put(other.st, "t2", "trove-sha256", t, 20000, 999), 0);
	check_read_all(other.st, "t2", t, 20000, 7000);
	store_destroy(other.st);
	free(t);
}

static void test_codec_no_secret_is_eacces(void **state)
{
	struct fx *f = *state;
	struct codec_conf conf = default_conf();
	struct store_wopts trove = { .format = "trove-sha256" };
	uint8_t *t = text_data(1000);
	struct store_writer *w = NULL;
	struct store_reader *r = NULL;
	struct fx other;

	assert_int_equal(put(f->st, "tfs", NULL, t, 1000, 999), 0);
	conf.secret = NULL;
	conf.secret_len = 0;
	fx_open(&other, &conf);
	copy_raw(f->mem, other.mem, "tfs");
	logs_reset();
	assert_int_equal(store_writer_open(other.st, C, "k", NULL, &w),
			 -EACCES);
	assert_one_log("no key_file configured: cannot write 'c/k'", NULL);
	logs_reset();
	assert_int_equal(store_writer_open(other.st, C, "k", &trove, &w),
			 -EACCES);
	assert_one_log("cannot write 'c/k'", NULL);
	logs_reset();
	assert_int_equal(store_reader_open(other.st, C, "tfs", &r), -EACCES);
	assert_one_log("no key_file configured", "'c/tfs'");
	assert_int_equal(store_head(other.mem, C, "k", &(struct obj_info){ 0 }),
			 -ENOENT);
	store_destroy(other.st);
	free(t);
}

static void test_codec_new_rejects_bad_conf(void **state)
{
	struct codec_conf conf = default_conf();
	struct store *mem = NULL;
	struct store *st = NULL;

	(void)state;
	assert_int_equal(mem_store_new(&mem), 0);
	conf.frame_size = 5000;
	assert_int_equal(codec_store_new(&conf, mem, &st), -EINVAL);
	conf.frame_size = FRAME_SIZE_MAX * 2;
	assert_int_equal(codec_store_new(&conf, mem, &st), -EINVAL);
	conf = default_conf();
	conf.compress_level = 4;
	assert_int_equal(codec_store_new(&conf, mem, &st), -EINVAL);
	conf = default_conf();
	conf.default_format = "zip";
	assert_int_equal(codec_store_new(&conf, mem, &st), -EINVAL);
	conf = default_conf();
	conf.secret_len = 0;
	assert_int_equal(codec_store_new(&conf, mem, &st), -EINVAL);
	assert_null(st);
	/* mem is still ours */
	store_destroy(mem);
}

/* ---- corruption ---- */

/*
 * Opens and reads the whole object: either open or some read fails with
 * -EBADMSG, and (if @exact) every read that succeeds returns the right
 * bytes. One log line names the object.
 */
static void expect_bad_bytes(struct store *st, const char *key,
			     const uint8_t *src, size_t len, bool exact)
{
	struct store_reader *r = NULL;
	uint8_t buf[3000];
	bool failed = false;
	uint64_t off;
	int err;

	logs_reset();
	err = store_reader_open(st, C, key, &r);
	if (err) {
		assert_int_equal(err, -EBADMSG);
		assert_one_log("is corrupt or truncated", "'c/");
		return;
	}
	assert_true(r->size == len);
	for (off = 0; off < len; off += sizeof(buf)) {
		size_t got = 0;

		err = store_reader_read(r, off, buf, sizeof(buf), &got);
		if (err) {
			assert_int_equal(err, -EBADMSG);
			failed = true;
			continue;
		}
		assert_true(got > 0);
		if (exact)
			assert_memory_equal(buf, src + off, got);
	}
	store_reader_close(r);
	assert_true(failed);
	assert_one_log("is corrupt or truncated", "'c/");
}

/* tfs1: no unauthenticated byte is ever returned. */
static void expect_bad(struct store *st, const char *key, const uint8_t *src,
		       size_t len)
{
	expect_bad_bytes(st, key, src, len, true);
}

static void flip(struct store *mem, const char *key, uint64_t off)
{
	size_t size = 0;
	const uint8_t *p = mem_store_get(mem, C, key, &size);

	assert_non_null(p);
	assert_true(off < size);
	assert_int_equal(mem_store_poke(mem, C, key, off, p[off] ^ 0x20), 0);
}

static void test_codec_tfs1_corruption_is_ebadmsg(void **state)
{
	struct fx *f = *state;
	size_t len = FS * 7 / 2;
	uint8_t *d = random_data(len);
	uint64_t offs[8];
	uint32_t lens[8];
	size_t size = 0;
	int i;

	for (i = 0; i < 10; i++) {
		assert_int_equal(put(f->st, "obj", NULL, d, len, 1000), 0);
		assert_int_equal(frame_walk(f->mem, "obj", offs, lens, 8), 4);
		assert_non_null(mem_store_get(f->mem, C, "obj", &size));
		switch (i) {
		case 0: /* header: magic */
			flip(f->mem, "obj", 3);
			break;
		case 1: /* header: salt */
			flip(f->mem, "obj", 30);
			break;
		case 2: /* a frame's data */
			flip(f->mem, "obj", offs[2] + 100);
			break;
		case 3: /* a frame's header: its plain length */
			flip(f->mem, "obj", offs[1] + 2);
			break;
		case 4: /* a frame's tag */
			flip(f->mem, "obj", offs[1] + lens[1] - 1);
			break;
		case 5: /* the index */
			flip(f->mem, "obj", size - FRAME_FOOTER_SIZE - 20);
			break;
		case 6: /* the footer: plain size */
			flip(f->mem, "obj", size - FRAME_FOOTER_SIZE + 23);
			break;
		case 7: /* the footer: magic */
			flip(f->mem, "obj", size - 1 - 31);
			break;
		case 8: /* truncated by one byte */
			assert_int_equal(mem_store_poke(f->mem, C, "obj",
							UINT64_MAX, size - 1),
					 0);
			break;
		case 9: /* truncated by a whole frame */
			assert_int_equal(mem_store_poke(f->mem, C, "obj",
							UINT64_MAX,
							size - lens[3]),
					 0);
			break;
		}
		expect_bad(f->st, "obj", d, len);
	}
	free(d);
}

/* A bad frame fails alone: the others still read. */
static void test_codec_tfs1_bad_frame_fails_alone(void **state)
{
	struct fx *f = *state;
	size_t len = FS * 4;
	uint8_t *d = random_data(len);
	struct store_reader *r = NULL;
	uint8_t buf[FS];
	uint64_t offs[8];
	uint32_t lens[8];
	size_t got = 0;

	assert_int_equal(put(f->st, "obj", NULL, d, len, len), 0);
	assert_int_equal(frame_walk(f->mem, "obj", offs, lens, 8), 5);
	flip(f->mem, "obj", offs[2] + 50);
	logs_reset();
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	assert_int_equal(store_reader_read(r, 0, buf, FS, &got), 0);
	assert_memory_equal(buf, d, FS);
	got = 7;
	assert_int_equal(store_reader_read(r, 2 * FS + 10, buf, 10, &got),
			 -EBADMSG);
	assert_int_equal(got, 0);
	assert_one_log("is corrupt or truncated: frame 2", "'c/obj'");
	assert_int_equal(store_reader_read(r, 3 * FS, buf, FS, &got), 0);
	assert_memory_equal(buf, d + 3 * FS, FS);
	/* a read spanning the bad frame fails whole */
	assert_int_equal(store_reader_read(r, FS, buf, FS + 1, &got), -EBADMSG);
	store_reader_close(r);
	assert_int_equal(g_nlogs, 1);
	free(d);
}

/* Frames swapped in place (equal lengths) do not authenticate. */
static void test_codec_tfs1_swapped_frames_are_ebadmsg(void **state)
{
	struct fx *f = *state;
	size_t len = FS * 3;
	uint8_t *d = random_data(len);
	uint8_t *copy;
	uint64_t offs[8];
	uint32_t lens[8];
	const uint8_t *p;
	size_t size = 0;
	uint32_t i;

	assert_int_equal(put(f->st, "obj", NULL, d, len, len), 0);
	assert_int_equal(frame_walk(f->mem, "obj", offs, lens, 8), 4);
	assert_int_equal(lens[0], lens[1]);
	p = mem_store_get(f->mem, C, "obj", &size);
	copy = malloc(size);
	assert_non_null(copy);
	memcpy(copy, p, size);
	for (i = 0; i < lens[0]; i++) {
		mem_store_poke(f->mem, C, "obj", offs[0] + i,
			       copy[offs[1] + i]);
		mem_store_poke(f->mem, C, "obj", offs[1] + i,
			       copy[offs[0] + i]);
	}
	expect_bad(f->st, "obj", d, len);
	free(copy);
	free(d);
}

static void test_codec_tfs1_wrong_trovefs_size_is_ebadmsg(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_data(5000);
	struct store_reader *r = NULL;
	struct obj_info oi;
	struct meta m;

	assert_int_equal(put(f->st, "obj", NULL, d, 5000, 5000), 0);
	obj_info_init(&oi);
	assert_int_equal(store_head(f->mem, C, "obj", &oi), 0);
	meta_init(&m);
	assert_int_equal(meta_copy(&m, &oi.meta), 0);
	obj_info_release(&oi);
	assert_int_equal(meta_set(&m, "trovefs-size", "4999"), 0);
	assert_int_equal(store_set_meta(f->mem, C, "obj", &m), 0);
	logs_reset();
	assert_int_equal(first_read_err(f->st, "obj"), -EBADMSG);
	assert_one_log("is corrupt or truncated", "'c/obj'");
	/* shown empty: checked at open, as nothing reads an empty file */
	assert_int_equal(meta_set(&m, "trovefs-size", "0"), 0);
	assert_int_equal(store_set_meta(f->mem, C, "obj", &m), 0);
	logs_reset();
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), -EBADMSG);
	assert_one_log("is corrupt or truncated", "'c/obj'");
	assert_int_equal(meta_del(&m, "trovefs-size"), 0);
	assert_int_equal(store_set_meta(f->mem, C, "obj", &m), 0);
	logs_reset();
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), -EBADMSG);
	assert_one_log("is corrupt or truncated", "'c/obj'");
	assert_int_equal(meta_set(&m, "trovefs-format", "tfs9"), 0);
	assert_int_equal(store_set_meta(f->mem, C, "obj", &m), 0);
	logs_reset();
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), -EIO);
	assert_one_log("unknown trovefs-format 'tfs9'", "'c/obj'");
	meta_release(&m);
	free(d);
}

/*
 * Hand-made objects (same key, valid seals) whose final flag is on the
 * wrong frame: authentic frames at the wrong place are still refused.
 */
static void craft(struct store *mem, const char *key, const uint8_t *plain,
		  unsigned nframes, const bool *final, const size_t *plen)
{
	struct frame_key fk;
	struct frame_ctx ctx;
	uint8_t salt[FRAME_SALT_SIZE] = { 1, 2, 3 };
	uint8_t *out = malloc(FS + 64);
	uint8_t idx[256];
	uint32_t lens[8];
	struct store_writer *w = NULL;
	uint64_t total = 0;
	struct meta m;
	size_t n = 0;
	unsigned i;

	assert_non_null(out);
	assert_int_equal(frame_key_derive(SECRET, strlen(SECRET), &fk), 0);
	assert_int_equal(
		frame_ctx_init_new(&ctx, &fk, FRAME_COMP_DEFLATE, 1, FS, salt),
		0);
	assert_int_equal(store_writer_open(mem, C, key, NULL, &w), 0);
	assert_int_equal(store_writer_write(w, ctx.header, FRAME_HEADER_SIZE),
			 0);
	for (i = 0; i < nframes; i++) {
		assert_int_equal(frame_seal(&ctx, i, final[i], plain + total,
					    plen[i], out, &n),
				 0);
		assert_int_equal(store_writer_write(w, out, n), 0);
		lens[i] = (uint32_t)n;
		total += plen[i];
	}
	assert_int_equal(frame_index_seal(&ctx, lens, nframes, total, idx, &n),
			 0);
	assert_int_equal(store_writer_write(w, idx, n), 0);
	meta_init(&m);
	assert_int_equal(meta_set(&m, "trovefs-format", "tfs1"), 0);
	assert_int_equal(meta_set_u64(&m, "trovefs-size", total), 0);
	assert_int_equal(store_writer_commit(w, &m), 0);
	meta_release(&m);
	frame_ctx_release(&ctx);
	free(out);
}

static void test_codec_tfs1_final_flag_must_be_on_last_frame(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_data(3 * FS);
	const bool early[] = { false, true, true };
	const size_t early_len[] = { FS, FS, 100 };
	const bool missing[] = { false, false };
	const size_t missing_len[] = { FS, FS };
	const bool good[] = { false, true };
	const size_t good_len[] = { FS, FS };

	craft(f->mem, "early", d, 3, early, early_len);
	expect_bad(f->st, "early", d, 2 * FS + 100);
	craft(f->mem, "missing", d, 2, missing, missing_len);
	expect_bad(f->st, "missing", d, 2 * FS);
	/* a full final frame is valid tfs1 too */
	craft(f->mem, "good", d, 2, good, good_len);
	logs_reset();
	check_read_all(f->st, "good", d, 2 * FS, 3000);
	assert_int_equal(g_nlogs, 0);
	free(d);
}

static void test_codec_trove_corruption_is_ebadmsg(void **state)
{
	struct fx *f = *state;
	size_t len = 200000;
	uint8_t *d = random_data(len);
	size_t size = 0;
	int i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(
			put(f->st, "obj", "trove-sha256", d, len, 7000), 0);
		assert_non_null(mem_store_get(f->mem, C, "obj", &size));
		switch (i) {
		case 0:
			flip(f->mem, "obj", size / 2);
			break;
		case 1:
			flip(f->mem, "obj", size - 20);
			break;
		case 2:
			assert_int_equal(mem_store_poke(f->mem, C, "obj",
							UINT64_MAX, size - 1),
					 0);
			break;
		case 3:
			assert_int_equal(mem_store_poke(f->mem, C, "obj",
							UINT64_MAX,
							size - 4096),
					 0);
			break;
		}
		/*
		 * The Trove format authenticates nothing: damage shows at
		 * the latest in the gzip trailer, after wrong bytes may have
		 * been returned.
		 */
		expect_bad_bytes(f->st, "obj", d, len, false);
	}
	free(d);
}

/* ---- failures of the inner store ---- */

static void assert_absent(struct store *st, const char *key)
{
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_head(st, C, key, &oi), -ENOENT);
}

/* Writes until an error; returns the write's or commit's error. */
static int put_until_error(struct store *st, const char *format,
			   const uint8_t *d, size_t len, size_t chunk)
{
	struct store_wopts o = { .format = format };
	struct store_writer *w = NULL;
	size_t off;
	int err;

	assert_int_equal(store_writer_open(st, C, "obj", &o, &w), 0);
	for (off = 0; off < len; off += chunk) {
		err = store_writer_write(w, d + off, chunk);
		if (err) {
			/* sticky: later writes and commit fail alike */
			assert_int_equal(store_writer_write(w, d, 1), err);
			assert_int_equal(store_writer_commit(w, NULL), err);
			return err;
		}
	}
	return store_writer_commit(w, NULL);
}

static void test_codec_inner_write_failure_leaves_nothing(void **state)
{
	struct fx *f = *state;
	size_t len = 64 * FS;
	uint8_t *d = random_data(len);
	/* mid-stream, in the drain at commit, the index write */
	const unsigned nth[] = { 20, 2, 67 };
	size_t i;

	for (i = 0; i < 3; i++) {
		size_t n = i == 0 ? len : 5 * FS;

		if (i == 2)
			n = len;
		mem_store_fail(f->mem, MEM_OP_WRITE, nth[i], -ENOSPC);
		assert_int_equal(put_until_error(f->st, NULL, d, n, FS),
				 -ENOSPC);
		assert_absent(f->st, "obj");
		mem_store_fail(f->mem, MEM_OP_WRITE, 0, 0);
	}
	mem_store_fail(f->mem, MEM_OP_WRITE, 3, -ENOSPC);
	assert_int_equal(put_until_error(f->st, "trove-sha256", d, len, FS),
			 -ENOSPC);
	assert_absent(f->st, "obj");
	free(d);
}

static void test_codec_inner_commit_failure_leaves_nothing(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_data(10 * FS);

	mem_store_fail(f->mem, MEM_OP_COMMIT, 1, -EIO);
	assert_int_equal(put(f->st, "obj", NULL, d, 10 * FS, 3000), -EIO);
	assert_absent(f->st, "obj");
	mem_store_fail(f->mem, MEM_OP_COMMIT, 1, -EIO);
	assert_int_equal(put(f->st, "obj", "trove-sha256", d, 10 * FS, 3000),
			 -EIO);
	assert_absent(f->st, "obj");
	/* and then it works again */
	assert_int_equal(put(f->st, "obj", NULL, d, 10 * FS, 3000), 0);
	check_read_all(f->st, "obj", d, 10 * FS, 5000);
	free(d);
}

static void test_codec_abort_leaves_nothing(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_data(40 * FS);
	struct store_writer *w = NULL;
	struct store_wopts trove = { .format = "trove-sha256" };
	struct listed l;

	assert_int_equal(store_writer_open(f->st, C, "obj", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, d, 40 * FS), 0);
	store_writer_abort(w);
	assert_int_equal(store_writer_open(f->st, C, "obj", NULL, &w), 0);
	store_writer_abort(w);
	assert_int_equal(store_writer_open(f->st, C, "obj", &trove, &w), 0);
	assert_int_equal(store_writer_write(w, d, 40 * FS), 0);
	store_writer_abort(w);
	assert_absent(f->st, "obj");
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_list(f->mem, C, "", 0, list_cb, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(store_writer_open(f->st, "nope", "obj", NULL, &w),
			 -ENOENT);
	free(d);
}

static void test_codec_inner_read_failures_pass_up(void **state)
{
	struct fx *f = *state;
	size_t len = 20 * FS;
	uint8_t *d = random_data(len);
	struct store_reader *r = NULL;
	uint8_t buf[FS];
	size_t got = 0;
	unsigned i;

	assert_int_equal(put(f->st, "obj", NULL, d, len, FS), 0);
	assert_int_equal(put(f->st, "trove", "trove-sha256", d, len, FS), 0);
	mem_store_fail(f->mem, MEM_OP_READER_OPEN, 1, -EIO);
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), -EIO);
	/*
	 * The first read fetches the object (small: whole); a failed fetch
	 * fails that read, and the next read tries again.
	 */
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	mem_store_fail(f->mem, MEM_OP_READ, 1, -ETIMEDOUT);
	assert_int_equal(store_reader_read(r, 0, buf, FS, &got), -ETIMEDOUT);
	assert_int_equal(store_reader_read(r, 0, buf, FS, &got), 0);
	assert_memory_equal(buf, d, FS);
	store_reader_close(r);
	mem_store_fail(f->mem, MEM_OP_READ, 1, -EIO);
	assert_int_equal(store_reader_open(f->st, C, "trove", &r), -EIO);

	/* a frame read fails, then the same read works again */
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	mem_store_fail(f->mem, MEM_OP_READ, 1, -EIO);
	assert_int_equal(store_reader_read(r, 5 * FS, buf, FS, &got), -EIO);
	assert_int_equal(store_reader_read(r, 5 * FS, buf, FS, &got), 0);
	assert_int_equal(got, FS);
	assert_memory_equal(buf, d + 5 * FS, FS);
	/* a failing read-ahead does not break the sequential reads */
	mem_store_fail(f->mem, MEM_OP_READ, 2, -EIO);
	for (i = 6; i < 20; i++) {
		int err = store_reader_read(r, i * FS, buf, FS, &got);

		if (err) {
			assert_int_equal(err, -EIO);
			assert_int_equal(
				store_reader_read(r, i * FS, buf, FS, &got), 0);
		}
		assert_int_equal(got, FS);
		assert_memory_equal(buf, d + i * FS, FS);
	}
	store_reader_close(r);

	assert_int_equal(store_reader_open(f->st, C, "trove", &r), 0);
	mem_store_fail(f->mem, MEM_OP_READ, 1, -EIO);
	assert_int_equal(store_reader_read(r, 0, buf, FS, &got), 0);
	assert_int_equal(store_reader_read(r, 70000, buf, FS, &got), -EIO);
	store_reader_close(r);
	assert_int_equal(g_nlogs, 0);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_codec_tfs1_round_trips_sizes),
		T(test_codec_tfs1_round_trips_5mib),
		T(test_codec_tfs1_round_trips_other_settings),
		T(test_codec_tfs1_check_is_sha256_of_tags),
		T(test_codec_tfs1_writer_streams_frames),
		T(test_codec_trove_round_trips),
		T(test_codec_format_chosen_by_opts_container_default),
		T(test_codec_list_and_head_show_plain_sizes),
		T(test_codec_foreign_object_passes_through),
		T(test_codec_reader_open_takes_meta_from_the_reader),
		T(test_codec_list_passes_partial_entries_as_they_are),
		T(test_codec_other_ops_pass_through),
		T(test_codec_tfs1_open_reads_nothing),
		T(test_codec_wrong_secret_is_eio),
		T(test_codec_no_secret_is_eacces),
		T(test_codec_new_rejects_bad_conf),
		T(test_codec_tfs1_corruption_is_ebadmsg),
		T(test_codec_tfs1_bad_frame_fails_alone),
		T(test_codec_tfs1_swapped_frames_are_ebadmsg),
		T(test_codec_tfs1_wrong_trovefs_size_is_ebadmsg),
		T(test_codec_tfs1_final_flag_must_be_on_last_frame),
		T(test_codec_trove_corruption_is_ebadmsg),
		T(test_codec_inner_write_failure_leaves_nothing),
		T(test_codec_inner_commit_failure_leaves_nothing),
		T(test_codec_abort_leaves_nothing),
		T(test_codec_inner_read_failures_pass_up),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
