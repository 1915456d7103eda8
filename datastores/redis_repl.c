/*
 * redis_repl.c - Redis replication as pseudo-files (contract in
 * redis_repl.h): the read files, replica_of, and the pure logic shared
 * with redis_failover.c (promote, eject): INFO parsing, "HOST PORT"
 * parsing, the choice of the replica to promote.
 *
 * Everything a file shows is read from INFO at the time of the call; no
 * state is kept between calls. Each call opens its own connections and
 * closes them before returning, so calls may run in parallel threads.
 * Addresses are compared as strings (loopback names count as one host,
 * see redis_repl_same_host()); a node is "the same server" as another
 * when their INFO run_id match. No locks.
 *
 * Pointing a node at a configured source sets its masterauth/masteruser
 * from that source's datastore first (redis_repl_point()); the password
 * goes out as a command argument only, never into a log line.
 */
#include "redis_repl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../conf/log.h"
#include "redis_repl_i.h"

#define REDIS_REPL_ARGV_MAX 8
#define REDIS_REPL_WRITE_MAX 512 /* bytes accepted by replica_of */

const char *const redis_repl_files[] = {
	"role",	      "source",	    "replicas", "offset", "lag", "link",
	"candidates", "replica_of", "promote",	"eject",  NULL,
};

/* Index in redis_repl_files[] of the first writable file. */
#define REDIS_REPL_FIRST_WRITABLE 7

bool redis_repl_file_lookup(const char *file, bool *writable)
{
	size_t i;

	for (i = 0; redis_repl_files[i]; i++) {
		if (strcmp(file, redis_repl_files[i]) == 0) {
			*writable = i >= REDIS_REPL_FIRST_WRITABLE;
			return true;
		}
	}
	return false;
}

/* ---- parsing ---- */

static int parse_ll(const char *s, size_t len, long long *out)
{
	char tmp[32];
	char *end;
	long long v;

	if (len == 0 || len >= sizeof(tmp))
		return -EPROTO;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno || *end != '\0')
		return -EPROTO;
	*out = v;
	return 0;
}

static int copy_field(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		return -EPROTO;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

static int parse_port(const char *s, size_t len, int *port)
{
	long long v;

	if (parse_ll(s, len, &v) || v < 1 || v > 65535)
		return -EPROTO;
	*port = (int)v;
	return 0;
}

/*
 * "ip=127.0.0.1,port=7002,state=online,offset=42,lag=0". Port 0 is valid:
 * a client that sent no REPLCONF listening-port, i.e. an RDB transfer
 * (REPLCONF rdb-only + SYNC: trovefs's sync backups, redis-cli --rdb),
 * which Redis lists among the replicas while it runs.
 */
static int parse_slave(const char *v, size_t len, struct redis_repl_replica *r)
{
	const char *end = v + len;
	bool have_ip = false;
	bool have_port = false;
	long long n = 0;

	memset(r, 0, sizeof(*r));
	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		const char *item_end = comma ? comma : end;
		const char *eq = memchr(v, '=', (size_t)(item_end - v));
		size_t klen;
		const char *val;
		size_t vlen;
		int err = 0;

		if (!eq)
			return -EPROTO;
		klen = (size_t)(eq - v);
		val = eq + 1;
		vlen = (size_t)(item_end - val);
		if (klen == 2 && memcmp(v, "ip", 2) == 0) {
			err = copy_field(r->host, sizeof(r->host), val, vlen);
			have_ip = true;
		} else if (klen == 4 && memcmp(v, "port", 4) == 0) {
			err = parse_ll(val, vlen, &n);
			if (!err && (n < 0 || n > 65535))
				err = -EPROTO;
			r->port = (int)n;
			have_port = true;
		} else if (klen == 5 && memcmp(v, "state", 5) == 0) {
			err = copy_field(r->state, sizeof(r->state), val, vlen);
		} else if (klen == 6 && memcmp(v, "offset", 6) == 0) {
			err = parse_ll(val, vlen, &r->offset);
		} else if (klen == 3 && memcmp(v, "lag", 3) == 0) {
			err = parse_ll(val, vlen, &r->lag);
		}
		if (err)
			return err;
		v = comma ? comma + 1 : end;
	}
	return have_ip && have_port ? 0 : -EPROTO;
}

static bool key_is(const char *k, size_t klen, const char *want)
{
	return strlen(want) == klen && memcmp(k, want, klen) == 0;
}

