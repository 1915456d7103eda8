/*
 * test_vfs_lookup.c - lookups answered from listings where the store lists
 * by page (Swift): the stat cache's directory marks (vfs_cache.c) and the
 * vfs's use of them (vfs.c), over the mem store with list_page(); and an
 * open for reading of a file the cache knows, which opens the store's
 * reader at the first read.
 */
#include <limits.h>
#include <time.h>

#include "vfs_fixture.h"

#include "../../fs/vfs_i.h"

/* ---- the cache's marks, alone ---- */

static struct stat file_stat(off_t size)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_size = size;
	return st;
}

static enum vfs_cached cached(struct vfs_cache *c, const char *path)
{
	struct stat st;

	return vfs_cache_lookup(c, path, &st);
}

/* /c/d listed whole: a, b with their stats, sub as listed. */
static void cache_with_listing(struct vfs_cache *c, size_t max)
{
	struct stat st = file_stat(1);
	uint64_t gen;

	assert_int_equal(vfs_cache_init(c, 60, max), 0);
	gen = vfs_cache_gen(c);
	vfs_cache_put(c, "/c/d/a", &st, gen);
	vfs_cache_put(c, "/c/d/b", &st, gen);
	vfs_cache_put_listed(c, "/c/d/sub", true, gen);
	vfs_cache_mark(c, "/c/d/", true, gen);
}

static void test_mark_answers_for_the_directory(void **state)
{
	struct vfs_cache c;
	struct stat st;

	(void)state;
	cache_with_listing(&c, 100);
	assert_int_equal(vfs_cache_lookup(&c, "/c/d/a", &st), VFS_CACHED_STAT);
	assert_int_equal(st.st_size, 1);
	assert_int_equal(vfs_cache_lookup(&c, "/c/d/sub", &st),
			 VFS_CACHED_LISTED);
	assert_int_equal(st.st_mode, S_IFDIR); /* a subdirectory, no object */
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_UNLISTED);
	assert_true(vfs_cache_get(&c, "/c/d/none", &st));
	assert_int_equal(st.st_mode, 0);
	/* only for names directly in it */
	assert_int_equal(cached(&c, "/c/d/sub/x"), VFS_CACHED_NONE);
	assert_int_equal(cached(&c, "/c/other"), VFS_CACHED_NONE);
	/* a listed name does not hide what a stat says */
	vfs_cache_put_listed(&c, "/c/d/a", false, vfs_cache_gen(&c));
	assert_int_equal(cached(&c, "/c/d/a"), VFS_CACHED_STAT);
	vfs_cache_release(&c);
}

/*
 * Whatever may make a name of the directory exist without being cached
 * drops its mark; what the vfs itself creates or moves in is cached as
 * listed, and what it moves away is gone: the mark holds.
 */
static void test_mark_follows_changes(void **state)
{
	struct vfs_cache c;

	(void)state;
	cache_with_listing(&c, 100);
	vfs_cache_drop_added(&c, "/c/d/new");
	assert_int_equal(cached(&c, "/c/d/new"), VFS_CACHED_LISTED);
	vfs_cache_drop_moved(&c, "/c/d/new", "/c/d/moved");
	assert_int_equal(cached(&c, "/c/d/new"), VFS_CACHED_UNLISTED);
	assert_int_equal(cached(&c, "/c/d/moved"), VFS_CACHED_LISTED);
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_UNLISTED);
	/* a file of a directory not cached: that one may exist now */
	vfs_cache_drop_added(&c, "/c/d/x/y");
	assert_int_equal(cached(&c, "/c/d/x/y"), VFS_CACHED_LISTED);
	assert_int_equal(cached(&c, "/c/d/x"), VFS_CACHED_NONE);
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_NONE);
	vfs_cache_release(&c);

	/* a drop: the name or a directory above it may be anything now */
	cache_with_listing(&c, 100);
	vfs_cache_drop(&c, "/c/d/a");
	assert_int_equal(cached(&c, "/c/d/a"), VFS_CACHED_NONE);
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_NONE);
	vfs_cache_release(&c);

	/* moved out to another directory: this one's mark holds */
	cache_with_listing(&c, 100);
	vfs_cache_drop_moved(&c, "/c/d/a", "/c/e/a");
	assert_int_equal(cached(&c, "/c/d/a"), VFS_CACHED_UNLISTED);
	assert_int_equal(cached(&c, "/c/e/a"), VFS_CACHED_LISTED);
	vfs_cache_drop_tree(&c, "/c/d/sub");
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_NONE);
	vfs_cache_release(&c);

	/* a listing that read before a change leaves no mark after it */
	{
		uint64_t gen;

		assert_int_equal(vfs_cache_init(&c, 60, 100), 0);
		gen = vfs_cache_gen(&c);
		vfs_cache_drop_added(&c, "/c/d/late");
		vfs_cache_put_listed(&c, "/c/d/other", false, gen);
		vfs_cache_mark(&c, "/c/d/", true, gen);
		assert_int_equal(cached(&c, "/c/d/late"), VFS_CACHED_LISTED);
		assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_NONE);
		assert_int_equal(cached(&c, "/c/d/other"), VFS_CACHED_NONE);
		vfs_cache_release(&c);
	}
}

