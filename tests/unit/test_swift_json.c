/*
 * test_swift_json.c - listings, SLO manifests, Keystone JSON, metadata
 * content types and timestamps of the Swift store, on canned JSON in the
 * shapes Swift 2.30 and Keystone 22 send.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/swift_json.h"
#include "row_assert.h"

struct seen {
	struct buf out;
	int stop_after;
};

static int record(void *arg, const struct swift_json_entry *e)
{
	struct seen *s = arg;

	if (e->is_subdir)
		buf_printf(&s->out, "[%s]", e->name);
	else
		buf_printf(&s->out, "%s|%llu|%s|%s|%s|%llu;", e->name,
			   (unsigned long long)e->bytes, e->content_type,
			   e->hash, e->slo_etag, (unsigned long long)e->count);
	if (s->stop_after && --s->stop_after == 0)
		return 7;
	return 0;
}

static const char listing[] =
	"[{\"bytes\": 12, \"hash\": \"abc\", \"name\": \"db/a b.txt\", "
	"\"content_type\": \"application/x-trovefs; mode=644\", "
	"\"last_modified\": \"2024-01-02T03:04:05.123456\"}, "
	"{\"subdir\": \"db/2024/\"}, "
	"{\"bytes\": 5368709121, \"hash\": \"def\", \"name\": "
	"\"big\\u00e9\", \"content_type\": \"text/plain\", "
	"\"slo_etag\": \"\\\"e1\\\"\", \"last_modified\": "
	"\"2024-01-02T03:04:05.000000\"}]";

static const char account_listing[] =
	"[{\"name\": \"c1\", \"count\": 3, \"bytes\": 30, "
	"\"last_modified\": \"2024-01-02T03:04:05.000000\"}]";

static const char manifest_get[] =
	"[{\"name\": \"/c+segments/k/u/00000000\", \"bytes\": 5, "
	"\"hash\": \"aa\"}, {\"name\": \"/c+segments/k/u/m0-00000000\", "
	"\"bytes\": 9, \"hash\": \"bb\", \"sub_slo\": true}]";

/* A listing or manifest, what record() saw, and the parser's result. */
static const struct listing_case {
	int (*parse)(const char *json, size_t len, swift_json_entry_fn *fn,
		     void *arg, size_t *n);
	const char *json;
	int stop_after; /* record() returns 7 at this entry; 0: never */
	int err;
	size_t n;
	const char *seen;
} listing_cases[] = {
	/* objects and subdirs, in order */
	{ swift_json_parse_listing, listing, 0, 0, 3,
	  "db/a b.txt|12|application/x-trovefs; mode=644|abc||0;"
	  "[db/2024/]"
	  "big\xc3\xa9|5368709121|text/plain|def|\"e1\"|0;" },
	/* the last page */
	{ swift_json_parse_listing, "[]", 0, 0, 0, "" },
	/* the callback's non-zero value stops the walk and is returned */
	{ swift_json_parse_listing, listing, 1, 7, 1,
	  "db/a b.txt|12|application/x-trovefs; mode=644|abc||0;" },
	/* an account listing: containers with their object counts */
	{ swift_json_parse_listing, account_listing, 0, 0, 1, "c1|30||||3;" },
	/* a manifest: a sub_slo segment comes as a subdir */
	{ swift_json_parse_manifest, manifest_get, 0, 0, 2,
	  "/c+segments/k/u/00000000|5||aa||0;"
	  "[/c+segments/k/u/m0-00000000]" },
	/* not an array of named objects */
	{ swift_json_parse_listing, "<html>", 0, -EBADMSG, 0, "" },
	{ swift_json_parse_listing, "[{\"bytes\": 1}]", 0, -EBADMSG, 0, "" },
	{ swift_json_parse_listing, "[1, 2]", 0, -EBADMSG, 0, "" },
	{ swift_json_parse_listing, "[{\"name\": \"\"}]", 0, -EBADMSG, 0, "" },
	{ swift_json_parse_listing, "[{\"name\": \"a\\u0000b\"}]", 0, -EBADMSG,
	  0, "" },
};

