// SPDX-License-Identifier: MIT
/*
 * The secure link carrying data on the virtual network: the wire arithmetic (a full ARQ
 * datagram is exactly the path MTU), FEC (10,3) recovering at least 95% of lost data
 * shards at 50 ms RTT and 5% loss with the ARQ resending only the rest, the datagram
 * channel under loss, and a datagram leaving ahead of a saturated pacer.
 *
 * Each test builds the two-peer rig of tests/support/linkrig.h (A and B, one event loop
 * on the vnet's virtual clock, every received byte checked against its pattern) with its
 * own vnet seed. Handshakes, hostile datagrams, rekeying, restarts, roaming, keepalives
 * and the wait queue are in test_link_session.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/linkrig.h"
#include "transport/arq.h"
#include "transport/link.h"

START_TEST(wire_arithmetic)
{
	struct ferry_wire_sizes s;
	struct ferry_vnet_link perfect = {0};
	struct ferry_linkrig *w;

	ck_assert_int_eq(ferry_wire_sizes(&s, 1500, FERRY_WIRE_IPV4_HDR), 0);
	ck_assert_uint_eq(s.udp_payload, 1472);
	ck_assert_uint_eq(s.shard, 1440);
	ck_assert_uint_eq(s.payload, 1430);
	ck_assert_uint_eq(s.record_body, 1427);
	ck_assert_uint_eq(s.datagram, 1423);
	ck_assert_int_eq(ferry_wire_sizes(&s, 1500, FERRY_WIRE_IPV6_HDR), 0);
	ck_assert_uint_eq(s.record_body, 1407);
	ck_assert_int_eq(ferry_wire_sizes(&s, 100, FERRY_WIRE_IPV6_HDR), -EINVAL);
	ck_assert_int_eq(ferry_wire_sizes(&s, 1500, 30), -EINVAL);
	ck_assert_int_eq(ferry_wire_sizes(&s, 9001, 20), -EINVAL);

	/* a full ARQ datagram becomes a UDP datagram of exactly the path MTU's payload */
	w = ferry_linkrig_new(29, &perfect, &perfect);
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	{
		uint8_t segs[1407];
		struct ferry_arq_seg h = {.conv = 9, .cmd = FERRY_ARQ_CMD_PUSH, .len = 1407 - 24};
		uint64_t bytes = w->s[0].link.stats.bytes_out;

		memset(segs, 0, sizeof(segs));
		ck_assert_int_eq(ferry_arq_seg_encode(segs, sizeof(segs), &h, segs + 24), 1407);
		ck_assert_int_eq(
		    ferry_link_send_segments(&w->s[0].link, segs, 1407, false, w->vn.now), 0);
		ck_assert_int_eq(
		    ferry_link_send_segments(&w->s[0].link, segs, 1408, false, w->vn.now),
		    -EMSGSIZE);
		ferry_link_flush(&w->s[0].link, w->vn.now);
		ck_assert_uint_eq(w->s[0].link.stats.bytes_out - bytes, 1500 - 40 - 8);
		ck_assert_uint_eq(ferry_link_datagram_max(&w->s[0].link), 1403);
		/* a small datagram (HIGH) and a small data segment (LOW) in one turn: at the
		 * flush they leave as one datagram */
		bytes = w->s[0].link.stats.data_out;
		h.len = 100;
		ck_assert_int_eq(ferry_arq_seg_encode(segs, sizeof(segs), &h, segs + 24), 124);
		ck_assert_int_eq(
		    ferry_link_send_segments(&w->s[0].link, segs, 124, false, w->vn.now), 0);
		ck_assert_int_eq(ferry_linkrig_send_dg(&w->s[0], 9, 200), 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
		ck_assert_uint_eq(w->s[0].link.stats.data_out - bytes, 1); /* (parity aside) */
		ck_assert_uint_eq(w->s[0].link.stats.payloads_merged, 1);
		ck_assert_int_eq(ferry_link_send_datagram(&w->s[0].link, 1, segs, 1404, w->vn.now),
				 -EMSGSIZE);
	}
	ferry_linkrig_free(w);
}
END_TEST

