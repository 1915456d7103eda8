/*
 * ds.c - the generic half of every datastore (contract in ds.h): the
 * driver table, [TYPE:NAME] sections into struct ds, taking a backup
 * from a driver's live stream into the store (names and listings:
 * ds_names.c),
 * verification, the recover sequence (safety backup, verify, driver),
 * status and progress.
 *
 * Invariants: a backup is committed only after the driver's stream ended
 * verified; a failed backup aborts its writer, so nothing appears. One
 * backup or recover at a time per datastore (ds->busy). A recover stops
 * nothing before its safety backup committed and the chosen backup
 * verified completely. The safety backup is skipped only if the driver's
 * state markers, read from the live server now, equal those stored with
 * an existing backup (read before its snapshot began) and that backup
 * verifies; any failure or missing marker means taking it.
 * Threads: a recover with a staging driver runs its safety backup in a
 * second thread (safety_main), which touches only its own stream, writer
 * and struct safety_job, and ds state under ds->lock; the recover joins
 * it before going on. Its verifying pass hands the staged pieces to the
 * driver's stage_write() on a writer thread of ds_stage.c (the pipe's
 * lock is its own), joined before stage_sync(); the store's reader and
 * the verifier stay in the recover's thread.
 * Locks: ds->lock protects the state fields (see ds.h) and
 * safety_job.done; it is taken for short updates only, never across store
 * or driver calls.
 */
#include "ds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../conf/log.h"
#include "ds_stage.h"
#include "redis.h"

#define DS_COPY_BUF (1u << 20) /* bytes per read when copying */
#define DS_DEFAULT_CONTAINER "database_backups"

static const struct ds_driver *const ds_drivers[] = {
	&ds_redis_driver,
};

/* Section types that are datastores but have no driver yet. */
static const char *const ds_future_types[] = { "mongodb" };

const struct ds_driver *ds_driver_find(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(ds_drivers) / sizeof(ds_drivers[0]); i++)
		if (strcmp(ds_drivers[i]->type, type) == 0)
			return ds_drivers[i];
	return NULL;
}

bool ds_key_is_common(const char *key)
{
	return strcmp(key, "container") == 0 || strcmp(key, "prefix") == 0;
}

const char *ds_errno_name(int err)
{
	const char *n = strerrorname_np(err < 0 ? -err : err);

	return n ? n : "EIO";
}

/* ---- the set ---- */

static void ds_free(struct ds *ds)
{
	if (!ds)
		return;
	if (ds->drv && ds->drv->fini)
		ds->drv->fini(ds->priv);
	pthread_mutex_destroy(&ds->lock);
	free(ds->name);
	free(ds->container);
	free(ds->prefix);
	free(ds);
}

int ds_set_new_empty(struct store *st, struct ds_set **out)
{
	struct ds_set *set = calloc(1, sizeof(*set));

	if (!set)
		return -ENOMEM;
	set->st = st;
	*out = set;
	return 0;
}

void ds_set_free(struct ds_set *set)
{
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->n; i++)
		ds_free(set->v[i]);
	free(set->v);
	free(set);
}

struct ds *ds_set_find(const struct ds_set *set, const char *name)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->v[i]->name, name) == 0)
			return set->v[i];
	return NULL;
}

/* The prefix as configured: "" stays "", else it must end with '/'. */
static int prefix_set(struct ds *ds, const char *value, int line)
{
	size_t len = strlen(value);
	struct buf b;

	buf_init(&b, STORE_KEY_MAX / 2);
	buf_puts(&b, value);
	if (len > 0 && value[len - 1] != '/')
		buf_puts(&b, "/");
	/* a key's rules, "." and ".." components included: every backup
	 * key failed later with EINVAL and no line saying why */
	if (len > 0 && !b.err && !store_key_is_valid(b.data)) {
		log_error("line %d: [%s:%s]: bad prefix '%s'", line,
			  ds->drv->type, ds->name, value);
		buf_release(&b);
		return -EINVAL;
	}
	if (b.err) {
		log_error("line %d: [%s:%s]: prefix too long", line,
			  ds->drv->type, ds->name);
		return -EINVAL;
	}
	free(ds->prefix);
	ds->prefix = b.data ? buf_steal(&b) : strdup("");
	return ds->prefix ? 0 : -ENOMEM;
}

/*
 * The datastore of @set whose backups would mix with @ds's: the same
 * container and prefix. Two of them backing up in the same second would
 * both name the backup after that second, and the last to commit would
 * replace the other's (restore/A/latest would be B's data). Nested
 * prefixes ("a/", "a/b/") do not mix: a backup is a directory holding
 * the dump itself.
 */
static const struct ds *backups_overlap(const struct ds_set *set,
					const struct ds *ds)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->v[i]->container, ds->container) == 0 &&
		    strcmp(set->v[i]->prefix, ds->prefix) == 0)
			return set->v[i];
	return NULL;
}

