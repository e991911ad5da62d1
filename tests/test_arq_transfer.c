// SPDX-License-Identifier: MIT
/*
 * Whole transfers between two ARQ engines over the virtual network, every byte verified:
 * 10 MB through 0, 1, 5 and 20 % loss (with reordering and duplication), the goodput bar
 * (fast3, 5 % loss, at least 80 % of the link), every profile, sequence numbers and
 * timestamps wrapping past 2^32, a slow and a stalled reader (windows, backpressure,
 * probes), and a peer that disappears (dead time and dead link).
 *
 * The harness is the pair of tests/support/arqrig.h: A writes, B reads, one event loop
 * on the vnet's virtual clock, so timings are exact and nothing can flake; each test has
 * its own vnet seed. One conversation's unit behaviour is in test_arq_wire.c and
 * test_arq_timers.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "tests/support/arqrig.h"
#include "tests/support/fixture.h"
#include "tests/support/vnet.h"
#include "transport/arq.h"

struct lossy_case {
	double loss, reorder, duplicate;
	uint32_t jitter;
};

static const struct lossy_case lossy_cases[] = {
    {0, 0, 0, 0},
    {0.01, 0, 0, 0},
    {0.05, 0, 0, 0},
    {0.20, 0.05, 0.05, 3},
};

/* 10 MB at 50 ms RTT through each loss rate, every byte checked. */
START_TEST(transfer_10mb_lossy)
{
	const struct lossy_case *c = &lossy_cases[_i];
	struct ferry_vnet_link l = {
	    .delay_ms = 25,
	    .jitter_ms = c->jitter,
	    .loss = c->loss,
	    .reorder = c->reorder,
	    .duplicate = c->duplicate,
	    .rate = 12500000, /* 100 Mbit/s */
	    .queue_limit = 1 << 20,
	};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa, sb;
	static struct ferry_arqrig_pair p;
	uint8_t *src = ferry_arqrig_pattern(10 * FERRY_ARQRIG_MB, (uint64_t)_i + 1);
	uint64_t ms;

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.snd_wnd = 512;
	cfg.rcv_wnd = 1024;
	ferry_arqrig_pair_init(&p, 100 + (uint64_t)_i, &cfg, &l, &l, 1000);
	/* the rings start small (a conversation costs what it uses) ... */
	ferry_arq_stats(p.a, &sa);
	ck_assert_uint_eq(sa.sring_slots, 32);
	ck_assert_uint_eq(sa.rring_slots, 32);
	ms = ferry_arqrig_pair_transfer(&p, src, 10 * FERRY_ARQRIG_MB, 600000);
	ferry_arq_stats(p.a, &sa);
	ferry_arq_stats(p.b, &sb);
	/* ... and grew while segments were in flight, lost and resent, with every byte of the
	 * transfer intact: to 4 * snd_wnd at most, and to rcv_wnd when holes had to wait */
	ck_assert_uint_gt(sa.sring_slots, 32);
	ck_assert_uint_le(sa.sring_slots, 4ULL * cfg.snd_wnd);
	ck_assert_uint_le(sb.rring_slots, cfg.rcv_wnd);
	if (c->loss > 0)
		ck_assert_uint_gt(sb.rring_slots, 32);
	ck_assert_uint_eq(sb.payload_recv, 10 * FERRY_ARQRIG_MB);
	ck_assert_uint_eq(sb.drop_window, 0); /* the sender never overran the receiver */
	ck_assert_uint_le(p.b_high, cfg.rcv_wnd);
	if (c->loss == 0) {
		ck_assert_uint_eq(sa.segs_rto + sa.segs_fast, 0);
		ck_assert_uint_lt(ms, 2000);
	} else {
		ck_assert_uint_gt(sa.segs_fast, 0);
	}
	if (c->duplicate > 0)
		ck_assert_uint_gt(sb.segs_dup, 0);
	ferry_arqrig_pair_destroy(&p);
	free(src);
}
END_TEST

/* The bar, on virtual time so it cannot flake: fast3, 50 ms RTT, 5 % loss both
 * ways, a 10 Mbit/s link with a one-BDP queue, at most one BDP in flight (receive buffer
 * 4 BDP for reassembly): goodput at least 80 % of the link rate. */
