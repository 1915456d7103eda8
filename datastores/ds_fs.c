/*
 * ds_fs.c - the restore/ and datastores/ providers (contract in ds_fs.h):
 * path components onto ds.c calls, open handles for live streams, text
 * snapshots (status, progress, replication reads), stored backups and
 * control files.
 *
 * Invariants: paths are at most three components below the top; nothing
 * here keeps state across calls except open handles. A text file's
 * content is generated once at open, so sequential reads of one open see
 * one consistent snapshot.
 * Locks: none of its own besides ds.c's; a handle is used by one thread
 * at a time except for reads, which the live stream serialises itself
 * and the others do without shared mutable state.
 */
#include "ds_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/log.h"

#define DSF_TEXT_MAX (1u << 20)
/* A refused open of one datastores/ file is logged at most this often. */
#define DSF_WARN_EVERY_S 60
/*
 * restore/ reads are checked by the driver's verifier in file order. A
 * read past the bytes fed is caught up by reading the gap again (the
 * kernel's read-ahead sends reads out of order) if it is at most this
 * long; a farther jump is random access, and the handle stops checking.
 */
#define DSF_VERIFY_GAP_MAX (16u << 20)
#define DSF_VERIFY_CHUNK (256u << 10)

struct ds_fs {
	struct ds_set *set; /* borrowed */
	uid_t uid;
	gid_t gid;
	struct timespec birth; /* times of synthetic nodes */
};

enum dsf_kind {
	DSF_LIVE,    /* datastores/NAME/dump.rdb */
	DSF_TEXT,    /* status, progress, a readable control file */
	DSF_BACKUP,  /* datastores/NAME/backup */
	DSF_RECOVER, /* datastores/NAME/recover */
	DSF_CTL,     /* a writable control file of the driver */
	DSF_STORED,  /* restore/NAME/BACKUP/<file> */
};

struct dsf_handle {
	enum dsf_kind kind;
	struct ds *ds;		     /* borrowed */
	struct ds_live *live;	     /* DSF_LIVE, owned */
	struct buf text;	     /* DSF_TEXT */
	struct store_reader *reader; /* DSF_STORED, owned */
	/*
	 * DSF_STORED: a store reader takes one call at a time (store.h),
	 * and FUSE threads read one handle at once (the kernel's
	 * read-ahead sends several reads together).
	 */
	pthread_mutex_t read_lock;
	char file[64]; /* DSF_CTL: the file name */
	bool append;   /* control files: opened O_APPEND (">>") */
	bool acted;    /* control files: the one write of this open ran */
	/*
	 * DSF_STORED, under read_lock: the driver's verifier of the whole
	 * file (NULL: none, or given up on random access), the bytes fed to
	 * it from offset 0, the plain size, the object's name for the log.
	 */
	struct ds_verify *verify;
	uint64_t verified;
	uint64_t size;
	char *what;  /* owned: "<container>/<key>" */
	int verdict; /* verify_final()'s, once verified == size */
};

/* Up to three components of @rel; returns how many, or -ENOENT. */
static int split(const char *rel, char parts[3][DS_NAME_MAX])
{
	const char *p = rel;
	const char *slash;
	size_t len;
	int n = 0;

	if (!*p)
		return 0;
	while (*p) {
		if (n == 3)
			return -ENOENT;
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len >= DS_NAME_MAX)
			return -ENOENT;
		memcpy(parts[n], p, len);
		parts[n][len] = '\0';
		n++;
		p += len;
		if (*p == '/')
			p++;
	}
	return n;
}

static void stat_node(const struct ds_fs *f, struct stat *st, mode_t mode,
		      off_t size)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_size = size;
	st->st_blksize = 1 << 20;
	st->st_blocks = (size + 511) / 512;
	st->st_mtim = f->birth;
	st->st_atim = f->birth;
	st->st_ctim = f->birth;
}

/* ---- restore/ ---- */

