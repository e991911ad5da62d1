// SPDX-License-Identifier: MIT
/*
 * The stack's flows as the daemon sees them: ids that survive the reuse of a flow's slot,
 * per-flow counters, the walk that `ferry status` lists, closing a UDP flow with an ICMP
 * error toward the application, a TUN that says it is full, the callback guard (input and
 * timers refused from inside any callback), and eviction before the newcomer's own
 * handling.
 *
 * The harness is tests/support/stackfake.h (crafted packets in, every packet out parsed).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/pkt.h"
#include "tests/support/stackfake.h"

START_TEST(ids_survive_slot_reuse)
{
	struct ferry_stackfake_app a = ferry_stackfake_app4(43000), b = ferry_stackfake_app4(43001);
	struct ferry_stack_config cfg;
	struct ferry_stackfake *f;
	struct ferry_tpkt t;
	uint64_t id_a, id_b;

	/* two slots in all: a's, and one a UDP flow takes, so b must reuse a's */
	ferry_stack_config_default(&cfg);
	cfg.max_tcp_flows = 1;
	cfg.max_udp_flows = 1;
	f = ferry_stackfake_new_cfg(&cfg);
	ferry_stackfake_establish(f, &a);
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 40000, FERRY_STACKFAKE_DST4, 53, "q", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	id_a = ferry_stack_flow_id(a.flow);
	ck_assert_uint_ne(id_a, 0);
	ck_assert_ptr_eq(ferry_stack_flow_lookup(f->stack, id_a), a.flow);
	ck_assert_ptr_null(ferry_stack_flow_lookup(f->stack, 0));
	ck_assert_ptr_null(ferry_stack_flow_lookup(f->stack, id_a + (1ull << 32)));
	ck_assert_ptr_null(ferry_stack_flow_lookup(f->stack, id_a + 100));

	ferry_stack_tcp_reset(a.flow);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ck_assert_ptr_null(ferry_stack_flow_lookup(f->stack, id_a));

	/* The freed slot is taken by the next flow: a new id, the old one still finds nothing. */
	ferry_stackfake_establish(f, &b);
	id_b = ferry_stack_flow_id(b.flow);
	ck_assert_ptr_eq(b.flow, a.flow);
	ck_assert_uint_ne(id_b, id_a);
	ck_assert_ptr_null(ferry_stack_flow_lookup(f->stack, id_a));
	ck_assert_ptr_eq(ferry_stack_flow_lookup(f->stack, id_b), b.flow);
	ferry_stackfake_free(f);
}
END_TEST

struct walk_seen {
	unsigned tcp, udp;
	struct ferry_stack_flow_info last_tcp, last_udp;
};

static void on_walk(void *ctx, const struct ferry_stack_flow_info *info)
{
	struct walk_seen *w = ctx;

	if (info->proto == FERRY_FLOW_TCP) {
		w->tcp++;
		w->last_tcp = *info;
	} else {
		w->udp++;
		w->last_udp = *info;
	}
}

START_TEST(counters_and_walk)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(43010);
	struct ferry_stack_flow_info info;
	struct walk_seen w = {0};
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "hello", 5);
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"world!", 6), 6);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t);
	ferry_stack_flow_info(a.flow, &info);
	ck_assert_uint_eq(info.id, ferry_stack_flow_id(a.flow));
	ck_assert_str_eq(info.state, "open");
	ck_assert_uint_eq(info.count.bytes_in, 5);
	ck_assert_uint_eq(info.count.bytes_out, 6);
	ck_assert_uint_eq(info.count.packets_in, 3);  /* SYN, ACK, data */
	ck_assert_uint_eq(info.count.packets_out, 3); /* SYN-ACK, ACK, data */
	ck_assert_uint_eq(info.src.port, 43010);
	ck_assert_uint_eq(info.created, 1000);

	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 5353, FERRY_STACKFAKE_DST4, 53, "query", 5);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(ferry_stack_udp_send(f->udp_flow, NULL, (const uint8_t *)"answer!", 7), 0);
	ferry_stackfake_next_out(f, &t);

	ck_assert_uint_eq(ferry_stack_flows_walk(f->stack, on_walk, &w), 2);
	ck_assert_uint_eq(w.tcp, 1);
	ck_assert_uint_eq(w.udp, 1);
	ck_assert_uint_eq(w.last_udp.count.bytes_in, 5);
	ck_assert_uint_eq(w.last_udp.count.bytes_out, 7);
	ck_assert_uint_eq(w.last_udp.count.packets_in, 1);
	ck_assert_uint_eq(w.last_udp.count.packets_out, 1);
	ck_assert_uint_eq(w.last_udp.dst.port, 53);
	ferry_stackfake_free(f);
}
END_TEST

/* The caller closes a UDP flow with an error: the application gets ICMP unreachable
 * quoting its datagram's headers, so its connected socket sees the error. */