/* "slave0".."slave63": the replica lines (not slave_repl_offset...). */
static bool key_is_slave_n(const char *k, size_t klen)
{
	size_t i;

	if (klen <= 5 || memcmp(k, "slave", 5) != 0)
		return false;
	for (i = 5; i < klen; i++)
		if (!isdigit((unsigned char)k[i]))
			return false;
	return true;
}

/* One "key:value" line into @out; unknown keys are ignored. */
static int parse_info_line(const char *k, size_t klen, const char *v,
			   size_t vlen, struct redis_repl_info *out,
			   bool *have_role, long long *slave_off,
			   bool *have_slave_off)
{
	struct redis_repl_replica r;
	long long n;
	int err = 0;

	if (key_is(k, klen, "role")) {
		*have_role = true;
		if (vlen == 5 && memcmp(v, "slave", 5) == 0)
			out->is_replica = true;
		else if (vlen == 6 && memcmp(v, "master", 6) == 0)
			out->is_replica = false;
		else
			err = -EPROTO;
	} else if (key_is(k, klen, "master_host")) {
		err = copy_field(out->master_host, sizeof(out->master_host), v,
				 vlen);
	} else if (key_is(k, klen, "master_port")) {
		err = parse_port(v, vlen, &out->master_port);
	} else if (key_is(k, klen, "master_link_status")) {
		out->link_up = vlen == 2 && memcmp(v, "up", 2) == 0;
	} else if (key_is(k, klen, "master_last_io_seconds_ago")) {
		err = parse_ll(v, vlen, &out->last_io);
	} else if (key_is(k, klen, "slave_repl_offset")) {
		err = parse_ll(v, vlen, slave_off);
		*have_slave_off = true;
	} else if (key_is(k, klen, "master_repl_offset")) {
		err = parse_ll(v, vlen, &out->master_repl_offset);
	} else if (key_is(k, klen, "master_replid")) {
		err = copy_field(out->replid, sizeof(out->replid), v, vlen);
	} else if (key_is(k, klen, "run_id")) {
		err = copy_field(out->run_id, sizeof(out->run_id), v, vlen);
	} else if (key_is(k, klen, "config_file")) {
		out->has_config_file = vlen > 0;
	} else if (key_is(k, klen, "tcp_port")) {
		err = parse_ll(v, vlen, &n);
		if (!err && (n < 0 || n > 65535))
			err = -EPROTO;
		if (!err)
			out->tcp_port = (int)n;
	} else if (key_is_slave_n(k, klen)) {
		err = parse_slave(v, vlen, &r);
		if (err || r.port == 0)
			return err; /* an RDB transfer, not a replica */
		if (out->nreplicas == REDIS_REPL_MAX_REPLICAS)
			return -E2BIG;
		out->replicas[out->nreplicas++] = r;
	}
	return err;
}