/* Head of backup @name's file; @oi filled on success. */
static int backup_head(struct ds *ds, const char *name, struct obj_info *oi)
{
	char key[STORE_KEY_MAX + 1];
	int err;

	if (!ds_backup_name_is_valid(name))
		return -ENOENT;
	err = ds_backup_key(ds, name, key, sizeof(key));
	if (err)
		return -ENOENT;
	obj_info_init(oi);
	return store_head(ds->st, ds->container, key, oi);
}

static int restore_getattr(void *p, const char *rel, struct stat *st)
{
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	char latest[DS_NAME_MAX];
	struct obj_info oi;
	struct ds *ds;
	int n = split(rel, parts);
	int err;

	if (n < 0)
		return n;
	if (n == 0) {
		stat_node(f, st, S_IFDIR | 0555, 0);
		return 0;
	}
	ds = ds_set_find(f->set, parts[0]);
	if (!ds)
		return -ENOENT;
	if (n == 1) {
		stat_node(f, st, S_IFDIR | 0555, 0);
		return 0;
	}
	if (n == 2 && strcmp(parts[1], "latest") == 0) {
		err = ds_backup_latest(ds, latest, sizeof(latest));
		if (err)
			return err;
		stat_node(f, st, S_IFLNK | 0777, (off_t)strlen(latest));
		return 0;
	}
	err = backup_head(ds, parts[1], &oi);
	if (err)
		return err;
	if (n == 2) {
		stat_node(f, st, S_IFDIR | 0555, 0);
	} else if (strcmp(parts[2], ds->drv->backup_file) == 0) {
		stat_node(f, st, S_IFREG | 0444, (off_t)oi.size);
	} else {
		obj_info_release(&oi);
		return -ENOENT;
	}
	st->st_mtim = oi.mtime;
	st->st_ctim = oi.mtime;
	obj_info_release(&oi);
	return 0;
}

struct fill_ctx {
	vfs_fill_fn *fill;
	void *arg;
};

static int fill_backup(void *arg, const char *name)
{
	struct fill_ctx *x = arg;

	return x->fill(x->arg, name, NULL) ? 1 : 0;
}

static int restore_readdir(void *p, const char *rel, vfs_fill_fn *fill,
			   void *arg)
{
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	char latest[DS_NAME_MAX];
	struct fill_ctx x = { .fill = fill, .arg = arg };
	struct obj_info oi;
	struct ds *ds;
	size_t i;
	int n = split(rel, parts);
	int err;

	if (n < 0)
		return n;
	if (n == 0) {
		for (i = 0; i < f->set->n; i++)
			if (fill(arg, f->set->v[i]->name, NULL))
				return 0;
		return 0;
	}
	ds = ds_set_find(f->set, parts[0]);
	if (!ds || n == 3)
		return ds ? -ENOTDIR : -ENOENT;
	if (n == 1) {
		err = ds_backup_list(ds, fill_backup, &x);
		if (err < 0)
			return err;
		if (ds_backup_latest(ds, latest, sizeof(latest)) == 0)
			fill(arg, "latest", NULL);
		return 0;
	}
	if (strcmp(parts[1], "latest") == 0)
		return -ENOTDIR;
	err = backup_head(ds, parts[1], &oi);
	if (err)
		return err;
	obj_info_release(&oi);
	fill(arg, ds->drv->backup_file, NULL);
	return 0;
}

static int restore_readlink(void *p, const char *rel, char *buf, size_t size)
{
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	char latest[DS_NAME_MAX];
	struct ds *ds;
	size_t len;
	int n = split(rel, parts);
	int err;

	if (n != 2 || strcmp(parts[1], "latest") != 0)
		return n < 0 ? n : -EINVAL;
	ds = ds_set_find(f->set, parts[0]);
	if (!ds)
		return -ENOENT;
	err = ds_backup_latest(ds, latest, sizeof(latest));
	if (err)
		return err;
	if (size == 0)
		return -EINVAL;
	len = strlen(latest);
	if (len >= size)
		len = size - 1; /* readlink(2) truncates */
	memcpy(buf, latest, len);
	buf[len] = '\0';
	return 0;
}

