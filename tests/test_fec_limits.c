// SPDX-License-Identifier: MIT
/*
 * Reed-Solomon FEC, its edges: the header parser against garbage, the group timer closing
 * short groups (alone and in a lossy stream on a virtual clock), garbage and shards that
 * contradict their group, bounded memory by eviction, a decoder reset for a restarted
 * sender, P = 0 and the arguments init and encode refuse.
 *
 * Each test builds a rig (tests/support/fecrig.h): an encoder whose shards are captured
 * on a wire, a decoder whose payloads a sink checks byte for byte and counts per id.
 * What the code recovers is in test_fec_recovery.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fecrig.h"
#include "tests/support/fixture.h"
#include "transport/fec.h"

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

START_TEST(timer_closes_short_group)
{
	struct ferry_fecrig *r = ferry_fecrig_new(10, 3, 40);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	uint64_t c;
	unsigned i, patterns = 0;

	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&r->enc), UINT64_MAX);
	ck_assert_int_eq(ferry_fec_encoder_timeout(&r->enc, 1000), 0);
	ferry_fecrig_send(r, 0, 1000);
	ferry_fecrig_send(r, 1, 1002);
	ferry_fecrig_send(r, 2, 1004);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&r->enc),
			  1000 + FERRY_FEC_FLUSH_MS_DEFAULT);
	ck_assert_int_eq(ferry_fec_encoder_timeout(&r->enc, 1000 + FERRY_FEC_FLUSH_MS_DEFAULT - 1),
			 0);
	ck_assert_uint_eq(w->n, 3);
	ck_assert_int_eq(ferry_fec_encoder_timeout(&r->enc, 1000 + FERRY_FEC_FLUSH_MS_DEFAULT), 1);
	ck_assert_uint_eq(w->n, 6);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&r->enc), UINT64_MAX);
	for (i = 3; i < 6; i++) {
		ck_assert_uint_eq(w->bytes[i][4], 10 + i - 3); /* parity rows of the (10,3) code */
		ck_assert_uint_eq(w->bytes[i][7], 3);	       /* k */
	}
	ck_assert_uint_eq(r->enc.stats.groups_short, 1);

	/* any 3 of the 6 shards restore the 3 data shards */
	for (c = 0x7; c < (1ull << 6); c = ferry_fecrig_next_combination(c)) {
		ferry_fecrig_feed(r, 6, c, 40 + patterns, (patterns & 1) != 0);
		ferry_fecrig_expect_once(s, 0, 3, c);
		patterns++;
	}
	ck_assert_uint_eq(patterns, 20);
	ck_assert_uint_eq(r->dec.stats.bad_recovery + r->dec.stats.mismatched, 0);

	/* a shard arriving after the deadline closes the old group first */
	w->n = 0;
	ferry_fecrig_send(r, 3, 2000);
	ferry_fecrig_send(r, 4, 2000 + FERRY_FEC_FLUSH_MS_DEFAULT);
	ck_assert_uint_eq(w->n, 1 + 3 + 1);
	ck_assert_uint_eq(w->bytes[1][7], 1);
	ck_assert_uint_eq(w->bytes[4][0], w->bytes[0][0] + 1); /* new group */
	ck_assert_uint_eq(w->bytes[4][4], 0);
	ck_assert_int_eq(ferry_fec_encoder_flush(&r->enc), 1);
	ck_assert_int_eq(ferry_fec_encoder_flush(&r->enc), 0);
	ck_assert_uint_eq(w->n, 8);

	ferry_fecrig_free(r);
}
END_TEST

/* Garbage and shards contradicting their group are dropped and counted; the honest shards
 * around them still recover. */
