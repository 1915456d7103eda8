/*
 * conf.c - the configuration file (inih) and -o options merged into one
 * struct conf (see conf.h for the contract).
 *
 * The text is fed to inih through our own line reader rather than
 * ini_parse_file(): the reader counts lines (Debian's libinih hands the
 * handler no line number), strips leading blanks (libinih is built with
 * multi-line values on, so an indented line would silently continue the
 * previous value), refuses lines longer than inih's line buffer (inih
 * would split them into two lines) and parses section headers itself
 * (inih truncates section names to 49 bytes and never reports a section
 * that has no keys). inih still splits "key = value" and strips inline
 * "; comments".
 *
 * Invariants: the first error stops the parse; its message is kept in
 * struct parse and logged once, after inih returns, so one bad file gives
 * exactly one log line, prefixed "FILE:LINE:". The section being filled is
 * held by index, since adding a section may move the arrays.
 *
 * Not thread-safe (uses strerror); conf is built in main before any thread
 * starts. No locks.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

/* Largest config file read; a bigger one is a mistake, not a config. */
#define CONF_FILE_MAX (1024 * 1024)
/* Longest secret (first line of a key or password file). */
#define CONF_SECRET_MAX 4096

#define FRAME_SIZE_MIN (4u * 1024)
#define FRAME_SIZE_MAX (16u * 1024 * 1024)
#define COMPRESS_LEVEL_MAX 3
#define THREADS_MAX 256

/* ---- defaults and teardown ---- */

void conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->format = CONF_FORMAT_TFS1;
	c->frame_size = 1024 * 1024;
	c->compress_level = 1;
	c->threads = 0;
	c->attr_timeout = 1.0;
	c->dir_cache_time = 30.0;
	c->log_level = LOG_INFO;
}

static void section_release(struct conf_section *s)
{
	size_t i;

	for (i = 0; i < s->nkv; i++) {
		free(s->kv[i].key);
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->type);
	free(s->name);
}

void conf_release(struct conf *c)
{
	size_t i;

	free(c->conf_file);
	free(c->source);
	free(c->mountpoint);
	free(c->key_file);
	free(c->trove_key_file);
	for (i = 0; i < c->ncontainers; i++)
		free(c->containers[i].name);
	free(c->containers);
	for (i = 0; i < c->nsections; i++)
		section_release(&c->sections[i]);
	free(c->sections);
	conf_init(c);
}

/* ---- value parsers ---- */

