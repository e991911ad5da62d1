// SPDX-License-Identifier: MIT
/*
 * Handshakes under load: the per-address token buckets (transport/ratelimit.h); the noise
 * layer asking them after the mac2 check and before any DH; and a link set that sees a
 * flood of replayed initiations, turns its cookies on by itself, spends a bounded number
 * of Diffie-Hellmans on it, keeps carrying data, and turns them off once the flood ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/linkrig.h"
#include "tests/support/noiserig.h"
#include "transport/noise.h"
#include "transport/ratelimit.h"

/* ---- the buckets ---- */

START_TEST(bucket_burst_then_rate)
{
	struct ferry_ratelimit *rl = ferry_ratelimit_new();
	const uint8_t a[4] = {192, 0, 2, 1}, b[4] = {192, 0, 2, 2};
	uint64_t now = 1000;
	int i, allowed = 0;

	ck_assert_ptr_nonnull(rl);
	for (i = 0; i < 10; i++)
		allowed += ferry_ratelimit_allow(rl, a, sizeof(a), now);
	ck_assert_int_eq(allowed, FERRY_RATELIMIT_BURST);
	ck_assert(ferry_ratelimit_allow(rl, b, sizeof(b), now)); /* another address: its own */
	/* Refill: one token per 1000 / PER_S ms, never more than the burst. */
	ck_assert(!ferry_ratelimit_allow(rl, a, sizeof(a), now + FERRY_RATELIMIT_COST_MS - 1));
	ck_assert(ferry_ratelimit_allow(rl, a, sizeof(a), now + FERRY_RATELIMIT_COST_MS));
	ck_assert(!ferry_ratelimit_allow(rl, a, sizeof(a), now + FERRY_RATELIMIT_COST_MS));
	/* Over ten seconds at 1 ms steps: PER_S a second in the long run, plus the burst. */
	allowed = 0;
	for (now = 2000; now < 12000; now++)
		allowed += ferry_ratelimit_allow(rl, a, sizeof(a), now);
	ck_assert_int_ge(allowed, (intmax_t)10 * FERRY_RATELIMIT_PER_S);
	ck_assert_int_le(allowed, (intmax_t)10 * FERRY_RATELIMIT_PER_S + FERRY_RATELIMIT_BURST);
	ferry_ratelimit_free(rl);
}
END_TEST

/* A table full of busy sources refuses newcomers; quiet ones free their slots. */
START_TEST(full_table_refuses_newcomers)
{
	struct ferry_ratelimit *rl = ferry_ratelimit_new();
	uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8};
	uint32_t i, refused = 0;

	ck_assert_ptr_nonnull(rl);
	for (i = 0; i < 2 * FERRY_RATELIMIT_SLOTS; i++) {
		memcpy(addr + 12, &i, sizeof(i));
		refused += !ferry_ratelimit_allow(rl, addr, sizeof(addr), 5);
	}
	ck_assert_uint_gt(refused, 0);
	ck_assert_uint_eq(rl->stats.table_full, refused);
	ck_assert_uint_le(rl->stats.allowed, FERRY_RATELIMIT_SLOTS);
	/* A burst's refill later every slot is free again. */
	i = 2 * FERRY_RATELIMIT_SLOTS + 1;
	memcpy(addr + 12, &i, sizeof(i));
	ck_assert(ferry_ratelimit_allow(rl, addr, sizeof(addr), 5 + FERRY_RATELIMIT_CREDIT_MS));
	ferry_ratelimit_free(rl);
}
END_TEST

/* ---- the noise layer ---- */

static struct ferry_pool pool;

static void pool_setup(void)
{
	ck_assert_int_eq(ferry_pool_init(&pool, 8, 2048, 64), 0);
}

static void pool_teardown(void)
{
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}

/* Under load, a sender with a valid cookie still gets only its address's rate of DHs,
 * whatever port it uses; the limit is asked after the mac2 check (no cookie: a cookie
 * reply, no token spent) and only under load. */