static struct dsf_handle *handle_new(enum dsf_kind kind, struct ds *ds)
{
	struct dsf_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->ds = ds;
	buf_init(&h->text, DSF_TEXT_MAX);
	pthread_mutex_init(&h->read_lock, NULL);
	return h;
}

static void handle_free(struct dsf_handle *h)
{
	if (!h)
		return;
	ds_live_close(h->live);
	store_reader_close(h->reader);
	if (h->verify)
		h->ds->drv->verify_free(h->verify);
	free(h->what);
	buf_release(&h->text);
	pthread_mutex_destroy(&h->read_lock);
	free(h);
}

static int restore_open(void *p, const char *rel, int flags, void **fh)
{
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	char key[STORE_KEY_MAX + 1];
	struct dsf_handle *h;
	struct obj_info oi;
	struct ds *ds;
	int n = split(rel, parts);
	int err;

	if (n < 0)
		return n;
	ds = n > 0 ? ds_set_find(f->set, parts[0]) : NULL;
	if (n < 3)
		return n >= 1 && !ds ? -ENOENT : -EISDIR;
	if (!ds || strcmp(parts[2], ds->drv->backup_file) != 0 ||
	    !ds_backup_name_is_valid(parts[1]))
		return -ENOENT;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	err = ds_backup_key(ds, parts[1], key, sizeof(key));
	if (err)
		return -ENOENT;
	h = handle_new(DSF_STORED, ds);
	if (!h)
		return -ENOMEM;
	obj_info_init(&oi);
	err = store_reader_open_info(ds->st, ds->container, key, &oi,
				     &h->reader);
	if (err) {
		handle_free(h);
		return err;
	}
	h->size = oi.size;
	obj_info_release(&oi);
	if (asprintf(&h->what, "%s/%s", ds->container, key) < 0)
		h->what = NULL;
	if (!h->what || ds->drv->verify_new(ds, &h->verify)) {
		handle_free(h);
		return -ENOMEM;
	}
	*fh = h;
	return 0;
}

/* ---- datastores/ ---- */

enum dsf_file {
	DSF_F_NONE,
	DSF_F_LIVE,
	DSF_F_BACKUP,
	DSF_F_RECOVER,
	DSF_F_STATUS,
	DSF_F_PROGRESS,
	DSF_F_CTL_DIR,
};

static enum dsf_file file_of(const struct ds *ds, const char *name)
{
	if (strcmp(name, ds->drv->backup_file) == 0)
		return DSF_F_LIVE;
	if (strcmp(name, "backup") == 0)
		return DSF_F_BACKUP;
	if (strcmp(name, "recover") == 0)
		return DSF_F_RECOVER;
	if (strcmp(name, "status") == 0)
		return DSF_F_STATUS;
	if (strcmp(name, "progress") == 0)
		return DSF_F_PROGRESS;
	if (ds->drv->ctl_dir && strcmp(name, ds->drv->ctl_dir->name) == 0)
		return DSF_F_CTL_DIR;
	return DSF_F_NONE;
}

/*
 * Resolves @rel below datastores/: *@ds, the file, and for a control
 * file its writability. Returns the component count or -ENOENT.
 */
static int ds_resolve(struct ds_fs *f, const char *rel, struct ds **ds,
		      enum dsf_file *file, bool *writable,
		      char parts[3][DS_NAME_MAX])
{
	int n = split(rel, parts);

	*ds = NULL;
	*file = DSF_F_NONE;
	*writable = false;
	if (n <= 0)
		return n;
	*ds = ds_set_find(f->set, parts[0]);
	if (!*ds)
		return -ENOENT;
	if (n == 1)
		return n;
	*file = file_of(*ds, parts[1]);
	if (*file == DSF_F_NONE)
		return -ENOENT;
	if (n == 3) {
		if (*file != DSF_F_CTL_DIR ||
		    !(*ds)->drv->ctl_dir->lookup(parts[2], writable))
			return -ENOENT;
	}
	*writable =
		*writable || *file == DSF_F_BACKUP || *file == DSF_F_RECOVER;
	return n;
}

