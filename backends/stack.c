/*
 * stack.c - builds the store stack for a SOURCE (see stack.h): the only
 * place that knows the order of the layers.
 *
 *     local:/DIR   ->  codec -> local(DIR)
 *     swift:NAME   ->  codec -> swift([swift:NAME] of the config file)
 *
 * (The swift leaf retries and re-authenticates inside each request:
 * swift_http_perform_retry, so there is no separate retry layer.)
 *
 * Secrets are read from the key files here, handed to the codec (which
 * derives its keys and keeps no copy of the tfs1 secret) and wiped; the
 * Swift key is read by swift_conf_set() and copied by the swift store.
 * On failure everything built so far is destroyed.
 */
#include "stack.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/log.h"
#include "codec_store.h"
#include "local_store.h"
#include "swift_store.h"

static const char *format_name(enum conf_format f)
{
	return f == CONF_FORMAT_TROVE ? "trove-sha256" : "tfs1";
}

static const char *stack_format_for(void *arg, const char *container)
{
	const struct conf *c = arg;

	return format_name(conf_format_for(c, container));
}

static bool stack_lz4_for(void *arg, const char *container)
{
	return conf_compression_for(arg, container) == CONF_COMP_LZ4;
}

/*
 * The local store's root as an absolute path: the daemon chdir()s to "/"
 * when it goes to the background. Caller frees *@out.
 */
static int local_root(const char *dir, char **out)
{
	char cwd[PATH_MAX];
	size_t len;
	int n;

	if (*dir == '\0') {
		log_error(
			"source 'local:' names no directory: expected local:/DIR");
		return -EINVAL;
	}
	if (dir[0] == '/') {
		*out = strdup(dir);
		return *out ? 0 : -ENOMEM;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	len = strlen(cwd) + strlen(dir) + 2;
	*out = malloc(len);
	if (!*out)
		return -ENOMEM;
	n = snprintf(*out, len, "%s/%s", cwd, dir);
	if (n < 0 || (size_t)n >= len) {
		free(*out);
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * Puts the codec on top of @leaf. On success *@out owns @leaf; on failure
 * @leaf is still the caller's.
 */
static int wrap_codec(const struct conf *c, struct store *leaf,
		      struct store **out)
{
	struct codec_conf cc;
	char *secret = NULL;
	size_t secret_len = 0;
	char *trove = NULL;
	size_t trove_len = 0;
	int err;

	if (c->key_file) {
		err = conf_read_secret(c->key_file, "key file", &secret,
				       &secret_len);
		if (err)
			return err;
	}
	if (c->trove_key_file) {
		err = conf_read_secret(c->trove_key_file, "trove key file",
				       &trove, &trove_len);
		if (err)
			goto out_free_secrets;
	}

	memset(&cc, 0, sizeof(cc));
	cc.secret = secret;
	cc.secret_len = secret_len;
	cc.trove_secret = trove;
	cc.trove_secret_len = trove_len;
	cc.default_format = format_name(c->format);
	cc.format_for = stack_format_for;
	/* the conf outlives the stack (main owns both) */
	cc.format_arg = (void *)c;
	cc.frame_size = c->frame_size;
	cc.compress_level = c->compress_level;
	cc.lz4_for = stack_lz4_for;
	cc.threads = c->threads;
	err = codec_store_new(&cc, leaf, out);
out_free_secrets:
	conf_free_secret(secret, secret_len);
	conf_free_secret(trove, trove_len);
	return err;
}

static int build_local(const struct conf *c, const char *dir,
		       struct store **out)
{
	struct store *leaf;
	char *root;
	int err;

	err = local_root(dir, &root);
	if (err)
		return err;
	err = local_store_new(root, &leaf);
	free(root);
	if (err)
		return err;
	err = wrap_codec(c, leaf, out);
	if (err)
		store_destroy(leaf);
	return err;
}

static int build_swift(const struct conf *c, const char *name,
		       struct store **out)
{
	const struct conf_section *sec;
	struct swift_conf sc;
	struct store *leaf;
	int err;

	if (*name == '\0') {
		log_error(
			"source 'swift:' names no account: expected swift:NAME and a [swift:NAME] section");
		return -EINVAL;
	}
	sec = conf_section_find(c, "swift", name);
	if (!sec) {
		log_error("source 'swift:%s': no [swift:%s] section in %s",
			  name, name,
			  c->conf_file ? c->conf_file
				       : "the config (-o conf=FILE)");
		return -EINVAL;
	}
	swift_conf_init(&sc);
	err = swift_conf_from_section(&sc, sec);
	if (!err)
		err = swift_store_new(&sc, &leaf);
	/* the store copied what it needs, the secret included */
	swift_conf_release(&sc);
	if (err)
		return err;
	err = wrap_codec(c, leaf, out);
	if (err)
		store_destroy(leaf);
	return err;
}

int stack_build(const struct conf *c, struct store **out)
{
	const char *src = c->source;

	if (!src || *src == '\0') {
		log_error("no source given: expected local:/DIR or swift:NAME");
		return -EINVAL;
	}
	if (strncmp(src, "local:", 6) == 0)
		return build_local(c, src + 6, out);
	if (strncmp(src, "swift:", 6) == 0)
		return build_swift(c, src + 6, out);
	log_error("unknown source '%s': expected local:/DIR or swift:NAME",
		  src);
	return -EINVAL;
}