static void test_listing_and_manifest_parse(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(listing_cases) / sizeof(listing_cases[0]); i++) {
		const struct listing_case *c = &listing_cases[i];
		struct seen s = { .stop_after = c->stop_after };
		size_t n = 99;

		buf_init(&s.out, 4096);
		assert_row_int_equal(
			i, c->parse(c->json, strlen(c->json), record, &s, &n),
			c->err);
		assert_row_int_equal(i, n, c->n);
		assert_row_string_equal(i, buf_str(&s.out), c->seen);
		buf_release(&s.out);
	}
}

static void test_manifest_build(void **state)
{
	char p0[] = "/c+segments/a b/u/00000000";
	char p1[] = "/c+segments/a b/u/00000001";
	struct swift_seg segs[2] = {
		{ .path = p0, .size = 1048576 },
		{ .path = p1, .size = 7 },
	};
	struct buf out;

	(void)state;
	memcpy(segs[0].etag, "0123456789abcdef0123456789abcdef", 33);
	buf_init(&out, 4096);
	assert_int_equal(swift_json_manifest(segs, 2, &out), 0);
	assert_string_equal(buf_str(&out),
			    "[ { \"path\" : \"/c+segments/a b/u/00000000\", "
			    "\"etag\" : \"0123456789abcdef0123456789abcdef\", "
			    "\"size_bytes\" : 1048576 }, "
			    "{ \"path\" : \"/c+segments/a b/u/00000001\", "
			    "\"size_bytes\" : 7 } ]");
	buf_release(&out);
}

static void test_manifest_build_escapes(void **state)
{
	char p0[] = "/c/q\"\\x";
	struct swift_seg seg = { .path = p0, .size = 1 };
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(swift_json_manifest(&seg, 1, &out), 0);
	assert_non_null(strstr(buf_str(&out), "\"/c/q\\\"\\\\x\""));
	buf_release(&out);
}

static void test_slo_etag_matches_swift(void **state)
{
	/* Swift: md5 over the concatenated hex etags */
	char pa[] = "/a";
	char pb[] = "/b";
	struct swift_seg segs[2] = {
		{ .path = pa },
		{ .path = pb },
	};
	char out[33];

	(void)state;
	memcpy(segs[0].etag, "d41d8cd98f00b204e9800998ecf8427e", 33);
	memcpy(segs[1].etag, "d41d8cd98f00b204e9800998ecf8427e", 33);
	assert_int_equal(swift_slo_etag(segs, 2, out), 0);
	/* printf d41d...427ed41d...427e | md5sum */
	assert_string_equal(out, "020eb29b524d7ba672d9d48bc72db455");
}

static const char token[] =
	"{\"token\": {\"methods\": [\"password\"], "
	"\"expires_at\": \"2026-11-21T07:07:40.000000Z\", \"catalog\": ["
	"{\"type\": \"identity\", \"endpoints\": [{\"interface\": "
	"\"public\", \"region_id\": \"RegionOne\", \"url\": \"http://k\"}]},"
	"{\"type\": \"object-store\", \"name\": \"swift\", \"endpoints\": ["
	"{\"interface\": \"internal\", \"region_id\": \"RegionOne\", "
	"\"region\": \"RegionOne\", \"url\": \"http://localhost:1/v1/AUTH_p\"},"
	"{\"interface\": \"public\", \"region_id\": \"RegionTwo\", "
	"\"region\": \"RegionTwo\", \"url\": \"http://127.0.0.2:1/v1/AUTH_p\"},"
	"{\"interface\": \"public\", \"region_id\": \"RegionOne\", "
	"\"region\": \"RegionOne\", \"url\": \"http://127.0.0.1:1/v1/AUTH_p\"}"
	"]}]}}";

static const char catalog_only[] =
	"{\"catalog\": [{\"type\": \"object-store\", \"endpoints\": "
	"[{\"interface\": \"public\", \"region\": \"R\", "
	"\"url\": \"http://x/v1\"}]}]}";

