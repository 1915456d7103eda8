/*
 * swift_auth.h - tokens for the Swift store: tempauth (v1.0) and Keystone
 * v3 (password or application credential, catalog lookup of the
 * object-store endpoint by region and interface). The token is cached and
 * shared by all threads; a request that gets 401 invalidates it (once per
 * generation) and the next swift_auth_get() authenticates again.
 *
 * Errors of authentication: -EACCES (credentials refused: 401/403),
 * -EHOSTUNREACH (auth server unreachable; never reported as bad
 * credentials), -ETIMEDOUT, -ENOENT (no matching object-store endpoint),
 * -EINVAL (endpoints in several regions and no region configured), -EIO
 * (server error after retries), -EBADMSG (unparsable answer, no catalog).
 *
 * Locks: a->lock protects the cached token; it is never held across the
 * network: one thread authenticates (a->busy) while others wait on a
 * condition variable.
 */
#ifndef BACKENDS_SWIFT_AUTH_H
#define BACKENDS_SWIFT_AUTH_H

#include "swift_http.h"
#include "swift_store.h"

#define SWIFT_TOKEN_MAX 1024
#define SWIFT_STORAGE_URL_MAX 2048

struct swift_auth;

/* A copy of the current token, for one request. */
struct swift_token {
	char token[SWIFT_TOKEN_MAX];
	char url[SWIFT_STORAGE_URL_MAX]; /* storage URL, no final '/' */
	unsigned gen;			 /* for swift_auth_invalidate */
};

/*
 * New authenticator over @pool (borrowed; must outlive it). Copies from
 * @conf what it needs, the secret included. Returns 0, -EINVAL (missing
 * settings, logged), -ENOMEM. Frees with swift_auth_free() (wipes the
 * secret and token).
 */
int swift_auth_new(const struct swift_conf *conf, struct swift_http_pool *pool,
		   struct swift_auth **out);
void swift_auth_free(struct swift_auth *a);

/*
 * Copies the current token into @t, authenticating first if there is
 * none, it was invalidated or it expires within a minute. Returns 0 or an
 * error listed above (logged once per failed attempt). Thread-safe.
 */
int swift_auth_get(struct swift_auth *a, struct swift_token *t);

/*
 * Drops the token of generation @gen (a 401 came back for it); a newer
 * token is kept. Thread-safe.
 */
void swift_auth_invalidate(struct swift_auth *a, unsigned gen);

#endif /* BACKENDS_SWIFT_AUTH_H */