START_TEST(garbage_and_contradictions_counted)
{
	struct ferry_fecrig *r = ferry_fecrig_new(4, 2, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	uint8_t bad[FERRY_FECRIG_SHARD_CAP + 16];
	uint64_t rng = 99;
	unsigned i, j;

	ferry_fecrig_decoder(r, FERRY_FECRIG_MAX_PAYLOAD + 16, 0, 0);
	for (i = 0; i < 4; i++)
		ferry_fecrig_send(r, i, 0);

	/* random bytes: never a crash; those that fail the parser are counted malformed */
	for (i = 0; i < 2000; i++) {
		size_t len = ferry_fecrig_rng(&rng) % sizeof(bad);
		int rc;

		for (j = 0; j < len; j++)
			bad[j] = (uint8_t)ferry_fecrig_rng(&rng);
		if (len >= 4)
			ferry_fecrig_set_group(bad,
					       1000 + i % 10); /* keep clear of groups 0 and 1 */
		rc = ferry_fec_decode(&r->dec, bad, len);
		ck_assert(rc == 0 || rc == -EBADMSG || rc == -EPROTO);
	}
	ck_assert_uint_gt(r->dec.stats.malformed, 1900);
	memset(s, 0, sizeof(*s)); /* random bytes may have passed as data shards */

	/* group 0: data 0 arrives first and fixes D=4, P=2 */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[0], w->len[0]), 0);
	memcpy(bad, w->bytes[1], w->len[1]);
	bad[5] = 5; /* D disagrees */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, bad, w->len[1]), -EPROTO);
	bad[5] = 4;
	bad[6] = 3; /* P disagrees */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, bad, w->len[1]), -EPROTO);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[3], w->len[3]), 0);
	memcpy(bad, w->bytes[4], w->len[4]);
	bad[7] = 2; /* parity says k = 2 but data index 3 exists */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, bad, w->len[4]), -EPROTO);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[4], w->len[4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, bad, w->len[4]), -EPROTO); /* k differs */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[5], w->len[5] - 1), -EPROTO); /* L */
	ck_assert_uint_eq(r->dec.stats.mismatched, 5);
	/* a data shard longer than the group's L (but within the decoder's maximum) */
	memcpy(bad, w->bytes[2], w->len[2]);
	bad[4] = 1;
	bad[8] = (uint8_t)(w->len[4] - FERRY_FEC_HDR_LEN - 1);
	bad[9] = (uint8_t)((w->len[4] - FERRY_FEC_HDR_LEN - 1) >> 8);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, bad, w->len[4] + 1), -EPROTO);
	ck_assert_uint_eq(r->dec.stats.mismatched, 6);
	/* the honest rest: 0, 3 and 4 in, add 5 -> 1, 2 rebuilt */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[5], w->len[5]), 0);
	ferry_fecrig_expect_once(s, 0, 4, 0x6);
	ck_assert_uint_eq(r->dec.stats.recovered, 2);

	/* a short-group parity contradicting data already seen: data index 3 > k - 1 */
	memcpy(bad, w->bytes[3], w->len[3]);
	ferry_fecrig_set_group(bad, 1);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, bad, w->len[3]), 0);
	memcpy(bad, w->bytes[4], w->len[4]);
	ferry_fecrig_set_group(bad, 1);
	bad[7] = 3;
	ck_assert_int_eq(ferry_fec_decode(&r->dec, bad, w->len[4]), -EPROTO);
	ck_assert_uint_eq(r->dec.stats.mismatched, 7);
	ck_assert_uint_eq(s->bad, 0);

	ferry_fecrig_free(r);
}
END_TEST

/* A stream on a virtual clock: bursts fill groups, gaps let the timer close short ones,
 * 15 % of shards are lost at random. Every payload of a group that lost at most P of its
 * k+P shards is delivered exactly once; of the other groups exactly what arrived. */