/* An evicted name of a listed directory takes the directory's mark. */
static void test_mark_dropped_by_eviction(void **state)
{
	struct stat st = file_stat(2);
	struct vfs_cache c;

	(void)state;
	cache_with_listing(&c, 4); /* a, b, sub, the mark */
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_UNLISTED);
	vfs_cache_put(&c, "/c/e", &st, vfs_cache_gen(&c)); /* evicts a */
	assert_int_equal(cached(&c, "/c/d/a"), VFS_CACHED_NONE);
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_NONE);
	vfs_cache_release(&c);
}

/* A complete mark lasts the negative TTL; a name's stat, its own. */
static void test_mark_expires(void **state)
{
	struct timespec nap = { 0, 300 * 1000 * 1000 };
	struct stat st = file_stat(1);
	struct vfs_cache c;
	uint64_t gen;

	(void)state;
	assert_int_equal(vfs_cache_init(&c, 0.2, 100), 0);
	gen = vfs_cache_gen(&c);
	vfs_cache_put(&c, "/c/d/a", &st, gen);
	vfs_cache_mark(&c, "/c/d/", true, gen);
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_UNLISTED);
	nanosleep(&nap, NULL);
	assert_int_equal(cached(&c, "/c/d/none"), VFS_CACHED_NONE);
	assert_int_equal(cached(&c, "/c/d/a"), VFS_CACHED_NONE);
	vfs_cache_release(&c);
}

static void test_too_big_mark(void **state)
{
	struct vfs_cache c;

	(void)state;
	assert_int_equal(vfs_cache_init(&c, 60, 100), 0);
	vfs_cache_mark(&c, "/c/big/", false, vfs_cache_gen(&c));
	assert_int_equal(cached(&c, "/c/big/x"), VFS_CACHED_UNLISTABLE);
	assert_int_equal(cached(&c, "/c/big"), VFS_CACHED_NONE);
	vfs_cache_release(&c);
}

/* ---- the vfs over a store that lists by page ---- */

struct calls {
	unsigned heads;
	unsigned lists;
};

static struct calls calls_now(struct fx *f)
{
	struct calls k = {
		.heads = mem_store_calls(f->mem, MEM_OP_HEAD),
		.lists = mem_store_calls(f->mem, MEM_OP_LIST),
	};

	return k;
}

/* Asserts the store saw @heads HEADs and @lists listings since @k. */
static void calls_since(struct fx *f, struct calls k, unsigned heads,
			unsigned lists)
{
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_HEAD), k.heads + heads);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_LIST), k.lists + lists);
}

/*
 * A name not cached costs one listing of its directory; the names there
 * are answered from it, those not there without a request while it is
 * fresh. Directories (a marker's attributes are not in its parent's
 * listing) are looked up as before.
 */
