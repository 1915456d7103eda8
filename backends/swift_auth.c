/*
 * swift_auth.c - tempauth v1.0 and Keystone v3 tokens for the Swift store
 * (contract in swift_auth.h).
 *
 * The cached token has a generation number; a request that gets 401 for
 * generation g invalidates g only, so a burst of 401s from requests that
 * started with the same stale token causes one re-authentication.
 *
 * Locks: a->lock protects token, url, gen, valid, expires, busy, attempt
 * and last_err. The network exchange runs unlocked by the one thread that
 * set busy; the others wait on a->cond and take that attempt's result.
 * Secrets and tokens are never logged and are wiped when freed.
 */
#include "swift_auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/log.h"
#include "swift_json.h"

/* Keystone's token responses with a catalog are a few KiB. */
#define AUTH_RESP_MAX (1024 * 1024)

struct swift_auth {
	struct swift_http_pool *pool; /* borrowed */
	int version;
	char *auth_url;
	char *user;
	char *user_id;
	char *key; /* secret */
	size_t key_len;
	char *project;
	char *project_id;
	char *domain;
	char *project_domain;
	char *appcred_id;
	char *appcred_name;
	char *region;
	char *interface;
	char *storage_url; /* override or NULL */
	uint64_t budget_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool busy;
	bool valid;
	unsigned gen;
	unsigned attempt; /* finished authentication attempts */
	int last_err;	  /* result of the last attempt */
	time_t expires;	  /* 0 = unknown */
	char token[SWIFT_TOKEN_MAX];
	char url[SWIFT_STORAGE_URL_MAX];
};

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int swift_auth_new(const struct swift_conf *conf, struct swift_http_pool *pool,
		   struct swift_auth **out)
{
	struct swift_auth *a;
	int err = 0;