START_TEST(lossy_stream_with_timer)
{
	struct ferry_fecrig *r = ferry_fecrig_new(10, 3, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	uint64_t now = 0, rng = 0xfecull;
	uint8_t lost[FERRY_FECRIG_WIRE_SHARDS];
	uint32_t group_lost[1024], group_of[FERRY_FECRIG_WIRE_SHARDS];
	uint32_t first, id, wrong = 0, short_groups, too_many = 0, i;

	for (id = 0; id < 600; id++) {
		now += ferry_fecrig_rng(&rng) % 4 == 0 ? 1 + ferry_fecrig_rng(&rng) % 12 : 0;
		ferry_fec_encoder_timeout(&r->enc, now);
		ferry_fecrig_send(r, id, now);
	}
	ferry_fec_encoder_flush(&r->enc);
	short_groups = (uint32_t)r->enc.stats.groups_short;
	ck_assert_uint_gt(short_groups, 10);
	ck_assert_uint_lt(r->enc.group, 1024);

	memset(group_lost, 0, sizeof(group_lost));
	first = w->bytes[0][0];
	for (i = 0; i < w->n; i++) {
		group_of[i] = (w->bytes[i][0] | w->bytes[i][1] << 8) - first;
		lost[i] = ferry_fecrig_rng(&rng) % 100 < 15;
		group_lost[group_of[i]] += lost[i];
		if (!lost[i])
			wrong += ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]) != 0;
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
	for (i = 0; i < r->enc.group - first; i++)
		too_many += group_lost[i] > 3;
	ck_assert_uint_gt(too_many, 0); /* both outcomes were exercised */
	ck_assert_uint_gt(r->dec.stats.recovered, 50);
	ferry_fecrig_free(r);
}
END_TEST

/* Bounded memory: too few slots evicts the oldest incomplete group (counted); stale shards
 * of a replaced group are counted and ignored. */
START_TEST(eviction_is_bounded_and_counted)
{
	struct ferry_fecrig *r = ferry_fecrig_new(4, 2, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	unsigned g, i;

	/* 4 groups, 7 slots: each group missing data 0 holds 3 slots, so each new group
	 * pushes out the oldest; the last two fit with one slot to spare */
	ferry_fecrig_decoder(r, FERRY_FECRIG_MAX_PAYLOAD, 4, 7);
	for (i = 0; i < 4 * 10; i++)
		ferry_fecrig_send(r, i, 0);
	ck_assert_uint_eq(w->n, 60);
	for (g = 0; g < 10; g++) /* data 1, 2, 3 only: each group waits for parity */
		for (i = 1; i < 4; i++)
			ck_assert_int_eq(
			    ferry_fec_decode(&r->dec, w->bytes[g * 6 + i], w->len[g * 6 + i]), 0);
	ck_assert_uint_eq(s->total, 30);
	ck_assert_uint_eq(r->dec.stats.evicted, 8);
	ck_assert_uint_eq(r->dec.stats.unrecovered, 8);
	ck_assert_uint_eq(r->dec.stats.no_slot, 0);
	/* the last two groups still recover */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[8 * 6 + 4], w->len[8 * 6 + 4]), 0);
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[9 * 6 + 5], w->len[9 * 6 + 5]), 0);
	ck_assert_uint_eq(r->dec.stats.recovered, 2);
	ck_assert_uint_eq(s->count[32], 1);
	ck_assert_uint_eq(s->count[36], 1);
	/* group 1 was replaced in its table entry by group 5 and 9: stale now */
	ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[1 * 6 + 4], w->len[1 * 6 + 4]), 0);
	ck_assert_uint_eq(r->dec.stats.stale, 1);
	ck_assert_uint_eq(s->bad, 0);

	/* a group alone needing more slots than exist: stored up to the limit, counted */
	ferry_fecrig_decoder(r, FERRY_FECRIG_MAX_PAYLOAD, 4, 2);
	for (i = 1; i < 4; i++)
		ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]), 0);
	ck_assert_uint_eq(r->dec.stats.no_slot, 1);
	ferry_fecrig_free(r);
}
END_TEST

