// SPDX-License-Identifier: MIT
/*
 * Reed-Solomon FEC: wire layout against an independent ISA-L reference, recovery of every
 * loss pattern up to P for several (D,P), no bogus recovery beyond P, exactly-once
 * delivery, the group timer, a configuration-free decoder, group id wrap, reordering,
 * garbage and contradicting shards, eviction, P = 0.
 *
 * Payloads carry their id in their first 4 bytes and a pattern derived from it, so the
 * sink checks every delivered payload byte for byte and counts deliveries per id.
 */
#include <errno.h>
#include <isa-l.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "transport/fec.h"

#define WIRE_SHARDS 2048
#define SHARD_CAP   (FERRY_FEC_HDR_LEN + 1402)
#define MAX_IDS	    4096
#define MAX_PAYLOAD 1400

struct wire {
	unsigned n;
	size_t len[WIRE_SHARDS];
	uint8_t bytes[WIRE_SHARDS][SHARD_CAP];
};

struct sink {
	unsigned total;
	unsigned bad;
	uint32_t count[MAX_IDS];
};

static size_t payload_len(uint32_t id)
{
	static const size_t lens[] = {4, 1400, 17, 63, 64, 65, 100, 333, 1399, 700, 8, 62, 5};

	return lens[(id * 7u + id / 13u) % (sizeof(lens) / sizeof(lens[0]))];
}

static uint8_t payload_byte(uint32_t id, size_t i)
{
	return (uint8_t)((size_t)id * 131u + i * 7u + (i >> 8) + 1u);
}

static void payload_fill(uint8_t *p, uint32_t id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = payload_byte(id, i);
	if (len >= 4)
		memcpy(p, &id, 4);
}

static void sink_deliver(void *ctx, const uint8_t *p, size_t len)
{
	struct sink *s = ctx;
	uint32_t id;
	size_t i;

	s->total++;
	if (len < 4) {
		s->bad++;
		return;
	}
	memcpy(&id, p, 4);
	if (id >= MAX_IDS || len != payload_len(id)) {
		s->bad++;
		return;
	}
	for (i = 4; i < len; i++) {
		if (p[i] != payload_byte(id, i)) {
			s->bad++;
			return;
		}
	}
	s->count[id]++;
}

static void wire_emit(void *ctx, struct ferry_buf *shard)
{
	struct wire *w = ctx;

	ck_assert_uint_lt(w->n, WIRE_SHARDS);
	ck_assert_uint_le(shard->len, SHARD_CAP);
	/* room for the layers below: header in front, tag behind */
	ck_assert_uint_ge(ferry_buf_headroom(shard), 32);
	ck_assert_uint_ge(ferry_buf_tailroom(shard), 16);
	memcpy(w->bytes[w->n], shard->data, shard->len);
	w->len[w->n++] = shard->len;
	/* the callee may scribble over the lent shard (in-place encryption) */
	memset(shard->data, 0xa5, shard->len);
}

static void enc_setup(struct ferry_fec_encoder *enc, struct wire *w, uint8_t d, uint8_t p,
		      uint32_t first_group)
{
	struct ferry_fec_encoder_config cfg = {
	    .data_shards = d,
	    .parity_shards = p,
	    .max_payload = MAX_PAYLOAD,
	    .headroom = 32,
	    .tailroom = 16,
	    .first_group = first_group,
	    .emit = wire_emit,
	    .ctx = w,
	};

	ck_assert_int_eq(ferry_fec_encoder_init(enc, &cfg), 0);
}

static void send_id(struct ferry_fec_encoder *enc, struct ferry_pool *pool, uint32_t id,
		    uint64_t now)
{
	struct ferry_buf *buf = ferry_pool_get(pool);
	size_t len = payload_len(id);

	ck_assert_ptr_nonnull(buf);
	payload_fill(ferry_buf_put(buf, (uint32_t)len), id, len);
	ck_assert_int_eq(ferry_fec_encode(enc, buf, now), 0);
	ferry_pool_put(pool, buf);
}

static struct wire *wire_new(void)
{
	struct wire *w = calloc(1, sizeof(*w));

	ck_assert_ptr_nonnull(w);
	return w;
}

static struct sink *sink_new(void)
{
	struct sink *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	return s;
}

