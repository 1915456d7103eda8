/*
 * local_store.h - the embedded "local:" leaf: containers are directories
 * under a root, objects are files holding the stored (encoded) bytes, and
 * their metadata is kept in "user.trovefs.<key>" extended attributes.
 *
 * Layout under ROOT:
 *   ROOT/<container>/<key>        an object; '/' in keys are directories
 *   ROOT/<container>/<a>/<b>/     marker "a/b/" = the directory itself
 *   ROOT/.trovefs/tmp/            writers' staging files (same filesystem)
 *
 * A writer writes a staging file, fsyncs it, sets its xattrs and renames
 * it into place (then fsyncs the directory), so an object is either
 * complete or absent, also after a crash; stale staging files are removed
 * when the store is opened. Disk full surfaces as -ENOSPC from write or
 * commit and leaves nothing visible.
 *
 * A key whose path would cross an existing object ("a" is a file and
 * "a/b" is written) fails with -ENOTDIR; a key naming an existing directory
 * with -EISDIR.
 */
#ifndef BACKENDS_LOCAL_STORE_H
#define BACKENDS_LOCAL_STORE_H

#include "store.h"

/*
 * Opens (creating it and its staging area if missing) the store at @root.
 * Returns 0, -ENOTDIR, -EACCES, -ENOTSUP (no user xattrs on that
 * filesystem), with a log line; on success caller destroys *@out.
 */
int local_store_new(const char *root, struct store **out);

#endif /* BACKENDS_LOCAL_STORE_H */
