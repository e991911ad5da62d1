// SPDX-License-Identifier: MIT
/*
 * When one ARQ conversation sends: RTT smoothing (RFC 6298 with the profile's
 * granularity and minimum), timeout back-off and the deadline an event loop sleeps to;
 * fast retransmission after later ACK batches; ACKs batched into shared datagrams, their
 * bounded list, ack_delay, and the repeated ACK of a segment above a hole (only while it
 * is young, and before the new ACKs).
 *
 * Each test drives one conversation by hand on virtual milliseconds: its output goes to
 * the capture of tests/support/arqrig.h and the peer's ACKs and PUSHes are written with
 * ferry_arqrig_seg, so every datagram and every deadline is asserted exactly. The
 * segment codec and bad input are in test_arq_wire.c, transfers in test_arq_transfer.c.
 */
#include <errno.h>
#include <string.h>

#include "tests/support/arqrig.h"
#include "tests/support/fixture.h"
#include "transport/arq.h"

/* RFC 6298 smoothing with the profile's granularity and minimum, timeout back-off, and the
 * deadline the event loop sleeps to. */
START_TEST(rto_and_deadlines)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	uint8_t dg[64];
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_send(arq, "a", 1), 1);
	/* A partial segment waits one interval for more bytes. */
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 0), 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 0), 0);
	ck_assert_uint_eq(cap.n, 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 0), 10);
	ck_assert_int_eq(ferry_arq_timer(arq, 10), 0);
	ck_assert_uint_eq(cap.n, 1);
	/* Initial RTO 200 ms. */
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 10), 210);
	ck_assert_int_eq(ferry_arq_timer(arq, 209), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_int_eq(ferry_arq_timer(arq, 210), 0);
	ck_assert_uint_eq(cap.n, 2);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_rto, 1);
	/* nodelay: back-off x1.5. */
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 210), 510);

	/* ACK of sn 0 echoing ts 210, arriving at 310: R = 100 -> SRTT 100, RTTVAR 50,
	 * RTO = 100 + max(10, 200) = 300. */
	n = ferry_arqrig_seg(dg, 1, 82, 128, 210, 0, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 310), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.srtt, 100);
	ck_assert_uint_eq(st.rttvar, 50);
	ck_assert_uint_eq(st.rto, 300);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(ferry_arq_pending(arq), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 310), UINT64_MAX);

	/* Second sample R = 100: RTTVAR 37.5, RTO 250. Third R = 1 ms, many times: the
	 * minimum RTO of the profile (30 ms) holds. */
	ck_assert_int_eq(ferry_arq_send(arq, "b", 1), 1);
	ck_assert_int_eq(ferry_arq_flush(arq, 400), 0);
	n = ferry_arqrig_seg(dg, 1, 82, 128, 400, 1, 1, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 500), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.rto, 250);
	for (uint32_t i = 0; i < 40; i++) {
		ck_assert_int_eq(ferry_arq_send(arq, "c", 1), 1);
		ck_assert_int_eq(ferry_arq_flush(arq, 1000 + i * 10), 0);
		n = ferry_arqrig_seg(dg, 1, 82, 128, 1000 + i * 10, 2 + i, 3 + i, NULL);
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, 1001 + i * 10), 0);
	}
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.rto, 30);
	ck_assert_uint_eq(st.srtt, 1);
	/* A forged echo from before the segment was first sent is no RTT sample. */
	ck_assert_int_eq(ferry_arq_send(arq, "d", 1), 1);
	ck_assert_int_eq(ferry_arq_flush(arq, 5000), 0);
	n = ferry_arqrig_seg(dg, 1, 82, 128, 100, 42, 42, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 5001), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.srtt, 1);
	ck_assert_uint_eq(st.inflight, 0);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* Two later ACK batches trigger a fast retransmission, due at once (no waiting for a
 * tick); ACKs for one input are one batch however many they are. */
