// SPDX-License-Identifier: MIT
/*
 * The whole stack in a loopback, one flow at a time: what other than a healthy TCP stream
 * must cross it. A refused connect and an unroutable destination reach the application as
 * ECONNREFUSED and ENETUNREACH; UDP replies come from the destination and, full cone,
 * from another address; ping is answered by the real destination; and the destination's
 * FIN arriving while the application's last bytes and FIN still wait in the stack (the
 * clean close lwIP then reports must not cost those bytes).
 *
 * The harness is tests/support/relay.h (namespaces, TUN, stack, fake transport, egress,
 * the loop); the applications are tests/support/relay_apps.h. The 100 connections at once
 * are tests/test_relay_streams.c.
 *
 * Needs root (namespaces, CAP_NET_ADMIN) and /dev/net/tun; otherwise the suite exits 77,
 * which CTest reports as skipped -- not as passed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stack/egress.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/relay.h"
#include "tests/support/relay_apps.h"

#define UDP_COUNT FERRY_RELAY_APPS_UDP_COUNT
#define PINGS	  FERRY_RELAY_APPS_PINGS
#define PING_LEN  FERRY_RELAY_APPS_PING_LEN

/* ---- refused and unreachable ---------------------------------------------------------- */

static bool both_failed(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == 2 && ferry_relay_counters(t->relay)->live_flows == 0 &&
	       ferry_relay_stack_stats(t->relay)->tcp_flows == 0;
}

START_TEST(refused_and_unreachable)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_endpoint closed, nowhere;
	const struct ferry_stack_stats *ss;
	const struct ferry_egress_stats *es;
	int fd;

	ferry_relay_enter_a(t->relay);
	ferry_relay_apps_client_add(t, 1, 0);
	ferry_relay_apps_client_add(t, 1, 0);
	ferry_relay_enter_b();
	fd = ferry_relay_apps_bound_socket(SOCK_STREAM,
					   FERRY_RELAY_DST_ADDR_1); /* a port nobody listens on */
	ferry_relay_apps_ep4(&closed, FERRY_RELAY_DST_ADDR_1, ferry_relay_apps_local_port(fd));
	close(fd);
	ferry_relay_apps_ep4(&nowhere, FERRY_RELAY_NO_ROUTE, 80);
	ferry_relay_start(t->relay);
	ferry_relay_apps_client_connect(t, 0, &closed);
	ferry_relay_apps_client_connect(t, 1, &nowhere);
	ferry_relay_run(t->relay, both_failed, "refused and unreachable");
	ck_assert_msg(t->clients[0].err == ECONNREFUSED, "refused: client saw %s",
		      strerror(t->clients[0].err));
	ck_assert_msg(t->clients[1].err == ENETUNREACH, "unreachable: client saw %s",
		      strerror(t->clients[1].err));
	ck_assert_int_eq(ferry_relay_path(t->relay, 0)->egress_reason, -ECONNREFUSED);
	ck_assert_int_eq(ferry_relay_path(t->relay, 1)->egress_reason, -ENETUNREACH);
	ss = ferry_relay_stack_stats(t->relay);
	es = ferry_relay_egress_stats(t->relay);
	ck_assert_uint_eq(ss->tcp_opened, 2);
	ck_assert_uint_eq(ss->tcp_refused, 1);
	ck_assert_uint_eq(ss->tcp_unreach, 1);
	ck_assert_uint_eq(ss->tcp_accepted, 0);
	ck_assert_uint_eq(es->tcp_failed, 2);
	ck_assert_uint_eq(es->tcp_connected, 0);
	ck_assert_uint_eq(es->tcp_flows, 0);
	ferry_relay_apps_free(t);
}
END_TEST

/* ---- UDP ------------------------------------------------------------------------------ */

static bool udp_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->udp_replies == UDP_COUNT && t->udp_elsewhere == 1;
}

