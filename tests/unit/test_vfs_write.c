/*
 * test_vfs_write.c - the data side of fs/vfs.h over the mem store, and a
 * few cases over codec -> mem: writes and reads, sequential-write
 * enforcement, commit and write failures, open errors, concurrent reads,
 * renames of open and closed files and of directories, truncate.
 * The namespace cases are in test_vfs.c; the fixture is vfs_fixture.h.
 */
#include <pthread.h>

#include "vfs_fixture.h"

/* ---- writing ---- */

/* The stored content of @k is the string @want. */
static void assert_stored(struct fx *f, const char *k, const char *want)
{
	char *back = content(f->st, k, NULL);

	assert_string_equal(back, want);
	free(back);
}

/* The stored mode of @k is @want (octal digits). */
static void assert_stored_mode(struct fx *f, const char *k, const char *want)
{
	char buf[16];

	assert_string_equal(meta_of(f->st, k, "mode", buf, sizeof(buf)), want);
}

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

static void test_write_below_written_refused(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;

	put(f->st, C, "r", "stored before", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "r", O_WRONLY | O_TRUNC, &h), 0);
	assert_int_equal(vfs_write(h, "abcdef", 6, 0), 6);
	log_lines = 0;
	assert_int_equal(vfs_write(h, "x", 1, 2), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	assert_non_null(strstr(
		log_last,
		"writing 'c/r' again at offset 2 (6 bytes are written) is not supported"));
	/* sticky: neither cut short nor patched, the old object stays */
	assert_int_equal(vfs_write(h, "g", 1, 6), -EOPNOTSUPP);
	assert_int_equal(vfs_flush(h), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	assert_int_equal(vfs_release(h), 0);
	assert_stored(f, "r", "stored before");

	/* a truncate below what was written (GNU cp never does this) */
	assert_int_equal(vfs_create(f->v, P "s", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_write(h, "0123456789", 10, 0), 10);
	assert_int_equal(vfs_truncate(f->v, P "s", 5, h), -EOPNOTSUPP);
	assert_int_equal(vfs_write(h, "x", 1, 10), -EOPNOTSUPP);
	assert_int_equal(vfs_release(h), -EOPNOTSUPP);
	assert_false(exists(f->st, C, "s"));
	assert_int_equal(vfs_getattr(f->v, P "s", &st), -ENOENT);
}

/*
 * GNU cp and rsync --sparse seek over a sparse file's holes and extend
 * its tail with ftruncate(): the holes are stored as zeros.
 */
static void test_write_holes_read_as_zeros(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	size_t len = (200 << 10) + 7; /* a hole spanning several fills */
	char *want = calloc(1, len);
	char *back;
	size_t n;

	assert_non_null(want);
	memcpy(want, "head", 4);
	memcpy(want + 100000, "middle", 6);
	put(f->st, C, "z", "stored before", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "z", O_WRONLY | O_TRUNC, &h), 0);
	assert_int_equal(vfs_write(h, "head", 4, 0), 4);
	assert_int_equal(vfs_write(h, "middle", 6, 100000), 6);
	assert_int_equal(vfs_truncate(f->v, P "z", (off_t)len, h), 0);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	back = content(f->st, "z", &n);
	assert_int_equal(n, len);
	assert_memory_equal(back, want, len);
	free(back);

	/* the first write need not start at 0 */
	assert_int_equal(vfs_create(f->v, P "t", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_write(h, "x", 1, 4096), 1);
	assert_int_equal(vfs_release(h), 0);
	back = content(f->st, "t", &n);
	assert_int_equal(n, 4097);
	memset(want, 0, 4097);
	want[4096] = 'x';
	assert_memory_equal(back, want, 4097);
	free(back);
	free(want);
}

static void test_write_existing_needs_truncate(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;

	put(f->st, C, "e", "original", NULL, "600");
	assert_int_equal(vfs_open(f->v, P "e", O_WRONLY, &h), 0);
	log_lines = 0;
	assert_int_equal(vfs_write(h, "new", 3, 0), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	/* sticky: an append after it is refused too, and so is the close */
	assert_int_equal(vfs_write(h, "more", 4, 8), -EOPNOTSUPP);
	assert_int_equal(vfs_flush(h), -EOPNOTSUPP);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(log_lines, 1);
	assert_stored(f, "e", "original");
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_WRITER_OPEN), 1);

	/* ftruncate(fd, 0) first: then it is a new file */
	assert_int_equal(vfs_open(f->v, P "e", O_RDWR, &h), 0);
	assert_int_equal(vfs_truncate(f->v, P "e", 0, h), 0);
	assert_int_equal(vfs_write(h, "new", 3, 0), 3);
	assert_int_equal(vfs_read(h, (char[4]){ 0 }, 3, 0), -EOPNOTSUPP);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_stored(f, "e", "new");
	assert_stored_mode(f, "e", "600");

	/* O_RDWR without truncation reads the object */
	assert_int_equal(vfs_open(f->v, P "e", O_RDWR, &h), 0);
	{
		char buf[8] = { 0 };

		assert_int_equal(vfs_read(h, buf, sizeof(buf) - 1, 0), 3);
		assert_string_equal(buf, "new");
	}
	assert_int_equal(vfs_release(h), 0);
}

/*
 * Appending to a stored file (>>, O_APPEND: a write at or past its end):
 * stored anew, its old bytes first, mode kept; until the commit the old
 * one is what the store has, and it stays if anything fails.
 */
static void test_append_to_existing(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;

	put(f->st, C, "a", "original", NULL, "600");
	assert_int_equal(vfs_open(f->v, P "a", O_WRONLY | O_APPEND, &h), 0);
	assert_int_equal(vfs_write(h, "+more", 5, 8), 5);
	assert_int_equal(vfs_getattr(f->v, P "a", &st), 0);
	assert_int_equal(st.st_size, 13);
	assert_stored(f, "a", "original");
	assert_int_equal(vfs_write(h, "!", 1, 13), 1);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_stored(f, "a", "original+more!");
	assert_stored_mode(f, "a", "600");

	/* past the end: a hole of zeros between */
	assert_int_equal(vfs_open(f->v, P "a", O_WRONLY, &h), 0);
	assert_int_equal(vfs_write(h, "z", 1, 16), 1);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	{
		size_t len = 0;
		char *back = content(f->st, "a", &len);

		assert_int_equal(len, 17);
		assert_memory_equal(back, "original+more!\0\0z", 17);
		free(back);
	}

	/* replaced by someone else since it was opened: ESTALE, theirs kept */
	assert_int_equal(vfs_open(f->v, P "a", O_WRONLY | O_APPEND, &h), 0);
	put(f->st, C, "a", "theirs", NULL, NULL);
	log_lines = 0;
	assert_int_equal(vfs_write(h, "x", 1, 17), -ESTALE);
	assert_int_equal(log_lines, 1);
	assert_int_equal(vfs_flush(h), -ESTALE);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(log_lines, 1);
	assert_stored(f, "a", "theirs");

	/*
	 * O_APPEND goes at the end of what the descriptor opened, whatever
	 * offset the kernel gives (its cached size of an older version, or
	 * of another descriptor's file being written): no zeros between.
	 */
	assert_int_equal(vfs_open(f->v, P "a", O_WRONLY | O_APPEND, &h), 0);
	assert_int_equal(vfs_write(h, "1", 1, 100), 1);
	assert_int_equal(vfs_write(h, "2", 1, 50), 1);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_stored(f, "a", "theirs12");

	/* two appenders at once: the second is refused, the first stored */
	{
		struct vfs_handle *h2;

		assert_int_equal(vfs_open(f->v, P "a", O_WRONLY | O_APPEND, &h),
				 0);
		assert_int_equal(
			vfs_open(f->v, P "a", O_WRONLY | O_APPEND, &h2), 0);
		assert_int_equal(vfs_write(h, "A", 1, 8), 1);
		log_lines = 0;
		assert_int_equal(vfs_write(h2, "B", 1, 9), -EBUSY);
		assert_int_equal(log_lines, 1);
		assert_int_equal(vfs_write(h, "a", 1, 9), 1);
		assert_int_equal(vfs_flush(h), 0);
		assert_int_equal(vfs_flush(h2), -EBUSY);
		assert_int_equal(vfs_release(h), 0);
		assert_int_equal(vfs_release(h2), 0);
		assert_int_equal(log_lines, 1);
		assert_stored(f, "a", "theirs12Aa");
	}

	/* the copy fails: the write and the close fail, the old one stays */
	assert_int_equal(vfs_open(f->v, P "a", O_WRONLY | O_APPEND, &h), 0);
	mem_store_fail(f->mem, MEM_OP_READ, 1, -EIO);
	assert_int_equal(vfs_write(h, "x", 1, 10), -EIO);
	assert_int_equal(vfs_flush(h), -EIO);
	assert_int_equal(vfs_release(h), 0);
	assert_stored(f, "a", "theirs12Aa");
}

/* A head() during which the touch's release lands (its commit ends). */
static struct vfs_handle *release_in_head;
static int (*release_orig_head)(struct store *, const char *, const char *,
				struct obj_info *);

static int head_then_release(struct store *st, const char *c, const char *k,
			     struct obj_info *oi)
{
	int err = release_orig_head(st, c, k, oi);
	struct vfs_handle *h = release_in_head;

	if (h && strcmp(k, "tw") == 0) {
		release_in_head = NULL;
		assert_int_equal(vfs_flush(h), 0);
		assert_int_equal(vfs_release(h), 0);
	}
	return err;
}

/*
 * touch f; echo x > f: the open of the second must not fail with ENOENT
 * when the touch's commit ends while it looks. The open shares the
 * touch's handle (nothing written yet) and asks the store nothing; were
 * the HEAD asked and the commit to end right after it, f would be
 * neither stored (for that HEAD) nor pending any more.
 */
static void test_open_while_the_creator_commits(void **state)
{
	struct fx *f = *state;
	const struct store_ops *ops = f->mem->ops;
	struct store_ops racing;
	struct vfs_handle *touch;
	struct vfs_handle *h = NULL;
	int err;

	assert_int_equal(
		vfs_create(f->v, P "tw", 0644, O_WRONLY | O_CREAT, &touch), 0);
	racing = *ops;
	release_orig_head = ops->head;
	racing.head = head_then_release;
	release_in_head = touch;
	f->mem->ops = &racing;
	err = vfs_open(f->v, P "tw", O_WRONLY | O_TRUNC, &h);
	f->mem->ops = ops;
	assert_int_equal(err, 0);
	assert_ptr_equal(h, touch);
	assert_int_equal(vfs_write(h, "x", 1, 0), 1);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	if (release_in_head) {
		release_in_head = NULL;
		assert_int_equal(vfs_release(touch), 0);
	}
	assert_stored(f, "tw", "x");
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
	assert_stored(f, "echo", "hi\n");
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
	/* ": > f; cat f" over a stored f: empty too, not the old bytes */
	put(f->st, C, "old", "old content", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "old", O_WRONLY | O_TRUNC, &w), 0);
	assert_int_equal(vfs_flush(w), 0);
	assert_int_equal(vfs_open(f->v, P "old", O_RDONLY, &r), 0);
	assert_int_equal(vfs_read(r, buf, sizeof(buf), 0), 0);
	assert_int_equal(vfs_release(r), 0);
	assert_int_equal(vfs_release(w), 0);
	assert_stored(f, "old", "");
	/* once written to, an uncommitted file is not readable as empty */
	assert_int_equal(
		vfs_create(f->v, P "busy", 0644, O_WRONLY | O_CREAT, &w), 0);
	assert_int_equal(vfs_write(w, "x", 1, 0), 1);
	assert_int_equal(vfs_open(f->v, P "busy", O_RDONLY, &r), -EBUSY);
	assert_int_equal(vfs_release(w), 0);
}