static void set_group(uint8_t *shard, uint32_t group)
{
	shard[0] = (uint8_t)group;
	shard[1] = (uint8_t)(group >> 8);
	shard[2] = (uint8_t)(group >> 16);
	shard[3] = (uint8_t)(group >> 24);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

START_TEST(header_parser_rejects_garbage)
{
	uint8_t s[64] = {0};
	struct ferry_fec_header h;

	/* a valid data shard: group 7, index 1 of (4,2), 3-byte payload */
	s[0] = 7;
	s[4] = 1;
	s[5] = 4;
	s[6] = 2;
	s[7] = 0;
	s[8] = 3;
	ck_assert_int_eq(ferry_fec_parse_header(s, 13, 1402, &h), 0);
	ck_assert_uint_eq(h.group, 7);
	ck_assert_uint_eq(h.coded_len, 5);
	ck_assert_int_eq(ferry_fec_parse_header(s, 7, 1402, &h), -EBADMSG);  /* short */
	ck_assert_int_eq(ferry_fec_parse_header(s, 12, 1402, &h), -EBADMSG); /* len prefix */
	ck_assert_int_eq(ferry_fec_parse_header(s, 14, 1402, &h), -EBADMSG);
	ck_assert_int_eq(ferry_fec_parse_header(s, 13, 4, &h), -EBADMSG); /* over max */
	ck_assert_int_eq(ferry_fec_parse_header(NULL, 13, 1402, &h), -EBADMSG);
	s[7] = 1; /* k in a data shard */
	ck_assert_int_eq(ferry_fec_parse_header(s, 13, 1402, &h), -EBADMSG);
	s[7] = 0;
	s[5] = 0; /* D = 0 */
	ck_assert_int_eq(ferry_fec_parse_header(s, 13, 1402, &h), -EBADMSG);
	s[5] = FERRY_FEC_MAX_DATA + 1;
	ck_assert_int_eq(ferry_fec_parse_header(s, 13, 1402, &h), -EBADMSG);
	s[5] = 4;
	s[6] = FERRY_FEC_MAX_PARITY + 1;
	ck_assert_int_eq(ferry_fec_parse_header(s, 13, 1402, &h), -EBADMSG);
	s[6] = 2;
	s[4] = 6; /* index >= D + P */
	ck_assert_int_eq(ferry_fec_parse_header(s, 13, 1402, &h), -EBADMSG);

	/* parity shard index 5 = row 1, k must be 1..D, coded region at least 2 bytes */
	s[4] = 5;
	s[7] = 3;
	ck_assert_int_eq(ferry_fec_parse_header(s, 20, 1402, &h), 0);
	ck_assert_uint_eq(h.coded_len, 12);
	ck_assert_uint_eq(h.k, 3);
	ck_assert_int_eq(ferry_fec_parse_header(s, 9, 1402, &h), -EBADMSG);
	s[7] = 0;
	ck_assert_int_eq(ferry_fec_parse_header(s, 20, 1402, &h), -EBADMSG);
	s[7] = 5;
	ck_assert_int_eq(ferry_fec_parse_header(s, 20, 1402, &h), -EBADMSG);
}
END_TEST

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
	struct ferry_fec_encoder enc;
	struct wire *w = wire_new();
	struct ferry_pool pool;
	uint32_t ids[4] = {2, 1, 0, 3}; /* lengths 17, 1400, 4, 63 */
	size_t L = 0;
	unsigned i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 4, 2, 0x01020304);
	for (i = 0; i < 4; i++) {
		size_t len = payload_len(ids[i]);

		send_id(&enc, &pool, ids[i], 100);
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
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&enc), UINT64_MAX);

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
	ck_assert_uint_eq(enc.stats.data_out, 4);
	ck_assert_uint_eq(enc.stats.parity_out, 2);
	ck_assert_uint_eq(enc.stats.groups, 1);

	/* next group has the next id */
	send_id(&enc, &pool, 5, 101);
	ck_assert_mem_eq(w->bytes[6], "\x05\x03\x02\x01", 4);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(w);
}
END_TEST

/* Feeds one group's shards minus `lost` (a bit per shard) under group id `group`. Check's
 * assertions cost a syscall each even when they pass, so hot loops assert once. */
static void feed_pattern(struct ferry_fec_decoder *dec, struct wire *w, unsigned n, uint64_t lost,
			 uint32_t group, int reverse)
{
	unsigned i, failed = 0;

	for (i = 0; i < n; i++) {
		unsigned s = reverse ? n - 1 - i : i;

		if (lost & (1ull << s))
			continue;
		set_group(w->bytes[s], group);
		failed += ferry_fec_decode(dec, w->bytes[s], w->len[s]) != 0;
	}
	ck_assert_uint_eq(failed, 0);
}