START_TEST(udp_replies_from_destination_and_elsewhere)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct sockaddr_in to;
	uint8_t buf[1500];
	unsigned seq;
	int k;

	ferry_relay_enter_a(t->relay);
	t->uclient = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_CLIENT_ADDR);
	ferry_relay_enter_b();
	t->userver[0] = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_DST_ADDR_1);
	t->userver[1] = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_DST_ADDR_2);
	ferry_relay_apps_ep4(&t->udst[0], FERRY_RELAY_DST_ADDR_1,
			     ferry_relay_apps_local_port(t->userver[0]));
	ferry_relay_apps_ep4(&t->udst[1], FERRY_RELAY_DST_ADDR_2,
			     ferry_relay_apps_local_port(t->userver[1]));
	ferry_relay_start(t->relay);
	ferry_relay_watch(t->relay, t->uclient, FERRY_RELAY_APPS_K_UCLIENT, 0, EPOLLIN);
	for (k = 0; k < 2; k++)
		ferry_relay_watch(t->relay, t->userver[k], FERRY_RELAY_APPS_K_USERVER, (uint32_t)k,
				  EPOLLIN);
	to = ferry_relay_apps_sin_of(&t->udst[0]);
	for (seq = 0; seq < UDP_COUNT; seq++) {
		ferry_relay_apps_udp_fill(seq, buf);
		ck_assert_int_eq(sendto(t->uclient, buf, ferry_relay_apps_udp_len(seq), 0,
					(struct sockaddr *)&to, sizeof(to)),
				 (ssize_t)ferry_relay_apps_udp_len(seq));
	}
	ferry_relay_run(t->relay, udp_done, "UDP");
	ck_assert_uint_eq(t->udp_server_got, UDP_COUNT);
	ck_assert_uint_eq(ferry_relay_stack_stats(t->relay)->udp_opened, 1);
	ck_assert_uint_eq(ferry_relay_egress_stats(t->relay)->udp_opened, 1);
	ck_assert_uint_eq(ferry_relay_egress_stats(t->relay)->udp_send_drops, 0);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->live_flows, 1);
	ferry_relay_apps_free(t); /* the stack ends the flow: udp_closed closes egress's socket */
}
END_TEST

/* ---- ICMP echo ------------------------------------------------------------------------ */

static bool pings_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->ping_replies == PINGS;
}

START_TEST(ping_answered_by_the_real_destination)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	const struct ferry_egress_stats *es;
	struct sockaddr_in to;
	uint8_t buf[8 + PING_LEN];
	unsigned seq;

	ferry_relay_enter_a(t->relay);
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
	t->ping = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
	ck_assert_msg(t->ping >= 0, "ping socket: %s", strerror(errno));
	ferry_relay_enter_b();
	/* and in B, for egress's ping socket */
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
	ferry_relay_apps_ep4(&t->udst[0], FERRY_RELAY_DST_ADDR_1, 0);
	ferry_relay_start(t->relay);
	ferry_relay_watch(t->relay, t->ping, FERRY_RELAY_APPS_K_PING, 0, EPOLLIN);
	to = ferry_relay_apps_sin_of(&t->udst[0]);
	for (seq = 1; seq <= PINGS; seq++) {
		ferry_relay_apps_ping_fill(seq, buf);
		ck_assert_int_eq(
		    sendto(t->ping, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to)),
		    (ssize_t)sizeof(buf));
	}
	ferry_relay_run(t->relay, pings_done, "ping");
	es = ferry_relay_egress_stats(t->relay);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->pings_forwarded, PINGS);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->ping_replies_relayed, PINGS);
	ck_assert_uint_eq(es->pings_sent, PINGS);
	ck_assert_uint_eq(es->ping_replies, PINGS);
	ck_assert_uint_eq(es->ping_unmatched, 0);
	ferry_relay_apps_free(t);
}
END_TEST

/* ---- known bug: the destination's FIN while the application's bytes are queued ------- */

