/*
 * swift_conf.c - the [swift:NAME] configuration section (contract in
 * swift_store.h): defaults, one key at a time with its bounds, secrets
 * only from files (key_file) whose permissions conf/ checks.
 *
 * Locks: none; a swift_conf is built before the store exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "swift_store.h"
#include "../conf/log.h"

void swift_conf_init(struct swift_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->auth_version = 1;
	c->connect_timeout = SWIFT_DEF_CONNECT_TIMEOUT;
	c->stall_timeout = SWIFT_DEF_STALL_TIMEOUT;
	c->retry_budget = SWIFT_DEF_RETRY_BUDGET;
	c->segment_size = SWIFT_DEF_SEGMENT_SIZE;
	c->parallel = SWIFT_DEF_PARALLEL;
	c->segments = SWIFT_SEGMENTS_HIDDEN;
}

void swift_conf_release(struct swift_conf *c)
{
	conf_free_secret(c->key, c->key_len);
	free(c->auth_url);
	free(c->user);
	free(c->user_id);
	free(c->project);
	free(c->project_id);
	free(c->domain);
	free(c->project_domain);
	free(c->appcred_id);
	free(c->appcred_name);
	free(c->region);
	free(c->interface);
	free(c->storage_url);
	swift_conf_init(c);
}

static int parse_uint(const char *key, const char *v, unsigned min,
		      unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n < min || n > max) {
		log_error("swift: %s = '%s' is not a number in %u..%u", key, v,
			  min, max);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int swift_conf_set(struct swift_conf *c, const char *key, const char *value)
{
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "auth_url", offsetof(struct swift_conf, auth_url) },
		{ "user", offsetof(struct swift_conf, user) },
		{ "user_id", offsetof(struct swift_conf, user_id) },
		{ "project", offsetof(struct swift_conf, project) },
		{ "project_id", offsetof(struct swift_conf, project_id) },
		{ "domain", offsetof(struct swift_conf, domain) },
		{ "project_domain",
		  offsetof(struct swift_conf, project_domain) },
		{ "appcred_id", offsetof(struct swift_conf, appcred_id) },
		{ "appcred_name", offsetof(struct swift_conf, appcred_name) },
		{ "region", offsetof(struct swift_conf, region) },
		{ "interface", offsetof(struct swift_conf, interface) },
		{ "storage_url", offsetof(struct swift_conf, storage_url) },
	};
	size_t i;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(key, strs[i].key) == 0)
			return set_str((char **)((char *)c + strs[i].off),
				       value);
	if (strcmp(key, "key_file") == 0) {
		char *s = NULL;
		size_t len = 0;
		int err = conf_read_secret(value, "swift key_file", &s, &len);

		if (err)
			return err;
		conf_free_secret(c->key, c->key_len);
		c->key = s;
		c->key_len = len;
		return 0;
	}
	if (strcmp(key, "key") == 0 || strcmp(key, "password") == 0) {
		log_error(
			"swift: secrets are read from files only: use key_file");
		return -EINVAL;
	}
	if (strcmp(key, "auth_version") == 0) {
		if (strcmp(value, "1") == 0 || strcmp(value, "1.0") == 0) {
			c->auth_version = 1;
			return 0;
		}
		if (strcmp(value, "3") == 0) {
			c->auth_version = 3;
			return 0;
		}
		log_error("swift: auth_version = '%s' is not 1 or 3", value);
		return -EINVAL;
	}
	if (strcmp(key, "insecure") == 0) {
		if (!strcmp(value, "yes") || !strcmp(value, "true") ||
		    !strcmp(value, "1") || !strcmp(value, "on")) {
			c->insecure = true;
			return 0;
		}
		if (!strcmp(value, "no") || !strcmp(value, "false") ||
		    !strcmp(value, "0") || !strcmp(value, "off")) {
			c->insecure = false;
			return 0;
		}
		log_error("swift: insecure = '%s' is not yes or no", value);
		return -EINVAL;
	}
	if (strcmp(key, "connect_timeout") == 0)
		return parse_uint(key, value, 1, 3600, &c->connect_timeout);
	if (strcmp(key, "stall_timeout") == 0)
		return parse_uint(key, value, 1, 3600, &c->stall_timeout);
	if (strcmp(key, "retry_budget") == 0)
		return parse_uint(key, value, 0, 86400, &c->retry_budget);
	if (strcmp(key, "parallel") == 0)
		return parse_uint(key, value, 1, SWIFT_MAX_PARALLEL,
				  &c->parallel);
	if (strcmp(key, "segment_size") == 0) {
		uint64_t v;

		/* Swift's max_file_size (5 GiB + 2) caps a segment too */
		if (conf_parse_size(value, &v) || v == 0 || v > (5ULL << 30)) {
			log_error(
				"swift: segment_size = '%s' is not a size in 1..5G",
				value);
			return -EINVAL;
		}
		c->segment_size = v;
		return 0;
	}
	if (strcmp(key, "segments") == 0) {
		if (strcmp(value, "hidden") == 0) {
			c->segments = SWIFT_SEGMENTS_HIDDEN;
			return 0;
		}
		if (strcmp(value, "trove") == 0) {
			c->segments = SWIFT_SEGMENTS_TROVE;
			return 0;
		}
		log_error("swift: segments = '%s' is not hidden or trove",
			  value);
		return -EINVAL;
	}
	log_error("swift: unknown setting '%s'", key);
	return -EINVAL;
}

int swift_conf_from_section(struct swift_conf *c, const struct conf_section *s)
{
	size_t i;

	for (i = 0; i < s->nkv; i++) {
		int err = swift_conf_set(c, s->kv[i].key, s->kv[i].value);

		if (err) {
			log_error("in [swift:%s] at line %d", s->name,
				  s->kv[i].line);
			return err;
		}
	}
	return 0;
}