int ds_set_add(struct ds_set *set, const struct ds_driver *drv,
	       const struct conf_section *s)
{
	const struct ds *other;
	struct ds **v;
	struct ds *ds;
	const char *val;
	size_t i;
	int err;

	if (!ds_name_is_valid(s->name) || strcmp(s->name, "latest") == 0) {
		log_error("line %d: bad datastore name '%s'", s->line, s->name);
		return -EINVAL;
	}
	if (ds_set_find(set, s->name)) {
		log_error("line %d: datastore '%s' is configured twice",
			  s->line, s->name);
		return -EINVAL;
	}
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return -ENOMEM;
	if (pthread_mutex_init(&ds->lock, NULL)) {
		free(ds);
		return -ENOMEM;
	}
	ds->drv = drv;
	ds->st = set->st;
	ds->set = set;
	ds->name = strdup(s->name);
	ds->container = strdup(DS_DEFAULT_CONTAINER);
	if (!ds->name || !ds->container) {
		err = -ENOMEM;
		goto out_free;
	}
	err = prefix_set(ds, s->name, s->line);
	if (err)
		goto out_free;
	for (i = 0; i < s->nkv; i++) {
		if (strcmp(s->kv[i].key, "container") == 0) {
			if (!store_container_is_valid(s->kv[i].value)) {
				log_error(
					"line %d: [%s:%s]: bad container '%s'",
					s->kv[i].line, drv->type, s->name,
					s->kv[i].value);
				err = -EINVAL;
				goto out_free;
			}
			free(ds->container);
			ds->container = strdup(s->kv[i].value);
			if (!ds->container) {
				err = -ENOMEM;
				goto out_free;
			}
		} else if (strcmp(s->kv[i].key, "prefix") == 0) {
			val = s->kv[i].value;
			err = prefix_set(ds, val, s->kv[i].line);
			if (err)
				goto out_free;
		}
	}
	other = backups_overlap(set, ds);
	if (other) {
		log_error(
			"line %d: [%s:%s]: its backups ('%s/%s') would mix with datastore '%s''s ('%s/%s'): give each its own prefix",
			s->line, drv->type, s->name, ds->container, ds->prefix,
			other->name, other->container, other->prefix);
		err = -EINVAL;
		goto out_free;
	}
	err = drv->init(ds, s, &ds->priv);
	if (err)
		goto out_free;
	v = realloc(set->v, (set->n + 1) * sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out_free;
	}
	set->v = v;
	set->v[set->n++] = ds;
	return 0;
out_free:
	ds_free(ds);
	return err;
}

int ds_set_new(const struct conf *c, struct store *st, struct ds_set **out)
{
	const struct ds_driver *drv;
	struct ds_set *set;
	size_t i;
	size_t j;
	int err;

	err = ds_set_new_empty(st, &set);
	if (err)
		return err;
	for (i = 0; i < c->nsections; i++) {
		const struct conf_section *s = &c->sections[i];

		drv = ds_driver_find(s->type);
		if (!drv) {
			for (j = 0; j < sizeof(ds_future_types) /
						sizeof(ds_future_types[0]);
			     j++)
				if (strcmp(s->type, ds_future_types[j]) == 0)
					log_warn(
						"line %d: [%s:%s]: datastore type '%s' is not supported yet, ignored",
						s->line, s->type, s->name,
						s->type);
			continue;
		}
		err = ds_set_add(set, drv, s);
		if (err) {
			ds_set_free(set);
			return err;
		}
	}
	*out = set;
	return 0;
}

/* ---- status bookkeeping ---- */

static void copy_str(char *dst, size_t size, const char *src)
{
	int n = snprintf(dst, size, "%s", src);

	if (n < 0)
		dst[0] = '\0'; /* truncation of status text is harmless */
}

/*
 * Set on the thread of a quiet backup (a recover's safety backup, which
 * runs beside the recover's verify): its steps, the driver's too, are
 * log lines only, not the recover's step in status.
 */
static __thread bool steps_quiet;