/* True if what ds_resolve() found (@n components, @file) is a directory. */
static bool ds_is_dir(int n, enum dsf_file file)
{
	return n <= 1 || (n == 2 && file == DSF_F_CTL_DIR);
}

static int datastores_getattr(void *p, const char *rel, struct stat *st)
{
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	enum dsf_file file;
	struct ds *ds;
	bool w;
	int n = ds_resolve(f, rel, &ds, &file, &w, parts);

	if (n < 0)
		return n;
	if (ds_is_dir(n, file))
		stat_node(f, st, S_IFDIR | 0555, 0);
	else
		stat_node(f, st, S_IFREG | (w ? 0200 : 0444), 0);
	return 0;
}

static int datastores_readdir(void *p, const char *rel, vfs_fill_fn *fill,
			      void *arg)
{
	static const char *const files[] = { "backup", "recover", "status",
					     "progress" };
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	const char *const *c;
	enum dsf_file file;
	struct ds *ds;
	size_t i;
	bool w;
	int n = ds_resolve(f, rel, &ds, &file, &w, parts);

	if (n < 0)
		return n;
	if (n == 0) {
		for (i = 0; i < f->set->n; i++)
			if (fill(arg, f->set->v[i]->name, NULL))
				return 0;
		return 0;
	}
	if (n == 1) {
		if (fill(arg, ds->drv->backup_file, NULL))
			return 0;
		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			if (fill(arg, files[i], NULL))
				return 0;
		if (ds->drv->ctl_dir)
			fill(arg, ds->drv->ctl_dir->name, NULL);
		return 0;
	}
	if (n == 3 || file != DSF_F_CTL_DIR)
		return -ENOTDIR;
	for (c = ds->drv->ctl_dir->files; *c; c++)
		if (fill(arg, *c, NULL))
			return 0;
	return 0;
}

static int datastores_open(void *p, const char *rel, int flags, void **fh)
{
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	enum dsf_file file;
	struct dsf_handle *h;
	struct ds *ds;
	bool w;
	bool want_write = (flags & O_ACCMODE) != O_RDONLY;
	int n = ds_resolve(f, rel, &ds, &file, &w, parts);
	int err = 0;

	if (n < 0)
		return n;
	if (ds_is_dir(n, file))
		return -EISDIR;
	/* control files are write-only, the others read-only */
	if (want_write != w || (w && (flags & O_ACCMODE) == O_RDWR)) {
		/* once a minute a file: grep -r opens every control file */
		if (log_once_per(rel, DSF_WARN_EVERY_S))
			log_warn("datastores/%s: %s", rel,
				 w ? "a control file: open it for writing only"
				   : "read-only");
		return -EACCES;
	}
	switch (file) {
	case DSF_F_LIVE:
		h = handle_new(DSF_LIVE, ds);
		if (h)
			err = ds_live_open(ds, &h->live);
		break;
	case DSF_F_BACKUP:
		h = handle_new(DSF_BACKUP, ds);
		break;
	case DSF_F_RECOVER:
		h = handle_new(DSF_RECOVER, ds);
		break;
	case DSF_F_STATUS:
		h = handle_new(DSF_TEXT, ds);
		if (h)
			err = ds_status(ds, &h->text);
		break;
	case DSF_F_PROGRESS:
		h = handle_new(DSF_TEXT, ds);
		if (h)
			err = ds_progress(ds, &h->text);
		break;
	case DSF_F_CTL_DIR:
		h = handle_new(w ? DSF_CTL : DSF_TEXT, ds);
		if (!h)
			break;
		if (strlen(parts[2]) >= sizeof(h->file)) {
			err = -ENOENT;
			break;
		}
		memcpy(h->file, parts[2], strlen(parts[2]) + 1);
		if (!w)
			err = ds->drv->ctl_dir->read(ds, parts[2], &h->text);
		break;
	default:
		return -ENOENT;
	}
	if (!h)
		return -ENOMEM;
	if (err) {
		handle_free(h);
		return err;
	}
	h->append = (flags & O_APPEND) != 0;
	*fh = h;
	return 0;
}

