// SPDX-License-Identifier: MIT
/*
 * Reed-Solomon FEC, what the code recovers: Cauchy rows equal to ISA-L's, the wire layout
 * and parity against ISA-L's reference encoder, every loss pattern up to P for several
 * (D,P) rebuilt byte-exact and delivered exactly once, no bogus recovery beyond P, one
 * configuration-free decoder across senders, the group id wrap and reordering,
 * duplicates, the largest code and payloads of 0 and 1 bytes.
 *
 * Each test builds a rig (tests/support/fecrig.h): an encoder whose shards are captured
 * on a wire, a decoder whose payloads a sink checks byte for byte and counts per id. The
 * tests feed the decoder chosen subsets of the wire. Timers, limits and garbage are in
 * test_fec_limits.c.
 */
#include <isa-l.h>
#include <string.h>

#include "tests/support/fecrig.h"
#include "tests/support/fixture.h"
#include "transport/fec.h"

/* The decoder rebuilds rows from gf_inv((D+r) ^ j); that must be ISA-L's Cauchy matrix. */
START_TEST(cauchy_rows_match_isal)
{
	uint8_t a[FERRY_FEC_MAX_SHARDS * FERRY_FEC_MAX_DATA];
	int d, p, i, j;

	for (d = 1; d <= FERRY_FEC_MAX_DATA; d += 7) {
		p = FERRY_FEC_MAX_PARITY;
		gf_gen_cauchy1_matrix(a, d + p, d);
		for (i = d; i < d + p; i++)
			for (j = 0; j < d; j++)
				ck_assert_uint_eq(a[i * d + j], gf_inv((uint8_t)(i ^ j)));
	}
}
END_TEST

/* Layout byte by byte, and parity equal to ISA-L's reference encoder over the zero-padded
 * coded regions. */
START_TEST(encoder_layout_and_parity_match_reference)
{
	uint8_t matrix[FERRY_FEC_MAX_SHARDS * FERRY_FEC_MAX_DATA], tbls[32 * 4 * 2];
	uint8_t data[4][1408], parity[2][1408];
	uint8_t *dp[4], *pp[2];
	struct ferry_fecrig *r = ferry_fecrig_new(4, 2, 0x01020304);
	struct ferry_fecrig_wire *w = &r->wire;
	uint32_t ids[4] = {2, 1, 0, 3}; /* lengths 17, 1400, 4, 63 */
	size_t L = 0;
	unsigned i;

	for (i = 0; i < 4; i++) {
		size_t len = ferry_fecrig_payload_len(ids[i]);

		ferry_fecrig_send(r, ids[i], 100);
		ck_assert_uint_eq(w->len[i], FERRY_FEC_DATA_OVERHEAD + len);
		ck_assert_mem_eq(w->bytes[i], "\x04\x03\x02\x01", 4);
		ck_assert_uint_eq(w->bytes[i][4], i);
		ck_assert_uint_eq(w->bytes[i][5], 4);
		ck_assert_uint_eq(w->bytes[i][6], 2);
		ck_assert_uint_eq(w->bytes[i][7], 0);
		ck_assert_uint_eq(w->bytes[i][8] | w->bytes[i][9] << 8, len);
		memset(data[i], 0, sizeof(data[i]));
		memcpy(data[i], w->bytes[i] + FERRY_FEC_HDR_LEN, len + 2);
		if (len + 2 > L)
			L = len + 2;
		dp[i] = data[i];
	}
	ck_assert_uint_eq(w->n, 6);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&r->enc), UINT64_MAX);

	gf_gen_cauchy1_matrix(matrix, 6, 4);
	ec_init_tables(4, 2, &matrix[16], tbls);
	pp[0] = parity[0];
	pp[1] = parity[1];
	ec_encode_data_base((int)L, 4, 2, tbls, dp, pp);
	for (i = 0; i < 2; i++) {
		const uint8_t *s = w->bytes[4 + i];

		ck_assert_uint_eq(w->len[4 + i], FERRY_FEC_HDR_LEN + L);
		ck_assert_mem_eq(s, "\x04\x03\x02\x01", 4);
		ck_assert_uint_eq(s[4], 4 + i);
		ck_assert_uint_eq(s[5], 4);
		ck_assert_uint_eq(s[6], 2);
		ck_assert_uint_eq(s[7], 4);
		ck_assert_mem_eq(s + FERRY_FEC_HDR_LEN, parity[i], L);
	}
	ck_assert_uint_eq(r->enc.stats.data_out, 4);
	ck_assert_uint_eq(r->enc.stats.parity_out, 2);
	ck_assert_uint_eq(r->enc.stats.groups, 1);

	/* next group has the next id */
	ferry_fecrig_send(r, 5, 101);
	ck_assert_mem_eq(w->bytes[6], "\x05\x03\x02\x01", 4);
	ferry_fecrig_free(r);
}
END_TEST