START_TEST(fast_retransmit)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	static uint8_t data[1376 * 6];
	struct ferry_arq *arq;
	uint8_t dg[128];
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_send(arq, data, sizeof(data)), sizeof(data));
	ck_assert_int_eq(ferry_arq_timer(arq, 0), 0);
	ck_assert_uint_eq(cap.n, 6); /* full segments, one datagram each */
	/* One datagram acking sn 2 and 3: one batch. */
	n = ferry_arqrig_seg(dg, 1, 82, 128, 0, 2, 0, NULL);
	n += ferry_arqrig_seg(dg + n, 1, 82, 128, 0, 3, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 50), 0);
	ck_assert_uint_gt(ferry_arq_next_deadline(arq, 50), 50);
	n = ferry_arqrig_seg(dg, 1, 82, 128, 0, 4, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 51), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 51), 51);
	ck_assert_int_eq(ferry_arq_timer(arq, 51), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_fast, 2);
	ck_assert_uint_eq(st.segs_rto, 0);
	ck_assert_uint_eq(cap.n, 8);
	/* The retransmissions were sent after sn 5: acking sn 5 does not count against them. */
	n = ferry_arqrig_seg(dg, 1, 82, 128, 0, 5, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 52), 0);
	n = ferry_arqrig_seg(dg, 1, 82, 128, 0, 5, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 53), 0);
	ck_assert_uint_gt(ferry_arq_next_deadline(arq, 53), 53);
	/* una 6 acknowledges everything. */
	n = ferry_arqrig_seg(dg, 1, 82, 128, 51, 0, 6, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 60), 0);
	ck_assert_uint_eq(ferry_arq_pending(arq), 0);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* ACKs of many inputs share datagrams; the ACK list is bounded and a full list goes out
 * at once instead of growing. */
START_TEST(ack_batching_bounded)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	uint8_t dg[64];
	uint32_t i;
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 64, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.rcv_wnd = 64;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	for (i = 0; i < 40; i++) {
		n = ferry_arqrig_seg(dg, 1, 81, 128, i, i, 0, "x");
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, 5), 0);
	}
	ck_assert_uint_eq(cap.n, 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 5), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], 960); /* 40 ACKs */
	/* 100 duplicates without an update: the list overflows into the output. It holds what
	 * the receive ring holds (32 slots until a segment needs more), at least a datagram's
	 * worth: 1400 / 24 = 58 ACKs, 1392 bytes, one datagram. */
	for (i = 0; i < 100; i++) {
		n = ferry_arqrig_seg(dg, 1, 81, 128, i, 3, 0, "x");
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, 6), 0);
	}
	ck_assert_uint_eq(cap.n, 2);
	ck_assert_uint_eq(cap.len[1], 58ULL * 24);
	ck_assert_int_eq(ferry_arq_timer(arq, 6), 0);
	ck_assert_uint_eq(cap.n, 3);
	ck_assert_uint_eq(cap.len[2], 42ULL * 24);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.acks_sent, 140);
	ck_assert_uint_eq(st.segs_dup, 100);
	for (i = 1; i < 3; i++)
		ck_assert_uint_le(cap.len[i], 1400);
	/* ack_delay lets ACKs wait for company. */
	ferry_arq_destroy(arq);
	cap.n = 0;
	cfg.ack_delay = 5;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	n = ferry_arqrig_seg(dg, 1, 81, 128, 0, 0, 0, "x");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 100), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 100), 105);
	ck_assert_int_eq(ferry_arq_timer(arq, 104), 0);
	ck_assert_uint_eq(cap.n, 0);
	n = ferry_arqrig_seg(dg, 1, 81, 128, 0, 1, 0, "y");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 104), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 104), 105);
	ck_assert_int_eq(ferry_arq_timer(arq, 105), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], 48);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* The ACK of a segment above a hole rides again in the next two ACK datagrams (una cannot
 * cover it if its ACK is lost), before the new ACKs; once the hole closes, una does and
 * the repeats stop. */