/*
 * Feeds the verifier @len bytes at @off of what a read returned, the part
 * past what it has; at the end of the file, its verdict. Then 0 or the
 * verdict's -errno (logged by the driver, naming the object).
 */
static int stored_feed(struct dsf_handle *h, const char *p, uint64_t off,
		       size_t len)
{
	uint64_t end = off + len;

	if (h->verify && off <= h->verified && end > h->verified) {
		h->ds->drv->verify_update(h->verify, p + (h->verified - off),
					  (size_t)(end - h->verified));
		h->verified = end;
	}
	if (!h->verify || h->verified < h->size)
		return h->verify ? 0 : h->verdict;
	h->verdict = h->ds->drv->verify_final(h->verify, h->what);
	h->ds->drv->verify_free(h->verify);
	h->verify = NULL;
	return h->verdict;
}

/*
 * Before a read at @off past what the verifier has: the bytes in between
 * read again and fed, if the gap is short; else checking stops for this
 * handle (random access: `dd skip=`, `tail -c`).
 */
static int stored_catch_up(struct dsf_handle *h, uint64_t off)
{
	char *chunk;
	int err = 0;

	if (!h->verify || off <= h->verified)
		return 0;
	if (off - h->verified > DSF_VERIFY_GAP_MAX) {
		log_debug(
			"'%s': read at %llu: random access, not checked as an RDB",
			h->what, (unsigned long long)off);
		h->ds->drv->verify_free(h->verify);
		h->verify = NULL;
		return 0;
	}
	chunk = malloc(DSF_VERIFY_CHUNK);
	if (!chunk)
		return -ENOMEM;
	while (!err && h->verify && h->verified < off) {
		uint64_t at = h->verified;
		size_t n = off - at < DSF_VERIFY_CHUNK ? (size_t)(off - at)
						       : DSF_VERIFY_CHUNK;

		err = store_reader_read_full(h->reader, at, chunk, n);
		if (!err)
			err = stored_feed(h, chunk, at, n);
	}
	free(chunk);
	return err;
}

static ssize_t stored_read(struct dsf_handle *h, char *buf, size_t size,
			   off_t off)
{
	size_t got = 0;
	int err;

	pthread_mutex_lock(&h->read_lock);
	err = stored_catch_up(h, (uint64_t)off);
	if (!err)
		err = store_reader_read(h->reader, (uint64_t)off, buf, size,
					&got);
	if (!err)
		err = stored_feed(h, buf, (uint64_t)off, got);
	pthread_mutex_unlock(&h->read_lock);
	return err ? err : (ssize_t)got;
}

static ssize_t dsf_read(void *p, void *fh, char *buf, size_t size, off_t off)
{
	struct dsf_handle *h = fh;
	size_t n;

	(void)p;
	switch (h->kind) {
	case DSF_LIVE:
		return ds_live_read(h->live, buf, size, off);
	case DSF_TEXT:
		if ((uint64_t)off >= h->text.len)
			return 0;
		n = h->text.len - (size_t)off;
		if (n > size)
			n = size;
		memcpy(buf, h->text.data + off, n);
		return (ssize_t)n;
	case DSF_STORED:
		return stored_read(h, buf, size, off);
	default:
		return -EBADF;
	}
}

/*
 * A control file takes one write per open, at offset 0, and acts on it
 * before returning. A write elsewhere is a second one on the same open
 * file ("(echo a; echo b) > backup" would take two backups) or a rest of
 * what an earlier write began (a name written in pieces would recover the
 * backup its first piece names): -EINVAL, one log line, nothing done. A
 * failed write leaves the offset at 0: it may be retried. An O_APPEND
 * open (">>") writes at the size the kernel noted after an earlier write
 * to the file, whatever the offset: there the one write that ran is
 * remembered instead.
 */
