/*
 * local_list.c - the listing ops of the "local:" leaf store (see
 * local_store.h and local_store.c): containers are the directories under
 * the root, objects the regular files and directories (markers) under a
 * container.
 *
 * A listing runs in two passes. The scan reads the directory entries
 * (readdir() and d_type only, no per-entry syscall on filesystems that
 * fill d_type), recursing into subdirectories unless a delimiter rolls
 * them up, and sorts the keys once. The emission then opens each object
 * through its parent directory, which stays open while consecutive keys
 * share it, and reads its size, mtime and xattrs right before the
 * callback.
 *
 * Invariants:
 * - Entries come in ascending byte order of key, as store.h requires.
 * - Only regular files and directories are listed; symlinks and other
 *   kinds are skipped, and every path is walked with O_NOFOLLOW
 *   (local_walk_dirs()), so a listing never leaves the tree.
 * - An entry that vanishes between the scan and its emission is skipped;
 *   one made meanwhile may be missed. A listing is not a snapshot.
 * - Keys longer than STORE_KEY_MAX cannot be addressed and are left out.
 *
 * Locks: none. Each listing opens its own fds and directory streams.
 */
#include "local_i.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../conf/log.h"

/* ---- directory scans for listings ---- */

struct lentry {
	char *key;   /* owned: the full key; a marker or subdir ends in '/' */
	bool subdir; /* a rolled-up prefix, not an object */
};

struct lentries {
	struct lentry *v;
	size_t n;
	size_t cap;
};

static void lentries_release(struct lentries *le)
{
	size_t i;

	for (i = 0; i < le->n; i++)
		free(le->v[i].key);
	free(le->v);
	le->v = NULL;
	le->n = 0;
	le->cap = 0;
}

/*
 * Adds the key @dir[0..@dir_len) + @name (+ '/' if @slash). Keys longer
 * than STORE_KEY_MAX cannot be addressed and are left out. Returns 0 or
 * -ENOMEM.
 */
static int lentries_add(struct lentries *le, const char *dir, size_t dir_len,
			const char *name, bool slash, bool subdir)
{
	size_t nlen = strlen(name);
	size_t len = dir_len + nlen + (slash ? 1 : 0);
	char *key;

	if (len > STORE_KEY_MAX)
		return 0;
	if (le->n == le->cap) {
		size_t cap = le->cap ? le->cap * 2 : 32;
		struct lentry *nv = reallocarray(le->v, cap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		le->v = nv;
		le->cap = cap;
	}
	key = malloc(len + 1);
	if (!key)
		return -ENOMEM;
	memcpy(key, dir, dir_len);
	memcpy(key + dir_len, name, nlen);
	if (slash)
		key[len - 1] = '/';
	key[len] = '\0';
	le->v[le->n].key = key;
	le->v[le->n].subdir = subdir;
	le->n++;
	return 0;
}

static int lentry_cmp(const void *a, const void *b)
{
	const struct lentry *x = a;
	const struct lentry *y = b;

	return strcmp(x->key, y->key);
}

/*
 * Adds the entries of the directory @fd (consumed), whose keys start with
 * @dir ("" or "a/b/"), whose names start with @filter: regular files as
 * objects; directories as subdirs (@rollup) or else as markers, also
 * pushed on @todo to be scanned. Other kinds (symlinks...) are skipped.
 */
static int scan_dir(int fd, const char *dir, const char *filter, bool rollup,
		    struct lentries *out, struct lentries *todo)
{
	size_t dlen = strlen(dir);
	size_t flen = strlen(filter);
	DIR *d;
	int err = 0;

	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	for (;;) {
		struct dirent *de;
		unsigned char type;

		errno = 0;
		de = readdir(d);
		if (!de) {
			err = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, filter, flen) != 0)
			continue;
		type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat sb;

			if (fstatat(dirfd(d), de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW))
				continue; /* gone meanwhile */
			if (S_ISREG(sb.st_mode))
				type = DT_REG;
			else if (S_ISDIR(sb.st_mode))
				type = DT_DIR;
		}
		if (type == DT_REG) {
			err = lentries_add(out, dir, dlen, de->d_name, false,
					   false);
		} else if (type == DT_DIR) {
			err = lentries_add(out, dir, dlen, de->d_name, true,
					   rollup);
			if (!err && !rollup)
				err = lentries_add(todo, dir, dlen, de->d_name,
						   true, false);
		}
		if (err)
			break;
	}
	closedir(d);
	return err;
}

/* Where a listing's emission is: the last parent directory stays open. */
struct emit_dir {
	int cfd;	  /* the container */
	int pfd;	  /* parent of the last object, or -1 */
	const char *pdir; /* its key prefix, borrowed from the entries */
	size_t pdir_len;
};

/*
 * Fills the attributes and metadata of the object @key into @oi (not its
 * name), reusing the open parent when @key shares it. Returns 0, -ENOENT
 * (gone since the scan), or another -errno, logged.
 */
static int emit_info(struct emit_dir *ed, const char *c, const char *key,
		     struct obj_info *oi)
{
	struct key_path kp;
	struct stat sb;
	int err;
	int fd;

	if (local_key_path_split(key, &kp))
		return -ENOENT;
	if (ed->pfd < 0 || kp.dir_len != ed->pdir_len ||
	    strncmp(key, ed->pdir, ed->pdir_len) != 0) {
		if (ed->pfd >= 0)
			close(ed->pfd);
		ed->pfd = -1;
		err = local_walk_dirs(ed->cfd, key, kp.dir_len, false,
				      &ed->pfd);
		if (err == -ENOTDIR)
			err = -ENOENT;
		if (err)
			return local_fail("list", c, key, err);
		ed->pdir = key;
		ed->pdir_len = kp.dir_len;
	}
	err = local_open_obj(ed->pfd, &kp, &fd, &sb);
	if (err)
		return local_fail("list", c, key, err);
	err = local_fill_info(fd, &sb, kp.marker, oi);
	close(fd);
	return local_fail("read metadata of", c, key, err);
}