void ds_set_step(struct ds *ds, const char *fmt, ...)
{
	char step[DS_STATUS_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(step, sizeof(step), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (steps_quiet) {
		log_info("datastore '%s': %s", ds->name, step);
		return;
	}
	pthread_mutex_lock(&ds->lock);
	copy_str(ds->step, sizeof(ds->step), step);
	pthread_mutex_unlock(&ds->lock);
	log_info("datastore '%s': %s", ds->name, step);
}

void ds_progress_add(struct ds *ds, uint64_t n, uint64_t total)
{
	pthread_mutex_lock(&ds->lock);
	ds->done += n;
	if (total)
		ds->total = total;
	pthread_mutex_unlock(&ds->lock);
}

/* Claims the datastore for @op; -EBUSY if something runs. */
static int op_begin(struct ds *ds, const char *op)
{
	int err = 0;

	pthread_mutex_lock(&ds->lock);
	if (ds->busy) {
		err = -EBUSY;
		log_error("datastore '%s': cannot start %s: %s is running",
			  ds->name, op, ds->op);
	} else {
		ds->busy = true;
		copy_str(ds->op, sizeof(ds->op), op);
		ds->step[0] = '\0';
		ds->done = 0;
		ds->total = 0;
	}
	pthread_mutex_unlock(&ds->lock);
	return err;
}

/* Sets last_op/result/time: @op ended with @err during @step (may be
 * ""). Called with ds->lock held. */
static void set_result_locked(struct ds *ds, const char *op, int err,
			      const char *step)
{
	char res[DS_STATUS_MAX];
	int n;

	if (err)
		n = snprintf(res, sizeof(res), "error: %s (%s)%s%s",
			     strerror(-err), ds_errno_name(err),
			     step[0] ? " during: " : "", step);
	else
		n = snprintf(res, sizeof(res), "ok");
	if (n < 0)
		res[0] = '\0';
	copy_str(ds->last_op, sizeof(ds->last_op), op);
	copy_str(ds->last_result, sizeof(ds->last_result), res);
	ds->last_time = time(NULL);
}

static void op_end(struct ds *ds, int err)
{
	pthread_mutex_lock(&ds->lock);
	set_result_locked(ds, ds->op, err, ds->step);
	ds->busy = false;
	ds->op[0] = '\0';
	ds->step[0] = '\0';
	pthread_mutex_unlock(&ds->lock);
}

/*
 * Records @op refused with @err before anything ran (status says what
 * happened to the last request); a job running meanwhile keeps its own.
 */
static void op_refused(struct ds *ds, const char *op, int err)
{
	pthread_mutex_lock(&ds->lock);
	if (!ds->busy)
		set_result_locked(ds, op, err, "");
	pthread_mutex_unlock(&ds->lock);
}

/* ---- state markers ---- */

bool ds_state_unchanged(const char *const *keys, const struct meta *backup,
			const struct meta *live)
{
	const char *a;
	const char *b;
	size_t i;

	if (!keys || !keys[0])
		return false;
	for (i = 0; keys[i]; i++) {
		a = meta_get(backup, keys[i]);
		b = meta_get(live, keys[i]);
		if (!a || !b || strcmp(a, b) != 0)
			return false;
	}
	return true;
}

/*
 * The live server's state markers into @m (empty on entry). 0, -errno
 * (then @m is emptied: a backup without markers is never matched), or
 * -EOPNOTSUPP for a driver without them.
 */
static int state_read(struct ds *ds, struct meta *m)
{
	size_t i;
	int err;

	if (!ds->drv->state_read || !ds->drv->state_keys)
		return -EOPNOTSUPP;
	err = ds->drv->state_read(ds, m);
	for (i = 0; !err && ds->drv->state_keys[i]; i++)
		if (!meta_get(m, ds->drv->state_keys[i]))
			err = -EPROTO; /* a driver bug: never match on it */
	if (err) {
		meta_release(m);
		meta_init(m);
	}
	return err;
}

/* ---- backup ---- */

static int ensure_container(struct ds *ds)
{
	int err = store_create_container(ds->st, ds->container);

	if (err == -EEXIST)
		return 0;
	if (err)
		log_error("datastore '%s': cannot create container '%s': %s",
			  ds->name, ds->container, strerror(-err));
	return err;
}

/* The directory marker of backup @name: "PREFIX/NAME/". */
static int backup_dir_key(const struct ds *ds, const char *name, char *out,
			  size_t size)
{
	int n = snprintf(out, size, "%s%s/", ds->prefix, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* A random token for ds->claim (hex, NUL-terminated). */
static void new_claim(char *out, size_t size)
{
	unsigned char r[16];
	struct timespec t;
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* no entropy: unique enough between two mounts' hosts */
		clock_gettime(CLOCK_REALTIME, &t);
		snprintf(out, size, "%lx%lx%x", (unsigned long)t.tv_sec,
			 (unsigned long)t.tv_nsec, (unsigned)getpid());
		return;
	}
	for (i = 0; i < sizeof(r) && 2 * i + 2 < size; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/*
 * Takes @name for a backup: 0, -EEXIST if it is taken, or a store error.
 * A name free when looked at is reserved by making its directory marker
 * with a token of ours, which the store makes only where nothing is (two
 * mounts backing up one datastore in the same second would otherwise
 * both pick it, and the last commit would replace the other's backup).
 * Swift checks that as a request arrives, so two PUTs at once may both
 * pass, the later one replacing the other's marker: claim_held() looks
 * again before the commit.
 */
static int take_name(struct ds *ds, const char *name)
{
	char dir[STORE_KEY_MAX + 1];
	struct meta m;
	int err = ds_backup_exists(ds, name);

	if (!err)
		return -EEXIST;
	if (err != -ENOENT)
		return err;
	err = backup_dir_key(ds, name, dir, sizeof(dir));
	if (err)
		return err;
	new_claim(ds->claim, sizeof(ds->claim));
	ds->claim_lost = false;
	meta_init(&m);
	err = meta_set(&m, "claim", ds->claim);
	if (!err)
		err = store_mkdir_excl(ds->st, ds->container, dir, &m);
	meta_release(&m);
	return err;
}

/*
 * Before committing backup @key: 0 if the marker of its directory still
 * holds our token (or is gone: nobody else took the name), -EEXIST and
 * ds->claim_lost if another client's marker replaced it (it took the
 * name at the same moment, and commits there).
 */
static int claim_held(struct ds *ds, const char *key)
{
	char dir[STORE_KEY_MAX + 1];
	const char *slash = strrchr(key, '/');
	const char *theirs;
	struct obj_info oi;
	int err;

	if (!slash || (size_t)(slash - key) + 2 > sizeof(dir))
		return 0;
	memcpy(dir, key, (size_t)(slash - key) + 1);
	dir[slash - key + 1] = '\0';
	obj_info_init(&oi);
	err = store_head(ds->st, ds->container, dir, &oi);
	if (!err) {
		theirs = meta_get(&oi.meta, "claim");
		if (theirs && strcmp(theirs, ds->claim) != 0) {
			ds->claim_lost = true;
			err = -EEXIST;
		}
	} else if (err == -ENOENT) {
		err = 0;
	}
	obj_info_release(&oi);
	return err;
}

/* Drops the reservation of @name, whose backup failed: nothing stays. */
static void release_name(struct ds *ds, const char *name)
{
	char dir[STORE_KEY_MAX + 1];
	int err = backup_dir_key(ds, name, dir, sizeof(dir));

	if (!err)
		err = store_del(ds->st, ds->container, dir);
	if (err && err != -ENOENT)
		log_debug("datastore '%s': cannot remove the empty '%s': %s",
			  ds->name, dir, strerror(-err));
}

/* Picks a free name for a backup starting now, and takes it. */
static int pick_name(struct ds *ds, const char *suffix, char *out, size_t size)
{
	char base[DS_NAME_MAX];
	unsigned i;
	int err;
	int n;

	err = ds_backup_name(time(NULL), suffix, base, sizeof(base));
	if (err)
		return err;
	copy_str(out, size, base);
	for (i = 1; i < 100; i++) {
		err = take_name(ds, out);
		if (err != -EEXIST)
			return err;
		n = snprintf(out, size, "%s-%u", base, i);
		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
	}
	return -EEXIST;
}

/* A backup without markers (@err of reading them): still good, see below. */
static void markers_lost(struct ds *ds, struct meta *m, int err)
{
	if (err != -EOPNOTSUPP)
		log_warn(
			"datastore '%s': cannot read the server's state markers, the backup will not record them: %s",
			ds->name, strerror(-err));
	meta_release(m);
	meta_init(m);
}

#define DS_WHY_MAX 1024 /* one failure line, as log_msg() takes it */

/* A failure's one line: "WHAT: strerror(-err)" and " (CAUSE)" if any. */
static void why_text(char *out, size_t size, const char *what, int err,
		     const char *cause)
{
	int n = snprintf(out, size, "%s: %s%s%s%s", what, strerror(-err),
			 cause[0] ? " (" : "", cause, cause[0] ? ")" : "");

	/* cut short: still one line, and it says so */
	if (n > 0 && (size_t)n >= size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

/*
 * Streams the live server into @key; the caller holds the op. @quiet:
 * another thread owns the step and the progress (recover's safety backup
 * runs beside the read of the chosen backup), so only log lines.
 */
static int backup_copy(struct ds *ds, const char *key, bool quiet)
{
	struct store_writer *w = NULL;
	struct ds_stream *s = NULL;
	struct meta m;
	char mtime[48];
	struct timespec now;
	bool marked;
	size_t got;
	char *buf;
	int err;
	int n;

	buf = malloc(DS_COPY_BUF);
	if (!buf)
		return -ENOMEM;
	meta_init(&m);
	steps_quiet = quiet;
	ds_set_step(ds, "connecting");
	/*
	 * The markers must be read before the snapshot starts: a write after
	 * this read changes them, so a later match proves the snapshot holds
	 * everything up to now. Without them the backup is still good, it
	 * just never stands in for a safety backup.
	 */
	err = state_read(ds, &m);
	if (err)
		markers_lost(ds, &m, err);
	marked = !err;
	err = ds->drv->stream_open(ds, &s);
	if (err)
		goto out_free;
	if (marked && ds->drv->stream_state) {
		err = ds->drv->stream_state(s, &m);
		if (err)
			markers_lost(ds, &m, err);
	}
	err = store_writer_open(ds->st, ds->container, key, NULL, &w);
	if (err) {
		log_error("datastore '%s': cannot write '%s/%s': %s", ds->name,
			  ds->container, key, strerror(-err));
		goto out_close;
	}
	ds_set_step(ds, "streaming into '%s/%s'", ds->container, key);
	for (;;) {
		err = ds->drv->stream_read(s, buf, DS_COPY_BUF, &got);
		if (err || got == 0)
			break;
		if (!quiet)
			ds_progress_add(ds, got, ds->drv->stream_size(s));
		err = store_writer_write(w, buf, got);
		if (err) {
			log_error("datastore '%s': cannot write '%s/%s': %s",
				  ds->name, ds->container, key, strerror(-err));
			break;
		}
	}
	if (err) {
		store_writer_abort(w);
		goto out_close;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	n = snprintf(mtime, sizeof(mtime), "%lld.%09ld", (long long)now.tv_sec,
		     now.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof(mtime) ||
	    meta_set(&m, "mtime", mtime) || meta_set(&m, "mode", "444")) {
		store_writer_abort(w);
		err = -ENOMEM;
		goto out_close;
	}
	ds_set_step(ds, "committing");
	err = claim_held(ds, key);
	if (err) {
		store_writer_abort(w);
		goto out_close;
	}
	err = store_writer_commit(w, &m);
	if (err)
		log_error("datastore '%s': cannot commit '%s/%s': %s", ds->name,
			  ds->container, key, strerror(-err));
out_close:
	ds->drv->stream_close(s);
out_free:
	steps_quiet = false;
	meta_release(&m);
	free(buf);
	return err;
}

/* Container, a free name and its key for a backup starting now. */
static int backup_prepare(struct ds *ds, const char *suffix, char *name,
			  size_t size, char *key, size_t key_size)
{
	int err;

	err = ensure_container(ds);
	if (err)
		return err;
	err = pick_name(ds, suffix, name, size);
	if (err)
		return err;
	return ds_backup_key(ds, name, key, key_size);
}

/*
 * The prepared backup @name: copy, log, record; the caller holds the op.
 * A failure is one line, with the first thing that went wrong (a server
 * that died mid-way fails the markers, the stream and the backup): logged,
 * or put in @why (DS_WHY_MAX) for a caller that reports it in its own.
 */
static int backup_run(struct ds *ds, const char *name, const char *key,
		      bool quiet, char *why)
{
	char cause[DS_WHY_MAX];
	char what[DS_WHY_MAX];
	char line[DS_WHY_MAX];
	int err;

	log_defer_begin();
	err = backup_copy(ds, key, quiet);
	log_defer_end(err != 0, cause, sizeof(cause));
	if (err && ds->claim_lost) {
		/* its marker is the other client's now: leave it */
		snprintf(
			line, sizeof(line),
			"datastore '%s': another client took the name '%s' at the same moment",
			ds->name, name);
		if (why)
			copy_str(why, DS_WHY_MAX, line);
		else
			log_info("%s; taking the backup again under a new one",
				 line);
		return err;
	}
	if (err) {
		snprintf(what, sizeof(what),
			 "datastore '%s': backup '%s' failed", ds->name, name);
		why_text(line, sizeof(line), what, err, cause);
		if (why)
			copy_str(why, DS_WHY_MAX, line);
		else
			log_error("%s", line);
		release_name(ds, name);
		return err;
	}
	pthread_mutex_lock(&ds->lock);
	copy_str(ds->last_backup, sizeof(ds->last_backup), name);
	pthread_mutex_unlock(&ds->lock);
	log_info("datastore '%s': backup '%s' done", ds->name, name);
	return 0;
}

/* A backup while holding the op (ds_backup and recover's safety one). */
static int backup_locked(struct ds *ds, const char *suffix, char *name,
			 size_t size)
{
	char key[STORE_KEY_MAX + 1];
	unsigned tries;
	int err;

	for (tries = 0;; tries++) {
		err = backup_prepare(ds, suffix, name, size, key, sizeof(key));
		if (err)
			return err;
		err = backup_run(ds, name, key, false, NULL);
		/* lost its name to another mount's backup of the moment */
		if (!err || !ds->claim_lost)
			return err;
		if (tries == 2) {
			log_error(
				"datastore '%s': backup failed: other clients took its name three times running",
				ds->name);
			return -EBUSY;
		}
	}
}

int ds_backup(struct ds *ds, const char *suffix, char *name_out, size_t size)
{
	char name[DS_NAME_MAX];
	int err;

	err = op_begin(ds, "backup");
	if (err)
		return err;
	err = backup_locked(ds, suffix, name, sizeof(name));
	if (!err && name_out)
		copy_str(name_out, size, name);
	op_end(ds, err);
	return err;
}

/* One read of a backup by verify_locked(). */
struct pass {
	struct store_reader *r;
	struct ds_verify *v;
	struct ds_stage_pipe *pipe; /* staging; NULL when only verifying */
	void *buf;		    /* DS_COPY_BUF bytes when only verifying */
	uint64_t off;		    /* bytes read */
	double t_read;		    /* seconds reading, decoding, checking */
};

/*
 * Reads all of @ps->r into the verifier and, with a pipe, to staging.
 * Returns 0 (not yet verify_final()'s verdict), -EBADMSG if the object
 * ends short, a read error or the writer's.
 */
static int pass_read(struct ds *ds, struct pass *ps, const char *what)
{
	size_t got;
	double t0;
	int err;

	for (;;) {
		if (ps->pipe) {
			err = ds_stage_pipe_buf(ps->pipe, &ps->buf);
			if (err)
				return err;
		}
		t0 = ds_stage_clock();
		err = store_reader_read(ps->r, ps->off, ps->buf, DS_COPY_BUF,
					&got);
		if (err)
			return err;
		if (got == 0)
			break;
		ds->drv->verify_update(ps->v, ps->buf, got);
		ps->t_read += ds_stage_clock() - t0;
		if (ps->pipe) {
			err = ds_stage_pipe_push(ps->pipe, got);
			if (err)
				return err;
		}
		ds_progress_add(ds, got, ps->r->size);
		ps->off += got;
	}
	if (ps->off != ps->r->size) {
		log_error("datastore '%s': '%s' ends at %llu of %llu bytes",
			  ds->name, what, (unsigned long long)ps->off,
			  (unsigned long long)ps->r->size);
		return -EBADMSG;
	}
	return 0;
}

/*
 * Reads backup @name once, completely, through the store and the driver's
 * verifier; with @sg each piece is also staged through a pipe (the next
 * piece is read while the last is written, ds_stage.c), and staged data
 * is synced once the whole verified and written. 0 only if all of that
 * succeeded. A staged pass logs where its time went (it runs before the
 * server stops, so it is what a recover adds to the server's own restart).
 */
static int verify_locked(struct ds *ds, const char *name, struct ds_stage *sg)
{
	char key[STORE_KEY_MAX + 1];
	char what[STORE_CONTAINER_MAX + STORE_KEY_MAX + 2];
	struct pass ps = { 0 };
	double t_wait = 0;
	double t_write = 0;
	double t_sync;
	double t0;
	int werr;
	int err;

	err = ds_backup_key(ds, name, key, sizeof(key));
	if (err)
		return err;
	if (snprintf(what, sizeof(what), "%s/%s", ds->container, key) < 0)
		return -EINVAL;
	if (sg) {
		err = ds_stage_pipe_new(ds->drv, sg, DS_COPY_BUF, &ps.pipe);
		if (err)
			return err;
	} else {
		ps.buf = malloc(DS_COPY_BUF);
		if (!ps.buf)
			return -ENOMEM;
	}
	err = store_reader_open(ds->st, ds->container, key, &ps.r);
	if (err)
		goto out_free;
	err = ds->drv->verify_new(ds, &ps.v);
	if (err)
		goto out_close;
	if (!sg)
		ds_set_step(ds, "verifying '%s'", what);
	err = pass_read(ds, &ps, what);
	if (!err)
		err = ds->drv->verify_final(ps.v, what);
	ds->drv->verify_free(ps.v);
out_close:
	store_reader_close(ps.r);
out_free:
	if (!sg) {
		free(ps.buf);
		return err;
	}
	/* joins the writer; a failed read or check drops what is queued */
	werr = ds_stage_pipe_finish(ps.pipe, err, &t_wait, &t_write);
	if (!err)
		err = werr;
	if (err)
		return err;
	t0 = ds_stage_clock();
	err = ds->drv->stage_sync(sg);
	t_sync = ds_stage_clock() - t0;
	if (!err)
		log_info(
			"datastore '%s': '%s' verified and staged, %llu bytes: read, decode and check %.2f s, waited for the writer %.2f s, write %.2f s, sync %.2f s",
			ds->name, what, (unsigned long long)ps.off, ps.t_read,
			t_wait, t_write, t_sync);
	return err;
}

int ds_backup_verify(struct ds *ds, const char *name)
{
	int err = op_begin(ds, "verify");

	if (err)
		return err;
	err = verify_locked(ds, name, NULL);
	op_end(ds, err);
	return err;
}

/* ---- recover ---- */

/*
 * Records the safety backup @name. The progress is the recover's own
 * (the safety backup streams quietly): it is left as it is, which after
 * a staged recover is the chosen backup read whole (resetting it here
 * showed a finished recover as "bytes_done: 0").
 */
static void safety_record(struct ds *ds, const char *name)
{
	pthread_mutex_lock(&ds->lock);
	copy_str(ds->last_safety, sizeof(ds->last_safety), name);
	pthread_mutex_unlock(&ds->lock);
}

/* Backup names for matching, kept newest first, at most DS_STATE_SCAN. */
#define DS_STATE_SCAN 8

struct recent_ctx {
	char v[DS_STATE_SCAN][DS_NAME_MAX]; /* ring of the newest names */
	size_t n;			    /* names seen */
};

static int recent_one(void *arg, const char *name)
{
	struct recent_ctx *x = arg;

	copy_str(x->v[x->n % DS_STATE_SCAN], DS_NAME_MAX, name);
	x->n++;
	return 0;
}

/*
 * The newest backup (of the DS_STATE_SCAN newest: a bound on store
 * calls) whose metadata has every state key: its name into @out, its
 * metadata into @m (the caller releases it). 0, -ENOENT, -errno.
 */
static int newest_with_state(struct ds *ds, char *out, size_t size,
			     struct meta *m)
{
	const char *const *keys = ds->drv->state_keys;
	struct recent_ctx *x;
	char key[STORE_KEY_MAX + 1];
	struct obj_info oi;
	const char *name;
	size_t i;
	size_t k;
	int err;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	err = ds_backup_list(ds, recent_one, x);
	if (err)
		goto out_free;
	err = -ENOENT;
	for (i = 0; i < x->n && i < DS_STATE_SCAN; i++) {
		name = x->v[(x->n - 1 - i) % DS_STATE_SCAN];
		if (ds_backup_key(ds, name, key, sizeof(key)))
			continue;
		obj_info_init(&oi);
		if (store_head(ds->st, ds->container, key, &oi))
			continue; /* listed but gone: not a candidate */
		for (k = 0; keys[k] && meta_get(&oi.meta, keys[k]); k++)
			;
		if (keys[k] == NULL) {
			err = meta_copy(m, &oi.meta);
			if (!err)
				copy_str(out, size, name);
			obj_info_release(&oi);
			break;
		}
		obj_info_release(&oi);
	}
out_free:
	free(x);
	return err;
}

/*
 * True if the live data is already in an existing backup, whose name goes
 * to @same: the live state markers equal that backup's. A backup other
 * than @chosen (which the recover verifies anyway) is verified here
 * first, so the data it stands for is known to be readable. Any failure
 * or doubt: false, take the safety backup.
 */
static bool safety_covered(struct ds *ds, const char *chosen, char *same,
			   size_t size)
{
	char name[DS_NAME_MAX];
	struct meta live;
	struct meta bm;
	bool covered = false;
	int err;

	if (!ds->drv->state_read || !ds->drv->state_keys)
		return false;
	meta_init(&live);
	meta_init(&bm);
	err = state_read(ds, &live);
	if (err) {
		log_info(
			"datastore '%s': cannot read the server's state markers, taking a safety backup: %s",
			ds->name, strerror(-err));
		goto out_release;
	}
	err = newest_with_state(ds, name, sizeof(name), &bm);
	if (err || !ds_state_unchanged(ds->drv->state_keys, &bm, &live))
		goto out_release;
	if (strcmp(name, chosen) != 0) {
		err = verify_locked(ds, name, NULL);
		pthread_mutex_lock(&ds->lock);
		ds->done = 0;
		ds->total = 0;
		pthread_mutex_unlock(&ds->lock);
		if (err) {
			log_warn(
				"datastore '%s': backup '%s' holds the current data but does not verify, taking a safety backup",
				ds->name, name);
			goto out_release;
		}
	}
	copy_str(same, size, name);
	covered = true;
	log_info(
		"recover '%s': current data is already in backup '%s'; no safety backup needed",
		ds->name, name);
out_release:
	meta_release(&bm);
	meta_release(&live);
	return covered;
}

/*
 * The sequence for drivers with recover() only: safety backup, then a
 * full verify (this function; the server untouched), then the driver
 * reads the backup a second time (recover_two_pass_apply()).
 */
static int recover_two_pass_prepare(struct ds *ds, const char *name,
				    char *safety, size_t size)
{
	int err;

	/* 1. what runs now is kept first: a failed recover loses nothing */
	if (!safety_covered(ds, name, safety, size)) {
		ds_set_step(ds, "safety backup");
		err = backup_locked(ds, "-pre-recover", safety, size);
		if (err)
			return err;
	}
	safety_record(ds, safety);
	/* 2. the whole backup must verify before the server is touched */
	return verify_locked(ds, name, NULL);
}

static int recover_two_pass_apply(struct ds *ds, const char *name)
{
	char key[STORE_KEY_MAX + 1];
	struct store_reader *r = NULL;
	int err;

	/* 3. the driver's in-place procedure */
	err = ds_backup_key(ds, name, key, sizeof(key));
	if (err)
		return err;
	err = store_reader_open(ds->st, ds->container, key, &r);
	if (err)
		return err;
	pthread_mutex_lock(&ds->lock);
	ds->done = 0;
	ds->total = r->size;
	pthread_mutex_unlock(&ds->lock);
	err = ds->drv->recover(ds, name, r);
	store_reader_close(r);
	return err;
}

/* Recover's safety backup, run in its own thread. */
struct safety_job {
	struct ds *ds;
	char name[DS_NAME_MAX];
	char key[STORE_KEY_MAX + 1];
	char why[DS_WHY_MAX]; /* a failure, told by the recover's line */
	int err;
	bool done; /* under ds->lock */
};

static void *safety_main(void *arg)
{
	struct safety_job *job = arg;

	job->err = backup_run(job->ds, job->name, job->key, true, job->why);
	pthread_mutex_lock(&job->ds->lock);
	job->done = true;
	pthread_mutex_unlock(&job->ds->lock);
	return NULL;
}

/*
 * The single-pass sequence (driver stage ops): the safety backup streams
 * from the live server into the store in a second thread while this one
 * reads the chosen backup once, verifying it and staging it beside the
 * server's files. The server is touched (stage_apply) only after both
 * succeeded: the safety backup committed, the backup verified and the
 * staged copy synced; on any failure the staged copy is removed. If
 * safety_covered() finds the live data in an existing backup, there is
 * no safety backup and no second thread.
 */
static int recover_staged_prepare(struct ds *ds, const char *name, char *safety,
				  size_t size, struct ds_stage **out)
{
	struct safety_job job = { .ds = ds };
	struct ds_stage *sg = NULL;
	pthread_t th;
	bool threaded;
	bool waiting;
	int verr;
	int err;

	err = ds->drv->stage_open(ds, name, &sg);
	if (err)
		return err;
	if (safety_covered(ds, name, safety, size)) {
		/* 1. what runs now is already kept */
		safety_record(ds, safety);
		ds_set_step(ds, "verifying and staging '%s'", name);
		err = verify_locked(ds, name, sg);
		if (err)
			goto out_free;
		goto out_ready;
	}
	err = backup_prepare(ds, "-pre-recover", job.name, sizeof(job.name),
			     job.key, sizeof(job.key));
	if (err)
		goto out_free;
	ds_set_step(ds, "safety backup '%s' while verifying and staging '%s'",
		    job.name, name);
	threaded = pthread_create(&th, NULL, safety_main, &job) == 0;
	if (!threaded) {
		/* no thread: the old order, safety backup first */
		log_warn(
			"datastore '%s': no thread for the safety backup, taking it first",
			ds->name);
		safety_main(&job);
		if (job.err) {
			err = job.err;
			goto out_free;
		}
	}
	verr = verify_locked(ds, name, sg);
	if (threaded) {
		pthread_mutex_lock(&ds->lock);
		waiting = !job.done;
		pthread_mutex_unlock(&ds->lock);
		/* a failed verify stays the step a failure names */
		if (waiting && !verr)
			ds_set_step(ds, "waiting for the safety backup '%s'",
				    job.name);
		pthread_join(th, NULL);
	}
	/* 1. what runs now is kept first: a failed recover loses nothing */
	err = job.err;
	if (err) {
		/* held, so the recover's one line carries it as its cause */
		log_error("%s", job.why);
		goto out_free;
	}
	safety_record(ds, job.name);
	copy_str(safety, size, job.name);
	/* 2. the whole backup verified before the server is touched */
	err = verr;
	if (err)
		goto out_free;
out_ready:
	*out = sg;
	return 0;
out_free:
	ds->drv->stage_free(sg);
	return err;
}

int ds_recover(struct ds *ds, const char *arg, size_t len)
{
	char name[DS_NAME_MAX];
	char safety[DS_NAME_MAX];
	char op[DS_STATUS_MAX];
	char cause[DS_WHY_MAX];
	char what[DS_WHY_MAX];
	char line[DS_WHY_MAX];
	struct ds_stage *sg = NULL;
	int err;

	err = ds_backup_resolve(ds, arg, len, name, sizeof(name));
	if (err) {
		size_t n = strlen("recover ");
		size_t i;

		ds_trim_blanks(&arg, &len); /* as the lookup did */
		/*
		 * The bytes written, printable ASCII only: no line break into
		 * status or the log, no byte that makes grep call the log
		 * binary, and a NUL shown rather than cutting the name short
		 * ("latest\0junk" is not 'latest').
		 */
		memcpy(op, "recover ", n);
		for (i = 0; i < len && i < 64; i++)
			op[n + i] =
				arg[i] >= 0x20 && arg[i] < 0x7f ? arg[i] : '?';
		op[n + i] = '\0';
		if (len == 0)
			op[n - 1] = '\0'; /* "recover", no trailing blank */
		if (len == 0)
			log_error(
				"datastore '%s': cannot recover: no backup name written",
				ds->name);
		else
			log_error(
				"datastore '%s': cannot recover: no backup '%s'",
				ds->name, op + strlen("recover "));
		op_refused(ds, op, err);
		return err;
	}
	if (!ds->drv->recover && !ds->drv->stage_open) {
		log_error("datastore '%s': recover is not supported", ds->name);
		return -EOPNOTSUPP;
	}
	if (snprintf(op, sizeof(op), "recover %s", name) < 0)
		return -EINVAL;
	err = op_begin(ds, op);
	if (err)
		return err;
	safety[0] = '\0';
	/*
	 * Until the server is touched a failure is one line, whose cause is
	 * the first line held (a server down fails the probe, the markers
	 * and the safety backup); from there the procedure tells each step.
	 */
	log_defer_begin();
	if (ds->drv->stage_open)
		err = recover_staged_prepare(ds, name, safety, sizeof(safety),
					     &sg);
	else
		err = recover_two_pass_prepare(ds, name, safety,
					       sizeof(safety));
	log_defer_end(err != 0, cause, sizeof(cause));
	if (err) {
		snprintf(
			what, sizeof(what),
			"datastore '%s': recover from '%s' failed before the server was touched",
			ds->name, name);
		why_text(line, sizeof(line), what, err, cause);
		log_error("%s", line);
		goto out_end;
	}
	if (sg) {
		/* 3. the driver swaps the staged copy in */
		err = ds->drv->stage_apply(sg);
		ds->drv->stage_free(sg);
	} else {
		err = recover_two_pass_apply(ds, name);
	}
	if (err)
		log_error("datastore '%s': recover from '%s' failed: %s",
			  ds->name, name, strerror(-err));
	else
		log_info(
			"datastore '%s': recovered from '%s' (safety backup '%s')",
			ds->name, name, safety);
out_end:
	op_end(ds, err);
	return err;
}

/* ---- live stream ---- */

struct ds_live {
	struct ds *ds;
	struct ds_stream *s;  /* owned; opened at the first read */
	pthread_mutex_t lock; /* reads of one handle may come in parallel */
	uint64_t off;	      /* where the next read must start */
	int err;	      /* sticky */
	bool ended;
};

int ds_live_open(struct ds *ds, struct ds_live **out)
{
	struct ds_live *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	if (pthread_mutex_init(&l->lock, NULL)) {
		free(l);
		return -ENOMEM;
	}
	l->ds = ds;
	pthread_mutex_lock(&ds->lock);
	ds->streams++;
	pthread_mutex_unlock(&ds->lock);
	*out = l;
	return 0;
}

ssize_t ds_live_read(struct ds_live *l, void *dst, size_t len, off_t off)
{
	size_t total = 0;
	size_t got;
	ssize_t ret;
	int err = 0;

	pthread_mutex_lock(&l->lock);
	if (l->err) {
		ret = l->err;
		goto out_unlock;
	}
	if ((uint64_t)off != l->off) {
		log_error(
			"datastore '%s': the live %s is read sequentially only (offset %lld, expected %llu)",
			l->ds->name, l->ds->drv->backup_file, (long long)off,
			(unsigned long long)l->off);
		ret = -EINVAL;
		goto out_unlock;
	}
	if (!l->s && !l->ended) {
		err = l->ds->drv->stream_open(l->ds, &l->s);
		if (err)
			goto out_err;
	}
	/* fill the whole request: short reads only at the end */
	while (total < len && !l->ended) {
		err = l->ds->drv->stream_read(l->s, (char *)dst + total,
					      len - total, &got);
		if (err)
			goto out_err;
		if (got == 0) {
			l->ended = true;
			break;
		}
		total += got;
	}
	l->off += total;
	ret = (ssize_t)total;
	goto out_unlock;
out_err:
	l->err = err;
	ret = err;
out_unlock:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

void ds_live_close(struct ds_live *l)
{
	if (!l)
		return;
	if (l->s)
		l->ds->drv->stream_close(l->s);
	pthread_mutex_lock(&l->ds->lock);
	l->ds->streams--;
	pthread_mutex_unlock(&l->ds->lock);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* ---- status ---- */

static void time_text(time_t t, char *out, size_t size)
{
	if (t == 0 || ds_backup_name(t, "", out, size))
		copy_str(out, size, "never");
}

int ds_status(struct ds *ds, struct buf *out)
{
	char when[48];
	struct ds snap;
	int err;

	pthread_mutex_lock(&ds->lock);
	memcpy(snap.op, ds->op, sizeof(snap.op));
	memcpy(snap.step, ds->step, sizeof(snap.step));
	memcpy(snap.last_op, ds->last_op, sizeof(snap.last_op));
	memcpy(snap.last_result, ds->last_result, sizeof(snap.last_result));
	memcpy(snap.last_backup, ds->last_backup, sizeof(snap.last_backup));
	memcpy(snap.last_safety, ds->last_safety, sizeof(snap.last_safety));
	snap.busy = ds->busy;
	snap.streams = ds->streams;
	snap.last_time = ds->last_time;
	pthread_mutex_unlock(&ds->lock);

	time_text(snap.last_time, when, sizeof(when));
	buf_printf(out, "datastore: %s\n", ds->name);
	buf_printf(out, "type: %s\n", ds->drv->type);
	buf_printf(out, "backups: %s/%s\n", ds->container, ds->prefix);
	buf_printf(out, "state: %s\n", snap.busy ? "running" : "idle");
	buf_printf(out, "running: %s\n", snap.busy ? snap.op : "none");
	if (snap.busy)
		buf_printf(out, "step: %s\n", snap.step);
	buf_printf(out, "live_streams: %u\n", snap.streams);
	buf_printf(out, "last_operation: %s\n",
		   snap.last_op[0] ? snap.last_op : "none");
	buf_printf(out, "last_result: %s\n",
		   snap.last_result[0] ? snap.last_result : "none");
	buf_printf(out, "last_time: %s\n", when);
	buf_printf(out, "last_backup: %s\n",
		   snap.last_backup[0] ? snap.last_backup : "none");
	/* every key always there, for scripts that read one by name */
	buf_printf(out, "last_safety_backup: %s\n",
		   snap.last_safety[0] ? snap.last_safety : "none");
	if (out->err)
		return out->err;
	if (ds->drv->status) {
		err = ds->drv->status(ds, out);
		if (err)
			return err;
	}
	return out->err;
}

int ds_progress(struct ds *ds, struct buf *out)
{
	char op[DS_STATUS_MAX];
	uint64_t done;
	uint64_t total;
	bool busy;

	pthread_mutex_lock(&ds->lock);
	busy = ds->busy;
	memcpy(op, ds->op, sizeof(op));
	done = ds->done;
	total = ds->total;
	pthread_mutex_unlock(&ds->lock);

	buf_printf(out, "operation: %s\n", busy ? op : "none");
	buf_printf(out, "bytes_done: %llu\n", (unsigned long long)done);
	if (total)
		buf_printf(out, "bytes_total: %llu\n",
			   (unsigned long long)total);
	else
		buf_printf(out, "bytes_total: unknown\n");
	if (total && busy)
		buf_printf(out, "percent: %llu\n",
			   (unsigned long long)(done * 100 / total));
	return out->err;
}