/*
 * touch f; echo x > f (or >> f): touch's release, which commits the empty
 * file, may come after the shell's open of f. The open shares the touch's
 * handle; the last of their releases (or a close after writing) commits.
 */
static void test_write_before_release_of_empty_file(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *w;
	struct vfs_handle *h;

	assert_int_equal(
		vfs_create(f->v, P "touched", 0600, O_WRONLY | O_CREAT, &w), 0);
	assert_int_equal(vfs_flush(w), 0);
	assert_int_equal(vfs_create(f->v, P "touched", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &h),
			 0);
	assert_ptr_equal(h, w);
	assert_int_equal(vfs_write(h, "x\n", 2, 0), 2);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	/* touch's release comes last: it must not store an empty file */
	assert_int_equal(vfs_release(w), 0);
	assert_stored(f, "touched", "x\n");
	assert_stored_mode(f, "touched", "600");

	/* appending: an empty file is written anew */
	assert_int_equal(
		vfs_create(f->v, P "app", 0644, O_WRONLY | O_CREAT, &w), 0);
	assert_int_equal(vfs_flush(w), 0);
	assert_int_equal(vfs_open(f->v, P "app", O_WRONLY | O_APPEND, &h), 0);
	assert_int_equal(vfs_write(h, "y", 1, 0), 1);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(w), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_stored(f, "app", "y");

	/* a file another open file is writing: EBUSY, one log line */
	assert_int_equal(
		vfs_create(f->v, P "busy", 0644, O_WRONLY | O_CREAT, &w), 0);
	assert_int_equal(vfs_write(w, "z", 1, 0), 1);
	log_lines = 0;
	assert_int_equal(vfs_open(f->v, P "busy", O_WRONLY | O_TRUNC, &h),
			 -EBUSY);
	assert_int_equal(log_lines, 1);
	assert_non_null(strstr(
		log_last, "'c/busy' is being written by another open file"));
	assert_int_equal(vfs_release(w), 0);
	assert_stored(f, "busy", "z");
}