/* Everything a turn sealed leaves in batches of at most FERRY_LINK_OUT_BATCH, at the
 * flush: one output call (one sendmmsg for the daemon) per 64 datagrams, in the pool
 * buffers they were sealed in, all back in their pools afterwards. */
START_TEST(output_in_batches_at_the_flush)
{
	struct ferry_vnet_link perfect = {0};
	struct ferry_linkrig *w = ferry_linkrig_new(31, &perfect, &perfect);
	uint64_t outputs, batches, sent, waiting;
	struct ferry_link *a;
	uint32_t i, in_use;

	w->s[0].link_cfg.fec_fixed = true; /* counts every group's 3 parity shards */
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	a = &w->s[0].link;
	ferry_link_set_flush(&w->s[0].set, w->vn.now);
	in_use = a->pool.stats.in_use;
	outputs = w->s[0].outputs;
	batches = w->s[0].output_batches;
	for (i = 0; i < 150; i++) /* one payload each: a 1,000-byte record leaves no room */
		ck_assert_int_eq(ferry_linkrig_send_dg(&w->s[0], i, 1000), 0);
	/* only full batches left so far; the rest waits for the flush */
	sent = w->s[0].outputs - outputs;
	waiting = w->s[0].set.out.n;
	ck_assert_uint_gt(sent, 0);
	ck_assert_uint_eq(sent % FERRY_LINK_OUT_BATCH, 0);
	ck_assert_uint_eq(w->s[0].output_batches - batches, sent / FERRY_LINK_OUT_BATCH);
	ck_assert_uint_gt(waiting, 0);
	ck_assert_uint_ge(sent + waiting, 150 + 14 * 3); /* with the parity of the full groups */
	ferry_link_set_flush(&w->s[0].set, w->vn.now);
	/* what waited, and the last payload, which only the flush closed */
	ck_assert_uint_eq(w->s[0].outputs - outputs, sent + waiting + 1);
	ck_assert_uint_eq(w->s[0].output_batches - batches, sent / FERRY_LINK_OUT_BATCH + 1);
	ck_assert_uint_eq(w->s[0].set.out.n, 0);
	ck_assert_uint_eq(a->pool.stats.in_use, in_use);
	ck_assert_uint_eq(w->s[0].set.stats.out_refused, 0);
	ferry_linkrig_free(w);
}
END_TEST

/*
 * The acceptance figure. "Lost data datagrams" are data shards the sender sealed
 * and handed to the network (A's FEC encoder data_out, nothing dropped before the wire)
 * that never reached B's FEC decoder (B's data_in): parity shards, keepalives and
 * handshakes are not counted. The link has no jitter or reordering, so a shard counted
 * lost really was lost (with reordering, a late shard already rebuilt from parity would
 * count as lost and as recovered: see the parallel test in test_link_session.c). FEC
 * must rebuild at least 95% of them (B's decoder `recovered`), and the ARQ retransmits
 * only what FEC could not. The counters are taken after a warm-up transfer (whose first
 * payloads wait for the handshake), as differences.
 */
#define FEC_BYTES (50u << 20) /* the 50 MB, also under ASan (about 10 s there) */

