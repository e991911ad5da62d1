// SPDX-License-Identifier: MIT
/*
 * 10,000 concurrent idle TCP connections to 10,000 different destinations fit in the
 * configured pools: every one is held, connected, accepted and stays open, lwIP's pcb
 * pool reports no allocation failure, and data still flows on the first and last one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/stats.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/pkt.h"

#define FLOWS 10000

struct scale {
	struct ferry_stack *stack;
	struct ferry_flow *last_open;
	struct ferry_tpkt last; /* the last packet written, parsed */
	uint8_t last_bytes[2048];
	unsigned writes, closed;
	size_t taken;
};

static int tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct scale *s = ctx;

	ck_assert_uint_le(len, sizeof(s->last_bytes));
	memcpy(s->last_bytes, pkt, len);
	ck_assert_int_eq(ferry_tpkt_parse(&s->last, s->last_bytes, len), 0);
	s->writes++;
	return 0;
}

static int tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		    const struct ferry_endpoint *dst)
{
	struct scale *s = ctx;

	(void)src;
	(void)dst;
	s->last_open = flow;
	return 0;
}

static size_t tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct scale *s = ctx;

	(void)flow;
	(void)data;
	s->taken += len;
	return len;
}

static void tcp_eof(void *ctx, struct ferry_flow *flow)
{
	(void)ctx;
	(void)flow;
}

static void tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct scale *s = ctx;

	(void)flow;
	(void)reason;
	s->closed++;
}

static void tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	(void)ctx;
	(void)flow;
	(void)space;
}

static void udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	(void)ctx;
	(void)flow;
	(void)data;
	(void)len;
}

static const struct ferry_stack_ops ops = {
    .tun_write = tun_write,
    .tcp_open = tcp_open,
    .tcp_data = tcp_data,
    .tcp_eof = tcp_eof,
    .tcp_sendable = tcp_sendable,
    .tcp_closed = tcp_closed,
    .udp_datagram = udp_datagram,
};

static int inject(struct scale *s, const struct ferry_tpkt *t)
{
	uint8_t buf[2048];
	size_t n = ferry_tpkt_build(buf, sizeof(buf), t);

	ck_assert_uint_gt(n, 0);
	return ferry_stack_input(s->stack, buf, n);
}

static void dst_of(char *buf, size_t cap, unsigned i)
{
	snprintf(buf, cap, "198.18.%u.%u", i / 250, 1 + i % 250);
}

START_TEST(ten_thousand_idle_flows)
{
	struct ferry_stack_config cfg;
	struct scale s = {0};
	struct ferry_tpkt t;
	uint32_t isn[2] = {0, 0};
	char dst[32];
	unsigned i;

	ferry_stack_config_default(&cfg);
	ck_assert_uint_ge(cfg.max_tcp_flows, FLOWS);
	ck_assert_int_eq(ferry_stack_create(&s.stack, &cfg, &ops, &s, 1000), 0);
	for (i = 0; i < FLOWS; i++) {
		uint16_t sport = (uint16_t)(20000 + i), dport = i % 2 ? 443 : 80;

		dst_of(dst, sizeof(dst), i);
		ferry_tpkt_tcp(&t, "10.9.0.2", sport, dst, dport, FERRY_TPKT_SYN, 100, 0);
		t.mss = 1460;
		ck_assert_int_eq(inject(&s, &t), 0);
		ck_assert_int_eq(ferry_stack_tcp_connected(s.last_open), 0);
		ck_assert_uint_eq(s.last.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
		ck_assert(ferry_tpkt_from(&s.last, dst, dport));
		if (i == 0 || i == FLOWS - 1)
			isn[i == 0 ? 0 : 1] = s.last.seq + 1;
		ferry_tpkt_tcp(&t, "10.9.0.2", sport, dst, dport, FERRY_TPKT_ACK, 101,
			       s.last.seq + 1);
		ck_assert_int_eq(inject(&s, &t), 0);
	}
	ck_assert_uint_eq(ferry_stack_get_stats(s.stack)->tcp_flows, FLOWS);
	ck_assert_uint_eq(ferry_stack_get_stats(s.stack)->tcp_accepted, FLOWS);
	ck_assert_uint_eq(s.closed, 0);
	ck_assert_uint_ge(lwip_stats.memp[MEMP_TCP_PCB]->used, FLOWS);
	ck_assert_uint_eq(lwip_stats.memp[MEMP_TCP_PCB]->err, 0);

	/* The oldest and the newest connection still carry data. */
	for (i = 0; i < 2; i++) {
		unsigned k = i ? FLOWS - 1 : 0;
		uint16_t sport = (uint16_t)(20000 + k), dport = k % 2 ? 443 : 80;

		dst_of(dst, sizeof(dst), k);
		ferry_tpkt_tcp(&t, "10.9.0.2", sport, dst, dport, FERRY_TPKT_ACK | FERRY_TPKT_PSH,
			       101, isn[i]);
		t.payload = (const uint8_t *)"ping";
		t.payload_len = 4;
		ck_assert_int_eq(inject(&s, &t), 0);
	}
	ck_assert_uint_eq(s.taken, 8);
	ferry_stack_destroy(s.stack);
	ck_assert_uint_eq(s.closed, FLOWS);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("stack_scale");
	TCase *tc = ferry_tcase("scale", 60);

	tcase_add_test(tc, ten_thousand_idle_flows);
	suite_add_tcase(suite, tc);
	return ferry_run_suite(suite);
}
