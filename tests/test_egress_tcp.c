// SPDX-License-Identifier: MIT
/*
 * Egress TCP with real sockets: the far half of a connection the tunnel carries.
 *
 * Covered: connect with the configured mark and reset toward the destination; refused,
 * network unreachable, timed out (a SYN into a TUN nobody reads) and host unreachable
 * (an ICMP error written into that TUN); one megabyte relayed both ways with
 * backpressure both ways; half-close from either side; resets from the destination
 * (also after its FIN) and from inside a callback.
 *
 * The harness is tests/support/egressrig.h: each test moves into a network namespace of
 * its own with only lo up, so every destination is a socket the test holds; a poll() loop
 * stands in for the daemon's and a fake transport with a small budget plays the tunnel.
 * Needs root; without it the suite exits 77, which CTest reports as skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stack/egress.h"
#include "tests/support/egressrig.h"
#include "tests/support/netns.h"
#include "tests/support/fixture.h"
#include "tun/netlink.h"
#include "tun/tun.h"

#define RELAY_SIZE ((size_t)1 << 20)

START_TEST(connect_mark_and_reset_toward_destination)
{
	struct ferry_egress_config cfg;
	struct ferry_egressrig h;
	uint32_t mark = 0;
	socklen_t sl = sizeof(mark);
	char c;
	int lfd, fd;

	ferry_test_netns_enter();
	ferry_egress_config_default(&cfg);
	cfg.mark = 0x77;
	ferry_egressrig_setup(&h, &cfg, true);
	fd = ferry_egressrig_connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(h.n_watch, 1);
	ck_assert_int_eq(getsockopt(h.w[0].fd, SOL_SOCKET, SO_MARK, &mark, &sl), 0);
	ck_assert_uint_eq(mark, 0x77);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 1);

	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 9), -ENOENT);
	ck_assert_int_eq(ferry_egress_tcp_reset(h.eg, 1), 0);
	ck_assert_int_eq(ferry_egress_tcp_reset(h.eg, 1), -ENOENT);
	ck_assert_int_eq(h.n_watch, 0);
	{
		struct pollfd p = {.fd = fd, .events = POLLIN};

		ck_assert_int_eq(poll(&p, 1, 1000), 1);
	}
	ck_assert_int_eq(recv(fd, &c, 1, 0), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert(!h.closed[1]); /* the caller's own reset has no callback */
	close(fd);
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(refused_and_unreachable)
{
	struct ferry_endpoint dst;
	struct ferry_egressrig h;
	uint16_t port;
	int lfd;

	ferry_test_netns_enter();
	ferry_egressrig_setup(&h, NULL, true);
	lfd = ferry_egressrig_listener("127.0.0.1", &port);
	close(lfd); /* a port nobody listens on */
	ferry_egressrig_ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(ferry_egressrig_open_wait(&h, 1, &dst, 2000), -ECONNREFUSED);
	ferry_egressrig_ep(&dst, "::1", port);
	ck_assert_int_eq(ferry_egressrig_open_wait(&h, 2, &dst, 2000), -ECONNREFUSED);
	/* No route at all in this namespace beyond lo. */
	ferry_egressrig_ep(&dst, "10.99.0.1", 80);
	ck_assert_int_eq(ferry_egressrig_open_wait(&h, 3, &dst, 2000), -ENETUNREACH);
	ferry_egressrig_ep(&dst, "2001:db8::1", 80);
	ck_assert_int_eq(ferry_egressrig_open_wait(&h, 4, &dst, 2000), -ENETUNREACH);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	ck_assert_int_eq(h.n_watch, 0);
	ferry_egressrig_teardown(&h);
}
END_TEST

/* A TUN with 10.66.0.1/24: packets to 10.66.0.0/24 go to it and nobody else. */
static void tun_up(struct ferry_tun *tun)
{
	uint8_t local[4] = {10, 66, 0, 1};
	struct ferry_nl nl;

	ck_assert_int_eq(ferry_tun_open(tun, "egresst0"), 0);
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, tun->ifindex, 1, 1400), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun->ifindex, AF_INET, local, 24), 0);
	ferry_nl_close(&nl);
}