/* Every loss pattern of size <= exhaustive, plus `samples` random ones of sizes
 * exhaustive+1..P: all data back, byte-exact, each once. */
static void check_all_patterns(uint8_t d, uint8_t p, unsigned exhaustive, unsigned samples)
{
	struct ferry_fecrig *r = ferry_fecrig_new(d, p, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	unsigned n = d + p, size, tested = 0;
	uint64_t c, rng = 0x9e3779b97f4a7c15ull, lost_data = 0;
	uint32_t group = 0, i;

	ck_assert(d >= 1 && p >= 1 && n <= 63);
	for (i = 0; i < d; i++)
		ferry_fecrig_send(r, i, 0);
	ck_assert_uint_eq(w->n, n);
	if (exhaustive >= p)
		samples = 0; /* nothing left to sample */

	for (size = 0; size <= p; size++) {
		uint64_t end = 1ull << n;

		if (size > exhaustive)
			break;
		for (c = size ? (1ull << size) - 1 : 0; c < end;
		     c = ferry_fecrig_next_combination(c)) {
			ferry_fecrig_feed(r, n, c, group, (group & 1) != 0);
			ferry_fecrig_expect_once(s, 0, d, c);
			lost_data += (unsigned)__builtin_popcountll(c & ((1ull << d) - 1));
			group++;
			tested++;
			if (c == 0)
				break;
		}
	}
	for (i = 0; i < samples; i++) {
		unsigned want =
		    exhaustive + 1 + (unsigned)(ferry_fecrig_rng(&rng) % (p - exhaustive));

		c = 0;
		while ((unsigned)__builtin_popcountll(c) < want)
			c |= 1ull << (ferry_fecrig_rng(&rng) % n);
		ferry_fecrig_feed(r, n, c, group, (group & 1) != 0);
		ferry_fecrig_expect_once(s, 0, d, c);
		lost_data += (unsigned)__builtin_popcountll(c & ((1ull << d) - 1));
		group++;
		tested++;
	}
	/* fed backwards, parity comes first and rebuilds data that then arrives late */
	ck_assert_uint_eq(r->dec.stats.recovered, lost_data + r->dec.stats.duplicates);
	ck_assert_uint_ge(r->dec.stats.recovered, lost_data);
	ck_assert_uint_eq(r->dec.stats.unrecovered, 0);
	ck_assert_uint_eq(r->dec.stats.evicted, 0);
	ck_assert_uint_eq(r->dec.stats.bad_recovery, 0);
	ck_assert_uint_eq(r->dec.stats.malformed + r->dec.stats.mismatched, 0);
	ck_assert_uint_gt(tested, 0);
	ferry_fecrig_free(r);
}

static const unsigned combos[][4] = {
    /* D, P, every pattern up to this many losses, random patterns with more */
    {1, 1, 1, 0}, {2, 1, 1, 0},	   {4, 2, 2, 0},     {10, 3, 3, 0},
    {6, 6, 6, 0}, {20, 5, 2, 400}, {32, 16, 1, 150}, {56, 7, 1, 150},
};

START_TEST(every_loss_pattern_up_to_p)
{
	check_all_patterns((uint8_t)combos[_i][0], (uint8_t)combos[_i][1], combos[_i][2],
			   combos[_i][3]);
}
END_TEST

/* P + 1 losses: whatever arrived is delivered once, nothing is invented, and the group is
 * counted as unrecovered once it is pushed out. */
START_TEST(more_than_p_losses_recover_nothing)
{
	struct ferry_fecrig *r = ferry_fecrig_new(10, 3, 0);
	struct ferry_fecrig_sink *s = &r->sink;
	unsigned n = 13, i, patterns = 0, wrong = 0;
	uint64_t c;

	ferry_fecrig_decoder(r, FERRY_FECRIG_MAX_PAYLOAD, 4, 0);
	for (i = 0; i < 10; i++)
		ferry_fecrig_send(r, i, 0);
	for (c = 0xf; c < (1ull << n); c = ferry_fecrig_next_combination(c)) {
		unsigned lost_data = (unsigned)__builtin_popcountll(c & 0x3ff);

		ferry_fecrig_feed(r, n, c, patterns, 0);
		wrong += s->bad != 0 || s->total != 10 - lost_data;
		for (i = 0; i < 10; i++)
			wrong += s->count[i] != ((c >> i) & 1 ? 0 : 1);
		memset(s, 0, sizeof(*s));
		patterns++;
	}
	ck_assert_uint_eq(patterns, 715);
	ck_assert_uint_eq(wrong, 0);
	ck_assert_uint_eq(r->dec.stats.recovered, 0);
	/* groups pushed out of the 4-entry table with data missing: all but the last 4 */
	ck_assert_uint_eq(r->dec.stats.unrecovered, patterns - 4);
	ferry_fecrig_free(r);
}
END_TEST

/* One decoder, no configuration, fed by senders with different (D,P) in turn, with P
 * losses per group, across the group id wrap, groups interleaved. */
START_TEST(unconfigured_decoder_wrap_and_reorder)
{
	static const uint8_t dp[][2] = {{4, 2}, {10, 3}, {1, 1}, {16, 4}, {3, 3}};
	struct ferry_fecrig *r = ferry_fecrig_new(0, 0, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	uint32_t group = UINT32_MAX - 5, id = 0, expect = 0;
	unsigned v, g, i, j, start[8], count[8];
	uint64_t rng = 12345;

	ferry_fecrig_decoder(r, FERRY_FECRIG_MAX_PAYLOAD, 16, 256);
	for (v = 0; v < 5; v++) {
		uint8_t d = dp[v][0], p = dp[v][1];
		unsigned order[FERRY_FECRIG_WIRE_SHARDS], n = 0, groups = 4;

		ferry_fecrig_encoder(r, d, p, group); /* empties the wire */
		for (g = 0; g < groups; g++) {
			start[g] = w->n;
			for (i = 0; i < d; i++)
				ferry_fecrig_send(r, id++, 0);
			count[g] = w->n - start[g];
			ck_assert_uint_eq(count[g], (unsigned)d + p);
		}
		expect += groups * d;
		/* drop P random shards of each group, then shuffle all survivors */
		for (g = 0; g < groups; g++) {
			uint64_t lost = 0;

			while ((unsigned)__builtin_popcountll(lost) < p)
				lost |= 1ull << (ferry_fecrig_rng(&rng) % count[g]);
			for (i = 0; i < count[g]; i++)
				if (!(lost & (1ull << i)))
					order[n++] = start[g] + i;
		}
		for (i = n - 1; i > 0; i--) {
			unsigned t;

			j = (unsigned)(ferry_fecrig_rng(&rng) % (i + 1));
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (i = 0; i < n; i++)
			ck_assert_int_eq(
			    ferry_fec_decode(&r->dec, w->bytes[order[i]], w->len[order[i]]), 0);
		group = r->enc.group;
		ferry_fec_encoder_destroy(&r->enc);
	}
	ck_assert_uint_lt(group, 20); /* wrapped */
	ck_assert_uint_eq(s->bad, 0);
	ck_assert_uint_eq(s->total, expect);
	for (i = 0; i < expect; i++)
		ck_assert_uint_eq(s->count[i], 1);
	ck_assert_uint_eq(r->dec.stats.stale + r->dec.stats.unrecovered + r->dec.stats.mismatched,
			  0);
	ferry_fecrig_free(r);
}
END_TEST

/* Duplicates of everything, and originals arriving after their shard was rebuilt. */
START_TEST(duplicates_delivered_once)
{
	struct ferry_fecrig *r = ferry_fecrig_new(4, 2, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	unsigned i;

	for (i = 0; i < 4; i++)
		ferry_fecrig_send(r, i, 0);
	/* data 0, 0 again, parity 4, 5 (rebuilds 1 and 2... needs 4: 0,3,4,5) */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[0], w->len[0]), 0);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[0], w->len[0]), 0);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[4], w->len[4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[4], w->len[4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[3], w->len[3]), 0);
	ck_assert_uint_eq(s->total, 2);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[5], w->len[5]), 0);
	ck_assert_uint_eq(r->dec.stats.recovered, 2);
	/* late originals and every shard again */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]), 0);
	ferry_fecrig_expect_once(s, 0, 4, 0);
	ck_assert_uint_eq(r->dec.stats.duplicates, 2 + 4);
	ferry_fecrig_free(r);
}
END_TEST

