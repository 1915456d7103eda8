/*
 * test_swift_http.c - the Swift store's HTTP policy without a network:
 * status/CURLcode -> errno mapping, which failures are retried, the
 * backoff schedule, URL encoding of names, response header lookup.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/swift_http.h"
#include "row_assert.h"

/* One status/CURLcode/target (and body) and the errno it must map to. */
struct errno_row {
	long status;
	CURLcode cc;
	enum swift_target target;
	int want;
	const char *body; /* NULL: none */
};

#define OBJ SWIFT_TARGET_OBJECT
static const struct errno_row errno_rows[] = {
	/* success */
	{ 200, CURLE_OK, OBJ, 0, NULL },
	{ 201, CURLE_OK, OBJ, 0, NULL },
	{ 202, CURLE_OK, OBJ, 0, NULL },
	{ 204, CURLE_OK, OBJ, 0, NULL },
	{ 206, CURLE_OK, OBJ, 0, NULL },
	{ 304, CURLE_OK, OBJ, 0, NULL },
	{ 416, CURLE_OK, OBJ, 0, NULL }, /* a range past the end reads as EOF */
	/* client errors; 409 is "not empty" for a container only */
	{ 400, CURLE_OK, OBJ, -EINVAL, NULL },
	{ 401, CURLE_OK, OBJ, -EACCES, NULL },
	{ 403, CURLE_OK, OBJ, -EACCES, NULL },
	{ 404, CURLE_OK, OBJ, -ENOENT, NULL },
	{ 409, CURLE_OK, OBJ, -EIO, NULL },
	{ 409, CURLE_OK, SWIFT_TARGET_CONTAINER, -ENOTEMPTY, NULL },
	{ 409, CURLE_OK, SWIFT_TARGET_ACCOUNT, -EIO, NULL },
	{ 412, CURLE_OK, OBJ, -ESTALE, NULL },
	{ 413, CURLE_OK, OBJ, -EFBIG, NULL },
	/* a quota answers 413 too; its text tells (a heartbeat's JSON) */
	{ 413, CURLE_OK, OBJ, -EDQUOT, "Upload exceeds quota." },
	{ 413, CURLE_OK, OBJ, -EDQUOT,
	  "{\"Response Status\": \"413 Request Entity Too Large\", "
	  "\"Response Body\": \"Upload exceeds quota.\", \"Errors\": []}" },
	{ 413, CURLE_OK, OBJ, -EFBIG,
	  "<html><h1>Request Entity Too Large</h1></html>" },
	{ 507, CURLE_OK, OBJ, -EIO, "quota" }, /* only a 413 is one */
	{ 422, CURLE_OK, OBJ, -EIO, NULL },
	{ 429, CURLE_OK, OBJ, -EIO, NULL },
	{ 498, CURLE_OK, OBJ, -EIO, NULL },
	/* server errors */
	{ 500, CURLE_OK, OBJ, -EIO, NULL },
	{ 503, CURLE_OK, OBJ, -EIO, NULL },
	{ 507, CURLE_OK, OBJ, -EIO, NULL },
	/* the transport wins over the status */
	{ 0, CURLE_OPERATION_TIMEDOUT, OBJ, -ETIMEDOUT, NULL },
	{ 0, CURLE_COULDNT_CONNECT, OBJ, -EHOSTUNREACH, NULL },
	{ 0, CURLE_COULDNT_RESOLVE_HOST, OBJ, -EHOSTUNREACH, NULL },
	{ 0, CURLE_RECV_ERROR, OBJ, -EIO, NULL },
	{ 0, CURLE_OUT_OF_MEMORY, OBJ, -ENOMEM, NULL },
	/* a body cut short after a 200 is still a failure */
	{ 200, CURLE_PARTIAL_FILE, OBJ, -EIO, NULL },
};
#undef OBJ

static void test_errno_rows(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(errno_rows) / sizeof(errno_rows[0]); i++) {
		const struct errno_row *r = &errno_rows[i];

		row_int_equal(
			i, "swift_http_errno()",
			swift_http_errno(r->status, r->cc, r->target, r->body),
			r->want, __FILE__, __LINE__);
	}
}

static void test_retryable_transient(void **state)
{
	(void)state;
	assert_true(swift_http_is_retryable(500, CURLE_OK));
	assert_true(swift_http_is_retryable(503, CURLE_OK));
	assert_true(swift_http_is_retryable(429, CURLE_OK));
	assert_true(swift_http_is_retryable(498, CURLE_OK));
	assert_true(swift_http_is_retryable(422, CURLE_OK));
	assert_true(swift_http_is_retryable(0, CURLE_RECV_ERROR));
	assert_true(swift_http_is_retryable(0, CURLE_SEND_ERROR));
	assert_true(swift_http_is_retryable(0, CURLE_GOT_NOTHING));
	assert_true(swift_http_is_retryable(0, CURLE_OPERATION_TIMEDOUT));
	assert_true(swift_http_is_retryable(0, CURLE_COULDNT_CONNECT));
	assert_true(swift_http_is_retryable(200, CURLE_PARTIAL_FILE));
}

