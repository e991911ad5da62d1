// SPDX-License-Identifier: MIT
/*
 * The whole stack in a loopback, at load: 100 real TCP connections go into a TUN,
 * through ferry's stack, across a fake transport, out of egress as real sockets, to real
 * servers, and back -- all in this process, with byte-exact checks of every stream.
 *
 * Each client sends a header naming it and then its own seeded stream; its server checks
 * every byte and answers with another seeded stream, which the client checks. Two
 * connections have a server that does not read, and two a client that does not read,
 * until backpressure has crossed the whole path (both sides of the relay refused at once
 * and the sender's socket is full); a fifth of the clients send their FIN only after the
 * server's (the destination's half-close first), the others before it. Every connection
 * must end cleanly on both sides, and no counter of the stack or egress may show a drop.
 *
 * The harness is tests/support/relay.h (namespaces, TUN, stack, fake transport, egress,
 * the loop); the applications are tests/support/relay_apps.h. The smaller cases are in
 * tests/test_relay_edges.c.
 *
 * Needs root (namespaces, CAP_NET_ADMIN) and /dev/net/tun; otherwise the suite exits 77,
 * which CTest reports as skipped -- not as passed.
 */
#include <stdio.h>

#include "stack/egress.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/relay.h"
#include "tests/support/relay_apps.h"

#define CONNS	  100
#define DESTS	  FERRY_RELAY_APPS_DESTS
#define HELD_UP	  FERRY_RELAY_APPS_HELD_UP /* connections 0, 1: the server holds its reads */
#define HELD_DOWN 2			   /* connections 2, 3: the client holds its reads */
#define HELD_SIZE ((size_t)1 << 20)
#define SIZE_MIN  ((size_t)4 << 10)
#define SIZE_SPAN ((size_t)156 << 10)

_Static_assert(CONNS <= FERRY_RELAY_CONNS_MAX, "every connection needs a path of its own");

static size_t size_of(unsigned i, unsigned salt)
{
	return SIZE_MIN +
	       (size_t)(ferry_relay_apps_mix64(0x73697a6500000000ull + (uint64_t)i * 2 + salt) %
			SIZE_SPAN);
}

static bool all_connections_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == CONNS && t->servers_done == CONNS &&
	       ferry_relay_counters(t->relay)->live_flows == 0 &&
	       ferry_relay_stack_stats(t->relay)->tcp_flows == 0 &&
	       ferry_relay_egress_stats(t->relay)->tcp_flows == 0;
}

/* The held connections prove backpressure end to end, and that each side resumed. */
static void check_backpressure(const struct ferry_relay_apps *t)
{
	unsigned i;

	for (i = 0; i < HELD_UP; i++) {
		const struct ferry_relay_path *p = ferry_relay_path(t->relay, (int)i);

		ck_assert_msg(p->up_pressure && p->egress_short_sends > 0 &&
				  p->egress_sendables > 0 && p->stack_short_takes > 0 &&
				  p->stack_writables > 0 && t->clients[i].blocked_under_pressure,
			      "connection %u: no backpressure toward the destination", i);
	}
	for (i = HELD_UP; i < HELD_UP + HELD_DOWN; i++) {
		const struct ferry_relay_path *p = ferry_relay_path(t->relay, (int)i);

		ck_assert_msg(p->down_pressure && p->stack_short_sends > 0 &&
				  p->stack_sendables > 0 && p->egress_short_takes > 0 &&
				  p->egress_writables > 0 &&
				  ferry_relay_apps_server_of(t, (int)i)->blocked_under_pressure,
			      "connection %u: no backpressure toward the application", i);
	}
}

static void check_counters(const struct ferry_relay_apps *t)
{
	const struct ferry_stack_stats *ss = ferry_relay_stack_stats(t->relay);
	const struct ferry_egress_stats *es = ferry_relay_egress_stats(t->relay);
	static const enum ferry_stack_drop never[] = {
	    FERRY_STACK_DROP_SHORT,	 FERRY_STACK_DROP_VERSION, FERRY_STACK_DROP_HEADER,
	    FERRY_STACK_DROP_FRAGMENT,	 FERRY_STACK_DROP_OPTIONS, FERRY_STACK_DROP_NOMEM,
	    FERRY_STACK_DROP_FLOWS_FULL, FERRY_STACK_DROP_REFUSED,
	};
	size_t k;

	for (k = 0; k < sizeof(never) / sizeof(never[0]); k++)
		ck_assert_msg(ss->drops[never[k]] == 0, "stack drop counter %d is %llu", never[k],
			      (unsigned long long)ss->drops[never[k]]);
	ck_assert_uint_eq(ss->tcp_opened, CONNS);
	ck_assert_uint_eq(ss->tcp_accepted, CONNS);
	ck_assert_uint_eq(ss->tcp_closed, CONNS);
	ck_assert_uint_eq(ss->tcp_refused + ss->tcp_unreach + ss->tcp_evicted, 0);
	ck_assert_uint_eq(ss->tcp_idle_timeouts, 0);
	ck_assert_uint_eq(ss->tcp_flows, 0);
	ck_assert_uint_eq(es->tcp_opened, CONNS);
	ck_assert_uint_eq(es->tcp_connected, CONNS);
	ck_assert_uint_eq(es->tcp_failed, 0);
	ck_assert_uint_eq(es->tcp_closed, CONNS);
	ck_assert_uint_eq(es->tcp_flows, 0);
	ck_assert_uint_eq(es->denied, 0);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->tun_write_errors, 0);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->opened, CONNS);
}

START_TEST(hundred_connections_byte_exact)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	size_t up = 0, down = 0;
	uint64_t start;
	unsigned i;

	ferry_relay_enter_a(t->relay);
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_client_add(
		    t, i < HELD_UP ? HELD_SIZE : size_of(i, 0),
		    i >= HELD_UP && i < HELD_UP + HELD_DOWN ? HELD_SIZE : size_of(i, 1));
	ferry_relay_enter_b();
	ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_2);
	ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_2);
	ferry_relay_start(t->relay);
	start = ferry_relay_clock_ms();
	for (i = 0; i < CONNS; i++) {
		t->clients[i].hold_reads = i >= HELD_UP && i < HELD_UP + HELD_DOWN;
		t->clients[i].fin_after_eof = i % 5 == 4;
		ferry_relay_apps_client_connect(t, i, &t->dests[i % DESTS]);
	}
	ferry_relay_run(t->relay, all_connections_done, "100 connections");
	for (i = 0; i < CONNS; i++) {
		ferry_relay_apps_check_connection(t, i);
		ck_assert_msg(ferry_relay_path(t->relay, (int)i)->peer_first ==
				  t->clients[i].fin_after_eof,
			      "connection %d: FIN order not as planned", i);
		up += t->clients[i].up_len;
		down += t->clients[i].down_len;
	}
	check_backpressure(t);
	check_counters(t);
	printf("relay: %d connections, %zu bytes up, %zu down, in %llu ms\n", CONNS, up, down,
	       (unsigned long long)(ferry_relay_clock_ms() - start));
	ferry_relay_apps_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relay_streams");
	TCase *tcp = ferry_tcase("tcp", 30);

	if (!ferry_relay_available()) {
		printf("relay_streams: needs root and /dev/net/tun; skipped\n");
		return FERRY_RELAY_SKIP;
	}
	tcase_add_test(tcp, hundred_connections_byte_exact);
	suite_add_tcase(s, tcp);
	return ferry_run_suite(s);
}
