/*
 * swift_store.h - the "swift:" leaf: an OpenStack Swift account as a store.
 *
 * Containers are Swift containers, objects Swift objects. Metadata goes to
 * X-Object-Meta-<key> headers and, so that listings carry it without a
 * HEAD per object, into the content type as parameters:
 *     Content-Type: application/x-trovefs; mtime=...; mode=644; ...
 * Listing entries of objects trovefs did not write (or whose metadata did
 * not fit) have meta_partial set; head() always returns everything.
 * set_meta() is a POST that repeats what a POST would drop and @m does
 * not say (a DLO's X-Object-Manifest, a foreign Content-Type,
 * Content-Encoding, X-Delete-At, X-Object-Meta-* that struct meta cannot
 * hold); -EOPNOTSUPP if it cannot.
 *
 * Large objects: a writer buffers up to segment_size bytes; an object that
 * fits is one PUT (ETag-checked). A larger one becomes a Static Large
 * Object: segments are uploaded while the data streams in (up to
 * `parallel` at once, each ETag-checked and retried alone), and the
 * manifest PUT is the commit; beyond the cluster's max_manifest_segments
 * (read from /info, 1000 if it is hidden) manifests nest. On failure or
 * abort the uploaded segments are deleted (bulk delete where offered); if
 * Swift is unreachable the first failed DELETE stops that, one line says
 * how many are left, and 'trovefs gc' removes them later. Segments go to
 *     "<container>+segments" / "<key>/<uuid>/<%08d>"   (default; that
 *                                  container is hidden from listings)
 * or, with segments = trove (Trove's layout, for format=trove interop),
 *     "<container>" / "<key>_<%08d>"
 * numbered above every number in use under that name (swift_segs.c), so
 * an object being replaced stays whole until the new manifest commits.
 * Its segments show in listings unless their SLO is listed with them; it
 * exists only for Trove interop.
 * A killed writer leaves segments behind in "+segments"; they are never
 * listed, and a later gc can find them (no manifest refers to their uuid).
 *
 * Requests: libcurl with pooled connections, connect and stall timeouts,
 * idempotent requests retried on 5xx/429/498/422/resets/timeouts with
 * exponential backoff inside retry_budget seconds; a 401 re-authenticates
 * once. Errors follow swift_http_errno() (swift_http.h).
 *
 * Threading: all store ops are thread-safe; readers and writers are used
 * by one thread at a time. curl_global_init() must have run (main).
 */
#ifndef BACKENDS_SWIFT_STORE_H
#define BACKENDS_SWIFT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../conf/conf.h"
#include "store.h"

enum swift_segments {
	SWIFT_SEGMENTS_HIDDEN = 0, /* "<c>+segments/<key>/<uuid>/%08d",
				 * Trove's for format trove-sha256 */
	SWIFT_SEGMENTS_TROVE = 1,  /* "<c>/<key>_%08d" */
};

/* Default settings (swift_conf_init). */
#define SWIFT_DEF_CONNECT_TIMEOUT 10
#define SWIFT_DEF_STALL_TIMEOUT 30
#define SWIFT_DEF_RETRY_BUDGET 60
#define SWIFT_DEF_SEGMENT_SIZE (8ULL << 20)
#define SWIFT_DEF_PARALLEL 2
#define SWIFT_MAX_PARALLEL 16
/* Swift's default slo max_manifest_segments. */
#define SWIFT_SLO_MAX_SEGMENTS 1000

/*
 * A [swift:NAME] section. Strings are owned (NULL = unset) and freed by
 * swift_conf_release(), which also wipes the secret.
 */
