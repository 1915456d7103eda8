/*
 * workpool.h - a fixed pool of worker threads for CPU work (compressing,
 * sealing, opening frames).
 *
 * Threads start lazily on the first submit, so a pool built before
 * fuse_main() daemonizes (fork) still works after it. Jobs never do
 * network or disk I/O. A job is a struct the caller embeds in its own
 * state: the pool never allocates per job.
 *
 * Locks: one mutex + condvar for the queue; one mutex + condvar for
 * completion. Never held while a job runs.
 */
#ifndef BACKENDS_WORKPOOL_H
#define BACKENDS_WORKPOOL_H

#include <stdbool.h>

struct workpool;
struct workpool_job;

typedef void workpool_fn(struct workpool_job *job);

struct workpool_job {
	workpool_fn *fn;	   /* set by the caller */
	struct workpool_job *next; /* pool's queue link */
	bool done;		   /* set by the pool after fn returns */
};

/*
 * New pool of @nthreads workers (0 = number of online CPUs).
 * Returns 0, -ENOMEM; caller frees with workpool_free().
 */
int workpool_new(unsigned nthreads, struct workpool **out);

/* Waits for queued jobs, stops and joins the threads; accepts NULL. */
void workpool_free(struct workpool *wp);

/* Number of worker threads. */
unsigned workpool_size(const struct workpool *wp);

/*
 * Queues @job (its fn set, done cleared by this call). Returns 0, or
 * -EAGAIN if the threads could not be started (the job then ran inline,
 * done is set: callers need not handle it).
 */
int workpool_submit(struct workpool *wp, struct workpool_job *job);

/* Blocks until @job is done. */
void workpool_wait(struct workpool *wp, struct workpool_job *job);

#endif /* BACKENDS_WORKPOOL_H */