/* Checks ids base..base+d-1 were delivered exactly once each, then clears the sink. */
static void expect_all_once(struct sink *s, uint32_t base, unsigned d, uint64_t lost)
{
	unsigned i;

	for (i = 0; i < d; i++)
		if (s->count[base + i] != 1)
			break;
	ck_assert_msg(i == d && s->bad == 0 && s->total == d,
		      "id %u delivered %u times, %u bad, %u total (lost %#llx)", base + i,
		      i < d ? s->count[base + i] : 1, s->bad, s->total, (unsigned long long)lost);
	memset(s, 0, sizeof(*s));
}

static uint64_t next_combination(uint64_t c)
{
	uint64_t u = c & -c, v = u + c;

	return v + (((v ^ c) / u) >> 2);
}

/* Every loss pattern of size <= exhaustive, plus `samples` random ones of sizes
 * exhaustive+1..P: all data back, byte-exact, each once. */
static void check_all_patterns(uint8_t d, uint8_t p, unsigned exhaustive, unsigned samples)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	unsigned n = d + p, size, tested = 0;
	uint64_t c, rng = 0x9e3779b97f4a7c15ull, lost_data = 0;
	uint32_t group = 0, i;

	ck_assert(d >= 1 && p >= 1 && n <= 63);
	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, d, p, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 0, 0, sink_deliver, s), 0);
	for (i = 0; i < d; i++)
		send_id(&enc, &pool, i, 0);
	ck_assert_uint_eq(w->n, n);
	if (exhaustive >= p)
		samples = 0; /* nothing left to sample */

	for (size = 0; size <= p; size++) {
		uint64_t end = 1ull << n;

		if (size > exhaustive)
			break;
		for (c = size ? (1ull << size) - 1 : 0; c < end; c = next_combination(c)) {
			feed_pattern(&dec, w, n, c, group, (group & 1) != 0);
			expect_all_once(s, 0, d, c);
			lost_data += (unsigned)__builtin_popcountll(c & ((1ull << d) - 1));
			group++;
			tested++;
			if (c == 0)
				break;
		}
	}
	for (i = 0; i < samples; i++) {
		unsigned want = exhaustive + 1 + (unsigned)(rng_next(&rng) % (p - exhaustive));

		c = 0;
		while ((unsigned)__builtin_popcountll(c) < want)
			c |= 1ull << (rng_next(&rng) % n);
		feed_pattern(&dec, w, n, c, group, (group & 1) != 0);
		expect_all_once(s, 0, d, c);
		lost_data += (unsigned)__builtin_popcountll(c & ((1ull << d) - 1));
		group++;
		tested++;
	}
	/* fed backwards, parity comes first and rebuilds data that then arrives late */
	ck_assert_uint_eq(dec.stats.recovered, lost_data + dec.stats.duplicates);
	ck_assert_uint_ge(dec.stats.recovered, lost_data);
	ck_assert_uint_eq(dec.stats.unrecovered, 0);
	ck_assert_uint_eq(dec.stats.evicted, 0);
	ck_assert_uint_eq(dec.stats.bad_recovery, 0);
	ck_assert_uint_eq(dec.stats.malformed + dec.stats.mismatched, 0);
	ck_assert_uint_gt(tested, 0);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
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
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	unsigned n = 13, i, patterns = 0, wrong = 0;
	uint64_t c;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 10, 3, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 4, 0, sink_deliver, s), 0);
	for (i = 0; i < 10; i++)
		send_id(&enc, &pool, i, 0);
	for (c = 0xf; c < (1ull << n); c = next_combination(c)) {
		unsigned lost_data = (unsigned)__builtin_popcountll(c & 0x3ff);

		feed_pattern(&dec, w, n, c, patterns, 0);
		wrong += s->bad != 0 || s->total != 10 - lost_data;
		for (i = 0; i < 10; i++)
			wrong += s->count[i] != ((c >> i) & 1 ? 0 : 1);
		memset(s, 0, sizeof(*s));
		patterns++;
	}
	ck_assert_uint_eq(patterns, 715);
	ck_assert_uint_eq(wrong, 0);
	ck_assert_uint_eq(dec.stats.recovered, 0);
	/* groups pushed out of the 4-entry table with data missing: all but the last 4 */
	ck_assert_uint_eq(dec.stats.unrecovered, patterns - 4);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

