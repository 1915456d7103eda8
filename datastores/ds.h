/*
 * ds.h - the datastore driver interface and the generic datastore logic
 * every driver shares (SPEC section 4): backups into the store under
 * timestamped names, the backup listing behind restore/NAME/, verified
 * in-place recovery with a safety backup first, status and progress.
 *
 * A driver (Redis now; MongoDB and point-in-time recovery later) is found
 * by the section type in a static table (ds_driver_find()). Each
 * configured [TYPE:NAME] section becomes one struct ds. What a driver
 * provides:
 *   - a live backup stream (stream_open/read/close): a fresh consistent
 *     backup of the running server, in the file format named by
 *     backup_file ("dump.rdb"; MongoDB: "dump.archive"); the stream
 *     verifies itself and fails its last read with -EBADMSG if the data
 *     does not check out;
 *   - a verifier (verify_new/update/final/free) for stored backups;
 *   - recover: replace the server's data with a verified backup, in place;
 *   - extra status lines and optional control files (ctl_dir).
 *
 * Stored layout: container/PREFIX<backup>/<backup_file>, <backup> being
 * the UTC start time "YYYY-MM-DDTHH:MM:SSZ" plus an optional suffix
 * ("-pre-recover" for recover's safety backup, "-N" if the name was
 * taken). Names sort by time, so the greatest is the latest.
 *
 * Locks: ds->lock protects the state fields of struct ds (marked below);
 * it is never held across a store call or a driver call. One backup or
 * recover runs at a time per datastore (ds->busy, else -EBUSY); live
 * stream reads (datastores/NAME/dump.rdb) may run alongside.
 */
#ifndef DATASTORES_DS_H
#define DATASTORES_DS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../backends/store.h"
#include "../conf/buf.h"
#include "../conf/conf.h"

#define DS_NAME_MAX 128	  /* datastore and backup names */
#define DS_STATUS_MAX 256 /* one status text */

struct ds;
struct ds_set;
struct ds_stream; /* driver-defined */
struct ds_verify; /* driver-defined */
struct ds_stage;  /* driver-defined: a recover being staged */

/* Driver-specific control files under datastores/NAME/<name>/. */
struct ds_ctl_dir {
	const char *name; /* "replication" */
	/* True if @file exists; *@writable says whether it takes writes. */
	bool (*lookup)(const char *file, bool *writable);
	const char *const *files; /* NULL-terminated, for readdir */
	/* Content of a readable file into @out: 0, -errno. */
	int (*read)(struct ds *ds, const char *file, struct buf *out);
	/* Performs a write of @data/@len: 0, -errno. */
	int (*write)(struct ds *ds, const char *file, const char *data,
		     size_t len);
};

struct ds_driver {
	const char *type;	 /* config section type: "redis" */
	const char *backup_file; /* "dump.rdb" */

	/*
	 * Parses the driver's keys of @s (the keys of ds_key_is_common() are
	 * ds.c's: skip them) into *@priv, freed by fini(). Reads secrets
	 * (password files) now. Returns 0, or -EINVAL/-EACCES/-ENOENT with
	 * one log line "FILE:LINE: ..." or naming the file. Required.
	 */
	int (*init)(struct ds *ds, const struct conf_section *s, void **priv);
	void (*fini)(void *priv); /* accepts NULL */

	/*
	 * Live backup stream. open connects and starts the transfer; on
	 * success the caller owns *@out and ends it with stream_close().
	 * read fills up to @len bytes (*@got; 0 = end, after the data
	 * verified); errors are sticky: -EBADMSG (verification failed: then
	 * the bytes that ended the stream are not returned), -ECONNRESET,
	 * -ETIMEDOUT, or a mapped server error. stream_size is the total if
	 * known, else 0. Each stream uses its own connection: thread-safe
	 * across streams, one thread per stream. Required.
	 */
	int (*stream_open)(struct ds *ds, struct ds_stream **out);
	int (*stream_read)(struct ds_stream *s, void *dst, size_t len,
			   size_t *got);
	uint64_t (*stream_size)(struct ds_stream *s);
	void (*stream_close)(struct ds_stream *s); /* accepts NULL */
	/*
	 * Updates state markers (see state_read) that only settle once the
	 * stream has started (Redis: the first SYNC in a while gives the
	 * server a new replication id). Called by a backup right after
	 * stream_open with the markers state_read gave; must not touch the
	 * stream's own connection. 0 or -errno (then the backup records no
	 * markers). Optional.
	 */
	int (*stream_state)(struct ds_stream *s, struct meta *m);