/* A lookup in a token (json NULL) or catalog, and what it finds. */
static const struct catalog_case {
	const char *json;
	const char *type;
	const char *region;
	const char *ifc;
	int err;
	const char *url;
} catalog_cases[] = {
	{ NULL, "object-store", "RegionOne", "public", 0,
	  "http://127.0.0.1:1/v1/AUTH_p" },
	{ NULL, "object-store", "RegionTwo", NULL, 0,
	  "http://127.0.0.2:1/v1/AUTH_p" },
	{ NULL, "object-store", "RegionOne", "internal", 0,
	  "http://localhost:1/v1/AUTH_p" },
	/* v2-style interface names */
	{ NULL, "object-store", "RegionOne", "internalURL", 0,
	  "http://localhost:1/v1/AUTH_p" },
	/* no region: unambiguous for internal (one region only) */
	{ NULL, "object-store", NULL, "internal", 0,
	  "http://localhost:1/v1/AUTH_p" },
	{ NULL, "object-store", "", "internal", 0,
	  "http://localhost:1/v1/AUTH_p" },
	/* Keystone's order is not stable: no region + two regions */
	{ NULL, "object-store", NULL, "public", -ENOTUNIQ, NULL },
	{ NULL, "object-store", "", NULL, -ENOTUNIQ, NULL },
	/* "publicURL" must not match "public" by prefix the other way round */
	{ NULL, "object-store", "RegionOne", "pub", -ENOENT, NULL },
	{ NULL, "object-store", "RegionOne", "publicURLx", -ENOENT, NULL },
	/* missing region, missing service, no catalog at all */
	{ NULL, "object-store", "RegionThree", NULL, -ENOENT, NULL },
	{ NULL, "volumev3", NULL, NULL, -ENOENT, NULL },
	{ "{}", "object-store", NULL, NULL, -EBADMSG, NULL },
	/* a catalog response rather than a token */
	{ catalog_only, "object-store", "R", "public", 0, "http://x/v1" },
};

static void test_catalog_lookup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(catalog_cases) / sizeof(catalog_cases[0]); i++) {
		const struct catalog_case *c = &catalog_cases[i];
		const char *json = c->json ? c->json : token;
		char *url = NULL;

		assert_row_int_equal(
			i,
			swift_json_keystone_catalog(json, strlen(json), c->type,
						    c->region, c->ifc, &url),
			c->err);
		assert_row_string_equal(i, url, c->url);
		free(url);
	}
}

static void test_keystone_expiry(void **state)
{
	time_t t = 0;

	(void)state;
	assert_int_equal(swift_json_keystone_expiry(token, strlen(token), &t),
			 0);
	assert_int_equal((long long)t, 1795244860LL);
}

/* Credentials, and the body of POST /v3/auth/tokens built from them. */
static const struct request_case {
	struct swift_keystone_cred cred;
	int err;
	const char *body;
} request_cases[] = {
	/* a password, project-scoped */
	{ { .user = "demo", .password = "s\"ecret", .project = "demo" },
	  0,
	  "{ \"auth\" : { \"identity\" : { \"methods\" : [ \"password\" ], "
	  "\"password\" : { \"user\" : { \"name\" : \"demo\", "
	  "\"domain\" : { \"name\" : \"Default\" }, "
	  "\"password\" : \"s\\\"ecret\" } } }, "
	  "\"scope\" : { \"project\" : { \"name\" : \"demo\", "
	  "\"domain\" : { \"name\" : \"Default\" } } } } }" },
	/* an application credential: no scope, Keystone refuses one */
	{ { .appcred_id = "ac1", .password = "pw", .project = "ignored" },
	  0,
	  "{ \"auth\" : { \"identity\" : { \"methods\" : "
	  "[ \"application_credential\" ], \"application_credential\" : "
	  "{ \"id\" : \"ac1\", \"secret\" : \"pw\" } } } }" },
	/* neither a user nor an application credential */
	{ { .password = "pw" }, -EINVAL, "" },
};

static void test_keystone_request(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(request_cases) / sizeof(request_cases[0]); i++) {
		const struct request_case *c = &request_cases[i];
		struct buf out;

		buf_init(&out, 4096);
		assert_row_int_equal(
			i, swift_json_keystone_request(&c->cred, &out), c->err);
		assert_row_string_equal(i, buf_str(&out), c->body);
		buf_release(&out);
	}
}

#define CTYPE_PAIRS 4

/*
 * Metadata to a content type and back: @set (key, value pairs; none: the
 * content type is only parsed), the content type made of it, whether it
 * parses back to all of the object's metadata, and what it parses to.
 */
