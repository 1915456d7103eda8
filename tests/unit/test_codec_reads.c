/*
 * test_codec_reads.c - unit tests of how the codec layer's readers
 * (backends/codec_tfs1.c, backends/codec_trove.c) serve read patterns
 * over the mem store: random reads, reads that the kernel's read-ahead
 * sends together and FUSE delivers out of order (the inner store must
 * see them in order: each seek costs a Swift reader a new GET), Trove
 * seeks, and closing a reader while read-ahead runs. Fixture in
 * codec_fixture.h.
 */
#include "codec_fixture.h"

/*
 * One read of @want bytes at @off (either may run past the end) must give
 * exactly the bytes of @data there.
 */
static void read_matches(struct store_reader *r, const uint8_t *data,
			 size_t len, uint64_t off, size_t want, uint8_t *buf)
{
	size_t expect = off >= len ? 0 : (len - off < want ? len - off : want);
	size_t got = 99;

	assert_int_equal(store_reader_read(r, off, buf, want, &got), 0);
	assert_true(got == expect);
	if (got)
		assert_memory_equal(buf, data + off, got);
}

static void test_codec_tfs1_random_reads_match(void **state)
{
	struct fx *f = *state;
	size_t len = 50 * FS + 1234;
	uint8_t *d = random_data(len);
	uint8_t *buf = malloc(3 * FS + 10);
	struct store_reader *r = NULL;
	int i;

	assert_non_null(buf);
	assert_int_equal(put(f->st, "obj", NULL, d, len, 9999), 0);
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	for (i = 0; i < 400; i++) {
		uint64_t off = rnd() % (len + 100);
		size_t want = rnd() % (3 * FS + 10);

		if (i % 3 == 0) /* many reads near frame boundaries */
			off = (rnd() % 52) * FS - (rnd() % 3);
		if (off > len + 50)
			off = len;
		read_matches(r, d, len, off, want, buf);
	}
	store_reader_close(r);
	free(buf);
	free(d);
}

/*
 * The kernel's read-ahead sends several reads at once and FUSE threads
 * deliver them in any order: frames must still be fetched from the inner
 * store in ascending order (each seek costs a Swift reader a new GET).
 */
static void test_codec_tfs1_reads_out_of_order_fetch_in_order(void **state)
{
	/*
	 * 0, 2, 1, 4, 3, ... 47, 46 (pairs swapped); 50, 48, 49, 53, 51,
	 * 52, ... 62, 60, 61 (a read overtaking two); 63, 65 .. 74, 64,
	 * 75 .. 79 (a read ten frames late)
	 */
	static const unsigned three[3] = { 2, 0, 1 };
	uint64_t order[80];
	struct fx *f = *state;
	size_t len = 80 * FS;
	uint8_t *d = random_data(len);
	uint8_t *buf = malloc(FS);
	struct store_reader *r = NULL;
	unsigned n = 0;
	unsigned seeks;
	uint64_t i;

	assert_non_null(buf);
	order[n++] = 0;
	for (i = 1; i < 47; i += 2) {
		order[n++] = i + 1;
		order[n++] = i;
	}
	order[n++] = 47;
	for (i = 48; i < 63; i++)
		order[n++] = 48 + (i - 48) / 3 * 3 + three[(i - 48) % 3];
	order[n++] = 63;
	for (i = 65; i <= 74; i++)
		order[n++] = i;
	order[n++] = 64;
	for (i = 75; i < 80; i++)
		order[n++] = i;
	assert_int_equal(n, 80);

	assert_int_equal(put(f->st, "obj", NULL, d, len, 9999), 0);
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	seeks = mem_store_seeks(f->mem);
	for (i = 0; i < n; i++) {
		size_t got = 0;

		assert_int_equal(
			store_reader_read(r, order[i] * FS, buf, FS, &got), 0);
		assert_int_equal(got, FS);
		assert_memory_equal(buf, d + order[i] * FS, FS);
	}
	/*
	 * three seeks: the first read reads the header, the footer at the
	 * end, the index before it, then the frames from the first: in
	 * order, whatever order the reads came in
	 */
	assert_int_equal(mem_store_seeks(f->mem) - seeks, 3);
	store_reader_close(r);
	free(buf);
	free(d);
}

/* Closing a reader while read-ahead jobs run must be safe. */
static void test_codec_tfs1_close_with_readahead_in_flight(void **state)
{
	struct fx *f = *state;
	size_t len = 40 * FS;
	uint8_t *t = text_data(len);
	uint8_t buf[100];
	int i;

	assert_int_equal(put(f->st, "obj", NULL, t, len, len), 0);
	for (i = 0; i < 20; i++) {
		struct store_reader *r = NULL;
		size_t got = 0;

		assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
		assert_int_equal(
			store_reader_read(r, 0, buf, sizeof(buf), &got), 0);
		assert_int_equal(got, sizeof(buf));
		assert_memory_equal(buf, t, got);
		store_reader_close(r);
	}
	free(t);
}

static void test_codec_trove_seeks_match(void **state)
{
	struct fx *f = *state;
	size_t len = 300000;
	uint8_t *t = text_data(len);
	uint8_t buf[20000];
	struct store_reader *r = NULL;
	int i;

	assert_int_equal(put(f->st, "obj", "trove-sha256", t, len, 4096), 0);
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	for (i = 0; i < 200; i++) {
		uint64_t off = rnd() % (len + 10);
		size_t want = rnd() % sizeof(buf);

		read_matches(r, t, len, off, want, buf);
	}
	store_reader_close(r);
	free(t);
}

/*
 * Trove's format has no index: a read behind the decoder restarts it from
 * the start. Reads that the kernel's read-ahead sends at once arrive in
 * any order; the ones overtaken (within the history kept) must not
 * restart it. 12 MiB of random data (barely compressible, so the stored
 * object is as big), read in 128 KiB pieces in swapped pairs, then once
 * more 11 MiB back (beyond the history: one restart).
 */
static void test_codec_trove_reordered_reads_do_not_restart(void **state)
{
	struct fx *f = *state;
	size_t piece = 128 << 10;
	size_t len = 96 * piece;
	uint8_t *d = random_data(len);
	uint8_t *buf = malloc(piece);
	struct store_reader *r = NULL;
	unsigned seeks;
	uint64_t i;
	size_t got;

	assert_non_null(buf);
	assert_int_equal(put(f->st, "obj", "trove-sha256", d, len, 4096), 0);
	assert_int_equal(store_reader_open(f->st, C, "obj", &r), 0);
	seeks = mem_store_seeks(f->mem);
	for (i = 0; i < 96; i++) {
		uint64_t k = i % 2 ? i - 1 : (i + 1 < 96 ? i + 1 : i);

		got = 0;
		assert_int_equal(
			store_reader_read(r, k * piece, buf, piece, &got), 0);
		assert_int_equal(got, piece);
		assert_memory_equal(buf, d + k * piece, piece);
	}
	assert_int_equal(mem_store_seeks(f->mem) - seeks, 0);
	got = 0;
	assert_int_equal(store_reader_read(r, 8 * piece, buf, piece, &got), 0);
	assert_int_equal(got, piece);
	assert_memory_equal(buf, d + 8 * piece, piece);
	assert_int_equal(mem_store_seeks(f->mem) - seeks, 1);
	store_reader_close(r);
	free(buf);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_codec_tfs1_random_reads_match),
		T(test_codec_tfs1_reads_out_of_order_fetch_in_order),
		T(test_codec_tfs1_close_with_readahead_in_flight),
		T(test_codec_trove_seeks_match),
		T(test_codec_trove_reordered_reads_do_not_restart),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
