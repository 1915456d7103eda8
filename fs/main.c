/*
 * main.c - the trovefs daemon: command line and config file into a struct
 * conf, the store stack, the namespace, then fuse_main().
 *
 *   trovefs [-f] [-d] [-s] [-o conf=FILE,OPTION=VALUE,...] SOURCE MOUNTPOINT
 *
 * Our -o keys are taken out of the arguments (fuse_opt with a callback)
 * and applied after the config file, so the command line wins; every other
 * option goes on to FUSE. Secrets are never on the command line: key_file
 * names a file. Exit codes: 0, or 1 with a one-line message for usage and
 * configuration errors (or when fuse_main() fails).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backends/stack.h"
#include "../backends/swift_store.h"
#include "../conf/conf.h"
#include "../conf/log.h"
#include "../datastores/ds.h"
#include "../datastores/ds_fs.h"
#include "fuse_ops.h"
#include "vfs.h"

/*
 * malloc: blocks of TFS_MMAP_THRESHOLD or more are mmap()ed; an arena
 * keeps at most TFS_TRIM_THRESHOLD free at its top. Per-frame scratch
 * (ISA-L state, a decrypted frame: up to about 1 MiB) stays below the
 * first, so it is reused rather than mapped and faulted in for each frame
 * (a 256 KiB threshold cost 450,000 page faults per GiB read). See main().
 */
#define TFS_MMAP_THRESHOLD (1 << 20)
#define TFS_TRIM_THRESHOLD (2 << 20)

#define TFS_MAX_OPTS 64 /* -o keys of ours on one command line */

/*
 * libfuse 3.14's fuse_main() passes its default max_idle_threads (-1:
 * idle workers never exit) to a setter that rejects it with "Ignoring
 * invalid max threads value 4294967295" on stderr at every mount
 * (libfuse issue #1003). Its largest valid value means the same here,
 * since there are never more idle workers than max_threads.
 */
#define TFS_MAX_IDLE_THREADS "100000"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_CONF,
	KEY_FOREGROUND,
	KEY_FSNAME,
	KEY_SUBTYPE,
	KEY_MAX_IDLE,
};

struct args {
	char *conf_file;  /* owned (fuse_opt strdup()s it) */
	char *source;	  /* owned */
	char *mountpoint; /* owned; also left in the FUSE args */
	int nonopts;
	bool help;
	bool version;
	bool foreground;
	bool fsname; /* given by the user: keep theirs */
	bool subtype;
	bool max_idle;		  /* max_idle_threads given by the user */
	char *opts[TFS_MAX_OPTS]; /* owned "key=value" of ours */
	size_t nopts;
	bool bad; /* a usage error was printed */
};

#define TFS_OPT(t, p, v)                                                       \
	{                                                                      \
		t, offsetof(struct args, p), v                                 \
	}

/* one option a line */
/* clang-format off */
static const struct fuse_opt tfs_opts[] = {
	TFS_OPT("conf=%s", conf_file, 0),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_FOREGROUND),
	FUSE_OPT_KEY("debug", KEY_FOREGROUND),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("max_idle_threads=", KEY_MAX_IDLE),
	/* the [trovefs] keys of conf.h, applied with conf_set() */
	FUSE_OPT_KEY("key_file=", KEY_CONF),
	FUSE_OPT_KEY("trove_key_file=", KEY_CONF),
	FUSE_OPT_KEY("format=", KEY_CONF),
	FUSE_OPT_KEY("frame_size=", KEY_CONF),
	FUSE_OPT_KEY("compress_level=", KEY_CONF),
	FUSE_OPT_KEY("compression=", KEY_CONF),
	FUSE_OPT_KEY("threads=", KEY_CONF),
	FUSE_OPT_KEY("attr_timeout=", KEY_CONF),
	FUSE_OPT_KEY("dir_cache_time=", KEY_CONF),
	FUSE_OPT_KEY("log_level=", KEY_CONF),
	FUSE_OPT_END
};
/* clang-format on */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: trovefs [-f] [-d] [-s] [-o OPTION[,OPTION...]] SOURCE MOUNTPOINT\n"
		"\n"
		"SOURCE:\n"
		"    local:/DIR             embedded store in DIR\n"
		"    swift:NAME             the [swift:NAME] section of the config\n"
		"\n"
		"trovefs options:\n"
		"    -o conf=FILE           config file (INI, see trovefs.conf(5))\n"
		"    -o key_file=FILE       secret for the tfs1 format (mode 0600)\n"
		"    -o trove_key_file=FILE passphrase for the Trove format\n"
		"    -o format=tfs1|trove   format of new objects (default tfs1)\n"
		"    -o frame_size=SIZE     tfs1 frame size (default 1M)\n"
		"    -o compress_level=N    0 = off, 1..3 (default 1)\n"
		"    -o compression=ALG     tfs1 frames: deflate (default) or lz4\n"
		"    -o threads=N           encoding threads (default: CPUs)\n"
		"    -o attr_timeout=S      kernel attribute cache, seconds (default 1)\n"
		"    -o dir_cache_time=S    listing stat cache, seconds (default 30)\n"
		"    -o log_level=L         err|warning|info|debug (default info)\n"
		"    -h, --help             this help\n"
		"    -V, --version          print versions\n"
		"\n");
}