	if (!conf->auth_url && !conf->storage_url) {
		log_error("swift: no auth_url configured");
		return -EINVAL;
	}
	if (conf->auth_version != 1 && conf->auth_version != 3) {
		log_error("swift: auth_version must be 1 or 3, not %d",
			  conf->auth_version);
		return -EINVAL;
	}
	if (conf->auth_url && !conf->key) {
		log_error("swift: no key_file configured for '%s'",
			  conf->auth_url);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->pool = pool;
	a->version = conf->auth_version;
	a->budget_ms = (uint64_t)conf->retry_budget * 1000;
	err = err ? err : dup_opt(&a->auth_url, conf->auth_url);
	err = err ? err : dup_opt(&a->user, conf->user);
	err = err ? err : dup_opt(&a->user_id, conf->user_id);
	err = err ? err : dup_opt(&a->project, conf->project);
	err = err ? err : dup_opt(&a->project_id, conf->project_id);
	err = err ? err : dup_opt(&a->domain, conf->domain);
	err = err ? err : dup_opt(&a->project_domain, conf->project_domain);
	err = err ? err : dup_opt(&a->appcred_id, conf->appcred_id);
	err = err ? err : dup_opt(&a->appcred_name, conf->appcred_name);
	err = err ? err : dup_opt(&a->region, conf->region);
	err = err ? err : dup_opt(&a->interface, conf->interface);
	err = err ? err : dup_opt(&a->storage_url, conf->storage_url);
	if (!err && conf->key) {
		a->key = malloc(conf->key_len + 1);
		if (a->key) {
			memcpy(a->key, conf->key, conf->key_len);
			a->key[conf->key_len] = '\0';
			a->key_len = conf->key_len;
		} else {
			err = -ENOMEM;
		}
	}
	if (!err && a->version == 1 && a->auth_url && !a->user) {
		log_error("swift: tempauth needs user = account:user");
		err = -EINVAL;
	}
	if (!err && a->version == 3 && !a->user && !a->user_id &&
	    !a->appcred_id) {
		log_error("swift: keystone needs user, user_id or appcred_id");
		err = -EINVAL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	if (err) {
		swift_auth_free(a);
		return err;
	}
	*out = a;
	return 0;
}

void swift_auth_free(struct swift_auth *a)
{
	if (!a)
		return;
	if (a->key) {
		OPENSSL_cleanse(a->key, a->key_len);
		free(a->key);
	}
	OPENSSL_cleanse(a->token, sizeof(a->token));
	free(a->auth_url);
	free(a->user);
	free(a->user_id);
	free(a->project);
	free(a->project_id);
	free(a->domain);
	free(a->project_domain);
	free(a->appcred_id);
	free(a->appcred_name);
	free(a->region);
	free(a->interface);
	free(a->storage_url);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* The identity service named as operators know it, for log lines. */
static const char *auth_kind(const struct swift_auth *a)
{
	return a->version == 3 ? "keystone" : "auth server";
}

/* Who authenticates, for log lines: a name or id, never the secret. */
static const char *auth_who(const struct swift_auth *a)
{
	if (a->user)
		return a->user;
	if (a->user_id)
		return a->user_id;
	if (a->appcred_id)
		return a->appcred_id;
	return a->appcred_name ? a->appcred_name : "?";
}

/*
 * Logs a failed exchange. "Unreachable" and "refused the credentials" are
 * different lines and different errnos (-EHOSTUNREACH/-ETIMEDOUT against
 * -EACCES): an outage must never read as a wrong password.
 */
static int auth_fail(const struct swift_auth *a, struct swift_http_req *r,
		     int err)
{
	char trans[128] = "";

	if (!err)
		err = swift_http_errno(r->status, r->cc, SWIFT_TARGET_ACCOUNT,
				       NULL);
	if (!err)
		err = -EBADMSG;
	swift_http_header(r, "x-openstack-request-id", trans, sizeof(trans));
	if (!trans[0])
		swift_http_header(r, "x-trans-id", trans, sizeof(trans));
	if (r->cc != CURLE_OK && (err == -EHOSTUNREACH || err == -ETIMEDOUT))
		log_error("%s '%s' unreachable: %s (%s)", auth_kind(a),
			  a->auth_url, curl_easy_strerror(r->cc),
			  strerror(-err));
	else if (r->cc != CURLE_OK)
		log_error("cannot authenticate at %s '%s': %s", auth_kind(a),
			  a->auth_url, curl_easy_strerror(r->cc));
	else if (r->status == 401 || r->status == 403)
		log_error(
			"%s '%s' refused the credentials of '%s': HTTP %ld%s%s",
			auth_kind(a), a->auth_url, auth_who(a), r->status,
			trans[0] ? " " : "", trans);
	else
		log_error("cannot authenticate at %s '%s': HTTP %ld%s%s",
			  auth_kind(a), a->auth_url, r->status,
			  trans[0] ? " " : "", trans);
	return err;
}

static int copy_str(char *dst, size_t dst_len, const char *src,
		    const char *what)
{
	size_t n = strlen(src);

	/* URLs only: a final '/' would double the one we add */
	while (n > 0 && src[n - 1] == '/')
		n--;
	if (n == 0 || n >= dst_len) {
		log_error("swift: %s of %zu bytes is empty or too long", what,
			  n);
		return -EBADMSG;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* GET auth_url with X-Auth-User/X-Auth-Key (tempauth, swauth, v1.0). */
static int auth_v1(struct swift_auth *a, char *token, char *url,
		   time_t *expires)
{
	struct swift_http_req r;
	struct curl_slist *h = NULL;
	struct buf hb;
	char v[SWIFT_STORAGE_URL_MAX];
	int err;

	buf_init(&hb, 4096);
	buf_printf(&hb, "X-Auth-Key: %s", a->key);
	if (hb.err)
		return hb.err;
	h = curl_slist_append(h, hb.data);
	OPENSSL_cleanse(hb.data, hb.len);
	buf_release(&hb);
	buf_init(&hb, 4096);
	buf_printf(&hb, "X-Auth-User: %s", a->user);
	if (!h || hb.err) {
		err = -ENOMEM;
		goto out_free;
	}
	if (!curl_slist_append(h, hb.data)) {
		err = -ENOMEM;
		goto out_free;
	}
	swift_http_req_init(&r);
	r.method = "GET";
	r.url = a->auth_url;
	r.headers = h;
	err = swift_http_perform_retry(a->pool, &r, true, a->budget_ms, NULL);
	if (err || r.status < 200 || r.status > 299) {
		err = auth_fail(a, &r, err);
		goto out_req;
	}
	if (!swift_http_header(&r, "x-auth-token", token, SWIFT_TOKEN_MAX) ||
	    !swift_http_header(&r, "x-storage-url", v, sizeof(v))) {
		log_error("auth server '%s' sent no token or storage url",
			  a->auth_url);
		err = -EBADMSG;
		goto out_req;
	}
	err = copy_str(url, SWIFT_STORAGE_URL_MAX, v, "storage url");
	*expires = 0;
	if (!err &&
	    swift_http_header(&r, "x-auth-token-expires", v, sizeof(v))) {
		char *end;
		long long s = strtoll(v, &end, 10);

		if (end != v && s > 0)
			*expires = time(NULL) + (time_t)s;
	}
out_req:
	swift_http_req_release(&r);
out_free:
	/* the list holds the key */
	if (h)
		OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(h);
	buf_release(&hb);
	return err;
}

/* POST {auth_url}/auth/tokens with a JSON body built by libbson. */
static int auth_v3(struct swift_auth *a, char *token, char *url,
		   time_t *expires)
{
	const struct swift_keystone_cred cred = {
		.user = a->user,
		.user_id = a->user_id,
		.user_domain = a->domain,
		.password = a->key,
		.project = a->project,
		.project_id = a->project_id,
		.project_domain = a->project_domain,
		.appcred_id = a->appcred_id,
		.appcred_name = a->appcred_name,
	};
	struct swift_http_req r;
	struct curl_slist *h = NULL;
	struct buf body;
	struct buf u;
	struct buf resp;
	char *ep = NULL;
	size_t n = strlen(a->auth_url);
	int err;

	buf_init(&body, 64 * 1024);
	buf_init(&u, SWIFT_URL_MAX);
	buf_init(&resp, AUTH_RESP_MAX);
	swift_http_req_init(&r);
	while (n > 0 && a->auth_url[n - 1] == '/')
		n--;
	buf_append(&u, a->auth_url, n);
	if (n < 12 || memcmp(a->auth_url + n - 12, "/auth/tokens", 12) != 0)
		buf_puts(&u, "/auth/tokens");
	err = u.err ? u.err : swift_json_keystone_request(&cred, &body);
	if (err)
		goto out_free;
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (!h) {
		err = -ENOMEM;
		goto out_free;
	}
	r.method = "POST";
	r.url = u.data;
	r.headers = h;
	r.body = body.data;
	r.body_len = body.len;
	r.has_body = true;
	r.resp = &resp;
	/* a token request has no side effect worth guarding: retry it */
	err = swift_http_perform_retry(a->pool, &r, true, a->budget_ms, NULL);
	if (err || r.status < 200 || r.status > 299) {
		err = auth_fail(a, &r, err);
		goto out_free;
	}
	if (!swift_http_header(&r, "x-subject-token", token, SWIFT_TOKEN_MAX)) {
		log_error("keystone '%s' sent no X-Subject-Token", a->auth_url);
		err = -EBADMSG;
		goto out_free;
	}
	if (swift_json_keystone_expiry(resp.data, resp.len, expires))
		*expires = 0;
	if (a->storage_url) {
		err = copy_str(url, SWIFT_STORAGE_URL_MAX, a->storage_url,
			       "storage_url");
		goto out_free;
	}
	err = swift_json_keystone_catalog(resp.data, resp.len, "object-store",
					  a->region, a->interface, &ep);
	if (err == -ENOENT) {
		log_error(
			"keystone '%s' lists no object-store endpoint for interface '%s' in region '%s'",
			a->auth_url, a->interface ? a->interface : "public",
			a->region ? a->region : "(any)");
	} else if (err == -ENOTUNIQ) {
		/* picking one would depend on Keystone's unstable order */
		log_error(
			"keystone '%s' lists object-store endpoints for interface '%s' in several regions: set region",
			a->auth_url, a->interface ? a->interface : "public");
		err = -EINVAL;
	} else if (err == -EBADMSG) {
		log_error(
			"keystone '%s' sent no service catalog (is the token scoped to a project?)",
			a->auth_url);
	} else if (!err) {
		err = copy_str(url, SWIFT_STORAGE_URL_MAX, ep, "storage url");
	}
	free(ep);
out_free:
	swift_http_req_release(&r);
	curl_slist_free_all(h);
	if (body.data)
		OPENSSL_cleanse(body.data, body.len);
	buf_release(&body);
	buf_release(&u);
	buf_release(&resp);
	return err;
}

static bool token_usable(const struct swift_auth *a)
{
	/* refresh a minute early: a request must not race the expiry */
	return a->valid && (!a->expires || time(NULL) + 60 < a->expires);
}

int swift_auth_get(struct swift_auth *a, struct swift_token *t)
{
	char token[SWIFT_TOKEN_MAX];
	char url[SWIFT_STORAGE_URL_MAX];
	time_t expires = 0;
	unsigned seen;
	int err;

	pthread_mutex_lock(&a->lock);
	seen = a->attempt;
	while (a->busy)
		pthread_cond_wait(&a->cond, &a->lock);
	if (a->attempt != seen && !a->valid) {
		/* we waited for an attempt that failed: share its result */
		err = a->last_err;
		pthread_mutex_unlock(&a->lock);
		return err;
	}
	if (token_usable(a)) {
		memcpy(t->token, a->token, sizeof(t->token));
		memcpy(t->url, a->url, sizeof(t->url));
		t->gen = a->gen;
		pthread_mutex_unlock(&a->lock);
		return 0;
	}
	a->busy = true;
	pthread_mutex_unlock(&a->lock);

	if (!a->auth_url) {
		/* storage_url alone: a pre-authorised (e.g. tempurl) setup */
		token[0] = '\0';
		err = copy_str(url, sizeof(url), a->storage_url, "storage_url");
	} else if (a->version == 1) {
		err = auth_v1(a, token, url, &expires);
		if (!err && a->storage_url)
			err = copy_str(url, sizeof(url), a->storage_url,
				       "storage_url");
	} else {
		err = auth_v3(a, token, url, &expires);
	}

	if (!err && a->auth_url) {
		/* the URL and the user, never the token or the secret */
		log_info("%s '%s': authenticated '%s'; storage url '%s'",
			 auth_kind(a), a->auth_url, auth_who(a), url);
	}

	pthread_mutex_lock(&a->lock);
	a->busy = false;
	a->attempt++;
	a->last_err = err;
	if (!err) {
		memcpy(a->token, token, sizeof(a->token));
		memcpy(a->url, url, sizeof(a->url));
		a->expires = expires;
		a->valid = true;
		a->gen++;
		memcpy(t->token, token, sizeof(t->token));
		memcpy(t->url, url, sizeof(t->url));
		t->gen = a->gen;
	}
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	OPENSSL_cleanse(token, sizeof(token));
	return err;
}

void swift_auth_invalidate(struct swift_auth *a, unsigned gen)
{
	pthread_mutex_lock(&a->lock);
	if (a->gen == gen)
		a->valid = false;
	pthread_mutex_unlock(&a->lock);
}