static ssize_t dsf_write(void *p, void *fh, const char *buf, size_t size,
			 off_t off)
{
	struct dsf_handle *h = fh;
	int err;

	(void)p;
	if ((h->kind == DSF_BACKUP || h->kind == DSF_RECOVER ||
	     h->kind == DSF_CTL) &&
	    (__atomic_load_n(&h->acted, __ATOMIC_ACQUIRE) ||
	     (off != 0 && !h->append))) {
		log_error(
			"datastore '%s': %s: a write at offset %lld refused: write the whole request at once, one write per open",
			h->ds->name,
			h->kind == DSF_BACKUP	 ? "backup"
			: h->kind == DSF_RECOVER ? "recover"
						 : h->file,
			(long long)off);
		return -EINVAL;
	}
	switch (h->kind) {
	case DSF_BACKUP:
		err = ds_backup(h->ds, "", NULL, 0);
		break;
	case DSF_RECOVER:
		err = ds_recover(h->ds, buf, size);
		break;
	case DSF_CTL:
		err = h->ds->drv->ctl_dir->write(h->ds, h->file, buf, size);
		break;
	default:
		return -EBADF;
	}
	if (err)
		return err;
	__atomic_store_n(&h->acted, true, __ATOMIC_RELEASE);
	return (ssize_t)size;
}

static int dsf_release(void *p, void *fh)
{
	(void)p;
	handle_free(fh);
	return 0;
}

static bool dsf_direct_io(void *p, void *fh)
{
	const struct dsf_handle *h = fh;

	(void)p;
	return h->kind == DSF_LIVE || h->kind == DSF_TEXT;
}

/* O_TRUNC of a control file (shell redirections) is accepted. */
static int datastores_truncate(void *p, const char *rel, off_t size)
{
	struct ds_fs *f = p;
	char parts[3][DS_NAME_MAX];
	enum dsf_file file;
	struct ds *ds;
	bool w;
	int n = ds_resolve(f, rel, &ds, &file, &w, parts);

	if (n < 0)
		return n;
	if (ds_is_dir(n, file))
		return -EISDIR;
	if (!w) {
		if (log_once_per(rel, DSF_WARN_EVERY_S))
			log_warn("datastores/%s: read-only", rel);
		return -EACCES;
	}
	if (size != 0) {
		log_warn(
			"datastores/%s: truncate to %lld refused: a control file takes a request, write it with echo",
			rel, (long long)size);
		return -EINVAL;
	}
	return 0;
}

const struct vfs_provider_ops ds_fs_restore_ops = {
	.getattr = restore_getattr,
	.readdir = restore_readdir,
	.open = restore_open,
	.read = dsf_read,
	.release = dsf_release,
	.readlink = restore_readlink,
};

const struct vfs_provider_ops ds_fs_datastores_ops = {
	.getattr = datastores_getattr,
	.readdir = datastores_readdir,
	.open = datastores_open,
	.read = dsf_read,
	.write = dsf_write,
	.release = dsf_release,
	.truncate = datastores_truncate,
	.direct_io = dsf_direct_io,
};

int ds_fs_register(struct vfs *v, struct ds_set *set, struct ds_fs **out)
{
	struct ds_fs *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -ENOMEM;
	f->set = set;
	f->uid = getuid();
	f->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &f->birth);
	if (v) {
		err = vfs_register_provider(v, "restore", &ds_fs_restore_ops,
					    f);
		if (!err)
			err = vfs_register_provider(v, "datastores",
						    &ds_fs_datastores_ops, f);
		if (err) {
			free(f);
			return err;
		}
	}
	*out = f;
	return 0;
}

void ds_fs_free(struct ds_fs *f)
{
	free(f);
}