/* The limits: D = 64, P = 32, all 32 first data shards lost. */
START_TEST(largest_code_recovers)
{
	struct ferry_fecrig *r = ferry_fecrig_new(FERRY_FEC_MAX_DATA, FERRY_FEC_MAX_PARITY, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	unsigned i;

	for (i = 0; i < FERRY_FEC_MAX_DATA; i++)
		ferry_fecrig_send(r, i, 0);
	ck_assert_uint_eq(w->n, FERRY_FEC_MAX_SHARDS);
	for (i = FERRY_FEC_MAX_SHARDS; i-- > FERRY_FEC_MAX_PARITY;)
		ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]), 0);
	ferry_fecrig_expect_once(s, 0, FERRY_FEC_MAX_DATA, 0);
	ck_assert_uint_eq(r->dec.stats.recovered, FERRY_FEC_MAX_PARITY);
	ck_assert_uint_eq(r->dec.stats.cache_misses, 1); /* 32 * 64 coefficients: not cached */
	ferry_fecrig_free(r);
}
END_TEST

struct tiny_sink {
	unsigned n;
	size_t len[8];
	uint8_t first[8];
};

static void tiny_deliver(void *ctx, const uint8_t *p, size_t len)
{
	struct tiny_sink *t = ctx;

	if (t->n < 8) {
		t->len[t->n] = len;
		t->first[t->n] = len ? p[0] : 0;
	}
	t->n++;
}