static void test_retryable_not_permanent(void **state)
{
	(void)state;
	assert_false(swift_http_is_retryable(200, CURLE_OK));
	assert_false(swift_http_is_retryable(201, CURLE_OK));
	assert_false(swift_http_is_retryable(401, CURLE_OK));
	assert_false(swift_http_is_retryable(403, CURLE_OK));
	assert_false(swift_http_is_retryable(404, CURLE_OK));
	assert_false(swift_http_is_retryable(409, CURLE_OK));
	assert_false(swift_http_is_retryable(413, CURLE_OK));
	assert_false(swift_http_is_retryable(0, CURLE_URL_MALFORMAT));
	assert_false(
		swift_http_is_retryable(0, CURLE_PEER_FAILED_VERIFICATION));
}

static void test_backoff_doubles_up_to_cap(void **state)
{
	const struct swift_backoff b = {
		.base_ms = 100,
		.cap_ms = 1000,
		.budget_ms = 1000000,
	};

	(void)state;
	/* rnd 0 gives the lower bound: half of the ceiling */
	assert_int_equal(swift_backoff_delay(&b, 1, 0, 0.0), 50);
	assert_int_equal(swift_backoff_delay(&b, 2, 0, 0.0), 100);
	assert_int_equal(swift_backoff_delay(&b, 3, 0, 0.0), 200);
	assert_int_equal(swift_backoff_delay(&b, 4, 0, 0.0), 400);
	assert_int_equal(swift_backoff_delay(&b, 5, 0, 0.0), 500);
	assert_int_equal(swift_backoff_delay(&b, 50, 0, 0.0), 500);
}

static void test_backoff_jitter_within_bounds(void **state)
{
	const struct swift_backoff b = {
		.base_ms = 100,
		.cap_ms = 1000,
		.budget_ms = 1000000,
	};

	(void)state;
	assert_int_equal(swift_backoff_delay(&b, 1, 0, 0.5), 75);
	assert_int_equal(swift_backoff_delay(&b, 3, 0, 0.5), 300);
	/* never reaches the ceiling itself, whatever rnd says */
	assert_int_equal(swift_backoff_delay(&b, 1, 0, 1.0), 99);
	assert_int_equal(swift_backoff_delay(&b, 1, 0, -3.0), 50);
}

static void test_backoff_stops_at_budget(void **state)
{
	const struct swift_backoff b = {
		.base_ms = 100,
		.cap_ms = 1000,
		.budget_ms = 500,
	};

	(void)state;
	assert_int_equal(swift_backoff_delay(&b, 1, 400, 0.0), 50);
	assert_int_equal(swift_backoff_delay(&b, 1, 451, 0.0), -1);
	assert_int_equal(swift_backoff_delay(&b, 1, 500, 0.0), -1);
	assert_int_equal(swift_backoff_delay(&b, 1, 9999, 0.0), -1);
}

static void test_backoff_zero_budget_never_retries(void **state)
{
	const struct swift_backoff b = {
		.base_ms = 100,
		.cap_ms = 1000,
		.budget_ms = 0,
	};

	(void)state;
	assert_int_equal(swift_backoff_delay(&b, 1, 0, 0.0), -1);
}

static void check_encode(const char *in, bool keep_slash, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(swift_url_encode(&b, in, keep_slash), 0);
	assert_string_equal(buf_str(&b), want);
	buf_release(&b);
}

static void test_url_encode_reserved(void **state)
{
	(void)state;
	check_encode("a b", true, "a%20b");
	check_encode("100%", true, "100%25");
	check_encode("q?x=1&y#z", true, "q%3Fx%3D1%26y%23z");
	check_encode("a+b;c", true, "a%2Bb%3Bc");
	check_encode("Az09-._~", true, "Az09-._~");
}

static void test_url_encode_slash(void **state)
{
	(void)state;
	check_encode("db/2024/x", true, "db/2024/x");
	check_encode("db/2024/x", false, "db%2F2024%2Fx");
}

static void test_url_encode_utf8(void **state)
{
	(void)state;
	/* e-acute, then U+1F600 */
	check_encode("\xc3\xa9", true, "%C3%A9");
	check_encode("\xf0\x9f\x98\x80.txt", true, "%F0%9F%98%80.txt");
}

