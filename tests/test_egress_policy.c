// SPDX-License-Identifier: MIT
/*
 * Egress's rules, whatever the protocol: what it may open, how many, from where.
 *
 * Covered: the default policy denies loopback and link-local destinations for TCP, UDP
 * and ping, opening nothing; the host's own addresses denied behind the caller's allows;
 * the flow table's limit across TCP and UDP; a transparent source (the application's
 * address kept, even one the host does not have; mixed families refused); configuration
 * checked at create.
 *
 * The harness is tests/support/egressrig.h: each test moves into a network namespace of
 * its own with only lo up, so every destination is a socket the test holds; a poll() loop
 * stands in for the daemon's and a fake transport with a small budget plays the tunnel.
 * Needs root; without it the suite exits 77, which CTest reports as skipped.
 */
#include <errno.h>
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
#include "stack/policy.h"
#include "tun/netlink.h"

START_TEST(default_policy_denies_loopback)
{
	struct ferry_endpoint dst, app;
	struct ferry_egress_config cfg;
	struct ferry_egressrig h;
	uint16_t port;
	int lfd;

	ferry_test_netns_enter();
	ferry_egress_config_default(&cfg);
	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(ferry_egress_create(&h.eg, &cfg, &ferry_egressrig_ops, &h),
			 0); /* no policy */
	lfd = ferry_egressrig_listener("127.0.0.1", &port);
	ferry_egressrig_ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 -EACCES);
	ferry_egressrig_ep(&dst, "::1", port);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 -EACCES);
	ferry_egressrig_ep(&dst, "169.254.169.254", 80);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 1, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 -EACCES);
	ferry_egressrig_ep(&app, "10.0.0.2", 7);
	ferry_egressrig_ep(&dst, "127.0.0.1", 0);
	ck_assert_int_eq(ferry_egress_ping(h.eg, &app, &dst, 1, NULL, 0, ferry_egressrig_now_ms()),
			 -EACCES);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->denied, 4);
	/* Nothing was opened: no watch, and no connection reached the listener. */
	ck_assert_int_eq(h.watch_calls, 0);
	{
		struct pollfd p = {.fd = lfd, .events = POLLIN};

		ck_assert_int_eq(poll(&p, 1, 50), 0);
	}
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(host_addresses_denied)
{
	uint8_t a5[4] = {10, 9, 0, 5}, a6[4] = {10, 9, 0, 6};
	struct ferry_policy *policy = malloc(sizeof(*policy));
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst;
	struct ferry_nl nl;
	struct ferry_egressrig h;

	ferry_test_netns_enter();
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a5, 32), 0);
	ferry_nl_close(&nl);
	ferry_policy_init(policy);
	ck_assert_int_eq(ferry_policy_add_text(policy, "allow 127.0.0.1 port 80", NULL), 0);
	/* 127.0.0.1, ::1 and 10.9.0.5 */
	ck_assert_int_eq(ferry_policy_deny_host_addresses(policy), 3);
	ck_assert_int_eq(ferry_policy_check(policy, FERRY_POLICY_TCP, AF_INET, a5, 80),
			 FERRY_POLICY_DENY);
	ck_assert_int_eq(ferry_policy_check(policy, FERRY_POLICY_TCP, AF_INET, a6, 80),
			 FERRY_POLICY_ALLOW);
	/* The caller's allow still comes first. */
	ck_assert_int_eq(ferry_policy_check(policy, FERRY_POLICY_TCP, AF_INET,
					    (const uint8_t *)"\x7f\0\0\x01", 80),
			 FERRY_POLICY_ALLOW);
	ferry_egress_config_default(&cfg);
	cfg.policy = policy;
	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(ferry_egress_create(&h.eg, &cfg, &ferry_egressrig_ops, &h), 0);
	free(policy);
	ferry_egressrig_ep(&dst, "10.9.0.5", 80);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 -EACCES);
	ck_assert_int_eq(h.watch_calls, 0);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(flow_table_limit)
{
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst, udst;
	struct ferry_egressrig h;
	uint16_t port, uport;
	int lfd, server;

	ferry_test_netns_enter();
	ferry_egress_config_default(&cfg);
	cfg.max_flows = 2;
	ferry_egressrig_setup(&h, &cfg, true);
	lfd = ferry_egressrig_listener("127.0.0.1", &port);
	server = ferry_egressrig_udp_socket("127.0.0.1", &uport);
	ferry_egressrig_ep(&dst, "127.0.0.1", port);
	ferry_egressrig_ep(&udst, "127.0.0.1", uport);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 0);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 -EEXIST);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 1, ferry_egressrig_app_src(), &udst,
					       ferry_egressrig_now_ms()),
			 0);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 2, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 -ENOSPC);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 2, ferry_egressrig_app_src(), &udst,
					       ferry_egressrig_now_ms()),
			 -ENOSPC);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 1);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->udp_flows, 1);
	ck_assert_int_eq(ferry_egress_udp_close(h.eg, 1), 0);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 2, ferry_egressrig_app_src(), &dst,
					       ferry_egressrig_now_ms()),
			 0);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.connected[1] && h.connected[2], 2000);
	ck_assert_int_eq(h.n_watch, 2);
	close(server);
	ferry_egressrig_teardown(&h); /* destroy resets the two open flows */
	close(lfd);
}
END_TEST