START_TEST(timer_closes_short_group)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	uint64_t c;
	unsigned i, patterns = 0;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 10, 3, 40);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&enc), UINT64_MAX);
	ck_assert_int_eq(ferry_fec_encoder_timeout(&enc, 1000), 0);
	send_id(&enc, &pool, 0, 1000);
	send_id(&enc, &pool, 1, 1002);
	send_id(&enc, &pool, 2, 1004);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&enc), 1000 + FERRY_FEC_FLUSH_MS_DEFAULT);
	ck_assert_int_eq(ferry_fec_encoder_timeout(&enc, 1000 + FERRY_FEC_FLUSH_MS_DEFAULT - 1), 0);
	ck_assert_uint_eq(w->n, 3);
	ck_assert_int_eq(ferry_fec_encoder_timeout(&enc, 1000 + FERRY_FEC_FLUSH_MS_DEFAULT), 1);
	ck_assert_uint_eq(w->n, 6);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&enc), UINT64_MAX);
	for (i = 3; i < 6; i++) {
		ck_assert_uint_eq(w->bytes[i][4], 10 + i - 3); /* parity rows of the (10,3) code */
		ck_assert_uint_eq(w->bytes[i][7], 3);	       /* k */
	}
	ck_assert_uint_eq(enc.stats.groups_short, 1);

	/* any 3 of the 6 shards restore the 3 data shards */
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 0, 0, sink_deliver, s), 0);
	for (c = 0x7; c < (1ull << 6); c = next_combination(c)) {
		feed_pattern(&dec, w, 6, c, 40 + patterns, (patterns & 1) != 0);
		expect_all_once(s, 0, 3, c);
		patterns++;
	}
	ck_assert_uint_eq(patterns, 20);
	ck_assert_uint_eq(dec.stats.bad_recovery + dec.stats.mismatched, 0);

	/* a shard arriving after the deadline closes the old group first */
	w->n = 0;
	send_id(&enc, &pool, 3, 2000);
	send_id(&enc, &pool, 4, 2000 + FERRY_FEC_FLUSH_MS_DEFAULT);
	ck_assert_uint_eq(w->n, 1 + 3 + 1);
	ck_assert_uint_eq(w->bytes[1][7], 1);
	ck_assert_uint_eq(w->bytes[4][0], w->bytes[0][0] + 1); /* new group */
	ck_assert_uint_eq(w->bytes[4][4], 0);
	ck_assert_int_eq(ferry_fec_encoder_flush(&enc), 1);
	ck_assert_int_eq(ferry_fec_encoder_flush(&enc), 0);
	ck_assert_uint_eq(w->n, 8);

	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* One decoder, no configuration, fed by senders with different (D,P) in turn, with P
 * losses per group, across the group id wrap, groups interleaved. */