int conf_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;
	const char *p;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (*p) {
	case '\0':
		break;
	case 'K':
	case 'k':
		shift = 10;
		p++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		p++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		p++;
		break;
	default:
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	if (v > UINT64_MAX >> shift)
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* A decimal integer in [0, max], digits only. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0')
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_format(const char *s, enum conf_format *out)
{
	if (strcmp(s, "tfs1") == 0)
		*out = CONF_FORMAT_TFS1;
	else if (strcmp(s, "trove") == 0)
		*out = CONF_FORMAT_TROVE;
	else
		return -EINVAL;
	return 0;
}

/* ---- [trovefs] keys (also -o options) ---- */

/*
 * A setter applies one value or returns -EINVAL with *why saying what a
 * valid value looks like (static text), or -ENOMEM. It changes nothing on
 * failure.
 */
typedef int key_set_fn(struct conf *c, const char *v, const char **why);

static int set_path(char **dst, const char *v, const char **why)
{
	char *copy;

	if (*v == '\0') {
		*why = "must be a file name";
		return -EINVAL;
	}
	copy = strdup(v);
	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static int set_key_file(struct conf *c, const char *v, const char **why)
{
	return set_path(&c->key_file, v, why);
}

static int set_trove_key_file(struct conf *c, const char *v, const char **why)
{
	return set_path(&c->trove_key_file, v, why);
}

static int set_format(struct conf *c, const char *v, const char **why)
{
	if (parse_format(v, &c->format)) {
		*why = "must be tfs1 or trove";
		return -EINVAL;
	}
	return 0;
}

static int parse_compression(const char *s, enum conf_compression *out)
{
	if (strcmp(s, "deflate") == 0)
		*out = CONF_COMP_DEFLATE;
	else if (strcmp(s, "lz4") == 0)
		*out = CONF_COMP_LZ4;
	else
		return -EINVAL;
	return 0;
}

static int set_compression(struct conf *c, const char *v, const char **why)
{
	if (parse_compression(v, &c->compression)) {
		*why = "must be deflate or lz4";
		return -EINVAL;
	}
	return 0;
}

static int set_frame_size(struct conf *c, const char *v, const char **why)
{
	uint64_t size;

	if (conf_parse_size(v, &size) || size < FRAME_SIZE_MIN ||
	    size > FRAME_SIZE_MAX || (size & (size - 1)) != 0) {
		*why = "must be a power of two from 4K to 16M";
		return -EINVAL;
	}
	c->frame_size = (uint32_t)size;
	return 0;
}

static int set_compress_level(struct conf *c, const char *v, const char **why)
{
	unsigned long n;

	if (parse_uint(v, COMPRESS_LEVEL_MAX, &n)) {
		*why = "must be 0 (off), 1, 2 or 3";
		return -EINVAL;
	}
	c->compress_level = (int)n;
	return 0;
}

static int set_threads(struct conf *c, const char *v, const char **why)
{
	unsigned long n;

	if (parse_uint(v, THREADS_MAX, &n)) {
		*why = "must be a number from 0 (one per CPU) to 256";
		return -EINVAL;
	}
	c->threads = (unsigned)n;
	return 0;
}

/* A number of seconds >= 0 into *@out. */
static int parse_seconds(const char *v, double *out, const char **why)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (end == v || *end != '\0' || errno != 0 || !isfinite(d) || d < 0.0) {
		*why = "must be a number of seconds >= 0";
		return -EINVAL;
	}
	*out = d;
	return 0;
}

static int set_attr_timeout(struct conf *c, const char *v, const char **why)
{
	return parse_seconds(v, &c->attr_timeout, why);
}

static int set_dir_cache_time(struct conf *c, const char *v, const char **why)
{
	return parse_seconds(v, &c->dir_cache_time, why);
}

static int set_log_level(struct conf *c, const char *v, const char **why)
{
	if (strcmp(v, "err") == 0 || strcmp(v, "error") == 0)
		c->log_level = LOG_ERR;
	else if (strcmp(v, "warning") == 0)
		c->log_level = LOG_WARNING;
	else if (strcmp(v, "info") == 0)
		c->log_level = LOG_INFO;
	else if (strcmp(v, "debug") == 0)
		c->log_level = LOG_DEBUG;
	else {
		*why = "must be err, warning, info or debug";
		return -EINVAL;
	}
	return 0;
}

struct key_desc {
	const char *name;
	key_set_fn *set;
};

static const struct key_desc trovefs_keys[] = {
	{ "key_file", set_key_file },
	{ "trove_key_file", set_trove_key_file },
	{ "format", set_format },
	{ "frame_size", set_frame_size },
	{ "compress_level", set_compress_level },
	{ "compression", set_compression },
	{ "threads", set_threads },
	{ "attr_timeout", set_attr_timeout },
	{ "dir_cache_time", set_dir_cache_time },
	{ "log_level", set_log_level },
};

#define NKEYS (sizeof(trovefs_keys) / sizeof(trovefs_keys[0]))

/* Index into trovefs_keys, or -1. */
static int key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(trovefs_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

int conf_set(struct conf *c, const char *key, const char *value)
{
	const char *why = "";
	int k;
	int err;

	k = key_find(key);
	if (k < 0) {
		log_error("unknown option '%s'", key);
		return -EINVAL;
	}
	if (!value)
		value = "";
	err = trovefs_keys[k].set(c, value, &why);
	if (err == -ENOMEM)
		log_error("cannot set option '%s': out of memory", key);
	else if (err)
		log_error("invalid option '%s=%s': %s", key, value, why);
	return err;
}

/*
 * True if a key names or holds a secret: key, password, secret, token (as
 * the whole name or its last "_" word), alone or with "_file" appended:
 * key_file, trove_key_file, password_file, password, api_token...
 */
static bool key_names_secret(const char *key)
{
	static const char *const words[] = { "key", "password", "passwd",
					     "secret", "token" };
	size_t len = strlen(key);
	size_t i;

	if (len > 5 && strcmp(key + len - 5, "_file") == 0)
		len -= 5;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t wl = strlen(words[i]);

		if (len < wl || memcmp(key + len - wl, words[i], wl) != 0)
			continue;
		if (len == wl || key[len - wl - 1] == '_')
			return true;
	}
	return false;
}

/* ---- lookups ---- */

static struct conf_container *container_find(const struct conf *c,
					     const char *name)
{
	size_t i;

	for (i = 0; i < c->ncontainers; i++)
		if (strcmp(c->containers[i].name, name) == 0)
			return &c->containers[i];
	return NULL;
}

enum conf_format conf_format_for(const struct conf *c, const char *container)
{
	const struct conf_container *ct;

	if (!container)
		return c->format;
	ct = container_find(c, container);
	if (ct && ct->format_set)
		return ct->format;
	return c->format;
}

enum conf_compression conf_compression_for(const struct conf *c,
					   const char *container)
{
	const struct conf_container *ct;

	ct = container ? container_find(c, container) : NULL;
	if (ct && ct->compression_set)
		return ct->compression;
	return c->compression;
}

const struct conf_section *conf_section_find(const struct conf *c,
					     const char *type, const char *name)
{
	size_t i;

	for (i = 0; i < c->nsections; i++) {
		const struct conf_section *s = &c->sections[i];

		if (strcmp(s->type, type) == 0 && strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

const char *conf_section_get(const struct conf_section *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

/* ---- the parse ---- */

enum sect_kind {
	SECT_NONE, /* before the first header */
	SECT_TROVEFS,
	SECT_CONTAINER, /* c->containers[idx] */
	SECT_GENERIC,	/* c->sections[idx] */
};

/* Section types kept for their owning module, without validation. */
static const char *const generic_types[] = { "swift", "redis", "mongodb" };

struct parse {
	struct conf *c;
	const char *origin; /* file name or label, for messages */
	const char *pos;    /* next unread byte of the text */
	const char *end;
	int lineno; /* line last handed to inih */

	enum sect_kind kind;
	size_t idx;
	int trovefs_line;    /* line of [trovefs], 0 if not seen */
	int key_line[NKEYS]; /* where each [trovefs] key was set */
	bool names_secret;   /* a key names or holds a secret */

	int err; /* first error, 0 if none */
	int err_line;
	char msg[384]; /* its message, without "FILE:LINE: " */
};

/* Records the first error at the current line; later ones are dropped. */
static void parse_fail(struct parse *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void parse_fail(struct parse *p, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err)
		return;
	p->err = err;
	p->err_line = p->lineno;
	va_start(ap, fmt);
	n = vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	if (n < 0) {
		snprintf(p->msg, sizeof(p->msg), "invalid line");
		return;
	}
	/* a cut message still names the problem; mark the cut */
	if ((size_t)n >= sizeof(p->msg))
		memcpy(p->msg + sizeof(p->msg) - 4, "...", 4);
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' ||
	       ch == '\f';
}

/* Trims blanks from both ends of [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
	while (*len > 0 && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*s)[*len - 1]))
		(*len)--;
}

static void *grow(void *array, size_t n, size_t size)
{
	return reallocarray(array, n + 1, size);
}

static int container_add(struct parse *p, const char *name, size_t len)
{
	struct conf *c = p->c;
	struct conf_container *ct;
	char *copy;

	copy = strndup(name, len);
	if (!copy)
		return -ENOMEM;
	if (container_find(c, copy)) {
		parse_fail(p, -EINVAL, "duplicate section [container:%s]",
			   copy);
		free(copy);
		return -EINVAL;
	}
	ct = grow(c->containers, c->ncontainers, sizeof(*ct));
	if (!ct) {
		free(copy);
		return -ENOMEM;
	}
	c->containers = ct;
	ct = &c->containers[c->ncontainers];
	ct->name = copy;
	ct->format = CONF_FORMAT_TFS1;
	ct->format_set = false;
	ct->compression = CONF_COMP_DEFLATE;
	ct->compression_set = false;
	p->kind = SECT_CONTAINER;
	p->idx = c->ncontainers++;
	return 0;
}

static int section_add(struct parse *p, const char *type, const char *name,
		       size_t len)
{
	struct conf *c = p->c;
	struct conf_section *s;
	char *name_copy;
	char *type_copy;

	name_copy = strndup(name, len);
	if (!name_copy)
		return -ENOMEM;
	if (conf_section_find(c, type, name_copy)) {
		parse_fail(p, -EINVAL, "duplicate section [%s:%s]", type,
			   name_copy);
		free(name_copy);
		return -EINVAL;
	}
	type_copy = strdup(type);
	if (!type_copy)
		goto out_free_name;
	s = grow(c->sections, c->nsections, sizeof(*s));
	if (!s)
		goto out_free_type;
	c->sections = s;
	s = &c->sections[c->nsections];
	memset(s, 0, sizeof(*s));
	s->type = type_copy;
	s->name = name_copy;
	s->line = p->lineno;
	p->kind = SECT_GENERIC;
	p->idx = c->nsections++;
	return 0;

out_free_type:
	free(type_copy);
out_free_name:
	free(name_copy);
	return -ENOMEM;
}

static bool span_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* A "[type]" or "[type:name]" line; @s is trimmed and NUL-terminated. */
static int section_begin(struct parse *p, const char *s)
{
	const char *close = strchr(s, ']');
	const char *inner = s + 1;
	const char *generic = NULL;
	const char *type;
	const char *name;
	const char *colon;
	size_t type_len;
	size_t name_len;
	size_t i;
	int err;

	if (!close) {
		parse_fail(p, -EINVAL, "missing ']' in section header");
		return -EINVAL;
	}
	for (i = 1; close[i] && is_blank(close[i]); i++)
		;
	if (close[i] != '\0' && close[i] != ';' && close[i] != '#') {
		parse_fail(p, -EINVAL, "unexpected text after ']'");
		return -EINVAL;
	}
	colon = memchr(inner, ':', (size_t)(close - inner));
	type = inner;
	type_len = (size_t)((colon ? colon : close) - inner);
	trim(&type, &type_len);
	name = colon ? colon + 1 : close;
	name_len = (size_t)(close - name);
	trim(&name, &name_len);

	if (span_is(type, type_len, "trovefs")) {
		if (colon) {
			parse_fail(p, -EINVAL,
				   "section [trovefs] takes no name");
			return -EINVAL;
		}
		if (p->trovefs_line) {
			parse_fail(
				p, -EINVAL,
				"duplicate section [trovefs] (first on line %d)",
				p->trovefs_line);
			return -EINVAL;
		}
		p->trovefs_line = p->lineno;
		p->kind = SECT_TROVEFS;
		return 0;
	}
	for (i = 0; i < sizeof(generic_types) / sizeof(generic_types[0]); i++)
		if (span_is(type, type_len, generic_types[i]))
			generic = generic_types[i];
	if (!generic && !span_is(type, type_len, "container")) {
		parse_fail(
			p, -EINVAL,
			"unknown section [%.*s] (expected [trovefs], [container:NAME], [swift:NAME], [redis:NAME] or [mongodb:NAME])",
			(int)(close - inner), inner);
		return -EINVAL;
	}
	if (name_len == 0) {
		parse_fail(p, -EINVAL,
			   "section [%.*s] needs a name: [%.*s:NAME]",
			   (int)type_len, type, (int)type_len, type);
		return -EINVAL;
	}
	if (generic)
		err = section_add(p, generic, name, name_len);
	else
		err = container_add(p, name, name_len);
	if (err == -ENOMEM)
		parse_fail(p, err, "out of memory");
	return err;
}

/*
 * Checks a line before inih sees it; @s is trimmed and NUL-terminated.
 * inih would report a line without '=' or ':' only by number, so say
 * what is wrong here. A ';' after a blank starts an inline comment for
 * inih, hence the same rule here.
 */
static int line_check(struct parse *p, const char *s)
{
	const char *q;

	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	if (*s == '[')
		return section_begin(p, s);
	if (*s == '=' || *s == ':') {
		parse_fail(p, -EINVAL, "missing key name before '%c'", *s);
		return -EINVAL;
	}
	for (q = s; *q; q++) {
		if (*q == '=' || *q == ':')
			return 0;
		if (*q == ';' && is_blank(q[-1]))
			break;
	}
	parse_fail(p, -EINVAL,
		   "expected 'key = value', '[section]' or a comment");
	return -EINVAL;
}

/*
 * inih's line source (fgets-like): hands over one trimmed line at a time
 * and returns NULL (end of input) once an error is recorded.
 */
static char *parse_reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *line = p->pos;
	const char *nl;
	size_t len;

	if (p->err || p->pos >= p->end)
		return NULL;
	nl = memchr(line, '\n', (size_t)(p->end - line));
	len = (size_t)((nl ? nl : p->end) - line);
	p->pos = nl ? nl + 1 : p->end;
	p->lineno++;
	if (p->lineno == 1 && len >= 3 &&
	    memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (memchr(line, '\0', len)) {
		parse_fail(p, -EINVAL, "NUL byte in line");
		return NULL;
	}
	trim(&line, &len);
	/* room for the '\n' and the NUL */
	if (num < 3 || len > (size_t)num - 2) {
		parse_fail(p, -EINVAL, "line too long (at most %d characters)",
			   num < 3 ? 0 : num - 2);
		return NULL;
	}
	memcpy(str, line, len);
	str[len] = '\0';
	if (line_check(p, str))
		return NULL;
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int kv_add(struct parse *p, struct conf_section *s, const char *key,
		  const char *value)
{
	struct conf_kv *kv;
	char *key_copy;
	char *value_copy;

	key_copy = strdup(key);
	if (!key_copy)
		return -ENOMEM;
	value_copy = strdup(value);
	if (!value_copy)
		goto out_free_key;
	kv = grow(s->kv, s->nkv, sizeof(*kv));
	if (!kv)
		goto out_free_value;
	s->kv = kv;
	kv = &s->kv[s->nkv++];
	kv->key = key_copy;
	kv->value = value_copy;
	kv->line = p->lineno;
	return 0;

out_free_value:
	free(value_copy);
out_free_key:
	free(key_copy);
	return -ENOMEM;
}

static int handle_trovefs(struct parse *p, const char *key, const char *value)
{
	const char *why = "";
	int k;
	int err;

	k = key_find(key);
	if (k < 0) {
		parse_fail(p, -EINVAL, "unknown key '%s' in [trovefs]", key);
		return -EINVAL;
	}
	if (p->key_line[k]) {
		parse_fail(p, -EINVAL, "duplicate key '%s' (first on line %d)",
			   key, p->key_line[k]);
		return -EINVAL;
	}
	p->key_line[k] = p->lineno;
	err = trovefs_keys[k].set(p->c, value, &why);
	if (err == -ENOMEM)
		parse_fail(p, err, "out of memory");
	else if (err)
		parse_fail(p, err, "invalid %s '%s': %s", key, value, why);
	return err;
}

static int handle_container(struct parse *p, const char *key, const char *value)
{
	struct conf_container *ct = &p->c->containers[p->idx];
	bool is_format = strcmp(key, "format") == 0;
	bool *set = is_format ? &ct->format_set : &ct->compression_set;
	int err;

	if (!is_format && strcmp(key, "compression") != 0) {
		parse_fail(p, -EINVAL, "unknown key '%s' in [container:%s]",
			   key, ct->name);
		return -EINVAL;
	}
	if (*set) {
		parse_fail(p, -EINVAL, "duplicate key '%s'", key);
		return -EINVAL;
	}
	err = is_format ? parse_format(value, &ct->format)
			: parse_compression(value, &ct->compression);
	if (err) {
		parse_fail(p, -EINVAL, "invalid %s '%s': must be %s", key,
			   value,
			   is_format ? "tfs1 or trove" : "deflate or lz4");
		return -EINVAL;
	}
	*set = true;
	return 0;
}

static int handle_generic(struct parse *p, const char *key, const char *value)
{
	struct conf_section *s = &p->c->sections[p->idx];
	int err;

	if (conf_section_get(s, key)) {
		parse_fail(p, -EINVAL, "duplicate key '%s' in [%s:%s]", key,
			   s->type, s->name);
		return -EINVAL;
	}
	err = kv_add(p, s, key, value);
	if (err)
		parse_fail(p, err, "out of memory");
	return err;
}

/* inih's callback: returns nonzero to go on, 0 on error. */
static int parse_handler(void *user, const char *section, const char *key,
			 const char *value)
{
	struct parse *p = user;
	int err;

	(void)section; /* tracked by section_begin(), untruncated */
	if (p->err)
		return 0;
	if (key_names_secret(key))
		p->names_secret = true;
	switch (p->kind) {
	case SECT_TROVEFS:
		err = handle_trovefs(p, key, value);
		break;
	case SECT_CONTAINER:
		err = handle_container(p, key, value);
		break;
	case SECT_GENERIC:
		err = handle_generic(p, key, value);
		break;
	default:
		parse_fail(
			p, -EINVAL,
			"key '%s' outside any section (add [trovefs] above it)",
			key);
		err = -EINVAL;
		break;
	}
	return err == 0;
}

/*
 * Parses @len bytes of @text into @c. Logs the first error as
 * "ORIGIN:LINE: ..." and returns it; *names_secret tells whether a key
 * names or holds a secret.
 */
static int parse_text(struct conf *c, const char *text, size_t len,
		      const char *origin, bool *names_secret)
{
	struct parse p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.origin = origin;
	p.pos = text;
	p.end = text + len;
	p.kind = SECT_NONE;

	ret = ini_parse_stream(parse_reader, &p, parse_handler, &p);
	*names_secret = p.names_secret;
	if (ret < 0) {
		log_error("cannot parse '%s': out of memory", origin);
		return -ENOMEM;
	}
	/* an error only inih saw, on a line before ours (if any) */
	if (ret > 0 && (!p.err || ret < p.err_line)) {
		log_error("%s:%d: syntax error", origin, ret);
		return -EINVAL;
	}
	if (p.err) {
		log_error("%s:%d: %s", origin, p.err_line, p.msg);
		return p.err;
	}
	return 0;
}

int conf_load_string(struct conf *c, const char *text, const char *origin)
{
	bool names_secret;

	if (!origin)
		origin = "<string>";
	return parse_text(c, text, strlen(text), origin, &names_secret);
}

/* ---- files and secrets ---- */

/* The mode check shared by key, password and config files. */
static int secret_mode_check(const struct stat *st, const char *path,
			     const char *what)
{
	mode_t mode = st->st_mode;
	const char *how;

	if (!S_ISREG(mode)) {
		log_error("%s '%s' is not a regular file", what, path);
		return -EINVAL;
	}
	if ((mode & 077) == 0)
		return 0;
	if ((mode & 044) && (mode & 022))
		how = "readable and writable";
	else if (mode & 044)
		how = "readable";
	else if (mode & 022)
		how = "writable";
	else
		how = "accessible";
	log_error(
		"%s '%s' is %s by group or others (mode %04o): run 'chmod 600 %s'",
		what, path, how, (unsigned)(mode & 07777), path);
	return -EACCES;
}

int conf_check_secret_file(const char *path, const char *what)
{
	struct stat st;

	if (!what)
		what = "secret file";
	if (stat(path, &st) != 0) {
		int err = -errno;

		log_error("cannot use %s '%s': %s", what, path, strerror(-err));
		return err;
	}
	return secret_mode_check(&st, path, what);
}

/* Opens @path for reading without blocking on a FIFO; logs failures. */
static int open_read(const char *path, const char *what, struct stat *st)
{
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int err = -errno;

		log_error("cannot open %s '%s': %s", what, path,
			  strerror(-err));
		return err;
	}
	if (fstat(fd, st) != 0) {
		int err = -errno;

		log_error("cannot stat %s '%s': %s", what, path,
			  strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

/* Reads up to @max bytes; fewer only at end of file. */
static ssize_t read_full(int fd, char *dst, size_t max)
{
	size_t got = 0;

	while (got < max) {
		ssize_t n = read(fd, dst + got, max - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int conf_read_secret(const char *path, const char *what, char **out,
		     size_t *len)
{
	/* the longest line, its "\r\n", one byte to see it is too long */
	const size_t size = CONF_SECRET_MAX + 3;
	struct stat st;
	char *secret;
	char *nl;
	ssize_t got;
	size_t n;
	int err;
	int fd;

	if (!what)
		what = "secret file";
	fd = open_read(path, what, &st);
	if (fd < 0)
		return fd;
	err = secret_mode_check(&st, path, what);
	if (err)
		goto out_close;
	secret = malloc(size);
	if (!secret) {
		log_error("cannot read %s '%s': out of memory", what, path);
		err = -ENOMEM;
		goto out_close;
	}
	got = read_full(fd, secret, size);
	if (got < 0) {
		err = (int)got;
		log_error("cannot read %s '%s': %s", what, path,
			  strerror(-err));
		goto out_wipe;
	}
	nl = memchr(secret, '\n', (size_t)got);
	n = nl ? (size_t)(nl - secret) : (size_t)got;
	if (nl && n > 0 && secret[n - 1] == '\r')
		n--;
	if (n > CONF_SECRET_MAX) {
		log_error("%s '%s' has a first line longer than %d bytes", what,
			  path, CONF_SECRET_MAX);
		err = -EINVAL;
		goto out_wipe;
	}
	if (n == 0) {
		log_error("%s '%s' is empty (its first line is the secret)",
			  what, path);
		err = -EINVAL;
		goto out_wipe;
	}
	/* nothing beyond the secret may stay in memory */
	OPENSSL_cleanse(secret + n, size - n);
	secret[n] = '\0';
	*out = secret;
	*len = n;
	close(fd);
	return 0;

out_wipe:
	OPENSSL_cleanse(secret, size);
	free(secret);
out_close:
	close(fd);
	return err;
}

void conf_free_secret(char *secret, size_t len)
{
	if (!secret)
		return;
	OPENSSL_cleanse(secret, len);
	free(secret);
}

int conf_load_file(struct conf *c, const char *path)
{
	struct stat st;
	bool names_secret;
	char *path_copy;
	char *text;
	size_t size;
	ssize_t got;
	int err;
	int fd;

	fd = open_read(path, "config file", &st);
	if (fd < 0)
		return fd;
	if (!S_ISREG(st.st_mode)) {
		log_error("config file '%s' is not a regular file", path);
		err = -EINVAL;
		goto out_close;
	}
	if (st.st_size > CONF_FILE_MAX) {
		log_error("config file '%s' is larger than %d bytes", path,
			  CONF_FILE_MAX);
		err = -EFBIG;
		goto out_close;
	}
	/* one allocation, so the text (maybe passwords) can be wiped */
	size = (size_t)st.st_size;
	text = malloc(size + 1);
	if (!text) {
		log_error("cannot read config file '%s': out of memory", path);
		err = -ENOMEM;
		goto out_close;
	}
	got = read_full(fd, text, size);
	if (got < 0) {
		err = (int)got;
		log_error("cannot read config file '%s': %s", path,
			  strerror(-err));
		goto out_wipe;
	}
	err = parse_text(c, text, (size_t)got, path, &names_secret);
	if (err)
		goto out_wipe;
	/* who can change the config can point key_file elsewhere */
	if (names_secret) {
		err = secret_mode_check(&st, path, "config file");
		if (err)
			goto out_wipe;
	}
	path_copy = strdup(path);
	if (!path_copy) {
		log_error("cannot load config file '%s': out of memory", path);
		err = -ENOMEM;
		goto out_wipe;
	}
	free(c->conf_file);
	c->conf_file = path_copy;
out_wipe:
	OPENSSL_cleanse(text, size + 1);
	free(text);
out_close:
	close(fd);
	return err;
}
