/*
 * swift_tool.c - a small CLI over the Swift store for the integration
 * tests (tests/integration/test_swift_store.sh), without FUSE:
 *
 *   swift_tool CONF put C K [k=v...] < data    write (commit with meta)
 *   swift_tool CONF put-abort C K < data       write, then abort
 *   swift_tool CONF get C K > data
 *   swift_tool CONF head C K                   size, then k=v lines
 *   swift_tool CONF ls C [PREFIX [DELIM]]      "name size partial k=v..."
 *                                              or "name/ subdir"
 *   swift_tool CONF lsc                        "name count bytes"
 *   swift_tool CONF rm C K
 *   swift_tool CONF mv C K C2 K2
 *   swift_tool CONF setmeta C K [k=v...]
 *   swift_tool CONF mkc C | rmc C
 *   swift_tool CONF statfs                     "used objects total free"
 *
 * CONF holds "key = value" lines of a [swift:NAME] section (a section
 * header line and '#' comments are ignored). Exit status: 0, or 1 with
 * "swift_tool: OP: strerror" on stderr; the errno's name is printed too
 * so tests can match it ("ENOENT").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../../backends/swift_store.h"
#include "../../conf/log.h"

#define CHUNK (4u << 20)

static const char *errname(int err)
{
	switch (-err) {
	case ENOENT:
		return "ENOENT";
	case EEXIST:
		return "EEXIST";
	case ENOTEMPTY:
		return "ENOTEMPTY";
	case EACCES:
		return "EACCES";
	case EIO:
		return "EIO";
	case EINVAL:
		return "EINVAL";
	case EFBIG:
		return "EFBIG";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case EHOSTUNREACH:
		return "EHOSTUNREACH";
	case EXDEV:
		return "EXDEV";
	case ESTALE:
		return "ESTALE";
	default:
		return "E?";
	}
}

static int load_conf(const char *path, struct swift_conf *c)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int lineno = 0;
	int err = 0;

	if (!f) {
		fprintf(stderr, "swift_tool: cannot open '%s': %s\n", path,
			strerror(errno));
		return -errno;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		char *k = line;
		char *eq;
		char *v;
		char *e;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		while (*k == ' ' || *k == '\t')
			k++;
		if (!*k || *k == '#' || *k == ';' || *k == '[')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			fprintf(stderr, "swift_tool: %s:%d: no '='\n", path,
				lineno);
			err = -EINVAL;
			break;
		}
		v = eq + 1;
		e = eq;
		while (e > k && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		err = swift_conf_set(c, k, v);
	}
	fclose(f);
	return err;
}

static int meta_args(int argc, char **argv, struct meta *m)
{
	int i;

	for (i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		int err;

		if (!eq)
			return -EINVAL;
		*eq = '\0';
		err = meta_set(m, argv[i], eq + 1);
		*eq = '=';
		if (err)
			return err;
	}
	return 0;
}

static void print_meta(const struct meta *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		printf(" %s=%s", m->v[i].key, m->v[i].value);
}

static int print_obj(void *arg, const struct obj_info *oi)
{
	(void)arg;
	if (oi->is_subdir) {
		printf("%s subdir\n", oi->name);
		return 0;
	}
	printf("%s %llu %s", oi->name, (unsigned long long)oi->size,
	       oi->meta_partial ? "partial" : "full");
	print_meta(&oi->meta);
	printf("\n");
	return 0;
}

static int print_container(void *arg, const struct obj_info *oi)
{
	(void)arg;
	printf("%s %llu %llu\n", oi->name, (unsigned long long)oi->count,
	       (unsigned long long)oi->size);
	return 0;
}

static int do_put(struct store *st, char **argv, int argc, bool commit)
{
	struct store_writer *w = NULL;
	struct meta m;
	char *buf;
	int err;

	meta_init(&m);
	err = meta_args(argc, argv + 2, &m);
	if (err)
		goto out_meta;
	buf = malloc(CHUNK);
	if (!buf) {
		err = -ENOMEM;
		goto out_meta;
	}
	err = store_writer_open(st, argv[0], argv[1], NULL, &w);
	if (err)
		goto out_buf;
	/*
	 * read(2), not fread(): what arrives is written at once, as cp does
	 * (a test feeds a FIFO and waits for the first segment to go up)
	 */
	for (;;) {
		ssize_t got = read(STDIN_FILENO, buf, CHUNK);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0)
			break;
		err = store_writer_write(w, buf, (size_t)got);
		if (err)
			break;
	}
	if (err || !commit)
		store_writer_abort(w);
	else
		err = store_writer_commit(w, &m);
