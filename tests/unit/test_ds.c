/*
 * test_ds.c - unit tests of the generic datastore layer (datastores/ds.c)
 * and its providers (datastores/ds_fs.c) with a fake driver over the mem
 * store: backup naming, commit only of verified streams, listing and
 * latest, resolving what a user writes, the recover sequence (safety
 * backup, full verification before the driver runs), the staged pass
 * (pieces written in order on a writer thread, errors from either side,
 * nothing synced unless all verified), status, and the restore/ and
 * datastores/ trees with their access rules.
 */
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
static int g_stream_end_err;  /* returned instead of the end */
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

	if (n == 0 && g_stream_end_err)
		return g_stream_end_err;
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
	if (g_state_err)
		return g_state_err;
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

static int g_nerrors; /* error lines logged */

static void quiet_hook(int level, const char *msg)
{
	(void)msg;
	if (level <= LOG_ERR)
		g_nerrors++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct conf_section s = { 0 };

	assert_non_null(f);
	g_data = "GOOD-DATA";
	g_stream_end_err = 0;
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

/* ---- naming ---- */

static void test_ds_backup_name_format(void **state)
{
	char name[DS_NAME_MAX];

	(void)state;
	assert_int_equal(ds_backup_name(0, "", name, sizeof(name)), 0);
	assert_string_equal(name, "1970-01-01T00:00:00Z");
	assert_int_equal(
		ds_backup_name(1700000000, "-pre-recover", name, sizeof(name)),
		0);
	assert_string_equal(name, "2023-11-14T22:13:20Z-pre-recover");
	assert_int_equal(ds_backup_name(0, "", name, 10), -ENAMETOOLONG);
}

static void test_ds_backup_name_is_valid(void **state)
{
	(void)state;
	assert_true(ds_backup_name_is_valid("2024-01-01T00:00:00Z"));
	assert_false(ds_backup_name_is_valid(""));
	assert_false(ds_backup_name_is_valid("latest"));
	assert_false(ds_backup_name_is_valid(".."));
	assert_false(ds_backup_name_is_valid("a/b"));
	assert_false(ds_backup_name_is_valid("a b"));
}

static void test_ds_config_prefix_and_container(void **state)
{
	struct fixture *f = *state;
	struct conf_kv kv[2] = {
		{ (char *)"container", (char *)"bad/name", 3 },
		{ (char *)"prefix", (char *)"p", 4 },
	};
	struct conf_section s = { (char *)"fake", (char *)"x", kv, 2, 1 };

	assert_string_equal(f->ds->prefix, "db/");
	assert_string_equal(f->ds->container, "database_backups");
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[0].value = (char *)"c2";
	/* prefixes no key may have: refused at mount, not at each backup */
	kv[1].value = (char *)"../../evil/";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[1].value = (char *)"a/./b";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[1].value = (char *)"/abs";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	kv[1].value = (char *)"a//b";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), -EINVAL);
	assert_null(ds_set_find(f->set, "x"));
	kv[1].value = (char *)"p";
	assert_int_equal(ds_set_add(f->set, &fake_driver, &s), 0);
	assert_string_equal(ds_set_find(f->set, "x")->prefix, "p/");
	assert_string_equal(ds_set_find(f->set, "x")->container, "c2");
}

/* ---- backup ---- */

static void test_ds_backup_commits_stream(void **state)
{
	struct fixture *f = *state;
	char name[DS_NAME_MAX];
	char key[STORE_KEY_MAX];
	const void *p;
	size_t size;

	assert_int_equal(ds_backup(f->ds, "", name, sizeof(name)), 0);
	assert_int_equal(ds_backup_key(f->ds, name, key, sizeof(key)), 0);
	p = mem_store_get(f->st, "database_backups", key, &size);
	assert_non_null(p); /* stored encoded? mem is a leaf: plain */
	assert_int_equal((int)size, (int)strlen(g_data));
	assert_memory_equal(p, g_data, size);
}

static void test_ds_backup_failed_stream_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char latest[DS_NAME_MAX];
	struct buf b;

	g_stream_end_err = -EBADMSG;
	assert_int_equal(ds_backup(f->ds, "", NULL, 0), -EBADMSG);
	assert_int_equal(ds_backup_latest(f->ds, latest, sizeof(latest)),
			 -ENOENT);
	buf_init(&b, 4096);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b),
			       "last_result: error: Bad message (EBADMSG)"));
	buf_release(&b);
}