START_TEST(ack_repeat_out_of_order)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	struct ferry_arq_seg h;
	uint8_t dg[64];
	uint32_t sn;
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	for (sn = 1; sn <= 4; sn++) {
		n = ferry_arqrig_seg(dg, 1, 81, 128, sn, sn, 0, "x");
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, sn), 0);
		ck_assert_int_eq(ferry_arq_timer(arq, sn), 0);
	}
	ck_assert_uint_eq(cap.n, 4);
	ck_assert_uint_eq(cap.len[0], 24); /* ack 1 */
	ck_assert_uint_eq(cap.len[1], 48); /* repeat 1, ack 2 */
	ck_assert_uint_eq(cap.len[2], 72); /* repeat 1, 2, ack 3 */
	ck_assert_uint_eq(cap.len[3], 72); /* repeat 2, 3 (1 is done), ack 4 */
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[3], 24, &h), 24);
	ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_ACK);
	ck_assert_uint_eq(h.sn, 2);
	ck_assert_uint_eq(h.ts, 2);
	/* The new ACK is last: kcp-go takes its RTT sample from a datagram's last ACK. */
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[3] + 48, 24, &h), 24);
	ck_assert_uint_eq(h.sn, 4);
	ck_assert_uint_eq(h.ts, 4);
	n = ferry_arqrig_seg(dg, 1, 81, 128, 0, 0, 0, "x");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 5), 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 5), 0);
	ck_assert_uint_eq(cap.len[4], 24); /* una 5 covers everything */
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[4], 24, &h), 24);
	ck_assert_uint_eq(h.una, 5);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* A repeat echoes the ts of a transmission ACKed before, and a KCP sender takes an RTT
 * sample from every ACK: a batch is repeated only while its first ACK is at most one
 * interval (10 ms with fast3) old, so no repeat adds more than a KCP receiver's own ACK
 * delay to the peer's sample. */
START_TEST(ack_repeat_only_while_young)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	struct ferry_arq_seg h;
	uint8_t dg[64];
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	/* sn 1 above the hole at 0, first ACKed at 100 */
	n = ferry_arqrig_seg(dg, 1, 81, 128, 90, 1, 0, "x");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 100), 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 100), 0);
	/* 50 ms later (a timeout's gap): a repeat would tell the peer the RTT grew by 50 ms */
	n = ferry_arqrig_seg(dg, 1, 81, 128, 140, 2, 0, "y");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 150), 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 150), 0);
	ck_assert_uint_eq(cap.n, 2);
	ck_assert_uint_eq(cap.len[1], 24); /* ack 2 only */
	/* 10 ms later: sn 2's batch is young enough, sn 1's is still too old */
	n = ferry_arqrig_seg(dg, 1, 81, 128, 150, 3, 0, "z");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 160), 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 160), 0);
	ck_assert_uint_eq(cap.len[2], 48); /* repeat 2, ack 3 */
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[2], 24, &h), 24);
	ck_assert_uint_eq(h.sn, 2);
	ck_assert_uint_eq(h.ts, 140);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* A thin flow (arq.h): without credit its segment still leaves, and with thin_copy a copy
 * follows FERRY_ARQ_THIN_COPY_MS later echoing a ts of its own; an ACK before then cancels
 * the copy. A bulk backlog gets nothing without credit, and no copies. */
