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

static void test_listing_parses_objects_and_subdirs(void **state)
{
	struct seen s = { .stop_after = 0 };
	size_t n = 0;

	(void)state;
	buf_init(&s.out, 4096);
	assert_int_equal(swift_json_parse_listing(listing, strlen(listing),
						  record, &s, &n),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(
		buf_str(&s.out),
		"db/a b.txt|12|application/x-trovefs; mode=644|abc||0;"
		"[db/2024/]"
		"big\xc3\xa9|5368709121|text/plain|def|\"e1\"|0;");
	buf_release(&s.out);
}

static void test_listing_empty_page(void **state)
{
	struct seen s = { .stop_after = 0 };
	size_t n = 9;

	(void)state;
	buf_init(&s.out, 64);
	assert_int_equal(swift_json_parse_listing("[]", 2, record, &s, &n), 0);
	assert_int_equal(n, 0);
	buf_release(&s.out);
}

static void test_listing_callback_stops(void **state)
{
	struct seen s = { .stop_after = 1 };
	size_t n = 0;

	(void)state;
	buf_init(&s.out, 4096);
	assert_int_equal(swift_json_parse_listing(listing, strlen(listing),
						  record, &s, &n),
			 7);
	assert_int_equal(n, 1);
	buf_release(&s.out);
}

static void test_listing_rejects_garbage(void **state)
{
	static const char *bad[] = {
		"<html>",
		"[{\"bytes\": 1}]",
		"[1, 2]",
		"[{\"name\": \"\"}]",
		"[{\"name\": \"a\\u0000b\"}]",
	};
	struct seen s = { .stop_after = 0 };
	size_t n;
	size_t i;

	(void)state;
	buf_init(&s.out, 4096);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(swift_json_parse_listing(bad[i],
							  strlen(bad[i]),
							  record, &s, &n),
				 -EBADMSG);
	buf_release(&s.out);
}

static void test_account_listing_counts(void **state)
{
	static const char acc[] =
		"[{\"name\": \"c1\", \"count\": 3, \"bytes\": 30, "
		"\"last_modified\": \"2024-01-02T03:04:05.000000\"}]";
	struct seen s = { .stop_after = 0 };
	size_t n;

	(void)state;
	buf_init(&s.out, 4096);
	assert_int_equal(
		swift_json_parse_listing(acc, strlen(acc), record, &s, &n), 0);
	assert_string_equal(buf_str(&s.out), "c1|30||||3;");
	buf_release(&s.out);
}

static void test_manifest_parse_sub_slo(void **state)
{
	static const char man[] =
		"[{\"name\": \"/c+segments/k/u/00000000\", \"bytes\": 5, "
		"\"hash\": \"aa\"}, {\"name\": \"/c+segments/k/u/m0-00000000\", "
		"\"bytes\": 9, \"hash\": \"bb\", \"sub_slo\": true}]";
	struct seen s = { .stop_after = 0 };
	size_t n;

	(void)state;
	buf_init(&s.out, 4096);
	assert_int_equal(
		swift_json_parse_manifest(man, strlen(man), record, &s, &n), 0);
	assert_string_equal(buf_str(&s.out),
			    "/c+segments/k/u/00000000|5||aa||0;"
			    "[/c+segments/k/u/m0-00000000]");
	buf_release(&s.out);
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

static void check_catalog(const char *region, const char *ifc, const char *want)
{
	char *url = NULL;

	assert_int_equal(swift_json_keystone_catalog(token, strlen(token),
						     "object-store", region,
						     ifc, &url),
			 0);
	assert_string_equal(url, want);
	free(url);
}

static void test_catalog_region_and_interface(void **state)
{
	(void)state;
	check_catalog("RegionOne", "public", "http://127.0.0.1:1/v1/AUTH_p");
	check_catalog("RegionTwo", NULL, "http://127.0.0.2:1/v1/AUTH_p");
	check_catalog("RegionOne", "internal", "http://localhost:1/v1/AUTH_p");
	/* v2-style interface names */
	check_catalog("RegionOne", "internalURL",
		      "http://localhost:1/v1/AUTH_p");
	/* no region: unambiguous for internal (one region only) */
	check_catalog(NULL, "internal", "http://localhost:1/v1/AUTH_p");
	check_catalog("", "internal", "http://localhost:1/v1/AUTH_p");
}

/* Keystone's order is not stable: no region + two regions is an error. */
static void test_catalog_no_region_ambiguous(void **state)
{
	char *url = NULL;

	(void)state;
	assert_int_equal(swift_json_keystone_catalog(token, strlen(token),
						     "object-store", NULL,
						     "public", &url),
			 -ENOTUNIQ);
	assert_null(url);
	assert_int_equal(swift_json_keystone_catalog(token, strlen(token),
						     "object-store", "", NULL,
						     &url),
			 -ENOTUNIQ);
	assert_null(url);
}

/* "publicURL" must not match "public" by prefix the other way round. */
static void test_catalog_interface_exact(void **state)
{
	char *url = NULL;

	(void)state;
	assert_int_equal(swift_json_keystone_catalog(token, strlen(token),
						     "object-store",
						     "RegionOne", "pub", &url),
			 -ENOENT);
	assert_int_equal(swift_json_keystone_catalog(
				 token, strlen(token), "object-store",
				 "RegionOne", "publicURLx", &url),
			 -ENOENT);
	assert_null(url);
}

static void test_catalog_missing(void **state)
{
	char *url = NULL;

	(void)state;
	assert_int_equal(swift_json_keystone_catalog(token, strlen(token),
						     "object-store",
						     "RegionThree", NULL, &url),
			 -ENOENT);
	assert_int_equal(swift_json_keystone_catalog(token, strlen(token),
						     "volumev3", NULL, NULL,
						     &url),
			 -ENOENT);
	assert_int_equal(swift_json_keystone_catalog("{}", 2, "object-store",
						     NULL, NULL, &url),
			 -EBADMSG);
	assert_null(url);
}

static void test_catalog_only_response(void **state)
{
	static const char cat[] =
		"{\"catalog\": [{\"type\": \"object-store\", \"endpoints\": "
		"[{\"interface\": \"public\", \"region\": \"R\", "
		"\"url\": \"http://x/v1\"}]}]}";
	char *url = NULL;

	(void)state;
	assert_int_equal(swift_json_keystone_catalog(cat, strlen(cat),
						     "object-store", "R",
						     "public", &url),
			 0);
	assert_string_equal(url, "http://x/v1");
	free(url);
}

static void test_keystone_expiry(void **state)
{
	time_t t = 0;

	(void)state;
	assert_int_equal(swift_json_keystone_expiry(token, strlen(token), &t),
			 0);
	assert_int_equal((long long)t, 1795244860LL);
}

static void test_keystone_password_request(void **state)
{
	const struct swift_keystone_cred c = {
		.user = "demo",
		.password = "s\"ecret",
		.project = "demo",
	};
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(swift_json_keystone_request(&c, &out), 0);
	assert_string_equal(
		buf_str(&out),
		"{ \"auth\" : { \"identity\" : { \"methods\" : [ \"password\" ], "
		"\"password\" : { \"user\" : { \"name\" : \"demo\", "
		"\"domain\" : { \"name\" : \"Default\" }, "
		"\"password\" : \"s\\\"ecret\" } } }, "
		"\"scope\" : { \"project\" : { \"name\" : \"demo\", "
		"\"domain\" : { \"name\" : \"Default\" } } } } }");
	buf_release(&out);
}

static void test_keystone_appcred_request_has_no_scope(void **state)
{
	const struct swift_keystone_cred c = {
		.appcred_id = "ac1",
		.password = "pw",
		.project = "ignored",
	};
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(swift_json_keystone_request(&c, &out), 0);
	assert_string_equal(
		buf_str(&out),
		"{ \"auth\" : { \"identity\" : { \"methods\" : "
		"[ \"application_credential\" ], \"application_credential\" : "
		"{ \"id\" : \"ac1\", \"secret\" : \"pw\" } } } }");
	buf_release(&out);
}

static void test_keystone_request_needs_identity(void **state)
{
	const struct swift_keystone_cred c = { .password = "pw" };
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(swift_json_keystone_request(&c, &out), -EINVAL);
	buf_release(&out);
}

static void test_ctype_round_trip(void **state)
{
	struct meta m;
	struct meta back;
	struct buf ct;
	bool complete = false;

	(void)state;
	meta_init(&m);
	meta_init(&back);
	buf_init(&ct, 4096);
	assert_int_equal(meta_set(&m, "mtime", "1700000000.000000001"), 0);
	assert_int_equal(meta_set(&m, "mode", "644"), 0);
	assert_int_equal(meta_set(&m, "trovefs-size", "12"), 0);
	assert_int_equal(swift_ctype_from_meta(&m, &ct), 0);
	assert_string_equal(
		buf_str(&ct),
		"application/x-trovefs; mtime=1700000000.000000001; "
		"mode=644; trovefs-size=12");
	assert_int_equal(swift_ctype_to_meta(buf_str(&ct), &back, &complete),
			 0);
	assert_true(complete);
	assert_int_equal(back.n, 3);
	assert_string_equal(meta_get(&back, "mode"), "644");
	assert_string_equal(meta_get(&back, "trovefs-size"), "12");
	buf_release(&ct);
	meta_release(&m);
	meta_release(&back);
}

static void test_ctype_partial_when_value_not_token(void **state)
{
	struct meta m;
	struct meta back;
	struct buf ct;
	bool complete = true;

	(void)state;
	meta_init(&m);
	meta_init(&back);
	buf_init(&ct, 4096);
	assert_int_equal(meta_set(&m, "note", "has space"), 0);
	assert_int_equal(meta_set(&m, "mode", "600"), 0);
	assert_int_equal(swift_ctype_from_meta(&m, &ct), 0);
	assert_string_equal(buf_str(&ct),
			    "application/x-trovefs; mode=600; tfs_partial=1");
	assert_int_equal(swift_ctype_to_meta(buf_str(&ct), &back, &complete),
			 0);
	assert_false(complete);
	assert_string_equal(meta_get(&back, "mode"), "600");
	buf_release(&ct);
	meta_release(&m);
	meta_release(&back);
}

static void test_ctype_foreign_is_partial(void **state)
{
	struct meta m;
	bool complete = true;

	(void)state;
	meta_init(&m);
	assert_int_equal(
		swift_ctype_to_meta("text/plain; charset=utf-8", &m, &complete),
		0);
	assert_false(complete);
	assert_int_equal(m.n, 0);
	assert_int_equal(swift_ctype_to_meta("", &m, &complete), 0);
	assert_false(complete);
	/* a params-only variant with quotes and odd spacing */
	assert_int_equal(
		swift_ctype_to_meta(
			"Application/X-Trovefs ;mode=\"755\" ; Bad_Key=1", &m,
			&complete),
		0);
	assert_true(complete);
	assert_string_equal(meta_get(&m, "mode"), "755");
	assert_int_equal(m.n, 1);
	meta_release(&m);
}

static void test_iso_time(void **state)
{
	struct timespec ts;

	(void)state;
	assert_int_equal(
		swift_parse_iso_time("2024-01-02T03:04:05.123456", &ts), 0);
	assert_int_equal((long long)ts.tv_sec, 1704164645LL);
	assert_int_equal(ts.tv_nsec, 123456000);
	assert_int_equal(swift_parse_iso_time("1970-01-01T00:00:00Z", &ts), 0);
	assert_int_equal((long long)ts.tv_sec, 0);
	assert_int_equal(ts.tv_nsec, 0);
	assert_int_equal(swift_parse_iso_time("2024-01-02", &ts), -EINVAL);
	assert_int_equal(swift_parse_iso_time("2024-01-02T03:04:05x", &ts),
			 -EINVAL);
}

static void test_x_timestamp(void **state)
{
	struct timespec ts;

	(void)state;
	assert_int_equal(swift_parse_x_timestamp("1795242834.89659", &ts), 0);
	assert_int_equal((long long)ts.tv_sec, 1795242834LL);
	assert_int_equal(ts.tv_nsec, 896590000);
	assert_int_equal(swift_parse_x_timestamp("12", &ts), 0);
	assert_int_equal(ts.tv_nsec, 0);
	assert_int_equal(swift_parse_x_timestamp("x1", &ts), -EINVAL);
	assert_int_equal(swift_parse_x_timestamp("1.5z", &ts), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listing_parses_objects_and_subdirs),
		cmocka_unit_test(test_listing_empty_page),
		cmocka_unit_test(test_listing_callback_stops),
		cmocka_unit_test(test_listing_rejects_garbage),
		cmocka_unit_test(test_account_listing_counts),
		cmocka_unit_test(test_manifest_parse_sub_slo),
		cmocka_unit_test(test_manifest_build),
		cmocka_unit_test(test_manifest_build_escapes),
		cmocka_unit_test(test_slo_etag_matches_swift),
		cmocka_unit_test(test_catalog_region_and_interface),
		cmocka_unit_test(test_catalog_no_region_ambiguous),
		cmocka_unit_test(test_catalog_interface_exact),
		cmocka_unit_test(test_catalog_missing),
		cmocka_unit_test(test_catalog_only_response),
		cmocka_unit_test(test_keystone_expiry),
		cmocka_unit_test(test_keystone_password_request),
		cmocka_unit_test(test_keystone_appcred_request_has_no_scope),
		cmocka_unit_test(test_keystone_request_needs_identity),
		cmocka_unit_test(test_ctype_round_trip),
		cmocka_unit_test(test_ctype_partial_when_value_not_token),
		cmocka_unit_test(test_ctype_foreign_is_partial),
		cmocka_unit_test(test_iso_time),
		cmocka_unit_test(test_x_timestamp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
