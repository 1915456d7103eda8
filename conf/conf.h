/*
 * conf.h - the configuration file (inih) and -o options, merged into one
 * struct conf; secrets (key files) read with permission checks.
 *
 * Precedence: command line (-o) beats the config file beats the default.
 * The file is INI:
 *
 *   [trovefs]                 global settings; the same keys are -o options
 *   key_file = /etc/trovefs/key
 *   format = tfs1 | trove
 *   ...
 *   [container:NAME]          per-container settings (format = ...)
 *   [swift:NAME]              a Swift account (issue 3; kept as a section)
 *   [redis:NAME]              datastores (issue 4; kept as sections)
 *   [mongodb:NAME]
 *
 * Sections other than [trovefs] and [container:*] are kept as generic
 * sections (type, name, key/value list) for the module that owns them to
 * parse into its own *_conf struct; an unknown section type is an error.
 *
 * Not thread-safe; built once in main before any thread starts, read-only
 * afterwards.
 */
#ifndef CONF_CONF_H
#define CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conf_format {
	CONF_FORMAT_TFS1 = 0,  /* authenticated frames, docs/FORMAT.md */
	CONF_FORMAT_TROVE = 1, /* gzip + openssl enc, as Trove wrote */
};

/* tfs1 frame compression (docs/FORMAT.md 2.3); Trove's is always gzip. */
enum conf_compression {
	CONF_COMP_DEFLATE = 0, /* ISA-L raw deflate: smaller */
	CONF_COMP_LZ4 = 1,     /* LZ4 block: ~5x faster to read back */
};

struct conf_kv {
	char *key;   /* owned */
	char *value; /* owned */
	int line;    /* line in the config file, 0 for -o */
};

/* A section kept for its owning module: [type:name]. */
struct conf_section {
	char *type;	    /* owned: "swift", "redis", "mongodb" */
	char *name;	    /* owned */
	struct conf_kv *kv; /* owned array of nkv */
	size_t nkv;
	int line; /* line of the section header */
};

struct conf_container {
	char *name; /* owned */
	enum conf_format format;
	bool format_set; /* false: no format key, conf.format applies */
	enum conf_compression compression;
	bool compression_set; /* false: conf.compression applies */
};

struct conf {
	char *conf_file;  /* owned; NULL when none given */
	char *source;	  /* owned: "local:/dir" or "swift:NAME" */
	char *mountpoint; /* owned */

	/* [trovefs] / -o keys, with their defaults */
	char *key_file;		 /* owned; default NULL (required to write) */
	char *trove_key_file;	 /* owned; default NULL = key_file */
	enum conf_format format; /* format = tfs1 */
	uint32_t frame_size;	 /* frame_size = 1M (power of 2, 4K..16M) */
	int compress_level;	 /* compress_level = 1 (0 = off, 1..3) */
	enum conf_compression compression; /* compression = deflate */
	unsigned threads;		   /* threads = 0 (= number of CPUs) */
	double attr_timeout;   /* attr_timeout = 1.0 seconds (kernel cache) */
	double dir_cache_time; /* dir_cache_time = 30 seconds: how long a
				 * listing's stats answer getattr (changes
				 * made through this mount drop them) */
	int log_level;	       /* log_level = info (err|warning|info|debug) */

	struct conf_container *containers; /* owned array */
	size_t ncontainers;
	struct conf_section *sections; /* owned array */
	size_t nsections;
};

/* Fills in the defaults. */
void conf_init(struct conf *c);
/* Frees everything; accepts a conf_init()ed struct. */
void conf_release(struct conf *c);

/*
 * Reads a config file. Refuses (-EACCES) a file readable or writable by
 * group or others when it names or holds secrets (key_file, password_file,
 * ...) - with a log line that says how to fix it ("chmod 600 FILE").
 * Returns 0; -ENOENT; -EINVAL with a log line "FILE:LINE: ..." for a
 * syntax error, unknown key or section, or bad value. Every error is
 * logged once. On failure @c may hold part of the file: conf_release() it.
 */
int conf_load_file(struct conf *c, const char *path);

/* Same, from a string (tests); @origin names it in messages. */
int conf_load_string(struct conf *c, const char *text, const char *origin);

/*
 * Applies one [trovefs] setting (from -o key=value). Returns 0, or
 * -EINVAL with a log line for an unknown key or bad value.
 */
int conf_set(struct conf *c, const char *key, const char *value);

/* The format for objects written into @container. */
enum conf_format conf_format_for(const struct conf *c, const char *container);
/* The compression of new tfs1 objects in @container (NULL: the default). */
enum conf_compression conf_compression_for(const struct conf *c,
					   const char *container);

/* The first section of @type and @name, or NULL. Borrowed. */
const struct conf_section *
conf_section_find(const struct conf *c, const char *type, const char *name);

/* The value of @key in @s, or NULL. Borrowed. */
const char *conf_section_get(const struct conf_section *s, const char *key);

/*
 * Parses sizes like "1048576", "64K", "1M", "2G" (powers of 1024).
 * Returns 0, -EINVAL.
 */
int conf_parse_size(const char *s, uint64_t *out);

/*
 * Checks that @path (a key, password or config file; @what names it in
 * the message) is a regular file not accessible by group or others.
 * Returns 0; -ENOENT; -EACCES with a log line naming the file, its mode
 * and the fix; -EINVAL if it is not a regular file.
 */
int conf_check_secret_file(const char *path, const char *what);

/*
 * Reads a secret from @path: its first line without the line end (like
 * openssl's -pass file:). Checks permissions as above. On success *@out
 * (NUL-terminated, *@len bytes) is the caller's, freed with
 * conf_free_secret(). Returns 0, -ENOENT, -EACCES, -EINVAL (empty).
 */
int conf_read_secret(const char *path, const char *what, char **out,
		     size_t *len);

/* Wipes (OPENSSL_cleanse) and frees a secret; accepts NULL. */
void conf_free_secret(char *secret, size_t len);

#endif /* CONF_CONF_H */