struct swift_conf {
	char *auth_url;	  /* v1: .../auth/v1.0; v3: .../v3 */
	int auth_version; /* 1 = tempauth (v1.0), 3 = Keystone v3 */
	char *user;	  /* v1 "account:user"; v3 user name */
	char *user_id;	  /* v3: user by id instead of name */
	char *key;	  /* secret: v1 key, v3 password or app
				 * credential secret (from key_file) */
	size_t key_len;
	char *project;		  /* v3 project name (password auth) */
	char *project_id;	  /* v3 project id instead of the name */
	char *domain;		  /* v3 user domain name (default "Default") */
	char *project_domain;	  /* v3 project domain name (default: domain) */
	char *appcred_id;	  /* v3 application credential id, or... */
	char *appcred_name;	  /* ...name (with user) */
	char *region;		  /* catalog region; NULL = any */
	char *interface;	  /* catalog interface; NULL = "public" */
	char *storage_url;	  /* overrides the one auth returns */
	bool insecure;		  /* no TLS verification (default off) */
	unsigned connect_timeout; /* seconds */
	unsigned stall_timeout;	  /* seconds without progress */
	unsigned retry_budget;	  /* seconds a request may retry */
	uint64_t segment_size;	  /* bytes per SLO segment (>= 1) */
	unsigned parallel;	  /* segment uploads in flight (1..16) */
	enum swift_segments segments;
};

void swift_conf_init(struct swift_conf *c);
void swift_conf_release(struct swift_conf *c);

/*
 * Sets one key of a [swift:NAME] section: auth_url, auth_version, user,
 * user_id, key_file (read now; mode 0600 required), project, project_id,
 * domain, project_domain, appcred_id, appcred_name, region, interface,
 * storage_url, insecure (yes/no), connect_timeout, stall_timeout,
 * retry_budget, segment_size (64K, 8M...), parallel, segments
 * (hidden|trove). Secrets are accepted only from files. Returns 0,
 * -EINVAL (unknown key, bad value; logged), -ENOENT/-EACCES (key file),
 * -ENOMEM.
 */
int swift_conf_set(struct swift_conf *c, const char *key, const char *value);

/* Applies every key of @s; stops at the first error (logged with its
 * line). */
int swift_conf_from_section(struct swift_conf *c, const struct conf_section *s);

/*
 * Builds the store. Copies what it needs from @conf (the secret too; it
 * is only borrowed during the call). Does not contact Swift: the first
 * request authenticates. Returns 0, -EINVAL (incomplete conf, logged),
 * -ENOMEM. On success the caller destroys *@out.
 */
int swift_store_new(const struct swift_conf *conf, struct store **out);

/* ---- gc of orphan segments (swift_gc.c) ---- */

/* Default grace period: segments younger than this may be an upload. */
#define SWIFT_GC_DEF_GRACE (24 * 3600)

/*
 * Called per orphan segment found (before it is deleted): @seg_container
 * and @name are borrowed; non-zero stops gc and is returned.
 */
typedef int swift_gc_fn(void *arg, const char *seg_container, const char *name,
			uint64_t bytes);

struct swift_gc_opts {
	uint64_t grace_s; /* keep groups with a segment this young */
	bool dry_run;	  /* report only */
	swift_gc_fn *fn;  /* or NULL */
	void *arg;
};

/*
 * Removes the orphan segments of @container (NULL: of every container):
 * upload groups "<key>/<uuid>/" in "<container>+segments" that no SLO
 * manifest of the account names and whose newest segment is older than
 * the grace period (segments left by a killed writer). Segments of live
 * objects are never touched. @st is a swift store or a stack over one.
 * *@removed gets the number of segment objects removed (with @dry_run:
 * that would be). Returns 0; -EINVAL (not a swift store, bad name);
 * -EAGAIN (the account kept changing; nothing removed); another -errno
 * of the requests (logged). Not for concurrent use with itself.
 */
int swift_store_gc_opts(struct store *st, const char *container,
			const struct swift_gc_opts *o, uint64_t *removed);
/* The same with the default grace period and no callback. */
int swift_store_gc(struct store *st, const char *container, bool dry_run,
		   uint64_t *removed);

#endif /* BACKENDS_SWIFT_STORE_H */
