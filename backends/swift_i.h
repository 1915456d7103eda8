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

#include <pthread.h>
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
/* The query of a manifest PUT (swift_put_checked adds heartbeat=on). */
#define SWIFT_MANIFEST_PUT "multipart-manifest=put"
/* A manifest of 1000 entries (or one returned by multipart-manifest=get). */
#define SWIFT_MANIFEST_MAX (16u << 20)

/*
 * What this store stored in one PUT moments ago (swift_recent.c): a
 * rename of such an object skips the HEAD that asks whether it is a
 * manifest (rsync renames each file it just wrote). Kept for
 * SWIFT_RECENT_MS, at most SWIFT_RECENT_MAX of them, the oldest replaced.
 * Another client may replace the object within that time: the rename's
 * COPY carries multipart-manifest=get all the same, so a manifest is
 * still copied as a manifest (docs/SWIFT.md "Renames").
 */
#define SWIFT_RECENT_MAX 64
#define SWIFT_RECENT_MS 5000

struct swift_recent_put {
	char *path; /* "container/key"; NULL: a free slot */
	uint64_t bytes;
	uint64_t at_ms; /* swift_now_ms() of the PUT's answer */
};

struct swift_recent {
	pthread_mutex_t lock;
	struct swift_recent_put puts[SWIFT_RECENT_MAX];
	unsigned next; /* the slot the next new entry takes */
};

void swift_recent_init(struct swift_recent *r);
void swift_recent_release(struct swift_recent *r);

/* Notes that @c/@k was stored in one PUT of @bytes at @now_ms. */
void swift_recent_note(struct swift_recent *r, const char *c, const char *k,
		       uint64_t bytes, uint64_t now_ms);

/*
 * True if @c/@k was noted less than SWIFT_RECENT_MS before @now_ms; then
 * *@bytes gets its size. The entry goes either way (a rename moves it).
 */
bool swift_recent_take(struct swift_recent *r, const char *c, const char *k,
		       uint64_t now_ms, uint64_t *bytes);

/* Drops @c/@k (deleted, or replaced by what may not be one PUT). */
void swift_recent_forget(struct swift_recent *r, const char *c, const char *k);

/* The state of one swift store; read-only after swift_store_new(). */
struct swift_priv {
	struct swift_http_pool *pool;
	struct swift_auth *auth;
	uint64_t budget_ms;
	uint64_t segment_size;
	unsigned parallel;
	enum swift_segments segments;
	/* copies of the conf for the reader's own stream (swift_store.c) */
	unsigned connect_timeout;
	unsigned stall_timeout;
	bool insecure;
	/*
	 * What Swift's /info said (swift_info_load): the most entries of
	 * one SLO manifest (SWIFT_SLO_MAX_SEGMENTS until known) and of one
	 * bulk delete (0: no bulk delete). info_known is set once they are
	 * final. All three are written and read with __atomic builtins.
	 */
	unsigned slo_max;
	unsigned bulk_max;
	bool info_known;
	/*
	 * The most entries of one listing page (swift.container_listing_
	 * limit), 0 until a listing answered 412 made swift_info_load()
	 * read it; then every page asks for no more. __atomic as above.
	 */
	unsigned list_max;
	/*
	 * The largest segment Swift took after answering 413 (its
	 * max_file_size is below segment_size); 0 until then. Written and
	 * read with __atomic builtins: writers of any thread learn from it.
	 */
	uint64_t seg_limit;
	/* objects just stored in one PUT; has its own lock */
	struct swift_recent recent;
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
	SWIFT_QUIET_412 = 1 << 5,
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
	unsigned quiet;	   /* enum swift_quiet flags */
	uint64_t stall_ms; /* a longer stall limit, or 0 (swift_http_req) */
};

/* URL and headers (token first) of @c; see swift_store.c. */
int swift_request_setup(const struct swift_token *tok,
			const struct swift_call *c, struct buf *url,
			struct buf *th, struct curl_slist **out);

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
/* The stored manifest of container/key (swift_store.c); *@slo optional. */
int swift_get_manifest(struct swift_priv *sw, const char *container,
		       const char *key, struct buf *resp, bool *slo);