/*
 * Calls @fn for each entry of the sorted @ents of container @c, with the
 * attributes and metadata read now; entries that vanished since the scan
 * are skipped. Returns 0, the callback's -errno, or another -errno
 * (logged).
 */
static int local_emit(int cfd, const char *c, const struct lentries *ents,
		      store_list_fn *fn, void *arg)
{
	struct emit_dir ed = { .cfd = cfd, .pfd = -1 };
	struct obj_info oi;
	int err = 0;
	size_t i;

	for (i = 0; i < ents->n; i++) {
		const struct lentry *e = &ents->v[i];
		int rc = 0;

		obj_info_init(&oi);
		oi.name = e->key; /* borrowed for the call */
		err = e->subdir ? 0 : emit_info(&ed, c, e->key, &oi);
		oi.is_subdir = e->subdir;
		if (!err)
			rc = fn(arg, &oi);
		oi.name = NULL;
		obj_info_release(&oi);
		if (err == -ENOENT) {
			err = 0;
			continue;
		}
		if (err || rc > 0)
			break;
		if (rc < 0) {
			err = rc;
			break;
		}
	}
	if (ed.pfd >= 0)
		close(ed.pfd);
	return err;
}

/* ---- containers ---- */

int local_list_containers(struct store *st, store_list_fn *fn, void *arg)
{
	struct local_store *ls = local_of(st);
	struct lentries ents = { 0 };
	struct obj_info oi;
	struct stat sb;
	size_t i;
	size_t j;
	int err;
	int fd;

	err = local_walk_dirs(ls->rootfd, "", 0, false, &fd);
	if (!err)
		err = scan_dir(fd, "", "", true, &ents, NULL);
	if (err) {
		log_error("cannot list containers in '%s': %s", ls->root,
			  strerror(-err));
		goto out_release;
	}
	/* scan_dir() gave "name/" for directories, files are not ours */
	for (i = 0, j = 0; i < ents.n; i++) {
		struct lentry e = ents.v[i];

		e.key[strlen(e.key) - 1] = '\0';
		if (!e.subdir || strcmp(e.key, LOCAL_STAGING_DIR) == 0) {
			free(e.key);
			continue;
		}
		ents.v[j++] = e;
	}
	ents.n = j;
	if (ents.n > 1)
		qsort(ents.v, ents.n, sizeof(*ents.v), lentry_cmp);
	for (i = 0; i < ents.n; i++) {
		int rc;

		if (fstatat(ls->rootfd, ents.v[i].key, &sb,
			    AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(sb.st_mode))
			continue; /* gone meanwhile */
		obj_info_init(&oi);
		oi.name = ents.v[i].key; /* borrowed for the call */
		oi.mtime = sb.st_mtim;
		/* .count and .size would need a walk of the whole tree */
		rc = fn(arg, &oi);
		if (rc > 0)
			break;
		if (rc < 0) {
			err = rc;
			break;
		}
	}
out_release:
	lentries_release(&ents);
	return err;
}

/* ---- objects ---- */

int local_list(struct store *st, const char *c, const char *prefix, char delim,
	       store_list_fn *fn, void *arg)
{
	struct local_store *ls = local_of(st);
	struct lentries ents = { 0 };
	struct lentries todo = { 0 };
	size_t plen = strlen(prefix);
	size_t dir_len = plen;
	char *dir = NULL;
	int cfd;
	int fd;
	int err;

	/* a pseudo-directory is a directory here: only '/' can roll up */
	if (!local_container_is_valid(c) || (delim && delim != '/'))
		return -EINVAL;
	err = local_open_container(ls, c, &cfd);
	if (err)
		return err;
	if (plen > STORE_KEY_MAX)
		goto out_close; /* no key can match */
	while (dir_len > 0 && prefix[dir_len - 1] != '/')
		dir_len--;
	err = local_walk_dirs(cfd, prefix, dir_len, false, &fd);
	if (err == -ENOENT || err == -ENOTDIR || err == -ENAMETOOLONG) {
		err = 0; /* no such pseudo-directory: nothing matches */
		goto out_close;
	}
	if (err)
		goto out_fail;
	dir = strndup(prefix, dir_len);
	if (!dir) {
		close(fd);
		err = -ENOMEM;
		goto out_fail;
	}
	/* the prefix names this very directory: its marker is listed */
	if (dir_len > 0 && dir_len == plen)
		err = lentries_add(&ents, dir, dir_len, "", false, false);
	if (!err)
		err = scan_dir(fd, dir, prefix + dir_len, delim != 0, &ents,
			       &todo);
	else
		close(fd);
	while (!err && todo.n > 0) {
		struct lentry t = todo.v[--todo.n];

		err = local_walk_dirs(cfd, t.key, strlen(t.key), false, &fd);
		if (!err)
			err = scan_dir(fd, t.key, "", false, &ents, &todo);
		else if (err == -ENOENT || err == -ENOTDIR)
			err = 0; /* gone meanwhile */
		free(t.key);
	}
	if (err)
		goto out_fail;
	if (ents.n > 1)
		qsort(ents.v, ents.n, sizeof(*ents.v), lentry_cmp);
	/* emit logs its own failures; the callback's are the caller's */
	err = local_emit(cfd, c, &ents, fn, arg);
	goto out_release;
out_fail:
	local_fail("list", c, prefix, err);
out_release:
	lentries_release(&todo);
	lentries_release(&ents);
	free(dir);
out_close:
	close(cfd);
	return err;
}