int redis_repl_parse_info(const char *who, const char *text,
			  struct redis_repl_info *out)
{
	const char *p = text;
	bool have_role = false;
	bool have_slave_off = false;
	long long slave_off = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->last_io = -1;
	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *end = nl ? nl : p + strlen(p);
		const char *colon;
		const char *line_end = end;

		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		colon = memchr(p, ':', (size_t)(line_end - p));
		if (*p != '#' && colon) {
			err = parse_info_line(p, (size_t)(colon - p), colon + 1,
					      (size_t)(line_end - colon - 1),
					      out, &have_role, &slave_off,
					      &have_slave_off);
			if (err) {
				log_error(
					"redis '%s': cannot parse INFO line '%.*s'",
					who, (int)(line_end - p), p);
				return err;
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (!have_role && strstr(text, "# Replication")) {
		log_error("redis '%s': INFO has no role line", who);
		return -EPROTO;
	}
	if (out->is_replica)
		out->offset = have_slave_off ? slave_off : 0;
	else
		out->offset = out->master_repl_offset;
	return 0;
}

static bool host_char_ok(char ch)
{
	return isalnum((unsigned char)ch) || ch == '.' || ch == '-' ||
	       ch == '_' || ch == ':' || ch == '[' || ch == ']';
}

int redis_repl_parse_target(const char *data, size_t len,
			    enum redis_repl_target_kind *kind, char *host,
			    size_t host_size, int *port)
{
	const char *words[2];
	size_t wlen[2];
	size_t nwords = 0;
	size_t i = 0;
	size_t j;
	int err;

	if (memchr(data, '\0', len))
		return -EINVAL;
	while (i < len) {
		while (i < len && isspace((unsigned char)data[i]))
			i++;
		if (i == len)
			break;
		if (nwords == 2)
			return -EINVAL;
		words[nwords] = data + i;
		while (i < len && !isspace((unsigned char)data[i]))
			i++;
		wlen[nwords] = (size_t)(data + i - words[nwords]);
		nwords++;
	}
	if (nwords == 0 || wlen[0] >= host_size)
		return -EINVAL;
	for (j = 0; j < wlen[0]; j++)
		if (!host_char_ok(words[0][j]))
			return -EINVAL;
	memcpy(host, words[0], wlen[0]);
	host[wlen[0]] = '\0';
	*port = 0;
	if (nwords == 1) {
		*kind = strcmp(host, "none") == 0 ? REDIS_REPL_TARGET_NONE
						  : REDIS_REPL_TARGET_NAME;
		return 0;
	}
	for (j = 0; j < wlen[1]; j++)
		if (!isdigit((unsigned char)words[1][j]))
			return -EINVAL;
	err = parse_port(words[1], wlen[1], port);
	if (err)
		return -EINVAL;
	*kind = REDIS_REPL_TARGET_ADDR;
	return 0;
}

static bool is_loopback(const char *h)
{
	return strcasecmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0 ||
	       strcmp(h, "::1") == 0;
}

bool redis_repl_same_host(const char *a, const char *b)
{
	if (strcasecmp(a, b) == 0)
		return true;
	return is_loopback(a) && is_loopback(b);
}

/* ---- choosing the replica to promote ---- */

/* -1 (unknown) sorts after every known age. */
static unsigned long long io_key(long long last_io)
{
	return last_io < 0 ? ULLONG_MAX : (unsigned long long)last_io;
}

/* <0 if @a is the better candidate, >0 if @b is; 0 only if identical. */
static int cand_cmp(const struct redis_repl_cand *a,
		    const struct redis_repl_cand *b)
{
	int c;

	if (a->offset != b->offset)
		return a->offset > b->offset ? -1 : 1;
	if (io_key(a->last_io) != io_key(b->last_io))
		return io_key(a->last_io) < io_key(b->last_io) ? -1 : 1;
	c = strcmp(a->host, b->host);
	if (c)
		return c;
	return a->port < b->port ? -1 : (a->port > b->port);
}

int redis_repl_choose(const struct redis_repl_cand *c, size_t n, size_t *best,
		      enum redis_repl_why *why)
{
	size_t b = n;
	size_t second = n;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!c[i].reachable)
			continue;
		if (b == n || cand_cmp(&c[i], &c[b]) < 0) {
			second = b;
			b = i;
		} else if (second == n || cand_cmp(&c[i], &c[second]) < 0) {
			second = i;
		}
	}
	if (b == n)
		return -ENODEV;
	*best = b;
	if (second == n)
		*why = REDIS_REPL_WHY_ONLY;
	else if (c[b].offset != c[second].offset)
		*why = REDIS_REPL_WHY_OFFSET;
	else if (io_key(c[b].last_io) != io_key(c[second].last_io))
		*why = REDIS_REPL_WHY_LAST_IO;
	else
		*why = REDIS_REPL_WHY_ADDRESS;
	return 0;
}

int redis_repl_format_choice(struct buf *out, const struct redis_repl_cand *c,
			     enum redis_repl_why why)
{
	buf_printf(out, "chosen: %s %d (largest offset %lld", c->host, c->port,
		   c->offset);
	switch (why) {
	case REDIS_REPL_WHY_ONLY:
		buf_puts(out, "; the only reachable replica");
		break;
	case REDIS_REPL_WHY_OFFSET:
		break;
	case REDIS_REPL_WHY_LAST_IO:
		buf_printf(
			out,
			"; tie broken by smallest master_last_io_seconds_ago %lld",
			c->last_io);
		break;
	case REDIS_REPL_WHY_ADDRESS:
		buf_printf(
			out,
			"; same master_last_io_seconds_ago %lld; tie broken by lowest address",
			c->last_io);
		break;
	}
	return buf_puts(out, ")\n");
}

/* ---- nodes and commands ---- */

static void set_label(struct redis_repl_node *n, const char *name)
{
	int len;

	if (name)
		len = snprintf(n->label, sizeof(n->label), "%s", name);
	else
		len = snprintf(n->label, sizeof(n->label), "%s:%d", n->host,
			       n->port);
	if (len < 0)
		n->label[0] = '\0'; /* a label is only for log lines */
}

void redis_repl_node_of(const struct redis_addr *conf,
			struct redis_repl_node *out)
{
	int n;

