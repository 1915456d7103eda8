/*
 * test_conf.c - unit tests of conf/conf.c: defaults, every [trovefs] key
 * (good and bad values, from the file and from -o), structure errors with
 * their line numbers (exactly one log line each), comments and line ends,
 * -o precedence, generic sections, per-container formats, sizes, and the
 * permission rules for key, password and config files.
 *
 * Files are created in a private temp dir with exact modes (fchmod, so the
 * umask does not matter); as root the checks still apply, since they look
 * at the mode bits, not at access.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../conf/conf.h"
#include "../../conf/log.h"

/* ---- log capture ---- */

static int nerrors;
static char last_error[1024];

static void capture(int level, const char *msg)
{
	if (level > LOG_ERR)
		return;
	nerrors++;
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

static void reset_log(void)
{
	nerrors = 0;
	last_error[0] = '\0';
}

/* Exactly one error line was logged and it contains @want. */
static void check_one_error(const char *want)
{
	if (nerrors != 1 || !strstr(last_error, want))
		print_error("errors=%d last='%s' wanted '%s'\n", nerrors,
			    last_error, want);
	assert_int_equal(nerrors, 1);
	assert_non_null(strstr(last_error, want));
}

static void check_no_error(void)
{
	if (nerrors != 0)
		print_error("unexpected error: '%s'\n", last_error);
	assert_int_equal(nerrors, 0);
}

/* ---- fixtures ---- */

static struct conf cf;
static char tmpdir[] = "/tmp/test_conf.XXXXXX";

static int setup(void **state)
{
	(void)state;
	conf_init(&cf);
	reset_log();
	log_set_hook(capture);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	conf_release(&cf);
	log_set_hook(NULL);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	/* messages go to the hook only, so the test output stays clean */
	log_init("test_conf", false, LOG_EMERG);
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[64];
	int n;

	(void)state;
	n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes @len bytes to tmpdir/@name with exactly @mode; returns the path. */
static const char *write_file(const char *name, const void *data, size_t len,
			      mode_t mode)
{
	static char path[PATH_MAX];
	int fd;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	return path;
}

static const char *write_text(const char *name, const char *text, mode_t mode)
{
	return write_file(name, text, strlen(text), mode);
}

static const char *tmp_path(const char *name)
{
	static char path[PATH_MAX];
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	return path;
}

/* ---- defaults ---- */

static void test_conf_init_defaults(void **state)
{
	(void)state;
	assert_null(cf.conf_file);
	assert_null(cf.source);
	assert_null(cf.mountpoint);
	assert_null(cf.key_file);
	assert_null(cf.trove_key_file);
	assert_int_equal(cf.format, CONF_FORMAT_TFS1);
	assert_int_equal(cf.frame_size, 1024 * 1024);
	assert_int_equal(cf.compress_level, 1);
	assert_int_equal(cf.compression, CONF_COMP_DEFLATE);
	assert_int_equal(cf.threads, 0);
	assert_true(cf.attr_timeout == 1.0);
	assert_true(cf.dir_cache_time == 30.0);
	assert_int_equal(cf.log_level, LOG_INFO);
	assert_int_equal(cf.ncontainers, 0);
	assert_int_equal(cf.nsections, 0);
	assert_int_equal(conf_format_for(&cf, "any"), CONF_FORMAT_TFS1);
}

static void test_conf_release_twice(void **state)
{
	(void)state;
	assert_int_equal(conf_load_string(&cf,
					  "[trovefs]\nkey_file = /k\n"
					  "[swift:s]\nuser = u\n"
					  "[container:c]\nformat = trove\n",
					  "t.conf"),
			 0);
	conf_release(&cf);
	assert_null(cf.key_file);
	assert_int_equal(cf.nsections, 0);
	assert_int_equal(cf.ncontainers, 0);
	assert_int_equal(cf.frame_size, 1024 * 1024);
	conf_release(&cf);
}

/* ---- [trovefs] keys ---- */

static void test_conf_load_every_key(void **state)
{
	static const char text[] = "[trovefs]\n"
				   "key_file = /etc/trovefs/key\n"
				   "trove_key_file = /etc/trovefs/old key\n"
				   "format = trove\n"
				   "frame_size = 64K\n"
				   "compress_level = 3\n"
				   "threads = 8\n"
				   "attr_timeout = 2.5\n"
				   "log_level = debug\n";

	(void)state;
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	check_no_error();
	assert_string_equal(cf.key_file, "/etc/trovefs/key");
	assert_string_equal(cf.trove_key_file, "/etc/trovefs/old key");
	assert_int_equal(cf.format, CONF_FORMAT_TROVE);
	assert_int_equal(cf.frame_size, 64 * 1024);
	assert_int_equal(cf.compress_level, 3);
	assert_int_equal(cf.threads, 8);
	assert_true(cf.attr_timeout == 2.5);
	assert_int_equal(cf.log_level, LOG_DEBUG);
	/* a string has no file name to remember */
	assert_null(cf.conf_file);
}

struct good_value {
	const char *key;
	const char *value;
	double want; /* the field's value afterwards */
};

static double field_of(const char *key)
{
	if (strcmp(key, "format") == 0)
		return cf.format;
	if (strcmp(key, "frame_size") == 0)
		return cf.frame_size;
	if (strcmp(key, "compress_level") == 0)
		return cf.compress_level;
	if (strcmp(key, "compression") == 0)
		return cf.compression;
	if (strcmp(key, "threads") == 0)
		return cf.threads;
	if (strcmp(key, "attr_timeout") == 0)
		return cf.attr_timeout;
	if (strcmp(key, "dir_cache_time") == 0)
		return cf.dir_cache_time;
	if (strcmp(key, "log_level") == 0)
		return cf.log_level;
	fail_msg("no field for '%s'", key);
	return 0;
}

static const struct good_value good_values[] = {
	{ "format", "tfs1", CONF_FORMAT_TFS1 },
	{ "format", "trove", CONF_FORMAT_TROVE },
	{ "frame_size", "4K", 4096 },
	{ "frame_size", "4096", 4096 },
	{ "frame_size", "8k", 8192 },
	{ "frame_size", "1M", 1048576 },
	{ "frame_size", "16M", 16777216 },
	{ "compress_level", "0", 0 },
	{ "compress_level", "1", 1 },
	{ "compress_level", "3", 3 },
	{ "compression", "lz4", CONF_COMP_LZ4 },
	{ "compression", "deflate", CONF_COMP_DEFLATE },
	{ "threads", "0", 0 },
	{ "threads", "1", 1 },
	{ "threads", "256", 256 },
	{ "attr_timeout", "0", 0.0 },
	{ "attr_timeout", "0.25", 0.25 },
	{ "attr_timeout", "3600", 3600.0 },
	{ "dir_cache_time", "0", 0.0 },
	{ "dir_cache_time", "300", 300.0 },
	{ "log_level", "err", LOG_ERR },
	{ "log_level", "error", LOG_ERR },
	{ "log_level", "warning", LOG_WARNING },
	{ "log_level", "info", LOG_INFO },
	{ "log_level", "debug", LOG_DEBUG },
};

static void test_conf_good_values(void **state)
{
	char text[256];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(good_values) / sizeof(good_values[0]); i++) {
		const struct good_value *g = &good_values[i];

		n = snprintf(text, sizeof(text), "[trovefs]\n%s = %s\n", g->key,
			     g->value);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		conf_release(&cf);
		reset_log();
		assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
		check_no_error();
		if (field_of(g->key) != g->want)
			fail_msg("%s = %s gave %g", g->key, g->value,
				 field_of(g->key));

		conf_release(&cf);
		assert_int_equal(conf_set(&cf, g->key, g->value), 0);
		check_no_error();
		if (field_of(g->key) != g->want)
			fail_msg("-o %s=%s gave %g", g->key, g->value,
				 field_of(g->key));
	}
}

struct bad_value {
	const char *key;
	const char *value;
};

static const struct bad_value bad_values[] = {
	{ "key_file", "" },
	{ "trove_key_file", "" },
	{ "format", "tfs2" },
	{ "format", "TFS1" },
	{ "format", "" },
	{ "frame_size", "2K" }, /* power of two, too small */
	{ "frame_size", "3K" },
	{ "frame_size", "12K" }, /* not a power of two */
	{ "frame_size", "32M" }, /* too big */
	{ "frame_size", "1G" },
	{ "frame_size", "0" },
	{ "frame_size", "1X" },
	{ "frame_size", "-4K" },
	{ "frame_size", "99999999999999999999999" },
	{ "frame_size", "" },
	{ "compress_level", "4" },
	{ "compress_level", "-1" },
	{ "compress_level", "1.5" },
	{ "compress_level", "high" },
	{ "compress_level", "" },
	{ "compression", "zstd" },
	{ "compression", "LZ4" },
	{ "compression", "gzip" },
	{ "compression", "" },
	{ "threads", "257" },
	{ "threads", "-1" },
	{ "threads", "4x" },
	{ "threads", "18446744073709551617" },
	{ "threads", "" },
	{ "attr_timeout", "-1" },
	{ "attr_timeout", "nan" },
	{ "dir_cache_time", "-5" },
	{ "attr_timeout", "inf" },
	{ "attr_timeout", "1e999" },
	{ "attr_timeout", "1s" },
	{ "attr_timeout", "" },
	{ "log_level", "notice" },
	{ "log_level", "INFO" },
	{ "log_level", "7" },
	{ "log_level", "" },
};

/* Compares @c with the defaults, key_file and trove_key_file included. */
static void check_defaults(const struct conf *c)
{
	assert_null(c->key_file);
	assert_null(c->trove_key_file);
	assert_int_equal(c->format, CONF_FORMAT_TFS1);
	assert_int_equal(c->frame_size, 1024 * 1024);
	assert_int_equal(c->compress_level, 1);
	assert_int_equal(c->threads, 0);
	assert_true(c->attr_timeout == 1.0);
	assert_int_equal(c->log_level, LOG_INFO);
}

static void test_conf_bad_values(void **state)
{
	char text[256];
	char want[256];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct bad_value *b = &bad_values[i];

		/* from the file: one line "t.conf:3: invalid KEY 'VALUE'" */
		n = snprintf(text, sizeof(text), "[trovefs]\n# c\n%s = %s\n",
			     b->key, b->value);
		assert_true(n > 0 && (size_t)n < sizeof(text));
		n = snprintf(want, sizeof(want),
			     "t.conf:3: invalid %s '%s': ", b->key, b->value);
		assert_true(n > 0 && (size_t)n < sizeof(want));
		conf_release(&cf);
		reset_log();
		if (conf_load_string(&cf, text, "t.conf") != -EINVAL)
			fail_msg("%s = '%s' was accepted", b->key, b->value);
		check_one_error(want);
		check_defaults(&cf);

		/* from -o: "invalid option 'KEY=VALUE'" */
		n = snprintf(want, sizeof(want),
			     "invalid option '%s=%s': ", b->key, b->value);
		assert_true(n > 0 && (size_t)n < sizeof(want));
		reset_log();
		assert_int_equal(conf_set(&cf, b->key, b->value), -EINVAL);
		check_one_error(want);
		check_defaults(&cf);
	}
}

