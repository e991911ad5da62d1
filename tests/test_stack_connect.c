// SPDX-License-Identifier: MIT
/*
 * The stack's TCP admission: how a connection from the application gets in, or does not.
 *
 * Covered: honest connect (SYN held, SYN-ACK only after the far side connected, from the
 * original destination, with MSS from the MTU and window scaling; refused -> RST,
 * unreachable/timeout -> ICMP; retransmitted SYNs; unpredictable ISNs), connects completed
 * from inside callbacks, handshake timeout, the far side speaking first; and the limits on
 * admission: the flow table's limit and LRU eviction, lwIP's listener pool, reuse of a
 * 4-tuple in TIME_WAIT, one stack per process, destroy resetting every flow.
 *
 * The harness is tests/support/stackfake.h: crafted IPv4/IPv6 packets go into
 * ferry_stack_input, a fake transport plays the caller, and every packet the stack writes
 * to the "TUN" is parsed and asserted on (checksums included).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/egress.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/pkt.h"
#include "tests/support/stackfake.h"

START_TEST(syn_held_until_connected_v4)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40000);
	struct ferry_tpkt t;

	ferry_stackfake_app_syn(f, &a, 0);
	ck_assert_uint_eq(f->nopened, 1);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f),
			  0); /* nothing until the far side connected */
	ck_assert_int_eq(f->open_src.family, AF_INET);
	ck_assert_uint_eq(f->open_src.port, 40000);
	ck_assert_uint_eq(f->open_dst.port, 443);
	ck_assert_mem_eq(f->open_dst.addr, "\xcb\x00\x71\x09", 4);

	/* The app retransmits its SYN: no second flow, counted. */
	ferry_stackfake_app_syn(f, &a, -EALREADY);
	ferry_stackfake_app_syn(f, &a, -EALREADY);
	ck_assert_uint_eq(f->nopened, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_DUP_SYN], 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 1);

	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, FERRY_STACKFAKE_DST4, 443));
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 40000));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, 1001);
	ck_assert_uint_eq(t.mss, 1460); /* MTU 1500 - 40 */
	ck_assert_int_eq(t.wscale, 4);	/* TCP_RCV_SCALE */
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), -EINVAL);

	/* A SYN retransmitted after the SYN-ACK gets the SYN-ACK again, no new flow. */
	ferry_stackfake_app_syn(f, &a, 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(f->nopened, 1);

	a.ack = t.seq + 1;
	ferry_stackfake_app_send(f, &a, 0, NULL, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_accepted, 1);
	ferry_stackfake_free(f);
}
END_TEST

/* RFC 6528: the SYN-ACKs' sequence numbers are keyed hashes of the 4-tuple, not lwIP's
 * global counter, which would put every connection opened within a second into one narrow
 * range. With hashes, eight of them all within 2^24 of the first is a 2^-56 event. */
START_TEST(isn_unpredictable)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	uint32_t isn[8];
	struct ferry_tpkt t;
	bool spread = false;
	unsigned i;

	for (i = 0; i < 8; i++) {
		struct ferry_stackfake_app a = ferry_stackfake_app4((uint16_t)(41000 + i));

		ferry_stackfake_app_syn(f, &a, 0);
		ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[i]), 0);
		ferry_stackfake_next_out(f, &t);
		ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
		isn[i] = t.seq;
	}
	for (i = 1; i < 8; i++)
		if ((uint32_t)(isn[i] - isn[0] + (1u << 24)) > (1u << 25))
			spread = true;
	ck_assert_msg(spread, "every ISN within 2^24 of %u", isn[0]);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(syn_ack_v6_jumbo_mtu)
{
	struct ferry_stackfake *f = ferry_stackfake_new(65535);
	struct ferry_stackfake_app a = {.src = FERRY_STACKFAKE_APP6,
					.dst = FERRY_STACKFAKE_DST6,
					.sport = 50000,
					.dport = 8443,
					.seq = 7};
	struct ferry_tpkt t;

	ferry_stackfake_app_syn(f, &a, 0);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ck_assert_int_eq(f->open_dst.family, AF_INET6);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_int_eq(t.family, AF_INET6);
	ck_assert(ferry_tpkt_from(&t, FERRY_STACKFAKE_DST6, 8443));
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP6, 50000));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.mss, 65535 - 60);
	ck_assert_int_eq(t.wscale, 4);
	ferry_stackfake_free(f);
}
END_TEST