START_TEST(fec_recovers_95_percent)
{
	struct ferry_vnet_link l = {.delay_ms = 25, .loss = 0.05};
	struct ferry_link_stats sa, sb, base_a, base_b;
	struct ferry_linkrig *w = ferry_linkrig_new(7, &l, &l);
	uint64_t lost_ab, lost_ba, rtx;
	double ratio_ab, ratio_ba;

	/* the code's own strength: every group with its 3 parity shards (by default the link
	 * sends as many as the loss needs, test_link_congestion.c) */
	w->s[0].link_cfg.fec_fixed = w->s[1].link_cfg.fec_fixed = true;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w); /* the session is up: no payload waits for it */
	ferry_linkrig_close_convs(&w->s[0]);
	ferry_linkrig_close_convs(&w->s[1]);
	ferry_link_stats(&w->s[0].link, &base_a);
	ferry_link_stats(&w->s[1].link, &base_b);
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 4, FEC_BYTES / 4, 0);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 600 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(&w->s[1]);
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC,
				    false)); /* the last groups' parity lands */
	ferry_link_stats(&w->s[0].link, &sa);
	ferry_link_stats(&w->s[1].link, &sb);
	ck_assert_uint_eq(sa.seal_errors + sa.pacer_dropped + sa.pool_empty, 0);
	ck_assert_uint_eq(w->vn.count[0].dropped_queue + w->vn.count[0].dropped_capacity, 0);
	sa.fec_enc.data_out -= base_a.fec_enc.data_out;
	sa.fec_dec.data_in -= base_a.fec_dec.data_in;
	sa.fec_dec.recovered -= base_a.fec_dec.recovered;
	sb.fec_enc.data_out -= base_b.fec_enc.data_out;
	sb.fec_dec.data_in -= base_b.fec_dec.data_in;
	sb.fec_dec.recovered -= base_b.fec_dec.recovered;
	sb.fec_dec.unrecovered -= base_b.fec_dec.unrecovered;
	lost_ab = sa.fec_enc.data_out - sb.fec_dec.data_in;
	lost_ba = sb.fec_enc.data_out - sa.fec_dec.data_in;
	ck_assert_uint_gt(lost_ab, 0);
	ratio_ab = (double)sb.fec_dec.recovered / (double)lost_ab;
	ratio_ba = lost_ba ? (double)sa.fec_dec.recovered / (double)lost_ba : 1.0;
	rtx = ferry_linkrig_retransmits(&w->s[0]);
	printf("fec (10,3), 50 ms RTT, 5%% loss, %u MB A->B in %.1f s virtual:\n"
	       "  A->B: %llu data shards sent, %llu lost (vnet lost %llu datagrams of all kinds), "
	       "%llu recovered by FEC = %.2f%%, %llu groups unrecovered\n"
	       "  B->A: %llu data shards sent, %llu lost, %llu recovered = %.2f%%\n"
	       "  ARQ retransmissions by A: %llu segments (of %llu data segments sent)\n",
	       FEC_BYTES >> 20, (double)(w->vn.now - 1000) / 1000.0,
	       (unsigned long long)sa.fec_enc.data_out, (unsigned long long)lost_ab,
	       (unsigned long long)w->vn.count[0].dropped_loss,
	       (unsigned long long)sb.fec_dec.recovered, 100.0 * ratio_ab,
	       (unsigned long long)sb.fec_dec.unrecovered, (unsigned long long)sb.fec_enc.data_out,
	       (unsigned long long)lost_ba, (unsigned long long)sa.fec_dec.recovered,
	       100.0 * ratio_ba, (unsigned long long)rtx,
	       (unsigned long long)ferry_linkrig_segs_sent(&w->s[0]));
	fflush(stdout);
	ck_assert_msg(ratio_ab >= 0.95, "A->B recovered %.2f%% of lost data shards",
		      100.0 * ratio_ab);
	/* B->A (ACKs) loses a few dozen shards: too few for a percentage on its own */
	ck_assert_msg((double)(sb.fec_dec.recovered + sa.fec_dec.recovered) /
			      (double)(lost_ab + lost_ba) >=
			  0.95,
		      "both ways recovered %.2f%% of lost data shards",
		      100.0 * (double)(sb.fec_dec.recovered + sa.fec_dec.recovered) /
			  (double)(lost_ab + lost_ba));
	/* what FEC did not rebuild is all the ARQ had to resend, give or take spurious RTOs */
	ck_assert_uint_le(rtx, 4 * (lost_ab - sb.fec_dec.recovered) + lost_ab / 20 + 20);
	ferry_linkrig_free(w);
}
END_TEST

/* The datagram channel under 5% loss: FEC restores almost everything, nothing arrives
 * twice or damaged, and a lone datagram still gets parity (the group timer). */