/* cp new f while cat f: the old object reads whole, past the new size */
static void test_read_while_replaced(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *w;
	struct vfs_handle *r;
	char buf[32] = "";

	put(f->st, C, "f", "the old content", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "f", O_RDONLY, &r), 0);
	assert_false(vfs_handle_direct_io(r));
	assert_int_equal(vfs_release(r), 0);
	assert_int_equal(vfs_open(f->v, P "f", O_WRONLY | O_TRUNC, &w), 0);
	assert_int_equal(vfs_write(w, "new", 3, 0), 3);
	assert_int_equal(vfs_open(f->v, P "f", O_RDONLY, &r), 0);
	assert_true(vfs_handle_direct_io(r));
	assert_int_equal(vfs_read(r, buf, sizeof(buf), 0), 15);
	assert_string_equal(buf, "the old content");
	assert_int_equal(vfs_release(w), 0);
	assert_int_equal(vfs_release(r), 0);
	assert_stored(f, "f", "new");
}

/*
 * cmd > f 2> f: the shell opens f twice before cmd writes anything. The
 * second open shares the first's handle, so cmd's output is stored
 * (committing the empty file at the second open left stdout writing a
 * file already stored: EOPNOTSUPP, and f held only what stderr wrote).
 * Both writing from 0 is refused, once, and nothing is stored.
 */
