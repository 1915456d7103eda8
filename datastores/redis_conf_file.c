/*
 * redis_conf_file.c - the Redis server's config file as recover handles it
 * (redis_recover.c): read it whole, write it back atomically with its
 * owner and mode, and the "appendonly" lines in it. Pure file and text
 * work: no server, no locks.
 */
#include "redis_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../conf/log.h"

/* Reads a whole small file into *@out (owned). */
int redis_conf_read(const char *path, char **out, size_t *len)
{
	struct stat sb;
	char *p;
	ssize_t n;
	size_t off = 0;
	int fd;
	int err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || sb.st_size > (off_t)REDIS_CONFIG_MAX) {
		err = sb.st_size > (off_t)REDIS_CONFIG_MAX ? -EFBIG : -errno;
		close(fd);
		return err;
	}
	p = malloc((size_t)sb.st_size + 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)sb.st_size) {
		n = read(fd, p + off, (size_t)sb.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (err) {
		free(p);
		return err;
	}
	p[off] = '\0';
	*out = p;
	*len = off;
	return 0;
}

/*
 * Replaces @path atomically with @data (temp file, fsync, rename), with
 * the owner and mode of @like (NULL: ours, 0640). The owner matters: a
 * server running as "redis" must still read its config file after a
 * root daemon rewrote it.
 */
int redis_conf_write(const char *path, const char *data, size_t len,
		     const struct stat *like)
{
	mode_t mode = like ? like->st_mode : 0640;
	struct buf tmp;
	ssize_t n;
	size_t off = 0;
	int fd;
	int err = 0;

	buf_init(&tmp, 2 * REDIS_PATH_MAX);
	if (buf_printf(&tmp, "%s.trovefs-tmp.XXXXXX", path))
		return tmp.err;
	/* a fresh name, O_EXCL: nothing planted there is followed */
	fd = mkostemp(tmp.data, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out_release;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!err && like &&
	    (like->st_uid != geteuid() || like->st_gid != getegid()) &&
	    fchown(fd, like->st_uid, like->st_gid) < 0) {
		if (errno != EPERM || geteuid() == 0)
			err = -errno;
		else /* not root: as before, the file is ours */
			log_warn("cannot give '%s' its owner back: %s", path,
				 strerror(errno));
	}
	if (!err && (fchmod(fd, mode & 07777) < 0 || fsync(fd) < 0))
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(buf_str(&tmp), path) < 0)
		err = -errno;
	if (err)
		unlink(buf_str(&tmp));
out_release:
	buf_release(&tmp);
	return err;
}

/*
 * The value of the config line @p..@eol if it is "appendonly VALUE"
 * (leading blanks and quotes around the value ignored), else NULL; the
 * value ends at the first blank, quote or @eol.
 */
static const char *conf_aof_value(const char *p, const char *eol)
{
	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	if (eol - p <= 10 || strncasecmp(p, "appendonly", 10) != 0 ||
	    (p[10] != ' ' && p[10] != '\t'))
		return NULL;
	p += 10;
	while (p < eol && (*p == ' ' || *p == '\t' || *p == '"' || *p == '\''))
		p++;
	return p;
}

/* True if the last appendonly line of config text @text says yes. */
bool redis_conf_aof_is_on(const char *text)
{
	const char *p = text;
	const char *eol;
	const char *v;
	bool on = false;

	while (*p) {
		eol = p + strcspn(p, "\n");
		v = conf_aof_value(p, eol);
		if (v)
			on = eol - v >= 3 && strncasecmp(v, "yes", 3) == 0 &&
			     (eol - v == 3 || strchr(" \t\r\"'", v[3]));
		p = *eol ? eol + 1 : eol;
	}
	return on;
}

/* The config file with every "appendonly ..." line set to "no". */
int redis_conf_aof_off(const char *orig, struct buf *out)
{
	const char *p = orig;
	const char *eol;
	bool found = false;

	while (*p) {
		eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		if (conf_aof_value(p, eol)) {
			buf_puts(out, "appendonly no");
			found = true;
		} else {
			buf_append(out, p, (size_t)(eol - p));
		}
		if (*eol == '\n') {
			buf_puts(out, "\n");
			eol++;
		}
		p = eol;
	}
	if (!found) {
		if (out->len > 0 && out->data[out->len - 1] != '\n')
			buf_puts(out, "\n");
		buf_puts(out, "appendonly no\n");
	}
	return out->err;
}