static const struct ctype_case {
	const char *set[2 * CTYPE_PAIRS];
	const char *ctype;
	bool complete;
	const char *back[2 * CTYPE_PAIRS];
} ctype_cases[] = {
	{ { "mtime", "1700000000.000000001", "mode", "644", "trovefs-size",
	    "12" },
	  "application/x-trovefs; mtime=1700000000.000000001; "
	  "mode=644; trovefs-size=12",
	  true,
	  { "mtime", "1700000000.000000001", "mode", "644", "trovefs-size",
	    "12" } },
	/* a value that is not a token stays out: partial */
	{ { "note", "has space", "mode", "600" },
	  "application/x-trovefs; mode=600; tfs_partial=1",
	  false,
	  { "mode", "600" } },
	/* a foreign content type holds none of it */
	{ { NULL }, "text/plain; charset=utf-8", false, { NULL } },
	{ { NULL }, "", false, { NULL } },
	/* a params-only variant with quotes and odd spacing */
	{ { NULL },
	  "Application/X-Trovefs ;mode=\"755\" ; Bad_Key=1",
	  true,
	  { "mode", "755" } },
};

static void test_ctype(void **state)
{
	size_t i;
	size_t k;

	(void)state;
	for (i = 0; i < sizeof(ctype_cases) / sizeof(ctype_cases[0]); i++) {
		const struct ctype_case *c = &ctype_cases[i];
		struct meta m;
		struct meta back;
		struct buf ct;
		bool complete = !c->complete;
		size_t n = 0;

		meta_init(&m);
		meta_init(&back);
		buf_init(&ct, 4096);
		for (k = 0; k < 2 * CTYPE_PAIRS && c->set[k]; k += 2)
			assert_row_int_equal(
				i, meta_set(&m, c->set[k], c->set[k + 1]), 0);
		if (k > 0) {
			assert_row_int_equal(i, swift_ctype_from_meta(&m, &ct),
					     0);
			assert_row_string_equal(i, buf_str(&ct), c->ctype);
		}
		assert_row_int_equal(
			i, swift_ctype_to_meta(c->ctype, &back, &complete), 0);
		assert_row_int_equal(i, complete, c->complete);
		for (k = 0; k < 2 * CTYPE_PAIRS && c->back[k]; k += 2) {
			assert_row_string_equal(i, meta_get(&back, c->back[k]),
						c->back[k + 1]);
			n++;
		}
		assert_row_int_equal(i, back.n, n);
		buf_release(&ct);
		meta_release(&m);
		meta_release(&back);
	}
}

/* A listing's or a header's time stamp, and what it parses to. */
static const struct time_case {
	int (*parse)(const char *s, struct timespec *ts);
	const char *text;
	int err;
	long long sec; /* when err is 0 */
	long nsec;
} time_cases[] = {
	{ swift_parse_iso_time, "2024-01-02T03:04:05.123456", 0, 1704164645LL,
	  123456000 },
	{ swift_parse_iso_time, "1970-01-01T00:00:00Z", 0, 0, 0 },
	{ swift_parse_iso_time, "2024-01-02", -EINVAL, 0, 0 },
	{ swift_parse_iso_time, "2024-01-02T03:04:05x", -EINVAL, 0, 0 },
	{ swift_parse_x_timestamp, "1795242834.89659", 0, 1795242834LL,
	  896590000 },
	{ swift_parse_x_timestamp, "12", 0, 12, 0 },
	{ swift_parse_x_timestamp, "x1", -EINVAL, 0, 0 },
	{ swift_parse_x_timestamp, "1.5z", -EINVAL, 0, 0 },
};

static void test_time_stamps(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
		const struct time_case *c = &time_cases[i];
		struct timespec ts;

		assert_row_int_equal(i, c->parse(c->text, &ts), c->err);
		if (c->err)
			continue;
		assert_row_int_equal(i, ts.tv_sec, c->sec);
		assert_row_int_equal(i, ts.tv_nsec, c->nsec);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listing_and_manifest_parse),
		cmocka_unit_test(test_manifest_build),
		cmocka_unit_test(test_manifest_build_escapes),
		cmocka_unit_test(test_slo_etag_matches_swift),
		cmocka_unit_test(test_catalog_lookup),
		cmocka_unit_test(test_keystone_expiry),
		cmocka_unit_test(test_keystone_request),
		cmocka_unit_test(test_ctype),
		cmocka_unit_test(test_time_stamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
