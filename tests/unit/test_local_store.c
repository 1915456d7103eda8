/*
 * test_local_store.c - the local leaf: the shared store suite
 * (store_suite.h) over a store in a fresh temporary directory per test,
 * plus what only the local store has: the on-disk layout, staging and
 * atomic commit, xattrs, paths crossing files and directories, symlinks,
 * long and unusual names, a full disk (a small tmpfs, when root) and a
 * filesystem without user xattrs (ramfs, when root).
 */
#include "store_suite.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../backends/local_store.h"
#include "../../conf/log.h"

/* The current test's directories: BASE/root is the store's root. */
static char ls_base[PATH_MAX];
static char ls_root[PATH_MAX];
static char ls_mnt[PATH_MAX]; /* a test's tmpfs/ramfs, "" if none */

static struct store *local_make(void)
{
	struct store *st = NULL;
	int n;

	n = snprintf(ls_base, sizeof(ls_base), "/tmp/trovefs-ls-XXXXXX");
	if (n < 0 || (size_t)n >= sizeof(ls_base) || !mkdtemp(ls_base))
		return NULL;
	n = snprintf(ls_root, sizeof(ls_root), "%s/root", ls_base);
	if (n < 0 || (size_t)n >= sizeof(ls_root))
		return NULL;
	ls_mnt[0] = '\0';
	if (local_store_new(ls_root, &st))
		return NULL;
	return st;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void local_unmake(struct store *st)
{
	store_destroy(st);
	if (ls_mnt[0])
		umount2(ls_mnt, MNT_DETACH);
	ls_mnt[0] = '\0';
	nftw(ls_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* @a/@b into @dst; truncation fails the test. */
static void join(char *dst, size_t size, const char *a, const char *b)
{
	int n = snprintf(dst, size, "%s/%s", a, b);

	assert_true(n > 0 && (size_t)n < size);
}

/* BASE/@rel into @dst. */
static void base_path(char *dst, size_t size, const char *rel)
{
	join(dst, size, ls_base, rel);
}

/* ROOT/@rel in a static buffer (one at a time). */
static const char *rpath(const char *rel)
{
	static char p[PATH_MAX * 2];
	int n = snprintf(p, sizeof(p), "%s/%s", ls_root, rel);

	assert_true(n > 0 && (size_t)n < sizeof(p));
	return p;
}

/* Entries of directory @path, "." and ".." aside. */
static int count_entries(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	}
	closedir(d);
	return n;
}

static int staged_files(void)
{
	return count_entries(rpath(".trovefs/tmp"));
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* Error log lines seen through the log hook. */
static int log_errors;
static char log_last[512];

static void log_hook(int level, const char *msg)
{
	if (level > LOG_ERR)
		return;
	log_errors++;
	/* a longer message is cut: tests look for short substrings */
	if (snprintf(log_last, sizeof(log_last), "%s", msg) < 0)
		log_last[0] = '\0';
}

static void log_watch(void)
{
	log_errors = 0;
	log_last[0] = '\0';
	log_set_hook(log_hook);
}

/* ---- opening ---- */

static void test_local_new_makes_root_and_staging(void **state)
{
	struct stat sb;

	(void)state;
	assert_int_equal(stat(ls_root, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(stat(rpath(".trovefs/tmp"), &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(staged_files(), 0);
}

static void test_local_new_not_a_directory(void **state)
{
	struct store *st = NULL;
	char file[PATH_MAX];
	int fd;

	(void)state;
	base_path(file, sizeof(file), "file");
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(local_store_new(file, &st), -ENOTDIR);
	assert_null(st);
}

/* A crash leaves staging files; the next open removes them. */
static void test_local_reopen_cleans_staging(void **state)
{
	struct store *st = NULL;
	int fd;

	fd = open(rpath(".trovefs/tmp/w-stale"), O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	assert_int_equal(mkdir(rpath(".trovefs/tmp/d-stale"), 0700), 0);
	assert_int_equal(staged_files(), 2);
	store_destroy(*state);
	*state = NULL;
	assert_int_equal(local_store_new(ls_root, &st), 0);
	*state = st;
	assert_int_equal(staged_files(), 0);
}

static void test_local_new_without_user_xattrs(void **state)
{
	struct store *st = NULL;
	char root[PATH_MAX * 2];

	(void)state;
	if (geteuid() != 0)
		skip();
	base_path(ls_mnt, sizeof(ls_mnt), "ramfs");
	assert_int_equal(mkdir(ls_mnt, 0700), 0);
	if (mount("ramfs", ls_mnt, "ramfs", 0, NULL)) {
		ls_mnt[0] = '\0';
		skip();
	}
	join(root, sizeof(root), ls_mnt, "root");
	log_watch();
	assert_int_equal(local_store_new(root, &st), -ENOTSUP);
	log_set_hook(NULL);
	assert_null(st);
	assert_int_equal(log_errors, 1);
	assert_non_null(strstr(log_last, "lacks user xattrs"));
}

/* ".trovefs" is the staging area, never a container. */
static void test_local_staging_is_hidden(void **state)
{
	struct store *st = *state;
	struct suite_list sl = { 0 };
	struct obj_info oi;
	int fd;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, ".trovefs"), -EINVAL);
	assert_int_equal(store_delete_container(st, ".trovefs"), -EINVAL);
	assert_int_equal(store_list(st, ".trovefs", "", 0, suite_list_cb, &sl),
			 -EINVAL);
	assert_int_equal(store_head(st, ".trovefs", "tmp/", &oi), -EINVAL);
	assert_int_equal(store_create_container(st, "c"), 0);
	/* a stray file in the root is no container either */
	fd = open(rpath("stray"), O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_list_containers(st, suite_list_cb, &sl), 0);
	assert_string_equal(sl.names, "c");
	assert_true(sl.kept[0].mtime.tv_sec > 1600000000);
	suite_list_release(&sl);
}

/* ---- layout and atomic commit ---- */

static void test_local_commit_is_atomic(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;
	struct stat sb;

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(store_writer_open(st, "c", "d/k", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "abc", 3), 0);
	/* staged, not under the key; not even the parent exists yet */
	assert_int_equal(staged_files(), 1);
	assert_false(exists(rpath("c/d")));
	assert_int_equal(store_writer_commit(w, NULL), 0);
	assert_int_equal(staged_files(), 0);
	assert_int_equal(stat(rpath("c/d/k"), &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_size, 3);

	/* abort removes the staging file, and the old object stays */
	assert_int_equal(store_writer_open(st, "c", "d/k", NULL, &w), 0);
	assert_int_equal(store_writer_write(w, "abcdef", 6), 0);
	assert_int_equal(staged_files(), 1);
	store_writer_abort(w);
	assert_int_equal(staged_files(), 0);
	assert_int_equal(stat(rpath("c/d/k"), &sb), 0);
	assert_int_equal(sb.st_size, 3);
}

static void test_local_meta_in_xattrs(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m;
	char v[64];
	ssize_t n;

	suite_meta2(&m, "mode", "644", NULL, NULL);
	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "k", "v", &m), 0);
	n = getxattr(rpath("c/k"), "user.trovefs.mode", v, sizeof(v));
	assert_int_equal(n, 3);
	assert_memory_equal(v, "644", 3);

	/* others' xattrs, and ours that are not metadata, are not read */
	assert_int_equal(setxattr(rpath("c/k"), "user.other", "x", 1, 0), 0);
	assert_int_equal(setxattr(rpath("c/k"), "user.trovefs.Bad", "x", 1, 0),
			 0);
	assert_int_equal(store_head(st, "c", "k", &oi), 0);
	assert_int_equal(oi.meta.n, 1);
	assert_string_equal(meta_get(&oi.meta, "mode"), "644");
	obj_info_release(&oi);

	/* set_meta replaces ours only */
	meta_release(&m);
	assert_int_equal(store_set_meta(st, "c", "k", &m), 0);
	assert_true(getxattr(rpath("c/k"), "user.trovefs.mode", v, sizeof(v)) <
		    0);
	assert_int_equal(getxattr(rpath("c/k"), "user.other", v, sizeof(v)), 1);

	/* a marker's metadata lives on its directory */
	suite_meta2(&m, "mode", "700", NULL, NULL);
	assert_int_equal(suite_put(st, "c", "dir/", "", &m), 0);
	n = getxattr(rpath("c/dir"), "user.trovefs.mode", v, sizeof(v));
	assert_int_equal(n, 3);
	assert_memory_equal(v, "700", 3);
	meta_release(&m);
}

/* Directories are markers; writing nested keys makes them. */
static void test_local_implied_markers(void **state)
{
	struct store *st = *state;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "p/q/r", "x", NULL), 0);
	suite_assert_list(st, "c", "", 0, "p/,p/q/,p/q/r");
	suite_assert_list(st, "c", "", '/', "[p/]");
	suite_assert_list(st, "c", "p/", '/', "p/,[p/q/]");
	assert_int_equal(store_head(st, "c", "p/", &oi), 0);
	obj_info_release(&oi);
	/* a marker with objects below cannot go */
	assert_int_equal(store_del(st, "c", "p/"), -ENOTEMPTY);
	assert_int_equal(store_del(st, "c", "p/q/r"), 0);
	suite_assert_list(st, "c", "", 0, "p/,p/q/");
	assert_int_equal(store_del(st, "c", "p/q/"), 0);
	assert_int_equal(store_del(st, "c", "p/"), 0);
	suite_assert_list(st, "c", "", 0, "");
}

static void test_local_enotdir_eisdir(void **state)
{
	struct store *st = *state;
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "f", "file", NULL), 0);
	log_watch();
	assert_int_equal(suite_put(st, "c", "f/x", "below a file", NULL),
			 -ENOTDIR);
	assert_int_equal(suite_put(st, "c", "f/y/z", "deeper", NULL), -ENOTDIR);
	assert_int_equal(suite_put(st, "c", "f/", "", NULL), -ENOTDIR);
	assert_int_equal(suite_put(st, "c", "d/x", "x", NULL), 0);
	assert_int_equal(suite_put(st, "c", "d", "on a directory", NULL),
			 -EISDIR);
	assert_int_equal(store_rename(st, "c", "f", "c", "d"), -EISDIR);
	assert_int_equal(store_rename(st, "c", "d/x", "c", "f/x"), -ENOTDIR);
	log_set_hook(NULL);
	/* expected answers, not failures: nothing logged */
	assert_int_equal(log_errors, 0);
	assert_int_equal(staged_files(), 0);
	assert_int_equal(store_head(st, "c", "f/x", &oi), -ENOENT);
	assert_int_equal(store_head(st, "c", "d", &oi), -ENOENT);
	suite_assert_content(st, "c", "f", "file");
	suite_assert_content(st, "c", "d/x", "x");
}

static void test_local_long_names(void **state)
{
	struct store *st = *state;
	struct store_writer *w = NULL;
	char key[NAME_MAX + 2];
	char want[NAME_MAX + 8];
	struct obj_info oi;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	memset(key, 'x', NAME_MAX);
	key[NAME_MAX] = '\0';
	assert_int_equal(suite_put(st, "c", key, "long", NULL), 0);
	suite_assert_content(st, "c", key, "long");
	suite_assert_list(st, "c", "", 0, key);

	join(want, sizeof(want), "dir", key);
	assert_int_equal(suite_put(st, "c", want, "long2", NULL), 0);
	memset(want, 'y', NAME_MAX);
	want[NAME_MAX] = '/';
	want[NAME_MAX + 1] = '\0';
	assert_int_equal(suite_put(st, "c", want, "", NULL), 0);
	assert_int_equal(store_head(st, "c", want, &oi), 0);
	obj_info_release(&oi);

	/* one byte more is more than the filesystem takes */
	key[NAME_MAX] = 'x';
	key[NAME_MAX + 1] = '\0';
	assert_int_equal(store_writer_open(st, "c", key, NULL, &w),
			 -ENAMETOOLONG);
	assert_int_equal(store_head(st, "c", key, &oi), -ENOENT);
	assert_int_equal(store_del(st, "c", key), -ENOENT);
	join(want, sizeof(want), key, "x");
	assert_int_equal(store_writer_open(st, "c", want, NULL, &w),
			 -ENAMETOOLONG);
	assert_int_equal(store_head(st, "c", want, &oi), -ENOENT);
	assert_int_equal(staged_files(), 0);
}

static void test_local_unusual_names(void **state)
{
	static const char key[] =
		"dir with space/na\xc3\xafve \xe2\x98\x83.txt";
	struct store *st = *state;

	assert_int_equal(store_create_container(st, "my container"), 0);
	assert_int_equal(suite_put(st, "my container", key, "snow", NULL), 0);
	assert_true(exists(rpath("my container/dir with space/"
				 "na\xc3\xafve \xe2\x98\x83.txt")));
	suite_assert_content(st, "my container", key, "snow");
	suite_assert_list(st, "my container", "dir with space/", '/',
			  "dir with space/,"
			  "dir with space/na\xc3\xafve \xe2\x98\x83.txt");
}

/* Symlinks planted in the tree are neither followed nor listed. */
static void test_local_symlinks_not_followed(void **state)
{
	struct store *st = *state;
	struct store_reader *r = NULL;
	char outside[PATH_MAX];
	char secret[PATH_MAX + 16];
	struct obj_info oi;
	int fd;

	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	base_path(outside, sizeof(outside), "outside");
	assert_int_equal(mkdir(outside, 0700), 0);
	join(secret, sizeof(secret), outside, "secret");
	fd = open(secret, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink(outside, rpath("c/link")), 0);
	assert_int_equal(symlink(secret, rpath("c/flink")), 0);

	assert_int_equal(store_head(st, "c", "link/secret", &oi), -ENOENT);
	assert_int_equal(store_reader_open(st, "c", "link/secret", &r),
			 -ENOENT);
	assert_int_equal(store_head(st, "c", "flink", &oi), -ENOENT);
	assert_int_equal(store_head(st, "c", "link/", &oi), -ENOENT);
	assert_int_equal(store_del(st, "c", "link/secret"), -ENOENT);
	assert_int_equal(suite_put(st, "c", "link/x", "escape", NULL),
			 -ENOTDIR);
	assert_int_equal(count_entries(outside), 1);
	assert_true(exists(secret));
	suite_assert_list(st, "c", "", 0, "");
	suite_assert_list(st, "c", "link/", 0, "");
	assert_int_equal(store_rename(st, "c", "flink", "c", "x"), -ENOENT);

	/* a symlinked container is no container */
	assert_int_equal(symlink(outside, rpath("lc")), 0);
	assert_int_equal(store_head(st, "lc", "secret", &oi), -ENOENT);
}

/* Fifos and sockets in the tree are not objects. */
static void test_local_list_skips_special_files(void **state)
{
	struct store *st = *state;

	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "d/real", "x", NULL), 0);
	assert_int_equal(mkfifo(rpath("c/d/fifo"), 0600), 0);
	suite_assert_list(st, "c", "d/", 0, "d/,d/real");
	suite_assert_list(st, "c", "d/", '/', "d/,d/real");
}