static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

START_TEST(connect_timeout)
{
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst;
	struct ferry_tun tun;
	struct ferry_egressrig h;
	uint64_t start;

	ferry_test_netns_enter();
	/* A SYN routed into a TUN that nobody reads is never answered. */
	tun_up(&tun);

	ferry_egress_config_default(&cfg);
	cfg.connect_timeout_ms = 200;
	ferry_egressrig_setup(&h, &cfg, false);
	ferry_egressrig_ep(&dst, "10.66.0.2", 80);
	start = ferry_egressrig_now_ms();
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, ferry_egressrig_app_src(), &dst, start), 0);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg, 0), start + 200);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), -EINVAL); /* still connecting */
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"x", 1), 0);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.failed[1], 2000);
	ck_assert_int_eq(h.failed[1], -ETIMEDOUT);
	ck_assert_uint_ge(ferry_egressrig_now_ms() - start, 200);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg, 0), UINT64_MAX);
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_failed, 1);
	ferry_egressrig_teardown(&h);
	ferry_tun_close(&tun);
}
END_TEST

static uint8_t pattern(size_t i, unsigned int salt)
{
	return (uint8_t)((i * 131 + salt) ^ (i >> 9));
}

START_TEST(host_unreachable_from_icmp)
{
	uint8_t syn[1500], icmp[20 + 8 + 28];
	struct ferry_endpoint dst;
	struct ferry_tun tun;
	struct ferry_egressrig h;
	ssize_t n = -1;
	uint16_t sum;
	int tries;

	ferry_test_netns_enter();
	tun_up(&tun);
	ferry_egressrig_setup(&h, NULL, false);
	ferry_egressrig_ep(&dst, "10.66.0.2", 80);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 0);
	for (tries = 0; tries < 50; tries++) {
		struct pollfd p = {.fd = tun.fd, .events = POLLIN};

		ck_assert_int_ge(poll(&p, 1, 40), 0);
		n = ferry_tun_read(&tun, syn, sizeof(syn));
		if (n >= 40 && syn[0] == 0x45 && syn[9] == IPPROTO_TCP &&
		    memcmp(syn + 16, dst.addr, 4) == 0)
			break;
	}
	ck_assert_msg(tries < 50, "no SYN came out of the TUN");
	/* The router on the way answers: host unreachable, quoting the SYN. */
	memset(icmp, 0, sizeof(icmp));
	icmp[0] = 0x45;
	icmp[3] = sizeof(icmp);
	icmp[8] = 64;
	icmp[9] = IPPROTO_ICMP;
	memcpy(icmp + 12, dst.addr, 4);
	memcpy(icmp + 16, syn + 12, 4);
	sum = inet_csum(icmp, 20);
	icmp[10] = (uint8_t)(sum >> 8);
	icmp[11] = (uint8_t)sum;
	icmp[20] = 3; /* destination unreachable */
	icmp[21] = 1; /* host */
	memcpy(icmp + 28, syn, 28);
	sum = inet_csum(icmp + 20, sizeof(icmp) - 20);
	icmp[22] = (uint8_t)(sum >> 8);
	icmp[23] = (uint8_t)sum;
	ck_assert_int_eq(ferry_tun_write(&tun, icmp, sizeof(icmp)), 0);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.failed[1], 2000);
	ck_assert_int_eq(h.failed[1], -EHOSTUNREACH);
	ck_assert_int_eq(h.n_watch, 0);
	ferry_egressrig_teardown(&h);
	ferry_tun_close(&tun);
}
END_TEST