static void test_conf_bad_value_message_says_what_is_valid(void **state)
{
	(void)state;
	assert_int_equal(conf_set(&cf, "frame_size", "3K"), -EINVAL);
	check_one_error("must be a power of two from 4K to 16M");
	reset_log();
	assert_int_equal(conf_set(&cf, "format", "zip"), -EINVAL);
	check_one_error("must be tfs1 or trove");
}

static void test_conf_set_unknown_key(void **state)
{
	(void)state;
	assert_int_equal(conf_set(&cf, "bogus", "1"), -EINVAL);
	check_one_error("unknown option 'bogus'");
	reset_log();
	assert_int_equal(conf_set(&cf, "source", "local:/x"), -EINVAL);
	check_one_error("unknown option 'source'");
	reset_log();
	assert_int_equal(conf_set(&cf, "format", NULL), -EINVAL);
	check_one_error("invalid option 'format=': ");
	check_defaults(&cf);
}

/* -o (conf_set after conf_load_*) beats the file, the file the default. */
static void test_conf_set_beats_file(void **state)
{
	static const char text[] = "[trovefs]\n"
				   "key_file = /file/key\n"
				   "format = trove\n"
				   "frame_size = 64K\n"
				   "threads = 4\n";

	(void)state;
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	assert_int_equal(conf_set(&cf, "key_file", "/cmdline/key"), 0);
	assert_int_equal(conf_set(&cf, "format", "tfs1"), 0);
	assert_int_equal(conf_set(&cf, "threads", "2"), 0);
	check_no_error();
	assert_string_equal(cf.key_file, "/cmdline/key");
	assert_int_equal(cf.format, CONF_FORMAT_TFS1);
	assert_int_equal(cf.threads, 2);
	/* from the file, not overridden */
	assert_int_equal(cf.frame_size, 64 * 1024);
	/* default, in neither */
	assert_int_equal(cf.compress_level, 1);
	assert_null(cf.trove_key_file);
	/* the same key twice on the command line: the last wins */
	assert_int_equal(conf_set(&cf, "threads", "3"), 0);
	assert_int_equal(cf.threads, 3);
}