/* No window scale from the app, none back (RFC 7323); MSS from the MTU over IPv6. */
START_TEST(syn_ack_without_wscale_v6_1500)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t;

	ferry_tpkt_tcp(&t, FERRY_STACKFAKE_APP6, 50001, FERRY_STACKFAKE_DST6, 22, FERRY_TPKT_SYN,
		       99, 0);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, 100);
	ck_assert_uint_eq(t.mss, 1500 - 60);
	ck_assert_int_eq(t.wscale, -1);
	ck_assert_uint_eq(t.wnd, 65535);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(connect_inside_open_callback)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40001);
	struct ferry_tpkt t;

	f->connect_in_open = 1;
	ferry_stackfake_app_syn(f, &a, 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(refused_is_rst)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40002);
	struct ferry_tpkt t;

	ferry_stackfake_app_syn(f, &a, 0);
	ferry_stack_tcp_refused(f->opened[0], -ECONNREFUSED);
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, FERRY_STACKFAKE_DST4, 443));
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 40002));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, 1001);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_refused, 1);
	ck_assert_int_eq(f->closed, 0);

	/* A refusal returned from tcp_open itself works the same. */
	f->open_ret = -ECONNREFUSED;
	ferry_stackfake_app_syn(f, &a, 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	ferry_stackfake_free(f);
}
END_TEST

/* A caller with no room for the flow yet (tcp_open returns -EAGAIN): the SYN is dropped as
 * if lost, nothing goes back, and the application's next SYN opens the flow. */
START_TEST(busy_drops_the_syn)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40005);
	const struct ferry_stack_stats *st = ferry_stack_get_stats(f->stack);
	struct ferry_tpkt t;

	f->open_ret = -EAGAIN;
	ferry_stackfake_app_syn(f, &a, 0);
	ck_assert_uint_eq(f->nout, f->seen); /* no RST, no ICMP */
	ck_assert_uint_eq(st->tcp_flows, 0);
	ck_assert_uint_eq(st->tcp_opened, 0);
	ck_assert_uint_eq(st->tcp_refused + st->tcp_unreach, 0);
	ck_assert_uint_eq(st->drops[FERRY_STACK_DROP_BUSY], 1);
	ck_assert_int_eq(f->closed, 0);

	f->open_ret = 0;
	f->connect_in_open = 1;
	ferry_stackfake_app_syn(f, &a, 0); /* the retransmission */
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(st->tcp_opened, 1);
	ck_assert_uint_eq(st->tcp_flows, 1);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(unreachable_is_icmp)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40003);
	struct ferry_stackfake_app b = {.src = FERRY_STACKFAKE_APP6,
					.dst = FERRY_STACKFAKE_DST6,
					.sport = 40004,
					.dport = 80,
					.seq = 5};
	struct ferry_tpkt t, q;

	ferry_stackfake_app_syn(f, &a, 0);
	ferry_stack_tcp_refused(f->opened[0], -EHOSTUNREACH);
	ferry_stackfake_next_out(f, &t);
	ck_assert_int_eq(t.proto, 1);
	ck_assert_uint_eq(t.icmp_type, 3);
	ck_assert_uint_eq(t.icmp_code, 1);
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 0));
	ck_assert(ferry_tpkt_from(&t, FERRY_STACKFAKE_DST4, 0));
	/* It quotes the SYN: IP header and the ports. */
	ck_assert_uint_ge(t.payload_len, 28);
	ck_assert_uint_eq(t.payload[9], 6);
	ck_assert_uint_eq((t.payload[20] << 8) | t.payload[21], 40003);

	ferry_stackfake_app_syn(f, &b, 0);
	ferry_stack_tcp_refused(f->opened[1], -ENETUNREACH);
	ferry_stackfake_next_out(f, &t);
	ck_assert_int_eq(t.proto, 58);
	ck_assert_uint_eq(t.icmp_type, 1);
	ck_assert_uint_eq(t.icmp_code, 0);
	ck_assert_int_eq(ferry_tpkt_parse(&q, t.payload, t.payload_len), 0);
	ck_assert(ferry_tpkt_from(&q, FERRY_STACKFAKE_APP6, 40004));
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_unreach, 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(connect_timeout)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40005);
	struct ferry_tpkt t;
	uint64_t deadline;

	ferry_stackfake_app_syn(f, &a, 0);
	/* lwIP's own 1 s IPv6 timer may come first; never later than the connect timeout. */
	deadline = ferry_stack_next_deadline(f->stack, f->now);
	ck_assert_uint_gt(deadline, f->now);
	ck_assert_uint_le(deadline, f->now + f->cfg.connect_timeout_ms);
	ferry_stackfake_advance(f, f->cfg.connect_timeout_ms - 1);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ck_assert_int_eq(f->closed, 0);
	ferry_stackfake_advance(f, 1);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.icmp_type, 3);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ETIMEDOUT);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	ferry_stackfake_free(f);
}
END_TEST