/* Payloads of 0 and 1 bytes (coded regions far below ISA-L's 64-byte floor) recover. */
START_TEST(tiny_payloads_recover)
{
	struct ferry_fecrig *r = ferry_fecrig_new(2, 1, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct tiny_sink t = {0};
	struct ferry_buf *buf;

	/* the rig's sink checks ids in the first 4 bytes: these payloads have none */
	ferry_fec_decoder_destroy(&r->dec);
	ck_assert_int_eq(
	    ferry_fec_decoder_init(&r->dec, FERRY_FECRIG_MAX_PAYLOAD, 0, 0, tiny_deliver, &t), 0);
	buf = ferry_pool_get(&r->pool);
	ck_assert_int_eq(ferry_fec_encode(&r->enc, buf, 0), 0); /* empty */
	buf->len = 0;
	buf->data = buf->head + 64;
	*ferry_buf_put(buf, 1) = 0x7e;
	ck_assert_int_eq(ferry_fec_encode(&r->enc, buf, 0), 0);
	ferry_pool_put(&r->pool, buf);
	ck_assert_uint_eq(w->n, 3);
	ck_assert_uint_eq(w->len[2], FERRY_FEC_HDR_LEN + 3);

	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[2], w->len[2]), 0);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[1], w->len[1]), 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_uint_eq(t.len[0], 1);
	ck_assert_uint_eq(t.first[0], 0x7e);
	ck_assert_uint_eq(t.len[1], 0);
	ck_assert_uint_eq(r->dec.stats.recovered, 1);
	ferry_fecrig_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fec_recovery");
	TCase *tc = ferry_tcase("fec_recovery", 20);

	tcase_add_test(tc, cauchy_rows_match_isal);
	tcase_add_test(tc, encoder_layout_and_parity_match_reference);
	tcase_add_loop_test(tc, every_loss_pattern_up_to_p, 0,
			    (int)(sizeof(combos) / sizeof(combos[0])));
	tcase_add_test(tc, more_than_p_losses_recover_nothing);
	tcase_add_test(tc, unconfigured_decoder_wrap_and_reorder);
	tcase_add_test(tc, duplicates_delivered_once);
	tcase_add_test(tc, largest_code_recovers);
	tcase_add_test(tc, tiny_payloads_recover);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
