/*
 * ds_fixture.h - the fixture of test_ds.c and test_ds_fs.c: a fake
 * datastore driver over the mem store (the stream is g_data; verify wants
 * byte 0 'G'), the same with state markers and with stage ops, and a
 * fixture holding a set with one datastore "db". Included once per test
 * program; everything is static.
 */
#ifndef TESTS_UNIT_DS_FIXTURE_H
#define TESTS_UNIT_DS_FIXTURE_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>

#include <cmocka.h>

#include "../../backends/mem_store.h"
#include "../../conf/log.h"
#include "../../datastores/ds.h"
#include "../../datastores/ds_fs.h"
#include "../../datastores/ds_stage.h"
#include "row_assert.h"

/* ---- a fake driver: the stream is g_data; verify wants byte 0 'G' ---- */

static const char *g_data = "GOOD-DATA";
static int g_stream_end_err;	 /* returned instead of the end */
static unsigned g_stream_end_ms; /* a slow server: sleep before the end */
/* called once at the next stream's end, then cleared (another client) */
static void (*g_at_stream_end)(void);
static int g_recovers;	      /* recover() calls */
static char g_recovered[256]; /* what recover() read */
static int g_recover_err;

struct ds_stream {
	size_t off;
};

struct ds_verify {
	bool ok;
	bool first;
};
/* every byte fed to a verifier since reset, and its verdicts asked */
static char g_fed[256];
static size_t g_nfed;
static int g_finals;

static int fake_init(struct ds *ds, const struct conf_section *s, void **priv)
{
	(void)ds;
	(void)s;
	*priv = NULL;
	return 0;
}

static void fake_fini(void *priv)
{
	(void)priv;
}