/* what Python's strict UTF-8 decoder (Swift's check_utf8) accepts */
static void test_name_is_utf8(void **state)
{
	(void)state;
	assert_true(swift_name_is_utf8(""));
	assert_true(swift_name_is_utf8("plain/ascii name"));
	assert_true(swift_name_is_utf8("\xc3\xa9t\xc3\xa9")); /* U+00E9 */
	assert_true(swift_name_is_utf8("\xe6\x97\xa5"));      /* U+65E5 */
	assert_true(swift_name_is_utf8("\xed\x9f\xbf"));      /* U+D7FF */
	assert_true(swift_name_is_utf8("\xf0\x9f\x98\x80"));  /* U+1F600 */
	assert_true(swift_name_is_utf8("\xf4\x8f\xbf\xbf"));  /* U+10FFFF */
	assert_false(swift_name_is_utf8("bad\xff"));
	assert_false(swift_name_is_utf8("\x80"));     /* continuation */
	assert_false(swift_name_is_utf8("\xc0\xaf")); /* overlong '/' */
	assert_false(swift_name_is_utf8("\xc1\xbf"));
	assert_false(swift_name_is_utf8("\xe0\x80\xaf")); /* overlong */
	assert_false(swift_name_is_utf8("\xed\xa0\x80")); /* surrogate */
	assert_false(swift_name_is_utf8("\xf0\x80\x80\xaf"));
	assert_false(swift_name_is_utf8("\xf4\x90\x80\x80")); /* > U+10FFFF */
	assert_false(swift_name_is_utf8("\xf5\x80\x80\x80"));
	assert_false(swift_name_is_utf8("\xc3")); /* cut short */
	assert_false(swift_name_is_utf8("\xe6\x97"));
	assert_false(swift_name_is_utf8("\xe6\x97x"));
	assert_false(swift_name_is_utf8("\xf0\x9f\x98"));
}

static void test_url_encode_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 5);
	assert_int_equal(swift_url_encode(&b, "a b c", true), -E2BIG);
	buf_release(&b);
}

static void test_header_lookup(void **state)
{
	struct swift_http_req r;
	char v[16];

	(void)state;
	swift_http_req_init(&r);
	buf_puts(&r.hdrs, "content-length:12\nx-trans-id:tx1\n"
			  "x-object-meta-mtime:1.5\n");
	assert_true(swift_http_header(&r, "x-trans-id", v, sizeof(v)));
	assert_string_equal(v, "tx1");
	assert_true(swift_http_header(&r, "content-length", v, sizeof(v)));
	assert_string_equal(v, "12");
	assert_false(swift_http_header(&r, "content", v, sizeof(v)));
	assert_false(swift_http_header(&r, "etag", v, sizeof(v)));
	/* truncated to the buffer */
	assert_true(swift_http_header(&r, "x-object-meta-mtime", v, 3));
	assert_string_equal(v, "1.");
	swift_http_req_release(&r);
}

/* The open's ranged GET takes the object's size from Content-Range. */
static void test_range_total(void **state)
{
	static const struct {
		const char *hdrs;
		bool ok;
		uint64_t total;
	} rows[] = {
		{ "content-range:bytes 0-262143/5000000000\n", true,
		  5000000000ull },
		{ "content-range:bytes 0-4/5\n", true, 5 },
		{ "content-range:bytes */0\n", true, 0 },
		{ "content-range:bytes 0-4/*\n", false, 0 },
		{ "content-range:bytes 0-4/5x\n", false, 0 },
		{ "content-range:bytes 0-4\n", false, 0 },
		{ "content-length:5\n", false, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct swift_http_req r;
		uint64_t total = 77;

		swift_http_req_init(&r);
		buf_puts(&r.hdrs, rows[i].hdrs);
		assert_int_equal(swift_http_range_total(&r, &total),
				 rows[i].ok);
		if (rows[i].ok)
			assert_int_equal(total, rows[i].total);
		swift_http_req_release(&r);
	}
}

static int collect(void *arg, const char *name, const char *value)
{
	struct buf *b = arg;

	buf_printf(b, "%s=%s;", name, value);
	return 0;
}

static void test_headers_each_prefix(void **state)
{
	struct swift_http_req r;
	struct buf out;

	(void)state;
	swift_http_req_init(&r);
	buf_init(&out, 1024);
	buf_puts(&r.hdrs, "x-object-meta-mode:644\nx-trans-id:tx\n"
			  "x-object-meta-mtime:1.5\n");
	assert_int_equal(
		swift_http_headers_each(&r, "x-object-meta-", collect, &out),
		0);
	assert_string_equal(buf_str(&out), "mode=644;mtime=1.5;");
	buf_release(&out);
	swift_http_req_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_rows),
		cmocka_unit_test(test_retryable_transient),
		cmocka_unit_test(test_retryable_not_permanent),
		cmocka_unit_test(test_backoff_doubles_up_to_cap),
		cmocka_unit_test(test_backoff_jitter_within_bounds),
		cmocka_unit_test(test_backoff_stops_at_budget),
		cmocka_unit_test(test_backoff_zero_budget_never_retries),
		cmocka_unit_test(test_url_encode_reserved),
		cmocka_unit_test(test_url_encode_slash),
		cmocka_unit_test(test_url_encode_utf8),
		cmocka_unit_test(test_url_encode_cap),
		cmocka_unit_test(test_name_is_utf8),
		cmocka_unit_test(test_header_lookup),
		cmocka_unit_test(test_range_total),
		cmocka_unit_test(test_headers_each_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
