// SPDX-License-Identifier: MIT
/*
 * Egress datagrams with real sockets: UDP flows and ICMP echo.
 *
 * Covered: a UDP flow to a local server behaving as a full cone (replies from the
 * destination and from a stranger, each with its own source; sends to denied or
 * wrong-family destinations refused); the UDP idle timeout, moved by traffic; ping
 * through unprivileged ICMP sockets over IPv4 and IPv6, and its refusal where
 * ping_group_range allows nobody.
 *
 * The harness is tests/support/egressrig.h: each test moves into a network namespace of
 * its own with only lo up, so every destination is a socket the test holds; a poll() loop
 * stands in for the daemon's and a fake transport with a small budget plays the tunnel.
 * Needs root; without it the suite exits 77, which CTest reports as skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stack/egress.h"
#include "tests/support/egressrig.h"
#include "tests/support/netns.h"
#include "tests/support/fixture.h"

START_TEST(udp_full_cone)
{
	struct sockaddr_in peer;
	socklen_t sl = sizeof(peer);
	struct ferry_endpoint dst, other;
	uint16_t port, other_port;
	struct ferry_egressrig h;
	int server, stranger;
	char buf[32];

	ferry_test_netns_enter();
	ferry_egressrig_setup(&h, NULL, true);
	server = ferry_egressrig_udp_socket("127.0.0.1", &port);
	stranger = ferry_egressrig_udp_socket("127.0.0.2", &other_port);
	ferry_egressrig_ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 5, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 0);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 5, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 -EEXIST);
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 5, &dst, (const uint8_t *)"hello", 5,
					       ferry_egressrig_now_ms()),
			 0);
	ck_assert_int_eq(
	    ferry_egress_udp_send(h.eg, 6, &dst, (const uint8_t *)"x", 1, ferry_egressrig_now_ms()),
	    -ENOENT);
	{
		struct pollfd p = {.fd = server, .events = POLLIN};

		ck_assert_int_eq(poll(&p, 1, 1000), 1);
	}
	ck_assert_int_eq(recvfrom(server, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &sl), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	/* The destination answers, and so does someone else, from another address. */
	ck_assert_int_eq(sendto(server, "echo", 4, 0, (struct sockaddr *)&peer, sl), 4);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.datagrams == 1, 2000);
	ck_assert_int_eq(sendto(stranger, "other", 5, 0, (struct sockaddr *)&peer, sl), 5);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.datagrams == 2, 2000);
	ck_assert_str_eq(h.dgram[0], "echo");
	ferry_egressrig_ep_eq(&h.from[0], &dst);
	ck_assert_str_eq(h.dgram[1], "other");
	ferry_egressrig_ep(&other, "127.0.0.2", other_port);
	ferry_egressrig_ep_eq(&h.from[1], &other);
	/* Sending to a denied destination from the flow is refused. */
	ferry_egressrig_ep(&other, "169.254.1.1", 9);
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 5, &other, (const uint8_t *)"x", 1,
					       ferry_egressrig_now_ms()),
			 -EACCES);
	ferry_egressrig_ep(&other, "::1", 9);
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 5, &other, (const uint8_t *)"x", 1,
					       ferry_egressrig_now_ms()),
			 -EINVAL);
	ck_assert_int_eq(ferry_egress_udp_close(h.eg, 5), 0);
	ck_assert_int_eq(ferry_egress_udp_close(h.eg, 5), -ENOENT);
	ck_assert_int_eq(h.udp_closed, 0);
	ck_assert_int_eq(h.n_watch, 0);
	close(server);
	close(stranger);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(udp_idle_timeout)
{
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst;
	struct ferry_egressrig h;
	uint16_t port;
	uint64_t start;
	int server;

	ferry_test_netns_enter();
	ferry_egress_config_default(&cfg);
	cfg.udp_idle_timeout_ms = 150;
	ferry_egressrig_setup(&h, &cfg, true);
	server = ferry_egressrig_udp_socket("127.0.0.1", &port);
	ferry_egressrig_ep(&dst, "127.0.0.1", port);
	start = ferry_egressrig_now_ms();
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 5, ferry_egressrig_app_src(), &dst, start), 0);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg, 0), start + 150);
	/* Traffic moves the deadline. */
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 5, &dst, (const uint8_t *)"a", 1, start + 100),
			 0);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg, 0), start + 250);
	ferry_egress_timer(h.eg, start + 249);
	ck_assert_int_eq(h.udp_closed, 0);
	ferry_egress_timer(h.eg, start + 250);
	ck_assert_int_eq(h.udp_closed, 1);
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->udp_idle_closed, 1);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg, 0), UINT64_MAX);
	close(server);
	ferry_egressrig_teardown(&h);
}
END_TEST

static void allow_ping(void)
{
	int fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "0 2147483647", 12), 12);
	close(fd);
}

static void ping_once(struct ferry_egressrig *h, const char *addr, uint16_t seq)
{
	struct ferry_endpoint app, dst;
	int before = h->replies;

	ferry_egressrig_ep(&app, "10.0.0.2", 4242); /* the application's echo id */
	ferry_egressrig_ep(&dst, addr, 0);
	ck_assert_int_eq(ferry_egress_ping(h->eg, &app, &dst, seq, (const uint8_t *)"abcdef", 6,
					   ferry_egressrig_now_ms()),
			 0);
	FERRY_EGRESSRIG_PUMP_UNTIL(h, h->replies == before + 1, 2000);
	ferry_egressrig_ep_eq(&h->reply_app, &app);
	ferry_egressrig_ep_eq(&h->reply_from, &dst);
	ck_assert_uint_eq(h->reply_seq, seq);
	ck_assert_uint_eq(h->reply_len, 6);
	ck_assert_mem_eq(h->reply_data, "abcdef", 6);
}

START_TEST(ping_real_echo)
{
	struct ferry_egressrig h;

	ferry_test_netns_enter();
	allow_ping();
	ferry_egressrig_setup(&h, NULL, true);
	ping_once(&h, "127.0.0.1", 7);
	ping_once(&h, "127.0.0.1", 8);
	ping_once(&h, "::1", 9);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->ping_replies, 3);
	ck_assert_int_eq(h.n_watch, 2); /* one ping socket per family */
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(ping_not_permitted)
{
	struct ferry_endpoint app, dst;
	struct ferry_egressrig h;

	ferry_test_netns_enter(); /* a new namespace's ping_group_range is "1 0": nobody */
	ferry_egressrig_setup(&h, NULL, true);
	ferry_egressrig_ep(&app, "10.0.0.2", 1);
	ferry_egressrig_ep(&dst, "127.0.0.1", 0);
	ck_assert_int_eq(ferry_egress_ping(h.eg, &app, &dst, 1, NULL, 0, ferry_egressrig_now_ms()),
			 -EPERM);
	ck_assert_int_eq(h.n_watch, 0);
	ferry_egressrig_teardown(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("egress_udp");
	TCase *tc = ferry_tcase("udp", 10);

	if (geteuid() != 0) {
		printf("egress_udp: needs root (network namespaces); skipped\n");
		return FERRY_EGRESSRIG_SKIP;
	}
	tcase_add_test(tc, udp_full_cone);
	tcase_add_test(tc, udp_idle_timeout);
	tcase_add_test(tc, ping_real_echo);
	tcase_add_test(tc, ping_not_permitted);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