START_TEST(relay_one_megabyte_both_ways)
{
	uint8_t *to_dest = malloc(RELAY_SIZE), *at_dest = malloc(RELAY_SIZE);
	uint8_t *from_dest = malloc(RELAY_SIZE), buf[65536];
	size_t sent = 0, dest_sent = 0, dest_got = 0, i;
	bool shut = false, dest_eof = false, ended = false, stalled = false;
	struct ferry_egress_config cfg;
	int lfd, fd, turns;
	struct ferry_egressrig h;

	ck_assert(to_dest && at_dest && from_dest);
	for (i = 0; i < RELAY_SIZE; i++) {
		to_dest[i] = pattern(i, 1);
		from_dest[i] = pattern(i, 2);
	}
	ferry_test_netns_enter();
	ferry_egress_config_default(&cfg);
	cfg.sndbuf = 8192; /* with the destination not reading yet, sends come up short */
	ferry_egressrig_setup(&h, &cfg, true);
	h.rx = malloc(RELAY_SIZE);
	h.rx_cap = RELAY_SIZE;
	h.window = true;
	fd = ferry_egressrig_connect_pair(&h, 1, &lfd);

	for (turns = 0; !(ended && dest_eof && dest_got == RELAY_SIZE); turns++) {
		/* The destination reads only once a send came up short. */
		short ev, want = stalled ? POLLIN : 0;

		ck_assert_msg(turns < 200000, "relay did not finish");
		/* The app's side: offer bytes while egress takes them. */
		while (sent < RELAY_SIZE) {
			size_t n = ferry_egress_tcp_send(
			    h.eg, 1, to_dest + sent,
			    RELAY_SIZE - sent < 16384 ? RELAY_SIZE - sent : 16384);
			sent += n;
			if (n == 0) {
				stalled = true;
				break;
			}
		}
		if (sent == RELAY_SIZE && !shut) {
			int r = ferry_egress_tcp_shutdown(h.eg, 1);

			ck_assert_int_ge(r, 0);
			shut = true;
			ended = ended || r == 1;
		}
		if (dest_sent < RELAY_SIZE)
			want |= POLLOUT;
		ev = ferry_egressrig_pump(&h, dest_eof ? -1 : fd, want, 10);
		if (ev & POLLIN) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);

			ck_assert_int_ge(n, 0);
			if (n == 0) {
				dest_eof = true;
			} else {
				ck_assert_uint_le(dest_got + (size_t)n, RELAY_SIZE);
				memcpy(at_dest + dest_got, buf, (size_t)n);
				dest_got += (size_t)n;
			}
		}
		if ((ev & POLLOUT) && dest_sent < RELAY_SIZE) {
			size_t chunk =
			    RELAY_SIZE - dest_sent < 65536 ? RELAY_SIZE - dest_sent : 65536;
			ssize_t n = send(fd, from_dest + dest_sent, chunk, MSG_DONTWAIT);

			if (n > 0)
				dest_sent += (size_t)n;
			if (dest_sent == RELAY_SIZE)
				ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
		}
		if (h.closed[1]) {
			ck_assert_int_eq(h.closed_reason[1], 0);
			ended = true;
		}
	}
	ck_assert(h.eof[1]);
	ck_assert_uint_eq(h.rx_len, RELAY_SIZE);
	ck_assert(memcmp(h.rx, from_dest, RELAY_SIZE) == 0);
	ck_assert(memcmp(at_dest, to_dest, RELAY_SIZE) == 0);
	/* Backpressure was exercised both ways. */
	ck_assert_int_gt(h.short_takes, 0);
	ck_assert_int_gt(h.sendable[1], 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	ck_assert_int_eq(h.n_watch, 0);
	close(fd);
	close(lfd);
	ferry_egressrig_teardown(&h);
	free(to_dest);
	free(at_dest);
	free(from_dest);
}
END_TEST