	memset(out, 0, sizeof(*out));
	n = snprintf(out->host, sizeof(out->host), "%s",
		     conf->host && !conf->unix_path ? conf->host : "");
	if (n < 0 || (size_t)n >= sizeof(out->host))
		out->host[0] = '\0'; /* unusable as an address, see below */
	out->port = conf->port;
	out->conf = conf;
	set_label(out, conf->name);
}

void redis_repl_node_at(const struct redis_repl_env *env, const char *host,
			int port, struct redis_repl_node *out)
{
	size_t i;
	int n;

	for (i = 0; i < env->nall; i++) {
		const struct redis_addr *a = &env->all[i];

		if (a->host && !a->unix_path && a->port == port &&
		    redis_repl_same_host(a->host, host)) {
			redis_repl_node_of(a, out);
			return;
		}
	}
	memset(out, 0, sizeof(*out));
	n = snprintf(out->host, sizeof(out->host), "%s", host);
	if (n < 0 || (size_t)n >= sizeof(out->host))
		out->host[0] = '\0';
	out->port = port;
	set_label(out, NULL);
}

int redis_repl_connect(const struct redis_repl_env *env,
		       const struct redis_repl_node *node,
		       struct redis_conn **out)
{
	struct redis_addr a;

	if (node->conf)
		return redis_connect(node->conf, out);
	/* Found by address: the set shares self's credentials. */
	a = *env->self;
	a.name = node->label;
	a.host = node->host;
	a.port = node->port;
	a.unix_path = NULL;
	return redis_connect(&a, out);
}

double redis_repl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int redis_repl_run(struct redis_conn *c, ...)
{
	const char *argv[REDIS_REPL_ARGV_MAX];
	struct redis_reply r;
	const char *a;
	va_list ap;
	int argc = 0;
	int err;

	va_start(ap, c);
	while ((a = va_arg(ap, const char *)) != NULL) {
		if (argc == REDIS_REPL_ARGV_MAX) {
			va_end(ap);
			return -E2BIG;
		}
		argv[argc++] = a;
	}
	va_end(ap);
	err = redis_command(c, &r, argc, argv, NULL);
	redis_reply_release(&r);
	return err;
}

int redis_repl_info_of(struct redis_conn *c, const char *who,
		       const char *section, struct redis_repl_info *out)
{
	const char *argv[2] = { "INFO", section };
	struct redis_reply r;
	int err;

	err = redis_command(c, &r, section ? 2 : 1, argv, NULL);
	if (err)
		return err;
	if (r.type != REDIS_R_STRING || !r.str) {
		log_error("redis '%s': INFO did not answer a string", who);
		err = -EPROTO;
		goto out_release;
	}
	err = redis_repl_parse_info(who, r.str, out);
out_release:
	redis_reply_release(&r);
	return err;
}

int redis_repl_persist(struct redis_conn *c, const char *who)
{
	struct redis_repl_info *info;
	int err;

	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	err = redis_repl_info_of(c, who, "server", info);
	if (err)
		goto out_free;
	if (!info->has_config_file) {
		log_warn(
			"redis '%s': replication change not persisted: the server runs without a config file",
			who);
		goto out_free;
	}
	err = redis_repl_run(c, "CONFIG", "REWRITE", NULL);
out_free:
	free(info);
	return err;
}

/*
 * CONFIG GET masteruser: *@set true if the server has one set (a server
 * without the parameter, Redis < 6, answers an empty array: false).
 */
static int masteruser_is_set(struct redis_conn *c, const char *who, bool *set)
{
	const char *argv[3] = { "CONFIG", "GET", "masteruser" };
	struct redis_reply r;
	int err;

	*set = false;
	err = redis_command(c, &r, 3, argv, NULL);
	if (err)
		return err;
	if (r.type != REDIS_R_ARRAY || (r.nelements != 0 && r.nelements != 2)) {
		log_error("redis '%s': CONFIG GET masteruser: unexpected reply",
			  who);
		err = -EPROTO;
	} else if (r.nelements == 2) {
		*set = r.elements[1].type == REDIS_R_STRING &&
		       r.elements[1].len > 0;
	}
	redis_reply_release(&r);
	return err;
}

/*
 * The credentials of the configured source @src for the replica @c (see
 * redis_repl_point()). masteruser matters only with a masterauth (the
 * replica then sends AUTH masteruser masterauth), so it goes first and
 * only then. The password is an argument only, never in a log line (the
 * client logs a command's name alone).
 */
