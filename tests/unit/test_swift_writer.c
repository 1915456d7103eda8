/*
 * test_swift_writer.c - the pure parts of the Swift store's writer and
 * listings (backends/swift_i.h): the rule hiding Trove's segment names in
 * listings and the numbers of those names, the cutting of a segment
 * Swift answers 413, /info and the bulk-delete request and response. No
 * network: canned input only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/swift_i.h"
#include "row_assert.h"

/* ---- the listing rule ---- */

/* Feeds "name" or "name*" (an SLO) entries; returns "h" per hidden one. */
static void feed(struct swift_hide *h, const char *const *names, size_t n,
		 char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		bool slo = len > 0 && names[i][len - 1] == '*';
		char name[64];

		assert_true(len < sizeof(name));
		memcpy(name, names[i], len + 1);
		if (slo)
			name[len - 1] = '\0';
		out[i] = swift_hide_is_segment(h, name, false, slo) ? 'h' : '.';
	}
	out[n] = '\0';
}

static void test_trove_seg_base_names(void **state)
{
	(void)state;
	assert_int_equal(swift_trove_seg_base("k_00000012"), 1);
	assert_int_equal(swift_trove_seg_base("db/x.gz.enc_00000000"), 11);
	assert_int_equal(swift_trove_seg_base("k_m0-00000003"), 1);
	assert_int_equal(swift_trove_seg_base("k_m12-00000003"), 1);
	assert_int_equal(swift_trove_seg_base("k_0000001"), 0);
	assert_int_equal(swift_trove_seg_base("_00000000"), 0);
	assert_int_equal(swift_trove_seg_base("k-00000000"), 0);
	assert_int_equal(swift_trove_seg_base("k_m-00000000"), 0);
	assert_int_equal(swift_trove_seg_base("k_x0-00000000"), 0);
	assert_int_equal(swift_trove_seg_base("k_0000000a"), 0);
}

static void test_trove_number_forms(void **state)
{
	uint64_t n = 7;

	(void)state;
	assert_true(swift_trove_number("00000012", &n));
	assert_int_equal(n, 12);
	assert_true(swift_trove_number("m0-00000003", &n));
	assert_int_equal(n, 3);
	assert_true(swift_trove_number("m12-00001000", &n));
	assert_int_equal(n, 1000);
	assert_true(swift_trove_number("123456789", &n));
	assert_int_equal(n, 123456789);
	n = 7;
	assert_false(swift_trove_number("", &n));
	assert_false(swift_trove_number("m-00000000", &n));
	assert_false(swift_trove_number("m0-", &n));
	assert_false(swift_trove_number("m000000000", &n));
	assert_false(swift_trove_number("x0-00000000", &n));
	assert_false(swift_trove_number("0000000a", &n));
	assert_false(swift_trove_number("2_00000000", &n));
	assert_false(swift_trove_number("99999999999999999999999", &n));
	assert_int_equal(n, 7);
}

static void test_hide_segments_after_their_slo(void **state)
{
	static const char *const names[] = { "a*", "a_00000000", "a_00000001",
					     "a_m0-00000000" };
	struct swift_hide h = { .nslo = 0 };
	char out[8];

	(void)state;
	feed(&h, names, 4, out);
	assert_string_equal(out, ".hhh");
	swift_hide_release(&h);
}

static void test_hide_segments_without_slo_shown(void **state)
{
	static const char *const names[] = { "a", "a_00000000", "b_00000000" };
	struct swift_hide h = { .nslo = 0 };
	char out[8];

	(void)state;
	feed(&h, names, 3, out);
	assert_string_equal(out, "...");
	swift_hide_release(&h);
}

static void test_hide_other_bases_shown(void **state)
{
	/* "<x>" must be the whole base: not a prefix of it */
	static const char *const names[] = { "a*", "a.txt", "a_b_00000000",
					     "a_00000007", "ab_00000000" };
	struct swift_hide h = { .nslo = 0 };
	char out[8];

	(void)state;
	feed(&h, names, 5, out);
	assert_string_equal(out, "...h.");
	swift_hide_release(&h);
}

