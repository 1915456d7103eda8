/*
 * ds_names.c - backup names (contract in ds.h): what a name may be, the
 * name of a new backup, the key of its file, the order of names, the
 * listing of a datastore's backups, `latest`, and resolving what a user
 * wrote into an existing backup.
 *
 * A backup is the directory PREFIX<name>/ holding the driver's backup
 * file; the store's key order is not the names' order (ds_backup_list()).
 * No locks, no state: every call reads the store.
 */
#include "ds.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool ds_name_is_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len < DS_NAME_MAX && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* ---- naming ---- */

int ds_backup_name(time_t t, const char *suffix, char *out, size_t size)
{
	struct tm tm;
	char ts[32];
	int n;

	if (!gmtime_r(&t, &tm) ||
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	n = snprintf(out, size, "%s%s", ts, suffix ? suffix : "");
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

bool ds_backup_name_is_valid(const char *name)
{
	const unsigned char *p;

	if (!ds_name_is_valid(name) || strcmp(name, "latest") == 0)
		return false;
	for (p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return true;
}

int ds_backup_key(const struct ds *ds, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s%s/%s", ds->prefix, name,
			 ds->drv->backup_file);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- listing ---- */

/* Compares digit runs @a and @b (lengths @na, @nb) as numbers. */
static int digits_cmp(const char *a, size_t na, const char *b, size_t nb)
{
	while (na > 1 && *a == '0') {
		a++;
		na--;
	}
	while (nb > 1 && *b == '0') {
		b++;
		nb--;
	}
	if (na != nb)
		return na < nb ? -1 : 1;
	return memcmp(a, b, na);
}

int ds_backup_name_cmp(const char *a, const char *b)
{
	size_t na;
	size_t nb;
	int c;

	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			na = strspn(a, "0123456789");
			nb = strspn(b, "0123456789");
			c = digits_cmp(a, na, b, nb);
			if (c)
				return c;
			a += na;
			b += nb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : (*b ? -1 : 0);
}

/* The backup names of one listing, to be sorted before they are used. */
struct list_ctx {
	size_t plen;
	const char *file; /* "/dump.rdb": what makes a directory a backup */
	size_t flen;
	char **v; /* owned array of owned names */
	size_t n;
	size_t cap;
};

/*
 * "PREFIX<name>/<backup file>" names backup <name>. Only such keys: a
 * directory under the prefix without the file (a stray mkdir, files
 * copied one level deeper) was listed and then not found by its lookup.
 */
static int list_one(void *arg, const struct obj_info *oi)
{
	struct list_ctx *x = arg;
	char name[DS_NAME_MAX];
	char **v;
	size_t len;

	len = strlen(oi->name);
	if (oi->is_subdir || len <= x->plen + x->flen ||
	    strcmp(oi->name + len - x->flen, x->file) != 0)
		return 0;
	len -= x->plen + x->flen;
	if (len >= sizeof(name))
		return 0;
	memcpy(name, oi->name + x->plen, len);
	name[len] = '\0';
	if (!ds_backup_name_is_valid(name))
		return 0;
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 64;
		v = reallocarray(x->v, x->cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		x->v = v;
	}
	x->v[x->n] = strdup(name);
	if (!x->v[x->n])
		return -ENOMEM;
	x->n++;
	return 0;
}

static int name_ptr_cmp(const void *a, const void *b)
{
	return ds_backup_name_cmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The store lists "PREFIX<name>/" in key order, where the '/' counts:
 * '-' (0x2d) sorts before it, so "...Z-1/" and "...Z-pre-recover/" came
 * before "...Z/" and "latest" was the older backup of a second. The
 * names are collected and sorted by ds_backup_name_cmp() instead.
 */
int ds_backup_list(struct ds *ds, ds_backup_fn *fn, void *arg)
{
	char file[DS_NAME_MAX];
	struct list_ctx x = { .plen = strlen(ds->prefix), .file = file };
	size_t i;
	int err;

	if (snprintf(file, sizeof(file), "/%s", ds->drv->backup_file) >=
	    (int)sizeof(file))
		return -ENAMETOOLONG;
	x.flen = strlen(file);
	/* no delimiter: the backup files themselves, one key each */
	err = store_list(ds->st, ds->container, ds->prefix, 0, list_one, &x);
	if (err == -ENOENT)
		err = 0; /* no container yet: no backups */
	if (!err && x.n)
		qsort(x.v, x.n, sizeof(*x.v), name_ptr_cmp);
	for (i = 0; !err && i < x.n; i++)
		err = fn(arg, x.v[i]);
	if (err > 0)
		err = 0; /* @fn stopped the listing */
	for (i = 0; i < x.n; i++)
		free(x.v[i]);
	free(x.v);
	return err;
}

struct latest_ctx {
	char *out;
	size_t size;
	bool found;
};

/*
 * A name backup made: "YYYY-MM-DDTHH:MM:SSZ", maybe "-N" for a second
 * one in that second. Not a safety backup ("...-pre-recover"): `latest`
 * right after a recover must not mean the data it just replaced. Nor a
 * name given by hand, whose place among times means nothing.
 */
static bool is_made_backup_name(const char *name)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)name[i])
				    : name[i] != shape[i])
			return false;
	}
	name += i;
	if (*name == '\0')
		return true;
	return name[0] == '-' && name[1] &&
	       strspn(name + 1, "0123456789") == strlen(name + 1);
}

static int latest_one(void *arg, const char *name)
{
	struct latest_ctx *x = arg;
	int n;

	if (!is_made_backup_name(name))
		return 0;
	n = snprintf(x->out, x->size, "%s", name);
	if (n < 0 || (size_t)n >= x->size)
		return -ENAMETOOLONG;
	x->found = true; /* ascending order: the last one wins */
	return 0;
}

int ds_backup_latest(struct ds *ds, char *out, size_t size)
{
	struct latest_ctx x = { .out = out, .size = size };
	int err;

	err = ds_backup_list(ds, latest_one, &x);
	if (err)
		return err;
	return x.found ? 0 : -ENOENT;
}

int ds_backup_exists(struct ds *ds, const char *name)
{
	char key[STORE_KEY_MAX + 1];
	struct obj_info oi;
	int err;

	err = ds_backup_key(ds, name, key, sizeof(key));
	if (err)
		return err;
	obj_info_init(&oi);
	err = store_head(ds->st, ds->container, key, &oi);
	if (err == 0)
		obj_info_release(&oi);
	return err;
}

void ds_trim_blanks(const char **arg, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)(*arg)[*len - 1]))
		(*len)--;
	while (*len > 0 && isspace((unsigned char)**arg)) {
		(*arg)++;
		(*len)--;
	}
}

int ds_backup_resolve(struct ds *ds, const char *arg, size_t len, char *out,
		      size_t size)
{
	char name[DS_NAME_MAX];
	int n;
	int err;

	/* blanks around the name, as `echo " NAME"` or a pasted line has */
	ds_trim_blanks(&arg, &len);
	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(name))
		return -ENOENT;
	memcpy(name, arg, len);
	name[len] = '\0';
	if (strlen(name) != len)
		return -ENOENT; /* a NUL inside */
	if (strcmp(name, "latest") == 0)
		return ds_backup_latest(ds, out, size);
	if (!ds_backup_name_is_valid(name))
		return -ENOENT;
	err = ds_backup_exists(ds, name);
	if (err)
		return err;
	n = snprintf(out, size, "%s", name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}
