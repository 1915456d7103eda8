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

static void test_errno_success_statuses(void **state)
{
	(void)state;
	assert_int_equal(swift_http_errno(200, CURLE_OK, SWIFT_TARGET_OBJECT),
			 0);
	assert_int_equal(swift_http_errno(201, CURLE_OK, SWIFT_TARGET_OBJECT),
			 0);
	assert_int_equal(swift_http_errno(202, CURLE_OK, SWIFT_TARGET_OBJECT),
			 0);
	assert_int_equal(swift_http_errno(204, CURLE_OK, SWIFT_TARGET_OBJECT),
			 0);
	assert_int_equal(swift_http_errno(206, CURLE_OK, SWIFT_TARGET_OBJECT),
			 0);
	assert_int_equal(swift_http_errno(304, CURLE_OK, SWIFT_TARGET_OBJECT),
			 0);
	/* a range past the end reads as EOF */
	assert_int_equal(swift_http_errno(416, CURLE_OK, SWIFT_TARGET_OBJECT),
			 0);
}

static void test_errno_client_errors(void **state)
{
	(void)state;
	assert_int_equal(swift_http_errno(400, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EINVAL);
	assert_int_equal(swift_http_errno(401, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EACCES);
	assert_int_equal(swift_http_errno(403, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EACCES);
	assert_int_equal(swift_http_errno(404, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -ENOENT);
	assert_int_equal(swift_http_errno(409, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EIO);
	assert_int_equal(
		swift_http_errno(409, CURLE_OK, SWIFT_TARGET_CONTAINER),
		-ENOTEMPTY);
	assert_int_equal(swift_http_errno(409, CURLE_OK, SWIFT_TARGET_ACCOUNT),
			 -EIO);
	assert_int_equal(swift_http_errno(412, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -ESTALE);
	assert_int_equal(swift_http_errno(413, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EFBIG);
	assert_int_equal(swift_http_errno(422, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EIO);
	assert_int_equal(swift_http_errno(429, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EIO);
	assert_int_equal(swift_http_errno(498, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EIO);
}

static void test_errno_server_errors(void **state)
{
	(void)state;
	assert_int_equal(swift_http_errno(500, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EIO);
	assert_int_equal(swift_http_errno(503, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EIO);
	assert_int_equal(swift_http_errno(507, CURLE_OK, SWIFT_TARGET_OBJECT),
			 -EIO);
}

static void test_errno_transport_wins(void **state)
{
	(void)state;
	assert_int_equal(swift_http_errno(0, CURLE_OPERATION_TIMEDOUT,
					  SWIFT_TARGET_OBJECT),
			 -ETIMEDOUT);
	assert_int_equal(
		swift_http_errno(0, CURLE_COULDNT_CONNECT, SWIFT_TARGET_OBJECT),
		-EHOSTUNREACH);
	assert_int_equal(swift_http_errno(0, CURLE_COULDNT_RESOLVE_HOST,
					  SWIFT_TARGET_OBJECT),
			 -EHOSTUNREACH);
	assert_int_equal(
		swift_http_errno(0, CURLE_RECV_ERROR, SWIFT_TARGET_OBJECT),
		-EIO);
	assert_int_equal(
		swift_http_errno(0, CURLE_OUT_OF_MEMORY, SWIFT_TARGET_OBJECT),
		-ENOMEM);
	/* a body cut short after a 200 is still a failure */
	assert_int_equal(
		swift_http_errno(200, CURLE_PARTIAL_FILE, SWIFT_TARGET_OBJECT),
		-EIO);
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
		cmocka_unit_test(test_errno_success_statuses),
		cmocka_unit_test(test_errno_client_errors),
		cmocka_unit_test(test_errno_server_errors),
		cmocka_unit_test(test_errno_transport_wins),
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
		cmocka_unit_test(test_header_lookup),
		cmocka_unit_test(test_headers_each_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