static void test_ds_backup_same_second_gets_new_name(void **state)
{
	struct fixture *f = *state;
	char a[DS_NAME_MAX];
	char b[DS_NAME_MAX];

	assert_int_equal(ds_backup(f->ds, "", a, sizeof(a)), 0);
	assert_int_equal(ds_backup(f->ds, "", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

/* the second backup of a second is the latest (its name sorts after) */
static void test_ds_backup_same_second_latest_is_newest(void **state)
{
	struct fixture *f = *state;
	char a[DS_NAME_MAX];
	char b[DS_NAME_MAX];
	char latest[DS_NAME_MAX];

	assert_int_equal(ds_backup(f->ds, "", a, sizeof(a)), 0);
	assert_int_equal(ds_backup(f->ds, "", b, sizeof(b)), 0);
	assert_int_equal(ds_backup_latest(f->ds, latest, sizeof(latest)), 0);
	assert_string_equal(latest, b);
}

static int collect_name(void *arg, const char *name)
{
	struct buf *b = arg;

	return buf_printf(b, "%s ", name);
}

/*
 * The store lists "NAME/" keys, and '-' sorts before '/': the names must
 * be ordered without it, and "-10" after "-9".
 */
static void test_ds_backup_list_order_within_a_second(void **state)
{
	static const char *const names[] = {
		"2024-01-01T00:00:01Z",
		"2024-01-01T00:00:00Z-pre-recover",
		"2024-01-01T00:00:00Z-10",
		"2024-01-01T00:00:00Z",
		"2024-01-01T00:00:00Z-pre-recover-1",
		"2024-01-01T00:00:00Z-1",
		"2024-01-01T00:00:00Z-9",
	};
	struct fixture *f = *state;
	char out[DS_NAME_MAX];
	struct buf b;
	size_t i;

	for (i = 0; i < 2; i++)
		put_backup(f, names[i == 0 ? 3 : 5], "GOOD");
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:00Z-1");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (i != 3 && i != 5)
			put_backup(f, names[i], "GOOD");
	buf_init(&b, 4096);
	assert_int_equal(ds_backup_list(f->ds, collect_name, &b), 0);
	assert_string_equal(buf_str(&b),
			    "2024-01-01T00:00:00Z 2024-01-01T00:00:00Z-1 "
			    "2024-01-01T00:00:00Z-9 2024-01-01T00:00:00Z-10 "
			    "2024-01-01T00:00:00Z-pre-recover "
			    "2024-01-01T00:00:00Z-pre-recover-1 "
			    "2024-01-01T00:00:01Z ");
	buf_release(&b);
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:01Z");
}

/* @key (under the datastore's container) holds a few bytes */
static void put_key(struct fixture *f, const char *key)
{
	struct store_writer *w;
	int err;

	err = store_create_container(f->st, f->ds->container);
	assert_true(err == 0 || err == -EEXIST);
	assert_int_equal(
		store_writer_open(f->st, f->ds->container, key, NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "x", 1), 0);
	assert_int_equal(store_writer_commit(w, NULL), 0);
}

/*
 * A backup is a directory holding the backup file: other directories
 * under the prefix are not listed (their lookup found nothing). `latest`
 * is the newest backup made (a time name), never a safety backup nor a
 * name given by hand.
 */
static void test_ds_backup_list_only_backups_latest_only_made(void **state)
{
	struct fixture *f = *state;
	char out[DS_NAME_MAX];
	char key[STORE_KEY_MAX + 1];
	struct buf b;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD");
	put_backup(f, "2024-01-01T00:00:05Z-2", "GOOD");
	put_backup(f, "2024-01-01T00:00:09Z-pre-recover", "GOOD");
	put_backup(f, "zz-by-hand", "GOOD");
	put_backup(f, "2099-01-01T00:00:00", "GOOD"); /* no 'Z' */
	/* a directory without the file; the file one level deeper */
	snprintf(key, sizeof(key), "%s2098-01-01T00:00:00Z/x", f->ds->prefix);
	put_key(f, key);
	snprintf(key, sizeof(key), "%s2097-01-01T00:00:00Z/sub/%s",
		 f->ds->prefix, f->ds->drv->backup_file);
	put_key(f, key);
	buf_init(&b, 4096);
	assert_int_equal(ds_backup_list(f->ds, collect_name, &b), 0);
	assert_string_equal(buf_str(&b),
			    "2024-01-01T00:00:00Z 2024-01-01T00:00:05Z-2 "
			    "2024-01-01T00:00:09Z-pre-recover "
			    "2099-01-01T00:00:00 zz-by-hand ");
	buf_release(&b);
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:05Z-2");
	/* all are still recovered by name */
	assert_int_equal(
		ds_backup_resolve(f->ds, "zz-by-hand", 10, out, sizeof(out)),
		0);
	assert_int_equal(ds_backup_resolve(f->ds,
					   "2024-01-01T00:00:09Z-pre-recover",
					   32, out, sizeof(out)),
			 0);
	assert_int_equal(ds_backup_resolve(f->ds, "2098-01-01T00:00:00Z", 20,
					   out, sizeof(out)),
			 -ENOENT);
}

static void test_ds_backup_name_cmp(void **state)
{
	(void)state;
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z",
				       "2024-01-01T00:00:00Z-1") < 0);
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z-2",
				       "2024-01-01T00:00:00Z-10") < 0);
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z-pre-recover",
				       "2024-01-01T00:00:00Z-99") > 0);
	assert_true(ds_backup_name_cmp("2024-01-01T00:00:00Z-pre-recover-9",
				       "2024-01-01T00:00:01Z") < 0);
	assert_true(ds_backup_name_cmp("2023-12-31T23:59:59Z-5",
				       "2024-01-01T00:00:00Z") < 0);
	assert_int_equal(ds_backup_name_cmp("a-01", "a-1"), 0);
	assert_int_equal(ds_backup_name_cmp("x", "x"), 0);
}

static void test_ds_backup_store_failure(void **state)
{
	struct fixture *f = *state;

	mem_store_fail(f->st, MEM_OP_COMMIT, 1, -ENOSPC);
	assert_int_equal(ds_backup(f->ds, "", NULL, 0), -ENOSPC);
}

/* ---- listing, resolving ---- */