START_TEST(goodput_fast3_5pct)
{
	const uint64_t rate = 1250000, bdp = rate * 50 / 1000;
	struct ferry_vnet_link l = {
	    .delay_ms = 25, .loss = 0.05, .rate = rate, .queue_limit = (uint32_t)bdp};
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_pair p;
	uint8_t *src = ferry_arqrig_pattern(5 * FERRY_ARQRIG_MB, 17);
	uint64_t ms;

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.snd_wnd = (uint32_t)((bdp + cfg.mtu - 1) / cfg.mtu);
	cfg.rcv_wnd = 4 * cfg.snd_wnd;
	cfg.snd_queue_max = cfg.snd_wnd;
	ferry_arqrig_pair_init(&p, 600 + (uint64_t)_i, &cfg, &l, &l, 0);
	ms = ferry_arqrig_pair_transfer(&p, src, 5 * FERRY_ARQRIG_MB, 60000);
	ck_assert_msg((double)(5 * FERRY_ARQRIG_MB) / ((double)ms / 1000) >= 0.8 * (double)rate,
		      "goodput %.1f %% of the link",
		      100.0 * (5 * FERRY_ARQRIG_MB) / ((double)ms / 1000) / rate);
	ferry_arqrig_pair_destroy(&p);
	free(src);
}
END_TEST

/* Every profile, and a manual one with the congestion window on, through loss and
 * reordering. */
START_TEST(profiles)
{
	static const enum ferry_arq_profile prof[] = {
	    FERRY_ARQ_PROFILE_NORMAL, FERRY_ARQ_PROFILE_FAST,	FERRY_ARQ_PROFILE_FAST2,
	    FERRY_ARQ_PROFILE_FAST3,  FERRY_ARQ_PROFILE_MANUAL,
	};
	struct ferry_vnet_link l = {.delay_ms = 20, .jitter_ms = 2, .loss = 0.05, .reorder = 0.02};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa;
	static struct ferry_arqrig_pair p;
	uint8_t *src = ferry_arqrig_pattern(2 * FERRY_ARQRIG_MB, 7);

	ck_assert_int_eq(ferry_arq_config_init(&cfg, prof[_i]), 0);
	if (prof[_i] == FERRY_ARQ_PROFILE_MANUAL) {
		cfg.nodelay = 1;
		cfg.interval = 15;
		cfg.resend = 3;
		cfg.nc = 0;
		l.rate = 1250000; /* 10 Mbit/s, a queue of 40 ms: the cwnd has to back off */
		l.queue_limit = 50000;
	}
	ferry_arqrig_pair_init(&p, 200 + (uint64_t)_i, &cfg, &l, &l, 0);
	ferry_arqrig_pair_transfer(&p, src, 2 * FERRY_ARQRIG_MB, 600000);
	ferry_arq_stats(p.a, &sa);
	ck_assert_uint_gt(sa.segs_fast, 0);
	if (!cfg.nc)
		ck_assert_uint_lt(sa.cwnd, cfg.snd_wnd);
	ferry_arqrig_pair_destroy(&p);
	free(src);
}
END_TEST

/* Sequence numbers that wrap past 2^32 in the middle of a lossy, reordered transfer. */
START_TEST(sn_wraparound)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .jitter_ms = 3, .loss = 0.05, .reorder = 0.05};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa;
	static struct ferry_arqrig_pair p;
	uint8_t *src = ferry_arqrig_pattern(2 * FERRY_ARQRIG_MB, 9);

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.initial_sn = UINT32_MAX - 300;
	/* ts wraps too: the virtual clock starts just below 2^32 ms. */
	ferry_arqrig_pair_init(&p, 300, &cfg, &l, &l, UINT32_MAX - 500);
	ferry_arqrig_pair_transfer(&p, src, 2 * FERRY_ARQRIG_MB, 600000);
	ferry_arq_stats(p.a, &sa);
	ck_assert_uint_gt(sa.segs_sent, 1000); /* well past the wrap */
	ck_assert_uint_gt(sa.srtt, 15);
	ck_assert_uint_lt(sa.srtt, 60);
	ferry_arqrig_pair_destroy(&p);
	free(src);
}
END_TEST

/* A reader slower than the link: memory stays within rcv_wnd, the sender sees
 * backpressure, nothing is dropped for want of window. Then a reader that stops for a
 * while: the window closes, the sender probes, and the transfer resumes. */