START_TEST(unconfigured_decoder_wrap_and_reorder)
{
	static const uint8_t dp[][2] = {{4, 2}, {10, 3}, {1, 1}, {16, 4}, {3, 3}};
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	uint32_t group = UINT32_MAX - 5, id = 0, expect = 0;
	unsigned v, g, i, j, start[8], count[8];
	uint64_t rng = 12345;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 16, 256, sink_deliver, s), 0);
	for (v = 0; v < 5; v++) {
		uint8_t d = dp[v][0], p = dp[v][1];
		unsigned order[WIRE_SHARDS], n = 0, groups = 4;

		w->n = 0;
		enc_setup(&enc, w, d, p, group);
		for (g = 0; g < groups; g++) {
			start[g] = w->n;
			for (i = 0; i < d; i++)
				send_id(&enc, &pool, id++, 0);
			count[g] = w->n - start[g];
			ck_assert_uint_eq(count[g], (unsigned)d + p);
		}
		expect += groups * d;
		/* drop P random shards of each group, then shuffle all survivors */
		for (g = 0; g < groups; g++) {
			uint64_t lost = 0;

			while ((unsigned)__builtin_popcountll(lost) < p)
				lost |= 1ull << (rng_next(&rng) % count[g]);
			for (i = 0; i < count[g]; i++)
				if (!(lost & (1ull << i)))
					order[n++] = start[g] + i;
		}
		for (i = n - 1; i > 0; i--) {
			unsigned t;

			j = (unsigned)(rng_next(&rng) % (i + 1));
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (i = 0; i < n; i++)
			ck_assert_int_eq(
			    ferry_fec_decode(&dec, w->bytes[order[i]], w->len[order[i]]), 0);
		group = enc.group;
		ferry_fec_encoder_destroy(&enc);
	}
	ck_assert_uint_lt(group, 20); /* wrapped */
	ck_assert_uint_eq(s->bad, 0);
	ck_assert_uint_eq(s->total, expect);
	for (i = 0; i < expect; i++)
		ck_assert_uint_eq(s->count[i], 1);
	ck_assert_uint_eq(dec.stats.stale + dec.stats.unrecovered + dec.stats.mismatched, 0);
	ferry_fec_decoder_destroy(&dec);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* Duplicates of everything, and originals arriving after their shard was rebuilt. */
START_TEST(duplicates_delivered_once)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	unsigned i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 4, 2, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 0, 0, sink_deliver, s), 0);
	for (i = 0; i < 4; i++)
		send_id(&enc, &pool, i, 0);
	/* data 0, 0 again, parity 4, 5 (rebuilds 1 and 2... needs 4: 0,3,4,5) */
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[0], w->len[0]), 0);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[0], w->len[0]), 0);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[4], w->len[4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[4], w->len[4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[3], w->len[3]), 0);
	ck_assert_uint_eq(s->total, 2);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[5], w->len[5]), 0);
	ck_assert_uint_eq(dec.stats.recovered, 2);
	/* late originals and every shard again */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[i], w->len[i]), 0);
	expect_all_once(s, 0, 4, 0);
	ck_assert_uint_eq(dec.stats.duplicates, 2 + 4);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* Garbage and shards contradicting their group are dropped and counted; the honest shards
 * around them still recover. */
START_TEST(garbage_and_contradictions_counted)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	uint8_t bad[SHARD_CAP + 16];
	uint64_t rng = 99;
	unsigned i, j;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 4, 2, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD + 16, 0, 0, sink_deliver, s), 0);
	for (i = 0; i < 4; i++)
		send_id(&enc, &pool, i, 0);

	/* random bytes: never a crash; those that fail the parser are counted malformed */
	for (i = 0; i < 2000; i++) {
		size_t len = rng_next(&rng) % sizeof(bad);
		int rc;

		for (j = 0; j < len; j++)
			bad[j] = (uint8_t)rng_next(&rng);
		if (len >= 4)
			set_group(bad, 1000 + i % 10); /* keep clear of groups 0 and 1 */
		rc = ferry_fec_decode(&dec, bad, len);
		ck_assert(rc == 0 || rc == -EBADMSG || rc == -EPROTO);
	}
	ck_assert_uint_gt(dec.stats.malformed, 1900);
	memset(s, 0, sizeof(*s)); /* random bytes may have passed as data shards */

	/* group 0: data 0 arrives first and fixes D=4, P=2 */
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[0], w->len[0]), 0);
	memcpy(bad, w->bytes[1], w->len[1]);
	bad[5] = 5; /* D disagrees */
	ck_assert_int_eq(ferry_fec_decode(&dec, bad, w->len[1]), -EPROTO);
	bad[5] = 4;
	bad[6] = 3; /* P disagrees */
	ck_assert_int_eq(ferry_fec_decode(&dec, bad, w->len[1]), -EPROTO);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[3], w->len[3]), 0);
	memcpy(bad, w->bytes[4], w->len[4]);
	bad[7] = 2; /* parity says k = 2 but data index 3 exists */
	ck_assert_int_eq(ferry_fec_decode(&dec, bad, w->len[4]), -EPROTO);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[4], w->len[4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&dec, bad, w->len[4]), -EPROTO); /* k differs */
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[5], w->len[5] - 1), -EPROTO); /* L */
	ck_assert_uint_eq(dec.stats.mismatched, 5);
	/* a data shard longer than the group's L (but within the decoder's maximum) */
	memcpy(bad, w->bytes[2], w->len[2]);
	bad[4] = 1;
	bad[8] = (uint8_t)(w->len[4] - FERRY_FEC_HDR_LEN - 1);
	bad[9] = (uint8_t)((w->len[4] - FERRY_FEC_HDR_LEN - 1) >> 8);
	ck_assert_int_eq(ferry_fec_decode(&dec, bad, w->len[4] + 1), -EPROTO);
	ck_assert_uint_eq(dec.stats.mismatched, 6);
	/* the honest rest: 0, 3 and 4 in, add 5 -> 1, 2 rebuilt */
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[5], w->len[5]), 0);
	expect_all_once(s, 0, 4, 0x6);
	ck_assert_uint_eq(dec.stats.recovered, 2);

	/* a short-group parity contradicting data already seen: data index 3 > k - 1 */
	memcpy(bad, w->bytes[3], w->len[3]);
	set_group(bad, 1);
	ck_assert_int_eq(ferry_fec_decode(&dec, bad, w->len[3]), 0);
	memcpy(bad, w->bytes[4], w->len[4]);
	set_group(bad, 1);
	bad[7] = 3;
	ck_assert_int_eq(ferry_fec_decode(&dec, bad, w->len[4]), -EPROTO);
	ck_assert_uint_eq(dec.stats.mismatched, 7);
	ck_assert_uint_eq(s->bad, 0);

	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* A stream on a virtual clock: bursts fill groups, gaps let the timer close short ones,
 * 15 % of shards are lost at random. Every payload of a group that lost at most P of its
 * k+P shards is delivered exactly once; of the other groups exactly what arrived. */
