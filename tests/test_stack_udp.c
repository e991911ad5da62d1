// SPDX-License-Identifier: MIT
/*
 * The stack's datagram flows: UDP and ICMP echo, which lwIP catches without a handshake.
 *
 * Covered: UDP flows to any destination (full cone: replies from the destination and from
 * elsewhere), IPv6 and the idle timeout, the UDP flow limit and LRU eviction, echo
 * requests dropped when no handler is set, ICMP(v6) echo forwarded to the caller and
 * answered only with the caller's reply; a datagram too big for the caller answered with
 * ICMP too big, and datagrams toward the application written whole above the TUN MTU.
 *
 * The harness is tests/support/stackfake.h: crafted IPv4/IPv6 packets go into
 * ferry_stack_input, a fake transport plays the caller, and every packet the stack writes
 * to the "TUN" is parsed and asserted on (checksums included).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/pkt.h"
#include "tests/support/stackfake.h"

START_TEST(udp_any_destination_and_replies)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_endpoint other = {.family = AF_INET, .port = 3479};
	struct ferry_tpkt t;
	struct ferry_flow *flow;

	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 5353, "198.51.100.7", 53, "query", 5);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(f->udp_opens, 1);
	ck_assert_int_eq(f->udp_datagrams, 1);
	ck_assert_uint_eq(f->udp_len, 5);
	ck_assert_mem_eq(f->udp_data, "query", 5);
	flow = f->udp_flow;
	ck_assert_int_eq(ferry_stack_flow_proto(flow), FERRY_FLOW_UDP);
	ck_assert_uint_eq(ferry_stack_flow_dst(flow)->port, 53);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(f->udp_opens, 1); /* same flow */

	ck_assert_int_eq(ferry_stack_udp_send(flow, NULL, (const uint8_t *)"answer", 6), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, "198.51.100.7", 53));
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 5353));
	ck_assert_mem_eq(t.payload, "answer", 6);

	/* Full cone: a reply from elsewhere keeps its own source. */
	ferry_tpkt_addr(other.addr, "192.0.2.44");
	ck_assert_int_eq(ferry_stack_udp_send(flow, &other, (const uint8_t *)"stun", 4), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, "192.0.2.44", 3479));
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 5353));
	other.family = AF_INET6;
	ck_assert_int_eq(ferry_stack_udp_send(flow, &other, (const uint8_t *)"x", 1), -EINVAL);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(udp_v6_and_idle_timeout)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t;

	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP6, 40000, FERRY_STACKFAKE_DST6, 4433, "quic", 4);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(ferry_stack_udp_send(f->udp_flow, NULL, (const uint8_t *)"hi", 2), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_int_eq(t.family, AF_INET6);
	ck_assert(ferry_tpkt_from(&t, FERRY_STACKFAKE_DST6, 4433));
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP6, 40000));
	ck_assert_uint_le(ferry_stack_next_deadline(f->stack, f->now),
			  f->now + f->cfg.udp_idle_timeout_ms);
	ferry_stackfake_advance(f, f->cfg.udp_idle_timeout_ms - 1);
	ck_assert_int_eq(f->udp_closes, 0);
	ferry_stackfake_advance(f, 1);
	ck_assert_int_eq(f->udp_closes, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_flows, 0);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(udp_limits_and_refusal)
{
	struct ferry_stack_config cfg;
	struct ferry_stack_ops ops = ferry_stackfake_ops;
	struct ferry_stackfake *f;
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.max_udp_flows = 2;
	cfg.evict_min_idle_ms = 5000;
	f = ferry_stackfake_new_cfg(&cfg);
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1001, FERRY_STACKFAKE_DST4, 53, "a", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1002, FERRY_STACKFAKE_DST4, 53, "b", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1003, FERRY_STACKFAKE_DST4, 53, "c", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), -ENOSPC); /* both in use */
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_FLOWS_FULL], 1);
	ferry_stackfake_advance(f, 5000);
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1002, FERRY_STACKFAKE_DST4, 53, "b", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0); /* 1001 is now the oldest */
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1003, FERRY_STACKFAKE_DST4, 53, "c", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(f->udp_closes, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_flows, 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_opened, 3);
	ferry_stackfake_free(f);

	/* No echo handler: echo requests are dropped as refused. */
	ops.icmp_echo = NULL;
	f = ferry_stackfake_new(1500);
	ferry_stack_destroy(f->stack);
	ck_assert_int_eq(ferry_stack_create(&f->stack, &cfg, &ops, f, f->now), 0);
	ferry_tpkt_echo(&t, FERRY_STACKFAKE_APP4, FERRY_STACKFAKE_DST4, 1, 1, "x", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), -EPERM);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_REFUSED], 1);
	ferry_stackfake_free(f);
}
END_TEST

