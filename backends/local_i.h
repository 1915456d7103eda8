/*
 * local_i.h - private to backends/local_*.c: what the store ops
 * (local_store.c) and the listing ops (local_list.c) of the "local:" leaf
 * share: the store's state, key paths, directory walks and object opens.
 *
 * Every function here follows the store conventions: 0 or -errno; fds
 * handed out are the caller's to close.
 */
#ifndef BACKENDS_LOCAL_I_H
#define BACKENDS_LOCAL_I_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "local_store.h"
#include "store.h"

/* ROOT/.trovefs holds the staging area; it is no container. */
#define LOCAL_STAGING_DIR ".trovefs"

struct local_store {
	struct store st; /* st.priv points back here */
	char *root;	 /* owned: the root path, for log lines */
	int rootfd;
	int tmpfd;     /* ROOT/.trovefs/tmp */
	uint64_t salt; /* random per open: staging names */
	uint64_t seq;  /* staging names; __atomic only */
};

/* Where a key lives: its parent directory and its leaf name. */
struct key_path {
	size_t dir_len; /* key[0..dir_len) is the parent: "" or
				 * "a/b/" */
	char leaf[NAME_MAX + 1];
	bool marker; /* key ends in '/': the leaf is a directory */
};

static inline struct local_store *local_of(struct store *st)
{
	return st->priv;
}

/* Logs an unexpected @err of @what on 'c/key' once; returns @err (or 0). */
int local_fail(const char *what, const char *c, const char *key, int err);

bool local_container_is_valid(const char *c);

/* Splits a valid @key; -ENAMETOOLONG if its leaf exceeds NAME_MAX. */
int local_key_path_split(const char *key, struct key_path *kp);

/*
 * Opens the directory @path[0..@len) below @dirfd: components each ending
 * in '/' ("a/b/"; "" is @dirfd itself), made if missing with @create.
 * Returns 0 with *@out to close, -ENOENT (also for an empty, "." or ".."
 * component), -ENOTDIR, -ENAMETOOLONG, or another -errno.
 */
int local_walk_dirs(int dirfd, const char *path, size_t len, bool create,
		    int *out);

/* Opens container @c's directory: 0, -ENOENT, or another -errno (logged). */
int local_open_container(struct local_store *ls, const char *c, int *out);

/*
 * Opens @kp's leaf in @dirfd: a regular file, or for a marker a
 * directory. Returns 0 with *@out to close and *@sb filled, -ENOENT (also
 * for a symlink or an entry of the other kind), or another -errno.
 */
int local_open_obj(int dirfd, const struct key_path *kp, int *out,
		   struct stat *sb);

/* Fills the attributes of @oi (not its name) from an open object. */
int local_fill_info(int fd, const struct stat *sb, bool marker,
		    struct obj_info *oi);

/* The store's list_containers and list ops (local_list.c). */
int local_list_containers(struct store *st, store_list_fn *fn, void *arg);
int local_list(struct store *st, const char *c, const char *prefix, char delim,
	       store_list_fn *fn, void *arg);

#endif /* BACKENDS_LOCAL_I_H */