START_TEST(source_limit_after_mac2)
{
	struct ferry_noiserig_node a = {0}, b = {0};
	struct ferry_ratelimit *rl = ferry_ratelimit_new();
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	uint8_t src[6] = {198, 51, 100, 7, 0, 0};
	struct ferry_noise_peer *peer;
	size_t reply_len;
	uint64_t now = 10 * FERRY_NOISERIG_SEC;
	int i, err;

	ck_assert_ptr_nonnull(rl);
	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	b.local.ratelimit = rl;
	b.local.under_load = true;

	/* No cookie yet: a cookie reply, and no token taken. */
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&a.peer, now, FERRY_NOISERIG_REALTIME0, init), 0);
	ck_assert_int_eq(ferry_noise_handle_handshake(&b.local, now, src, sizeof(src), init,
						      sizeof(init), reply, &reply_len, &peer),
			 -EBUSY);
	ck_assert_uint_eq(rl->stats.allowed + rl->stats.limited, 0);
	/* From ports 1..20 of one address, 1 ms apart, each port first fetching its cookie
	 * (a cookie binds to address and port): the burst passes to the DH (the first is
	 * accepted, the rest are too soon for the peer), then nothing more. */
	for (i = 1; i <= 20; i++) {
		uint64_t t = now + (uint64_t)i,
			 rt = FERRY_NOISERIG_REALTIME0 + 2 * (uint64_t)i * FERRY_TIMESTAMP_GRAIN_NS;

		src[5] = (uint8_t)i;
		ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, t, rt, init), 0);
		ck_assert_int_eq(ferry_noise_handle_handshake(&b.local, t, src, sizeof(src), init,
							      sizeof(init), reply, &reply_len,
							      &peer),
				 -EBUSY);
		ck_assert_int_eq(ferry_noise_handle_handshake(&a.local, t, src, sizeof(src), reply,
							      reply_len, reply, &reply_len, &peer),
				 0);
		ck_assert_int_eq(
		    ferry_noise_create_initiation(&a.peer, t, rt + FERRY_TIMESTAMP_GRAIN_NS, init),
		    0);
		err = ferry_noise_handle_handshake(&b.local, t, src, sizeof(src), init,
						   sizeof(init), reply, &reply_len, &peer);
		ck_assert_int_eq(err, i == 1 ? 0 : -EAGAIN);
	}
	ck_assert_uint_eq(b.local.stats.hs_initiations_ok, 1);
	ck_assert_uint_eq(b.local.stats.hs_rate_limited, FERRY_RATELIMIT_BURST - 1);
	ck_assert_uint_eq(b.local.stats.hs_source_limited, 20 - FERRY_RATELIMIT_BURST);

	/* Not under load: no limit at all (the peer's own minimum gap aside). */
	b.local.under_load = false;
	src[5] = 99;
	ck_assert_int_eq(ferry_noise_create_initiation(
			     &a.peer, now + 1000,
			     FERRY_NOISERIG_REALTIME0 + 100ULL * FERRY_TIMESTAMP_GRAIN_NS, init),
			 0);
	ck_assert_int_eq(ferry_noise_handle_handshake(&b.local, now + 1000, src, sizeof(src), init,
						      sizeof(init), reply, &reply_len, &peer),
			 0);
	ferry_noiserig_pair_down(&a, &b);
	ferry_ratelimit_free(rl);
}
END_TEST

/* ---- a link set under a flood ---- */

/* 2,000 copies of one initiation, from 2,000 ports of a stranger's address, within one
 * millisecond: the set turns its cookies on after FERRY_LINK_HANDSHAKE_LOAD of them, so
 * at most that many cost a DH; the rest get cookie replies. A transfer between the two
 * real ends is untouched, and a second after the flood the cookies are off again. */
START_TEST(replayed_initiations_turn_cookies_on)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_linkrig *w = ferry_linkrig_new(41, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	struct ferry_noise_stats *st = &b->set.noise.stats;
	uint8_t init[FERRY_MSG_INITIATION_LEN];
	struct ferry_sockaddr stranger;
	uint64_t dh_before, dh;
	int i;

	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&a->link.peer, w->vn.now,
					  FERRY_LINKRIG_REALTIME0 + w->vn.now * 1000000ULL, init),
	    0);
	ck_assert_int_eq(ferry_linkrig_inject(b, init, sizeof(init), &a->addr), 0);
	ck_assert_uint_eq(b->set.stats.under_load, 0);

	dh_before = st->hs_initiations_ok + st->hs_replayed;
	for (i = 0; i < 2000; i++) {
		ferry_linkrig_addr_set(&stranger, "127.0.0.9", (uint16_t)(1000 + i));
		ck_assert_int_lt(ferry_linkrig_inject(b, init, sizeof(init), &stranger), 0);
	}
	dh = st->hs_initiations_ok + st->hs_replayed - dh_before;
	ck_assert_uint_le(dh, FERRY_LINK_HANDSHAKE_LOAD);
	ck_assert_uint_eq(b->set.stats.under_load, 1);
	ck_assert(b->set.noise.under_load);
	ck_assert_uint_ge(st->hs_cookie_sent, 2000 - FERRY_LINK_HANDSHAKE_LOAD);

	/* The data path is untouched. */
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 2, 256 << 10, 16 << 10);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 30 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(a);
	ferry_linkrig_check_streams(b);

	/* The flood is over: the next initiation costs a DH again (and is a replay). */
	w->vn.now += 2 * FERRY_LINK_HANDSHAKE_LOAD_MS;
	b->now = w->vn.now;
	dh_before = st->hs_replayed;
	ck_assert_int_eq(ferry_linkrig_inject(b, init, sizeof(init), &stranger), -EALREADY);
	ck_assert(!b->set.noise.under_load);
	ck_assert_uint_eq(st->hs_replayed, dh_before + 1);
	ferry_linkrig_free(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("handshake_load");
	TCase *tc = ferry_tcase("load", 60);

	tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
	tcase_add_test(tc, bucket_burst_then_rate);
	tcase_add_test(tc, full_table_refuses_newcomers);
	tcase_add_test(tc, source_limit_after_mac2);
	tcase_add_test(tc, replayed_initiations_turn_cookies_on);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