out_buf:
	free(buf);
out_meta:
	meta_release(&m);
	return err;
}

static int do_get(struct store *st, char **argv)
{
	struct store_reader *r;
	uint64_t off = 0;
	char *buf;
	int err;

	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	err = store_reader_open(st, argv[0], argv[1], &r);
	if (err)
		goto out_buf;
	for (;;) {
		size_t got = 0;

		err = store_reader_read(r, off, buf, CHUNK, &got);
		if (err || got == 0)
			break;
		if (fwrite(buf, 1, got, stdout) != got) {
			err = -EIO;
			break;
		}
		off += got;
	}
	if (!err && off != r->size)
		err = -EBADMSG;
	store_reader_close(r);
out_buf:
	free(buf);
	return err;
}

static int do_head(struct store *st, char **argv)
{
	struct obj_info oi;
	int err = store_head(st, argv[0], argv[1], &oi);

	if (err)
		return err;
	printf("%llu", (unsigned long long)oi.size);
	print_meta(&oi.meta);
	printf("\n");
	obj_info_release(&oi);
	return 0;
}

static int run(struct store *st, const char *op, int argc, char **argv)
{
	struct store_statfs sf;
	struct meta m;
	int err;

	if (!strcmp(op, "put") && argc >= 2)
		return do_put(st, argv, argc - 2, true);
	if (!strcmp(op, "put-abort") && argc == 2)
		return do_put(st, argv, 0, false);
	if (!strcmp(op, "get") && argc == 2)
		return do_get(st, argv);
	if (!strcmp(op, "head") && argc == 2)
		return do_head(st, argv);
	if (!strcmp(op, "ls") && argc >= 1 && argc <= 3)
		return store_list(st, argv[0], argc > 1 ? argv[1] : "",
				  argc > 2 ? argv[2][0] : 0, print_obj, NULL);
	if (!strcmp(op, "lsc") && argc == 0)
		return store_list_containers(st, print_container, NULL);
	if (!strcmp(op, "rm") && argc == 2)
		return store_del(st, argv[0], argv[1]);
	if (!strcmp(op, "mv") && argc == 4)
		return store_rename(st, argv[0], argv[1], argv[2], argv[3]);
	if (!strcmp(op, "mkc") && argc == 1)
		return store_create_container(st, argv[0]);
	if (!strcmp(op, "rmc") && argc == 1)
		return store_delete_container(st, argv[0]);
	if (!strcmp(op, "setmeta") && argc >= 2) {
		meta_init(&m);
		err = meta_args(argc - 2, argv + 2, &m);
		if (!err)
			err = store_set_meta(st, argv[0], argv[1], &m);
		meta_release(&m);
		return err;
	}
	if (!strcmp(op, "statfs") && argc == 0) {
		err = store_statfs(st, &sf);
		if (!err)
			printf("%llu %llu %llu %llu\n",
			       (unsigned long long)sf.bytes_used,
			       (unsigned long long)sf.objects,
			       (unsigned long long)sf.bytes_total,
			       (unsigned long long)sf.bytes_free);
		return err;
	}
	fprintf(stderr, "swift_tool: bad command or arguments: %s\n", op);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct swift_conf conf;
	struct store *st = NULL;
	int err;

	if (argc < 3) {
		fprintf(stderr,
			"usage: swift_tool CONF put|put-abort|get|head|ls|lsc|rm|mv|setmeta|mkc|rmc|statfs ARGS\n");
		return 2;
	}
	log_init("swift_tool", false,
		 getenv("SWIFT_TOOL_DEBUG") ? LOG_DEBUG : LOG_WARNING);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	swift_conf_init(&conf);
	err = load_conf(argv[1], &conf);
	if (!err)
		err = swift_store_new(&conf, &st);
	swift_conf_release(&conf);
	if (!err)
		err = run(st, argv[2], argc - 3, argv + 3);
	store_destroy(st);
	curl_global_cleanup();
	if (fflush(stdout) != 0 && !err)
		err = -EIO;
	if (err) {
		fprintf(stderr, "swift_tool: %s: %s (%s)\n", argv[2],
			strerror(-err), errname(err));
		return 1;
	}
	return 0;
}