static void test_ds_latest_and_resolve(void **state)
{
	struct fixture *f = *state;
	char out[DS_NAME_MAX];

	assert_int_equal(
		ds_backup_resolve(f->ds, "latest\n", 7, out, sizeof(out)),
		-ENOENT);
	put_backup(f, "2024-01-02T00:00:00Z", "GOOD-1");
	put_backup(f, "2024-03-01T00:00:00Z", "GOOD-3");
	put_backup(f, "2024-02-01T00:00:00Z", "GOOD-2");
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-03-01T00:00:00Z");
	assert_int_equal(
		ds_backup_resolve(f->ds, "latest\n", 7, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-03-01T00:00:00Z");
	assert_int_equal(ds_backup_resolve(f->ds, "2024-02-01T00:00:00Z \n", 22,
					   out, sizeof(out)),
			 0);
	assert_string_equal(out, "2024-02-01T00:00:00Z");
	assert_int_equal(
		ds_backup_resolve(f->ds, " \tlatest \n", 10, out, sizeof(out)),
		0);
	assert_string_equal(out, "2024-03-01T00:00:00Z");
	assert_int_equal(ds_backup_resolve(f->ds, "nope", 4, out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(ds_backup_resolve(f->ds, "../x", 4, out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(ds_backup_resolve(f->ds, " \n", 2, out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(ds_backup_resolve(f->ds, "a\0b", 3, out, sizeof(out)),
			 -ENOENT);
}

/* ---- recover ---- */

static void test_ds_recover_takes_safety_backup_then_driver(void **state)
{
	struct fixture *f = *state;
	char out[DS_NAME_MAX];

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_data = "GOOD-NOW";
	assert_int_equal(ds_recover(f->ds, "2024-01-01T00:00:00Z", 20), 0);
	assert_int_equal(g_recovers, 1);
	assert_string_equal(g_recovered, "GOOD-OLD");
	/* the safety backup is listed last; `latest` stays the backup made */
	{
		struct buf b;

		buf_init(&b, 4096);
		assert_int_equal(ds_backup_list(f->ds, collect_name, &b), 0);
		assert_non_null(strstr(buf_str(&b), "-pre-recover "));
		assert_string_equal(strstr(buf_str(&b), "-pre-recover "),
				    "-pre-recover ");
		buf_release(&b);
	}
	assert_int_equal(ds_backup_latest(f->ds, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-01-01T00:00:00Z");
}

static void test_ds_recover_refuses_corrupt_backup(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	put_backup(f, "2024-01-01T00:00:00Z", "BAD-DATA");
	assert_int_equal(ds_recover(f->ds, "2024-01-01T00:00:00Z\n", 21),
			 -EBADMSG);
	assert_int_equal(g_recovers, 0); /* nothing was touched */
	buf_init(&b, 4096);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b), "last_result: error"));
	assert_non_null(strstr(buf_str(&b),
			       "last_operation: recover 2024-01-01T00:00:00Z"));
	buf_release(&b);
}

static void test_ds_recover_no_safety_backup_no_recover(void **state)
{
	struct fixture *f = *state;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_stream_end_err = -ECONNREFUSED;
	assert_int_equal(ds_recover(f->ds, "latest", 6), -ECONNREFUSED);
	assert_int_equal(g_recovers, 0);
}

/*
 * While a recover runs: a backup or a second recover gets EBUSY (one
 * line each) and leaves it be; status and progress show the running job.
 */
static void test_ds_one_job_at_a_time(void **state)
{
	struct fixture *f = *state;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_probe = true;
	g_nerrors = 0;
	assert_int_equal(ds_recover(f->ds, "2024-01-01T00:00:00Z", 20), 0);
	g_probe = false;
	assert_int_equal(g_probe_backup, -EBUSY);
	assert_int_equal(g_probe_recover, -EBUSY);
	assert_int_equal(g_nerrors, 2);
	assert_int_equal(g_recovers, 1);
	assert_non_null(strstr(g_probe_status, "state: running\n"));
	assert_non_null(strstr(g_probe_status,
			       "running: recover 2024-01-01T00:00:00Z\n"));
	assert_non_null(strstr(g_probe_status, "step: "));
	assert_non_null(strstr(g_probe_progress,
			       "operation: recover 2024-01-01T00:00:00Z"));
	assert_string_equal(g_recovered, "GOOD-OLD");
}

static void test_ds_recover_garbage(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	assert_int_equal(ds_recover(f->ds, "garbage", 7), -ENOENT);
	assert_int_equal(g_recovers, 0);
	/* status says what became of the request, though nothing ran */
	buf_init(&b, 4096);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(
		strstr(buf_str(&b), "last_operation: recover garbage\n"));
	assert_non_null(strstr(
		buf_str(&b),
		"last_result: error: No such file or directory (ENOENT)\n"));
	/* what was written cannot add lines to status */
	buf_reset(&b);
	assert_int_equal(ds_recover(f->ds, "x\nlast_result: ok", 17), -ENOENT);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b),
			       "last_operation: recover x?last_result: ok\n"));
	buf_reset(&b);
	assert_int_equal(ds_recover(f->ds, "\n", 1), -EINVAL);
	assert_int_equal(ds_status(f->ds, &b), 0);
	assert_non_null(strstr(buf_str(&b), "(EINVAL)"));
	buf_release(&b);
	assert_int_equal(g_recovers, 0);
}

static void test_ds_recover_driver_error_is_returned(void **state)
{
	struct fixture *f = *state;

	put_backup(f, "2024-01-01T00:00:00Z", "GOOD-OLD");
	g_recover_err = -EIO;
	assert_int_equal(ds_recover(f->ds, "latest", 6), -EIO);
	assert_int_equal(g_recovers, 1);
}

/* ---- state markers and the safety backup ---- */

static const char *const st_keys[] = { "redis-run-id", "redis-dirty",
				       "redis-last-save", NULL };

/* Fills @m with the three Redis-like markers. */
static void st_meta(struct meta *m, const char *run, const char *dirty,
		    const char *saved)
{
	meta_init(m);
	if (run)
		assert_int_equal(meta_set(m, "redis-run-id", run), 0);
	if (dirty)
		assert_int_equal(meta_set(m, "redis-dirty", dirty), 0);
	if (saved)
		assert_int_equal(meta_set(m, "redis-last-save", saved), 0);
}

/* ds_state_unchanged(st_keys, backup, live) for the given markers. */
static bool st_same(const char *brun, const char *bdirty, const char *bsaved,
		    const char *lrun, const char *ldirty, const char *lsaved)
{
	struct meta b;
	struct meta l;
	bool same;

	st_meta(&b, brun, bdirty, bsaved);
	st_meta(&l, lrun, ldirty, lsaved);
	assert_int_equal(meta_set(&b, "mtime", "1.000000000"), 0);
	same = ds_state_unchanged(st_keys, &b, &l);
	meta_release(&b);
	meta_release(&l);
	return same;
}

/* Markers of a backup and of the live server, and whether they match. */
static const struct st_case {
	const char *b[3]; /* run id, dirty, last save; NULL: absent */
	const char *l[3];
	bool same;
} st_cases[] = {
	{ { "abc", "0", "1700000000" }, { "abc", "0", "1700000000" }, true },
	{ { "abc", "0", "1700000000" }, { "abd", "0", "1700000000" }, false },
	{ { "abc", "5", "1700000000" }, { "abc", "6", "1700000000" }, false },
	/* a save resets the counter: lower is a change too */
	{ { "abc", "5", "1700000000" }, { "abc", "0", "1700000000" }, false },
	{ { "abc", "0", "1700000000" }, { "abc", "0", "1700000001" }, false },
	/* a marker missing on either side proves nothing */
	{ { NULL, "0", "1" }, { "abc", "0", "1" }, false },
	{ { "abc", NULL, "1" }, { "abc", "0", "1" }, false },
	{ { "abc", "0", NULL }, { "abc", "0", "1" }, false },
	{ { "abc", "0", "1" }, { "abc", NULL, "1" }, false },
	{ { NULL, NULL, NULL }, { NULL, NULL, NULL }, false },
};

static void test_ds_state_unchanged(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(st_cases) / sizeof(st_cases[0]); i++) {
		const struct st_case *c = &st_cases[i];

		assert_row_int_equal(i,
				     st_same(c->b[0], c->b[1], c->b[2], c->l[0],
					     c->l[1], c->l[2]),
				     c->same);
	}
}

static void test_ds_state_unchanged_needs_keys(void **state)
{
	struct meta a;
	struct meta b;

	(void)state;
	/* no keys at all proves nothing */
	st_meta(&a, "abc", "0", "1");
	st_meta(&b, "abc", "0", "1");
	assert_false(ds_state_unchanged(NULL, &a, &b));
	assert_false(ds_state_unchanged(st_keys + 3, &a, &b));
	assert_true(ds_state_unchanged(st_keys, &a, &b));
	meta_release(&a);
	meta_release(&b);
}

/*
 * "sdb<i>", driven by fake_state_driver: a datastore of its own for table
 * row @i, so that rows sharing the fixture see only their own backups.
 */
static struct ds *row_ds(struct fixture *f, size_t i)
{
	struct conf_section s = { 0 };
	char name[32];

	snprintf(name, sizeof(name), "sdb%zu", i);
	s.type = (char *)"fakestate";
	s.name = name;
	assert_int_equal(ds_set_add(f->set, &fake_state_driver, &s), 0);
	return ds_set_find(f->set, name);
}

/* How many of @ds's backups are safety backups. */
static int count_safety(void *arg, const char *name)
{
	(*(int *)arg) += strstr(name, "-pre-recover") != NULL;
	return 0;
}

static int safety_backups(struct ds *ds)
{
	int n = 0;

	assert_int_equal(ds_backup_list(ds, count_safety, &n), 0);
	return n;
}

/* What state_read() answers at backup, and the markers the backup gets. */
static const struct marker_case {
	int state_err;
	const char *a;
	const char *b;
} marker_cases[] = {
	{ 0, "run1", "7" },
	/* the backup itself still works */
	{ -ECONNREFUSED, NULL, NULL },
};

static void test_ds_backup_state_markers(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(marker_cases) / sizeof(marker_cases[0]); i++) {
		const struct marker_case *c = &marker_cases[i];
		struct ds *ds = row_ds(f, i);
		char name[DS_NAME_MAX];
		char key[STORE_KEY_MAX + 1];
		struct obj_info oi;
		int reads = g_state_reads;

		g_state_err = c->state_err;
		assert_row_int_equal(i, ds_backup(ds, "", name, sizeof(name)),
				     0);
		assert_row_int_equal(i, g_state_reads, reads + 1);
		assert_row_int_equal(
			i, ds_backup_key(ds, name, key, sizeof(key)), 0);
		obj_info_init(&oi);
		assert_row_int_equal(
			i, store_head(f->st, ds->container, key, &oi), 0);
		assert_row_string_equal(i, meta_get(&oi.meta, "fake-a"), c->a);
		assert_row_string_equal(i, meta_get(&oi.meta, "fake-b"), c->b);
		obj_info_release(&oi);
	}
}

/*
 * Recover of a backup just taken (markers run1/7) when the live markers
 * are then run1/@b or unreadable: a safety backup unless they match.
 * Either way the status names the backup that holds the data from
 * before the recover.
 */
static const struct live_case {
	const char *b;
	int state_err;
	int safety;
} live_cases[] = {
	{ "7", 0, 0 },
	/* one write since */
	{ "8", 0, 1 },
	{ "7", -ETIMEDOUT, 1 },
};

/* @ds's status line last_safety_backup into @out; "" if there is none. */
static void last_safety(struct ds *ds, char *out, size_t size)
{
	static const char key[] = "\nlast_safety_backup: ";
	const char *line;
	struct buf b;
	size_t n = 0;

	buf_init(&b, 4096);
	assert_int_equal(ds_status(ds, &b), 0);
	line = strstr(buf_str(&b), key);
	if (line) {
		line += strlen(key);
		n = strcspn(line, "\n");
		assert_true(n < size);
		memcpy(out, line, n);
	}
	out[n] = '\0';
	buf_release(&b);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s);
	size_t k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void test_ds_recover_safety_by_live_state(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(live_cases) / sizeof(live_cases[0]); i++) {
		const struct live_case *c = &live_cases[i];
		struct ds *ds = row_ds(f, i);
		char name[DS_NAME_MAX];
		char last[DS_NAME_MAX];
		int recovers = g_recovers;

		g_state_b = "7";
		g_state_err = 0;
		assert_row_int_equal(i, ds_backup(ds, "", name, sizeof(name)),
				     0);
		g_state_b = c->b;
		g_state_err = c->state_err;
		assert_row_int_equal(i, ds_recover(ds, name, strlen(name)), 0);
		assert_row_int_equal(i, g_recovers, recovers + 1);
		assert_row_int_equal(i, safety_backups(ds), c->safety);
		last_safety(ds, last, sizeof(last));
		if (c->safety)
			assert_row_true(i, ends_with(last, "-pre-recover"));
		else
			assert_row_string_equal(i, last, name);
	}
}

#define MARKED_MAX 3

/*
 * Backups with and without markers (live: run1/7), the one recovered,
 * and how many safety backups that took: only the newest backup with
 * markers can prove the live data is kept, and only if it verifies.
 */
static const struct marked_case {
	struct {
		const char *name;
		const char *data;
		const char *a;
		const char *b;
	} put[MARKED_MAX];
	const char *target;
	const char *recovered;
	int safety;
} marked_cases[] = {
	/* an old backup without markers proves nothing */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", NULL, NULL },
	    { "2024-01-02T00:00:00Z", "GOOD-NEW", "run1", NULL } },
	  "latest",
	  "GOOD-NEW",
	  1 },
	/* the newest matches the live state but does not verify */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", NULL, NULL },
	    { "2024-01-02T00:00:00Z", "BAD", "run1", "7" } },
	  "2024-01-01T00:00:00Z",
	  "GOOD-OLD",
	  1 },
	/* the newest with markers counts, even behind one without */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", NULL, NULL },
	    { "2024-01-02T00:00:00Z", "GOOD-MID", "run1", "7" },
	    { "2024-01-03T00:00:00Z", "GOOD-NEW", NULL, NULL } },
	  "2024-01-01T00:00:00Z",
	  "GOOD-OLD",
	  0 },
	/* an older backup matching the live state is not enough */
	{ { { "2024-01-01T00:00:00Z", "GOOD-OLD", "run1", "7" },
	    { "2024-01-02T00:00:00Z", "GOOD-NEW", "run1", "6" } },
	  "2024-01-01T00:00:00Z",
	  "GOOD-OLD",
	  1 },
};