static void test_hide_nested_slo_names(void **state)
{
	/* "x_y" is an SLO under "x": both stay on the stack */
	static const char *const names[] = { "x*", "x_y*", "x_y_00000000",
					     "x_00000002", "y_00000000" };
	struct swift_hide h = { .nslo = 0 };
	char out[8];

	(void)state;
	feed(&h, names, 5, out);
	assert_string_equal(out, "..hh.");
	assert_int_equal(h.nslo, 0);
	swift_hide_release(&h);
}

#define U1 "8c1e4a52-4b2f-4d5e-9a3b-0123456789ab"
#define U2 "d.v/9f0e4a52-4b2f-4d5e-9a3b-0123456789ab"

static void test_hide_trove_agent_base(void **state)
{
	/* Trove's agent: "<id>.xbstream.gz.enc" has "<id>_%08d" segments;
	 * the base ends at the first dot of the last path component, and
	 * is a UUID (Trove's backup ids): "x_20261122" by "x.tar" shows */
	static const char *const names[] = {
		U1 ".xbstream.gz.enc*", U1 "_00000000", U1 "_00000001",
		U1 "x_00000000",	U2 ".gz*",	U2 "_00000000",
		"d_00000000",		"x.tar*",	"x_20261122",
	};
	struct swift_hide h = { .nslo = 0 };
	char out[16];

	(void)state;
	feed(&h, names, 9, out);
	assert_string_equal(out, ".hh..h...");
	swift_hide_release(&h);
}

static void test_hide_many_siblings_of_one_base(void **state)
{
	/* 40 SLOs "<id>.partNN" with their own "<name>_%08d": the shared
	 * base is on the stack once, so none of them overflows it */
	struct swift_hide h = { .nslo = 0 };
	char name[96];
	unsigned i;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), U1 ".part%02u", i);
		assert_false(swift_hide_is_segment(&h, name, false, true));
		snprintf(name, sizeof(name), U1 ".part%02u_00000001", i);
		assert_true(swift_hide_is_segment(&h, name, false, false));
		assert_true(h.nslo <= 2);
	}
	swift_hide_release(&h);
}

static void test_hide_subdir_is_no_slo(void **state)
{
	struct swift_hide h = { .nslo = 0 };

	(void)state;
	assert_false(swift_hide_is_segment(&h, "a", true, true));
	assert_false(swift_hide_is_segment(&h, "a_00000000", false, false));
	assert_int_equal(h.nslo, 0);
	swift_hide_release(&h);
}

/*
 * The parts trovefs writes in Trove's layout carry their upload in their
 * Content-Type: a Trove segment name so marked is a part (hidden from
 * listings, gc's to judge), whatever else is listed; no other is.
 */