/* A request the caller refuses (no peer routes there) gets an unreachable at once, quoting
 * the request's IP header and its echo header, so ping reports it against the right id. */
START_TEST(icmp_echo_refused_answers_unreachable)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t;
	int v;

	f->echo_ret = -EHOSTUNREACH;
	for (v = 0; v < 2; v++) {
		const char *app = v ? FERRY_STACKFAKE_APP6 : FERRY_STACKFAKE_APP4,
			   *dst = v ? FERRY_STACKFAKE_DST6 : FERRY_STACKFAKE_DST4;
		size_t ihl = v ? 40 : 20;

		ferry_tpkt_echo(&t, app, dst, 0x4242, 9, "pingdata", 8);
		ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
		ferry_stackfake_next_out(f, &t);
		ck_assert(ferry_tpkt_to(&t, app, 0));
		ck_assert(ferry_tpkt_from(&t, dst, 0));
		ck_assert_uint_eq(t.icmp_type, v ? 1 : 3); /* destination unreachable */
		ck_assert_uint_eq(t.icmp_code, v ? 3 : 1); /* address / host unreachable */
		ck_assert_uint_eq(t.payload_len, ihl + 8);
		ck_assert_uint_eq(t.payload[ihl], v ? 128 : 8); /* the quoted echo request */
		ck_assert_uint_eq(t.payload[ihl + 4] << 8 | t.payload[ihl + 5], 0x4242);
		ck_assert_uint_eq(t.payload[ihl + 6] << 8 | t.payload[ihl + 7], 9);
		ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	}
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->echo_unreach, 2);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(icmp_echo_forwarded_not_answered)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t;
	int v;

	for (v = 0; v < 2; v++) {
		const char *app = v ? FERRY_STACKFAKE_APP6 : FERRY_STACKFAKE_APP4,
			   *dst = v ? FERRY_STACKFAKE_DST6 : FERRY_STACKFAKE_DST4;

		ferry_tpkt_echo(&t, app, dst, 0x1234, (uint16_t)(7 + v), "pingdata", 8);
		ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
		ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0); /* no local answer */
		ck_assert_int_eq(f->echoes, v + 1);
		ck_assert_uint_eq(f->echo_src.port, 0x1234);
		ck_assert_uint_eq(f->echo_seq, 7 + v);
		ck_assert_mem_eq(f->echo_data, "pingdata", 8);
		ck_assert_int_eq(ferry_stack_icmp_echo_reply(f->stack, &f->echo_src, &f->echo_dst,
							     f->echo_seq, f->echo_data,
							     f->echo_len),
				 0);
		ferry_stackfake_next_out(f, &t);
		ck_assert_uint_eq(t.icmp_type, v ? 129 : 0);
		ck_assert_uint_eq(t.icmp_id, 0x1234);
		ck_assert_uint_eq(t.icmp_seq, 7 + v);
		ck_assert(ferry_tpkt_to(&t, app, 0));
		ck_assert(ferry_tpkt_from(&t, dst, 0));
		ck_assert_mem_eq(t.payload, "pingdata", 8);
	}
	ferry_stackfake_free(f);
}
END_TEST

/* A datagram the caller cannot carry is answered as a router with too small a next hop
 * answers it: ICMP fragmentation needed (IPv4) or packet too big (IPv6) from the
 * destination, announcing the largest IP packet the caller carries and quoting the
 * datagram's headers (its real length, its ports). The flow stays open. */