static int fake_open(struct ds *ds, struct ds_stream **out)
{
	(void)ds;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static int fake_read(struct ds_stream *s, void *dst, size_t len, size_t *got)
{
	size_t n = strlen(g_data) - s->off;

	if (n == 0 && g_at_stream_end) {
		void (*fn)(void) = g_at_stream_end;

		g_at_stream_end = NULL;
		fn();
	}
	if (n == 0 && g_stream_end_ms) {
		struct timespec t = { g_stream_end_ms / 1000,
				      (long)(g_stream_end_ms % 1000) *
					      1000000 };

		nanosleep(&t, NULL);
	}
	if (n == 0 && g_stream_end_err) {
		/* as a client whose server went away says it */
		log_error("fake: connection closed mid-line");
		return g_stream_end_err;
	}
	if (n > len)
		n = len;
	memcpy(dst, g_data + s->off, n);
	s->off += n;
	*got = n;
	return 0;
}

static uint64_t fake_size(struct ds_stream *s)
{
	(void)s;
	return strlen(g_data);
}

static void fake_close(struct ds_stream *s)
{
	free(s);
}

static int fake_verify_new(struct ds *ds, struct ds_verify **out)
{
	(void)ds;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->first = true;
	return 0;
}

static void fake_verify_update(struct ds_verify *v, const void *p, size_t len)
{
	size_t room = sizeof(g_fed) - g_nfed;

	memcpy(g_fed + g_nfed, p, len < room ? len : room);
	g_nfed += len < room ? len : room;
	if (v->first && len > 0) {
		v->ok = ((const char *)p)[0] == 'G';
		v->first = false;
	}
}

static int fake_verify_final(struct ds_verify *v, const char *what)
{
	g_finals++;
	if (!v->ok)
		log_error("'%s' is not valid", what);
	return v->ok ? 0 : -EBADMSG;
}

static void fake_verify_free(struct ds_verify *v)
{
	free(v);
}

/* Set: fake_recover() looks at the datastore from inside the job. */
static bool g_probe;
static int g_probe_backup;  /* what a backup started meanwhile returned */
static int g_probe_recover; /* what a second recover returned */
static char g_probe_status[2048];
static char g_probe_progress[512];

static void probe_running_job(struct ds *ds)
{
	struct buf b;

	g_probe_backup = ds_backup(ds, "", NULL, 0);
	g_probe_recover = ds_recover(ds, "latest", 6);
	buf_init(&b, sizeof(g_probe_status) - 1);
	if (ds_status(ds, &b) == 0)
		snprintf(g_probe_status, sizeof(g_probe_status), "%s",
			 buf_str(&b));
	buf_reset(&b);
	if (ds_progress(ds, &b) == 0)
		snprintf(g_probe_progress, sizeof(g_probe_progress), "%s",
			 buf_str(&b));
	buf_release(&b);
}

static int fake_recover(struct ds *ds, const char *name,
			struct store_reader *src)
{
	size_t got = 0;
	int err;

	(void)name;
	if (g_probe)
		probe_running_job(ds);
	g_recovers++;
	memset(g_recovered, 0, sizeof(g_recovered));
	err = store_reader_read(src, 0, g_recovered, sizeof(g_recovered) - 1,
				&got);
	return err ? err : g_recover_err;
}

static const struct ds_driver fake_driver = {
	.type = "fake",
	.backup_file = "dump.bin",
	.init = fake_init,
	.fini = fake_fini,
	.stream_open = fake_open,
	.stream_read = fake_read,
	.stream_size = fake_size,
	.stream_close = fake_close,
	.verify_new = fake_verify_new,
	.verify_update = fake_verify_update,
	.verify_final = fake_verify_final,
	.verify_free = fake_verify_free,
	.recover = fake_recover,
};

/* The same driver with state markers: g_state_a/b, or g_state_err. */
static const char *const fake_state_keys[] = { "fake-a", "fake-b", NULL };
static const char *g_state_a = "run1";
static const char *g_state_b = "7";
static int g_state_err;
static int g_state_reads;

static int fake_state_read(struct ds *ds, struct meta *m)
{
	(void)ds;
	g_state_reads++;
	if (g_state_err) {
		log_error("fake: cannot connect");
		return g_state_err;
	}
	if (meta_set(m, "fake-a", g_state_a) ||
	    meta_set(m, "fake-b", g_state_b))
		return -ENOMEM;
	return 0;
}

/* fake_driver plus fake_state_read(); filled in by setup(). */
static struct ds_driver fake_state_driver;

/* ---- the same driver with stage ops: stage_write() appends to g_staged ---- */

static char *g_staged; /* every byte stage_write() took, in order */
static size_t g_staged_len;
static unsigned g_stage_writes;	  /* stage_write() calls */
static unsigned g_stage_fail_at;  /* this call (from 1) fails; 0: none */
static int g_stage_fail_err;	  /* with this */
static unsigned g_stage_on_main;  /* calls in the test's own thread */
static unsigned g_stage_unmasked; /* calls with SIGINT or SIGTERM open */
static int g_stage_syncs;
static int g_stage_applies;
static pthread_t g_main_thread;

struct ds_stage {
	int unused;
};

static int fake_stage_open(struct ds *ds, const char *name,
			   struct ds_stage **out)
{
	(void)ds;
	(void)name;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static int fake_stage_write(struct ds_stage *sg, const void *p, size_t len)
{
	sigset_t mask;
	char *grown;

	(void)sg;
	g_stage_writes++;
	if (pthread_equal(pthread_self(), g_main_thread))
		g_stage_on_main++;
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	if (!sigismember(&mask, SIGINT) || !sigismember(&mask, SIGTERM))
		g_stage_unmasked++;
	if (g_stage_writes == g_stage_fail_at)
		return g_stage_fail_err;
	grown = realloc(g_staged, g_staged_len + len);
	if (!grown)
		return -ENOMEM;
	memcpy(grown + g_staged_len, p, len);
	g_staged = grown;
	g_staged_len += len;
	return 0;
}

static int fake_stage_sync(struct ds_stage *sg)
{
	(void)sg;
	g_stage_syncs++;
	return 0;
}

static int fake_stage_apply(struct ds_stage *sg)
{
	(void)sg;
	g_stage_applies++;
	return 0;
}

static void fake_stage_free(struct ds_stage *sg)
{
	free(sg);
}

/* fake_driver with the stage ops instead of recover; set by setup(). */
static struct ds_driver fake_stage_driver;

/* ---- fixture ---- */

struct fixture {
	struct store *st;
	struct ds_set *set;
	struct ds *ds;
	struct ds_fs *fs;
};

static int g_nerrors;		/* error lines logged */
static int g_nwarnings;		/* warning lines logged */
static char g_last_error[1024]; /* the last error line */

static void quiet_hook(int level, const char *msg)
{
	if (level <= LOG_ERR) {
		g_nerrors++;
		snprintf(g_last_error, sizeof(g_last_error), "%s", msg);
	} else if (level == LOG_WARNING) {
		g_nwarnings++;
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct conf_section s = { 0 };

	assert_non_null(f);
	g_data = "GOOD-DATA";
	g_stream_end_err = 0;
	g_stream_end_ms = 0;
	g_at_stream_end = NULL;
	g_recovers = 0;
	g_recover_err = 0;
	g_state_a = "run1";
	g_state_b = "7";
	g_state_err = 0;
	g_state_reads = 0;
	fake_state_driver = fake_driver;
	fake_state_driver.type = "fakestate";
	fake_state_driver.state_read = fake_state_read;
	fake_state_driver.state_keys = fake_state_keys;
	g_staged = NULL;
	g_staged_len = 0;
	g_stage_writes = 0;
	g_stage_fail_at = 0;
	g_stage_fail_err = 0;
	g_stage_on_main = 0;
	g_stage_unmasked = 0;
	g_stage_syncs = 0;
	g_stage_applies = 0;
	g_main_thread = pthread_self();
	fake_stage_driver = fake_driver;
	fake_stage_driver.type = "fakestage";
	fake_stage_driver.recover = NULL;
	fake_stage_driver.stage_open = fake_stage_open;
	fake_stage_driver.stage_write = fake_stage_write;
	fake_stage_driver.stage_sync = fake_stage_sync;
	fake_stage_driver.stage_apply = fake_stage_apply;
	fake_stage_driver.stage_free = fake_stage_free;
	log_set_hook(quiet_hook);
	assert_int_equal(mem_store_new(&f->st), 0);
	assert_int_equal(ds_set_new_empty(f->st, &f->set), 0);
	s.type = (char *)"fake";
	s.name = (char *)"db";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), 0);
	f->ds = ds_set_find(f->set, "db");
	assert_non_null(f->ds);
	assert_int_equal(ds_fs_register(NULL, f->set, &f->fs), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_set_hook(NULL);
	free(g_staged);
	ds_fs_free(f->fs);
	ds_set_free(f->set);
	store_destroy(f->st);
	free(f);
	return 0;
}

/*
 * Puts backup @name of @ds holding @data straight into the store, with
 * the markers fake-a/fake-b = @a/@b where not NULL.
 */
static void put_backup_to(struct fixture *f, struct ds *ds, const char *name,
			  const char *data, const char *a, const char *b)
{
	char key[STORE_KEY_MAX + 1];
	struct store_writer *w;
	struct meta m;
	int err;

	err = store_create_container(f->st, ds->container);
	assert_true(err == 0 || err == -EEXIST);
	assert_int_equal(ds_backup_key(ds, name, key, sizeof(key)), 0);
	assert_int_equal(store_writer_open(f->st, ds->container, key, NULL, &w),
			 0);
	assert_int_equal(store_writer_write(w, data, strlen(data)), 0);
	meta_init(&m);
	if (a)
		assert_int_equal(meta_set(&m, "fake-a", a), 0);
	if (b)
		assert_int_equal(meta_set(&m, "fake-b", b), 0);
	assert_int_equal(store_writer_commit(w, &m), 0);
	meta_release(&m);
}

/* Puts a backup of "db" named @name holding @data, without markers. */
static void put_backup(struct fixture *f, const char *name, const char *data)
{
	put_backup_to(f, f->ds, name, data, NULL, NULL);
}

#endif /* TESTS_UNIT_DS_FIXTURE_H */