#define U_ID "0123456789abcdef0123456789abcdef"
static void test_marked_parts(void **state)
{
	static const char id[] = U_ID;
	static const struct {
		const char *name;
		const char *ctype;
		size_t base; /* 0: not a marked part */
	} cases[] = {
		{ "db.gz_00000001",
		  "application/x-trovefs-segment; upload=" U_ID, 5 },
		{ "d/db.gz_m0-00000003",
		  "application/x-trovefs-segment;upload=\"" U_ID "\"", 7 },
		{ "db.gz_00000001",
		  "Application/X-Trovefs-Segment ; upload=" U_ID "; x=1", 5 },
		/* Trove's own segments, anyone's object of that name */
		{ "db.gz_00000001", "application/octet-stream", 0 },
		{ "db.gz_00000001", "", 0 },
		/* the marker on a name that is no part */
		{ "db.gz", "application/x-trovefs-segment; upload=" U_ID, 0 },
		{ "db.gz_0000001",
		  "application/x-trovefs-segment; upload=" U_ID, 0 },
		/* a damaged marker */
		{ "db.gz_00000001", "application/x-trovefs-segment", 0 },
		{ "db.gz_00000001",
		  "application/x-trovefs-segment; upload=0123456789ABCDEF0123456789ABCDEF",
		  0 },
		{ "db.gz_00000001", "application/x-trovefs-segment; upload=abc",
		  0 },
		{ "db.gz_00000001",
		  "application/x-trovefs-segmentx; upload=" U_ID, 0 },
		{ "db.gz_00000001", "application/x-trovefs; upload=" U_ID, 0 },
	};
	struct buf b;
	char got[SWIFT_UPLOAD_ID_LEN + 1];
	char fresh[SWIFT_UPLOAD_ID_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(got, 0, sizeof(got));
		assert_row_int_equal(
			i,
			swift_marked_part(cases[i].name, cases[i].ctype, got),
			cases[i].base);
		if (cases[i].base)
			assert_row_string_equal(i, got, id);
	}
	/* what the writer sends reads back as its upload */
	assert_int_equal(swift_upload_id_new(fresh), 0);
	assert_int_equal(strlen(fresh), SWIFT_UPLOAD_ID_LEN);
	buf_init(&b, 128);
	assert_int_equal(swift_part_ctype(fresh, &b), 0);
	assert_int_equal(swift_marked_part("k_00000002", buf_str(&b), got), 1);
	assert_string_equal(got, fresh);
	buf_release(&b);
	/* two uploads do not share an id */
	assert_int_equal(swift_upload_id_new(got), 0);
	assert_string_not_equal(got, fresh);
}

/* ---- 413: cutting a segment ---- */

struct fake_put {
	size_t limit;  /* largest piece taken */
	int fail_call; /* call number answered -EIO; 0 = none */
	int calls;
	char log[512];
};

static int fake_put(void *arg, size_t off, size_t len, bool cut)
{
	struct fake_put *f = arg;
	size_t n = strlen(f->log);
	int ok = len <= f->limit;

	f->calls++;
	snprintf(f->log + n, sizeof(f->log) - n, "%s%zu+%zu%s%s", n ? " " : "",
		 off, len, cut ? "c" : "",
		 f->calls == f->fail_call ? "!"
		 : ok			  ? ""
					  : "x");
	if (f->calls == f->fail_call)
		return -EIO;
	return ok ? 0 : -EFBIG;
}

static void test_put_cut_takes_whole_segment(void **state)
{
	struct fake_put f = { .limit = 100 };

	(void)state;
	assert_int_equal(swift_put_cut(100, 4096, fake_put, &f), 0);
	assert_string_equal(f.log, "0+100");
}

static void test_put_cut_halves_until_taken(void **state)
{
	struct fake_put f = { .limit = 2 };

	(void)state;
	assert_int_equal(swift_put_cut(8, 4096, fake_put, &f), 0);
	assert_string_equal(f.log, "0+8x 0+4cx 0+2c 2+2c 4+4cx 4+2c 6+2c");
}

static void test_put_cut_odd_sizes_first_half_larger(void **state)
{
	struct fake_put f = { .limit = 2 };

	(void)state;
	assert_int_equal(swift_put_cut(5, 4096, fake_put, &f), 0);
	assert_string_equal(f.log, "0+5x 0+3cx 0+2c 2+1c 3+2c");
}

static void test_put_cut_other_error_stops(void **state)
{
	struct fake_put f = { .limit = 2, .fail_call = 4 };

	(void)state;
	assert_int_equal(swift_put_cut(8, 4096, fake_put, &f), -EIO);
	assert_string_equal(f.log, "0+8x 0+4cx 0+2c 2+2c!");
}

static void test_put_cut_refused_byte_is_efbig(void **state)
{
	struct fake_put f = { .limit = 0 };

	(void)state;
	assert_int_equal(swift_put_cut(4, 4096, fake_put, &f), -EFBIG);
	assert_string_equal(f.log, "0+4x 0+2cx 0+1cx");
}

