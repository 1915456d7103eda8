/*
 * ds_stage.h - datastores-internal (ds.c): the pipe that hands the pieces
 * of a backup being staged to the driver's stage_write() on a writer
 * thread, so that the next piece is read, decoded and verified while the
 * previous one is written. Not for use outside datastores/.
 */
#ifndef DATASTORES_DS_STAGE_H
#define DATASTORES_DS_STAGE_H

#include <stddef.h>

#include "ds.h"

/* Buffers in a pipe's ring: one being filled, the rest queued. */
#define DS_STAGE_BUFS 4

struct ds_stage_pipe;

/* Seconds on CLOCK_MONOTONIC, for timing a pass. */
double ds_stage_clock(void);

/*
 * A pipe of DS_STAGE_BUFS buffers of @size bytes each into
 * @drv->stage_write(@sg, ...); @drv and @sg are borrowed until
 * ds_stage_pipe_finish(). Starts the writer thread, with every signal
 * blocked; if that fails the pipe is serial: ds_stage_pipe_push() writes
 * in the caller's thread, as a loop without a pipe would. Returns 0 or
 * -ENOMEM; on success the caller ends *@out with ds_stage_pipe_finish(),
 * whatever happens in between. One caller thread.
 */
int ds_stage_pipe_new(const struct ds_driver *drv, struct ds_stage *sg,
		      size_t size, struct ds_stage_pipe **out);

/*
 * The next buffer to fill, @size bytes, in *@buf (borrowed until the next
 * ds_stage_pipe_push()); waits while the writer holds every buffer.
 * Returns 0, or the writer's error: then nothing more gets written.
 */
int ds_stage_pipe_buf(struct ds_stage_pipe *p, void **buf);

/*
 * Queues the first @len bytes of the buffer of the last
 * ds_stage_pipe_buf() for writing after everything queued before.
 * Returns 0, or the writer's error (a serial pipe: this write's).
 */
int ds_stage_pipe_push(struct ds_stage_pipe *p, size_t len);

/*
 * Ends the pipe and frees it. With @err == 0 (the caller pushed all) it
 * waits until every queued byte is written; with a caller's error the
 * writer stops after the write under way, dropping what is queued. Always
 * joins the writer. *@t_wait: seconds ds_stage_pipe_buf() waited for a
 * free buffer; *@t_write: seconds spent in stage_write(). Returns 0 if
 * every pushed byte was written, else the writer's first error.
 */
int ds_stage_pipe_finish(struct ds_stage_pipe *p, int err, double *t_wait,
			 double *t_write);

#endif /* DATASTORES_DS_STAGE_H */