/* ---- structure errors: one log line "ORIGIN:LINE: ..." ---- */

struct bad_text {
	const char *text;
	const char *want; /* "t.conf:LINE: message start" */
};

static const struct bad_text bad_texts[] = {
	{ "[trovefs]\nkey_file = /k\nbogus = 1\n",
	  "t.conf:3: unknown key 'bogus' in [trovefs]" },
	{ "[trovefs]\nformat = tfs1\n[nosuch]\n",
	  "t.conf:3: unknown section [nosuch]" },
	{ "[trovefs]\n[foo:bar]\nx = 1\n",
	  "t.conf:2: unknown section [foo:bar]" },
	{ "[Trovefs]\n", "t.conf:1: unknown section [Trovefs]" },
	{ "[]\n", "t.conf:1: unknown section []" },
	{ "[container]\nformat = trove\n",
	  "t.conf:1: section [container] needs a name: [container:NAME]" },
	{ "[container:]\n", "t.conf:1: section [container] needs a name" },
	{ "[swift]\nuser = u\n", "t.conf:1: section [swift] needs a name" },
	{ "\n\n[redis: ]\n", "t.conf:3: section [redis] needs a name" },
	{ "[mongodb]\n", "t.conf:1: section [mongodb] needs a name" },
	{ "[trovefs:x]\n", "t.conf:1: section [trovefs] takes no name" },
	{ "format = tfs1\n[trovefs]\n",
	  "t.conf:1: key 'format' outside any section" },
	{ "# comment\n\n; another\nthreads = 2\n",
	  "t.conf:4: key 'threads' outside any section" },
	{ "[container:a]\nformat = trove\n[container:a]\nformat = tfs1\n",
	  "t.conf:3: duplicate section [container:a]" },
	{ "[swift:s]\nuser = u\n\n[swift:s]\n",
	  "t.conf:4: duplicate section [swift:s]" },
	{ "[trovefs]\nthreads = 1\n[trovefs]\n",
	  "t.conf:3: duplicate section [trovefs] (first on line 1)" },
	{ "[trovefs]\nformat = tfs1\nformat = trove\n",
	  "t.conf:3: duplicate key 'format' (first on line 2)" },
	{ "[container:a]\nformat = tfs1\nformat = trove\n",
	  "t.conf:3: duplicate key 'format'" },
	{ "[redis:r]\nhost = a\nhost = b\n",
	  "t.conf:3: duplicate key 'host' in [redis:r]" },
	{ "[container:a]\nbogus = 1\n",
	  "t.conf:2: unknown key 'bogus' in [container:a]" },
	{ "[container:a]\nformat = zip\n",
	  "t.conf:2: invalid format 'zip': must be tfs1 or trove" },
	{ "[container:a]\ncompression = zstd\n",
	  "t.conf:2: invalid compression 'zstd': must be deflate or lz4" },
	{ "[container:a]\ncompression = lz4\ncompression = lz4\n",
	  "t.conf:3: duplicate key 'compression'" },
	{ "[trovefs]\njust some words\n",
	  "t.conf:2: expected 'key = value', '[section]' or a comment" },
	{ "[trovefs]\nformat ; = trove\n", "t.conf:2: expected 'key = value'" },
	{ "[trovefs]\n= tfs1\n", "t.conf:2: missing key name before '='" },
	{ "[trovefs\nformat = tfs1\n",
	  "t.conf:1: missing ']' in section header" },
	{ "[trovefs] junk\n", "t.conf:1: unexpected text after ']'" },
	/* '#' is a comment only at the start of a line */
	{ "[trovefs]\nformat = trove # old\n",
	  "t.conf:2: invalid format 'trove # old'" },
	/* only the first error is reported */
	{ "[trovefs]\nbogus = 1\nworse = 2\n[nope]\n",
	  "t.conf:2: unknown key 'bogus'" },
	{ "[trovefs]\nwords\nbogus = 1\n", "t.conf:2: expected" },
	{ "[nope]\n[trovefs]\nbogus = 1\n", "t.conf:1: unknown section" },
};