static void test_put_cut_piece_budget(void **state)
{
	struct fake_put f = { .limit = 1 };

	(void)state;
	assert_int_equal(swift_put_cut(8, 2, fake_put, &f), -EFBIG);
	assert_string_equal(f.log, "0+8x 0+4cx 0+2cx 0+1c 1+1c 2+2cx");
}

static void test_cut_size_learnt_limit(void **state)
{
	(void)state;
	assert_int_equal(swift_cut_size(8 << 20, 0), 8 << 20);
	assert_int_equal(swift_cut_size(8 << 20, 2 << 20), 2 << 20);
	assert_int_equal(swift_cut_size(1 << 20, 2 << 20), 1 << 20);
}

/* ---- /info ---- */

static void expect_info_url(const char *storage, const char *want)
{
	struct buf b;

	buf_init(&b, 1024);
	assert_int_equal(swift_info_url(storage, &b), 0);
	assert_string_equal(buf_str(&b), want);
	buf_release(&b);
}

static void test_copy_stall_grows_with_size(void **state)
{
	(void)state;
	assert_int_equal(swift_copy_stall_ms(30, 0), 30000);
	assert_int_equal(swift_copy_stall_ms(30, (1u << 20) - 1), 30000);
	assert_int_equal(swift_copy_stall_ms(30, 8u << 20), 38000);
	assert_int_equal(swift_copy_stall_ms(2, 5ULL << 30), (2 + 5120) * 1000);
}

static void test_info_url_forms(void **state)
{
	struct buf b;

	(void)state;
	expect_info_url("http://127.0.0.1:8080/v1/AUTH_test",
			"http://127.0.0.1:8080/info");
	expect_info_url("https://h.example/swift/v1/AUTH_x",
			"https://h.example/swift/info");
	expect_info_url("https://h.example/v1", "https://h.example/info");
	expect_info_url("https://h.example/object/AUTH_x",
			"https://h.example/info");
	expect_info_url("https://h.example", "https://h.example/info");
	buf_init(&b, 1024);
	assert_int_equal(swift_info_url("h.example/v1/AUTH_x", &b), -EINVAL);
	assert_int_equal(swift_info_url("http:///v1/AUTH_x", &b), -EINVAL);
	buf_release(&b);
}

static void test_info_parse_limits(void **state)
{
	static const char info[] =
		"{\"swift\": {\"version\": \"2.30.0\"}, \"slo\": "
		"{\"max_manifest_segments\": 10, \"max_manifest_size\": "
		"8388608, \"min_segment_size\": 1}, \"bulk_delete\": "
		"{\"max_deletes_per_request\": 10000, "
		"\"max_failed_deletes\": 1000}}";
	static const char no_bulk[] =
		"{\"slo\": {\"max_manifest_segments\": 77}, \"swift\": "
		"{\"container_listing_limit\": 500}}";
	static const char no_slo[] = "{\"bulk_delete\": {}}";
	struct swift_info in = { .slo_max = 1000,
				 .bulk_max = 5,
				 .list_max = 9 };

	(void)state;
	assert_int_equal(swift_info_parse(info, strlen(info), &in), 0);
	assert_int_equal(in.slo_max, 10);
	assert_int_equal(in.bulk_max, 10000);
	assert_int_equal(in.list_max, 0);
	assert_int_equal(swift_info_parse(no_bulk, strlen(no_bulk), &in), 0);
	assert_int_equal(in.slo_max, 77);
	assert_int_equal(in.bulk_max, 0);
	assert_int_equal(in.list_max, 500);
	in.slo_max = 1000;
	assert_int_equal(swift_info_parse(no_slo, strlen(no_slo), &in), 0);
	assert_int_equal(in.slo_max, 1000);
	assert_int_equal(in.bulk_max, 10000);
	assert_int_equal(in.list_max, 0);
	assert_int_equal(swift_info_parse("<html>", 6, &in), -EBADMSG);
}