START_TEST(datagram_channel_under_loss)
{
	struct ferry_vnet_link l = {.delay_ms = 20, .loss = 0.05};
	struct ferry_link_stats sa;
	struct ferry_linkrig *w = ferry_linkrig_new(13, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint8_t d[1000];
	uint32_t i, k, n = 2000, dup = 0;

	w->s[0].link_cfg.fec_fixed = w->s[1].link_cfg.fec_fixed = true;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	for (i = 0; i < n; i++) {
		size_t len = 1 + ((size_t)i * 37) % sizeof(d);

		for (k = 0; k < len; k++)
			d[k] = ferry_linkrig_pattern(i, k);
		ck_assert_int_eq(ferry_link_send_datagram(&a->link, i, d, len, w->vn.now), 0);
		if (i % 8 == 7)
			ck_assert(ferry_linkrig_run(w, w->vn.now + 1, false));
	}
	ck_assert(ferry_linkrig_run(w, w->vn.now + 10 * FERRY_LINKRIG_SEC, false));
	for (i = 0; i < n; i++)
		dup += b->dg_seen[i] > 1;
	ferry_link_stats(&a->link, &sa);
	printf("datagrams: %u sent, %llu delivered (%llu rebuilt by FEC), %llu still lost\n", n,
	       (unsigned long long)b->dg_rx, (unsigned long long)b->link.dec.stats.recovered,
	       (unsigned long long)(n - b->dg_rx));
	fflush(stdout);
	ck_assert_uint_eq(dup, 0);
	ck_assert_uint_eq(b->dg_bad, 0);
	ck_assert_uint_ge(b->dg_rx, (uint64_t)n * 97 / 100);
	ck_assert_uint_gt(b->link.dec.stats.recovered, 0);

	/* a lone datagram on an idle link: its group is closed by the timer, with parity */
	ck_assert_int_eq(ferry_link_send_datagram(&a->link, 4000, d, 10, w->vn.now), 0);
	ferry_link_flush(&a->link, w->vn.now);
	sa.fec_enc = a->link.enc.stats;
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false));
	ck_assert_uint_gt(a->link.enc.stats.groups_short, sa.fec_enc.groups_short);
	ferry_linkrig_free(w);
}
END_TEST

/* With the pacer's LOW queue full of ARQ data, a datagram still leaves first. */
START_TEST(datagram_ahead_of_saturated_pacer)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_linkrig *w = ferry_linkrig_new(17, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint64_t sent_at, window = 0;
	uint32_t depth;

	a->link_cfg.congestion = FERRY_CC_FIXED;
	a->link_cfg.rate = 1000000; /* 1 MB/s */
	a->link_cfg.pacer_queue = 128;
	a->link_cfg.keepalive_ms = 20; /* keepalives fall due while the pacer is saturated */
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 2, 8 << 20, 0);
	/* run until the pacer holds its backlog of bulk data: FERRY_LINK_QUEUE_MIN datagrams
	 * (18 ms at this rate), no more, for the conversations send only what the link has
	 * room for (ferry_link_room) and keep the rest */
	while (ferry_pacer_depth(&a->link.pacer, FERRY_PACER_LOW) < FERRY_LINK_QUEUE_MIN &&
	       window++ < 1000)
		ck_assert(ferry_linkrig_run(w, w->vn.now + 5, false));
	depth = ferry_pacer_depth(&a->link.pacer, FERRY_PACER_LOW);
	ck_assert_uint_ge(depth, FERRY_LINK_QUEUE_MIN);
	ck_assert_uint_le(depth, (uint64_t)2 * FERRY_LINK_QUEUE_MIN); /* its parity besides */
	sent_at = w->vn.now;
	b->dg_rx = 0;
	ck_assert_int_eq(ferry_linkrig_send_dg(a, 77, 1), 0);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 200, false));
	ck_assert_uint_eq(b->dg_seen[77], 1);
	printf("priority: %u bulk datagrams queued (%.0f ms at the rate); the datagram arrived "
	       "after %llu ms (one-way delay 10 ms)\n",
	       depth, depth * 1450.0 / 1000.0, (unsigned long long)(b->dg_first_rx_ms - sent_at));
	ck_assert_uint_le(b->dg_first_rx_ms - sent_at, 10 + 5 + 2);
	/* and the pacer kept the rate: the vnet saw no more than rate * time + burst */
	ck_assert_uint_gt(a->link.stats.pacer_delayed, 0);
	ferry_linkrig_free(w);
}
END_TEST

/* A thousand thin flows at once, each a request of three segments, through a link paced at
 * 1 MB/s: nothing bounds what goes ahead of bulk but the urgent queue itself. Held once that
 * queue is half full (ferry_arq_hold_thin, as the daemon's bridge does), the flows wait for
 * room and the pacer drops nothing; unheld, as before, they overflow it. */