static void test_conf_load_bad_texts(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
		conf_release(&cf);
		reset_log();
		if (conf_load_string(&cf, bad_texts[i].text, "t.conf") !=
		    -EINVAL)
			fail_msg("accepted: '%s'", bad_texts[i].text);
		check_one_error(bad_texts[i].want);
		/* the message starts with the place */
		assert_memory_equal(last_error, "t.conf:", 7);
	}
}

static void test_conf_load_long_line(void **state)
{
	char text[512];
	int n;

	(void)state;
	/* 198 characters fit inih's 200-byte line buffer ("\n", NUL) */
	n = snprintf(text, sizeof(text), "[swift:s]\nk = %0194d\n", 7);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	check_no_error();
	assert_int_equal(strlen(conf_section_get(&cf.sections[0], "k")), 194);

	conf_release(&cf);
	n = snprintf(text, sizeof(text), "[swift:s]\nk = %0195d\n", 7);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), -EINVAL);
	check_one_error("t.conf:2: line too long (at most 198 characters)");
}

static void test_conf_load_string_null_origin(void **state)
{
	(void)state;
	assert_int_equal(conf_load_string(&cf, "[x]\n", NULL), -EINVAL);
	check_one_error("<string>:1: unknown section [x]");
}

/* ---- comments, blanks, line ends ---- */

static void test_conf_load_comments_and_blanks(void **state)
{
	static const char text[] = "; a comment\n"
				   "# another\n"
				   "\n"
				   "   \t\n"
				   "[trovefs] ; section comment\n"
				   "  # indented comment\n"
				   "format = trove ; inline comment\n"
				   "\tthreads = 4\n"
				   "    compress_level = 0\n"
				   "frame_size: 128K\n"
				   "key_file=/no/blanks;kept\n"
				   "[ container : legacy ]  # trailing\n"
				   "format = tfs1\n";

	(void)state;
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	check_no_error();
	assert_int_equal(cf.format, CONF_FORMAT_TROVE);
	/* indented lines are keys, not continuations of the previous value */
	assert_int_equal(cf.threads, 4);
	assert_int_equal(cf.compress_level, 0);
	assert_int_equal(cf.frame_size, 128 * 1024);
	/* ';' starts a comment only after a blank */
	assert_string_equal(cf.key_file, "/no/blanks;kept");
	assert_int_equal(cf.ncontainers, 1);
	assert_string_equal(cf.containers[0].name, "legacy");
	assert_int_equal(conf_format_for(&cf, "legacy"), CONF_FORMAT_TFS1);
}

static void test_conf_load_crlf_and_bom(void **state)
{
	static const char text[] = "\xEF\xBB\xBF[trovefs]\r\n"
				   "key_file = /k\r\n"
				   "format = trove\r\n"
				   "\r\n"
				   "bogus = 1\r\n";

	(void)state;
	/* the BOM is skipped, "\r" is not part of values, lines count */
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), -EINVAL);
	check_one_error("t.conf:5: unknown key 'bogus'");
	assert_string_equal(cf.key_file, "/k");
	assert_int_equal(cf.format, CONF_FORMAT_TROVE);
}

static void test_conf_load_no_final_newline(void **state)
{
	(void)state;
	assert_int_equal(
		conf_load_string(&cf, "[trovefs]\nthreads = 9", "t.conf"), 0);
	assert_int_equal(cf.threads, 9);
	assert_int_equal(conf_load_string(&cf, "", "empty"), 0);
	check_no_error();
}

/* ---- generic sections ---- */