static void test_second_open_shares_new_file(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *out;
	struct vfs_handle *err;

	assert_int_equal(vfs_create(f->v, P "two", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &out),
			 0);
	assert_int_equal(vfs_flush(out), 0); /* dup2() then close() */
	assert_int_equal(vfs_create(f->v, P "two", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &err),
			 0);
	assert_ptr_equal(err, out);
	assert_int_equal(vfs_flush(err), 0);
	assert_int_equal(vfs_write(out, "out\n", 4, 0), 4);
	assert_int_equal(vfs_write(out, "more\n", 5, 4), 5);
	assert_int_equal(vfs_release(err), 0); /* stderr closed first */
	assert_false(exists(f->st, C, "two"));
	assert_int_equal(vfs_flush(out), 0);
	assert_int_equal(vfs_release(out), 0);
	assert_stored(f, "two", "out\nmore\n");

	/* both write from 0: a disk would overlay them; refused here */
	assert_int_equal(vfs_create(f->v, P "both", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &out),
			 0);
	assert_int_equal(vfs_create(f->v, P "both", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &err),
			 0);
	assert_int_equal(vfs_write(out, "out\n", 4, 0), 4);
	log_lines = 0;
	assert_int_equal(vfs_write(err, "err\n", 4, 0), -EOPNOTSUPP);
	assert_int_equal(vfs_write(out, "out2\n", 5, 4), -EOPNOTSUPP);
	assert_int_equal(log_lines, 1);
	assert_int_equal(vfs_release(err), 0);
	assert_int_equal(vfs_flush(out), -EOPNOTSUPP);
	assert_int_equal(vfs_release(out), 0);
	assert_false(exists(f->st, C, "both"));

	/* ": > f; echo x >> f" over a stored f: x, not the old bytes and x */
	put(f->st, C, "old", "old content", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "old", O_WRONLY | O_TRUNC, &out), 0);
	assert_int_equal(vfs_flush(out), 0);
	assert_int_equal(vfs_open(f->v, P "old", O_WRONLY | O_APPEND, &err), 0);
	assert_int_equal(vfs_write(err, "x\n", 2, 11), 2);
	assert_int_equal(vfs_flush(err), 0);
	assert_int_equal(vfs_release(out), 0);
	assert_int_equal(vfs_release(err), 0);
	assert_stored(f, "old", "x\n");
}

/*
 * touch g; echo y >> g where the touch's release, its commit of the empty
 * file, is still under way at the append's first write: the empty file
 * being created is no second writer, so the append goes on.
 */