START_TEST(lossy_stream_with_timer)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	uint64_t now = 0, rng = 0xfecull;
	uint8_t lost[WIRE_SHARDS];
	uint32_t group_lost[1024], group_of[WIRE_SHARDS];
	uint32_t first, id, wrong = 0, short_groups, too_many = 0, i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 10, 3, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 0, 0, sink_deliver, s), 0);
	for (id = 0; id < 600; id++) {
		now += rng_next(&rng) % 4 == 0 ? 1 + rng_next(&rng) % 12 : 0;
		ferry_fec_encoder_timeout(&enc, now);
		send_id(&enc, &pool, id, now);
	}
	ferry_fec_encoder_flush(&enc);
	short_groups = (uint32_t)enc.stats.groups_short;
	ck_assert_uint_gt(short_groups, 10);
	ck_assert_uint_lt(enc.group, 1024);

	memset(group_lost, 0, sizeof(group_lost));
	first = w->bytes[0][0];
	for (i = 0; i < w->n; i++) {
		group_of[i] = (w->bytes[i][0] | w->bytes[i][1] << 8) - first;
		lost[i] = rng_next(&rng) % 100 < 15;
		group_lost[group_of[i]] += lost[i];
		if (!lost[i])
			wrong += ferry_fec_decode(&dec, w->bytes[i], w->len[i]) != 0;
	}
	for (i = 0; i < w->n; i++) {
		uint32_t want;

		if (w->bytes[i][4] >= w->bytes[i][5])
			continue; /* parity */
		memcpy(&id, w->bytes[i] + FERRY_FEC_DATA_OVERHEAD, 4);
		want = !lost[i] || group_lost[group_of[i]] <= 3;
		wrong += s->count[id] != want;
	}
	ck_assert_uint_eq(wrong, 0);
	ck_assert_uint_eq(s->bad, 0);
	for (i = 0; i < enc.group - first; i++)
		too_many += group_lost[i] > 3;
	ck_assert_uint_gt(too_many, 0); /* both outcomes were exercised */
	ck_assert_uint_gt(dec.stats.recovered, 50);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* Bounded memory: too few slots evicts the oldest incomplete group (counted); stale shards
 * of a replaced group are counted and ignored. */
START_TEST(eviction_is_bounded_and_counted)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	unsigned g, i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 4, 2, 0);
	/* 4 groups, 7 slots: each group missing data 0 holds 3 slots, so each new group
	 * pushes out the oldest; the last two fit with one slot to spare */
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 4, 7, sink_deliver, s), 0);
	for (i = 0; i < 4 * 10; i++)
		send_id(&enc, &pool, i, 0);
	ck_assert_uint_eq(w->n, 60);
	for (g = 0; g < 10; g++) /* data 1, 2, 3 only: each group waits for parity */
		for (i = 1; i < 4; i++)
			ck_assert_int_eq(
			    ferry_fec_decode(&dec, w->bytes[g * 6 + i], w->len[g * 6 + i]), 0);
	ck_assert_uint_eq(s->total, 30);
	ck_assert_uint_eq(dec.stats.evicted, 8);
	ck_assert_uint_eq(dec.stats.unrecovered, 8);
	ck_assert_uint_eq(dec.stats.no_slot, 0);
	/* the last two groups still recover */
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[8 * 6 + 4], w->len[8 * 6 + 4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[9 * 6 + 5], w->len[9 * 6 + 5]), 0);
	ck_assert_uint_eq(dec.stats.recovered, 2);
	ck_assert_uint_eq(s->count[32], 1);
	ck_assert_uint_eq(s->count[36], 1);
	/* group 1 was replaced in its table entry by group 5 and 9: stale now */
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[1 * 6 + 4], w->len[1 * 6 + 4]), 0);
	ck_assert_uint_eq(dec.stats.stale, 1);
	ck_assert_uint_eq(s->bad, 0);

	/* a group alone needing more slots than exist: stored up to the limit, counted */
	ferry_fec_decoder_destroy(&dec);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 4, 2, sink_deliver, s), 0);
	for (i = 1; i < 4; i++)
		ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[i], w->len[i]), 0);
	ck_assert_uint_eq(dec.stats.no_slot, 1);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* After a reset, a restarted sender's low group ids are new groups, not stale ones. */