/* fuse_opt callback: 0 discards the argument, 1 keeps it for FUSE. */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct args *a = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		a->help = true;
		return 0;
	case KEY_VERSION:
		a->version = true;
		return 0;
	case KEY_FOREGROUND:
		a->foreground = true;
		return 1;
	case KEY_FSNAME:
		a->fsname = true;
		return 1;
	case KEY_SUBTYPE:
		a->subtype = true;
		return 1;
	case KEY_MAX_IDLE:
		a->max_idle = true;
		return 1;
	case KEY_CONF:
		/* kept until the config file is read: the command line wins */
		if (a->nopts == TFS_MAX_OPTS) {
			fprintf(stderr, "trovefs: too many options\n");
			a->bad = true;
			return -1;
		}
		a->opts[a->nopts] = strdup(arg);
		if (!a->opts[a->nopts]) {
			a->bad = true;
			return -1;
		}
		a->nopts++;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		a->nonopts++;
		if (a->nonopts == 1) {
			a->source = strdup(arg);
			return a->source ? 0 : -1;
		}
		if (a->nonopts == 2) {
			a->mountpoint = strdup(arg);
			return a->mountpoint ? 1 : -1;
		}
		fprintf(stderr,
			"trovefs: unexpected argument '%s' (see trovefs --help)\n",
			arg);
		a->bad = true;
		return -1;
	default:
		return 1;
	}
}

static void args_release(struct args *a)
{
	size_t i;

	free(a->conf_file);
	free(a->source);
	free(a->mountpoint);
	for (i = 0; i < a->nopts; i++)
		free(a->opts[i]);
}

/* Applies the collected -o keys after the config file. */
static int apply_opts(struct conf *c, struct args *a)
{
	size_t i;
	int err;

	for (i = 0; i < a->nopts; i++) {
		char *eq = strchr(a->opts[i], '=');

		if (!eq)
			return -EINVAL;
		*eq = '\0';
		err = conf_set(c, a->opts[i], eq + 1);
		*eq = '=';
		if (err)
			return err;
	}
	return 0;
}

/*
 * Adds "-o NAME=VALUE" to @args, escaping ',' and '\' in @value as
 * fuse_opt expects. Returns 0 or -ENOMEM.
 */
static int add_opt(struct fuse_args *args, const char *name, const char *value)
{
	size_t len = strlen(name) + 2 * strlen(value) + 4;
	char *s = malloc(len);
	char *p;
	int err;

	if (!s)
		return -ENOMEM;
	p = s;
	*p++ = '-';
	*p++ = 'o';
	memcpy(p, name, strlen(name));
	p += strlen(name);
	*p++ = '=';
	for (; *value; value++) {
		if (*value == ',' || *value == '\\')
			*p++ = '\\';
		*p++ = *value;
	}
	*p = '\0';
	err = fuse_opt_add_arg(args, s) ? -ENOMEM : 0;
	free(s);
	return err;
}

/* conf, stack, vfs, fuse_main; returns the exit code. */
static int run(struct fuse_args *args, struct args *a)
{
	struct trovefs_fuse t = { 0 };
	struct vfs_conf vc = { 0 };
	struct ds_set *dss = NULL;
	struct ds_fs *dsf = NULL;
	struct store *st;
	struct vfs *v;
	struct conf c;
	int ret = 1;
	int sig;

	conf_init(&c);
	log_init("trovefs", false, LOG_INFO);
	if (a->conf_file && conf_load_file(&c, a->conf_file))
		goto out_release;
	if (apply_opts(&c, a))
		goto out_release;
	log_init("trovefs", false, c.log_level);
	free(c.source);
	free(c.mountpoint);
	c.source = strdup(a->source);
	c.mountpoint = strdup(a->mountpoint);
	if (!c.source || !c.mountpoint)
		goto out_release;
	if ((!a->fsname && add_opt(args, "fsname", a->source)) ||
	    (!a->subtype && add_opt(args, "subtype", "trovefs")) ||
	    (!a->max_idle &&
	     add_opt(args, "max_idle_threads", TFS_MAX_IDLE_THREADS)))
		goto out_release;

	if (stack_build(&c, &st))
		goto out_release;
	vc.uid = getuid();
	vc.gid = getgid();
	vc.default_file_mode = 0644;
	vc.default_dir_mode = 0755;
	vc.attr_timeout = c.dir_cache_time;
	vc.blksize = 1u << 20;
	vc.format_for = NULL; /* the codec layer picks per container */
	vc.interrupted = trovefs_fuse_interrupted;
	if (vfs_new(&vc, st, &v)) {
		log_error("cannot set up the filesystem: out of memory");
		goto out_destroy_store;
	}
	/* [redis:NAME] ... sections: restore/ and datastores/ */
	if (ds_set_new(&c, st, &dss))
		goto out_free_vfs;
	if (ds_fs_register(v, dss, &dsf)) {
		log_error("cannot set up restore/ and datastores/");
		goto out_free_vfs;
	}
	t.v = v;
	t.attr_timeout = c.attr_timeout;
	t.foreground = a->foreground;
	t.log_level = c.log_level;

	ret = fuse_main(args->argc, args->argv, &trovefs_fuse_ops, &t) ? 1 : 0;
	sig = trovefs_fuse_stop_signal();
	if (sig)
		log_info("stopped by SIG%s: unmounted", sigabbrev_np(sig));

out_free_vfs:
	vfs_free(v);
	ds_fs_free(dsf);
	ds_set_free(dss);
out_destroy_store:
	store_destroy(st);
out_release:
	conf_release(&c);
	return ret;
}

