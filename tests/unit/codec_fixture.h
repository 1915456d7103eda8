/*
 * codec_fixture.h - what the codec layer's unit tests share
 * (test_codec_store.c and test_codec_reads.c): a codec store over a mem
 * store with 4 KiB frames (struct fx, setup(), teardown()), the captured
 * log lines, deterministic random and text data, and put(), which writes
 * an object in chunks with an mtime.
 *
 * Included by exactly one .c per test binary (the Makefile links each
 * tests/unit/test_*.c alone with libtrovefs.a), so everything here is
 * static; functions are static inline so a file that leaves one unused
 * still builds with -Werror.
 */
#ifndef TESTS_UNIT_CODEC_FIXTURE_H
#define TESTS_UNIT_CODEC_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/codec_store.h"
#include "../../backends/mem_store.h"
#include "../../conf/log.h"

#define FS 4096u
#define SECRET "correct horse battery staple"
#define C "c"

/* ---- log capture ---- */

#define LOGS_MAX 16
static char g_logs[LOGS_MAX][1024];
static int g_nlogs;

static inline void log_hook(int level, const char *msg)
{
	(void)level;
	if (g_nlogs < LOGS_MAX)
		snprintf(g_logs[g_nlogs], sizeof(g_logs[0]), "%s", msg);
	g_nlogs++;
}

static inline void logs_reset(void)
{
	g_nlogs = 0;
}

/* Exactly one line was logged and it contains @a and @b. */
static inline void assert_one_log(const char *a, const char *b)
{
	assert_int_equal(g_nlogs, 1);
	assert_non_null(strstr(g_logs[0], a));
	if (b)
		assert_non_null(strstr(g_logs[0], b));
}

/* ---- data ---- */

static uint64_t g_rng = 88172645463325252ull;

static inline uint64_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

static uint8_t *random_data(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(rnd() >> 24);
	return p;
}

static uint8_t *text_data(size_t len)
{
	uint8_t *p = malloc(len + 64);
	size_t off = 0;
	unsigned line = 0;

	assert_non_null(p);
	while (off < len) {
		int n = snprintf((char *)p + off, 64,
				 "line %08u: the quick brown fox jumps\n",
				 line++);

		assert_true(n > 0 && n < 64);
		off += (size_t)n;
	}
	return p;
}

/* ---- stores ---- */

struct fx {
	struct store *mem; /* owned by st */
	struct store *st;
};

static inline struct codec_conf default_conf(void)
{
	struct codec_conf conf = {
		.secret = SECRET,
		.secret_len = strlen(SECRET),
		.default_format = "tfs1",
		.frame_size = FS,
		.compress_level = 1,
		.threads = 2,
	};

	return conf;
}

static inline void fx_open(struct fx *f, const struct codec_conf *conf)
{
	assert_int_equal(mem_store_new(&f->mem), 0);
	assert_int_equal(codec_store_new(conf, f->mem, &f->st), 0);
	assert_int_equal(store_create_container(f->st, C), 0);
}

static inline int setup(void **state)
{
	struct codec_conf conf = default_conf();
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fx_open(f, &conf);
	log_init("test_codec", false, LOG_CRIT);
	log_set_hook(log_hook);
	logs_reset();
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	store_destroy(f->st);
	free(f);
	log_set_hook(NULL);
	return 0;
}

/* Writes @len bytes in @chunk-sized writes, with user meta mtime. */
static inline int put(struct store *st, const char *key, const char *format,
		      const uint8_t *data, size_t len, size_t chunk)
{
	struct store_wopts o = { .format = format };
	struct store_writer *w = NULL;
	struct meta m;
	size_t off;
	int err;

	meta_init(&m);
	assert_int_equal(meta_set(&m, "mtime", "1700000000.000000000"), 0);
	err = store_writer_open(st, C, key, &o, &w);
	if (err)
		goto out_release;
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		err = store_writer_write(w, data + off, n);
		if (err) {
			store_writer_abort(w);
			goto out_release;
		}
	}
	assert_true(w->written == len);
	err = store_writer_commit(w, &m);
out_release:
	meta_release(&m);
	return err;
}

#endif /* TESTS_UNIT_CODEC_FIXTURE_H */