START_TEST(transparent_source)
{
	uint8_t a5[4] = {10, 9, 0, 5}, a6[4] = {10, 9, 0, 6};
	struct ferry_egress_config cfg;
	struct ferry_endpoint src, dst;
	struct sockaddr_in peer = {.sin_family = AF_UNSPEC};
	socklen_t sl = sizeof(peer);
	struct ferry_nl nl;
	struct ferry_egressrig h;
	uint16_t port;
	int lfd, fd, on = 0;
	socklen_t ol = sizeof(on);

	ferry_test_netns_enter();
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a5, 32), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a6, 32), 0);
	ferry_nl_close(&nl);
	ferry_egress_config_default(&cfg);
	cfg.transparent = true;
	ferry_egressrig_setup(&h, &cfg, false);
	lfd = ferry_egressrig_listener("10.9.0.6", &port);
	ferry_egressrig_ep(&src, "10.9.0.5", 40000);
	ferry_egressrig_ep(&dst, "10.9.0.6", port);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, &src, &dst, ferry_egressrig_now_ms()), 0);
	ck_assert_int_eq(h.n_watch, 1);
	ck_assert_int_eq(getsockopt(h.w[0].fd, SOL_IP, IP_TRANSPARENT, &on, &ol), 0);
	ck_assert_int_eq(on, 1);
	FERRY_EGRESSRIG_PUMP_UNTIL(&h, h.connected[1], 2000);
	fd = accept4(lfd, (struct sockaddr *)&peer, &sl, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_mem_eq(&peer.sin_addr, a5, 4); /* the application's address, preserved */
	close(fd);
	/* IP_TRANSPARENT is what lets the bind take an address this host does not have. */
	ferry_egressrig_ep(&src, "10.123.0.9", 40000);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 2, &src, &dst, ferry_egressrig_now_ms()), 0);
	ck_assert_int_eq(ferry_egress_tcp_reset(h.eg, 2), 0);
	/* Mixed families cannot be preserved. */
	ferry_egressrig_ep(&src, "2001:db8::5", 1);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 3, &src, &dst, ferry_egressrig_now_ms()),
			 -EAFNOSUPPORT);
	close(lfd);
	ferry_egressrig_teardown(&h);
}
END_TEST

START_TEST(config_checked)
{
	struct ferry_egress_config cfg;
	struct ferry_egress *eg = NULL;
	struct ferry_egress_ops ops = ferry_egressrig_ops;

	ferry_egress_config_default(&cfg);
	cfg.max_flows = 0;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &ferry_egressrig_ops, NULL), -EINVAL);
	cfg.max_flows = FERRY_EGRESS_FLOWS_MAX + 1;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &ferry_egressrig_ops, NULL), -EINVAL);
	ferry_egress_config_default(&cfg);
	cfg.connect_timeout_ms = 0;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &ferry_egressrig_ops, NULL), -EINVAL);
	ferry_egress_config_default(&cfg);
	ops.tcp_data = NULL;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &ops, NULL), -EINVAL);
	ck_assert_ptr_null(eg);
	ferry_egress_destroy(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("egress_policy");
	TCase *tc = ferry_tcase("policy", 10);

	if (geteuid() != 0) {
		printf("egress_policy: needs root (network namespaces); skipped\n");
		return FERRY_EGRESSRIG_SKIP;
	}
	tcase_add_test(tc, default_policy_denies_loopback);
	tcase_add_test(tc, host_addresses_denied);
	tcase_add_test(tc, flow_table_limit);
	tcase_add_test(tc, transparent_source);
	tcase_add_test(tc, config_checked);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