/* An idle stack's clock is behind; the owner sets it before the next packet, and a connect
 * that packet starts counts its deadline from then, not from the stack's last timer. */
START_TEST(clock_set_before_a_packet)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40006);
	uint64_t later = f->now + (uint64_t)3600 * 1000;

	ferry_stack_clock(f->stack, later);
	ferry_stack_clock(f->stack, f->now); /* never backwards */
	f->now = later;
	ferry_stackfake_app_syn(f, &a, 0);
	ferry_stackfake_advance(f, f->cfg.connect_timeout_ms - 1);
	ck_assert_int_eq(f->closed, 0); /* with the old clock it would have timed out at once */
	ferry_stackfake_advance(f, 1);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ETIMEDOUT);
	ferry_stackfake_free(f);
}
END_TEST

/* Defect: the stack and egress both gave up a connect after 10 s, so which one spoke
 * first was chance. The side holding the SYN outlives the far side's attempt and a long
 * path's round trips: the application always learns the far side's real error. */
START_TEST(held_syn_outlives_the_far_side_connect)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40006);
	struct ferry_egress_config far;
	struct ferry_tpkt t;

	ferry_egress_config_default(&far);
	ferry_stackfake_app_syn(f, &a, 0);
	/* the far side times out, and its answer crosses a 2 s round trip */
	ferry_stackfake_advance(f, far.connect_timeout_ms + 2000);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ck_assert_int_eq(f->closed, 0);
	ferry_stack_tcp_refused(f->opened[0], -ENETUNREACH);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.icmp_type, 3);
	ck_assert_uint_eq(t.icmp_code, 0); /* net unreachable: the far side's word */
	ferry_stackfake_free(f);
}
END_TEST

/* The far side answers (and closes) before the app's ACK completed the handshake. */
START_TEST(far_side_speaks_first)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40007);
	struct ferry_tpkt t;

	ferry_stackfake_app_syn(f, &a, 0);
	a.flow = f->opened[0];
	ck_assert_int_eq(ferry_stack_tcp_connected(a.flow), 0);
	ferry_stackfake_next_out(f, &t);
	a.ack = t.seq + 1;
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"220 hi", 6), 0);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	f->echo = 0;
	ferry_stackfake_app_send(f, &a, 0, NULL, 0); /* the handshake completes: sendable is owed */
	ck_assert_int_eq(f->sendables, 1);
	/* The shutdown was carried out at accept: a FIN, no data (the fake sent none). */
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"x", 1), 0);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, 0);
	ferry_stackfake_free(f);
}
END_TEST

/* A connect completed from inside lwIP (another connection's callback) waits until lwIP
 * returned: its input path is not re-entrant. */
START_TEST(connect_from_inside_a_callback)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40008), b = ferry_stackfake_app4(40009);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_syn(f, &b, 0);
	b.flow = f->opened[1];
	f->connect_in_data = b.flow;
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "go", 2);
	ck_assert_int_eq(f->nested_input_ret, -EDEADLK);
	ck_assert_uint_eq(f->nrx, 2);
	do
		ferry_stackfake_next_out(f, &t);
	while (!(t.flags & FERRY_TPKT_SYN));
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 40009));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	b.ack = t.seq + 1;
	ferry_stackfake_app_send(f, &b, 0, NULL, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_accepted, 2);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(handshake_timeout)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40006);
	struct ferry_tpkt t;
	unsigned i;

	ferry_stackfake_app_syn(f, &a, 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	ferry_stackfake_next_out(f, &t);
	for (i = 0; i < 100 && f->closed == 0; i++)
		ferry_stackfake_advance(f, 250);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ETIMEDOUT);
	ck_assert_uint_le(f->now, 1000 + f->cfg.handshake_timeout_ms + 250);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(table_full_evicts_lru)
{
	struct ferry_stack_config cfg;
	struct ferry_stackfake *f;
	struct ferry_stackfake_app a[3] = {ferry_stackfake_app4(41000), ferry_stackfake_app4(41001),
					   ferry_stackfake_app4(41002)};
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.max_tcp_flows = 2;
	cfg.evict_min_idle_ms = 10000;
	cfg.keepalive_idle_ms = 0;
	f = ferry_stackfake_new_cfg(&cfg);
	ferry_stackfake_establish(f, &a[0]);
	ferry_stackfake_establish(f, &a[1]);
	/* Both in use recently: the newcomer is refused, nobody evicted. */
	ferry_stackfake_app_syn(f, &a[2], -ENOSPC);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	ck_assert_int_eq(f->closed, 0);
	ferry_stackfake_advance(f, 10000);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t);
	ferry_stackfake_app_send(f, &a[0], FERRY_TPKT_PSH, "x",
				 1);	 /* a[1] is now the least recent */
	ferry_stackfake_next_out(f, &t); /* the ACK for "x" */
	ferry_stackfake_app_syn(f, &a[2], 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_ptr_eq(f->closed_flow, a[1].flow);
	ck_assert_int_eq(f->closed_reason, -ECONNABORTED);
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 41001));
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_evicted, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 2);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(table_full_refuses)
{
	struct ferry_stack_config cfg;
	struct ferry_stackfake *f;
	struct ferry_stackfake_app a = ferry_stackfake_app4(42000), b = ferry_stackfake_app4(42001);
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.max_tcp_flows = 1;
	cfg.evict_lru = false;
	f = ferry_stackfake_new_cfg(&cfg);
	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_syn(f, &b, -ENOSPC);
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 42001));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_FLOWS_FULL], 1);
	ck_assert_uint_eq(f->nopened, 1);
	ferry_stackfake_free(f);
}
END_TEST