static void udp_close_case(const char *app, const char *dst, int err, uint8_t type, uint8_t code)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t, q;
	struct ferry_flow *flow;
	uint64_t id;

	ferry_tpkt_udp(&t, app, 40000, dst, 9999, "knock", 5);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	flow = f->udp_flow;
	id = ferry_stack_flow_id(flow);
	ck_assert_int_eq(ferry_stack_udp_close(flow, err), 0);
	ck_assert_ptr_null(ferry_stack_flow_lookup(f->stack, id));
	ck_assert_int_eq(f->udp_closes, 0); /* the caller's own close: no callback */
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, dst, 0));
	ck_assert_uint_eq(t.icmp_type, type);
	ck_assert_uint_eq(t.icmp_code, code);
	/* the quote: the application's IP and UDP headers, ports as it sent them */
	ck_assert_int_eq(ferry_tpkt_parse(&q, t.payload, t.payload_len), -EINVAL); /* cut */
	ck_assert_uint_ge(t.payload_len, 28);
	ck_assert_uint_eq(t.payload[t.payload_len - 8] << 8 | t.payload[t.payload_len - 7], 40000);
	ck_assert_uint_eq(t.payload[t.payload_len - 6] << 8 | t.payload[t.payload_len - 5], 9999);
	ck_assert_uint_eq(t.payload[t.payload_len - 4] << 8 | t.payload[t.payload_len - 3], 13);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_unreach, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_flows, 0);
	ferry_stackfake_free(f);
}

START_TEST(udp_close_answers_port_unreachable)
{
	udp_close_case(FERRY_STACKFAKE_APP4, FERRY_STACKFAKE_DST4, -ECONNREFUSED, 3, 3);
	udp_close_case(FERRY_STACKFAKE_APP6, FERRY_STACKFAKE_DST6, -ECONNREFUSED, 1, 4);
	udp_close_case(FERRY_STACKFAKE_APP4, FERRY_STACKFAKE_DST4, -EACCES, 3, 13);
	udp_close_case(FERRY_STACKFAKE_APP6, FERRY_STACKFAKE_DST6, -EHOSTUNREACH, 1, 3);
}
END_TEST

START_TEST(udp_close_silently)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_tpkt t;

	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 40001, FERRY_STACKFAKE_DST4, 53, "q", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(ferry_stack_udp_close(f->udp_flow, 0), 0);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	/* the next datagram opens a new flow */
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(f->udp_opens, 2);
	ferry_stackfake_free(f);
}
END_TEST

/* A full TUN is a counted drop; TCP sends the segment again later. */
START_TEST(tun_full_is_counted_and_tcp_retransmits)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(43020);
	struct ferry_tpkt t;

	ferry_stackfake_app_syn(f, &a, 0);
	f->tun_full = 1;
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tun_full, 1);
	f->tun_full = 0;
	ferry_stackfake_advance(f, 1500); /* lwIP's SYN-ACK retransmission timer */
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ferry_stackfake_free(f);
}
END_TEST

/* Input and batches fed from inside callbacks are refused, whichever callback: a packet
 * processed there could end the flow the callback is about, mid-update. */
START_TEST(input_refused_inside_every_callback)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(43030);
	struct ferry_tpkt t;

	f->input_in_open = 1; /* tcp_open runs outside lwIP */
	f->nested_input_ret = 0;
	f->nested_batch_ret = 99;
	ferry_stackfake_app_syn(f, &a, 0);
	ck_assert_int_eq(f->nested_input_ret, -EDEADLK);
	ck_assert_uint_eq(f->nested_batch_ret, 0);
	f->input_in_open = 0;
	ferry_stack_tcp_refused(f->opened[0], -ECONNREFUSED);
	ferry_stackfake_next_out(f, &t);

	f->input_in_udp = 1;
	f->nested_input_ret = 0;
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 40002, FERRY_STACKFAKE_DST4, 53, "q", 1);
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	ck_assert_int_eq(f->nested_input_ret, -EDEADLK);
	f->input_in_udp = 0;

	/* tcp_data reached through ferry_stack_tcp_writable, outside lwIP */
	a = ferry_stackfake_app4(43031);
	ferry_stackfake_establish(f, &a);
	f->take_limit = 0;
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "abc", 3);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t);
	f->take_limit = SIZE_MAX;
	f->input_in_data = 1;
	f->nested_input_ret = 0;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_int_eq(f->nested_input_ret, -EDEADLK);
	ck_assert_uint_eq(f->nrx, 3);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_VERSION], 0);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(eviction_runs_before_the_newcomer)
{
	struct ferry_stack_config cfg;
	struct ferry_stackfake *f;
	struct ferry_stackfake_app a = ferry_stackfake_app4(43040), b = ferry_stackfake_app4(43041);
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.max_tcp_flows = 1;
	cfg.evict_min_idle_ms = 1000;
	cfg.keepalive_idle_ms = 0;
	f = ferry_stackfake_new_cfg(&cfg);
	ferry_stackfake_establish(f, &a);
	ferry_stackfake_advance(f, 2000);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t);
	f->input_in_open = 1; /* the newcomer's tcp_open checks it is not inside a callback */
	ferry_stackfake_app_syn(f, &b, 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_ptr_eq(f->closed_flow, a.flow);
	ck_assert_uint_eq(f->nopened, 2);
	ck_assert_int_eq(f->nested_input_ret, -EDEADLK);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_evicted, 1);
	ferry_stackfake_next_out(f, &t); /* the victim's RST */
	ck_assert(ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, 43040));
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ferry_stackfake_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack_flows");
	TCase *tc = ferry_tcase("flows", 10);

	tcase_add_test(tc, ids_survive_slot_reuse);
	tcase_add_test(tc, counters_and_walk);
	tcase_add_test(tc, udp_close_answers_port_unreachable);
	tcase_add_test(tc, udp_close_silently);
	tcase_add_test(tc, tun_full_is_counted_and_tcp_retransmits);
	tcase_add_test(tc, input_refused_inside_every_callback);
	tcase_add_test(tc, eviction_runs_before_the_newcomer);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