static void test_lookup_by_listing(void **state)
{
	struct fx *f = *state;
	struct calls k;
	struct stat st;

	put(f->st, C, "a", "1", "1600000000", "600");
	put(f->st, C, "d/", "", "1500000000", "700");
	put(f->st, C, "i/x", "abc", NULL, NULL);
	put(f->st, C, "both", "1", NULL, NULL);
	put(f->st, C, "both/z", "2", NULL, NULL);
	k = calls_now(f);
	assert_int_equal(vfs_getattr(f->v, P "none", &st), -ENOENT);
	calls_since(f, k, 0, 1);
	assert_int_equal(vfs_getattr(f->v, P "a", &st), 0);
	assert_int_equal(st.st_size, 1);
	assert_int_equal(st.st_mode, S_IFREG | 0600);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(vfs_getattr(f->v, P "other", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "none", &st), -ENOENT);
	/* a file and a directory of one name: the file wins */
	assert_int_equal(vfs_getattr(f->v, P "both", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	calls_since(f, k, 0, 1);
	assert_int_equal(vfs_getattr(f->v, P "d", &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0700);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	assert_int_equal(vfs_getattr(f->v, P "i", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* the listing showed no object of their names: a listing under each */
	calls_since(f, k, 0, 3);
	assert_int_equal(vfs_getattr(f->v, P "i/x", &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(vfs_getattr(f->v, P "i/y", &st), -ENOENT);
	calls_since(f, k, 0, 4);
	/* under a file: one listing finds nothing there */
	assert_int_equal(vfs_getattr(f->v, P "i/x/z", &st), -ENOENT);
	calls_since(f, k, 0, 5);
}

/* Creates @path with @data through the vfs. */
static void vfs_put(struct fx *f, const char *path, const char *data)
{
	struct vfs_handle *h;
	size_t len = strlen(data);

	assert_int_equal(vfs_create(f->v, path, 0644, O_WRONLY | O_EXCL, &h),
			 0);
	assert_int_equal(vfs_write(h, data, len, 0), (ssize_t)len);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
}

/*
 * What the vfs changes in a listed directory shows at once, and the
 * listing still answers for the names not there: rsync's temp file,
 * written, renamed onto its name, and the next file's names.
 */
static void test_own_changes_keep_the_listing(void **state)
{
	struct fx *f = *state;
	struct calls k;
	struct stat st;

	assert_int_equal(vfs_mkdir(f->v, P "d", 0755), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/f1", &st), -ENOENT);
	k = calls_now(f);
	assert_int_equal(vfs_getattr(f->v, P "d/.f1.tmp", &st), -ENOENT);
	vfs_put(f, P "d/.f1.tmp", "one");
	assert_int_equal(vfs_getattr(f->v, P "d/.f1.tmp", &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(vfs_rename(f->v, P "d/.f1.tmp", P "d/f1", 0), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/.f1.tmp", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "d/f2", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "d/.f2.tmp", &st), -ENOENT);
	/* a renamed file is what it was (rsync stats it again later) */
	assert_int_equal(vfs_getattr(f->v, P "d/f1", &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	calls_since(f, k, 0, 0);

	assert_int_equal(vfs_mkdir(f->v, P "d/sub", 0700), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/sub", &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0700);
	assert_int_equal(vfs_symlink(f->v, "f1", P "d/ln"), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/ln", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(vfs_unlink(f->v, P "d/f1"), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/f1", &st), -ENOENT);
	vfs_put(f, P "d/f1", "again");
	assert_int_equal(vfs_getattr(f->v, P "d/f1", &st), 0);
	assert_int_equal(st.st_size, 5);
	/* a file in a new directory below: both show */
	assert_int_equal(vfs_getattr(f->v, P "d/n", &st), -ENOENT);
	assert_int_equal(vfs_mkdir(f->v, P "d/n", 0755), 0);
	vfs_put(f, P "d/n/x", "x");
	assert_int_equal(vfs_getattr(f->v, P "d/n", &st), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/n/x", &st), 0);
	/* a directory renamed away goes, its new name shows */
	assert_int_equal(vfs_rename(f->v, P "d/n", P "d/m", 0), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/n", &st), -ENOENT);
	assert_int_equal(vfs_getattr(f->v, P "d/m/x", &st), 0);
	assert_int_equal(vfs_rmdir(f->v, P "d/sub"), 0);
	assert_int_equal(vfs_getattr(f->v, P "d/sub", &st), -ENOENT);
}

/*
 * Names another client stores show once the negative TTL (at most the
 * attribute TTL) has passed since the listing.
 */
static void test_other_clients_names_show_after_the_ttl(void **state)
{
	struct timespec nap = { 0, 300 * 1000 * 1000 };
	struct fx *f = *state;
	struct vfs_conf vc;
	struct stat st;

	vfs_free(f->v);
	vconf(&vc, 0.2);
	assert_int_equal(vfs_new(&vc, f->st, &f->v), 0);
	assert_int_equal(vfs_getattr(f->v, P "late", &st), -ENOENT);
	put(f->st, C, "late", "x", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "late", &st), -ENOENT);
	nanosleep(&nap, NULL);
	assert_int_equal(vfs_getattr(f->v, P "late", &st), 0);
}

/*
 * A create that opens what exists (touch, >>; no O_EXCL) asks for a name
 * the listing lacks: an object another client just stored is opened, not
 * replaced by an empty one. mkdir asks too.
 */
static void test_create_asks_for_an_unlisted_name(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;
	char buf[8];

	assert_int_equal(vfs_getattr(f->v, P "late", &st), -ENOENT);
	put(f->st, C, "late", "kept", NULL, NULL);
	put(f->st, C, "file", "x", NULL, NULL);
	put(f->st, C, "other", "x", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "late", &st), -ENOENT);
	assert_int_equal(vfs_create(f->v, P "late", 0644, O_RDWR, &h), 0);
	assert_int_equal(vfs_read(h, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "kept", 4);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(vfs_mkdir(f->v, P "file", 0755), -EEXIST);
	assert_int_equal(
		vfs_create(f->v, P "other", 0644, O_WRONLY | O_EXCL, &h),
		0); /* O_EXCL: believed new, as the listing says */
	assert_int_equal(vfs_release(h), 0);
}

/*
 * A directory bigger than a lookup's page: the page's names are cached,
 * others are looked up by name, and for the TTL the directory is not
 * listed again for a lookup.
 */
static void test_lookup_in_a_big_directory(void **state)
{
	struct fx *f = *state;
	char key[32];
	struct calls k;
	struct stat st;
	unsigned i;

	for (i = 0; i < VFS_LOOKUP_PAGE + 5; i++) {
		snprintf(key, sizeof(key), "big/o%05u", i);
		put(f->st, C, key, "x", "1600000000", NULL);
	}
	assert_int_equal(vfs_getattr(f->v, P "big", &st), 0);
	k = calls_now(f);
	assert_int_equal(vfs_getattr(f->v, P "big/zzz", &st), -ENOENT);
	calls_since(f, k, 1, 2); /* the page, a HEAD, a listing under it */
	assert_int_equal(vfs_getattr(f->v, P "big/o00003", &st), 0);
	calls_since(f, k, 1, 2);
	snprintf(key, sizeof(key), P "big/o%05u", VFS_LOOKUP_PAGE + 2);
	assert_int_equal(vfs_getattr(f->v, key, &st), 0);
	assert_int_equal(vfs_getattr(f->v, P "big/yyy", &st), -ENOENT);
	calls_since(f, k, 3, 3);
}

/*
 * rsync opens each file it wrote read-only to fchmod() it and reads
 * nothing: the store's reader (a HEAD on Swift) waits for a first read
 * when the file's stat is cached. A file gone by then fails its reads with
 * ENOENT (cat says what the open would have) and one log line; one not
 * cached is looked for at the open.
 */
static void
test_open_for_reading_opens_the_reader_at_the_first_read(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	unsigned opens;
	char buf[8];

	vfs_put(f, P "w", "written");
	opens = mem_store_calls(f->mem, MEM_OP_READER_OPEN);
	assert_int_equal(vfs_open(f->v, P "w", O_RDONLY, &h), 0);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_READER_OPEN), opens);
	assert_int_equal(vfs_read(h, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "written", 7);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_READER_OPEN),
			 opens + 1);
	assert_int_equal(vfs_release(h), 0);

	assert_int_equal(vfs_open(f->v, P "w", O_RDONLY, &h), 0);
	assert_int_equal(store_del(f->st, C, "w"), 0); /* another client */
	log_lines = 0;
	assert_int_equal(vfs_read(h, buf, sizeof(buf), 0), -ENOENT);
	assert_int_equal(vfs_read(h, buf, sizeof(buf), 0), -ENOENT);
	assert_int_equal(log_lines, 1);
	assert_non_null(strstr(log_last, "deleted before its first read"));
	assert_int_equal(vfs_release(h), 0);

	/* not cached: the open asks the store */
	put(f->st, C, "sub/foreign", "abc", NULL, NULL);
	opens = mem_store_calls(f->mem, MEM_OP_READER_OPEN);
	assert_int_equal(vfs_open(f->v, P "sub/foreign", O_RDONLY, &h), 0);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_READER_OPEN),
			 opens + 1);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(vfs_open(f->v, P "sub/none", O_RDONLY, &h), -ENOENT);
}

#define TPL(fn) cmocka_unit_test_setup_teardown(fn, setup_paged, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mark_answers_for_the_directory),
		cmocka_unit_test(test_mark_follows_changes),
		cmocka_unit_test(test_mark_dropped_by_eviction),
		cmocka_unit_test(test_mark_expires),
		cmocka_unit_test(test_too_big_mark),
		TPL(test_lookup_by_listing),
		TPL(test_own_changes_keep_the_listing),
		TPL(test_other_clients_names_show_after_the_ttl),
		TPL(test_create_asks_for_an_unlisted_name),
		TPL(test_lookup_in_a_big_directory),
		T(test_open_for_reading_opens_the_reader_at_the_first_read),
		TPL(test_open_for_reading_opens_the_reader_at_the_first_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