	/*
	 * Verifier of a whole backup fed in order: final returns 0 or
	 * -EBADMSG (with a log line naming @what). Required.
	 */
	int (*verify_new)(struct ds *ds, struct ds_verify **out);
	void (*verify_update)(struct ds_verify *v, const void *p, size_t len);
	int (*verify_final)(struct ds_verify *v, const char *what);
	void (*verify_free)(struct ds_verify *v); /* accepts NULL */

	/*
	 * Replaces the live server's data with backup @name, read from @src
	 * (borrowed; sequential reads from offset 0; already verified once,
	 * the codec re-verifies while reading). Must bring the server back on
	 * its previous data if any step fails. Reports its steps with
	 * ds_set_step(). Returns 0 or -errno. Optional (neither recover nor
	 * stage_open: -EOPNOTSUPP).
	 */
	int (*recover)(struct ds *ds, const char *name,
		       struct store_reader *src);

	/*
	 * Single-pass recover, used instead of recover when stage_open is
	 * set (all five then). ds.c reads the chosen backup once, feeding
	 * the verifier and stage_write alike, while the safety backup runs
	 * in another thread; stage_apply runs only after the whole backup
	 * verified, stage_sync returned 0 and the safety backup committed.
	 *   stage_open: learns where the server's files are and creates an
	 *     empty staging file beside them; touches nothing the server
	 *     uses. On success the caller ends *@out with stage_free().
	 *   stage_write: appends; 0, -ENOSPC, -EIO (logged). Called on
	 *     ds_stage.c's writer thread (signals blocked): one call at a
	 *     time, in order; stage_sync/apply/free come after it joined,
	 *     on the recover's thread.
	 *   stage_sync: makes the staged data durable; 0, -errno (logged).
	 *   stage_apply: as recover from here on (stop, swap, start; on
	 *     failure back on the previous data). Reports its steps.
	 *   stage_free: removes whatever is still staged; accepts NULL.
	 * Optional.
	 */
	int (*stage_open)(struct ds *ds, const char *name,
			  struct ds_stage **out);
	int (*stage_write)(struct ds_stage *sg, const void *p, size_t len);
	int (*stage_sync)(struct ds_stage *sg);
	int (*stage_apply)(struct ds_stage *sg);
	void (*stage_free)(struct ds_stage *sg);

	/*
	 * State markers of the live server: values that are all equal at
	 * two moments only if no write happened in between (Redis: run id,
	 * dirty counter, last save time, save count). state_read fills @m
	 * (empty on entry) with every key of state_keys, reading the
	 * server without changing it; 0 or -errno (then @m is ignored).
	 * ds.c calls it before each backup's stream_open (then
	 * stream_state, if set) and stores the markers in the backup's
	 * metadata, and at recover, to skip the
	 * safety backup if they match the newest backup that has them
	 * (ds_state_unchanged()). Optional (both or neither).
	 */
	int (*state_read)(struct ds *ds, struct meta *m);
	const char *const *state_keys; /* NULL-terminated meta keys */

	/* Appends driver "key: value\n" lines to the status file. Optional. */
	int (*status)(struct ds *ds, struct buf *out);

	const struct ds_ctl_dir *ctl_dir; /* optional */
};

/* One configured datastore. */
struct ds {
	const struct ds_driver *drv;
	char *name;	    /* owned: NAME of [TYPE:NAME] */
	char *container;    /* owned: backups container */
	char *prefix;	    /* owned: key prefix, "" or ending in '/' */
	struct store *st;   /* borrowed: the mount's store stack */
	struct ds_set *set; /* borrowed: the set holding this ds */
	void *priv;	    /* driver state, owned by the driver */
	/*
	 * Whoever holds the op (one backup at a time): the token in the
	 * directory marker of the backup name it took, and whether another
	 * client's marker replaced it (ds.c, take_name()).
	 */
	char claim[33];
	bool claim_lost;

