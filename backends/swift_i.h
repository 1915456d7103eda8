/*
 * swift_i.h - private to backends/swift_*.c: what the store ops
 * (swift_store.c) and the streamed writer (swift_writer.c) share: the
 * store's state, the request runner and the segment helpers.
 *
 * Every function here follows the store conventions: 0 or -errno, and
 * -errno mapped from the HTTP status by swift_http_errno().
 */
#ifndef BACKENDS_SWIFT_I_H
#define BACKENDS_SWIFT_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../conf/buf.h"
#include "swift_auth.h"
#include "swift_http.h"
#include "swift_json.h"
#include "swift_store.h"

/* Hidden container of the default segment layout. */
#define SWIFT_SEG_SUFFIX "+segments"
/* A manifest of 1000 entries (or one returned by multipart-manifest=get). */
#define SWIFT_MANIFEST_MAX (16u << 20)

/* The state of one swift store; read-only after swift_store_new(). */
struct swift_priv {
	struct swift_http_pool *pool;
	struct swift_auth *auth;
	uint64_t budget_ms;
	uint64_t segment_size;
	unsigned parallel;
	enum swift_segments segments;
	unsigned slo_max;
	/*
	 * The largest segment Swift took after answering 413 (its
	 * max_file_size is below segment_size); 0 until then. Written and
	 * read with __atomic builtins: writers of any thread learn from it.
	 */
	uint64_t seg_limit;
};

static inline struct swift_priv *swift_priv_of(struct store *st)
{
	return st->priv;
}

/* Statuses swift_do() does not log (they are expected). */
enum swift_quiet {
	SWIFT_QUIET_404 = 1 << 0,
	SWIFT_QUIET_409 = 1 << 1,
	SWIFT_QUIET_401 = 1 << 2,
	SWIFT_QUIET_202 = 1 << 3,
	SWIFT_QUIET_413 = 1 << 4,
};

/* One request; every pointer is borrowed for the call. */
struct swift_call {
	const char *method;
	const char *container; /* NULL: the account */
	const char *key;       /* NULL: the container */
	const char *query;     /* encoded, without '?'; or NULL */
	struct curl_slist *headers;
	const void *body;
	size_t body_len;
	bool has_body;
	void *dst;
	size_t dst_len;
	struct buf *resp;
	unsigned quiet; /* enum swift_quiet flags */
};

/*
 * Runs @c with retries and one re-authentication on 401; @r (initialised
 * and released by the caller) holds the last response. Returns 0 for a
 * 2xx (also 304/416), else the mapped -errno, logged unless quiet.
 */
int swift_do(struct swift_priv *sw, const struct swift_call *c,
	     struct swift_http_req *r);

/* A request whose response only matters by its status (*@status). */
int swift_simple(struct swift_priv *sw, const char *method,
		 const char *container, const char *key, const char *query,
		 unsigned quiet, long *status);

/* True if header @name of @r is "true" (any case). */
bool swift_hdr_true(const struct swift_http_req *r, const char *name);

/* HEAD of an object (404 not logged). */
int swift_head_raw(struct swift_priv *sw, const char *container,
		   const char *key, struct swift_http_req *r);

/* Appends X-Object-Meta-* and a Content-Type carrying @m to *@h. */
int swift_meta_headers(const struct meta *m, struct curl_slist **h);

/* Appends one printf-formatted header line to *@h. */
int swift_add_header(struct curl_slist **h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "<container>+segments" into @b. */
int swift_seg_container_name(const char *container, struct buf *b);

/* Deletes one segment given as "/c/o"; already gone counts as done. */
int swift_delete_path(struct swift_priv *sw, const char *path, bool sub_slo);

/* The segments of an SLO manifest we may delete when it is replaced. */
struct swift_old_segs {
	char **paths; /* owned */
	bool *sub;    /* paths[i] is a sub-manifest */
	size_t n;
	size_t cap;
	const char *own_prefix;	  /* "/<c>+segments/" */
	const char *trove_prefix; /* "/<c>/<key>_" */
	int err;
};

/*
 * If @key is an SLO whose segments trovefs made, collects them into @o.
 * Best effort: on any failure @o is empty (segments leak, nothing is lost).
 */
void swift_collect_old_segments(struct swift_priv *sw, const char *container,
				const char *key, struct swift_old_segs *o);

/* Deletes the segments of @o not listed in @keep (@n_keep entries). */
void swift_delete_old_segments(struct swift_priv *sw, struct swift_old_segs *o,
			       const struct swift_seg *keep, size_t n_keep);

void swift_old_segs_release(struct swift_old_segs *o);

/* Fills @oi from a HEAD response (size, X-Timestamp, X-Object-Meta-*). */
int swift_info_from_head(const struct swift_http_req *r, const char *key,
			 struct obj_info *oi);

/*
 * Renames an SLO whose segments are "/<sc>/<sk>_<suffix>" (Trove's
 * layout, swift_writer.c) so that they become "/<dc>/<dk>_<suffix>": a
 * server-side copy per segment, the new manifest with the metadata of
 * @head (the source's HEAD), then the old manifest and segments go. Trove
 * finds a backup's segments by name, and listings hide them only next to
 * their manifest. Returns 1 if the object is not in that layout (the
 * caller copies the manifest alone), else 0 or -errno (the source is then
 * left as it was).
 */
int swift_rename_trove_slo(struct swift_priv *sw, const char *sc,
			   const char *sk, const char *dc, const char *dk,
			   const struct swift_http_req *head);

/* The store's writer_open (swift_writer.c). */
int swift_writer_open(struct store *st, const char *container, const char *key,
		      const struct store_wopts *opts,
		      struct store_writer **out);

#endif /* BACKENDS_SWIFT_I_H */
