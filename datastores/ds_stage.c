/*
 * ds_stage.c - the staging pipe of a recover's single pass (contract in
 * ds_stage.h): ds.c reads, decodes and verifies the chosen backup a
 * piece at a time into a ring of DS_STAGE_BUFS buffers, and one writer
 * thread hands the filled ones to the driver's stage_write() in ring
 * order, so the disk works while the next pieces are read.
 *
 * Invariants: buffers are written in the order they were pushed, each
 * once; the caller refills a buffer only after its write returned (the
 * queued ones are head .. head + queued - 1, the one being filled is
 * head + queued, all mod DS_STAGE_BUFS). After the writer's first error
 * it writes nothing more and the caller gets that error from its next
 * call. After a caller's error (finish with err) the writer stops after
 * the write under way. stage_write() runs in one thread at a time: the
 * writer's, or the caller's if the thread could not start (serial pipe).
 * Threads: the caller and the writer, which blocks every signal (they
 * are for the FUSE loop) and is joined by ds_stage_pipe_finish().
 * Locks: p->lock protects head, queued, lens, closing, cancel and err;
 * it is never held across stage_write(). t_wait is the caller's, t_write
 * the writer's until the join.
 */
#include "ds_stage.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct ds_stage_pipe {
	const struct ds_driver *drv; /* borrowed */
	struct ds_stage *sg;	     /* borrowed */
	char *bufs[DS_STAGE_BUFS];   /* owned, @size bytes each */
	bool threaded;		     /* the writer runs; lock and conds exist */
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t ready; /* a buffer was queued, or closing */
	pthread_cond_t space; /* a buffer was written, or err */
	/* under lock (a serial pipe: the caller's): */
	size_t lens[DS_STAGE_BUFS];
	unsigned head;	 /* oldest queued buffer */
	unsigned queued; /* pushed and not yet written */
	bool closing;	 /* nothing more will be pushed */
	bool cancel;	 /* the caller failed: drop what is queued */
	int err;	 /* the writer's first error */
	double t_wait;	 /* the caller's */
	double t_write;	 /* the writer's */
};

double ds_stage_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* stage_write() of buffer @i, timed; called without the lock. */
static int pipe_write(struct ds_stage_pipe *p, unsigned i, size_t len)
{
	double t0 = ds_stage_clock();
	int err;

	err = p->drv->stage_write(p->sg, p->bufs[i], len);
	p->t_write += ds_stage_clock() - t0;
	return err;
}

static void *pipe_writer(void *arg)
{
	struct ds_stage_pipe *p = arg;
	unsigned i;
	size_t len;
	int err;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->queued && !p->closing)
			pthread_cond_wait(&p->ready, &p->lock);
		if (p->cancel || !p->queued)
			break; /* the caller failed, or all is written */
		i = p->head;
		len = p->lens[i];
		pthread_mutex_unlock(&p->lock);
		err = pipe_write(p, i, len);
		pthread_mutex_lock(&p->lock);
		if (err) {
			p->err = err;
			pthread_cond_signal(&p->space);
			break;
		}
		p->head = (i + 1) % DS_STAGE_BUFS;
		p->queued--;
		pthread_cond_signal(&p->space);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Starts the writer; false if it cannot (the pipe is then serial). */
static bool pipe_start(struct ds_stage_pipe *p)
{
	sigset_t all;
	sigset_t old;
	int err;

	if (pthread_mutex_init(&p->lock, NULL))
		return false;
	if (pthread_cond_init(&p->ready, NULL))
		goto out_lock;
	if (pthread_cond_init(&p->space, NULL))
		goto out_ready;
	/* signals are for the FUSE loop: the writer inherits a full mask */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&p->th, NULL, pipe_writer, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err)
		return true;
	pthread_cond_destroy(&p->space);
out_ready:
	pthread_cond_destroy(&p->ready);
out_lock:
	pthread_mutex_destroy(&p->lock);
	return false;
}

static void pipe_free(struct ds_stage_pipe *p)
{
	unsigned i;

	if (p->threaded) {
		pthread_cond_destroy(&p->space);
		pthread_cond_destroy(&p->ready);
		pthread_mutex_destroy(&p->lock);
	}
	for (i = 0; i < DS_STAGE_BUFS; i++)
		free(p->bufs[i]);
	free(p);
}

int ds_stage_pipe_new(const struct ds_driver *drv, struct ds_stage *sg,
		      size_t size, struct ds_stage_pipe **out)
{
	struct ds_stage_pipe *p = calloc(1, sizeof(*p));
	unsigned i;

	if (!p)
		return -ENOMEM;
	p->drv = drv;
	p->sg = sg;
	for (i = 0; i < DS_STAGE_BUFS; i++) {
		p->bufs[i] = malloc(size);
		if (!p->bufs[i]) {
			pipe_free(p);
			return -ENOMEM;
		}
	}
	p->threaded = pipe_start(p);
	*out = p;
	return 0;
}

int ds_stage_pipe_buf(struct ds_stage_pipe *p, void **buf)
{
	double t0;
	int err;

	if (!p->threaded) {
		*buf = p->bufs[0];
		return p->err;
	}
	t0 = ds_stage_clock();
	pthread_mutex_lock(&p->lock);
	while (p->queued == DS_STAGE_BUFS && !p->err)
		pthread_cond_wait(&p->space, &p->lock);
	err = p->err;
	*buf = p->bufs[(p->head + p->queued) % DS_STAGE_BUFS];
	pthread_mutex_unlock(&p->lock);
	p->t_wait += ds_stage_clock() - t0;
	return err;
}

int ds_stage_pipe_push(struct ds_stage_pipe *p, size_t len)
{
	int err;

	if (!p->threaded) {
		if (!p->err)
			p->err = pipe_write(p, 0, len);
		return p->err;
	}
	pthread_mutex_lock(&p->lock);
	err = p->err;
	if (!err) {
		p->lens[(p->head + p->queued) % DS_STAGE_BUFS] = len;
		p->queued++;
		pthread_cond_signal(&p->ready);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

int ds_stage_pipe_finish(struct ds_stage_pipe *p, int err, double *t_wait,
			 double *t_write)
{
	int werr;

	if (p->threaded) {
		pthread_mutex_lock(&p->lock);
		p->closing = true;
		p->cancel = err != 0;
		pthread_cond_signal(&p->ready);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->th, NULL);
	}
	werr = p->err;
	*t_wait = p->t_wait;
	*t_write = p->t_write;
	pipe_free(p);
	return werr;
}