static bool client_fin_acked(const void *arg)
{
	const struct ferry_relay_apps *t = arg;
	struct tcp_info ti;
	socklen_t sl = sizeof(ti);

	if (!t->clients[0].wr_done || t->nservers != 1 || t->servers[0].conn != 0)
		return false;
	ck_assert_int_eq(getsockopt(t->clients[0].fd, IPPROTO_TCP, TCP_INFO, &ti, &sl), 0);
	return ti.tcpi_state == TCP_FIN_WAIT2;
}

static bool client_finished(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == 1;
}

static bool one_connection_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == 1 && t->servers_done == 1 &&
	       ferry_relay_counters(t->relay)->live_flows == 0 &&
	       ferry_relay_stack_stats(t->relay)->tcp_flows == 0;
}

/*
 * The application sent QUEUED_UP bytes and its FIN; the destination does not read, so
 * part of the bytes wait in the stack's flow (taken by lwIP, not yet by the caller) with
 * the FIN behind them, and lwIP's pcb is in CLOSE_WAIT. Now the destination answers and
 * closes: ferry_stack_tcp_shutdown sends our FIN (LAST_ACK), the application acknowledges
 * it, and lwIP, having closed the pcb without TF_RXCLOSED, calls the error callback with
 * ERR_CLSD. The application saw a clean close, so the queued bytes and the FIN must
 * still reach the caller, then tcp_closed(0). (The stack once took ERR_CLSD for an abort:
 * tcp_closed(-ECONNABORTED), the bytes dropped, the destination reset.)
 */
#define QUEUED_UP ((size_t)224 << 10) /* below lwIP's 256 KiB window: the FIN gets in */

START_TEST(destination_fin_while_application_bytes_queued)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	const struct ferry_relay_path *p = ferry_relay_path(t->relay, 0);

	ferry_relay_enter_a(t->relay);
	ferry_relay_apps_client_add(t, QUEUED_UP, 1000);
	ferry_relay_enter_b();
	ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_start(t->relay);
	t->early_fin = true;
	t->hold_server_writes = true;
	ferry_relay_apps_client_connect(
	    t, 0, &t->dests[0]); /* connection 0: the server holds its reads */
	ferry_relay_run(t->relay, client_fin_acked, "client's FIN acknowledged by the stack");
	ck_assert_msg(ferry_relay_up_stalled(t->relay, 0) && t->servers[0].rcvd < QUEUED_UP,
		      "precondition: the application's bytes should wait in the stack");
	t->hold_server_writes = false;
	ferry_relay_apps_server_watch(t, 0);
	ferry_relay_run(t->relay, client_finished, "reply and FIN to the client");
	ck_assert_msg(!p->stack_ended || p->stack_reason == 0,
		      "the stack ended the flow with %d while the application's bytes and FIN "
		      "were still queued in it (the destination has %zu of %zu bytes)",
		      p->stack_reason, t->servers[0].rcvd, QUEUED_UP);
	t->servers[0].hold_reads = false;
	ferry_relay_apps_server_watch(t, 0);
	ferry_relay_run(t->relay, one_connection_done, "the rest of the bytes to the destination");
	/* The destination's FIN crossed first: the application's waited behind its bytes. */
	ck_assert(p->peer_first);
	ferry_relay_apps_check_connection(t, 0);
	ferry_relay_apps_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relay_edges");
	TCase *other = ferry_tcase("refused_udp_icmp", 10);

	if (!ferry_relay_available()) {
		printf("relay_edges: needs root and /dev/net/tun; skipped\n");
		return FERRY_RELAY_SKIP;
	}
	tcase_add_test(other, refused_and_unreachable);
	tcase_add_test(other, udp_replies_from_destination_and_elsewhere);
	tcase_add_test(other, ping_answered_by_the_real_destination);
	tcase_add_test(other, destination_fin_while_application_bytes_queued);
	suite_add_tcase(s, other);
	return ferry_run_suite(s);
}