static void test_conf_sections_kept(void **state)
{
	static const char text[] = "[swift:prod]\n"
				   "auth_url = https://keystone:5000/v3\n"
				   "user = backup\n"
				   "\n"
				   "[redis:meta]\n"
				   "host = 127.0.0.1\n"
				   "port = 6379\n"
				   "empty =\n"
				   "[mongodb:m]\n"
				   "uri = mongodb://localhost/db\n"
				   "[swift:other]\n";
	const struct conf_section *s;

	(void)state;
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	check_no_error();
	assert_int_equal(cf.nsections, 4);

	s = conf_section_find(&cf, "swift", "prod");
	assert_non_null(s);
	assert_string_equal(s->type, "swift");
	assert_string_equal(s->name, "prod");
	assert_int_equal(s->line, 1);
	assert_int_equal(s->nkv, 2);
	assert_string_equal(s->kv[0].key, "auth_url");
	assert_string_equal(s->kv[0].value, "https://keystone:5000/v3");
	assert_int_equal(s->kv[0].line, 2);
	assert_string_equal(s->kv[1].key, "user");
	assert_int_equal(s->kv[1].line, 3);
	assert_string_equal(conf_section_get(s, "user"), "backup");
	assert_null(conf_section_get(s, "password"));

	s = conf_section_find(&cf, "redis", "meta");
	assert_non_null(s);
	assert_int_equal(s->line, 5);
	assert_string_equal(conf_section_get(s, "host"), "127.0.0.1");
	assert_string_equal(conf_section_get(s, "port"), "6379");
	assert_string_equal(conf_section_get(s, "empty"), "");

	s = conf_section_find(&cf, "mongodb", "m");
	assert_non_null(s);
	assert_string_equal(conf_section_get(s, "uri"),
			    "mongodb://localhost/db");

	/* a section without keys is kept too */
	s = conf_section_find(&cf, "swift", "other");
	assert_non_null(s);
	assert_int_equal(s->nkv, 0);
	assert_int_equal(s->line, 11);

	assert_null(conf_section_find(&cf, "redis", "prod"));
	assert_null(conf_section_find(&cf, "swift", "nope"));
	assert_null(conf_section_find(&cf, "container", "prod"));
}

