/*
 * test_ds_fs.c - unit tests of the restore/ and datastores/ providers
 * (datastores/ds_fs.c) over the fake driver of ds_fixture.h: the trees,
 * their access rules, backup and recover by writing a control file,
 * status and progress text, unknown names, and restore/ reads (one call
 * at a time, verified in file order).
 */
#include "ds_fixture.h"

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
	assert_int_equal(o->truncate(f->fs, "db/recover", 0), 0);
	/* a refused truncate says why, once */
	g_nwarnings = 0;
	assert_int_equal(o->truncate(f->fs, "db/progress", 0), -EACCES);
	assert_int_equal(g_nwarnings, 1);
	assert_int_equal(o->truncate(f->fs, "db/backup", 5), -EINVAL);
	assert_int_equal(g_nwarnings, 2);
	assert_int_equal(o->truncate(f->fs, "db/recover", 0), 0);
	assert_int_equal(g_nwarnings, 2);
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
	int before;
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

	/*
	 * "echo 1 > backup; echo 1 >> backup": the second open is O_APPEND
	 * and its write comes at the size the kernel noted after the first
	 * (2); it acts, once.
	 */
	nbackups = 0;
	assert_int_equal(ds_backup_list(f->ds, count_backups, &nbackups), 0);
	before = nbackups;
	assert_int_equal(o->open(f->fs, "db/backup", O_WRONLY | O_APPEND, &fh),
			 0);
	assert_int_equal((int)o->write(f->fs, fh, "1\n", 2, 2), 2);
	g_nerrors = 0;
	assert_int_equal((int)o->write(f->fs, fh, "1\n", 2, 4), -EINVAL);
	assert_int_equal(g_nerrors, 1);
	assert_int_equal(o->release(f->fs, fh), 0);
	nbackups = 0;
	assert_int_equal(ds_backup_list(f->ds, count_backups, &nbackups), 0);
	assert_int_equal(nbackups, before + 1);
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
	assert_non_null(strstr(buf, "\nlast_safety_backup: none\n"));
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