/* ---- bulk delete ---- */

static void test_bulk_body_encodes_paths(void **state)
{
	static char p0[] = "/c/a b";
	static char p1[] = "/c+segments/k/u/00000001";
	static char p2[] = "/c/\xc3\xbc?#%";
	char *paths[] = { p0, p1, p2 };
	struct buf b;
	size_t taken = 0;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(swift_bulk_delete_body(paths, 3, 10, 4096, &b, &taken),
			 0);
	assert_int_equal(taken, 3);
	assert_string_equal(buf_str(&b), "/c/a%20b\n"
					 "/c%2Bsegments/k/u/00000001\n"
					 "/c/%C3%BC%3F%23%25\n");
	buf_release(&b);
}

static void test_bulk_body_limits(void **state)
{
	static char p0[] = "/c/a";
	static char p1[] = "/c/b";
	static char p2[] = "/c/c";
	static char b0[] = "c/a";
	static char n0[] = "/c/";
	char *paths[] = { p0, p1, p2 };
	char *bad[] = { b0 };
	char *nokey[] = { n0 };
	struct buf b;
	size_t taken = 0;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(swift_bulk_delete_body(paths, 3, 2, 4096, &b, &taken),
			 0);
	assert_int_equal(taken, 2);
	buf_reset(&b);
	/* "/c/a\n" is 5 bytes: 12 bytes hold two */
	assert_int_equal(swift_bulk_delete_body(paths, 3, 10, 12, &b, &taken),
			 0);
	assert_int_equal(taken, 2);
	assert_string_equal(buf_str(&b), "/c/a\n/c/b\n");
	buf_reset(&b);
	assert_int_equal(swift_bulk_delete_body(paths, 3, 10, 4, &b, &taken),
			 -ENAMETOOLONG);
	assert_int_equal(taken, 0);
	buf_reset(&b);
	assert_int_equal(swift_bulk_delete_body(bad, 1, 10, 4096, &b, &taken),
			 -EINVAL);
	assert_int_equal(swift_bulk_delete_body(nokey, 1, 10, 4096, &b, &taken),
			 -EINVAL);
	buf_release(&b);
}

static void test_bulk_result_statuses(void **state)
{
	static const char ok[] =
		"  \n {\"Number Not Found\": 2, \"Response Status\": "
		"\"200 OK\", \"Response Body\": \"\", \"Errors\": [], "
		"\"Number Deleted\": 7}";
	static const char failed[] =
		"{\"Number Not Found\": 0, \"Response Status\": "
		"\"502 Bad Gateway\", \"Response Body\": \"\", \"Errors\": "
		"[[\"/c/a\", \"503 Service Unavailable\"]], "
		"\"Number Deleted\": 3}";
	static const char errs_in_200[] =
		"{\"Response Status\": \"200 OK\", \"Errors\": "
		"[[\"/c/a\", \"409 Conflict\"]]}";
	/* a manifest PUT with heartbeat=on: 202, spaces, then the outcome */
	static const char put_ok[] =
		"   \r\n\r\n{\"Response Status\": \"201 Created\", "
		"\"Response Body\": \"\", \"Etag\": \"\\\"8f48\\\"\", "
		"\"Last Modified\": \"Tue, 01 Jan 2030 00:00:00 GMT\", "
		"\"Errors\": []}";
	static const char put_bad[] =
		" \r\n\r\n{\"Response Status\": \"400 Bad Request\", "
		"\"Response Body\": \"Bad Request\", \"Errors\": "
		"[[\"/c/s\", \"404 Not Found\"]]}";
	uint64_t del = 9;
	uint64_t nf = 9;
	long status = 7;

	(void)state;
	assert_int_equal(
		swift_bulk_delete_result(ok, strlen(ok), &del, &nf, NULL), 0);
	assert_int_equal(del, 7);
	assert_int_equal(nf, 2);
	assert_int_equal(swift_bulk_delete_result(failed, strlen(failed), &del,
						  &nf, NULL),
			 -EIO);
	assert_int_equal(del, 3);
	assert_int_equal(swift_bulk_delete_result(errs_in_200,
						  strlen(errs_in_200), &del,
						  &nf, NULL),
			 -EIO);
	assert_int_equal(swift_bulk_delete_result(failed, strlen(failed), &del,
						  &nf, &status),
			 -EIO);
	assert_int_equal(status, 502);
	assert_int_equal(swift_bulk_delete_result(put_ok, strlen(put_ok), &del,
						  &nf, &status),
			 0);
	assert_int_equal(status, 201);
	assert_int_equal(swift_bulk_delete_result(put_bad, strlen(put_bad),
						  &del, &nf, &status),
			 -EIO);
	assert_int_equal(status, 400);
	assert_int_equal(swift_bulk_delete_result("{}", 2, &del, &nf, &status),
			 -EBADMSG);
	assert_int_equal(status, 0);
	assert_int_equal(swift_bulk_delete_result("{}", 2, &del, &nf, NULL),
			 -EBADMSG);
	assert_int_equal(swift_bulk_delete_result("oops", 4, &del, &nf, NULL),
			 -EBADMSG);
}