static void test_append_while_empty_creation_commits(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *t;
	struct vfs_handle *h;

	assert_int_equal(vfs_create(f->v, P "g", 0644, O_WRONLY | O_CREAT, &t),
			 0);
	put(f->st, C, "g", "", NULL, NULL); /* its commit reached the store */
	assert_int_equal(vfs_open(f->v, P "g", O_WRONLY | O_APPEND, &h), 0);
	assert_int_equal(vfs_write(h, "y\n", 2, 0), 2);
	assert_int_equal(vfs_release(t), 0);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	assert_stored(f, "g", "y\n");
}

/*
 * A file opened from the stat cache opens its reader at the first read;
 * replaced in the store before that read, it stays on no version: ESTALE
 * and one line, never the other version's bytes.
 */
static void test_read_pinned_from_open(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *r;
	struct stat st;
	char buf[32] = "";

	put(f->st, C, "p", "the old content", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "p", &st), 0);
	assert_int_equal(vfs_open(f->v, P "p", O_RDONLY, &r), 0);
	put(f->st, C, "p", "NEW", NULL, NULL);
	log_lines = 0;
	assert_int_equal(vfs_read(r, buf, sizeof(buf), 0), -ESTALE);
	assert_int_equal(vfs_read(r, buf, sizeof(buf), 0), -ESTALE);
	assert_int_equal(log_lines, 1);
	assert_string_equal(buf, "");
	assert_int_equal(vfs_release(r), 0);
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
	assert_stored(f, "d/f", "new data");
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
	assert_stored(f, "v", "abcdef");
}

/*
 * mv f g while f is open, before its first read or append: the open
 * files follow it, as on a disk (they found nothing under f: ENOENT on
 * the read, ESTALE on the append).
 */