static void test_ds_recover_safety_by_backup_markers(void **state)
{
	struct fixture *f = *state;
	size_t i;
	size_t k;

	for (i = 0; i < sizeof(marked_cases) / sizeof(marked_cases[0]); i++) {
		const struct marked_case *c = &marked_cases[i];
		struct ds *ds = row_ds(f, i);

		for (k = 0; k < MARKED_MAX && c->put[k].name; k++)
			put_backup_to(f, ds, c->put[k].name, c->put[k].data,
				      c->put[k].a, c->put[k].b);
		memset(g_recovered, 0, sizeof(g_recovered));
		assert_row_int_equal(
			i, ds_recover(ds, c->target, strlen(c->target)), 0);
		assert_row_string_equal(i, g_recovered, c->recovered);
		assert_row_int_equal(i, safety_backups(ds), c->safety);
	}
}

/* ---- the staged pass ---- */

/* Pieces of a staged pass (1 MiB reads): more than the pipe's buffers. */
#define STAGE_PIECES (DS_STAGE_BUFS + 4)
#define STAGE_LEN ((size_t)(STAGE_PIECES - 1) * (1u << 20) + 1234)
#define STAGE_NAME "2024-01-01T00:00:00Z"

/*
 * "stg", driven by fake_stage_driver, with backup STAGE_NAME: STAGE_LEN
 * bytes that differ from piece to piece, starting with @first ('G'
 * verifies). Returns the backup's bytes (the caller frees them).
 */
