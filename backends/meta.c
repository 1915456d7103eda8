/*
 * meta.c - object metadata as an ordered list of owned key/value strings.
 * Lists are short (a handful of keys), so lookups are linear.
 */
#include "meta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void meta_init(struct meta *m)
{
	m->v = NULL;
	m->n = 0;
	m->cap = 0;
}

void meta_release(struct meta *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	meta_init(m);
}

bool meta_key_is_valid(const char *key)
{
	size_t len = strlen(key);
	size_t i;

	if (len == 0 || len > META_KEY_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

static bool value_is_valid(const char *value)
{
	size_t len = strlen(value);
	size_t i;

	if (len > META_VALUE_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (value[i] < 0x20 || value[i] > 0x7e)
			return false;
	}
	return true;
}

static struct meta_pair *meta_find(const struct meta *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->v[i].key, key) == 0)
			return &m->v[i];
	}
	return NULL;
}

int meta_set(struct meta *m, const char *key, const char *value)
{
	struct meta_pair *p;
	char *v;
	char *k;

	if (!meta_key_is_valid(key) || !value_is_valid(value))
		return -EINVAL;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	p = meta_find(m, key);
	if (p) {
		free(p->value);
		p->value = v;
		return 0;
	}
	if (m->n >= META_COUNT_MAX) {
		free(v);
		return -EINVAL;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct meta_pair *nv = reallocarray(m->v, cap, sizeof(*nv));

		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		m->v = nv;
		m->cap = cap;
	}
	k = strdup(key);
	if (!k) {
		free(v);
		return -ENOMEM;
	}
	m->v[m->n].key = k;
	m->v[m->n].value = v;
	m->n++;
	return 0;
}

int meta_set_u64(struct meta *m, const char *key, uint64_t value)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, value);
	return meta_set(m, key, s);
}

const char *meta_get(const struct meta *m, const char *key)
{
	const struct meta_pair *p = meta_find(m, key);

	return p ? p->value : NULL;
}

int meta_get_u64(const struct meta *m, const char *key, uint64_t *out)
{
	const char *s = meta_get(m, key);
	uint64_t v = 0;

	if (!s)
		return -ENOENT;
	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int meta_del(struct meta *m, const char *key)
{
	struct meta_pair *p = meta_find(m, key);
	size_t i;

	if (!p)
		return -ENOENT;
	i = (size_t)(p - m->v);
	free(p->key);
	free(p->value);
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
	m->n--;
	return 0;
}

int meta_copy(struct meta *dst, const struct meta *src)
{
	size_t i;
	int err;

	if (dst == src)
		return 0;
	meta_release(dst);
	for (i = 0; i < src->n; i++) {
		err = meta_set(dst, src->v[i].key, src->v[i].value);
		if (err) {
			meta_release(dst);
			return err;
		}
	}
	return 0;
}

int meta_merge(struct meta *dst, const struct meta *set)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < set->n; i++)
		err = meta_set(dst, set->v[i].key, set->v[i].value);
	return err;
}