START_TEST(reset_forgets_groups)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	unsigned i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 8, 64, sink_deliver, s), 0);
	enc_setup(&enc, w, 4, 2, 1000);
	for (i = 0; i < 4; i++)
		send_id(&enc, &pool, i, 0);
	ferry_fec_encoder_destroy(&enc);
	for (i = 1; i < 4; i++) /* group 1000 incomplete: data 0 missing, no parity yet */
		ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[i], w->len[i]), 0);
	ck_assert_uint_lt(dec.nfree, dec.nslots);

	ferry_fec_decoder_reset(&dec);
	ck_assert_uint_eq(dec.nfree, dec.nslots);
	ck_assert_uint_eq(dec.stats.unrecovered, 1);
	memset(s, 0, sizeof(*s));

	/* the restarted sender: group 0 maps to the same entry as 1000 did (mod 8) */
	w->n = 0;
	enc_setup(&enc, w, 4, 2, 0);
	for (i = 0; i < 4; i++)
		send_id(&enc, &pool, 10 + i, 0);
	for (i = 1; i < 6; i++)
		ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[i], w->len[i]), 0);
	expect_all_once(s, 10, 4, 1);
	ck_assert_uint_eq(dec.stats.stale, 0);
	ck_assert_uint_eq(dec.stats.recovered, 1);
	ferry_fec_decoder_reset(&dec);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* P = 0: headers only, no parity, no timer; the decoder still filters duplicates. */
START_TEST(no_parity_is_header_only)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	unsigned i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 3, 0, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 0, 0, sink_deliver, s), 0);
	for (i = 0; i < 7; i++)
		send_id(&enc, &pool, i, 0);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&enc), UINT64_MAX);
	ck_assert_uint_eq(w->n, 7);
	ck_assert_uint_eq(w->bytes[6][0], 2); /* groups of 3 */
	ck_assert_uint_eq(enc.stats.parity_out, 0);
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[i], w->len[i]), 0);
		ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[i], w->len[i]), 0);
	}
	expect_all_once(s, 0, 7, 0);
	ck_assert_uint_eq(dec.stats.duplicates, 7);
	ck_assert_uint_eq(dec.nfree, dec.nslots); /* nothing stored */
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
}
END_TEST

/* The limits: D = 64, P = 32, all 32 first data shards lost. */
START_TEST(largest_code_recovers)
{
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct sink *s = sink_new();
	struct ferry_pool pool;
	unsigned i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, FERRY_FEC_MAX_DATA, FERRY_FEC_MAX_PARITY, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 0, 0, sink_deliver, s), 0);
	for (i = 0; i < FERRY_FEC_MAX_DATA; i++)
		send_id(&enc, &pool, i, 0);
	ck_assert_uint_eq(w->n, FERRY_FEC_MAX_SHARDS);
	for (i = FERRY_FEC_MAX_SHARDS; i-- > FERRY_FEC_MAX_PARITY;)
		ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[i], w->len[i]), 0);
	expect_all_once(s, 0, FERRY_FEC_MAX_DATA, 0);
	ck_assert_uint_eq(dec.stats.recovered, FERRY_FEC_MAX_PARITY);
	ck_assert_uint_eq(dec.stats.cache_misses, 1); /* 32 * 64 coefficients: not cached */
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(s);
	free(w);
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
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct tiny_sink t = {0};
	struct ferry_pool pool;
	struct ferry_buf *buf;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 64), 0);
	enc_setup(&enc, w, 2, 1, 0);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, MAX_PAYLOAD, 0, 0, tiny_deliver, &t), 0);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_fec_encode(&enc, buf, 0), 0); /* empty */
	buf->len = 0;
	buf->data = buf->head + 64;
	*ferry_buf_put(buf, 1) = 0x7e;
	ck_assert_int_eq(ferry_fec_encode(&enc, buf, 0), 0);
	ferry_pool_put(&pool, buf);
	ck_assert_uint_eq(w->n, 3);
	ck_assert_uint_eq(w->len[2], FERRY_FEC_HDR_LEN + 3);

	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[2], w->len[2]), 0);
	ck_assert_int_eq(ferry_fec_decode(&dec, w->bytes[1], w->len[1]), 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_uint_eq(t.len[0], 1);
	ck_assert_uint_eq(t.first[0], 0x7e);
	ck_assert_uint_eq(t.len[1], 0);
	ck_assert_uint_eq(dec.stats.recovered, 1);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(w);
}
END_TEST