/* 256 listeners (MEMP_NUM_TCP_PCB_LISTEN): one more port in its handshake is refused. */
START_TEST(listener_pool_limit)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t;
	unsigned i;

	for (i = 0; i <= 256; i++) {
		struct ferry_stackfake_app a = ferry_stackfake_app4((uint16_t)(30000 + i));

		a.dport = (uint16_t)(1000 + i);
		ferry_stackfake_app_syn(f, &a, 0);
		if (i < 256) {
			ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[f->nopened - 1]), 0);
			ferry_stackfake_next_out(f, &t);
			ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
		} else {
			ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[f->nopened - 1]),
					 -ENOMEM);
			ferry_stackfake_next_out(f, &t);
			ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
		}
		if (f->nopened == FERRY_STACKFAKE_MAX_FLOWS)
			f->nopened = 0;
	}
	ferry_stackfake_free(f);
}
END_TEST

/* We closed first, so lwIP keeps the 4-tuple in TIME_WAIT; the app reuses it at once. */
START_TEST(reuse_after_time_wait)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40040);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	a.ack += 1;
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->closed, 1);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t); /* the ACK of the app's FIN: TIME_WAIT */
	a.seq += 100000;
	ferry_stackfake_app_syn(f, &a, 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[1]), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, a.seq);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(one_stack_per_process)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stack_config cfg;
	struct ferry_stack *other;

	ferry_stack_config_default(&cfg);
	ck_assert_int_eq(ferry_stack_create(&other, &cfg, &ferry_stackfake_ops, f, 0), -EBUSY);
	ferry_stack_destroy(f->stack);
	ck_assert_int_eq(ferry_stack_create(&f->stack, &cfg, &ferry_stackfake_ops, f, 0), 0);
	cfg.mtu = 100;
	ck_assert_int_eq(ferry_stack_create(&other, &cfg, &ferry_stackfake_ops, f, 0), -EINVAL);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(destroy_resets_flows)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(43000), b = ferry_stackfake_app4(43001);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_syn(f, &b, 0);
	ferry_stack_destroy(f->stack);
	f->stack = NULL;
	ck_assert_int_eq(f->closed, 2);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ferry_stackfake_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack_connect");
	TCase *connect = ferry_tcase("connect", 10);
	TCase *limits = ferry_tcase("limits", 10);

	tcase_add_test(connect, syn_held_until_connected_v4);
	tcase_add_test(connect, held_syn_outlives_the_far_side_connect);
	tcase_add_test(connect, syn_ack_v6_jumbo_mtu);
	tcase_add_test(connect, isn_unpredictable);
	tcase_add_test(connect, syn_ack_without_wscale_v6_1500);
	tcase_add_test(connect, connect_inside_open_callback);
	tcase_add_test(connect, refused_is_rst);
	tcase_add_test(connect, busy_drops_the_syn);
	tcase_add_test(connect, unreachable_is_icmp);
	tcase_add_test(connect, connect_timeout);
	tcase_add_test(connect, clock_set_before_a_packet);
	tcase_add_test(connect, handshake_timeout);
	tcase_add_test(connect, far_side_speaks_first);
	tcase_add_test(connect, connect_from_inside_a_callback);
	tcase_add_test(limits, table_full_evicts_lru);
	tcase_add_test(limits, table_full_refuses);
	tcase_add_test(limits, one_stack_per_process);
	tcase_add_test(limits, listener_pool_limit);
	tcase_add_test(limits, reuse_after_time_wait);
	tcase_add_test(limits, destroy_resets_flows);
	suite_add_tcase(s, connect);
	suite_add_tcase(s, limits);
	return ferry_run_suite(s);
}