static void test_rename_while_open(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *r;
	struct vfs_handle *a;
	struct stat st;
	char buf[8] = "";

	put(f->st, C, "mv", "abc", NULL, NULL);
	assert_int_equal(vfs_getattr(f->v, P "mv", &st), 0);
	assert_int_equal(vfs_open(f->v, P "mv", O_RDONLY, &r), 0);
	assert_int_equal(vfs_open(f->v, P "mv", O_WRONLY | O_APPEND, &a), 0);
	assert_int_equal(vfs_rename(f->v, P "mv", P "moved", 0), 0);
	assert_int_equal(vfs_read(r, buf, sizeof(buf), 0), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(vfs_write(a, "d", 1, 3), 1);
	assert_int_equal(vfs_flush(a), 0);
	assert_int_equal(vfs_release(a), 0);
	assert_int_equal(vfs_release(r), 0);
	assert_stored(f, "moved", "abcd");
	assert_false(exists(f->st, C, "mv"));
}

static void test_rename_file(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char buf[64];

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
	assert_stored(f, "b", "aaa");
	assert_string_equal(meta_of(f->st, "b", "mode", buf, sizeof(buf)),
			    "604");
	assert_int_equal(vfs_rename(f->v, P "b", P "d/b", 0), 0);
	assert_true(exists(f->st, C, "d/b"));

	/* no rename in the store: copied, metadata and all */
	mem_store_fail(f->mem, MEM_OP_RENAME, 1, -EXDEV);
	assert_int_equal(vfs_rename(f->v, P "d/b", P "c2", 0), 0);
	assert_false(exists(f->st, C, "d/b"));
	assert_stored(f, "c2", "aaa");
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

/*
 * truncate -s 1T f, then Ctrl-C: the zeros (there are no holes in the
 * store) stop being written, with one line, and the close fails without
 * storing a file cut short; an append's copy of the stored bytes too.
 */
static void test_long_fill_interrupted(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;

	assert_int_equal(
		vfs_create(f->v, P "big", 0644, O_WRONLY | O_CREAT, &h), 0);
	fx_interrupt_after = 3;
	log_lines = 0;
	assert_int_equal(vfs_truncate(f->v, P "big", 1ll << 40, h), -EINTR);
	assert_int_equal(log_lines, 1);
	assert_non_null(
		strstr(log_last, "'c/big' is not stored: extending it"));
	assert_int_equal(vfs_write(h, "x", 1, 0), -EINTR);
	assert_int_equal(vfs_flush(h), -EINTR);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(log_lines, 1);
	assert_false(exists(f->st, C, "big"));

	put(f->st, C, "old", "the old content", NULL, NULL);
	assert_int_equal(vfs_open(f->v, P "old", O_WRONLY | O_APPEND, &h), 0);
	fx_interrupt_after = 1;
	log_lines = 0;
	assert_int_equal(vfs_write(h, "x", 1, 15), -EINTR);
	/* the info line "appending to 'c/old': ..." and the warning */
	assert_int_equal(log_lines, 2);
	assert_non_null(strstr(log_last, "copying its stored bytes"));
	assert_int_equal(vfs_flush(h), -EINTR);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(log_lines, 2);
	assert_stored(f, "old", "the old content");
}

/* ---- over the codec ---- */

/*
 * An empty file whose stored object is corrupt: the kernel sends no read
 * for a size of 0, so its open (even one the stat cache answers) is where
 * that shows (it read as an empty, valid file).
 */
static void test_codec_corrupt_empty_fails_open(void **state)
{
	struct fx *f = *state;
	struct vfs_handle *h;
	struct stat st;
	int err;

	assert_int_equal(vfs_create(f->v, P "e", 0644, O_WRONLY | O_CREAT, &h),
			 0);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(mem_store_poke(f->mem, C, "e", 20, 'X'), 0);
	assert_int_equal(vfs_getattr(f->v, P "e", &st), 0);
	assert_int_equal(st.st_size, 0);
	log_lines = 0;
	err = vfs_open(f->v, P "e", O_RDONLY, &h);
	/* a header that does not authenticate reads as another key's: EIO */
	assert_true(err == -EBADMSG || err == -EIO);
	assert_int_equal(log_lines, 1);
}

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

/*
 * fsync waits for what the codec sealed so far and asks the store below:
 * a failure there (a segment upload, on Swift) fails the fsync, then the
 * close, and nothing is stored.
 */
static void test_codec_fsync_reaches_store(void **state)
{
	struct fx *f = *state;
	size_t len = 3u << 20; /* frames sealed and handed on before fsync */
	char *data = malloc(len);
	struct vfs_handle *h;
	struct stat st;
	char *back;
	size_t n;

	assert_non_null(data);
	memset(data, 'x', len);
	assert_int_equal(vfs_create(f->v, P "ok", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &h),
			 0);
	assert_int_equal(vfs_write(h, data, len, 0), (int)len);
	assert_int_equal(vfs_fsync(h, false), 0);
	assert_int_equal(mem_store_calls(f->mem, MEM_OP_SYNC), 1);
	assert_int_equal(vfs_write(h, "tail", 4, len), 4);
	assert_int_equal(vfs_flush(h), 0);
	assert_int_equal(vfs_release(h), 0);
	back = read_file(f->v, P "ok", &n);
	assert_int_equal(n, len + 4);
	assert_memory_equal(back + len, "tail", 4);
	free(back);

	assert_int_equal(vfs_create(f->v, P "bad", 0644,
				    O_WRONLY | O_CREAT | O_TRUNC, &h),
			 0);
	assert_int_equal(vfs_write(h, data, len, 0), (int)len);
	mem_store_fail(f->mem, MEM_OP_SYNC, 1, -EIO);
	assert_int_equal(vfs_fsync(h, true), -EIO);
	assert_int_equal(vfs_write(h, "tail", 4, len), -EIO);
	assert_int_equal(vfs_flush(h), -EIO);
	assert_int_equal(vfs_release(h), 0);
	assert_int_equal(vfs_getattr(f->v, P "bad", &st), -ENOENT);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_write_read_roundtrip),
		T(test_write_below_written_refused),
		T(test_write_holes_read_as_zeros),
		T(test_write_existing_needs_truncate),
		T(test_append_to_existing),
		T(test_open_while_the_creator_commits),
		T(test_commit_failure_enospc),
		T(test_write_failure_is_sticky),
		T(test_empty_files_and_deferred_flush),
		T(test_read_before_release_of_empty_file),
		T(test_write_before_release_of_empty_file),
		T(test_read_while_replaced),
		T(test_read_pinned_from_open),
		T(test_append_while_empty_creation_commits),
		T(test_second_open_shares_new_file),
		T(test_open_errors),
		T(test_read_errors_pass_through),
		T(test_concurrent_reads_one_handle),
		T(test_rename_uncommitted_before_write),
		T(test_rename_uncommitted_counts),
		T(test_rename_uncommitted_after_write),
		T(test_rename_while_open),
		T(test_rename_file),
		T(test_rename_dir),
		T(test_truncate),
		T(test_long_fill_interrupted),
		TC(test_codec_roundtrip_and_rename),
		TC(test_codec_corrupt_empty_fails_open),
		TC(test_codec_fsync_reaches_store),
		TC(test_codec_mkdir_rmdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