START_TEST(thin_flows_wait_for_the_urgent_queue)
{
	int unheld;

	for (unheld = 0; unheld < 2; unheld++) {
		struct ferry_vnet_link l = {.delay_ms = 10};
		struct ferry_linkrig *w = ferry_linkrig_new(23, &l, &l);
		struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
		uint64_t start, resent = 0;
		struct ferry_arq_stats st;
		uint32_t i, left = 0;
		bool done;

		a->link_cfg.congestion = FERRY_CC_FIXED;
		a->link_cfg.rate = 1000000;
		a->link_cfg.pacer_queue = 64;
		a->thin_unheld = unheld;
		ferry_linkrig_start(w);
		ferry_linkrig_warm(w);
		start = w->vn.now;
		ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 1000, 3000, 0);
		done = ferry_linkrig_run(w, start + 20 * FERRY_LINKRIG_SEC, true);
		for (i = 0; i < b->nconv; i++)
			left += b->recvd[i] < b->expect[i];
		for (i = 0; i < a->nconv; i++) {
			ferry_arq_stats(a->arq[i], &st);
			resent += st.segs_rto + st.segs_fast;
		}
		printf("1,000 thin flows of 3,000 B at 1 MB/s, %s: %llu urgent datagrams dropped, "
		       "%llu retransmissions, %u flows unfinished after %llu ms\n",
		       unheld ? "unheld" : "held",
		       (unsigned long long)a->link.stats.pacer_dropped_high,
		       (unsigned long long)resent, left, (unsigned long long)(w->vn.now - start));
		if (unheld) {
			ck_assert_uint_gt(a->link.stats.pacer_dropped_high, 0);
		} else {
			ck_assert(done);
			ferry_linkrig_check_streams(b);
			ck_assert_uint_eq(a->link.stats.pacer_dropped_high, 0);
		}
		ferry_linkrig_free(w);
	}
}
END_TEST

/* BBR on a slow path: 4.4 Mbit/s, 40 ms. Below 6 Mbit/s two milliseconds of the rate are
 * less than a datagram; with a burst of one datagram the pacer, woken in whole
 * milliseconds, sent one every 3 ms (3.87 Mbit/s), the controller measured that, and the
 * path stayed 78% used for good. The burst holds two datagrams now. */
START_TEST(slow_path_used_whole)
{
	const uint64_t rate = 550000;
	struct ferry_vnet_link l = {
	    .delay_ms = 20, .rate = rate, .queue_limit = 64000, .overhead = 28};
	struct ferry_linkrig *w = ferry_linkrig_new(31, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0];
	struct ferry_cc_info ci;
	uint64_t start, out0;
	double used;

	a->link_cfg.congestion = FERRY_CC_BBR;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	start = w->vn.now;
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 1, 50u << 20, 0);
	ck_assert(ferry_linkrig_run(w, start + 3 * FERRY_LINKRIG_SEC, false));
	out0 = a->link.stats.bytes_out;
	ck_assert(ferry_linkrig_run(w, start + 10 * FERRY_LINKRIG_SEC, false));
	used = (double)(a->link.stats.bytes_out - out0) / (double)(rate * 7);
	ferry_link_cc_info(&a->link, &ci);
	printf("4.4 Mbit/s path, seconds 3 to 10: %.1f%% of it sent; estimate %.2f Mbit/s\n",
	       100 * used, (double)ci.bw * 8 / 1e6);
	ck_assert_double_ge(used, 0.93);
	ferry_linkrig_free(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("link_transfer");
	TCase *tc = ferry_tcase("link_transfer", 120);

	tcase_add_test(tc, wire_arithmetic);
	tcase_add_test(tc, output_in_batches_at_the_flush);
	tcase_add_test(tc, fec_recovers_95_percent);
	tcase_add_test(tc, datagram_channel_under_loss);
	tcase_add_test(tc, datagram_ahead_of_saturated_pacer);
	tcase_add_test(tc, thin_flows_wait_for_the_urgent_queue);
	tcase_add_test(tc, slow_path_used_whole);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