static void test_conf_long_section_name_kept_whole(void **state)
{
	char name[121];
	char text[200];
	int n;

	(void)state;
	/* inih itself would cut a section name at 49 bytes */
	memset(name, 'c', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	n = snprintf(text, sizeof(text), "[container:%s]\nformat = trove\n",
		     name);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	assert_int_equal(conf_format_for(&cf, name), CONF_FORMAT_TROVE);
	name[49] = '\0';
	assert_int_equal(conf_format_for(&cf, name), CONF_FORMAT_TFS1);
}

static void test_conf_duplicate_section_across_loads(void **state)
{
	(void)state;
	assert_int_equal(conf_load_string(&cf, "[swift:s]\nuser = a\n", "a"),
			 0);
	assert_int_equal(conf_load_string(&cf, "[swift:s]\nuser = b\n", "b"),
			 -EINVAL);
	check_one_error("b:1: duplicate section [swift:s]");
	assert_string_equal(
		conf_section_get(conf_section_find(&cf, "swift", "s"), "user"),
		"a");
}

/* ---- per-container formats ---- */

static void test_conf_format_for(void **state)
{
	static const char text[] = "[trovefs]\n"
				   "format = tfs1\n"
				   "[container:legacy]\n"
				   "format = trove\n"
				   "[container:plain]\n";

	(void)state;
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	assert_int_equal(conf_format_for(&cf, "legacy"), CONF_FORMAT_TROVE);
	assert_int_equal(conf_format_for(&cf, "plain"), CONF_FORMAT_TFS1);
	assert_int_equal(conf_format_for(&cf, "other"), CONF_FORMAT_TFS1);
	assert_int_equal(conf_format_for(&cf, NULL), CONF_FORMAT_TFS1);

	/* -o format=trove changes the default, also for [container:plain] */
	assert_int_equal(conf_set(&cf, "format", "trove"), 0);
	assert_int_equal(conf_format_for(&cf, "plain"), CONF_FORMAT_TROVE);
	assert_int_equal(conf_format_for(&cf, "other"), CONF_FORMAT_TROVE);

	/* but a container's own format stays */
	assert_int_equal(conf_load_string(&cf,
					  "[container:new]\n"
					  "format = tfs1\n",
					  "t2.conf"),
			 0);
	assert_int_equal(conf_format_for(&cf, "new"), CONF_FORMAT_TFS1);
	assert_int_equal(conf_format_for(&cf, "legacy"), CONF_FORMAT_TROVE);
}

static void test_conf_compression_for(void **state)
{
	static const char text[] = "[container:backups]\n"
				   "compression = lz4\n"
				   "[container:small]\n"
				   "compression = deflate\n"
				   "format = tfs1\n"
				   "[container:plain]\n";

	(void)state;
	assert_int_equal(conf_load_string(&cf, text, "t.conf"), 0);
	assert_int_equal(conf_compression_for(&cf, "backups"), CONF_COMP_LZ4);
	assert_int_equal(conf_compression_for(&cf, "small"), CONF_COMP_DEFLATE);
	assert_int_equal(conf_compression_for(&cf, "plain"), CONF_COMP_DEFLATE);
	assert_int_equal(conf_compression_for(&cf, NULL), CONF_COMP_DEFLATE);
	/* -o compression=lz4 changes the default, not a container's own */
	assert_int_equal(conf_set(&cf, "compression", "lz4"), 0);
	assert_int_equal(conf_compression_for(&cf, "plain"), CONF_COMP_LZ4);
	assert_int_equal(conf_compression_for(&cf, "other"), CONF_COMP_LZ4);
	assert_int_equal(conf_compression_for(&cf, "small"), CONF_COMP_DEFLATE);
}

/* ---- sizes ---- */

static void test_conf_parse_size_good(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(conf_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(conf_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(conf_parse_size("4k", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(conf_parse_size("1M", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(conf_parse_size("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(conf_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(conf_parse_size("007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(conf_parse_size("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(conf_parse_size("17179869183G", &v), 0);
	assert_true(v == 17179869183ull << 30);
}

static void test_conf_parse_size_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"K",
		"1X",
		"1KB",
		"1 K",
		" 1",
		"1 ",
		"-1",
		"+1",
		"0x10",
		"1.5M",
		"18446744073709551616", /* 2^64 */
		"99999999999999999999999",
		"17179869184G",	      /* 2^64 */
		"17592186044416M",    /* 2^64 */
		"18014398509481984K", /* 2^64 */
	};
	uint64_t v = 12345;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (conf_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(v, 12345);
	}
	assert_int_equal(conf_parse_size(NULL, &v), -EINVAL);
}

/* ---- secrets ---- */

static void test_conf_read_secret_ok(void **state)
{
	const char *path;
	char *secret = NULL;
	size_t len = 0;

	(void)state;
	path = write_text("key", "s3cret\nsecond line\n", 0600);
	assert_int_equal(conf_read_secret(path, "key file", &secret, &len), 0);
	check_no_error();
	assert_int_equal(len, 6);
	assert_string_equal(secret, "s3cret");
	conf_free_secret(secret, len);
}

static void test_conf_read_secret_line_ends(void **state)
{
	static const struct {
		const char *data;
		const char *want;
	} cases[] = {
		{ "crlf\r\n", "crlf" },
		{ "no newline", "no newline" },
		{ "in\rside\n", "in\rside" },
		{ "  blanks kept \n", "  blanks kept " },
		{ "a\r\nb\r\n", "a" },
	};
	const char *path;
	char *secret;
	size_t len;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		path = write_text("key", cases[i].data, 0600);
		secret = NULL;
		assert_int_equal(
			conf_read_secret(path, "key file", &secret, &len), 0);
		assert_int_equal(len, strlen(cases[i].want));
		assert_string_equal(secret, cases[i].want);
		conf_free_secret(secret, len);
	}
	check_no_error();
}

static void test_conf_read_secret_empty(void **state)
{
	static const char *const empties[] = { "", "\n", "\r\n", "\nx\n" };
	const char *path;
	char *secret = NULL;
	size_t len = 99;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		path = write_text("empty", empties[i], 0600);
		reset_log();
		assert_int_equal(
			conf_read_secret(path, "key file", &secret, &len),
			-EINVAL);
		check_one_error("is empty");
		assert_null(secret);
		assert_int_equal(len, 99);
	}
}

static void test_conf_read_secret_size_cap(void **state)
{
	char data[4100];
	const char *path;
	char *secret = NULL;
	size_t len;

	(void)state;
	memset(data, 'k', sizeof(data));
	data[4096] = '\r';
	data[4097] = '\n';
	path = write_file("big", data, 4098, 0600);
	assert_int_equal(conf_read_secret(path, "key file", &secret, &len), 0);
	assert_int_equal(len, 4096);
	assert_int_equal(strlen(secret), 4096);
	conf_free_secret(secret, len);

	secret = NULL;
	path = write_file("big", data, 4097, 0600); /* 4096 + "\r" */
	assert_int_equal(conf_read_secret(path, "key file", &secret, &len),
			 -EINVAL);
	check_one_error("longer than 4096 bytes");
	assert_null(secret);

	/* no line end within the cap */
	reset_log();
	data[4096] = 'k';
	data[4097] = 'k';
	path = write_file("big", data, sizeof(data), 0600);
	assert_int_equal(conf_read_secret(path, "key file", &secret, &len),
			 -EINVAL);
	check_one_error("longer than 4096 bytes");
	assert_null(secret);
}

/* Builds the message the permission check must give for @path. */
static void want_chmod(char *buf, size_t size, const char *what,
		       const char *path, const char *how, const char *mode)
{
	int n;

	n = snprintf(
		buf, size,
		"%s '%s' is %s by group or others (mode %s): run 'chmod 600 %s'",
		what, path, how, mode, path);
	assert_true(n > 0 && (size_t)n < size);
}

static void test_conf_read_secret_refuses_open_modes(void **state)
{
	static const struct {
		mode_t mode;
		const char *how;
		const char *text;
	} cases[] = {
		{ 0644, "readable", "0644" },
		{ 0640, "readable", "0640" },
		{ 0604, "readable", "0604" },
		{ 0620, "writable", "0620" },
		{ 0666, "readable and writable", "0666" },
		{ 0610, "accessible", "0610" },
	};
	char want[PATH_MAX + 200];
	char path[PATH_MAX];
	char *secret = NULL;
	size_t len;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s",
			 write_text("key", "s3cret\n", cases[i].mode));
		want_chmod(want, sizeof(want), "key file", path, cases[i].how,
			   cases[i].text);
		reset_log();
		assert_int_equal(
			conf_read_secret(path, "key file", &secret, &len),
			-EACCES);
		check_one_error(want);
		assert_null(secret);

		reset_log();
		assert_int_equal(conf_check_secret_file(path, "key file"),
				 -EACCES);
		check_one_error(want);
	}
	/* the secret itself never appears in a message */
	assert_null(strstr(last_error, "s3cret"));
}

static void test_conf_read_secret_missing(void **state)
{
	const char *path = tmp_path("no-such-key");
	char *secret = NULL;
	size_t len;

	(void)state;
	assert_int_equal(conf_read_secret(path, "key file", &secret, &len),
			 -ENOENT);
	check_one_error("no-such-key");
	assert_null(secret);
	reset_log();
	assert_int_equal(conf_check_secret_file(path, "key file"), -ENOENT);
	check_one_error("key file");
}

static void test_conf_secret_not_regular(void **state)
{
	char *secret = NULL;
	size_t len;

	(void)state;
	assert_int_equal(conf_check_secret_file(tmpdir, "key file"), -EINVAL);
	check_one_error("is not a regular file");
	reset_log();
	assert_int_equal(conf_read_secret(tmpdir, "key file", &secret, &len),
			 -EINVAL);
	check_one_error("is not a regular file");
	assert_null(secret);
}

static void test_conf_check_secret_file_follows_symlinks(void **state)
{
	char target[PATH_MAX];
	char link[PATH_MAX];

	(void)state;
	snprintf(target, sizeof(target), "%s",
		 write_text("target", "x\n", 0600));
	snprintf(link, sizeof(link), "%s", tmp_path("link"));
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	/* the link's own mode (0777) does not matter, the target's does */
	assert_int_equal(conf_check_secret_file(link, "key file"), 0);
	check_no_error();
	assert_int_equal(chmod(target, 0644), 0);
	assert_int_equal(conf_check_secret_file(link, "key file"), -EACCES);
	check_one_error("(mode 0644)");
	assert_int_equal(unlink(link), 0);
}

static void test_conf_check_secret_file_ok(void **state)
{
	const char *path;

	(void)state;
	path = write_text("key", "x\n", 0600);
	assert_int_equal(conf_check_secret_file(path, "key file"), 0);
	path = write_text("key", "x\n", 0400);
	assert_int_equal(conf_check_secret_file(path, NULL), 0);
	check_no_error();
}

static void test_conf_free_secret_null(void **state)
{
	(void)state;
	conf_free_secret(NULL, 0);
	conf_free_secret(NULL, 10);
}

/* ---- config files ---- */

static void test_conf_load_file_ok(void **state)
{
	char path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s",
		 write_text("ok.conf",
			    "[trovefs]\nkey_file = /etc/trovefs/key\n"
			    "threads = 3\n",
			    0600));
	assert_int_equal(conf_load_file(&cf, path), 0);
	check_no_error();
	assert_string_equal(cf.key_file, "/etc/trovefs/key");
	assert_int_equal(cf.threads, 3);
	assert_string_equal(cf.conf_file, path);
	/*
	 * main may pass the path it stored there; a later load's [trovefs]
	 * keys override the earlier ones
	 */
	assert_int_equal(conf_load_file(&cf, cf.conf_file), 0);
	check_no_error();
	assert_string_equal(cf.conf_file, path);
}

static void test_conf_load_file_world_readable_with_secret(void **state)
{
	static const char *const texts[] = {
		"[trovefs]\nkey_file = /etc/trovefs/key\n",
		"[trovefs]\ntrove_key_file = /etc/trovefs/old\n",
		"[swift:s]\nuser = u\npassword_file = /etc/trovefs/pw\n",
		"[swift:s]\nkey_file = /etc/trovefs/swift-key\n",
		"[redis:r]\npassword = hunter2\n",
		"[mongodb:m]\nsecret = x\n",
		"[mongodb:m]\ntls_key_file = /k.pem\n",
		"[swift:s]\napi_token = t\n",
	};
	char want[PATH_MAX + 200];
	char path[PATH_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(path, sizeof(path), "%s",
			 write_text("open.conf", texts[i], 0644));
		want_chmod(want, sizeof(want), "config file", path, "readable",
			   "0644");
		conf_release(&cf);
		reset_log();
		if (conf_load_file(&cf, path) != -EACCES)
			fail_msg("0644 config accepted: '%s'", texts[i]);
		check_one_error(want);
		assert_null(cf.conf_file);
		assert_null(strstr(last_error, "hunter2"));
	}
}

static void test_conf_load_file_world_readable_without_secret(void **state)
{
	static const char *const texts[] = {
		"[trovefs]\nformat = trove\nthreads = 2\n",
		"[container:c]\nformat = trove\n",
		"[mongodb:m]\nca_file = /etc/ssl/ca.pem\nuri = mongodb://h/\n",
		"[swift:s]\nkeystone_url = https://k/v3\nmonkey = 1\n",
		"",
	};
	const char *path;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		path = write_text("open.conf", texts[i], 0644);
		conf_release(&cf);
		if (conf_load_file(&cf, path) != 0)
			fail_msg("0644 config refused: '%s'", texts[i]);
		check_no_error();
		assert_string_equal(cf.conf_file, path);
	}
}

static void test_conf_load_file_errors(void **state)
{
	static const char nul_text[] = "[trovefs]\n\nthreads = 1\0\n";
	char want[PATH_MAX + 32];
	const char *path;
	int n;

	(void)state;
	path = write_text("bad.conf", "[trovefs]\nkey_file = /k\nbogus = 1\n",
			  0600);
	assert_int_equal(conf_load_file(&cf, path), -EINVAL);
	n = snprintf(want, sizeof(want), "%s:3: unknown key 'bogus'", path);
	assert_true(n > 0 && (size_t)n < sizeof(want));
	check_one_error(want);
	assert_null(cf.conf_file);

	/* a parse error is reported before the mode */
	conf_release(&cf);
	reset_log();
	path = write_text("bad.conf", "[trovefs]\nkey_file = /k\n[x]\n", 0644);
	assert_int_equal(conf_load_file(&cf, path), -EINVAL);
	check_one_error(":3: unknown section [x]");

	conf_release(&cf);
	reset_log();
	assert_int_equal(conf_load_file(&cf, tmp_path("missing.conf")),
			 -ENOENT);
	check_one_error("missing.conf");

	reset_log();
	assert_int_equal(conf_load_file(&cf, tmpdir), -EINVAL);
	check_one_error("is not a regular file");

	conf_release(&cf);
	reset_log();
	path = write_file("nul.conf", nul_text, sizeof(nul_text) - 1, 0600);
	assert_int_equal(conf_load_file(&cf, path), -EINVAL);
	check_one_error("nul.conf:3: NUL byte in line");
}

/*
 * log_once_per(): a key logs once per interval, each key on its own;
 * past the table's size the oldest key is forgotten, not a recent one.
 */
static void test_log_once_per(void **state)
{
	char key[32];
	unsigned i;

	(void)state;
	assert_true(log_once_per("datastores/a/status", 3600));
	assert_false(log_once_per("datastores/a/status", 3600));
	assert_true(log_once_per("datastores/a/recover", 3600));
	assert_false(log_once_per("datastores/a/recover", 3600));
	/* an interval of 0 always passes */
	assert_true(log_once_per("datastores/a/status", 0));
	/* more keys than the table holds: the newest are all still held,
	 * the first ones forgotten */
	for (i = 0; i < 2 * LOG_ONCE_KEYS; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		assert_true(log_once_per(key, 3600));
	}
	for (i = LOG_ONCE_KEYS; i < 2 * LOG_ONCE_KEYS; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		assert_false(log_once_per(key, 3600));
	}
	assert_true(log_once_per("k0", 3600));
}

/* log_problems_here() counts this thread's warnings and errors only */
static void *warn_once(void *arg)
{
	(void)arg;
	log_warn("another thread's warning");
	return NULL;
}

static void test_log_problems_here(void **state)
{
	unsigned said = log_problems_here();
	pthread_t t;

	(void)state;
	log_info("an info line");
	log_debug("a debug line");
	assert_int_equal(log_problems_here(), said);
	assert_int_equal(pthread_create(&t, NULL, warn_once, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(log_problems_here(), said);
	log_warn("a warning");
	log_error("an error");
	assert_int_equal(log_problems_here(), said + 2);
	/* held lines count too: they say why, whether written or not */
	log_defer_begin();
	log_error("a held error");
	log_defer_end(true, NULL, 0);
	assert_int_equal(log_problems_here(), said + 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_conf_init_defaults),
		T(test_conf_release_twice),
		T(test_conf_load_every_key),
		T(test_conf_good_values),
		T(test_conf_bad_values),
		T(test_conf_bad_value_message_says_what_is_valid),
		T(test_conf_set_unknown_key),
		T(test_conf_set_beats_file),
		T(test_conf_load_bad_texts),
		T(test_conf_load_long_line),
		T(test_conf_load_string_null_origin),
		T(test_conf_load_comments_and_blanks),
		T(test_conf_load_crlf_and_bom),
		T(test_conf_load_no_final_newline),
		T(test_conf_sections_kept),
		T(test_conf_long_section_name_kept_whole),
		T(test_conf_duplicate_section_across_loads),
		T(test_conf_format_for),
		T(test_conf_compression_for),
		T(test_conf_parse_size_good),
		T(test_conf_parse_size_bad),
		T(test_conf_read_secret_ok),
		T(test_conf_read_secret_line_ends),
		T(test_conf_read_secret_empty),
		T(test_conf_read_secret_size_cap),
		T(test_conf_read_secret_refuses_open_modes),
		T(test_conf_read_secret_missing),
		T(test_conf_secret_not_regular),
		T(test_conf_check_secret_file_follows_symlinks),
		T(test_conf_check_secret_file_ok),
		T(test_conf_free_secret_null),
		T(test_conf_load_file_ok),
		T(test_conf_load_file_world_readable_with_secret),
		T(test_conf_load_file_world_readable_without_secret),
		T(test_conf_load_file_errors),
		T(test_log_once_per),
		T(test_log_problems_here),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