/*
 * Opens a reader of container/key pinned to the version its HEAD sees
 * (@oi optional, see store.h reader_open); swift_reader.c.
 */
int swift_reader_open(struct store *st, const char *container, const char *key,
		      struct obj_info *oi, struct store_reader **out);

int swift_head_raw(struct swift_priv *sw, const char *container,
		   const char *key, struct swift_http_req *r);

/* Appends X-Object-Meta-* and a Content-Type carrying @m to *@h. */
int swift_meta_headers(const struct meta *m, struct curl_slist **h);

/* Appends one printf-formatted header line to *@h. */
int swift_add_header(struct curl_slist **h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The most a bulk-middleware JSON answer (bulk delete, SLO delete) takes. */
#define SWIFT_BULK_RESP_MAX (1u << 20)

/* "<container>+segments" into @b. */
int swift_seg_container_name(const char *container, struct buf *b);

/*
 * Splits "/container/object" into @c and @k, borrowed from @b (which the
 * caller initialised and releases). Returns 0, -EINVAL or @b's error.
 */
int swift_split_path(const char *path, struct buf *b, const char **c,
		     const char **k);

/* Deletes one object given as "/c/o"; already gone counts as done. */
int swift_delete_path(struct swift_priv *sw, const char *path);

/*
 * Deletes the @n plain objects @paths ("/c/o", not encoded) in order:
 * with bulk delete (POST ?bulk-delete, up to sw->bulk_max a request) when
 * Swift offers it and @n > 1, else one DELETE each. Already gone counts as
 * deleted. Stops at the first failure: a dead Swift costs one request's
 * retry budget, not one per object. *@done (may be NULL) gets how many of
 * @paths are known gone. Returns 0 or the failure's -errno (logged).
 */
int swift_delete_paths(struct swift_priv *sw, char *const *paths, size_t n,
		       size_t *done);

/*
 * Reads Swift's /info once per store into sw->slo_max and sw->bulk_max.
 * @budget_ms bounds the retries. Returns 0 (also when Swift has no /info:
 * the defaults stay) or the -errno of a transport failure (then the
 * defaults stay and a later call tries again).
 */
int swift_info_load(struct swift_priv *sw, uint64_t budget_ms);

/* ---- pure helpers, unit-tested (tests/unit/test_swift_writer.c) ---- */

/*
 * "<scheme>://<host>[/prefix]/info" for a storage URL ".../v1/AUTH_x"
 * (the part before the last "/v1/"; the host root without one) into @b.
 * Returns 0, -EINVAL (no "scheme://host"), or the buf's error.
 */
int swift_info_url(const char *storage_url, struct buf *b);

/* What /info says that trovefs uses. */
struct swift_info {
	unsigned slo_max;  /* slo.max_manifest_segments */
	unsigned bulk_max; /* bulk_delete.max_deletes_per_request; 0: none */
	unsigned list_max; /* swift.container_listing_limit; 0: not said */
};

/*
 * Parses /info into @out: slo_max unchanged if absent, bulk_max 0 if
 * Swift has no bulk delete, list_max 0 if not said. Returns 0, -EBADMSG.
 */
int swift_info_parse(const char *json, size_t len, struct swift_info *out);

/*
 * Appends to @b the bulk-delete lines of @paths ("/c/o"), URL-encoded,
 * one per line, starting at @paths[0] and stopping after @max entries or
 * before the body would pass @max_bytes. *@taken gets the entries added
 * (>= 1 unless an error). Returns 0, -ENAMETOOLONG (one path alone passes
 * @max_bytes), -EINVAL (not "/c/o"), -ENOMEM.
 */
int swift_bulk_delete_body(char *const *paths, size_t n, size_t max,
			   size_t max_bytes, struct buf *b, size_t *taken);

/*
 * Parses a body in the format of Swift's bulk middleware (Accept:
 * application/json): a bulk delete, a DELETE ?multipart-manifest=delete,
 * a manifest PUT with heartbeat=on. 0 if its "Response Status" is 2xx and
 * "Errors" is empty, else -EIO (a 4xx/5xx inside a 200) or -EBADMSG.
 * *@deleted and *@not_found get the counts, *@status (may be NULL) the
 * number of "Response Status" (0 if none).
 */
int swift_bulk_delete_result(const char *json, size_t len, uint64_t *deleted,
			     uint64_t *not_found, long *status);

/*
 * The HTTP status of the first well-formed entry of "Errors" in such a
 * body ("403 Forbidden": 403), or 0 if there is none (or no JSON).
 */
long swift_bulk_first_error(const char *json, size_t len);

/*
 * The listing rule of Trove's layout: "<x>_%08d" (and "<x>_m%d-%08d", a
 * nested manifest) is hidden when "<x>" was listed as an SLO before it in
 * the same sorted listing, or an SLO "<x>.<ext>" when <x> is a UUID
 * (Trove's guest agent names segments after the backup id, the name up
 * to its first dot). Feed every entry in order to
 * swift_hide_is_segment(); release with swift_hide_release().
 */
#define SWIFT_HIDE_STACK_MAX 32
struct swift_hide {
	char *slo[SWIFT_HIDE_STACK_MAX]; /* owned: SLOs prefixing the entry */
	size_t nslo;
};

/* The length of the "<x>" of a Trove segment name, or 0 if not one. */
size_t swift_trove_seg_base(const char *name);

/*
 * If @name (a listed object, Content-Type @ctype) is a part trovefs wrote
 * in Trove's layout - a Trove segment name marked SWIFT_SEG_CTYPE - the
 * length of its "<x>", with its upload id in @id; else 0.
 */
size_t swift_marked_part(const char *name, const char *ctype,
			 char id[SWIFT_UPLOAD_ID_LEN + 1]);

/*
 * True if @name is a segment of an SLO fed before it (hide it). Then
 * remembers @name if it is an SLO (@is_slo: listed with slo_etag), for
 * the entries after it. A failed allocation only means a segment may
 * show.
 */
bool swift_hide_is_segment(struct swift_hide *h, const char *name,
			   bool is_subdir, bool is_slo);
void swift_hide_release(struct swift_hide *h);

/*
 * The stall limit of a server-side copy of @bytes: Swift sends nothing
 * until the copy is done, so @stall_timeout seconds plus a second per
 * MiB (a slow cluster's copy rate), in milliseconds.
 */
uint64_t swift_copy_stall_ms(unsigned stall_timeout, uint64_t bytes);

/* The largest segment to cut: @segment_size, or @limit if smaller (> 0). */
uint64_t swift_cut_size(uint64_t segment_size, uint64_t limit);

/*
 * Uploads a segment of @len bytes through @put, cutting it in halves
 * (first half len - len / 2) and recursing on each half that @put answers
 * -EFBIG (413), in order. @put gets the offset and length of the piece and
 * whether it is a cut one; it returns 0, -EFBIG or another -errno. At
 * most @max_pieces pieces. Returns 0 or the first error other than a 413
 * that cutting resolved (-EFBIG when a 1-byte piece or the piece budget
 * is refused).
 */
typedef int swift_piece_fn(void *arg, size_t off, size_t len, bool cut);
int swift_put_cut(size_t len, size_t max_pieces, swift_piece_fn *put,
		  void *arg);

/* ---- the parts of an SLO (swift_segs.c) ---- */

/* Every part of an SLO, found by reading its manifests recursively. */
struct swift_slo_parts {
	struct swift_seg *leaves; /* owned: the segments, in manifest order */
	size_t nleaves;
	struct swift_seg *subs; /* owned: sub-manifests, each listed before
				 * the parts it names */
	size_t nsubs;
	size_t cap_leaves;
	size_t cap_subs;
};

/*
 * Reads the manifests of @container/@key down to the leaves into @p.
 * Returns 0 (an object that is absent or not an SLO has no parts) or
 * -errno, logged (a manifest missing or unreadable); on failure @p is
 * empty. The caller releases @p with swift_slo_parts_release().
 */
int swift_slo_parts_get(struct swift_priv *sw, const char *container,
			const char *key, struct swift_slo_parts *p);
void swift_slo_parts_release(struct swift_slo_parts *p);

/* Frees the paths of the @n entries @v (NULL paths allowed), then @v. */
void swift_segs_free(struct swift_seg *v, size_t n);

/*
 * Deletes, with plain DELETEs (bulk where offered), the parts of @old,
 * what @container/@key was before it was replaced or renamed, that
 * trovefs made for it ("/<container>+segments/..." or
 * "/<container>/<key>_...") and that no part of the @nkeep objects @keep
 * (what may still use them: the new object, a rename's source) names.
 * Sub-manifests go first. Best effort: what is left is logged once.
 * Never give it an @old or @keep that could not be read completely.
 */
void swift_delete_replaced(struct swift_priv *sw, const char *container,
			   const char *key, const struct swift_slo_parts *old,
			   const struct swift_slo_parts *const *keep,
			   size_t nkeep);

/* The highest number of a Trove-layout name: Trove's names end in 8 digits. */
#define SWIFT_TROVE_NUM_MAX 99999999u

/*
 * The number at the end of a Trove-layout name after its "<key>_":
 * @suffix "<digits>" (a segment) or "m<level>-<digits>" (a sub-manifest)
 * into *@num. False if @suffix is neither (or the number overflows).
 */
bool swift_trove_number(const char *suffix, uint64_t *num);

/*
 * The first number a new object @container/@key may give its segments and
 * sub-manifests in Trove's layout: one above the highest of any name
 * "<key>_<number>" or "<key>_m<level>-<number>" that the container lists
 * or the object's current manifests name (a listing may lag), 0 if none.
 * So it never writes over a part of the object it replaces. Returns 0 or
 * -errno (logged), -ENOENT if the container is missing.
 */
int swift_trove_first_number(struct swift_priv *sw, const char *container,
			     const char *key, uint64_t *first);

/* Fills @oi from a HEAD response (size, X-Timestamp, X-Object-Meta-*). */
int swift_info_from_head(const struct swift_http_req *r, const char *key,
			 struct obj_info *oi);

/*
 * Renames an SLO whose parts are all "/<sc>/<sk>_<number>" (Trove's
 * layout, nested or not) so that they become "/<dc>/<dk>_<number>": a
 * server-side copy per leaf, numbered above what @dc/@dk holds, the
 * sub-manifests made again, the new manifest with the metadata of @head
 * (the source's HEAD); then the source manifest goes, and only then its
 * parts. Trove finds a backup's segments through its manifest, and
 * listings hide them only next to it. Returns 1 if the object is not in
 * that layout (the caller copies the manifest alone), else 0 or -errno:
 * then the source is as it was and nothing is left under @dk's new
 * numbers (what @dc/@dk held before may be gone). The caller deletes the
 * parts of what @dc/@dk held (swift_segs.c).
 */
int swift_rename_trove_slo(struct swift_priv *sw, const char *sc,
			   const char *sk, const char *dc, const char *dk,
			   const struct swift_http_req *head);

/*
 * Undoes a rename whose copy @dc/@dk was made but whose source @sc/@sk
 * could not be deleted: a plain DELETE of the copy (the source's parts
 * stay), so that no two objects are left where one was (@shared: naming
 * the same segments, so that rm of either would delete the other's
 * data). Returns 0 (the copy is gone) or -errno, logged with what is left.
 */
int swift_rename_undo(struct swift_priv *sw, const char *sc, const char *sk,
		      const char *dc, const char *dk, bool shared);

/* True if @name ends in SWIFT_SEG_SUFFIX (a container of segments). */
bool swift_is_seg_container(const char *name);

/*
 * The check of every store op on a name the mount's user gives: 0,
 * -EINVAL (not a valid name), or -ENOENT for a container of segments.
 * Such a container is the parts of live objects: it is not listed, and
 * no path reaches it (`rm -r` of it would break every object it holds).
 */
int swift_user_container_check(const char *name);
int swift_user_object_check(const char *container, const char *key);

/*
 * Calls @fn for every entry of the JSON listing of @container (NULL: the
 * account's containers), page by page, with @prefix (NULL or "": none) and
 * @delim ('\0': none); entries not above the previous one are skipped (the
 * page after a subdir may repeat it). A nonzero result of @fn stops the
 * listing and is returned. Returns 0, -ENOENT (no such container), @fn's
 * result or another -errno (swift_store.c).
 */
int swift_list_pages(struct swift_priv *sw, const char *container,
		     const char *prefix, char delim, swift_json_entry_fn *fn,
		     void *arg);

/*
 * Server-side copy of @sc/@sk to @dc/@dk (swift_segs.c): a PUT with
 * X-Copy-From and @query ("multipart-manifest=get" copies a manifest as a
 * manifest; NULL copies it as its data). @bytes is what Swift copies (0
 * for a manifest): Swift answers only when the copy is done, so the
 * stall limit grows with it (swift_copy_stall_ms). Returns 0 or -errno.
 */
int swift_server_copy(struct swift_priv *sw, const char *sc, const char *sk,
		      const char *dc, const char *dk, const char *query,
		      uint64_t bytes);

/*
 * PUTs @len bytes of @data at @container/@key with @query (NULL: none),
 * checked against @etag (md5 hex; NULL or "": unchecked), with the
 * metadata headers of @m, or for a part of an object (a segment, a
 * sub-manifest) the Content-Type @part_ctype instead (non-NULL). A
 * manifest PUT (@query SWIFT_MANIFEST_PUT) is sent with heartbeat=on and
 * its outcome read from the body. A 413 is returned as -EFBIG without a
 * log line (the caller cuts smaller); other failures are logged. Returns
 * 0 or -errno (swift_writer.c).
 */
int swift_put_checked(struct swift_priv *sw, const char *container,
		      const char *key, const char *query, const void *data,
		      size_t len, const char *etag, const struct meta *m,
		      const char *part_ctype);

/* A new random upload id: SWIFT_UPLOAD_ID_LEN hex digits. 0 or -EIO. */
int swift_upload_id_new(char id[SWIFT_UPLOAD_ID_LEN + 1]);

/* Sub-manifests made to nest a manifest (swift_nest_manifests()). */
struct swift_nest {
	const char *container;	/* where they go (borrowed) */
	const char *prefix;	/* names "<prefix>m<level>-%08zu" (borrowed) */
	const char *ctype;	/* their Content-Type (borrowed) */
	size_t first;		/* the number of each level's first one */
	struct swift_seg *subs; /* owned: those PUT so far, in order */
	size_t nsub;
	size_t cap;
};

/*
 * Folds the @n entries @segs into sub-manifests of at most slo_max
 * entries, level by level, until one manifest can hold them: *@top and
 * *@ntop are the entries of that manifest (borrowed from @segs or
 * @ns->subs, valid until @ns changes). What was PUT is in @ns->subs
 * also on failure (to delete). Returns 0 or -errno (swift_writer.c).
 */
int swift_nest_manifests(struct swift_priv *sw, struct swift_nest *ns,
			 struct swift_seg *segs, size_t n,
			 struct swift_seg **top, size_t *ntop);
/* Frees @ns->subs (the objects stay). */
void swift_nest_release(struct swift_nest *ns);

/* The store's writer_open (swift_writer.c). */
int swift_writer_open(struct store *st, const char *container, const char *key,
		      const struct store_wopts *opts,
		      struct store_writer **out);

#endif /* BACKENDS_SWIFT_I_H */