START_TEST(thin_flow)
{
	static uint8_t bulk[1376 * 8];
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_stats st;
	struct ferry_arq_seg h;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	uint8_t dg[64];
	size_t n;

	memset(&cap, 0, sizeof(cap));
	ck_assert_int_eq(ferry_pool_init(&pool, 32, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.thin_copy = true;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	ferry_arq_set_credit(arq, 0);

	/* a request: out at once, its copy 2 ms later with its own ts */
	ck_assert_int_eq(ferry_arq_send(arq, "req", 3), 3);
	ck_assert(ferry_arq_thin(arq));
	ck_assert_int_eq(ferry_arq_flush(arq, 100), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 100), 100 + FERRY_ARQ_THIN_COPY_MS);
	ck_assert_int_eq(ferry_arq_timer(arq, 101), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_int_eq(ferry_arq_timer(arq, 102), 0);
	ck_assert_uint_eq(cap.n, 2);
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[1], cap.len[1], &h), 24 + 3);
	ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_PUSH);
	ck_assert_uint_eq(h.sn, 0);
	ck_assert_uint_eq(h.ts, 102);

	/* a second one, acknowledged (with the first) before its copy is due: no copy */
	ck_assert_int_eq(ferry_arq_send(arq, "two", 3), 3);
	ck_assert_int_eq(ferry_arq_flush(arq, 200), 0);
	ck_assert_uint_eq(cap.n, 3);
	n = ferry_arqrig_seg(dg, 1, FERRY_ARQ_CMD_ACK, 128, 200, 1, 2, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 201), 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 202), 0);
	ck_assert_uint_eq(cap.n, 3);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_copied, 1);
	ck_assert_uint_eq(st.inflight, 0);

	/* a third one, lost with its copy: its retransmission needs no credit either (a FIN
	 * lost among thousands of flows once waited for room until the conversation died) */
	ck_assert_int_eq(ferry_arq_send(arq, "fin", 3), 3);
	ck_assert_int_eq(ferry_arq_flush(arq, 250), 0);
	ck_assert_int_eq(ferry_arq_timer(arq, 252), 0);
	ck_assert_uint_eq(cap.n, 5); /* the segment and its copy */
	ck_assert_uint_le(ferry_arq_next_deadline(arq, 252), 250 + FERRY_ARQ_RTO_INIT);
	ck_assert_int_eq(ferry_arq_timer(arq, 250 + FERRY_ARQ_RTO_INIT + 100), 0);
	ck_assert_uint_eq(cap.n, 6);
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[5], cap.len[5], &h), 24 + 3);
	ck_assert_uint_eq(h.sn, 2);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_rto, 1);
	n = ferry_arqrig_seg(dg, 1, FERRY_ARQ_CMD_ACK, 128, 250, 2, 3, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 600), 0);

	/* bulk: eight segments queued are no thin flow; nothing leaves without credit, and
	 * what credit lets go is not copied */
	ck_assert_int_eq(ferry_arq_send(arq, bulk, sizeof(bulk)), sizeof(bulk));
	ck_assert(!ferry_arq_thin(arq));
	ck_assert_int_eq(ferry_arq_flush(arq, 700), 0);
	ck_assert_uint_eq(cap.n, 6);
	ck_assert(ferry_arq_wants_credit(arq));
	ferry_arq_set_credit(arq, 3);
	ck_assert_int_eq(ferry_arq_flush(arq, 700), 0);
	ck_assert_uint_eq(cap.n, 9);
	ck_assert_int_eq(ferry_arq_timer(arq, 710), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_sent, 6);
	ck_assert_uint_eq(st.segs_copied, 2);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* Thin flows held (the link's queue ahead of bulk is backed up): a request waits for credit
 * like bulk, and leaves without a copy; a copy that falls due while held is forgotten. */
START_TEST(thin_flow_held)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	struct ferry_arq *arq;

	memset(&cap, 0, sizeof(cap));
	ck_assert_int_eq(ferry_pool_init(&pool, 32, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.thin_copy = true;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	ferry_arq_set_credit(arq, 0);
	ferry_arq_hold_thin(arq, true);

	ck_assert_int_eq(ferry_arq_send(arq, "req", 3), 3);
	ck_assert(ferry_arq_thin(arq));
	ck_assert_int_eq(ferry_arq_flush(arq, 100), 0);
	ck_assert_uint_eq(cap.n, 0);
	ck_assert(ferry_arq_wants_credit(arq));
	ck_assert_uint_gt(ferry_arq_next_deadline(arq, 100), 100); /* the caller wakes it */
	ferry_arq_set_credit(arq, 1);
	ck_assert_int_eq(ferry_arq_flush(arq, 101), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_int_eq(ferry_arq_timer(arq, 110), 0);
	ck_assert_uint_eq(cap.n, 1); /* no copy */

	/* sent while free, held before its copy is due: the copy is forgotten */
	ferry_arq_hold_thin(arq, false);
	ferry_arq_set_credit(arq, 0);
	ck_assert_int_eq(ferry_arq_send(arq, "two", 3), 3);
	ck_assert_int_eq(ferry_arq_flush(arq, 120), 0);
	ck_assert_uint_eq(cap.n, 2);
	ferry_arq_hold_thin(arq, true);
	ck_assert_int_eq(ferry_arq_timer(arq, 120 + FERRY_ARQ_THIN_COPY_MS), 0);
	ck_assert_uint_eq(cap.n, 2);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_copied, 0);
	ck_assert_uint_eq(st.copies_held, 1);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arq_timers");
	TCase *timers = ferry_tcase("timers", 5);

	tcase_add_test(timers, rto_and_deadlines);
	tcase_add_test(timers, fast_retransmit);
	tcase_add_test(timers, ack_batching_bounded);
	tcase_add_test(timers, ack_repeat_out_of_order);
	tcase_add_test(timers, ack_repeat_only_while_young);
	tcase_add_test(timers, thin_flow);
	tcase_add_test(timers, thin_flow_held);
	suite_add_tcase(s, timers);
	return ferry_run_suite(s);
}
