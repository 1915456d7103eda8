/*
 * swift_recent.c - the objects a Swift store stored in one PUT moments
 * ago (struct swift_recent, swift_i.h).
 *
 * A handful of entries searched linearly under one mutex: rsync renames
 * the file it just closed, so the entry it needs is among the last few,
 * and a miss costs only the HEAD the rename sends anyway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swift_i.h"

void swift_recent_init(struct swift_recent *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

void swift_recent_release(struct swift_recent *r)
{
	unsigned i;

	for (i = 0; i < SWIFT_RECENT_MAX; i++)
		free(r->puts[i].path);
	pthread_mutex_destroy(&r->lock);
}

/* "c/k" (a container name holds no '/'), or NULL when out of memory */
static char *recent_path(const char *c, const char *k)
{
	char *p;

	if (asprintf(&p, "%s/%s", c, k) < 0)
		return NULL;
	return p;
}

/* The slot of @path, or NULL; called with r->lock held. */
static struct swift_recent_put *recent_find(struct swift_recent *r,
					    const char *path)
{
	unsigned i;

	for (i = 0; i < SWIFT_RECENT_MAX; i++)
		if (r->puts[i].path && strcmp(r->puts[i].path, path) == 0)
			return &r->puts[i];
	return NULL;
}

void swift_recent_note(struct swift_recent *r, const char *c, const char *k,
		       uint64_t bytes, uint64_t now_ms)
{
	struct swift_recent_put *e;
	char *path = recent_path(c, k);

	if (!path)
		return; /* not noted: the rename asks Swift */
	pthread_mutex_lock(&r->lock);
	e = recent_find(r, path);
	if (e) {
		free(path);
	} else {
		e = &r->puts[r->next];
		r->next = (r->next + 1) % SWIFT_RECENT_MAX;
		free(e->path);
		e->path = path;
	}
	e->bytes = bytes;
	e->at_ms = now_ms;
	pthread_mutex_unlock(&r->lock);
}

/* Empties the slot of @c/@k; true (and its entry in *@out) if it had one. */
static bool recent_remove(struct swift_recent *r, const char *c, const char *k,
			  struct swift_recent_put *out)
{
	struct swift_recent_put *e;
	char *path = recent_path(c, k);
	bool found = false;

	if (!path) {
		/* cannot look it up: forget everything rather than trust it */
		pthread_mutex_lock(&r->lock);
		for (unsigned i = 0; i < SWIFT_RECENT_MAX; i++) {
			free(r->puts[i].path);
			r->puts[i].path = NULL;
		}
		pthread_mutex_unlock(&r->lock);
		return false;
	}
	pthread_mutex_lock(&r->lock);
	e = recent_find(r, path);
	if (e) {
		*out = *e;
		free(e->path);
		e->path = NULL;
		found = true;
	}
	pthread_mutex_unlock(&r->lock);
	free(path);
	return found;
}

bool swift_recent_take(struct swift_recent *r, const char *c, const char *k,
		       uint64_t now_ms, uint64_t *bytes)
{
	struct swift_recent_put e;

	if (!recent_remove(r, c, k, &e))
		return false;
	/* at_ms after now_ms: noted by another thread since now_ms was read */
	if (e.at_ms <= now_ms && now_ms - e.at_ms >= SWIFT_RECENT_MS)
		return false;
	*bytes = e.bytes;
	return true;
}

void swift_recent_forget(struct swift_recent *r, const char *c, const char *k)
{
	struct swift_recent_put e;

	recent_remove(r, c, k, &e);
}