START_TEST(slow_reader_window_full)
{
	struct ferry_vnet_link l = {.delay_ms = 15};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa, sb;
	static struct ferry_arqrig_pair p;
	uint8_t *src = ferry_arqrig_pattern(FERRY_ARQRIG_MB, 11);

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST2), 0);
	cfg.snd_wnd = 64;
	cfg.rcv_wnd = 32;
	cfg.snd_queue_max = 16;
	ferry_arqrig_pair_init(&p, 400, &cfg, &l, &l, 0);
	p.read_chunk = 4000;
	p.read_every = 20; /* 200 kB/s */
	p.read_pause_until = 3000;
	ferry_arqrig_pair_transfer(&p, src, FERRY_ARQRIG_MB, 60000);
	ferry_arq_stats(p.a, &sa);
	ferry_arq_stats(p.b, &sb);
	ck_assert_uint_le(p.b_high, cfg.rcv_wnd);
	ck_assert_uint_le(p.a_high, cfg.snd_queue_max + cfg.snd_wnd);
	ck_assert_uint_eq(sb.drop_window, 0);
	ck_assert_uint_gt(p.eagain, 0);
	ck_assert_uint_gt(sa.probes_sent, 0);
	ck_assert_uint_gt(sb.wins_sent, 0);
	ck_assert_uint_eq(sa.segs_rto, 0);
	ferry_arqrig_pair_destroy(&p);
	free(src);
}
END_TEST

/* The peer vanishes mid-transfer: an error, not a silent stall, and within the configured
 * dead time; or, with dead_time off, after dead_link transmissions of one segment. */
START_TEST(peer_disappears)
{
	struct ferry_vnet_link l = {.delay_ms = 20};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa;
	static struct ferry_arqrig_pair p;
	uint8_t *src = ferry_arqrig_pattern(FERRY_ARQRIG_MB, 13);
	uint64_t cut;
	uint32_t steps = 0;

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	if (_i == 0) {
		cfg.dead_time = 5000;
	} else {
		cfg.dead_time = 0;
		cfg.dead_link = 6;
	}
	ferry_arqrig_pair_init(&p, 500, &cfg, &l, &l, 0);
	p.src = src;
	p.total = FERRY_ARQRIG_MB;
	while (p.recvd < 200000)
		ck_assert(ferry_arqrig_pair_step(&p));
	p.vn.link[0].loss = p.vn.link[1].loss = 1.0;
	cut = p.vn.now;
	while (ferry_arq_error(p.a) == 0) {
		if (!ferry_arqrig_pair_step(&p))
			break; /* nothing scheduled: only a dead A may stop like this */
		ck_assert_uint_lt(++steps, 100000);
		ck_assert_uint_lt(p.vn.now - cut, 120000);
	}
	ck_assert_int_eq(ferry_arq_error(p.a), -ETIMEDOUT);
	ck_assert_int_eq(ferry_arq_send(p.a, "x", 1), -ETIMEDOUT);
	ck_assert_int_eq(ferry_arq_timer(p.a, p.vn.now), -ETIMEDOUT);
	ck_assert_uint_eq(ferry_arq_next_deadline(p.a, p.vn.now), UINT64_MAX);
	ferry_arq_stats(p.a, &sa);
	if (_i == 0) {
		ck_assert_uint_ge(p.vn.now - cut, 4900);
		ck_assert_uint_le(p.vn.now - cut, 5100);
	} else {
		ck_assert_uint_gt(sa.segs_rto, 5);
	}
	ferry_arqrig_pair_destroy(&p);
	free(src);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arq_transfer");
	TCase *xfer = ferry_tcase("transfer", 20);

	tcase_add_loop_test(xfer, transfer_10mb_lossy, 0,
			    (int)(sizeof(lossy_cases) / sizeof(lossy_cases[0])));
	tcase_add_loop_test(xfer, profiles, 0, 5);
	tcase_add_loop_test(xfer, goodput_fast3_5pct, 0, 3);
	tcase_add_test(xfer, sn_wraparound);
	tcase_add_test(xfer, slow_reader_window_full);
	tcase_add_loop_test(xfer, peer_disappears, 0, 2);
	suite_add_tcase(s, xfer);
	return ferry_run_suite(s);
}