START_TEST(bad_arguments_rejected)
{
	struct ferry_fec_encoder_config cfg = {
	    .data_shards = 10, .parity_shards = 3, .max_payload = 100, .emit = wire_emit};
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct wire *w = wire_new();
	struct ferry_pool pool;
	struct ferry_buf *buf;

	cfg.data_shards = 0;
	ck_assert_int_eq(ferry_fec_encoder_init(&enc, &cfg), -EINVAL);
	cfg.data_shards = FERRY_FEC_MAX_DATA + 1;
	ck_assert_int_eq(ferry_fec_encoder_init(&enc, &cfg), -EINVAL);
	cfg.data_shards = 10;
	cfg.parity_shards = FERRY_FEC_MAX_PARITY + 1;
	ck_assert_int_eq(ferry_fec_encoder_init(&enc, &cfg), -EINVAL);
	cfg.parity_shards = 3;
	cfg.emit = NULL;
	ck_assert_int_eq(ferry_fec_encoder_init(&enc, &cfg), -EINVAL);
	ferry_fec_encoder_destroy(&enc);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, 100, 0, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, 0, 0, 0, sink_deliver, NULL), -EINVAL);
	ferry_fec_decoder_destroy(&dec);

	cfg.emit = wire_emit;
	cfg.ctx = w;
	ck_assert_int_eq(ferry_fec_encoder_init(&enc, &cfg), 0);
	ck_assert_int_eq(ferry_pool_init(&pool, 1, 1500, 8), 0);
	buf = ferry_pool_get(&pool);
	ferry_buf_put(buf, 101);
	ck_assert_int_eq(ferry_fec_encode(&enc, buf, 0), -EMSGSIZE);
	buf->len = 100;
	ck_assert_int_eq(ferry_fec_encode(&enc, buf, 0), -ENOBUFS); /* 8 < 10 headroom */
	ck_assert_uint_eq(enc.stats.rejected, 2);
	ck_assert_uint_eq(w->n, 0);
	ferry_pool_put(&pool, buf);
	ferry_fec_encoder_destroy(&enc);
	ferry_fec_encoder_destroy(&enc);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	free(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fec");
	TCase *tc = ferry_tcase("fec", 20);

	tcase_add_test(tc, header_parser_rejects_garbage);
	tcase_add_test(tc, cauchy_rows_match_isal);
	tcase_add_test(tc, encoder_layout_and_parity_match_reference);
	tcase_add_loop_test(tc, every_loss_pattern_up_to_p, 0,
			    (int)(sizeof(combos) / sizeof(combos[0])));
	tcase_add_test(tc, more_than_p_losses_recover_nothing);
	tcase_add_test(tc, timer_closes_short_group);
	tcase_add_test(tc, unconfigured_decoder_wrap_and_reorder);
	tcase_add_test(tc, duplicates_delivered_once);
	tcase_add_test(tc, lossy_stream_with_timer);
	tcase_add_test(tc, garbage_and_contradictions_counted);
	tcase_add_test(tc, eviction_is_bounded_and_counted);
	tcase_add_test(tc, reset_forgets_groups);
	tcase_add_test(tc, no_parity_is_header_only);
	tcase_add_test(tc, largest_code_recovers);
	tcase_add_test(tc, tiny_payloads_recover);
	tcase_add_test(tc, bad_arguments_rejected);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