START_TEST(half_close_app_first)
{
	struct ferry_egressrig h;
	char buf[16];
	int lfd, fd;

	ferry_test_netns_enter();
	ferry_egressrig_setup(&h, NULL, true);
	h.rx = malloc(64);
	h.rx_cap = 64;
	fd = ferry_egressrig_connect_pair(&h, 1, &lfd);
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"bye", 3), 3);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), 0);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), 0); /* again: no-op */
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"x", 1), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_WAITALL), 3); /* bytes, then FIN */
	ck_assert_mem_eq(buf, "bye", 3);
	/* The destination still talks after our FIN, then closes. */
	ck_assert_int_eq(send(fd, "late", 4, 0), 4);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.rx_len == 4, 2000);
	ck_assert_mem_eq(h.rx, "late", 4);
	ck_assert(!h.closed[1]);
	close(fd);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.closed[1], 2000);
	ck_assert(h.eof[1]);
	ck_assert_int_eq(h.closed_reason[1], 0);
	ck_assert_int_eq(h.n_watch, 0);
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(half_close_destination_first)
{
	struct ferry_egressrig h;
	char buf[32];
	int lfd, fd;

	ferry_test_netns_enter();
	ferry_egressrig_setup(&h, NULL, true);
	h.rx = malloc(64);
	h.rx_cap = 64;
	fd = ferry_egressrig_connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(send(fd, "banner", 6, 0), 6);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.eof[1], 2000);
	ck_assert_uint_eq(h.rx_len, 6);
	ck_assert_mem_eq(h.rx, "banner", 6);
	ck_assert(!h.closed[1]);
	/* Our direction is still open after the destination's FIN. */
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"reply", 5), 5);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), 1); /* ended the flow */
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_WAITALL), 5);
	ck_assert_mem_eq(buf, "reply", 5);
	ck_assert(!h.closed[1]);
	close(fd);
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(reset_from_destination)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct ferry_egressrig h;
	int lfd, fd;

	ferry_test_netns_enter();
	ferry_egressrig_setup(&h, NULL, true);
	fd = ferry_egressrig_connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.closed[1], 2000);
	ck_assert_int_eq(h.closed_reason[1], -ECONNRESET);
	ck_assert(!h.eof[1]);
	ck_assert_int_eq(h.n_watch, 0);
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(reset_after_destination_fin)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct ferry_egressrig h;
	int lfd, fd;

	ferry_test_netns_enter();
	ferry_egressrig_setup(&h, NULL, true);
	fd = ferry_egressrig_connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.eof[1], 2000);
	/* Nothing left to read: the socket is watched for errors only, and still hears an RST. */
	ck_assert_int_eq(h.n_watch, 1);
	ck_assert_uint_eq(h.w[0].events, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.closed[1], 2000);
	ck_assert_int_eq(h.closed_reason[1], -ECONNRESET);
	ck_assert_int_eq(h.n_watch, 0);
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(reset_from_inside_a_callback)
{
	struct ferry_egressrig h;
	int lfd, fd, i;

	ferry_test_netns_enter();
	ferry_egressrig_setup(&h, NULL, true);
	h.rx = malloc(64);
	h.rx_cap = 64;
	fd = ferry_egressrig_connect_pair(&h, 1, &lfd);
	h.reset_in_data = true;
	ck_assert_int_eq(send(fd, "data", 4, 0), 4);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.data_calls == 1, 2000);
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	for (i = 0; i < 5; i++)
		ferry_egressrig_pump(&h, -1, 0, 5);
	ck_assert(!h.closed[1]);
	ck_assert_int_eq(h.data_calls, 1);
	close(fd);
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("egress_tcp");
	TCase *tc = ferry_tcase("tcp", 10);

	if (geteuid() != 0) {
		printf("egress_tcp: needs root (network namespaces); skipped\n");
		return FERRY_EGRESSRIG_SKIP;
	}
	tcase_add_test(tc, connect_mark_and_reset_toward_destination);
	tcase_add_test(tc, refused_and_unreachable);
	tcase_add_test(tc, connect_timeout);
	tcase_add_test(tc, host_unreachable_from_icmp);
	tcase_add_test(tc, relay_one_megabyte_both_ways);
	tcase_add_test(tc, half_close_app_first);
	tcase_add_test(tc, half_close_destination_first);
	tcase_add_test(tc, reset_from_destination);
	tcase_add_test(tc, reset_after_destination_fin);
	tcase_add_test(tc, reset_from_inside_a_callback);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