static int set_master_auth(struct redis_conn *c, const char *who,
			   const struct redis_addr *src)
{
	bool user_set = true;
	int err = 0;

	if (src->password && !src->user)
		err = masteruser_is_set(c, who, &user_set);
	if (!err && src->password && user_set)
		err = redis_repl_run(c, "CONFIG", "SET", "masteruser",
				     src->user ? src->user : "", NULL);
	if (err)
		return err;
	return redis_repl_run(c, "CONFIG", "SET", "masterauth",
			      src->password ? src->password : "", NULL);
}

int redis_repl_point(struct redis_conn *c, const char *who, const char *host,
		     int port, const struct redis_addr *src_conf)
{
	char portstr[16];
	int n;
	int err;

	if (!host) {
		err = redis_repl_run(c, "REPLICAOF", "NO", "ONE", NULL);
		if (err)
			return err;
		return redis_repl_persist(c, who);
	}
	n = snprintf(portstr, sizeof(portstr), "%d", port);
	if (n < 0 || (size_t)n >= sizeof(portstr))
		return -EINVAL;
	err = redis_repl_run(c, "CONFIG", "SET", "replica-read-only", "yes",
			     NULL);
	if (err)
		return err;
	if (src_conf) {
		err = set_master_auth(c, who, src_conf);
		if (err)
			return err;
	}
	err = redis_repl_run(c, "REPLICAOF", host, portstr, NULL);
	if (err)
		return err;
	return redis_repl_persist(c, who);
}

/* ---- candidates ---- */

/* Adds @host/@port to @out unless already there; probes it with INFO. */
static int gather_add(const struct redis_repl_env *env,
		      struct redis_repl_info *scratch, const char *host,
		      int port, struct redis_repl_cand *out, size_t *n)
{
	struct redis_repl_node node;
	struct redis_repl_cand *c;
	struct redis_conn *conn;
	size_t i;
	int err;

	for (i = 0; i < *n; i++)
		if (out[i].port == port &&
		    redis_repl_same_host(out[i].host, host))
			return 0;
	if (*n == REDIS_REPL_MAX_REPLICAS)
		return -E2BIG;
	c = &out[*n];
	memset(c, 0, sizeof(*c));
	if (snprintf(c->host, sizeof(c->host), "%s", host) >=
	    (int)sizeof(c->host))
		return -EINVAL;
	c->port = port;
	c->last_io = -1;
	(*n)++;
	redis_repl_node_at(env, host, port, &node);
	err = redis_repl_connect(env, &node, &conn);
	if (err)
		return 0; /* listed as unreachable */
	err = redis_repl_info_of(conn, node.label, "replication", scratch);
	redis_close(conn);
	if (err)
		return 0;
	c->reachable = true;
	c->offset = scratch->offset;
	c->last_io = scratch->last_io;
	c->link_up = scratch->link_up;
	memcpy(c->replid, scratch->replid, sizeof(c->replid));
	memcpy(c->master_host, scratch->master_host, sizeof(c->master_host));
	c->master_port = scratch->master_port;
	if (!scratch->is_replica)
		c->reachable = false; /* a master is no candidate */
	return 0;
}

int redis_repl_gather(const struct redis_repl_env *env,
		      const struct redis_repl_node *src,
		      struct redis_repl_cand *out, size_t *n)
{
	struct redis_repl_info *info;
	struct redis_conn *conn;
	size_t i;
	int err;

	*n = 0;
	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	/* The source's own list first, when it answers. */
	err = redis_repl_connect(env, src, &conn);
	if (!err) {
		err = redis_repl_info_of(conn, src->label, "replication", info);
		redis_close(conn);
	}
	if (!err) {
		struct redis_repl_replica *list = NULL;
		size_t nlist = info->nreplicas;

		if (nlist) {
			list = calloc(nlist, sizeof(*list));
			if (!list) {
				err = -ENOMEM;
				goto out_free;
			}
			memcpy(list, info->replicas, nlist * sizeof(*list));
		}
		for (i = 0; i < nlist && !err; i++)
			err = gather_add(env, info, list[i].host, list[i].port,
					 out, n);
		free(list);
		if (err)
			goto out_free;
	}
	/* Then every configured datastore that names @src as its master. */
	err = 0;
	for (i = 0; i < env->nall && !err; i++) {
		const struct redis_addr *a = &env->all[i];
		struct redis_repl_node node;

		if (a == src->conf)
			continue;
		if (a->port == src->port && a->host && !a->unix_path &&
		    redis_repl_same_host(a->host, src->host))
			continue;
		redis_repl_node_of(a, &node);
		if (redis_repl_connect(env, &node, &conn))
			continue;
		err = redis_repl_info_of(conn, node.label, "replication", info);
		redis_close(conn);
		if (err) {
			err = 0;
			continue;
		}
		if (!info->is_replica || info->master_port != src->port ||
		    !redis_repl_same_host(info->master_host, src->host))
			continue;
		if (!node.host[0])
			continue; /* unix socket only: no address */
		err = gather_add(env, info, node.host, node.port, out, n);
	}
out_free:
	free(info);
	return err;
}