/*
 * Renaming a directory tree object by object, then its marker: the
 * marker merges into the directory the objects made.
 */
static void test_local_marker_rename_merges(void **state)
{
	struct store *st = *state;
	struct obj_info oi;
	struct meta m;

	suite_meta2(&m, "mode", "711", NULL, NULL);
	obj_info_init(&oi);
	assert_int_equal(store_create_container(st, "c"), 0);
	assert_int_equal(suite_put(st, "c", "s/", "", &m), 0);
	assert_int_equal(suite_put(st, "c", "s/x", "x", NULL), 0);
	assert_int_equal(store_rename(st, "c", "s/x", "c", "t/x"), 0);
	assert_int_equal(store_rename(st, "c", "s/", "c", "t/"), 0);
	suite_assert_list(st, "c", "", 0, "t/,t/x");
	assert_int_equal(store_head(st, "c", "t/", &oi), 0);
	assert_string_equal(meta_get(&oi.meta, "mode"), "711");
	obj_info_release(&oi);

	/* a source with objects below cannot merge */
	assert_int_equal(suite_put(st, "c", "u/y", "y", NULL), 0);
	assert_int_equal(store_rename(st, "c", "u/", "c", "t/"), -ENOTEMPTY);
	suite_assert_content(st, "c", "u/y", "y");
	/* into a new name the whole directory moves */
	assert_int_equal(store_rename(st, "c", "u/", "c", "v/"), 0);
	suite_assert_list(st, "c", "", 0, "t/,t/x,v/,v/y");
	meta_release(&m);
}

