/*
 * ds_fs.h - the two vfs providers over the configured datastores
 * (FUSE-free; fs/main.c registers them):
 *
 *   restore/NAME/                 the datastore's backups, oldest first
 *   restore/NAME/latest           symlink -> the newest backup's name
 *   restore/NAME/BACKUP/dump.rdb  the stored backup, read through the
 *                                 store (decoded and verified); read-only
 *   datastores/NAME/dump.rdb      read: a fresh backup streamed from the
 *                                 live server (st_size 0, direct_io,
 *                                 sequential reads only)
 *   datastores/NAME/backup        write anything: take a backup now
 *   datastores/NAME/recover       write a backup name or "latest"
 *   datastores/NAME/status        read: "key: value" lines
 *   datastores/NAME/progress      read: bytes done / total
 *   datastores/NAME/replication/  the driver's control files (Redis)
 *
 * A write to a control file performs the action before write(2) returns
 * and returns its errno; close() returns 0. Only a write at offset 0 acts
 * (one per open: a second write, or the rest of a split one, is -EINVAL).
 * Opening a read-only file for writing, or a control file for reading,
 * is -EACCES. Thread-safe.
 */
#ifndef DATASTORES_DS_FS_H
#define DATASTORES_DS_FS_H

#include "../fs/vfs.h"
#include "ds.h"

/* Provider state (opaque); one per mount. */
struct ds_fs;

/*
 * Builds the providers over @set (borrowed; outlives the vfs) and
 * registers them on @v. On success *@out is freed with ds_fs_free()
 * after vfs_free(). Returns 0, -ENOMEM, or vfs_register_provider()'s
 * error.
 */
int ds_fs_register(struct vfs *v, struct ds_set *set, struct ds_fs **out);

void ds_fs_free(struct ds_fs *f); /* accepts NULL */

/* The provider tables, for unit tests that call them directly with the
 * pointer ds_fs_register() produced. */
extern const struct vfs_provider_ops ds_fs_restore_ops;
extern const struct vfs_provider_ops ds_fs_datastores_ops;

#endif /* DATASTORES_DS_FS_H */
