/*
 * repl_tool.c - drives datastores/redis_repl.c without FUSE, for
 * tests/integration/test_redis_replication.sh:
 *
 *   repl_tool CONF read NAME/FILE           prints the file's content
 *   repl_tool CONF write NAME/FILE [DATA]   writes DATA (or stdin)
 *
 * NAME/FILE is what follows datastores/ in the mount minus "replication/"
 * (e.g. "b/role"). CONF holds "key = value" lines ('#' comments):
 *
 *   node = NAME HOST PORT     one per datastore of the set (repeatable)
 *   password_file = PATH      optional, shared by every node
 *   timeout = SECONDS         connect/command timeout (default 2)
 *   wait_timeout = SECONDS    promote catch-up budget (default 10)
 *
 * Exit status 0, or 1 with "repl_tool: OP: strerror" on stderr. Log lines
 * of the module go to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../conf/buf.h"
#include "../../conf/log.h"
#include "../../datastores/redis_repl.h"

#define TOOL_MAX_NODES 16
#define TOOL_FIELD_MAX 256

struct tool_node {
	char name[TOOL_FIELD_MAX];
	char host[TOOL_FIELD_MAX];
};

struct tool_conf {
	struct tool_node nodes[TOOL_MAX_NODES];
	struct redis_addr addrs[TOOL_MAX_NODES];
	size_t n;
	char password[TOOL_FIELD_MAX];
	bool have_password;
	double timeout;
	double wait_timeout;
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int read_password(const char *path, struct tool_conf *c)
{
	FILE *f = fopen(path, "r");
	char *p;

	if (!f)
		return -errno;
	p = fgets(c->password, sizeof(c->password), f);
	fclose(f);
	if (!p)
		return -EINVAL;
	p = trim(c->password);
	memmove(c->password, p, strlen(p) + 1);
	c->have_password = true;
	return 0;
}

static int add_node(struct tool_conf *c, const char *v)
{
	struct tool_node *n = &c->nodes[c->n];
	char portstr[16];
	char *end;
	long port;

	if (c->n == TOOL_MAX_NODES)
		return -E2BIG;
	if (sscanf(v, "%255s %255s %15s", n->name, n->host, portstr) != 3)
		return -EINVAL;
	errno = 0;
	port = strtol(portstr, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -EINVAL;
	c->addrs[c->n].name = n->name;
	c->addrs[c->n].host = n->host;
	c->addrs[c->n].port = (int)port;
	c->n++;
	return 0;
}

static int load_conf(const char *path, struct tool_conf *c)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	size_t i;
	int err = 0;

	if (!f)
		return -errno;
	c->timeout = 2;
	c->wait_timeout = 10;
	while (!err && fgets(line, sizeof(line), f)) {
		char *k = trim(line);
		char *eq = strchr(k, '=');
		char *v;

		if (!*k || *k == '#' || *k == '[')
			continue;
		if (!eq) {
			err = -EINVAL;
			break;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (strcmp(k, "node") == 0)
			err = add_node(c, v);
		else if (strcmp(k, "password_file") == 0)
			err = read_password(v, c);
		else if (strcmp(k, "timeout") == 0)
			c->timeout = strtod(v, NULL);
		else if (strcmp(k, "wait_timeout") == 0)
			c->wait_timeout = strtod(v, NULL);
		else
			err = -EINVAL;
	}
	fclose(f);
	for (i = 0; i < c->n; i++) {
		c->addrs[i].timeout = c->timeout;
		c->addrs[i].password = c->have_password ? c->password : NULL;
	}
	return err;
}

static int read_all(int fd, struct buf *b)
{
	char chunk[4096];
	ssize_t got;

	for (;;) {
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0)
			return -errno;
		if (got == 0)
			return b->err;
		buf_append(b, chunk, (size_t)got);
	}
}

int main(int argc, char **argv)
{
	struct tool_conf *conf;
	struct redis_repl_env env = { 0 };
	const char *op;
	const char *slash;
	struct buf b;
	size_t i;
	int err;

	if (argc < 4 || argc > 5) {
		fprintf(stderr,
			"usage: repl_tool CONF read|write NAME/FILE [DATA]\n");
		return 2;
	}
	log_init("repl_tool", false, LOG_INFO);
	conf = calloc(1, sizeof(*conf));
	if (!conf)
		return 1;
	op = argv[2];
	err = load_conf(argv[1], conf);
	if (err) {
		fprintf(stderr, "repl_tool: cannot load '%s': %s\n", argv[1],
			strerror(-err));
		free(conf);
		return 1;
	}
	slash = strchr(argv[3], '/');
	for (i = 0; slash && i < conf->n; i++)
		if (strlen(conf->nodes[i].name) == (size_t)(slash - argv[3]) &&
		    strncmp(conf->nodes[i].name, argv[3],
			    (size_t)(slash - argv[3])) == 0)
			env.self = &conf->addrs[i];
	if (!env.self) {
		fprintf(stderr, "repl_tool: no node for '%s'\n", argv[3]);
		free(conf);
		return 1;
	}
	env.all = conf->addrs;
	env.nall = conf->n;
	env.wait_timeout = conf->wait_timeout;
	buf_init(&b, 1u << 20);
	if (strcmp(op, "read") == 0) {
		err = redis_repl_read(&env, slash + 1, &b);
		if (!err)
			fwrite(buf_str(&b), 1, b.len, stdout);
	} else if (strcmp(op, "write") == 0) {
		if (argc == 5)
			err = buf_puts(&b, argv[4]);
		else
			err = read_all(0, &b);
		if (!err)
			err = redis_repl_write(&env, slash + 1, buf_str(&b),
					       b.len);
	} else {
		err = -EINVAL;
	}
	buf_release(&b);
	free(conf);
	if (err) {
		fprintf(stderr, "repl_tool: %s: %s\n", op, strerror(-err));
		return 1;
	}
	return 0;
}
