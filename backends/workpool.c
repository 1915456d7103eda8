/*
 * workpool.c - a fixed pool of worker threads running CPU-only jobs
 * (sealing and opening frames for the codec layer).
 *
 * The threads start on the first workpool_submit(), not in workpool_new():
 * the pool is built before fuse_main() daemonizes with fork(), and threads
 * do not survive a fork. Jobs are structs embedded in the caller's state;
 * the pool only links them into a FIFO queue, so it never allocates per
 * job.
 *
 * Invariants: a job is either in the queue, running in exactly one worker,
 * or done. After a worker sets job->done (under done_lock) it never touches
 * the job again, so the waiter may free or reuse it as soon as it sees
 * done.
 *
 * Locks: q_lock protects the queue, started, stopping and the thread
 * array; done_lock protects every job's done flag. Neither is held while a
 * job runs, and they are never held together.
 */
#include "workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "../conf/log.h"

struct workpool {
	unsigned nthreads;  /* configured; >= 1 */
	unsigned nstarted;  /* threads running (0 until started) */
	pthread_t *threads; /* owned array of nthreads */
	bool started;	    /* start was attempted */
	bool stopping;	    /* workpool_free() in progress */

	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;	   /* queue non-empty or stopping */
	struct workpool_job *head; /* oldest queued job */
	struct workpool_job *tail;

	pthread_mutex_t done_lock;
	pthread_cond_t done_cond; /* some job became done */
};

static void job_finish(struct workpool *wp, struct workpool_job *job)
{
	pthread_mutex_lock(&wp->done_lock);
	job->done = true;
	pthread_cond_broadcast(&wp->done_cond);
	pthread_mutex_unlock(&wp->done_lock);
}

/* Runs jobs until the pool stops and the queue is empty. */
static void *worker_main(void *arg)
{
	struct workpool *wp = arg;

	for (;;) {
		struct workpool_job *job;

		pthread_mutex_lock(&wp->q_lock);
		while (!wp->head && !wp->stopping)
			pthread_cond_wait(&wp->q_cond, &wp->q_lock);
		job = wp->head;
		if (job) {
			wp->head = job->next;
			if (!wp->head)
				wp->tail = NULL;
		}
		pthread_mutex_unlock(&wp->q_lock);
		if (!job)
			break;
		job->next = NULL;
		job->fn(job);
		job_finish(wp, job);
	}
	return NULL;
}

/*
 * Starts the threads; called with q_lock held, once. A partial start keeps
 * the threads that did start: the queue works with any number >= 1.
 */
static void pool_start(struct workpool *wp)
{
	unsigned i;

	wp->started = true;
	for (i = 0; i < wp->nthreads; i++) {
		int err =
			pthread_create(&wp->threads[i], NULL, worker_main, wp);

		if (err) {
			log_error("cannot start worker thread %u of %u: "
				  "error %d",
				  i + 1, wp->nthreads, err);
			break;
		}
		wp->nstarted++;
	}
}

int workpool_new(unsigned nthreads, struct workpool **out)
{
	struct workpool *wp;

	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = n > 0 ? (unsigned)n : 1;
	}
	wp = calloc(1, sizeof(*wp));
	if (!wp)
		return -ENOMEM;
	wp->threads = calloc(nthreads, sizeof(*wp->threads));
	if (!wp->threads) {
		free(wp);
		return -ENOMEM;
	}
	wp->nthreads = nthreads;
	pthread_mutex_init(&wp->q_lock, NULL);
	pthread_cond_init(&wp->q_cond, NULL);
	pthread_mutex_init(&wp->done_lock, NULL);
	pthread_cond_init(&wp->done_cond, NULL);
	*out = wp;
	return 0;
}

void workpool_free(struct workpool *wp)
{
	unsigned i;

	if (!wp)
		return;
	pthread_mutex_lock(&wp->q_lock);
	wp->stopping = true;
	pthread_cond_broadcast(&wp->q_cond);
	pthread_mutex_unlock(&wp->q_lock);
	/* workers drain the queue before they see stopping */
	for (i = 0; i < wp->nstarted; i++)
		pthread_join(wp->threads[i], NULL);
	pthread_cond_destroy(&wp->done_cond);
	pthread_mutex_destroy(&wp->done_lock);
	pthread_cond_destroy(&wp->q_cond);
	pthread_mutex_destroy(&wp->q_lock);
	free(wp->threads);
	free(wp);
}

unsigned workpool_size(const struct workpool *wp)
{
	return wp->nthreads;
}

int workpool_submit(struct workpool *wp, struct workpool_job *job)
{
	/*
	 * done is cleared under its lock: a worker may have set it for an
	 * earlier run of this job that the caller never waited for.
	 */
	pthread_mutex_lock(&wp->done_lock);
	job->done = false;
	pthread_mutex_unlock(&wp->done_lock);
	job->next = NULL;

	pthread_mutex_lock(&wp->q_lock);
	if (!wp->started)
		pool_start(wp);
	if (wp->nstarted == 0 || wp->stopping) {
		pthread_mutex_unlock(&wp->q_lock);
		job->fn(job);
		job_finish(wp, job);
		return -EAGAIN;
	}
	if (wp->tail)
		wp->tail->next = job;
	else
		wp->head = job;
	wp->tail = job;
	pthread_cond_signal(&wp->q_cond);
	pthread_mutex_unlock(&wp->q_lock);
	return 0;
}

void workpool_wait(struct workpool *wp, struct workpool_job *job)
{
	pthread_mutex_lock(&wp->done_lock);
	while (!job->done)
		pthread_cond_wait(&wp->done_cond, &wp->done_lock);
	pthread_mutex_unlock(&wp->done_lock);
}