static char *stage_setup(struct fixture *f, char first, struct ds **ds)
{
	struct conf_section s = { 0 };
	char *data = malloc(STAGE_LEN + 1);
	size_t i;

	assert_non_null(data);
	for (i = 0; i < STAGE_LEN; i++)
		data[i] = (char)('a' + (i * 7 + i / 4093) % 26);
	data[0] = first;
	data[STAGE_LEN] = '\0';
	s.type = (char *)"fakestage";
	s.name = (char *)"stg";
	assert_int_equal(ds_set_add(f->set, &fake_stage_driver, &s), 0);
	*ds = ds_set_find(f->set, "stg");
	put_backup_to(f, *ds, STAGE_NAME, data, NULL, NULL);
	return data;
}

/*
 * After a failed staged recover of @data (freed here): what was staged is
 * a prefix of it, in order, and it was neither synced nor applied.
 */
static void stage_failed(char *data)
{
	if (g_staged_len)
		assert_memory_equal(g_staged, data, g_staged_len);
	assert_int_equal(g_stage_syncs, 0);
	assert_int_equal(g_stage_applies, 0);
	free(data);
}

static void test_ds_recover_staged_bytes_in_order(void **state)
{
	struct fixture *f = *state;
	struct ds *ds;
	char *data = stage_setup(f, 'G', &ds);

	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)), 0);
	assert_int_equal(g_stage_writes, STAGE_PIECES);
	assert_int_equal(g_staged_len, STAGE_LEN);
	assert_memory_equal(g_staged, data, STAGE_LEN);
	/* written on the writer thread, which takes no signals */
	assert_int_equal(g_stage_on_main, 0);
	assert_int_equal(g_stage_unmasked, 0);
	assert_int_equal(g_stage_syncs, 1);
	assert_int_equal(g_stage_applies, 1);
	free(data);
}

/*
 * A recover whose @nth stage_write() fails with -ENOSPC: the pass fails
 * with it, nothing is written after it and nothing synced; returns how
 * many pieces were read.
 */