START_TEST(udp_too_big_answers_icmp)
{
	static uint8_t big[1403];
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t;
	int v;

	for (v = 0; v < 2; v++) {
		const char *app = v ? FERRY_STACKFAKE_APP6 : FERRY_STACKFAKE_APP4,
			   *dst = v ? FERRY_STACKFAKE_DST6 : FERRY_STACKFAKE_DST4;
		size_t ihl = v ? 40 : 20;
		const uint8_t *q;

		ferry_tpkt_udp(&t, app, (uint16_t)(5000 + v), dst, 443, big, sizeof(big));
		ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
		ck_assert_int_eq(ferry_stack_udp_too_big(f->udp_flow, sizeof(big) - 1), 0);
		ferry_stackfake_next_out(f, &t);
		ck_assert(ferry_tpkt_from(&t, dst, 0));
		ck_assert(ferry_tpkt_to(&t, app, 0));
		ck_assert_uint_eq(t.icmp_type, v ? 2 : 3); /* packet too big / unreachable */
		ck_assert_uint_eq(t.icmp_code, v ? 0 : 4); /* ... fragmentation needed */
		ck_assert_uint_eq(t.icmp_id, 0);
		ck_assert_uint_eq(t.icmp_seq, sizeof(big) - 1 + 8 + ihl); /* the MTU */
		ck_assert_uint_eq(t.payload_len, ihl + 8);
		q = t.payload;
		if (v)
			ck_assert_uint_eq(q[4] << 8 | q[5], sizeof(big) + 8);
		else
			ck_assert_uint_eq(q[2] << 8 | q[3], sizeof(big) + 8 + 20);
		ck_assert_uint_eq(q[ihl] << 8 | q[ihl + 1], 5000 + v);
		ck_assert_uint_eq(q[ihl + 2] << 8 | q[ihl + 3], 443);
		ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	}
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_too_big, 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_flows, 2); /* still open */
	ferry_stackfake_free(f);
}
END_TEST

/* What crossed the tunnel whole reaches the application whole: a datagram or an echo
 * reply larger than the TUN's MTU is written as it is (the kernel's receive path does not
 * check the device MTU); only one no IP packet can hold is refused. */
START_TEST(udp_above_the_tun_mtu_is_written_whole)
{
	static uint8_t big[65508];
	struct ferry_stackfake *f = ferry_stackfake_new(1280);
	struct ferry_tpkt t;

	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 5353, FERRY_STACKFAKE_DST4, 53, "q", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(ferry_stack_udp_send(f->udp_flow, NULL, big, 1402), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.len, 1402 + 28);
	ck_assert_uint_eq(t.payload_len, 1402);
	ck_assert_int_eq(ferry_stack_udp_send(f->udp_flow, NULL, big, sizeof(big) - 1), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.len, 65535);
	ck_assert_int_eq(ferry_stack_udp_send(f->udp_flow, NULL, big, sizeof(big)), -EMSGSIZE);

	ferry_tpkt_echo(&t, FERRY_STACKFAKE_APP4, FERRY_STACKFAKE_DST4, 7, 1, "x", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(
	    ferry_stack_icmp_echo_reply(f->stack, &f->echo_src, &f->echo_dst, 1, big, 1400), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.icmp_type, 0);
	ck_assert_uint_eq(t.len, 1400 + 28);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ferry_stackfake_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack_udp");
	TCase *udp = ferry_tcase("udp_icmp", 10);

	tcase_add_test(udp, udp_any_destination_and_replies);
	tcase_add_test(udp, udp_v6_and_idle_timeout);
	tcase_add_test(udp, icmp_echo_forwarded_not_answered);
	tcase_add_test(udp, icmp_echo_refused_answers_unreachable);
	tcase_add_test(udp, udp_limits_and_refusal);
	tcase_add_test(udp, udp_too_big_answers_icmp);
	tcase_add_test(udp, udp_above_the_tun_mtu_is_written_whole);
	suite_add_tcase(s, udp);
	return ferry_run_suite(s);
}