/* After a reset, a restarted sender's low group ids are new groups, not stale ones. */
START_TEST(reset_forgets_groups)
{
	struct ferry_fecrig *r = ferry_fecrig_new(4, 2, 1000);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	unsigned i;

	ferry_fecrig_decoder(r, FERRY_FECRIG_MAX_PAYLOAD, 8, 64);
	for (i = 0; i < 4; i++)
		ferry_fecrig_send(r, i, 0);
	ferry_fec_encoder_destroy(&r->enc);
	for (i = 1; i < 4; i++) /* group 1000 incomplete: data 0 missing, no parity yet */
		ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]), 0);
	ck_assert_uint_lt(r->dec.nfree, r->dec.nslots);

	ferry_fec_decoder_reset(&r->dec);
	ck_assert_uint_eq(r->dec.nfree, r->dec.nslots);
	ck_assert_uint_eq(r->dec.stats.unrecovered, 1);
	memset(s, 0, sizeof(*s));

	/* the restarted sender, on an emptied wire: group 0 maps to the same entry as 1000
	 * did (mod 8) */
	ferry_fecrig_encoder(r, 4, 2, 0);
	for (i = 0; i < 4; i++)
		ferry_fecrig_send(r, 10 + i, 0);
	for (i = 1; i < 6; i++)
		ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]), 0);
	ferry_fecrig_expect_once(s, 10, 4, 1);
	ck_assert_uint_eq(r->dec.stats.stale, 0);
	ck_assert_uint_eq(r->dec.stats.recovered, 1);
	ferry_fec_decoder_reset(&r->dec);
	ferry_fecrig_free(r);
}
END_TEST

/* P = 0: headers only, no parity, no timer; the decoder still filters duplicates. */
START_TEST(no_parity_is_header_only)
{
	struct ferry_fecrig *r = ferry_fecrig_new(3, 0, 0);
	struct ferry_fecrig_wire *w = &r->wire;
	struct ferry_fecrig_sink *s = &r->sink;
	unsigned i;

	for (i = 0; i < 7; i++)
		ferry_fecrig_send(r, i, 0);
	ck_assert_uint_eq(ferry_fec_encoder_next_deadline(&r->enc), UINT64_MAX);
	ck_assert_uint_eq(w->n, 7);
	ck_assert_uint_eq(w->bytes[6][0], 2); /* groups of 3 */
	ck_assert_uint_eq(r->enc.stats.parity_out, 0);
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]), 0);
		ck_assert_int_eq(ferry_fec_decode(&r->dec, w->bytes[i], w->len[i]), 0);
	}
	ferry_fecrig_expect_once(s, 0, 7, 0);
	ck_assert_uint_eq(r->dec.stats.duplicates, 7);
	ck_assert_uint_eq(r->dec.nfree, r->dec.nslots); /* nothing stored */
	ferry_fecrig_free(r);
}
END_TEST

START_TEST(bad_arguments_rejected)
{
	struct ferry_fec_encoder_config cfg = {
	    .data_shards = 10, .parity_shards = 3, .max_payload = 100, .emit = ferry_fecrig_emit};
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct ferry_fecrig_wire *w = calloc(1, sizeof(*w));
	struct ferry_pool pool;
	struct ferry_buf *buf;

	ck_assert_ptr_nonnull(w);
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
	ck_assert_int_eq(ferry_fec_decoder_init(&dec, 0, 0, 0, ferry_fecrig_deliver, NULL),
			 -EINVAL);
	ferry_fec_decoder_destroy(&dec);

	cfg.emit = ferry_fecrig_emit;
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
	Suite *s = suite_create("fec_limits");
	TCase *tc = ferry_tcase("fec_limits", 20);

	tcase_add_test(tc, header_parser_rejects_garbage);
	tcase_add_test(tc, timer_closes_short_group);
	tcase_add_test(tc, lossy_stream_with_timer);
	tcase_add_test(tc, garbage_and_contradictions_counted);
	tcase_add_test(tc, eviction_is_bounded_and_counted);
	tcase_add_test(tc, reset_forgets_groups);
	tcase_add_test(tc, no_parity_is_header_only);
	tcase_add_test(tc, bad_arguments_rejected);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