static void test_bulk_first_error(void **state)
{
	static const char forbidden[] =
		"{\"Response Status\": \"400 Bad Request\", \"Errors\": "
		"[[\"/ro/seg\", \"403 Forbidden\"], "
		"[\"/ro/obj\", \"503 Service Unavailable\"]]}";
	static const char odd_first[] =
		"{\"Errors\": [\"not a pair\", [\"/c/a\"], [\"/c/b\", 7], "
		"[\"/c/c\", \"no code\"], [\"/c/d\", \"409 Conflict\"]]}";
	static const char none[] =
		"{\"Response Status\": \"200 OK\", \"Errors\": []}";

	(void)state;
	assert_int_equal(swift_bulk_first_error(forbidden, strlen(forbidden)),
			 403);
	/* entries without a status are passed over */
	assert_int_equal(swift_bulk_first_error(odd_first, strlen(odd_first)),
			 409);
	assert_int_equal(swift_bulk_first_error(none, strlen(none)), 0);
	assert_int_equal(swift_bulk_first_error("{\"Errors\": 3}", 13), 0);
	assert_int_equal(swift_bulk_first_error("not json", 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trove_seg_base_names),
		cmocka_unit_test(test_trove_number_forms),
		cmocka_unit_test(test_hide_segments_after_their_slo),
		cmocka_unit_test(test_hide_segments_without_slo_shown),
		cmocka_unit_test(test_hide_other_bases_shown),
		cmocka_unit_test(test_hide_nested_slo_names),
		cmocka_unit_test(test_hide_trove_agent_base),
		cmocka_unit_test(test_hide_many_siblings_of_one_base),
		cmocka_unit_test(test_hide_subdir_is_no_slo),
		cmocka_unit_test(test_put_cut_takes_whole_segment),
		cmocka_unit_test(test_put_cut_halves_until_taken),
		cmocka_unit_test(test_put_cut_odd_sizes_first_half_larger),
		cmocka_unit_test(test_put_cut_other_error_stops),
		cmocka_unit_test(test_put_cut_refused_byte_is_efbig),
		cmocka_unit_test(test_put_cut_piece_budget),
		cmocka_unit_test(test_cut_size_learnt_limit),
		cmocka_unit_test(test_copy_stall_grows_with_size),
		cmocka_unit_test(test_info_url_forms),
		cmocka_unit_test(test_info_parse_limits),
		cmocka_unit_test(test_bulk_body_encodes_paths),
		cmocka_unit_test(test_bulk_body_limits),
		cmocka_unit_test(test_bulk_result_statuses),
		cmocka_unit_test(test_bulk_first_error),
		cmocka_unit_test(test_marked_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