static void test_local_statfs_is_the_filesystem(void **state)
{
	struct store *st = *state;
	struct store_statfs sf;

	assert_int_equal(store_statfs(st, &sf), 0);
	assert_true(sf.bytes_total > 0);
	assert_true(sf.bytes_free <= sf.bytes_total);
	assert_true(sf.bytes_used <= sf.bytes_total);
	assert_int_equal(sf.objects, 0);
}

/* Disk full: -ENOSPC, one log line, nothing left, space given back. */
static void test_local_enospc(void **state)
{
	struct store *small = NULL;
	char root[PATH_MAX * 2];
	size_t len = 1024 * 1024;
	struct obj_info oi;
	char *data;

	(void)state;
	if (geteuid() != 0)
		skip();
	base_path(ls_mnt, sizeof(ls_mnt), "small");
	assert_int_equal(mkdir(ls_mnt, 0700), 0);
	if (mount("tmpfs", ls_mnt, "tmpfs", 0, "size=256k")) {
		ls_mnt[0] = '\0';
		skip();
	}
	join(root, sizeof(root), ls_mnt, "root");
	assert_int_equal(local_store_new(root, &small), 0);
	assert_int_equal(store_create_container(small, "c"), 0);
	data = calloc(1, len);
	assert_non_null(data);

	log_watch();
	assert_int_equal(suite_put_bytes(small, "c", "big", data, len, NULL),
			 -ENOSPC);
	log_set_hook(NULL);
	assert_int_equal(log_errors, 1);
	assert_non_null(strstr(log_last, "'c/big'"));
	assert_non_null(strstr(log_last, "No space left on device"));
	obj_info_init(&oi);
	assert_int_equal(store_head(small, "c", "big", &oi), -ENOENT);
	join(root, sizeof(root), ls_mnt, "root/.trovefs/tmp");
	assert_int_equal(count_entries(root), 0);

	/* the space came back */
	assert_int_equal(
		suite_put_bytes(small, "c", "fits", data, 64 * 1024, NULL), 0);
	free(data);
	store_destroy(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_SUITE_TESTS,
		SUITE_TEST(test_local_new_makes_root_and_staging),
		SUITE_TEST(test_local_new_not_a_directory),
		SUITE_TEST(test_local_reopen_cleans_staging),
		SUITE_TEST(test_local_new_without_user_xattrs),
		SUITE_TEST(test_local_staging_is_hidden),
		SUITE_TEST(test_local_commit_is_atomic),
		SUITE_TEST(test_local_meta_in_xattrs),
		SUITE_TEST(test_local_implied_markers),
		SUITE_TEST(test_local_enotdir_eisdir),
		SUITE_TEST(test_local_long_names),
		SUITE_TEST(test_local_unusual_names),
		SUITE_TEST(test_local_symlinks_not_followed),
		SUITE_TEST(test_local_list_skips_special_files),
		SUITE_TEST(test_local_marker_rename_merges),
		SUITE_TEST(test_local_statfs_is_the_filesystem),
		SUITE_TEST(test_local_enospc),
	};

	store_suite_use(local_make, local_unmake);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