	pthread_mutex_t lock;
	/* under lock: */
	bool busy;		  /* a backup or recover runs */
	char op[DS_STATUS_MAX];	  /* what runs ("backup 2024-...Z"), "" */
	char step[DS_STATUS_MAX]; /* its current step */
	uint64_t done;		  /* bytes of the current operation */
	uint64_t total;		  /* 0 = unknown */
	unsigned streams;	  /* live dump reads open */
	char last_op[DS_STATUS_MAX];
	char last_result[DS_STATUS_MAX]; /* "ok" or "error: ..." */
	char last_backup[DS_NAME_MAX];	 /* last backup written */
	char last_safety[DS_NAME_MAX];	 /* last recover's safety backup */
	time_t last_time;
};

/* Every configured datastore of a mount. */
struct ds_set {
	struct ds **v; /* owned array of n owned ds */
	size_t n;
	struct store *st; /* borrowed */
};

/* The driver for section type @type, or NULL. */
const struct ds_driver *ds_driver_find(const char *type);

/* True for the keys ds.c parses for every driver (container, prefix). */
bool ds_key_is_common(const char *key);

/*
 * Builds a ds for every datastore section of @c ([redis:NAME], ...) over
 * @st (borrowed; must outlive the set). Sections of a type without a
 * driver yet (mongodb) are skipped with a warning. Returns 0; -EINVAL
 * (bad key or value, duplicate name; logged with the line) or a driver's
 * error. On success the caller frees *@out with ds_set_free().
 */
int ds_set_new(const struct conf *c, struct store *st, struct ds_set **out);

/* Empty set over @st (tests add fake drivers with ds_set_add()). */
int ds_set_new_empty(struct store *st, struct ds_set **out);

/* Adds a datastore for section @s driven by @drv. 0, -EINVAL, -ENOMEM. */
int ds_set_add(struct ds_set *set, const struct ds_driver *drv,
	       const struct conf_section *s);

void ds_set_free(struct ds_set *set); /* accepts NULL */

/* The datastore called @name, or NULL. Borrowed. */
struct ds *ds_set_find(const struct ds_set *set, const char *name);

/* ---- naming (ds_names.c) ---- */

/* True if @name can name a datastore: 1..DS_NAME_MAX-1 bytes, no '/',
 * not "." or "..". */
bool ds_name_is_valid(const char *name);

/*
 * The backup name for time @t with @suffix ("" or "-pre-recover") into
 * @out: "YYYY-MM-DDTHH:MM:SSZ<suffix>". 0, -ENAMETOOLONG.
 */
int ds_backup_name(time_t t, const char *suffix, char *out, size_t size);

/* True if @name can be a backup name: 1..DS_NAME_MAX-1 printable bytes,
 * no '/', not "." / ".." / "latest". */
bool ds_backup_name_is_valid(const char *name);

/* Key of @name's backup file: PREFIX<name>/<backup_file>. 0, -ENAMETOOLONG */
int ds_backup_key(const struct ds *ds, const char *name, char *out,
		  size_t size);

/* ---- backups ---- */

/*
 * The order of backup names: <0, 0, >0 as strcmp(), but runs of digits
 * compare as numbers, so within one second "T" < "T-1" < "T-2" < "T-10"
 * < "T-pre-recover" < "T-pre-recover-1" (the time part has fixed width:
 * across seconds this is time order).
 */
int ds_backup_name_cmp(const char *a, const char *b);

/* Called per backup name in ascending order; nonzero stops (a -errno is
 * returned by ds_backup_list(), a positive value gives 0). */
typedef int ds_backup_fn(void *arg, const char *name);

/*
 * Lists @ds's backups - the directories under its prefix that hold the
 * backup file itself - in ascending ds_backup_name_cmp() order (names are
 * collected and sorted first). 0 (also when the container does not exist
 * yet), -ENOMEM, -errno of the store or of @fn.
 */
