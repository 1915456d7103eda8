/*
 * mem_store.c - the in-memory leaf store for unit tests (see mem_store.h).
 *
 * Containers are a sorted array (by name) of struct mem_container, each
 * holding a sorted array (strcmp order of keys) of struct mem_obj, so
 * listings come out in Swift's byte order without sorting. A marker "a/"
 * is an ordinary zero-length object; nothing else is implied by '/'.
 *
 * Object bytes live in a refcounted struct mem_blob: commit and rename swap
 * blobs, so an open reader keeps reading the bytes it opened even when the
 * object is replaced or deleted (like an open file in the local store).
 *
 * Every op starts with mem_enter(), which counts the call and fires an
 * injected fault; readers and writers count as the store's READ, WRITE and
 * COMMIT ops.
 *
 * Lock: mem_store.lock protects everything reachable from the store
 * (containers, objects, blob refcounts, counters). It is never held while
 * a listing callback runs: listings copy their entries first, so a
 * callback may call the store again.
 */
#include "mem_store.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A growing array of pointers, kept sorted by its users. */
struct ptrvec {
	void **v;
	size_t n;
	size_t cap;
};

/* Stored bytes, shared by an object and the readers that opened it. */
struct mem_blob {
	unsigned refs; /* under mem_store.lock */
	size_t size;
	unsigned char *data; /* owned; never NULL, so empty objects exist */
};

struct mem_obj {
	char *key;	       /* owned */
	struct mem_blob *blob; /* one reference */
	struct timespec mtime;
	struct meta meta;
};

struct mem_container {
	char *name;	    /* owned */
	struct ptrvec objs; /* struct mem_obj *, sorted by key */
	struct timespec mtime;
};

struct mem_store {
	struct store st; /* st.priv points back here */
	pthread_mutex_t lock;
	struct ptrvec cs; /* struct mem_container *, sorted by name */
	unsigned calls[MEM_OP_COUNT];
	unsigned seeks;	   /* reads not where the reader's previous one ended */
	unsigned overlaps; /* reader calls while one ran on the same reader */
	unsigned slow_read_us; /* each reader read sleeps this long first */
	unsigned fail_nth[MEM_OP_COUNT]; /* countdown; 0 = none */
	int fail_err[MEM_OP_COUNT];
};

struct mem_reader {
	struct store_reader r; /* r.priv points back here */
	struct mem_store *ms;  /* borrowed: outlived by the store */
	struct mem_blob *blob; /* one reference */
	uint64_t next;	       /* end of the previous read */
	bool read_once;
	unsigned active; /* calls running (atomic): one at a time allowed */
};

struct mem_writer {
	struct store_writer w; /* w.priv points back here */
	struct mem_store *ms;  /* borrowed: outlived by the store */
	char *container;       /* owned */
	char *key;	       /* owned */
	bool marker;
	unsigned char *data; /* owned, grows by doubling */
	size_t len;
	size_t cap;
	int err; /* first write error; sticky */
};

static const struct store_ops mem_store_ops;

/* ---- helpers ---- */

static struct mem_store *mem_of(struct store *st)
{
	return st->priv;
}

static bool key_is_marker(const char *key)
{
	size_t len = strlen(key);

	return len > 0 && key[len - 1] == '/';
}

/* Counts a call of @op and returns its injected error, if this is it. */
static int mem_enter(struct mem_store *ms, enum mem_op op)
{
	ms->calls[op]++;
	if (ms->fail_nth[op] == 0)
		return 0;
	ms->fail_nth[op]--;
	if (ms->fail_nth[op] > 0)
		return 0;
	return ms->fail_err[op];
}

static void mem_lock(struct mem_store *ms)
{
	int rc = pthread_mutex_lock(&ms->lock);

	assert(rc == 0);
	(void)rc;
}

static void mem_unlock(struct mem_store *ms)
{
	int rc = pthread_mutex_unlock(&ms->lock);

	assert(rc == 0);
	(void)rc;
}