static unsigned stage_write_fails(struct fixture *f, unsigned nth)
{
	struct ds *ds;
	char *data = stage_setup(f, 'G', &ds);
	unsigned reads = mem_store_calls(f->st, MEM_OP_READ);

	g_stage_fail_at = nth;
	g_stage_fail_err = -ENOSPC;
	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)),
			 -ENOSPC);
	assert_int_equal(g_stage_writes, nth);
	assert_int_equal(g_staged_len, (size_t)(nth - 1) << 20);
	stage_failed(data);
	return mem_store_calls(f->st, MEM_OP_READ) - reads;
}

static void test_ds_recover_staged_write_error_stops_reader(void **state)
{
	unsigned reads = stage_write_fails(*state, 3);

	/* at most the pieces the ring held when the write failed */
	assert_true(reads <= 3 + DS_STAGE_BUFS - 1);
	assert_true(reads < STAGE_PIECES);
}

static void test_ds_recover_staged_last_write_error(void **state)
{
	unsigned reads = stage_write_fails(*state, STAGE_PIECES);

	/*
	 * all was read: only the end of the pass sees it. The read that
	 * finds the end races the writer's failing last write (a loaded
	 * machine lets the writer win now and then).
	 */
	assert_true(reads == STAGE_PIECES || reads == STAGE_PIECES + 1);
}

static void test_ds_recover_staged_read_error(void **state)
{
	struct fixture *f = *state;
	struct ds *ds;
	char *data = stage_setup(f, 'G', &ds);

	mem_store_fail(f->st, MEM_OP_READ, 3, -EIO);
	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)), -EIO);
	/* the writer may drop queued pieces, never write past the error */
	assert_true(g_stage_writes <= 2);
	stage_failed(data);
}

static void test_ds_recover_staged_bad_backup_not_synced(void **state)
{
	struct fixture *f = *state;
	struct ds *ds;
	char *data = stage_setup(f, 'B', &ds);

	assert_int_equal(ds_recover(ds, STAGE_NAME, strlen(STAGE_NAME)),
			 -EBADMSG);
	stage_failed(data);
}

/* ---- live stream ---- */

static void test_ds_live_sequential_only(void **state)
{
	struct fixture *f = *state;
	struct ds_live *l;
	char buf[64];

	assert_int_equal(ds_live_open(f->ds, &l), 0);
	assert_int_equal((int)ds_live_read(l, buf, 4, 0), 4);
	assert_int_equal((int)ds_live_read(l, buf, 4, 100), -EINVAL);
	assert_int_equal((int)ds_live_read(l, buf, sizeof(buf), 4),
			 (int)strlen(g_data) - 4);
	assert_int_equal(
		(int)ds_live_read(l, buf, sizeof(buf), (off_t)strlen(g_data)),
		0);
	ds_live_close(l);
}

/* ---- the providers ---- */

struct names {
	char all[512];
};

static int collect(void *arg, const char *name, const struct stat *st)
{
	struct names *n = arg;

	(void)st;
	strncat(n->all, name, sizeof(n->all) - strlen(n->all) - 1);
	strncat(n->all, " ", sizeof(n->all) - strlen(n->all) - 1);
	return 0;
}

