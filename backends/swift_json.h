/*
 * swift_json.h - the JSON of the Swift store, parsed and built with libbson
 * (never by hand): container and account listings, SLO manifests, Keystone
 * v3 token requests and catalogs. Also the "application/x-trovefs; k=v"
 * content types that carry an object's metadata into listings, and
 * Swift's timestamps. Pure functions, no I/O; thread-safe.
 */
#ifndef BACKENDS_SWIFT_JSON_H
#define BACKENDS_SWIFT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../conf/buf.h"
#include "meta.h"

/* The content type trovefs gives its objects; parameters carry metadata. */
#define SWIFT_CTYPE "application/x-trovefs"
/*
 * The content type of the parts (segments, sub-manifests) trovefs writes
 * in Trove's layout, next to users' objects: "...; upload=<32 hex>" names
 * the upload they belong to, so that listings hide them and `trovefs gc`
 * can tell an interrupted upload's parts from anyone's "<x>_%08d".
 */
#define SWIFT_SEG_CTYPE "application/x-trovefs-segment"
#define SWIFT_UPLOAD_ID_LEN 32

/* One entry of a listing; every pointer borrowed for the callback. */
struct swift_json_entry {
	const char *name;	   /* object/container name, or the subdir */
	bool is_subdir;		   /* {"subdir": "a/"} */
	uint64_t bytes;		   /* total bytes (SLO: the whole object) */
	uint64_t count;		   /* containers: object count */
	const char *last_modified; /* "2024-01-02T03:04:05.123456" or "" */
	const char *content_type;  /* "" if absent */
	const char *hash;	   /* md5 hex; "" if absent */
	const char *slo_etag;	   /* SLO listings only; else "" */
};

/* Return 0 to go on, non-zero to stop (returned by the parser). */
typedef int swift_json_entry_fn(void *arg, const struct swift_json_entry *e);

/*
 * Parses a ?format=json listing (container or account: an array of
 * objects) and calls @fn per entry in order. *@n is set to the number of
 * entries seen. Returns 0, -EBADMSG (not a JSON array of objects, or an
 * entry without a name), -ENOMEM, or @fn's non-zero value.
 */
int swift_json_parse_listing(const char *json, size_t len,
			     swift_json_entry_fn *fn, void *arg, size_t *n);

/* One SLO manifest entry (a segment or a sub-manifest). */
struct swift_seg {
	char *path;    /* owned: "/container/object" (not encoded) */
	char etag[33]; /* md5 hex (segment) or SLO etag; "" = none */
	uint64_t size;
};

/*
 * Builds the body of PUT ?multipart-manifest=put for @n entries:
 * [{"path": ..., "etag": ..., "size_bytes": ...}, ...] (etag omitted when
 * empty). Appends to @out; returns 0, -ENOMEM, -E2BIG.
 */
int swift_json_manifest(const struct swift_seg *segs, size_t n,
			struct buf *out);

/*
 * Parses the body of GET ?multipart-manifest=get ([{"name": "/c/o",
 * "hash", "bytes", "sub_slo"}...]) calling @fn per entry with name = the
 * segment's path and is_subdir = sub_slo. Returns as
 * swift_json_parse_listing().
 */
int swift_json_parse_manifest(const char *json, size_t len,
			      swift_json_entry_fn *fn, void *arg, size_t *n);

/* SLO etag: md5 hex over the concatenated etags; @out gets 33 bytes. */
int swift_slo_etag(const struct swift_seg *segs, size_t n, char out[33]);

/* ---- Keystone v3 ---- */

struct swift_keystone_cred {
	const char *user;	    /* name (or NULL with user_id) */
	const char *user_id;	    /* NULL = by name */
	const char *user_domain;    /* name, default "Default" */
	const char *password;	    /* password or app credential secret */
	const char *project;	    /* name; NULL = the user's default */
	const char *project_id;	    /* instead of the name */
	const char *project_domain; /* name, default = user_domain */
	const char *appcred_id;	    /* application credential id, or */
	const char *appcred_name;   /* ...its name (then user is needed) */
};

/*
 * Body of POST /v3/auth/tokens: password (project-scoped when a project
 * is given) or application credential (no scope: Keystone refuses one).
 * Appends to @out, which then holds the secret: wipe it. Returns 0,
 * -ENOMEM, -EINVAL (no user/appcred).
 */
int swift_json_keystone_request(const struct swift_keystone_cred *c,
				struct buf *out);

/*
 * Finds the endpoint of service @type ("object-store") in a token
 * response ({"token": {"catalog": [...]}}) or a catalog response
 * ({"catalog": [...]}), matching @interface ("public" if NULL; the
 * v2-style "publicURL" is accepted) and @region (any if NULL or "", but
 * then all matches must have the same URL). On success *@url is the
 * caller's (free()). Returns 0, -ENOENT (no such endpoint), -ENOTUNIQ (no
 * region given and matches in several regions), -EBADMSG (no catalog:
 * e.g. an unscoped token), -ENOMEM.
 */
int swift_json_keystone_catalog(const char *json, size_t len, const char *type,
				const char *region, const char *interface,
				char **url);

/*
 * Reads "expires_at" of a token response into *@expires (UTC). Returns 0,
 * -ENOENT, -EBADMSG.
 */
int swift_json_keystone_expiry(const char *json, size_t len, time_t *expires);

/* ---- content types and times ---- */

/*
 * Builds "application/x-trovefs; k=v; ..." from @m. Pairs whose value is
 * not a plain token (RFC 7230 tchar) are left out, and then the parameter
 * "tfs_partial=1" says so (meta keys never hold '_'). Appends to @out;
 * returns 0 or the buf's error.
 */
int swift_ctype_from_meta(const struct meta *m, struct buf *out);

/*
 * Parses a content type. If it is SWIFT_CTYPE, its parameters are added to
 * @m (invalid keys skipped) and *@complete says whether @m now holds all
 * of the object's metadata. Otherwise @m is untouched and *@complete is
 * false. Returns 0, -ENOMEM.
 */
int swift_ctype_to_meta(const char *ctype, struct meta *m, bool *complete);

/*
 * The Content-Type of the parts of upload @id (SWIFT_SEG_CTYPE), appended
 * to @out. Returns 0 or the buf's error.
 */
int swift_part_ctype(const char *id, struct buf *out);

/*
 * True if @ctype is SWIFT_SEG_CTYPE with an "upload" parameter of
 * SWIFT_UPLOAD_ID_LEN lowercase hex digits, copied to @id (NUL-ended).
 */
bool swift_seg_ctype_upload(const char *ctype,
			    char id[SWIFT_UPLOAD_ID_LEN + 1]);

/*
 * Parses a listing's "2024-01-02T03:04:05.123456" (UTC) or a header's
 * X-Timestamp "1700000000.12345". Returns 0, -EINVAL.
 */
int swift_parse_iso_time(const char *s, struct timespec *ts);
int swift_parse_x_timestamp(const char *s, struct timespec *ts);

#endif /* BACKENDS_SWIFT_JSON_H */