static int ptrvec_insert(struct ptrvec *pv, size_t at, void *p)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 8;
		void **nv = reallocarray(pv->v, cap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		pv->v = nv;
		pv->cap = cap;
	}
	memmove(&pv->v[at + 1], &pv->v[at], (pv->n - at) * sizeof(*pv->v));
	pv->v[at] = p;
	pv->n++;
	return 0;
}

static void ptrvec_remove(struct ptrvec *pv, size_t at)
{
	memmove(&pv->v[at], &pv->v[at + 1], (pv->n - at - 1) * sizeof(*pv->v));
	pv->n--;
}

static const char *obj_name(const void *p)
{
	const struct mem_obj *o = p;

	return o->key;
}

static const char *container_name(const void *p)
{
	const struct mem_container *c = p;

	return c->name;
}

/*
 * Index of the first element whose name is >= @name; *@found tells whether
 * it is equal.
 */
static size_t ptrvec_lower_bound(const struct ptrvec *pv, const char *name,
				 const char *(*name_of)(const void *),
				 bool *found)
{
	size_t lo = 0;
	size_t hi = pv->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(name_of(pv->v[mid]), name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < pv->n && strcmp(name_of(pv->v[lo]), name) == 0;
	return lo;
}

static struct mem_container *mem_find_container(struct mem_store *ms,
						const char *name)
{
	bool found;
	size_t i = ptrvec_lower_bound(&ms->cs, name, container_name, &found);

	return found ? ms->cs.v[i] : NULL;
}

static struct mem_obj *mem_find_obj(struct mem_container *c, const char *key)
{
	bool found;
	size_t i = ptrvec_lower_bound(&c->objs, key, obj_name, &found);

	return found ? c->objs.v[i] : NULL;
}

static void blob_unref(struct mem_blob *b)
{
	if (!b)
		return;
	assert(b->refs > 0);
	if (--b->refs > 0)
		return;
	free(b->data);
	free(b);
}

static void obj_free(struct mem_obj *o)
{
	if (!o)
		return;
	free(o->key);
	blob_unref(o->blob);
	meta_release(&o->meta);
	free(o);
}

static void container_free(struct mem_container *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->objs.n; i++)
		obj_free(c->objs.v[i]);
	free(c->objs.v);
	free(c->name);
	free(c);
}

static void now(struct timespec *ts)
{
	if (clock_gettime(CLOCK_REALTIME, ts))
		memset(ts, 0, sizeof(*ts));
}

/* Fills @oi with copies of @o's attributes; 0 or -ENOMEM (then @oi is
 * released). */
static int obj_info_from(struct obj_info *oi, const struct mem_obj *o)
{
	int err;

	oi->name = strdup(o->key);
	if (!oi->name)
		return -ENOMEM;
	oi->size = o->blob->size;
	oi->mtime = o->mtime;
	err = meta_copy(&oi->meta, &o->meta);
	if (err)
		obj_info_release(oi);
	return err;
}

/* Entries copied out of the store for a listing, emitted unlocked. */
struct info_list {
	struct obj_info *v;
	size_t n;
	size_t cap;
};

static struct obj_info *info_list_add(struct info_list *il)
{
	struct obj_info *oi;

	if (il->n == il->cap) {
		size_t cap = il->cap ? il->cap * 2 : 16;
		struct obj_info *nv = reallocarray(il->v, cap, sizeof(*nv));

		if (!nv)
			return NULL;
		il->v = nv;
		il->cap = cap;
	}
	oi = &il->v[il->n++];
	obj_info_init(oi);
	return oi;
}

static void info_list_release(struct info_list *il)
{
	size_t i;

	for (i = 0; i < il->n; i++)
		obj_info_release(&il->v[i]);
	free(il->v);
	il->v = NULL;
	il->n = 0;
	il->cap = 0;
}