int ds_backup_list(struct ds *ds, ds_backup_fn *fn, void *arg);

/*
 * `latest` into @out: the greatest name (ds_backup_list() order) of a
 * backup made, "YYYY-MM-DDTHH:MM:SSZ[-N]" - never a safety backup
 * ("...-pre-recover") nor a name given by hand. 0, -ENOENT (none).
 */
int ds_backup_latest(struct ds *ds, char *out, size_t size);

/* 0 if backup @name's file exists; -ENOENT, or the store's -errno. */
int ds_backup_exists(struct ds *ds, const char *name);

/* What a user wrote without the blanks around it (*@arg, *@len moved in). */
void ds_trim_blanks(const char **arg, size_t *len);

/*
 * Turns what a user wrote ("latest", a backup name; blanks around it
 * ignored: ds_trim_blanks()) into an existing backup's name. 0; -ENOENT (no such backup,
 * garbage); -EINVAL (empty).
 */
int ds_backup_resolve(struct ds *ds, const char *arg, size_t len, char *out,
		      size_t size);

/*
 * Takes a backup now: streams the live server into
 * container/PREFIX<name>/<backup_file>, committed only if the stream
 * verified (else nothing is visible). @suffix as for ds_backup_name().
 * The name used goes to @name_out (may be NULL). Returns 0; -EBUSY (a
 * backup or recover runs); the stream's or the store's -errno. Updates
 * status and progress.
 */
int ds_backup(struct ds *ds, const char *suffix, char *name_out, size_t size);

/* Reads backup @name completely through the store and the driver's
 * verifier. 0, -ENOENT, -EBADMSG, -EIO, ... */
int ds_backup_verify(struct ds *ds, const char *name);

/*
 * In-place recover from backup @arg (as ds_backup_resolve()): resolves it,
 * takes a safety backup ("-pre-recover") unless the driver's state
 * markers prove an existing backup already holds the live data (then
 * that backup is verified too if it is not the chosen one), verifies
 * the chosen backup completely (with stage_open: in one read that also
 * stages it, while the safety backup runs in a second thread), then calls
 * the driver. Returns
 * 0; -ENOENT; -EBUSY; -EBADMSG (backup corrupt: nothing was stopped); the
 * driver's -errno.
 */
int ds_recover(struct ds *ds, const char *arg, size_t len);

/*
 * True only if @keys (NULL-terminated) is not empty and every key has a
 * value in both @backup (a backup's metadata) and @live (state_read() of
 * the server now) and the values are equal: then no write happened since
 * that backup's snapshot began, so it holds the current data. Anything
 * missing, or @keys NULL: false (take the safety backup).
 */
bool ds_state_unchanged(const char *const *keys, const struct meta *backup,
			const struct meta *live);

/* ---- live stream with progress accounting (datastores/NAME/dump.rdb) */

struct ds_live;

/* Opens the driver stream lazily at the first read. 0, -ENOMEM. */
int ds_live_open(struct ds *ds, struct ds_live **out);
/* Sequential reads only: @off must be where the last read ended
 * (-EINVAL with a log line otherwise). Returns bytes or -errno. */
ssize_t ds_live_read(struct ds_live *l, void *dst, size_t len, off_t off);
void ds_live_close(struct ds_live *l); /* accepts NULL */

/* ---- status ---- */

/* Records the current step of the running operation (for status). */
void ds_set_step(struct ds *ds, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Adds @n bytes to the running operation's progress; sets the total if
 * @total is nonzero. */
void ds_progress_add(struct ds *ds, uint64_t n, uint64_t total);

/* The status file: "key: value" lines. 0, -ENOMEM. */
int ds_status(struct ds *ds, struct buf *out);

/* The progress file: "operation: ...\nbytes_done: N\nbytes_total: N|unknown\n" */
int ds_progress(struct ds *ds, struct buf *out);

/* "error: Bad message (EBADMSG)" style text for status. */
const char *ds_errno_name(int err);

#endif /* DATASTORES_DS_H */