/* ---- trovefs gc ---- */

static int gc_print(void *arg, const char *seg_container, const char *name,
		    uint64_t bytes)
{
	(void)arg;
	printf("%s/%s %llu\n", seg_container, name, (unsigned long long)bytes);
	return 0;
}

/*
 * trovefs gc [-o conf=FILE] [--dry-run] [--grace=SECONDS] SOURCE
 * [CONTAINER]: removes the segments a killed daemon left (swift_gc.c),
 * printing each. Runs before FUSE option parsing; returns the exit code.
 */
static int gc_main(int argc, char *argv[])
{
	struct swift_gc_opts o = { .grace_s = SWIFT_GC_DEF_GRACE,
				   .fn = gc_print };
	const char *pos[2] = { NULL, NULL };
	const char *conf_file = NULL;
	unsigned long long grace;
	uint64_t removed = 0;
	struct store *st;
	struct conf c;
	char *end;
	int npos = 0;
	int ret = 1;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc &&
		    !strncmp(argv[i + 1], "conf=", 5)) {
			conf_file = argv[++i] + 5;
		} else if (!strcmp(argv[i], "--dry-run")) {
			o.dry_run = true;
		} else if (!strncmp(argv[i], "--grace=", 8)) {
			errno = 0;
			grace = strtoull(argv[i] + 8, &end, 10);
			if (errno || end == argv[i] + 8 || *end) {
				fprintf(stderr, "trovefs gc: bad --grace\n");
				return 1;
			}
			o.grace_s = grace;
		} else if (argv[i][0] != '-' && npos < 2) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr,
				"usage: trovefs gc [-o conf=FILE] [--dry-run] [--grace=SECONDS] SOURCE [CONTAINER]\n");
			return 1;
		}
	}
	if (npos < 1) {
		fprintf(stderr, "trovefs gc: expected SOURCE (swift:NAME)\n");
		return 1;
	}
	conf_init(&c);
	log_init("trovefs", false, LOG_INFO);
	if (conf_file && conf_load_file(&c, conf_file))
		goto out_release;
	c.source = strdup(pos[0]);
	if (!c.source || stack_build(&c, &st))
		goto out_release;
	if (!swift_store_gc_opts(st, pos[1], &o, &removed)) {
		printf("%llu segment%s %s\n", (unsigned long long)removed,
		       removed == 1 ? "" : "s",
		       o.dry_run ? "would be removed (dry run)" : "removed");
		ret = 0;
	} else {
		fprintf(stderr, "trovefs gc: failed after %llu segment(s)\n",
			(unsigned long long)removed);
	}
	store_destroy(st);
out_release:
	conf_release(&c);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct args a = { 0 };
	int ret = 1;

	/*
	 * Long-lived big buffers (a file's frame slots, segments) straight
	 * from mmap and back to the system on free(); what is freed below
	 * that stays in the arenas only up to TFS_TRIM_THRESHOLD each.
	 * glibc's default raises its mmap threshold to the largest block
	 * freed so far (8 MiB segments), and each thread's arena then kept
	 * up to twice that: the daemon grew by 10-20 MiB per file copied,
	 * to 83-119 MiB, though nothing leaked. Setting both turns that
	 * adjustment off.
	 */
	mallopt(M_MMAP_THRESHOLD, TFS_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, TFS_TRIM_THRESHOLD);

	/* before any thread: libcurl's global state is not thread-safe */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "trovefs: cannot initialise libcurl\n");
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "gc") == 0) {
		ret = gc_main(argc - 1, argv + 1);
		goto out_free;
	}
	if (fuse_opt_parse(&args, &a, tfs_opts, opt_proc) == -1) {
		if (!a.bad)
			fprintf(stderr,
				"trovefs: invalid arguments (see trovefs --help)\n");
		goto out_free;
	}
	if (a.help) {
		usage(stdout);
		printf("FUSE options:\n");
		fflush(stdout);
		fuse_cmdline_help();
		fuse_lib_help(&args);
		ret = 0;
		goto out_free;
	}
	if (a.version) {
		printf("trovefs %s\nlibfuse %s\n", TROVEFS_VERSION,
		       fuse_pkgversion());
		ret = 0;
		goto out_free;
	}
	if (a.nonopts != 2) {
		fprintf(stderr,
			"trovefs: expected SOURCE and MOUNTPOINT (see trovefs --help)\n");
		goto out_free;
	}
	ret = run(&args, &a);
out_free:
	args_release(&a);
	fuse_opt_free_args(&args);
	curl_global_cleanup();
	return ret;
}