/* ---- reads ---- */

/* The source of @self: itself if a master, else its master. */
static void source_of(const struct redis_repl_env *env,
		      const struct redis_repl_info *self,
		      struct redis_repl_node *src)
{
	if (self->is_replica)
		redis_repl_node_at(env, self->master_host, self->master_port,
				   src);
	else
		redis_repl_node_of(env->self, src);
}

static int read_replicas(const struct redis_repl_env *env,
			 const struct redis_repl_node *src,
			 struct redis_repl_info *info, struct buf *out)
{
	struct redis_conn *conn;
	size_t i;
	int err;

	err = redis_repl_connect(env, src, &conn);
	if (err)
		return err;
	err = redis_repl_info_of(conn, src->label, "replication", info);
	redis_close(conn);
	if (err)
		return err;
	for (i = 0; i < info->nreplicas; i++) {
		const struct redis_repl_replica *r = &info->replicas[i];

		buf_printf(out, "%s %d state=%s offset=%lld lag=%lld\n",
			   r->host, r->port, r->state, r->offset, r->lag);
	}
	return out->err;
}

static int read_candidates(const struct redis_repl_env *env,
			   const struct redis_repl_node *src, struct buf *out)
{
	struct redis_repl_cand *c;
	enum redis_repl_why why;
	size_t best;
	size_t n;
	size_t i;
	int err;

	c = calloc(REDIS_REPL_MAX_REPLICAS, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = redis_repl_gather(env, src, c, &n);
	if (err)
		goto out_free;
	for (i = 0; i < n; i++) {
		if (!c[i].reachable)
			buf_printf(out, "%s %d unreachable\n", c[i].host,
				   c[i].port);
		else
			buf_printf(
				out,
				"%s %d offset=%lld master_last_io_seconds_ago=%lld master_link_status=%s\n",
				c[i].host, c[i].port, c[i].offset, c[i].last_io,
				c[i].link_up ? "up" : "down");
	}
	err = redis_repl_choose(c, n, &best, &why);
	if (err == -ENODEV) {
		buf_puts(out, "chosen: none (no reachable replica)\n");
		err = 0;
	} else if (!err) {
		redis_repl_format_choice(out, &c[best], why);
	}
	if (!err)
		err = out->err;
out_free:
	free(c);
	return err;
}

int redis_repl_read(const struct redis_repl_env *env, const char *file,
		    struct buf *out)
{
	struct redis_repl_info *info;
	struct redis_repl_node src;
	struct redis_conn *conn;
	bool writable;
	int err;

	if (!redis_repl_file_lookup(file, &writable))
		return -ENOENT;
	if (writable)
		return -EACCES;
	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	err = redis_connect(env->self, &conn);
	if (err)
		goto out_free;
	err = redis_repl_info_of(conn, env->self->name, "replication", info);
	redis_close(conn);
	if (err)
		goto out_free;
	source_of(env, info, &src);
	if (strcmp(file, "role") == 0) {
		buf_puts(out, info->is_replica ? "replica\n" : "master\n");
	} else if (strcmp(file, "source") == 0) {
		if (info->is_replica)
			buf_printf(out, "%s %d\n", info->master_host,
				   info->master_port);
		else
			buf_puts(out, "\n");
	} else if (strcmp(file, "offset") == 0) {
		buf_printf(out, "%lld\n", info->offset);
	} else if (strcmp(file, "lag") == 0) {
		/* Redis says -1 while the link is down: no I/O to time */
		if (info->is_replica && info->last_io < 0)
			buf_puts(out, "unknown\n");
		else
			buf_printf(out, "%lld\n",
				   info->is_replica ? info->last_io : 0);
	} else if (strcmp(file, "link") == 0) {
		if (!info->is_replica)
			buf_puts(out, "none\n");
		else
			buf_puts(out, info->link_up ? "up\n" : "down\n");
	} else if (strcmp(file, "replicas") == 0) {
		err = read_replicas(env, &src, info, out);
	} else {
		err = read_candidates(env, &src, out);
	}
	if (!err)
		err = out->err;
out_free:
	free(info);
	return err;
}

/* ---- replica_of ---- */

/* Resolves what was written into the node to follow; -EINVAL logged. */
static int resolve_target(const struct redis_repl_env *env, const char *data,
			  size_t len, bool *none, struct redis_repl_node *t)
{
	const char *me = env->self->name;
	enum redis_repl_target_kind kind;
	char host[REDIS_REPL_HOST_MAX];
	size_t i;
	int port;

	*none = false;
	if (len > REDIS_REPL_WRITE_MAX ||
	    redis_repl_parse_target(data, len, &kind, host, sizeof(host),
				    &port)) {
		log_error(
			"redis '%s': replica_of: expected 'HOST PORT', a datastore name or 'none'",
			me);
		return -EINVAL;
	}
	if (kind == REDIS_REPL_TARGET_NONE) {
		*none = true;
		return 0;
	}
	if (kind == REDIS_REPL_TARGET_ADDR) {
		redis_repl_node_at(env, host, port, t);
		return 0;
	}
	for (i = 0; i < env->nall; i++) {
		const struct redis_addr *a = &env->all[i];

		if (a->name && strcmp(a->name, host) == 0) {
			redis_repl_node_of(a, t);
			if (!t->host[0]) {
				log_error(
					"redis '%s': replica_of: datastore '%s' has no TCP address",
					me, host);
				return -EINVAL;
			}
			return 0;
		}
	}
	log_error("redis '%s': replica_of: unknown datastore '%s'", me, host);
	return -EINVAL;
}

/* @env->self may be a copy of its entry in @env->all: compare contents. */
static bool node_is_self(const struct redis_repl_env *env,
			 const struct redis_repl_node *t)
{
	const struct redis_addr *me = env->self;

	if (t->conf == me)
		return true;
	if (t->conf && t->conf->name && me->name &&
	    strcmp(t->conf->name, me->name) == 0)
		return true;
	return me->host && !me->unix_path && t->host[0] &&
	       t->port == me->port && redis_repl_same_host(t->host, me->host);
}

/* Refuses a target that is self, a replica, or a self with replicas. */
static int check_target(const struct redis_repl_env *env,
			const struct redis_repl_node *t,
			struct redis_conn *self_conn,
			struct redis_repl_info *info)
{
	const char *me = env->self->name;
	char self_run_id[REDIS_REPL_ID_MAX];
	struct redis_conn *tc;
	int err;

	if (node_is_self(env, t)) {
		log_error(
			"redis '%s': replica_of: refusing to replicate from itself",
			me);
		return -EINVAL;
	}
	err = redis_repl_info_of(self_conn, me, NULL, info);
	if (err)
		return err;
	if (info->nreplicas > 0) {
		log_error(
			"redis '%s': replica_of: refusing, it has %zu replicas that would become replicas of a replica",
			me, info->nreplicas);
		return -EINVAL;
	}
	memcpy(self_run_id, info->run_id, sizeof(self_run_id));
	err = redis_repl_connect(env, t, &tc);
	if (err)
		return err;
	err = redis_repl_info_of(tc, t->label, NULL, info);
	redis_close(tc);
	if (err)
		return err;
	if (info->run_id[0] && strcmp(info->run_id, self_run_id) == 0) {
		log_error(
			"redis '%s': replica_of: refusing to replicate from itself ('%s')",
			me, t->label);
		return -EINVAL;
	}
	if (info->is_replica) {
		log_error(
			"redis '%s': replica_of: refusing '%s': it is itself a replica of %s:%d (no replica of a replica)",
			me, t->label, info->master_host, info->master_port);
		return -EINVAL;
	}
	return 0;
}

bool redis_repl_lists_port(const struct redis_repl_info *info, int port)
{
	size_t i;

	for (i = 0; port > 0 && i < info->nreplicas; i++)
		if (info->replicas[i].port == port)
			return true;
	return false;
}

double redis_repl_link_wait(const struct redis_repl_env *env)
{
	if (env->wait_timeout < REDIS_REPL_LINK_WAIT)
		return env->wait_timeout > 0 ? env->wait_timeout : 0;
	return REDIS_REPL_LINK_WAIT;
}

/*
 * True if the source on *@sc lists a replica at @port (its sync is on
 * its way). A failing INFO (the client logged it) closes *@sc and sets it
 * NULL, so it is asked no more.
 */
static bool source_lists(struct redis_conn **sc,
			 const struct redis_repl_node *t, int port,
			 struct redis_repl_info *info)
{
	if (!*sc || port <= 0)
		return false;
	if (redis_repl_info_of(*sc, t->label, "replication", info)) {
		redis_close(*sc);
		*sc = NULL;
		return false;
	}
	return redis_repl_lists_port(info, port);
}

/*
 * A brief look at the link @c (this node) just got to @t, for at most
 * REDIS_REPL_LINK_WAIT s or env->wait_timeout if smaller (0: one look):
 * fine once this node's master_link_status is up or @t lists it as a
 * replica. Not master_sync_in_progress: a server that cannot AUTH flips
 * it on at each retry (PSYNC refused, SYNC tried), and one waiting for a
 * diskless transfer (repl-diskless-sync-delay, 5 s by default) shows
 * neither. Still down: one warning; the write still succeeds (the change
 * is made and persisted, the server retries on its own and its log says
 * why: NOAUTH, refused...). A failing INFO on @c ends the look (the
 * client logged it).
 */
static void check_link(const struct redis_repl_env *env, struct redis_conn *c,
		       const struct redis_repl_node *t,
		       struct redis_repl_info *info)
{
	const struct timespec pause = { 0, REDIS_REPL_LINK_POLL_NS };
	const char *me = env->self->name;
	double wait = redis_repl_link_wait(env);
	struct redis_conn *sc = NULL;
	int port = env->self->unix_path ? 0 : env->self->port;
	double deadline = redis_repl_now() + wait;

	if (redis_repl_connect(env, t, &sc))
		sc = NULL; /* logged; this node's own view is left */
	for (;;) {
		if (redis_repl_info_of(c, me, "replication", info))
			goto out_close;
		if (info->link_up)
			goto out_close;
		if (source_lists(&sc, t, port, info))
			goto out_close;
		if (redis_repl_now() >= deadline)
			break;
		nanosleep(&pause, NULL);
	}
	log_warn(
		"redis '%s': replica_of: the link to '%s' (%s %d) is not up yet after %.1f s; see the server's log",
		me, t->label, t->host, t->port, wait);
out_close:
	redis_close(sc);
}

static int write_replica_of(const struct redis_repl_env *env, const char *data,
			    size_t len)
{
	const char *me = env->self->name;
	struct redis_repl_info *info;
	struct redis_repl_node t;
	struct redis_conn *conn;
	bool none;
	int err;

	err = resolve_target(env, data, len, &none, &t);
	if (err)
		return err;
	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	err = redis_connect(env->self, &conn);
	if (err)
		goto out_free;
	if (none) {
		err = redis_repl_point(conn, me, NULL, 0, NULL);
		if (!err)
			log_info("redis '%s': detached, now a master", me);
		goto out_close;
	}
	err = check_target(env, &t, conn, info);
	if (err)
		goto out_close;
	err = redis_repl_point(conn, me, t.host, t.port, t.conf);
	if (err)
		goto out_close;
	log_info("redis '%s': now a read-only replica of '%s' (%s %d)", me,
		 t.label, t.host, t.port);
	check_link(env, conn, &t, info);
out_close:
	redis_close(conn);
out_free:
	free(info);
	return err;
}

/*
 * A failed write is one line naming the datastore and the file, with the
 * last line the operation logged as its cause: its own verdict ("eject:
 * no reachable replica...") after the client's errors ("cannot connect",
 * once per node it tried), or the client's error when that is all (a
 * replica_of target down). A success writes what it logged, a line said
 * twice in a row once.
 */
int redis_repl_write(const struct redis_repl_env *env, const char *file,
		     const char *data, size_t len)
{
	char cause[1024];
	bool writable;
	int err;

	if (!redis_repl_file_lookup(file, &writable))
		return -ENOENT;
	if (!writable)
		return -EACCES;
	log_defer_begin();
	if (strcmp(file, "replica_of") == 0)
		err = write_replica_of(env, data, len);
	else if (strcmp(file, "promote") == 0)
		err = redis_repl_promote(env);
	else
		err = redis_repl_eject(env);
	log_defer_end_as(err != 0, true, cause, sizeof(cause));
	if (err)
		log_error("redis '%s': %s failed: %s%s%s%s", env->self->name,
			  file, strerror(-err), cause[0] ? " (" : "", cause,
			  cause[0] ? ")" : "");
	return err;
}
