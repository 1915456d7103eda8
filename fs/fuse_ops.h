/*
 * fuse_ops.h - the FUSE front end: the struct fuse_operations that maps
 * each high-level FUSE op onto one vfs call (fs/fuse_ops.c), and the
 * state main() hands to fuse_main() as private_data.
 *
 * Only fs/fuse_ops.c and fs/main.c include <fuse.h>; this header does not.
 */
#ifndef FS_FUSE_OPS_H
#define FS_FUSE_OPS_H

#include <stdbool.h>
#include <sys/types.h>

struct fuse_operations;
struct vfs;

/* fuse_main()'s private_data; owned by main, read-only once mounted. */
struct trovefs_fuse {
	struct vfs *v;	     /* borrowed */
	double attr_timeout; /* kernel attr/entry cache, seconds */
	bool foreground;     /* -f/-d: keep logging to stderr */
	int log_level;	     /* syslog level, for the switch to syslog */
};

/* The operations table for fuse_main(); private_data is a trovefs_fuse. */
extern const struct fuse_operations trovefs_fuse_ops;

/* The signal (SIGTERM, SIGINT, SIGHUP) that stopped the mount, or 0. */
int trovefs_fuse_stop_signal(void);

/* In a request: true if the kernel interrupted it (vfs_conf.interrupted). */
bool trovefs_fuse_interrupted(void);

#endif /* FS_FUSE_OPS_H */
