/*
 * test_workpool.c - unit tests of backends/workpool.c: lazy thread start
 * (also across fork), FIFO order, wait, drain on free.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../backends/workpool.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

/* A job embedded in a caller struct, as the codec layer does it. */
struct work {
	struct workpool_job job;
	unsigned id;
	unsigned *order; /* shared log of run order */
	unsigned *next;	 /* shared counter, 1-thread pools */
	uint64_t result;
};

static void work_fn(struct workpool_job *job)
{
	struct work *w = container_of(job, struct work, job);
	uint64_t x = w->id + 1;
	unsigned i;

	/* some CPU work so jobs overlap */
	for (i = 0; i < 20000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	w->result = x;
	if (w->order)
		w->order[(*w->next)++] = w->id;
}

static uint64_t expect_result(unsigned id)
{
	uint64_t x = id + 1;
	unsigned i;

	for (i = 0; i < 20000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_workpool_size_as_asked(void **state)
{
	struct workpool *wp = NULL;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	assert_int_equal(workpool_new(3, &wp), 0);
	assert_int_equal(workpool_size(wp), 3);
	workpool_free(wp);
	assert_int_equal(workpool_new(0, &wp), 0);
	assert_int_equal(workpool_size(wp), ncpu > 0 ? ncpu : 1);
	workpool_free(wp);
	workpool_free(NULL);
}

static void test_workpool_threads_start_lazily(void **state)
{
	struct workpool *wp = NULL;
	struct work w = { .job.fn = work_fn, .id = 7 };
	int before = count_threads();
	int running;
	int i;

	(void)state;
	assert_int_equal(workpool_new(3, &wp), 0);
	assert_int_equal(count_threads(), before);
	assert_int_equal(workpool_submit(wp, &w.job), 0);
	/* >=: a sanitizer may start a helper thread of its own */
	running = count_threads();
	assert_true(running >= before + 3);
	workpool_wait(wp, &w.job);
	assert_true(w.job.done);
	assert_true(w.result == expect_result(7));
	workpool_free(wp);
	/*
	 * joined; the kernel drops a joined thread from /proc/self/task a
	 * moment after the join can return (seen once under load)
	 */
	for (i = 0; i < 200 && count_threads() != running - 3; i++)
		usleep(10000);
	assert_int_equal(count_threads(), running - 3);
}

/* A pool made before fork() works in the child (fuse_main daemonizes). */
static void test_workpool_works_after_fork(void **state)
{
	struct workpool *wp = NULL;
	int status = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(workpool_new(2, &wp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct work w[16];
		unsigned i;
		int bad = 0;

		memset(w, 0, sizeof(w));
		for (i = 0; i < 16; i++) {
			w[i].job.fn = work_fn;
			w[i].id = i;
			if (workpool_submit(wp, &w[i].job) != 0)
				bad = 1;
		}
		for (i = 0; i < 16; i++) {
			workpool_wait(wp, &w[i].job);
			if (w[i].result != expect_result(i))
				bad = 1;
		}
		workpool_free(wp);
		_exit(bad ? 3 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	workpool_free(wp);
}

static void test_workpool_runs_jobs_in_fifo_order(void **state)
{
	struct workpool *wp = NULL;
	struct work w[64];
	unsigned order[64];
	unsigned next = 0;
	unsigned i;

	(void)state;
	memset(w, 0, sizeof(w));
	assert_int_equal(workpool_new(1, &wp), 0);
	for (i = 0; i < 64; i++) {
		w[i].job.fn = work_fn;
		w[i].id = i;
		w[i].order = order;
		w[i].next = &next;
		assert_int_equal(workpool_submit(wp, &w[i].job), 0);
	}
	for (i = 0; i < 64; i++)
		workpool_wait(wp, &w[i].job);
	assert_int_equal(next, 64);
	for (i = 0; i < 64; i++)
		assert_int_equal(order[i], i);
	workpool_free(wp);
}

static void test_workpool_wait_returns_each_result(void **state)
{
	struct workpool *wp = NULL;
	struct work *w;
	unsigned n = 500;
	unsigned i;

	(void)state;
	w = calloc(n, sizeof(*w));
	assert_non_null(w);
	assert_int_equal(workpool_new(4, &wp), 0);
	for (i = 0; i < n; i++) {
		w[i].job.fn = work_fn;
		w[i].id = i;
		assert_int_equal(workpool_submit(wp, &w[i].job), 0);
	}
	/* wait in reverse order: any order must work */
	for (i = n; i-- > 0;) {
		workpool_wait(wp, &w[i].job);
		assert_true(w[i].job.done);
		assert_true(w[i].result == expect_result(i));
	}
	/* a done job waits for nothing; resubmitting reuses it */
	workpool_wait(wp, &w[0].job);
	w[0].result = 0;
	assert_int_equal(workpool_submit(wp, &w[0].job), 0);
	workpool_wait(wp, &w[0].job);
	assert_true(w[0].result == expect_result(0));
	workpool_free(wp);
	free(w);
}

static void test_workpool_free_drains_queue(void **state)
{
	struct workpool *wp = NULL;
	struct work w[100];
	unsigned i;

	(void)state;
	memset(w, 0, sizeof(w));
	assert_int_equal(workpool_new(1, &wp), 0);
	for (i = 0; i < 100; i++) {
		w[i].job.fn = work_fn;
		w[i].id = i;
		assert_int_equal(workpool_submit(wp, &w[i].job), 0);
	}
	workpool_free(wp);
	/* every job ran to completion before free returned */
	for (i = 0; i < 100; i++) {
		assert_true(w[i].job.done);
		assert_true(w[i].result == expect_result(i));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workpool_size_as_asked),
		cmocka_unit_test(test_workpool_threads_start_lazily),
		cmocka_unit_test(test_workpool_works_after_fork),
		cmocka_unit_test(test_workpool_runs_jobs_in_fifo_order),
		cmocka_unit_test(test_workpool_wait_returns_each_result),
		cmocka_unit_test(test_workpool_free_drains_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