static void test_ds_fs_datastores_tree(void **state)
{
	struct fixture *f = *state;
	const struct vfs_provider_ops *o = &ds_fs_datastores_ops;
	struct names n = { "" };
	struct stat st;

	assert_int_equal(o->readdir(f->fs, "", collect, &n), 0);
	assert_string_equal(n.all, "db ");
	n.all[0] = '\0';
	assert_int_equal(o->readdir(f->fs, "db", collect, &n), 0);
	assert_string_equal(n.all, "dump.bin backup recover status progress ");
	assert_int_equal(o->getattr(f->fs, "db/dump.bin", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal((int)st.st_size, 0);
	assert_int_equal(o->getattr(f->fs, "db/backup", &st), 0);
	assert_int_equal(st.st_mode & 0777, 0200);
	assert_int_equal(o->getattr(f->fs, "db/nope", &st), -ENOENT);
	assert_int_equal(o->getattr(f->fs, "nope", &st), -ENOENT);
	assert_int_equal(o->getattr(f->fs, "db/status/x", &st), -ENOENT);
}

static void test_ds_fs_access_rules(void **state)
{
	struct fixture *f = *state;
	const struct vfs_provider_ops *o = &ds_fs_datastores_ops;
	void *fh;

	assert_int_equal(o->open(f->fs, "db/status", O_WRONLY, &fh), -EACCES);
	assert_int_equal(o->open(f->fs, "db/dump.bin", O_WRONLY, &fh), -EACCES);
	assert_int_equal(o->open(f->fs, "db/backup", O_RDONLY, &fh), -EACCES);
	assert_int_equal(o->open(f->fs, "db/recover", O_RDWR, &fh), -EACCES);
	assert_int_equal(o->open(f->fs, "db", O_RDONLY, &fh), -EISDIR);
	assert_int_equal(o->truncate(f->fs, "db/status", 0), -EACCES);
	assert_int_equal(o->truncate(f->fs, "db/recover", 0), 0);
}

static void test_ds_fs_backup_and_recover_by_write(void **state)
{
	struct fixture *f = *state;
	const struct vfs_provider_ops *o = &ds_fs_datastores_ops;
	const struct vfs_provider_ops *r = &ds_fs_restore_ops;
	struct names n = { "" };
	char link[DS_NAME_MAX];
	char buf[2 * DS_NAME_MAX];
	struct stat st;
	void *fh;

	assert_int_equal(o->open(f->fs, "db/backup", O_WRONLY, &fh), 0);
	assert_int_equal((int)o->write(f->fs, fh, "1\n", 2, 0), 2);
	assert_int_equal(o->release(f->fs, fh), 0);

	assert_int_equal(r->readdir(f->fs, "db", collect, &n), 0);
	assert_int_equal(r->readlink(f->fs, "db/latest", link, sizeof(link)),
			 0);
	assert_non_null(strstr(n.all, link));
	assert_non_null(strstr(n.all, "latest"));
	snprintf(buf, sizeof(buf), "db/%s/dump.bin", link);
	assert_int_equal(r->getattr(f->fs, buf, &st), 0);
	assert_int_equal((int)st.st_size, (int)strlen(g_data));
	assert_int_equal(r->open(f->fs, buf, O_WRONLY, &fh), -EROFS);
	assert_int_equal(r->open(f->fs, buf, O_RDONLY, &fh), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal((int)r->read(f->fs, fh, buf, sizeof(buf), 0),
			 (int)strlen(g_data));
	assert_string_equal(buf, g_data);
	assert_int_equal(r->release(f->fs, fh), 0);

	assert_int_equal(o->open(f->fs, "db/recover", O_WRONLY, &fh), 0);
	assert_int_equal((int)o->write(f->fs, fh, "nope\n", 5, 0), -ENOENT);
	assert_int_equal((int)o->write(f->fs, fh, "latest\n", 7, 0), 7);
	assert_int_equal(o->release(f->fs, fh), 0);
	assert_int_equal(g_recovers, 1);
}

static int count_backups(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

/*
 * One action per open: a write at another offset than 0 (a second write
 * on the same open file, or the rest of a name written in pieces) is
 * refused with one log line, and nothing runs again.
 */
static void test_ds_fs_control_write_at_offset_refused(void **state)
{
	struct fixture *f = *state;
	const struct vfs_provider_ops *o = &ds_fs_datastores_ops;
	int nbackups = 0;
	void *fh;

	assert_int_equal(o->open(f->fs, "db/backup", O_WRONLY, &fh), 0);
	assert_int_equal((int)o->write(f->fs, fh, "a\n", 2, 0), 2);
	g_nerrors = 0;
	assert_int_equal((int)o->write(f->fs, fh, "b\n", 2, 2), -EINVAL);
	assert_int_equal(g_nerrors, 1);
	assert_int_equal(o->release(f->fs, fh), 0);
	assert_int_equal(ds_backup_list(f->ds, count_backups, &nbackups), 0);
	assert_int_equal(nbackups, 1);

	assert_int_equal(o->open(f->fs, "db/recover", O_WRONLY, &fh), 0);
	assert_int_equal((int)o->write(f->fs, fh, "latest\n", 7, 0), 7);
	assert_int_equal((int)o->write(f->fs, fh, "latest\n", 7, 7), -EINVAL);
	assert_int_equal(o->release(f->fs, fh), 0);
	assert_int_equal(g_recovers, 1);
}

static void test_ds_fs_status_and_progress_text(void **state)
{
	struct fixture *f = *state;
	const struct vfs_provider_ops *o = &ds_fs_datastores_ops;
	char buf[2048];
	ssize_t n;
	void *fh;

	assert_int_equal(o->open(f->fs, "db/status", O_RDONLY, &fh), 0);
	assert_true(o->direct_io(f->fs, fh));
	n = o->read(f->fs, fh, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "datastore: db\ntype: fake\n"));
	assert_non_null(strstr(buf, "state: idle\n"));
	assert_int_equal(o->release(f->fs, fh), 0);
	assert_int_equal(o->open(f->fs, "db/progress", O_RDONLY, &fh), 0);
	n = o->read(f->fs, fh, buf, sizeof(buf) - 1, 0);
	buf[n] = '\0';
	assert_string_equal(
		buf, "operation: none\nbytes_done: 0\nbytes_total: unknown\n");
	assert_int_equal(o->release(f->fs, fh), 0);
}

static void test_ds_fs_restore_unknown(void **state)
{
	struct fixture *f = *state;
	const struct vfs_provider_ops *r = &ds_fs_restore_ops;
	char link[64];
	struct stat st;
	void *fh;

	assert_int_equal(r->getattr(f->fs, "db/latest", &st), -ENOENT);
	assert_int_equal(r->readlink(f->fs, "db/latest", link, sizeof(link)),
			 -ENOENT);
	assert_int_equal(r->getattr(f->fs, "db/2024-01-01T00:00:00Z", &st),
			 -ENOENT);
	assert_int_equal(r->getattr(f->fs, "zz", &st), -ENOENT);
	assert_int_equal(r->open(f->fs, "db/x/dump.bin", O_RDONLY, &fh),
			 -ENOENT);
	assert_int_equal(r->getattr(f->fs, "db", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

/* One reader thread of test_ds_fs_restore_reads_one_call_at_a_time. */
struct par_read {
	const struct vfs_provider_ops *r;
	struct ds_fs *fs;
	void *fh;
	unsigned first;
	unsigned bad; /* reads that came back wrong */
};

static void *par_read_thread(void *arg)
{
	struct par_read *p = arg;
	size_t len = strlen(g_data);
	unsigned i;

	for (i = 0; i < 40; i++) {
		size_t off = (p->first + i) % len;
		char buf[64];
		ssize_t n =
			p->r->read(p->fs, p->fh, buf, sizeof(buf), (off_t)off);

		if (n != (ssize_t)(len - off) ||
		    memcmp(buf, g_data + off, len - off) != 0)
			p->bad++;
	}
	return NULL;
}

/*
 * FUSE threads read one restore/ handle at once (the kernel's read-ahead
 * sends several reads together); the store reader beneath takes one call
 * at a time (store.h), so the provider must serialize them.
 */
static void test_ds_fs_restore_reads_one_call_at_a_time(void **state)
{
	struct fixture *f = *state;
	const struct vfs_provider_ops *o = &ds_fs_datastores_ops;
	const struct vfs_provider_ops *r = &ds_fs_restore_ops;
	struct par_read p[4];
	pthread_t t[4];
	char link[DS_NAME_MAX];
	char path[2 * DS_NAME_MAX];
	void *fh;
	unsigned i;

	assert_int_equal(o->open(f->fs, "db/backup", O_WRONLY, &fh), 0);
	assert_int_equal((int)o->write(f->fs, fh, "1\n", 2, 0), 2);
	assert_int_equal(o->release(f->fs, fh), 0);
	assert_int_equal(r->readlink(f->fs, "db/latest", link, sizeof(link)),
			 0);
	snprintf(path, sizeof(path), "db/%s/dump.bin", link);
	assert_int_equal(r->open(f->fs, path, O_RDONLY, &fh), 0);

	mem_store_slow_reads(f->st, 300);
	for (i = 0; i < 4; i++) {
		p[i] = (struct par_read){
			.r = r, .fs = f->fs, .fh = fh, .first = i
		};
		assert_int_equal(
			pthread_create(&t[i], NULL, par_read_thread, &p[i]), 0);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	mem_store_slow_reads(f->st, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(p[i].bad, 0);
	assert_int_equal(mem_store_reader_overlaps(f->st), 0);
	assert_int_equal(r->release(f->fs, fh), 0);
}

/*
 * restore/ reads go through the driver's verifier in file order whatever
 * order they come in (the bytes before a read ahead are read again and
 * fed first), and the read that reaches the end gets its verdict: a
 * backup that does not verify fails there with -EBADMSG and one line,
 * and so does every read of the end after it.
 */
static void test_ds_fs_restore_reads_verified_in_order(void **state)
{
	static const char good[] = "GOOD-DATA-0123456789";
	struct fixture *f = *state;
	const struct vfs_provider_ops *r = &ds_fs_restore_ops;
	char buf[64];
	void *fh;

	put_backup(f, "2020-01-01T00:00:00Z", good);
	assert_int_equal(r->open(f->fs, "db/2020-01-01T00:00:00Z/dump.bin",
				 O_RDONLY, &fh),
			 0);
	g_nfed = 0;
	g_finals = 0;
	/* the kernel's read-ahead: a later read first */
	assert_int_equal((int)r->read(f->fs, fh, buf, 5, 10), 5);
	assert_memory_equal(buf, good + 10, 5);
	assert_int_equal((int)g_nfed, 15);
	assert_int_equal((int)r->read(f->fs, fh, buf, 5, 5), 5);
	assert_memory_equal(buf, good + 5, 5);
	assert_int_equal((int)r->read(f->fs, fh, buf, 5, 0), 5);
	assert_memory_equal(buf, good, 5);
	assert_int_equal(g_finals, 0);
	assert_int_equal((int)r->read(f->fs, fh, buf, sizeof(buf), 15), 5);
	assert_int_equal(g_finals, 1);
	assert_int_equal((int)g_nfed, (int)strlen(good));
	assert_memory_equal(g_fed, good, strlen(good));
	/* reading it again is not checked again */
	assert_int_equal((int)r->read(f->fs, fh, buf, sizeof(buf), 0), 20);
	assert_int_equal(g_finals, 1);
	assert_int_equal(r->release(f->fs, fh), 0);

	put_backup(f, "2020-01-02T00:00:00Z", "BAD-DATA-0123456789");
	assert_int_equal(r->open(f->fs, "db/2020-01-02T00:00:00Z/dump.bin",
				 O_RDONLY, &fh),
			 0);
	g_nerrors = 0;
	assert_int_equal((int)r->read(f->fs, fh, buf, 8, 0), 8);
	assert_int_equal((int)r->read(f->fs, fh, buf, sizeof(buf), 8),
			 -EBADMSG);
	assert_int_equal(g_nerrors, 1);
	assert_int_equal((int)r->read(f->fs, fh, buf, sizeof(buf), 8),
			 -EBADMSG);
	assert_int_equal(g_nerrors, 1);
	assert_int_equal(r->release(f->fs, fh), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ds_backup_name_format),
		cmocka_unit_test(test_ds_backup_name_is_valid),
		T(test_ds_config_prefix_and_container),
		T(test_ds_backup_commits_stream),
		T(test_ds_backup_failed_stream_leaves_nothing),
		T(test_ds_backup_same_second_gets_new_name),
		T(test_ds_backup_same_second_latest_is_newest),
		T(test_ds_backup_list_order_within_a_second),
		T(test_ds_backup_list_only_backups_latest_only_made),
		cmocka_unit_test(test_ds_backup_name_cmp),
		T(test_ds_backup_store_failure),
		T(test_ds_latest_and_resolve),
		T(test_ds_recover_takes_safety_backup_then_driver),
		T(test_ds_recover_refuses_corrupt_backup),
		T(test_ds_recover_no_safety_backup_no_recover),
		T(test_ds_one_job_at_a_time),
		T(test_ds_recover_garbage),
		T(test_ds_recover_driver_error_is_returned),
		T(test_ds_recover_staged_bytes_in_order),
		T(test_ds_recover_staged_write_error_stops_reader),
		T(test_ds_recover_staged_last_write_error),
		T(test_ds_recover_staged_read_error),
		T(test_ds_recover_staged_bad_backup_not_synced),
		T(test_ds_live_sequential_only),
		cmocka_unit_test(test_ds_state_unchanged),
		cmocka_unit_test(test_ds_state_unchanged_needs_keys),
		T(test_ds_backup_state_markers),
		T(test_ds_recover_safety_by_live_state),
		T(test_ds_recover_safety_by_backup_markers),
		T(test_ds_fs_datastores_tree),
		T(test_ds_fs_access_rules),
		T(test_ds_fs_backup_and_recover_by_write),
		T(test_ds_fs_control_write_at_offset_refused),
		T(test_ds_fs_status_and_progress_text),
		T(test_ds_fs_restore_unknown),
		T(test_ds_fs_restore_reads_one_call_at_a_time),
		T(test_ds_fs_restore_reads_verified_in_order),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