/* Calls @fn per entry; the listing's result (see store_list_fn). */
static int info_list_emit(const struct info_list *il, store_list_fn *fn,
			  void *arg)
{
	size_t i;

	for (i = 0; i < il->n; i++) {
		int rc = fn(arg, &il->v[i]);

		if (rc > 0)
			return 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- containers ---- */

/*
 * Common start of the container ops: counts @op, validates @name and finds
 * the slot where it is or would be inserted (*@found tells which). Called
 * locked.
 */
static int mem_container_at(struct mem_store *ms, enum mem_op op,
			    const char *name, size_t *at, bool *found)
{
	int err;

	err = mem_enter(ms, op);
	if (err)
		return err;
	if (!store_container_is_valid(name))
		return -EINVAL;
	*at = ptrvec_lower_bound(&ms->cs, name, container_name, found);
	return 0;
}

static int mem_list_containers(struct store *st, store_list_fn *fn, void *arg)
{
	struct mem_store *ms = mem_of(st);
	struct info_list il = { 0 };
	size_t i;
	size_t j;
	int err;

	mem_lock(ms);
	err = mem_enter(ms, MEM_OP_LIST_CONTAINERS);
	for (i = 0; !err && i < ms->cs.n; i++) {
		const struct mem_container *c = ms->cs.v[i];
		struct obj_info *oi = info_list_add(&il);

		if (!oi) {
			err = -ENOMEM;
			break;
		}
		oi->name = strdup(c->name);
		if (!oi->name) {
			err = -ENOMEM;
			break;
		}
		oi->mtime = c->mtime;
		oi->count = c->objs.n;
		for (j = 0; j < c->objs.n; j++) {
			const struct mem_obj *o = c->objs.v[j];

			oi->size += o->blob->size;
		}
	}
	mem_unlock(ms);
	if (!err)
		err = info_list_emit(&il, fn, arg);
	info_list_release(&il);
	return err;
}

static int mem_create_container(struct store *st, const char *name)
{
	struct mem_store *ms = mem_of(st);
	struct mem_container *c;
	bool found;
	size_t at;
	int err;

	mem_lock(ms);
	err = mem_container_at(ms, MEM_OP_CREATE_CONTAINER, name, &at, &found);
	if (err)
		goto out_unlock;
	if (found) {
		err = -EEXIST;
		goto out_unlock;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -ENOMEM;
		goto out_unlock;
	}
	c->name = strdup(name);
	now(&c->mtime);
	if (!c->name)
		err = -ENOMEM;
	else
		err = ptrvec_insert(&ms->cs, at, c);
	if (err)
		container_free(c);
out_unlock:
	mem_unlock(ms);
	return err;
}

static int mem_delete_container(struct store *st, const char *name)
{
	struct mem_store *ms = mem_of(st);
	struct mem_container *c;
	bool found;
	size_t at;
	int err;

	mem_lock(ms);
	err = mem_container_at(ms, MEM_OP_DELETE_CONTAINER, name, &at, &found);
	if (err)
		goto out_unlock;
	if (!found) {
		err = -ENOENT;
		goto out_unlock;
	}
	c = ms->cs.v[at];
	if (c->objs.n > 0) {
		err = -ENOTEMPTY;
		goto out_unlock;
	}
	ptrvec_remove(&ms->cs, at);
	container_free(c);
out_unlock:
	mem_unlock(ms);
	return err;
}

/* ---- objects ---- */

/*
 * Copies the listing of @c into @il: keys with @prefix in byte order, those
 * with @delim after the prefix rolled up into one subdir entry each. The
 * keys sharing a rolled-up name are contiguous in sorted order and nothing
 * sorts between that name and its first key, so a subdir entry takes the
 * place of its first key.
 */
static int mem_collect(const struct mem_container *c, const char *prefix,
		       char delim, struct info_list *il)
{
	size_t plen = strlen(prefix);
	const char *last_subdir = NULL;
	size_t last_len = 0;
	bool found;
	size_t i;
	int err;

	i = ptrvec_lower_bound(&c->objs, prefix, obj_name, &found);
	for (; i < c->objs.n; i++) {
		const struct mem_obj *o = c->objs.v[i];
		const char *d = NULL;
		struct obj_info *oi;

		if (strncmp(o->key, prefix, plen) != 0)
			break;
		if (delim)
			d = strchr(o->key + plen, delim);
		if (d) {
			size_t len = (size_t)(d - o->key) + 1;

			if (last_subdir && len == last_len &&
			    strncmp(o->key, last_subdir, len) == 0)
				continue;
			oi = info_list_add(il);
			if (!oi)
				return -ENOMEM;
			oi->is_subdir = true;
			oi->name = strndup(o->key, len);
			if (!oi->name)
				return -ENOMEM;
			last_subdir = oi->name;
			last_len = len;
			continue;
		}
		oi = info_list_add(il);
		if (!oi)
			return -ENOMEM;
		err = obj_info_from(oi, o);
		if (err)
			return err;
	}
	return 0;
}

static int mem_list(struct store *st, const char *container, const char *prefix,
		    char delim, store_list_fn *fn, void *arg)
{
	struct mem_store *ms = mem_of(st);
	struct info_list il = { 0 };
	bool found;
	size_t at;
	int err;

	mem_lock(ms);
	err = mem_container_at(ms, MEM_OP_LIST, container, &at, &found);
	if (!err && !found)
		err = -ENOENT;
	if (!err)
		err = mem_collect(ms->cs.v[at], prefix, delim, &il);
	mem_unlock(ms);
	if (!err)
		err = info_list_emit(&il, fn, arg);
	info_list_release(&il);
	return err;
}

/* list_page(), as a store that pages would: one (counted) list() */
static int mem_list_page(struct store *st, const char *container,
			 const char *prefix, char delim, unsigned max,
			 store_list_fn *fn, void *arg)
{
	return store_list_cut(st, container, prefix, delim, max, fn, arg);
}

/*
 * Common start of the single-object ops: counts @op, validates the names
 * and finds the container (and with @o the object). Called locked.
 */
static int mem_lookup(struct mem_store *ms, enum mem_op op,
		      const char *container, const char *key,
		      struct mem_container **cp, struct mem_obj **op_out)
{
	struct mem_container *c;
	struct mem_obj *o;
	bool found;
	size_t at;
	int err;

	err = mem_container_at(ms, op, container, &at, &found);
	if (err)
		return err;
	if (!store_key_is_valid(key))
		return -EINVAL;
	if (!found)
		return -ENOENT;
	c = ms->cs.v[at];
	if (cp)
		*cp = c;
	if (!op_out)
		return 0;
	o = mem_find_obj(c, key);
	if (!o)
		return -ENOENT;
	*op_out = o;
	return 0;
}

static int mem_head(struct store *st, const char *container, const char *key,
		    struct obj_info *oi)
{
	struct mem_store *ms = mem_of(st);
	struct obj_info tmp;
	struct mem_obj *o;
	int err;

	obj_info_init(&tmp);
	mem_lock(ms);
	err = mem_lookup(ms, MEM_OP_HEAD, container, key, NULL, &o);
	if (!err)
		err = obj_info_from(&tmp, o);
	mem_unlock(ms);
	if (!err)
		*oi = tmp;
	return err;
}

/* ---- readers ---- */

static int mem_read(struct store_reader *r, uint64_t off, void *dst, size_t len,
		    size_t *got)
{
	struct mem_reader *mr = r->priv;
	struct mem_store *ms = mr->ms;
	unsigned slow;
	int err;

	*got = 0;
	if (__atomic_fetch_add(&mr->active, 1, __ATOMIC_ACQ_REL) > 0)
		__atomic_fetch_add(&ms->overlaps, 1, __ATOMIC_RELAXED);
	slow = __atomic_load_n(&ms->slow_read_us, __ATOMIC_RELAXED);
	if (slow)
		usleep(slow);
	mem_lock(ms);
	err = mem_enter(ms, MEM_OP_READ);
	if (mr->read_once && off != mr->next)
		ms->seeks++;
	mr->read_once = true;
	/* the blob's size, not r->size: mem_store_poke() may truncate it */
	if (!err && off < mr->blob->size) {
		size_t n = mr->blob->size - (size_t)off;

		if (n > len)
			n = len;
		memcpy(dst, mr->blob->data + off, n);
		*got = n;
	}
	mr->next = off + *got;
	mem_unlock(ms);
	__atomic_fetch_sub(&mr->active, 1, __ATOMIC_ACQ_REL);
	return err;
}

static void mem_reader_close(struct store_reader *r)
{
	struct mem_reader *mr = r->priv;

	mem_lock(mr->ms);
	blob_unref(mr->blob);
	mem_unlock(mr->ms);
	free(mr);
}

static const struct store_reader_ops mem_reader_ops = {
	.read = mem_read,
	.close = mem_reader_close,
};

static int mem_reader_open(struct store *st, const char *container,
			   const char *key, struct obj_info *oi,
			   struct store_reader **out)
{
	struct mem_store *ms = mem_of(st);
	struct mem_reader *mr;
	struct obj_info tmp;
	struct mem_obj *o;
	int err;

	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	obj_info_init(&tmp);
	mem_lock(ms);
	err = mem_lookup(ms, MEM_OP_READER_OPEN, container, key, NULL, &o);
	if (!err && oi)
		err = obj_info_from(&tmp, o); /* same lock: same version */
	if (!err) {
		mr->blob = o->blob;
		mr->blob->refs++;
		mr->r.size = o->blob->size;
	}
	mem_unlock(ms);
	if (err) {
		free(mr);
		return err;
	}
	if (oi)
		*oi = tmp;
	mr->ms = ms;
	mr->r.ops = &mem_reader_ops;
	mr->r.priv = mr;
	*out = &mr->r;
	return 0;
}

/* ---- writers ---- */

static void mem_writer_free(struct mem_writer *mw)
{
	free(mw->container);
	free(mw->key);
	free(mw->data);
	free(mw);
}

static int mem_write(struct store_writer *w, const void *src, size_t len)
{
	struct mem_writer *mw = w->priv;
	int err;

	mem_lock(mw->ms);
	err = mem_enter(mw->ms, MEM_OP_WRITE);
	mem_unlock(mw->ms);
	if (mw->err)
		return mw->err;
	if (!err && mw->marker && len > 0)
		err = -EINVAL; /* a marker has no content */
	if (!err && len > mw->cap - mw->len) {
		size_t cap = mw->cap ? mw->cap : 4096;
		unsigned char *nd;

		while (cap - mw->len < len) {
			if (cap > SIZE_MAX / 2) {
				err = -EFBIG;
				break;
			}
			cap *= 2;
		}
		nd = err ? NULL : realloc(mw->data, cap);
		if (!err && !nd)
			err = -ENOMEM;
		if (nd) {
			mw->data = nd;
			mw->cap = cap;
		}
	}
	if (err) {
		/* like a failed disk write: the writer only accepts abort */
		mw->err = err;
		free(mw->data);
		mw->data = NULL;
		mw->len = 0;
		mw->cap = 0;
		return err;
	}
	if (len > 0)
		memcpy(mw->data + mw->len, src, len);
	mw->len += len;
	w->written += len;
	return 0;
}

/*
 * Installs the writer's bytes and @m under its key, replacing an existing
 * object. Called locked. All allocations happen before the store changes,
 * so a failure leaves it as it was.
 */
static int mem_install(struct mem_store *ms, struct mem_writer *mw,
		       const struct meta *m)
{
	struct mem_container *c;
	struct mem_blob *b;
	struct mem_obj *o;
	struct meta nm;
	bool found;
	size_t at;
	int err;

	c = mem_find_container(ms, mw->container);
	if (!c)
		return -ENOENT; /* deleted while the writer was open */
	meta_init(&nm);
	err = m ? meta_copy(&nm, m) : 0;
	if (err)
		return err;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto out_release_meta;
	b->refs = 1;
	b->size = mw->len;
	b->data = mw->data ? mw->data : malloc(1);
	if (!b->data)
		goto out_free_blob;
	at = ptrvec_lower_bound(&c->objs, mw->key, obj_name, &found);
	if (found) {
		o = c->objs.v[at];
		blob_unref(o->blob);
		meta_release(&o->meta);
	} else {
		o = calloc(1, sizeof(*o));
		if (!o)
			goto out_free_data;
		if (ptrvec_insert(&c->objs, at, o)) {
			free(o);
			goto out_free_data;
		}
		/* the writer's key moves into the object */
		o->key = mw->key;
		mw->key = NULL;
	}
	o->blob = b;
	o->meta = nm;
	now(&o->mtime);
	mw->data = NULL; /* now owned by the blob */
	return 0;

out_free_data:
	if (b->data != mw->data)
		free(b->data);
out_free_blob:
	free(b);
out_release_meta:
	meta_release(&nm);
	return -ENOMEM;
}

static int mem_commit(struct store_writer *w, const struct meta *m)
{
	struct mem_writer *mw = w->priv;
	struct mem_store *ms = mw->ms;
	int err;

	mem_lock(ms);
	err = mem_enter(ms, MEM_OP_COMMIT);
	if (!err)
		err = mw->err;
	if (!err)
		err = mem_install(ms, mw, m);
	mem_unlock(ms);
	mem_writer_free(mw);
	return err;
}

static void mem_abort(struct store_writer *w)
{
	mem_writer_free(w->priv);
}

/* Nothing to wait for; an injected failure sticks like a write's. */
static int mem_sync(struct store_writer *w)
{
	struct mem_writer *mw = w->priv;
	int err;

	mem_lock(mw->ms);
	err = mem_enter(mw->ms, MEM_OP_SYNC);
	mem_unlock(mw->ms);
	if (mw->err)
		return mw->err;
	if (err)
		mw->err = err;
	return err;
}

static const struct store_writer_ops mem_writer_ops = {
	.write = mem_write,
	.commit = mem_commit,
	.abort = mem_abort,
	.sync = mem_sync,
};

static struct mem_writer *mem_writer_new(struct mem_store *ms,
					 const char *container, const char *key)
{
	struct mem_writer *mw = calloc(1, sizeof(*mw));

	if (!mw)
		return NULL;
	mw->container = strdup(container);
	mw->key = strdup(key);
	if (!mw->container || !mw->key) {
		mem_writer_free(mw);
		return NULL;
	}
	mw->marker = key_is_marker(key);
	mw->ms = ms;
	mw->w.ops = &mem_writer_ops;
	mw->w.priv = mw;
	return mw;
}

static int mem_writer_open(struct store *st, const char *container,
			   const char *key, const struct store_wopts *opts,
			   struct store_writer **out)
{
	struct mem_store *ms = mem_of(st);
	struct mem_writer *mw;
	int err;

	(void)opts;
	mem_lock(ms);
	err = mem_lookup(ms, MEM_OP_WRITER_OPEN, container, key, NULL, NULL);
	mem_unlock(ms);
	if (err)
		return err;
	mw = mem_writer_new(ms, container, key);
	if (!mw)
		return -ENOMEM;
	*out = &mw->w;
	return 0;
}

/* Looks and installs under one hold of the lock: atomic, as Swift's is. */
static int mem_mkdir_excl(struct store *st, const char *container,
			  const char *key, const struct meta *m)
{
	struct mem_store *ms = mem_of(st);
	struct mem_writer *mw;
	struct mem_obj *o;
	int err;

	if (!key_is_marker(key))
		return -EINVAL;
	mw = mem_writer_new(ms, container, key);
	if (!mw)
		return -ENOMEM;
	mem_lock(ms);
	err = mem_lookup(ms, MEM_OP_MKDIR_EXCL, container, key, NULL, &o);
	if (!err)
		err = -EEXIST;
	else if (err == -ENOENT)
		err = mem_install(ms, mw, m);
	mem_unlock(ms);
	mem_writer_free(mw);
	return err;
}

/* ---- the other object ops ---- */

static int mem_del(struct store *st, const char *container, const char *key)
{
	struct mem_store *ms = mem_of(st);
	struct mem_container *c;
	struct mem_obj *o;
	bool found;
	size_t at;
	int err;

	mem_lock(ms);
	err = mem_lookup(ms, MEM_OP_DEL, container, key, &c, &o);
	if (!err) {
		at = ptrvec_lower_bound(&c->objs, key, obj_name, &found);
		assert(found && c->objs.v[at] == o);
		ptrvec_remove(&c->objs, at);
		obj_free(o);
	}
	mem_unlock(ms);
	return err;
}

static int mem_rename(struct store *st, const char *src_container,
		      const char *src_key, const char *dst_container,
		      const char *dst_key)
{
	struct mem_store *ms = mem_of(st);
	struct mem_container *sc;
	struct mem_container *dc;
	struct mem_obj *o;
	char *nkey = NULL;
	bool found;
	size_t at;
	int err;

	mem_lock(ms);
	err = mem_enter(ms, MEM_OP_RENAME);
	if (err)
		goto out_unlock;
	/* every name is checked before anything is looked up */
	if (!store_container_is_valid(src_container) ||
	    !store_key_is_valid(src_key) ||
	    !store_container_is_valid(dst_container) ||
	    !store_key_is_valid(dst_key) ||
	    key_is_marker(src_key) != key_is_marker(dst_key)) {
		err = -EINVAL;
		goto out_unlock;
	}
	sc = mem_find_container(ms, src_container);
	o = sc ? mem_find_obj(sc, src_key) : NULL;
	if (!o) {
		err = -ENOENT;
		goto out_unlock;
	}
	dc = mem_find_container(ms, dst_container);
	if (!dc) {
		err = -ENOENT;
		goto out_unlock;
	}
	if (sc == dc && strcmp(src_key, dst_key) == 0)
		goto out_unlock;
	nkey = strdup(dst_key);
	if (!nkey) {
		err = -ENOMEM;
		goto out_unlock;
	}
	/* make room first, so that nothing can fail after the unlink */
	if (dc->objs.n == dc->objs.cap) {
		err = ptrvec_insert(&dc->objs, 0, NULL);
		if (err)
			goto out_unlock;
		ptrvec_remove(&dc->objs, 0);
	}
	at = ptrvec_lower_bound(&sc->objs, src_key, obj_name, &found);
	ptrvec_remove(&sc->objs, at);
	free(o->key);
	o->key = nkey;
	nkey = NULL;
	at = ptrvec_lower_bound(&dc->objs, dst_key, obj_name, &found);
	if (found) {
		obj_free(dc->objs.v[at]);
		dc->objs.v[at] = o;
	} else {
		err = ptrvec_insert(&dc->objs, at, o);
		assert(err == 0);
	}
out_unlock:
	mem_unlock(ms);
	free(nkey);
	return err;
}

static int mem_set_meta(struct store *st, const char *container,
			const char *key, const struct meta *m)
{
	struct mem_store *ms = mem_of(st);
	struct mem_obj *o;
	struct meta nm;
	int err;

	meta_init(&nm);
	mem_lock(ms);
	err = mem_lookup(ms, MEM_OP_SET_META, container, key, NULL, &o);
	if (!err && m)
		err = meta_copy(&nm, m);
	if (!err) {
		meta_release(&o->meta);
		o->meta = nm;
		meta_init(&nm);
	}
	mem_unlock(ms);
	meta_release(&nm);
	return err;
}

static int mem_statfs(struct store *st, struct store_statfs *out)
{
	struct mem_store *ms = mem_of(st);
	size_t i;
	size_t j;
	int err;

	memset(out, 0, sizeof(*out));
	mem_lock(ms);
	err = mem_enter(ms, MEM_OP_STATFS);
	for (i = 0; !err && i < ms->cs.n; i++) {
		const struct mem_container *c = ms->cs.v[i];

		for (j = 0; j < c->objs.n; j++) {
			const struct mem_obj *o = c->objs.v[j];

			out->bytes_used += o->blob->size;
			out->objects++;
		}
	}
	mem_unlock(ms);
	return err;
}

static void mem_destroy(struct store *st)
{
	struct mem_store *ms = mem_of(st);
	size_t i;

	for (i = 0; i < ms->cs.n; i++)
		container_free(ms->cs.v[i]);
	free(ms->cs.v);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

#define MEM_STORE_OPS                                                          \
	.list_containers = mem_list_containers,                                \
	.create_container = mem_create_container,                              \
	.delete_container = mem_delete_container, .list = mem_list,            \
	.head = mem_head, .reader_open = mem_reader_open,                      \
	.writer_open = mem_writer_open, .del = mem_del, .rename = mem_rename,  \
	.mkdir_excl = mem_mkdir_excl, .set_meta = mem_set_meta,                \
	.statfs = mem_statfs, .destroy = mem_destroy

static const struct store_ops mem_store_ops = {
	.name = "mem",
	MEM_STORE_OPS,
};

/* mem_store_set_paged(): the same with list_page, as Swift has. */
static const struct store_ops mem_store_paged_ops = {
	.name = "mem",
	MEM_STORE_OPS,
	.list_page = mem_list_page,
};

/* ---- public ---- */

/* True if @st is a mem store (not a decorator over one). */
static bool is_mem(const struct store *st)
{
	return st->ops == &mem_store_ops || st->ops == &mem_store_paged_ops;
}

void mem_store_set_paged(struct store *st, bool paged)
{
	assert(is_mem(st));
	st->ops = paged ? &mem_store_paged_ops : &mem_store_ops;
}

int mem_store_new(struct store **out)
{
	struct mem_store *ms = calloc(1, sizeof(*ms));

	if (!ms)
		return -ENOMEM;
	if (pthread_mutex_init(&ms->lock, NULL)) {
		free(ms);
		return -ENOMEM;
	}
	ms->st.ops = &mem_store_ops;
	ms->st.inner = NULL;
	ms->st.priv = ms;
	*out = &ms->st;
	return 0;
}

void mem_store_fail(struct store *st, enum mem_op op, unsigned nth, int err)
{
	struct mem_store *ms = mem_of(st);

	assert(is_mem(st));
	assert(op < MEM_OP_COUNT);
	mem_lock(ms);
	ms->fail_nth[op] = nth;
	ms->fail_err[op] = err;
	mem_unlock(ms);
}

unsigned mem_store_calls(struct store *st, enum mem_op op)
{
	struct mem_store *ms = mem_of(st);
	unsigned n;

	assert(is_mem(st));
	assert(op < MEM_OP_COUNT);
	mem_lock(ms);
	n = ms->calls[op];
	mem_unlock(ms);
	return n;
}

void mem_store_slow_reads(struct store *st, unsigned usec)
{
	assert(is_mem(st));
	__atomic_store_n(&mem_of(st)->slow_read_us, usec, __ATOMIC_RELAXED);
}

unsigned mem_store_reader_overlaps(struct store *st)
{
	assert(is_mem(st));
	return __atomic_load_n(&mem_of(st)->overlaps, __ATOMIC_RELAXED);
}

unsigned mem_store_seeks(struct store *st)
{
	struct mem_store *ms = mem_of(st);
	unsigned n;

	assert(is_mem(st));
	mem_lock(ms);
	n = ms->seeks;
	mem_unlock(ms);
	return n;
}

/* Finds an object for the test helpers, without counting a call. */
static struct mem_obj *mem_raw_find(struct mem_store *ms, const char *container,
				    const char *key)
{
	struct mem_container *c = mem_find_container(ms, container);

	return c ? mem_find_obj(c, key) : NULL;
}

const void *mem_store_get(struct store *st, const char *container,
			  const char *key, size_t *size)
{
	struct mem_store *ms = mem_of(st);
	const void *p = NULL;
	struct mem_obj *o;

	assert(is_mem(st));
	mem_lock(ms);
	o = mem_raw_find(ms, container, key);
	if (o) {
		p = o->blob->data;
		*size = o->blob->size;
	}
	mem_unlock(ms);
	return p;
}

int mem_store_poke(struct store *st, const char *container, const char *key,
		   uint64_t off, uint64_t val)
{
	struct mem_store *ms = mem_of(st);
	struct mem_obj *o;
	int err = 0;

	assert(is_mem(st));
	mem_lock(ms);
	o = mem_raw_find(ms, container, key);
	if (!o)
		err = -ENOENT;
	else if (off == UINT64_MAX && val <= o->blob->size)
		o->blob->size = (size_t)val;
	else if (off != UINT64_MAX && off < o->blob->size)
		o->blob->data[off] = (unsigned char)val;
	else
		err = -EINVAL;
	mem_unlock(ms);
	return err;
}
